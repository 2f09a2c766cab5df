"""Unit tests of `toolkit.trading.indicators` against values computed by hand in the comments."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from toolkit.model.data import Bar, QuoteTick, TradeTick
from toolkit.model.enums import AggressorSide, PriceType
from toolkit.model.objects import Price, Quantity
from toolkit.trading.indicators import (
    ATR,
    EMA,
    RSI,
    SMA,
    AverageTrueRange,
    BollingerBands,
    ExponentialMovingAverage,
    RelativeStrengthIndex,
    SimpleMovingAverage,
    WilderMovingAverage,
)

INSTRUMENT = "EUR/USD.SIM"
BAR_TYPE = "EUR/USD.SIM-1-MINUTE-LAST-EXTERNAL"


def quote(bid: str, ask: str) -> QuoteTick:
    return QuoteTick.of(
        INSTRUMENT, Price.from_str(bid), Price.from_str(ask), Quantity.from_str("1"), Quantity.from_str("1"), ts_event=0
    )


def trade(price: str) -> TradeTick:
    return TradeTick.of(INSTRUMENT, Price.from_str(price), Quantity.from_str("1"), AggressorSide.BUYER, "T-1", 0)


def bar(high: str, low: str, close: str, open_: str | None = None) -> Bar:
    return Bar.of(
        BAR_TYPE,
        Price.from_str(open_ or close),
        Price.from_str(high),
        Price.from_str(low),
        Price.from_str(close),
        Quantity.from_str("100"),
        ts_event=0,
    )


# --- base behaviour and validation ---------------------------------------------------------------------


def test_aliases_are_the_classes() -> None:
    assert SMA is SimpleMovingAverage
    assert EMA is ExponentialMovingAverage
    assert ATR is AverageTrueRange
    assert RSI is RelativeStrengthIndex


@pytest.mark.parametrize("cls", [SMA, EMA, ATR, BollingerBands, RSI, WilderMovingAverage])
@pytest.mark.parametrize("period", [0, -3, 1.5, True, "3", None])
def test_bad_period_names_indicator_and_argument(cls: type, period: object) -> None:
    with pytest.raises(ValueError, match=rf"{cls.__name__}: period must be an int >= 1"):
        cls(period)


@pytest.mark.parametrize("k", [0, -1.0, math.nan, math.inf, "2", True])
def test_bollinger_bad_k(k: object) -> None:
    with pytest.raises(ValueError, match=r"BollingerBands: k must be a finite number > 0"):
        BollingerBands(20, k)  # type: ignore[arg-type]


def test_atr_bad_ma_type() -> None:
    with pytest.raises(ValueError, match=r"AverageTrueRange: ma_type must be one of wilder, simple, exponential"):
        AverageTrueRange(14, ma_type="hull")


@pytest.mark.parametrize("cls", [SMA, EMA, RSI])
def test_price_type_last_is_refused_for_quotes(cls: type) -> None:
    with pytest.raises(ValueError, match=rf"{cls.__name__}: price_type must be BID, ASK or MID"):
        cls(3, price_type=PriceType.LAST)


def test_name_and_counters() -> None:
    sma = SMA(3, PriceType.BID)
    assert sma.name == "SimpleMovingAverage(3, BID)"
    assert repr(sma) == sma.name
    assert (sma.count, sma.has_inputs, sma.initialized) == (0, False, False)
    sma.update_raw(1.0)
    assert (sma.count, sma.has_inputs, sma.initialized) == (1, True, False)


# --- SMA ---------------------------------------------------------------------------------------------


def test_sma_of_1_2_3_4() -> None:
    sma = SMA(3)
    values = []
    for x in (1.0, 2.0, 3.0, 4.0):
        sma.update_raw(x)
        values.append((sma.value, sma.initialized))
    # warm-up means over the inputs so far: 1, 1.5; then (1+2+3)/3 = 2 and (2+3+4)/3 = 3
    assert values == [(1.0, False), (1.5, False), (2.0, True), (3.0, True)]


def test_sma_reset() -> None:
    sma = SMA(2)
    for x in (5.0, 7.0, 9.0):
        sma.update_raw(x)
    sma.reset()
    assert (sma.count, sma.has_inputs, sma.initialized, sma.value) == (0, False, False, 0.0)
    sma.update_raw(2.0)
    assert sma.value == 2.0


def test_sma_no_drift_over_long_runs() -> None:
    rng = random.Random(7)
    sma = SMA(50)
    window: list[float] = []
    for i in range(20_000):
        # large level swings and tiny moves make a naive running sum lose digits
        x = (1e8 if (i // 3000) % 2 else 1e-3) + rng.random()
        sma.update_raw(x)
        window = [*window[-49:], x]
    assert sma.value == pytest.approx(statistics.fmean(window), rel=1e-12, abs=1e-12)


def test_sma_from_quotes_trades_and_bars() -> None:
    mid = SMA(2)  # MID by default
    mid.handle_quote_tick(quote("1.00", "1.02"))  # mid 1.01
    mid.handle_quote_tick(quote("1.02", "1.04"))  # mid 1.03
    assert mid.value == pytest.approx(1.02)

    bid = SMA(2, PriceType.BID)
    ask = SMA(2, PriceType.ASK)
    for tick in (quote("1.00", "1.02"), quote("1.02", "1.04")):
        bid.handle_quote_tick(tick)
        ask.handle_quote_tick(tick)
    assert bid.value == pytest.approx(1.01)
    assert ask.value == pytest.approx(1.03)

    trades = SMA(2)
    trades.handle_trade_tick(trade("10.5"))
    trades.handle_trade_tick(trade("11.5"))
    assert trades.value == pytest.approx(11.0)

    closes = SMA(2)
    closes.handle_bar(bar("12", "9", "10"))
    closes.handle_bar(bar("13", "10", "12"))
    assert closes.value == pytest.approx(11.0)


# --- EMA ---------------------------------------------------------------------------------------------


def test_ema_sequence() -> None:
    ema = EMA(3)  # alpha = 2 / 4 = 0.5
    assert ema.alpha == 0.5
    values = []
    for x in (1.0, 2.0, 3.0, 4.0):
        ema.update_raw(x)
        values.append((ema.value, ema.initialized))
    # 1 (first input); 1 + 0.5*(2-1) = 1.5; 1.5 + 0.5*(3-1.5) = 2.25; 2.25 + 0.5*(4-2.25) = 3.125
    assert values == [(1.0, False), (1.5, False), (2.25, True), (3.125, True)]


def test_ema_quote_tick_path_matches_update_raw() -> None:
    from_quotes = EMA(4)
    from_floats = EMA(4)
    rng = random.Random(3)
    for _ in range(50):
        bid = rng.randint(100_000, 110_000)
        tick = quote(f"{bid / 100_000:.5f}", f"{(bid + 3) / 100_000:.5f}")
        from_quotes.handle_quote_tick(tick)
        from_floats.update_raw(tick.mid_double())
    assert from_quotes.value == from_floats.value
    assert from_quotes.count == from_floats.count == 50
    assert from_quotes.initialized


def test_ema_quote_sides() -> None:
    tick = quote("1.10", "1.20")
    for price_type, expected in ((PriceType.BID, 1.10), (PriceType.ASK, 1.20), (PriceType.MID, 1.15)):
        ema = EMA(5, price_type)
        ema.handle_quote_tick(tick)
        assert ema.value == pytest.approx(expected)


def test_ema_reset() -> None:
    ema = EMA(2)
    for x in (1.0, 4.0, 9.0):
        ema.update_raw(x)
    ema.reset()
    ema.handle_quote_tick(quote("2.00", "2.00"))
    assert (ema.value, ema.count, ema.initialized) == (2.0, 1, False)


# --- Wilder ------------------------------------------------------------------------------------------


def test_wilder_seeds_with_simple_mean() -> None:
    rma = WilderMovingAverage(3)
    for x in (3.0, 6.0, 9.0):
        rma.update_raw(x)
    assert rma.initialized
    assert rma.value == pytest.approx(6.0)  # (3+6+9)/3
    rma.update_raw(12.0)
    assert rma.value == pytest.approx(8.0)  # 6 + (12-6)/3


# --- ATR ---------------------------------------------------------------------------------------------

# (high, low, close) and true ranges with the previous close:
#   10/8/9       -> 10-8                       = 2 (no previous close)
#   12/10/11     -> max(12,9) - min(10,9)      = 3 (gap up from 9)
#   11.5/10.5/11 -> 11.5-10.5                  = 1
#   14/12/13     -> max(14,11) - min(12,11)    = 3 (gap up from 11)
#   13.5/12.5/13 -> 13.5-12.5                  = 1
ATR_BARS = [("10", "8", "9"), ("12", "10", "11"), ("11.5", "10.5", "11"), ("14", "12", "13"), ("13.5", "12.5", "13")]


def atr_values(atr: AverageTrueRange) -> list[float]:
    values = []
    for high, low, close in ATR_BARS:
        atr.handle_bar(bar(high, low, close))
        values.append(atr.value)
    return values


def test_atr_wilder() -> None:
    atr = ATR(3)
    values = atr_values(atr)
    # warm-up means 2, 2.5; seed mean(2,3,1) = 2; 2 + (3-2)/3 = 7/3; 7/3 + (1-7/3)/3 = 17/9
    assert values == pytest.approx([2.0, 2.5, 2.0, 7 / 3, 17 / 9])
    assert atr.initialized and atr.count == 5


def test_atr_simple() -> None:
    values = atr_values(ATR(3, ma_type="simple"))
    # rolling means: 2, 2.5, (2+3+1)/3 = 2, (3+1+3)/3 = 7/3, (1+3+1)/3 = 5/3
    assert values == pytest.approx([2.0, 2.5, 2.0, 7 / 3, 5 / 3])


def test_atr_exponential() -> None:
    values = atr_values(ATR(3, ma_type="Exponential"))
    # alpha 0.5: 2, 2.5, 1.75, 2.375, 1.6875
    assert values == pytest.approx([2.0, 2.5, 1.75, 2.375, 1.6875])


def test_atr_without_previous_close() -> None:
    values = atr_values(ATR(3, ma_type="simple", use_previous_close=False))
    # high - low only: 2, 2, 1, 2, 1 -> last window (1+2+1)/3
    assert values[-1] == pytest.approx(4 / 3)


def test_atr_initialization_and_reset() -> None:
    atr = ATR(3)
    atr.handle_bar(bar("10", "8", "9"))
    atr.handle_bar(bar("12", "10", "11"))
    assert not atr.initialized
    atr.handle_bar(bar("11.5", "10.5", "11"))
    assert atr.initialized
    atr.reset()
    assert (atr.count, atr.initialized, atr.value) == (0, False, 0.0)
    atr.handle_bar(bar("14", "12", "13"))  # no previous close after reset
    assert atr.value == pytest.approx(2.0)


def test_atr_from_ticks_uses_moves() -> None:
    atr = ATR(2, ma_type="simple")
    for price in ("100", "101", "99.5"):
        atr.handle_trade_tick(trade(price))
    # ranges 0, |101-100| = 1, |99.5-101| = 1.5 -> mean of last two = 1.25
    assert atr.value == pytest.approx(1.25)


# --- Bollinger ---------------------------------------------------------------------------------------


def test_bollinger_small_set() -> None:
    bands = BollingerBands(3, 2.0)
    for x in (1.0, 2.0, 3.0):
        bands.update_raw(x)
    # mean 2, population variance ((1-2)^2 + 0 + (3-2)^2)/3 = 2/3
    std = math.sqrt(2 / 3)
    assert bands.initialized
    assert (bands.middle, bands.std) == pytest.approx((2.0, std))
    assert (bands.upper, bands.lower) == pytest.approx((2.0 + 2 * std, 2.0 - 2 * std))

    bands.update_raw(4.0)  # window 2,3,4: same spread around 3
    assert (bands.middle, bands.std) == pytest.approx((3.0, std))

    bands.update_raw(10.0)  # window 3,4,10: mean 17/3, variance (64+25+169)/27 = 258/27
    std = math.sqrt(258 / 27)
    assert (bands.middle, bands.std) == pytest.approx((17 / 3, std))
    assert bands.upper == pytest.approx(17 / 3 + 2 * std)
    assert bands.lower == pytest.approx(17 / 3 - 2 * std)


def test_bollinger_warm_up_and_flat_window() -> None:
    bands = BollingerBands(3, 1.5)
    bands.update_raw(5.0)
    assert not bands.initialized
    assert (bands.middle, bands.std, bands.upper, bands.lower) == (5.0, 0.0, 5.0, 5.0)
    bands.update_raw(5.0)
    bands.update_raw(5.0)
    assert bands.initialized and bands.std == 0.0


def test_bollinger_matches_pstdev_on_a_long_run() -> None:
    rng = random.Random(11)
    bands = BollingerBands(20, 2.5)
    window: list[float] = []
    for _ in range(5_000):
        x = 1.1 + rng.gauss(0.0, 0.001)
        bands.update_raw(x)
        window = [*window[-19:], x]
    assert bands.middle == pytest.approx(statistics.fmean(window), rel=1e-12)
    assert bands.std == pytest.approx(statistics.pstdev(window), rel=1e-7)


# --- RSI ---------------------------------------------------------------------------------------------


def test_rsi_neutral_before_movement() -> None:
    rsi = RSI(3)
    assert rsi.value == 50.0
    rsi.update_raw(10.0)
    assert rsi.value == 50.0 and not rsi.initialized
    for _ in range(5):
        rsi.update_raw(10.0)
    assert rsi.value == 50.0 and rsi.initialized


def test_rsi_monotone_series() -> None:
    rising = RSI(5)
    falling = RSI(5)
    for i in range(1, 20):
        rising.update_raw(float(i))
        falling.update_raw(float(-i))
    assert rising.value == 100.0
    assert falling.value == 0.0


def test_rsi_mixed_series() -> None:
    rsi = RSI(3)
    values = []
    for x in (10.0, 11.0, 10.5, 11.5, 11.0, 12.0):
        rsi.update_raw(x)
        values.append(rsi.value)
    # changes +1, -0.5, +1, -0.5, +1
    # after 3 changes: gain 2/3, loss 1/6        -> 100 * (2/3) / (5/6)       = 80
    # then a loss:     gain 4/9, loss 5/18       -> 100 * (8/18) / (13/18)    = 800/13
    # then a gain:     gain 17/27, loss 5/27     -> 100 * 17 / 22
    assert values[3:] == pytest.approx([80.0, 800 / 13, 1700 / 22])
    assert rsi.initialized


def test_rsi_initialized_after_period_plus_one_inputs() -> None:
    rsi = RSI(3)
    for x in (1.0, 2.0, 1.5):
        rsi.update_raw(x)
    assert not rsi.initialized
    rsi.update_raw(2.5)
    assert rsi.initialized and rsi.count == 4
    rsi.reset()
    assert (rsi.count, rsi.initialized, rsi.value) == (0, False, 50.0)


def test_rsi_from_bars() -> None:
    rsi = RSI(2)
    for close in ("10", "11", "12"):
        rsi.handle_bar(bar(close, close, close))
    assert rsi.value == 100.0
