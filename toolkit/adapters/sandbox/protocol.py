"""Wire format of the sandbox venue (see docs/sandbox.md): JSON encoding, request types, signatures.

Events, reports and market data are our msgspec structs, encoded by msgspec (prices and quantities as
`{"raw": int, "precision": int}`, money as `{"raw": int, "currency": {...}}`, identifiers as strings,
events tagged by `"type"`); market data are wrapped as `{"kind": class name, ...fields}`. Requests
from clients use decimal strings (`SubmitOrderRequest`) so they are easy to write by hand. `sign`
computes the HMAC-SHA256 signature both sides check.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, TypeVar

import msgspec

from toolkit.model.data import Bar, OrderBookDelta, OrderBookDepth10, QuoteTick, TradeTick
from toolkit.model.enums import (
    ContingencyType,
    OrderSide,
    OrderType,
    TimeInForce,
    TrailingOffsetType,
    TriggerType,
)
from toolkit.model.events import (
    AccountState,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderModifyRejected,
    OrderPendingCancel,
    OrderPendingUpdate,
    OrderRejected,
    OrderSubmitted,
    OrderTriggered,
    OrderUpdated,
)
from toolkit.model.identifiers import Identifier

T = TypeVar("T")
PROTOCOL_VERSION = 1
API_PREFIX = "/api/v1"
RECV_WINDOW_MS = 5_000
HEADER_KEY = "X-TK-APIKEY"
HEADER_TIMESTAMP = "X-TK-TIMESTAMP"
HEADER_SIGNATURE = "X-TK-SIGNATURE"

DATA_KINDS: dict[str, type] = {
    cls.__name__: cls for cls in (QuoteTick, TradeTick, Bar, OrderBookDelta, OrderBookDepth10)
}
VenueEvent = (
    OrderAccepted
    | OrderRejected
    | OrderCanceled
    | OrderExpired
    | OrderTriggered
    | OrderPendingUpdate
    | OrderPendingCancel
    | OrderModifyRejected
    | OrderCancelRejected
    | OrderUpdated
    | OrderFilled
    | OrderSubmitted
    | OrderDenied
    | AccountState
)


def _dec_hook(target: type, value: Any) -> Any:
    if isinstance(target, type) and issubclass(target, Identifier):
        if not isinstance(value, str):
            raise TypeError(f"expected a string for {target.__name__}")
        return target(value)
    raise NotImplementedError(f"cannot decode {target!r}")


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, str):  # our identifiers are str subclasses
        return str(obj)
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


def encode(obj: Any) -> bytes:
    """JSON bytes of a struct, a list/dict of structs, or plain values."""
    return msgspec.json.encode(obj, enc_hook=_enc_hook)


def to_builtins(obj: Any) -> Any:
    """The JSON-ready form of a struct (for embedding in a larger message)."""
    return msgspec.to_builtins(obj, enc_hook=_enc_hook)


def decode(data: bytes | str, type: type[T]) -> T:
    """Decode JSON into `type` (struct, union of tagged structs, list[...]...), building our identifiers."""
    return msgspec.json.decode(data, type=type, dec_hook=_dec_hook)


def convert(obj: Any, type: type[T]) -> T:
    """Convert already-parsed JSON (dicts) into `type`."""
    return msgspec.convert(obj, type=type, dec_hook=_dec_hook)


def encode_data(data: Any) -> dict[str, Any]:
    """A market data object as `{"kind": ..., **fields}`."""
    out = msgspec.to_builtins(data, enc_hook=_enc_hook)
    out["kind"] = type(data).__name__
    return out


def decode_data(message: dict[str, Any]) -> Any:
    fields = dict(message)
    kind = fields.pop("kind", None)
    cls = DATA_KINDS.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise ValueError(f"unknown market data kind {kind!r} (known: {', '.join(DATA_KINDS)})")
    return convert(fields, cls)


class SubmitOrderRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """POST /orders body: decimal strings for quantities, prices and offsets; enums by name; ids as strings.

    Every order type is accepted. Trailing stops take `trailing_offset` (and `limit_offset` for
    TRAILING_STOP_LIMIT) in `trailing_offset_type` units, optionally `activation_price`; `trigger_type`
    says which market price triggers (and trails). The contingency fields (`contingency_type`,
    `order_list_id`, `linked_order_ids`, `parent_order_id`) let the venue hold OTO children until their
    parent fills and link OCO/OUO orders, as the backtest's matching engine does; `tags` are kept with the
    order. Fields at their default are left out of the encoded body, so a plain order's body holds only
    fields every venue version knows.
    """

    client_order_id: str
    trader_id: str
    strategy_id: str
    instrument_id: str
    order_side: OrderSide
    order_type: OrderType
    quantity: str
    time_in_force: TimeInForce = TimeInForce.GTC
    price: str | None = None
    trigger_price: str | None = None
    trigger_type: TriggerType = TriggerType.DEFAULT
    expire_time_ns: int = 0
    post_only: bool = False
    reduce_only: bool = False
    position_id: str | None = None
    display_qty: str | None = None
    trailing_offset: str | None = None
    trailing_offset_type: TrailingOffsetType = TrailingOffsetType.PRICE
    limit_offset: str | None = None
    activation_price: str | None = None
    contingency_type: ContingencyType = ContingencyType.NO_CONTINGENCY
    order_list_id: str | None = None
    linked_order_ids: tuple[str, ...] = ()
    parent_order_id: str | None = None
    tags: tuple[str, ...] = ()


class ModifyOrderRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    quantity: str | None = None
    price: str | None = None
    trigger_price: str | None = None


class ErrorBody(msgspec.Struct, frozen=True):
    error: str
    message: str
    field: str | None = None


def sign(secret: str, timestamp_ms: int | str, method: str, path_with_query: str, body: bytes | str = b"") -> str:
    """Hex HMAC-SHA256 over `timestamp + METHOD + path_with_query + body`."""
    payload = f"{timestamp_ms}{method.upper()}{path_with_query}".encode() + (
        body.encode() if isinstance(body, str) else body
    )
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
