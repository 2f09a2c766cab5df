"""Tests of the seeded synthetic data generator: determinism, grid and spread invariants, chunked writes."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl
import pytest

from toolkit.catalog import DataCatalog
from toolkit.catalog.generator import _random_u64, generate_bars, generate_quotes, write_generated_quotes
from toolkit.model.data import Bar, BarType, check_bar_prices
from toolkit.model.instruments import Instrument, instrument_from_dict

MINUTE = 60_000_000_000
T0 = 1_704_067_200_000_000_000
EURUSD_MID_1M = BarType.from_str("EUR/USD.SIM-1-MINUTE-MID-EXTERNAL")


def instrument(price_increment: str = "0.00001", size_increment: str = "1") -> Instrument:
    return instrument_from_dict(
        {
            "kind": "CurrencyPair",
            "id": "EUR/USD.SIM",
            "base_currency": "EUR",
            "quote_currency": "USD",
            "price_increment": price_increment,
            "size_increment": size_increment,
        }
    )


EURUSD = instrument()


def splitmix64_reference(seed: int, stream: int, index: int) -> int:
    """Plain-Python SplitMix64 of (seed, stream, index), written independently of the vectorised one."""
    mask = (1 << 64) - 1

    def mix(z: int) -> int:
        z &= mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    base = mix(mix(seed) + stream * 0xD1B54A32D192ED03)
    return mix(index * 0x9E3779B97F4A7C15 + base)


def test_vectorised_random_bits_equal_the_python_reference() -> None:
    for seed, stream in [(0, 1), (42, 3), (2**40 + 7, 5)]:
        values = pl.select(_random_u64(pl.int_range(0, 2_000), seed, stream)).to_series().to_list()
        assert values == [splitmix64_reference(seed, stream, i) for i in range(2_000)]


def test_same_seed_same_data_and_pinned_values() -> None:
    first = generate_quotes(EURUSD, 50_000, start_ns=T0, seed=42)
    assert first.equals(generate_quotes(EURUSD, 50_000, start_ns=T0, seed=42))
    pinned = generate_quotes(EURUSD, 3, start_ns=0, interval_ns=1_000, seed=42).rows()
    assert pinned == [
        (1_099_990_000, 1_100_010_000, 100_000 * 10**9, 100_000 * 10**9, 0, 0),
        (1_099_970_000, 1_099_990_000, 200_000 * 10**9, 300_000 * 10**9, 1_000, 1_000),
        (1_099_960_000, 1_099_980_000, 200_000 * 10**9, 100_000 * 10**9, 2_000, 2_000),
    ]
    bars = generate_bars(EURUSD_MID_1M, EURUSD, 1, start_ns=0, seed=42).rows()
    assert bars == [(1_100_000_000, 1_100_040_000, 1_099_940_000, 1_099_990_000, 2_000_000 * 10**9, MINUTE, MINUTE)]


def test_different_seed_different_data() -> None:
    a = generate_quotes(EURUSD, 1_000, start_ns=T0, seed=1)
    b = generate_quotes(EURUSD, 1_000, start_ns=T0, seed=2)
    assert not a.equals(b)
    assert a["ts_init"].equals(b["ts_init"])
    assert (a["bid"] != b["bid"]).sum() > 500
    assert not generate_bars(EURUSD_MID_1M, EURUSD, 100, seed=1).equals(
        generate_bars(EURUSD_MID_1M, EURUSD, 100, seed=2)
    )


@pytest.mark.parametrize(
    ("increment", "start", "spread"), [("0.00001", "1.10000", 2), ("0.25", "100.00", 1), ("1", "3", 3)]
)
def test_quotes_sit_on_the_grid_with_a_positive_spread(increment: str, start: str, spread: int) -> None:
    inst = instrument(increment, "0.01")
    tick = inst.price_increment.raw
    frame = generate_quotes(
        inst, 200_000, start_ns=T0, seed=5, start_price=start, volatility_ticks=3.0, spread_ticks=spread, size="0.5"
    )
    assert frame.columns == ["bid", "ask", "bid_size", "ask_size", "ts_event", "ts_init"]
    checks = frame.select(
        on_grid=((pl.col("bid") % tick == 0) & (pl.col("ask") % tick == 0)).all(),
        spread_min=((pl.col("ask") - pl.col("bid")) // tick).min(),
        spread_max=((pl.col("ask") - pl.col("bid")) // tick).max(),
        bid_min=pl.col("bid").min(),
        sizes=((pl.col("bid_size") % (5 * 10**8) == 0) & (pl.col("ask_size") % (5 * 10**8) == 0)).all(),
        size_min=pl.min_horizontal("bid_size", "ask_size").min(),
        size_max=pl.max_horizontal("bid_size", "ask_size").max(),
    ).row(0, named=True)
    assert checks["on_grid"] and checks["sizes"]
    assert checks["spread_min"] == spread and checks["spread_max"] <= 2 * spread
    assert checks["bid_min"] >= tick
    assert (checks["size_min"], checks["size_max"]) == (5 * 10**8, 25 * 10**8)
    assert frame["ts_init"].to_list()[:3] == [T0, T0 + 100_000_000, T0 + 200_000_000]
    assert frame["ts_event"].equals(frame["ts_init"])


def test_walk_moves_and_jumps_but_stays_positive() -> None:
    frame = generate_quotes(EURUSD, 100_000, seed=9, start_price="0.00010", volatility_ticks=2.0, jump_probability=0.01)
    steps = frame["bid"].diff().drop_nulls().abs() // EURUSD.price_increment.raw
    assert steps.max() >= 20  # jumps of 10x volatility happen
    assert (steps > 0).mean() > 0.5
    assert frame["bid"].min() > 0


def test_jitter_keeps_timestamps_strictly_increasing() -> None:
    frame = generate_quotes(EURUSD, 10_000, start_ns=T0, interval_ns=1_000, jitter_ns=1_000, seed=3)
    ts = frame["ts_init"]
    assert (ts.diff().drop_nulls() > 0).all()
    offsets = ts - (T0 + pl.int_range(0, 10_000, eager=True) * 1_000)
    assert offsets.min() >= 0 and offsets.max() < 1_000 and offsets.n_unique() > 100


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="not on the price grid"):
        generate_quotes(instrument("0.25"), 10, start_price="1.10")
    with pytest.raises(ValueError, match="positive multiple"):
        generate_quotes(EURUSD, 10, size="0")
    with pytest.raises(ValueError, match="spread_ticks"):
        generate_quotes(EURUSD, 10, spread_ticks=0)
    with pytest.raises(ValueError, match="jitter_ns"):
        generate_quotes(EURUSD, 10, interval_ns=10, jitter_ns=11)
    with pytest.raises(ValueError, match="not time-aggregated"):
        generate_bars("EUR/USD.SIM-100-TICK-MID-EXTERNAL", EURUSD, 10)
    with pytest.raises(ValueError, match="not for instrument"):
        generate_bars("GBP/USD.SIM-1-MINUTE-MID-EXTERNAL", EURUSD, 10)
    assert generate_quotes(EURUSD, 0).height == 0 and generate_bars(EURUSD_MID_1M, EURUSD, 0).height == 0


def test_bars_are_consistent_and_stamped_at_close() -> None:
    frame = generate_bars(EURUSD_MID_1M, EURUSD, 50_000, start_ns=T0, seed=4, volatility_ticks=3.0, volume="1000")
    tick = EURUSD.price_increment.raw
    ok = frame.select(
        grid=pl.all_horizontal((pl.col(c) % tick == 0) for c in ("open", "high", "low", "close")).all(),
        bounded=(
            (pl.col("high") >= pl.max_horizontal("open", "close"))
            & (pl.col("low") <= pl.min_horizontal("open", "close"))
        ).all(),
        continuous=(pl.col("open").slice(1) == pl.col("close").slice(0, 49_999)).all(),
        positive=(pl.col("low") >= tick).all(),
        volume=((pl.col("volume") % (1000 * 10**9) == 0) & (pl.col("volume") > 0)).all(),
    ).row(0, named=True)
    assert all(ok.values()), ok
    assert frame["ts_init"].to_list()[:2] == [T0 + MINUTE, T0 + 2 * MINUTE]
    assert frame["ts_event"].equals(frame["ts_init"])
    for row in frame.head(100).iter_rows(named=True):
        check_bar_prices("generated", row["open"], row["high"], row["low"], row["close"])


def test_chunked_writes_equal_one_shot_generation(tmp_path: Path) -> None:
    catalog = DataCatalog(tmp_path)
    paths = write_generated_quotes(catalog, EURUSD, 25_000, chunk=10_000, start_ns=T0, seed=8, jitter_ns=50_000_000)
    assert [p.name for p in paths] == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert catalog.instrument(EURUSD.id) == EURUSD
    expected = generate_quotes(EURUSD, 25_000, start_ns=T0, seed=8, jitter_ns=50_000_000)
    assert catalog.query("quotes", EURUSD.id).equals(expected)
    (info,) = catalog.list_datasets()
    assert (info.rows, info.parts) == (25_000, 3)


def test_generated_bars_write_and_stream(tmp_path: Path) -> None:
    catalog = DataCatalog(tmp_path)
    catalog.write_instruments([EURUSD])
    catalog.write_bars(EURUSD_MID_1M, generate_bars(EURUSD_MID_1M, EURUSD, 1_000, start_ns=T0))
    bars = catalog.query_objects("bars", EURUSD_MID_1M)
    assert len(bars) == 1_000 and isinstance(bars[0], Bar) and bars[0].ts_init == T0 + MINUTE


def test_generator_speed_report(capsys: pytest.CaptureFixture[str]) -> None:
    started = time.perf_counter()
    frame = generate_quotes(EURUSD, 1_000_000, seed=1)
    quotes_s = time.perf_counter() - started
    started = time.perf_counter()
    bars = generate_bars(EURUSD_MID_1M, EURUSD, 1_000_000, seed=1)
    bars_s = time.perf_counter() - started
    assert frame.height == bars.height == 1_000_000
    with capsys.disabled():
        print(f"\n[generator] 1,000,000 quotes in {quotes_s:.3f} s; 1,000,000 bars in {bars_s:.3f} s")
