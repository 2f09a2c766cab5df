"""`Actor` and `Strategy`: the classes users subclass, identical in backtest and live.

An `Actor` receives market data it subscribed to (`on_quote_tick`, `on_trade_tick`, `on_bar`),
timer events through `self.clock`, and lifecycle calls (`on_start`, `on_stop`, `on_resume`,
`on_reset`, `on_save`/`on_load` for state kept across restarts). A `Strategy` also trades: it
builds orders with `self.order_factory`, sends them with `submit_order`, `submit_order_list`,
`modify_order`, `cancel_order`, `cancel_all_orders`, `close_position` and `close_all_positions`,
and hears back through `on_order_*` (one handler per order event), `on_position_opened/changed/closed`
and `on_event`. With `manage_contingent_orders` / `manage_gtd_expiry` an `OrderManager` handles
OTO/OCO/OUO links and GTD expiry on the client side after the user's handlers have run. Time comes
only from `self.clock`; state from `self.cache` and `self.portfolio`. Callbacks run on the engine's
thread (the live node's event loop): keep them quick and move blocking work to an executor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from toolkit.core.component import Component
from toolkit.engine import topics
from toolkit.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
from toolkit.model.data import Bar, BarType, OrderBookDelta, OrderBookDepth10, QuoteTick, TradeTick
from toolkit.model.enums import OrderSide, OrderStatus, PositionSide
from toolkit.model.events import (
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderEmulated,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderInitialized,
    OrderModifyRejected,
    OrderPendingCancel,
    OrderPendingUpdate,
    OrderRejected,
    OrderReleased,
    OrderSubmitted,
    OrderTriggered,
    OrderUpdated,
    PositionChanged,
    PositionClosed,
    PositionEvent,
    PositionOpened,
)
from toolkit.model.identifiers import InstrumentId, PositionId, StrategyId, TraderId
from toolkit.model.objects import Price, Quantity
from toolkit.model.orders import Order, OrderList
from toolkit.trading.config import ActorConfig, StrategyConfig
from toolkit.trading.order_factory import OrderFactory
from toolkit.trading.order_manager import OrderManager, OrderManagerHost

if TYPE_CHECKING:
    from toolkit.core.cache import Cache
    from toolkit.core.clock import Clock
    from toolkit.core.msgbus import MessageBus
    from toolkit.engine.data import DataEngine
    from toolkit.engine.portfolio import Portfolio

_ORDER_HANDLER_NAMES: dict[type, str] = {
    OrderInitialized: "on_order_initialized",
    OrderDenied: "on_order_denied",
    OrderEmulated: "on_order_emulated",
    OrderReleased: "on_order_released",
    OrderSubmitted: "on_order_submitted",
    OrderAccepted: "on_order_accepted",
    OrderRejected: "on_order_rejected",
    OrderCanceled: "on_order_canceled",
    OrderExpired: "on_order_expired",
    OrderTriggered: "on_order_triggered",
    OrderPendingUpdate: "on_order_pending_update",
    OrderPendingCancel: "on_order_pending_cancel",
    OrderModifyRejected: "on_order_modify_rejected",
    OrderCancelRejected: "on_order_cancel_rejected",
    OrderUpdated: "on_order_updated",
    OrderFilled: "on_order_filled",
}
_POSITION_HANDLER_NAMES: dict[type, str] = {
    PositionOpened: "on_position_opened",
    PositionChanged: "on_position_changed",
    PositionClosed: "on_position_closed",
}


class Actor(Component):
    """A component that reads data, timers and state; see the module docstring."""

    def __init__(self, config: ActorConfig | None = None, component_id: str | None = None) -> None:
        config = config if config is not None else ActorConfig()
        super().__init__(component_id or config.component_id or f"{type(self).__name__}-000")
        self.config = config
        self.trader_id: TraderId | None = None
        self._cache: Cache | None = None
        self._portfolio: Portfolio | None = None
        self._data_engine: DataEngine | None = None
        self._data_subscriptions: dict[str, Callable[[Any], None]] = {}
        self._indicators: dict[str, list[Any]] = {}

    # ---- wiring (done by the trader) -----------------------------------------------------------
    def register_base(
        self,
        trader_id: TraderId,
        clock: Clock,
        msgbus: MessageBus,
        cache: Cache,
        portfolio: Portfolio,
        data_engine: DataEngine,
    ) -> None:
        self.register(clock, msgbus)
        self.trader_id = trader_id
        self._cache = cache
        self._portfolio = portfolio
        self._data_engine = data_engine

    @property
    def cache(self) -> Cache:
        if self._cache is None:
            raise RuntimeError(f"{self.id} is not registered with a trader: no cache yet")
        return self._cache

    @property
    def portfolio(self) -> Portfolio:
        if self._portfolio is None:
            raise RuntimeError(f"{self.id} is not registered with a trader: no portfolio yet")
        return self._portfolio

    # ---- lifecycle hooks for users ------------------------------------------------------------
    def on_start(self) -> None:
        """Called when the component starts: subscribe to data, create indicators, set timers."""

    def on_stop(self) -> None:
        """Called when the component stops: cancel orders, close positions if you want to."""

    def on_resume(self) -> None:
        """Called when a stopped component starts again."""

    def on_reset(self) -> None:
        """Reset indicators and any state between backtest runs."""

    def on_dispose(self) -> None:
        """Release resources for good."""

    def on_save(self) -> dict[str, bytes]:
        """State to keep across restarts (persisted by the live node's cache database)."""
        return {}

    def on_load(self, state: dict[str, bytes]) -> None:
        """Restore what `on_save` returned, before `on_start`."""

    def on_quote_tick(self, tick: QuoteTick) -> None:
        """A subscribed quote."""

    def on_trade_tick(self, tick: TradeTick) -> None:
        """A subscribed trade."""

    def on_bar(self, bar: Bar) -> None:
        """A subscribed bar (after the venue has replayed it, in a backtest)."""

    def on_order_book_delta(self, delta: OrderBookDelta) -> None:
        """A subscribed order book delta."""

    def on_order_book_depth10(self, depth: OrderBookDepth10) -> None:
        """A subscribed depth-10 snapshot."""

    def on_event(self, event: Event) -> None:
        """Every order and position event of a strategy, after its specific handler."""

    # ---- component hooks -----------------------------------------------------------------------
    def _on_start(self) -> None:
        state = self.cache.load_strategy_state(self._state_key())
        if state:
            self.on_load(state)
        self._take_up_orders()
        self.on_start()

    def _take_up_orders(self) -> None:
        """Orders already in the cache at start (restored after a restart): nothing to do for an actor."""

    def _on_stop(self) -> None:
        self.on_stop()
        for topic, handler in self._data_subscriptions.items():
            if self.msgbus.is_subscribed(topic, handler):
                self.msgbus.unsubscribe(topic, handler)

    def _on_resume(self) -> None:
        for topic, handler in self._data_subscriptions.items():
            if not self.msgbus.is_subscribed(topic, handler):
                self.msgbus.subscribe(topic, handler)
        self.on_resume()

    def _on_reset(self) -> None:
        # Back to the just-registered state: `on_start` subscribes and registers indicators again.
        for topic, handler in self._data_subscriptions.items():
            if self.msgbus.is_subscribed(topic, handler):
                self.msgbus.unsubscribe(topic, handler)
        self._data_subscriptions.clear()
        self._indicators.clear()
        self.on_reset()

    def _on_dispose(self) -> None:
        self.on_dispose()

    def _state_key(self) -> Any:
        return self.id

    def save(self) -> None:
        """Store `on_save()` in the cache (the live node persists it)."""
        self.cache.save_strategy_state(self._state_key(), self.on_save())

    # ---- data subscriptions ------------------------------------------------------------------
    def _subscribe(self, topic: str, handler: Callable[[Any], None]) -> bool:
        """Subscribe `handler` to `topic`; False (and a warning) when this component already is."""
        if topic in self._data_subscriptions:
            self.log.warning("already subscribed to %s", topic)
            return False
        self._data_subscriptions[topic] = handler
        self.msgbus.subscribe(topic, handler)
        return True

    def _unsubscribe(self, topic: str) -> bool:
        handler = self._data_subscriptions.pop(topic, None)
        if handler is None:
            self.log.warning("not subscribed to %s", topic)
            return False
        if self.msgbus.is_subscribed(topic, handler):
            self.msgbus.unsubscribe(topic, handler)
        return True

    def _handler_for(self, topic: str, callback: Callable[[Any], None], method: str) -> Callable[[Any], None]:
        """The callback itself, or a wrapper that first updates the indicators registered for the topic."""
        indicators = self._indicators.get(topic)
        if not indicators:
            return callback

        # Bound once: registering another indicator rebinds the topic with a new wrapper.
        updates = tuple(getattr(indicator, method) for indicator in indicators)

        def update_then_call(data: Any) -> None:
            for update in updates:
                update(data)
            callback(data)

        return update_then_call

    def _rebind(self, topic: str, callback: Callable[[Any], None], method: str) -> None:
        old = self._data_subscriptions.get(topic)
        if old is None:
            return
        new = self._handler_for(topic, callback, method)
        if self.msgbus.is_subscribed(topic, old):
            self.msgbus.unsubscribe(topic, old)
            self.msgbus.subscribe(topic, new)
        self._data_subscriptions[topic] = new

    def subscribe_quote_ticks(self, instrument_id: InstrumentId | str) -> None:
        iid = InstrumentId(instrument_id)
        self._require_instrument(iid)
        topic = topics.quotes_topic(iid)
        if self._subscribe(topic, self._handler_for(topic, self.on_quote_tick, "handle_quote_tick")):
            self._engine().subscribe_quote_ticks(iid)

    def unsubscribe_quote_ticks(self, instrument_id: InstrumentId | str) -> None:
        iid = InstrumentId(instrument_id)
        if self._unsubscribe(topics.quotes_topic(iid)):
            self._engine().unsubscribe_quote_ticks(iid)

    def subscribe_trade_ticks(self, instrument_id: InstrumentId | str) -> None:
        iid = InstrumentId(instrument_id)
        self._require_instrument(iid)
        topic = topics.trades_topic(iid)
        if self._subscribe(topic, self._handler_for(topic, self.on_trade_tick, "handle_trade_tick")):
            self._engine().subscribe_trade_ticks(iid)

    def unsubscribe_trade_ticks(self, instrument_id: InstrumentId | str) -> None:
        iid = InstrumentId(instrument_id)
        if self._unsubscribe(topics.trades_topic(iid)):
            self._engine().unsubscribe_trade_ticks(iid)

    def subscribe_bars(self, bar_type: BarType | str) -> None:
        bt = bar_type if isinstance(bar_type, BarType) else BarType.from_str(bar_type)
        self._require_instrument(bt.instrument_id)
        topic = topics.bars_topic(bt)
        if self._subscribe(topic, self._handler_for(topic, self.on_bar, "handle_bar")):
            self._engine().subscribe_bars(bt)

    def unsubscribe_bars(self, bar_type: BarType | str) -> None:
        bt = bar_type if isinstance(bar_type, BarType) else BarType.from_str(bar_type)
        if self._unsubscribe(topics.bars_topic(bt)):
            self._engine().unsubscribe_bars(bt)

    def subscribe_order_book_deltas(self, instrument_id: InstrumentId | str) -> None:
        iid = InstrumentId(instrument_id)
        self._require_instrument(iid)
        if self._subscribe(topics.deltas_topic(iid), self.on_order_book_delta):
            self._engine().subscribe_order_book_deltas(iid)

    def unsubscribe_order_book_deltas(self, instrument_id: InstrumentId | str) -> None:
        iid = InstrumentId(instrument_id)
        if self._unsubscribe(topics.deltas_topic(iid)):
            self._engine().unsubscribe_order_book_deltas(iid)

    def subscribe_order_book_depth10(self, instrument_id: InstrumentId | str) -> None:
        """Depth-10 snapshots of the instrument; the data engine also keeps its book in the cache."""
        iid = InstrumentId(instrument_id)
        self._require_instrument(iid)
        if self._subscribe(topics.depth10_topic(iid), self.on_order_book_depth10):
            self._engine().subscribe_order_book_depth10(iid)

    def unsubscribe_order_book_depth10(self, instrument_id: InstrumentId | str) -> None:
        iid = InstrumentId(instrument_id)
        if self._unsubscribe(topics.depth10_topic(iid)):
            self._engine().unsubscribe_order_book_depth10(iid)

    def register_indicator_for_quote_ticks(self, instrument_id: InstrumentId | str, indicator: Any) -> None:
        """Update `indicator` with each quote before `on_quote_tick` sees it."""
        topic = topics.quotes_topic(InstrumentId(instrument_id))
        self._indicators.setdefault(topic, []).append(indicator)
        self._rebind(topic, self.on_quote_tick, "handle_quote_tick")

    def register_indicator_for_trade_ticks(self, instrument_id: InstrumentId | str, indicator: Any) -> None:
        topic = topics.trades_topic(InstrumentId(instrument_id))
        self._indicators.setdefault(topic, []).append(indicator)
        self._rebind(topic, self.on_trade_tick, "handle_trade_tick")

    def register_indicator_for_bars(self, bar_type: BarType | str, indicator: Any) -> None:
        """Update `indicator` with each bar before `on_bar` sees it."""
        bt = bar_type if isinstance(bar_type, BarType) else BarType.from_str(bar_type)
        topic = topics.bars_topic(bt)
        self._indicators.setdefault(topic, []).append(indicator)
        self._rebind(topic, self.on_bar, "handle_bar")

    def _engine(self) -> DataEngine:
        if self._data_engine is None:
            raise RuntimeError(f"{self.id} is not registered with a trader: cannot subscribe yet")
        return self._data_engine

    def _require_instrument(self, instrument_id: InstrumentId) -> None:
        if self.cache.instrument(instrument_id) is None:
            known = ", ".join(str(i.id) for i in self.cache.instruments()) or "none"
            raise ValueError(f"{self.id}: unknown instrument {instrument_id} (known: {known})")


class Strategy(Actor):
    """An actor that trades; see the module docstring."""

    def __init__(self, config: StrategyConfig | None = None) -> None:
        config = config if config is not None else StrategyConfig()
        strategy_id = StrategyId(config.strategy_id or f"{type(self).__name__}-{config.order_id_tag}")
        super().__init__(ActorConfig(log_events=config.log_events), component_id=str(strategy_id))
        self.config = config  # type: ignore[assignment]
        self.strategy_id = strategy_id
        self.oms_type = config.oms_type
        self._order_factory: OrderFactory | None = None
        self._order_manager: OrderManager | None = None
        self._order_handlers: dict[type, Callable[[Any], None]] = {}
        self._position_handlers: dict[type, Callable[[Any], None]] = {}

    def register_base(
        self,
        trader_id: TraderId,
        clock: Clock,
        msgbus: MessageBus,
        cache: Cache,
        portfolio: Portfolio,
        data_engine: DataEngine,
    ) -> None:
        super().register_base(trader_id, clock, msgbus, cache, portfolio, data_engine)
        self._order_factory = OrderFactory(
            trader_id, self.strategy_id, clock, use_uuids=self.config.use_uuid_client_order_ids
        )
        if self.config.manage_contingent_orders or self.config.manage_gtd_expiry:
            host = OrderManagerHost(
                lookup=cache.order,
                submit=self._send_submit,
                modify=lambda order, quantity: self.modify_order(order, quantity=quantity),
                cancel=self.cancel_order,
                process_local=self._process_local,
            )
            self._order_manager = OrderManager(
                host,
                clock,
                name=str(self.strategy_id),
                manage_contingent_orders=self.config.manage_contingent_orders,
                manage_gtd_expiry=self.config.manage_gtd_expiry,
                trigger_mode=self.config.oto_trigger_mode,
            )
        self._order_handlers = {kind: getattr(self, name) for kind, name in _ORDER_HANDLER_NAMES.items()}
        self._position_handlers = {kind: getattr(self, name) for kind, name in _POSITION_HANDLER_NAMES.items()}
        msgbus.subscribe(topics.order_events_topic(self.strategy_id), self._handle_order_event)
        msgbus.subscribe(topics.position_events_topic(self.strategy_id), self._handle_position_event)

    @property
    def order_factory(self) -> OrderFactory:
        if self._order_factory is None:
            raise RuntimeError(f"{self.id} is not registered with a trader: no order factory yet")
        return self._order_factory

    @property
    def order_manager(self) -> OrderManager | None:
        """The client-side contingent-order / GTD manager, or None when the config asks for neither."""
        return self._order_manager

    def _take_up_orders(self) -> None:
        """The order manager takes up the strategy's orders the cache already holds (a live node restores them
        after a restart): held bracket children and GTD alerts are in memory only."""
        if self._order_manager is not None:
            self._order_manager.restore(self.cache.orders(strategy_id=self.strategy_id))

    def _on_reset(self) -> None:
        if self._order_factory is not None:
            self._order_factory.reset()
        if self._order_manager is not None:
            self._order_manager.reset()
        super()._on_reset()

    # ---- event handlers for users ----------------------------------------------------------------
    def on_order_initialized(self, event: OrderInitialized) -> None: ...
    def on_order_denied(self, event: OrderDenied) -> None: ...
    def on_order_emulated(self, event: OrderEmulated) -> None: ...
    def on_order_released(self, event: OrderReleased) -> None: ...
    def on_order_submitted(self, event: OrderSubmitted) -> None: ...
    def on_order_accepted(self, event: OrderAccepted) -> None: ...
    def on_order_rejected(self, event: OrderRejected) -> None: ...
    def on_order_canceled(self, event: OrderCanceled) -> None: ...
    def on_order_expired(self, event: OrderExpired) -> None: ...
    def on_order_triggered(self, event: OrderTriggered) -> None: ...
    def on_order_pending_update(self, event: OrderPendingUpdate) -> None: ...
    def on_order_pending_cancel(self, event: OrderPendingCancel) -> None: ...
    def on_order_modify_rejected(self, event: OrderModifyRejected) -> None: ...
    def on_order_cancel_rejected(self, event: OrderCancelRejected) -> None: ...
    def on_order_updated(self, event: OrderUpdated) -> None: ...
    def on_order_filled(self, event: OrderFilled) -> None: ...
    def on_order_event(self, event: OrderEvent) -> None: ...
    def on_position_opened(self, event: PositionOpened) -> None: ...
    def on_position_changed(self, event: PositionChanged) -> None: ...
    def on_position_closed(self, event: PositionClosed) -> None: ...
    def on_position_event(self, event: PositionEvent) -> None: ...

    def _handle_order_event(self, event: OrderEvent) -> None:
        handler = self._order_handlers.get(type(event))
        if handler is not None:
            handler(event)
        self.on_order_event(event)
        self.on_event(event)
        if self._order_manager is not None:
            self._order_manager.handle_event(event)

    def _handle_position_event(self, event: PositionEvent) -> None:
        handler = self._position_handlers.get(type(event))
        if handler is not None:
            handler(event)
        self.on_position_event(event)
        self.on_event(event)
        if self._order_manager is not None:
            self._order_manager.handle_position_event(event)

    # ---- trading -------------------------------------------------------------------------------
    def submit_order(self, order: Order, position_id: PositionId | None = None) -> None:
        """Send a new order (INITIALIZED, built by `order_factory`) through the risk engine to its venue."""
        if order.strategy_id != self.strategy_id:
            raise ValueError(f"{self.id}: order {order.client_order_id} belongs to strategy {order.strategy_id}")
        if order.status is not OrderStatus.INITIALIZED:
            raise ValueError(f"{self.id}: order {order.client_order_id} was already submitted ({order.status.value})")
        self.cache.add_order(order, position_id)
        self._send_submit(order, position_id)

    def submit_order_list(self, order_list: OrderList, position_id: PositionId | None = None) -> None:
        """Send the orders of a list (e.g. `order_factory.bracket(...)`) as SubmitOrder commands, in list order.

        Every order is added to the cache first. Without `manage_contingent_orders` all are sent at once and the
        venue handles their contingency fields; with it, OTO children are held here until their parent fills
        (see `toolkit.trading.order_manager`).
        """
        if not isinstance(order_list, OrderList):
            raise TypeError(f"{self.id}: submit_order_list needs an OrderList, got {type(order_list).__name__}")
        for order in order_list:
            if order.strategy_id != self.strategy_id:
                raise ValueError(f"{self.id}: order {order.client_order_id} belongs to strategy {order.strategy_id}")
            if order.status is not OrderStatus.INITIALIZED:
                raise ValueError(
                    f"{self.id}: order {order.client_order_id} was already submitted ({order.status.value})"
                )
            if self.cache.order_exists(order.client_order_id):
                raise ValueError(f"{self.id}: order {order.client_order_id} is already in the cache")
        for order in order_list:
            self.cache.add_order(order, position_id)
        to_send = list(order_list) if self._order_manager is None else self._order_manager.split_list(order_list.orders)
        for order in to_send:
            if order.status is OrderStatus.INITIALIZED:  # an earlier one's denial may have discarded it
                self._send_submit(order, position_id)

    def _send_submit(self, order: Order, position_id: PositionId | None) -> None:
        """Send an order already in the cache through the risk engine."""
        if self._order_manager is not None:
            self._order_manager.on_submit(order)
        command = SubmitOrder(
            trader_id=order.trader_id,
            strategy_id=self.strategy_id,
            instrument_id=order.instrument_id,
            order=order,
            position_id=position_id,
            venue_links=not self.config.manage_contingent_orders,
            ts_init=self.clock.timestamp_ns(),
        )
        self.msgbus.send(topics.RISK_ENGINE_EXECUTE, command)

    def modify_order(
        self,
        order: Order,
        quantity: Quantity | None = None,
        price: Price | None = None,
        trigger_price: Price | None = None,
    ) -> None:
        """Ask the venue to change a working order; `on_order_updated` or `on_order_modify_rejected` follows.

        An order held back by the order manager (an OTO child whose parent has not filled) is changed here at once.
        """
        held = self._is_held(order)
        if order.is_closed or (order.status is OrderStatus.INITIALIZED and not held):
            self.log.warning("cannot modify %s: it is %s", order.client_order_id, order.status.value)
            return
        unchanged = (
            (quantity is None or quantity == order.quantity)
            and (price is None or price == order.price)
            and (trigger_price is None or trigger_price == order.trigger_price)
        )
        if unchanged:
            self.log.warning("modify of %s changes nothing: not sent", order.client_order_id)
            return
        if held:
            fields = {"quantity": quantity or order.quantity, "price": price, "trigger_price": trigger_price}
            self._process_local(order, OrderUpdated, fields)
            return
        now = self.clock.timestamp_ns()
        if order.status is not OrderStatus.PENDING_UPDATE:
            self._send_pending(order, OrderPendingUpdate, now)
        self.msgbus.send(
            topics.RISK_ENGINE_EXECUTE,
            ModifyOrder(
                trader_id=order.trader_id,
                strategy_id=self.strategy_id,
                instrument_id=order.instrument_id,
                client_order_id=order.client_order_id,
                quantity=quantity,
                price=price,
                trigger_price=trigger_price,
                ts_init=now,
            ),
        )

    def cancel_order(self, order: Order) -> None:
        """Ask the venue to cancel; `on_order_canceled` or `on_order_cancel_rejected` follows.

        An order held back by the order manager is canceled here at once (it never reaches the venue).
        """
        if self._is_held(order) and self._order_manager is not None:
            self._order_manager.discard(order)
            return
        if order.is_closed or order.status is OrderStatus.INITIALIZED:
            self.log.warning("cannot cancel %s: it is %s", order.client_order_id, order.status.value)
            return
        now = self.clock.timestamp_ns()
        if order.status is not OrderStatus.PENDING_CANCEL:
            self._send_pending(order, OrderPendingCancel, now)
        self.msgbus.send(
            topics.RISK_ENGINE_EXECUTE,
            CancelOrder(
                trader_id=order.trader_id,
                strategy_id=self.strategy_id,
                instrument_id=order.instrument_id,
                client_order_id=order.client_order_id,
                ts_init=now,
            ),
        )

    def cancel_all_orders(self, instrument_id: InstrumentId | str, order_side: OrderSide | None = None) -> None:
        """Cancel this strategy's open, in-flight and emulated orders on the instrument (optionally one side).

        One `CancelAllOrders` goes out: the order emulator cancels the emulated ones locally (`OrderCanceled`,
        no pending state), the venue the rest.
        """
        iid = InstrumentId(instrument_id)
        side = order_side or OrderSide.NO_ORDER_SIDE
        orders = self.cache.orders_open(instrument_id=iid, strategy_id=self.strategy_id, side=order_side)
        orders += self.cache.orders_inflight(instrument_id=iid, strategy_id=self.strategy_id, side=order_side)
        emulated = [
            o
            for o in self.cache.orders_with_status(OrderStatus.EMULATED)
            if o.instrument_id == iid
            and o.strategy_id == self.strategy_id
            and (side is OrderSide.NO_ORDER_SIDE or o.side is side)
        ]
        if not orders and not emulated:
            return
        now = self.clock.timestamp_ns()
        for order in {o.client_order_id: o for o in orders}.values():
            if order.status is not OrderStatus.PENDING_CANCEL:
                self._send_pending(order, OrderPendingCancel, now)
        self.msgbus.send(
            topics.RISK_ENGINE_EXECUTE,
            CancelAllOrders(
                trader_id=self.trader_id,  # type: ignore[arg-type]
                strategy_id=self.strategy_id,
                instrument_id=iid,
                order_side=side,
                ts_init=now,
            ),
        )

    def close_position(self, position: Any, tags: tuple[str, ...] = ()) -> None:
        """Flatten a position with a reduce-only market order for its whole quantity."""
        if not position.is_open:
            self.log.warning("position %s is already closed", position.id)
            return
        side = OrderSide.SELL if position.side is PositionSide.LONG else OrderSide.BUY
        order = self.order_factory.market(
            position.instrument_id, side, position.quantity, reduce_only=True, tags=tags or ("CLOSE",)
        )
        self.submit_order(order, position_id=position.id)

    def close_all_positions(
        self, instrument_id: InstrumentId | str, position_side: PositionSide | None = None, tags: tuple[str, ...] = ()
    ) -> None:
        for position in self.cache.positions_open(
            instrument_id=InstrumentId(instrument_id), strategy_id=self.strategy_id, side=position_side
        ):
            self.close_position(position, tags)

    def _is_held(self, order: Order) -> bool:
        manager = self._order_manager
        return manager is not None and order.status is OrderStatus.INITIALIZED and order.client_order_id in manager.held

    def _process_local(self, order: Order, event_type: type, fields: dict[str, object]) -> None:
        """Apply an event made here (a held order canceled or resized before it was ever sent)."""
        now = self.clock.timestamp_ns()
        self.msgbus.send(
            topics.EXEC_ENGINE_PROCESS,
            event_type(
                trader_id=order.trader_id,
                strategy_id=order.strategy_id,
                instrument_id=order.instrument_id,
                client_order_id=order.client_order_id,
                ts_event=now,
                ts_init=now,
                **fields,
            ),
        )

    def _send_pending(self, order: Order, event_type: type, now: int) -> None:
        self.msgbus.send(
            topics.EXEC_ENGINE_PROCESS,
            event_type(
                trader_id=order.trader_id,
                strategy_id=order.strategy_id,
                instrument_id=order.instrument_id,
                client_order_id=order.client_order_id,
                venue_order_id=order.venue_order_id,
                account_id=order.account_id,
                ts_event=now,
                ts_init=now,
            ),
        )
