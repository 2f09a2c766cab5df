"""Continuous checks (reconciliation spec §3.0-§3.4, scenarios 61-97) on a real kernel and `LiveExecutionEngine`.

Every check runs on a `TestClock`: a test advances the clock and calls the check method directly; the §3.0 loop
runs with an injected sleep that advances the clock instead of waiting. The venue is a scripted
`LiveExecutionClient` that answers the reconciliation queries from lists and records every query.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

import pytest

from toolkit.core.clock import TestClock
from toolkit.core.log import Logger
from toolkit.engine.kernel import Kernel, KernelConfig
from toolkit.live.checks import (
    ORDER_NOT_FOUND_REASON,
    ContinuousChecks,
    has_position_discrepancy,
    within_one_unit,
)
from toolkit.live.clients import LiveClientConfig, LiveExecutionClient
from toolkit.live.config import LiveExecEngineConfig
from toolkit.live.execution import LiveExecutionEngine
from toolkit.model.commands import QueryOrder
from toolkit.model.enums import (
    AccountType,
    LiquiditySide,
    OmsType,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionSide,
    TimeInForce,
)
from toolkit.model.events import (
    AccountBalance,
    AccountState,
    OrderAccepted,
    OrderFilled,
    OrderInitialized,
    OrderPendingCancel,
    OrderPendingUpdate,
    OrderRejected,
    OrderSubmitted,
)
from toolkit.model.identifiers import (
    AccountId,
    ClientId,
    ClientOrderId,
    InstrumentId,
    StrategyId,
    TradeId,
    TraderId,
    Venue,
    VenueOrderId,
)
from toolkit.model.instruments import CryptoPerpetual, CurrencyPair, FuturesContract, Instrument
from toolkit.model.objects import Currency, Money, Price, Quantity
from toolkit.model.orders import Order
from toolkit.model.reports import FillReport, OrderStatusReport, PositionStatusReport

USD = Currency.from_str("USD")
AUD = Currency.from_str("AUD")
EUR = Currency.from_str("EUR")
USDT = Currency.from_str("USDT")
ETH = Currency.from_str("ETH")
T0 = 1_700_000_000_000_000_000
MS = 1_000_000
SECOND = 1_000_000_000
BUY = OrderSide.BUY
SELL = OrderSide.SELL
ACCOUNT = AccountId("SIM-001")
ACCOUNT_B = AccountId("SIM-002")
TRADER = TraderId("TESTER-001")
STRATEGY = StrategyId("S-001")


def fx_pair(symbol: str, base: Currency) -> CurrencyPair:
    return CurrencyPair(
        id=InstrumentId(f"{symbol}.SIM"),
        base_currency=base,
        quote_currency=USD,
        settlement_currency=USD,
        price_precision=5,
        size_precision=0,
        price_increment=Price.from_str("0.00001"),
        size_increment=Quantity.from_int(1),
        margin_init=Decimal("0.03"),
        margin_maint=Decimal("0.03"),
    )


AUDUSD = fx_pair("AUD/USD", AUD)
EURUSD = fx_pair("EUR/USD", EUR)
ETHUSDT = CryptoPerpetual(
    id=InstrumentId("ETHUSDT.SIM"),
    base_currency=ETH,
    quote_currency=USDT,
    settlement_currency=USDT,
    price_precision=2,
    size_precision=5,
    price_increment=Price.from_str("0.01"),
    size_increment=Quantity.from_str("0.00001"),
)
ES = FuturesContract(
    id=InstrumentId("ESZ4.SIM"),
    underlying="ES",
    activation_ns=0,
    expiration_ns=T0 * 2,
    quote_currency=USD,
    settlement_currency=USD,
    price_precision=2,
    size_precision=0,
    price_increment=Price.from_str("0.25"),
    size_increment=Quantity.from_int(1),
    multiplier=Quantity.from_int(50),
)
BTC_SIX = CryptoPerpetual(
    id=InstrumentId("BTCUSDT.SIM"),
    base_currency=Currency.from_str("BTC"),
    quote_currency=USDT,
    settlement_currency=USDT,
    price_precision=2,
    size_precision=6,
    price_increment=Price.from_str("0.01"),
    size_increment=Quantity.from_str("0.000001"),
)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


class ScriptedVenueClient(LiveExecutionClient):
    """A venue that answers the reconciliation queries from lists; each query is recorded.

    `fail` names the queries that raise (`"orders"`, `"order"`, `"fills"`, `"positions"`). `query_order` only
    records the command unless `answer_queries` is set (then the base class asks `generate_order_status_report`
    and hands the report to `handle_report`)."""

    def __init__(self, clock: TestClock, kernel: Kernel, venue: str = "SIM", account_id: AccountId = ACCOUNT) -> None:
        super().__init__(
            ClientId(venue),
            Venue(venue),
            OmsType.NETTING,
            account_id,
            LiveClientConfig(factory="scripted"),
            clock,
            kernel.cache,
            Logger(f"Client-{venue}", clock),
            kernel.exec_engine.process,
        )
        self.order_reports: list[OrderStatusReport] = []
        self.single_reports: dict[ClientOrderId, OrderStatusReport] = {}
        self.fill_reports: list[FillReport] = []
        self.position_reports: list[PositionStatusReport] = []
        self.fail: set[str] = set()
        self.answer_queries = False
        self.queries: list[QueryOrder] = []
        self.single_queries: list[ClientOrderId | None] = []
        self.orders_queries: list[dict[str, Any]] = []
        self.fill_queries: list[InstrumentId | None] = []
        self.position_queries = 0

    async def connect(self) -> None:
        self.is_connected = True

    async def disconnect(self) -> None:
        self.is_connected = False

    def submit_order(self, command: Any) -> None:
        pass

    def modify_order(self, command: Any) -> None:
        pass

    def cancel_order(self, command: Any) -> None:
        pass

    def cancel_all_orders(self, command: Any) -> None:
        pass

    def query_order(self, command: QueryOrder) -> None:
        self.queries.append(command)
        if self.answer_queries:
            super().query_order(command)

    def _maybe_fail(self, name: str) -> None:
        if name in self.fail:
            raise ConnectionError(f"venue query {name} failed")

    async def generate_order_status_report(
        self,
        instrument_id: InstrumentId,
        client_order_id: ClientOrderId | None = None,
        venue_order_id: VenueOrderId | None = None,
    ) -> OrderStatusReport | None:
        self.single_queries.append(client_order_id)
        self._maybe_fail("order")
        return self.single_reports.get(client_order_id) if client_order_id is not None else None

    async def generate_order_status_reports(
        self,
        instrument_id: InstrumentId | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
        open_only: bool = False,
    ) -> list[OrderStatusReport]:
        self.orders_queries.append({"instrument_id": instrument_id, "start_ns": start_ns, "open_only": open_only})
        self._maybe_fail("orders")
        return [r for r in self.order_reports if r.is_open or not open_only]

    async def generate_fill_reports(
        self,
        instrument_id: InstrumentId | None = None,
        venue_order_id: VenueOrderId | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> list[FillReport]:
        self.fill_queries.append(instrument_id)
        self._maybe_fail("fills")
        return [f for f in self.fill_reports if instrument_id is None or f.instrument_id == instrument_id]

    async def generate_position_status_reports(
        self,
        instrument_id: InstrumentId | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> list[PositionStatusReport]:
        self.position_queries += 1
        self._maybe_fail("positions")
        return list(self.position_reports)


class Harness:
    """A kernel with a `LiveExecutionEngine` on a TestClock, one scripted venue client and the checks."""

    def __init__(self, instruments: tuple[Instrument, ...] = (AUDUSD, EURUSD), **options: Any) -> None:
        self.clock = TestClock(T0)
        self.config = LiveExecEngineConfig(**options)
        self.kernel = Kernel(
            KernelConfig(trader_id=TRADER),
            self.clock,
            exec_engine_factory=lambda *a: LiveExecutionEngine(*a, config=self.config),
        )
        self.engine: LiveExecutionEngine = self.kernel.exec_engine  # type: ignore[assignment]
        self.cache = self.kernel.cache
        for instrument in instruments:
            self.cache.add_instrument(instrument)
        self.client = ScriptedVenueClient(self.clock, self.kernel)
        self.engine.register_client(self.client)
        self.add_account(ACCOUNT)
        self.sleeps: list[float] = []
        self.after_sleep: Callable[[], None] | None = None
        self.checks = ContinuousChecks(
            self.engine,
            {"SIM": self.client},
            self.config,
            self.clock,
            Logger("ContinuousChecks", self.clock),
            sleep=self.fake_sleep,
        )
        self._count = 0

    # ---- time ----------------------------------------------------------------------------------
    @property
    def now(self) -> int:
        return self.clock.timestamp_ns()

    def advance(self, ns: int) -> None:
        self.clock.set_time(self.now + ns)

    async def fake_sleep(self, secs: float) -> None:
        self.sleeps.append(secs)
        self.advance(round(secs * SECOND))
        if self.after_sleep is not None:
            self.after_sleep()
        await asyncio.sleep(0)

    # ---- state ---------------------------------------------------------------------------------
    def add_account(self, account_id: AccountId) -> None:
        total = Money.of("100000000", USD)
        self.engine.process(
            AccountState(
                ts_event=self.now,
                ts_init=self.now,
                account_id=account_id,
                account_type=AccountType.MARGIN,
                base_currency=None,
                balances=(AccountBalance(total, Money(0, USD), total),),
            )
        )

    def order(
        self,
        coid: str,
        status: OrderStatus = OrderStatus.ACCEPTED,
        side: OrderSide = BUY,
        qty: int = 100,
        instrument: Instrument = AUDUSD,
        venue_order_id: str | None = None,
        strategy_id: StrategyId = STRATEGY,
        account_id: AccountId = ACCOUNT,
    ) -> Order:
        """An order taken to SUBMITTED, ACCEPTED, PENDING_UPDATE or PENDING_CANCEL through `engine.process`."""
        client_order_id = ClientOrderId(coid)
        ids = {
            "trader_id": TRADER,
            "strategy_id": strategy_id,
            "instrument_id": instrument.id,
            "client_order_id": client_order_id,
        }
        ts = {"ts_event": self.now, "ts_init": self.now}
        self.engine.process(
            OrderInitialized(
                **ids,
                **ts,
                order_side=side,
                order_type=OrderType.LIMIT,
                quantity=Quantity.of(qty, instrument.size_precision),
                price=Price.of("1.0", instrument.price_precision),
                time_in_force=TimeInForce.GTC,
            )
        )
        self.engine.process(OrderSubmitted(**ids, **ts, account_id=account_id))
        if status is not OrderStatus.SUBMITTED:
            vid = VenueOrderId(venue_order_id or f"V-{coid}")
            self.engine.process(OrderAccepted(**ids, **ts, venue_order_id=vid, account_id=account_id))
        if status is OrderStatus.PENDING_UPDATE:
            self.engine.process(OrderPendingUpdate(**ids, **ts))
        elif status is OrderStatus.PENDING_CANCEL:
            self.engine.process(OrderPendingCancel(**ids, **ts))
        order = self.cache.order(client_order_id)
        assert order is not None and order.status is status
        return order

    def fill(self, order: Order, qty: int, px: str = "1.0", trade_id: str | None = None) -> None:
        self._count += 1
        instrument = self.cache.instrument(order.instrument_id)
        assert instrument is not None and order.venue_order_id is not None and order.account_id is not None
        self.engine.process(
            OrderFilled(
                trader_id=order.trader_id,
                strategy_id=order.strategy_id,
                instrument_id=order.instrument_id,
                client_order_id=order.client_order_id,
                venue_order_id=order.venue_order_id,
                account_id=order.account_id,
                trade_id=TradeId(trade_id or f"T-{self._count}"),
                order_side=order.side,
                order_type=order.order_type,
                last_qty=Quantity.of(qty, instrument.size_precision),
                last_px=Price.of(px, instrument.price_precision),
                currency=instrument.quote_currency,
                commission=Money(0, instrument.quote_currency),
                liquidity_side=LiquiditySide.MAKER,
                ts_event=self.now,
                ts_init=self.now,
            )
        )

    def position(
        self,
        qty: int,
        instrument: Instrument = AUDUSD,
        account_id: AccountId = ACCOUNT,
        strategy_id: StrategyId = STRATEGY,
        coid: str | None = None,
        trade_id: str | None = None,
        px: str = "1.0",
    ) -> Order:
        """A NETTING position of signed `qty` opened by one filled order."""
        self._count += 1
        side = BUY if qty > 0 else SELL
        order = self.order(
            coid or f"O-POS-{self._count}",
            side=side,
            qty=abs(qty),
            instrument=instrument,
            strategy_id=strategy_id,
            account_id=account_id,
        )
        self.fill(order, abs(qty), px, trade_id)
        return order

    def signed_qty(self, instrument: Instrument = AUDUSD, account_id: AccountId = ACCOUNT) -> Decimal:
        positions = self.cache.positions_open(instrument_id=instrument.id)
        return sum((p.signed_qty for p in positions if p.account_id == account_id), Decimal(0))

    # ---- reports -------------------------------------------------------------------------------
    def order_report(
        self,
        order: Order | None,
        status: OrderStatus,
        filled: int = 0,
        venue_order_id: str | None = None,
        client_order_id: str | None = None,
        qty: int = 100,
        avg_px: str | None = None,
        side: OrderSide = BUY,
    ) -> OrderStatusReport:
        vid = venue_order_id or (str(order.venue_order_id) if order is not None and order.venue_order_id else "V-X")
        coid = ClientOrderId(client_order_id) if client_order_id else (order.client_order_id if order else None)
        return OrderStatusReport(
            account_id=ACCOUNT,
            instrument_id=order.instrument_id if order is not None else AUDUSD.id,
            venue_order_id=VenueOrderId(vid),
            client_order_id=coid,
            order_side=order.side if order is not None else side,
            order_type=OrderType.LIMIT,
            time_in_force=TimeInForce.GTC,
            order_status=status,
            quantity=order.quantity if order is not None else Quantity.from_int(qty),
            filled_qty=Quantity.from_int(filled),
            price=Price.from_str("1.00000"),
            avg_px=Decimal(avg_px) if avg_px is not None else (Decimal("1.0") if filled else None),
            ts_accepted=self.now,
            ts_last=self.now,
            ts_init=self.now,
        )

    def fill_report(
        self, order: Order, qty: int, trade_id: str, px: str = "1.0", account_id: AccountId = ACCOUNT
    ) -> FillReport:
        instrument = self.cache.instrument(order.instrument_id)
        assert instrument is not None and order.venue_order_id is not None
        return FillReport(
            account_id=account_id,
            instrument_id=order.instrument_id,
            venue_order_id=order.venue_order_id,
            client_order_id=order.client_order_id,
            trade_id=TradeId(trade_id),
            order_side=order.side,
            last_qty=Quantity.of(qty, instrument.size_precision),
            last_px=Price.of(px, instrument.price_precision),
            commission=Money(0, instrument.quote_currency),
            liquidity_side=LiquiditySide.MAKER,
            ts_event=self.now,
            ts_init=self.now,
        )

    def position_report(
        self,
        qty: Decimal | int | str,
        instrument: Instrument = AUDUSD,
        account_id: AccountId = ACCOUNT,
        avg_px: str | None = None,
    ) -> PositionStatusReport:
        value = Decimal(str(qty))
        side = PositionSide.LONG if value > 0 else PositionSide.SHORT if value < 0 else PositionSide.FLAT
        return PositionStatusReport(
            account_id=account_id,
            instrument_id=instrument.id,
            position_side=side,
            quantity=Quantity.of(abs(value), instrument.size_precision),
            avg_px_open=Decimal(avg_px) if avg_px is not None else None,
            ts_last=self.now,
            ts_init=self.now,
        )

    # ---- spies ---------------------------------------------------------------------------------
    def spy(self, name: str) -> list[tuple[Any, ...]]:
        """Record the arguments of every call of an engine method (the method still runs)."""
        calls: list[tuple[Any, ...]] = []
        original = getattr(self.engine, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append(args)
            return original(*args, **kwargs)

        setattr(self.engine, name, wrapper)
        return calls


def inflight_harness(**options: Any) -> Harness:
    settings = {
        "inflight_check_interval_ms": 50,
        "inflight_check_threshold_ms": 10,
        "inflight_check_retries": 2,
        **options,
    }
    return Harness(**settings)


def open_check_harness(**options: Any) -> Harness:
    settings = {"open_check_interval_secs": 0.1, "open_check_open_only": False, "open_check_threshold_ms": 0, **options}
    return Harness(**settings)


def position_harness(**options: Any) -> Harness:
    settings = {"position_check_interval_secs": 1.0, "position_check_threshold_ms": 0, **options}
    return Harness(**settings)


# ==== D. In-flight check (§3.1) ========================================================================


def test_check_inflight_orders_queries_old_orders() -> None:
    h = inflight_harness()
    order = h.order("O-1", OrderStatus.SUBMITTED)
    h.advance(SECOND)
    h.checks.check_inflight_orders()
    assert [q.client_order_id for q in h.client.queries] == [order.client_order_id]
    assert isinstance(h.client.queries[0], QueryOrder)
    assert h.engine.order_retries[order.client_order_id] == 1
    assert h.engine.order_last_query[order.client_order_id] == h.now


def test_check_inflight_orders_skips_young_orders() -> None:
    h = inflight_harness()
    h.order("O-1", OrderStatus.SUBMITTED)
    h.advance(5 * MS)  # below the 10 ms threshold
    h.checks.check_inflight_orders()
    assert h.client.queries == []


def test_check_inflight_orders_increments_retry_count() -> None:
    h = inflight_harness()
    order = h.order("O-1", OrderStatus.SUBMITTED)
    coid = order.client_order_id
    h.advance(SECOND)
    h.checks.check_inflight_orders()
    assert h.engine.order_retries[coid] == 1
    h.engine.order_last_query[coid] -= 11 * MS  # the query is now older than the threshold
    h.checks.check_inflight_orders()
    assert h.engine.order_retries[coid] == 2
    assert len(h.client.queries) == 2


def test_check_inflight_orders_skips_when_recent_query_pending() -> None:
    h = inflight_harness()
    order = h.order("O-1", OrderStatus.SUBMITTED)
    h.advance(SECOND)
    h.engine.order_last_query[order.client_order_id] = h.now - MS  # threshold / 10 ago
    h.checks.check_inflight_orders()
    assert h.client.queries == []
    assert h.engine.order_retries.get(order.client_order_id, 0) == 0


def test_check_inflight_orders_respects_retry_limit() -> None:
    h = inflight_harness()
    order = h.order("O-1", OrderStatus.SUBMITTED)
    h.advance(SECOND)
    h.engine.order_retries[order.client_order_id] = 2
    h.checks.check_inflight_orders()
    assert h.client.queries == []
    assert order.status is OrderStatus.REJECTED
    assert isinstance(order.last_event, OrderRejected) and order.last_event.reason == "UNKNOWN"
    assert order.last_event.ts_event == h.now
    assert order.client_order_id not in {o.client_order_id for o in h.cache.orders_inflight()}
    assert order.client_order_id not in h.engine.order_retries


def test_inflight_timeout_resolves_order() -> None:
    """With R retries, R queries go out and the order is resolved on the next eligible pass."""
    h = inflight_harness()
    order = h.order("O-1", OrderStatus.SUBMITTED)
    for _ in range(3):
        h.advance(20 * MS)
        h.checks.check_inflight_orders()
    assert len(h.client.queries) == 2
    assert order.status is OrderStatus.REJECTED
    assert order.client_order_id not in h.engine.order_retries
    assert order.client_order_id not in h.engine.order_last_query


def test_inflight_resolution_deferred_while_events_queued() -> None:
    h = inflight_harness()
    order = h.order("O-1", OrderStatus.SUBMITTED)
    h.advance(SECOND)
    h.engine.order_retries[order.client_order_id] = 2
    h.engine.event_queue_empty = lambda: False  # type: ignore[attr-defined]
    h.checks.check_inflight_orders()
    assert order.status is OrderStatus.SUBMITTED
    h.engine.event_queue_empty = lambda: True  # type: ignore[attr-defined]
    h.checks.check_inflight_orders()
    assert order.status is OrderStatus.REJECTED


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (OrderStatus.SUBMITTED, OrderStatus.REJECTED),
        (OrderStatus.PENDING_UPDATE, OrderStatus.CANCELED),
        (OrderStatus.PENDING_CANCEL, OrderStatus.CANCELED),
    ],
    ids=["submitted", "pending_update", "pending_cancel"],
)
def test_resolve_inflight_order_when(status: OrderStatus, expected: OrderStatus) -> None:
    h = inflight_harness()
    order = h.order("O-1", status)
    h.engine.order_retries[order.client_order_id] = 2
    h.engine.order_last_query[order.client_order_id] = h.now
    h.checks.resolve_inflight_order(order)
    assert order.status is expected
    assert order.client_order_id not in h.engine.order_retries
    assert order.client_order_id not in h.engine.order_last_query


def test_inflight_check_resolves_pending_cancel_to_canceled() -> None:
    h = inflight_harness()
    order = h.order("O-1", OrderStatus.PENDING_CANCEL)
    for _ in range(3):
        h.advance(20 * MS)
        h.checks.check_inflight_orders()
    assert len(h.client.queries) == 2
    assert h.client.queries[0].venue_order_id == order.venue_order_id
    assert order.status is OrderStatus.CANCELED


def test_resolve_inflight_order_skips_when_status_updated() -> None:
    h = inflight_harness()
    order = h.order("O-1", OrderStatus.ACCEPTED)
    h.engine.order_retries[order.client_order_id] = 2
    h.engine.order_last_query[order.client_order_id] = h.now
    h.checks.resolve_inflight_order(order)
    assert order.status is OrderStatus.ACCEPTED
    assert order.client_order_id not in h.engine.order_retries
    assert order.client_order_id not in h.engine.order_last_query


def test_inflight_check_ignores_instrument_filter() -> None:
    h = inflight_harness(reconciliation_instrument_ids=[EURUSD.id])
    order = h.order("O-1", OrderStatus.SUBMITTED)  # AUD/USD, outside the include list
    h.advance(SECOND)
    h.checks.check_inflight_orders()
    assert [q.client_order_id for q in h.client.queries] == [order.client_order_id]


def test_inflight_order_timeout_reconciliation() -> None:
    """Scenario 67: the loop (interval 100 ms, threshold 200 ms, retries 2) rejects an unanswered order within 3 s."""
    h = inflight_harness(
        reconciliation=False,
        inflight_check_interval_ms=100,
        inflight_check_threshold_ms=200,
        inflight_check_retries=2,
    )
    h.client.answer_queries = True  # the venue is asked, but never knows the order
    order = h.order("O-1", OrderStatus.SUBMITTED)
    start = h.now
    stop = asyncio.Event()

    def stop_when_done() -> None:
        if order.status is OrderStatus.REJECTED or h.now - start > 3 * SECOND:
            stop.set()

    async def scenario() -> None:
        h.after_sleep = stop_when_done
        await h.checks.run(stop)
        await h.client.wait_tasks()

    run(scenario())
    assert order.status is OrderStatus.REJECTED
    assert h.now - start <= 3 * SECOND
    assert len(h.client.queries) == 2
    assert h.client.single_queries == [order.client_order_id, order.client_order_id]


# ==== E. Open-order check (§3.2) =======================================================================


def test_check_orders_consistency_reconciles_status_not_fills() -> None:
    h = open_check_harness()
    order = h.order("O-1", venue_order_id="V-1")
    h.client.order_reports = [h.order_report(order, OrderStatus.PARTIALLY_FILLED, filled=50, avg_px="1.0")]
    run(h.checks.check_open_orders())
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.filled_qty == Quantity.from_int(50)


def test_check_orders_consistency_reconciles_closed_order() -> None:
    h = open_check_harness()
    order = h.order("O-1", venue_order_id="V-1")
    h.client.order_reports = [h.order_report(order, OrderStatus.FILLED, filled=100)]
    run(h.checks.check_open_orders())
    assert order.status is OrderStatus.FILLED
    assert order.filled_qty == order.quantity


def test_open_check_query_arguments() -> None:
    h = open_check_harness(open_check_lookback_mins=30)
    run(h.checks.check_open_orders())
    assert h.client.orders_queries == [
        {"instrument_id": None, "start_ns": h.now - 30 * 60 * SECOND, "open_only": False}
    ]


def test_continuous_reconciliation_detects_missed_fills() -> None:
    h = open_check_harness()
    order = h.order("O-1")
    h.engine.order_retries[order.client_order_id] = 2
    h.client.order_reports = [h.order_report(order, OrderStatus.PARTIALLY_FILLED, filled=50, avg_px="1.0")]
    run(h.checks.check_open_orders())
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.filled_qty == Quantity.from_int(50)
    assert order.avg_px == Decimal("1.0")
    assert order.client_order_id not in h.engine.order_retries


def test_continuous_reconciliation_fully_filled_mismatch() -> None:
    h = open_check_harness()
    order = h.order("O-1")
    h.fill(order, 60)
    h.client.order_reports = [h.order_report(order, OrderStatus.FILLED, filled=100)]
    run(h.checks.check_open_orders())
    assert order.status is OrderStatus.FILLED
    assert order.filled_qty == Quantity.from_int(100)


def test_continuous_reconciliation_skips_matching_fills() -> None:
    h = open_check_harness()
    order = h.order("O-1")
    h.fill(order, 30)
    calls = h.spy("reconcile_order_report")
    h.client.order_reports = [h.order_report(order, OrderStatus.PARTIALLY_FILLED, filled=30)]
    run(h.checks.check_open_orders())
    assert calls == []
    assert order.filled_qty == Quantity.from_int(30)


def test_continuous_reconciliation_handles_zero_fills_from_venue() -> None:
    h = open_check_harness()
    order = h.order("O-1")
    calls = h.spy("reconcile_order_report")
    h.client.order_reports = [h.order_report(order, OrderStatus.ACCEPTED, filled=0)]
    run(h.checks.check_open_orders())
    assert calls == []
    assert order.status is OrderStatus.ACCEPTED


def test_check_orders_consistency_open_only_mode() -> None:
    h = open_check_harness(open_check_open_only=True)
    h.client.order_reports = [
        h.order_report(None, OrderStatus.ACCEPTED, venue_order_id="EXTERNAL-123", client_order_id="EXTERNAL-123")
    ]
    run(h.checks.check_open_orders())
    assert h.client.orders_queries[0]["open_only"] is True
    orders = h.cache.orders()
    assert len(orders) == 1
    assert orders[0].client_order_id == "EXTERNAL-123"
    assert orders[0].status is OrderStatus.ACCEPTED


def test_open_check_ignores_closed_report_of_unknown_order() -> None:
    h = open_check_harness()
    h.client.order_reports = [h.order_report(None, OrderStatus.CANCELED, venue_order_id="V-GONE", client_order_id="X")]
    run(h.checks.check_open_orders())
    assert h.cache.orders() == []


def test_open_check_skips_filtered_instruments() -> None:
    h = open_check_harness(reconciliation_instrument_ids=[EURUSD.id])
    h.client.order_reports = [h.order_report(None, OrderStatus.ACCEPTED, venue_order_id="V-AUD", client_order_id="A")]
    run(h.checks.check_open_orders())
    assert h.cache.orders() == []


def test_open_check_defers_report_after_recent_local_activity() -> None:
    h = open_check_harness(open_check_threshold_ms=1000)
    order = h.order("O-1")
    h.advance(100 * MS)  # local activity (the accept) 100 ms ago: within the threshold
    h.client.order_reports = [h.order_report(order, OrderStatus.PARTIALLY_FILLED, filled=50)]
    run(h.checks.check_open_orders())
    assert order.status is OrderStatus.ACCEPTED
    h.advance(SECOND)
    run(h.checks.check_open_orders())
    assert order.status is OrderStatus.PARTIALLY_FILLED


def test_open_check_client_exception_contributes_nothing() -> None:
    h = open_check_harness()
    order = h.order("O-1")
    h.client.fail.add("orders")
    run(h.checks.check_open_orders())
    assert order.status is OrderStatus.ACCEPTED
    assert h.engine.order_retries[order.client_order_id] == 1  # missing: counted, not resolved


def test_accepted_order_not_found_at_venue_reconciles_to_rejected() -> None:
    h = open_check_harness()
    order = h.order("O-1")
    h.advance(10 * SECOND)
    h.engine.order_retries[order.client_order_id] = h.config.open_check_missing_retries
    run(h.checks.check_open_orders())
    assert order.status is OrderStatus.REJECTED
    assert order.is_closed
    assert isinstance(order.last_event, OrderRejected)
    assert order.last_event.reason == ORDER_NOT_FOUND_REASON
    assert h.client.single_queries == [order.client_order_id]


def test_partially_filled_order_not_found_at_venue_reconciles_to_canceled() -> None:
    h = open_check_harness()
    order = h.order("O-1")
    h.fill(order, 50)
    h.advance(10 * SECOND)
    h.engine.order_retries[order.client_order_id] = h.config.open_check_missing_retries
    run(h.checks.check_open_orders())
    assert order.status is OrderStatus.CANCELED
    assert order.filled_qty == Quantity.from_int(50)


def test_filled_order_not_found_at_venue_remains_unchanged() -> None:
    h = open_check_harness()
    order = h.order("O-1")
    h.fill(order, 100)
    h.advance(10 * SECOND)
    h.engine.order_retries[order.client_order_id] = h.config.open_check_missing_retries
    run(h.checks.check_open_orders())
    assert order.status is OrderStatus.FILLED
    assert h.client.single_queries == []


def test_targeted_query_report_is_reconciled() -> None:
    h = open_check_harness()
    order = h.order("O-1")
    h.advance(10 * SECOND)
    h.engine.order_retries[order.client_order_id] = h.config.open_check_missing_retries
    h.client.single_reports[order.client_order_id] = h.order_report(order, OrderStatus.CANCELED)
    run(h.checks.check_open_orders())
    assert order.status is OrderStatus.CANCELED


def test_targeted_query_error_goes_to_resolution() -> None:
    h = open_check_harness()
    order = h.order("O-1")
    h.advance(10 * SECOND)
    h.engine.order_retries[order.client_order_id] = h.config.open_check_missing_retries
    h.client.fail.add("order")
    run(h.checks.check_open_orders())
    assert order.status is OrderStatus.REJECTED


@pytest.mark.parametrize("status", [OrderStatus.PENDING_UPDATE, OrderStatus.PENDING_CANCEL])
def test_pending_order_not_found_at_venue_stays_unresolved(status: OrderStatus) -> None:
    h = open_check_harness(single_order_query_delay_ms=0)
    order = h.order("O-1", status)
    h.advance(10 * SECOND)
    h.engine.order_retries[order.client_order_id] = h.config.open_check_missing_retries
    run(h.checks.check_open_orders())
    assert order.status is status
    assert h.engine.order_last_query[order.client_order_id] == h.now


def test_submitted_order_not_found_is_not_rejected_by_open_check() -> None:
    """§6: the open-order resolver returns early for an order that is not open; SUBMITTED included."""
    h = open_check_harness()
    order = h.order("O-1", OrderStatus.SUBMITTED)
    h.advance(10 * SECOND)
    h.engine.order_retries[order.client_order_id] = h.config.open_check_missing_retries
    run(h.checks.check_open_orders())
    assert order.status is OrderStatus.SUBMITTED
    assert order.client_order_id not in h.engine.order_retries


def test_mixed_orders_with_some_not_found_at_venue() -> None:
    h = open_check_harness()
    o1 = h.order("O-1")
    o2 = h.order("O-2")
    o3 = h.order("O-3")
    h.fill(o3, 100)
    h.advance(10 * SECOND)
    h.engine.order_retries[o2.client_order_id] = h.config.open_check_missing_retries
    h.client.order_reports = [h.order_report(o1, OrderStatus.ACCEPTED)]
    run(h.checks.check_open_orders())
    assert o1.status is OrderStatus.ACCEPTED
    assert o2.status is OrderStatus.REJECTED
    assert o3.status is OrderStatus.FILLED


def test_open_check_open_only_mode_does_not_reject_missing_orders() -> None:
    h = open_check_harness(open_check_open_only=True, open_check_missing_retries=2)
    order = h.order("O-1")
    for _ in range(3):
        h.advance(SECOND)
        run(h.checks.check_open_orders())
    assert order.status is OrderStatus.ACCEPTED
    assert h.client.single_queries == []


def test_open_check_full_history_mode_does_reject_missing_orders() -> None:
    h = open_check_harness(open_check_missing_retries=2)
    order = h.order("O-1")
    for cycle in (1, 2):
        h.advance(SECOND)
        run(h.checks.check_open_orders())
        assert order.status is OrderStatus.ACCEPTED
        assert h.engine.order_retries[order.client_order_id] == cycle
    h.advance(SECOND)
    run(h.checks.check_open_orders())  # cycle N + 1
    assert order.status is OrderStatus.REJECTED


@pytest.mark.parametrize("age_ms", [1, 60], ids=["recent_order_skipped", "custom_threshold_delays"])
def test_recent_order_skipped_from_missing_check(age_ms: int) -> None:
    h = open_check_harness(open_check_threshold_ms=200)
    order = h.order("O-1")
    h.advance(age_ms * MS)
    run(h.checks.check_open_orders())
    assert order.status is OrderStatus.ACCEPTED
    assert order.client_order_id not in h.engine.order_retries


def test_missing_order_skips_when_local_activity_recent() -> None:
    h = open_check_harness(open_check_threshold_ms=5000)
    order = h.order("O-1")
    h.advance(10 * SECOND)
    h.engine.order_local_activity[order.client_order_id] = h.now
    run(h.checks.check_open_orders())
    assert order.status is OrderStatus.ACCEPTED
    assert h.engine.order_retries.get(order.client_order_id, 0) == 0


@pytest.mark.parametrize("count", [2, 3])
def test_order_found_at_venue_clears_retry_counter(count: int) -> None:
    h = open_check_harness()
    order = h.order("O-1")
    h.engine.order_retries[order.client_order_id] = count
    h.engine.order_last_query[order.client_order_id] = h.now
    h.client.order_reports = [h.order_report(order, OrderStatus.ACCEPTED)]
    run(h.checks.check_open_orders())
    assert order.client_order_id not in h.engine.order_retries
    assert order.client_order_id not in h.engine.order_last_query


def test_reconciliation_clears_retry_counts_on_success() -> None:
    h = open_check_harness()
    order = h.order("O-1")
    h.engine.order_retries[order.client_order_id] = 3
    h.client.order_reports = [h.order_report(order, OrderStatus.PARTIALLY_FILLED, filled=20)]
    run(h.checks.check_open_orders())
    assert order.filled_qty == Quantity.from_int(20)
    assert order.client_order_id not in h.engine.order_retries


def test_report_without_client_order_id_maps_through_venue_index() -> None:
    h = open_check_harness()
    order = h.order("O-1", venue_order_id="V-123")
    h.engine.order_retries[order.client_order_id] = 2
    report = h.order_report(order, OrderStatus.PARTIALLY_FILLED, filled=50)
    h.client.order_reports = [msgspec_replace(report, client_order_id=None)]
    run(h.checks.check_open_orders())
    assert order.filled_qty == Quantity.from_int(50)
    assert order.client_order_id not in h.engine.order_retries


def test_inflight_and_open_order_combined_scenario() -> None:
    h = open_check_harness()
    inflight = h.order("O-INFLIGHT", OrderStatus.SUBMITTED)
    h.engine.order_retries[inflight.client_order_id] = 1
    accepted = h.order("O-OPEN", venue_order_id="1")
    h.client.order_reports = [
        h.order_report(inflight, OrderStatus.ACCEPTED, venue_order_id="V-INFLIGHT"),
        h.order_report(accepted, OrderStatus.PARTIALLY_FILLED, filled=25, venue_order_id="V-OPEN"),
    ]
    calls = h.spy("reconcile_order_report")
    run(h.checks.check_open_orders())
    assert [c[0].client_order_id for c in calls] == [inflight.client_order_id, accepted.client_order_id]
    assert inflight.status is OrderStatus.ACCEPTED
    assert inflight.client_order_id not in h.engine.order_retries
    assert accepted.status is OrderStatus.ACCEPTED
    assert accepted.filled_qty == Quantity.from_int(0)


def test_targeted_query_limiting() -> None:
    """Scenario 82: 10 missing orders, missing_retries 0, 3 queries per cycle, 50 ms apart."""
    h = open_check_harness(
        open_check_missing_retries=0, max_single_order_queries_per_cycle=3, single_order_query_delay_ms=50
    )
    orders = [h.order(f"O-{i:02d}") for i in range(10)]
    rejected = []
    sleeps = []
    for _ in range(4):
        h.advance(100 * MS)
        h.sleeps.clear()
        run(h.checks.check_open_orders())
        rejected.append(sum(o.status is OrderStatus.REJECTED for o in orders))
        sleeps.append(list(h.sleeps))
    assert rejected == [3, 6, 9, 10]
    assert sleeps == [[0.05, 0.05], [0.05, 0.05], [0.05, 0.05], [0.05]]


def test_targeted_query_limiting_through_the_loop() -> None:
    """Scenario 82 through the §3.0 loop: the REJECTED count after each open-order cycle is 3, 6, 9, 10."""
    h = open_check_harness(
        reconciliation=False,
        inflight_check_interval_ms=0,
        open_check_missing_retries=0,
        max_single_order_queries_per_cycle=3,
        single_order_query_delay_ms=50,
    )
    orders = [h.order(f"O-{i:02d}") for i in range(10)]
    rejected: list[int] = []
    original = h.checks.check_open_orders
    stop = asyncio.Event()

    async def counting_check() -> None:
        await original()
        rejected.append(sum(o.status is OrderStatus.REJECTED for o in orders))
        if len(rejected) == 4:
            stop.set()

    h.checks.check_open_orders = counting_check  # type: ignore[method-assign]
    run(h.checks.run(stop))
    assert rejected == [3, 6, 9, 10]


def test_targeted_query_limiting_with_retry_accumulation() -> None:
    """Scenario 83: missing_retries 5, at most 3 targeted queries per cycle."""
    h = open_check_harness(
        open_check_missing_retries=5, max_single_order_queries_per_cycle=3, single_order_query_delay_ms=0
    )
    orders = [h.order(f"O-{i:02d}") for i in range(10)]
    coids = [o.client_order_id for o in orders]

    def cycle() -> int:
        h.advance(100 * MS)
        run(h.checks.check_open_orders())
        return sum(o.status is OrderStatus.REJECTED for o in orders)

    for n in range(1, 6):
        assert cycle() == 0
        assert [h.engine.order_retries[c] for c in coids] == [n] * 10
    assert cycle() == 3
    assert sorted(h.engine.order_retries.values()) == [6] * 7
    assert [cycle(), cycle(), cycle()] == [6, 9, 10]
    assert h.client.single_queries == coids


def test_open_check_shutting_down_does_not_query() -> None:
    h = open_check_harness()
    h.order("O-1")
    h.engine.is_shutting_down = True
    run(h.checks.check_open_orders())
    run(h.checks.check_positions())
    h.checks.check_inflight_orders()
    assert h.client.orders_queries == []
    assert h.client.position_queries == 0


# ==== F. Position check (§3.3) =========================================================================


def test_process_cached_position_discrepancies_no_discrepancy() -> None:
    h = position_harness()
    h.position(1000)
    h.advance(SECOND)
    h.client.position_reports = [h.position_report(1000)]
    run(h.checks.check_positions())
    assert h.client.fill_queries == []
    assert h.checks.position_retries == {}


def test_process_cached_position_discrepancies_with_discrepancy() -> None:
    h = position_harness(generate_missing_orders=False)
    h.position(1000)
    h.advance(SECOND)
    h.client.position_reports = [h.position_report(1500)]
    run(h.checks.check_positions())
    assert h.client.fill_queries == [AUDUSD.id]
    assert h.checks.position_retries[(AUDUSD.id, ACCOUNT)] == 1


def test_position_discrepancy_fill_query_uses_lookback() -> None:
    h = position_harness(generate_missing_orders=False, position_check_lookback_mins=15)
    h.position(1000)
    h.client.position_reports = [h.position_report(1500)]
    starts: list[int | None] = []
    original = h.client.generate_fill_reports

    async def recording(**kwargs: Any) -> list[FillReport]:
        starts.append(kwargs.get("start_ns"))
        return await original(**kwargs)

    h.client.generate_fill_reports = recording  # type: ignore[method-assign]
    run(h.checks.check_positions())
    assert starts == [h.now - 15 * 60 * SECOND]


def test_process_cached_position_discrepancies_reconciles_missing_venue_position_as_flat() -> None:
    h = position_harness()
    h.position(1000)
    h.advance(SECOND)
    calls = h.spy("reconcile_position_report")
    run(h.checks.check_positions())
    assert len(calls) == 1
    report = calls[0][0]
    assert isinstance(report, PositionStatusReport)
    assert report.position_side is PositionSide.FLAT
    assert report.quantity == Quantity.from_int(0)
    assert (report.instrument_id, report.account_id) == (AUDUSD.id, ACCOUNT)
    assert h.signed_qty() == 0  # the synthetic SELL 1000 closed it
    assert h.checks.position_retries == {}


def test_process_cached_position_discrepancies_skips_flat_reconciliation_on_query_failure() -> None:
    h = position_harness()
    h.position(1000)
    h.advance(SECOND)
    h.client.fail.add("positions")
    calls = h.spy("reconcile_position_report")
    run(h.checks.check_positions())
    assert h.client.fill_queries == []
    assert calls == []
    assert h.checks.position_retries == {}
    assert h.signed_qty() == 1000


def test_position_check_reconciles_to_venue_quantity() -> None:
    h = position_harness()
    h.position(1000)
    h.advance(SECOND)
    h.client.position_reports = [h.position_report(1500)]
    run(h.checks.check_positions())
    assert h.signed_qty() == 1500
    assert h.checks.position_retries == {}


def test_position_check_retries_stops_after_max(caplog: pytest.LogCaptureFixture) -> None:
    h = position_harness(position_check_retries=2, generate_missing_orders=False)
    h.position(1000)
    with caplog.at_level(logging.ERROR, logger="toolkit"):
        for _ in range(3):
            h.advance(SECOND)
            run(h.checks.check_positions())
    assert len(h.client.fill_queries) == 2
    assert h.checks.position_retries[(AUDUSD.id, ACCOUNT)] == 2
    assert any("giving up" in r.getMessage() for r in caplog.records)


def test_venue_reported_position_retries_stop_after_max() -> None:
    h = position_harness(position_check_retries=2, generate_missing_orders=False)
    h.client.position_reports = [h.position_report(500)]
    for _ in range(3):
        h.advance(SECOND)
        run(h.checks.check_positions())
    assert len(h.client.fill_queries) == 2
    assert h.checks.position_retries[(AUDUSD.id, ACCOUNT)] == 2
    assert h.signed_qty() == 0  # venue-only: fills recovered, never a synthetic order


def test_position_check_throttled_by_recent_position_activity() -> None:
    h = position_harness(position_check_threshold_ms=1000, generate_missing_orders=False)
    h.position(1000)
    h.client.position_reports = [h.position_report(1500)]
    h.advance(300 * MS)
    run(h.checks.check_positions())
    assert h.client.fill_queries == []
    h.advance(SECOND)
    run(h.checks.check_positions())
    assert h.client.fill_queries == [AUDUSD.id]


def test_per_account_discrepancies_each_queried() -> None:
    h = position_harness(position_check_retries=1, generate_missing_orders=False)
    h.add_account(ACCOUNT_B)
    h.position(1000, account_id=ACCOUNT, strategy_id=StrategyId("S-A"))
    h.position(1000, account_id=ACCOUNT_B, strategy_id=StrategyId("S-B"))
    h.advance(SECOND)
    h.client.position_reports = [h.position_report(1500), h.position_report(2500, account_id=ACCOUNT_B)]
    run(h.checks.check_positions())
    assert len(h.client.fill_queries) == 2
    assert h.checks.position_retries == {(AUDUSD.id, ACCOUNT): 1, (AUDUSD.id, ACCOUNT_B): 1}


def test_recent_activity_on_one_account_does_not_throttle_another() -> None:
    h = position_harness(position_check_threshold_ms=5000, generate_missing_orders=False)
    h.add_account(ACCOUNT_B)
    h.position(1000, account_id=ACCOUNT, strategy_id=StrategyId("S-A"))
    h.position(1000, account_id=ACCOUNT_B, strategy_id=StrategyId("S-B"))
    h.advance(10 * SECOND)
    h.engine.position_activity[(AUDUSD.id, ACCOUNT)] = h.now
    h.client.position_reports = [h.position_report(1500), h.position_report(2500, account_id=ACCOUNT_B)]
    run(h.checks.check_positions())
    assert len(h.client.fill_queries) == 1
    assert h.checks.position_retries == {(AUDUSD.id, ACCOUNT_B): 1}


def test_one_account_matching_other_discrepant() -> None:
    h = position_harness(generate_missing_orders=False)
    h.add_account(ACCOUNT_B)
    h.position(1000, account_id=ACCOUNT, strategy_id=StrategyId("S-A"))
    h.position(2000, account_id=ACCOUNT_B, strategy_id=StrategyId("S-B"))
    h.advance(SECOND)
    h.client.position_reports = [h.position_report(1000), h.position_report(1500, account_id=ACCOUNT_B)]
    run(h.checks.check_positions())
    assert len(h.client.fill_queries) == 1
    assert h.checks.position_retries == {(AUDUSD.id, ACCOUNT_B): 1}


def test_two_venue_only_accounts_each_counted() -> None:
    h = position_harness()
    h.client.position_reports = [h.position_report(500), h.position_report(700, account_id=ACCOUNT_B)]
    run(h.checks.check_positions())
    assert len(h.client.fill_queries) == 2
    assert h.checks.position_retries == {(AUDUSD.id, ACCOUNT): 1, (AUDUSD.id, ACCOUNT_B): 1}
    assert h.cache.orders() == []  # no synthetic orders for venue-only positions


def test_venue_only_flat_report_clears_counter() -> None:
    h = position_harness()
    h.checks.position_retries[(AUDUSD.id, ACCOUNT)] = 2
    h.client.position_reports = [h.position_report(0)]
    run(h.checks.check_positions())
    assert h.client.fill_queries == []
    assert h.checks.position_retries == {}


def test_stale_position_counters_are_pruned() -> None:
    h = position_harness()
    h.checks.position_retries[(EURUSD.id, ACCOUNT)] = 1
    run(h.checks.check_positions())
    assert h.checks.position_retries == {}


def test_venue_reported_position_tolerance_does_not_consume_retries() -> None:
    h = position_harness(instruments=(ETHUSDT,))
    h.position(1, instrument=ETHUSDT, px="2000.00")
    h.advance(SECOND)
    h.client.position_reports = [h.position_report("1.00001", instrument=ETHUSDT)]
    run(h.checks.check_positions())
    assert h.client.fill_queries == []
    assert h.checks.position_retries == {}


@pytest.mark.parametrize(
    ("instrument", "cached", "venue", "expected"),
    [
        (AUDUSD, "0", "0", False),
        (AUDUSD, "0", None, False),
        (BTC_SIX, "0.000524", "0.000525", False),
        (BTC_SIX, "0.000001", None, False),
        (ETHUSDT, "0.00050", "0.00052", True),
        (ES, "10", "11", True),
        (None, "0", "0.000001", True),
    ],
    ids=["both_flat", "flat_no_report", "one_unit", "dust_no_report", "two_units", "future_0dp", "uncached"],
)
def test_position_discrepancy_rules(
    instrument: Instrument | None, cached: str, venue: str | None, expected: bool
) -> None:
    venue_qty = None if venue is None else Decimal(venue)
    assert has_position_discrepancy(instrument, Decimal(cached), venue_qty) is expected


def test_within_one_unit_examples() -> None:
    assert within_one_unit(Decimal("1.0"), Decimal("1.1"), 1)
    assert not within_one_unit(Decimal("1.0"), Decimal("1.2"), 1)
    assert not within_one_unit(Decimal(100), Decimal(101), 0)
    assert not within_one_unit(Decimal("0.000525"), Decimal("0.000523"), 6)


def test_position_discrepancy_queries_missing_fills() -> None:
    """Scenario 91 through the loop (interval 0.5 s, threshold 100 ms)."""
    h = position_harness(
        reconciliation=False,
        inflight_check_interval_ms=0,
        position_check_interval_secs=0.5,
        position_check_threshold_ms=100,
    )
    order = h.order("O-1", qty=100_000, venue_order_id="V-1")
    h.fill(order, 50_000, trade_id="T-POS-1")
    h.client.fill_reports = [h.fill_report(order, 50_000, "T-POS-1"), h.fill_report(order, 30_000, "T-POS-2")]
    h.client.position_reports = [h.position_report(80_000)]
    stop = asyncio.Event()
    start = h.now

    def stop_when_done() -> None:
        if h.signed_qty() == 80_000 or h.now - start > 5 * SECOND:
            stop.set()

    h.after_sleep = stop_when_done
    run(h.checks.run(stop))
    run(h.checks.check_positions())  # the loop stops before running the check after the state is fixed
    assert h.signed_qty() == 80_000
    assert order.filled_qty == Quantity.from_int(80_000)
    assert h.cache.orders_total_count() == 1  # recovered, not synthesised
    assert h.checks.position_retries == {}


def test_position_reconciliation_respects_threshold() -> None:
    """Scenario 93: threshold 1000 ms; the venue's 60k (a missing 20k fill) is applied only after the threshold."""
    h = position_harness(
        reconciliation=False,
        inflight_check_interval_ms=0,
        position_check_interval_secs=0.1,
        position_check_threshold_ms=1000,
    )
    order = h.order("O-1", qty=100_000)
    h.fill(order, 40_000, trade_id="T-LOCAL")
    h.client.fill_reports = [h.fill_report(order, 20_000, "T-MISSING")]
    h.client.position_reports = [h.position_report(60_000)]
    start = h.now
    observed: dict[str, Decimal] = {}
    stop = asyncio.Event()

    def observe() -> None:
        elapsed = h.now - start
        if elapsed >= 300 * MS and "early" not in observed:
            observed["early"] = h.signed_qty()
        if elapsed >= 2 * SECOND:
            stop.set()

    h.after_sleep = observe
    run(h.checks.run(stop))
    assert observed["early"] == 40_000
    assert h.signed_qty() == 60_000
    assert order.filled_qty == Quantity.from_int(60_000)


def test_position_reconciliation_respects_instrument_filter() -> None:
    h = position_harness(reconciliation_instrument_ids=[AUDUSD.id])
    h.client.position_reports = [h.position_report(50_000), h.position_report(75_000, instrument=EURUSD)]
    run(h.checks.check_positions())
    assert h.client.fill_queries == [AUDUSD.id]
    assert h.signed_qty(AUDUSD) == 0
    assert h.signed_qty(EURUSD) == 0


def test_recent_fills_cache_prevents_duplicate_reconciliation() -> None:
    h = position_harness(generate_missing_orders=False)
    order = h.order("O-1", qty=100_000)
    h.fill(order, 100_000, trade_id="T-CACHE-1")
    assert TradeId("T-CACHE-1") in h.engine.recent_fills
    h.advance(SECOND)
    h.client.fill_reports = [h.fill_report(order, 100_000, "T-CACHE-1")]
    h.client.position_reports = [h.position_report(100_000)]
    run(h.checks.check_positions())
    assert h.signed_qty() == 100_000
    # Even with a discrepancy forcing a fill query, the known trade is not applied twice.
    h.client.position_reports = [h.position_report(150_000)]
    applied = h.spy("reconcile_fill_report_single")
    run(h.checks.check_positions())
    assert applied == []
    assert h.signed_qty() == 100_000


def test_recent_fills_skip_trades_no_cached_order_holds() -> None:
    h = position_harness(generate_missing_orders=False)
    order = h.order("O-1", qty=100_000)
    h.fill(order, 40_000, trade_id="T-1")
    h.engine.recent_fills[TradeId("T-RECENT")] = h.now  # handled moments ago, not (yet) on an order
    h.advance(SECOND)
    h.client.fill_reports = [h.fill_report(order, 60_000, "T-RECENT")]
    h.client.position_reports = [h.position_report(100_000)]
    applied = h.spy("reconcile_fill_report_single")
    run(h.checks.check_positions())
    assert applied == []
    assert h.signed_qty() == 40_000


def test_position_reconciliation_handles_generate_fill_reports_exception() -> None:
    h = position_harness()
    order = h.order("O-1", qty=100_000)
    h.fill(order, 50_000)
    h.advance(SECOND)
    h.client.fail.add("fills")
    h.client.position_reports = [h.position_report(80_000)]
    calls = h.spy("reconcile_position_report")
    run(h.checks.check_positions())
    assert h.signed_qty() == 50_000
    assert calls == []
    assert h.cache.orders_total_count() == 1
    assert h.checks.position_retries[(AUDUSD.id, ACCOUNT)] == 1


# ==== §3.4 own-books audit =============================================================================


def test_audit_own_books_drops_orders_neither_open_nor_inflight() -> None:
    h = Harness()
    working = h.order("O-1")
    inflight = h.order("O-2", OrderStatus.SUBMITTED)
    done = h.order("O-3")
    h.fill(done, 100)
    for order in (working, inflight, done):
        h.checks.own_books.add(order)
    h.checks.audit_own_books()
    assert h.checks.own_books.client_order_ids() == {working.client_order_id, inflight.client_order_id}


def test_audit_own_books_logs_failures(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness()
    h.checks.own_books.add(h.order("O-1"))

    def broken() -> list[Order]:
        raise RuntimeError("boom")

    h.cache.orders_open = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="toolkit"):
        h.checks.audit_own_books()
    assert any("own-books audit failed" in r.getMessage() for r in caplog.records)


def test_own_books_audit_loop_runs_on_its_interval() -> None:
    h = Harness(own_books_audit_interval_secs=2.0)
    done = h.order("O-1")
    h.checks.own_books.add(done)
    h.fill(done, 100)
    stop = asyncio.Event()

    def stop_after_two() -> None:
        if len(h.sleeps) >= 2:
            stop.set()

    h.after_sleep = stop_after_two
    run(h.checks.run_own_books_audit(stop))
    assert h.sleeps[:1] == [2.0]
    assert h.checks.cycles["own_books"] == 1
    assert len(h.checks.own_books) == 0


# ==== §3.0 scheduling ==================================================================================


def run_loop(h: Harness, iterations: int, prepare: Callable[[asyncio.Event], None] | None = None) -> None:
    """Run the loop until the injected sleep has been called `iterations` times."""
    stop = asyncio.Event()

    def count() -> None:
        if len(h.sleeps) >= iterations:
            stop.set()

    h.after_sleep = count
    if prepare is not None:
        prepare(stop)
    run(h.checks.run(stop))


def test_loop_every_check_waits_one_full_interval() -> None:
    h = Harness(
        reconciliation=False,
        inflight_check_interval_ms=1000,
        open_check_interval_secs=2.0,
        position_check_interval_secs=3.0,
    )
    ran: list[tuple[str, int]] = []
    for name in ("check_open_orders", "check_positions"):

        async def record(name: str = name) -> None:
            ran.append((name, (h.now - T0) // SECOND))

        setattr(h.checks, name, record)

    def inflight() -> None:
        ran.append(("check_inflight_orders", (h.now - T0) // SECOND))

    h.checks.check_inflight_orders = inflight  # type: ignore[method-assign]

    # The loop's stop is checked right after each sleep; one more sleep lets the 6th pass run.
    run_loop(h, 7)
    assert set(h.sleeps) == {1.0}
    assert ran == [
        ("check_inflight_orders", 1),
        ("check_inflight_orders", 2),
        ("check_open_orders", 2),
        ("check_inflight_orders", 3),
        ("check_positions", 3),
        ("check_inflight_orders", 4),
        ("check_open_orders", 4),
        ("check_inflight_orders", 5),
        ("check_inflight_orders", 6),
        ("check_open_orders", 6),
        ("check_positions", 6),
    ]


def test_loop_interval_is_one_second_when_checks_disabled() -> None:
    h = Harness(reconciliation=False, inflight_check_interval_ms=0)
    assert not h.checks.reconciliation_loop_enabled
    run_loop(h, 2)
    assert h.sleeps == [1.0, 1.0]


def test_loop_failed_check_is_logged_and_retried_next_pass(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness(reconciliation=False, inflight_check_interval_ms=500, position_check_interval_secs=2.0)
    attempts: list[int] = []

    async def flaky() -> None:
        attempts.append((h.now - T0) // MS)
        if len(attempts) == 1:
            raise RuntimeError("venue hiccup")

    h.checks.check_positions = flaky  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="toolkit"):
        run_loop(h, 10)
    # Failed at 2.0 s: last-run not advanced, so retried at the next pass (2.5 s), then every 2 s.
    assert attempts == [2000, 2500, 4500]
    assert any("continuous positions check failed" in r.getMessage() for r in caplog.records)


def test_loop_waits_for_startup_then_delay() -> None:
    h = Harness(reconciliation=True, reconciliation_startup_delay_secs=5.0, inflight_check_interval_ms=1000)
    h.engine.on_start()
    ran: list[int] = []
    h.checks.check_inflight_orders = lambda: ran.append((h.now - T0) // SECOND)  # type: ignore[method-assign]

    async def scenario() -> None:
        stop = asyncio.Event()

        def count() -> None:
            if len(h.sleeps) >= 3:
                stop.set()

        h.after_sleep = count
        task = asyncio.create_task(h.checks.run(stop))
        for _ in range(5):
            await asyncio.sleep(0)
        assert h.sleeps == []  # blocked on the startup signal
        h.engine.startup_done.set()
        await task

    run(scenario())
    assert h.sleeps[0] == 5.0
    assert h.sleeps[1:] == [1.0, 1.0]
    assert ran == [6]  # delay 5 s, then one full interval


def test_reconciliation_disabled_does_not_block_continuous_loop() -> None:
    h = Harness(reconciliation=False, reconciliation_startup_delay_secs=5.0, inflight_check_interval_ms=1000)
    h.engine.on_start()  # the startup signal is clear and nobody sets it
    run_loop(h, 2)
    assert h.sleeps == [1.0, 1.0]
    assert h.checks.cycles["inflight"] == 1


def test_loop_exits_on_stop_while_waiting_for_startup() -> None:
    h = Harness(reconciliation=True)
    h.engine.on_start()

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(h.checks.run(stop))
        await asyncio.sleep(0)
        stop.set()
        await asyncio.wait_for(task, 1.0)

    run(scenario())
    assert h.sleeps == []


def test_loop_prunes_recent_fills_every_minute() -> None:
    h = Harness(reconciliation=False, inflight_check_interval_ms=10_000)
    order = h.order("O-1")
    h.fill(order, 10, trade_id="T-OLD")
    prunes: list[int] = []
    original = h.engine.prune_recent_fills

    def recording(now: int, ttl_ns: int = 60 * SECOND) -> int:
        prunes.append((now - T0) // SECOND)
        return original(now, ttl_ns)

    h.engine.prune_recent_fills = recording  # type: ignore[method-assign]
    run_loop(h, 13)
    assert prunes == [60, 120]
    assert TradeId("T-OLD") not in h.engine.recent_fills


def test_start_creates_the_loop_task_and_purge_timers() -> None:
    h = Harness(reconciliation=False, purge_closed_orders_interval_mins=10, own_books_audit_interval_secs=5.0)

    async def scenario() -> list[str]:
        stop = asyncio.Event()
        tasks = h.checks.start(stop)
        names = sorted(t.get_name() for t in tasks)
        stop.set()
        await asyncio.gather(*tasks)
        return names

    assert run(scenario()) == ["continuous-reconciliation", "own-books-audit"]
    assert h.clock.timer_names == ["ExecEngine.purge_closed_orders"]
    h.checks.stop_purge_timers()
    assert h.clock.timer_names == []


def msgspec_replace(report: OrderStatusReport, **changes: Any) -> OrderStatusReport:
    import msgspec

    return msgspec.structs.replace(report, **changes)
