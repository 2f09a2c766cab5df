"""The data engine's quote route (cache history, aggregators, listeners and handlers looked up once per
instrument) never serves a stale view: a handler subscribed or removed, a bus listener added, a bar
aggregation started or a cache reset all take effect from the next quote, exactly as a plain publish would."""

from __future__ import annotations

from typing import Any

import pytest

from toolkit.core.cache import Cache
from toolkit.core.clock import TestClock
from toolkit.core.log import Logger
from toolkit.core.msgbus import MessageBus
from toolkit.engine import topics
from toolkit.engine.data import DataEngine
from toolkit.model.data import QuoteTick
from toolkit.model.identifiers import InstrumentId

IID = InstrumentId("EUR/USD.SIM")


def quote(n: int) -> QuoteTick:
    return QuoteTick(IID, 1_100_000_000 + n, 1_100_020_000 + n, 10**15, 10**15, 5, 0, n, n)


@pytest.fixture
def engine() -> DataEngine:
    clock = TestClock()
    return DataEngine(clock, MessageBus("TESTER-001"), Cache(), Logger("DataEngine", clock))


def test_handlers_subscribed_or_removed_between_quotes_take_effect_at_the_next_quote(engine: DataEngine) -> None:
    first: list[int] = []
    second: list[int] = []
    topic = topics.quotes_topic(IID)

    def on_first(tick: QuoteTick) -> None:
        first.append(tick.ts_init)

    def on_second(tick: QuoteTick) -> None:
        second.append(tick.ts_init)

    engine.msgbus.subscribe(topic, on_first)
    engine.process(quote(1))
    engine.msgbus.subscribe("data.quotes.*", on_second)
    engine.process(quote(2))
    engine.msgbus.unsubscribe(topic, on_first)
    engine.process(quote(3))
    assert first == [1, 2]
    assert second == [2, 3]
    assert engine.msgbus.pub_count == 3


def test_a_listener_added_later_sees_the_topic_and_the_quote(engine: DataEngine) -> None:
    engine.process(quote(1))
    seen: list[tuple[str, Any]] = []
    engine.msgbus.add_listener(lambda topic, msg: seen.append((topic, msg.ts_init)))
    engine.process(quote(2))
    assert seen == [(topics.quotes_topic(IID), 2)]


def test_a_cache_reset_sends_the_next_quotes_to_the_new_history(engine: DataEngine) -> None:
    engine.process(quote(1))
    assert engine.cache.quote_tick(IID).ts_init == 1  # type: ignore[union-attr]
    engine.cache.reset()
    assert engine.cache.quote_tick(IID) is None
    engine.process(quote(2))
    latest = engine.cache.quote_tick(IID)
    assert latest is not None and latest.ts_init == 2
