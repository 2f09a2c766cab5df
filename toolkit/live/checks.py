"""Continuous checks of a live execution engine: in-flight, open-order and position checks, purges.

After startup reconciliation the live node keeps its cache aligned with the venue (reconciliation spec §3).
`ContinuousChecks` owns that work and nothing else: it reads the engine's cache and tracking state, asks the
execution clients for reports and hands whatever needs applying back to the engine (`reconcile_order_report`,
`reconcile_fill_report_single`, `reconcile_position_report`, `generate_order_rejected/canceled`, `execute`
for `QueryOrder`). Each check is a method that can be called directly on a test clock; `run(stop)` is the
§3.0 loop that schedules them, and the purge loops (§3.5) run on clock timers (`start_purge_timers`).

Own order books (§3.4) are not modelled elsewhere in this codebase: `OwnOrderBooks` is a plain index of the
orders a node believes it has working, per instrument, and `audit_own_books` drops from it every order that
is no longer open or in flight. An engine that keeps its own index exposes it as `own_order_books` and the
audit uses that one instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from toolkit.model.commands import QueryOrder
from toolkit.model.enums import OrderStatus
from toolkit.model.events import OrderFilled
from toolkit.model.objects import Quantity
from toolkit.model.reports import PositionStatusReport

if TYPE_CHECKING:
    from toolkit.core.cache import Cache
    from toolkit.core.clock import Clock, TimeEvent
    from toolkit.core.log import Logger
    from toolkit.live.clients import LiveExecutionClient
    from toolkit.live.config import LiveExecEngineConfig
    from toolkit.model.identifiers import AccountId, ClientOrderId, InstrumentId, PositionId
    from toolkit.model.instruments import Instrument
    from toolkit.model.orders import Order
    from toolkit.model.position import Position
    from toolkit.model.reports import FillReport, OrderStatusReport

NANOS_PER_MS = 1_000_000
NANOS_PER_SEC = 1_000_000_000
NANOS_PER_MIN = 60 * NANOS_PER_SEC
RECENT_FILLS_TTL_NS = 60 * NANOS_PER_SEC
"""A trade id stays in the engine's recent-fills cache this long; the loop prunes it at this period."""
ORDER_NOT_FOUND_REASON = "ORDER_NOT_FOUND_AT_VENUE"
INFLIGHT_TIMEOUT_REASON = "UNKNOWN"
PURGE_TIMER_NAMES = (
    "ExecEngine.purge_closed_orders",
    "ExecEngine.purge_closed_positions",
    "ExecEngine.purge_account_events",
)

PositionKey = tuple["InstrumentId", "AccountId"]


class PurgeDatabase(Protocol):
    """The backing store of the cache as the purges use it (`purge_from_database=True`); the cache database of
    `toolkit.persistence.database` (`CacheDatabase`) is one."""

    def delete_order(self, client_order_id: ClientOrderId) -> None: ...

    def delete_position(self, position_id: PositionId) -> None: ...

    def trim_account_states(self, account_id: AccountId, keep_after_ns: int) -> None:
        """Delete the account's stored states with `ts_event < keep_after_ns`, always keeping the latest one."""


def within_one_unit(a: Decimal, b: Decimal, precision: int) -> bool:
    """Reconciliation spec §2.8: equal at precision 0, otherwise at most 10^-precision apart."""
    if precision == 0:
        return a == b
    return abs(a - b) <= Decimal(1).scaleb(-precision)


def has_position_discrepancy(instrument: Instrument | None, cached_qty: Decimal, venue_qty: Decimal | None) -> bool:
    """§3.3 step 4b: does the cached signed qty differ from the venue's (None = the venue reports nothing)?

    A difference of one unit at the instrument's size precision is tolerated; without the instrument there is
    no precision and any difference counts."""
    target = Decimal(0) if venue_qty is None else venue_qty
    if cached_qty == target:
        return False
    if instrument is None:
        return True
    return not within_one_unit(cached_qty, target, instrument.size_precision)


class OwnOrderBooks:
    """Per-instrument index of the orders this node believes are working at the venue (§3.4)."""

    def __init__(self) -> None:
        self._books: dict[InstrumentId, dict[ClientOrderId, Order]] = {}

    def add(self, order: Order) -> None:
        self._books.setdefault(order.instrument_id, {})[order.client_order_id] = order

    def remove(self, client_order_id: ClientOrderId) -> bool:
        return any(book.pop(client_order_id, None) is not None for book in self._books.values())

    def client_order_ids(self, instrument_id: InstrumentId | None = None) -> set[ClientOrderId]:
        if instrument_id is not None:
            return set(self._books.get(instrument_id, {}))
        return {coid for book in self._books.values() for coid in book}

    def instrument_ids(self) -> list[InstrumentId]:
        return list(self._books)

    def audit(self, instrument_id: InstrumentId, valid: set[ClientOrderId]) -> list[ClientOrderId]:
        """Drop the orders of one book that are not in `valid`; returns the dropped ids."""
        book = self._books.get(instrument_id, {})
        dropped = [coid for coid in book if coid not in valid]
        for coid in dropped:
            del book[coid]
        return dropped

    def __len__(self) -> int:
        return sum(len(book) for book in self._books.values())


class ContinuousChecks:
    """The continuous reconciliation checks and purges of one live execution engine; see the module docstring.

    `engine` follows the `LiveExecutionEngine` contract (cache, tracking dicts, reconcile_* and generate_*
    methods); `clients` are its execution clients by name; `sleep` is awaited for every pause (tests inject one
    that advances a `TestClock`); `database` is only used by the purges when `purge_from_database` is set.
    """

    def __init__(
        self,
        engine: Any,
        clients: dict[str, LiveExecutionClient],
        config: LiveExecEngineConfig,
        clock: Clock,
        log: Logger,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        database: PurgeDatabase | None = None,
    ) -> None:
        self.engine = engine
        self.clients = clients
        self.config = config
        self.clock = clock
        self.log = log
        self.database = database
        self._sleep = sleep
        self.position_retries: dict[PositionKey, int] = {}
        engine_books = getattr(engine, "own_order_books", None)
        self.own_books: OwnOrderBooks = engine_books if engine_books is not None else OwnOrderBooks()
        self.cycles: dict[str, int] = {"inflight": 0, "open_orders": 0, "positions": 0, "own_books": 0}
        self._purge_timers: list[str] = []

    # ---- engine contract, tolerant of absent parts ------------------------------------------------------
    @property
    def cache(self) -> Cache:
        return self.engine.cache

    def _tracking(self, name: str) -> dict[Any, int]:
        table = getattr(self.engine, name, None)
        if table is None:
            table = {}
            setattr(self.engine, name, table)
        return table

    @property
    def order_retries(self) -> dict[ClientOrderId, int]:
        return self._tracking("order_retries")

    @property
    def order_last_query(self) -> dict[ClientOrderId, int]:
        return self._tracking("order_last_query")

    @property
    def order_local_activity(self) -> dict[ClientOrderId, int]:
        return self._tracking("order_local_activity")

    @property
    def position_activity(self) -> dict[PositionKey, int]:
        return self._tracking("position_activity")

    @property
    def recent_fills(self) -> dict[Any, int]:
        return self._tracking("recent_fills")

    def _shutting_down(self) -> bool:
        return bool(getattr(self.engine, "is_shutting_down", False))

    def _event_queue_empty(self) -> bool:
        probe = getattr(self.engine, "event_queue_empty", None)
        return True if probe is None else bool(probe())

    def _clear_order_tracking(self, client_order_id: ClientOrderId) -> None:
        clear = getattr(self.engine, "clear_order_tracking", None)
        if clear is not None:
            clear(client_order_id)
            return
        for table in (self.order_retries, self.order_last_query, self.order_local_activity):
            table.pop(client_order_id, None)

    def _clear_retry_state(self, client_order_id: ClientOrderId) -> None:
        """Drop the retry counter and last-query time only (local activity is kept for the throttle)."""
        self.order_retries.pop(client_order_id, None)
        self.order_last_query.pop(client_order_id, None)

    def _prune_recent_fills(self, now_ns: int) -> None:
        prune = getattr(self.engine, "prune_recent_fills", None)
        if prune is not None:
            prune(now_ns, RECENT_FILLS_TTL_NS)
            return
        fills = self.recent_fills
        for trade_id in [t for t, ts in fills.items() if now_ns - ts >= RECENT_FILLS_TTL_NS]:
            del fills[trade_id]

    def _is_filtered(self, instrument_id: InstrumentId) -> bool:
        include = self.config.reconciliation_instrument_ids
        return bool(include) and instrument_id not in include

    def _client_for(self, instrument_id: InstrumentId) -> LiveExecutionClient | None:
        """The client of the instrument's venue, else a multi-venue client (venue None)."""
        venue = str(instrument_id.venue)
        fallback = None
        for client in self.clients.values():
            if client.venue is None:
                fallback = fallback or client
            elif str(client.venue) == venue:
                return client
        return fallback

    def _client_order_id_for(self, report: OrderStatusReport) -> ClientOrderId | None:
        if report.client_order_id is not None:
            return report.client_order_id
        lookup = getattr(self.cache, "client_order_id_for", None)
        if callable(lookup):
            found = lookup(report.venue_order_id)
            if found is not None:
                return found
        for order in self.cache.orders(instrument_id=report.instrument_id):
            if order.venue_order_id == report.venue_order_id:
                return order.client_order_id
        return None

    def _recently_active(self, client_order_id: ClientOrderId, now_ns: int, threshold_ns: int) -> bool:
        ts = self.order_local_activity.get(client_order_id)
        return ts is not None and now_ns - ts < threshold_ns

    # ---- §3.0 scheduling --------------------------------------------------------------------------------
    def _intervals_secs(self) -> dict[str, float]:
        """Enabled check intervals in seconds, by check name."""
        config = self.config
        intervals: dict[str, float] = {}
        if config.inflight_check_interval_ms > 0:
            intervals["inflight"] = config.inflight_check_interval_ms / 1000
        if config.open_check_interval_secs:
            intervals["open_orders"] = config.open_check_interval_secs
        if config.position_check_interval_secs:
            intervals["positions"] = config.position_check_interval_secs
        return intervals

    @property
    def reconciliation_loop_enabled(self) -> bool:
        """Whether engine start runs `run()` (any of the in-flight, open-order or position checks is on)."""
        return bool(self._intervals_secs())

    async def _check_by_name(self, name: str) -> None:
        if name == "inflight":
            self.check_inflight_orders()
        elif name == "open_orders":
            await self.check_open_orders()
        else:
            await self.check_positions()

    async def _pause(self, secs: float, stop: asyncio.Event) -> None:
        """Sleep `secs` through the injected sleep, returning early when `stop` is set."""
        if stop.is_set():
            return
        await _first_of(self._sleep(secs), stop.wait())

    async def run(self, stop: asyncio.Event) -> None:
        """The §3.0 loop: after startup (and its delay), run each check once its interval has elapsed."""
        config = self.config
        if config.reconciliation:
            startup = getattr(self.engine, "startup_done", None)
            if startup is not None:
                await _first_of(startup.wait(), stop.wait())
            if stop.is_set():
                return
            if config.reconciliation_startup_delay_secs > 0:
                await self._pause(config.reconciliation_startup_delay_secs, stop)
        intervals = self._intervals_secs()
        loop_secs = min(intervals.values()) if intervals else 1.0
        start = self.clock.timestamp_ns()
        last_run = dict.fromkeys(intervals, start)
        last_prune = start
        while not stop.is_set():
            await self._pause(loop_secs, stop)
            if stop.is_set():
                break
            now = self.clock.timestamp_ns()
            for name, secs in intervals.items():
                if now - last_run[name] < round(secs * NANOS_PER_SEC):
                    continue
                try:
                    await self._check_by_name(name)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    self.log.exception("continuous %s check failed (retried next interval)", name)
                    continue
                last_run[name] = now
            if now - last_prune >= RECENT_FILLS_TTL_NS:
                self._prune_recent_fills(now)
                last_prune = now

    async def run_own_books_audit(self, stop: asyncio.Event) -> None:
        """Audit the own order books every `own_books_audit_interval_secs` until `stop`."""
        interval = self.config.own_books_audit_interval_secs
        if not interval:
            return
        while not stop.is_set():
            await self._pause(interval, stop)
            if stop.is_set():
                break
            self.audit_own_books()

    def start(self, stop: asyncio.Event) -> list[asyncio.Task[None]]:
        """What engine start does (§3.0, §3.5): the check loop, the own-books audit and the purge timers."""
        loop = asyncio.get_running_loop()
        tasks = []
        if self.reconciliation_loop_enabled:
            tasks.append(loop.create_task(self.run(stop), name="continuous-reconciliation"))
        if self.config.own_books_audit_interval_secs:
            tasks.append(loop.create_task(self.run_own_books_audit(stop), name="own-books-audit"))
        self.start_purge_timers()
        return tasks

    # ---- §3.1 in-flight check ---------------------------------------------------------------------------
    def check_inflight_orders(self) -> None:
        """Query orders stuck in flight; once the retries are spent, resolve them (§3.1)."""
        if self._shutting_down():
            return
        self.cycles["inflight"] += 1
        config = self.config
        threshold_ns = config.inflight_check_threshold_ms * NANOS_PER_MS
        now = self.clock.timestamp_ns()
        retries = self.order_retries
        last_query = self.order_last_query
        for order in self.cache.orders_inflight():
            if now - order.ts_last <= threshold_ns:
                continue
            coid = order.client_order_id
            if not order.is_inflight:
                retries.pop(coid, None)
                continue
            queried = last_query.get(coid)
            if queried is not None and now - queried < threshold_ns:
                continue
            count = retries.get(coid, 0)
            if count >= config.inflight_check_retries:
                if not self._event_queue_empty():
                    self.log.debug("in-flight order %s: resolution deferred, events still queued", coid)
                    continue
                self.resolve_inflight_order(order)
                continue
            self._send_query(order, now)
            last_query[coid] = now
            retries[coid] = count + 1

    def _send_query(self, order: Order, now: int) -> None:
        client = self._client_for(order.instrument_id)
        command = QueryOrder(
            trader_id=order.trader_id,
            strategy_id=order.strategy_id,
            instrument_id=order.instrument_id,
            client_order_id=order.client_order_id,
            venue_order_id=order.venue_order_id,
            client_id=None if client is None else client.client_id,
            ts_init=now,
        )
        self.log.info("querying in-flight order %s (%s)", order.client_order_id, order.status.value)
        self.engine.execute(command)

    def resolve_inflight_order(self, order: Order) -> None:
        """Retries spent: SUBMITTED becomes REJECTED ("UNKNOWN"), PENDING_* becomes CANCELED; tracking cleared."""
        now = self.clock.timestamp_ns()
        coid = order.client_order_id
        status = order.status
        if status is OrderStatus.SUBMITTED:
            self.log.warning("in-flight order %s got no answer: rejecting it", coid)
            self.engine.generate_order_rejected(order, INFLIGHT_TIMEOUT_REASON, now)
        elif status in (OrderStatus.PENDING_UPDATE, OrderStatus.PENDING_CANCEL):
            self.log.warning("in-flight order %s (%s) got no answer: canceling it", coid, status.value)
            self.engine.generate_order_canceled(order, now)
        else:
            self.log.info("in-flight order %s is now %s: nothing to resolve", coid, status.value)
        self._clear_order_tracking(coid)

    # ---- §3.2 open-order check --------------------------------------------------------------------------
    async def check_open_orders(self) -> None:
        """Compare open and in-flight orders with the venue's order reports (§3.2)."""
        if self._shutting_down():
            return
        self.cycles["open_orders"] += 1
        config = self.config
        cache = self.cache
        open_ids = {o.client_order_id for o in cache.orders_open() if not self._is_filtered(o.instrument_id)}
        inflight_ids = {o.client_order_id for o in cache.orders_inflight() if not self._is_filtered(o.instrument_id)}
        all_ids = open_ids | inflight_ids
        if not self.clients:
            return
        now = self.clock.timestamp_ns()
        lookback = config.open_check_lookback_mins
        start_ns = now - lookback * NANOS_PER_MIN if lookback else None
        reports: list[OrderStatusReport] = []
        for name, client in self.clients.items():
            try:
                reports.extend(
                    await client.generate_order_status_reports(
                        instrument_id=None, start_ns=start_ns, open_only=config.open_check_open_only
                    )
                )
            except Exception as exc:
                self.log.error("open-order check: order reports of %s failed: %r", name, exc)
        threshold_ns = config.open_check_threshold_ms * NANOS_PER_MS
        venue_ids: set[ClientOrderId] = set()
        for report in reports:
            if self._shutting_down():
                return
            coid = self._client_order_id_for(report)
            order = None
            if coid is not None:
                venue_ids.add(coid)
                self._clear_retry_state(coid)
                order = cache.order(coid)
            status_differs = report.is_open != (coid in open_ids)
            fills_differ = order is not None and order.filled_qty.raw != report.filled_qty.raw
            if not (status_differs or fills_differ):
                continue
            if order is None and not report.is_open:
                continue  # a closed order we never knew: nothing to learn
            if self._is_filtered(report.instrument_id):
                continue
            if coid is not None and self._recently_active(coid, self.clock.timestamp_ns(), threshold_ns):
                self.log.debug("open-order check: %s had local activity, report deferred", coid)
                continue
            self.log.info(
                "open-order check: reconciling %s (venue %s %s, filled %s)",
                coid or report.venue_order_id,
                report.order_status.value,
                "open" if report.is_open else "closed",
                report.filled_qty,
            )
            self.engine.reconcile_order_report(report, [], is_external=True)
        missing = sorted(all_ids - venue_ids)
        if config.open_check_open_only:
            if missing:
                self.log.debug("open-order check: %d order(s) not reported by the venue (open-only mode)", len(missing))
            return
        await self._check_missing_orders(missing)
        self._audit_fill_quantities()

    async def _check_missing_orders(self, missing: Iterable[ClientOrderId]) -> None:
        config = self.config
        cache = self.cache
        threshold_ns = config.open_check_threshold_ms * NANOS_PER_MS
        cap = config.max_single_order_queries_per_cycle
        delay_secs = config.single_order_query_delay_ms / 1000
        retries = self.order_retries
        queries = 0
        deferral_logged = False
        for coid in missing:
            if self._shutting_down():
                return
            order = cache.order(coid)
            if order is None:
                self.log.error("open-order check: order %s is indexed but not cached", coid)
                continue
            if order.is_closed:
                continue
            now = self.clock.timestamp_ns()
            if now - order.ts_last < threshold_ns or self._recently_active(coid, now, threshold_ns):
                continue
            count = retries.get(coid, 0)
            if count < config.open_check_missing_retries:
                retries[coid] = count + 1
                continue
            if queries >= cap:
                retries[coid] = count + 1
                if not deferral_logged:
                    deferral_logged = True
                    self.log.info("open-order check: %d targeted queries this cycle, the rest wait", cap)
                continue
            retries.pop(coid, None)
            queries += 1
            await self._query_missing_order(order)
            if queries < cap and delay_secs > 0:
                await self._sleep(delay_secs)

    async def _query_missing_order(self, order: Order) -> None:
        """Ask the venue for one order; when it cannot say, resolve by the cached status (§3.2 step 6)."""
        client = self._client_for(order.instrument_id)
        report = None
        if client is not None:
            try:
                report = await client.generate_order_status_report(
                    order.instrument_id, order.client_order_id, order.venue_order_id
                )
            except Exception as exc:
                self.log.error("open-order check: query of %s failed: %r", order.client_order_id, exc)
                report = None
        if report is not None:
            self.engine.reconcile_order_report(report, [], is_external=True)
            return
        self.resolve_missing_order(order)

    def resolve_missing_order(self, order: Order) -> None:
        """The venue does not know an order we hold: the §3.2 resolution table."""
        now = self.clock.timestamp_ns()
        coid = order.client_order_id
        status = order.status
        if not order.is_open:
            self._clear_order_tracking(coid)
            return
        if status is OrderStatus.ACCEPTED:
            self.log.warning("order %s not found at the venue: rejecting it", coid)
            self.engine.generate_order_rejected(order, ORDER_NOT_FOUND_REASON, now)
            self._clear_retry_state(coid)
        elif status is OrderStatus.PARTIALLY_FILLED:
            self.log.warning("partially filled order %s not found at the venue: canceling it (fills kept)", coid)
            self.engine.generate_order_canceled(order, now)
            self._clear_retry_state(coid)
        elif status in (OrderStatus.PENDING_UPDATE, OrderStatus.PENDING_CANCEL):
            self.log.info("order %s (%s) not found at the venue: left unresolved", coid, status.value)
            self.order_last_query[coid] = now
        else:
            self.log.warning("order %s (%s) not found at the venue: left unresolved", coid, status.value)

    def _audit_fill_quantities(self) -> None:
        for order in self.cache.orders_open():
            total = sum(e.last_qty.raw for e in order.events if type(e) is OrderFilled)
            if total != order.filled_qty.raw:
                self.log.error(
                    "order %s: its fills add up to %s but filled_qty is %s",
                    order.client_order_id,
                    Quantity(total, order.filled_qty.precision),
                    order.filled_qty,
                )

    # ---- §3.3 position check ----------------------------------------------------------------------------
    def _open_positions_by_key(self) -> dict[PositionKey, list[Position]]:
        grouped: dict[PositionKey, list[Position]] = {}
        for position in self.cache.positions_open():
            if self._is_filtered(position.instrument_id):
                continue
            grouped.setdefault((position.instrument_id, position.account_id), []).append(position)
        return grouped

    def _cached_qty(self, key: PositionKey) -> Decimal:
        instrument_id, account_id = key
        return sum(
            (
                p.signed_qty
                for p in self.cache.positions_open(instrument_id=instrument_id)
                if p.account_id == account_id
            ),
            Decimal(0),
        )

    @staticmethod
    def _venue_qty(reports: list[PositionStatusReport] | None) -> Decimal | None:
        if not reports:
            return None
        return sum((r.signed_decimal_qty for r in reports), Decimal(0))

    def _throttled(self, key: PositionKey, now: int) -> bool:
        ts = self.position_activity.get(key)
        return ts is not None and now - ts < self.config.position_check_threshold_ms * NANOS_PER_MS

    async def check_positions(self) -> None:
        """Compare open positions with the venue's position reports and recover what is missing (§3.3)."""
        if self._shutting_down():
            return
        self.cycles["positions"] += 1
        cache = self.cache
        cached = self._open_positions_by_key()
        if not self.clients:
            return
        venue: dict[PositionKey, list[PositionStatusReport]] = {}
        failed: set[str | None] = set()
        for name, client in self.clients.items():
            try:
                reports = await client.generate_position_status_reports()
            except Exception as exc:
                failed.add(None if client.venue is None else str(client.venue))
                self.log.error("position check: position reports of %s failed: %r", name, exc)
                continue
            for report in reports:
                venue.setdefault((report.instrument_id, report.account_id), []).append(report)
        max_retries = self.config.position_check_retries
        retries = self.position_retries
        for key, positions in cached.items():
            if self._shutting_down():
                return
            instrument_id, account_id = key
            reports = venue.get(key)
            if not reports and (str(instrument_id.venue) in failed or None in failed):
                self.log.warning(
                    "position check: %s on %s skipped, its venue did not answer", instrument_id, account_id
                )
                continue
            instrument = cache.instrument(instrument_id)
            cached_qty = sum((p.signed_qty for p in positions), Decimal(0))
            if not has_position_discrepancy(instrument, cached_qty, self._venue_qty(reports)):
                retries.pop(key, None)
                continue
            if self._throttled(key, self.clock.timestamp_ns()) or retries.get(key, 0) >= max_retries:
                continue
            self.log.warning(
                "position check: %s on %s is %s here, %s at the venue",
                instrument_id,
                account_id,
                cached_qty,
                self._venue_qty(reports) or 0,
            )
            errors = await self._recover_missing_fills(instrument_id)
            resolved = not has_position_discrepancy(instrument, self._cached_qty(key), self._venue_qty(reports))
            if not resolved and not errors and self.config.generate_missing_orders:
                targets = reports or [self._flat_report(instrument_id, account_id, instrument)]
                for report in targets:
                    self.engine.reconcile_position_report(report)
                resolved = not has_position_discrepancy(instrument, self._cached_qty(key), self._venue_qty(reports))
            self._count_attempt(key, resolved)
        for key, reports in venue.items():
            if key in cached:
                continue
            if self._shutting_down():
                return
            instrument_id, account_id = key
            if self._is_filtered(instrument_id):
                continue
            venue_qty = self._venue_qty(reports) or Decimal(0)
            if venue_qty == 0:
                retries.pop(key, None)
                continue
            instrument = cache.instrument(instrument_id)
            if not has_position_discrepancy(instrument, self._cached_qty(key), venue_qty):
                retries.pop(key, None)
                continue
            if self._throttled(key, self.clock.timestamp_ns()) or retries.get(key, 0) >= max_retries:
                continue
            self.log.warning(
                "position check: venue holds %s %s on %s, not cached", venue_qty, instrument_id, account_id
            )
            await self._recover_missing_fills(instrument_id)
            self._count_attempt(key, not has_position_discrepancy(instrument, self._cached_qty(key), venue_qty))
        for key in [k for k in retries if k not in cached and k not in venue]:
            del retries[key]

    def _count_attempt(self, key: PositionKey, resolved: bool) -> None:
        if resolved:
            self.position_retries.pop(key, None)
            return
        count = self.position_retries.get(key, 0) + 1
        self.position_retries[key] = count
        if count >= self.config.position_check_retries:
            self.log.error(
                "position check: %s on %s still differs from the venue after %d attempt(s): giving up",
                key[0],
                key[1],
                count,
            )

    def _flat_report(
        self, instrument_id: InstrumentId, account_id: AccountId, instrument: Instrument | None
    ) -> PositionStatusReport:
        precision = 0 if instrument is None else instrument.size_precision
        return PositionStatusReport.create_flat(account_id, instrument_id, precision, self.clock.timestamp_ns())

    async def _recover_missing_fills(self, instrument_id: InstrumentId) -> bool:
        """Apply the venue's fills of the instrument that no cached order holds; True if a query failed."""
        now = self.clock.timestamp_ns()
        start_ns = now - self.config.position_check_lookback_mins * NANOS_PER_MIN
        known = {trade_id for order in self.cache.orders(instrument_id=instrument_id) for trade_id in order.trade_ids}
        recent = self.recent_fills
        errors = False
        missing: list[FillReport] = []
        for name, client in self.clients.items():
            try:
                fills = await client.generate_fill_reports(instrument_id=instrument_id, start_ns=start_ns)
            except Exception as exc:
                errors = True
                self.log.error("position check: fill reports of %s for %s failed: %r", name, instrument_id, exc)
                continue
            for fill in fills:
                if fill.instrument_id != instrument_id or fill.trade_id in known or fill.trade_id in recent:
                    continue
                known.add(fill.trade_id)
                missing.append(fill)
        missing.sort(key=lambda f: f.ts_event)
        for fill in missing:
            self.log.info("position check: applying missing fill %s (%s)", fill.trade_id, instrument_id)
            if self.engine.reconcile_fill_report_single(fill):
                self.position_activity[(instrument_id, fill.account_id)] = self.clock.timestamp_ns()
        return errors

    # ---- §3.4 own-books audit ---------------------------------------------------------------------------
    def audit_own_books(self) -> None:
        """Drop from every own order book the orders that are neither open nor in flight."""
        self.cycles["own_books"] += 1
        try:
            valid = {o.client_order_id for o in self.cache.orders_open()}
            valid |= {o.client_order_id for o in self.cache.orders_inflight()}
            for instrument_id in self.own_books.instrument_ids():
                dropped = self.own_books.audit(instrument_id, valid)
                if dropped:
                    self.log.info("own book %s: dropped %d stale order(s)", instrument_id, len(dropped))
        except Exception:
            self.log.exception("own-books audit failed")

    # ---- §3.5 purges ------------------------------------------------------------------------------------
    def start_purge_timers(self) -> None:
        """Set a clock timer for each purge whose interval is configured (engine start)."""
        config = self.config
        for name, interval, callback in zip(
            PURGE_TIMER_NAMES,
            (
                config.purge_closed_orders_interval_mins,
                config.purge_closed_positions_interval_mins,
                config.purge_account_events_interval_mins,
            ),
            (self.purge_closed_orders, self.purge_closed_positions, self.purge_account_events),
            strict=True,
        ):
            if not interval or name in self._purge_timers:
                continue
            self.clock.set_timer(name, interval * NANOS_PER_MIN, _timer_callback(callback))
            self._purge_timers.append(name)

    def stop_purge_timers(self) -> None:
        for name in self._purge_timers:
            with contextlib.suppress(LookupError):
                self.clock.cancel_timer(name)
        self._purge_timers.clear()

    def _purge_from_database(self) -> PurgeDatabase | None:
        return self.database if self.config.purge_from_database else None

    def purge_closed_orders(self) -> list[ClientOrderId]:
        """Remove closed orders older than the buffer, unless a linked order is still open; returns their ids."""
        cache = self.cache
        buffer_ns = (self.config.purge_closed_orders_buffer_mins or 0) * NANOS_PER_MIN
        now = self.clock.timestamp_ns()
        database = self._purge_from_database()
        purged = []
        for order in cache.orders_closed():
            if not order.is_closed or order.ts_last + buffer_ns > now:
                continue
            linked = (cache.order(coid) for coid in order.linked_order_ids)
            if any(other is not None and other.is_open for other in linked):
                continue
            coid = order.client_order_id
            _purge(cache, "purge_order", coid)
            self._clear_order_tracking(coid)
            self.own_books.remove(coid)
            if database is not None:
                database.delete_order(coid)
            purged.append(coid)
        if purged:
            self.log.info("purged %d closed order(s)", len(purged))
        return purged

    def purge_closed_positions(self) -> list[PositionId]:
        """Remove closed positions older than the buffer; returns their ids."""
        cache = self.cache
        buffer_ns = (self.config.purge_closed_positions_buffer_mins or 0) * NANOS_PER_MIN
        now = self.clock.timestamp_ns()
        database = self._purge_from_database()
        purged = []
        for position in cache.positions_closed():
            ts_closed = position.ts_closed
            if position.is_open or ts_closed is None or ts_closed + buffer_ns > now:
                continue
            _purge(cache, "purge_position", position.id)
            if database is not None:
                database.delete_position(position.id)
            purged.append(position.id)
        if purged:
            self.log.info("purged %d closed position(s)", len(purged))
        return purged

    def purge_account_events(self) -> int:
        """Keep only account states newer than the lookback, and always the latest; returns how many went."""
        lookback_ns = (self.config.purge_account_events_lookback_mins or 0) * NANOS_PER_MIN
        now = self.clock.timestamp_ns()
        database = self._purge_from_database()
        removed = 0
        for account in self.cache.accounts():
            events = account.events
            if len(events) <= 1:
                continue
            latest = events[-1]
            kept = [e for e in events[:-1] if e.ts_event + lookback_ns > now]
            kept.append(latest)
            if len(kept) == len(events):
                continue
            removed += len(events) - len(kept)
            events[:] = kept
            if database is not None:
                # The store keeps ts_event >= keep_after_ns; in memory ts_event + lookback > now is kept.
                database.trim_account_states(account.id, now - lookback_ns + 1)
        if removed:
            self.log.info("purged %d account event(s)", removed)
        return removed


def _purge(cache: Cache, method: str, key: Any) -> None:
    purge = getattr(cache, method, None)
    if purge is None:
        raise RuntimeError(f"the cache has no {method}(): cannot purge {key}")
    purge(key)


def _timer_callback(action: Callable[[], object]) -> Callable[[TimeEvent], None]:
    def fire(_event: TimeEvent) -> None:
        action()

    return fire


async def _first_of(*coros: Coroutine[Any, Any, Any]) -> None:
    """Await until the first of `coros` finishes; cancel the others."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
