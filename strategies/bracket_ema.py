"""EMA cross with brackets: on a cross of EMA(fast) over/under EMA(slow) of the bar closes, enter with a bracket (entry
+ reduce-only stop-loss STOP_MARKET + reduce-only take-profit LIMIT, linked OUO), one bracket at a time. A cross is
a change of the sign of fast - slow from one bar to the next (up: BUY, down: SELL). The entry is a MARKET order
(`entry_type = "MARKET"`) or a LIMIT at the bar close moved `entry_offset_ticks` into the book's favour (`"LIMIT"`),
canceled when it has not filled within `entry_timeout_bars` bars. The stop-loss and take-profit lie
`stop_loss_ticks`/`take_profit_ticks` ticks from the entry reference (the close for MARKET, the limit for LIMIT), or
(`exit_distance = "atr"`) `stop_loss_atr`/`take_profit_atr` times the ATR(`atr_period`) of the bars, rounded up to
whole ticks; prices are exact `Price` values on the instrument's grid. No new entry is sent while the strategy holds
a position or has any order of its own still working (entry, exits, a close). With `flip_on_opposite_cross`, an
opposite cross cancels the working orders and closes the position with a reduce-only MARKET, and the opposite
bracket is sent once the position is flat and every order has closed (so a live venue never sees the new entry
before the close). A position left without any exit (an exit rejected, e.g. a stop already in the market when a
LIMIT entry filled on a fast bar, and its sibling canceled with it) is closed at once with a reduce-only MARKET,
tried again on each bar while refused. Who handles the links is the config's `manage_contingent_orders`: false
leaves the OTO/OUO links to the venue (the simulated venue and a sandbox that takes contingency fields), true makes
the strategy's order manager hold the exits until the entry fills and cancel or resize the survivor itself, which
works against any venue. `strategies/bracket_ema.toml` runs it on real GBP/USD one-minute bars with `toolkit
backtest`, and with `toolkit venue` + `toolkit live`.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import Literal

from toolkit.model.data import Bar, BarType
from toolkit.model.enums import OrderSide, OrderStatus, PositionSide
from toolkit.model.events import OrderEvent, PositionChanged, PositionClosed, PositionOpened
from toolkit.model.identifiers import ClientOrderId, InstrumentId
from toolkit.model.objects import Price, Quantity
from toolkit.model.orders import Order, OrderList
from toolkit.trading.config import StrategyConfig
from toolkit.trading.indicators import AverageTrueRange, ExponentialMovingAverage
from toolkit.trading.strategy import Strategy

BUY, SELL = OrderSide.BUY, OrderSide.SELL


class BracketEMAConfig(StrategyConfig):
    """Fields of `BracketEMA`; see the module docstring. Every bad value is an error naming its field."""

    instrument_id: InstrumentId
    bar_type: BarType
    trade_size: Quantity
    fast_ema_period: int = 10
    slow_ema_period: int = 20
    entry_type: Literal["MARKET", "LIMIT"] = "MARKET"
    entry_offset_ticks: int = 0
    entry_timeout_bars: int = 5
    exit_distance: Literal["ticks", "atr"] = "ticks"
    stop_loss_ticks: int = 100
    take_profit_ticks: int = 200
    stop_loss_atr: Decimal = Decimal(2)
    take_profit_atr: Decimal = Decimal(4)
    atr_period: int = 14
    flip_on_opposite_cross: bool = False
    close_positions_on_stop: bool = True

    def __post_init__(self) -> None:
        name = type(self).__name__

        def fail(field: str, reason: str) -> ValueError:
            return ValueError(f"{name} field `{field}`: {reason}")

        if self.bar_type.instrument_id != self.instrument_id:
            raise fail("bar_type", f"{self.bar_type} is not a bar type of instrument_id {self.instrument_id}")
        if self.trade_size.raw <= 0:
            raise fail("trade_size", f"must be positive, got {self.trade_size}")
        if self.fast_ema_period < 1:
            raise fail("fast_ema_period", f"must be at least 1, got {self.fast_ema_period}")
        if self.slow_ema_period <= self.fast_ema_period:
            raise fail(
                "slow_ema_period",
                f"must be above fast_ema_period ({self.fast_ema_period}), got {self.slow_ema_period}",
            )
        if self.entry_offset_ticks < 0:
            raise fail("entry_offset_ticks", f"must not be negative, got {self.entry_offset_ticks}")
        if self.entry_offset_ticks and self.entry_type != "LIMIT":
            raise fail("entry_offset_ticks", 'only a LIMIT entry has an offset (set entry_type = "LIMIT")')
        if self.entry_timeout_bars < 1:
            raise fail("entry_timeout_bars", f"must be at least 1, got {self.entry_timeout_bars}")
        for field in ("stop_loss_ticks", "take_profit_ticks"):
            if getattr(self, field) < 1:
                raise fail(field, f"must be at least 1 tick, got {getattr(self, field)}")
        for field in ("stop_loss_atr", "take_profit_atr"):
            value: Decimal = getattr(self, field)
            if not value.is_finite() or value <= 0:
                raise fail(field, f"must be a positive multiple of the ATR, got {value}")
        if self.atr_period < 1:
            raise fail("atr_period", f"must be at least 1, got {self.atr_period}")


class BracketEMA(Strategy):
    """See the module docstring."""

    def __init__(self, config: BracketEMAConfig) -> None:
        super().__init__(config)
        self.cfg: BracketEMAConfig = config
        self.fast_ema = ExponentialMovingAverage(config.fast_ema_period)
        self.slow_ema = ExponentialMovingAverage(config.slow_ema_period)
        self.atr = AverageTrueRange(config.atr_period)
        self._last_sign = 0  # sign of fast - slow on the previous bar (0: not known yet)
        self._last_close: Price | None = None
        self._working: dict[ClientOrderId, Order] = {}  # this strategy's orders not closed yet
        self._entry: Order | None = None  # the entry of the current bracket
        self._entry_bars = 0  # bars seen while the current entry works unfilled
        self._pending_side: OrderSide | None = None  # a flip's new side, sent once flat and idle
        self._tick = Price(0, 0)
        self._tick_raw = 0
        self._stopping = False
        self.brackets_sent = 0
        self.flips = 0

    # ---- lifecycle ----------------------------------------------------------------------------------------
    def on_start(self) -> None:
        cfg = self.cfg
        self._stopping = False
        instrument = self.cache.instrument(cfg.instrument_id)
        if instrument is None:
            raise ValueError(f"{self.id}: unknown instrument {cfg.instrument_id}")
        self._tick = instrument.price_increment
        self._tick_raw = self._tick.raw
        # After a restart the cache holds the orders still working: count them as ours again.
        iid, sid = cfg.instrument_id, self.strategy_id
        for order in self.cache.orders_open(instrument_id=iid, strategy_id=sid) + self.cache.orders_inflight(
            instrument_id=iid, strategy_id=sid
        ):
            self._working[order.client_order_id] = order
        for indicator in (self.fast_ema, self.slow_ema, self.atr):
            self.register_indicator_for_bars(cfg.bar_type, indicator)
        self.subscribe_bars(cfg.bar_type)

    def on_stop(self) -> None:
        self._stopping = True
        self._pending_side = None
        self.cancel_all_orders(self.cfg.instrument_id)
        if self.cfg.close_positions_on_stop:
            self._close_positions()

    def on_resume(self) -> None:
        self._stopping = False

    def on_reset(self) -> None:
        for indicator in (self.fast_ema, self.slow_ema, self.atr):
            indicator.reset()
        self._last_sign = 0
        self._last_close = None
        self._working.clear()
        self._entry = None
        self._entry_bars = 0
        self._pending_side = None
        self._stopping = False
        self.brackets_sent = 0
        self.flips = 0

    # ---- data ---------------------------------------------------------------------------------------------
    def on_bar(self, bar: Bar) -> None:
        self._last_close = bar.close
        self._age_entry()
        self._protect()  # a close that was denied or rejected is tried again, once a bar
        if not self.slow_ema.initialized:
            return
        fast, slow = self.fast_ema.value, self.slow_ema.value
        sign = (fast > slow) - (fast < slow)
        previous, self._last_sign = self._last_sign, sign if sign else self._last_sign
        if sign == 0 or previous == 0 or sign == previous:
            return
        side = BUY if sign > 0 else SELL
        if self._idle():
            self._pending_side = None
            self._enter(side)
        elif self.cfg.flip_on_opposite_cross and self._holds_other_side(side):
            self._flip(side)

    def _age_entry(self) -> None:
        """Cancel an unfilled LIMIT entry (what is left of it) once it has worked `entry_timeout_bars` bars."""
        entry = self._entry
        if entry is None or entry.is_closed or entry.status in (OrderStatus.INITIALIZED, OrderStatus.PENDING_CANCEL):
            return
        self._entry_bars += 1
        if self._entry_bars >= self.cfg.entry_timeout_bars:
            self.cancel_order(entry)

    # ---- orders -------------------------------------------------------------------------------------------
    def _idle(self) -> bool:
        """No position and no working order of ours: a new bracket may go."""
        return not self._working and self.cache.is_flat(self.cfg.instrument_id, self.strategy_id)

    def _holds_other_side(self, side: OrderSide) -> bool:
        """Our position or working entry is on the side opposite to `side`."""
        want = PositionSide.SHORT if side is BUY else PositionSide.LONG
        positions = self.cache.positions_open(instrument_id=self.cfg.instrument_id, strategy_id=self.strategy_id)
        if any(p.side is want for p in positions):
            return True
        entry = self._entry
        return entry is not None and not entry.is_closed and entry.side is not side

    def _flip(self, side: OrderSide) -> None:
        """Cancel the working orders, close the position; the new bracket follows once flat and idle."""
        self.flips += 1
        self._pending_side = side
        self.cancel_all_orders(self.cfg.instrument_id)
        self._close_positions()
        self._enter_pending()  # nothing to wait for when the cancels and the close were answered at once

    def _close_positions(self) -> None:
        for position in self.cache.positions_open(instrument_id=self.cfg.instrument_id, strategy_id=self.strategy_id):
            if any(o.reduce_only and not o.is_contingent for o in self._working.values()):
                continue  # a close is already on its way
            side = SELL if position.side is PositionSide.LONG else BUY
            order = self.order_factory.market(
                position.instrument_id, side, position.quantity, reduce_only=True, tags=("CLOSE",)
            )
            self._working[order.client_order_id] = order
            self.submit_order(order, position_id=position.id)

    def _enter(self, side: OrderSide) -> None:
        reference = self._last_close
        if reference is None:
            return
        cfg = self.cfg
        sign = 1 if side is BUY else -1
        entry_price = None
        if cfg.entry_type == "LIMIT":
            entry_price = reference.add_ticks(-sign * cfg.entry_offset_ticks, self._tick_raw)
            reference = entry_price
        distances = self._exit_ticks()
        if distances is None:
            return
        sl_ticks, tp_ticks = distances
        sl = reference.add_ticks(-sign * sl_ticks, self._tick_raw)
        tp = reference.add_ticks(sign * tp_ticks, self._tick_raw)
        if min(sl.raw, tp.raw, reference.raw) <= 0:
            self.log.warning("no bracket: a price would not be positive (entry %s, sl %s, tp %s)", reference, sl, tp)
            return
        bracket: OrderList = self.order_factory.bracket(
            cfg.instrument_id, side, cfg.trade_size, sl_trigger_price=sl, tp_price=tp, entry_price=entry_price
        )
        for order in bracket:
            self._working[order.client_order_id] = order
        self._entry = bracket.first
        self._entry_bars = 0
        self.brackets_sent += 1
        self.submit_order_list(bracket)

    def _exit_ticks(self) -> tuple[int, int] | None:
        """(stop-loss, take-profit) distances in whole ticks; None while the ATR is not ready."""
        cfg = self.cfg
        if cfg.exit_distance == "ticks":
            return cfg.stop_loss_ticks, cfg.take_profit_ticks
        if not self.atr.initialized or self.atr.value <= 0:
            return None
        tick = self._tick.as_decimal()
        atr = Decimal(repr(self.atr.value))  # the indicator's float, read exactly as printed

        def ticks(multiple: Decimal) -> int:
            return max(1, int((atr * multiple / tick).to_integral_value(rounding=ROUND_CEILING)))

        return ticks(cfg.stop_loss_atr), ticks(cfg.take_profit_atr)

    def _enter_pending(self) -> None:
        side = self._pending_side
        if side is not None and self._idle():
            self._pending_side = None
            self._enter(side)

    def _protect(self) -> None:
        """Close a position that no exit protects any more (an exit was rejected, e.g. a stop already in the
        market when the entry filled, and its sibling went with it) with a reduce-only MARKET. Checked when an
        exit closes unfilled, on position events and on each bar, never on a close's own denial or rejection, so
        a refused close is tried again on the next bar, not in a loop."""
        if self._stopping or any(o.reduce_only for o in self._working.values()):
            return  # an exit (held or working) or a close is still there
        self._close_positions()

    # ---- events -------------------------------------------------------------------------------------------
    def on_order_event(self, event: OrderEvent) -> None:
        order = self._working.get(event.client_order_id)
        if order is None or not order.is_closed:
            return
        del self._working[event.client_order_id]
        if order is self._entry and order.filled_qty.raw == 0:
            self._entry = None
        if order.parent_order_id is not None and order.status is not OrderStatus.FILLED:
            self._protect()  # an exit went unfilled (an exit's fill shows on its position event)
        self._enter_pending()

    def on_position_opened(self, event: PositionOpened) -> None:
        self._protect()

    def on_position_changed(self, event: PositionChanged) -> None:
        self._protect()

    def on_position_closed(self, event: PositionClosed) -> None:
        self._enter_pending()
