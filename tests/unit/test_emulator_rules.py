"""The pure rules of the order emulator: reference prices, trigger predicates, trailing offsets and rounding."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from toolkit.engine.emulator import (
    emulation_denial,
    improves,
    offset_raw,
    ref_as_price,
    reference_price,
    released_order_type,
    stop_hit,
    touch_hit,
    trailing_price,
)
from toolkit.model.enums import OrderSide, OrderType, TrailingOffsetType, TriggerType
from toolkit.model.events import OrderInitialized
from toolkit.model.identifiers import ClientOrderId, InstrumentId, StrategyId, TraderId
from toolkit.model.objects import Price, Quantity
from toolkit.model.orders import Order

TICK_2 = Price.from_str("0.01").raw  # a 2-decimal instrument's tick, raw
TICK_3 = Price.from_str("0.001").raw


def raw(text: str) -> int:
    return Price.from_str(text).raw


def test_reference_price_per_trigger_type() -> None:
    bid, ask, last = raw("1.10"), raw("1.12"), raw("1.15")
    for trigger in (TriggerType.DEFAULT, TriggerType.BID_ASK):
        assert reference_price(trigger, True, bid, ask, last) == ask
        assert reference_price(trigger, False, bid, ask, last) == bid
    assert reference_price(TriggerType.LAST_PRICE, True, bid, ask, last) == last
    assert reference_price(TriggerType.LAST_PRICE, True, bid, ask, None) is None
    assert reference_price(TriggerType.LAST_OR_BID_ASK, False, bid, ask, last) == last
    assert reference_price(TriggerType.LAST_OR_BID_ASK, False, bid, ask, None) == bid
    assert reference_price(TriggerType.MID_POINT, True, bid, ask, last) == raw("1.11")
    assert reference_price(TriggerType.MID_POINT, True, None, ask, last) is None
    assert reference_price(TriggerType.BID_ASK, False, None, ask, last) is None


def test_mid_point_is_exact() -> None:
    # 100.00 / 100.03 -> 100.015, one digit more than the instrument: still an exact raw int.
    mid = reference_price(TriggerType.MID_POINT, False, raw("100.00"), raw("100.03"), None)
    assert mid == raw("100.015")
    assert ref_as_price(mid, 2) == Price.from_str("100.015")  # type: ignore[arg-type]
    # At 9 decimals the mid of two raws can be a half raw unit: kept as an exact Fraction.
    assert reference_price(TriggerType.MID_POINT, False, 1, 2, None) == Fraction(3, 2)


@pytest.mark.parametrize(
    ("is_buy", "trigger", "ref", "stop", "touch"),
    [
        (True, "10.00", "10.01", True, False),
        (True, "10.00", "10.00", True, True),
        (True, "10.00", "9.99", False, True),
        (False, "10.00", "9.99", True, False),
        (False, "10.00", "10.00", True, True),
        (False, "10.00", "10.01", False, True),
    ],
)
def test_stop_and_touch_predicates(is_buy: bool, trigger: str, ref: str, stop: bool, touch: bool) -> None:
    assert stop_hit(is_buy, raw(trigger), raw(ref)) is stop
    assert touch_hit(is_buy, raw(trigger), raw(ref)) is touch


def test_basis_points_offset_is_rounded_away_from_the_market() -> None:
    ref = raw("100.03")
    offset = offset_raw(Decimal("25"), TrailingOffsetType.BASIS_POINTS, ref, TICK_2)
    assert offset == Fraction(raw("0.250075"))  # 100.03 x 25 / 10,000, exact
    assert trailing_price(False, ref, offset, TICK_2) == raw("99.77")  # 99.779925 rounded down
    assert trailing_price(True, ref, offset, TICK_2) == raw("100.29")  # 100.280075 rounded up


def test_tick_and_price_offsets() -> None:
    offset = offset_raw(Decimal("3"), TrailingOffsetType.TICKS, raw("100.03"), TICK_2)
    assert offset == raw("0.03")
    assert trailing_price(False, raw("100.03"), offset, TICK_2) == raw("100.00")
    assert trailing_price(True, raw("100.05"), offset, TICK_2) == raw("100.08")
    price = offset_raw(Decimal("1.0"), TrailingOffsetType.PRICE, raw("15.5"), TICK_3)
    assert trailing_price(False, raw("15.500"), price, TICK_3) == raw("14.500")
    # An off-grid result (a mid reference) is rounded away from the market too.
    mid = raw("100.015")
    off = offset_raw(Decimal("0.10"), TrailingOffsetType.PRICE, mid, TICK_2)
    assert trailing_price(False, mid, off, TICK_2) == raw("99.91")
    assert trailing_price(True, mid, off, TICK_2) == raw("100.12")
    with pytest.raises(ValueError, match="PRICE_TIER"):
        offset_raw(Decimal("1"), TrailingOffsetType.PRICE_TIER, mid, TICK_2)


def test_trailing_only_moves_toward_the_market() -> None:
    assert improves(False, None, raw("14.5"))
    assert improves(False, raw("14.5"), raw("15.5"))
    assert not improves(False, raw("15.5"), raw("15.0"))
    assert not improves(False, raw("15.5"), raw("15.5"))
    assert improves(True, raw("15.0"), raw("14.0"))
    assert not improves(True, raw("14.0"), raw("14.5"))


def test_released_types() -> None:
    for kind in (OrderType.STOP_MARKET, OrderType.MARKET_IF_TOUCHED, OrderType.TRAILING_STOP_MARKET):
        assert released_order_type(kind) is OrderType.MARKET
    for kind in (OrderType.STOP_LIMIT, OrderType.LIMIT_IF_TOUCHED, OrderType.TRAILING_STOP_LIMIT, OrderType.LIMIT):
        assert released_order_type(kind) is OrderType.LIMIT


def _order(order_type: OrderType, **fields: object) -> Order:
    return Order(
        OrderInitialized(
            trader_id=TraderId("T-001"),
            strategy_id=StrategyId("S-001"),
            instrument_id=InstrumentId("X/Y.SIM"),
            client_order_id=ClientOrderId("O-1"),
            order_side=OrderSide.SELL,
            order_type=order_type,
            quantity=Quantity.from_int(1),
            emulation_trigger=TriggerType.BID_ASK,
            ts_event=0,
            ts_init=0,
            **fields,  # type: ignore[arg-type]
        )
    )


def test_emulation_denials() -> None:
    px = Price.from_str("1.00")
    assert "cannot be emulated" in (emulation_denial(_order(OrderType.MARKET)) or "")
    assert "cannot be emulated" in (emulation_denial(_order(OrderType.MARKET_TO_LIMIT)) or "")
    assert "no trigger price" in (emulation_denial(_order(OrderType.STOP_MARKET)) or "")
    assert "no price" in (emulation_denial(_order(OrderType.LIMIT_IF_TOUCHED, trigger_price=px)) or "")
    assert "no trailing offset" in (emulation_denial(_order(OrderType.TRAILING_STOP_MARKET)) or "")
    tier = _order(
        OrderType.TRAILING_STOP_MARKET, trailing_offset=Decimal(1), trailing_offset_type=TrailingOffsetType.PRICE_TIER
    )
    assert "PRICE_TIER" in (emulation_denial(tier) or "")
    assert emulation_denial(_order(OrderType.STOP_MARKET, trigger_price=px)) is None
    assert emulation_denial(_order(OrderType.LIMIT, price=px)) is None
    trailing_limit = _order(OrderType.TRAILING_STOP_LIMIT, trailing_offset=Decimal(1), limit_offset=Decimal(2))
    assert emulation_denial(trailing_limit) is None
