"""Orders and their state machine.

An `Order` is built from its `OrderInitialized` event and changes only by `apply(event)`. Every
event maps to a target status, checked against `LEGAL_TRANSITIONS` (the table of the venue spec
§9); an illegal one raises `InvalidStateTransition` naming both states and the event, and leaves the
order unchanged. `filled_qty`, `leaves_qty` and `avg_px` follow from the fills, exactly. An `OrderList` groups
orders submitted together (a bracket: entry first, then its stop-loss and take-profit).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from fractions import Fraction

from toolkit.model.enums import ContingencyType, LiquiditySide, OrderSide, OrderStatus, OrderType, TimeInForce
from toolkit.model.events import (
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
)
from toolkit.model.identifiers import AccountId, OrderListId, PositionId, TradeId, VenueOrderId
from toolkit.model.objects import FIXED_SCALE, Quantity

S = OrderStatus

#: Statuses each status may move to (the "back to the previous status" moves of PENDING_* are
#: handled separately, see `Order._target_status`).
LEGAL_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.INITIALIZED: frozenset(
        {S.DENIED, S.SUBMITTED, S.EMULATED, S.RELEASED, S.REJECTED, S.ACCEPTED, S.CANCELED, S.EXPIRED, S.TRIGGERED}
    ),
    S.EMULATED: frozenset({S.CANCELED, S.EXPIRED, S.RELEASED}),
    S.RELEASED: frozenset({S.DENIED, S.SUBMITTED, S.CANCELED}),
    S.SUBMITTED: frozenset(
        {S.ACCEPTED, S.REJECTED, S.CANCELED, S.PARTIALLY_FILLED, S.FILLED, S.PENDING_UPDATE, S.PENDING_CANCEL}
    ),
    S.ACCEPTED: frozenset(
        {
            S.TRIGGERED,
            S.PARTIALLY_FILLED,
            S.FILLED,
            S.CANCELED,
            S.EXPIRED,
            S.REJECTED,
            S.PENDING_UPDATE,
            S.PENDING_CANCEL,
        }
    ),
    S.TRIGGERED: frozenset(
        {S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED, S.REJECTED, S.PENDING_UPDATE, S.PENDING_CANCEL}
    ),
    S.PENDING_UPDATE: frozenset(
        {
            S.ACCEPTED,
            S.CANCELED,
            S.EXPIRED,
            S.TRIGGERED,
            S.REJECTED,
            S.PARTIALLY_FILLED,
            S.FILLED,
            S.PENDING_UPDATE,
            S.PENDING_CANCEL,
        }
    ),
    S.PENDING_CANCEL: frozenset(
        {S.CANCELED, S.ACCEPTED, S.EXPIRED, S.REJECTED, S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL}
    ),
    S.PARTIALLY_FILLED: frozenset(
        {S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED, S.PENDING_UPDATE, S.PENDING_CANCEL}
    ),
    S.CANCELED: frozenset({S.PARTIALLY_FILLED, S.FILLED}),
    S.DENIED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
    S.FILLED: frozenset(),
}

_EVENT_STATUS: dict[type, OrderStatus] = {
    OrderDenied: S.DENIED,
    OrderEmulated: S.EMULATED,
    OrderReleased: S.RELEASED,
    OrderSubmitted: S.SUBMITTED,
    OrderAccepted: S.ACCEPTED,
    OrderRejected: S.REJECTED,
    OrderCanceled: S.CANCELED,
    OrderExpired: S.EXPIRED,
    OrderTriggered: S.TRIGGERED,
    OrderPendingUpdate: S.PENDING_UPDATE,
    OrderPendingCancel: S.PENDING_CANCEL,
}

OPEN_STATUSES = frozenset({S.ACCEPTED, S.TRIGGERED, S.PENDING_UPDATE, S.PENDING_CANCEL, S.PARTIALLY_FILLED})
INFLIGHT_STATUSES = frozenset({S.SUBMITTED, S.PENDING_UPDATE, S.PENDING_CANCEL})
CLOSED_STATUSES = frozenset({S.DENIED, S.REJECTED, S.CANCELED, S.EXPIRED, S.FILLED})
# Events that leave the status as it is, or restore it after PENDING_UPDATE / PENDING_CANCEL.
_KEEPING_STATUSES = frozenset(
    {S.INITIALIZED, S.EMULATED, S.RELEASED, S.SUBMITTED, S.ACCEPTED, S.TRIGGERED, S.PARTIALLY_FILLED}
)
PASSIVE_TYPES = frozenset(
    {
        OrderType.LIMIT,
        OrderType.STOP_MARKET,
        OrderType.STOP_LIMIT,
        OrderType.MARKET_IF_TOUCHED,
        OrderType.LIMIT_IF_TOUCHED,
        OrderType.TRAILING_STOP_MARKET,
        OrderType.TRAILING_STOP_LIMIT,
        OrderType.MARKET_TO_LIMIT,
    }
)


class InvalidStateTransition(ValueError):
    """An event that the order's current status does not allow."""

    def __init__(self, order_id: str, current: OrderStatus, target: OrderStatus | None, event: OrderEvent) -> None:
        self.current = current
        self.target = target
        name = type(event).__name__
        to = target.value if target is not None else "(same status)"
        super().__init__(f"order {order_id}: invalid transition {current.value} -> {to} on {name}")


_MARKET_TYPES_RELEASED = (
    OrderType.MARKET,
    OrderType.STOP_MARKET,
    OrderType.MARKET_IF_TOUCHED,
    OrderType.TRAILING_STOP_MARKET,
)


def released_type(order_type: OrderType) -> OrderType:
    """What an emulated order becomes when released: MARKET for market-type orders, LIMIT otherwise."""
    return OrderType.MARKET if order_type in _MARKET_TYPES_RELEASED else OrderType.LIMIT


class Order:
    """A mutable order: parameters from `OrderInitialized`, state from the events applied since."""

    __slots__ = (
        "_avg_px_cost",
        "_previous_status",
        "account_id",
        "activation_price",
        "client_order_id",
        "contingency_type",
        "display_qty",
        "emulation_trigger",
        "events",
        "expire_time_ns",
        "filled_qty",
        "init",
        "instrument_id",
        "last_trade_id",
        "limit_offset",
        "linked_order_ids",
        "liquidity_side",
        "order_list_id",
        "order_type",
        "parent_order_id",
        "position_id",
        "post_only",
        "price",
        "quantity",
        "quote_quantity",
        "reduce_only",
        "side",
        "status",
        "strategy_id",
        "tags",
        "time_in_force",
        "trade_ids",
        "trader_id",
        "trailing_offset",
        "trailing_offset_type",
        "trigger_price",
        "trigger_type",
        "ts_init",
        "ts_last",
        "venue_order_id",
    )

    def __init__(self, init: OrderInitialized) -> None:
        self.init = init
        self.trader_id = init.trader_id
        self.strategy_id = init.strategy_id
        self.instrument_id = init.instrument_id
        self.client_order_id = init.client_order_id
        self.side = init.order_side
        self.order_type = init.order_type
        self.quantity = init.quantity
        self.price = init.price
        self.trigger_price = init.trigger_price
        self.trigger_type = init.trigger_type
        self.time_in_force = init.time_in_force
        self.expire_time_ns = init.expire_time_ns
        self.post_only = init.post_only
        self.reduce_only = init.reduce_only
        self.quote_quantity = init.quote_quantity
        self.display_qty = init.display_qty
        self.limit_offset = init.limit_offset
        self.trailing_offset = init.trailing_offset
        self.trailing_offset_type = init.trailing_offset_type
        self.activation_price = init.activation_price
        self.emulation_trigger = init.emulation_trigger
        self.contingency_type = init.contingency_type
        self.order_list_id = init.order_list_id
        self.linked_order_ids = init.linked_order_ids
        self.parent_order_id = init.parent_order_id
        self.position_id = init.position_id
        self.tags = init.tags
        self.status = S.INITIALIZED
        self._previous_status = S.INITIALIZED
        self.venue_order_id: VenueOrderId | None = None
        self.account_id: AccountId | None = None
        self.filled_qty = Quantity(0, init.quantity.precision)
        self._avg_px_cost = 0  # sum of last_px.raw * last_qty.raw over fills
        self.liquidity_side = LiquiditySide.NO_LIQUIDITY_SIDE
        self.trade_ids: list[TradeId] = []
        self.last_trade_id: TradeId | None = None
        self.events: list[OrderEvent] = [init]
        self.ts_init = init.ts_init
        self.ts_last = init.ts_init

    # ---- derived state -----------------------------------------------------------------------
    @property
    def leaves_qty(self) -> Quantity:
        return Quantity(max(0, self.quantity.raw - self.filled_qty.raw), self.quantity.precision)

    @property
    def overfill_qty(self) -> Quantity:
        """What fills beyond the order quantity added (only with overfills allowed); zero otherwise."""
        return Quantity(max(0, self.filled_qty.raw - self.quantity.raw), self.quantity.precision)

    @property
    def avg_px(self) -> Decimal | None:
        """Quantity-weighted mean fill price (exact), or None before the first fill."""
        if self.filled_qty.raw == 0:
            return None
        value = Fraction(self._avg_px_cost, self.filled_qty.raw * FIXED_SCALE)
        return Decimal(value.numerator) / Decimal(value.denominator)

    @property
    def is_buy(self) -> bool:
        return self.side is OrderSide.BUY

    @property
    def is_sell(self) -> bool:
        return self.side is OrderSide.SELL

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED_STATUSES

    @property
    def is_inflight(self) -> bool:
        return self.status in INFLIGHT_STATUSES

    @property
    def is_passive(self) -> bool:
        return self.order_type in PASSIVE_TYPES

    @property
    def is_contingent(self) -> bool:
        return self.contingency_type is not ContingencyType.NO_CONTINGENCY

    @property
    def has_price(self) -> bool:
        return self.price is not None

    @property
    def last_event(self) -> OrderEvent:
        return self.events[-1]

    @property
    def is_emulated(self) -> bool:
        return self.status is S.EMULATED

    def would_reduce_only(self, position_side_signed_qty_raw: int) -> bool:
        """True if filling this order fully cannot increase a position of the given signed size."""
        if position_side_signed_qty_raw == 0:
            return False
        if self.side is OrderSide.BUY:
            return position_side_signed_qty_raw < 0 and self.leaves_qty.raw <= -position_side_signed_qty_raw
        return position_side_signed_qty_raw > 0 and self.leaves_qty.raw <= position_side_signed_qty_raw

    def __repr__(self) -> str:
        px = f" @ {self.price}" if self.price is not None else ""
        trig = f" trigger {self.trigger_price}" if self.trigger_price is not None else ""
        return (
            f"Order({self.client_order_id} {self.side.value} {self.quantity} {self.instrument_id} "
            f"{self.order_type.value}{px}{trig} {self.time_in_force.value} {self.status.value})"
        )

    # ---- state machine -----------------------------------------------------------------------
    def _target_status(self, event: OrderEvent) -> OrderStatus | None:
        """The status `event` leads to, or None for 'keep the current status'."""
        kind = type(event)
        target = _EVENT_STATUS.get(kind)
        if target is not None:
            return target
        if kind is OrderFilled:
            filled = self.filled_qty.raw + event.last_qty.raw  # type: ignore[attr-defined]
            return S.FILLED if filled >= self.quantity.raw else S.PARTIALLY_FILLED
        if kind in (OrderUpdated, OrderModifyRejected, OrderCancelRejected):
            return None
        raise TypeError(f"order {self.client_order_id}: {kind.__name__} is not an order event")

    def check(self, event: OrderEvent) -> OrderStatus:
        """The status after `event`, or raise InvalidStateTransition (the order is not changed)."""
        current = self.status
        target = self._target_status(event)
        if target is None:
            kind = type(event)
            if current is S.PENDING_UPDATE and kind in (OrderUpdated, OrderModifyRejected):
                return self._previous_status
            if current is S.PENDING_CANCEL and kind is OrderCancelRejected:
                return self._previous_status
            if current in _KEEPING_STATUSES or (current in (S.PENDING_UPDATE, S.PENDING_CANCEL)):
                return current
            raise InvalidStateTransition(self.client_order_id, current, None, event)
        if target not in LEGAL_TRANSITIONS[current]:
            raise InvalidStateTransition(self.client_order_id, current, target, event)
        return target

    def apply(self, event: OrderEvent) -> None:
        """Apply one event; raises (and changes nothing) if it is illegal or malformed."""
        if event.client_order_id != self.client_order_id:
            raise ValueError(f"event for {event.client_order_id} applied to order {self.client_order_id}")
        kind = type(event)
        if kind is OrderFilled:
            trade_id = event.trade_id  # type: ignore[attr-defined]
            if trade_id in self.trade_ids:
                raise ValueError(f"order {self.client_order_id}: duplicate trade id {trade_id}")
        new_status = self.check(event)
        if new_status in (S.PENDING_UPDATE, S.PENDING_CANCEL) and self.status not in (
            S.PENDING_UPDATE,
            S.PENDING_CANCEL,
        ):
            self._previous_status = self.status
        self.status = new_status
        self.ts_last = event.ts_event
        self.events.append(event)
        if kind is OrderFilled:
            self._apply_fill(event)  # type: ignore[arg-type]
        elif kind is OrderAccepted:
            self.venue_order_id = event.venue_order_id  # type: ignore[attr-defined]
            self.account_id = event.account_id  # type: ignore[attr-defined]
        elif kind is OrderSubmitted:
            self.account_id = event.account_id  # type: ignore[attr-defined]
        elif kind is OrderUpdated:
            self.quantity = event.quantity  # type: ignore[attr-defined]
            if event.price is not None:  # type: ignore[attr-defined]
                self.price = event.price  # type: ignore[attr-defined]
            if event.trigger_price is not None:  # type: ignore[attr-defined]
                self.trigger_price = event.trigger_price  # type: ignore[attr-defined]
            if event.venue_order_id is not None:  # type: ignore[attr-defined]
                self.venue_order_id = event.venue_order_id  # type: ignore[attr-defined]
        elif kind is OrderReleased:
            # A released emulated order goes to the venue as a MARKET (market-type) or LIMIT order; doing it
            # here means an order rebuilt from its events after a restart has the type the venue knows.
            self.order_type = released_type(self.order_type)
        elif kind is OrderRejected or kind is OrderCanceled or kind is OrderExpired or kind is OrderTriggered:
            vid = getattr(event, "venue_order_id", None)
            if vid is not None:
                self.venue_order_id = vid

    def _apply_fill(self, fill: OrderFilled) -> None:
        self.venue_order_id = fill.venue_order_id
        self.account_id = fill.account_id
        if fill.position_id is not None:
            self.position_id = fill.position_id
        self.trade_ids.append(fill.trade_id)
        self.last_trade_id = fill.trade_id
        self.filled_qty = Quantity(self.filled_qty.raw + fill.last_qty.raw, self.quantity.precision)
        self._avg_px_cost += fill.last_px.raw * fill.last_qty.raw
        self.liquidity_side = fill.liquidity_side

    def set_position_id(self, position_id: PositionId) -> None:
        """Assigned by the execution engine when the order's first fill opens or joins a position."""
        self.position_id = position_id


def is_time_in_force_immediate(tif: TimeInForce) -> bool:
    return tif is TimeInForce.IOC or tif is TimeInForce.FOK


class OrderList:
    """Orders submitted together under one `OrderListId`, in submission order; `first` is the entry.

    All orders belong to one strategy and one instrument, and each client order id appears once.
    """

    __slots__ = ("id", "instrument_id", "orders", "strategy_id")

    def __init__(self, order_list_id: OrderListId, orders: Sequence[Order]) -> None:
        if not orders:
            raise ValueError(f"order list {order_list_id}: orders must not be empty")
        first = orders[0]
        ids = [o.client_order_id for o in orders]
        if len(set(ids)) != len(ids):
            raise ValueError(f"order list {order_list_id}: duplicate client order ids in {ids}")
        for order in orders:
            if order.strategy_id != first.strategy_id:
                raise ValueError(
                    f"order list {order_list_id}: {order.client_order_id} belongs to strategy {order.strategy_id}, "
                    f"not {first.strategy_id}"
                )
            if order.instrument_id != first.instrument_id:
                raise ValueError(
                    f"order list {order_list_id}: {order.client_order_id} is for {order.instrument_id}, "
                    f"not {first.instrument_id}"
                )
        self.id = order_list_id
        self.orders: tuple[Order, ...] = tuple(orders)
        self.strategy_id = first.strategy_id
        self.instrument_id = first.instrument_id

    @property
    def first(self) -> Order:
        return self.orders[0]

    def __len__(self) -> int:
        return len(self.orders)

    def __iter__(self) -> Iterator[Order]:
        return iter(self.orders)

    def __repr__(self) -> str:
        ids = ", ".join(str(o.client_order_id) for o in self.orders)
        return f"OrderList({self.id} {self.instrument_id} [{ids}])"
