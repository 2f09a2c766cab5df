"""Acceptance: money is exact after 10,000 round trips through a real `BacktestEngine`.

A seeded `random.Random` draws quotes on the instrument's price grid and order sizes on its size
grid. On every quote the strategy closes the previous trade with a market order and opens the
next one (random side and size), on a NETTING venue with a MARGIN account, so the run makes
10,000 position cycles (one kept in `cache.positions()`, the others in `cache.position_snapshots()`).
At the end the account balance must equal, to the cent and with no float involved:
starting balance + sum of gross realized PnL (computed here from the fills, per trade, rounded
half-even to the cent as the venue spec requires) - sum of commissions, and also starting balance
+ the sum of every cycle's `realized_pnl`.
"""

from __future__ import annotations

import random
from decimal import ROUND_HALF_EVEN, Decimal

from toolkit.backtest.engine import BacktestEngine
from toolkit.model.data import QuoteTick
from toolkit.model.enums import AccountType, OmsType, OrderSide
from toolkit.model.events import OrderFilled, PositionClosed
from toolkit.model.identifiers import InstrumentId, PositionId
from toolkit.model.instruments import CurrencyPair
from toolkit.model.objects import FIXED_SCALE, Currency, Money, Price, Quantity
from toolkit.trading.config import StrategyConfig
from toolkit.trading.strategy import Strategy

USD = Currency.from_str("USD")
AUD = Currency.from_str("AUD")
ROUND_TRIPS = 10_000
SEED = 20240611
T0 = 1_700_000_000_000_000_000
# Large enough that the random walk of PnL (quotes jump anywhere in 0.5..1.5 every second) never leaves the
# account without free balance: the risk engine denies orders whose margin exceeds it.
START = Money.of(1_000_000_000, USD)

INSTRUMENT = CurrencyPair(
    id=InstrumentId("AUD/USD.SIM"),
    base_currency=AUD,
    quote_currency=USD,
    settlement_currency=USD,
    price_precision=5,
    size_precision=0,
    price_increment=Price.from_str("0.00005"),
    size_increment=Quantity.from_int(25),
    maker_fee=Decimal("0.00002"),
    taker_fee=Decimal("0.00002"),
    margin_init=Decimal("0.03"),
    margin_maint=Decimal("0.03"),
)
TICK_RAW = INSTRUMENT.price_increment.raw
SIZE_RAW = INSTRUMENT.size_increment.raw


def random_quotes(rng: random.Random, count: int) -> list[QuoteTick]:
    """Quotes whose bid and ask sit on the price grid, one second apart, with deep top-of-book sizes."""
    depth = 10_000_000 * SIZE_RAW
    quotes = []
    for i in range(count):
        bid_ticks = rng.randint(10_000, 30_000)  # 0.50000 .. 1.50000 in steps of 0.00005
        ask_ticks = bid_ticks + rng.randint(1, 6)
        ts = T0 + i * 1_000_000_000
        quotes.append(QuoteTick(INSTRUMENT.id, bid_ticks * TICK_RAW, ask_ticks * TICK_RAW, depth, depth, 5, 0, ts, ts))
    return quotes


class RoundTripper(Strategy):
    """Closes the previous trade and opens a new one (random side and size) on every quote."""

    def __init__(self, rng: random.Random, trips: int) -> None:
        super().__init__(StrategyConfig(order_id_tag="001"))
        self.rng = rng
        self.trips = trips
        self.opened = 0
        self.open_side: OrderSide | None = None
        self.open_qty: Quantity | None = None
        self.fills: list[OrderFilled] = []
        self.closed_events: list[PositionClosed] = []

    def on_start(self) -> None:
        self.subscribe_quote_ticks(INSTRUMENT.id)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        factory = self.order_factory
        if self.open_side is not None:
            exit_side = OrderSide.SELL if self.open_side is OrderSide.BUY else OrderSide.BUY
            self.submit_order(factory.market(INSTRUMENT.id, exit_side, self.open_qty))  # type: ignore[arg-type]
            self.open_side = None
        if self.opened < self.trips:
            side = OrderSide.BUY if self.rng.random() < 0.5 else OrderSide.SELL
            size = Quantity(self.rng.randint(1, 10_000) * SIZE_RAW, 0)  # 25 .. 250,000
            self.submit_order(factory.market(INSTRUMENT.id, side, size))
            self.open_side, self.open_qty = side, size
            self.opened += 1

    def on_order_filled(self, event: OrderFilled) -> None:
        self.fills.append(event)

    def on_position_closed(self, event: PositionClosed) -> None:
        self.closed_events.append(event)


def cents(value: Decimal) -> Money:
    """Exact Decimal amount rounded half-even to the cent, as Money."""
    return Money.of(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN), USD)


def to_decimal(raw: int) -> Decimal:
    return Decimal(raw) / Decimal(FIXED_SCALE)


def test_balance_is_exact_after_10000_random_round_trips() -> None:
    rng = random.Random(SEED)
    engine = BacktestEngine()
    engine.add_venue(
        "SIM", OmsType.NETTING, AccountType.MARGIN, [START], base_currency=USD, default_leverage=Decimal(50)
    )
    engine.add_instrument(INSTRUMENT)
    engine.add_data(random_quotes(rng, ROUND_TRIPS + 1))
    strategy = RoundTripper(rng, ROUND_TRIPS)
    engine.add_strategy(strategy)
    engine.run()

    # every order filled in one piece, so fills pair up as (open, close)
    fills = strategy.fills
    assert len(fills) == 2 * ROUND_TRIPS
    assert all(f.last_px.raw % TICK_RAW == 0 and f.last_qty.raw % SIZE_RAW == 0 for f in fills)

    gross_total = Money.zero(USD)
    commission_total = Money.zero(USD)
    rounded_trips = 0
    for opening, closing in zip(fills[::2], fills[1::2], strict=True):
        assert opening.last_qty == closing.last_qty and opening.order_side is not closing.order_side
        direction = 1 if opening.order_side is OrderSide.BUY else -1
        move = to_decimal(closing.last_px.raw) - to_decimal(opening.last_px.raw)
        exact = move * to_decimal(closing.last_qty.raw) * direction
        gross_total += cents(exact)
        rounded_trips += cents(exact).as_decimal() != exact
        commission_total += opening.commission + closing.commission
    assert commission_total > Money.zero(USD)
    assert rounded_trips > ROUND_TRIPS // 4  # the per-trade rounding to the cent really happens

    cycles = engine.cache.positions() + engine.cache.position_snapshots()
    assert len(cycles) == ROUND_TRIPS
    assert len(strategy.closed_events) == ROUND_TRIPS
    assert all(p.is_closed for p in cycles)
    assert {p.id for p in cycles} == {PositionId("AUD/USD.SIM-RoundTripper-001")}
    realized_total = Money.zero(USD)
    for cycle in cycles:
        assert isinstance(cycle.realized_pnl, Money)
        realized_total += cycle.realized_pnl
    # the PositionClosed events report the same cycles
    assert sum((e.realized_pnl for e in strategy.closed_events), Money.zero(USD)) == realized_total

    account = engine.cache.account_for_venue("SIM")
    final = account.balance_total(USD)
    assert isinstance(final, Money) and type(final.raw) is int
    assert final == START + gross_total - commission_total
    assert final == START + realized_total
    assert realized_total == gross_total - commission_total
    assert account.balance_free(USD) + account.balance_locked(USD) == final  # flat: nothing else moved
    assert engine.portfolio.realized_pnl(INSTRUMENT.id) == realized_total
