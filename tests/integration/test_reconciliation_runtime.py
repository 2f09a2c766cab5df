"""Runtime reports, fill reports and position reconciliation through a real kernel (spec §2.5-§2.7, §2.10, §4 B, C).

Uses the harness of `test_reconciliation_startup.py`: a `LiveExecutionEngine` built by the kernel on a `TestClock`,
AUD/USD.SIM, account SIM-001 and a mock client. Position scenarios start from a cached NETTING position built from
one fill @ 1.0 (strategy S-001) unless stated; a spy records the reports the engine generates.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from tests.integration.test_reconciliation_startup import (
    ACCOUNT,
    AUDUSD,
    BTCUSDT,
    BUY,
    GBPUSD,
    SELL,
    STRATEGY,
    Harness,
    fill_report,
    fills_of,
    order_report,
    position_report,
    px,
    qty,
)
from toolkit.live.config import LiveExecEngineConfig
from toolkit.model.data import QuoteTick
from toolkit.model.enums import LiquiditySide, OmsType, OrderStatus, OrderType, PositionSide, TimeInForce
from toolkit.model.events import OrderFilled, OrderUpdated
from toolkit.model.identifiers import AccountId, ClientOrderId, InstrumentId, PositionId, StrategyId, TradeId
from toolkit.model.objects import Quantity
from toolkit.model.reports import OrderStatusReport

EXTERNAL = StrategyId("EXTERNAL")


def new_orders(h: Harness, before: set[ClientOrderId]):  # type: ignore[no-untyped-def]
    return [o for o in h.cache.orders() if o.client_order_id not in before]


def ids(h: Harness) -> set[ClientOrderId]:
    return {o.client_order_id for o in h.cache.orders()}


# ---- B. runtime reports on cached orders -------------------------------------------------------------------------


def test_filled_qty_mismatch_with_zero_report() -> None:
    h = Harness()
    order = h.cached_order("O-1", quantity=100)
    h.fill(order, 100)
    assert order.status is OrderStatus.FILLED
    report = order_report("V-O-1", OrderStatus.FILLED, client_order_id="O-1", quantity=100, filled=0)
    assert h.engine.reconcile_execution_report(report) is False
    assert order.filled_qty == qty(100) and h.engine.report_count == 1


def test_reconcile_order_with_price_update() -> None:
    h = Harness()
    order = h.cached_order("O-1", quantity=100, price="1.00000")
    report = order_report("V-O-1", OrderStatus.ACCEPTED, client_order_id="O-1", quantity=100, price="1.00100")
    assert h.engine.reconcile_execution_report(report) is True
    assert order.status is OrderStatus.ACCEPTED and order.price == px("1.00100")
    assert isinstance(order.last_event, OrderUpdated)


def test_reconcile_order_with_quantity_update() -> None:
    h = Harness()
    order = h.cached_order("O-1", quantity=100, price="1.00000")
    report = order_report("V-O-1", OrderStatus.ACCEPTED, client_order_id="O-1", quantity=150, price="1.00000")
    assert h.engine.reconcile_execution_report(report) is True
    assert order.quantity == qty(150) and isinstance(order.last_event, OrderUpdated)


def test_no_update_when_report_quantity_below_filled() -> None:
    h = Harness()
    order = h.cached_order("O-1", quantity=100, order_type=OrderType.MARKET, price=None)
    h.fill(order, 60)
    report = order_report(
        "V-O-1",
        OrderStatus.PARTIALLY_FILLED,
        client_order_id="O-1",
        quantity=50,
        filled=60,
        order_type=OrderType.MARKET,
        price=None,
    )
    assert h.engine.reconcile_execution_report(report) is True
    assert order.quantity == qty(100) and not any(isinstance(e, OrderUpdated) for e in order.events)


def test_inferred_fill_with_positive_quantity_difference() -> None:
    h = Harness()
    order = h.cached_order("O-1", quantity=100)
    h.fill(order, 50, "1.00000")
    report = order_report(
        "V-O-1", OrderStatus.PARTIALLY_FILLED, client_order_id="O-1", quantity=100, filled=75, avg_px="1.0"
    )
    assert h.engine.reconcile_order_report(report, []) is True
    inferred = fills_of(order)[-1]
    assert inferred.client_order_id == ClientOrderId("O-1")
    assert inferred.last_qty == qty(25) and inferred.last_px == px("1.0") and inferred.reconciliation
    assert order.filled_qty == qty(75)


def test_inferred_fill_price_makes_the_average_match_the_venue() -> None:
    h = Harness()
    order = h.cached_order("O-1", quantity=100)
    h.fill(order, 50, "1.00000")
    report = order_report("V-O-1", OrderStatus.FILLED, client_order_id="O-1", quantity=100, filled=100, avg_px="1.1")
    assert h.engine.reconcile_order_report(report, []) is True
    assert fills_of(order)[-1].last_px == px("1.20000") and order.avg_px == Decimal("1.1")


def test_handle_fill_quantity_mismatch_closed_order_within_tolerance() -> None:
    h = Harness(instruments=(AUDUSD, BTCUSDT))
    order = h.cached_order("O-1", quantity="1.000000", price="50000.00", instrument=BTCUSDT)
    h.fill(order, "1.000000", "50000.00")
    assert order.status is OrderStatus.FILLED
    fills, recent = len(fills_of(order)), dict(h.engine.recent_fills)
    report = OrderStatusReport(
        account_id=ACCOUNT,
        instrument_id=BTCUSDT.id,
        venue_order_id=order.venue_order_id,  # type: ignore[arg-type]
        client_order_id=order.client_order_id,
        order_side=BUY,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        order_status=OrderStatus.FILLED,
        quantity=Quantity.of("1.000000", 6),
        filled_qty=Quantity.of("1.000001", 6),  # one raw unit above the cache
        price=px("50000.00", 2),
        avg_px=Decimal("50000"),
        ts_accepted=0,
        ts_last=0,
        ts_init=0,
    )
    assert h.engine.reconcile_order_report(report, []) is True
    assert order.filled_qty == Quantity.of("1.000000", 6)
    assert len(fills_of(order)) == fills and h.engine.recent_fills == recent


def test_handle_fill_quantity_mismatch_generates_inferred_fill() -> None:
    h = Harness()
    order = h.cached_order("O-1", quantity=200)
    h.fill(order, 50)
    recent = len(h.engine.recent_fills)
    h.clock.set_time(7 * 1_000_000_000)
    report = order_report(
        "V-O-1",
        OrderStatus.PARTIALLY_FILLED,
        client_order_id="O-1",
        quantity=200,
        filled=100,
        avg_px="1.0",
        ts_last=5_000,
    )
    assert h.engine.reconcile_order_report(report, []) is True
    assert h.engine.inferred_fill_ts[ClientOrderId("O-1")] == 5_000
    assert len(h.engine.recent_fills) == recent + 1
    inferred = fills_of(order)[-1]
    assert h.engine.recent_fills[inferred.trade_id] == 7 * 1_000_000_000  # receipt time, not ts_event
    assert h.engine.position_activity[(AUDUSD.id, ACCOUNT)] == 5_000  # the fill's ts_event
    assert order.filled_qty == qty(100)


def test_duplicate_fill_detection_prevents_historical_fills_after_inferred_fill() -> None:
    h = Harness()
    order = h.cached_order("O-1", side=SELL, quantity=100)
    report = order_report(
        "V-O-1",
        OrderStatus.PARTIALLY_FILLED,
        client_order_id="O-1",
        side=SELL,
        quantity=100,
        filled=50,
        avg_px="1.0",
        ts_last=1000,
    )
    assert h.engine.reconcile_order_report(report, []) is True
    assert h.engine.inferred_fill_ts[ClientOrderId("O-1")] == 1000
    historical = fill_report("V-O-1", "historical-fill-1", 10, side=SELL, ts=500)
    assert h.engine.reconcile_fill_report(order, historical) is True
    assert order.filled_qty == qty(50)
    assert TradeId("historical-fill-1") not in order.trade_ids


def test_fill_report_before_order_status_report() -> None:
    h = Harness()
    assert h.engine.reconcile_fill_report_single(fill_report("UNKNOWN-ORDER", "T-1", 10)) is False
    assert h.cache.orders() == []


def test_fill_reconciliation_skips_client_order_id_mismatch() -> None:
    h = Harness()
    order = h.cached_order("O-CACHED-001", quantity=100, venue_order_id="V-COLLIDED-001")
    assert h.cache.client_order_id_for(order.venue_order_id) == order.client_order_id  # type: ignore[arg-type]
    report = fill_report("V-COLLIDED-001", "T-COLLIDE", 10, client_order_id="O-TRUE-OWNER-001")
    assert h.engine.reconcile_fill_report_single(report) is True
    assert order.status is OrderStatus.ACCEPTED and order.filled_qty == qty(0)
    assert TradeId("T-COLLIDE") not in order.trade_ids


def test_fill_report_single_applies_fill_to_indexed_order() -> None:
    h = Harness()
    order = h.cached_order("O-1", quantity=100, venue_order_id="V-1")
    assert h.engine.reconcile_execution_report(fill_report("V-1", "T-9", 40)) is True
    assert order.filled_qty == qty(40) and order.trade_ids == [TradeId("T-9")]
    # The same trade again is recognised and kept once.
    assert h.engine.reconcile_execution_report(fill_report("V-1", "T-9", 40)) is True
    assert order.filled_qty == qty(40)


def test_overfill_refused_unless_allowed() -> None:
    h = Harness()
    order = h.cached_order("O-1", quantity=100, venue_order_id="V-1")
    h.fill(order, 80)
    assert h.engine.reconcile_fill_report(order, fill_report("V-1", "T-OVER", 30)) is False
    assert order.filled_qty == qty(80)

    h2 = Harness(LiveExecEngineConfig(allow_overfills=True))
    order2 = h2.cached_order("O-1", quantity=100, venue_order_id="V-1")
    h2.fill(order2, 80)
    assert h2.engine.reconcile_fill_report(order2, fill_report("V-1", "T-OVER", 30)) is True
    assert order2.filled_qty == qty(110) and order2.overfill_qty == qty(10) and order2.leaves_qty == qty(0)


def test_inferred_fill_refused_for_conflicting_venue_order_id() -> None:
    h = Harness()
    order = h.cached_order("O-1", quantity=100, venue_order_id="1")
    report = order_report(
        "V-OPEN", OrderStatus.PARTIALLY_FILLED, client_order_id="O-1", quantity=100, filled=25, avg_px="1.0"
    )
    assert h.engine.reconcile_order_report(report, []) is False
    assert order.status is OrderStatus.ACCEPTED and order.filled_qty == qty(0)


def test_unknown_fill_event_through_process_does_not_crash() -> None:
    h = Harness()
    order = h.cached_order("O-1", quantity=100, venue_order_id="V-1")
    stray = OrderFilled(
        trader_id=order.trader_id,
        strategy_id=STRATEGY,
        instrument_id=AUDUSD.id,
        client_order_id=ClientOrderId("O-NOT-OURS"),
        venue_order_id=order.venue_order_id,  # type: ignore[arg-type]
        account_id=ACCOUNT,
        trade_id=TradeId("T-STRAY"),
        order_side=BUY,
        order_type=OrderType.LIMIT,
        last_qty=qty(10),
        last_px=px("1.00000"),
        currency=AUDUSD.quote_currency,
        commission=fill_report("V-1", "x", 1).commission,
        liquidity_side=LiquiditySide.TAKER,
        ts_event=0,
        ts_init=0,
    )
    h.engine.process(stray)
    h.engine.process(
        OrderFilled(**{**{f: getattr(stray, f) for f in stray.__struct_fields__}, "venue_order_id": "V-NOWHERE"})
    )
    assert order.filled_qty == qty(0) and h.engine.report_count == 2


def test_runtime_external_order_is_seen_only_on_the_external_topic() -> None:
    h = Harness()
    received: list[object] = []
    h.kernel.msgbus.subscribe(f"events.order.{STRATEGY}", received.append)
    report = order_report("V-EXT", OrderStatus.ACCEPTED, client_order_id="EXT-1")
    assert h.engine.reconcile_execution_report(report) is True
    assert received == []
    order = h.cache.order(ClientOrderId("EXT-1"))
    assert order is not None and order.strategy_id == EXTERNAL and order.tags == ("VENUE",)
    assert [type(e).__name__ for e in h.order_events[-2:]] == ["OrderInitialized", "OrderAccepted"]


def test_tracking_cleared_when_order_closes() -> None:
    h = Harness()
    order = h.cached_order("O-1", quantity=100)
    h.engine.order_retries[order.client_order_id] = 2
    h.engine.order_last_query[order.client_order_id] = 1
    assert order.client_order_id in h.engine.order_local_activity
    h.fill(order, 100)
    for table in (h.engine.order_retries, h.engine.order_last_query, h.engine.order_local_activity):
        assert order.client_order_id not in table


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (OrderStatus.SUBMITTED, OrderStatus.REJECTED),
        (OrderStatus.ACCEPTED, OrderStatus.ACCEPTED),
    ],
)
def test_resolve_inflight_order_helper(status: OrderStatus, expected: OrderStatus) -> None:
    h = Harness()
    order = h.cached_order("O-1", status=status)
    h.engine.order_retries[order.client_order_id] = 5
    h.engine.resolve_inflight_order(order)
    assert order.status is expected and order.client_order_id not in h.engine.order_retries


def test_prune_recent_fills() -> None:
    h = Harness()
    h.engine.recent_fills.update({TradeId("old"): 0, TradeId("new"): 50 * 1_000_000_000})
    assert h.engine.prune_recent_fills(61 * 1_000_000_000) == 1
    assert list(h.engine.recent_fills) == [TradeId("new")]


# ---- C. position reconciliation ----------------------------------------------------------------------------------


def test_long_position_reconciliation_quantity_mismatch() -> None:
    h = Harness()
    h.position(100, "1.00000")
    spy = h.spy_generated_reports()
    assert h.engine.reconcile_position_report(position_report(PositionSide.LONG, 150)) is True
    [(report, is_external)] = spy
    assert report.order_side is BUY and report.quantity == qty(50) and report.filled_qty == qty(50)
    assert report.order_status is OrderStatus.FILLED and not is_external
    assert report.order_type is OrderType.LIMIT and report.price == px("1.00000")
    assert h.open_qty() == Decimal(150)


def test_short_position_reconciliation_quantity_mismatch() -> None:
    h = Harness()
    h.position(-100, "1.00000")
    spy = h.spy_generated_reports()
    assert h.engine.reconcile_position_report(position_report(PositionSide.SHORT, 150)) is True
    [(report, _)] = spy
    assert report.order_side is SELL and report.quantity == qty(50) and report.order_status is OrderStatus.FILLED
    assert h.open_qty() == Decimal(-150)


@pytest.mark.parametrize(("signed", "side"), [(100, SELL), (-100, BUY)], ids=["long", "short"])
def test_position_reconciliation_external_flat(signed: int, side) -> None:  # type: ignore[no-untyped-def]
    """#3023: ..._long_external_flat / ..._short_external_flat."""
    h = Harness()
    h.position(signed, "1.00000")
    spy = h.spy_generated_reports()
    assert h.engine.reconcile_position_report(position_report(PositionSide.FLAT, 0)) is True
    [(report, _)] = spy
    assert report.order_side is side and report.quantity == qty(100)
    assert report.order_type is OrderType.LIMIT and report.price == px("1.00000")
    assert h.open_qty() == Decimal(0)


def test_mixed_reconciliation_long_and_flat_instruments() -> None:
    h = Harness(instruments=(AUDUSD, GBPUSD))
    h.position(100, "0.70000", instrument=AUDUSD, coid="O-AUD")
    h.position(50, "1.30000", instrument=GBPUSD, coid="O-GBP")
    h.client.position_reports += [
        position_report(PositionSide.LONG, 100, "0.70", instrument_id=AUDUSD.id),
        position_report(PositionSide.FLAT, 0, instrument_id=GBPUSD.id),
    ]
    spy = h.spy_generated_reports()
    assert h.startup() is True
    [(report, _)] = spy
    assert report.instrument_id == GBPUSD.id and report.order_side is SELL and report.quantity == qty(50)
    assert h.open_qty(AUDUSD.id) == Decimal(100) and h.open_qty(GBPUSD.id) == Decimal(0)


def test_position_recon_flat_report_with_fills_ib() -> None:
    h = Harness()
    order = h.cached_order("O-1", quantity=10, price=None, order_type=OrderType.MARKET)
    h.fill(order, 5, "100.00000")
    h.fill(order, 5, "101.00000")
    assert h.open_qty() == Decimal(10)
    spy = h.spy_generated_reports()
    assert h.engine.reconcile_position_report(position_report(PositionSide.FLAT, 0)) is True
    [(report, _)] = spy
    assert report.order_side is SELL and report.quantity == qty(10) and report.order_status is OrderStatus.FILLED
    assert report.price == px("100.50000")
    assert h.open_qty() == Decimal(0)


def test_position_reconciliation_crosses_zero_splits_into_two_fills() -> None:
    h = Harness()
    h.position(100, "1.00000")
    spy = h.spy_generated_reports()
    assert h.engine.reconcile_position_report(position_report(PositionSide.SHORT, 50, "1.05")) is True
    [(close, _), (open_, _)] = spy
    assert close.order_side is SELL and close.quantity == qty(100) and close.avg_px == Decimal("1.00000")
    assert open_.order_side is SELL and open_.quantity == qty(50) and open_.avg_px == Decimal("1.05000")
    assert close.venue_order_id != open_.venue_order_id
    assert h.open_qty() == Decimal(-50)


def test_position_reconciliation_cross_zero_without_open_price_fails() -> None:
    """A non-currency-pair instrument without venue avg or quote has no OPEN price: False, only CLOSE applied."""
    from toolkit.model.instruments import CryptoPerpetual

    perp = CryptoPerpetual(
        id=InstrumentId("ETH-PERP.SIM"),
        base_currency=BTCUSDT.base_currency,
        quote_currency=AUDUSD.quote_currency,
        settlement_currency=AUDUSD.quote_currency,
        price_precision=2,
        size_precision=0,
        price_increment=px("0.01", 2),
        size_increment=Quantity.from_int(1),
    )
    h = Harness(instruments=(perp,))
    h.position(10, "100.00", instrument=perp)
    spy = h.spy_generated_reports()
    assert h.engine.reconcile_position_report(position_report(PositionSide.SHORT, 5, instrument_id=perp.id)) is False
    assert [r.order_side for r, _ in spy] == [SELL]
    assert h.open_qty(perp.id) == Decimal(0)


def test_position_reconciliation_zero_difference_after_rounding() -> None:
    h = Harness()
    h.position(100, "1.00000")
    spy = h.spy_generated_reports()
    report = position_report(PositionSide.LONG, "100.00000001")
    assert report.signed_decimal_qty == Decimal("100.00000001")
    assert h.engine.reconcile_position_report(report) is True
    assert spy == [] and h.open_qty() == Decimal(100)


def test_position_reconciliation_fallback_to_market_order_when_no_price_available() -> None:
    h = Harness()
    spy = h.spy_generated_reports()
    assert h.engine.reconcile_position_report(position_report(PositionSide.LONG, 100)) is True
    [(report, is_external)] = spy
    assert report.order_type is OrderType.MARKET and report.time_in_force is TimeInForce.IOC
    assert report.price is None and report.avg_px is None
    assert report.order_side is BUY and report.quantity == qty(100) and report.order_status is OrderStatus.FILLED
    assert not is_external
    [order] = h.cache.orders()
    assert order.strategy_id == EXTERNAL and order.tags == ("RECONCILIATION",)
    assert h.open_qty() == Decimal(100)


def test_position_reconciliation_uses_quote_before_cached_average() -> None:
    h = Harness()
    h.cache.add_quote_tick(QuoteTick.of(AUDUSD.id, px("0.99990"), px("1.00010"), qty(1), qty(1), 0))
    spy = h.spy_generated_reports()
    assert h.engine.reconcile_position_report(position_report(PositionSide.LONG, 100)) is True
    [(report, _)] = spy
    assert report.order_type is OrderType.LIMIT and report.price == px("1.00010")  # the ask, to buy


def test_multiple_reconciliation_cycles_update_same_external_position() -> None:
    h = Harness()
    spy = h.spy_generated_reports()
    assert h.engine.reconcile_position_report(position_report(PositionSide.LONG, 100, "1.0", ts_last=1)) is True
    assert h.open_qty() == Decimal(100)
    assert h.engine.reconcile_position_report(position_report(PositionSide.LONG, 150, "1.0", ts_last=2)) is True
    assert [(r.order_side, r.quantity, ext) for r, ext in spy] == [(BUY, qty(100), False), (BUY, qty(50), False)]
    orders = h.cache.orders()
    assert len(orders) == 2
    assert all(o.strategy_id == EXTERNAL and o.tags == ("RECONCILIATION",) for o in orders)
    assert h.open_qty() == Decimal(150)
    [position] = h.cache.positions_open()
    assert position.id == PositionId("AUD/USD.SIM-EXTERNAL")


def test_reconciliation_with_existing_position_uses_external_strategy_id() -> None:
    h = Harness()
    h.position(50, "1.00000")
    spy = h.spy_generated_reports()
    before = ids(h)
    assert h.engine.reconcile_position_report(position_report(PositionSide.LONG, 100)) is True
    [(report, _)] = spy
    assert report.order_side is BUY and report.quantity == qty(50)
    [order] = new_orders(h, before)
    assert order.strategy_id == EXTERNAL and order.tags == ("RECONCILIATION",)
    assert h.open_qty() == Decimal(100)


def test_position_reconciliation_with_external_order_claim_uses_claiming_strategy() -> None:
    h = Harness(claims={AUDUSD.id: StrategyId("S-CLAIM")})
    received: list[object] = []
    h.kernel.msgbus.subscribe("events.order.S-CLAIM", received.append)
    assert h.engine.reconcile_position_report(position_report(PositionSide.LONG, 100, "1.0")) is True
    [order] = h.cache.orders()
    assert order.strategy_id == StrategyId("S-CLAIM") and order.tags == ()
    assert {type(e).__name__ for e in received} == {"OrderInitialized", "OrderAccepted", "OrderFilled"}
    assert h.open_qty() == Decimal(100)


def test_netting_position_reconciliation_ignores_other_accounts() -> None:
    h = Harness()
    h.position(100, "1.00000")
    spy = h.spy_generated_reports()
    other = position_report(PositionSide.LONG, 40, "1.0", account_id=AccountId("SIM-002"))
    assert h.engine.reconcile_position_report(other) is True
    [(report, _)] = spy
    assert report.account_id == AccountId("SIM-002") and report.quantity == qty(40)


def test_netting_mismatch_with_generation_off_is_not_a_failure() -> None:
    h = Harness(LiveExecEngineConfig(generate_missing_orders=False))
    h.position(100, "1.00000")
    spy = h.spy_generated_reports()
    assert h.engine.reconcile_position_report(position_report(PositionSide.LONG, 150)) is True
    assert spy == [] and h.open_qty() == Decimal(100)


def test_reconciled_position_report_reuses_the_filled_order() -> None:
    """Reuse (netting): the same diff seen again after its order filled creates no second fill."""
    h = Harness()
    report = position_report(PositionSide.LONG, 100, "1.0", ts_last=10)
    assert h.engine.reconcile_position_report(report) is True
    [order] = h.cache.orders()
    # The fill vanished from the positions (e.g. a purge): the same incident must not fill twice.
    spy = h.spy_generated_reports()
    for position in h.cache.positions_open():
        position.signed_qty_raw = 0
        h.cache.update_position(position)
    assert h.engine.reconcile_position_report(position_report(PositionSide.LONG, 100, "1.0", ts_last=11)) is True
    [(again, _)] = spy
    assert again.client_order_id == order.client_order_id
    assert len(h.cache.orders()) == 1 and len(fills_of(order)) == 1


# ---- 57. hedge mode ----------------------------------------------------------------------------------------------

HEDGE_ID = "AUDUSD.SIM-LONG"


def hedge(config: LiveExecEngineConfig | None = None) -> Harness:
    return Harness(config, oms_type=OmsType.HEDGING)


@pytest.mark.parametrize("generate", [True, False])
def test_hedge_position_quantity_mismatch(generate: bool) -> None:
    h = hedge(LiveExecEngineConfig(generate_missing_orders=generate))
    h.position(1000, "1.00000", position_id=HEDGE_ID)
    before = ids(h)
    result = h.engine.reconcile_position_report(
        position_report(PositionSide.LONG, 1500, "1.0", venue_position_id=HEDGE_ID)
    )
    position = h.cache.position(PositionId(HEDGE_ID))
    assert position is not None
    if generate:
        assert result is True and len(new_orders(h, before)) == 1
        assert position.quantity == qty(1500)
    else:
        assert result is False and new_orders(h, before) == [] and position.quantity == qty(1000)


@pytest.mark.parametrize("generate", [True, False])
def test_hedge_position_missing_in_cache(generate: bool) -> None:
    h = hedge(LiveExecEngineConfig(generate_missing_orders=generate))
    result = h.engine.reconcile_position_report(
        position_report(PositionSide.LONG, 1000, "1.0", venue_position_id=HEDGE_ID)
    )
    position = h.cache.position(PositionId(HEDGE_ID))
    if generate:
        assert result is True and len(h.cache.orders()) == 1
        assert position is not None and position.quantity == qty(1000)
        [order] = h.cache.orders()
        assert order.position_id == PositionId(HEDGE_ID)
    else:
        assert result is False and h.cache.orders() == [] and position is None


def test_hedge_position_matching() -> None:
    h = hedge()
    h.position(1000, "1.00000", position_id=HEDGE_ID)
    before = ids(h)
    report = position_report(PositionSide.LONG, 1000, "1.0", venue_position_id=HEDGE_ID)
    assert h.engine.reconcile_position_report(report) is True
    assert new_orders(h, before) == []


def test_hedge_position_flat_with_nothing_cached() -> None:
    h = hedge()
    assert h.engine.reconcile_position_report(position_report(PositionSide.FLAT, 0, venue_position_id=HEDGE_ID))
    assert h.cache.orders() == [] and h.cache.positions() == []


def test_hedge_mismatch_fails_startup_when_generation_is_off() -> None:
    h = hedge(LiveExecEngineConfig(generate_missing_orders=False))
    h.client.position_reports.append(position_report(PositionSide.LONG, 1000, "1.0", venue_position_id=HEDGE_ID))
    assert h.startup() is False


# ---- 58. deterministic ids ---------------------------------------------------------------------------------------


def _diff_report(ts_last: int = 5, account: AccountId = ACCOUNT) -> OrderStatusReport:
    h = Harness()
    h.position(100, "1.00000")
    spy = h.spy_generated_reports()
    h.engine.reconcile_position_report(position_report(PositionSide.LONG, 150, ts_last=ts_last, account_id=account))
    return spy[0][0]


def test_position_reconciliation_report_uses_deterministic_venue_order_id() -> None:
    first, second = _diff_report(), _diff_report()
    assert first.venue_order_id == second.venue_order_id
    assert first.report_id != second.report_id


def test_position_reconciliation_report_id_differs_by_ts_last_and_account() -> None:
    base = _diff_report().venue_order_id
    assert _diff_report(ts_last=6).venue_order_id != base
    assert _diff_report(account=AccountId("SIM-002")).venue_order_id != base


def test_repeated_calls_use_deterministic_trade_id() -> None:
    def inferred() -> OrderFilled:
        h = Harness()
        order = h.cached_order("O-1", quantity=100, venue_order_id="V-1")
        report = order_report(
            "V-1", OrderStatus.PARTIALLY_FILLED, client_order_id="O-1", quantity=100, filled=40, avg_px="1.0"
        )
        assert h.engine.reconcile_order_report(report, []) is True
        return fills_of(order)[-1]

    first, second = inferred(), inferred()
    assert first.trade_id == second.trade_id
    assert first is not second


def test_duplicate_external_order_claim_raises() -> None:
    h = Harness(claims={AUDUSD.id: StrategyId("S-ONE")})
    with pytest.raises(ValueError, match=r"S-TWO.*S-ONE"):
        h.engine.register_external_order_claims(StrategyId("S-TWO"), [AUDUSD.id])
    h.engine.register_external_order_claims(StrategyId("S-ONE"), [AUDUSD.id])  # the same owner again is fine


def test_runtime_reports_are_published_per_instrument() -> None:
    h = Harness()
    seen: list[object] = []
    h.kernel.msgbus.subscribe("reports.execution.SIM.AUD/USD", seen.append)
    report = position_report(PositionSide.FLAT, 0)
    assert asyncio.run(_runtime(h, report)) is True
    assert seen == [report]


async def _runtime(h: Harness, report: object) -> bool:
    return h.engine.reconcile_execution_report(report)  # type: ignore[arg-type]


def test_shutting_down_ignores_reports() -> None:
    h = Harness()
    h.engine.is_shutting_down = True
    assert h.engine.reconcile_execution_report(order_report("V-1", OrderStatus.ACCEPTED, client_order_id="O")) is True
    assert h.engine.reconcile_position_report(position_report(PositionSide.LONG, 5)) is True
    assert h.cache.orders() == []


def test_instrument_filter_applies_to_runtime_reports() -> None:
    h = Harness(LiveExecEngineConfig(reconciliation_instrument_ids=[GBPUSD.id]), instruments=(AUDUSD, GBPUSD))
    assert h.engine.reconcile_execution_report(order_report("V-1", OrderStatus.ACCEPTED, client_order_id="O")) is True
    assert h.cache.orders() == [] and h.engine.report_count == 1


def test_submitted_report_of_a_held_order_keeps_it_in_flight() -> None:
    """A venue that holds an order without working it (a bracket exit waiting for its entry) reports SUBMITTED:
    the order stays SUBMITTED (no made-up acceptance), and its in-flight query tracking is reset."""
    h = Harness()
    order = h.cached_order("O-1", quantity=100, status=OrderStatus.SUBMITTED)
    h.engine.order_retries[order.client_order_id] = 2
    report = order_report("V-O-1", OrderStatus.SUBMITTED, client_order_id="O-1", quantity=100)
    assert h.engine.reconcile_execution_report(report) is True
    assert order.status is OrderStatus.SUBMITTED
    assert order.client_order_id not in h.engine.order_retries
