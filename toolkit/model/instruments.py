"""Tradable instruments: `CurrencyPair`, `CryptoPerpetual`, `Equity` and `FuturesContract`.

An instrument fixes the grid every price and size must sit on (precision and increment), the
limits an order must respect (min/max quantity, notional and price), the money side (quote and
settlement currency, multiplier, inverse or not), margin rates and maker/taker fees. Construction
checks every field against the others and raises `InstrumentError`, which names the instrument,
the field and the offending value. `instrument_from_dict` builds one from TOML/JSON text values.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

import msgspec

from toolkit.model.enums import InstrumentClass
from toolkit.model.identifiers import InstrumentId, Symbol
from toolkit.model.objects import (
    FIXED_PRECISION,
    FIXED_SCALE,
    Currency,
    Money,
    Price,
    Quantity,
    decimals_of,
)


class InstrumentError(ValueError):
    """An instrument definition is inconsistent; names the instrument, field and value."""

    def __init__(self, instrument_id: str, field: str, value: Any, reason: str) -> None:
        self.instrument_id = instrument_id
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"instrument {instrument_id}: field '{field}' = {value!s}: {reason}")


class Instrument(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    """Fields common to every instrument; see the subclasses for the kinds users trade."""

    id: InstrumentId
    quote_currency: Currency
    settlement_currency: Currency
    price_precision: int
    size_precision: int
    price_increment: Price
    size_increment: Quantity
    multiplier: Quantity = Quantity(FIXED_SCALE, 0)
    lot_size: Quantity | None = None
    max_quantity: Quantity | None = None
    min_quantity: Quantity | None = None
    max_notional: Money | None = None
    min_notional: Money | None = None
    max_price: Price | None = None
    min_price: Price | None = None
    margin_init: Decimal = Decimal(0)
    margin_maint: Decimal = Decimal(0)
    maker_fee: Decimal = Decimal(0)
    taker_fee: Decimal = Decimal(0)
    is_inverse: bool = False
    allow_negative_prices: bool = False
    raw_symbol: str = ""
    ts_event: int = 0
    ts_init: int = 0

    instrument_class: ClassVar[InstrumentClass] = InstrumentClass.SPOT

    def __post_init__(self) -> None:
        self._validate()

    # ---- validation -----------------------------------------------------------------------
    def _fail(self, field: str, value: Any, reason: str) -> InstrumentError:
        return InstrumentError(str(self.id), field, value, reason)

    def _validate(self) -> None:
        for name, prec in (("price_precision", self.price_precision), ("size_precision", self.size_precision)):
            if not isinstance(prec, int) or not 0 <= prec <= FIXED_PRECISION:
                raise self._fail(name, prec, f"must be an integer in 0..{FIXED_PRECISION}")
        if self.price_increment.raw <= 0:
            raise self._fail("price_increment", self.price_increment, "must be positive")
        if self.price_increment.precision != self.price_precision:
            raise self._fail(
                "price_increment",
                self.price_increment,
                f"has {self.price_increment.precision} decimals but price_precision is {self.price_precision}",
            )
        if self.size_increment.raw <= 0:
            raise self._fail("size_increment", self.size_increment, "must be positive")
        if self.size_increment.precision != self.size_precision:
            raise self._fail(
                "size_increment",
                self.size_increment,
                f"has {self.size_increment.precision} decimals but size_precision is {self.size_precision}",
            )
        if self.multiplier.raw <= 0:
            raise self._fail("multiplier", self.multiplier, "must be positive")
        if self.lot_size is not None:
            self._check_size("lot_size", self.lot_size, positive=True)
        if self.min_quantity is not None:
            self._check_size("min_quantity", self.min_quantity, positive=False)
        if self.max_quantity is not None:
            self._check_size("max_quantity", self.max_quantity, positive=True)
        if self.min_quantity is not None and self.max_quantity is not None and self.min_quantity > self.max_quantity:
            raise self._fail("min_quantity", self.min_quantity, f"is greater than max_quantity {self.max_quantity}")
        for name, money in (("min_notional", self.min_notional), ("max_notional", self.max_notional)):
            if money is None:
                continue
            if money.raw < 0:
                raise self._fail(name, money, "must not be negative")
            if money.currency.code not in (self.quote_currency.code, self.settlement_currency.code):
                raise self._fail(name, money, f"currency must be {self.quote_currency.code}")
        if (
            self.min_notional is not None
            and self.max_notional is not None
            and self.min_notional.raw > self.max_notional.raw
        ):
            raise self._fail("min_notional", self.min_notional, f"is greater than max_notional {self.max_notional}")
        for name, price in (("min_price", self.min_price), ("max_price", self.max_price)):
            if price is None:
                continue
            if price.precision > self.price_precision:
                raise self._fail(name, price, f"has more than price_precision={self.price_precision} decimals")
            if price.raw <= 0 and not self.allow_negative_prices:
                raise self._fail(name, price, "must be positive (set allow_negative_prices for spreads)")
        if self.min_price is not None and self.max_price is not None and self.min_price > self.max_price:
            raise self._fail("min_price", self.min_price, f"is greater than max_price {self.max_price}")
        for name, rate in (("margin_init", self.margin_init), ("margin_maint", self.margin_maint)):
            if not isinstance(rate, Decimal) or not rate.is_finite() or rate < 0:
                raise self._fail(name, rate, "must be a non-negative decimal rate")
        if not isinstance(self.taker_fee, Decimal) or not self.taker_fee.is_finite() or self.taker_fee < 0:
            raise self._fail("taker_fee", self.taker_fee, "must be a non-negative decimal rate")
        if not isinstance(self.maker_fee, Decimal) or not self.maker_fee.is_finite():
            raise self._fail("maker_fee", self.maker_fee, "must be a decimal rate")
        if self.maker_fee < -self.taker_fee:
            raise self._fail(
                "maker_fee",
                self.maker_fee,
                f"a rebate larger than taker_fee {self.taker_fee} would pay for round trips",
            )
        for name, fee in (("maker_fee", self.maker_fee), ("taker_fee", self.taker_fee)):
            if fee >= 1:
                raise self._fail(name, fee, "is a rate (0.0002 = 2 bp); 1 or more is not a fee")

    def _check_size(self, name: str, qty: Quantity, *, positive: bool) -> None:
        if positive and qty.raw <= 0:
            raise self._fail(name, qty, "must be positive")
        if qty.precision > self.size_precision or qty.raw % self.size_increment.raw != 0:
            raise self._fail(name, qty, f"is not a multiple of size_increment {self.size_increment}")

    # ---- helpers ---------------------------------------------------------------------------
    @property
    def symbol(self) -> Symbol:
        return self.id.symbol

    @property
    def venue(self) -> str:
        return self.id.venue

    @property
    def base_currency_or_none(self) -> Currency | None:
        return getattr(self, "base_currency", None)

    def make_price(self, value: str | int | float | Decimal) -> Price:
        """A price on this instrument's precision (floats rounded half-even)."""
        return Price.of(value, self.price_precision)

    def make_qty(self, value: str | int | float | Decimal) -> Quantity:
        """A quantity on this instrument's precision (floats rounded half-even)."""
        return Quantity.of(value, self.size_precision)

    def notional_value(self, quantity: Quantity, price: Price) -> Money:
        """qty x price x multiplier in the quote currency (inverse: qty x multiplier / price in base)."""
        if self.is_inverse:
            base = self.base_currency_or_none or self.settlement_currency
            exact = Decimal(quantity.raw) * Decimal(self.multiplier.raw) / Decimal(price.raw) / FIXED_SCALE
            return Money.of(exact, base)
        exact = quantity.as_decimal() * price.as_decimal() * self.multiplier.as_decimal()
        return Money.of(exact, self.quote_currency)

    def to_dict(self) -> dict[str, Any]:
        """Plain text/number fields, the same shape `instrument_from_dict` reads."""
        out: dict[str, Any] = {"kind": type(self).__name__}
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, Currency):
                out[name] = value.code
            elif isinstance(value, Money):
                out[name] = str(value.as_decimal())
            elif isinstance(value, (Price, Quantity, Decimal)):
                out[name] = str(value)
            else:
                out[name] = value if isinstance(value, (int, bool)) else str(value)
        return out


class CurrencyPair(Instrument, frozen=True, kw_only=True):
    """A spot FX or crypto pair, e.g. GBP/USD: quantities in base, prices in quote currency."""

    base_currency: Currency


class CryptoPerpetual(Instrument, frozen=True, kw_only=True):
    """A perpetual swap; linear (settled in quote) or inverse (settled in base)."""

    base_currency: Currency

    instrument_class: ClassVar[InstrumentClass] = InstrumentClass.SWAP


class Equity(Instrument, frozen=True, kw_only=True):
    """A share traded in whole units by default; cash accounts cannot short it."""

    isin: str | None = None


class FuturesContract(Instrument, frozen=True, kw_only=True):
    """A dated future on an underlying, tradable between activation and expiration."""

    underlying: str
    activation_ns: int
    expiration_ns: int

    instrument_class: ClassVar[InstrumentClass] = InstrumentClass.FUTURE

    def _validate(self) -> None:
        super()._validate()
        if not self.underlying:
            raise self._fail("underlying", self.underlying, "must not be empty")
        if self.expiration_ns <= self.activation_ns:
            raise self._fail("expiration_ns", self.expiration_ns, f"must be after activation_ns {self.activation_ns}")


INSTRUMENT_KINDS: dict[str, type[Instrument]] = {
    cls.__name__: cls for cls in (CurrencyPair, CryptoPerpetual, Equity, FuturesContract)
}

_PRICE_FIELDS = {"price_increment", "max_price", "min_price"}
_QTY_FIELDS = {"size_increment", "multiplier", "lot_size", "max_quantity", "min_quantity"}
_MONEY_FIELDS = {"max_notional", "min_notional"}
_DECIMAL_FIELDS = {"margin_init", "margin_maint", "maker_fee", "taker_fee"}
_INT_FIELDS = {"price_precision", "size_precision", "ts_event", "ts_init", "activation_ns", "expiration_ns"}
_CURRENCY_FIELDS = {"quote_currency", "settlement_currency", "base_currency"}


def instrument_from_dict(data: dict[str, Any]) -> Instrument:
    """Build an instrument from text values (TOML/JSON); errors name the instrument and field.

    Required: `kind` (CurrencyPair, CryptoPerpetual, Equity, FuturesContract), `id`, currencies,
    `price_increment` and `size_increment`. Precisions default to the increments' decimals.
    """
    values = dict(data)
    ident = str(values.get("id", "<missing id>"))
    kind = values.pop("kind", None)
    if kind not in INSTRUMENT_KINDS:
        raise InstrumentError(ident, "kind", kind, f"expected one of {', '.join(INSTRUMENT_KINDS)}")
    cls = INSTRUMENT_KINDS[kind]
    known = set(cls.__struct_fields__)
    for key in values:
        if key not in known:
            raise InstrumentError(ident, key, values[key], f"unknown field for {kind}")
    try:
        values["id"] = InstrumentId(values["id"])
    except KeyError:
        raise InstrumentError(ident, "id", None, "is required") from None
    except ValueError as exc:
        raise InstrumentError(ident, "id", values.get("id"), str(exc)) from None
    if "settlement_currency" not in values and "quote_currency" in values:
        values["settlement_currency"] = values["quote_currency"]
    for key in ("price_increment", "size_increment"):
        if key not in values:
            raise InstrumentError(ident, key, None, "is required")
    values.setdefault("price_precision", decimals_of(Decimal(str(values["price_increment"]))))
    values.setdefault("size_precision", decimals_of(Decimal(str(values["size_increment"]))))
    quote = values.get("quote_currency")
    for key, value in list(values.items()):
        try:
            if key in _CURRENCY_FIELDS:
                values[key] = Currency.from_str(str(value))
            elif key in _PRICE_FIELDS:
                values[key] = Price.from_str(str(value))
            elif key in _QTY_FIELDS:
                values[key] = Quantity.from_str(str(value))
            elif key in _MONEY_FIELDS:
                values[key] = Money.of(str(value), str(quote))
            elif key in _DECIMAL_FIELDS:
                values[key] = Decimal(str(value))
                if not values[key].is_finite():
                    raise ValueError("not a finite number")
            elif key in _INT_FIELDS and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError("must be an integer")
        except (ValueError, ArithmeticError) as exc:
            raise InstrumentError(ident, key, value, str(exc)) from None
    try:
        return cls(**values)
    except TypeError as exc:
        raise InstrumentError(ident, "<fields>", "", str(exc)) from None
