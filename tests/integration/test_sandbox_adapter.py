"""The sandbox adapter clients against a real `toolkit venue` process (lockstep, port 0, sample catalog).

A stub node collects what the clients hand over: market data (with the `seq` it came with) and execution
events in lists; its `wait_until_idle` returns at once unless a test holds it. The venue process is started
from the console script, its URL read from stdout with a deadline, and it is stopped in a `finally`. The
drop test uses the venue's test hook `POST /api/v1/test/drop_connections` (signed like any request) while
the data client holds an unacknowledged event, then checks that both streams came back with nothing missing
and nothing twice. Every wait is on a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT
from toolkit.adapters.sandbox.client import SandboxDataClient, SandboxExecutionClient
from toolkit.adapters.sandbox.factory import SandboxClientConfig, SandboxClientFactory
from toolkit.core.cache import Cache
from toolkit.core.clock import LiveClock
from toolkit.core.log import Logger
from toolkit.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
from toolkit.model.data import QuoteTick
from toolkit.model.enums import OrderSide, OrderStatus
from toolkit.model.events import (
    AccountState,
    OrderCanceled,
    OrderCancelRejected,
    OrderFilled,
    OrderModifyRejected,
    OrderRejected,
    OrderSubmitted,
)
from toolkit.model.identifiers import InstrumentId, StrategyId, TraderId
from toolkit.model.objects import Price, Quantity
from toolkit.model.orders import Order
from toolkit.trading.order_factory import OrderFactory

RUN_FILE = "strategies/ema_cross_ticks.toml"
EURUSD = InstrumentId("EUR/USD.SIM")
TRADER, STRATEGY = TraderId("E2E-001"), StrategyId("SBX-001")
URL_LINE = re.compile(r"toolkit venue listening on (http://127\.0\.0\.1:\d+)")


@pytest.fixture(autouse=True)
def _no_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TOOLKIT_SANDBOX_URL", "TOOLKIT_SANDBOX_API_KEY", "TOOLKIT_SANDBOX_API_SECRET"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def venue_url(tmp_path: Path) -> Iterator[str]:
    """A `toolkit venue RUN_FILE --port 0 --lockstep` process; yields its URL, stops it afterwards."""
    toolkit = Path(sys.executable).parent / "toolkit"
    stderr_path = tmp_path / "venue.stderr"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLKIT_SANDBOX_")}
    with stderr_path.open("w") as stderr:
        proc = subprocess.Popen(
            [str(toolkit), "venue", RUN_FILE, "--port", "0", "--lockstep", "--heartbeat-secs", "1"],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )
    try:
        lines: queue.Queue[str | None] = queue.Queue()

        def read_stdout() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read_stdout, daemon=True).start()
        url = None
        try:
            while url is None:
                line = lines.get(timeout=60)
                if line is None:
                    break
                match = URL_LINE.search(line)
                url = match.group(1) if match else None
        except queue.Empty:
            pass
        if url is None:
            raise AssertionError(f"the venue printed no URL (exit code {proc.poll()}):\n{stderr_path.read_text()}")
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def run(coro: Coroutine[Any, Any, Any], timeout: float = 90.0) -> Any:
    async def bounded() -> Any:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


async def eventually(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)


class StubNode:
    """Lists of what the clients hand over; `hold_at` makes `wait_until_idle` block at that data count."""

    def __init__(self) -> None:
        self.clock = LiveClock()
        self.cache = Cache()
        self.log = Logger("sandbox-e2e", self.clock)
        self.order_factory = OrderFactory(TRADER, STRATEGY, self.clock)
        self.data: list[Any] = []
        self.seqs: list[int] = []
        self.events: list[Any] = []
        self.data_client: SandboxDataClient | None = None
        self.hold_at: int | None = None
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def handle_data(self, obj: Any) -> None:
        assert self.data_client is not None
        self.data.append(obj)
        self.seqs.append(self.data_client.last_seq)

    def send_event(self, event: Any) -> None:
        self.events.append(event)
        order = self.cache.order(event.client_order_id) if hasattr(event, "client_order_id") else None
        if order is not None:
            with contextlib.suppress(ValueError):  # the engine's job; the stub only tracks statuses
                order.apply(event)

    async def wait_until_idle(self) -> None:
        if self.hold_at is not None and len(self.data) >= self.hold_at:
            self.holding.set()
            await self.release.wait()
            self.hold_at = None

    def market(self, side: OrderSide = OrderSide.BUY, qty: str = "100000") -> SubmitOrder:
        return self._command(self.order_factory.market(EURUSD, side, Quantity.from_str(qty)))

    def limit(self, price: str, side: OrderSide = OrderSide.BUY, qty: str = "100000") -> SubmitOrder:
        return self._command(self.order_factory.limit(EURUSD, side, Quantity.from_str(qty), Price.from_str(price)))

    def _command(self, order: Order) -> SubmitOrder:
        self.cache.add_order(order)
        return SubmitOrder(trader_id=TRADER, strategy_id=STRATEGY, instrument_id=EURUSD, order=order, ts_init=0)

    def of_type(self, cls: type, order: Order | None = None) -> list[Any]:
        return [
            e
            for e in self.events
            if isinstance(e, cls) and (order is None or e.client_order_id == order.client_order_id)
        ]


async def connect(node: StubNode, url: str) -> tuple[SandboxDataClient, SandboxExecutionClient]:
    config = SandboxClientConfig(base_url=url, lockstep=True, heartbeat_secs=1.0, request_timeout_secs=5.0)
    deps = {"clock": node.clock, "cache": node.cache, "log": node.log}
    executor = SandboxClientFactory.create_exec_client("SANDBOX", config, send_event=node.send_event, **deps)
    data = SandboxClientFactory.create_data_client(
        "SANDBOX", config, handle_data=node.handle_data, trader_id=TRADER, **deps
    )
    data.wait_until_idle = node.wait_until_idle
    node.data_client = data
    await executor.connect()
    await data.connect()
    for instrument in await data.request_instruments():
        node.cache.add_instrument(instrument)
    return data, executor


def test_trade_through_the_venue_and_survive_dropped_connections(venue_url: str) -> None:
    async def main() -> None:
        node = StubNode()
        data, executor = await connect(node, venue_url)
        try:
            assert isinstance(node.events[0], AccountState) and node.events[0].account_id == executor.account_id
            assert EURUSD in {i.id for i in node.cache.instruments()}
            await data.subscribe_quote_ticks(EURUSD)
            await eventually(lambda: len(node.data) >= 20, "20 quotes")
            assert all(isinstance(d, QuoteTick) and d.instrument_id == EURUSD for d in node.data)

            buy = node.market()
            executor.submit_order(buy)
            await executor.wait_tasks()  # done only once the stream has applied the order's events
            assert isinstance(node.events[1], OrderSubmitted)
            assert [type(e) for e in node.of_type(OrderFilled, buy.order)] == [OrderFilled]
            assert buy.order.status is OrderStatus.FILLED
            assert isinstance(node.events[-1], AccountState)

            # hold an event unacknowledged, drop every connection, trade while the streams are down
            node.hold_at = len(node.data) + 5
            await asyncio.wait_for(node.holding.wait(), 20)
            held_seq = data.last_seq
            reply = await executor.rest.request("POST", "/test/drop_connections")
            assert reply
            sell = node.market(OrderSide.SELL)
            executor.submit_order(sell)
            node.release.set()
            await executor.wait_tasks()
            await eventually(lambda: len(node.data) >= node.seqs.index(held_seq) + 40, "quotes after the drop")
            await eventually(lambda: sell.order.status is OrderStatus.FILLED, "the sell filled")
            assert data.socket is not None and data.socket.connections >= 2
            assert executor.socket is not None and executor.socket.connections >= 2

            # market data: every seq once, none missing (the run file replays EUR/USD quotes only)
            assert node.seqs == list(range(node.seqs[0], node.seqs[-1] + 1))
            assert data.duplicates <= 1
            # execution: every event of the venue's log once, in order
            status = await data.request_status()
            await eventually(lambda: executor.last_user_seq == status["user_seq"], "user stream caught up")
            fills = await executor.generate_fill_reports()
            filled = node.of_type(OrderFilled)
            assert sorted(str(f.trade_id) for f in fills) == sorted(str(f.trade_id) for f in filled)
            assert len({f.trade_id for f in filled}) == len(filled) == 2
            assert len(node.of_type(OrderSubmitted)) == 2
            print(
                f"drop: held seq {held_seq}, duplicates {data.duplicates}, "
                f"connections {data.socket.connections}/{executor.socket.connections}, "
                f"user_seq {executor.last_user_seq}, resent user events skipped {executor.duplicates}"
            )
            positions = await executor.generate_position_status_reports(instrument_id=EURUSD)
            assert [p.quantity.is_zero() for p in positions] == [True]
        finally:
            await data.disconnect()
            await executor.disconnect()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert others == []

    run(main())


def test_venue_refusals_reach_the_strategy_as_rejections(venue_url: str) -> None:
    async def main() -> None:
        node = StubNode()
        data, executor = await connect(node, venue_url)
        try:
            await data.subscribe_quote_ticks(EURUSD)
            await eventually(lambda: len(node.data) >= 5, "quotes")
            too_fine = node.limit("1.000001")  # 6 decimals on a 5-decimal instrument
            executor.submit_order(too_fine)
            await executor.wait_tasks()
            rejected = node.of_type(OrderRejected, too_fine.order)
            assert len(rejected) == 1 and "price" in rejected[0].reason
            assert too_fine.order.status is OrderStatus.REJECTED

            resting = node.limit("0.50000")  # far below the market: rests
            executor.submit_order(resting)
            await executor.wait_tasks()
            assert resting.order.status is OrderStatus.ACCEPTED
            report = await executor.generate_order_status_report(EURUSD, client_order_id=resting.client_order_id)
            assert report is not None and report.order_status is OrderStatus.ACCEPTED
            ids = {"trader_id": TRADER, "strategy_id": STRATEGY, "instrument_id": EURUSD, "ts_init": 0}
            executor.cancel_order(CancelOrder(client_order_id=resting.client_order_id, **ids))
            await executor.wait_tasks()
            assert len(node.of_type(OrderCanceled, resting.order)) == 1
            executor.cancel_order(CancelOrder(client_order_id=resting.client_order_id, **ids))
            executor.modify_order(
                ModifyOrder(client_order_id=resting.client_order_id, price=Price.from_str("0.50001"), **ids)
            )
            await executor.wait_tasks()
            assert len(node.of_type(OrderCancelRejected, resting.order)) == 1
            assert len(node.of_type(OrderModifyRejected, resting.order)) == 1
            assert node.of_type(OrderCancelRejected)[0].reason
            mass = await executor.generate_mass_status()
            assert mass is not None and report.venue_order_id in mass.order_reports

            resting_sell = node.limit("9.00000", OrderSide.SELL)
            executor.submit_order(resting_sell)
            await executor.wait_tasks()
            assert resting_sell.order.status is OrderStatus.ACCEPTED
            executor.cancel_all_orders(CancelAllOrders(order_side=OrderSide.SELL, **ids))
            await executor.wait_tasks()
            assert resting_sell.order.status is OrderStatus.CANCELED
        finally:
            await data.disconnect()
            await executor.disconnect()

    run(main())
