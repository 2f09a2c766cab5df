"""Acceptance: USD/JPY traded in a USD account, every balance worked out by hand (venue spec §5.3, §6.3).

USD/JPY.SIM: 3 decimals, size increment 1, maker and taker fee 0.002 %, margin_init = margin_maint = 3 %,
NETTING venue, leverage 50. Commission and PnL are in JPY (the quote currency); a single-currency USD
account books them in USD at the *current* rate: the mid of the latest USD/JPY quote the cache holds. A
fill from a strategy callback converts at the quote the strategy just saw; a resting order filled by a
new quote converts at the quote before it, because the venue matches a quote before the cache sees it.
JPY has no decimals and USD two: every amount is rounded half-even to its currency. A fill moves the
account by (gross realized PnL - commission) in JPY, converted once. A multi-currency CASH account
instead moves both currencies by the whole notional.
"""

from __future__ import annotations

from decimal import Decimal

from _usdjpy import JPY, SEC, T0, USD, USDJPY

from toolkit.backtest.engine import BacktestEngine
from toolkit.model.data import QuoteTick
from toolkit.model.enums import AccountType, LiquiditySide, OmsType, OrderSide, OrderStatus
from toolkit.model.events import OrderDenied, OrderFilled, PositionEvent
from toolkit.model.objects import Currency, Money, Price, Quantity
from toolkit.model.orders import Order
from toolkit.trading.config import StrategyConfig
from toolkit.trading.strategy import Strategy

BUY, SELL = OrderSide.BUY, OrderSide.SELL


def usd(text: str) -> Money:
    return Money.of(text, USD)


def jpy(text: str) -> Money:
    return Money.of(text, JPY)


def quote(bid: str, ask: str, ts: int) -> QuoteTick:
    size = Quantity.from_int(1_000_000)
    return QuoteTick.of(USDJPY.id, Price.from_str(bid), Price.from_str(ask), size, size, ts)


class Trader(Strategy):
    """Runs `script[n]` on the n-th quote; records the account's (total, locked, free) per currency after
    every position event (published after the portfolio booked the fill)."""

    def __init__(self, script: dict[int, list[tuple[OrderSide, int, str | None]]]) -> None:
        super().__init__(StrategyConfig(strategy_id="FX-001"))
        self.script = script
        self.quotes = 0
        self.orders: list[Order] = []
        self.after_fill: list[dict[str, tuple[Money, Money, Money]]] = []
        self.denied: list[OrderDenied] = []

    def on_start(self) -> None:
        self.subscribe_quote_ticks(USDJPY.id)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        for side, qty, price in self.script.get(self.quotes, []):
            if price is None:
                order = self.order_factory.market(USDJPY.id, side, Quantity.from_int(qty))
            else:
                order = self.order_factory.limit(USDJPY.id, side, Quantity.from_int(qty), Price.from_str(price))
            self.orders.append(order)
            self.submit_order(order)
        self.quotes += 1

    def on_order_denied(self, event: OrderDenied) -> None:
        self.denied.append(event)

    def on_position_event(self, event: PositionEvent) -> None:
        account = self.portfolio.account("SIM")
        assert account is not None
        self.after_fill.append({code: (b.total, b.locked, b.free) for code, b in account.balances().items()})

    def fills(self) -> list[OrderFilled]:
        return [e for o in self.orders for e in o.events if isinstance(e, OrderFilled)]


def run(
    quotes: list[QuoteTick],
    script: dict[int, list[tuple[OrderSide, int, str | None]]],
    account_type: AccountType = AccountType.MARGIN,
    balances: tuple[Money, ...] = (usd("1000000"),),
    base_currency: Currency | None = USD,
) -> tuple[BacktestEngine, Trader]:
    engine = BacktestEngine()
    engine.add_venue(
        "SIM", OmsType.NETTING, account_type, list(balances), base_currency=base_currency, default_leverage=Decimal(50)
    )
    engine.add_instrument(USDJPY)
    engine.add_data(quotes)
    trader = Trader(script)
    engine.add_strategy(trader)
    engine.run()
    return engine, trader


MARGIN_QUOTES = [
    quote("90.002", "90.005", T0),
    quote("91.000", "91.003", T0 + SEC),
    quote("89.500", "89.503", T0 + 2 * SEC),
    quote("89.800", "89.803", T0 + 3 * SEC),
]
MARGIN_SCRIPT: dict[int, list[tuple[OrderSide, int, str | None]]] = {
    0: [(BUY, 200_000, None)],  # open: MARKET BUY 200,000 at the ask 90.005
    1: [(SELL, 50_000, None)],  # partial close: MARKET SELL 50,000 at the bid 91.000
    2: [(SELL, 150_000, "89.700")],  # full close: SELL LIMIT 150,000 @ 89.700 rests (bid 89.500)...
}  # ... and fills as maker at 89.700 when the 89.800 bid arrives


def test_usdjpy_in_a_usd_margin_account_open_partial_close_full_close() -> None:
    engine, trader = run(MARGIN_QUOTES, MARGIN_SCRIPT)
    buy, partial, close = trader.orders
    assert [o.status for o in trader.orders] == [OrderStatus.FILLED] * 3
    fills = trader.fills()
    assert [(str(f.last_px), int(f.last_qty.as_decimal()), f.liquidity_side) for f in fills] == [
        ("90.005", 200_000, LiquiditySide.TAKER),
        ("91.000", 50_000, LiquiditySide.TAKER),
        ("89.700", 150_000, LiquiditySide.MAKER),
    ]
    # Commissions, qty x px x 0.002 % rounded half-even to whole yen:
    #   200,000 x 90.005 x 0.00002 = 360.02 -> 360;  50,000 x 91.000 x 0.00002 = 91.00 -> 91;
    #   150,000 x 89.700 x 0.00002 = 269.10 -> 269.
    assert [f.commission for f in fills] == [jpy("360"), jpy("91"), jpy("269")]

    # 1. Open, booked at the mid of the 90.002/90.005 quote the strategy acted on, 90.0035:
    #    -360 JPY / 90.0035 = -3.99984... -> -4.00 USD; total 999,996.00 USD.
    #    Maintenance margin 200,000 x 90.005 x 3 % / 50 = 10,800.60 -> 10,801 JPY -> / 90.0035 = 120.0064 ->
    #    120.01 USD locked; free 999,996.00 - 120.01 = 999,875.99.
    opened = trader.after_fill[0]["USD"]
    assert opened == (usd("999996.00"), usd("120.01"), usd("999875.99"))

    # 2. Partial close of 50,000 at 91.000, booked at the mid of 91.000/91.003, 91.0015:
    #    realized (91.000 - 90.005) x 50,000 = 49,750 JPY, minus 91 commission = 49,659 JPY
    #    -> 49,659 / 91.0015 = 545.6943... -> 545.69 USD; total 999,996.00 + 545.69 = 1,000,541.69.
    #    Margin on the 150,000 left: 150,000 x 90.005 x 3 % / 50 = 8,100.45 -> 8,100 JPY -> / 91.0015
    #    = 89.0095... -> 89.01 USD; free 1,000,541.69 - 89.01 = 1,000,452.68.
    partly = trader.after_fill[1]["USD"]
    assert partly == (usd("1000541.69"), usd("89.01"), usd("1000452.68"))

    # 3. Full close of 150,000 at 89.700, filled by the 89.800/89.803 quote before the cache has it, so
    #    booked at the previous quote's mid, 89.5015 (not at 89.8015, nor at the fill price 89.700):
    #    realized (89.700 - 90.005) x 150,000 = -45,750 JPY, minus 269 = -46,019 JPY
    #    -> -46,019 / 89.5015 = -514.1701... -> -514.17 USD; total 1,000,541.69 - 514.17 = 1,000,027.52,
    #    nothing locked.
    closed = trader.after_fill[2]["USD"]
    assert closed == (usd("1000027.52"), usd("0.00"), usd("1000027.52"))

    account = engine.portfolio.account("SIM")
    assert account is not None and account.balance_total() == usd("1000027.52")
    assert list(account.balances()) == ["USD"]  # nothing is ever held in JPY
    # The position itself keeps its PnL in JPY: 49,750 - 45,750 - (360 + 91 + 269) = 3,280 JPY.
    position = engine.cache.positions()[0]
    assert position.is_closed and position.realized_pnl == jpy("3280")
    assert buy.avg_px == Decimal("90.005") and partial.avg_px == Decimal("91") and close.avg_px == Decimal("89.7")


def test_usdjpy_margin_above_the_free_usd_balance_is_denied() -> None:
    """100 USD free: MARKET BUY 200,000 needs 200,000 x 90.005 x 3 % / 50 = 10,800.60 -> 10,801 JPY of
    initial margin, 10,801 / 90.0035 = 120.0064 -> 120.01 USD > 100.00 USD. 150,000 needs 8,100 JPY
    (8,100.45 rounds down) = 89.9965... -> 90.00 USD, which fits."""
    _, trader = run(MARGIN_QUOTES[:2], {0: [(BUY, 200_000, None), (BUY, 150_000, None)]}, balances=(usd("100"),))
    too_big, fits = trader.orders
    assert too_big.status is OrderStatus.DENIED
    assert [d.reason for d in trader.denied] == [
        "MARGIN_EXCEEDS_FREE_BALANCE: order margin 120.01 USD > free 100.00 USD"
    ]
    assert fits.status is OrderStatus.FILLED


def test_usdjpy_in_a_multi_currency_cash_account_moves_both_balances() -> None:
    """CASH account holding 1,000,000 USD and 10,000,000 JPY (no base currency): a fill moves the whole
    notional in JPY and the quantity in USD (spec §6.3), commission in JPY, nothing converted.

    - BUY 100,000 at 90.005: JPY -9,000,500 - 180 (100,000 x 90.005 x 0.002 % = 180.01) = 999,320;
      USD +100,000 = 1,100,000.00.
    - SELL 50,000 at 91.000: JPY +4,550,000 - 91 = 5,549,229; USD -50,000 = 1,050,000.00.
    """
    engine, trader = run(
        MARGIN_QUOTES[:3],
        {0: [(BUY, 100_000, None)], 1: [(SELL, 50_000, None)]},
        account_type=AccountType.CASH,
        balances=(usd("1000000"), jpy("10000000")),
        base_currency=None,
    )
    assert [o.status for o in trader.orders] == [OrderStatus.FILLED] * 2
    assert [f.commission for f in trader.fills()] == [jpy("180"), jpy("91")]
    after_buy, after_sell = trader.after_fill
    assert (after_buy["JPY"][0], after_buy["USD"][0]) == (jpy("999320"), usd("1100000.00"))
    assert (after_sell["JPY"][0], after_sell["USD"][0]) == (jpy("5549229"), usd("1050000.00"))
    account = engine.portfolio.account("SIM")
    assert account is not None
    assert account.balances_total() == {"USD": usd("1050000.00"), "JPY": jpy("5549229")}
