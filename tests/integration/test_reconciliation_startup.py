"""Startup reconciliation through a real kernel (reconciliation spec §2, §4 groups A and B).

A `LiveExecutionEngine` is built by `Kernel(..., exec_engine_factory=...)` on a `TestClock`; one mock
`LiveExecutionClient` (venue SIM, account SIM-001) returns the reports a test loads into it, and
`reconcile_execution_state` runs with `asyncio.run`. Defaults of the spec: AUD/USD.SIM (5 dp prices, 0 dp sizes,
USD), timestamps 0 unless given. The harness here is shared with `test_reconciliation_runtime.py`.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from toolkit.core.clock import TestClock
from toolkit.core.log import Logger
from toolkit.engine.kernel import Kernel, KernelConfig
from toolkit.live.clients import LiveClientConfig, LiveExecutionClient
from toolkit.live.config import LiveExecEngineConfig
from toolkit.live.execution import LiveExecutionEngine
from toolkit.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
from toolkit.model.enums import (
    AccountType,
    LiquiditySide,
    OmsType,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionSide,
    TimeInForce,
)
from toolkit.model.events import (
    AccountBalance,
    AccountState,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderInitialized,
    OrderSubmitted,
    OrderTriggered,
)
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
from toolkit.model.instruments import CurrencyPair, Instrument
from toolkit.model.objects import Currency, Money, Price, Quantity
from toolkit.model.orders import Order
from toolkit.model.reports import ExecutionMassStatus, FillReport, OrderStatusReport, PositionStatusReport

USD = Currency.from_str("USD")
USDT = Currency.from_str("USDT")
SECOND = 1_000_000_000
SIM = Venue("SIM")
ACCOUNT = AccountId("SIM-001")
TRADER = TraderId("TESTER-000")
STRATEGY = StrategyId("S-001")
BUY, SELL = OrderSide.BUY, OrderSide.SELL


def fx_pair(symbol: str, base: str) -> CurrencyPair:
    return CurrencyPair(
        id=InstrumentId(f"{symbol}.SIM"),
        base_currency=Currency.from_str(base),
        quote_currency=USD,
        settlement_currency=USD,
        price_precision=5,
        size_precision=0,
        price_increment=Price.from_str("0.00001"),
        size_increment=Quantity.from_int(1),
        margin_init=Decimal("0.03"),
        margin_maint=Decimal("0.03"),
    )


def crypto_pair(symbol: str, size_precision: int = 6) -> CurrencyPair:
    return CurrencyPair(
        id=InstrumentId(f"{symbol}.SIM"),
        base_currency=Currency.from_str("BTC"),
        quote_currency=USDT,
        settlement_currency=USDT,
        price_precision=2,
        size_precision=size_precision,
        price_increment=Price.from_str("0.01"),
        size_increment=Quantity(10 ** (9 - size_precision), size_precision),
    )


AUDUSD = fx_pair("AUD/USD", "AUD")
GBPUSD = fx_pair("GBP/USD", "GBP")
EURUSD = fx_pair("EUR/USD", "EUR")
BTCUSDT = crypto_pair("BTCUSDT")
BTCUSD_UNLOADED = InstrumentId("BTCUSD.SIM")


def qty(value: int | str, precision: int = 0) -> Quantity:
    return Quantity.of(str(value), precision)


def px(value: str, precision: int = 5) -> Price:
    return Price.of(value, precision)


# ---- the mock client ---------------------------------------------------------------------------------------------


class MockExecutionClient(LiveExecutionClient):
    """Answers the reconciliation queries from lists a test fills in; records commands and position queries."""

    def __init__(self, clock: TestClock, cache, oms_type: OmsType = OmsType.NETTING) -> None:  # type: ignore[no-untyped-def]
        super().__init__(
            ClientId("SIM"),
            SIM,
            oms_type,
            ACCOUNT,
            LiveClientConfig(factory="mock"),
            clock,
            cache,
            Logger("MockExecClient", clock),
            send_event=lambda event: None,
        )
        self.order_reports: list[OrderStatusReport] = []
        self.fill_reports: list[FillReport] = []
        self.position_reports: list[PositionStatusReport] = []
        self.mass_status_error: Exception | None = None
        self.position_query_error: Exception | None = None
        self.position_queries: list[InstrumentId | None] = []
        self.commands: list[object] = []

    async def connect(self) -> None:
        self.is_connected = True

    async def disconnect(self) -> None:
        self.is_connected = False

    def submit_order(self, command: SubmitOrder) -> None:
        self.commands.append(command)

    def modify_order(self, command: ModifyOrder) -> None:
        self.commands.append(command)

    def cancel_order(self, command: CancelOrder) -> None:
        self.commands.append(command)

    def cancel_all_orders(self, command: CancelAllOrders) -> None:
        self.commands.append(command)

    async def generate_order_status_report(self, instrument_id, client_order_id=None, venue_order_id=None):  # type: ignore[no-untyped-def]
        for report in self.order_reports:
            if client_order_id is not None and report.client_order_id == client_order_id:
                return report
            if venue_order_id is not None and report.venue_order_id == venue_order_id:
                return report
        return None

    async def generate_order_status_reports(self, instrument_id=None, start_ns=None, end_ns=None, open_only=False):  # type: ignore[no-untyped-def]
        if self.mass_status_error is not None:
            raise self.mass_status_error
        return [
            r
            for r in self.order_reports
            if (instrument_id is None or r.instrument_id == instrument_id) and (not open_only or r.is_open)
        ]

    async def generate_fill_reports(self, instrument_id=None, venue_order_id=None, start_ns=None, end_ns=None):  # type: ignore[no-untyped-def]
        return [
            f
            for f in self.fill_reports
            if (instrument_id is None or f.instrument_id == instrument_id)
            and (venue_order_id is None or f.venue_order_id == venue_order_id)
        ]

    async def generate_position_status_reports(self, instrument_id=None, start_ns=None, end_ns=None):  # type: ignore[no-untyped-def]
        if instrument_id is not None:
            self.position_queries.append(instrument_id)
            if self.position_query_error is not None:
                raise self.position_query_error
        return [p for p in self.position_reports if instrument_id is None or p.instrument_id == instrument_id]


# ---- the harness -------------------------------------------------------------------------------------------------


class Harness:
    """A kernel with a `LiveExecutionEngine`, instruments, a funded SIM-001 account and the mock client."""

    def __init__(
        self,
        config: LiveExecEngineConfig | None = None,
        claims: dict[InstrumentId, StrategyId] | None = None,
        instruments: tuple[Instrument, ...] = (AUDUSD,),
        oms_type: OmsType = OmsType.NETTING,
        start_ns: int = 0,
    ) -> None:
        self.clock = TestClock(start_ns)
        self.config = config or LiveExecEngineConfig()
        self.kernel = Kernel(
            KernelConfig(trader_id=TRADER),
            self.clock,
            exec_engine_factory=lambda *a: LiveExecutionEngine(*a, config=self.config, strategy_claims=claims),
        )
        engine = self.kernel.exec_engine
        assert isinstance(engine, LiveExecutionEngine)
        self.engine: LiveExecutionEngine = engine
        self.cache = self.kernel.cache
        for instrument in instruments:
            self.cache.add_instrument(instrument)
        self.client = MockExecutionClient(self.clock, self.cache, oms_type)
        self.engine.register_client(self.client)
        money = [Money.of("1000000", USD), Money.of("1000000", USDT)]
        self.engine.process(
            AccountState(
                account_id=ACCOUNT,
                account_type=AccountType.MARGIN,
                base_currency=None,
                balances=tuple(AccountBalance(m, Money(0, m.currency), m) for m in money),
                reported=True,
                ts_event=0,
                ts_init=0,
            )
        )
        self.order_events: list[object] = []
        self.kernel.msgbus.subscribe("events.order.*", self.order_events.append)
        self.masses: list[ExecutionMassStatus] = []
        self.kernel.msgbus.subscribe("reports.execution.*", self._on_report)

    def _on_report(self, message: object) -> None:
        if isinstance(message, ExecutionMassStatus):
            self.masses.append(message)

    def startup(self) -> bool:
        return asyncio.run(self.engine.reconcile_execution_state([self.client]))

    def spy_generated_reports(self) -> list[tuple[OrderStatusReport, bool]]:
        """Record every report the engine passes to `reconcile_order_report` (position alignment, runtime)."""
        calls: list[tuple[OrderStatusReport, bool]] = []
        original = self.engine.reconcile_order_report

        def spy(report: OrderStatusReport, fills=None, is_external: bool = True) -> bool:  # type: ignore[no-untyped-def]
            calls.append((report, is_external))
            return original(report, fills, is_external)

        self.engine.reconcile_order_report = spy  # type: ignore[method-assign]
        return calls

    # -- cached state built through the engine, as live events would --------------------------------------------
    def cached_order(
        self,
        coid: str,
        side: OrderSide = BUY,
        quantity: int | str = 100,
        price: str | None = "1.00000",
        order_type: OrderType = OrderType.LIMIT,
        status: OrderStatus = OrderStatus.ACCEPTED,
        venue_order_id: str | None = None,
        instrument: Instrument = AUDUSD,
        strategy_id: StrategyId = STRATEGY,
        tif: TimeInForce = TimeInForce.GTC,
        expire_time_ns: int = 0,
        tags: tuple[str, ...] = (),
        position_id: str | None = None,
    ) -> Order:
        init = OrderInitialized(
            trader_id=TRADER,
            strategy_id=strategy_id,
            instrument_id=instrument.id,
            client_order_id=ClientOrderId(coid),
            order_side=side,
            order_type=order_type,
            quantity=qty(quantity, instrument.size_precision),
            time_in_force=tif,
            expire_time_ns=expire_time_ns,
            price=None if price is None else Price.of(price, instrument.price_precision),
            tags=tags,
            ts_event=0,
            ts_init=0,
        )
        order = Order(init)
        self.cache.add_order(order, None if position_id is None else PositionId(position_id))
        ident = _ident(order)
        if status is not OrderStatus.INITIALIZED:
            self.engine.process(OrderSubmitted(**ident, account_id=ACCOUNT, ts_event=0, ts_init=0))
        if status not in (OrderStatus.INITIALIZED, OrderStatus.SUBMITTED):
            vid = VenueOrderId(venue_order_id or f"V-{coid}")
            self.engine.process(OrderAccepted(**ident, venue_order_id=vid, account_id=ACCOUNT, ts_event=0, ts_init=0))
        return order

    def fill(
        self,
        order: Order,
        quantity: int | str,
        price: str = "1.00000",
        trade_id: str | None = None,
        ts: int = 0,
        position_id: str | None = None,
    ) -> None:
        instrument = self.cache.instrument(order.instrument_id)
        assert instrument is not None
        self.engine.process(
            OrderFilled(
                **_ident(order),
                venue_order_id=order.venue_order_id or VenueOrderId(f"V-{order.client_order_id}"),
                account_id=ACCOUNT,
                trade_id=TradeId(trade_id or f"T-{order.client_order_id}-{len(order.trade_ids) + 1}"),
                order_side=order.side,
                order_type=order.order_type,
                last_qty=qty(quantity, instrument.size_precision),
                last_px=Price.of(price, instrument.price_precision),
                currency=instrument.quote_currency,
                commission=Money(0, instrument.quote_currency),
                liquidity_side=LiquiditySide.TAKER,
                position_id=None if position_id is None else PositionId(position_id),
                ts_event=ts,
                ts_init=ts,
            )
        )

    def position(
        self,
        signed: int,
        price: str = "1.00000",
        instrument: Instrument = AUDUSD,
        coid: str = "O-POS-1",
        strategy_id: StrategyId = STRATEGY,
        position_id: str | None = None,
    ) -> Order:
        """A cached position of `signed` units built from one market order filled at `price`."""
        side = BUY if signed > 0 else SELL
        order = self.cached_order(
            coid,
            side,
            abs(signed),
            price=None,
            order_type=OrderType.MARKET,
            instrument=instrument,
            strategy_id=strategy_id,
        )
        self.fill(order, abs(signed), price, position_id=position_id)
        return order

    def open_qty(self, instrument_id: InstrumentId = AUDUSD.id) -> Decimal:
        return sum((p.signed_qty for p in self.cache.positions_open(instrument_id=instrument_id)), Decimal(0))


def _ident(order: Order) -> dict[str, object]:
    return {
        "trader_id": order.trader_id,
        "strategy_id": order.strategy_id,
        "instrument_id": order.instrument_id,
        "client_order_id": order.client_order_id,
    }


def order_report(
    venue_order_id: str,
    status: OrderStatus,
    quantity: int | str = 10_000,
    filled: int | str = 0,
    client_order_id: str | None = None,
    side: OrderSide = BUY,
    order_type: OrderType = OrderType.LIMIT,
    price: str | None = "1.00000",
    trigger_price: str | None = None,
    avg_px: str | None = None,
    instrument_id: InstrumentId = AUDUSD.id,
    size_precision: int = 0,
    price_precision: int = 5,
    tif: TimeInForce = TimeInForce.GTC,
    **extra: object,
) -> OrderStatusReport:
    return OrderStatusReport(
        account_id=ACCOUNT,
        instrument_id=instrument_id,
        venue_order_id=VenueOrderId(venue_order_id),
        client_order_id=None if client_order_id is None else ClientOrderId(client_order_id),
        order_side=side,
        order_type=order_type,
        time_in_force=tif,
        order_status=status,
        quantity=qty(quantity, size_precision),
        filled_qty=qty(filled, size_precision),
        price=None if price is None else Price.of(price, price_precision),
        trigger_price=None if trigger_price is None else Price.of(trigger_price, price_precision),
        avg_px=None if avg_px is None else Decimal(avg_px),
        ts_accepted=extra.pop("ts_accepted", 0),  # type: ignore[arg-type]
        ts_last=extra.pop("ts_last", 0),  # type: ignore[arg-type]
        ts_init=0,
        **extra,  # type: ignore[arg-type]
    )


def fill_report(
    venue_order_id: str,
    trade_id: str,
    quantity: int | str,
    price: str = "1.00000",
    side: OrderSide = BUY,
    ts: int = 0,
    client_order_id: str | None = None,
    instrument_id: InstrumentId = AUDUSD.id,
    size_precision: int = 0,
    price_precision: int = 5,
    currency: Currency = USD,
) -> FillReport:
    return FillReport(
        account_id=ACCOUNT,
        instrument_id=instrument_id,
        venue_order_id=VenueOrderId(venue_order_id),
        trade_id=TradeId(trade_id),
        client_order_id=None if client_order_id is None else ClientOrderId(client_order_id),
        order_side=side,
        last_qty=qty(quantity, size_precision),
        last_px=Price.of(price, price_precision),
        commission=Money(0, currency),
        liquidity_side=LiquiditySide.MAKER,
        ts_event=ts,
        ts_init=ts,
    )


def position_report(
    side: PositionSide,
    quantity: int | str,
    avg_px: str | None = None,
    instrument_id: InstrumentId = AUDUSD.id,
    venue_position_id: str | None = None,
    ts_last: int = 0,
    account_id: AccountId = ACCOUNT,
    size_precision: int = 0,
) -> PositionStatusReport:
    return PositionStatusReport(
        account_id=account_id,
        instrument_id=instrument_id,
        position_side=side,
        quantity=qty(quantity, size_precision) if isinstance(quantity, int) else Quantity.of(quantity, 9),
        avg_px_open=None if avg_px is None else Decimal(avg_px),
        venue_position_id=None if venue_position_id is None else PositionId(venue_position_id),
        ts_last=ts_last,
        ts_init=ts_last,
    )


def fills_of(order: Order) -> list[OrderFilled]:
    return [e for e in order.events if isinstance(e, OrderFilled)]


# ---- A. startup: order status reports with nothing cached --------------------------------------------------------


def test_reconcile_state_no_cached_with_rejected_order() -> None:
    h = Harness()
    h.client.order_reports.append(
        order_report("V-1", OrderStatus.REJECTED, client_order_id="O-123456", cancel_reason="SOME_REASON")
    )
    assert h.startup() is True
    orders = h.cache.orders()
    assert len(orders) == 1
    order = orders[0]
    assert order.client_order_id == ClientOrderId("O-123456")
    assert order.status is OrderStatus.REJECTED
    assert order.last_event.reason == "SOME_REASON"  # type: ignore[attr-defined]
    assert order.strategy_id == StrategyId("EXTERNAL") and order.tags == ("VENUE",)
    assert order.init.reconciliation is True


def test_reconcile_state_no_cached_with_accepted_order() -> None:
    h = Harness()
    h.client.order_reports.append(order_report("V-1", OrderStatus.ACCEPTED, client_order_id="O-123456"))
    assert h.startup() is True
    assert len(h.cache.orders()) == 1
    order = h.cache.order(ClientOrderId("O-123456"))
    assert order is not None and order.status is OrderStatus.ACCEPTED
    assert [o.client_order_id for o in h.cache.orders_open()] == [ClientOrderId("O-123456")]
    assert h.cache.client_order_id_for(VenueOrderId("V-1")) == ClientOrderId("O-123456")


def test_reconcile_state_no_cached_with_canceled_order() -> None:
    h = Harness()
    h.client.order_reports.append(order_report("V-1", OrderStatus.CANCELED, client_order_id="O-123456", filled=0))
    assert h.startup() is True
    order = h.cache.order(ClientOrderId("O-123456"))
    assert order is not None and order.status is OrderStatus.CANCELED
    assert order.filled_qty == qty(0)


def test_reconcile_state_no_cached_with_triggered_order() -> None:
    h = Harness()
    h.client.order_reports.append(
        order_report(
            "V-1",
            OrderStatus.TRIGGERED,
            client_order_id="O-123456",
            order_type=OrderType.STOP_LIMIT,
            trigger_price="1.00010",
            ts_accepted=1 * SECOND,
            ts_triggered=2 * SECOND,
        )
    )
    assert h.startup() is True
    order = h.cache.order(ClientOrderId("O-123456"))
    assert order is not None and order.status is OrderStatus.TRIGGERED
    assert order.is_open and order in h.cache.orders_open()
    triggered = [e for e in order.events if isinstance(e, OrderTriggered)]
    assert len(triggered) == 1 and triggered[0].ts_event == 2 * SECOND


@pytest.mark.parametrize("order_type", [OrderType.STOP_MARKET, OrderType.MARKET_IF_TOUCHED])
def test_reconcile_state_no_cached_triggered_market_style_stop_skips_triggered(order_type: OrderType) -> None:
    h = Harness()
    h.client.order_reports.append(
        order_report(
            "V-1",
            OrderStatus.TRIGGERED,
            client_order_id="O-123456",
            order_type=order_type,
            price=None,
            trigger_price="1.00010",
            ts_triggered=2 * SECOND,
        )
    )
    assert h.startup() is True
    order = h.cache.order(ClientOrderId("O-123456"))
    assert order is not None and order.status is OrderStatus.ACCEPTED
    assert not any(isinstance(e, OrderTriggered) for e in order.events)


def test_reconcile_state_no_cached_with_filled_order_and_no_trades() -> None:
    h = Harness()
    h.client.order_reports.append(
        order_report(
            "V-1",
            OrderStatus.FILLED,
            client_order_id="O-123456",
            quantity=10_000,
            filled=10_000,
            avg_px="1.0",
            post_only=True,
        )
    )
    assert h.startup() is True
    order = h.cache.order(ClientOrderId("O-123456"))
    assert order is not None and order.status is OrderStatus.FILLED
    [fill] = fills_of(order)
    assert fill.last_qty == qty(10_000) and fill.last_px == px("1.0")
    assert fill.liquidity_side is LiquiditySide.MAKER
    assert fill.position_id == PositionId("AUD/USD.SIM-EXTERNAL")
    assert fill.reconciliation is True
    position = h.cache.position(PositionId("AUD/USD.SIM-EXTERNAL"))
    assert position is not None and position.signed_qty == Decimal(10_000)


def test_reconcile_state_no_cached_with_partially_filled_order_and_trade() -> None:
    h = Harness()
    h.client.order_reports.append(
        order_report("V-1", OrderStatus.PARTIALLY_FILLED, client_order_id="O-123456", filled=5_000, avg_px="1.0")
    )
    h.client.fill_reports.append(fill_report("V-1", "T-1", 5_000))
    assert h.startup() is True
    order = h.cache.order(ClientOrderId("O-123456"))
    assert order is not None and order.status is OrderStatus.PARTIALLY_FILLED
    assert order.filled_qty == qty(5_000)
    assert order.trade_ids == [TradeId("T-1")]


def test_reconcile_state_no_cached_with_partially_filled_order_and_no_trade() -> None:
    h = Harness()
    h.client.order_reports.append(
        order_report("V-1", OrderStatus.PARTIALLY_FILLED, client_order_id="O-123456", filled=5_000, avg_px="1.0")
    )
    assert h.startup() is True
    order = h.cache.order(ClientOrderId("O-123456"))
    assert order is not None and order.status is OrderStatus.PARTIALLY_FILLED
    [fill] = fills_of(order)
    assert fill.last_qty == qty(5_000) and fill.last_px == px("1.0") and fill.reconciliation
    assert h.engine.inferred_fill_ts[ClientOrderId("O-123456")] == 0


def test_reconcile_state_no_cached_with_partially_filled_order_and_canceled() -> None:
    h = Harness()
    h.client.order_reports.append(
        order_report("V-1", OrderStatus.CANCELED, client_order_id="O-123456", filled=5_000, avg_px="1.0")
    )
    h.client.fill_reports.append(fill_report("V-1", "1", 5_000))
    assert h.startup() is True
    order = h.cache.order(ClientOrderId("O-123456"))
    assert order is not None and order.status is OrderStatus.CANCELED
    assert order.last_trade_id == TradeId("1")
    assert order.quantity == qty(10_000) and order.filled_qty == qty(5_000)
    kinds = [type(e) for e in order.events]
    assert kinds.index(OrderFilled) < kinds.index(OrderCanceled)


def test_expired_order_applies_fills_before_terminal_event() -> None:
    h = Harness()
    order = h.cached_order(
        "O-EXPIRE-001",
        quantity=10_000,
        venue_order_id="V-EXPIRE-001",
        tif=TimeInForce.GTD,
        expire_time_ns=10 * SECOND,
    )
    h.client.order_reports.append(
        order_report(
            "V-EXPIRE-001",
            OrderStatus.EXPIRED,
            client_order_id="O-EXPIRE-001",
            filled=3_000,
            avg_px="1.0",
            tif=TimeInForce.GTD,
            ts_last=10 * SECOND,
        )
    )
    h.client.fill_reports.append(fill_report("V-EXPIRE-001", "T-EXPIRE-001", 3_000, ts=5 * SECOND))
    assert h.startup() is True
    assert order.status is OrderStatus.EXPIRED
    assert order.filled_qty == qty(3_000)
    assert order.last_trade_id == TradeId("T-EXPIRE-001")


def test_reconciliation_orders_not_reprocessed_on_restart() -> None:
    h = Harness(instruments=(AUDUSD, BTCUSDT))
    order = h.cached_order(
        "O-RECON-1",
        side=SELL,
        quantity="0.00501",
        price=None,
        order_type=OrderType.MARKET,
        instrument=BTCUSDT,
        strategy_id=StrategyId("EXTERNAL"),
        tags=("RECONCILIATION",),
        venue_order_id="V-RECON-1",
    )
    h.fill(order, "0.00501", "50000.00")
    assert order.status is OrderStatus.FILLED and order.is_closed
    orders, positions, fills = len(h.cache.orders()), len(h.cache.positions()), len(fills_of(order))
    h.client.order_reports.append(
        order_report(
            "V-RECON-1",
            OrderStatus.FILLED,
            client_order_id="O-RECON-1",
            side=SELL,
            order_type=OrderType.MARKET,
            quantity="0.00501",
            filled="0.00502",  # even a different fill size must not bring a second inferred fill
            price=None,
            avg_px="50000",
            instrument_id=BTCUSDT.id,
            size_precision=6,
            price_precision=2,
        )
    )
    assert h.startup() is True
    assert len(h.cache.orders()) == orders and len(h.cache.positions()) == positions
    assert len(fills_of(order)) == fills == 1


def test_reconciliation_instrument_ids_filters_reports() -> None:
    h = Harness(LiveExecEngineConfig(reconciliation_instrument_ids=[AUDUSD.id]), instruments=(AUDUSD, GBPUSD))
    h.client.order_reports += [
        order_report("V-1", OrderStatus.ACCEPTED, client_order_id="included-order"),
        order_report("V-2", OrderStatus.ACCEPTED, client_order_id="filtered-order", instrument_id=GBPUSD.id),
    ]
    assert h.startup() is True
    assert [o.client_order_id for o in h.cache.orders()] == [ClientOrderId("included-order")]


def test_filtered_client_order_ids_filters_reports() -> None:
    h = Harness(LiveExecEngineConfig(filtered_client_order_ids=[ClientOrderId("filter-this-id")]))
    h.client.order_reports += [
        order_report("V-1", OrderStatus.ACCEPTED, client_order_id="included-order"),
        order_report("V-2", OrderStatus.ACCEPTED, client_order_id="filter-this-id"),
    ]
    assert h.startup() is True
    assert [o.client_order_id for o in h.cache.orders()] == [ClientOrderId("included-order")]


def test_external_order_filtered_when_filter_unclaimed_external_orders_enabled() -> None:
    h = Harness(LiveExecEngineConfig(filter_unclaimed_external_orders=True))
    h.client.order_reports.append(
        order_report(
            "EXTERNAL-ORDER-123",
            OrderStatus.FILLED,
            client_order_id="EXTERNAL-ORDER-123",
            filled=10_000,
            avg_px="1.0",
        )
    )
    assert h.startup() is True
    assert h.cache.orders() == []
    assert h.cache.positions() == []


def test_internal_diff_order_not_filtered_when_filter_unclaimed_external_orders_enabled() -> None:
    h = Harness(LiveExecEngineConfig(filter_unclaimed_external_orders=True))
    existing = h.position(100, "1.00000")
    h.client.position_reports.append(position_report(PositionSide.LONG, 150))
    assert h.startup() is True
    new = [o for o in h.cache.orders() if o.client_order_id != existing.client_order_id]
    assert len(new) == 1
    order = new[0]
    assert order.strategy_id == StrategyId("EXTERNAL") and order.tags == ("RECONCILIATION",)
    assert order.side is BUY and order.quantity == qty(50) and order.status is OrderStatus.FILLED
    assert h.open_qty() == Decimal(150)


def test_reconcile_order_report_with_missing_instrument_defers() -> None:
    h = Harness(instruments=())
    h.client.order_reports.append(order_report("V-1", OrderStatus.ACCEPTED, client_order_id="O-1"))
    assert h.startup() is True
    assert h.cache.orders() == []


def test_reconcile_existing_order_with_missing_instrument_defers() -> None:
    h = Harness(instruments=())
    init = OrderInitialized(
        trader_id=TRADER,
        strategy_id=STRATEGY,
        instrument_id=AUDUSD.id,
        client_order_id=ClientOrderId("O-1"),
        order_side=BUY,
        order_type=OrderType.LIMIT,
        quantity=qty(10_000),
        price=px("1.00000"),
        ts_event=0,
        ts_init=0,
    )
    order = Order(init)
    order.apply(OrderSubmitted(**_ident(order), account_id=ACCOUNT, ts_event=0, ts_init=0))
    order.apply(
        OrderAccepted(**_ident(order), venue_order_id=VenueOrderId("V-1"), account_id=ACCOUNT, ts_event=0, ts_init=0)
    )
    h.cache.add_order(order)
    h.client.order_reports.append(order_report("V-1", OrderStatus.CANCELED, client_order_id="O-1"))
    assert h.startup() is True
    assert order.status is OrderStatus.ACCEPTED


def test_reconciliation_with_no_clients_sets_event() -> None:
    h = Harness()

    async def run() -> tuple[bool, bool]:
        result = await h.engine.reconcile_execution_state([])
        return result, h.engine.startup_done.is_set()

    assert asyncio.run(run()) == (True, True)


def test_on_start_clears_reconciliation_event() -> None:
    h = Harness()

    async def run() -> list[bool]:
        seen = []
        await h.engine.reconcile_execution_state([h.client])
        seen.append(h.engine.startup_done.is_set())
        h.engine.on_start()
        seen.append(h.engine.startup_done.is_set())
        await h.engine.reconcile_execution_state([h.client])
        seen.append(h.engine.startup_done.is_set())
        return seen

    assert asyncio.run(run()) == [True, False, True]


def test_reconciliation_signal_set_when_mass_status_fails() -> None:
    h = Harness()
    h.client.mass_status_error = RuntimeError("venue down")

    async def run() -> tuple[bool, bool]:
        result = await h.engine.reconcile_execution_state([h.client])
        return result, h.engine.startup_done.is_set()

    assert asyncio.run(run()) == (False, True)


def test_reconciliation_disabled_does_not_block_continuous_loop() -> None:
    checks = pytest.importorskip("toolkit.live.checks")
    config = LiveExecEngineConfig(reconciliation=False, inflight_check_interval_ms=10)
    h = Harness(config)
    sleeps: list[float] = []

    async def run() -> None:
        stop = asyncio.Event()

        async def sleep(secs: float) -> None:
            sleeps.append(secs)
            stop.set()

        loop = checks.ContinuousChecks(h.engine, {"SIM": h.client}, config, h.clock, Logger("Checks", h.clock), sleep)
        # The startup signal is never set: a loop that waited for it would not return before the deadline.
        await asyncio.wait_for(loop.run(stop), timeout=5)

    asyncio.run(run())
    assert not h.engine.startup_done.is_set()
    assert sleeps  # the loop went straight to its first pause


# ---- B. startup and runtime: orders already cached ---------------------------------------------------------------


def test_order_state_discrepancy_reconciliation() -> None:
    h = Harness()
    order = h.cached_order("O-1", side=SELL, quantity=50_000, status=OrderStatus.SUBMITTED)
    h.client.order_reports.append(
        order_report(
            "V-1",
            OrderStatus.REJECTED,
            client_order_id="O-1",
            side=SELL,
            quantity=50_000,
            cancel_reason="INSUFFICIENT_MARGIN",
        )
    )
    assert h.startup() is True
    assert order.status is OrderStatus.REJECTED
    assert order.last_event.reason == "INSUFFICIENT_MARGIN"  # type: ignore[attr-defined]


def test_missed_fill_reconciliation_scenario() -> None:
    h = Harness()
    order = h.cached_order("O-1", quantity=100_000, venue_order_id="V-001")
    h.client.order_reports.append(
        order_report(
            "V-001",
            OrderStatus.PARTIALLY_FILLED,
            client_order_id="O-1",
            quantity=100_000,
            filled=50_000,
            avg_px="1.0",
        )
    )
    h.client.fill_reports.append(fill_report("V-001", "T-001", 50_000, "1.00000"))
    assert h.startup() is True
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.filled_qty == qty(50_000) and order.avg_px == Decimal("1.0")
    assert order.trade_ids == [TradeId("T-001")]


def test_concurrent_order_reconciliation() -> None:
    h = Harness()
    quantities = [10_000, 10_000, 30_000, 10_000, 10_000]
    orders = [h.cached_order(f"O-{i}", quantity=q, status=OrderStatus.SUBMITTED) for i, q in enumerate(quantities, 1)]
    h.client.order_reports += [
        order_report("V-1", OrderStatus.ACCEPTED, client_order_id="O-1"),
        order_report("V-2", OrderStatus.PARTIALLY_FILLED, client_order_id="O-2", filled=5_000, avg_px="1.0"),
        order_report("V-3", OrderStatus.FILLED, client_order_id="O-3", quantity=30_000, filled=30_000, avg_px="1.0"),
        order_report("V-4", OrderStatus.REJECTED, client_order_id="O-4", cancel_reason="NO"),
        order_report("V-5", OrderStatus.CANCELED, client_order_id="O-5"),
    ]
    assert h.startup() is True
    assert [o.status for o in orders] == [
        OrderStatus.ACCEPTED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.FILLED,
        OrderStatus.REJECTED,
        OrderStatus.CANCELED,
    ]
    assert orders[1].filled_qty == qty(5_000) and all(f.reconciliation for f in fills_of(orders[1]))
    assert orders[2].filled_qty == qty(30_000) and len(fills_of(orders[2])) == 1
    assert fills_of(orders[2])[0].reconciliation


def test_reconcile_order_without_client_order_id() -> None:
    h = Harness()
    order = h.cached_order("O-1", quantity=100, venue_order_id="V-123")
    h.client.order_reports.append(order_report("V-123", OrderStatus.PARTIALLY_FILLED, quantity=100, filled=50))
    assert h.startup() is True
    assert order.filled_qty == qty(50) and order.status is OrderStatus.PARTIALLY_FILLED
    [fill] = fills_of(order)
    assert fill.reconciliation and fill.last_px == px("1.00000")  # no avg_px: the report's price
    [mass] = [m for m in h.masses if VenueOrderId("V-123") in m.order_reports][:1]
    assert mass.order_reports[VenueOrderId("V-123")].client_order_id == ClientOrderId("O-1")
    assert len(h.cache.orders()) == 1


def test_reconciliation_validation_skips_non_reconciled_instruments() -> None:
    h = Harness()
    h.client.order_reports += [
        order_report("V-AUD", OrderStatus.FILLED, client_order_id="O-AUD", filled=10_000, avg_px="1.0"),
        order_report(
            "V-BTC",
            OrderStatus.FILLED,
            client_order_id="O-BTC",
            filled=1,
            avg_px="50000",
            instrument_id=BTCUSD_UNLOADED,
        ),
    ]
    assert h.startup() is True
    aud = h.cache.order(ClientOrderId("O-AUD"))
    assert aud is not None and aud.status is OrderStatus.FILLED
    assert h.cache.client_order_id_for(VenueOrderId("V-AUD")) == ClientOrderId("O-AUD")
    assert h.cache.order(ClientOrderId("O-BTC")) is None
    assert h.cache.client_order_id_for(VenueOrderId("V-BTC")) is None


# ---- the §2.1 flow -----------------------------------------------------------------------------------------------


def test_extra_position_pass_reconciles_cached_position_without_report() -> None:
    h = Harness()
    h.position(100)
    h.client.position_reports.append(position_report(PositionSide.LONG, 120))
    h.client.order_reports.append(order_report("V-X", OrderStatus.ACCEPTED, client_order_id="O-X"))
    # The mass status carries no position report for AUD/USD: hide it from the full query only.
    original = h.client.generate_position_status_reports

    async def only_targeted(instrument_id=None, start_ns=None, end_ns=None):  # type: ignore[no-untyped-def]
        if instrument_id is None:
            return []
        return await original(instrument_id, start_ns, end_ns)

    h.client.generate_position_status_reports = only_targeted  # type: ignore[method-assign]
    assert h.startup() is True
    assert h.client.position_queries == [AUDUSD.id]
    assert h.open_qty() == Decimal(120)


def test_extra_position_pass_query_failure_fails_startup() -> None:
    h = Harness()
    h.position(100)
    h.client.position_query_error = RuntimeError("timeout")

    async def none_in_mass(instrument_id=None, start_ns=None, end_ns=None):  # type: ignore[no-untyped-def]
        h.client.position_queries.append(instrument_id)
        if instrument_id is not None:
            raise RuntimeError("timeout")
        return []

    h.client.generate_position_status_reports = none_in_mass  # type: ignore[method-assign]
    assert h.startup() is False
    assert h.open_qty() == Decimal(100)


def test_lookback_is_passed_to_mass_status() -> None:
    h = Harness(LiveExecEngineConfig(reconciliation_lookback_mins=30))
    seen: list[int | None] = []
    original = h.client.generate_mass_status

    async def recording(lookback_mins=None):  # type: ignore[no-untyped-def]
        seen.append(lookback_mins)
        return await original(lookback_mins)

    h.client.generate_mass_status = recording  # type: ignore[method-assign]
    assert h.startup() is True
    assert seen == [30]


def test_restarted_startup_is_idempotent() -> None:
    """Running startup twice over the same venue state generates nothing the second time."""
    h = Harness()
    h.client.order_reports.append(
        order_report("V-1", OrderStatus.FILLED, client_order_id="O-1", filled=10_000, avg_px="1.0")
    )
    h.client.position_reports.append(position_report(PositionSide.LONG, 10_000, "1.0"))
    assert h.startup() is True
    counts = (len(h.cache.orders()), len(h.cache.positions()), h.open_qty())
    assert h.startup() is True
    assert (len(h.cache.orders()), len(h.cache.positions()), h.open_qty()) == counts == (1, 1, Decimal(10_000))


def test_partial_window_reconstructs_the_venue_position_at_startup() -> None:
    """A fresh node with a lookback that cut history: the fills in the window explain only part of the position."""
    h = Harness(LiveExecEngineConfig(reconciliation_lookback_mins=60))
    h.client.order_reports.append(order_report("V-1", OrderStatus.FILLED, quantity=100, filled=100, avg_px="1.20"))
    h.client.fill_reports.append(fill_report("V-1", "T-1", 100, "1.20000", ts=10))
    h.client.position_reports.append(position_report(PositionSide.LONG, 200, "1.22"))
    assert h.startup() is True
    [position] = h.cache.positions_open()
    assert position.signed_qty == Decimal(200) and position.avg_px_open == Decimal("1.22")
    assert len(h.cache.orders()) == 2
    assert h.startup() is True  # a restart over the same venue state adds nothing
    assert len(h.cache.orders()) == 2 and h.open_qty() == Decimal(200)
