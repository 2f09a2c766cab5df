"""The cache database: one interface over the SQLite and Redis backends, their encoding, and the writer thread.

`CacheDatabase` is what the live node's cache persists through: instruments, account states, orders (their
event lists and position ids), position records, strategy state (`on_save`/`on_load`) and general key/values
of one trader, read back at start by `load()` as a `PersistedState`. Write calls run on the event loop and
only encode and enqueue (`BackgroundWriter`): one background thread per database takes the queue in order and
persists each write as it comes (`buffer_interval_ms` None/0, write-through) or what arrived in each window
as one transaction/pipeline (write-behind). A backend error never reaches the loop: the writer keeps the
batch, logs the outage naming backend and address (once, then every 30 s), retries with backoff 0.1 s
doubling to 5 s and resumes where it stopped, so no write is lost, duplicated or reordered. `Codec` encodes
our structs with msgspec as msgpack or JSON (identifiers as strings, Decimals as text), optionally with
every `ts_*` timestamp as ISO 8601 text with nine decimals. The backends live in `sqlite.py` and
`redis_db.py`; `open_cache_database` builds and opens the one a `CacheConfig` names. See docs/live.md,
"Persistence backends".
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import msgspec

from toolkit.core.clock import unix_nanos_to_iso8601
from toolkit.live.config import CacheConfig, DatabaseType, Encoding
from toolkit.model.events import AccountState, OrderEvent, OrderEventTypes, OrderInitialized
from toolkit.model.identifiers import Identifier
from toolkit.model.instruments import INSTRUMENT_KINDS, Instrument

if TYPE_CHECKING:
    from toolkit.core.log import Logger

InstrumentTypes = Union[tuple(INSTRUMENT_KINDS.values())]  # type: ignore[valid-type]  # noqa: UP007
"""Every concrete instrument kind, told apart by the `kind` tag."""

Op = tuple[Any, ...]
"""One queued write: `(kind, key, ...)`; the kinds are the `OP_*` names below."""

OP_INSTRUMENT = "instrument"  # (kind, instrument_id, payload)
OP_ACCOUNT_STATE = "account_state"  # (kind, account_id, ts_event, payload)
OP_ORDER_EVENT = "order_event"  # (kind, client_order_id, payload, position_id | None, order_score | None)
OP_POSITION = "position"  # (kind, position_id, cycle, payload)
OP_STRATEGY_STATE = "strategy_state"  # (kind, strategy_id, payload)
OP_GENERAL = "general"  # (kind, key, value)
OP_DELETE_ORDER = "delete_order"  # (kind, client_order_id)
OP_DELETE_POSITION = "delete_position"  # (kind, position_id)
OP_TRIM_ACCOUNT_STATES = "trim_account_states"  # (kind, account_id, keep_after_ns)

WIPE_KINDS = ("instruments", "account_states", "orders", "order_events", "positions", "strategy_states", "general")
"""The keys of the counts `wipe()` returns (Redis adds `keys`: how many keys it deleted)."""

RETRY_FIRST_DELAY = 0.1
RETRY_MAX_DELAY = 5.0
OUTAGE_LOG_INTERVAL = 30.0
DEFAULT_MAX_PENDING = 1_000_000
DEFAULT_MAX_BATCH = 20_000


class DatabaseUnavailable(RuntimeError):
    """The database cannot be used; the message names the backend, its address or path and the cause."""


class PersistedState(msgspec.Struct):
    """What `CacheDatabase.load()` returns for one trader.

    `orders` holds, per order, its events in write order (the first is `OrderInitialized`) and its last
    recorded position id, orders in the order they were created. `positions` are the records as written,
    decoded to plain values (identifiers and Decimals as text), sorted by (position_id, cycle): the node
    rebuilds `Position`s from the orders' fills and uses these for inspection.
    """

    instruments: list[Instrument] = msgspec.field(default_factory=list)
    account_states: dict[str, list[AccountState]] = msgspec.field(default_factory=dict)
    orders: list[tuple[list[OrderEvent], str | None]] = msgspec.field(default_factory=list)
    positions: list[dict[str, Any]] = msgspec.field(default_factory=list)
    strategy_states: dict[str, dict[str, bytes]] = msgspec.field(default_factory=dict)
    general: dict[str, bytes] = msgspec.field(default_factory=dict)


class RawState(msgspec.Struct):
    """What a backend reads back before decoding: the stored bytes, already in the `PersistedState` order."""

    instruments: list[bytes] = msgspec.field(default_factory=list)
    account_states: dict[str, list[bytes]] = msgspec.field(default_factory=dict)
    orders: list[tuple[str, list[bytes], str | None]] = msgspec.field(default_factory=list)
    positions: list[bytes] = msgspec.field(default_factory=list)
    strategy_states: dict[str, bytes] = msgspec.field(default_factory=dict)
    general: dict[str, bytes] = msgspec.field(default_factory=dict)


# -- encoding ----------------------------------------------------------------------------------------------------------

_ISO_NS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{9})Z$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ns_to_iso8601(ts_ns: int) -> str:
    """`2024-01-02T03:04:05.000000001Z`: UTC with all nine decimals (exactly reversible)."""
    return unix_nanos_to_iso8601(ts_ns)


def iso8601_to_ns(text: str) -> int:
    """The integer ns of an `ns_to_iso8601` string; ValueError naming the text otherwise."""
    match = _ISO_NS.match(text)
    if match is None:
        raise ValueError(
            f"not an ISO 8601 timestamp with nine decimals: {text!r} (e.g. '2024-01-02T03:04:05.000000001Z')"
        )
    whole = datetime.fromisoformat(match[1]).replace(tzinfo=UTC)
    delta = whole - _EPOCH
    seconds = delta.days * 86_400 + delta.seconds
    return seconds * 1_000_000_000 + int(match[2])


def _timestamps_to_iso(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: ns_to_iso8601(v)
            if isinstance(k, str) and k.startswith("ts_") and type(v) is int
            else _timestamps_to_iso(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_timestamps_to_iso(v) for v in value]
    return value


def _timestamps_from_iso(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: iso8601_to_ns(v)
            if isinstance(k, str) and k.startswith("ts_") and isinstance(v, str) and _ISO_NS.match(v)
            else _timestamps_from_iso(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_timestamps_from_iso(v) for v in value]
    return value


def enc_hook(obj: Any) -> Any:
    """msgspec encode hook: our identifiers (str subclasses) as plain strings, Decimals as text."""
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, Decimal):
        return str(obj)
    raise NotImplementedError(f"cannot encode {type(obj).__name__} for the database")


def dec_hook(target: type, value: Any) -> Any:
    """msgspec decode hook: build our identifiers (and Decimals) from their text."""
    if isinstance(target, type) and issubclass(target, Identifier):
        if not isinstance(value, str):
            raise TypeError(f"expected a string for {target.__name__}, got {type(value).__name__}")
        return target(value)
    if target is Decimal and isinstance(value, str | int | float):
        return Decimal(str(value))
    raise NotImplementedError(f"cannot decode {target!r}")


class Codec:
    """Encodes values to bytes and back: msgpack (default) or JSON, timestamps as ns or ISO 8601 text.

    `encode(obj)` takes a struct, a list/dict of them or plain values; `decode(data, type)` builds `type`
    (a struct, a union of tagged structs, `dict[str, Any]`...). With `timestamps_as_iso8601` every `ts_*`
    field holding an integer is stored as `ns_to_iso8601` text and read back to the same integer.
    `encode_plain`/`decode_plain` never touch timestamps (opaque state such as `dict[str, bytes]`).
    """

    def __init__(self, encoding: Encoding | str = Encoding.MSGPACK, timestamps_as_iso8601: bool = False) -> None:
        self.encoding = Encoding(encoding)
        self.timestamps_as_iso8601 = timestamps_as_iso8601
        if self.encoding == Encoding.JSON:
            self._encoder: msgspec.json.Encoder | msgspec.msgpack.Encoder = msgspec.json.Encoder(enc_hook=enc_hook)
            self._builtin_types: tuple[type, ...] = ()
            self._decoder_class: Any = msgspec.json.Decoder
        else:
            self._encoder = msgspec.msgpack.Encoder(enc_hook=enc_hook)
            self._builtin_types = (bytes, bytearray, memoryview)
            self._decoder_class = msgspec.msgpack.Decoder
        self._any = self._decoder_class()
        self._decoders: dict[Any, Any] = {}

    def __repr__(self) -> str:
        return f"Codec({self.encoding.value!r}, timestamps_as_iso8601={self.timestamps_as_iso8601})"

    def encode(self, obj: Any) -> bytes:
        if self.timestamps_as_iso8601:
            obj = _timestamps_to_iso(msgspec.to_builtins(obj, builtin_types=self._builtin_types, enc_hook=enc_hook))
        return self._encoder.encode(obj)

    def decode(self, data: bytes, type: Any = Any) -> Any:
        if self.timestamps_as_iso8601:
            value = _timestamps_from_iso(self._any.decode(data))
            if type is Any:
                return value
            return msgspec.convert(value, type=type, dec_hook=dec_hook)
        return self._decoder(type).decode(data)

    def encode_plain(self, obj: Any) -> bytes:
        return self._encoder.encode(obj)

    def decode_plain(self, data: bytes, type: Any = Any) -> Any:
        return self._decoder(type).decode(data)

    def _decoder(self, type: Any) -> Any:
        decoder = self._decoders.get(type)
        if decoder is None:
            decoder = self._decoders[type] = self._decoder_class(type=type, dec_hook=dec_hook)
        return decoder


# -- the writer thread -------------------------------------------------------------------------------------------------

ApplyBatch = Callable[[Sequence[Op], int, bool], Sequence[tuple[Op, str]]]
"""`apply(batch, batch_id, retrying)`: persist the batch as one transaction and return the ops that failed for
good (with the reason); raise to have the whole batch retried (transient) or split (not transient). `retrying`
is True when an earlier attempt of the same `batch_id` failed and may nevertheless have been applied."""


class BackgroundWriter:
    """One thread persisting queued writes in order, write-through or in write-behind windows, retrying outages.

    `put` (any thread, normally the event loop) appends to a bounded in-memory queue and returns at once.
    The thread takes one write at a time (`buffer_interval_ms` None/0) or, when a write arrives, waits the
    interval and takes what arrived meanwhile (at most `max_batch`), and hands it to `apply` as one
    transaction. A transient error (`is_transient`) keeps the batch and retries it with backoff 0.1 s
    doubling to 5 s, logging the outage naming `describe` once and then every 30 s, and its end. A
    non-transient error splits the batch and drops only the writes that fail alone (logged, `failed`).
    A full queue drops the new write (logged, `dropped`): the bound (`max_pending`) only matters after a long
    outage. `flush` waits until what was queued before the call is done. With `drain` and no interval the
    thread takes everything queued at once without waiting (low latency, batches only under load: the bus
    streamer's mode).
    """

    def __init__(
        self,
        name: str,
        apply: ApplyBatch,
        is_transient: Callable[[BaseException], bool],
        describe: str,
        log: Logger,
        buffer_interval_ms: int | None = None,
        max_pending: int = DEFAULT_MAX_PENDING,
        max_batch: int = DEFAULT_MAX_BATCH,
        drain: bool = False,
    ) -> None:
        self.name = name
        self._drain = drain
        self.describe = describe
        self._apply = apply
        self._is_transient = is_transient
        self._log = log
        self._interval = (buffer_interval_ms or 0) / 1000.0
        self._max_pending = max_pending
        self._max_batch = max_batch
        self._cond = threading.Condition()
        self._queue: deque[Op] = deque()
        self._thread: threading.Thread | None = None
        self._enqueued = 0
        self._done = 0
        self._idle = False
        self._flushers = 0
        self._closing = False
        self._given_up = False
        self._batch_id = 0
        self.transactions = 0
        """Batches committed (transactions / pipelines)."""
        self.persisted = 0
        """Writes persisted."""
        self.failed = 0
        """Writes the backend refused for good (logged)."""
        self.dropped = 0
        """Writes refused because the queue was full (logged)."""
        self.lost = 0
        """Writes still queued when `close` gave up on an unreachable backend (logged)."""
        self.last_error: str | None = None
        self._outage_since: float | None = None
        self._outage_logged_at = 0.0
        self._drop_logged_at: float | None = None

    # -- any thread ---------------------------------------------------------------------------------------------

    @property
    def interval_ms(self) -> int:
        return round(self._interval * 1000)

    @property
    def pending(self) -> int:
        """Writes queued or being written."""
        return self._enqueued - self._done

    @property
    def in_outage(self) -> bool:
        return self._outage_since is not None

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def put(self, op: Op) -> bool:
        """Queue one write; False (and logged) if the writer is closed or the queue is full. Never blocks."""
        with self._cond:
            if self._closing:
                self._log.error("%s: write %s %s after close: not persisted", self.describe, op[0], op[1])
                return False
            if len(self._queue) >= self._max_pending:
                self.dropped += 1
                now = time.monotonic()
                if self._drop_logged_at is None or now - self._drop_logged_at >= OUTAGE_LOG_INTERVAL:
                    self._drop_logged_at = now
                    self._log.error(
                        "%s: write queue full (%d pending): dropping new writes (%d so far); last error: %s",
                        self.describe,
                        len(self._queue),
                        self.dropped,
                        self.last_error,
                    )
                return False
            self._queue.append(op)
            self._enqueued += 1
            if self._idle:
                self._cond.notify()
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Block until every write queued before the call is done; False on timeout (or no running thread)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._enqueued
            if self._done >= target:
                return True
            if not self.is_running:
                return False
            self._flushers += 1
            self._cond.notify_all()
            try:
                while self._done < target:
                    if not self.is_running:
                        return False
                    if deadline is None:
                        self._cond.wait(1.0)
                    else:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            return False
                        self._cond.wait(min(remaining, 1.0))
                return True
            finally:
                self._flushers -= 1

    def close(self, timeout: float) -> bool:
        """Flush for at most `timeout` seconds, then stop the thread (logging what could not be written)."""
        flushed = self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=max(timeout, 1.0))
        return flushed

    # -- the writer thread ----------------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._idle = True
                    self._cond.wait()
                self._idle = False
                if not self._queue:
                    return
                if self._given_up:
                    self._abandon_queue()
                    return
                if self._interval > 0:
                    deadline = time.monotonic() + self._interval
                    while not (self._flushers or self._closing):
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            break
                        self._cond.wait(remaining)
                    count = min(len(self._queue), self._max_batch)
                else:
                    count = min(len(self._queue), self._max_batch) if self._drain else 1
                popleft = self._queue.popleft
                batch = [popleft() for _ in range(count)]
            try:
                self._write(batch)
            except BaseException as exc:  # a bug in a backend: never leave flushers waiting forever
                self.failed += len(batch)
                self.last_error = f"{type(exc).__name__}: {exc}"
                self._log.exception("%s: writer failed on %d writes", self.describe, len(batch))
            with self._cond:
                self._done += len(batch)
                if self._flushers or self._closing:
                    self._cond.notify_all()

    def _abandon_queue(self) -> None:
        lost = len(self._queue)
        self._queue.clear()
        self.lost += lost
        self._done += lost
        self._cond.notify_all()
        if lost:
            self._log.error("%s: closed while unreachable: %d queued writes NOT persisted", self.describe, lost)

    def _write(self, batch: list[Op]) -> None:
        self._batch_id += 1
        batch_id = self._batch_id
        retrying = False
        delay = RETRY_FIRST_DELAY
        while True:
            try:
                failures = self._apply(batch, batch_id, retrying)
            except Exception as exc:
                if not self._is_transient(exc):
                    if len(batch) == 1:
                        self._fail(batch[0], exc)
                    else:
                        for op in batch:
                            self._write([op])
                    return
                self._on_outage(exc, len(batch))
                with self._cond:
                    if self._closing:
                        self._given_up = True
                        self.lost += len(batch)
                        self._log.error(
                            "%s: closed while unreachable: %d writes of the current batch NOT persisted",
                            self.describe,
                            len(batch),
                        )
                        return
                    self._cond.wait(delay)
                delay = min(delay * 2, RETRY_MAX_DELAY)
                retrying = True
                continue
            self.transactions += 1
            for op, reason in failures:
                self._fail(op, reason)
            self.persisted += len(batch) - len(failures)
            if self._outage_since is not None:
                self._log.warning(
                    "%s: reachable again after %.1f s; resuming (%d writes pending)",
                    self.describe,
                    time.monotonic() - self._outage_since,
                    self.pending,
                )
                self._outage_since = None
            return

    def _on_outage(self, exc: BaseException, size: int) -> None:
        now = time.monotonic()
        self.last_error = f"{type(exc).__name__}: {exc}"
        if self._outage_since is None:
            self._outage_since = now
            self._outage_logged_at = now
            self._log.error(
                "%s unavailable: %s; keeping %d writes (%d pending) and retrying with backoff",
                self.describe,
                self.last_error,
                size,
                self.pending,
            )
        elif now - self._outage_logged_at >= OUTAGE_LOG_INTERVAL:
            self._outage_logged_at = now
            self._log.error(
                "%s still unavailable after %.0f s: %s; %d writes pending",
                self.describe,
                now - self._outage_since,
                self.last_error,
                self.pending,
            )

    def _fail(self, op: Op, reason: BaseException | str) -> None:
        self.failed += 1
        text = reason if isinstance(reason, str) else f"{type(reason).__name__}: {reason}"
        self.last_error = text
        self._log.error("%s: write %s %s refused and dropped: %s", self.describe, op[0], op[1], text)


# -- the interface -----------------------------------------------------------------------------------------------------


class CacheDatabase(ABC):
    """Persists one trader's cache state; see the module docstring. Backends implement the `_`-methods.

    Writes (`add_*`, `update_position`, `save_strategy_state`, `put_general`, `delete_*`, `trim_*`) encode on
    the calling thread (so later changes to a passed dict do not leak in and a bad value fails at the call)
    and queue; they never block and never raise on a backend failure. `open()` connects, creates the schema
    and starts the writer; it raises `DatabaseUnavailable` naming the backend, address and cause.
    """

    backend_name = "database"

    def __init__(self, trader_id: str, config: CacheConfig, log: Logger, instance_id: str | None = None) -> None:
        if config.database is None:
            raise ValueError("CacheConfig.database is None: the cache has no database (it stays in memory)")
        self.trader_id = str(trader_id)
        self.instance_id = instance_id
        self.config = config
        self.database = config.database
        self.codec = Codec(config.encoding, config.timestamps_as_iso8601)
        self._log = log
        self._opened = False
        self._closed = False
        self._order_score = 0
        self._writer = BackgroundWriter(
            name=f"cache-db-{self.trader_id}",
            apply=self._apply,
            is_transient=self._is_transient,
            describe=f"cache database {self.address}",
            log=log,
            buffer_interval_ms=config.buffer_interval_ms,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.trader_id!r}, {self.address!r})"

    # -- what backends provide ----------------------------------------------------------------------------------

    @property
    @abstractmethod
    def address(self) -> str:
        """Backend and where it is, for messages: `SQLite /path/cache.db`, `Redis 127.0.0.1:6379`."""

    @abstractmethod
    def _connect(self) -> None:
        """Connect and create the schema; raise `DatabaseUnavailable` with the cause."""

    @abstractmethod
    def _disconnect(self) -> None: ...

    @abstractmethod
    def _apply(self, batch: Sequence[Op], batch_id: int, retrying: bool) -> Sequence[tuple[Op, str]]:
        """Persist `batch` as one transaction (see `ApplyBatch`)."""

    @abstractmethod
    def _is_transient(self, exc: BaseException) -> bool:
        """Whether `exc` means the backend is (temporarily) unreachable, so the batch is retried."""

    @abstractmethod
    def _wipe(self) -> dict[str, int]: ...

    @abstractmethod
    def _load_raw(self) -> RawState: ...

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def open(self) -> None:
        """Connect, create the schema and start the writer thread; a second call does nothing."""
        if self._opened:
            return
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        self._connect()
        self._opened = True
        self._writer.start()

    def close(self, timeout: float | None = None) -> None:
        """Flush for at most `timeout` s (default: the database timeout), stop the writer, close the connection.

        This blocks the calling thread up to the bound: on the event loop, `await flush_async(...)` first.
        """
        if self._closed:
            return
        self._closed = True
        if self._opened:
            if not self._writer.close(self.database.timeout if timeout is None else timeout):
                self._log.error(
                    "%s: closing with %d writes not persisted (last error: %s)",
                    self._writer.describe,
                    self._writer.pending,
                    self._writer.last_error,
                )
            self._disconnect()

    def flush(self, timeout: float | None = None) -> bool:
        """Block until every write queued so far is persisted; False on timeout."""
        return self._writer.flush(timeout)

    async def flush_async(self, timeout: float | None = None) -> bool:
        """`flush` in a worker thread: the event loop keeps running meanwhile."""
        return await asyncio.to_thread(self._writer.flush, timeout)

    @property
    def pending(self) -> int:
        """Writes queued or being written."""
        return self._writer.pending

    @property
    def last_error(self) -> str | None:
        """The latest backend error (kept after recovery; see `healthy` for now)."""
        return self._writer.last_error

    @property
    def healthy(self) -> bool:
        """Open and reachable at the last write (counts of dropped/refused/lost writes: `writer`)."""
        return self._opened and not self._closed and not self._writer.in_outage

    @property
    def transaction_count(self) -> int:
        """Transactions (SQLite) or pipelines (Redis) committed by the writer: one per batch."""
        return self._writer.transactions

    @property
    def writer(self) -> BackgroundWriter:
        return self._writer

    # -- start-up -----------------------------------------------------------------------------------------------

    def wipe(self) -> dict[str, int]:
        """Delete this trader's data only (other traders sharing the database keep theirs); counts per kind."""
        self._require_open()
        self.flush(self.database.timeout)
        return self._wipe()

    def load(self) -> PersistedState:
        """Everything persisted for this trader, decoded (flushes queued writes first)."""
        self._require_open()
        self.flush(self.database.timeout)
        raw = self._load_raw()
        return self._decode_state(raw)

    def _decode_state(self, raw: RawState) -> PersistedState:
        codec = self.codec
        state = PersistedState()
        state.instruments = [codec.decode(data, InstrumentTypes) for data in raw.instruments]
        state.account_states = {
            account_id: [codec.decode(data, AccountState) for data in items]
            for account_id, items in raw.account_states.items()
        }
        for client_order_id, events_raw, position_id in raw.orders:
            events = [codec.decode(data, OrderEventTypes) for data in events_raw]
            if not events or not isinstance(events[0], OrderInitialized):
                first = type(events[0]).__name__ if events else "nothing"
                self._log.warning(
                    "cache database %s: order %s starts with %s, not OrderInitialized: not loaded",
                    self.address,
                    client_order_id,
                    first,
                )
                continue
            state.orders.append((events, position_id))
        state.positions = [codec.decode(data, dict[str, Any]) for data in raw.positions]
        state.strategy_states = {
            strategy_id: codec.decode_plain(data, dict[str, bytes]) for strategy_id, data in raw.strategy_states.items()
        }
        state.general = dict(raw.general)
        return state

    def _require_open(self) -> None:
        if not self._opened or self._closed:
            raise RuntimeError(f"{self!r} is not open (call open() first)")

    # -- writes (event loop): encode and queue ------------------------------------------------------------------

    def add_instrument(self, instrument: Instrument) -> None:
        self._writer.put((OP_INSTRUMENT, str(instrument.id), self.codec.encode(instrument)))

    def add_account_state(self, state: AccountState) -> None:
        self._writer.put((OP_ACCOUNT_STATE, str(state.account_id), state.ts_event, self.codec.encode(state)))

    def add_order_event(self, event: OrderEvent, position_id: str | None) -> None:
        """Append to the order's event list (OrderInitialized creates the order) and record its position id."""
        score = None
        if isinstance(event, OrderInitialized):
            # a strictly increasing creation rank (microseconds of wall time, bumped on ties) orders the orders
            self._order_score = score = max(self._order_score + 1, time.time_ns() // 1_000)
        payload = self.codec.encode(event)
        pid = None if position_id is None else str(position_id)
        self._writer.put((OP_ORDER_EVENT, str(event.client_order_id), payload, pid, score))

    def update_position(self, record: dict[str, Any]) -> None:
        """Store a position record keyed by `record["position_id"]` and `record.get("cycle", 0)`."""
        position_id = record.get("position_id")
        if position_id is None:
            raise ValueError(f"position record without 'position_id': {sorted(record)}")
        cycle = int(record.get("cycle", 0))
        self._writer.put((OP_POSITION, str(position_id), cycle, self.codec.encode(record)))

    def save_strategy_state(self, strategy_id: str, state: dict[str, bytes]) -> None:
        self._writer.put((OP_STRATEGY_STATE, str(strategy_id), self.codec.encode_plain(dict(state))))

    def put_general(self, key: str, value: bytes) -> None:
        self._writer.put((OP_GENERAL, str(key), bytes(value)))

    def delete_order(self, client_order_id: str) -> None:
        self._writer.put((OP_DELETE_ORDER, str(client_order_id)))

    def delete_position(self, position_id: str) -> None:
        """Delete every cycle of the position."""
        self._writer.put((OP_DELETE_POSITION, str(position_id)))

    def trim_account_states(self, account_id: str, keep_after_ns: int) -> None:
        """Delete the account's states with `ts_event < keep_after_ns`, always keeping the latest one."""
        self._writer.put((OP_TRIM_ACCOUNT_STATES, str(account_id), int(keep_after_ns)))


def wipe_summary(counts: dict[str, int]) -> str:
    """`wipe()` counts as one line for the log: `3 orders (17 events), 3 position records, ...`."""
    parts = [f"{counts.get('orders', 0)} orders ({counts.get('order_events', 0)} events)"]
    for kind, label in (
        ("positions", "position records"),
        ("account_states", "account states"),
        ("instruments", "instruments"),
        ("strategy_states", "strategy states"),
        ("general", "general entries"),
        ("keys", "Redis keys"),
    ):
        if kind in counts:
            parts.append(f"{counts[kind]} {label}")
    return ", ".join(parts)


def open_cache_database(
    trader_id: str,
    config: CacheConfig,
    log: Logger,
    snapshot_dir: str | Path,
    instance_id: str | None = None,
) -> CacheDatabase | None:
    """The cache database `config` names, opened; None when `config.database` is None.

    SQLite: `database.path`, else `<snapshot_dir>/cache.db` (parent folders are created). Raises
    `DatabaseUnavailable` when it cannot be opened or reached.
    """
    database = config.database
    if database is None:
        return None
    db: CacheDatabase
    if database.type == DatabaseType.REDIS:
        from toolkit.persistence.redis_db import RedisCacheDatabase

        db = RedisCacheDatabase(trader_id, config, log, instance_id)
    else:
        from toolkit.persistence.sqlite import SqliteCacheDatabase

        path = Path(database.path) if database.path is not None else Path(snapshot_dir) / "cache.db"
        db = SqliteCacheDatabase(trader_id, config, log, instance_id, path=path)
    db.open()
    return db
