"""Unit tests of the order state machine (`toolkit.model.orders`, venue spec §9).

Every (starting status, event type) pair is applied to a fresh order driven into that status by a
legal path of events: legal moves land on the status of the spec's table (or go back to the status
before PENDING_UPDATE / PENDING_CANCEL), illegal ones raise `InvalidStateTransition` naming both
states and leave the order exactly as it was. The expected table is written out here from the
spec, independently of `LEGAL_TRANSITIONS`, and the two are compared.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from decimal import Decimal

import pytest

from toolkit.model.enums import LiquiditySide, OrderSide, OrderStatus, OrderType, TimeInForce
from toolkit.model.events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderEmulated,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderInitialized,
    OrderModifyRejected,
    OrderPendingCancel,
    OrderPendingUpdate,
    OrderRejected,
    OrderReleased,
    OrderSubmitted,
    OrderTriggered,
    OrderUpdated,
)
from toolkit.model.identifiers import (
    AccountId,
    ClientOrderId,
    InstrumentId,
    PositionId,
    StrategyId,
    TradeId,
    TraderId,
    VenueOrderId,
)
from toolkit.model.objects import Currency, Money, Price, Quantity
from toolkit.model.orders import LEGAL_TRANSITIONS, InvalidStateTransition, Order

S = OrderStatus
USD = Currency.from_str("USD")
TRADER = TraderId("TESTER-000")
STRATEGY = StrategyId("S-001")
INSTRUMENT = InstrumentId("AUD/USD.SIM")
COID = ClientOrderId("O-1")
ACCOUNT = AccountId("SIM-001")
VENUE_ORDER = VenueOrderId("V-1")
QUANTITY = 100
PARTIAL = 10

# ---- the spec's table (§9), written out independently of the implementation ---------------------------
SPEC_TABLE: dict[OrderStatus, set[OrderStatus]] = {
    S.INITIALIZED: {
        S.DENIED,
        S.SUBMITTED,
        S.EMULATED,
        S.RELEASED,
        S.REJECTED,
        S.ACCEPTED,
        S.CANCELED,
        S.EXPIRED,
        S.TRIGGERED,
    },
    S.EMULATED: {S.CANCELED, S.EXPIRED, S.RELEASED},
    S.RELEASED: {S.DENIED, S.SUBMITTED, S.CANCELED},
    S.SUBMITTED: {S.ACCEPTED, S.REJECTED, S.CANCELED, S.PARTIALLY_FILLED, S.FILLED, S.PENDING_UPDATE, S.PENDING_CANCEL},
    S.ACCEPTED: {
        S.TRIGGERED,
        S.PARTIALLY_FILLED,
        S.FILLED,
        S.CANCELED,
        S.EXPIRED,
        S.REJECTED,
        S.PENDING_UPDATE,
        S.PENDING_CANCEL,
    },
    S.TRIGGERED: {S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED, S.REJECTED, S.PENDING_UPDATE, S.PENDING_CANCEL},
    S.PENDING_UPDATE: {
        S.ACCEPTED,
        S.CANCELED,
        S.EXPIRED,
        S.TRIGGERED,
        S.REJECTED,
        S.PARTIALLY_FILLED,
        S.FILLED,
        S.PENDING_UPDATE,
        S.PENDING_CANCEL,
    },
    S.PENDING_CANCEL: {S.CANCELED, S.ACCEPTED, S.EXPIRED, S.REJECTED, S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL},
    S.PARTIALLY_FILLED: {S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED, S.PENDING_UPDATE, S.PENDING_CANCEL},
    S.CANCELED: {S.PARTIALLY_FILLED, S.FILLED},
    S.DENIED: set(),
    S.REJECTED: set(),
    S.EXPIRED: set(),
    S.FILLED: set(),
}
TERMINAL = {S.DENIED, S.REJECTED, S.EXPIRED, S.FILLED}
# Closed statuses: events that keep the status (updates, modify/cancel rejections) are illegal there.
CLOSED = TERMINAL | {S.CANCELED}


# ---- event builders ------------------------------------------------------------------------------------
_ts = itertools.count(1_000)
_trade_ids = itertools.count(1)


def _ident() -> dict:
    ts = next(_ts)
    return {
        "trader_id": TRADER,
        "strategy_id": STRATEGY,
        "instrument_id": INSTRUMENT,
        "client_order_id": COID,
        "ts_event": ts,
        "ts_init": ts,
    }


def new_order(quantity: int = QUANTITY) -> Order:
    init = OrderInitialized(
        **_ident(),
        order_side=OrderSide.BUY,
        order_type=OrderType.STOP_LIMIT,
        quantity=Quantity.from_int(quantity),
        time_in_force=TimeInForce.GTC,
        price=Price.from_str("1.00010"),
        trigger_price=Price.from_str("1.00020"),
    )
    return Order(init)


def fill(
    order: Order,
    qty: int,
    px: str = "1.00010",
    *,
    trade_id: str | None = None,
    position_id: PositionId | None = None,
    venue_order_id: VenueOrderId = VENUE_ORDER,
    account_id: AccountId = ACCOUNT,
) -> OrderFilled:
    return OrderFilled(
        **_ident(),
        venue_order_id=venue_order_id,
        account_id=account_id,
        trade_id=TradeId(trade_id or f"T-{next(_trade_ids)}"),
        order_side=order.side,
        order_type=order.order_type,
        last_qty=Quantity.from_int(qty),
        last_px=Price.from_str(px),
        currency=USD,
        commission=Money.of("0.10", USD),
        liquidity_side=LiquiditySide.TAKER,
        position_id=position_id,
    )


def partial_fill(order: Order) -> OrderFilled:
    return fill(order, PARTIAL)


def full_fill(order: Order) -> OrderFilled:
    leaves = order.leaves_qty.raw // 10**9
    return fill(order, leaves if leaves > 0 else PARTIAL)


EVENT_BUILDERS: dict[str, Callable[[Order], OrderEvent]] = {
    "OrderDenied": lambda o: OrderDenied(**_ident(), reason="risk"),
    "OrderEmulated": lambda o: OrderEmulated(**_ident()),
    "OrderReleased": lambda o: OrderReleased(**_ident(), released_price=Price.from_str("1.00010")),
    "OrderSubmitted": lambda o: OrderSubmitted(**_ident(), account_id=ACCOUNT),
    "OrderAccepted": lambda o: OrderAccepted(**_ident(), venue_order_id=VENUE_ORDER, account_id=ACCOUNT),
    "OrderRejected": lambda o: OrderRejected(**_ident(), account_id=ACCOUNT, reason="venue"),
    "OrderCanceled": lambda o: OrderCanceled(**_ident(), venue_order_id=VENUE_ORDER, account_id=ACCOUNT),
    "OrderExpired": lambda o: OrderExpired(**_ident(), venue_order_id=VENUE_ORDER, account_id=ACCOUNT),
    "OrderTriggered": lambda o: OrderTriggered(**_ident(), venue_order_id=VENUE_ORDER, account_id=ACCOUNT),
    "OrderPendingUpdate": lambda o: OrderPendingUpdate(**_ident(), venue_order_id=VENUE_ORDER, account_id=ACCOUNT),
    "OrderPendingCancel": lambda o: OrderPendingCancel(**_ident(), venue_order_id=VENUE_ORDER, account_id=ACCOUNT),
    "OrderModifyRejected": lambda o: OrderModifyRejected(**_ident(), reason="no", venue_order_id=VENUE_ORDER),
    "OrderCancelRejected": lambda o: OrderCancelRejected(**_ident(), reason="no", venue_order_id=VENUE_ORDER),
    "OrderUpdated": lambda o: OrderUpdated(
        **_ident(),
        quantity=Quantity.from_int(QUANTITY + 50),
        price=Price.from_str("1.00005"),
        trigger_price=Price.from_str("1.00015"),
        venue_order_id=VENUE_ORDER,
    ),
    "OrderFilled(partial)": partial_fill,
    "OrderFilled(full)": full_fill,
}

# Status the event type leads to; None = keeps the status (or goes back after PENDING_*).
EVENT_TARGET: dict[str, OrderStatus | None] = {
    "OrderDenied": S.DENIED,
    "OrderEmulated": S.EMULATED,
    "OrderReleased": S.RELEASED,
    "OrderSubmitted": S.SUBMITTED,
    "OrderAccepted": S.ACCEPTED,
    "OrderRejected": S.REJECTED,
    "OrderCanceled": S.CANCELED,
    "OrderExpired": S.EXPIRED,
    "OrderTriggered": S.TRIGGERED,
    "OrderPendingUpdate": S.PENDING_UPDATE,
    "OrderPendingCancel": S.PENDING_CANCEL,
    "OrderModifyRejected": None,
    "OrderCancelRejected": None,
    "OrderUpdated": None,
    "OrderFilled(partial)": S.PARTIALLY_FILLED,
    "OrderFilled(full)": S.FILLED,
}

# A legal path of events from INITIALIZED to each status.
PATHS: dict[OrderStatus, list[str]] = {
    S.INITIALIZED: [],
    S.DENIED: ["OrderDenied"],
    S.EMULATED: ["OrderEmulated"],
    S.RELEASED: ["OrderEmulated", "OrderReleased"],
    S.SUBMITTED: ["OrderSubmitted"],
    S.ACCEPTED: ["OrderSubmitted", "OrderAccepted"],
    S.REJECTED: ["OrderSubmitted", "OrderRejected"],
    S.CANCELED: ["OrderSubmitted", "OrderAccepted", "OrderCanceled"],
    S.EXPIRED: ["OrderSubmitted", "OrderAccepted", "OrderExpired"],
    S.TRIGGERED: ["OrderSubmitted", "OrderAccepted", "OrderTriggered"],
    S.PENDING_UPDATE: ["OrderSubmitted", "OrderAccepted", "OrderPendingUpdate"],
    S.PENDING_CANCEL: ["OrderSubmitted", "OrderAccepted", "OrderPendingCancel"],
    S.PARTIALLY_FILLED: ["OrderSubmitted", "OrderAccepted", "OrderFilled(partial)"],
    S.FILLED: ["OrderSubmitted", "OrderAccepted", "OrderFilled(full)"],
}


def order_in(status: OrderStatus, path: list[str] | None = None) -> Order:
    """A fresh order driven to `status` by a legal path of events."""
    order = new_order()
    for name in PATHS[status] if path is None else path:
        order.apply(EVENT_BUILDERS[name](order))
    assert order.status is status, f"path {path or PATHS[status]} did not reach {status}"
    return order


def state_of(order: Order) -> tuple:
    """Everything an event could change, for 'unchanged' checks."""
    return (
        order.status,
        list(order.events),
        order.filled_qty.raw,
        order.quantity.raw,
        order.price,
        order.trigger_price,
        order.avg_px,
        list(order.trade_ids),
        order.venue_order_id,
        order.account_id,
        order.position_id,
        order.ts_last,
    )


def target_of(order: Order, event_name: str, event: OrderEvent) -> OrderStatus | None:
    """The status the event leads to; a fill leads to FILLED once filled >= quantity (spec §9)."""
    if isinstance(event, OrderFilled):
        filled = order.filled_qty.raw + event.last_qty.raw
        return S.FILLED if filled >= order.quantity.raw else S.PARTIALLY_FILLED
    return EVENT_TARGET[event_name]


def expected_status(start: OrderStatus, event_name: str, target: OrderStatus | None) -> OrderStatus | None:
    """The status after the event per spec §9, or None if the event is illegal from `start`.

    `start` is reached by `PATHS`, so the status before PENDING_UPDATE / PENDING_CANCEL is ACCEPTED.
    """
    if target is not None:
        return target if target in SPEC_TABLE[start] else None
    if start in CLOSED:
        return None
    if start is S.PENDING_UPDATE and event_name in ("OrderUpdated", "OrderModifyRejected"):
        return S.ACCEPTED  # back to the previous status
    if start is S.PENDING_CANCEL and event_name == "OrderCancelRejected":
        return S.ACCEPTED  # back to the previous status
    return start


ALL_PAIRS = [(start, name) for start in PATHS for name in EVENT_BUILDERS]


def test_legal_transitions_table_is_the_spec_table() -> None:
    assert set(LEGAL_TRANSITIONS) == set(OrderStatus)
    assert {k: set(v) for k, v in LEGAL_TRANSITIONS.items()} == SPEC_TABLE


def test_every_status_has_a_legal_path() -> None:
    for status in OrderStatus:
        assert order_in(status).status is status


@pytest.mark.parametrize(("start", "event_name"), ALL_PAIRS, ids=[f"{s.value}-{e}" for s, e in ALL_PAIRS])
def test_every_status_event_pair(start: OrderStatus, event_name: str) -> None:
    order = order_in(start)
    event = EVENT_BUILDERS[event_name](order)
    target = target_of(order, event_name, event)
    expected = expected_status(start, event_name, target)
    before = state_of(order)
    if expected is None:
        with pytest.raises(InvalidStateTransition) as info:
            order.apply(event)
        message = str(info.value)
        assert start.value in message
        assert type(event).__name__ in message
        assert info.value.current is start
        if target is not None:
            assert target.value in message
            assert info.value.target is target
        assert state_of(order) == before, "an illegal event changed the order"
        return
    assert order.check(event) is expected  # check() agrees with apply() and changes nothing
    assert state_of(order) == before
    order.apply(event)
    assert order.status is expected
    assert order.events[-1] is event
    assert len(order.events) == len(before[1]) + 1
    assert order.ts_last == event.ts_event


def test_all_pairs_are_covered() -> None:
    assert len(ALL_PAIRS) == len(OrderStatus) * len(EVENT_BUILDERS)
    moves = set()
    for start, name in ALL_PAIRS:
        order = order_in(start)
        target = target_of(order, name, EVENT_BUILDERS[name](order))
        if expected_status(start, name, target) is not None:
            moves.add((start, target))
    # Each status-changing legal move of the table is exercised by one event type (fills: two sizes).
    for start, targets in SPEC_TABLE.items():
        for target in targets:
            assert (start, target) in moves, f"{start} -> {target} not exercised"


def test_reinitializing_an_order_is_refused_and_changes_nothing() -> None:
    order = order_in(S.ACCEPTED)
    before = state_of(order)
    init = OrderInitialized(
        **_ident(), order_side=OrderSide.BUY, order_type=OrderType.MARKET, quantity=Quantity.from_int(1)
    )
    with pytest.raises((InvalidStateTransition, TypeError)):
        order.apply(init)
    assert state_of(order) == before


# ---- back to the previous status -----------------------------------------------------------------------
PREVIOUS_PATHS = {
    S.SUBMITTED: ["OrderSubmitted"],
    S.ACCEPTED: ["OrderSubmitted", "OrderAccepted"],
    S.TRIGGERED: ["OrderSubmitted", "OrderAccepted", "OrderTriggered"],
    S.PARTIALLY_FILLED: ["OrderSubmitted", "OrderAccepted", "OrderFilled(partial)"],
}


@pytest.mark.parametrize("previous", list(PREVIOUS_PATHS), ids=lambda s: s.value)
@pytest.mark.parametrize("back_event", ["OrderUpdated", "OrderModifyRejected"])
def test_pending_update_goes_back_to_previous_status(previous: OrderStatus, back_event: str) -> None:
    order = order_in(S.PENDING_UPDATE, [*PREVIOUS_PATHS[previous], "OrderPendingUpdate"])
    order.apply(EVENT_BUILDERS[back_event](order))
    assert order.status is previous


@pytest.mark.parametrize("previous", list(PREVIOUS_PATHS), ids=lambda s: s.value)
def test_pending_cancel_goes_back_to_previous_status_on_cancel_rejected(previous: OrderStatus) -> None:
    order = order_in(S.PENDING_CANCEL, [*PREVIOUS_PATHS[previous], "OrderPendingCancel"])
    order.apply(EVENT_BUILDERS["OrderCancelRejected"](order))
    assert order.status is previous


def test_pending_update_then_pending_cancel_goes_back_to_the_status_before_both() -> None:
    order = order_in(S.PENDING_CANCEL, [*PREVIOUS_PATHS[S.TRIGGERED], "OrderPendingUpdate", "OrderPendingCancel"])
    order.apply(EVENT_BUILDERS["OrderCancelRejected"](order))
    assert order.status is S.TRIGGERED


def test_pending_update_repeated_keeps_the_original_previous_status() -> None:
    order = order_in(S.PENDING_UPDATE, [*PREVIOUS_PATHS[S.PARTIALLY_FILLED], "OrderPendingUpdate"])
    order.apply(EVENT_BUILDERS["OrderPendingUpdate"](order))
    assert order.status is S.PENDING_UPDATE
    order.apply(EVENT_BUILDERS["OrderUpdated"](order))
    assert order.status is S.PARTIALLY_FILLED


# ---- fills ---------------------------------------------------------------------------------------------
def test_partial_then_full_fill_and_exact_avg_px() -> None:
    order = order_in(S.ACCEPTED)
    assert order.avg_px is None
    order.apply(fill(order, 30, "1.00001"))
    assert order.status is S.PARTIALLY_FILLED
    assert order.filled_qty == Quantity.from_int(30)
    assert order.leaves_qty == Quantity.from_int(70)
    assert order.avg_px == Decimal("1.00001")
    order.apply(fill(order, 25, "1.00004"))
    assert order.status is S.PARTIALLY_FILLED
    # (30 x 1.00001 + 25 x 1.00004) / 55 = 55.0013 / 55
    assert order.avg_px == Decimal("55.0013") / Decimal(55)
    order.apply(fill(order, 45, "1.00012"))
    assert order.status is S.FILLED
    assert order.filled_qty == Quantity.from_int(100)
    assert order.leaves_qty == Quantity.from_int(0)
    # (30.0003 + 25.0010 + 45.0054) / 100 = 100.0067 / 100
    assert order.avg_px == Decimal("1.000067")
    assert isinstance(order.avg_px, Decimal)
    assert order.is_closed and not order.is_open


def test_one_full_fill_goes_straight_to_filled() -> None:
    order = order_in(S.SUBMITTED)
    order.apply(fill(order, QUANTITY, "0.99999"))
    assert order.status is S.FILLED
    assert order.avg_px == Decimal("0.99999")


def test_overfill_counts_as_filled() -> None:
    order = order_in(S.PARTIALLY_FILLED)
    order.apply(fill(order, QUANTITY))  # more than the leaves: filled >= quantity
    assert order.status is S.FILLED


def test_avg_px_is_exact_for_many_fills() -> None:
    order = new_order(quantity=1_000)
    order.apply(EVENT_BUILDERS["OrderSubmitted"](order))
    order.apply(EVENT_BUILDERS["OrderAccepted"](order))
    prices = ["1.00001", "1.00003", "1.00007", "1.00011"] * 25
    cost = Decimal(0)
    for px in prices:
        order.apply(fill(order, 10, px))
        cost += Decimal(px) * 10
    assert order.status is S.FILLED
    assert order.avg_px == cost / Decimal(1_000)
    assert order.avg_px == Decimal("1.000055")


def test_duplicate_trade_id_raises_and_changes_nothing() -> None:
    order = order_in(S.ACCEPTED)
    order.apply(fill(order, 10, trade_id="T-DUP"))
    before = state_of(order)
    with pytest.raises(ValueError, match="T-DUP"):
        order.apply(fill(order, 10, trade_id="T-DUP"))
    assert state_of(order) == before
    assert order.filled_qty == Quantity.from_int(10)


def test_event_for_another_order_is_refused() -> None:
    order = order_in(S.ACCEPTED)
    before = state_of(order)
    other = OrderCanceled(**{**_ident(), "client_order_id": ClientOrderId("O-OTHER")})
    with pytest.raises(ValueError, match="O-OTHER"):
        order.apply(other)
    assert state_of(order) == before


# ---- updates and identifiers ---------------------------------------------------------------------------
@pytest.mark.parametrize("start", [S.SUBMITTED, S.ACCEPTED, S.TRIGGERED, S.PARTIALLY_FILLED], ids=lambda s: s.value)
def test_order_updated_changes_qty_price_trigger_and_keeps_status(start: OrderStatus) -> None:
    order = order_in(start)
    event = OrderUpdated(
        **_ident(),
        quantity=Quantity.from_int(150),
        price=Price.from_str("1.00003"),
        trigger_price=Price.from_str("1.00013"),
        venue_order_id=VenueOrderId("V-2"),
    )
    order.apply(event)
    assert order.status is start
    assert order.quantity == Quantity.from_int(150)
    assert order.price == Price.from_str("1.00003")
    assert order.trigger_price == Price.from_str("1.00013")
    assert order.venue_order_id == VenueOrderId("V-2")
    assert order.leaves_qty.raw == order.quantity.raw - order.filled_qty.raw


def test_order_updated_without_price_keeps_price_and_trigger() -> None:
    order = order_in(S.ACCEPTED)
    order.apply(OrderUpdated(**_ident(), quantity=Quantity.from_int(80)))
    assert order.quantity == Quantity.from_int(80)
    assert order.price == Price.from_str("1.00010")
    assert order.trigger_price == Price.from_str("1.00020")
    assert order.venue_order_id == VENUE_ORDER


def test_update_below_filled_quantity_then_fill_completes() -> None:
    order = order_in(S.PARTIALLY_FILLED)  # 10 of 100 filled
    order.apply(OrderUpdated(**_ident(), quantity=Quantity.from_int(20)))
    assert order.status is S.PARTIALLY_FILLED
    assert order.leaves_qty == Quantity.from_int(10)
    order.apply(fill(order, 10))
    assert order.status is S.FILLED


def test_identifiers_come_from_events() -> None:
    order = new_order()
    assert order.venue_order_id is None and order.account_id is None and order.position_id is None
    order.apply(OrderSubmitted(**_ident(), account_id=AccountId("SIM-002")))
    assert order.account_id == AccountId("SIM-002")
    assert order.venue_order_id is None
    order.apply(OrderAccepted(**_ident(), venue_order_id=VenueOrderId("SIM-1-007"), account_id=ACCOUNT))
    assert order.venue_order_id == VenueOrderId("SIM-1-007")
    assert order.account_id == ACCOUNT
    order.apply(fill(order, 10, position_id=PositionId("SIM-1-001"), venue_order_id=VenueOrderId("SIM-1-008")))
    assert order.position_id == PositionId("SIM-1-001")
    assert order.venue_order_id == VenueOrderId("SIM-1-008")
    assert order.last_trade_id == order.trade_ids[-1]
    assert order.liquidity_side is LiquiditySide.TAKER
    # A fill without a position id keeps the one the order has.
    order.apply(fill(order, 10))
    assert order.position_id == PositionId("SIM-1-001")


def test_canceled_with_venue_order_id_sets_it() -> None:
    order = order_in(S.SUBMITTED)
    order.apply(OrderCanceled(**_ident(), venue_order_id=VenueOrderId("SIM-1-009")))
    assert order.status is S.CANCELED
    assert order.venue_order_id == VenueOrderId("SIM-1-009")


def test_fill_racing_a_cancel_is_applied() -> None:
    order = order_in(S.CANCELED)
    order.apply(fill(order, 10))
    assert order.status is S.PARTIALLY_FILLED
    order.apply(fill(order, 90))
    assert order.status is S.FILLED


def test_open_and_inflight_flags_follow_the_status() -> None:
    open_statuses = {S.ACCEPTED, S.TRIGGERED, S.PENDING_UPDATE, S.PENDING_CANCEL, S.PARTIALLY_FILLED}
    inflight = {S.SUBMITTED, S.PENDING_UPDATE, S.PENDING_CANCEL}
    closed = {S.DENIED, S.REJECTED, S.CANCELED, S.EXPIRED, S.FILLED}
    for status in OrderStatus:
        order = order_in(status)
        assert order.is_open is (status in open_statuses), status
        assert order.is_inflight is (status in inflight), status
        assert order.is_closed is (status in closed), status
