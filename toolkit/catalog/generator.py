"""Seeded synthetic market data (quotes, trades, bars, L2 book deltas) in the catalog's raw schemas.

Randomness is counter-based: value `i` of stream `s` is the SplitMix64 hash of (seed, s, i),
computed as vectorised unsigned 64-bit polars arithmetic (wrapping multiply, xor, shift as floor
division), with no numpy and no Python loop per row. The same seed therefore gives the same data on
any machine and polars version, and data generated in chunks (`write_generated`, bounded memory
for any number of events) are identical to data generated at once: each chunk carries only the
walk, the last timestamp and (for books) the best bid/ask of the previous one.

- Prices follow a random-walk mid in whole ticks (steps roughly normal with `volatility_ticks`
  standard deviation, rare jumps, reflected above a floor so prices stay positive), so every
  price is on the instrument's grid; sizes are multiples of a base `size` (on the size grid).
- Quotes: bid and ask around the mid with `ask - bid` of `spread_ticks` to `2 * spread_ticks`
  ticks (wider now and then), sizes 1 to 5 times `size`.
- Trades: at the ask (buyer aggressor) or the bid (seller) of the same kind of walk, sizes 1 to 10
  times `size` with occasional block trades of 10 times that, numeric trade ids.
- Bars: time bars with consistent OHLC, each opening at the previous close.
- Deltas: an L2 (MBP) book of `depth` contiguous levels per side around the walk: an initial
  snapshot (CLEAR, then ADDs, all flagged FLAG_SNAPSHOT), then one venue update per event: levels
  deleted at the top when the mid moves through them (trades consuming the top) and at the far
  end, new levels added, or one level's size updated when nothing moved; the last delta of each
  update carries FLAG_LAST and deletes come before adds, so the book is never crossed in between.
- Timing (`Activity`): a regular clock (`interval_ns`, optional jitter), or bursts of activity
  (blocks of events with intervals `burst_speedup` times shorter, trades sharing a timestamp in
  sweeps) and occasional quiet gaps of minutes to hours.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import polars as pl

from toolkit.catalog.parquet import (
    BAR_SCHEMA,
    BOOK_ACTION_CODES,
    DELTA_SCHEMA,
    ORDER_SIDE_CODES,
    QUOTE_SCHEMA,
    TRADE_SCHEMA,
    DataCatalog,
)
from toolkit.model.data import FLAG_LAST, FLAG_SNAPSHOT, BarType
from toolkit.model.enums import BookAction, OrderSide
from toolkit.model.identifiers import InstrumentId
from toolkit.model.instruments import Instrument
from toolkit.model.objects import Price, Quantity

DEFAULT_START_NS = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z
"""Default first timestamp of generated data."""

DEFAULT_CHUNK = 1_000_000
"""Events generated (and written as one catalog part) at a time by `write_generated`."""

SECOND_NS = 1_000_000_000
MINUTE_NS = 60 * SECOND_NS
HOUR_NS = 60 * MINUTE_NS

_ADD, _UPDATE, _DELETE, _CLEAR = (
    BOOK_ACTION_CODES[a] for a in (BookAction.ADD, BookAction.UPDATE, BookAction.DELETE, BookAction.CLEAR)
)
_BUY, _SELL, _NO_SIDE = (ORDER_SIDE_CODES[s] for s in (OrderSide.BUY, OrderSide.SELL, OrderSide.NO_ORDER_SIDE))
_DELTA_TYPES: dict[str, Any] = {
    field.name: {"uint8": pl.UInt8, "uint64": pl.UInt64}.get(str(field.type), pl.Int64) for field in DELTA_SCHEMA
}

DATA_TYPES = ("quotes", "trades", "bars", "deltas")

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
_STREAM_INTERVAL = 6
_STREAM_BURST = 7
_STREAM_GAP = 8
_STREAM_TRADE = 9
_STREAM_DELTA = 10
_STREAM_LEVEL = 11

_MAX_DEPTH = 100
_DELTA_SLOTS = 512  # > 4 * _MAX_DEPTH + 1: the rows one update can produce, for per-delta random values


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


def _low32(bits: pl.Expr) -> pl.Expr:
    return (bits % _u64(1 << 32)).cast(pl.Int64)


def _threshold32(probability: float) -> int:
    """`_low32(bits) < _threshold32(p)` holds with probability p."""
    return int(probability * (1 << 32))


def _standard_normal(bits: pl.Expr) -> pl.Expr:
    """Roughly standard normal floats: the centred, scaled sum of four 16-bit uniforms."""
    total = _lane(bits, 0) + _lane(bits, 1) + _lane(bits, 2) + _lane(bits, 3)
    # Four uniforms on [0, 1) sum to mean 2, variance 1/3.
    return (total.cast(pl.Float64) / 65_536.0 - 2.0) * math.sqrt(3.0)


def _normal_ticks(bits: pl.Expr, volatility_ticks: float | pl.Expr) -> pl.Expr:
    """Whole-tick steps, roughly normal with standard deviation `volatility_ticks` (sum of four 16-bit uniforms)."""
    return (_standard_normal(bits) * volatility_ticks).round(0).cast(pl.Int64)


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


def _check_count_chunk(count: int, chunk: int) -> None:
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    if chunk <= 0:
        raise ValueError(f"chunk must be positive, got {chunk}")


# ---- timing ---------------------------------------------------------------------------------------


class Activity(msgspec.Struct, frozen=True):
    """How events are spaced in time beyond a regular clock: bursts of activity and quiet gaps.

    Events come in blocks of `burst_length`; a block is a burst with `burst_probability`, and its
    intervals are `burst_speedup` times shorter (at least 1 ns). Inside a burst an event shares
    the previous event's timestamp with `sweep_probability` (several trades of one sweep). Before
    any event a gap of `gap_min_ns` to `gap_max_ns` (about log-uniform: each doubling equally
    likely) opens with `gap_probability`. Outside bursts and gaps intervals are uniform in
    [interval/2, 3*interval/2). With all probabilities 0 the clock is regular (`interval_ns` apart,
    plus the optional jitter of the generators).
    """

    burst_probability: float = 0.0
    burst_length: int = 50
    burst_speedup: int = 20
    gap_probability: float = 0.0
    gap_min_ns: int = MINUTE_NS
    gap_max_ns: int = 4 * HOUR_NS
    sweep_probability: float = 0.0

    def __post_init__(self) -> None:
        for name in ("burst_probability", "gap_probability", "sweep_probability"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Activity.{name} must be in [0, 1], got {value}")
        if self.burst_length < 1 or self.burst_speedup < 1:
            raise ValueError("Activity.burst_length and burst_speedup must be at least 1")
        if not 0 < self.gap_min_ns <= self.gap_max_ns:
            raise ValueError(f"Activity needs 0 < gap_min_ns <= gap_max_ns, got {self.gap_min_ns}, {self.gap_max_ns}")

    @property
    def is_regular(self) -> bool:
        return self.burst_probability == 0.0 and self.gap_probability == 0.0


REGULAR = Activity()
"""A regular clock: events exactly `interval_ns` apart (plus jitter where the generator has it)."""

REALISTIC_QUOTES = Activity(burst_probability=0.05, gap_probability=0.00002)
"""Quotes: 5% of blocks of 50 quotes are bursts; a gap of 1 min to 4 h every ~50,000 quotes."""

REALISTIC_TRADES = Activity(burst_probability=0.1, gap_probability=0.0001, sweep_probability=0.3)
"""Trades: 10% burst blocks with sweeps (trades sharing a timestamp); a gap every ~10,000 trades."""

REALISTIC_BOOK = Activity(burst_probability=0.05, gap_probability=0.00002)
"""Book updates: like quotes."""

REALISTIC_BARS = Activity(gap_probability=0.0005, gap_min_ns=HOUR_NS, gap_max_ns=48 * HOUR_NS)
"""Time bars: only gaps matter (a gap of 1 to 48 hours every ~2,000 bars skips the bars it covers)."""


def _gap_octaves(activity: Activity) -> int:
    return max(1, (activity.gap_max_ns // activity.gap_min_ns).bit_length())


def _with_gaps(frame: pl.DataFrame, activity: Activity, seed: int) -> pl.DataFrame:
    """Add `gap`: the quiet time opening before each event: 0, or (with `gap_probability`) gap_min..gap_max.

    Gaps are rare, so their lengths are computed (exactly, in integers) for the hit rows only.
    """
    if activity.gap_probability == 0 or frame.height == 0:
        return frame.with_columns(gap=pl.lit(0, dtype=pl.Int64))
    bits = frame.select(_random_u64(pl.col("i"), seed, _STREAM_GAP)).to_series()
    hits = pl.select(
        position=(_low32(pl.lit(bits)) < _threshold32(activity.gap_probability)).arg_true(),
    ).with_columns(bits=pl.lit(bits).gather(pl.col("position")))
    octaves = _gap_octaves(activity)
    lengths = []
    for value in hits["bits"].to_list():
        scale = activity.gap_min_ns << ((value >> 32) & 0xFFFF) % octaves
        lengths.append(min(scale + (((value >> 48) & 0xFFFF) * scale >> 16), activity.gap_max_ns))
    gap = pl.zeros(frame.height, dtype=pl.Int64, eager=True)
    if lengths:
        gap = gap.scatter(hits["position"], pl.Series(lengths, dtype=pl.Int64))
    return frame.with_columns(gap=gap)


def _with_bursts(frame: pl.DataFrame, activity: Activity, seed: int) -> pl.DataFrame:
    """Add `burst`: whether each event's block of `burst_length` events is a burst."""
    if activity.burst_probability == 0 or frame.height == 0:
        return frame.with_columns(burst=pl.lit(False))
    length = activity.burst_length
    first_block = frame["i"][0] // length
    last_block = frame["i"][-1] // length
    blocks = pl.int_range(first_block, last_block + 1, dtype=pl.Int64)
    flags = pl.select(_low32(_random_u64(blocks, seed, _STREAM_BURST)) < _threshold32(activity.burst_probability))
    return frame.with_columns(burst=pl.lit(flags.to_series()).gather(pl.col("i") // length - first_block))


def _add_timeline(
    frame: pl.DataFrame,
    *,
    start_ns: int,
    previous_ts: int,
    interval_ns: int,
    jitter_ns: int,
    activity: Activity,
    seed: int,
) -> pl.DataFrame:
    """Add `ts` (and `burst`) to a frame of event indexes `i`; `previous_ts` is the ts before the first row.

    Irregular clock: the interval before event i is uniform in [interval/2, 3*interval/2), divided
    by `burst_speedup` in a burst (at least 1 ns; 0 for a sweep), plus its gap; event 0 is at start_ns.
    """
    index = pl.col("i")
    if activity.is_regular:
        ts = start_ns + index * interval_ns
        if jitter_ns:
            ts = ts + (_random_u64(index, seed, _STREAM_JITTER) % _u64(jitter_ns)).cast(pl.Int64)
        return frame.with_columns(ts=ts, burst=pl.lit(False))
    frame = _with_gaps(_with_bursts(frame, activity, seed), activity, seed)
    frame = frame.with_columns(_interval_bits=_random_u64(index, seed, _STREAM_INTERVAL))
    bits, burst = pl.col("_interval_bits"), pl.col("burst")
    base = interval_ns // 2 + (bits % _u64(interval_ns)).cast(pl.Int64)
    step = pl.when(burst).then(pl.max_horizontal(base // activity.burst_speedup, pl.lit(1))).otherwise(base)
    if activity.sweep_probability > 0:
        sweep = burst & (_lane(bits, 3) < int(activity.sweep_probability * 65_536))
        step = pl.when(sweep).then(0).otherwise(step)
    step = pl.when(index == 0).then(0).otherwise(step + pl.col("gap"))
    return frame.with_columns(ts=previous_ts + step.cum_sum()).drop("_interval_bits", "gap")


def _check_timing(interval_ns: int, jitter_ns: int, activity: Activity) -> None:
    if interval_ns <= 0:
        raise ValueError(f"interval_ns must be positive, got {interval_ns}")
    if not 0 <= jitter_ns <= interval_ns:
        raise ValueError(f"jitter_ns must be in 0..interval_ns ({interval_ns}), got {jitter_ns}")
    if jitter_ns and not activity.is_regular:
        raise ValueError("jitter_ns applies to a regular clock only (the activity already varies the intervals)")


# ---- the random walk ------------------------------------------------------------------------------


def _walk(
    walk_start: int,
    *,
    volatility_ticks: float,
    jump_probability: float,
    jump_ticks: int,
    burst_volatility: float | None = None,
) -> pl.Expr:
    """The unbounded walk in ticks from columns `step_bits`/`jump_bits` (and `burst` when bursts are wilder)."""
    jump_bits = pl.col("jump_bits")
    jump = (
        pl.when(_low32(jump_bits) < _threshold32(jump_probability))
        .then(pl.when(_lane(jump_bits, 2) % 2 == 0).then(jump_ticks).otherwise(-jump_ticks))
        .otherwise(0)
    )
    if burst_volatility is None:
        steps = _normal_ticks(pl.col("step_bits"), volatility_ticks)
    else:
        vol = pl.when(pl.col("burst")).then(burst_volatility).otherwise(volatility_ticks)
        steps = _normal_ticks(pl.col("step_bits"), vol)
    return walk_start + (steps + jump).cum_sum()


def _reflect(walk: pl.Expr, floor_ticks: int) -> pl.Expr:
    """Reflect the unbounded walk above the floor, so prices stay positive and chunks continue seamlessly."""
    return floor_ticks + (walk - floor_ticks).abs()


def _check_walk(volatility_ticks: float, jump_probability: float, spread_ticks: int) -> None:
    if spread_ticks < 1:
        raise ValueError(f"spread_ticks must be at least 1, got {spread_ticks}")
    if volatility_ticks < 0 or not 0 <= jump_probability <= 1:
        raise ValueError("volatility_ticks must be >= 0 and jump_probability in [0, 1]")


def _jump_ticks(jump_ticks: int | None, volatility_ticks: float) -> int:
    return max(1, round(10 * volatility_ticks)) if jump_ticks is None else jump_ticks


# ---- quotes ---------------------------------------------------------------------------------------


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
    activity: Activity | None = None,
) -> Iterator[pl.DataFrame]:
    activity = activity or REGULAR
    _check_count_chunk(count, chunk)
    _check_timing(interval_ns, jitter_ns, activity)
    _check_walk(volatility_ticks, jump_probability, spread_ticks)
    start_raw = _as_price(start_price, instrument, "start_price")
    size_raw = _as_size(size, instrument, "size")
    increment = instrument.price_increment.raw
    floor_ticks = spread_ticks + 1  # bid = mid - spread // 2 >= 1 tick, with spread <= 2 * spread_ticks
    walk = max(start_raw // increment, floor_ticks)
    jumps = _jump_ticks(jump_ticks, volatility_ticks)
    bursty = activity.burst_probability > 0
    previous_ts = start_ns
    for first in range(0, count, chunk):
        rows = min(chunk, count - first)
        index = pl.int_range(first, first + rows, dtype=pl.Int64)
        frame = pl.select(
            i=index,
            step_bits=_random_u64(index, seed, _STREAM_STEP),
            jump_bits=_random_u64(index, seed, _STREAM_JUMP),
            bits=_random_u64(index, seed, _STREAM_SPREAD_SIZE),
        )
        frame = _add_timeline(
            frame,
            start_ns=start_ns,
            previous_ts=previous_ts,
            interval_ns=interval_ns,
            jitter_ns=jitter_ns,
            activity=activity,
            seed=seed,
        )
        walk_expr = _walk(
            walk,
            volatility_ticks=volatility_ticks,
            jump_probability=jump_probability,
            jump_ticks=jumps,
            burst_volatility=2.0 * volatility_ticks if bursty else None,
        )
        bits = pl.col("bits")
        # A quarter of the quotes (half in bursts) have a wider spread.
        widened = _lane(bits, 0) % 4 == 0
        if bursty:
            widened = widened | (pl.col("burst") & (_lane(bits, 0) % 4 == 1))
        spread = spread_ticks + pl.when(widened).then(_lane(bits, 1) % (spread_ticks + 1)).otherwise(0)
        frame = frame.with_columns(walk=walk_expr, spread=spread).with_columns(
            bid_ticks=_reflect(pl.col("walk"), floor_ticks) - pl.col("spread") // 2
        )
        walk = frame["walk"][-1]
        previous_ts = frame["ts"][-1]
        yield frame.select(
            bid=pl.col("bid_ticks") * increment,
            ask=(pl.col("bid_ticks") + pl.col("spread")) * increment,
            bid_size=(1 + _lane(bits, 2) % 5) * size_raw,
            ask_size=(1 + _lane(bits, 3) % 5) * size_raw,
            ts_event=pl.col("ts"),
            ts_init=pl.col("ts"),
        )


def _empty(names: list[str], strings: tuple[str, ...] = ()) -> pl.DataFrame:
    return pl.DataFrame(schema={n: pl.String if n in strings else pl.Int64 for n in names})


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
    activity: Activity | None = None,
) -> pl.DataFrame:
    """`count` quotes in the raw quote schema, one every `interval_ns` (+ up to `jitter_ns`) from `start_ns`.

    Prices are on the instrument's grid with bid < ask; the mid walks by about `volatility_ticks`
    ticks per quote with a jump of `jump_ticks` (default 10x volatility) with `jump_probability`.
    With an `activity` (e.g. `REALISTIC_QUOTES`) the quotes come in bursts (twice the volatility,
    wider spreads more often) and gaps; without one the clock is regular.
    """
    return _collect(
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
            activity=activity,
        ),
        _empty(QUOTE_SCHEMA.names),
    )


def _collect(chunks: Iterator[pl.DataFrame], empty: pl.DataFrame) -> pl.DataFrame:
    frames = list(chunks)
    if not frames:
        return empty
    return frames[0] if len(frames) == 1 else pl.concat(frames)


# ---- trades ---------------------------------------------------------------------------------------


def _trade_chunks(
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
    activity: Activity | None,
) -> Iterator[pl.DataFrame]:
    activity = REGULAR if activity is None else activity
    _check_count_chunk(count, chunk)
    _check_timing(interval_ns, 0, activity)
    _check_walk(volatility_ticks, jump_probability, spread_ticks)
    start_raw = _as_price(start_price, instrument, "start_price")
    size_raw = _as_size(size, instrument, "size")
    increment = instrument.price_increment.raw
    floor_ticks = spread_ticks + 1
    walk = max(start_raw // increment, floor_ticks)
    jumps = _jump_ticks(jump_ticks, volatility_ticks)
    previous_ts = start_ns
    for first in range(0, count, chunk):
        rows = min(chunk, count - first)
        index = pl.int_range(first, first + rows, dtype=pl.Int64)
        frame = pl.select(
            i=index,
            step_bits=_random_u64(index, seed, _STREAM_STEP),
            jump_bits=_random_u64(index, seed, _STREAM_JUMP),
            bits=_random_u64(index, seed, _STREAM_TRADE),
        )
        frame = _add_timeline(
            frame,
            start_ns=start_ns,
            previous_ts=previous_ts,
            interval_ns=interval_ns,
            jitter_ns=0,
            activity=activity,
            seed=seed,
        )
        walk_expr = _walk(walk, volatility_ticks=volatility_ticks, jump_probability=jump_probability, jump_ticks=jumps)
        frame = frame.with_columns(walk=walk_expr)
        walk = frame["walk"][-1]
        previous_ts = frame["ts"][-1]
        bits = pl.col("bits")
        buyer = _lane(bits, 0) % 2 == 0
        bid_ticks = _reflect(pl.col("walk"), floor_ticks) - spread_ticks // 2
        block = pl.when(_lane(bits, 2) % 16 == 0).then(10).otherwise(1)
        yield frame.select(
            price=pl.when(buyer).then(bid_ticks + spread_ticks).otherwise(bid_ticks) * increment,
            size=(1 + _lane(bits, 1) % 10) * block * size_raw,
            aggressor_side=pl.when(buyer).then(pl.lit("BUYER")).otherwise(pl.lit("SELLER")),
            trade_id=(pl.col("i") + 1).cast(pl.String),
            ts_event=pl.col("ts"),
            ts_init=pl.col("ts"),
        )


def generate_trades(
    instrument: Instrument,
    count: int,
    start_ns: int = DEFAULT_START_NS,
    interval_ns: int = SECOND_NS,
    seed: int = 42,
    start_price: Price | str | int | Decimal = "1.10000",
    volatility_ticks: float = 1.0,
    spread_ticks: int = 1,
    size: Quantity | str | int | Decimal = "1000",
    *,
    jump_probability: float = 0.0005,
    jump_ticks: int | None = None,
    activity: Activity | None = REALISTIC_TRADES,
) -> pl.DataFrame:
    """`count` trades in the raw trade schema, about `interval_ns` apart from `start_ns` (see `Activity`).

    A buyer-aggressor trade prints at the ask, a seller at the bid, of a mid walking about
    `volatility_ticks` ticks per trade with `ask - bid = spread_ticks`; sizes are 1 to 10 times
    `size` (a sixteenth of them ten times more); trade ids are "1", "2", ... By default the
    trades come in bursts with sweeps and gaps (`REALISTIC_TRADES`); pass `activity=None` for a
    regular clock.
    """
    return _collect(
        _trade_chunks(
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
            activity=activity,
        ),
        _empty(TRADE_SCHEMA.names, ("aggressor_side", "trade_id")),
    )


# ---- bars -----------------------------------------------------------------------------------------


def _bar_chunks(
    bar_type: BarType | str,
    instrument: Instrument,
    count: int,
    chunk: int,
    *,
    start_ns: int,
    seed: int,
    start_price: Price | str | int | Decimal,
    volatility_ticks: float,
    volume: Quantity | str | int | Decimal,
    activity: Activity | None,
) -> Iterator[pl.DataFrame]:
    bt = bar_type if isinstance(bar_type, BarType) else BarType.from_str(bar_type)
    if bt.instrument_id != instrument.id:
        raise ValueError(f"bar type {bt} is not for instrument {instrument.id}")
    duration = bt.spec.timedelta_ns
    if duration is None:
        raise ValueError(f"bar type {bt} is not time-aggregated: generate_bars needs a bar duration")
    if count < 0 or volatility_ticks < 0:
        raise ValueError("count and volatility_ticks must not be negative")
    _check_count_chunk(count, chunk)
    activity = REGULAR if activity is None else activity
    increment = instrument.price_increment.raw
    reach = max(1, math.ceil(volatility_ticks))
    floor_ticks = reach + 1
    start_ticks = max(_as_price(start_price, instrument, "start_price") // increment, floor_ticks)
    volume_raw = _as_size(volume, instrument, "volume")
    walk, previous_close, skipped = start_ticks, start_ticks, 0
    for first in range(0, count, chunk):
        rows = min(chunk, count - first)
        index = pl.int_range(first, first + rows, dtype=pl.Int64)
        frame = pl.select(
            i=index, step_bits=_random_u64(index, seed, _STREAM_STEP), bits=_random_u64(index, seed, _STREAM_RANGE)
        )
        slots = pl.col("i")
        if activity.gap_probability > 0:
            # A quiet gap before a bar skips the bar slots it covers (no bars while nothing trades).
            frame = _with_gaps(frame, activity, seed)
            frame = frame.with_columns(skip=skipped + (pl.col("gap") // duration).cum_sum())
            slots = slots + pl.col("skip")
            skipped = frame["skip"][-1]
        frame = frame.with_columns(walk=walk + _normal_ticks(pl.col("step_bits"), volatility_ticks).cum_sum())
        frame = frame.with_columns(close=_reflect(pl.col("walk"), floor_ticks)).with_columns(
            open=pl.col("close").shift(1, fill_value=previous_close)
        )
        walk, previous_close = frame["walk"][-1], frame["close"][-1]
        upper = pl.max_horizontal(pl.col("open"), pl.col("close"))
        lower = pl.min_horizontal(pl.col("open"), pl.col("close"))
        ts = start_ns + (slots + 1) * duration
        bits = pl.col("bits")
        yield frame.select(
            open=pl.col("open") * increment,
            high=(upper + _lane(bits, 0) % (reach + 1)) * increment,
            low=pl.max_horizontal(lower - _lane(bits, 1) % (reach + 1), pl.lit(1)) * increment,
            close=pl.col("close") * increment,
            volume=(1 + _lane(bits, 2) % 10) * volume_raw,
            ts_event=ts,
            ts_init=ts,
        )


def generate_bars(
    bar_type: BarType | str,
    instrument: Instrument,
    count: int,
    start_ns: int = DEFAULT_START_NS,
    seed: int = 42,
    start_price: Price | str | int | Decimal = "1.10000",
    volatility_ticks: float = 5.0,
    volume: Quantity | str | int | Decimal = "1000000",
    *,
    activity: Activity | None = None,
) -> pl.DataFrame:
    """`count` consecutive time bars in the raw bar schema; the first opens at `start_ns`.

    ts_event = ts_init = bar close (open + duration of `bar_type`). Each bar opens at the previous
    close, moves about `volatility_ticks` ticks, has high/low beyond open and close by up to
    `volatility_ticks` ticks (low stays at least one tick), and a volume of 1 to 10 times `volume`.
    With an `activity` that has gaps, a gap before a bar skips the bar slots it covers.
    """
    return _collect(
        _bar_chunks(
            bar_type,
            instrument,
            count,
            max(count, 1),
            start_ns=start_ns,
            seed=seed,
            start_price=start_price,
            volatility_ticks=volatility_ticks,
            volume=volume,
            activity=activity,
        ),
        _empty(BAR_SCHEMA.names),
    )


# ---- L2 book deltas -------------------------------------------------------------------------------


def _snapshot(bid: int, ask: int, depth: int, increment: int, size_raw: int, seed: int, ts: int) -> pl.DataFrame:
    """CLEAR, then `depth` bid and ask levels (best first) as ADDs, all flagged snapshot; the last also LAST."""
    row = pl.int_range(0, 2 * depth + 1, dtype=pl.Int64)
    level = row - 1
    is_bid = level < depth
    k = level % depth
    return pl.select(
        action=pl.when(row == 0).then(_CLEAR).otherwise(_ADD),
        side=pl.when(row == 0).then(_NO_SIDE).when(is_bid).then(_BUY).otherwise(_SELL),
        price=pl.when(row == 0).then(0).when(is_bid).then(bid - k).otherwise(ask + k) * increment,
        size=pl.when(row == 0).then(0).otherwise((1 + _lane(_random_u64(row, seed, _STREAM_LEVEL), 0) % 10) * size_raw),
        order_id=0,
        flags=pl.when(row == 2 * depth).then(FLAG_SNAPSHOT | FLAG_LAST).otherwise(FLAG_SNAPSHOT),
        sequence=0,
        ts_event=ts,
        ts_init=ts,
    ).cast(_DELTA_TYPES)


def _delta_chunks(
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
    depth: int,
    jump_probability: float,
    jump_ticks: int | None,
    activity: Activity | None,
) -> Iterator[pl.DataFrame]:
    activity = REGULAR if activity is None else activity
    _check_count_chunk(count, chunk)
    _check_timing(interval_ns, 0, activity)
    _check_walk(volatility_ticks, jump_probability, spread_ticks)
    if not 1 <= depth <= _MAX_DEPTH:
        raise ValueError(f"depth must be in 1..{_MAX_DEPTH}, got {depth}")
    start_raw = _as_price(start_price, instrument, "start_price")
    size_raw = _as_size(size, instrument, "size")
    increment = instrument.price_increment.raw
    # The deepest bid, mid - spread // 2 - (depth - 1), stays >= 1 tick (spread <= 2 * spread_ticks).
    floor_ticks = depth + spread_ticks
    walk = max(start_raw // increment, floor_ticks)
    best_bid = walk - spread_ticks // 2
    best_ask = best_bid + spread_ticks
    snapshot: pl.DataFrame | None = _snapshot(best_bid, best_ask, depth, increment, size_raw, seed, start_ns)
    if count == 0:
        yield snapshot
    jumps = _jump_ticks(jump_ticks, volatility_ticks)
    previous_ts = start_ns
    for first in range(0, count, chunk):
        rows = min(chunk, count - first)
        # Update u is event u + 1 of the timeline; event 0 is the snapshot at start_ns.
        index = pl.int_range(first + 1, first + rows + 1, dtype=pl.Int64)
        frame = pl.select(
            i=index,
            step_bits=_random_u64(index, seed, _STREAM_STEP),
            jump_bits=_random_u64(index, seed, _STREAM_JUMP),
            bits=_random_u64(index, seed, _STREAM_SPREAD_SIZE),
        )
        frame = _add_timeline(
            frame,
            start_ns=start_ns,
            previous_ts=previous_ts,
            interval_ns=interval_ns,
            jitter_ns=0,
            activity=activity,
            seed=seed,
        )
        walk_expr = _walk(walk, volatility_ticks=volatility_ticks, jump_probability=jump_probability, jump_ticks=jumps)
        bits = pl.col("bits")
        spread = spread_ticks + pl.when(_lane(bits, 0) % 16 == 0).then(_lane(bits, 1) % (spread_ticks + 1)).otherwise(0)
        frame = (
            frame.with_columns(walk=walk_expr, spread=spread)
            .with_columns(b=_reflect(pl.col("walk"), floor_ticks) - pl.col("spread") // 2)
            .with_columns(a=pl.col("b") + pl.col("spread"))
            .with_columns(
                b0=pl.col("b").shift(1, fill_value=best_bid),
                a0=pl.col("a").shift(1, fill_value=best_ask),
            )
            .with_columns(db=pl.col("b") - pl.col("b0"), da=pl.col("a") - pl.col("a0"))
            .with_columns(
                mb=pl.min_horizontal(pl.col("db").abs(), pl.lit(depth)),
                ma=pl.min_horizontal(pl.col("da").abs(), pl.lit(depth)),
            )
            .with_columns(moves=2 * (pl.col("mb") + pl.col("ma")))
            .with_columns(n=pl.max_horizontal(pl.col("moves"), pl.lit(1)))
        )
        walk, best_bid, best_ask = frame["walk"][-1], frame["b"][-1], frame["a"][-1]
        previous_ts = frame["ts"][-1]
        deltas = _explode_updates(frame, depth, increment, size_raw, seed)
        if snapshot is not None:
            deltas, snapshot = pl.concat([snapshot, deltas]), None
        yield deltas


def _explode_updates(frame: pl.DataFrame, depth: int, increment: int, size_raw: int, seed: int) -> pl.DataFrame:
    """One row per delta of each update: bid deletes, ask deletes, bid adds, ask adds; or one UPDATE."""
    deltas = frame.select("i", "ts", "bits", "b", "a", "b0", "a0", "db", "da", "mb", "ma", "moves", "n").with_columns(
        j=pl.int_ranges(0, pl.col("n"), dtype=pl.Int64)
    )
    deltas = deltas.explode("j")
    j, mb, ma = pl.col("j"), pl.col("mb"), pl.col("ma")
    b, a, b0, a0 = pl.col("b"), pl.col("a"), pl.col("b0"), pl.col("a0")
    up_b, up_a = pl.col("db") > 0, pl.col("da") > 0
    c1, c2, c3 = mb, mb + ma, 2 * mb + ma
    update = pl.col("moves") == 0
    update_bid = _lane(pl.col("bits"), 2) % 2 == 0
    level = _lane(pl.col("bits"), 3) % depth
    bid_delete = pl.when(up_b).then(b0 - depth + 1 + j).otherwise(b0 - j)
    ask_delete = pl.when(up_a).then(a0 + (j - c1)).otherwise(a0 + depth - 1 - (j - c1))
    bid_add = pl.when(up_b).then(b - (j - c2)).otherwise(b - depth + 1 + (j - c2))
    ask_add = pl.when(up_a).then(a + depth - 1 - (j - c3)).otherwise(a + (j - c3))
    price_ticks = (
        pl.when(update)
        .then(pl.when(update_bid).then(b - level).otherwise(a + level))
        .when(j < c1)
        .then(bid_delete)
        .when(j < c2)
        .then(ask_delete)
        .when(j < c3)
        .then(bid_add)
        .otherwise(ask_add)
    )
    is_bid = pl.when(update).then(update_bid).otherwise((j < c1) | ((j >= c2) & (j < c3)))
    action = pl.when(update).then(_UPDATE).when(j < c2).then(_DELETE).otherwise(_ADD)
    size_bits = _random_u64(pl.col("i") * _DELTA_SLOTS + j, seed, _STREAM_DELTA)
    size = pl.when(update | (j >= c2)).then((1 + _lane(size_bits, 0) % 10) * size_raw).otherwise(0)
    return deltas.select(
        action=action,
        side=pl.when(is_bid).then(_BUY).otherwise(_SELL),
        price=price_ticks * increment,
        size=size,
        order_id=0,
        flags=pl.when(j == pl.col("n") - 1).then(FLAG_LAST).otherwise(0),
        sequence=pl.col("i"),
        ts_event=pl.col("ts"),
        ts_init=pl.col("ts"),
    ).cast(_DELTA_TYPES)


def generate_deltas(
    instrument: Instrument,
    count: int,
    start_ns: int = DEFAULT_START_NS,
    interval_ns: int = 100_000_000,
    seed: int = 42,
    start_price: Price | str | int | Decimal = "1.10000",
    volatility_ticks: float = 0.5,
    spread_ticks: int = 2,
    size: Quantity | str | int | Decimal = "100000",
    *,
    depth: int = 10,
    jump_probability: float = 0.0005,
    jump_ticks: int | None = None,
    activity: Activity | None = REALISTIC_BOOK,
) -> pl.DataFrame:
    """L2 book deltas in the raw delta schema: a snapshot at `start_ns`, then `count` venue updates.

    `action` and `side` are the catalog's uint8 codes (`BOOK_ACTION_CODES`, `ORDER_SIDE_CODES`).

    `count` counts updates (events), not rows: the snapshot is 2 * depth + 1 rows and an update
    is one UPDATE of a level's size (nothing moved) or the DELETEs and ADDs that move the book's
    `depth` contiguous levels per side with the mid. All deltas of an update share its timestamp
    and `sequence` (the update number, 1, 2, ...; the snapshot is 0); the last has FLAG_LAST.
    """
    return _collect(
        _delta_chunks(
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
            depth=depth,
            jump_probability=jump_probability,
            jump_ticks=jump_ticks,
            activity=activity,
        ),
        pl.DataFrame(schema=_DELTA_TYPES),
    )


# ---- writing to a catalog -------------------------------------------------------------------------

_CHUNKERS: dict[str, Callable[..., Iterator[pl.DataFrame]]] = {
    "quotes": _quote_chunks,
    "trades": _trade_chunks,
    "deltas": _delta_chunks,
}
_DEFAULTS: dict[str, dict[str, Any]] = {
    "quotes": {
        "start_ns": DEFAULT_START_NS,
        "interval_ns": 100_000_000,
        "seed": 42,
        "start_price": "1.10000",
        "volatility_ticks": 1.0,
        "spread_ticks": 2,
        "size": "100000",
        "jump_probability": 0.0005,
        "jump_ticks": None,
        "jitter_ns": 0,
        "activity": None,
    },
    "trades": {
        "start_ns": DEFAULT_START_NS,
        "interval_ns": SECOND_NS,
        "seed": 42,
        "start_price": "1.10000",
        "volatility_ticks": 1.0,
        "spread_ticks": 1,
        "size": "1000",
        "jump_probability": 0.0005,
        "jump_ticks": None,
        "activity": REALISTIC_TRADES,
    },
    "bars": {
        "start_ns": DEFAULT_START_NS,
        "seed": 42,
        "start_price": "1.10000",
        "volatility_ticks": 5.0,
        "volume": "1000000",
        "activity": None,
    },
    "deltas": {
        "start_ns": DEFAULT_START_NS,
        "interval_ns": 100_000_000,
        "seed": 42,
        "start_price": "1.10000",
        "volatility_ticks": 0.5,
        "spread_ticks": 2,
        "size": "100000",
        "depth": 10,
        "jump_probability": 0.0005,
        "jump_ticks": None,
        "activity": REALISTIC_BOOK,
    },
}


def generated_chunks(
    data_type: str,
    instrument: Instrument,
    count: int,
    *,
    chunk: int = DEFAULT_CHUNK,
    bar_type: BarType | str | None = None,
    **params: Any,
) -> Iterator[pl.DataFrame]:
    """The frames of `generate_<data_type>(instrument, count, **params)`, `chunk` events at a time.

    Concatenated they equal the one-shot result; memory holds one chunk. For deltas the first
    frame is the snapshot and `count`/`chunk` count updates.
    """
    data_type = str(getattr(data_type, "value", data_type)).lower()
    defaults = _DEFAULTS.get(data_type)
    if defaults is None:
        raise ValueError(f"cannot generate {data_type!r} (expected one of: {', '.join(DATA_TYPES)})")
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(f"unknown {data_type} generator parameter(s): {', '.join(unknown)}")
    arguments = {**defaults, **params}
    if data_type == "bars":
        if bar_type is None:
            raise ValueError("generating bars needs a bar_type")
        return _bar_chunks(bar_type, instrument, count, chunk, **arguments)
    if bar_type is not None:
        raise ValueError(f"bar_type applies to bars, not {data_type}")
    return _CHUNKERS[data_type](instrument, count, chunk, **arguments)


def write_generated(
    catalog: DataCatalog,
    data_type: str,
    instrument: Instrument,
    count: int,
    *,
    chunk: int = DEFAULT_CHUNK,
    bar_type: BarType | str | None = None,
    replace: bool = False,
    **params: Any,
) -> list[Path]:
    """Generate `count` events chunk by chunk into the catalog (one part per chunk); return the part paths.

    Memory holds about three chunks (one being written, one held back, one being generated); the
    data equal `generate_<data_type>` with the same arguments. The instrument is added to the
    catalog when it is not there yet. Existing rows in the time span of a chunk make the catalog
    refuse the write, unless `replace` (then they are replaced).
    """
    data_type = str(getattr(data_type, "value", data_type)).lower()
    chunks = generated_chunks(data_type, instrument, count, chunk=chunk, bar_type=bar_type, **params)
    identifier: InstrumentId | BarType = instrument.id
    if isinstance(bar_type, BarType):
        identifier = bar_type
    elif bar_type is not None:
        identifier = BarType.from_str(bar_type)
    if catalog.instrument(instrument.id) is None:
        catalog.write_instruments([instrument])
    paths: list[Path] = []
    # One background thread writes (compresses) a chunk while the next one is generated.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="toolkit-generate") as writer:
        writing: Future[Path | None] | None = None

        def write(frame: pl.DataFrame) -> None:
            nonlocal writing
            if writing is not None and (path := writing.result()) is not None:
                paths.append(path)
            writing = writer.submit(catalog.write, data_type, identifier, frame, replace=replace)

        # The catalog refuses a write that touches the ts_init span of existing rows, so when a chunk
        # starts at the timestamp the previous one ended with (a trade sweep), that run moves forward.
        pending: pl.DataFrame | None = None
        for frame in chunks:
            if pending is not None and pending.height:
                ts = pending["ts_init"]
                if frame.height and frame["ts_init"][0] == ts[-1]:
                    cut = int(ts.search_sorted(ts[-1], side="left"))
                    frame = pl.concat([pending.slice(cut), frame])
                    pending = pending.slice(0, cut)
                if pending.height:
                    write(pending)
            pending = frame
        if pending is not None and pending.height:
            write(pending)
        if writing is not None and (path := writing.result()) is not None:
            paths.append(path)
    return paths


def write_generated_quotes(
    catalog: DataCatalog,
    instrument: Instrument,
    count: int,
    chunk: int = DEFAULT_CHUNK,
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
    activity: Activity | None = None,
) -> list[Path]:
    """Generate `count` quotes chunk by chunk (one catalog part per chunk) and return the part paths.

    At most `chunk` rows are in memory at once; the data equal `generate_quotes` with the same
    arguments. The instrument is added to the catalog when it is not there yet.
    """
    return write_generated(
        catalog,
        "quotes",
        instrument,
        count,
        chunk=chunk,
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
        activity=activity,
    )


# ---- command line ---------------------------------------------------------------------------------


def _parse_start(value: str) -> int:
    """An ISO-8601 time (UTC unless it names an offset) or integer nanoseconds, as ns since the epoch."""
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--start {value!r} is not an ISO-8601 time (e.g. 2024-01-01T00:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * SECOND_NS + delta.microseconds * 1_000


def _default_start_price(instrument: Instrument) -> Price:
    """1.1 on the instrument's grid, at least 1,000 ticks (so the walk has room above zero)."""
    increment = instrument.price_increment.raw
    ticks = max(round(Decimal("1.1") * 10**9 / increment), 1_000)
    return Price(ticks * increment, instrument.price_precision)


def _bar_type_for(instrument: Instrument, value: str) -> BarType:
    """A full bar type, or a spec ("1-MINUTE-LAST") completed with the instrument and EXTERNAL."""
    text = value.strip()
    if text.count("-") == 2:
        text = f"{instrument.id}-{text}-EXTERNAL"
    elif text.count("-") == 3 and not text.startswith(str(instrument.id)):
        text = f"{instrument.id}-{text}"
    bar_type = BarType.from_str(text)
    if bar_type.instrument_id != instrument.id:
        raise ValueError(f"--bar-type {value} is not for instrument {instrument.id}")
    return bar_type


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--catalog", required=True, help="catalog folder (the instrument must be in it)")
    parser.add_argument("--instrument", required=True, help="instrument id, e.g. EUR/USD.SIM")
    parser.add_argument("--type", required=True, choices=DATA_TYPES, dest="data_type", help="what to generate")
    parser.add_argument(
        "--count", required=True, type=int, help="events: quotes, trades or bars; for deltas, book updates"
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (same seed, same data; default 42)")
    parser.add_argument(
        "--start", default="2024-01-01T00:00:00Z", help="first timestamp, ISO-8601 (default 2024-01-01)"
    )
    parser.add_argument(
        "--bar-type",
        default="1-MINUTE-LAST",
        help="bars: a bar type or a spec such as 1-MINUTE-BID (default 1-MINUTE-LAST)",
    )
    parser.add_argument("--start-price", help="first mid price (default 1.1 on the grid, at least 1,000 ticks)")
    parser.add_argument("--size", help="base size (default 100 size increments)")
    parser.add_argument(
        "--interval-ms", type=float, help="mean time between events (default quotes/deltas 100, trades 1000)"
    )
    parser.add_argument("--volatility", type=float, help="mid steps' standard deviation in ticks")
    parser.add_argument("--depth", type=int, default=10, help="deltas: levels per side (default 10)")
    parser.add_argument(
        "--regular", action="store_true", help="a regular clock: no bursts, no gaps (default: bursts and gaps)"
    )
    parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK, help="events per written part (bounds memory)")
    parser.add_argument(
        "--replace", action="store_true", help="replace existing rows in the generated time span (else refused)"
    )


def run_generate_cli(args: argparse.Namespace) -> int:
    root = Path(args.catalog)
    catalog = DataCatalog(root)
    instrument = catalog.instrument(args.instrument)
    if instrument is None:
        known = ", ".join(str(i.id) for i in catalog.instruments()) or "none"
        raise ValueError(
            f"instrument {args.instrument} is not in the catalog {root} (known: {known}); "
            "write its definition first (toolkit catalog instruments)"
        )
    if args.count < 0:
        raise ValueError(f"--count must not be negative, got {args.count}")
    params: dict[str, Any] = {
        "seed": args.seed,
        "start_ns": _parse_start(args.start),
        "start_price": Price.of(args.start_price, instrument.price_precision)
        if args.start_price
        else _default_start_price(instrument),
    }
    size = (
        Quantity.of(args.size, instrument.size_precision)
        if args.size
        else Quantity(100 * instrument.size_increment.raw, instrument.size_precision)
    )
    params["volume" if args.data_type == "bars" else "size"] = size
    if args.volatility is not None:
        params["volatility_ticks"] = args.volatility
    if args.data_type == "bars":
        bar_type: BarType | None = _bar_type_for(instrument, args.bar_type)
        params["activity"] = None if args.regular else REALISTIC_BARS
    else:
        bar_type = None
        if args.interval_ms is not None:
            if args.interval_ms <= 0:
                raise ValueError(f"--interval-ms must be positive, got {args.interval_ms}")
            params["interval_ns"] = max(1, round(args.interval_ms * 1_000_000))
        realistic = {"quotes": REALISTIC_QUOTES, "trades": REALISTIC_TRADES, "deltas": REALISTIC_BOOK}
        params["activity"] = None if args.regular else realistic[args.data_type]
        if args.data_type == "deltas":
            params["depth"] = args.depth
    paths = write_generated(
        catalog,
        args.data_type,
        instrument,
        args.count,
        chunk=args.chunk,
        bar_type=bar_type,
        replace=args.replace,
        **params,
    )
    dataset = f"{args.data_type}/{bar_type if bar_type is not None else instrument.id}"
    info = next((i for i in catalog.list_datasets() if f"{i.data_type.value}/{i.identifier}" == dataset), None)
    what = "book updates" if args.data_type == "deltas" else args.data_type
    held = f"the dataset now has {info.rows:,} rows in {info.parts} part(s)" if info else "nothing was written"
    print(f"generated {args.count:,} {what} (seed {args.seed}) into {dataset} in {len(paths)} write(s); {held}")
    return 0
