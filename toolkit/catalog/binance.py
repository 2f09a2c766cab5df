"""Loaders for Binance market data files: best bid/ask quotes, trades, and USDT-M futures L2 depth.

Quotes (`read_binance_quotes`, Parquet or CSV). Columns by name (lower-cased), first match wins:
ts_event from `timestamp` or `transaction_time`; ts_init from `event_time` when present, else the
same as ts_event; `bid`/`best_bid_price`, `bid_size`/`best_bid_qty`, `ask`/`best_ask_price`,
`ask_size`/`best_ask_qty`; `symbol` (optional) must be the same on every row. A headerless CSV
is read as the data.binance.vision bookTicker layout
`update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time`.

Trades (`read_binance_trades`, Parquet or CSV): ts_event = ts_init = `timestamp`/`time`/
`transact_time`; trade_id = `trade_id`/`id`/`agg_trade_id` as text; price = `price`; size =
`quantity`/`qty`; aggressor side from `buyer_maker`/`is_buyer_maker` (True, False as text or
bool): the buyer was the resting maker, so the seller aggressed -> SELLER; False -> BUYER. A
headerless CSV is a data.binance.vision layout told by its column count: 6 = futures trades
`id,price,qty,quote_qty,time,is_buyer_maker`; 7 with a boolean 6th field = spot trades (+
`is_best_match`); 7 otherwise = futures aggTrades
`agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker`; 8 = spot
aggTrades (+ `is_best_match`).

Timestamps: Parquet timestamp columns are read in their unit (UTC); integers are epoch
milliseconds, or microseconds when >= 10**14 (Binance spot files since 2025); CSV text may also
be an ISO date-time. Prices and sizes are parsed exactly (floats: see `loaders`).

Depth (`read_binance_depth`): the USDT-M futures order book files
`symbol,timestamp,first_update_id,last_update_id,side,update_type,price,qty,pu` (timestamp in ms;
side `b`/`a`; update_type `snap` for snapshot rows, `set` for updates; qty 0 removes the level),
typically a snapshot file then an update file, read in the order given as one feed. ts_event =
ts_init = timestamp; sequence = last_update_id. An exchange event is a run of rows with the same
update_type, last_update_id and timestamp. A snapshot event becomes a CLEAR then one ADD per level,
all flagged FLAG_SNAPSHOT; an update row becomes DELETE when qty is 0, UPDATE when the level is in
the book, else ADD; the last delta of each event has FLAG_LAST. The update ids are followed: an
update event whose ids do not continue the previous event (futures: `pu` = previous
`last_update_id`; after a snapshot with id S: first_update_id <= S + 1 and last_update_id >= S) is
kept but reported as a warning (the book missed updates there). One `LoadedData` per file, whose
`row` column names that file's lines (a CLEAR carries the line of the snapshot's first row).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from toolkit.catalog.loaded import ROW, LoadedData, LoaderError, PathLike
from toolkit.catalog.loaders import (
    ASK_CODE,
    BID_CODE,
    DELTA_COLUMNS,
    SOURCE_ROW,
    DecimalColumns,
    first_bad,
    first_csv_fields,
    level_deltas,
    parse_booleans,
    parse_choices,
    parse_epoch,
    parse_identifiers,
    read_csv_text,
    read_table,
    resolve_columns,
    single_value_column,
)
from toolkit.catalog.parquet import DataType
from toolkit.model.enums import AggressorSide
from toolkit.model.identifiers import InstrumentId

_BOOK_TICKER = (
    "update_id",
    "best_bid_price",
    "best_bid_qty",
    "best_ask_price",
    "best_ask_qty",
    "transaction_time",
    "event_time",
)
_SPOT_TRADES = ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker", "is_best_match")
_FUTURES_TRADES = ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker")
_FUTURES_AGG_TRADES = (
    "agg_trade_id",
    "price",
    "quantity",
    "first_trade_id",
    "last_trade_id",
    "transact_time",
    "is_buyer_maker",
)
_SPOT_AGG_TRADES = (*_FUTURES_AGG_TRADES, "is_best_match")
_BOOLEAN_TEXT = ("true", "false")

_QUOTE_COLUMNS = {
    "ts_event": ("timestamp", "transaction_time", "time"),
    "ts_init": ("event_time",),
    "bid": ("bid", "best_bid_price", "bid_price"),
    "bid_size": ("bid_size", "best_bid_qty", "bid_qty"),
    "ask": ("ask", "best_ask_price", "ask_price"),
    "ask_size": ("ask_size", "best_ask_qty", "ask_qty"),
    "symbol": ("symbol",),
}
_TRADE_COLUMNS = {
    "timestamp": ("timestamp", "time", "transact_time"),
    "trade_id": ("trade_id", "id", "agg_trade_id"),
    "price": ("price",),
    "size": ("quantity", "qty"),
    "buyer_maker": ("buyer_maker", "is_buyer_maker"),
    "symbol": ("symbol",),
}
_DEPTH_COLUMNS = {
    "timestamp": ("timestamp",),
    "first_update_id": ("first_update_id",),
    "last_update_id": ("last_update_id",),
    "side": ("side",),
    "update_type": ("update_type",),
    "price": ("price",),
    "qty": ("qty", "quantity"),
    "pu": ("pu",),
    "symbol": ("symbol",),
}


def _is_headerless(path: Path) -> bool:
    fields = first_csv_fields(path)
    return bool(fields) and fields[0].isdigit()


def _headerless_names(path: Path, fields: list[str], kind: str) -> tuple[str, ...]:
    count = len(fields)
    if kind == "quotes":
        if count == len(_BOOK_TICKER):
            return _BOOK_TICKER
    elif count == 6:
        return _FUTURES_TRADES
    elif count == 7:
        return _SPOT_TRADES if fields[5].lower() in _BOOLEAN_TEXT else _FUTURES_AGG_TRADES
    elif count == 8:
        return _SPOT_AGG_TRADES
    expected = "7 (bookTicker)" if kind == "quotes" else "6, 7 or 8 (trades, aggTrades)"
    raise LoaderError(path, 1, f"a headerless Binance {kind} file needs {expected} columns, found {count}")


def _read(path: PathLike, kind: str) -> pl.DataFrame:
    """The file's columns (Parquet, CSV with a header, or a headerless data.binance.vision CSV) + `__row`."""
    file = Path(path)
    if not file.is_file():
        raise LoaderError(file, None, "no such file")
    if file.suffix.lower() == ".parquet" or not _is_headerless(file):
        return read_table(file)
    names = _headerless_names(file, first_csv_fields(file), kind)
    frame = read_csv_text(file, has_header=False)
    data = [c for c in frame.columns if c != SOURCE_ROW]
    if len(data) != len(names):
        raise LoaderError(file, None, f"expected {len(names)} columns on every line, found {len(data)}")
    return frame.rename(dict(zip(data, names, strict=True)))


def read_binance_quotes(path: PathLike, instrument_id: InstrumentId | str, *, round_excess: bool = False) -> LoadedData:
    """A Binance best bid/ask file (Parquet or CSV) as quotes; see the module docstring for the mapping."""
    file = Path(path)
    frame = _read(file, "quotes")
    names = resolve_columns(frame, file, _QUOTE_COLUMNS, optional=("ts_init", "symbol"))
    if "symbol" in names:
        single_value_column(frame, names["symbol"], file, "symbol")
    ts_event = parse_epoch(frame, names["ts_event"], path=file, unit="ms_or_us", iso=True)
    ts_init = (
        parse_epoch(frame, names["ts_init"], path=file, unit="ms_or_us", iso=True) if "ts_init" in names else ts_event
    )
    decimals = DecimalColumns(frame, file, round_excess)
    out = pl.DataFrame(
        {
            "bid": decimals.parse(names["bid"], "bid"),
            "ask": decimals.parse(names["ask"], "ask"),
            "bid_size": decimals.parse(names["bid_size"], "bid_size"),
            "ask_size": decimals.parse(names["ask_size"], "ask_size"),
            "ts_event": ts_event,
            "ts_init": ts_init,
            ROW: frame[SOURCE_ROW],
        }
    )
    return LoadedData(DataType.QUOTES, InstrumentId(str(instrument_id)), out, file, tuple(decimals.repairs))


def read_binance_trades(path: PathLike, instrument_id: InstrumentId | str, *, round_excess: bool = False) -> LoadedData:
    """A Binance trades or aggTrades file (Parquet or CSV) as trades; see the module docstring for the mapping."""
    file = Path(path)
    frame = _read(file, "trades")
    names = resolve_columns(frame, file, _TRADE_COLUMNS, optional=("symbol",))
    if "symbol" in names:
        single_value_column(frame, names["symbol"], file, "symbol")
    ts = parse_epoch(frame, names["timestamp"], path=file, unit="ms_or_us", iso=True)
    decimals = DecimalColumns(frame, file, round_excess)
    price = decimals.parse(names["price"], "price")
    size = decimals.parse(names["size"], "size")
    buyer_maker = parse_booleans(frame, names["buyer_maker"], path=file)
    aggressor = pl.select(
        pl.when(buyer_maker).then(pl.lit(AggressorSide.SELLER.value)).otherwise(pl.lit(AggressorSide.BUYER.value))
    ).to_series()
    out = pl.DataFrame(
        {
            "price": price,
            "size": size,
            "aggressor_side": aggressor,
            "trade_id": parse_identifiers(frame, names["trade_id"], path=file),
            "ts_event": ts,
            "ts_init": ts,
            ROW: frame[SOURCE_ROW],
        }
    )
    return LoadedData(DataType.TRADES, InstrumentId(str(instrument_id)), out, file, tuple(decimals.repairs))


def _parse_update_ids(frame: pl.DataFrame, column: str, path: Path) -> pl.Series:
    """Binance update ids: integers (`pu` may be -1 after a snapshot)."""
    text = frame[column].cast(pl.String).str.strip_chars()
    values = text.cast(pl.Int64, strict=False)
    work = pl.DataFrame({SOURCE_ROW: frame[SOURCE_ROW], "text": text, "v": values})
    bad = first_bad(work, pl.col("v").is_null())
    if bad is not None:
        shown = "value is missing" if not bad["text"] else f"value {bad['text']!r} is not an integer update id"
        raise LoaderError(path, bad[SOURCE_ROW], shown, column=column, value=bad["text"])
    return work["v"]


def _depth_levels(path: Path, part: int, round_excess: bool) -> tuple[pl.DataFrame, tuple[str, ...]]:
    frame = read_csv_text(path)
    names = resolve_columns(frame, path, _DEPTH_COLUMNS, optional=("first_update_id", "pu", "symbol"))
    if "symbol" in names:
        single_value_column(frame, names["symbol"], path, "symbol")
    decimals = DecimalColumns(frame, path, round_excess)
    last_id = _parse_update_ids(frame, names["last_update_id"], path)
    first_id = _parse_update_ids(frame, names["first_update_id"], path) if "first_update_id" in names else last_id
    pu = (
        _parse_update_ids(frame, names["pu"], path)
        if "pu" in names
        else pl.repeat(None, frame.height, dtype=pl.Int64, eager=True)
    )
    kind = parse_choices(frame, names["update_type"], {"snap": "snap", "set": "set"}, path=path)
    side = parse_choices(frame, names["side"], {"b": "b", "a": "a", "bid": "b", "ask": "a"}, path=path)
    levels = pl.DataFrame(
        {
            "part": pl.repeat(part, frame.height, dtype=pl.Int64, eager=True),
            ROW: frame[SOURCE_ROW],
            "ts_event": parse_epoch(frame, names["timestamp"], path=path, unit="ms_or_us"),
            "sequence": last_id,
            "first_update_id": first_id,
            "pu": pu,
            "snapshot": kind == "snap",
            "side": pl.select(pl.when(side == "b").then(BID_CODE).otherwise(ASK_CODE)).to_series(),
            "price": decimals.parse(names["price"], "price"),
            "size": decimals.parse(names["qty"], "qty"),
        }
    )
    return levels, tuple(decimals.repairs)


def _continuity_warnings(levels: pl.DataFrame, paths: Sequence[Path], max_examples: int = 5) -> list[str]:
    """Warnings where an event's update ids do not continue the previous event's."""
    events = levels.group_by("event", maintain_order=True).agg(
        pl.col("part").first(),
        pl.col(ROW).first(),
        pl.col("snapshot").first(),
        pl.col("first_update_id").min(),
        pl.col("sequence").max().alias("last_update_id"),
        pl.col("pu").first(),
    )
    found: list[str] = []
    count = 0
    previous: dict | None = None
    for event in events.iter_rows(named=True):
        if previous is not None and not event["snapshot"]:
            before = previous["last_update_id"]
            if previous["snapshot"]:
                ok = event["first_update_id"] <= before + 1 and event["last_update_id"] >= before
                expected = f"first_update_id <= {before + 1} and last_update_id >= {before} (the snapshot's id)"
            elif event["pu"] is not None and event["pu"] >= 0:
                ok = event["pu"] == before
                expected = f"pu = {before} (the previous event's last_update_id)"
            else:
                ok = event["first_update_id"] == before + 1
                expected = f"first_update_id = {before + 1}"
            if not ok:
                count += 1
                if len(found) < max_examples:
                    found.append(
                        f"{paths[event['part']]}: row {event[ROW]}: update ids {event['first_update_id']}.."
                        f"{event['last_update_id']} (pu {event['pu']}) do not continue the book: expected {expected}; "
                        "the book misses the updates in between"
                    )
        previous = event
    if count > len(found):
        found.append(f"{count - len(found)} more update events do not continue the book")
    return found


def _repeat_warnings(levels: pl.DataFrame, paths: Sequence[Path]) -> list[str]:
    """A warning per file whose events set the same level to the same size twice (repeated rows)."""
    repeated = levels.filter(pl.struct("event", "side", "price", "size").is_duplicated())
    repeated = repeated.filter(pl.struct("event", "side", "price", "size").is_first_distinct().not_())
    out = []
    for (part,), rows in repeated.group_by("part", maintain_order=True):
        out.append(
            f"{paths[part]}: row {rows[ROW][0]}: {rows.height} row(s) repeat a level already set to the same size in "
            "the same update event (they become idempotent UPDATE/DELETE deltas; exact duplicates are refused "
            "unless --fix dedupe)"
        )
    return out


def read_binance_depth(
    paths: Sequence[PathLike], instrument_id: InstrumentId | str, *, round_excess: bool = False
) -> list[LoadedData]:
    """Binance futures depth snapshot and update files (one feed, in the order given) as order book deltas."""
    files = [Path(p) for p in paths]
    if not files:
        raise ValueError("binance_depth needs at least one file (a snapshot file, then update files)")
    iid = InstrumentId(str(instrument_id))
    loaded = [_depth_levels(file, part, round_excess) for part, file in enumerate(files)]
    levels = pl.concat([frame for frame, _ in loaded])
    key = pl.struct("part", "snapshot", "sequence", "ts_event")
    new_event = (key != key.shift(1)).fill_null(True)
    levels = levels.with_columns(ts_init=pl.col("ts_event"), event=new_event.cast(pl.Int64).cum_sum())
    levels = levels.with_columns(clear=pl.col("snapshot") & new_event)
    warnings = [*_continuity_warnings(levels, files), *_repeat_warnings(levels, files)]
    deltas = level_deltas(levels)
    out = []
    for part, file in enumerate(files):
        frame = deltas.filter(pl.col("part") == part).select([*DELTA_COLUMNS, ROW])
        repairs = loaded[part][1]
        notes = tuple(w for w in warnings if w.startswith(f"{file}:") or (part == len(files) - 1 and " more " in w))
        out.append(LoadedData(DataType.DELTAS, iid, frame, file, repairs, notes))
    return out
