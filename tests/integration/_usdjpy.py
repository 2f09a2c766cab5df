"""USD/JPY.SIM (3 decimals, size increment 1, fees 0.002 %, margins 3 %) and a quote maker, for the small
hand-written backtests of the integration tests."""

from __future__ import annotations

from decimal import Decimal

from toolkit.model.data import QuoteTick
from toolkit.model.identifiers import InstrumentId
from toolkit.model.instruments import CurrencyPair
from toolkit.model.objects import Currency, Price, Quantity

USD = Currency.from_str("USD")
JPY = Currency.from_str("JPY")
T0 = 1_704_067_200_000_000_000  # 2024-01-01 00:00 UTC, a whole minute
SEC = 1_000_000_000

USDJPY = CurrencyPair(
    id=InstrumentId("USD/JPY.SIM"),
    base_currency=USD,
    quote_currency=JPY,
    settlement_currency=JPY,
    price_precision=3,
    size_precision=0,
    price_increment=Price.from_str("0.001"),
    size_increment=Quantity.from_int(1),
    maker_fee=Decimal("0.00002"),
    taker_fee=Decimal("0.00002"),
    margin_init=Decimal("0.03"),
    margin_maint=Decimal("0.03"),
)


def quote(bid: str, ask: str, ts_event: int, ts_init: int | None = None) -> QuoteTick:
    """A USD/JPY.SIM quote of 100,000 on each side."""
    size = Quantity.from_int(100_000)
    return QuoteTick.of(USDJPY.id, Price.from_str(bid), Price.from_str(ask), size, size, ts_event, ts_init)
