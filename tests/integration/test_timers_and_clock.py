"""Acceptance: a strategy reads time only from `self.clock`, and timers fire in order in a backtest.

A strategy sets, in `on_start` and from `self.clock` alone, a time alert, a repeating timer, two
alerts at one timestamp between data points and two at a data timestamp. Every firing and every
quote is recorded with the clock's time; the test checks the global order of venue spec §1:
timers strictly before a data timestamp fire before that data, a timer exactly at a data
timestamp fires after all the data at it, timers at one timestamp fire in the order they were
set, the clock inside a callback reads the event's time, and time never goes backwards.
Then internal bar aggregation through the data engine: 1-MINUTE-MID, 5-TICK-BID and
200000-VOLUME-ASK bars built from hand-made quotes, with exact OHLCV and timestamps.
"""

from __future__ import annotations

from decimal import Decimal

from toolkit.backtest.engine import BacktestEngine
from toolkit.core.clock import TimeEvent
from toolkit.model.data import Bar, BarType, QuoteTick
from toolkit.model.enums import AccountType, OmsType
from toolkit.model.identifiers import InstrumentId
from toolkit.model.instruments import CurrencyPair
from toolkit.model.objects import Currency, Money, Price, Quantity
from toolkit.trading.config import StrategyConfig
from toolkit.trading.strategy import Strategy

USD = Currency.from_str("USD")
AUD = Currency.from_str("AUD")
SECOND = 1_000_000_000
T0 = 1_699_999_980 * SECOND  # a whole minute: 2023-11-14 22:13:00 UTC
assert T0 % (60 * SECOND) == 0

INSTRUMENT = CurrencyPair(
    id=InstrumentId("AUD/USD.SIM"),
    base_currency=AUD,
    quote_currency=USD,
    settlement_currency=USD,
    price_precision=5,
    size_precision=0,
    price_increment=Price.from_str("0.00001"),
    size_increment=Quantity.from_int(1),
    margin_init=Decimal("0.03"),
    margin_maint=Decimal("0.03"),
)


def quote(t_ns: int, bid: str, ask: str, bid_size: int = 1_000_000, ask_size: int = 1_000_000) -> QuoteTick:
    return QuoteTick.of(
        INSTRUMENT.id,
        Price.from_str(bid),
        Price.from_str(ask),
        Quantity.from_int(bid_size),
        Quantity.from_int(ask_size),
        t_ns,
    )


def make_engine() -> BacktestEngine:
    engine = BacktestEngine()
    engine.add_venue("SIM", OmsType.NETTING, AccountType.MARGIN, [Money.of(1_000_000, USD)], base_currency=USD)
    engine.add_instrument(INSTRUMENT)
    return engine


# ---- timers ----------------------------------------------------------------------------------------------
class TimerStrategy(Strategy):
    """Sets alerts and a timer from `self.clock` in `on_start`; logs every firing and every quote."""

    def __init__(self) -> None:
        super().__init__(StrategyConfig(order_id_tag="001"))
        self.log_rows: list[tuple[str, int, int]] = []  # (what, clock time, ts_event)
        self.start_time: int | None = None

    def on_start(self) -> None:
        now = self.clock.timestamp_ns()
        self.start_time = now
        self.subscribe_quote_ticks(INSTRUMENT.id)
        self.clock.set_time_alert("alert-2.5s", now + 2_500_000_000, self.on_alert_with_follow_up)
        self.clock.set_timer("every-2s", 2 * SECOND, self.on_time)
        # two alerts at a data timestamp, set in the order "zzz" then "aaa" (not alphabetical)
        self.clock.set_time_alert("same-zzz", now + 6 * SECOND, self.on_time)
        self.clock.set_time_alert("same-aaa", now + 6 * SECOND, self.on_time)
        # two alerts at one timestamp between data points
        self.clock.set_time_alert("pair-2", now + 7_500_000_000, self.on_time)
        self.clock.set_time_alert("pair-1", now + 7_500_000_000, self.on_time)

    def on_time(self, event: TimeEvent) -> None:
        self.log_rows.append((event.name, self.clock.timestamp_ns(), event.ts_event))

    def on_alert_with_follow_up(self, event: TimeEvent) -> None:
        self.on_time(event)
        # an alert set from inside a callback, for a data timestamp
        self.clock.set_time_alert("follow-up", self.clock.timestamp_ns() + 500_000_000, self.on_time)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self.log_rows.append((f"quote@{(tick.ts_init - T0) // 1_000_000}ms", self.clock.timestamp_ns(), tick.ts_event))


def test_timers_fire_in_order_with_the_data() -> None:
    engine = make_engine()
    quotes = [quote(T0 + k * SECOND, "1.00000", "1.00002") for k in range(11)]
    quotes.insert(5, quote(T0 + 4 * SECOND, "1.00001", "1.00003"))  # a second quote at T0 + 4 s
    engine.add_data(quotes)
    strategy = TimerStrategy()
    engine.add_strategy(strategy)
    engine.run()

    def at(ms: int) -> int:
        return T0 + ms * 1_000_000

    expected = [
        ("quote@0ms", at(0)),
        ("quote@1000ms", at(1000)),
        ("quote@2000ms", at(2000)),
        ("every-2s", at(2000)),  # exactly at a data timestamp: after that data
        ("alert-2.5s", at(2500)),  # strictly before the next data: before it
        ("quote@3000ms", at(3000)),
        ("follow-up", at(3000)),  # set from a callback, lands on a data timestamp
        ("quote@4000ms", at(4000)),
        ("quote@4000ms", at(4000)),
        ("every-2s", at(4000)),  # after *all* the data at T0 + 4 s
        ("quote@5000ms", at(5000)),
        ("quote@6000ms", at(6000)),
        ("every-2s", at(6000)),  # three at one timestamp: in the order they were set
        ("same-zzz", at(6000)),
        ("same-aaa", at(6000)),
        ("quote@7000ms", at(7000)),
        ("pair-2", at(7500)),
        ("pair-1", at(7500)),
        ("quote@8000ms", at(8000)),
        ("every-2s", at(8000)),
        ("quote@9000ms", at(9000)),
        ("quote@10000ms", at(10000)),
        ("every-2s", at(10000)),  # at the last data timestamp: still fires, after the data
    ]
    assert strategy.start_time == T0
    assert [(name, ts_event) for name, _, ts_event in strategy.log_rows] == expected
    # inside every callback the clock reads the event's own time
    assert all(clock_ns == ts_event for _, clock_ns, ts_event in strategy.log_rows)
    times = [clock_ns for _, clock_ns, _ in strategy.log_rows]
    assert times == sorted(times), "time went backwards"
    assert engine.clock.timestamp_ns() == at(10000)
    assert engine.clock.timer_names == ["every-2s"]  # one-shot alerts are gone, the timer is still set
    assert engine.clock.next_time_ns("every-2s") == at(12000)


# ---- internal bar aggregation ----------------------------------------------------------------------------
MINUTE_MID = BarType.from_str("AUD/USD.SIM-1-MINUTE-MID-INTERNAL")
TICK_BID = BarType.from_str("AUD/USD.SIM-5-TICK-BID-INTERNAL")
VOLUME_ASK = BarType.from_str("AUD/USD.SIM-200000-VOLUME-ASK-INTERNAL")

# (seconds after T0, bid, ask, bid size, ask size)
BAR_QUOTES = [
    (0, "1.00000", "1.00002", 100_000, 200_000),
    (10, "1.00004", "1.00006", 150_000, 50_000),
    (20, "0.99990", "0.99994", 100_000, 100_000),
    (30, "1.00010", "1.00012", 50_000, 70_000),
    (40, "1.00002", "1.00004", 200_000, 30_000),
    (50, "1.00006", "1.00010", 100_000, 100_000),
    (60, "1.00020", "1.00022", 80_000, 60_000),  # exactly at the first minute's close
    (90, "1.00000", "1.00004", 100_000, 40_000),
    (100, "0.99980", "0.99982", 60_000, 20_000),
    (150, "0.99990", "0.99992", 40_000, 450_000),  # ask size spans the rest of one bar, a whole bar, and more
    (250, "1.00100", "1.00102", 10_000, 10_000),  # nothing in (180 s, 240 s]: no bar at 240 s
]


class BarStrategy(Strategy):
    def __init__(self) -> None:
        super().__init__(StrategyConfig(order_id_tag="002"))
        self.bars: dict[BarType, list[Bar]] = {MINUTE_MID: [], TICK_BID: [], VOLUME_ASK: []}
        self.bar_clock: list[tuple[int, int]] = []

    def on_start(self) -> None:
        for bar_type in self.bars:
            self.subscribe_bars(bar_type)

    def on_bar(self, bar: Bar) -> None:
        self.bars[bar.bar_type].append(bar)
        self.bar_clock.append((self.clock.timestamp_ns(), bar.ts_event))


def ohlcv(bar: Bar) -> tuple[str, str, str, str, str, int]:
    return (str(bar.open), str(bar.high), str(bar.low), str(bar.close), str(bar.volume), (bar.ts_event - T0) // SECOND)


def run_bars() -> tuple[BacktestEngine, BarStrategy]:
    engine = make_engine()
    engine.add_data([quote(T0 + s * SECOND, bid, ask, bs, asz) for s, bid, ask, bs, asz in BAR_QUOTES])
    strategy = BarStrategy()
    engine.add_strategy(strategy)
    engine.run(end_ns=T0 + 300 * SECOND)
    return engine, strategy


def test_internal_time_bars_on_mid_prices() -> None:
    engine, strategy = run_bars()
    bars = strategy.bars[MINUTE_MID]
    # MID prices and sizes carry one more decimal (6 and 1) so the mid of two grid values is exact
    assert [ohlcv(b) for b in bars] == [
        ("1.000010", "1.000210", "0.999920", "1.000210", "695000.0", 60),
        ("1.000020", "1.000020", "0.999810", "0.999810", "110000.0", 120),
        ("0.999910", "0.999910", "0.999910", "0.999910", "245000.0", 180),
        ("1.001010", "1.001010", "1.001010", "1.001010", "10000.0", 300),
    ]
    assert all(b.price_precision == 6 and b.size_precision == 1 for b in bars)
    assert all(b.ts_init == b.ts_event for b in bars)
    assert bars[0].open == Price.from_str("1.000010") and bars[0].volume == Quantity.from_int(695_000)
    assert engine.cache.bars(MINUTE_MID) == list(reversed(bars))


def test_internal_tick_bars_on_bid_prices() -> None:
    _, strategy = run_bars()
    assert [ohlcv(b) for b in strategy.bars[TICK_BID]] == [
        ("1.00000", "1.00010", "0.99990", "1.00002", "600000", 40),
        ("1.00006", "1.00020", "0.99980", "0.99990", "380000", 150),
    ]  # the 11th quote starts a third bar that never completes
    assert all(b.price_precision == 5 for b in strategy.bars[TICK_BID])


def test_internal_volume_bars_on_ask_sizes_split_overflowing_ticks() -> None:
    _, strategy = run_bars()
    bars = strategy.bars[VOLUME_ASK]
    assert [ohlcv(b) for b in bars] == [
        ("1.00002", "1.00002", "1.00002", "1.00002", "200000", 0),
        ("1.00006", "1.00012", "0.99994", "1.00012", "200000", 30),
        ("1.00012", "1.00022", "1.00004", "1.00022", "200000", 60),
        ("1.00022", "1.00022", "0.99982", "0.99992", "200000", 150),
        ("0.99992", "0.99992", "0.99992", "0.99992", "200000", 150),
    ]
    # no size lost or counted twice: 1,130,000 quoted = 5 full bars + 130,000 still building
    total_ask = sum(asz for *_, asz in BAR_QUOTES)
    assert sum(b.volume.raw for b in bars) + Quantity.from_int(130_000).raw == Quantity.from_int(total_ask).raw


def test_bars_arrive_at_their_close_time_in_order() -> None:
    _, strategy = run_bars()
    assert all(clock_ns == ts_event for clock_ns, ts_event in strategy.bar_clock)
    times = [clock_ns for clock_ns, _ in strategy.bar_clock]
    assert times == sorted(times)


class EndOfPeriodStrategy(Strategy):
    """Timers set past the last data point must still fire when the run's end is later."""

    def __init__(self) -> None:
        super().__init__(StrategyConfig(order_id_tag="002"))
        self.fired: list[tuple[str, int]] = []

    def on_start(self) -> None:
        now = self.clock.timestamp_ns()
        self.subscribe_quote_ticks(INSTRUMENT.id)
        self.clock.set_timer("every-2s", 2 * SECOND, self.on_time)
        for name, at in (("alert-2.5s", 2_500_000_000), ("alert-6s", 6 * SECOND), ("alert-7.5s", 7_500_000_000)):
            self.clock.set_time_alert(name, now + at, self.on_time)

    def on_time(self, event: TimeEvent) -> None:
        assert self.clock.timestamp_ns() == event.ts_event
        self.fired.append((event.name, event.ts_event - T0))


def test_timers_after_the_last_data_point_fire_up_to_the_end_of_the_period() -> None:
    engine = make_engine()
    strategy = EndOfPeriodStrategy()
    engine.add_strategy(strategy)
    engine.add_data([quote(T0, "1.00000", "1.00002"), quote(T0 + SECOND, "1.00001", "1.00003")])
    engine.run(end_ns=T0 + 7 * SECOND)
    assert strategy.fired == [
        ("every-2s", 2 * SECOND),
        ("alert-2.5s", 2_500_000_000),
        ("every-2s", 4 * SECOND),
        ("every-2s", 6 * SECOND),  # set before alert-6s, so it fires first at the same timestamp
        ("alert-6s", 6 * SECOND),
    ]
    assert engine.clock.timestamp_ns() == T0 + 7 * SECOND
