"""The order factory: builds new orders and order lists for one strategy with unique ids.

Client order ids are `O-{YYYYMMDD}-{HHMMSS}-{trader tag}-{strategy tag}-{n}` from the kernel clock
(so a backtest is reproducible and a live node restarted later does not reuse an id), or UUID4s when
the strategy asks; order list ids are `OL-...` alike. Orders are created INITIALIZED from an
`OrderInitialized` event; arguments that cannot make a valid order (missing price or offset,
non-positive quantity, GTD without expiry) raise a `ValueError` naming the argument here, while
instrument checks (precision, limits) belong to the risk engine, which denies with a reason.
`bracket` links an entry (OTO parent) to a reduce-only stop-loss and take-profit (OUO or OCO).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal

from toolkit.core.clock import Clock
from toolkit.model.enums import ContingencyType, OrderSide, OrderType, TimeInForce, TrailingOffsetType, TriggerType
from toolkit.model.events import OrderInitialized
from toolkit.model.identifiers import ClientOrderId, InstrumentId, OrderListId, StrategyId, TraderId
from toolkit.model.objects import Price, Quantity
from toolkit.model.orders import Order, OrderList

_POST_ONLY_TYPES = frozenset(
    {OrderType.LIMIT, OrderType.STOP_LIMIT, OrderType.LIMIT_IF_TOUCHED, OrderType.TRAILING_STOP_LIMIT}
)


def _require_price(value: Price | None, name: str, order_type: OrderType) -> Price:
    """`value` if it is a Price; ValueError naming `name` if missing, TypeError if of the wrong type."""
    if value is None:
        raise ValueError(f"a {order_type.value} order needs {name}")
    return _check_price(value, name, order_type)  # type: ignore[return-value]


def _check_price(value: Price | None, name: str, order_type: OrderType) -> Price | None:
    if value is not None and not isinstance(value, Price):
        raise TypeError(f"{order_type.value} {name} must be a Price, got {type(value).__name__}")
    return value


def _check_offset(value: Decimal | int | None, name: str, order_type: OrderType, *, zero_ok: bool) -> Decimal:
    """An exact offset as a Decimal (ints accepted; floats refused, they are not exact)."""
    if value is None:
        raise ValueError(f"a {order_type.value} order needs {name}")
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise TypeError(f"{order_type.value} {name} must be a Decimal (or int), got {type(value).__name__}")
    offset = Decimal(value)
    if not offset.is_finite() or offset < 0 or (offset == 0 and not zero_ok):
        need = "non-negative" if zero_ok else "positive"
        raise ValueError(f"{order_type.value} {name} must be {need}, got {value}")
    return offset


class OrderFactory:
    """See the module docstring."""

    def __init__(self, trader_id: TraderId, strategy_id: StrategyId, clock: Clock, use_uuids: bool = False) -> None:
        self.trader_id = trader_id
        self.strategy_id = strategy_id
        self.clock = clock
        self.use_uuids = use_uuids
        self.count = 0
        self.order_list_count = 0
        self._stamp_second = -1
        self._stamp_text = ""

    def set_count(self, count: int) -> None:
        """Continue numbering after `count` (restored state after a restart)."""
        self.count = count

    def reset(self) -> None:
        self.count = 0
        self.order_list_count = 0

    def _stamp(self) -> str:
        """The clock's time as YYYYMMDD-HHMMSS, formatted once per second of clock time."""
        second = self.clock.timestamp_ns() // 1_000_000_000
        if second != self._stamp_second:
            self._stamp_second = second
            self._stamp_text = self.clock.utc_now().strftime("%Y%m%d-%H%M%S")
        return self._stamp_text

    def next_client_order_id(self) -> ClientOrderId:
        self.count += 1
        if self.use_uuids:
            return ClientOrderId(str(uuid.uuid4()))
        stamp = self._stamp()
        return ClientOrderId(f"O-{stamp}-{self.trader_id.tag}-{self.strategy_id.tag}-{self.count}")

    def next_order_list_id(self) -> OrderListId:
        self.order_list_count += 1
        if self.use_uuids:
            return OrderListId(str(uuid.uuid4()))
        stamp = self._stamp()
        return OrderListId(f"OL-{stamp}-{self.trader_id.tag}-{self.strategy_id.tag}-{self.order_list_count}")

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
        limit_offset: Decimal | None = None,
        trailing_offset: Decimal | None = None,
        trailing_offset_type: TrailingOffsetType = TrailingOffsetType.PRICE,
        activation_price: Price | None = None,
        emulation_trigger: TriggerType = TriggerType.NO_TRIGGER,
        contingency_type: ContingencyType = ContingencyType.NO_CONTINGENCY,
        order_list_id: OrderListId | None = None,
        linked_order_ids: tuple[ClientOrderId, ...] = (),
        parent_order_id: ClientOrderId | None = None,
        client_order_id: ClientOrderId | None = None,
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
        if post_only and order_type not in _POST_ONLY_TYPES:
            raise ValueError(f"post_only is not valid for a {order_type.value} order (only for limit-type orders)")
        if display_qty is not None and (display_qty.raw < 0 or display_qty.raw > quantity.raw):
            raise ValueError(f"display_qty {display_qty} must be between 0 and the quantity {quantity}")
        if activation_price is not None and not isinstance(activation_price, Price):
            raise TypeError(f"activation_price must be a Price, got {type(activation_price).__name__}")
        if contingency_type is ContingencyType.NO_CONTINGENCY and linked_order_ids:
            raise ValueError("linked_order_ids need a contingency_type (OTO, OCO or OUO)")
        now = self.clock.timestamp_ns()
        init = OrderInitialized(
            trader_id=self.trader_id,
            strategy_id=self.strategy_id,
            instrument_id=InstrumentId(instrument_id),
            client_order_id=client_order_id or self.next_client_order_id(),
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
            limit_offset=limit_offset,
            trailing_offset=trailing_offset,
            trailing_offset_type=trailing_offset_type,
            activation_price=activation_price,
            emulation_trigger=emulation_trigger,
            contingency_type=contingency_type,
            order_list_id=order_list_id,
            linked_order_ids=tuple(linked_order_ids),
            parent_order_id=parent_order_id,
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

    def market_to_limit(
        self,
        instrument_id: InstrumentId | str,
        order_side: OrderSide,
        quantity: Quantity,
        time_in_force: TimeInForce = TimeInForce.GTC,
        expire_time_ns: int = 0,
        reduce_only: bool = False,
        quote_quantity: bool = False,
        display_qty: Quantity | None = None,
        tags: tuple[str, ...] | list[str] = (),
    ) -> Order:
        """Fills what the top of the book offers, then rests the rest as a LIMIT at that fill price."""
        if time_in_force in (TimeInForce.AT_THE_OPEN, TimeInForce.AT_THE_CLOSE):
            raise ValueError(f"time_in_force {time_in_force.value} is not valid for a MARKET_TO_LIMIT order")
        return self._create(
            instrument_id,
            order_side,
            OrderType.MARKET_TO_LIMIT,
            quantity,
            time_in_force,
            expire_time_ns=expire_time_ns,
            reduce_only=reduce_only,
            quote_quantity=quote_quantity,
            display_qty=display_qty,
            tags=tags,
        )

    def market_if_touched(
        self,
        instrument_id: InstrumentId | str,
        order_side: OrderSide,
        quantity: Quantity,
        trigger_price: Price | None = None,
        trigger_type: TriggerType = TriggerType.DEFAULT,
        time_in_force: TimeInForce = TimeInForce.GTC,
        expire_time_ns: int = 0,
        reduce_only: bool = False,
        quote_quantity: bool = False,
        emulation_trigger: TriggerType = TriggerType.NO_TRIGGER,
        tags: tuple[str, ...] | list[str] = (),
    ) -> Order:
        """A market order once the market touches `trigger_price` (BUY: ask <= trigger; SELL: bid >= trigger)."""
        kind = OrderType.MARKET_IF_TOUCHED
        trigger = _require_price(trigger_price, "trigger_price", kind)
        self._check_trigger_type(trigger_type, kind)
        return self._create(
            instrument_id,
            order_side,
            kind,
            quantity,
            time_in_force,
            trigger_price=trigger,
            trigger_type=trigger_type,
            expire_time_ns=expire_time_ns,
            reduce_only=reduce_only,
            quote_quantity=quote_quantity,
            emulation_trigger=emulation_trigger,
            tags=tags,
        )

    def limit_if_touched(
        self,
        instrument_id: InstrumentId | str,
        order_side: OrderSide,
        quantity: Quantity,
        price: Price | None = None,
        trigger_price: Price | None = None,
        trigger_type: TriggerType = TriggerType.DEFAULT,
        time_in_force: TimeInForce = TimeInForce.GTC,
        expire_time_ns: int = 0,
        post_only: bool = False,
        reduce_only: bool = False,
        quote_quantity: bool = False,
        display_qty: Quantity | None = None,
        emulation_trigger: TriggerType = TriggerType.NO_TRIGGER,
        tags: tuple[str, ...] | list[str] = (),
    ) -> Order:
        """A LIMIT at `price` once the market touches `trigger_price`."""
        kind = OrderType.LIMIT_IF_TOUCHED
        limit_price = _require_price(price, "price", kind)
        trigger = _require_price(trigger_price, "trigger_price", kind)
        self._check_trigger_type(trigger_type, kind)
        return self._create(
            instrument_id,
            order_side,
            kind,
            quantity,
            time_in_force,
            price=limit_price,
            trigger_price=trigger,
            trigger_type=trigger_type,
            expire_time_ns=expire_time_ns,
            post_only=post_only,
            reduce_only=reduce_only,
            quote_quantity=quote_quantity,
            display_qty=display_qty,
            emulation_trigger=emulation_trigger,
            tags=tags,
        )

    def trailing_stop_market(
        self,
        instrument_id: InstrumentId | str,
        order_side: OrderSide,
        quantity: Quantity,
        trailing_offset: Decimal | None = None,
        trailing_offset_type: TrailingOffsetType = TrailingOffsetType.PRICE,
        trigger_price: Price | None = None,
        trigger_type: TriggerType = TriggerType.DEFAULT,
        activation_price: Price | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
        expire_time_ns: int = 0,
        reduce_only: bool = False,
        quote_quantity: bool = False,
        emulation_trigger: TriggerType = TriggerType.NO_TRIGGER,
        tags: tuple[str, ...] | list[str] = (),
    ) -> Order:
        """A stop whose trigger trails the market by `trailing_offset` (venue spec §3.7).

        Without `activation_price` it activates on arrival; `trigger_price` is an optional initial trigger.
        """
        kind = OrderType.TRAILING_STOP_MARKET
        offset = self._check_trailing(trailing_offset, trailing_offset_type, trigger_type, kind)
        return self._create(
            instrument_id,
            order_side,
            kind,
            quantity,
            time_in_force,
            trigger_price=_check_price(trigger_price, "trigger_price", kind),
            trigger_type=trigger_type,
            expire_time_ns=expire_time_ns,
            reduce_only=reduce_only,
            quote_quantity=quote_quantity,
            trailing_offset=offset,
            trailing_offset_type=trailing_offset_type,
            activation_price=_check_price(activation_price, "activation_price", kind),
            emulation_trigger=emulation_trigger,
            tags=tags,
        )

    def trailing_stop_limit(
        self,
        instrument_id: InstrumentId | str,
        order_side: OrderSide,
        quantity: Quantity,
        trailing_offset: Decimal | None = None,
        limit_offset: Decimal | None = None,
        trailing_offset_type: TrailingOffsetType = TrailingOffsetType.PRICE,
        price: Price | None = None,
        trigger_price: Price | None = None,
        trigger_type: TriggerType = TriggerType.DEFAULT,
        activation_price: Price | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
        expire_time_ns: int = 0,
        post_only: bool = False,
        reduce_only: bool = False,
        quote_quantity: bool = False,
        display_qty: Quantity | None = None,
        emulation_trigger: TriggerType = TriggerType.NO_TRIGGER,
        tags: tuple[str, ...] | list[str] = (),
    ) -> Order:
        """A trailing stop whose limit trails with `limit_offset` (in `trailing_offset_type` units) too.

        `price` and `trigger_price` are optional initial values; the venue computes them on acceptance.
        """
        kind = OrderType.TRAILING_STOP_LIMIT
        offset = self._check_trailing(trailing_offset, trailing_offset_type, trigger_type, kind)
        lim_offset = _check_offset(limit_offset, "limit_offset", kind, zero_ok=True)
        if trailing_offset_type is TrailingOffsetType.TICKS and lim_offset != lim_offset.to_integral_value():
            raise ValueError(f"{kind.value} limit_offset in TICKS must be a whole number, got {limit_offset}")
        return self._create(
            instrument_id,
            order_side,
            kind,
            quantity,
            time_in_force,
            price=_check_price(price, "price", kind),
            trigger_price=_check_price(trigger_price, "trigger_price", kind),
            trigger_type=trigger_type,
            expire_time_ns=expire_time_ns,
            post_only=post_only,
            reduce_only=reduce_only,
            quote_quantity=quote_quantity,
            display_qty=display_qty,
            limit_offset=lim_offset,
            trailing_offset=offset,
            trailing_offset_type=trailing_offset_type,
            activation_price=_check_price(activation_price, "activation_price", kind),
            emulation_trigger=emulation_trigger,
            tags=tags,
        )

    @staticmethod
    def _check_trigger_type(trigger_type: TriggerType, kind: OrderType) -> None:
        if not isinstance(trigger_type, TriggerType) or trigger_type is TriggerType.NO_TRIGGER:
            raise ValueError(
                f"{kind.value} trigger_type must be a TriggerType other than NO_TRIGGER, got {trigger_type}"
            )

    def _check_trailing(
        self,
        trailing_offset: Decimal | None,
        trailing_offset_type: TrailingOffsetType,
        trigger_type: TriggerType,
        kind: OrderType,
    ) -> Decimal:
        offset = _check_offset(trailing_offset, "trailing_offset", kind, zero_ok=False)
        if not isinstance(trailing_offset_type, TrailingOffsetType):
            raise ValueError(
                f"{kind.value} trailing_offset_type must be a TrailingOffsetType, got {trailing_offset_type}"
            )
        if trailing_offset_type is TrailingOffsetType.TICKS and offset != offset.to_integral_value():
            raise ValueError(f"{kind.value} trailing_offset in TICKS must be a whole number, got {trailing_offset}")
        self._check_trigger_type(trigger_type, kind)
        return offset

    # ---- order lists -----------------------------------------------------------------------------
    def order_list(self, orders: Sequence[Order]) -> OrderList:
        """A plain list of orders to submit together (in this order) under a new order list id.

        The orders keep their own contingency fields (none unless built so); they must be new (INITIALIZED).
        """
        for order in orders:
            if order.strategy_id != self.strategy_id:
                raise ValueError(f"orders: {order.client_order_id} belongs to strategy {order.strategy_id}")
        return OrderList(self.next_order_list_id(), list(orders))

    def bracket(
        self,
        instrument_id: InstrumentId | str,
        order_side: OrderSide,
        quantity: Quantity,
        sl_trigger_price: Price | None = None,
        tp_price: Price | None = None,
        entry_price: Price | None = None,
        entry_trigger_price: Price | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
        expire_time_ns: int = 0,
        entry_post_only: bool = False,
        sl_trigger_type: TriggerType = TriggerType.DEFAULT,
        entry_trigger_type: TriggerType = TriggerType.DEFAULT,
        sl_time_in_force: TimeInForce = TimeInForce.GTC,
        tp_time_in_force: TimeInForce = TimeInForce.GTC,
        tp_post_only: bool = False,
        contingency_type: ContingencyType = ContingencyType.OUO,
        emulation_trigger: TriggerType = TriggerType.NO_TRIGGER,
        entry_tags: tuple[str, ...] | list[str] = ("ENTRY",),
        sl_tags: tuple[str, ...] | list[str] = ("STOP_LOSS",),
        tp_tags: tuple[str, ...] | list[str] = ("TAKE_PROFIT",),
    ) -> OrderList:
        """Entry + stop-loss (STOP_MARKET at `sl_trigger_price`) + take-profit (LIMIT at `tp_price`).

        The entry is MARKET, LIMIT (`entry_price`), STOP_MARKET (`entry_trigger_price`) or STOP_LIMIT (both).
        It is the OTO parent (`linked_order_ids` = (sl, tp)); both exits are reduce-only on the other side,
        have `parent_order_id` = entry and are linked to each other as `contingency_type` (OUO or OCO). All
        three share the new order list id. `time_in_force`/`expire_time_ns` apply to the entry (and to an
        exit whose own time in force is GTD); `emulation_trigger` to every order but a MARKET entry.
        """
        if contingency_type not in (ContingencyType.OUO, ContingencyType.OCO):
            raise ValueError(f"bracket contingency_type must be OUO or OCO, got {contingency_type}")
        if order_side not in (OrderSide.BUY, OrderSide.SELL):
            raise ValueError(f"order side must be BUY or SELL, got {order_side}")
        sl = _require_price(sl_trigger_price, "sl_trigger_price", OrderType.STOP_MARKET)
        tp = _require_price(tp_price, "tp_price", OrderType.LIMIT)
        entry_price = _check_price(entry_price, "entry_price", OrderType.LIMIT)
        entry_trigger_price = _check_price(entry_trigger_price, "entry_trigger_price", OrderType.STOP_MARKET)
        buy = order_side is OrderSide.BUY
        if (sl >= tp) if buy else (sl <= tp):
            relation = "below" if buy else "above"
            raise ValueError(f"bracket {order_side.value}: sl_trigger_price {sl} must be {relation} tp_price {tp}")
        for name, px in (("entry_price", entry_price), ("entry_trigger_price", entry_trigger_price)):
            if px is not None and not (sl < px < tp if buy else tp < px < sl):
                raise ValueError(
                    f"bracket {order_side.value}: {name} {px} must lie between sl_trigger_price {sl} and tp_price {tp}"
                )
        if entry_trigger_price is None:
            entry_type = OrderType.MARKET if entry_price is None else OrderType.LIMIT
        else:
            entry_type = OrderType.STOP_MARKET if entry_price is None else OrderType.STOP_LIMIT
        list_id = self.next_order_list_id()
        entry_id, sl_id, tp_id = (self.next_client_order_id() for _ in range(3))
        exit_side = OrderSide.SELL if buy else OrderSide.BUY
        entry = self._create(
            instrument_id,
            order_side,
            entry_type,
            quantity,
            time_in_force,
            price=entry_price,
            trigger_price=entry_trigger_price,
            trigger_type=entry_trigger_type,
            expire_time_ns=expire_time_ns,
            post_only=entry_post_only,
            emulation_trigger=TriggerType.NO_TRIGGER if entry_type is OrderType.MARKET else emulation_trigger,
            contingency_type=ContingencyType.OTO,
            order_list_id=list_id,
            linked_order_ids=(sl_id, tp_id),
            client_order_id=entry_id,
            tags=entry_tags,
        )
        stop_loss = self._create(
            instrument_id,
            exit_side,
            OrderType.STOP_MARKET,
            quantity,
            sl_time_in_force,
            trigger_price=sl,
            trigger_type=sl_trigger_type,
            expire_time_ns=expire_time_ns if sl_time_in_force is TimeInForce.GTD else 0,
            reduce_only=True,
            emulation_trigger=emulation_trigger,
            contingency_type=contingency_type,
            order_list_id=list_id,
            linked_order_ids=(tp_id,),
            parent_order_id=entry_id,
            client_order_id=sl_id,
            tags=sl_tags,
        )
        take_profit = self._create(
            instrument_id,
            exit_side,
            OrderType.LIMIT,
            quantity,
            tp_time_in_force,
            price=tp,
            expire_time_ns=expire_time_ns if tp_time_in_force is TimeInForce.GTD else 0,
            post_only=tp_post_only,
            reduce_only=True,
            emulation_trigger=emulation_trigger,
            contingency_type=contingency_type,
            order_list_id=list_id,
            linked_order_ids=(sl_id,),
            parent_order_id=entry_id,
            client_order_id=tp_id,
            tags=tp_tags,
        )
        return OrderList(list_id, [entry, stop_loss, take_profit])
