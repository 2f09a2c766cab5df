"""Internal bar aggregation: bars built by the node itself from quotes or trades.

An aggregator receives every quote or trade of one instrument and emits `Bar`s of one INTERNAL
`BarType` through a handler: by tick count (`TICK`), by traded or quoted volume (`VOLUME`; a tick
that overflows the step is split across bars so no size is lost or double counted), or by time
(`SECOND`...`DAY`; a clock timer aligned to the step closes each bar, stamped with the close time;
intervals without any update produce no bar). Quotes feed BID, ASK or MID bars (MID prices and
sizes carry one more decimal so they stay exact); trades feed LAST bars.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from toolkit.model.data import Bar, BarType, QuoteTick, TradeTick
from toolkit.model.enums import BarAggregation, PriceType
from toolkit.model.instruments import Instrument

if TYPE_CHECKING:
    from toolkit.core.clock import Clock, TimeEvent


class BarBuilder:
    """Accumulates OHLCV on raw integers between two bar closes."""

    __slots__ = ("close", "count", "high", "low", "open", "volume")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.open: int | None = None
        self.high = 0
        self.low = 0
        self.close = 0
        self.volume = 0
        self.count = 0

    def update(self, price: int, size: int) -> None:
        if self.open is None:
            self.open = self.high = self.low = price
        elif price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.close = price
        self.volume += size
        self.count += 1


class BarAggregator:
    """Base: turns quotes/trades into price and size updates and emits bars of `bar_type`."""

    def __init__(self, bar_type: BarType, instrument: Instrument, handler: Callable[[Bar], None]) -> None:
        if not bar_type.is_internal:
            raise ValueError(f"bar type {bar_type} is EXTERNAL: only INTERNAL bar types are aggregated")
        self.bar_type = bar_type
        self.handler = handler
        self.price_type = bar_type.spec.price_type
        self.step = bar_type.spec.step
        # MID prices and sizes are halves of two values on the grid: one more decimal keeps them exact.
        extra = 1 if self.price_type is PriceType.MID else 0
        self.price_precision = min(instrument.price_precision + extra, 9)
        self.size_precision = min(instrument.size_precision + extra, 9)
        self.builder = BarBuilder()

    def handle_quote_tick(self, tick: QuoteTick) -> None:
        pt = self.price_type
        if pt is PriceType.BID:
            self.update(tick.bid_raw, tick.bid_size_raw, tick.ts_init)
        elif pt is PriceType.ASK:
            self.update(tick.ask_raw, tick.ask_size_raw, tick.ts_init)
        else:
            self.update((tick.bid_raw + tick.ask_raw) // 2, (tick.bid_size_raw + tick.ask_size_raw) // 2, tick.ts_init)

    def handle_trade_tick(self, tick: TradeTick) -> None:
        self.update(tick.price_raw, tick.size_raw, tick.ts_init)

    def update(self, price: int, size: int, ts: int) -> None:
        raise NotImplementedError

    def _emit(self, ts: int) -> None:
        b = self.builder
        if b.open is None:
            return
        bar = Bar(
            self.bar_type,
            b.open,
            b.high,
            b.low,
            b.close,
            b.volume,
            self.price_precision,
            self.size_precision,
            ts,
            ts,
        )
        b.reset()
        self.handler(bar)

    def stop(self) -> None:
        """Release timers (time bars)."""


class TickBarAggregator(BarAggregator):
    def update(self, price: int, size: int, ts: int) -> None:
        self.builder.update(price, size)
        if self.builder.count >= self.step:
            self._emit(ts)


class VolumeBarAggregator(BarAggregator):
    def __init__(self, bar_type: BarType, instrument: Instrument, handler: Callable[[Bar], None]) -> None:
        super().__init__(bar_type, instrument, handler)
        self.step_raw = self.step * 10**9  # the step is in whole units of quantity

    def update(self, price: int, size: int, ts: int) -> None:
        builder = self.builder
        while True:
            room = self.step_raw - builder.volume
            if size < room:
                if size > 0 or builder.open is None:
                    builder.update(price, size)
                return
            builder.update(price, room)
            self._emit(ts)
            size -= room
            if size == 0:
                return


class TimeBarAggregator(BarAggregator):
    """Closes a bar on each aligned interval boundary via a clock timer."""

    def __init__(self, bar_type: BarType, instrument: Instrument, handler: Callable[[Bar], None], clock: Clock) -> None:
        super().__init__(bar_type, instrument, handler)
        interval = bar_type.spec.timedelta_ns
        if interval is None:
            raise ValueError(f"bar type {bar_type} is not time-aggregated")
        self.clock = clock
        self.interval_ns = interval
        now = clock.timestamp_ns()
        start = now - now % interval
        self.timer_name = f"bar-aggregator:{bar_type}"
        clock.set_timer(self.timer_name, interval, self._on_timer, start_time_ns=start)

    def update(self, price: int, size: int, ts: int) -> None:
        self.builder.update(price, size)

    def _on_timer(self, event: TimeEvent) -> None:
        self._emit(event.ts_event)

    def stop(self) -> None:
        if self.timer_name in self.clock.timer_names:
            self.clock.cancel_timer(self.timer_name)


def make_aggregator(
    bar_type: BarType, instrument: Instrument, handler: Callable[[Bar], None], clock: Clock
) -> BarAggregator:
    """The aggregator for an INTERNAL bar type; a clear error for what is not supported."""
    aggregation = bar_type.spec.aggregation
    if aggregation is BarAggregation.TICK:
        return TickBarAggregator(bar_type, instrument, handler)
    if aggregation is BarAggregation.VOLUME:
        return VolumeBarAggregator(bar_type, instrument, handler)
    if bar_type.spec.is_time_aggregated:
        return TimeBarAggregator(bar_type, instrument, handler, clock)
    raise ValueError(f"bar type {bar_type}: {aggregation.value} aggregation is not supported")
