"""Rate limits of the risk engine: "LIMIT/HH:MM:SS" strings and a sliding-window throttle on a clock.

`parse_rate("100/00:00:01")` gives (100, 1_000_000_000): at most 100 events per second. A `Throttle`
admits an event at `now_ns` when fewer than `limit` events were admitted in the window
(now - interval, now]; refused events are not counted, so a burst is cut at exactly `limit` and the
window frees up one slot each time its oldest event falls out. Times come from the caller (the
kernel clock), never from the wall clock, so backtests and live runs throttle the same way.
"""

from __future__ import annotations

import re
from collections import deque

_RATE = re.compile(r"^\s*(?P<limit>\d+)\s*/\s*(?P<h>\d+):(?P<m>\d{2}):(?P<s>\d{2})\s*$")
_SECOND_NS = 1_000_000_000


def parse_rate(text: str) -> tuple[int, int]:
    """(limit, interval in ns) from "LIMIT/HH:MM:SS"; ValueError saying what is wrong otherwise."""
    match = _RATE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a rate: expected 'LIMIT/HH:MM:SS', e.g. '100/00:00:01'")
    limit = int(match["limit"])
    minutes, seconds = int(match["m"]), int(match["s"])
    if minutes > 59 or seconds > 59:
        raise ValueError(f"{text!r}: minutes and seconds must be 00..59")
    interval_ns = (int(match["h"]) * 3600 + minutes * 60 + seconds) * _SECOND_NS
    if limit <= 0:
        raise ValueError(f"{text!r}: the limit must be at least 1")
    if interval_ns <= 0:
        raise ValueError(f"{text!r}: the interval must be longer than 00:00:00")
    return limit, interval_ns


class Throttle:
    """At most `limit` admitted events in any window of `interval_ns`; see the module docstring."""

    def __init__(self, limit: int, interval_ns: int) -> None:
        if limit <= 0 or interval_ns <= 0:
            raise ValueError(f"Throttle needs a positive limit and interval, got {limit} per {interval_ns} ns")
        self.limit = limit
        self.interval_ns = interval_ns
        self._admitted: deque[int] = deque()

    @classmethod
    def from_rate(cls, text: str) -> Throttle:
        return cls(*parse_rate(text))

    def try_admit(self, now_ns: int) -> bool:
        """Admit (and count) an event at `now_ns` if the window has room; False, uncounted, if not."""
        cutoff = now_ns - self.interval_ns
        admitted = self._admitted
        while admitted and admitted[0] <= cutoff:
            admitted.popleft()
        if len(admitted) >= self.limit:
            return False
        admitted.append(now_ns)
        return True

    def used(self, now_ns: int) -> int:
        """Events admitted in the window ending at `now_ns`."""
        cutoff = now_ns - self.interval_ns
        return sum(1 for ts in self._admitted if ts > cutoff)

    def reset(self) -> None:
        self._admitted.clear()
