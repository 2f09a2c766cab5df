"""The sandbox venue server (`toolkit venue RUNFILE`): a local exchange over REST and WebSocket.

An aiohttp application bound to 127.0.0.1 that serves one `SandboxVenue` (see `venue.py`) with the
protocol of docs/sandbox.md: signed requests (API key + HMAC-SHA256 of timestamp, method, path and
body, within a receive window, each signature usable once), JSON errors for every 4xx/5xx, REST
endpoints for orders, fills, positions and the account, a market data stream (`/ws/market`) fed by
the replay task, and a user stream of execution events (`/ws/user`).

The replay task releases the venue's data one event at a time: paced by data time divided by the
speed factor, or in lockstep (an event is released only when every subscribed client has
acknowledged the last event sent to it). The venue's state lives in this process, not in the
connections: clients may come and go. The wall clock is read only to check request timestamps and to
pace the replay; venue time is the data's time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import logging
import os
import re
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from toolkit.adapters.sandbox.protocol import (
    API_PREFIX,
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    PROTOCOL_VERSION,
    RECV_WINDOW_MS,
    ErrorBody,
    ModifyOrderRequest,
    SubmitOrderRequest,
    decode,
    encode,
    encode_data,
    sign,
    to_builtins,
)
from toolkit.adapters.sandbox.venue import (
    BadRequestError,
    SandboxVenue,
    VenueRequestError,
)
from toolkit.core.clock import unix_nanos_to_iso8601
from toolkit.model.data import Bar, BarType, OrderBookDelta, OrderBookDepth10, QuoteTick, TradeTick
from toolkit.model.enums import OrderSide
from toolkit.model.identifiers import InstrumentId

log = logging.getLogger("toolkit.venue")

DEFAULT_PORT = 8765
DEFAULT_API_KEY = "sandbox-key"
DEFAULT_API_SECRET = "sandbox-secret"
ENV_API_KEY = "TOOLKIT_SANDBOX_API_KEY"
ENV_API_SECRET = "TOOLKIT_SANDBOX_API_SECRET"
HOST = "127.0.0.1"
#: Channel types of /ws/market and the data class each carries.
CHANNEL_TYPES: dict[str, type] = {
    "quotes": QuoteTick,
    "trades": TradeTick,
    "bars": Bar,
    "deltas": OrderBookDelta,
    "depth10": OrderBookDepth10,
}
_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
}
_FIELD_AT = re.compile(r"at `\$\.([A-Za-z_]\w*)")
_FIELD_NAMED = re.compile(r"field `([A-Za-z_]\w*)`")
ChannelKey = tuple[str, str]


@dataclass
class ServerConfig:
    api_key: str = DEFAULT_API_KEY
    api_secret: str = DEFAULT_API_SECRET
    speed: float = 1.0
    lockstep: bool = False
    lockstep_clients: int = 1
    heartbeat_secs: float = 5.0
    start_delay_secs: float = 0.0
    recv_window_ms: int = RECV_WINDOW_MS
    #: Lockstep: after the wanted clients have subscribed, wait until subscriptions have been quiet this
    #: long before the first event, so a client subscribing to several channels one by one misses nothing.
    lockstep_settle_secs: float = 0.2


class AuthError(Exception):
    pass


@dataclass(eq=False)
class MarketClient:
    """A market data client: its channels and lockstep state outlive its connections when it names a
    `client_id`; an anonymous client is forgotten when its connection closes."""

    client_id: str
    named: bool
    channels: dict[ChannelKey, dict[str, str]] = field(default_factory=dict)
    ws: web.WebSocketResponse | None = None
    request: web.Request | None = None
    pending: str | None = None  # lockstep: the last event sent and not acknowledged yet
    pending_seq: int = 0


@dataclass(eq=False)
class UserConnection:
    ws: web.WebSocketResponse
    request: web.Request
    cursor: int  # user_seq of the last event sent (the next sent is cursor + 1)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)


def channel_of(data: Any) -> ChannelKey:
    kind = type(data)
    if kind is QuoteTick:
        return ("quotes", str(data.instrument_id))
    if kind is TradeTick:
        return ("trades", str(data.instrument_id))
    if kind is Bar:
        return ("bars", str(data.bar_type))
    if kind is OrderBookDelta:
        return ("deltas", str(data.instrument_id))
    return ("depth10", str(data.instrument_id))


def json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=encode(payload), status=status, content_type="application/json")


def error_response(status: int, code: str, message: str, field_name: str | None = None) -> web.Response:
    return json_response(ErrorBody(code, message, field_name), status=status)


def _validation_field(message: str) -> str | None:
    match = _FIELD_AT.search(message) or _FIELD_NAMED.search(message)
    return match.group(1) if match else None


def _decode_body(body: bytes, type_: type) -> Any:
    try:
        return decode(body, type_)
    except msgspec.ValidationError as exc:
        raise BadRequestError(f"invalid request body: {exc}", _validation_field(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise BadRequestError(f"malformed JSON body: {exc}") from None


def _query_int(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise BadRequestError(f"{name} must be integer nanoseconds, got {value!r}", name) from None


def _query_bool(request: web.Request, name: str, default: bool) -> bool:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise BadRequestError(f"{name} must be true or false, got {value!r}", name)


class SandboxServer:
    """The aiohttp application around one `SandboxVenue`; see the module docstring."""

    def __init__(self, venue: SandboxVenue, config: ServerConfig | None = None) -> None:
        self.venue = venue
        self.config = config or ServerConfig()
        self.clients: dict[str, MarketClient] = {}
        self.user_connections: set[UserConnection] = set()
        self.end_of_data_sent = False
        self.paused = False  # test hook: /test/pause stops the replay until /test/resume
        self._seen_signatures: dict[str, int] = {}
        self._user_messages: list[str] = []
        self._changed = asyncio.Event()  # lockstep: acks, subscriptions or connections changed
        self._last_subscription_change = 0.0
        self._tasks: list[asyncio.Task[Any]] = []
        self._closing = False
        self.app = self._build_app()

    # ---- application -------------------------------------------------------------------------
    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._error_middleware, self._auth_middleware])
        p = API_PREFIX
        app.router.add_get(f"{p}/instruments", self.get_instruments)
        app.router.add_get(f"{p}/status", self.get_status)
        app.router.add_get(f"{p}/account", self.get_account)
        app.router.add_post(f"{p}/orders", self.post_order)
        app.router.add_get(f"{p}/orders", self.get_orders)
        app.router.add_delete(f"{p}/orders", self.delete_orders)
        app.router.add_get(f"{p}/orders/{{client_order_id}}", self.get_order)
        app.router.add_put(f"{p}/orders/{{client_order_id}}", self.put_order)
        app.router.add_delete(f"{p}/orders/{{client_order_id}}", self.delete_order)
        app.router.add_get(f"{p}/fills", self.get_fills)
        app.router.add_get(f"{p}/positions", self.get_positions)
        app.router.add_post(f"{p}/test/drop_connections", self.post_drop_connections)
        app.router.add_post(f"{p}/test/pause", self.post_pause)
        app.router.add_post(f"{p}/test/resume", self.post_resume)
        app.router.add_get("/ws/market", self.ws_market)
        app.router.add_get("/ws/user", self.ws_user)
        app.on_shutdown.append(self._on_shutdown)
        return app

    def start(self) -> None:
        """Start the replay and the heartbeats (call once the server listens, inside the event loop)."""
        if self._tasks:
            return
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._replay(), name="venue-replay"))
        if self.config.heartbeat_secs > 0:
            self._tasks.append(loop.create_task(self._heartbeats(), name="venue-heartbeats"))
        for task in self._tasks:
            task.add_done_callback(self._task_done)

    @staticmethod
    def _task_done(task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed: %r (requests are still served)", task.get_name(), task.exception())

    async def _on_shutdown(self, app: web.Application) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop replaying and close every WebSocket (code 1001, going away)."""
        if self._closing:
            return
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        sockets = [c.ws for c in self.clients.values() if c.ws is not None]
        sockets += [c.ws for c in self.user_connections]

        async def close_one(ws: web.WebSocketResponse) -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(code=WSCloseCode.GOING_AWAY, message=b"venue shutting down"), 2.0)

        await asyncio.gather(*(close_one(ws) for ws in sockets))

    # ---- middlewares -------------------------------------------------------------------------
    @web.middleware
    async def _error_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except VenueRequestError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.field)
        except AuthError as exc:
            return error_response(401, "unauthorized", str(exc))
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = _ERROR_CODES.get(exc.status, "bad_request" if exc.status < 500 else "internal_error")
            response = error_response(exc.status, code, exc.reason or code)
            if exc.status == 405 and "Allow" in exc.headers:
                response.headers["Allow"] = exc.headers["Allow"]
            return response
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("internal error on %s %s", request.method, request.path)
            return error_response(500, "internal_error", f"{type(exc).__name__}: {exc}")

    @web.middleware
    async def _auth_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        body = await request.read()
        self._authenticate(request, body)
        return await handler(request)

    def _authenticate(self, request: web.Request, body: bytes) -> None:
        """Refuse (AuthError) an unknown key, a bad signature, a stale timestamp or a replayed signature."""
        is_ws = request.path.startswith("/ws/")
        if is_ws and HEADER_SIGNATURE not in request.headers:
            key = request.query.get("api_key")
            stamp = request.query.get("timestamp")
            signature = request.query.get("signature")
            where = "query parameter"
            names = ("api_key", "timestamp", "signature")
        else:
            key = request.headers.get(HEADER_KEY)
            stamp = request.headers.get(HEADER_TIMESTAMP)
            signature = request.headers.get(HEADER_SIGNATURE)
            where = "header"
            names = (HEADER_KEY, HEADER_TIMESTAMP, HEADER_SIGNATURE)
        for name, value in zip(names, (key, stamp, signature), strict=True):
            if not value:
                raise AuthError(f"missing {where} {name}")
        assert key is not None and stamp is not None and signature is not None
        if not hmac.compare_digest(key.encode(), self.config.api_key.encode()):
            raise AuthError("unknown API key")
        try:
            stamp_ms = int(stamp)
        except ValueError:
            raise AuthError(f"timestamp must be integer milliseconds since the epoch, got {stamp!r}") from None
        now_ms = time.time_ns() // 1_000_000  # wall time: for the receive window only
        window = self.config.recv_window_ms
        if abs(now_ms - stamp_ms) > window:
            raise AuthError(
                f"timestamp {stamp_ms} is {now_ms - stamp_ms} ms away from the server time (window {window})"
            )
        raw = request.raw_path
        if is_ws:
            candidates = {raw.split("?", 1)[0], request.path}
            payload = b""
        else:
            candidates = {raw, request.path_qs}
            payload = body
        signature = signature.lower()
        if not any(
            hmac.compare_digest(signature, sign(self.config.api_secret, stamp, request.method, path, payload))
            for path in candidates
        ):
            raise AuthError("bad signature")
        if request.method == "GET" and not is_ws:
            # A read changes nothing, so a replayed one is harmless; two clients sharing the key may also sign
            # the same GET in the same millisecond (a node and a monitor polling /status) and both must pass.
            return
        seen = self._seen_signatures
        if signature in seen:
            raise AuthError("signature already used (replayed request)")
        if len(seen) > 1024:
            horizon = now_ms - 2 * window
            for old in [s for s, ts in seen.items() if ts < horizon]:
                del seen[old]
        seen[signature] = stamp_ms

    # ---- REST ----------------------------------------------------------------------------------
    async def get_instruments(self, request: web.Request) -> web.Response:
        return json_response({"instruments": [i.to_dict() for i in self.venue.instruments()]})

    async def get_status(self, request: web.Request) -> web.Response:
        venue = self.venue
        return json_response(
            {
                "venue": str(venue.venue),
                "time_ns": venue.time_ns,
                "lockstep": self.config.lockstep,
                "events_released": venue.events_released,
                "end_of_data": self.end_of_data_sent,
                "clients": sum(1 for c in self.clients.values() if c.ws is not None),
                "user_clients": len(self.user_connections),
                "user_seq": venue.user_seq,
                "speed": self.config.speed,
                "paused": self.paused,
                "protocol_version": PROTOCOL_VERSION,
            }
        )

    async def get_account(self, request: web.Request) -> web.Response:
        return json_response({"account": self.venue.account_state()})

    def _events_response(self, events: list[Any], extra: dict[str, Any] | None = None) -> web.Response:
        self._notify_user()
        payload = dict(extra or {})
        payload["events"] = events
        payload["user_seq"] = self.venue.user_seq
        return json_response(payload)

    async def post_order(self, request: web.Request) -> web.Response:
        order_request = _decode_body(await request.read(), SubmitOrderRequest)
        events = self.venue.submit(order_request)
        order = self.venue.order(order_request.client_order_id)
        return self._events_response(
            events,
            {
                "client_order_id": str(order.client_order_id),
                "venue_order_id": None if order.venue_order_id is None else str(order.venue_order_id),
                "status": order.status.value,
            },
        )

    async def put_order(self, request: web.Request) -> web.Response:
        coid = request.match_info["client_order_id"]
        self.venue.order(coid)  # 404 before looking at the body
        modify = _decode_body(await request.read(), ModifyOrderRequest)
        return self._events_response(self.venue.modify(coid, modify))

    async def delete_order(self, request: web.Request) -> web.Response:
        return self._events_response(self.venue.cancel(request.match_info["client_order_id"]))

    async def delete_orders(self, request: web.Request) -> web.Response:
        instrument_id = request.query.get("instrument_id")
        if not instrument_id:
            raise BadRequestError("query parameter instrument_id is required", "instrument_id")
        side = request.query.get("side") or None
        if side is not None and side not in (OrderSide.BUY.value, OrderSide.SELL.value):
            raise BadRequestError(f"side must be BUY or SELL, got {side!r}", "side")
        strategy_id = request.query.get("strategy_id") or None
        events = self.venue.cancel_all(instrument_id, None if side is None else OrderSide(side), strategy_id)
        return self._events_response(events)

    async def get_order(self, request: web.Request) -> web.Response:
        return json_response({"report": self.venue.order_status_report(request.match_info["client_order_id"])})

    async def get_orders(self, request: web.Request) -> web.Response:
        reports = self.venue.order_status_reports(
            instrument_id=request.query.get("instrument_id") or None,
            open_only=_query_bool(request, "open_only", False),
            start_ns=_query_int(request, "start_ns"),
            end_ns=_query_int(request, "end_ns"),
        )
        return json_response({"reports": reports})

    async def get_fills(self, request: web.Request) -> web.Response:
        reports = self.venue.fill_reports(
            instrument_id=request.query.get("instrument_id") or None,
            venue_order_id=request.query.get("venue_order_id") or None,
            start_ns=_query_int(request, "start_ns"),
            end_ns=_query_int(request, "end_ns"),
        )
        return json_response({"reports": reports})

    async def get_positions(self, request: web.Request) -> web.Response:
        reports = self.venue.position_reports(instrument_id=request.query.get("instrument_id") or None)
        return json_response({"reports": reports})

    async def post_drop_connections(self, request: web.Request) -> web.Response:
        """Test hook: abort every WebSocket connection (no close handshake), as a network failure would."""
        dropped = 0
        targets = [(c.ws, c.request) for c in self.clients.values() if c.ws is not None]
        targets += [(c.ws, c.request) for c in self.user_connections]
        for ws, ws_request in targets:
            dropped += 1
            transport = ws_request.transport if ws_request is not None else None
            if transport is not None:
                transport.abort()
            else:
                await ws.close(code=WSCloseCode.SERVICE_RESTART)
        log.info("test hook: dropped %d WebSocket connections", dropped)
        return json_response({"dropped": dropped})

    async def post_pause(self, request: web.Request) -> web.Response:
        """Test hook: stop releasing market events (requests are still served) until /test/resume."""
        self.paused = True
        log.info("test hook: replay paused at %d events", self.venue.events_released)
        return json_response({"paused": True, "events_released": self.venue.events_released})

    async def post_resume(self, request: web.Request) -> web.Response:
        """Test hook: release market events again (speed mode re-anchors to the current time)."""
        self.paused = False
        self._changed_now()
        log.info("test hook: replay resumed")
        return json_response({"paused": False, "events_released": self.venue.events_released})

    # ---- WebSocket helpers ---------------------------------------------------------------------
    @staticmethod
    async def _send(ws: web.WebSocketResponse | None, text: str) -> bool:
        if ws is None or ws.closed:
            return False
        try:
            await ws.send_str(text)
        except (ConnectionError, RuntimeError, OSError):
            return False
        return True

    def _changed_now(self) -> None:
        self._changed.set()

    async def _wait_until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            self._changed.clear()
            await self._changed.wait()

    # ---- /ws/market ----------------------------------------------------------------------------
    async def ws_market(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False, timeout=2.0, max_msg_size=1 << 20)
        await ws.prepare(request)
        requested_id = request.query.get("client_id") or None
        client = self.clients.get(requested_id) if requested_id else None
        if client is None:
            client = MarketClient(requested_id or f"anonymous-{uuid.uuid4().hex}", named=requested_id is not None)
            self.clients[client.client_id] = client
        elif client.ws is not None and client.request is not None and client.request.transport is not None:
            client.request.transport.abort()  # the same client connected again: the new connection wins
        client.ws, client.request = ws, request
        log.info("market client %s connected", client.client_id)
        self._changed_now()
        try:
            if client.pending is not None and self.config.lockstep:
                await self._send(ws, client.pending)  # resend the unacknowledged event
            if self.end_of_data_sent and client.pending is None:
                await self._send(ws, self._end_of_data_message())
            async for message in ws:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await self._market_op(client, ws, message.data)
                elif message.type is WSMsgType.ERROR:
                    break
        finally:
            if client.ws is ws:
                client.ws = client.request = None
                if not client.named:
                    self.clients.pop(client.client_id, None)
            log.info("market client %s disconnected", client.client_id)
            self._changed_now()
        return ws

    async def _market_error(self, ws: web.WebSocketResponse, code: str, message: str) -> None:
        await self._send(ws, encode({"type": "error", "error": code, "message": message}).decode())

    async def _market_op(self, client: MarketClient, ws: web.WebSocketResponse, raw: str | bytes) -> None:
        try:
            message = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            await self._market_error(ws, "bad_request", f"malformed JSON: {exc}")
            return
        op = message.get("op") if isinstance(message, dict) else None
        if op == "ping":
            await self._send(ws, '{"type":"pong"}')
        elif op == "ack":
            seq = message.get("seq")
            if not isinstance(seq, int) or isinstance(seq, bool):
                await self._market_error(ws, "bad_request", f"ack needs an integer seq, got {seq!r}")
                return
            if client.pending is not None and seq >= client.pending_seq:
                client.pending = None
                self._changed_now()
        elif op in ("subscribe", "unsubscribe"):
            channels = message.get("channels")
            if not isinstance(channels, list):
                await self._market_error(ws, "bad_request", f"{op} needs a list of channels")
                return
            valid: list[tuple[ChannelKey, dict[str, str]]] = []
            for channel in channels:
                try:
                    valid.append(self._parse_channel(channel))
                except ValueError as exc:
                    await self._market_error(ws, "unknown_channel", str(exc))
            if op == "subscribe":
                for key, normalized in valid:
                    client.channels[key] = normalized
                await self._send(
                    ws, encode({"type": "subscribed", "channels": [normalized for _, normalized in valid]}).decode()
                )
            else:
                for key, _ in valid:
                    client.channels.pop(key, None)
                if not client.channels:
                    client.pending = None  # a client listening to nothing owes no acknowledgement
            self._last_subscription_change = asyncio.get_running_loop().time()
            self._changed_now()
        else:
            await self._market_error(ws, "bad_request", f"unknown op {op!r} (ops: subscribe, unsubscribe, ack, ping)")

    def _parse_channel(self, channel: Any) -> tuple[ChannelKey, dict[str, str]]:
        if not isinstance(channel, dict):
            raise ValueError(f"a channel is an object with a type, got {channel!r}")
        kind = channel.get("type")
        if kind not in CHANNEL_TYPES:
            raise ValueError(f"unknown channel type {kind!r} (types: {', '.join(CHANNEL_TYPES)})")
        if kind == "bars":
            text = channel.get("bar_type")
            try:
                bar_type = BarType.from_str(text)  # type: ignore[arg-type]
            except (ValueError, TypeError, AttributeError):
                raise ValueError(f"bars channel needs a valid bar_type, got {text!r}") from None
            self._known_instrument(bar_type.instrument_id)
            return ("bars", str(bar_type)), {"type": "bars", "bar_type": str(bar_type)}
        text = channel.get("instrument_id")
        try:
            instrument_id = InstrumentId(text)  # type: ignore[arg-type]
        except (ValueError, TypeError):
            raise ValueError(f"{kind} channel needs a valid instrument_id, got {text!r}") from None
        self._known_instrument(instrument_id)
        return (kind, str(instrument_id)), {"type": kind, "instrument_id": str(instrument_id)}

    def _known_instrument(self, instrument_id: InstrumentId) -> None:
        try:
            self.venue.instrument(instrument_id)
        except VenueRequestError as exc:
            raise ValueError(exc.message) from None

    # ---- /ws/user ------------------------------------------------------------------------------
    async def ws_user(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False, timeout=2.0, max_msg_size=1 << 20)
        await ws.prepare(request)
        conn = UserConnection(ws, request, cursor=self.venue.user_seq)
        self.user_connections.add(conn)
        sender = asyncio.get_running_loop().create_task(self._user_sender(conn), name="venue-user-sender")
        try:
            async for message in ws:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await self._user_op(conn, message.data)
                elif message.type is WSMsgType.ERROR:
                    break
        finally:
            self.user_connections.discard(conn)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        return ws

    async def _user_op(self, conn: UserConnection, raw: str | bytes) -> None:
        try:
            message = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            await self._market_error(conn.ws, "bad_request", f"malformed JSON: {exc}")
            return
        op = message.get("op") if isinstance(message, dict) else None
        if op == "ping":
            await self._send(conn.ws, '{"type":"pong"}')
        elif op == "resume":
            after = message.get("after_seq")
            if not isinstance(after, int) or isinstance(after, bool) or after < 0:
                await self._market_error(conn.ws, "bad_request", f"resume needs after_seq >= 0, got {after!r}")
                return
            conn.cursor = min(after, self.venue.user_seq)
            conn.wakeup.set()
        else:
            await self._market_error(conn.ws, "bad_request", f"unknown op {op!r} (ops: resume, ping)")

    def _user_message(self, user_seq: int) -> str:
        cache = self._user_messages
        events = self.venue.user_events
        while len(cache) < user_seq:
            item = events[len(cache)]
            cache.append(
                encode({"type": "event", "user_seq": item.user_seq, "event": to_builtins(item.event)}).decode()
            )
        return cache[user_seq - 1]

    async def _user_sender(self, conn: UserConnection) -> None:
        while True:
            while conn.cursor < self.venue.user_seq:
                conn.cursor += 1
                if not await self._send(conn.ws, self._user_message(conn.cursor)):
                    return
            conn.wakeup.clear()
            await conn.wakeup.wait()

    def _notify_user(self) -> None:
        for conn in self.user_connections:
            conn.wakeup.set()

    # ---- replay --------------------------------------------------------------------------------
    def _subscribed_clients(self) -> int:
        return sum(1 for c in self.clients.values() if c.channels)

    def _all_acknowledged(self) -> bool:
        return all(c.pending is None for c in self.clients.values())

    def _end_of_data_message(self) -> str:
        return encode({"type": "end_of_data", "seq": self.venue.events_released}).decode()

    async def _replay(self) -> None:
        config = self.config
        venue = self.venue
        loop = asyncio.get_running_loop()
        if config.lockstep:
            await self._wait_until(lambda: self._subscribed_clients() >= config.lockstep_clients)
            while (quiet := loop.time() - self._last_subscription_change) < config.lockstep_settle_secs:
                await asyncio.sleep(config.lockstep_settle_secs - quiet)
        elif config.start_delay_secs > 0:
            await asyncio.sleep(config.start_delay_secs)
        log.info("replay started (%s)", "lockstep" if config.lockstep else f"speed {config.speed}")
        anchor: tuple[float, int] | None = None
        while True:
            if self.paused:
                await self._wait_until(lambda: not self.paused)
                anchor = None  # speed mode: resume from now, no catch-up burst
            if config.lockstep:
                await self._wait_until(self._all_acknowledged)
            elif config.speed > 0 and venue.next_ts is not None:
                if anchor is None:
                    anchor = (loop.time(), venue.next_ts)
                due = anchor[0] + (venue.next_ts - anchor[1]) / 1e9 / config.speed
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            before = venue.user_seq
            data = venue.release_next()
            if venue.user_seq != before:
                self._notify_user()  # fills of resting orders, expiries
            if data is None:
                break
            seq = venue.events_released
            key = channel_of(data)
            receivers = [c for c in self.clients.values() if key in c.channels]
            if receivers:
                text = encode(
                    {"type": "data", "seq": seq, "user_seq": venue.user_seq, "data": encode_data(data)}
                ).decode()
                for client in receivers:
                    if config.lockstep:
                        client.pending, client.pending_seq = text, seq
                    await self._send(client.ws, text)
            await asyncio.sleep(0)  # let requests and other connections in between events
        if config.lockstep:
            await self._wait_until(self._all_acknowledged)
        self.end_of_data_sent = True
        text = self._end_of_data_message()
        for client in list(self.clients.values()):
            await self._send(client.ws, text)
        log.info("end of data after %d events at venue time %d", venue.events_released, venue.time_ns)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_secs)
            text = encode({"type": "heartbeat", "time_ns": self.venue.time_ns}).decode()
            sockets = [c.ws for c in self.clients.values() if c.ws is not None]
            sockets += [c.ws for c in self.user_connections]
            for ws in sockets:
                await self._send(ws, text)


# ---- command line --------------------------------------------------------------------------------------------------
def add_venue_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runfile", help="run file whose [backtest] table describes the venue, instruments and data")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"TCP port on 127.0.0.1 (0 = any free port; default {DEFAULT_PORT})",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--speed", type=float, default=1.0, help="replay speed factor on data time (0 = as fast as possible)"
    )
    mode.add_argument(
        "--lockstep",
        action="store_true",
        help="release each event only when every subscribed client acknowledged the previous one",
    )
    parser.add_argument(
        "--lockstep-clients",
        type=int,
        default=1,
        help="lockstep: subscribed clients to wait for before the first event",
    )
    parser.add_argument("--api-key", default=None, help=f"API key (env {ENV_API_KEY}, default {DEFAULT_API_KEY})")
    parser.add_argument(
        "--api-secret", default=None, help=f"API secret (env {ENV_API_SECRET}, default {DEFAULT_API_SECRET})"
    )
    parser.add_argument("--heartbeat-secs", type=float, default=5.0, help="WebSocket heartbeat interval (0 = none)")
    parser.add_argument(
        "--start-delay-secs", type=float, default=0.0, help="speed mode: wait this long before replaying"
    )


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    for name in ("speed", "heartbeat_secs", "start_delay_secs"):
        if getattr(args, name) < 0:
            raise ValueError(f"--{name.replace('_', '-')} must not be negative")
    if args.lockstep_clients < 0:
        raise ValueError("--lockstep-clients must not be negative")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be 0..65535, got {args.port}")
    return ServerConfig(
        api_key=args.api_key or os.environ.get(ENV_API_KEY) or DEFAULT_API_KEY,
        api_secret=args.api_secret or os.environ.get(ENV_API_SECRET) or DEFAULT_API_SECRET,
        speed=args.speed,
        lockstep=args.lockstep,
        lockstep_clients=args.lockstep_clients,
        heartbeat_secs=args.heartbeat_secs,
        start_delay_secs=args.start_delay_secs,
    )


async def serve(
    venue: SandboxVenue, config: ServerConfig, port: int, ready: Callable[[str], None] | None = None
) -> None:
    """Serve `venue` on 127.0.0.1:`port` until SIGINT/SIGTERM; `ready(url)` is called once listening."""
    server = SandboxServer(venue, config)
    runner = web.AppRunner(server.app, handle_signals=False, shutdown_timeout=3.0, access_log=None)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, HOST, port)
        await site.start()
        bound = runner.addresses[0][1]
        url = f"http://{HOST}:{bound}"
        if ready is not None:
            ready(url)
        server.start()
        await stop.wait()
        log.info("signal received: shutting down")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await server.close()
        await runner.cleanup()


def run_venue_cli(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    venue = SandboxVenue.from_file(args.runfile)

    mode = "lockstep" if config.lockstep else f"speed {config.speed:g}"
    first = unix_nanos_to_iso8601(venue.next_ts or venue.time_ns)
    summary = f"venue {venue.venue}: {len(venue.instruments())} instruments, {mode}, data from {first}"

    def ready(url: str) -> None:
        print(f"toolkit venue listening on {url}", flush=True)
        print(summary, file=sys.stderr, flush=True)

    try:
        asyncio.run(serve(venue, config, args.port, ready))
    except OSError as exc:
        print(f"error: cannot listen on {HOST}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0
