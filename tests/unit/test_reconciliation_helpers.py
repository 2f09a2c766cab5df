"""Unit tests of the pure reconciliation decisions (`toolkit.live.reconciliation`, spec §2.3-§2.8, §4 58-59)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from toolkit.core.cache import Cache
from toolkit.live.reconciliation import (
    LEG_CLOSE,
    LEG_OPEN,
    AlignmentLeg,
    adjust_partial_window,
    deduplicate_order_reports,
    emits_triggered,
    external_order_claims,
    inferred_fill_liquidity,
    inferred_fill_price,
    inferred_trade_id,
    order_update_due,
    plan_position_alignment,
    reconciliation_price,
    simulate_netting,
    synthetic_id,
    synthetic_venue_order_id,
    within,
)
from toolkit.model.enums import LiquiditySide, OrderSide, OrderStatus, OrderType, PositionSide, TimeInForce
from toolkit.model.events import OrderAccepted, OrderFilled, OrderInitialized
from toolkit.model.identifiers import (
    AccountId,
    ClientId,
    ClientOrderId,
    InstrumentId,
    PositionId,
    StrategyId,
    TradeId,
    TraderId,
    Venue,
    VenueOrderId,
)
from toolkit.model.instruments import CurrencyPair
from toolkit.model.objects import Currency, Money, Price, Quantity
from toolkit.model.orders import Order
from toolkit.model.reports import ExecutionMassStatus, FillReport, OrderStatusReport, PositionStatusReport

USD = Currency.from_str("USD")
ACCOUNT = AccountId("SIM-001")
BUY, SELL = OrderSide.BUY, OrderSide.SELL
D = Decimal

AUDUSD = CurrencyPair(
    id=InstrumentId("AUD/USD.SIM"),
    base_currency=Currency.from_str("AUD"),
    quote_currency=USD,
    settlement_currency=USD,
    price_precision=5,
    size_precision=0,
    price_increment=Price.from_str("0.00001"),
    size_increment=Quantity.from_int(1),
)


# ---- §2.8 within -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "precision", "expected"),
    [
        ("1.0", "1.1", 1, True),
        ("1.0", "1.2", 1, False),
        ("100", "101", 0, False),
        ("100", "100", 0, True),
        ("0.000525", "0.000523", 6, False),
        ("0.000525", "0.000524", 6, True),
    ],
)
def test_within(a: str, b: str, precision: int, expected: bool) -> None:
    assert within(D(a), D(b), precision) is expected
    assert within(Quantity.of(a, 6), Quantity.of(b, 6), precision) is expected


# ---- 59. reconciliation price ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cur_qty", "cur_avg", "tgt_qty", "tgt_avg", "expected"),
    [
        ("0", None, "100", "1.25", "1.25"),
        ("0", None, "-100", "1.25", "1.25"),
        ("100", "1.20", "200", "1.22", "1.24"),
        ("-100", "1.30", "-200", "1.28", "1.26"),
        ("200", "1.20", "100", "1.20", "1.20"),
        ("100", "1.20", "-100", "1.25", "1.25"),
        ("-100", "1.30", "100", "1.25", "1.25"),
        ("150", "1.23456", "250", "1.24567", "1.26233"),
        ("100", "1.123456789", "200", "1.23456789", "1.34568"),
        ("100", "1.20", "0", None, "1.20"),
    ],
)
def test_reconciliation_price_calculations(
    cur_qty: str, cur_avg: str | None, tgt_qty: str, tgt_avg: str | None, expected: str
) -> None:
    price = reconciliation_price(
        D(cur_qty), None if cur_avg is None else D(cur_avg), D(tgt_qty), None if tgt_avg is None else D(tgt_avg), 5
    )
    assert price == D(expected)
    assert price is not None and price.as_tuple().exponent == -5


@pytest.mark.parametrize(
    ("cur_qty", "cur_avg", "tgt_qty", "tgt_avg"),
    [
        ("0", None, "100", None),
        ("0", None, "100", "0"),
        ("100", "1.20", "100", "1.30"),
        ("100", "2.0", "200", "1.0"),
        ("0", None, "0", "1.0"),
    ],
)
def test_reconciliation_price_none(cur_qty: str, cur_avg: str | None, tgt_qty: str, tgt_avg: str | None) -> None:
    avg = None if cur_avg is None else D(cur_avg)
    assert reconciliation_price(D(cur_qty), avg, D(tgt_qty), None if tgt_avg is None else D(tgt_avg), 5) is None


def test_reconciliation_price_reaches_the_target_average() -> None:
    price = reconciliation_price(D(100), D("1.20"), D(200), D("1.22"), 5)
    assert price is not None
    assert (D(100) * D("1.20") + D(100) * price) / D(200) == D("1.22")


# ---- §2.6.1 inferred fills ---------------------------------------------------------------------------------------


def test_inferred_fill_price() -> None:
    assert inferred_fill_price(D(50), D("1.0"), D(100), D("1.1"), None, 5) == D("1.2")
    assert inferred_fill_price(D(0), None, D(100), D("1.1"), D("1.3"), 5) == D("1.1")
    assert inferred_fill_price(D(0), None, D(100), None, D("1.3"), 5) == D("1.3")
    assert inferred_fill_price(D(0), None, D(100), None, None, 5) == D(0)
    assert inferred_fill_price(D(50), D("1.0"), D(75), D("1.0"), None, 5) == D("1.0")
    with pytest.raises(ValueError, match="no fill to infer"):
        inferred_fill_price(D(50), D("1.0"), D(50), D("1.0"), None, 5)
    with pytest.raises(ValueError, match="negative"):
        inferred_fill_price(D(50), D("3.0"), D(100), D("1.0"), None, 5)


def test_inferred_fill_liquidity() -> None:
    assert inferred_fill_liquidity(OrderType.MARKET, True) is LiquiditySide.TAKER
    assert inferred_fill_liquidity(OrderType.STOP_MARKET, False) is LiquiditySide.TAKER
    assert inferred_fill_liquidity(OrderType.TRAILING_STOP_MARKET, False) is LiquiditySide.TAKER
    assert inferred_fill_liquidity(OrderType.LIMIT, True) is LiquiditySide.MAKER
    assert inferred_fill_liquidity(OrderType.LIMIT, False) is LiquiditySide.NO_LIQUIDITY_SIDE


# ---- 58. deterministic ids ---------------------------------------------------------------------------------------


def _vid(**changes: object) -> VenueOrderId:
    fields: dict[str, object] = {
        "account_id": ACCOUNT,
        "instrument_id": AUDUSD.id,
        "order_side": BUY,
        "order_type": OrderType.LIMIT,
        "quantity": Quantity.from_int(50),
        "price": Price.from_str("1.00000"),
        "venue_position_id": None,
        "leg": "",
        "ts_last": 1_000,
    }
    fields.update(changes)
    return synthetic_venue_order_id(**fields)  # type: ignore[arg-type]


def test_position_reconciliation_report_uses_deterministic_venue_order_id() -> None:
    assert _vid() == _vid()
    assert _vid().startswith("S-3e8-")
    assert _vid(price=Price.from_str("1.0")) == _vid()  # the same value at another precision is the same price
    variants = [
        _vid(venue_position_id=PositionId("P-1")),
        _vid(venue_position_id=PositionId("P-2")),
        _vid(ts_last=1_001),
        _vid(account_id=AccountId("SIM-002")),
        _vid(leg=LEG_CLOSE),
        _vid(leg=LEG_OPEN),
        _vid(order_side=SELL),
        _vid(order_type=OrderType.MARKET, price=None),
        _vid(quantity=Quantity.from_int(51)),
    ]
    assert len({_vid(), *variants}) == len(variants) + 1


def test_repeated_calls_use_deterministic_trade_id() -> None:
    args = (
        ACCOUNT,
        AUDUSD.id,
        ClientOrderId("O-1"),
        VenueOrderId("V-1"),
        BUY,
        OrderType.LIMIT,
        Quantity.from_int(100),
        Quantity.from_int(25),
        Price.from_str("1.00000"),
        PositionId("AUD/USD.SIM-EXTERNAL"),
        5,
    )
    first, second = inferred_trade_id(*args), inferred_trade_id(*args)
    assert first == second
    assert str(uuid.UUID(first)) == first  # UUID-shaped
    assert inferred_trade_id(*args[:-1], 6) != first
    assert inferred_trade_id(*args[:7], Quantity.from_int(24), *args[8:]) != first


def test_synthetic_id_shape() -> None:
    ident = synthetic_id(255, "a", 1)
    prefix, ts, digest = ident.split("-")
    assert (prefix, ts, len(digest)) == ("S", "ff", 8)
    assert synthetic_id(255, "a", 1) == ident != synthetic_id(255, "a", 2)


# ---- §2.5 rules --------------------------------------------------------------------------------------------------


def _order(
    order_type: OrderType = OrderType.LIMIT, qty: int = 100, price: str | None = "1.00000", trigger: str | None = None
) -> Order:
    order = Order(
        OrderInitialized(
            trader_id=TraderId("T-1"),
            strategy_id=StrategyId("S-1"),
            instrument_id=AUDUSD.id,
            client_order_id=ClientOrderId("O-1"),
            order_side=BUY,
            order_type=order_type,
            quantity=Quantity.from_int(qty),
            price=None if price is None else Price.from_str(price),
            trigger_price=None if trigger is None else Price.from_str(trigger),
            ts_event=0,
            ts_init=0,
        )
    )
    order.apply(
        OrderAccepted(
            trader_id=order.trader_id,
            strategy_id=order.strategy_id,
            instrument_id=order.instrument_id,
            client_order_id=order.client_order_id,
            venue_order_id=VenueOrderId("V-1"),
            account_id=ACCOUNT,
            ts_event=0,
            ts_init=0,
        )
    )
    return order


def _report(
    status: OrderStatus = OrderStatus.ACCEPTED,
    qty: int = 100,
    filled: int = 0,
    price: str | None = "1.00000",
    trigger: str | None = None,
    order_type: OrderType = OrderType.LIMIT,
    vid: str = "V-1",
    coid: str | None = "O-1",
    instrument_id: InstrumentId = AUDUSD.id,
    side: OrderSide = BUY,
) -> OrderStatusReport:
    return OrderStatusReport(
        account_id=ACCOUNT,
        instrument_id=instrument_id,
        venue_order_id=VenueOrderId(vid),
        client_order_id=None if coid is None else ClientOrderId(coid),
        order_side=side,
        order_type=order_type,
        time_in_force=TimeInForce.GTC,
        order_status=status,
        quantity=Quantity.from_int(qty),
        filled_qty=Quantity.from_int(filled),
        price=None if price is None else Price.from_str(price),
        trigger_price=None if trigger is None else Price.from_str(trigger),
        ts_accepted=0,
        ts_last=0,
        ts_init=0,
    )


def test_order_update_rule() -> None:
    limit = _order()
    assert order_update_due(limit, _report(qty=150))
    assert order_update_due(limit, _report(price="1.00100"))
    assert not order_update_due(limit, _report())
    assert not order_update_due(limit, _report(trigger="1.1"))  # a trigger on a LIMIT is ignored (#3673)
    stop = _order(OrderType.STOP_MARKET, price=None, trigger="1.10000")
    assert order_update_due(stop, _report(order_type=OrderType.STOP_MARKET, price=None, trigger="1.20000"))
    assert not order_update_due(stop, _report(order_type=OrderType.STOP_MARKET, price="1.3", trigger="1.10000"))
    stop_limit = _order(OrderType.STOP_LIMIT, trigger="1.10000")
    assert order_update_due(stop_limit, _report(order_type=OrderType.STOP_LIMIT, price="1.2", trigger="1.10000"))
    assert order_update_due(stop_limit, _report(order_type=OrderType.STOP_LIMIT, trigger="1.20000"))
    market = _order(OrderType.MARKET, price=None)
    assert not order_update_due(market, _report(order_type=OrderType.MARKET, price="1.5"))


def test_order_update_rule_quantity_guard() -> None:
    order = _order(OrderType.MARKET, price=None)
    order.apply(
        OrderFilled(
            trader_id=order.trader_id,
            strategy_id=order.strategy_id,
            instrument_id=order.instrument_id,
            client_order_id=order.client_order_id,
            venue_order_id=VenueOrderId("V-1"),
            account_id=ACCOUNT,
            trade_id=TradeId("T-1"),
            order_side=BUY,
            order_type=OrderType.MARKET,
            last_qty=Quantity.from_int(60),
            last_px=Price.from_str("1.0"),
            currency=USD,
            commission=Money(0, USD),
            liquidity_side=LiquiditySide.TAKER,
            ts_event=0,
            ts_init=0,
        )
    )
    assert not order_update_due(order, _report(qty=50, order_type=OrderType.MARKET, price=None))  # #3380
    assert order_update_due(order, _report(qty=60, order_type=OrderType.MARKET, price=None))


def test_trigger_rule() -> None:
    assert emits_triggered(OrderType.STOP_LIMIT)
    assert emits_triggered(OrderType.TRAILING_STOP_LIMIT)
    assert emits_triggered(OrderType.LIMIT_IF_TOUCHED)
    assert not emits_triggered(OrderType.STOP_MARKET)
    assert not emits_triggered(OrderType.MARKET_IF_TOUCHED)


# ---- §2.7 alignment plans ----------------------------------------------------------------------------------------


def test_plan_position_alignment_single_leg_price_hierarchy() -> None:
    # (1) reconciliation price
    plan = plan_position_alignment(D(100), D("1.20"), D(200), D("1.22"), 0, 5, bid=D("1.0"), ask=D("1.1"))
    assert plan == ([AlignmentLeg(BUY, D(100), D("1.24000"))], True)
    # (2) the quote side
    plan = plan_position_alignment(D(100), D("1.20"), D(50), None, 0, 5, bid=D("1.19"), ask=D("1.21"))
    assert plan.legs == [AlignmentLeg(SELL, D(50), D("1.19000"))]
    # (3) the cached average
    assert plan_position_alignment(D(100), D("1.20"), D(150), None, 0, 5).legs == [
        AlignmentLeg(BUY, D(50), D("1.20000"))
    ]
    # (4) nothing: MARKET IOC
    [leg] = plan_position_alignment(D(0), None, D(100), None, 0, 5).legs
    assert leg.price is None and leg.order_type is OrderType.MARKET and leg.time_in_force is TimeInForce.IOC


def test_plan_position_alignment_cross_zero_and_rounding() -> None:
    plan = plan_position_alignment(D(100), D("1.0"), D(-50), D("1.05"), 0, 5)
    assert plan == (
        [AlignmentLeg(SELL, D(100), D("1.00000"), LEG_CLOSE), AlignmentLeg(SELL, D(50), D("1.05000"), LEG_OPEN)],
        True,
    )
    missing = plan_position_alignment(D(100), D("1.0"), D(-50), None, 0, 5)
    assert missing.complete is False and [leg.leg for leg in missing.legs] == [LEG_CLOSE]
    pair = plan_position_alignment(D(100), D("1.0"), D(-50), None, 0, 5, close_price_fallback=True)
    assert pair.complete and pair.legs[1].price == D("1.00000")
    assert plan_position_alignment(D(100), D("1.0"), D("100.00000001"), None, 0, 5) == ([], True)
    # Hedge mode does not split.
    assert len(plan_position_alignment(D(100), D("1.0"), D(-50), D("1.05"), 0, 5, split_crossing=False).legs) == 1


# ---- §2.3 partial window -----------------------------------------------------------------------------------------


def _cache() -> Cache:
    cache = Cache()
    cache.add_instrument(AUDUSD)
    return cache


def _mass(
    orders: list[OrderStatusReport], fills: list[FillReport], positions: list[PositionStatusReport]
) -> ExecutionMassStatus:
    mass = ExecutionMassStatus(client_id=ClientId("SIM"), account_id=ACCOUNT, venue=Venue("SIM"), ts_init=0)
    mass.add_order_reports(orders)
    mass.add_fill_reports(fills)
    mass.add_position_reports(positions)
    return mass


def _fill(vid: str, trade: str, side: OrderSide, qty: int, px: str, ts: int) -> FillReport:
    return FillReport(
        account_id=ACCOUNT,
        instrument_id=AUDUSD.id,
        venue_order_id=VenueOrderId(vid),
        trade_id=TradeId(trade),
        order_side=side,
        last_qty=Quantity.from_int(qty),
        last_px=Price.from_str(px),
        commission=Money(0, USD),
        liquidity_side=LiquiditySide.TAKER,
        ts_event=ts,
        ts_init=ts,
    )


def _filled(vid: str, side: OrderSide, qty: int) -> OrderStatusReport:
    return _report(OrderStatus.FILLED, qty=qty, filled=qty, vid=vid, coid=None, order_type=OrderType.MARKET, side=side)


def _position(signed: int, avg: str | None, venue_position_id: str | None = None) -> PositionStatusReport:
    side = PositionSide.LONG if signed > 0 else PositionSide.SHORT if signed < 0 else PositionSide.FLAT
    return PositionStatusReport(
        account_id=ACCOUNT,
        instrument_id=AUDUSD.id,
        position_side=side,
        quantity=Quantity.from_int(abs(signed)),
        avg_px_open=None if avg is None else D(avg),
        venue_position_id=None if venue_position_id is None else PositionId(venue_position_id),
        ts_last=0,
        ts_init=0,
    )


def test_simulate_netting() -> None:
    sim = simulate_netting([(BUY, D(100), D("1.0")), (SELL, D(50), D("1.2")), (BUY, D(50), D("1.1"))])
    assert sim.qty == D(100) and sim.avg == D("1.05") and sim.crossings == []
    flip = simulate_netting([(BUY, D(100), D("1.0")), (SELL, D(150), D("1.2")), (BUY, D(50), D("1.1"))])
    assert flip.qty == D(0) and flip.crossings == [1, 2] and flip.zero_landings == [2]


def test_partial_window_matching_fills_change_nothing() -> None:
    mass = _mass([_filled("V-1", BUY, 100)], [_fill("V-1", "T-1", BUY, 100, "1.0", 10)], [_position(100, "1.0")])
    assert adjust_partial_window(mass, _cache()) is mass


def test_partial_window_drops_fills_before_the_last_flat() -> None:
    orders = [_filled("V-1", BUY, 100), _filled("V-2", SELL, 100), _filled("V-3", BUY, 50)]
    working = _report(OrderStatus.ACCEPTED, qty=10, vid="V-4", coid=None)
    fills = [
        _fill("V-1", "T-1", BUY, 100, "1.0", 10),
        _fill("V-2", "T-2", SELL, 100, "1.1", 20),
        _fill("V-3", "T-3", BUY, 50, "1.2", 30),
    ]
    mass = _mass([*orders, working], fills, [_position(50, "1.2")])
    adjusted = adjust_partial_window(mass, _cache())
    assert list(adjusted.order_reports) == [VenueOrderId("V-3"), VenueOrderId("V-4")]
    assert [f.trade_id for items in adjusted.fill_reports.values() for f in items] == [TradeId("T-3")]
    assert len(mass.order_reports) == 4  # the input is not changed


def test_partial_window_mismatch_after_crossing_replaces_with_synthetic_fill() -> None:
    orders = [_filled("V-1", BUY, 100), _filled("V-2", SELL, 100), _filled("V-3", BUY, 50)]
    fills = [
        _fill("V-1", "T-1", BUY, 100, "1.0", 10),
        _fill("V-2", "T-2", SELL, 100, "1.1", 20),
        _fill("V-3", "T-3", BUY, 50, "1.2", 30),
    ]
    adjusted = adjust_partial_window(_mass(orders, fills, [_position(80, "1.25")]), _cache())
    [(vid, report)] = adjusted.order_reports.items()
    assert vid == VenueOrderId("V-3")  # the venue order id of the first current-lifecycle fill
    assert report.order_type is OrderType.MARKET and report.order_status is OrderStatus.FILLED
    assert report.order_side is BUY and report.filled_qty == Quantity.from_int(80) and report.avg_px == D("1.25")
    assert report.client_order_id is None
    [fill] = adjusted.fill_reports[vid]
    assert fill.last_qty == Quantity.from_int(80) and fill.last_px == Price.from_str("1.25000")
    assert fill.ts_event == 29 and fill.commission == Money(0, USD)
    assert fill.liquidity_side is LiquiditySide.NO_LIQUIDITY_SIDE and fill.trade_id.startswith("S-1d-")


def test_partial_window_without_crossing_adds_opening_fill() -> None:
    mass = _mass([_filled("V-1", BUY, 100)], [_fill("V-1", "T-1", BUY, 100, "1.20", 10)], [_position(200, "1.22")])
    adjusted = adjust_partial_window(mass, _cache())
    synthetic = [r for v, r in adjusted.order_reports.items() if v != VenueOrderId("V-1")]
    [report] = synthetic
    assert report.order_side is BUY and report.filled_qty == Quantity.from_int(100) and report.avg_px == D("1.24")
    [fill] = adjusted.fill_reports[report.venue_order_id]
    assert fill.ts_event == 9 and fill.last_px == Price.from_str("1.24000")
    again = adjust_partial_window(mass, _cache())
    assert list(again.order_reports) == list(adjusted.order_reports)  # deterministic synthetic ids


def test_partial_window_skips_hedge_flat_filtered_and_unknown_instruments() -> None:
    fills = [_fill("V-1", "T-1", BUY, 100, "1.20", 10)]
    orders = [_filled("V-1", BUY, 100)]
    for positions, cache, include in [
        ([_position(200, "1.22", venue_position_id="P-1")], _cache(), None),
        ([_position(0, None)], _cache(), None),
        ([_position(200, "1.22")], _cache(), [InstrumentId("GBP/USD.SIM")]),
        ([_position(200, "1.22")], Cache(), None),
    ]:
        mass = _mass(orders, fills, positions)
        assert adjust_partial_window(mass, cache, include) is mass


# ---- §2.4 deduplication ------------------------------------------------------------------------------------------


def test_deduplicate_order_reports() -> None:
    cache = _cache()
    accepted = _order()
    cache.add_order(accepted)
    cache.index_venue_order_id(VenueOrderId("V-1"), accepted.client_order_id)
    reports = [
        _report(OrderStatus.PARTIALLY_FILLED, filled=10, vid="V-A", coid="O-NEW"),
        _report(OrderStatus.FILLED, filled=100, vid="V-B", coid="O-NEW"),  # a later duplicate
        _report(OrderStatus.ACCEPTED, vid="V-C", coid="O-1"),  # matches the cached order exactly
        _report(OrderStatus.ACCEPTED, vid="V-1", coid=None),  # known by venue order id
    ]
    fills = [_fill("V-B", "T-B", BUY, 100, "1.0", 1), _fill("V-C", "T-C", BUY, 1, "1.0", 1)]
    deduped = deduplicate_order_reports(_mass(reports, fills, []), cache)
    assert list(deduped.order_reports) == [VenueOrderId("V-A"), VenueOrderId("V-1")]
    assert deduped.order_reports[VenueOrderId("V-1")].client_order_id == ClientOrderId("O-1")
    assert deduped.fill_reports == {}


def test_deduplicate_keeps_a_report_that_changes_price() -> None:
    cache = _cache()
    cache.add_order(_order())
    mass = _mass([_report(OrderStatus.ACCEPTED, vid="V-1", price="1.00100")], [], [])
    assert list(deduplicate_order_reports(mass, cache).order_reports) == [VenueOrderId("V-1")]


# ---- ownership ---------------------------------------------------------------------------------------------------


def test_external_order_claims() -> None:
    aud, gbp = AUDUSD.id, InstrumentId("GBP/USD.SIM")
    claims = external_order_claims([(StrategyId("S-A"), [aud]), (StrategyId("S-B"), [gbp])])
    assert claims == {aud: StrategyId("S-A"), gbp: StrategyId("S-B")}
    with pytest.raises(ValueError, match=r"S-B.*S-A"):
        external_order_claims([(StrategyId("S-A"), [aud]), (StrategyId("S-B"), [aud])])


def test_partial_window_leaves_instruments_the_cache_already_holds() -> None:
    """A restart with a lookback: the cache's own fills explain the rest, §2.7 aligns any difference."""
    cache = _cache()
    order = _order(OrderType.MARKET, price=None)
    order.apply(
        OrderFilled(
            trader_id=order.trader_id,
            strategy_id=order.strategy_id,
            instrument_id=order.instrument_id,
            client_order_id=order.client_order_id,
            venue_order_id=VenueOrderId("V-1"),
            account_id=ACCOUNT,
            trade_id=TradeId("T-1"),
            order_side=BUY,
            order_type=OrderType.MARKET,
            last_qty=Quantity.from_int(100),
            last_px=Price.from_str("1.20"),
            currency=USD,
            commission=Money(0, USD),
            liquidity_side=LiquiditySide.TAKER,
            ts_event=10,
            ts_init=10,
        )
    )
    cache.add_order(order)
    mass = _mass([_filled("V-1", BUY, 100)], [_fill("V-1", "T-1", BUY, 100, "1.20", 10)], [_position(200, "1.22")])
    assert adjust_partial_window(mass, cache) is mass
