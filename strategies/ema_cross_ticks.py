"""EMA cross on quote ticks: the tick-level twin of `ema_cross`, on the mid price.

Each quote updates EMA(fast) and EMA(slow) of the mid; when the fast EMA crosses the slow one the
strategy sends one market order that takes it to `trade_size` long or short (a flip is one order).
It is also the workload of `toolkit bench`, so `on_quote_tick` does only what the logic needs.
"""

from __future__ import annotations

from toolkit.model.data import QuoteTick
from toolkit.model.enums import OrderSide
from toolkit.model.identifiers import InstrumentId
from toolkit.model.objects import Quantity
from toolkit.trading.config import StrategyConfig
from toolkit.trading.indicators import ExponentialMovingAverage
from toolkit.trading.strategy import Strategy


class EMACrossTicksConfig(StrategyConfig):
    instrument_id: InstrumentId
    trade_size: Quantity
    fast_ema_period: int = 500
    slow_ema_period: int = 2000
    close_positions_on_stop: bool = True


class EMACrossTicks(Strategy):
    def __init__(self, config: EMACrossTicksConfig) -> None:
        super().__init__(config)
        if config.fast_ema_period >= config.slow_ema_period:
            raise ValueError(
                f"fast_ema_period ({config.fast_ema_period}) must be below slow_ema_period ({config.slow_ema_period})"
            )
        self.fast_ema = ExponentialMovingAverage(config.fast_ema_period)
        self.slow_ema = ExponentialMovingAverage(config.slow_ema_period)
        self.side = 0  # +1 long, -1 short, 0 flat: the side we have asked for
        self.size_raw = config.trade_size.raw
        self.size_precision = config.trade_size.precision

    def on_start(self) -> None:
        self.subscribe_quote_ticks(self.config.instrument_id)  # type: ignore[attr-defined]

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self.fast_ema.handle_quote_tick(tick)
        self.slow_ema.handle_quote_tick(tick)
        if self.slow_ema.count < self.slow_ema.period:
            return
        fast, slow = self.fast_ema.value, self.slow_ema.value
        if fast > slow:
            if self.side != 1:
                self._go(1)
        elif fast < slow and self.side != -1:
            self._go(-1)

    def _go(self, side: int) -> None:
        delta = (side - self.side) * self.size_raw
        order_side = OrderSide.BUY if delta > 0 else OrderSide.SELL
        quantity = Quantity(abs(delta), self.size_precision)
        self.submit_order(self.order_factory.market(self.config.instrument_id, order_side, quantity))  # type: ignore[attr-defined]
        self.side = side

    def on_stop(self) -> None:
        config: EMACrossTicksConfig = self.config  # type: ignore[assignment]
        self.cancel_all_orders(config.instrument_id)
        if config.close_positions_on_stop:
            self.close_all_positions(config.instrument_id)
        self.side = 0

    def on_reset(self) -> None:
        self.fast_ema.reset()
        self.slow_ema.reset()
        self.side = 0
