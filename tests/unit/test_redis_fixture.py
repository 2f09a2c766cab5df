"""The redis_server fixture starts a real server the tests can use."""

from __future__ import annotations

import redis


def test_redis_server_answers(redis_server: tuple[str, int]) -> None:
    host, port = redis_server
    client = redis.Redis(host=host, port=port)
    client.set("k", "v")
    assert client.get("k") == b"v"
