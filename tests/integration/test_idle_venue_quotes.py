"""A venue with nothing resting keeps only the latest quote and sets its top of book from it when needed.

The top of book must be exactly what applying every quote at once gives: the latest quote by ts_event
(an older quote arriving late is ignored), read by the next order, trade, bar or query. USD/JPY.SIM.
"""

from __future__ import annotations

from _usdjpy import SEC, T0, USD, USDJPY, quote

from toolkit.backtest.engine import BacktestEngine
from toolkit.model.data import QuoteTick
from toolkit.model.enums import AccountType, OmsType, OrderSide
from toolkit.model.events import OrderFilled
from toolkit.model.objects import Money, Price, Quantity
from toolkit.trading.config import StrategyConfig
from toolkit.trading.strategy import Strategy


class BuyAtQuote(Strategy):
    """Buys 1,000 at market when the quote number `at` (1-based) arrives."""

    def __init__(self, at: int) -> None:
        super().__init__(StrategyConfig(strategy_id="IDLE-001"))
        self.at = at
        self.seen = 0
        self.fills: list[OrderFilled] = []

    def on_start(self) -> None:
        self.subscribe_quote_ticks(USDJPY.id)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self.seen += 1
        if self.seen == self.at:
            self.submit_order(self.order_factory.market(USDJPY.id, OrderSide.BUY, Quantity.from_int(1_000)))

    def on_order_filled(self, event: OrderFilled) -> None:
        self.fills.append(event)


def run(quotes: list[QuoteTick], at: int) -> tuple[BacktestEngine, BuyAtQuote]:
    engine = BacktestEngine()
    engine.add_venue("SIM", OmsType.NETTING, AccountType.MARGIN, [Money.of(1_000_000, USD)], base_currency=USD)
    engine.add_instrument(USDJPY)
    engine.add_data(quotes)
    strategy = BuyAtQuote(at)
    engine.add_strategy(strategy)
    engine.run()
    return engine, strategy


def test_an_order_after_quotes_on_an_idle_venue_fills_at_the_latest_quote() -> None:
    quotes = [quote("90.000", "90.004", T0 + i * SEC) for i in range(3)] + [quote("90.100", "90.104", T0 + 3 * SEC)]
    _, strategy = run(quotes, at=4)
    assert [f.last_px for f in strategy.fills] == [Price.from_str("90.104")]


def test_an_older_quote_arriving_late_does_not_move_an_idle_venue() -> None:
    quotes = [
        quote("90.000", "90.004", T0),
        quote("90.100", "90.104", T0 + 2 * SEC),
        quote("95.000", "95.004", T0 + 1 * SEC, ts_init=T0 + 3 * SEC),  # stamped before the one above
    ]
    engine, strategy = run(quotes, at=3)
    assert [f.last_px for f in strategy.fills] == [Price.from_str("90.104")]
    venue = engine.exchanges[USDJPY.id.venue].engines[USDJPY.id]
    assert (venue.best_bid_price(), venue.best_ask_price()) == (Price.from_str("90.100"), Price.from_str("90.104"))


def test_a_query_reads_the_latest_quote_of_an_idle_venue() -> None:
    engine, strategy = run([quote("90.000", "90.004", T0), quote("91.000", "91.004", T0 + SEC)], at=99)
    assert strategy.fills == []
    venue = engine.exchanges[USDJPY.id.venue].engines[USDJPY.id]
    assert venue.snapshot()["ask"] == "91.004"
    assert venue.best_bid_price() == Price.from_str("91.000")
