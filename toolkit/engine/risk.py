"""The pre-trade risk engine: every order passes here before it may reach a venue.

`check_order` is a pure function from an order, its instrument and what the engine knows (positions,
free balance, reference price, trading state) to a denial reason or None, in the order of the venue
spec §8: reduce-only against an explicit position, instrument, price and trigger (precision, sign,
grid), quantity (precision, grid, min/max), GTD expiry, notional limits and cash balance, trading
state. The `RiskEngine` gathers those facts, denies with `OrderDenied` (the strategy gets it in
`on_order_denied`) or forwards the command to the execution engine. Modifies get the same price and
quantity checks and are rejected with `OrderModifyRejected`.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

import msgspec

from toolkit.core.config import ToolkitConfig
from toolkit.engine import topics
from toolkit.model.commands import ModifyOrder, SubmitOrder, TradingCommand
from toolkit.model.enums import AccountType, OrderSide, OrderType, TimeInForce, TradingState
from toolkit.model.events import OrderDenied, OrderModifyRejected
from toolkit.model.instruments import Instrument
from toolkit.model.objects import FIXED_SCALE, Money, Price, Quantity, format_raw
from toolkit.model.orders import Order

if TYPE_CHECKING:
    from toolkit.core.cache import Cache
    from toolkit.core.clock import Clock
    from toolkit.core.log import Logger
    from toolkit.core.msgbus import MessageBus
    from toolkit.engine.portfolio import Portfolio


class RiskEngineConfig(ToolkitConfig):
    """Pre-trade risk settings. `max_notional_per_order` maps instrument id -> max notional (text).

    `max_order_submit_rate` / `max_order_modify_rate` ("LIMIT/HH:MM:SS") are accepted but not enforced
    yet: the throttles arrive with the "honest fills" issue.
    """

    bypass: bool = False
    trading_state: TradingState = TradingState.ACTIVE
    max_notional_per_order: dict[str, str] = msgspec.field(default_factory=dict)
    max_order_submit_rate: str = "100/00:00:01"
    max_order_modify_rate: str = "100/00:00:01"
    debug: bool = False


def check_price(label: str, price: Price, instrument: Instrument) -> str | None:
    """Reason a price is invalid for the instrument, or None."""
    if price.precision > instrument.price_precision:
        return f"{label} {price} invalid (precision {price.precision} > {instrument.price_precision})"
    if price.raw <= 0 and not instrument.allow_negative_prices:
        return f"{label} {price} invalid (not positive)"
    if price.raw % instrument.price_increment.raw != 0:
        return f"{label} {price} invalid (not a multiple of price_increment {instrument.price_increment})"
    if instrument.max_price is not None and price.raw > instrument.max_price.raw:
        return f"{label} {price} invalid (> maximum price {instrument.max_price})"
    if instrument.min_price is not None and price.raw < instrument.min_price.raw:
        return f"{label} {price} invalid (< minimum price {instrument.min_price})"
    return None


def check_quantity(quantity: Quantity, instrument: Instrument) -> str | None:
    """Reason a quantity is invalid for the instrument, or None."""
    if quantity.precision > instrument.size_precision:
        return f"quantity {quantity} invalid (precision {quantity.precision} > {instrument.size_precision})"
    if quantity.raw <= 0:
        return f"quantity {quantity} invalid (not positive)"
    if quantity.raw % instrument.size_increment.raw != 0:
        return f"quantity {quantity} invalid (not a multiple of size_increment {instrument.size_increment})"
    if instrument.max_quantity is not None and quantity.raw > instrument.max_quantity.raw:
        return f"quantity {quantity} invalid (> maximum trade size {instrument.max_quantity})"
    if instrument.min_quantity is not None and quantity.raw < instrument.min_quantity.raw:
        return f"quantity {quantity} invalid (< minimum trade size {instrument.min_quantity})"
    return None


def reference_price_raw(order: Order, bid_raw: int | None, ask_raw: int | None, last_raw: int | None) -> int | None:
    """The price a notional check uses (spec §8.6): the limit, the trigger of stops, else the market."""
    if order.order_type in (OrderType.STOP_MARKET, OrderType.MARKET_IF_TOUCHED):
        return None if order.trigger_price is None else order.trigger_price.raw
    if order.price is not None:
        return order.price.raw
    if order.trigger_price is not None:
        return order.trigger_price.raw
    market = ask_raw if order.side is OrderSide.BUY else bid_raw
    return market if market is not None else last_raw


def check_order(
    order: Order,
    instrument: Instrument | None,
    *,
    now_ns: int,
    position_signed_raw: int | None,
    net_signed_raw: int,
    reference_raw: int | None,
    account_type: AccountType | None,
    free_balance: Money | None,
    max_notional: Money | None,
    trading_state: TradingState,
) -> str | None:
    """The reason to deny `order`, or None if it may go to the venue (spec §8, in that order).

    `position_signed_raw` is the signed size of the position named by the order's position id
    (None when the order names none); `net_signed_raw` is the net position of the instrument.
    """
    if order.reduce_only and position_signed_raw is not None:
        qty = order.quantity.raw
        wrong_side = (
            position_signed_raw == 0
            or (position_signed_raw > 0 and order.side is OrderSide.BUY)
            or (position_signed_raw < 0 and order.side is OrderSide.SELL)
        )
        if wrong_side or qty > abs(position_signed_raw):
            return f"Reduce only order would increase position (position {format_raw(position_signed_raw, 9)})"
    if instrument is None:
        return f"instrument {order.instrument_id} not found"
    if order.price is not None:
        reason = check_price("price", order.price, instrument)
        if reason:
            return reason
    elif order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        return f"{order.order_type.value} order has no price"
    if order.trigger_price is not None:
        reason = check_price("trigger price", order.trigger_price, instrument)
        if reason:
            return reason
    elif order.order_type in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT):
        return f"{order.order_type.value} order has no trigger price"
    reason = check_quantity(order.quantity, instrument)
    if reason:
        return reason
    if order.time_in_force is TimeInForce.GTD and order.expire_time_ns <= now_ns:
        return f"GTD expire time {order.expire_time_ns} already passed (now {now_ns})"
    if reference_raw is not None:
        notional = Money.from_raw_rounded(
            Fraction(order.quantity.raw * reference_raw * instrument.multiplier.raw, FIXED_SCALE * FIXED_SCALE),
            instrument.quote_currency,
        )
        if max_notional is not None and notional.raw > max_notional.raw:
            return f"NOTIONAL_EXCEEDS_MAX_PER_ORDER: notional {notional} > max {max_notional}"
        if instrument.min_notional is not None and notional.raw < instrument.min_notional.raw:
            return f"NOTIONAL_LESS_THAN_MIN_FOR_INSTRUMENT: notional {notional} < min {instrument.min_notional}"
        if instrument.max_notional is not None and notional.raw > instrument.max_notional.raw:
            return f"NOTIONAL_GREATER_THAN_MAX_FOR_INSTRUMENT: notional {notional} > max {instrument.max_notional}"
        reducing = order.reduce_only or (order.side is OrderSide.SELL and net_signed_raw >= order.quantity.raw)
        if (
            account_type is AccountType.CASH
            and free_balance is not None
            and order.side is OrderSide.BUY
            and not reducing
            and free_balance.currency.code == notional.currency.code
            and notional.raw > free_balance.raw
        ):
            return f"NOTIONAL_EXCEEDS_FREE_BALANCE: notional {notional} > free balance {free_balance}"
    if trading_state is TradingState.HALTED:
        return "TradingState.HALTED: no new orders"
    if trading_state is TradingState.REDUCING:
        increases = (
            net_signed_raw == 0
            or (net_signed_raw > 0 and order.side is OrderSide.BUY)
            or (net_signed_raw < 0 and order.side is OrderSide.SELL)
        )
        if increases:
            return f"TradingState.REDUCING: {order.side.value} order would increase exposure"
    return None


class RiskEngine:
    """Gathers the facts `check_order` needs, then denies or forwards; see the module docstring."""

    def __init__(
        self,
        clock: Clock,
        msgbus: MessageBus,
        cache: Cache,
        portfolio: Portfolio,
        log: Logger,
        config: RiskEngineConfig | None = None,
    ) -> None:
        self.clock = clock
        self.msgbus = msgbus
        self.cache = cache
        self.portfolio = portfolio
        self.log = log
        self.config = config or RiskEngineConfig()
        self.trading_state = self.config.trading_state
        self._max_notional: dict[str, Decimal] = {
            key: Decimal(value) for key, value in self.config.max_notional_per_order.items()
        }
        self.denied_count = 0
        msgbus.register(topics.RISK_ENGINE_EXECUTE, self.execute)

    def set_trading_state(self, state: TradingState) -> None:
        if state is not self.trading_state:
            self.log.warning("trading state %s -> %s", self.trading_state.value, state.value)
        self.trading_state = state

    def execute(self, command: TradingCommand) -> None:
        if self.config.bypass:
            self.msgbus.send(topics.EXEC_ENGINE_EXECUTE, command)
            return
        if isinstance(command, SubmitOrder):
            reason = self._check_submit(command)
            if reason is not None:
                self._deny(command.order, reason)
                return
        elif isinstance(command, ModifyOrder):
            reason = self._check_modify(command)
            if reason is not None:
                self._reject_modify(command, reason)
                return
        self.msgbus.send(topics.EXEC_ENGINE_EXECUTE, command)

    def _check_submit(self, command: SubmitOrder) -> str | None:
        order = command.order
        instrument = self.cache.instrument(order.instrument_id)
        position_signed: int | None = None
        position_id = command.position_id or order.position_id
        if position_id is not None:
            position = self.cache.position(position_id)
            position_signed = 0 if position is None or position.is_closed else position.signed_qty_raw
        net = sum(p.signed_qty_raw for p in self.cache.positions_open(instrument_id=order.instrument_id))
        quote = self.cache.quote_tick(order.instrument_id)
        trade = self.cache.trade_tick(order.instrument_id)
        last = trade.price_raw if trade is not None else self.cache.last_price_raw(order.instrument_id)
        reference = reference_price_raw(order, quote.bid_raw if quote else None, quote.ask_raw if quote else None, last)
        account = self.cache.account_for_venue(order.instrument_id.venue)
        free = None
        if account is not None and instrument is not None:
            free = account.balance_free(instrument.quote_currency)
            if free is None:
                # A multi-currency account without the quote currency has nothing free in it.
                has_base = account.base_currency is not None
                free = account.balance_free() if has_base else Money(0, instrument.quote_currency)
        max_notional = None
        if instrument is not None and str(order.instrument_id) in self._max_notional:
            max_notional = Money.of(self._max_notional[str(order.instrument_id)], instrument.quote_currency)
        return check_order(
            order,
            instrument,
            now_ns=self.clock.timestamp_ns(),
            position_signed_raw=position_signed,
            net_signed_raw=net,
            reference_raw=reference,
            account_type=None if account is None else account.account_type,
            free_balance=free,
            max_notional=max_notional,
            trading_state=self.trading_state,
        )

    def _check_modify(self, command: ModifyOrder) -> str | None:
        instrument = self.cache.instrument(command.instrument_id)
        if instrument is None:
            return f"instrument {command.instrument_id} not found"
        if self.trading_state is TradingState.HALTED:
            return "TradingState.HALTED: modifies are not allowed"
        if command.price is not None:
            reason = check_price("price", command.price, instrument)
            if reason:
                return reason
        if command.trigger_price is not None:
            reason = check_price("trigger price", command.trigger_price, instrument)
            if reason:
                return reason
        if command.quantity is not None:
            reason = check_quantity(command.quantity, instrument)
            if reason:
                return reason
        if self.trading_state is TradingState.REDUCING and command.quantity is not None:
            order = self.cache.order(command.client_order_id)
            if order is not None and command.quantity.raw > order.quantity.raw:
                return "TradingState.REDUCING: modify would increase exposure"
        return None

    def _deny(self, order: Order, reason: str) -> None:
        self.denied_count += 1
        now = self.clock.timestamp_ns()
        self.msgbus.send(
            topics.EXEC_ENGINE_PROCESS,
            OrderDenied(
                trader_id=order.trader_id,
                strategy_id=order.strategy_id,
                instrument_id=order.instrument_id,
                client_order_id=order.client_order_id,
                reason=reason,
                ts_event=now,
                ts_init=now,
            ),
        )

    def _reject_modify(self, command: ModifyOrder, reason: str) -> None:
        now = self.clock.timestamp_ns()
        order = self.cache.order(command.client_order_id)
        self.msgbus.send(
            topics.EXEC_ENGINE_PROCESS,
            OrderModifyRejected(
                trader_id=command.trader_id,
                strategy_id=command.strategy_id,
                instrument_id=command.instrument_id,
                client_order_id=command.client_order_id,
                reason=reason,
                venue_order_id=None if order is None else order.venue_order_id,
                ts_event=now,
                ts_init=now,
            ),
        )
