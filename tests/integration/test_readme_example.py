"""The strategy shown in the README runs as written, through a run file, on the sample catalog."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import PROJECT_ROOT
from toolkit.backtest.runner import BacktestRun


def test_readme_strategy_runs(tmp_path: Path) -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("## Write a strategy", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert code is not None, "README has no python example under 'Write a strategy'"
    (tmp_path / "my_strategy.py").write_text(code.group(1))
    run_file = tmp_path / "my_strategy.toml"
    run_file.write_text(
        f"""
[strategy]
path = "{tmp_path / "my_strategy.py"}:MyStrategy"

[strategy.config]
instrument_id = "EUR/USD.SIM"
bar_type = "EUR/USD.SIM-1-MINUTE-BID-EXTERNAL"
trade_size = "100000"

[backtest]
catalog = "{PROJECT_ROOT / "data" / "catalog"}"
end = "2024-01-03"

[backtest.venue]
starting_balances = ["1000000 USD"]
base_currency = "USD"
"""
    )
    _, result, path = BacktestRun.from_file(run_file).run(tmp_path / "snapshot")
    assert result.orders >= 1 and result.fills >= 1
    assert (path / "manifest.json").is_file()
