"""Tests of merged reads: `stream` (Arrow batches, k-way merged by ts_init), multi-identifier `query`,
and `stream_objects` over the same merge, with the documented tie order."""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

from toolkit.catalog import CatalogError, DataCatalog, DataType
from toolkit.catalog.parquet import _merge_object_chunks, decode_batch
from toolkit.model.data import BarType, QuoteTick, TradeTick
from toolkit.model.enums import AggressorSide
from toolkit.model.identifiers import InstrumentId, TradeId
from toolkit.model.instruments import Instrument, instrument_from_dict

T0 = 1_700_000_000_000_000_000
IDS = [InstrumentId("EUR/USD.SIM"), InstrumentId("GBP/USD.SIM"), InstrumentId("USD/JPY.SIM")]


def fx(instrument_id: str) -> Instrument:
    base, quote = instrument_id.split(".")[0].split("/")
    return instrument_from_dict(
        {
            "kind": "CurrencyPair",
            "id": instrument_id,
            "base_currency": base,
            "quote_currency": quote,
            "price_increment": "0.00001",
            "size_increment": "1",
        }
    )


def quote(ident: InstrumentId, ts: int, tag: int) -> QuoteTick:
    return QuoteTick(ident, 10**9, 10**9 + 10**4, tag * 10**9, 10**9, 5, 0, ts, ts)


def trade(ident: InstrumentId, ts: int, tag: int) -> TradeTick:
    return TradeTick(ident, 10**9, tag * 10**9, 5, 0, AggressorSide.BUYER, TradeId(f"T{tag}"), ts, ts)


def build(
    tmp_path: Path, seed: int, max_rows_per_part: int = 50
) -> tuple[DataCatalog, dict[tuple[str, str], list[Any]]]:
    """Three instruments x (quotes, trades), many equal timestamps within and across datasets, several appends."""
    rng = random.Random(seed)
    catalog = DataCatalog(tmp_path / f"catalog-{seed}", max_rows_per_part=max_rows_per_part)
    catalog.write_instruments([fx(str(i)) for i in IDS])
    written: dict[tuple[str, str], list[Any]] = {}
    tag = itertools.count(1)
    for ident in IDS:
        for data_type, make in (("quotes", quote), ("trades", trade)):
            items: list[Any] = []
            clock = T0
            for _ in range(rng.randint(1, 4)):  # appends strictly after the previous ones
                stamps = sorted(clock + rng.randrange(0, 60) for _ in range(rng.randint(1, 120)))
                clock = stamps[-1] + 1 + rng.randrange(0, 20)
                chunk = [make(ident, ts, next(tag)) for ts in stamps]
                catalog.write(data_type, ident, chunk)
                items += chunk
            written[(data_type, str(ident))] = items
    return catalog, written


def expected_order(written: dict[tuple[str, str], list[Any]], requests: list[tuple[str, InstrumentId]]) -> list[Any]:
    """The documented order: ts_init, then request order, then stored row order (a stable sort)."""
    rows = [item for data_type, ident in requests for item in written[(data_type, str(ident))]]
    return sorted(rows, key=lambda item: item.ts_init)


@pytest.mark.parametrize("seed", range(6))
def test_stream_yields_every_row_once_in_ts_order_with_stable_ties(tmp_path: Path, seed: int) -> None:
    catalog, written = build(tmp_path, seed)
    rng = random.Random(seed)
    requests = [(data_type, ident) for ident in IDS for data_type in ("quotes", "trades")]
    rng.shuffle(requests)
    expected = expected_order(written, requests)
    columns = {data_type: catalog.query(data_type, IDS[0]).columns for data_type in ("quotes", "trades")}
    for batch_size in (1, 3, 16, 1_000):
        batches = list(catalog.stream(requests, batch_size=batch_size))
        decoded = [item for batch in batches for item in decode_batch(batch)]
        assert decoded == expected
        for batch in batches:  # homogeneous and labelled
            assert batch.num_rows > 0
            meta = batch.schema.metadata
            key = (meta[b"toolkit.data_type"].decode(), meta[b"toolkit.identifier"].decode())
            assert key in written and batch.schema.names == columns[key[0]]
            assert meta[b"toolkit.price_precision"] == b"5" and meta[b"toolkit.size_precision"] == b"0"
        stamps = [ts for batch in batches for ts in batch.column("ts_init").to_pylist()]
        assert stamps == sorted(stamps) and len(stamps) == sum(len(v) for v in written.values())
    ties = sum(1 for a, b in itertools.pairwise(expected) if a.ts_init == b.ts_init)
    assert ties > 10  # the data exercise the tie order


def test_stream_ranges_and_objects_use_the_same_merge(tmp_path: Path) -> None:
    catalog, written = build(tmp_path, 42, max_rows_per_part=7)
    requests = [(data_type, ident) for data_type in ("trades", "quotes") for ident in reversed(IDS)]
    everything = expected_order(written, requests)
    for start, end in ((None, None), (T0 + 30, T0 + 200), (T0 + 55, None), (None, T0 + 3), (T0 + 10**9, None)):
        window = [o for o in everything if (start is None or o.ts_init >= start) and (end is None or o.ts_init <= end)]
        streamed = [o for b in catalog.stream(requests, start, end, batch_size=8) for o in decode_batch(b)]
        assert streamed == window
        for batch_size in (1, 5, 64):
            assert list(catalog.stream_objects(requests, start, end, batch_size=batch_size)) == window
        lists = list(catalog.stream_object_batches(requests, start, end, batch_size=16))
        assert all(lists) and [o for chunk in lists for o in chunk] == window


def test_stream_cuts_batches_only_where_datasets_interleave(tmp_path: Path) -> None:
    catalog = DataCatalog(tmp_path)
    a, b = IDS[0], IDS[1]
    catalog.write_quotes(a, [quote(a, T0 + ts, 1) for ts in (1, 2, 3, 10, 11, 12)], price_precision=5, size_precision=0)
    catalog.write_quotes(b, [quote(b, T0 + ts, 2) for ts in (3, 4, 5, 12)], price_precision=5, size_precision=0)
    runs = [
        (batch.schema.metadata[b"toolkit.identifier"].decode(), [t - T0 for t in batch.column("ts_init").to_pylist()])
        for batch in catalog.stream([("quotes", a), ("quotes", b)])
    ]
    assert runs == [
        ("EUR/USD.SIM", [1, 2, 3]),
        ("GBP/USD.SIM", [3, 4, 5]),
        ("EUR/USD.SIM", [10, 11, 12]),
        ("GBP/USD.SIM", [12]),
    ]
    flipped = [batch.num_rows for batch in catalog.stream([("quotes", b), ("quotes", a)])]
    assert flipped == [2, 1, 1, 2, 2, 1, 1]  # a1 a2 | b3 | a3 | b4 b5 | a10 a11 | b12 | a12: ties go to b now


def test_stream_reports_problems_before_reading(tmp_path: Path) -> None:
    catalog = DataCatalog(tmp_path)
    catalog.write_quotes(IDS[0], [quote(IDS[0], T0, 1)], price_precision=5, size_precision=0)
    with pytest.raises(CatalogError, match=r"quotes/GBP/USD.SIM not found.*available: quotes/EUR/USD.SIM"):
        catalog.stream([("quotes", IDS[0]), ("quotes", IDS[1])])
    with pytest.raises(CatalogError, match="requested twice"):
        catalog.stream([("quotes", IDS[0]), (QuoteTick, "EUR/USD.SIM")])
    with pytest.raises(CatalogError, match="needs at least one"):
        catalog.stream([])
    with pytest.raises(CatalogError, match="batch_size must be positive"):
        list(catalog.stream([("quotes", IDS[0])], batch_size=0))
    with pytest.raises(CatalogError, match=r"not from DataCatalog\.stream"):
        decode_batch(pa.record_batch({"ts_init": [1]}))


def test_object_merge_matches_a_stable_sort_for_any_interleaving() -> None:
    """The run-by-run merge and its sort shortcut for fine interleaving give the same order as a stable sort."""

    class Item:
        __slots__ = ("source", "ts_init")

        def __init__(self, source: int, ts_init: int) -> None:
            self.source, self.ts_init = source, ts_init

    rng = random.Random(3)
    for _ in range(300):
        sources = []
        for s in range(rng.randint(1, 5)):
            spread = rng.choice([3, 50, 10_000])
            items = [Item(s, t) for t in sorted(rng.randrange(spread) for _ in range(rng.randint(0, 400)))]
            cuts = sorted(rng.sample(range(len(items) + 1), min(len(items) + 1, rng.randint(1, 20))))
            bounds = [0, *cuts, len(items)]
            chunks = [items[a:b] for a, b in itertools.pairwise(bounds)]  # includes empty chunks
            sources.append(chunks)
        expected = sorted((item for chunks in sources for chunk in chunks for item in chunk), key=lambda i: i.ts_init)
        iterators = [iter([(chunk, [i.ts_init for i in chunk]) for chunk in chunks]) for chunks in sources]
        batch_size = rng.choice([1, 7, 100_000])
        merged = list(_merge_object_chunks(iterators, batch_size))
        assert [item for chunk in merged for item in chunk] == expected
        assert all(chunk for chunk in merged)


# ---- multi-identifier query ------------------------------------------------------------------------


def test_query_of_several_instruments_merges_with_an_id_column(tmp_path: Path) -> None:
    catalog, written = build(tmp_path, 7)
    order = [IDS[2], IDS[0], IDS[1]]
    frame = catalog.query("quotes", order)
    assert frame.columns == ["instrument_id", "bid", "ask", "bid_size", "ask_size", "ts_event", "ts_init"]
    expected = expected_order(written, [("quotes", i) for i in order])
    assert frame["instrument_id"].to_list() == [str(q.instrument_id) for q in expected]
    assert frame["bid_size"].to_list() == [q.bid_size_raw for q in expected]
    window = catalog.query("quotes", order, T0 + 20, T0 + 40)
    assert window["ts_init"].to_list() == [q.ts_init for q in expected if T0 + 20 <= q.ts_init <= T0 + 40]
    single = catalog.query("quotes", IDS[0])  # one identifier: the raw schema, as before
    assert single.columns == ["bid", "ask", "bid_size", "ask_size", "ts_event", "ts_init"]
    assert catalog.query("quotes", [IDS[0]]).drop("instrument_id").equals(single)
    empty = catalog.query("quotes", order, T0 + 10**12, None)
    assert empty.height == 0 and empty.columns == frame.columns


def test_query_of_several_bar_types_has_a_bar_type_column(tmp_path: Path) -> None:
    catalog = DataCatalog(tmp_path)
    catalog.write_instruments([fx("EUR/USD.SIM")])
    types = [BarType.from_str(f"EUR/USD.SIM-1-MINUTE-{side}-EXTERNAL") for side in ("BID", "ASK")]
    for bar_type in types:
        catalog.write_bars(
            bar_type,
            pl.DataFrame(
                {name: [10**9, 10**9] for name in ("open", "high", "low", "close", "volume")}
                | {"ts_event": [T0, T0 + 60], "ts_init": [T0, T0 + 60]}
            ),
        )
    frame = catalog.query(DataType.BARS, types)
    assert frame["bar_type"].to_list() == [str(types[0]), str(types[1])] * 2
