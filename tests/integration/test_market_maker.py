"""The market maker (`strategies/market_maker.py`): config checks, quote arithmetic, a backtest on generated L2
deltas on an L2 venue (both re-quote modes, with latency so cancels and modifies stay in flight across book
updates) checked by replaying its order events in bus order, and both run files end to end through
`toolkit backtest` (generated deltas and the Binance depth files, imported into temporary catalogs)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.conftest import PROJECT_ROOT
from toolkit.backtest.engine import BacktestEngine
from toolkit.backtest.models import LatencyModel
from toolkit.backtest.runner import load_instruments_file
from toolkit.catalog.generator import generate_deltas
from toolkit.catalog.parquet import DataCatalog, objects_from_frame
from toolkit.core.config import ConfigError, config_from_dict, load_toml
from toolkit.model.book import OrderBook
from toolkit.model.data import FLAG_LAST, FLAG_SNAPSHOT, OrderBookDelta
from toolkit.model.enums import AccountType, BookAction, BookType, OmsType, OrderSide
from toolkit.model.events import (
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderModifyRejected,
    OrderPendingCancel,
    OrderPendingUpdate,
    OrderRejected,
    OrderUpdated,
)
from toolkit.model.identifiers import InstrumentId
from toolkit.model.instruments import Instrument
from toolkit.model.objects import Currency, Money
from toolkit.trading.loader import StrategyTable, load_module, load_strategy

TOOLKIT = str(Path(sys.executable).parent / "toolkit")
RUN_FILE = PROJECT_ROOT / "strategies" / "market_maker.toml"
BINANCE_RUN_FILE = PROJECT_ROOT / "strategies" / "market_maker_binance.toml"
# The class as the run files load it (one module object, so isinstance and subclassing agree with them).
_MODULE = load_module("strategies/market_maker.py:MarketMaker", "test", "strategy.path", PROJECT_ROOT)
MarketMaker = _MODULE.MarketMaker
MarketMakerConfig = _MODULE.MarketMakerConfig
VENUE_BOOK_TYPE = BookType.L2_MBP
# The generated data of the run file's docstring, smaller: 4,000 book updates, 100 ms apart, depth 10.
UPDATES = 4_000
SEED = 7


def eurusd() -> Instrument:
    instruments = load_instruments_file(PROJECT_ROOT / "data" / "instruments.toml", "instruments", "instruments")
    return next(i for i in instruments if str(i.id) == "EUR/USD.SIM")


def strategy_table(path: Path = RUN_FILE, **overrides: Any) -> StrategyTable:
    table = load_toml(path)["strategy"]
    table = {**table, "config": {**table["config"], **overrides}}
    return config_from_dict(table, StrategyTable, source=str(path), path_prefix="strategy")


def generated_deltas(instrument: Instrument) -> list[OrderBookDelta]:
    frame = generate_deltas(
        instrument, UPDATES, seed=SEED, start_price="1.10000", size="100000", volatility_ticks=1.0, activity=None
    )
    return objects_from_frame("deltas", instrument.id, frame, instrument.price_precision, instrument.size_precision)


# ---- config ------------------------------------------------------------------------------------------------


def test_the_run_files_strategy_tables_load() -> None:
    for path in (RUN_FILE, BINANCE_RUN_FILE):
        strategy = load_strategy(strategy_table(path), str(path), PROJECT_ROOT)
        assert isinstance(strategy, MarketMaker)


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"half_spread_ticks": 0}, "half_spread_ticks", ">= 1"),
        ({"skew_ticks": -1}, "skew_ticks", ">= 0"),
        ({"requote": "replace"}, "requote", "modify"),
        ({"order_size": "0"}, "strategy.config", "order_size must be positive, got 0"),
        ({"max_position": "50000"}, "strategy.config", "max_position (50000) must be at least order_size (100000)"),
    ],
)
def test_bad_config_values_are_refused_naming_the_field(overrides: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_strategy(strategy_table(**overrides), str(RUN_FILE), PROJECT_ROOT)
    assert field in str(info.value) and reason in str(info.value)


def engine_with(instrument: Instrument, book_type: BookType = VENUE_BOOK_TYPE, **venue: Any) -> BacktestEngine:
    engine = BacktestEngine()
    engine.add_venue(
        "SIM",
        OmsType.NETTING,
        AccountType.MARGIN,
        [Money.of(1_000_000, "USD")],
        base_currency=Currency.from_str("USD"),
        default_leverage=Decimal(50),
        book_type=book_type,
        **venue,
    )
    engine.add_instrument(instrument)
    return engine


def test_an_order_size_off_the_instrument_grid_stops_the_start() -> None:
    instrument = eurusd()
    engine = engine_with(instrument, BookType.L1_MBP)
    engine.add_data([OrderBookDelta.clear(instrument.id, 0, 1)])
    engine.add_strategy(load_strategy(strategy_table(order_size="100000.5"), str(RUN_FILE), PROJECT_ROOT))
    with pytest.raises(Exception, match=r"order_size 100000.5 is not a multiple of EUR/USD.SIM's size increment 1"):
        engine.run()


def test_quote_prices_round_away_from_the_mid_skew_toward_flat_and_never_cross() -> None:
    instrument = eurusd()
    engine = engine_with(instrument, BookType.L1_MBP)
    strategy = load_strategy(strategy_table(half_spread_ticks=2, skew_ticks=4), str(RUN_FILE), PROJECT_ROOT)
    engine.add_data([OrderBookDelta.clear(instrument.id, 0, 1)])
    engine.add_strategy(strategy)
    engine.run()  # an empty book: starts (the tick is known), quotes nothing, stops
    assert isinstance(strategy, MarketMaker)
    t = 10_000  # one tick of 0.00001, raw
    bid, ask = 110_000 * t, 110_002 * t  # mid on a tick
    assert strategy.quote_prices(bid, ask, 0) == (bid - t, ask + t)
    assert strategy.quote_prices(bid, bid + 3 * t, 0) == (bid - t, bid + 4 * t)  # mid between ticks: outward
    # Full long (300,000): 4 ticks down, clamped one tick above the best bid on the ask; full short: 4 up.
    assert strategy.quote_prices(bid, ask, 300_000 * 10**9) == (bid - 5 * t, bid + t)
    assert strategy.quote_prices(bid, ask, -300_000 * 10**9) == (ask - t, ask + 5 * t)
    assert strategy.quote_prices(bid, ask, 150_000 * 10**9) == (bid - 3 * t, ask - t)  # half long: 2 ticks


# ---- the backtest on generated L2 data ---------------------------------------------------------------------

_CLOSING = (OrderCanceled, OrderRejected, OrderDenied, OrderExpired)


class RecordedMarketMaker(MarketMaker):  # type: ignore[misc,valid-type]
    """The strategy unchanged, plus the index of its `on_stop` in the recorded bus events."""

    def __init__(self, config: Any, events: list[Any]) -> None:
        super().__init__(config)
        self.events = events
        self.stopped_at: int | None = None

    def on_stop(self) -> None:
        self.stopped_at = len(self.events)
        super().on_stop()


def run_generated(requote: str) -> tuple[BacktestEngine, RecordedMarketMaker, list[Any]]:
    instrument = eurusd()
    # Commands take 150 ms to reach the venue, book updates come every 100 ms: cancels and modifies stay in
    # flight while the book moves on.
    engine = engine_with(instrument, latency_model=LatencyModel(base_latency_ns=150_000_000))
    engine.add_data(generated_deltas(instrument))
    events: list[Any] = []
    engine.kernel.msgbus.add_listener(
        lambda topic, msg: events.append(msg) if topic.startswith("events.order.") else None
    )
    table = strategy_table(requote=requote)
    config = config_from_dict(table.config, MarketMakerConfig, source=str(RUN_FILE), path_prefix="strategy.config")
    strategy = RecordedMarketMaker(config, events)
    engine.add_strategy(strategy)
    engine.run()
    return engine, strategy, events


def replay(engine: BacktestEngine, events: list[Any], stopped_at: int, max_position: int) -> dict[str, int]:
    """Walk the order events in bus order and check the invariants at every step; return counts."""
    cache = engine.cache
    working: dict[OrderSide, set[str]] = {OrderSide.BUY: set(), OrderSide.SELL: set()}
    pending: set[str] = set()
    filled: dict[str, int] = {}
    position = peak = 0
    counts = {"orders": 0, "fills": 0, "buy_orders": 0, "sell_orders": 0, "buy_fills": 0, "sell_fills": 0}
    for index, event in enumerate(events):
        coid = event.client_order_id
        order = cache.order(coid)
        assert order is not None
        side = order.side
        if coid not in working[side] and coid not in filled:
            filled[coid] = 0
            working[side].add(coid)
            counts["orders"] += 1
            counts[f"{side.value.lower()}_orders"] += 1
            assert len(working[side]) <= 1, f"two working {side.value} orders at event {index}: {working[side]}"
        if isinstance(event, (OrderPendingCancel, OrderPendingUpdate)):
            if index < stopped_at:  # on_stop cancels whatever is working, in flight or not
                assert coid not in pending, f"{type(event).__name__} of {coid} while its last one is in flight"
            pending.add(coid)
        elif isinstance(event, (OrderUpdated, OrderModifyRejected, OrderCancelRejected)):
            pending.discard(coid)
        if isinstance(event, OrderFilled):
            qty = event.last_qty.raw
            position += qty if side is OrderSide.BUY else -qty
            peak = max(peak, abs(position))
            assert abs(position) <= max_position, f"position {position} beyond the limit at event {index}"
            filled[coid] += qty
            counts["fills"] += 1
            counts[f"{side.value.lower()}_fills"] += 1
            if filled[coid] == order.quantity.raw:
                working[side].discard(coid)
                pending.discard(coid)
        elif isinstance(event, _CLOSING):
            working[side].discard(coid)
            pending.discard(coid)
    counts["peak_position"] = peak
    counts["final_position"] = position
    return counts


@pytest.mark.parametrize("requote", ["modify", "cancel_replace"])
def test_generated_l2_backtest_quotes_both_sides_within_the_inventory_limit(requote: str) -> None:
    engine, strategy, events = run_generated(requote)
    assert strategy.stopped_at is not None
    limit = strategy.mm.max_position.raw
    counts = replay(engine, events, strategy.stopped_at, limit)
    assert counts["buy_orders"] > 10 and counts["sell_orders"] > 10
    assert counts["buy_fills"] > 0 and counts["sell_fills"] > 0
    assert counts["peak_position"] <= limit
    net = sum(p.signed_qty_raw for p in engine.cache.positions_open(strategy_id=strategy.strategy_id))
    assert net == counts["final_position"]
    # Every order was post-only and nothing is left working after the stop.
    assert all(o.post_only for o in engine.cache.orders())
    assert engine.cache.orders_open() == [] and engine.cache.orders_inflight() == []
    modifies = sum(isinstance(e, OrderPendingUpdate) for e in events)
    assert (modifies > 0) == (requote == "modify")


def test_a_one_sided_book_pulls_the_quotes() -> None:
    instrument = eurusd()
    engine = engine_with(instrument)
    iid, e4 = instrument.id, 10**4

    def level(ts: int, action: BookAction, side: OrderSide, ticks: int, flags: int = FLAG_LAST) -> OrderBookDelta:
        return OrderBookDelta(
            iid, action, side, ticks * e4, 500_000 * 10**9, 0, flags, ts, 5, 0, ts * 10**9, ts * 10**9
        )

    engine.add_data(
        [
            OrderBookDelta.clear(iid, 1, 10**9),
            level(1, BookAction.ADD, OrderSide.BUY, 110_000, FLAG_SNAPSHOT),
            level(1, BookAction.ADD, OrderSide.SELL, 110_002, FLAG_SNAPSHOT | FLAG_LAST),
            level(2, BookAction.DELETE, OrderSide.SELL, 110_002),  # no ask left: no mid
            level(3, BookAction.ADD, OrderSide.SELL, 110_003),
        ]
    )
    strategy = load_strategy(strategy_table(), str(RUN_FILE), PROJECT_ROOT)
    engine.add_strategy(strategy)
    engine.run()
    orders = engine.cache.orders()
    first = [o for o in orders if o.ts_init == 10**9]
    assert sorted((o.side.value, str(o.price)) for o in first) == [("BUY", "1.10000"), ("SELL", "1.10002")]
    assert all(o.status.value == "CANCELED" for o in first)  # pulled at ts 2
    second = sorted((o.side.value, str(o.price)) for o in orders if o.ts_init > 10**9)
    assert second == [("BUY", "1.10000"), ("SELL", "1.10003")]  # quoted again once the book has two sides


# ---- the run files through `toolkit backtest` --------------------------------------------------------------


def run_toolkit(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [TOOLKIT, *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def run_file_with_catalog(source: Path, catalog: Path, folder: Path) -> Path:
    text = source.read_text()
    text, count = re.subn(r'(?m)^catalog = ".*"', f'catalog = "{catalog.as_posix()}"', text)
    assert count == 1
    target = folder / source.name
    target.write_text(text)
    return target


def summary_figures(stdout: str) -> Iterator[tuple[str, int]]:
    for name in ("Orders", "Fills"):
        match = re.search(rf"{name}\s+([\d,]+)", stdout)
        assert match is not None, stdout
        yield name, int(match.group(1).replace(",", ""))


def test_market_maker_toml_runs_on_generated_deltas_through_the_cli(tmp_path: Path) -> None:
    catalog = tmp_path / "mm_catalog"
    proc = run_toolkit("catalog", "instruments", "--catalog", str(catalog), "data/instruments.toml")
    assert proc.returncode == 0, proc.stderr
    proc = run_toolkit(
        "catalog", "generate", "--catalog", str(catalog), "--instrument", "EUR/USD.SIM", "--type", "deltas",
        "--count", "3000", "--seed", "7", "--start-price", "1.10000", "--size", "100000", "--volatility", "1",
        "--regular",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    config = run_file_with_catalog(RUN_FILE, catalog, tmp_path)
    proc = run_toolkit("backtest", str(config), "--output", str(tmp_path / "out"), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    figures = dict(summary_figures(proc.stdout))
    assert figures["Orders"] > 10 and figures["Fills"] > 0
    assert (tmp_path / "out" / "manifest.json").is_file()


def test_market_maker_binance_toml_runs_on_the_binance_depth_files_through_the_cli(
    tmp_path: Path, shared_data: Path
) -> None:
    catalog = tmp_path / "binance_catalog"
    instruments = "strategies/market_maker_instruments.toml"
    proc = run_toolkit("catalog", "instruments", "--catalog", str(catalog), instruments)
    assert proc.returncode == 0, proc.stderr
    crypto = shared_data / "crypto"
    proc = run_toolkit(
        "catalog", "import", "--format", "binance_depth", "--instrument", "BTCUSDT-PERP.BINANCE",
        "--catalog", str(catalog), "--fix", "dedupe",
        str(crypto / "binance-futures-btcusdt-depth-snap-2022-11-01.csv"),
        str(crypto / "binance-futures-btcusdt-depth-update-2022-11-01.csv"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "imported deltas/BTCUSDT-PERP.BINANCE: 193 rows" in proc.stdout
    config = run_file_with_catalog(BINANCE_RUN_FILE, catalog, tmp_path)
    proc = run_toolkit("backtest", str(config), "--output", str(tmp_path / "out"), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "Backtest" in proc.stdout and "Account BINANCE-001 (USDT)" in proc.stdout
    assert dict(summary_figures(proc.stdout)) == {"Orders": 2, "Fills": 0}
    # The snapshot holds bids only (no mid, no quotes); the one update brings asks: one post-only quote per
    # side at the mid -/+ 2 ticks (0.1) rounded outward, cancelled when the run stops.
    book = OrderBook(InstrumentId("BTCUSDT-PERP.BINANCE"))
    for delta in DataCatalog(catalog).query_objects("deltas", "BTCUSDT-PERP.BINANCE"):
        book.apply_delta(delta)
    assert book.best_bid_price is not None and book.best_ask_price is not None
    mid = (Decimal(book.best_bid_price) + Decimal(book.best_ask_price)) / 2 / 10**9
    tick = Decimal("0.1")
    expected_bid = ((mid - 2 * tick) / tick).to_integral_value(ROUND_FLOOR) * tick
    expected_ask = ((mid + 2 * tick) / tick).to_integral_value(ROUND_CEILING) * tick
    orders = pl.read_parquet(tmp_path / "out" / "orders" / "*.parquet").sort("side")
    assert orders.select("side", "status", "post_only").rows() == [
        ("BUY", "CANCELED", True),
        ("SELL", "CANCELED", True),
    ]
    assert orders["price"].to_list() == [expected_bid, expected_ask]
    assert orders["quantity"].to_list() == [Decimal("0.010"), Decimal("0.010")]
