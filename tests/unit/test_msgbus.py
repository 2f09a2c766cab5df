"""Unit tests of `toolkit.core.msgbus`: wildcard matching, priority order, the topic cache and endpoints."""

from __future__ import annotations

from typing import Any

import pytest

from toolkit.core.msgbus import MessageBus, is_matching
from toolkit.model.identifiers import TraderId


class Sink:
    """Handler that records (its label, message) into a shared log."""

    def __init__(self, label: str, log: list[tuple[str, Any]]) -> None:
        self.label = label
        self.log = log

    def __call__(self, msg: Any) -> None:
        self.log.append((self.label, msg))

    def __repr__(self) -> str:
        return f"Sink({self.label})"


@pytest.fixture
def bus() -> MessageBus:
    return MessageBus(TraderId("TRADER-001"))


@pytest.mark.parametrize(
    ("topic", "pattern", "expected"),
    [
        ("data.quotes.SIM.GBP/USD", "data.quotes.SIM.GBP/USD", True),
        ("data.quotes.SIM.GBP/USD", "data.quotes.*", True),
        ("data.quotes.SIM.GBP/USD", "data.*.SIM.*", True),
        ("data.quotes.SIM.GBP/USD", "*", True),
        ("data.quotes.SIM.GBP/USD", "data.trades.*", False),
        ("data.quotes", "data.quotes.*", False),
        ("data.quotes.", "data.quotes.*", True),
        ("events.order.S-1", "events.order.S-?", True),
        ("events.order.S-12", "events.order.S-?", False),
        ("events.order.S-1", "events.order.S-1?", False),
        ("a.b", "a?b", True),
        ("a+b", "a+b", True),  # regex metacharacters are literal
        ("aab", "a+b", False),
        ("x[1]", "x[1]", True),
        ("x1", "x[1]", False),
    ],
)
def test_wildcard_matching(topic: str, pattern: str, expected: bool) -> None:
    assert is_matching(topic, pattern) is expected


def test_trader_id_is_kept(bus: MessageBus) -> None:
    assert bus.trader_id == "TRADER-001"
    assert isinstance(MessageBus("TRADER-002").trader_id, TraderId)


def test_publish_reaches_matching_handlers_only(bus: MessageBus) -> None:
    log: list[tuple[str, Any]] = []
    bus.subscribe("data.quotes.*", Sink("quotes", log))
    bus.subscribe("data.trades.*", Sink("trades", log))
    bus.subscribe("data.*", Sink("all-data", log))
    bus.publish("data.quotes.GBP/USD.SIM", 1)
    bus.publish("data.trades.GBP/USD.SIM", 2)
    bus.publish("events.order", 3)
    assert log == [("quotes", 1), ("all-data", 1), ("trades", 2), ("all-data", 2)]
    assert bus.pub_count == 3


def test_higher_priority_first_then_subscription_order(bus: MessageBus) -> None:
    log: list[tuple[str, Any]] = []
    bus.subscribe("t.*", Sink("low-1", log), priority=-5)
    bus.subscribe("t.x", Sink("mid-1", log))
    bus.subscribe("t.?", Sink("high", log), priority=10)
    bus.subscribe("t.*", Sink("mid-2", log))
    bus.subscribe("*", Sink("low-2", log), priority=-5)
    bus.publish("t.x", "m")
    assert [label for label, _ in log] == ["high", "mid-1", "mid-2", "low-1", "low-2"]


def test_a_handler_is_called_once_per_publish_at_its_highest_priority(bus: MessageBus) -> None:
    log: list[tuple[str, Any]] = []
    shared = Sink("shared", log)
    other = Sink("other", log)
    bus.subscribe("a.*", shared)
    bus.subscribe("a.b", other, priority=5)
    bus.subscribe("a.b", shared, priority=10)
    bus.publish("a.b", 1)
    assert log == [("shared", 1), ("other", 1)]


def test_double_subscription_is_an_error(bus: MessageBus) -> None:
    log: list[tuple[str, Any]] = []
    sink = Sink("s", log)
    bus.subscribe("a.*", sink)
    with pytest.raises(ValueError, match=r"already subscribed to 'a\.\*'"):
        bus.subscribe("a.*", sink, priority=3)
    bus.publish("a.b", 1)
    assert log == [("s", 1)]


def test_bound_methods_are_the_same_handler(bus: MessageBus) -> None:
    class Strategy:
        def __init__(self) -> None:
            self.seen: list[Any] = []

        def on_quote(self, msg: Any) -> None:
            self.seen.append(msg)

    strategy = Strategy()
    bus.subscribe("q", strategy.on_quote)
    with pytest.raises(ValueError, match="already subscribed"):
        bus.subscribe("q", strategy.on_quote)
    bus.unsubscribe("q", strategy.on_quote)
    bus.publish("q", 1)
    assert strategy.seen == []


def test_cache_is_invalidated_by_subscribe_and_unsubscribe(bus: MessageBus) -> None:
    log: list[tuple[str, Any]] = []
    first, second = Sink("first", log), Sink("second", log)
    bus.publish("x.y", 0)  # caches "no subscribers"
    assert not bus.has_subscribers("x.y")
    bus.subscribe("x.*", first)
    bus.publish("x.y", 1)  # the cached empty tuple must not hide the new subscriber
    bus.subscribe("x.y", second, priority=1)
    bus.publish("x.y", 2)
    bus.unsubscribe("x.*", first)
    bus.publish("x.y", 3)
    bus.unsubscribe("x.y", second)
    bus.publish("x.y", 4)
    assert log == [("first", 1), ("second", 2), ("first", 2), ("second", 3)]
    assert not bus.has_subscribers("x.y")


def test_unrelated_subscription_keeps_other_cache_entries(bus: MessageBus) -> None:
    log: list[tuple[str, Any]] = []
    bus.subscribe("a.*", Sink("a", log))
    bus.publish("a.1", 1)
    assert "a.1" in bus._resolved
    bus.subscribe("b.*", Sink("b", log))
    assert "a.1" in bus._resolved
    bus.subscribe("a.?", Sink("a2", log))
    assert "a.1" not in bus._resolved
    bus.publish("a.1", 2)
    assert log == [("a", 1), ("a", 2), ("a2", 2)]


def test_unsubscribe_unknown_is_an_error(bus: MessageBus) -> None:
    sink = Sink("s", [])
    with pytest.raises(ValueError, match=r"not subscribed to 'nothing'"):
        bus.unsubscribe("nothing", sink)
    bus.subscribe("a.*", sink)
    with pytest.raises(ValueError, match="not subscribed"):
        bus.unsubscribe("a.b", sink)  # patterns are compared as text, not matched


def test_handler_exception_propagates_and_stops_later_handlers(bus: MessageBus) -> None:
    log: list[tuple[str, Any]] = []

    def boom(msg: Any) -> None:
        raise RuntimeError(f"bad {msg}")

    bus.subscribe("t", boom, priority=1)
    bus.subscribe("t", Sink("after", log))
    with pytest.raises(RuntimeError, match="bad 1"):
        bus.publish("t", 1)
    assert log == []


def test_handler_may_subscribe_during_publish(bus: MessageBus) -> None:
    log: list[tuple[str, Any]] = []
    late = Sink("late", log)

    def subscriber(msg: Any) -> None:
        log.append(("subscriber", msg))
        if not bus.is_subscribed("t", late):
            bus.subscribe("t", late)

    bus.subscribe("t", subscriber)
    bus.publish("t", 1)
    bus.publish("t", 2)
    assert log == [("subscriber", 1), ("subscriber", 2), ("late", 2)]


def test_subscriptions_and_topics_listing(bus: MessageBus) -> None:
    s1, s2, s3 = Sink("1", []), Sink("2", []), Sink("3", [])
    bus.subscribe("data.quotes.*", s1)
    bus.subscribe("data.trades.X", s2, priority=2)
    bus.subscribe("data.quotes.*", s3)
    bus.subscribe("events.*", s1)
    assert bus.topics() == ["data.quotes.*", "data.trades.X", "events.*"]
    assert [s.handler for s in bus.subscriptions()] == [s1, s2, s3, s1]
    data = bus.subscriptions("data.*")
    assert [(s.topic_pattern, s.handler, s.priority) for s in data] == [
        ("data.quotes.*", s1, 0),
        ("data.trades.X", s2, 2),
        ("data.quotes.*", s3, 0),
    ]
    assert bus.has_subscribers("data.quotes.A")
    assert not bus.has_subscribers("data.bars.A")


def test_invalid_subscribe_arguments(bus: MessageBus) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        bus.subscribe("", Sink("s", []))
    with pytest.raises(TypeError, match="callable"):
        bus.subscribe("t", "not a handler")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="priority"):
        bus.subscribe("t", Sink("s", []), priority=1.5)  # type: ignore[arg-type]


def test_point_to_point_send(bus: MessageBus) -> None:
    log: list[tuple[str, Any]] = []
    bus.register("RiskEngine.execute", Sink("risk", log))
    bus.send("RiskEngine.execute", "cmd")
    assert log == [("risk", "cmd")]
    assert bus.sent_count == 1
    assert bus.pub_count == 0
    assert bus.is_registered("RiskEngine.execute")
    assert bus.endpoints() == ["RiskEngine.execute"]


def test_endpoint_errors(bus: MessageBus) -> None:
    bus.register("ExecEngine.execute", Sink("exec", []))
    with pytest.raises(ValueError, match=r"'ExecEngine\.execute' is already registered"):
        bus.register("ExecEngine.execute", Sink("other", []))
    with pytest.raises(ValueError, match=r"no handler registered at endpoint 'Nope'.*'ExecEngine\.execute'"):
        bus.send("Nope", 1)
    assert bus.sent_count == 0
    with pytest.raises(ValueError, match="'Nope'"):
        bus.deregister("Nope")
    bus.deregister("ExecEngine.execute")
    with pytest.raises(ValueError, match=r"registered: none"):
        bus.send("ExecEngine.execute", 1)


def test_publish_to_topic_without_subscribers_counts_and_caches(bus: MessageBus) -> None:
    bus.publish("nobody.listens", 1)
    bus.publish("nobody.listens", 2)
    assert bus.pub_count == 2
    assert bus._resolved["nobody.listens"] == ()


def test_listeners_see_every_topic_and_message_before_handlers() -> None:
    from toolkit.core.msgbus import MessageBus

    bus = MessageBus("TRADER-001")
    seen: list[tuple[str, object]] = []
    order: list[str] = []
    bus.subscribe("a.*", lambda msg: order.append("handler"))

    def listener(topic: str, msg: object) -> None:
        seen.append((topic, msg))
        order.append("listener")

    bus.add_listener(listener)
    bus.publish("a.b", 1)
    bus.publish("nobody.listens", 2)
    assert seen == [("a.b", 1), ("nobody.listens", 2)]
    assert order == ["listener", "handler", "listener"]
    bus.remove_listener(listener)
    bus.publish("a.b", 3)
    assert seen[-1] == ("nobody.listens", 2)
