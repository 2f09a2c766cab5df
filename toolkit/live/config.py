"""Live node configuration: frozen structs read from a run file's `[live]` table (TOML or JSON).

`TradingNodeConfig` holds every option of a live node with the names and defaults users of live
trading nodes know (`../shared/specs/live-config.md`, reconciliation spec §3.6): timeouts, the cache and
its database, the message bus, the live data / risk / execution engines (queues, reconciliation,
continuous checks, purges, snapshots), the portfolio, the data and execution clients keyed by client
name, and the strategies. `load_node_config(path)` reads a run file: its `[live]` table, plus its
`[strategy]` table (the one a backtest reads) appended to `strategies`. Unknown keys and bad values are
`ConfigError`s naming the file and the dotted field (`live.exec_engine.qsize`); ranges are checked for
structs built in Python too. Client tables are checked by their factory (`validate_clients`). Options
accepted now but implemented by later issues are listed in `NOT_YET_IMPLEMENTED`;
`unimplemented_options(config)` names those a config sets, so the node warns instead of ignoring them.
The options are documented in `docs/live.md` ("Configuration reference").
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import msgspec
from msgspec import inspect as msgspec_inspect

from toolkit.core.config import ConfigError, ToolkitConfig, config_from_dict, load_json, load_toml
from toolkit.engine.kernel import KernelConfig
from toolkit.engine.risk import RiskEngineConfig
from toolkit.live.clients import ClientFactory, LiveClientConfig, client_config
from toolkit.model.identifiers import ClientOrderId, InstrumentId, TraderId
from toolkit.trading.config import StrategyConfig
from toolkit.trading.loader import StrategyTable

PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]

DEFAULT_QSIZE = 100_000
LIVE_TABLE = "live"


# -- range checks for structs built in Python ------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _bounds(cls: type) -> tuple[tuple[str, str, float], ...]:
    """(field, operator, bound) of every numeric constraint declared on `cls`'s fields."""
    found: list[tuple[str, str, float]] = []
    info = msgspec_inspect.type_info(cls)
    assert isinstance(info, msgspec_inspect.StructType)
    for field in info.fields:
        types = field.type.types if isinstance(field.type, msgspec_inspect.UnionType) else (field.type,)
        for item in types:
            if isinstance(item, msgspec_inspect.IntType | msgspec_inspect.FloatType):
                for op in ("gt", "ge", "lt", "le"):
                    bound = getattr(item, op)
                    if bound is not None:
                        found.append((field.name, op, bound))
    return tuple(found)


_FAILS = {
    "gt": lambda v, b: v <= b,
    "ge": lambda v, b: v < b,
    "lt": lambda v, b: v >= b,
    "le": lambda v, b: v > b,
}
_SYMBOL = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_FIELD_PROBLEM = re.compile(r"^\w+ field `(?P<name>\w+)`: (?P<reason>.*)$", re.DOTALL)


def _check_ranges(config: msgspec.Struct) -> None:
    for name, op, bound in _bounds(type(config)):
        value = getattr(config, name)
        if isinstance(value, int | float) and not isinstance(value, bool) and _FAILS[op](value, bound):
            _fail(config, name, f"must be {_SYMBOL[op]} {bound}, got {value!r}")


def _fail(config: msgspec.Struct, name: str, reason: str) -> None:
    # The format is parsed back by `node_config_from_dict` to name the field in a ConfigError.
    raise ValueError(f"{type(config).__name__} field `{name}`: {reason}")


class _LiveConfig(ToolkitConfig):
    """A config whose numeric ranges are checked when built in Python too (files are checked by msgspec)."""

    def __post_init__(self) -> None:
        _check_ranges(self)


# -- cache and message bus -------------------------------------------------------------------------------------------


class DatabaseType(StrEnum):
    SQLITE = "sqlite"
    REDIS = "redis"


class Encoding(StrEnum):
    MSGPACK = "msgpack"
    JSON = "json"


class DatabaseConfig(_LiveConfig):
    """Where the cache persists (or the bus streams): an embedded SQLite file (default) or a Redis server.

    `path` is the SQLite file (None: `<snapshot_dir>/cache.db`, see `cache_database_path`); `host`, `port`,
    `username`, `password` and `ssl` are Redis's (None host/port: 127.0.0.1:6379); `timeout` is the
    connection / operation timeout in seconds.
    """

    type: DatabaseType = DatabaseType.SQLITE
    path: str | None = None
    host: str | None = None
    port: Port | None = None
    username: str | None = None
    password: str | None = None
    timeout: PositiveFloat = 20.0
    ssl: bool = False

    def __post_init__(self) -> None:
        _check_ranges(self)
        if self.type == DatabaseType.REDIS and self.path is not None:
            _fail(self, "path", 'is the SQLite file: it has no meaning with type = "redis" (set host and port)')
        if self.type == DatabaseType.SQLITE:
            for name in ("host", "port", "username", "password"):
                if getattr(self, name) is not None:
                    _fail(self, name, 'is a Redis setting: it has no meaning with type = "sqlite" (set path)')


class CacheConfig(_LiveConfig):
    """The cache: history kept in memory, and the optional database it persists to."""

    database: DatabaseConfig | None = None
    encoding: Encoding = Encoding.MSGPACK
    timestamps_as_iso8601: bool = False
    buffer_interval_ms: NonNegativeInt | None = None
    flush_on_start: bool = False
    tick_capacity: PositiveInt = 10_000
    bar_capacity: PositiveInt = 10_000
    drop_instruments_on_reset: bool = True


class MessageBusConfig(_LiveConfig):
    """Streaming of bus messages to a database (none by default) and the bus heartbeat."""

    database: DatabaseConfig | None = None
    encoding: Encoding = Encoding.MSGPACK
    timestamps_as_iso8601: bool = False
    use_instance_id: bool = False
    types_filter: list[str] | None = None
    stream_per_topic: bool = True
    autotrim_mins: PositiveInt | None = None
    heartbeat_interval_secs: PositiveFloat | None = None


# -- engines -----------------------------------------------------------------------------------------------------------


class LiveDataEngineConfig(_LiveConfig):
    """The live data engine: its queue size (a full queue makes the clients wait) and extra logging."""

    qsize: PositiveInt = DEFAULT_QSIZE
    debug: bool = False


class LiveRiskEngineConfig(RiskEngineConfig):
    """The pre-trade risk settings of a backtest plus the live engine's queue size."""

    qsize: PositiveInt = DEFAULT_QSIZE

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_ranges(self)


class LiveExecEngineConfig(_LiveConfig):
    """The live execution engine: startup reconciliation, continuous checks, purges, snapshots and its queue.

    Defaults and meanings: reconciliation spec §3.6 and live-config "Live execution engine"; `docs/live.md`.
    """

    # startup reconciliation
    reconciliation: bool = True
    reconciliation_lookback_mins: NonNegativeInt | None = None
    reconciliation_instrument_ids: list[InstrumentId] | None = None
    filter_unclaimed_external_orders: bool = False
    filter_position_reports: bool = False
    filtered_client_order_ids: list[ClientOrderId] | None = None
    generate_missing_orders: bool = True
    reconciliation_startup_delay_secs: NonNegativeFloat = 10.0
    # in-flight order check
    inflight_check_interval_ms: NonNegativeInt = 2000
    inflight_check_threshold_ms: NonNegativeInt = 5000
    inflight_check_retries: NonNegativeInt = 5
    # own order books
    own_books_audit_interval_secs: PositiveFloat | None = None
    manage_own_order_books: bool = False
    # open-order check
    open_check_interval_secs: PositiveFloat | None = None
    open_check_open_only: bool = True
    open_check_lookback_mins: PositiveInt | None = 60
    open_check_threshold_ms: NonNegativeInt = 5000
    open_check_missing_retries: NonNegativeInt = 5
    max_single_order_queries_per_cycle: PositiveInt = 10
    single_order_query_delay_ms: NonNegativeInt = 100
    # position check
    position_check_interval_secs: PositiveFloat | None = None
    position_check_lookback_mins: PositiveInt = 60
    position_check_threshold_ms: NonNegativeInt = 5000
    position_check_retries: NonNegativeInt = 3
    # purges
    purge_closed_orders_interval_mins: PositiveInt | None = None
    purge_closed_orders_buffer_mins: NonNegativeInt | None = None
    purge_closed_positions_interval_mins: PositiveInt | None = None
    purge_closed_positions_buffer_mins: NonNegativeInt | None = None
    purge_account_events_interval_mins: PositiveInt | None = None
    purge_account_events_lookback_mins: NonNegativeInt | None = None
    purge_from_database: bool = False
    # fills, snapshots, queue
    allow_overfills: bool = False
    snapshot_orders: bool = False
    snapshot_positions: bool = False
    snapshot_positions_interval_secs: PositiveFloat | None = None
    qsize: PositiveInt = DEFAULT_QSIZE
    graceful_shutdown_on_exception: bool = False
    debug: bool = False


class PortfolioConfig(_LiveConfig):
    """The portfolio; `debug` logs every account and PnL update."""

    debug: bool = False


# -- the node ----------------------------------------------------------------------------------------------------------


class TradingNodeConfig(_LiveConfig):
    """Everything a live node needs; see the module docstring and `docs/live.md`.

    `data_clients` / `exec_clients` map a client name (e.g. `SANDBOX`) to its table: `factory` plus the
    factory's own options, checked by `validate_clients`. `snapshot_dir` is where the node writes its
    snapshot folder `<snapshot_dir>/<trader_id>-<stamp>`; `instruments_file` optionally loads instrument
    definitions (they also come from the data clients).
    """

    trader_id: TraderId = TraderId("TRADER-001")
    instance_id: str | None = None
    timeout_connection: PositiveFloat = 30.0
    timeout_reconciliation: PositiveFloat = 10.0
    timeout_portfolio: PositiveFloat = 10.0
    timeout_disconnection: PositiveFloat = 10.0
    timeout_post_stop: PositiveFloat = 5.0
    cache: CacheConfig = msgspec.field(default_factory=CacheConfig)
    message_bus: MessageBusConfig = msgspec.field(default_factory=MessageBusConfig)
    data_engine: LiveDataEngineConfig = msgspec.field(default_factory=LiveDataEngineConfig)
    risk_engine: LiveRiskEngineConfig = msgspec.field(default_factory=LiveRiskEngineConfig)
    exec_engine: LiveExecEngineConfig = msgspec.field(default_factory=LiveExecEngineConfig)
    portfolio: PortfolioConfig = msgspec.field(default_factory=PortfolioConfig)
    data_clients: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    exec_clients: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    strategies: list[StrategyTable] = msgspec.field(default_factory=list)
    snapshot_dir: str = "output/live"
    instruments_file: str | None = None

    def __post_init__(self) -> None:
        _check_ranges(self)
        for table in ("data_clients", "exec_clients"):
            for name in getattr(self, table):
                if not name or name.strip() != name or "." in name:
                    _fail(self, table, f"client name {name!r} must be non-empty, without spaces around it or '.'")

    def kernel_config(self) -> KernelConfig:
        """The shared kernel's part of this config: trader id, cache history sizes and risk settings."""
        return KernelConfig(
            trader_id=self.trader_id,
            tick_capacity=self.cache.tick_capacity,
            bar_capacity=self.cache.bar_capacity,
            risk_engine=self.risk_engine,
        )


def cache_database_path(config: TradingNodeConfig) -> Path | None:
    """The SQLite file of the cache database: `database.path`, else `<snapshot_dir>/cache.db`.

    None when the cache has no database or it is Redis. The default lies in `snapshot_dir` itself, not in a
    run's stamped folder, so a restarted node finds the state of the previous run.
    """
    database = config.cache.database
    if database is None or database.type != DatabaseType.SQLITE:
        return None
    return Path(database.path) if database.path is not None else Path(config.snapshot_dir) / "cache.db"


# -- loading -----------------------------------------------------------------------------------------------------------


class NodeConfigFile(NamedTuple):
    """What `load_node_config` returns: the config, the file it came from (for errors) and that file's folder
    (strategy paths like `strategies/x.py:X` are also looked up relative to it)."""

    config: TradingNodeConfig
    source: str
    base_dir: Path


def node_config_from_dict(data: dict[str, Any], source: str = "<dict>", table: str = LIVE_TABLE) -> TradingNodeConfig:
    """Convert a `[live]` table (already parsed) to a `TradingNodeConfig`; errors name `source` and `live.<field>`."""
    if not isinstance(data, dict):
        raise ConfigError(source, table, f"expected a table, got {type(data).__name__}")
    for clients in ("data_clients", "exec_clients"):
        tables = data.get(clients)
        for name, values in tables.items() if isinstance(tables, dict) else ():
            if not isinstance(values, dict):
                got = type(values).__name__
                raise ConfigError(source, f"{table}.{clients}.{name}", f"expected a table (factory = ...), got {got}")
    try:
        return config_from_dict(data, TradingNodeConfig, source=source, path_prefix=table)
    except ConfigError as exc:
        field, reason = exc.field, exc.reason
        match = _FIELD_PROBLEM.match(reason)
        if match is not None:
            field = f"{field}.{match['name']}" if field else f"{table}.{match['name']}"
            reason = match["reason"]
        elif reason.startswith("Expected") and field is not None:
            found, value = _value_in(data, field.removeprefix(table))
            if found:
                reason = f"{reason} ({value!r})" if ", got `" in reason else f"{reason} (got {value!r})"
        raise ConfigError(exc.file, field, reason, line=exc.line) from None


def _value_in(data: Any, path: str) -> tuple[bool, Any]:
    """(True, value) at a dotted path like `.exec_engine.qsize` or `.strategies[0].path` in parsed data."""
    value = data
    for name, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path):
        if name and isinstance(value, dict) and name in value:
            value = value[name]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return False, None
    return True, value


def load_node_config(path: str | Path) -> NodeConfigFile:
    """Read a run file (`.toml`, or `.json`): its `[live]` table, with its `[strategy]` table (if any) appended
    to `strategies`. A file without a `[live]` table is a `ConfigError` naming the file and `live`."""
    source = str(path)
    suffix = Path(path).suffix.lower()
    if suffix == ".toml":
        data = load_toml(path)
    elif suffix == ".json":
        data = load_json(path)
    else:
        raise ConfigError(source, None, f"unsupported config file type {suffix or '(none)'!r}: use .toml or .json")
    if LIVE_TABLE not in data:
        tables = ", ".join(sorted(k for k, v in data.items() if isinstance(v, dict))) or "none"
        raise ConfigError(source, LIVE_TABLE, f"table not found: a live node needs a [live] table (tables: {tables})")
    config = node_config_from_dict(data[LIVE_TABLE], source)
    if "strategy" in data:
        strategy = config_from_dict(data["strategy"], StrategyTable, source=source, path_prefix="strategy")
        config = msgspec.structs.replace(config, strategies=[*config.strategies, strategy])
    return NodeConfigFile(config, source, Path(path).resolve().parent)


class ClientConfigs(NamedTuple):
    """The client tables of a node checked by their factories: name -> (factory class, its config)."""

    data: dict[str, tuple[type[ClientFactory], LiveClientConfig]]
    exec: dict[str, tuple[type[ClientFactory], LiveClientConfig]]


def validate_clients(config: TradingNodeConfig, source: str = "<dict>", table: str = LIVE_TABLE) -> ClientConfigs:
    """Check every client table with its factory's config type; errors name `live.data_clients.NAME.<field>`."""
    data = {
        name: client_config(values, source, f"{table}.data_clients.{name}")
        for name, values in config.data_clients.items()
    }
    exec_ = {
        name: client_config(values, source, f"{table}.exec_clients.{name}")
        for name, values in config.exec_clients.items()
    }
    return ClientConfigs(data, exec_)


# -- options accepted before they are implemented ----------------------------------------------------------------------

_PERSISTENCE = "persistence and reconciliation"
_STREAMING = "message bus streaming"
_OWN_BOOKS = "own order books"

NOT_YET_IMPLEMENTED: dict[str, str] = {
    # own order books as book views (the audit of the own-order index is implemented)
    "exec_engine.manage_own_order_books": _OWN_BOOKS,
}
"""Option path (relative to the `[live]` table) -> the issue that implements it. Until then the option is
accepted, documented as not yet active, and reported by `unimplemented_options` when a config sets it."""

# Values that switch a not-yet-implemented feature off: the node already behaves so, nothing to warn about.
_ALREADY_THE_BEHAVIOUR: dict[str, Any] = {
    "exec_engine.reconciliation": False,
    "exec_engine.generate_missing_orders": False,
    "exec_engine.inflight_check_interval_ms": 0,
}
_STRATEGY_PREFIX = "strategies.config."


def unimplemented_options(config: TradingNodeConfig) -> list[str]:
    """The options in `NOT_YET_IMPLEMENTED` that `config` sets to a non-default value, as paths relative to the
    `[live]` table (`exec_engine.open_check_interval_secs`, `strategies[0].config.manage_gtd_expiry`)."""
    defaults = TradingNodeConfig()
    found: list[str] = []
    for option in NOT_YET_IMPLEMENTED:
        if option.startswith(_STRATEGY_PREFIX):
            continue
        value = _value_at(config, option)
        if value != _value_at(defaults, option) and not (
            option in _ALREADY_THE_BEHAVIOUR and value == _ALREADY_THE_BEHAVIOUR[option]
        ):
            found.append(option)
    strategy_defaults = msgspec.to_builtins(StrategyConfig())
    names = [key.removeprefix(_STRATEGY_PREFIX) for key in NOT_YET_IMPLEMENTED if key.startswith(_STRATEGY_PREFIX)]
    for index, table in enumerate(config.strategies):
        for name in names:
            if name in table.config and table.config[name] not in (strategy_defaults[name], None):
                found.append(f"strategies[{index}].config.{name}")
    return found


def unimplemented_warnings(config: TradingNodeConfig, table: str = LIVE_TABLE) -> list[str]:
    """One warning line per `unimplemented_options` entry, naming the option and the issue implementing it."""
    lines = []
    for path in unimplemented_options(config):
        key = re.sub(r"\[\d+\]", "", path)
        lines.append(
            f"option '{table}.{path}' is set but not implemented yet (arrives with the "
            f"'{NOT_YET_IMPLEMENTED[key]}' issue): it has no effect in this version"
        )
    return lines


def _value_at(config: Any, option: str) -> Any:
    value = config
    for part in option.split("."):
        value = getattr(value, part)
    return value
