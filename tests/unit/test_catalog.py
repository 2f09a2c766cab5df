"""Tests of the Parquet `DataCatalog`: layout, exact round trips, range queries, merged streams and refusals."""

from __future__ import annotations

import itertools
import random
import shutil
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from toolkit.catalog import CatalogError, DataCatalog, DataType, objects_from_frame
from toolkit.catalog.generator import generate_bars, generate_quotes
from toolkit.catalog.parquet import decode_dataset_dir, encode_dataset_dir
from toolkit.model.data import Bar, BarType, QuoteTick, TradeTick
from toolkit.model.enums import AggressorSide
from toolkit.model.identifiers import InstrumentId
from toolkit.model.instruments import Instrument, instrument_from_dict
from toolkit.model.objects import Price, Quantity

EURUSD = InstrumentId("EUR/USD.SIM")
GBPUSD = InstrumentId("GBP/USD.SIM")
EURUSD_BID_1M = BarType.from_str("EUR/USD.SIM-1-MINUTE-BID-EXTERNAL")
MINUTE = 60_000_000_000
T0 = 1_700_000_000_000_000_000


def fx(instrument_id: str, price_increment: str = "0.00001") -> Instrument:
    base, quote = instrument_id.split(".")[0].split("/")
    return instrument_from_dict(
        {
            "kind": "CurrencyPair",
            "id": instrument_id,
            "base_currency": base,
            "quote_currency": quote,
            "price_increment": price_increment,
            "size_increment": "1",
        }
    )


@pytest.fixture
def catalog(tmp_path: Path) -> DataCatalog:
    cat = DataCatalog(tmp_path / "catalog")
    cat.write_instruments([fx("EUR/USD.SIM"), fx("GBP/USD.SIM")])
    return cat


def quote(instrument_id: InstrumentId, bid: str, ask: str, ts: int, size: str = "100000") -> QuoteTick:
    return QuoteTick.of(
        instrument_id, Price.of(bid, 5), Price.of(ask, 5), Quantity.of(size, 0), Quantity.of(size, 0), ts
    )


def quotes(instrument_id: InstrumentId, count: int, start: int, step: int) -> list[QuoteTick]:
    return [
        quote(instrument_id, f"1.{10000 + i % 97:05d}", f"1.{10002 + i % 97:05d}", start + i * step)
        for i in range(count)
    ]


def bar(bar_type: BarType, o: str, h: str, lo: str, c: str, ts: int) -> Bar:
    p = [Price.of(v, 5) for v in (o, h, lo, c)]
    return Bar.of(bar_type, *p, Quantity.of("1000000", 0), ts)


def add_legacy_part(catalog: DataCatalog, instrument_id: InstrumentId, items: Sequence[QuoteTick]) -> Path:
    """Add a part whose span may overlap older parts, as the first catalog version allowed (copied in)."""
    scratch = DataCatalog(catalog.path.parent / f"scratch-{random.randrange(10**9)}")
    written = scratch.write_quotes(instrument_id, items, price_precision=5, size_precision=0)
    assert written is not None
    directory = catalog.dataset_path("quotes", instrument_id)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"part-{len(list(directory.glob('part-*.parquet'))):05d}.parquet"
    shutil.copyfile(written, target)
    shutil.rmtree(scratch.path)
    return target


# ---- layout and metadata ------------------------------------------------------------------------


def test_directory_names_are_safe_and_reversible() -> None:
    for identifier in [
        "GBP/USD.SIM",
        "BTC_USDT.X",
        "A%2FB.V",
        ".hidden.V",
        "GBP/USD.SIM-1-MINUTE-BID-EXTERNAL",
        "x y.Z",
    ]:
        name = encode_dataset_dir(identifier)
        assert "/" not in name and "\\" not in name and " " not in name and not name.startswith(".")
        assert decode_dataset_dir(name) == identifier
    assert encode_dataset_dir("GBP/USD.SIM") == "GBP%2FUSD.SIM"


def test_layout_schema_and_metadata(catalog: DataCatalog) -> None:
    path = catalog.write_quotes(EURUSD, quotes(EURUSD, 10, T0, 1_000))
    assert path == catalog.path / "quotes" / "GBP%2FUSD.SIM".replace("GBP", "EUR") / "part-00000.parquet"
    bar_path = catalog.write_bars(EURUSD_BID_1M, [bar(EURUSD_BID_1M, "1.1", "1.2", "1.0", "1.1", T0)])
    assert bar_path == catalog.path / "bars" / "EUR%2FUSD.SIM-1-MINUTE-BID-EXTERNAL" / "part-00000.parquet"
    schema = pq.read_schema(path)
    assert schema.names == ["bid", "ask", "bid_size", "ask_size", "ts_event", "ts_init"]
    assert all(str(t) == "int64" for t in schema.types)
    meta = {k.decode(): v.decode() for k, v in schema.metadata.items() if k.startswith(b"toolkit.")}
    assert meta == {
        "toolkit.schema_version": "1",
        "toolkit.data_type": "quotes",
        "toolkit.instrument_id": "EUR/USD.SIM",
        "toolkit.price_precision": "5",
        "toolkit.size_precision": "0",
    }
    bar_meta = pq.read_schema(bar_path).metadata
    assert bar_meta[b"toolkit.bar_type"] == b"EUR/USD.SIM-1-MINUTE-BID-EXTERNAL"
    assert (catalog.path / "instruments" / "instruments.parquet").is_file()
    assert not [p for p in catalog.path.rglob("*") if p.name.startswith(".tmp")]


def test_instruments_round_trip_and_replace(catalog: DataCatalog) -> None:
    assert [str(i.id) for i in catalog.instruments()] == ["EUR/USD.SIM", "GBP/USD.SIM"]
    assert catalog.instrument(EURUSD) == fx("EUR/USD.SIM")
    assert catalog.instrument("USD/JPY.SIM") is None
    jpy = fx("USD/JPY.SIM", "0.001")
    catalog.write_instruments([jpy])
    assert catalog.instruments(["USD/JPY.SIM"]) == [jpy]
    assert len(catalog.instruments()) == 3


def test_instrument_precision_change_is_refused_under_existing_data(catalog: DataCatalog) -> None:
    catalog.write_quotes(EURUSD, quotes(EURUSD, 3, T0, 1))
    with pytest.raises(CatalogError, match=r"quotes/EUR/USD.SIM"):
        catalog.write_instruments([fx("EUR/USD.SIM", "0.0001")])


# ---- round trips --------------------------------------------------------------------------------


def test_quote_round_trip_is_exact(catalog: DataCatalog) -> None:
    original = quotes(EURUSD, 1_000, T0, 1_000_000)
    catalog.write_quotes(EURUSD, original)
    assert catalog.query_objects(DataType.QUOTES, EURUSD) == original
    assert catalog.query_objects(QuoteTick, "EUR/USD.SIM")[5].bid_price == Price.from_str(f"1.{10005:05d}")


def test_trade_round_trip_is_exact(catalog: DataCatalog) -> None:
    sides = [AggressorSide.BUYER, AggressorSide.SELLER, AggressorSide.NO_AGGRESSOR]
    original = [
        TradeTick.of(EURUSD, Price.of("1.10001", 5), Quantity.of(str(10 + i), 0), sides[i % 3], f"T-{i}", T0 + i)
        for i in range(100)
    ]
    catalog.write_trades(EURUSD, original)
    back = catalog.query_objects("trades", EURUSD)
    assert back == original
    assert [t.aggressor_side for t in back[:3]] == sides
    assert type(back[0].trade_id).__name__ == "TradeId"


def test_bar_round_trip_is_exact(catalog: DataCatalog) -> None:
    original = [bar(EURUSD_BID_1M, "1.10000", "1.10010", "1.09990", "1.10005", T0 + i * MINUTE) for i in range(50)]
    catalog.write_bars(EURUSD_BID_1M, original)
    back = catalog.query_objects("bars", "EUR/USD.SIM-1-MINUTE-BID-EXTERNAL")
    assert back == original
    assert back[0].bar_type == EURUSD_BID_1M and back[0].high == Price.from_str("1.10010")


def test_frame_write_and_query_round_trip(catalog: DataCatalog) -> None:
    frame = generate_quotes(fx("EUR/USD.SIM"), 200_000, start_ns=T0, seed=3)
    catalog.write_quotes(EURUSD, frame)
    assert catalog.query("quotes", EURUSD).equals(frame)
    objects = catalog.query_objects("quotes", EURUSD)
    assert objects == objects_from_frame("quotes", EURUSD, frame, 5, 0)
    assert [q.ts_init for q in objects[:3]] == frame["ts_init"].head(3).to_list()


def test_write_sorts_by_ts_init_stably(catalog: DataCatalog) -> None:
    a, b, c, d = (
        quote(EURUSD, "1.00001", "1.00002", ts, size) for ts, size in [(30, "1"), (10, "2"), (30, "3"), (10, "4")]
    )
    catalog.write_quotes(EURUSD, [a, b, c, d])
    assert catalog.query_objects("quotes", EURUSD) == [b, d, a, c]


def test_appends_add_parts_and_never_rewrite_old_ones(catalog: DataCatalog) -> None:
    first = catalog.write_quotes(EURUSD, quotes(EURUSD, 100, T0, 10))
    assert first is not None
    before = first.read_bytes()
    second = catalog.write_quotes(EURUSD, quotes(EURUSD, 50, T0 + 10_000, 10))
    assert second is not None and second.name == "part-00001.parquet"
    assert first.read_bytes() == before
    assert catalog.write_quotes(EURUSD, []) is None
    (info,) = catalog.list_datasets()
    assert (info.data_type, info.identifier, info.rows, info.parts) == (DataType.QUOTES, "EUR/USD.SIM", 150, 2)
    assert (info.first_ts_init, info.last_ts_init) == (T0, T0 + 10_000 + 49 * 10)
    assert (info.price_precision, info.size_precision) == (5, 0)


def test_overlapping_legacy_parts_are_merged_with_ties_in_part_order(catalog: DataCatalog) -> None:
    late = [quote(EURUSD, "1.00001", "1.00002", ts, "1") for ts in (20, 30, 40, 50)]
    early = [quote(EURUSD, "1.00001", "1.00002", ts, "2") for ts in (10, 30, 35, 60)]
    catalog.write_quotes(EURUSD, late)
    with pytest.raises(CatalogError, match="overlaps"):
        catalog.write_quotes(EURUSD, early)
    add_legacy_part(catalog, EURUSD, early)  # catalogs written before overlaps were refused can hold these
    back = catalog.query_objects("quotes", EURUSD)
    assert [(q.ts_init, q.bid_size_raw // 10**9) for q in back] == [
        (10, 2), (20, 1), (30, 1), (30, 2), (35, 2), (40, 1), (50, 1), (60, 2)
    ]  # fmt: skip
    batches = list(catalog.stream_batches("quotes", EURUSD, batch_size=3))
    assert all(b.num_rows <= 3 for b in batches)
    assert sum(b.num_rows for b in batches) == 8


def test_list_datasets_covers_every_type(catalog: DataCatalog) -> None:
    catalog.write_quotes(GBPUSD, quotes(GBPUSD, 5, T0, 1))
    catalog.write_trades(
        EURUSD, [TradeTick.of(EURUSD, Price.of("1", 5), Quantity.of(1, 0), AggressorSide.BUYER, "1", T0)]
    )
    catalog.write_bars(EURUSD_BID_1M, [bar(EURUSD_BID_1M, "1", "1", "1", "1", T0)])
    listed = {(i.data_type.value, i.identifier, i.rows) for i in catalog.list_datasets()}
    assert listed == {
        ("quotes", "GBP/USD.SIM", 5),
        ("trades", "EUR/USD.SIM", 1),
        ("bars", "EUR/USD.SIM-1-MINUTE-BID-EXTERNAL", 1),
    }


# ---- time ranges --------------------------------------------------------------------------------


def test_time_range_queries_are_inclusive_and_prune_row_groups(catalog: DataCatalog) -> None:
    frame = generate_quotes(fx("EUR/USD.SIM"), 300_000, start_ns=T0, interval_ns=1_000, seed=7)
    catalog.write_quotes(EURUSD, frame.head(150_000))
    catalog.write_quotes(EURUSD, frame.tail(150_000))
    start, end = T0 + 70_000 * 1_000, T0 + 220_000 * 1_000
    expected = frame.filter(pl.col("ts_init").is_between(start, end))
    assert expected.height == 150_001
    assert catalog.query("quotes", EURUSD, start, end).equals(expected)
    assert catalog.query("quotes", EURUSD, start_ns=T0 + 299_999_000).height == 1
    assert catalog.query("quotes", EURUSD, end_ns=T0).height == 1
    assert catalog.query("quotes", EURUSD, T0 + 10**15, None).height == 0
    assert catalog.query("quotes", EURUSD, T0 + 500, T0 + 999).height == 0
    objects = catalog.query_objects("quotes", EURUSD, start, end)
    assert len(objects) == expected.height
    assert objects[0].ts_init == start and objects[-1].ts_init == end


def test_empty_range_query_keeps_the_schema(catalog: DataCatalog) -> None:
    catalog.write_quotes(EURUSD, quotes(EURUSD, 3, T0, 1))
    empty = catalog.query("quotes", EURUSD, T0 + 100, T0 + 200)
    assert empty.height == 0 and empty.columns == ["bid", "ask", "bid_size", "ask_size", "ts_event", "ts_init"]


# ---- merged streams -----------------------------------------------------------------------------


def test_stream_objects_merges_two_instruments_in_ts_order(catalog: DataCatalog) -> None:
    eur = quotes(EURUSD, 3_000, T0, 7)
    gbp = quotes(GBPUSD, 2_000, T0 + 3, 10)
    catalog.write_quotes(EURUSD, eur)
    catalog.write_quotes(GBPUSD, gbp)
    merged = list(catalog.stream_objects([("quotes", EURUSD), ("quotes", GBPUSD)], batch_size=256))
    assert merged == sorted(eur + gbp, key=lambda q: q.ts_init)  # stable: EUR first on equal ts_init
    ties = [(a.instrument_id, b.instrument_id) for a, b in itertools.pairwise(merged) if a.ts_init == b.ts_init]
    assert ties and all(pair == (EURUSD, GBPUSD) for pair in ties)
    swapped = list(catalog.stream_objects([("quotes", GBPUSD), ("quotes", EURUSD)], batch_size=100))
    assert swapped == sorted(gbp + eur, key=lambda q: q.ts_init)


def test_stream_objects_merges_quotes_and_bars_within_a_range(catalog: DataCatalog) -> None:
    eur = quotes(EURUSD, 600, T0, 1_000_000_000)  # one a second for ten minutes
    bars = [bar(EURUSD_BID_1M, "1.1", "1.2", "1.0", "1.1", T0 + (i + 1) * MINUTE) for i in range(10)]
    catalog.write_quotes(EURUSD, eur)
    catalog.write_bars(EURUSD_BID_1M, bars)
    start, end = T0 + 2 * MINUTE, T0 + 5 * MINUTE
    merged = list(catalog.stream_objects([("bars", EURUSD_BID_1M), ("quotes", EURUSD)], start, end, batch_size=50))
    reference = sorted(
        [o for o in bars + eur if start <= o.ts_init <= end], key=lambda o: (o.ts_init, type(o) is not Bar)
    )
    assert merged == reference
    assert isinstance(merged[0], Bar) and merged[0].ts_init == start


def test_stream_of_many_equal_timestamps_across_chunks(catalog: DataCatalog) -> None:
    same = [quote(EURUSD, "1.00001", "1.00002", T0, str(i + 1)) for i in range(1_000)]
    other = [quote(GBPUSD, "1.00001", "1.00002", ts, "1") for ts in (T0 - 1, T0, T0 + 1)]
    catalog.write_quotes(EURUSD, same)
    catalog.write_quotes(GBPUSD, other)
    merged = list(catalog.stream_objects([("quotes", GBPUSD), ("quotes", EURUSD)], batch_size=64))
    assert merged == [other[0], other[1], *same, other[2]]


def test_random_merges_match_a_stable_sort(catalog: DataCatalog) -> None:
    rng = random.Random(5)
    usdjpy = InstrumentId("USD/JPY.SIM")
    catalog.write_instruments([fx("USD/JPY.SIM")])
    written: dict[InstrumentId, list[QuoteTick]] = {}
    for instrument_id in (EURUSD, GBPUSD, usdjpy):
        parts = []
        for part in range(3):  # overlapping legacy parts: ties inside a dataset come in part order
            stamps = sorted(rng.randrange(0, 400) for _ in range(rng.randrange(50, 300)))
            parts.append([quote(instrument_id, "1.00001", "1.00002", T0 + ts, str(part + 1)) for ts in stamps])
            add_legacy_part(catalog, instrument_id, parts[-1])
        written[instrument_id] = sorted((q for p in parts for q in p), key=lambda q: q.ts_init)
    order = [usdjpy, EURUSD, GBPUSD]
    expected = sorted((q for i in order for q in written[i]), key=lambda q: q.ts_init)
    for batch_size in (1, 7, 64, 10_000):
        requests = [("quotes", i) for i in order]
        assert list(catalog.stream_objects(requests, batch_size=batch_size)) == expected
    assert catalog.query_objects("quotes", EURUSD) == written[EURUSD]
    window = [q for q in expected if T0 + 100 <= q.ts_init <= T0 + 200]
    assert list(catalog.stream_objects([("quotes", i) for i in order], T0 + 100, T0 + 200, batch_size=5)) == window


def test_missing_dataset_is_reported_when_the_stream_is_built(catalog: DataCatalog) -> None:
    catalog.write_quotes(EURUSD, quotes(EURUSD, 3, T0, 1))
    with pytest.raises(CatalogError, match=r"quotes/GBP/USD.SIM not found.*available: quotes/EUR/USD.SIM"):
        catalog.stream_objects([("quotes", EURUSD), ("quotes", GBPUSD)])
    with pytest.raises(CatalogError, match="unknown data type"):
        catalog.query("ticks", EURUSD)


# ---- refusals -----------------------------------------------------------------------------------


def test_objects_with_another_precision_are_refused(catalog: DataCatalog) -> None:
    four_decimals = [
        QuoteTick.of(EURUSD, Price.of("1.1", 4), Price.of("1.2", 4), Quantity.of(1, 0), Quantity.of(1, 0), T0)
    ]
    with pytest.raises(CatalogError, match=r"dataset quotes/EUR/USD.SIM: price_precision 4 .* differs from 5"):
        catalog.write_quotes(EURUSD, four_decimals)


def test_frame_precision_must_match_instrument_and_grid(catalog: DataCatalog) -> None:
    frame = generate_quotes(fx("EUR/USD.SIM"), 10, start_ns=T0)
    with pytest.raises(CatalogError, match=r"dataset quotes/EUR/USD.SIM: price_precision 6 of the arguments"):
        catalog.write_quotes(EURUSD, frame, price_precision=6)
    off_grid = frame.with_columns(pl.when(pl.int_range(10) == 4).then(pl.col("bid") + 1).otherwise(pl.col("bid")))
    with pytest.raises(CatalogError, match=r"quotes/EUR/USD.SIM: row 4: bid raw \d+ has more decimals"):
        catalog.write_quotes(EURUSD, off_grid)


def test_precision_without_instrument_comes_from_arguments_then_existing_parts(tmp_path: Path) -> None:
    catalog = DataCatalog(tmp_path)
    frame = generate_quotes(fx("EUR/USD.SIM"), 10, start_ns=T0)
    with pytest.raises(CatalogError, match=r"quotes/EUR/USD.SIM: price_precision unknown"):
        catalog.write_quotes(EURUSD, frame)
    catalog.write_quotes(EURUSD, frame, price_precision=5, size_precision=0)
    later = frame.with_columns(pl.col("ts_event", "ts_init") + 10**12)
    catalog.write_quotes(EURUSD, later)  # the existing parts fix the precision now
    with pytest.raises(CatalogError, match=r"size_precision 2 of the arguments differs from 0 of the existing parts"):
        catalog.write_quotes(EURUSD, later, size_precision=2)


def test_bad_frames_and_objects_are_refused(catalog: DataCatalog) -> None:
    frame = generate_quotes(fx("EUR/USD.SIM"), 5, start_ns=T0)
    with pytest.raises(CatalogError, match=r"missing: \['ask'\]"):
        catalog.write_quotes(EURUSD, frame.drop("ask"))
    with pytest.raises(CatalogError, match="unexpected"):
        catalog.write_quotes(EURUSD, frame.with_columns(extra=pl.lit(1)))
    with pytest.raises(CatalogError, match="null values in column"):
        catalog.write_quotes(EURUSD, frame.with_columns(bid=pl.lit(None, dtype=pl.Int64)))
    with pytest.raises(CatalogError, match="must hold integers"):
        catalog.write_quotes(EURUSD, frame.with_columns(bid=pl.col("bid").cast(pl.Float64)))
    with pytest.raises(CatalogError, match="ask_size -1000000000 is negative"):
        catalog.write_quotes(EURUSD, frame.with_columns(ask_size=pl.lit(-(10**9))))
    with pytest.raises(CatalogError, match=r"belongs to GBP/USD\.SIM"):
        catalog.write_quotes(EURUSD, quotes(GBPUSD, 2, T0, 1))
    with pytest.raises(CatalogError, match="is a QuoteTick, expected Bar"):
        catalog.write_bars(EURUSD_BID_1M, quotes(EURUSD, 1, T0, 1))  # type: ignore[arg-type]
    bars = generate_bars(EURUSD_BID_1M, fx("EUR/USD.SIM"), 5, start_ns=T0)
    broken = bars.with_columns(high=pl.col("low") - 10_000)
    with pytest.raises(CatalogError, match=r"bars/EUR/USD.SIM-1-MINUTE-BID-EXTERNAL: row 0: high/low do not bound"):
        catalog.write_bars(EURUSD_BID_1M, broken)
    trades = pl.DataFrame(
        {
            "price": [10**9],
            "size": [10**9],
            "aggressor_side": ["UP"],
            "trade_id": ["1"],
            "ts_event": [T0],
            "ts_init": [T0],
        }
    )
    with pytest.raises(CatalogError, match="aggressor_side 'UP'"):
        catalog.write_trades(EURUSD, trades)
    with pytest.raises(CatalogError, match="trade_id ' 1'"):
        catalog.write_trades(EURUSD, trades.with_columns(aggressor_side=pl.lit("BUYER"), trade_id=pl.lit(" 1")))
    assert catalog.list_datasets() == []
