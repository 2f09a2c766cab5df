"""Order book data through a backtest: actors receive deltas and depth snapshots; on an L1 venue a
depth snapshot sets the top of book (a market order fills at its best ask) and deltas only iterate."""

from __future__ import annotations

from decimal import Decimal

from toolkit.backtest.engine import BacktestEngine
from toolkit.model.data import FLAG_LAST, FLAG_SNAPSHOT, OrderBookDelta, OrderBookDepth10
from toolkit.model.enums import AccountType, BookAction, OmsType, OrderSide
from toolkit.model.events import OrderFilled
from toolkit.model.instruments import instrument_from_dict
from toolkit.model.objects import Currency, Money, Quantity
from toolkit.trading.config import StrategyConfig
from toolkit.trading.strategy import Strategy

BTC = instrument_from_dict(
    {
        "kind": "CryptoPerpetual",
        "id": "BTCUSDT-PERP.SIM",
        "base_currency": "BTC",
        "quote_currency": "USDT",
        "price_increment": "0.1",
        "size_increment": "0.001",
        "margin_init": "0.05",
        "margin_maint": "0.025",
        "taker_fee": "0.0004",
    }
)
IID = BTC.id
E9 = 10**9


def depth(ts: int, best_bid: int, best_ask: int) -> OrderBookDepth10:
    bids = tuple((best_bid - i) * E9 for i in range(10))
    asks = tuple((best_ask + i) * E9 for i in range(10))
    sizes = tuple(2 * E9 for _ in range(10))
    counts = tuple(1 for _ in range(10))
    return OrderBookDepth10(IID, bids, sizes, counts, asks, sizes, counts, FLAG_SNAPSHOT, 1, 1, 3, ts, ts)


def delta(ts: int, action: BookAction, side: OrderSide, price: int, size_milli: int, flags: int = 0) -> OrderBookDelta:
    return OrderBookDelta(IID, action, side, price * E9, size_milli * 10**6, 0, flags, 2, 1, 3, ts, ts)


class BookReader(Strategy):
    def __init__(self) -> None:
        super().__init__(StrategyConfig())
        self.seen: list[tuple[str, int]] = []

    def on_start(self) -> None:
        self.subscribe_order_book_deltas(IID)
        self.subscribe_order_book_depth10(IID)

    def on_order_book_delta(self, d: OrderBookDelta) -> None:
        self.seen.append((f"delta-{d.action.value}", d.ts_init))

    def on_order_book_depth10(self, d: OrderBookDepth10) -> None:
        self.seen.append(("depth", d.ts_init))
        if len(self.seen) == 1:
            self.submit_order(self.order_factory.market(IID, OrderSide.BUY, Quantity.from_str("0.500")))


def test_book_data_reaches_subscribers_and_depth_sets_the_l1_top() -> None:
    engine = BacktestEngine()
    engine.add_venue(
        "SIM",
        OmsType.NETTING,
        AccountType.MARGIN,
        [Money.of(100_000, "USDT")],
        base_currency=Currency.from_str("USDT"),
        default_leverage=Decimal(10),
    )
    engine.add_instrument(BTC)
    engine.add_data(
        [
            depth(1_000, 20_000, 20_001),
            OrderBookDelta.clear(IID, 3, 2_000),
            delta(2_000, BookAction.ADD, OrderSide.BUY, 19_999, 1_500, FLAG_SNAPSHOT | FLAG_LAST),
            delta(3_000, BookAction.UPDATE, OrderSide.SELL, 20_001, 250, FLAG_LAST),
        ]
    )
    strategy = BookReader()
    engine.add_strategy(strategy)
    engine.run()
    assert strategy.seen == [("depth", 1_000), ("delta-CLEAR", 2_000), ("delta-ADD", 2_000), ("delta-UPDATE", 3_000)]
    fills = [e for o in engine.cache.orders() for e in o.events if type(e) is OrderFilled]
    first = fills[0]
    assert first.last_px.as_decimal() == Decimal("20001.0") and first.last_qty == Quantity.from_str("0.500")
    assert engine.cache.depth10(IID) is not None
