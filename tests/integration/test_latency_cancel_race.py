"""A cancel sent before the market trades through a resting limit, but arriving after, loses the race.

USD/JPY.SIM quotes one second apart. At 0 s the strategy sends BUY LIMIT 100,000 @ 90.000 (ask 90.005);
it reaches the venue at the 1 s quote (insert latency 1 ms) and is ACCEPTED, and the strategy at once asks
to cancel it. At 2 s the ask drops to 89.995, through the limit. With a 2 s cancel latency the cancel
arrives at 3.001 s, is applied at the 4 s settle and finds the order FILLED: the venue rejects it and the
strategy hears `on_order_cancel_rejected`. With no cancel latency the same script cancels the order at
1 s, before the market moves (the control case, so the outcome is the latency's doing).
"""

from __future__ import annotations

from decimal import Decimal

from toolkit.backtest.engine import BacktestEngine
from toolkit.backtest.models import LatencyModel
from toolkit.model.data import QuoteTick
from toolkit.model.enums import AccountType, LiquiditySide, OmsType, OrderSide, OrderStatus
from toolkit.model.events import Event, OrderAccepted, OrderCancelRejected, OrderEvent, OrderFilled
from toolkit.model.identifiers import InstrumentId
from toolkit.model.instruments import CurrencyPair
from toolkit.model.objects import Currency, Money, Price, Quantity
from toolkit.model.orders import Order
from toolkit.trading.config import StrategyConfig
from toolkit.trading.strategy import Strategy

USD = Currency.from_str("USD")
JPY = Currency.from_str("JPY")
T0 = 1_704_067_200_000_000_000
SEC = 1_000_000_000
MS = 1_000_000

USDJPY = CurrencyPair(
    id=InstrumentId("USD/JPY.SIM"),
    base_currency=USD,
    quote_currency=JPY,
    settlement_currency=JPY,
    price_precision=3,
    size_precision=0,
    price_increment=Price.from_str("0.001"),
    size_increment=Quantity.from_int(1),
    maker_fee=Decimal("0.00002"),
    taker_fee=Decimal("0.00002"),
)


def quote(bid: str, ask: str, ts: int) -> QuoteTick:
    size = Quantity.from_int(100_000)
    return QuoteTick.of(USDJPY.id, Price.from_str(bid), Price.from_str(ask), size, size, ts)


QUOTES = [
    quote("90.002", "90.005", T0),
    quote("90.002", "90.005", T0 + SEC),
    quote("89.990", "89.995", T0 + 2 * SEC),  # trades through the 90.000 limit
    quote("89.990", "89.995", T0 + 4 * SEC),
]


class CancelOnAccept(Strategy):
    """Sends the limit on the first quote and a cancel as soon as the venue accepts it."""

    def __init__(self) -> None:
        super().__init__(StrategyConfig(strategy_id="RACE-001"))
        self.order: Order | None = None
        self.events: list[OrderEvent] = []
        self.cancel_rejected: list[OrderCancelRejected] = []

    def on_start(self) -> None:
        self.subscribe_quote_ticks(USDJPY.id)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        if self.order is None:
            self.order = self.order_factory.limit(
                USDJPY.id, OrderSide.BUY, Quantity.from_int(100_000), Price.from_str("90.000")
            )
            self.submit_order(self.order)

    def on_order_cancel_rejected(self, event: OrderCancelRejected) -> None:
        self.cancel_rejected.append(event)

    def on_event(self, event: Event) -> None:
        if isinstance(event, OrderEvent):
            self.events.append(event)  # recorded first, so the timeline keeps the order things happened in
        if isinstance(event, OrderAccepted) and self.order is not None:
            self.cancel_order(self.order)


def run(latency: LatencyModel) -> CancelOnAccept:
    engine = BacktestEngine()
    engine.add_venue(
        "SIM", OmsType.NETTING, AccountType.MARGIN, [Money.of(1_000_000, USD)], base_currency=USD, latency_model=latency
    )
    engine.add_instrument(USDJPY)
    engine.add_data(QUOTES)
    strategy = CancelOnAccept()
    engine.add_strategy(strategy)
    engine.run()
    return strategy


def timeline(strategy: CancelOnAccept) -> list[tuple[str, int]]:
    return [(type(e).__name__.removeprefix("Order"), e.ts_event - T0) for e in strategy.events]


def test_cancel_arriving_after_the_fill_is_rejected_and_the_order_stays_filled() -> None:
    strategy = run(LatencyModel(base_latency_ns=0, insert_latency_ns=MS, cancel_latency_ns=2 * SEC))
    order = strategy.order
    assert order is not None
    assert order.status is OrderStatus.FILLED
    assert timeline(strategy) == [
        ("Submitted", 0),
        ("Accepted", SEC),  # the submit arrived at 1 ms: applied at the next settle, 1 s
        ("PendingCancel", SEC),  # the cancel leaves at 1 s, before the market moves...
        ("Filled", 2 * SEC),  # ...the ask drops through the limit at 2 s: filled at the limit, as maker
        ("CancelRejected", 4 * SEC),  # ...the cancel arrives at 3.001 s, applied at the 4 s settle
    ]
    fill = next(e for e in strategy.events if isinstance(e, OrderFilled))
    assert (fill.last_px, fill.last_qty, fill.liquidity_side) == (
        Price.from_str("90.000"),
        Quantity.from_int(100_000),
        LiquiditySide.MAKER,
    )
    assert len(strategy.cancel_rejected) == 1
    assert strategy.cancel_rejected[0].client_order_id == order.client_order_id


def test_control_the_same_cancel_without_latency_cancels_before_the_market_moves() -> None:
    strategy = run(LatencyModel(base_latency_ns=0, insert_latency_ns=MS, cancel_latency_ns=0))
    order = strategy.order
    assert order is not None
    assert order.status is OrderStatus.CANCELED
    assert timeline(strategy) == [("Submitted", 0), ("Accepted", SEC), ("PendingCancel", SEC), ("Canceled", SEC)]
    assert strategy.cancel_rejected == []
