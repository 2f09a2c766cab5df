"""`toolkit bench`: seeded, self-generating benchmarks of the backtest and the catalog.

Workloads (`--workload`):
- `ticks` (default): N quote ticks (default 1,000,000) generated into a temporary catalog, then the
  `ema_cross_ticks` strategy (EMA(500)/EMA(2000) on the mid) backtested over them, streaming from
  the catalog (Parquet decoding is part of the measured run): events/s, wall, orders, fills, RSS.
- `catalog`: N quotes (default 10,000,000) written into a catalog in chunks; a one-day range query
  on it (fresh `DataCatalog`, as a user's first query); decoding throughput; then the same tick EMA
  backtest streaming all N quotes, run in a child process so its peak RSS and its time to the first
  event are its own.
- `live-latency`: a `TradingNode` with in-process loopback clients (`toolkit.live.loopback`) and a probe
  strategy that answers every quote with a market order: the node's internal latency from a market
  data message handed to the node to the order request leaving it, p50/p90/p99 over N events
  (default 10,000).
- `database`: N order events (default 100,000) into the SQLite cache database, write-through and 10 ms
  write-behind: the rate the event loop can queue them and the rate they are persisted.
- `all`: every workload.
Figures print as a table; `--json FILE` also writes them. Nothing here fails on speed.
"""

from __future__ import annotations

import asyncio
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from toolkit.backtest.engine import BacktestEngine
from toolkit.catalog.generator import write_generated_quotes
from toolkit.catalog.parquet import DataCatalog
from toolkit.model.data import QuoteTick
from toolkit.model.enums import AccountType, OmsType, OrderSide
from toolkit.model.events import OrderFilled
from toolkit.model.identifiers import InstrumentId
from toolkit.model.instruments import instrument_from_dict
from toolkit.model.objects import Currency, Money, Quantity
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


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _generate(catalog_dir: Path, events: int, seed: int) -> tuple[DataCatalog, float]:
    instrument = instrument_from_dict(BENCH_INSTRUMENT)
    catalog = DataCatalog(catalog_dir)
    catalog.write_instruments([instrument])
    started = time.perf_counter()
    write_generated_quotes(
        catalog, instrument, events, seed=seed, start_price="1.10000", volatility_ticks=0.6, size="1000000"
    )
    return catalog, time.perf_counter() - started


def run_tick_backtest(catalog_dir: Path, fast: int = 500, slow: int = 2000) -> dict[str, Any]:
    """Backtest EMACrossTicks over every quote of the catalog; wall, events/s, time to first event."""
    process_started = time.perf_counter()
    catalog = DataCatalog(catalog_dir)
    instrument = catalog.instruments()[0]
    strategy = load_strategy(
        StrategyTable(
            path=str(PROJECT_ROOT / "strategies" / "ema_cross_ticks.py") + ":EMACrossTicks",
            config={
                "instrument_id": str(instrument.id),
                "trade_size": "100000",
                "fast_ema_period": fast,
                "slow_ema_period": slow,
            },
        ),
        "<bench>",
    )
    engine = BacktestEngine()
    engine.add_venue(
        "SIM",
        OmsType.NETTING,
        AccountType.MARGIN,
        [Money.of(1_000_000, "USD")],
        base_currency=Currency.from_str("USD"),
        default_leverage=Decimal(50),
    )
    engine.add_instrument(instrument)
    first_event: list[float] = []

    def stream():  # type: ignore[no-untyped-def]
        objects = catalog.stream_objects([("quotes", instrument.id)])
        first = next(objects, None)
        first_event.append(time.perf_counter())
        if first is not None:
            yield first
            yield from objects

    engine.add_data_stream(stream)
    engine.add_strategy(strategy)
    started = time.perf_counter()
    engine.run()
    wall = time.perf_counter() - started
    orders = engine.cache.orders()
    return {
        "workload": f"ema_cross_ticks EMA({fast})/EMA({slow}) streaming from a catalog",
        "events": engine.events_processed,
        "wall_s": round(wall, 3),
        "events_per_s": round(engine.events_processed / wall) if wall > 0 else None,
        "time_to_first_event_s": round(first_event[0] - started, 3) if first_event else None,
        "process_start_to_first_event_s": round(first_event[0] - process_started, 3) if first_event else None,
        "orders": len(orders),
        "fills": sum(1 for o in orders for e in o.events if type(e) is OrderFilled),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "final_balance": str(engine.cache.accounts()[0].balance_total()),
    }


def workload_ticks(events: int, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="toolkit-bench-") as tmp:
        _, generate_s = _generate(Path(tmp), events, seed)
        figures = run_tick_backtest(Path(tmp))
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
    with tempfile.TemporaryDirectory(prefix="toolkit-bench-catalog-") as tmp:
        catalog_dir = Path(tmp)
        catalog, generate_s = _generate(catalog_dir, events, seed)
        info = next(d for d in catalog.list_datasets() if d.data_type == "quotes")
        disk_mb = sum(p.stat().st_size for p in catalog_dir.rglob("*.parquet")) / 2**20
        figures: dict[str, Any] = {
            "workload": f"catalog of {events:,} quotes",
            "generate_s": round(generate_s, 2),
            "generate_peak_rss_mb": round(peak_rss_mb(), 1),
            "catalog_parts": info.parts,
            "catalog_mb_on_disk": round(disk_mb, 1),
            "days_of_data": round((info.last_ts_init - info.first_ts_init) / DAY_NS, 1),  # type: ignore[operator]
        }
        figures.update(one_day_query(catalog_dir, info.first_ts_init))  # type: ignore[arg-type]
        figures["decode_objects_per_s"] = round(decode_throughput(catalog_dir))
        child = subprocess.run(
            [sys.executable, "-m", "toolkit.bench", "--child-backtest", str(catalog_dir)],
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            raise RuntimeError(f"the streaming backtest child failed:\n{child.stderr}")
        backtest = json.loads(child.stdout.strip().splitlines()[-1])
        figures.update({f"backtest_{key}": value for key, value in backtest.items() if key != "workload"})
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


def machine() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
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
        shown = f"{value:,}" if isinstance(value, int) else str(value)
        print(f"  {label(key):<{width}}  {shown}")


def main(events: int | None = None, seed: int = 7, json_path: str | None = None, workload: str = "ticks") -> int:
    results = []
    if workload in ("ticks", "all"):
        n = events or 1_000_000
        print(f"toolkit bench ticks: {n:,} generated quote ticks through ema_cross_ticks (seed {seed})", flush=True)
        figures = workload_ticks(n, seed)
        _print(figures)
        results.append(figures)
    if workload in ("catalog", "all"):
        n = events if events and workload == "catalog" else 10_000_000
        print(f"toolkit bench catalog: {n:,} generated quotes in a catalog (seed {seed})", flush=True)
        figures = workload_catalog(n, seed)
        _print(figures)
        results.append(figures)
    if workload in ("live-latency", "all"):
        n = events if events and workload == "live-latency" else 10_000
        print(f"toolkit bench live-latency: {n:,} quotes through a TradingNode (loopback clients)", flush=True)
        figures = workload_live_latency(n)
        _print(figures)
        results.append(figures)
    if workload in ("database", "all"):
        n = events if events and workload == "database" else 100_000
        print(f"toolkit bench database: {n:,} order events into the SQLite cache database", flush=True)
        figures = workload_database(n)
        _print(figures)
        results.append(figures)
    if json_path:
        Path(json_path).write_text(json.dumps({"machine": machine(), "results": results}, indent=2))
        print(f"figures written to {json_path}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child-backtest":
        print(json.dumps(run_tick_backtest(Path(sys.argv[2]))))
        sys.exit(0)
    sys.exit(main())
