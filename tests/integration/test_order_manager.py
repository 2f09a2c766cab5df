"""Client-side contingent orders and GTD expiry (`manage_contingent_orders`, `manage_gtd_expiry`) on a real
`BacktestEngine`, venue spec §3.5 and §7.

The venue is USD/JPY.SIM (3 decimals, HEDGING, MARGIN) fed with hand-built quotes; a `BracketStrategy` runs the
test's actions at given quote indexes and records every event it hears, and the venue's own outgoing events are
recorded too. Unless a test says otherwise the venue runs with `support_contingent_orders=False` and
`use_reduce_only=False`, so it neither holds children nor resizes or cancels linked or reduce-only orders by itself:
what happens to the exits is the strategy's doing. Modifies and cancels the
strategy sends show up as `PendingUpdate` / `PendingCancel` events, which only the strategy emits.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from _usdjpy import SEC, T0, USD, USDJPY

from toolkit.backtest.engine import BacktestEngine
from toolkit.backtest.matching import MatchingConfig
from toolkit.model.data import QuoteTick
from toolkit.model.enums import (
    AccountType,
    ContingencyType,
    OmsType,
    OrderSide,
    OrderStatus,
    TimeInForce,
    TriggerMode,
)
from toolkit.model.events import Event, OrderEvent, OrderFilled, OrderSubmitted, PositionEvent
from toolkit.model.identifiers import PositionId
from toolkit.model.objects import Money, Price, Quantity
from toolkit.model.orders import Order, OrderList
from toolkit.trading.config import StrategyConfig
from toolkit.trading.strategy import Strategy

BUY, SELL = OrderSide.BUY, OrderSide.SELL


def p(text: str) -> Price:
    return Price.from_str(text)


def q(n: int) -> Quantity:
    return Quantity.from_int(n)


def quote(bid: str, ask: str, i: int, bid_size: int = 100_000, ask_size: int = 100_000) -> QuoteTick:
    """A quote at T0 + i seconds."""
    return QuoteTick.of(USDJPY.id, p(bid), p(ask), q(bid_size), q(ask_size), T0 + i * SEC)


Action = Callable[["BracketStrategy"], None]


class BracketStrategy(Strategy):
    """Runs `actions[n](self)` on its n-th quote and records every order and position event."""

    def __init__(self, actions: dict[int, Action], **config: Any) -> None:
        super().__init__(StrategyConfig(strategy_id="BRACKET-001", **config))
        self.actions = actions
        self.quotes = 0
        self.events: list[Event] = []
        self.bracket: OrderList | None = None

    def on_start(self) -> None:
        self.subscribe_quote_ticks(USDJPY.id)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        action = self.actions.get(self.quotes)
        self.quotes += 1
        if action is not None:
            action(self)

    def on_event(self, event: Event) -> None:
        self.events.append(event)

    # helpers
    def submit_bracket(self, side: OrderSide = BUY, quantity: int = 100_000, **kwargs: Any) -> OrderList:
        kwargs.setdefault("sl_trigger_price", p("89.900") if side is BUY else p("90.100"))
        kwargs.setdefault("tp_price", p("90.100") if side is BUY else p("89.900"))
        self.bracket = self.order_factory.bracket(USDJPY.id, side, q(quantity), **kwargs)
        self.submit_order_list(self.bracket)
        return self.bracket

    @property
    def entry(self) -> Order:
        assert self.bracket is not None
        return self.bracket.orders[0]

    @property
    def sl(self) -> Order:
        assert self.bracket is not None
        return self.bracket.orders[1]

    @property
    def tp(self) -> Order:
        assert self.bracket is not None
        return self.bracket.orders[2]

    def names(self, order: Order) -> list[str]:
        """Event type names of one order, without the `Order` prefix."""
        return [
            type(e).__name__.removeprefix("Order")
            for e in self.events
            if isinstance(e, OrderEvent) and e.client_order_id == order.client_order_id
        ]

    def index(self, order: Order, kind: type) -> int:
        """Position in the event log of the first `kind` event of `order`."""
        for i, e in enumerate(self.events):
            if isinstance(e, kind) and isinstance(e, OrderEvent) and e.client_order_id == order.client_order_id:
                return i
        raise AssertionError(f"no {kind.__name__} for {order.client_order_id}")


class Run:
    def __init__(self, engine: BacktestEngine, strategy: BracketStrategy, venue_events: list[Event]) -> None:
        self.engine = engine
        self.strategy = strategy
        self.venue_events = venue_events

    def venue_names(self, order: Order) -> list[str]:
        return [
            type(e).__name__.removeprefix("Order")
            for e in self.venue_events
            if isinstance(e, OrderEvent) and e.client_order_id == order.client_order_id
        ]


def bare_venue(**switches: Any) -> MatchingConfig:
    """A venue that neither handles contingencies nor resizes or cancels reduce-only orders by itself."""
    return MatchingConfig(use_reduce_only=False, support_contingent_orders=False, **switches)


def run(
    quotes: list[QuoteTick],
    actions: dict[int, Action],
    *,
    oms_type: OmsType = OmsType.HEDGING,
    matching: MatchingConfig | None = None,
    **config: Any,
) -> Run:
    config.setdefault("manage_contingent_orders", True)
    engine = BacktestEngine()
    exchange = engine.add_venue(
        USDJPY.id.venue,
        oms_type,
        AccountType.MARGIN,
        [Money.of(10_000_000, USD)],
        base_currency=USD,
        default_leverage=Decimal(50),
        matching=matching or bare_venue(),
    )
    venue_events: list[Event] = []
    forward = engine.kernel.exec_engine.process

    def tee(event: Event) -> None:
        venue_events.append(event)
        forward(event)  # type: ignore[arg-type]

    exchange.register_event_handler(tee)
    engine.add_instrument(USDJPY)
    engine.add_data(quotes)
    strategy = BracketStrategy(actions, **config)
    engine.add_strategy(strategy)
    engine.run()
    return Run(engine, strategy, venue_events)


def fills(strategy: BracketStrategy, order: Order) -> list[OrderFilled]:
    return [e for e in strategy.events if isinstance(e, OrderFilled) and e.client_order_id == order.client_order_id]


# ---- brackets: release on the entry's fill, OUO exits --------------------------------------------------


def test_children_are_sent_only_after_the_entry_fills_then_tp_fill_cancels_sl() -> None:
    data = [quote("90.000", "90.002", 0), quote("90.000", "90.002", 1), quote("90.101", "90.103", 2)]
    r = run(data, {0: lambda s: s.submit_bracket()})
    s = r.strategy
    # The entry (MARKET) fills first; only then do the exits reach the venue, with the entry's position id.
    assert s.entry.status is OrderStatus.FILLED
    entry_fill = s.index(s.entry, OrderFilled)
    assert s.index(s.sl, OrderSubmitted) > entry_fill
    assert s.index(s.tp, OrderSubmitted) > entry_fill
    position_id = s.entry.position_id
    assert position_id is not None
    assert s.sl.position_id == position_id and s.tp.position_id == position_id
    assert r.engine.cache.position_id_for_order(s.sl.client_order_id) == position_id
    assert s.sl.quantity == q(100_000) and s.tp.quantity == q(100_000)
    # Quote 2 moves through the TP: it fills in full; the strategy cancels the SL (OUO).
    assert s.tp.status is OrderStatus.FILLED
    assert s.sl.status is OrderStatus.CANCELED
    assert s.names(s.sl) == ["Submitted", "Accepted", "PendingCancel", "Canceled"]
    position = r.engine.cache.position(position_id)
    assert position is not None and position.is_closed


def test_exits_wait_while_the_limit_entry_rests() -> None:
    data = [quote("90.000", "90.002", 0), quote("90.000", "90.002", 1), quote("89.998", "90.000", 2)]
    r = run(data, {0: lambda s: s.submit_bracket(entry_price=p("90.000"))})
    s = r.strategy
    assert s.entry.status is OrderStatus.FILLED
    assert s.index(s.sl, OrderSubmitted) > s.index(s.entry, OrderFilled)
    assert [f.ts_event for f in fills(s, s.entry)] == [T0 + 2 * SEC]
    assert s.sl.status is OrderStatus.ACCEPTED and s.tp.status is OrderStatus.ACCEPTED
    exits = (s.sl.client_order_id, s.tp.client_order_id)
    exit_events = [e for e in r.venue_events if isinstance(e, OrderEvent) and e.client_order_id in exits]
    assert exit_events and all(e.ts_event == T0 + 2 * SEC for e in exit_events)  # nothing before the fill


def test_entry_canceled_before_any_fill_cancels_the_exits_locally() -> None:
    data = [quote("90.000", "90.002", 0), quote("90.000", "90.002", 1), quote("90.000", "90.002", 2)]
    r = run(data, {0: lambda s: s.submit_bracket(entry_price=p("89.950")), 1: lambda s: s.cancel_order(s.entry)})
    s = r.strategy
    assert s.entry.status is OrderStatus.CANCELED
    for child in (s.sl, s.tp):
        assert child.status is OrderStatus.CANCELED
        assert s.names(child) == ["Canceled"]  # never submitted
        assert r.venue_names(child) == []  # the venue never heard of it
    assert s.index(s.sl, Event) > s.index(s.entry, Event)  # canceled after the parent's cancel
    assert r.engine.cache.orders_open() == []


def test_entry_denied_cancels_the_exits_locally() -> None:
    # 90.0005 has more decimals than the instrument: the risk engine denies the entry.
    data = [quote("90.000", "90.002", 0), quote("90.000", "90.002", 1)]
    r = run(data, {0: lambda s: s.submit_bracket(entry_price=p("90.0005"))})
    s = r.strategy
    assert s.entry.status is OrderStatus.DENIED
    assert s.names(s.sl) == ["Canceled"] and s.names(s.tp) == ["Canceled"]
    assert r.venue_names(s.sl) == [] and r.venue_names(s.tp) == []


def test_tp_partial_fill_sets_sl_to_the_tp_leaves_then_full_fill_cancels_it() -> None:
    data = [
        quote("90.000", "90.002", 0),
        quote("90.000", "90.002", 1),
        quote("90.100", "90.103", 2, bid_size=40_000),  # touches the TP: its displayed 40,000 fill
        quote("90.050", "90.053", 3),
        quote("90.105", "90.107", 4),  # moves through the TP: the rest fills
    ]
    sl_qty_after_partial: list[Quantity] = []
    r = run(data, {0: lambda s: s.submit_bracket(), 3: lambda s: sl_qty_after_partial.append(s.sl.quantity)})
    s = r.strategy
    assert [int(f.last_qty.as_decimal()) for f in fills(s, s.tp)] == [40_000, 60_000]
    assert sl_qty_after_partial == [q(60_000)]
    assert "PendingUpdate" in s.names(s.sl)  # the strategy sent the modify
    assert s.tp.status is OrderStatus.FILLED
    assert s.sl.status is OrderStatus.CANCELED
    assert s.sl.filled_qty == q(0)


def test_sl_quantity_modify_updates_the_tp() -> None:
    data = [quote("90.000", "90.002", 0), quote("90.000", "90.002", 1), quote("90.000", "90.002", 2)]
    r = run(data, {0: lambda s: s.submit_bracket(), 1: lambda s: s.modify_order(s.sl, quantity=q(50_000))})
    s = r.strategy
    assert s.sl.quantity == q(50_000)
    assert s.tp.quantity == q(50_000)
    assert s.names(s.tp) == ["Submitted", "Accepted", "PendingUpdate", "Updated"]  # the strategy's modify
    assert s.sl.status is OrderStatus.ACCEPTED and s.tp.status is OrderStatus.ACCEPTED


def test_oco_partial_fill_cancels_the_sibling() -> None:
    data = [
        quote("90.000", "90.002", 0),
        quote("90.000", "90.002", 1),
        quote("90.100", "90.103", 2, bid_size=40_000),
        quote("90.050", "90.053", 3),
    ]
    r = run(data, {0: lambda s: s.submit_bracket(contingency_type=ContingencyType.OCO)})
    s = r.strategy
    assert s.tp.status is OrderStatus.PARTIALLY_FILLED and s.tp.filled_qty == q(40_000)
    assert s.sl.status is OrderStatus.CANCELED
    assert s.sl.quantity == q(100_000)  # canceled, not resized
    assert "PendingUpdate" not in s.names(s.sl)


def test_sl_fill_cancels_the_tp() -> None:
    data = [quote("90.000", "90.002", 0), quote("90.000", "90.002", 1), quote("89.850", "89.852", 2)]
    r = run(data, {0: lambda s: s.submit_bracket()})
    s = r.strategy
    assert s.sl.status is OrderStatus.FILLED
    assert s.tp.status is OrderStatus.CANCELED
    assert s.names(s.tp)[-2:] == ["PendingCancel", "Canceled"]


def test_canceling_an_exit_cancels_its_sibling() -> None:
    data = [quote("90.000", "90.002", 0), quote("90.000", "90.002", 1), quote("90.000", "90.002", 2)]
    r = run(data, {0: lambda s: s.submit_bracket(), 1: lambda s: s.cancel_order(s.tp)})
    s = r.strategy
    assert s.tp.status is OrderStatus.CANCELED
    assert s.sl.status is OrderStatus.CANCELED
    assert s.names(s.sl) == ["Submitted", "Accepted", "PendingCancel", "Canceled"]
    # No second cancel for either order: each has exactly one PendingCancel and the venue no CancelRejected.
    assert s.names(s.tp).count("PendingCancel") == 1
    assert "CancelRejected" not in r.venue_names(s.sl) + r.venue_names(s.tp)


def test_no_cancel_is_sent_for_an_exit_already_pending_cancel() -> None:
    def cancel_both(s: BracketStrategy) -> None:
        s.cancel_order(s.sl)
        s.cancel_order(s.tp)

    data = [quote("90.000", "90.002", 0), quote("90.000", "90.002", 1), quote("90.000", "90.002", 2)]
    r = run(data, {0: lambda s: s.submit_bracket(), 1: cancel_both})
    s = r.strategy
    assert s.sl.status is OrderStatus.CANCELED and s.tp.status is OrderStatus.CANCELED
    assert s.names(s.sl).count("PendingCancel") == 1 and s.names(s.tp).count("PendingCancel") == 1
    assert "CancelRejected" not in r.venue_names(s.sl) + r.venue_names(s.tp)


def test_held_exit_can_be_modified_before_the_entry_fills() -> None:
    data = [quote("90.000", "90.002", 0), quote("90.000", "90.002", 1), quote("89.998", "90.000", 2)]
    r = run(
        data,
        {
            0: lambda s: s.submit_bracket(entry_price=p("90.000")),
            1: lambda s: s.modify_order(s.sl, trigger_price=p("89.950")),
        },
    )
    s = r.strategy
    assert s.sl.trigger_price == p("89.950")
    assert s.names(s.sl) == ["Updated", "Submitted", "Accepted"]  # changed locally, then sent as changed
    assert s.sl.status is OrderStatus.ACCEPTED


def test_canceling_a_held_exit_discards_both_exits_and_keeps_the_entry() -> None:
    data = [quote("90.000", "90.002", 0), quote("90.000", "90.002", 1), quote("89.998", "90.000", 2)]
    r = run(data, {0: lambda s: s.submit_bracket(entry_price=p("90.000")), 1: lambda s: s.cancel_order(s.tp)})
    s = r.strategy
    assert s.names(s.tp) == ["Canceled"] and s.names(s.sl) == ["Canceled"]
    assert r.venue_names(s.tp) == [] and r.venue_names(s.sl) == []
    assert s.entry.status is OrderStatus.FILLED  # the entry itself goes on


# ---- OTO trigger modes -------------------------------------------------------------------------------------


def _partial_entry_data() -> list[QuoteTick]:
    return [
        quote("89.999", "90.002", 0),
        quote("89.998", "90.000", 1, ask_size=40_000),  # touches the BUY limit at 90.000: 40,000 fill
        quote("89.999", "90.002", 2),
        quote("89.998", "90.000", 3, ask_size=60_000),  # the remaining 60,000
        quote("89.999", "90.002", 4),
    ]


def test_partial_mode_releases_on_the_first_fill_then_resizes() -> None:
    seen: list[tuple[OrderStatus, Quantity]] = []
    r = run(
        _partial_entry_data(),
        {
            0: lambda s: s.submit_bracket(entry_price=p("90.000")),
            2: lambda s: seen.append((s.sl.status, s.sl.quantity)),
        },
    )
    s = r.strategy
    assert [int(f.last_qty.as_decimal()) for f in fills(s, s.entry)] == [40_000, 60_000]
    assert seen == [(OrderStatus.ACCEPTED, q(40_000))]  # sent after the first fill, for what had filled
    assert s.index(s.sl, OrderSubmitted) > s.index(s.entry, OrderFilled)
    for child in (s.sl, s.tp):
        assert child.quantity == q(100_000)  # resized as the entry filled further
        assert child.status is OrderStatus.ACCEPTED
        assert child.init.quantity == q(100_000)
        assert s.names(child)[:2] == ["Updated", "Submitted"]  # sized down locally before it was sent
        assert "PendingUpdate" in s.names(child)


def test_full_mode_waits_for_the_full_fill() -> None:
    seen: list[tuple[OrderStatus, Quantity]] = []
    r = run(
        _partial_entry_data(),
        {
            0: lambda s: s.submit_bracket(entry_price=p("90.000")),
            2: lambda s: seen.append((s.sl.status, s.sl.quantity)),
        },
        oto_trigger_mode=TriggerMode.FULL,
    )
    s = r.strategy
    assert seen == [(OrderStatus.INITIALIZED, q(100_000))]  # still held after the partial fill
    entry_fills = fills(s, s.entry)
    assert len(entry_fills) == 2
    assert s.index(s.sl, OrderSubmitted) > s.events.index(entry_fills[-1])
    for child in (s.sl, s.tp):
        assert child.quantity == q(100_000)
        assert child.status is OrderStatus.ACCEPTED
        assert s.names(child) == ["Submitted", "Accepted"]


def test_full_mode_parent_canceled_after_a_partial_fill_discards_the_held_exits() -> None:
    data = _partial_entry_data()[:3]
    r = run(
        data,
        {0: lambda s: s.submit_bracket(entry_price=p("90.000")), 2: lambda s: s.cancel_order(s.entry)},
        oto_trigger_mode=TriggerMode.FULL,
    )
    s = r.strategy
    assert s.entry.status is OrderStatus.CANCELED and s.entry.filled_qty == q(40_000)
    assert s.names(s.sl) == ["Canceled"] and s.names(s.tp) == ["Canceled"]


def test_partial_mode_parent_canceled_after_a_partial_fill_keeps_the_exits() -> None:
    data = _partial_entry_data()[:3]
    r = run(data, {0: lambda s: s.submit_bracket(entry_price=p("90.000")), 2: lambda s: s.cancel_order(s.entry)})
    s = r.strategy
    assert s.entry.status is OrderStatus.CANCELED
    assert s.sl.status is OrderStatus.ACCEPTED and s.sl.quantity == q(40_000)
    assert s.tp.status is OrderStatus.ACCEPTED and s.tp.quantity == q(40_000)


# ---- other OMS and the unmanaged path -----------------------------------------------------------------------


def test_netting_venue_exits_carry_the_netting_position_id() -> None:
    data = [quote("90.000", "90.002", 0), quote("90.000", "90.002", 1), quote("90.101", "90.103", 2)]
    r = run(data, {0: lambda s: s.submit_bracket(side=SELL, quantity=30_000)}, oms_type=OmsType.NETTING)
    s = r.strategy
    expected = PositionId("USD/JPY.SIM-BRACKET-001")
    assert s.entry.position_id == expected and s.sl.position_id == expected
    # SELL entry: the SL is a BUY stop at 90.100, hit by the ask of quote 2; the TP is canceled.
    assert s.sl.status is OrderStatus.FILLED and s.tp.status is OrderStatus.CANCELED
    position = r.engine.cache.position(expected)
    assert position is not None and position.is_closed


def test_default_venue_with_reduce_only_rules_ends_the_same() -> None:
    data = [quote("90.000", "90.002", 0), quote("90.000", "90.002", 1), quote("90.101", "90.103", 2)]
    r = run(data, {0: lambda s: s.submit_bracket()}, matching=MatchingConfig())
    s = r.strategy
    assert s.entry.status is OrderStatus.FILLED
    assert s.tp.status is OrderStatus.FILLED
    assert s.sl.status is OrderStatus.CANCELED
    assert s.sl.filled_qty == q(0)


def test_unmanaged_list_is_submitted_in_list_order() -> None:
    data = [quote("90.000", "90.002", 0), quote("90.000", "90.002", 1)]
    r = run(data, {0: lambda s: s.submit_bracket(entry_price=p("89.950"))}, manage_contingent_orders=False)
    s = r.strategy
    assert s.order_manager is None
    submitted = [e.client_order_id for e in s.events if isinstance(e, OrderSubmitted)]
    assert submitted == [o.client_order_id for o in (s.entry, s.sl, s.tp)]
    for order in (s.entry, s.sl, s.tp):
        assert r.engine.cache.order(order.client_order_id) is order
        assert order.order_list_id == s.bracket.id  # type: ignore[union-attr]


def test_submit_order_list_refuses_an_order_already_submitted() -> None:
    errors: list[str] = []

    def twice(s: BracketStrategy) -> None:
        bracket = s.submit_bracket(entry_price=p("89.950"))
        try:
            s.submit_order_list(bracket)
        except ValueError as exc:
            errors.append(str(exc))

    run([quote("90.000", "90.002", 0)], {0: twice})
    assert len(errors) == 1 and "already submitted" in errors[0]


# ---- GTD expiry managed by the strategy -------------------------------------------------------------------


def _gtd_limit(s: BracketStrategy) -> None:
    order = s.order_factory.limit(
        USDJPY.id, BUY, q(10_000), p("89.900"), time_in_force=TimeInForce.GTD, expire_time_ns=T0 + 5 * SEC
    )
    s.notes = order  # type: ignore[attr-defined]
    s.submit_order(order)


def _quotes_every_second(n: int) -> list[QuoteTick]:
    return [quote("90.000", "90.002", i) for i in range(n)]


def test_gtd_is_canceled_by_the_strategy_on_a_venue_without_gtd_support() -> None:
    r = run(
        _quotes_every_second(10),
        {0: _gtd_limit},
        matching=bare_venue(support_gtd_orders=False),
        manage_contingent_orders=False,
        manage_gtd_expiry=True,
    )
    order: Order = r.strategy.notes  # type: ignore[attr-defined]
    assert order.status is OrderStatus.CANCELED
    assert r.strategy.names(order) == ["Submitted", "Accepted", "PendingCancel", "Canceled"]
    canceled = order.events[-1]
    assert canceled.ts_event == T0 + 5 * SEC
    assert r.engine.clock.timer_names == []


def test_gtd_stays_open_on_that_venue_without_managed_expiry() -> None:
    r = run(
        _quotes_every_second(10),
        {0: _gtd_limit},
        matching=bare_venue(support_gtd_orders=False),
        manage_contingent_orders=False,
    )
    order: Order = r.strategy.notes  # type: ignore[attr-defined]
    assert order.status is OrderStatus.ACCEPTED


def test_gtd_timer_goes_when_the_order_fills_first() -> None:
    timers_after_fill: list[list[str]] = []
    data = [quote("90.000", "90.002", 0), quote("89.890", "89.895", 1), *_quotes_every_second(10)[2:]]
    r = run(
        data,
        {0: _gtd_limit, 2: lambda s: timers_after_fill.append(list(s.clock.timer_names))},
        matching=bare_venue(support_gtd_orders=False),
        manage_contingent_orders=False,
        manage_gtd_expiry=True,
    )
    order: Order = r.strategy.notes  # type: ignore[attr-defined]
    assert order.status is OrderStatus.FILLED
    assert not any("GTD" in name for name in timers_after_fill[0])
    assert "PendingCancel" not in r.strategy.names(order)


def test_gtd_timer_is_set_while_the_order_works() -> None:
    names: list[list[str]] = []
    r = run(
        _quotes_every_second(3),
        {0: _gtd_limit, 1: lambda s: names.append(list(s.clock.timer_names))},
        matching=bare_venue(support_gtd_orders=False),
        manage_contingent_orders=False,
        manage_gtd_expiry=True,
    )
    order: Order = r.strategy.notes  # type: ignore[attr-defined]
    assert [[n for n in seen if "GTD" in n] for seen in names] == [[f"BRACKET-001-GTD-{order.client_order_id}"]]


def test_position_events_are_recorded() -> None:
    # Sanity of the harness: the strategy hears position events too (the release waits for them).
    data = [quote("90.000", "90.002", 0), quote("90.000", "90.002", 1)]
    r = run(data, {0: lambda s: s.submit_bracket()})
    assert any(isinstance(e, PositionEvent) for e in r.strategy.events)


def test_managed_bracket_on_a_venue_with_native_links_is_handled_once() -> None:
    """With manage_contingent_orders the orders go out with venue_links=False: a venue that supports contingent
    orders leaves the links to the strategy, so the SL is canceled once, by the strategy, with no rejected cancel."""
    from toolkit.model.events import OrderCanceled, OrderCancelRejected

    data = [quote("90.000", "90.002", 0), quote("90.000", "90.002", 1), quote("90.101", "90.103", 2)]
    # use_reduce_only off: the venue's flat-position rule would also cancel the SL (a harmless, spec-conform
    # CancelRejected for the strategy's own cancel); here only the links could make the venue act.
    venue = MatchingConfig(support_contingent_orders=True, use_reduce_only=False)
    r = run(data, {0: lambda s: s.submit_bracket()}, matching=venue)
    s = r.strategy
    assert (s.entry.status, s.tp.status, s.sl.status) == (OrderStatus.FILLED, OrderStatus.FILLED, OrderStatus.CANCELED)
    assert not [e for e in r.venue_events if isinstance(e, OrderCancelRejected)]
    assert len([e for e in r.venue_events if isinstance(e, OrderCanceled)]) == 1
