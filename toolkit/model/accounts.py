"""Accounts: balances per currency, and what is locked against orders (cash) or margin (margin).

An account is built from its first `AccountState` and `apply(state)` replaces its balances (and
margins) with those of a later state, keeping every state in `events`; `to_state(ts)` turns the
current picture back into an `AccountState` for the engines to publish. `CashAccount` locks the
notional of its open priced orders; `MarginAccount` holds a `MarginBalance` per instrument,
computed with a leveraged or standard margin model. Every balance keeps total = locked + free
exactly, with free clamped at zero. How a fill moves the balances lives in `toolkit.model.accounting`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any, ClassVar, Self

from toolkit.model.enums import AccountType, OrderSide, parse_enum
from toolkit.model.events import AccountBalance, AccountState, MarginBalance
from toolkit.model.identifiers import AccountId, InstrumentId
from toolkit.model.instruments import Instrument
from toolkit.model.objects import FIXED_SCALE, Currency, Money, Price, Quantity, decimal_ratio
from toolkit.model.orders import Order

_SCALE_SQUARED = FIXED_SCALE * FIXED_SCALE


class MarginModel(StrEnum):
    """How margin is computed from a notional: divided by leverage (LEVERAGED) or not (STANDARD)."""

    LEVERAGED = "LEVERAGED"
    STANDARD = "STANDARD"


def balance_from_total(total: Money, required_locked_raw: int) -> AccountBalance:
    """A balance of `total` holding `required_locked_raw` back: free = max(0, total - required), locked = the rest."""
    free_raw = max(0, total.raw - required_locked_raw)
    currency = total.currency
    return AccountBalance(total, Money(total.raw - free_raw, currency), Money(free_raw, currency))


def _currency_code(currency: Currency | str) -> str:
    return currency.code if isinstance(currency, Currency) else currency.upper()


class Account:
    """Balances of one account, one `AccountBalance` per currency; the base of cash and margin accounts.

    `base_currency` None means a multi-currency account; otherwise every balance is in the base
    currency and amounts in other currencies must be converted before they reach the account.
    """

    account_type: ClassVar[AccountType]

    def __init__(self, state: AccountState) -> None:
        if state.account_type is not self.account_type:
            raise ValueError(
                f"account {state.account_id}: a {state.account_type} state cannot build a {type(self).__name__}"
            )
        self.id: AccountId = state.account_id
        self.base_currency: Currency | None = state.base_currency
        self.events: list[AccountState] = []
        self._balances: dict[str, AccountBalance] = {}
        self.apply(state)

    @classmethod
    def with_starting_balances(
        cls,
        account_id: AccountId,
        balances: Iterable[Money],
        base_currency: Currency | None = None,
        ts: int = 0,
        **options: Any,
    ) -> Self:
        """An account whose first state holds `balances` all free; `options` go to the constructor."""
        state = AccountState(
            ts_event=ts,
            ts_init=ts,
            account_id=account_id,
            account_type=cls.account_type,
            base_currency=base_currency,
            balances=tuple(AccountBalance(m, Money(0, m.currency), m) for m in balances),
        )
        return cls(state, **options)

    # ---- state -------------------------------------------------------------------------------
    def apply(self, state: AccountState) -> None:
        """Replace the balances (and margins) with those of `state` and record it."""
        if state.account_id != self.id:
            raise ValueError(f"account {self.id}: state for {state.account_id}")
        if state.account_type is not self.account_type:
            raise ValueError(f"account {self.id}: {state.account_type} state on a {self.account_type} account")
        base = self.base_currency
        state_base = state.base_currency
        if (base.code if base else None) != (state_base.code if state_base else None):
            raise ValueError(f"account {self.id}: state base currency {state_base} differs from {base}")
        balances: dict[str, AccountBalance] = {}
        for balance in state.balances:
            code = balance.total.currency.code
            if code in balances:
                raise ValueError(f"account {self.id}: two balances in {code}")
            if base is not None and code != base.code:
                raise ValueError(f"account {self.id}: balance in {code} on a single-currency {base.code} account")
            balances[code] = balance
        self._apply_margins(state)
        self._balances = balances
        self.events.append(state)

    def _apply_margins(self, state: AccountState) -> None:
        if state.margins:
            raise ValueError(f"account {self.id}: a {self.account_type} account holds no margins")

    @property
    def last_event(self) -> AccountState:
        return self.events[-1]

    @property
    def event_count(self) -> int:
        return len(self.events)

    @property
    def is_cash_account(self) -> bool:
        return self.account_type is AccountType.CASH

    @property
    def is_margin_account(self) -> bool:
        return self.account_type is AccountType.MARGIN

    def to_state(self, ts: int, *, reported: bool = False) -> AccountState:
        """The current balances and margins as an `AccountState` stamped `ts`."""
        return AccountState(
            ts_event=ts,
            ts_init=ts,
            account_id=self.id,
            account_type=self.account_type,
            base_currency=self.base_currency,
            balances=tuple(self._balances.values()),
            margins=self.margin_balances(),
            reported=reported,
        )

    def margin_balances(self) -> tuple[MarginBalance, ...]:
        """Margins held per instrument (none on a cash account)."""
        return ()

    def locked_required_raw(self, currency_code: str) -> int | None:
        """Raw amount this account itself requires locked in a currency, or None if it does not track it."""
        return None

    # ---- balances ----------------------------------------------------------------------------
    def _code(self, currency: Currency | str | None) -> str:
        if currency is None:
            if self.base_currency is None:
                raise ValueError(f"account {self.id} is multi-currency: name the currency")
            return self.base_currency.code
        return _currency_code(currency)

    def currencies(self) -> list[Currency]:
        return [b.total.currency for b in self._balances.values()]

    def balances(self) -> dict[str, AccountBalance]:
        """Balance per currency code (a copy)."""
        return dict(self._balances)

    def balance(self, currency: Currency | str | None = None) -> AccountBalance | None:
        """The balance in `currency` (default: the base currency), or None if there is none."""
        return self._balances.get(self._code(currency))

    def balance_total(self, currency: Currency | str | None = None) -> Money | None:
        balance = self.balance(currency)
        return None if balance is None else balance.total

    def balance_free(self, currency: Currency | str | None = None) -> Money | None:
        balance = self.balance(currency)
        return None if balance is None else balance.free

    def balance_locked(self, currency: Currency | str | None = None) -> Money | None:
        balance = self.balance(currency)
        return None if balance is None else balance.locked

    def balances_total(self) -> dict[str, Money]:
        return {code: b.total for code, b in self._balances.items()}

    def starting_balances(self) -> dict[str, Money]:
        """Total per currency code in the first state applied."""
        return {b.total.currency.code: b.total for b in self.events[0].balances}

    def _require_balance(self, amount: Money) -> None:
        if amount.raw != 0 and amount.currency.code not in self._balances:
            raise ValueError(
                f"account {self.id} has no {amount.currency.code} balance to lock {amount} against; "
                "convert the amount to the account currency first (toolkit.model.accounting.convert)"
            )

    def _relock(self, currency_code: str, required_raw: int) -> None:
        balance = self._balances.get(currency_code)
        if balance is not None:
            self._balances[currency_code] = balance_from_total(balance.total, required_raw)

    def __repr__(self) -> str:
        shown = ", ".join(str(b.total) for b in self._balances.values())
        return f"{type(self).__name__}({self.id}, [{shown}])"


class CashAccount(Account):
    """A cash account: fills move the whole notional; open orders lock what they could spend.

    Locked per instrument is set with `update_balance_locked` (typically from
    `calculate_balance_locked`), and the balance's locked amount is the sum over instruments.
    """

    account_type: ClassVar[AccountType] = AccountType.CASH

    def __init__(self, state: AccountState) -> None:
        self._locked: dict[InstrumentId, dict[str, Money]] = {}
        super().__init__(state)

    def calculate_balance_locked(self, instrument: Instrument, orders: Iterable[Order]) -> dict[str, Money]:
        """What the open, priced, non-reduce-only orders on `instrument` lock, per currency code.

        BUY locks leaves_qty x price x multiplier in the quote currency. On a multi-currency account
        a SELL of an instrument with a base currency locks leaves_qty in that currency; a
        single-currency account locks only BUY notional. The trigger price stands in for a stop's price.
        """
        lock_sells = self.base_currency is None and instrument.base_currency_or_none is not None
        multiplier = instrument.multiplier.raw
        buy_raw = 0
        sell_raw = 0
        for order in orders:
            if order.instrument_id != instrument.id or order.reduce_only or not order.is_open:
                continue
            price = order.price if order.price is not None else order.trigger_price
            if price is None:
                continue
            leaves = order.leaves_qty.raw
            if order.side is OrderSide.BUY:
                buy_raw += leaves * price.raw * multiplier
            elif lock_sells:
                sell_raw += leaves
        locked: dict[str, Money] = {}
        if buy_raw:
            quote = instrument.quote_currency
            locked[quote.code] = Money.from_raw_rounded(Fraction(buy_raw, _SCALE_SQUARED), quote)
        if sell_raw:
            base = instrument.base_currency_or_none
            assert base is not None
            locked[base.code] = Money.from_raw_rounded(sell_raw, base)
        return locked

    def update_balance_locked(self, instrument_id: InstrumentId, locked: Mapping[str, Money] | Iterable[Money]) -> None:
        """Set what `instrument_id` locks (replacing its previous amounts) and re-split the balances."""
        amounts = list(locked.values()) if isinstance(locked, Mapping) else list(locked)
        for money in amounts:
            self._require_balance(money)
        previous = self._locked.pop(instrument_id, {})
        current: dict[str, Money] = {}
        for money in amounts:
            code = money.currency.code
            current[code] = money if code not in current else current[code] + money
        if current:
            self._locked[instrument_id] = current
        for code in set(previous) | set(current):
            self._relock(code, self._sum_locked(code))

    def clear_balance_locked(self, instrument_id: InstrumentId) -> None:
        self.update_balance_locked(instrument_id, ())

    def locked_for(self, instrument_id: InstrumentId) -> dict[str, Money]:
        return dict(self._locked.get(instrument_id, {}))

    def _sum_locked(self, code: str) -> int:
        return sum(by_ccy[code].raw for by_ccy in self._locked.values() if code in by_ccy)

    def locked_required_raw(self, currency_code: str) -> int | None:
        if any(currency_code in by_ccy for by_ccy in self._locked.values()):
            return self._sum_locked(currency_code)
        return None


class MarginAccount(Account):
    """A margin account: fills move only realized PnL and commission; margins are locked per instrument.

    Initial margin (open orders) and maintenance margin (positions) are set per instrument with
    `update_margin_init` / `update_margin_maint`, usually from `calculate_margin_init` /
    `calculate_margin_maint`; the locked amount per currency is their sum, clamped to the total.
    """

    account_type: ClassVar[AccountType] = AccountType.MARGIN

    def __init__(
        self,
        state: AccountState,
        *,
        default_leverage: Decimal = Decimal(1),
        margin_model: MarginModel | str = MarginModel.LEVERAGED,
    ) -> None:
        self._margins: dict[InstrumentId, MarginBalance] = {}
        self._leverages: dict[InstrumentId, Decimal] = {}
        self.default_leverage = self._checked_leverage(default_leverage)
        self.margin_model = parse_enum(MarginModel, margin_model)
        super().__init__(state)

    def _apply_margins(self, state: AccountState) -> None:
        margins: dict[InstrumentId, MarginBalance] = {}
        for margin in state.margins:
            self._check_margin(margin)
            margins[margin.instrument_id] = margin
        self._margins = margins

    def _check_margin(self, margin: MarginBalance) -> None:
        if margin.initial.currency.code != margin.maintenance.currency.code:
            raise ValueError(
                f"account {self.id}: margin for {margin.instrument_id} mixes {margin.initial.currency} "
                f"and {margin.maintenance.currency}"
            )

    # ---- leverage ----------------------------------------------------------------------------
    def _checked_leverage(self, leverage: Decimal) -> Decimal:
        value = Decimal(leverage)
        if not value.is_finite() or value <= 0:
            raise ValueError(f"account {getattr(self, 'id', '?')}: leverage must be positive, got {leverage}")
        return value

    def set_default_leverage(self, leverage: Decimal) -> None:
        self.default_leverage = self._checked_leverage(leverage)

    def set_leverage(self, instrument_id: InstrumentId, leverage: Decimal) -> None:
        self._leverages[instrument_id] = self._checked_leverage(leverage)

    def leverage(self, instrument_id: InstrumentId) -> Decimal:
        return self._leverages.get(instrument_id, self.default_leverage)

    def leverages(self) -> dict[InstrumentId, Decimal]:
        return dict(self._leverages)

    # ---- margin calculation ------------------------------------------------------------------
    def _margin(self, instrument: Instrument, qty_raw: int, price_num: int, price_den: int, rate: Decimal) -> Money:
        """notional x rate (/ leverage for LEVERAGED), from a raw qty and an exact raw price price_num / price_den,
        in integers only (one rounding at the end, half-even to the currency)."""
        multiplier = instrument.multiplier.raw
        rate_num, rate_den = decimal_ratio(rate)
        if instrument.is_inverse:
            currency = instrument.base_currency_or_none or instrument.settlement_currency
            num, den = qty_raw * multiplier * price_den, price_num
        else:
            currency = instrument.quote_currency
            num, den = qty_raw * multiplier * price_num, price_den * _SCALE_SQUARED
        num *= rate_num
        den *= rate_den
        if self.margin_model is MarginModel.LEVERAGED:
            lev_num, lev_den = decimal_ratio(self.leverage(instrument.id))
            num *= lev_den
            den *= lev_num
        return Money.from_raw_ratio(num, den, currency)

    def calculate_margin_init(self, instrument: Instrument, quantity: Quantity, price: Price) -> Money:
        """Initial margin of an order of `quantity` at `price` (quote currency; base for inverse)."""
        return self._margin(instrument, quantity.raw, price.raw, 1, instrument.margin_init)

    def calculate_margin_maint(
        self, instrument: Instrument, quantity: Quantity, avg_px: Price | Decimal | Fraction
    ) -> Money:
        """Maintenance margin of a net position of `quantity` opened at `avg_px` (a price, not raw)."""
        if isinstance(avg_px, Price):
            num, den = avg_px.raw, 1
        else:
            ratio = avg_px if isinstance(avg_px, Fraction) else Fraction(avg_px)
            num, den = ratio.numerator * FIXED_SCALE, ratio.denominator
        return self._margin(instrument, quantity.raw, num, den, instrument.margin_maint)

    def calculate_margin_maint_raw(self, instrument: Instrument, qty_raw: int, px_num: int, px_den: int) -> Money:
        """`calculate_margin_maint` for a raw size held at the exact raw price px_num / px_den (as
        `Position.avg_px_open_raw_ratio` gives it): the same amount, with no Fraction or Quantity built."""
        return self._margin(instrument, qty_raw, px_num, px_den, instrument.margin_maint)

    # ---- margins held ------------------------------------------------------------------------
    def margin_balances(self) -> tuple[MarginBalance, ...]:
        return tuple(self._margins.values())

    def margins(self) -> dict[InstrumentId, MarginBalance]:
        return dict(self._margins)

    def margin(self, instrument_id: InstrumentId) -> MarginBalance | None:
        return self._margins.get(instrument_id)

    def margin_init(self, instrument_id: InstrumentId) -> Money | None:
        margin = self._margins.get(instrument_id)
        return None if margin is None else margin.initial

    def margin_maint(self, instrument_id: InstrumentId) -> Money | None:
        margin = self._margins.get(instrument_id)
        return None if margin is None else margin.maintenance

    def update_margin(self, margin: MarginBalance) -> None:
        """Set both margins of one instrument and re-split the balance of their currency."""
        self._check_margin(margin)
        self._require_balance(margin.initial)
        self._require_balance(margin.maintenance)
        previous = self._margins.get(margin.instrument_id)
        self._margins[margin.instrument_id] = margin
        codes = {margin.initial.currency.code}
        if previous is not None:
            codes.add(previous.initial.currency.code)
        for code in codes:
            self._relock(code, self._sum_margins(code))

    def update_margin_init(self, instrument_id: InstrumentId, margin_init: Money) -> None:
        previous = self._margins.get(instrument_id)
        maintenance = previous.maintenance if previous is not None else Money(0, margin_init.currency)
        if maintenance.raw == 0:
            maintenance = Money(0, margin_init.currency)
        self.update_margin(MarginBalance(margin_init, maintenance, instrument_id))

    def update_margin_maint(self, instrument_id: InstrumentId, margin_maint: Money) -> None:
        previous = self._margins.get(instrument_id)
        initial = previous.initial if previous is not None else Money(0, margin_maint.currency)
        if initial.raw == 0:
            initial = Money(0, margin_maint.currency)
        self.update_margin(MarginBalance(initial, margin_maint, instrument_id))

    def clear_margin(self, instrument_id: InstrumentId) -> None:
        previous = self._margins.pop(instrument_id, None)
        if previous is not None:
            code = previous.initial.currency.code
            self._relock(code, self._sum_margins(code))

    def _sum_margins(self, code: str) -> int:
        total = 0
        for margin in self._margins.values():
            if margin.initial.currency.code == code:
                total += margin.initial.raw + margin.maintenance.raw
        return total

    def locked_required_raw(self, currency_code: str) -> int | None:
        """The sum of the margins held in the currency, or None when no margin is held in it."""
        total = None
        for margin in self._margins.values():
            if margin.initial.currency.code == currency_code:
                total = (total or 0) + margin.initial.raw + margin.maintenance.raw
        return total


def account_from_state(state: AccountState, **options: Any) -> Account:
    """A `CashAccount` or `MarginAccount` built from its first state, by `state.account_type`."""
    if state.account_type is AccountType.CASH:
        return CashAccount(state)
    return MarginAccount(state, **options)
