"""The order factory: builds new orders for one strategy with unique client order ids.

Client order ids are `O-{YYYYMMDD}-{HHMMSS}-{trader tag}-{strategy tag}-{n}` from the kernel clock
(so a backtest is reproducible and a live node restarted later does not reuse an id), or UUID4s when
the strategy asks. Orders are created INITIALIZED from an `OrderInitialized` event; arguments that
cannot make a valid order (missing price, non-positive quantity, GTD without expiry) raise here,
while instrument checks (precision, limits) belong to the risk engine, which denies with a reason.
"""

from __future__ import annotations

import uuid

from toolkit.core.clock import Clock
from toolkit.model.enums import OrderSide, OrderType, TimeInForce, TriggerType
from toolkit.model.events import OrderInitialized
from toolkit.model.identifiers import ClientOrderId, InstrumentId, StrategyId, TraderId
from toolkit.model.objects import Price, Quantity
from toolkit.model.orders import Order


class OrderFactory:
    """See the module docstring."""

    def __init__(self, trader_id: TraderId, strategy_id: StrategyId, clock: Clock, use_uuids: bool = False) -> None:
        self.trader_id = trader_id
        self.strategy_id = strategy_id
        self.clock = clock
        self.use_uuids = use_uuids
        self.count = 0

    def set_count(self, count: int) -> None:
        """Continue numbering after `count` (restored state after a restart)."""
        self.count = count

    def reset(self) -> None:
        self.count = 0

    def next_client_order_id(self) -> ClientOrderId:
        self.count += 1
        if self.use_uuids:
            return ClientOrderId(str(uuid.uuid4()))
        stamp = self.clock.utc_now().strftime("%Y%m%d-%H%M%S")
        return ClientOrderId(f"O-{stamp}-{self.trader_id.tag}-{self.strategy_id.tag}-{self.count}")

    def _create(
        self,
        instrument_id: InstrumentId | str,
        order_side: OrderSide,
        order_type: OrderType,
        quantity: Quantity,
        time_in_force: TimeInForce,
        *,
        price: Price | None = None,
        trigger_price: Price | None = None,
        trigger_type: TriggerType = TriggerType.DEFAULT,
        expire_time_ns: int = 0,
        post_only: bool = False,
        reduce_only: bool = False,
        quote_quantity: bool = False,
        display_qty: Quantity | None = None,
        tags: tuple[str, ...] | list[str] = (),
    ) -> Order:
        if not isinstance(quantity, Quantity):
            raise TypeError(
                f"quantity must be a Quantity (e.g. instrument.make_qty(...)), got {type(quantity).__name__}"
            )
        if quantity.raw <= 0:
            raise ValueError(f"{order_type.value} order quantity must be positive, got {quantity}")
        if order_side not in (OrderSide.BUY, OrderSide.SELL):
            raise ValueError(f"order side must be BUY or SELL, got {order_side}")
        if time_in_force is TimeInForce.GTD and expire_time_ns <= 0:
            raise ValueError("a GTD order needs expire_time_ns")
        if time_in_force is not TimeInForce.GTD and expire_time_ns:
            raise ValueError(f"expire_time_ns is only valid with GTD, not {time_in_force.value}")
        if order_type is OrderType.MARKET and time_in_force is TimeInForce.GTD:
            raise ValueError("a MARKET order cannot be GTD")
        if post_only and order_type not in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            raise ValueError("post_only is only valid for LIMIT and STOP_LIMIT orders")
        now = self.clock.timestamp_ns()
        init = OrderInitialized(
            trader_id=self.trader_id,
            strategy_id=self.strategy_id,
            instrument_id=InstrumentId(instrument_id),
            client_order_id=self.next_client_order_id(),
            order_side=order_side,
            order_type=order_type,
            quantity=quantity,
            time_in_force=time_in_force,
            price=price,
            trigger_price=trigger_price,
            trigger_type=trigger_type,
            expire_time_ns=expire_time_ns,
            post_only=post_only,
            reduce_only=reduce_only,
            quote_quantity=quote_quantity,
            display_qty=display_qty,
            tags=tuple(tags),
            ts_event=now,
            ts_init=now,
        )
        return Order(init)

    def market(
        self,
        instrument_id: InstrumentId | str,
        order_side: OrderSide,
        quantity: Quantity,
        time_in_force: TimeInForce = TimeInForce.GTC,
        reduce_only: bool = False,
        quote_quantity: bool = False,
        tags: tuple[str, ...] | list[str] = (),
    ) -> Order:
        return self._create(
            instrument_id,
            order_side,
            OrderType.MARKET,
            quantity,
            time_in_force,
            reduce_only=reduce_only,
            quote_quantity=quote_quantity,
            tags=tags,
        )

    def limit(
        self,
        instrument_id: InstrumentId | str,
        order_side: OrderSide,
        quantity: Quantity,
        price: Price,
        time_in_force: TimeInForce = TimeInForce.GTC,
        expire_time_ns: int = 0,
        post_only: bool = False,
        reduce_only: bool = False,
        display_qty: Quantity | None = None,
        tags: tuple[str, ...] | list[str] = (),
    ) -> Order:
        if not isinstance(price, Price):
            raise TypeError(f"LIMIT order price must be a Price, got {type(price).__name__}")
        return self._create(
            instrument_id,
            order_side,
            OrderType.LIMIT,
            quantity,
            time_in_force,
            price=price,
            expire_time_ns=expire_time_ns,
            post_only=post_only,
            reduce_only=reduce_only,
            display_qty=display_qty,
            tags=tags,
        )

    def stop_market(
        self,
        instrument_id: InstrumentId | str,
        order_side: OrderSide,
        quantity: Quantity,
        trigger_price: Price,
        trigger_type: TriggerType = TriggerType.DEFAULT,
        time_in_force: TimeInForce = TimeInForce.GTC,
        expire_time_ns: int = 0,
        reduce_only: bool = False,
        tags: tuple[str, ...] | list[str] = (),
    ) -> Order:
        if not isinstance(trigger_price, Price):
            raise TypeError(f"STOP_MARKET trigger_price must be a Price, got {type(trigger_price).__name__}")
        return self._create(
            instrument_id,
            order_side,
            OrderType.STOP_MARKET,
            quantity,
            time_in_force,
            trigger_price=trigger_price,
            trigger_type=trigger_type,
            expire_time_ns=expire_time_ns,
            reduce_only=reduce_only,
            tags=tags,
        )

    def stop_limit(
        self,
        instrument_id: InstrumentId | str,
        order_side: OrderSide,
        quantity: Quantity,
        price: Price,
        trigger_price: Price,
        trigger_type: TriggerType = TriggerType.DEFAULT,
        time_in_force: TimeInForce = TimeInForce.GTC,
        expire_time_ns: int = 0,
        post_only: bool = False,
        reduce_only: bool = False,
        tags: tuple[str, ...] | list[str] = (),
    ) -> Order:
        if not isinstance(price, Price) or not isinstance(trigger_price, Price):
            raise TypeError("STOP_LIMIT price and trigger_price must be Price values")
        return self._create(
            instrument_id,
            order_side,
            OrderType.STOP_LIMIT,
            quantity,
            time_in_force,
            price=price,
            trigger_price=trigger_price,
            trigger_type=trigger_type,
            expire_time_ns=expire_time_ns,
            post_only=post_only,
            reduce_only=reduce_only,
            tags=tags,
        )
