"""Events: what happened to orders, positions and accounts, as immutable msgspec structs.

Order events carry the order's identity (trader, strategy, instrument, client order id) and
timestamps; `OrderInitialized` carries every parameter, so an order can be rebuilt from its event
list after a restart. Events are tagged structs (`type` field) so they encode to JSON/msgpack and
decode back to the right class. Position and account events are published by the engines after
they apply fills.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from toolkit.model.enums import (
    AccountType,
    ContingencyType,
    LiquiditySide,
    OrderSide,
    OrderType,
    PositionSide,
    TimeInForce,
    TrailingOffsetType,
    TriggerType,
)
from toolkit.model.identifiers import (
    AccountId,
    ClientOrderId,
    InstrumentId,
    OrderListId,
    PositionId,
    StrategyId,
    TradeId,
    TraderId,
    VenueOrderId,
)
from toolkit.model.objects import Currency, Money, Price, Quantity


class Event(msgspec.Struct, frozen=True, kw_only=True, tag=True, gc=False):
    """Base of every event: when it happened at the source and when we created it."""

    ts_event: int
    ts_init: int


class OrderEvent(Event, frozen=True, kw_only=True, tag=True, gc=False):
    trader_id: TraderId
    strategy_id: StrategyId
    instrument_id: InstrumentId
    client_order_id: ClientOrderId


class OrderInitialized(OrderEvent, frozen=True, kw_only=True, tag=True, gc=False):
    """An order was created; holds every parameter the order was created with."""

    order_side: OrderSide
    order_type: OrderType
    quantity: Quantity
    time_in_force: TimeInForce = TimeInForce.GTC
    price: Price | None = None
    trigger_price: Price | None = None
    trigger_type: TriggerType = TriggerType.DEFAULT
    expire_time_ns: int = 0
    post_only: bool = False
    reduce_only: bool = False
    quote_quantity: bool = False
    display_qty: Quantity | None = None
    limit_offset: Decimal | None = None
    trailing_offset: Decimal | None = None
    trailing_offset_type: TrailingOffsetType = TrailingOffsetType.PRICE
    activation_price: Price | None = None
    emulation_trigger: TriggerType = TriggerType.NO_TRIGGER
    contingency_type: ContingencyType = ContingencyType.NO_CONTINGENCY
    order_list_id: OrderListId | None = None
    linked_order_ids: tuple[ClientOrderId, ...] = ()
    parent_order_id: ClientOrderId | None = None
    position_id: PositionId | None = None
    tags: tuple[str, ...] = ()
    reconciliation: bool = False


class OrderDenied(OrderEvent, frozen=True, kw_only=True, tag=True, gc=False):
    """Refused before reaching the venue (risk checks); `reason` says why."""

    reason: str


class OrderEmulated(OrderEvent, frozen=True, kw_only=True, tag=True, gc=False):
    pass


class OrderReleased(OrderEvent, frozen=True, kw_only=True, tag=True, gc=False):
    released_price: Price


class OrderSubmitted(OrderEvent, frozen=True, kw_only=True, tag=True, gc=False):
    account_id: AccountId


class OrderAccepted(OrderEvent, frozen=True, kw_only=True, tag=True, gc=False):
    venue_order_id: VenueOrderId
    account_id: AccountId


class OrderRejected(OrderEvent, frozen=True, kw_only=True, tag=True, gc=False):
    account_id: AccountId
    reason: str
    due_post_only: bool = False


class OrderCanceled(OrderEvent, frozen=True, kw_only=True, tag=True, gc=False):
    venue_order_id: VenueOrderId | None = None
    account_id: AccountId | None = None


class OrderExpired(OrderEvent, frozen=True, kw_only=True, tag=True, gc=False):
    venue_order_id: VenueOrderId | None = None
    account_id: AccountId | None = None


class OrderTriggered(OrderEvent, frozen=True, kw_only=True, tag=True, gc=False):
    venue_order_id: VenueOrderId | None = None
    account_id: AccountId | None = None


class OrderPendingUpdate(OrderEvent, frozen=True, kw_only=True, tag=True, gc=False):
    venue_order_id: VenueOrderId | None = None
    account_id: AccountId | None = None


class OrderPendingCancel(OrderEvent, frozen=True, kw_only=True, tag=True, gc=False):
    venue_order_id: VenueOrderId | None = None
    account_id: AccountId | None = None


class OrderModifyRejected(OrderEvent, frozen=True, kw_only=True, tag=True, gc=False):
    reason: str
    venue_order_id: VenueOrderId | None = None
    account_id: AccountId | None = None


class OrderCancelRejected(OrderEvent, frozen=True, kw_only=True, tag=True, gc=False):
    reason: str
    venue_order_id: VenueOrderId | None = None
    account_id: AccountId | None = None


class OrderUpdated(OrderEvent, frozen=True, kw_only=True, tag=True, gc=False):
    """Quantity, price or trigger changed; the status is kept (or restored from PENDING_UPDATE)."""

    quantity: Quantity
    price: Price | None = None
    trigger_price: Price | None = None
    venue_order_id: VenueOrderId | None = None
    account_id: AccountId | None = None


class OrderFilled(OrderEvent, frozen=True, kw_only=True, tag=True, gc=False):
    """A (partial) execution: `last_qty` at `last_px`, with its commission."""

    venue_order_id: VenueOrderId
    account_id: AccountId
    trade_id: TradeId
    order_side: OrderSide
    order_type: OrderType
    last_qty: Quantity
    last_px: Price
    currency: Currency
    commission: Money
    liquidity_side: LiquiditySide
    position_id: PositionId | None = None
    reconciliation: bool = False

    @property
    def is_buy(self) -> bool:
        return self.order_side is OrderSide.BUY


class PositionEvent(Event, frozen=True, kw_only=True, tag=True, gc=False):
    """State of a position right after a fill changed it."""

    trader_id: TraderId
    strategy_id: StrategyId
    instrument_id: InstrumentId
    position_id: PositionId
    account_id: AccountId
    opening_order_id: ClientOrderId
    closing_order_id: ClientOrderId | None
    entry: OrderSide
    side: PositionSide
    signed_qty: Decimal
    quantity: Quantity
    peak_qty: Quantity
    last_qty: Quantity
    last_px: Price
    currency: Currency
    avg_px_open: Decimal
    avg_px_close: Decimal | None
    realized_pnl: Money
    unrealized_pnl: Money
    ts_opened: int
    ts_closed: int | None = None
    duration_ns: int = 0


class PositionOpened(PositionEvent, frozen=True, kw_only=True, tag=True, gc=False):
    pass


class PositionChanged(PositionEvent, frozen=True, kw_only=True, tag=True, gc=False):
    pass


class PositionClosed(PositionEvent, frozen=True, kw_only=True, tag=True, gc=False):
    pass


class AccountBalance(msgspec.Struct, frozen=True, gc=False):
    """Balance of one currency: total = locked + free, always."""

    total: Money
    locked: Money
    free: Money

    def __post_init__(self) -> None:
        if self.total.raw != self.locked.raw + self.free.raw:
            raise ValueError(f"balance does not add up: total {self.total} != locked {self.locked} + free {self.free}")


class MarginBalance(msgspec.Struct, frozen=True, gc=False):
    """Initial (orders) and maintenance (positions) margin held for one instrument."""

    initial: Money
    maintenance: Money
    instrument_id: InstrumentId


class AccountState(Event, frozen=True, kw_only=True, tag=True, gc=False):
    """A full picture of an account's balances and margins at one time."""

    account_id: AccountId
    account_type: AccountType
    base_currency: Currency | None
    balances: tuple[AccountBalance, ...]
    margins: tuple[MarginBalance, ...] = ()
    reported: bool = False


OrderEventTypes = (
    OrderInitialized
    | OrderDenied
    | OrderEmulated
    | OrderReleased
    | OrderSubmitted
    | OrderAccepted
    | OrderRejected
    | OrderCanceled
    | OrderExpired
    | OrderTriggered
    | OrderPendingUpdate
    | OrderPendingCancel
    | OrderModifyRejected
    | OrderCancelRejected
    | OrderUpdated
    | OrderFilled
)
