"""Unit tests of `toolkit.backtest.statistics` against values computed independently in each test."""

from __future__ import annotations

import math
import statistics
from decimal import Decimal
from itertools import pairwise

import pytest

from toolkit.backtest.statistics import (
    NANOS_PER_DAY,
    PerformanceSummary,
    compute_performance,
    daily_closes,
    daily_returns,
    format_table,
    format_ts_ns,
    max_drawdown,
    sharpe_ratio,
    sortino_ratio,
)

D = Decimal
DAY0 = 19_723  # 2024-01-01 as a day number since the epoch
HOUR = 3_600_000_000_000


def at(day: int, hour: int = 12) -> int:
    return (DAY0 + day) * NANOS_PER_DAY + hour * HOUR


# Daily closes 1010, 1005, 1020, 1015, 1030 from a 1000 start; intraday points before the close are
# ignored by the daily resampling.
CURVE_TS = [at(0, 9), at(0, 20), at(1), at(2, 1), at(2, 23), at(3), at(4)]
CURVE_EQUITY = [D("990"), D("1010"), D("1005"), D("1100"), D("1020"), D("1015"), D("1030")]
CLOSES = [1000, 1010, 1005, 1020, 1015, 1030]


def independent_returns() -> list[float]:
    return [current / previous - 1 for previous, current in pairwise(CLOSES)]


def test_daily_closes_keep_the_last_point_per_utc_day() -> None:
    closes = daily_closes(CURVE_TS, CURVE_EQUITY)
    assert closes == [
        (DAY0, D("1010")),
        (DAY0 + 1, D("1005")),
        (DAY0 + 2, D("1020")),
        (DAY0 + 3, D("1015")),
        (DAY0 + 4, D("1030")),
    ]


def test_daily_returns_start_from_the_starting_balance() -> None:
    returns = daily_returns(CURVE_TS, CURVE_EQUITY, D("1000"))
    assert returns == pytest.approx(independent_returns(), rel=1e-15)
    assert len(daily_returns(CURVE_TS, CURVE_EQUITY)) == 4  # without a start: first day has no return


def test_sharpe_and_sortino_of_a_daily_series() -> None:
    summary = compute_performance(CURVE_TS, CURVE_EQUITY, [], D("0"), D("1000"))
    returns = independent_returns()
    expected_sharpe = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(252)
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    expected_sortino = statistics.mean(returns) / downside * math.sqrt(252)
    assert summary.daily_return_count == 5
    assert summary.sharpe_ratio == pytest.approx(expected_sharpe, rel=1e-12)
    assert summary.sortino_ratio == pytest.approx(expected_sortino, rel=1e-12)
    assert sharpe_ratio(returns, periods_per_year=365) == pytest.approx(
        statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(365), rel=1e-12
    )


def test_ratio_none_cases() -> None:
    assert sharpe_ratio([]) is None
    assert sharpe_ratio([0.01]) is None
    assert sharpe_ratio([0.01, 0.01, 0.01]) is None  # zero std
    assert sortino_ratio([0.01]) is None
    assert sortino_ratio([0.01, 0.02, 0.0]) is None  # no losing day
    one_day = compute_performance([at(0, 1), at(0, 2)], [D("1000"), D("1001")], [], D("0"), D("990"))
    assert one_day.daily_return_count == 1
    assert one_day.sharpe_ratio is None and one_day.sortino_ratio is None
    flat = compute_performance([at(d) for d in range(5)], [D("1000")] * 5, [], D("0"), D("1000"))
    assert flat.sharpe_ratio is None and flat.sortino_ratio is None


def test_total_pnl_and_return_are_exact() -> None:
    summary = compute_performance(
        [at(0), at(1)], [D("10050.10"), D("10123.45")], [], D("1.20"), D("10000.00"), currency="USD"
    )
    assert summary.total_pnl == D("123.45")
    assert summary.final_equity == D("10123.45")
    assert summary.total_return == pytest.approx(0.012345)
    assert summary.commissions == D("1.20")
    assert (summary.start_ts_ns, summary.end_ts_ns) == (at(0), at(1))


def test_max_drawdown_known_peak_to_trough() -> None:
    # start 100; peak 150 -> trough 90 is the worst fall: 60, i.e. 40%; later 160 -> 140 is only 20 (12.5%)
    equity = [D(x) for x in ("110", "150", "120", "90", "130", "160", "140")]
    assert max_drawdown(equity, D("100")) == (pytest.approx(0.4), D("60"))
    summary = compute_performance([at(d) for d in range(len(equity))], equity, [], D("0"), D("100"))
    assert summary.max_drawdown == pytest.approx(0.4)
    assert summary.max_drawdown_amount == D("60")


def test_max_drawdown_fraction_and_amount_from_different_falls() -> None:
    equity = [D("200"), D("150"), D("1000"), D("900")]  # 200 -> 150 is 25%; 1000 -> 900 is 100 (10%)
    assert max_drawdown(equity, D("100")) == (pytest.approx(0.25), D("100"))


def test_max_drawdown_counts_a_fall_below_the_starting_balance() -> None:
    assert max_drawdown([D("80"), D("90")], D("100")) == (pytest.approx(0.2), D("20"))
    assert max_drawdown([D("80"), D("90")]) == (0.0, D("0"))
    assert max_drawdown([], D("100")) == (0.0, D("0"))


def test_trade_statistics() -> None:
    pnls = [D("100"), D("-50"), D("25"), D("-25"), D("0"), D("50")]
    summary = compute_performance([], [], pnls, D("12.5"), D("1000"))
    assert (summary.trade_count, summary.win_count, summary.loss_count) == (6, 3, 2)
    assert summary.win_rate == pytest.approx(0.5)  # 3 wins of 6 (the breakeven counts)
    assert summary.profit_factor == pytest.approx(175 / 75)  # (100+25+50) / (50+25)
    assert summary.average_win == D(175) / 3
    assert summary.average_loss == D("-37.5")
    assert summary.expectancy == D(100) / 6
    assert (summary.largest_win, summary.largest_loss) == (D("100"), D("-50"))
    assert summary.realized_pnl == D("100")


def test_trade_none_cases() -> None:
    none = compute_performance([], [], [], D("0"), D("1000"))
    assert none.trade_count == 0
    assert none.win_rate is None and none.profit_factor is None and none.expectancy is None
    assert none.average_win is None and none.average_loss is None
    assert none.largest_win is None and none.largest_loss is None
    assert none.start_ts_ns is None and none.sharpe_ratio is None
    assert none.total_pnl == D("0") and none.final_equity == D("1000")

    only_wins = compute_performance([], [], [D("5"), D("7")], D("0"), D("1000"))
    assert only_wins.profit_factor is None and only_wins.win_rate == 1.0

    only_losses = compute_performance([], [], [D("-5")], D("0"), D("1000"))
    assert only_losses.profit_factor == 0.0 and only_losses.average_win is None

    zero_start = compute_performance([at(0)], [D("10")], [], D("0"), D("0"))
    assert zero_start.total_return is None


def test_input_validation() -> None:
    with pytest.raises(TypeError, match=r"starting_balance: expected Decimal"):
        compute_performance([], [], [], D("0"), 1000.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"trade_pnls\[1\]"):
        compute_performance([], [], [D("1"), 2.5], D("0"), D("1000"))  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"2 timestamps but 1 equity values"):
        compute_performance([at(0), at(1)], [D("1")], [], D("0"), D("1000"))
    with pytest.raises(ValueError, match=r"ts_ns must not decrease"):
        compute_performance([at(1), at(0)], [D("1"), D("2")], [], D("0"), D("1000"))


def test_rows_dict_and_table() -> None:
    summary = compute_performance(
        CURVE_TS, CURVE_EQUITY, [D("20.5"), D("-10")], D("3.25"), D("1000.00"), currency="USD"
    )
    assert isinstance(summary, PerformanceSummary)
    rows = dict(summary.as_rows())
    assert rows["Total PnL"] == "30.00 USD"
    assert rows["Total return"] == "3.00%"
    assert rows["Max drawdown amount"] == "85.00 USD"  # 1100 (intraday peak) -> 1015
    assert rows["Profit factor"] == "2.0500"
    assert rows["Expectancy"] == "5.25 USD"
    assert rows["Start"] == format_ts_ns(at(0, 9)) == "2024-01-01T09:00:00.000000000Z"

    as_dict = summary.to_dict()
    assert as_dict["total_pnl"] == D("30.00") and as_dict["currency"] == "USD"
    assert set(as_dict) == set(PerformanceSummary.__struct_fields__)

    table = format_table(summary.as_rows(), "Performance")
    lines = table.splitlines()
    assert lines[0] == "Performance"
    assert set(lines[1]) == {"-"} and lines[-1] == lines[1]
    assert {len(line) for line in lines[1:]} == {len(lines[1])}  # values right-aligned to the rule
    assert any(line.startswith("Total PnL ") and line.endswith(" 30.00 USD") for line in lines)


def test_format_table_empty_and_long_title() -> None:
    assert format_table([], "Title") == "Title\n-----\n-----"
    table = format_table([("a", "1"), ("bbb", "22")], "A long title here")
    assert table.splitlines()[2:4] == ["a" + " " * 15 + "1", "bbb" + " " * 12 + "22"]  # 17 wide, like the title
