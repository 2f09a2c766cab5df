"""Incremental technical indicators fed one market data event at a time, in backtests and live.

Every indicator derives from `Indicator` and is updated through `handle_quote_tick` (the BID, ASK or
MID price chosen by the indicator's `price_type`), `handle_trade_tick` (the trade price),
`handle_bar` (the close; `AverageTrueRange` uses high, low and close) or `update_raw(value)` with a
plain float. Updates run on the hot path, once per event: they read the raw fixed-point ints of the
data directly (no `Price` objects), keep O(1) state (a running sum or a recursive average) and use
`__slots__`. Values are floats, meant for signals and charts, never for money. `count` is the number
of inputs received, `has_inputs` whether there was at least one, and `initialized` whether there
were enough inputs for the value to mean what the indicator's name says (for most, `period`
inputs; for `RelativeStrengthIndex`, `period + 1`, because it works on changes). Before that the
value is a best effort over the inputs seen so far. Rolling sums are recomputed exactly with
`math.fsum` every `max(period, 1024)` updates so float drift cannot build up over long runs.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

from toolkit.model.enums import PriceType
from toolkit.model.objects import FIXED_SCALE

if TYPE_CHECKING:
    from toolkit.model.data import Bar, QuoteTick, TradeTick

__all__ = [
    "ATR",
    "EMA",
    "RSI",
    "SMA",
    "AverageTrueRange",
    "BollingerBands",
    "ExponentialMovingAverage",
    "Indicator",
    "RelativeStrengthIndex",
    "SimpleMovingAverage",
    "WilderMovingAverage",
]

# Raw fixed-point ints divided by these give the price as a float (int / int division is correctly rounded).
_SCALE = FIXED_SCALE
_TWO_SCALE = 2 * FIXED_SCALE

# Which quote price an indicator reads, as small ints so the hot path compares ints, not enums.
_QUOTE_MID = 0
_QUOTE_BID = 1
_QUOTE_ASK = 2
_QUOTE_SIDE_OF = {PriceType.MID: _QUOTE_MID, PriceType.BID: _QUOTE_BID, PriceType.ASK: _QUOTE_ASK}

# A rolling sum is recomputed from its window at least this rarely (and at least once per window turn).
_MIN_RESUM_INTERVAL = 1024

_MA_TYPES = ("wilder", "simple", "exponential")


def _check_period(owner: str, period: object) -> int:
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise ValueError(f"{owner}: period must be an int >= 1, got {period!r}")
    return period


class Indicator:
    """Base of all indicators: the input handlers, the counters and `reset()`.

    Subclasses implement `update_raw(value)` and, when they keep more state, extend `reset()`.
    `handle_quote_tick` reads the price chosen by `price_type` (BID, ASK or MID; LAST is refused
    because a quote has no last price), `handle_trade_tick` the trade price, `handle_bar` the close.
    """

    __slots__ = ("_quote_side", "count", "has_inputs", "initialized", "name", "price_type")

    def __init__(self, name: str, price_type: PriceType = PriceType.MID) -> None:
        side = _QUOTE_SIDE_OF.get(price_type) if isinstance(price_type, str) else None
        if side is None:
            raise ValueError(f"{type(self).__name__}: price_type must be BID, ASK or MID, got {price_type!r}")
        self.name = name
        self.price_type = PriceType(price_type)
        self._quote_side = side
        self.count = 0
        self.has_inputs = False
        self.initialized = False

    def __repr__(self) -> str:
        return self.name

    def reset(self) -> None:
        """Forget every input, as if just constructed."""
        self.count = 0
        self.has_inputs = False
        self.initialized = False

    def handle_quote_tick(self, tick: QuoteTick) -> None:
        side = self._quote_side
        if side == _QUOTE_MID:
            self.update_raw((tick.bid_raw + tick.ask_raw) / _TWO_SCALE)
        elif side == _QUOTE_BID:
            self.update_raw(tick.bid_raw / _SCALE)
        else:
            self.update_raw(tick.ask_raw / _SCALE)

    def handle_trade_tick(self, tick: TradeTick) -> None:
        self.update_raw(tick.price_raw / _SCALE)

    def handle_bar(self, bar: Bar) -> None:
        self.update_raw(bar.close_raw / _SCALE)

    def update_raw(self, value: float) -> None:
        """Feed one plain float input."""
        raise NotImplementedError(f"{type(self).__name__} does not implement update_raw")


class SimpleMovingAverage(Indicator):
    """Arithmetic mean of the last `period` inputs (before `period` inputs: the mean of those seen)."""

    __slots__ = ("_resum_interval", "_sum", "_updates_since_resum", "_window", "period", "value")

    def __init__(self, period: int, price_type: PriceType = PriceType.MID) -> None:
        self.period = _check_period("SimpleMovingAverage", period)
        super().__init__(f"SimpleMovingAverage({period}, {price_type})", price_type)
        self._window: deque[float] = deque(maxlen=period)
        self._resum_interval = max(period, _MIN_RESUM_INTERVAL)
        self._sum = 0.0
        self._updates_since_resum = 0
        self.value = 0.0

    def reset(self) -> None:
        super().reset()
        self._window.clear()
        self._sum = 0.0
        self._updates_since_resum = 0
        self.value = 0.0

    def update_raw(self, value: float) -> None:
        window = self._window
        if len(window) == self.period:
            self._sum += value - window[0]  # the deque drops window[0] on append
        else:
            self._sum += value
        window.append(value)
        self._updates_since_resum += 1
        if self._updates_since_resum >= self._resum_interval:
            self._sum = math.fsum(window)
            self._updates_since_resum = 0
        self.value = self._sum / len(window)
        self.has_inputs = True
        self.count += 1
        if not self.initialized and self.count >= self.period:
            self.initialized = True


class ExponentialMovingAverage(Indicator):
    """EMA with `alpha = 2 / (period + 1)`; the first input is the first value.

    `initialized` once `period` inputs were seen. `handle_quote_tick` is inlined: a few float
    operations per tick (`value += alpha * (x - value)`) and no allocation besides the floats.
    """

    __slots__ = ("alpha", "period", "value")

    def __init__(self, period: int, price_type: PriceType = PriceType.MID) -> None:
        self.period = _check_period("ExponentialMovingAverage", period)
        super().__init__(f"ExponentialMovingAverage({period}, {price_type})", price_type)
        self.alpha = 2.0 / (period + 1.0)
        self.value = 0.0

    def reset(self) -> None:
        super().reset()
        self.value = 0.0

    def handle_quote_tick(self, tick: QuoteTick) -> None:
        side = self._quote_side
        if side == _QUOTE_MID:
            price = (tick.bid_raw + tick.ask_raw) / _TWO_SCALE
        elif side == _QUOTE_BID:
            price = tick.bid_raw / _SCALE
        else:
            price = tick.ask_raw / _SCALE
        if self.initialized:
            self.value += self.alpha * (price - self.value)
            self.count += 1
        else:
            self.update_raw(price)

    def handle_bar(self, bar: Bar) -> None:
        if self.initialized:  # inlined like handle_quote_tick: one bar, one float update
            self.value += self.alpha * (bar.close_raw / _SCALE - self.value)
            self.count += 1
        else:
            self.update_raw(bar.close_raw / _SCALE)

    def update_raw(self, value: float) -> None:
        if self.has_inputs:
            self.value += self.alpha * (value - self.value)
        else:
            self.value = value
            self.has_inputs = True
        self.count += 1
        if not self.initialized and self.count >= self.period:
            self.initialized = True


class WilderMovingAverage(Indicator):
    """Wilder's smoothing (also called RMA or SMMA): `value += (x - value) / period`.

    As in Wilder's definition, the recursion is seeded with the simple mean of the first `period`
    inputs; before that the value is the mean of the inputs seen so far. `initialized` at `period`
    inputs.
    """

    __slots__ = ("period", "value")

    def __init__(self, period: int, price_type: PriceType = PriceType.MID) -> None:
        self.period = _check_period("WilderMovingAverage", period)
        super().__init__(f"WilderMovingAverage({period}, {price_type})", price_type)
        self.value = 0.0

    def reset(self) -> None:
        super().reset()
        self.value = 0.0

    def update_raw(self, value: float) -> None:
        count = self.count + 1
        self.count = count
        if count <= self.period:
            self.value += (value - self.value) / count  # running mean of the seed inputs
            if count == self.period:
                self.initialized = True
        else:
            self.value += (value - self.value) / self.period
        self.has_inputs = True


class AverageTrueRange(Indicator):
    """Average of the true range over `period` bars.

    True range = `max(high, previous close) - min(low, previous close)` when `use_previous_close`
    and a previous bar exists, else `high - low`. `ma_type` picks the average: "wilder" (default,
    Wilder's original: seeded with the simple mean of the first `period` ranges, see
    `WilderMovingAverage`), "simple" (rolling mean) or "exponential" (EMA, alpha = 2 / (period + 1)).
    Fed from bars (`handle_bar`, or `update_hlc` with floats). A tick or `update_raw(x)` counts as a
    bar with high = low = close = x, so its true range is the move from the previous price.
    `initialized` once `period` inputs were seen.
    """

    __slots__ = ("_average", "_previous_close", "ma_type", "period", "use_previous_close", "value")

    def __init__(
        self,
        period: int,
        ma_type: str = "wilder",
        use_previous_close: bool = True,
        price_type: PriceType = PriceType.MID,
    ) -> None:
        self.period = _check_period("AverageTrueRange", period)
        kind = ma_type.lower() if isinstance(ma_type, str) else None
        if kind not in _MA_TYPES:
            raise ValueError(f"AverageTrueRange: ma_type must be one of {', '.join(_MA_TYPES)}, got {ma_type!r}")
        super().__init__(f"AverageTrueRange({period}, {kind})", price_type)
        self.ma_type = kind
        self.use_previous_close = bool(use_previous_close)
        self._average: WilderMovingAverage | SimpleMovingAverage | ExponentialMovingAverage
        if kind == "wilder":
            self._average = WilderMovingAverage(period)
        elif kind == "simple":
            self._average = SimpleMovingAverage(period)
        else:
            self._average = ExponentialMovingAverage(period)
        self._previous_close = 0.0
        self.value = 0.0

    def reset(self) -> None:
        super().reset()
        self._average.reset()
        self._previous_close = 0.0
        self.value = 0.0

    def handle_bar(self, bar: Bar) -> None:
        self.update_hlc(bar.high_raw / _SCALE, bar.low_raw / _SCALE, bar.close_raw / _SCALE)

    def update_raw(self, value: float) -> None:
        self.update_hlc(value, value, value)

    def update_hlc(self, high: float, low: float, close: float) -> None:
        """Feed one bar given as floats."""
        if self.use_previous_close and self.has_inputs:
            previous = self._previous_close
            true_range = (high if high > previous else previous) - (low if low < previous else previous)
        else:
            true_range = high - low
        self._previous_close = close
        average = self._average
        average.update_raw(true_range)
        self.value = average.value
        self.has_inputs = True
        self.count += 1
        if not self.initialized and self.count >= self.period:
            self.initialized = True


class BollingerBands(Indicator):
    """Bands at `k` population standard deviations around the simple mean of the last `period` inputs.

    `middle` is the rolling mean, `std` the population standard deviation of the window (divided by
    the window length), `upper = middle + k * std`, `lower = middle - k * std`. Mean and squared
    deviations are updated in O(1) per input and recomputed exactly every `max(period, 1024)`
    inputs. Before `period` inputs the bands use the inputs seen so far; `initialized` at `period`.
    """

    __slots__ = (
        "_mean",
        "_resum_interval",
        "_squared_deviations",
        "_updates_since_resum",
        "_window",
        "k",
        "lower",
        "middle",
        "period",
        "std",
        "upper",
    )

    def __init__(self, period: int, k: float = 2.0, price_type: PriceType = PriceType.MID) -> None:
        self.period = _check_period("BollingerBands", period)
        if isinstance(k, bool) or not isinstance(k, int | float) or not math.isfinite(k) or k <= 0:
            raise ValueError(f"BollingerBands: k must be a finite number > 0, got {k!r}")
        super().__init__(f"BollingerBands({period}, {k}, {price_type})", price_type)
        self.k = float(k)
        self._window: deque[float] = deque(maxlen=period)
        self._resum_interval = max(period, _MIN_RESUM_INTERVAL)
        self._mean = 0.0
        self._squared_deviations = 0.0
        self._updates_since_resum = 0
        self.upper = 0.0
        self.middle = 0.0
        self.lower = 0.0
        self.std = 0.0

    def reset(self) -> None:
        super().reset()
        self._window.clear()
        self._mean = 0.0
        self._squared_deviations = 0.0
        self._updates_since_resum = 0
        self.upper = 0.0
        self.middle = 0.0
        self.lower = 0.0
        self.std = 0.0

    def update_raw(self, value: float) -> None:
        window = self._window
        size = len(window)
        mean = self._mean
        if size == self.period:
            # Replace the oldest input: the mean moves by (new - old) / n and the sum of squared
            # deviations by (new - old) * (new - new_mean + old - old_mean).
            oldest = window[0]
            window.append(value)
            new_mean = mean + (value - oldest) / size
            self._squared_deviations += (value - oldest) * (value - new_mean + oldest - mean)
        else:
            window.append(value)
            size += 1
            delta = value - mean
            new_mean = mean + delta / size
            self._squared_deviations += delta * (value - new_mean)
        self._updates_since_resum += 1
        if self._updates_since_resum >= self._resum_interval:
            new_mean = math.fsum(window) / size
            self._squared_deviations = math.fsum((x - new_mean) * (x - new_mean) for x in window)
            self._updates_since_resum = 0
        elif self._squared_deviations < 0.0:
            self._squared_deviations = 0.0  # rounding on a flat window
        self._mean = new_mean
        std = math.sqrt(self._squared_deviations / size)
        self.std = std
        self.middle = new_mean
        self.upper = new_mean + self.k * std
        self.lower = new_mean - self.k * std
        self.has_inputs = True
        self.count += 1
        if not self.initialized and self.count >= self.period:
            self.initialized = True


class RelativeStrengthIndex(Indicator):
    """Wilder's RSI in 0..100: `100 * average gain / (average gain + average loss)`.

    Gains and losses are the positive and negative changes between consecutive inputs, each smoothed
    with `WilderMovingAverage(period)` (seeded with the simple mean of the first `period` changes).
    `initialized` once `period` changes were seen, i.e. after `period + 1` inputs. While there has
    been no movement at all (first input, or only flat changes) the value is 50, the neutral level;
    only gains give 100, only losses give 0.
    """

    __slots__ = ("_average_gain", "_average_loss", "_previous", "period", "value")

    def __init__(self, period: int, price_type: PriceType = PriceType.MID) -> None:
        self.period = _check_period("RelativeStrengthIndex", period)
        super().__init__(f"RelativeStrengthIndex({period}, {price_type})", price_type)
        self._average_gain = WilderMovingAverage(period)
        self._average_loss = WilderMovingAverage(period)
        self._previous = 0.0
        self.value = 50.0

    def reset(self) -> None:
        super().reset()
        self._average_gain.reset()
        self._average_loss.reset()
        self._previous = 0.0
        self.value = 50.0

    def update_raw(self, value: float) -> None:
        self.count += 1
        if not self.has_inputs:
            self._previous = value
            self.has_inputs = True
            return
        change = value - self._previous
        self._previous = value
        gains = self._average_gain
        losses = self._average_loss
        if change > 0.0:
            gains.update_raw(change)
            losses.update_raw(0.0)
        else:
            gains.update_raw(0.0)
            losses.update_raw(-change)
        total = gains.value + losses.value
        self.value = 100.0 * gains.value / total if total > 0.0 else 50.0
        if not self.initialized and gains.initialized:
            self.initialized = True


SMA = SimpleMovingAverage
EMA = ExponentialMovingAverage
ATR = AverageTrueRange
RSI = RelativeStrengthIndex
