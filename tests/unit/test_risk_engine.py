"""Unit tests of the pre-trade risk engine (`toolkit.engine.risk`, venue spec §8).

First the pure functions (`check_order`, `check_price`, `check_quantity`, `reference_price_raw`),
one test per denial reason and a test that the reasons come in the spec's order; then through a
real `BacktestEngine`: a price with too many decimals is DENIED and the strategy hears the reason
in `on_order_denied`, and a modify with a bad price ends in `on_order_modify_rejected`.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from toolkit.backtest.engine import BacktestEngine
from toolkit.engine.risk import check_order, check_price, check_quantity, reference_price_raw
from toolkit.model.data import QuoteTick
from toolkit.model.enums import AccountType, OmsType, OrderSide, OrderStatus, OrderType, TimeInForce, TradingState
from toolkit.model.events import (
    OrderDenied,
    OrderEvent,
    OrderInitialized,
    OrderModifyRejected,
    OrderPendingUpdate,
    OrderUpdated,
)
from toolkit.model.identifiers import ClientOrderId, InstrumentId, StrategyId, TraderId
from toolkit.model.instruments import CurrencyPair, Instrument
from toolkit.model.objects import FIXED_SCALE, Currency, Money, Price, Quantity
from toolkit.model.orders import Order
from toolkit.trading.config import StrategyConfig
from toolkit.trading.strategy import Strategy

USD = Currency.from_str("USD")
AUD = Currency.from_str("AUD")
BUY = OrderSide.BUY
SELL = OrderSide.SELL
NOW = 1_700_000_000_000_000_000
K = 1_000 * FIXED_SCALE  # raw size of 1,000 units


def make_instrument(**overrides: Any) -> CurrencyPair:
    """AUD/USD.SIM with a coarse grid and every limit set, so each check can fail on its own."""
    fields: dict[str, Any] = {
        "id": InstrumentId("AUD/USD.SIM"),
        "base_currency": AUD,
        "quote_currency": USD,
        "settlement_currency": USD,
        "price_precision": 5,
        "size_precision": 0,
        "price_increment": Price.from_str("0.00005"),
        "size_increment": Quantity.from_int(1_000),
        "min_quantity": Quantity.from_int(2_000),
        "max_quantity": Quantity.from_int(1_000_000),
        "min_notional": Money.of(1_000, USD),
        "max_notional": Money.of(500_000, USD),
        "maker_fee": Decimal("0.00002"),
        "taker_fee": Decimal("0.00002"),
    }
    fields.update(overrides)
    return CurrencyPair(**fields)


INSTRUMENT = make_instrument()
_coids = iter(range(1, 10**9))


def make_order(
    side: OrderSide = BUY,
    qty: Quantity | int = 100_000,
    price: str | Price | None = "1.00000",
    *,
    order_type: OrderType = OrderType.LIMIT,
    trigger: str | Price | None = None,
    tif: TimeInForce = TimeInForce.GTC,
    expire_time_ns: int = 0,
    reduce_only: bool = False,
    instrument_id: InstrumentId = INSTRUMENT.id,
) -> Order:
    """An order built straight from its `OrderInitialized` (no factory checks), so bad values get through."""
    quantity = qty if isinstance(qty, Quantity) else Quantity.from_int(qty)
    px = Price.from_str(price) if isinstance(price, str) else price
    trig = Price.from_str(trigger) if isinstance(trigger, str) else trigger
    init = OrderInitialized(
        trader_id=TraderId("TESTER-000"),
        strategy_id=StrategyId("S-001"),
        instrument_id=instrument_id,
        client_order_id=ClientOrderId(f"O-{next(_coids)}"),
        order_side=side,
        order_type=order_type,
        quantity=quantity,
        time_in_force=tif,
        expire_time_ns=expire_time_ns,
        price=px,
        trigger_price=trig,
        reduce_only=reduce_only,
        ts_event=NOW,
        ts_init=NOW,
    )
    return Order(init)


def check(
    order: Order,
    instrument: Instrument | None = INSTRUMENT,
    *,
    position: int | None = None,
    net: int = 0,
    account_type: AccountType | None = AccountType.CASH,
    free: Money | None = None,
    max_notional: Money | None = None,
    state: TradingState = TradingState.ACTIVE,
    bid: str = "0.99995",
    ask: str = "1.00005",
) -> str | None:
    """`check_order` with the reference price computed as the engine does; sizes in whole units."""
    reference = reference_price_raw(order, Price.from_str(bid).raw, Price.from_str(ask).raw, None)
    return check_order(
        order,
        instrument,
        now_ns=NOW,
        position_signed_raw=None if position is None else position * FIXED_SCALE,
        net_signed_raw=net * FIXED_SCALE,
        reference_raw=reference,
        account_type=account_type,
        free_balance=free if free is not None else Money.of(10_000_000, USD),
        max_notional=max_notional,
        trading_state=state,
    )


# ---- a valid order -------------------------------------------------------------------------------------
@pytest.mark.parametrize("account_type", [AccountType.CASH, AccountType.MARGIN, None])
def test_valid_orders_pass(account_type: AccountType | None) -> None:
    assert check(make_order(), account_type=account_type) is None
    assert check(make_order(SELL, 2_000, "0.60000"), account_type=account_type) is None
    assert check(make_order(BUY, 1_000_000, "0.50000"), account_type=account_type) is None
    assert check(make_order(price=None, order_type=OrderType.MARKET), account_type=account_type) is None
    stop = make_order(price=None, order_type=OrderType.STOP_MARKET, trigger="1.00100")
    assert check(stop, account_type=account_type) is None
    stop_limit = make_order(price="1.00100", order_type=OrderType.STOP_LIMIT, trigger="1.00050")
    assert check(stop_limit, account_type=account_type) is None
    gtd = make_order(tif=TimeInForce.GTD, expire_time_ns=NOW + 1)
    assert check(gtd, account_type=account_type) is None


# ---- 1. reduce-only against an explicit position -------------------------------------------------------
def test_reduce_only_buy_larger_than_short_position_is_denied_spec_example() -> None:
    # Spec §8.1: short 200k, reduce-only BUY 300k -> DENIED.
    reason = check(make_order(BUY, 300_000, reduce_only=True), position=-200_000)
    assert reason is not None
    assert reason.startswith("Reduce only order would increase position")


@pytest.mark.parametrize(
    ("side", "qty", "position"),
    [
        (BUY, 100_000, 200_000),  # wrong side: buying into a long
        (SELL, 100_000, -200_000),  # wrong side: selling into a short
        (SELL, 300_000, 200_000),  # more than the long
        (BUY, 100_000, 0),  # the named position is flat (or closed)
    ],
)
def test_reduce_only_that_would_increase_is_denied(side: OrderSide, qty: int, position: int) -> None:
    reason = check(make_order(side, qty, reduce_only=True), position=position)
    assert reason is not None and reason.startswith("Reduce only order would increase position")


@pytest.mark.parametrize(("side", "qty", "position"), [(BUY, 200_000, -200_000), (SELL, 100_000, 200_000)])
def test_reduce_only_that_reduces_passes(side: OrderSide, qty: int, position: int) -> None:
    assert check(make_order(side, qty, reduce_only=True), position=position) is None


def test_reduce_only_without_explicit_position_is_left_to_the_venue() -> None:
    assert check(make_order(BUY, 300_000, reduce_only=True), position=None, net=-200_000) is None


def test_not_reduce_only_ignores_the_position() -> None:
    assert check(make_order(BUY, 300_000), position=-200_000) is None


# ---- 2. instrument ---------------------------------------------------------------------------------------
def test_unknown_instrument_is_denied() -> None:
    order = make_order(instrument_id=InstrumentId("XYZ/USD.SIM"))
    reason = check(order, None)
    assert reason is not None
    assert "XYZ/USD.SIM" in reason and "not found" in reason


# ---- 3. price and trigger --------------------------------------------------------------------------------
def test_price_precision_too_high_names_the_price_and_precisions() -> None:
    reason = check(make_order(price="1.000001"))
    assert reason == "price 1.000001 invalid (precision 6 > 5)"


@pytest.mark.parametrize("price", ["0.00000", "-1.00000"])
def test_price_not_positive_is_denied(price: str) -> None:
    reason = check(make_order(price=price))
    assert reason == f"price {price} invalid (not positive)"


def test_negative_price_allowed_when_the_instrument_allows_it() -> None:
    spread = make_instrument(allow_negative_prices=True, min_notional=None)
    assert check_price("price", Price.from_str("-1.00000"), spread) is None
    assert check_price("price", Price.from_str("0.00000"), spread) is None


def test_price_off_grid_is_denied() -> None:
    reason = check(make_order(price="1.00001"))
    assert reason == "price 1.00001 invalid (not a multiple of price_increment 0.00005)"


def test_price_outside_instrument_price_limits_is_denied() -> None:
    limited = make_instrument(min_price=Price.from_str("0.50000"), max_price=Price.from_str("1.50000"))
    assert check_price("price", Price.from_str("1.50005"), limited) == "price 1.50005 invalid (> maximum price 1.50000)"
    assert check_price("price", Price.from_str("0.49995"), limited) == "price 0.49995 invalid (< minimum price 0.50000)"
    assert check_price("price", Price.from_str("1.50000"), limited) is None


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        ("1.000001", "trigger price 1.000001 invalid (precision 6 > 5)"),
        ("0.00000", "trigger price 0.00000 invalid (not positive)"),
        ("1.00003", "trigger price 1.00003 invalid (not a multiple of price_increment 0.00005)"),
    ],
)
def test_trigger_price_checks_have_the_trigger_prefix(trigger: str, expected: str) -> None:
    stop = make_order(price=None, order_type=OrderType.STOP_MARKET, trigger=trigger)
    assert check(stop) == expected
    stop_limit = make_order(price="1.00100", order_type=OrderType.STOP_LIMIT, trigger=trigger)
    assert check(stop_limit) == expected


def test_price_is_checked_before_trigger() -> None:
    both_bad = make_order(price="1.000001", order_type=OrderType.STOP_LIMIT, trigger="0.00000")
    assert check(both_bad) == "price 1.000001 invalid (precision 6 > 5)"


def test_check_price_precision_is_checked_before_sign() -> None:
    assert check_price("price", Price.from_str("-0.000001"), INSTRUMENT) == (
        "price -0.000001 invalid (precision 6 > 5)"
    )


# ---- 4. quantity -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("qty", "expected"),
    [
        (Quantity.from_str("100000.5"), "quantity 100000.5 invalid (precision 1 > 0)"),
        (Quantity(0, 0), "quantity 0 invalid (not positive)"),
        (Quantity.from_int(100_500), "quantity 100500 invalid (not a multiple of size_increment 1000)"),
        (Quantity.from_int(1_001_000), "quantity 1001000 invalid (> maximum trade size 1000000)"),
        (Quantity.from_int(1_000), "quantity 1000 invalid (< minimum trade size 2000)"),
    ],
)
def test_quantity_denials(qty: Quantity, expected: str) -> None:
    assert check(make_order(qty=qty)) == expected
    assert check_quantity(qty, INSTRUMENT) == expected


@pytest.mark.parametrize("qty", [2_000, 3_000, 1_000_000])
def test_quantity_at_the_limits_passes(qty: int) -> None:
    assert check_quantity(Quantity.from_int(qty), INSTRUMENT) is None


def test_quantity_checked_after_price() -> None:
    assert check(make_order(qty=Quantity(0, 0), price="1.00001")) == (
        "price 1.00001 invalid (not a multiple of price_increment 0.00005)"
    )


# ---- 5. GTD ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("expire", [NOW - 1, NOW])
def test_gtd_expire_time_already_passed_is_denied(expire: int) -> None:
    reason = check(make_order(tif=TimeInForce.GTD, expire_time_ns=expire))
    assert reason is not None
    assert reason.startswith("GTD") and "already passed" in reason
    assert str(expire) in reason


def test_gtd_in_the_future_passes() -> None:
    assert check(make_order(tif=TimeInForce.GTD, expire_time_ns=NOW + 1)) is None


# ---- 6. notional and balance -----------------------------------------------------------------------------
def test_max_notional_per_order_is_denied() -> None:
    order = make_order(BUY, 100_000, "1.00000")  # notional 100,000.00 USD
    reason = check(order, max_notional=Money.of(50_000, USD))
    assert reason == "NOTIONAL_EXCEEDS_MAX_PER_ORDER: notional 100000.00 USD > max 50000.00 USD"
    assert check(order, max_notional=Money.of(100_000, USD)) is None


def test_instrument_min_notional_is_denied() -> None:
    order = make_order(BUY, 2_000, "0.40000")  # 800.00 USD < 1,000 USD
    assert check(order) == "NOTIONAL_LESS_THAN_MIN_FOR_INSTRUMENT: notional 800.00 USD < min 1000.00 USD"


def test_instrument_max_notional_is_denied() -> None:
    order = make_order(SELL, 600_000, "1.00000")
    assert check(order) == "NOTIONAL_GREATER_THAN_MAX_FOR_INSTRUMENT: notional 600000.00 USD > max 500000.00 USD"


def test_market_order_notional_uses_the_ask_for_buys_and_the_bid_for_sells() -> None:
    buy = make_order(BUY, 500_000, None, order_type=OrderType.MARKET)
    sell = make_order(SELL, 500_000, None, order_type=OrderType.MARKET)
    # at ask 1.00005 the BUY is 500,025.00 USD > 500,000; the SELL at bid 0.99995 is below
    assert check(buy) == "NOTIONAL_GREATER_THAN_MAX_FOR_INSTRUMENT: notional 500025.00 USD > max 500000.00 USD"
    assert check(sell) is None


def test_cash_free_balance_is_denied() -> None:
    order = make_order(BUY, 100_000, "1.00000")
    reason = check(order, free=Money.of(99_999.99, USD))
    assert reason == "NOTIONAL_EXCEEDS_FREE_BALANCE: notional 100000.00 USD > free balance 99999.99 USD"
    assert check(order, free=Money.of(100_000, USD)) is None


def test_free_balance_is_not_checked_on_margin_accounts() -> None:
    order = make_order(BUY, 100_000, "1.00000")
    assert check(order, account_type=AccountType.MARGIN, free=Money.of(1, USD)) is None


def test_position_reducing_sell_skips_the_balance_check() -> None:
    sell = make_order(SELL, 100_000, "1.00000")
    assert check(sell, net=100_000, free=Money.of(1, USD)) is None
    reduce_only = make_order(SELL, 100_000, "1.00000", reduce_only=True)
    assert check(reduce_only, free=Money.of(1, USD)) is None


def test_reference_price() -> None:
    bid, ask, last = 99 * FIXED_SCALE, 101 * FIXED_SCALE, 100 * FIXED_SCALE
    assert reference_price_raw(make_order(BUY, price=None, order_type=OrderType.MARKET), bid, ask, last) == ask
    assert reference_price_raw(make_order(SELL, price=None, order_type=OrderType.MARKET), bid, ask, last) == bid
    assert reference_price_raw(make_order(SELL, price=None, order_type=OrderType.MARKET), None, None, last) == last
    stop = make_order(price=None, order_type=OrderType.STOP_MARKET, trigger="1.00100")
    assert reference_price_raw(stop, bid, ask, last) == Price.from_str("1.00100").raw
    assert reference_price_raw(make_order(price="1.00050"), bid, ask, last) == Price.from_str("1.00050").raw


# ---- 7. trading state ------------------------------------------------------------------------------------
def test_halted_denies_every_new_order() -> None:
    for order in (make_order(BUY), make_order(SELL), make_order(SELL, reduce_only=True)):
        reason = check(order, state=TradingState.HALTED, net=100_000)
        assert reason is not None and reason.startswith("TradingState.HALTED")


@pytest.mark.parametrize(("side", "net"), [(BUY, 100_000), (SELL, -100_000)])
def test_reducing_denies_orders_that_add_to_the_net_position(side: OrderSide, net: int) -> None:
    reason = check(make_order(side), state=TradingState.REDUCING, net=net)
    assert reason is not None and reason.startswith("TradingState.REDUCING")


@pytest.mark.parametrize(("side", "net"), [(SELL, 100_000), (BUY, -100_000)])
def test_reducing_allows_orders_that_reduce(side: OrderSide, net: int) -> None:
    assert check(make_order(side), state=TradingState.REDUCING, net=net) is None


# ---- the order of the checks -----------------------------------------------------------------------------
def test_denial_reasons_come_in_the_spec_order() -> None:
    """Start from an order that fails every check, repair one problem at a time: each time the
    reason is the next check of spec §8."""
    kwargs: dict[str, Any] = {
        "side": BUY,
        "qty": Quantity(0, 0),
        "price": "1.000001",
        "order_type": OrderType.STOP_LIMIT,
        "trigger": "0.00000",
        "tif": TimeInForce.GTD,
        "expire_time_ns": NOW,
        "reduce_only": True,
    }
    extra: dict[str, Any] = {
        "instrument": None,
        "position": 100_000,
        "net": 100_000,
        "free": Money.of(1, USD),
        "max_notional": Money.of(10, USD),
        "state": TradingState.HALTED,
    }
    steps: list[tuple[str, Callable[[], None]]] = [
        ("Reduce only order would increase position", lambda: extra.update(position=-1_000_000)),
        ("instrument AUD/USD.SIM not found", lambda: extra.update(instrument=INSTRUMENT)),
        ("price 1.000001 invalid (precision", lambda: kwargs.update(price="1.00100")),
        ("trigger price 0.00000 invalid (not positive)", lambda: kwargs.update(trigger="1.00050")),
        ("quantity 0 invalid (not positive)", lambda: kwargs.update(qty=Quantity.from_int(1_000))),
        ("quantity 1000 invalid (< minimum trade size", lambda: kwargs.update(qty=Quantity.from_int(100_000))),
        ("GTD expire time", lambda: kwargs.update(expire_time_ns=NOW + 1)),
        (
            "NOTIONAL_EXCEEDS_MAX_PER_ORDER",
            lambda: extra.update(max_notional=None) or kwargs.update(qty=Quantity.from_int(2_000), price="0.40000"),
        ),
        (
            "NOTIONAL_LESS_THAN_MIN_FOR_INSTRUMENT",
            lambda: kwargs.update(qty=Quantity.from_int(600_000), price="1.00000"),
        ),
        (
            "NOTIONAL_GREATER_THAN_MAX_FOR_INSTRUMENT",
            # a reduce-only order skips the balance check: make it a plain order
            lambda: kwargs.update(qty=Quantity.from_int(100_000), reduce_only=False) or extra.update(position=None),
        ),
        ("NOTIONAL_EXCEEDS_FREE_BALANCE", lambda: extra.update(free=Money.of(1_000_000, USD))),
        ("TradingState.HALTED", lambda: extra.update(state=TradingState.REDUCING)),
        ("TradingState.REDUCING", lambda: extra.update(net=-100_000)),
    ]
    for expected_prefix, repair in steps:
        instrument = extra["instrument"]
        other = {k: v for k, v in extra.items() if k != "instrument"}
        reason = check(make_order(**kwargs), instrument, **other)
        assert reason is not None and reason.startswith(expected_prefix), (expected_prefix, reason)
        repair()
    other = {k: v for k, v in extra.items() if k != "instrument"}
    assert check(make_order(**kwargs), extra["instrument"], **other) is None


# ---- through a real BacktestEngine -----------------------------------------------------------------------
SIM_AUDUSD = CurrencyPair(
    id=InstrumentId("AUD/USD.SIM"),
    base_currency=AUD,
    quote_currency=USD,
    settlement_currency=USD,
    price_precision=5,
    size_precision=0,
    price_increment=Price.from_str("0.00001"),
    size_increment=Quantity.from_int(1),
    maker_fee=Decimal("0.00002"),
    taker_fee=Decimal("0.00002"),
    margin_init=Decimal("0.03"),
    margin_maint=Decimal("0.03"),
)


class ScriptedStrategy(Strategy):
    """Runs `script[n](self)` on the n-th quote and records every order event it receives."""

    def __init__(self, instrument_id: InstrumentId, script: dict[int, Callable[[ScriptedStrategy], None]]) -> None:
        super().__init__(StrategyConfig(order_id_tag="001"))
        self.instrument_id = instrument_id
        self.script = script
        self.quotes = 0
        self.events: list[OrderEvent] = []
        self.denied: list[OrderDenied] = []
        self.modify_rejected: list[OrderModifyRejected] = []
        self.orders: list[Order] = []

    def on_start(self) -> None:
        self.subscribe_quote_ticks(self.instrument_id)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        action = self.script.get(self.quotes)
        self.quotes += 1
        if action is not None:
            action(self)

    def on_order_denied(self, event: OrderDenied) -> None:
        self.denied.append(event)

    def on_order_modify_rejected(self, event: OrderModifyRejected) -> None:
        self.modify_rejected.append(event)

    def on_order_event(self, event: OrderEvent) -> None:
        self.events.append(event)

    def limit(self, side: OrderSide, qty: int, price: str) -> Order:
        order = self.order_factory.limit(self.instrument_id, side, Quantity.from_int(qty), Price.from_str(price))
        self.orders.append(order)
        self.submit_order(order)
        return order


def run_backtest(script: dict[int, Callable[[ScriptedStrategy], None]], quotes: int = 3) -> ScriptedStrategy:
    engine = BacktestEngine()
    engine.add_venue("SIM", OmsType.NETTING, AccountType.MARGIN, [Money.of(1_000_000, USD)], base_currency=USD)
    engine.add_instrument(SIM_AUDUSD)
    ticks = [
        QuoteTick.of(
            SIM_AUDUSD.id,
            Price.from_str("1.00000"),
            Price.from_str("1.00002"),
            Quantity.from_int(1_000_000),
            Quantity.from_int(1_000_000),
            NOW + i * 1_000_000_000,
        )
        for i in range(quotes)
    ]
    engine.add_data(ticks)
    strategy = ScriptedStrategy(SIM_AUDUSD.id, script)
    engine.add_strategy(strategy)
    engine.run()
    return strategy


def test_backtest_price_with_too_many_decimals_is_denied_to_the_strategy() -> None:
    strategy = run_backtest({0: lambda s: s.limit(BUY, 100_000, "0.999991")})
    order = strategy.orders[0]
    assert order.status is OrderStatus.DENIED
    assert len(strategy.denied) == 1
    denied = strategy.denied[0]
    assert denied.client_order_id == order.client_order_id
    assert denied.reason == "price 0.999991 invalid (precision 6 > 5)"
    assert [type(e).__name__ for e in strategy.events] == ["OrderDenied"]
    assert order.events[-1] is denied
    assert strategy.cache.orders_closed(strategy_id=strategy.strategy_id) == [order]


def test_backtest_modify_with_bad_price_is_rejected_to_the_strategy() -> None:
    def modify(s: ScriptedStrategy) -> None:
        s.modify_order(s.orders[0], price=Price.from_str("0.999801"))

    strategy = run_backtest({0: lambda s: s.limit(BUY, 100_000, "0.99990"), 1: modify})
    order = strategy.orders[0]
    assert len(strategy.modify_rejected) == 1
    rejected = strategy.modify_rejected[0]
    assert rejected.client_order_id == order.client_order_id
    assert rejected.reason == "price 0.999801 invalid (precision 6 > 5)"
    kinds = [type(e) for e in strategy.events]
    assert kinds[-2:] == [OrderPendingUpdate, OrderModifyRejected]
    assert OrderUpdated not in kinds
    # back to where it was, unchanged; on_stop does not cancel it (the strategy keeps it)
    assert order.status is OrderStatus.ACCEPTED
    assert order.price == Price.from_str("0.99990")


def test_backtest_valid_modify_goes_through() -> None:
    def modify(s: ScriptedStrategy) -> None:
        s.modify_order(s.orders[0], price=Price.from_str("0.99980"))

    strategy = run_backtest({0: lambda s: s.limit(BUY, 100_000, "0.99990"), 1: modify})
    order = strategy.orders[0]
    assert strategy.modify_rejected == []
    assert order.status is OrderStatus.ACCEPTED
    assert order.price == Price.from_str("0.99980")


@pytest.mark.parametrize(
    "balances",
    [[Money.of(50_000, USD), Money.of(1_000_000, AUD)], [Money.of(1_000_000, AUD)]],
    ids=["little-usd", "no-usd"],
)
def test_backtest_cash_account_without_enough_quote_currency_denies_the_buy(balances: list[Money]) -> None:
    engine = BacktestEngine()
    engine.add_venue("SIM", OmsType.NETTING, AccountType.CASH, balances)  # multi-currency: no base currency
    engine.add_instrument(SIM_AUDUSD)
    tick = QuoteTick.of(
        SIM_AUDUSD.id,
        Price.from_str("1.00000"),
        Price.from_str("1.00002"),
        Quantity.from_int(1_000_000),
        Quantity.from_int(1_000_000),
        NOW,
    )
    engine.add_data([tick])
    strategy = ScriptedStrategy(SIM_AUDUSD.id, {0: lambda s: s.limit(BUY, 100_000, "0.99990")})
    engine.add_strategy(strategy)
    engine.run()
    free = balances[0] if balances[0].currency.code == "USD" else Money.of(0, USD)
    assert strategy.orders[0].status is OrderStatus.DENIED
    assert [d.reason for d in strategy.denied] == [
        f"NOTIONAL_EXCEEDS_FREE_BALANCE: notional 99990.00 USD > free balance {free}"
    ]


def test_backtest_halted_denies_submits_rejects_modifies_and_still_cancels() -> None:
    engine = BacktestEngine()
    engine.add_venue("SIM", OmsType.NETTING, AccountType.MARGIN, [Money.of(1_000_000, USD)], base_currency=USD)
    engine.add_instrument(SIM_AUDUSD)
    engine.add_data(
        [
            QuoteTick.of(
                SIM_AUDUSD.id,
                Price.from_str("1.00000"),
                Price.from_str("1.00002"),
                Quantity.from_int(1_000_000),
                Quantity.from_int(1_000_000),
                NOW + i * 1_000_000_000,
            )
            for i in range(3)
        ]
    )

    def halt_then_act(s: ScriptedStrategy) -> None:
        engine.kernel.risk_engine.set_trading_state(TradingState.HALTED)
        s.modify_order(s.orders[0], price=Price.from_str("0.99980"))
        s.limit(BUY, 10_000, "0.99970")

    strategy = ScriptedStrategy(
        SIM_AUDUSD.id,
        {
            0: lambda s: (s.limit(BUY, 100_000, "0.99990"), s.limit(BUY, 100_000, "0.99985")),
            1: halt_then_act,
            2: lambda s: s.cancel_order(s.orders[1]),
        },
    )
    engine.add_strategy(strategy)
    engine.run()
    first, second, third = strategy.orders
    assert [e.reason for e in strategy.modify_rejected] == ["TradingState.HALTED: modifies are not allowed"]
    assert first.status is OrderStatus.ACCEPTED and first.price == Price.from_str("0.99990")
    assert third.status is OrderStatus.DENIED
    assert [d.reason for d in strategy.denied] == ["TradingState.HALTED: no new orders"]
    assert second.status is OrderStatus.CANCELED  # cancels still go through


def test_backtest_reducing_rejects_a_modify_that_increases_exposure() -> None:
    engine = BacktestEngine()
    engine.add_venue("SIM", OmsType.NETTING, AccountType.MARGIN, [Money.of(1_000_000, USD)], base_currency=USD)
    engine.add_instrument(SIM_AUDUSD)
    engine.add_data(
        [
            QuoteTick.of(
                SIM_AUDUSD.id,
                Price.from_str("1.00000"),
                Price.from_str("1.00002"),
                Quantity.from_int(1_000_000),
                Quantity.from_int(1_000_000),
                NOW + i * 1_000_000_000,
            )
            for i in range(2)
        ]
    )

    def reduce_then_modify(s: ScriptedStrategy) -> None:
        engine.kernel.risk_engine.set_trading_state(TradingState.REDUCING)
        s.modify_order(s.orders[0], quantity=Quantity.from_int(150_000))
        s.modify_order(s.orders[1], quantity=Quantity.from_int(50_000))

    strategy = ScriptedStrategy(
        SIM_AUDUSD.id,
        {0: lambda s: (s.limit(BUY, 100_000, "0.99990"), s.limit(BUY, 100_000, "0.99985")), 1: reduce_then_modify},
    )
    engine.add_strategy(strategy)
    engine.run()
    first, second = strategy.orders
    assert [(e.client_order_id, e.reason) for e in strategy.modify_rejected] == [
        (first.client_order_id, "TradingState.REDUCING: modify would increase exposure")
    ]
    assert first.quantity == Quantity.from_int(100_000)
    assert second.quantity == Quantity.from_int(50_000) and second.status is OrderStatus.ACCEPTED
