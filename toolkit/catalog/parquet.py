"""The Parquet `DataCatalog`: one dataset of sorted, bounded part files per data type and instrument or bar type.

It owns the on-disk layout and schemas (documented in `docs/catalog.md`): quotes, trades, bars,
order book deltas and depth-10 snapshots, each stored with exact int64 raw fixed-point prices and
sizes (value * 10**9, precisions in the Parquet schema metadata), int64 nanosecond timestamps and
rows sorted by `ts_init`; plus the instrument definitions. Writes append new parts (at most
`max_rows_per_part` rows each, written atomically) and never rewrite older ones; a write that
overlaps existing rows is refused unless `replace=True`, which swaps the affected parts through a
journal so a crash never loses data; `consolidate` merges small parts the same way. A per-dataset
index of part spans (`_index.json`, a cache rebuilt from the footers when missing or stale) lets a
narrow time-range query open only the parts and row groups it needs. Reads return polars frames,
Arrow record batches merged by `ts_init` across datasets (a k-way merge, memory bounded) or the
model objects decoded column-wise.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import sys
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from itertools import chain, repeat
from operator import attrgetter
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import msgspec
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from toolkit.model.data import (
    DEPTH10_LEVELS,
    Bar,
    BarType,
    OrderBookDelta,
    OrderBookDepth10,
    QuoteTick,
    TradeTick,
)
from toolkit.model.enums import AggressorSide, BookAction, OrderSide
from toolkit.model.identifiers import InstrumentId, TradeId
from toolkit.model.instruments import Instrument, instrument_from_dict
from toolkit.model.objects import FIXED_PRECISION

SCHEMA_VERSION = 1
"""Version of the on-disk schema, stored as `toolkit.schema_version` in every part and in instruments.json."""

INDEX_VERSION = 1
"""Version of the per-dataset `_index.json` cache; an index of another version is ignored and rebuilt."""

ROW_GROUP_ROWS = 65_536
DEFAULT_BATCH_ROWS = 65_536
DEFAULT_MAX_ROWS_PER_PART = 1_000_000
PART_PREFIX = "part-"
PART_SUFFIX = ".parquet"
INDEX_FILE = "_index.json"
JOURNAL_FILE = "_journal.json"
INSTRUMENTS_FILE = "instruments.parquet"
LEGACY_INSTRUMENTS_FILE = "instruments.json"  # read when no Parquet file exists (catalogs written before)
INSTRUMENTS_SCHEMA = pa.schema([("instrument_id", pa.string()), ("kind", pa.string()), ("definition", pa.string())])

_META_VERSION = "toolkit.schema_version"
_META_DATA_TYPE = "toolkit.data_type"
_META_INSTRUMENT_ID = "toolkit.instrument_id"
_META_BAR_TYPE = "toolkit.bar_type"
_META_PRICE_PRECISION = "toolkit.price_precision"
_META_SIZE_PRECISION = "toolkit.size_precision"
_META_IDENTIFIER = "toolkit.identifier"

_LITTLE_ENDIAN = sys.byteorder == "little"


class CatalogError(ValueError):
    """A catalog operation was refused or found inconsistent data; the message names the dataset or file."""


class DataType(StrEnum):
    """Kinds of datasets the catalog holds; the value is the top-level directory name."""

    QUOTES = "quotes"
    TRADES = "trades"
    BARS = "bars"
    DELTAS = "deltas"
    DEPTH10 = "depth10"


class DatasetInfo(msgspec.Struct, frozen=True):
    """Summary of one dataset: what it is, how many rows and parts, and its `ts_init` span."""

    data_type: DataType
    identifier: str
    rows: int
    first_ts_init: int | None
    last_ts_init: int | None
    parts: int
    price_precision: int
    size_precision: int


class ConsolidationReport(msgspec.Struct, frozen=True):
    """What `DataCatalog.consolidate` did: part files removed and written, part counts before and after."""

    data_type: DataType
    identifier: str
    rows: int
    parts_before: int
    parts_after: int
    removed: tuple[str, ...]
    written: tuple[str, ...]


# ---- schemas ------------------------------------------------------------------------------------

QUOTE_SCHEMA = pa.schema([(name, pa.int64()) for name in ("bid", "ask", "bid_size", "ask_size", "ts_event", "ts_init")])
TRADE_SCHEMA = pa.schema(
    [
        ("price", pa.int64()),
        ("size", pa.int64()),
        ("aggressor_side", pa.string()),
        ("trade_id", pa.string()),
        ("ts_event", pa.int64()),
        ("ts_init", pa.int64()),
    ]
)
BAR_SCHEMA = pa.schema(
    [(name, pa.int64()) for name in ("open", "high", "low", "close", "volume", "ts_event", "ts_init")]
)
DELTA_SCHEMA = pa.schema(
    [
        ("action", pa.uint8()),
        ("side", pa.uint8()),
        ("price", pa.int64()),
        ("size", pa.int64()),
        ("order_id", pa.uint64()),
        ("flags", pa.uint8()),
        ("sequence", pa.uint64()),
        ("ts_event", pa.int64()),
        ("ts_init", pa.int64()),
    ]
)
_DEPTH_SIDES = ("bid", "ask")
_DEPTH_PRICE_COLUMNS = tuple(f"{side}_price_{i}" for side in _DEPTH_SIDES for i in range(DEPTH10_LEVELS))
_DEPTH_SIZE_COLUMNS = tuple(f"{side}_size_{i}" for side in _DEPTH_SIDES for i in range(DEPTH10_LEVELS))
DEPTH10_SCHEMA = pa.schema(
    [
        *(
            (f"{side}_{what}_{i}", pa.uint32() if what == "count" else pa.int64())
            for side in _DEPTH_SIDES
            for what in ("price", "size", "count")
            for i in range(DEPTH10_LEVELS)
        ),
        ("flags", pa.uint8()),
        ("sequence", pa.uint64()),
        ("ts_event", pa.int64()),
        ("ts_init", pa.int64()),
    ]
)

BOOK_ACTION_CODES: dict[BookAction, int] = {
    BookAction.ADD: 1,
    BookAction.UPDATE: 2,
    BookAction.DELETE: 3,
    BookAction.CLEAR: 4,
}
"""uint8 code of each `BookAction` in the `action` column of order book deltas."""

ORDER_SIDE_CODES: dict[OrderSide, int] = {OrderSide.NO_ORDER_SIDE: 0, OrderSide.BUY: 1, OrderSide.SELL: 2}
"""uint8 code of each `OrderSide` in the `side` column of order book deltas (BUY = bid, SELL = ask)."""

_ACTION_BY_CODE: tuple[BookAction | None, ...] = (
    None,
    BookAction.ADD,
    BookAction.UPDATE,
    BookAction.DELETE,
    BookAction.CLEAR,
)
_SIDE_BY_CODE: tuple[OrderSide, ...] = (OrderSide.NO_ORDER_SIDE, OrderSide.BUY, OrderSide.SELL)
_CLEAR_CODE = BOOK_ACTION_CODES[BookAction.CLEAR]

_PL_TYPES: dict[pa.DataType, Any] = {
    pa.int64(): pl.Int64,
    pa.uint64(): pl.UInt64,
    pa.uint32(): pl.UInt32,
    pa.uint8(): pl.UInt8,
    pa.string(): pl.String,
}

DatasetId = InstrumentId | BarType
MarketData = QuoteTick | TradeTick | Bar | OrderBookDelta | OrderBookDepth10
Request = tuple[DataType | str | type, InstrumentId | BarType | str]


# ---- identifiers <-> directory names ------------------------------------------------------------


def encode_dataset_dir(identifier: str) -> str:
    """Directory name for an identifier: percent-encode everything but letters, digits and `-_.~+=@,`."""
    name = quote(str(identifier), safe="-_.~+=@,")
    return "%2E" + name[1:] if name.startswith(".") else name


def decode_dataset_dir(name: str) -> str:
    """Inverse of `encode_dataset_dir`."""
    return unquote(name)


# ---- Arrow columns as Python ints ---------------------------------------------------------------

_BUFFER_FORMATS = {
    pa.int64(): "q",
    pa.uint64(): "Q",
    pa.int32(): "i",
    pa.uint32(): "I",
    pa.uint8(): "B",
    pa.int8(): "b",
}


def _int_view(array: pa.Array) -> Sequence[int]:
    """The values of an integer column as a sequence of Python ints, zero-copy over the Arrow buffer when possible."""
    count = len(array)
    fmt = _BUFFER_FORMATS.get(array.type)
    if count and fmt is not None and _LITTLE_ENDIAN and array.null_count == 0:
        width = array.type.bit_width // 8
        start = array.offset * width
        return memoryview(array.buffers()[1])[start : start + count * width].cast(fmt)
    return array.to_pylist()


def _int_list(array: pa.Array) -> list[int]:
    """The values of an integer column as a list of Python ints."""
    view = _int_view(array)
    return view.tolist() if isinstance(view, memoryview) else view  # type: ignore[return-value]


def _columns(batch: pa.RecordBatch, names: Sequence[str]) -> list[list[int]]:
    return [_int_list(batch.column(name)) for name in names]


def _ts_view(column: pa.Array | pa.ChunkedArray) -> Sequence[int]:
    """The ts_init values of one array (or a single-chunk column) for sorted search."""
    if isinstance(column, pa.ChunkedArray):
        column = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return _int_view(column)


def _count_before(column: pa.Array | pa.ChunkedArray, value: int, *, inclusive: bool) -> int:
    """Rows of a ts_init-sorted column with ts < value (or <= value when inclusive), by binary search per chunk."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    total = 0
    search = bisect_right if inclusive else bisect_left
    for chunk in chunks:
        if not len(chunk):
            continue
        view = _int_view(chunk)
        last = view[-1]
        if last < value or (inclusive and last == value):
            total += len(chunk)
            continue
        return total + search(view, value)
    return total


def _trim(table: pa.Table | pa.RecordBatch, start_ns: int | None, end_ns: int | None) -> Any:
    """The rows of a ts_init-sorted table or batch with start_ns <= ts_init <= end_ns."""
    if not table.num_rows:
        return table
    ts = table.column("ts_init")
    lo = 0 if start_ns is None else _count_before(ts, start_ns, inclusive=False)
    hi = table.num_rows if end_ns is None else _count_before(ts, end_ns, inclusive=True)
    if lo == 0 and hi == table.num_rows:
        return table
    return table.slice(lo, max(hi - lo, 0))


# ---- decoding Arrow batches into objects --------------------------------------------------------

_AGGRESSOR_BY_NAME: dict[str, AggressorSide] = {side.value: side for side in AggressorSide}
# Trade ids are validated when written, so reading them back skips the per-row format check.
_trade_id_unchecked: Callable[[str], TradeId] = partial(str.__new__, TradeId)


def _decode_quotes(
    batch: pa.RecordBatch, instrument_id: DatasetId, price_precision: int, size_precision: int
) -> tuple[list[QuoteTick], list[int]]:
    bid, ask, bid_size, ask_size, ts_event, ts_init = _columns(batch, QUOTE_SCHEMA.names)
    quotes = list(
        map(
            QuoteTick,
            repeat(instrument_id),
            bid,
            ask,
            bid_size,
            ask_size,
            repeat(price_precision),
            repeat(size_precision),
            ts_event,
            ts_init,
        )
    )
    return quotes, ts_init


def _decode_trades(
    batch: pa.RecordBatch, instrument_id: DatasetId, price_precision: int, size_precision: int
) -> tuple[list[TradeTick], list[int]]:
    price, size, ts_event, ts_init = _columns(batch, ("price", "size", "ts_event", "ts_init"))
    sides = map(_AGGRESSOR_BY_NAME.__getitem__, batch.column("aggressor_side").to_pylist())
    trade_ids = map(_trade_id_unchecked, batch.column("trade_id").to_pylist())
    trades = list(
        map(
            TradeTick,
            repeat(instrument_id),
            price,
            size,
            repeat(price_precision),
            repeat(size_precision),
            sides,
            trade_ids,
            ts_event,
            ts_init,
        )
    )
    return trades, ts_init


def _decode_bars(
    batch: pa.RecordBatch, bar_type: DatasetId, price_precision: int, size_precision: int
) -> tuple[list[Bar], list[int]]:
    open_, high, low, close, volume, ts_event, ts_init = _columns(batch, BAR_SCHEMA.names)
    bars = list(
        map(
            Bar,
            repeat(bar_type),
            open_,
            high,
            low,
            close,
            volume,
            repeat(price_precision),
            repeat(size_precision),
            ts_event,
            ts_init,
        )
    )
    return bars, ts_init


def _decode_deltas(
    batch: pa.RecordBatch, instrument_id: DatasetId, price_precision: int, size_precision: int
) -> tuple[list[OrderBookDelta], list[int]]:
    action_codes = _int_list(batch.column("action"))
    actions = map(_ACTION_BY_CODE.__getitem__, action_codes)
    sides = map(_SIDE_BY_CODE.__getitem__, _int_view(batch.column("side")))
    price, size, order_id, flags, sequence, ts_event, ts_init = _columns(
        batch, ("price", "size", "order_id", "flags", "sequence", "ts_event", "ts_init")
    )
    price_precisions: Iterable[int] = repeat(price_precision)
    size_precisions: Iterable[int] = repeat(size_precision)
    if _CLEAR_CODE in action_codes:
        # A CLEAR carries no price or size: it reads back as `OrderBookDelta.clear` builds it (precisions 0).
        price_precisions = [0 if code == _CLEAR_CODE else price_precision for code in action_codes]
        size_precisions = [0 if code == _CLEAR_CODE else size_precision for code in action_codes]
    deltas = list(
        map(
            OrderBookDelta,
            repeat(instrument_id),
            actions,
            sides,
            price,
            size,
            order_id,
            flags,
            sequence,
            price_precisions,
            size_precisions,
            ts_event,
            ts_init,
        )
    )
    return deltas, ts_init


def _depth_levels(batch: pa.RecordBatch, side: str, what: str) -> list[tuple[int, ...]]:
    return list(zip(*(_int_view(batch.column(f"{side}_{what}_{i}")) for i in range(DEPTH10_LEVELS)), strict=True))


def _decode_depth10(
    batch: pa.RecordBatch, instrument_id: DatasetId, price_precision: int, size_precision: int
) -> tuple[list[OrderBookDepth10], list[int]]:
    flags, sequence, ts_event, ts_init = _columns(batch, ("flags", "sequence", "ts_event", "ts_init"))
    depths = list(
        map(
            OrderBookDepth10,
            repeat(instrument_id),
            _depth_levels(batch, "bid", "price"),
            _depth_levels(batch, "bid", "size"),
            _depth_levels(batch, "bid", "count"),
            _depth_levels(batch, "ask", "price"),
            _depth_levels(batch, "ask", "size"),
            _depth_levels(batch, "ask", "count"),
            flags,
            sequence,
            repeat(price_precision),
            repeat(size_precision),
            ts_event,
            ts_init,
        )
    )
    return depths, ts_init


# ---- objects -> columns -------------------------------------------------------------------------


def _attr_columns(names: Sequence[str], fields: Sequence[str]) -> Callable[[Sequence[Any]], dict[str, list[Any]]]:
    def to_columns(objects: Sequence[Any]) -> dict[str, list[Any]]:
        return {name: list(map(attrgetter(field), objects)) for name, field in zip(names, fields, strict=True)}

    return to_columns


_quote_columns = _attr_columns(
    QUOTE_SCHEMA.names, ("bid_raw", "ask_raw", "bid_size_raw", "ask_size_raw", "ts_event", "ts_init")
)
_bar_columns = _attr_columns(
    BAR_SCHEMA.names, ("open_raw", "high_raw", "low_raw", "close_raw", "volume_raw", "ts_event", "ts_init")
)


def _trade_columns(trades: Sequence[TradeTick]) -> dict[str, list[Any]]:
    return {
        "price": [t.price_raw for t in trades],
        "size": [t.size_raw for t in trades],
        "aggressor_side": [t.aggressor_side.value for t in trades],
        "trade_id": [str(t.trade_id) for t in trades],
        "ts_event": [t.ts_event for t in trades],
        "ts_init": [t.ts_init for t in trades],
    }


def _delta_columns(deltas: Sequence[OrderBookDelta]) -> dict[str, list[Any]]:
    columns = _attr_columns(
        ("price", "size", "order_id", "flags", "sequence", "ts_event", "ts_init"),
        ("price_raw", "size_raw", "order_id", "flags", "sequence", "ts_event", "ts_init"),
    )(deltas)
    return {
        "action": [BOOK_ACTION_CODES[d.action] for d in deltas],
        "side": [ORDER_SIDE_CODES[d.side] for d in deltas],
        **columns,
    }


def _depth10_columns(depths: Sequence[OrderBookDepth10]) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {}
    for side in _DEPTH_SIDES:
        for what, field in (("price", "prices_raw"), ("size", "sizes_raw"), ("count", "counts")):
            levels = list(zip(*map(attrgetter(f"{side}_{field}"), depths), strict=True))
            for i in range(DEPTH10_LEVELS):
                columns[f"{side}_{what}_{i}"] = list(levels[i])
    for name in ("flags", "sequence", "ts_event", "ts_init"):
        columns[name] = list(map(attrgetter(name), depths))
    return columns


# ---- per data type row checks -------------------------------------------------------------------


def _first_true(frame: pl.DataFrame, condition: pl.Expr) -> int | None:
    """Row index of the first row where `condition` holds, or None."""
    return frame.select(condition.arg_true().first()).item()


def _no_row_checks(frame: pl.DataFrame, dataset: str) -> None:
    """Quotes and depth snapshots need no cross-column rule: real feeds do publish crossed or locked books."""


def _check_trade_rows(frame: pl.DataFrame, dataset: str) -> None:
    bad = _first_true(frame, ~pl.col("aggressor_side").is_in(list(_AGGRESSOR_BY_NAME)))
    if bad is not None:
        raise CatalogError(
            f"dataset {dataset}: row {bad}: aggressor_side {frame['aggressor_side'][bad]!r} is not one of "
            f"{', '.join(_AGGRESSOR_BY_NAME)}"
        )
    trade_id = pl.col("trade_id")
    bad = _first_true(frame, (trade_id.str.len_bytes() == 0) | (trade_id.str.strip_chars() != trade_id))
    if bad is not None:
        raise CatalogError(
            f"dataset {dataset}: row {bad}: trade_id {frame['trade_id'][bad]!r} must be non-empty without "
            "spaces around it"
        )


def _check_bar_rows(frame: pl.DataFrame, dataset: str) -> None:
    o, h, lo, c = pl.col("open"), pl.col("high"), pl.col("low"), pl.col("close")
    bad = _first_true(frame, ~((h >= o) & (h >= c) & (h >= lo) & (lo <= o) & (lo <= c)))
    if bad is not None:
        row = frame.row(bad, named=True)
        raise CatalogError(
            f"dataset {dataset}: row {bad}: high/low do not bound open/close "
            f"(raw open={row['open']} high={row['high']} low={row['low']} close={row['close']})"
        )


def _check_delta_rows(frame: pl.DataFrame, dataset: str) -> None:
    for column, codes in (("action", BOOK_ACTION_CODES), ("side", ORDER_SIDE_CODES)):
        bad = _first_true(frame, ~pl.col(column).is_in(list(codes.values())))
        if bad is not None:
            valid = ", ".join(f"{code}={member.value}" for member, code in codes.items())
            raise CatalogError(
                f"dataset {dataset}: row {bad}: {column} code {frame[column][bad]} is not one of {valid}"
            )


# ---- the data type registry ---------------------------------------------------------------------


def _parse_instrument_id(value: Any) -> InstrumentId:
    return InstrumentId(str(value))


def _parse_bar_type(value: Any) -> BarType:
    return value if isinstance(value, BarType) else BarType.from_str(str(value))


def _is_clear(delta: OrderBookDelta) -> bool:
    return delta.action is BookAction.CLEAR


@dataclass(frozen=True, slots=True)
class _DatasetKind:
    """Everything the catalog needs to know about one data type (extend `_KINDS` for new types)."""

    data_type: DataType
    object_type: type
    schema: pa.Schema
    price_columns: tuple[str, ...]
    size_columns: tuple[str, ...]
    parse_id: Callable[[Any], DatasetId]
    object_id: Callable[[Any], Any]
    to_columns: Callable[[Sequence[Any]], dict[str, list[Any]]]
    decode: Callable[[pa.RecordBatch, Any, int, int], tuple[list[Any], list[int]]]
    check_rows: Callable[[pl.DataFrame, str], None]
    id_column: str = "instrument_id"
    code_columns: tuple[tuple[str, dict[str, int]], ...] = ()
    """Columns stored as uint8 codes that a frame may also give as member names."""
    precision_free: Callable[[Any], bool] | None = None
    """Objects that carry no price or size, so their precisions are not checked (CLEAR deltas)."""

    @property
    def polars_schema(self) -> dict[str, Any]:
        return {f.name: _PL_TYPES[f.type] for f in self.schema}

    @property
    def parquet_options(self) -> dict[str, Any]:
        """Column encodings: DELTA_BINARY_PACKED for prices, timestamps and counters (smooth or increasing
        series), dictionary for the rest (sizes, codes, strings); then zstd. About 8x smaller than
        plain+zstd on quotes, and faster to read."""
        delta = [
            *self.price_columns,
            *(c for c in ("order_id", "sequence", "ts_event", "ts_init") if c in self.schema.names),
        ]
        return {
            "use_dictionary": [name for name in self.schema.names if name not in delta],
            "column_encoding": dict.fromkeys(delta, "DELTA_BINARY_PACKED"),
        }

    def instrument_id_of(self, identifier: DatasetId) -> InstrumentId:
        return identifier.instrument_id if isinstance(identifier, BarType) else identifier


_KINDS: dict[DataType, _DatasetKind] = {
    DataType.QUOTES: _DatasetKind(
        DataType.QUOTES,
        QuoteTick,
        QUOTE_SCHEMA,
        ("bid", "ask"),
        ("bid_size", "ask_size"),
        _parse_instrument_id,
        attrgetter("instrument_id"),
        _quote_columns,
        _decode_quotes,
        _no_row_checks,
    ),
    DataType.TRADES: _DatasetKind(
        DataType.TRADES,
        TradeTick,
        TRADE_SCHEMA,
        ("price",),
        ("size",),
        _parse_instrument_id,
        attrgetter("instrument_id"),
        _trade_columns,
        _decode_trades,
        _check_trade_rows,
    ),
    DataType.BARS: _DatasetKind(
        DataType.BARS,
        Bar,
        BAR_SCHEMA,
        ("open", "high", "low", "close"),
        ("volume",),
        _parse_bar_type,
        attrgetter("bar_type"),
        _bar_columns,
        _decode_bars,
        _check_bar_rows,
        id_column="bar_type",
    ),
    DataType.DELTAS: _DatasetKind(
        DataType.DELTAS,
        OrderBookDelta,
        DELTA_SCHEMA,
        ("price",),
        ("size",),
        _parse_instrument_id,
        attrgetter("instrument_id"),
        _delta_columns,
        _decode_deltas,
        _check_delta_rows,
        code_columns=(
            ("action", {a.value: code for a, code in BOOK_ACTION_CODES.items()}),
            ("side", {s.value: code for s, code in ORDER_SIDE_CODES.items()}),
        ),
        precision_free=_is_clear,
    ),
    DataType.DEPTH10: _DatasetKind(
        DataType.DEPTH10,
        OrderBookDepth10,
        DEPTH10_SCHEMA,
        _DEPTH_PRICE_COLUMNS,
        _DEPTH_SIZE_COLUMNS,
        _parse_instrument_id,
        attrgetter("instrument_id"),
        _depth10_columns,
        _decode_depth10,
        _no_row_checks,
    ),
}
_KIND_BY_CLASS: dict[type, _DatasetKind] = {kind.object_type: kind for kind in _KINDS.values()}


def _kind(data_type: DataType | str | type) -> _DatasetKind:
    if isinstance(data_type, type):
        kind = _KIND_BY_CLASS.get(data_type)
        if kind is None:
            raise CatalogError(f"the catalog stores no {data_type.__name__} data")
        return kind
    try:
        return _KINDS[DataType(str(data_type).lower())]
    except ValueError:
        names = ", ".join(t.value for t in DataType)
        raise CatalogError(f"unknown data type {data_type!r} (expected one of: {names})") from None


def objects_from_frame(
    data_type: DataType | str | type,
    identifier: InstrumentId | BarType | str,
    frame: pl.DataFrame | pa.Table,
    price_precision: int,
    size_precision: int,
) -> list[Any]:
    """Decode a frame in the raw schema of `data_type` into model objects (QuoteTick, ..., OrderBookDepth10)."""
    kind = _kind(data_type)
    ident = kind.parse_id(identifier)
    table = frame.to_arrow() if isinstance(frame, pl.DataFrame) else frame
    table = table.select(kind.schema.names)
    if table.schema != kind.schema:
        table = table.cast(kind.schema)
    objects: list[Any] = []
    for batch in table.to_batches():
        objects.extend(kind.decode(batch, ident, price_precision, size_precision)[0])
    return objects


def decode_batch(batch: pa.RecordBatch) -> list[Any]:
    """Decode one batch yielded by `DataCatalog.stream` into model objects, using its schema metadata."""
    meta = {k.decode(): v.decode() for k, v in (batch.schema.metadata or {}).items() if k.startswith(b"toolkit.")}
    try:
        kind = _kind(meta[_META_DATA_TYPE])
        ident = kind.parse_id(meta[_META_IDENTIFIER])
        price_precision, size_precision = int(meta[_META_PRICE_PRECISION]), int(meta[_META_SIZE_PRECISION])
    except KeyError as exc:
        raise CatalogError(
            f"the batch has no {exc.args[0]} in its schema metadata: not from DataCatalog.stream"
        ) from None
    return kind.decode(batch, ident, price_precision, size_precision)[0]


# ---- parts on disk and the per-dataset index ----------------------------------------------------


class _GroupEntry(msgspec.Struct, array_like=True, frozen=True):
    rows: int
    first: int | None
    last: int | None


class _PartEntry(msgspec.Struct, frozen=True):
    name: str
    size: int
    mtime_ns: int
    inode: int
    rows: int
    first_ts_init: int
    last_ts_init: int
    row_groups: list[_GroupEntry]
    metadata: dict[str, str]


class _IndexDocument(msgspec.Struct):
    index_version: int
    parts: list[_PartEntry]


class _JournalDocument(msgspec.Struct):
    committed: bool
    adds: list[str]
    removes: list[str]


@dataclass(frozen=True, slots=True)
class _RowGroupSpan:
    index: int
    rows: int
    first_ts: int | None
    last_ts: int | None


@dataclass(frozen=True, slots=True)
class _Part:
    directory: Path
    name: str
    number: int
    rows: int
    first_ts: int
    last_ts: int
    row_groups: tuple[_RowGroupSpan, ...]
    metadata: dict[str, str]
    stat: tuple[int, int, int]  # size, mtime_ns, inode: how the index recognises an unchanged file

    @property
    def path(self) -> Path:
        return self.directory / self.name

    def entry(self) -> _PartEntry:
        groups = [_GroupEntry(g.rows, g.first_ts, g.last_ts) for g in self.row_groups]
        return _PartEntry(self.name, *self.stat, self.rows, self.first_ts, self.last_ts, groups, self.metadata)

    @classmethod
    def from_entry(cls, directory: Path, number: int, entry: _PartEntry) -> _Part:
        groups = tuple(_RowGroupSpan(i, g.rows, g.first, g.last) for i, g in enumerate(entry.row_groups))
        return cls(
            directory,
            entry.name,
            number,
            entry.rows,
            entry.first_ts_init,
            entry.last_ts_init,
            groups,
            entry.metadata,
            (entry.size, entry.mtime_ns, entry.inode),
        )


def _part_number(name: str) -> int | None:
    stem = name[len(PART_PREFIX) : -len(PART_SUFFIX)]
    return int(stem) if name.startswith(PART_PREFIX) and name.endswith(PART_SUFFIX) and stem.isdigit() else None


def _part_name(number: int) -> str:
    return f"{PART_PREFIX}{number:05d}{PART_SUFFIX}"


def _unreadable(path: Path, exc: BaseException) -> CatalogError:
    return CatalogError(f"{path}: cannot read this Parquet part ({type(exc).__name__}: {exc})")


def _decode_metadata(path: Path, raw: dict[bytes, bytes] | None) -> dict[str, str]:
    meta = {k.decode(): v.decode() for k, v in (raw or {}).items() if k.startswith(b"toolkit.")}
    version = meta.get(_META_VERSION)
    if version is None:
        raise CatalogError(f"{path}: no {_META_VERSION} in the Parquet metadata: not written by this catalog")
    if int(version) != SCHEMA_VERSION:
        raise CatalogError(f"{path}: schema version {version} is not supported (this toolkit reads {SCHEMA_VERSION})")
    return meta


def _read_part(directory: Path, name: str, number: int, stat: tuple[int, int, int]) -> _Part:
    """A part's row count, ts_init span per row group and toolkit metadata, from its footer."""
    path = directory / name
    try:
        metadata = pq.read_metadata(path)
        column = metadata.schema.to_arrow_schema().get_field_index("ts_init")
        if column < 0:
            raise CatalogError(f"{path}: no ts_init column")
        spans = []
        for index in range(metadata.num_row_groups):
            group = metadata.row_group(index)
            stats = group.column(column).statistics
            if stats is not None and stats.has_min_max:
                spans.append(_RowGroupSpan(index, group.num_rows, stats.min, stats.max))
            else:
                spans.append(_RowGroupSpan(index, group.num_rows, None, None))
        if any(span.first_ts is None for span in spans if span.rows):
            ts = pq.read_table(path, columns=["ts_init"]).column("ts_init")
            first, last = pc.min(ts).as_py(), pc.max(ts).as_py()
        else:
            known = [span for span in spans if span.rows]
            first = min((s.first_ts for s in known), default=0)  # type: ignore[type-var]
            last = max((s.last_ts for s in known), default=0)  # type: ignore[type-var]
    except (OSError, pa.ArrowException) as exc:
        raise _unreadable(path, exc) from None
    meta = _decode_metadata(path, metadata.metadata)
    return _Part(directory, name, number, metadata.num_rows, first or 0, last or 0, tuple(spans), meta, stat)


def _read_journal(directory: Path) -> _JournalDocument | None:
    try:
        return msgspec.json.decode((directory / JOURNAL_FILE).read_bytes(), type=_JournalDocument)
    except FileNotFoundError:
        return None
    except (OSError, msgspec.DecodeError) as exc:
        raise CatalogError(
            f"{directory / JOURNAL_FILE}: unreadable journal of an interrupted rewrite ({exc})"
        ) from None


def _hidden_by_journal(journal: _JournalDocument | None) -> set[str]:
    """Part names a reader must ignore: the new parts of an uncommitted rewrite, the old parts of a committed one."""
    if journal is None:
        return set()
    return set(journal.removes if journal.committed else journal.adds)


def _write_file_atomically(target: Path, data: bytes) -> None:
    temp = target.with_name(f".tmp-{uuid.uuid4().hex}{target.suffix}")
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    """Make renames and links in `directory` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _list_parts(directory: Path) -> list[tuple[int, str, tuple[int, int, int]]]:
    """(number, name, (size, mtime_ns, inode)) of the visible part files of a dataset directory."""
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    hidden = _hidden_by_journal(_read_journal(directory)) if any(e.name == JOURNAL_FILE for e in entries) else set()
    found = []
    for entry in entries:
        number = _part_number(entry.name)
        if number is None or entry.name in hidden:
            continue
        try:
            st = entry.stat()
        except FileNotFoundError:
            continue
        found.append((number, entry.name, (st.st_size, st.st_mtime_ns, st.st_ino)))
    found.sort()
    return found


def _file_signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


@dataclass(slots=True)
class _KnownParts:
    """What a catalog object last knew of one dataset folder: its index file and its parts by name."""

    index_signature: tuple[int, int, int] | None
    index_keys: frozenset[tuple[str, tuple[int, int, int]]]  # (name, stat) of each entry of the index file
    parts: dict[str, _Part]


def _load_parts(directory: Path, cache: dict[Path, _KnownParts] | None = None, *, persist: bool = False) -> list[_Part]:
    """The dataset's visible parts in part-number order, each checked against the file's size, mtime and inode.

    A part comes from `cache` (what this catalog object saw before), else from `_index.json`, else
    from its footer. With `persist` (writers only) a missing or stale index is rewritten
    atomically; readers never change the folder. A part that cannot be read raises CatalogError
    naming the file.
    """
    listed = _list_parts(directory)
    index_path = directory / INDEX_FILE
    signature = _file_signature(index_path)
    known = cache.get(directory) if cache is not None else None
    memory = known.parts if known is not None else {}
    entries: dict[str, _PartEntry] = {}
    if known is not None and known.index_signature == signature:
        index_keys = known.index_keys
    else:
        if signature is not None:
            try:
                document = msgspec.json.decode(index_path.read_bytes(), type=_IndexDocument)
                if document.index_version == INDEX_VERSION:
                    entries = {entry.name: entry for entry in document.parts}
            except (OSError, msgspec.DecodeError, msgspec.ValidationError):
                pass
        index_keys = frozenset((e.name, (e.size, e.mtime_ns, e.inode)) for e in entries.values())
    parts: list[_Part] = []
    for number, name, stat in listed:
        part = memory.get(name)
        if part is None or part.stat != stat:
            entry = entries.get(name)
            if entry is not None and (entry.size, entry.mtime_ns, entry.inode) == stat:
                part = _Part.from_entry(directory, number, entry)
            else:
                part = _read_part(directory, name, number, stat)
        parts.append(part)
    listed_keys = frozenset((name, stat) for _, name, stat in listed)
    if persist and parts and listed_keys != index_keys:
        document = _IndexDocument(INDEX_VERSION, [part.entry() for part in parts])
        with contextlib.suppress(OSError):  # a read-only catalog still works, it just reads the footers
            _write_file_atomically(index_path, msgspec.json.encode(document))
            signature, index_keys = _file_signature(index_path), listed_keys
    if cache is not None:
        cache[directory] = _KnownParts(signature, index_keys, {part.name: part for part in parts})
    return parts


def _write_temp_part(directory: Path, table: pa.Table) -> Path:
    """Write `table` to a hidden temp file (no .parquet suffix, so no reader glob sees it) and fsync it."""
    temp = directory / f".tmp-{uuid.uuid4().hex}.partial"
    kind = _KINDS[DataType(table.schema.metadata[_META_DATA_TYPE.encode()].decode())]
    try:
        pq.write_table(table, temp, compression="zstd", row_group_size=ROW_GROUP_ROWS, **kind.parquet_options)
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _link_part(temp: Path, final: Path) -> bool:
    """Give the temp file its final part name without ever replacing a part; False if the name is taken."""
    try:
        os.link(temp, final)  # a hard link never replaces an existing part, even with a concurrent writer
        return True
    except FileExistsError:
        return False
    except OSError:
        if final.exists():
            return False
        os.replace(temp, final)  # file systems without hard links
        return True


def _next_number(directory: Path) -> int:
    numbers = [n for n in map(_part_number, os.listdir(directory)) if n is not None]
    return max(numbers) + 1 if numbers else 0


def _commit_parts(directory: Path, tables: Sequence[pa.Table], removes: Sequence[_Part]) -> list[Path]:
    """Add `tables` as new parts and remove `removes`, so that readers see either all or nothing of it.

    A single new part is one atomic link. Anything more goes through `_journal.json`: the new parts
    are written and linked while the journal says "uncommitted" (readers ignore them), then the
    journal flips to "committed" (readers ignore the old parts) and the old parts are deleted. A
    crash at any point leaves either the old or the new content visible, and the next write of the
    dataset finishes or rolls back the journal.
    """
    directory.mkdir(parents=True, exist_ok=True)
    temps: list[Path] = []
    try:
        for table in tables:
            temps.append(_write_temp_part(directory, table))
        if len(temps) == 1 and not removes:
            number = _next_number(directory)
            while not _link_part(temps[0], directory / _part_name(number)):
                number += 1
            _fsync_directory(directory)
            return [directory / _part_name(number)]
        first = _next_number(directory)
        adds = [_part_name(first + i) for i in range(len(temps))]
        journal = _JournalDocument(committed=False, adds=adds, removes=[p.path.name for p in removes])
        _write_file_atomically(directory / JOURNAL_FILE, msgspec.json.encode(journal))
        linked: list[Path] = []
        try:
            for temp, name in zip(temps, adds, strict=True):
                if not _link_part(temp, directory / name):
                    raise CatalogError(f"{directory / name}: part name taken: another writer is writing this dataset")
                linked.append(directory / name)
            _fsync_directory(directory)
        except BaseException:
            for path in linked:
                path.unlink(missing_ok=True)
            (directory / JOURNAL_FILE).unlink(missing_ok=True)
            raise
        journal.committed = True
        _write_file_atomically(directory / JOURNAL_FILE, msgspec.json.encode(journal))
        for part in removes:
            part.path.unlink(missing_ok=True)
        (directory / JOURNAL_FILE).unlink(missing_ok=True)
        _fsync_directory(directory)
        return linked
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)


def _recover_journal(directory: Path) -> None:
    """Finish (committed) or roll back (uncommitted) a rewrite that a crash interrupted."""
    journal = _read_journal(directory)
    if journal is None:
        return
    for name in journal.removes if journal.committed else journal.adds:
        (directory / name).unlink(missing_ok=True)
    (directory / JOURNAL_FILE).unlink(missing_ok=True)
    _fsync_directory(directory)


def _overlapping_clusters(parts: Iterable[_Part]) -> list[list[_Part]]:
    """Group parts whose ts_init spans overlap (or touch), in time order."""
    clusters: list[list[_Part]] = []
    cluster_end = 0
    for part in sorted(parts, key=lambda p: (p.first_ts, p.number)):
        if clusters and part.first_ts <= cluster_end:
            clusters[-1].append(part)
            cluster_end = max(cluster_end, part.last_ts)
        else:
            clusters.append([part])
            cluster_end = part.last_ts
    return clusters


def _selected_groups(part: _Part, start_ns: int | None, end_ns: int | None) -> list[int]:
    """Row groups of a part that may hold rows with start_ns <= ts_init <= end_ns (by their statistics)."""
    return [
        g.index
        for g in part.row_groups
        if g.rows
        and not (
            g.first_ts is not None
            and g.last_ts is not None
            and ((start_ns is not None and g.last_ts < start_ns) or (end_ns is not None and g.first_ts > end_ns))
        )
    ]


def _in_range(part: _Part, start_ns: int | None, end_ns: int | None) -> bool:
    return bool(part.rows) and not (
        (start_ns is not None and part.last_ts < start_ns) or (end_ns is not None and part.first_ts > end_ns)
    )


def _iter_part(part: _Part, start_ns: int | None, end_ns: int | None, batch_size: int) -> Iterator[pa.RecordBatch]:
    """Batches of one sorted part within [start_ns, end_ns], reading only row groups that can match."""
    groups = _selected_groups(part, start_ns, end_ns)
    if not groups:
        return
    try:
        with pq.ParquetFile(part.path) as parquet:
            for batch in parquet.iter_batches(batch_size=batch_size, row_groups=groups):
                if start_ns is not None or end_ns is not None:
                    batch = _trim(batch, start_ns, end_ns)
                if batch.num_rows:
                    yield batch
    except (OSError, pa.ArrowException) as exc:
        raise _unreadable(part.path, exc) from None


def _read_part_range(part: _Part, start_ns: int | None, end_ns: int | None) -> pa.Table | None:
    """The rows of one sorted part within [start_ns, end_ns] as a table (row groups read in parallel)."""
    groups = _selected_groups(part, start_ns, end_ns)
    if not groups:
        return None
    try:
        with pq.ParquetFile(part.path) as parquet:
            table = parquet.read_row_groups(groups, use_threads=True)
    except (OSError, pa.ArrowException) as exc:
        raise _unreadable(part.path, exc) from None
    return _trim(table, start_ns, end_ns)


def _split_points(ts: Sequence[int], max_rows: int) -> list[tuple[int, int]]:
    """(start, stop) row ranges of at most max_rows, cut where ts_init changes when a run of one ts allows it."""
    count = len(ts)
    ranges = []
    start = 0
    while count - start > max_rows:
        cut = start + max_rows
        if ts[cut - 1] == ts[cut]:
            back = bisect_left(ts, ts[cut], start, cut)
            if back > start:
                cut = back
        ranges.append((start, cut))
        start = cut
    ranges.append((start, count))
    return ranges


def _split_table(table: pa.Table, max_rows: int) -> list[pa.Table]:
    if table.num_rows <= max_rows:
        return [table]
    ts = _ts_view(table.column("ts_init"))
    return [table.slice(start, stop - start) for start, stop in _split_points(ts, max_rows)]


def _sort_stable(table: pa.Table) -> pa.Table:
    ts = table.column("ts_init")
    if pc.all(pc.greater_equal(ts.slice(1), ts.slice(0, max(len(ts) - 1, 0)))).as_py() in (True, None):
        return table
    return table.take(pc.sort_indices(table, sort_keys=[("ts_init", "ascending")]))  # stable


# ---- the k-way merge by ts_init -----------------------------------------------------------------


def _merge_segments(
    sources: Sequence[Iterator[tuple[Any, Sequence[int]]]],
) -> Iterator[tuple[int, Any, int, int]]:
    """K-way merge of ts_init-sorted chunks: yields (source, chunk, start, stop) runs in global ts_init order.

    Each source yields (chunk, ts_init values of the chunk). Rows with equal ts_init come in source
    order, then in row order. Only one chunk per source is held; a run ends where the next row of
    another source comes first (found by binary search on ts_init), so long runs stay whole.
    """
    chunks: list[Any] = [None] * len(sources)
    stamps: list[Sequence[int]] = [()] * len(sources)
    heap: list[tuple[int, int, int]] = []  # (ts_init of the next row, source, row)

    def advance(i: int) -> None:
        for chunk, ts in sources[i]:
            if len(ts):
                chunks[i], stamps[i] = chunk, ts
                heapq.heappush(heap, (ts[0], i, 0))
                return
        chunks[i], stamps[i] = None, ()

    for i in range(len(sources)):
        advance(i)
    while heap:
        _, i, row = heapq.heappop(heap)
        ts = stamps[i]
        size = len(ts)
        if heap:
            other_ts, j, _ = heap[0]
            last = ts[-1]
            if last < other_ts or (last == other_ts and i < j):
                stop = size
            elif i < j:
                stop = bisect_right(ts, other_ts, row)
            else:
                stop = bisect_left(ts, other_ts, row)
        else:
            stop = size
        yield i, chunks[i], row, stop
        if stop == size:
            advance(i)
        else:
            heapq.heappush(heap, (ts[stop], i, stop))


def _batch_source(batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[pa.RecordBatch, Sequence[int]]]:
    for batch in batches:
        yield batch, _ts_view(batch.column("ts_init"))


def _merge_batches(sources: Sequence[Iterator[pa.RecordBatch]]) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(source, batch) in global ts_init order: batches are cut where rows of other sources interleave."""
    if len(sources) == 1:
        yield from ((0, batch) for batch in sources[0] if batch.num_rows)
        return
    for i, batch, start, stop in _merge_segments([_batch_source(s) for s in sources]):
        yield i, (batch if start == 0 and stop == batch.num_rows else batch.slice(start, stop - start))


_ts_init_key = attrgetter("ts_init")
_SHORT_RUN = 8
_SHORT_RUNS_BEFORE_WINDOW = 32


def _merge_object_chunks(
    sources: Sequence[Iterator[tuple[list[Any], Sequence[int]]]], batch_size: int
) -> Iterator[list[Any]]:
    """Lists of objects in global ts_init order (ties as in `_merge_segments`), about batch_size long.

    The same k-way merge as `_merge_segments` over per-source decoded chunks, with one shortcut for
    finely interleaved sources (many instruments quoting at similar rates), where walking run by
    run would cost a heap step per object: after a streak of short runs, every row before the
    smallest last ts_init held by any source is taken at once and put in order by a stable sort
    (Timsort merges the per-source runs), then run-by-run merging resumes.
    """
    count = len(sources)
    objects: list[list[Any]] = [[] for _ in range(count)]
    stamps: list[Sequence[int]] = [() for _ in range(count)]
    pos = [0] * count

    def advance(i: int) -> bool:
        for chunk, ts in sources[i]:
            if len(ts):
                objects[i], stamps[i], pos[i] = chunk, ts, 0
                return True
        objects[i], stamps[i], pos[i] = [], (), 0
        return False

    heap = [(stamps[i][0], i) for i in range(count) if advance(i)]
    heapq.heapify(heap)
    pending: list[Any] = []
    short = 0
    while heap:
        if short >= _SHORT_RUNS_BEFORE_WINDOW and len(heap) > 1:
            short = 0
            members = sorted(i for _, i in heap)
            frontier = min(stamps[i][-1] for i in members)
            window: list[Any] = []
            for i in members:  # in source order, so the stable sort keeps ties in source order
                cut = bisect_left(stamps[i], frontier, pos[i])
                if cut > pos[i]:
                    window += objects[i][pos[i] : cut]
                    pos[i] = cut
            window.sort(key=_ts_init_key)
            pending += window
            heap = []
            for i in members:
                if pos[i] < len(stamps[i]) or advance(i):
                    heap.append((stamps[i][pos[i]], i))
            heapq.heapify(heap)
        else:
            _, i = heapq.heappop(heap)
            ts, row = stamps[i], pos[i]
            size = len(ts)
            stop = size
            if heap:
                other_ts, j = heap[0]
                last = ts[-1]
                if not (last < other_ts or (last == other_ts and i < j)):
                    stop = bisect_right(ts, other_ts, row) if i < j else bisect_left(ts, other_ts, row)
            short = short + 1 if stop - row < _SHORT_RUN else 0
            if row == 0 and stop == size and not pending and size >= batch_size:
                yield objects[i]
            else:
                pending += objects[i][row:stop]
            pos[i] = stop
            if stop < size:
                heapq.heappush(heap, (ts[stop], i))
            elif advance(i):
                heapq.heappush(heap, (stamps[i][0], i))
        if len(pending) >= batch_size:
            yield pending
            pending = []
    if pending:
        yield pending


# ---- the catalog --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Source:
    """One resolved dataset of a read: its kind, identifier, parts and the metadata batches carry."""

    kind: _DatasetKind
    ident: DatasetId
    parts: list[_Part]
    metadata: dict[str, str]

    @property
    def price_precision(self) -> int:
        return int(self.metadata[_META_PRICE_PRECISION])

    @property
    def size_precision(self) -> int:
        return int(self.metadata[_META_SIZE_PRECISION])


def _is_single_identifier(value: Any) -> bool:
    return isinstance(value, str | BarType)


class DataCatalog:
    """A folder of Parquet datasets (see `docs/catalog.md` for the layout) with write, query and stream."""

    def __init__(self, path: str | os.PathLike[str], max_rows_per_part: int = DEFAULT_MAX_ROWS_PER_PART) -> None:
        if max_rows_per_part <= 0:
            raise CatalogError(f"max_rows_per_part must be positive, got {max_rows_per_part}")
        self.path = Path(path)
        self.max_rows_per_part = max_rows_per_part
        self._known: dict[Path, _KnownParts] = {}  # checked against the files on every use

    def _load(self, directory: Path, *, persist: bool = False) -> list[_Part]:
        return _load_parts(directory, self._known, persist=persist)

    def __repr__(self) -> str:
        return f"DataCatalog({str(self.path)!r})"

    # ---- paths ----------------------------------------------------------------------------------
    def dataset_path(self, data_type: DataType | str | type, identifier: InstrumentId | BarType | str) -> Path:
        """Directory of one dataset (it may not exist yet)."""
        kind = _kind(data_type)
        return self.path / kind.data_type.value / encode_dataset_dir(str(kind.parse_id(identifier)))

    @property
    def instruments_path(self) -> Path:
        return self.path / "instruments" / INSTRUMENTS_FILE

    def parts(self, data_type: DataType | str | type, identifier: InstrumentId | BarType | str) -> list[Path]:
        """The part files of one dataset in part-number order (empty if the dataset does not exist)."""
        kind = _kind(data_type)
        return [p.path for p in self._load(self.dataset_path(kind.data_type, kind.parse_id(identifier)))]

    # ---- instruments ----------------------------------------------------------------------------
    def write_instruments(self, instruments: Iterable[Instrument]) -> Path:
        """Add or replace instrument definitions (by id); refuses a precision change under existing data."""
        merged = {str(inst.id): inst for inst in self.instruments()}
        for inst in instruments:
            previous = merged.get(str(inst.id))
            if previous is None or (previous.price_precision, previous.size_precision) != (
                inst.price_precision,
                inst.size_precision,
            ):
                self._check_instrument_against_datasets(inst)
            merged[str(inst.id)] = inst
        records = [merged[key].to_dict() for key in sorted(merged)]
        table = pa.Table.from_pylist(
            [
                {"instrument_id": r["id"], "kind": r["kind"], "definition": json.dumps(r, sort_keys=True)}
                for r in records
            ],
            schema=INSTRUMENTS_SCHEMA.with_metadata({_META_VERSION: str(SCHEMA_VERSION)}),
        )
        target = self.instruments_path
        target.parent.mkdir(parents=True, exist_ok=True)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        _write_file_atomically(target, sink.getvalue().to_pybytes())
        legacy = target.parent / LEGACY_INSTRUMENTS_FILE
        if legacy.exists():
            legacy.unlink()  # the Parquet file now holds every definition
        return target

    def instruments(self, instrument_ids: Iterable[InstrumentId | str] | None = None) -> list[Instrument]:
        """Stored instrument definitions, sorted by id (only `instrument_ids` when given)."""
        path = self.instruments_path
        legacy = path.parent / LEGACY_INSTRUMENTS_FILE
        if path.is_file():
            try:
                table = pq.read_table(path)
            except (OSError, pa.ArrowException) as exc:
                raise CatalogError(f"{path}: unreadable instruments dataset ({exc})") from None
            version = (table.schema.metadata or {}).get(_META_VERSION.encode(), b"").decode()
            records = [json.loads(text) for text in table.column("definition").to_pylist()]
        elif legacy.is_file():
            try:
                document = json.loads(legacy.read_text(encoding="utf-8"))
                version = document.get(_META_VERSION)
                records = document["instruments"]
            except (ValueError, KeyError, AttributeError) as exc:
                raise CatalogError(f"{legacy}: not an instruments file of this catalog ({exc})") from None
        else:
            return []
        if str(version) != str(SCHEMA_VERSION):
            raise CatalogError(
                f"{path}: schema version {version} is not supported (this toolkit reads {SCHEMA_VERSION})"
            )
        wanted = None if instrument_ids is None else {str(i) for i in instrument_ids}
        return [instrument_from_dict(r) for r in records if wanted is None or str(r.get("id")) in wanted]

    def instrument(self, instrument_id: InstrumentId | str) -> Instrument | None:
        """One stored instrument definition, or None."""
        found = self.instruments([instrument_id])
        return found[0] if found else None

    def _check_instrument_against_datasets(self, instrument: Instrument) -> None:
        for kind, identifier, parts in self._datasets():
            if kind.instrument_id_of(kind.parse_id(identifier)) != instrument.id:
                continue
            meta = parts[0].metadata
            stored = (int(meta[_META_PRICE_PRECISION]), int(meta[_META_SIZE_PRECISION]))
            if stored != (instrument.price_precision, instrument.size_precision):
                raise CatalogError(
                    f"instrument {instrument.id}: price/size precision {instrument.price_precision}/"
                    f"{instrument.size_precision} differ from dataset {kind.data_type.value}/{identifier} "
                    f"stored at {stored[0]}/{stored[1]}"
                )

    # ---- writes ---------------------------------------------------------------------------------
    def write_quotes(
        self,
        instrument_id: InstrumentId | str,
        data: Sequence[QuoteTick] | pl.DataFrame,
        *,
        price_precision: int | None = None,
        size_precision: int | None = None,
        replace: bool = False,
    ) -> Path | None:
        """Append quotes (objects, or a frame in the raw quote schema); see `write`."""
        return self.write(DataType.QUOTES, instrument_id, data, price_precision, size_precision, replace=replace)

    def write_trades(
        self,
        instrument_id: InstrumentId | str,
        data: Sequence[TradeTick] | pl.DataFrame,
        *,
        price_precision: int | None = None,
        size_precision: int | None = None,
        replace: bool = False,
    ) -> Path | None:
        """Append trades (objects, or a frame in the raw trade schema); see `write`."""
        return self.write(DataType.TRADES, instrument_id, data, price_precision, size_precision, replace=replace)

    def write_bars(
        self,
        bar_type: BarType | str,
        data: Sequence[Bar] | pl.DataFrame,
        *,
        price_precision: int | None = None,
        size_precision: int | None = None,
        replace: bool = False,
    ) -> Path | None:
        """Append bars (objects, or a frame in the raw bar schema); see `write`."""
        return self.write(DataType.BARS, bar_type, data, price_precision, size_precision, replace=replace)

    def write_deltas(
        self,
        instrument_id: InstrumentId | str,
        data: Sequence[OrderBookDelta] | pl.DataFrame,
        *,
        price_precision: int | None = None,
        size_precision: int | None = None,
        replace: bool = False,
    ) -> Path | None:
        """Append order book deltas (objects, or a frame in the raw delta schema); see `write`."""
        return self.write(DataType.DELTAS, instrument_id, data, price_precision, size_precision, replace=replace)

    def write_depth10(
        self,
        instrument_id: InstrumentId | str,
        data: Sequence[OrderBookDepth10] | pl.DataFrame,
        *,
        price_precision: int | None = None,
        size_precision: int | None = None,
        replace: bool = False,
    ) -> Path | None:
        """Append depth-10 snapshots (objects, or a frame in the raw depth10 schema); see `write`."""
        return self.write(DataType.DEPTH10, instrument_id, data, price_precision, size_precision, replace=replace)

    def write(
        self,
        data_type: DataType | str | type,
        identifier: InstrumentId | BarType | str,
        data: Sequence[Any] | pl.DataFrame,
        price_precision: int | None = None,
        size_precision: int | None = None,
        *,
        replace: bool = False,
    ) -> Path | None:
        """Validate, sort by ts_init (stably) and add `data` to the dataset; return the first new part (None if empty).

        The rows go into new parts of at most `max_rows_per_part` rows. If existing rows have a
        ts_init inside [first, last] ts_init of the new data (boundaries included), the write is
        refused, unless `replace=True`: then those existing rows are dropped and the parts holding
        them are rewritten together with the new rows, atomically (see `_commit_parts`).
        """
        kind = _kind(data_type)
        ident = kind.parse_id(identifier)
        dataset = f"{kind.data_type.value}/{ident}"
        data_precisions: tuple[int, int] | None = None
        if isinstance(data, pl.DataFrame):
            frame = _conform_frame(kind, data, dataset)
        else:
            objects = list(data)
            if not objects:
                return None
            data_precisions = _object_precisions(kind, objects, ident, dataset)
            try:
                frame = pl.DataFrame(kind.to_columns(objects), schema=kind.polars_schema)
            except (OverflowError, TypeError, pl.exceptions.PolarsError) as exc:
                raise CatalogError(f"dataset {dataset}: a value does not fit the column type: {exc}") from None
        if frame.height == 0:
            return None
        directory = self.dataset_path(kind.data_type, ident)
        _recover_journal(directory)
        parts = self._load(directory, persist=True)
        pp, sp = self._resolve_precisions(kind, ident, dataset, price_precision, size_precision, data_precisions, parts)
        _check_frame_values(kind, frame, pp, sp, dataset)
        if not frame["ts_init"].is_sorted():
            frame = frame.sort("ts_init", maintain_order=True)
        metadata = {
            _META_VERSION: str(SCHEMA_VERSION),
            _META_DATA_TYPE: kind.data_type.value,
            _META_INSTRUMENT_ID: str(kind.instrument_id_of(ident)),
            _META_PRICE_PRECISION: str(pp),
            _META_SIZE_PRECISION: str(sp),
        }
        if isinstance(ident, BarType):
            metadata[_META_BAR_TYPE] = str(ident)
        table = frame.to_arrow().cast(kind.schema).replace_schema_metadata(metadata)
        first, last = frame["ts_init"][0], frame["ts_init"][-1]
        overlapping = {part.number: count for part in parts if (count := _rows_between(part, first, last))}
        removes: list[_Part] = []
        if overlapping:
            if not replace:
                filled = [p for p in parts if p.rows]
                raise CatalogError(
                    f"dataset {dataset}: the new rows span ts_init [{first}, {last}], which overlaps "
                    f"{sum(overlapping.values())} existing row(s) (the dataset spans "
                    f"[{min(p.first_ts for p in filled)}, {max(p.last_ts for p in filled)}]); "
                    "pass replace=True to replace the existing rows in that range, or append after the last ts_init"
                )
            # Rewrite whole clusters of overlapping parts, so ties between old rows keep their order.
            for cluster in _overlapping_clusters(p for p in parts if p.rows):
                if any(p.number in overlapping for p in cluster):
                    removes.extend(cluster)
            kept = [_trim_out(b, first, last) for b in self._part_batches(removes, None, None)]
            old = [pa.Table.from_batches([b]).replace_schema_metadata(metadata) for b in kept if b.num_rows]
            table = _sort_stable(pa.concat_tables([*old, table]).combine_chunks())
        paths = _commit_parts(directory, _split_table(table, self.max_rows_per_part), removes)
        self._load(directory, persist=True)  # the index now covers the new parts
        return paths[0]

    def consolidate(
        self,
        data_type: DataType | str | type,
        identifier: InstrumentId | BarType | str,
        target_rows: int | None = None,
    ) -> ConsolidationReport:
        """Merge runs of small adjacent parts into parts of up to `target_rows` rows (default max_rows_per_part).

        Parts whose ts_init spans overlap or touch are always merged together (and re-split at
        `target_rows`), so the rows and their order are the same after; each merged run is swapped
        in atomically through the journal. Returns what was removed and written.
        """
        kind = _kind(data_type)
        ident = kind.parse_id(identifier)
        target = self.max_rows_per_part if target_rows is None else target_rows
        if target <= 0:
            raise CatalogError(f"target_rows must be positive, got {target}")
        directory = self.dataset_path(kind.data_type, ident)
        _recover_journal(directory)
        source = self._source(kind, ident)
        before = source.parts
        groups: list[list[_Part]] = []
        rows = 0
        for cluster in _overlapping_clusters(p for p in before if p.rows):
            cluster_rows = sum(p.rows for p in cluster)
            if groups and rows + cluster_rows <= target and rows < target:
                groups[-1].extend(cluster)
                rows += cluster_rows
            else:
                groups.append(list(cluster))
                rows = cluster_rows
        removed: list[str] = []
        written: list[str] = []
        empty = [p for p in before if not p.rows]
        for group in groups:
            if len(group) < 2:
                continue
            metadata = group[0].metadata
            batches = list(self._part_batches(group, None, None))
            table = pa.Table.from_batches([b.replace_schema_metadata(metadata) for b in batches])
            paths = _commit_parts(directory, _split_table(table.combine_chunks(), target), group)
            removed.extend(p.path.name for p in group)
            written.extend(p.name for p in paths)
        if empty:
            _commit_parts(directory, [], empty)
            removed.extend(p.path.name for p in empty)
        after = self._load(directory, persist=True)
        return ConsolidationReport(
            data_type=kind.data_type,
            identifier=str(ident),
            rows=sum(p.rows for p in after),
            parts_before=len(before),
            parts_after=len(after),
            removed=tuple(removed),
            written=tuple(written),
        )

    def _resolve_precisions(
        self,
        kind: _DatasetKind,
        ident: DatasetId,
        dataset: str,
        price_precision: int | None,
        size_precision: int | None,
        data_precisions: tuple[int, int] | None,
        existing: list[_Part],
    ) -> tuple[int, int]:
        """The one price/size precision the data, the caller, the instrument and older parts agree on."""
        instrument_id = kind.instrument_id_of(ident)
        sources: list[tuple[str, int | None, int | None]] = []
        if data_precisions is not None:
            sources.append(("the data", *data_precisions))
        sources.append(("the arguments", price_precision, size_precision))
        instrument = self.instrument(instrument_id)
        if instrument is not None:
            sources.append((f"instrument {instrument_id}", instrument.price_precision, instrument.size_precision))
        if existing:
            meta = existing[0].metadata
            sources.append(("the existing parts", int(meta[_META_PRICE_PRECISION]), int(meta[_META_SIZE_PRECISION])))
        resolved: list[int] = []
        for position, what in ((1, "price_precision"), (2, "size_precision")):
            known = [(source[0], source[position]) for source in sources if source[position] is not None]
            if not known:
                raise CatalogError(
                    f"dataset {dataset}: {what} unknown: pass {what}= or write instrument {instrument_id} first"
                )
            first_label, first_value = known[0]
            for label, value in known[1:]:
                if value != first_value:
                    raise CatalogError(
                        f"dataset {dataset}: {what} {first_value} of {first_label} differs from {value} of {label}"
                    )
            if not isinstance(first_value, int) or not 0 <= first_value <= FIXED_PRECISION:
                raise CatalogError(f"dataset {dataset}: {what} {first_value!r} outside 0..{FIXED_PRECISION}")
            resolved.append(first_value)
        return resolved[0], resolved[1]

    # ---- dataset discovery ----------------------------------------------------------------------
    def _source(self, kind: _DatasetKind, ident: DatasetId) -> _Source:
        """The dataset's parts and metadata; CatalogError naming the available datasets if it has none."""
        parts = self._load(self.dataset_path(kind.data_type, ident))
        if not parts:
            available = [f"{i.data_type.value}/{i.identifier}" for i in self.list_datasets()]
            raise CatalogError(
                f"dataset {kind.data_type.value}/{ident} not found in {self.path} "
                f"(available: {', '.join(available) or 'none'})"
            )
        metadata = dict(parts[0].metadata)
        metadata[_META_IDENTIFIER] = str(ident)
        return _Source(kind, ident, parts, metadata)

    def _datasets(self) -> Iterator[tuple[_DatasetKind, str, list[_Part]]]:
        """(kind, identifier, parts) of every dataset directory that holds at least one part."""
        for data_type in DataType:
            base = self.path / data_type.value
            if not base.is_dir():
                continue
            for directory in sorted(base.iterdir()):
                if directory.is_dir() and not directory.name.startswith("."):
                    parts = self._load(directory)
                    if parts:
                        yield _KINDS[data_type], decode_dataset_dir(directory.name), parts

    def list_datasets(self) -> list[DatasetInfo]:
        """Every dataset in the catalog with its row count, part count, ts_init span and precisions."""
        infos: list[DatasetInfo] = []
        for kind, identifier, parts in self._datasets():
            meta = parts[0].metadata
            filled = [p for p in parts if p.rows]
            infos.append(
                DatasetInfo(
                    data_type=kind.data_type,
                    identifier=identifier,
                    rows=sum(p.rows for p in parts),
                    first_ts_init=min((p.first_ts for p in filled), default=None),
                    last_ts_init=max((p.last_ts for p in filled), default=None),
                    parts=len(parts),
                    price_precision=int(meta[_META_PRICE_PRECISION]),
                    size_precision=int(meta[_META_SIZE_PRECISION]),
                )
            )
        return infos

    def refresh_indexes(self) -> list[Path]:
        """Write `_index.json` of every dataset whose index is missing or stale; return the files written.

        Writes keep the index current by themselves, and readers work without one (reading the
        part footers once per `DataCatalog` object), so this is only useful for folders copied or
        assembled by other means.
        """
        written = []
        for data_type in DataType:
            base = self.path / data_type.value
            if not base.is_dir():
                continue
            for directory in sorted(base.iterdir()):
                if directory.is_dir() and not directory.name.startswith("."):
                    before = _file_signature(directory / INDEX_FILE)
                    if self._load(directory, persist=True) and _file_signature(directory / INDEX_FILE) != before:
                        written.append(directory / INDEX_FILE)
        return written

    # ---- reads ----------------------------------------------------------------------------------
    def _part_batches(
        self, parts: Sequence[_Part], start_ns: int | None, end_ns: int | None, batch_size: int = DEFAULT_BATCH_ROWS
    ) -> Iterator[pa.RecordBatch]:
        """Batches of some parts of one dataset in ts_init order (overlapping parts merged, ties by part number)."""
        if batch_size <= 0:
            raise CatalogError(f"batch_size must be positive, got {batch_size}")
        for cluster in _overlapping_clusters(p for p in parts if _in_range(p, start_ns, end_ns)):
            if len(cluster) == 1:
                yield from _iter_part(cluster[0], start_ns, end_ns, batch_size)
            else:
                ordered = sorted(cluster, key=attrgetter("number"))
                sources = [_iter_part(part, start_ns, end_ns, batch_size) for part in ordered]
                for _, batch in _merge_batches(sources):
                    yield batch

    def stream_batches(
        self,
        data_type: DataType | str | type,
        identifier: InstrumentId | BarType | str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        batch_size: int = DEFAULT_BATCH_ROWS,
    ) -> Iterator[pa.RecordBatch]:
        """Record batches of one dataset with start_ns <= ts_init <= end_ns, in ts_init order.

        Parts and row groups outside the range are skipped using the index of part spans and their
        statistics. Memory stays bounded. A missing dataset raises CatalogError here, at once.
        """
        kind = _kind(data_type)
        source = self._source(kind, kind.parse_id(identifier))
        return self._part_batches(source.parts, start_ns, end_ns, batch_size)

    def stream(
        self,
        requests: Sequence[Request],
        start_ns: int | None = None,
        end_ns: int | None = None,
        batch_size: int = DEFAULT_BATCH_ROWS,
    ) -> Iterator[pa.RecordBatch]:
        """Record batches of several datasets merged by ts_init (a k-way merge; memory stays bounded).

        Concatenating the rows of all batches gives every row with start_ns <= ts_init <= end_ns
        once, in ts_init order; equal ts_init come in `requests` order, then in stored row order.
        Every batch holds rows of one dataset in its raw schema, and its schema metadata names it:
        `toolkit.data_type`, `toolkit.identifier` and the price/size precisions (see `decode_batch`).
        Batches are cut where rows of other datasets come in between. Missing datasets raise
        CatalogError here, before the first batch is read.
        """
        sources = self._sources(requests)

        def tagged(source: _Source) -> Iterator[pa.RecordBatch]:
            for batch in self._part_batches(source.parts, start_ns, end_ns, batch_size):
                yield batch.replace_schema_metadata(source.metadata)

        return (batch for _, batch in _merge_batches([tagged(source) for source in sources]))

    def _sources(self, requests: Sequence[Request]) -> list[_Source]:
        if not requests:
            raise CatalogError("a read of several datasets needs at least one (data_type, identifier)")
        sources = []
        seen: set[tuple[DataType, str]] = set()
        for data_type, identifier in requests:
            kind = _kind(data_type)
            ident = kind.parse_id(identifier)
            key = (kind.data_type, str(ident))
            if key in seen:
                raise CatalogError(f"dataset {kind.data_type.value}/{ident} is requested twice")
            seen.add(key)
            sources.append(self._source(kind, ident))
        return sources

    def _read_table(self, source: _Source, start_ns: int | None, end_ns: int | None) -> pa.Table:
        """One dataset's rows within the range as one table (parts and row groups pruned; no metadata)."""
        tables = []
        for cluster in _overlapping_clusters(p for p in source.parts if _in_range(p, start_ns, end_ns)):
            if len(cluster) == 1:
                table = _read_part_range(cluster[0], start_ns, end_ns)
            else:
                table = pa.Table.from_batches(list(self._part_batches(cluster, start_ns, end_ns)))
            if table is not None and table.num_rows:
                tables.append(table.replace_schema_metadata(None))
        if not tables:
            return source.kind.schema.empty_table()
        return tables[0] if len(tables) == 1 else pa.concat_tables(tables)

    def query(
        self,
        data_type: DataType | str | type,
        identifiers: InstrumentId | BarType | str | Sequence[InstrumentId | BarType | str],
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> pl.DataFrame:
        """Rows with start_ns <= ts_init <= end_ns (both optional, inclusive) as a polars frame.

        One identifier gives the dataset's raw schema. A list of identifiers gives their rows merged
        by ts_init (equal ts_init in list order, then stored row order), with an `instrument_id`
        column first (`bar_type` for bars). Only the parts and row groups that can hold rows in the
        range are read.
        """
        kind = _kind(data_type)
        if _is_single_identifier(identifiers):
            table = self._read_table(self._source(kind, kind.parse_id(identifiers)), start_ns, end_ns)
            return pl.from_arrow(table)  # type: ignore[return-value]
        sources = self._sources([(kind.data_type, i) for i in identifiers])  # type: ignore[union-attr]
        frames = [
            pl.from_arrow(self._read_table(source, start_ns, end_ns)).select(  # type: ignore[union-attr]
                pl.lit(str(source.ident), pl.String).alias(kind.id_column), pl.all()
            )
            for source in sources
        ]
        return pl.concat(frames).sort("ts_init", maintain_order=True)

    def query_objects(
        self,
        data_type: DataType | str | type,
        identifier: InstrumentId | BarType | str,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> list[Any]:
        """One dataset (optionally a ts_init range) as a list of model objects."""
        return list(self.stream_objects([(data_type, identifier)], start_ns, end_ns))

    def stream_objects(
        self,
        requests: Sequence[Request],
        start_ns: int | None = None,
        end_ns: int | None = None,
        batch_size: int = DEFAULT_BATCH_ROWS,
    ) -> Iterator[Any]:
        """Objects of several datasets merged in ts_init order (ties as in `stream`).

        Missing datasets raise `CatalogError` here, before the first object is read.
        """
        return chain.from_iterable(self.stream_object_batches(requests, start_ns, end_ns, batch_size))

    def stream_object_batches(
        self,
        requests: Sequence[Request],
        start_ns: int | None = None,
        end_ns: int | None = None,
        batch_size: int = DEFAULT_BATCH_ROWS,
    ) -> Iterator[list[Any]]:
        """Like `stream_objects`, but yields lists of objects (for loops that want to avoid a call per item).

        The same k-way merge as `stream`, over batches decoded whole: each stored batch is decoded
        once, and the merged runs are joined into lists of about `batch_size` objects.
        """
        sources = self._sources(requests)
        chunks = [self._object_chunks(s, start_ns, end_ns, batch_size) for s in sources]
        if len(chunks) == 1:
            return (objects for objects, _ in chunks[0])
        return _merge_object_chunks(chunks, batch_size)

    def _object_chunks(
        self, source: _Source, start_ns: int | None, end_ns: int | None, batch_size: int
    ) -> Iterator[tuple[list[Any], list[int]]]:
        decode, ident = source.kind.decode, source.ident
        pp, sp = source.price_precision, source.size_precision
        for batch in self._part_batches(source.parts, start_ns, end_ns, batch_size):
            yield decode(batch, ident, pp, sp)


def _rows_between(part: _Part, first: int, last: int) -> int:
    """Rows of a part with first <= ts_init <= last (from the index where possible, else its ts_init column)."""
    if not part.rows or part.last_ts < first or part.first_ts > last:
        return 0
    count = 0
    unknown = []
    for group in part.row_groups:
        if not group.rows:
            continue
        if group.first_ts is None or group.last_ts is None:
            unknown.append(group.index)
        elif first <= group.first_ts and group.last_ts <= last:
            count += group.rows
        elif not (group.last_ts < first or group.first_ts > last):
            unknown.append(group.index)
    if unknown:
        try:
            with pq.ParquetFile(part.path) as parquet:
                ts = parquet.read_row_groups(unknown, columns=["ts_init"]).column("ts_init")
        except (OSError, pa.ArrowException) as exc:
            raise _unreadable(part.path, exc) from None
        count += pc.sum(pc.and_(pc.greater_equal(ts, first), pc.less_equal(ts, last))).as_py() or 0
    return count


def _trim_out(batch: pa.RecordBatch, first: int, last: int) -> pa.RecordBatch:
    """The rows of a sorted batch outside [first, last]."""
    ts = batch.column("ts_init")
    lo = _count_before(ts, first, inclusive=False)
    hi = _count_before(ts, last, inclusive=True)
    if lo == hi:
        return batch
    return pa.concat_batches([batch.slice(0, lo), batch.slice(hi)])


def _object_precisions(
    kind: _DatasetKind, objects: list[Any], ident: DatasetId, dataset: str
) -> tuple[int, int] | None:
    """The single price/size precision of a list of objects, which must all belong to the dataset."""
    for index, obj in enumerate(objects):
        if type(obj) is not kind.object_type:
            raise CatalogError(
                f"dataset {dataset}: item {index} is a {type(obj).__name__}, expected {kind.object_type.__name__}"
            )
        if kind.object_id(obj) != ident:
            raise CatalogError(f"dataset {dataset}: item {index} belongs to {kind.object_id(obj)}, not {ident}")
    priced = objects if kind.precision_free is None else [o for o in objects if not kind.precision_free(o)]
    if not priced:
        return None
    price_precisions = set(map(attrgetter("price_precision"), priced))
    size_precisions = set(map(attrgetter("size_precision"), priced))
    if len(price_precisions) > 1 or len(size_precisions) > 1:
        raise CatalogError(
            f"dataset {dataset}: the objects mix precisions (price {sorted(price_precisions)}, "
            f"size {sorted(size_precisions)})"
        )
    return price_precisions.pop(), size_precisions.pop()


_INT_RANGES: dict[pa.DataType, tuple[int, int]] = {
    pa.int64(): (-(2**63), 2**63 - 1),
    pa.uint64(): (0, 2**64 - 1),
    pa.uint32(): (0, 2**32 - 1),
    pa.uint8(): (0, 2**8 - 1),
}


def _conform_frame(kind: _DatasetKind, frame: pl.DataFrame, dataset: str) -> pl.DataFrame:
    """Select and cast a caller's frame to the raw schema; refuse missing/extra columns, nulls and out-of-range ints."""
    names = kind.schema.names
    missing = [n for n in names if n not in frame.columns]
    extra = [n for n in frame.columns if n not in names]
    if missing or extra:
        raise CatalogError(
            f"dataset {dataset}: frame columns do not match the {kind.data_type.value} schema {names} "
            f"(missing: {missing or 'none'}, unexpected: {extra or 'none'})"
        )
    codes = dict(kind.code_columns)
    exprs = []
    for field in kind.schema:
        dtype = frame.schema[field.name]
        column = pl.col(field.name)
        is_text = dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)
        if field.name in codes and is_text:
            mapping = codes[field.name]
            bad = _first_true(frame, column.is_not_null() & ~column.cast(pl.String).is_in(list(mapping)))
            if bad is not None:
                raise CatalogError(
                    f"dataset {dataset}: row {bad}: {field.name} {frame[field.name][bad]!r} is not one of "
                    f"{', '.join(mapping)}"
                )
            exprs.append(column.cast(pl.String).replace_strict(mapping, return_dtype=_PL_TYPES[field.type]))
        elif pa.types.is_integer(field.type):
            if not dtype.is_integer():
                raise CatalogError(
                    f"dataset {dataset}: column '{field.name}' must hold integers (raw fixed-point or ns), got {dtype}"
                )
            lo, hi = _INT_RANGES[field.type]
            bad = _first_true(frame, (column < lo) | (column > hi)) if frame.height else None
            if bad is not None:
                raise CatalogError(
                    f"dataset {dataset}: row {bad}: {field.name} {frame[field.name][bad]} outside the {field.type} "
                    f"range {lo}..{hi}"
                )
            exprs.append(column.cast(_PL_TYPES[field.type]))
        else:
            if not is_text:
                raise CatalogError(f"dataset {dataset}: column '{field.name}' must hold strings, got {dtype}")
            exprs.append(column.cast(pl.String))
    try:
        out = frame.select(exprs)
    except pl.exceptions.PolarsError as exc:
        raise CatalogError(f"dataset {dataset}: cannot convert the frame to the raw schema: {exc}") from None
    nulls = [name for name, count in zip(out.columns, out.null_count().row(0), strict=True) if count]
    if nulls:
        raise CatalogError(f"dataset {dataset}: null values in column(s) {', '.join(nulls)}")
    return out


def _check_frame_values(
    kind: _DatasetKind, frame: pl.DataFrame, price_precision: int, size_precision: int, dataset: str
) -> None:
    """Refuse values off the precision grid, negative sizes or timestamps, and type-specific errors."""
    for columns, precision, what in (
        (kind.price_columns, price_precision, "price_precision"),
        (kind.size_columns, size_precision, "size_precision"),
    ):
        step = 10 ** (FIXED_PRECISION - precision)
        if step == 1:
            continue
        for column in columns:
            bad = _first_true(frame, pl.col(column) % step != 0)
            if bad is not None:
                raise CatalogError(
                    f"dataset {dataset}: row {bad}: {column} raw {frame[column][bad]} has more decimals than "
                    f"{what}={precision}"
                )
    for column in (*kind.size_columns, "ts_event", "ts_init"):
        bad = _first_true(frame, pl.col(column) < 0)
        if bad is not None:
            raise CatalogError(f"dataset {dataset}: row {bad}: {column} {frame[column][bad]} is negative")
    kind.check_rows(frame, dataset)
