"""A strategy for the crash test: it keeps resting limit orders on both sides, flips a position with
market orders now and then, and saves a counter of the quotes it has seen (`on_save`/`on_load`), which it
reports in the log when it is restored, so the test can see that a restarted node resumes it."""

from __future__ import annotations

from toolkit.model.data import QuoteTick
from toolkit.model.enums import OrderSide
from toolkit.model.identifiers import InstrumentId
from toolkit.model.objects import Price, Quantity
from toolkit.trading.config import StrategyConfig
from toolkit.trading.strategy import Strategy


class CrashProbeConfig(StrategyConfig):
    instrument_id: InstrumentId
    trade_size: Quantity
    spacing_ticks: int = 2
    quote_every: int = 20
    flip_every: int = 150


class CrashProbe(Strategy):
    def __init__(self, config: CrashProbeConfig) -> None:
        super().__init__(config)
        self.quotes_seen = 0
        self.long = True

    def on_load(self, state: dict[str, bytes]) -> None:
        self.quotes_seen = int(state.get("quotes_seen", b"0"))
        self.long = state.get("long", b"1") == b"1"
        self.log.warning("CRASHPROBE restored quotes_seen=%d", self.quotes_seen)

    def on_save(self) -> dict[str, bytes]:
        return {"quotes_seen": str(self.quotes_seen).encode(), "long": b"1" if self.long else b"0"}

    def on_start(self) -> None:
        self.subscribe_quote_ticks(self.config.instrument_id)  # type: ignore[attr-defined]

    def on_quote_tick(self, tick: QuoteTick) -> None:
        config: CrashProbeConfig = self.config  # type: ignore[assignment]
        self.quotes_seen += 1
        iid = config.instrument_id
        tick_raw = self.cache.instrument(iid).price_increment.raw  # type: ignore[union-attr]
        working = self.cache.orders_open(instrument_id=iid, strategy_id=self.strategy_id)
        working += self.cache.orders_inflight(instrument_id=iid, strategy_id=self.strategy_id)
        if not working and self.quotes_seen % config.quote_every == 0:
            below = Price(tick.bid_raw - config.spacing_ticks * tick_raw, tick.price_precision)
            above = Price(tick.ask_raw + config.spacing_ticks * tick_raw, tick.price_precision)
            self.submit_order(self.order_factory.limit(iid, OrderSide.BUY, config.trade_size, below))
            self.submit_order(self.order_factory.limit(iid, OrderSide.SELL, config.trade_size, above))
        if self.quotes_seen % config.flip_every == 0:
            net_raw = int(self.portfolio.net_position(iid) * 10**9)
            target = config.trade_size.raw if self.long else -config.trade_size.raw
            self.long = not self.long
            delta = target - net_raw
            if delta:
                side = OrderSide.BUY if delta > 0 else OrderSide.SELL
                qty = Quantity(abs(delta), config.trade_size.precision)
                self.submit_order(self.order_factory.market(iid, side, qty))
