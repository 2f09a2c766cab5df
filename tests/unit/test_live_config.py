"""Unit tests of `toolkit.live.config`: live node options, their spec defaults, loading and errors naming the field."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.conftest import PROJECT_ROOT
from toolkit.core.config import ConfigError
from toolkit.engine.risk import RiskEngineConfig
from toolkit.live.clients import ClientFactory, LiveClientConfig
from toolkit.live.config import (
    NOT_YET_IMPLEMENTED,
    CacheConfig,
    DatabaseConfig,
    DatabaseType,
    Encoding,
    LiveDataEngineConfig,
    LiveExecEngineConfig,
    LiveRiskEngineConfig,
    MessageBusConfig,
    PortfolioConfig,
    TradingNodeConfig,
    cache_database_path,
    load_node_config,
    node_config_from_dict,
    unimplemented_options,
    unimplemented_warnings,
    validate_clients,
)
from toolkit.model.enums import OmsType
from toolkit.model.identifiers import InstrumentId, TraderId
from toolkit.trading.config import StrategyConfig
from toolkit.trading.loader import StrategyTable

DOCS = PROJECT_ROOT / "docs" / "live.md"


def write(tmp_path: Path, text: str, name: str = "run.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_node_config(path)
    assert info.value.file == str(path)
    return info.value


# -- defaults: the acceptance of the spec tables -------------------------------------------------------------------


def test_node_defaults_are_the_spec_values() -> None:
    config = TradingNodeConfig()
    assert config.trader_id == "TRADER-001" and isinstance(config.trader_id, TraderId)
    assert config.instance_id is None
    assert config.timeout_connection == 30.0
    assert config.timeout_reconciliation == 10.0
    assert config.timeout_portfolio == 10.0
    assert config.timeout_disconnection == 10.0
    assert config.timeout_post_stop == 5.0
    assert config.cache == CacheConfig()
    assert config.message_bus == MessageBusConfig()
    assert config.data_engine == LiveDataEngineConfig()
    assert config.risk_engine == LiveRiskEngineConfig()
    assert config.exec_engine == LiveExecEngineConfig()
    assert config.portfolio == PortfolioConfig()
    assert config.data_clients == {}
    assert config.exec_clients == {}
    assert config.strategies == []
    assert config.snapshot_dir == "output/live"
    assert config.instruments_file is None


def test_cache_and_database_defaults_are_the_spec_values() -> None:
    cache = CacheConfig()
    assert cache.database is None
    assert cache.encoding == "msgpack" and cache.encoding is Encoding.MSGPACK
    assert cache.timestamps_as_iso8601 is False
    assert cache.buffer_interval_ms is None
    assert cache.flush_on_start is False
    assert cache.tick_capacity == 10_000
    assert cache.bar_capacity == 10_000
    assert cache.drop_instruments_on_reset is True
    database = DatabaseConfig()
    assert database.type is DatabaseType.SQLITE and database.type == "sqlite"
    assert database.path is None
    assert database.host is None and database.port is None
    assert database.username is None and database.password is None
    assert database.timeout == 20.0
    assert database.ssl is False


def test_message_bus_defaults_are_the_spec_values() -> None:
    bus = MessageBusConfig()
    assert bus.database is None
    assert bus.encoding == "msgpack"
    assert bus.timestamps_as_iso8601 is False
    assert bus.use_instance_id is False
    assert bus.types_filter is None
    assert bus.stream_per_topic is True
    assert bus.autotrim_mins is None
    assert bus.heartbeat_interval_secs is None


def test_engine_queue_defaults_are_the_spec_values() -> None:
    assert LiveDataEngineConfig().qsize == 100_000
    assert LiveDataEngineConfig().debug is False
    risk = LiveRiskEngineConfig()
    assert risk.qsize == 100_000
    assert isinstance(risk, RiskEngineConfig)
    for name in RiskEngineConfig.__struct_fields__:
        assert getattr(risk, name) == getattr(RiskEngineConfig(), name), name
    assert PortfolioConfig().debug is False


def test_exec_engine_defaults_are_the_spec_values() -> None:
    config = LiveExecEngineConfig()
    expected = {
        # reconciliation spec §3.6
        "reconciliation": True,
        "reconciliation_lookback_mins": None,
        "reconciliation_instrument_ids": None,
        "filter_unclaimed_external_orders": False,
        "filter_position_reports": False,
        "filtered_client_order_ids": None,
        "generate_missing_orders": True,
        "inflight_check_interval_ms": 2000,
        "inflight_check_threshold_ms": 5000,
        "inflight_check_retries": 5,
        "own_books_audit_interval_secs": None,
        "open_check_interval_secs": None,
        "open_check_open_only": True,
        "open_check_lookback_mins": 60,
        "open_check_threshold_ms": 5000,
        "open_check_missing_retries": 5,
        "max_single_order_queries_per_cycle": 10,
        "single_order_query_delay_ms": 100,
        "position_check_interval_secs": None,
        "position_check_lookback_mins": 60,
        "position_check_threshold_ms": 5000,
        "position_check_retries": 3,
        "reconciliation_startup_delay_secs": 10.0,
        "qsize": 100_000,
        "graceful_shutdown_on_exception": False,
        "allow_overfills": False,
        "manage_own_order_books": False,
        "purge_closed_orders_interval_mins": None,
        "purge_closed_orders_buffer_mins": None,
        "purge_closed_positions_interval_mins": None,
        "purge_closed_positions_buffer_mins": None,
        "purge_account_events_interval_mins": None,
        "purge_account_events_lookback_mins": None,
        "purge_from_database": False,
        # live-config "Live execution engine"
        "snapshot_orders": False,
        "snapshot_positions": False,
        "snapshot_positions_interval_secs": None,
        "debug": False,
    }
    for name, value in expected.items():
        assert getattr(config, name) == value, name
    assert set(LiveExecEngineConfig.__struct_fields__) == set(expected)


def test_strategy_live_fields_defaults() -> None:
    config = StrategyConfig()
    assert config.strategy_id is None
    assert config.order_id_tag == "000"  # the spec's None: the default tag
    assert config.oms_type is None
    assert config.use_uuid_client_order_ids is False
    assert config.external_order_claims == []  # the spec's None: no claims
    assert config.manage_contingent_orders is False
    assert config.manage_gtd_expiry is False
    assert config.cancel_orders_on_stop is True


def test_configs_are_frozen() -> None:
    config = TradingNodeConfig()
    with pytest.raises(AttributeError):
        config.timeout_connection = 1.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        config.exec_engine.qsize = 1  # type: ignore[misc]


# -- loading ---------------------------------------------------------------------------------------------------------

FULL_TOML = """
[strategy]
path = "strategies/ema_cross.py:EMACross"

[strategy.config]
instrument_id = "EUR/USD.SIM"
manage_gtd_expiry = true

[live]
trader_id = "TESTER-002"
instance_id = "a1"
timeout_connection = 5
snapshot_dir = "out"
instruments_file = "data/instruments.toml"

[live.cache]
tick_capacity = 50
flush_on_start = true

[live.cache.database]
type = "redis"
host = "127.0.0.1"
port = 6379

[live.message_bus]
types_filter = ["QuoteTick"]

[live.risk_engine]
qsize = 10
max_notional_per_order = { "EUR/USD.SIM" = "1000000" }

[live.exec_engine]
reconciliation_instrument_ids = ["EUR/USD.SIM"]
open_check_interval_secs = 5
purge_closed_orders_interval_mins = 15
purge_closed_orders_buffer_mins = 60
snapshot_positions_interval_secs = 2.5

[live.data_clients.SANDBOX]
factory = "sandbox"
base_url = "http://127.0.0.1:8765"

[live.exec_clients.SANDBOX]
factory = "sandbox"

[[live.strategies]]
path = "strategies/ema_cross_ticks.py:EMACrossTicks"
config = { instrument_id = "EUR/USD.SIM", order_id_tag = "001" }
"""


def test_load_a_run_file_reads_every_table(tmp_path: Path) -> None:
    path = write(tmp_path, FULL_TOML)
    config, source, base_dir = load_node_config(path)
    assert source == str(path) and base_dir == tmp_path.resolve()
    assert config.trader_id == TraderId("TESTER-002")
    assert config.instance_id == "a1"
    assert config.timeout_connection == 5.0 and isinstance(config.timeout_connection, float)
    assert config.snapshot_dir == "out" and config.instruments_file == "data/instruments.toml"
    assert config.cache.tick_capacity == 50 and config.cache.flush_on_start is True
    assert config.cache.database == DatabaseConfig(type=DatabaseType.REDIS, host="127.0.0.1", port=6379)
    assert config.message_bus.types_filter == ["QuoteTick"]
    assert config.risk_engine.qsize == 10
    assert config.risk_engine.max_notional_per_order == {"EUR/USD.SIM": "1000000"}
    assert config.exec_engine.reconciliation_instrument_ids == [InstrumentId("EUR/USD.SIM")]
    assert config.exec_engine.open_check_interval_secs == 5.0
    assert config.exec_engine.snapshot_positions_interval_secs == 2.5
    assert config.data_clients == {"SANDBOX": {"factory": "sandbox", "base_url": "http://127.0.0.1:8765"}}
    assert config.exec_clients == {"SANDBOX": {"factory": "sandbox"}}
    # [[live.strategies]] first, then the run file's [strategy] table appended.
    assert [s.path for s in config.strategies] == [
        "strategies/ema_cross_ticks.py:EMACrossTicks",
        "strategies/ema_cross.py:EMACross",
    ]
    assert config.strategies[1] == StrategyTable(
        path="strategies/ema_cross.py:EMACross",
        config={"instrument_id": "EUR/USD.SIM", "manage_gtd_expiry": True},
    )


def test_load_json_run_file(tmp_path: Path) -> None:
    data = {
        "strategy": {"path": "strategies/ema_cross.py:EMACross", "config": {"instrument_id": "EUR/USD.SIM"}},
        "live": {
            "trader_id": "JSON-001",
            "exec_engine": {"inflight_check_interval_ms": 500, "graceful_shutdown_on_exception": True},
            "cache": {"database": {"path": "state/cache.db"}},
        },
    }
    path = write(tmp_path, json.dumps(data), name="run.json")
    config = load_node_config(path).config
    assert config.trader_id == "JSON-001"
    assert config.exec_engine.inflight_check_interval_ms == 500
    assert config.exec_engine.graceful_shutdown_on_exception is True
    assert config.cache.database == DatabaseConfig(path="state/cache.db")
    assert [s.path for s in config.strategies] == ["strategies/ema_cross.py:EMACross"]


def test_json_errors_name_the_file_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps({"live": {"exec_engine": {"qsize": 0}}}), name="run.json")
    with pytest.raises(ConfigError) as info:
        load_node_config(path)
    assert info.value.file == str(path)
    assert info.value.field == "live.exec_engine.qsize"


def test_live_table_alone_without_strategy(tmp_path: Path) -> None:
    config = load_node_config(write(tmp_path, "[live]\n")).config
    assert config == TradingNodeConfig()


def test_missing_live_table_names_the_file_and_live(tmp_path: Path) -> None:
    error = load_error(tmp_path, '[strategy]\npath = "x.py:X"\n[backtest]\ncatalog = "c"\n')
    assert error.field == "live"
    assert "backtest, strategy" in error.reason
    assert str(error).startswith(f"{tmp_path / 'run.toml'}: field 'live'")


def test_live_must_be_a_table(tmp_path: Path) -> None:
    error = load_error(tmp_path, 'live = "yes"\n')
    assert error.field == "live"


def test_unsupported_suffix_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"use \.toml or \.json"):
        load_node_config(write(tmp_path, "[live]\n", name="run.yaml"))
    with pytest.raises(ConfigError, match="not found") as info:
        load_node_config(tmp_path / "absent.toml")
    assert info.value.file == str(tmp_path / "absent.toml")


def test_strategy_table_errors_name_strategy_fields(tmp_path: Path) -> None:
    error = load_error(tmp_path, '[live]\n[strategy]\npath = "x.py:X"\nconfg = {}\n')
    assert error.field == "strategy.confg"
    error = load_error(tmp_path, "[live]\n[strategy]\nconfig = {}\n")
    assert error.field == "strategy.path"


def test_node_config_from_dict_names_the_source() -> None:
    with pytest.raises(ConfigError) as info:
        node_config_from_dict({"timeout_post_stop": -1}, source="script.py")
    assert info.value.file == "script.py"
    assert info.value.field == "live.timeout_post_stop"
    assert "(got -1)" in info.value.reason
    with pytest.raises(ConfigError) as info:
        node_config_from_dict([], source="script.py")  # type: ignore[arg-type]
    assert info.value.field == "live"


# -- errors: unknown keys and bad values name the file and the dotted field --------------------------------------------


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ("[live]\ntrader_idd = 'A-1'\n", "live.trader_idd"),
        ("[live.cache]\ntick_capacty = 1\n", "live.cache.tick_capacty"),
        ("[live.cache.database]\nhots = 'x'\n", "live.cache.database.hots"),
        ("[live.message_bus]\nstream_per_topik = true\n", "live.message_bus.stream_per_topik"),
        ("[live.message_bus.database]\nssll = true\n", "live.message_bus.database.ssll"),
        ("[live.data_engine]\nqsise = 1\n", "live.data_engine.qsise"),
        ("[live.risk_engine]\nbypas = true\n", "live.risk_engine.bypas"),
        ("[live.exec_engine]\ninflight_check_intervall_ms = 1\n", "live.exec_engine.inflight_check_intervall_ms"),
        ("[live.portfolio]\ndebugg = true\n", "live.portfolio.debugg"),
        ("[[live.strategies]]\npath = 'x.py:X'\nconfog = {}\n", "live.strategies[0].confog"),
    ],
)
def test_unknown_key_in_each_table_names_file_and_field(tmp_path: Path, toml: str, field: str) -> None:
    error = load_error(tmp_path, toml)
    assert error.field == field
    assert "unknown field" in error.reason
    assert f"field '{field}'" in str(error)


@pytest.mark.parametrize(
    ("toml", "field", "reason"),
    [
        ("[live]\ntrader_id = 'TRADER001'\n", "live.trader_id", "NAME-TAG"),
        ("[live]\ntimeout_connection = 'soon'\n", "live.timeout_connection", "Expected `float`"),
        ("[live]\ntimeout_reconciliation = 0\n", "live.timeout_reconciliation", "> 0"),
        ("[live]\nsnapshot_dir = 3\n", "live.snapshot_dir", "Expected `str`"),
        ("[live]\ndata_clients = 3\n", "live.data_clients", "Expected `object`"),
        ("[live.data_clients]\nSANDBOX = 'sandbox'\n", "live.data_clients.SANDBOX", "expected a table"),
        (
            "[live.exec_engine]\ninflight_check_interval_ms = -1\n",
            "live.exec_engine.inflight_check_interval_ms",
            ">= 0",
        ),
        ("[live.exec_engine]\nopen_check_interval_secs = 0\n", "live.exec_engine.open_check_interval_secs", "> 0"),
        ("[live.exec_engine]\nqsize = 0\n", "live.exec_engine.qsize", ">= 1 (got 0)"),
        ("[live.exec_engine]\nreconciliation = 'maybe'\n", "live.exec_engine.reconciliation", "Expected `bool`"),
        (
            "[live.exec_engine]\npurge_closed_orders_buffer_mins = -5\n",
            "live.exec_engine.purge_closed_orders_buffer_mins",
            ">= 0",
        ),
        (
            "[live.exec_engine]\nreconciliation_instrument_ids = ['EURUSD']\n",
            "live.exec_engine.reconciliation_instrument_ids[0]",
            "SYMBOL.VENUE",
        ),
        ("[live.data_engine]\nqsize = -3\n", "live.data_engine.qsize", ">= 1 (got -3)"),
        ("[live.risk_engine]\nqsize = 0\n", "live.risk_engine.qsize", ">= 1"),
        ("[live.risk_engine]\ntrading_state = 'PAUSED'\n", "live.risk_engine.trading_state", "expected one of"),
        ("[live.cache]\nencoding = 'xml'\n", "live.cache.encoding", "expected one of: MSGPACK, JSON"),
        ("[live.cache.database]\ntype = 'postgres'\n", "live.cache.database.type", "expected one of: SQLITE, REDIS"),
        ("[live.cache.database]\ntype = 'redis'\nport = 70000\n", "live.cache.database.port", "<= 65535"),
        ("[live.cache.database]\ntype = 'redis'\npath = 'c.db'\n", "live.cache.database.path", "SQLite file"),
        ("[live.cache.database]\nhost = 'h'\n", "live.cache.database.host", "Redis setting"),
        ("[live.message_bus]\nheartbeat_interval_secs = -1\n", "live.message_bus.heartbeat_interval_secs", "> 0"),
    ],
)
def test_bad_value_names_file_and_field(tmp_path: Path, toml: str, field: str, reason: str) -> None:
    error = load_error(tmp_path, toml)
    assert error.field == field
    assert reason in error.reason


def test_enum_values_accept_names_case_insensitively(tmp_path: Path) -> None:
    config = node_config_from_dict({"cache": {"encoding": "JSON", "database": {"type": "REDIS"}}})
    assert config.cache.encoding is Encoding.JSON
    assert config.cache.database is not None and config.cache.database.type is DatabaseType.REDIS


def test_ranges_are_checked_when_built_in_python() -> None:
    with pytest.raises(ValueError, match="LiveExecEngineConfig field `qsize`: must be > 0"):
        LiveExecEngineConfig(qsize=0)
    with pytest.raises(ValueError, match="inflight_check_interval_ms"):
        LiveExecEngineConfig(inflight_check_interval_ms=-1)
    with pytest.raises(ValueError, match="timeout_connection"):
        TradingNodeConfig(timeout_connection=0.0)
    with pytest.raises(ValueError, match="qsize"):
        LiveRiskEngineConfig(qsize=-1)
    with pytest.raises(ValueError, match="port"):
        DatabaseConfig(type=DatabaseType.REDIS, port=0)
    with pytest.raises(ValueError, match="path"):
        DatabaseConfig(type=DatabaseType.REDIS, path="x.db")
    with pytest.raises(ValueError, match="client name"):
        TradingNodeConfig(data_clients={" A": {"factory": "sandbox"}})
    assert LiveExecEngineConfig(inflight_check_interval_ms=0).inflight_check_interval_ms == 0


# -- helpers for the node ----------------------------------------------------------------------------------------------


def test_kernel_config_carries_trader_capacities_and_risk() -> None:
    config = node_config_from_dict(
        {"trader_id": "NODE-007", "cache": {"tick_capacity": 5, "bar_capacity": 6}, "risk_engine": {"bypass": True}}
    )
    kernel = config.kernel_config()
    assert kernel.trader_id == "NODE-007"
    assert (kernel.tick_capacity, kernel.bar_capacity) == (5, 6)
    assert kernel.risk_engine is config.risk_engine


def test_cache_database_path() -> None:
    assert cache_database_path(TradingNodeConfig()) is None
    config = node_config_from_dict({"snapshot_dir": "runs", "cache": {"database": {}}})
    assert cache_database_path(config) == Path("runs") / "cache.db"
    config = node_config_from_dict({"cache": {"database": {"path": "/var/state.db"}}})
    assert cache_database_path(config) == Path("/var/state.db")
    config = node_config_from_dict({"cache": {"database": {"type": "redis"}}})
    assert cache_database_path(config) is None


# -- options accepted before they are implemented ----------------------------------------------------------------------


def test_every_not_yet_implemented_key_names_a_real_option() -> None:
    config = TradingNodeConfig()
    for option in NOT_YET_IMPLEMENTED:
        if option.startswith("strategies.config."):
            assert option.removeprefix("strategies.config.") in StrategyConfig.__struct_fields__, option
            continue
        owner: Any = config
        *parents, name = option.split(".")
        for part in parents:
            owner = getattr(owner, part)
        assert name in type(owner).__struct_fields__, option
    # persistence, reconciliation, the checks and bus streaming are implemented: not listed any more
    for implemented in (
        "cache.database",
        "cache.flush_on_start",
        "exec_engine.open_check_interval_secs",
        "message_bus.database",
        "exec_engine.purge_from_database",
    ):
        assert implemented not in NOT_YET_IMPLEMENTED
    # contingent orders and GTD expiry are managed by strategies now (toolkit.trading.order_manager)
    assert "strategies.config.manage_contingent_orders" not in NOT_YET_IMPLEMENTED
    assert "strategies.config.manage_gtd_expiry" not in NOT_YET_IMPLEMENTED


def test_default_config_uses_no_unimplemented_option() -> None:
    assert unimplemented_options(TradingNodeConfig()) == []
    assert unimplemented_warnings(TradingNodeConfig()) == []


def test_unimplemented_options_lists_what_the_config_sets(tmp_path: Path) -> None:
    config = load_node_config(write(tmp_path, FULL_TOML)).config
    assert unimplemented_options(config) == []  # manage_gtd_expiry = true is implemented now
    assert unimplemented_warnings(config) == []


def test_implemented_options_and_switching_unbuilt_features_off_give_no_warning() -> None:
    config = node_config_from_dict(
        {
            "timeout_connection": 3,
            "cache": {"tick_capacity": 1, "drop_instruments_on_reset": False},
            "exec_engine": {
                "qsize": 10,
                "graceful_shutdown_on_exception": True,
                "snapshot_positions_interval_secs": 5,
                "reconciliation": False,
                "generate_missing_orders": False,
                "inflight_check_interval_ms": 0,
            },
            "strategies": [{"path": "x.py:X", "config": {"external_order_claims": [], "cancel_orders_on_stop": False}}],
        }
    )
    assert unimplemented_options(config) == []


def test_each_unimplemented_option_is_reported_when_set() -> None:
    config = node_config_from_dict(
        {
            "risk_engine": {"max_order_submit_rate": "10/00:00:01"},
            "exec_engine": {"manage_own_order_books": True, "allow_overfills": True, "inflight_check_retries": 1},
            "message_bus": {"heartbeat_interval_secs": 1},
            "strategies": [{"path": "x.py:X", "config": {"external_order_claims": ["EUR/USD.SIM"]}}],
        }
    )
    # the rate throttles are implemented: setting one is not reported
    assert set(unimplemented_options(config)) == {"exec_engine.manage_own_order_books"}


# -- client tables -------------------------------------------------------------------------------------------------


class FakeClientConfig(LiveClientConfig):
    base_url: str
    api_key: str = "k"


class FakeClientFactory(ClientFactory):
    config_type = FakeClientConfig

    @classmethod
    def create_data_client(cls, name: str, config: Any, **deps: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def create_exec_client(cls, name: str, config: Any, **deps: Any) -> Any:
        raise NotImplementedError


FAKE = f"{__name__}:FakeClientFactory"


def test_validate_clients_unknown_factory_names_the_field() -> None:
    config = node_config_from_dict({"data_clients": {"X": {"factory": "no-such-venue"}}})
    with pytest.raises(ConfigError) as info:
        validate_clients(config, "run.toml")
    assert info.value.file == "run.toml"
    assert info.value.field == "live.data_clients.X.factory"
    assert "unknown client factory 'no-such-venue'" in info.value.reason


def test_validate_clients_missing_factory_and_exec_tables() -> None:
    config = node_config_from_dict({"exec_clients": {"VENUE": {"base_url": "u"}}})
    with pytest.raises(ConfigError) as info:
        validate_clients(config, "run.toml")
    assert info.value.field == "live.exec_clients.VENUE.factory"


def test_validate_clients_checks_the_factory_options() -> None:
    config = node_config_from_dict(
        {
            "data_clients": {"SANDBOX": {"factory": FAKE, "base_url": "http://127.0.0.1:1"}},
            "exec_clients": {"SANDBOX": {"factory": FAKE, "base_url": "http://127.0.0.1:1", "api_key": "a"}},
        }
    )
    clients = validate_clients(config, "run.toml")
    factory, data_config = clients.data["SANDBOX"]
    assert factory is FakeClientFactory
    assert data_config == FakeClientConfig(factory=FAKE, base_url="http://127.0.0.1:1")
    assert clients.exec["SANDBOX"][1] == FakeClientConfig(factory=FAKE, base_url="http://127.0.0.1:1", api_key="a")
    bad = msgspec.structs.replace(config, data_clients={"SANDBOX": {"factory": FAKE, "base_ur": "x"}})
    with pytest.raises(ConfigError) as info:
        validate_clients(bad, "run.toml")
    assert info.value.field == "live.data_clients.SANDBOX.base_ur"


# -- the documentation ---------------------------------------------------------------------------------------------


def _reference_section() -> str:
    text = DOCS.read_text(encoding="utf-8")
    start = text.index("## Configuration reference")
    following = text.find("\n## ", start + 1)
    return text[start : following if following != -1 else len(text)]


def test_docs_example_live_table_loads(tmp_path: Path) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", _reference_section(), re.DOTALL)
    example = next(b for b in blocks if 'factory = "sandbox"' in b and b.lstrip().startswith("[live]"))
    config = load_node_config(write(tmp_path, example)).config
    assert config.trader_id == "TRADER-001"
    assert set(config.data_clients) == {"SANDBOX"} and set(config.exec_clients) == {"SANDBOX"}
    assert config.data_clients["SANDBOX"]["base_url"] == "http://127.0.0.1:8765"
    assert config.exec_engine.snapshot_positions_interval_secs == 5.0
    assert unimplemented_options(config) == []


@pytest.mark.parametrize(
    "config_type",
    [
        TradingNodeConfig,
        CacheConfig,
        DatabaseConfig,
        MessageBusConfig,
        LiveDataEngineConfig,
        LiveRiskEngineConfig,
        LiveExecEngineConfig,
        PortfolioConfig,
        StrategyConfig,
    ],
)
def test_docs_name_every_option(config_type: type) -> None:
    section = _reference_section()
    missing = [name for name in config_type.__struct_fields__ if f"`{name}`" not in section]
    assert missing == [], f"{config_type.__name__} options missing from docs/live.md: {missing}"


def test_strategy_oms_type_still_converts(tmp_path: Path) -> None:
    # The live fields stay convertible from a TOML table (the loader builds the user's config from it).
    from toolkit.core.config import config_from_dict

    config = config_from_dict(
        {"oms_type": "HEDGING", "external_order_claims": ["EUR/USD.SIM"], "cancel_orders_on_stop": False},
        StrategyConfig,
        source="s.toml",
        path_prefix="strategy.config",
    )
    assert config.oms_type is OmsType.HEDGING
    assert config.external_order_claims == [InstrumentId("EUR/USD.SIM")]
    assert config.cancel_orders_on_stop is False
    with pytest.raises(ConfigError) as info:
        config_from_dict({"external_order_claims": ["EURUSD"]}, StrategyConfig, "s.toml", "strategy.config")
    assert info.value.field == "strategy.config.external_order_claims[0]"
