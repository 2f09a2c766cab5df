"""Market data: `QuoteTick`, `TradeTick`, `Bar` and `BarType`.

Ticks and bars keep prices and sizes as raw fixed-point ints (see `objects`) with their precision,
so the engine matches orders on integers without building objects per event; the `Price` and
`Quantity` views (`tick.bid_price`, `bar.close`...) are created only when a reader asks for them.
Order book data (`OrderBookDelta`, `OrderBookDepth10`) follow the same rules. Timestamps are int
nanoseconds since the Unix epoch (UTC): `ts_event` when it happened, `ts_init` when we learned of
it; data are replayed in `ts_init` order.
"""

from __future__ import annotations

import msgspec

from toolkit.model.enums import (
    AggregationSource,
    AggressorSide,
    BarAggregation,
    BookAction,
    OrderSide,
    PriceType,
    parse_enum,
)
from toolkit.model.identifiers import InstrumentId, TradeId
from toolkit.model.objects import FIXED_SCALE, Price, Quantity

NANOS_PER = {
    BarAggregation.MILLISECOND: 1_000_000,
    BarAggregation.SECOND: 1_000_000_000,
    BarAggregation.MINUTE: 60_000_000_000,
    BarAggregation.HOUR: 3_600_000_000_000,
    BarAggregation.DAY: 86_400_000_000_000,
}


class QuoteTick(msgspec.Struct, frozen=True, gc=False):
    """Top of book: best bid and ask with their sizes."""

    instrument_id: InstrumentId
    bid_raw: int
    ask_raw: int
    bid_size_raw: int
    ask_size_raw: int
    price_precision: int
    size_precision: int
    ts_event: int
    ts_init: int

    @classmethod
    def of(
        cls,
        instrument_id: InstrumentId | str,
        bid_price: Price,
        ask_price: Price,
        bid_size: Quantity,
        ask_size: Quantity,
        ts_event: int,
        ts_init: int | None = None,
    ) -> QuoteTick:
        if bid_price.precision != ask_price.precision:
            raise ValueError(f"bid/ask precision differ: {bid_price!r} vs {ask_price!r}")
        if bid_size.precision != ask_size.precision:
            raise ValueError(f"bid/ask size precision differ: {bid_size!r} vs {ask_size!r}")
        return cls(
            InstrumentId(instrument_id),
            bid_price.raw,
            ask_price.raw,
            bid_size.raw,
            ask_size.raw,
            bid_price.precision,
            bid_size.precision,
            ts_event,
            ts_event if ts_init is None else ts_init,
        )

    @property
    def bid_price(self) -> Price:
        return Price(self.bid_raw, self.price_precision)

    @property
    def ask_price(self) -> Price:
        return Price(self.ask_raw, self.price_precision)

    @property
    def bid_size(self) -> Quantity:
        return Quantity(self.bid_size_raw, self.size_precision)

    @property
    def ask_size(self) -> Quantity:
        return Quantity(self.ask_size_raw, self.size_precision)

    def mid_double(self) -> float:
        return (self.bid_raw + self.ask_raw) / (2 * FIXED_SCALE)

    def price_for(self, price_type: PriceType) -> Price:
        if price_type is PriceType.BID:
            return self.bid_price
        if price_type is PriceType.ASK:
            return self.ask_price
        if price_type is PriceType.MID:
            # The mid of two prices on a grid needs one more decimal to be exact.
            return Price((self.bid_raw + self.ask_raw) // 2, min(self.price_precision + 1, 9))
        raise ValueError(f"a quote has no {price_type.value} price")


class TradeTick(msgspec.Struct, frozen=True, gc=False):
    """One trade printed by the venue."""

    instrument_id: InstrumentId
    price_raw: int
    size_raw: int
    price_precision: int
    size_precision: int
    aggressor_side: AggressorSide
    trade_id: TradeId
    ts_event: int
    ts_init: int

    @classmethod
    def of(
        cls,
        instrument_id: InstrumentId | str,
        price: Price,
        size: Quantity,
        aggressor_side: AggressorSide,
        trade_id: TradeId | str,
        ts_event: int,
        ts_init: int | None = None,
    ) -> TradeTick:
        return cls(
            InstrumentId(instrument_id),
            price.raw,
            size.raw,
            price.precision,
            size.precision,
            aggressor_side,
            TradeId(trade_id),
            ts_event,
            ts_event if ts_init is None else ts_init,
        )

    @property
    def price(self) -> Price:
        return Price(self.price_raw, self.price_precision)

    @property
    def size(self) -> Quantity:
        return Quantity(self.size_raw, self.size_precision)


class BarSpecification(msgspec.Struct, frozen=True, gc=False):
    """How a bar is built: every `step` units of `aggregation`, from `price_type` prices."""

    step: int
    aggregation: BarAggregation
    price_type: PriceType

    def __post_init__(self) -> None:
        if self.step <= 0:
            raise ValueError(f"bar step must be positive, got {self.step}")

    def __str__(self) -> str:
        return f"{self.step}-{self.aggregation.value}-{self.price_type.value}"

    @property
    def is_time_aggregated(self) -> bool:
        return self.aggregation in NANOS_PER

    @property
    def timedelta_ns(self) -> int | None:
        """Bar duration in ns for time bars, None for tick/volume/value bars."""
        unit = NANOS_PER.get(self.aggregation)
        return None if unit is None else unit * self.step


class BarType(msgspec.Struct, frozen=True, gc=False, cache_hash=True):
    """`INSTRUMENT-STEP-AGGREGATION-PRICETYPE-SOURCE`, e.g. `GBP/USD.SIM-1-MINUTE-BID-EXTERNAL`."""

    instrument_id: InstrumentId
    spec: BarSpecification
    aggregation_source: AggregationSource = AggregationSource.EXTERNAL

    @classmethod
    def from_str(cls, value: str) -> BarType:
        parts = value.rsplit("-", 4)
        if len(parts) != 5:
            raise ValueError(
                f"invalid BarType {value!r}: expected 'INSTRUMENT-STEP-AGGREGATION-PRICETYPE-SOURCE', "
                "e.g. 'GBP/USD.SIM-1-MINUTE-BID-EXTERNAL'"
            )
        instrument, step, aggregation, price_type, source = parts
        try:
            step_n = int(step)
            spec = BarSpecification(step_n, parse_enum(BarAggregation, aggregation), parse_enum(PriceType, price_type))
            return cls(InstrumentId(instrument), spec, parse_enum(AggregationSource, source))
        except ValueError as exc:
            raise ValueError(f"invalid BarType {value!r}: {exc}") from None

    def __str__(self) -> str:
        return f"{self.instrument_id}-{self.spec}-{self.aggregation_source.value}"

    @property
    def is_internal(self) -> bool:
        return self.aggregation_source is AggregationSource.INTERNAL

    @property
    def is_external(self) -> bool:
        return self.aggregation_source is AggregationSource.EXTERNAL


class Bar(msgspec.Struct, frozen=True, gc=False):
    """An OHLCV bar; `ts_init` is the bar close time (data stamped at open must be shifted)."""

    bar_type: BarType
    open_raw: int
    high_raw: int
    low_raw: int
    close_raw: int
    volume_raw: int
    price_precision: int
    size_precision: int
    ts_event: int
    ts_init: int

    @classmethod
    def of(
        cls,
        bar_type: BarType | str,
        open: Price,
        high: Price,
        low: Price,
        close: Price,
        volume: Quantity,
        ts_event: int,
        ts_init: int | None = None,
    ) -> Bar:
        bt = bar_type if isinstance(bar_type, BarType) else BarType.from_str(bar_type)
        check_bar_prices(str(bt), open.raw, high.raw, low.raw, close.raw)
        return cls(
            bt,
            open.raw,
            high.raw,
            low.raw,
            close.raw,
            volume.raw,
            open.precision,
            volume.precision,
            ts_event,
            ts_event if ts_init is None else ts_init,
        )

    @property
    def instrument_id(self) -> InstrumentId:
        return self.bar_type.instrument_id

    @property
    def open(self) -> Price:
        return Price(self.open_raw, self.price_precision)

    @property
    def high(self) -> Price:
        return Price(self.high_raw, self.price_precision)

    @property
    def low(self) -> Price:
        return Price(self.low_raw, self.price_precision)

    @property
    def close(self) -> Price:
        return Price(self.close_raw, self.price_precision)

    @property
    def volume(self) -> Quantity:
        return Quantity(self.volume_raw, self.size_precision)


def check_bar_prices(where: str, open_raw: int, high_raw: int, low_raw: int, close_raw: int) -> None:
    """Raise ValueError when high/low do not bound open and close."""
    if not (high_raw >= open_raw and high_raw >= close_raw and high_raw >= low_raw):
        raise ValueError(f"bar {where}: high is below open, low or close")
    if not (low_raw <= open_raw and low_raw <= close_raw):
        raise ValueError(f"bar {where}: low is above open or close")


# Flags of book data (bit set): the last delta of an update batch; part of a snapshot.
FLAG_LAST = 1 << 7
FLAG_SNAPSHOT = 1 << 5
DEPTH10_LEVELS = 10


class OrderBookDelta(msgspec.Struct, frozen=True, gc=False):
    """One change to a book: ADD/UPDATE/DELETE a level (or an order, `order_id` != 0), or CLEAR it.

    `side` is BUY for bids and SELL for asks (NO_ORDER_SIDE for CLEAR). For MBP books an UPDATE sets
    the level's size and a DELETE (or size 0) removes it. `flags` carries FLAG_SNAPSHOT for deltas
    that rebuild a book and FLAG_LAST on the last delta of one venue update.
    """

    instrument_id: InstrumentId
    action: BookAction
    side: OrderSide
    price_raw: int
    size_raw: int
    order_id: int
    flags: int
    sequence: int
    price_precision: int
    size_precision: int
    ts_event: int
    ts_init: int

    @classmethod
    def clear(
        cls, instrument_id: InstrumentId | str, sequence: int, ts_event: int, ts_init: int | None = None
    ) -> OrderBookDelta:
        """A CLEAR that starts a snapshot."""
        return cls(
            InstrumentId(instrument_id),
            BookAction.CLEAR,
            OrderSide.NO_ORDER_SIDE,
            0,
            0,
            0,
            FLAG_SNAPSHOT,
            sequence,
            0,
            0,
            ts_event,
            ts_event if ts_init is None else ts_init,
        )

    @property
    def price(self) -> Price:
        return Price(self.price_raw, self.price_precision)

    @property
    def size(self) -> Quantity:
        return Quantity(self.size_raw, self.size_precision)

    @property
    def is_snapshot(self) -> bool:
        return bool(self.flags & FLAG_SNAPSHOT)

    @property
    def is_last(self) -> bool:
        return bool(self.flags & FLAG_LAST)


class OrderBookDepth10(msgspec.Struct, frozen=True, gc=False):
    """A snapshot of the top 10 levels per side (missing levels have price 0 and size 0).

    Bids are best (highest) first, asks best (lowest) first; counts are orders per level (0 if unknown).
    """

    instrument_id: InstrumentId
    bid_prices_raw: tuple[int, ...]
    bid_sizes_raw: tuple[int, ...]
    bid_counts: tuple[int, ...]
    ask_prices_raw: tuple[int, ...]
    ask_sizes_raw: tuple[int, ...]
    ask_counts: tuple[int, ...]
    flags: int
    sequence: int
    price_precision: int
    size_precision: int
    ts_event: int
    ts_init: int

    def __post_init__(self) -> None:
        for name in ("bid_prices_raw", "bid_sizes_raw", "bid_counts", "ask_prices_raw", "ask_sizes_raw", "ask_counts"):
            if len(getattr(self, name)) != DEPTH10_LEVELS:
                raise ValueError(f"OrderBookDepth10 {self.instrument_id}: {name} needs {DEPTH10_LEVELS} values")

    @property
    def best_bid_price(self) -> Price | None:
        return Price(self.bid_prices_raw[0], self.price_precision) if self.bid_sizes_raw[0] > 0 else None

    @property
    def best_ask_price(self) -> Price | None:
        return Price(self.ask_prices_raw[0], self.price_precision) if self.ask_sizes_raw[0] > 0 else None


Data = QuoteTick | TradeTick | Bar | OrderBookDelta | OrderBookDepth10
