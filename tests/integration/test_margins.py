"""Margin accounts hold maintenance margin for open positions and initial margin for working orders."""

from __future__ import annotations

from decimal import Decimal

from toolkit.backtest.engine import BacktestEngine
from toolkit.model.data import QuoteTick
from toolkit.model.enums import AccountType, OmsType, OrderSide
from toolkit.model.instruments import instrument_from_dict
from toolkit.model.objects import Currency, Money, Price, Quantity
from toolkit.trading.config import StrategyConfig
from toolkit.trading.strategy import Strategy

EURUSD = instrument_from_dict(
    {
        "kind": "CurrencyPair",
        "id": "EUR/USD.SIM",
        "base_currency": "EUR",
        "quote_currency": "USD",
        "price_increment": "0.00001",
        "size_increment": "1",
        "margin_init": "0.05",
        "margin_maint": "0.03",
    }
)
USD = Currency.from_str("USD")


class BuyAndRest(Strategy):
    def __init__(self) -> None:
        super().__init__(StrategyConfig(cancel_orders_on_stop=False))
        self.seen: list[tuple[Money | None, Money | None]] = []

    def on_start(self) -> None:
        self.subscribe_quote_ticks(EURUSD.id)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        account = self.portfolio.account("SIM")
        self.seen.append((account.margin_maint(EURUSD.id), account.margin_init(EURUSD.id)))  # type: ignore[union-attr]
        if len(self.seen) == 1:
            self.submit_order(self.order_factory.market(EURUSD.id, OrderSide.BUY, Quantity.from_int(100_000)))
            limit = self.order_factory.limit(
                EURUSD.id, OrderSide.BUY, Quantity.from_int(50_000), Price.from_str("1.00000")
            )
            self.submit_order(limit)


def quote(ts: int) -> QuoteTick:
    return QuoteTick.of(
        EURUSD.id,
        Price.from_str("1.10096"),
        Price.from_str("1.10098"),
        Quantity.from_int(10**6),
        Quantity.from_int(10**6),
        ts,
    )


def test_open_position_and_working_order_hold_margin_exactly() -> None:
    engine = BacktestEngine()
    engine.add_venue(
        "SIM",
        OmsType.NETTING,
        AccountType.MARGIN,
        [Money.of(1_000_000, USD)],
        base_currency=USD,
        default_leverage=Decimal(50),
    )
    engine.add_instrument(EURUSD)
    engine.add_data([quote(1), quote(2)])
    strategy = BuyAndRest()
    engine.add_strategy(strategy)
    engine.run()
    maint, init = strategy.seen[1]
    # maintenance: 100,000 x 1.10098 / 50 x 0.03 = 66.0588 -> 66.06 USD; initial: 50,000 x 1.00000 / 50 x 0.05 = 50.00
    assert maint == Money.of("66.06", USD)
    assert init == Money.of("50.00", USD)
    account = engine.cache.accounts()[0]
    assert account.balance_locked(USD) == Money.of("116.06", USD)
    assert account.balance_total(USD) == account.balance_locked(USD) + account.balance_free(USD)
