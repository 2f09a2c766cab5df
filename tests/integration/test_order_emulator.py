"""The order emulator on a real `BacktestEngine`: emulated orders stay off the venue until their trigger.

Each test builds a one-instrument backtest (USD/JPY.SIM, 3 decimals, tick 0.001, HEDGING, MARGIN account) fed
with hand-built quotes and trades, and a strategy that submits orders built directly from `OrderInitialized`
(the order factory does not take an emulation trigger yet) at given quote or trade indexes, records every
event it hears and can snapshot state from inside the run. The venue's own events are recorded separately,
which tells "reached the venue" from "handled locally".
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from _usdjpy import SEC, T0, USD, USDJPY

from toolkit.backtest.engine import BacktestEngine
from toolkit.engine import topics
from toolkit.model.data import QuoteTick, TradeTick
from toolkit.model.enums import (
    AccountType,
    AggressorSide,
    LiquiditySide,
    OmsType,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TrailingOffsetType,
    TriggerType,
)
from toolkit.model.events import (
    Event,
    OrderDenied,
    OrderEvent,
    OrderFilled,
    OrderInitialized,
    OrderReleased,
    OrderUpdated,
)
from toolkit.model.objects import Money, Price, Quantity
from toolkit.model.orders import Order
from toolkit.trading.config import StrategyConfig
from toolkit.trading.strategy import Strategy

BUY, SELL = OrderSide.BUY, OrderSide.SELL

IID = USDJPY.id


def quote(bid: str, ask: str, ts: int) -> QuoteTick:
    return QuoteTick.of(
        IID, Price.from_str(bid), Price.from_str(ask), Quantity.from_int(1_000_000), Quantity.from_int(1_000_000), ts
    )


def trade(price: str, ts: int) -> TradeTick:
    return TradeTick.of(IID, Price.from_str(price), Quantity.from_int(1_000_000), AggressorSide.BUYER, f"T-{ts}", ts)


Action = Callable[["Recorder"], None]


class Recorder(Strategy):
    """Runs actions at quote / trade indexes and records every event; `notes` keeps what actions observed."""

    def __init__(
        self,
        on_quote: dict[int, Action] | None = None,
        on_trade: dict[int, Action] | None = None,
        config: StrategyConfig | None = None,
    ) -> None:
        super().__init__(config or StrategyConfig(strategy_id="EMU-001"))
        self._on_quote = on_quote or {}
        self._on_trade = on_trade or {}
        self.quotes = self.trades = 0
        self.events: list[Event] = []
        self.orders: list[Order] = []
        self.notes: list[Any] = []

    def on_start(self) -> None:
        self.subscribe_quote_ticks(IID)
        self.subscribe_trade_ticks(IID)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        action = self._on_quote.get(self.quotes)
        self.quotes += 1
        if action is not None:
            action(self)

    def on_trade_tick(self, tick: TradeTick) -> None:
        action = self._on_trade.get(self.trades)
        self.trades += 1
        if action is not None:
            action(self)

    def on_event(self, event: Event) -> None:
        self.events.append(event)

    def emulated(
        self,
        order_type: OrderType,
        side: OrderSide,
        quantity: int,
        trigger: TriggerType = TriggerType.BID_ASK,
        **fields: Any,
    ) -> Order:
        now = self.clock.timestamp_ns()
        init = OrderInitialized(
            trader_id=self.trader_id,  # type: ignore[arg-type]
            strategy_id=self.strategy_id,
            instrument_id=IID,
            client_order_id=self.order_factory.next_client_order_id(),
            order_side=side,
            order_type=order_type,
            quantity=Quantity.from_int(quantity),
            emulation_trigger=trigger,
            ts_event=now,
            ts_init=now,
            **fields,
        )
        order = Order(init)
        self.orders.append(order)
        self.submit_order(order)
        return order

    def of(self, order: Order) -> list[OrderEvent]:
        return [e for e in self.events if isinstance(e, OrderEvent) and e.client_order_id == order.client_order_id]

    def names(self, order: Order) -> list[str]:
        return [type(e).__name__.removeprefix("Order") for e in self.of(order)]


class Run:
    def __init__(self, engine: BacktestEngine, strategy: Recorder, venue_events: list[Event]) -> None:
        self.engine = engine
        self.strategy = strategy
        self.venue_events = venue_events

    def venue_saw(self, order: Order) -> list[str]:
        return [
            type(e).__name__.removeprefix("Order")
            for e in self.venue_events
            if isinstance(e, OrderEvent) and e.client_order_id == order.client_order_id
        ]


def build(strategy: Recorder) -> tuple[BacktestEngine, list[Event]]:
    engine = BacktestEngine()
    exchange = engine.add_venue(
        IID.venue,
        OmsType.HEDGING,
        AccountType.MARGIN,
        [Money.of(1_000_000, USD)],
        base_currency=USD,
        default_leverage=Decimal(50),
    )
    venue_events: list[Event] = []
    forward = engine.kernel.exec_engine.process

    def tee(event: Event) -> None:
        venue_events.append(event)
        forward(event)  # type: ignore[arg-type]

    exchange.register_event_handler(tee)
    engine.add_instrument(USDJPY)
    engine.add_strategy(strategy)
    return engine, venue_events


def run(data: list[QuoteTick | TradeTick], strategy: Recorder) -> Run:
    engine, venue_events = build(strategy)
    engine.add_data(data)
    engine.run()
    return Run(engine, strategy, venue_events)


def p(text: str) -> Price:
    return Price.from_str(text)


def venue_state(s: Recorder, engine_ref: list[BacktestEngine]) -> tuple[int, OrderStatus, int]:
    """(orders resting at the venue, status of the first order, emulated orders in the cache)."""
    matching = engine_ref[0].exchanges[IID.venue].engines[IID]
    return len(matching.open_orders()), s.orders[0].status, len(s.cache.orders_with_status(OrderStatus.EMULATED))


def test_emulated_buy_stop_market_stays_off_the_venue_then_fills_as_market_at_the_ask() -> None:
    engine_ref: list[BacktestEngine] = []
    strategy = Recorder(
        on_quote={
            0: lambda s: s.emulated(OrderType.STOP_MARKET, BUY, 10_000, trigger_price=p("90.020")),
            1: lambda s: s.notes.append(venue_state(s, engine_ref)),
        }
    )
    engine, venue_events = build(strategy)
    engine_ref.append(engine)
    engine.add_data(
        [quote("90.000", "90.005", T0), quote("90.010", "90.019", T0 + SEC), quote("90.018", "90.022", T0 + 2 * SEC)]
    )
    engine.run()
    r = Run(engine, strategy, venue_events)
    order = strategy.orders[0]
    # Untriggered (ask 90.019 < 90.020): held locally, nothing at the venue, visible in the cache as EMULATED.
    assert strategy.notes == [(0, OrderStatus.EMULATED, 1)]
    assert strategy.names(order) == ["Emulated", "Released", "Submitted", "Filled"]
    released = next(e for e in strategy.of(order) if isinstance(e, OrderReleased))
    assert released.released_price == p("90.022") and released.ts_event == T0 + 2 * SEC
    fill = next(e for e in strategy.of(order) if isinstance(e, OrderFilled))
    assert fill.last_px == p("90.022") and fill.liquidity_side is LiquiditySide.TAKER
    assert fill.order_type is OrderType.MARKET and fill.ts_event == T0 + 2 * SEC
    # One order, one id: the strategy's object is the cached one, now a MARKET order.
    assert engine.kernel.cache.order(order.client_order_id) is order
    assert order.order_type is OrderType.MARKET and order.status is OrderStatus.FILLED
    assert r.venue_saw(order) == ["Filled"]
    assert engine.kernel.emulator.orders() == []


def test_emulated_sell_trailing_stop_trails_the_bid_up_then_releases() -> None:
    """Spec §3.7: activation 15.000, offset 1.0; bids 13 -> inactive, 15.5 -> 14.5, 16.5 -> 15.5, 16.0 same, 15.0."""
    strategy = Recorder(
        on_quote={
            0: lambda s: s.emulated(
                OrderType.TRAILING_STOP_MARKET,
                SELL,
                10_000,
                activation_price=p("15.000"),
                trailing_offset=Decimal("1.0"),
                trailing_offset_type=TrailingOffsetType.PRICE,
            ),
            **{i: (lambda s: s.notes.append(s.orders[0].trigger_price)) for i in range(1, 5)},
        }
    )
    bids = ["13.000", "15.500", "16.500", "16.000", "15.000"]
    data = [quote(b, str(Decimal(b) + 1), T0 + i * SEC) for i, b in enumerate(bids)]
    r = run(data, strategy)
    order = strategy.orders[0]
    # Trigger seen by the strategy on quotes 1..4 (the emulator handles each quote before strategies do).
    assert strategy.notes == [p("14.500"), p("15.500"), p("15.500"), p("15.500")]
    updates = [e.trigger_price for e in strategy.of(order) if isinstance(e, OrderUpdated)]
    assert updates == [p("14.500"), p("15.500")]
    assert strategy.names(order) == ["Emulated", "Updated", "Updated", "Released", "Submitted", "Filled"]
    fill = strategy.of(order)[-1]
    assert isinstance(fill, OrderFilled)
    assert fill.last_px == p("15.000") and fill.liquidity_side is LiquiditySide.TAKER and fill.ts_event == T0 + 4 * SEC
    assert r.venue_saw(order) == ["Filled"]


def _mit(trigger: TriggerType) -> Recorder:
    return Recorder(
        on_quote={
            0: lambda s: s.emulated(OrderType.MARKET_IF_TOUCHED, SELL, 10_000, trigger, trigger_price=p("90.050"))
        },
        on_trade={0: lambda s: s.notes.append(s.orders[0].status)},
    )


MIT_DATA = [quote("90.060", "90.065", T0), trade("90.040", T0 + SEC), trade("90.050", T0 + 2 * SEC)]


def test_emulated_mit_on_last_price_ignores_quotes_and_releases_on_the_touching_trade() -> None:
    strategy = _mit(TriggerType.LAST_PRICE)
    r = run(MIT_DATA, strategy)
    order = strategy.orders[0]
    # The bid (90.060) is through the trigger, but LAST_PRICE reads trades: 90.040 does not touch, 90.050 does.
    assert strategy.notes == [OrderStatus.EMULATED]
    released = next(e for e in strategy.of(order) if isinstance(e, OrderReleased))
    assert released.released_price == p("90.050") and released.ts_event == T0 + 2 * SEC
    assert order.status is OrderStatus.FILLED and order.order_type is OrderType.MARKET
    fill = strategy.of(order)[-1]
    assert isinstance(fill, OrderFilled) and fill.ts_event == T0 + 2 * SEC
    # A market SELL at the venue's bid of that moment (the last data point, so still the book's bid now).
    assert fill.last_px == r.engine.exchanges[IID.venue].engines[IID].best_bid_price()
    assert fill.liquidity_side is LiquiditySide.TAKER
    assert r.venue_saw(order) == ["Filled"]


def test_same_mit_on_bid_ask_releases_on_the_first_quote() -> None:
    strategy = _mit(TriggerType.BID_ASK)
    run(MIT_DATA, strategy)
    order = strategy.orders[0]
    released = next(e for e in strategy.of(order) if isinstance(e, OrderReleased))
    assert released.released_price == p("90.060") and released.ts_event == T0
    assert order.status is OrderStatus.FILLED


def test_emulated_order_canceled_locally_never_reaches_the_venue() -> None:
    def cancel(s: Recorder) -> None:
        s.cancel_order(s.orders[0])

    strategy = Recorder(
        on_quote={
            0: lambda s: s.emulated(OrderType.STOP_LIMIT, BUY, 10_000, price=p("90.030"), trigger_price=p("90.020")),
            1: cancel,
        }
    )
    data = [quote("90.000", "90.005", T0), quote("90.001", "90.006", T0 + SEC), quote("90.020", "90.025", T0 + 2 * SEC)]
    r = run(data, strategy)
    order = strategy.orders[0]
    assert strategy.names(order) == ["Emulated", "Canceled"]  # no PendingCancel: nothing to wait for
    assert order.status is OrderStatus.CANCELED and order.order_type is OrderType.STOP_LIMIT
    assert r.venue_saw(order) == []
    assert r.engine.exchanges[IID.venue].engines[IID].order(order.client_order_id) is None
    emulator = r.engine.kernel.emulator
    assert emulator.orders() == [] and emulator.released_count == 0
    assert not r.engine.kernel.msgbus.is_subscribed(topics.quotes_topic(IID), emulator._on_quote)


def test_emulated_modify_is_local_and_the_new_trigger_applies() -> None:
    strategy = Recorder(
        on_quote={
            0: lambda s: s.emulated(OrderType.STOP_MARKET, BUY, 10_000, trigger_price=p("90.050")),
            1: lambda s: s.modify_order(s.orders[0], trigger_price=p("90.010")),
        }
    )
    data = [quote("90.000", "90.005", T0), quote("90.001", "90.006", T0 + SEC), quote("90.005", "90.010", T0 + 2 * SEC)]
    r = run(data, strategy)
    order = strategy.orders[0]
    assert strategy.names(order) == ["Emulated", "Updated", "Released", "Submitted", "Filled"]
    assert order.trigger_price == p("90.010") and order.avg_px == Decimal("90.010")
    assert r.venue_saw(order) == ["Filled"]


def test_emulated_sell_trailing_stop_with_basis_points_offset() -> None:
    # bid 100.030 - 25 bp (0.250075) = 99.779925 -> 99.779 (rounded down, away from the market);
    # bid 100.130 - 0.250325 = 99.879675 -> 99.879; bid 99.870 <= 99.879 -> released.
    strategy = Recorder(
        on_quote={
            0: lambda s: s.emulated(
                OrderType.TRAILING_STOP_MARKET,
                SELL,
                10_000,
                trailing_offset=Decimal("25"),
                trailing_offset_type=TrailingOffsetType.BASIS_POINTS,
            )
        }
    )
    data = [
        quote("100.030", "100.040", T0),
        quote("100.130", "100.140", T0 + SEC),
        quote("99.870", "99.880", T0 + 2 * SEC),
    ]
    run(data, strategy)
    order = strategy.orders[0]
    updates = [e.trigger_price for e in strategy.of(order) if isinstance(e, OrderUpdated)]
    assert updates == [p("99.779"), p("99.879")]
    assert order.status is OrderStatus.FILLED and order.avg_px == Decimal("99.870")


def test_emulated_buy_trailing_stop_limit_with_tick_offsets_releases_a_limit() -> None:
    # ask 100.050: trigger +5 ticks = 100.055, limit +10 ticks = 100.060; ask 100.000: 100.005 / 100.010;
    # ask 100.010 >= 100.005 -> released as a LIMIT at 100.010, marketable at the venue.
    strategy = Recorder(
        on_quote={
            0: lambda s: s.emulated(
                OrderType.TRAILING_STOP_LIMIT,
                BUY,
                10_000,
                trailing_offset=Decimal("5"),
                limit_offset=Decimal("10"),
                trailing_offset_type=TrailingOffsetType.TICKS,
            )
        }
    )
    data = [
        quote("100.040", "100.050", T0),
        quote("99.990", "100.000", T0 + SEC),
        quote("100.000", "100.010", T0 + 2 * SEC),
    ]
    r = run(data, strategy)
    order = strategy.orders[0]
    updates = [(e.trigger_price, e.price) for e in strategy.of(order) if isinstance(e, OrderUpdated)]
    assert updates == [(p("100.055"), p("100.060")), (p("100.005"), p("100.010"))]
    released = next(e for e in strategy.of(order) if isinstance(e, OrderReleased))
    assert released.released_price == p("100.010")
    assert order.order_type is OrderType.LIMIT and order.price == p("100.010")
    assert order.status is OrderStatus.FILLED and order.avg_px == Decimal("100.010")
    assert r.venue_saw(order)[-1] == "Filled"


def test_gtd_emulated_order_expires_locally_on_the_kernel_clock() -> None:
    expire = T0 + 1_500_000_000
    strategy = Recorder(
        on_quote={
            0: lambda s: s.emulated(
                OrderType.STOP_MARKET,
                BUY,
                10_000,
                trigger_price=p("90.050"),
                time_in_force=TimeInForce.GTD,
                expire_time_ns=expire,
            )
        }
    )
    data = [quote("90.000", "90.005", T0), quote("90.001", "90.006", T0 + SEC), quote("90.060", "90.065", T0 + 2 * SEC)]
    r = run(data, strategy)
    order = strategy.orders[0]
    assert strategy.names(order) == ["Emulated", "Expired"]
    assert strategy.of(order)[-1].ts_event == expire
    assert r.venue_saw(order) == []


def test_stop_cancels_emulated_orders_with_an_event_only_when_configured() -> None:
    data = [quote("90.000", "90.005", T0), quote("90.001", "90.006", T0 + SEC)]

    def submit(s: Recorder) -> None:
        s.emulated(OrderType.STOP_MARKET, BUY, 10_000, trigger_price=p("90.050"))

    canceling = Recorder(on_quote={0: submit})
    run(data, canceling)
    assert canceling.names(canceling.orders[0]) == ["Emulated", "Canceled"]

    keeping = Recorder(on_quote={0: submit}, config=StrategyConfig(strategy_id="EMU-002", cancel_orders_on_stop=False))
    r = run(data, keeping)
    assert keeping.names(keeping.orders[0]) == ["Emulated"]
    assert r.engine.kernel.emulator.orders() == [keeping.orders[0]]


def test_market_order_with_emulation_trigger_is_denied() -> None:
    strategy = Recorder(on_quote={0: lambda s: s.emulated(OrderType.MARKET, BUY, 10_000)})
    r = run([quote("90.000", "90.005", T0)], strategy)
    order = strategy.orders[0]
    assert order.status is OrderStatus.DENIED
    denied = strategy.of(order)[-1]
    assert isinstance(denied, OrderDenied) and "cannot be emulated" in denied.reason
    assert r.venue_saw(order) == []
