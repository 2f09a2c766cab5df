"""Base classes of live data and execution clients, and how configs name them.

A `LiveDataClient` connects to a venue's market data, turns what it receives into our data objects
and hands them to the node (`self._handle_data`, which waits when the node's data queue is full:
backpressure, never a silent drop). A `LiveExecutionClient` implements the `ExecutionClient`
interface of the execution engine: commands arrive as plain calls on the event loop and are sent
as tasks (`self.spawn`), events from the venue go back through `self._send_event`. It also answers
the reconciliation queries (`generate_order_status_report(s)`, `generate_fill_reports`,
`generate_position_status_reports`) and builds the `ExecutionMassStatus` from them. Configs name a
client by a factory: a registered short name (`"sandbox"`) or `"package.module:Factory"`.
"""

from __future__ import annotations

import asyncio
import importlib
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, ClassVar

from toolkit.core.config import ConfigError, ToolkitConfig, config_from_dict
from toolkit.engine.execution import ExecutionClient
from toolkit.model.commands import QueryOrder
from toolkit.model.data import BarType
from toolkit.model.enums import OmsType
from toolkit.model.events import AccountState, OrderEvent
from toolkit.model.identifiers import AccountId, ClientId, ClientOrderId, InstrumentId, Venue, VenueOrderId
from toolkit.model.instruments import Instrument
from toolkit.model.reports import ExecutionMassStatus, FillReport, OrderStatusReport, PositionStatusReport

if TYPE_CHECKING:
    from toolkit.core.cache import Cache
    from toolkit.core.clock import Clock
    from toolkit.core.log import Logger

DataHandler = Callable[[Any], Awaitable[None]]
EventHandler = Callable[[OrderEvent | AccountState], None]


class LiveClientConfig(ToolkitConfig):
    """Common fields of a client table; factories subclass it with their own options."""

    factory: str


class _TaskOwner:
    """Tracks the tasks a client spawned, so the node can wait for them (idle) or cancel them (stop)."""

    def __init__(self, log: Logger) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._log_for_tasks = log

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log_for_tasks.error("task %s failed: %r", task.get_name(), task.exception())

    @property
    def pending_tasks(self) -> int:
        return len(self._tasks)

    async def wait_tasks(self) -> None:
        """Wait until every spawned task (and any they spawned meanwhile) has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)


class LiveDataClient(_TaskOwner, ABC):
    """Market data from one venue."""

    def __init__(
        self,
        client_id: ClientId,
        venue: Venue | None,
        config: LiveClientConfig,
        clock: Clock,
        cache: Cache,
        log: Logger,
        handle_data: DataHandler,
    ) -> None:
        super().__init__(log)
        self.client_id = client_id
        self.venue = venue
        self.config = config
        self.clock = clock
        self.cache = cache
        self.log = log
        self._handle_data = handle_data
        self.is_connected = False
        # Set by the node: awaited before acknowledging an event in lockstep mode (the node is idle).
        self.wait_until_idle: Callable[[], Awaitable[None]] | None = None
        # Set by the node: its execution clients of the same venue (e.g. to wait for their event stream).
        self.execution_peers: list[LiveExecutionClient] = []

    @abstractmethod
    async def connect(self) -> None: ...

    @abstractmethod
    async def disconnect(self) -> None: ...

    async def request_instruments(self) -> list[Instrument]:
        """Instrument definitions the venue offers (loaded into the cache at start)."""
        return []

    @abstractmethod
    async def subscribe_quote_ticks(self, instrument_id: InstrumentId) -> None: ...

    @abstractmethod
    async def subscribe_trade_ticks(self, instrument_id: InstrumentId) -> None: ...

    @abstractmethod
    async def subscribe_bars(self, bar_type: BarType) -> None: ...

    async def subscribe_order_book_deltas(self, instrument_id: InstrumentId) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no order book deltas")

    async def unsubscribe(self, channel: str, key: str) -> None:
        """Stop a subscription (`channel` quotes/trades/bars/deltas, `key` the instrument id or bar type)."""


class LiveExecutionClient(_TaskOwner, ExecutionClient, ABC):
    """Orders at one venue; see the module docstring."""

    def __init__(
        self,
        client_id: ClientId,
        venue: Venue,
        oms_type: OmsType,
        account_id: AccountId,
        config: LiveClientConfig,
        clock: Clock,
        cache: Cache,
        log: Logger,
        send_event: EventHandler,
    ) -> None:
        _TaskOwner.__init__(self, log)
        self.client_id = client_id
        self.venue = venue
        self.oms_type = oms_type
        self.account_id = account_id
        self.config = config
        self.clock = clock
        self.cache = cache
        self.log = log
        self._send_event = send_event
        self.is_connected = False
        # Set by the node: where runtime execution reports (e.g. answers to QueryOrder) go.
        self.handle_report: Callable[[Any], None] | None = None

    @abstractmethod
    async def connect(self) -> None:
        """Connect, start the execution report stream and send the current `AccountState`."""

    @abstractmethod
    async def disconnect(self) -> None: ...

    def query_order(self, command: QueryOrder) -> None:
        """Ask the venue for one order's status; the report goes to `self.handle_report` (set by the node).

        The default uses `generate_order_status_report`; adapters may override it."""
        self.spawn(self._query_order(command), name=f"query-{command.client_order_id}")

    async def _query_order(self, command: QueryOrder) -> None:
        report = await self.generate_order_status_report(
            command.instrument_id, command.client_order_id, command.venue_order_id
        )
        if report is not None and self.handle_report is not None:
            self.handle_report(report)

    async def request_account_state(self) -> AccountState | None:
        """The venue's current account state (used to resync balances after startup reconciliation)."""
        return None

    # ---- reconciliation queries ---------------------------------------------------------------
    @abstractmethod
    async def generate_order_status_report(
        self,
        instrument_id: InstrumentId,
        client_order_id: ClientOrderId | None = None,
        venue_order_id: VenueOrderId | None = None,
    ) -> OrderStatusReport | None: ...

    @abstractmethod
    async def generate_order_status_reports(
        self,
        instrument_id: InstrumentId | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
        open_only: bool = False,
    ) -> list[OrderStatusReport]: ...

    @abstractmethod
    async def generate_fill_reports(
        self,
        instrument_id: InstrumentId | None = None,
        venue_order_id: VenueOrderId | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> list[FillReport]: ...

    @abstractmethod
    async def generate_position_status_reports(
        self,
        instrument_id: InstrumentId | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> list[PositionStatusReport]: ...

    async def generate_mass_status(self, lookback_mins: int | None = None) -> ExecutionMassStatus | None:
        """Orders, fills and positions from three concurrent queries; None if any of them fails."""
        now = self.clock.timestamp_ns()
        start = None if not lookback_mins else now - lookback_mins * 60_000_000_000
        try:
            orders, fills, positions = await asyncio.gather(
                self.generate_order_status_reports(start_ns=start),
                self.generate_fill_reports(start_ns=start),
                self.generate_position_status_reports(start_ns=start),
            )
        except Exception as exc:
            self.log.error("mass status of %s failed: %r", self.client_id, exc)
            return None
        mass = ExecutionMassStatus(
            client_id=self.client_id,
            account_id=self.account_id,
            venue=self.venue,
            ts_init=now,
            report_id=uuid.uuid4().hex,
        )
        mass.add_order_reports(orders)
        mass.add_fill_reports(fills)
        mass.add_position_reports(positions)
        return mass


class ClientFactory(ABC):
    """Builds a client from its config table; `config_type` validates the table."""

    config_type: ClassVar[type[LiveClientConfig]] = LiveClientConfig

    @classmethod
    @abstractmethod
    def create_data_client(cls, name: str, config: Any, **deps: Any) -> LiveDataClient: ...

    @classmethod
    @abstractmethod
    def create_exec_client(cls, name: str, config: Any, **deps: Any) -> LiveExecutionClient: ...


FACTORIES: dict[str, str] = {"sandbox": "toolkit.adapters.sandbox.factory:SandboxClientFactory"}


def resolve_factory(spec: str, source: str, field: str) -> type[ClientFactory]:
    """The factory class named by a short name or `module:Class`; a clear error otherwise."""
    target = FACTORIES.get(spec, spec)
    module_name, _, class_name = target.partition(":")
    if not class_name:
        known = ", ".join(sorted(FACTORIES))
        raise ConfigError(source, field, f"unknown client factory {spec!r} (known: {known}, or 'module:Class')")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(source, field, f"cannot import {module_name!r} for factory {spec!r}: {exc}") from None
    factory = getattr(module, class_name, None)
    if not (isinstance(factory, type) and issubclass(factory, ClientFactory)):
        raise ConfigError(source, field, f"{target} is not a ClientFactory")
    return factory


def client_config(table: dict[str, Any], source: str, field: str) -> tuple[type[ClientFactory], LiveClientConfig]:
    """Validate one `[live.data_clients.NAME]` / `[live.exec_clients.NAME]` table with its factory's config."""
    if "factory" not in table:
        raise ConfigError(source, f"{field}.factory", 'is required (e.g. factory = "sandbox")')
    factory = resolve_factory(str(table["factory"]), source, f"{field}.factory")
    return factory, config_from_dict(table, factory.config_type, source=source, path_prefix=field)
