"""Unit tests of `toolkit.model.accounts` and `toolkit.model.accounting`: balances, margins, locks,
fill deltas, currency conversion, the venue spec checks 33-35 and 47, and an exact random round-trip
property on a margin account."""

from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction

import pytest
from _fills import (
    AAPL,
    ACCOUNT,
    AUDUSD,
    BTC,
    EUR,
    EURUSD,
    JPY,
    STRATEGY,
    TRADER,
    USD,
    USDJPY,
    XBTUSD_INVERSE,
    make_fill,
    taker_fill,
)

from toolkit.model.accounting import (
    account_state_after_fill,
    account_state_with_deltas,
    balance_deltas_for_fill,
    convert,
    deltas_in_account_currency,
    exchange_rate,
)
from toolkit.model.accounts import (
    Account,
    CashAccount,
    MarginAccount,
    MarginModel,
    account_from_state,
    balance_from_total,
)
from toolkit.model.enums import AccountType, OrderSide, OrderType
from toolkit.model.events import (
    AccountBalance,
    AccountState,
    MarginBalance,
    OrderAccepted,
    OrderFilled,
    OrderInitialized,
    OrderSubmitted,
)
from toolkit.model.identifiers import AccountId, ClientOrderId, PositionId, VenueOrderId
from toolkit.model.instruments import Instrument
from toolkit.model.objects import FIXED_SCALE, Money, Price, Quantity
from toolkit.model.orders import Order
from toolkit.model.position import Position, split_fill_for_flip

BUY = OrderSide.BUY
SELL = OrderSide.SELL


def usd(amount: str) -> Money:
    return Money.of(amount, USD)


def margin_account(start: str = "1000000", **options: object) -> MarginAccount:
    return MarginAccount.with_starting_balances(ACCOUNT, [usd(start)], base_currency=USD, **options)


def cash_account(start: str = "1000000") -> CashAccount:
    return CashAccount.with_starting_balances(ACCOUNT, [usd(start)], base_currency=USD)


def book_fill(
    account: Account,
    instrument: Instrument,
    fill: OrderFilled,
    gross: Money,
    rate: Decimal | None = None,
) -> dict[str, Money]:
    """Apply the next state after `fill`; return how much each balance total moved."""
    before = account.balances_total()
    state = account_state_after_fill(account, instrument, fill, gross, ts=fill.ts_event, rate=rate)
    account.apply(state)
    after = account.balances_total()
    return {
        code: after[code] - before[code] if code in before else after[code]
        for code in after
        if code not in before or after[code] != before[code]
    }


def open_order(
    instrument: Instrument,
    side: OrderSide,
    qty: int,
    price: str | None,
    *,
    order_id: str,
    order_type: OrderType = OrderType.LIMIT,
    reduce_only: bool = False,
    trigger_price: str | None = None,
) -> Order:
    """An ACCEPTED order (open), built from its events."""
    ident = dict(trader_id=TRADER, strategy_id=STRATEGY, instrument_id=instrument.id)
    cid = ClientOrderId(order_id)
    order = Order(
        OrderInitialized(
            ts_event=0,
            ts_init=0,
            client_order_id=cid,
            order_side=side,
            order_type=order_type,
            quantity=Quantity.from_int(qty),
            price=None if price is None else Price.from_str(price),
            trigger_price=None if trigger_price is None else Price.from_str(trigger_price),
            reduce_only=reduce_only,
            **ident,
        )
    )
    order.apply(OrderSubmitted(ts_event=0, ts_init=0, client_order_id=cid, account_id=ACCOUNT, **ident))
    order.apply(
        OrderAccepted(
            ts_event=0,
            ts_init=0,
            client_order_id=cid,
            venue_order_id=VenueOrderId(f"V-{order_id}"),
            account_id=ACCOUNT,
            **ident,
        )
    )
    return order


# ---- account basics ------------------------------------------------------------------------------
def test_starting_balances_and_state_round_trip() -> None:
    account = margin_account()
    assert account.id == ACCOUNT and account.account_type is AccountType.MARGIN
    assert account.is_margin_account and not account.is_cash_account
    assert account.base_currency == USD
    assert account.balance_total() == usd("1000000")
    assert account.balance_free(USD) == usd("1000000")
    assert account.balance_locked("USD") == usd("0")
    assert account.balance_total(JPY) is None
    assert account.starting_balances() == {"USD": usd("1000000")}
    assert account.event_count == 1 and account.last_event is account.events[0]

    state = account.to_state(ts=42)
    assert state.ts_event == 42 and state.account_id == ACCOUNT and state.base_currency == USD
    assert state.balances == (AccountBalance(usd("1000000"), usd("0"), usd("1000000")),)
    rebuilt = account_from_state(state)
    assert isinstance(rebuilt, MarginAccount) and rebuilt.balance_total() == usd("1000000")


def test_apply_replaces_balances_and_keeps_history() -> None:
    account = cash_account()
    later = AccountState(
        ts_event=5,
        ts_init=5,
        account_id=ACCOUNT,
        account_type=AccountType.CASH,
        base_currency=USD,
        balances=(AccountBalance(usd("900"), usd("100"), usd("800")),),
    )
    account.apply(later)
    assert account.balance_total() == usd("900") and account.balance_locked() == usd("100")
    assert account.last_event is later and account.event_count == 2
    assert account.starting_balances() == {"USD": usd("1000000")}


def test_apply_rejects_foreign_states() -> None:
    account = cash_account()
    other = account.to_state(1)
    with pytest.raises(ValueError, match="state for"):
        account.apply(AccountState(**{**_state_fields(other), "account_id": AccountId("SIM-002")}))
    with pytest.raises(ValueError, match="single-currency"):
        account.apply(
            AccountState(
                **{
                    **_state_fields(other),
                    "balances": (AccountBalance(Money.of("1", JPY), Money(0, JPY), Money.of("1", JPY)),),
                }
            )
        )
    with pytest.raises(ValueError, match="MARGIN state cannot build"):
        CashAccount(MarginAccount.with_starting_balances(ACCOUNT, [usd("1")], base_currency=USD).to_state(0))


def _state_fields(state: AccountState) -> dict[str, object]:
    return {name: getattr(state, name) for name in state.__struct_fields__}


def test_multi_currency_account_needs_a_currency_name() -> None:
    account = CashAccount.with_starting_balances(ACCOUNT, [usd("1000"), Money.of("500", EUR)])
    assert account.base_currency is None
    assert account.balance_total(EUR) == Money.of("500", EUR)
    with pytest.raises(ValueError, match="multi-currency"):
        account.balance_total()


def test_balance_from_total_clamps_free_at_zero() -> None:
    assert balance_from_total(usd("100"), usd("30").raw) == AccountBalance(usd("100"), usd("30"), usd("70"))
    assert balance_from_total(usd("100"), usd("300").raw) == AccountBalance(usd("100"), usd("100"), usd("0"))
    negative = balance_from_total(usd("-5"), 0)
    assert negative.free == usd("0") and negative.total == negative.locked + negative.free


# ---- margin ----------------------------------------------------------------------------------------
def test_margin_models_spec_example() -> None:
    """100k EUR/USD at 1.10, rate 3%, leverage 50 -> standard 3,300 USD, leveraged 66 USD."""
    qty, px = Quantity.from_int(100_000), Price.from_str("1.10000")
    leveraged = margin_account()
    leveraged.set_leverage(EURUSD.id, Decimal(50))
    assert leveraged.margin_model is MarginModel.LEVERAGED
    assert leveraged.leverage(EURUSD.id) == Decimal(50) and leveraged.leverage(USDJPY.id) == Decimal(1)
    assert leveraged.calculate_margin_init(EURUSD, qty, px) == usd("66.00")
    assert leveraged.calculate_margin_maint(EURUSD, qty, Decimal("1.1")) == usd("66.00")

    standard = margin_account(margin_model="standard")
    standard.set_leverage(EURUSD.id, Decimal(50))
    assert standard.margin_model is MarginModel.STANDARD
    assert standard.calculate_margin_init(EURUSD, qty, px) == usd("3300.00")

    default = margin_account()
    assert default.calculate_margin_init(EURUSD, qty, px) == usd("3300.00")  # default leverage 1
    with pytest.raises(ValueError, match="leverage must be positive"):
        default.set_leverage(EURUSD.id, Decimal(0))


def test_margin_of_inverse_instrument_is_in_base_currency() -> None:
    account = MarginAccount.with_starting_balances(ACCOUNT, [Money.of("1", BTC)], base_currency=BTC)
    account.set_leverage(XBTUSD_INVERSE.id, Decimal(10))
    margin = account.calculate_margin_init(XBTUSD_INVERSE, Quantity.from_int(10_000), Price.from_str("50000.0"))
    assert margin == Money.of("0.0002", BTC)  # 10,000 / 50,000 x 1% / 10


def test_margins_lock_and_release_the_balance() -> None:
    account = margin_account("10000")
    account.set_leverage(EURUSD.id, Decimal(50))
    init = account.calculate_margin_init(EURUSD, Quantity.from_int(100_000), Price.from_str("1.10000"))
    account.update_margin_init(EURUSD.id, init)
    account.update_margin_maint(EURUSD.id, usd("34.00"))
    assert account.margin(EURUSD.id) == MarginBalance(usd("66.00"), usd("34.00"), EURUSD.id)
    assert account.margin_init(EURUSD.id) == usd("66.00") and account.margin_maint(EURUSD.id) == usd("34.00")
    assert account.balance_locked() == usd("100.00") and account.balance_free() == usd("9900.00")
    assert account.to_state(1).margins == (MarginBalance(usd("66.00"), usd("34.00"), EURUSD.id),)

    account.update_margin_maint(AUDUSD.id, usd("20000.00"))  # more than the total
    assert account.balance_locked() == usd("10000.00") and account.balance_free() == usd("0.00")
    account.clear_margin(AUDUSD.id)
    account.clear_margin(EURUSD.id)
    assert account.balance_locked() == usd("0.00") and account.balance_free() == usd("10000.00")
    assert account.margins() == {}

    with pytest.raises(ValueError, match="no JPY balance"):
        account.update_margin_init(USDJPY.id, Money.of("100", JPY))
    assert account.margins() == {}  # nothing changed


def test_margin_state_round_trip_restores_margins() -> None:
    account = margin_account("10000")
    account.update_margin(MarginBalance(usd("50"), usd("25"), EURUSD.id))
    copy = account_from_state(account.to_state(3))
    assert isinstance(copy, MarginAccount)
    assert copy.margins() == {EURUSD.id: MarginBalance(usd("50"), usd("25"), EURUSD.id)}
    assert copy.balance_locked() == usd("75")


def test_fill_keeps_margin_locked_and_free_follows() -> None:
    account = margin_account("1000")
    account.update_margin_maint(AUDUSD.id, usd("900"))
    buy = taker_fill(AUDUSD, BUY, 100_000, "1.00001", trade_id="T-1")
    position = Position(AUDUSD, buy, PositionId("P-1"))
    book_fill(account, AUDUSD, buy, Money.zero(USD))
    assert account.balance(USD) == AccountBalance(usd("998.00"), usd("900.00"), usd("98.00"))
    sell = make_fill(AUDUSD, SELL, 100_000, "0.99801", trade_id="T-2")
    book_fill(account, AUDUSD, sell, position.apply(sell))  # loses 200
    assert account.balance(USD) == AccountBalance(usd("798.00"), usd("798.00"), usd("0.00"))
    assert account.margins() == {AUDUSD.id: MarginBalance(usd("0"), usd("900"), AUDUSD.id)}


# ---- spec checks 33-35 -------------------------------------------------------------------------
def test_check_33_commissions_converted_to_the_usd_account() -> None:
    account = margin_account()
    rate = exchange_rate(JPY, USD, {"USD/JPY": Decimal("90.005")})
    assert rate == Decimal(1) / Decimal("90.005")
    fills = [
        taker_fill(USDJPY, BUY, 100_000, "90.005", trade_id="T-1"),
        taker_fill(USDJPY, BUY, 100_000, "90.005", trade_id="T-2"),
        taker_fill(USDJPY, BUY, 50_000, "90.005", trade_id="T-3"),
    ]
    position = Position(USDJPY, fills[0], PositionId("P-1"))
    moved = [book_fill(account, USDJPY, fills[0], Money.zero(JPY), rate=rate)]
    for fill in fills[1:]:
        moved.append(book_fill(account, USDJPY, fill, position.apply(fill), rate=rate))
    assert [f.commission for f in fills] == [Money.of("180", JPY), Money.of("180", JPY), Money.of("90", JPY)]
    assert moved == [{"USD": usd("-2.00")}, {"USD": usd("-2.00")}, {"USD": usd("-1.00")}]
    assert account.balance_total() == usd("999995.00")
    assert position.realized_pnl == Money.of("-450", JPY)


def test_single_currency_account_needs_a_rate() -> None:
    account = margin_account()
    fill = taker_fill(USDJPY, BUY, 100_000, "90.005", trade_id="T-1")
    with pytest.raises(ValueError, match="JPY->USD rate"):
        account_state_after_fill(account, USDJPY, fill, Money.zero(JPY), ts=0)


def test_check_34_close_balance() -> None:
    account = margin_account()
    buy = taker_fill(AUDUSD, BUY, 100_000, "1.00001", trade_id="T-1")
    position = Position(AUDUSD, buy, PositionId("P-1"))
    assert book_fill(account, AUDUSD, buy, Money.zero(USD)) == {"USD": usd("-2.00")}
    sell = taker_fill(AUDUSD, SELL, 100_000, "1.00011", trade_id="T-2")
    gross = position.apply(sell)
    assert gross == usd("10.00")
    assert book_fill(account, AUDUSD, sell, gross) == {"USD": usd("8.00")}
    assert account.balance_total() == usd("1000006.00")
    assert account.balance_total() == usd("1000000") + position.realized_pnl


def test_check_35_flip_balance() -> None:
    account = margin_account()
    buy = taker_fill(AUDUSD, BUY, 100_000, "1.00001", trade_id="T-1")
    position = Position(AUDUSD, buy, PositionId("P-1"))
    book_fill(account, AUDUSD, buy, Money.zero(USD))
    sell = taker_fill(AUDUSD, SELL, 150_000, "1.00011", trade_id="T-2")
    assert sell.commission == usd("3.00")

    closing, opening = split_fill_for_flip(sell, position.signed_qty_raw)
    assert (closing.commission, opening.commission) == (usd("2.00"), usd("1.00"))
    gross_close = position.apply(closing)
    closed_cycle_realized = position.realized_pnl
    assert gross_close == usd("10.00") and closed_cycle_realized == usd("6.00")
    book_fill(account, AUDUSD, closing, gross_close)
    book_fill(account, AUDUSD, opening, position.apply(opening))

    assert account.balance_total() == usd("1000005.00")
    assert position.side.value == "SHORT" and position.quantity == Quantity.from_int(50_000)
    assert account.balance_total() == usd("1000000") + closed_cycle_realized + position.realized_pnl


# ---- cash ------------------------------------------------------------------------------------------
def test_check_47_cash_account_equity() -> None:
    """AAPL, zero fees, quote 100/101: BUY 100 @ 101 -> 989,900; SELL 100 @ 100 -> 999,900."""
    account = cash_account()
    buy = make_fill(AAPL, BUY, 100, "101.00", trade_id="T-1")
    position = Position(AAPL, buy, PositionId("P-1"))
    assert book_fill(account, AAPL, buy, Money.zero(USD)) == {"USD": usd("-10100.00")}
    assert account.balance_total() == usd("989900.00")
    sell = make_fill(AAPL, SELL, 100, "100.00", trade_id="T-2")
    gross = position.apply(sell)
    assert gross == usd("-100.00")
    book_fill(account, AAPL, sell, gross)
    assert account.balance_total() == usd("999900.00")
    assert account.balance_total() == usd("1000000") + position.realized_pnl


def test_check_47_partial_exit() -> None:
    """Quote 101/102: 2 x BUY 100 @ 102, then SELL 50 @ 101 -> 984,650."""
    account = cash_account()
    for n in (1, 2):
        book_fill(account, AAPL, make_fill(AAPL, BUY, 100, "102.00", trade_id=f"T-{n}"), Money.zero(USD))
    book_fill(account, AAPL, make_fill(AAPL, SELL, 50, "101.00", trade_id="T-3"), usd("-50.00"))
    assert account.balance_total() == usd("984650.00")


def test_cash_deltas_for_currency_pair() -> None:
    fill = make_fill(EURUSD, BUY, 1_000, "1.10001", trade_id="T-1", commission=usd("0.02"))
    multi = balance_deltas_for_fill(AccountType.CASH, EURUSD, fill, Money.zero(USD), base_currency=None)
    assert multi == {"USD": usd("-1100.03"), "EUR": Money.of("1000", EUR)}  # -1100.01 - 0.02
    single = balance_deltas_for_fill(AccountType.CASH, EURUSD, fill, Money.zero(USD), base_currency=USD)
    assert single == {"USD": usd("-1100.03")}
    sell = make_fill(EURUSD, SELL, 1_000, "1.10001", trade_id="T-2", commission=Money.of("0.50", EUR))
    assert balance_deltas_for_fill(AccountType.CASH, EURUSD, sell, Money.zero(USD), base_currency=None) == {
        "USD": usd("1100.01"),
        "EUR": Money.of("-1000.50", EUR),
    }

    account = CashAccount.with_starting_balances(ACCOUNT, [usd("5000")])
    assert book_fill(account, EURUSD, fill, Money.zero(USD)) == {"USD": usd("-1100.03"), "EUR": Money.of("1000", EUR)}
    assert account.balance_total(EUR) == Money.of("1000", EUR)
    with pytest.raises(ValueError, match="inverse"):
        balance_deltas_for_fill(
            AccountType.CASH,
            XBTUSD_INVERSE,
            make_fill(XBTUSD_INVERSE, BUY, 1, "1.0", trade_id="T"),
            Money.zero(BTC),
            None,
        )


def test_cash_notional_rounds_half_even() -> None:
    fill = make_fill(AAPL, BUY, 1, "0.01", trade_id="T-1")
    tiny = make_fill(AUDUSD, BUY, 1, "1.00005", trade_id="T-2")
    tiny2 = make_fill(AUDUSD, BUY, 1, "1.00015", trade_id="T-3")
    assert balance_deltas_for_fill(AccountType.CASH, AAPL, fill, Money.zero(USD), USD) == {"USD": usd("-0.01")}
    assert balance_deltas_for_fill(AccountType.CASH, AUDUSD, tiny, Money.zero(USD), USD) == {"USD": usd("-1.00")}
    assert balance_deltas_for_fill(AccountType.CASH, AUDUSD, tiny2, Money.zero(USD), USD) == {"USD": usd("-1.00")}


def test_cash_locked_by_open_orders() -> None:
    account = cash_account("100000")
    orders = [
        open_order(AAPL, BUY, 100, "100.00", order_id="O-1"),
        open_order(AAPL, BUY, 10, None, order_id="O-2", order_type=OrderType.STOP_MARKET, trigger_price="105.00"),
        open_order(AAPL, BUY, 50, "99.00", order_id="O-3", reduce_only=True),
        open_order(AAPL, SELL, 20, "110.00", order_id="O-4"),
        open_order(EURUSD, BUY, 1000, "1.10000", order_id="O-5"),
    ]
    locked = account.calculate_balance_locked(AAPL, orders)
    assert locked == {"USD": usd("11050.00")}  # 100 x 100 + 10 x 105; reduce-only and SELL lock nothing
    account.update_balance_locked(AAPL.id, locked)
    assert account.balance(USD) == AccountBalance(usd("100000"), usd("11050"), usd("88950"))
    assert account.locked_for(AAPL.id) == {"USD": usd("11050.00")}

    # A fill keeps the order lock; free follows the new total.
    book_fill(account, AAPL, make_fill(AAPL, BUY, 100, "100.00", trade_id="T-1"), Money.zero(USD))
    assert account.balance(USD) == AccountBalance(usd("90000"), usd("11050"), usd("78950"))
    account.clear_balance_locked(AAPL.id)
    assert account.balance(USD) == AccountBalance(usd("90000"), usd("0"), usd("90000"))

    jpy_lock = account.calculate_balance_locked(USDJPY, [open_order(USDJPY, BUY, 1000, "90.000", order_id="O-6")])
    assert jpy_lock == {"JPY": Money.of("90000", JPY)}
    with pytest.raises(ValueError, match="no JPY balance"):
        account.update_balance_locked(USDJPY.id, jpy_lock)
    assert account.locked_for(USDJPY.id) == {}


def test_multi_currency_cash_locks_sells_in_base() -> None:
    account = CashAccount.with_starting_balances(ACCOUNT, [usd("10000"), Money.of("5000", EUR)])
    orders = [
        open_order(EURUSD, BUY, 1000, "1.10000", order_id="O-1"),
        open_order(EURUSD, SELL, 2000, "1.20000", order_id="O-2"),
    ]
    locked = account.calculate_balance_locked(EURUSD, orders)
    assert locked == {"USD": usd("1100.00"), "EUR": Money.of("2000", EUR)}
    account.update_balance_locked(EURUSD.id, locked)
    assert account.balance_free(EUR) == Money.of("3000", EUR) and account.balance_free(USD) == usd("8900")

    single = CashAccount.with_starting_balances(ACCOUNT, [usd("10000")], base_currency=USD)
    assert single.calculate_balance_locked(EURUSD, orders) == {"USD": usd("1100.00")}


# ---- conversion ------------------------------------------------------------------------------------
def test_exchange_rate_and_convert() -> None:
    mids = {"USD/JPY": Decimal("90.005"), "EUR/USD": Decimal("1.1")}
    assert exchange_rate("USD", "JPY", mids) == Decimal("90.005")
    assert exchange_rate(USD, EUR, mids) == Decimal(1) / Decimal("1.1")
    assert exchange_rate(USD, USD, {}) == Decimal(1)
    assert exchange_rate(EUR, JPY, mids) is None
    assert convert(usd("2.00"), JPY, Decimal("90.005")) == Money.of("180", JPY)
    assert convert(Money.of("-180", JPY), USD, Fraction(1) / Fraction("90.005")) == usd("-2.00")
    assert convert(usd("0.125"), EUR, Decimal(1)) == Money.of("0.12", EUR)  # half-even
    assert convert(usd("7"), USD, Decimal(3)) == usd("7")


def test_deltas_in_account_currency() -> None:
    deltas = {"JPY": Money.of("-180", JPY), "USD": usd("1.00")}
    assert deltas_in_account_currency(deltas, None) == deltas
    assert deltas_in_account_currency(deltas, USD, Decimal(1) / Decimal("90.005")) == {"USD": usd("-1.00")}
    two = {"JPY": Money.of("-180", JPY), "EUR": Money.of("1", EUR)}
    with pytest.raises(ValueError, match="one rate per currency"):
        deltas_in_account_currency(two, USD, Decimal(1))
    assert deltas_in_account_currency(two, USD, {"JPY": Fraction(1, 90), "EUR": Decimal(3)}) == {"USD": usd("1.00")}
    assert deltas_in_account_currency(two, USD, {"JPY": Fraction(1, 90), "EUR": Decimal(2)}) == {}  # nets to zero


def test_state_with_deltas_moves_totals_by_exactly_the_deltas() -> None:
    account = CashAccount.with_starting_balances(ACCOUNT, [usd("100")])
    state = account_state_with_deltas(account, {"USD": usd("-0.01"), "EUR": Money.of("3.33", EUR)}, ts=9)
    account.apply(state)
    assert account.balance_total(USD) == usd("99.99") and account.balance_total(EUR) == Money.of("3.33", EUR)
    assert state.ts_event == 9 and state.account_type is AccountType.CASH


# ---- property: exact accounting over many random round trips ---------------------------------------
def test_random_round_trips_balance_exactly() -> None:
    rng = random.Random(20240611)
    instrument = AUDUSD
    account = margin_account()
    start = account.balance_total()
    assert start is not None
    position_id = PositionId("AUD/USD.SIM-S-001")
    position: Position | None = None
    gross_sum = 0
    commission_sum = 0
    realized_of_closed_cycles = 0
    round_trips = 0
    fee_rates = [Fraction(0), Fraction(2, 100_000), Fraction(-1, 100_000), Fraction(7, 10_000)]
    n = 0
    while round_trips < 10_000:
        n += 1
        held = 0 if position is None else position.signed_qty_raw
        if held == 0:
            side = rng.choice((BUY, SELL))
            qty = rng.randint(1, 200_000)
        else:
            closing_side = SELL if held > 0 else BUY
            side = closing_side if rng.random() < 0.6 else (BUY if closing_side is SELL else SELL)
            size = abs(held) // FIXED_SCALE
            qty = size if side is closing_side and rng.random() < 0.3 else rng.randint(1, size * 3 // 2 + 1)
        px_raw = rng.randint(90_000, 110_000) * 10**4  # 0.90000 .. 1.10000
        notional = Fraction(qty * px_raw, FIXED_SCALE)
        commission = Money.from_raw_rounded(notional * rng.choice(fee_rates), USD)
        fill = make_fill(
            instrument, side, qty, str(Decimal(px_raw).scaleb(-9)), trade_id=f"T-{n}", commission=commission, ts=n
        )
        parts: tuple[OrderFilled, ...] = (fill,)
        if position is not None and position.would_flip(fill):
            parts = split_fill_for_flip(fill, position.signed_qty_raw)
        for part in parts:
            if position is None:
                position = Position(instrument, part, position_id)
                gross = Money.zero(USD)
            else:
                if position.is_closed:
                    realized_of_closed_cycles += position.realized_pnl.raw
                gross = position.apply(part)
            account.apply(account_state_after_fill(account, instrument, part, gross, ts=n))
            gross_sum += gross.raw
            commission_sum += part.commission.raw
            if position.is_closed:
                round_trips += 1

    assert position is not None
    balance = account.balance_total()
    assert balance == start + Money(gross_sum - commission_sum, USD)
    assert balance == start + Money(realized_of_closed_cycles + position.realized_pnl.raw, USD)
    assert account.balance_locked() == usd("0") and account.balance_free() == balance


def test_margin_fill_in_the_account_currency_gives_the_general_paths_state() -> None:
    # account_state_after_fill works the common case (margin account, gross and commission in its currency)
    # out directly; it must equal the general composition of the three pure steps, margins held or not.
    rng = random.Random(7)
    for n in range(2_000):
        account = margin_account(str(rng.randint(0, 2_000_000)))
        if rng.random() < 0.5:
            account.update_margin(
                MarginBalance(usd(str(rng.randint(0, 500))), usd(str(rng.randint(0, 900))), AUDUSD.id)
            )
        commission = Money(rng.choice((0, 1, -1)) * rng.randint(0, 500) * 10**7, USD)
        fill = make_fill(
            AUDUSD,
            rng.choice((BUY, SELL)),
            rng.randint(1, 200_000),
            "1.00001",
            trade_id=f"T-{n}",
            commission=commission,
        )
        gross = Money(rng.choice((0, rng.randint(-(10**6), 10**6))) * 10**7, USD)
        deltas = balance_deltas_for_fill(account.account_type, AUDUSD, fill, gross, account.base_currency)
        general = account_state_with_deltas(account, deltas_in_account_currency(deltas, USD), ts=n)
        assert account_state_after_fill(account, AUDUSD, fill, gross, ts=n) == general
