"""Crash safety, end to end: a node trading against the sandbox venue is killed with SIGKILL at 20 random
points while the venue keeps trading, and restarted each time. After every restart (the venue paused
so both sides are quiet) the node's open positions and open orders equal the venue's, every venue fill is
in the node exactly once with the venue's own trade id and price, no position is duplicated, and the
strategy's saved state is back. Once with the SQLite cache database, once with Redis."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import PROJECT_ROOT
from toolkit.adapters.sandbox.protocol import sign

TOOLKIT = str(Path(sys.executable).parent / "toolkit")
KEY, SECRET = "sandbox-key", "sandbox-secret"
OPEN = {"ACCEPTED", "TRIGGERED", "PENDING_UPDATE", "PENDING_CANCEL", "PARTIALLY_FILLED"}
RESTARTS = 20


def wait_for(condition: Callable[[], bool], deadline_s: float, what: str) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {deadline_s}s waiting for {what}")


_last_stamp = [0]


def request(url: str, method: str, path: str) -> dict:
    """Signed, with a strictly increasing timestamp (identical requests in one millisecond would be replays)."""
    ts = _last_stamp[0] = max(time.time_ns() // 1_000_000, _last_stamp[0] + 1)
    headers = {"X-TK-APIKEY": KEY, "X-TK-TIMESTAMP": str(ts), "X-TK-SIGNATURE": sign(SECRET, ts, method, path)}
    with urllib.request.urlopen(urllib.request.Request(url + path, method=method, headers=headers), timeout=10) as r:
        return json.loads(r.read() or b"{}")


def write_run_file(tmp_path: Path, database: str) -> Path:
    path = tmp_path / "crash.toml"
    path.write_text(
        f"""
[strategy]
path = "{PROJECT_ROOT / "tests" / "e2e" / "crash_probe.py"}:CrashProbe"

[strategy.config]
instrument_id = "EUR/USD.SIM"
trade_size = "100000"

[backtest]
catalog = "{PROJECT_ROOT / "data" / "catalog"}"

[[backtest.data]]
type = "quotes"
instrument_id = "EUR/USD.SIM"

[backtest.venue]
name = "SIM"
oms_type = "NETTING"
account_type = "MARGIN"
base_currency = "USD"
starting_balances = ["1000000 USD"]
default_leverage = "50"

[live]
trader_id = "CRASH-001"
snapshot_dir = "{tmp_path / "snapshots"}"

[live.cache]
buffer_interval_ms = 20

[live.cache.database]
{database}

[live.data_clients.SANDBOX]
factory = "sandbox"

[live.exec_clients.SANDBOX]
factory = "sandbox"

[live.exec_engine]
snapshot_positions_interval_secs = 0.5
"""
    )
    return path


class Node:
    def __init__(self, config: Path, url: str, snapshot: Path, log: Path) -> None:
        self.snapshot = snapshot
        self.log = log
        self.proc = subprocess.Popen(
            [TOOLKIT, "live", str(config), "--venue-url", url, "--snapshot", str(snapshot)],
            cwd=PROJECT_ROOT,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )

    def manifest(self) -> dict:
        path = self.snapshot / "manifest.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return {}

    def alive(self) -> bool:
        return self.proc.poll() is None


def node_state(snapshot: Path) -> tuple[dict[str, str], list[str], list[tuple[str, str, str]], dict[str, Decimal], int]:
    orders = pl.read_parquet(snapshot / "orders" / "*.parquet")
    positions = pl.read_parquet(snapshot / "positions" / "*.parquet")
    fills = pl.read_parquet(snapshot / "fills" / "*.parquet")
    open_orders = {r["client_order_id"]: r["status"] for r in orders.iter_rows(named=True) if r["status"] in OPEN}
    trade_ids = fills["trade_id"].to_list()
    fill_rows = [(r["trade_id"], str(r["last_px"]), str(r["last_qty"])) for r in fills.iter_rows(named=True)]
    open_positions = positions.filter(pl.col("is_open"))
    net: dict[str, Decimal] = {}
    for row in open_positions.iter_rows(named=True):
        signed = Decimal(str(row["quantity"])) * (-1 if row["side"] == "SHORT" else 1)
        net[row["instrument_id"]] = net.get(row["instrument_id"], Decimal(0)) + signed
    return open_orders, trade_ids, fill_rows, net, open_positions.height


def venue_state(url: str) -> tuple[set[str], list[tuple[str, str, str]], dict[str, Decimal]]:
    orders = request(url, "GET", "/api/v1/orders?open_only=true")["reports"]
    fills = request(url, "GET", "/api/v1/fills")["reports"]
    positions = request(url, "GET", "/api/v1/positions")["reports"]

    def dec(value: dict) -> Decimal:
        return Decimal(value["raw"]) / Decimal(10**9)

    fill_rows = [(f["trade_id"], str(dec(f["last_px"])), str(dec(f["last_qty"]))) for f in fills]
    net: dict[str, Decimal] = {}
    for p in positions:
        qty = dec(p["quantity"]) * (-1 if p["position_side"] == "SHORT" else 1)
        if qty:
            net[p["instrument_id"]] = net.get(p["instrument_id"], Decimal(0)) + qty
    return {o["client_order_id"] for o in orders}, fill_rows, net


def normalise(rows: list[tuple[str, str, str]]) -> list[tuple[str, Decimal, Decimal]]:
    return sorted((t, Decimal(p).normalize(), Decimal(q).normalize()) for t, p, q in rows)


def crash_and_restart(tmp_path: Path, database: str) -> None:
    config = write_run_file(tmp_path, database)
    rng = random.Random(20261121)
    venue_log = (tmp_path / "venue.log").open("w")
    venue = subprocess.Popen(
        [TOOLKIT, "venue", str(config), "--port", "0", "--speed", "20"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=venue_log,
        text=True,
    )
    node: Node | None = None
    try:
        line = venue.stdout.readline()  # type: ignore[union-attr]
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)  # type: ignore[union-attr]
        request(url, "POST", "/api/v1/test/pause")
        seen_counters: list[int] = []
        for run in range(RESTARTS + 1):
            node = Node(config, url, tmp_path / f"snapshot-{run}", tmp_path / f"node-{run}.log")
            wait_for(lambda n=node: n.manifest().get("status") == "running" or not n.alive(), 60, f"node {run} start")
            assert node.alive(), node.log.read_text()[-3000:]
            # The venue is paused: both sides are quiet. Compare.
            open_orders, trade_ids, fill_rows, net, open_positions = node_state(node.snapshot)
            venue_open, venue_fills, venue_net = venue_state(url)
            assert set(open_orders) == venue_open, f"restart {run}: open orders differ"
            assert len(trade_ids) == len(set(trade_ids)), f"restart {run}: a fill is counted twice"
            assert normalise(fill_rows) == normalise(venue_fills), f"restart {run}: fills differ from the venue's"
            assert net == venue_net, f"restart {run}: positions {net} != venue {venue_net}"
            assert open_positions <= 1, f"restart {run}: duplicate open positions"
            # Everything came back as the venue's own orders and fills: nothing synthetic was needed.
            orders = pl.read_parquet(node.snapshot / "orders" / "*.parquet")
            synthetic = orders.filter(
                (pl.col("strategy_id") == "EXTERNAL") | pl.col("tags").str.contains("RECONCILIATION")
            )
            assert synthetic.height == 0, f"restart {run}: synthetic orders {synthetic.to_dicts()}"
            if run > 0:
                restored = re.findall(r"CRASHPROBE restored quotes_seen=(\d+)", node.log.read_text())
                assert restored and int(restored[-1]) > 0, f"restart {run}: strategy state not restored"
                seen_counters.append(int(restored[-1]))
            if run == RESTARTS:
                break
            request(url, "POST", "/api/v1/test/resume")
            time.sleep(rng.uniform(0.3, 2.5))  # a random point in the node's life
            node.proc.send_signal(signal.SIGKILL)
            node.proc.wait(timeout=10)
            time.sleep(rng.uniform(0.1, 1.0))  # the venue keeps trading (resting orders fill) while the node is down
            request(url, "POST", "/api/v1/test/pause")
        assert seen_counters == sorted(seen_counters), "the strategy's saved counter went backwards"
        assert len(venue_state(url)[1]) > 20, "the test traded too little to mean anything"
        # The last node stops gracefully.
        node.proc.send_signal(signal.SIGINT)  # type: ignore[union-attr]
        assert node.proc.wait(timeout=15) == 0  # type: ignore[union-attr]
    finally:
        if node is not None and node.alive():
            node.proc.kill()
        venue.kill()
        venue.wait(timeout=10)
        venue_log.close()


def test_crash_restart_with_sqlite(tmp_path: Path) -> None:
    crash_and_restart(tmp_path, f'type = "sqlite"\npath = "{tmp_path / "cache.db"}"')


def test_crash_restart_with_redis(tmp_path: Path, redis_server: tuple[str, int]) -> None:
    host, port = redis_server
    crash_and_restart(tmp_path, f'type = "redis"\nhost = "{host}"\nport = {port}')


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_unreachable_database_at_start_is_a_clear_error_before_any_order(tmp_path: Path, backend: str) -> None:
    database = (
        'type = "redis"\nhost = "127.0.0.1"\nport = 1\ntimeout = 1.0'
        if backend == "redis"
        else f'type = "sqlite"\npath = "{tmp_path / "no-such-dir" / "file.txt" / "cache.db"}"'
    )
    if backend == "sqlite":
        (tmp_path / "no-such-dir").mkdir()
        (tmp_path / "no-such-dir" / "file.txt").write_text("a file where a folder should be")
    config = write_run_file(tmp_path, database)
    proc = subprocess.run(
        [TOOLKIT, "live", str(config), "--venue-url", "http://127.0.0.1:9"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert "cache database unavailable" in proc.stderr
    assert ("127.0.0.1:1" in proc.stderr) if backend == "redis" else ("cache.db" in proc.stderr)
