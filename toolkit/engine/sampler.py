"""Price sampling for snapshots: the last price of every instrument with data, every `interval_ns`.

A repeating timer on the kernel clock (simulated in a backtest, wall time live) records, for each
instrument the cache has prices for, its mark price at that moment (quote mid, else last trade, else bar
close). The rows become the snapshot's `prices/` table, which the analysis apps chart with the fills.
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

    def start(self) -> None:
        now = self.clock.timestamp_ns()
        start = now - now % self.interval_ns
        self.clock.set_timer(TIMER_NAME, self.interval_ns, self._sample, start_time_ns=start)

    def stop(self) -> None:
        if TIMER_NAME in self.clock.timer_names:
            self.clock.cancel_timer(TIMER_NAME)

    def _sample(self, event: TimeEvent) -> None:
        self.sample(event.ts_event)

    def sample(self, ts: int) -> None:
        version = (self.cache.generation, self.cache.instruments_version)
        if version != self._known:  # refresh the instrument list only when the cache's instruments changed
            self._instruments = [(i.id, str(i.id), i.price_precision) for i in self.cache.instruments()]
            self._known = version
        last_price_raw = self.cache.last_price_raw
        for iid, text, precision in self._instruments:
            raw = last_price_raw(iid)  # type: ignore[arg-type]
            if raw is not None:
                self.rows.append((ts, text, raw, precision))
