"""End-to-end: `strategies/market_maker.toml` promoted to live, `toolkit venue --lockstep` and `toolkit live` as
separate OS processes on 127.0.0.1 (the helpers of `test_live_sandbox.py`), on a small generated L2 book.

The catalog is made as the strategy's docstring says (`toolkit catalog instruments` then `toolkit catalog
generate --type deltas`), with 400 book updates (40 s of data). The run file is the project's, with the catalog
path pointed at it and a SQLite cache database added, so the node's order events are kept in the order it
applied them. The venue replays the deltas in lockstep; the node keeps the book from them and quotes both sides
with post-only limit orders that it moves with `modify_order`. After the venue's end of data SIGINT stops the
node with status 0 (its `on_stop` cancels the two quotes left). Checked: orders on both sides, fills on both
sides, the quotes moved (venue-accepted modifies), nothing refused, never two unfinished orders on one side in
the node's event sequence, and the live orders and fills equal `toolkit backtest` of the same file
(`toolkit parity`). The run file's `[live.risk_engine]` raises the node's order throttles, which count on wall
time: at the default 100 modifies a second the lockstep replay, far faster than data time, had modifies
rejected "Exceeded MAX_ORDER_MODIFY_RATE" that the backtest never has, and parity failed.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import duckdb
import pytest

from tests.conftest import PROJECT_ROOT
from tests.e2e.test_live_sandbox import TOOLKIT, LiveRun, backtest, parity
from toolkit.model.enums import OrderSide
from toolkit.model.events import (
    OrderCancelRejected,
    OrderDenied,
    OrderEventTypes,
    OrderInitialized,
    OrderModifyRejected,
    OrderRejected,
    OrderUpdated,
)
from toolkit.model.orders import Order
from toolkit.persistence.database import Codec

UPDATES = 400  # book updates, 100 ms apart
REFUSALS = OrderDenied | OrderRejected | OrderModifyRejected | OrderCancelRejected


def toolkit(*args: str) -> None:
    proc = subprocess.run([TOOLKIT, *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def market_maker_run_file(tmp_path: Path) -> Path:
    """The strategy's catalog, generated as its docstring says, and a copy of its run file that uses it."""
    catalog = tmp_path / "catalog"
    toolkit("catalog", "instruments", "--catalog", str(catalog), "data/instruments.toml")
    toolkit(
        "catalog", "generate", "--catalog", str(catalog), "--instrument", "EUR/USD.SIM", "--type", "deltas",
        "--count", str(UPDATES), "--seed", "7", "--start-price", "1.10000", "--size", "100000",
        "--volatility", "1", "--regular",
    )  # fmt: skip
    text = (PROJECT_ROOT / "strategies" / "market_maker.toml").read_text()
    assert 'catalog = "output/mm_catalog"' in text and "[live.cache" not in text
    text = text.replace('catalog = "output/mm_catalog"', f'catalog = "{catalog}"', 1)
    text += f'\n[live.cache.database]\ntype = "sqlite"\npath = "{tmp_path / "cache.db"}"\n'
    path = tmp_path / "market_maker.toml"
    path.write_text(text)
    return path


def node_order_events(database: Path) -> list[OrderEventTypes]:
    """Every order event of the node, in the order its cache applied (and wrote) them."""
    codec = Codec()
    with closing(sqlite3.connect(database)) as conn:
        rows = conn.execute("SELECT data FROM order_events WHERE trader_id = 'TRADER-001' ORDER BY seq").fetchall()
    return [codec.decode(data, OrderEventTypes) for (data,) in rows]


def max_unfinished_per_side(events: list[OrderEventTypes]) -> dict[OrderSide, int]:
    """Replay the events: the most orders of one side that were not closed (not yet filled, canceled,
    rejected...) at the same time. An order is counted from its creation, so this bounds working orders too."""
    orders: dict[str, Order] = {}
    unfinished: dict[OrderSide, set[str]] = {OrderSide.BUY: set(), OrderSide.SELL: set()}
    most = dict.fromkeys(unfinished, 0)
    for event in events:
        key = str(event.client_order_id)
        if isinstance(event, OrderInitialized):
            order = orders[key] = Order(event)
        else:
            order = orders[key]
            order.apply(event)
        side = unfinished[order.side]
        if order.is_closed:
            side.discard(key)
        else:
            side.add(key)
        most[order.side] = max(most[order.side], len(side))
    assert not unfinished[OrderSide.BUY] and not unfinished[OrderSide.SELL], unfinished  # on_stop cancelled all
    return most


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


def test_market_maker_live_quotes_both_sides_one_order_per_side_and_matches_the_backtest(
    tmp_path: Path, live_runs: list[LiveRun]
) -> None:
    config = market_maker_run_file(tmp_path)
    run = LiveRun(tmp_path, config)
    live_runs.append(run)
    run.wait_end_of_data(deadline_s=180)
    assert run.stop_node(signal.SIGINT) == 0, run.node.text()
    assert run.manifest()["status"] == "stopped"
    snap = run.snapshot

    orders = dict(rows(snap, "SELECT side, count(*) FROM {orders} GROUP BY side"))
    assert orders.get("BUY", 0) >= 5 and orders.get("SELL", 0) >= 5, orders
    assert rows(snap, "SELECT DISTINCT order_type, post_only FROM {orders}") == [("LIMIT", True)]
    fills = dict(rows(snap, "SELECT side, count(*) FROM {fills} GROUP BY side"))
    assert fills.get("BUY", 0) >= 5 and fills.get("SELL", 0) >= 5, fills

    events = node_order_events(tmp_path / "cache.db")
    snapshot_ids = {row[0] for row in rows(snap, "SELECT client_order_id FROM {orders}")}
    assert {str(e.client_order_id) for e in events} == snapshot_ids
    assert any(isinstance(e, OrderUpdated) for e in events)  # the quotes moved with the book (accepted modifies)
    refusals = [e for e in events if isinstance(e, REFUSALS)]
    assert not refusals, [f"{type(e).__name__}: {e.reason}" for e in refusals[:5]]
    assert max_unfinished_per_side(events) == {OrderSide.BUY: 1, OrderSide.SELL: 1}

    # The live run is the backtest's: same orders (prices after every modify, statuses), same fills.
    backtest(config, tmp_path / "bt")
    result = parity(tmp_path / "bt", snap)
    assert result.returncode == 0, result.stdout
    assert "no differences" in result.stdout
