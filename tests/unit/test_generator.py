"""Tests of the seeded synthetic data generator: determinism, grid, spread and book invariants, chunked writes."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from toolkit.catalog import DataCatalog
from toolkit.catalog.generator import (
    REALISTIC_BARS,
    REALISTIC_QUOTES,
    REGULAR,
    Activity,
    _bar_type_for,
    _default_start_price,
    _parse_start,
    _random_u64,
    generate_bars,
    generate_deltas,
    generate_quotes,
    generate_trades,
    generated_chunks,
    write_generated,
    write_generated_quotes,
)
from toolkit.model.data import FLAG_LAST, FLAG_SNAPSHOT, Bar, BarType, check_bar_prices
from toolkit.model.instruments import Instrument, instrument_from_dict

MINUTE = 60_000_000_000
SECOND = 1_000_000_000
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


def intervals(frame: pl.DataFrame) -> pl.Series:
    return frame["ts_init"].diff().drop_nulls()


def test_activity_gives_bursts_and_gaps_and_none_is_the_old_regular_clock() -> None:
    regular = generate_quotes(EURUSD, 5_000, start_ns=T0, seed=6)
    assert generate_quotes(EURUSD, 5_000, start_ns=T0, seed=6, activity=REGULAR).equals(regular)
    busy = generate_quotes(EURUSD, 200_000, start_ns=T0, seed=6, activity=REALISTIC_QUOTES)
    assert busy["ts_init"][0] == T0
    gaps = intervals(busy)
    assert gaps.min() >= 1  # quotes stay strictly increasing
    assert (gaps < 10_000_000).sum() > 5_000  # bursts: 20x shorter intervals than 100 ms
    assert (gaps >= 60 * SECOND).sum() >= 1 and gaps.max() <= 4 * 3600 * SECOND + 150_000_000  # gaps of 1 min..4 h
    assert 50_000_000 <= gaps.filter(gaps < 60 * SECOND).mean() <= 110_000_000  # about 100 ms on average
    spread = (busy["ask"] - busy["bid"]) // EURUSD.price_increment.raw
    assert spread.min() == 2 and spread.max() <= 4
    with pytest.raises(ValueError, match="jitter_ns applies to a regular clock"):
        generate_quotes(EURUSD, 10, jitter_ns=5, activity=REALISTIC_QUOTES)
    with pytest.raises(ValueError, match="burst_probability"):
        Activity(burst_probability=1.5)
    with pytest.raises(ValueError, match="gap_min_ns"):
        Activity(gap_min_ns=10, gap_max_ns=5)


def test_trades_are_seeded_on_the_grid_with_sweeps_and_pinned_values() -> None:
    assert generate_trades(EURUSD, 3, start_ns=0, seed=42).rows() == [
        (1_100_010_000, 100 * 10**12, "BUYER", "1", 0, 0),
        (1_099_990_000, 2 * 10**12, "BUYER", "2", 551_144_923, 551_144_923),
        (1_099_970_000, 8 * 10**12, "SELLER", "3", 1_807_521_337, 1_807_521_337),
    ]
    frame = generate_trades(EURUSD, 50_000, start_ns=T0, seed=7, size="10")
    assert frame.equals(generate_trades(EURUSD, 50_000, start_ns=T0, seed=7, size="10"))
    assert not frame.equals(generate_trades(EURUSD, 50_000, start_ns=T0, seed=8, size="10"))
    assert frame.columns == ["price", "size", "aggressor_side", "trade_id", "ts_event", "ts_init"]
    assert frame["trade_id"].to_list()[:3] == ["1", "2", "3"] and frame["trade_id"].n_unique() == 50_000
    assert set(frame["aggressor_side"].unique()) == {"BUYER", "SELLER"}
    assert (frame["price"] % EURUSD.price_increment.raw == 0).all() and frame["price"].min() > 0
    lots = frame["size"] // (10 * 10**9)
    assert (frame["size"] % (10 * 10**9) == 0).all() and lots.min() == 1 and lots.max() == 100
    steps = intervals(frame)
    assert steps.min() == 0 and (steps == 0).sum() > 100  # sweeps: several prints at one timestamp
    assert frame["ts_init"].is_sorted() and frame["ts_event"].equals(frame["ts_init"])
    regular = generate_trades(EURUSD, 1_000, start_ns=T0, seed=7, activity=None)
    assert intervals(regular).unique().to_list() == [SECOND]


def test_bars_with_gaps_skip_whole_bars() -> None:
    plain = generate_bars(EURUSD_MID_1M, EURUSD, 20_000, start_ns=T0, seed=4)
    gappy = generate_bars(EURUSD_MID_1M, EURUSD, 20_000, start_ns=T0, seed=4, activity=REALISTIC_BARS)
    assert gappy.drop("ts_event", "ts_init").equals(plain.drop("ts_event", "ts_init"))  # same prices
    steps = intervals(gappy)
    assert (steps % MINUTE == 0).all() and steps.min() == MINUTE
    assert (steps >= 60 * MINUTE).sum() >= 3 and steps.max() <= 48 * 60 * MINUTE + MINUTE


def replay(frame: pl.DataFrame, depth: int) -> int:
    """Apply deltas to a dict book; check every action fits the book and each update leaves it full, uncrossed."""
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    updates = 0
    for action, side, price, size, flags in frame.select("action", "side", "price", "size", "flags").iter_rows():
        book = bids if side == 1 else asks
        if action == 4:  # CLEAR
            bids.clear()
            asks.clear()
        elif action == 1:  # ADD
            assert price not in book and size > 0
            book[price] = size
        elif action == 2:  # UPDATE
            assert price in book and size > 0
            book[price] = size
        else:  # DELETE
            assert action == 3 and price in book and size == 0
            del book[price]
        if flags & FLAG_LAST:
            updates += 1
            assert len(bids) == len(asks) == depth
            assert max(bids) < min(asks)
    return updates


def test_deltas_rebuild_a_consistent_book() -> None:
    frame = generate_deltas(EURUSD, 20_000, start_ns=T0, seed=11, volatility_ticks=1.0, depth=5)
    assert frame.columns == ["action", "side", "price", "size", "order_id", "flags", "sequence", "ts_event", "ts_init"]
    assert frame.schema["action"] == pl.UInt8 and frame.schema["sequence"] == pl.UInt64
    snapshot = frame.head(11)
    assert snapshot["action"].to_list() == [4] + [1] * 10 and (snapshot["flags"] & FLAG_SNAPSHOT == FLAG_SNAPSHOT).all()
    assert snapshot["flags"].to_list()[-1] == FLAG_SNAPSHOT | FLAG_LAST and (snapshot["ts_init"] == T0).all()
    assert replay(frame, 5) == 20_001  # the snapshot and every update end with FLAG_LAST
    updates = frame.slice(11)
    per_update = updates.group_by("sequence").agg(
        pl.col("ts_init").n_unique().alias("stamps"), (pl.col("flags") == FLAG_LAST).sum().alias("lasts")
    )
    assert per_update.height == 20_000 and (per_update["stamps"] == 1).all() and (per_update["lasts"] == 1).all()
    assert updates["sequence"].is_sorted() and updates["ts_init"].is_sorted() and updates["ts_init"][0] > T0
    actions = updates["action"].value_counts()
    assert set(actions["action"]) == {1, 2, 3}  # adds, size updates and deletes
    assert (frame["price"] % EURUSD.price_increment.raw == 0).all()
    assert generate_deltas(EURUSD, 20_000, start_ns=T0, seed=11, volatility_ticks=1.0, depth=5).equals(frame)
    assert generate_deltas(EURUSD, 0, depth=3).height == 7
    with pytest.raises(ValueError, match="depth"):
        generate_deltas(EURUSD, 10, depth=0)


@pytest.mark.parametrize(
    ("data_type", "params"),
    [
        ("quotes", {"activity": REALISTIC_QUOTES}),
        ("quotes", {"jitter_ns": 1_000}),
        ("trades", {}),
        ("bars", {"activity": REALISTIC_BARS}),
        ("deltas", {"depth": 3}),
    ],
)
def test_chunks_are_bounded_and_equal_one_shot_generation(data_type: str, params: dict[str, object]) -> None:
    bar_type = EURUSD_MID_1M if data_type == "bars" else None
    one = pl.concat(list(generated_chunks(data_type, EURUSD, 20_000, chunk=20_000, bar_type=bar_type, **params)))
    chunks = list(generated_chunks(data_type, EURUSD, 20_000, chunk=3_001, bar_type=bar_type, **params))
    assert pl.concat(chunks).equals(one)
    limit = 3_001 * (4 * 3 + 1) + 7 if data_type == "deltas" else 3_001
    assert len(chunks) == 7 and max(c.height for c in chunks) <= limit
    generate = {"quotes": generate_quotes, "trades": generate_trades, "deltas": generate_deltas}
    if data_type == "bars":
        assert one.equals(generate_bars(EURUSD_MID_1M, EURUSD, 20_000, **params))  # type: ignore[arg-type]
    else:
        assert one.equals(generate[data_type](EURUSD, 20_000, **params))  # type: ignore[operator]


def test_write_generated_keeps_sweeps_whole_across_chunks(tmp_path: Path) -> None:
    catalog = DataCatalog(tmp_path)
    sweepy = Activity(burst_probability=0.5, sweep_probability=0.5)
    expected = generate_trades(EURUSD, 30_000, seed=2, activity=sweepy)
    boundaries = expected["ts_init"].slice(999, 29_000).to_list()
    # chunks of 1,000 rows: some chunk starts at the same timestamp as the row before it
    assert any(boundaries[i] == boundaries[i + 1] for i in range(0, 29_000, 1_000))
    paths = write_generated(catalog, "trades", EURUSD, 30_000, chunk=1_000, seed=2, activity=sweepy)
    assert 20 <= len(paths) <= 30 and catalog.query("trades", EURUSD.id).equals(expected)
    with pytest.raises(ValueError, match="overlaps"):
        write_generated(catalog, "trades", EURUSD, 10, seed=3)
    write_generated(catalog, "trades", EURUSD, 10, seed=3, replace=True)
    assert (
        catalog.query("trades", EURUSD.id).height
        == 30_000 - expected.filter(pl.col("ts_init") <= generate_trades(EURUSD, 10, seed=3)["ts_init"][-1]).height + 10
    )


def test_write_generated_deltas_and_bars_round_trip(tmp_path: Path) -> None:
    catalog = DataCatalog(tmp_path)
    write_generated(catalog, "deltas", EURUSD, 5_000, chunk=1_500, seed=4)
    frame = catalog.query("deltas", EURUSD.id)
    assert frame.equals(generate_deltas(EURUSD, 5_000, seed=4))
    objects = catalog.query_objects("deltas", EURUSD.id)
    assert len(objects) == frame.height and objects[0].action.value == "CLEAR" and objects[1].is_snapshot
    assert objects[-1].is_last and objects[-1].sequence == 5_000
    write_generated(catalog, "bars", EURUSD, 500, chunk=128, bar_type=EURUSD_MID_1M, seed=4)
    assert catalog.query("bars", EURUSD_MID_1M).equals(generate_bars(EURUSD_MID_1M, EURUSD, 500, seed=4))
    with pytest.raises(ValueError, match="needs a bar_type"):
        write_generated(catalog, "bars", EURUSD, 5)
    with pytest.raises(ValueError, match="cannot generate"):
        write_generated(catalog, "depth10", EURUSD, 5)
    with pytest.raises(ValueError, match="unknown quotes generator parameter"):
        write_generated(catalog, "quotes", EURUSD, 5, depth=3)


def test_cli_helpers() -> None:
    assert _parse_start("2024-01-01T00:00:00Z") == T0
    assert _parse_start("2024-01-01 01:00:00+01:00") == T0
    assert _parse_start("2024-01-01T00:00:00.000123") == T0 + 123_000
    assert _parse_start(str(T0 + 5)) == T0 + 5
    with pytest.raises(ValueError, match="ISO-8601"):
        _parse_start("yesterday")
    assert str(_bar_type_for(EURUSD, "5-MINUTE-BID")) == "EUR/USD.SIM-5-MINUTE-BID-EXTERNAL"
    assert str(_bar_type_for(EURUSD, "EUR/USD.SIM-1-HOUR-MID-INTERNAL")) == "EUR/USD.SIM-1-HOUR-MID-INTERNAL"
    with pytest.raises(ValueError, match="not for instrument"):
        _bar_type_for(EURUSD, "GBP/USD.SIM-1-HOUR-MID-EXTERNAL")
    assert str(_default_start_price(EURUSD)) == "1.10000"
    assert str(_default_start_price(instrument("0.25"))) == "250.00"
