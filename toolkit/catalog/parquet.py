"""The Parquet `DataCatalog`: one dataset of append-only part files per data type and instrument or bar type.

Layout under the catalog root (directory names are the identifiers percent-encoded, so
`GBP/USD.SIM` is stored as `GBP%2FUSD.SIM` and decodes back exactly):

    quotes/{instrument_id}/part-00000.parquet, part-00001.parquet, ...
    trades/{instrument_id}/part-NNNNN.parquet
    bars/{bar_type}/part-NNNNN.parquet
    instruments/instruments.json      (Instrument.to_dict records, read back with instrument_from_dict)

Prices and sizes are int64 raw fixed-point values (`Price.raw`, value * 10**9) and timestamps int64
nanoseconds; each part's Parquet schema metadata records `toolkit.schema_version`, the data type,
the instrument id (and bar type), and the price and size precisions, which every part of a dataset
and the instrument definition must agree on. Every write adds one part, sorted by `ts_init` and
written atomically (temp file, then link/rename), and never rewrites older parts. Reads stream Arrow
batches in `ts_init` order (row groups pruned by their statistics, overlapping parts merged, ties in
write order) and decode them into `QuoteTick`/`TradeTick`/`Bar` objects column-wise; `stream_objects`
merges several datasets by `ts_init`, ties in the order the datasets were requested.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from itertools import chain, repeat
from operator import attrgetter
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote, unquote

import msgspec
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from toolkit.model.data import Bar, BarType, QuoteTick, TradeTick
from toolkit.model.enums import AggressorSide
from toolkit.model.identifiers import InstrumentId, TradeId
from toolkit.model.instruments import Instrument, instrument_from_dict
from toolkit.model.objects import FIXED_PRECISION

SCHEMA_VERSION = 1
"""Version of the on-disk schema, stored as `toolkit.schema_version` in every part and in instruments.json."""

ROW_GROUP_ROWS = 65_536
DEFAULT_BATCH_ROWS = 65_536
PART_PREFIX = "part-"
PART_SUFFIX = ".parquet"
INSTRUMENTS_FILE = "instruments.json"

_META_VERSION = "toolkit.schema_version"
_META_DATA_TYPE = "toolkit.data_type"
_META_INSTRUMENT_ID = "toolkit.instrument_id"
_META_BAR_TYPE = "toolkit.bar_type"
_META_PRICE_PRECISION = "toolkit.price_precision"
_META_SIZE_PRECISION = "toolkit.size_precision"

_LITTLE_ENDIAN = sys.byteorder == "little"


class CatalogError(ValueError):
    """A catalog operation was refused or found inconsistent data; the message names the dataset."""


class DataType(StrEnum):
    """Kinds of datasets the catalog holds; the value is the top-level directory name."""

    QUOTES = "quotes"
    TRADES = "trades"
    BARS = "bars"


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

DatasetId = InstrumentId | BarType
MarketData = QuoteTick | TradeTick | Bar


# ---- identifiers <-> directory names ------------------------------------------------------------


def encode_dataset_dir(identifier: str) -> str:
    """Directory name for an identifier: percent-encode everything but letters, digits and `-_.~+=@,`."""
    name = quote(str(identifier), safe="-_.~+=@,")
    return "%2E" + name[1:] if name.startswith(".") else name


def decode_dataset_dir(name: str) -> str:
    """Inverse of `encode_dataset_dir`."""
    return unquote(name)


# ---- decoding Arrow batches into objects --------------------------------------------------------


def _int_list(array: pa.Array) -> list[int]:
    """The values of an int64 column as Python ints, read straight from the Arrow buffer when possible."""
    count = len(array)
    if count and _LITTLE_ENDIAN and array.null_count == 0 and pa.types.is_int64(array.type):
        start = array.offset * 8
        return memoryview(array.buffers()[1])[start : start + count * 8].cast("q").tolist()
    return array.to_pylist()


def _columns(batch: pa.RecordBatch, names: Sequence[str]) -> list[list[int]]:
    return [_int_list(batch.column(name)) for name in names]


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


# ---- objects -> columns -------------------------------------------------------------------------


def _quote_columns(quotes: Sequence[QuoteTick]) -> dict[str, list[Any]]:
    fields = ("bid_raw", "ask_raw", "bid_size_raw", "ask_size_raw", "ts_event", "ts_init")
    return {name: list(map(attrgetter(field), quotes)) for name, field in zip(QUOTE_SCHEMA.names, fields, strict=True)}


def _trade_columns(trades: Sequence[TradeTick]) -> dict[str, list[Any]]:
    return {
        "price": [t.price_raw for t in trades],
        "size": [t.size_raw for t in trades],
        "aggressor_side": [t.aggressor_side.value for t in trades],
        "trade_id": [str(t.trade_id) for t in trades],
        "ts_event": [t.ts_event for t in trades],
        "ts_init": [t.ts_init for t in trades],
    }


def _bar_columns(bars: Sequence[Bar]) -> dict[str, list[Any]]:
    fields = ("open_raw", "high_raw", "low_raw", "close_raw", "volume_raw", "ts_event", "ts_init")
    return {name: list(map(attrgetter(field), bars)) for name, field in zip(BAR_SCHEMA.names, fields, strict=True)}


# ---- per data type row checks -------------------------------------------------------------------


def _first_true(frame: pl.DataFrame, condition: pl.Expr) -> int | None:
    """Row index of the first row where `condition` holds, or None."""
    return frame.select(condition.arg_true().first()).item()


def _check_quote_rows(frame: pl.DataFrame, dataset: str) -> None:
    """Quotes need no cross-column rule: real feeds do publish crossed or locked books."""


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


# ---- the data type registry ---------------------------------------------------------------------


def _parse_instrument_id(value: Any) -> InstrumentId:
    return InstrumentId(str(value))


def _parse_bar_type(value: Any) -> BarType:
    return value if isinstance(value, BarType) else BarType.from_str(str(value))


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

    @property
    def polars_schema(self) -> dict[str, type[pl.DataType]]:
        return {f.name: pl.Int64 if pa.types.is_integer(f.type) else pl.String for f in self.schema}

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
        _check_quote_rows,
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
    """Decode a frame in the raw schema of `data_type` into `QuoteTick`/`TradeTick`/`Bar` objects."""
    kind = _kind(data_type)
    ident = kind.parse_id(identifier)
    table = frame.to_arrow() if isinstance(frame, pl.DataFrame) else frame
    objects: list[Any] = []
    for batch in table.select(kind.schema.names).to_batches():
        objects.extend(kind.decode(batch, ident, price_precision, size_precision)[0])
    return objects


# ---- parts on disk ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _RowGroupSpan:
    index: int
    rows: int
    first_ts: int | None
    last_ts: int | None


@dataclass(frozen=True, slots=True)
class _Part:
    path: Path
    number: int
    rows: int
    first_ts: int
    last_ts: int
    row_groups: tuple[_RowGroupSpan, ...]


def _part_number(path: Path) -> int | None:
    stem = path.name[len(PART_PREFIX) : -len(PART_SUFFIX)]
    return (
        int(stem) if path.name.startswith(PART_PREFIX) and path.name.endswith(PART_SUFFIX) and stem.isdigit() else None
    )


def _part_paths(directory: Path) -> list[tuple[int, Path]]:
    if not directory.is_dir():
        return []
    numbered = [(_part_number(p), p) for p in directory.iterdir()]
    return sorted((n, p) for n, p in numbered if n is not None)


def _read_part(path: Path, number: int) -> _Part:
    metadata = pq.read_metadata(path)
    column = metadata.schema.to_arrow_schema().get_field_index("ts_init")
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
        first = min((s.first_ts for s in known), default=0)
        last = max((s.last_ts for s in known), default=0)
    return _Part(path, number, metadata.num_rows, first or 0, last or 0, tuple(spans))


def _decode_metadata(path: Path, raw: dict[bytes, bytes] | None) -> dict[str, str]:
    meta = {k.decode(): v.decode() for k, v in (raw or {}).items() if k.startswith(b"toolkit.")}
    version = meta.get(_META_VERSION)
    if version is None:
        raise CatalogError(f"{path}: no {_META_VERSION} in the Parquet metadata: not written by this catalog")
    if int(version) != SCHEMA_VERSION:
        raise CatalogError(f"{path}: schema version {version} is not supported (this toolkit reads {SCHEMA_VERSION})")
    return meta


def _write_part(directory: Path, table: pa.Table) -> Path:
    """Write `table` as the next part of `directory`: temp file, fsync, then link to a free part name."""
    directory.mkdir(parents=True, exist_ok=True)
    # Hidden and without the .parquet suffix, so no reader glob ever picks up a half-written file.
    temp = directory / f".tmp-{uuid.uuid4().hex}.partial"
    try:
        pq.write_table(table, temp, compression="zstd", row_group_size=ROW_GROUP_ROWS)
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        parts = _part_paths(directory)
        number = parts[-1][0] + 1 if parts else 0
        while True:
            final = directory / f"{PART_PREFIX}{number:05d}{PART_SUFFIX}"
            try:
                # A hard link never replaces an existing part, even with a concurrent writer.
                os.link(temp, final)
                return final
            except FileExistsError:
                number += 1
            except OSError:
                if final.exists():
                    number += 1
                    continue
                os.replace(temp, final)
                return final
    finally:
        temp.unlink(missing_ok=True)


# ---- merging sorted chunks by ts_init ------------------------------------------------------------

ChunkT = TypeVar("ChunkT")
OutputT = TypeVar("OutputT")


@dataclass(frozen=True, slots=True)
class _ChunkOps(Generic[ChunkT, OutputT]):
    """How `_merge_sorted_chunks` inspects, cuts and joins one kind of chunk."""

    last_ts: Callable[[ChunkT], int]
    count_before: Callable[[ChunkT, int], int]
    split: Callable[[ChunkT, int], tuple[ChunkT, ChunkT]]
    concat: Callable[[list[ChunkT]], ChunkT]
    emit: Callable[[ChunkT], OutputT]
    merge: Callable[[list[ChunkT]], OutputT]
    size: Callable[[ChunkT], int]


def _merge_sorted_chunks(sources: Sequence[Iterator[ChunkT]], ops: _ChunkOps[ChunkT, OutputT]) -> Iterator[OutputT]:
    """Merge sources of ts_init-sorted chunks into ts_init order; equal ts_init keep source order.

    Everything strictly before the smallest "last ts_init" held by a live source is safe to emit;
    the sources holding only that frontier timestamp pull their next chunk. Memory stays around one
    chunk per source (plus runs of one timestamp).
    """
    count = len(sources)
    buffers: list[ChunkT | None] = [None] * count
    live = [True] * count

    def refill(i: int) -> None:
        for chunk in sources[i]:
            if ops.size(chunk):
                held = buffers[i]
                buffers[i] = chunk if held is None else ops.concat([held, chunk])
                return
        live[i] = False

    for i in range(count):
        refill(i)
    while True:
        holding = [i for i in range(count) if buffers[i] is not None]
        if not holding:
            return
        if len(holding) == 1 and sum(live) <= 1:
            only = holding[0]
            yield ops.emit(buffers[only])  # type: ignore[arg-type]
            buffers[only] = None
            if live[only]:
                for chunk in sources[only]:
                    if ops.size(chunk):
                        yield ops.emit(chunk)
            return
        live_holding = [i for i in holding if live[i]]
        if not live_holding:
            yield ops.merge([buffers[i] for i in holding])  # type: ignore[misc]
            return
        frontier = min(ops.last_ts(buffers[i]) for i in live_holding)  # type: ignore[arg-type]
        heads: list[ChunkT] = []
        for i in holding:
            held: ChunkT = buffers[i]  # type: ignore[assignment]
            cut = ops.count_before(held, frontier)
            if cut:
                head, tail = ops.split(held, cut)
                heads.append(head)
                buffers[i] = tail if ops.size(tail) else None
        if len(heads) == 1:
            yield ops.emit(heads[0])
        elif heads:
            yield ops.merge(heads)
        for i in live_holding:
            held_now = buffers[i]
            if held_now is None or ops.last_ts(held_now) == frontier:
                refill(i)


ObjectChunk = tuple[list[Any], list[int]]
_ts_init_key = attrgetter("ts_init")


def _merge_object_chunks(chunks: list[ObjectChunk]) -> list[Any]:
    merged = list(chain.from_iterable(objects for objects, _ in chunks))
    merged.sort(key=_ts_init_key)  # stable: equal ts_init keep source order
    return merged


_OBJECT_OPS: _ChunkOps[ObjectChunk, list[Any]] = _ChunkOps(
    last_ts=lambda chunk: chunk[1][-1],
    count_before=lambda chunk, ts: bisect_left(chunk[1], ts),
    split=lambda chunk, n: ((chunk[0][:n], chunk[1][:n]), (chunk[0][n:], chunk[1][n:])),
    concat=lambda chunks: (
        list(chain.from_iterable(c[0] for c in chunks)),
        list(chain.from_iterable(c[1] for c in chunks)),
    ),
    emit=lambda chunk: chunk[0],
    merge=_merge_object_chunks,
    size=lambda chunk: len(chunk[1]),
)


def _merge_tables(tables: list[pa.Table]) -> pa.Table:
    table = pa.concat_tables(tables)
    return table.take(pc.sort_indices(table, sort_keys=[("ts_init", "ascending")]))  # stable sort


_TABLE_OPS: _ChunkOps[pa.Table, pa.Table] = _ChunkOps(
    last_ts=lambda table: table.column("ts_init")[-1].as_py(),
    count_before=lambda table, ts: pc.sum(pc.less(table.column("ts_init"), ts)).as_py() or 0,
    split=lambda table, n: (table.slice(0, n), table.slice(n)),
    concat=pa.concat_tables,
    emit=lambda table: table,
    merge=_merge_tables,
    size=lambda table: table.num_rows,
)


# ---- the catalog --------------------------------------------------------------------------------


class DataCatalog:
    """A folder of Parquet datasets (see the module docstring for the layout) with write, query and stream."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

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
        document = {_META_VERSION: SCHEMA_VERSION, "instruments": records}
        target = self.instruments_path
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".tmp-{uuid.uuid4().hex}.json")
        try:
            temp.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        return target

    def instruments(self, instrument_ids: Iterable[InstrumentId | str] | None = None) -> list[Instrument]:
        """Stored instrument definitions, sorted by id (only `instrument_ids` when given)."""
        path = self.instruments_path
        if not path.is_file():
            return []
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            version = document.get(_META_VERSION)
            records = document["instruments"]
        except (ValueError, KeyError, AttributeError) as exc:
            raise CatalogError(f"{path}: not an instruments file of this catalog ({exc})") from None
        if version != SCHEMA_VERSION:
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
        for kind, identifier, directory in self._dataset_dirs():
            if kind.instrument_id_of(kind.parse_id(identifier)) != instrument.id:
                continue
            first = _part_paths(directory)[0][1]
            meta = _decode_metadata(first, pq.read_schema(first).metadata)
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
    ) -> Path | None:
        """Append quotes (objects, or a frame in the raw quote schema) as a new part; None if empty."""
        return self.write(DataType.QUOTES, instrument_id, data, price_precision, size_precision)

    def write_trades(
        self,
        instrument_id: InstrumentId | str,
        data: Sequence[TradeTick] | pl.DataFrame,
        *,
        price_precision: int | None = None,
        size_precision: int | None = None,
    ) -> Path | None:
        """Append trades (objects, or a frame in the raw trade schema) as a new part; None if empty."""
        return self.write(DataType.TRADES, instrument_id, data, price_precision, size_precision)

    def write_bars(
        self,
        bar_type: BarType | str,
        data: Sequence[Bar] | pl.DataFrame,
        *,
        price_precision: int | None = None,
        size_precision: int | None = None,
    ) -> Path | None:
        """Append bars (objects, or a frame in the raw bar schema) as a new part; None if empty."""
        return self.write(DataType.BARS, bar_type, data, price_precision, size_precision)

    def write(
        self,
        data_type: DataType | str | type,
        identifier: InstrumentId | BarType | str,
        data: Sequence[Any] | pl.DataFrame,
        price_precision: int | None = None,
        size_precision: int | None = None,
    ) -> Path | None:
        """Validate, sort by ts_init (stably) and append `data` as one new part of the dataset."""
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
            frame = pl.DataFrame(kind.to_columns(objects), schema=kind.polars_schema)
        if frame.height == 0:
            return None
        pp, sp = self._resolve_precisions(kind, ident, dataset, price_precision, size_precision, data_precisions)
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
        return _write_part(self.dataset_path(kind.data_type, ident), table)

    def _resolve_precisions(
        self,
        kind: _DatasetKind,
        ident: DatasetId,
        dataset: str,
        price_precision: int | None,
        size_precision: int | None,
        data_precisions: tuple[int, int] | None,
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
        existing = self._dataset_metadata(kind, ident)
        if existing is not None:
            sources.append(
                (
                    "the existing parts",
                    int(existing[_META_PRICE_PRECISION]),
                    int(existing[_META_SIZE_PRECISION]),
                )
            )
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
    def _parts(self, kind: _DatasetKind, ident: DatasetId) -> list[_Part]:
        return [_read_part(path, number) for number, path in _part_paths(self.dataset_path(kind.data_type, ident))]

    def _dataset_metadata(self, kind: _DatasetKind, ident: DatasetId) -> dict[str, str] | None:
        parts = _part_paths(self.dataset_path(kind.data_type, ident))
        if not parts:
            return None
        path = parts[0][1]
        return _decode_metadata(path, pq.read_schema(path).metadata)

    def _require_dataset(self, kind: _DatasetKind, ident: DatasetId) -> tuple[list[_Part], dict[str, str]]:
        parts = self._parts(kind, ident)
        if not parts:
            available = [f"{i.data_type.value}/{i.identifier}" for i in self.list_datasets()]
            raise CatalogError(
                f"dataset {kind.data_type.value}/{ident} not found in {self.path} "
                f"(available: {', '.join(available) or 'none'})"
            )
        metadata = _decode_metadata(parts[0].path, pq.read_schema(parts[0].path).metadata)
        return parts, metadata

    def _dataset_dirs(self) -> Iterator[tuple[_DatasetKind, str, Path]]:
        """(kind, identifier, directory) of every dataset directory that holds at least one part."""
        for data_type in DataType:
            base = self.path / data_type.value
            if not base.is_dir():
                continue
            for directory in sorted(base.iterdir()):
                if directory.is_dir() and not directory.name.startswith(".") and _part_paths(directory):
                    yield _KINDS[data_type], decode_dataset_dir(directory.name), directory

    def list_datasets(self) -> list[DatasetInfo]:
        """Every dataset in the catalog with its row count, part count, ts_init span and precisions."""
        infos: list[DatasetInfo] = []
        for kind, identifier, directory in self._dataset_dirs():
            parts = [_read_part(path, number) for number, path in _part_paths(directory)]
            meta = _decode_metadata(parts[0].path, pq.read_schema(parts[0].path).metadata)
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

    # ---- reads ----------------------------------------------------------------------------------
    def stream_batches(
        self,
        data_type: DataType | str | type,
        identifier: InstrumentId | BarType | str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        batch_size: int = DEFAULT_BATCH_ROWS,
    ) -> Iterator[pa.RecordBatch]:
        """Record batches of one dataset with start_ns <= ts_init <= end_ns, in ts_init order.

        Parts and row groups outside the range are skipped using their statistics; parts whose
        spans overlap are merged (equal ts_init in write order). Memory stays bounded.
        """
        kind = _kind(data_type)
        parts, _ = self._require_dataset(kind, kind.parse_id(identifier))
        return self._stream_parts(parts, start_ns, end_ns, batch_size)

    def _stream_parts(
        self, parts: list[_Part], start_ns: int | None, end_ns: int | None, batch_size: int
    ) -> Iterator[pa.RecordBatch]:
        if batch_size <= 0:
            raise CatalogError(f"batch_size must be positive, got {batch_size}")
        wanted = [
            p
            for p in parts
            if p.rows
            and not ((start_ns is not None and p.last_ts < start_ns) or (end_ns is not None and p.first_ts > end_ns))
        ]
        for cluster in _overlapping_clusters(wanted):
            if len(cluster) == 1:
                yield from _iter_part(cluster[0], start_ns, end_ns, batch_size)
                continue
            sources = [
                (pa.Table.from_batches([b]) for b in _iter_part(part, start_ns, end_ns, batch_size))
                for part in sorted(cluster, key=attrgetter("number"))
            ]
            for table in _merge_sorted_chunks(sources, _TABLE_OPS):
                yield from table.combine_chunks().to_batches(max_chunksize=batch_size)

    def query(
        self,
        data_type: DataType | str | type,
        identifier: InstrumentId | BarType | str,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> pl.DataFrame:
        """One dataset (optionally a ts_init range, both ends inclusive) as a polars frame in the raw schema."""
        kind = _kind(data_type)
        batches = list(self.stream_batches(kind.data_type, identifier, start_ns, end_ns))
        if not batches:
            return pl.DataFrame(schema=kind.polars_schema)
        table = pa.Table.from_batches([b.replace_schema_metadata(None) for b in batches])
        return pl.from_arrow(table)  # type: ignore[return-value]

    def query_objects(
        self,
        data_type: DataType | str | type,
        identifier: InstrumentId | BarType | str,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> list[Any]:
        """One dataset (optionally a ts_init range) as a list of QuoteTick, TradeTick or Bar."""
        return list(self.stream_objects([(data_type, identifier)], start_ns, end_ns))

    def stream_objects(
        self,
        requests: Sequence[tuple[DataType | str | type, InstrumentId | BarType | str]],
        start_ns: int | None = None,
        end_ns: int | None = None,
        batch_size: int = DEFAULT_BATCH_ROWS,
    ) -> Iterator[Any]:
        """Objects of several datasets merged in ts_init order (equal ts_init: in `requests` order).

        Missing datasets raise `CatalogError` here, before the first object is read.
        """
        return chain.from_iterable(self.stream_object_batches(requests, start_ns, end_ns, batch_size))

    def stream_object_batches(
        self,
        requests: Sequence[tuple[DataType | str | type, InstrumentId | BarType | str]],
        start_ns: int | None = None,
        end_ns: int | None = None,
        batch_size: int = DEFAULT_BATCH_ROWS,
    ) -> Iterator[list[Any]]:
        """Like `stream_objects`, but yields lists of objects (for loops that want to avoid a call per item)."""
        if not requests:
            raise CatalogError("stream_objects needs at least one (data_type, identifier) request")
        sources = [self._object_chunks(data_type, ident, start_ns, end_ns, batch_size) for data_type, ident in requests]
        if len(sources) == 1:
            return (objects for objects, _ in sources[0])
        return _merge_sorted_chunks(sources, _OBJECT_OPS)

    def _object_chunks(
        self,
        data_type: DataType | str | type,
        identifier: InstrumentId | BarType | str,
        start_ns: int | None,
        end_ns: int | None,
        batch_size: int,
    ) -> Iterator[ObjectChunk]:
        kind = _kind(data_type)
        ident = kind.parse_id(identifier)
        # Resolve the dataset now, so a missing dataset fails when the stream is built.
        parts, metadata = self._require_dataset(kind, ident)
        price_precision = int(metadata[_META_PRICE_PRECISION])
        size_precision = int(metadata[_META_SIZE_PRECISION])
        batches = self._stream_parts(parts, start_ns, end_ns, batch_size)
        return (kind.decode(batch, ident, price_precision, size_precision) for batch in batches)


def _overlapping_clusters(parts: list[_Part]) -> list[list[_Part]]:
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


def _iter_part(part: _Part, start_ns: int | None, end_ns: int | None, batch_size: int) -> Iterator[pa.RecordBatch]:
    """Batches of one sorted part within [start_ns, end_ns], reading only row groups that can match."""
    groups = [
        g.index
        for g in part.row_groups
        if g.rows
        and not (
            g.first_ts is not None
            and ((start_ns is not None and g.last_ts < start_ns) or (end_ns is not None and g.first_ts > end_ns))
        )
    ]
    if not groups:
        return
    with pq.ParquetFile(part.path) as parquet:
        for batch in parquet.iter_batches(batch_size=batch_size, row_groups=groups):
            if not batch.num_rows:
                continue
            ts = batch.column("ts_init")
            first, last = ts[0].as_py(), ts[-1].as_py()
            if end_ns is not None and first > end_ns:
                return
            if (start_ns is not None and first < start_ns) or (end_ns is not None and last > end_ns):
                mask = None
                if start_ns is not None:
                    mask = pc.greater_equal(ts, start_ns)
                if end_ns is not None:
                    upper = pc.less_equal(ts, end_ns)
                    mask = upper if mask is None else pc.and_(mask, upper)
                batch = batch.filter(mask)
                if not batch.num_rows:
                    continue
            yield batch


def _object_precisions(kind: _DatasetKind, objects: list[Any], ident: DatasetId, dataset: str) -> tuple[int, int]:
    """The single price/size precision of a list of objects, which must all belong to the dataset."""
    for index, obj in enumerate(objects):
        if type(obj) is not kind.object_type:
            raise CatalogError(
                f"dataset {dataset}: item {index} is a {type(obj).__name__}, expected {kind.object_type.__name__}"
            )
        if kind.object_id(obj) != ident:
            raise CatalogError(f"dataset {dataset}: item {index} belongs to {kind.object_id(obj)}, not {ident}")
    price_precisions = set(map(attrgetter("price_precision"), objects))
    size_precisions = set(map(attrgetter("size_precision"), objects))
    if len(price_precisions) > 1 or len(size_precisions) > 1:
        raise CatalogError(
            f"dataset {dataset}: the objects mix precisions (price {sorted(price_precisions)}, "
            f"size {sorted(size_precisions)})"
        )
    return price_precisions.pop(), size_precisions.pop()


def _conform_frame(kind: _DatasetKind, frame: pl.DataFrame, dataset: str) -> pl.DataFrame:
    """Select and cast a caller's frame to the raw schema; refuse missing/extra columns and nulls."""
    names = kind.schema.names
    missing = [n for n in names if n not in frame.columns]
    extra = [n for n in frame.columns if n not in names]
    if missing or extra:
        raise CatalogError(
            f"dataset {dataset}: frame columns do not match the {kind.data_type.value} schema {names} "
            f"(missing: {missing or 'none'}, unexpected: {extra or 'none'})"
        )
    exprs = []
    for field in kind.schema:
        dtype = frame.schema[field.name]
        if pa.types.is_integer(field.type):
            if not dtype.is_integer():
                raise CatalogError(
                    f"dataset {dataset}: column '{field.name}' must hold integers (raw fixed-point or ns), got {dtype}"
                )
            exprs.append(pl.col(field.name).cast(pl.Int64))
        else:
            if dtype not in (pl.String, pl.Categorical) and not isinstance(dtype, pl.Enum):
                raise CatalogError(f"dataset {dataset}: column '{field.name}' must hold strings, got {dtype}")
            exprs.append(pl.col(field.name).cast(pl.String))
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
