"""Loaders for market data files as vendors publish them, producing frames in the catalog's raw schema.

Supported: OHLC(V) bar CSVs with a `timestamp,open,high,low,close[,volume]` header and ISO
timestamps with an offset or naive UTC (`load_bars_csv`, and `load_bid_ask_bars_csv` for a BID file
paired with an ASK file), and TrueFX-style headerless quote CSVs (`load_truefx_quotes_csv`).
Decimal text is parsed into raw fixed-point integers exactly, never through floats: a vectorised
polars pass splits sign, integer and fraction digits and scales them with integer arithmetic.
Prices with more decimals than the instrument's `price_precision` are refused; volumes too, unless
`round_volume=True` asks for half-even rounding (some vendors write float noise such as
`203889.11713750003`). Every error is a `LoaderError` naming the file, the line and the value.
Bar files that stamp bars at their open (`timestamps_at="open"`, the default) are shifted so that
`ts_event` and `ts_init` are the bar close (open + bar duration), as the backtest requires.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal, NamedTuple

import polars as pl

from toolkit.catalog.parquet import BAR_SCHEMA, QUOTE_SCHEMA, DataType, objects_from_frame
from toolkit.model.data import Bar, BarSpecification, BarType, QuoteTick
from toolkit.model.enums import AggregationSource, BarAggregation, PriceType, parse_enum
from toolkit.model.instruments import Instrument
from toolkit.model.objects import FIXED_PRECISION, FIXED_SCALE, Quantity

PathLike = str | os.PathLike[str]
TimestampsAt = Literal["open", "close"]

_LINE = "__line"
_DECIMAL_PATTERN = r"^(?P<sign>[+-]?)(?P<int>\d*)(?:\.(?P<frac>\d*))?$"
_MAX_UNITS = (2**63 - 1) // FIXED_SCALE - 1
_OFFSET_PATTERN = r"[+-]\d{2}:?\d{2}$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class LoaderError(ValueError):
    """A file could not be loaded; names the file, and the line (1-based) when one is at fault."""

    def __init__(self, path: PathLike, line: int | None, message: str) -> None:
        self.path = Path(path)
        self.line = line
        where = f"{self.path}" if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {message}")


class BidAskBars(NamedTuple):
    """A BID bar frame and the ASK bar frame covering the same bars, with their bar types."""

    bid_bar_type: BarType
    bid: pl.DataFrame
    ask_bar_type: BarType
    ask: pl.DataFrame


def format_ns(ns: int) -> str:
    """An ns timestamp as ISO-8601 UTC text, exact to the nanosecond."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    stamp = (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}Z" if nanos else f"{stamp}Z"


# ---- reading text ---------------------------------------------------------------------------------


def _read_text_csv(path: Path, *, has_header: bool) -> tuple[pl.DataFrame, int]:
    """All fields as strings plus a 1-based `__line` column; fully blank rows dropped. Returns (frame, first line)."""
    if not path.is_file():
        raise LoaderError(path, None, "no such file")
    try:
        frame = pl.read_csv(path, has_header=has_header, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise LoaderError(path, None, f"not a readable CSV file: {exc}") from None
    first_line = 2 if has_header else 1
    if has_header:
        frame = frame.rename({name: name.strip().lower() for name in frame.columns})
    frame = frame.with_row_index(_LINE, offset=first_line).with_columns(pl.col(_LINE).cast(pl.Int64))
    data_columns = [c for c in frame.columns if c != _LINE]
    if data_columns:
        frame = frame.filter(~pl.all_horizontal(pl.col(c).is_null() for c in data_columns))
    return frame, first_line


def _first_bad(frame: pl.DataFrame, condition: pl.Expr) -> dict | None:
    """The first row (as a dict) where `condition` is true, or None."""
    index = frame.select(condition.arg_true().first()).item()
    return None if index is None else frame.row(index, named=True)


def _describe(value: str | None) -> str:
    return "missing" if value is None or value == "" else repr(value)


def parse_fixed_column(
    frame: pl.DataFrame,
    column: str,
    precision: int,
    *,
    path: PathLike,
    what: str,
    owner: str,
    rounding: bool = False,
) -> pl.Series:
    """Parse decimal text in `column` into raw fixed-point int64 (value * 10**9), exactly.

    `frame` must carry the `__line` column (see `_read_text_csv`). Values with more than
    `precision` significant decimals raise `LoaderError` (file, line, value) unless `rounding`,
    which rounds them half-even to `precision`. `owner` says whose precision it is in messages.
    """
    if not 0 <= precision <= FIXED_PRECISION:
        raise ValueError(f"{what}: precision {precision} outside 0..{FIXED_PRECISION}")
    text = pl.col(column).str.strip_chars()
    parts = frame.select(pl.col(_LINE), pl.col(column), text.str.extract_groups(_DECIMAL_PATTERN).alias("p")).unnest(
        "p"
    )
    sign, int_digits, frac = pl.col("sign"), pl.col("int"), pl.col("frac").fill_null("")
    int_digits_trimmed = int_digits.str.strip_chars_start("0")
    checked = parts.with_columns(
        valid=sign.is_not_null() & ((int_digits.str.len_bytes() > 0) | (frac.str.len_bytes() > 0)),
        int_len=int_digits_trimmed.str.len_bytes(),
        decimals=frac.str.strip_chars_end("0").str.len_bytes(),
    )
    bad = _first_bad(checked, ~pl.col("valid").fill_null(False))
    if bad is not None:
        raise LoaderError(path, bad[_LINE], f"{what} {_describe(bad[column])} is not a decimal number")
    units = pl.when(int_digits_trimmed == "").then(0).otherwise(int_digits_trimmed.cast(pl.Int64, strict=False))
    checked = checked.with_columns(units=pl.when(pl.col("int_len") > 10).then(None).otherwise(units))
    bad = _first_bad(checked, pl.col("units").is_null() | (pl.col("units") > _MAX_UNITS))
    if bad is not None:
        raise LoaderError(path, bad[_LINE], f"{what} {bad[column]!r} is out of range")
    if not rounding:
        bad = _first_bad(checked, pl.col("decimals") > precision)
        if bad is not None:
            raise LoaderError(
                path,
                bad[_LINE],
                f"{what} {bad[column]!r} has {bad['decimals']} decimals, more than the {precision} allowed by {owner}",
            )
    kept = frac.str.slice(0, precision).str.pad_end(precision, "0").cast(pl.Int64) if precision else pl.lit(0)
    scaled = pl.col("units") * 10**precision + kept
    first_dropped = frac.str.slice(precision, 1)
    round_up = (first_dropped > "5") | (
        (first_dropped == "5") & (frac.str.slice(precision + 1).str.contains("[1-9]") | (scaled % 2 == 1))
    )
    magnitude = (scaled + round_up.cast(pl.Int64)) * 10 ** (FIXED_PRECISION - precision)
    raw = pl.when(sign == "-").then(-magnitude).otherwise(magnitude)
    return checked.select(raw.alias(column)).to_series()


def parse_iso_timestamps(frame: pl.DataFrame, column: str, *, path: PathLike) -> pl.Series:
    """ISO date-times (`2012-02-01 00:00:00+00:00`, `...T...Z`, or naive = UTC) to int64 ns since the epoch."""
    text = pl.col(column).str.strip_chars().str.replace("T", " ", literal=True).str.replace(r"Z$", "+00:00")
    with_offset = text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f%z", time_unit="ns", strict=False)
    naive = text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="ns", strict=False)
    ns = (
        pl.when(text.str.contains(_OFFSET_PATTERN))
        .then(with_offset.dt.epoch("ns"))
        .otherwise(naive.dt.epoch("ns"))
        .alias("ns")
    )
    parsed = frame.select(pl.col(_LINE), pl.col(column), ns)
    bad = _first_bad(parsed, pl.col("ns").is_null())
    if bad is not None:
        raise LoaderError(
            path,
            bad[_LINE],
            f"timestamp {_describe(bad[column])} is not an ISO date-time like 2012-02-01 00:00:00+00:00",
        )
    return parsed["ns"]


def _size_raw(value: Quantity | str | int | Decimal, precision: int, what: str, owner: str) -> int:
    if isinstance(value, Quantity):
        if value.raw % 10 ** (FIXED_PRECISION - precision):
            raise ValueError(f"{what} {value} has more decimals than the {precision} allowed by {owner}")
        raw = value.raw
    else:
        try:
            raw = Quantity.of(value, precision).raw
        except ValueError as exc:
            raise ValueError(f"{what} {value!r}: {exc} (allowed by {owner}: {precision} decimals)") from None
    if raw < 0:
        raise ValueError(f"{what} {value} must not be negative")
    return raw


def _check_positive_prices(
    frame: pl.DataFrame, raw: pl.DataFrame, columns: tuple[str, ...], instrument: Instrument, path: Path
) -> None:
    if instrument.allow_negative_prices:
        return
    for column in columns:
        index = raw.select((pl.col(column) <= 0).arg_true().first()).item()
        if index is not None:
            row = frame.row(index, named=True)
            raise LoaderError(
                path, row[_LINE], f"{column} {row[column]!r} is not positive (instrument {instrument.id})"
            )


def _sorted_by_ts_init(frame: pl.DataFrame) -> pl.DataFrame:
    return frame if frame["ts_init"].is_sorted() else frame.sort("ts_init", maintain_order=True)


# ---- bars -----------------------------------------------------------------------------------------


def _load_bars(
    path: Path,
    bar_type: BarType,
    instrument: Instrument,
    default_volume: Quantity | str | int | Decimal | None,
    timestamps_at: TimestampsAt,
    round_volume: bool,
) -> pl.DataFrame:
    """Bars in the raw schema plus the `__line` column, sorted by ts_init."""
    if bar_type.instrument_id != instrument.id:
        raise LoaderError(path, None, f"bar type {bar_type} is not for instrument {instrument.id}")
    if timestamps_at not in ("open", "close"):
        raise LoaderError(path, None, f"timestamps_at must be 'open' or 'close', got {timestamps_at!r}")
    duration = bar_type.spec.timedelta_ns
    if timestamps_at == "open" and duration is None:
        raise LoaderError(path, None, f"bar type {bar_type} has no fixed duration to shift open stamps to the close")
    text, _ = _read_text_csv(path, has_header=True)
    required = ["timestamp", "open", "high", "low", "close"]
    missing = [c for c in required if c not in text.columns]
    if missing:
        found = [c for c in text.columns if c != _LINE]
        raise LoaderError(path, 1, f"header lacks {', '.join(missing)} (found: {', '.join(found)})")
    has_volume = "volume" in text.columns
    owner = f"instrument {instrument.id}"
    if not has_volume and default_volume is None:
        raise LoaderError(path, 1, "the file has no volume column: pass default_volume (a size for every bar)")
    ts = parse_iso_timestamps(text, "timestamp", path=path)
    prices = {
        column: parse_fixed_column(
            text, column, instrument.price_precision, path=path, what=column, owner=f"{owner} (price_precision)"
        )
        for column in ("open", "high", "low", "close")
    }
    if has_volume:
        volume = parse_fixed_column(
            text,
            "volume",
            instrument.size_precision,
            path=path,
            what="volume",
            owner=f"{owner} (size_precision; pass round_volume=True to round)",
            rounding=round_volume,
        )
        bad = _first_bad(text.with_columns(volume.alias("__volume")), pl.col("__volume") < 0)
        if bad is not None:
            raise LoaderError(path, bad[_LINE], f"volume {bad['volume']!r} is negative")
    else:
        try:
            volume_raw = _size_raw(default_volume, instrument.size_precision, "default_volume", owner)  # type: ignore[arg-type]
        except ValueError as exc:
            raise LoaderError(path, None, str(exc)) from None
        volume = pl.repeat(volume_raw, text.height, dtype=pl.Int64, eager=True).alias("volume")
    shift = duration if timestamps_at == "open" else 0
    raw = pl.DataFrame(
        {
            **prices,
            "volume": volume,
            "ts_event": ts + shift,
            "ts_init": ts + shift,
            _LINE: text[_LINE],
        }
    )
    _check_positive_prices(text, raw, ("open", "high", "low", "close"), instrument, path)
    o, h, lo, c = pl.col("open"), pl.col("high"), pl.col("low"), pl.col("close")
    index = raw.select((~((h >= o) & (h >= c) & (h >= lo) & (lo <= o) & (lo <= c))).arg_true().first()).item()
    if index is not None:
        row = text.row(index, named=True)
        raise LoaderError(
            path,
            row[_LINE],
            f"high {row['high']} / low {row['low']} do not bound open {row['open']} / close {row['close']}",
        )
    return _sorted_by_ts_init(raw)


def _as_bar_type(bar_type: BarType | str) -> BarType:
    return bar_type if isinstance(bar_type, BarType) else BarType.from_str(bar_type)


def load_bars_csv(
    path: PathLike,
    bar_type: BarType | str,
    instrument: Instrument,
    default_volume: Quantity | str | int | Decimal | None = None,
    timestamps_at: TimestampsAt = "open",
    *,
    round_volume: bool = False,
) -> pl.DataFrame:
    """Read a `timestamp,open,high,low,close[,volume]` CSV into a raw bar frame (ts_init = bar close).

    `default_volume` is required when the file has no volume column. `timestamps_at="open"` (these
    vendors' convention) shifts ts_event/ts_init by the bar duration; `"close"` keeps them.
    """
    frame = _load_bars(Path(path), _as_bar_type(bar_type), instrument, default_volume, timestamps_at, round_volume)
    return frame.select(BAR_SCHEMA.names)


def load_bars_csv_objects(
    path: PathLike,
    bar_type: BarType | str,
    instrument: Instrument,
    default_volume: Quantity | str | int | Decimal | None = None,
    timestamps_at: TimestampsAt = "open",
    *,
    round_volume: bool = False,
) -> list[Bar]:
    """`load_bars_csv` decoded into `Bar` objects."""
    bt = _as_bar_type(bar_type)
    frame = load_bars_csv(path, bt, instrument, default_volume, timestamps_at, round_volume=round_volume)
    return objects_from_frame(DataType.BARS, bt, frame, instrument.price_precision, instrument.size_precision)


def load_bid_ask_bars_csv(
    bid_path: PathLike,
    ask_path: PathLike,
    instrument: Instrument,
    step: int = 1,
    aggregation: BarAggregation | str = BarAggregation.MINUTE,
    *,
    default_volume: Quantity | str | int | Decimal | None = None,
    timestamps_at: TimestampsAt = "open",
    round_volume: bool = False,
) -> BidAskBars:
    """Load a BID bar file and the matching ASK bar file; they must list the same bar times.

    The bar types are `{instrument}-{step}-{aggregation}-BID-EXTERNAL` and `...-ASK-EXTERNAL`. A
    mismatch names both files, the first differing line of each and the two timestamps.
    """
    spec_kind = parse_enum(BarAggregation, aggregation)
    bar_types = [
        BarType(instrument.id, BarSpecification(step, spec_kind, side), AggregationSource.EXTERNAL)
        for side in (PriceType.BID, PriceType.ASK)
    ]
    bid_file, ask_file = Path(bid_path), Path(ask_path)
    bid = _load_bars(bid_file, bar_types[0], instrument, default_volume, timestamps_at, round_volume)
    ask = _load_bars(ask_file, bar_types[1], instrument, default_volume, timestamps_at, round_volume)
    common = min(bid.height, ask.height)
    index = (bid["ts_init"].head(common) != ask["ts_init"].head(common)).arg_true().first()
    if index is None and bid.height != ask.height:
        index = common
    if index is not None:

        def describe(frame: pl.DataFrame, file: Path) -> str:
            if index >= frame.height:
                return f"{file} ends after line {frame[_LINE][-1] if frame.height else 1}"
            return f"{file} line {frame[_LINE][index]} has the bar at {format_ns(frame['ts_init'][index])}"

        raise LoaderError(
            bid_file,
            int(bid[_LINE][index]) if index < bid.height else None,
            f"BID and ASK files cover different bars (bar {index}): {describe(bid, bid_file)} but "
            f"{describe(ask, ask_file)}",
        )
    return BidAskBars(bar_types[0], bid.select(BAR_SCHEMA.names), bar_types[1], ask.select(BAR_SCHEMA.names))


# ---- quotes ---------------------------------------------------------------------------------------


def load_truefx_quotes_csv(
    path: PathLike,
    instrument: Instrument,
    default_size: Quantity | str | int | Decimal,
) -> pl.DataFrame:
    """Read a headerless `YYYYMMDD HHMMSSmmm,bid,ask[,volume]` quote file (UTC) into a raw quote frame.

    TrueFX publishes prices without sizes: the fourth column of the sample is `0` on every row, so
    it is checked to be a non-negative number and otherwise ignored; bid and ask sizes are both
    `default_size` (on the instrument's size precision). ts_event = ts_init = the file's timestamp.
    """
    file = Path(path)
    owner = f"instrument {instrument.id}"
    try:
        size_raw = _size_raw(default_size, instrument.size_precision, "default_size", owner)
    except ValueError as exc:
        raise LoaderError(file, None, str(exc)) from None
    text, _ = _read_text_csv(file, has_header=False)
    columns = [c for c in text.columns if c != _LINE]
    if len(columns) not in (3, 4):
        raise LoaderError(file, 1, f"expected 3 or 4 columns (timestamp,bid,ask[,volume]), found {len(columns)}")
    names = ["timestamp", "bid", "ask", "volume"][: len(columns)]
    text = text.rename(dict(zip(columns, names, strict=True)))
    stamp = pl.col("timestamp").str.strip_chars()
    parsed = text.select(
        pl.col(_LINE),
        pl.col("timestamp"),
        pl.when(stamp.str.contains(r"^\d{8} \d{9}$"))
        .then(stamp.str.to_datetime("%Y%m%d %H%M%S%3f", time_unit="ns", strict=False).dt.epoch("ns"))
        .alias("ns"),
    )
    bad = _first_bad(parsed, pl.col("ns").is_null())
    if bad is not None:
        raise LoaderError(
            file,
            bad[_LINE],
            f"timestamp {_describe(bad['timestamp'])} is not 'YYYYMMDD HHMMSSmmm' (e.g. 20200101 170000065)",
        )
    price_owner = f"{owner} (price_precision)"
    bid = parse_fixed_column(text, "bid", instrument.price_precision, path=file, what="bid", owner=price_owner)
    ask = parse_fixed_column(text, "ask", instrument.price_precision, path=file, what="ask", owner=price_owner)
    if "volume" in names:
        volume = parse_fixed_column(text, "volume", FIXED_PRECISION, path=file, what="volume", owner="", rounding=True)
        bad = _first_bad(text.with_columns(volume.alias("__volume")), pl.col("__volume") < 0)
        if bad is not None:
            raise LoaderError(file, bad[_LINE], f"volume {bad['volume']!r} is negative")
    sizes = pl.repeat(size_raw, text.height, dtype=pl.Int64, eager=True)
    raw = pl.DataFrame(
        {
            "bid": bid,
            "ask": ask,
            "bid_size": sizes,
            "ask_size": sizes,
            "ts_event": parsed["ns"],
            "ts_init": parsed["ns"],
        }
    )
    _check_positive_prices(text, raw, ("bid", "ask"), instrument, file)
    return _sorted_by_ts_init(raw).select(QUOTE_SCHEMA.names)


def load_truefx_quote_objects(
    path: PathLike, instrument: Instrument, default_size: Quantity | str | int | Decimal
) -> list[QuoteTick]:
    """`load_truefx_quotes_csv` decoded into `QuoteTick` objects."""
    frame = load_truefx_quotes_csv(path, instrument, default_size)
    return objects_from_frame(
        DataType.QUOTES, instrument.id, frame, instrument.price_precision, instrument.size_precision
    )
