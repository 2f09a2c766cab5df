"""EMA cross on bars: long while the fast EMA is above the slow one, short while below.

On each bar of `bar_type` the strategy compares EMA(fast) and EMA(slow) of the closes. When the
sign of the difference says a different side than the current position, it sends one market
order for the difference (a flip from long to short is one order of twice the size on a NETTING
venue). On stop it cancels its orders and flattens. The same class and TOML run in a backtest and
on a live node.
"""

from __future__ import annotations

from toolkit.model.data import Bar, BarType
from toolkit.model.enums import OrderSide
from toolkit.model.identifiers import InstrumentId
from toolkit.model.objects import Quantity
from toolkit.trading.config import StrategyConfig
from toolkit.trading.indicators import ExponentialMovingAverage
from toolkit.trading.strategy import Strategy


class EMACrossConfig(StrategyConfig):
    instrument_id: InstrumentId
    bar_type: BarType
    trade_size: Quantity
    fast_ema_period: int = 10
    slow_ema_period: int = 20
    close_positions_on_stop: bool = True


class EMACross(Strategy):
    def __init__(self, config: EMACrossConfig) -> None:
        super().__init__(config)
        if config.fast_ema_period >= config.slow_ema_period:
            raise ValueError(
                f"fast_ema_period ({config.fast_ema_period}) must be below slow_ema_period ({config.slow_ema_period})"
            )
        self.fast_ema = ExponentialMovingAverage(config.fast_ema_period)
        self.slow_ema = ExponentialMovingAverage(config.slow_ema_period)
        self.position_raw = 0  # signed target position we have asked for, raw fixed-point

    def on_start(self) -> None:
        config: EMACrossConfig = self.config  # type: ignore[assignment]
        self.register_indicator_for_bars(config.bar_type, self.fast_ema)
        self.register_indicator_for_bars(config.bar_type, self.slow_ema)
        self.subscribe_bars(config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        if not self.slow_ema.initialized:
            return
        config: EMACrossConfig = self.config  # type: ignore[assignment]
        fast, slow = self.fast_ema.value, self.slow_ema.value
        if fast == slow:
            return
        target = config.trade_size.raw if fast > slow else -config.trade_size.raw
        self.trade_towards(target)

    def trade_towards(self, target_raw: int) -> None:
        config: EMACrossConfig = self.config  # type: ignore[assignment]
        delta = target_raw - self.position_raw
        if delta == 0:
            return
        side = OrderSide.BUY if delta > 0 else OrderSide.SELL
        quantity = Quantity(abs(delta), config.trade_size.precision)
        self.submit_order(self.order_factory.market(config.instrument_id, side, quantity))
        self.position_raw = target_raw

    def on_stop(self) -> None:
        config: EMACrossConfig = self.config  # type: ignore[assignment]
        self.cancel_all_orders(config.instrument_id)
        if config.close_positions_on_stop:
            self.close_all_positions(config.instrument_id)
        self.position_raw = 0

    def on_reset(self) -> None:
        self.fast_ema.reset()
        self.slow_ema.reset()
        self.position_raw = 0

    def on_save(self) -> dict[str, bytes]:
        return {"position_raw": str(self.position_raw).encode()}

    def on_load(self, state: dict[str, bytes]) -> None:
        self.position_raw = int(state.get("position_raw", b"0"))
