"""Seeded synthetic market data (quotes and bars) in the catalog's raw schema, for demos, tests and benchmarks.

Randomness is counter-based: value `i` of stream `s` is the SplitMix64 hash of (seed, s, i),
computed as vectorised unsigned 64-bit polars arithmetic (wrapping multiply, xor, shift as floor
division), with no numpy and no Python loop per row. The same seed therefore gives the same data on
any machine and polars version, and a run generated in chunks (`write_generated_quotes`) is
identical to one generated at once. Quotes follow a random-walk mid in whole ticks (steps roughly
normal with `volatility_ticks` standard deviation, rare jumps, reflected above a floor so prices stay
positive); bid and ask sit on the instrument's price grid with `ask - bid >= spread_ticks` ticks;
sizes are 1 to 5 times `size`. Bars follow the same kind of walk with consistent OHLC and volume.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import polars as pl

from toolkit.catalog.parquet import BAR_SCHEMA, QUOTE_SCHEMA, DataCatalog
from toolkit.model.data import BarType
from toolkit.model.instruments import Instrument
from toolkit.model.objects import Price, Quantity

DEFAULT_START_NS = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z
"""Default first timestamp of generated data."""

_MASK64 = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15
_MIX_1 = 0xBF58476D1CE4E5B9
_MIX_2 = 0x94D049BB133111EB
_STREAM_GAMMA = 0xD1B54A32D192ED03

_STREAM_STEP = 1
_STREAM_JUMP = 2
_STREAM_SPREAD_SIZE = 3
_STREAM_JITTER = 4
_STREAM_RANGE = 5


def _u64(value: int) -> pl.Expr:
    return pl.lit(value & _MASK64, dtype=pl.UInt64)


def _splitmix64_scalar(value: int) -> int:
    z = value & _MASK64
    z = ((z ^ (z >> 30)) * _MIX_1) & _MASK64
    z = ((z ^ (z >> 27)) * _MIX_2) & _MASK64
    return z ^ (z >> 31)


def _random_u64(index: pl.Expr, seed: int, stream: int) -> pl.Expr:
    """SplitMix64 output for each row index: a uniform UInt64 that depends only on (seed, stream, index)."""
    base = _splitmix64_scalar(_splitmix64_scalar(seed) + stream * _STREAM_GAMMA)
    z = index.cast(pl.UInt64) * _u64(_GAMMA) + _u64(base)
    z = (z ^ (z // _u64(1 << 30))) * _u64(_MIX_1)
    z = (z ^ (z // _u64(1 << 27))) * _u64(_MIX_2)
    return z ^ (z // _u64(1 << 31))


def _lane(bits: pl.Expr, lane: int, width: int = 16) -> pl.Expr:
    """Bits [lane*width, (lane+1)*width) of a UInt64 as Int64."""
    return ((bits // _u64(1 << (lane * width))) % _u64(1 << width)).cast(pl.Int64)


def _normal_ticks(bits: pl.Expr, volatility_ticks: float) -> pl.Expr:
    """Whole-tick steps, roughly normal with standard deviation `volatility_ticks` (sum of four 16-bit uniforms)."""
    total = _lane(bits, 0) + _lane(bits, 1) + _lane(bits, 2) + _lane(bits, 3)
    # Four uniforms on [0, 1) sum to mean 2, variance 1/3.
    standard = (total.cast(pl.Float64) / 65_536.0 - 2.0) * math.sqrt(3.0)
    return (standard * volatility_ticks).round(0).cast(pl.Int64)


def _as_price(value: Price | str | int | Decimal, instrument: Instrument, what: str) -> int:
    price = value if isinstance(value, Price) else Price.of(value, instrument.price_precision)
    if price.raw % instrument.price_increment.raw:
        raise ValueError(f"{what} {price} is not on the price grid of {instrument.id} ({instrument.price_increment})")
    return price.raw


def _as_size(value: Quantity | str | int | Decimal, instrument: Instrument, what: str) -> int:
    size = value if isinstance(value, Quantity) else Quantity.of(value, instrument.size_precision)
    if size.raw <= 0 or size.raw % instrument.size_increment.raw:
        raise ValueError(f"{what} {size} must be a positive multiple of {instrument.size_increment} ({instrument.id})")
    return size.raw


def _quote_chunk(
    instrument: Instrument,
    first_index: int,
    count: int,
    walk_start: int,
    *,
    start_ns: int,
    interval_ns: int,
    jitter_ns: int,
    seed: int,
    floor_ticks: int,
    volatility_ticks: float,
    spread_ticks: int,
    jump_probability: float,
    jump_ticks: int,
    size_raw: int,
) -> tuple[pl.DataFrame, int]:
    """Rows first_index .. first_index+count-1 of the quote stream; returns (frame, walk state after the chunk)."""
    index = pl.int_range(first_index, first_index + count, dtype=pl.Int64)
    step_bits = _random_u64(index, seed, _STREAM_STEP)
    jump_bits = _random_u64(index, seed, _STREAM_JUMP)
    book_bits = _random_u64(index, seed, _STREAM_SPREAD_SIZE)
    jump_threshold = int(jump_probability * (1 << 32))
    jump = (
        pl.when((jump_bits % _u64(1 << 32)).cast(pl.Int64) < jump_threshold)
        .then(pl.when(_lane(jump_bits, 2) % 2 == 0).then(jump_ticks).otherwise(-jump_ticks))
        .otherwise(0)
    )
    walk = walk_start + (_normal_ticks(step_bits, volatility_ticks) + jump).cum_sum()
    # Reflect the unbounded walk above the floor, so prices stay positive and chunks continue seamlessly.
    mid = floor_ticks + (pl.col("walk") - floor_ticks).abs()
    widened = _lane(book_bits, 0) % 4 == 0
    spread = spread_ticks + pl.when(widened).then(_lane(book_bits, 1) % (spread_ticks + 1)).otherwise(0)
    increment = instrument.price_increment.raw
    if jitter_ns:
        ts = (
            start_ns + index * interval_ns + (_random_u64(index, seed, _STREAM_JITTER) % _u64(jitter_ns)).cast(pl.Int64)
        )
    else:
        ts = start_ns + index * interval_ns
    frame = (
        pl.select(walk.alias("walk"), spread.alias("spread"), book_bits.alias("bits"), ts.alias("ts"))
        .with_columns(bid_ticks=mid - pl.col("spread") // 2)
        .select(
            bid=pl.col("bid_ticks") * increment,
            ask=(pl.col("bid_ticks") + pl.col("spread")) * increment,
            bid_size=(1 + _lane(pl.col("bits"), 2) % 5) * size_raw,
            ask_size=(1 + _lane(pl.col("bits"), 3) % 5) * size_raw,
            ts_event=pl.col("ts"),
            ts_init=pl.col("ts"),
            walk=pl.col("walk"),
        )
    )
    walk_end = frame["walk"][-1] if count else walk_start
    return frame.select(QUOTE_SCHEMA.names), walk_end


def _quote_chunks(
    instrument: Instrument,
    count: int,
    chunk: int,
    *,
    start_ns: int,
    interval_ns: int,
    seed: int,
    start_price: Price | str | int | Decimal,
    volatility_ticks: float,
    spread_ticks: int,
    size: Quantity | str | int | Decimal,
    jump_probability: float,
    jump_ticks: int | None,
    jitter_ns: int,
) -> Iterator[pl.DataFrame]:
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    if chunk <= 0:
        raise ValueError(f"chunk must be positive, got {chunk}")
    if interval_ns <= 0:
        raise ValueError(f"interval_ns must be positive, got {interval_ns}")
    if not 0 <= jitter_ns <= interval_ns:
        raise ValueError(f"jitter_ns must be in 0..interval_ns ({interval_ns}), got {jitter_ns}")
    if spread_ticks < 1:
        raise ValueError(f"spread_ticks must be at least 1, got {spread_ticks}")
    if volatility_ticks < 0 or not 0 <= jump_probability <= 1:
        raise ValueError("volatility_ticks must be >= 0 and jump_probability in [0, 1]")
    start_raw = _as_price(start_price, instrument, "start_price")
    increment = instrument.price_increment.raw
    floor_ticks = spread_ticks + 1  # bid = mid - spread // 2 >= 1 tick, with spread <= 2 * spread_ticks
    walk = max(start_raw // increment, floor_ticks)
    params = {
        "start_ns": start_ns,
        "interval_ns": interval_ns,
        "jitter_ns": jitter_ns,
        "seed": seed,
        "floor_ticks": floor_ticks,
        "volatility_ticks": float(volatility_ticks),
        "spread_ticks": spread_ticks,
        "jump_probability": jump_probability,
        "jump_ticks": max(1, round(10 * volatility_ticks)) if jump_ticks is None else jump_ticks,
        "size_raw": _as_size(size, instrument, "size"),
    }
    for first in range(0, count, chunk):
        frame, walk = _quote_chunk(instrument, first, min(chunk, count - first), walk, **params)
        yield frame


def generate_quotes(
    instrument: Instrument,
    count: int,
    start_ns: int = DEFAULT_START_NS,
    interval_ns: int = 100_000_000,
    seed: int = 42,
    start_price: Price | str | int | Decimal = "1.10000",
    volatility_ticks: float = 1.0,
    spread_ticks: int = 2,
    size: Quantity | str | int | Decimal = "100000",
    *,
    jump_probability: float = 0.0005,
    jump_ticks: int | None = None,
    jitter_ns: int = 0,
) -> pl.DataFrame:
    """`count` quotes in the raw quote schema, one every `interval_ns` (+ up to `jitter_ns`) from `start_ns`.

    Prices are on the instrument's grid with bid < ask; the mid walks by about `volatility_ticks`
    ticks per quote with a jump of `jump_ticks` (default 10x volatility) with `jump_probability`.
    """
    frames = list(
        _quote_chunks(
            instrument,
            count,
            max(count, 1),
            start_ns=start_ns,
            interval_ns=interval_ns,
            seed=seed,
            start_price=start_price,
            volatility_ticks=volatility_ticks,
            spread_ticks=spread_ticks,
            size=size,
            jump_probability=jump_probability,
            jump_ticks=jump_ticks,
            jitter_ns=jitter_ns,
        )
    )
    return frames[0] if frames else pl.DataFrame(schema=dict.fromkeys(QUOTE_SCHEMA.names, pl.Int64))


def write_generated_quotes(
    catalog: DataCatalog,
    instrument: Instrument,
    count: int,
    chunk: int = 1_000_000,
    start_ns: int = DEFAULT_START_NS,
    interval_ns: int = 100_000_000,
    seed: int = 42,
    start_price: Price | str | int | Decimal = "1.10000",
    volatility_ticks: float = 1.0,
    spread_ticks: int = 2,
    size: Quantity | str | int | Decimal = "100000",
    *,
    jump_probability: float = 0.0005,
    jump_ticks: int | None = None,
    jitter_ns: int = 0,
) -> list[Path]:
    """Generate `count` quotes chunk by chunk (one catalog part per chunk) and return the part paths.

    At most `chunk` rows are in memory at once; the data equal `generate_quotes` with the same
    arguments. The instrument is added to the catalog when it is not there yet.
    """
    if catalog.instrument(instrument.id) is None:
        catalog.write_instruments([instrument])
    paths: list[Path] = []
    for frame in _quote_chunks(
        instrument,
        count,
        chunk,
        start_ns=start_ns,
        interval_ns=interval_ns,
        seed=seed,
        start_price=start_price,
        volatility_ticks=volatility_ticks,
        spread_ticks=spread_ticks,
        size=size,
        jump_probability=jump_probability,
        jump_ticks=jump_ticks,
        jitter_ns=jitter_ns,
    ):
        path = catalog.write_quotes(instrument.id, frame)
        if path is not None:
            paths.append(path)
    return paths


def generate_bars(
    bar_type: BarType | str,
    instrument: Instrument,
    count: int,
    start_ns: int = DEFAULT_START_NS,
    seed: int = 42,
    start_price: Price | str | int | Decimal = "1.10000",
    volatility_ticks: float = 5.0,
    volume: Quantity | str | int | Decimal = "1000000",
) -> pl.DataFrame:
    """`count` consecutive time bars in the raw bar schema; the first opens at `start_ns`.

    ts_event = ts_init = bar close (open + duration of `bar_type`). Each bar opens at the previous
    close, moves about `volatility_ticks` ticks, has high/low beyond open and close by up to
    `volatility_ticks` ticks (low stays at least one tick), and a volume of 1 to 10 times `volume`.
    """
    bt = bar_type if isinstance(bar_type, BarType) else BarType.from_str(bar_type)
    if bt.instrument_id != instrument.id:
        raise ValueError(f"bar type {bt} is not for instrument {instrument.id}")
    duration = bt.spec.timedelta_ns
    if duration is None:
        raise ValueError(f"bar type {bt} is not time-aggregated: generate_bars needs a bar duration")
    if count < 0 or volatility_ticks < 0:
        raise ValueError("count and volatility_ticks must not be negative")
    if count == 0:
        return pl.DataFrame(schema=dict.fromkeys(BAR_SCHEMA.names, pl.Int64))
    increment = instrument.price_increment.raw
    reach = max(1, math.ceil(volatility_ticks))
    floor_ticks = reach + 1
    start_ticks = max(_as_price(start_price, instrument, "start_price") // increment, floor_ticks)
    volume_raw = _as_size(volume, instrument, "volume")
    index = pl.int_range(0, count, dtype=pl.Int64)
    range_bits = _random_u64(index, seed, _STREAM_RANGE)
    walk = start_ticks + _normal_ticks(_random_u64(index, seed, _STREAM_STEP), volatility_ticks).cum_sum()
    close = floor_ticks + (pl.col("walk") - floor_ticks).abs()
    open_ = pl.col("close").shift(1, fill_value=start_ticks)
    upper = pl.max_horizontal(pl.col("open"), pl.col("close"))
    lower = pl.min_horizontal(pl.col("open"), pl.col("close"))
    ts = start_ns + (index + 1) * duration
    return (
        pl.select(walk.alias("walk"), range_bits.alias("bits"), ts.alias("ts"))
        .with_columns(close=close)
        .with_columns(open=open_)
        .select(
            open=pl.col("open") * increment,
            high=(upper + _lane(pl.col("bits"), 0) % (reach + 1)) * increment,
            low=pl.max_horizontal(lower - _lane(pl.col("bits"), 1) % (reach + 1), pl.lit(1)) * increment,
            close=pl.col("close") * increment,
            volume=(1 + _lane(pl.col("bits"), 2) % 10) * volume_raw,
            ts_event=pl.col("ts"),
            ts_init=pl.col("ts"),
        )
    )


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    """Placeholder: `toolkit catalog generate` options are being written."""
    parser.add_argument("--catalog", required=True)


def run_generate_cli(args: argparse.Namespace) -> int:
    raise NotImplementedError("catalog generate is being written")
