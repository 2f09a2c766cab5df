"""Test helpers: instruments of the venue spec scenarios and `OrderFilled` events built directly.

`make_fill` builds a fill without an order or a venue; `taker_commission` computes the MakerTaker
fee of the spec (notional x rate, rounded half-even to the currency precision) so tests state the
commission they expect from the same numbers the venue would use.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from toolkit.model.enums import LiquiditySide, OrderSide, OrderType
from toolkit.model.events import OrderFilled
from toolkit.model.identifiers import (
    AccountId,
    ClientOrderId,
    InstrumentId,
    PositionId,
    StrategyId,
    TradeId,
    TraderId,
    VenueOrderId,
)
from toolkit.model.instruments import CryptoPerpetual, CurrencyPair, Equity, Instrument
from toolkit.model.objects import FIXED_SCALE, Currency, Money, Price, Quantity

TRADER = TraderId("TESTER-000")
STRATEGY = StrategyId("S-001")
ACCOUNT = AccountId("SIM-001")

USD = Currency.from_str("USD")
JPY = Currency.from_str("JPY")
AUD = Currency.from_str("AUD")
EUR = Currency.from_str("EUR")
BTC = Currency.from_str("BTC")


def fx_pair(symbol: str, price_precision: int, fee: str = "0.00002", margin: str = "0.03") -> CurrencyPair:
    """A spot FX pair on SIM with size increment 1 and equal maker/taker fees."""
    base, quote = symbol.split("/")
    quote_ccy = Currency.from_str(quote)
    return CurrencyPair(
        id=InstrumentId(f"{symbol}.SIM"),
        base_currency=Currency.from_str(base),
        quote_currency=quote_ccy,
        settlement_currency=quote_ccy,
        price_precision=price_precision,
        size_precision=0,
        price_increment=Price(10 ** (9 - price_precision), price_precision),
        size_increment=Quantity.from_int(1),
        maker_fee=Decimal(fee),
        taker_fee=Decimal(fee),
        margin_init=Decimal(margin),
        margin_maint=Decimal(margin),
    )


USDJPY = fx_pair("USD/JPY", 3)
AUDUSD = fx_pair("AUD/USD", 5)
EURUSD = fx_pair("EUR/USD", 5)

AAPL = Equity(
    id=InstrumentId("AAPL.XNAS"),
    quote_currency=USD,
    settlement_currency=USD,
    price_precision=2,
    size_precision=0,
    price_increment=Price.from_str("0.01"),
    size_increment=Quantity.from_int(1),
)

XBTUSD_INVERSE = CryptoPerpetual(
    id=InstrumentId("XBTUSD-PERP.SIM"),
    base_currency=BTC,
    quote_currency=USD,
    settlement_currency=BTC,
    is_inverse=True,
    price_precision=1,
    size_precision=0,
    price_increment=Price.from_str("0.5"),
    size_increment=Quantity.from_int(1),
    taker_fee=Decimal("0.00075"),
    maker_fee=Decimal("-0.00025"),
    margin_init=Decimal("0.01"),
    margin_maint=Decimal("0.005"),
)


def taker_commission(instrument: Instrument, qty: str, px: str) -> Money:
    """MakerTaker fee at the taker rate: qty x px x multiplier x rate (inverse: qty x mult / px x rate, in base)."""
    quantity = Quantity.from_str(qty)
    price = Price.from_str(px)
    rate = Fraction(instrument.taker_fee)
    if instrument.is_inverse:
        currency = instrument.base_currency_or_none or instrument.settlement_currency
        return Money.from_raw_rounded(Fraction(quantity.raw * instrument.multiplier.raw, price.raw) * rate, currency)
    notional = Fraction(quantity.raw * price.raw * instrument.multiplier.raw, FIXED_SCALE * FIXED_SCALE)
    return Money.from_raw_rounded(notional * rate, instrument.quote_currency)


def make_fill(
    instrument: Instrument,
    side: OrderSide,
    qty: str | int,
    px: str,
    *,
    trade_id: str,
    commission: Money | None = None,
    order_id: str = "O-1",
    strategy_id: StrategyId = STRATEGY,
    position_id: PositionId | None = None,
    ts: int = 0,
) -> OrderFilled:
    """An `OrderFilled` for `instrument`; the commission defaults to zero in the quote currency."""
    quantity = Quantity.of(str(qty), instrument.size_precision)
    price = Price.of(px, instrument.price_precision)
    return OrderFilled(
        ts_event=ts,
        ts_init=ts,
        trader_id=TRADER,
        strategy_id=strategy_id,
        instrument_id=instrument.id,
        client_order_id=ClientOrderId(order_id),
        venue_order_id=VenueOrderId(f"V-{order_id}"),
        account_id=ACCOUNT,
        trade_id=TradeId(trade_id),
        order_side=side,
        order_type=OrderType.MARKET,
        last_qty=quantity,
        last_px=price,
        currency=instrument.quote_currency,
        commission=commission if commission is not None else Money(0, instrument.quote_currency),
        liquidity_side=LiquiditySide.TAKER,
        position_id=position_id,
    )


def taker_fill(
    instrument: Instrument, side: OrderSide, qty: str | int, px: str, *, trade_id: str, **kwargs: object
) -> OrderFilled:
    """`make_fill` charged the instrument's taker fee."""
    fee = taker_commission(instrument, str(qty), px)
    return make_fill(instrument, side, qty, px, trade_id=trade_id, commission=fee, **kwargs)  # type: ignore[arg-type]
