"""The project's sample catalog in `data/catalog`: generated, seeded, small, reproducible.

`build_sample_catalog(path)` writes the instrument definitions of `data/instruments.toml` and, for
EUR/USD.SIM, ten days of one-minute BID bars and 100,000 quotes (the data of the demo and of the
example strategies). The same seed always gives the same files' contents; a test checks that the
committed sample equals a fresh build. `toolkit catalog sample DIR` rebuilds it.
"""

from __future__ import annotations

from pathlib import Path

from toolkit.catalog.generator import generate_bars, generate_quotes
from toolkit.catalog.parquet import DataCatalog
from toolkit.model.data import BarType
from toolkit.model.instruments import Instrument

SAMPLE_SEED = 20240101
SAMPLE_START_NS = 1_704_153_600_000_000_000  # 2024-01-02T00:00:00Z
SAMPLE_BAR_TYPE = "EUR/USD.SIM-1-MINUTE-BID-EXTERNAL"
SAMPLE_BARS = 14_400  # ten days of one-minute bars
SAMPLE_QUOTES = 100_000  # about 2.8 hours at 100 ms


def build_sample_catalog(path: str | Path, instruments: list[Instrument]) -> DataCatalog:
    """Write the sample datasets into an empty folder `path`."""
    root = Path(path)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty: remove it first to rebuild the sample catalog")
    catalog = DataCatalog(root)
    catalog.write_instruments(instruments)
    by_id = {str(i.id): i for i in instruments}
    eurusd = by_id["EUR/USD.SIM"]
    bar_type = BarType.from_str(SAMPLE_BAR_TYPE)
    bars = generate_bars(
        bar_type,
        eurusd,
        SAMPLE_BARS,
        start_ns=SAMPLE_START_NS,
        seed=SAMPLE_SEED,
        start_price="1.10000",
        volatility_ticks=4.0,
        volume="4000000",
    )
    catalog.write_bars(bar_type, bars)
    quotes = generate_quotes(
        eurusd,
        SAMPLE_QUOTES,
        start_ns=SAMPLE_START_NS,
        interval_ns=100_000_000,
        seed=SAMPLE_SEED,
        start_price="1.10000",
        volatility_ticks=0.6,
        spread_ticks=2,
        size="1000000",
    )
    catalog.write_quotes(eurusd.id, quotes)
    return catalog
