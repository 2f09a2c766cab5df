"""The order emulator: holds orders whose `emulation_trigger` is set and releases them when the market says so.

An order with `emulation_trigger != NO_TRIGGER` never goes to the venue as submitted. After the risk engine
accepts it, the execution engine hands it here: the emulator applies `OrderEmulated` (status EMULATED),
subscribes to the data its trigger reads (quotes for DEFAULT/BID_ASK/MID_POINT, trades for LAST_PRICE, both
for LAST_OR_BID_ASK) and checks it on every such data point with the predicates of the venue spec §3.1
(stops: BUY when reference >= trigger, SELL when <=; MIT/LIT and emulated LIMITs: the reverse) against the
reference price of its `emulation_trigger` (ask for a BUY and bid for a SELL, the last trade, the last else
bid/ask, or the exact mid). Trailing stops activate at their activation price (at once without one), then
trail by their offset (PRICE, BASIS_POINTS of the reference, or TICKS; the result rounded to the tick away
from the market), a SELL trigger only up and a BUY trigger only down, the limit of a stop-limit likewise by
`limit_offset`; every move is an `OrderUpdated`. On trigger the order is released: `OrderReleased` (status
RELEASED, `released_price` = the reference price for market-type orders, the limit for limit-type ones), its
`order_type` becomes MARKET (STOP_MARKET, MARKET_IF_TOUCHED, TRAILING_STOP_MARKET) or LIMIT at its current
limit (STOP_LIMIT, LIMIT_IF_TOUCHED, TRAILING_STOP_LIMIT, LIMIT), and it is submitted again through the risk
engine under the **same client order id and the same `Order` object**, so a strategy tracks one order
(RELEASED -> SUBMITTED, or DENIED). The type change is part of applying `OrderReleased`
(`Order.apply`), so an order rebuilt from its events after a restart has the released type too. Cancels and modifies
of a held order are answered locally (`OrderCanceled`, `OrderUpdated`; no venue round trip), a GTD order
expires locally on a kernel-clock alert, and the kernel cancels (with events) the held orders of strategies
that stop with `cancel_orders_on_stop`. Held orders are not "open" in the cache (spec §9: no venue has them);
list them with `orders()` or `cache.orders_with_status(OrderStatus.EMULATED)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import msgspec

from toolkit.engine import topics
from toolkit.model.commands import (
    BatchCancelOrders,
    CancelAllOrders,
    CancelOrder,
    ModifyOrder,
    SubmitOrder,
    TradingCommand,
)
from toolkit.model.enums import OrderSide, OrderStatus, OrderType, TrailingOffsetType, TriggerType
from toolkit.model.events import (
    OrderCanceled,
    OrderDenied,
    OrderEmulated,
    OrderEvent,
    OrderExpired,
    OrderModifyRejected,
    OrderReleased,
    OrderUpdated,
)
from toolkit.model.identifiers import ClientOrderId, InstrumentId, PositionId, StrategyId
from toolkit.model.objects import FIXED_SCALE, Price

if TYPE_CHECKING:
    from toolkit.core.cache import Cache
    from toolkit.core.clock import Clock, TimeEvent
    from toolkit.core.log import Logger
    from toolkit.core.msgbus import MessageBus
    from toolkit.engine.data import DataEngine
    from toolkit.model.data import QuoteTick, TradeTick
    from toolkit.model.orders import Order

Ref = int | Fraction  # a raw fixed-point reference price; the mid of two raws may be a half

OT = OrderType
_RELEASED_AS: dict[OrderType, OrderType] = {
    OT.STOP_MARKET: OT.MARKET,
    OT.MARKET_IF_TOUCHED: OT.MARKET,
    OT.TRAILING_STOP_MARKET: OT.MARKET,
    OT.STOP_LIMIT: OT.LIMIT,
    OT.LIMIT_IF_TOUCHED: OT.LIMIT,
    OT.TRAILING_STOP_LIMIT: OT.LIMIT,
    OT.LIMIT: OT.LIMIT,
}
EMULATED_TYPES = frozenset(_RELEASED_AS)
_STOP_TYPES = frozenset({OT.STOP_MARKET, OT.STOP_LIMIT, OT.TRAILING_STOP_MARKET, OT.TRAILING_STOP_LIMIT})
_TRAILING_TYPES = frozenset({OT.TRAILING_STOP_MARKET, OT.TRAILING_STOP_LIMIT})
_PRICED_TYPES = frozenset({OT.LIMIT, OT.STOP_LIMIT, OT.LIMIT_IF_TOUCHED, OT.TRAILING_STOP_LIMIT})
_OFFSET_TYPES = frozenset({TrailingOffsetType.PRICE, TrailingOffsetType.BASIS_POINTS, TrailingOffsetType.TICKS})
QUOTES, TRADES = "quotes", "trades"
_CHANNELS: dict[TriggerType, frozenset[str]] = {
    TriggerType.DEFAULT: frozenset({QUOTES}),
    TriggerType.BID_ASK: frozenset({QUOTES}),
    TriggerType.MID_POINT: frozenset({QUOTES}),
    TriggerType.LAST_PRICE: frozenset({TRADES}),
    TriggerType.LAST_OR_BID_ASK: frozenset({QUOTES, TRADES}),
}
#: Bus priority of the emulator's data handlers: above strategies (0), so an order released by a data point
#: is already on its way to the venue when strategies see that point.
DATA_PRIORITY = 10


# ---- pure rules ------------------------------------------------------------------------------------------------


def released_order_type(order_type: OrderType) -> OrderType:
    """The type an emulated order is sent to the venue as: MARKET for market-type orders, else LIMIT."""
    return _RELEASED_AS[order_type]


def channels_for(trigger_type: TriggerType) -> frozenset[str]:
    """The market data an emulation trigger reads: "quotes", "trades" or both."""
    return _CHANNELS[trigger_type]


def reference_price(
    trigger_type: TriggerType, is_buy: bool, bid: int | None, ask: int | None, last: int | None
) -> Ref | None:
    """The raw price a trigger of `trigger_type` compares with, or None when that side is not known yet."""
    if trigger_type is TriggerType.LAST_PRICE:
        return last
    if trigger_type is TriggerType.LAST_OR_BID_ASK and last is not None:
        return last
    if trigger_type is TriggerType.MID_POINT:
        if bid is None or ask is None:
            return None
        total = bid + ask
        return total // 2 if total % 2 == 0 else Fraction(total, 2)
    return ask if is_buy else bid


def stop_hit(is_buy: bool, trigger: int, ref: Ref) -> bool:
    """STOP_* and trailing stops: a BUY triggers when reference >= trigger, a SELL when reference <= trigger."""
    return ref >= trigger if is_buy else ref <= trigger


def touch_hit(is_buy: bool, price: int, ref: Ref) -> bool:
    """MIT/LIT, trailing activation and emulated LIMITs: a BUY when reference <= price, a SELL when >=."""
    return ref <= price if is_buy else ref >= price


def offset_raw(offset: Decimal, offset_type: TrailingOffsetType, ref: Ref, increment_raw: int) -> Fraction:
    """A trailing offset as an exact raw distance: a price, basis points of the reference, or ticks."""
    value = Fraction(offset)
    if offset_type is TrailingOffsetType.PRICE:
        return value * FIXED_SCALE
    if offset_type is TrailingOffsetType.BASIS_POINTS:
        return Fraction(ref) * value / 10_000
    if offset_type is TrailingOffsetType.TICKS:
        return value * increment_raw
    raise ValueError(f"trailing offset type {offset_type.value} cannot be emulated")


def trailing_price(is_buy: bool, ref: Ref, offset: Fraction, increment_raw: int) -> int:
    """ref + offset for a BUY (rounded up to the tick), ref - offset for a SELL (rounded down): away from the market."""
    if is_buy:
        exact = Fraction(ref) + offset
        return -((-exact) // increment_raw) * increment_raw
    exact = Fraction(ref) - offset
    return (exact // increment_raw) * increment_raw  # type: ignore[return-value]


def improves(is_buy: bool, current: int | None, candidate: int) -> bool:
    """A trailing price only moves toward the market: a SELL's up, a BUY's down (any value beats none)."""
    if current is None:
        return True
    return candidate < current if is_buy else candidate > current


def emulation_denial(order: Order) -> str | None:
    """Why `order` cannot be emulated, or None."""
    kind = order.order_type
    if kind not in EMULATED_TYPES:
        return f"{kind.value} orders cannot be emulated"
    if order.emulation_trigger not in _CHANNELS:
        return f"emulation trigger {order.emulation_trigger.value} is not supported"
    if (
        kind in _PRICED_TYPES
        and order.price is None
        and not (kind is OT.TRAILING_STOP_LIMIT and order.limit_offset is not None)
    ):
        return f"emulated {kind.value} order has no price"
    if kind in _TRAILING_TYPES:
        if order.trailing_offset is None:
            return f"emulated {kind.value} order has no trailing offset"
        if order.trailing_offset_type not in _OFFSET_TYPES:
            return f"trailing offset type {order.trailing_offset_type.value} cannot be emulated"
        if order.trailing_offset < 0 or (order.limit_offset is not None and order.limit_offset < 0):
            return f"emulated {kind.value} order has a negative offset"
    elif kind is not OT.LIMIT and order.trigger_price is None:
        return f"emulated {kind.value} order has no trigger price"
    return None


# ---- the component ---------------------------------------------------------------------------------------------


class _Held:
    """One emulated order with what the emulator keeps about it."""

    __slots__ = ("activated", "channels", "order", "position_id")

    def __init__(self, order: Order, position_id: PositionId | None) -> None:
        self.order = order
        self.position_id = position_id
        self.channels = channels_for(order.emulation_trigger)
        self.activated = order.order_type not in _TRAILING_TYPES


class OrderEmulator:
    """Holds, watches, trails and releases emulated orders; see the module docstring.

    `process` applies an order event (the execution engine's `process`); released orders are sent to the
    risk engine endpoint on `msgbus`.
    """

    def __init__(
        self,
        clock: Clock,
        msgbus: MessageBus,
        cache: Cache,
        data_engine: DataEngine,
        log: Logger,
        process: Callable[[OrderEvent], None],
    ) -> None:
        self.clock = clock
        self.msgbus = msgbus
        self.cache = cache
        self.data_engine = data_engine
        self.log = log
        self._process = process
        self._held: dict[ClientOrderId, _Held] = {}
        self._by_instrument: dict[InstrumentId, dict[ClientOrderId, _Held]] = {}
        self._subscribed: dict[tuple[str, InstrumentId], int] = {}
        self._alerts: dict[ClientOrderId, str] = {}
        self.emulated_count = 0
        self.released_count = 0

    # ---- queries -------------------------------------------------------------------------------------------
    def orders(self, instrument_id: InstrumentId | None = None, strategy_id: StrategyId | None = None) -> list[Order]:
        """The orders held now (status EMULATED), oldest first."""
        held = [h.order for h in self._held.values()]
        return [
            o
            for o in held
            if (instrument_id is None or o.instrument_id == instrument_id)
            and (strategy_id is None or o.strategy_id == strategy_id)
        ]

    def is_held(self, client_order_id: ClientOrderId) -> bool:
        return client_order_id in self._held

    # ---- the execution engine's hook -----------------------------------------------------------------------
    def intercept(self, command: TradingCommand) -> TradingCommand | None:
        """Handle what concerns held orders; return the command (or its remainder) for the venue, or None."""
        if isinstance(command, SubmitOrder):
            order = command.order
            if order.emulation_trigger is TriggerType.NO_TRIGGER or order.status is not OrderStatus.INITIALIZED:
                return command  # a normal order, or a released one going to the venue
            self._hold(command)
            return None
        if isinstance(command, CancelOrder):
            held = self._held.get(command.client_order_id)
            if held is None:
                return command
            self._cancel(held)
            return None
        if isinstance(command, ModifyOrder):
            held = self._held.get(command.client_order_id)
            if held is None:
                return command
            self._modify(held, command)
            return None
        if isinstance(command, CancelAllOrders):
            side = command.order_side
            for held in list(self._by_instrument.get(command.instrument_id, {}).values()):
                order = held.order
                if order.strategy_id == command.strategy_id and (side is OrderSide.NO_ORDER_SIDE or order.side is side):
                    self._cancel(held)
            return command  # the venue cancels its own orders
        if isinstance(command, BatchCancelOrders):
            rest = []
            for coid in command.client_order_ids:
                held = self._held.get(coid)
                if held is None:
                    rest.append(coid)
                else:
                    self._cancel(held)
            if not rest:
                return None
            return msgspec.structs.replace(command, client_order_ids=tuple(rest))
        return command

    # ---- lifecycle -----------------------------------------------------------------------------------------
    def cancel_orders(self, strategy_ids: Iterable[StrategyId]) -> int:
        """Cancel (with `OrderCanceled`) every held order of these strategies; returns how many."""
        wanted = set(strategy_ids)
        held = [h for h in self._held.values() if h.order.strategy_id in wanted]
        for h in held:
            self._cancel(h)
        return len(held)

    def reset(self) -> None:
        """Forget everything (the kernel's reset also empties the cache); held orders are reported, not canceled."""
        if self._held:
            self.log.warning("reset drops %d emulated order(s): %s", len(self._held), ", ".join(map(str, self._held)))
        for held in list(self._held.values()):
            self._drop(held)
        self.emulated_count = 0
        self.released_count = 0

    # ---- holding -------------------------------------------------------------------------------------------
    def _hold(self, command: SubmitOrder) -> None:
        order = command.order
        reason = emulation_denial(order)
        if reason is not None:
            self._emit(OrderDenied, order, reason=reason)
            return
        self._emit(OrderEmulated, order)
        if order.status is not OrderStatus.EMULATED:
            self.log.error("order %s was not emulated (status %s)", order.client_order_id, order.status.value)
            return
        held = _Held(order, command.position_id)
        coid = order.client_order_id
        self._held[coid] = held
        self._by_instrument.setdefault(order.instrument_id, {})[coid] = held
        for channel in held.channels:
            self._subscribe(channel, order.instrument_id)
        if order.expire_time_ns > 0:
            name = f"OrderEmulator-GTD-{coid}"
            self.clock.set_time_alert(name, order.expire_time_ns, self._on_expiry, allow_past=True)
            self._alerts[coid] = name
        self.emulated_count += 1
        self._evaluate(held)  # the market may already be through the trigger

    def _drop(self, held: _Held) -> None:
        order = held.order
        coid = order.client_order_id
        self._held.pop(coid, None)
        orders = self._by_instrument.get(order.instrument_id)
        if orders is not None:
            orders.pop(coid, None)
            if not orders:
                del self._by_instrument[order.instrument_id]
        for channel in held.channels:
            self._unsubscribe(channel, order.instrument_id)
        name = self._alerts.pop(coid, None)
        if name is not None and name in self.clock.timer_names:
            self.clock.cancel_timer(name)

    def _subscribe(self, channel: str, instrument_id: InstrumentId) -> None:
        key = (channel, instrument_id)
        count = self._subscribed.get(key, 0)
        self._subscribed[key] = count + 1
        if count:
            return
        if channel == QUOTES:
            self.data_engine.subscribe_quote_ticks(instrument_id)
            self.msgbus.subscribe(topics.quotes_topic(instrument_id), self._on_quote, DATA_PRIORITY)
        else:
            self.data_engine.subscribe_trade_ticks(instrument_id)
            self.msgbus.subscribe(topics.trades_topic(instrument_id), self._on_trade, DATA_PRIORITY)

    def _unsubscribe(self, channel: str, instrument_id: InstrumentId) -> None:
        key = (channel, instrument_id)
        count = self._subscribed.get(key, 0) - 1
        if count > 0:
            self._subscribed[key] = count
            return
        self._subscribed.pop(key, None)
        if channel == QUOTES:
            self.data_engine.unsubscribe_quote_ticks(instrument_id)
            self.msgbus.unsubscribe(topics.quotes_topic(instrument_id), self._on_quote)
        else:
            self.data_engine.unsubscribe_trade_ticks(instrument_id)
            self.msgbus.unsubscribe(topics.trades_topic(instrument_id), self._on_trade)

    # ---- market data ---------------------------------------------------------------------------------------
    def _on_quote(self, tick: QuoteTick) -> None:
        self._on_data(tick.instrument_id, QUOTES)

    def _on_trade(self, tick: TradeTick) -> None:
        self._on_data(tick.instrument_id, TRADES)

    def _on_data(self, instrument_id: InstrumentId, channel: str) -> None:
        orders = self._by_instrument.get(instrument_id)
        if not orders:
            return
        for held in list(orders.values()):
            if channel in held.channels and held.order.client_order_id in self._held:
                self._evaluate(held)

    def _reference(self, order: Order) -> Ref | None:
        quote = self.cache.quote_tick(order.instrument_id)
        trade = self.cache.trade_tick(order.instrument_id)
        return reference_price(
            order.emulation_trigger,
            order.is_buy,
            None if quote is None else quote.bid_raw,
            None if quote is None else quote.ask_raw,
            None if trade is None else trade.price_raw,
        )

    def _evaluate(self, held: _Held) -> None:
        """Check one held order against the current market: activate, trail, release."""
        order = held.order
        ref = self._reference(order)
        if ref is None:
            return
        kind = order.order_type
        is_buy = order.is_buy
        if kind in _TRAILING_TYPES:
            if not held.activated:
                activation = order.activation_price
                if activation is not None and not touch_hit(is_buy, activation.raw, ref):
                    return
                held.activated = True
            elif order.trigger_price is not None and stop_hit(is_buy, order.trigger_price.raw, ref):
                self._release(held, ref)
                return
            self._trail(held, ref)
            if order.trigger_price is not None and stop_hit(is_buy, order.trigger_price.raw, ref):
                self._release(held, ref)  # only with a zero offset or a trigger set in the market
            return
        if kind is OT.LIMIT:
            hit = touch_hit(is_buy, order.price.raw, ref)  # type: ignore[union-attr]
        elif kind in _STOP_TYPES:
            hit = stop_hit(is_buy, order.trigger_price.raw, ref)  # type: ignore[union-attr]
        else:
            hit = touch_hit(is_buy, order.trigger_price.raw, ref)  # type: ignore[union-attr]
        if hit:
            self._release(held, ref)

    def _trail(self, held: _Held, ref: Ref) -> None:
        order = held.order
        instrument = self.cache.instrument(order.instrument_id)
        if instrument is None:
            self.log.error(
                "emulated order %s: instrument %s not in the cache", order.client_order_id, order.instrument_id
            )
            return
        increment = instrument.price_increment.raw
        precision = instrument.price_precision
        is_buy = order.is_buy
        offset = offset_raw(order.trailing_offset, order.trailing_offset_type, ref, increment)  # type: ignore[arg-type]
        candidate = trailing_price(is_buy, ref, offset, increment)
        current = None if order.trigger_price is None else order.trigger_price.raw
        trigger = Price(candidate, precision) if improves(is_buy, current, candidate) else None
        price = None
        if order.order_type is OT.TRAILING_STOP_LIMIT and order.limit_offset is not None:
            limit_offset = offset_raw(order.limit_offset, order.trailing_offset_type, ref, increment)
            limit = trailing_price(is_buy, ref, limit_offset, increment)
            current = None if order.price is None else order.price.raw
            price = Price(limit, precision) if improves(is_buy, current, limit) else None
        if trigger is not None or price is not None:
            self._emit(OrderUpdated, order, quantity=order.quantity, price=price, trigger_price=trigger)

    # ---- release, cancel, modify, expiry -------------------------------------------------------------------
    def _release(self, held: _Held, ref: Ref) -> None:
        order = held.order
        released_as = released_order_type(order.order_type)
        if released_as is OT.LIMIT and order.price is not None:
            released_price = order.price
        else:
            instrument = self.cache.instrument(order.instrument_id)
            released_price = ref_as_price(ref, 0 if instrument is None else instrument.price_precision)
        self._drop(held)
        self._emit(OrderReleased, order, released_price=released_price)
        if order.status is not OrderStatus.RELEASED:
            self.log.error("order %s could not be released (status %s)", order.client_order_id, order.status.value)
            return
        # The same order (same client order id) now goes to the venue as MARKET or LIMIT: applying
        # OrderReleased changed its type (Order.apply), so a rebuilt order agrees.
        if order.order_type is not released_as:
            self.log.error("order %s released as %s, expected %s", order.client_order_id, order.order_type, released_as)
        self.released_count += 1
        self.msgbus.send(
            topics.RISK_ENGINE_EXECUTE,
            SubmitOrder(
                trader_id=order.trader_id,
                strategy_id=order.strategy_id,
                instrument_id=order.instrument_id,
                order=order,
                position_id=held.position_id,
                ts_init=self.clock.timestamp_ns(),
            ),
        )

    def _cancel(self, held: _Held) -> None:
        self._drop(held)
        self._emit(OrderCanceled, held.order)

    def _modify(self, held: _Held, command: ModifyOrder) -> None:
        order = held.order
        kind = order.order_type
        reason = None
        if command.price is not None and kind not in _PRICED_TYPES:
            reason = f"an emulated {kind.value} order has no limit price to modify"
        elif command.trigger_price is not None and kind is OT.LIMIT:
            reason = "an emulated LIMIT order has no trigger price to modify"
        if reason is not None:
            self._emit(OrderModifyRejected, order, reason=reason)
            return
        quantity = command.quantity if command.quantity is not None else order.quantity
        self._emit(OrderUpdated, order, quantity=quantity, price=command.price, trigger_price=command.trigger_price)
        self._evaluate(held)

    def _on_expiry(self, event: TimeEvent) -> None:
        coid = next((c for c, name in self._alerts.items() if name == event.name), None)
        held = None if coid is None else self._held.get(coid)
        if held is None:
            return
        self._alerts.pop(coid, None)  # type: ignore[arg-type]
        self._drop(held)
        self._emit(OrderExpired, held.order)

    def _emit(self, event_type: type, order: Order, **fields: Any) -> None:
        now = self.clock.timestamp_ns()
        self._process(
            event_type(
                trader_id=order.trader_id,
                strategy_id=order.strategy_id,
                instrument_id=order.instrument_id,
                client_order_id=order.client_order_id,
                ts_event=now,
                ts_init=now,
                **fields,
            )
        )


def ref_as_price(ref: Ref, precision: int) -> Price:
    """A raw reference price as a `Price` of at least `precision` decimals (a mid may need one more)."""
    raw = ref if isinstance(ref, int) else round(ref)  # a half raw unit happens only at 9 decimals
    while precision < 9 and raw % 10 ** (9 - precision) != 0:
        precision += 1
    return Price(raw, precision)
