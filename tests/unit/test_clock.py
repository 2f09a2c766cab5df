"""Unit tests of `toolkit.core.clock`: TestClock time, alerts, repeating timers, event order and next_event_ns."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from toolkit.core.clock import (
    NO_PENDING_EVENT_NS,
    Clock,
    TestClock,
    TimeEvent,
    TimeEventHandler,
    UnknownTimerError,
    unix_nanos_to_iso8601,
)

SECOND = 1_000_000_000


class Recorder:
    """Callback that records the events it receives."""

    def __init__(self) -> None:
        self.events: list[TimeEvent] = []

    def __call__(self, event: TimeEvent) -> None:
        self.events.append(event)


def fired(handlers: list[TimeEventHandler]) -> list[tuple[str, int]]:
    return [(h.event.name, h.event.ts_event) for h in handlers]


def test_test_clock_is_a_clock_and_reports_time_in_all_forms() -> None:
    clock = TestClock(start_ns=1_700_000_000 * SECOND + 123_456_789)
    assert isinstance(clock, Clock)
    assert clock.timestamp_ns() == 1_700_000_000 * SECOND + 123_456_789
    assert clock.timestamp() == pytest.approx(1_700_000_000.123456789)
    assert clock.utc_now() == datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC)
    assert clock.utc_now().tzinfo is UTC


def test_utc_now_follows_simulated_time_not_wall_clock() -> None:
    clock = TestClock()
    assert clock.utc_now() == datetime(1970, 1, 1, tzinfo=UTC)
    clock.set_time(86_400 * SECOND)
    assert clock.utc_now() == datetime(1970, 1, 2, tzinfo=UTC)


def test_iso8601_keeps_nanoseconds() -> None:
    assert unix_nanos_to_iso8601(1) == "1970-01-01T00:00:00.000000001Z"
    assert unix_nanos_to_iso8601(1_700_000_000 * SECOND + 5) == "2023-11-14T22:13:20.000000005Z"


def test_time_never_goes_backwards() -> None:
    clock = TestClock(start_ns=100)
    with pytest.raises(ValueError, match=r"current time 100, requested 99"):
        clock.set_time(99)
    with pytest.raises(ValueError, match=r"current time 100, requested 50"):
        clock.advance_time(50)
    clock.set_time(100)  # staying put is fine
    assert clock.advance_time(100) == []


def test_empty_clock_has_sentinel_next_event() -> None:
    clock = TestClock()
    assert clock.next_event_ns == NO_PENDING_EVENT_NS
    assert clock.timer_names == []
    assert clock.timer_count == 0
    assert clock.advance_time(10 * SECOND) == []
    assert clock.timestamp_ns() == 10 * SECOND


def test_time_alert_fires_once_at_its_time() -> None:
    clock = TestClock()
    recorder = Recorder()
    clock.set_time_alert("alert", 5 * SECOND, recorder)
    assert clock.timer_names == ["alert"]
    assert clock.next_time_ns("alert") == 5 * SECOND
    assert clock.next_event_ns == 5 * SECOND

    assert clock.advance_time(5 * SECOND - 1) == []
    assert clock.next_event_ns == 5 * SECOND

    handlers = clock.advance_time(5 * SECOND)
    assert fired(handlers) == [("alert", 5 * SECOND)]
    assert recorder.events == []  # advance_time only collects; the caller handles
    handlers[0].handle()
    assert recorder.events == [TimeEvent("alert", 5 * SECOND, 5 * SECOND)]
    assert clock.timer_names == []
    assert clock.next_event_ns == NO_PENDING_EVENT_NS
    assert clock.advance_time(100 * SECOND) == []


def test_alert_in_the_past_is_an_error_unless_allowed() -> None:
    clock = TestClock(start_ns=10 * SECOND)
    with pytest.raises(ValueError, match=r"'late'.*before the current time"):
        clock.set_time_alert("late", 9 * SECOND, Recorder())
    assert clock.timer_count == 0
    clock.set_time_alert("late", 9 * SECOND, Recorder(), allow_past=True)
    assert clock.next_time_ns("late") == 10 * SECOND
    assert clock.next_event_ns == 10 * SECOND
    assert fired(clock.advance_time(10 * SECOND)) == [("late", 10 * SECOND)]


def test_alert_at_the_current_time_is_not_in_the_past() -> None:
    clock = TestClock(start_ns=7)
    clock.set_time_alert("now", 7, Recorder())
    assert fired(clock.advance_time(7)) == [("now", 7)]


def test_duplicate_names_are_rejected_across_alerts_and_timers() -> None:
    clock = TestClock()
    clock.set_time_alert("x", 10, Recorder())
    with pytest.raises(ValueError, match=r"'x' is already set"):
        clock.set_time_alert("x", 20, Recorder())
    with pytest.raises(ValueError, match=r"'x' is already set"):
        clock.set_timer("x", 5, Recorder())
    assert clock.next_time_ns("x") == 10


@pytest.mark.parametrize("interval", [0, -1])
def test_non_positive_interval_is_rejected(interval: int) -> None:
    clock = TestClock()
    with pytest.raises(ValueError, match=r"interval must be a positive integer"):
        clock.set_timer("t", interval, Recorder())
    assert clock.timer_count == 0
    assert clock.next_event_ns == NO_PENDING_EVENT_NS


def test_bad_names_and_callbacks_are_rejected() -> None:
    clock = TestClock()
    with pytest.raises(ValueError, match="non-empty"):
        clock.set_time_alert("", 1, Recorder())
    with pytest.raises(TypeError, match="callable"):
        clock.set_timer("t", 1, None)  # type: ignore[arg-type]


def test_timer_start_and_stop_validation() -> None:
    clock = TestClock(start_ns=100)
    with pytest.raises(ValueError, match=r"first fire time 60 .* before the current time 100"):
        clock.set_timer("t", 10, Recorder(), start_time_ns=50)
    with pytest.raises(ValueError, match=r"stop time 105 is before the first fire time 110"):
        clock.set_timer("t", 10, Recorder(), stop_time_ns=105)


def test_repeating_timer_fires_every_interval_over_a_long_advance() -> None:
    clock = TestClock()
    clock.set_timer("bar", SECOND, Recorder())
    assert clock.next_event_ns == SECOND
    handlers = clock.advance_time(1000 * SECOND + SECOND // 2)
    assert [h.event.ts_event for h in handlers] == [i * SECOND for i in range(1, 1001)]
    assert all(h.event.ts_init == h.event.ts_event for h in handlers)
    assert clock.next_time_ns("bar") == 1001 * SECOND
    assert clock.next_event_ns == 1001 * SECOND
    assert clock.timestamp_ns() == 1000 * SECOND + SECOND // 2


def test_timer_fire_immediately_and_start_time() -> None:
    clock = TestClock()
    clock.set_timer("now", 10, Recorder(), fire_immediately=True)
    clock.set_timer("later", 10, Recorder(), start_time_ns=5)
    assert clock.next_time_ns("now") == 0
    assert clock.next_time_ns("later") == 15
    assert clock.next_event_ns == 0
    assert fired(clock.advance_time(25)) == [("now", 0), ("now", 10), ("later", 15), ("now", 20), ("later", 25)]


def test_timer_stops_after_stop_time_and_disappears() -> None:
    clock = TestClock()
    clock.set_timer("t", 10, Recorder(), stop_time_ns=30)
    assert fired(clock.advance_time(100)) == [("t", 10), ("t", 20), ("t", 30)]
    assert clock.timer_names == []
    assert clock.next_event_ns == NO_PENDING_EVENT_NS


def test_stop_time_between_fires_still_fires_up_to_it() -> None:
    clock = TestClock()
    clock.set_timer("t", 10, Recorder(), stop_time_ns=25)
    assert fired(clock.advance_time(15)) == [("t", 10)]
    assert clock.timer_names == ["t"]
    assert fired(clock.advance_time(100)) == [("t", 20)]
    assert clock.timer_names == []


def test_events_at_one_timestamp_come_in_the_order_they_were_set() -> None:
    clock = TestClock()
    clock.set_timer("c", 10, Recorder())  # set first
    clock.set_time_alert("a", 20, Recorder())
    clock.set_timer("b", 5, Recorder())
    clock.set_time_alert("z", 10, Recorder())
    assert clock.next_event_ns == 5
    assert fired(clock.advance_time(20)) == [
        ("b", 5),
        ("c", 10),
        ("b", 10),
        ("z", 10),
        ("b", 15),
        ("c", 20),
        ("a", 20),
        ("b", 20),
    ]


def test_order_uses_set_order_not_name_order_across_many_timers() -> None:
    clock = TestClock()
    names = ["m", "b", "x", "a", "q"]
    for name in names:
        clock.set_timer(name, 100, Recorder())
    handlers = clock.advance_time(300)
    assert fired(handlers) == [(n, t) for t in (100, 200, 300) for n in names]


def test_handlers_call_their_own_callbacks() -> None:
    clock = TestClock()
    first, second = Recorder(), Recorder()
    clock.set_timer("first", 10, first)
    clock.set_time_alert("second", 15, second)
    for handler in clock.advance_time(20):
        handler.handle()
    assert [e.ts_event for e in first.events] == [10, 20]
    assert [e.name for e in second.events] == ["second"]


def test_cancel_timer_updates_names_and_next_event() -> None:
    clock = TestClock()
    clock.set_time_alert("early", 10, Recorder())
    clock.set_timer("mid", 15, Recorder())
    clock.set_time_alert("late", 30, Recorder())
    assert clock.next_event_ns == 10
    clock.cancel_timer("early")
    assert clock.next_event_ns == 15
    assert clock.timer_names == ["mid", "late"]
    clock.cancel_timer("late")  # not at the head: head unchanged
    assert clock.next_event_ns == 15
    assert fired(clock.advance_time(40)) == [("mid", 15), ("mid", 30)]
    clock.cancel_timer("mid")
    assert clock.next_event_ns == NO_PENDING_EVENT_NS
    assert clock.advance_time(1000) == []


def test_cancel_unknown_name_is_a_clear_error() -> None:
    clock = TestClock()
    clock.set_time_alert("known", 10, Recorder())
    with pytest.raises(UnknownTimerError, match=r"no timer or alert named 'nope'.*'known'"):
        clock.cancel_timer("nope")
    with pytest.raises(UnknownTimerError, match="'nope'"):
        clock.next_time_ns("nope")


def test_cancel_timers_removes_everything() -> None:
    clock = TestClock(start_ns=5)
    clock.set_time_alert("a", 10, Recorder())
    clock.set_timer("b", 3, Recorder())
    clock.cancel_timers()
    assert clock.timer_count == 0
    assert clock.next_event_ns == NO_PENDING_EVENT_NS
    assert clock.timestamp_ns() == 5
    assert clock.advance_time(100) == []


def test_a_cancelled_name_can_be_set_again_with_its_own_schedule() -> None:
    clock = TestClock()
    clock.set_timer("t", 10, Recorder())
    clock.cancel_timer("t")
    clock.set_timer("t", 7, Recorder())
    assert clock.next_event_ns == 7
    assert fired(clock.advance_time(20)) == [("t", 7), ("t", 14)]


def test_many_cancellations_do_not_leak_and_keep_next_event_right() -> None:
    clock = TestClock()
    for i in range(1000):
        clock.set_time_alert(f"a{i}", 1_000 + i, Recorder())
        clock.cancel_timer(f"a{i}")
    clock.set_time_alert("keep", 5_000, Recorder())
    assert len(clock._heap) < 200  # compacted
    assert clock.next_event_ns == 5_000
    assert fired(clock.advance_time(10_000)) == [("keep", 5_000)]


def test_advance_without_set_time_leaves_time_but_consumes_events() -> None:
    clock = TestClock()
    clock.set_timer("t", 10, Recorder())
    handlers = clock.advance_time(25, set_time=False)
    assert fired(handlers) == [("t", 10), ("t", 20)]
    assert clock.timestamp_ns() == 0
    assert clock.next_event_ns == 30
    # the engine pattern: move to each event's time, handle it, then move to the data time
    for handler in handlers:
        clock.set_time(handler.event.ts_event)
        handler.handle()
    clock.set_time(25)
    assert clock.advance_time(25) == []


def test_next_event_ns_tracks_every_operation() -> None:
    clock = TestClock()
    clock.set_time_alert("a", 50, Recorder())
    assert clock.next_event_ns == 50
    clock.set_timer("t", 20, Recorder())
    assert clock.next_event_ns == 20
    clock.advance_time(20)
    assert clock.next_event_ns == 40
    clock.advance_time(45)
    assert clock.next_event_ns == 50
    clock.cancel_timer("a")
    assert clock.next_event_ns == 60
    clock.set_time_alert("b", 55, Recorder())
    assert clock.next_event_ns == 55
    clock.advance_time(55)
    assert clock.next_event_ns == 60


def test_reset_rewinds_and_clears() -> None:
    clock = TestClock(start_ns=100)
    clock.set_timer("t", 10, Recorder())
    clock.reset(0)
    assert clock.timestamp_ns() == 0
    assert clock.timer_count == 0
    assert clock.next_event_ns == NO_PENDING_EVENT_NS
