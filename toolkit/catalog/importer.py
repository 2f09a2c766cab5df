"""Import of vendor data files into the catalog (`toolkit catalog import`) and of instrument definitions.

`import_files(catalog, fmt, instrument_id, files, ...)` loads every file with the loader of `fmt`
(see `FORMATS`), runs the data checks of `toolkit.catalog.checks` on each loaded frame against the
instrument stored in the catalog, and refuses the import with `ImportRefused` (file, row, column,
value, reason) when an error is not covered by the requested fixes (`round`, `sort`, `dedupe`);
otherwise it applies the fixes, reports each repair, and writes one part per dataset through
`DataCatalog.write` (files going to the same dataset are concatenated in the order given and must
not overlap in time).

The guarantee: nothing is written until every file has loaded and passed the checks, and every
dataset has been checked against the catalog (existing rows in the new time range are refused
unless `replace=True`). If a write still fails (disk full, a concurrent writer), the parts this
import appended to earlier datasets are removed again, so the catalog is as it was; with
`replace=True` a dataset already replaced cannot be restored, and the error names those datasets.

`write_instrument_files(catalog, paths)` writes TOML/JSON instrument definitions (the format of
`data/instruments.toml`) into the catalog (`toolkit catalog instruments`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from toolkit.catalog.binance import read_binance_depth, read_binance_quotes, read_binance_trades
from toolkit.catalog.loaded import (
    FIXES,
    ROW,
    CheckedData,
    ImportRefused,
    LoadedData,
    LoaderError,
    check_loaded,
    parse_fixes,
)
from toolkit.catalog.loaders import (
    check_option_size,
    format_ns,
    read_bars_csv,
    read_bid_ask_bars_csv,
    read_truefx_quotes_csv,
)
from toolkit.catalog.parquet import DataCatalog, DataType
from toolkit.catalog.tardis import read_tardis_book_snapshot, read_tardis_incremental_book_l2, read_tardis_trades
from toolkit.model.data import BarType
from toolkit.model.identifiers import InstrumentId
from toolkit.model.instruments import Instrument

__all__ = [
    "FORMATS",
    "DatasetImport",
    "ImportRefused",
    "ImportReport",
    "LoadedData",
    "LoaderError",
    "import_files",
    "load_files",
    "write_instrument_files",
]

Reader = Callable[[list[Path], InstrumentId, dict[str, Any], bool], list[LoadedData]]


@dataclass(frozen=True)
class FormatSpec:
    """One importable format: what files it takes, which options, and the reader."""

    name: str
    description: str
    files: str  # "one or more" or "two"
    options: frozenset[str]
    required: frozenset[str]
    read: Reader
    bar_type: str = "none"  # "none", "optional" or "required"


def _each(read_one: Callable[..., LoadedData]) -> Reader:
    def read(files: list[Path], iid: InstrumentId, options: dict[str, Any], round_excess: bool) -> list[LoadedData]:
        return [read_one(file, iid, round_excess=round_excess, **options) for file in files]

    return read


def _bars(files: list[Path], iid: InstrumentId, options: dict[str, Any], round_excess: bool) -> list[LoadedData]:
    bar_type = options.pop("bar_type")
    return [read_bars_csv(file, bar_type, round_excess=round_excess, **options) for file in files]


def _bid_ask(files: list[Path], iid: InstrumentId, options: dict[str, Any], round_excess: bool) -> list[LoadedData]:
    return read_bid_ask_bars_csv(files[0], files[1], iid, round_excess=round_excess, **options)


def _truefx(files: list[Path], iid: InstrumentId, options: dict[str, Any], round_excess: bool) -> list[LoadedData]:
    return [read_truefx_quotes_csv(file, iid, round_excess=round_excess, **options) for file in files]


def _depth(files: list[Path], iid: InstrumentId, options: dict[str, Any], round_excess: bool) -> list[LoadedData]:
    return read_binance_depth(files, iid, round_excess=round_excess)


_NONE: frozenset[str] = frozenset()
FORMATS: dict[str, FormatSpec] = {
    spec.name: spec
    for spec in (
        FormatSpec(
            "bars_csv",
            "OHLC(V) bar CSV `timestamp,open,high,low,close[,volume]`, ISO or naive UTC stamps -> bars",
            "one or more",
            frozenset({"default_volume", "timestamps_at"}),
            _NONE,
            _bars,
            bar_type="required",
        ),
        FormatSpec(
            "bid_ask_bars_csv",
            "a BID bar CSV then the ASK bar CSV of the same bars -> BID and ASK bars (--into bars) or quotes",
            "two",
            frozenset({"default_volume", "default_size", "timestamps_at", "into"}),
            _NONE,
            _bid_ask,
            bar_type="optional",
        ),
        FormatSpec(
            "truefx_quotes",
            "TrueFX-style headerless `YYYYMMDD HHMMSSmmm,bid,ask[,volume]` -> quotes (--default-size)",
            "one or more",
            frozenset({"default_size"}),
            frozenset({"default_size"}),
            _truefx,
        ),
        FormatSpec(
            "binance_quotes",
            "Binance best bid/ask (Parquet or CSV, incl. bookTicker) -> quotes",
            "one or more",
            _NONE,
            _NONE,
            _each(read_binance_quotes),
        ),
        FormatSpec(
            "binance_trades",
            "Binance trades or aggTrades (Parquet or CSV) -> trades",
            "one or more",
            _NONE,
            _NONE,
            _each(read_binance_trades),
        ),
        FormatSpec(
            "binance_depth",
            "Binance futures depth snapshot file then update files -> order book deltas",
            "one or more",
            _NONE,
            _NONE,
            _depth,
        ),
        FormatSpec(
            "tardis_book_snapshot_25",
            "Tardis book_snapshot_25 CSV -> depth10 snapshots (--into depth10, default) or deltas (--into deltas)",
            "one or more",
            frozenset({"into"}),
            _NONE,
            _each(read_tardis_book_snapshot),
        ),
        FormatSpec(
            "tardis_incremental_book_l2",
            "Tardis incremental_book_L2 CSV -> order book deltas",
            "one or more",
            _NONE,
            _NONE,
            _each(read_tardis_incremental_book_l2),
        ),
        FormatSpec(
            "tardis_trades",
            "Tardis trades CSV -> trades",
            "one or more",
            _NONE,
            _NONE,
            _each(read_tardis_trades),
        ),
    )
}

_OPTION_FLAGS = {
    "default_volume": "--default-volume",
    "default_size": "--default-size",
    "timestamps_at": "--timestamps-at",
    "into": "--into",
    "bar_type": "--bar-type",
}


def _format_spec(fmt: str) -> FormatSpec:
    spec = FORMATS.get(fmt)
    if spec is None:
        raise ValueError(f"unknown format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    return spec


def _reader_options(
    spec: FormatSpec, instrument_id: InstrumentId, bar_type: BarType | str | None, options: dict[str, Any]
) -> dict[str, Any]:
    given = {name: value for name, value in options.items() if value is not None}
    unknown = [name for name in given if name not in spec.options]
    if unknown:
        flags = ", ".join(_OPTION_FLAGS.get(name, name) for name in unknown)
        raise ValueError(f"format {spec.name} does not take {flags}")
    missing = [name for name in spec.required if name not in given]
    if missing:
        flags = ", ".join(_OPTION_FLAGS.get(name, name) for name in sorted(missing))
        raise ValueError(f"format {spec.name} needs {flags}")
    if bar_type is not None:
        if spec.bar_type == "none":
            raise ValueError(f"format {spec.name} does not take --bar-type")
        bt = bar_type if isinstance(bar_type, BarType) else BarType.from_str(str(bar_type))
        if bt.instrument_id != instrument_id:
            raise ValueError(f"bar type {bt} is not for instrument {instrument_id}")
        given["bar_type"] = bt
    elif spec.bar_type == "required":
        raise ValueError(
            f"format {spec.name} needs --bar-type (e.g. {instrument_id}-1-MINUTE-LAST-EXTERNAL; the files' stamps "
            "are the bar open unless --timestamps-at close)"
        )
    return given


def _check_file_count(spec: FormatSpec, files: Sequence[Path]) -> None:
    if spec.files == "two" and len(files) != 2:
        raise ValueError(f"format {spec.name} takes two files (BID bars then ASK bars), got {len(files)}")
    if not files:
        raise ValueError(f"format {spec.name} needs at least one file")


def load_files(
    fmt: str,
    instrument_id: InstrumentId | str,
    files: Sequence[str | os.PathLike[str]],
    *,
    bar_type: BarType | str | None = None,
    round_excess: bool = False,
    **format_options: Any,
) -> list[LoadedData]:
    """Parse `files` with the loader of `fmt` (no checks): one `LoadedData` per file and dataset."""
    spec = _format_spec(fmt)
    iid = InstrumentId(str(instrument_id))
    paths = [Path(f) for f in files]
    _check_file_count(spec, paths)
    options = _reader_options(spec, iid, bar_type, format_options)
    return spec.read(paths, iid, options, round_excess)


# ---- the report -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetImport:
    """What one import wrote to one dataset."""

    data_type: DataType
    identifier: str
    rows: int
    first_ts_init: int | None
    last_ts_init: int | None
    sources: tuple[Path, ...]
    parts: tuple[Path, ...]

    @property
    def dataset(self) -> str:
        return f"{self.data_type.value}/{self.identifier}"


@dataclass(frozen=True)
class ImportReport:
    """Rows written per dataset, the repairs done (one line each) and the warnings (not refused)."""

    format: str
    instrument_id: InstrumentId
    datasets: tuple[DatasetImport, ...]
    repairs: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def rows(self) -> dict[str, int]:
        """Rows written per dataset name (`data_type/identifier`)."""
        return {d.dataset: d.rows for d in self.datasets}

    def lines(self) -> list[str]:
        """The report as printed by `toolkit catalog import`."""
        out = []
        for d in self.datasets:
            span = (
                f"ts_init {format_ns(d.first_ts_init)} .. {format_ns(d.last_ts_init)}"
                if d.first_ts_init is not None and d.last_ts_init is not None
                else "no rows"
            )
            files = ", ".join(p.name for p in d.sources)
            out.append(f"imported {d.dataset}: {d.rows:,} rows, {span} (from {files})")
        out.extend(f"repaired: {line}" for line in self.repairs)
        out.extend(f"warning: {line}" for line in self.warnings)
        return out


# ---- import -----------------------------------------------------------------------------------------------------


@dataclass
class _Pending:
    data_type: DataType
    identifier: InstrumentId | BarType
    checked: list[CheckedData]

    @property
    def dataset(self) -> str:
        return f"{self.data_type.value}/{self.identifier}"


def _require_instrument(catalog: DataCatalog, instrument_id: InstrumentId) -> Instrument:
    instrument = catalog.instrument(instrument_id)
    if instrument is None:
        known = ", ".join(str(i.id) for i in catalog.instruments()) or "none"
        raise ValueError(
            f"instrument {instrument_id} is not defined in catalog {catalog.path} (defined: {known}): write its "
            f"definition first with `toolkit catalog instruments --catalog {catalog.path} FILE.toml`"
        )
    return instrument


def _group(checked: list[CheckedData]) -> list[_Pending]:
    pending: dict[str, _Pending] = {}
    for item in checked:
        loaded = item.loaded
        entry = pending.setdefault(loaded.dataset, _Pending(loaded.data_type, loaded.identifier, []))
        entry.checked.append(item)
    return list(pending.values())


def _combined_frame(entry: _Pending, columns: list[str]) -> pl.DataFrame:
    """The frames of one dataset in the order given; refuses files that overlap in time or come out of order."""
    previous: CheckedData | None = None
    for item in entry.checked:
        if item.frame.height == 0:
            continue
        if previous is not None:
            before_last = int(previous.frame.select(pl.col("ts_init").max()).item())
            first = int(item.frame.select(pl.col("ts_init").min()).item())
            if first < before_last:
                at = item.frame.filter(pl.col("ts_init") < before_last)[ROW][0]
                raise LoaderError(
                    item.loaded.source,
                    int(at),
                    f"ts_init {format_ns(first)} is before the end {format_ns(before_last)} of the previous file "
                    f"{previous.loaded.source} for {entry.dataset}: give the files of one dataset in time order, "
                    "without overlap",
                    column="ts_init",
                )
        previous = item
    frames = [item.frame.select(columns) for item in entry.checked]
    return pl.concat(frames) if frames else pl.DataFrame()


def _refuse_overlap(catalog: DataCatalog, entry: _Pending, frame: pl.DataFrame) -> None:
    """Refuse (before writing anything) new rows whose ts_init range holds existing rows, as the catalog would."""
    if frame.height == 0 or not catalog.parts(entry.data_type, entry.identifier):
        return
    first, last = frame.select(pl.col("ts_init").min().alias("first"), pl.col("ts_init").max().alias("last")).row(0)
    existing = catalog.query(entry.data_type, entry.identifier, first, last)
    if existing.height:
        raise ValueError(
            f"{entry.dataset} already holds {existing.height:,} row(s) with ts_init in {format_ns(first)} .. "
            f"{format_ns(last)}, the range of the imported data: pass --replace to replace them"
        )


def import_files(
    catalog: DataCatalog | str | os.PathLike[str],
    fmt: str,
    instrument_id: InstrumentId | str,
    files: Sequence[str | os.PathLike[str]],
    *,
    bar_type: BarType | str | None = None,
    fix: Iterable[str] | str = frozenset(),
    replace: bool = False,
    **format_options: Any,
) -> ImportReport:
    """Load, check, repair (as asked) and write `files` of format `fmt` for one instrument of the catalog.

    Format options: `default_volume`, `default_size`, `timestamps_at` ("open"/"close"), `into`
    (bid_ask_bars_csv: "bars"/"quotes"; tardis_book_snapshot_25: "depth10"/"deltas"). Raises
    `ImportRefused`/`LoaderError` (ValueErrors naming file, row, column and value) before writing
    anything when a file does not parse or does not fit the instrument; see the module docstring
    for the all-or-nothing guarantee.
    """
    store = catalog if isinstance(catalog, DataCatalog) else DataCatalog(catalog)
    spec = _format_spec(fmt)
    iid = InstrumentId(str(instrument_id))
    fixes = parse_fixes(fix)
    paths = [Path(f) for f in files]
    _check_file_count(spec, paths)
    options = _reader_options(spec, iid, bar_type, format_options)
    instrument = _require_instrument(store, iid)
    for name in ("default_volume", "default_size"):
        check_option_size(options.get(name), name, instrument)
    loaded = spec.read(paths, iid, options, "round" in fixes)
    checked = [check_loaded(item, instrument, fixes) for item in loaded]
    pending = _group(checked)
    frames = []
    for entry in pending:
        frame = _combined_frame(entry, [c for c in entry.checked[0].frame.columns if c != ROW])
        if not replace:
            _refuse_overlap(store, entry, frame)
        frames.append(frame)
    written = _write_all(store, pending, frames, instrument, replace)
    repairs = tuple(line for item in checked for line in item.repairs)
    warnings = [line for item in checked for line in item.warnings]
    warnings.extend(f"{item.loaded.source}: no data rows" for item in checked if item.frame.height == 0)
    return ImportReport(fmt, iid, tuple(written), repairs, tuple(dict.fromkeys(warnings)))


def _write_all(
    store: DataCatalog, pending: list[_Pending], frames: list[pl.DataFrame], instrument: Instrument, replace: bool
) -> list[DatasetImport]:
    """Write each dataset; on a failure remove what this import appended before it (see the module docstring)."""
    done: list[tuple[_Pending, set[Path], bool]] = []  # (entry, parts before, directory existed)
    results: list[DatasetImport] = []
    for entry, frame in zip(pending, frames, strict=True):
        directory = store.dataset_path(entry.data_type, entry.identifier)
        existed = directory.exists()
        before = set(store.parts(entry.data_type, entry.identifier))
        try:
            if frame.height:
                store.write(
                    entry.data_type,
                    entry.identifier,
                    frame,
                    instrument.price_precision,
                    instrument.size_precision,
                    replace=replace,
                )
        except BaseException as exc:
            removed, replaced = _roll_back(store, done)
            if not isinstance(exc, ValueError):
                raise
            if not done:
                note = "the import wrote nothing"
            else:
                note = "; ".join(
                    part
                    for part in (
                        f"removed again what it wrote to {', '.join(removed)}" if removed else "",
                        f"already replaced, not restorable: {', '.join(replaced)}" if replaced else "",
                    )
                    if part
                )
            raise ValueError(f"{entry.dataset}: {exc} ({note})") from exc
        done.append((entry, before, existed))
        after = store.parts(entry.data_type, entry.identifier)
        span = (
            frame.select(pl.col("ts_init").min().alias("first"), pl.col("ts_init").max().alias("last")).row(0)
            if frame.height
            else (None, None)
        )
        results.append(
            DatasetImport(
                entry.data_type,
                str(entry.identifier),
                frame.height,
                span[0],
                span[1],
                tuple(item.loaded.source for item in entry.checked),
                tuple(p for p in after if p not in before),
            )
        )
    return results


def _roll_back(store: DataCatalog, done: list[tuple[_Pending, set[Path], bool]]) -> tuple[list[str], list[str]]:
    """Remove the parts the writes in `done` appended; returns (datasets restored, datasets replaced for good)."""
    removed: list[str] = []
    replaced: list[str] = []
    for entry, before, existed in reversed(done):
        current = set(store.parts(entry.data_type, entry.identifier))
        if not before.issubset(current):
            replaced.append(entry.dataset)  # replace=True rewrote old parts: they are gone
            continue
        for path in current - before:
            path.unlink(missing_ok=True)
        directory = store.dataset_path(entry.data_type, entry.identifier)
        if not existed and directory.exists():
            shutil.rmtree(directory, ignore_errors=True)
        removed.append(entry.dataset)
    return removed, replaced


# ---- instruments ------------------------------------------------------------------------------------------------


def write_instrument_files(
    catalog: DataCatalog | str | os.PathLike[str], paths: Sequence[str | os.PathLike[str]]
) -> list[Instrument]:
    """Read TOML/JSON instrument definitions (like data/instruments.toml) and add them to the catalog."""
    from toolkit.backtest.runner import load_instruments_file

    store = catalog if isinstance(catalog, DataCatalog) else DataCatalog(catalog)
    instruments: list[Instrument] = []
    for path in paths:
        file = Path(path)
        instruments.extend(load_instruments_file(file, str(file), "instruments"))
    if not instruments:
        raise ValueError(f"no instrument definitions in {', '.join(map(str, paths))}")
    store.write_instruments(instruments)
    return instruments


# ---- command line -----------------------------------------------------------------------------------------------


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    formats = "\n".join(f"  {spec.name:<27} {spec.description}" for spec in FORMATS.values())
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = (
        "Load data files in a vendor format, check them against the instrument (grid, order, duplicates, "
        "signs) and write them to the catalog. Formats:\n" + formats
    )
    parser.add_argument("--format", required=True, choices=list(FORMATS), metavar="FORMAT", help="the files' format")
    parser.add_argument("--instrument", required=True, help="instrument id, defined in the catalog")
    parser.add_argument("--catalog", required=True, help="catalog folder")
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--bar-type", help="bar type of bar files, e.g. GBP/USD.SIM-1-MINUTE-BID-EXTERNAL")
    parser.add_argument("--default-volume", help="volume of every bar when the file has none")
    parser.add_argument("--default-size", help="bid and ask size of every quote (TrueFX, bars into quotes)")
    parser.add_argument(
        "--timestamps-at", choices=("open", "close"), help="bar files stamp bars at their open (default) or close"
    )
    parser.add_argument(
        "--into",
        help="bid_ask_bars_csv: bars (default) or quotes; tardis_book_snapshot_25: depth10 (default) or deltas",
    )
    parser.add_argument(
        "--fix",
        help=f"comma-separated repairs to apply instead of refusing: {', '.join(FIXES)} "
        "(round to the instrument grid, sort by time, drop exact duplicate rows)",
    )
    parser.add_argument("--replace", action="store_true", help="replace existing rows in the imported time range")


def run_import_cli(args: argparse.Namespace) -> int:
    options = {
        "default_volume": args.default_volume,
        "default_size": args.default_size,
        "timestamps_at": args.timestamps_at,
        "into": args.into,
    }
    try:
        report = import_files(
            args.catalog,
            args.format,
            args.instrument,
            args.files,
            bar_type=args.bar_type,
            fix=parse_fixes(args.fix),
            replace=args.replace,
            **options,
        )
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    for line in report.lines():
        print(line)
    return 0


def add_instruments_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--catalog", required=True, help="catalog folder (created if missing)")
    parser.add_argument("definitions", nargs="+", metavar="FILE", help="TOML ([[instruments]]) or JSON definitions")


def run_instruments_cli(args: argparse.Namespace) -> int:
    instruments = write_instrument_files(args.catalog, args.definitions)
    ids = ", ".join(str(i.id) for i in instruments)
    print(f"wrote {len(instruments)} instrument definition(s) to {args.catalog}: {ids}")
    return 0
