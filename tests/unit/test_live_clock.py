"""LiveClock: wall time, timers fired on an asyncio loop in time order (ties in the order set)."""

from __future__ import annotations

import asyncio
import time

import pytest

from toolkit.core.clock import LiveClock, TimeEvent

MS = 1_000_000


def test_timestamp_is_wall_time() -> None:
    clock = LiveClock()
    before = time.time_ns()
    now = clock.timestamp_ns()
    assert before <= now <= time.time_ns()


def test_alerts_and_timers_fire_in_order_on_the_loop() -> None:
    async def scenario() -> list[tuple[str, int]]:
        clock = LiveClock(asyncio.get_running_loop())
        fired: list[tuple[str, int]] = []
        done = asyncio.Event()

        def record(event: TimeEvent) -> None:
            assert clock.timestamp_ns() >= event.ts_event
            fired.append((event.name, event.ts_event))
            if event.name == "last":
                done.set()

        start = clock.timestamp_ns()
        clock.set_time_alert("b", start + 30 * MS, record)
        clock.set_time_alert("a", start + 30 * MS, record)  # same time, set later: fires after "b"
        clock.set_timer("every-10ms", 10 * MS, record, start_time_ns=start, stop_time_ns=start + 40 * MS)
        clock.set_time_alert("last", start + 60 * MS, record)
        await asyncio.wait_for(done.wait(), timeout=5)
        return [(name, ts - start) for name, ts in fired]

    fired = asyncio.run(scenario())
    assert fired == [
        ("every-10ms", 10 * MS),
        ("every-10ms", 20 * MS),
        ("b", 30 * MS),
        ("a", 30 * MS),
        ("every-10ms", 30 * MS),
        ("every-10ms", 40 * MS),
        ("last", 60 * MS),
    ]


def test_timers_set_before_attach_start_when_attached_and_errors_do_not_stop_the_clock() -> None:
    async def scenario() -> list[str]:
        clock = LiveClock()
        fired: list[str] = []
        errors: list[str] = []
        done = asyncio.Event()
        now = clock.timestamp_ns()

        def boom(event: TimeEvent) -> None:
            raise RuntimeError("user bug")

        def ok(event: TimeEvent) -> None:
            fired.append(event.name)
            done.set()

        clock.set_time_alert("boom", now + 5 * MS, boom)
        clock.set_time_alert("ok", now + 10 * MS, ok)
        clock.attach(asyncio.get_running_loop(), on_error=lambda e, exc: errors.append(f"{e.name}: {exc}"))
        await asyncio.wait_for(done.wait(), timeout=5)
        return fired + errors

    assert asyncio.run(scenario()) == ["ok", "boom: user bug"]


def test_cancel_and_validation_match_the_test_clock() -> None:
    clock = LiveClock()
    now = clock.timestamp_ns()
    clock.set_time_alert("x", now + 10**12, lambda e: None)
    assert clock.timer_names == ["x"]
    with pytest.raises(ValueError, match="already set"):
        clock.set_time_alert("x", now + 10**12, lambda e: None)
    with pytest.raises(ValueError, match="before the current time"):
        clock.set_time_alert("past", now - 10**12, lambda e: None)
    clock.cancel_timer("x")
    assert clock.timer_count == 0
