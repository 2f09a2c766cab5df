"""Integration tests of the cache database backends: SQLite files in tmp_path and a real redis-server.

Both backends, both encodings and both timestamp modes round-trip every record kind exactly; an order's
events load in write order; write-behind batches and write-through does not (counted transactions); wipe
removes only this trader's data; an unreachable database at open is a `DatabaseUnavailable` naming the
address; a Redis server stopped and restarted on the same port mid-run loses, duplicates and reorders
nothing while the event loop keeps running. `test_write_throughput` prints figures (set
`TOOLKIT_BENCH_EVENTS=100000` for the full benchmark); it never fails on speed.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import RedisProcess
from tests.unit.test_cache_database import (
    TS,
    assert_same,
    db_logger,
    sample_account_states,
    sample_instruments,
    sample_order_events,
    sample_position_record,
)
from toolkit.live.config import CacheConfig, DatabaseConfig, DatabaseType
from toolkit.persistence.database import CacheDatabase, DatabaseUnavailable, open_cache_database, wipe_summary
from toolkit.persistence.redis_db import RedisCacheDatabase

BACKENDS = ["sqlite", "redis"]
MakeDb = Callable[..., CacheDatabase]


@pytest.fixture(params=BACKENDS)
def make_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeDb]:
    """`make_db(trader_id="TRADER-001", **cache_options)` -> an opened database of the parametrized backend."""
    opened: list[CacheDatabase] = []
    if request.param == "redis":
        host, port = request.getfixturevalue("redis_server")
        database = DatabaseConfig(type=DatabaseType.REDIS, host=host, port=port, timeout=5.0)
    else:
        database = DatabaseConfig(type=DatabaseType.SQLITE, path=str(tmp_path / "shared" / "cache.db"), timeout=5.0)

    def make(trader_id: str = "TRADER-001", **options: Any) -> CacheDatabase:
        db = open_cache_database(trader_id, CacheConfig(database=database, **options), db_logger(), tmp_path)
        assert db is not None
        opened.append(db)
        return db

    yield make
    for db in opened:
        db.close()


def write_everything(db: CacheDatabase) -> dict[str, Any]:
    """Write one of every record kind; return what a load must give back."""
    instruments = sample_instruments()
    for instrument in instruments:
        db.add_instrument(instrument)
    accounts = {"SIM-001": sample_account_states("SIM-001", 3), "BINANCE-7": sample_account_states("BINANCE-7", 2)}
    for states in zip(*accounts.values(), strict=False):
        for state in states:
            db.add_account_state(state)
    db.add_account_state(accounts["SIM-001"][2])  # the 3rd SIM state (zip stopped at 2)
    orders = [
        (sample_order_events("O-1", TS, "P-1"), "P-1"),
        (sample_order_events("O-2", TS + 100, filled=False), None),
        (sample_order_events("O-3", TS + 200, "P-2"), "P-2"),
    ]
    # interleave the orders' events as a live node would
    for step in range(max(len(events) for events, _ in orders)):
        for events, position_id in orders:
            if step < len(events):
                event = events[step]
                db.add_order_event(event, position_id if step >= 4 else None)
    positions = [sample_position_record("P-1", 0), sample_position_record("P-1", 1), sample_position_record("P-2", 0)]
    for record in positions:
        db.update_position(record)
    strategy_states = {"EMACross-001": {"fast": b"\x01\x02", "slow": b""}, "Other-002": {"x": b"y"}}
    for strategy_id, state in strategy_states.items():
        db.save_strategy_state(strategy_id, state)
    general = {"node.last_stop": b"\x00\xff", "note": b"text"}
    for key, value in general.items():
        db.put_general(key, value)
    return {
        "instruments": instruments,
        "accounts": accounts,
        "orders": orders,
        "positions": positions,
        "strategy_states": strategy_states,
        "general": general,
    }


def assert_loaded(db: CacheDatabase, expected: dict[str, Any]) -> None:
    state = db.load()
    by_id = {str(i.id): i for i in state.instruments}
    assert sorted(by_id) == sorted(str(i.id) for i in expected["instruments"])
    for instrument in expected["instruments"]:
        assert_same(by_id[str(instrument.id)], instrument)
    assert sorted(state.account_states) == sorted(expected["accounts"])
    for account_id, states in expected["accounts"].items():
        assert len(state.account_states[account_id]) == len(states)
        for got, want in zip(state.account_states[account_id], states, strict=True):
            assert_same(got, want)
    assert len(state.orders) == len(expected["orders"])
    for (events, position_id), (want_events, want_position) in zip(state.orders, expected["orders"], strict=True):
        assert position_id == want_position
        assert len(events) == len(want_events)
        for got, want in zip(events, want_events, strict=True):
            assert_same(got, want)
    assert state.positions == expected["positions"]
    assert state.strategy_states == expected["strategy_states"]
    assert state.general == expected["general"]


# -- round trips -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("iso", [False, True], ids=["ns", "iso8601"])
@pytest.mark.parametrize("encoding", ["msgpack", "json"])
def test_every_record_kind_round_trips_exactly(make_db: MakeDb, encoding: str, iso: bool) -> None:
    db = make_db(encoding=encoding, timestamps_as_iso8601=iso)
    expected = write_everything(db)
    assert db.flush(10)
    assert_loaded(db, expected)
    assert db.healthy and db.pending == 0


def test_a_new_process_finds_the_state_of_the_previous_one(make_db: MakeDb) -> None:
    first = make_db(encoding="json", buffer_interval_ms=5)
    expected = write_everything(first)
    first.close()  # flushes
    second = make_db(encoding="json")
    assert_loaded(second, expected)


def test_order_events_load_in_write_order(make_db: MakeDb) -> None:
    db = make_db(buffer_interval_ms=5)
    expected: dict[str, list[Any]] = {}
    for i in range(40):
        expected[f"O-{i:03d}"] = sample_order_events(f"O-{i:03d}", TS + i * 1_000, f"P-{i % 3}", filled=i % 4 != 0)
    cursors = dict.fromkeys(expected, 0)
    created: list[str] = []
    step = 0
    while any(cursors[c] < len(expected[c]) for c in cursors):  # a deterministic interleaving
        for coid in list(cursors)[step % 7 :: 3]:
            if cursors[coid] < len(expected[coid]):
                if cursors[coid] == 0:
                    created.append(coid)
                db.add_order_event(expected[coid][cursors[coid]], None)
                cursors[coid] += 1
        step += 1
    assert db.flush(10)
    loaded = db.load().orders
    assert created != sorted(created)
    assert [str(events[0].client_order_id) for events, _ in loaded] == created  # creation order
    for events, _ in loaded:
        want = expected[str(events[0].client_order_id)]
        assert [type(e) for e in events] == [type(e) for e in want]
        for got, event in zip(events, want, strict=True):
            assert_same(got, event)


def test_updates_replace_and_deletes_remove(make_db: MakeDb) -> None:
    db = make_db()
    expected = write_everything(db)
    db.save_strategy_state("EMACross-001", {"fast": b"new"})
    db.put_general("note", b"changed")
    changed = sample_position_record("P-1", 1)
    changed["quantity"] = "0"
    db.update_position(changed)
    db.delete_order("O-2")
    db.delete_position("P-2")
    db.add_order_event(sample_order_events("O-9", TS + 900)[0], None)
    assert db.flush(10)
    state = db.load()
    assert state.strategy_states["EMACross-001"] == {"fast": b"new"}
    assert state.general["note"] == b"changed"
    assert [(p["position_id"], p["cycle"], p["quantity"]) for p in state.positions] == [
        ("P-1", 0, "100000"),
        ("P-1", 1, "0"),
    ]
    assert [str(events[0].client_order_id) for events, _ in state.orders] == ["O-1", "O-3", "O-9"]
    assert len(state.instruments) == len(expected["instruments"])


def test_trim_account_states_keeps_recent_ones_and_always_the_latest(make_db: MakeDb) -> None:
    db = make_db(timestamps_as_iso8601=True)
    states = sample_account_states("SIM-001", 5)  # ts_event TS, TS+1000, ..., TS+4000
    for state in states:
        db.add_account_state(state)
    old = sample_account_states("OLD-001", 3)
    for state in old:
        db.add_account_state(state)
    db.trim_account_states("SIM-001", TS + 2_500)
    db.trim_account_states("OLD-001", TS + 1_000_000)  # all older: the latest stays
    assert db.flush(10)
    loaded = db.load().account_states
    assert [s.ts_event for s in loaded["SIM-001"]] == [TS + 3_000, TS + 4_000]
    assert len(loaded["OLD-001"]) == 1
    assert_same(loaded["OLD-001"][0], old[-1])


# -- batching ----------------------------------------------------------------------------------------------------------


def test_write_through_commits_each_write_and_write_behind_batches(make_db: MakeDb) -> None:
    events = [e for i in range(50) for e in sample_order_events(f"O-{i}", TS + i)]
    through = make_db("TRADER-001")
    for event in events:
        through.add_order_event(event, None)
    assert through.flush(30)
    assert through.transaction_count == len(events)

    behind = make_db("TRADER-002", buffer_interval_ms=100)
    for event in events:
        behind.add_order_event(event, None)
    assert behind.flush(30)
    assert 1 <= behind.transaction_count <= 3, behind.transaction_count
    assert sum(len(evs) for evs, _ in behind.load().orders) == len(events)


# -- wipe --------------------------------------------------------------------------------------------------------------


def test_wipe_removes_only_this_traders_data_and_counts_it(make_db: MakeDb) -> None:
    mine = make_db("TRADER-001")
    other = make_db("TRADER-002")
    write_everything(mine)
    expected_other = write_everything(other)
    assert mine.flush(10) and other.flush(10)
    counts = mine.wipe()
    assert counts["instruments"] == 3
    assert counts["account_states"] == 5
    assert counts["orders"] == 3
    assert counts["order_events"] == 6 + 5 + 6
    assert counts["positions"] == 3
    assert counts["strategy_states"] == 2
    assert counts["general"] == 2
    summary = wipe_summary(counts)
    assert summary.startswith("3 orders (17 events), 3 position records, 5 account states, 3 instruments")
    empty = mine.load()
    assert not (empty.instruments or empty.account_states or empty.orders or empty.positions)
    assert not (empty.strategy_states or empty.general)
    assert_loaded(other, expected_other)
    assert mine.wipe()["orders"] == 0


def test_redis_wipe_uses_the_trader_prefix_and_leaves_other_keys(redis_server: tuple[str, int]) -> None:
    host, port = redis_server
    client = redis.Redis(host=host, port=port)
    client.set("toolkit:TRADER-0011:cache:general", "another trader whose id extends ours")
    client.xadd("toolkit:TRADER-001:stream:events.order.S-1", {"payload": "x"})
    client.set("unrelated", "1")
    config = CacheConfig(database=DatabaseConfig(type=DatabaseType.REDIS, host=host, port=port))
    db = open_cache_database("TRADER-001", config, db_logger(), "unused")
    assert isinstance(db, RedisCacheDatabase)
    try:
        write_everything(db)
        assert db.flush(10)
        assert client.keys("toolkit:TRADER-001:cache:*")
        counts = db.wipe()
        assert counts["keys"] >= 10
        assert client.keys("toolkit:TRADER-001:cache:*") == []
        assert client.get("toolkit:TRADER-0011:cache:general") is not None
        assert client.exists("toolkit:TRADER-001:stream:events.order.S-1", "unrelated") == 2
    finally:
        db.close()


# -- unavailable -------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_redis_unreachable_at_open_names_the_address_and_cause() -> None:
    port = free_port()  # nothing listens there
    config = CacheConfig(database=DatabaseConfig(type=DatabaseType.REDIS, host="127.0.0.1", port=port, timeout=2.0))
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as info:
        open_cache_database("TRADER-001", config, db_logger(), "unused")
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and "Redis" in message and "onnect" in message
    assert time.monotonic() - started < 5


def test_sqlite_unwritable_at_open_names_the_path(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    path = tmp_path / "file" / "sub" / "cache.db"
    config = CacheConfig(database=DatabaseConfig(path=str(path)))
    with pytest.raises(DatabaseUnavailable, match=r"SQLite at .*file/sub/cache\.db is unavailable"):
        open_cache_database("TRADER-001", config, db_logger(), tmp_path)


# -- outage mid-run ----------------------------------------------------------------------------------------------------


@pytest.fixture
def restartable_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path, free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.mark.parametrize("interval", [None, 10], ids=["write-through", "write-behind-10ms"])
def test_redis_outage_mid_run_loses_nothing_and_never_blocks_the_loop(
    restartable_redis: RedisProcess, interval: int | None
) -> None:
    server = restartable_redis
    config = CacheConfig(
        database=DatabaseConfig(type=DatabaseType.REDIS, host="127.0.0.1", port=server.port, timeout=2.0),
        buffer_interval_ms=interval,
    )
    db = open_cache_database("TRADER-001", config, db_logger(), "unused")
    assert db is not None
    written: dict[str, list[Any]] = {}
    slowest_call = 0.0
    worst_lag = 0.0

    async def write(count: int, start: int) -> None:
        nonlocal slowest_call
        for i in range(start, start + count):
            coid = f"O-{i:04d}"
            events = sample_order_events(coid, TS + i * 100, f"P-{i}")
            written[coid] = events
            for event in events:
                began = time.perf_counter()
                db.add_order_event(event, f"P-{i}")
                slowest_call = max(slowest_call, time.perf_counter() - began)
            await asyncio.sleep(0.002)

    async def watch_lag(stop: asyncio.Event) -> None:
        nonlocal worst_lag
        while not stop.is_set():
            began = time.perf_counter()
            await asyncio.sleep(0.005)
            worst_lag = max(worst_lag, time.perf_counter() - began - 0.005)

    async def scenario() -> None:
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch_lag(stop))
        await write(30, 0)
        await asyncio.to_thread(server.stop)
        await write(60, 30)  # the server is down: these only queue
        deadline = time.monotonic() + 10
        while db.healthy:  # the writer notices the outage
            assert time.monotonic() < deadline, "the writer never noticed the outage"
            await asyncio.sleep(0.01)
        assert db.last_error is not None and "Connection" in db.last_error
        assert db.pending > 0
        assert not await db.flush_async(0.2)
        await write(10, 90)
        await asyncio.to_thread(server.start)
        await write(10, 100)
        assert await db.flush_async(30)
        stop.set()
        await watcher

    try:
        asyncio.run(scenario())
        assert db.healthy
        loaded = db.load().orders
        assert [str(events[0].client_order_id) for events, _ in loaded] == sorted(written)
        for events, position_id in loaded:
            coid = str(events[0].client_order_id)
            assert position_id == f"P-{int(coid[2:])}"
            assert len(events) == len(written[coid]), coid  # nothing lost, nothing applied twice
            for got, want in zip(events, written[coid], strict=True):
                assert_same(got, want)
        assert slowest_call < 0.05, f"a write call took {slowest_call * 1000:.1f} ms"
        assert worst_lag < 0.5, f"the loop stalled {worst_lag * 1000:.0f} ms"
    finally:
        db.close()


# -- throughput (prints figures, never fails on speed) -----------------------------------------------------------------


def test_bulk_writes_all_land_in_both_modes(make_db: MakeDb) -> None:
    """Thousands of order events, write-through and write-behind: every one is persisted (speed is measured
    by `toolkit bench --workload database`, not here)."""
    events = [e for i in range(500) for e in sample_order_events(f"O-{i}", TS + i)]
    for interval in (None, 10):
        db = make_db(f"BULK-{interval or 0}", buffer_interval_ms=interval)
        for event in events:
            db.add_order_event(event, None)
        assert db.flush(120)
        assert sum(len(evs) for evs, _ in db.load().orders) == len(events)
        if interval:
            assert db.transaction_count < len(events) / 10  # batched


def test_redis_batch_whose_reply_was_lost_is_not_applied_twice(redis_server: tuple[str, int]) -> None:
    """A retry of a batch that was committed (only its reply lost) is recognised by the batch marker."""
    host, port = redis_server
    config = CacheConfig(database=DatabaseConfig(type=DatabaseType.REDIS, host=host, port=port))
    db = open_cache_database("TRADER-001", config, db_logger(), "unused")
    assert isinstance(db, RedisCacheDatabase)
    try:
        events = sample_order_events("O-1")
        payloads = [
            ("order_event", "O-1", db.codec.encode(e), None, 1.0 if i == 0 else None) for i, e in enumerate(events)
        ]
        db._apply(payloads, 1_000_001, False)
        db._apply(payloads, 1_000_001, True)  # the writer's retry after an uncertain failure
        db._apply(payloads[:1], 1_000_002, True)  # a retry of a batch that never reached the server
        assert len(db.load().orders[0][0]) == len(events) + 1
    finally:
        db.close()
