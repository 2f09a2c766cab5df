"""End-to-end: the `toolkit` console script run as a real process, as the README says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from tests.conftest import PROJECT_ROOT

TOOLKIT = str(Path(sys.executable).parent / "toolkit")


def run_toolkit(*args: str, cwd: Path = PROJECT_ROOT, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [TOOLKIT, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def test_demo_runs_and_writes_a_readable_snapshot(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = run_toolkit("demo", "--output", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "Total PnL" in proc.stdout and "Sharpe ratio" in proc.stdout and "Profit factor" in proc.stdout
    assert f"Snapshot written to {out}" in proc.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schema_version"] == 1 and manifest["mode"] == "backtest"
    fills = pl.read_parquet(out / "fills" / "*.parquet")
    assert fills.height == manifest["counts"]["fills"] > 0
    orders = duckdb.sql(f"SELECT count(*) FROM read_parquet('{out}/orders/*.parquet')").fetchall()[0][0]
    assert orders == manifest["counts"]["orders"]
    # The equity table ends at the account's final balance when flat (the strategy closes on stop).
    last_equity = duckdb.sql(
        f"SELECT equity FROM read_parquet('{out}/equity/*.parquet') ORDER BY ts DESC LIMIT 1"
    ).fetchall()[0][0]
    summary = next(iter(manifest["summary"].values()))
    assert Decimal(str(last_equity)) == Decimal(summary["final_equity"])


def test_gbpusd_bid_bars_market_orders_fill_at_the_bar_close(tmp_path: Path, shared_data: Path) -> None:
    """Acceptance: EMA(10)/EMA(20) on real GBP/USD one-minute bid bars from ../shared/data; a market
    order sent from on_bar with zero latency fills at that bar's close."""
    out = tmp_path / "gbpusd"
    proc = run_toolkit("backtest", "strategies/ema_cross_gbpusd.toml", "--output", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    fills = duckdb.sql(f"SELECT ts_event, last_px, side FROM read_parquet('{out}/fills/*.parquet')").pl()
    assert fills.height > 100
    bars = pl.read_csv(shared_data / "fx" / "gbpusd-m1-bid-2012-02.csv", infer_schema_length=0)
    # The file stamps bars at their open; ts_init (and the fill time) is the close: open + 60 s.
    opens = bars["timestamp"].str.to_datetime("%Y-%m-%d %H:%M:%S%z", time_unit="ns").dt.epoch("ns")
    closes = dict(zip((opens + 60_000_000_000).to_list(), bars["close"].to_list(), strict=True))
    last_ts = max(closes)
    checked = 0
    for ts, px in fills.select("ts_event", "last_px").iter_rows():
        if ts > last_ts:
            continue  # the closing order sent from on_stop
        assert ts in closes, f"fill at {ts} is not at a bar close"
        assert Decimal(str(px)) == Decimal(closes[ts]), f"fill at {ts}: {px} != close {closes[ts]}"
        checked += 1
    assert checked > 100


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


BASE = """
[strategy]
path = "strategies/ema_cross.py:EMACross"

[strategy.config]
instrument_id = "EUR/USD.SIM"
bar_type = "EUR/USD.SIM-1-MINUTE-BID-EXTERNAL"
trade_size = "100000"

[backtest]
catalog = "data/catalog"

[backtest.venue]
name = "SIM"
starting_balances = ["1000000 USD"]
"""


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('trade_size = "100000"', 'trade_size = "100000"\nfast_periodd = 3'), "strategy.config.fast_periodd"),
        (
            ('trade_size = "100000"', 'trade_size = "100000"\nfast_ema_period = "ten"'),
            "strategy.config.fast_ema_period",
        ),
        (("strategies/ema_cross.py", "strategies/nope.py"), "strategy.path"),
        (('"EUR/USD.SIM"', '"XAU/USD.SIM"'), "strategy.config.instrument_id"),
        (('name = "SIM"', 'name = "SIM"\noms_type = "NETT"'), "backtest.venue.oms_type"),
    ],
    ids=["unknown-field", "wrong-type", "missing-strategy-file", "unknown-instrument", "bad-enum"],
)
def test_bad_config_names_file_and_field(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    config = _write(tmp_path / "bad.toml", BASE.replace(*change, 1))
    proc = run_toolkit("backtest", str(config), "--output", str(tmp_path / "out"), "--no-progress")
    assert proc.returncode == 2
    assert str(config) in proc.stderr and expected in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists()


def test_instrument_with_increment_not_matching_precision_names_the_field(tmp_path: Path) -> None:
    instruments = _write(
        tmp_path / "instruments.toml",
        """
[[instruments]]
kind = "CurrencyPair"
id = "EUR/USD.SIM"
base_currency = "EUR"
quote_currency = "USD"
price_increment = "0.0001"
price_precision = 5
size_increment = "1"
""",
    )
    config = _write(
        tmp_path / "run.toml",
        BASE.replace('catalog = "data/catalog"', f'catalog = "data/catalog"\ninstruments_file = "{instruments}"'),
    )
    proc = run_toolkit("backtest", str(config), "--no-progress")
    assert proc.returncode == 2
    assert "price_increment" in proc.stderr and "EUR/USD.SIM" in proc.stderr and "0.0001" in proc.stderr


def test_bench_prints_the_figures() -> None:
    proc = run_toolkit("bench", "--events", "20000")
    assert proc.returncode == 0, proc.stderr
    for label in ("events/s", "orders", "fills", "peak RSS", "20,000"):
        assert label in proc.stdout


def test_catalog_ls_lists_the_sample() -> None:
    proc = run_toolkit("catalog", "ls", "--catalog", "data/catalog")
    assert proc.returncode == 0, proc.stderr
    assert "EUR/USD.SIM-1-MINUTE-BID-EXTERNAL" in proc.stdout and "14,400" in proc.stdout


def test_catalog_data_with_another_precision_than_the_instrument_is_refused(tmp_path: Path) -> None:
    instruments = _write(
        tmp_path / "instruments.toml",
        """
[[instruments]]
kind = "CurrencyPair"
id = "EUR/USD.SIM"
base_currency = "EUR"
quote_currency = "USD"
price_increment = "0.0001"
size_increment = "1"
""",
    )
    config = _write(
        tmp_path / "run.toml",
        BASE.replace('catalog = "data/catalog"', f'catalog = "data/catalog"\ninstruments_file = "{instruments}"'),
    )
    proc = run_toolkit("backtest", str(config), "--no-progress")
    assert proc.returncode == 2
    assert "backtest.data[0]" in proc.stderr and "precision 5/0" in proc.stderr and "4/0" in proc.stderr, proc.stderr


def test_bench_catalog_workload_prints_its_figures() -> None:
    proc = run_toolkit("bench", "--workload", "catalog", "--events", "300000")
    assert proc.returncode == 0, proc.stderr
    for label in ("one day query first (ms)", "backtest time to first event (s)", "backtest peak RSS (MiB)", "300,000"):
        assert label in proc.stdout, proc.stdout
