"""Reading a snapshot folder safely while a run may still be writing it.

`open_snapshot(path)` checks the folder (exists, has a manifest, a schema version this code reads) and
raises `SnapshotProblem` with a message fit to show a user ("no snapshot at ...", "... is empty",
"... is still being written: no manifest yet"). `Snapshot.table(name)` reads every finished part file
of a table (temporary files are hidden names and never match; parts covered by a compacted range file
are skipped, `toolkit.persistence.parts`), retrying once when a part is replaced
between listing and reading, and returns an empty frame with the documented columns when a table has
no rows. Money, price and quantity columns are exact decimals; `floats(frame, ...)` converts columns
for charts.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from toolkit.persistence.parts import part_files

SUPPORTED_SCHEMA_VERSIONS = (1,)
TABLES = ("orders", "fills", "positions", "account", "equity", "prices")
DECIMAL = pl.Decimal(38, 9)
_SCHEMAS: dict[str, dict[str, Any]] = {
    "orders": {
        "client_order_id": pl.String,
        "venue_order_id": pl.String,
        "trader_id": pl.String,
        "strategy_id": pl.String,
        "instrument_id": pl.String,
        "account_id": pl.String,
        "position_id": pl.String,
        "side": pl.String,
        "order_type": pl.String,
        "time_in_force": pl.String,
        "quantity": DECIMAL,
        "price": DECIMAL,
        "trigger_price": DECIMAL,
        "status": pl.String,
        "filled_qty": DECIMAL,
        "avg_px": DECIMAL,
        "post_only": pl.Boolean,
        "reduce_only": pl.Boolean,
        "tags": pl.String,
        "ts_init": pl.Int64,
        "ts_last": pl.Int64,
    },
    "fills": {
        "ts_event": pl.Int64,
        "ts_init": pl.Int64,
        "trade_id": pl.String,
        "client_order_id": pl.String,
        "venue_order_id": pl.String,
        "position_id": pl.String,
        "strategy_id": pl.String,
        "instrument_id": pl.String,
        "account_id": pl.String,
        "side": pl.String,
        "order_type": pl.String,
        "last_qty": DECIMAL,
        "last_px": DECIMAL,
        "commission": DECIMAL,
        "commission_currency": pl.String,
        "liquidity_side": pl.String,
    },
    "positions": {
        "position_id": pl.String,
        "cycle": pl.Int32,
        "strategy_id": pl.String,
        "instrument_id": pl.String,
        "account_id": pl.String,
        "entry": pl.String,
        "side": pl.String,
        "is_open": pl.Boolean,
        "quantity": DECIMAL,
        "peak_qty": DECIMAL,
        "avg_px_open": DECIMAL,
        "avg_px_close": DECIMAL,
        "realized_pnl": DECIMAL,
        "unrealized_pnl": DECIMAL,
        "currency": pl.String,
        "commissions": pl.String,
        "opening_order_id": pl.String,
        "closing_order_id": pl.String,
        "ts_opened": pl.Int64,
        "ts_closed": pl.Int64,
        "duration_ns": pl.Int64,
    },
    "account": {
        "ts": pl.Int64,
        "account_id": pl.String,
        "account_type": pl.String,
        "currency": pl.String,
        "total": DECIMAL,
        "locked": DECIMAL,
        "free": DECIMAL,
    },
    "equity": {
        "ts": pl.Int64,
        "account_id": pl.String,
        "currency": pl.String,
        "balance": DECIMAL,
        "unrealized_pnl": DECIMAL,
        "equity": DECIMAL,
    },
    "prices": {"ts": pl.Int64, "instrument_id": pl.String, "price": DECIMAL},
}


class SnapshotProblem(ValueError):
    """The folder cannot be read as a snapshot (yet); the message says why, for a user."""


@dataclass
class Snapshot:
    path: Path
    manifest: dict[str, Any]

    @property
    def mode(self) -> str:
        return str(self.manifest.get("mode", "?"))

    @property
    def status(self) -> str:
        return str(self.manifest.get("status", "?"))

    @property
    def run_label(self) -> str:
        return f"{self.mode} run of {', '.join(self.manifest.get('strategies', [])) or '?'} ({self.path.name})"

    def table(self, name: str) -> pl.DataFrame:
        """Every finished part of table `name`, as one frame (empty with the documented columns if none)."""
        if name not in _SCHEMAS:
            raise ValueError(f"unknown snapshot table {name!r} (tables: {', '.join(TABLES)})")
        for attempt in range(2):
            parts = part_files(self.path / name)
            try:
                frames = [pl.read_parquet(p) for p in parts]
                break
            except (FileNotFoundError, OSError, pl.exceptions.ComputeError):
                if attempt == 1:
                    raise
                time.sleep(0.05)  # a part was replaced between listing and reading: read again
        frames = [f for f in frames if f.height > 0]
        if not frames:
            return pl.DataFrame(schema=_SCHEMAS[name])
        return pl.concat(frames, how="vertical_relaxed")


def open_snapshot(path: str | Path) -> Snapshot:
    """The snapshot in `path`, or SnapshotProblem with a message to show."""
    folder = Path(path).expanduser()
    if not str(path).strip():
        raise SnapshotProblem("no snapshot folder given: pass --snapshot DIR or type a path")
    if not folder.exists():
        raise SnapshotProblem(f"no snapshot at {folder}: the folder does not exist")
    if not folder.is_dir():
        raise SnapshotProblem(f"{folder} is a file, not a snapshot folder")
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        if not any(folder.iterdir()):
            raise SnapshotProblem(f"{folder} is empty: not a snapshot (yet)")
        raise SnapshotProblem(f"{folder} is still being written (no manifest.json yet) or is not a snapshot folder")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise SnapshotProblem(f"{manifest_path} cannot be read: {exc}") from None
    version = manifest.get("schema_version")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise SnapshotProblem(f"{folder}: snapshot schema version {version} is not supported (this reads 1)")
    return Snapshot(folder, manifest)


def floats(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """The frame with the named (decimal) columns as float64, for charts."""
    return frame.with_columns([pl.col(c).cast(pl.Float64) for c in columns if c in frame.columns])


def ns_to_datetime(frame: pl.DataFrame, column: str, name: str | None = None) -> pl.DataFrame:
    """Add (or replace) a UTC datetime column from an int ns column."""
    return frame.with_columns(
        pl.from_epoch(pl.col(column), time_unit="ns").dt.replace_time_zone("UTC").alias(name or column)
    )
