"""Loaders for Tardis.dev CSV datasets: book_snapshot_N, incremental_book_L2 and trades.

Every Tardis CSV has `exchange,symbol,timestamp,local_timestamp,...`: `timestamp` is the exchange's
time of the event and `local_timestamp` the time Tardis received it, both epoch microseconds, so
ts_event = timestamp * 1000 and ts_init = local_timestamp * 1000 (ns). A file holds one symbol (a
second symbol is refused). Tardis publishes no sequence numbers: book data get sequence 0.

book_snapshot_25 (`read_tardis_book_snapshot`; also 5 and 10 levels): `asks[i].price`,
`asks[i].amount`, `bids[i].price`, `bids[i].amount`, best level first; a level beyond the book's
depth has both fields empty. `into="depth10"` (the default) keeps the top 10 levels of each side as
one `depth10` row per line (empty levels: price 0, size 0; counts 0 as Tardis gives none; flags
FLAG_SNAPSHOT | FLAG_LAST). `into="deltas"` keeps every level: per line a CLEAR, then one ADD per
bid level then per ask level, all FLAG_SNAPSHOT, the last one also FLAG_LAST.

incremental_book_L2 (`read_tardis_incremental_book_l2`): `is_snapshot,side,price,amount` with side
`bid`/`ask` and amount the new total size of the level (0 removes it). Snapshot rows
(`is_snapshot=true`) following non-snapshot rows (or starting the file) rebuild the book: a CLEAR
first, then ADDs flagged FLAG_SNAPSHOT. Other rows become DELETE (amount 0), UPDATE (level in the
book) or ADD (new level). An event is a run of rows with the same timestamp, local_timestamp and
is_snapshot; its last delta has FLAG_LAST.

trades (`read_tardis_trades`): `id,side,price,amount`; side `buy` -> aggressor BUYER, `sell` ->
SELLER, `unknown` (or empty) -> NO_AGGRESSOR; trade_id = `id`, or `{timestamp}-{n}` (n = 0, 1, ...
among the trades of that exchange timestamp) when the exchange gives none.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import polars as pl

from toolkit.catalog.loaded import ROW, LoadedData, LoaderError, PathLike
from toolkit.catalog.loaders import (
    ASK_CODE,
    BID_CODE,
    DELTA_COLUMNS,
    SOURCE_ROW,
    DecimalColumns,
    first_bad,
    level_deltas,
    parse_booleans,
    parse_choices,
    parse_epoch,
    read_csv_text,
    resolve_columns,
    single_value_column,
)
from toolkit.catalog.parquet import DEPTH10_SCHEMA, DataType
from toolkit.model.data import DEPTH10_LEVELS, FLAG_LAST, FLAG_SNAPSHOT
from toolkit.model.enums import AggressorSide
from toolkit.model.identifiers import InstrumentId

_COMMON = {
    "timestamp": ("timestamp",),
    "local_timestamp": ("local_timestamp",),
    "symbol": ("symbol",),
}
_LEVEL_COLUMN = re.compile(r"^(asks|bids)\[(\d+)\]\.(price|amount)$")


def _read(
    path: PathLike, wanted: dict[str, tuple[str, ...]]
) -> tuple[Path, pl.DataFrame, dict[str, str], pl.Series, pl.Series]:
    """The file, its text frame, resolved columns and (ts_event, ts_init) in ns."""
    file = Path(path)
    frame = read_csv_text(file)
    names = resolve_columns(frame, file, {**_COMMON, **wanted}, optional=("symbol",))
    if "symbol" in names:
        single_value_column(frame, names["symbol"], file, "symbol")
    ts_event = parse_epoch(frame, names["timestamp"], path=file, unit="us")
    ts_init = parse_epoch(frame, names["local_timestamp"], path=file, unit="us")
    return file, frame, names, ts_event, ts_init


# ---- book snapshots -----------------------------------------------------------------------------------------


def _snapshot_levels(frame: pl.DataFrame, file: Path) -> dict[str, int]:
    """Number of levels per side (`asks`, `bids`) from the header; both fields of each level are required."""
    found: dict[str, set[int]] = {"asks": set(), "bids": set()}
    fields: dict[tuple[str, int], set[str]] = {}
    for name in frame.columns:
        match = _LEVEL_COLUMN.match(name)
        if match:
            found[match[1]].add(int(match[2]))
            fields.setdefault((match[1], int(match[2])), set()).add(match[3])
    depth = {}
    for side, indices in found.items():
        if not indices:
            raise LoaderError(
                file, 1, f"missing column {side}[0].price (a Tardis book_snapshot file)", column=f"{side}[0].price"
            )
        count = max(indices) + 1
        for i in range(count):
            for what in ("price", "amount"):
                if what not in fields.get((side, i), set()):
                    name = f"{side}[{i}].{what}"
                    raise LoaderError(file, 1, f"missing column {name}", column=name)
        depth[side] = count
    return depth


def _level_values(
    frame: pl.DataFrame, file: Path, side: str, i: int, decimals: DecimalColumns
) -> tuple[pl.Series, pl.Series]:
    """Raw price and size of one level; an empty level (both fields empty) is price 0, size 0."""
    price_col, size_col = f"{side}[{i}].price", f"{side}[{i}].amount"
    empty_price = frame[price_col].is_null() | (frame[price_col].str.strip_chars() == "")
    empty_size = frame[size_col].is_null() | (frame[size_col].str.strip_chars() == "")
    work = frame.with_columns(_ep=empty_price, _es=empty_size)
    bad = first_bad(work, pl.col("_ep") != pl.col("_es"))
    if bad is not None:
        column = price_col if bad["_ep"] else size_col
        raise LoaderError(
            file, bad[SOURCE_ROW], "value is missing (the other field of the level is not)", column=column
        )
    filled = frame.filter(~empty_price)
    price = pl.repeat(0, frame.height, dtype=pl.Int64, eager=True)
    size = pl.repeat(0, frame.height, dtype=pl.Int64, eager=True)
    if filled.height:
        sub = DecimalColumns(filled, file, decimals.round_excess)
        index = (~empty_price).arg_true()
        price = price.scatter(index, sub.parse(price_col))
        size = size.scatter(index, sub.parse(size_col))
        decimals.repairs.extend(sub.repairs)
    return price, size


def read_tardis_book_snapshot(
    path: PathLike,
    instrument_id: InstrumentId | str,
    *,
    into: Literal["depth10", "deltas"] = "depth10",
    round_excess: bool = False,
) -> LoadedData:
    """A Tardis book_snapshot_N file as depth10 snapshots (default) or as snapshot deltas; see the module doc."""
    if into not in ("depth10", "deltas"):
        raise ValueError(f"into must be 'depth10' or 'deltas' for a Tardis book snapshot, got {into!r}")
    file, frame, _, ts_event, ts_init = _read(path, {})
    depth = _snapshot_levels(frame, file)
    decimals = DecimalColumns(frame, file, round_excess)
    iid = InstrumentId(str(instrument_id))
    keep = {side: depth[side] if into == "deltas" else min(depth[side], DEPTH10_LEVELS) for side in depth}
    values = {
        (side, i): _level_values(frame, file, side, i, decimals) for side in ("bids", "asks") for i in range(keep[side])
    }
    if into == "depth10":
        columns: dict[str, pl.Series] = {}
        zeros = pl.repeat(0, frame.height, dtype=pl.Int64, eager=True)
        for side, name in (("bids", "bid"), ("asks", "ask")):
            for what in ("price", "size", "count"):
                for i in range(DEPTH10_LEVELS):
                    if what == "count" or i >= keep[side]:
                        series = zeros.cast(pl.UInt32) if what == "count" else zeros
                    else:
                        series = values[(side, i)][0 if what == "price" else 1]
                    columns[f"{name}_{what}_{i}"] = series
        out = pl.DataFrame(columns).with_columns(
            pl.lit(FLAG_SNAPSHOT | FLAG_LAST, dtype=pl.UInt8).alias("flags"),
            pl.lit(0, dtype=pl.UInt64).alias("sequence"),
            ts_event.alias("ts_event"),
            ts_init.alias("ts_init"),
            frame[SOURCE_ROW].alias(ROW),
        )
        out = out.select([*DEPTH10_SCHEMA.names, ROW])
        return LoadedData(DataType.DEPTH10, iid, out, file, tuple(decimals.repairs))
    parts = []
    order = 0
    for side, code in (("bids", BID_CODE), ("asks", ASK_CODE)):
        for i in range(keep[side]):
            price, size = values[(side, i)]
            parts.append(
                pl.DataFrame(
                    {
                        "_line": pl.int_range(0, frame.height, dtype=pl.Int64, eager=True),
                        "_level": pl.repeat(order, frame.height, dtype=pl.Int64, eager=True),
                        "side": pl.repeat(code, frame.height, dtype=pl.Int64, eager=True),
                        "price": price,
                        "size": size,
                        "ts_event": ts_event,
                        "ts_init": ts_init,
                        ROW: frame[SOURCE_ROW],
                    }
                )
            )
            order += 1
    levels = (
        pl.concat(parts)
        .filter(~((pl.col("price") == 0) & (pl.col("size") == 0)))
        .sort("_line", "_level")
        .with_columns(
            part=pl.lit(0, dtype=pl.Int64),
            sequence=pl.lit(0, dtype=pl.Int64),
            snapshot=pl.lit(True),
            event=pl.col("_line"),
            clear=(pl.col("_line") != pl.col("_line").shift(1)).fill_null(True),
        )
    )
    deltas = level_deltas(levels).select([*DELTA_COLUMNS, ROW])
    return LoadedData(DataType.DELTAS, iid, deltas, file, tuple(decimals.repairs))


# ---- incremental L2 -------------------------------------------------------------------------------------------


def read_tardis_incremental_book_l2(
    path: PathLike, instrument_id: InstrumentId | str, *, round_excess: bool = False
) -> LoadedData:
    """A Tardis incremental_book_L2 file as order book deltas; see the module docstring."""
    wanted = {"is_snapshot": ("is_snapshot",), "side": ("side",), "price": ("price",), "amount": ("amount",)}
    file, frame, names, ts_event, ts_init = _read(path, wanted)
    decimals = DecimalColumns(frame, file, round_excess)
    snapshot = parse_booleans(frame, names["is_snapshot"], path=file)
    side = parse_choices(frame, names["side"], {"bid": "bid", "ask": "ask", "buy": "bid", "sell": "ask"}, path=file)
    levels = pl.DataFrame(
        {
            "part": pl.repeat(0, frame.height, dtype=pl.Int64, eager=True),
            ROW: frame[SOURCE_ROW],
            "ts_event": ts_event,
            "ts_init": ts_init,
            "sequence": pl.repeat(0, frame.height, dtype=pl.Int64, eager=True),
            "snapshot": snapshot,
            "side": pl.select(pl.when(side == "bid").then(BID_CODE).otherwise(ASK_CODE)).to_series(),
            "price": decimals.parse(names["price"], "price"),
            "size": decimals.parse(names["amount"], "amount"),
        }
    )
    key = pl.struct("ts_event", "ts_init", "snapshot")
    levels = levels.with_columns(
        event=(key != key.shift(1)).fill_null(True).cast(pl.Int64).cum_sum(),
        clear=pl.col("snapshot") & ~pl.col("snapshot").shift(1).fill_null(False),
    )
    deltas = level_deltas(levels).select([*DELTA_COLUMNS, ROW])
    return LoadedData(DataType.DELTAS, InstrumentId(str(instrument_id)), deltas, file, tuple(decimals.repairs))


# ---- trades -----------------------------------------------------------------------------------------------------


def read_tardis_trades(path: PathLike, instrument_id: InstrumentId | str, *, round_excess: bool = False) -> LoadedData:
    """A Tardis trades file as trades; see the module docstring."""
    wanted = {"id": ("id",), "side": ("side",), "price": ("price",), "amount": ("amount",)}
    file, frame, names, ts_event, ts_init = _read(path, wanted)
    decimals = DecimalColumns(frame, file, round_excess)
    frame = frame.with_columns(pl.col(names["side"]).fill_null(""))
    sides = {
        "buy": AggressorSide.BUYER.value,
        "sell": AggressorSide.SELLER.value,
        "unknown": AggressorSide.NO_AGGRESSOR.value,
        "": AggressorSide.NO_AGGRESSOR.value,
    }
    aggressor = parse_choices(frame, names["side"], sides, path=file)
    ids = pl.DataFrame({"ts": frame[names["timestamp"]].str.strip_chars(), "id": frame[names["id"]].str.strip_chars()})
    fallback = pl.concat_str(pl.col("ts"), pl.lit("-"), pl.int_range(pl.len()).over("ts").cast(pl.String))
    missing = pl.col("id").is_null() | (pl.col("id") == "")
    trade_id = ids.select(pl.when(missing).then(fallback).otherwise(pl.col("id"))).to_series()
    out = pl.DataFrame(
        {
            "price": decimals.parse(names["price"], "price"),
            "size": decimals.parse(names["amount"], "amount"),
            "aggressor_side": aggressor,
            "trade_id": trade_id,
            "ts_event": ts_event,
            "ts_init": ts_init,
            ROW: frame[SOURCE_ROW],
        }
    )
    return LoadedData(DataType.TRADES, InstrumentId(str(instrument_id)), out, file, tuple(decimals.repairs))
