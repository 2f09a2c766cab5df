"""A run file naming several catalog datasets replays them as one ts_init-ordered stream."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import PROJECT_ROOT
from toolkit.backtest.runner import BacktestRun

STRATEGY = """
from toolkit.model.identifiers import InstrumentId
from toolkit.model.data import BarType
from toolkit.trading.config import StrategyConfig
from toolkit.trading.strategy import Strategy


class RecorderConfig(StrategyConfig):
    instrument_id: InstrumentId
    bar_type: BarType


class Recorder(Strategy):
    def __init__(self, config: RecorderConfig) -> None:
        super().__init__(config)
        self.seen = []

    def on_start(self) -> None:
        self.subscribe_quote_ticks(self.config.instrument_id)
        self.subscribe_bars(self.config.bar_type)

    def on_quote_tick(self, tick) -> None:
        self.seen.append(("quote", tick.ts_init, self.clock.timestamp_ns()))

    def on_bar(self, bar) -> None:
        self.seen.append(("bar", bar.ts_init, self.clock.timestamp_ns()))
"""


def test_quotes_and_bars_from_the_catalog_arrive_merged_in_time_order(tmp_path: Path) -> None:
    (tmp_path / "recorder.py").write_text(STRATEGY)
    run_file = tmp_path / "run.toml"
    run_file.write_text(
        f"""
[strategy]
path = "{tmp_path / "recorder.py"}:Recorder"

[strategy.config]
instrument_id = "EUR/USD.SIM"
bar_type = "EUR/USD.SIM-1-MINUTE-BID-EXTERNAL"

[backtest]
catalog = "{PROJECT_ROOT / "data" / "catalog"}"
end = "2024-01-02T01:00:00Z"

[[backtest.data]]
type = "quotes"
instrument_id = "EUR/USD.SIM"

[[backtest.data]]
type = "bars"
bar_type = "EUR/USD.SIM-1-MINUTE-BID-EXTERNAL"

[backtest.venue]
starting_balances = ["1000000 USD"]
"""
    )
    run = BacktestRun.from_file(run_file)
    engine = run.build()
    engine.run(run.start_ns, run.end_ns)
    seen = run.strategy.seen  # type: ignore[attr-defined]
    kinds = {kind for kind, _, _ in seen}
    assert kinds == {"quote", "bar"}
    assert sum(1 for k, _, _ in seen if k == "bar") == 60  # one hour of one-minute bars
    assert sum(1 for k, _, _ in seen if k == "quote") == 36_001  # 100 ms quotes, both ends of the hour included
    times = [ts for _, ts, _ in seen]
    assert times == sorted(times)
    assert all(ts == clock for _, ts, clock in seen)
