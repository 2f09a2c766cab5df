"""The shared `OrderBook`: L2 levels from ADD/UPDATE/DELETE/CLEAR deltas, snapshot flags, depth-10 replacement,
L3 order queues in arrival order (a size reduction keeps the place, an increase goes to the back), best levels
and level walks. Prices and sizes are raw ints at scale 1e9."""

from __future__ import annotations

import pytest

from toolkit.model.book import OrderBook
from toolkit.model.data import FLAG_LAST, FLAG_SNAPSHOT, OrderBookDelta, OrderBookDepth10
from toolkit.model.enums import BookAction, BookType, OrderSide
from toolkit.model.identifiers import InstrumentId

IID = InstrumentId("BTCUSDT-PERP.SIM")
E9 = 10**9
BUY, SELL = OrderSide.BUY, OrderSide.SELL
ADD, UPDATE, DELETE = BookAction.ADD, BookAction.UPDATE, BookAction.DELETE


def d(
    action: BookAction, side: OrderSide, price: int, size: int, order_id: int = 0, flags: int = 0, ts: int = 1
) -> OrderBookDelta:
    return OrderBookDelta(IID, action, side, price * E9, size * E9, order_id, flags, ts, 1, 0, ts, ts)


def levels(book: OrderBook, is_bid: bool) -> list[tuple[int, int]]:
    return [(px // E9, size // E9) for px, size in book.levels(is_bid)]


def l2(*deltas: OrderBookDelta) -> OrderBook:
    book = OrderBook(IID)
    for delta in deltas:
        book.apply_delta(delta)
    return book


def test_l1_book_type_is_refused() -> None:
    with pytest.raises(ValueError, match="L2 or L3"):
        OrderBook(IID, BookType.L1_MBP)


def test_empty_book_has_no_best_levels() -> None:
    book = OrderBook(IID)
    assert (book.best_bid_price, book.best_ask_price, book.best_bid_size, book.best_ask_size) == (None, None, 0, 0)
    assert list(book.levels(True)) == [] and not book.is_crossed()


def test_l2_add_keeps_levels_sorted_best_first() -> None:
    book = l2(d(ADD, BUY, 99, 1), d(ADD, BUY, 101, 3), d(ADD, BUY, 100, 2), d(ADD, SELL, 104, 5), d(ADD, SELL, 102, 4))
    assert levels(book, True) == [(101, 3), (100, 2), (99, 1)]
    assert levels(book, False) == [(102, 4), (104, 5)]
    assert (book.best_bid_price, book.best_bid_size) == (101 * E9, 3 * E9)
    assert (book.best_ask_price, book.best_ask_size) == (102 * E9, 4 * E9)
    assert book.depth(True) == 3 and book.depth(False) == 2
    assert book.size_at(True, 100 * E9) == 2 * E9 and book.size_at(False, 100 * E9) == 0


def test_l2_update_sets_the_level_size_and_size_zero_removes_it() -> None:
    book = l2(d(ADD, BUY, 100, 2), d(ADD, BUY, 99, 1), d(UPDATE, BUY, 100, 7))
    assert levels(book, True) == [(100, 7), (99, 1)]
    book.apply_delta(d(UPDATE, BUY, 100, 0))
    assert levels(book, True) == [(99, 1)] and book.best_bid_price == 99 * E9


def test_l2_delete_removes_the_level_and_an_unknown_delete_changes_nothing() -> None:
    book = l2(d(ADD, SELL, 102, 4), d(ADD, SELL, 103, 1), d(DELETE, SELL, 102, 0))
    assert levels(book, False) == [(103, 1)]
    book.apply_delta(d(DELETE, SELL, 150, 0))
    book.apply_delta(d(DELETE, BUY, 103, 0))  # the other side: asks untouched
    assert levels(book, False) == [(103, 1)] and levels(book, True) == []


def test_clear_delta_empties_both_sides_and_counts_as_an_update() -> None:
    book = l2(d(ADD, BUY, 100, 2), d(ADD, SELL, 101, 2))
    book.apply_delta(OrderBookDelta.clear(IID, 9, 5))
    assert levels(book, True) == [] and levels(book, False) == []
    assert (book.sequence, book.ts_last, book.update_count) == (9, 5, 3)


def test_clear_of_one_side_keeps_the_other() -> None:
    book = l2(d(ADD, BUY, 100, 2), d(ADD, SELL, 101, 2))
    book.clear(BUY)
    assert levels(book, True) == [] and levels(book, False) == [(101, 2)]


def test_a_snapshot_without_clear_replaces_the_book_and_its_later_deltas_add_to_it() -> None:
    book = l2(d(ADD, BUY, 100, 2), d(ADD, BUY, 98, 2), d(ADD, SELL, 101, 2))
    book.apply_delta(d(ADD, BUY, 97, 1, flags=FLAG_SNAPSHOT))  # first delta of a snapshot: the book is cleared
    book.apply_delta(d(ADD, SELL, 99, 4, flags=FLAG_SNAPSHOT | FLAG_LAST))  # same snapshot: added, not cleared
    assert levels(book, True) == [(97, 1)] and levels(book, False) == [(99, 4)]
    book.apply_delta(d(UPDATE, BUY, 97, 3, flags=FLAG_LAST))  # an update after the snapshot
    assert levels(book, True) == [(97, 3)]


def test_a_clear_flagged_snapshot_is_followed_by_its_adds() -> None:
    book = l2(d(ADD, BUY, 90, 9))
    book.apply_delta(OrderBookDelta.clear(IID, 2, 2))
    book.apply_delta(d(ADD, BUY, 100, 1, flags=FLAG_SNAPSHOT))
    book.apply_delta(d(ADD, SELL, 101, 1, flags=FLAG_SNAPSHOT | FLAG_LAST))
    assert levels(book, True) == [(100, 1)] and levels(book, False) == [(101, 1)]


def test_two_snapshots_in_a_row_without_clear_do_not_keep_levels_of_the_first() -> None:
    """Each snapshot replaces the book: the second one starts a new snapshot even though no
    non-snapshot delta came in between (FLAG_LAST ended the first)."""
    book = l2(
        d(ADD, BUY, 100, 1, flags=FLAG_SNAPSHOT),
        d(ADD, SELL, 101, 1, flags=FLAG_SNAPSHOT | FLAG_LAST),
        d(ADD, BUY, 95, 2, flags=FLAG_SNAPSHOT, ts=2),
        d(ADD, SELL, 96, 2, flags=FLAG_SNAPSHOT | FLAG_LAST, ts=2),
    )
    assert levels(book, True) == [(95, 2)] and levels(book, False) == [(96, 2)]
    assert not book.is_crossed()


def depth10(bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> OrderBookDepth10:
    def pad(rows: list[tuple[int, int]]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        rows = rows + [(0, 0)] * (10 - len(rows))
        return tuple(p * E9 for p, _ in rows), tuple(s * E9 for _, s in rows)

    bp, bs = pad(bids)
    ap, as_ = pad(asks)
    zeros = (0,) * 10
    return OrderBookDepth10(IID, bp, bs, zeros, ap, as_, zeros, FLAG_SNAPSHOT | FLAG_LAST, 4, 1, 0, 7, 7)


def test_depth10_replaces_the_whole_book_and_skips_empty_levels() -> None:
    book = l2(d(ADD, BUY, 90, 9), d(ADD, SELL, 120, 9), d(ADD, SELL, 111, 1))
    book.apply_depth10(depth10([(100, 1), (99, 2), (98, 3)], [(101, 4), (102, 5)]))
    assert levels(book, True) == [(100, 1), (99, 2), (98, 3)]
    assert levels(book, False) == [(101, 4), (102, 5)]
    assert (book.sequence, book.ts_last) == (4, 7)
    book.apply_depth10(depth10([], [(105, 1)]))
    assert levels(book, True) == [] and levels(book, False) == [(105, 1)]


def test_is_crossed() -> None:
    book = l2(d(ADD, BUY, 100, 1), d(ADD, SELL, 101, 1))
    assert not book.is_crossed()
    book.apply_delta(d(ADD, BUY, 101, 1))
    assert book.is_crossed()


def test_level_walk_visits_only_what_is_consumed() -> None:
    """Walking asks best first to fill 6 units takes 102 (4) then 2 of 103, never reading 110."""
    book = l2(d(ADD, SELL, 110, 50), d(ADD, SELL, 102, 4), d(ADD, SELL, 103, 3))
    need, taken = 6, []
    for px, size in book.levels(False):
        take = min(need, size // E9)
        taken.append((px // E9, take))
        need -= take
        if need == 0:
            break
    assert taken == [(102, 4), (103, 2)]


# ---- L3 -------------------------------------------------------------------------------------------------


def l3(*deltas: OrderBookDelta) -> OrderBook:
    book = OrderBook(IID, BookType.L3_MBO)
    for delta in deltas:
        book.apply_delta(delta)
    return book


def test_l3_orders_queue_in_arrival_order_and_sum_into_levels() -> None:
    book = l3(d(ADD, BUY, 100, 2, order_id=7), d(ADD, BUY, 100, 1, order_id=3), d(ADD, BUY, 99, 5, order_id=1))
    assert book.orders_at(True, 100 * E9) == [(7, 2 * E9), (3, 1 * E9)]
    assert levels(book, True) == [(100, 3), (99, 5)]


def test_l3_size_reduction_keeps_the_place_and_an_increase_goes_to_the_back() -> None:
    book = l3(d(ADD, SELL, 101, 5, order_id=1), d(ADD, SELL, 101, 2, order_id=2), d(ADD, SELL, 101, 4, order_id=3))
    book.apply_delta(d(UPDATE, SELL, 101, 3, order_id=1))  # partially filled: still first
    assert book.orders_at(False, 101 * E9) == [(1, 3 * E9), (2, 2 * E9), (3, 4 * E9)]
    assert book.size_at(False, 101 * E9) == 9 * E9
    book.apply_delta(d(UPDATE, SELL, 101, 6, order_id=2))  # size up: loses its place
    assert book.orders_at(False, 101 * E9) == [(1, 3 * E9), (3, 4 * E9), (2, 6 * E9)]
    assert book.size_at(False, 101 * E9) == 13 * E9


def test_l3_update_to_another_price_moves_the_order_to_the_back_of_the_new_level() -> None:
    book = l3(d(ADD, BUY, 100, 1, order_id=1), d(ADD, BUY, 99, 1, order_id=2), d(UPDATE, BUY, 99, 1, order_id=1))
    assert levels(book, True) == [(99, 2)]
    assert book.orders_at(True, 99 * E9) == [(2, E9), (1, E9)] and book.orders_at(True, 100 * E9) == []


def test_l3_delete_removes_the_order_and_its_empty_level() -> None:
    book = l3(d(ADD, SELL, 101, 1, order_id=1), d(ADD, SELL, 101, 2, order_id=2), d(ADD, SELL, 102, 1, order_id=3))
    book.apply_delta(d(DELETE, SELL, 101, 0, order_id=1))
    assert book.orders_at(False, 101 * E9) == [(2, 2 * E9)] and levels(book, False) == [(101, 2), (102, 1)]
    book.apply_delta(d(DELETE, SELL, 101, 0, order_id=2))
    assert levels(book, False) == [(102, 1)] and book.best_ask_price == 102 * E9
    book.apply_delta(d(DELETE, SELL, 101, 0, order_id=99))  # unknown order: nothing happens
    assert levels(book, False) == [(102, 1)]


def test_l3_clear_of_one_side_drops_its_orders_only() -> None:
    book = l3(d(ADD, BUY, 100, 1, order_id=1), d(ADD, SELL, 101, 1, order_id=2))
    book.clear(BUY)
    assert levels(book, True) == [] and book.orders_at(True, 100 * E9) == []
    assert book.orders_at(False, 101 * E9) == [(2, E9)]
    book.apply_delta(d(ADD, BUY, 100, 4, order_id=1))  # the cleared id can come back
    assert book.orders_at(True, 100 * E9) == [(1, 4 * E9)]


def test_l3_snapshot_clear_rebuilds_the_queues() -> None:
    book = l3(d(ADD, BUY, 100, 1, order_id=1))
    book.apply_delta(OrderBookDelta.clear(IID, 2, 2))
    book.apply_delta(d(ADD, BUY, 100, 3, order_id=5, flags=FLAG_SNAPSHOT | FLAG_LAST))
    assert book.orders_at(True, 100 * E9) == [(5, 3 * E9)] and levels(book, True) == [(100, 3)]


def test_l2_book_ignores_order_ids_and_has_no_queues() -> None:
    book = l2(d(ADD, BUY, 100, 2, order_id=1), d(ADD, BUY, 100, 3, order_id=2))
    assert levels(book, True) == [(100, 3)] and book.orders_at(True, 100 * E9) == []
