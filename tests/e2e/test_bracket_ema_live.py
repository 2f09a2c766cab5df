"""End-to-end: `strategies/bracket_ema.toml` promoted to live, `toolkit venue --lockstep` and `toolkit live` as
separate OS processes on 127.0.0.1 (the helpers of `test_live_sandbox.py`). Six hours of the real GBP/USD bars
(357 bars) are replayed with exits 20/40 ticks away, so the short replay has 16 brackets. The node places
brackets and their exits fill at the sandbox venue; SIGINT stops it with status 0; its snapshot has the same orders
and fills as `toolkit backtest` of the same file (`toolkit parity`). It runs with the file's
`manage_contingent_orders = true` (the strategy holds and links the exits: any venue) and with `false` (the
sandbox venue holds and links them from the contingency fields of POST /orders).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.e2e.test_live_sandbox import LiveRun, backtest, parity, run_file

END = "2012-02-01T06:00:00Z"


def rows(snapshot: Path, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    return duckdb.sql(
        sql.replace("{orders}", f"read_parquet('{snapshot}/orders/*.parquet')").replace(
            "{fills}", f"read_parquet('{snapshot}/fills/*.parquet')"
        )
    ).fetchall()


@pytest.fixture
def live_runs() -> Iterator[list[LiveRun]]:
    """The runs a test starts; their processes are killed afterwards if still alive."""
    runs: list[LiveRun] = []
    yield runs
    for run in runs:
        run.close()


@pytest.mark.parametrize("managed", ["true", "false"], ids=["strategy-managed", "venue-managed"])
def test_bracket_ema_live_places_brackets_and_exits_fill(
    tmp_path: Path, live_runs: list[LiveRun], managed: str
) -> None:
    config = run_file(
        tmp_path,
        "bracket_ema.toml",
        END,
        {"stop_loss_ticks": 20, "take_profit_ticks": 40, "manage_contingent_orders": managed},
    )
    run = LiveRun(tmp_path, config)
    live_runs.append(run)
    run.wait_end_of_data(deadline_s=180)
    assert run.stop_node(signal.SIGINT) == 0, run.node.text()
    assert run.manifest()["status"] == "stopped"
    snap = run.snapshot
    by_tag = dict(rows(snap, "SELECT tags, count(*) FROM {orders} GROUP BY tags"))
    assert by_tag.get("ENTRY", 0) >= 10 and by_tag.get("STOP_LOSS") == by_tag.get("TAKE_PROFIT") == by_tag["ENTRY"]
    # Every exit is reduce-only; of each bracket's two exits at most one filled, the other was canceled.
    assert rows(snap, "SELECT DISTINCT reduce_only FROM {orders} WHERE tags IN ('STOP_LOSS', 'TAKE_PROFIT')") == [
        (True,)
    ]
    exit_fills = dict(
        rows(
            snap,
            "SELECT o.tags, count(*) FROM {fills} f JOIN {orders} o USING (client_order_id) "
            "WHERE o.tags IN ('STOP_LOSS', 'TAKE_PROFIT') GROUP BY o.tags",
        )
    )
    assert exit_fills.get("STOP_LOSS", 0) > 0 and exit_fills.get("TAKE_PROFIT", 0) > 0, exit_fills
    statuses = dict(
        rows(snap, "SELECT status, count(*) FROM {orders} WHERE tags IN ('STOP_LOSS', 'TAKE_PROFIT') GROUP BY status")
    )
    assert statuses.get("FILLED", 0) == sum(exit_fills.values())
    assert statuses.get("FILLED", 0) + statuses.get("CANCELED", 0) == 2 * by_tag["ENTRY"], statuses
    # The live run is the backtest's: same orders, same fills.
    backtest(config, tmp_path / "bt")
    result = parity(tmp_path / "bt", snap)
    assert result.returncode == 0, result.stdout
    assert "no differences" in result.stdout
