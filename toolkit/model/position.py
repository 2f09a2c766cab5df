"""Positions: the exact running state of one position built from its fills.

A `Position` is created from an instrument and its first `OrderFilled` and changes only by
`apply(fill)`. Quantities are raw fixed-point integers; the average open price is kept as an exact
`Fraction` so it never drifts, and each closing fill's gross PnL is rounded half-even to the
settlement currency once, so the realized PnL is the exact sum of what the account was credited.
A fill that would cross zero must first be cut in two with `split_fill_for_flip`; a fill that
brings the quantity to zero closes the position, and the next fill opens a new cycle under the same
id (NETTING). `position_event` builds the `PositionOpened/Changed/Closed` event for a position, and
`position_id_for_netting` names the one position per instrument and strategy of a NETTING venue.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from math import gcd
from typing import TypeVar

import msgspec

from toolkit.model.enums import OrderSide, PositionSide
from toolkit.model.events import OrderFilled, PositionEvent
from toolkit.model.identifiers import (
    AccountId,
    ClientOrderId,
    InstrumentId,
    PositionId,
    StrategyId,
    TradeId,
    TraderId,
)
from toolkit.model.instruments import Instrument
from toolkit.model.objects import FIXED_PRECISION, FIXED_SCALE, Currency, Money, Price, Quantity

_SCALE_SQUARED = FIXED_SCALE * FIXED_SCALE

PositionEventT = TypeVar("PositionEventT", bound=PositionEvent)

_STEPS = tuple(Decimal(1).scaleb(-p) for p in range(FIXED_PRECISION + 1))  # quantize targets per precision

def pnl_currency_of(instrument: Instrument) -> Currency:
    """Currency a position's PnL is booked in: the base currency for inverse instruments, else settlement."""
    if instrument.is_inverse:
        return instrument.base_currency_or_none or instrument.settlement_currency
    return instrument.settlement_currency


def _ratio_to_decimal(numerator: int, denominator: int) -> Decimal:
    """numerator / denominator as a Decimal: exact when it divides, else rounded to the context (the same value
    a reduced Fraction gives: the quotient depends on the value only), without building a Fraction."""
    quotient, remainder = divmod(numerator, denominator)
    if remainder == 0:
        return Decimal(quotient)
    return Decimal(numerator) / Decimal(denominator)


def _signed_size(fill: OrderFilled) -> int:
    qty = fill.last_qty.raw
    if qty <= 0:
        raise ValueError(f"fill {fill.trade_id}: last_qty must be positive, got {fill.last_qty}")
    side = fill.order_side
    if side is OrderSide.BUY:
        return qty
    if side is OrderSide.SELL:
        return -qty
    raise ValueError(f"fill {fill.trade_id}: order_side must be BUY or SELL, got {side}")


class Position:
    """One position on one instrument: size, exact average prices, PnL and the fills that made it.

    `signed_qty_raw` is positive when long and negative when short (raw fixed-point units).
    `realized_pnl` is in `settlement_currency` and already has the commissions paid in that
    currency subtracted (opening fills included); commissions in other currencies are only listed
    by `commissions()`. When the position is flat the next fill starts a new cycle: entry, average
    prices, realized PnL, commissions, peak and timestamps start again, the fills list goes on.
    """

    __slots__ = (
        "_avg_den",
        "_avg_num",
        "_close_cost_raw",
        "_closed_qty_raw",
        "_commissions",
        "_realized_raw",
        "_trade_id_set",
        "account_id",
        "base_currency",
        "closing_order_id",
        "entry",
        "fills",
        "id",
        "instrument_id",
        "is_inverse",
        "last_px",
        "last_qty",
        "multiplier",
        "opening_order_id",
        "peak_qty_raw",
        "price_precision",
        "quote_currency",
        "settlement_currency",
        "side",
        "signed_qty_raw",
        "size_precision",
        "strategy_id",
        "trade_ids",
        "trader_id",
        "ts_closed",
        "ts_last",
        "ts_opened",
    )

    def __init__(self, instrument: Instrument, fill: OrderFilled, position_id: PositionId) -> None:
        if fill.instrument_id != instrument.id:
            raise ValueError(f"fill for {fill.instrument_id} cannot open a position on {instrument.id}")
        self.id = position_id
        self.instrument_id: InstrumentId = instrument.id
        self.trader_id: TraderId = fill.trader_id
        self.strategy_id: StrategyId = fill.strategy_id
        self.account_id: AccountId = fill.account_id
        self.multiplier: Quantity = instrument.multiplier
        self.is_inverse: bool = instrument.is_inverse
        self.quote_currency: Currency = instrument.quote_currency
        self.settlement_currency: Currency = pnl_currency_of(instrument)
        self.base_currency: Currency | None = instrument.base_currency_or_none
        self.price_precision: int = instrument.price_precision
        self.size_precision: int = instrument.size_precision
        self.fills: list[OrderFilled] = []
        self.trade_ids: list[TradeId] = []
        self._trade_id_set: set[str] = set()
        self.signed_qty_raw = 0
        self.side = PositionSide.FLAT
        self.entry = fill.order_side
        self.opening_order_id: ClientOrderId = fill.client_order_id
        self.closing_order_id: ClientOrderId | None = None
        self.peak_qty_raw = 0
        self._avg_num, self._avg_den = 0, 1  # exact average open price (raw) as an integer ratio
        self._close_cost_raw = 0
        self._closed_qty_raw = 0
        self._realized_raw = 0
        self._commissions: dict[str, Money] = {}
        self.last_px: Price = fill.last_px
        self.last_qty: Quantity = fill.last_qty
        self.ts_opened = fill.ts_event
        self.ts_last = fill.ts_event
        self.ts_closed: int | None = None
        self.apply(fill)

    # ---- derived state -----------------------------------------------------------------------
    @property
    def quantity(self) -> Quantity:
        return Quantity(abs(self.signed_qty_raw), self.size_precision)

    @property
    def peak_qty(self) -> Quantity:
        return Quantity(self.peak_qty_raw, self.size_precision)

    @property
    def signed_qty(self) -> Decimal:
        """Signed size at the instrument's size precision: positive long, negative short."""
        size = Decimal(abs(self.signed_qty_raw)).scaleb(-FIXED_PRECISION).quantize(_STEPS[self.size_precision])
        return size if self.signed_qty_raw >= 0 else -size

    @property
    def avg_px_open_exact(self) -> Fraction:
        """The exact quantity-weighted average open price (price units, not raw)."""
        return Fraction(self._avg_num, self._avg_den * FIXED_SCALE)

    @property
    def avg_px_open_raw_ratio(self) -> tuple[int, int]:
        """The exact average open price in raw units as (numerator, denominator), reduced."""
        return self._avg_num, self._avg_den

    @property
    def avg_px_open(self) -> Decimal:
        return _ratio_to_decimal(self._avg_num, self._avg_den * FIXED_SCALE)

    @property
    def avg_px_close(self) -> Decimal | None:
        """Quantity-weighted mean exit price of this cycle, or None before the first reducing fill."""
        if self._closed_qty_raw == 0:
            return None
        return _ratio_to_decimal(self._close_cost_raw, self._closed_qty_raw * FIXED_SCALE)

    @property
    def realized_pnl(self) -> Money:
        return Money(self._realized_raw, self.settlement_currency)

    @property
    def is_open(self) -> bool:
        return self.signed_qty_raw != 0

    @property
    def is_closed(self) -> bool:
        return self.signed_qty_raw == 0

    @property
    def is_long(self) -> bool:
        return self.signed_qty_raw > 0

    @property
    def is_short(self) -> bool:
        return self.signed_qty_raw < 0

    @property
    def duration_ns(self) -> int:
        """Time from open to close of this cycle; 0 while open."""
        return 0 if self.ts_closed is None else self.ts_closed - self.ts_opened

    @property
    def last_trade_id(self) -> TradeId | None:
        return self.fills[-1].trade_id if self.fills else None

    def commissions(self) -> list[Money]:
        """Commissions paid in this cycle, one total per currency."""
        return list(self._commissions.values())

    def __repr__(self) -> str:
        return (
            f"Position({self.id}, {self.instrument_id}, {self.side} {self.quantity}, "
            f"avg_open={self.avg_px_open}, realized={self.realized_pnl})"
        )

    # ---- fills -------------------------------------------------------------------------------
    def would_flip(self, fill: OrderFilled) -> bool:
        """True if `fill` would take the position through zero (split it with `split_fill_for_flip`)."""
        signed = _signed_size(fill)
        current = self.signed_qty_raw
        return current != 0 and (current > 0) != (signed > 0) and abs(signed) > abs(current)

    def _continues_split(self, fill: OrderFilled) -> bool:
        # Part 2 of a split fill shares the trade id of part 1, which just closed the position.
        if self.signed_qty_raw != 0 or not self.fills:
            return False
        last = self.fills[-1]
        return last.trade_id == fill.trade_id and last.order_side is fill.order_side

    def apply(self, fill: OrderFilled) -> Money:
        """Apply one fill; return its gross realized PnL (before commission, zero when opening or adding).

        Raises ValueError, changing nothing, for a fill of another instrument, a duplicate trade id,
        or a fill that would cross zero (split it first with `split_fill_for_flip`).
        """
        if fill.instrument_id != self.instrument_id:
            raise ValueError(f"position {self.id}: fill for {fill.instrument_id}, position is on {self.instrument_id}")
        signed = _signed_size(fill)
        qty = abs(signed)
        if fill.trade_id in self._trade_id_set and not self._continues_split(fill):
            raise ValueError(f"position {self.id}: duplicate trade id {fill.trade_id}")
        current = self.signed_qty_raw
        increasing = current == 0 or (current > 0) == (signed > 0)
        if not increasing and qty > abs(current):
            raise ValueError(
                f"position {self.id}: fill {fill.trade_id} of {fill.order_side} {fill.last_qty} would flip "
                f"a position of {self.quantity}; split it with split_fill_for_flip(fill, position_qty_raw)"
            )
        px = fill.last_px.raw
        currency = self.settlement_currency
        if current == 0:
            self._start_cycle(fill)
        if increasing:
            held = abs(current)
            # (avg * held + px * qty) / (held + qty), kept as a reduced integer ratio (no Fraction per fill)
            num = self._avg_num * held + px * qty * self._avg_den
            den = self._avg_den * (held + qty)
            common = gcd(num, den)
            self._avg_num, self._avg_den = num // common, den // common
            gross = Money(0, currency)
        else:
            pnl_num, pnl_den = self._pnl_ratio(qty if current > 0 else -qty, px)
            gross = Money.from_raw_ratio(pnl_num, pnl_den, currency)
            self._close_cost_raw += px * qty
            self._closed_qty_raw += qty
            self._realized_raw += gross.raw
        new_qty = current + signed
        self.signed_qty_raw = new_qty

        commission = fill.commission
        code = commission.currency.code
        paid = self._commissions.get(code)
        self._commissions[code] = commission if paid is None else paid + commission
        if code == currency.code:
            self._realized_raw -= commission.raw

        self.fills.append(fill)
        if fill.trade_id not in self._trade_id_set:
            self._trade_id_set.add(fill.trade_id)
            self.trade_ids.append(fill.trade_id)
        self.last_px = fill.last_px
        self.last_qty = fill.last_qty
        self.ts_last = fill.ts_event
        if new_qty == 0:
            self.side = PositionSide.FLAT
            self.closing_order_id = fill.client_order_id
            self.ts_closed = fill.ts_event
        else:
            self.side = PositionSide.LONG if new_qty > 0 else PositionSide.SHORT
            if abs(new_qty) > self.peak_qty_raw:
                self.peak_qty_raw = abs(new_qty)
        return gross

    def _start_cycle(self, fill: OrderFilled) -> None:
        self.entry = fill.order_side
        self.opening_order_id = fill.client_order_id
        self.closing_order_id = None
        self.ts_opened = fill.ts_event
        self.ts_closed = None
        self.peak_qty_raw = 0
        self._avg_num, self._avg_den = 0, 1  # exact average open price (raw) as an integer ratio
        self._close_cost_raw = 0
        self._closed_qty_raw = 0
        self._realized_raw = 0
        self._commissions = {}
        self.account_id = fill.account_id

    def _pnl_ratio(self, signed: int, px: int) -> tuple[int, int]:
        """Exact PnL (raw money units) of `signed` held at the average, valued at `px`: (numerator, denominator).
        Linear: (px - avg) x qty x multiplier; inverse: qty x multiplier x (1/avg - 1/px)."""
        num, den = self._avg_num, self._avg_den  # avg = num / den
        if self.is_inverse:
            return signed * self.multiplier.raw * (den * px - num), num * px
        return (px * den - num) * signed * self.multiplier.raw, den * _SCALE_SQUARED

    # ---- valuation ---------------------------------------------------------------------------
    def unrealized_pnl(self, last: Price) -> Money:
        """Open PnL at `last`, rounded half-even to the settlement currency; zero when flat."""
        currency = self.settlement_currency
        signed = self.signed_qty_raw
        if signed == 0:
            return Money(0, currency)
        num, den = self._pnl_ratio(signed, last.raw)
        return Money.from_raw_ratio(num, den, currency)

    def total_pnl(self, last: Price) -> Money:
        """Realized (net of settlement-currency commissions) plus unrealized at `last`."""
        return self.realized_pnl + self.unrealized_pnl(last)

    def notional_value(self, last: Price) -> Money:
        """|qty| x last x multiplier in the quote currency (inverse: |qty| x multiplier / last in base)."""
        qty = abs(self.signed_qty_raw)
        if self.is_inverse:
            return Money.from_raw_rounded(Fraction(qty * self.multiplier.raw, last.raw), self.settlement_currency)
        return Money.from_raw_rounded(
            Fraction(qty * last.raw * self.multiplier.raw, _SCALE_SQUARED), self.quote_currency
        )


def split_fill_for_flip(fill: OrderFilled, position_qty_raw: int) -> tuple[OrderFilled, OrderFilled]:
    """Cut a flipping fill into (closes exactly `position_qty_raw`, opens the rest at the same price).

    The commission is split pro-rata to quantity: part 1 rounded half-even to the currency
    precision, part 2 the remainder, so the parts always sum to the original commission. Both
    parts keep the fill's trade id (a `Position` accepts part 2 right after part 1 closed it).
    """
    held = abs(position_qty_raw)
    total = fill.last_qty.raw
    if not 0 < held < total:
        raise ValueError(
            f"fill {fill.trade_id}: cannot split {fill.last_qty} at a position size of raw {held}; "
            "the position must be non-zero and smaller than the fill"
        )
    precision = fill.last_qty.precision
    commission = fill.commission
    first_commission = Money.from_raw_ratio(commission.raw * held, total, commission.currency)
    closing = msgspec.structs.replace(fill, last_qty=Quantity(held, precision), commission=first_commission)
    opening = msgspec.structs.replace(
        fill, last_qty=Quantity(total - held, precision), commission=commission - first_commission
    )
    return closing, opening


def position_event(
    position: Position,
    event_type: type[PositionEventT],
    fill: OrderFilled,
    unrealized: Money,
    ts_init: int,
) -> PositionEventT:
    """Build a `PositionOpened`, `PositionChanged` or `PositionClosed` for the position after `fill`."""
    return event_type(
        ts_event=fill.ts_event,
        ts_init=ts_init,
        trader_id=position.trader_id,
        strategy_id=position.strategy_id,
        instrument_id=position.instrument_id,
        position_id=position.id,
        account_id=position.account_id,
        opening_order_id=position.opening_order_id,
        closing_order_id=position.closing_order_id,
        entry=position.entry,
        side=position.side,
        signed_qty=position.signed_qty,
        quantity=position.quantity,
        peak_qty=position.peak_qty,
        last_qty=fill.last_qty,
        last_px=fill.last_px,
        currency=position.settlement_currency,
        avg_px_open=position.avg_px_open,
        avg_px_close=position.avg_px_close,
        realized_pnl=position.realized_pnl,
        unrealized_pnl=unrealized,
        ts_opened=position.ts_opened,
        ts_closed=position.ts_closed,
        duration_ns=position.duration_ns,
    )


def position_id_for_netting(instrument_id: InstrumentId, strategy_id: StrategyId) -> PositionId:
    """The one position id per instrument and strategy on a NETTING venue: `{instrument_id}-{strategy_id}`."""
    return PositionId(f"{instrument_id}-{strategy_id}")
