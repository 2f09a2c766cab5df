"""The data engine keeps an `OrderBook` in the cache for book subscribers: created on subscription (L2 by
default, L3 when asked), updated by each delta or depth snapshot before it is published, so a handler of the
topic already reads the book as of that delta; a depth topic subscriber alone is enough for depth books."""

from __future__ import annotations

from typing import Any

import pytest

from toolkit.core.cache import Cache
from toolkit.core.clock import TestClock
from toolkit.core.log import Logger
from toolkit.core.msgbus import MessageBus
from toolkit.engine import topics
from toolkit.engine.data import DataEngine
from toolkit.model.book import OrderBook
from toolkit.model.data import FLAG_LAST, FLAG_SNAPSHOT, OrderBookDelta, OrderBookDepth10
from toolkit.model.enums import BookAction, BookType, OrderSide
from toolkit.model.identifiers import InstrumentId

IID = InstrumentId("BTCUSDT-PERP.SIM")
OTHER = InstrumentId("ETHUSDT-PERP.SIM")
E9 = 10**9


def delta(
    action: BookAction,
    side: OrderSide,
    price: int,
    size: int,
    order_id: int = 0,
    flags: int = FLAG_LAST,
    iid: Any = IID,
) -> OrderBookDelta:
    return OrderBookDelta(iid, action, side, price * E9, size * E9, order_id, flags, 1, 1, 0, 5, 5)


def depth(best_bid: int, best_ask: int) -> OrderBookDepth10:
    bids = tuple((best_bid - i) * E9 for i in range(10))
    asks = tuple((best_ask + i) * E9 for i in range(10))
    sizes, counts = (E9,) * 10, (1,) * 10
    return OrderBookDepth10(IID, bids, sizes, counts, asks, sizes, counts, FLAG_SNAPSHOT | FLAG_LAST, 3, 1, 0, 9, 9)


@pytest.fixture
def engine() -> DataEngine:
    clock = TestClock()
    return DataEngine(clock, MessageBus("TESTER-001"), Cache(), Logger("DataEngine", clock))


def test_no_subscription_keeps_no_book(engine: DataEngine) -> None:
    engine.process(delta(BookAction.ADD, OrderSide.BUY, 100, 1))
    engine.process(depth(100, 101))
    assert engine.cache.order_book(IID) is None and engine.cache.order_books() == []


def test_delta_subscription_keeps_an_l2_book_updated_before_handlers_run(engine: DataEngine) -> None:
    seen: list[tuple[int | None, int | None, bool]] = []

    def handler(d: OrderBookDelta) -> None:
        book = engine.cache.order_book(IID)
        assert book is not None
        seen.append((book.best_bid_price, book.best_ask_price, d.is_last))

    engine.msgbus.subscribe(topics.deltas_topic(IID), handler)
    engine.subscribe_order_book_deltas(IID)
    book = engine.cache.order_book(IID)
    assert book is not None and book.book_type is BookType.L2_MBP and book.update_count == 0
    engine.process(delta(BookAction.ADD, OrderSide.BUY, 100, 1, flags=0))
    engine.process(delta(BookAction.ADD, OrderSide.SELL, 102, 1))
    engine.process(delta(BookAction.ADD, OrderSide.SELL, 101, 1))
    engine.process(delta(BookAction.ADD, OrderSide.BUY, 100, 1, iid=OTHER))  # another instrument: not this book
    assert seen == [(100 * E9, None, False), (100 * E9, 102 * E9, True), (100 * E9, 101 * E9, True)]
    assert book.update_count == 3 and engine.cache.order_book(OTHER) is None


def test_l3_subscription_keeps_order_queues(engine: DataEngine) -> None:
    engine.subscribe_order_book_deltas(IID, BookType.L3_MBO)
    engine.process(delta(BookAction.ADD, OrderSide.BUY, 100, 2, order_id=11))
    engine.process(delta(BookAction.ADD, OrderSide.BUY, 100, 1, order_id=12))
    book = engine.cache.order_book(IID)
    assert book is not None and book.book_type is BookType.L3_MBO
    assert book.orders_at(True, 100 * E9) == [(11, 2 * E9), (12, E9)] and book.best_bid_size == 3 * E9


def test_a_second_subscriber_shares_the_book_and_l3_wins_over_l2(engine: DataEngine) -> None:
    engine.subscribe_order_book_deltas(IID)
    first = engine.cache.order_book(IID)
    engine.subscribe_order_book_deltas(IID)
    assert engine.cache.order_book(IID) is first
    engine.subscribe_order_book_deltas(IID, BookType.L3_MBO)  # nothing applied yet: upgraded
    book = engine.cache.order_book(IID)
    assert book is not None and book.book_type is BookType.L3_MBO
    engine.subscribe_order_book_deltas(IID)  # an L2 subscriber keeps the L3 book
    assert engine.cache.order_book(IID) is book


def test_l3_asked_after_an_l2_book_was_updated_is_refused(engine: DataEngine) -> None:
    engine.subscribe_order_book_deltas(IID)
    engine.process(delta(BookAction.ADD, OrderSide.BUY, 100, 1))
    with pytest.raises(ValueError, match="L3 must be asked for first"):
        engine.subscribe_order_book_deltas(IID, BookType.L3_MBO)


def test_l1_book_subscription_is_refused(engine: DataEngine) -> None:
    with pytest.raises(ValueError, match="L2_MBP or L3_MBO"):
        engine.subscribe_order_book_deltas(IID, BookType.L1_MBP)


def test_a_book_put_in_the_cache_first_is_the_one_kept(engine: DataEngine) -> None:
    mine = OrderBook(IID, BookType.L3_MBO)
    engine.cache.add_order_book(mine)
    engine.subscribe_order_book_deltas(IID)
    engine.process(delta(BookAction.ADD, OrderSide.SELL, 101, 4, order_id=1))
    assert engine.cache.order_book(IID) is mine and mine.orders_at(False, 101 * E9) == [(1, 4 * E9)]


def test_only_the_first_delta_subscription_is_forwarded_to_the_venue(engine: DataEngine) -> None:
    forwarded: list[tuple[str, object]] = []
    engine.on_subscribe = lambda channel, key: forwarded.append((channel, key))
    engine.subscribe_order_book_deltas(IID)
    engine.subscribe_order_book_deltas(IID)
    engine.subscribe_order_book_depth10(IID)  # no depth channel on live data clients: not forwarded
    assert forwarded == [("deltas", IID)]
    assert engine.subscribed_deltas == {IID: 2} and engine.subscribed_depth10 == {IID: 1}
    engine.unsubscribe_order_book_deltas(IID)
    engine.unsubscribe_order_book_deltas(IID)
    engine.unsubscribe_order_book_depth10(IID)
    assert engine.subscribed_deltas == {} and engine.subscribed_depth10 == {}


def test_depth_subscription_replaces_the_book_before_handlers_run(engine: DataEngine) -> None:
    seen: list[tuple[int | None, int]] = []

    def handler(d: OrderBookDepth10) -> None:
        book = engine.cache.order_book(IID)
        assert book is not None
        seen.append((book.best_bid_price, book.depth(False)))

    engine.msgbus.subscribe(topics.depth10_topic(IID), handler)
    engine.subscribe_order_book_depth10(IID)
    engine.process(depth(100, 101))
    engine.process(depth(90, 95))
    assert seen == [(100 * E9, 10), (90 * E9, 10)]
    assert engine.cache.depth10(IID) is not None


def test_a_depth_topic_subscriber_alone_gets_a_book(engine: DataEngine) -> None:
    """`Actor.subscribe_order_book_depth10` only subscribes the topic: the engine still keeps the book."""
    books: list[OrderBook | None] = []
    engine.msgbus.subscribe(topics.depth10_topic(IID), lambda d: books.append(engine.cache.order_book(IID)))
    engine.process(depth(100, 101))
    book = books[0]
    assert book is not None and book.best_ask_price == 101 * E9 and book.book_type is BookType.L2_MBP


def test_reset_forgets_subscriptions(engine: DataEngine) -> None:
    engine.subscribe_order_book_deltas(IID)
    engine.subscribe_order_book_depth10(IID)
    engine.reset()
    assert engine.subscribed_deltas == {} and engine.subscribed_depth10 == {}
