"""Message bus streaming: every message published on the bus, appended to Redis streams another process reads.

`BusStreamer` listens to the node's `MessageBus` (`add_listener`: listeners, unlike handlers, are told the
topic; removed at `stop`) and, for each message whose type name is
not in `types_filter`, queues an XADD of the fields `topic`, `type` (class name), `ts` (the message's
`ts_init`, else now; ns, or ISO 8601 text with `timestamps_as_iso8601`), `encoding` and `payload` (the
message encoded like the cache: msgpack or JSON) to `toolkit:{trader_id}[:{instance_id}]:stream:{topic}`
(`stream_per_topic`, the instance id with `use_instance_id`) or `...:stream`. The XADDs go through the
cache's `BackgroundWriter` (draining what is queued into one MULTI/EXEC pipeline): the loop only encodes and
queues; outages are retried without loss or duplicates. `autotrim_mins` trims each stream with an
approximate MINID at now minus that many minutes; `heartbeat_interval_secs` appends a `StreamHeartbeat` to
`...:stream:heartbeat` at start and on that interval. `read_stream` / `decode_stream_entry` turn entries
back into `StreamMessage`s with the payload rebuilt as our struct (docs/live.md, "Persistence backends",
shows a consumer).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

import msgspec
import redis

from toolkit.live.config import DatabaseType, Encoding, MessageBusConfig
from toolkit.persistence.database import BackgroundWriter, Codec, Op, iso8601_to_ns, ns_to_iso8601
from toolkit.persistence.redis_db import (
    MARKER_TTL_SECS,
    escape_glob,
    is_transient_redis_error,
    ping,
    redis_client,
    redis_host_port,
)

if TYPE_CHECKING:
    from toolkit.core.log import Logger
    from toolkit.core.msgbus import MessageBus

HEARTBEAT_TOPIC = "heartbeat"
_OP_XADD = "xadd"


class StreamHeartbeat(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """Appended to `...:stream:heartbeat` on `heartbeat_interval_secs`: the node is alive and streaming."""

    trader_id: str
    instance_id: str | None
    ts_init: int


class StreamMessage(msgspec.Struct):
    """One decoded stream entry: the payload is our struct when its type is known, else plain values."""

    stream: str
    id: str
    topic: str
    type: str
    ts: int
    payload: Any


def stream_prefix(trader_id: str, instance_id: str | None = None) -> str:
    """`toolkit:{trader_id}[:{instance_id}]:stream`: every stream key of a node starts with this."""
    middle = f"toolkit:{trader_id}" if instance_id is None else f"toolkit:{trader_id}:{instance_id}"
    return f"{middle}:stream"


class BusStreamer:
    """Streams a node's bus messages to Redis; see the module docstring. `start()` then `stop()`."""

    def __init__(
        self,
        msgbus: MessageBus,
        config: MessageBusConfig,
        trader_id: str,
        instance_id: str | None,
        log: Logger,
    ) -> None:
        database = config.database
        if database is None:
            raise ValueError("message_bus.database is not set: there is nothing to stream to")
        if database.type != DatabaseType.REDIS:
            raise ValueError(
                f'message_bus.database.type = "{database.type}" is not supported: bus messages stream to '
                'Redis streams only (set type = "redis" with host and port)'
            )
        if config.use_instance_id and not instance_id:
            raise ValueError("message_bus.use_instance_id is true but the node has no instance_id")
        self.msgbus = msgbus
        self.config = config
        self.trader_id = str(trader_id)
        self.instance_id = instance_id
        self.host, self.port = redis_host_port(database)
        self.prefix = stream_prefix(self.trader_id, instance_id if config.use_instance_id else None)
        self.codec = Codec(config.encoding, config.timestamps_as_iso8601)
        self._encoding = self.codec.encoding.value
        self._filtered_types = frozenset(config.types_filter or ())
        self._trim_ms = None if config.autotrim_mins is None else config.autotrim_mins * 60_000
        self._log = log
        self._client: redis.Redis | None = None
        self._keys: dict[str, str] = {}
        self._unencodable: set[str] = set()
        self._marker = f"{self.prefix}-writer:{uuid.uuid4().hex}"
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._started = False
        self.streamed = 0
        """Messages queued for streaming."""
        self.filtered = 0
        """Messages skipped by `types_filter`."""
        self._writer = BackgroundWriter(
            name=f"bus-stream-{self.trader_id}",
            apply=self._apply,
            is_transient=is_transient_redis_error,
            describe=f"message bus streams Redis {self.host}:{self.port}",
            log=log,
            buffer_interval_ms=None,
            drain=True,
        )

    def __repr__(self) -> str:
        return f"BusStreamer({self.prefix!r}, Redis {self.host}:{self.port})"

    # -- keys ---------------------------------------------------------------------------------------------------

    def stream_key(self, topic: str) -> str:
        """The stream a message of `topic` goes to."""
        key = self._keys.get(topic)
        if key is None:
            key = self._keys[topic] = f"{self.prefix}:{topic}" if self.config.stream_per_topic else self.prefix
        return key

    @property
    def heartbeat_key(self) -> str:
        return f"{self.prefix}:{HEARTBEAT_TOPIC}"

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Connect (PING, else `DatabaseUnavailable`), start the writer, tap the bus, start the heartbeat.

        The heartbeat runs as a task on `loop` (default: the running loop of this thread).
        """
        if self._started:
            return
        if self.config.heartbeat_interval_secs is not None and loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise RuntimeError(
                    "message_bus.heartbeat_interval_secs needs an event loop: call start() on the loop or pass loop="
                ) from None
        client = redis_client(self.config.database)  # type: ignore[arg-type]
        try:
            ping(client, "message bus streams", self.host, self.port)
        except Exception:
            client.close()
            raise
        self._client = client
        self._writer.start()
        self.msgbus.add_listener(self._stream)
        self._started = True
        if self.config.heartbeat_interval_secs is not None:
            assert loop is not None
            self._heartbeat_task = loop.create_task(self._heartbeats(self.config.heartbeat_interval_secs))
        self._log.info(
            "streaming bus messages to Redis %s:%s under %s (%s)%s",
            self.host,
            self.port,
            self.prefix,
            "one stream per topic" if self.config.stream_per_topic else "one stream",
            f", not {sorted(self._filtered_types)}" if self._filtered_types else "",
        )

    def stop(self, timeout: float | None = None) -> None:
        """Untap the bus, stop the heartbeat, flush (bounded by `timeout`, default the database timeout), close."""
        if not self._started:
            return
        self._started = False
        self.msgbus.remove_listener(self._stream)
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            self._heartbeat_task = None
        bound = self.config.database.timeout if timeout is None else timeout  # type: ignore[union-attr]
        if not self._writer.close(bound):
            self._log.error("message bus streams: stopped with %d messages not streamed", self._writer.pending)
        if self._client is not None:
            self._client.close()
            self._client = None

    def flush(self, timeout: float | None = None) -> bool:
        return self._writer.flush(timeout)

    async def flush_async(self, timeout: float | None = None) -> bool:
        return await asyncio.to_thread(self._writer.flush, timeout)

    @property
    def pending(self) -> int:
        return self._writer.pending

    @property
    def last_error(self) -> str | None:
        return self._writer.last_error

    @property
    def healthy(self) -> bool:
        return self._started and not self._writer.in_outage

    @property
    def transaction_count(self) -> int:
        return self._writer.transactions

    # -- the event loop side --------------------------------------------------------------------------------------

    def _stream(self, topic: str, msg: Any) -> None:
        name = type(msg).__name__
        if name in self._filtered_types:
            self.filtered += 1
            return
        try:
            payload = self.codec.encode(msg)
        except Exception as exc:  # never break a publish: skip what cannot be encoded (logged once per type)
            if name not in self._unencodable:
                self._unencodable.add(name)
                self._log.warning("message bus streams: cannot encode %s (%s): not streamed", name, exc)
            return
        ts = getattr(msg, "ts_init", None)
        if type(ts) is not int:
            ts = time.time_ns()
        self._queue(self.stream_key(topic), topic, name, ts, payload)

    def _queue(self, key: str, topic: str, name: str, ts: int, payload: bytes) -> None:
        fields = {
            "topic": topic,
            "type": name,
            "ts": ns_to_iso8601(ts) if self.config.timestamps_as_iso8601 else str(ts),
            "encoding": self._encoding,
            "payload": payload,
        }
        if self._writer.put((_OP_XADD, key, fields)):
            self.streamed += 1

    def heartbeat(self) -> None:
        """Append one heartbeat now."""
        ts = time.time_ns()
        beat = StreamHeartbeat(trader_id=self.trader_id, instance_id=self.instance_id, ts_init=ts)
        self._queue(self.heartbeat_key, HEARTBEAT_TOPIC, "StreamHeartbeat", ts, self.codec.encode(beat))

    async def _heartbeats(self, interval: float) -> None:
        while True:
            self.heartbeat()
            await asyncio.sleep(interval)

    # -- the writer thread ----------------------------------------------------------------------------------------

    def _apply(self, batch: Sequence[Op], batch_id: int, retrying: bool) -> Sequence[tuple[Op, str]]:
        client = self._client
        if client is None:
            raise redis.ConnectionError("client closed")
        if retrying:
            done = client.get(self._marker)
            if done is not None and int(done) == batch_id:
                return ()
        minid = None if self._trim_ms is None else f"{time.time_ns() // 1_000_000 - self._trim_ms}-0"
        pipe = client.pipeline(transaction=True)
        for _, key, fields in batch:
            pipe.xadd(key, fields, minid=minid, approximate=True)
        pipe.set(self._marker, batch_id, ex=MARKER_TTL_SECS)
        results = pipe.execute(raise_on_error=False)
        if isinstance(results[-1], Exception):
            raise results[-1]
        return [
            (op, f"{type(result).__name__}: {result}")
            for op, result in zip(batch, results, strict=False)
            if isinstance(result, Exception)
        ]


# -- consumers ---------------------------------------------------------------------------------------------------------


@cache
def stream_types() -> dict[str, type]:
    """Message type name -> struct class, for the types a node publishes (events, market data, instruments)."""
    from toolkit.model import data, events, instruments

    found: dict[str, type] = {"StreamHeartbeat": StreamHeartbeat}
    for module in (events, data, instruments):
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, msgspec.Struct) and value.__module__ == module.__name__:
                found[name] = value
    return found


@cache
def _reader_codec(encoding: str) -> Codec:
    # ISO mode reads both forms: `ts_*` ISO strings become ints, integers stay integers.
    return Codec(Encoding(encoding), timestamps_as_iso8601=True)


def decode_stream_entry(stream: bytes | str, entry_id: bytes | str, fields: dict[Any, Any]) -> StreamMessage:
    """A `StreamMessage` from one XREAD/XRANGE entry (field names and values as bytes or str)."""
    values = {_text(k): v for k, v in fields.items()}
    name = _text(values["type"])
    ts_text = _text(values["ts"])
    ts = int(ts_text) if ts_text.lstrip("-").isdigit() else iso8601_to_ns(ts_text)
    payload = values["payload"]
    codec = _reader_codec(_text(values.get("encoding", b"msgpack")))
    target = stream_types().get(name, Any)
    return StreamMessage(
        stream=_text(stream),
        id=_text(entry_id),
        topic=_text(values["topic"]),
        type=name,
        ts=ts,
        payload=codec.decode(payload if isinstance(payload, bytes) else payload.encode(), target),
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _client(host: str, port: int, username: str | None, password: str | None, ssl: bool, timeout: float) -> redis.Redis:
    return redis.Redis(
        host=host,
        port=port,
        username=username,
        password=password,
        ssl=ssl,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )


def read_stream(
    host: str,
    port: int,
    key: str,
    last_id: str = "0-0",
    count: int = 100,
    block_ms: int | None = None,
    *,
    username: str | None = None,
    password: str | None = None,
    ssl: bool = False,
    timeout: float = 10.0,
) -> list[StreamMessage]:
    """Up to `count` entries of stream `key` after `last_id` (XREAD), decoded; wait `block_ms` for new ones.

    Pass the `id` of the last message returned as the next `last_id` to follow the stream.
    """
    client = _client(host, port, username, password, ssl, max(timeout, (block_ms or 0) / 1000 + timeout))
    try:
        reply = client.xread({key: last_id}, count=count, block=block_ms)
    finally:
        client.close()
    # RESP2: [[key, [(id, fields), ...]]]; RESP3: {key: [[id, fields], ...]}
    items = reply.items() if isinstance(reply, dict) else (reply or [])
    return [decode_stream_entry(stream, entry_id, fields) for stream, entries in items for entry_id, fields in entries]


def list_streams(
    host: str,
    port: int,
    prefix: str,
    *,
    username: str | None = None,
    password: str | None = None,
    ssl: bool = False,
    timeout: float = 10.0,
) -> list[str]:
    """The stream keys starting with `prefix` (e.g. `stream_prefix("TRADER-001")`), sorted; SCAN, never KEYS."""
    client = _client(host, port, username, password, ssl, timeout)
    try:
        keys = {
            _text(k)
            for k in client.scan_iter(match=escape_glob(prefix) + "*", count=1000, _type="STREAM")
            if _text(k) == prefix or _text(k).startswith(prefix + ":")
        }
    finally:
        with contextlib.suppress(redis.RedisError):
            client.close()
    return sorted(keys)
