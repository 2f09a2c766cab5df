"""Unit tests of the order factory's advanced order types, order lists and brackets.

Each constructor is checked for the fields it writes into `OrderInitialized` (so they survive a
rebuild from events) and for the `ValueError` / `TypeError` it raises on arguments that cannot make
a valid order, with the offending argument named. Brackets are checked for their structure: entry
type chosen from the prices given, OTO parent linked to both exits, exits reduce-only on the other
side, linked to each other as OUO (or OCO), one shared order list id, and ids that follow the
factory's counter.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from toolkit.core.clock import TestClock
from toolkit.model.enums import (
    ContingencyType,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TrailingOffsetType,
    TriggerType,
)
from toolkit.model.identifiers import ClientOrderId, InstrumentId, OrderListId, StrategyId, TraderId
from toolkit.model.objects import Price, Quantity
from toolkit.model.orders import Order, OrderList
from toolkit.trading.order_factory import OrderFactory

IID = InstrumentId("USD/JPY.SIM")
BUY, SELL = OrderSide.BUY, OrderSide.SELL
T0 = 1_704_067_200_000_000_000  # 2024-01-01 00:00:00 UTC


def p(text: str) -> Price:
    return Price.from_str(text)


def q(n: int) -> Quantity:
    return Quantity.from_int(n)


@pytest.fixture
def factory() -> OrderFactory:
    return OrderFactory(TraderId("TESTER-001"), StrategyId("S-007"), TestClock(T0))


# ---- single orders -----------------------------------------------------------------------------------


def test_market_to_limit_fields(factory: OrderFactory) -> None:
    order = factory.market_to_limit(IID, BUY, q(10), time_in_force=TimeInForce.GTD, expire_time_ns=T0 + 5)
    assert order.order_type is OrderType.MARKET_TO_LIMIT
    assert order.price is None and order.trigger_price is None
    assert order.time_in_force is TimeInForce.GTD and order.expire_time_ns == T0 + 5
    assert order.status is OrderStatus.INITIALIZED
    with pytest.raises(ValueError, match="AT_THE_OPEN"):
        factory.market_to_limit(IID, BUY, q(10), time_in_force=TimeInForce.AT_THE_OPEN)


def test_market_if_touched_fields_and_validation(factory: OrderFactory) -> None:
    order = factory.market_if_touched(
        IID, SELL, q(5), p("90.100"), trigger_type=TriggerType.LAST_PRICE, emulation_trigger=TriggerType.BID_ASK
    )
    assert order.order_type is OrderType.MARKET_IF_TOUCHED
    assert order.trigger_price == p("90.100")
    assert order.trigger_type is TriggerType.LAST_PRICE
    assert order.emulation_trigger is TriggerType.BID_ASK
    assert order.init.emulation_trigger is TriggerType.BID_ASK
    with pytest.raises(ValueError, match="trigger_price"):
        factory.market_if_touched(IID, SELL, q(5))
    with pytest.raises(ValueError, match="trigger_type"):
        factory.market_if_touched(IID, SELL, q(5), p("90.100"), trigger_type=TriggerType.NO_TRIGGER)
    with pytest.raises(TypeError, match="trigger_price must be a Price"):
        factory.market_if_touched(IID, SELL, q(5), "90.100")  # type: ignore[arg-type]


def test_limit_if_touched_fields_and_validation(factory: OrderFactory) -> None:
    order = factory.limit_if_touched(IID, BUY, q(5), price=p("89.990"), trigger_price=p("90.000"), post_only=True)
    assert order.order_type is OrderType.LIMIT_IF_TOUCHED
    assert (order.price, order.trigger_price) == (p("89.990"), p("90.000"))
    assert order.post_only is True
    with pytest.raises(ValueError, match="needs price"):
        factory.limit_if_touched(IID, BUY, q(5), trigger_price=p("90.000"))
    with pytest.raises(ValueError, match="needs trigger_price"):
        factory.limit_if_touched(IID, BUY, q(5), price=p("89.990"))
    with pytest.raises(ValueError, match="display_qty"):
        factory.limit_if_touched(IID, BUY, q(5), p("89.990"), p("90.000"), display_qty=q(6))


def test_trailing_stop_market_fields(factory: OrderFactory) -> None:
    order = factory.trailing_stop_market(
        IID,
        SELL,
        q(100),
        trailing_offset=Decimal("1.0"),
        trailing_offset_type=TrailingOffsetType.PRICE,
        trigger_type=TriggerType.BID_ASK,
        activation_price=p("15.000"),
        reduce_only=True,
    )
    assert order.order_type is OrderType.TRAILING_STOP_MARKET
    assert order.trailing_offset == Decimal("1.0") and isinstance(order.trailing_offset, Decimal)
    assert order.trailing_offset_type is TrailingOffsetType.PRICE
    assert order.activation_price == p("15.000")
    assert order.trigger_price is None  # computed by the venue on activation
    assert order.limit_offset is None
    assert order.reduce_only is True
    assert order.init.trailing_offset == Decimal("1.0")
    assert order.init.activation_price == p("15.000")


def test_trailing_stop_market_accepts_int_offset_and_initial_trigger(factory: OrderFactory) -> None:
    order = factory.trailing_stop_market(
        IID, BUY, q(1), trailing_offset=25, trailing_offset_type=TrailingOffsetType.TICKS, trigger_price=p("15.025")
    )
    assert order.trailing_offset == Decimal(25)
    assert order.trigger_price == p("15.025")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({}, ValueError, "needs trailing_offset"),
        ({"trailing_offset": Decimal(0)}, ValueError, "trailing_offset must be positive"),
        ({"trailing_offset": Decimal("-1")}, ValueError, "trailing_offset must be positive"),
        ({"trailing_offset": 1.0}, TypeError, "trailing_offset must be a Decimal"),
        (
            {"trailing_offset": Decimal("2.5"), "trailing_offset_type": TrailingOffsetType.TICKS},
            ValueError,
            "trailing_offset in TICKS must be a whole number",
        ),
        ({"trailing_offset": Decimal(1), "trigger_type": TriggerType.NO_TRIGGER}, ValueError, "trigger_type"),
        ({"trailing_offset": Decimal(1), "activation_price": "15"}, TypeError, "activation_price must be a Price"),
    ],
)
def test_trailing_stop_market_rejects_bad_arguments(
    factory: OrderFactory, kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        factory.trailing_stop_market(IID, SELL, q(1), **kwargs)  # type: ignore[arg-type]


def test_trailing_stop_limit_fields_and_validation(factory: OrderFactory) -> None:
    order = factory.trailing_stop_limit(
        IID,
        BUY,
        q(3),
        trailing_offset=Decimal("50"),
        limit_offset=Decimal("25"),
        trailing_offset_type=TrailingOffsetType.BASIS_POINTS,
        trigger_type=TriggerType.LAST_OR_BID_ASK,
        price=p("101.000"),
        trigger_price=p("100.500"),
    )
    assert order.order_type is OrderType.TRAILING_STOP_LIMIT
    assert (order.trailing_offset, order.limit_offset) == (Decimal("50"), Decimal("25"))
    assert order.trailing_offset_type is TrailingOffsetType.BASIS_POINTS
    assert order.trigger_type is TriggerType.LAST_OR_BID_ASK
    assert (order.price, order.trigger_price) == (p("101.000"), p("100.500"))
    assert order.init.limit_offset == Decimal("25")
    with pytest.raises(ValueError, match="needs limit_offset"):
        factory.trailing_stop_limit(IID, BUY, q(3), trailing_offset=Decimal(1))
    with pytest.raises(ValueError, match="needs trailing_offset"):
        factory.trailing_stop_limit(IID, BUY, q(3), limit_offset=Decimal(1))
    with pytest.raises(ValueError, match="limit_offset must be non-negative"):
        factory.trailing_stop_limit(IID, BUY, q(3), trailing_offset=Decimal(1), limit_offset=Decimal("-0.1"))
    zero = factory.trailing_stop_limit(IID, BUY, q(3), trailing_offset=Decimal(1), limit_offset=Decimal(0))
    assert zero.limit_offset == Decimal(0)


def test_post_only_refused_on_market_types(factory: OrderFactory) -> None:
    with pytest.raises(ValueError, match="post_only"):
        factory._create(IID, BUY, OrderType.MARKET_IF_TOUCHED, q(1), TimeInForce.GTC, post_only=True)


# ---- order lists and brackets ---------------------------------------------------------------------------


def test_order_list_keeps_orders_in_order_with_a_fresh_id(factory: OrderFactory) -> None:
    a = factory.market(IID, BUY, q(1))
    b = factory.limit(IID, SELL, q(1), p("90.000"))
    first = factory.order_list([a, b])
    second = factory.order_list([factory.market(IID, BUY, q(1))])
    assert isinstance(first, OrderList)
    assert first.orders == (a, b) and first.first is a and len(first) == 2 and list(first) == [a, b]
    assert first.id == OrderListId("OL-20240101-000000-001-007-1")
    assert second.id == OrderListId("OL-20240101-000000-001-007-2")
    assert a.order_list_id is None  # a plain list does not rewrite its orders


def test_order_list_validation(factory: OrderFactory) -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        factory.order_list([])
    order = factory.market(IID, BUY, q(1))
    with pytest.raises(ValueError, match="duplicate"):
        factory.order_list([order, order])
    other_instrument = factory.market(InstrumentId("EUR/USD.SIM"), BUY, q(1))
    with pytest.raises(ValueError, match=r"is for EUR/USD\.SIM"):
        factory.order_list([order, other_instrument])
    foreign = OrderFactory(TraderId("TESTER-001"), StrategyId("S-008"), TestClock(T0)).market(IID, BUY, q(1))
    with pytest.raises(ValueError, match="belongs to strategy S-008"):
        factory.order_list([order, foreign])


def _ids(order_list: OrderList) -> tuple[ClientOrderId, ClientOrderId, ClientOrderId]:
    entry, sl, tp = order_list.orders
    return entry.client_order_id, sl.client_order_id, tp.client_order_id


def test_bracket_market_entry_structure(factory: OrderFactory) -> None:
    bracket = factory.bracket(IID, BUY, q(100_000), sl_trigger_price=p("89.900"), tp_price=p("90.100"))
    entry, sl, tp = bracket.orders
    entry_id, sl_id, tp_id = _ids(bracket)
    assert bracket.first is entry
    assert [str(i) for i in (entry_id, sl_id, tp_id)] == [f"O-20240101-000000-001-007-{n}" for n in (1, 2, 3)]
    assert bracket.id == OrderListId("OL-20240101-000000-001-007-1")

    assert entry.order_type is OrderType.MARKET and entry.side is BUY and entry.quantity == q(100_000)
    assert entry.contingency_type is ContingencyType.OTO
    assert entry.linked_order_ids == (sl_id, tp_id)
    assert entry.parent_order_id is None and entry.reduce_only is False

    assert sl.order_type is OrderType.STOP_MARKET and sl.trigger_price == p("89.900")
    assert tp.order_type is OrderType.LIMIT and tp.price == p("90.100")
    for child, sibling in ((sl, tp_id), (tp, sl_id)):
        assert child.side is SELL and child.quantity == q(100_000)
        assert child.reduce_only is True
        assert child.parent_order_id == entry_id
        assert child.contingency_type is ContingencyType.OUO
        assert child.linked_order_ids == (sibling,)
        assert child.time_in_force is TimeInForce.GTC
    for order in bracket:
        assert order.order_list_id == bracket.id
        assert order.init.order_list_id == bracket.id  # in the event, so it survives a restart


@pytest.mark.parametrize(
    ("entry_price", "entry_trigger", "expected"),
    [
        ("90.000", None, OrderType.LIMIT),
        (None, "90.010", OrderType.STOP_MARKET),
        ("90.020", "90.010", OrderType.STOP_LIMIT),
    ],
)
def test_bracket_entry_type_follows_the_prices_given(
    factory: OrderFactory, entry_price: str | None, entry_trigger: str | None, expected: OrderType
) -> None:
    bracket = factory.bracket(
        IID,
        BUY,
        q(10),
        sl_trigger_price=p("89.900"),
        tp_price=p("90.100"),
        entry_price=None if entry_price is None else p(entry_price),
        entry_trigger_price=None if entry_trigger is None else p(entry_trigger),
    )
    entry = bracket.first
    assert entry.order_type is expected
    assert entry.price == (None if entry_price is None else p(entry_price))
    assert entry.trigger_price == (None if entry_trigger is None else p(entry_trigger))


def test_bracket_sell_oco_with_options(factory: OrderFactory) -> None:
    bracket = factory.bracket(
        IID,
        SELL,
        q(10),
        sl_trigger_price=p("90.100"),
        tp_price=p("89.900"),
        entry_price=p("90.000"),
        time_in_force=TimeInForce.GTD,
        expire_time_ns=T0 + 60,
        tp_post_only=True,
        contingency_type=ContingencyType.OCO,
        emulation_trigger=TriggerType.BID_ASK,
    )
    entry, sl, tp = bracket.orders
    assert entry.time_in_force is TimeInForce.GTD and entry.expire_time_ns == T0 + 60
    assert sl.time_in_force is TimeInForce.GTC and sl.expire_time_ns == 0
    assert sl.side is BUY and tp.side is BUY
    assert tp.post_only is True and sl.post_only is False
    assert sl.contingency_type is ContingencyType.OCO and tp.contingency_type is ContingencyType.OCO
    assert all(o.emulation_trigger is TriggerType.BID_ASK for o in bracket)


def test_market_entry_is_never_emulated(factory: OrderFactory) -> None:
    bracket = factory.bracket(
        IID, BUY, q(1), sl_trigger_price=p("89.9"), tp_price=p("90.1"), emulation_trigger=TriggerType.BID_ASK
    )
    assert bracket.first.emulation_trigger is TriggerType.NO_TRIGGER
    assert bracket.orders[1].emulation_trigger is TriggerType.BID_ASK


@pytest.mark.parametrize(
    ("side", "kwargs", "match"),
    [
        (BUY, {"tp_price": p("90.1")}, "needs sl_trigger_price"),
        (BUY, {"sl_trigger_price": p("89.9")}, "needs tp_price"),
        (BUY, {"sl_trigger_price": p("90.2"), "tp_price": p("90.1")}, "sl_trigger_price 90.2 must be below tp_price"),
        (SELL, {"sl_trigger_price": p("89.9"), "tp_price": p("90.1")}, "must be above tp_price"),
        (
            BUY,
            {"sl_trigger_price": p("89.9"), "tp_price": p("90.1"), "entry_price": p("90.2")},
            "entry_price 90.2 must lie between",
        ),
        (
            BUY,
            {"sl_trigger_price": p("89.9"), "tp_price": p("90.1"), "entry_trigger_price": p("89.8")},
            "entry_trigger_price 89.8 must lie between",
        ),
        (
            BUY,
            {"sl_trigger_price": p("89.9"), "tp_price": p("90.1"), "contingency_type": ContingencyType.OTO},
            "contingency_type must be OUO or OCO",
        ),
    ],
)
def test_bracket_rejects_bad_arguments(
    factory: OrderFactory, side: OrderSide, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        factory.bracket(IID, side, q(1), **kwargs)  # type: ignore[arg-type]
    assert factory.count == 0  # nothing was numbered for a bracket that could not be built


def test_market_bracket_cannot_be_gtd(factory: OrderFactory) -> None:
    with pytest.raises(ValueError, match="MARKET order cannot be GTD"):
        factory.bracket(
            IID,
            BUY,
            q(1),
            sl_trigger_price=p("89.9"),
            tp_price=p("90.1"),
            time_in_force=TimeInForce.GTD,
            expire_time_ns=T0 + 1,
        )


def test_linked_ids_need_a_contingency_type(factory: OrderFactory) -> None:
    with pytest.raises(ValueError, match="linked_order_ids need a contingency_type"):
        factory._create(IID, BUY, OrderType.MARKET, q(1), TimeInForce.GTC, linked_order_ids=(ClientOrderId("X-1"),))


def test_order_rebuilt_from_its_init_event_keeps_the_links(factory: OrderFactory) -> None:
    bracket = factory.bracket(IID, BUY, q(7), sl_trigger_price=p("89.9"), tp_price=p("90.1"))
    for order in bracket:
        rebuilt = Order(order.init)
        assert rebuilt.linked_order_ids == order.linked_order_ids
        assert rebuilt.parent_order_id == order.parent_order_id
        assert rebuilt.contingency_type is order.contingency_type
        assert rebuilt.order_list_id == order.order_list_id
