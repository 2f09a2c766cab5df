"""Sandbox adapter clients against a small fake venue (aiohttp.web on 127.0.0.1, port 0) written here.

The fake implements just enough of docs/sandbox.md: it checks every signature itself (HMAC over timestamp +
METHOD + raw path with query + body; WebSocket query params), refuses replays, answers the REST calls the
clients make, and lets a test push market and user stream events, drop sockets, refuse reconnects, stay
silent (no pong, no heartbeat) or lose its user event log. Every wait is on a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import msgspec
import pytest
from aiohttp import web

from toolkit.adapters.sandbox import protocol
from toolkit.adapters.sandbox.client import (
    RequestSigner,
    SandboxDataClient,
    SandboxExecutionClient,
    backfill_events,
    path_with_query,
    reconnect_delay,
)
from toolkit.adapters.sandbox.factory import SandboxClientConfig, SandboxClientFactory
from toolkit.core.cache import Cache
from toolkit.core.clock import LiveClock
from toolkit.core.config import ConfigError
from toolkit.core.log import Logger
from toolkit.live.clients import client_config
from toolkit.model.commands import CancelOrder, ModifyOrder, SubmitOrder
from toolkit.model.data import BarType, QuoteTick
from toolkit.model.enums import (
    AccountType,
    LiquiditySide,
    OmsType,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from toolkit.model.events import (
    AccountBalance,
    AccountState,
    OrderAccepted,
    OrderCancelRejected,
    OrderFilled,
    OrderModifyRejected,
    OrderRejected,
    OrderSubmitted,
)
from toolkit.model.identifiers import (
    AccountId,
    ClientId,
    InstrumentId,
    StrategyId,
    TradeId,
    TraderId,
    Venue,
    VenueOrderId,
)
from toolkit.model.instruments import CurrencyPair
from toolkit.model.objects import Currency, Money, Price, Quantity
from toolkit.model.orders import Order
from toolkit.model.reports import FillReport, OrderStatusReport
from toolkit.trading.order_factory import OrderFactory

KEY, SECRET = "test-key", "test-secret"
USD = Currency.from_str("USD")
EURUSD = InstrumentId("EUR/USD.SIM")
TRADER, STRATEGY = TraderId("TESTER-001"), StrategyId("EMA-001")
ACCOUNT = AccountId("SIM-001")
T0 = 1_704_067_200_000_000_000


@pytest.fixture(autouse=True)
def _no_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TOOLKIT_SANDBOX_URL", "TOOLKIT_SANDBOX_API_KEY", "TOOLKIT_SANDBOX_API_SECRET"):
        monkeypatch.delenv(var, raising=False)


def run(coro: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
    async def bounded() -> Any:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


async def eventually(predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)


def instrument() -> CurrencyPair:
    return CurrencyPair(
        id=EURUSD,
        base_currency=Currency.from_str("EUR"),
        quote_currency=USD,
        settlement_currency=USD,
        price_precision=5,
        size_precision=0,
        price_increment=Price.from_str("0.00001"),
        size_increment=Quantity.from_str("1"),
    )


def quote(n: int) -> QuoteTick:
    bid = Price.from_str("1.10000").raw + n * 10_000
    return QuoteTick(EURUSD, bid, bid + 20_000, 10**14, 10**14, 5, 0, T0 + n, T0 + n)


def account_state(total: str = "1000000") -> AccountState:
    money = Money.of(total, USD)
    return AccountState(
        account_id=ACCOUNT,
        account_type=AccountType.MARGIN,
        base_currency=USD,
        balances=(AccountBalance(money, Money.of("0", USD), money),),
        ts_event=T0,
        ts_init=T0,
    )


# ---- the fake venue --------------------------------------------------------------------------------------------


class FakeVenue:
    """See the module docstring. Counters and logs are plain attributes the tests read."""

    def __init__(self) -> None:
        self.url = ""
        self.requests: list[dict[str, Any]] = []  # every REST request that passed authentication
        self.auth_failures: list[str] = []
        self._seen_signatures: set[str] = set()
        self.market_sockets: list[web.WebSocketResponse] = []
        self.user_sockets: list[web.WebSocketResponse] = []
        self._transports: dict[int, Any] = {}  # id(ws) -> transport, to drop a connection abruptly
        self.market_connects: list[dict[str, str]] = []  # query params of each market connection
        self.user_connects = 0
        self.market_ops: list[tuple[int, dict[str, Any]]] = []  # (connection number, op)
        self.user_ops: list[tuple[int, dict[str, Any]]] = []
        self.acks: list[int] = []
        self.refuse_ws = 0  # refuse this many WebSocket handshakes (503)
        self.silent = False  # no pong, no reply at all on the market socket
        self.user_log: list[dict[str, Any]] = []  # the user stream, user_seq = index + 1
        self.push_user_live = True  # send new user events to open sockets at once
        self.user_push_delay = 0.0  # push the events of a request this long after replying
        self.resume_overlap = 0  # on resume, also resend this many events at or before after_seq
        self.lost_log = False  # answer resume with an error
        self.status_user_seq = False  # /status tells the current user_seq (an extension the real server has)
        self.submit_error: tuple[int, dict[str, Any]] | None = None
        self.cancel_error: tuple[int, dict[str, Any]] | None = None
        self.modify_error: tuple[int, dict[str, Any]] | None = None
        self.order_reports: list[OrderStatusReport] = []
        self.fill_reports: list[FillReport] = []
        self._runner: web.AppRunner | None = None
        self._trade = 0

    async def start(self) -> str:
        app = web.Application(middlewares=[self._auth])
        p = protocol.API_PREFIX
        app.router.add_get(f"{p}/instruments", self._instruments)
        app.router.add_get(f"{p}/status", self._status)
        app.router.add_get(f"{p}/account", self._account)
        app.router.add_post(f"{p}/orders", self._submit)
        app.router.add_put(p + "/orders/{coid}", self._modify)
        app.router.add_delete(p + "/orders/{coid}", self._cancel)
        app.router.add_get(p + "/orders/{coid}", self._order)
        app.router.add_get(f"{p}/orders", self._orders)
        app.router.add_get(f"{p}/fills", self._fills)
        app.router.add_get(f"{p}/positions", self._positions)
        app.router.add_get("/ws/market", self._ws_market)
        app.router.add_get("/ws/user", self._ws_user)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        for ws in self.market_sockets + self.user_sockets:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- authentication, checked exactly as docs/sandbox.md says --
    @web.middleware
    async def _auth(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        body = await request.read()
        if request.path.startswith("/ws/"):
            key = request.query.get("api_key")
            stamp = request.query.get("timestamp", "")
            signature = request.query.get("signature", "")
            signed_path = request.path
        else:
            key = request.headers.get("X-TK-APIKEY")
            stamp = request.headers.get("X-TK-TIMESTAMP", "")
            signature = request.headers.get("X-TK-SIGNATURE", "")
            signed_path = request.raw_path
        payload = f"{stamp}{request.method}{signed_path}".encode() + body
        expected = hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest()
        problem = None
        if key != KEY:
            problem = f"unknown api key {key!r}"
        elif not stamp.isdigit() or abs(int(stamp) - time.time_ns() // 1_000_000) > protocol.RECV_WINDOW_MS:
            problem = f"timestamp {stamp!r} outside the window"
        elif signature != expected:
            problem = "bad signature"
        elif signature in self._seen_signatures:
            problem = "replayed signature"
        if problem is not None:
            self.auth_failures.append(problem)
            return web.json_response({"error": "unauthorized", "message": problem, "field": None}, status=401)
        self._seen_signatures.add(signature)
        if not request.path.startswith("/ws/"):
            self.requests.append(
                {"method": request.method, "path_qs": request.raw_path, "headers": dict(request.headers), "body": body}
            )
        return await handler(request)

    # -- REST --
    async def _instruments(self, request: web.Request) -> web.Response:
        return web.json_response({"instruments": [instrument().to_dict()]})

    async def _status(self, request: web.Request) -> web.Response:
        status = {"venue": "SIM", "time_ns": T0, "lockstep": False, "end_of_data": False}
        if self.status_user_seq:
            status["user_seq"] = len(self.user_log)
        return web.json_response(status)

    async def _account(self, request: web.Request) -> web.Response:
        return _json({"account": protocol.to_builtins(account_state())})

    async def _submit(self, request: web.Request) -> web.Response:
        if self.submit_error is not None:
            status, body = self.submit_error
            return web.json_response(body, status=status)
        req = protocol.decode(await request.read(), protocol.SubmitOrderRequest)
        ids = {
            "trader_id": TraderId(req.trader_id),
            "strategy_id": StrategyId(req.strategy_id),
            "instrument_id": InstrumentId(req.instrument_id),
            "client_order_id": req.client_order_id,
        }
        venue_id = VenueOrderId(f"V-{len(self.user_log) + 1}")
        self._trade += 1
        events = [
            OrderAccepted(**ids, venue_order_id=venue_id, account_id=ACCOUNT, ts_event=T0, ts_init=T0),
            OrderFilled(
                **ids,
                venue_order_id=venue_id,
                account_id=ACCOUNT,
                trade_id=TradeId(f"T-{self._trade}"),
                order_side=req.order_side,
                order_type=req.order_type,
                last_qty=Quantity.from_str(req.quantity),
                last_px=Price.from_str("1.10002"),
                currency=USD,
                commission=Money.of("2.20", USD),
                liquidity_side=LiquiditySide.TAKER,
                ts_event=T0,
                ts_init=T0,
            ),
        ]
        encoded = await self.add_user_events(events, delay=self.user_push_delay)
        return _json(
            {
                "client_order_id": req.client_order_id,
                "venue_order_id": venue_id,
                "status": "FILLED",
                "events": encoded,
                "user_seq": len(self.user_log),
            }
        )

    async def _modify(self, request: web.Request) -> web.Response:
        if self.modify_error is not None:
            return web.json_response(self.modify_error[1], status=self.modify_error[0])
        return _json({"events": [], "user_seq": len(self.user_log)})

    async def _cancel(self, request: web.Request) -> web.Response:
        if self.cancel_error is not None:
            return web.json_response(self.cancel_error[1], status=self.cancel_error[0])
        return _json({"events": [], "user_seq": len(self.user_log)})

    async def _order(self, request: web.Request) -> web.Response:
        for report in self.order_reports:
            if report.client_order_id == request.match_info["coid"]:
                return _json({"report": protocol.to_builtins(report)})
        body = {"error": "not_found", "message": "unknown order", "field": "client_order_id"}
        return web.json_response(body, status=404)

    async def _orders(self, request: web.Request) -> web.Response:
        return _json({"reports": protocol.to_builtins(self.order_reports)})

    async def _fills(self, request: web.Request) -> web.Response:
        return _json({"reports": protocol.to_builtins(self.fill_reports)})

    async def _positions(self, request: web.Request) -> web.Response:
        return _json({"reports": []})

    # -- WebSockets --
    async def _refused(self) -> web.Response | None:
        if self.refuse_ws > 0:
            self.refuse_ws -= 1
            return web.json_response({"error": "unavailable", "message": "try later", "field": None}, status=503)
        return None

    async def _ws_market(self, request: web.Request) -> web.StreamResponse:
        refused = await self._refused()
        if refused is not None:
            return refused
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.market_connects.append(dict(request.query))
        number = len(self.market_connects)
        self.market_sockets.append(ws)
        self._transports[id(ws)] = request.transport
        async for msg in ws:
            op = msgspec.json.decode(msg.data)
            self.market_ops.append((number, op))
            if self.silent:
                continue
            if op["op"] == "subscribe":
                await ws.send_json({"type": "subscribed", "channels": op["channels"]})
            elif op["op"] == "ack":
                self.acks.append(op["seq"])
            elif op["op"] == "ping":
                await ws.send_json({"type": "pong"})
        return ws

    async def _ws_user(self, request: web.Request) -> web.StreamResponse:
        refused = await self._refused()
        if refused is not None:
            return refused
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.user_connects += 1
        number = self.user_connects
        self.user_sockets.append(ws)
        self._transports[id(ws)] = request.transport
        async for msg in ws:
            op = msgspec.json.decode(msg.data)
            self.user_ops.append((number, op))
            if op["op"] == "ping":
                await ws.send_json({"type": "pong"})
            elif op["op"] == "resume":
                if self.lost_log:
                    await ws.send_json({"type": "error", "error": "resume_unavailable", "message": "log lost"})
                    continue
                start = max(0, op["after_seq"] - self.resume_overlap)
                for index in range(start, len(self.user_log)):
                    await ws.send_json({"type": "event", "user_seq": index + 1, "event": self.user_log[index]})
        return ws

    # -- test controls --
    async def add_user_events(self, events: list[Any], delay: float = 0.0) -> list[dict[str, Any]]:
        """Append to the user log and push to open user sockets (now, or `delay` s later)."""
        encoded = [protocol.to_builtins(e) for e in events]
        first = len(self.user_log) + 1
        self.user_log.extend(encoded)
        if self.push_user_live:
            messages = [{"type": "event", "user_seq": first + i, "event": e} for i, e in enumerate(encoded)]
            if delay:
                asyncio.get_running_loop().call_later(delay, lambda: asyncio.ensure_future(self.send_user(messages)))
            else:
                await self.send_user(messages)
        return encoded

    async def send_user(self, messages: list[dict[str, Any]]) -> None:
        for ws in list(self.user_sockets):
            if not ws.closed:
                for message in messages:
                    await ws.send_json(message)

    async def push_data(self, seq: int, obj: Any, user_seq: int | None = None) -> None:
        message = {"type": "data", "seq": seq, "data": protocol.encode_data(obj)}
        if user_seq is not None:
            message["user_seq"] = user_seq
        for ws in list(self.market_sockets):
            if not ws.closed:
                await ws.send_json(message)

    async def send_market(self, message: dict[str, Any]) -> None:
        for ws in list(self.market_sockets):
            if not ws.closed:
                await ws.send_json(message)

    async def drop(self, which: str, clean: bool = False) -> None:
        """End every open socket of `which` ("market" or "user"): a close handshake, or (default) the TCP
        connection closed under it, as when a server dies."""
        sockets = self.market_sockets if which == "market" else self.user_sockets
        for ws in list(sockets):
            transport = self._transports.pop(id(ws), None)
            if clean or transport is None:
                await ws.close()
            else:
                transport.close()
        sockets.clear()

    def open_market_sockets(self) -> int:
        return sum(1 for ws in self.market_sockets if not ws.closed)

    def open_user_sockets(self) -> int:
        return sum(1 for ws in self.user_sockets if not ws.closed)


def _json(data: Any) -> web.Response:
    return web.Response(body=protocol.encode(data), content_type="application/json")


# ---- node stub -------------------------------------------------------------------------------------------------


class Node:
    """What the node gives the clients: a clock, a cache, a logger, and lists for data and events."""

    def __init__(self) -> None:
        self.clock = LiveClock()
        self.cache = Cache()
        self.log = Logger("sandbox-test", self.clock)
        self.order_factory = OrderFactory(TRADER, STRATEGY, self.clock)
        self.data: list[Any] = []
        self.events: list[Any] = []
        self.timeline: list[Any] = []  # data and events in the order the node got them

    async def handle_data(self, obj: Any) -> None:
        self.data.append(obj)
        self.timeline.append(obj)

    def send_event(self, event: Any) -> None:
        self.events.append(event)
        self.timeline.append(event)

    def of_type(self, cls: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]


def config(url: str, **overrides: Any) -> SandboxClientConfig:
    values: dict[str, Any] = {
        "base_url": url,
        "api_key": KEY,
        "api_secret": SECRET,
        "heartbeat_secs": 1.0,
        "reconnect_initial_delay_secs": 0.01,
        "reconnect_max_delay_secs": 0.05,
        "request_timeout_secs": 2.0,
    }
    values.update(overrides)
    return SandboxClientConfig(**values)


def data_client(node: Node, cfg: SandboxClientConfig) -> SandboxDataClient:
    return SandboxClientFactory.create_data_client(
        "SANDBOX", cfg, clock=node.clock, cache=node.cache, log=node.log, handle_data=node.handle_data,
        trader_id=TRADER,
    )  # fmt: skip


def exec_client(node: Node, cfg: SandboxClientConfig) -> SandboxExecutionClient:
    return SandboxClientFactory.create_exec_client(
        "SANDBOX", cfg, clock=node.clock, cache=node.cache, log=node.log, send_event=node.send_event
    )


def market_order(node: Node, qty: str = "100000", side: OrderSide = OrderSide.BUY) -> SubmitOrder:
    order = node.order_factory.market(EURUSD, side, Quantity.from_str(qty))
    node.cache.add_order(order)
    return SubmitOrder(trader_id=TRADER, strategy_id=STRATEGY, instrument_id=EURUSD, order=order, ts_init=0)


# ---- pure parts ------------------------------------------------------------------------------------------------


def test_reconnect_delay_doubles_from_initial_is_capped_and_jittered() -> None:
    rng = random.Random("SANDBOX")
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.6), (6, 3.2), (7, 5.0), (30, 5.0)]:
        delays = [reconnect_delay(attempt, 0.1, 5.0, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempt, min(delays), max(delays))
        assert len(set(delays)) > 1  # jitter
    same = [reconnect_delay(3, 0.1, 5.0, random.Random("A")) for _ in range(2)]
    assert same[0] == same[1]  # seeded by the client id: reproducible


def test_path_with_query_keeps_slashes_and_drops_none() -> None:
    assert path_with_query("/api/v1/orders") == "/api/v1/orders"
    assert (
        path_with_query("/api/v1/orders", {"instrument_id": EURUSD, "open_only": True, "start_ns": None})
        == "/api/v1/orders?instrument_id=EUR/USD.SIM&open_only=true"
    )


def test_signer_matches_the_documented_hmac_and_never_repeats_a_signature() -> None:
    signer = RequestSigner(KEY, SECRET)
    first = signer.headers("get", "/api/v1/orders?open_only=true")
    second = signer.headers("GET", "/api/v1/orders?open_only=true")
    assert set(first) == {"X-TK-APIKEY", "X-TK-TIMESTAMP", "X-TK-SIGNATURE"}
    assert first["X-TK-APIKEY"] == KEY
    payload = f"{first['X-TK-TIMESTAMP']}GET/api/v1/orders?open_only=true".encode()
    assert first["X-TK-SIGNATURE"] == hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest()
    assert int(second["X-TK-TIMESTAMP"]) > int(first["X-TK-TIMESTAMP"]) or second != first
    assert second["X-TK-SIGNATURE"] != first["X-TK-SIGNATURE"]
    ws = signer.ws_params("/ws/market")
    ws_payload = f"{ws['timestamp']}GET/ws/market".encode()
    assert ws["signature"] == hmac.new(SECRET.encode(), ws_payload, hashlib.sha256).hexdigest()


def test_config_defaults_validation_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    factory, cfg = client_config({"factory": "sandbox", "lockstep": "true"}, "live.toml", "live.data_clients.SIM")
    assert factory is SandboxClientFactory
    assert isinstance(cfg, SandboxClientConfig)
    assert (cfg.base_url, cfg.api_key, cfg.api_secret) == ("http://127.0.0.1:8765", "sandbox-key", "sandbox-secret")
    assert (cfg.venue, cfg.account_id, cfg.oms_type, cfg.lockstep) == ("SIM", "SIM-001", OmsType.NETTING, True)
    assert (cfg.heartbeat_secs, cfg.reconnect_initial_delay_secs, cfg.reconnect_max_delay_secs) == (5.0, 0.1, 5.0)
    assert (cfg.request_timeout_secs, cfg.client_id) == (10.0, None)
    with pytest.raises(ConfigError, match="heartbeat_secs"):
        client_config({"factory": "sandbox", "heartbeat_secs": 0}, "live.toml", "x")
    with pytest.raises(ConfigError, match="base_url"):
        client_config({"factory": "sandbox", "base_url": "127.0.0.1:1"}, "live.toml", "x")
    with pytest.raises(ConfigError, match="nope"):
        client_config({"factory": "sandbox", "nope": 1}, "live.toml", "x")
    monkeypatch.setenv("TOOLKIT_SANDBOX_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("TOOLKIT_SANDBOX_API_KEY", "k2")
    monkeypatch.setenv("TOOLKIT_SANDBOX_API_SECRET", "s2")
    env = cfg.with_environment()
    assert (env.base_url, env.api_key, env.api_secret, env.lockstep) == ("http://127.0.0.1:9999", "k2", "s2", True)
    node = Node()
    client = data_client(node, cfg)
    assert client.config.base_url == "http://127.0.0.1:9999"
    assert client.stream_client_id == "TESTER-001-SANDBOX"
    assert client.client_id == ClientId("SANDBOX") and client.venue == Venue("SIM")
    executor = exec_client(node, cfg)
    assert executor.account_id == ACCOUNT and executor.oms_type is OmsType.NETTING
    with pytest.raises(TypeError, match="handle_data"):
        SandboxClientFactory.create_data_client("X", cfg, clock=node.clock, cache=node.cache, log=node.log)


def test_backfill_events_from_reports() -> None:
    node = Node()
    node.cache.add_instrument(instrument())
    command = market_order(node)
    order = command.order
    order.apply(
        OrderSubmitted(
            trader_id=TRADER,
            strategy_id=STRATEGY,
            instrument_id=EURUSD,
            client_order_id=order.client_order_id,
            account_id=ACCOUNT,
            ts_event=T0,
            ts_init=T0,
        )
    )
    report = _order_report(order, OrderStatus.FILLED)
    fills = [_fill_report(order, "T-1"), _fill_report(order, "T-0")]
    known = {(order.client_order_id, TradeId("T-0"))}
    events = backfill_events([report], fills, node.cache, ACCOUNT, known, T0 + 5)
    assert [type(e).__name__ for e in events] == ["OrderAccepted", "OrderFilled"]
    fill = events[1]
    assert fill.trade_id == TradeId("T-1") and fill.reconciliation and fill.currency == USD
    assert fill.order_type is OrderType.MARKET and fill.venue_order_id == VenueOrderId("V-1")


def _order_report(order: Order, status: OrderStatus) -> OrderStatusReport:
    return OrderStatusReport(
        account_id=ACCOUNT,
        instrument_id=EURUSD,
        venue_order_id=VenueOrderId("V-1"),
        client_order_id=order.client_order_id,
        order_side=order.side,
        order_type=order.order_type,
        time_in_force=TimeInForce.GTC,
        order_status=status,
        quantity=order.quantity,
        filled_qty=order.quantity if status is OrderStatus.FILLED else Quantity.from_str("0"),
        ts_accepted=T0,
        ts_last=T0,
        ts_init=T0,
    )


def _fill_report(order: Order, trade_id: str) -> FillReport:
    return FillReport(
        account_id=ACCOUNT,
        instrument_id=EURUSD,
        venue_order_id=VenueOrderId("V-1"),
        client_order_id=order.client_order_id,
        trade_id=TradeId(trade_id),
        order_side=order.side,
        last_qty=order.quantity,
        last_px=Price.from_str("1.10002"),
        commission=Money.of("2.20", USD),
        liquidity_side=LiquiditySide.TAKER,
        ts_event=T0,
        ts_init=T0,
    )


# ---- execution client ------------------------------------------------------------------------------------------


def test_submit_signs_requests_emits_submitted_then_stream_events_once() -> None:
    async def main() -> None:
        venue = FakeVenue()
        url = await venue.start()
        node = Node()
        client = exec_client(node, config(url))
        try:
            await client.connect()
            assert isinstance(node.events[0], AccountState)  # the portfolio gets the account first
            venue.user_push_delay = 0.2  # the stream delivers after the REST reply: the task must wait
            command = market_order(node)
            client.submit_order(command)
            assert [type(e) for e in node.events] == [AccountState, OrderSubmitted]  # synchronously
            assert client.pending_tasks == 1
            await client.wait_tasks()  # idle means: the events of the request are applied
            assert [type(e) for e in node.events] == [AccountState, OrderSubmitted, OrderAccepted, OrderFilled]
            assert node.events[1].client_order_id == command.order.client_order_id
            assert node.events[1].account_id == ACCOUNT
            assert client.last_user_seq == 2
            # a resend of the same events (same user_seq) is not applied again
            await venue.send_user([{"type": "event", "user_seq": 2, "event": venue.user_log[1]}])
            await venue.send_user([{"type": "event", "user_seq": 1, "event": venue.user_log[0]}])
            await eventually(lambda: client.duplicates == 2, "duplicates skipped")
            assert len(node.events) == 4
        finally:
            await client.disconnect()
            await venue.stop()
        assert venue.auth_failures == []
        submit = next(r for r in venue.requests if r["method"] == "POST")
        assert submit["path_qs"] == "/api/v1/orders"
        headers = submit["headers"]
        payload = f"{headers['X-TK-TIMESTAMP']}POST/api/v1/orders".encode() + submit["body"]
        assert headers["X-TK-SIGNATURE"] == hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest()
        assert headers["X-TK-APIKEY"] == KEY
        assert abs(int(headers["X-TK-TIMESTAMP"]) - time.time_ns() // 1_000_000) < protocol.RECV_WINDOW_MS
        body = msgspec.json.decode(submit["body"])
        assert body["quantity"] == "100000" and body["order_type"] == "MARKET" and body["order_side"] == "BUY"
        assert client.pending_tasks == 0 and not client.is_connected

    run(main())


def test_refused_requests_become_rejections_with_the_server_message() -> None:
    async def main() -> None:
        venue = FakeVenue()
        url = await venue.start()
        node = Node()
        client = exec_client(node, config(url))
        try:
            await client.connect()
            message = "price has more decimals than the instrument's precision 5"
            venue.submit_error = (400, {"error": "bad_request", "message": message, "field": "price"})
            command = market_order(node)
            client.submit_order(command)
            await client.wait_tasks()
            assert [type(e) for e in node.events] == [AccountState, OrderSubmitted, OrderRejected]
            rejected = node.events[-1]
            assert rejected.reason == message and rejected.client_order_id == command.order.client_order_id
            coid = command.order.client_order_id
            venue.modify_error = (404, {"error": "not_found", "message": "unknown order X", "field": None})
            venue.cancel_error = (404, {"error": "not_found", "message": "unknown order Y", "field": None})
            client.modify_order(
                ModifyOrder(
                    trader_id=TRADER,
                    strategy_id=STRATEGY,
                    instrument_id=EURUSD,
                    client_order_id=coid,
                    quantity=Quantity.from_str("5"),
                    ts_init=0,
                )
            )
            client.cancel_order(
                CancelOrder(
                    trader_id=TRADER, strategy_id=STRATEGY, instrument_id=EURUSD, client_order_id=coid, ts_init=0
                )
            )
            await client.wait_tasks()
            assert [e.reason for e in node.of_type(OrderModifyRejected)] == ["unknown order X"]
            assert [e.reason for e in node.of_type(OrderCancelRejected)] == ["unknown order Y"]
        finally:
            await client.disconnect()
            await venue.stop()

    run(main())


def test_bad_secret_is_refused_and_the_submit_is_rejected_not_lost() -> None:
    async def main() -> None:
        venue = FakeVenue()
        url = await venue.start()
        node = Node()
        client = exec_client(node, config(url, api_secret="wrong"))
        try:
            with pytest.raises(ConnectionError, match="cannot connect"):
                await client.connect()
            assert venue.auth_failures and set(venue.auth_failures) == {"bad signature"}
            command = market_order(node)
            client.submit_order(command)  # REST only: the session opens on demand
            await client.wait_tasks()
            assert [type(e) for e in node.events] == [OrderSubmitted, OrderRejected]
            assert node.events[-1].reason == "bad signature"
        finally:
            await client.disconnect()
            await venue.stop()

    run(main())


def test_user_stream_resumes_after_last_seq_without_duplicates_or_gaps() -> None:
    async def main() -> None:
        venue = FakeVenue()
        url = await venue.start()
        node = Node()
        client = exec_client(node, config(url))
        try:
            await client.connect()
            client.submit_order(market_order(node))
            await client.wait_tasks()
            assert client.last_user_seq == 2
            venue.refuse_ws = 2  # two failed attempts while the venue goes on without us
            venue.resume_overlap = 1  # and the venue resends one event we already have
            await venue.drop("user")
            await venue.add_user_events([account_state("999997.80")])  # user_seq 3, nobody listening
            await eventually(lambda: client.last_user_seq == 3, "resumed stream")
            assert client.socket is not None and client.socket.connections == 2
            assert client.socket.reconnect_attempts == 3
            resumes = [op for number, op in venue.user_ops if op["op"] == "resume"]
            assert resumes == [{"op": "resume", "after_seq": 2}]
            # a gap on a live stream: user_seq 5 arrives before 4, the client asks again after 3
            venue.push_user_live = False
            await venue.add_user_events([account_state("1"), account_state("2")])
            await venue.send_user([{"type": "event", "user_seq": 5, "event": venue.user_log[4]}])
            await eventually(lambda: client.last_user_seq == 5, "gap filled by a resume")
            assert [op for _, op in venue.user_ops if op["op"] == "resume"][-1] == {"op": "resume", "after_seq": 3}
            states = [str(e.balances[0].total) for e in node.of_type(AccountState)]
            assert states == ["1000000.00 USD", "999997.80 USD", "1.00 USD", "2.00 USD"]
            assert [type(e) for e in node.events].count(OrderFilled) == 1
            assert client.duplicates >= 1
        finally:
            await client.disconnect()
            await venue.stop()

    run(main())


def test_user_stream_starts_at_the_venue_user_seq_and_fills_come_before_the_next_tick() -> None:
    async def main() -> None:
        venue = FakeVenue()
        venue.status_user_seq = True
        await venue.add_user_events([account_state("5"), account_state("6")])  # an earlier session's events
        url = await venue.start()
        node = Node()
        executor = exec_client(node, config(url))
        data = data_client(node, config(url))
        data.execution_peers = [executor]  # as the node wires its clients of one venue
        try:
            await executor.connect()
            await data.connect()
            await data.subscribe_quote_ticks(EURUSD)
            assert executor.last_user_seq == 2
            assert [op for _, op in venue.user_ops if op["op"] == "resume"] == [{"op": "resume", "after_seq": 2}]
            assert node.of_type(AccountState) == [account_state()]  # from GET /account only
            # the venue fills a resting order on quote 1: the quote says user_seq 3, the fill comes later
            venue.push_user_live = False
            await venue.add_user_events([account_state("7")])
            await venue.push_data(1, quote(1), user_seq=3)
            await venue.push_data(2, quote(2), user_seq=3)
            await venue.send_market({"type": "heartbeat", "time_ns": T0})
            assert node.data == []  # held until the user stream has caught up
            await venue.send_user([{"type": "event", "user_seq": 3, "event": venue.user_log[2]}])
            await eventually(lambda: len(node.data) == 2, "quotes after the fill")
            assert node.timeline[-3:] == [account_state("7"), quote(1), quote(2)]
        finally:
            await data.disconnect()
            await executor.disconnect()
            await venue.stop()

    run(main())


def test_user_stream_lost_log_is_backfilled_from_reports() -> None:
    async def main() -> None:
        venue = FakeVenue()
        url = await venue.start()
        node = Node()
        node.cache.add_instrument(instrument())
        client = exec_client(node, config(url))
        try:
            await client.connect()
            client.submit_order(market_order(node))
            await client.wait_tasks()
            command = market_order(node, "300")
            order = command.order
            order.apply(
                OrderSubmitted(
                    trader_id=TRADER,
                    strategy_id=STRATEGY,
                    instrument_id=EURUSD,
                    client_order_id=order.client_order_id,
                    account_id=ACCOUNT,
                    ts_event=T0,
                    ts_init=T0,
                )
            )
            venue.order_reports = [_order_report(order, OrderStatus.FILLED)]
            venue.fill_reports = [_fill_report(order, "T-77")]
            venue.lost_log = True
            await venue.drop("user")
            await eventually(lambda: client.recoveries == 1, "backfill")
            backfilled = node.events[-3:]
            assert [type(e) for e in backfilled] == [OrderAccepted, OrderFilled, AccountState]
            assert backfilled[1].trade_id == TradeId("T-77") and backfilled[1].reconciliation
        finally:
            await client.disconnect()
            await venue.stop()

    run(main())


def test_reports_and_instruments() -> None:
    async def main() -> None:
        venue = FakeVenue()
        url = await venue.start()
        node = Node()
        client = exec_client(node, config(url))
        data = data_client(node, config(url))
        try:
            await client.connect()
            command = market_order(node)
            venue.order_reports = [_order_report(command.order, OrderStatus.FILLED)]
            venue.fill_reports = [_fill_report(command.order, "T-1")]
            report = await client.generate_order_status_report(EURUSD, client_order_id=command.order.client_order_id)
            assert report == venue.order_reports[0]
            assert await client.generate_order_status_report(EURUSD, client_order_id="O-NOPE") is None
            by_venue_id = await client.generate_order_status_report(EURUSD, venue_order_id=VenueOrderId("V-1"))
            assert by_venue_id == venue.order_reports[0]
            assert await client.generate_fill_reports(instrument_id=EURUSD) == venue.fill_reports
            mass = await client.generate_mass_status(lookback_mins=60)
            assert mass is not None and list(mass.order_reports) == [VenueOrderId("V-1")]
            assert (await data.request_instruments()) == [instrument()]
        finally:
            await client.disconnect()
            await data.disconnect()
            await venue.stop()
        queries = [r["path_qs"] for r in venue.requests if r["path_qs"].startswith("/api/v1/orders?")]
        assert "/api/v1/orders?instrument_id=EUR/USD.SIM&open_only=false" in queries
        assert venue.auth_failures == []

    run(main())


# ---- data client -----------------------------------------------------------------------------------------------


def test_data_reconnects_with_backoff_resubscribes_and_skips_resent_events(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        venue = FakeVenue()
        url = await venue.start()
        node = Node()
        client = data_client(node, config(url))
        bar_type = BarType.from_str("EUR/USD.SIM-1-MINUTE-BID-EXTERNAL")
        try:
            await client.connect()
            await client.subscribe_quote_ticks(EURUSD)
            await client.subscribe_bars(bar_type)
            await client.subscribe_quote_ticks(EURUSD)  # once is enough
            subscribes = lambda: [op for _, op in venue.market_ops if op["op"] == "subscribe"]  # noqa: E731
            await eventually(lambda: len(subscribes()) == 2, "two subscribe ops")
            assert venue.market_connects[0]["client_id"] == "TESTER-001-SANDBOX"
            await venue.push_data(1, quote(1))
            await eventually(lambda: len(node.data) == 1, "first quote")
            venue.refuse_ws = 2
            await venue.drop("market", clean=True)
            await eventually(lambda: venue.open_market_sockets() == 1, "reconnected")
            await eventually(lambda: any(n == 2 for n, _ in venue.market_ops), "resubscribed")
            resub = [op for n, op in venue.market_ops if n == 2 and op["op"] != "ping"]
            assert resub[0] == {
                "op": "subscribe",
                "channels": [
                    {"type": "quotes", "instrument_id": "EUR/USD.SIM"},
                    {"type": "bars", "bar_type": str(bar_type)},
                ],
            }
            assert client.socket is not None and client.socket.reconnect_attempts == 3
            await venue.push_data(1, quote(1))  # resent after the reconnect: not handed over twice
            await venue.push_data(2, quote(2))
            await eventually(lambda: len(node.data) == 2, "second quote")
            assert node.data == [quote(1), quote(2)] and client.duplicates == 1
            await venue.send_market({"type": "end_of_data", "seq": 2})
            await asyncio.wait_for(client.end_of_data.wait(), 5)
            assert client.end_of_data_seq == 2
            await client.unsubscribe("bars", str(bar_type))
            expected = {"op": "unsubscribe", "channels": [{"type": "bars", "bar_type": str(bar_type)}]}
            await eventually(lambda: expected in [op for _, op in venue.market_ops], "unsubscribe op")
            assert client.subscriptions == [{"type": "quotes", "instrument_id": "EUR/USD.SIM"}]
        finally:
            await client.disconnect()
            await venue.stop()

    with caplog.at_level(logging.INFO, logger="toolkit"):
        run(main())
    attempts = [r.getMessage() for r in caplog.records if "reconnect attempt" in r.getMessage()]
    assert sum("failed" in m for m in attempts) == 2 and len(attempts) == 5  # 3 tries + 2 failures
    assert any("end of data" in r.getMessage() for r in caplog.records)


def test_lockstep_ack_only_after_wait_until_idle() -> None:
    async def main() -> None:
        venue = FakeVenue()
        url = await venue.start()
        node = Node()
        client = data_client(node, config(url, lockstep=True))
        idle = asyncio.Event()
        waits: list[int] = []

        async def wait_until_idle() -> None:
            waits.append(len(node.data))
            await idle.wait()

        client.wait_until_idle = wait_until_idle
        try:
            await client.connect()
            await client.subscribe_quote_ticks(EURUSD)
            await venue.push_data(1, quote(1))
            await eventually(lambda: waits == [1], "handed over, then waiting for idle")
            await venue.send_market({"type": "heartbeat", "time_ns": T0})
            assert venue.acks == []
            idle.set()
            await eventually(lambda: venue.acks == [1], "ack 1")
            # resent after a drop before the ack: acknowledged again, handed over once
            idle.clear()
            await venue.push_data(2, quote(2))
            await eventually(lambda: len(waits) == 2, "waiting on event 2")
            await venue.drop("market")  # before the ack of 2 could be sent
            idle.set()
            await eventually(lambda: venue.open_market_sockets() == 1, "reconnected")
            await venue.push_data(2, quote(2))
            await eventually(lambda: venue.acks == [1, 2], "ack 2 after the resend")
            assert node.data == [quote(1), quote(2)]
            assert venue.market_connects[1]["client_id"] == venue.market_connects[0]["client_id"]
        finally:
            await client.disconnect()
            await venue.stop()

    run(main())


def test_heartbeat_timeout_detects_a_dead_connection(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        venue = FakeVenue()
        url = await venue.start()
        node = Node()
        client = data_client(node, config(url, heartbeat_secs=0.05))
        try:
            await client.connect()
            await eventually(lambda: sum(op["op"] == "ping" for _, op in venue.market_ops) >= 5, "pings")
            assert client.socket is not None and client.socket.connections == 1  # pongs keep it alive
            venue.silent = True
            await eventually(lambda: client.socket.connections >= 2, "reconnect after silence", timeout=5)
            assert "nothing received for 3 heartbeats" in (client.socket.last_drop_reason or "")
        finally:
            await client.disconnect()
            await venue.stop()

    with caplog.at_level(logging.WARNING, logger="toolkit"):
        run(main())
    assert any("lost: nothing received" in r.getMessage() for r in caplog.records)


def test_connect_to_nothing_fails_clearly_and_leaves_no_task() -> None:
    async def main() -> None:
        venue = FakeVenue()
        url = await venue.start()
        await venue.stop()  # the port is free again: nobody listens
        node = Node()
        client = data_client(node, config(url))
        with pytest.raises(ConnectionError, match="cannot connect to the sandbox venue"):
            await client.connect()
        executor = exec_client(node, config(url))
        with pytest.raises(ConnectionError, match="cannot connect to the sandbox venue"):
            await executor.connect()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert others == []

    run(main())


def test_disconnect_leaves_no_task_behind() -> None:
    async def main() -> None:
        venue = FakeVenue()
        url = await venue.start()
        node = Node()
        data = data_client(node, config(url))
        executor = exec_client(node, config(url))
        await data.connect()
        await executor.connect()
        await data.subscribe_quote_ticks(EURUSD)
        assert len([t for t in asyncio.all_tasks() if "reader" in t.get_name()]) == 2
        await data.disconnect()
        await executor.disconnect()
        await venue.stop()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert others == [], others

    run(main())
