"""The message bus: topic publish/subscribe with wildcard patterns, and point-to-point endpoints.

Engines, strategies and actors talk only through one `MessageBus` per node. Subscribers register a handler
for a topic pattern (`*` matches any run of characters, `?` exactly one; everything else is literal) with a
priority; `publish` calls, for a concrete topic, every handler whose pattern matches: higher priority first,
equal priority in subscription order, each handler at most once per publish (at its highest matching
priority) even if several of its patterns match. The resolved handler tuple of each concrete topic is cached
in a dict, so a publish costs one dict lookup plus the handler calls, and a topic nobody listens to costs
one lookup; subscribe/unsubscribe drop the cached entries their pattern matches. Endpoints (`register`,
`send`) deliver a message to exactly one handler. Handler exceptions are not caught: they propagate to the
publisher or sender, and the handlers after the failing one are not called for that message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import msgspec

from toolkit.model.identifiers import TraderId

MessageHandler = Callable[[Any], None]


def compile_topic_pattern(pattern: str) -> Callable[[str], bool]:
    """Predicate telling whether a concrete topic matches `pattern` (`*` = any run, `?` = one character)."""
    if "*" not in pattern and "?" not in pattern:
        return pattern.__eq__
    parts = ["." if char == "?" else ".*" if char == "*" else re.escape(char) for char in pattern]
    regex = re.compile("".join(parts), re.DOTALL)
    return lambda topic: regex.fullmatch(topic) is not None


def is_matching(topic: str, pattern: str) -> bool:
    """Whether the concrete `topic` matches the wildcard `pattern`."""
    return compile_topic_pattern(pattern)(topic)


class Subscription(msgspec.Struct, frozen=True, eq=False):
    """One handler subscribed to one topic pattern; `sequence` orders equal priorities (earlier first)."""

    topic_pattern: str
    handler: MessageHandler
    priority: int
    sequence: int


class MessageBus:
    """Publish/subscribe by topic pattern and send to endpoints, for the components of one trader.

    A handler subscribed twice to the same pattern is an error (`ValueError`), whatever the priority: the
    second call is almost always a bug, and silently ignoring it would also ignore its priority. Handlers are
    compared with `==`, so `obj.on_quote` passed twice counts as the same handler. Unsubscribing a handler
    that is not subscribed, registering an endpoint twice and deregistering or sending to an unknown endpoint
    are `ValueError`s too.
    """

    def __init__(self, trader_id: TraderId | str) -> None:
        self.trader_id = TraderId(trader_id)
        self.sent_count = 0
        """Messages passed to `send`."""
        self.pub_count = 0
        self._listeners: tuple[Callable[[str, Any], None], ...] = ()
        """Messages passed to `publish` (with or without subscribers)."""
        self._subscriptions: list[Subscription] = []
        self._sequence = 0
        self._matchers: dict[str, Callable[[str], bool]] = {}
        self._resolved: dict[str, tuple[MessageHandler, ...]] = {}
        self._endpoints: dict[str, MessageHandler] = {}
        self.generation = 0
        """Changes whenever a subscription or listener changes: a hot path that caches `route(topic)` re-reads
        it when this differs from the generation it cached."""

    def __repr__(self) -> str:
        return f"MessageBus(trader_id={self.trader_id!r})"

    # -- publish / subscribe -----------------------------------------------------------------------------------

    def subscribe(self, topic_pattern: str, handler: MessageHandler, priority: int = 0) -> None:
        """Call `handler(msg)` for every message published to a topic matching `topic_pattern`."""
        if not isinstance(topic_pattern, str) or not topic_pattern:
            raise ValueError(f"topic pattern must be a non-empty string, got {topic_pattern!r}")
        if not callable(handler):
            raise TypeError(f"handler for {topic_pattern!r} must be callable, got {type(handler).__name__}")
        if self._find(topic_pattern, handler) is not None:
            raise ValueError(f"handler {handler!r} is already subscribed to {topic_pattern!r}")
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise TypeError(f"priority for {topic_pattern!r} must be an int, got {priority!r}")
        self._sequence += 1
        if topic_pattern not in self._matchers:
            self._matchers[topic_pattern] = compile_topic_pattern(topic_pattern)
        self._subscriptions.append(Subscription(topic_pattern, handler, priority, self._sequence))
        self._invalidate(topic_pattern)
        self.generation += 1

    def unsubscribe(self, topic_pattern: str, handler: MessageHandler) -> None:
        """Remove the subscription of `handler` to exactly `topic_pattern`."""
        subscription = self._find(topic_pattern, handler)
        if subscription is None:
            raise ValueError(f"handler {handler!r} is not subscribed to {topic_pattern!r}")
        self._subscriptions.remove(subscription)
        self._invalidate(topic_pattern)
        self.generation += 1
        if not any(s.topic_pattern == topic_pattern for s in self._subscriptions):
            del self._matchers[topic_pattern]

    def add_listener(self, listener: Callable[[str, Any], None]) -> None:
        """Call `listener(topic, msg)` for every message published (before its handlers), e.g. to stream the
        bus to an external store. Handlers are not told the topic; listeners are."""
        self._listeners = (*self._listeners, listener)
        self.generation += 1

    def remove_listener(self, listener: Callable[[str, Any], None]) -> None:
        self._listeners = tuple(x for x in self._listeners if x != listener)  # bound methods compare equal
        self.generation += 1

    def route(self, topic: str) -> tuple[tuple[Callable[[str, Any], None], ...], tuple[MessageHandler, ...]]:
        """(listeners, handlers) a publish to `topic` reaches now; valid until `generation` changes. A hot path
        may deliver with these itself (adding 1 to `pub_count` per message) instead of calling `publish`."""
        handlers = self._resolved.get(topic)
        if handlers is None:
            handlers = self._resolve(topic)
        return self._listeners, handlers

    def publish(self, topic: str, msg: Any) -> None:
        """Deliver `msg` to every handler subscribed to a pattern matching the concrete `topic`."""
        self.pub_count += 1
        if self._listeners:
            for listener in self._listeners:
                listener(topic, msg)
        handlers = self._resolved.get(topic)
        if handlers is None:
            handlers = self._resolve(topic)
        for handler in handlers:
            handler(msg)

    def has_subscribers(self, topic: str) -> bool:
        """Whether a publish to the concrete `topic` would reach at least one handler."""
        handlers = self._resolved.get(topic)
        if handlers is None:
            handlers = self._resolve(topic)
        return bool(handlers)

    def is_subscribed(self, topic_pattern: str, handler: MessageHandler) -> bool:
        """Whether `handler` is subscribed to exactly `topic_pattern`."""
        return self._find(topic_pattern, handler) is not None

    def subscriptions(self, pattern: str | None = None) -> list[Subscription]:
        """All subscriptions in subscription order, or those whose topic pattern text matches `pattern`."""
        if pattern is None:
            return list(self._subscriptions)
        matches = compile_topic_pattern(pattern)
        return [s for s in self._subscriptions if matches(s.topic_pattern)]

    def topics(self) -> list[str]:
        """Distinct subscribed topic patterns, in the order they were first subscribed."""
        return list(dict.fromkeys(s.topic_pattern for s in self._subscriptions))

    # -- point to point ----------------------------------------------------------------------------------------

    def register(self, endpoint: str, handler: MessageHandler) -> None:
        """Make `handler` the single receiver of messages sent to `endpoint`."""
        if not isinstance(endpoint, str) or not endpoint:
            raise ValueError(f"endpoint must be a non-empty string, got {endpoint!r}")
        if not callable(handler):
            raise TypeError(f"handler for endpoint {endpoint!r} must be callable, got {type(handler).__name__}")
        if endpoint in self._endpoints:
            raise ValueError(f"endpoint {endpoint!r} is already registered to {self._endpoints[endpoint]!r}")
        self._endpoints[endpoint] = handler

    def deregister(self, endpoint: str) -> None:
        """Remove the handler of `endpoint`."""
        if self._endpoints.pop(endpoint, None) is None:
            raise self._unknown_endpoint(endpoint)

    def send(self, endpoint: str, msg: Any) -> None:
        """Deliver `msg` to the handler registered at `endpoint`."""
        handler = self._endpoints.get(endpoint)
        if handler is None:
            raise self._unknown_endpoint(endpoint)
        self.sent_count += 1
        handler(msg)

    def is_registered(self, endpoint: str) -> bool:
        return endpoint in self._endpoints

    def endpoints(self) -> list[str]:
        """Registered endpoints, in registration order."""
        return list(self._endpoints)

    # -- internals -------------------------------------------------------------------------------------------

    def _find(self, topic_pattern: str, handler: MessageHandler) -> Subscription | None:
        for subscription in self._subscriptions:
            if subscription.topic_pattern == topic_pattern and subscription.handler == handler:
                return subscription
        return None

    def _resolve(self, topic: str) -> tuple[MessageHandler, ...]:
        matchers = self._matchers
        matching = [s for s in self._subscriptions if matchers[s.topic_pattern](topic)]
        matching.sort(key=lambda s: (-s.priority, s.sequence))
        handlers: list[MessageHandler] = []
        for subscription in matching:
            if subscription.handler not in handlers:
                handlers.append(subscription.handler)
        resolved = tuple(handlers)
        self._resolved[topic] = resolved
        return resolved

    def _invalidate(self, topic_pattern: str) -> None:
        matches = self._matchers[topic_pattern]
        stale = [topic for topic in self._resolved if matches(topic)]
        for topic in stale:
            del self._resolved[topic]

    def _unknown_endpoint(self, endpoint: str) -> ValueError:
        known = ", ".join(repr(e) for e in self._endpoints) or "none"
        return ValueError(f"no handler registered at endpoint {endpoint!r} (registered: {known})")
