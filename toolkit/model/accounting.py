"""Fill accounting: how one fill moves an account's balances, as pure functions.

`balance_deltas_for_fill` says what a fill does to each currency (a margin account books the gross
realized PnL of the closing part minus commission; a cash account books the whole notional minus
commission, and a multi-currency one also the base currency). `deltas_in_account_currency` converts
them for a single-currency account with caller-supplied rates (`exchange_rate` finds one in a dict of
mid prices, `convert` applies it), and `account_state_with_deltas` / `account_state_after_fill`
build the next `AccountState` without touching the account: the engine publishes it and applies it.
Every amount is exact and every total moves by exactly the delta returned, so no money is created
or lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction

from toolkit.model.accounts import Account, balance_from_total
from toolkit.model.enums import AccountType, OrderSide
from toolkit.model.events import AccountBalance, AccountState, OrderFilled
from toolkit.model.instruments import CurrencyPair, Instrument
from toolkit.model.objects import FIXED_SCALE, Currency, Money

_SCALE_SQUARED = FIXED_SCALE * FIXED_SCALE


def _add(deltas: dict[str, Money], amount: Money) -> None:
    code = amount.currency.code
    existing = deltas.get(code)
    deltas[code] = amount if existing is None else existing + amount


def balance_deltas_for_fill(
    account_type: AccountType,
    instrument: Instrument,
    fill: OrderFilled,
    gross_realized: Money,
    base_currency: Currency | None,
) -> dict[str, Money]:
    """Signed change per currency code that `fill` makes to an account; zero changes are left out.

    MARGIN: `gross_realized` (what `Position.apply` returned for this fill) minus the commission.
    CASH: BUY -qty x px x multiplier, SELL +that, in the quote currency rounded half-even, minus the
    commission; a multi-currency account (`base_currency` None) trading a `CurrencyPair` also gets
    +qty (BUY) or -qty (SELL) of the base currency. `gross_realized` is not used for CASH: the
    notional already carries it.
    """
    deltas: dict[str, Money] = {}
    if account_type is AccountType.MARGIN:
        _add(deltas, gross_realized)
    else:
        if instrument.is_inverse:
            raise ValueError(f"instrument {instrument.id} is inverse: a cash account cannot trade it")
        qty = fill.last_qty.raw
        quote = instrument.quote_currency
        notional = Money.from_raw_rounded(
            Fraction(qty * fill.last_px.raw * instrument.multiplier.raw, _SCALE_SQUARED), quote
        )
        is_buy = fill.order_side is OrderSide.BUY
        _add(deltas, -notional if is_buy else notional)
        if base_currency is None and isinstance(instrument, CurrencyPair):
            base_amount = Money.from_raw_rounded(qty, instrument.base_currency)
            _add(deltas, base_amount if is_buy else -base_amount)
    _add(deltas, -fill.commission)
    return {code: amount for code, amount in deltas.items() if amount.raw != 0}


def convert(money: Money, to_currency: Currency, rate: Decimal | Fraction) -> Money:
    """`money` x `rate` in `to_currency`, rounded half-even (`rate` = units of to per unit of from)."""
    if money.currency.code == to_currency.code:
        return money
    return Money.from_raw_rounded(money.raw * Fraction(rate), to_currency)


def exchange_rate(
    from_currency: Currency | str, to_currency: Currency | str, mid_prices: Mapping[str, Decimal]
) -> Decimal | None:
    """Units of `to_currency` per unit of `from_currency` from mid prices keyed `"BASE/QUOTE"`.

    Tries the direct pair `"FROM/TO"`, then the inverse `"TO/FROM"` (1 / mid); None if neither is there.
    """
    src = from_currency.code if isinstance(from_currency, Currency) else from_currency.upper()
    dst = to_currency.code if isinstance(to_currency, Currency) else to_currency.upper()
    if src == dst:
        return Decimal(1)
    direct = mid_prices.get(f"{src}/{dst}")
    if direct is not None:
        return Decimal(direct)
    inverse = mid_prices.get(f"{dst}/{src}")
    if inverse is not None and inverse != 0:
        return Decimal(1) / Decimal(inverse)
    return None


def deltas_in_account_currency(
    deltas: Mapping[str, Money],
    base_currency: Currency | None,
    rate: Decimal | Fraction | Mapping[str, Decimal | Fraction] | None = None,
) -> dict[str, Money]:
    """For a single-currency account, every delta converted to `base_currency` and summed.

    `rate` converts the one foreign currency present, or is a mapping currency code -> rate to the
    base currency when there are several. A multi-currency account (`base_currency` None) gets the
    deltas unchanged. Raises ValueError naming the currency when a needed rate is missing.
    """
    if base_currency is None:
        return dict(deltas)
    base = base_currency.code
    foreign = [code for code in deltas if code != base]
    if len(foreign) > 1 and rate is not None and not isinstance(rate, Mapping):
        raise ValueError(f"deltas in {', '.join(foreign)}: pass one rate per currency as a mapping")
    converted: dict[str, Money] = {}
    for code, amount in deltas.items():
        if code == base:
            _add(converted, amount)
            continue
        code_rate = rate.get(code) if isinstance(rate, Mapping) else rate
        if code_rate is None:
            raise ValueError(
                f"the account is in {base} but the fill moves {amount}: pass the {code}->{base} rate "
                f"(for example exchange_rate('{code}', '{base}', mid_prices))"
            )
        _add(converted, convert(amount, base_currency, code_rate))
    return {code: amount for code, amount in converted.items() if amount.raw != 0}


def account_state_with_deltas(account: Account, deltas: Mapping[str, Money], ts: int) -> AccountState:
    """The account's next state after adding `deltas` to the totals; the account itself is unchanged.

    Locked is what the account requires (margins or order locks) where it tracks the currency,
    else the current locked amount (a negative locked left by a negative total counts as zero);
    free = max(0, total - locked) and locked takes the rest, so total = locked + free exactly.
    """
    balances: dict[str, AccountBalance] = account.balances()
    base = account.base_currency
    for code, delta in deltas.items():
        current = balances.get(code)
        if current is None:
            if base is not None and code != base.code:
                raise ValueError(f"account {account.id} is in {base.code}: convert the {delta} delta first")
            total = delta
            locked_raw = 0
        else:
            total = current.total + delta
            locked_raw = current.locked.raw
        required = account.locked_required_raw(code)
        balances[code] = balance_from_total(total, max(0, locked_raw) if required is None else required)
    return AccountState(
        ts_event=ts,
        ts_init=ts,
        account_id=account.id,
        account_type=account.account_type,
        base_currency=base,
        balances=tuple(balances.values()),
        margins=account.margin_balances(),
    )


def account_state_after_fill(
    account: Account,
    instrument: Instrument,
    fill: OrderFilled,
    gross_realized: Money,
    ts: int,
    rate: Decimal | Fraction | Mapping[str, Decimal | Fraction] | None = None,
) -> AccountState:
    """The account's next state after `fill`: `balance_deltas_for_fill`, converted for a single-currency
    account with `rate` (see `deltas_in_account_currency`), added to the totals."""
    base = account.base_currency
    commission = fill.commission
    if (
        account.account_type is AccountType.MARGIN
        and base is not None
        and gross_realized.currency.code == base.code
        and commission.currency.code == base.code
    ):
        # The common case, worked out directly: a margin account in the one currency the fill moves
        # (the same single delta the general path gives: gross - commission, left out when zero).
        delta = gross_realized.raw - commission.raw
        return account_state_with_deltas(account, {base.code: Money(delta, base)} if delta else {}, ts)
    deltas = balance_deltas_for_fill(account.account_type, instrument, fill, gross_realized, account.base_currency)
    deltas = deltas_in_account_currency(deltas, account.base_currency, rate)
    return account_state_with_deltas(account, deltas, ts)
