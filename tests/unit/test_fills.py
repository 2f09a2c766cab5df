"""Direct tests of the pure fill decisions in `toolkit.backtest.fills` against the venue spec (§2.4, §3.1, §3.2).

Prices and sizes are raw fixed-point ints (10**9 per unit), as the matching engine passes them.
"""

from __future__ import annotations

import pytest

from toolkit.backtest.fills import (
    CLOSE,
    HIGH,
    LOW,
    OPEN,
    bar_point_order,
    limit_matched,
    split_bar_volume,
    stop_triggered,
    taker_fills,
    touch_triggered,
    trade_bar_points,
)
from toolkit.model.objects import Price, Quantity

UNIT = Quantity.from_int(1).raw  # one size increment of size precision 0
TICK = Price.from_str("0.001").raw


def px(text: str) -> int:
    return Price.from_str(text).raw


def qty(n: int) -> int:
    return n * UNIT


# ---- predicates (§3.1) ---------------------------------------------------------------------------


class TestLimitMatched:
    def test_buy_matches_when_ask_at_or_below_price(self) -> None:
        assert limit_matched(True, px("90.005"), px("90.002"), px("90.005"))
        assert limit_matched(True, px("90.010"), px("90.002"), px("90.005"))
        assert not limit_matched(True, px("90.004"), px("90.002"), px("90.005"))

    def test_sell_matches_when_bid_at_or_above_price(self) -> None:
        assert limit_matched(False, px("90.002"), px("90.002"), px("90.005"))
        assert limit_matched(False, px("90.000"), px("90.002"), px("90.005"))
        assert not limit_matched(False, px("90.003"), px("90.002"), px("90.005"))

    def test_unset_relevant_side_is_false(self) -> None:
        assert not limit_matched(True, px("999.999"), px("90.002"), None)
        assert not limit_matched(False, px("0.001"), None, px("90.005"))
        assert not limit_matched(True, px("90.000"), None, None)
        assert not limit_matched(False, px("90.000"), None, None)

    def test_unset_other_side_does_not_matter(self) -> None:
        assert limit_matched(True, px("90.005"), None, px("90.005"))
        assert limit_matched(False, px("90.002"), px("90.002"), None)


class TestStopTriggered:
    def test_buy_triggers_when_ask_at_or_above_trigger(self) -> None:
        assert stop_triggered(True, px("90.005"), px("90.002"), px("90.005"))
        assert stop_triggered(True, px("90.004"), px("90.002"), px("90.005"))
        assert not stop_triggered(True, px("90.010"), px("90.002"), px("90.005"))

    def test_sell_triggers_when_bid_at_or_below_trigger(self) -> None:
        assert stop_triggered(False, px("90.002"), px("90.002"), px("90.005"))
        assert stop_triggered(False, px("90.003"), px("90.002"), px("90.005"))
        assert not stop_triggered(False, px("90.000"), px("90.002"), px("90.005"))

    def test_unset_relevant_side_is_false(self) -> None:
        assert not stop_triggered(True, px("0.001"), px("90.002"), None)
        assert not stop_triggered(False, px("999.999"), None, px("90.005"))
        assert not stop_triggered(True, px("90.000"), None, None)
        assert not stop_triggered(False, px("90.000"), None, None)


class TestTouchTriggered:
    def test_buy_touches_when_ask_at_or_below_trigger(self) -> None:
        assert touch_triggered(True, px("90.005"), px("90.002"), px("90.005"))
        assert touch_triggered(True, px("90.010"), px("90.002"), px("90.005"))
        assert not touch_triggered(True, px("90.004"), px("90.002"), px("90.005"))

    def test_sell_touches_when_bid_at_or_above_trigger(self) -> None:
        assert touch_triggered(False, px("90.002"), px("90.002"), px("90.005"))
        assert touch_triggered(False, px("90.000"), px("90.002"), px("90.005"))
        assert not touch_triggered(False, px("90.003"), px("90.002"), px("90.005"))

    def test_unset_relevant_side_is_false(self) -> None:
        assert not touch_triggered(True, px("999.999"), px("90.002"), None)
        assert not touch_triggered(False, px("0.001"), None, px("90.005"))


# ---- bar volume split (§2.4 table) -------------------------------------------------------------------


class TestSplitBarVolume:
    @pytest.mark.parametrize(
        ("volume", "quarter", "close"),
        [
            (20_000, 5_000, 5_000),
            (1_003, 250, 253),
            (2, 1, 1),
            (3, 1, 1),  # 3q >= V: the close gets one increment
            (1, 1, 1),  # minimum one increment per point
            (4, 1, 1),
            (7, 1, 4),
        ],
    )
    def test_spec_table_with_increment_one(self, volume: int, quarter: int, close: int) -> None:
        assert split_bar_volume(qty(volume), UNIT) == (qty(quarter), qty(close))

    def test_sizes_round_down_to_the_increment(self) -> None:
        # q = floor(1003/4) = 250 -> 200 on a grid of 100; c = 1003 - 600 = 403 -> 400.
        assert split_bar_volume(qty(1_003), qty(100)) == (qty(200), qty(400))

    def test_small_volume_on_a_coarse_grid_gets_one_increment_each(self) -> None:
        assert split_bar_volume(qty(150), qty(100)) == (qty(100), qty(100))

    def test_fractional_increment(self) -> None:
        inc = Quantity.from_str("0.01").raw
        assert split_bar_volume(Quantity.from_str("1.03").raw, inc) == (
            Quantity.from_str("0.25").raw,
            Quantity.from_str("0.28").raw,
        )

    def test_zero_volume_still_one_increment(self) -> None:
        assert split_bar_volume(0, UNIT) == (UNIT, UNIT)


# ---- point order (§2.4) ----------------------------------------------------------------------------


class TestBarPointOrder:
    @pytest.mark.parametrize(
        ("open_", "high", "low"),
        [
            ("90.020", "90.030", "90.010"),  # high nearer the open
            ("90.020", "90.040", "90.015"),  # low nearer the open (down-ish bar)
            ("1.00100", "1.00300", "0.99900"),  # tie
        ],
    )
    def test_fixed_is_always_open_high_low_close(self, open_: str, high: str, low: str) -> None:
        assert bar_point_order(px(open_), px(high), px(low), adaptive=False) == (OPEN, HIGH, LOW, CLOSE)

    def test_adaptive_high_nearer_goes_high_first(self) -> None:
        assert bar_point_order(px("90.020"), px("90.025"), px("90.000"), adaptive=True) == (OPEN, HIGH, LOW, CLOSE)

    def test_adaptive_low_nearer_goes_low_first(self) -> None:
        assert bar_point_order(px("90.020"), px("90.040"), px("90.015"), adaptive=True) == (OPEN, LOW, HIGH, CLOSE)

    def test_adaptive_tie_goes_low_first(self) -> None:
        # The spec's same-bar TP/SL example: O 1.00100, H 1.00300, L 0.99900 -> |H-O| == |L-O|.
        assert bar_point_order(px("1.00100"), px("1.00300"), px("0.99900"), adaptive=True) == (
            OPEN,
            LOW,
            HIGH,
            CLOSE,
        )

    def test_adaptive_flat_bar_is_a_tie(self) -> None:
        assert bar_point_order(px("90.000"), px("90.000"), px("90.000"), adaptive=True) == (OPEN, LOW, HIGH, CLOSE)


# ---- replay points and skipping (§2.4) -------------------------------------------------------------


def points(
    open_: str, high: str, low: str, close: str, volume: int, last: str | None = None, adaptive: bool = False
) -> list[tuple[str, int, str]]:
    last_raw = None if last is None else px(last)
    raw = trade_bar_points(px(open_), px(high), px(low), px(close), qty(volume), UNIT, last_raw, adaptive)
    return [(str(Price(p, 3)), size // UNIT, name) for p, size, name in raw]


class TestTradeBarPoints:
    def test_no_last_price_replays_all_four_with_their_sizes(self) -> None:
        assert points("90.020", "90.030", "90.010", "90.015", 20_000) == [
            ("90.020", 5_000, OPEN),
            ("90.030", 5_000, HIGH),
            ("90.010", 5_000, LOW),
            ("90.015", 5_000, CLOSE),
        ]

    def test_close_point_gets_the_remainder(self) -> None:
        assert [size for _, size, _ in points("90.020", "90.030", "90.010", "90.015", 1_003)] == [250, 250, 250, 253]

    def test_open_equal_to_last_is_skipped(self) -> None:
        assert points("90.020", "90.030", "90.010", "90.015", 20_000, last="90.020") == [
            ("90.030", 5_000, HIGH),
            ("90.010", 5_000, LOW),
            ("90.015", 5_000, CLOSE),
        ]

    def test_open_gap_from_last_is_replayed(self) -> None:
        assert points("89.975", "89.990", "89.970", "89.980", 400, last="90.000")[0] == ("89.975", 100, OPEN)

    def test_high_not_above_last_is_skipped(self) -> None:
        # Flat open == high: after O the high does not move the price.
        assert points("90.030", "90.030", "90.010", "90.015", 400) == [
            ("90.030", 100, OPEN),
            ("90.010", 100, LOW),
            ("90.015", 100, CLOSE),
        ]

    def test_low_not_below_last_is_skipped(self) -> None:
        # Adaptive (open == low is nearer, low first): after O the low does not move the price.
        assert points("90.010", "90.030", "90.010", "90.015", 400, adaptive=True) == [
            ("90.010", 100, OPEN),
            ("90.030", 100, HIGH),
            ("90.015", 100, CLOSE),
        ]

    def test_low_below_the_high_is_replayed_in_fixed_order(self) -> None:
        # Fixed O, H, L, C with open == low: the low still moves the price down from the high.
        assert points("90.010", "90.030", "90.010", "90.015", 400) == [
            ("90.010", 100, OPEN),
            ("90.030", 100, HIGH),
            ("90.010", 100, LOW),
            ("90.015", 100, CLOSE),
        ]

    def test_close_equal_to_last_is_skipped(self) -> None:
        # Fixed order O, H, L, C: close == low is not replayed.
        assert points("90.020", "90.030", "90.010", "90.010", 400) == [
            ("90.020", 100, OPEN),
            ("90.030", 100, HIGH),
            ("90.010", 100, LOW),
        ]

    def test_flat_bar_equal_to_last_replays_nothing(self) -> None:
        assert points("90.000", "90.000", "90.000", "90.000", 400, last="90.000") == []

    def test_flat_bar_without_last_replays_the_open_only(self) -> None:
        assert points("90.000", "90.000", "90.000", "90.000", 400) == [("90.000", 100, OPEN)]

    def test_skipping_compares_with_the_previous_replayed_point(self) -> None:
        # Adaptive low-first: O 90.020, L 90.015, then H 90.040 (> 90.015), then C 90.020 (!= 90.040).
        assert points("90.020", "90.040", "90.015", "90.020", 400, adaptive=True) == [
            ("90.020", 100, OPEN),
            ("90.015", 100, LOW),
            ("90.040", 100, HIGH),
            ("90.020", 100, CLOSE),
        ]

    def test_adaptive_order_is_used(self) -> None:
        names = [name for _, _, name in points("1.001", "1.003", "0.999", "1.002", 400, adaptive=True)]
        assert names == [OPEN, LOW, HIGH, CLOSE]
        names = [name for _, _, name in points("1.001", "1.003", "0.999", "1.002", 400, adaptive=False)]
        assert names == [OPEN, HIGH, LOW, CLOSE]

    def test_two_unit_bar_gets_one_unit_per_point(self) -> None:
        # Cython behaviour in the spec table: V = 2 -> 1, 1, 1, 1.
        assert [size for _, size, _ in points("1.500", "1.510", "1.490", "1.505", 2)] == [1, 1, 1, 1]


# ---- taker fills on an L1 book (§3.2, §3.4) ---------------------------------------------------------


class TestTakerFills:
    def test_buy_exhausting_top_extends_one_tick_worse(self) -> None:
        # Check 11: BUY 1,000,000 against ask 90.005 x 100k -> 100k @ 90.005 + 900k @ 90.006.
        assert taker_fills(True, qty(1_000_000), px("90.005"), qty(100_000), TICK, extend=True) == [
            (px("90.005"), qty(100_000)),
            (px("90.006"), qty(900_000)),
        ]

    def test_sell_exhausting_top_extends_one_tick_worse(self) -> None:
        assert taker_fills(False, qty(1_000_000), px("90.002"), qty(100_000), TICK, extend=True) == [
            (px("90.002"), qty(100_000)),
            (px("90.001"), qty(900_000)),
        ]

    def test_without_extension_only_the_top_fills(self) -> None:
        # IOC, or a limit at the best price: only the displayed size.
        assert taker_fills(True, qty(1_000_000), px("90.005"), qty(500_000), TICK, extend=False) == [
            (px("90.005"), qty(500_000)),
        ]
        assert taker_fills(False, qty(1_000_000), px("90.002"), qty(500_000), TICK, extend=False) == [
            (px("90.002"), qty(500_000)),
        ]

    @pytest.mark.parametrize("extend", [True, False])
    def test_top_large_enough_is_one_fill_of_leaves(self, extend: bool) -> None:
        assert taker_fills(True, qty(10_000), px("90.005"), qty(100_000), TICK, extend=extend) == [
            (px("90.005"), qty(10_000)),
        ]

    def test_exact_top_size_has_no_extension(self) -> None:
        assert taker_fills(True, qty(100_000), px("90.005"), qty(100_000), TICK, extend=True) == [
            (px("90.005"), qty(100_000)),
        ]

    def test_bar_close_point_then_one_tick_worse(self) -> None:
        # Check 2: MARKET BUY 10,000 after a bar with close 90.015 and a close-point size of 5,000.
        assert taker_fills(True, qty(10_000), px("90.015"), qty(5_000), TICK, extend=True) == [
            (px("90.015"), qty(5_000)),
            (px("90.016"), qty(5_000)),
        ]
