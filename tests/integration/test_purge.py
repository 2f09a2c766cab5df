"""Purge loops of the live execution engine (reconciliation spec §3.5) on a real kernel and `LiveExecutionEngine`.

Closed orders and closed positions are removed once `ts_closed + buffer <= now` (buffer None = 0), an order is
kept while a linked order is open, open orders and positions are never purged, account events older than the
lookback go but the latest always stays, and `purge_from_database` also deletes from the backing store. The
purges run on clock timers started with `start_purge_timers`; a `TestClock` fires them here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from toolkit.core.clock import TestClock
from toolkit.core.log import Logger
from toolkit.engine.kernel import Kernel, KernelConfig
from toolkit.live.checks import PURGE_TIMER_NAMES, ContinuousChecks
from toolkit.live.config import LiveExecEngineConfig
from toolkit.live.execution import LiveExecutionEngine
from toolkit.model.enums import AccountType, ContingencyType, LiquiditySide, OrderSide, OrderStatus, OrderType
from toolkit.model.events import (
    AccountBalance,
    AccountState,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderInitialized,
    OrderSubmitted,
)
from toolkit.model.identifiers import (
    AccountId,
    ClientOrderId,
    InstrumentId,
    PositionId,
    StrategyId,
    TradeId,
    TraderId,
    VenueOrderId,
)
from toolkit.model.instruments import CurrencyPair
from toolkit.model.objects import Currency, Money, Price, Quantity
from toolkit.model.orders import Order

USD = Currency.from_str("USD")
AUD = Currency.from_str("AUD")
T0 = 1_700_000_000_000_000_000
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
ACCOUNT = AccountId("SIM-001")
TRADER = TraderId("TESTER-001")
STRATEGY = StrategyId("S-001")
AUDUSD = CurrencyPair(
    id=InstrumentId("AUD/USD.SIM"),
    base_currency=AUD,
    quote_currency=USD,
    settlement_currency=USD,
    price_precision=5,
    size_precision=0,
    price_increment=Price.from_str("0.00001"),
    size_increment=Quantity.from_int(1),
    margin_init=Decimal("0.03"),
    margin_maint=Decimal("0.03"),
)


class RecordingDatabase:
    """The backing store as the purges see it; records every deletion."""

    def __init__(self) -> None:
        self.deleted_orders: list[ClientOrderId] = []
        self.deleted_positions: list[PositionId] = []
        self.trimmed: list[tuple[AccountId, int]] = []

    def delete_order(self, client_order_id: ClientOrderId) -> None:
        self.deleted_orders.append(client_order_id)

    def delete_position(self, position_id: PositionId) -> None:
        self.deleted_positions.append(position_id)

    def trim_account_states(self, account_id: AccountId, keep_after_ns: int) -> None:
        self.trimmed.append((account_id, keep_after_ns))


class Harness:
    def __init__(self, **options: Any) -> None:
        self.clock = TestClock(T0)
        self.config = LiveExecEngineConfig(**options)
        self.kernel = Kernel(
            KernelConfig(trader_id=TRADER),
            self.clock,
            exec_engine_factory=lambda *a: LiveExecutionEngine(*a, config=self.config),
        )
        self.engine: LiveExecutionEngine = self.kernel.exec_engine  # type: ignore[assignment]
        self.cache = self.kernel.cache
        self.cache.add_instrument(AUDUSD)
        self.account_state()
        self.database = RecordingDatabase()
        self.checks = ContinuousChecks(
            self.engine, {}, self.config, self.clock, Logger("ContinuousChecks", self.clock), database=self.database
        )
        self._trades = 0

    @property
    def now(self) -> int:
        return self.clock.timestamp_ns()

    def advance(self, ns: int) -> None:
        self.clock.set_time(self.now + ns)

    def account_state(self, total: str = "1000000") -> None:
        amount = Money.of(total, USD)
        self.engine.process(
            AccountState(
                ts_event=self.now,
                ts_init=self.now,
                account_id=ACCOUNT,
                account_type=AccountType.MARGIN,
                base_currency=None,
                balances=(AccountBalance(amount, Money(0, USD), amount),),
            )
        )

    def _ids(self, coid: str) -> dict[str, Any]:
        return {
            "trader_id": TRADER,
            "strategy_id": STRATEGY,
            "instrument_id": AUDUSD.id,
            "client_order_id": ClientOrderId(coid),
            "ts_event": self.now,
            "ts_init": self.now,
        }

    def accepted(
        self, coid: str, side: OrderSide = OrderSide.BUY, qty: int = 100, linked: tuple[str, ...] = ()
    ) -> Order:
        self.engine.process(
            OrderInitialized(
                **self._ids(coid),
                order_side=side,
                order_type=OrderType.LIMIT,
                quantity=Quantity.from_int(qty),
                price=Price.from_str("1.00000"),
                contingency_type=ContingencyType.OCO if linked else ContingencyType.NO_CONTINGENCY,
                linked_order_ids=tuple(ClientOrderId(c) for c in linked),
            )
        )
        self.engine.process(OrderSubmitted(**self._ids(coid), account_id=ACCOUNT))
        self.engine.process(
            OrderAccepted(**self._ids(coid), venue_order_id=VenueOrderId(f"V-{coid}"), account_id=ACCOUNT)
        )
        order = self.cache.order(ClientOrderId(coid))
        assert order is not None
        return order

    def cancel(self, order: Order) -> None:
        self.engine.process(OrderCanceled(**self._ids(order.client_order_id), venue_order_id=order.venue_order_id))
        assert order.status is OrderStatus.CANCELED

    def fill(self, order: Order, qty: int) -> None:
        self._trades += 1
        self.engine.process(
            OrderFilled(
                **self._ids(order.client_order_id),
                venue_order_id=order.venue_order_id or VenueOrderId("V"),
                account_id=ACCOUNT,
                trade_id=TradeId(f"T-{self._trades}"),
                order_side=order.side,
                order_type=order.order_type,
                last_qty=Quantity.from_int(qty),
                last_px=Price.from_str("1.00000"),
                currency=USD,
                commission=Money(0, USD),
                liquidity_side=LiquiditySide.MAKER,
            )
        )

    def order_ids(self) -> set[str]:
        return {str(o.client_order_id) for o in self.cache.orders()}


# ---- closed orders -------------------------------------------------------------------------------------


def test_purge_closed_orders_respects_buffer() -> None:
    h = Harness(purge_closed_orders_interval_mins=10, purge_closed_orders_buffer_mins=10)
    old = h.accepted("O-OLD")
    h.cancel(old)
    h.advance(8 * MINUTE)
    recent = h.accepted("O-RECENT")
    h.cancel(recent)
    working = h.accepted("O-OPEN")
    h.advance(7 * MINUTE)  # O-OLD closed 15 min ago, O-RECENT 7 min ago
    assert h.checks.purge_closed_orders() == [old.client_order_id]
    assert h.order_ids() == {"O-RECENT", "O-OPEN"}
    assert working.status is OrderStatus.ACCEPTED
    h.advance(3 * MINUTE)  # O-RECENT closed exactly 10 min ago: ts_closed + buffer <= now
    assert h.checks.purge_closed_orders() == [recent.client_order_id]
    assert h.order_ids() == {"O-OPEN"}


def test_purge_closed_orders_without_buffer_removes_every_closed_order() -> None:
    h = Harness(purge_closed_orders_interval_mins=10)
    filled = h.accepted("O-FILLED")
    h.fill(filled, 100)
    canceled = h.accepted("O-CANCELED")
    h.cancel(canceled)
    h.accepted("O-OPEN")
    purged = h.checks.purge_closed_orders()
    assert sorted(purged) == ["O-CANCELED", "O-FILLED"]
    assert h.order_ids() == {"O-OPEN"}


def test_purged_order_leaves_no_index_entry_or_tracking() -> None:
    h = Harness(purge_closed_orders_interval_mins=10)
    order = h.accepted("O-1")
    coid = order.client_order_id
    h.cancel(order)
    h.engine.order_retries[coid] = 2
    h.checks.own_books.add(order)
    h.checks.purge_closed_orders()
    cache = h.cache
    assert cache.order(coid) is None
    assert not cache.order_exists(coid)
    assert cache.orders_closed() == [] and cache.orders(instrument_id=AUDUSD.id) == []
    assert cache.orders(strategy_id=STRATEGY) == [] and cache.orders(venue="SIM") == []
    assert cache.client_order_id_for(VenueOrderId("V-O-1")) is None
    assert coid not in h.engine.order_retries
    assert len(h.checks.own_books) == 0


def test_purge_closed_orders_keeps_order_while_linked_order_open() -> None:
    h = Harness(purge_closed_orders_interval_mins=10)
    take_profit = h.accepted("O-TP", side=OrderSide.SELL, linked=("O-SL",))
    stop_loss = h.accepted("O-SL", side=OrderSide.SELL, linked=("O-TP",))
    h.cancel(take_profit)
    h.advance(MINUTE)
    assert h.checks.purge_closed_orders() == []
    assert h.order_ids() == {"O-TP", "O-SL"}
    h.cancel(stop_loss)
    h.advance(MINUTE)
    assert sorted(h.checks.purge_closed_orders()) == ["O-SL", "O-TP"]
    assert h.order_ids() == set()


def test_open_order_is_never_purged() -> None:
    h = Harness(purge_closed_orders_interval_mins=1)
    partly = h.accepted("O-PARTIAL")
    h.fill(partly, 40)
    h.accepted("O-OPEN")
    h.advance(24 * 60 * MINUTE)
    assert h.checks.purge_closed_orders() == []
    assert h.order_ids() == {"O-PARTIAL", "O-OPEN"}


# ---- closed positions ----------------------------------------------------------------------------------


def test_purge_closed_positions_respects_buffer() -> None:
    h = Harness(purge_closed_positions_interval_mins=10, purge_closed_positions_buffer_mins=30)
    entry = h.accepted("O-ENTRY")
    h.fill(entry, 100)
    h.advance(MINUTE)
    exit_ = h.accepted("O-EXIT", side=OrderSide.SELL)
    h.fill(exit_, 100)
    [position] = h.cache.positions_closed()
    assert position.ts_closed == h.now
    h.advance(29 * MINUTE)
    assert h.checks.purge_closed_positions() == []
    h.advance(MINUTE)
    assert h.checks.purge_closed_positions() == [position.id]
    assert h.cache.position(position.id) is None
    assert h.cache.positions() == [] and h.cache.positions_closed() == []
    assert h.cache.positions(instrument_id=AUDUSD.id, strategy_id=STRATEGY) == []


def test_open_position_is_never_purged() -> None:
    h = Harness(purge_closed_positions_interval_mins=10)
    entry = h.accepted("O-ENTRY")
    h.fill(entry, 100)
    h.advance(24 * 60 * MINUTE)
    assert h.checks.purge_closed_positions() == []
    assert len(h.cache.positions_open()) == 1


def test_purge_closed_position_drops_its_snapshots() -> None:
    h = Harness(purge_closed_positions_interval_mins=10)
    for round_trip in range(2):
        h.fill(h.accepted(f"O-IN-{round_trip}"), 100)
        h.fill(h.accepted(f"O-OUT-{round_trip}", side=OrderSide.SELL), 100)
    [position] = h.cache.positions_closed()
    assert len(h.cache.position_snapshots(position.id)) == 1  # the first NETTING cycle
    assert h.checks.purge_closed_positions() == [position.id]
    assert h.cache.position_snapshots() == []


# ---- account events ------------------------------------------------------------------------------------


def test_purge_account_events_keeps_events_within_lookback() -> None:
    h = Harness(purge_account_events_interval_mins=1, purge_account_events_lookback_mins=3)
    for _ in range(5):
        h.advance(MINUTE)
        h.account_state()
    account = h.cache.account(ACCOUNT)
    assert account is not None and account.event_count == 6  # T0 .. T0 + 5 min
    h.advance(MINUTE)  # now T0 + 6 min: keep ts_event + 3 min > now, i.e. T0 + 4 and 5 min
    assert h.checks.purge_account_events() == 4
    assert [(e.ts_event - T0) // MINUTE for e in account.events] == [4, 5]
    assert account.balance_total(USD) == Money.of("1000000", USD)


def test_purge_account_events_always_keeps_latest() -> None:
    h = Harness(purge_account_events_interval_mins=1, purge_account_events_lookback_mins=1)
    h.advance(MINUTE)
    h.account_state("2000000")
    h.advance(60 * MINUTE)
    account = h.cache.account(ACCOUNT)
    assert account is not None
    assert h.checks.purge_account_events() == 1
    assert [(e.ts_event - T0) // MINUTE for e in account.events] == [1]
    assert account.last_event.balances[0].total == Money.of("2000000", USD)
    assert h.checks.purge_account_events() == 0  # a lone event is never purged


# ---- backing store -------------------------------------------------------------------------------------


def test_purge_from_database_deletes_purged_items() -> None:
    h = Harness(
        purge_from_database=True,
        purge_closed_orders_interval_mins=1,
        purge_closed_positions_interval_mins=1,
        purge_account_events_interval_mins=1,
        purge_account_events_lookback_mins=1,
    )
    h.fill(h.accepted("O-IN"), 100)
    h.fill(h.accepted("O-OUT", side=OrderSide.SELL), 100)
    h.advance(10 * MINUTE)
    h.account_state()
    [position] = h.cache.positions_closed()
    h.checks.purge_closed_orders()
    h.checks.purge_closed_positions()
    h.checks.purge_account_events()
    assert sorted(h.database.deleted_orders) == ["O-IN", "O-OUT"]
    assert h.database.deleted_positions == [position.id]
    # Stored states before now - lookback + 1 ns go (the latest always stays), as in memory.
    assert h.database.trimmed == [(ACCOUNT, h.now - MINUTE + 1)]
    account = h.cache.account(ACCOUNT)
    assert account is not None and [e.ts_event for e in account.events] == [h.now]


def test_purges_leave_database_alone_without_purge_from_database() -> None:
    h = Harness(purge_closed_orders_interval_mins=1, purge_closed_positions_interval_mins=1)
    h.fill(h.accepted("O-IN"), 100)
    h.fill(h.accepted("O-OUT", side=OrderSide.SELL), 100)
    h.advance(MINUTE)
    h.account_state()
    h.checks.purge_closed_orders()
    h.checks.purge_closed_positions()
    h.checks.purge_account_events()
    assert h.cache.orders() == [] and h.cache.positions() == []
    assert h.database.deleted_orders == [] and h.database.deleted_positions == [] and h.database.trimmed == []


# ---- timers --------------------------------------------------------------------------------------------


def test_purge_timers_fire_on_their_intervals() -> None:
    h = Harness(
        purge_closed_orders_interval_mins=10,
        purge_closed_positions_interval_mins=15,
        purge_account_events_interval_mins=20,
        purge_account_events_lookback_mins=5,
    )
    h.checks.start_purge_timers()
    assert sorted(h.clock.timer_names) == sorted(PURGE_TIMER_NAMES)
    assert h.clock.next_time_ns("ExecEngine.purge_closed_orders") == T0 + 10 * MINUTE
    h.fill(h.accepted("O-IN"), 100)
    h.fill(h.accepted("O-OUT", side=OrderSide.SELL), 100)
    h.advance(MINUTE)
    h.account_state()
    account = h.cache.account(ACCOUNT)
    assert account is not None
    events_before = account.event_count
    assert events_before > 1

    def advance_and_fire(ns: int) -> None:
        for handler in h.clock.advance_time(ns, set_time=False):
            h.clock.set_time(handler.event.ts_event)
            handler.handle()
        h.clock.set_time(ns)

    advance_and_fire(T0 + 10 * MINUTE)
    assert h.cache.orders() == []
    assert len(h.cache.positions_closed()) == 1
    advance_and_fire(T0 + 15 * MINUTE)
    assert h.cache.positions() == []
    assert account.event_count == events_before
    advance_and_fire(T0 + 20 * MINUTE)
    assert account.event_count == 1
    h.checks.stop_purge_timers()
    assert h.clock.timer_names == []


def test_no_purge_timers_without_intervals() -> None:
    h = Harness()
    h.checks.start_purge_timers()
    assert h.clock.timer_names == []
