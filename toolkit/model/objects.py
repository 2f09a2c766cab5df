"""Exact value types: `Price`, `Quantity`, `Money` and `Currency`.

Values are fixed-point integers (`raw`) scaled by 10**9 whatever their display precision, so two
prices of different precision compare and add as plain integers, and no float ever enters a sum.
`precision` is the number of decimals the value is shown and validated with. Conversions to
`Decimal` are exact; `as_double()` exists for indicators and charts only.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from fractions import Fraction
from functools import lru_cache
from typing import Any, ClassVar

import msgspec

from toolkit.model.enums import CurrencyType

FIXED_PRECISION = 9
FIXED_SCALE = 10**FIXED_PRECISION
_SCALES = [10 ** (FIXED_PRECISION - p) for p in range(FIXED_PRECISION + 1)]
_DEC_SCALE = Decimal(FIXED_SCALE)


def _to_decimal(value: Any, what: str) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError(f"{what}: expected a number, got bool")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{what}: {value!r} is not a number") from None
    raise TypeError(f"{what}: expected str, int, float or Decimal, got {type(value).__name__}")


def decimals_of(value: Decimal) -> int:
    """Number of decimals a Decimal is written with (`Decimal('1.50')` -> 2)."""
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def raw_from_decimal(value: Decimal, precision: int, what: str, *, rounding: bool) -> int:
    """Scale `value` to a raw fixed-point int at `precision` decimals (exact unless `rounding`)."""
    if not 0 <= precision <= FIXED_PRECISION:
        raise ValueError(f"{what}: precision {precision} outside 0..{FIXED_PRECISION}")
    if not value.is_finite():
        raise ValueError(f"{what}: {value} is not finite")
    quantum = Decimal(1).scaleb(-precision)
    rounded = value.quantize(quantum, rounding=ROUND_HALF_EVEN)
    if rounded != value and not rounding:
        raise ValueError(f"{what}: {value} has more than {precision} decimals")
    return int(rounded.scaleb(FIXED_PRECISION))


@lru_cache(maxsize=4096)
def decimal_ratio(value: Decimal) -> tuple[int, int]:
    """A Decimal rate, fee or leverage as an exact reduced integer ratio (cached: instruments reuse a handful of
    values), so hot paths multiply integers instead of building Fractions."""
    return value.as_integer_ratio()


def round_half_even(numerator: int, denominator: int) -> int:
    """Integer nearest to numerator/denominator, ties to even (exact, no floats)."""
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def format_raw(raw: int, precision: int) -> str:
    """Render a raw fixed-point int with exactly `precision` decimals."""
    sign = "-" if raw < 0 else ""
    units, frac = divmod(abs(raw), FIXED_SCALE)
    if precision == 0:
        return f"{sign}{units}"
    digits = f"{frac:09d}"[:precision]
    return f"{sign}{units}.{digits}"


class _Fixed(msgspec.Struct, frozen=True, gc=False, eq=False):
    """Shared behaviour of fixed-point values; equality and order use `raw` only."""

    raw: int
    precision: int

    kind: ClassVar[str] = "value"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Fixed):
            return self.raw == other.raw
        return NotImplemented

    def __ne__(self, other: object) -> bool:  # msgspec.Struct defines its own; keep it consistent with __eq__
        if isinstance(other, _Fixed):
            return self.raw != other.raw
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.raw)

    def __lt__(self, other: _Fixed) -> bool:
        return self.raw < other.raw

    def __le__(self, other: _Fixed) -> bool:
        return self.raw <= other.raw

    def __gt__(self, other: _Fixed) -> bool:
        return self.raw > other.raw

    def __ge__(self, other: _Fixed) -> bool:
        return self.raw >= other.raw

    def __str__(self) -> str:
        return format_raw(self.raw, self.precision)

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self}')"

    def __float__(self) -> float:
        return self.raw / FIXED_SCALE

    def __bool__(self) -> bool:
        return self.raw != 0

    def as_double(self) -> float:
        return self.raw / FIXED_SCALE

    def as_decimal(self) -> Decimal:
        return Decimal(self.raw).scaleb(-FIXED_PRECISION).quantize(Decimal(1).scaleb(-self.precision))

    def is_zero(self) -> bool:
        return self.raw == 0

    def is_on_grid(self, increment_raw: int) -> bool:
        return self.raw % increment_raw == 0


class Price(_Fixed, frozen=True, gc=False, eq=False):
    """An exact price (may be negative, e.g. spreads)."""

    @classmethod
    def from_str(cls, value: str) -> Price:
        dec = _to_decimal(value, "Price")
        precision = decimals_of(dec)
        return cls(raw_from_decimal(dec, precision, "Price", rounding=False), precision)

    @classmethod
    def of(cls, value: str | int | float | Decimal, precision: int) -> Price:
        """Price at `precision` decimals; floats are rounded half-even, text must fit exactly."""
        dec = _to_decimal(value, "Price")
        return cls(raw_from_decimal(dec, precision, "Price", rounding=isinstance(value, float)), precision)

    @classmethod
    def from_int(cls, value: int) -> Price:
        return cls(value * FIXED_SCALE, 0)

    def __add__(self, other: Price) -> Price:
        return Price(self.raw + other.raw, max(self.precision, other.precision))

    def __sub__(self, other: Price) -> Price:
        return Price(self.raw - other.raw, max(self.precision, other.precision))

    def __neg__(self) -> Price:
        return Price(-self.raw, self.precision)

    def add_ticks(self, ticks: int, increment_raw: int) -> Price:
        return Price(self.raw + ticks * increment_raw, self.precision)


class Quantity(_Fixed, frozen=True, gc=False, eq=False):
    """An exact non-negative quantity."""

    @classmethod
    def from_str(cls, value: str) -> Quantity:
        dec = _to_decimal(value, "Quantity")
        precision = decimals_of(dec)
        return cls.checked(raw_from_decimal(dec, precision, "Quantity", rounding=False), precision)

    @classmethod
    def of(cls, value: str | int | float | Decimal, precision: int) -> Quantity:
        dec = _to_decimal(value, "Quantity")
        raw = raw_from_decimal(dec, precision, "Quantity", rounding=isinstance(value, float))
        return cls.checked(raw, precision)

    @classmethod
    def from_int(cls, value: int) -> Quantity:
        return cls.checked(value * FIXED_SCALE, 0)

    @classmethod
    def zero(cls, precision: int = 0) -> Quantity:
        return cls(0, precision)

    @classmethod
    def checked(cls, raw: int, precision: int) -> Quantity:
        if raw < 0:
            raise ValueError(f"Quantity must not be negative, got {format_raw(raw, precision)}")
        return cls(raw, precision)

    def __add__(self, other: Quantity) -> Quantity:
        return Quantity(self.raw + other.raw, max(self.precision, other.precision))

    def __sub__(self, other: Quantity) -> Quantity:
        return Quantity.checked(self.raw - other.raw, max(self.precision, other.precision))


class Currency(msgspec.Struct, frozen=True, gc=False):
    """A currency with its display precision (ISO 4217 minor units for fiat)."""

    code: str
    precision: int
    currency_type: CurrencyType = CurrencyType.FIAT

    _registry: ClassVar[dict[str, Currency]] = {}

    def __str__(self) -> str:
        return self.code

    def __post_init__(self) -> None:
        if not 0 <= self.precision <= FIXED_PRECISION:
            raise ValueError(f"Currency {self.code}: precision {self.precision} outside 0..{FIXED_PRECISION}")

    @classmethod
    def register(cls, currency: Currency) -> Currency:
        existing = cls._registry.get(currency.code)
        if existing is not None and existing != currency:
            raise ValueError(f"Currency {currency.code} already registered as {existing!r}")
        cls._registry[currency.code] = currency
        return currency

    @classmethod
    def from_str(cls, code: str) -> Currency:
        try:
            return cls._registry[code.upper()]
        except KeyError:
            raise ValueError(
                f"unknown currency {code!r}; known: {', '.join(sorted(cls._registry))} "
                "(register others with Currency.register)"
            ) from None


for _code, _prec, _type in [
    ("USD", 2, CurrencyType.FIAT),
    ("EUR", 2, CurrencyType.FIAT),
    ("GBP", 2, CurrencyType.FIAT),
    ("JPY", 0, CurrencyType.FIAT),
    ("AUD", 2, CurrencyType.FIAT),
    ("CHF", 2, CurrencyType.FIAT),
    ("CAD", 2, CurrencyType.FIAT),
    ("NZD", 2, CurrencyType.FIAT),
    ("SEK", 2, CurrencyType.FIAT),
    ("NOK", 2, CurrencyType.FIAT),
    ("HKD", 2, CurrencyType.FIAT),
    ("SGD", 2, CurrencyType.FIAT),
    ("CNH", 2, CurrencyType.FIAT),
    ("MXN", 2, CurrencyType.FIAT),
    ("ZAR", 2, CurrencyType.FIAT),
    ("BTC", 8, CurrencyType.CRYPTO),
    ("ETH", 8, CurrencyType.CRYPTO),
    ("USDT", 8, CurrencyType.CRYPTO),
    ("USDC", 8, CurrencyType.CRYPTO),
    ("BNB", 8, CurrencyType.CRYPTO),
    ("SOL", 8, CurrencyType.CRYPTO),
    ("XAU", 2, CurrencyType.COMMODITY),
]:
    Currency.register(Currency(_code, _prec, _type))

USD = Currency.from_str("USD")


class Money(msgspec.Struct, frozen=True, gc=False, eq=False):
    """An exact amount of one currency, always rounded to the currency's precision."""

    raw: int
    currency: Currency

    @classmethod
    def of(cls, value: str | int | float | Decimal, currency: Currency | str) -> Money:
        """Money rounded half-even to the currency precision."""
        ccy = currency if isinstance(currency, Currency) else Currency.from_str(currency)
        dec = _to_decimal(value, "Money")
        return cls(raw_from_decimal(dec, ccy.precision, f"Money({ccy.code})", rounding=True), ccy)

    @classmethod
    def from_str(cls, value: str) -> Money:
        """Parse `"1000000 USD"` (amount, space, currency code)."""
        parts = value.split()
        if len(parts) != 2:
            raise ValueError(f"invalid Money {value!r}: expected 'AMOUNT CURRENCY', e.g. '1000000 USD'")
        amount, code = parts
        ccy = Currency.from_str(code)
        dec = _to_decimal(amount, "Money")
        return cls(raw_from_decimal(dec, ccy.precision, f"Money({ccy.code})", rounding=False), ccy)

    @classmethod
    def zero(cls, currency: Currency | str) -> Money:
        ccy = currency if isinstance(currency, Currency) else Currency.from_str(currency)
        return cls(0, ccy)

    @classmethod
    def from_raw_ratio(cls, numerator: int, denominator: int, currency: Currency) -> Money:
        """The exact raw amount numerator / denominator (at FIXED_SCALE), rounded half-even to the currency grid
        (`from_raw_rounded` without building a Fraction: hot paths keep integers)."""
        step = _SCALES[currency.precision]
        if denominator < 0:
            numerator, denominator = -numerator, -denominator
        return cls(round_half_even(numerator, denominator * step) * step, currency)

    @classmethod
    def from_raw_rounded(cls, raw: int | Fraction, currency: Currency) -> Money:
        """Round an exact raw amount (int or Fraction, at FIXED_SCALE) half-even to the currency grid."""
        step = _SCALES[currency.precision]
        num, den = (raw, 1) if isinstance(raw, int) else (raw.numerator, raw.denominator)
        return cls(round_half_even(num, den * step) * step, currency)

    def _same(self, other: Money) -> None:
        if other.currency.code != self.currency.code:
            raise ValueError(f"currency mismatch: {self.currency.code} vs {other.currency.code}")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Money):
            return self.raw == other.raw and self.currency.code == other.currency.code
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        if isinstance(other, Money):
            return self.raw != other.raw or self.currency.code != other.currency.code
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.raw, self.currency.code))

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.raw + other.raw, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.raw - other.raw, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.raw, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.raw < other.raw

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.raw <= other.raw

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.raw > other.raw

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.raw >= other.raw

    def __str__(self) -> str:
        return f"{format_raw(self.raw, self.currency.precision)} {self.currency.code}"

    def __repr__(self) -> str:
        return f"Money('{format_raw(self.raw, self.currency.precision)}', {self.currency.code})"

    def as_decimal(self) -> Decimal:
        p = self.currency.precision
        return Decimal(self.raw).scaleb(-FIXED_PRECISION).quantize(Decimal(1).scaleb(-p))

    def as_double(self) -> float:
        return self.raw / FIXED_SCALE

    def is_zero(self) -> bool:
        return self.raw == 0
