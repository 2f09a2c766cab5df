"""Clocks and timers: the `Clock` interface, the simulated `TestClock`, and the time events they produce.

A clock owns "now" (integer nanoseconds since the Unix epoch, UTC) and a set of named timers: one-shot time
alerts and repeating timers, which share one namespace. `TestClock` is the backtest clock: time moves only
when the engine calls `advance_time`, which returns the due events as `TimeEventHandler`s for the engine to
call, in a defined order: by fire time, then, at one fire time, in the order the timers were set. Its
`next_event_ns` attribute (the earliest pending fire time, or `NO_PENDING_EVENT_NS`) lets a backtest loop
skip the call entirely for data points before the next timer. A live, asyncio-based clock implements the
same `Clock` interface: `LiveClock` reads the wall clock and fires the same scheduler's timers from its
asyncio event loop; the validation helpers of `Clock` are shared so both clocks reject the same mistakes
with the same messages.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import msgspec

NO_PENDING_EVENT_NS = 2**63 - 1
"""Value of `TestClock.next_event_ns` when no alert or timer is pending (later than any real timestamp)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COMPACT_MIN_STALE = 64  # rebuild the heap once cancelled entries exceed this and half of it


class TimeEvent(msgspec.Struct, frozen=True, gc=False):
    """A timer or alert firing: `name` of the timer, `ts_event` when it was due, `ts_init` when it was made."""

    name: str
    ts_event: int
    ts_init: int


TimeEventCallback = Callable[[TimeEvent], None]


class TimeEventHandler:
    """A due `TimeEvent` paired with the callback of its timer; `handle()` delivers the event."""

    __slots__ = ("callback", "event")

    def __init__(self, event: TimeEvent, callback: TimeEventCallback) -> None:
        self.event = event
        self.callback = callback

    def handle(self) -> None:
        self.callback(self.event)

    def __repr__(self) -> str:
        return f"TimeEventHandler({self.event!r}, {self.callback!r})"


class UnknownTimerError(LookupError):
    """No alert or timer with the given name is set on this clock."""


def unix_nanos_to_datetime(ts_ns: int) -> datetime:
    """UTC datetime of a nanosecond timestamp (truncated to microseconds, the datetime resolution)."""
    return _EPOCH + timedelta(microseconds=ts_ns // 1_000)


def unix_nanos_to_iso8601(ts_ns: int) -> str:
    """ISO-8601 UTC text of a nanosecond timestamp with all nine decimals, e.g. `2024-01-02T03:04:05.000000001Z`."""
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    whole = _EPOCH + timedelta(seconds=seconds)
    return f"{whole:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


class Clock(ABC):
    """What every clock offers: the current time and named one-shot alerts and repeating timers.

    Names are unique across alerts and timers. Callbacks receive a `TimeEvent`. Alerts and timers that have
    fired for the last time disappear from `timer_names`.
    """

    @abstractmethod
    def timestamp_ns(self) -> int:
        """Current time in nanoseconds since the Unix epoch (UTC)."""

    def timestamp(self) -> float:
        """Current time in seconds since the Unix epoch (float; for display and arithmetic, not for keys)."""
        return self.timestamp_ns() / 1_000_000_000

    def utc_now(self) -> datetime:
        """Current time as a timezone-aware UTC datetime, derived from `timestamp_ns()`."""
        return unix_nanos_to_datetime(self.timestamp_ns())

    @property
    @abstractmethod
    def timer_names(self) -> list[str]:
        """Names of the pending alerts and timers, in the order they were set."""

    @property
    def timer_count(self) -> int:
        """Number of pending alerts and timers."""
        return len(self.timer_names)

    @abstractmethod
    def next_time_ns(self, name: str) -> int:
        """Next fire time of the alert or timer `name`; `UnknownTimerError` if there is none."""

    @abstractmethod
    def set_time_alert(
        self, name: str, alert_time_ns: int, callback: TimeEventCallback, allow_past: bool = False
    ) -> None:
        """Call `callback` once at `alert_time_ns`.

        An alert time before now is a `ValueError` unless `allow_past`, in which case the alert fires at the
        current time.
        """

    @abstractmethod
    def set_timer(
        self,
        name: str,
        interval_ns: int,
        callback: TimeEventCallback,
        start_time_ns: int | None = None,
        stop_time_ns: int | None = None,
        fire_immediately: bool = False,
    ) -> None:
        """Call `callback` every `interval_ns` from `start_time_ns` (default now).

        The first fire is at `start + interval`, or at `start` if `fire_immediately`. The timer fires at
        every such time up to and including `stop_time_ns` (default: forever) and is then removed.
        """

    @abstractmethod
    def cancel_timer(self, name: str) -> None:
        """Remove the alert or timer `name`; `UnknownTimerError` if there is none."""

    def cancel_timers(self) -> None:
        """Remove every pending alert and timer."""
        for name in self.timer_names:
            self.cancel_timer(name)

    # -- validation shared by the implementations -------------------------------------------------------------

    def _check_new_name(self, name: str, callback: TimeEventCallback) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"timer name must be a non-empty string, got {name!r}")
        if name in self._pending_names():
            raise ValueError(f"a timer or alert named {name!r} is already set on this clock")
        if not callable(callback):
            raise TypeError(f"callback of timer {name!r} must be callable, got {type(callback).__name__}")

    def _pending_names(self) -> set[str] | dict[str, object]:
        """Container of pending names supporting `in` (override with something cheaper than a list)."""
        return set(self.timer_names)

    def _alert_fire_time(self, name: str, alert_time_ns: int, allow_past: bool, now_ns: int) -> int:
        if alert_time_ns < now_ns:
            if not allow_past:
                raise ValueError(
                    f"time alert {name!r}: alert time {alert_time_ns} is before the current time {now_ns} "
                    "(pass allow_past=True to fire it at the current time)"
                )
            return now_ns
        return alert_time_ns

    @staticmethod
    def _timer_first_fire_time(
        name: str,
        interval_ns: int,
        start_time_ns: int | None,
        stop_time_ns: int | None,
        fire_immediately: bool,
        now_ns: int,
    ) -> int:
        if isinstance(interval_ns, bool) or not isinstance(interval_ns, int) or interval_ns <= 0:
            raise ValueError(f"timer {name!r}: interval must be a positive integer of nanoseconds, got {interval_ns!r}")
        start = now_ns if start_time_ns is None else start_time_ns
        first = start if fire_immediately else start + interval_ns
        if first < now_ns:
            raise ValueError(
                f"timer {name!r}: first fire time {first} (start {start}) is before the current time {now_ns}"
            )
        if stop_time_ns is not None and stop_time_ns < first:
            raise ValueError(f"timer {name!r}: stop time {stop_time_ns} is before the first fire time {first}")
        return first

    def _unknown(self, name: str) -> UnknownTimerError:
        names = ", ".join(repr(n) for n in self.timer_names) or "none"
        return UnknownTimerError(f"no timer or alert named {name!r} on this clock (pending: {names})")


class _ScheduledTimer:
    """Book-keeping of one alert or timer of a `TestClock` (interval 0 means a one-shot alert)."""

    __slots__ = ("callback", "cancelled", "interval_ns", "name", "next_time_ns", "sequence", "stop_time_ns")

    def __init__(
        self,
        name: str,
        callback: TimeEventCallback,
        next_time_ns: int,
        interval_ns: int,
        stop_time_ns: int | None,
        sequence: int,
    ) -> None:
        self.name = name
        self.callback = callback
        self.next_time_ns = next_time_ns
        self.interval_ns = interval_ns
        self.stop_time_ns = stop_time_ns
        self.sequence = sequence
        self.cancelled = False


class TestClock(Clock):
    """A simulated clock for backtests and tests: time only moves through `set_time` and `advance_time`.

    Pending fires live in a heap of `(fire_ns, sequence, timer)` where `sequence` numbers timers in the
    order they were set; that gives the event order documented on `advance_time`. Cancelled timers are
    dropped lazily from the heap (which is compacted when they pile up), but `next_event_ns` always names a
    live fire time.
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, start_ns: int = 0) -> None:
        self._time_ns = start_ns
        self._timers: dict[str, _ScheduledTimer] = {}
        self._heap: list[tuple[int, int, _ScheduledTimer]] = []
        self._sequence = 0
        self._stale_in_heap = 0
        self.next_event_ns: int = NO_PENDING_EVENT_NS
        """Earliest pending fire time, or `NO_PENDING_EVENT_NS`; read it per data point instead of calling."""

    def timestamp_ns(self) -> int:
        return self._time_ns

    def set_time(self, to_time_ns: int) -> None:
        """Move the clock to `to_time_ns` without firing anything; `ValueError` if that is in the past."""
        if to_time_ns < self._time_ns:
            raise ValueError(f"TestClock cannot go backwards: current time {self._time_ns}, requested {to_time_ns}")
        self._time_ns = to_time_ns

    def reset(self, start_ns: int = 0) -> None:
        """Drop every alert and timer and put the clock at `start_ns` (the only way to move time back)."""
        self._time_ns = start_ns
        for timer in self._timers.values():
            timer.cancelled = True
        self._timers.clear()
        self._heap.clear()
        self._stale_in_heap = 0
        self.next_event_ns = NO_PENDING_EVENT_NS

    @property
    def timer_names(self) -> list[str]:
        return list(self._timers)

    @property
    def timer_count(self) -> int:
        return len(self._timers)

    def _pending_names(self) -> dict[str, _ScheduledTimer]:
        return self._timers

    def next_time_ns(self, name: str) -> int:
        timer = self._timers.get(name)
        if timer is None:
            raise self._unknown(name)
        return timer.next_time_ns

    def set_time_alert(
        self, name: str, alert_time_ns: int, callback: TimeEventCallback, allow_past: bool = False
    ) -> None:
        self._check_new_name(name, callback)
        fire_ns = self._alert_fire_time(name, alert_time_ns, allow_past, self._time_ns)
        self._schedule(_ScheduledTimer(name, callback, fire_ns, 0, None, self._next_sequence()))

    def set_timer(
        self,
        name: str,
        interval_ns: int,
        callback: TimeEventCallback,
        start_time_ns: int | None = None,
        stop_time_ns: int | None = None,
        fire_immediately: bool = False,
    ) -> None:
        self._check_new_name(name, callback)
        first = self._timer_first_fire_time(
            name, interval_ns, start_time_ns, stop_time_ns, fire_immediately, self._time_ns
        )
        self._schedule(_ScheduledTimer(name, callback, first, interval_ns, stop_time_ns, self._next_sequence()))

    def cancel_timer(self, name: str) -> None:
        timer = self._timers.pop(name, None)
        if timer is None:
            raise self._unknown(name)
        timer.cancelled = True
        self._stale_in_heap += 1
        if self._stale_in_heap > _COMPACT_MIN_STALE and 2 * self._stale_in_heap > len(self._heap):
            self._heap = [entry for entry in self._heap if not entry[2].cancelled]
            heapq.heapify(self._heap)
            self._stale_in_heap = 0
        self._drop_cancelled_head()

    def cancel_timers(self) -> None:
        self.reset(self._time_ns)

    def advance_time(self, to_time_ns: int, set_time: bool = True) -> list[TimeEventHandler]:
        """Collect every alert and timer fire due at or before `to_time_ns`; optionally move the clock there.

        The handlers come sorted by fire time and, at one fire time, in the order the alerts/timers were set.
        A repeating timer yields one event per due interval. Each event has `ts_event == ts_init ==` its fire
        time. Nothing is called: the caller runs `handler.handle()` (usually after `set_time(event.ts_event)`
        when `set_time=False`, so callbacks see the time of their event). `ValueError` if `to_time_ns` is
        before the current time.
        """
        if to_time_ns < self._time_ns:
            raise ValueError(f"TestClock cannot go backwards: current time {self._time_ns}, requested {to_time_ns}")
        handlers: list[TimeEventHandler] = []
        if self.next_event_ns <= to_time_ns:
            heap = self._heap
            timers = self._timers
            heappop = heapq.heappop
            heappush = heapq.heappush
            while heap and heap[0][0] <= to_time_ns:
                fire_ns, sequence, timer = heappop(heap)
                if timer.cancelled:
                    self._stale_in_heap -= 1
                    continue
                handlers.append(TimeEventHandler(TimeEvent(timer.name, fire_ns, fire_ns), timer.callback))
                interval = timer.interval_ns
                next_ns = fire_ns + interval
                if interval == 0 or (timer.stop_time_ns is not None and next_ns > timer.stop_time_ns):
                    timer.cancelled = True
                    del timers[timer.name]
                else:
                    timer.next_time_ns = next_ns
                    heappush(heap, (next_ns, sequence, timer))
            self._drop_cancelled_head()
        if set_time:
            self._time_ns = to_time_ns
        return handlers

    # -- internals -------------------------------------------------------------------------------------------

    def _next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    def _schedule(self, timer: _ScheduledTimer) -> None:
        self._timers[timer.name] = timer
        heapq.heappush(self._heap, (timer.next_time_ns, timer.sequence, timer))
        if timer.next_time_ns < self.next_event_ns:
            self.next_event_ns = timer.next_time_ns

    def _drop_cancelled_head(self) -> None:
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
            self._stale_in_heap -= 1
        self.next_event_ns = heap[0][0] if heap else NO_PENDING_EVENT_NS


class LiveClock(Clock):
    """Wall-clock time (`time.time_ns`) with alerts and timers fired on an asyncio event loop.

    Scheduling reuses `TestClock`'s rules (one heap, fires in time order, ties in the order set) moved
    along by the wall clock; a single `loop.call_later` handle waits for the earliest fire. Timers may be
    set before a loop is attached (`attach(loop)`); they start once it is. A callback that raises is
    logged and does not stop other timers. Timer events carry their scheduled time as `ts_event`.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._scheduler = TestClock(time.time_ns())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._on_error: Callable[[TimeEvent, BaseException], None] | None = None
        if loop is not None:
            self.attach(loop)

    # -- time ----------------------------------------------------------------------------------------------
    def timestamp_ns(self) -> int:
        return time.time_ns()

    def _sync(self) -> int:
        now = time.time_ns()
        if now > self._scheduler.timestamp_ns():
            self._scheduler.set_time(now)
        return self._scheduler.timestamp_ns()

    # -- loop ----------------------------------------------------------------------------------------------
    def attach(
        self, loop: asyncio.AbstractEventLoop, on_error: Callable[[TimeEvent, BaseException], None] | None = None
    ) -> None:
        """Fire timers on `loop` from now on; `on_error` receives callbacks' exceptions (default: log)."""
        self._loop = loop
        self._on_error = on_error
        self._reschedule()

    def detach(self) -> None:
        """Stop firing (pending timers are kept)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._loop = None

    def _reschedule(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        loop = self._loop
        due = self._scheduler.next_event_ns
        if loop is None or due == NO_PENDING_EVENT_NS or loop.is_closed():
            return
        delay = max(0.0, (due - time.time_ns()) / 1e9)
        self._handle = loop.call_later(delay, self._fire)

    def _fire(self) -> None:
        self._handle = None
        handlers = self._scheduler.advance_time(self._sync())
        for handler in handlers:
            try:
                handler.handle()
            except Exception as exc:  # a user's timer callback must not stop the clock
                if self._on_error is not None:
                    self._on_error(handler.event, exc)
                else:
                    logging.getLogger("toolkit").exception("timer %r raised", handler.event.name)
        self._reschedule()

    # -- timers --------------------------------------------------------------------------------------------
    @property
    def timer_names(self) -> list[str]:
        return self._scheduler.timer_names

    @property
    def timer_count(self) -> int:
        return self._scheduler.timer_count

    def next_time_ns(self, name: str) -> int:
        return self._scheduler.next_time_ns(name)

    def set_time_alert(
        self, name: str, alert_time_ns: int, callback: TimeEventCallback, allow_past: bool = False
    ) -> None:
        self._sync()
        self._scheduler.set_time_alert(name, alert_time_ns, callback, allow_past)
        self._reschedule()

    def set_timer(
        self,
        name: str,
        interval_ns: int,
        callback: TimeEventCallback,
        start_time_ns: int | None = None,
        stop_time_ns: int | None = None,
        fire_immediately: bool = False,
    ) -> None:
        self._sync()
        self._scheduler.set_timer(name, interval_ns, callback, start_time_ns, stop_time_ns, fire_immediately)
        self._reschedule()

    def cancel_timer(self, name: str) -> None:
        self._scheduler.cancel_timer(name)
        self._reschedule()

    def cancel_timers(self) -> None:
        self._scheduler.cancel_timers()
        self._reschedule()
