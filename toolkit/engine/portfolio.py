"""The portfolio: accounts, PnL and exposure, kept current from fills, order events and prices.

The execution engine tells the portfolio about every fill (with the gross realized PnL the position
booked) and every order event. The portfolio turns fills into account balance changes with the pure
functions of `toolkit.model.accounting` (converting to a single-currency account's base currency
at the current mid of the pair), keeps order locks (cash) and margins (margin accounts) per
instrument, and publishes each new `AccountState`. Strategies read net positions, realized and
unrealized PnL and equity from it; snapshots read the equity points it computes.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

import msgspec

from toolkit.engine import topics
from toolkit.model.accounting import account_state_after_fill, convert, exchange_rate
from toolkit.model.accounts import Account, CashAccount, MarginAccount, account_from_state
from toolkit.model.enums import AccountType, PositionSide
from toolkit.model.events import (
    AccountState,
    MarginBalance,
    OrderAccepted,
    OrderCanceled,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderUpdated,
)
from toolkit.model.identifiers import AccountId, InstrumentId
from toolkit.model.instruments import CurrencyPair, Instrument
from toolkit.model.objects import FIXED_SCALE, Currency, Money, Price, Quantity
from toolkit.model.orders import Order
from toolkit.model.position import Position

if TYPE_CHECKING:
    from toolkit.core.cache import Cache
    from toolkit.core.clock import Clock
    from toolkit.core.log import Logger
    from toolkit.core.msgbus import MessageBus


_LOCK_CHANGING_EVENTS = frozenset({OrderAccepted, OrderUpdated, OrderCanceled, OrderExpired, OrderRejected})

class EquityPoint(msgspec.Struct, frozen=True):
    """One account currency's balance, open-position mark and equity at `ts`."""

    ts: int
    account_id: str
    currency: str
    balance: Money
    unrealized: Money
    equity: Money


class AccountOptions:
    """Leverage and margin settings the venue applies to a margin account."""

    def __init__(
        self, default_leverage: Decimal = Decimal(1), leverages: dict[InstrumentId, Decimal] | None = None
    ) -> None:
        self.default_leverage = default_leverage
        self.leverages = dict(leverages or {})


class Portfolio:
    """Accounts and PnL; see the module docstring."""

    def __init__(self, clock: Clock, msgbus: MessageBus, cache: Cache, log: Logger) -> None:
        self.clock = clock
        self.msgbus = msgbus
        self.cache = cache
        self.log = log
        self._options: dict[str, AccountOptions] = {}
        self.account_states: list[AccountState] = []
        self._pair_index: dict[str, InstrumentId] = {}
        self._pair_index_size: tuple[int, int] = (-1, -1)
        self._last_fill_px: dict[InstrumentId, int] = {}

    def set_account_options(self, venue: str, options: AccountOptions) -> None:
        self._options[str(venue)] = options

    def reset(self) -> None:
        self.account_states.clear()
        self._last_fill_px.clear()
        self._pair_index.clear()
        self._pair_index_size: tuple[int, int] = (-1, -1)

    # ---- account updates ---------------------------------------------------------------------
    def apply_account_state(self, state: AccountState) -> None:
        account = self.cache.account(state.account_id)
        if account is None:
            options = self._options.get(state.account_id.issuer, AccountOptions())
            if state.account_type is AccountType.MARGIN:
                account = account_from_state(state, default_leverage=options.default_leverage)
            else:
                account = account_from_state(state)
            if isinstance(account, MarginAccount):
                for instrument_id, leverage in options.leverages.items():
                    account.set_leverage(instrument_id, leverage)
            self.cache.add_account(account)
        else:
            account.apply(state)
        self._record(state)

    def _record(self, state: AccountState) -> None:
        self.account_states.append(state)
        self.msgbus.publish(topics.account_events_topic(state.account_id), state)

    def on_fill(self, fill: OrderFilled, position: Position, gross_realized: Money) -> None:
        """Book a fill on its account (exactly the deltas accounting computes) and refresh locks."""
        account = self.cache.account(fill.account_id)
        instrument = self.cache.instrument(fill.instrument_id)
        if account is None or instrument is None:
            self.log.error(
                "fill %s: account %s or instrument unknown, balance not updated", fill.trade_id, fill.account_id
            )
            return
        self._last_fill_px[fill.instrument_id] = fill.last_px.raw
        rate = self._conversion_rates(account, instrument, fill)
        state = account_state_after_fill(account, instrument, fill, gross_realized, fill.ts_event, rate)
        account.apply(state)
        self._refresh_locks(account, instrument)
        self._record(account.to_state(self.clock.timestamp_ns()))

    def on_order_event(self, order: Order, event: OrderEvent) -> None:
        """Re-lock what open orders on the instrument reserve (only priced orders lock anything), after the events
        that can change it: an order opening, changing price or quantity, or closing without a fill. Submitted,
        pending, triggered and refused modify/cancel events leave the locks as they are."""
        if type(event) not in _LOCK_CHANGING_EVENTS or (order.price is None and order.trigger_price is None):
            return
        account = self.cache.account_for_venue(order.instrument_id.venue)
        instrument = self.cache.instrument(order.instrument_id)
        if account is None or instrument is None:
            return
        if self._refresh_locks(account, instrument, positions_changed=False):
            self._record(account.to_state(self.clock.timestamp_ns()))

    def _refresh_locks(self, account: Account, instrument: Instrument, positions_changed: bool = True) -> bool:
        """Recompute the instrument's locks/margins; True if anything changed. An order event leaves positions
        as they are (`positions_changed=False`): the maintenance margin held for them is kept, not recomputed."""
        open_orders = self.cache.orders_open(instrument_id=instrument.id)
        if isinstance(account, CashAccount):
            locked = account.calculate_balance_locked(instrument, open_orders)
            locked = {code: self._to_account_ccy(account, m) for code, m in locked.items()}
            if locked == account.locked_for(instrument.id):
                return False
            account.update_balance_locked(instrument.id, list(locked.values()))
            return True
        if isinstance(account, MarginAccount):
            ccy = account.base_currency or instrument.settlement_currency
            init = Money(0, ccy)
            for order in open_orders:
                if order.reduce_only:
                    continue
                price = order.price if order.price is not None else order.trigger_price
                if price is None:
                    continue
                margin = account.calculate_margin_init(instrument, order.leaves_qty, price)
                init = init + self._to_account_ccy(account, margin)
            current = account.margin(instrument.id)
            if not positions_changed and current is not None and current.maintenance.currency.code == ccy.code:
                maint = current.maintenance
                if current.initial == init:
                    return False
                account.update_margin(MarginBalance(init, maint, instrument.id))
                return True
            positions = self.cache.positions_open(instrument_id=instrument.id)
            maint = Money(0, ccy)
            if len(positions) == 1:  # the common case (NETTING): its own average in integers, no summing
                net_raw = positions[0].signed_qty_raw
                if net_raw != 0:
                    px_num, px_den = positions[0].avg_px_open_raw_ratio
                    margin = account.calculate_margin_maint_raw(instrument, abs(net_raw), px_num, px_den)
                    maint = self._to_account_ccy(account, margin)
            elif positions:
                net_raw = 0
                cost = Fraction(0)
                for position in positions:
                    net_raw += position.signed_qty_raw
                    cost += position.avg_px_open_exact * position.signed_qty_raw
                if net_raw != 0:
                    avg = cost / net_raw  # exact, in price units
                    size = Quantity(abs(net_raw), instrument.size_precision)
                    maint = self._to_account_ccy(account, account.calculate_margin_maint(instrument, size, avg))
            if current is not None and current.initial == init and current.maintenance == maint:
                return False
            if current is None and init.raw == 0 and maint.raw == 0:
                return False
            account.update_margin(MarginBalance(init, maint, instrument.id))  # one re-split of the balance
            return True
        return False

    # ---- currency conversion -----------------------------------------------------------------
    def _mid(self, symbol: str) -> Decimal | None:
        version = (self.cache.generation, self.cache.instruments_version)
        if self._pair_index_size != version:  # rebuilt only when the cache's instruments changed
            self._pair_index = {str(i.id.symbol): i.id for i in self.cache.instruments() if isinstance(i, CurrencyPair)}
            self._pair_index_size = version
        instrument_id = self._pair_index.get(symbol)
        if instrument_id is None:
            return None
        raw = self.cache.last_price_raw(instrument_id)
        if raw is None:
            raw = self._last_fill_px.get(instrument_id)  # e.g. bar data not yet cached during the bar replay
        return None if raw is None else Decimal(raw) / FIXED_SCALE

    def rate(self, from_ccy: Currency, to_ccy: Currency) -> Decimal | None:
        """Units of `to_ccy` per unit of `from_ccy` from the latest prices of the pair, or None."""
        if from_ccy.code == to_ccy.code:
            return Decimal(1)
        mids: dict[str, Decimal] = {}
        for symbol in (f"{from_ccy.code}/{to_ccy.code}", f"{to_ccy.code}/{from_ccy.code}"):
            mid = self._mid(symbol)
            if mid is not None:
                mids[symbol] = mid
        return exchange_rate(from_ccy, to_ccy, mids)

    def _conversion_rates(
        self, account: Account, instrument: Instrument, fill: OrderFilled
    ) -> dict[str, Decimal] | None:
        """Rates to a single-currency account's base currency for every currency the fill moves.

        Commission and realized PnL in another currency are converted at the *current* rate (venue spec
        §5.3): the mid of the latest quote the cache holds for the pair (direct or inverse), else its last
        trade or bar close. In a backtest the venue matches a data point before the cache sees it, so a
        fill triggered by a quote converts at the quote before it. Only when the cache has no price at
        all for the pair is the fill's own price used (`_mid` falls back to the last fill price).
        """
        base = account.base_currency
        if base is None:
            return None
        rates: dict[str, Decimal] = {}
        for ccy in (instrument.quote_currency, instrument.settlement_currency, fill.commission.currency):
            if ccy.code == base.code or ccy.code in rates:
                continue
            rate = self.rate(ccy, base)
            if rate is not None:
                rates[ccy.code] = rate
        return rates

    def _to_account_ccy(self, account: Account, money: Money) -> Money:
        base = account.base_currency
        if base is None or money.currency.code == base.code:
            return money
        rate = self.rate(money.currency, base)
        if rate is None:
            self.log.warning(
                "no %s/%s price to convert %s: counted as 0 until a price arrives", money.currency, base, money
            )
            return Money(0, base)
        return convert(money, base, rate)

    # ---- queries -----------------------------------------------------------------------------
    def unrealized_pnl_for(self, position: Position) -> Money:
        if not position.is_open:
            return Money(0, position.settlement_currency)
        raw = self.cache.last_price_raw(position.instrument_id, position.side)
        if raw is None:
            return Money(0, position.settlement_currency)
        return position.unrealized_pnl(Price(raw, 9))

    def unrealized_pnl(self, instrument_id: InstrumentId) -> Money | None:
        positions = self.cache.positions_open(instrument_id=instrument_id)
        if not positions:
            return None
        total = Money(0, positions[0].settlement_currency)
        for position in positions:
            total = total + self.unrealized_pnl_for(position)
        return total

    def realized_pnl(self, instrument_id: InstrumentId) -> Money | None:
        positions = self.cache.positions(instrument_id=instrument_id) + [
            p for p in self.cache.position_snapshots() if p.instrument_id == instrument_id
        ]
        if not positions:
            return None
        total = Money(0, positions[0].settlement_currency)
        for position in positions:
            total = total + position.realized_pnl
        return total

    def net_position(self, instrument_id: InstrumentId) -> Decimal:
        net = sum(p.signed_qty_raw for p in self.cache.positions_open(instrument_id=instrument_id))
        return Decimal(net) / FIXED_SCALE

    def is_net_long(self, instrument_id: InstrumentId) -> bool:
        return self.net_position(instrument_id) > 0

    def is_net_short(self, instrument_id: InstrumentId) -> bool:
        return self.net_position(instrument_id) < 0

    def is_flat(self, instrument_id: InstrumentId) -> bool:
        return self.net_position(instrument_id) == 0

    def is_completely_flat(self) -> bool:
        return not self.cache.positions_open()

    def account(self, venue: str) -> Account | None:
        return self.cache.account_for_venue(venue)

    def equity(self, account_id: AccountId) -> dict[str, Money]:
        """Balance totals plus open positions marked to market (margin: unrealized PnL; cash: value)."""
        account = self.cache.account(account_id)
        if account is None:
            return {}
        result = dict(account.balances_total())
        for position in self.cache.positions_open(venue=account_id.issuer):
            if isinstance(account, CashAccount):
                raw = self.cache.last_price_raw(position.instrument_id, position.side)
                if raw is None:
                    continue
                value = position.notional_value(Price(raw, 9))
                mark = value if position.is_long else -value
            else:
                mark = self.unrealized_pnl_for(position)
            mark = self._to_account_ccy(account, mark)
            code = mark.currency.code
            result[code] = result[code] + mark if code in result else mark
        return result

    def equity_points(self, ts: int) -> list[EquityPoint]:
        """Balance, unrealized mark and equity per account and currency, as of now."""
        points = []
        for account in self.cache.accounts():
            equity = self.equity(account.id)
            unrealized = self.unrealized_total(account.id)
            for code, balance in account.balances_total().items():
                points.append(
                    EquityPoint(
                        ts=ts,
                        account_id=str(account.id),
                        currency=code,
                        balance=balance,
                        unrealized=unrealized.get(code, Money(0, balance.currency)),
                        equity=equity.get(code, balance),
                    )
                )
        return points

    def unrealized_total(self, account_id: AccountId) -> dict[str, Money]:
        account = self.cache.account(account_id)
        result: dict[str, Money] = {}
        if account is None:
            return result
        for position in self.cache.positions_open(venue=account_id.issuer):
            mark = self._to_account_ccy(account, self.unrealized_pnl_for(position))
            code = mark.currency.code
            result[code] = result[code] + mark if code in result else mark
        return result


__all__ = ["AccountOptions", "EquityPoint", "Portfolio", "PositionSide"]
