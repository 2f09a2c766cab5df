"""Venue models of the simulated exchange: how likely fills are, what they cost, how late commands arrive.

`FillModel` decides probabilistic touches and slippage from one seeded random generator, drawing
only when a probability is strictly between 0 and 1 (so p=0 and p=1 are deterministic and consume
no draws). Fee models compute the commission of one fill exactly and round it half-even to the
currency. `LatencyModel` gives the delay of each command kind in nanoseconds of simulated time.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Mapping
from fractions import Fraction

import msgspec

from toolkit.model.enums import LiquiditySide
from toolkit.model.identifiers import ClientOrderId, InstrumentId
from toolkit.model.instruments import Instrument
from toolkit.model.objects import FIXED_SCALE, Currency, Money, decimal_ratio


class FillModel:
    """`prob_fill_on_limit`: chance a resting limit fills when the market only touches its price;
    `prob_slippage`: chance an L1 fill lands one tick worse. One uniform draw per check."""

    def __init__(self, prob_fill_on_limit: float = 1.0, prob_slippage: float = 0.0, random_seed: int | None = None):
        for name, p in (("prob_fill_on_limit", prob_fill_on_limit), ("prob_slippage", prob_slippage)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"FillModel.{name} must be within 0..1, got {p}")
        self.prob_fill_on_limit = prob_fill_on_limit
        self.prob_slippage = prob_slippage
        self.random_seed = random_seed
        self._rng = random.Random(random_seed)
        self._queue_rng = self._new_queue_rng()

    def _new_queue_rng(self) -> random.Random:
        """A second stream for queue-position draws, so enabling the queue model never shifts fill draws."""
        return random.Random(None if self.random_seed is None else self.random_seed * 1_000_003 + 17)

    def is_queue_front(self, p: float) -> bool:
        """One draw of the probabilistic queue model: did a level's size decrease come from ahead of us?"""
        if p >= 1.0:
            return True
        if p <= 0.0:
            return False
        return p >= self._queue_rng.random()

    def _draw(self, p: float) -> bool:
        if p >= 1.0:
            return True
        if p <= 0.0:
            return False
        return p >= self._rng.random()

    def is_limit_filled(self) -> bool:
        return self._draw(self.prob_fill_on_limit)

    def is_slipped(self) -> bool:
        return self._draw(self.prob_slippage)

    def reset(self) -> None:
        self._rng = random.Random(self.random_seed)
        self._queue_rng = self._new_queue_rng()


class FeeModel(ABC):
    """Commission of one fill; `first_fill` tells whether the order had no fill before."""

    @abstractmethod
    def commission(
        self,
        instrument: Instrument,
        client_order_id: ClientOrderId,
        qty_raw: int,
        px_raw: int,
        liquidity_side: LiquiditySide,
        first_fill: bool,
    ) -> Money: ...


_SCALE_SQUARED = FIXED_SCALE * FIXED_SCALE


def exact_notional(instrument: Instrument, qty_raw: int, px_raw: int) -> Fraction:
    """Notional at FIXED_SCALE as an exact Fraction: qty x px x multiplier (inverse: qty x mult / px)."""
    mult = instrument.multiplier.raw
    if instrument.is_inverse:
        return Fraction(qty_raw * mult, px_raw)
    return Fraction(qty_raw * px_raw * mult, FIXED_SCALE * FIXED_SCALE)


def commission_currency(instrument: Instrument) -> Currency:
    if instrument.is_inverse:
        return getattr(instrument, "base_currency", instrument.settlement_currency)
    return instrument.quote_currency


class MakerTakerFeeModel(FeeModel):
    """notional x (maker_fee or taker_fee) of the instrument, in the quote currency (base if inverse)."""

    def commission(
        self,
        instrument: Instrument,
        client_order_id: ClientOrderId,
        qty_raw: int,
        px_raw: int,
        liquidity_side: LiquiditySide,
        first_fill: bool,
    ) -> Money:
        rate = instrument.maker_fee if liquidity_side is LiquiditySide.MAKER else instrument.taker_fee
        rate_num, rate_den = decimal_ratio(rate)
        mult = instrument.multiplier.raw
        if instrument.is_inverse:  # the exact notional x rate, as one integer ratio (no Fraction per fill)
            num, den = qty_raw * mult, px_raw
        else:
            num, den = qty_raw * px_raw * mult, _SCALE_SQUARED
        return Money.from_raw_ratio(num * rate_num, den * rate_den, commission_currency(instrument))


class FixedFeeModel(FeeModel):
    """`commission` on an order's first fill and 0 on its later fills (`charge_commission_once`, the
    default), or on every fill; charged in the commission's own currency."""

    def __init__(self, commission: Money, charge_commission_once: bool = True) -> None:
        if commission.raw < 0:
            raise ValueError(f"FixedFeeModel commission must not be negative, got {commission}")
        self.amount = commission
        self.charge_commission_once = charge_commission_once

    def commission(
        self,
        instrument: Instrument,
        client_order_id: ClientOrderId,
        qty_raw: int,
        px_raw: int,
        liquidity_side: LiquiditySide,
        first_fill: bool,
    ) -> Money:
        if self.charge_commission_once and not first_fill:
            return Money(0, self.amount.currency)
        return self.amount


class PerContractFeeModel(FeeModel):
    """A fixed amount per contract filled and per leg: commission x fill qty x legs (spec §5.3).

    `legs` is the number of legs of the instruments traded (1 for anything but a spread);
    `instrument_legs` overrides it per instrument id, e.g. {"ES-SPREAD.XCME": 3}. Example: 1.25 USD
    x 2 contracts x 3 legs = 7.50 USD. Charged in the commission's currency, rounded half-even.
    """

    def __init__(
        self, commission: Money, legs: int = 1, instrument_legs: Mapping[InstrumentId | str, int] | None = None
    ) -> None:
        if commission.raw < 0:
            raise ValueError(f"PerContractFeeModel commission must not be negative, got {commission}")
        self.amount = commission
        self.legs = _checked_legs(legs, "legs")
        self.instrument_legs = {
            str(key): _checked_legs(value, f"instrument_legs[{key}]") for key, value in (instrument_legs or {}).items()
        }

    def legs_of(self, instrument: Instrument) -> int:
        return self.instrument_legs.get(str(instrument.id), self.legs)

    def commission(
        self,
        instrument: Instrument,
        client_order_id: ClientOrderId,
        qty_raw: int,
        px_raw: int,
        liquidity_side: LiquiditySide,
        first_fill: bool,
    ) -> Money:
        exact = Fraction(self.amount.raw * qty_raw * self.legs_of(instrument), FIXED_SCALE)
        return Money.from_raw_rounded(exact, self.amount.currency)


def _checked_legs(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"PerContractFeeModel {name} must be a whole number of legs >= 1, got {value!r}")
    return value


class LatencyModel(msgspec.Struct, frozen=True, kw_only=True):
    """Command delays in ns: submit = base + insert, modify = base + update, cancel = base + cancel."""

    base_latency_ns: int = 1_000_000
    insert_latency_ns: int = 0
    update_latency_ns: int = 0
    cancel_latency_ns: int = 0

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            if getattr(self, name) < 0:
                raise ValueError(f"LatencyModel.{name} must not be negative")

    @property
    def submit_ns(self) -> int:
        return self.base_latency_ns + self.insert_latency_ns

    @property
    def modify_ns(self) -> int:
        return self.base_latency_ns + self.update_latency_ns

    @property
    def cancel_ns(self) -> int:
        return self.base_latency_ns + self.cancel_latency_ns

    @property
    def is_zero(self) -> bool:
        return self.submit_ns == 0 and self.modify_ns == 0 and self.cancel_ns == 0
