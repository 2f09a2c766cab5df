"""`toolkit bench`: seeded, self-generating benchmarks of the backtest engine, each against its engine-free floor.

Workloads (`--workload`, default `w1`): W1 quotes-light (1,000,000 quotes, `ema_cross_ticks` EMA(500)/EMA(2000),
market orders), W2 quotes-heavy (100,000 quotes, EMA(10)/EMA(20); best of three, plus the engine time per order
round trip), W3 bars (1,000,000 one-minute bars, `ema_cross` EMA(10)/EMA(20)), W4 book (1,000,000 L2 deltas,
`market_maker` re-quoting both sides on an L2_MBP venue) and W5 stream (10,000,000 quotes in a chunked catalog:
a one-day query, decoding, then the W1 strategy over all of it; `catalog` is its old name, `ticks` W1's). Each
generates its data into a temporary catalog (timed, reported, not part of the figures), then a child process
(so peak RSS is the run's own) times `BacktestEngine.run()` streaming from the catalog, repeats the run untimed
with a recorder, and times the floor of `toolkit.bench_floor`: the same strategy class over the same decoded
objects with no engine, making the same decisions (checked send by send). Printed per workload and as a
summary table: events/s, orders/s, wall, peak RSS, time to the first event, floor events/s and engine/floor;
`--json FILE` writes every figure with the date, machine, Python version and git commit. `live-latency`
(a `TradingNode` with loopback clients) and `database` (the SQLite cache database) run only when named or with
`all`. Nothing here fails on speed; see docs/performance.md for the method and the figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import chain
from pathlib import Path
from typing import Any

import msgspec

from toolkit.backtest.engine import BacktestEngine
from toolkit.bench_floor import Recorder, Recording, run_floor, signature
from toolkit.catalog.generator import REGULAR, generated_chunks, write_generated, write_generated_quotes
from toolkit.catalog.parquet import DataCatalog
from toolkit.engine import topics
from toolkit.model.data import BarType, QuoteTick
from toolkit.model.enums import AccountType, BookType, OmsType, OrderSide
from toolkit.model.events import OrderFilled
from toolkit.model.identifiers import InstrumentId
from toolkit.model.instruments import Instrument, instrument_from_dict
from toolkit.model.objects import Currency, Money, Quantity
from toolkit.model.orders import Order
from toolkit.trading.config import StrategyConfig
from toolkit.trading.loader import StrategyTable, load_strategy
from toolkit.trading.strategy import Strategy

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DAY_NS = 86_400_000_000_000
BENCH_INSTRUMENT = {
    "kind": "CurrencyPair",
    "id": "EUR/USD.SIM",
    "base_currency": "EUR",
    "quote_currency": "USD",
    "price_increment": "0.00001",
    "size_increment": "1",
    "margin_init": "0.03",
    "margin_maint": "0.03",
    "maker_fee": "0.00002",
    "taker_fee": "0.00002",
}
BAR_TYPE = "EUR/USD.SIM-1-MINUTE-BID-EXTERNAL"
ALIASES = {"ticks": "w1", "catalog": "w5"}
WORKLOAD_CHOICES = ["w1", "w2", "w3", "w4", "w5", "all", "ticks", "catalog", "live-latency", "database"]


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB: Linux's VmHWM, the high-water mark of this process's own
    memory since it started (ru_maxrss would also count the parent's peak, which a child inherits across
    fork and exec), else ru_maxrss (KiB on Linux, bytes on macOS)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


@dataclass(frozen=True)
class Workload:
    """One standard workload: its data, its strategy (a `file.py:Class` path and config) and how it is timed."""

    key: str
    name: str
    default_events: int
    data_type: str  # quotes | bars | deltas
    strategy_path: str
    config: dict[str, Any] = field(default_factory=dict)
    book_type: BookType = BookType.L1_MBP
    repeat: int = 1  # engine and floor runs; the best (shortest) is reported
    round_trip: bool = False  # also time runs that never send an order (W2)

    @property
    def label(self) -> str:
        return f"{self.key.upper()} {self.name}"

    def request(self) -> tuple[str, InstrumentId | BarType]:
        if self.data_type == "bars":
            return ("bars", BarType.from_str(self.config["bar_type"]))
        return (self.data_type, InstrumentId(self.config["instrument_id"]))

    def topic(self) -> str:
        kind, ident = self.request()
        if kind == "bars":
            return topics.bars_topic(ident)
        return topics.deltas_topic(ident) if kind == "deltas" else topics.quotes_topic(ident)

    def describe(self, events: int) -> str:
        what = {"quotes": "quotes", "bars": "one-minute bid bars", "deltas": "L2 book deltas"}[self.data_type]
        strategy = self.strategy_path.rpartition("/")[2]
        periods = ""
        if "fast_ema_period" in self.config:
            periods = f" EMA({self.config['fast_ema_period']})/EMA({self.config['slow_ema_period']})"
        return f"{events:,} {what}, {strategy}{periods}, streamed from a catalog"


_EMA_TICKS = "strategies/ema_cross_ticks.py:EMACrossTicks"
_TICKS_CONFIG = {"instrument_id": BENCH_INSTRUMENT["id"], "trade_size": "100000"}
WORKLOADS: dict[str, Workload] = {
    "w1": Workload(
        "w1",
        "quotes-light",
        1_000_000,
        "quotes",
        _EMA_TICKS,
        {**_TICKS_CONFIG, "fast_ema_period": 500, "slow_ema_period": 2000},
    ),
    "w2": Workload(
        "w2",
        "quotes-heavy",
        100_000,
        "quotes",
        _EMA_TICKS,
        {**_TICKS_CONFIG, "fast_ema_period": 10, "slow_ema_period": 20},
        repeat=3,
        round_trip=True,
    ),
    "w3": Workload(
        "w3",
        "bars",
        1_000_000,
        "bars",
        "strategies/ema_cross.py:EMACross",
        {**_TICKS_CONFIG, "bar_type": BAR_TYPE, "fast_ema_period": 10, "slow_ema_period": 20},
    ),
    "w4": Workload(
        "w4",
        "book",
        1_000_000,
        "deltas",
        "strategies/market_maker.py:MarketMaker",
        {
            "instrument_id": BENCH_INSTRUMENT["id"],
            "order_size": "100000",
            "max_position": "300000",
            "half_spread_ticks": 1,
            "skew_ticks": 1,
            "requote": "modify",
        },
        book_type=BookType.L2_MBP,
    ),
    "w5": Workload(
        "w5",
        "stream",
        10_000_000,
        "quotes",
        _EMA_TICKS,
        {**_TICKS_CONFIG, "fast_ema_period": 500, "slow_ema_period": 2000},
    ),
}


# ---- data -------------------------------------------------------------------------------------------------


def generate(workload: Workload, catalog_dir: Path, events: int, seed: int) -> tuple[DataCatalog, float]:
    """Write the workload's `events` data objects (seeded) into a new catalog; return it and the seconds taken."""
    instrument = instrument_from_dict(BENCH_INSTRUMENT)
    catalog = DataCatalog(catalog_dir)
    catalog.write_instruments([instrument])
    started = time.perf_counter()
    if workload.data_type == "quotes":
        write_generated_quotes(
            catalog, instrument, events, seed=seed, start_price="1.10000", volatility_ticks=0.6, size="1000000"
        )
    elif workload.data_type == "bars":
        write_generated(catalog, "bars", instrument, events, bar_type=BAR_TYPE, seed=seed)
    else:
        # `count` of the delta generator counts venue updates (one or more deltas each): take updates until
        # exactly `events` deltas are written (the last update may be cut short; nothing depends on it).
        written = 0
        frames = generated_chunks(
            "deltas", instrument, events, chunk=min(events, 250_000), seed=seed, volatility_ticks=1.0, activity=REGULAR
        )
        for frame in frames:
            frame = frame.head(events - written)
            if frame.height:
                catalog.write("deltas", instrument.id, frame)
                written += frame.height
            if written >= events:
                break
    return catalog, time.perf_counter() - started


def _generate(catalog_dir: Path, events: int, seed: int) -> tuple[DataCatalog, float]:
    """Quotes as W1 generates them (used by the catalog and live-latency workloads)."""
    return generate(WORKLOADS["w1"], catalog_dir, events, seed)


# ---- one engine run ---------------------------------------------------------------------------------------


def make_strategy(workload: Workload) -> Strategy:
    return load_strategy(
        StrategyTable(path=str(PROJECT_ROOT / workload.strategy_path), config=dict(workload.config)), "<bench>"
    )


def without_orders(strategy: Strategy) -> Strategy:
    """A fresh instance of the strategy's class whose `submit_order` only counts: the same callbacks, indicator
    updates, decisions and orders built, but nothing is sent (W2's order round trip is the difference)."""
    base: Any = type(strategy)

    class WithoutOrders(base):  # type: ignore[misc, valid-type]
        withheld = 0

        def submit_order(self, order: Order, position_id: Any = None) -> None:
            self.withheld += 1

    return WithoutOrders(strategy.config)  # type: ignore[no-any-return]


def build_engine(
    workload: Workload, catalog: DataCatalog, instrument: Instrument, stamps: list[float]
) -> BacktestEngine:
    """The workload's engine with its venue, instrument and catalog stream (no strategy yet). The stream factory
    appends the moment the first object is decoded to `stamps` (no per-object cost: a C-level chain follows)."""
    engine = BacktestEngine()
    engine.add_venue(
        "SIM",
        OmsType.NETTING,
        AccountType.MARGIN,
        [Money.of(1_000_000, "USD")],
        base_currency=Currency.from_str("USD"),
        default_leverage=Decimal(50),
        book_type=workload.book_type,
    )
    engine.add_instrument(instrument)
    request = workload.request()

    def stream() -> Iterator[Any]:
        objects = catalog.stream_objects([request])
        first = next(objects, None)
        stamps.append(time.perf_counter())
        return iter(()) if first is None else chain((first,), objects)

    bar_types = [request[1]] if isinstance(request[1], BarType) else []
    engine.add_data_stream(stream, bar_types=bar_types)
    return engine


@dataclass
class EngineRun:
    engine: BacktestEngine
    started: float
    wall_s: float
    first_event_at: float | None

    @property
    def time_to_first_event_s(self) -> float | None:
        return None if self.first_event_at is None else self.first_event_at - self.started


def run_engine(
    workload: Workload,
    catalog: DataCatalog,
    instrument: Instrument,
    strategy: Strategy,
    recorder: Recorder | None = None,
) -> EngineRun:
    """Time `BacktestEngine.run()` of the workload with `strategy` (everything else is set up before)."""
    stamps: list[float] = []
    engine = build_engine(workload, catalog, instrument, stamps)
    if recorder is not None:
        recorder.install(strategy)
    engine.add_strategy(strategy)
    if recorder is not None:
        recorder.attach_bus(strategy)
    started = time.perf_counter()
    engine.run()
    wall = time.perf_counter() - started
    return EngineRun(engine, started, wall, stamps[0] if stamps else None)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _per_s(count: int, seconds: float) -> int | None:
    return round(count / seconds) if seconds > 0 else None


def measure(workload: Workload, catalog_dir: Path) -> dict[str, Any]:
    """One workload over an existing catalog, in this process: the engine run(s), timed (the best of
    `workload.repeat`; W2 also times runs that send no order), peak RSS, then one untimed recording run and
    the floor run(s), timed the same way."""
    process_started = time.perf_counter()
    catalog = DataCatalog(catalog_dir)
    instrument = catalog.instruments()[0]
    runs: list[EngineRun] = []
    no_orders: list[float] = []
    withheld = 0
    first_event_from_start: float | None = None
    for _ in range(workload.repeat):
        runs.append(run_engine(workload, catalog, instrument, make_strategy(workload)))
        if first_event_from_start is None and runs[-1].first_event_at is not None:
            first_event_from_start = runs[-1].first_event_at - process_started
        if len(runs) > 1:  # keep only the best engine (its cache holds the orders)
            runs = [min(runs, key=lambda r: r.wall_s)]
        if workload.round_trip:
            dry = without_orders(make_strategy(workload))
            no_orders.append(run_engine(workload, catalog, instrument, dry).wall_s)
            withheld = dry.withheld  # type: ignore[attr-defined]
    rss = peak_rss_mb()
    best = runs[0]
    engine, wall = best.engine, best.wall_s
    orders = engine.cache.orders()
    events = engine.events_processed
    figures: dict[str, Any] = {
        "workload": workload.label,
        "description": workload.describe(events),
        "events": events,
        "wall_s": round(wall, 3),
        "events_per_s": _per_s(events, wall),
        "time_to_first_event_s": _round(best.time_to_first_event_s),
        "process_start_to_first_event_s": _round(first_event_from_start),
        "orders": len(orders),
        "fills": sum(1 for o in orders for e in o.events if type(e) is OrderFilled),
        "orders_per_s": round(len(orders) / wall, 1) if wall > 0 else None,
        "peak_rss_mb": round(rss, 1),
        "final_balance": str(engine.cache.accounts()[0].balance_total()),
    }
    if workload.data_type == "bars":
        figures["bars_per_s"] = figures["events_per_s"]
    if workload.round_trip:
        figures["no_orders_wall_s"] = round(min(no_orders), 3)
        figures["no_orders_decisions"] = withheld
        round_trip = (wall - min(no_orders)) / len(orders) * 1e6 if orders else None
        figures["round_trip_us"] = _round(round_trip, 1)
    del runs, best, engine, orders

    recorder = Recorder()
    recorded = run_engine(workload, catalog, instrument, make_strategy(workload), recorder)
    recording = recorder.recording
    if len(recorded.engine.cache.orders()) != figures["orders"] or recording.data_calls != events:
        raise RuntimeError(f"{workload.label}: the recording run differs from the timed run (not deterministic?)")
    del recorded
    figures.update(floor_figures(workload, catalog, instrument, recording, wall))
    figures["repeat"] = workload.repeat
    return figures


def floor_figures(
    workload: Workload, catalog: DataCatalog, instrument: Instrument, recording: Recording, engine_wall: float
) -> dict[str, Any]:
    """The floor run(s) of the workload (best of `workload.repeat`) and how they compare with the engine's."""
    best = None
    for _ in range(workload.repeat):
        result = run_floor(
            make_strategy(workload),
            _opener(catalog, workload),
            workload.topic(),
            instrument,
            recording,
            keep_book=workload.data_type == "deltas",
        )
        if best is None or result.wall_s < best.wall_s:
            best = result
    assert best is not None
    kinds = Counter(sent[0] for sent in recording.sent)
    return {
        "modifies": kinds["ModifyOrder"],
        "cancels": kinds["CancelOrder"] + kinds["CancelAllOrders"],
        "floor_events": best.events,
        "floor_wall_s": round(best.wall_s, 3),
        "floor_events_per_s": _per_s(best.events, best.wall_s),
        "floor_time_to_first_event_s": _round(best.time_to_first_event_s),
        "floor_orders": best.orders,
        "floor_same_decisions": [signature(msg) for msg in best.sent] == recording.sent,
        "engine_floor_ratio": round(engine_wall / best.wall_s, 2) if best.wall_s > 0 else None,
    }


def _opener(catalog: DataCatalog, workload: Workload) -> Callable[[], Iterator[Any]]:
    request = workload.request()
    return lambda: catalog.stream_objects([request])


def run_child(workload: Workload, catalog_dir: Path) -> dict[str, Any]:
    """`measure` in a fresh Python process (its peak RSS is the run's own); the figures come back as JSON."""
    child = subprocess.run(
        [sys.executable, "-m", "toolkit.bench", "--child", workload.key, str(catalog_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        raise RuntimeError(f"the {workload.label} child process failed:\n{child.stderr}")
    return json.loads(child.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def workload_standard(workload: Workload, events: int, seed: int) -> dict[str, Any]:
    """W1-W4: generate into a temporary catalog, then measure in a child process."""
    with tempfile.TemporaryDirectory(prefix=f"toolkit-bench-{workload.key}-") as tmp:
        _, generate_s = generate(workload, Path(tmp), events, seed)
        figures = run_child(workload, Path(tmp))
    figures["generate_s"] = round(generate_s, 3)
    return figures


def one_day_query(catalog_dir: Path, first_ts: int) -> dict[str, Any]:
    """A one-day range query on a fresh catalog object (first query), then the best of three more."""
    start, end = first_ts + DAY_NS, first_ts + 2 * DAY_NS - 1
    timings = []
    rows = 0
    for _ in range(4):
        catalog = DataCatalog(catalog_dir)
        started = time.perf_counter()
        frame = catalog.query("quotes", BENCH_INSTRUMENT["id"], start, end)
        timings.append(time.perf_counter() - started)
        rows = frame.height
    return {
        "one_day_rows": rows,
        "one_day_query_first_ms": round(timings[0] * 1000, 1),
        "one_day_query_best_ms": round(min(timings[1:]) * 1000, 1),
    }


def decode_throughput(catalog_dir: Path, rows: int = 1_000_000) -> float:
    catalog = DataCatalog(catalog_dir)
    started = time.perf_counter()
    count = 0
    for count, _ in enumerate(catalog.stream_objects([("quotes", BENCH_INSTRUMENT["id"])]), start=1):
        if count >= rows:
            break
    return count / (time.perf_counter() - started)


def workload_catalog(events: int, seed: int) -> dict[str, Any]:
    """W5: `events` quotes written into a catalog in chunks; a one-day range query on it (a fresh `DataCatalog`,
    as a user's first query); decoding throughput; then W1's strategy streaming all of it in a child process
    (engine figures prefixed `backtest_`, then the floor's)."""
    workload = WORKLOADS["w5"]
    with tempfile.TemporaryDirectory(prefix="toolkit-bench-catalog-") as tmp:
        catalog_dir = Path(tmp)
        catalog, generate_s = generate(workload, catalog_dir, events, seed)
        info = next(d for d in catalog.list_datasets() if d.data_type == "quotes")
        disk_mb = sum(p.stat().st_size for p in catalog_dir.rglob("*.parquet")) / 2**20
        figures: dict[str, Any] = {
            "workload": workload.label,
            "description": f"catalog of {events:,} quotes; then " + workload.describe(events),
            "generate_s": round(generate_s, 2),
            "generate_peak_rss_mb": round(peak_rss_mb(), 1),
            "catalog_parts": info.parts,
            "catalog_mb_on_disk": round(disk_mb, 1),
            "days_of_data": round((info.last_ts_init - info.first_ts_init) / DAY_NS, 1),  # type: ignore[operator]
        }
        figures.update(one_day_query(catalog_dir, info.first_ts_init))  # type: ignore[arg-type]
        figures["decode_objects_per_s"] = round(decode_throughput(catalog_dir))
        child = run_child(workload, catalog_dir)
    for key, value in child.items():
        if key in ("workload", "description"):
            continue
        unprefixed = key.startswith(("floor_", "engine_floor")) or key in ("modifies", "cancels", "repeat")
        figures[key if unprefixed else f"backtest_{key}"] = value
    return figures


class OrderEveryQuote(Strategy):
    """Bench probe: a market order on every quote, alternating sides (keeps the position small)."""

    def __init__(self, config: OrderEveryQuoteConfig) -> None:
        super().__init__(config)
        self.buy = True

    def on_start(self) -> None:
        self.subscribe_quote_ticks(self.config.instrument_id)  # type: ignore[attr-defined]

    def on_quote_tick(self, tick: QuoteTick) -> None:
        side = OrderSide.BUY if self.buy else OrderSide.SELL
        self.buy = not self.buy
        self.submit_order(self.order_factory.market(tick.instrument_id, side, self.config.trade_size))  # type: ignore[attr-defined]


class OrderEveryQuoteConfig(StrategyConfig):
    instrument_id: InstrumentId
    trade_size: Quantity


def workload_live_latency(events: int) -> dict[str, Any]:
    """Market data in -> order request out, through a real TradingNode with in-process loopback clients."""
    from toolkit.live.config import node_config_from_dict
    from toolkit.live.node import TradingNode

    loopback = "toolkit.live.loopback:LoopbackClientFactory"
    with tempfile.TemporaryDirectory(prefix="toolkit-bench-live-") as tmp:
        catalog_dir = Path(tmp) / "catalog"
        catalog, _ = _generate(catalog_dir, events, 11)
        feed = list(catalog.stream_objects([("quotes", BENCH_INSTRUMENT["id"])]))
        instruments = Path(tmp) / "instruments.toml"
        instruments.write_text(
            "[[instruments]]\n" + "\n".join(f'{k} = "{v}"' for k, v in BENCH_INSTRUMENT.items()) + "\n"
        )
        config = node_config_from_dict(
            {
                "trader_id": "BENCH-001",
                "snapshot_dir": str(Path(tmp) / "snapshots"),
                "instruments_file": str(instruments),
                "data_clients": {"LOOP": {"factory": loopback}},
                "exec_clients": {"LOOP": {"factory": loopback}},
                # Quotes arrive as fast as the node takes them: lift the 100/s submit throttle, else
                # denied orders would leave quotes unanswered (the figure is the path, not the limit).
                "risk_engine": {"max_order_submit_rate": "100000000/00:00:01"},
                "strategies": [
                    {
                        "path": "toolkit.bench:OrderEveryQuote",
                        "config": {"instrument_id": BENCH_INSTRUMENT["id"], "trade_size": "1000"},
                    }
                ],
            },
            source="<bench>",
        )

        async def scenario() -> tuple[list[int], list[int]]:
            node = TradingNode(config, source="<bench>", snapshot_path=Path(tmp) / "snap")
            data = node.data_clients["LOOP"]
            execution = node.exec_clients["LOOP"]
            data.feed = feed  # type: ignore[attr-defined]
            task = asyncio.get_running_loop().create_task(node.run_async())
            await data.done.wait()  # type: ignore[attr-defined]
            node.stop()
            await task
            node.dispose()
            return data.received_ns, list(execution.sent_ns.values())  # type: ignore[attr-defined]

        received, sent = asyncio.run(scenario())
    pairs = list(zip(received, sent[: len(received)], strict=False))
    latencies = sorted((b - a) / 1000 for a, b in pairs)

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 1)

    return {
        "workload": f"live node internal latency, {len(pairs):,} quotes each answered by an order",
        "events": len(pairs),
        "latency_p50_us": pct(0.50),
        "latency_p90_us": pct(0.90),
        "latency_p99_us": pct(0.99),
        "latency_max_us": round(latencies[-1], 1),
    }


def workload_database(events: int) -> dict[str, Any]:
    """Order events through the SQLite cache database: time to queue (the event loop's cost) and time until
    persisted, write-through versus 10 ms write-behind."""
    from toolkit.core.clock import LiveClock
    from toolkit.core.log import Logger
    from toolkit.live.config import CacheConfig, DatabaseConfig
    from toolkit.model.enums import OrderType
    from toolkit.model.events import OrderAccepted, OrderInitialized
    from toolkit.model.identifiers import AccountId, ClientOrderId, StrategyId, TraderId, VenueOrderId
    from toolkit.persistence.database import open_cache_database

    log = Logger("bench-db", LiveClock())
    per_order = 2
    stream = []
    for i in range(events // per_order):
        ident = {
            "trader_id": TraderId("BENCH-001"),
            "strategy_id": StrategyId("S-001"),
            "instrument_id": InstrumentId(BENCH_INSTRUMENT["id"]),
            "client_order_id": ClientOrderId(f"O-{i}"),
        }
        stream.append(
            OrderInitialized(
                **ident,
                order_side=OrderSide.BUY,
                order_type=OrderType.MARKET,
                quantity=Quantity.from_int(1000),
                ts_event=i,
                ts_init=i,
            )
        )
        stream.append(
            OrderAccepted(
                **ident, venue_order_id=VenueOrderId(f"V-{i}"), account_id=AccountId("SIM-001"), ts_event=i, ts_init=i
            )
        )
    figures: dict[str, Any] = {"workload": f"cache database (SQLite), {len(stream):,} order events"}
    with tempfile.TemporaryDirectory(prefix="toolkit-bench-db-") as tmp:
        for label, interval in (("write_through", None), ("write_behind_10ms", 10)):
            config = CacheConfig(
                database=DatabaseConfig(path=str(Path(tmp) / f"{label}.db")), buffer_interval_ms=interval
            )
            db = open_cache_database("BENCH-001", config, log, tmp)
            assert db is not None
            started = time.perf_counter()
            for event in stream:
                db.add_order_event(event, None)
            queued = time.perf_counter() - started
            db.flush(600)
            total = time.perf_counter() - started
            db.close()
            figures[f"{label}_queue_per_s"] = round(len(stream) / queued)
            figures[f"{label}_persisted_per_s"] = round(len(stream) / total)
    return figures


def git_commit() -> dict[str, Any]:
    """HEAD of the checkout the bench ran from, and whether it had uncommitted changes (None outside git)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": commit, "git_dirty": bool(status.strip())}


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }


def label(key: str) -> str:
    """`events_per_s` -> `events/s`, `peak_rss_mb` -> `peak RSS (MiB)`, `wall_s` -> `wall (s)`."""
    text = key.replace("_per_s", "/s").replace("rss", "RSS")
    for suffix, unit in (("_mb", " (MiB)"), ("_ms", " (ms)"), ("_us", " (µs)"), ("_s", " (s)")):
        if text.endswith(suffix):
            text = text[: -len(suffix)] + unit
            break
    return text.replace("_", " ")


def _print(figures: dict[str, Any]) -> None:
    width = max(len(label(key)) for key in figures)
    for key, value in figures.items():
        shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
        print(f"  {label(key):<{width}}  {shown}")


def _figure(figures: dict[str, Any], key: str) -> Any:
    return figures.get(key, figures.get(f"backtest_{key}"))


def _show(figures: dict[str, Any], key: str, unit: str = "") -> str:
    value = _figure(figures, key)
    if value is None:
        return "-"
    return (f"{value:,}" if isinstance(value, int) else f"{value:,.2f}".rstrip("0").rstrip(".")) + unit


def summary(results: list[dict[str, Any]]) -> list[str]:
    """One line per W workload: the figures to compare across runs and machines."""
    header = ("workload", "events", "engine wall", "engine ev/s", "floor ev/s", "engine/floor", "orders", "orders/s")
    rows = [(*header, "peak RSS")]
    for figures in results:
        if "engine_floor_ratio" not in figures:
            continue
        rows.append(
            (
                figures["workload"],
                _show(figures, "events"),
                _show(figures, "wall_s", " s"),
                _show(figures, "events_per_s"),
                _show(figures, "floor_events_per_s"),
                _show(figures, "engine_floor_ratio"),
                _show(figures, "orders"),
                _show(figures, "orders_per_s"),
                _show(figures, "peak_rss_mb", " MiB"),
            )
        )
    if len(rows) == 1:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]


def run_file_text(workload: Workload, catalog_dir: Path) -> str:
    """A `toolkit backtest` run file for the workload over `catalog_dir`: the bench's strategy, config and venue."""
    request = workload.request()
    if workload.data_type == "bars":
        data = f'type = "bars"\nbar_type = "{request[1]}"'
    else:
        data = f'type = "{workload.data_type}"\ninstrument_id = "{request[1]}"'
    config = "\n".join(f"{key} = {msgspec.json.encode(value).decode()}" for key, value in workload.config.items())
    path, name = workload.strategy_path.split(":")
    book = f'book_type = "{workload.book_type.value}"\n' if workload.book_type is not None else ""
    return (
        f'[strategy]\npath = "{PROJECT_ROOT / path}:{name}"\n\n[strategy.config]\n{config}\n\n'
        f'[backtest]\ncatalog = "{catalog_dir}"\n\n[[backtest.data]]\n{data}\n\n'
        '[backtest.venue]\nname = "SIM"\noms_type = "NETTING"\naccount_type = "MARGIN"\nbase_currency = "USD"\n'
        f'starting_balances = ["1000000 USD"]\ndefault_leverage = "50"\n{book}'
    )


def write_runs(folder: Path, events: int | None = None, seed: int = 7) -> list[Path]:
    """Generate W1-W4's data (as the bench does) into `folder/<w>/catalog` and write `folder/<w>/run.toml`, so
    `toolkit backtest` of two versions of the engine on the same data can be compared with `toolkit parity`."""
    paths = []
    for key in ("w1", "w2", "w3", "w4"):
        workload = WORKLOADS[key]
        catalog_dir = folder / key / "catalog"
        if not catalog_dir.exists():
            generate(workload, catalog_dir, events or workload.default_events, seed)
        run = folder / key / "run.toml"
        run.write_text(run_file_text(workload, catalog_dir))
        paths.append(run)
    return paths


def main(events: int | None = None, seed: int = 7, json_path: str | None = None, workload: str = "w1") -> int:
    """Run the chosen workload(s), print their figures and a summary, optionally write them as JSON.

    `events` overrides the event count of every W workload that runs (W5 included); live-latency and database
    take it only when named alone."""
    chosen = ALIASES.get(workload, workload)
    if chosen not in WORKLOAD_CHOICES:
        raise ValueError(f"unknown workload {workload!r} (choose from {', '.join(WORKLOAD_CHOICES)})")
    checkout = git_commit()  # the code measured: taken before the run, the checkout may change meanwhile
    started = datetime.now().astimezone()
    results: list[dict[str, Any]] = []
    for key in ("w1", "w2", "w3", "w4"):
        if chosen in (key, "all"):
            spec = WORKLOADS[key]
            n = events or spec.default_events
            print(f"toolkit bench {spec.label}: {spec.describe(n)} (seed {seed})", flush=True)
            figures = workload_standard(spec, n, seed)
            _print(figures)
            results.append(figures)
    if chosen in ("w5", "all"):
        n = events or WORKLOADS["w5"].default_events
        print(f"toolkit bench W5 stream: {n:,} generated quotes in a catalog (seed {seed})", flush=True)
        figures = workload_catalog(n, seed)
        _print(figures)
        results.append(figures)
    if chosen in ("live-latency", "all"):
        n = events if events and chosen == "live-latency" else 10_000
        print(f"toolkit bench live-latency: {n:,} quotes through a TradingNode (loopback clients)", flush=True)
        figures = workload_live_latency(n)
        _print(figures)
        results.append(figures)
    if chosen in ("database", "all"):
        n = events if events and chosen == "database" else 100_000
        print(f"toolkit bench database: {n:,} order events into the SQLite cache database", flush=True)
        figures = workload_database(n)
        _print(figures)
        results.append(figures)
    lines = summary(results)
    if lines:
        print("summary (engine: BacktestEngine.run(); floor: the strategy alone, docs/performance.md)")
        for line in lines:
            print(f"  {line}")
    if json_path:
        record = {
            "date": started.isoformat(timespec="seconds"),
            "python": platform.python_version(),
            **checkout,
            "machine": machine(),
            "seed": seed,
            "results": results,
        }
        Path(json_path).write_text(json.dumps(record, indent=2))
        print(f"figures written to {json_path}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(measure(WORKLOADS[sys.argv[2]], Path(sys.argv[3]))))
        sys.exit(0)
    sys.exit(main())
