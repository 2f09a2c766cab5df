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


def test_orders_created_at_one_timestamp_compare_in_creation_order(tmp_path: Path) -> None:
    """Two runs whose orders table lists same-timestamp orders in different row orders (one by id as text:
    "-100" before "-99") still agree: ties go by the number that ends the client order id."""
    a = _run(tmp_path / "a")
    b = _run(tmp_path / "b")
    orders_file = next((b / "orders").glob("part-*.parquet"))
    orders = pl.read_parquet(orders_file)
    assert orders.height >= 2
    # Give the first two orders one timestamp, in both snapshots, and reverse their rows in B only.
    for folder in (a, b):
        path = next((folder / "orders").glob("part-*.parquet"))
        frame = pl.read_parquet(path)
        ts = frame["ts_init"].to_list()
        ts[1] = ts[0]
        frame.with_columns(pl.Series("ts_init", ts, dtype=frame.schema["ts_init"])).write_parquet(path)
    frame = pl.read_parquet(orders_file)
    pl.concat([frame[1:2], frame[0:1], frame[2:]]).write_parquet(orders_file)
    assert compare_snapshots(a, b).identical
