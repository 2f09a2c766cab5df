"""The Redis cache database: one trader's state under `toolkit:{trader_id}:cache:`, written in MULTI/EXEC batches.

Keys (prefix `P = toolkit:{trader_id}:cache`; the instance id is not part of them, so a restarted node with a
new instance id finds its state): `P:instruments` hash (instrument id -> value), `P:accounts` set of account
ids with `P:account:{account_id}` a list of states in write order, `P:orders` sorted set of client order ids
(score = creation rank), `P:order:{client_order_id}` the order's event list (RPUSH), `P:order_positions` hash
(client order id -> position id), `P:positions` set of position ids with `P:position:{position_id}` a hash
(cycle -> record), `P:strategies` hash (strategy id -> state), `P:general` hash, and `P:writer:{uuid}` the
writer's last committed batch number. Each batch is one MULTI/EXEC transaction that also sets that number,
so a batch whose reply was lost in an outage is recognised on retry and never applied twice. `wipe` finds
the keys with SCAN on `P:*` (never KEYS, never FLUSHDB), so other traders and the bus streams are untouched.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from toolkit.persistence.database import (
    OP_ACCOUNT_STATE,
    OP_DELETE_ORDER,
    OP_DELETE_POSITION,
    OP_GENERAL,
    OP_INSTRUMENT,
    OP_ORDER_EVENT,
    OP_POSITION,
    OP_STRATEGY_STATE,
    OP_TRIM_ACCOUNT_STATES,
    CacheDatabase,
    DatabaseUnavailable,
    Op,
    RawState,
    iso8601_to_ns,
)

if TYPE_CHECKING:
    from toolkit.core.log import Logger
    from toolkit.live.config import CacheConfig, DatabaseConfig

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6379
MARKER_TTL_SECS = 7 * 24 * 3600
_GLOB_SPECIAL = "\\*?[]"


def redis_host_port(database: DatabaseConfig) -> tuple[str, int]:
    return (database.host or DEFAULT_HOST, database.port or DEFAULT_PORT)


def redis_client(database: DatabaseConfig) -> redis.Redis:
    """A client for `database` (host, port, username, password, ssl; `timeout` for connect and each call).

    redis-py's own retries are off: the writer retries whole batches itself, so a command is never re-sent
    behind its back.
    """
    host, port = redis_host_port(database)
    return redis.Redis(
        host=host,
        port=port,
        username=database.username,
        password=database.password,
        ssl=database.ssl,
        socket_timeout=database.timeout,
        socket_connect_timeout=database.timeout,
        retry=Retry(NoBackoff(), 0),
    )


def ping(client: redis.Redis, what: str, host: str, port: int) -> None:
    """PING or raise `DatabaseUnavailable` naming `what`, the address and the cause."""
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        raise DatabaseUnavailable(f"{what} Redis at {host}:{port} is unavailable: {type(exc).__name__}: {exc}") from exc


def is_transient_redis_error(exc: BaseException) -> bool:
    """Connection trouble, timeouts, a server still loading or read-only: worth retrying."""
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError | OSError):
        return True
    return isinstance(exc, redis.exceptions.ReadOnlyError | redis.exceptions.TryAgainError)


def escape_glob(text: str) -> str:
    """`text` with Redis glob characters escaped, for SCAN MATCH."""
    return "".join("\\" + char if char in _GLOB_SPECIAL else char for char in text)


def cache_prefix(trader_id: str) -> str:
    return f"toolkit:{trader_id}:cache"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisCacheDatabase(CacheDatabase):
    """The cache database on a Redis server; see the module docstring for the keys."""

    backend_name = "Redis"

    def __init__(self, trader_id: str, config: CacheConfig, log: Logger, instance_id: str | None = None) -> None:
        database = config.database
        if database is None:
            raise ValueError("CacheConfig.database is None: the cache has no database (it stays in memory)")
        self.host, self.port = redis_host_port(database)
        self.prefix = cache_prefix(str(trader_id))
        self._marker = f"{self.prefix}:writer:{uuid.uuid4().hex}"
        self._client: redis.Redis | None = None
        super().__init__(trader_id, config, log, instance_id)

    @property
    def address(self) -> str:
        return f"Redis {self.host}:{self.port}"

    # -- keys ---------------------------------------------------------------------------------------------------

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # -- connection ---------------------------------------------------------------------------------------------

    def _connect(self) -> None:
        client = redis_client(self.database)
        try:
            ping(client, "cache database", self.host, self.port)
        except DatabaseUnavailable:
            client.close()
            raise
        self._client = client

    def _disconnect(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _is_transient(self, exc: BaseException) -> bool:
        return is_transient_redis_error(exc)

    def _require_client(self) -> redis.Redis:
        if self._client is None:
            raise redis.ConnectionError("client closed")
        return self._client

    # -- writes (writer thread) ---------------------------------------------------------------------------------

    def _apply(self, batch: Sequence[Op], batch_id: int, retrying: bool) -> Sequence[tuple[Op, str]]:
        client = self._require_client()
        if retrying:
            done = client.get(self._marker)
            if done is not None and int(done) == batch_id:
                return ()  # the earlier attempt was committed; only its reply was lost
        key = self.key
        pipe = client.pipeline(transaction=True)
        owners: list[Op] = []  # the op of each queued command, to name the ones that fail
        for op in batch:
            kind = op[0]
            before = len(pipe.command_stack)
            if kind == OP_ORDER_EVENT:
                _, coid, payload, position_id, score = op
                if score is not None:
                    pipe.zadd(key("orders"), {coid: score}, nx=True)
                pipe.rpush(key("order", coid), payload)
                if position_id is not None:
                    pipe.hset(key("order_positions"), coid, position_id)
            elif kind == OP_ACCOUNT_STATE:
                pipe.sadd(key("accounts"), op[1])
                pipe.rpush(key("account", op[1]), op[3])
            elif kind == OP_POSITION:
                pipe.sadd(key("positions"), op[1])
                pipe.hset(key("position", op[1]), str(op[2]), op[3])
            elif kind == OP_INSTRUMENT:
                pipe.hset(key("instruments"), op[1], op[2])
            elif kind == OP_STRATEGY_STATE:
                pipe.hset(key("strategies"), op[1], op[2])
            elif kind == OP_GENERAL:
                pipe.hset(key("general"), op[1], op[2])
            elif kind == OP_DELETE_ORDER:
                pipe.zrem(key("orders"), op[1])
                pipe.delete(key("order", op[1]))
                pipe.hdel(key("order_positions"), op[1])
            elif kind == OP_DELETE_POSITION:
                pipe.srem(key("positions"), op[1])
                pipe.delete(key("position", op[1]))
            elif kind == OP_TRIM_ACCOUNT_STATES:
                self._queue_trim(client, pipe, op[1], op[2])
            else:
                raise ValueError(f"unknown write kind {kind!r}")
            owners.extend([op] * (len(pipe.command_stack) - before))
        pipe.set(self._marker, batch_id, ex=MARKER_TTL_SECS)
        results = pipe.execute(raise_on_error=False)
        failures: dict[int, tuple[Op, str]] = {}
        for op, result in zip(owners, results, strict=False):
            if isinstance(result, Exception) and id(op) not in failures:
                failures[id(op)] = (op, f"{type(result).__name__}: {result}")
        if isinstance(results[-1], Exception):  # the batch marker itself: an error worth a retry
            raise results[-1]
        return list(failures.values())

    def _queue_trim(self, client: redis.Redis, pipe: Any, account_id: str, keep_after_ns: int) -> None:
        """Queue LREMs of the account's states older than `keep_after_ns`, except the last one."""
        key = self.key("account", account_id)
        stored = client.lrange(key, 0, -1)
        for data in stored[:-1]:
            if self._ts_event(data) < keep_after_ns:
                pipe.lrem(key, 1, data)

    def _ts_event(self, data: bytes) -> int:
        value = self.codec.decode(data)["ts_event"]
        return iso8601_to_ns(value) if isinstance(value, str) else int(value)

    # -- wipe and load ------------------------------------------------------------------------------------------

    def _unavailable(self, exc: BaseException) -> DatabaseUnavailable:
        return DatabaseUnavailable(
            f"cache database Redis at {self.host}:{self.port} is unavailable: {type(exc).__name__}: {exc}"
        )

    def _wipe(self) -> dict[str, int]:
        client = self._require_client()
        key = self.key
        try:
            accounts = [_text(a) for a in client.smembers(key("accounts"))]
            orders = [_text(o) for o in client.zrange(key("orders"), 0, -1)]
            positions = [_text(p) for p in client.smembers(key("positions"))]
            pipe = client.pipeline(transaction=False)
            pipe.hlen(key("instruments"))
            pipe.hlen(key("strategies"))
            pipe.hlen(key("general"))
            for account_id in accounts:
                pipe.llen(key("account", account_id))
            for coid in orders:
                pipe.llen(key("order", coid))
            for position_id in positions:
                pipe.hlen(key("position", position_id))
            lengths = pipe.execute()
            n_acc, n_ord = len(accounts), len(orders)
            counts = {
                "instruments": lengths[0],
                "account_states": sum(lengths[3 : 3 + n_acc]),
                "orders": n_ord,
                "order_events": sum(lengths[3 + n_acc : 3 + n_acc + n_ord]),
                "positions": sum(lengths[3 + n_acc + n_ord :]),
                "strategy_states": lengths[1],
                "general": lengths[2],
            }
            found = list(client.scan_iter(match=escape_glob(self.prefix) + ":*", count=1000))
            deleted = 0
            for start in range(0, len(found), 1000):
                deleted += client.unlink(*found[start : start + 1000])
            counts["keys"] = deleted
            return counts
        except (redis.RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    def _load_raw(self) -> RawState:
        client = self._require_client()
        key = self.key
        try:
            pipe = client.pipeline(transaction=False)
            pipe.hgetall(key("instruments"))
            pipe.smembers(key("accounts"))
            pipe.zrange(key("orders"), 0, -1)
            pipe.hgetall(key("order_positions"))
            pipe.smembers(key("positions"))
            pipe.hgetall(key("strategies"))
            pipe.hgetall(key("general"))
            instruments, accounts_raw, orders_raw, order_positions, positions_raw, strategies, general = pipe.execute()
            accounts = sorted(_text(a) for a in accounts_raw)
            orders = [_text(o) for o in orders_raw]
            position_ids = sorted(_text(p) for p in positions_raw)
            pipe = client.pipeline(transaction=False)
            for account_id in accounts:
                pipe.lrange(key("account", account_id), 0, -1)
            for coid in orders:
                pipe.lrange(key("order", coid), 0, -1)
            for position_id in position_ids:
                pipe.hgetall(key("position", position_id))
            lists = pipe.execute()
        except (redis.RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        raw = RawState()
        raw.instruments = [instruments[k] for k in sorted(instruments, key=_text)]
        raw.account_states = {a: lists[i] for i, a in enumerate(accounts) if lists[i]}
        positions_by_order = {_text(k): _text(v) for k, v in order_positions.items()}
        offset = len(accounts)
        raw.orders = [(coid, lists[offset + i], positions_by_order.get(coid)) for i, coid in enumerate(orders)]
        offset += len(orders)
        for i in range(len(position_ids)):
            cycles = lists[offset + i]
            raw.positions.extend(cycles[c] for c in sorted(cycles, key=lambda c: int(_text(c))))
        raw.strategy_states = {_text(k): v for k, v in strategies.items()}
        raw.general = {_text(k): v for k, v in general.items()}
        return raw
