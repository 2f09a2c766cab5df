"""The matching engine: one per instrument at a simulated venue, shared by backtests and the sandbox.

It keeps the venue's view of one instrument: the book (L1: best bid/ask with sizes from quotes, trades
and bars; L2/L3: a `toolkit.model.book.OrderBook` from deltas and depth snapshots), the last price, the
resting orders of each side as `VenueOrder` records (copies of what arrived; client orders are never
touched) and the venue-side net positions needed for reduce-only and short-selling checks. Market
data move the book and then match resting orders (`iterate`); commands arriving from the exchange's
queue are processed against the current book. Every outcome is emitted as an order event through
the `emit` callback. Decisions live in `toolkit.backtest.fills` (pure functions), contingent-order
links in `toolkit.backtest.contingency`; behaviour follows `specs/venue.md` §2-§7 (see docs/fills.md
for each order type on bars, quotes, trades and books).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec

from toolkit.backtest.contingency import VenueContingencies
from toolkit.backtest.fills import (
    CLOSE,
    HIGH,
    LOW,
    OPEN,
    limit_matched,
    queue_front_probability,
    split_bar_volume,
    stop_triggered,
    touch_triggered,
    trade_bar_points,
    trail,
    trailing_offset_raw,
    trailing_reference,
)
from toolkit.backtest.models import FeeModel, FillModel
from toolkit.model.book import OrderBook
from toolkit.model.commands import CancelAllOrders, CancelOrder, ModifyOrder
from toolkit.model.data import (
    FLAG_LAST,
    FLAG_SNAPSHOT,
    Bar,
    BarType,
    OrderBookDelta,
    OrderBookDepth10,
    QuoteTick,
    TradeTick,
)
from toolkit.model.enums import (
    AccountType,
    AggressorSide,
    BookAction,
    BookType,
    LiquiditySide,
    OmsType,
    OrderSide,
    OrderType,
    PriceType,
    TimeInForce,
    TrailingOffsetType,
    TriggerMode,
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
from toolkit.model.objects import FIXED_SCALE, Price, Quantity
from toolkit.model.orders import Order

_IMMEDIATE = (TimeInForce.IOC, TimeInForce.FOK)
_MARKET_TYPES = (OrderType.MARKET, OrderType.STOP_MARKET, OrderType.MARKET_IF_TOUCHED, OrderType.TRAILING_STOP_MARKET)
_TOUCH_TYPES = (OrderType.MARKET_IF_TOUCHED, OrderType.LIMIT_IF_TOUCHED)
_TRAILING_TYPES = (OrderType.TRAILING_STOP_MARKET, OrderType.TRAILING_STOP_LIMIT)
_TRAIL_OFFSET_TYPES = (TrailingOffsetType.PRICE.value, TrailingOffsetType.BASIS_POINTS.value, "TICKS")
QUEUE_MODELS = ("conservative", "power", "log")


class MatchingConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Venue behaviour switches (defaults as the venue spec describes; docs/fills.md explains each)."""

    bar_execution: bool = True
    bar_adaptive_high_low_ordering: bool = False
    trade_execution: bool = True
    reject_stop_orders: bool = True
    support_gtd_orders: bool = True
    support_contingent_orders: bool = True
    use_reduce_only: bool = True
    use_position_ids: bool = True
    use_market_order_acks: bool = False
    liquidity_consumption: bool = False
    queue_position: bool = False
    queue_model: str = "conservative"
    queue_power: float = 2.0
    price_protection_points: int | None = None
    oto_trigger_mode: TriggerMode = TriggerMode.PARTIAL

    def __post_init__(self) -> None:
        if self.queue_model not in QUEUE_MODELS:
            raise ValueError(f"queue_model must be one of {', '.join(QUEUE_MODELS)}, got {self.queue_model!r}")
        if self.queue_power <= 0:
            raise ValueError(f"queue_power must be positive, got {self.queue_power}")
        if self.price_protection_points is not None and self.price_protection_points < 0:
            raise ValueError(f"price_protection_points must be >= 0, got {self.price_protection_points}")


class VenueOrder:
    """The venue's own record of a working order (raw ints; independent of the client's Order)."""

    __slots__ = (
        "activated",
        "activation",
        "client_order_id",
        "closed",
        "contingency",
        "display_qty",
        "expire_time_ns",
        "filled",
        "ident",
        "is_buy",
        "limit_like",
        "limit_offset",
        "linked",
        "matched_at",
        "order_list_id",
        "order_type",
        "parent",
        "position_id",
        "post_only",
        "price",
        "q_ahead",
        "q_excess",
        "q_level",
        "quantity",
        "reduce_only",
        "rejected",
        "seq",
        "side",
        "source",
        "time_in_force",
        "trail_offset",
        "trail_type",
        "trigger",
        "trigger_type",
        "triggered",
        "venue_order_id",
    )

    def __init__(self, order: Order, venue_order_id: VenueOrderId, position_id: PositionId | None, seq: int):
        self.source = order
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
        self.limit_like = order.order_type is OrderType.LIMIT
        self.quantity = order.quantity.raw
        self.filled = 0
        self.price = None if order.price is None else order.price.raw
        self.trigger = None if order.trigger_price is None else order.trigger_price.raw
        self.trigger_type = order.trigger_type.value
        self.time_in_force = order.time_in_force
        self.expire_time_ns = order.expire_time_ns
        self.post_only = order.post_only
        self.reduce_only = order.reduce_only
        self.display_qty = None if order.display_qty is None else order.display_qty.raw
        self.position_id = position_id if position_id is not None else order.position_id
        self.venue_order_id = venue_order_id
        self.triggered = False
        self.closed = False
        self.rejected = False
        self.seq = seq
        self.matched_at = -1  # the engine's market-data point this order was last matched at (arrival counts)
        # Trailing stops: offsets at the fixed-point scale, activation price, whether trailing has begun.
        self.trail_offset = _scaled(order.trailing_offset)
        self.limit_offset = _scaled(order.limit_offset)
        self.trail_type = order.trailing_offset_type.value
        self.activation = None if order.activation_price is None else order.activation_price.raw
        self.activated = False
        # Contingent orders.
        self.contingency = order.contingency_type.value
        self.linked = order.linked_order_ids
        self.parent = order.parent_order_id
        self.order_list_id = order.order_list_id
        # Queue position (LIMIT orders with queue_position): size ahead (None until the snapshot is taken),
        # the level size last seen, and the fill the current trade leaves for us once nothing is ahead.
        self.q_ahead: int | None = None
        self.q_level = 0
        self.q_excess = 0

    @property
    def leaves(self) -> int:
        return self.quantity - self.filled

    def sort_key(self) -> tuple[int, int]:
        """Best price first for limits (and triggered stop-limits), nearest trigger first for stops."""
        if self.limit_like:
            key = -self.price if self.is_buy else self.price  # type: ignore[operator]
        elif self.trigger is None:
            key = 1 << 62  # an inactive trailing stop has no trigger yet
        elif self.order_type in _TOUCH_TYPES:
            key = -self.trigger if self.is_buy else self.trigger
        else:
            key = self.trigger if self.is_buy else -self.trigger
        return key, self.seq


def _scaled(value: Decimal | None) -> int | None:
    if value is None:
        return None
    scaled = Decimal(value) * FIXED_SCALE
    if scaled != scaled.to_integral_value():
        raise ValueError(f"offset {value} has more than 9 decimals")
    return int(scaled)


class MatchingEngine:
    """Matching for one instrument; see the module docstring."""

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
        book_type: BookType = BookType.L1_MBP,
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
        self.book_type = book_type
        self._l1 = book_type is BookType.L1_MBP
        self._consumption = self.config.liquidity_consumption
        self._queue = self.config.queue_position
        self._emit = emit
        self._tick = instrument.price_increment.raw
        self._size_increment = instrument.size_increment.raw
        self._price_precision = instrument.price_precision
        self._size_precision = instrument.size_precision
        self._quote_currency = instrument.quote_currency
        self.reset()

    def reset(self) -> None:
        # Top of book (the "core" reference prices outside a trade-driven pass); for L2/L3 kept in step
        # with `self.book`'s best levels.
        self.bid: int | None = None
        self.ask: int | None = None
        self.bid_size = 0
        self.ask_size = 0
        self._pending_quote: QuoteTick | None = None  # the latest quote while nothing rests (not applied yet)
        self.last: int | None = None
        self.book: OrderBook | None = None if self._l1 else OrderBook(self.instrument_id, self.book_type)
        self.ts = 0
        self._ts_last_quote = -1
        self._trade_pass = False
        self._trade_left: int | None = None  # trade size still unshared in a trade pass (liquidity consumption)
        self._trade_size = 0
        self._bar_point: str | None = None
        self._exec_bar_timedelta: int | None = None
        self._pending_quote_bars: dict[tuple[int, int, str], Bar] = {}
        self.paired_bar_specs = set()  # also forgets the per-bar-type replay plans
        self._bids: list[VenueOrder] = []
        self._asks: list[VenueOrder] = []
        self._orders: dict[ClientOrderId, VenueOrder] = {}
        self._positions: dict[PositionId | None, int] = {}
        self._order_count = 0
        self._position_count = 0
        self._trade_count = 0
        self._seq = 0
        # Liquidity consumption: (book side is bid, price) -> (level size when first consumed, consumed).
        self._consumed: dict[tuple[bool, int], tuple[int, int]] = {}
        self._walk_meta: list[tuple[int, int]] = []  # (book level price, qty) behind each planned fill
        self.contingencies = VenueContingencies(self)
        # Market-data points seen (quote, trade, each bar point): an order is matched at most once per point,
        # so the settle's iterate does not fill a remainder again from the same displayed size (spec §3.4, §10.15).
        self._data_point = 0

    # ---- queries -----------------------------------------------------------------------------
    @property
    def data_points(self) -> int:
        """Market data points (quotes, trades, bar points, book updates) this engine has processed since reset."""
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
        if self._pending_quote is not None:
            self._take_pending_quote()
        return None if self.bid is None else Price(self.bid, self._price_precision)

    def best_ask_price(self) -> Price | None:
        if self._pending_quote is not None:
            self._take_pending_quote()
        return None if self.ask is None else Price(self.ask, self._price_precision)

    # ---- market data -------------------------------------------------------------------------
    def process_quote_tick(self, tick: QuoteTick) -> None:
        if not self._l1:
            return  # an L2/L3 book ignores quotes (spec §2.1); the clock still advances
        if not (self._bids or self._asks or self._consumption):
            # Nothing rests and nothing is consumed: only the top of book the latest quote leaves matters, and
            # it is read from that quote when something needs it (`_take_pending_quote` at every entry point).
            if tick.ts_event >= self._ts_last_quote:
                self._pending_quote = tick
                self._ts_last_quote = tick.ts_event
            self._data_point += 1
            return
        if self._pending_quote is not None:
            self._take_pending_quote()
        if tick.ts_event >= self._ts_last_quote:
            if self._consumption:
                self._forget_changed_top(tick)
            self.bid = tick.bid_raw
            self.ask = tick.ask_raw
            self.bid_size = tick.bid_size_raw
            self.ask_size = tick.ask_size_raw
            self._ts_last_quote = tick.ts_event
        self._data_point += 1
        if self._bids or self._asks:
            if self._queue:
                self._queue_on_l1_quote()
            self.iterate(tick.ts_init)

    def _take_pending_quote(self) -> None:
        """Set the top of book from the quote kept while nothing rested (a quote arrives before anything
        else at its time, so applying it late changes nothing anyone could have seen)."""
        tick = self._pending_quote
        assert tick is not None
        self._pending_quote = None
        self.bid = tick.bid_raw
        self.ask = tick.ask_raw
        self.bid_size = tick.bid_size_raw
        self.ask_size = tick.ask_size_raw

    def _forget_changed_top(self, tick: QuoteTick) -> None:
        """A top level whose price or size changed is fresh liquidity: drop what was consumed there."""
        if tick.ask_raw != self.ask or tick.ask_size_raw != self.ask_size:
            self._consumed.pop((False, tick.ask_raw), None)
        if tick.bid_raw != self.bid or tick.bid_size_raw != self.bid_size:
            self._consumed.pop((True, tick.bid_raw), None)

    def _sync_top(self) -> None:
        book = self.book
        assert book is not None
        self.bid = book.best_bid_price
        self.ask = book.best_ask_price
        self.bid_size = book.best_bid_size
        self.ask_size = book.best_ask_size

    def process_order_book_delta(self, delta: OrderBookDelta) -> None:
        """L2/L3: apply the delta, then match after the last delta of a venue update (FLAG_LAST).
        On an L1 book deltas only drive matching (spec §2.1)."""
        if self._pending_quote is not None:
            self._take_pending_quote()
        if self._l1:
            self._data_point += 1
            if self._bids or self._asks:
                self.iterate(delta.ts_init)
            return
        book = self.book
        assert book is not None
        action = delta.action
        is_bid = delta.side is OrderSide.BUY
        queue = self._queue
        # The level's size before the delta matters only to queue positions.
        before = book.size_at(is_bid, delta.price_raw) if queue and action is not BookAction.CLEAR else 0
        book.apply_delta(delta)
        if action is BookAction.CLEAR or delta.flags & FLAG_SNAPSHOT:
            if self._consumed:
                self._consumed.clear()
            if queue:
                self._queue_reset_all()
        else:
            if self._consumed:
                self._consumed.pop((is_bid, delta.price_raw), None)
            if queue:
                after = book.size_at(is_bid, delta.price_raw)
                if after != before or action is BookAction.DELETE:
                    self._queue_on_level_change(is_bid, delta.price_raw, after, action is BookAction.DELETE)
        self._sync_top()
        if delta.flags & FLAG_LAST:
            self._data_point += 1
            if self._bids or self._asks:
                self.iterate(delta.ts_init)

    def process_order_book_depth10(self, depth: OrderBookDepth10) -> None:
        """A depth snapshot replaces the book; on L1 its best levels become the top of book."""
        if self._pending_quote is not None:
            self._take_pending_quote()
        if self._l1:
            self.bid = depth.bid_prices_raw[0] if depth.bid_sizes_raw[0] > 0 else None
            self.ask = depth.ask_prices_raw[0] if depth.ask_sizes_raw[0] > 0 else None
            self.bid_size = depth.bid_sizes_raw[0]
            self.ask_size = depth.ask_sizes_raw[0]
            self._ts_last_quote = max(self._ts_last_quote, depth.ts_event)
        else:
            book = self.book
            assert book is not None
            book.apply_depth10(depth)
            self._consumed.clear()
            if self.config.queue_position:
                self._queue_on_depth(book)
            self._sync_top()
        self._data_point += 1
        if self._bids or self._asks:
            self.iterate(depth.ts_init)

    def process_trade_tick(self, tick: TradeTick) -> None:
        if self._pending_quote is not None:
            self._take_pending_quote()
        px = tick.price_raw
        size = tick.size_raw
        self.last = px
        if not self.config.trade_execution:
            if self._l1 and self._ts_last_quote < 0:
                self.bid = self.ask = px
                self.bid_size = self.ask_size = size
            return  # no matching and no maintenance (GTD expiry, trailing) on trades (§2.1)
        quoted = self._ts_last_quote >= 0 or not self._l1
        saved = (self.bid, self.ask, self.bid_size, self.ask_size)
        aggressor = tick.aggressor_side
        consumption = self.config.liquidity_consumption
        if consumption and not self._l1 and self.book is not None and self.book.ts_last <= tick.ts_event:
            # The trade took displayed liquidity on the side it hit: seed consumption with its size (§3.9).
            if aggressor is AggressorSide.BUYER:
                self._consume(False, px, self.book.size_at(False, px), size)
            elif aggressor is AggressorSide.SELLER:
                self._consume(True, px, self.book.size_at(True, px), size)
        # Transient override so resting orders opposite the aggressor can fill at the trade price.
        # The aggressor's own side moves too (a SELLER print lowers the bid, a BUYER print raises the ask), so
        # stops on that side trigger; its limits are not matched (only the side opposite the aggressor fills).
        match_bids = match_asks = True
        if aggressor is AggressorSide.SELLER:
            match_asks = False
            if self.ask is None or px < self.ask:
                self.ask = px
                self.ask_size = size
            if self.bid is None or px < self.bid:
                self.bid = px
                self.bid_size = size
        elif aggressor is AggressorSide.BUYER:
            match_bids = False
            if self.bid is None or px > self.bid:
                self.bid = px
                self.bid_size = size
            if self.ask is None or px > self.ask:
                self.ask = px
                self.ask_size = size
        else:
            self.bid = self.ask = px
            self.bid_size = self.ask_size = size
        self._data_point += 1
        if self._bids or self._asks:
            if self.config.queue_position:
                self._queue_on_trade(px, size, aggressor)
            self._trade_pass = True
            self._trade_size = size
            self._trade_left = size if consumption else None
            try:
                self._match_sides(tick.ts_init, match_bids, match_asks)
            finally:
                self._trade_pass = False
                self._trade_left = None
                for order in self._bids + self._asks:
                    order.q_excess = 0
        if quoted:
            self.bid, self.ask, self.bid_size, self.ask_size = saved
        else:
            self.bid = self.ask = px
            self.bid_size = self.ask_size = size

    def process_bar(self, bar: Bar) -> None:
        """Replay an external bar as four price points (LAST/MID or one-sided BID/ASK bars as trades,
        BID+ASK pairs with the same ts_init as quotes), before strategies see the bar. L1 books only."""
        if self._pending_quote is not None:
            self._take_pending_quote()
        plan = self._bar_plans.get(bar.bar_type)
        if plan is None:
            plan = self._bar_plan(bar.bar_type)
        replayed, timedelta, as_quotes = plan
        if not replayed:
            return
        if timedelta is not None:
            if self._exec_bar_timedelta is not None and timedelta > self._exec_bar_timedelta:
                return
            self._exec_bar_timedelta = timedelta
        if as_quotes:
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
        if not (self._bids or self._asks):
            # Nothing rests: only the state the bar leaves matters (its last replayed point).
            if points:
                px, size, _ = points[-1]
                self.bid = self.ask = self.last = px
                self.bid_size = self.ask_size = size
                self._data_point += 1
            return
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

    def _bar_plan(self, bar_type: BarType) -> tuple[bool, int | None, bool]:
        """(replayed at all, time-bar duration or None, replayed as quotes with its BID/ASK pair), worked out
        once per bar type (the properties and enum lookups behind it would otherwise run for every bar)."""
        spec = bar_type.spec
        replayed = self.config.bar_execution and not bar_type.is_internal and self._l1
        paired = (spec.step, spec.aggregation.value) in self._paired_bar_specs
        plan = (replayed, spec.timedelta_ns, paired and spec.price_type in (PriceType.BID, PriceType.ASK))
        self._bar_plans[bar_type] = plan
        return plan

    @property
    def paired_bar_specs(self) -> set[tuple[int, str]]:
        """(step, aggregation) of bar specs that come as BID and ASK pairs (set by the engine before a run)."""
        return self._paired_bar_specs

    @paired_bar_specs.setter
    def paired_bar_specs(self, specs: set[tuple[int, str]]) -> None:
        self._paired_bar_specs = specs
        self._bar_plans = {}

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
        """Match resting orders against the current book, then expire GTD orders and move trailing stops."""
        if self._pending_quote is not None:
            self._take_pending_quote()
        self._match_sides(ts, True, True)

    def _match_sides(self, ts: int, match_bids: bool, match_asks: bool) -> None:
        self.ts = ts
        point = self._data_point
        for side, limits_active in ((self._bids, match_bids), (self._asks, match_asks)):
            for order in tuple(side):
                if order.closed or order.matched_at == point:
                    continue  # already matched against this market state (on arrival or earlier in this pass)
                order.matched_at = point
                if limits_active or not order.limit_like:
                    self._match_order(order)
        if self.config.support_gtd_orders:
            for side in (self._bids, self._asks):
                for order in tuple(side):
                    if not order.closed and order.time_in_force is TimeInForce.GTD and 0 < order.expire_time_ns <= ts:
                        self._expire(order)
        self._trail_all()

    def _expire(self, order: VenueOrder) -> None:
        self._remove(order)
        self._emit(
            OrderExpired(
                **order.ident,
                venue_order_id=order.venue_order_id,
                account_id=self.account_id,
                ts_event=self.ts,
                ts_init=self.ts,
            )
        )
        self.contingencies.on_closed(order)

    def _match_order(self, order: VenueOrder) -> None:
        if order.limit_like:
            self._match_limit(order)
            return
        trigger = order.trigger
        if trigger is None or (order.order_type in _TRAILING_TYPES and not order.activated):
            return  # a trailing stop not activated yet
        kind = order.order_type
        if kind in _TOUCH_TYPES:
            hit = touch_triggered(order.is_buy, trigger, self.bid, self.ask)
        else:
            hit = stop_triggered(order.is_buy, trigger, self.bid, self.ask)
        if not hit:
            return
        if kind in _MARKET_TYPES:
            self._fill_market_type(order, triggered_at=trigger)
        else:
            self._trigger_stop_limit(order)

    def _opposite_levels(self, is_buy: bool) -> list[tuple[int, int]]:
        """The levels a BUY (asks) or SELL (bids) can take, best first, with consumed size removed."""
        book = self.book
        if book is None:
            px, size = (self.ask, self.ask_size) if is_buy else (self.bid, self.bid_size)
            if px is None:
                return []
            return [(px, self._available(not is_buy, px, size))]
        levels = []
        for px, size in book.levels(not is_buy):
            levels.append((px, self._available(not is_buy, px, size)))
        return levels

    def _available(self, book_is_bid: bool, px: int, size: int) -> int:
        if not self.config.liquidity_consumption:
            return size
        entry = self._consumed.get((book_is_bid, px))
        if entry is None or entry[0] != size:
            return size
        return max(0, size - entry[1])

    def _consume(self, book_is_bid: bool, px: int, size: int, qty: int) -> None:
        key = (book_is_bid, px)
        entry = self._consumed.get(key)
        used = entry[1] if entry is not None and entry[0] == size else 0
        self._consumed[key] = (size, used + qty)

    def _at_price_draw_fails(self, order: VenueOrder, price: int) -> bool:
        """FillModel.prob_fill_on_limit: a maker fill with the market exactly at the limit needs a draw."""
        if self.fill_model.prob_fill_on_limit >= 1.0:
            return False
        at_price = self.last == price if self._trade_pass else self.bid == price if order.is_buy else self.ask == price
        return at_price and not self.fill_model.is_limit_filled()

    def _match_limit(self, order: VenueOrder) -> None:
        price: int = order.price  # type: ignore[assignment]
        if order.is_buy:
            opposite = self.ask
            if opposite is None or opposite > price:
                return
            through = opposite < price
        else:
            opposite = self.bid
            if opposite is None or opposite < price:
                return
            through = opposite > price
        queued = self.config.queue_position and order.q_ahead is not None
        if queued and not through:
            if self._trade_pass:
                if order.q_excess <= 0:
                    return
            elif order.q_ahead:
                return
        if self._at_price_draw_fails(order, price):
            return
        leaves = order.leaves
        if queued and not through and self._trade_pass:
            leaves = min(leaves, order.q_excess)
        fills: list[tuple[int, int]] = []
        if self.book is None:
            size = self._available(not order.is_buy, opposite, self.ask_size if order.is_buy else self.bid_size)
            if self._trade_pass and self._trade_left is not None:
                size = min(size, self._trade_left)
            first = min(size, leaves)
            if first > 0:
                fills.append((price, first))
                self._walk_meta = [(opposite, first)]
            if through and leaves > first and not self.config.liquidity_consumption:
                fills.append((price, leaves - first))
        else:
            fills = self._book_maker_fills(order, price, leaves)
        if queued and self._trade_pass and not through:
            order.q_excess -= sum(q for _, q in fills)
        self._apply_fills(order, fills, LiquiditySide.MAKER, consume=True)

    def _book_maker_fills(self, order: VenueOrder, price: int, leaves: int) -> list[tuple[int, int]]:
        """L2/L3 maker fills at the limit: book levels at or through it, else (trade pass) the trade's size."""
        fills: list[tuple[int, int]] = []
        remaining = leaves
        self._walk_meta = []
        for px, size in self._opposite_levels(order.is_buy):
            if (px > price) if order.is_buy else (px < price):
                break
            if remaining <= 0:
                break
            qty = min(size, remaining)
            if qty > 0:
                fills.append((price, qty))
                self._walk_meta.append((px, qty))
                remaining -= qty
        if not fills and self._trade_pass:
            qty = min(leaves, self._trade_size if self._trade_left is None else self._trade_left)
            if qty > 0:
                fills.append((price, qty))
        return fills

    def _trigger_stop_limit(self, order: VenueOrder) -> None:
        order.triggered = True
        order.limit_like = True
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
            if order.time_in_force in _IMMEDIATE:
                self._cancel(order)  # nothing to take now: an IOC/FOK never rests
            return  # rests as a triggered limit
        if order.post_only:
            self._remove(order)
            self._reject(order, "post-only stop-limit would have been a taker when triggered", due_post_only=True)
            return
        beyond_trigger = price > trigger if order.is_buy else price < trigger
        if order.order_type in _TOUCH_TYPES:
            beyond_trigger = False
        self._fill_marketable_limit(order, first_price=trigger if beyond_trigger else None)

    # ---- taker fills -------------------------------------------------------------------------
    def _protection_bound(self, order: VenueOrder) -> int | None:
        """Price protection (§3.9): the worst price a MARKET or STOP_MARKET may fill at, or None."""
        k = self.config.price_protection_points
        if k is None or order.order_type not in (OrderType.MARKET, OrderType.STOP_MARKET):
            return None
        best = self.ask if order.is_buy else self.bid
        if best is None:
            return None
        return best + k * self._tick if order.is_buy else best - k * self._tick

    def _taker_plan(
        self, order: VenueOrder, limit: int | None, extend: bool, top_override: int | None = None
    ) -> list[tuple[int, int]]:
        """Taker fills: L1 top level (then the rest one tick worse if `extend`), L2/L3 a walk of the levels
        at or better than `limit` (None: any price), both within the price-protection bound."""
        leaves = order.leaves
        bound = self._protection_bound(order)
        fills: list[tuple[int, int]] = []
        self._walk_meta = []
        if self.book is not None:
            remaining = leaves
            for px, size in self._opposite_levels(order.is_buy):
                if remaining <= 0:
                    break
                if limit is not None and ((px > limit) if order.is_buy else (px < limit)):
                    break
                if bound is not None and ((px > bound) if order.is_buy else (px < bound)):
                    break
                qty = min(size, remaining)
                if qty > 0:
                    fills.append((px, qty))
                    self._walk_meta.append((px, qty))
                    remaining -= qty
            return fills
        top_px, top_size = (self.ask, self.ask_size) if order.is_buy else (self.bid, self.bid_size)
        if top_px is None:
            return fills
        top_size = self._available(not order.is_buy, top_px, top_size)
        tick = self._tick if order.is_buy else -self._tick
        first = min(top_size, leaves)
        px = top_px if top_override is None else top_override
        if first > 0:
            if self.fill_model.prob_slippage > 0.0 and self.fill_model.is_slipped():
                px += tick
            fills.append((px, first))
            self._walk_meta.append((top_px, first))
        rest = leaves - first
        if rest > 0 and extend and not (self.config.liquidity_consumption and first == 0):
            px += tick
            if self.fill_model.prob_slippage > 0.0 and self.fill_model.is_slipped():
                px += tick
            fills.append((px, rest))
        if bound is not None:
            fills = [(p, q) for p, q in fills if ((p <= bound) if order.is_buy else (p >= bound))]
        if limit is not None:  # slippage and the one-tick extension never cross the order's own limit
            fills = [(min(p, limit) if order.is_buy else max(p, limit), q) for p, q in fills]
        return fills

    def _fill_market_type(self, order: VenueOrder, triggered_at: int | None = None) -> None:
        """Fill a MARKET-type order (MARKET, or a triggered STOP_MARKET / MIT / trailing stop) as a taker."""
        top_px = self.ask if order.is_buy else self.bid
        if top_px is None:
            self._remove(order)
            self._reject(order, f"no market for {self.instrument_id}")
            return
        tif = order.time_in_force
        top_override = None
        if triggered_at is not None and self._bar_point in (HIGH, LOW, CLOSE):
            top_override = triggered_at  # the market moved smoothly through the trigger within the bar (§2.4)
        fills = self._taker_plan(order, None, extend=tif is not TimeInForce.IOC, top_override=top_override)
        if tif is TimeInForce.FOK and self._fok_short(order, fills):
            self._cancel(order)
            return
        self._apply_fills(order, fills, LiquiditySide.TAKER, consume=True)
        if not order.closed and order.leaves > 0:
            self._cancel(order)  # market-type orders never rest

    def _fill_marketable_limit(self, order: VenueOrder, first_price: int | None = None) -> None:
        """Taker fill of a limit that crosses the book; the remainder rests (or is canceled if IOC/FOK)."""
        price: int = order.price  # type: ignore[assignment]
        top_px = self.ask if order.is_buy else self.bid
        better = top_px is not None and ((price > top_px) if order.is_buy else (price < top_px))
        tif = order.time_in_force
        fills = self._taker_plan(order, price, extend=better and tif is not TimeInForce.IOC)
        if tif is TimeInForce.FOK and self._fok_short(order, fills):
            self._cancel(order)
            return
        if first_price is not None and fills:
            fills[0] = (first_price, fills[0][1])
        self._apply_fills(order, fills, LiquiditySide.TAKER, consume=True)
        if not order.closed and order.leaves > 0:
            if tif in _IMMEDIATE:
                self._cancel(order)
            elif order.client_order_id not in self._orders:
                self._rest(order)

    def _fok_short(self, order: VenueOrder, fills: list[tuple[int, int]]) -> bool:
        """FOK: the available total is below leaves (L1 counts the top level only, §3.5)."""
        available = (fills[0][1] if fills and self._walk_meta else 0) if self._l1 else sum(q for _, q in fills)
        return available < order.leaves

    def _apply_fills(
        self, order: VenueOrder, fills: list[tuple[int, int]], liquidity: LiquiditySide, consume: bool = False
    ) -> None:
        meta = self._walk_meta if consume else []
        for i, (px, qty) in enumerate(fills):
            if order.closed:
                return
            filled = self._fill(order, px, qty, liquidity)
            if consume and self.config.liquidity_consumption and filled > 0:
                if i < len(meta):
                    level_px = meta[i][0]
                    size = self._level_size(not order.is_buy, level_px)
                    self._consume(not order.is_buy, level_px, size, filled)
                if self._trade_pass and self._trade_left is not None and liquidity is LiquiditySide.MAKER:
                    self._trade_left = max(0, self._trade_left - filled)
        self._walk_meta = []

    def _level_size(self, book_is_bid: bool, px: int) -> int:
        if self.book is not None:
            return self.book.size_at(book_is_bid, px)
        return self.bid_size if book_is_bid else self.ask_size

    def _fill(self, order: VenueOrder, px: int, qty: int, liquidity: LiquiditySide) -> int:
        """Emit one fill (capped at leaves and, for reduce-only orders, at the position); returns its size."""
        qty = min(qty, order.leaves)
        if qty <= 0:
            return 0
        ts = self.ts
        key = self._position_key(order)
        if order.reduce_only and self.config.use_reduce_only:
            net = self._positions.get(key, 0) if key is not None else sum(self._positions.values())
            allowed = -net if order.is_buy else net
            if allowed <= 0:
                self._cancel(order)
                return 0
            if qty > allowed:
                qty = allowed
                order.quantity = order.filled + qty
                self._emit_updated(order)
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
        self._after_fill(order, qty, pos_key)
        return qty

    def _after_fill(self, order: VenueOrder, qty: int, pos_key: PositionId | None) -> None:
        if self.config.support_contingent_orders:
            self.contingencies.on_fill(order, qty)
        if self.config.use_reduce_only:
            self._resize_reduce_only(pos_key, order)

    def _resize_reduce_only(self, pos_key: PositionId | None, filler: VenueOrder | None) -> None:
        """After a fill on a position, passive reduce-only orders on it shrink to what can still reduce it
        (bracket children also to what their parent filled), and are canceled when it is flat (§3.8)."""
        net = self._positions.get(pos_key, 0) if self._hedging else sum(self._positions.values())
        for order in tuple(self._bids) + tuple(self._asks):
            if order.closed or not order.reduce_only or order is filler:
                continue
            if self._hedging and order.position_id != pos_key:
                continue
            room = -net if order.is_buy else net
            if room <= 0:
                self._cancel(order)
                continue
            target = room
            parent = self.contingencies.parent_of(order)
            if parent is not None:
                target = min(parent.filled - order.filled, room)
            elif order.leaves <= room:
                continue  # a standalone order only ever shrinks
            if target <= 0:
                self._cancel(order)
                continue
            quantity = order.filled + target
            if quantity != order.quantity:
                order.quantity = quantity
                self._emit_updated(order)

    def _position_key(self, order: VenueOrder) -> PositionId | None:
        return order.position_id if self._hedging else None

    # ---- queue position ------------------------------------------------------------------------
    def _queue_snapshot(self, order: VenueOrder) -> None:
        """Take the queue snapshot of a resting LIMIT: everything displayed at its price is ahead of it.
        On L1 an order behind the best price waits until the price reaches it (§3.9)."""
        if not self.config.queue_position or order.order_type is not OrderType.LIMIT:
            return
        price: int = order.price  # type: ignore[assignment]
        if self.book is not None:
            size = self.book.size_at(order.is_buy, price)
            order.q_ahead = size
            order.q_level = size
            return
        best = self.bid if order.is_buy else self.ask
        best_size = self.bid_size if order.is_buy else self.ask_size
        if best is None or best == price:
            order.q_ahead = best_size if best is not None else 0
        elif (best < price) if order.is_buy else (best > price):
            order.q_ahead = 0  # our order improves the best price: nothing is ahead
        else:
            order.q_ahead = None  # behind the best: wait for the price to reach the level
        order.q_level = order.q_ahead or 0

    def _queue_on_l1_quote(self) -> None:
        for order in self._bids + self._asks:
            if order.closed or order.order_type is not OrderType.LIMIT or order.price is None:
                continue
            best, best_size = (self.bid, self.bid_size) if order.is_buy else (self.ask, self.ask_size)
            if best is None:
                continue
            price = order.price
            if order.q_ahead is None:
                if best == price:
                    order.q_ahead = best_size
                elif (best < price) if order.is_buy else (best > price):
                    order.q_ahead = 0
                continue
            if (best < price) if order.is_buy else (best > price):
                order.q_ahead = 0  # the level emptied: the queue ahead of us is gone
            elif best == price and order.q_ahead > best_size:
                order.q_ahead = best_size  # back at the level: cap at the displayed size

    def _queue_on_trade(self, px: int, size: int, aggressor: AggressorSide) -> None:
        """Trades at an order's price eat the queue ahead of it; the clearing trade's excess may fill it."""
        for order in self._bids + self._asks:
            if order.closed or order.q_ahead is None or order.price != px:
                continue
            if aggressor is AggressorSide.SELLER and not order.is_buy:
                continue
            if aggressor is AggressorSide.BUYER and order.is_buy:
                continue
            ahead = order.q_ahead
            if ahead >= size:
                order.q_ahead = ahead - size
                order.q_excess = 0
            else:
                order.q_ahead = 0
                order.q_excess = size - ahead
            order.q_level = max(0, order.q_level - size)

    def _queue_on_level_change(
        self, is_bid: bool, price: int, size: int, deleted: bool, only: VenueOrder | None = None
    ) -> None:
        """A level of our side changed size: a delete clears the queue; a decrease not explained by trades
        comes from ahead or behind per the queue model; the queue ahead never exceeds the level (§3.9)."""
        model = self.config.queue_model
        for order in (only,) if only is not None else (self._bids if is_bid else self._asks):
            if order.closed or order.q_ahead is None or order.price != price:
                continue
            if deleted or size == 0:
                order.q_ahead = 0
                order.q_level = 0
                continue
            decrease = order.q_level - size
            if decrease > 0 and model != "conservative" and order.q_ahead > 0:
                behind = max(0, order.q_level - order.q_ahead)
                p = queue_front_probability(order.q_ahead, behind, model, self.config.queue_power)
                if self.fill_model.is_queue_front(p):
                    order.q_ahead = max(0, order.q_ahead - decrease)
                elif decrease > behind:
                    order.q_ahead = max(0, order.q_ahead - (decrease - behind))
            order.q_ahead = min(order.q_ahead, size)
            order.q_level = size

    def _queue_on_depth(self, book: OrderBook) -> None:
        """A depth snapshot changes every level at once: each queued order's level is treated as a size change,
        and a level missing from inside the visible depth as deleted (one beyond the depth is left alone)."""
        for order in self._bids + self._asks:
            if order.closed or order.q_ahead is None or order.price is None:
                continue
            size = book.size_at(order.is_buy, order.price)
            if size == 0:
                prices = book.bid_prices if order.is_buy else book.ask_prices
                if not prices:
                    continue
                worst = prices[0] if order.is_buy else prices[-1]
                if (order.price < worst) if order.is_buy else (order.price > worst):
                    continue  # beyond the visible depth: no news about this level
            self._queue_on_level_change(order.is_buy, order.price, size, size == 0, only=order)

    def _queue_reset_all(self) -> None:
        for order in self._bids + self._asks:
            if order.q_ahead is not None:
                self._queue_snapshot(order)

    # ---- trailing stops ------------------------------------------------------------------------
    def _trail_all(self) -> None:
        for side in (self._bids, self._asks):
            for order in tuple(side):
                if not order.closed and order.order_type in _TRAILING_TYPES and not order.triggered:
                    self._trail(order)

    def _trail(self, order: VenueOrder, emit: bool = True) -> bool:
        """Activate or move a trailing stop (§3.7); returns whether its trigger or limit changed."""
        ref = trailing_reference(order.is_buy, order.trigger_type, self.bid, self.ask, self.last)
        if ref is None:
            return False
        if not order.activated:
            if order.activation is not None and not touch_triggered(
                order.is_buy, order.activation, self.bid, self.ask
            ):
                return False
            order.activated = True
        distance = trailing_offset_raw(order.trail_offset or 0, order.trail_type, ref, self._tick)
        new_trigger = trail(order.is_buy, ref, distance, self._tick)
        changed = False
        if order.trigger is None or (new_trigger < order.trigger if order.is_buy else new_trigger > order.trigger):
            order.trigger = new_trigger
            changed = True
        if order.order_type is OrderType.TRAILING_STOP_LIMIT and order.limit_offset is not None:
            limit_distance = trailing_offset_raw(order.limit_offset, order.trail_type, ref, self._tick)
            new_limit = trail(order.is_buy, ref, limit_distance, self._tick)
            if order.price is None or (new_limit < order.price if order.is_buy else new_limit > order.price):
                order.price = new_limit
                changed = True
        if changed:
            self._resort(order)
            if emit:
                self._emit_updated(order)
        return changed

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
        if order.q_ahead is None:
            self._queue_snapshot(order)

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

    def _emit_updated(self, order: VenueOrder) -> None:
        self._emit(
            OrderUpdated(
                **order.ident,
                quantity=Quantity(order.quantity, self._size_precision),
                price=None if order.price is None else Price(order.price, self._price_precision),
                trigger_price=None if order.trigger is None else Price(order.trigger, self._price_precision),
                venue_order_id=order.venue_order_id,
                account_id=self.account_id,
                ts_event=self.ts,
                ts_init=self.ts,
            )
        )

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
        order.rejected = True
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
        self.contingencies.on_closed(order)

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
        self.contingencies.on_closed(order)

    def _arrival_rejection(self, record: VenueOrder, position_id: PositionId | None) -> str | None:
        """The first venue check the arriving order fails, as a reason, or None (spec §3.3)."""
        order = record.source
        inst = self.instrument
        if isinstance(inst, FuturesContract):
            if self.ts < inst.activation_ns:
                return f"instrument {inst.id} is not active yet"
            if self.ts >= inst.expiration_ns:
                return f"instrument {inst.id} has expired"
        if order.quantity.precision > self._size_precision:
            return (
                f"invalid quantity precision {order.quantity.precision} for {inst.id} "
                f"(size_precision {self._size_precision})"
            )
        for name, px in (
            ("price", order.price),
            ("trigger price", order.trigger_price),
            ("activation price", order.activation_price),
        ):
            if px is not None and px.precision > self._price_precision:
                return (
                    f"invalid {name} precision {px.precision} for {inst.id} (price_precision {self._price_precision})"
                )
        if record.display_qty is not None and not 0 <= record.display_qty <= record.quantity:
            return f"display quantity {order.display_qty} must be within 0..quantity {order.quantity}"
        kind = record.order_type
        if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT, OrderType.LIMIT_IF_TOUCHED) and record.price is None:
            return f"{kind.value} order {record.client_order_id} has no price"
        if kind in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT, *_TOUCH_TYPES) and record.trigger is None:
            return f"{kind.value} order {record.client_order_id} has no trigger price"
        if kind in _TRAILING_TYPES:
            if record.trail_offset is None:
                return f"{kind.value} order {record.client_order_id} has no trailing offset"
            if record.trail_type not in _TRAIL_OFFSET_TYPES:
                return f"trailing offset type {record.trail_type} not supported"
            if kind is OrderType.TRAILING_STOP_LIMIT and record.limit_offset is None and record.price is None:
                return f"{kind.value} order {record.client_order_id} has neither a limit offset nor a price"
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
        if order.time_in_force in (TimeInForce.AT_THE_OPEN, TimeInForce.AT_THE_CLOSE) and kind in (
            OrderType.MARKET,
            OrderType.LIMIT,
        ):
            return f"time in force {order.time_in_force.value} not supported"
        return None

    def process_order(
        self, order: Order, ts: int, position_id: PositionId | None = None, venue_links: bool = True
    ) -> None:
        """An order arrives at the venue (spec §3.3; contingent orders §7). With `venue_links` False the order's
        contingency links are the client's business (a strategy managing them) and the venue ignores them."""
        if self._pending_quote is not None:
            self._take_pending_quote()
        self.ts = ts
        self._seq += 1
        record = VenueOrder(order, self._next_venue_order_id(), position_id, self._seq)
        record.matched_at = self._data_point
        if not venue_links:
            record.parent, record.linked, record.contingency = None, (), "NO_CONTINGENCY"
        if self.config.support_contingent_orders:
            verdict = self.contingencies.on_arrival(record)
            if verdict is not None:
                if verdict:
                    self._reject(record, verdict)
                return  # held until its parent fills (or rejected)
        self.admit(record)
        if record.parent is not None and not record.closed and record.reduce_only and self.config.use_reduce_only:
            self._resize_reduce_only(self._position_key(record), None)

    def admit(self, record: VenueOrder) -> None:
        """Run the venue checks and place an arrived (or released) order: fill, rest, or reject it."""
        reason = self._arrival_rejection(record, record.position_id)
        if reason is not None:
            self._reject(record, reason)
            return
        kind = record.order_type
        if kind is OrderType.MARKET:
            if self.config.use_market_order_acks and (self.ask if record.is_buy else self.bid) is not None:
                self._accept(record)
            self._fill_market_type(record)
        elif kind is OrderType.MARKET_TO_LIMIT:
            self._admit_market_to_limit(record)
        elif kind is OrderType.LIMIT:
            self._admit_limit(record)
        elif kind in _TRAILING_TYPES:
            self._admit_trailing(record)
        else:  # STOP_MARKET, STOP_LIMIT, MARKET_IF_TOUCHED, LIMIT_IF_TOUCHED
            trigger: int = record.trigger  # type: ignore[assignment]
            if kind in _TOUCH_TYPES:
                hit = touch_triggered(record.is_buy, trigger, self.bid, self.ask)
            else:
                hit = stop_triggered(record.is_buy, trigger, self.bid, self.ask)
            if hit:
                self._admit_triggered(record)
                return
            self._accept(record)
            self._rest(record)

    def _admit_limit(self, record: VenueOrder) -> None:
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

    def _admit_market_to_limit(self, record: VenueOrder) -> None:
        """Fill the first fill tuple as a taker; the rest becomes a limit at that fill's price (§3.3)."""
        levels = self._opposite_levels(record.is_buy)
        if not levels or (self.ask if record.is_buy else self.bid) is None:
            self._reject(record, f"no market for {self.instrument_id}")
            return
        top_px, top_size = levels[0]
        if record.time_in_force is TimeInForce.FOK and top_size < record.leaves:
            self._cancel(record)  # fill-or-kill: the first level cannot fill it all
            return
        if top_size < record.leaves:
            self._accept(record)
        self._walk_meta = [(top_px, min(top_size, record.leaves))]
        self._apply_fills(record, [(top_px, min(top_size, record.leaves))], LiquiditySide.TAKER, consume=True)
        if record.closed:
            return
        record.limit_like = True
        record.price = top_px
        self._emit_updated(record)
        if record.time_in_force in _IMMEDIATE:
            self._cancel(record)
        else:
            self._rest(record)

    def _admit_triggered(self, record: VenueOrder) -> None:
        """A stop / if-touched order already triggered on arrival: rejected, or run as triggered (§3.3)."""
        kind = record.order_type
        trigger: int = record.trigger  # type: ignore[assignment]
        if self.config.reject_stop_orders:
            market = self.ask if record.is_buy else self.bid
            self._reject(
                record,
                f"{'stop' if kind not in _TOUCH_TYPES else 'trigger'} price {Price(trigger, self._price_precision)} "
                f"was in the market ({'ask' if record.is_buy else 'bid'} {Price(market, self._price_precision)})",  # type: ignore[arg-type]
            )
            return
        self._accept(record)
        if kind in _MARKET_TYPES:
            self._fill_market_type(record)
        else:
            self._rest(record)
            self._trigger_stop_limit(record)

    def _admit_trailing(self, record: VenueOrder) -> None:
        """Activate now (no activation price) or when the activation price is touched; compute the trigger
        (and limit) on acceptance; a trigger already in the market is rejected (§3.3, §3.7)."""
        if record.activation is not None and touch_triggered(record.is_buy, record.activation, self.bid, self.ask):
            if self.config.reject_stop_orders:
                self._reject(record, f"activation price {Price(record.activation, self._price_precision)} was touched")
                return
            record.activation = None
        if record.activation is None:
            if trailing_reference(record.is_buy, record.trigger_type, self.bid, self.ask, self.last) is None:
                self._reject(record, f"no market for {self.instrument_id} to trail from")
                return
            self._trail(record, emit=False)
            trigger: int = record.trigger  # type: ignore[assignment]
            if stop_triggered(record.is_buy, trigger, self.bid, self.ask):
                self._reject(record, f"trailing trigger {Price(trigger, self._price_precision)} was in the market")
                return
        self._accept(record)
        self._rest(record)
        if record.trigger is not None:
            self._emit_updated(record)

    def process_modify(self, command: ModifyOrder, ts: int) -> None:
        """Change quantity, price or trigger of a working (or held) order (spec §3.6)."""
        if self._pending_quote is not None:
            self._take_pending_quote()
        self.ts = ts
        order = self._orders.get(command.client_order_id)
        held = False
        if order is None:
            order = self.contingencies.held(command.client_order_id)
            held = order is not None
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
        if qty == order.filled and not held:
            self._cancel(order)
            return
        price = order.price if command.price is None else command.price.raw
        trigger = order.trigger if command.trigger_price is None else command.trigger_price.raw
        marketable = False
        if held:
            pass  # not on the book yet: updated in place (§3.6)
        elif order.limit_like:
            marketable = limit_matched(order.is_buy, price, self.bid, self.ask)  # type: ignore[arg-type]
            if marketable and order.post_only:
                reject("post-only order would have been a taker")
                return
        elif trigger is not None:
            if order.order_type in _TOUCH_TYPES:
                in_market = touch_triggered(order.is_buy, trigger, self.bid, self.ask)
            else:
                in_market = stop_triggered(order.is_buy, trigger, self.bid, self.ask)
            if in_market:
                reject(f"new trigger price {Price(trigger, self._price_precision)} is in the market")
                return
        order.quantity, order.price, order.trigger = qty, price, trigger
        order.matched_at = self._data_point
        if not held:
            self._resort(order)
            if order.q_ahead is not None:
                order.q_ahead = None  # any modify sends the order to the back of the queue
                self._queue_snapshot(order)
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
        if self.config.support_contingent_orders and command.quantity is not None:
            self.contingencies.on_modify(order)
        if marketable and not order.closed:
            side = self._bids if order.is_buy else self._asks
            side.remove(order)
            self._orders.pop(order.client_order_id, None)
            self._fill_marketable_limit(order)

    def process_cancel(self, command: CancelOrder, ts: int) -> None:
        if self._pending_quote is not None:
            self._take_pending_quote()
        self.ts = ts
        order = self._orders.get(command.client_order_id) or self.contingencies.held(command.client_order_id)
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
        """Cancel the strategy's working (and held) orders on this instrument (optionally one side only)."""
        if self._pending_quote is not None:
            self._take_pending_quote()
        self.ts = ts
        for order in list(self._bids) + list(self._asks) + self.contingencies.held_orders():
            if order.closed or order.ident["strategy_id"] != command.strategy_id:
                continue
            if command.order_side is not OrderSide.NO_ORDER_SIDE and order.side is not command.order_side:
                continue
            self._cancel(order)

    def snapshot(self) -> dict[str, Any]:
        """Book and working orders, for debugging and the sandbox venue's status endpoint."""
        if self._pending_quote is not None:
            self._take_pending_quote()
        return {
            "instrument_id": str(self.instrument_id),
            "book_type": self.book_type.value,
            "bid": None if self.bid is None else str(Price(self.bid, self._price_precision)),
            "ask": None if self.ask is None else str(Price(self.ask, self._price_precision)),
            "open_orders": len(self._orders),
        }
