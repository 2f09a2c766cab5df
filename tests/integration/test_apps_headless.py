"""The analysis apps run headless (`app.run()`) over a backtest snapshot and over a live node's snapshot
without a cell error; their key figures equal the snapshot's; a folder that is not a snapshot shows a
message instead of failing; they never import `toolkit.live` and never write into a snapshot folder.

Tearsheet and compare parts (apps/tearsheet.py, apps/compare.py).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import polars as pl
import pytest

from tests.conftest import PROJECT_ROOT
from toolkit.backtest.runner import BacktestRun
from toolkit.persistence.parity import compare_snapshots

APPS = PROJECT_ROOT / "apps"
LOOPBACK = "toolkit.live.loopback:LoopbackClientFactory"


# ---- snapshots ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backtest_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = BacktestRun.from_file(PROJECT_ROOT / "strategies" / "ema_cross.toml")
    run.end_ns = 1_704_240_000_000_000_000  # first day of the sample
    _, _, path = run.run(tmp_path_factory.mktemp("backtest") / "snap")
    return path


@pytest.fixture(scope="module")
def live_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TradingNode in-process with the loopback clients (as in test_live_node.py), stopped after 3,000 quotes."""
    from toolkit.catalog.parquet import DataCatalog
    from toolkit.live.config import node_config_from_dict
    from toolkit.live.node import TradingNode

    root = tmp_path_factory.mktemp("live")
    config = node_config_from_dict(
        {
            "trader_id": "TESTER-001",
            "snapshot_dir": str(root / "snapshots"),
            "instruments_file": str(PROJECT_ROOT / "data" / "instruments.toml"),
            "data_clients": {"LOOP": {"factory": LOOPBACK}},
            "exec_clients": {"LOOP": {"factory": LOOPBACK}},
            "exec_engine": {"snapshot_positions_interval_secs": 1},
            "strategies": [
                {
                    "path": str(PROJECT_ROOT / "strategies" / "ema_cross_ticks.py") + ":EMACrossTicks",
                    "config": {
                        "instrument_id": "EUR/USD.SIM",
                        "trade_size": "100000",
                        "fast_ema_period": 20,
                        "slow_ema_period": 80,
                    },
                }
            ],
        },
        source="test",
    )
    catalog = DataCatalog(PROJECT_ROOT / "data" / "catalog")
    quotes = []
    for quote in catalog.stream_objects([("quotes", "EUR/USD.SIM")]):
        quotes.append(quote)
        if len(quotes) == 3_000:
            break

    async def scenario() -> TradingNode:
        node = TradingNode(config, source="test", snapshot_path=root / "snap")
        client = node.data_clients["LOOP"]
        client.feed = quotes  # type: ignore[attr-defined]
        task = asyncio.get_running_loop().create_task(node.run_async())
        await asyncio.wait_for(client.done.wait(), timeout=60)  # type: ignore[attr-defined]
        node.stop()
        await asyncio.wait_for(task, timeout=20)
        return node

    node = asyncio.run(scenario())
    node.dispose()
    manifest = json.loads((root / "snap" / "manifest.json").read_text())
    assert manifest["mode"] == "live" and manifest["status"] == "stopped"
    return root / "snap"


# ---- running the apps ----------------------------------------------------------------------------


def _load_app(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"toolkit_test_app_{name}", APPS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tearsheet_app() -> ModuleType:
    return _load_app("tearsheet")


@pytest.fixture(scope="module")
def compare_app() -> ModuleType:
    return _load_app("compare")


def run_app(module: ModuleType, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[list[Any], dict[str, Any]]:
    """Run the app as a script with `-- ARGS` on the command line (marimo reads them from sys.argv)."""
    with monkeypatch.context() as patch:
        patch.setattr(sys, "argv", [str(module.__file__), "--", *args])
        outputs, defs = module.app.run()
    return list(outputs), dict(defs)


def last_equity(snapshot: Path) -> Decimal:
    equity = pl.read_parquet(snapshot / "equity" / "*.parquet").sort("ts", maintain_order=True)
    return equity["equity"][-1]


def fingerprint(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file of a folder with its size and modification time (to prove nothing wrote into it)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def callouts(outputs: list[Any]) -> list[str]:
    return [o.text for o in outputs if type(o).__name__ == "callout"]


# ---- tearsheet -------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["backtest_snapshot", "live_snapshot"])
def test_tearsheet_runs_and_its_key_figures_are_the_snapshots(
    which: str, request: pytest.FixtureRequest, tearsheet_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot: Path = request.getfixturevalue(which)
    before = fingerprint(snapshot)
    outputs, defs = run_app(tearsheet_app, monkeypatch, "--snapshot", str(snapshot))  # raises on a cell error
    assert defs["snapshot_problem"] is None
    fills = pl.read_parquet(snapshot / "fills" / "*.parquet")
    positions = pl.read_parquet(snapshot / "positions" / "*.parquet")
    assert defs["final_equity"] == last_equity(snapshot)
    assert defs["fill_count"] == fills.height > 0
    assert defs["trade_count"] == positions.filter(~pl.col("is_open")).height > 0
    first = pl.read_parquet(snapshot / "equity" / "*.parquet").sort("ts", maintain_order=True)["equity"][0]
    assert defs["total_pnl"] == defs["final_equity"] - first
    manifest = json.loads((snapshot / "manifest.json").read_text())
    if manifest["mode"] == "backtest":
        assert defs["final_equity"] == Decimal(manifest["summary"]["SIM-001:USD"]["final_equity"])
    assert callouts(outputs) == []  # no warning or error box
    assert defs["equity_chart"].to_dict()["description"] == "toolkit tearsheet equity chart"
    assert fingerprint(snapshot) == before  # read only


def test_tearsheet_path_can_be_given_through_defs(
    backtest_snapshot: Path, tearsheet_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(sys, "argv", ["tearsheet.py"])
        _, defs = tearsheet_app.app.run(defs={"snapshot_arg": str(backtest_snapshot)})
    assert defs["final_equity"] == last_equity(backtest_snapshot)


@pytest.mark.parametrize(
    ("folder", "message"),
    [
        ("missing", "does not exist"),
        ("empty", "is empty"),
        ("half", "still being written"),
        ("", "no snapshot folder given"),
    ],
)
def test_tearsheet_shows_a_message_for_a_folder_that_is_not_a_snapshot(
    folder: str, message: str, tmp_path: Path, tearsheet_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "half" / "fills").mkdir(parents=True)  # a run that has not written its manifest yet
    (tmp_path / "half" / "fills" / ".part-00000.parquet.tmp").write_bytes(b"PAR1")
    args = ("--snapshot", str(tmp_path / folder)) if folder else ()
    outputs, defs = run_app(tearsheet_app, monkeypatch, *args)  # no exception: the cells stop cleanly
    assert message in defs["snapshot_problem"]
    boxes = callouts(outputs)
    assert len(boxes) == 1 and message in boxes[0]
    for name in ("final_equity", "fill_count", "total_pnl", "trade_count"):
        assert name not in defs


# ---- compare ---------------------------------------------------------------------------------------


def test_compare_runs_over_a_backtest_and_a_live_snapshot(
    backtest_snapshot: Path, live_snapshot: Path, compare_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (fingerprint(backtest_snapshot), fingerprint(live_snapshot))
    _, defs = run_app(compare_app, monkeypatch, "--a", str(backtest_snapshot), "--b", str(live_snapshot))
    assert defs["problem_a"] is None and defs["problem_b"] is None
    assert defs["final_equity_a"] == last_equity(backtest_snapshot)
    assert defs["final_equity_b"] == last_equity(live_snapshot)
    assert defs["fill_count_a"] == pl.read_parquet(backtest_snapshot / "fills" / "*.parquet").height
    assert defs["fill_count_b"] == pl.read_parquet(live_snapshot / "fills" / "*.parquet").height
    report = compare_snapshots(backtest_snapshot, live_snapshot)
    assert defs["parity_differences"] == report.differences and report.differences  # different data: they differ
    assert defs["differences"].height == len(report.differences)
    deltas = {row["figure"]: row for row in defs["deltas"].iter_rows(named=True)}
    assert deltas["Final equity"]["B - A"] == defs["final_equity_b"] - defs["final_equity_a"]
    assert deltas["Fills"]["A"] == defs["fill_count_a"] and deltas["Fills"]["B"] == defs["fill_count_b"]
    assert set(defs["overlay"]["run"].unique().to_list()) == {
        f"A: {backtest_snapshot.name}",
        f"B: {live_snapshot.name}",
    }
    assert (fingerprint(backtest_snapshot), fingerprint(live_snapshot)) == before


def test_compare_of_a_snapshot_with_itself_finds_no_difference(
    backtest_snapshot: Path, compare_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, defs = run_app(compare_app, monkeypatch, "--a", str(backtest_snapshot), "--b", str(backtest_snapshot))
    assert defs["parity_differences"] == [] and defs["differences"].is_empty()
    assert all(row["B - A"] == 0 for row in defs["deltas"].iter_rows(named=True))


def test_compare_shows_a_message_when_a_folder_is_not_a_snapshot(
    backtest_snapshot: Path, tmp_path: Path, compare_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "orders").mkdir()
    outputs, defs = run_app(compare_app, monkeypatch, "--a", str(backtest_snapshot), "--b", str(tmp_path / "half"))
    assert defs["problem_a"] is None and "still being written" in defs["problem_b"]
    boxes = callouts(outputs)
    assert len(boxes) == 1 and "still being written" in boxes[0]
    assert "deltas" not in defs and "parity_differences" not in defs


# ---- no toolkit.live ------------------------------------------------------------------------------

_PROBE = """
import importlib.util, json, sys
results = {}
runs, apps = json.loads(sys.argv[1]), sys.argv[2]
for name, args in runs:
    spec = importlib.util.spec_from_file_location("probe_" + name, apps + "/" + name + ".py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.argv[1:] = ["--", *args]
    outputs, defs = module.app.run()
    results[name + " " + " ".join(args)] = str(defs.get("final_equity", defs.get("final_equity_b")))
print(json.dumps({"live": sorted(m for m in sys.modules if m == "toolkit.live" or m.startswith("toolkit.live.")),
                  "toolkit": sorted(m for m in sys.modules if m.startswith("toolkit")), "results": results}))
"""


def test_the_apps_never_import_toolkit_live(backtest_snapshot: Path, live_snapshot: Path) -> None:
    runs = [
        ("tearsheet", ["--snapshot", str(backtest_snapshot)]),
        ("tearsheet", ["--snapshot", str(live_snapshot)]),
        ("compare", ["--a", str(backtest_snapshot), "--b", str(live_snapshot)]),
    ]
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(runs), str(APPS)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    probe = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "toolkit.analysis.tearsheet" in probe["toolkit"]  # the apps did run in that process
    assert "toolkit.persistence.parity" in probe["toolkit"]
    assert probe["live"] == []
    assert all(value != "None" for value in probe["results"].values())


# ---- several accounts, instruments and strategies; a snapshot with no rows yet ------------------------


def _with_a_second_run(source: Path, target: Path) -> Path:
    """A copy of `source` plus, in a second part of every table, the same rows as another account,
    instrument and strategy (SIM-002, GBP/USD.SIM, Other-000)."""
    renames = {"account_id": "SIM-002", "instrument_id": "GBP/USD.SIM", "strategy_id": "Other-000"}
    target.mkdir()
    for table in ("orders", "fills", "positions", "account", "equity", "prices"):
        (target / table).mkdir()
        frame = pl.read_parquet(source / table / "*.parquet")
        frame.write_parquet(target / table / "part-00000.parquet")
        other = frame.with_columns(*[pl.lit(v).alias(k) for k, v in renames.items() if k in frame.columns])
        other.write_parquet(target / table / "part-00001.parquet")
    (target / "manifest.json").write_text((source / "manifest.json").read_text())
    return target


def test_tearsheet_with_several_accounts_instruments_and_strategies(
    backtest_snapshot: Path, tmp_path: Path, tearsheet_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    from toolkit.analysis import tearsheet as ts

    snapshot = _with_a_second_run(backtest_snapshot, tmp_path / "two")
    fills = pl.read_parquet(backtest_snapshot / "fills" / "*.parquet").height
    outputs, defs = run_app(tearsheet_app, monkeypatch, "--snapshot", str(snapshot))
    assert callouts(outputs) == []
    assert defs["account"] == ("SIM-001", "USD")  # the first account by default
    assert list(defs["account_options"].values()) == [("SIM-001", "USD"), ("SIM-002", "USD")]
    assert defs["fill_count"] == 2 * fills  # all instruments and strategies
    assert defs["final_equity"] == last_equity(backtest_snapshot)
    # The selectors' choice, as the cell defining `account` and `filters` would make it.
    with monkeypatch.context() as patch:
        patch.setattr(sys, "argv", ["tearsheet.py", "--snapshot", str(snapshot)])
        _, defs = tearsheet_app.app.run(
            defs={"account": ("SIM-002", "USD"), "filters": ts.Filters.of("GBP/USD.SIM", "Other-000")}
        )
    assert defs["fill_count"] == fills and defs["final_equity"] == last_equity(backtest_snapshot)
    assert set(defs["fill_table"]["instrument_id"].to_list()) == {"GBP/USD.SIM"}
    assert set(defs["positions_over_time"]["instrument_id"].to_list()) == {"GBP/USD.SIM"}


def test_tearsheet_of_a_snapshot_without_rows_yet(
    tmp_path: Path, tearsheet_app: ModuleType, compare_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live node's first write before any data: every table empty, the manifest present."""
    from toolkit.persistence.snapshot import SNAPSHOT_SCHEMA_VERSION, TABLES, SnapshotWriter

    writer = SnapshotWriter(tmp_path / "fresh")
    for table in TABLES:
        writer.write_part(table, [])
    writer.write_manifest(
        {"schema_version": SNAPSHOT_SCHEMA_VERSION, "mode": "live", "status": "running", "strategies": ["S-001"]}
    )
    outputs, defs = run_app(tearsheet_app, monkeypatch, "--snapshot", str(tmp_path / "fresh"))
    assert defs["snapshot_problem"] is None
    assert defs["final_equity"] is None and defs["fill_count"] == 0 and defs["trade_count"] == 0
    assert any("No equity samples" in text for text in callouts(outputs))
    _, defs = run_app(compare_app, monkeypatch, "--a", str(tmp_path / "fresh"), "--b", str(tmp_path / "fresh"))
    assert defs["parity_differences"] == [] and defs["final_equity_a"] is None
