"""Price sampling for snapshots: the last price of every instrument with data, every `interval_ns`.

Every `interval_ns` on the kernel clock it records, for each instrument the cache has prices for, its mark
price at that moment (quote mid, else last trade, else bar close). The rows become the snapshot's `prices/`
table, which the analysis apps chart with the fills. Live, a repeating timer on the clock drives it
(`start`); a backtest engine drives it itself (`start_driven`, then `sample_due` at each `next_due_ns`),
at the same times and before the clock's timers of the same time, as the timer would fire: a timer per
one-minute bar would cost more than the sample.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toolkit.core.cache import Cache
    from toolkit.core.clock import Clock, TimeEvent

TIMER_NAME = "toolkit.price_sampler"


class PriceSampler:
    def __init__(self, clock: Clock, cache: Cache, interval_ns: int) -> None:
        if interval_ns <= 0:
            raise ValueError(f"price sample interval must be positive, got {interval_ns}")
        self.clock = clock
        self.cache = cache
        self.interval_ns = interval_ns
        self.rows: list[tuple[int, str, int, int]] = []  # (ts, instrument id, raw price, precision)
        self._instruments: list[tuple[object, str, int]] = []  # (id, id text, precision), refreshed on change
        self._known: tuple[int, int] = (-1, -1)

        self.next_due_ns: int | None = None
        """With `start_driven`: the next sample time, which the driver passes to `sample_due`."""

    def start(self) -> None:
        """Sample on a repeating clock timer, at every multiple of the interval after now."""
        now = self.clock.timestamp_ns()
        start = now - now % self.interval_ns
        self.clock.set_timer(TIMER_NAME, self.interval_ns, self._sample, start_time_ns=start)

    def start_driven(self) -> None:
        """Sample at the same times as `start`, but only when the driver calls `sample_due` (no clock timer)."""
        now = self.clock.timestamp_ns()
        self.next_due_ns = now - now % self.interval_ns + self.interval_ns

    def sample_due(self) -> None:
        """Take the sample due at `next_due_ns` (the clock is there) and move to the next interval."""
        due = self.next_due_ns
        assert due is not None, "start_driven() first"
        self.sample(due)
        self.next_due_ns = due + self.interval_ns

    def stop(self) -> None:
        self.next_due_ns = None
        if TIMER_NAME in self.clock.timer_names:
            self.clock.cancel_timer(TIMER_NAME)

    def _sample(self, event: TimeEvent) -> None:
        self.sample(event.ts_event)

    def sample(self, ts: int) -> None:
        cache = self.cache
        known = self._known
        if cache.generation != known[0] or cache.instruments_version != known[1]:
            # refresh the instrument list only when the cache's instruments changed
            self._instruments = [(i.id, str(i.id), i.price_precision) for i in cache.instruments()]
            self._known = (cache.generation, cache.instruments_version)
        last_price_raw = self.cache.last_price_raw
        for iid, text, precision in self._instruments:
            raw = last_price_raw(iid)  # type: ignore[arg-type]
            if raw is not None:
                self.rows.append((ts, text, raw, precision))
