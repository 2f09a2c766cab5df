"""After a restart, a strategy that manages its brackets (or GTD expiry) takes up the orders the node restored.

The cache is filled before the strategy starts, as a live node's restore fills it: a bracket (BUY 100,000
USD/JPY.SIM entry, stop-loss and take-profit) whose entry was accepted, and possibly filled, while the node
was down; its exits were held by the strategy and never sent. At start the strategy's order manager holds
them again, sends them at once when the entry had filled (the restored position already holds the fill),
or cancels them locally when the entry closed without a fill.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from _usdjpy import JPY, T0, USD, USDJPY, quote

from tests.integration.test_live_node import node_config
from toolkit.backtest.engine import BacktestEngine
from toolkit.live.config import node_config_from_dict
from toolkit.live.node import TradingNode
from toolkit.model.commands import SubmitOrder
from toolkit.model.enums import AccountType, LiquiditySide, OmsType, OrderSide, OrderStatus, TimeInForce
from toolkit.model.events import (
    OrderAccepted,
    OrderCanceled,
    OrderEvent,
    OrderFilled,
    OrderSubmitted,
)
from toolkit.model.identifiers import AccountId, PositionId, TradeId, VenueOrderId
from toolkit.model.objects import Money, Price, Quantity
from toolkit.model.orders import Order, OrderList
from toolkit.trading.config import StrategyConfig
from toolkit.trading.strategy import Strategy

ACCOUNT = AccountId("SIM-001")
POSITION = PositionId("USD/JPY.SIM-BRACKETS-001")
SIZE = Quantity.from_int(100_000)


class Brackets(Strategy):
    """Manages its bracket's exits itself; notes the order events it hears."""

    def __init__(self) -> None:
        super().__init__(StrategyConfig(strategy_id="BRACKETS-001", manage_contingent_orders=True))
        self.events: list[OrderEvent] = []

    def on_order_event(self, event: OrderEvent) -> None:
        self.events.append(event)


def identity(order: Order, ts: int) -> dict[str, object]:
    """The fields every event of `order` carries, stamped `ts`."""
    return {
        "trader_id": order.trader_id,
        "strategy_id": order.strategy_id,
        "instrument_id": order.instrument_id,
        "client_order_id": order.client_order_id,
        "ts_event": ts,
        "ts_init": ts,
    }


def restored_bracket(strategy: Brackets, engine: BacktestEngine, entry_events: str) -> OrderList:
    """The bracket as the node's restore leaves it: the entry with its events, the exits INITIALIZED."""
    bracket = strategy.order_factory.bracket(
        USDJPY.id,
        OrderSide.BUY,
        SIZE,
        sl_trigger_price=Price.from_str("89.000"),
        tp_price=Price.from_str("91.000"),
    )
    entry = bracket.first
    ident = identity(entry, T0 - 1)
    entry.apply(OrderSubmitted(**ident, account_id=ACCOUNT))  # type: ignore[arg-type]
    entry.apply(OrderAccepted(**ident, venue_order_id=VenueOrderId("V-1"), account_id=ACCOUNT))  # type: ignore[arg-type]
    if entry_events == "filled":
        entry.apply(
            OrderFilled(
                **ident,  # type: ignore[arg-type]
                venue_order_id=VenueOrderId("V-1"),
                account_id=ACCOUNT,
                trade_id=TradeId("T-1"),
                order_side=OrderSide.BUY,
                order_type=entry.order_type,
                last_qty=SIZE,
                last_px=Price.from_str("90.004"),
                currency=JPY,
                commission=Money.of(180, JPY),
                liquidity_side=LiquiditySide.TAKER,
                position_id=POSITION,
            )
        )
        entry.set_position_id(POSITION)
    elif entry_events == "canceled":
        entry.apply(OrderCanceled(**ident, venue_order_id=VenueOrderId("V-1"), account_id=ACCOUNT))  # type: ignore[arg-type]
    for order in bracket:
        engine.cache.add_order(order)
    engine.kernel.exec_engine.restore_positions([entry])
    return bracket


def run(entry_events: str) -> tuple[Brackets, Order, Order, BacktestEngine]:
    engine = BacktestEngine()
    engine.add_venue("SIM", OmsType.NETTING, AccountType.MARGIN, [Money.of(1_000_000, USD)], base_currency=USD)
    engine.add_instrument(USDJPY)
    engine.add_data([quote("90.000", "90.004", T0), quote("90.000", "90.004", T0 + 1_000_000_000)])
    strategy = Brackets()
    engine.add_strategy(strategy)
    _, sl, tp = restored_bracket(strategy, engine, entry_events).orders
    engine.run()
    return strategy, sl, tp, engine


def test_exits_of_an_entry_filled_while_down_are_sent_at_start() -> None:
    strategy, sl, tp, engine = run("filled")
    submitted = [e.client_order_id for e in strategy.events if isinstance(e, OrderSubmitted)]
    assert submitted == [sl.client_order_id, tp.client_order_id]
    for exit_order in (sl, tp):
        assert exit_order.status is not OrderStatus.INITIALIZED
        assert exit_order.quantity == SIZE and exit_order.position_id == POSITION
    assert engine.cache.position(POSITION) is not None


def test_exits_of_a_working_entry_stay_held() -> None:
    strategy, sl, tp, _ = run("accepted")
    assert [e for e in strategy.events if e.client_order_id in (sl.client_order_id, tp.client_order_id)] == []
    assert (sl.status, tp.status) == (OrderStatus.INITIALIZED, OrderStatus.INITIALIZED)
    assert strategy.order_manager is not None
    assert strategy.order_manager.held == {sl.client_order_id, tp.client_order_id}


def test_exits_of_an_entry_canceled_while_down_are_canceled_locally() -> None:
    strategy, sl, tp, _ = run("canceled")
    assert (sl.status, tp.status) == (OrderStatus.CANCELED, OrderStatus.CANCELED)
    assert not any(isinstance(e, OrderSubmitted) for e in strategy.events)
    assert strategy.order_manager is not None and strategy.order_manager.held == set()


def test_the_node_persists_held_exits_before_their_entry_is_sent(tmp_path: Path) -> None:
    # The exits never reach the venue while held, so they must be durable with the entry's submit, or a restart
    # would lose them (and the entry's fill would leave an unprotected position).
    database = {"type": "sqlite", "path": str(tmp_path / "cache.db")}
    config = node_config_from_dict(node_config(tmp_path, cache={"database": database}), source="test")
    node = TradingNode(config, source="test", snapshot_path=tmp_path / "snap")
    try:
        node._open_database()
        strategy = Brackets()
        strategy.register_base(
            node.trader_id, node.clock, node.kernel.msgbus, node.cache, node.kernel.portfolio, node.kernel.data_engine
        )
        bracket = strategy.order_factory.bracket(
            USDJPY.id, OrderSide.BUY, SIZE, sl_trigger_price=Price.from_str("89.000"), tp_price=Price.from_str("91.000")
        )
        for order in bracket:
            node.cache.add_order(order)
        entry = bracket.first
        submit = SubmitOrder(
            trader_id=entry.trader_id,
            strategy_id=entry.strategy_id,
            instrument_id=entry.instrument_id,
            order=entry,
            ts_init=T0,
        )
        asyncio.run(node._persist_before_send(submit))
        assert node.database is not None and node.database.flush(5.0)
        state = node.database.load()
    finally:
        node.dispose()
    stored = {str(events[0].client_order_id): type(events[0]).__name__ for events, _ in state.orders}
    assert stored == {str(o.client_order_id): "OrderInitialized" for o in bracket}


class ManagesExpiry(Strategy):
    def __init__(self) -> None:
        super().__init__(StrategyConfig(strategy_id="GTD-001", manage_gtd_expiry=True))
        self.events: list[OrderEvent] = []

    def on_order_event(self, event: OrderEvent) -> None:
        self.events.append(event)


def test_a_restored_gtd_order_past_its_expiry_is_canceled_at_start() -> None:
    engine = BacktestEngine()
    engine.add_venue("SIM", OmsType.NETTING, AccountType.MARGIN, [Money.of(1_000_000, USD)], base_currency=USD)
    engine.add_instrument(USDJPY)
    engine.add_data([quote("90.000", "90.004", T0)])
    strategy = ManagesExpiry()
    engine.add_strategy(strategy)
    order = strategy.order_factory.limit(
        USDJPY.id, OrderSide.BUY, SIZE, Price.from_str("89.000"), time_in_force=TimeInForce.GTD, expire_time_ns=T0 - 1
    )
    ident = identity(order, T0 - 2)
    order.apply(OrderSubmitted(**ident, account_id=ACCOUNT))  # type: ignore[arg-type]
    order.apply(OrderAccepted(**ident, venue_order_id=VenueOrderId("V-9"), account_id=ACCOUNT))  # type: ignore[arg-type]
    engine.cache.add_order(order)
    engine.run()
    # Its alert fired at once (the expiry is past): the strategy asked the venue to cancel it.
    assert [type(e).__name__ for e in strategy.events][:1] == ["OrderPendingCancel"]
