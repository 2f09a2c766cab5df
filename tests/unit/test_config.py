"""Unit tests of `toolkit.core.config`: TOML/JSON loading into frozen structs and errors naming file and field."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from toolkit.core.config import ConfigError, ToolkitConfig, config_from_dict, load_config, load_toml
from toolkit.model.enums import BookType, OmsType
from toolkit.model.identifiers import InstrumentId, StrategyId
from toolkit.model.objects import Currency, Price, Quantity


class VenueConfig(ToolkitConfig):
    name: str
    oms_type: OmsType = OmsType.NETTING
    book_type: BookType = BookType.L1_MBP
    base_currency: Currency | None = None
    starting_balances: list[str] = msgspec.field(default_factory=list)


class BacktestConfig(ToolkitConfig):
    venue: VenueConfig
    start_ns: int = 0
    catalog_path: Path | None = None


class EmaCrossConfig(ToolkitConfig):
    instrument_id: InstrumentId
    trade_size: Quantity
    fast_period: int = 10
    slow_period: int = 20
    entry_offset: Price | None = None
    risk_fraction: Decimal = Decimal("0.01")
    strategy_id: StrategyId | None = None


class StrategyTable(ToolkitConfig):
    path: str
    config: EmaCrossConfig


GOOD_TOML = """
[strategy]
path = "strategies.ema_cross:EmaCross"

[strategy.config]
instrument_id = "GBP/USD.SIM"
trade_size = "100000"
fast_period = 5
entry_offset = "0.00010"
risk_fraction = "0.025"
strategy_id = "EmaCross-001"

[backtest]
start_ns = 1_700_000_000_000_000_000
catalog_path = "data/catalog"

[backtest.venue]
name = "SIM"
oms_type = "hedging"
book_type = "L2_MBP"
base_currency = "USD"
starting_balances = ["1000000 USD"]
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_load_tables_of_one_file_into_typed_structs(tmp_path: Path) -> None:
    path = write(tmp_path, "ema_cross.toml", GOOD_TOML)
    strategy = load_config(path, StrategyTable, table="strategy")
    config = strategy.config
    assert config.instrument_id == InstrumentId("GBP/USD.SIM")
    assert type(config.instrument_id) is InstrumentId
    assert config.trade_size == Quantity.from_str("100000")
    assert config.entry_offset == Price.from_str("0.00010")
    assert config.entry_offset is not None and config.entry_offset.precision == 5
    assert config.risk_fraction == Decimal("0.025")
    assert config.strategy_id == StrategyId("EmaCross-001")
    assert (config.fast_period, config.slow_period) == (5, 20)

    backtest = load_config(path, BacktestConfig, table="backtest")
    assert backtest.venue.oms_type is OmsType.HEDGING  # by name, case-insensitive
    assert backtest.venue.book_type is BookType.L2_MBP
    assert backtest.venue.base_currency == Currency.from_str("USD")
    assert backtest.catalog_path == Path("data/catalog")
    assert backtest.start_ns == 1_700_000_000_000_000_000


def test_dotted_table(tmp_path: Path) -> None:
    path = write(tmp_path, "ema_cross.toml", GOOD_TOML)
    venue = load_config(path, VenueConfig, table="backtest.venue")
    assert venue.name == "SIM"


def test_configs_are_frozen(tmp_path: Path) -> None:
    path = write(tmp_path, "ema_cross.toml", GOOD_TOML)
    config = load_config(path, StrategyTable, table="strategy").config
    with pytest.raises(AttributeError):
        config.fast_period = 3  # type: ignore[misc]


def test_json_file_is_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "ema.json",
        '{"instrument_id": "BTCUSDT-PERP.BINANCE", "trade_size": 0.5, "entry_offset": 1.25, "slow_period": "30"}',
    )
    config = load_config(path, EmaCrossConfig)
    assert config.instrument_id.venue == "BINANCE"
    assert config.trade_size == Quantity.from_str("0.5")
    assert config.entry_offset == Price.from_str("1.25")
    assert config.slow_period == 30  # lax conversion of numeric text


def test_plain_dict_conversion_and_defaults() -> None:
    config = config_from_dict({"instrument_id": "EUR/USD.SIM", "trade_size": "1"}, EmaCrossConfig)
    assert config.fast_period == 10
    assert config.entry_offset is None
    assert config.risk_fraction == Decimal("0.01")


def assert_config_error(exc: ConfigError, file: str, field: str | None, *reason_parts: str) -> None:
    assert exc.file == file
    assert exc.field == field
    for part in reason_parts:
        assert part in exc.reason
    text = str(exc)
    assert text.startswith(f"{file}: ")
    if field is not None:
        assert f"field '{field}'" in text


def strategy_toml(config_lines: str) -> str:
    return f'[strategy]\npath = "x:Y"\n\n[strategy.config]\n{config_lines}\n'


def test_unknown_field_names_file_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path, "strategies/ema_cross.toml", strategy_toml('instrument_id = "A.SIM"\ntrade_size = "1"\nfast = 3')
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, StrategyTable, table="strategy")
    assert_config_error(info.value, str(path), "strategy.config.fast", "unknown field `fast`")


def test_wrong_type_names_file_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "ema_cross.toml",
        strategy_toml('instrument_id = "A.SIM"\ntrade_size = "1"\nfast_period = "five"'),
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, StrategyTable, table="strategy")
    assert_config_error(info.value, str(path), "strategy.config.fast_period", "Expected `int`, got `str`")
    assert str(info.value) == f"{path}: field 'strategy.config.fast_period': Expected `int`, got `str`"


def test_missing_required_field_names_file_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "ema_cross.toml", strategy_toml('instrument_id = "A.SIM"'))
    with pytest.raises(ConfigError) as info:
        load_config(path, StrategyTable, table="strategy")
    assert_config_error(info.value, str(path), "strategy.config.trade_size", "missing required field")


def test_bad_enum_names_file_field_and_valid_values(tmp_path: Path) -> None:
    path = write(tmp_path, "strategies/ema_cross.toml", GOOD_TOML.replace('"hedging"', '"NETT"'))
    with pytest.raises(ConfigError) as info:
        load_config(path, BacktestConfig, table="backtest")
    assert_config_error(
        info.value, str(path), "backtest.venue.oms_type", "Invalid enum value 'NETT'", "NETTING, HEDGING"
    )
    assert str(info.value).startswith(f"{path}: field 'backtest.venue.oms_type': Invalid enum value 'NETT'")


def test_bad_identifier_names_file_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "ema_cross.toml", strategy_toml('instrument_id = "GBPUSD"\ntrade_size = "1"'))
    with pytest.raises(ConfigError) as info:
        load_config(path, StrategyTable, table="strategy")
    assert_config_error(info.value, str(path), "strategy.config.instrument_id", "invalid InstrumentId 'GBPUSD'")


def test_identifier_of_wrong_type_names_field(tmp_path: Path) -> None:
    path = write(tmp_path, "ema_cross.toml", strategy_toml('instrument_id = 5\ntrade_size = "1"'))
    with pytest.raises(ConfigError) as info:
        load_config(path, StrategyTable, table="strategy")
    assert_config_error(info.value, str(path), "strategy.config.instrument_id", "InstrumentId")


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        ('trade_size = "-5"', "strategy.config.trade_size", "must not be negative"),
        ('trade_size = "lots"', "strategy.config.trade_size", "not a number"),
        ('trade_size = "1"\nentry_offset = "abc"', "strategy.config.entry_offset", "not a number"),
    ],
)
def test_bad_price_or_quantity_names_field(tmp_path: Path, line: str, field: str, reason: str) -> None:
    path = write(tmp_path, "ema_cross.toml", strategy_toml(f'instrument_id = "A.SIM"\n{line}'))
    with pytest.raises(ConfigError) as info:
        load_config(path, StrategyTable, table="strategy")
    assert_config_error(info.value, str(path), field, reason)


def test_bad_currency_names_field(tmp_path: Path) -> None:
    path = write(tmp_path, "bt.toml", GOOD_TOML.replace('base_currency = "USD"', 'base_currency = "XXX"'))
    with pytest.raises(ConfigError) as info:
        load_config(path, BacktestConfig, table="backtest")
    assert_config_error(info.value, str(path), "backtest.venue.base_currency", "unknown currency 'XXX'")


def test_error_inside_a_list_names_the_index(tmp_path: Path) -> None:
    path = write(tmp_path, "bt.toml", GOOD_TOML.replace('["1000000 USD"]', '["1000000 USD", 5]'))
    with pytest.raises(ConfigError) as info:
        load_config(path, BacktestConfig, table="backtest")
    assert_config_error(info.value, str(path), "backtest.venue.starting_balances[1]", "Expected `str`")


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "strategies" / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path, StrategyTable, table="strategy")
    assert_config_error(info.value, str(path), None, "not found")
    with pytest.raises(ConfigError, match=r"nope\.toml"):
        load_toml(path)


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.toml", '[strategy]\npath = "x"\nfast_period = \n')
    with pytest.raises(ConfigError) as info:
        load_toml(path)
    assert info.value.file == str(path)
    assert info.value.line == 3
    assert "TOML syntax error" in str(info.value)
    assert "line 3" in str(info.value)


def test_json_syntax_error_names_file(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.json", '{"instrument_id": ')
    with pytest.raises(ConfigError) as info:
        load_config(path, EmaCrossConfig)
    assert_config_error(info.value, str(path), None, "JSON syntax error")


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = write(tmp_path, "config.yaml", "a: 1")
    with pytest.raises(ConfigError) as info:
        load_config(path, EmaCrossConfig)
    assert_config_error(info.value, str(path), None, "unsupported config file type '.yaml'")


def test_missing_table_lists_available_tables(tmp_path: Path) -> None:
    path = write(tmp_path, "ema_cross.toml", GOOD_TOML)
    with pytest.raises(ConfigError) as info:
        load_config(path, StrategyTable, table="strategies")
    assert_config_error(info.value, str(path), "strategies", "table not found", "backtest, strategy")
    with pytest.raises(ConfigError) as info:
        load_config(path, StrategyTable, table="strategy.path")
    assert_config_error(info.value, str(path), "strategy.path", "expected a table, got str")


def test_config_from_dict_uses_source_and_prefix() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"instrument_id": "A.SIM", "trade_size": "1", "extra": 1}, EmaCrossConfig)
    assert_config_error(info.value, "<dict>", "extra", "unknown field")
    with pytest.raises(ConfigError) as info:
        config_from_dict({"trade_size": "1"}, EmaCrossConfig, source="node.json", path_prefix="strategies[0].config")
    assert_config_error(info.value, "node.json", "strategies[0].config.instrument_id", "missing required field")


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


def test_subclasses_inherit_strictness() -> None:
    class Child(ToolkitConfig):
        a: int

    with pytest.raises(TypeError):
        Child(1)  # type: ignore[misc]  # keyword-only
    assert msgspec.structs.replace(Child(a=1), a=2) == Child(a=2)
    with pytest.raises(ConfigError, match="unknown field `b`"):
        config_from_dict({"a": 1, "b": 2}, Child)


def test_required_fields_may_follow_inherited_defaults() -> None:
    class Base(ToolkitConfig):
        log_level: str = "INFO"

    class Derived(Base):
        instrument_id: InstrumentId

    config = config_from_dict({"instrument_id": "A.SIM"}, Derived)
    assert config == Derived(instrument_id=InstrumentId("A.SIM"), log_level="INFO")
    with pytest.raises(AttributeError):
        config.log_level = "DEBUG"  # type: ignore[misc]
