"""An order book built from book data: price levels per side (L2, market by price) or individual orders
grouped into levels (L3, market by order), with exact raw-int prices and sizes.

The same class serves the simulated venue (which matches our orders against it without ever changing
it: historical depth is immutable) and strategies (the data engine keeps one per subscribed
instrument in the cache). Deltas apply ADD / UPDATE / DELETE / CLEAR; a delta flagged as a snapshot
start clears the book first; an `OrderBookDepth10` replaces the whole book. Levels are kept in dicts
with a sorted price list per side, so the best level is O(1) and a walk visits only the levels used.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator

from toolkit.model.data import FLAG_LAST, FLAG_SNAPSHOT, OrderBookDelta, OrderBookDepth10
from toolkit.model.enums import BookAction, BookType, OrderSide


class OrderBook:
    """Bid and ask levels of one instrument; see the module docstring.

    `bid_prices` is ascending (best bid last), `ask_prices` ascending (best ask first). For L3 books
    `level_orders` maps (side, price) to the orders resting there in arrival order (order id -> size).
    """

    __slots__ = (
        "_in_snapshot",
        "ask_prices",
        "asks",
        "bid_prices",
        "bids",
        "book_type",
        "instrument_id",
        "level_orders",
        "order_index",
        "sequence",
        "ts_last",
        "update_count",
    )

    def __init__(self, instrument_id: object, book_type: BookType = BookType.L2_MBP) -> None:
        if book_type is BookType.L1_MBP:
            raise ValueError("OrderBook keeps L2 or L3 books; an L1 book is the best bid and ask of quotes")
        self.instrument_id = instrument_id
        self.book_type = book_type
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.bid_prices: list[int] = []
        self.ask_prices: list[int] = []
        self.level_orders: dict[tuple[bool, int], dict[int, int]] = {}
        self.order_index: dict[int, tuple[bool, int]] = {}
        self.sequence = 0
        self.ts_last = 0
        self.update_count = 0
        self._in_snapshot = False

    # ---- queries -----------------------------------------------------------------------------
    @property
    def best_bid_price(self) -> int | None:
        return self.bid_prices[-1] if self.bid_prices else None

    @property
    def best_ask_price(self) -> int | None:
        return self.ask_prices[0] if self.ask_prices else None

    @property
    def best_bid_size(self) -> int:
        return self.bids[self.bid_prices[-1]] if self.bid_prices else 0

    @property
    def best_ask_size(self) -> int:
        return self.asks[self.ask_prices[0]] if self.ask_prices else 0

    def size_at(self, is_bid: bool, price: int) -> int:
        return (self.bids if is_bid else self.asks).get(price, 0)

    def levels(self, is_bid: bool) -> Iterator[tuple[int, int]]:
        """(price, size) best first: bids from the highest, asks from the lowest."""
        if is_bid:
            bids = self.bids
            for px in reversed(self.bid_prices):
                yield px, bids[px]
        else:
            asks = self.asks
            for px in self.ask_prices:
                yield px, asks[px]

    def depth(self, is_bid: bool) -> int:
        return len(self.bid_prices if is_bid else self.ask_prices)

    def orders_at(self, is_bid: bool, price: int) -> list[tuple[int, int]]:
        """L3: (order id, size) resting at a level in arrival order; empty for L2 books."""
        return list(self.level_orders.get((is_bid, price), {}).items())

    # ---- updates -----------------------------------------------------------------------------
    def clear(self, side: OrderSide | None = None) -> None:
        """Remove every level of one side (BUY = bids, SELL = asks), or of both."""
        if side is not OrderSide.SELL:
            self.bids.clear()
            self.bid_prices.clear()
        if side is not OrderSide.BUY:
            self.asks.clear()
            self.ask_prices.clear()
        if side is None or side is OrderSide.NO_ORDER_SIDE:
            self.level_orders.clear()
            self.order_index.clear()
        else:
            is_bid = side is OrderSide.BUY
            for key in [k for k in self.level_orders if k[0] == is_bid]:
                for order_id in self.level_orders.pop(key):
                    self.order_index.pop(order_id, None)

    def _set_level(self, is_bid: bool, price: int, size: int) -> None:
        levels, prices = (self.bids, self.bid_prices) if is_bid else (self.asks, self.ask_prices)
        if size <= 0:
            if levels.pop(price, None) is not None:
                del prices[bisect_left(prices, price)]
            return
        if price not in levels:
            insort(prices, price)
        levels[price] = size

    def _apply_order(self, is_bid: bool, action: BookAction, price: int, size: int, order_id: int) -> None:
        """L3: add, resize or remove one order and keep its level's total in step."""
        old = self.order_index.get(order_id)
        if old is not None:
            old_side, old_px = old
            queue = self.level_orders[old]
            old_size = queue[order_id]
            levels = self.bids if old_side else self.asks
            same_level = old_side == is_bid and old_px == price
            if action is BookAction.UPDATE and same_level and 0 < size <= old_size:
                queue[order_id] = size  # a size reduction keeps the order's place in the queue
                self._set_level(old_side, old_px, levels.get(old_px, 0) - old_size + size)
                return
            del queue[order_id]
            del self.order_index[order_id]
            if not queue:
                del self.level_orders[old]
            self._set_level(old_side, old_px, levels.get(old_px, 0) - old_size)
        if action is BookAction.DELETE or size <= 0:
            return
        self.level_orders.setdefault((is_bid, price), {})[order_id] = size
        self.order_index[order_id] = (is_bid, price)
        levels = self.bids if is_bid else self.asks
        self._set_level(is_bid, price, levels.get(price, 0) + size)

    def apply_delta(self, delta: OrderBookDelta) -> None:
        action = delta.action
        snapshot = bool(delta.flags & FLAG_SNAPSHOT)
        if action is BookAction.CLEAR:
            self.clear()
            self._in_snapshot = snapshot
        else:
            if snapshot and not self._in_snapshot:
                self.clear()  # the first delta of a snapshot that did not start with a CLEAR
            self._in_snapshot = snapshot
            is_bid = delta.side is OrderSide.BUY
            if self.book_type is BookType.L3_MBO and delta.order_id != 0:
                self._apply_order(is_bid, action, delta.price_raw, delta.size_raw, delta.order_id)
            elif action is BookAction.DELETE:
                self._set_level(is_bid, delta.price_raw, 0)
            else:  # ADD / UPDATE set the level's size (size 0 removes it)
                self._set_level(is_bid, delta.price_raw, delta.size_raw)
        if delta.flags & FLAG_LAST:
            self._in_snapshot = False  # the last delta of an update ends any snapshot it belonged to
        self.sequence = delta.sequence
        self.ts_last = delta.ts_event
        self.update_count += 1

    def apply_depth10(self, depth: OrderBookDepth10) -> None:
        """Replace the whole book with the snapshot's levels (empty levels have size 0)."""
        self.clear()
        for px, size in zip(depth.bid_prices_raw, depth.bid_sizes_raw, strict=True):
            if size > 0:
                self._set_level(True, px, size)
        for px, size in zip(depth.ask_prices_raw, depth.ask_sizes_raw, strict=True):
            if size > 0:
                self._set_level(False, px, size)
        self._in_snapshot = False
        self.sequence = depth.sequence
        self.ts_last = depth.ts_event
        self.update_count += 1

    def is_crossed(self) -> bool:
        bid, ask = self.best_bid_price, self.best_ask_price
        return bid is not None and ask is not None and bid >= ask

    def __repr__(self) -> str:
        return (
            f"OrderBook({self.instrument_id}, {self.book_type.value}, bids={self.depth(True)}, "
            f"asks={self.depth(False)}, best={self.best_bid_price}/{self.best_ask_price})"
        )
