"""Unit tests of the pure decisions of `toolkit.trading.order_manager` (no engine).

Orders come from a real `OrderFactory` bracket and are driven by hand-made events. Checked: which
list orders are held, that no cancel is asked for an order that is closed, pending cancel or never
sent (held orders are discarded locally instead), the exposure arithmetic that sizes OTO children,
PARTIAL vs FULL release, OCO/OUO fill reactions, and that a resize already asked for is not repeated.
"""

from __future__ import annotations

from collections.abc import Callable

from toolkit.core.clock import TestClock
from toolkit.model.enums import ContingencyType, LiquiditySide, OrderSide, TriggerMode
from toolkit.model.events import (
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderPendingCancel,
    OrderSubmitted,
)
from toolkit.model.identifiers import (
    AccountId,
    ClientOrderId,
    InstrumentId,
    StrategyId,
    TradeId,
    TraderId,
    VenueOrderId,
)
from toolkit.model.objects import Currency, Money, Price, Quantity
from toolkit.model.orders import Order, OrderList
from toolkit.trading.order_factory import OrderFactory
from toolkit.trading.order_manager import (
    Cancel,
    Discard,
    Release,
    Resize,
    cancel_action,
    closed_unfilled_actions,
    exposed_raw,
    fill_actions,
    held_children,
    resize_action,
    restored_actions,
    updated_actions,
)

IID = InstrumentId("USD/JPY.SIM")
ACCOUNT = AccountId("SIM-001")
JPY = Currency.from_str("JPY")
T0 = 1_704_067_200_000_000_000
_trades = iter(range(1, 10_000))


def q(n: int) -> Quantity:
    return Quantity.from_int(n)


def bracket(contingency: ContingencyType = ContingencyType.OUO) -> OrderList:
    factory = OrderFactory(TraderId("TESTER-001"), StrategyId("S-001"), TestClock(T0))
    return factory.bracket(
        IID,
        OrderSide.BUY,
        q(100),
        sl_trigger_price=Price.from_str("89.9"),
        tp_price=Price.from_str("90.1"),
        contingency_type=contingency,
    )


def _ident(order: Order) -> dict[str, object]:
    return {
        "trader_id": order.trader_id,
        "strategy_id": order.strategy_id,
        "instrument_id": order.instrument_id,
        "client_order_id": order.client_order_id,
        "ts_event": T0,
        "ts_init": T0,
    }


def accept(order: Order) -> Order:
    order.apply(OrderSubmitted(**_ident(order), account_id=ACCOUNT))  # type: ignore[arg-type]
    order.apply(OrderAccepted(**_ident(order), venue_order_id=VenueOrderId("V-1"), account_id=ACCOUNT))  # type: ignore[arg-type]
    return order


def fill(order: Order, units: int) -> Order:
    order.apply(
        OrderFilled(
            **_ident(order),  # type: ignore[arg-type]
            venue_order_id=VenueOrderId("V-1"),
            account_id=ACCOUNT,
            trade_id=TradeId(f"T-{next(_trades)}"),
            order_side=order.side,
            order_type=order.order_type,
            last_qty=q(units),
            last_px=Price.from_str("90.0"),
            currency=JPY,
            commission=Money.of(0, JPY),
            liquidity_side=LiquiditySide.TAKER,
        )
    )
    return order


def lookup_of(orders: OrderList) -> Callable[[ClientOrderId], Order | None]:
    by_id = {o.client_order_id: o for o in orders}
    return by_id.get


def test_held_children_are_the_otos_children() -> None:
    bl = bracket()
    _, sl, tp = bl.orders
    assert held_children(bl.orders, lambda _i: None) == {sl.client_order_id, tp.client_order_id}
    # A list of exits whose parent is already known (in the cache) holds them too.
    assert held_children([sl, tp], lookup_of(bl)) == {sl.client_order_id, tp.client_order_id}
    # Without any OTO parent nothing is held.
    assert held_children([sl, tp], lambda _i: None) == set()


def test_cancel_action_never_cancels_closed_pending_or_unsent_orders() -> None:
    _, sl, tp = bracket().orders
    assert cancel_action(sl, held={sl.client_order_id}) == Discard(sl.client_order_id)
    assert cancel_action(sl, held=set()) is None  # INITIALIZED and not held: never sent
    accept(sl)
    assert cancel_action(sl, held=set()) == Cancel(sl.client_order_id)
    sl.apply(OrderPendingCancel(**_ident(sl)))  # type: ignore[arg-type]
    assert cancel_action(sl, held=set()) is None
    sl.apply(OrderCanceled(**_ident(sl)))  # type: ignore[arg-type]
    assert cancel_action(sl, held=set()) is None
    fill(accept(tp), 100)
    assert cancel_action(tp, held=set()) is None


def test_exposure_is_parent_fills_less_children_fills() -> None:
    entry, sl, tp = bracket().orders
    fill(accept(entry), 60)
    fill(accept(tp), 20)
    accept(sl)
    assert exposed_raw(entry, [sl, tp]) == q(40).raw


def test_partial_mode_releases_on_first_fill_full_mode_on_full_fill() -> None:
    bl = bracket()
    entry, sl, tp = bl.orders
    held = {sl.client_order_id, tp.client_order_id}
    fill(accept(entry), 30)
    assert fill_actions(entry, lookup_of(bl), held, TriggerMode.PARTIAL, {}) == [Release(entry.client_order_id)]
    assert fill_actions(entry, lookup_of(bl), held, TriggerMode.FULL, {}) == []
    fill(entry, 70)
    assert fill_actions(entry, lookup_of(bl), held, TriggerMode.FULL, {}) == [Release(entry.client_order_id)]


def test_released_children_are_resized_to_the_exposure() -> None:
    bl = bracket()
    entry, sl, tp = bl.orders
    fill(accept(entry), 30)
    accept(sl)
    fill(accept(tp), 10)  # tp: qty 100, filled 10
    fill(entry, 50)  # entry filled 80 -> exposure 70
    actions = fill_actions(entry, lookup_of(bl), set(), TriggerMode.PARTIAL, {})
    assert actions == [Resize(sl.client_order_id, q(70)), Resize(tp.client_order_id, q(80))]
    # A resize already asked for is not repeated.
    pending = {sl.client_order_id: q(70), tp.client_order_id: q(80)}
    assert fill_actions(entry, lookup_of(bl), set(), TriggerMode.PARTIAL, pending) == []


def test_ouo_partial_fill_resizes_full_fill_cancels() -> None:
    bl = bracket()
    _, sl, tp = bl.orders
    accept(sl)
    fill(accept(tp), 40)
    assert fill_actions(tp, lookup_of(bl), set(), TriggerMode.PARTIAL, {}) == [Resize(sl.client_order_id, q(60))]
    fill(tp, 60)
    assert fill_actions(tp, lookup_of(bl), set(), TriggerMode.PARTIAL, {}) == [Cancel(sl.client_order_id)]


def test_oco_partial_fill_cancels() -> None:
    bl = bracket(ContingencyType.OCO)
    _, sl, tp = bl.orders
    accept(sl)
    fill(accept(tp), 1)
    assert fill_actions(tp, lookup_of(bl), set(), TriggerMode.PARTIAL, {}) == [Cancel(sl.client_order_id)]


def test_closed_unfilled_parent_discards_only_held_children() -> None:
    bl = bracket()
    entry, _, tp = bl.orders
    accept(entry).apply(OrderCanceled(**_ident(entry)))  # type: ignore[arg-type]
    assert closed_unfilled_actions(entry, lookup_of(bl), {tp.client_order_id}) == [Discard(tp.client_order_id)]


def test_canceled_exit_cancels_its_sibling_and_update_propagates_leaves() -> None:
    bl = bracket()
    _, sl, tp = bl.orders
    accept(sl)
    accept(tp)
    sl.quantity = q(50)  # as an OrderUpdated would leave it
    assert updated_actions(sl, lookup_of(bl), {}) == [Resize(tp.client_order_id, q(50))]
    sl.apply(OrderCanceled(**_ident(sl)))  # type: ignore[arg-type]
    assert closed_unfilled_actions(sl, lookup_of(bl), set()) == [Cancel(tp.client_order_id)]


def test_resize_action_skips_no_ops_and_sizes_below_the_fills() -> None:
    _, sl, _ = bracket().orders
    assert resize_action(sl, q(50).raw, {}) is None  # not sent yet
    fill(accept(sl), 30)
    assert resize_action(sl, q(100).raw, {}) is None  # unchanged
    assert resize_action(sl, q(30).raw, {}) is None  # would leave nothing to fill
    assert resize_action(sl, q(60).raw, {}) == Resize(sl.client_order_id, q(60))
    assert resize_action(sl, q(60).raw, {sl.client_order_id: q(60)}) is None


# ---- after a restart: the never-sent children among the restored orders ------------------------------------
def test_restored_children_of_a_waiting_parent_are_held_again() -> None:
    bl = bracket()
    entry, sl, tp = bl.orders
    accept(entry)
    for mode in (TriggerMode.PARTIAL, TriggerMode.FULL):
        assert restored_actions(bl.orders, lookup_of(bl), mode) == ({sl.client_order_id, tp.client_order_id}, [])


def test_restored_children_are_released_when_the_parent_filled_meanwhile() -> None:
    bl = bracket()
    entry, sl, tp = bl.orders
    fill(accept(entry), 40)  # a partial fill while the node was down
    held = {sl.client_order_id, tp.client_order_id}
    assert restored_actions(bl.orders, lookup_of(bl), TriggerMode.PARTIAL) == (held, [Release(entry.client_order_id)])
    assert restored_actions(bl.orders, lookup_of(bl), TriggerMode.FULL) == (held, [])  # FULL waits for the rest
    fill(entry, 60)
    assert restored_actions(bl.orders, lookup_of(bl), TriggerMode.FULL) == (held, [Release(entry.client_order_id)])


def test_restored_children_are_discarded_when_the_parent_closed_unfilled() -> None:
    bl = bracket()
    entry, sl, tp = bl.orders
    accept(entry).apply(OrderCanceled(**_ident(entry)))  # type: ignore[arg-type]
    held, actions = restored_actions(bl.orders, lookup_of(bl), TriggerMode.PARTIAL)
    assert held == {sl.client_order_id, tp.client_order_id}
    assert sorted(actions, key=str) == sorted([Discard(sl.client_order_id), Discard(tp.client_order_id)], key=str)


def test_sent_children_and_plain_orders_are_not_held_after_a_restart() -> None:
    bl = bracket()
    entry, sl, tp = bl.orders
    fill(accept(entry), 100)
    accept(sl)  # released before the restart: at the venue now
    assert restored_actions(bl.orders, lookup_of(bl), TriggerMode.PARTIAL) == (
        {tp.client_order_id},
        [Release(entry.client_order_id)],
    )
    assert restored_actions([entry], lookup_of(bl), TriggerMode.PARTIAL) == (set(), [])

