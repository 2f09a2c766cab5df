"""Trading commands: what a strategy asks the execution side to do.

Commands travel strategy -> risk engine -> execution engine -> execution client -> venue. They
carry the identity of the order they act on and `ts_init` (kernel clock time when issued); a
venue with latency applies a command at `ts_init + latency`. `SubmitOrder` carries the `Order`
itself; a venue copies what it needs and never mutates it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from toolkit.model.enums import OrderSide
from toolkit.model.identifiers import (
    ClientId,
    ClientOrderId,
    InstrumentId,
    PositionId,
    StrategyId,
    TraderId,
    VenueOrderId,
)
from toolkit.model.objects import Price, Quantity

if TYPE_CHECKING:
    from toolkit.model.orders import Order


class TradingCommand(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    trader_id: TraderId
    strategy_id: StrategyId
    instrument_id: InstrumentId
    ts_init: int
    client_id: ClientId | None = None


class SubmitOrder(TradingCommand, frozen=True, kw_only=True, gc=False):
    """`venue_links`: whether the venue should act on the order's contingency links (OTO/OCO/OUO). False when
    the strategy manages them itself (`manage_contingent_orders`), so the two never act on the same orders."""

    order: Order
    position_id: PositionId | None = None
    venue_links: bool = True

    @property
    def client_order_id(self) -> ClientOrderId:
        return self.order.client_order_id


class ModifyOrder(TradingCommand, frozen=True, kw_only=True, gc=False):
    client_order_id: ClientOrderId
    quantity: Quantity | None = None
    price: Price | None = None
    trigger_price: Price | None = None


class CancelOrder(TradingCommand, frozen=True, kw_only=True, gc=False):
    client_order_id: ClientOrderId


class CancelAllOrders(TradingCommand, frozen=True, kw_only=True, gc=False):
    order_side: OrderSide = OrderSide.NO_ORDER_SIDE


class QueryOrder(TradingCommand, frozen=True, kw_only=True, gc=False):
    """Ask the venue for one order's status (reconciliation's in-flight check)."""

    client_order_id: ClientOrderId
    venue_order_id: VenueOrderId | None = None


class BatchCancelOrders(TradingCommand, frozen=True, kw_only=True, gc=False):
    client_order_ids: tuple[ClientOrderId, ...]


Command = SubmitOrder | ModifyOrder | CancelOrder | CancelAllOrders | BatchCancelOrders | QueryOrder
