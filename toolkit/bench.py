"""`toolkit bench`: a seeded, self-generating benchmark of the backtest hot path.

It generates N quote ticks (random walk, seeded) into a temporary catalog, then runs the
`ema_cross_ticks` strategy (EMA(500)/EMA(2000) on the mid) over them through a `BacktestEngine`
streaming from that catalog, so decoding from Parquet is part of the measured run. It prints (and
with `--json` writes) events/s, wall time, orders, fills and the process's peak RSS. Figures are
for reading and tracking; nothing fails on speed.
"""

from __future__ import annotations

import json
import platform
import resource
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from toolkit.backtest.engine import BacktestEngine
from toolkit.catalog.generator import write_generated_quotes
from toolkit.catalog.parquet import DataCatalog
from toolkit.model.enums import AccountType, OmsType
from toolkit.model.events import OrderFilled
from toolkit.model.instruments import instrument_from_dict
from toolkit.model.objects import Currency, Money
from toolkit.trading.loader import StrategyTable, load_strategy

PROJECT_ROOT = Path(__file__).resolve().parents[1]

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


def run_quotes_ema_cross(events: int, seed: int, fast: int = 500, slow: int = 2000) -> dict[str, Any]:
    """Generate `events` quotes into a temp catalog and backtest EMACrossTicks over them."""
    instrument = instrument_from_dict(BENCH_INSTRUMENT)
    with tempfile.TemporaryDirectory(prefix="toolkit-bench-") as tmp:
        catalog = DataCatalog(tmp)
        catalog.write_instruments([instrument])
        t_gen = time.perf_counter()
        write_generated_quotes(
            catalog, instrument, events, seed=seed, start_price="1.10000", volatility_ticks=0.6, size="1000000"
        )
        generate_s = time.perf_counter() - t_gen
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
        engine.add_data_stream(lambda: catalog.stream_objects([("quotes", instrument.id)]))
        engine.add_strategy(strategy)
        t0 = time.perf_counter()
        engine.run()
        wall = time.perf_counter() - t0
    orders = engine.cache.orders()
    fills = sum(1 for o in orders for e in o.events if type(e) is OrderFilled)
    return {
        "workload": f"quotes-ema-cross-ticks EMA({fast})/EMA({slow})",
        "events": engine.events_processed,
        "wall_s": round(wall, 3),
        "events_per_s": round(engine.events_processed / wall) if wall > 0 else None,
        "orders": len(orders),
        "fills": fills,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "generate_s": round(generate_s, 3),
        "final_balance": str(engine.cache.accounts()[0].balance_total()),
        "_engine": engine,
    }


def machine() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


def main(events: int = 1_000_000, seed: int = 7, json_path: str | None = None) -> int:
    print(f"toolkit bench: {events:,} generated quote ticks through ema_cross_ticks (seed {seed})", flush=True)
    figures = run_quotes_ema_cross(events, seed)
    figures.pop("_engine")
    rows = [
        ("workload", figures["workload"]),
        ("events", f"{figures['events']:,}"),
        ("wall time", f"{figures['wall_s']:.2f} s"),
        ("events/s", f"{figures['events_per_s']:,}"),
        ("orders", f"{figures['orders']:,}"),
        ("fills", f"{figures['fills']:,}"),
        ("peak RSS", f"{figures['peak_rss_mb']:.0f} MiB"),
        ("data generation (not timed)", f"{figures['generate_s']:.2f} s"),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    if json_path:
        Path(json_path).write_text(json.dumps({"machine": machine(), "results": [figures]}, indent=2))
        print(f"figures written to {json_path}")
    return 0
