"""Every order type and option through the sandbox venue: what the venue accepts, what it refuses, and parity.

For each type beyond MARKET/LIMIT/STOP_*, an order built by the order factory is turned into a request by the
node-side client (`submit_request`), sent through JSON, and placed on a `SandboxVenue`; its events equal, byte
for byte, the events the same order gets in a backtest that submits it at the same quote (a bracket too: the
OTO children are held until the entry fills, then one exit fills and OUO cancels the other). Bad values are
posted over HTTP to the real server application (in process, signed by the real REST client) and must come
back as 400 naming the field, with nothing changed at the venue. The last tests run the execution client
against that server and check that a bracket's submits reach the venue in list order even when the entry's
request is slow, and that the children of a refused entry never reach it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web

from toolkit.adapters.sandbox.client import RequestSigner, SandboxApiError, SandboxRestClient, submit_request
from toolkit.adapters.sandbox.factory import SandboxClientConfig, SandboxClientFactory
from toolkit.adapters.sandbox.protocol import ModifyOrderRequest, SubmitOrderRequest, decode, encode
from toolkit.adapters.sandbox.server import SandboxServer
from toolkit.adapters.sandbox.venue import BadRequestError, SandboxVenue
from toolkit.backtest.engine import BacktestEngine
from toolkit.backtest.runner import load_instruments_file
from toolkit.core.cache import Cache
from toolkit.core.clock import LiveClock
from toolkit.core.log import Logger
from toolkit.model.commands import SubmitOrder
from toolkit.model.data import QuoteTick
from toolkit.model.enums import (
    AccountType,
    OmsType,
    OrderSide,
    OrderStatus,
    OrderType,
    TrailingOffsetType,
    TriggerType,
)
from toolkit.model.events import (
    AccountState,
    OrderAccepted,
    OrderCanceled,
    OrderEvent,
    OrderFilled,
    OrderInitialized,
    OrderRejected,
    OrderSubmitted,
    OrderTriggered,
    OrderUpdated,
)
from toolkit.model.identifiers import InstrumentId, StrategyId, TraderId
from toolkit.model.objects import Currency, Money, Price, Quantity
from toolkit.model.orders import Order, OrderList
from toolkit.model.reports import OrderStatusReport
from toolkit.trading.config import StrategyConfig
from toolkit.trading.order_factory import OrderFactory
from toolkit.trading.strategy import Strategy

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INSTRUMENTS = {i.id: i for i in load_instruments_file(PROJECT_ROOT / "data" / "instruments.toml", "test", "x")}
EURUSD = INSTRUMENTS[InstrumentId("EUR/USD.SIM")]
EURUSD_ID = EURUSD.id
SEC = 1_000_000_000
T0 = 1_704_153_600 * SEC  # 2024-01-02
QTY = Quantity.from_str("100000")


def quote(second: int, bid: str, ask: str, size: str = "1000000") -> QuoteTick:
    return QuoteTick.of(
        EURUSD_ID,
        Price.from_str(bid),
        Price.from_str(ask),
        Quantity.from_str(size),
        Quantity.from_str(size),
        T0 + second * SEC,
    )


QUOTES = [
    quote(0, "1.10000", "1.10002"),
    quote(1, "1.10001", "1.10003"),
    quote(2, "1.09990", "1.09992"),
    quote(3, "1.09980", "1.09982"),
    quote(4, "1.10010", "1.10012"),
    quote(5, "1.10020", "1.10022"),
]


def make_engine() -> BacktestEngine:
    engine = BacktestEngine()
    engine.add_venue(
        "SIM",
        OmsType.NETTING,
        AccountType.MARGIN,
        [Money.of("1000000", "USD")],
        base_currency=Currency.from_str("USD"),
        default_leverage=Decimal(50),
    )
    engine.add_instrument(EURUSD)
    engine.add_data(QUOTES)
    return engine


def px(text: str) -> Price:
    return Price.from_str(text)


# ---- the orders: one per new type, and a bracket ----------------------------------------------------------------
Build = Callable[[OrderFactory], Order | OrderList]

BUILDS: dict[str, Build] = {
    # 1.5M against 1M at the ask: 1M fills as a taker, the rest rests as a LIMIT at that price (and fills later)
    "MARKET_TO_LIMIT": lambda f: f.market_to_limit(EURUSD_ID, OrderSide.BUY, Quantity.from_str("1500000")),
    "MARKET_IF_TOUCHED": lambda f: f.market_if_touched(EURUSD_ID, OrderSide.SELL, QTY, trigger_price=px("1.10010")),
    "LIMIT_IF_TOUCHED": lambda f: f.limit_if_touched(
        EURUSD_ID, OrderSide.BUY, QTY, price=px("1.09995"), trigger_price=px("1.09992")
    ),
    "TRAILING_STOP_MARKET": lambda f: f.trailing_stop_market(
        EURUSD_ID, OrderSide.SELL, QTY, trailing_offset=Decimal("0.00010")
    ),
    "TRAILING_STOP_LIMIT": lambda f: f.trailing_stop_limit(
        EURUSD_ID, OrderSide.SELL, QTY, trailing_offset=Decimal("0.00010"), limit_offset=Decimal("0.00012")
    ),
    # activates when the bid touches 1.10010, then trails 5 ticks below the bid: still working at the end
    "TRAILING_STOP_MARKET_TICKS_ACTIVATION": lambda f: f.trailing_stop_market(
        EURUSD_ID,
        OrderSide.SELL,
        QTY,
        trailing_offset=Decimal(5),
        trailing_offset_type=TrailingOffsetType.TICKS,
        activation_price=px("1.10010"),
        trigger_type=TriggerType.BID_ASK,
    ),
    "LIMIT_DISPLAY_QTY": lambda f: f.limit(
        EURUSD_ID, OrderSide.BUY, Quantity.from_str("300000"), px("1.09985"), display_qty=QTY
    ),
    # entry rests (children held), fills at quote 2; the take-profit fills at quote 4 and OUO cancels the stop
    "BRACKET": lambda f: f.bracket(
        EURUSD_ID, OrderSide.BUY, QTY, sl_trigger_price=px("1.09970"), tp_price=px("1.10005"), entry_price=px("1.09995")
    ),
}

# The venue's events for each case (account states left out) as (event type, last part of the client order id):
# the parity test checks them against the backtest too; spelled out so a reader sees the behaviour.
EXPECTED: dict[str, list[tuple[type, str]]] = {
    "MARKET_TO_LIMIT": [
        (OrderAccepted, "1"),
        (OrderFilled, "1"),
        (OrderUpdated, "1"),
        (OrderFilled, "1"),
    ],
    "MARKET_IF_TOUCHED": [(OrderAccepted, "1"), (OrderFilled, "1")],
    "LIMIT_IF_TOUCHED": [(OrderAccepted, "1"), (OrderTriggered, "1"), (OrderFilled, "1")],
    "TRAILING_STOP_MARKET": [(OrderAccepted, "1"), (OrderUpdated, "1"), (OrderUpdated, "1"), (OrderFilled, "1")],
    "TRAILING_STOP_LIMIT": [
        (OrderAccepted, "1"),
        (OrderUpdated, "1"),
        (OrderUpdated, "1"),
        (OrderTriggered, "1"),
        (OrderFilled, "1"),
    ],
    "TRAILING_STOP_MARKET_TICKS_ACTIVATION": [(OrderAccepted, "1"), (OrderUpdated, "1"), (OrderUpdated, "1")],
    "LIMIT_DISPLAY_QTY": [(OrderAccepted, "1"), (OrderFilled, "1")],
    "BRACKET": [
        (OrderAccepted, "1"),
        (OrderFilled, "1"),
        (OrderAccepted, "2"),
        (OrderAccepted, "3"),
        (OrderFilled, "3"),
        (OrderCanceled, "2"),
    ],
}


class Submitter(Strategy):
    """On the first quote, submits what `build(order_factory)` returns; records every order event after that."""

    def __init__(self, build: Build) -> None:
        super().__init__(StrategyConfig(order_id_tag="001"))
        self.build = build
        self.orders: list[Order] = []
        self.events: list[OrderEvent] = []

    def on_start(self) -> None:
        self.subscribe_quote_ticks(EURUSD_ID)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        if self.orders:
            return
        made = self.build(self.order_factory)
        if isinstance(made, OrderList):
            self.orders = list(made)
            self.submit_order_list(made)
        else:
            self.orders = [made]
            self.submit_order(made)

    def on_order_event(self, event: OrderEvent) -> None:
        if not isinstance(event, (OrderInitialized, OrderSubmitted)):
            self.events.append(event)


def backtest(build: Build) -> Submitter:
    engine = make_engine()
    strategy = Submitter(build)
    engine.add_strategy(strategy)
    engine.run()
    return strategy


def wire(order: Order) -> SubmitOrderRequest:
    """What the node-side client sends for a fresh copy of `order`, through JSON as the server decodes it."""
    command = SubmitOrder(
        trader_id=order.trader_id,
        strategy_id=order.strategy_id,
        instrument_id=order.instrument_id,
        order=Order(order.init),
        ts_init=0,
    )
    return decode(encode(submit_request(command)), SubmitOrderRequest)


def venue_run(orders: list[Order]) -> SandboxVenue:
    """A venue that receives `orders` (through the wire) after the first quote, then replays the rest."""
    venue = SandboxVenue(make_engine())
    venue.release_next()
    for order in orders:
        venue.submit(wire(order))
    while venue.release_next() is not None:
        pass
    return venue


@pytest.mark.parametrize("case", list(BUILDS))
def test_every_order_type_is_accepted_and_behaves_as_in_the_backtest(case: str) -> None:
    strategy = backtest(BUILDS[case])
    assert strategy.events, "the backtest produced no venue events"
    venue = venue_run(strategy.orders)
    venue_events = [e.event for e in venue.user_events if not isinstance(e.event, AccountState)]
    assert [encode(e) for e in venue_events] == [encode(e) for e in strategy.events]
    kinds = [(type(e), str(e.client_order_id).rsplit("-", 1)[-1]) for e in venue_events]
    assert kinds == EXPECTED[case]
    # the venue kept every parameter the order was created with, and its reports carry them
    for original in strategy.orders:
        placed = venue.order(str(original.client_order_id))
        assert msgspec.structs.replace(placed.init, ts_event=0, ts_init=0) == msgspec.structs.replace(
            original.init, ts_event=0, ts_init=0
        )
        report = venue.order_status_report(str(original.client_order_id))
        assert_report_carries(report, original)


def assert_report_carries(report: OrderStatusReport, order: Order) -> None:
    assert report.order_type is order.order_type and report.trigger_type is order.trigger_type
    assert (report.display_qty, report.limit_offset, report.trailing_offset) == (
        order.display_qty,
        order.limit_offset,
        order.trailing_offset,
    )
    assert report.trailing_offset_type == (None if order.trailing_offset is None else order.trailing_offset_type)
    assert report.activation_price == order.activation_price
    assert (report.contingency_type, report.order_list_id, report.linked_order_ids, report.parent_order_id) == (
        order.contingency_type,
        order.order_list_id,
        order.linked_order_ids,
        order.parent_order_id,
    )


def test_trailing_stop_values_and_reports() -> None:
    strategy = backtest(BUILDS["TRAILING_STOP_MARKET"])
    venue = venue_run(strategy.orders)
    updates = [e.event for e in venue.user_events if isinstance(e.event, OrderUpdated)]
    # bid 1.10000 on arrival, 1.10001 next: the trigger trails 0.00010 below and never moves back down
    assert [u.trigger_price for u in updates] == [px("1.09990"), px("1.09991")]
    fill = next(e.event for e in venue.user_events if isinstance(e.event, OrderFilled))
    assert fill.last_px == px("1.09990") and fill.ts_event == QUOTES[2].ts_init
    report = venue.order_status_report(str(strategy.orders[0].client_order_id))
    assert report.trailing_offset == Decimal("0.00010") and report.trailing_offset_type is TrailingOffsetType.PRICE
    assert report.trigger_price == px("1.09991") and report.order_status is OrderStatus.FILLED


def bracket_venue(orders: list[Order], quotes: int = 1) -> SandboxVenue:
    venue = SandboxVenue(make_engine())
    venue.release_next()
    for order in orders:
        venue.submit(wire(order))
    for _ in range(quotes - 1):
        venue.release_next()
    return venue


def test_bracket_children_are_held_until_the_entry_fills() -> None:
    strategy = backtest(BUILDS["BRACKET"])
    entry, stop, take = strategy.orders
    venue = bracket_venue(strategy.orders)
    held = venue.order_status_report(str(stop.client_order_id))
    assert held.order_status is OrderStatus.SUBMITTED and held.parent_order_id == entry.client_order_id
    assert [r.client_order_id for r in venue.order_status_reports(open_only=True)] == [entry.client_order_id]
    venue.release_next()  # ask 1.10003: entry still resting
    assert venue.order_status_report(str(take.client_order_id)).order_status is OrderStatus.SUBMITTED
    # a held child is changed in place
    (updated,) = venue.modify(str(take.client_order_id), ModifyOrderRequest(price="1.10006"))
    assert isinstance(updated, OrderUpdated) and updated.price == px("1.10006")
    venue.release_next()  # ask 1.09992: entry fills, the exits are accepted
    statuses = [venue.order_status_report(str(o.client_order_id)).order_status for o in strategy.orders]
    assert statuses == [OrderStatus.FILLED, OrderStatus.ACCEPTED, OrderStatus.ACCEPTED]


def test_cancel_all_cancels_held_and_linked_orders_once() -> None:
    orders = backtest(BUILDS["BRACKET"]).orders
    ids = sorted(str(o.client_order_id) for o in orders)
    # the entry's cancel takes the held exits with it: three cancels, no cancel rejected
    events = bracket_venue(orders).cancel_all(str(EURUSD_ID))
    assert all(isinstance(e, OrderCanceled) for e in events) and sorted(str(e.client_order_id) for e in events) == ids
    # only the SELL side: the held exits go, the BUY entry keeps working
    venue = bracket_venue(orders)
    sells = venue.cancel_all(str(EURUSD_ID), OrderSide.SELL)
    assert all(isinstance(e, OrderCanceled) for e in sells) and sorted(str(e.client_order_id) for e in sells) == ids[1:]
    assert venue.order_status_report(ids[0]).order_status is OrderStatus.ACCEPTED
    # after the entry filled, the exits work as OUO siblings: each is canceled once
    venue = bracket_venue(orders, quotes=3)
    assert venue.order_status_report(ids[1]).order_status is OrderStatus.ACCEPTED
    exits = venue.cancel_all(str(EURUSD_ID))
    assert all(isinstance(e, OrderCanceled) for e in exits) and sorted(str(e.client_order_id) for e in exits) == ids[1:]


def test_a_plain_order_body_has_only_protocol_v1_fields() -> None:
    factory = OrderFactory(TraderId("TESTER-001"), StrategyId("S-001"), LiveClock())
    order = factory.limit(EURUSD_ID, OrderSide.BUY, QTY, px("1.09000"))
    body = msgspec.json.decode(encode(wire(order)))
    v1 = {"client_order_id", "trader_id", "strategy_id", "instrument_id", "order_side", "order_type", "quantity"}
    assert set(body) == v1 | {"price"}


def test_modify_new_types() -> None:
    venue = SandboxVenue(make_engine())
    venue.release_next()
    base = {"trader_id": "TESTER-001", "strategy_id": "S-001", "instrument_id": str(EURUSD_ID), "quantity": "100000"}
    venue.submit(
        SubmitOrderRequest(
            client_order_id="LIT",
            order_side=OrderSide.BUY,
            order_type=OrderType.LIMIT_IF_TOUCHED,
            price="1.09950",
            trigger_price="1.09960",
            **base,
        )
    )
    venue.submit(
        SubmitOrderRequest(
            client_order_id="MIT",
            order_side=OrderSide.SELL,
            order_type=OrderType.MARKET_IF_TOUCHED,
            trigger_price="1.10100",
            **base,
        )
    )
    events = venue.modify("LIT", ModifyOrderRequest(price="1.09940", trigger_price="1.09955"))
    assert [type(e) for e in events] == [OrderUpdated]
    assert (events[0].price, events[0].trigger_price) == (px("1.09940"), px("1.09955"))
    events = venue.modify("MIT", ModifyOrderRequest(trigger_price="1.10200"))
    assert [type(e) for e in events] == [OrderUpdated] and events[0].trigger_price == px("1.10200")
    with pytest.raises(BadRequestError) as info:
        venue.modify("MIT", ModifyOrderRequest(price="1.10200"))
    assert info.value.field == "price"


# ---- refusals over HTTP -----------------------------------------------------------------------------------------
def body(kind: str, side: str = "SELL", **fields: Any) -> dict[str, Any]:
    out = {
        "client_order_id": "NEW",
        "trader_id": "TESTER-001",
        "strategy_id": "S-001",
        "instrument_id": str(EURUSD_ID),
        "order_side": side,
        "order_type": kind,
        "quantity": "100000",
    }
    out.update(fields)
    return out


TSM = "TRAILING_STOP_MARKET"
TSL = "TRAILING_STOP_LIMIT"
BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    # one characteristic mistake per new type
    ("MARKET_TO_LIMIT with a price", body("MARKET_TO_LIMIT", price="1.10000"), "price"),
    ("MARKET_IF_TOUCHED without trigger", body("MARKET_IF_TOUCHED"), "trigger_price"),
    ("LIMIT_IF_TOUCHED without price", body("LIMIT_IF_TOUCHED", trigger_price="1.10010"), "price"),
    ("trailing stop without offset", body(TSM), "trailing_offset"),
    ("trailing stop limit without limit", body(TSL, trailing_offset="0.0001"), "limit_offset"),
    # values
    (
        "unknown trailing_offset_type",
        body(TSM, trailing_offset="1", trailing_offset_type="PERCENT"),
        "trailing_offset_type",
    ),
    ("PRICE_TIER offsets", body(TSM, trailing_offset="1", trailing_offset_type="PRICE_TIER"), "trailing_offset_type"),
    ("non-decimal offset", body(TSM, trailing_offset="ten pips"), "trailing_offset"),
    ("offset as a JSON number", body(TSM, trailing_offset=0.0001), "trailing_offset"),
    ("negative offset", body(TSM, trailing_offset="-0.0001"), "trailing_offset"),
    ("zero offset", body(TSM, trailing_offset="0"), "trailing_offset"),
    ("offset finer than the price", body(TSM, trailing_offset="0.000015"), "trailing_offset"),
    ("fractional ticks", body(TSM, trailing_offset="2.5", trailing_offset_type="TICKS"), "trailing_offset"),
    (
        "infinite basis points",
        body(TSM, trailing_offset="Infinity", trailing_offset_type="BASIS_POINTS"),
        "trailing_offset",
    ),
    ("bad limit offset", body(TSL, trailing_offset="0.0001", limit_offset="x"), "limit_offset"),
    ("activation price too fine", body(TSM, trailing_offset="0.0001", activation_price="1.100001"), "activation_price"),
    ("trigger price too fine", body("MARKET_IF_TOUCHED", trigger_price="1.100101"), "trigger_price"),
    ("LIT price too fine", body("LIMIT_IF_TOUCHED", price="1.099951", trigger_price="1.1"), "price"),
    ("limit offset on a trailing market", body(TSM, trailing_offset="0.0001", limit_offset="0.0001"), "limit_offset"),
    ("offset on a LIMIT", body("LIMIT", price="1.09", trailing_offset="0.0001"), "trailing_offset"),
    (
        "activation on a STOP_MARKET",
        body("STOP_MARKET", trigger_price="1.09", activation_price="1.1"),
        "activation_price",
    ),
    ("no trigger type on a stop", body("STOP_MARKET", trigger_price="1.09", trigger_type="NO_TRIGGER"), "trigger_type"),
    ("unknown trigger type", body("STOP_MARKET", trigger_price="1.09", trigger_type="SOMETIMES"), "trigger_type"),
    ("display above quantity", body("LIMIT", price="1.2", display_qty="200000"), "display_qty"),
    ("display too fine", body("LIMIT", price="1.2", display_qty="10.5"), "display_qty"),
    # contingency fields
    ("OUO without links", body("LIMIT", price="1.2", contingency_type="OUO"), "linked_order_ids"),
    ("unknown contingency", body("LIMIT", price="1.2", contingency_type="OTOCO"), "contingency_type"),
    ("own parent", body("LIMIT", price="1.2", parent_order_id="NEW"), "parent_order_id"),
    (
        "linked to itself",
        body("LIMIT", price="1.2", contingency_type="OCO", linked_order_ids=["NEW"]),
        "linked_order_ids",
    ),
    ("links not a list", body("LIMIT", price="1.2", contingency_type="OCO", linked_order_ids="A"), "linked_order_ids"),
    ("empty order list id", body("LIMIT", price="1.2", order_list_id=""), "order_list_id"),
    ("misspelt field", body(TSM, trailing_ofset="0.0001"), "trailing_ofset"),
]


def run(coro: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
    async def bounded() -> Any:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


@contextlib.asynccontextmanager
async def serve(server: SandboxServer) -> AsyncIterator[str]:
    """The server's application on 127.0.0.1, a free port; no replay task (tests release data themselves)."""
    runner = web.AppRunner(server.app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(("case", "payload", "field"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_values_get_a_400_naming_the_field(case: str, payload: dict[str, Any], field: str) -> None:
    venue = SandboxVenue(make_engine())
    venue.release_next()

    async def main() -> None:
        server = SandboxServer(venue)
        async with serve(server) as url:
            rest = SandboxRestClient(url, RequestSigner(server.config.api_key, server.config.api_secret), 5.0)
            try:
                with pytest.raises(SandboxApiError) as info:
                    await rest.request("POST", "/orders", body=msgspec.json.encode(payload))
                assert (info.value.status, info.value.error, info.value.field) == (400, "bad_request", field), (
                    info.value.message
                )
                assert info.value.message
                # nothing changed, and the client order id is still free
                assert venue.user_seq == 0 and venue.cache.orders_total_count() == 0
                ok = body("LIMIT", side="BUY", price="1.09000")
                reply = await rest.request("POST", "/orders", body=msgspec.json.encode(ok))
                assert reply["status"] == "ACCEPTED"
            finally:
                await rest.close()

    run(main())


# ---- the execution client against the in-process server ---------------------------------------------------------
class SlowEntryServer(SandboxServer):
    """Holds the POST of orders named in `slow` for a while before the venue sees them; logs arrival order."""

    def __init__(self, venue: SandboxVenue, slow: set[str]) -> None:
        super().__init__(venue)
        self.slow = slow
        self.arrivals: list[str] = []

    async def post_order(self, request: web.Request) -> web.Response:
        coid = msgspec.json.decode(await request.read())["client_order_id"]
        if coid in self.slow:
            await asyncio.sleep(0.3)
        self.arrivals.append(coid)
        return await super().post_order(request)


class Node:
    def __init__(self) -> None:
        self.clock = LiveClock()
        self.cache = Cache()
        self.log = Logger("sandbox-types", self.clock)
        self.events: list[Any] = []
        self.cache.add_instrument(EURUSD)

    def send_event(self, event: Any) -> None:
        self.events.append(event)
        order = self.cache.order(event.client_order_id) if hasattr(event, "client_order_id") else None
        if order is not None:
            order.apply(event)


def bracket_orders(node: Node, entry_price: str = "1.09995") -> OrderList:
    factory = OrderFactory(TraderId("TESTER-001"), StrategyId("S-001"), node.clock)
    bracket = factory.bracket(
        EURUSD_ID,
        OrderSide.BUY,
        QTY,
        sl_trigger_price=px("1.09970"),
        tp_price=px("1.10015"),
        entry_price=px(entry_price),
    )
    for order in bracket:
        node.cache.add_order(order)
    return bracket


def submit_all(client: Any, orders: OrderList) -> None:
    for order in orders:
        client.submit_order(
            SubmitOrder(
                trader_id=order.trader_id,
                strategy_id=order.strategy_id,
                instrument_id=order.instrument_id,
                order=order,
                ts_init=0,
            )
        )


async def exec_client(node: Node, url: str) -> Any:
    config = SandboxClientConfig(base_url=url, heartbeat_secs=1.0, request_timeout_secs=5.0)
    client = SandboxClientFactory.create_exec_client(
        "SANDBOX", config, send_event=node.send_event, clock=node.clock, cache=node.cache, log=node.log
    )
    await client.connect()
    return client


def test_bracket_submits_reach_the_venue_in_list_order_even_when_the_entry_is_slow() -> None:
    venue = SandboxVenue(make_engine())
    venue.release_next()
    node = Node()
    bracket = bracket_orders(node)
    entry, stop, take = (str(o.client_order_id) for o in bracket)
    server = SlowEntryServer(venue, slow={entry})

    async def main() -> None:
        async with serve(server) as url:
            client = await exec_client(node, url)
            try:
                submit_all(client, bracket)
                await client.wait_tasks()
            finally:
                await client.disconnect()

    run(main())
    assert server.arrivals == [entry, stop, take]
    # the venue holds the exits (the node sees them SUBMITTED) until the entry fills
    assert [o.status for o in bracket] == [OrderStatus.ACCEPTED, OrderStatus.SUBMITTED, OrderStatus.SUBMITTED]
    assert venue.order_status_report(stop).order_status is OrderStatus.SUBMITTED
    assert venue.order_status_report(take).parent_order_id == entry


def test_children_of_a_refused_entry_are_rejected_without_reaching_the_venue() -> None:
    venue = SandboxVenue(make_engine())
    venue.release_next()
    node = Node()
    bracket = bracket_orders(node, entry_price="1.099951")  # 6 decimals: the venue refuses the entry (400)
    server = SlowEntryServer(venue, slow={str(bracket.first.client_order_id)})

    async def main() -> None:
        async with serve(server) as url:
            client = await exec_client(node, url)
            try:
                submit_all(client, bracket)
                await client.wait_tasks()
            finally:
                await client.disconnect()

    run(main())
    assert server.arrivals == [str(bracket.first.client_order_id)]
    assert all(o.status is OrderStatus.REJECTED for o in bracket)
    reasons = [e.reason for e in node.events if isinstance(e, OrderRejected)]
    assert "price" in reasons[0] and reasons[1:] == [f"REJECT OTO from {bracket.first.client_order_id}"] * 2
    assert venue.cache.orders_total_count() == 0
