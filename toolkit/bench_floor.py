"""The "floor" of `toolkit bench`: the strategy's own per-event work in a bare Python loop, with no engine.

The floor runs a fresh instance of the workload's strategy class (same config, same indicators) over the same
catalog stream (`DataCatalog.stream_objects`, so the same Arrow batches decoded into the same data objects) and
calls the handler the strategy subscribed, once per data object. The strategy is registered against stand-ins
(`FloorBus`, `FloorCache`, `FloorDataEngine`, `FloorClock`) instead of a kernel: its `submit_order`,
`modify_order` and `cancel_order` run unchanged, but every message they send is only appended to a list
(orders are counted, never sent). A strategy whose decisions depend on what the venue answers (the market
maker reads order states and its position) also needs those answers, so the engine run is first repeated once,
untimed, with a `Recorder` that notes every order and position event the engine handed the strategy and when:
inside which of the strategy's own sends (an `OrderSubmitted`, `OrderPendingUpdate`, a denial) or after which
data object (acceptances, fills, cancels, position events). The floor hands the same event objects back at the
same points, applying each to the strategy's own order object (`Order.apply`, the order state machine) and
keeping positions as the engine reported them, so the strategy makes exactly the decisions it made in the
engine; `FloorResult.sent` lets the caller check that, send by send. For L2 deltas the floor also applies each
delta to an `OrderBook` the strategy reads through its cache, as the data engine does. Time is read with
`time.perf_counter` around the run only; the strategy sees only `FloorClock`, set to each object's `ts_init`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from typing import Any

from toolkit.core.clock import Clock, TimeEventCallback, unix_nanos_to_datetime
from toolkit.engine import topics
from toolkit.model.book import OrderBook
from toolkit.model.enums import BookType, OrderSide, OrderStatus, PositionSide
from toolkit.model.events import OrderCancelRejected, OrderModifyRejected, PositionEvent
from toolkit.model.identifiers import ClientOrderId, InstrumentId, PositionId, StrategyId, TraderId
from toolkit.model.instruments import Instrument
from toolkit.model.objects import Quantity
from toolkit.model.orders import InvalidStateTransition, Order
from toolkit.trading.strategy import Strategy

STOP_SLOT = -1
"""Feedback slot of the events that arrive after the strategy's `on_stop` began (the final settle)."""
DATA_CALLBACKS = ("on_quote_tick", "on_trade_tick", "on_bar", "on_order_book_delta", "on_order_book_depth10")


class FloorDiverged(RuntimeError):
    """The floor's strategy did something the engine run did not show (the replay no longer applies)."""


def signature(msg: Any) -> tuple[str, str, str, str, str]:
    """What a strategy's send decided, comparable across runs: kind, order id, side, quantity and price.

    For a submit these come from the order's `OrderInitialized` (the order object changes as events apply)."""
    order = getattr(msg, "order", None)
    source = order.init if order is not None else msg
    side = getattr(source, "side", None)
    return (
        type(msg).__name__,
        str(getattr(source, "client_order_id", "")),
        side.value if isinstance(side, OrderSide) else "",
        str(getattr(source, "quantity", None) or ""),
        str(getattr(source, "price", None) or ""),
    )


# ---- recording an engine run ------------------------------------------------------------------------------


@dataclass
class Recording:
    """What one engine run showed the strategy, and what the strategy sent.

    `nested[k]` are the events handed to the strategy while its k-th send was running; `feedback[i]` those handed
    to it after its i-th data callback (0: after `on_start`; `STOP_SLOT`: after `on_stop`), outside any send.
    """

    trader_id: TraderId
    data_calls: int = 0
    sent: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    nested: dict[int, list[Any]] = field(default_factory=dict)
    feedback: dict[int, list[Any]] = field(default_factory=dict)
    stray: int = 0
    """Events handed to the strategy inside one of its callbacks but outside a send: the floor cannot replay them."""


class _SendRecorder:
    """Stands in for the strategy's message bus during the recording run: notes each send, then forwards it."""

    def __init__(self, bus: Any, recorder: Recorder) -> None:
        self._bus = bus
        self._recorder = recorder

    def send(self, endpoint: str, msg: Any) -> None:
        recorder = self._recorder
        recorder.open_sends.append(len(recorder.recording.sent))
        recorder.recording.sent.append(signature(msg))
        try:
            self._bus.send(endpoint, msg)
        finally:
            recorder.open_sends.pop()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bus, name)


class Recorder:
    """Wraps one strategy instance for an (untimed) engine run; see the module docstring.

    Call `install(strategy)` before `engine.add_strategy(strategy)` and `attach_bus(strategy)` right after it.
    """

    def __init__(self) -> None:
        self.recording = Recording(trader_id=TraderId("UNSET-000"))
        self.open_sends: list[int] = []
        self.depth = 0
        self.slot = 0

    def install(self, strategy: Strategy) -> None:
        for name in DATA_CALLBACKS:
            setattr(strategy, name, self._data(getattr(strategy, name)))
        strategy.on_start = self._callback(strategy.on_start)  # type: ignore[method-assign]
        strategy.on_stop = self._stop(strategy.on_stop)  # type: ignore[method-assign]
        # Instance attributes shadow the methods `register_base` subscribes to the order and position topics.
        strategy._handle_order_event = self._event(strategy._handle_order_event)  # type: ignore[method-assign]
        strategy._handle_position_event = self._event(strategy._handle_position_event)  # type: ignore[method-assign]

    def attach_bus(self, strategy: Strategy) -> None:
        """After registration: route the strategy's sends through the recorder (its one private hook)."""
        if strategy.trader_id is not None:
            self.recording.trader_id = strategy.trader_id
        strategy._msgbus = _SendRecorder(strategy.msgbus, self)  # type: ignore[assignment]

    def _callback(self, method: Callable[..., None]) -> Callable[..., None]:
        def call(*args: Any) -> None:
            self.depth += 1
            try:
                method(*args)
            finally:
                self.depth -= 1

        return call

    def _data(self, method: Callable[[Any], None]) -> Callable[[Any], None]:
        recording = self.recording

        def call(data: Any) -> None:
            self.depth += 1
            try:
                method(data)
            finally:
                self.depth -= 1
            recording.data_calls += 1
            self.slot = recording.data_calls

        return call

    def _stop(self, method: Callable[[], None]) -> Callable[[], None]:
        wrapped = self._callback(method)

        def call() -> None:
            self.slot = STOP_SLOT
            wrapped()

        return call

    def _event(self, method: Callable[[Any], None]) -> Callable[[Any], None]:
        recording = self.recording

        def call(event: Any) -> None:
            if self.open_sends:
                recording.nested.setdefault(self.open_sends[-1], []).append(event)
            elif self.depth:
                recording.stray += 1
            else:
                recording.feedback.setdefault(self.slot, []).append(event)
            self.depth += 1
            try:
                method(event)
            finally:
                self.depth -= 1

        return call


# ---- the stand-ins ----------------------------------------------------------------------------------------


class FloorClock(Clock):
    """The strategy's clock in the floor: `now` is set to each data object's ts_init; no timers."""

    def __init__(self, now: int = 0) -> None:
        self.now = now

    def timestamp_ns(self) -> int:
        return self.now

    def utc_now(self) -> datetime:
        return unix_nanos_to_datetime(self.now)

    @property
    def timer_names(self) -> list[str]:
        return []

    def next_time_ns(self, name: str) -> int:
        raise self._no_timers()

    def set_time_alert(
        self, name: str, alert_time_ns: int, callback: TimeEventCallback, allow_past: bool = False
    ) -> None:
        raise self._no_timers()

    def set_timer(
        self,
        name: str,
        interval_ns: int,
        callback: TimeEventCallback,
        start_time_ns: int | None = None,
        stop_time_ns: int | None = None,
        fire_immediately: bool = False,
    ) -> None:
        raise self._no_timers()

    def cancel_timer(self, name: str) -> None:
        raise self._no_timers()

    @staticmethod
    def _no_timers() -> NotImplementedError:
        return NotImplementedError("the bench floor has no timers (a workload strategy must not set any)")


class FloorPosition:
    """A position as the engine last reported it (from its `PositionEvent`s): what strategies read of one."""

    __slots__ = ("id", "instrument_id", "quantity", "side", "signed_qty_raw", "strategy_id", "ts_opened")

    def __init__(self, event: PositionEvent) -> None:
        self.id: PositionId = event.position_id
        self.instrument_id: InstrumentId = event.instrument_id
        self.strategy_id: StrategyId = event.strategy_id
        self.ts_opened = event.ts_opened
        self.update(event)

    def update(self, event: PositionEvent) -> None:
        self.side: PositionSide = event.side
        self.quantity: Quantity = event.quantity
        sign = 1 if event.side is PositionSide.LONG else -1 if event.side is PositionSide.SHORT else 0
        self.signed_qty_raw = sign * event.quantity.raw

    @property
    def is_open(self) -> bool:
        return self.signed_qty_raw != 0

    @property
    def is_closed(self) -> bool:
        return self.signed_qty_raw == 0


class FloorCache:
    """The reads the workload strategies make of `self.cache`, served from the floor's own state."""

    def __init__(self, instrument: Instrument) -> None:
        self._instrument = instrument
        self.orders: dict[ClientOrderId, Order] = {}
        self.positions: dict[PositionId, FloorPosition] = {}
        self.books: dict[InstrumentId, OrderBook] = {}

    def instrument(self, instrument_id: InstrumentId) -> Instrument | None:
        return self._instrument if instrument_id == self._instrument.id else None

    def instruments(self, venue: object = None) -> list[Instrument]:
        return [self._instrument]

    def load_strategy_state(self, key: object) -> dict[str, bytes]:
        return {}

    def order_book(self, instrument_id: InstrumentId) -> OrderBook | None:
        return self.books.get(instrument_id)

    def add_order(self, order: Order, position_id: PositionId | None = None) -> None:
        self.orders[order.client_order_id] = order

    def order(self, client_order_id: ClientOrderId) -> Order | None:
        return self.orders.get(client_order_id)

    def order_exists(self, client_order_id: ClientOrderId) -> bool:
        return client_order_id in self.orders

    def _orders(
        self,
        keep: Callable[[Order], bool],
        instrument_id: InstrumentId | None,
        strategy_id: StrategyId | None,
        side: OrderSide | None,
    ) -> list[Order]:
        found = [
            o
            for o in self.orders.values()
            if keep(o)
            and (instrument_id is None or o.instrument_id == instrument_id)
            and (strategy_id is None or o.strategy_id == strategy_id)
            and (side is None or side is OrderSide.NO_ORDER_SIDE or o.side is side)
        ]
        found.sort(key=lambda o: (o.ts_init, o.client_order_id))
        return found

    def orders_open(
        self,
        venue: object = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
        side: OrderSide | None = None,
    ) -> list[Order]:
        return self._orders(lambda o: o.is_open, instrument_id, strategy_id, side)

    def orders_inflight(
        self,
        venue: object = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
        side: OrderSide | None = None,
    ) -> list[Order]:
        return self._orders(lambda o: o.is_inflight, instrument_id, strategy_id, side)

    def orders_with_status(self, status: OrderStatus) -> list[Order]:
        return [o for o in self.orders.values() if o.status is status]

    def positions_open(
        self,
        venue: object = None,
        instrument_id: InstrumentId | None = None,
        strategy_id: StrategyId | None = None,
        side: PositionSide | None = None,
    ) -> list[FloorPosition]:
        return [
            p
            for p in self.positions.values()
            if p.signed_qty_raw
            and (instrument_id is None or p.instrument_id == instrument_id)
            and (strategy_id is None or p.strategy_id == strategy_id)
            and (side is None or p.side is side)
        ]


class FloorDataEngine:
    """Subscriptions in the floor: nothing to start, except the book a delta subscription keeps in the cache."""

    def __init__(self, cache: FloorCache) -> None:
        self.cache = cache

    def subscribe_quote_ticks(self, instrument_id: InstrumentId) -> None:
        pass

    def subscribe_trade_ticks(self, instrument_id: InstrumentId) -> None:
        pass

    def subscribe_bars(self, bar_type: object) -> None:
        if getattr(bar_type, "is_internal", False):
            raise NotImplementedError("the bench floor does not aggregate bars (subscribe to external bars)")

    def subscribe_order_book_deltas(self, instrument_id: InstrumentId, book_type: BookType = BookType.L2_MBP) -> None:
        if instrument_id not in self.cache.books:
            self.cache.books[instrument_id] = OrderBook(instrument_id, book_type)

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("unsubscribe_"):
            return lambda *args, **kwargs: None
        raise AttributeError(name)


class FloorBus:
    """The strategy's message bus in the floor: one handler per topic; `send` records and replays."""

    def __init__(self, nested: dict[int, list[Any]]) -> None:
        self.handlers: dict[str, Callable[[Any], None]] = {}
        self.sent: list[Any] = []
        self._nested = nested
        self.deliver: Callable[[Any], None] = lambda event: None

    def subscribe(self, topic: str, handler: Callable[[Any], None], priority: int = 0) -> None:
        if topic in self.handlers:
            raise ValueError(f"the bench floor keeps one handler per topic; {topic!r} already has one")
        self.handlers[topic] = handler

    def unsubscribe(self, topic: str, handler: Callable[[Any], None]) -> None:
        self.handlers.pop(topic, None)

    def is_subscribed(self, topic: str, handler: Callable[[Any], None]) -> bool:
        return self.handlers.get(topic) == handler

    def publish(self, topic: str, msg: Any) -> None:
        handler = self.handlers.get(topic)
        if handler is not None:
            handler(msg)

    def send(self, endpoint: str, msg: Any) -> None:
        index = len(self.sent)
        self.sent.append(msg)  # counted, not sent
        events = self._nested.get(index)
        if events is not None:
            deliver = self.deliver
            for event in events:
                deliver(event)


# ---- the floor run ----------------------------------------------------------------------------------------


@dataclass
class FloorResult:
    events: int
    wall_s: float
    time_to_first_event_s: float | None
    sent: list[Any]
    orders: int


def run_floor(
    strategy: Strategy,
    open_stream: Callable[[], Iterator[Any]],
    data_topic: str,
    instrument: Instrument,
    recording: Recording,
    keep_book: bool = False,
) -> FloorResult:
    """Run `strategy` (a fresh instance) over `open_stream()` with no engine; see the module docstring.

    `data_topic` is the topic the engine publishes the data on (the strategy's handler for it is called per
    object); `keep_book` applies each object (an `OrderBookDelta`) to the book of the strategy's cache first.
    """
    if recording.stray:
        raise FloorDiverged(f"{recording.stray} events reached the strategy inside a callback, outside a send")
    clock = FloorClock()
    cache = FloorCache(instrument)
    bus = FloorBus(recording.nested)
    strategy.register_base(
        recording.trader_id,
        clock,
        bus,  # type: ignore[arg-type]
        cache,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        FloorDataEngine(cache),  # type: ignore[arg-type]
    )
    order_handler = bus.handlers[topics.order_events_topic(strategy.strategy_id)]
    position_handler = bus.handlers[topics.position_events_topic(strategy.strategy_id)]
    orders, positions = cache.orders, cache.positions

    def deliver(event: Any) -> None:
        if isinstance(event, PositionEvent):
            position = positions.get(event.position_id)
            if position is None:
                positions[event.position_id] = FloorPosition(event)
            else:
                position.update(event)
            position_handler(event)
            return
        order = orders.get(event.client_order_id)
        if order is None:
            raise FloorDiverged(f"{type(event).__name__} for {event.client_order_id}, an order the floor never made")
        try:
            order.apply(event)
        except (InvalidStateTransition, ValueError) as exc:
            # The engine hands a refused cancel/modify of an order that has closed meanwhile to the strategy
            # without applying it; anything else means the replay went off track.
            if not (isinstance(event, (OrderCancelRejected, OrderModifyRejected)) and order.is_closed):
                raise FloorDiverged(f"cannot apply {event!r}: {exc}") from exc
        order_handler(event)

    bus.deliver = deliver
    feedback = recording.feedback
    slots = sorted(slot for slot in feedback if slot > 0)
    slots.append(-2)  # never reached: the loop's count is positive
    started = time.perf_counter()
    stream = open_stream()
    first = next(stream, None)
    first_event_at = time.perf_counter()
    if first is None:
        raise ValueError("the floor's data stream is empty")
    clock.now = first.ts_init
    strategy.start()
    handler = bus.handlers[data_topic]
    for event in feedback.get(0, ()):
        deliver(event)
    data = chain((first,), stream)  # the first object, read above for its timing, goes through the same loop
    if keep_book:
        count = _loop_with_book(data, clock, handler, cache, instrument, feedback, deliver, slots)
    else:
        count = _loop(data, clock, handler, feedback, deliver, slots)
    strategy.stop()
    for event in feedback.get(STOP_SLOT, ()):
        deliver(event)
    wall = time.perf_counter() - started

    submits = sum(1 for msg in bus.sent if type(msg).__name__ == "SubmitOrder")
    return FloorResult(
        events=count,
        wall_s=wall,
        time_to_first_event_s=first_event_at - started,
        sent=bus.sent,
        orders=submits,
    )


def _loop(
    stream: Iterator[Any],
    clock: FloorClock,
    handler: Callable[[Any], None],
    feedback: dict[int, list[Any]],
    deliver: Callable[[Any], None],
    slots: list[int],
) -> int:
    """One handler call per object; the recorded venue answers after the objects they followed."""
    position = 0
    next_slot = slots[0]
    count = 0
    for count, data in enumerate(stream, 1):
        clock.now = data.ts_init
        handler(data)
        if count == next_slot:
            for event in feedback[count]:
                deliver(event)
            position += 1
            next_slot = slots[position]
    return count


def _loop_with_book(
    stream: Iterator[Any],
    clock: FloorClock,
    handler: Callable[[Any], None],
    cache: FloorCache,
    instrument: Instrument,
    feedback: dict[int, list[Any]],
    deliver: Callable[[Any], None],
    slots: list[int],
) -> int:
    """`_loop` for book deltas: each delta goes into the strategy's book before its handler sees it."""
    book = cache.books.get(instrument.id)
    if book is None:
        raise FloorDiverged(f"the strategy did not subscribe to {instrument.id}'s book deltas")
    apply = book.apply_delta
    position = 0
    next_slot = slots[0]
    count = 0
    for count, data in enumerate(stream, 1):
        clock.now = data.ts_init
        apply(data)
        handler(data)
        if count == next_slot:
            for event in feedback[count]:
                deliver(event)
            position += 1
            next_slot = slots[position]
    return count
