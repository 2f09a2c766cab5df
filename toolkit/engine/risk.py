"""The pre-trade risk engine: every order passes here before it may reach a venue.

The `RiskEngine` gathers what the pure `check_order` of `toolkit.engine.risk_checks` needs (instrument,
positions, reference price, free balance, the order's initial margin on margin accounts converted at
the current rate, trading state), denies with `OrderDenied` (the strategy gets it in `on_order_denied`)
or, once the submit throttle admits it, forwards the command to the execution engine. Modifies get
the price and quantity checks, the trading state and the modify throttle, and are rejected with
`OrderModifyRejected`; cancels always pass. Throttles are sliding windows on the kernel clock. The
reference price of a market order is the last quote's ask (BUY) or bid (SELL), else the last trade,
else (bar-only data) the last bar close. `set_trading_state` changes the state at runtime.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

from toolkit.core.config import ToolkitConfig
from toolkit.engine import topics
from toolkit.engine.risk_checks import (
    adds_to_net,
    check_order,
    check_price,
    check_quantity,
    reference_price_raw,
)
from toolkit.engine.throttle import Throttle, parse_rate
from toolkit.model.accounting import convert
from toolkit.model.accounts import Account, MarginAccount
from toolkit.model.commands import ModifyOrder, SubmitOrder, TradingCommand
from toolkit.model.enums import TradingState
from toolkit.model.events import OrderDenied, OrderModifyRejected
from toolkit.model.instruments import Instrument
from toolkit.model.objects import FIXED_PRECISION, Currency, Money, Price
from toolkit.model.orders import Order

if TYPE_CHECKING:
    from toolkit.core.cache import Cache
    from toolkit.core.clock import Clock
    from toolkit.core.log import Logger
    from toolkit.core.msgbus import MessageBus
    from toolkit.engine.portfolio import Portfolio


SUBMIT_RATE_REASON = "Exceeded MAX_ORDER_SUBMIT_RATE"
MODIFY_RATE_REASON = "Exceeded MAX_ORDER_MODIFY_RATE"


class RiskEngineConfig(ToolkitConfig):
    """Pre-trade risk settings (venue spec §8), all enforced by `RiskEngine`.

    `bypass` skips every check and throttle. `trading_state` is the state at start (change it at
    runtime with `RiskEngine.set_trading_state`). `max_notional_per_order` maps instrument id -> the
    largest notional of one order, in the instrument's quote currency (text, e.g. "500000").
    `max_order_submit_rate` / `max_order_modify_rate` ("LIMIT/HH:MM:SS", default 100 per second) cap
    submits and modifies over a sliding window of the kernel clock: the excess submit is DENIED
    "Exceeded MAX_ORDER_SUBMIT_RATE", the excess modify rejected "Exceeded MAX_ORDER_MODIFY_RATE".
    The rates and notionals are checked when the config is built, with an error naming the field.
    """

    bypass: bool = False
    trading_state: TradingState = TradingState.ACTIVE
    max_notional_per_order: dict[str, str] = msgspec.field(default_factory=dict)
    max_order_submit_rate: str = "100/00:00:01"
    max_order_modify_rate: str = "100/00:00:01"
    debug: bool = False

    def __post_init__(self) -> None:
        for name in ("max_order_submit_rate", "max_order_modify_rate"):
            try:
                parse_rate(getattr(self, name))
            except ValueError as exc:
                raise ValueError(f"{type(self).__name__} field `{name}`: {exc}") from None
        for instrument_id, text in self.max_notional_per_order.items():
            try:
                value = Decimal(text)
            except ArithmeticError:
                value = Decimal("NaN")
            if not value.is_finite() or value <= 0:
                raise ValueError(
                    f"{type(self).__name__} field `max_notional_per_order`: {instrument_id} = {text!r} "
                    "is not a positive amount"
                )


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
        self.submit_throttle = Throttle.from_rate(self.config.max_order_submit_rate)
        self.modify_throttle = Throttle.from_rate(self.config.max_order_modify_rate)
        self.denied_count = 0
        msgbus.register(topics.RISK_ENGINE_EXECUTE, self.execute)

    def set_trading_state(self, state: TradingState) -> None:
        """Change the trading state now: logged, and published on `topics.TRADING_STATE` when it changes."""
        state = TradingState(state)
        if state is self.trading_state:
            return
        self.log.warning("trading state %s -> %s", self.trading_state.value, state.value)
        self.trading_state = state
        self.msgbus.publish(topics.TRADING_STATE, state)

    def reset(self) -> None:
        """Back to the configured trading state with empty throttle windows (a new run)."""
        self.trading_state = self.config.trading_state
        self.submit_throttle.reset()
        self.modify_throttle.reset()
        self.denied_count = 0

    def execute(self, command: TradingCommand) -> None:
        if self.config.bypass:
            self.msgbus.send(topics.EXEC_ENGINE_EXECUTE, command)
            return
        if isinstance(command, SubmitOrder):
            reason = self._check_submit(command)
            if reason is None and not self.submit_throttle.try_admit(self.clock.timestamp_ns()):
                reason = SUBMIT_RATE_REASON
            if reason is not None:
                self._deny(command.order, reason)
                return
        elif isinstance(command, ModifyOrder):
            reason = self._check_modify(command)
            if reason is None and not self.modify_throttle.try_admit(self.clock.timestamp_ns()):
                reason = MODIFY_RATE_REASON
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
        net = self._net(order)
        quote = self.cache.quote_tick(order.instrument_id)
        trade = self.cache.trade_tick(order.instrument_id)
        last = trade.price_raw if trade is not None else self.cache.last_price_raw(order.instrument_id)
        reference = reference_price_raw(
            order,
            quote.bid_raw if quote else None,
            quote.ask_raw if quote else None,
            last,
            None if instrument is None else instrument.price_increment.raw,
        )
        account = self.cache.account_for_venue(order.instrument_id.venue)
        free = None
        margin = None
        if account is not None and instrument is not None:
            if isinstance(account, MarginAccount):
                margin = self._order_margin(account, instrument, order, reference)
                if margin is not None:
                    free = self._free(account, margin.currency)
            else:
                free = self._free(account, instrument.quote_currency)
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
            order_margin=margin,
        )

    def _net(self, order: Order) -> int:
        return sum(p.signed_qty_raw for p in self.cache.positions_open(instrument_id=order.instrument_id))

    @staticmethod
    def _free(account: Account, currency: Currency) -> Money:
        """Free balance in `currency`; a single-currency account's base balance; 0 if the account has none."""
        free = account.balance_free(currency)
        if free is None:
            # A multi-currency account without the currency has nothing free in it.
            free = account.balance_free() if account.base_currency is not None else None
        return free if free is not None else Money(0, currency)

    def _order_margin(
        self, account: MarginAccount, instrument: Instrument, order: Order, reference_raw: int | None
    ) -> Money | None:
        """The order's initial margin as the portfolio would lock it, in the account's currency.

        None (no margin check) without a reference price, for quote-quantity orders, or when a
        single-currency account has no rate to convert the margin yet.
        """
        if reference_raw is None or order.quote_quantity:
            return None
        margin = account.calculate_margin_init(instrument, order.quantity, Price(reference_raw, FIXED_PRECISION))
        base = account.base_currency
        if base is None or margin.currency.code == base.code:
            return margin
        rate = self.portfolio.rate(margin.currency, base)
        if rate is None:
            self.log.warning(
                "no %s/%s price: margin of %s not checked against the free balance",
                margin.currency,
                base,
                order.client_order_id,
            )
            return None
        return convert(margin, base, rate)

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
            if (
                order is not None
                and command.quantity.raw > order.quantity.raw
                and adds_to_net(order.side, self._net(order))
            ):
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
