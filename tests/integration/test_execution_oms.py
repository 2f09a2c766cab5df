"""Integration tests of the execution engine's OMS through a real `BacktestEngine` (venue spec §6).

Quotes are built by hand; a scripted strategy acts on its n-th quote. Covered: NETTING position ids
(`{instrument}-{strategy}`), a flip split into PositionClosed + PositionOpened with the commission
split pro-rata and exact realized PnL, HEDGING venue position ids (`SIM-1-001`...), strategy-level
HEDGING on a NETTING venue (virtual ids), `close_position`, `cancel_all_orders`, `modify_order`
and the cache's order and position indexes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

from toolkit.backtest.engine import BacktestEngine
from toolkit.model.data import QuoteTick
from toolkit.model.enums import AccountType, OmsType, OrderSide, OrderStatus, PositionSide
from toolkit.model.events import (
    OrderCanceled,
    OrderEvent,
    OrderFilled,
    OrderPendingCancel,
    OrderPendingUpdate,
    OrderUpdated,
    PositionChanged,
    PositionClosed,
    PositionEvent,
    PositionOpened,
)
from toolkit.model.identifiers import InstrumentId, PositionId, StrategyId
from toolkit.model.instruments import CurrencyPair
from toolkit.model.objects import Currency, Money, Price, Quantity
from toolkit.model.orders import Order
from toolkit.model.position import Position
from toolkit.trading.config import StrategyConfig
from toolkit.trading.strategy import Strategy

USD = Currency.from_str("USD")
AUD = Currency.from_str("AUD")
EUR = Currency.from_str("EUR")
BUY = OrderSide.BUY
SELL = OrderSide.SELL
T0 = 1_700_000_000_000_000_000  # 2023-11-14 22:13:20 UTC
SECOND = 1_000_000_000


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
        maker_fee=Decimal("0.00002"),
        taker_fee=Decimal("0.00002"),
        margin_init=Decimal("0.03"),
        margin_maint=Decimal("0.03"),
    )


AUDUSD = fx_pair("AUD/USD", AUD)
EURUSD = fx_pair("EUR/USD", EUR)


def usd(amount: str) -> Money:
    return Money.of(amount, USD)


def qty(units: int) -> Quantity:
    return Quantity.from_int(units)


def quote(instrument: CurrencyPair, bid: str, ask: str, i: int, size: int = 1_000_000) -> QuoteTick:
    return QuoteTick.of(instrument.id, Price.from_str(bid), Price.from_str(ask), qty(size), qty(size), T0 + i * SECOND)


Script = dict[int, Callable[["ScriptedStrategy"], None]]


class ScriptedStrategy(Strategy):
    """Runs `script[n](self)` on its n-th quote; records order and position events."""

    def __init__(
        self, instrument: CurrencyPair, script: Script, tag: str = "001", oms_type: OmsType | None = None
    ) -> None:
        super().__init__(StrategyConfig(order_id_tag=tag, oms_type=oms_type))
        self.instrument_id = instrument.id
        self.script = script
        self.quotes = 0
        self.order_events: list[OrderEvent] = []
        self.position_events: list[PositionEvent] = []
        self.orders: list[Order] = []
        self.notes: dict[str, object] = {}

    def on_start(self) -> None:
        self.subscribe_quote_ticks(self.instrument_id)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        action = self.script.get(self.quotes)
        self.quotes += 1
        if action is not None:
            action(self)

    def on_order_event(self, event: OrderEvent) -> None:
        self.order_events.append(event)

    def on_position_event(self, event: PositionEvent) -> None:
        self.position_events.append(event)

    # helpers for scripts
    def market(self, side: OrderSide, units: int, position_id: PositionId | None = None) -> Order:
        order = self.order_factory.market(self.instrument_id, side, qty(units))
        self.orders.append(order)
        self.submit_order(order, position_id=position_id)
        return order

    def limit(self, side: OrderSide, units: int, price: str) -> Order:
        order = self.order_factory.limit(self.instrument_id, side, qty(units), Price.from_str(price))
        self.orders.append(order)
        self.submit_order(order)
        return order

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.position_events]


def make_engine(oms: OmsType = OmsType.NETTING) -> BacktestEngine:
    engine = BacktestEngine()
    engine.add_venue("SIM", oms, AccountType.MARGIN, [usd("1000000")], base_currency=USD, default_leverage=Decimal(50))
    engine.add_instrument(AUDUSD)
    engine.add_instrument(EURUSD)
    return engine


def balance(engine: BacktestEngine) -> Money:
    return engine.cache.account_for_venue("SIM").balance_total(USD)


def all_cycles(engine: BacktestEngine) -> list[Position]:
    return engine.cache.positions() + engine.cache.position_snapshots()


# ---- NETTING ---------------------------------------------------------------------------------------------
def test_netting_one_position_per_instrument_and_strategy() -> None:
    engine = make_engine()
    a = ScriptedStrategy(
        AUDUSD,
        {0: lambda s: s.market(BUY, 100_000), 1: lambda s: s.market(BUY, 50_000), 2: lambda s: s.market(SELL, 30_000)},
        tag="001",
    )
    b = ScriptedStrategy(AUDUSD, {0: lambda s: s.market(SELL, 20_000)}, tag="002")
    c = ScriptedStrategy(EURUSD, {0: lambda s: s.market(BUY, 10_000)}, tag="003")
    for strategy in (a, b, c):
        engine.add_strategy(strategy)
    engine.add_data(
        [
            quote(AUDUSD, "1.00000", "1.00002", 0),
            quote(AUDUSD, "1.00010", "1.00012", 1),
            quote(AUDUSD, "1.00020", "1.00022", 2),
            quote(EURUSD, "1.10000", "1.10002", 0),
        ]
    )
    engine.run()

    pid_a = PositionId("AUD/USD.SIM-ScriptedStrategy-001")
    pid_b = PositionId("AUD/USD.SIM-ScriptedStrategy-002")
    pid_c = PositionId("EUR/USD.SIM-ScriptedStrategy-003")
    assert {p.id for p in engine.cache.positions()} == {pid_a, pid_b, pid_c}
    assert all(o.position_id == pid_a for o in a.orders)
    assert all(o.position_id == pid_b for o in b.orders)
    assert all(o.position_id == pid_c for o in c.orders)

    pos_a = engine.cache.position(pid_a)
    assert pos_a.strategy_id == StrategyId("ScriptedStrategy-001")
    assert pos_a.side is PositionSide.LONG
    assert pos_a.quantity == qty(120_000)
    # (100,000 x 1.00002 + 50,000 x 1.00012) / 150,000, exact
    assert pos_a.avg_px_open == (Decimal("100000") * Decimal("1.00002") + Decimal("50000") * Decimal("1.00012")) / (
        Decimal("150000")
    )
    assert a.kinds() == ["PositionOpened", "PositionChanged", "PositionChanged"]
    assert all(e.position_id == pid_a for e in a.position_events)
    assert engine.cache.position(pid_b).side is PositionSide.SHORT
    assert engine.cache.position(pid_c).side is PositionSide.LONG
    assert b.kinds() == ["PositionOpened"] and c.kinds() == ["PositionOpened"]


def test_netting_flip_sell_twice_the_size() -> None:
    engine = make_engine()
    strategy = ScriptedStrategy(AUDUSD, {0: lambda s: s.market(BUY, 100_000), 1: lambda s: s.market(SELL, 200_000)})
    engine.add_strategy(strategy)
    engine.add_data([quote(AUDUSD, "1.00000", "1.00001", 0), quote(AUDUSD, "1.00011", "1.00012", 1)])
    engine.run()

    pid = PositionId("AUD/USD.SIM-ScriptedStrategy-001")
    assert strategy.kinds() == ["PositionOpened", "PositionClosed", "PositionOpened"]
    opened, closed, reopened = strategy.position_events
    assert all(e.position_id == pid for e in strategy.position_events)

    assert opened.side is PositionSide.LONG and opened.quantity == qty(100_000)
    assert opened.realized_pnl == usd("-2.00")  # 100,000 x 1.00001 x 0.00002 = 2.00002 -> 2.00

    # the SELL 200,000 @ 1.00011 pays 4.00044 -> 4.00, split 2.00 / 2.00 between the two halves
    fills = [e for e in strategy.order_events if isinstance(e, OrderFilled)]
    assert [f.commission for f in fills] == [usd("2.00"), usd("4.00")]
    assert closed.side is PositionSide.FLAT
    assert closed.last_qty == qty(100_000) and closed.last_px == Price.from_str("1.00011")
    assert closed.avg_px_open == Decimal("1.00001") and closed.avg_px_close == Decimal("1.00011")
    # gross 100,000 x (1.00011 - 1.00001) = 10.00, minus 2.00 open and 2.00 close commission
    assert closed.realized_pnl == usd("6.00")
    assert reopened.side is PositionSide.SHORT and reopened.quantity == qty(100_000)
    assert reopened.last_qty == qty(100_000)
    assert reopened.avg_px_open == Decimal("1.00011")
    assert reopened.realized_pnl == usd("-2.00")

    snapshots = engine.cache.position_snapshots(pid)
    assert len(snapshots) == 1 and snapshots[0].realized_pnl == usd("6.00") and snapshots[0].is_closed
    current = engine.cache.position(pid)
    assert current.is_short and current.realized_pnl == usd("-2.00")
    assert balance(engine) == usd("1000004.00")  # 1,000,000 + 10 - 2 - 4
    assert sum((p.realized_pnl for p in all_cycles(engine)), usd("0")) == usd("4.00")


def test_netting_flip_spec_example_commission_split_pro_rata() -> None:
    # Spec §10 check 35: BUY 100k @ 1.00001, SELL 150k @ 1.00011 -> SHORT 50k, balance 1,000,005.00,
    # the 3.00 commission split 2.00 / 1.00.
    engine = make_engine()
    strategy = ScriptedStrategy(AUDUSD, {0: lambda s: s.market(BUY, 100_000), 1: lambda s: s.market(SELL, 150_000)})
    engine.add_strategy(strategy)
    engine.add_data([quote(AUDUSD, "1.00000", "1.00001", 0), quote(AUDUSD, "1.00011", "1.00012", 1)])
    engine.run()
    _, closed, reopened = strategy.position_events
    assert isinstance(closed, PositionClosed) and isinstance(reopened, PositionOpened)
    assert closed.realized_pnl == usd("6.00")  # 10.00 - 2.00 - 2.00
    assert reopened.realized_pnl == usd("-1.00")
    assert reopened.quantity == qty(50_000) and reopened.side is PositionSide.SHORT
    assert balance(engine) == usd("1000005.00")


# ---- HEDGING venue ---------------------------------------------------------------------------------------
def test_hedging_venue_position_per_entry_and_close_position_closes_one() -> None:
    engine = make_engine(OmsType.HEDGING)

    def close_first(s: ScriptedStrategy) -> None:
        s.notes["open_before"] = [p.id for p in s.cache.positions_open(strategy_id=s.strategy_id)]
        s.close_position(s.cache.position(PositionId("SIM-1-001")))

    strategy = ScriptedStrategy(AUDUSD, {0: lambda s: (s.market(BUY, 100_000), s.market(BUY, 50_000)), 1: close_first})
    engine.add_strategy(strategy)
    engine.add_data([quote(AUDUSD, "1.00000", "1.00002", 0), quote(AUDUSD, "1.00012", "1.00014", 1)])
    engine.run()

    first, second = PositionId("SIM-1-001"), PositionId("SIM-1-002")
    assert strategy.notes["open_before"] == [first, second]
    assert [o.position_id for o in strategy.orders[:2]] == [first, second]
    fills = [e for e in strategy.order_events if isinstance(e, OrderFilled)]
    assert [f.position_id for f in fills] == [first, second, first]

    closing = engine.cache.orders(strategy_id=strategy.strategy_id)[2]
    assert closing.side is SELL and closing.reduce_only and closing.quantity == qty(100_000)
    assert closing.position_id == first
    pos1, pos2 = engine.cache.position(first), engine.cache.position(second)
    assert pos1.is_closed and pos1.closing_order_id == closing.client_order_id
    # gross 100,000 x (1.00012 - 1.00002) = 10.00; commissions 100,000 x 1.00002 x 0.00002 = 2.00 and
    # 100,000 x 1.00012 x 0.00002 = 2.00
    assert pos1.realized_pnl == usd("6.00")
    assert pos2.is_open and pos2.quantity == qty(50_000) and pos2.side is PositionSide.LONG
    assert engine.cache.positions_open() == [pos2]
    assert engine.cache.positions_closed() == [pos1]
    assert [(type(e).__name__, e.position_id) for e in strategy.position_events] == [
        ("PositionOpened", first),
        ("PositionOpened", second),
        ("PositionClosed", first),
    ]


def test_hedging_venue_close_position_of_the_second_leaves_the_first() -> None:
    engine = make_engine(OmsType.HEDGING)
    strategy = ScriptedStrategy(
        AUDUSD,
        {
            0: lambda s: (s.market(SELL, 70_000), s.market(SELL, 30_000)),
            1: lambda s: s.close_position(s.cache.position(PositionId("SIM-1-002"))),
        },
    )
    engine.add_strategy(strategy)
    engine.add_data([quote(AUDUSD, "1.00000", "1.00002", 0), quote(AUDUSD, "1.00012", "1.00014", 1)])
    engine.run()
    first, second = engine.cache.position(PositionId("SIM-1-001")), engine.cache.position(PositionId("SIM-1-002"))
    assert first.is_open and first.is_short and first.quantity == qty(70_000)
    assert second.is_closed
    closing = engine.cache.orders(strategy_id=strategy.strategy_id)[2]
    assert closing.side is BUY and closing.quantity == qty(30_000) and closing.position_id == second.id


# ---- strategy-level HEDGING on a NETTING venue -----------------------------------------------------------
VIRTUAL_ID = re.compile(r"^P-20231114-221320-001-001-(\d+)$")


def test_strategy_hedging_on_netting_venue_gets_virtual_position_ids() -> None:
    engine = make_engine(OmsType.NETTING)
    strategy = ScriptedStrategy(
        AUDUSD, {0: lambda s: (s.market(BUY, 100_000), s.market(BUY, 50_000))}, oms_type=OmsType.HEDGING
    )
    engine.add_strategy(strategy)
    engine.add_data([quote(AUDUSD, "1.00000", "1.00002", 0)])
    engine.run()
    ids = [p.id for p in engine.cache.positions()]
    assert len(ids) == 2
    assert [VIRTUAL_ID.match(str(pid)).group(1) for pid in ids] == ["1", "2"]  # type: ignore[union-attr]
    assert [o.position_id for o in strategy.orders] == ids
    assert [p.quantity for p in engine.cache.positions()] == [qty(100_000), qty(50_000)]


def test_strategy_hedging_close_position_closes_that_virtual_position() -> None:
    engine = make_engine(OmsType.NETTING)

    def close_first(s: ScriptedStrategy) -> None:
        s.close_position(s.cache.positions_open(strategy_id=s.strategy_id)[0])

    strategy = ScriptedStrategy(
        AUDUSD, {0: lambda s: (s.market(BUY, 100_000), s.market(BUY, 50_000)), 1: close_first}, oms_type=OmsType.HEDGING
    )
    engine.add_strategy(strategy)
    engine.add_data([quote(AUDUSD, "1.00000", "1.00002", 0), quote(AUDUSD, "1.00012", "1.00014", 1)])
    engine.run()
    first, second = engine.cache.positions()
    assert len(engine.cache.positions()) == 2  # no third position opened by the closing order
    assert VIRTUAL_ID.match(str(first.id)) and VIRTUAL_ID.match(str(second.id))
    assert first.is_closed and first.realized_pnl == usd("6.00")
    assert second.is_open and second.quantity == qty(50_000)
    closing = engine.cache.orders(strategy_id=strategy.strategy_id)[2]
    assert closing.position_id == first.id
    assert [(type(e).__name__, e.position_id) for e in strategy.position_events] == [
        ("PositionOpened", first.id),
        ("PositionOpened", second.id),
        ("PositionClosed", first.id),
    ]


def test_netting_strategy_next_to_hedging_strategy_keeps_its_netting_id() -> None:
    engine = make_engine(OmsType.NETTING)
    hedger = ScriptedStrategy(AUDUSD, {0: lambda s: s.market(BUY, 10_000)}, tag="001", oms_type=OmsType.HEDGING)
    netter = ScriptedStrategy(AUDUSD, {0: lambda s: (s.market(BUY, 10_000), s.market(BUY, 5_000))}, tag="002")
    engine.add_strategy(hedger)
    engine.add_strategy(netter)
    engine.add_data([quote(AUDUSD, "1.00000", "1.00002", 0)])
    engine.run()
    assert VIRTUAL_ID.match(str(hedger.orders[0].position_id))
    netting_id = PositionId("AUD/USD.SIM-ScriptedStrategy-002")
    assert [o.position_id for o in netter.orders] == [netting_id, netting_id]
    assert engine.cache.position(netting_id).quantity == qty(15_000)


# ---- cancel_all_orders and modify_order ------------------------------------------------------------------
def resting_orders(s: ScriptedStrategy) -> None:
    s.limit(BUY, 10_000, "0.99990")
    s.limit(BUY, 20_000, "0.99980")
    s.limit(SELL, 30_000, "1.00020")


def test_cancel_all_orders() -> None:
    engine = make_engine()
    strategy = ScriptedStrategy(AUDUSD, {0: resting_orders, 1: lambda s: s.cancel_all_orders(AUDUSD.id)})
    other = ScriptedStrategy(AUDUSD, {0: lambda s: s.limit(BUY, 10_000, "0.99990")}, tag="002")
    engine.add_strategy(strategy)
    engine.add_strategy(other)
    engine.add_data([quote(AUDUSD, "1.00000", "1.00002", i) for i in range(3)])
    engine.run()
    assert [o.status for o in strategy.orders] == [OrderStatus.CANCELED] * 3
    kinds = [type(e) for e in strategy.order_events]
    assert kinds[-6:] == [OrderPendingCancel] * 3 + [OrderCanceled] * 3
    assert other.orders[0].status is OrderStatus.ACCEPTED  # another strategy's order is untouched
    assert engine.cache.orders_open() == other.orders


def test_cancel_all_orders_of_one_side() -> None:
    engine = make_engine()
    strategy = ScriptedStrategy(AUDUSD, {0: resting_orders, 1: lambda s: s.cancel_all_orders(AUDUSD.id, BUY)})
    engine.add_strategy(strategy)
    engine.add_data([quote(AUDUSD, "1.00000", "1.00002", i) for i in range(3)])
    engine.run()
    assert [o.status for o in strategy.orders] == [OrderStatus.CANCELED, OrderStatus.CANCELED, OrderStatus.ACCEPTED]
    assert engine.cache.orders_open(strategy_id=strategy.strategy_id) == [strategy.orders[2]]


def test_modify_resting_limit_then_it_fills_at_the_new_price() -> None:
    engine = make_engine()

    def modify(s: ScriptedStrategy) -> None:
        s.modify_order(s.orders[0], quantity=qty(150_000), price=Price.from_str("0.99985"))
        s.notes["status_after_modify"] = s.orders[0].status

    strategy = ScriptedStrategy(AUDUSD, {0: lambda s: s.limit(BUY, 100_000, "0.99990"), 1: modify})
    engine.add_strategy(strategy)
    engine.add_data(
        [
            quote(AUDUSD, "1.00000", "1.00002", 0),
            quote(AUDUSD, "1.00000", "1.00002", 1),
            quote(AUDUSD, "0.99986", "0.99988", 2),  # through the old price 0.99990, not the new one
            quote(AUDUSD, "0.99980", "0.99984", 3),  # through the new price
        ]
    )
    engine.run()
    order = strategy.orders[0]
    assert strategy.notes["status_after_modify"] is OrderStatus.PENDING_UPDATE
    kinds = [type(e) for e in strategy.order_events]
    at = kinds.index(OrderPendingUpdate)
    assert kinds[at : at + 2] == [OrderPendingUpdate, OrderUpdated]
    updated = strategy.order_events[at + 1]
    assert isinstance(updated, OrderUpdated)
    assert updated.quantity == qty(150_000) and updated.price == Price.from_str("0.99985")
    assert order.status is OrderStatus.FILLED
    assert order.quantity == qty(150_000) and order.price == Price.from_str("0.99985")
    fills = [e for e in strategy.order_events if isinstance(e, OrderFilled)]
    assert [(f.last_qty, f.last_px, f.ts_event) for f in fills] == [
        (qty(150_000), Price.from_str("0.99985"), T0 + 3 * SECOND)
    ]


# ---- cache indexes ---------------------------------------------------------------------------------------
def test_cache_order_and_position_indexes() -> None:
    engine = make_engine()
    cache = engine.cache

    def a0(s: ScriptedStrategy) -> None:
        market = s.market(BUY, 100_000)
        s.notes["inflight_after_submit"] = cache.orders_inflight(strategy_id=s.strategy_id)
        s.notes["status_after_submit"] = market.status
        s.limit(BUY, 10_000, "0.99990")
        s.limit(BUY, 10_000, "0.99980")

    def a1(s: ScriptedStrategy) -> None:
        s.notes["open_at_1"] = cache.orders_open(strategy_id=s.strategy_id)
        s.notes["inflight_at_1"] = cache.orders_inflight()
        s.cancel_order(s.orders[2])
        s.notes["inflight_after_cancel"] = cache.orders_inflight(instrument_id=AUDUSD.id)
        s.notes["open_after_cancel"] = cache.orders_open(instrument_id=AUDUSD.id)
        s.market(SELL, 100_000)

    a = ScriptedStrategy(AUDUSD, {0: a0, 1: a1}, tag="001")
    b = ScriptedStrategy(EURUSD, {0: lambda s: (s.limit(SELL, 10_000, "1.10020"), s.market(SELL, 10_000))}, tag="002")
    engine.add_strategy(a)
    engine.add_strategy(b)
    engine.add_data(
        [
            quote(AUDUSD, "1.00000", "1.00002", 0),
            quote(EURUSD, "1.10000", "1.10002", 0),
            quote(AUDUSD, "1.00000", "1.00002", 1),
            quote(EURUSD, "1.10000", "1.10002", 1),
        ]
    )
    engine.run()
    a_market, a_limit, a_canceled, a_close = a.orders
    b_limit, b_market = b.orders

    # during the run
    assert a.notes["status_after_submit"] is OrderStatus.SUBMITTED
    assert a.notes["inflight_after_submit"] == [a_market]
    assert a.notes["open_at_1"] == [a_limit, a_canceled]
    assert a.notes["inflight_at_1"] == []
    assert a.notes["inflight_after_cancel"] == [a_canceled]  # PENDING_CANCEL is in flight...
    assert a.notes["open_after_cancel"] == [a_limit, a_canceled]  # ...and still open

    # after the run
    assert cache.orders() == [a_market, a_limit, a_canceled, b_limit, b_market, a_close]
    assert cache.orders_open() == [a_limit, b_limit]
    assert cache.orders_open(strategy_id=a.strategy_id) == [a_limit]
    assert cache.orders_open(strategy_id=b.strategy_id) == [b_limit]
    assert cache.orders_open(instrument_id=EURUSD.id) == [b_limit]
    assert cache.orders_open(venue="SIM") == [a_limit, b_limit]
    assert cache.orders_open(venue="OTHER") == []
    assert cache.orders_open(side=SELL) == [b_limit]
    assert cache.orders_open_count() == 2
    assert cache.orders_closed() == [a_market, a_canceled, b_market, a_close]
    assert cache.orders_closed(strategy_id=a.strategy_id, instrument_id=AUDUSD.id) == [a_market, a_canceled, a_close]
    assert cache.orders_closed(instrument_id=EURUSD.id) == [b_market]
    assert cache.orders_closed(venue="SIM", side=BUY) == [a_market, a_canceled]
    assert cache.orders_inflight() == []
    assert [o.status for o in (a_market, a_canceled, a_close, b_market)] == [
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.FILLED,
        OrderStatus.FILLED,
    ]

    pos_a = cache.position(PositionId("AUD/USD.SIM-ScriptedStrategy-001"))
    pos_b = cache.position(PositionId("EUR/USD.SIM-ScriptedStrategy-002"))
    assert cache.positions() == [pos_a, pos_b]
    assert cache.positions_open() == [pos_b]
    assert cache.positions_closed() == [pos_a]
    assert cache.positions_open(strategy_id=a.strategy_id) == []
    assert cache.positions_closed(strategy_id=a.strategy_id) == [pos_a]
    assert cache.positions_open(instrument_id=EURUSD.id) == [pos_b]
    assert cache.positions_open(venue="SIM", side=PositionSide.SHORT) == [pos_b]
    assert cache.positions_open(side=PositionSide.LONG) == []
    assert cache.positions_open_count() == 1
    assert cache.is_flat(strategy_id=a.strategy_id) and not cache.is_flat(instrument_id=EURUSD.id)
    assert cache.position_for_order(a_close.client_order_id) is pos_a
    assert cache.position_id_for_order(b_market.client_order_id) == pos_b.id
    assert [type(e) for e in a.position_events] == [PositionOpened, PositionClosed]
    assert not any(isinstance(e, PositionChanged) for e in b.position_events)
