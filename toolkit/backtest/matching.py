"""The matching engine: one per instrument at a simulated venue, shared by backtests and the sandbox.

It keeps the venue's view of one instrument: an L1 book (best bid/ask with sizes, last price),
the resting orders of each side as `VenueOrder` records (copies of what arrived; client orders are
never touched), and the venue-side net positions needed for reduce-only and short-selling checks.
Market data moves the book and then matches resting orders (`iterate`); commands arriving from the
exchange's queue are processed against the current book. Every outcome is emitted as an order
event through the `emit` callback. Decisions live in `toolkit.backtest.fills` (pure functions);
behaviour follows `specs/venue.md` §1-§4 and §6 for L1 books and MARKET, LIMIT, STOP_MARKET and
STOP_LIMIT orders with GTC/IOC/FOK/GTD/DAY.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from toolkit.backtest.fills import (
    CLOSE,
    HIGH,
    LOW,
    OPEN,
    limit_matched,
    split_bar_volume,
    stop_triggered,
    trade_bar_points,
)
from toolkit.backtest.models import FeeModel, FillModel
from toolkit.model.commands import CancelAllOrders, CancelOrder, ModifyOrder
from toolkit.model.data import Bar, OrderBookDelta, OrderBookDepth10, QuoteTick, TradeTick
from toolkit.model.enums import (
    AccountType,
    AggressorSide,
    LiquiditySide,
    OmsType,
    OrderSide,
    OrderType,
    PriceType,
    TimeInForce,
)
from toolkit.model.events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderModifyRejected,
    OrderRejected,
    OrderTriggered,
    OrderUpdated,
)
from toolkit.model.identifiers import AccountId, ClientOrderId, PositionId, TradeId, VenueOrderId
from toolkit.model.instruments import Equity, FuturesContract, Instrument
from toolkit.model.objects import Price, Quantity
from toolkit.model.orders import Order

_IMMEDIATE = (TimeInForce.IOC, TimeInForce.FOK)
_SUPPORTED_TYPES = (OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_MARKET, OrderType.STOP_LIMIT)


class MatchingConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Venue behaviour switches (defaults as the venue spec describes)."""

    bar_execution: bool = True
    bar_adaptive_high_low_ordering: bool = False
    trade_execution: bool = True
    reject_stop_orders: bool = True
    support_gtd_orders: bool = True
    use_reduce_only: bool = True
    use_position_ids: bool = True
    use_market_order_acks: bool = False


class VenueOrder:
    """The venue's own record of a working order (raw ints; independent of the client's Order)."""

    __slots__ = (
        "client_order_id",
        "closed",
        "expire_time_ns",
        "filled",
        "ident",
        "is_buy",
        "matched_at",
        "order_type",
        "position_id",
        "post_only",
        "price",
        "quantity",
        "reduce_only",
        "seq",
        "side",
        "time_in_force",
        "trigger",
        "triggered",
        "venue_order_id",
    )

    def __init__(self, order: Order, venue_order_id: VenueOrderId, position_id: PositionId | None, seq: int):
        self.ident = {
            "trader_id": order.trader_id,
            "strategy_id": order.strategy_id,
            "instrument_id": order.instrument_id,
            "client_order_id": order.client_order_id,
        }
        self.client_order_id = order.client_order_id
        self.side = order.side
        self.is_buy = order.side is OrderSide.BUY
        self.order_type = order.order_type
        self.quantity = order.quantity.raw
        self.filled = 0
        self.price = None if order.price is None else order.price.raw
        self.trigger = None if order.trigger_price is None else order.trigger_price.raw
        self.time_in_force = order.time_in_force
        self.expire_time_ns = order.expire_time_ns
        self.post_only = order.post_only
        self.reduce_only = order.reduce_only
        self.position_id = position_id if position_id is not None else order.position_id
        self.venue_order_id = venue_order_id
        self.triggered = False
        self.closed = False
        self.seq = seq
        self.matched_at = -1  # the engine's market-data point this order was last matched at (arrival counts)

    @property
    def leaves(self) -> int:
        return self.quantity - self.filled

    def sort_key(self) -> tuple[int, int]:
        """Best price first for limits (and triggered stop-limits), nearest trigger first for stops."""
        if self.order_type is OrderType.LIMIT or self.triggered:
            key = -self.price if self.is_buy else self.price  # type: ignore[operator]
        else:
            key = self.trigger if self.is_buy else -self.trigger  # type: ignore[operator]
        return key, self.seq


class MatchingEngine:
    """Matching for one instrument on an L1 book; see the module docstring."""

    def __init__(
        self,
        instrument: Instrument,
        index: int,
        account_id: AccountId,
        account_type: AccountType,
        oms_type: OmsType,
        fill_model: FillModel,
        fee_model: FeeModel,
        emit: Callable[[OrderEvent], None],
        config: MatchingConfig | None = None,
    ) -> None:
        self.instrument = instrument
        self.instrument_id = instrument.id
        self.venue = instrument.id.venue
        self.index = index
        self.account_id = account_id
        self.account_type = account_type
        self._hedging = oms_type is OmsType.HEDGING
        self.fill_model = fill_model
        self.fee_model = fee_model
        self.config = config or MatchingConfig()
        self._emit = emit
        self._tick = instrument.price_increment.raw
        self._size_increment = instrument.size_increment.raw
        self._price_precision = instrument.price_precision
        self._size_precision = instrument.size_precision
        self._quote_currency = instrument.quote_currency
        self.reset()

    def reset(self) -> None:
        # L1 book (also the "core" reference prices outside a trade-driven pass).
        self.bid: int | None = None
        self.ask: int | None = None
        self.bid_size = 0
        self.ask_size = 0
        self.last: int | None = None
        self.ts = 0
        self._ts_last_quote = -1
        self._trade_pass = False
        self._bar_point: str | None = None
        self._exec_bar_timedelta: int | None = None
        self._pending_quote_bars: dict[tuple[int, int, str], Bar] = {}
        self.paired_bar_specs: set[tuple[int, str]] = set()
        self._bids: list[VenueOrder] = []
        self._asks: list[VenueOrder] = []
        self._orders: dict[ClientOrderId, VenueOrder] = {}
        self._positions: dict[PositionId | None, int] = {}
        self._order_count = 0
        self._position_count = 0
        self._trade_count = 0
        self._seq = 0
        # Market-data points seen (quote, trade, each bar point): an order is matched at most once per point,
        # so the settle's iterate does not fill a remainder again from the same displayed size (spec §3.4, §10.15).
        self._data_point = 0

    # ---- queries -----------------------------------------------------------------------------
    @property
    def data_points(self) -> int:
        """Market data points (quotes, trades, bar points) this engine has processed since reset."""
        return self._data_point

    @property
    def has_orders(self) -> bool:
        return bool(self._bids or self._asks)

    def open_orders(self) -> list[VenueOrder]:
        return [o for o in self._bids + self._asks if not o.closed]

    def order(self, client_order_id: ClientOrderId) -> VenueOrder | None:
        return self._orders.get(client_order_id)

    def net_position_raw(self, position_id: PositionId | None = None) -> int:
        if position_id is not None and position_id in self._positions:
            return self._positions[position_id]
        return sum(self._positions.values())

    def best_bid_price(self) -> Price | None:
        return None if self.bid is None else Price(self.bid, self._price_precision)

    def best_ask_price(self) -> Price | None:
        return None if self.ask is None else Price(self.ask, self._price_precision)

    # ---- market data -------------------------------------------------------------------------
    def process_quote_tick(self, tick: QuoteTick) -> None:
        if tick.ts_event >= self._ts_last_quote:
            self.bid = tick.bid_raw
            self.ask = tick.ask_raw
            self.bid_size = tick.bid_size_raw
            self.ask_size = tick.ask_size_raw
            self._ts_last_quote = tick.ts_event
        self._data_point += 1
        if self._bids or self._asks:
            self.iterate(tick.ts_init)

    def process_order_book_delta(self, delta: OrderBookDelta) -> None:
        """On an L1 book deltas only drive matching (spec §2.1); L2/L3 books arrive with a later issue."""
        self._data_point += 1
        if self._bids or self._asks:
            self.iterate(delta.ts_init)

    def process_order_book_depth10(self, depth: OrderBookDepth10) -> None:
        """A depth snapshot replaces the book; on L1 its best levels become the top of book."""
        self.bid = depth.bid_prices_raw[0] if depth.bid_sizes_raw[0] > 0 else None
        self.ask = depth.ask_prices_raw[0] if depth.ask_sizes_raw[0] > 0 else None
        self.bid_size = depth.bid_sizes_raw[0]
        self.ask_size = depth.ask_sizes_raw[0]
        self._ts_last_quote = max(self._ts_last_quote, depth.ts_event)
        self._data_point += 1
        if self._bids or self._asks:
            self.iterate(depth.ts_init)

    def process_trade_tick(self, tick: TradeTick) -> None:
        px = tick.price_raw
        self.last = px
        if not self.config.trade_execution:
            if self._ts_last_quote < 0:
                self.bid = self.ask = px
                self.bid_size = self.ask_size = tick.size_raw
            return
        quoted = self._ts_last_quote >= 0
        saved = (self.bid, self.ask, self.bid_size, self.ask_size)
        aggressor = tick.aggressor_side
        # Transient override so resting orders opposite the aggressor can fill at the trade price.
        match_bids = match_asks = True
        if aggressor is AggressorSide.SELLER:
            match_asks = False
            if self.ask is None or px < self.ask:
                self.ask = px
                self.ask_size = tick.size_raw
        elif aggressor is AggressorSide.BUYER:
            match_bids = False
            if self.bid is None or px > self.bid:
                self.bid = px
                self.bid_size = tick.size_raw
        else:
            self.bid = self.ask = px
            self.bid_size = self.ask_size = tick.size_raw
        self._data_point += 1
        if self._bids or self._asks:
            self._trade_pass = True
            try:
                self._match_sides(tick.ts_init, match_bids, match_asks)
            finally:
                self._trade_pass = False
        if quoted:
            self.bid, self.ask, self.bid_size, self.ask_size = saved
        else:
            self.bid = self.ask = px
            self.bid_size = self.ask_size = tick.size_raw

    def process_bar(self, bar: Bar) -> None:
        """Replay an external bar as four price points (LAST/MID or one-sided BID/ASK bars as trades,
        BID+ASK pairs with the same ts_init as quotes), before strategies see the bar."""
        if not self.config.bar_execution or bar.bar_type.is_internal:
            return
        spec = bar.bar_type.spec
        timedelta = spec.timedelta_ns
        if timedelta is not None:
            if self._exec_bar_timedelta is not None and timedelta > self._exec_bar_timedelta:
                return
            self._exec_bar_timedelta = timedelta
        price_type = spec.price_type
        paired = (spec.step, spec.aggregation.value) in self.paired_bar_specs
        if paired and price_type in (PriceType.BID, PriceType.ASK):
            self._process_quote_bar(bar)
            return
        points = trade_bar_points(
            bar.open_raw,
            bar.high_raw,
            bar.low_raw,
            bar.close_raw,
            bar.volume_raw,
            self._size_increment,
            self.last,
            self.config.bar_adaptive_high_low_ordering,
        )
        ts = bar.ts_init
        try:
            for px, size, point in points:
                self.bid = self.ask = self.last = px
                self.bid_size = self.ask_size = size
                self._bar_point = point
                self._data_point += 1
                if self._bids or self._asks:
                    self.iterate(ts)
        finally:
            self._bar_point = None

    def _process_quote_bar(self, bar: Bar) -> None:
        spec = bar.bar_type.spec
        key = (bar.ts_init, spec.step, spec.aggregation.value)
        other = self._pending_quote_bars.pop(key, None)
        if other is None or other.bar_type.spec.price_type is spec.price_type:
            self._pending_quote_bars[key] = bar
            return
        bid_bar, ask_bar = (bar, other) if spec.price_type is PriceType.BID else (other, bar)
        inc = self._size_increment
        bq, bc = split_bar_volume(bid_bar.volume_raw, inc)
        aq, ac = split_bar_volume(ask_bar.volume_raw, inc)
        adaptive = self.config.bar_adaptive_high_low_ordering
        order = (OPEN, HIGH, LOW, CLOSE)
        if adaptive and not abs(bid_bar.high_raw - bid_bar.open_raw) < abs(bid_bar.low_raw - bid_bar.open_raw):
            order = (OPEN, LOW, HIGH, CLOSE)
        bid_px = {OPEN: bid_bar.open_raw, HIGH: bid_bar.high_raw, LOW: bid_bar.low_raw, CLOSE: bid_bar.close_raw}
        ask_px = {OPEN: ask_bar.open_raw, HIGH: ask_bar.high_raw, LOW: ask_bar.low_raw, CLOSE: ask_bar.close_raw}
        ts = bar.ts_init
        try:
            for point in order:
                self.bid = bid_px[point]
                self.ask = ask_px[point]
                self.bid_size = bc if point == CLOSE else bq
                self.ask_size = ac if point == CLOSE else aq
                self._bar_point = point
                self._data_point += 1
                if self._bids or self._asks:
                    self.iterate(ts)
        finally:
            self._bar_point = None
        self._ts_last_quote = max(self._ts_last_quote, bar.ts_event)

    # ---- matching ----------------------------------------------------------------------------
    def iterate(self, ts: int) -> None:
        """Match resting orders against the current book, then expire GTD orders that are due."""
        self._match_sides(ts, True, True)

    def _match_sides(self, ts: int, match_bids: bool, match_asks: bool) -> None:
        self.ts = ts
        point = self._data_point
        for side, active in ((self._bids, match_bids), (self._asks, match_asks)):
            for order in tuple(side):
                if order.closed or order.matched_at == point:
                    continue  # already matched against this market state (on arrival or earlier in this pass)
                order.matched_at = point
                if active:
                    self._match_order(order)
        if self.config.support_gtd_orders:
            for side in (self._bids, self._asks):
                for order in tuple(side):
                    if not order.closed and order.time_in_force is TimeInForce.GTD and 0 < order.expire_time_ns <= ts:
                        self._remove(order)
                        self._emit(
                            OrderExpired(
                                **order.ident,
                                venue_order_id=order.venue_order_id,
                                account_id=self.account_id,
                                ts_event=ts,
                                ts_init=ts,
                            )
                        )

    def _match_order(self, order: VenueOrder) -> None:
        kind = order.order_type
        if kind is OrderType.LIMIT or order.triggered:
            self._match_limit(order)
        elif kind is OrderType.STOP_MARKET:
            if stop_triggered(order.is_buy, order.trigger, self.bid, self.ask):  # type: ignore[arg-type]
                self._fill_market_type(order, triggered_at=order.trigger)
        elif kind is OrderType.STOP_LIMIT and stop_triggered(order.is_buy, order.trigger, self.bid, self.ask):  # type: ignore[arg-type]
            self._trigger_stop_limit(order)

    def _match_limit(self, order: VenueOrder) -> None:
        price: int = order.price  # type: ignore[assignment]
        if order.is_buy:
            opposite, size = self.ask, self.ask_size
            if opposite is None or opposite > price:
                return
            through = opposite < price
        else:
            opposite, size = self.bid, self.bid_size
            if opposite is None or opposite < price:
                return
            through = opposite > price
        if self.fill_model.prob_fill_on_limit < 1.0:
            if self._trade_pass:
                at_price = self.last == price
            else:
                at_price = (self.bid == price) if order.is_buy else (self.ask == price)
            if at_price and not self.fill_model.is_limit_filled():
                return
        leaves = order.leaves
        first = min(size, leaves)
        fills = [(price, first)] if first > 0 else []
        if through and leaves > first:
            fills.append((price, leaves - first))
        self._apply_fills(order, fills, LiquiditySide.MAKER)

    def _trigger_stop_limit(self, order: VenueOrder) -> None:
        order.triggered = True
        self._resort(order)
        self._emit(
            OrderTriggered(
                **order.ident,
                venue_order_id=order.venue_order_id,
                account_id=self.account_id,
                ts_event=self.ts,
                ts_init=self.ts,
            )
        )
        price: int = order.price  # type: ignore[assignment]
        trigger: int = order.trigger  # type: ignore[assignment]
        if order.is_buy:
            if self.ask is not None and trigger > price > self.ask:
                self._match_limit(order)
                return
        elif self.bid is not None and trigger < price < self.bid:
            self._match_limit(order)
            return
        if not limit_matched(order.is_buy, price, self.bid, self.ask):
            return  # rests as a triggered limit
        if order.post_only:
            self._remove(order)
            self._reject(order, "post-only stop-limit would have been a taker when triggered", due_post_only=True)
            return
        beyond_trigger = price > trigger if order.is_buy else price < trigger
        self._fill_marketable_limit(order, first_price=trigger if beyond_trigger else None)

    # ---- fills -------------------------------------------------------------------------------
    def _taker_plan(self, order: VenueOrder, top_px: int, top_size: int, extend: bool) -> list[tuple[int, int]]:
        """L1 taker fills with optional slippage: top level, then the rest one tick worse if `extend`."""
        tick = self._tick if order.is_buy else -self._tick
        leaves = order.leaves
        fills: list[tuple[int, int]] = []
        first = min(top_size, leaves)
        px = top_px
        if first > 0:
            if self.fill_model.prob_slippage > 0.0 and self.fill_model.is_slipped():
                px += tick
            fills.append((px, first))
        rest = leaves - first
        if rest > 0 and extend:
            px += tick
            if self.fill_model.prob_slippage > 0.0 and self.fill_model.is_slipped():
                px += tick
            fills.append((px, rest))
        return fills

    def _fill_market_type(self, order: VenueOrder, triggered_at: int | None = None) -> None:
        """Fill a MARKET (or triggered STOP_MARKET) against the opposite side as a taker."""
        if order.is_buy:
            top_px, top_size = self.ask, self.ask_size
        else:
            top_px, top_size = self.bid, self.bid_size
        if top_px is None:
            self._remove(order)
            self._reject(order, f"no market for {self.instrument_id}")
            return
        if triggered_at is not None and self._bar_point in (HIGH, LOW, CLOSE):
            top_px = triggered_at  # the market moved smoothly through the trigger within the bar
        tif = order.time_in_force
        if tif is TimeInForce.FOK and top_size < order.leaves:
            self._cancel(order)
            return
        fills = self._taker_plan(order, top_px, top_size, extend=tif is not TimeInForce.IOC)
        self._apply_fills(order, fills, LiquiditySide.TAKER)
        if not order.closed and order.leaves > 0:
            self._cancel(order)  # market-type orders never rest

    def _fill_marketable_limit(self, order: VenueOrder, first_price: int | None = None) -> None:
        """Taker fill of a limit that crosses the book; the remainder rests (or is canceled if IOC/FOK)."""
        price: int = order.price  # type: ignore[assignment]
        if order.is_buy:
            top_px, top_size = self.ask, self.ask_size
            better = top_px is not None and price > top_px
        else:
            top_px, top_size = self.bid, self.bid_size
            better = top_px is not None and price < top_px
        tif = order.time_in_force
        if tif is TimeInForce.FOK and top_size < order.leaves:
            self._cancel(order)
            return
        fills = self._taker_plan(order, top_px, top_size, extend=better and tif is not TimeInForce.IOC)  # type: ignore[arg-type]
        if first_price is not None and fills:
            fills[0] = (first_price, fills[0][1])
        self._apply_fills(order, fills, LiquiditySide.TAKER)
        if not order.closed and order.leaves > 0:
            if tif in _IMMEDIATE:
                self._cancel(order)
            else:
                self._rest(order)

    def _apply_fills(self, order: VenueOrder, fills: list[tuple[int, int]], liquidity: LiquiditySide) -> None:
        for px, qty in fills:
            if order.closed:
                return
            self._fill(order, px, qty, liquidity)

    def _fill(self, order: VenueOrder, px: int, qty: int, liquidity: LiquiditySide) -> None:
        qty = min(qty, order.leaves)
        if qty <= 0:
            return
        ts = self.ts
        key = self._position_key(order)
        if order.reduce_only and self.config.use_reduce_only:
            net = self._positions.get(key, 0) if key is not None else sum(self._positions.values())
            allowed = -net if order.is_buy else net
            if allowed <= 0:
                self._cancel(order)
                return
            if qty > allowed:
                qty = allowed
                order.quantity = order.filled + qty
                self._emit(
                    OrderUpdated(
                        **order.ident,
                        quantity=Quantity(order.quantity, self._size_precision),
                        venue_order_id=order.venue_order_id,
                        account_id=self.account_id,
                        ts_event=ts,
                        ts_init=ts,
                    )
                )
        if self._hedging and self.config.use_position_ids and order.position_id is None:
            self._position_count += 1
            order.position_id = PositionId(f"{self.venue}-{self.index}-{self._position_count:03d}")
        first_fill = order.filled == 0
        commission = self.fee_model.commission(self.instrument, order.client_order_id, qty, px, liquidity, first_fill)
        order.filled += qty
        pos_key = order.position_id if self._hedging else None
        self._positions[pos_key] = self._positions.get(pos_key, 0) + (qty if order.is_buy else -qty)
        if order.filled >= order.quantity:
            self._remove(order)
        self._trade_count += 1
        self._emit(
            OrderFilled(
                **order.ident,
                venue_order_id=order.venue_order_id,
                account_id=self.account_id,
                trade_id=TradeId(f"T-{self.venue}-{self.index}-{self._trade_count:06d}"),
                order_side=order.side,
                order_type=order.order_type,
                last_qty=Quantity(qty, self._size_precision),
                last_px=Price(px, self._price_precision),
                currency=self._quote_currency,
                commission=commission,
                liquidity_side=liquidity,
                position_id=order.position_id if self._hedging else None,
                ts_event=ts,
                ts_init=ts,
            )
        )

    def _position_key(self, order: VenueOrder) -> PositionId | None:
        return order.position_id if self._hedging else None

    # ---- order lifecycle at the venue ---------------------------------------------------------
    def _next_venue_order_id(self) -> VenueOrderId:
        self._order_count += 1
        return VenueOrderId(f"{self.venue}-{self.index}-{self._order_count:03d}")

    def _rest(self, order: VenueOrder) -> None:
        side = self._bids if order.is_buy else self._asks
        side.append(order)
        if len(side) > 1:
            side.sort(key=VenueOrder.sort_key)
        self._orders[order.client_order_id] = order

    def _resort(self, order: VenueOrder) -> None:
        side = self._bids if order.is_buy else self._asks
        if len(side) > 1:
            side.sort(key=VenueOrder.sort_key)

    def _remove(self, order: VenueOrder) -> None:
        order.closed = True
        side = self._bids if order.is_buy else self._asks
        if order in side:
            side.remove(order)
        self._orders.pop(order.client_order_id, None)

    def _accept(self, order: VenueOrder) -> None:
        self._emit(
            OrderAccepted(
                **order.ident,
                venue_order_id=order.venue_order_id,
                account_id=self.account_id,
                ts_event=self.ts,
                ts_init=self.ts,
            )
        )

    def _reject(self, order: VenueOrder, reason: str, due_post_only: bool = False) -> None:
        order.closed = True
        self._emit(
            OrderRejected(
                **order.ident,
                account_id=self.account_id,
                reason=reason,
                due_post_only=due_post_only,
                ts_event=self.ts,
                ts_init=self.ts,
            )
        )

    def _cancel(self, order: VenueOrder) -> None:
        self._remove(order)
        self._emit(
            OrderCanceled(
                **order.ident,
                venue_order_id=order.venue_order_id,
                account_id=self.account_id,
                ts_event=self.ts,
                ts_init=self.ts,
            )
        )

    def _arrival_rejection(self, order: Order, position_id: PositionId | None) -> str | None:
        """The first venue check the arriving order fails, as a reason, or None (spec §3.3)."""
        inst = self.instrument
        if isinstance(inst, FuturesContract):
            if self.ts < inst.activation_ns:
                return f"instrument {inst.id} is not active yet"
            if self.ts >= inst.expiration_ns:
                return f"instrument {inst.id} has expired"
        if order.order_type not in _SUPPORTED_TYPES:
            return f"order type {order.order_type.value} is not supported by the simulated venue yet"
        if order.quantity.precision > self._size_precision:
            return (
                f"invalid quantity precision {order.quantity.precision} for {inst.id} "
                f"(size_precision {self._size_precision})"
            )
        for name, px in (("price", order.price), ("trigger price", order.trigger_price)):
            if px is not None and px.precision > self._price_precision:
                return (
                    f"invalid {name} precision {px.precision} for {inst.id} (price_precision {self._price_precision})"
                )
        net = self.net_position_raw(order.position_id if self._hedging else None)
        if (
            isinstance(inst, Equity)
            and order.side is OrderSide.SELL
            and self.account_type is not AccountType.MARGIN
            and net < order.quantity.raw
        ):
            return "short selling not permitted on a CASH account"
        if self._hedging:
            # A HEDGING order reduces only the position it names (its own or the command's position id);
            # naming none, it has no position to reduce (spec §3.3 rule 7, §6.1).
            net = self._positions.get(position_id, 0) if position_id is not None else 0
        increases = net == 0 or (net > 0) == (order.side is OrderSide.BUY)
        if order.reduce_only and self.config.use_reduce_only and increases:
            return f"reduce-only order {order.client_order_id} would have increased position"
        if order.time_in_force in (TimeInForce.AT_THE_OPEN, TimeInForce.AT_THE_CLOSE):
            return f"time in force {order.time_in_force.value} not supported"
        return None

    def process_order(self, order: Order, ts: int, position_id: PositionId | None = None) -> None:
        """An order arrives at the venue (spec §3.3)."""
        self.ts = ts
        self._seq += 1
        record = VenueOrder(order, self._next_venue_order_id(), position_id, self._seq)
        record.matched_at = self._data_point
        reason = self._arrival_rejection(order, record.position_id)
        if reason is not None:
            self._reject(record, reason)
            return
        kind = record.order_type
        if kind is OrderType.MARKET:
            if self.config.use_market_order_acks and (self.ask if record.is_buy else self.bid) is not None:
                self._accept(record)
            self._fill_market_type(record)
        elif kind is OrderType.LIMIT:
            marketable = limit_matched(record.is_buy, record.price, self.bid, self.ask)  # type: ignore[arg-type]
            if marketable and record.post_only:
                self._reject(record, f"post-only order {record.client_order_id} would have been a taker", True)
                return
            self._accept(record)
            if marketable:
                self._fill_marketable_limit(record)
            elif record.time_in_force in _IMMEDIATE:
                self._cancel(record)
            else:
                self._rest(record)
        else:  # STOP_MARKET, STOP_LIMIT
            trigger: int = record.trigger  # type: ignore[assignment]
            if stop_triggered(record.is_buy, trigger, self.bid, self.ask):
                if self.config.reject_stop_orders:
                    market = self.ask if record.is_buy else self.bid
                    self._reject(
                        record,
                        f"stop price {Price(trigger, self._price_precision)} was in the market "
                        f"({'ask' if record.is_buy else 'bid'} {Price(market, self._price_precision)})",  # type: ignore[arg-type]
                    )
                    return
                self._accept(record)
                if kind is OrderType.STOP_MARKET:
                    self._fill_market_type(record)
                else:
                    self._rest(record)
                    self._trigger_stop_limit(record)
                return
            self._accept(record)
            self._rest(record)

    def process_modify(self, command: ModifyOrder, ts: int) -> None:
        """Change quantity, price or trigger of a working order (spec §3.6)."""
        self.ts = ts
        order = self._orders.get(command.client_order_id)
        ident = {
            "trader_id": command.trader_id,
            "strategy_id": command.strategy_id,
            "instrument_id": command.instrument_id,
            "client_order_id": command.client_order_id,
        }
        if order is None or order.closed:
            self._emit(
                OrderModifyRejected(
                    **ident, reason="order not found", account_id=self.account_id, ts_event=ts, ts_init=ts
                )
            )
            return

        def reject(reason: str) -> None:
            self._emit(
                OrderModifyRejected(
                    **ident,
                    reason=reason,
                    venue_order_id=order.venue_order_id,
                    account_id=self.account_id,
                    ts_event=ts,
                    ts_init=ts,
                )
            )

        qty = order.quantity if command.quantity is None else command.quantity.raw
        if command.quantity is not None and command.quantity.precision > self._size_precision:
            reject(f"invalid quantity precision {command.quantity.precision}")
            return
        for px in (command.price, command.trigger_price):
            if px is not None and px.precision > self._price_precision:
                reject(f"invalid price precision {px.precision}")
                return
        if qty < order.filled:
            reject(f"new quantity is below the filled quantity {Quantity(order.filled, self._size_precision)}")
            return
        if qty == order.filled:
            self._cancel(order)
            return
        price = order.price if command.price is None else command.price.raw
        trigger = order.trigger if command.trigger_price is None else command.trigger_price.raw
        is_limit_like = order.order_type is OrderType.LIMIT or order.triggered
        marketable = False
        if is_limit_like:
            marketable = limit_matched(order.is_buy, price, self.bid, self.ask)  # type: ignore[arg-type]
            if marketable and order.post_only:
                reject("post-only order would have been a taker")
                return
        elif trigger is not None and stop_triggered(order.is_buy, trigger, self.bid, self.ask):
            reject(f"new trigger price {Price(trigger, self._price_precision)} is in the market")
            return
        order.quantity, order.price, order.trigger = qty, price, trigger
        order.matched_at = self._data_point
        self._resort(order)
        self._emit(
            OrderUpdated(
                **ident,
                quantity=Quantity(qty, self._size_precision),
                price=None if price is None else Price(price, self._price_precision),
                trigger_price=None if trigger is None else Price(trigger, self._price_precision),
                venue_order_id=order.venue_order_id,
                account_id=self.account_id,
                ts_event=ts,
                ts_init=ts,
            )
        )
        if marketable:
            side = self._bids if order.is_buy else self._asks
            side.remove(order)
            self._orders.pop(order.client_order_id, None)
            self._fill_marketable_limit(order)

    def process_cancel(self, command: CancelOrder, ts: int) -> None:
        self.ts = ts
        order = self._orders.get(command.client_order_id)
        if order is None or order.closed:
            self._emit(
                OrderCancelRejected(
                    trader_id=command.trader_id,
                    strategy_id=command.strategy_id,
                    instrument_id=command.instrument_id,
                    client_order_id=command.client_order_id,
                    reason="order not found (already closed or never accepted)",
                    account_id=self.account_id,
                    ts_event=ts,
                    ts_init=ts,
                )
            )
            return
        self._cancel(order)

    def process_cancel_all(self, command: CancelAllOrders, ts: int) -> None:
        """Cancel the strategy's working orders on this instrument (optionally one side only)."""
        self.ts = ts
        for order in list(self._bids) + list(self._asks):
            if order.closed or order.ident["strategy_id"] != command.strategy_id:
                continue
            if command.order_side is not OrderSide.NO_ORDER_SIDE and order.side is not command.order_side:
                continue
            self._cancel(order)

    def snapshot(self) -> dict[str, Any]:
        """Book and working orders, for debugging and the sandbox venue's status endpoint."""
        return {
            "instrument_id": str(self.instrument_id),
            "bid": None if self.bid is None else str(Price(self.bid, self._price_precision)),
            "ask": None if self.ask is None else str(Price(self.ask, self._price_precision)),
            "open_orders": len(self._orders),
        }
