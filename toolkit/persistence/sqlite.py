"""The embedded cache database: one SQLite file in WAL mode, every table keyed by trader id.

Several traders may share a file; each reads and wipes only its own rows. Order events go to an append
table whose integer key gives the write order; the `orders` table holds one row per order (its creation order
and its latest position id). Values are the `Codec` bytes (msgpack or JSON) in BLOB columns. The writer
thread owns one connection (`check_same_thread=False`, `synchronous=NORMAL`) and commits one transaction
per batch; `load` and `wipe` use a short-lived connection of their own. Layout: docs/live.md,
"Persistence backends".
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.persistence.database import (
    OP_ACCOUNT_STATE,
    OP_DELETE_ORDER,
    OP_DELETE_POSITION,
    OP_GENERAL,
    OP_INSTRUMENT,
    OP_ORDER_EVENT,
    OP_POSITION,
    OP_STRATEGY_STATE,
    OP_TRIM_ACCOUNT_STATES,
    CacheDatabase,
    DatabaseUnavailable,
    Op,
    RawState,
)

if TYPE_CHECKING:
    from toolkit.core.log import Logger
    from toolkit.live.config import CacheConfig

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS toolkit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS instruments (
    trader_id TEXT NOT NULL, instrument_id TEXT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (trader_id, instrument_id));
CREATE TABLE IF NOT EXISTS account_states (
    seq INTEGER PRIMARY KEY, trader_id TEXT NOT NULL, account_id TEXT NOT NULL, ts_event INTEGER NOT NULL,
    data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS account_states_by_account ON account_states (trader_id, account_id, seq);
CREATE TABLE IF NOT EXISTS orders (
    rank INTEGER PRIMARY KEY, trader_id TEXT NOT NULL, client_order_id TEXT NOT NULL, position_id TEXT,
    UNIQUE (trader_id, client_order_id));
CREATE TABLE IF NOT EXISTS order_events (
    seq INTEGER PRIMARY KEY, trader_id TEXT NOT NULL, client_order_id TEXT NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS order_events_by_order ON order_events (trader_id, client_order_id, seq);
CREATE TABLE IF NOT EXISTS positions (
    trader_id TEXT NOT NULL, position_id TEXT NOT NULL, cycle INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (trader_id, position_id, cycle));
CREATE TABLE IF NOT EXISTS strategy_states (
    trader_id TEXT NOT NULL, strategy_id TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (trader_id, strategy_id));
CREATE TABLE IF NOT EXISTS general (
    trader_id TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (trader_id, key));
"""

_UPSERT_ORDER = (
    "INSERT INTO orders (trader_id, client_order_id, position_id) VALUES (?, ?, ?) "
    "ON CONFLICT (trader_id, client_order_id) DO UPDATE SET position_id = COALESCE(excluded.position_id, position_id)"
)
_INSERT_EVENT = "INSERT INTO order_events (trader_id, client_order_id, data) VALUES (?, ?, ?)"
_UPSERT_INSTRUMENT = "INSERT OR REPLACE INTO instruments (trader_id, instrument_id, data) VALUES (?, ?, ?)"
_INSERT_ACCOUNT = "INSERT INTO account_states (trader_id, account_id, ts_event, data) VALUES (?, ?, ?, ?)"
_UPSERT_POSITION = "INSERT OR REPLACE INTO positions (trader_id, position_id, cycle, data) VALUES (?, ?, ?, ?)"
_UPSERT_STRATEGY = "INSERT OR REPLACE INTO strategy_states (trader_id, strategy_id, data) VALUES (?, ?, ?)"
_UPSERT_GENERAL = "INSERT OR REPLACE INTO general (trader_id, key, value) VALUES (?, ?, ?)"
_TRIM_ACCOUNT = (
    "DELETE FROM account_states WHERE trader_id = ? AND account_id = ? AND ts_event < ? AND seq < "
    "(SELECT MAX(seq) FROM account_states WHERE trader_id = ? AND account_id = ?)"
)

# the table of each kind `wipe()` counts
_TABLES = {
    "instruments": "instruments",
    "account_states": "account_states",
    "orders": "orders",
    "order_events": "order_events",
    "positions": "positions",
    "strategy_states": "strategy_states",
    "general": "general",
}


class SqliteCacheDatabase(CacheDatabase):
    """The cache database in one SQLite file (`path`); see the module docstring."""

    backend_name = "SQLite"

    def __init__(
        self,
        trader_id: str,
        config: CacheConfig,
        log: Logger,
        instance_id: str | None = None,
        path: str | Path | None = None,
    ) -> None:
        database = config.database
        if path is None:
            if database is None or database.path is None:
                raise ValueError("SQLite cache database: no path (set database.path or pass path=)")
            path = database.path
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        super().__init__(trader_id, config, log, instance_id)

    @property
    def address(self) -> str:
        return f"SQLite {self.path}"

    def _unavailable(self, exc: BaseException) -> DatabaseUnavailable:
        return DatabaseUnavailable(f"cache database SQLite at {self.path} is unavailable: {type(exc).__name__}: {exc}")

    def _open_connection(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.database.timeout, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _connect(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._open_connection()
            try:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise sqlite3.OperationalError(f"cannot switch to WAL journal mode (got {mode!r})")
                conn.executescript(SCHEMA)
                conn.execute(
                    "INSERT OR IGNORE INTO toolkit_meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
                found = conn.execute("SELECT value FROM toolkit_meta WHERE key = 'schema_version'").fetchone()[0]
                if int(found) != SCHEMA_VERSION:
                    raise sqlite3.DatabaseError(
                        f"schema version {found} in the file, this toolkit writes version {SCHEMA_VERSION}"
                    )
            except BaseException:
                conn.close()
                raise
        except (OSError, sqlite3.Error) as exc:
            raise self._unavailable(exc) from exc
        self._conn = conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error as exc:
                self._log.warning("cache database %s: error while closing: %s", self.address, exc)
            self._conn = None

    def _is_transient(self, exc: BaseException) -> bool:
        # Constraint, programming and interface errors come from a write itself; a locked, busy, full or
        # unreadable database (OperationalError, DatabaseError) may recover.
        if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError | sqlite3.InterfaceError):
            return False
        return isinstance(exc, sqlite3.Error | OSError)

    def _apply(self, batch: Sequence[Op], batch_id: int, retrying: bool) -> Sequence[tuple[Op, str]]:
        conn = self._conn
        if conn is None:
            raise sqlite3.OperationalError("connection closed")
        trader = self.trader_id
        conn.execute("BEGIN IMMEDIATE")
        try:
            for op in batch:
                kind = op[0]
                if kind == OP_ORDER_EVENT:
                    _, coid, payload, position_id, _score = op
                    conn.execute(_UPSERT_ORDER, (trader, coid, position_id))
                    conn.execute(_INSERT_EVENT, (trader, coid, payload))
                elif kind == OP_ACCOUNT_STATE:
                    conn.execute(_INSERT_ACCOUNT, (trader, op[1], op[2], op[3]))
                elif kind == OP_POSITION:
                    conn.execute(_UPSERT_POSITION, (trader, op[1], op[2], op[3]))
                elif kind == OP_INSTRUMENT:
                    conn.execute(_UPSERT_INSTRUMENT, (trader, op[1], op[2]))
                elif kind == OP_STRATEGY_STATE:
                    conn.execute(_UPSERT_STRATEGY, (trader, op[1], op[2]))
                elif kind == OP_GENERAL:
                    conn.execute(_UPSERT_GENERAL, (trader, op[1], op[2]))
                elif kind == OP_DELETE_ORDER:
                    conn.execute(
                        "DELETE FROM order_events WHERE trader_id = ? AND client_order_id = ?", (trader, op[1])
                    )
                    conn.execute("DELETE FROM orders WHERE trader_id = ? AND client_order_id = ?", (trader, op[1]))
                elif kind == OP_DELETE_POSITION:
                    conn.execute("DELETE FROM positions WHERE trader_id = ? AND position_id = ?", (trader, op[1]))
                elif kind == OP_TRIM_ACCOUNT_STATES:
                    conn.execute(_TRIM_ACCOUNT, (trader, op[1], op[2], trader, op[1]))
                else:
                    raise sqlite3.ProgrammingError(f"unknown write kind {kind!r}")
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        return ()

    def _short_lived(self) -> sqlite3.Connection:
        try:
            return self._open_connection()
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc

    def _wipe(self) -> dict[str, int]:
        conn = self._short_lived()
        try:
            counts: dict[str, int] = {}
            conn.execute("BEGIN IMMEDIATE")
            for kind, table in _TABLES.items():
                counts[kind] = conn.execute(f"DELETE FROM {table} WHERE trader_id = ?", (self.trader_id,)).rowcount
            conn.execute("COMMIT")
            return counts
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc
        finally:
            conn.close()

    def _load_raw(self) -> RawState:
        conn = self._short_lived()
        trader = (self.trader_id,)
        try:
            raw = RawState()
            conn.execute("BEGIN")  # one consistent read snapshot
            raw.instruments = [
                row[0]
                for row in conn.execute(
                    "SELECT data FROM instruments WHERE trader_id = ? ORDER BY instrument_id", trader
                )
            ]
            for account_id, data in conn.execute(
                "SELECT account_id, data FROM account_states WHERE trader_id = ? ORDER BY seq", trader
            ):
                raw.account_states.setdefault(account_id, []).append(data)
            events: dict[str, list[bytes]] = {}
            for coid, data in conn.execute(
                "SELECT client_order_id, data FROM order_events WHERE trader_id = ? ORDER BY seq", trader
            ):
                events.setdefault(coid, []).append(data)
            raw.orders = [
                (coid, events.get(coid, []), position_id)
                for coid, position_id in conn.execute(
                    "SELECT client_order_id, position_id FROM orders WHERE trader_id = ? ORDER BY rank", trader
                )
            ]
            raw.positions = [
                row[0]
                for row in conn.execute(
                    "SELECT data FROM positions WHERE trader_id = ? ORDER BY position_id, cycle", trader
                )
            ]
            raw.strategy_states = dict(
                conn.execute("SELECT strategy_id, data FROM strategy_states WHERE trader_id = ?", trader).fetchall()
            )
            raw.general = dict(conn.execute("SELECT key, value FROM general WHERE trader_id = ?", trader).fetchall())
            conn.execute("COMMIT")
            return raw
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc
        finally:
            conn.close()
