"""End-to-end: `toolkit catalog generate` and `toolkit catalog check` run as real processes on catalogs built in
tmp_path: seeded (same seed, same data), chunked in bounded memory, and the check naming what is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT
from toolkit.catalog import DataCatalog
from toolkit.catalog.generator import generate_bars, generate_quotes
from toolkit.model.instruments import Instrument, instrument_from_dict

TOOLKIT = str(Path(sys.executable).parent / "toolkit")
BARS_1M = "EUR/USD.SIM-1-MINUTE-LAST-EXTERNAL"


def run_toolkit(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [TOOLKIT, *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def fx(instrument_id: str = "EUR/USD.SIM", price_increment: str = "0.00001") -> Instrument:
    base, quote = instrument_id.split(".")[0].split("/")
    return instrument_from_dict(
        {
            "kind": "CurrencyPair",
            "id": instrument_id,
            "base_currency": base,
            "quote_currency": quote,
            "price_increment": price_increment,
            "size_increment": "1",
        }
    )


def new_catalog(path: Path, *instruments: Instrument) -> DataCatalog:
    catalog = DataCatalog(path)
    catalog.write_instruments(list(instruments) or [fx()])
    return catalog


def generate(catalog: Path, data_type: str, count: int, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_toolkit(
        "catalog",
        "generate",
        "--catalog",
        str(catalog),
        "--instrument",
        "EUR/USD.SIM",
        "--type",
        data_type,
        "--count",
        str(count),
        *extra,
    )


def test_generate_every_type_then_check_is_clean_and_seeded(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for root in (first, second, other):
        new_catalog(root)
    counts = {"quotes": 60_000, "trades": 40_000, "bars": 20_000, "deltas": 20_000}
    for root, seed, types in ((first, "7", counts), (second, "7", counts), (other, "8", ("quotes", "deltas"))):
        for data_type in types:
            count = counts[data_type]
            proc = generate(root, data_type, count, "--seed", seed, "--chunk", "15000", "--start", "2024-03-04")
            assert proc.returncode == 0, proc.stderr
            what = "book updates" if data_type == "deltas" else data_type
            assert f"generated {count:,} {what} (seed {seed})" in proc.stdout
    a, b, c = DataCatalog(first), DataCatalog(second), DataCatalog(other)
    datasets = [(i.data_type, i.identifier) for i in a.list_datasets()]
    assert sorted(str(t) for t, _ in datasets) == ["bars", "deltas", "quotes", "trades"]
    assert ("bars", BARS_1M) in [(str(t), i) for t, i in datasets]
    for data_type, identifier in datasets:
        frame = a.query(data_type, identifier)
        assert frame.equals(b.query(data_type, identifier)), data_type  # same seed, same data
        if str(data_type) in ("quotes", "deltas"):
            assert not frame.equals(c.query(data_type, identifier)), data_type
    quotes = a.query("quotes", "EUR/USD.SIM")
    assert quotes.height == 60_000 and quotes["ts_init"][0] == 1_709_510_400_000_000_000  # 2024-03-04
    steps = quotes["ts_init"].diff().drop_nulls()
    assert steps.min() < 10_000_000 < 60_000_000_000  # bursts
    assert a.query("deltas", "EUR/USD.SIM")["sequence"].max() == 20_000

    proc = run_toolkit("catalog", "check", "--catalog", str(first))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "checking 4 dataset(s)" in out and "gaps not checked" in out
    assert "quotes/EUR/USD.SIM: 60,000 rows: OK; price increment 0.00001 (data imply 0.00001)" in out
    assert "trades/EUR/USD.SIM: 40,000 rows: 1 kind of warning" in out and "WARNING duplicate_ts" in out
    assert "0 dataset(s) with errors, 1 with warnings only, 3 OK" in out

    proc = run_toolkit("catalog", "check", "--catalog", str(first), "--gap", "3600", "--dataset", f"bars/{BARS_1M}")
    assert proc.returncode == 0 and "checking 1 dataset(s)" in proc.stdout
    assert "WARNING gap:" in proc.stdout and "longer than the 3600 s (1h00m00s) threshold" in proc.stdout


def test_check_fails_on_prices_off_the_grid_and_names_the_implied_increment(tmp_path: Path) -> None:
    root = tmp_path / "catalog"
    declared = fx(price_increment="0.00010")  # precision 5, grid 0.0001
    catalog = new_catalog(root, declared, fx("GBP/USD.SIM"))
    catalog.write_bars(BARS_1M, generate_bars(BARS_1M, fx(), 2_000, seed=3))  # prices on 0.00001
    catalog.write_quotes("GBP/USD.SIM", generate_quotes(fx("GBP/USD.SIM"), 1_000, seed=3))
    proc = run_toolkit("catalog", "check", "--catalog", str(root), "--max-examples", "2")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    header = next(line for line in lines if line.startswith(f"bars/{BARS_1M}: 2,000 rows: 1 kind of error"))
    assert "price increment 0.0001 (data imply 0.00001)" in header
    at = lines.index(header)
    assert lines[at + 1].strip().startswith("ERROR off_grid_price:") and "first 2 shown" in lines[at + 1]
    assert "import --fix round repairs it" in lines[at + 1]
    example = lines[at + 2].strip()
    assert example.startswith(f"bars/{BARS_1M}: row ") and "is not a multiple of the price increment 0.0001" in example
    assert "prices imply increment 0.00001" in example
    assert lines[at + 3].strip().startswith(f"bars/{BARS_1M}: row ")
    assert "quotes/GBP/USD.SIM: 1,000 rows: OK" in proc.stdout
    assert "1 dataset(s) with errors, 0 with warnings only, 1 OK" in proc.stdout


def test_cli_refusals(tmp_path: Path) -> None:
    root = tmp_path / "catalog"
    new_catalog(root)
    proc = run_toolkit("catalog", "generate", "--catalog", str(root), "--instrument", "X/Y.SIM", "--type", "quotes",
                       "--count", "10")  # fmt: skip
    assert proc.returncode == 2 and "instrument X/Y.SIM is not in the catalog" in proc.stderr
    assert "known: EUR/USD.SIM" in proc.stderr
    assert generate(root, "quotes", 100, "--start-price", "1.100005").returncode == 2
    assert generate(root, "quotes", 100).returncode == 0
    again = generate(root, "quotes", 100)
    assert again.returncode == 2 and "overlaps" in again.stderr
    assert generate(root, "quotes", 50, "--replace").returncode == 0
    assert DataCatalog(root).query("quotes", "EUR/USD.SIM").height == 100
    proc = run_toolkit("catalog", "check", "--catalog", str(root), "--dataset", "quotes/NOPE.SIM")
    assert proc.returncode == 2 and "no dataset quotes/NOPE.SIM" in proc.stderr
    proc = run_toolkit("catalog", "check", "--catalog", str(tmp_path / "missing"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr


PEAK_RSS = (
    "import resource, sys\n"
    "from toolkit.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print('peak_rss_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    "sys.exit(code)\n"
)


def peak_rss_mib(*args: str) -> float:
    proc = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return int(proc.stdout.split("peak_rss_kib")[-1]) / 1024


@pytest.mark.parametrize("data_type", ["quotes", "deltas"])
def test_generation_memory_does_not_grow_with_the_count(tmp_path: Path, data_type: str) -> None:
    """Ten times the events in chunks of 50,000: peak memory stays about the same."""
    figures = []
    for count in (100_000, 1_000_000):
        root = tmp_path / str(count)
        new_catalog(root)
        args = ["catalog", "generate", "--catalog", str(root), "--instrument", "EUR/USD.SIM", "--type", data_type]
        figures.append(peak_rss_mib(*args, "--count", str(count), "--chunk", "50000"))
        if data_type == "quotes":
            assert DataCatalog(root).query("quotes", "EUR/USD.SIM").height == count
    small, large = figures
    print(f"\n[generate] {data_type}: peak RSS {small:.0f} MiB for 100,000 events, {large:.0f} MiB for 1,000,000")
    assert large < small + 100, (small, large)


def test_check_memory_does_not_grow_with_the_rows(tmp_path: Path) -> None:
    figures = []
    for count in (200_000, 2_000_000):
        root = tmp_path / str(count)
        new_catalog(root)
        proc = generate(root, "quotes", count, "--chunk", "500000", "--regular")
        assert proc.returncode == 0, proc.stderr
        figures.append(peak_rss_mib("catalog", "check", "--catalog", str(root)))
    small, large = figures
    print(f"\n[check] peak RSS {small:.0f} MiB for 200,000 quotes, {large:.0f} MiB for 2,000,000")
    assert large < small + 100, (small, large)
