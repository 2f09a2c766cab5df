"""A market maker on the L2 book: one post-only bid and one post-only ask around the book's mid, re-quoted
whenever the best bid or ask changes, with an inventory limit and a skew that leans the quotes toward flat.

It subscribes to the instrument's book deltas; the data engine keeps the book in the cache
(`self.cache.order_book(id)`), and the strategy reads it only on a delta flagged FLAG_LAST (the end of one
venue update), so it never quotes off a half-applied update. Quotes: bid = mid - `half_spread_ticks`
(rounded down to the tick), ask = mid + `half_spread_ticks` (rounded up), both moved by
`round(skew_ticks * position / max_position)` ticks (down when long, up when short) and kept off the other
side of the book so a post-only order is never marketable. A side is not quoted when one more `order_size`
would take the position beyond `max_position`; a working order whose fill would do so is cancelled.
Re-quoting is `modify_order` (default) or cancel then replace (`requote = "cancel_replace"`). At most one
order per side is working; nothing is sent for a side while its order is in flight (submitted, pending
cancel or pending modify); after a fill the quotes move at the end of the next book update. `on_stop`
cancels everything. Only the public Strategy API is used, so the same
class and table run in a backtest and on a live node. Data for the run files:

    uv run toolkit catalog instruments --catalog output/mm_catalog data/instruments.toml
    uv run toolkit catalog generate --catalog output/mm_catalog --instrument EUR/USD.SIM --type deltas \\
        --count 20000 --seed 7 --start-price 1.10000 --size 100000 --volatility 1 --regular
    uv run toolkit backtest strategies/market_maker.toml

    uv run toolkit catalog instruments --catalog output/binance_catalog strategies/market_maker_instruments.toml
    uv run toolkit catalog import --format binance_depth --instrument BTCUSDT-PERP.BINANCE \\
        --catalog output/binance_catalog --fix dedupe \\
        ../shared/data/market/crypto/binance-futures-btcusdt-depth-snap-2022-11-01.csv \\
        ../shared/data/market/crypto/binance-futures-btcusdt-depth-update-2022-11-01.csv
    uv run toolkit backtest strategies/market_maker_binance.toml

Live: `uv run toolkit venue strategies/market_maker.toml --lockstep` (the sandbox venue replays the same deltas
and streams them), then `uv run toolkit live strategies/market_maker.toml`.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from toolkit.model.data import OrderBookDelta
from toolkit.model.enums import OrderSide, OrderStatus
from toolkit.model.events import OrderAccepted, OrderCanceled, OrderUpdated, PositionEvent
from toolkit.model.identifiers import InstrumentId
from toolkit.model.instruments import Instrument
from toolkit.model.objects import Price, Quantity, round_half_even
from toolkit.model.orders import Order
from toolkit.trading.config import StrategyConfig
from toolkit.trading.strategy import Strategy

BUY, SELL = OrderSide.BUY, OrderSide.SELL
_WAITING = frozenset(
    {OrderStatus.INITIALIZED, OrderStatus.SUBMITTED, OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_UPDATE}
)


class MarketMakerConfig(StrategyConfig):
    """`order_size` per quote; `max_position` bounds the absolute net position; `half_spread_ticks` (>= 1)
    from the mid to each quote; `skew_ticks` (>= 0) the shift at a full position; `requote` how a quote moves."""

    instrument_id: InstrumentId
    order_size: Quantity
    max_position: Quantity
    half_spread_ticks: Annotated[int, msgspec.Meta(ge=1)] = 1
    skew_ticks: Annotated[int, msgspec.Meta(ge=0)] = 1
    requote: Literal["modify", "cancel_replace"] = "modify"


class MarketMaker(Strategy):
    """See the module docstring."""

    def __init__(self, config: MarketMakerConfig) -> None:
        super().__init__(config)
        if config.order_size.raw <= 0:
            raise ValueError(f"order_size must be positive, got {config.order_size}")
        if config.max_position.raw < config.order_size.raw:
            raise ValueError(f"max_position ({config.max_position}) must be at least order_size ({config.order_size})")
        self.mm: MarketMakerConfig = config
        self._orders: dict[OrderSide, Order | None] = {BUY: None, SELL: None}
        self._top: tuple[int | None, int | None] = (None, None)
        self._tick = 0
        self._price_precision = 0
        self._quantity = config.order_size
        self._quoting = False
        self._position_changed = False

    # ---- lifecycle -----------------------------------------------------------------------------------
    def on_start(self) -> None:
        iid = self.mm.instrument_id
        instrument = self.cache.instrument(iid)
        if instrument is None:
            raise ValueError(f"instrument_id {iid} is not defined")
        self._check_sizes(instrument)
        self._tick = instrument.price_increment.raw
        self._price_precision = instrument.price_precision
        self._quantity = Quantity(self.mm.order_size.raw, instrument.size_precision)
        self._adopt_open_orders()
        self._quoting = True
        self.subscribe_order_book_deltas(iid)

    def _check_sizes(self, instrument: Instrument) -> None:
        """The sizes against the instrument (known only once the strategy runs): grid and min/max quantity."""
        iid, increment = instrument.id, instrument.size_increment
        for name in ("order_size", "max_position"):
            value: Quantity = getattr(self.mm, name)
            if value.raw % increment.raw:
                raise ValueError(f"{name} {value} is not a multiple of {iid}'s size increment {increment}")
        low, high, size = instrument.min_quantity, instrument.max_quantity, self.mm.order_size
        if low is not None and size.raw < low.raw:
            raise ValueError(f"order_size {size} is below {iid}'s min_quantity {low}")
        if high is not None and size.raw > high.raw:
            raise ValueError(f"order_size {size} is above {iid}'s max_quantity {high}")

    def _adopt_open_orders(self) -> None:
        """After a restart the cache may hold our working orders: keep one per side, cancel the rest."""
        iid, sid = self.mm.instrument_id, self.strategy_id
        orders = self.cache.orders_open(instrument_id=iid, strategy_id=sid)
        orders += self.cache.orders_inflight(instrument_id=iid, strategy_id=sid)
        for order in {o.client_order_id: o for o in orders}.values():
            if self._orders[order.side] is None:
                self._orders[order.side] = order
            elif order.status is not OrderStatus.PENDING_CANCEL:
                self.cancel_order(order)

    def on_stop(self) -> None:
        self._quoting = False
        self.cancel_all_orders(self.mm.instrument_id)

    def on_reset(self) -> None:
        self._orders = {BUY: None, SELL: None}
        self._top = (None, None)
        self._quoting = False
        self._position_changed = False

    # ---- data and events -----------------------------------------------------------------------------
    def on_order_book_delta(self, delta: OrderBookDelta) -> None:
        if not delta.is_last:
            return  # the middle of a venue update: the book is not consistent yet
        book = self.cache.order_book(self.mm.instrument_id)
        if book is None:
            return
        top = (book.best_bid_price, book.best_ask_price)
        if top != self._top or self._position_changed:
            self._top = top
            self._position_changed = False
            self.update_quotes()

    def on_order_accepted(self, event: OrderAccepted) -> None:
        self.update_quotes()  # the book may have moved while the order was in flight

    def on_order_updated(self, event: OrderUpdated) -> None:
        self.update_quotes()

    def on_order_canceled(self, event: OrderCanceled) -> None:
        self.update_quotes()  # the side is free: quote it again

    def on_position_event(self, event: PositionEvent) -> None:
        # A fill changed the inventory (limits, skew). The venue filled us because the market moved, and the
        # book showing that move may not have reached us yet: re-quote at the end of the next book update
        # rather than now against a stale book (a post-only quote there would be refused).
        self._position_changed = True

    # Rejections (post-only would take, modify refused, cancel too late) wait for the next book change: an
    # immediate retry against the same book would be refused again.

    # ---- quoting -------------------------------------------------------------------------------------
    def position_raw(self) -> int:
        """Net signed position of this strategy in the instrument (raw fixed-point)."""
        positions = self.cache.positions_open(instrument_id=self.mm.instrument_id, strategy_id=self.strategy_id)
        return sum(p.signed_qty_raw for p in positions)

    def quote_prices(self, best_bid: int, best_ask: int, position: int) -> tuple[int, int]:
        """Raw (bid, ask) to quote for a book top and a position; see the module docstring."""
        tick, twice_half = self._tick, 2 * self.mm.half_spread_ticks * self._tick
        twice_mid = best_bid + best_ask
        bid = (twice_mid - twice_half) // (2 * tick) * tick
        ask = -((-(twice_mid + twice_half)) // (2 * tick)) * tick
        skew = round_half_even(self.mm.skew_ticks * position, self.mm.max_position.raw) * tick
        bid, ask = bid - skew, ask - skew
        return min(bid, best_ask - tick), max(ask, best_bid + tick)

    def update_quotes(self) -> None:
        if not self._quoting:
            return
        best_bid, best_ask = self._top
        position = self.position_raw()
        if best_bid is None or best_ask is None or best_bid >= best_ask:
            prices: tuple[int | None, int | None] = (None, None)  # no two-sided book: no mid, no quotes
        else:
            bid, ask = self.quote_prices(best_bid, best_ask, position)
            prices = (bid if bid > 0 else None, ask)
        self._work(BUY, prices[0], position)
        self._work(SELL, prices[1], position)

    def _work(self, side: OrderSide, price: int | None, position: int) -> None:
        sign = 1 if side is BUY else -1
        limit = self.mm.max_position.raw
        order = self._orders[side]
        if order is not None and order.is_closed:
            order = self._orders[side] = None
        if order is not None:
            if order.status in _WAITING:
                return  # never act on a side whose order, cancel or modify is in flight
            if price is None or abs(position + sign * order.leaves_qty.raw) > limit:
                self.cancel_order(order)
            elif order.price is not None and order.price.raw != price:
                if self.mm.requote == "modify":
                    self.modify_order(order, price=Price(price, self._price_precision))
                else:
                    self.cancel_order(order)  # the replacement goes in once the cancel is confirmed
            return
        if price is None or abs(position + sign * self._quantity.raw) > limit:
            return  # one more fill would take the inventory beyond max_position
        order = self.order_factory.limit(
            self.mm.instrument_id, side, self._quantity, Price(price, self._price_precision), post_only=True
        )
        self._orders[side] = order
        self.submit_order(order)
