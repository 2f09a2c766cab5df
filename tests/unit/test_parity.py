"""`compare_snapshots`: identical runs agree; a changed fill is reported with its position and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from tests.conftest import PROJECT_ROOT
from toolkit.backtest.runner import BacktestRun
from toolkit.persistence.parity import compare_snapshots


def _run(path: Path) -> Path:
    run = BacktestRun.from_file(PROJECT_ROOT / "strategies" / "ema_cross.toml")
    run.end_ns = 1_704_240_000_000_000_000  # first day of the sample
    _, _, snap = run.run(path)
    return snap


def test_two_runs_of_the_same_backtest_are_identical_and_a_changed_fill_is_reported(tmp_path: Path) -> None:
    a = _run(tmp_path / "a")
    b = _run(tmp_path / "b")
    report = compare_snapshots(a, b)
    assert report.identical and report.fills_a == report.fills_b > 0
    # Change the price of the third fill of B.
    fills_file = next((b / "fills").glob("part-*.parquet"))
    fills = pl.read_parquet(fills_file).sort("ts_event")
    price = fills["last_px"].to_list()
    from decimal import Decimal

    price[2] = price[2] + Decimal("0.00001")
    changed = fills.with_columns(pl.Series("last_px", price, dtype=fills.schema["last_px"]))
    changed.write_parquet(fills_file)
    report = compare_snapshots(a, b)
    assert not report.identical
    assert len(report.differences) == 1 and report.differences[0].startswith("fill #3: last_px:")
    # A fill only one side has.
    shutil.copy(fills_file, b / "fills" / "part-00001.parquet")
    assert any("B only" in d for d in compare_snapshots(a, b).differences)
