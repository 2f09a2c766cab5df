"""Loaders for market data files as vendors publish them: exact parsing primitives and the generic formats.

This module owns the parsing every loader shares (reading CSV/Parquet with a source row number,
decimal text or floats to raw fixed-point integers, epoch and ISO timestamps, booleans) and the
vendor-neutral formats: OHLC(V) bar CSVs (`read_bars_csv`), a BID bar file paired with an ASK bar
file into bid/ask bars or quotes (`read_bid_ask_bars_csv`), and TrueFX-style quote CSVs
(`read_truefx_quotes_csv`). Binance and Tardis formats live in `binance` and `tardis`.

Loaders parse structure only: required columns, parseable finite numbers, parseable timestamps.
Prices and sizes become raw int64 at scale 10**9 exactly (never through floats): a value with more
than 9 decimals is an error, unless `round_excess=True` rounds it half-even (reported as a repair).
A Parquet float64 column holds binary approximations, so its values are read as the shortest decimal
of at most 15 significant digits they represent (the most a double carries faithfully: the stored
`0.00031099999999999997` is the `0.000311` the writer meant). Loaders do NOT check the instrument
grid, ordering, duplicates, crossed quotes or signs: `toolkit.catalog.checks` does, through
`loaded.check_loaded`. Errors are `LoaderError`s naming file, row (CSV: 1-based line number counting
the header; Parquet: 1-based row), column and value.

The `load_*` functions are the first API (frames or objects checked against an instrument, used by
the backtest runner): they read with the `read_*` loaders, then run the data checks.
"""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal, NamedTuple

import polars as pl

from toolkit.catalog.loaded import ROW, LoadedData, LoaderError, PathLike, check_loaded
from toolkit.catalog.parquet import (
    BAR_SCHEMA,
    BOOK_ACTION_CODES,
    DELTA_SCHEMA,
    ORDER_SIDE_CODES,
    QUOTE_SCHEMA,
    DataType,
    objects_from_frame,
)
from toolkit.model.data import FLAG_LAST, FLAG_SNAPSHOT, Bar, BarSpecification, BarType, QuoteTick
from toolkit.model.enums import AggregationSource, BarAggregation, BookAction, OrderSide, PriceType, parse_enum
from toolkit.model.identifiers import InstrumentId
from toolkit.model.instruments import Instrument
from toolkit.model.objects import FIXED_PRECISION, FIXED_SCALE, Quantity

__all__ = [
    "ROW",
    "BidAskBars",
    "LoadedData",
    "LoaderError",
    "format_ns",
    "load_bars_csv",
    "load_bars_csv_objects",
    "load_bid_ask_bars_csv",
    "load_truefx_quote_objects",
    "load_truefx_quotes_csv",
    "read_bars_csv",
    "read_bid_ask_bars_csv",
    "read_truefx_quotes_csv",
]

TimestampsAt = Literal["open", "close"]
SizeLike = Quantity | str | int | Decimal

SOURCE_ROW = "__row"
"""Source row column while parsing (the file may have a column named `row`); renamed to `row` at the end."""

_PLAIN_DECIMAL = r"^[+-]?(?:\d+\.?\d*|\.\d+)$"
_MISSING, _INVALID, _OUT_OF_RANGE, _EXCESS = 1, 2, 3, 4
_EXPONENT_PATTERN = r"^[+-]?(?:\d+\.?\d*|\.\d+)[eE][+-]?\d+$"
_NON_FINITE = ("nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity")
_MAX_UNITS = (2**63 - 1) // FIXED_SCALE - 1
_OFFSET_PATTERN = r"[+-]\d{2}:?\d{2}$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FLOAT_DIGITS = 15
_INT64_MAX = 2**63 - 1


def format_ns(ns: int) -> str:
    """An ns timestamp as ISO-8601 UTC text, exact to the nanosecond."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    stamp = (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}Z" if nanos else f"{stamp}Z"


# ---- reading files ----------------------------------------------------------------------------------


def _csv_source(path: Path) -> Path | bytes:
    """The CSV to read: the path itself, or the single CSV member of a .zip (as Binance publishes them)."""
    if path.suffix.lower() != ".zip":
        return path
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if not m.endswith("/")]
            if len(members) != 1:
                raise LoaderError(path, None, f"expected one CSV file in the archive, found {len(members)}")
            return archive.read(members[0])
    except (zipfile.BadZipFile, OSError) as exc:
        raise LoaderError(path, None, f"not a readable zip file: {exc}") from None


def read_csv_text(path: PathLike, *, has_header: bool = True) -> pl.DataFrame:
    """All fields as strings plus the source line number (`__row`, 1-based, the header is line 1).

    Header names are stripped and lower-cased; fully blank lines are dropped (but counted).
    Headerless columns are named `column_1`, `column_2`, ...
    """
    file = Path(path)
    if not file.is_file():
        raise LoaderError(file, None, "no such file")
    source = _csv_source(file)
    try:
        frame = pl.read_csv(
            io.BytesIO(source) if isinstance(source, bytes) else source, has_header=has_header, infer_schema=False
        )
    except pl.exceptions.NoDataError:
        raise LoaderError(file, None, "the file is empty") from None
    except (pl.exceptions.PolarsError, OSError) as exc:
        message = " ".join(str(exc).split())
        raise LoaderError(file, None, f"not a readable CSV file: {message}") from None
    if has_header:
        frame = frame.rename({name: name.strip().lower() for name in frame.columns})
    frame = frame.with_row_index(SOURCE_ROW, offset=2 if has_header else 1).with_columns(
        pl.col(SOURCE_ROW).cast(pl.Int64)
    )
    data_columns = [c for c in frame.columns if c != SOURCE_ROW]
    if data_columns:
        frame = frame.filter(
            ~pl.all_horizontal((pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "")) for c in data_columns)
        )
    return frame


def first_csv_fields(path: PathLike) -> list[str]:
    """The fields of the first line of a CSV file (to tell a header from data)."""
    file = Path(path)
    if file.suffix.lower() == ".zip":
        source = _csv_source(file)
        raw = source[:65_536] if isinstance(source, bytes) else b""
    else:
        with file.open("rb") as handle:
            raw = handle.read(65_536)
    first = raw.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip().lstrip("\ufeff")
    return [field.strip() for field in first.split(",")]


def read_parquet_frame(path: PathLike) -> pl.DataFrame:
    """A Parquet file with its own column types plus `__row` (1-based row index); names lower-cased."""
    file = Path(path)
    if not file.is_file():
        raise LoaderError(file, None, "no such file")
    try:
        frame = pl.read_parquet(file)
    except (pl.exceptions.PolarsError, OSError) as exc:
        message = " ".join(str(exc).split())
        raise LoaderError(file, None, f"not a readable Parquet file (truncated or corrupt?): {message}") from None
    frame = frame.rename({name: name.strip().lower() for name in frame.columns})
    return frame.with_row_index(SOURCE_ROW, offset=1).with_columns(pl.col(SOURCE_ROW).cast(pl.Int64))


def read_table(path: PathLike) -> pl.DataFrame:
    """A Parquet file (`.parquet`) or a CSV file with a header (anything else), with `__row`."""
    file = Path(path)
    return read_parquet_frame(file) if file.suffix.lower() == ".parquet" else read_csv_text(file)


def header_row(path: PathLike) -> int | None:
    """The row to name for a file-level column problem: line 1 (the header) of a CSV, none for Parquet."""
    return None if Path(path).suffix.lower() == ".parquet" else 1


def resolve_columns(
    frame: pl.DataFrame, path: PathLike, wanted: dict[str, tuple[str, ...]], optional: tuple[str, ...] = ()
) -> dict[str, str]:
    """Map each wanted column to the first of its accepted names present in the file.

    A missing required column raises `LoaderError` naming the file, the header and the column;
    missing optional columns are left out of the result.
    """
    present = set(frame.columns)
    found: dict[str, str] = {}
    for name, aliases in wanted.items():
        match = next((alias for alias in aliases if alias in present), None)
        if match is not None:
            found[name] = match
        elif name not in optional:
            have = ", ".join(c for c in frame.columns if c != SOURCE_ROW) or "none"
            accepted = " or ".join(aliases)
            raise LoaderError(
                path, header_row(path), f"missing column {accepted} (the file has: {have})", column=aliases[0]
            )
    return found


def first_bad(frame: pl.DataFrame, condition: pl.Expr) -> dict | None:
    """The first row (as a dict) where `condition` is true, or None."""
    index = frame.select(condition.fill_null(True).arg_true().first()).item()
    return None if index is None else frame.row(index, named=True)


def _describe(value: object) -> str:
    return "missing" if value is None or value == "" else repr(value)


def single_value_column(frame: pl.DataFrame, column: str, path: PathLike, what: str) -> str | None:
    """The one value of a column that must be constant in a file (e.g. `symbol`); refuses a second value."""
    if column not in frame.columns or frame.height == 0:
        return None
    values = frame[column].cast(pl.String)
    first = values[0]
    bad = first_bad(frame.with_columns(values.alias("__v")), pl.col("__v") != first)
    if bad is not None:
        raise LoaderError(
            path,
            bad[SOURCE_ROW],
            f"{what} {_describe(bad['__v'])} differs from {first!r} on the first row: one file holds one instrument",
            column=column,
            value=bad["__v"],
        )
    return first


# ---- exact decimals -----------------------------------------------------------------------------------


def _python_decimal_text(value: object) -> str:
    """Plain decimal text of a float (15 significant digits) or exponent text; unparseable input is kept."""
    try:
        number = Decimal(format(value, f".{_FLOAT_DIGITS}g")) if isinstance(value, float) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if not number.is_finite():
        return str(value)
    if not -40 <= number.adjusted() <= 40:
        return f"{value} (out of range)"
    return format(number, "f")


def _patched(text: pl.Series, mask: pl.Series, source: pl.Series) -> pl.Series:
    """`text` with the rows under `mask` replaced by the plain decimal text of `source` there."""
    indices = mask.fill_null(False).arg_true()
    if indices.len() == 0:
        return text
    values = [_python_decimal_text(v) for v in source.gather(indices).to_list()]
    return text.scatter(indices, values)


def decimal_text(series: pl.Series) -> pl.Series:
    """Any numeric-looking column as plain decimal text (nulls kept), exactly; see the module docstring."""
    dtype = series.dtype
    if dtype == pl.String:
        text = series.str.strip_chars()
    elif dtype.is_float():
        text = series.cast(pl.String)  # shortest text that reads back to the same double
        significant = text.str.replace_all(r"[^0-9]", "").str.strip_chars("0").str.len_bytes()
        noisy = text.str.contains("e", literal=True) | (significant > _FLOAT_DIGITS)
        noisy = noisy & series.is_finite()
        return _patched(text, noisy, series)
    elif dtype.is_integer() or dtype.is_decimal():
        return series.cast(pl.String)
    else:
        return series.cast(pl.String, strict=False).str.strip_chars()
    return _patched(text, text.str.contains(_EXPONENT_PATTERN), text)


class ParsedDecimals(NamedTuple):
    """Raw int64 values of a decimal column; `rounded` counts values rounded (only with round_excess)."""

    raw: pl.Series
    rounded: int
    first_rounded: tuple[int, str] | None


def parse_decimals(
    frame: pl.DataFrame,
    column: str,
    *,
    path: PathLike,
    precision: int = FIXED_PRECISION,
    round_excess: bool = False,
    label: str | None = None,
) -> ParsedDecimals:
    """Parse a column of decimal numbers into raw fixed-point int64 (value * 10**9), exactly.

    `frame` carries `__row`. A missing, non-finite, non-decimal or out-of-range value raises
    `LoaderError` (file, row, column, value). Values with more than `precision` decimals raise too,
    unless `round_excess`, which rounds them half-even to `precision` decimals.
    """
    if not 0 <= precision <= FIXED_PRECISION:
        raise ValueError(f"{column}: precision {precision} outside 0..{FIXED_PRECISION}")
    name = label or column
    text = pl.col("text")
    pieces = text.str.strip_chars_start("+-").str.split_exact(".", 1)
    work = (
        pl.DataFrame({SOURCE_ROW: frame[SOURCE_ROW], "text": decimal_text(frame[column])})
        .lazy()
        .with_columns(
            negative=text.str.starts_with("-"),
            valid=text.str.contains(_PLAIN_DECIMAL),
            int=pieces.struct.field("field_0").str.strip_chars_start("0"),
            frac=pieces.struct.field("field_1").fill_null(""),
        )
        .with_columns(decimals=pl.col("frac").str.strip_chars_end("0").str.len_bytes())
        .with_columns(
            units=pl.when(pl.col("int").str.len_bytes() > 10)
            .then(None)
            .when(pl.col("int") == "")
            .then(0)
            .otherwise(pl.col("int").cast(pl.Int64, strict=False))
        )
        .with_columns(
            problem=pl.when(text.is_null() | (text == ""))
            .then(_MISSING)
            .when(~pl.col("valid"))
            .then(_INVALID)
            .when(pl.col("units").is_null() | (pl.col("units") > _MAX_UNITS))
            .then(_OUT_OF_RANGE)
            .when(pl.col("decimals") > precision)
            .then(_EXCESS)
            .otherwise(0)
        )
        .collect()
    )
    fatal = (pl.col("problem") != 0) & ((pl.col("problem") != _EXCESS) | (not round_excess))
    bad = first_bad(work, fatal)
    if bad is not None:
        value, code = bad["text"], bad["problem"]
        if code == _MISSING:
            reason = "value is missing"
        elif code == _INVALID:
            finite = value.strip().lower() not in _NON_FINITE
            reason = f"value {value!r} " + ("is not a decimal number" if finite else "is not a finite number")
        elif code == _OUT_OF_RANGE:
            reason = f"value {value!r} is out of range (at most {_MAX_UNITS:,} in the integer part)"
        else:
            reason = (
                f"value {value!r} has {bad['decimals']} decimals, more than the {precision} the catalog stores "
                "(--fix round rounds them half-even)"
            )
        raise LoaderError(path, bad[SOURCE_ROW], reason, column=name, value=value)
    excess = work.select((pl.col("problem") == _EXCESS).sum()).item()
    frac = pl.col("frac")
    kept = frac.str.slice(0, precision).str.pad_end(precision, "0").cast(pl.Int64) if precision else pl.lit(0)
    scaled = pl.col("units") * 10**precision + kept
    first_rounded = None
    if excess:
        rounded = first_bad(work, pl.col("problem") == _EXCESS)
        assert rounded is not None
        first_rounded = (rounded[SOURCE_ROW], rounded["text"])
        dropped = frac.str.slice(precision, 1)
        round_up = (dropped > "5") | (
            (dropped == "5") & (frac.str.slice(precision + 1).str.contains("[1-9]") | (scaled % 2 == 1))
        )
        scaled = scaled + round_up.cast(pl.Int64)
    magnitude = scaled * 10 ** (FIXED_PRECISION - precision)
    raw = pl.when(pl.col("negative")).then(-magnitude).otherwise(magnitude)
    return ParsedDecimals(work.select(raw.alias(column)).to_series(), int(excess), first_rounded)


class DecimalColumns:
    """Parses several decimal columns of one file and collects the rounding repairs they needed."""

    def __init__(self, frame: pl.DataFrame, path: PathLike, round_excess: bool) -> None:
        self.frame = frame
        self.path = Path(path)
        self.round_excess = round_excess
        self.repairs: list[str] = []

    def parse(self, column: str, label: str | None = None) -> pl.Series:
        parsed = parse_decimals(self.frame, column, path=self.path, round_excess=self.round_excess, label=label)
        if parsed.rounded and parsed.first_rounded is not None:
            row, text = parsed.first_rounded
            self.repairs.append(
                f"{self.path}: column {label or column}: rounded {parsed.rounded} value(s) with more than "
                f"{FIXED_PRECISION} decimals half-even (first: row {row}, {text!r})"
            )
        return parsed.raw


def raw_size(value: SizeLike, what: str) -> int:
    """A size given as an option (default volume/size) as a raw int at 9 decimals; must be >= 0 and exact."""
    if isinstance(value, Quantity):
        raw = value.raw
    else:
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"{what} {value!r} is not a decimal number") from None
        if not number.is_finite():
            raise ValueError(f"{what} {value!r} is not a finite number")
        scaled = number * FIXED_SCALE
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{what} {value!r} has more than {FIXED_PRECISION} decimals")
        raw = int(scaled)
    if raw < 0:
        raise ValueError(f"{what} {value} must not be negative")
    if raw > _INT64_MAX:
        raise ValueError(f"{what} {value} is out of range")
    return raw


def check_option_size(value: SizeLike | None, what: str, instrument: Instrument) -> None:
    """Refuse a default size/volume option that is not on the instrument's size grid (names the option)."""
    if value is None:
        return
    raw = raw_size(value, what)
    step = instrument.size_increment.raw
    if step and raw % step:
        raise ValueError(
            f"{what} {value} is not a multiple of the size increment {instrument.size_increment} of {instrument.id}"
        )


# ---- timestamps ---------------------------------------------------------------------------------------


def _ns_of_datetimes(series: pl.Series) -> pl.Series:
    return series.dt.cast_time_unit("ns").dt.epoch("ns") if series.dtype.time_zone is None else series.dt.epoch("ns")


def parse_iso_timestamps(frame: pl.DataFrame, column: str, *, path: PathLike) -> pl.Series:
    """ISO date-times (`2012-02-01 00:00:00+00:00`, `...T...Z`, or naive = UTC) to int64 ns since the epoch."""
    series = frame[column]
    if isinstance(series.dtype, pl.Datetime):
        return _ns_of_datetimes(series).alias("ns")
    text = (
        pl.col(column)
        .cast(pl.String)
        .str.strip_chars()
        .str.replace("T", " ", literal=True)
        .str.replace(r"Z$", "+00:00")
    )
    with_offset = text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f%z", time_unit="ns", strict=False)
    naive = text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="ns", strict=False)
    ns = (
        pl.when(text.str.contains(_OFFSET_PATTERN))
        .then(with_offset.dt.epoch("ns"))
        .otherwise(naive.dt.epoch("ns"))
        .alias("ns")
    )
    parsed = frame.select(pl.col(SOURCE_ROW), pl.col(column).cast(pl.String), ns)
    bad = first_bad(parsed, pl.col("ns").is_null())
    if bad is not None:
        raise LoaderError(
            path,
            bad[SOURCE_ROW],
            f"timestamp {_describe(bad[column])} is not an ISO date-time like 2012-02-01 00:00:00+00:00",
            column=column,
            value=bad[column],
        )
    return parsed["ns"]


EpochUnit = Literal["ms", "us", "ns", "ms_or_us"]
_UNIT_NS = {"ms": 1_000_000, "us": 1_000, "ns": 1}
_UNIT_TEXT = {"ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds", "ms_or_us": "milliseconds"}


def parse_epoch(frame: pl.DataFrame, column: str, *, path: PathLike, unit: EpochUnit, iso: bool = False) -> pl.Series:
    """Integer epoch timestamps (text or integer column, or a Parquet timestamp column) to int64 ns.

    `unit="ms_or_us"` reads values below 10**14 as milliseconds and larger ones as microseconds
    (Binance: ms, and µs in spot files since 2025). `iso=True` also accepts ISO date-time text.
    """
    series = frame[column]
    if isinstance(series.dtype, pl.Datetime):
        return _ns_of_datetimes(series).alias("ns")
    if series.dtype.is_integer():
        value = series.cast(pl.Int64, strict=False)
        text = series.cast(pl.String)
    else:
        text = series.cast(pl.String, strict=False).str.strip_chars()
        value = pl.Series(text).str.replace(r"^\+", "").cast(pl.Int64, strict=False)
        value = pl.select(pl.when(pl.Series(text).str.contains(r"^\+?\d{1,19}$")).then(value)).to_series()
    work = pl.DataFrame({SOURCE_ROW: frame[SOURCE_ROW], "text": text, "value": value})
    if unit == "ms_or_us":
        factor = pl.when(pl.col("value") < 10**14).then(1_000_000).otherwise(1_000)
    else:
        factor = pl.lit(_UNIT_NS[unit])
    work = work.with_columns(factor=factor)
    if iso:
        iso_text = pl.col("text").str.replace("T", " ", literal=True).str.replace(r"Z$", "+00:00")
        with_offset = iso_text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f%z", time_unit="ns", strict=False).dt.epoch("ns")
        naive = iso_text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="ns", strict=False).dt.epoch("ns")
        iso_ns = pl.when(iso_text.str.contains(_OFFSET_PATTERN)).then(with_offset).otherwise(naive)
    else:
        iso_ns = pl.lit(None, dtype=pl.Int64)
    in_range = (pl.col("value") >= 0) & (pl.col("value") <= _INT64_MAX // pl.col("factor"))
    work = work.with_columns(
        ns=pl.when(pl.col("value").is_not_null() & in_range).then(pl.col("value") * pl.col("factor")).otherwise(iso_ns)
    )
    bad = first_bad(work, pl.col("ns").is_null())
    if bad is not None:
        expected = f"epoch {_UNIT_TEXT[unit]}" + (" or an ISO date-time" if iso else "")
        if unit == "ms_or_us":
            expected = "epoch milliseconds (or microseconds)" + (" or an ISO date-time" if iso else "")
        raise LoaderError(
            path,
            bad[SOURCE_ROW],
            f"timestamp {_describe(bad['text'])} is not {expected}",
            column=column,
            value=bad["text"],
        )
    return work["ns"]


# ---- other column kinds --------------------------------------------------------------------------------

_TRUE = ("true", "t", "1", "yes")
_FALSE = ("false", "f", "0", "no")


def parse_booleans(frame: pl.DataFrame, column: str, *, path: PathLike) -> pl.Series:
    """A boolean column (Parquet bool, or text True/False, true/false, 1/0) as a bool Series."""
    series = frame[column]
    if series.dtype == pl.Boolean:
        values = series
    else:
        text = series.cast(pl.String, strict=False).str.strip_chars().str.to_lowercase()
        values = pl.select(
            pl.when(text.is_in(_TRUE)).then(True).when(text.is_in(_FALSE)).then(False).otherwise(None)
        ).to_series()
    work = pl.DataFrame({SOURCE_ROW: frame[SOURCE_ROW], "text": series.cast(pl.String, strict=False), "v": values})
    bad = first_bad(work, pl.col("v").is_null())
    if bad is not None:
        raise LoaderError(
            path,
            bad[SOURCE_ROW],
            f"value {_describe(bad['text'])} is not a boolean (True/False)",
            column=column,
            value=bad["text"],
        )
    return work["v"]


def parse_choices(frame: pl.DataFrame, column: str, mapping: dict[str, str], *, path: PathLike) -> pl.Series:
    """Map text codes (case-insensitive, e.g. `b`/`a`) to output strings; an unknown code is an error."""
    text = frame[column].cast(pl.String, strict=False).str.strip_chars()
    lowered = text.str.to_lowercase()
    mapped = lowered.replace_strict({k.lower(): v for k, v in mapping.items()}, default=None, return_dtype=pl.String)
    work = pl.DataFrame({SOURCE_ROW: frame[SOURCE_ROW], "text": text, "v": mapped})
    bad = first_bad(work, pl.col("v").is_null())
    if bad is not None:
        expected = ", ".join(dict.fromkeys(mapping))
        raise LoaderError(
            path,
            bad[SOURCE_ROW],
            f"value {_describe(bad['text'])} is not one of {expected}",
            column=column,
            value=bad["text"],
        )
    return work["v"]


def parse_identifiers(frame: pl.DataFrame, column: str, *, path: PathLike) -> pl.Series:
    """Non-empty text ids (trade ids) without surrounding spaces; integers are written as decimal text."""
    series = frame[column]
    text = series.cast(pl.String, strict=False)
    work = pl.DataFrame({SOURCE_ROW: frame[SOURCE_ROW], "v": text.str.strip_chars()})
    bad = first_bad(work, pl.col("v").is_null() | (pl.col("v") == ""))
    if bad is not None:
        raise LoaderError(path, bad[SOURCE_ROW], "value is missing", column=column)
    return work["v"]


# ---- order book levels -> deltas -----------------------------------------------------------------------

BID_CODE = ORDER_SIDE_CODES[OrderSide.BUY]
ASK_CODE = ORDER_SIDE_CODES[OrderSide.SELL]
_ADD, _UPDATE, _DELETE, _CLEAR = (
    BOOK_ACTION_CODES[a] for a in (BookAction.ADD, BookAction.UPDATE, BookAction.DELETE, BookAction.CLEAR)
)
DELTA_COLUMNS = DELTA_SCHEMA.names


def level_deltas(levels: pl.DataFrame) -> pl.DataFrame:
    """Turn price-level changes (an L2 feed, in feed order) into order book deltas in the raw schema + `row`.

    `levels` has: `part` (which output the row goes to, e.g. the file), `row` (source row),
    `ts_event`, `ts_init`, `sequence`, `side` (BID_CODE/ASK_CODE), `price`, `size` (raw),
    `snapshot` (the row is part of a book snapshot), `clear` (a CLEAR delta goes before this row:
    the first row of a snapshot that rebuilds the book) and `event` (rows of one venue update share
    it, consecutive). A row becomes DELETE when its size is 0, else ADD in a snapshot, else UPDATE
    when the level is in the book (seen since the last CLEAR with a size > 0), else ADD. Snapshot
    rows and their CLEAR carry FLAG_SNAPSHOT; the last delta of each event carries FLAG_LAST.
    """
    n = levels.height
    work = levels.with_columns(
        _pos=pl.int_range(0, n, dtype=pl.Int64),
        _epoch=pl.col("clear").cast(pl.Int64).cum_sum(),
    )
    previous = pl.col("size").shift(1).over(["_epoch", "side", "price"])
    present = previous.is_not_null() & (previous > 0)
    last_of_event = pl.col("event") != pl.col("event").shift(-1)
    action = (
        pl.when(pl.col("size") == 0)
        .then(_DELETE)
        .when(pl.col("snapshot"))
        .then(_ADD)
        .when(present)
        .then(_UPDATE)
        .otherwise(_ADD)
    )
    flags = pl.when(pl.col("snapshot")).then(FLAG_SNAPSHOT).otherwise(0) + pl.when(last_of_event.fill_null(True)).then(
        FLAG_LAST
    ).otherwise(0)
    deltas = work.select(
        pl.col("part"),
        (pl.col("_pos") * 2 + 1).alias("_order"),
        action.cast(pl.UInt8).alias("action"),
        pl.col("side").cast(pl.UInt8),
        pl.col("price").cast(pl.Int64),
        pl.col("size").cast(pl.Int64),
        pl.lit(0, dtype=pl.UInt64).alias("order_id"),
        flags.cast(pl.UInt8).alias("flags"),
        pl.col("sequence").cast(pl.UInt64),
        pl.col("ts_event").cast(pl.Int64),
        pl.col("ts_init").cast(pl.Int64),
        pl.col(ROW).cast(pl.Int64),
    )
    clears = work.filter(pl.col("clear")).select(
        pl.col("part"),
        (pl.col("_pos") * 2).alias("_order"),
        pl.lit(_CLEAR, dtype=pl.UInt8).alias("action"),
        pl.lit(ORDER_SIDE_CODES[OrderSide.NO_ORDER_SIDE], dtype=pl.UInt8).alias("side"),
        pl.lit(0, dtype=pl.Int64).alias("price"),
        pl.lit(0, dtype=pl.Int64).alias("size"),
        pl.lit(0, dtype=pl.UInt64).alias("order_id"),
        pl.lit(FLAG_SNAPSHOT, dtype=pl.UInt8).alias("flags"),
        pl.col("sequence").cast(pl.UInt64),
        pl.col("ts_event").cast(pl.Int64),
        pl.col("ts_init").cast(pl.Int64),
        pl.col(ROW).cast(pl.Int64),
    )
    return pl.concat([deltas, clears]).sort("_order").drop("_order")


# ---- bars -----------------------------------------------------------------------------------------------


def _as_bar_type(bar_type: BarType | str) -> BarType:
    return bar_type if isinstance(bar_type, BarType) else BarType.from_str(bar_type)


_BAR_COLUMNS = {
    "timestamp": ("timestamp", "time", "datetime", "date"),
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "close": ("close",),
    "volume": ("volume",),
}


def read_bars_csv(
    path: PathLike,
    bar_type: BarType | str,
    *,
    default_volume: SizeLike | None = None,
    timestamps_at: TimestampsAt = "open",
    round_excess: bool = False,
) -> LoadedData:
    """A `timestamp,open,high,low,close[,volume]` CSV as bars (raw schema + `row`), in file order.

    Timestamps are ISO date-times with an offset (`2012-02-01 00:00:00+00:00`) or naive UTC
    (`2021-12-31 23:01:00.000000`). `timestamps_at="open"` (these vendors' convention) stamps
    ts_event = ts_init = open + bar duration, the bar close; `"close"` keeps the file's stamp.
    Without a volume column every bar gets `default_volume`. Rows whose high/low do not bound
    open/close are refused here (the catalog cannot store them).
    """
    file = Path(path)
    bt = _as_bar_type(bar_type)
    if timestamps_at not in ("open", "close"):
        raise LoaderError(file, None, f"timestamps_at must be 'open' or 'close', got {timestamps_at!r}")
    duration = bt.spec.timedelta_ns
    if timestamps_at == "open" and duration is None:
        raise LoaderError(file, None, f"bar type {bt} has no fixed duration to shift open stamps to the close")
    volume_raw = None
    if default_volume is not None:
        try:
            volume_raw = raw_size(default_volume, "default_volume")
        except ValueError as exc:
            raise LoaderError(file, None, str(exc)) from None
    text = read_csv_text(file)
    names = resolve_columns(text, file, _BAR_COLUMNS, optional=("volume",))
    if "volume" not in names and volume_raw is None:
        raise LoaderError(
            file, 1, "the file has no volume column: pass a default volume (--default-volume)", column="volume"
        )
    ts = parse_iso_timestamps(text, names["timestamp"], path=file)
    decimals = DecimalColumns(text, file, round_excess)
    prices = {column: decimals.parse(names[column], column) for column in ("open", "high", "low", "close")}
    if "volume" in names:
        volume = decimals.parse(names["volume"], "volume")
    else:
        volume = pl.repeat(volume_raw, text.height, dtype=pl.Int64, eager=True)
    shift = duration if timestamps_at == "open" else 0
    frame = pl.DataFrame(
        {
            "open": prices["open"],
            "high": prices["high"],
            "low": prices["low"],
            "close": prices["close"],
            "volume": volume,
            "ts_event": ts + shift,
            "ts_init": ts + shift,
            ROW: text[SOURCE_ROW],
        }
    )
    o, h, lo, c = pl.col("open"), pl.col("high"), pl.col("low"), pl.col("close")
    index = frame.select((~((h >= o) & (h >= c) & (h >= lo) & (lo <= o) & (lo <= c))).arg_true().first()).item()
    if index is not None:
        row = text.row(index, named=True)
        high_low = "high" if not (frame["high"][index] >= max(frame["open"][index], frame["close"][index])) else "low"
        raise LoaderError(
            file,
            row[SOURCE_ROW],
            f"high {row[names['high']]} / low {row[names['low']]} do not bound open {row[names['open']]} / "
            f"close {row[names['close']]}",
            column=high_low,
            value=row[names[high_low]],
        )
    return LoadedData(DataType.BARS, bt, frame, file, tuple(decimals.repairs))


def _bid_ask_bar_types(instrument_id: InstrumentId, bar_type: BarType | str | None) -> tuple[BarType, BarType]:
    if bar_type is None:
        base = BarType(instrument_id, BarSpecification(1, BarAggregation.MINUTE, PriceType.BID))
    else:
        base = _as_bar_type(bar_type)
        if base.instrument_id != instrument_id:
            raise ValueError(f"bar type {base} is not for instrument {instrument_id}")
    return tuple(
        BarType(instrument_id, BarSpecification(base.spec.step, base.spec.aggregation, side), base.aggregation_source)
        for side in (PriceType.BID, PriceType.ASK)
    )


def _check_same_bars(bid: LoadedData, ask: LoadedData) -> None:
    """The BID and ASK files must list the same bar times in the same order."""
    bid_ts, ask_ts = bid.frame["ts_init"], ask.frame["ts_init"]
    common = min(bid_ts.len(), ask_ts.len())
    index = (bid_ts.head(common) != ask_ts.head(common)).arg_true().first()
    if index is None and bid_ts.len() != ask_ts.len():
        index = common
    if index is None:
        return

    def describe(loaded: LoadedData) -> str:
        frame = loaded.frame
        if index >= frame.height:
            return f"{loaded.source} ends after line {frame[ROW][-1] if frame.height else 1}"
        return f"{loaded.source} line {frame[ROW][index]} has the bar at {format_ns(frame['ts_init'][index])}"

    raise LoaderError(
        bid.source,
        int(bid.frame[ROW][index]) if index < bid.frame.height else None,
        f"BID and ASK files cover different bars (bar {index}): {describe(bid)} but {describe(ask)}",
        column="timestamp",
    )


def read_bid_ask_bars_csv(
    bid_path: PathLike,
    ask_path: PathLike,
    instrument_id: InstrumentId | str,
    *,
    bar_type: BarType | str | None = None,
    into: Literal["bars", "quotes"] = "bars",
    default_volume: SizeLike | None = None,
    default_size: SizeLike | None = None,
    timestamps_at: TimestampsAt = "open",
    round_excess: bool = False,
) -> list[LoadedData]:
    """A BID bar file and the ASK bar file of the same bars, as BID and ASK bars or as quotes.

    Bar types are `bar_type` (default `{instrument}-1-MINUTE-...-EXTERNAL`) with the price type set
    to BID and ASK. `into="quotes"` makes one quote per bar at the bar close (ts = the bars'
    ts_init): bid = BID close, ask = ASK close, both sizes `default_size`; the `row` column then
    gives the line of both files, which must list the same bars on the same lines.
    """
    iid = InstrumentId(str(instrument_id))
    bid_type, ask_type = _bid_ask_bar_types(iid, bar_type)
    if into not in ("bars", "quotes"):
        raise ValueError(f"into must be 'bars' or 'quotes', got {into!r}")
    size_raw = None
    if into == "quotes":
        if default_size is None:
            raise ValueError("bid/ask bars into quotes need a default size (--default-size) for both sides")
        size_raw = raw_size(default_size, "default_size")
        default_volume = 0 if default_volume is None else default_volume
    options = {"default_volume": default_volume, "timestamps_at": timestamps_at, "round_excess": round_excess}
    bid = read_bars_csv(bid_path, bid_type, **options)
    ask = read_bars_csv(ask_path, ask_type, **options)
    _check_same_bars(bid, ask)
    if into == "bars":
        return [bid, ask]
    index = (bid.frame[ROW] != ask.frame[ROW]).arg_true().first()
    if index is not None:
        raise LoaderError(
            ask.source,
            int(ask.frame[ROW][index]),
            f"the bar at {format_ns(ask.frame['ts_init'][index])} is on line {bid.frame[ROW][index]} of "
            f"{bid.source}: into quotes needs both files to list the bars on the same lines",
            column="timestamp",
        )
    sizes = pl.repeat(size_raw, bid.frame.height, dtype=pl.Int64, eager=True)
    quotes = pl.DataFrame(
        {
            "bid": bid.frame["close"],
            "ask": ask.frame["close"],
            "bid_size": sizes,
            "ask_size": sizes,
            "ts_event": bid.frame["ts_event"],
            "ts_init": bid.frame["ts_init"],
            ROW: bid.frame[ROW],
        }
    )
    return [
        LoadedData(
            DataType.QUOTES, iid, quotes, bid.source, (*bid.repairs, *ask.repairs), column_sources={"ask": ask.source}
        )
    ]


# ---- TrueFX quotes ---------------------------------------------------------------------------------------


def read_truefx_quotes_csv(
    path: PathLike,
    instrument_id: InstrumentId | str,
    *,
    default_size: SizeLike,
    round_excess: bool = False,
) -> LoadedData:
    """A headerless `YYYYMMDD HHMMSSmmm,bid,ask[,volume]` quote file (UTC) as quotes.

    TrueFX publishes prices without sizes: the fourth column is `0` on every row of the sample, so
    it is only parsed as a number and otherwise ignored; both sizes are `default_size`.
    ts_event = ts_init = the file's timestamp.
    """
    file = Path(path)
    try:
        size_raw = raw_size(default_size, "default_size")
    except ValueError as exc:
        raise LoaderError(file, None, str(exc)) from None
    text = read_csv_text(file, has_header=False)
    columns = [c for c in text.columns if c != SOURCE_ROW]
    if len(columns) not in (3, 4):
        raise LoaderError(file, 1, f"expected 3 or 4 columns (timestamp,bid,ask[,volume]), found {len(columns)}")
    names = ["timestamp", "bid", "ask", "volume"][: len(columns)]
    text = text.rename(dict(zip(columns, names, strict=True)))
    stamp = pl.col("timestamp").str.strip_chars()
    parsed = text.select(
        pl.col(SOURCE_ROW),
        pl.col("timestamp"),
        pl.when(stamp.str.contains(r"^\d{8} \d{9}$"))
        .then(stamp.str.to_datetime("%Y%m%d %H%M%S%3f", time_unit="ns", strict=False).dt.epoch("ns"))
        .alias("ns"),
    )
    bad = first_bad(parsed, pl.col("ns").is_null())
    if bad is not None:
        raise LoaderError(
            file,
            bad[SOURCE_ROW],
            f"timestamp {_describe(bad['timestamp'])} is not 'YYYYMMDD HHMMSSmmm' (e.g. 20200101 170000065)",
            column="timestamp",
            value=bad["timestamp"],
        )
    decimals = DecimalColumns(text, file, round_excess)
    bid = decimals.parse("bid")
    ask = decimals.parse("ask")
    if "volume" in names:
        parse_decimals(text, "volume", path=file, round_excess=True)
    sizes = pl.repeat(size_raw, text.height, dtype=pl.Int64, eager=True)
    frame = pl.DataFrame(
        {
            "bid": bid,
            "ask": ask,
            "bid_size": sizes,
            "ask_size": sizes,
            "ts_event": parsed["ns"],
            "ts_init": parsed["ns"],
            ROW: text[SOURCE_ROW],
        }
    )
    return LoadedData(DataType.QUOTES, InstrumentId(str(instrument_id)), frame, file, tuple(decimals.repairs))


# ---- the first API: frames and objects checked against an instrument ---------------------------------------


class BidAskBars(NamedTuple):
    """A BID bar frame and the ASK bar frame covering the same bars, with their bar types."""

    bid_bar_type: BarType
    bid: pl.DataFrame
    ask_bar_type: BarType
    ask: pl.DataFrame


def round_sizes_to_grid(loaded: LoadedData, instrument: Instrument, columns: tuple[str, ...]) -> LoadedData:
    """Round size columns half-even to the instrument's size increment, recording one repair per column."""
    step = instrument.size_increment.raw
    frame = loaded.frame
    repairs = list(loaded.repairs)
    for column in columns:
        q, r = pl.col(column) // step, pl.col(column) % step
        up = (2 * r > step) | ((2 * r == step) & (q % 2 == 1))
        rounded = (q + up.cast(pl.Int64)) * step
        changed = frame.select((rounded != pl.col(column)).sum()).item()
        if changed:
            frame = frame.with_columns(rounded.alias(column))
            repairs.append(
                f"{loaded.source}: column {column}: rounded {changed} value(s) half-even to the size increment "
                f"{instrument.size_increment} of {instrument.id}"
            )
    return LoadedData(loaded.data_type, loaded.identifier, frame, loaded.source, tuple(repairs), loaded.warnings)


def _checked_frame(loaded: LoadedData, instrument: Instrument, schema_names: list[str]) -> pl.DataFrame:
    return check_loaded(loaded, instrument).frame.select(schema_names)


def _instrument_of_bars(path: PathLike, bar_type: BarType, instrument: Instrument) -> None:
    if bar_type.instrument_id != instrument.id:
        raise LoaderError(path, None, f"bar type {bar_type} is not for instrument {instrument.id}")


def load_bars_csv(
    path: PathLike,
    bar_type: BarType | str,
    instrument: Instrument,
    default_volume: SizeLike | None = None,
    timestamps_at: TimestampsAt = "open",
    *,
    round_volume: bool = False,
) -> pl.DataFrame:
    """`read_bars_csv` checked against `instrument` (raw bar schema, no `row` column).

    Problems (prices off the grid, unsorted rows...) raise `ValueError`s naming file, row and column.
    `round_volume=True` rounds volumes half-even to the instrument's size increment first.
    """
    bt = _as_bar_type(bar_type)
    _instrument_of_bars(path, bt, instrument)
    try:
        check_option_size(default_volume, "default_volume", instrument)
    except ValueError as exc:
        raise LoaderError(path, None, str(exc)) from None
    loaded = read_bars_csv(
        path, bt, default_volume=default_volume, timestamps_at=timestamps_at, round_excess=round_volume
    )
    if round_volume:
        loaded = round_sizes_to_grid(loaded, instrument, ("volume",))
    return _checked_frame(loaded, instrument, BAR_SCHEMA.names)


def load_bars_csv_objects(
    path: PathLike,
    bar_type: BarType | str,
    instrument: Instrument,
    default_volume: SizeLike | None = None,
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
    default_volume: SizeLike | None = None,
    timestamps_at: TimestampsAt = "open",
    round_volume: bool = False,
) -> BidAskBars:
    """A BID bar file and the matching ASK bar file, checked against `instrument`.

    The bar types are `{instrument}-{step}-{aggregation}-BID-EXTERNAL` and `...-ASK-EXTERNAL`. A
    mismatch names both files, the first differing line of each and the two timestamps.
    """
    spec = BarSpecification(step, parse_enum(BarAggregation, aggregation), PriceType.BID)
    base = BarType(instrument.id, spec, AggregationSource.EXTERNAL)
    try:
        check_option_size(default_volume, "default_volume", instrument)
    except ValueError as exc:
        raise LoaderError(bid_path, None, str(exc)) from None
    bid, ask = read_bid_ask_bars_csv(
        bid_path,
        ask_path,
        instrument.id,
        bar_type=base,
        default_volume=default_volume,
        timestamps_at=timestamps_at,
        round_excess=round_volume,
    )
    frames = []
    for loaded in (bid, ask):
        rounded = round_sizes_to_grid(loaded, instrument, ("volume",)) if round_volume else loaded
        frames.append(_checked_frame(rounded, instrument, BAR_SCHEMA.names))
    return BidAskBars(bid.identifier, frames[0], ask.identifier, frames[1])


def load_truefx_quotes_csv(path: PathLike, instrument: Instrument, default_size: SizeLike) -> pl.DataFrame:
    """`read_truefx_quotes_csv` checked against `instrument` (raw quote schema, no `row` column)."""
    try:
        check_option_size(default_size, "default_size", instrument)
    except ValueError as exc:
        raise LoaderError(path, None, str(exc)) from None
    loaded = read_truefx_quotes_csv(path, instrument.id, default_size=default_size)
    return _checked_frame(loaded, instrument, QUOTE_SCHEMA.names)


def load_truefx_quote_objects(path: PathLike, instrument: Instrument, default_size: SizeLike) -> list[QuoteTick]:
    """`load_truefx_quotes_csv` decoded into `QuoteTick` objects."""
    frame = load_truefx_quotes_csv(path, instrument, default_size)
    return objects_from_frame(
        DataType.QUOTES, instrument.id, frame, instrument.price_precision, instrument.size_precision
    )
