"""Snapshot folders: the versioned Parquet contract between runs (backtest or live) and `apps/`.

A snapshot is a folder with `manifest.json` and one sub-folder per table (`orders/`, `fills/`,
`positions/`, `account/`, `equity/`), each holding one or more `part-NNNNN.parquet` files. Every
file is written to a temporary name in the same folder and renamed into place, so a reader never
sees half a file; the manifest is written last. Prices, quantities and money are exact
`decimal128(38, 9)` columns, timestamps int64 ns UTC. The schema (`SNAPSHOT_SCHEMA_VERSION`) is
documented in `docs/snapshots.md`; a change of columns bumps the version.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from toolkit.model.events import OrderFilled
from toolkit.model.objects import Money, Price, Quantity
from toolkit.persistence.parts import next_part_number, part_files, part_range

if TYPE_CHECKING:
    from toolkit.backtest.engine import BacktestEngine
    from toolkit.model.orders import Order
    from toolkit.model.position import Position

SNAPSHOT_SCHEMA_VERSION = 1
DEC = pa.decimal128(38, 9)
_Q = Decimal("0.000000001")

SCHEMAS: dict[str, pa.Schema] = {
    "orders": pa.schema(
        [
            ("client_order_id", pa.string()),
            ("venue_order_id", pa.string()),
            ("trader_id", pa.string()),
            ("strategy_id", pa.string()),
            ("instrument_id", pa.string()),
            ("account_id", pa.string()),
            ("position_id", pa.string()),
            ("side", pa.string()),
            ("order_type", pa.string()),
            ("time_in_force", pa.string()),
            ("quantity", DEC),
            ("price", DEC),
            ("trigger_price", DEC),
            ("status", pa.string()),
            ("filled_qty", DEC),
            ("avg_px", DEC),
            ("post_only", pa.bool_()),
            ("reduce_only", pa.bool_()),
            ("tags", pa.string()),
            ("ts_init", pa.int64()),
            ("ts_last", pa.int64()),
        ]
    ),
    "fills": pa.schema(
        [
            ("ts_event", pa.int64()),
            ("ts_init", pa.int64()),
            ("trade_id", pa.string()),
            ("client_order_id", pa.string()),
            ("venue_order_id", pa.string()),
            ("position_id", pa.string()),
            ("strategy_id", pa.string()),
            ("instrument_id", pa.string()),
            ("account_id", pa.string()),
            ("side", pa.string()),
            ("order_type", pa.string()),
            ("last_qty", DEC),
            ("last_px", DEC),
            ("commission", DEC),
            ("commission_currency", pa.string()),
            ("liquidity_side", pa.string()),
        ]
    ),
    "positions": pa.schema(
        [
            ("position_id", pa.string()),
            ("cycle", pa.int32()),
            ("strategy_id", pa.string()),
            ("instrument_id", pa.string()),
            ("account_id", pa.string()),
            ("entry", pa.string()),
            ("side", pa.string()),
            ("is_open", pa.bool_()),
            ("quantity", DEC),
            ("peak_qty", DEC),
            ("avg_px_open", DEC),
            ("avg_px_close", DEC),
            ("realized_pnl", DEC),
            ("unrealized_pnl", DEC),
            ("currency", pa.string()),
            ("commissions", pa.string()),
            ("opening_order_id", pa.string()),
            ("closing_order_id", pa.string()),
            ("ts_opened", pa.int64()),
            ("ts_closed", pa.int64()),
            ("duration_ns", pa.int64()),
        ]
    ),
    "account": pa.schema(
        [
            ("ts", pa.int64()),
            ("account_id", pa.string()),
            ("account_type", pa.string()),
            ("currency", pa.string()),
            ("total", DEC),
            ("locked", DEC),
            ("free", DEC),
        ]
    ),
    "equity": pa.schema(
        [
            ("ts", pa.int64()),
            ("account_id", pa.string()),
            ("currency", pa.string()),
            ("balance", DEC),
            ("unrealized_pnl", DEC),
            ("equity", DEC),
        ]
    ),
    "prices": pa.schema(
        [
            ("ts", pa.int64()),
            ("instrument_id", pa.string()),
            ("price", DEC),
        ]
    ),
}
TABLES = tuple(SCHEMAS)


def _dec(value: Price | Quantity | Money | Decimal | None) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value.quantize(_Q, rounding=ROUND_HALF_EVEN)
    return value.as_decimal().quantize(_Q)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def order_row(order: Order) -> dict[str, Any]:
    return {
        "client_order_id": str(order.client_order_id),
        "venue_order_id": _str(order.venue_order_id),
        "trader_id": str(order.trader_id),
        "strategy_id": str(order.strategy_id),
        "instrument_id": str(order.instrument_id),
        "account_id": _str(order.account_id),
        "position_id": _str(order.position_id),
        "side": order.side.value,
        "order_type": order.order_type.value,
        "time_in_force": order.time_in_force.value,
        "quantity": _dec(order.quantity),
        "price": _dec(order.price),
        "trigger_price": _dec(order.trigger_price),
        "status": order.status.value,
        "filled_qty": _dec(order.filled_qty),
        "avg_px": _dec(order.avg_px),
        "post_only": order.post_only,
        "reduce_only": order.reduce_only,
        "tags": ",".join(order.tags),
        "ts_init": order.ts_init,
        "ts_last": order.ts_last,
    }


def fill_row(fill: OrderFilled) -> dict[str, Any]:
    return {
        "ts_event": fill.ts_event,
        "ts_init": fill.ts_init,
        "trade_id": str(fill.trade_id),
        "client_order_id": str(fill.client_order_id),
        "venue_order_id": str(fill.venue_order_id),
        "position_id": _str(fill.position_id),
        "strategy_id": str(fill.strategy_id),
        "instrument_id": str(fill.instrument_id),
        "account_id": str(fill.account_id),
        "side": fill.order_side.value,
        "order_type": fill.order_type.value,
        "last_qty": _dec(fill.last_qty),
        "last_px": _dec(fill.last_px),
        "commission": _dec(fill.commission),
        "commission_currency": fill.commission.currency.code,
        "liquidity_side": fill.liquidity_side.value,
    }


def position_row(position: Position, cycle: int, unrealized: Money | None) -> dict[str, Any]:
    return {
        "position_id": str(position.id),
        "cycle": cycle,
        "strategy_id": str(position.strategy_id),
        "instrument_id": str(position.instrument_id),
        "account_id": str(position.account_id),
        "entry": position.entry.value,
        "side": position.side.value,
        "is_open": position.is_open,
        "quantity": _dec(position.quantity),
        "peak_qty": _dec(position.peak_qty),
        "avg_px_open": _dec(position.avg_px_open),
        "avg_px_close": _dec(position.avg_px_close),
        "realized_pnl": _dec(position.realized_pnl),
        "unrealized_pnl": _dec(unrealized) if unrealized is not None else Decimal(0).quantize(_Q),
        "currency": position.settlement_currency.code,
        "commissions": ";".join(str(m) for m in position.commissions()),
        "opening_order_id": str(position.opening_order_id),
        "closing_order_id": _str(position.closing_order_id),
        "ts_opened": position.ts_opened,
        "ts_closed": position.ts_closed,
        "duration_ns": position.duration_ns,
    }


def _write_atomic(path: Path, write: Any) -> None:
    """Write via a temp file in the same folder, then rename over `path` (atomic on POSIX)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class SnapshotWriter:
    """Writes part files and the manifest of one snapshot folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._next_part: dict[str, int] = {}

    def _part_number(self, table: str) -> int:
        if table not in self._next_part:
            self._next_part[table] = next_part_number(self.path / table)
        number = self._next_part[table]
        self._next_part[table] = number + 1
        return number

    def write_part(self, table: str, rows: Iterable[dict[str, Any]]) -> Path:
        """Write `rows` as the table's next part file (an empty part keeps the schema visible)."""
        schema = SCHEMAS[table]
        rows = list(rows)
        arrow = pa.Table.from_pylist(rows, schema=schema) if rows else schema.empty_table()
        target = self.path / table / f"part-{self._part_number(table):05d}.parquet"
        _write_atomic(target, lambda tmp: pq.write_table(arrow, tmp))
        return target

    def replace_table(self, table: str, rows: Iterable[dict[str, Any]]) -> Path:
        """Write the whole current state of a table as its single part, atomically replacing the previous one
        (a reader sees the old file or the new one, never both and never half)."""
        schema = SCHEMAS[table]
        rows = list(rows)
        arrow = pa.Table.from_pylist(rows, schema=schema) if rows else schema.empty_table()
        target = self.path / table / "part-00000.parquet"
        _write_atomic(target, lambda tmp: pq.write_table(arrow, tmp))
        return target

    def compact(self, table: str, max_parts: int) -> Path | None:
        """When a table has more than `max_parts` files, merge them all into one range file
        `part-FIRST-LAST.parquet` (written atomically), then delete the files it covers. Readers that list
        the folder in between skip the covered files (`parts.part_files`), so no row is seen twice or lost."""
        folder = self.path / table
        files = part_files(folder)
        if len(files) <= max(max_parts, 1):
            return None
        bounds = [b for f in files if (b := part_range(f)) is not None]
        if len(bounds) != len(files):
            return None  # a foreign file in the folder: leave the table as it is
        merged = pa.concat_tables([pq.read_table(f, schema=SCHEMAS[table]) for f in files])
        target = folder / f"part-{bounds[0][0]:05d}-{bounds[-1][1]:05d}.parquet"
        _write_atomic(target, lambda tmp: pq.write_table(merged, tmp))
        for path in files:
            if path != target:
                path.unlink(missing_ok=True)
        return target

    def write_manifest(self, manifest: dict[str, Any]) -> Path:
        target = self.path / "manifest.json"
        text = json.dumps(manifest, indent=2, default=str)
        _write_atomic(target, lambda tmp: Path(tmp).write_text(text))
        return target


def equity_row(point: Any) -> dict[str, Any]:
    return {
        "ts": point.ts,
        "account_id": point.account_id,
        "currency": point.currency,
        "balance": _dec(point.balance),
        "unrealized_pnl": _dec(point.unrealized),
        "equity": _dec(point.equity),
    }


def price_rows(rows: Iterable[tuple[int, str, int, int]]) -> list[dict[str, Any]]:
    """Sampled prices (ts, instrument id, raw, precision) as snapshot rows (raw is at the 1e9 scale: exact)."""
    return [
        {"ts": ts, "instrument_id": iid, "price": (Decimal(raw) / 1_000_000_000).quantize(_Q)}
        for ts, iid, raw, _ in rows
    ]


def account_rows(states: Iterable[Any]) -> list[dict[str, Any]]:
    return [
        {
            "ts": state.ts_event,
            "account_id": str(state.account_id),
            "account_type": state.account_type.value,
            "currency": balance.total.currency.code,
            "total": _dec(balance.total),
            "locked": _dec(balance.locked),
            "free": _dec(balance.free),
        }
        for state in states
        for balance in state.balances
    ]


def position_rows(cache: Any, portfolio: Any) -> list[dict[str, Any]]:
    """Every position cycle (closed snapshots first), open ones with their unrealized PnL."""
    rows = []
    cycles: dict[str, int] = {}
    for position in [*cache.position_snapshots(), *cache.positions()]:
        cycle = cycles.get(str(position.id), 0)
        cycles[str(position.id)] = cycle + 1
        unrealized = portfolio.unrealized_pnl_for(position) if position.is_open else None
        rows.append(position_row(position, cycle, unrealized))
    return rows


class LiveSnapshot:
    """The snapshot folder of a running node: state tables (orders, positions) are replaced atomically on
    every write, event tables (fills, account, equity, prices) grow by one part per write and are compacted
    into one range file when they pass `max_parts` files (so a node writing every second for days keeps a
    handful of files per table, and readers stay fast), the manifest last."""

    APPEND_TABLES = ("fills", "account", "equity", "prices")

    def __init__(self, path: str | Path, header: dict[str, Any], max_parts: int = 64) -> None:
        self.writer = SnapshotWriter(path)
        self.header = dict(header)
        self.max_parts = max_parts
        self.created = datetime.now(UTC).isoformat()
        self._fills_written = 0
        self._states_written = 0
        self._prices_written = 0
        self.writes = 0

    @property
    def path(self) -> Path:
        return self.writer.path

    def write_state_tables(self, cache: Any, portfolio: Any) -> None:
        """Rewrite the state tables only (orders, positions), atomically."""
        self.writer.replace_table("orders", (order_row(o) for o in cache.orders()))
        self.writer.replace_table("positions", position_rows(cache, portfolio))

    def write(
        self,
        cache: Any,
        portfolio: Any,
        fills: list[OrderFilled],
        status: str,
        ts: int,
        prices: list[tuple[int, str, int, int]] | None = None,
    ) -> None:
        orders = cache.orders()
        self.write_state_tables(cache, portfolio)
        new_fills = fills[self._fills_written :]
        if new_fills or self.writes == 0:
            self.writer.write_part("fills", (fill_row(f) for f in new_fills))
            self._fills_written += len(new_fills)
        new_states = portfolio.account_states[self._states_written :]
        if new_states or self.writes == 0:
            self.writer.write_part("account", account_rows(new_states))
            self._states_written += len(new_states)
        self.writer.write_part("equity", (equity_row(p) for p in portfolio.equity_points(ts)))
        new_prices = (prices or [])[self._prices_written :]
        if new_prices or self.writes == 0:
            self.writer.write_part("prices", price_rows(new_prices))
            self._prices_written += len(new_prices)
        for table in self.APPEND_TABLES:
            self.writer.compact(table, self.max_parts)
        self.writes += 1
        manifest = {
            "schema_version": SNAPSHOT_SCHEMA_VERSION,
            "mode": "live",
            "status": status,
            **self.header,
            "created_at": self.created,
            "last_update": datetime.now(UTC).isoformat(),
            "last_update_ns": ts,
            "tables": list(TABLES),
            "counts": {"orders": len(orders), "fills": self._fills_written, "positions": len(cache.positions())},
        }
        self.writer.write_manifest(manifest)


def write_backtest_snapshot(engine: BacktestEngine, path: str | Path, run_id: str | None = None) -> Path:
    """Write a finished backtest's orders, fills, positions, account states and equity, then the manifest."""
    cache = engine.kernel.cache
    portfolio = engine.kernel.portfolio
    writer = SnapshotWriter(path)
    if (writer.path / "manifest.json").exists():
        raise FileExistsError(f"{writer.path} already holds a snapshot: choose an empty folder")
    created = datetime.now(UTC).isoformat()
    orders = cache.orders()
    writer.write_part("orders", (order_row(o) for o in orders))
    fills = [e for o in orders for e in o.events if type(e) is OrderFilled]
    fills.sort(key=lambda f: (f.ts_event, str(f.trade_id)))
    writer.write_part("fills", (fill_row(f) for f in fills))
    writer.write_part("positions", position_rows(cache, portfolio))
    writer.write_part("account", account_rows(portfolio.account_states))
    writer.write_part("equity", (equity_row(p) for p in engine.equity))
    writer.write_part("prices", price_rows(engine.prices.rows if engine.prices is not None else []))
    result = engine.result()
    manifest = {
        "schema_version": SNAPSHOT_SCHEMA_VERSION,
        "run_id": run_id or uuid.uuid4().hex,
        "mode": "backtest",
        "status": "completed",
        "trader_id": result.trader_id,
        "strategies": result.strategies,
        "instruments": result.instruments,
        "venues": [str(v) for v in engine.exchanges],
        "start_ns": result.start_ns,
        "end_ns": result.end_ns,
        "created_at": created,
        "last_update": datetime.now(UTC).isoformat(),
        "tables": list(TABLES),
        "counts": {
            "events": result.events,
            "orders": result.orders,
            "fills": result.fills,
            "positions": result.positions,
        },
        "summary": {
            account.account_id + ":" + account.currency: {
                k: _json_value(v) for k, v in account.summary.to_dict().items()
            }
            for account in result.accounts
        },
        "warnings": result.warnings,
    }
    writer.write_manifest(manifest)
    return writer.path


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    return value
