"""A node whose Redis cache database goes away while it trades keeps trading (the event loop never waits
for the database), logs the outage, and once Redis is back every order event lands, in order."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import pytest

from tests.conftest import RedisProcess
from tests.integration.test_live_node import node_config, sample_quotes
from toolkit.core.clock import LiveClock
from toolkit.core.log import Logger
from toolkit.live.config import node_config_from_dict
from toolkit.live.node import TradingNode
from toolkit.persistence.database import open_cache_database


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_node_keeps_trading_through_a_redis_outage(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    redis_server = RedisProcess(tmp_path, free_port())
    redis_server.start()
    try:
        _run(tmp_path, redis_server, caplog)
    finally:
        redis_server.kill()


def _run(tmp_path: Path, redis_server: RedisProcess, caplog: pytest.LogCaptureFixture) -> None:
    database = {"type": "redis", "host": "127.0.0.1", "port": redis_server.port, "timeout": 1.0}
    config = node_config_from_dict(node_config(tmp_path, cache={"database": database}), source="test")
    feed = sample_quotes(4_000)

    async def scenario() -> tuple[int, int]:
        node = TradingNode(config, source="test", snapshot_path=tmp_path / "snap")
        client = node.data_clients["LOOP"]
        client.feed = feed  # type: ignore[attr-defined]
        task = asyncio.get_running_loop().create_task(node.run_async())
        received = client.received_ns  # type: ignore[attr-defined]

        async def until(count: int) -> None:
            while len(received) < count:
                await asyncio.sleep(0.005)

        await until(1_000)
        await asyncio.to_thread(redis_server.stop)  # the database goes away mid-run
        orders_before = len(node.cache.orders())
        await until(3_000)  # the node keeps handling market data and sending orders meanwhile
        orders_during = len(node.cache.orders()) - orders_before
        await asyncio.to_thread(redis_server.start)
        await asyncio.wait_for(client.done.wait(), timeout=120)  # type: ignore[attr-defined]
        node.stop()
        await asyncio.wait_for(task, timeout=30)
        node.dispose()
        return orders_during, len(node.cache.orders())

    with caplog.at_level(logging.WARNING, logger="toolkit"):
        orders_during, orders_total = asyncio.run(scenario())
    assert orders_during > 0, "no order was sent while the database was down"
    assert any("redis" in r.getMessage().lower() for r in caplog.records if r.levelno >= logging.ERROR)
    # Every order and every event the node saw is in the database, in order.
    db = open_cache_database("TESTER-001", config.cache, Logger("check", LiveClock()), tmp_path)
    try:
        state = db.load()  # type: ignore[union-attr]
    finally:
        db.close()  # type: ignore[union-attr]
    assert len(state.orders) == orders_total
    for events, _ in state.orders:
        statuses = [type(e).__name__ for e in events]
        assert statuses[0] == "OrderInitialized"
        assert [e.ts_init for e in events] == sorted(e.ts_init for e in events)
