"""Identifiers: typed string values for venues, instruments, traders, strategies, orders and more.

Every identifier is a `str` subclass, so it hashes and compares at string speed on the hot path,
serialises as a plain string, and still carries its own type for readers and type checkers.
Construction validates the format and names the identifier type in the error.
"""

from __future__ import annotations

from functools import lru_cache


class Identifier(str):
    """A non-empty identifier string without surrounding whitespace."""

    __slots__ = ()

    def __new__(cls, value: str) -> Identifier:
        if type(value) is cls:
            return value  # type: ignore[return-value]
        if not isinstance(value, str) or not value or value.strip() != value:
            raise ValueError(f"invalid {cls.__name__} {value!r}: must be a non-empty string without spaces around it")
        cls._check(value)
        return str.__new__(cls, value)

    @classmethod
    def _check(cls, value: str) -> None:
        """Extra format rules of a subclass; raise ValueError naming the type."""

    @property
    def value(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str.__repr__(self)})"


class Symbol(Identifier):
    __slots__ = ()


class Venue(Identifier):
    __slots__ = ()

    @classmethod
    def _check(cls, value: str) -> None:
        if "." in value:
            raise ValueError(f"invalid Venue {value!r}: must not contain '.'")


class InstrumentId(Identifier):
    """`SYMBOL.VENUE`, for example `GBP/USD.SIM` or `BTCUSDT-PERP.BINANCE`."""

    __slots__ = ()

    @classmethod
    def _check(cls, value: str) -> None:
        symbol, dot, venue = value.rpartition(".")
        if not dot or not symbol or not venue:
            raise ValueError(f"invalid InstrumentId {value!r}: expected 'SYMBOL.VENUE', e.g. 'GBP/USD.SIM'")

    @classmethod
    def from_parts(cls, symbol: str, venue: str) -> InstrumentId:
        return cls(f"{symbol}.{venue}")

    @property
    def symbol(self) -> Symbol:
        return _symbol_of(self)

    @property
    def venue(self) -> Venue:
        return _venue_of(self)


class _NameTag(Identifier):
    """`NAME-TAG`: two parts joined by a hyphen, for example `TRADER-001`."""

    __slots__ = ()

    @classmethod
    def _check(cls, value: str) -> None:
        name, dash, tag = value.rpartition("-")
        if not dash or not name or not tag:
            raise ValueError(f"invalid {cls.__name__} {value!r}: expected 'NAME-TAG', e.g. 'TRADER-001'")

    @property
    def name(self) -> str:
        return self.rpartition("-")[0]

    @property
    def tag(self) -> str:
        return self.rpartition("-")[2]


class TraderId(_NameTag):
    __slots__ = ()


class StrategyId(_NameTag):
    """`CLASSNAME-TAG`, or the special `EXTERNAL` for orders the node did not create."""

    __slots__ = ()

    @classmethod
    def _check(cls, value: str) -> None:
        if value != "EXTERNAL":
            super()._check(value)

    def is_external(self) -> bool:
        return self == "EXTERNAL"


class AccountId(_NameTag):
    """`ISSUER-NUMBER`, for example `SIM-001`; the issuer is the venue."""

    __slots__ = ()

    @property
    def issuer(self) -> str:
        return self.name


class ClientId(Identifier):
    __slots__ = ()


class ComponentId(Identifier):
    __slots__ = ()


class ClientOrderId(Identifier):
    __slots__ = ()


class VenueOrderId(Identifier):
    __slots__ = ()


class PositionId(Identifier):
    __slots__ = ()


class TradeId(Identifier):
    __slots__ = ()


class OrderListId(Identifier):
    __slots__ = ()


EXTERNAL_STRATEGY_ID = StrategyId("EXTERNAL")


@lru_cache(maxsize=65536)  # order and fill paths ask for an instrument's venue several times per order
def _venue_of(instrument_id: str) -> Venue:
    return Venue(instrument_id.rpartition(".")[2])


@lru_cache(maxsize=65536)
def _symbol_of(instrument_id: str) -> Symbol:
    return Symbol(instrument_id.rpartition(".")[0])
