"""Sandbox venue adapter: the market data and execution clients that talk to `toolkit venue` (docs/sandbox.md).

`SandboxDataClient` keeps one WebSocket on `/ws/market`: it turns `data` messages into our objects and hands
them to the node (awaiting it: backpressure), drops events it has already handed over (same `seq`, resent
after a reconnect), and in lockstep mode acknowledges each event only once the node is idle. Subscriptions
are remembered and sent again after every reconnect. `SandboxExecutionClient` sends each command as a signed
REST request in a task, emits `OrderSubmitted` when a submit is sent, turns a refused request (4xx) into the
matching rejection event, and applies the events of `/ws/user` exactly once in `user_seq` order. Every order
field goes on the wire (`submit_request`), contingency links included, and the submit of an order waits for
the venue's answer to the submits of the orders it links to (its parent, its linked orders, the earlier
orders of its order list), so the venue sees a bracket in list order as a backtest does; a request
task ends only when the stream has delivered its response's `user_seq`, so the node is idle only once every
request's events are applied. On reconnect it resumes after the last `user_seq` it applied; if the venue
cannot resend, it derives the missing events from `GET /orders` and `GET /fills` (`backfill_events`). Both
sockets (`ReconnectingSocket`) ping every `heartbeat_secs`, treat three silent heartbeats as a dead
connection, and reconnect with capped exponential backoff and jitter. `SandboxRestClient` signs every
request (`protocol.sign`) and raises `SandboxApiError` for error replies. Two optional fields the venue
sends beyond docs/sandbox.md are used when present: `user_seq` in `GET /status` (where the user stream
starts) and in `data` messages (the data client then hands an event over only once the execution client of
the same venue, in this process, has applied the events it caused: fills before the next tick).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import aiohttp
import msgspec
from yarl import URL

from toolkit.adapters.sandbox import protocol
from toolkit.adapters.sandbox.protocol import (
    API_PREFIX,
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    ErrorBody,
    ModifyOrderRequest,
    SubmitOrderRequest,
    VenueEvent,
)
from toolkit.live.clients import DataHandler, EventHandler, LiveDataClient, LiveExecutionClient
from toolkit.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
from toolkit.model.data import BarType
from toolkit.model.enums import ContingencyType, OmsType, OrderSide, OrderStatus
from toolkit.model.events import (
    AccountState,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderModifyRejected,
    OrderRejected,
    OrderSubmitted,
    OrderUpdated,
)
from toolkit.model.identifiers import (
    AccountId,
    ClientId,
    ClientOrderId,
    InstrumentId,
    OrderListId,
    TradeId,
    TraderId,
    Venue,
    VenueOrderId,
)
from toolkit.model.instruments import Instrument, instrument_from_dict
from toolkit.model.reports import FillReport, OrderStatusReport, PositionStatusReport

if TYPE_CHECKING:
    from toolkit.adapters.sandbox.factory import SandboxClientConfig
    from toolkit.core.cache import Cache
    from toolkit.core.clock import Clock
    from toolkit.core.log import Logger
    from toolkit.model.orders import Order

WS_MARKET_PATH = "/ws/market"
WS_USER_PATH = "/ws/user"
DEAD_AFTER_HEARTBEATS = 3
# A send on a socket that is closing or gone raises one of these; the reader then reconnects.
_SEND_ERRORS = (aiohttp.ClientError, ConnectionError)
_CONNECT_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)
_CLOSED_STATUSES = frozenset(
    {OrderStatus.DENIED, OrderStatus.REJECTED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.FILLED}
)


class SandboxApiError(Exception):
    """An error reply of the venue: HTTP `status` and the JSON body's `error`, `message` and `field`."""

    def __init__(self, status: int, error: str, message: str, field: str | None = None) -> None:
        self.status = status
        self.error = error
        self.message = message
        self.field = field
        where = f" (field {field})" if field else ""
        super().__init__(f"HTTP {status} {error}: {message}{where}")

    @property
    def is_client_error(self) -> bool:
        """4xx: the venue refused the request and changed nothing."""
        return 400 <= self.status < 500


# ---- signing ---------------------------------------------------------------------------------------------------


class RequestSigner:
    """The three authentication values of docs/sandbox.md for a request, as headers or WebSocket query params.

    The timestamp is wall time in ms. Two identical requests (same method, path and body) signed within the
    same millisecond would carry the same signature, which the venue refuses as a replay, so the timestamp of
    the second is moved one millisecond on (shared by every signer of the process using the same key).
    """

    _last_used: dict[tuple[str, str, str, int], int] = {}  # noqa: RUF012 (process-wide on purpose)

    def __init__(self, api_key: str, api_secret: str) -> None:
        self.api_key = api_key
        self._secret = api_secret

    def _timestamp_ms(self, method: str, path_with_query: str, body: bytes) -> int:
        now = time.time_ns() // 1_000_000
        key = (self.api_key, method, path_with_query, hash(body))
        last = self._last_used.get(key)
        stamp = now if last is None or last < now else last + 1
        used = RequestSigner._last_used
        if len(used) > 4096:  # forget entries far outside the venue's window
            for old in [k for k, v in used.items() if v < now - 2 * protocol.RECV_WINDOW_MS]:
                del used[old]
        used[key] = stamp
        return stamp

    def headers(self, method: str, path_with_query: str, body: bytes = b"") -> dict[str, str]:
        method = method.upper()
        stamp = self._timestamp_ms(method, path_with_query, body)
        return {
            HEADER_KEY: self.api_key,
            HEADER_TIMESTAMP: str(stamp),
            HEADER_SIGNATURE: protocol.sign(self._secret, stamp, method, path_with_query, body),
        }

    def ws_params(self, path: str) -> dict[str, str]:
        stamp = self._timestamp_ms("GET", path, b"")
        return {
            "api_key": self.api_key,
            "timestamp": str(stamp),
            "signature": protocol.sign(self._secret, stamp, "GET", path, b""),
        }


def path_with_query(path: str, params: Mapping[str, Any] | None = None) -> str:
    """`path?k=v&...` with None values left out; '/' stays unescaped so the raw and decoded forms agree."""
    if not params:
        return path
    items = [(k, _query_value(v)) for k, v in params.items() if v is not None]
    return f"{path}?{urlencode(items, safe='/')}" if items else path


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def reconnect_delay(attempt: int, initial: float, maximum: float, rng: random.Random) -> float:
    """Seconds to wait before reconnect `attempt` (1, 2, ...): `initial` doubling per attempt, capped at
    `maximum`, drawn uniformly from the upper half of that value (jitter, so clients do not reconnect in step)."""
    ceiling = min(maximum, initial * 2 ** max(0, attempt - 1))
    return rng.uniform(ceiling / 2, ceiling)


# ---- REST ------------------------------------------------------------------------------------------------------


class SandboxRestClient:
    """Signed JSON requests to `{base_url}/api/v1`; a session is opened on first use and closed by `close`."""

    def __init__(self, base_url: str, signer: RequestSigner, timeout_secs: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.signer = signer
        self.timeout_secs = timeout_secs
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_secs))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: bytes | None = None
    ) -> dict[str, Any]:
        """The decoded JSON object of a 2xx reply; `SandboxApiError` for a 4xx/5xx reply."""
        method = method.upper()
        target = path_with_query(API_PREFIX + path, params)
        payload = body or b""
        headers = self.signer.headers(method, target, payload)
        if body is not None:
            headers["Content-Type"] = "application/json"
        url = URL(self.base_url + target, encoded=True)
        async with self.session.request(method, url, data=body, headers=headers) as resp:
            raw = await resp.read()
            status = resp.status
        if status >= 400:
            raise _api_error(status, raw)
        try:
            reply = msgspec.json.decode(raw) if raw else {}
        except msgspec.DecodeError as exc:
            raise SandboxApiError(status, "bad_reply", f"reply is not JSON: {exc}") from None
        if not isinstance(reply, dict):
            raise SandboxApiError(status, "bad_reply", f"expected a JSON object, got {type(reply).__name__}")
        return reply


def _api_error(status: int, raw: bytes) -> SandboxApiError:
    try:
        body = msgspec.json.decode(raw, type=ErrorBody)
        return SandboxApiError(status, body.error, body.message, body.field)
    except (msgspec.DecodeError, msgspec.ValidationError):
        text = raw.decode("utf-8", "replace").strip()[:500]
        return SandboxApiError(status, "http_error", text or f"HTTP {status}")


# ---- WebSocket -------------------------------------------------------------------------------------------------

MessageHandler = Callable[[dict[str, Any]], Awaitable[None]]
OpenHandler = Callable[[], Awaitable[None]]


class ReconnectingSocket:
    """One signed WebSocket endpoint of the venue, kept open until `stop`.

    `start` opens it (raising if the first attempt fails); a reader task then passes every JSON message to
    `on_message` (awaited, so a slow consumer slows the reading down). A ping goes out every `heartbeat_secs`;
    nothing received for `DEAD_AFTER_HEARTBEATS` heartbeats, a close, an error or a failed send ends the
    connection, and the reader reconnects with `reconnect_delay` backoff, logging each attempt, then calls
    `on_open` (resubscribe / resume) before reading again. `on_open` also runs after the first open.
    """

    def __init__(
        self,
        *,
        name: str,
        rest: SandboxRestClient,
        path: str,
        extra_params: Mapping[str, str] | None,
        heartbeat_secs: float,
        initial_delay_secs: float,
        max_delay_secs: float,
        connect_timeout_secs: float,
        rng: random.Random,
        log: Logger,
        on_open: OpenHandler,
        on_message: MessageHandler,
    ) -> None:
        self.name = name
        self._rest = rest
        self.path = path
        self._extra_params = dict(extra_params or {})
        self.heartbeat_secs = heartbeat_secs
        self._initial_delay = initial_delay_secs
        self._max_delay = max_delay_secs
        self._connect_timeout = connect_timeout_secs
        self._rng = rng
        self._log = log
        self._on_open = on_open
        self._on_message = on_message
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._send_lock = asyncio.Lock()
        self.connections = 0  # successful opens (1 + reconnects)
        self.reconnect_attempts = 0  # attempts made after drops, successful or not
        self.last_drop_reason: str | None = None

    @property
    def is_open(self) -> bool:
        return self._ws is not None and not self._ws.closed

    @property
    def url(self) -> str:
        return self._rest.base_url + self.path

    async def start(self) -> None:
        ws = await self._open()
        self._reader = asyncio.get_running_loop().create_task(self._run(ws), name=f"{self.name}-reader")

    async def stop(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        await self._close_ws()

    async def send(self, message: Mapping[str, Any]) -> None:
        """Send one JSON message; raises ConnectionError when the socket is not open."""
        ws = self._ws
        if ws is None or ws.closed:
            raise ConnectionError(f"{self.name}: not connected")
        text = protocol.encode(message).decode()
        async with self._send_lock:
            await ws.send_str(text)

    async def _open(self) -> aiohttp.ClientWebSocketResponse:
        params = {**self._rest.signer.ws_params(self.path), **self._extra_params}
        ws = await asyncio.wait_for(
            self._rest.session.ws_connect(self.url, params=params, autoping=True, heartbeat=None, max_msg_size=0),
            timeout=self._connect_timeout,
        )
        self._ws = ws
        self.connections += 1
        try:
            await self._on_open()
        except BaseException:
            await self._close_ws()
            raise
        return ws

    async def _close_ws(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None and not ws.closed:
            try:
                await asyncio.wait_for(ws.close(), timeout=1.0)
            except (TimeoutError, *_SEND_ERRORS):
                pass

    async def _run(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            try:
                reason = await self._read(ws)
            except Exception as exc:  # an unexpected failure of the socket: start over
                self._log.exception("%s reader failed", self.name)
                reason = f"reader failed: {exc!r}"
            self.last_drop_reason = reason
            self._log.warning("%s connection to %s lost: %s", self.name, self.url, reason)
            await self._close_ws()
            ws = await self._reconnect()

    async def _reconnect(self) -> aiohttp.ClientWebSocketResponse:
        attempt = 0
        while True:
            attempt += 1
            self.reconnect_attempts += 1
            delay = reconnect_delay(attempt, self._initial_delay, self._max_delay, self._rng)
            self._log.warning("%s reconnect attempt %d to %s in %.3f s", self.name, attempt, self.url, delay)
            await asyncio.sleep(delay)
            try:
                ws = await self._open()
            except Exception as exc:  # refused, unreachable, timed out, or on_open could not send
                self._log.warning("%s reconnect attempt %d failed: %r", self.name, attempt, exc)
                continue
            self._log.info("%s reconnected to %s after %d attempt(s)", self.name, self.url, attempt)
            return ws

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        """Read until the connection ends; returns why it ended."""
        pinger = asyncio.get_running_loop().create_task(self._ping(ws), name=f"{self.name}-ping")
        silent_limit = DEAD_AFTER_HEARTBEATS * self.heartbeat_secs
        try:
            while True:
                try:
                    msg = await ws.receive(timeout=silent_limit)
                except TimeoutError:
                    return f"nothing received for {DEAD_AFTER_HEARTBEATS} heartbeats ({silent_limit:g} s)"
                if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    try:
                        message = msgspec.json.decode(msg.data)
                    except msgspec.DecodeError as exc:
                        self._log.warning("%s: message is not JSON (%s): %r", self.name, exc, msg.data[:200])
                        continue
                    if not isinstance(message, dict):
                        self._log.warning("%s: message is not a JSON object: %r", self.name, message)
                        continue
                    try:
                        await self._on_message(message)
                    except _SEND_ERRORS as exc:
                        return f"send failed: {exc!r}"
                    except Exception:
                        self._log.exception("%s: handling %s failed", self.name, message.get("type"))
                elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                    return f"closed by the server (code {ws.close_code})"
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    return f"error: {ws.exception()!r}"
        finally:
            pinger.cancel()
            await asyncio.gather(pinger, return_exceptions=True)

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        text = protocol.encode({"op": "ping"}).decode()
        while not ws.closed:
            await asyncio.sleep(self.heartbeat_secs)
            try:
                async with self._send_lock:
                    await ws.send_str(text)
            except _SEND_ERRORS:
                return  # the reader notices the dead socket


def _resolved_config(config: SandboxClientConfig) -> SandboxClientConfig:
    return config.with_environment()


# ---- market data -----------------------------------------------------------------------------------------------


class SandboxDataClient(LiveDataClient):
    """Market data of the sandbox venue over `/ws/market`; see the module docstring."""

    config: SandboxClientConfig

    def __init__(
        self,
        client_id: ClientId,
        venue: Venue | None,
        config: SandboxClientConfig,
        clock: Clock,
        cache: Cache,
        log: Logger,
        handle_data: DataHandler,
        trader_id: TraderId | str | None = None,
    ) -> None:
        config = _resolved_config(config)
        super().__init__(client_id, venue, config, clock, cache, log, handle_data)
        self.stream_client_id = config.client_id or (f"{trader_id}-{client_id}" if trader_id else str(client_id))
        self._rest = SandboxRestClient(
            config.root_url, RequestSigner(config.api_key, config.api_secret), config.request_timeout_secs
        )
        self._subscriptions: dict[tuple[str, str], dict[str, str]] = {}
        self._socket: ReconnectingSocket | None = None
        self.last_seq = 0  # seq of the last event handed over (or skipped as undecodable)
        self.data_count = 0
        self.duplicates = 0
        self.end_of_data = asyncio.Event()
        self.end_of_data_seq: int | None = None
        self.lockstep = bool(config.lockstep)  # None in the config: set from the venue's mode on connect

    @property
    def socket(self) -> ReconnectingSocket | None:
        return self._socket

    @property
    def rest(self) -> SandboxRestClient:
        """The signed REST client (for requests this client has no method for)."""
        return self._rest

    @property
    def subscriptions(self) -> list[dict[str, str]]:
        return list(self._subscriptions.values())

    async def connect(self) -> None:
        if self._socket is not None:
            return
        self._socket = ReconnectingSocket(
            name=f"{self.client_id} market",
            rest=self._rest,
            path=WS_MARKET_PATH,
            extra_params={"client_id": self.stream_client_id},
            heartbeat_secs=self.config.heartbeat_secs,
            initial_delay_secs=self.config.reconnect_initial_delay_secs,
            max_delay_secs=self.config.reconnect_max_delay_secs,
            connect_timeout_secs=self.config.request_timeout_secs,
            rng=random.Random(self.stream_client_id),
            log=self.log,
            on_open=self._on_open,
            on_message=self._on_message,
        )
        try:
            await self._socket.start()
        except BaseException as exc:
            self._socket = None
            await self._rest.close()
            if isinstance(exc, _CONNECT_ERRORS):
                raise ConnectionError(
                    f"cannot connect to the sandbox venue at {self.config.root_url}: {exc!r}"
                ) from exc
            raise
        self.is_connected = True
        self.log.info("connected to %s%s as %s", self.config.root_url, WS_MARKET_PATH, self.stream_client_id)
        await self._check_mode()

    async def disconnect(self) -> None:
        socket, self._socket = self._socket, None
        if socket is not None:
            await socket.stop()
        await self.cancel_tasks()
        await self._rest.close()
        self.is_connected = False

    async def request_instruments(self) -> list[Instrument]:
        reply = await self._rest.request("GET", "/instruments")
        return [instrument_from_dict(entry) for entry in reply.get("instruments", [])]

    async def request_status(self) -> dict[str, Any]:
        return await self._rest.request("GET", "/status")

    # ---- subscriptions ---------------------------------------------------------------------------------------
    async def subscribe_quote_ticks(self, instrument_id: InstrumentId) -> None:
        await self._subscribe({"type": "quotes", "instrument_id": str(instrument_id)})

    async def subscribe_trade_ticks(self, instrument_id: InstrumentId) -> None:
        await self._subscribe({"type": "trades", "instrument_id": str(instrument_id)})

    async def subscribe_bars(self, bar_type: BarType) -> None:
        await self._subscribe({"type": "bars", "bar_type": str(bar_type)})

    async def subscribe_order_book_deltas(self, instrument_id: InstrumentId) -> None:
        await self._subscribe({"type": "deltas", "instrument_id": str(instrument_id)})

    async def unsubscribe(self, channel: str, key: str) -> None:
        channel_msg = _channel(channel, key)
        if self._subscriptions.pop(_channel_key(channel_msg), None) is None:
            return
        await self._send_quietly({"op": "unsubscribe", "channels": [channel_msg]})

    async def _subscribe(self, channel: dict[str, str]) -> None:
        key = _channel_key(channel)
        if key in self._subscriptions:
            return
        self._subscriptions[key] = channel
        await self._send_quietly({"op": "subscribe", "channels": [channel]})

    async def _send_quietly(self, message: dict[str, Any]) -> None:
        """Send now if connected; otherwise the next (re)connect sends the subscriptions anyway."""
        if self._socket is None or not self._socket.is_open:
            return
        try:
            await self._socket.send(message)
        except _SEND_ERRORS as exc:
            self.log.warning("%s not sent (%r): it is sent again on reconnect", message.get("op"), exc)

    # ---- stream ----------------------------------------------------------------------------------------------
    async def _on_open(self) -> None:
        if self._subscriptions and self._socket is not None:
            await self._socket.send({"op": "subscribe", "channels": list(self._subscriptions.values())})

    async def _on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "data":
            await self._on_data(message)
        elif kind in ("heartbeat", "pong"):
            return
        elif kind == "subscribed":
            self.log.debug("subscribed: %s", message.get("channels"))
        elif kind == "end_of_data":
            self.end_of_data_seq = message.get("seq")
            if not self.end_of_data.is_set():
                self.log.info("end of data from the venue (seq %s)", self.end_of_data_seq)
            self.end_of_data.set()
        elif kind == "error":
            self.log.warning("venue error on %s: %s: %s", WS_MARKET_PATH, message.get("error"), message.get("message"))
        else:
            self.log.debug("ignored market message of type %r", kind)

    async def _on_data(self, message: dict[str, Any]) -> None:
        seq = int(message["seq"])
        if seq > self.last_seq:
            self.last_seq = seq
            user_seq = message.get("user_seq")
            if isinstance(user_seq, int):
                await self._wait_user_stream(user_seq, seq)
            try:
                obj = protocol.decode_data(message["data"])
            except (KeyError, ValueError, TypeError, msgspec.ValidationError) as exc:
                self.log.error("market event seq %d cannot be decoded: %s", seq, exc)
            else:
                self.data_count += 1
                try:
                    await self._handle_data(obj)
                except Exception:  # the node's problem; the venue must still get its ack in lockstep
                    self.log.exception("handling market event seq %d failed", seq)
        else:
            self.duplicates += 1
            self.log.debug("market event seq %d already handed over (last %d): skipped", seq, self.last_seq)
        if self.lockstep and self._socket is not None:
            if self.wait_until_idle is not None:
                await self.wait_until_idle()
            await self._socket.send({"op": "ack", "seq": seq})

    async def _wait_user_stream(self, user_seq: int, seq: int) -> None:
        """Before handing over a market event, wait until the user stream of the node's execution client for
        this venue (`execution_peers`, set by the node) has applied the events the venue caused up to it, so
        a strategy sees its fills before the tick that follows them, as in a backtest."""
        for executor in self.execution_peers:
            if not isinstance(executor, SandboxExecutionClient):
                continue
            if (executor.config.root_url, executor.config.api_key) != (self.config.root_url, self.config.api_key):
                continue
            if executor.last_user_seq is None or executor.last_user_seq >= user_seq:
                continue
            if not await executor.wait_user_seq(user_seq, self.config.request_timeout_secs):
                self.log.warning(
                    "market event seq %d handed over before the user stream reached user_seq %d", seq, user_seq
                )

    async def _check_mode(self) -> None:
        """Follow the venue's lockstep mode unless the config fixes it (then warn about a mismatch)."""
        try:
            status = await self.request_status()
        except (SandboxApiError, *_CONNECT_ERRORS) as exc:
            self.log.debug("venue status not available: %r", exc)
            return
        venue_lockstep = status.get("lockstep")
        if not isinstance(venue_lockstep, bool):
            return
        if self.config.lockstep is None:
            self.lockstep = venue_lockstep
            if venue_lockstep:
                self.log.info("the venue runs in lockstep: each market event is acknowledged once the node is idle")
        elif venue_lockstep != self.config.lockstep:
            self.log.warning(
                "the venue runs with lockstep=%s but this client has lockstep=%s%s",
                venue_lockstep,
                self.config.lockstep,
                ": no event will be acknowledged and the venue will wait" if venue_lockstep else "",
            )


def _channel(channel: str, key: str) -> dict[str, str]:
    if channel == "bars":
        return {"type": "bars", "bar_type": str(key)}
    if channel not in ("quotes", "trades", "deltas"):
        raise ValueError(f"unknown channel {channel!r} (known: quotes, trades, bars, deltas)")
    return {"type": channel, "instrument_id": str(key)}


def _channel_key(channel: Mapping[str, str]) -> tuple[str, str]:
    return channel["type"], channel.get("bar_type") or channel["instrument_id"]


# ---- execution -------------------------------------------------------------------------------------------------


class SandboxExecutionClient(LiveExecutionClient):
    """Orders on the sandbox venue: signed REST requests and the `/ws/user` event stream; see the module docstring."""

    config: SandboxClientConfig

    def __init__(
        self,
        client_id: ClientId,
        venue: Venue,
        oms_type: OmsType,
        account_id: AccountId,
        config: SandboxClientConfig,
        clock: Clock,
        cache: Cache,
        log: Logger,
        send_event: EventHandler,
    ) -> None:
        config = _resolved_config(config)
        super().__init__(client_id, venue, oms_type, account_id, config, clock, cache, log, send_event)
        self._rest = SandboxRestClient(
            config.root_url, RequestSigner(config.api_key, config.api_secret), config.request_timeout_secs
        )
        self._socket: ReconnectingSocket | None = None
        # user_seq of the last event applied; None until the first event fixes the starting point.
        self.last_user_seq: int | None = None
        self._floor: int | None = None  # lowest user_seq a response said is ours, while last_user_seq is None
        self._highest_seen = 0
        self._gap_since: float | None = None  # loop time a gap (events after a missing one) was first seen
        self._resume_sent_after: int | None = None
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._recover_lock = asyncio.Lock()
        self._account_sent = asyncio.Event()
        self._trade_ids: set[tuple[ClientOrderId, TradeId]] = set()
        # Submits not answered yet (result: whether the venue may know the order) and the last submit of each
        # order list: a contingent order's submit waits for those of the orders it links to.
        self._submits: dict[ClientOrderId, asyncio.Future[bool]] = {}
        self._list_tails: dict[OrderListId, ClientOrderId] = {}
        self.events_applied = 0
        self.duplicates = 0
        self.recoveries = 0

    @property
    def socket(self) -> ReconnectingSocket | None:
        return self._socket

    @property
    def rest(self) -> SandboxRestClient:
        """The signed REST client (for requests this client has no method for)."""
        return self._rest

    # ---- lifecycle -------------------------------------------------------------------------------------------
    async def connect(self) -> None:
        if self._socket is not None:
            return
        self._socket = ReconnectingSocket(
            name=f"{self.client_id} user",
            rest=self._rest,
            path=WS_USER_PATH,
            extra_params=None,
            heartbeat_secs=self.config.heartbeat_secs,
            initial_delay_secs=self.config.reconnect_initial_delay_secs,
            max_delay_secs=self.config.reconnect_max_delay_secs,
            connect_timeout_secs=self.config.request_timeout_secs,
            rng=random.Random(f"{self.client_id}-{self.account_id}"),
            log=self.log,
            on_open=self._on_open,
            on_message=self._on_message,
        )
        try:
            if self.last_user_seq is None:
                await self._fetch_starting_point()
            await self._socket.start()
            state = await self.request_account_state()
        except BaseException as exc:
            socket, self._socket = self._socket, None
            await socket.stop()
            await self._rest.close()
            if isinstance(exc, (*_CONNECT_ERRORS, SandboxApiError)):
                raise ConnectionError(
                    f"cannot connect to the sandbox venue at {self.config.root_url}: {exc!r}"
                ) from exc
            raise
        if state.account_id != self.account_id:
            self.log.warning(
                "the venue's account is %s but this client is configured with account_id %s: events carry %s",
                state.account_id,
                self.account_id,
                state.account_id,
            )
        self._send_event(state)
        self._account_sent.set()  # stream events wait for it: the portfolio needs the account first
        self.is_connected = True
        self.log.info("connected to %s (account %s)", self.config.root_url, state.account_id)

    async def disconnect(self) -> None:
        socket, self._socket = self._socket, None
        if socket is not None:
            await socket.stop()
        await self.cancel_tasks()
        for _, waiter in self._waiters:
            waiter.cancel()
        self._waiters.clear()
        self._submits.clear()
        self._list_tails.clear()
        await self._rest.close()
        self._account_sent.clear()
        self.is_connected = False

    async def _fetch_starting_point(self) -> None:
        """Start the user stream after the venue's current `user_seq` when `/status` tells it (the events of
        earlier sessions are reconciliation's business); without it the first event received is the start."""
        try:
            status = await self._rest.request("GET", "/status")
        except SandboxApiError as exc:
            self.log.debug("venue status not available: %s", exc)
            return
        user_seq = status.get("user_seq")
        if isinstance(user_seq, int) and not isinstance(user_seq, bool) and user_seq >= 0:
            self.last_user_seq = user_seq

    async def wait_user_seq(self, user_seq: int, timeout_secs: float) -> bool:
        """Wait until the user stream has applied `user_seq`; False if it did not within `timeout_secs`."""
        if self.last_user_seq is not None and self.last_user_seq >= user_seq:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((user_seq, waiter))
        try:
            await asyncio.wait_for(waiter, timeout=timeout_secs)
        except TimeoutError:
            return False
        return True

    async def request_account_state(self) -> AccountState:
        reply = await self._rest.request("GET", "/account")
        return protocol.convert(reply["account"], AccountState)

    # ---- commands (called synchronously on the loop) ---------------------------------------------------------
    def submit_order(self, command: SubmitOrder) -> None:
        order = command.order
        now = self.clock.timestamp_ns()
        self._send_event(
            OrderSubmitted(
                trader_id=order.trader_id,
                strategy_id=order.strategy_id,
                instrument_id=order.instrument_id,
                client_order_id=order.client_order_id,
                account_id=self.account_id,
                ts_event=now,
                ts_init=now,
            )
        )
        after = self._submit_predecessors(order)
        self._submits[order.client_order_id] = asyncio.get_running_loop().create_future()
        if order.order_list_id is not None:
            self._list_tails[order.order_list_id] = order.client_order_id
        self.spawn(self._submit(command, after), name=f"submit-{order.client_order_id}")

    def _submit_predecessors(self, order: Order) -> dict[ClientOrderId, asyncio.Future[bool]]:
        """The unanswered submits this order's submit must wait for: its parent, its linked orders and the last
        earlier order of its order list (the venue must see a parent before its children, as in a backtest)."""
        ids: list[ClientOrderId] = []
        if order.parent_order_id is not None:
            ids.append(order.parent_order_id)
        ids.extend(order.linked_order_ids)
        if order.order_list_id is not None and order.order_list_id in self._list_tails:
            ids.append(self._list_tails[order.order_list_id])
        return {coid: self._submits[coid] for coid in ids if coid in self._submits}

    def modify_order(self, command: ModifyOrder) -> None:
        self.spawn(self._modify(command), name=f"modify-{command.client_order_id}")

    def cancel_order(self, command: CancelOrder) -> None:
        self.spawn(self._cancel(command), name=f"cancel-{command.client_order_id}")

    def cancel_all_orders(self, command: CancelAllOrders) -> None:
        self.spawn(self._cancel_all(command), name=f"cancel-all-{command.instrument_id}")

    async def _submit(self, command: SubmitOrder, after: Mapping[ClientOrderId, asyncio.Future[bool]]) -> None:
        order = command.order
        coid = order.client_order_id
        taken = True  # whether the venue may know the order (False: refused, never reached the matching engine)
        try:
            for linked_id, answered in after.items():
                if not await asyncio.shield(answered) and linked_id == order.parent_order_id:
                    # The venue never saw the parent: sent alone, the child would work without it. A backtest
                    # venue rejects the children of a rejected parent the same way.
                    taken = False
                    self._reject(command, f"REJECT OTO from {linked_id}")
                    return
            if order.quote_quantity:
                taken = False
                self._reject(command, "the sandbox venue does not take quote quantities")
                return
            request = submit_request(command)
            try:
                reply = await self._rest.request("POST", "/orders", body=protocol.encode(request))
            except SandboxApiError as exc:
                if exc.is_client_error:
                    taken = False
                    self._reject(command, exc.message)
                    return
                self.log.error("submit of %s failed: %s", coid, exc)
                taken = await self._settle_unknown_submit(command)
                return
            except (*_CONNECT_ERRORS, ConnectionError) as exc:
                self.log.error("submit of %s got no answer: %r", coid, exc)
                taken = await self._settle_unknown_submit(command)
                return
            self._answered(order, taken)
            await self._await_reply_events(reply, f"submit {coid}")
        finally:
            self._answered(order, taken)

    def _answered(self, order: Order, taken: bool) -> None:
        """The venue has answered a submit (or it ended without reaching the venue): its dependents may go."""
        future = self._submits.pop(order.client_order_id, None)
        if future is not None and not future.done():
            future.set_result(taken)
        if order.order_list_id is not None and self._list_tails.get(order.order_list_id) == order.client_order_id:
            del self._list_tails[order.order_list_id]

    async def _settle_unknown_submit(self, command: SubmitOrder) -> bool:
        """After a 5xx or no answer: reject if the venue does not know the order, else its events arrive.
        False when the venue does not know it (rejected here), True when it does or may."""
        coid = command.order.client_order_id
        try:
            await self._rest.request("GET", f"/orders/{_path_id(coid)}")
        except SandboxApiError as exc:
            if exc.status == 404:
                self._reject(command, "the venue did not take the order (no answer to the submit)")
                return False
            self.log.error("state of %s unknown (%s): left to reconciliation", coid, exc)
        except (*_CONNECT_ERRORS, ConnectionError) as exc:
            self.log.error("state of %s unknown (%r): left to reconciliation", coid, exc)
        return True

    def _reject(self, command: SubmitOrder, reason: str) -> None:
        order = command.order
        now = self.clock.timestamp_ns()
        self.log.warning("order %s rejected: %s", order.client_order_id, reason)
        self._send_event(
            OrderRejected(
                trader_id=order.trader_id,
                strategy_id=order.strategy_id,
                instrument_id=order.instrument_id,
                client_order_id=order.client_order_id,
                account_id=self.account_id,
                reason=reason,
                ts_event=now,
                ts_init=now,
            )
        )

    async def _modify(self, command: ModifyOrder) -> None:
        request = ModifyOrderRequest(
            quantity=None if command.quantity is None else str(command.quantity),
            price=None if command.price is None else str(command.price),
            trigger_price=None if command.trigger_price is None else str(command.trigger_price),
        )
        path = f"/orders/{_path_id(command.client_order_id)}"
        try:
            reply = await self._rest.request("PUT", path, body=protocol.encode(request))
        except SandboxApiError as exc:
            if exc.is_client_error:
                self._send_event(self._refusal(OrderModifyRejected, command, exc.message))
            else:
                self.log.error("modify of %s failed: %s", command.client_order_id, exc)
            return
        except (*_CONNECT_ERRORS, ConnectionError) as exc:
            self.log.error("modify of %s got no answer: %r", command.client_order_id, exc)
            return
        await self._await_reply_events(reply, f"modify {command.client_order_id}")

    async def _cancel(self, command: CancelOrder) -> None:
        path = f"/orders/{_path_id(command.client_order_id)}"
        try:
            reply = await self._rest.request("DELETE", path)
        except SandboxApiError as exc:
            if exc.is_client_error:
                self._send_event(self._refusal(OrderCancelRejected, command, exc.message))
            else:
                self.log.error("cancel of %s failed: %s", command.client_order_id, exc)
            return
        except (*_CONNECT_ERRORS, ConnectionError) as exc:
            self.log.error("cancel of %s got no answer: %r", command.client_order_id, exc)
            return
        await self._await_reply_events(reply, f"cancel {command.client_order_id}")

    async def _cancel_all(self, command: CancelAllOrders) -> None:
        side = None if command.order_side is OrderSide.NO_ORDER_SIDE else command.order_side.name
        try:
            reply = await self._rest.request(
                "DELETE",
                "/orders",
                # only this strategy's orders: another strategy on the same account keeps its own
                params={
                    "instrument_id": str(command.instrument_id),
                    "side": side,
                    "strategy_id": str(command.strategy_id),
                },
            )
        except (SandboxApiError, *_CONNECT_ERRORS, ConnectionError) as exc:
            self.log.error("cancel all orders of %s failed: %r", command.instrument_id, exc)
            return
        await self._await_reply_events(reply, f"cancel all {command.instrument_id}")

    def _refusal(self, event_type: type, command: ModifyOrder | CancelOrder, reason: str) -> OrderEvent:
        order = self.cache.order(command.client_order_id)
        now = self.clock.timestamp_ns()
        self.log.warning("%s of %s refused: %s", type(command).__name__, command.client_order_id, reason)
        return event_type(
            trader_id=command.trader_id,
            strategy_id=command.strategy_id,
            instrument_id=command.instrument_id,
            client_order_id=command.client_order_id,
            venue_order_id=None if order is None else order.venue_order_id,
            account_id=self.account_id,
            reason=reason,
            ts_event=now,
            ts_init=now,
        )

    # ---- user stream -----------------------------------------------------------------------------------------
    async def _on_open(self) -> None:
        after = self._resume_point()
        if after is not None and self._socket is not None:
            await self._socket.send({"op": "resume", "after_seq": after})
            self._resume_sent_after = after
            self.log.info("user stream: resume after user_seq %d", after)

    def _resume_point(self) -> int | None:
        if self.last_user_seq is not None:
            return self.last_user_seq
        if self._floor is not None:
            return self._floor - 1
        return None

    async def _on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "event":
            await self._account_sent.wait()
            await self._on_stream_event(int(message["user_seq"]), message.get("event"))
        elif kind == "error":
            self.log.warning("venue error on %s: %s: %s", WS_USER_PATH, message.get("error"), message.get("message"))
            about_resume = "resume" in f"{message.get('error')} {message.get('message')}".lower()
            if about_resume and self._resume_sent_after is not None:  # cannot resume: fetch the state instead
                await self._recover("the venue refused to resume the user stream")
                return
        elif kind not in ("heartbeat", "pong"):
            self.log.debug("ignored user message of type %r", kind)
        await self._check_gap()

    async def _on_stream_event(self, seq: int, raw: Any) -> None:
        last = self.last_user_seq
        if last is None:
            first = seq if self._floor is None else min(seq, self._floor)
            last = self.last_user_seq = first - 1
        if seq <= last:
            self.duplicates += 1
            return
        if seq > last + 1:  # events are missing before this one: ask for them again, keep this one for later
            self._highest_seen = max(self._highest_seen, seq)
            if self._gap_since is None:
                self._gap_since = asyncio.get_running_loop().time()
            if self._resume_sent_after != last and self._socket is not None:
                self.log.warning("user stream: user_seq %d after %d, resuming after %d", seq, last, last)
                await self._socket.send({"op": "resume", "after_seq": last})
                self._resume_sent_after = last
            return
        self._apply(seq, raw)

    def _apply(self, seq: int, raw: Any) -> None:
        """Pass the event of `seq` (the next one) to the node and advance."""
        try:
            event = raw if isinstance(raw, (OrderEvent, AccountState)) else protocol.convert(raw, VenueEvent)
        except (msgspec.ValidationError, TypeError, ValueError) as exc:
            self.log.error("user event %d cannot be decoded (skipped): %s", seq, exc)
        else:
            if isinstance(event, OrderFilled):
                self._trade_ids.add((event.client_order_id, event.trade_id))
            self.events_applied += 1
            self._send_event(event)
        self.last_user_seq = seq
        self._floor = None
        if self._highest_seen <= seq:
            self._gap_since = None
            self._resume_sent_after = None
        self._release_waiters()

    def _release_waiters(self) -> None:
        last = self.last_user_seq
        pending = []
        for seq, waiter in self._waiters:
            if waiter.done():
                continue
            if last is not None and seq <= last:
                waiter.set_result(None)
            else:
                pending.append((seq, waiter))
        self._waiters = pending

    async def _await_reply_events(self, reply: Mapping[str, Any], what: str) -> None:
        """Return once the user stream has applied every event of a response (up to its `user_seq`)."""
        events = reply.get("events") or []
        user_seq = reply.get("user_seq")
        if not isinstance(user_seq, int):
            return
        first = user_seq - len(events) + 1
        if self.last_user_seq is None:
            if not events:
                return  # nothing of ours to wait for, and no starting point yet
            self._floor = first if self._floor is None else min(self._floor, first)
        if await self.wait_user_seq(user_seq, self.config.request_timeout_secs):
            return
        last = self.last_user_seq
        if events and (last is None or last >= first - 1):
            # Nothing is missing before these events: apply them from the response (the stream skips them later).
            self.log.warning("%s: user stream late, applying the response's events %d..%d", what, first, user_seq)
            applied = first - 1 if last is None else last
            for offset, raw in enumerate(events):
                if first + offset > applied:
                    self.last_user_seq = first + offset - 1
                    self._apply(first + offset, raw)
            return
        await self._recover(f"{what}: user stream did not reach user_seq {user_seq}")

    async def _check_gap(self) -> None:
        since = self._gap_since
        if since is not None and asyncio.get_running_loop().time() - since > self.config.request_timeout_secs:
            await self._recover(f"user stream gap after user_seq {self.last_user_seq} was not filled")

    async def _recover(self, why: str) -> None:
        """The venue could not resend missing events: derive them from its order and fill reports instead."""
        async with self._recover_lock:
            self.log.warning("%s: backfilling from GET /orders and GET /fills", why)
            try:
                orders = await self.generate_order_status_reports()
                fills = await self.generate_fill_reports()
                account = await self.request_account_state()
            except (SandboxApiError, *_CONNECT_ERRORS, ConnectionError) as exc:
                self.log.error("backfill failed (%r): tried again later", exc)
                self._gap_since = asyncio.get_running_loop().time()
                return
            now = self.clock.timestamp_ns()
            events = backfill_events(orders, fills, self.cache, self.account_id, self._trade_ids, now)
            for event in events:
                if isinstance(event, OrderFilled):
                    self._trade_ids.add((event.client_order_id, event.trade_id))
                self._send_event(event)
            self._send_event(account)
            self.recoveries += 1
            self.log.warning("backfilled %d event(s) from reports", len(events))
            # Everything up to the highest event seen is reflected in the reports; go on after it.
            if self._highest_seen:
                self.last_user_seq = max(self.last_user_seq or 0, self._highest_seen)
            self._floor = None
            self._gap_since = None
            self._resume_sent_after = None
            for _, waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._waiters.clear()

    # ---- reports ---------------------------------------------------------------------------------------------
    async def generate_order_status_report(
        self,
        instrument_id: InstrumentId,
        client_order_id: ClientOrderId | None = None,
        venue_order_id: VenueOrderId | None = None,
    ) -> OrderStatusReport | None:
        if client_order_id is not None:
            try:
                reply = await self._rest.request("GET", f"/orders/{_path_id(client_order_id)}")
            except SandboxApiError as exc:
                if exc.status == 404:
                    return None
                raise
            return protocol.convert(reply["report"], OrderStatusReport)
        if venue_order_id is None:
            raise ValueError("generate_order_status_report needs a client_order_id or a venue_order_id")
        for report in await self.generate_order_status_reports(instrument_id=instrument_id):
            if report.venue_order_id == venue_order_id:
                return report
        return None

    async def generate_order_status_reports(
        self,
        instrument_id: InstrumentId | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
        open_only: bool = False,
    ) -> list[OrderStatusReport]:
        params = {"instrument_id": instrument_id, "open_only": open_only, "start_ns": start_ns, "end_ns": end_ns}
        reply = await self._rest.request("GET", "/orders", params=params)
        return protocol.convert(reply.get("reports", []), list[OrderStatusReport])

    async def generate_fill_reports(
        self,
        instrument_id: InstrumentId | None = None,
        venue_order_id: VenueOrderId | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> list[FillReport]:
        params = {
            "instrument_id": instrument_id,
            "venue_order_id": venue_order_id,
            "start_ns": start_ns,
            "end_ns": end_ns,
        }
        reply = await self._rest.request("GET", "/fills", params=params)
        return protocol.convert(reply.get("reports", []), list[FillReport])

    async def generate_position_status_reports(
        self,
        instrument_id: InstrumentId | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> list[PositionStatusReport]:
        reply = await self._rest.request("GET", "/positions", params={"instrument_id": instrument_id})
        return protocol.convert(reply.get("reports", []), list[PositionStatusReport])


def _path_id(value: str) -> str:
    return quote(str(value), safe="")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def submit_request(command: SubmitOrder) -> SubmitOrderRequest:
    """The POST /orders body for a submit: every parameter of the order (decimal strings for prices, quantities and
    offsets), its contingency links, and the command's position id."""
    order = command.order
    return SubmitOrderRequest(
        client_order_id=str(order.client_order_id),
        trader_id=str(order.trader_id),
        strategy_id=str(order.strategy_id),
        instrument_id=str(order.instrument_id),
        order_side=order.side,
        order_type=order.order_type,
        quantity=str(order.quantity),
        time_in_force=order.time_in_force,
        price=_text(order.price),
        trigger_price=_text(order.trigger_price),
        trigger_type=order.trigger_type,
        expire_time_ns=order.expire_time_ns,
        post_only=order.post_only,
        reduce_only=order.reduce_only,
        position_id=_text(command.position_id),
        display_qty=_text(order.display_qty),
        trailing_offset=_text(order.trailing_offset),
        trailing_offset_type=order.trailing_offset_type,
        limit_offset=_text(order.limit_offset),
        activation_price=_text(order.activation_price),
        # Links go to the venue only when it should act on them (not when the strategy manages them itself).
        contingency_type=order.contingency_type if command.venue_links else ContingencyType.NO_CONTINGENCY,
        order_list_id=_text(order.order_list_id),
        linked_order_ids=tuple(str(cid) for cid in order.linked_order_ids) if command.venue_links else (),
        parent_order_id=_text(order.parent_order_id) if command.venue_links else None,
        tags=tuple(order.tags),
    )


def backfill_events(
    orders: Iterable[OrderStatusReport],
    fills: Iterable[FillReport],
    cache: Cache,
    account_id: AccountId,
    known_trades: set[tuple[ClientOrderId, TradeId]],
    ts_init: int,
) -> list[OrderEvent]:
    """Events that bring cached orders up to the venue's reports (after lost user stream events).

    Only orders in the cache are considered (others are reconciliation's business). Per order: accepted or
    rejected if still SUBMITTED, then fills whose trade id it has not seen (in time order), then quantity or
    price changes, then a cancel or expiry if the venue closed it that way.
    """
    by_coid = {r.client_order_id: r for r in orders if r.client_order_id is not None}
    events: list[OrderEvent] = []
    for coid, report in by_coid.items():
        order = cache.order(coid)
        if order is None or order.status is not OrderStatus.SUBMITTED:
            continue
        ids = _ids(order)
        if report.order_status is OrderStatus.REJECTED:
            reason = report.cancel_reason or "rejected by the venue"
            events.append(
                OrderRejected(**ids, account_id=account_id, reason=reason, ts_event=report.ts_last, ts_init=ts_init)
            )
        else:
            events.append(
                OrderAccepted(
                    **ids,
                    venue_order_id=report.venue_order_id,
                    account_id=account_id,
                    ts_event=report.ts_accepted,
                    ts_init=ts_init,
                )
            )
    for fill in sorted(fills, key=lambda f: f.ts_event):
        coid = fill.client_order_id
        order = None if coid is None else cache.order(coid)
        if order is None or (coid, fill.trade_id) in known_trades or fill.trade_id in order.trade_ids:
            continue
        instrument = cache.instrument(order.instrument_id)
        events.append(
            OrderFilled(
                **_ids(order),
                venue_order_id=fill.venue_order_id,
                account_id=account_id,
                trade_id=fill.trade_id,
                order_side=fill.order_side,
                order_type=order.order_type,
                last_qty=fill.last_qty,
                last_px=fill.last_px,
                currency=fill.commission.currency if instrument is None else instrument.quote_currency,
                commission=fill.commission,
                liquidity_side=fill.liquidity_side,
                position_id=fill.venue_position_id,
                reconciliation=True,
                ts_event=fill.ts_event,
                ts_init=ts_init,
            )
        )
    for coid, report in by_coid.items():
        order = cache.order(coid)
        if order is None or order.status in _CLOSED_STATUSES or report.order_status is OrderStatus.REJECTED:
            continue
        ids = _ids(order)
        venue = {"venue_order_id": report.venue_order_id, "account_id": account_id}
        changed = report.quantity != order.quantity or report.price != order.price
        if changed and report.order_status not in _CLOSED_STATUSES:
            events.append(
                OrderUpdated(
                    **ids,
                    **venue,
                    quantity=report.quantity,
                    price=report.price,
                    trigger_price=report.trigger_price,
                    ts_event=report.ts_last,
                    ts_init=ts_init,
                )
            )
        if report.order_status is OrderStatus.CANCELED:
            events.append(OrderCanceled(**ids, **venue, ts_event=report.ts_last, ts_init=ts_init))
        elif report.order_status is OrderStatus.EXPIRED:
            events.append(OrderExpired(**ids, **venue, ts_event=report.ts_last, ts_init=ts_init))
    return events


def _ids(order: Any) -> dict[str, Any]:
    return {
        "trader_id": order.trader_id,
        "strategy_id": order.strategy_id,
        "instrument_id": order.instrument_id,
        "client_order_id": order.client_order_id,
    }
