"""The data engine: subscriptions, the market data cache updates, internal bar aggregation, dispatch.

Every market data point (from the backtest stream or a live data client) enters through
`process_*`: it is written to the cache, fed to the bar aggregators of its instrument, and
published on its topic (`data.quotes.<id>`, `data.trades.<id>`, `data.bars.<bar type>`,
`data.book.deltas.<id>`, `data.book.depth10.<id>`; the latest depth snapshot is cached) for the
actors that subscribed. Subscribing to an INTERNAL bar type starts an aggregator; EXTERNAL bars come
from the data itself. Subscribing to book deltas or depth snapshots makes the engine keep an
`OrderBook` (L2_MBP unless L3_MBO is asked for) in the cache (`cache.order_book(id)`): each delta or
snapshot is applied to it before it is published, so a handler reads the book as of that delta. Deltas
arrive one by one; only the one flagged FLAG_LAST (`delta.is_last`) ends a venue update, so a strategy
that wants a consistent book acts on that one. The per-event path is a cache append, a dict lookup and
the handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from toolkit.engine import topics
from toolkit.engine.aggregation import BarAggregator, make_aggregator
from toolkit.model.book import OrderBook
from toolkit.model.data import Bar, BarType, OrderBookDelta, OrderBookDepth10, QuoteTick, TradeTick
from toolkit.model.enums import BookType, PriceType
from toolkit.model.identifiers import InstrumentId

if TYPE_CHECKING:
    from toolkit.core.cache import Cache
    from toolkit.core.clock import Clock
    from toolkit.core.log import Logger
    from toolkit.core.msgbus import MessageBus


class DataEngine:
    """See the module docstring."""

    def __init__(self, clock: Clock, msgbus: MessageBus, cache: Cache, log: Logger) -> None:
        self.clock = clock
        self.msgbus = msgbus
        self.cache = cache
        self.log = log
        self.subscribed_quote_ticks: dict[InstrumentId, int] = {}
        self.subscribed_trade_ticks: dict[InstrumentId, int] = {}
        self.subscribed_bars: dict[BarType, int] = {}
        self.subscribed_deltas: dict[InstrumentId, int] = {}
        self.subscribed_depth10: dict[InstrumentId, int] = {}
        self._aggregators: dict[BarType, BarAggregator] = {}
        self._quote_feeds: dict[InstrumentId, list[BarAggregator]] = {}
        self._trade_feeds: dict[InstrumentId, list[BarAggregator]] = {}
        self._quote_topics: dict[InstrumentId, str] = {}
        self._quote_routes: dict[InstrumentId, tuple[Any, ...]] = {}
        self._trade_topics: dict[InstrumentId, str] = {}
        self._bar_topics: dict[BarType, str] = {}
        self._delta_topics: dict[InstrumentId, str] = {}
        self._depth_topics: dict[InstrumentId, str] = {}
        self.data_count = 0
        # Called with (channel, key) when a first subscription to a stream starts: a live node forwards it
        # to the venue's data client ("quotes"/"trades"/"deltas" + instrument id, "bars" + bar type).
        self.on_subscribe: Callable[[str, object], None] | None = None

    # ---- subscriptions -----------------------------------------------------------------------
    def _first(self, counts: dict, key: object, channel: str) -> None:  # type: ignore[type-arg]
        counts[key] = counts.get(key, 0) + 1
        if counts[key] == 1 and self.on_subscribe is not None:
            self.on_subscribe(channel, key)

    def subscribe_quote_ticks(self, instrument_id: InstrumentId) -> None:
        self._first(self.subscribed_quote_ticks, instrument_id, "quotes")

    def unsubscribe_quote_ticks(self, instrument_id: InstrumentId) -> None:
        _decrement(self.subscribed_quote_ticks, instrument_id)

    def subscribe_trade_ticks(self, instrument_id: InstrumentId) -> None:
        self._first(self.subscribed_trade_ticks, instrument_id, "trades")

    def unsubscribe_trade_ticks(self, instrument_id: InstrumentId) -> None:
        _decrement(self.subscribed_trade_ticks, instrument_id)

    def subscribe_bars(self, bar_type: BarType) -> None:
        if bar_type.is_internal:
            self.subscribed_bars[bar_type] = self.subscribed_bars.get(bar_type, 0) + 1
            if bar_type not in self._aggregators:
                self._start_aggregator(bar_type)
                # The aggregator needs the underlying stream from the venue.
                if bar_type.spec.price_type is PriceType.LAST:
                    self._first(self.subscribed_trade_ticks, bar_type.instrument_id, "trades")
                else:
                    self._first(self.subscribed_quote_ticks, bar_type.instrument_id, "quotes")
            return
        self._first(self.subscribed_bars, bar_type, "bars")

    def subscribe_order_book_deltas(self, instrument_id: InstrumentId, book_type: BookType = BookType.L2_MBP) -> None:
        """Start the instrument's deltas (a live node asks the venue's data client) and keep its book in the cache."""
        self._ensure_book(instrument_id, book_type)
        self._first(self.subscribed_deltas, instrument_id, "deltas")

    def unsubscribe_order_book_deltas(self, instrument_id: InstrumentId) -> None:
        _decrement(self.subscribed_deltas, instrument_id)

    def subscribe_order_book_depth10(self, instrument_id: InstrumentId, book_type: BookType = BookType.L2_MBP) -> None:
        """Keep the instrument's book in the cache from its depth snapshots. (Live data clients have no depth
        channel yet, so nothing is forwarded to the venue.) Without this call the book is still kept once the
        depth topic has a subscriber."""
        self._ensure_book(instrument_id, book_type)
        self.subscribed_depth10[instrument_id] = self.subscribed_depth10.get(instrument_id, 0) + 1

    def unsubscribe_order_book_depth10(self, instrument_id: InstrumentId) -> None:
        _decrement(self.subscribed_depth10, instrument_id)

    def _ensure_book(self, instrument_id: InstrumentId, book_type: BookType) -> OrderBook:
        """The cached book of the instrument, created when missing. An L3 book serves L2 readers too; asking for
        L3 when an L2 book exists replaces it only while it has not been updated yet."""
        if book_type not in (BookType.L2_MBP, BookType.L3_MBO):
            raise ValueError(f"book subscriptions keep L2_MBP or L3_MBO books, not {book_type.value}")
        book = self.cache.order_book(instrument_id)
        if book is not None and book.book_type is BookType.L2_MBP and book_type is BookType.L3_MBO:
            if book.update_count:
                raise ValueError(f"{instrument_id}: an L2 book is already kept and updated; L3 must be asked for first")
            book = None
        if book is None:
            book = OrderBook(instrument_id, book_type)
            self.cache.add_order_book(book)
        return book

    def unsubscribe_bars(self, bar_type: BarType) -> None:
        if _decrement(self.subscribed_bars, bar_type) == 0:
            aggregator = self._aggregators.pop(bar_type, None)
            if aggregator is not None:
                aggregator.stop()
                for feeds in (self._quote_feeds, self._trade_feeds):
                    for aggs in feeds.values():
                        if aggregator in aggs:
                            aggs.remove(aggregator)
                self._quote_routes.clear()

    def _start_aggregator(self, bar_type: BarType) -> None:
        instrument = self.cache.instrument(bar_type.instrument_id)
        if instrument is None:
            raise ValueError(f"cannot aggregate {bar_type}: instrument {bar_type.instrument_id} is not in the cache")
        aggregator = make_aggregator(bar_type, instrument, self.process_bar, self.clock)
        self._aggregators[bar_type] = aggregator
        feeds = self._trade_feeds if bar_type.spec.price_type is PriceType.LAST else self._quote_feeds
        feeds.setdefault(bar_type.instrument_id, []).append(aggregator)
        self._quote_routes.clear()

    def stop(self) -> None:
        for aggregator in self._aggregators.values():
            aggregator.stop()

    def reset(self) -> None:
        self.stop()
        hook = self.on_subscribe
        self.__init__(self.clock, self.msgbus, self.cache, self.log)  # type: ignore[misc]
        self.on_subscribe = hook

    # ---- data --------------------------------------------------------------------------------
    def process(self, data: QuoteTick | TradeTick | Bar | OrderBookDelta | OrderBookDepth10) -> None:
        kind = type(data)
        if kind is QuoteTick:
            self.process_quote_tick(data)  # type: ignore[arg-type]
        elif kind is TradeTick:
            self.process_trade_tick(data)  # type: ignore[arg-type]
        elif kind is Bar:
            self.process_bar(data)  # type: ignore[arg-type]
        elif kind is OrderBookDelta:
            self.process_order_book_delta(data)  # type: ignore[arg-type]
        elif kind is OrderBookDepth10:
            self.process_order_book_depth10(data)  # type: ignore[arg-type]
        else:
            raise TypeError(f"the data engine cannot process {kind.__name__}")

    def process_quote_tick(self, tick: QuoteTick) -> None:
        # The hot path of every quote: cache, bar aggregators, subscribers, with what each needs looked up once
        # per instrument (a route, re-read when the bus's subscriptions or the cache change), not per quote.
        bus = self.msgbus
        route = self._quote_routes.get(tick.instrument_id)
        if route is None or route[0] != bus.generation or route[1] != self.cache.generation:
            route = self._quote_route(tick.instrument_id)
        route[2](tick)
        feeds = route[3]
        if feeds:
            for aggregator in feeds:
                aggregator.handle_quote_tick(tick)
        bus.pub_count += 1
        listeners = route[5]
        if listeners:
            topic = route[4]
            for listener in listeners:
                listener(topic, tick)
        for handler in route[6]:
            handler(tick)

    def _quote_route(self, iid: InstrumentId) -> tuple[Any, ...]:
        """(bus generation, cache generation, history append, aggregators, topic, listeners, handlers)."""
        topic = self._quote_topics.get(iid)
        if topic is None:
            topic = self._quote_topics[iid] = topics.quotes_topic(iid)
        listeners, handlers = self.msgbus.route(topic)
        feeds = self._quote_feeds.get(iid)
        route = (
            self.msgbus.generation,
            self.cache.generation,
            self.cache.quote_history(iid).append,
            tuple(feeds) if feeds else (),
            topic,
            listeners,
            handlers,
        )
        self._quote_routes[iid] = route
        return route

    def process_trade_tick(self, tick: TradeTick) -> None:
        iid = tick.instrument_id
        self.cache.add_trade_tick(tick)
        feeds = self._trade_feeds.get(iid)
        if feeds:
            for aggregator in feeds:
                aggregator.handle_trade_tick(tick)
        topic = self._trade_topics.get(iid)
        if topic is None:
            topic = self._trade_topics[iid] = topics.trades_topic(iid)
        self.msgbus.publish(topic, tick)

    def process_bar(self, bar: Bar) -> None:
        bar_type = bar.bar_type
        self.cache.add_bar(bar)
        topic = self._bar_topics.get(bar_type)
        if topic is None:
            topic = self._bar_topics[bar_type] = topics.bars_topic(bar_type)
        self.msgbus.publish(topic, bar)

    def process_order_book_delta(self, delta: OrderBookDelta) -> None:
        iid = delta.instrument_id
        book = self.cache.order_book(iid)
        if book is not None:
            book.apply_delta(delta)
        topic = self._delta_topics.get(iid)
        if topic is None:
            topic = self._delta_topics[iid] = topics.deltas_topic(iid)
        self.msgbus.publish(topic, delta)

    def process_order_book_depth10(self, depth: OrderBookDepth10) -> None:
        iid = depth.instrument_id
        self.cache.add_depth10(depth)
        topic = self._depth_topics.get(iid)
        if topic is None:
            topic = self._depth_topics[iid] = topics.depth10_topic(iid)
        book = self.cache.order_book(iid)
        if book is None and self.msgbus.has_subscribers(topic):
            book = self._ensure_book(iid, BookType.L2_MBP)
        if book is not None:
            book.apply_depth10(depth)
        self.msgbus.publish(topic, depth)


def _decrement(counts: dict, key: object) -> int:  # type: ignore[type-arg]
    count = counts.get(key, 0) - 1
    if count <= 0:
        counts.pop(key, None)
        return 0
    counts[key] = count
    return count
