"""Integration tests of message bus streaming (`toolkit.persistence.streaming`) against a real redis-server.

Messages published on the bus arrive, decoded exactly, in the stream of their topic (or in the single stream
with `stream_per_topic = false`, or under the instance id with `use_instance_id`); `types_filter` keeps
types out; `autotrim_mins` trims old entries; the heartbeat appears on its interval; another process reads
the streams with `read_stream`; bad configurations and an unreachable server are clear errors; the bus
keeps delivering to its own subscribers, and `stop` gives the bus its `publish` back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from typing import Any

import pytest
import redis

from tests.conftest import PROJECT_ROOT
from tests.unit.test_cache_database import (
    TS,
    assert_same,
    builtins_of,
    db_logger,
    sample_account_states,
    sample_order_events,
)
from toolkit.core.msgbus import MessageBus
from toolkit.live.config import DatabaseConfig, DatabaseType, MessageBusConfig
from toolkit.model.data import QuoteTick, TradeTick
from toolkit.model.enums import AggressorSide
from toolkit.model.identifiers import InstrumentId, TradeId
from toolkit.persistence.database import DatabaseUnavailable, ns_to_iso8601
from toolkit.persistence.streaming import (
    BusStreamer,
    StreamHeartbeat,
    list_streams,
    read_stream,
    stream_prefix,
)

AUDUSD = InstrumentId("AUD/USD.SIM")


def quote(i: int) -> QuoteTick:
    return QuoteTick(AUDUSD, 65_430 + i, 65_440 + i, 100_000, 100_000, 5, 0, TS + i, TS + i)


def trade(i: int) -> TradeTick:
    return TradeTick(AUDUSD, 65_435 + i, 1_000, 5, 0, AggressorSide.BUYER, TradeId(f"T-{i}"), TS + i, TS + i + 1)


def bus_config(redis_server: tuple[str, int], **options: Any) -> MessageBusConfig:
    host, port = redis_server
    return MessageBusConfig(database=DatabaseConfig(type=DatabaseType.REDIS, host=host, port=port), **options)


def publish_sample(bus: MessageBus) -> list[tuple[str, Any]]:
    """Publish order events, account states, quotes and trades; return (topic, message) in publish order."""
    published: list[tuple[str, Any]] = []
    events = sample_order_events("O-1")
    states = sample_account_states("SIM-001", 2)
    for i in range(3):
        published.append((f"data.quotes.{AUDUSD}", quote(i)))
        published.append((f"data.trades.{AUDUSD}", trade(i)))
    for event in events:
        published.append(("events.order.EMACross-001", event))
    for state in states:
        published.append(("events.account.SIM-001", state))
    for topic, msg in published:
        bus.publish(topic, msg)
    return published


def read_all(redis_server: tuple[str, int], key: str) -> list[Any]:
    host, port = redis_server
    out: list[Any] = []
    last = "0-0"
    while True:
        batch = read_stream(host, port, key, last_id=last, count=7)
        if not batch:
            return out
        out.extend(batch)
        last = batch[-1].id


@pytest.mark.parametrize("iso", [False, True], ids=["ns", "iso8601"])
@pytest.mark.parametrize("encoding", ["msgpack", "json"])
def test_messages_arrive_in_their_topic_streams_and_types_filter_excludes(
    redis_server: tuple[str, int], encoding: str, iso: bool
) -> None:
    bus = MessageBus("TRADER-001")
    received: list[Any] = []
    bus.subscribe("events.order.*", received.append)
    config = bus_config(redis_server, encoding=encoding, timestamps_as_iso8601=iso, types_filter=["QuoteTick"])
    streamer = BusStreamer(bus, config, "TRADER-001", None, db_logger())
    streamer.start()
    try:
        published = publish_sample(bus)
        assert streamer.flush(10)
    finally:
        streamer.stop()
    assert len(received) == 6  # the bus still delivers to its subscribers
    prefix = "toolkit:TRADER-001:stream"
    host, port = redis_server
    assert list_streams(host, port, prefix) == [
        f"{prefix}:data.trades.{AUDUSD}",
        f"{prefix}:events.account.SIM-001",
        f"{prefix}:events.order.EMACross-001",
    ]
    assert streamer.filtered == 3
    for topic in (f"data.trades.{AUDUSD}", "events.order.EMACross-001", "events.account.SIM-001"):
        messages = read_all(redis_server, f"{prefix}:{topic}")
        expected = [msg for t, msg in published if t == topic]
        assert len(messages) == len(expected)
        for message, msg in zip(messages, expected, strict=True):
            assert message.topic == topic
            assert message.type == type(msg).__name__
            assert message.ts == msg.ts_init
            assert_same(message.payload, msg)
    raw = redis.Redis(host=host, port=port).xrange(f"{prefix}:events.order.EMACross-001", count=1)[0][1]
    assert raw[b"encoding"] == encoding.encode()
    assert raw[b"ts"] == (ns_to_iso8601(TS).encode() if iso else str(TS).encode())


def test_one_stream_for_all_topics_keeps_the_publish_order(redis_server: tuple[str, int]) -> None:
    bus = MessageBus("TRADER-001")
    streamer = BusStreamer(bus, bus_config(redis_server, stream_per_topic=False), "TRADER-001", None, db_logger())
    streamer.start()
    try:
        published = publish_sample(bus)
        assert streamer.flush(10)
    finally:
        streamer.stop()
    host, port = redis_server
    assert list_streams(host, port, "toolkit:TRADER-001:stream") == ["toolkit:TRADER-001:stream"]
    messages = read_all(redis_server, "toolkit:TRADER-001:stream")
    assert [(m.topic, m.type) for m in messages] == [(t, type(msg).__name__) for t, msg in published]


def test_instance_id_in_the_keys_with_use_instance_id(redis_server: tuple[str, int]) -> None:
    bus = MessageBus("TRADER-001")
    config = bus_config(redis_server, use_instance_id=True)
    streamer = BusStreamer(bus, config, "TRADER-001", "node-a1", db_logger())
    assert streamer.stream_key("events.order.X-1") == "toolkit:TRADER-001:node-a1:stream:events.order.X-1"
    streamer.start()
    try:
        bus.publish(f"data.trades.{AUDUSD}", trade(1))
        assert streamer.flush(10)
    finally:
        streamer.stop()
    assert [m.payload for m in read_all(redis_server, f"{stream_prefix('TRADER-001', 'node-a1')}:data.trades.{AUDUSD}")]
    with pytest.raises(ValueError, match="use_instance_id"):
        BusStreamer(bus, config, "TRADER-001", None, db_logger())


def test_autotrim_removes_entries_older_than_the_window(redis_server: tuple[str, int]) -> None:
    host, port = redis_server
    client = redis.Redis(host=host, port=port)
    key = f"toolkit:TRADER-001:stream:data.trades.{AUDUSD}"
    old_ms = int(time.time() * 1000) - 3 * 3_600_000  # three hours ago
    for i in range(1000):
        client.xadd(key, {"payload": b"old", "type": "Old", "topic": "old", "ts": "0"}, id=f"{old_ms + i}-0")
    bus = MessageBus("TRADER-001")
    streamer = BusStreamer(bus, bus_config(redis_server, autotrim_mins=60), "TRADER-001", None, db_logger())
    streamer.start()
    try:
        for i in range(5):
            bus.publish(f"data.trades.{AUDUSD}", trade(i))
        assert streamer.flush(10)
    finally:
        streamer.stop()
    remaining = client.xrange(key)
    assert len(remaining) < 200, len(remaining)  # approximate MINID: whole old nodes are dropped
    assert [fields[b"type"] for _, fields in remaining[-5:]] == [b"TradeTick"] * 5


def test_heartbeat_appears_on_its_interval(redis_server: tuple[str, int]) -> None:
    bus = MessageBus("TRADER-001")
    config = bus_config(redis_server, heartbeat_interval_secs=0.05)
    streamer = BusStreamer(bus, config, "TRADER-001", "node-a1", db_logger())
    key = "toolkit:TRADER-001:stream:heartbeat"

    async def run() -> list[Any]:
        streamer.start()
        try:
            deadline = time.monotonic() + 10
            while True:
                await streamer.flush_async(5)
                beats = await asyncio.to_thread(read_all, redis_server, key)
                if len(beats) >= 3:
                    return beats
                assert time.monotonic() < deadline, "fewer than 3 heartbeats in 10 s"
                await asyncio.sleep(0.02)
        finally:
            streamer.stop()

    beats = asyncio.run(run())
    assert all(isinstance(b.payload, StreamHeartbeat) for b in beats)
    assert beats[0].payload.trader_id == "TRADER-001" and beats[0].payload.instance_id == "node-a1"
    assert beats[0].topic == "heartbeat" and beats[0].ts == beats[0].payload.ts_init
    assert beats[1].ts > beats[0].ts


def test_heartbeat_needs_an_event_loop(redis_server: tuple[str, int]) -> None:
    streamer = BusStreamer(
        MessageBus("TRADER-001"), bus_config(redis_server, heartbeat_interval_secs=1), "TRADER-001", None, db_logger()
    )
    with pytest.raises(RuntimeError, match="event loop"):
        streamer.start()


CONSUMER = """
import json, sys
from toolkit.persistence.streaming import read_stream
host, port, key = sys.argv[1], int(sys.argv[2]), sys.argv[3]
last = "0-0"
while True:
    messages = read_stream(host, port, key, last_id=last, count=2, block_ms=2000)
    if not messages:
        break
    for m in messages:
        print(json.dumps({"id": m.id, "topic": m.topic, "type": m.type, "ts": m.ts,
                          "client_order_id": m.payload.client_order_id, "class": type(m.payload).__name__}))
    last = messages[-1].id
"""


def test_another_process_consumes_the_streams(redis_server: tuple[str, int]) -> None:
    bus = MessageBus("TRADER-001")
    streamer = BusStreamer(bus, bus_config(redis_server, encoding="json"), "TRADER-001", None, db_logger())
    streamer.start()
    try:
        events = sample_order_events("O-7")
        for event in events:
            bus.publish("events.order.EMACross-001", event)
        assert streamer.flush(10)
    finally:
        streamer.stop()
    host, port = redis_server
    proc = subprocess.run(
        [sys.executable, "-c", CONSUMER, host, str(port), "toolkit:TRADER-001:stream:events.order.EMACross-001"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(x["class"], x["ts"], x["client_order_id"]) for x in lines] == [
        (type(e).__name__, e.ts_init, "O-7") for e in events
    ]
    assert all(x["topic"] == "events.order.EMACross-001" for x in lines)


def test_unencodable_messages_are_skipped_and_publish_still_works(
    redis_server: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    class Opaque:
        pass

    bus = MessageBus("TRADER-001")
    got: list[Any] = []
    bus.subscribe("custom", got.append)
    streamer = BusStreamer(bus, bus_config(redis_server), "TRADER-001", None, db_logger())
    streamer.start()
    try:
        with caplog.at_level(logging.WARNING, logger="toolkit"):
            bus.publish("custom", Opaque())
            bus.publish("custom", Opaque())
        bus.publish("custom", {"plain": [1, 2]})
        assert streamer.flush(10)
    finally:
        streamer.stop()
    assert len(got) == 3
    assert len([r for r in caplog.records if "cannot encode Opaque" in r.getMessage()]) == 1
    messages = read_all(redis_server, "toolkit:TRADER-001:stream:custom")
    assert [builtins_of(m.payload) for m in messages] == [{"plain": [1, 2]}]


def test_stop_removes_the_streamer_from_the_bus(redis_server: tuple[str, int]) -> None:
    bus = MessageBus("TRADER-001")
    streamer = BusStreamer(bus, bus_config(redis_server), "TRADER-001", None, db_logger())
    streamer.start()
    assert len(bus._listeners) == 1
    streamer.stop()
    assert bus._listeners == ()
    bus.publish(f"data.trades.{AUDUSD}", trade(1))
    assert read_all(redis_server, f"toolkit:TRADER-001:stream:data.trades.{AUDUSD}") == []


def test_configuration_errors_are_clear() -> None:
    bus = MessageBus("TRADER-001")
    with pytest.raises(ValueError, match="Redis streams only"):
        BusStreamer(bus, MessageBusConfig(database=DatabaseConfig(path="x.db")), "TRADER-001", None, db_logger())
    with pytest.raises(ValueError, match="not set"):
        BusStreamer(bus, MessageBusConfig(), "TRADER-001", None, db_logger())


def test_unreachable_redis_at_start_names_the_address() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = MessageBusConfig(database=DatabaseConfig(type=DatabaseType.REDIS, host="127.0.0.1", port=port, timeout=2))
    bus = MessageBus("TRADER-001")
    streamer = BusStreamer(bus, config, "TRADER-001", None, db_logger())
    with pytest.raises(DatabaseUnavailable, match=f"Redis at 127.0.0.1:{port} is unavailable"):
        streamer.start()
    assert "publish" not in vars(bus)
