"""Unit tests of the pre-trade risk engine (`toolkit.engine.risk` and `risk_checks`, venue spec §8).

First the pure functions (`check_order`, `check_price`, `check_quantity`, `reference_price_raw`, the
throttle and rate parsing), one test per denial reason and a test that the reasons come in the spec's
order; then through a real `BacktestEngine`: a price with too many decimals is DENIED and the strategy
hears the reason in `on_order_denied`, a modify with a bad price ends in `on_order_modify_rejected`,
HALTED and REDUCING states, submit and modify throttles on the simulated clock, and the margin check
with its figures worked out in the test's docstring.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from toolkit.backtest.config import RunFile
from toolkit.backtest.engine import BacktestEngine, BacktestEngineConfig
from toolkit.core.config import ConfigError, config_from_dict
from toolkit.engine import topics
from toolkit.engine.kernel import KernelConfig
from toolkit.engine.risk import RiskEngineConfig
from toolkit.engine.risk_checks import (
    check_order,
    check_price,
    check_quantity,
    reference_price_raw,
    trailing_trigger_raw,
)
from toolkit.engine.throttle import Throttle, parse_rate
from toolkit.model.data import QuoteTick
from toolkit.model.enums import (
    AccountType,
    OmsType,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TradingState,
    TrailingOffsetType,
    TriggerType,
)
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
    trailing_offset: str | None = None,
    trailing_offset_type: TrailingOffsetType = TrailingOffsetType.PRICE,
    activation: str | None = None,
    trigger_type: TriggerType = TriggerType.DEFAULT,
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
        trailing_offset=None if trailing_offset is None else Decimal(trailing_offset),
        trailing_offset_type=trailing_offset_type,
        activation_price=None if activation is None else Price.from_str(activation),
        trigger_type=trigger_type,
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
    margin: Money | None = None,
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
        order_margin=margin,
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


def test_margin_account_denies_an_order_needing_more_margin_than_is_free() -> None:
    order = make_order(BUY, 100_000, "1.00000")
    margin = Money.of("12345.67", USD)
    reason = check(order, account_type=AccountType.MARGIN, margin=margin, free=Money.of(10_000, USD))
    assert reason == "MARGIN_EXCEEDS_FREE_BALANCE: order margin 12,345.67 USD > free 10,000.00 USD"
    # a margin equal to the free balance fits; cash accounts are not asked about margin
    assert check(order, account_type=AccountType.MARGIN, margin=margin, free=margin) is None
    assert check(order, account_type=AccountType.CASH, margin=margin, free=Money.of(1_000_000, USD)) is None


@pytest.mark.parametrize(
    ("side", "net", "reduce_only"),
    [(SELL, 100_000, False), (BUY, -100_000, False), (SELL, 0, True), (BUY, 0, True)],
    ids=["sell-within-long", "buy-within-short", "reduce-only-sell", "reduce-only-buy"],
)
def test_margin_check_skips_position_reducing_orders(side: OrderSide, net: int, reduce_only: bool) -> None:
    order = make_order(side, 100_000, "1.00000", reduce_only=reduce_only)
    kwargs: dict[str, Any] = {"account_type": AccountType.MARGIN, "margin": Money.of(3_000, USD)}
    assert check(order, net=net, free=Money.of(1, USD), **kwargs) is None


@pytest.mark.parametrize(("side", "net"), [(SELL, 50_000), (BUY, -50_000), (BUY, 100_000), (SELL, 0)])
def test_margin_check_applies_to_orders_that_do_not_reduce(side: OrderSide, net: int) -> None:
    order = make_order(side, 100_000, "1.00000")
    reason = check(order, net=net, account_type=AccountType.MARGIN, margin=Money.of(3_000, USD), free=Money.of(1, USD))
    assert reason == "MARGIN_EXCEEDS_FREE_BALANCE: order margin 3,000.00 USD > free 1.00 USD"


# ---- 3. trailing stops ---------------------------------------------------------------------------------
TRAILING = (OrderType.TRAILING_STOP_MARKET, OrderType.TRAILING_STOP_LIMIT)


def trailing_order(order_type: OrderType, side: OrderSide = SELL, **kwargs: Any) -> Order:
    price = "0.99800" if order_type is OrderType.TRAILING_STOP_LIMIT and side is SELL else None
    fields: dict[str, Any] = {"trailing_offset": "0.00100", "order_type": order_type, "price": price}
    fields.update(kwargs)
    return make_order(side, 100_000, **fields)


@pytest.mark.parametrize("order_type", TRAILING)
@pytest.mark.parametrize(
    ("offset_type", "offset"),
    [(TrailingOffsetType.PRICE, "0.00100"), (TrailingOffsetType.BASIS_POINTS, "10"), (TrailingOffsetType.TICKS, "20")],
)
def test_trailing_stop_with_a_supported_offset_type_passes(
    order_type: OrderType, offset_type: TrailingOffsetType, offset: str
) -> None:
    order = trailing_order(order_type, trailing_offset=offset, trailing_offset_type=offset_type)
    assert check(order) is None


@pytest.mark.parametrize("order_type", TRAILING)
def test_trailing_stop_with_an_unsupported_offset_type_is_denied(order_type: OrderType) -> None:
    order = trailing_order(order_type, trailing_offset_type=TrailingOffsetType.PRICE_TIER)
    assert check(order) == (
        f"trailing_offset_type PRICE_TIER not supported for {order_type.value} (use PRICE, BASIS_POINTS or TICKS)"
    )


def test_trailing_stop_without_a_usable_offset_or_with_a_bad_activation_price_is_denied() -> None:
    tsm = OrderType.TRAILING_STOP_MARKET
    assert check(trailing_order(tsm, trailing_offset=None)) == "TRAILING_STOP_MARKET order has no trailing_offset"
    assert check(trailing_order(tsm, trailing_offset="0")) == "trailing_offset 0 invalid (not positive)"
    reason = check(trailing_order(tsm, activation="1.000001"))
    assert reason == "activation price 1.000001 invalid (precision 6 > 5)"


def test_reference_price_of_a_trailing_stop_without_a_trigger_comes_from_the_market() -> None:
    """Spec §3.7: on quote 13/14 with offset 1.0 a BUY gets trigger 15.000 and a SELL 12.000."""
    f = FIXED_SCALE
    bid, ask = 13 * f, 14 * f
    tsm = OrderType.TRAILING_STOP_MARKET
    buy = make_order(BUY, price=None, order_type=tsm, trailing_offset="1.0")
    sell = make_order(SELL, price=None, order_type=tsm, trailing_offset="1.0")
    assert reference_price_raw(buy, bid, ask, None) == 15 * f
    assert reference_price_raw(sell, bid, ask, None) == 12 * f
    last = make_order(SELL, price=None, order_type=tsm, trailing_offset="1.0", trigger_type=TriggerType.LAST_PRICE)
    assert reference_price_raw(last, bid, ask, 20 * f) == 19 * f
    activated = make_order(SELL, price=None, order_type=tsm, trailing_offset="1.0", activation="15.000")
    assert reference_price_raw(activated, bid, ask, None) == 14 * f
    bps = make_order(
        BUY, price=None, order_type=tsm, trailing_offset="100", trailing_offset_type=TrailingOffsetType.BASIS_POINTS
    )
    assert reference_price_raw(bps, bid, ask, None) == Price.from_str("14.14").raw  # 1% of 14
    ticks = make_order(
        BUY, price=None, order_type=tsm, trailing_offset="5", trailing_offset_type=TrailingOffsetType.TICKS
    )
    assert reference_price_raw(ticks, bid, ask, None, Price.from_str("0.01").raw) == Price.from_str("14.05").raw
    assert reference_price_raw(ticks, bid, ask, None) is None  # ticks need the instrument's increment
    assert trailing_trigger_raw(sell, 13 * f, None) == 12 * f


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


@pytest.mark.parametrize(("side", "net"), [(SELL, 100_000), (BUY, -100_000), (BUY, 0), (SELL, 0)])
def test_reducing_allows_orders_that_reduce_and_orders_sent_while_flat(side: OrderSide, net: int) -> None:
    """Spec §8.7: REDUCING denies a BUY while net long or a SELL while net short, nothing else."""
    assert check(make_order(side), state=TradingState.REDUCING, net=net) is None


# ---- 8. rate throttles -----------------------------------------------------------------------------------
def test_parse_rate_reads_limit_and_interval() -> None:
    assert parse_rate("100/00:00:01") == (100, 1_000_000_000)
    assert parse_rate("5/01:30:00") == (5, 5_400_000_000_000)


@pytest.mark.parametrize(
    "text", ["100", "100/1s", "0/00:00:01", "10/00:00:00", "10/00:60:00", "-1/00:00:01", "ten/00:00:01", ""]
)
def test_parse_rate_rejects_malformed_rates(text: str) -> None:
    with pytest.raises(ValueError, match=r"rate|limit|interval|minutes"):
        parse_rate(text)


def test_throttle_is_a_sliding_window_that_does_not_count_refusals() -> None:
    throttle = Throttle(3, 10)
    assert [throttle.try_admit(ts) for ts in (0, 1, 5, 9, 9)] == [True, True, True, False, False]
    assert throttle.try_admit(10)  # the event at 0 has left the window (10 - 10, 10]
    assert not throttle.try_admit(10)
    assert throttle.try_admit(11)  # and the one at 1
    assert throttle.used(11) == 3


def test_rates_and_notionals_are_checked_when_the_config_is_loaded() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(
            {"risk_engine": {"max_order_modify_rate": "100 per second"}},
            KernelConfig,
            source="run.toml",
            path_prefix="backtest",
        )
    assert info.value.field == "backtest.risk_engine.max_order_modify_rate"
    assert "expected 'LIMIT/HH:MM:SS'" in info.value.reason
    with pytest.raises(ValueError, match="field `max_order_submit_rate`: '0/00:00:01': the limit must be at least 1"):
        RiskEngineConfig(max_order_submit_rate="0/00:00:01")
    with pytest.raises(ValueError, match=r"field `max_notional_per_order`: AUD/USD\.SIM = 'lots'"):
        RiskEngineConfig(max_notional_per_order={"AUD/USD.SIM": "lots"})


def test_a_run_file_risk_engine_table_is_checked_and_reaches_the_engine() -> None:
    base = {"strategy": {}, "backtest": {"venue": {"starting_balances": ["1000000 USD"]}}}
    bad = {**base, "backtest": {**base["backtest"], "risk_engine": {"max_order_submit_rate": "5/0:0:1"}}}
    with pytest.raises(ConfigError) as info:
        config_from_dict(bad, RunFile, source="run.toml")
    assert info.value.field == "backtest.risk_engine.max_order_submit_rate"
    good = {**base, "backtest": {**base["backtest"], "risk_engine": {"max_order_submit_rate": "5/00:00:01"}}}
    run = config_from_dict(good, RunFile, source="run.toml")
    assert run.backtest is not None
    assert run.backtest.risk_engine.max_order_submit_rate == "5/00:00:01"


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


ONE_MILLION_USD = Money.of(1_000_000, USD)


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
        self.engine: BacktestEngine | None = None

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

    def market(self, side: OrderSide, qty: int) -> Order:
        order = self.order_factory.market(self.instrument_id, side, Quantity.from_int(qty))
        self.orders.append(order)
        self.submit_order(order)
        return order


def run_backtest(
    script: dict[int, Callable[[ScriptedStrategy], None]],
    quotes: int = 3,
    *,
    risk: RiskEngineConfig | None = None,
    balance: Money = ONE_MILLION_USD,
) -> ScriptedStrategy:
    """AUD/USD quotes 1.00000/1.00002 x 1M, one per second, on a NETTING MARGIN account (leverage 1)."""
    engine = BacktestEngine(BacktestEngineConfig(risk_engine=risk or RiskEngineConfig()))
    engine.add_venue("SIM", OmsType.NETTING, AccountType.MARGIN, [balance], base_currency=USD)
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
    strategy.engine = engine
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


def test_backtest_reducing_denies_adding_orders_and_rejects_a_modify_that_increases_exposure() -> None:
    def reduce_then_act(s: ScriptedStrategy) -> None:
        assert s.engine is not None
        s.engine.kernel.risk_engine.set_trading_state(TradingState.REDUCING)
        s.modify_order(s.orders[1], quantity=Quantity.from_int(150_000))  # BUY while long: rejected
        s.modify_order(s.orders[2], quantity=Quantity.from_int(80_000))  # SELL while long: allowed
        s.limit(BUY, 10_000, "0.99980")  # denied
        s.limit(SELL, 10_000, "1.00020")  # allowed

    strategy = run_backtest(
        {
            0: lambda s: (s.market(BUY, 100_000), s.limit(BUY, 100_000, "0.99990"), s.limit(SELL, 50_000, "1.00010")),
            1: reduce_then_act,
        }
    )
    _, buy_limit, sell_limit, buy_more, sell_more = strategy.orders
    assert [(e.client_order_id, e.reason) for e in strategy.modify_rejected] == [
        (buy_limit.client_order_id, "TradingState.REDUCING: modify would increase exposure")
    ]
    assert buy_limit.quantity == Quantity.from_int(100_000)
    assert sell_limit.quantity == Quantity.from_int(80_000) and sell_limit.status is OrderStatus.ACCEPTED
    assert [(d.client_order_id, d.reason) for d in strategy.denied] == [
        (buy_more.client_order_id, "TradingState.REDUCING: BUY order while net long would increase exposure")
    ]
    assert sell_more.status is OrderStatus.ACCEPTED


def test_backtest_trading_state_changes_are_published_once_per_change() -> None:
    engine = BacktestEngine()
    seen: list[TradingState] = []
    engine.kernel.msgbus.subscribe(topics.TRADING_STATE, seen.append)
    risk = engine.kernel.risk_engine
    risk.set_trading_state(TradingState.HALTED)
    risk.set_trading_state(TradingState.HALTED)
    risk.set_trading_state(TradingState.ACTIVE)
    assert seen == [TradingState.HALTED, TradingState.ACTIVE]
    risk.set_trading_state(TradingState.REDUCING)
    engine.reset()
    assert risk.trading_state is TradingState.ACTIVE  # a new run starts in the configured state


# ---- throttles and margin through a real BacktestEngine ----------------------------------------------------
def test_backtest_submits_beyond_the_default_100_per_second_are_denied() -> None:
    def burst(s: ScriptedStrategy) -> None:
        for _ in range(101):
            s.limit(BUY, 1_000, "0.99990")

    strategy = run_backtest({0: burst, 1: lambda s: s.limit(BUY, 1_000, "0.99990")})
    statuses = [o.status for o in strategy.orders]
    assert statuses[:100] == [OrderStatus.ACCEPTED] * 100
    assert statuses[100] is OrderStatus.DENIED
    assert [d.reason for d in strategy.denied] == ["Exceeded MAX_ORDER_SUBMIT_RATE"]
    # one second later the burst has left the window
    assert statuses[101] is OrderStatus.ACCEPTED


def test_backtest_submit_throttle_slides_with_the_kernel_clock() -> None:
    """3 per 2 s with quotes 1 s apart: 1 order at 0 s, 3 at 1 s, 3 at 2 s. A sliding window admits
    A | A A D | A D D (at 2 s only the order from 0 s has left); fixed 2 s buckets would admit all at 2 s."""

    def send(n: int) -> Callable[[ScriptedStrategy], None]:
        return lambda s: [s.limit(BUY, 1_000, "0.99990") for _ in range(n)]  # type: ignore[func-returns-value]

    strategy = run_backtest(
        {0: send(1), 1: send(3), 2: send(3)}, risk=RiskEngineConfig(max_order_submit_rate="3/00:00:02")
    )
    accepted, denied = OrderStatus.ACCEPTED, OrderStatus.DENIED
    assert [o.status for o in strategy.orders] == [accepted, accepted, accepted, denied, accepted, denied, denied]
    assert {d.reason for d in strategy.denied} == {"Exceeded MAX_ORDER_SUBMIT_RATE"}
    assert [d.ts_event for d in strategy.denied] == [NOW + 1_000_000_000, NOW + 2_000_000_000, NOW + 2_000_000_000]


def test_backtest_orders_denied_by_a_check_do_not_use_the_submit_rate() -> None:
    def orders(s: ScriptedStrategy) -> None:
        for _ in range(3):
            s.limit(BUY, 1_000, "0.999991")  # too many decimals
        for _ in range(3):
            s.limit(BUY, 1_000, "0.99990")

    strategy = run_backtest({0: orders}, risk=RiskEngineConfig(max_order_submit_rate="2/00:00:01"))
    assert [d.reason for d in strategy.denied] == ["price 0.999991 invalid (precision 6 > 5)"] * 3 + [
        "Exceeded MAX_ORDER_SUBMIT_RATE"
    ]
    assert [o.status for o in strategy.orders[3:]] == [OrderStatus.ACCEPTED, OrderStatus.ACCEPTED, OrderStatus.DENIED]


def test_backtest_modifies_beyond_the_rate_are_rejected() -> None:
    def modify_all(s: ScriptedStrategy) -> None:
        for order in s.orders:
            s.modify_order(order, price=Price.from_str("0.99980"))

    strategy = run_backtest(
        {0: lambda s: [s.limit(BUY, 1_000, "0.99990") for _ in range(3)], 1: modify_all},  # type: ignore[func-returns-value]
        risk=RiskEngineConfig(max_order_modify_rate="2/00:00:01"),
    )
    first, second, third = strategy.orders
    assert first.price == second.price == Price.from_str("0.99980")
    assert third.price == Price.from_str("0.99990") and third.status is OrderStatus.ACCEPTED
    assert [(e.client_order_id, e.reason) for e in strategy.modify_rejected] == [
        (third.client_order_id, "Exceeded MAX_ORDER_MODIFY_RATE")
    ]


def test_backtest_bypass_skips_every_check_and_throttle() -> None:
    strategy = run_backtest(
        {0: lambda s: [s.limit(BUY, 1_000, "0.99990") for _ in range(3)]},  # type: ignore[func-returns-value]
        risk=RiskEngineConfig(bypass=True, max_order_submit_rate="1/00:00:01", trading_state=TradingState.HALTED),
    )
    assert [o.status for o in strategy.orders] == [OrderStatus.ACCEPTED] * 3


def test_backtest_margin_account_denies_orders_needing_more_margin_than_is_free() -> None:
    """10,000 USD, leverage 1, AUD/USD margin_init = margin_maint = 3 %, quotes 1.00000/1.00002.

    - MARKET BUY 500,000: 500,000 x 1.00002 x 3 % = 15,000.30 USD > 10,000.00 -> DENIED.
    - MARKET BUY 300,000: 9,000.18 USD fits -> filled at 1.00002; commission 300,000 x 1.00002 x 0.00002
      = 6.00 USD, so the total is 9,994.00, the position holds 9,000.18 maintenance margin, free 993.82.
    - LIMIT BUY 40,000 @ 1.00000: 1,200.00 > 993.82 -> DENIED; LIMIT BUY 30,000: 900.00 fits -> ACCEPTED
      (its initial margin is then locked too: free 93.82).
    - LIMIT SELL 400,000 @ 1.00010 (more than the 300,000 long): 12,001.20 > 93.82 -> DENIED; LIMIT SELL
      300,000 @ 1.00010 reduces the long, so it skips the margin check -> ACCEPTED.
    """
    script: dict[int, Callable[[ScriptedStrategy], None]] = {
        0: lambda s: (s.market(BUY, 500_000), s.market(BUY, 300_000)),
        1: lambda s: (s.limit(BUY, 40_000, "1.00000"), s.limit(BUY, 30_000, "1.00000")),
        2: lambda s: (s.limit(SELL, 400_000, "1.00010"), s.limit(SELL, 300_000, "1.00010")),
    }
    strategy = run_backtest(script, balance=Money.of(10_000, USD))
    too_big, filled, buy_40k, buy_30k, sell_400k, sell_300k = strategy.orders
    assert [d.client_order_id for d in strategy.denied] == [
        too_big.client_order_id,
        buy_40k.client_order_id,
        sell_400k.client_order_id,
    ]
    assert [d.reason for d in strategy.denied] == [
        "MARGIN_EXCEEDS_FREE_BALANCE: order margin 15,000.30 USD > free 10,000.00 USD",
        "MARGIN_EXCEEDS_FREE_BALANCE: order margin 1,200.00 USD > free 993.82 USD",
        "MARGIN_EXCEEDS_FREE_BALANCE: order margin 12,001.20 USD > free 93.82 USD",
    ]
    assert filled.status is OrderStatus.FILLED and filled.avg_px == Decimal("1.00002")
    assert buy_30k.status is OrderStatus.ACCEPTED and sell_300k.status is OrderStatus.ACCEPTED
