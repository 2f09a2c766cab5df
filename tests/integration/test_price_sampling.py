"""The backtest's price samples: one row per instrument at every multiple of the interval, plus one at the end.

The engine takes the samples itself (no clock timer per interval), and a sample time still counts as a
moment of the simulation, as the sampler's timer did: the clock moves there and venue commands that
arrived by then are applied. USD/JPY.SIM quotes at 0 s and 150 s, samples every 60 s.
"""

from __future__ import annotations

from _usdjpy import SEC, T0, USD, USDJPY, quote

from toolkit.backtest.engine import BacktestEngine, BacktestEngineConfig
from toolkit.backtest.models import LatencyModel
from toolkit.core.clock import TimeEvent
from toolkit.model.data import QuoteTick
from toolkit.model.enums import AccountType, OmsType, OrderSide
from toolkit.model.events import OrderFilled
from toolkit.model.objects import Money, Price, Quantity
from toolkit.trading.config import StrategyConfig
from toolkit.trading.strategy import Strategy

QUOTES = [quote("90.000", "90.004", T0), quote("91.000", "91.004", T0 + 150 * SEC)]


class BuyOnceWithTimer(Strategy):
    """Buys at the first quote; optionally a 60 s timer of its own notes the clock's timers when it fires."""

    def __init__(self, with_timer: bool) -> None:
        super().__init__(StrategyConfig(strategy_id="SAMPLE-001"))
        self.with_timer = with_timer
        self.fills: list[OrderFilled] = []
        self.timer_names_seen: list[list[str]] = []

    def on_start(self) -> None:
        self.subscribe_quote_ticks(USDJPY.id)
        if self.with_timer:
            self.clock.set_timer("mine", 60 * SEC, self.on_mine)

    def on_mine(self, event: TimeEvent) -> None:
        self.timer_names_seen.append(self.clock.timer_names)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        if not self.fills and not self.cache.orders():
            self.submit_order(self.order_factory.market(USDJPY.id, OrderSide.BUY, Quantity.from_int(1_000)))

    def on_order_filled(self, event: OrderFilled) -> None:
        self.fills.append(event)


def run(
    price_interval_ns: int, latency: LatencyModel | None = None, with_timer: bool = False
) -> tuple[BacktestEngine, BuyOnceWithTimer]:
    engine = BacktestEngine(BacktestEngineConfig(price_interval_ns=price_interval_ns))
    engine.add_venue(
        "SIM", OmsType.NETTING, AccountType.MARGIN, [Money.of(1_000_000, USD)], base_currency=USD, latency_model=latency
    )
    engine.add_instrument(USDJPY)
    engine.add_data(QUOTES)
    strategy = BuyOnceWithTimer(with_timer)
    engine.add_strategy(strategy)
    engine.run()
    return engine, strategy


def test_a_sample_at_every_interval_through_a_gap_and_one_at_the_end() -> None:
    engine, strategy = run(60 * SEC, with_timer=True)
    assert engine.prices is not None
    mid_first = 90_002_000_000  # raw (1e9) mid of the first quote
    assert engine.prices.rows == [
        (T0 + 60 * SEC, "USD/JPY.SIM", mid_first, 3),
        (T0 + 120 * SEC, "USD/JPY.SIM", mid_first, 3),
        (T0 + 150 * SEC, "USD/JPY.SIM", 91_002_000_000, 3),
    ]
    # The strategy's own timer fired at the same times and sees only its own timer on the clock.
    assert strategy.timer_names_seen == [["mine"], ["mine"]]


def test_a_sample_time_applies_commands_that_arrived_before_it() -> None:
    # The order leaves at 0 s and reaches the venue at 30 s. Without samples nothing happens until the next
    # quote (150 s); with them, the 60 s sample is a moment of the simulation and the order fills there.
    latency = LatencyModel(base_latency_ns=30 * SEC)
    _, sampled = run(60 * SEC, latency)
    _, unsampled = run(0, latency)
    assert [(f.ts_event - T0, f.last_px) for f in sampled.fills] == [(60 * SEC, Price.from_str("90.004"))]
    assert [(f.ts_event - T0, f.last_px) for f in unsampled.fills] == [(150 * SEC, Price.from_str("91.004"))]
