"""The TradingNode in-process with loopback clients: the same strategy class trades through the live
queues, snapshots are written, a second node is refused, a bad config names its field."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import PROJECT_ROOT
from toolkit.catalog.parquet import DataCatalog
from toolkit.core.config import ConfigError
from toolkit.live.config import node_config_from_dict
from toolkit.live.node import NodeError, TradingNode
from toolkit.model.events import OrderFilled

LOOPBACK = "toolkit.live.loopback:LoopbackClientFactory"


def node_config(tmp_path: Path, **extra: object) -> dict:
    return {
        "trader_id": "TESTER-001",
        "snapshot_dir": str(tmp_path / "snapshots"),
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
        **extra,
    }


def sample_quotes(count: int) -> list:
    catalog = DataCatalog(PROJECT_ROOT / "data" / "catalog")
    out = []
    for quote in catalog.stream_objects([("quotes", "EUR/USD.SIM")]):
        out.append(quote)
        if len(out) == count:
            break
    return out


def test_strategy_trades_through_the_live_node_and_snapshots_are_written(tmp_path: Path) -> None:
    config = node_config_from_dict(node_config(tmp_path), source="test")

    async def scenario() -> TradingNode:
        node = TradingNode(config, source="test", snapshot_path=tmp_path / "snap")
        client = node.data_clients["LOOP"]
        client.feed = sample_quotes(3_000)  # type: ignore[attr-defined]
        task = asyncio.get_running_loop().create_task(node.run_async())
        await asyncio.wait_for(client.done.wait(), timeout=60)  # type: ignore[attr-defined]
        node.stop()
        await asyncio.wait_for(task, timeout=20)
        return node

    node = asyncio.run(scenario())
    try:
        fills = [e for o in node.cache.orders() for e in o.events if type(e) is OrderFilled]
        assert len(fills) >= 4  # the EMA cross traded, and the position was closed on stop
        assert node.cache.positions_open() == []
        manifest = json.loads((tmp_path / "snap" / "manifest.json").read_text())
        assert manifest["mode"] == "live" and manifest["status"] == "stopped"
        snap_fills = pl.read_parquet(tmp_path / "snap" / "fills" / "*.parquet")
        assert snap_fills.height == len(fills)
        orders = pl.read_parquet(tmp_path / "snap" / "orders" / "*.parquet")
        assert orders.height == len(node.cache.orders())
    finally:
        node.dispose()


def test_a_second_node_in_one_process_is_refused(tmp_path: Path) -> None:
    config = node_config_from_dict(node_config(tmp_path), source="test")
    first = TradingNode(config, source="test")
    try:
        with pytest.raises(NodeError, match="one node per process"):
            TradingNode(config, source="test")
    finally:
        first.dispose()
    TradingNode(config, source="test").dispose()  # after dispose, a new node may be built


def test_bad_node_config_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        node_config_from_dict(node_config(tmp_path, timeout_connection="soon"), source="run.toml")
    assert info.value.file == "run.toml" and info.value.field == "live.timeout_connection"
    bad_client = node_config(tmp_path)
    bad_client["data_clients"] = {"LOOP": {"factory": LOOPBACK, "venu": "SIM"}}
    config = node_config_from_dict(bad_client, source="run.toml")
    with pytest.raises(ConfigError) as info:
        TradingNode(config, source="run.toml").dispose()
    assert info.value.field == "live.data_clients.LOOP.venu"
    assert TradingNode._active is None  # a failed build leaves the one-node slot free


def test_snapshot_orders_and_positions_rewrite_the_state_tables_after_events(tmp_path: Path) -> None:
    extra = {"exec_engine": {"snapshot_orders": True, "snapshot_positions": True}}  # and no interval snapshots
    config = node_config_from_dict(node_config(tmp_path, **extra), source="test")

    async def scenario() -> int:
        node = TradingNode(config, source="test", snapshot_path=tmp_path / "snap")
        client = node.data_clients["LOOP"]
        client.feed = sample_quotes(1_500)  # type: ignore[attr-defined]
        task = asyncio.get_running_loop().create_task(node.run_async())
        await asyncio.wait_for(client.done.wait(), timeout=60)  # type: ignore[attr-defined]
        await asyncio.sleep(0)  # the coalesced write runs on the next loop turn
        rows = pl.read_parquet(tmp_path / "snap" / "orders" / "*.parquet").height
        assert rows == len(node.cache.orders()) > 0  # written after the events, before any stop
        positions = pl.read_parquet(tmp_path / "snap" / "positions" / "*.parquet")
        assert positions.height == len(node.cache.positions()) + len(node.cache.position_snapshots())
        node.stop()
        await asyncio.wait_for(task, timeout=20)
        node.dispose()
        return rows

    assert asyncio.run(scenario()) > 0
