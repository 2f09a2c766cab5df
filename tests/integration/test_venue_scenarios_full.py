"""Scenario checks of the venue spec (§10 and the worked examples of §3) for the order types, books and
contingencies beyond the four basic order types: market-to-limit, if-touched and trailing orders, brackets
(OTO into OUO/OCO, PARTIAL and FULL release), L2 books (level walks, post-only, ghost liquidity), trade
execution with the fill model, two-unit bars, liquidity consumption, queue position and price protection.

Each test builds a real `BacktestEngine` on the spec's venue (or the one the check names), feeds hand-built
data and lets a scenario strategy submit orders at given data points. Test names carry the check number.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.integration.test_venue_scenarios import (
    AAPL,
    BUY,
    MAKER,
    MIN,
    SEC,
    SELL,
    T0,
    TAKER,
    USD,
    USDJPY,
    Scenario,
    ScenarioStrategy,
    bar,
    fill_prices,
    fx_pair,
    liquidity,
    p,
    q,
    quote,
    trade,
)
from toolkit.backtest.engine import BacktestEngine
from toolkit.backtest.matching import MatchingConfig
from toolkit.backtest.models import FillModel, LatencyModel
from toolkit.model.data import FLAG_LAST, FLAG_SNAPSHOT, OrderBookDelta, QuoteTick
from toolkit.model.enums import (
    AccountType,
    AggressorSide,
    BookAction,
    BookType,
    ContingencyType,
    OmsType,
    OrderSide,
    OrderStatus,
    TrailingOffsetType,
    TriggerMode,
)
from toolkit.model.events import Event, OrderRejected, OrderUpdated
from toolkit.model.identifiers import InstrumentId
from toolkit.model.instruments import CryptoPerpetual, Instrument
from toolkit.model.objects import Currency, Money, Price, Quantity
from toolkit.model.orders import Order

USDT = Currency.from_str("USDT")
ETH = Currency.from_str("ETH")
EURUSD = fx_pair("EUR/USD", 5)
ETHUSDT = CryptoPerpetual(
    id=InstrumentId("ETHUSDT-PERP.SIM"),
    base_currency=ETH,
    quote_currency=USDT,
    settlement_currency=USDT,
    is_inverse=False,
    price_precision=1,
    size_precision=1,
    price_increment=Price.from_str("0.1"),
    size_increment=Quantity.from_str("0.1"),
    maker_fee=Decimal("0.0002"),
    taker_fee=Decimal("0.0004"),
    margin_init=Decimal("0.01"),
    margin_maint=Decimal("0.005"),
)
LAST_1M = "USD/JPY.SIM-1-MINUTE-LAST-EXTERNAL"


class BookStrategy(ScenarioStrategy):
    """The scenario strategy plus book deltas: `on_delta` maps the 0-based index of a delta to an action."""

    def __init__(self, instrument: Instrument, *, on_delta: dict[int, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(instrument, **kwargs)
        self._delta_actions = on_delta or {}
        self.deltas = 0

    def on_start(self) -> None:
        self.subscribe_order_book_deltas(self.iid)
        super().on_start()

    def on_order_book_delta(self, delta: OrderBookDelta) -> None:
        action = self._delta_actions.get(self.deltas)
        self.deltas += 1
        if action is not None:
            action(self)

    def send(self, order: Order, position_id: Any = None) -> Order:
        self.orders.append(order)
        self.submit_order(order, position_id=position_id)
        return order

    def send_list(self, order_list: Any) -> list[Order]:
        self.orders.extend(order_list.orders)
        self.submit_order_list(order_list)
        return list(order_list.orders)


def run_venue(
    data: list[Any],
    *,
    instrument: Instrument = USDJPY,
    oms_type: OmsType = OmsType.HEDGING,
    book_type: BookType = BookType.L1_MBP,
    matching: MatchingConfig | None = None,
    fill_model: FillModel | None = None,
    latency_model: LatencyModel | None = None,
    balance: Money | None = None,
    **strategy_kwargs: Any,
) -> Scenario:
    engine = BacktestEngine()
    start = balance or Money.of(1_000_000, USD)
    exchange = engine.add_venue(
        instrument.id.venue,
        oms_type,
        AccountType.MARGIN,
        [start],
        base_currency=start.currency,
        default_leverage=Decimal(50),
        fill_model=fill_model,
        latency_model=latency_model,
        book_type=book_type,
        matching=matching,
    )
    venue_events: list[Event] = []
    forward = engine.kernel.exec_engine.process

    def tee(event: Event) -> None:
        venue_events.append(event)
        forward(event)  # type: ignore[arg-type]

    exchange.register_event_handler(tee)
    engine.add_instrument(instrument)
    engine.add_data(data)
    strategy = BookStrategy(instrument, **strategy_kwargs)
    engine.add_strategy(strategy)
    engine.run()
    return Scenario(engine, strategy, venue_events)


def delta(
    action: BookAction,
    side: OrderSide,
    price: str,
    size: int,
    ts: int,
    flags: int = FLAG_LAST,
    instrument: Instrument = USDJPY,
) -> OrderBookDelta:
    return OrderBookDelta(
        instrument.id,
        action,
        side,
        instrument.make_price(price).raw,
        instrument.make_qty(size).raw,
        0,
        flags,
        0,
        instrument.price_precision,
        instrument.size_precision,
        ts,
        ts,
    )


def snapshot(
    bids: list[tuple[str, int]], asks: list[tuple[str, int]], ts: int, instrument: Instrument = USDJPY
) -> list[OrderBookDelta]:
    """CLEAR then ADDs, all flagged as a snapshot, FLAG_LAST on the last one."""
    rows = [OrderBookDelta.clear(instrument.id, 0, ts)]
    levels = [(OrderSide.BUY, px, sz) for px, sz in bids] + [(OrderSide.SELL, px, sz) for px, sz in asks]
    for i, (side, px, sz) in enumerate(levels):
        flags = FLAG_SNAPSHOT | (FLAG_LAST if i == len(levels) - 1 else 0)
        rows.append(delta(BookAction.ADD, side, px, sz, ts, flags, instrument))
    return rows


def l2_book(base: int, ts: int) -> list[OrderBookDelta]:
    """§10 checks 44-46: bids 100/99/98 and asks 101/102/103, sizes base x (1, 2, 3)."""
    return snapshot(
        [("100.000", base), ("99.000", 2 * base), ("98.000", 3 * base)],
        [("101.000", base), ("102.000", 2 * base), ("103.000", 3 * base)],
        ts,
    )


def qty_of(order: Order) -> int:
    return int(order.quantity.as_decimal())


def leaves_of(order: Order) -> int:
    return int(order.leaves_qty.as_decimal())


# ---- market-to-limit (checks 17-18) ---------------------------------------------------------------------


def test_check_17_market_to_limit_fills_the_top_then_rests_as_a_limit_at_that_price() -> None:
    def submit(s: BookStrategy) -> None:
        s.send(s.order_factory.market_to_limit(s.iid, BUY, q(2_000_000)))

    data = [quote("90.002", "90.005", T0, ask_size=1_000_000)]
    run = run_venue(data, on_quote={0: submit})
    order = run.strategy.orders[0]
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.filled_qty == q(1_000_000)
    assert order.price == p("90.005")
    assert fill_prices(run.strategy.fills(order)) == [(1_000_000, "90.005")]
    assert liquidity(run.strategy.fills(order)) == [TAKER]
    assert len(run.engine.cache.orders_open()) == 1


def test_check_17_market_to_limit_remainder_fills_on_the_next_identical_quote() -> None:
    def submit(s: BookStrategy) -> None:
        s.send(s.order_factory.market_to_limit(s.iid, BUY, q(2_000_000)))

    data = [quote("90.002", "90.005", T0 + i * SEC, ask_size=1_000_000) for i in range(2)]
    run = run_venue(data, on_quote={0: submit})
    order = run.strategy.orders[0]
    assert order.status is OrderStatus.FILLED
    assert order.filled_qty == q(2_000_000)
    assert fill_prices(run.strategy.fills(order)) == [(1_000_000, "90.005"), (1_000_000, "90.005")]


def test_check_18_modify_market_to_limit_after_its_first_fill() -> None:
    def submit(s: BookStrategy) -> None:
        s.send(s.order_factory.market_to_limit(s.iid, BUY, q(2_000_000)))

    def modify(s: BookStrategy) -> None:
        s.modify_order(s.orders[0], quantity=q(1_500_000), price=p("90.000"))

    data = [quote("90.002", "90.005", T0, ask_size=1_000_000), quote("90.002", "90.005", T0 + SEC, ask_size=0)]
    run = run_venue(data, on_quote={0: submit, 1: modify})
    order = run.strategy.orders[0]
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.quantity == q(1_500_000)
    assert leaves_of(order) == 500_000
    assert order.price == p("90.000")


# ---- if-touched orders (check 30) and trailing stops (§3.7) --------------------------------------------


def test_check_30_market_if_touched_on_a_bar_fills_at_its_trigger() -> None:
    def submit(s: BookStrategy) -> None:
        s.send(s.order_factory.market_if_touched(s.iid, BUY, q(1_000), p("95.000")))

    data = [
        bar(LAST_1M, "99.000", "99.000", "99.000", "99.000", 4_000, T0 + MIN),
        bar(LAST_1M, "100.000", "105.000", "90.000", "92.000", 4_000, T0 + 2 * MIN),
    ]
    run = run_venue(data, bar_types=(LAST_1M,), on_bar={0: submit})
    order = run.strategy.orders[0]
    assert order.status is OrderStatus.FILLED
    assert fill_prices(run.strategy.fills(order)) == [(1_000, "95.000")]
    assert liquidity(run.strategy.fills(order)) == [TAKER]


def test_market_if_touched_already_touched_on_arrival_is_rejected() -> None:
    def submit(s: BookStrategy) -> None:
        s.send(s.order_factory.market_if_touched(s.iid, BUY, q(1_000), p("90.010")))

    run = run_venue([quote("90.002", "90.005", T0)], on_quote={0: submit})
    assert run.strategy.orders[0].status is OrderStatus.REJECTED


def test_limit_if_touched_triggers_on_touch_then_rests_as_its_limit() -> None:
    def submit(s: BookStrategy) -> None:
        s.send(s.order_factory.limit_if_touched(s.iid, SELL, q(10_000), p("90.020"), p("90.015")))

    data = [
        quote("90.002", "90.005", T0),
        quote("90.015", "90.018", T0 + SEC),  # bid touches 90.015: triggered; limit 90.020 not marketable
        quote("90.020", "90.023", T0 + 2 * SEC),  # bid reaches the limit: MAKER fill at 90.020
    ]
    run = run_venue(data, on_quote={0: submit})
    order = run.strategy.orders[0]
    assert run.strategy.names(order) == ["Submitted", "Accepted", "Triggered", "Filled"]
    assert fill_prices(run.strategy.fills(order)) == [(10_000, "90.020")]
    assert liquidity(run.strategy.fills(order)) == [MAKER]


def test_trailing_stop_market_order_trail_activate_and_sell() -> None:
    """§3.7: SELL TSM, activation 15.000, offset 1.0, BID_ASK; bids 13, 15.5, 16.5, 16.0, 15.0."""

    def submit(s: BookStrategy) -> None:
        order = s.order_factory.trailing_stop_market(
            s.iid, SELL, q(10_000), trailing_offset=Decimal("1.0"), activation_price=p("15.000")
        )
        s.send(order)

    bids = ["13.000", "15.500", "16.500", "16.000", "15.000"]
    data = [quote(b, str(Decimal(b) + 1), T0 + i * SEC) for i, b in enumerate(bids)]
    triggers: list[str | None] = []

    def record(s: BookStrategy) -> None:
        triggers.append(None if s.orders[0].trigger_price is None else str(s.orders[0].trigger_price))

    run = run_venue(data, on_quote={0: submit, 1: record, 2: record, 3: record})
    order = run.strategy.orders[0]
    assert triggers == ["14.500", "15.500", "15.500"]
    assert order.status is OrderStatus.FILLED
    assert fill_prices(run.strategy.fills(order)) == [(10_000, "15.000")]
    assert liquidity(run.strategy.fills(order)) == [TAKER]


def test_trailing_stops_without_activation_price_activate_at_the_market() -> None:
    """§3.7: on quote 13/14 with offset 1.0, a BUY activates at 14 (trigger 15), a SELL at 13 (trigger 12)."""

    def submit(s: BookStrategy) -> None:
        for side in (BUY, SELL):
            s.send(s.order_factory.trailing_stop_market(s.iid, side, q(1_000), trailing_offset=Decimal("1.0")))

    run = run_venue([quote("13.000", "14.000", T0)], on_quote={0: submit})
    buy, sell = run.strategy.orders
    assert (buy.status, sell.status) == (OrderStatus.ACCEPTED, OrderStatus.ACCEPTED)
    assert buy.trigger_price == p("15.000")
    assert sell.trigger_price == p("12.000")


def test_trailing_stop_limit_trails_trigger_and_limit_in_ticks_and_basis_points() -> None:
    def submit(s: BookStrategy) -> None:
        ticks = s.order_factory.trailing_stop_limit(
            s.iid,
            SELL,
            q(1_000),
            trailing_offset=Decimal(50),
            limit_offset=Decimal(60),
            trailing_offset_type=TrailingOffsetType.TICKS,
        )
        bps = s.order_factory.trailing_stop_market(
            s.iid, SELL, q(1_000), trailing_offset=Decimal(25), trailing_offset_type=TrailingOffsetType.BASIS_POINTS
        )
        s.send(ticks)
        s.send(bps)

    data = [quote("100.000", "100.010", T0), quote("100.200", "100.210", T0 + SEC)]
    run = run_venue(data, on_quote={0: submit})
    ticks, bps = run.strategy.orders
    # 50 ticks of 0.001 below the bid 100.200; limit 60 ticks below.
    assert (ticks.trigger_price, ticks.price) == (p("100.150"), p("100.140"))
    # 25 bp of 100.200 = 0.2505, rounded up to a whole tick: 0.251.
    assert bps.trigger_price == p("99.949")


# ---- brackets and contingencies (checks 41-43) -------------------------------------------------------------


def eth_quote(bid: str, ask: str, ts: int, bid_size: str = "15.1", ask_size: str = "15.1") -> QuoteTick:
    mk, mq = ETHUSDT.make_price, ETHUSDT.make_qty
    return QuoteTick.of(ETHUSDT.id, mk(bid), mk(ask), mq(Decimal(bid_size)), mq(Decimal(ask_size)), ts)


def eth_bracket(s: BookStrategy, entry_price: str | None = None) -> list[Order]:
    order_list = s.order_factory.bracket(
        s.iid,
        BUY,
        Quantity.from_str("10.0"),
        sl_trigger_price=p("3050.0"),
        tp_price=p("3150.0"),
        entry_price=None if entry_price is None else p(entry_price),
    )
    return s.send_list(order_list)


def run_eth(data: list[Any], **kwargs: Any) -> Scenario:
    return run_venue(data, instrument=ETHUSDT, oms_type=OmsType.NETTING, balance=Money.of(1_000_000, USDT), **kwargs)


def test_check_41_partial_fill_bracket_tp_updates_sl_order() -> None:
    data = [eth_quote("3090.2", "3090.5", T0), eth_quote("3150.0", "3151.0", T0 + SEC, bid_size="5.0")]
    run = run_eth(data, on_quote={0: eth_bracket})
    entry, sl, tp = run.strategy.orders
    assert entry.status is OrderStatus.FILLED
    assert tp.status is OrderStatus.PARTIALLY_FILLED
    assert (str(tp.quantity), str(tp.leaves_qty)) == ("10.0", "5.0")
    assert str(sl.quantity) == "5.0"
    assert sl.status is OrderStatus.ACCEPTED


def test_check_41_modifying_the_sl_quantity_updates_the_tp() -> None:
    def modify(s: BookStrategy) -> None:
        s.modify_order(s.orders[1], quantity=Quantity.from_str("5.0"))

    data = [eth_quote("3090.2", "3090.5", T0 + i * SEC) for i in range(2)]
    run = run_eth(data, on_quote={0: eth_bracket, 1: modify})
    _, sl, tp = run.strategy.orders
    assert (str(sl.quantity), str(tp.quantity)) == ("5.0", "5.0")


def test_check_41_closing_the_position_cancels_both_exits() -> None:
    def close(s: BookStrategy) -> None:
        s.send(s.order_factory.market(s.iid, SELL, Quantity.from_str("10.0"), reduce_only=True))

    data = [eth_quote("3090.2", "3090.5", T0 + i * SEC) for i in range(2)]
    run = run_eth(data, on_quote={0: eth_bracket, 1: close})
    _, sl, tp = run.strategy.orders[:3]
    assert (sl.status, tp.status) == (OrderStatus.CANCELED, OrderStatus.CANCELED)


def test_check_41_an_external_partial_reduction_resizes_both_exits() -> None:
    def reduce(s: BookStrategy) -> None:
        s.send(s.order_factory.market(s.iid, SELL, Quantity.from_str("5.0")))

    data = [eth_quote("3090.2", "3090.5", T0 + i * SEC) for i in range(2)]
    run = run_eth(data, on_quote={0: eth_bracket, 1: reduce})
    _, sl, tp = run.strategy.orders[:3]
    assert (str(sl.quantity), str(tp.quantity)) == ("5.0", "5.0")
    assert (sl.status, tp.status) == (OrderStatus.ACCEPTED, OrderStatus.ACCEPTED)


def test_check_42_full_trigger_mode_holds_children_until_the_entry_is_filled() -> None:
    states: list[tuple[OrderStatus, OrderStatus, OrderStatus]] = []

    def record(s: BookStrategy) -> None:
        entry, sl, tp = s.orders
        states.append((entry.status, sl.status, tp.status))

    data = [
        eth_quote("3090.2", "3090.5", T0, ask_size="5.0"),
        eth_quote("3090.2", "3091.0", T0 + SEC),
        eth_quote("3090.2", "3090.5", T0 + 2 * SEC, ask_size="10.0"),
    ]
    run = run_eth(
        data,
        matching=MatchingConfig(oto_trigger_mode=TriggerMode.FULL),
        on_quote={0: lambda s: eth_bracket(s, entry_price="3090.5"), 1: record},
    )
    assert states == [(OrderStatus.PARTIALLY_FILLED, OrderStatus.SUBMITTED, OrderStatus.SUBMITTED)]
    entry, sl, tp = run.strategy.orders
    assert entry.status is OrderStatus.FILLED
    assert (sl.status, tp.status) == (OrderStatus.ACCEPTED, OrderStatus.ACCEPTED)
    assert (str(sl.quantity), str(tp.quantity)) == ("10.0", "10.0")


def test_check_43_partial_fills_update_child_orders_independently() -> None:
    sizes: list[list[int]] = []

    def submit(s: BookStrategy) -> None:
        for qty in (100_000, 200_000):
            order_list = s.order_factory.bracket(
                s.iid, BUY, q(qty), sl_trigger_price=p("1.09000"), tp_price=p("1.11000"), entry_price=p("1.10000")
            )
            s.send_list(order_list)

    def record(s: BookStrategy) -> None:
        sizes.append([qty_of(o) for o in s.orders if o.parent_order_id is not None])

    def mk(ask_size: int, ts: int) -> QuoteTick:
        return quote("1.09990", "1.10000", ts, ask_size=ask_size, instrument=EURUSD)

    away = [quote("1.09990", "1.10010", T0 + i * SEC, instrument=EURUSD) for i in (0, 2)]
    # Sent with the market away; ask 1.10000 x 50k fills each entry 50k (the same displayed size, no
    # consumption); the market moves away; then ask x 250k fills both entries.
    data = [away[0], mk(50_000, T0 + SEC), away[1], mk(250_000, T0 + 3 * SEC)]
    run = run_venue(data, instrument=EURUSD, on_quote={0: submit, 2: record})
    assert sizes == [[50_000, 50_000, 50_000, 50_000]]
    entries = [o for o in run.strategy.orders if o.parent_order_id is None]
    assert [o.status for o in entries] == [OrderStatus.FILLED, OrderStatus.FILLED]
    children = [qty_of(o) for o in run.strategy.orders if o.parent_order_id is not None]
    assert children == [100_000, 100_000, 200_000, 200_000]


def test_bracket_child_of_a_rejected_entry_is_rejected() -> None:
    def submit(s: BookStrategy) -> None:
        order_list = s.order_factory.bracket(
            s.iid,
            BUY,
            q(1_000),
            sl_trigger_price=p("89.000"),
            tp_price=p("91.000"),
            entry_price=p("90.005"),
            entry_post_only=True,
        )
        s.send_list(order_list)

    run = run_venue([quote("90.002", "90.005", T0)], on_quote={0: submit})
    entry, sl, tp = run.strategy.orders
    assert entry.status is OrderStatus.REJECTED
    assert (sl.status, tp.status) == (OrderStatus.REJECTED, OrderStatus.REJECTED)
    reasons = [e.reason for e in run.venue_events if isinstance(e, OrderRejected)]
    assert reasons[1:] == [f"REJECT OTO from {entry.client_order_id}"] * 2


def test_canceling_a_working_entry_cancels_its_held_children() -> None:
    def submit(s: BookStrategy) -> None:
        order_list = s.order_factory.bracket(
            s.iid, BUY, q(1_000), sl_trigger_price=p("89.000"), tp_price=p("91.000"), entry_price=p("89.500")
        )
        s.send_list(order_list)

    def cancel(s: BookStrategy) -> None:
        s.cancel_order(s.orders[0])

    data = [quote("90.002", "90.005", T0), quote("90.002", "90.005", T0 + SEC)]
    run = run_venue(data, on_quote={0: submit, 1: cancel})
    assert [o.status for o in run.strategy.orders] == [OrderStatus.CANCELED] * 3


def test_oco_fill_of_one_cancels_the_other() -> None:
    def submit(s: BookStrategy) -> None:
        f = s.order_factory
        a = f.limit(s.iid, BUY, q(1_000), p("90.000"))
        b = f.limit(s.iid, BUY, q(1_000), p("89.990"))
        for order, other in ((a, b), (b, a)):
            order.contingency_type = ContingencyType.OCO
            order.linked_order_ids = (other.client_order_id,)
        s.send(a)
        s.send(b)

    data = [quote("90.002", "90.005", T0), quote("89.995", "90.000", T0 + SEC, ask_size=400)]
    run = run_venue(data, on_quote={0: submit})
    a, b = run.strategy.orders
    assert a.status is OrderStatus.PARTIALLY_FILLED
    assert b.status is OrderStatus.CANCELED


def test_same_bar_tp_and_sl_fixed_ordering_fills_the_tp_and_adaptive_the_sl() -> None:
    """§7: long entry 1.00100, SL 1.00000, TP 1.00200; bar O 1.00100 H 1.00300 L 0.99900."""
    pair = fx_pair("EUR/USD", 5)
    bar_type = "EUR/USD.SIM-1-MINUTE-LAST-EXTERNAL"
    outcomes = {}
    for adaptive in (False, True):

        def submit(s: BookStrategy) -> None:
            order_list = s.order_factory.bracket(
                s.iid, BUY, q(10_000), sl_trigger_price=p("1.00000"), tp_price=p("1.00200")
            )
            s.send_list(order_list)

        data = [
            bar(bar_type, "1.00100", "1.00100", "1.00100", "1.00100", 40_000, T0 + MIN, instrument=pair),
            bar(bar_type, "1.00100", "1.00300", "0.99900", "1.00150", 40_000, T0 + 2 * MIN, instrument=pair),
        ]
        run = run_venue(
            data,
            instrument=pair,
            matching=MatchingConfig(bar_adaptive_high_low_ordering=adaptive),
            bar_types=(bar_type,),
            on_bar={0: submit},
        )
        _, sl, tp = run.strategy.orders
        outcomes[adaptive] = (sl, tp)
    sl, tp = outcomes[False]
    assert (tp.status, sl.status) == (OrderStatus.FILLED, OrderStatus.CANCELED)
    assert fill_prices(tp_fills := [e for e in tp.events if type(e).__name__ == "OrderFilled"]) == [(10_000, "1.00200")]
    assert liquidity(tp_fills) == [MAKER]
    sl, tp = outcomes[True]
    assert (sl.status, tp.status) == (OrderStatus.FILLED, OrderStatus.CANCELED)
    sl_fills = [e for e in sl.events if type(e).__name__ == "OrderFilled"]
    assert fill_prices(sl_fills) == [(10_000, "1.00000")]
    assert liquidity(sl_fills) == [TAKER]


# ---- L2 book (checks 45-46, 49) ---------------------------------------------------------------------------


def test_check_45_resting_buy_filled_by_an_added_ask_at_its_limit() -> None:
    data = [*l2_book(100_000, T0), delta(BookAction.ADD, SELL, "98.000", 50_000, T0 + SEC)]
    run = run_venue(data, book_type=BookType.L2_MBP, on_delta={6: lambda s: s.limit(BUY, 100_000, "100.000")})
    order = run.strategy.orders[0]
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert fill_prices(run.strategy.fills(order)) == [(50_000, "100.000")]
    assert liquidity(run.strategy.fills(order)) == [MAKER]


def test_check_45_snapshot_with_two_crossing_levels_gives_two_fills_at_the_limit() -> None:
    data = [
        *l2_book(100_000, T0),
        *snapshot([("97.000", 10_000)], [("98.000", 50_000), ("99.000", 100_000)], T0 + SEC),
    ]
    run = run_venue(data, book_type=BookType.L2_MBP, on_delta={6: lambda s: s.limit(BUY, 100_000, "100.000")})
    order = run.strategy.orders[0]
    assert order.status is OrderStatus.FILLED
    assert fill_prices(run.strategy.fills(order)) == [(50_000, "100.000"), (50_000, "100.000")]


def test_check_46_post_only_at_the_ask_is_rejected_with_three_events() -> None:
    data = l2_book(100_000, T0)
    run = run_venue(
        data, book_type=BookType.L2_MBP, on_delta={6: lambda s: s.limit(BUY, 100_000, "101.000", post_only=True)}
    )
    order = run.strategy.orders[0]
    assert order.status is OrderStatus.REJECTED
    assert len(order.events) == 3
    rejected = [e for e in run.venue_events if isinstance(e, OrderRejected)]
    assert rejected[0].due_post_only is True


def test_l2_market_order_walks_the_levels() -> None:
    data = l2_book(100_000, T0)
    run = run_venue(data, book_type=BookType.L2_MBP, on_delta={6: lambda s: s.market(BUY, 250_000)})
    order = run.strategy.orders[0]
    assert order.status is OrderStatus.FILLED
    assert fill_prices(run.strategy.fills(order)) == [(100_000, "101.000"), (150_000, "102.000")]


def test_l2_marketable_limit_walks_up_to_its_price_and_rests_the_rest() -> None:
    data = l2_book(100_000, T0)
    run = run_venue(data, book_type=BookType.L2_MBP, on_delta={6: lambda s: s.limit(BUY, 500_000, "102.000")})
    order = run.strategy.orders[0]
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert fill_prices(run.strategy.fills(order)) == [(100_000, "101.000"), (200_000, "102.000")]
    assert liquidity(run.strategy.fills(order)) == [TAKER, TAKER]
    assert leaves_of(order) == 200_000


def test_check_49_trade_execution_does_not_persist_ghost_liquidity() -> None:
    data = [
        *snapshot([("100.000", 10_000)], [("110.000", 10_000)], T0),
        trade("105.000", 1_000, AggressorSide.SELLER, T0 + SEC),
        delta(BookAction.UPDATE, OrderSide.BUY, "100.000", 11_000, T0 + 2 * SEC),
    ]
    run = run_venue(data, book_type=BookType.L2_MBP, on_trade={0: lambda s: s.limit(BUY, 1_000, "106.000")})
    order = run.strategy.orders[0]
    assert order.status is OrderStatus.ACCEPTED
    assert run.strategy.fills(order) == []


# ---- trade execution and the fill model (checks 50-51), small bars (check 55) ----------------------------


def test_check_50_no_aggressor_trade_sets_bid_and_ask_to_its_price() -> None:
    def submit(s: BookStrategy) -> None:
        s.limit(BUY, 1, "1000.000")
        s.limit(SELL, 1, "1000.000")
        s.limit(SELL, 1, "1015.000")

    data = [
        quote("990.000", "1010.000", T0),
        trade("1000.000", 10, AggressorSide.NO_AGGRESSOR, T0 + SEC),
        trade("1020.000", 10, AggressorSide.NO_AGGRESSOR, T0 + 2 * SEC),
    ]
    run = run_venue(data, on_quote={0: submit})
    buy, sell, sell_high = run.strategy.orders
    assert fill_prices(run.strategy.fills(buy)) == [(1, "1000.000")]
    assert fill_prices(run.strategy.fills(sell)) == [(1, "1000.000")]
    assert fill_prices(run.strategy.fills(sell_high)) == [(1, "1015.000")]


def run_211(prob: float, trade_price: str) -> Order:
    def submit(s: BookStrategy) -> None:
        s.limit(BUY, 100, "211.35")

    data = [
        quote("211.30", "211.40", T0, instrument=AAPL),
        trade(trade_price, 100, AggressorSide.SELLER, T0 + SEC, AAPL),
    ]
    run = run_venue(
        data, instrument=AAPL, fill_model=FillModel(prob_fill_on_limit=prob, random_seed=1), on_quote={0: submit}
    )
    return run.strategy.orders[0]


def test_check_51_trade_execution_fill_model_at_limit_with_prob_zero_does_not_fill() -> None:
    assert run_211(0.0, "211.35").status is OrderStatus.ACCEPTED


def test_check_51_trade_execution_fill_model_at_limit_with_prob_one_fills() -> None:
    order = run_211(1.0, "211.35")
    assert order.status is OrderStatus.FILLED
    assert order.avg_px == Decimal("211.35")


def test_check_51_trade_execution_crossing_limit_fills_regardless_of_fill_model() -> None:
    order = run_211(0.0, "211.30")
    assert order.status is OrderStatus.FILLED
    assert order.avg_px == Decimal("211.35")


def test_check_55_two_unit_bar_fills_orders_at_high_and_low() -> None:
    def submit(s: BookStrategy) -> None:
        s.limit(SELL, 1, "1510.000")
        s.limit(BUY, 1, "1490.000")

    data = [
        bar(LAST_1M, "1500.000", "1500.000", "1500.000", "1500.000", 4, T0 + MIN),
        bar(LAST_1M, "1500.000", "1510.000", "1490.000", "1505.000", 2, T0 + 2 * MIN),
    ]
    run = run_venue(data, bar_types=(LAST_1M,), on_bar={0: submit})
    sell, buy = run.strategy.orders
    assert fill_prices(run.strategy.fills(sell)) == [(1, "1510.000")]
    assert fill_prices(run.strategy.fills(buy)) == [(1, "1490.000")]


# ---- liquidity consumption, queue position, price protection (§3.9) ---------------------------------------


def test_liquidity_consumption_shares_one_level_between_takers_until_it_changes() -> None:
    """§3.9: ask 100.00 x 100 -> BUY 30 fills 30; a BUY 50 then fills 50 (20 left); a delta to 120 resets."""
    data = [
        *snapshot([("99.000", 100)], [("100.000", 100)], T0),
        delta(BookAction.UPDATE, OrderSide.BUY, "99.000", 90, T0 + SEC),
        delta(BookAction.UPDATE, OrderSide.SELL, "100.000", 120, T0 + 2 * SEC),
    ]
    actions = {
        2: lambda s: s.limit(BUY, 30, "100.000", tif=_ioc()),
        3: lambda s: (s.limit(BUY, 50, "100.000", tif=_ioc()), s.limit(BUY, 50, "100.000", tif=_ioc())),
        4: lambda s: s.limit(BUY, 120, "100.000", tif=_ioc()),
    }
    run = run_venue(
        data, book_type=BookType.L2_MBP, matching=MatchingConfig(liquidity_consumption=True), on_delta=actions
    )
    filled = [int(o.filled_qty.as_decimal()) for o in run.strategy.orders]
    assert filled == [30, 50, 20, 120]


def _ioc() -> Any:
    from toolkit.model.enums import TimeInForce

    return TimeInForce.IOC


def test_liquidity_consumption_l1_passive_limit_moved_through_fills_only_displayed_size() -> None:
    """§3.9: BUY limit 1000 @ 100.05; asks 30 @ 100.00, then 200 @ 99.95 -> fills 30, then 200; 770 open."""
    data = [
        quote("100.040", "100.100", T0, instrument=USDJPY),
        quote("99.990", "100.000", T0 + SEC, ask_size=30),
        quote("99.940", "99.950", T0 + 2 * SEC, ask_size=200),
    ]
    run = run_venue(
        data, matching=MatchingConfig(liquidity_consumption=True), on_quote={0: lambda s: s.limit(BUY, 1000, "100.050")}
    )
    order = run.strategy.orders[0]
    assert fill_prices(run.strategy.fills(order)) == [(30, "100.050"), (200, "100.050")]
    assert leaves_of(order) == 770


def test_liquidity_consumption_trade_seeds_the_level_before_a_stop_walks_it() -> None:
    """§3.9: ask 10, BUYER trade 8, stop BUY 5 -> 2 @ best, 3 at the next level."""
    data = [
        *snapshot([("99.000", 10)], [("100.000", 10), ("101.000", 10)], T0),
        trade("100.000", 8, AggressorSide.BUYER, T0 + SEC),
    ]
    run = run_venue(
        data,
        book_type=BookType.L2_MBP,
        matching=MatchingConfig(liquidity_consumption=True, reject_stop_orders=False),
        on_trade={0: lambda s: s.stop_market(BUY, 5, "100.000")},
    )
    order = run.strategy.orders[0]
    assert fill_prices(run.strategy.fills(order)) == [(2, "100.000"), (3, "101.000")]


def test_l1_queue_position_full_example() -> None:
    """§3.9: bid 100 x 10; BUY 2 @ 100 (ahead 10); SELLER 3, 4, 2 -> no fill; quote size change; SELLER 3 -> 2."""
    seen: list[int] = []

    def record(s: BookStrategy) -> None:
        seen.append(int(s.orders[0].filled_qty.as_decimal()))

    data = [
        quote("100.000", "100.010", T0, bid_size=10),
        trade("100.000", 3, AggressorSide.SELLER, T0 + 1 * SEC),
        trade("100.000", 4, AggressorSide.SELLER, T0 + 2 * SEC),
        trade("100.000", 2, AggressorSide.SELLER, T0 + 3 * SEC),
        quote("100.000", "100.010", T0 + 4 * SEC, bid_size=50),
        trade("100.000", 3, AggressorSide.SELLER, T0 + 5 * SEC),
    ]
    run = run_venue(
        data,
        matching=MatchingConfig(queue_position=True),
        on_quote={0: lambda s: s.limit(BUY, 2, "100.000"), 1: record},
        on_trade={0: record, 1: record, 2: record},
    )
    order = run.strategy.orders[0]
    assert seen == [0, 0, 0, 0]
    assert order.status is OrderStatus.FILLED
    assert fill_prices(run.strategy.fills(order)) == [(2, "100.000")]


def test_price_protection_discards_levels_beyond_the_bound() -> None:
    """§3.9: tick 0.01, k = 100; asks 1001 x 5 and 1003 x 5; BUY MKT 10 -> only 5 filled."""
    data = snapshot([("1000.00", 5)], [("1001.00", 5), ("1003.00", 5)], T0, instrument=AAPL)
    run = run_venue(
        data,
        instrument=AAPL,
        book_type=BookType.L2_MBP,
        matching=MatchingConfig(price_protection_points=100),
        on_delta={3: lambda s: s.market(BUY, 10)},
    )
    order = run.strategy.orders[0]
    assert fill_prices(run.strategy.fills(order)) == [(5, "1001.00")]
    assert order.status is OrderStatus.CANCELED


def test_trailing_updates_are_published_as_order_updated() -> None:
    def submit(s: BookStrategy) -> None:
        s.send(s.order_factory.trailing_stop_market(s.iid, SELL, q(1_000), trailing_offset=Decimal("0.010")))

    data = [quote("90.000", "90.005", T0), quote("90.020", "90.025", T0 + SEC), quote("90.010", "90.015", T0 + 2 * SEC)]
    run = run_venue(data, on_quote={0: submit})
    updates = [str(e.trigger_price) for e in run.venue_events if isinstance(e, OrderUpdated)]
    assert updates == ["89.990", "90.010"]
    assert run.strategy.orders[0].status is OrderStatus.FILLED
    assert fill_prices(run.strategy.fills(run.strategy.orders[0])) == [(1_000, "90.010")]


def l3(
    action: BookAction, side: OrderSide, price: str, size: int, order_id: int, ts: int, flags: int = 0
) -> OrderBookDelta:
    return OrderBookDelta(
        USDJPY.id,
        action,
        side,
        USDJPY.make_price(price).raw,
        USDJPY.make_qty(size).raw,
        order_id,
        flags,
        0,
        3,
        0,
        ts,
        ts,
    )


def test_l3_book_aggregates_orders_into_levels_that_market_orders_walk() -> None:
    """Order-by-order data: two asks at 101 (3,000 + 2,000) and one at 102; one of the 101 orders is canceled.
    A BUY 6,000 then takes 2,000 @ 101 and 4,000 @ 102."""
    data = [
        l3(BookAction.ADD, OrderSide.BUY, "100.000", 5_000, 1, T0),
        l3(BookAction.ADD, OrderSide.SELL, "101.000", 3_000, 2, T0),
        l3(BookAction.ADD, OrderSide.SELL, "101.000", 2_000, 3, T0),
        l3(BookAction.ADD, OrderSide.SELL, "102.000", 9_000, 4, T0, FLAG_LAST),
        l3(BookAction.DELETE, OrderSide.SELL, "101.000", 0, 2, T0 + SEC, FLAG_LAST),
    ]
    run = run_venue(data, book_type=BookType.L3_MBO, on_delta={4: lambda s: s.market(BUY, 6_000)})
    order = run.strategy.orders[0]
    assert order.status is OrderStatus.FILLED
    assert fill_prices(run.strategy.fills(order)) == [(2_000, "101.000"), (4_000, "102.000")]


# ---- regressions found in review ------------------------------------------------------------------------


def test_buyer_prints_trigger_a_buy_stop_on_trades_only_data() -> None:
    """A BUYER print raises the ask to its price, so BUY stops trigger on it (their side's limits do not fill)."""
    data = [
        trade("100.000", 100, AggressorSide.SELLER, T0),
        trade("100.060", 100, AggressorSide.BUYER, T0 + SEC),
    ]
    run = run_venue(data, on_trade={0: lambda s: s.stop_market(BUY, 10, "100.050")})
    order = run.strategy.orders[0]
    assert order.status is OrderStatus.FILLED
    assert fill_prices(run.strategy.fills(order)) == [(10, "100.060")]


def test_slippage_never_fills_a_limit_beyond_its_price() -> None:
    run = run_venue(
        [quote("90.002", "90.005", T0)],
        fill_model=FillModel(prob_slippage=1.0),
        on_quote={0: lambda s: s.limit(BUY, 1_000, "90.005")},
    )
    order = run.strategy.orders[0]
    assert fill_prices(run.strategy.fills(order)) == [(1_000, "90.005")]


def test_ioc_stop_limit_triggered_without_a_marketable_limit_is_canceled() -> None:
    from toolkit.model.enums import TimeInForce

    data = [quote("90.002", "90.005", T0), quote("90.008", "90.010", T0 + SEC)]
    run = run_venue(data, on_quote={0: lambda s: s.stop_limit(BUY, 1_000, "90.000", "90.008", tif=TimeInForce.IOC)})
    order = run.strategy.orders[0]
    assert run.strategy.names(order) == ["Submitted", "Accepted", "Triggered", "Canceled"]


def test_trailing_stop_with_a_trigger_waits_for_its_activation_price() -> None:
    def submit(s: BookStrategy) -> None:
        order = s.order_factory.trailing_stop_market(
            s.iid,
            SELL,
            q(1_000),
            trailing_offset=Decimal("1.0"),
            trigger_price=p("13.500"),
            activation_price=p("15.000"),
        )
        s.send(order)

    data = [quote("14.000", "14.100", T0), quote("13.000", "13.100", T0 + SEC)]
    run = run_venue(data, on_quote={0: submit})
    assert run.strategy.orders[0].status is OrderStatus.ACCEPTED  # bid 13 < 13.5, but not activated yet


def test_mid_point_trailing_trigger_stays_on_the_tick_grid() -> None:
    from toolkit.model.enums import TriggerType

    def submit(s: BookStrategy) -> None:
        order = s.order_factory.trailing_stop_market(
            s.iid, SELL, q(1_000), trailing_offset=Decimal("0.010"), trigger_type=TriggerType.MID_POINT
        )
        s.send(order)

    run = run_venue([quote("90.000", "90.005", T0)], on_quote={0: submit})
    # mid 90.0025 - 0.010 = 89.9925, rounded away from the market (down for a SELL) to 89.992
    assert run.strategy.orders[0].trigger_price == p("89.992")
