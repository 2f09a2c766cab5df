"""End-to-end: `toolkit venue` run as a real process and driven over HTTP and WebSocket with aiohttp.

Every wait has a deadline (a condition, never a fixed sleep) and every process is killed in a finally.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from tests.conftest import PROJECT_ROOT
from toolkit.adapters.sandbox.protocol import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    VenueEvent,
    convert,
    decode_data,
    sign,
)
from toolkit.model.data import Bar, QuoteTick
from toolkit.model.events import AccountState, OrderAccepted, OrderFilled
from toolkit.model.reports import FillReport, OrderStatusReport, PositionStatusReport

TOOLKIT = str(Path(sys.executable).parent / "toolkit")
KEY, SECRET = "sandbox-key", "sandbox-secret"
DEADLINE = 20.0
RUN_FILE = f"""
[backtest]
catalog = "{PROJECT_ROOT / "data" / "catalog"}"
start = "2024-01-02T00:00:00Z"
end = "2024-01-02T00:10:00Z"

[[backtest.data]]
type = "quotes"
instrument_id = "EUR/USD.SIM"

[[backtest.data]]
type = "bars"
bar_type = "EUR/USD.SIM-1-MINUTE-BID-EXTERNAL"

[backtest.venue]
name = "SIM"
oms_type = "NETTING"
account_type = "MARGIN"
base_currency = "USD"
starting_balances = ["1000000 USD"]
default_leverage = "50"
use_market_order_acks = true
"""


# ---- the venue process ---------------------------------------------------------------------------------------------
class VenueProcess:
    def __init__(self, proc: subprocess.Popen[bytes], url: str, stderr: Path) -> None:
        self.proc = proc
        self.url = url
        self.stderr = stderr

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=DEADLINE)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_venue(folder: Path, *args: str, run_text: str = RUN_FILE) -> VenueProcess:
    folder.mkdir(parents=True, exist_ok=True)
    run = folder / "venue.toml"
    run.write_text(run_text, encoding="utf-8")
    stderr = folder / "venue.stderr"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("TOOLKIT_SANDBOX_API_KEY", None)
    env.pop("TOOLKIT_SANDBOX_API_SECRET", None)
    with stderr.open("wb") as err:
        proc = subprocess.Popen(
            [TOOLKIT, "venue", str(run), "--port", "0", *args],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
        )
    try:
        line = _read_line(proc, DEADLINE)
        prefix = "toolkit venue listening on "
        assert line.startswith(prefix), (line, stderr.read_text())
        return VenueProcess(proc, line[len(prefix) :], stderr)
    except BaseException:
        proc.kill()
        proc.wait()
        raise


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no URL line from toolkit venue within {timeout} s (got {data!r})")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise AssertionError(f"toolkit venue exited ({proc.wait()}) before printing its URL: {data!r}")
            data += chunk
    return data.decode().strip()


@pytest.fixture
def venue_factory(tmp_path: Path) -> Iterator[Callable[..., VenueProcess]]:
    started: list[VenueProcess] = []

    def factory(*args: str, run_text: str = RUN_FILE) -> VenueProcess:
        venue = start_venue(tmp_path / f"venue-{len(started)}", *args, run_text=run_text)
        started.append(venue)
        return venue

    try:
        yield factory
    finally:
        for venue in started:
            venue.stop()


@pytest.fixture(scope="module")
def idle_venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VenueProcess]:
    """A lockstep venue waiting for more clients than ever connect: nothing is replayed, state is stable."""
    venue = start_venue(tmp_path_factory.mktemp("idle"), "--lockstep", "--lockstep-clients", "50")
    try:
        yield venue
    finally:
        venue.stop()


# ---- a signing client --------------------------------------------------------------------------------------------
def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Client:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    _last_stamp = 0  # shared by every client of the module: they all talk to one venue

    def _fresh_stamp(self) -> int:
        """Wall time in ms, strictly increasing across clients: two identical requests in one millisecond would
        otherwise carry the same signature and the venue would refuse the second as a replay (the adapter
        does the same)."""
        Client._last_stamp = max(now_ms(), Client._last_stamp + 1)
        return Client._last_stamp

    def signed_headers(
        self,
        method: str,
        path_qs: str,
        body: bytes = b"",
        *,
        ts: int | None = None,
        key: str = KEY,
        secret: str = SECRET,
    ) -> dict[str, str]:
        stamp = str(self._fresh_stamp() if ts is None else ts)
        return {
            HEADER_KEY: key,
            HEADER_TIMESTAMP: stamp,
            HEADER_SIGNATURE: sign(secret, stamp, method, path_qs, body),
        }

    async def send(
        self, method: str, path_qs: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, Any, str]:
        headers = dict(headers if headers is not None else self.signed_headers(method, path_qs, body))
        if body:
            headers["Content-Type"] = "application/json"
        url = URL(self.url + path_qs, encoded=True)
        async with self.session.request(method, url, data=body or None, headers=headers) as response:
            text = await response.text()
            return response.status, json.loads(text), response.content_type

    async def call(self, method: str, path_qs: str, payload: Any = None) -> Any:
        body = b"" if payload is None else json.dumps(payload).encode()
        status, data, _ = await self.send(method, path_qs, body)
        assert status == 200, (status, data)
        return data

    async def ws(self, path: str, client_id: str | None = None) -> aiohttp.ClientWebSocketResponse:
        stamp = str(now_ms())
        query = {"api_key": KEY, "timestamp": stamp, "signature": sign(SECRET, stamp, "GET", path)}
        if client_id is not None:
            query["client_id"] = client_id
        return await self.session.ws_connect(self.url + path, params=query, autoping=True)


def run(scenario: Callable[[Client], Awaitable[None]], url: str) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            await asyncio.wait_for(scenario(Client(session, url)), 60)

    asyncio.run(main())


async def receive(ws: aiohttp.ClientWebSocketResponse, *types: str, timeout: float = DEADLINE) -> dict[str, Any]:
    """The next message of one of `types` (heartbeats and pongs skipped unless asked for)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        message = await asyncio.wait_for(ws.receive(), max(remaining, 0.001))
        assert message.type is aiohttp.WSMsgType.TEXT, message
        data = json.loads(message.data)
        if data["type"] in types:
            return data
        assert data["type"] in ("heartbeat", "pong", "subscribed"), data


async def wait_for_status(client: Client, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE
    while True:
        status = await client.call("GET", "/api/v1/status")
        if predicate(status):
            return status
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.02)


def order_body(coid: str, **fields: Any) -> dict[str, Any]:
    body = {
        "client_order_id": coid,
        "trader_id": "TESTER-001",
        "strategy_id": "S-001",
        "instrument_id": "EUR/USD.SIM",
        "order_side": "BUY",
        "order_type": "MARKET",
        "quantity": "100000",
    }
    body.update(fields)
    return body


async def snapshot(client: Client) -> tuple[Any, ...]:
    status = await client.call("GET", "/api/v1/status")
    orders = await client.call("GET", "/api/v1/orders")
    return status["user_seq"], status["events_released"], status["time_ns"], orders["reports"]


# ---- bad requests: a 4xx with a JSON error, and nothing changes -------------------------------------------------
def check_refused(
    venue: VenueProcess,
    make_request: Callable[[Client], Awaitable[tuple[int, Any, str]]],
    status: int,
    code: str,
    field: str | None = None,
) -> None:
    async def scenario(client: Client) -> None:
        before = await snapshot(client)
        got, body, content_type = await make_request(client)
        assert (got, content_type) == (status, "application/json"), (got, body)
        assert body["error"] == code and isinstance(body["message"], str) and body["message"]
        if field is not None:
            assert body["field"] == field, body
        assert await snapshot(client) == before

    run(scenario, venue.url)


def post_order(client: Client, payload: dict[str, Any], **header_args: Any) -> Awaitable[tuple[int, Any, str]]:
    body = json.dumps(payload).encode()
    return client.send(
        "POST", "/api/v1/orders", body, client.signed_headers("POST", "/api/v1/orders", body, **header_args)
    )


def test_wrong_signature_is_refused(idle_venue: VenueProcess) -> None:
    check_refused(idle_venue, lambda c: post_order(c, order_body("SIG-1"), secret="wrong"), 401, "unauthorized")


def test_stale_timestamp_is_refused(idle_venue: VenueProcess) -> None:
    check_refused(idle_venue, lambda c: post_order(c, order_body("OLD-1"), ts=now_ms() - 10_000), 401, "unauthorized")


def test_unknown_key_is_refused(idle_venue: VenueProcess) -> None:
    check_refused(idle_venue, lambda c: post_order(c, order_body("KEY-1"), key="someone-else"), 401, "unauthorized")


def test_missing_headers_are_refused(idle_venue: VenueProcess) -> None:
    check_refused(idle_venue, lambda c: c.send("GET", "/api/v1/status", headers={}), 401, "unauthorized")


def test_replayed_signature_is_refused(idle_venue: VenueProcess) -> None:
    async def scenario(client: Client) -> None:
        body = json.dumps(order_body("REPLAY-1", order_type="LIMIT", price="1.05000")).encode()
        headers = client.signed_headers("POST", "/api/v1/orders", body)
        status, first, _ = await client.send("POST", "/api/v1/orders", body, headers)
        assert status == 200 and first["status"] == "ACCEPTED"
        before = await snapshot(client)
        status, again, content_type = await client.send("POST", "/api/v1/orders", body, headers)
        assert (status, content_type, again["error"]) == (401, "application/json", "unauthorized")
        assert "replay" in again["message"]
        assert await snapshot(client) == before

    run(scenario, idle_venue.url)


def test_unknown_order_id_is_not_found(idle_venue: VenueProcess) -> None:
    check_refused(idle_venue, lambda c: c.send("DELETE", "/api/v1/orders/NOPE-1"), 404, "not_found", "client_order_id")
    check_refused(idle_venue, lambda c: c.send("GET", "/api/v1/orders/NOPE-1"), 404, "not_found", "client_order_id")


def test_malformed_json_is_a_bad_request(idle_venue: VenueProcess) -> None:
    def request(client: Client) -> Awaitable[tuple[int, Any, str]]:
        body = b'{"client_order_id": "BAD-1", '
        return client.send("POST", "/api/v1/orders", body)

    check_refused(idle_venue, request, 400, "bad_request")


def test_missing_field_is_a_bad_request(idle_venue: VenueProcess) -> None:
    payload = order_body("MISS-1")
    del payload["quantity"]
    check_refused(idle_venue, lambda c: post_order(c, payload), 400, "bad_request", "quantity")


def test_wrong_price_precision_is_a_bad_request(idle_venue: VenueProcess) -> None:
    payload = order_body("PREC-1", order_type="LIMIT", price="1.100001")
    check_refused(idle_venue, lambda c: post_order(c, payload), 400, "bad_request", "price")


def test_duplicate_client_order_id_is_a_conflict(idle_venue: VenueProcess) -> None:
    payload = order_body("DUP-1", order_type="LIMIT", price="1.05000")

    async def first(client: Client) -> None:
        await client.call("POST", "/api/v1/orders", payload)

    run(first, idle_venue.url)
    check_refused(idle_venue, lambda c: post_order(c, payload), 409, "conflict", "client_order_id")


def test_unknown_route_and_method_get_json_errors(idle_venue: VenueProcess) -> None:
    check_refused(idle_venue, lambda c: c.send("GET", "/api/v1/nothing-here"), 404, "not_found")
    check_refused(idle_venue, lambda c: c.send("PATCH", "/api/v1/orders"), 405, "method_not_allowed")


def test_websocket_with_a_bad_signature_is_refused(idle_venue: VenueProcess) -> None:
    async def scenario(client: Client) -> None:
        query = {"api_key": KEY, "timestamp": str(now_ms()), "signature": "0" * 64}
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await client.session.ws_connect(client.url + "/ws/market", params=query)
        assert info.value.status == 401

    run(scenario, idle_venue.url)


# ---- a good round trip -------------------------------------------------------------------------------------------
def test_market_order_round_trip(venue_factory: Callable[..., VenueProcess]) -> None:
    venue = venue_factory("--speed", "0")

    async def scenario(client: Client) -> None:
        await wait_for_status(client, lambda s: s["end_of_data"])
        user = await client.ws("/ws/user")
        await user.send_json({"op": "ping"})
        await receive(user, "pong")  # the connection is registered: nothing is missed from here
        answer = await client.call("POST", "/api/v1/orders", order_body("RT-1"))
        assert answer["status"] == "FILLED" and answer["venue_order_id"]
        events = [convert(e, VenueEvent) for e in answer["events"]]
        assert [type(e) for e in events] == [OrderAccepted, OrderFilled, AccountState]
        pushed = [await receive(user, "event") for _ in events]
        assert [m["user_seq"] for m in pushed] == [1, 2, 3] and answer["user_seq"] == 3
        assert [convert(m["event"], VenueEvent) for m in pushed] == events
        fill = events[1]
        status = await client.call("GET", "/api/v1/status")
        assert fill.ts_event == status["time_ns"]

        fills = [convert(r, FillReport) for r in (await client.call("GET", "/api/v1/fills"))["reports"]]
        assert [(f.trade_id, f.last_px, f.last_qty, f.commission) for f in fills] == [
            (fill.trade_id, fill.last_px, fill.last_qty, fill.commission)
        ]
        query = "/api/v1/positions?instrument_id=EUR/USD.SIM"
        (position,) = [convert(r, PositionStatusReport) for r in (await client.call("GET", query))["reports"]]
        assert position.quantity == fill.last_qty and position.avg_px_open == fill.last_px.as_decimal()
        report = convert((await client.call("GET", "/api/v1/orders/RT-1"))["report"], OrderStatusReport)
        assert report.order_status.value == "FILLED" and report.filled_qty == fill.last_qty
        account = convert((await client.call("GET", "/api/v1/account"))["account"], AccountState)
        assert account.balances == events[2].balances

        # A client that reconnects resumes after the last event it saw and misses nothing.
        await user.close()
        again = await client.ws("/ws/user")
        await again.send_json({"op": "resume", "after_seq": 1})
        assert [(await receive(again, "event"))["user_seq"] for _ in range(2)] == [2, 3]
        await again.close()

    run(scenario, venue.url)


# ---- market data ------------------------------------------------------------------------------------------------
def test_lockstep_releases_an_event_only_after_the_ack(venue_factory: Callable[..., VenueProcess]) -> None:
    venue = venue_factory("--lockstep", "--heartbeat-secs", "0.2")

    async def scenario(client: Client) -> None:
        market = await client.ws("/ws/market")
        status = await client.call("GET", "/api/v1/status")
        assert status["events_released"] == 0 and status["lockstep"]  # no subscriber yet: nothing released
        await market.send_json({"op": "subscribe", "channels": [{"type": "quotes", "instrument_id": "EUR/USD.SIM"}]})
        subscribed = await receive(market, "subscribed")
        assert subscribed["channels"] == [{"type": "quotes", "instrument_id": "EUR/USD.SIM"}]
        previous_ts = 0
        for expected_seq in range(1, 6):
            message = await receive(market, "data")
            assert message["seq"] == expected_seq
            tick = decode_data(message["data"])
            assert isinstance(tick, QuoteTick) and tick.ts_init >= previous_ts
            previous_ts = tick.ts_init
            # Unacknowledged, the venue waits: two heartbeats later nothing more was released.
            for _ in range(2):
                await receive(market, "heartbeat")
            status = await client.call("GET", "/api/v1/status")
            assert (status["events_released"], status["time_ns"]) == (expected_seq, tick.ts_init)
            if expected_seq == 3:  # an order placed now fills against exactly this quote
                answer = await client.call("POST", "/api/v1/orders", order_body("LS-1"))
                fill = convert(answer["events"][1], VenueEvent)
                assert isinstance(fill, OrderFilled)
                assert (fill.last_px.raw, fill.ts_event) == (tick.ask_raw, tick.ts_init)
            await market.send_json({"op": "ack", "seq": expected_seq})
        await market.close()

    run(scenario, venue.url)


def test_lockstep_does_not_wait_for_channels_nobody_subscribed(venue_factory: Callable[..., VenueProcess]) -> None:
    venue = venue_factory("--lockstep")

    async def scenario(client: Client) -> None:
        market = await client.ws("/ws/market")
        bar_type = "EUR/USD.SIM-1-MINUTE-BID-EXTERNAL"
        await market.send_json({"op": "subscribe", "channels": [{"type": "bars", "bar_type": bar_type}]})
        message = await receive(market, "data")
        bar = decode_data(message["data"])
        assert isinstance(bar, Bar) and str(bar.bar_type) == bar_type
        assert message["seq"] > 600  # a minute of quotes went to the book without waiting for anyone
        status = await client.call("GET", "/api/v1/status")
        assert (status["events_released"], status["time_ns"]) == (message["seq"], bar.ts_init)
        await market.close()

    run(scenario, venue.url)


def test_lockstep_resends_the_unacknowledged_event_after_a_reconnect(
    venue_factory: Callable[..., VenueProcess],
) -> None:
    venue = venue_factory("--lockstep")
    channels = [{"type": "quotes", "instrument_id": "EUR/USD.SIM"}]

    async def scenario(client: Client) -> None:
        market = await client.ws("/ws/market", client_id="node-1")
        await market.send_json({"op": "subscribe", "channels": channels})
        first = await receive(market, "data")
        assert first["seq"] == 1
        await market.close()  # gone without acknowledging
        await wait_for_status(client, lambda s: s["clients"] == 0)
        assert (await client.call("GET", "/api/v1/status"))["events_released"] == 1
        market = await client.ws("/ws/market", client_id="node-1")
        resent = await receive(market, "data")
        assert resent == first
        await market.send_json({"op": "subscribe", "channels": channels})  # what a reconnecting client does
        await market.send_json({"op": "ack", "seq": 1})
        assert (await receive(market, "data"))["seq"] == 2
        await market.close()

    run(scenario, venue.url)


def test_speed_mode_replays_at_the_speed_factor(venue_factory: Callable[..., VenueProcess]) -> None:
    speed = 10.0
    venue = venue_factory("--speed", str(speed), "--start-delay-secs", "1")

    async def scenario(client: Client) -> None:
        loop = asyncio.get_running_loop()
        market = await client.ws("/ws/market")
        subscribed_at = loop.time()  # nothing is sent to this client before it subscribes
        await market.send_json({"op": "subscribe", "channels": [{"type": "quotes", "instrument_id": "EUR/USD.SIM"}]})
        await receive(market, "subscribed")
        received = []
        while len(received) < 40:  # never acknowledged: speed mode does not wait
            message = await receive(market, "data")
            received.append((loop.time(), message["seq"], decode_data(message["data"])))
        seqs = [seq for _, seq, _ in received]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        ticks = [tick for _, _, tick in received]
        assert all(isinstance(t, QuoteTick) for t in ticks)
        assert all(a.ts_init <= b.ts_init for a, b in itertools.pairwise(ticks))
        # Paced on data time: the last tick cannot arrive before (its data time - the first's) / speed.
        data_span = (ticks[-1].ts_init - ticks[0].ts_init) / 1e9
        wall_span = received[-1][0] - subscribed_at
        assert data_span > 3.0 and wall_span >= 0.9 * data_span / speed, (data_span, wall_span)
        status = await client.call("GET", "/api/v1/status")
        assert not status["lockstep"] and status["speed"] == speed
        await market.close()

    run(scenario, venue.url)


def test_drop_connections_closes_every_socket_and_the_state_stays(venue_factory: Callable[..., VenueProcess]) -> None:
    venue = venue_factory("--lockstep")

    async def scenario(client: Client) -> None:
        market = await client.ws("/ws/market", client_id="dropped")
        user = await client.ws("/ws/user")
        await market.send_json({"op": "subscribe", "channels": [{"type": "quotes", "instrument_id": "EUR/USD.SIM"}]})
        assert (await receive(market, "data"))["seq"] == 1
        await user.send_json({"op": "ping"})
        await receive(user, "pong")
        answer = await client.call("POST", "/api/v1/orders", order_body("DROP-1"))
        assert answer["status"] == "FILLED"
        assert (await client.call("POST", "/api/v1/test/drop_connections"))["dropped"] == 2
        for ws in (market, user):
            while True:
                message = await asyncio.wait_for(ws.receive(), DEADLINE)
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    break
        await wait_for_status(client, lambda s: s["clients"] == 0 and s["user_clients"] == 0)
        report = await client.call("GET", "/api/v1/orders/DROP-1")
        assert report["report"]["order_status"] == "FILLED"
        market = await client.ws("/ws/market", client_id="dropped")
        assert (await receive(market, "data"))["seq"] == 1  # resent: it was never acknowledged
        await market.close()

    run(scenario, venue.url)


# ---- process lifecycle -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_ends_the_process_cleanly(venue_factory: Callable[..., VenueProcess], signum: int) -> None:
    venue = venue_factory("--lockstep")

    async def scenario(client: Client) -> None:
        market = await client.ws("/ws/market")
        await market.send_json({"op": "ping"})
        await receive(market, "pong")
        venue.proc.send_signal(signum)
        message = await asyncio.wait_for(market.receive(), DEADLINE)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), message
        assert market.close_code == aiohttp.WSCloseCode.GOING_AWAY

    run(scenario, venue.url)
    assert venue.proc.wait(timeout=DEADLINE) == 0, venue.stderr.read_text()


def test_run_file_error_is_one_line_and_status_2(tmp_path: Path) -> None:
    run = tmp_path / "bad.toml"
    run.write_text(
        RUN_FILE.replace('instrument_id = "EUR/USD.SIM"', 'instrument_id = "NOPE/USD.SIM"'), encoding="utf-8"
    )
    proc = subprocess.run(
        [TOOLKIT, "venue", str(run), "--port", "0"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(run) in lines[0] and "backtest.data[0].instrument_id" in lines[0], proc.stderr


def test_a_repeated_read_is_answered_but_a_repeated_write_is_not(idle_venue: VenueProcess) -> None:
    """Replay protection guards requests that change something; the same signed GET twice (two clients sharing
    the key in one millisecond) is answered both times."""

    async def scenario(client: Client) -> None:
        headers = client.signed_headers("GET", "/api/v1/status")
        first = await client.send("GET", "/api/v1/status", b"", headers)
        second = await client.send("GET", "/api/v1/status", b"", headers)
        assert (first[0], second[0]) == (200, 200)

    run(scenario, idle_venue.url)
