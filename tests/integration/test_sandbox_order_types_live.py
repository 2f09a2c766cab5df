"""A trailing stop and a bracket through the live path: the sandbox adapter clients against a real `toolkit venue`.

The venue process replays the sample catalog in lockstep (port 0); a stub node holds the 20th quote
unacknowledged, so the venue stands still while the orders are submitted through `SandboxExecutionClient`
(a SELL trailing stop, then a SELL bracket in list order, as `Strategy.submit_order_list` sends it), then lets
the replay go on. The node must see the trailing stop trail the market up and fill, the bracket's exits held
(SUBMITTED at the venue) until the entry fills, then the take-profit fill and OUO cancel the stop-loss; and the
whole user stream must equal, byte for byte, what an in-process `SandboxVenue` built from the same run file
emits for the same requests at the same data point (the venue the backtest tests check against a backtest).
Every wait is on a condition with a deadline; the venue process is stopped in a `finally`.
"""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from typing import Any

from tests.conftest import PROJECT_ROOT

# The venue process and the environment guard are the adapter test's (same run file, same flags).
from tests.integration.test_sandbox_adapter import _no_env_overrides, eventually, run, venue_url  # noqa: F401
from toolkit.adapters.sandbox.client import SandboxDataClient, SandboxExecutionClient, submit_request
from toolkit.adapters.sandbox.factory import SandboxClientConfig, SandboxClientFactory
from toolkit.adapters.sandbox.protocol import SubmitOrderRequest, decode, encode
from toolkit.adapters.sandbox.venue import SandboxVenue
from toolkit.core.cache import Cache
from toolkit.core.clock import LiveClock
from toolkit.core.log import Logger
from toolkit.model.commands import SubmitOrder
from toolkit.model.data import QuoteTick
from toolkit.model.enums import OrderSide, OrderStatus, OrderType, TrailingOffsetType
from toolkit.model.events import (
    AccountState,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderSubmitted,
    OrderUpdated,
)
from toolkit.model.identifiers import InstrumentId, StrategyId, TraderId
from toolkit.model.objects import Price, Quantity
from toolkit.model.orders import Order
from toolkit.trading.order_factory import OrderFactory

RUN_FILE = "strategies/ema_cross_ticks.toml"
EURUSD = InstrumentId("EUR/USD.SIM")
TRADER, STRATEGY = TraderId("E2E-001"), StrategyId("SBX-001")
URL_LINE = re.compile(r"toolkit venue listening on (http://127\.0\.0\.1:\d+)")
HOLD_AT = 20
CLOSED = {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED, OrderStatus.DENIED}


class StubNode:
    """What the clients hand over, in lists; `wait_until_idle` blocks at the HOLD_AT-th quote until released."""

    def __init__(self) -> None:
        self.clock = LiveClock()
        self.cache = Cache()
        self.log = Logger("sandbox-order-types", self.clock)
        self.order_factory = OrderFactory(TRADER, STRATEGY, self.clock)
        self.data: list[Any] = []
        self.events: list[Any] = []
        self.data_client: SandboxDataClient | None = None
        self.seq_at_hold = 0
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def handle_data(self, obj: Any) -> None:
        self.data.append(obj)

    def send_event(self, event: Any) -> None:
        self.events.append(event)
        order = self.cache.order(event.client_order_id) if hasattr(event, "client_order_id") else None
        if order is not None:
            order.apply(event)  # an illegal transition would raise here: the stream must be a legal sequence

    async def wait_until_idle(self) -> None:
        if len(self.data) == HOLD_AT and not self.release.is_set():
            assert self.data_client is not None
            self.seq_at_hold = self.data_client.last_seq
            self.holding.set()
            await self.release.wait()


def command(order: Order) -> SubmitOrder:
    return SubmitOrder(
        trader_id=order.trader_id, strategy_id=order.strategy_id, instrument_id=EURUSD, order=order, ts_init=0
    )


def expected_log(orders: list[Order], released: int) -> list[Any]:
    """The user events of an in-process venue from the same run file, given the same requests after `released`
    data events, replayed until every order has closed."""
    venue = SandboxVenue.from_file(PROJECT_ROOT / RUN_FILE)
    for _ in range(released):
        assert venue.release_next() is not None
    for order in orders:
        fresh = Order(order.init)
        venue.submit(decode(encode(submit_request(command(fresh))), SubmitOrderRequest))
    while any(r.order_status not in CLOSED for r in venue.order_status_reports()):
        assert venue.release_next() is not None, "the data ended before every order closed"
    return [e.event for e in venue.user_events]


def test_trailing_stop_and_bracket_through_the_live_adapter(venue_url: str) -> None:  # noqa: F811 (fixture)
    async def main() -> None:
        node = StubNode()
        config = SandboxClientConfig(base_url=venue_url, lockstep=True, heartbeat_secs=1.0, request_timeout_secs=5.0)
        deps = {"clock": node.clock, "cache": node.cache, "log": node.log}
        executor: SandboxExecutionClient = SandboxClientFactory.create_exec_client(
            "SANDBOX", config, send_event=node.send_event, **deps
        )
        data: SandboxDataClient = SandboxClientFactory.create_data_client(
            "SANDBOX", config, handle_data=node.handle_data, trader_id=TRADER, **deps
        )
        data.wait_until_idle = node.wait_until_idle  # type: ignore[method-assign]
        node.data_client = data
        await executor.connect()
        await data.connect()
        try:
            for instrument in await data.request_instruments():
                node.cache.add_instrument(instrument)
            await data.subscribe_quote_ticks(EURUSD)
            await asyncio.wait_for(node.holding.wait(), 60)
            held = node.data[-1]
            assert isinstance(held, QuoteTick) and node.seq_at_hold == HOLD_AT  # quotes are all the run file replays

            # the venue stands still at the held quote: submit a trailing stop, then a bracket in list order
            qty = Quantity.from_str("100000")
            factory = node.order_factory
            trailing = factory.trailing_stop_market(EURUSD, OrderSide.SELL, qty, trailing_offset=Decimal("0.00005"))
            entry_px = held.ask_price.as_decimal() + Decimal("0.00002")
            bracket = factory.bracket(
                EURUSD,
                OrderSide.SELL,
                qty,
                sl_trigger_price=Price.from_str(str(entry_px + Decimal("0.00030"))),
                tp_price=Price.from_str(str(entry_px - Decimal("0.00010"))),
                entry_price=Price.from_str(str(entry_px)),
            )
            entry, stop_loss, take_profit = bracket
            orders = [trailing, *bracket]
            for order in orders:
                node.cache.add_order(order)
                executor.submit_order(command(order))
            await executor.wait_tasks()  # every submit answered and its events applied
            assert trailing.status is OrderStatus.ACCEPTED and entry.status is OrderStatus.ACCEPTED
            assert trailing.trigger_price == Price.from_str(str(held.bid_price.as_decimal() - Decimal("0.00005")))
            # the exits are held by the venue (no event yet), linked to their parent
            assert stop_loss.status is OrderStatus.SUBMITTED and take_profit.status is OrderStatus.SUBMITTED
            report = await executor.generate_order_status_report(EURUSD, client_order_id=take_profit.client_order_id)
            assert report is not None and report.order_status is OrderStatus.SUBMITTED
            assert report.parent_order_id == entry.client_order_id and report.linked_order_ids == (
                stop_loss.client_order_id,
            )

            node.release.set()
            await eventually(lambda: all(o.status in CLOSED for o in orders), "every order closed", timeout=60.0)
            expected = expected_log(orders, HOLD_AT)
            await eventually(
                lambda: (executor.last_user_seq or 0) >= len(expected), "the user stream caught up", timeout=60.0
            )

            # the live path delivered exactly the venue's events, in order
            received = [e for e in node.events[1:] if not isinstance(e, OrderSubmitted)]
            assert isinstance(node.events[0], AccountState)
            assert [encode(e) for e in received] == [encode(e) for e in expected]

            # the trailing stop trailed the rising market up, then filled
            triggers = [
                e.trigger_price
                for e in received
                if isinstance(e, OrderUpdated) and e.client_order_id == trailing.client_order_id
            ]
            assert len(triggers) >= 3 and triggers == sorted(triggers) and len(set(triggers)) == len(triggers)
            assert trailing.status is OrderStatus.FILLED and trailing.trigger_price == triggers[-1]
            # the bracket: exits accepted only after the entry's fill; take-profit filled, OUO canceled the stop
            ids = [
                (type(e), e.client_order_id)
                for e in received
                if getattr(e, "client_order_id", None) in {o.client_order_id for o in bracket}
            ]
            entry_fill = ids.index((OrderFilled, entry.client_order_id))
            assert ids.index((OrderAccepted, stop_loss.client_order_id)) > entry_fill
            assert ids.index((OrderAccepted, take_profit.client_order_id)) > entry_fill
            assert ids[-2:] == [(OrderFilled, take_profit.client_order_id), (OrderCanceled, stop_loss.client_order_id)]
            assert [o.status for o in bracket] == [OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.FILLED]

            # the venue's reports carry the new fields through the wire
            report = await executor.generate_order_status_report(EURUSD, client_order_id=trailing.client_order_id)
            assert report is not None and report.order_type is OrderType.TRAILING_STOP_MARKET
            assert report.trailing_offset == Decimal("0.00005")
            assert report.trailing_offset_type is TrailingOffsetType.PRICE
            positions = await executor.generate_position_status_reports(instrument_id=EURUSD)
            assert [p.quantity for p in positions] == [Quantity.from_str("100000")]  # short 2 x 100000, 1 bought back
        finally:
            await data.disconnect()
            await executor.disconnect()

    run(main(), timeout=120.0)
