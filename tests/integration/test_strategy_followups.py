"""`Strategy` follow-ups on a real `BacktestEngine`: book subscriptions reach the data engine both ways, and
`cancel_all_orders` also cancels the strategy's emulated orders (held by the order emulator, not open at any venue).
One instrument (USD/JPY.SIM, HEDGING, MARGIN) fed with hand-built quotes; a strategy runs the test's actions at
given quote indexes and records every event it hears; the venue's own outgoing events are recorded too, which
tells an order canceled locally from one canceled at the venue.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from _usdjpy import SEC, T0, USD, USDJPY

from toolkit.backtest.engine import BacktestEngine
from toolkit.model.data import QuoteTick
from toolkit.model.enums import AccountType, OmsType, OrderSide, OrderStatus, TriggerType
from toolkit.model.events import Event, OrderCanceled, OrderEvent
from toolkit.model.identifiers import InstrumentId
from toolkit.model.objects import Money, Price, Quantity
from toolkit.model.orders import Order
from toolkit.trading.config import StrategyConfig
from toolkit.trading.strategy import Strategy

BUY, SELL = OrderSide.BUY, OrderSide.SELL

IID = USDJPY.id
Action = Callable[["Recorder"], None]


def p(text: str) -> Price:
    return Price.from_str(text)


def quotes(n: int) -> list[QuoteTick]:
    size = Quantity.from_int(1_000_000)
    return [QuoteTick.of(IID, p("90.000"), p("90.010"), size, size, T0 + i * SEC) for i in range(n)]


class Recorder(Strategy):
    def __init__(self, actions: dict[int, Action]) -> None:
        super().__init__(StrategyConfig(strategy_id="FOLLOW-001"))
        self.actions = actions
        self.count = 0
        self.events: list[Event] = []
        self.notes: dict[str, Any] = {}

    def on_start(self) -> None:
        self.subscribe_quote_ticks(IID)
        action = self.actions.get(-1)  # -1: at start, before any data
        if action is not None:
            action(self)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        action = self.actions.get(self.count)
        self.count += 1
        if action is not None:
            action(self)

    def on_event(self, event: Event) -> None:
        self.events.append(event)

    def names(self, order: Order) -> list[str]:
        return [
            type(e).__name__.removeprefix("Order")
            for e in self.events
            if isinstance(e, OrderEvent) and e.client_order_id == order.client_order_id
        ]

    def mit(self, side: OrderSide, trigger: str) -> Order:
        """An emulated MARKET_IF_TOUCHED far from the market: held by the emulator for the whole run."""
        order = self.order_factory.market_if_touched(
            IID, side, Quantity.from_int(100_000), trigger_price=p(trigger), emulation_trigger=TriggerType.BID_ASK
        )
        self.submit_order(order)
        return order

    def limit(self, side: OrderSide, price: str) -> Order:
        order = self.order_factory.limit(IID, side, Quantity.from_int(100_000), p(price))
        self.submit_order(order)
        return order


def run(actions: dict[int, Action], n: int = 5) -> tuple[BacktestEngine, Recorder, list[Event]]:
    strategy = Recorder(actions)
    engine = BacktestEngine()
    exchange = engine.add_venue(
        IID.venue,
        OmsType.HEDGING,
        AccountType.MARGIN,
        [Money.of(1_000_000, USD)],
        base_currency=USD,
        default_leverage=Decimal(50),
    )
    venue_events: list[Event] = []
    forward = engine.kernel.exec_engine.process

    def tee(event: Event) -> None:
        venue_events.append(event)
        forward(event)  # type: ignore[arg-type]

    exchange.register_event_handler(tee)
    engine.add_instrument(USDJPY)
    engine.add_strategy(strategy)
    engine.add_data(quotes(n))
    engine.run()
    return engine, strategy, venue_events


# ---- book subscriptions -----------------------------------------------------------------------------------------
def _counts(s: Recorder) -> tuple[dict[InstrumentId, int], dict[InstrumentId, int], bool]:
    engine = s._engine()
    return dict(engine.subscribed_deltas), dict(engine.subscribed_depth10), s.cache.order_book(IID) is not None


def test_depth10_subscription_reaches_the_data_engine_and_unsubscribe_releases_it() -> None:
    def subscribe(s: Recorder) -> None:
        s.notes["before"] = _counts(s)
        s.subscribe_order_book_depth10(IID)
        s.notes["subscribed"] = _counts(s)
        s.subscribe_order_book_depth10(IID)  # a second call warns and counts nothing
        s.notes["again"] = _counts(s)

    def unsubscribe(s: Recorder) -> None:
        s.unsubscribe_order_book_depth10(IID)
        s.notes["unsubscribed"] = _counts(s)
        s.unsubscribe_order_book_depth10(IID)  # not subscribed any more: warns, the engine is not touched
        s.notes["again_off"] = _counts(s)

    _, s, _ = run({-1: subscribe, 2: unsubscribe})
    assert s.notes["before"] == ({}, {}, False)
    # The engine counts the subscription and keeps the instrument's book from now on, before any depth arrives.
    assert s.notes["subscribed"] == ({}, {IID: 1}, True)
    assert s.notes["again"] == ({}, {IID: 1}, True)
    assert s.notes["unsubscribed"][:2] == ({}, {})
    assert s.notes["again_off"][:2] == ({}, {})


def test_delta_unsubscribe_releases_the_data_engine_subscription() -> None:
    def subscribe(s: Recorder) -> None:
        s.subscribe_order_book_deltas(IID)
        s.notes["subscribed"] = _counts(s)

    def unsubscribe(s: Recorder) -> None:
        s.unsubscribe_order_book_deltas(IID)
        s.notes["unsubscribed"] = _counts(s)

    _, s, _ = run({-1: subscribe, 2: unsubscribe})
    assert s.notes["subscribed"] == ({IID: 1}, {}, True)
    assert s.notes["unsubscribed"][:2] == ({}, {})


# ---- cancel_all_orders and emulated orders ----------------------------------------------------------------------
def test_cancel_all_orders_cancels_emulated_orders_when_nothing_is_open_at_the_venue() -> None:
    def submit(s: Recorder) -> None:
        s.notes["orders"] = [s.mit(BUY, "80.000"), s.mit(SELL, "99.000")]

    def cancel_all(s: Recorder) -> None:
        s.notes["before"] = [o.status for o in s.notes["orders"]]
        s.cancel_all_orders(IID)

    def look(s: Recorder) -> None:  # still running: the kernel's cancel at stop has not happened
        s.notes["after"] = [o.status for o in s.notes["orders"]]
        s.notes["held"] = s.cache.orders_with_status(OrderStatus.EMULATED)

    _, s, venue_events = run({0: submit, 2: cancel_all, 3: look})
    assert s.notes["before"] == [OrderStatus.EMULATED, OrderStatus.EMULATED]
    assert s.notes["after"] == [OrderStatus.CANCELED, OrderStatus.CANCELED]
    assert s.notes["held"] == []
    for order in s.notes["orders"]:
        assert s.names(order) == ["Emulated", "Canceled"]  # no pending state for a locally held order
    assert not any(isinstance(e, OrderEvent) for e in venue_events)  # the venue never heard of them


def test_cancel_all_orders_cancels_emulated_and_venue_orders_of_one_side_only() -> None:
    def submit(s: Recorder) -> None:
        s.notes["orders"] = [s.mit(BUY, "80.000"), s.limit(BUY, "85.000"), s.mit(SELL, "99.000")]

    def cancel_buys(s: Recorder) -> None:
        s.notes["before"] = [o.status for o in s.notes["orders"]]
        s.cancel_all_orders(IID, BUY)

    def look(s: Recorder) -> None:
        s.notes["after"] = [o.status for o in s.notes["orders"]]

    _, s, venue_events = run({0: submit, 2: cancel_buys, 3: look})
    emulated_buy, resting_buy, _ = s.notes["orders"]
    assert s.notes["before"] == [OrderStatus.EMULATED, OrderStatus.ACCEPTED, OrderStatus.EMULATED]
    # The SELL side stays held (the kernel cancels it only when the strategy stops).
    assert s.notes["after"] == [OrderStatus.CANCELED, OrderStatus.CANCELED, OrderStatus.EMULATED]
    # The resting limit was canceled by the venue, the emulated BUY locally.
    venue_cancels = {e.client_order_id for e in venue_events if isinstance(e, OrderCanceled)}
    assert resting_buy.client_order_id in venue_cancels
    assert emulated_buy.client_order_id not in venue_cancels
    assert s.names(emulated_buy) == ["Emulated", "Canceled"]
