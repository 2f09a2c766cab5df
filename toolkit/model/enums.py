"""Enumerations shared by the whole toolkit (order sides and types, statuses, book and bar kinds).

Each enum is a `str` enum so values print, serialise to JSON/Parquet and parse from TOML as their
names. `parse_enum` turns user text into a member with an error that lists the valid names.
"""

from __future__ import annotations

from enum import Enum, StrEnum
from typing import TypeVar


class OrderSide(StrEnum):
    NO_ORDER_SIDE = "NO_ORDER_SIDE"
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP_MARKET = "STOP_MARKET"
    STOP_LIMIT = "STOP_LIMIT"
    MARKET_TO_LIMIT = "MARKET_TO_LIMIT"
    MARKET_IF_TOUCHED = "MARKET_IF_TOUCHED"
    LIMIT_IF_TOUCHED = "LIMIT_IF_TOUCHED"
    TRAILING_STOP_MARKET = "TRAILING_STOP_MARKET"
    TRAILING_STOP_LIMIT = "TRAILING_STOP_LIMIT"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTD = "GTD"
    DAY = "DAY"
    AT_THE_OPEN = "AT_THE_OPEN"
    AT_THE_CLOSE = "AT_THE_CLOSE"


class OrderStatus(StrEnum):
    INITIALIZED = "INITIALIZED"
    DENIED = "DENIED"
    EMULATED = "EMULATED"
    RELEASED = "RELEASED"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    TRIGGERED = "TRIGGERED"
    PENDING_UPDATE = "PENDING_UPDATE"
    PENDING_CANCEL = "PENDING_CANCEL"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"


class LiquiditySide(StrEnum):
    NO_LIQUIDITY_SIDE = "NO_LIQUIDITY_SIDE"
    MAKER = "MAKER"
    TAKER = "TAKER"


class PositionSide(StrEnum):
    FLAT = "FLAT"
    LONG = "LONG"
    SHORT = "SHORT"


class OmsType(StrEnum):
    """How fills map to positions: one net position per instrument and strategy, or one per entry."""

    NETTING = "NETTING"
    HEDGING = "HEDGING"


class AccountType(StrEnum):
    CASH = "CASH"
    MARGIN = "MARGIN"


class BookType(StrEnum):
    L1_MBP = "L1_MBP"
    L2_MBP = "L2_MBP"
    L3_MBO = "L3_MBO"


class AggressorSide(StrEnum):
    NO_AGGRESSOR = "NO_AGGRESSOR"
    BUYER = "BUYER"
    SELLER = "SELLER"


class BookAction(StrEnum):
    """What an order book delta does to a level (MBP) or an order (MBO)."""

    ADD = "ADD"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    CLEAR = "CLEAR"


class PriceType(StrEnum):
    BID = "BID"
    ASK = "ASK"
    MID = "MID"
    LAST = "LAST"


class BarAggregation(StrEnum):
    TICK = "TICK"
    VOLUME = "VOLUME"
    VALUE = "VALUE"
    MILLISECOND = "MILLISECOND"
    SECOND = "SECOND"
    MINUTE = "MINUTE"
    HOUR = "HOUR"
    DAY = "DAY"


class AggregationSource(StrEnum):
    EXTERNAL = "EXTERNAL"
    INTERNAL = "INTERNAL"


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class ContingencyType(StrEnum):
    NO_CONTINGENCY = "NO_CONTINGENCY"
    OCO = "OCO"
    OTO = "OTO"
    OUO = "OUO"


class TriggerType(StrEnum):
    """Which market price moves a trigger (and trails a trailing stop). NO_TRIGGER: not emulated."""

    NO_TRIGGER = "NO_TRIGGER"
    DEFAULT = "DEFAULT"
    BID_ASK = "BID_ASK"
    LAST_PRICE = "LAST_PRICE"
    LAST_OR_BID_ASK = "LAST_OR_BID_ASK"
    MID_POINT = "MID_POINT"


class TrailingOffsetType(StrEnum):
    """How a trailing stop's offset is expressed; the risk engine denies anything but the first three."""

    PRICE = "PRICE"
    BASIS_POINTS = "BASIS_POINTS"
    TICKS = "TICKS"
    PRICE_TIER = "PRICE_TIER"


class TriggerMode(StrEnum):
    """When an OTO parent releases its children: on its first fill (PARTIAL) or when fully filled (FULL)."""

    PARTIAL = "PARTIAL"
    FULL = "FULL"


class CurrencyType(StrEnum):
    FIAT = "FIAT"
    CRYPTO = "CRYPTO"
    COMMODITY = "COMMODITY"


class InstrumentClass(StrEnum):
    SPOT = "SPOT"
    SWAP = "SWAP"
    FUTURE = "FUTURE"


class ComponentState(StrEnum):
    PRE_INITIALIZED = "PRE_INITIALIZED"
    READY = "READY"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    RESETTING = "RESETTING"
    DISPOSING = "DISPOSING"
    DISPOSED = "DISPOSED"
    DEGRADING = "DEGRADING"
    DEGRADED = "DEGRADED"
    FAULTING = "FAULTING"
    FAULTED = "FAULTED"


E = TypeVar("E", bound=Enum)


def parse_enum(enum_type: type[E], value: str | E) -> E:
    """Return the member of `enum_type` named `value` (case-insensitive), or raise ValueError."""
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type[str(value).upper()]
    except KeyError:
        names = ", ".join(m.name for m in enum_type)
        raise ValueError(f"{value!r} is not a valid {enum_type.__name__} (expected one of: {names})") from None
