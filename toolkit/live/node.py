"""`TradingNode`: the kernel on a live clock, network clients and an asyncio event loop.

The node builds the same kernel as a backtest, with a `LiveClock`, and puts its engines behind
bounded queues (`toolkit.live.engines`): market data from data clients, commands from strategies
(risk, then execution) and events from execution clients are each handled in order by one consumer
task on the loop. `run()` connects the clients (bounded by `timeout_connection`), loads instruments,
waits for the accounts (`timeout_portfolio`), checks the venue's state, starts the strategies and
writes a snapshot folder on an interval, until `stop()` or SIGINT/SIGTERM. A graceful stop stops the
strategies (their `on_stop` may close positions), cancels their open orders when their config asks,
waits for the resulting requests (`timeout_post_stop`), writes the final snapshot and disconnects the
clients (`timeout_disconnection`). One node per process: a second one is refused.

Strategy callbacks run on the event loop: keep them short and move blocking work (model inference,
heavy computation, synchronous I/O) to an executor (`loop.run_in_executor`), a thread or a process.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from toolkit.core.clock import LiveClock, TimeEvent
from toolkit.core.log import Logger
from toolkit.engine import topics
from toolkit.engine.kernel import Kernel
from toolkit.engine.sampler import PriceSampler
from toolkit.live.checks import ContinuousChecks
from toolkit.live.clients import LiveDataClient, LiveExecutionClient, client_config
from toolkit.live.config import TradingNodeConfig, unimplemented_warnings
from toolkit.live.engines import MessageQueue
from toolkit.live.execution import LiveExecutionEngine
from toolkit.model.commands import SubmitOrder
from toolkit.model.data import BarType
from toolkit.model.enums import ContingencyType, OrderStatus
from toolkit.model.events import AccountState, OrderEvent, OrderFilled, PositionEvent
from toolkit.model.identifiers import ClientId, InstrumentId, Venue
from toolkit.model.orders import Order
from toolkit.model.reports import FillReport, OrderStatusReport, PositionStatusReport
from toolkit.persistence.database import CacheDatabase, DatabaseUnavailable, open_cache_database
from toolkit.persistence.snapshot import LiveSnapshot, position_row
from toolkit.trading.loader import load_strategy
from toolkit.trading.strategy import Strategy


class NodeError(RuntimeError):
    """The node could not start or run (connection timeout, second node, bad client config...)."""


class TradingNode:
    """See the module docstring."""

    _active: ClassVar[TradingNode | None] = None

    def __init__(
        self,
        config: TradingNodeConfig,
        loop: asyncio.AbstractEventLoop | None = None,
        source: str = "<config>",
        snapshot_path: str | Path | None = None,
    ) -> None:
        active = TradingNode._active
        if active is not None:
            raise NodeError(
                f"a TradingNode ({active.trader_id}) already exists in this process: one node per process "
                "(run parallel nodes as separate processes; dispose() the first one to build another)"
            )
        self.config = config
        self.source = source
        self.trader_id = config.trader_id
        self._own_loop = False
        self.loop = loop if loop is not None else self._find_loop()
        self.clock = LiveClock()
        self.log = Logger(f"{self.trader_id}.TradingNode", self.clock)
        self.kernel = Kernel(
            config.kernel_config(),
            self.clock,
            exec_engine_factory=lambda *deps: LiveExecutionEngine(*deps, config=config.exec_engine),
        )
        self.exec_engine: LiveExecutionEngine = self.kernel.exec_engine  # type: ignore[assignment]
        # The in-flight check defers a resolution while events are still queued (§3.1).
        self.exec_engine.event_queue_empty = lambda: self.event_queue.size == 0  # type: ignore[attr-defined]
        self.cache = self.kernel.cache
        self.data_clients: dict[str, LiveDataClient] = {}
        self.exec_clients: dict[str, LiveExecutionClient] = {}
        self.fills: list[OrderFilled] = []
        self.database: CacheDatabase | None = None
        self.streamer: Any = None
        self._state_tables_due = False
        self._persisted_orders: set[str] = set()
        self._checks_tasks: list[asyncio.Task[None]] = []
        self._checks_stop: asyncio.Event | None = None
        self._stop_requested: asyncio.Event | None = None
        self._fatal: BaseException | None = None
        self._snapshot_task: asyncio.Task[None] | None = None
        self.snapshot: LiveSnapshot | None = None
        self.prices: PriceSampler | None = None
        self._snapshot_path = Path(snapshot_path) if snapshot_path is not None else None
        self.is_running = False
        self.is_disposed = False
        self._build_queues()
        self._build_clients()
        self._add_config_strategies()
        self.kernel.msgbus.subscribe("events.order.*", self._on_order_event)
        self.kernel.msgbus.subscribe("events.position.*", self._on_position_event)
        self.kernel.msgbus.subscribe("events.account.*", self._on_account_state)
        self.kernel.data_engine.on_subscribe = self._forward_subscription
        TradingNode._active = self
        for warning in unimplemented_warnings(config):
            self.log.warning("%s", warning)

    # ---- construction -------------------------------------------------------------------------
    def _find_loop(self) -> asyncio.AbstractEventLoop:
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            self._own_loop = True
            return asyncio.new_event_loop()

    def _build_queues(self) -> None:
        kernel = self.kernel
        on_error = self._on_queue_error
        self.data_queue = MessageQueue(
            "data", self.config.data_engine.qsize, kernel.data_engine.process, self.log, on_error
        )
        self.risk_queue = MessageQueue(
            "risk", self.config.risk_engine.qsize, kernel.risk_engine.execute, self.log, on_error
        )
        self.command_queue = MessageQueue(
            "commands",
            self.config.exec_engine.qsize,
            kernel.exec_engine.execute,
            self.log,
            on_error,
            before=self._persist_before_send,
        )
        self.event_queue = MessageQueue("events", self.config.exec_engine.qsize, self._handle_event, self.log, on_error)
        bus = kernel.msgbus
        for endpoint, queue in (
            (topics.RISK_ENGINE_EXECUTE, self.risk_queue),
            (topics.EXEC_ENGINE_EXECUTE, self.command_queue),
            (topics.EXEC_ENGINE_PROCESS, self.event_queue),
        ):
            bus.deregister(endpoint)
            bus.register(endpoint, queue.put_nowait)

    def _build_clients(self) -> None:
        deps = {"clock": self.clock, "cache": self.cache}
        for name, table in self.config.data_clients.items():
            factory, cfg = client_config(table, self.source, f"live.data_clients.{name}")
            client = factory.create_data_client(
                name, cfg, log=Logger(f"DataClient-{name}", self.clock), handle_data=self.data_queue.put, **deps
            )
            client.wait_until_idle = self.wait_until_idle
            self.data_clients[name] = client
        for name, table in self.config.exec_clients.items():
            factory, cfg = client_config(table, self.source, f"live.exec_clients.{name}")
            client = factory.create_exec_client(
                name,
                cfg,
                log=Logger(f"ExecClient-{name}", self.clock),
                send_event=self.event_queue.put_nowait,
                **deps,
            )
            client.handle_report = self.event_queue.put_nowait
            self.kernel.exec_engine.register_client(client)
            self.exec_clients[name] = client
        for data_client in self.data_clients.values():
            data_client.execution_peers = [
                c for c in self.exec_clients.values() if data_client.venue is None or c.venue == data_client.venue
            ]

    def _add_config_strategies(self) -> None:
        for index, table in enumerate(self.config.strategies):
            strategy = load_strategy(table, self.source)
            try:
                self.add_strategy(strategy)
            except ValueError as exc:
                raise NodeError(f"{self.source}: live.strategies[{index}]: {exc}") from None

    def add_strategy(self, strategy: Strategy) -> None:
        """Add a strategy before `run()`."""
        if self.is_running:
            raise NodeError("add strategies before the node runs")
        self.kernel.trader.add_strategy(strategy)
        claims = [InstrumentId(str(i)) for i in getattr(strategy.config, "external_order_claims", None) or []]
        if claims:
            self.exec_engine.register_external_order_claims(strategy.strategy_id, claims)

    # ---- message plumbing ---------------------------------------------------------------------
    def _on_queue_error(self, exc: BaseException, item: Any) -> None:
        self.log.error("error while handling %s: %r", type(item).__name__, exc)
        if self.config.exec_engine.graceful_shutdown_on_exception:
            self._fatal = exc
            self.stop()

    def _handle_event(self, item: Any) -> None:
        """Event queue consumer: venue events to the engine, runtime reports to reconciliation."""
        if isinstance(item, (OrderStatusReport, FillReport, PositionStatusReport)):
            self.exec_engine.reconcile_execution_report(item)
        else:
            self.exec_engine.process(item)

    def _schedule_state_tables(self) -> None:
        """snapshot_orders / snapshot_positions: rewrite the snapshot's state tables once per loop turn
        after order or position events (coalesced, so a burst of events costs one write)."""
        if self._state_tables_due or self.snapshot is None:
            return
        self._state_tables_due = True
        self.loop.call_soon(self._write_state_tables)

    def _write_state_tables(self) -> None:
        self._state_tables_due = False
        if self.snapshot is not None:
            try:
                self.snapshot.write_state_tables(self.cache, self.kernel.portfolio)
            except OSError as exc:
                self.log.error("snapshot write to %s failed: %r", self.snapshot.path, exc)

    def _on_order_event(self, event: OrderEvent) -> None:
        if type(event) is OrderFilled:
            self.fills.append(event)  # type: ignore[arg-type]
        if self.config.exec_engine.snapshot_orders:
            self._schedule_state_tables()
        database = self.database
        if database is None:
            return
        order = self.cache.order(event.client_order_id)
        if order is None:
            return
        self._persist_order_init(order)
        database.add_order_event(event, None if order.position_id is None else str(order.position_id))

    def _persist_order_init(self, order: Order) -> None:
        coid = str(order.client_order_id)
        if self.database is not None and coid not in self._persisted_orders:
            self._persisted_orders.add(coid)
            self.database.add_order_event(order.init, None if order.position_id is None else str(order.position_id))

    async def _persist_before_send(self, command: Any) -> None:
        """An order is durable in the database before its request leaves, so a crash never leaves an
        order at the venue the restarted node does not own (bounded wait; trading goes on if it fails)."""
        if self.database is None or not isinstance(command, SubmitOrder):
            return
        self._persist_order_init(command.order)
        for child in self._held_children(command.order):
            self._persist_order_init(child)  # held by the strategy until this order fills: durable with it
        if not self.database.healthy:
            return  # in an outage the writer retries on its own; orders must not wait for it (logged there)
        if not await self.database.flush_async(timeout=2.0):
            self.log.warning(
                "database did not confirm order %s within 2s: sending it anyway", command.order.client_order_id
            )

    def _held_children(self, order: Order) -> list[Order]:
        """The never-sent children of an OTO order (bracket exits a strategy holds until the entry fills)."""
        if order.contingency_type is not ContingencyType.OTO:
            return []
        children = (self.cache.order(child_id) for child_id in order.linked_order_ids)
        return [c for c in children if c is not None and c.status is OrderStatus.INITIALIZED]

    def _on_position_event(self, event: PositionEvent) -> None:
        if self.config.exec_engine.snapshot_positions:
            self._schedule_state_tables()
        if self.database is None:
            return
        position = self.cache.position(event.position_id)
        if position is None:
            return
        cycle = len(self.cache.position_snapshots(event.position_id))
        unrealized = self.kernel.portfolio.unrealized_pnl_for(position) if position.is_open else None
        self.database.update_position(position_row(position, cycle, unrealized))

    def _on_account_state(self, state: AccountState) -> None:
        if self.database is not None:
            self.database.add_account_state(state)

    def _save_strategies(self) -> None:
        """Every strategy's `on_save` into the cache and the database."""
        for strategy in self.kernel.trader.strategies:
            try:
                strategy.save()
            except Exception as exc:
                self.log.error("on_save of %s raised: %r", strategy.id, exc)
                continue
            if self.database is not None:
                self.database.save_strategy_state(str(strategy.id), self.cache.load_strategy_state(strategy.id))

    def _data_client_for(self, instrument_id: InstrumentId) -> LiveDataClient | None:
        venue = instrument_id.venue
        for client in self.data_clients.values():
            if client.venue is None or client.venue == venue:
                return client
        return None

    def _forward_subscription(self, channel: str, key: object) -> None:
        instrument_id = key.instrument_id if isinstance(key, BarType) else InstrumentId(str(key))
        client = self._data_client_for(instrument_id)
        if client is None:
            self.log.error("no data client for venue %s: cannot subscribe to %s %s", instrument_id.venue, channel, key)
            return
        if channel == "quotes":
            coro = client.subscribe_quote_ticks(instrument_id)
        elif channel == "trades":
            coro = client.subscribe_trade_ticks(instrument_id)
        elif channel == "bars":
            coro = client.subscribe_bars(key)  # type: ignore[arg-type]
        else:
            coro = client.subscribe_order_book_deltas(instrument_id)
        client.spawn(coro, name=f"subscribe-{channel}-{key}")

    async def wait_until_idle(self) -> None:
        """Return once every queue is drained and no client request is in flight (stable twice in a row)."""
        queues = (self.data_queue, self.risk_queue, self.command_queue, self.event_queue)
        while True:
            for queue in queues:
                await queue.join()
            for client in self.exec_clients.values():
                await client.wait_tasks()
            await asyncio.sleep(0)  # let callbacks scheduled by the last handlers run
            if all(q.is_idle() for q in queues) and all(c.pending_tasks == 0 for c in self.exec_clients.values()):
                return

    # ---- running ------------------------------------------------------------------------------
    def run(self) -> Any:
        """Run until stopped. With the node's own loop this blocks; inside a running loop it returns a task."""
        if self.is_disposed:
            raise NodeError("this node is disposed")
        if self.loop.is_running():
            return self.loop.create_task(self.run_async())
        try:
            self.loop.run_until_complete(self.run_async())
        except KeyboardInterrupt:  # platforms without loop signal handlers
            self.log.warning("KeyboardInterrupt: stopping")
            self.stop()
            if not self.loop.is_closed():
                self.loop.run_until_complete(self._shutdown())
        return None

    def stop(self) -> None:
        """Ask the node to stop gracefully (safe from signal handlers and other threads)."""
        event = self._stop_requested
        if event is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            event.set()
        else:
            self.loop.call_soon_threadsafe(event.set)

    async def run_async(self) -> None:
        self._stop_requested = asyncio.Event()
        self._install_signal_handlers()
        try:
            await self._start()
            self.is_running = True
            await self._stop_requested.wait()
        finally:
            if self.is_running or self.snapshot is not None:
                await self._shutdown()
            else:
                await self._close_clients()
            self.is_running = False
            self._remove_signal_handlers()
        if self._fatal is not None:
            raise NodeError(f"the node stopped after an unexpected error: {self._fatal!r}") from self._fatal

    def _install_signal_handlers(self) -> None:
        self._signals: list[int] = []
        if sys.platform == "win32":
            return  # Ctrl+C raises KeyboardInterrupt in run()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self.loop.add_signal_handler(sig, self._on_signal, sig)
                self._signals.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread, or no support: KeyboardInterrupt / stop() still work

    def _remove_signal_handlers(self) -> None:
        for sig in getattr(self, "_signals", []):
            with contextlib.suppress(Exception):
                self.loop.remove_signal_handler(sig)

    def _on_signal(self, sig: int) -> None:
        self.log.warning("%s received: stopping gracefully", signal.Signals(sig).name)
        self.stop()

    async def _start(self) -> None:
        config = self.config
        self.clock.attach(self.loop, on_error=self._on_timer_error)
        for queue in (self.data_queue, self.risk_queue, self.command_queue, self.event_queue):
            queue.start()
        self._open_database()
        self._start_streaming()
        clients = [*self.data_clients.values(), *self.exec_clients.values()]
        self.log.info("connecting %d client(s)", len(clients))
        try:
            await asyncio.wait_for(asyncio.gather(*(c.connect() for c in clients)), config.timeout_connection)
        except TimeoutError:
            raise NodeError(f"clients did not connect within timeout_connection={config.timeout_connection}s") from None
        await self._load_instruments()
        self._restore_state()
        await self._wait_for_accounts()
        await self._reconcile()  # also takes each venue's balances as the truth afterwards
        self.snapshot = LiveSnapshot(self._snapshot_dir(), self._snapshot_header())
        self.prices = PriceSampler(self.clock, self.cache, 1_000_000_000)  # one price per second per instrument
        self.prices.start()
        self.kernel.start()
        await self.wait_until_idle()
        self._write_snapshot("running")
        self._start_checks()
        interval = config.exec_engine.snapshot_positions_interval_secs
        if interval:
            self._snapshot_task = self.loop.create_task(self._snapshot_loop(interval), name="snapshots")
        self.log.info("running; snapshot %s (every %ss, and when stopping)", self.snapshot.path, interval or "-")

    def _on_timer_error(self, event: TimeEvent, exc: BaseException) -> None:
        self.log.error("timer %s raised: %r", event.name, exc)

    async def _load_instruments(self) -> None:
        if self.config.instruments_file:
            from toolkit.backtest.runner import load_instruments_file

            path = Path(self.config.instruments_file)
            for instrument in load_instruments_file(path, self.source, "live.instruments_file"):
                self.cache.add_instrument(instrument)
        for client in self.data_clients.values():
            for instrument in await client.request_instruments():
                self.cache.add_instrument(instrument)
        if not self.cache.instruments():
            raise NodeError("no instruments: set live.instruments_file or use a data client that provides them")

    async def _wait_for_accounts(self) -> None:
        venues = {client.venue for client in self.exec_clients.values()}
        deadline = self.loop.time() + self.config.timeout_portfolio
        while True:
            await self.event_queue.join()
            missing = [v for v in venues if self.cache.account_for_venue(v) is None]
            if not missing:
                return
            if self.loop.time() > deadline:
                raise NodeError(
                    f"no account state from venue(s) {', '.join(map(str, missing))} within "
                    f"timeout_portfolio={self.config.timeout_portfolio}s"
                )
            await asyncio.sleep(0.01)

    def _open_database(self) -> None:
        """Open the cache database before anything is sent; wipe or load this trader's state."""
        try:
            self.database = open_cache_database(
                str(self.trader_id), self.config.cache, self.log, self.config.snapshot_dir, self.config.instance_id
            )
        except DatabaseUnavailable as exc:
            raise NodeError(f"cache database unavailable: {exc}") from None
        if self.database is None:
            self.log.info("no cache database configured: state lives in memory only (a restart relies on the venue)")
            return
        if self.config.cache.flush_on_start:
            wiped = self.database.wipe()
            self.log.warning(
                "FLUSH_ON_START: wiped this trader's persisted state (%s); the node starts believing it owns "
                "nothing until reconciliation with the venue restores what the venue reports",
                ", ".join(f"{n} {kind}" for kind, n in wiped.items()) or "nothing was stored",
            )
            self._persisted_state = None
        else:
            self._persisted_state = self.database.load()

    def _start_streaming(self) -> None:
        """Stream bus messages to Redis streams when `message_bus.database` is set."""
        if self.config.message_bus.database is None:
            return
        from toolkit.persistence.streaming import BusStreamer

        try:
            self.streamer = BusStreamer(
                self.kernel.msgbus, self.config.message_bus, str(self.trader_id), self.config.instance_id, self.log
            )
            self.streamer.start(self.loop)
        except (DatabaseUnavailable, ValueError) as exc:
            raise NodeError(f"message bus streaming unavailable: {exc}") from None

    def _restore_state(self) -> None:
        """Put the persisted instruments, accounts, orders (with positions rebuilt from their fills) and
        strategy states back into the cache, as they were before the restart."""
        state = getattr(self, "_persisted_state", None)
        if state is None:
            return
        cache = self.cache
        for instrument in state.instruments:
            if cache.instrument(instrument.id) is None:
                cache.add_instrument(instrument)
        for states in state.account_states.values():
            if states:
                self.kernel.portfolio.apply_account_state(states[-1])
        orders = []
        for events, position_id in state.orders:
            try:
                order = Order(events[0])  # type: ignore[arg-type]
                for event in events[1:]:
                    order.apply(event)
            except (ValueError, TypeError) as exc:
                self.log.error("persisted order %s could not be rebuilt: %r", events[0].client_order_id, exc)
                continue
            if position_id is not None:
                order.position_id = position_id  # type: ignore[assignment]
            if cache.order_exists(order.client_order_id):
                continue
            cache.add_order(order)
            cache.update_order(order)
            self._persisted_orders.add(str(order.client_order_id))
            orders.append(order)
        replayed = self.exec_engine.restore_positions(orders)
        self.fills = sorted(
            (e for o in orders for e in o.events if type(e) is OrderFilled), key=lambda f: (f.ts_event, str(f.trade_id))
        )
        for strategy_id, strategy_state in state.strategy_states.items():
            cache.save_strategy_state(strategy_id, strategy_state)  # type: ignore[arg-type]
        open_orders = len(cache.orders_open())
        self.log.info(
            "restored from the database: %d instrument(s), %d order(s) (%d open), %d fill(s) into %d open position(s), "
            "%d strategy state(s)",
            len(state.instruments),
            len(orders),
            open_orders,
            replayed,
            len(cache.positions_open()),
            len(state.strategy_states),
        )
        self._persisted_state = None

    async def _reconcile(self) -> None:
        """Startup reconciliation with every venue, before any strategy starts (`timeout_reconciliation`)."""
        config = self.config
        if not config.exec_engine.reconciliation:
            self.log.warning("reconciliation is off: the node trusts its cache and does not ask the venue")
            return
        try:
            ok = await asyncio.wait_for(
                self.exec_engine.reconcile_execution_state(
                    list(self.exec_clients.values()), config.timeout_reconciliation
                ),
                config.timeout_reconciliation,
            )
        except TimeoutError:
            raise NodeError(
                "startup reconciliation did not finish within "
                f"timeout_reconciliation={config.timeout_reconciliation}s: strategies not started"
            ) from None
        await self.wait_until_idle()
        if not ok:
            raise NodeError(
                "execution state could not be reconciled with the venue (see the log): strategies not started"
            )
        self.log.info(
            "reconciled with %d venue(s): %d open order(s), %d open position(s)",
            len(self.exec_clients),
            len(self.cache.orders_open()),
            len(self.cache.positions_open()),
        )

    def _start_checks(self) -> None:
        """The continuous checks (in-flight, open orders, positions), the own-books audit and the purges."""
        self._checks_stop = asyncio.Event()
        self.checks = ContinuousChecks(
            self.exec_engine,
            dict(self.exec_clients),
            self.config.exec_engine,
            self.clock,
            self.log,
            database=self.database,
        )
        self._checks_tasks = self.checks.start(self._checks_stop)

    def _snapshot_dir(self) -> Path:
        if self._snapshot_path is not None:
            return self._snapshot_path
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        return Path(self.config.snapshot_dir) / f"{self.trader_id}-{stamp}"

    def _snapshot_header(self) -> dict[str, Any]:
        return {
            "run_id": f"{self.trader_id}-{self.clock.timestamp_ns()}",
            "trader_id": str(self.trader_id),
            "instance_id": self.config.instance_id,
            "strategies": [str(s.id) for s in self.kernel.trader.strategies],
            "instruments": sorted(str(i.id) for i in self.cache.instruments()),
            "venues": sorted({str(c.venue) for c in self.exec_clients.values()}),
            "start_ns": self.clock.timestamp_ns(),
            "snapshot_interval_secs": self.config.exec_engine.snapshot_positions_interval_secs,
        }

    def _write_snapshot(self, status: str) -> None:
        if self.snapshot is None:
            return
        try:
            prices = self.prices.rows if self.prices is not None else None
            self.snapshot.write(
                self.cache, self.kernel.portfolio, self.fills, status, self.clock.timestamp_ns(), prices
            )
        except OSError as exc:
            self.log.error("snapshot write to %s failed: %r", self.snapshot.path, exc)

    async def _snapshot_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self._save_strategies()
            self._write_snapshot("running")

    async def _shutdown(self) -> None:
        config = self.config
        self.log.info("stopping")
        self.exec_engine.is_shutting_down = True
        if self._checks_stop is not None:
            self._checks_stop.set()
            self.checks.stop_purge_timers()
            for task in self._checks_tasks:
                task.cancel()
            await asyncio.gather(*self._checks_tasks, return_exceptions=True)
            self._checks_tasks = []
        if self._snapshot_task is not None:
            self._snapshot_task.cancel()
            await asyncio.gather(self._snapshot_task, return_exceptions=True)
            self._snapshot_task = None
        try:
            self.kernel.stop()  # strategies' on_stop: may cancel orders and close positions
        except Exception as exc:
            self.log.error("error while stopping strategies: %r", exc)
        self._cancel_open_orders()
        try:
            await asyncio.wait_for(self.wait_until_idle(), config.timeout_post_stop)
        except TimeoutError:
            self.log.warning("requests still in flight after timeout_post_stop=%ss", config.timeout_post_stop)
        if self.prices is not None:
            self.prices.stop()
        self._save_strategies()
        self._write_snapshot("stopped")
        await self._close_clients()
        if self.streamer is not None:
            await self.streamer.flush_async(timeout=config.timeout_disconnection)
            self.streamer.stop(timeout=1.0)
        if self.database is not None:
            if not await self.database.flush_async(timeout=config.timeout_disconnection):
                self.log.error("cache database: %d write(s) not confirmed at stop", self.database.pending)
            self.database.close()
        for queue in (self.data_queue, self.risk_queue, self.command_queue, self.event_queue):
            await queue.stop()
        self.clock.detach()
        self.log.info("stopped")

    def _cancel_open_orders(self) -> None:
        for strategy in self.kernel.trader.strategies:
            if not getattr(strategy.config, "cancel_orders_on_stop", True):
                continue
            instruments = {o.instrument_id for o in self.cache.orders_open(strategy_id=strategy.strategy_id)}
            for instrument_id in instruments:
                strategy.cancel_all_orders(instrument_id)

    async def _close_clients(self) -> None:
        clients = [*self.data_clients.values(), *self.exec_clients.values()]
        try:
            await asyncio.wait_for(
                asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True),
                self.config.timeout_disconnection,
            )
        except TimeoutError:
            self.log.warning(
                "clients did not disconnect within timeout_disconnection=%ss", self.config.timeout_disconnection
            )
        for client in clients:
            await client.cancel_tasks()

    def dispose(self) -> None:
        """Release the node (and the process's one-node slot); close the loop if the node created it."""
        if self.is_disposed:
            return
        if self.is_running:
            raise NodeError("stop the node before disposing it")
        self.is_disposed = True
        if TradingNode._active is self:
            TradingNode._active = None
        if self._own_loop and not self.loop.is_closed():
            self.loop.close()

    def client_ids(self) -> list[ClientId]:
        return [c.client_id for c in [*self.data_clients.values(), *self.exec_clients.values()]]

    def venues(self) -> list[Venue]:
        return sorted({c.venue for c in self.exec_clients.values()})
