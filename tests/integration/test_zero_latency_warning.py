"""`toolkit backtest` warns once, in the printed summary, when a venue has zero latency.

Zero latency is optimistic: orders fill at the price of the tick that triggered them. The warning is
part of the result (and so of the snapshot manifest), printed once however many venues lack latency,
and absent when the venue has a latency model. Checked on the engine's result and on the summary the
command prints for a short run of the sample catalog.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT
from toolkit.backtest.engine import BacktestEngine
from toolkit.backtest.models import LatencyModel
from toolkit.backtest.results import ZERO_LATENCY_WARNING
from toolkit.cli import run_backtest_file
from toolkit.model.data import QuoteTick
from toolkit.model.enums import AccountType, OmsType
from toolkit.model.identifiers import InstrumentId
from toolkit.model.instruments import CurrencyPair
from toolkit.model.objects import Currency, Money, Price, Quantity

USD = Currency.from_str("USD")
EUR = Currency.from_str("EUR")
MESSAGE = "zero latency is optimistic: orders fill at the price of the tick that triggered them"


def eurusd(venue: str) -> CurrencyPair:
    return CurrencyPair(
        id=InstrumentId(f"EUR/USD.{venue}"),
        base_currency=EUR,
        quote_currency=USD,
        settlement_currency=USD,
        price_precision=5,
        size_precision=0,
        price_increment=Price.from_str("0.00001"),
        size_increment=Quantity.from_int(1),
        maker_fee=Decimal(0),
        taker_fee=Decimal(0),
    )


def engine_with(venues: dict[str, LatencyModel | None]) -> BacktestEngine:
    engine = BacktestEngine()
    data = []
    for name, latency in venues.items():
        engine.add_venue(
            name, OmsType.NETTING, AccountType.MARGIN, [Money.of(1_000, USD)], base_currency=USD, latency_model=latency
        )
        instrument = eurusd(name)
        engine.add_instrument(instrument)
        size = Quantity.from_int(1_000)
        data.append(QuoteTick.of(instrument.id, Price.from_str("1.10000"), Price.from_str("1.10002"), size, size, 1))
    engine.add_data(data)
    engine.run()
    return engine


def test_the_warning_text_is_the_one_users_read() -> None:
    assert ZERO_LATENCY_WARNING == MESSAGE


@pytest.mark.parametrize(
    ("venues", "expected"),
    [
        ({"SIM": None}, "venue SIM"),
        ({"SIM": LatencyModel(base_latency_ns=0)}, "venue SIM"),  # a model of all zeros is zero latency too
        ({"SIM": None, "OTHER": None}, "venues SIM, OTHER"),
        ({"SIM": None, "OTHER": LatencyModel()}, "venue SIM"),
    ],
    ids=["no-model", "all-zero-model", "two-venues", "one-of-two"],
)
def test_zero_latency_gives_one_warning_in_the_summary(venues: dict[str, LatencyModel | None], expected: str) -> None:
    result = engine_with(venues).result()
    zero = [w for w in result.warnings if MESSAGE in w]
    assert len(zero) == 1 and f"({expected};" in zero[0]
    assert result.render().count(MESSAGE) == 1


def test_no_warning_with_a_latency_model() -> None:
    result = engine_with({"SIM": LatencyModel(base_latency_ns=1_000_000)}).result()
    assert result.warnings == []
    assert MESSAGE not in result.render()


RUN_FILE = f"""
[strategy]
path = "{PROJECT_ROOT / "strategies" / "ema_cross.py"}:EMACross"

[strategy.config]
instrument_id = "EUR/USD.SIM"
bar_type = "EUR/USD.SIM-1-MINUTE-BID-EXTERNAL"
trade_size = "100000"

[backtest]
catalog = "{PROJECT_ROOT / "data" / "catalog"}"
end = "2024-01-02T04:00:00Z"

[backtest.venue]
name = "SIM"
base_currency = "USD"
starting_balances = ["1000000 USD"]
default_leverage = "50"
"""


@pytest.mark.parametrize("latency", [False, True], ids=["zero-latency", "with-latency-model"])
def test_toolkit_backtest_prints_the_warning_once_only_without_latency(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], latency: bool
) -> None:
    config = tmp_path / "run.toml"
    table = "\n[backtest.latency_model]\nbase_latency_ns = 1000000\n" if latency else ""
    config.write_text(RUN_FILE + table)
    run_backtest_file(config, tmp_path / "out", progress=False)
    printed = capsys.readouterr().out
    assert "Total PnL" in printed  # the summary was printed
    assert printed.count(MESSAGE) == (0 if latency else 1)
    if not latency:
        assert f"warning: {MESSAGE} (venue SIM; set [backtest.latency_model] for realism)" in printed
