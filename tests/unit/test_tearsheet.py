"""`toolkit.analysis.tearsheet` on snapshots of real backtests: the figures equal the backtest summary's,
the series agree with the tables they come from."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.conftest import PROJECT_ROOT
from toolkit.analysis import tearsheet as ts
from toolkit.analysis.reader import open_snapshot
from toolkit.backtest.results import BacktestResult
from toolkit.backtest.runner import BacktestRun, load_instruments_file
from toolkit.backtest.statistics import daily_returns, max_drawdown
from toolkit.catalog.generator import write_generated
from toolkit.catalog.parquet import DataCatalog
from toolkit.persistence.parity import compare_snapshots

FIRST_DAY_END_NS = 1_704_240_000_000_000_000  # end of the sample's first day


class Run:
    def __init__(self, path: Path, result: BacktestResult) -> None:
        self.path = path
        self.result = result
        self.manifest: dict[str, Any] = json.loads((path / "manifest.json").read_text())
        self.data = ts.SnapshotData.read(open_snapshot(path))

    @property
    def summary(self) -> dict[str, Any]:
        return self.manifest["summary"]["SIM-001:USD"]


def _run_file(config: Path, output: Path, end_ns: int | None = None) -> Run:
    run = BacktestRun.from_file(config)
    if end_ns is not None:
        run.end_ns = end_ns
    _, result, path = run.run(output)
    return Run(path, result)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The EMA cross demo over the ten days of sample bars."""
    return _run_file(PROJECT_ROOT / "strategies" / "ema_cross.toml", tmp_path_factory.mktemp("demo") / "snap")


@pytest.fixture(scope="module")
def first_day(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run_file(
        PROJECT_ROOT / "strategies" / "ema_cross.toml", tmp_path_factory.mktemp("day") / "snap", FIRST_DAY_END_NS
    )


@pytest.fixture(scope="module")
def months(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The EMA cross on 2,400 generated hourly bars (January to April 2024): a snapshot spanning four months."""
    root = tmp_path_factory.mktemp("months")
    instruments_file = PROJECT_ROOT / "data" / "instruments.toml"
    instrument = next(
        i for i in load_instruments_file(instruments_file, str(instruments_file), "x") if str(i.id) == "EUR/USD.SIM"
    )
    bar_type = "EUR/USD.SIM-1-HOUR-BID-EXTERNAL"
    write_generated(DataCatalog(root / "cat"), "bars", instrument, 2_400, bar_type=bar_type, volatility_ticks=20.0)
    config = root / "run.toml"
    config.write_text(
        f"""
[strategy]
path = "{PROJECT_ROOT / "strategies" / "ema_cross.py"}:EMACross"

[strategy.config]
instrument_id = "EUR/USD.SIM"
bar_type = "{bar_type}"
trade_size = "100000"
fast_ema_period = 10
slow_ema_period = 20

[backtest]
catalog = "{root / "cat"}"

[backtest.venue]
name = "SIM"
oms_type = "NETTING"
account_type = "MARGIN"
base_currency = "USD"
starting_balances = ["1000000 USD"]
default_leverage = "50"
"""
    )
    return _run_file(config, root / "snap")


RUNS = ["demo", "first_day", "months"]


@pytest.fixture(params=RUNS)
def run(request: pytest.FixtureRequest) -> Run:
    return request.getfixturevalue(request.param)


def test_the_statistics_are_the_backtest_summary(run: Run) -> None:
    assert run.data.accounts() == [("SIM-001", "USD")]
    summary = ts.performance(run.data, "SIM-001", "USD")
    assert summary is not None
    printed = run.result.accounts[0].summary
    assert summary == printed  # every field, exactly
    assert ts.statistics_table(summary).rows() == printed.as_rows()  # the rows `toolkit backtest` prints
    for name, value in summary.to_dict().items():
        expected = run.summary[name]
        assert (Decimal(expected) if isinstance(value, Decimal) else expected) == value, name
    assert ts.performance_notes(run.data, "SIM-001", "USD") == []


def test_key_figures_equal_the_manifest_and_the_tables(run: Run) -> None:
    key = ts.key_figures(run.data)
    fills = pl.read_parquet(run.path / "fills" / "*.parquet")
    positions = pl.read_parquet(run.path / "positions" / "*.parquet")
    assert (key.account_id, key.currency) == ("SIM-001", "USD")
    assert key.final_equity == Decimal(run.summary["final_equity"])
    assert key.total_pnl == Decimal(run.summary["total_pnl"])
    assert key.fill_count == fills.height == run.manifest["counts"]["fills"] > 0
    assert key.trade_count == positions.filter(~pl.col("is_open")).height == run.summary["trade_count"]
    assert key.commissions == Decimal(run.summary["commissions"])
    assert dict(key.as_rows())["Final equity"] == ts.format_money(Decimal(run.summary["final_equity"]), "USD")


def test_equity_curve_and_drawdown(run: Run) -> None:
    curve = ts.equity_curve(run.data, "SIM-001", "USD")
    raw = pl.read_parquet(run.path / "equity" / "*.parquet").sort("ts", maintain_order=True)
    assert curve.height == raw.height
    assert curve["equity"].to_list() == raw["equity"].to_list()
    assert curve["ts"].is_sorted()
    assert curve["equity"][-1] == Decimal(run.summary["final_equity"])
    equity = curve["equity"].to_list()
    fraction, amount = max_drawdown(equity, equity[0])
    assert -curve["drawdown"].min() == fraction == run.summary["max_drawdown"]  # type: ignore[operator]
    assert curve["drawdown_amount"].max() == amount == Decimal(run.summary["max_drawdown_amount"])
    assert curve["drawdown"].max() == 0.0  # at the running peak
    assert all(p >= e for p, e in zip(curve["peak"].to_list(), equity, strict=True))


def test_daily_returns_are_the_statistics_daily_returns(run: Run) -> None:
    curve = ts.equity_curve(run.data, "SIM-001", "USD")
    daily = ts.daily_returns_frame(curve)
    equity = curve["equity"].to_list()
    assert daily["return"].to_list() == daily_returns(curve["ts"].to_list(), equity, equity[0])
    assert daily.height == run.summary["daily_return_count"]
    assert daily["day"].is_sorted() and daily["day"].n_unique() == daily.height


def test_monthly_returns_compound_to_the_total_return(run: Run) -> None:
    curve = ts.equity_curve(run.data, "SIM-001", "USD")
    monthly = ts.monthly_returns(curve)
    compounded = math.prod(1.0 + r for r in monthly["return"].to_list()) - 1.0
    assert compounded == pytest.approx(run.summary["total_return"], rel=1e-9, abs=1e-12)
    table = ts.monthly_table(monthly)
    assert table.columns == ["year", *ts.MONTHS, "Year"]
    assert math.prod(1.0 + r for r in table["Year"].to_list()) - 1.0 == pytest.approx(compounded, abs=1e-12)


def test_the_four_month_run_has_one_return_per_month(months: Run) -> None:
    monthly = ts.monthly_returns(ts.equity_curve(months.data, "SIM-001", "USD"))
    assert monthly.select("year", "month").rows() == [(2024, 1), (2024, 2), (2024, 3), (2024, 4)]
    table = ts.monthly_table(monthly)
    assert table["year"].to_list() == [2024]
    assert [table[m][0] is None for m in ts.MONTHS] == [False] * 4 + [True] * 8
    # Each month's return is its last equity against the previous month's last.
    curve = ts.equity_curve(months.data, "SIM-001", "USD").with_columns(pl.col("time").dt.month().alias("m"))
    ends = curve.group_by("m", maintain_order=True).agg(pl.col("equity").last())["equity"].to_list()
    starts = [curve["equity"][0], *ends[:-1]]
    assert monthly["return"].to_list() == [float(e / s - 1) for e, s in zip(ends, starts, strict=True)]


def test_trades_are_the_closed_position_cycles(run: Run) -> None:
    trades = ts.trades(run.data)
    closed = pl.read_parquet(run.path / "positions" / "*.parquet").filter(~pl.col("is_open"))
    assert trades.height == closed.height == run.summary["trade_count"]
    assert sum(trades["realized_pnl"].to_list(), Decimal(0)) == Decimal(run.summary["realized_pnl"])
    assert set(trades["side"].to_list()) <= {"LONG", "SHORT"}
    joined = trades.join(closed, on=["position_id", "cycle"])
    assert joined.height == trades.height
    assert joined["side"].to_list() == ["LONG" if e == "BUY" else "SHORT" for e in joined["entry"].to_list()]
    assert (joined["quantity"] == joined["peak_qty"]).all()
    assert (joined["open_price"] == joined["avg_px_open"]).all()
    assert (joined["duration"].cast(pl.Int64) == joined["duration_ns"]).all()
    assert (trades["closed"] >= trades["opened"]).all()


def test_fills_markers_and_prices(run: Run) -> None:
    fills = ts.fills_table(run.data)
    raw = pl.read_parquet(run.path / "fills" / "*.parquet")
    assert fills.height == raw.height
    assert fills["ts_event"].is_sorted()
    markers = ts.fill_markers(run.data)
    assert markers.height == raw.height
    assert set(markers["side"].to_list()) == {"BUY", "SELL"}
    assert markers["price"].to_list() == [float(p) for p in fills["last_px"].to_list()]
    prices = ts.price_series(run.data)
    assert prices.height == pl.read_parquet(run.path / "prices" / "*.parquet").height > 0
    assert prices["price"].dtype == pl.Float64


def test_positions_over_time_are_rebuilt_from_the_fills(run: Run) -> None:
    steps = ts.net_positions(run.data)
    fills = ts.fills_table(run.data)
    net = Decimal(0)
    expected: dict[int, Decimal] = {}
    for side, qty, ts_event in fills.select("side", "last_qty", "ts_event").iter_rows():
        net += qty if side == "BUY" else -qty
        expected[ts_event] = net
    by_ts = dict(zip(steps["ts"].to_list(), steps["net_qty"].to_list(), strict=True))
    assert all(by_ts[t] == q for t, q in expected.items())
    span = run.data.span_ns()
    assert span is not None
    assert steps["ts"][0] == span[0] and steps["net_qty"][0] == 0  # flat before the first fill
    assert steps["ts"][-1] == span[1]
    open_qty = pl.read_parquet(run.path / "positions" / "*.parquet").filter(pl.col("is_open"))
    assert steps["net_qty"][-1] == net == sum(open_qty["quantity"].to_list(), Decimal(0)) == 0  # closed on stop


def test_open_orders_and_commissions(run: Run) -> None:
    orders = pl.read_parquet(run.path / "orders" / "*.parquet")
    working = [s for s in orders["status"].to_list() if ts.is_open_status(s)]
    assert ts.open_orders(run.data).height == len(working)
    assert ts.is_open_status("ACCEPTED") and ts.is_open_status("PENDING_CANCEL") and ts.is_open_status("TRIGGERED")
    assert ts.is_open_status("PARTIALLY_FILLED")
    assert not any(ts.is_open_status(s) for s in ("FILLED", "CANCELED", "REJECTED", "DENIED", "EXPIRED", None))
    fees = ts.commissions(run.data)
    assert fees["currency"].to_list() == ["USD"]
    assert fees["commission"][0] == Decimal(run.summary["commissions"])
    assert fees["fills"][0] == run.manifest["counts"]["fills"]


def test_filters_by_instrument_and_strategy(demo: Run) -> None:
    data = demo.data
    assert data.instruments() == ["EUR/USD.SIM"] and data.strategies() == ["EMACross-000"]
    everything = ts.key_figures(data)
    same = ts.key_figures(data, filters=ts.Filters.of("EUR/USD.SIM", "EMACross-000"))
    assert same == everything
    other = ts.Filters.of("GBP/USD.SIM")
    nothing = ts.key_figures(data, ("SIM-001", "USD"), other)
    assert nothing.fill_count == nothing.trade_count == 0 and nothing.commissions == 0
    assert nothing.final_equity == everything.final_equity  # account-level: not filtered
    assert ts.trades(data, other).is_empty() and ts.fills_table(data, other).is_empty()
    assert ts.price_series(data, other).is_empty() and ts.net_positions(data, other).is_empty()
    assert ts.fill_markers(data, ts.Filters.of(strategy="Other-000")).is_empty()
    assert ts.commissions(data, other).is_empty()


def test_compare_helpers_on_two_backtests(demo: Run, first_day: Run) -> None:
    a, b = ts.key_figures(demo.data), ts.key_figures(first_day.data)
    deltas = ts.summary_deltas(a, b)
    rows = {figure: (x, y, d) for figure, _, x, y, d in deltas.iter_rows()}
    assert rows["Final equity"] == (a.final_equity, b.final_equity, b.final_equity - a.final_equity)  # type: ignore[operator]
    assert rows["Fills"] == (a.fill_count, b.fill_count, b.fill_count - a.fill_count)
    assert rows["Trades"][2] == b.trade_count - a.trade_count
    report = compare_snapshots(demo.path, first_day.path)
    table = ts.differences_frame(report.differences, demo.data, first_day.data)
    assert table.height == len(report.differences) > 0
    only_a = table.filter((pl.col("kind") == "fill") & pl.col("difference").str.starts_with("A only"))
    assert only_a.height == a.fill_count - b.fill_count
    assert only_a["A side"].null_count() == 0 and only_a["B side"].null_count() == only_a.height
    same = compare_snapshots(demo.path, demo.path)
    assert ts.differences_frame(same.differences, demo.data, demo.data).is_empty()
    curves = {"A": ts.equity_curve(demo.data, "SIM-001", "USD"), "B": ts.equity_curve(first_day.data, "SIM-001", "USD")}
    overlay = ts.equity_overlay(curves, normalise=True)
    assert overlay.group_by("run", maintain_order=True).agg(pl.col("value").first())["value"].to_list() == [1.0, 1.0]
    absolute = ts.equity_overlay(curves, normalise=False)
    assert absolute.filter(pl.col("run") == "A")["value"][-1] == float(a.final_equity)  # type: ignore[arg-type]


def test_load_reports_folders_that_are_not_snapshots(tmp_path: Path) -> None:
    data, problem = ts.load(tmp_path / "missing")
    assert data is None and problem is not None and "does not exist" in problem
    (tmp_path / "empty").mkdir()
    assert "is empty" in str(ts.load(tmp_path / "empty")[1])
    (tmp_path / "half" / "fills").mkdir(parents=True)
    assert "still being written" in str(ts.load(tmp_path / "half")[1])


def test_money_and_display_helpers() -> None:
    assert ts.format_money(Decimal("1234.5"), "USD") == "1,234.50 USD"
    assert ts.format_money(Decimal("1234.000000000"), "JPY") == "1,234 JPY"
    assert ts.format_money(Decimal("0.123456789"), "USD") == "0.123456789 USD"  # never rounds money away
    assert ts.format_money(Decimal("100000.000000000")) == "100,000"
    assert ts.format_money(None, "USD") == "n/a"
    assert ts.trim(Decimal("997307.030000000"), 2) == Decimal("997307.03")
    assert str(ts.trim(Decimal("997307.030000000"), 2)) == "997307.03"
    assert str(ts.trim(Decimal("1.100090000"), None)) == "1.10009"
    assert ts.format_duration_ns(3_723_000_000_000) == "01:02:03"
    assert ts.format_duration_ns(90_061_000_000_000) == "1d 01:01:01"
    frame = pl.DataFrame({"n": list(range(10_000)), "v": [float((i * 37) % 1000) for i in range(10_000)]})
    thinned = ts.thin(frame, 500, keep=("v",))
    assert thinned.height <= 503 and thinned["n"][-1] == 9_999 and thinned["n"].is_sorted()
    assert thinned["v"].max() == 999.0 and thinned["v"].min() == 0.0
