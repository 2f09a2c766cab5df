"""Unit tests of `toolkit.model.position`: opening, adding, reducing, closing, flipping, hedging,
inverse PnL and the position events, with exact Money/Decimal numbers from the venue spec."""

from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction

import pytest
from _fills import (
    AUDUSD,
    BTC,
    JPY,
    USD,
    USDJPY,
    XBTUSD_INVERSE,
    make_fill,
    taker_commission,
    taker_fill,
)

from toolkit.model.enums import OrderSide, PositionSide
from toolkit.model.events import PositionChanged, PositionClosed, PositionOpened
from toolkit.model.identifiers import ClientOrderId, PositionId, StrategyId
from toolkit.model.objects import Money, Price, Quantity
from toolkit.model.position import Position, position_event, position_id_for_netting, split_fill_for_flip

BUY = OrderSide.BUY
SELL = OrderSide.SELL
PID = PositionId("P-1")


def jpy(amount: str) -> Money:
    return Money.of(amount, JPY)


def usd(amount: str) -> Money:
    return Money.of(amount, USD)


def test_open_long_from_first_fill() -> None:
    fill = taker_fill(USDJPY, BUY, 100_000, "90.005", trade_id="T-1", order_id="O-1", ts=1_000)
    position = Position(USDJPY, fill, PID)

    assert fill.commission == jpy("180")
    assert position.id == PID
    assert position.instrument_id == USDJPY.id
    assert position.strategy_id == StrategyId("S-001")
    assert position.side is PositionSide.LONG
    assert position.entry is BUY
    assert position.signed_qty_raw == Quantity.from_int(100_000).raw
    assert position.signed_qty == Decimal("100000")
    assert position.quantity == Quantity.from_int(100_000)
    assert position.peak_qty == Quantity.from_int(100_000)
    assert position.avg_px_open == Decimal("90.005")
    assert position.avg_px_close is None
    assert position.realized_pnl == jpy("-180")  # the opening commission is a realized cost
    assert position.commissions() == [jpy("180")]
    assert position.opening_order_id == ClientOrderId("O-1")
    assert position.closing_order_id is None
    assert position.ts_opened == 1_000 and position.ts_last == 1_000 and position.ts_closed is None
    assert position.duration_ns == 0
    assert position.is_open and position.is_long and not position.is_short and not position.is_closed
    assert position.trade_ids == ["T-1"]
    assert position.settlement_currency == JPY and position.quote_currency == JPY
    assert position.multiplier == Quantity.from_int(1) and not position.is_inverse
    assert position.price_precision == 3 and position.size_precision == 0
    assert position.last_px == Price.from_str("90.005")


def test_opening_fill_returns_zero_gross() -> None:
    position = Position(USDJPY, make_fill(USDJPY, BUY, 100_000, "90.005", trade_id="T-1"), PID)
    gross = position.apply(make_fill(USDJPY, BUY, 50_000, "90.010", trade_id="T-2"))
    assert gross == jpy("0")


def test_same_side_add_updates_average_exactly() -> None:
    position = Position(USDJPY, make_fill(USDJPY, BUY, 100_000, "90.005", trade_id="T-1"), PID)
    position.apply(make_fill(USDJPY, BUY, 50_000, "90.020", trade_id="T-2"))
    assert position.avg_px_open == Decimal("90.01")
    assert position.quantity == Quantity.from_int(150_000)
    assert position.peak_qty == Quantity.from_int(150_000)

    # A mean that is not a finite decimal stays exact internally.
    position = Position(AUDUSD, make_fill(AUDUSD, BUY, 1, "1.00000", trade_id="T-1"), PID)
    position.apply(make_fill(AUDUSD, BUY, 2, "1.00001", trade_id="T-2"))
    assert position.avg_px_open_exact == Fraction(300002, 300000)
    assert position.avg_px_open == Decimal(300002) / Decimal(300000)


def test_short_same_side_add() -> None:
    position = Position(AUDUSD, make_fill(AUDUSD, SELL, 100_000, "1.00010", trade_id="T-1"), PID)
    position.apply(make_fill(AUDUSD, SELL, 100_000, "1.00020", trade_id="T-2"))
    assert position.side is PositionSide.SHORT and position.entry is SELL
    assert position.signed_qty == Decimal("-200000")
    assert position.avg_px_open == Decimal("1.00015")


def test_partial_close_realizes_on_the_closed_part_only() -> None:
    position = Position(USDJPY, taker_fill(USDJPY, BUY, 100_000, "90.005", trade_id="T-1"), PID)
    sell = taker_fill(USDJPY, SELL, 40_000, "90.105", trade_id="T-2", order_id="O-2")
    assert sell.commission == jpy("72")  # 40,000 x 90.105 x 0.00002 = 72.084

    gross = position.apply(sell)

    assert gross == jpy("4000")  # (90.105 - 90.005) x 40,000
    assert position.avg_px_open == Decimal("90.005")
    assert position.avg_px_close == Decimal("90.105")
    assert position.quantity == Quantity.from_int(60_000)
    assert position.peak_qty == Quantity.from_int(100_000)
    assert position.realized_pnl == jpy("3748")  # 4000 - 180 - 72
    assert position.side is PositionSide.LONG
    assert position.closing_order_id is None


def test_full_close() -> None:
    position = Position(USDJPY, taker_fill(USDJPY, BUY, 100_000, "90.005", trade_id="T-1", ts=10), PID)
    position.apply(taker_fill(USDJPY, SELL, 40_000, "90.105", trade_id="T-2", ts=20))
    gross = position.apply(taker_fill(USDJPY, SELL, 60_000, "90.000", trade_id="T-3", order_id="O-3", ts=50))

    assert gross == jpy("-300")  # (90.000 - 90.005) x 60,000
    assert position.realized_pnl == jpy("3340")  # 4000 - 300 - (180 + 72 + 108)
    assert position.commissions() == [jpy("360")]
    assert position.side is PositionSide.FLAT
    assert position.is_closed and not position.is_open
    assert position.quantity == Quantity.from_int(0)
    assert position.avg_px_close == Decimal("90.042")  # (40k x 90.105 + 60k x 90.000) / 100k
    assert position.avg_px_open == Decimal("90.005")
    assert position.closing_order_id == ClientOrderId("O-3")
    assert position.ts_closed == 50 and position.duration_ns == 40
    assert position.unrealized_pnl(Price.from_str("95.000")) == jpy("0")


def test_short_round_trip_realizes_mirrored_pnl() -> None:
    position = Position(AUDUSD, make_fill(AUDUSD, SELL, 100_000, "1.00011", trade_id="T-1"), PID)
    gross = position.apply(make_fill(AUDUSD, BUY, 100_000, "1.00001", trade_id="T-2"))
    assert gross == usd("10.00")
    assert position.realized_pnl == usd("10.00")


def test_check_34_close_realizes_ten_dollars() -> None:
    position = Position(AUDUSD, taker_fill(AUDUSD, BUY, 100_000, "1.00001", trade_id="T-1"), PID)
    gross = position.apply(taker_fill(AUDUSD, SELL, 100_000, "1.00011", trade_id="T-2"))
    assert gross == usd("10.00")
    assert position.commissions() == [usd("4.00")]
    assert position.realized_pnl == usd("6.00")


def test_flip_must_be_split_and_the_split_parts_add_up() -> None:
    """Check 35: BUY 100k @ 1.00001, SELL 150k @ 1.00011 -> close +10.00, commission 3.00 split 2.00/1.00."""
    buy = taker_fill(AUDUSD, BUY, 100_000, "1.00001", trade_id="T-1", ts=1)
    position = Position(AUDUSD, buy, PID)
    sell = taker_fill(AUDUSD, SELL, 150_000, "1.00011", trade_id="T-2", order_id="O-2", ts=2)
    assert buy.commission == usd("2.00") and sell.commission == usd("3.00")

    assert position.would_flip(sell)
    with pytest.raises(ValueError, match="split_fill_for_flip"):
        position.apply(sell)
    assert position.quantity == Quantity.from_int(100_000) and position.fills == [buy]  # unchanged

    closing, opening = split_fill_for_flip(sell, position.signed_qty_raw)
    assert closing.last_qty == Quantity.from_int(100_000) and opening.last_qty == Quantity.from_int(50_000)
    assert closing.last_px == opening.last_px == sell.last_px
    assert closing.commission == usd("2.00") and opening.commission == usd("1.00")
    assert closing.trade_id == opening.trade_id == sell.trade_id

    assert position.apply(closing) == usd("10.00")
    assert position.is_closed
    assert position.realized_pnl == usd("6.00")  # 10 - 2 - 2: the closed cycle

    assert position.apply(opening) == usd("0.00")
    assert position.side is PositionSide.SHORT and position.entry is SELL
    assert position.quantity == Quantity.from_int(50_000)
    assert position.avg_px_open == Decimal("1.00011")
    assert position.realized_pnl == usd("-1.00")  # the new cycle paid its share of the commission
    assert position.opening_order_id == ClientOrderId("O-2") and position.ts_opened == 2
    assert position.id == PID  # NETTING keeps the id
    assert position.trade_ids == ["T-1", "T-2"]
    assert len(position.fills) == 3


def test_split_commission_always_sums_to_the_original() -> None:
    fill = make_fill(AUDUSD, SELL, 3, "1.00000", trade_id="T-9", commission=usd("0.01"))
    closing, opening = split_fill_for_flip(fill, 1)
    assert closing.commission == usd("0.00") and opening.commission == usd("0.01")

    rng = random.Random(7)
    for _ in range(500):
        total = rng.randint(2, 10**6)
        held = rng.randint(1, total - 1)
        commission = Money(rng.randint(-(10**4), 10**6) * 10**7, USD)
        fill = make_fill(AUDUSD, SELL, total, "1.00000", trade_id="T-X", commission=commission)
        closing, opening = split_fill_for_flip(fill, Quantity.from_int(held).raw)
        assert closing.commission + opening.commission == commission
        assert closing.last_qty + opening.last_qty == fill.last_qty
        exact = Fraction(commission.raw * held, total)
        assert abs(closing.commission.raw - exact) <= 5 * 10**6  # within half a cent


def test_split_rejects_sizes_that_do_not_flip() -> None:
    fill = make_fill(AUDUSD, SELL, 100, "1.00000", trade_id="T-1")
    for held in (0, Quantity.from_int(100).raw, Quantity.from_int(200).raw):
        with pytest.raises(ValueError, match="cannot split"):
            split_fill_for_flip(fill, held)


def test_duplicate_trade_id_raises() -> None:
    position = Position(USDJPY, make_fill(USDJPY, BUY, 100_000, "90.005", trade_id="T-1"), PID)
    with pytest.raises(ValueError, match="duplicate trade id T-1"):
        position.apply(make_fill(USDJPY, BUY, 1, "90.005", trade_id="T-1"))
    position.apply(make_fill(USDJPY, SELL, 100_000, "90.005", trade_id="T-2"))
    with pytest.raises(ValueError, match="duplicate trade id T-1"):
        position.apply(make_fill(USDJPY, SELL, 1, "90.005", trade_id="T-1"))
    assert position.is_closed


def test_fill_of_another_instrument_raises() -> None:
    position = Position(USDJPY, make_fill(USDJPY, BUY, 1, "90.005", trade_id="T-1"), PID)
    with pytest.raises(ValueError, match="AUD/USD"):
        position.apply(make_fill(AUDUSD, BUY, 1, "1.00000", trade_id="T-2"))
    with pytest.raises(ValueError, match="cannot open"):
        Position(AUDUSD, make_fill(USDJPY, BUY, 1, "90.005", trade_id="T-3"), PID)


def test_reopen_after_close_starts_a_new_cycle() -> None:
    position = Position(AUDUSD, taker_fill(AUDUSD, BUY, 100_000, "1.00001", trade_id="T-1"), PID)
    position.apply(taker_fill(AUDUSD, SELL, 100_000, "1.00011", trade_id="T-2"))
    assert position.realized_pnl == usd("6.00")

    position.apply(taker_fill(AUDUSD, SELL, 10_000, "1.00100", trade_id="T-3", order_id="O-3", ts=9))
    assert position.side is PositionSide.SHORT and position.entry is SELL
    assert position.realized_pnl == usd("-0.20")  # 10,000 x 1.001 x 0.00002 = 0.2002
    assert position.avg_px_close is None and position.closing_order_id is None and position.ts_closed is None
    assert position.peak_qty == Quantity.from_int(10_000)
    assert position.commissions() == [usd("0.20")]
    assert position.ts_opened == 9


def test_check_33_commissions_in_quote_currency() -> None:
    fills = [
        taker_fill(USDJPY, BUY, 100_000, "90.005", trade_id="T-1"),
        taker_fill(USDJPY, BUY, 100_000, "90.005", trade_id="T-2"),
        taker_fill(USDJPY, BUY, 50_000, "90.005", trade_id="T-3"),
    ]
    assert [f.commission for f in fills] == [jpy("180"), jpy("180"), jpy("90")]
    position = Position(USDJPY, fills[0], PID)
    for fill in fills[1:]:
        position.apply(fill)
    assert position.commissions() == [jpy("450")]
    assert position.realized_pnl == jpy("-450")
    assert position.quantity == Quantity.from_int(250_000)


def test_check_37_unrealized_after_reduction() -> None:
    position = Position(USDJPY, make_fill(USDJPY, BUY, 100_000, "90.005", trade_id="T-1"), PID)
    position.apply(make_fill(USDJPY, SELL, 50_000, "90.003", trade_id="T-2"))
    assert position.unrealized_pnl(Price.from_str("100.003")) == jpy("499900")
    assert position.total_pnl(Price.from_str("100.003")) == jpy("499800")  # realized (90.003 - 90.005) x 50k = -100


def test_unrealized_and_notional_of_a_short() -> None:
    position = Position(AUDUSD, make_fill(AUDUSD, SELL, 100_000, "1.00011", trade_id="T-1"), PID)
    assert position.unrealized_pnl(Price.from_str("1.00001")) == usd("10.00")
    assert position.unrealized_pnl(Price.from_str("1.00021")) == usd("-10.00")
    assert position.unrealized_pnl(Price.from_str("1.000115")) == usd("-0.50")
    assert position.notional_value(Price.from_str("1.00001")) == usd("100001.00")
    # Unrealized rounds half-even: 100,000 x 0.0000005 = 0.05 exactly; 3 x 0.00005 = 0.00015 -> 0.00
    assert position.unrealized_pnl(Price.from_str("1.0001105")) == usd("-0.05")
    tiny = Position(AUDUSD, make_fill(AUDUSD, BUY, 3, "1.00000", trade_id="T-2"), PositionId("P-2"))
    assert tiny.unrealized_pnl(Price.from_str("1.00005")) == usd("0.00")


def test_inverse_instrument_pnl_in_base_currency() -> None:
    open_fee = taker_commission(XBTUSD_INVERSE, "10000", "50000.0")
    close_fee = taker_commission(XBTUSD_INVERSE, "10000", "60000.0")
    assert open_fee == Money.of("0.00015", BTC) and close_fee == Money.of("0.000125", BTC)

    long = Position(XBTUSD_INVERSE, taker_fill(XBTUSD_INVERSE, BUY, 10_000, "50000.0", trade_id="T-1"), PID)
    assert long.settlement_currency == BTC and long.is_inverse
    assert long.unrealized_pnl(Price.from_str("60000.0")) == Money.of("0.03333333", BTC)
    assert long.notional_value(Price.from_str("60000.0")) == Money.of("0.16666667", BTC)
    gross = long.apply(taker_fill(XBTUSD_INVERSE, SELL, 10_000, "60000.0", trade_id="T-2"))
    # 10,000 x (1/50,000 - 1/60,000) = 0.0333333...
    assert gross == Money.of("0.03333333", BTC)
    assert long.realized_pnl == Money.of("0.03305833", BTC)  # minus 0.00015 + 0.000125

    short = Position(
        XBTUSD_INVERSE, make_fill(XBTUSD_INVERSE, SELL, 10_000, "50000.0", trade_id="T-3"), PositionId("P-2")
    )
    assert short.unrealized_pnl(Price.from_str("60000.0")) == Money.of("-0.03333333", BTC)
    assert short.apply(make_fill(XBTUSD_INVERSE, BUY, 5_000, "40000.0", trade_id="T-4")) == Money.of("0.025", BTC)
    assert short.realized_pnl == Money.of("0.025", BTC)


def test_hedging_positions_on_one_instrument_are_independent() -> None:
    long_id, short_id = PositionId("SIM-1-001"), PositionId("SIM-1-002")
    long = Position(USDJPY, taker_fill(USDJPY, BUY, 100_000, "90.005", trade_id="T-1", position_id=long_id), long_id)
    short = Position(
        USDJPY,
        taker_fill(USDJPY, SELL, 50_000, "90.002", trade_id="T-2", order_id="O-2", position_id=short_id),
        short_id,
    )
    long.apply(taker_fill(USDJPY, BUY, 100_000, "90.015", trade_id="T-3", position_id=long_id))
    assert short.apply(taker_fill(USDJPY, BUY, 50_000, "89.992", trade_id="T-4", position_id=short_id)) == jpy("500")

    assert long.side is PositionSide.LONG and long.quantity == Quantity.from_int(200_000)
    assert long.avg_px_open == Decimal("90.01")
    assert long.realized_pnl == jpy("-360")
    assert short.is_closed and short.entry is SELL
    assert short.realized_pnl == jpy("500") - jpy("90") - jpy("90")
    assert long.trade_ids == ["T-1", "T-3"] and short.trade_ids == ["T-2", "T-4"]


def test_position_id_for_netting() -> None:
    assert position_id_for_netting(USDJPY.id, StrategyId("S-001")) == PositionId("USD/JPY.SIM-S-001")


def test_position_events() -> None:
    buy = taker_fill(USDJPY, BUY, 100_000, "90.005", trade_id="T-1", ts=5)
    position = Position(USDJPY, buy, PID)
    opened = position_event(position, PositionOpened, buy, jpy("0"), ts_init=6)
    assert isinstance(opened, PositionOpened)
    assert opened.position_id == PID and opened.instrument_id == USDJPY.id and opened.account_id == buy.account_id
    assert opened.side is PositionSide.LONG and opened.entry is BUY
    assert opened.signed_qty == Decimal("100000") and opened.quantity == Quantity.from_int(100_000)
    assert opened.avg_px_open == Decimal("90.005") and opened.avg_px_close is None
    assert opened.realized_pnl == jpy("-180") and opened.currency == JPY
    assert opened.ts_event == 5 and opened.ts_init == 6 and opened.ts_opened == 5 and opened.ts_closed is None

    sell = make_fill(USDJPY, SELL, 40_000, "90.015", trade_id="T-2", ts=7)
    position.apply(sell)
    changed = position_event(position, PositionChanged, sell, position.unrealized_pnl(sell.last_px), ts_init=7)
    assert changed.signed_qty == Decimal("60000") and changed.last_qty == Quantity.from_int(40_000)
    assert changed.unrealized_pnl == jpy("600") and changed.realized_pnl == jpy("220")

    last = make_fill(USDJPY, SELL, 60_000, "90.015", trade_id="T-3", order_id="O-3", ts=9)
    position.apply(last)
    closed = position_event(position, PositionClosed, last, jpy("0"), ts_init=9)
    assert closed.side is PositionSide.FLAT and closed.signed_qty == Decimal("0")
    assert closed.closing_order_id == ClientOrderId("O-3")
    assert closed.ts_closed == 9 and closed.duration_ns == 4
    assert closed.avg_px_close == Decimal("90.015") and closed.peak_qty == Quantity.from_int(100_000)
    assert closed.realized_pnl == jpy("820")
