"""Tests of the catalog's storage rules: exact round trips of every data type (seeded property test),
bounded parts, overlap refusal and replace, consolidation, the part index, crash safety and corrupt files."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import polars as pl
import pyarrow.parquet as pq
import pytest

import toolkit.catalog.parquet as parquet_module
from toolkit.catalog import CatalogError, DataCatalog, DataType, objects_from_frame
from toolkit.catalog.parquet import (
    BOOK_ACTION_CODES,
    DELTA_SCHEMA,
    DEPTH10_SCHEMA,
    INDEX_FILE,
    JOURNAL_FILE,
    ORDER_SIDE_CODES,
)
from toolkit.model.data import (
    FLAG_LAST,
    FLAG_SNAPSHOT,
    Bar,
    BarSpecification,
    BarType,
    OrderBookDelta,
    OrderBookDepth10,
    QuoteTick,
    TradeTick,
)
from toolkit.model.enums import AggregationSource, AggressorSide, BarAggregation, BookAction, OrderSide, PriceType
from toolkit.model.identifiers import InstrumentId, TradeId

I64_MIN, I64_MAX = -(2**63), 2**63 - 1
U64_MAX, U32_MAX = 2**64 - 1, 2**32 - 1
T0 = 1_700_000_000_000_000_000
EURUSD = InstrumentId("EUR/USD.SIM")


# ---- seeded random data with edge values ---------------------------------------------------------


class Gen:
    """Random raw values on a precision grid, biased towards the edges of their integer types."""

    def __init__(self, rng: random.Random, price_precision: int, size_precision: int) -> None:
        self.rng = rng
        self.pp, self.sp = price_precision, size_precision
        self.price_step = 10 ** (9 - price_precision)
        self.size_step = 10 ** (9 - size_precision)

    def _edge_or(self, edges: list[int], low: int, high: int) -> int:
        return self.rng.choice(edges) if self.rng.random() < 0.3 else self.rng.randint(low, high)

    def _grid(self, lo: int, hi: int, step: int) -> int:
        """A multiple of step in [lo, hi] (both multiples of step), often one of the extremes or zero."""
        return self._edge_or([lo // step, hi // step, 0, 1], lo // step, hi // step) * step

    def price(self) -> int:
        step = self.price_step
        return self._grid(-(2**63 // step) * step, (I64_MAX // step) * step, step)  # the extremes that fit int64

    def size(self) -> int:
        step = self.size_step
        return self._grid(0, (I64_MAX // step) * step, step)

    def uint(self, high: int) -> int:
        return self._edge_or([0, 1, high], 0, high)

    def ts(self) -> int:
        return self._edge_or([0, 1, I64_MAX, T0], 0, I64_MAX)


def timestamps(rng: random.Random, count: int) -> list[int]:
    """Sorted-or-not ts_init values with many ties and the int64 extremes."""
    pool = [rng.choice([0, 1, T0, I64_MAX - 1, I64_MAX, rng.randint(0, I64_MAX)]) for _ in range(max(1, count // 3))]
    return [rng.choice(pool) for _ in range(count)]


def make_quotes(rng: random.Random, ident: InstrumentId, gen: Gen, stamps: list[int]) -> list[QuoteTick]:
    return [
        QuoteTick(ident, gen.price(), gen.price(), gen.size(), gen.size(), gen.pp, gen.sp, gen.ts(), ts)
        for ts in stamps
    ]


def make_trades(rng: random.Random, ident: InstrumentId, gen: Gen, stamps: list[int]) -> list[TradeTick]:
    ids = ["1", "T-1", "é-ü", "a b", "x" * 40, "0"]
    return [
        TradeTick(
            ident,
            gen.price(),
            gen.size(),
            gen.pp,
            gen.sp,
            rng.choice(list(AggressorSide)),
            TradeId(rng.choice(ids) + str(i)),
            gen.ts(),
            ts,
        )
        for i, ts in enumerate(stamps)
    ]


def make_bars(rng: random.Random, bar_type: BarType, gen: Gen, stamps: list[int]) -> list[Bar]:
    bars = []
    for ts in stamps:
        low, a, b, high = sorted(gen.price() for _ in range(4))
        o, c = (a, b) if rng.random() < 0.5 else (b, a)
        bars.append(Bar(bar_type, o, high, low, c, gen.size(), gen.pp, gen.sp, gen.ts(), ts))
    return bars


def make_deltas(rng: random.Random, ident: InstrumentId, gen: Gen, stamps: list[int]) -> list[OrderBookDelta]:
    deltas = []
    for ts in stamps:
        action = rng.choice(list(BookAction))
        if action is BookAction.CLEAR:
            deltas.append(OrderBookDelta.clear(ident, gen.uint(U64_MAX), gen.ts(), ts))
            continue
        size = 0 if action is BookAction.DELETE else gen.size()
        side = rng.choice([OrderSide.BUY, OrderSide.SELL])
        flags = rng.choice([0, FLAG_LAST, FLAG_SNAPSHOT, FLAG_LAST | FLAG_SNAPSHOT, 255])
        deltas.append(
            OrderBookDelta(
                ident, action, side, gen.price(), size, gen.uint(U64_MAX), flags, gen.uint(U64_MAX),
                gen.pp, gen.sp, gen.ts(), ts,
            )
        )  # fmt: skip
    return deltas


def make_depths(rng: random.Random, ident: InstrumentId, gen: Gen, stamps: list[int]) -> list[OrderBookDepth10]:
    def levels(values: Callable[[], int]) -> tuple[int, ...]:
        return tuple(values() for _ in range(10))

    return [
        OrderBookDepth10(
            ident,
            levels(gen.price),
            levels(gen.size),
            levels(lambda: gen.uint(U32_MAX)),
            levels(gen.price),
            levels(gen.size),
            levels(lambda: gen.uint(U32_MAX)),
            gen.uint(255),
            gen.uint(U64_MAX),
            gen.pp,
            gen.sp,
            gen.ts(),
            ts,
        )
        for ts in stamps
    ]


def random_bar_type(rng: random.Random, ident: InstrumentId) -> BarType:
    spec = BarSpecification(rng.randint(1, 60), rng.choice(list(BarAggregation)), rng.choice(list(PriceType)))
    return BarType(ident, spec, rng.choice(list(AggregationSource)))


MAKERS: dict[DataType, Callable[..., list[Any]]] = {
    DataType.QUOTES: make_quotes,
    DataType.TRADES: make_trades,
    DataType.BARS: make_bars,
    DataType.DELTAS: make_deltas,
    DataType.DEPTH10: make_depths,
}


def stable_sorted(items: list[Any]) -> list[Any]:
    return sorted(items, key=lambda o: o.ts_init)


@pytest.mark.parametrize("data_type", list(DataType))
def test_random_round_trips_are_exact(tmp_path: Path, data_type: DataType) -> None:
    """Many small seeded datasets per type: one write (sorted stably by the catalog), read back identical."""
    rng = random.Random(f"round-trip-{data_type.value}")
    catalog = DataCatalog(tmp_path, max_rows_per_part=rng.choice([3, 7, 1000]))
    for n in range(25):
        ident = InstrumentId(f"S{n} /x%.V{n}")  # odd characters survive the directory encoding
        dataset_id: Any = random_bar_type(rng, ident) if data_type is DataType.BARS else ident
        gen = Gen(rng, rng.randint(0, 9), rng.randint(0, 9))
        count = rng.choice([1, 1, 2, 5, 17, 40])
        original = MAKERS[data_type](rng, dataset_id, gen, timestamps(rng, count))
        catalog.write(data_type, dataset_id, original, gen.pp, gen.sp)
        expected = stable_sorted(original)
        assert catalog.query_objects(data_type, dataset_id) == expected, n
        frame = catalog.query(data_type, dataset_id)
        assert objects_from_frame(data_type, dataset_id, frame, gen.pp, gen.sp) == expected
        # The frame written back to a fresh dataset reads back the same again.
        copy = DataCatalog(tmp_path / "copy")
        copy.write(data_type, dataset_id, frame, gen.pp, gen.sp)
        assert copy.query(data_type, dataset_id).equals(frame)
        assert all(rows <= catalog.max_rows_per_part for rows in part_rows(catalog, data_type, dataset_id))


@pytest.mark.parametrize("data_type", list(DataType))
def test_random_appends_across_parts_round_trip(tmp_path: Path, data_type: DataType) -> None:
    """Appends strictly after the last ts_init, several parts, then range reads match a filter of the objects."""
    rng = random.Random(f"appends-{data_type.value}")
    catalog = DataCatalog(tmp_path, max_rows_per_part=5)
    ident = InstrumentId("A/B.V")
    dataset_id: Any = random_bar_type(rng, ident) if data_type is DataType.BARS else ident
    gen = Gen(rng, 4, 2)
    written: list[Any] = []
    clock = T0
    for _ in range(6):
        stamps = sorted(clock + rng.randrange(0, 50) for _ in range(rng.randint(1, 12)))
        clock = stamps[-1] + 1
        items = MAKERS[data_type](rng, dataset_id, gen, stamps)
        catalog.write(data_type, dataset_id, items, 4, 2)
        written += items
    assert catalog.query_objects(data_type, dataset_id) == written
    for _ in range(20):
        start, end = sorted(rng.randrange(T0 - 5, clock + 5) for _ in range(2))
        window = [o for o in written if start <= o.ts_init <= end]
        assert catalog.query_objects(data_type, dataset_id, start, end) == window
        assert catalog.query(data_type, dataset_id, start, end).height == len(window)


def test_clear_deltas_read_back_as_built_by_clear(tmp_path: Path) -> None:
    catalog = DataCatalog(tmp_path)
    clear = OrderBookDelta.clear(EURUSD, 7, T0)
    add = OrderBookDelta(EURUSD, BookAction.ADD, OrderSide.BUY, 10**9, 10**9, 0, FLAG_LAST, 8, 5, 0, T0, T0 + 1)
    catalog.write_deltas(EURUSD, [clear, add])  # the CLEAR's precisions 0/0 do not count as a mix
    assert catalog.query_objects("deltas", EURUSD) == [clear, add]
    only_clear = OrderBookDelta.clear(EURUSD, 9, T0 + 5)
    catalog.write_deltas(EURUSD, [only_clear])  # precisions come from the existing parts
    assert catalog.query_objects("deltas", EURUSD)[-1] == only_clear


# ---- schemas and frames of the book types --------------------------------------------------------


def test_book_schemas_and_metadata(tmp_path: Path) -> None:
    catalog = DataCatalog(tmp_path)
    rng = random.Random(1)
    gen = Gen(rng, 5, 0)
    deltas_path = catalog.write_deltas(EURUSD, make_deltas(rng, EURUSD, gen, [T0, T0 + 1]), price_precision=5,
                                       size_precision=0)  # fmt: skip
    depth_path = catalog.write_depth10(EURUSD, make_depths(rng, EURUSD, gen, [T0]), price_precision=5, size_precision=0)
    assert deltas_path == tmp_path / "deltas" / "EUR%2FUSD.SIM" / "part-00000.parquet"
    assert depth_path == tmp_path / "depth10" / "EUR%2FUSD.SIM" / "part-00000.parquet"
    assert pq.read_schema(deltas_path).remove_metadata() == DELTA_SCHEMA
    depth_schema = pq.read_schema(depth_path)
    assert depth_schema.remove_metadata() == DEPTH10_SCHEMA
    assert depth_schema.names[:3] == ["bid_price_0", "bid_price_1", "bid_price_2"]
    assert len(depth_schema.names) == 64
    meta = {k.decode(): v.decode() for k, v in depth_schema.metadata.items() if k.startswith(b"toolkit.")}
    assert meta == {
        "toolkit.schema_version": "1",
        "toolkit.data_type": "depth10",
        "toolkit.instrument_id": "EUR/USD.SIM",
        "toolkit.price_precision": "5",
        "toolkit.size_precision": "0",
    }
    assert {(i.data_type, i.rows) for i in catalog.list_datasets()} == {(DataType.DELTAS, 2), (DataType.DEPTH10, 1)}


def delta_frame(**overrides: Any) -> pl.DataFrame:
    columns: dict[str, Any] = {
        "action": ["ADD", "UPDATE", "DELETE", "CLEAR"],
        "side": ["BUY", "SELL", "BUY", "NO_ORDER_SIDE"],
        "price": [10**9, 2 * 10**9, 10**9, 0],
        "size": [10**9, 0, 0, 0],
        "order_id": [0, 1, U64_MAX, 0],
        "flags": [0, 0, FLAG_LAST, FLAG_SNAPSHOT],
        "sequence": [1, 2, 3, 4],
        "ts_event": [T0] * 4,
        "ts_init": [T0, T0, T0 + 1, T0 + 2],
    }
    columns.update(overrides)
    return pl.DataFrame(columns, schema_overrides={"order_id": pl.UInt64})


def test_delta_frames_take_member_names_or_codes(tmp_path: Path) -> None:
    catalog = DataCatalog(tmp_path)
    catalog.write_deltas(EURUSD, delta_frame(), price_precision=2, size_precision=0)
    stored = catalog.query("deltas", EURUSD)
    assert stored["action"].to_list() == [BOOK_ACTION_CODES[a] for a in BookAction]
    assert stored["side"].to_list() == [ORDER_SIDE_CODES[s] for s in (OrderSide.BUY, OrderSide.SELL)] + [1, 0]
    assert stored.schema["order_id"] == pl.UInt64 and stored["order_id"][2] == U64_MAX
    objects = catalog.query_objects("deltas", EURUSD)
    assert [d.action for d in objects] == list(BookAction)
    assert objects[3] == OrderBookDelta.clear(EURUSD, 4, T0, T0 + 2)
    codes = stored.with_columns(pl.col("ts_init", "ts_event") + 10)
    catalog.write_deltas(EURUSD, codes)
    assert catalog.query("deltas", EURUSD).height == 8


def test_bad_book_frames_are_refused(tmp_path: Path) -> None:
    catalog = DataCatalog(tmp_path)
    with pytest.raises(CatalogError, match=r"deltas/EUR/USD.SIM: row 1: action 'MOVE' is not one of ADD, UPDATE"):
        catalog.write_deltas(EURUSD, delta_frame(action=["ADD", "MOVE", "ADD", "ADD"]), price_precision=2,
                             size_precision=0)  # fmt: skip
    with pytest.raises(CatalogError, match=r"row 0: action code 9 is not one of 1=ADD"):
        catalog.write_deltas(EURUSD, delta_frame(action=[9, 1, 1, 1]), price_precision=2, size_precision=0)
    with pytest.raises(CatalogError, match=r"row 2: flags 256 outside the uint8 range"):
        catalog.write_deltas(EURUSD, delta_frame(flags=[0, 0, 256, 0]), price_precision=2, size_precision=0)
    with pytest.raises(CatalogError, match=r"row 0: sequence -1 outside the uint64 range"):
        catalog.write_deltas(EURUSD, delta_frame(sequence=[-1, 0, 0, 0]), price_precision=2, size_precision=0)
    with pytest.raises(CatalogError, match=r"row 3: size -1000000000 is negative"):
        catalog.write_deltas(EURUSD, delta_frame(size=[0, 0, 0, -(10**9)]), price_precision=2, size_precision=0)
    with pytest.raises(CatalogError, match=r"does not fit the column type"):
        catalog.write_deltas(
            EURUSD, [OrderBookDelta(EURUSD, BookAction.ADD, OrderSide.BUY, 0, 0, -1, 0, 0, 2, 0, T0, T0)]
        )
    depth = make_depths(random.Random(2), EURUSD, Gen(random.Random(2), 2, 0), [T0])[0]
    off_grid = msgspec.structs.replace(depth, ask_prices_raw=(1, *depth.ask_prices_raw[1:]))
    with pytest.raises(CatalogError, match=r"depth10/EUR/USD.SIM: row 0: ask_price_0 raw 1 has more decimals"):
        catalog.write_depth10(EURUSD, [off_grid])
    assert catalog.list_datasets() == []


# ---- bounded parts --------------------------------------------------------------------------------


def simple_quotes(count: int, start: int = T0, step: int = 1, ident: InstrumentId = EURUSD) -> list[QuoteTick]:
    return [QuoteTick(ident, i * 10**4, i * 10**4 + 10**4, 10**9, 10**9, 5, 0, start + i * step, start + i * step)
            for i in range(count)]  # fmt: skip


def part_rows(catalog: DataCatalog, data_type: str = "quotes", ident: Any = EURUSD) -> list[int]:
    return [pq.read_metadata(p).num_rows for p in catalog.parts(data_type, ident)]


def test_large_writes_are_split_into_bounded_parts(tmp_path: Path) -> None:
    catalog = DataCatalog(tmp_path, max_rows_per_part=100)
    data = simple_quotes(250)
    first = catalog.write_quotes(EURUSD, data)
    assert first is not None and first.name == "part-00000.parquet"
    assert part_rows(catalog) == [100, 100, 50]
    assert catalog.query_objects("quotes", EURUSD) == data
    assert not any(p.name.startswith(".tmp") or p.name == JOURNAL_FILE for p in first.parent.iterdir())
    with pytest.raises(CatalogError, match="max_rows_per_part must be positive"):
        DataCatalog(tmp_path, max_rows_per_part=0)


def test_parts_are_cut_where_ts_init_changes(tmp_path: Path) -> None:
    catalog = DataCatalog(tmp_path, max_rows_per_part=4)
    stamps = [1, 2, 3, 3, 3, 4, 5, 6, 6, 6, 6, 6, 6, 7]
    data = [QuoteTick(EURUSD, 0, 0, i * 10**9, 0, 5, 0, ts, T0 + ts) for i, ts in enumerate(stamps)]
    catalog.write_quotes(EURUSD, data)
    # 1 2 | 3 3 3 4 | 5 | 6 6 6 6 | 6 6 7: a run longer than a part is cut inside, in order.
    assert part_rows(catalog) == [2, 4, 1, 4, 3]
    assert catalog.query_objects("quotes", EURUSD) == data


# ---- overlap, replace ------------------------------------------------------------------------------


def test_overlapping_writes_are_refused_with_both_ranges(tmp_path: Path) -> None:
    catalog = DataCatalog(tmp_path)
    catalog.write_quotes(EURUSD, simple_quotes(10, T0, 10))  # T0 .. T0+90
    with pytest.raises(CatalogError) as refused:
        catalog.write_quotes(EURUSD, simple_quotes(3, T0 + 85, 10))
    message = str(refused.value)
    assert "dataset quotes/EUR/USD.SIM" in message and f"[{T0 + 85}, {T0 + 105}]" in message
    assert f"spans [{T0}, {T0 + 90}]" in message and "1 existing row(s)" in message and "replace=True" in message
    with pytest.raises(CatalogError, match="overlaps 1 existing"):  # an equal boundary timestamp is an overlap
        catalog.write_quotes(EURUSD, simple_quotes(1, T0 + 90))
    with pytest.raises(CatalogError, match="overlaps 1 existing"):
        catalog.write_quotes(EURUSD, simple_quotes(2, T0 - 10, 10))
    catalog.write_quotes(EURUSD, simple_quotes(2, T0 + 91))  # strictly after the last ts_init: a plain append
    catalog.write_quotes(EURUSD, simple_quotes(2, T0 - 20, 5))  # strictly before the first: also fine
    catalog.write_quotes(EURUSD, simple_quotes(4, T0 + 11, 2))  # inside a gap between rows: no row overlaps
    stamps = [q.ts_init - T0 for q in catalog.query_objects("quotes", EURUSD)]
    assert stamps == sorted(stamps) and len(stamps) == 18 and len(catalog.parts("quotes", EURUSD)) == 4


def test_replace_swaps_the_range_and_rewrites_only_affected_parts(tmp_path: Path) -> None:
    catalog = DataCatalog(tmp_path, max_rows_per_part=10)
    old = simple_quotes(40, T0, 10)  # four parts of ten: [T0, T0+90], [T0+100, T0+190], ...
    catalog.write_quotes(EURUSD, old)
    paths = catalog.parts("quotes", EURUSD)
    untouched = {p.name: p.read_bytes() for p in (paths[0], paths[3])}
    new = [QuoteTick(EURUSD, 7 * 10**4, 8 * 10**4, 10**9, 10**9, 5, 0, ts, ts) for ts in (T0 + 105, T0 + 150, T0 + 250)]
    with pytest.raises(CatalogError, match="overlaps 15 existing"):
        catalog.write_quotes(EURUSD, new)
    catalog.write_quotes(EURUSD, new, replace=True)
    expected = sorted([q for q in old if not T0 + 105 <= q.ts_init <= T0 + 250] + new, key=lambda q: q.ts_init)
    assert catalog.query_objects("quotes", EURUSD) == expected
    after = catalog.parts("quotes", EURUSD)
    for name, content in untouched.items():
        assert (tmp_path / "quotes" / "EUR%2FUSD.SIM" / name).read_bytes() == content
    assert {p.name for p in after} >= set(untouched) and "part-00001.parquet" not in {p.name for p in after}
    assert all(rows <= 10 for rows in part_rows(catalog))
    assert not (after[0].parent / JOURNAL_FILE).exists()
    catalog.write_quotes(EURUSD, simple_quotes(1, T0 + 1000), replace=True)  # no overlap: a plain append
    assert catalog.query_objects("quotes", EURUSD)[-1].ts_init == T0 + 1000


def test_replace_survives_a_crash_at_any_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Crash while linking the new parts (old data stay visible) or while deleting the old ones (new data
    visible): readers see one consistent version, and the next write finishes or rolls back the journal."""
    old, new = simple_quotes(30, T0, 10), simple_quotes(5, T0 + 100, 1)
    replaced = sorted([q for q in old if not T0 + 100 <= q.ts_init <= T0 + 104] + new, key=lambda q: q.ts_init)
    real_link, real_unlink = os.link, Path.unlink

    class Crash(Exception):
        pass

    def crash_on_second_link(src: Any, dst: Any) -> None:
        if str(dst).endswith("part-00004.parquet"):
            raise Crash
        real_link(src, dst)

    def crash_on_old_part(self: Path, missing_ok: bool = False) -> None:
        if self.name == "part-00001.parquet":
            raise Crash
        real_unlink(self, missing_ok=missing_ok)

    for crash, visible in ((crash_on_second_link, old), (crash_on_old_part, replaced)):
        root = tmp_path / crash.__name__
        catalog = DataCatalog(root, max_rows_per_part=10)
        catalog.write_quotes(EURUSD, old)  # parts 0..2
        with monkeypatch.context() as patch:
            if crash is crash_on_second_link:
                # Simulate the process dying: no clean-up of what was linked, the journal stays.
                patch.setattr(parquet_module.os, "link", crash)
                patch.setattr(Path, "unlink", lambda self, missing_ok=False: None)
            else:
                patch.setattr(Path, "unlink", crash)
            with pytest.raises(Crash):
                catalog.write_quotes(EURUSD, new, replace=True)
        directory = catalog.dataset_path("quotes", EURUSD)
        assert (directory / JOURNAL_FILE).exists()
        assert DataCatalog(root).query_objects("quotes", EURUSD) == visible
        catalog.write_quotes(EURUSD, simple_quotes(1, T0 + 5000))  # recovers the journal first
        assert not (directory / JOURNAL_FILE).exists()
        assert catalog.query_objects("quotes", EURUSD) == [*visible, *simple_quotes(1, T0 + 5000)]
        assert sum(part_rows(catalog)) == len(visible) + 1


# ---- consolidate -----------------------------------------------------------------------------------


def test_consolidate_merges_small_adjacent_parts(tmp_path: Path) -> None:
    catalog = DataCatalog(tmp_path)
    written: list[QuoteTick] = []
    for chunk in range(12):
        items = simple_quotes(chunk + 1, T0 + chunk * 1000, 7)
        catalog.write_quotes(EURUSD, items)
        written += items
    before = catalog.query("quotes", EURUSD)
    report = catalog.consolidate("quotes", EURUSD, target_rows=20)
    assert (report.data_type, report.identifier, report.rows) == (DataType.QUOTES, "EUR/USD.SIM", 78)
    assert (report.parts_before, report.parts_after) == (12, len(catalog.parts("quotes", EURUSD)))
    assert all(rows <= 20 for rows in part_rows(catalog)) and report.parts_after < 12
    assert len(report.removed) == 9 and len(report.written) == 3 and report.parts_after == 6  # 1-5, 6-7, 8-9
    names_before = {f"part-{i:05d}.parquet" for i in range(12)}
    assert {p.name for p in catalog.parts("quotes", EURUSD)} == (names_before - set(report.removed)) | set(
        report.written
    )
    assert catalog.query("quotes", EURUSD).equals(before)
    assert catalog.query_objects("quotes", EURUSD) == written
    again = catalog.consolidate("quotes", EURUSD, target_rows=20)
    assert again.removed == () and again.written == () and again.parts_before == again.parts_after
    everything = catalog.consolidate("quotes", EURUSD)  # default target: max_rows_per_part
    assert everything.parts_after == 1 and catalog.query("quotes", EURUSD).equals(before)


def test_consolidate_keeps_tie_order_of_overlapping_legacy_parts(tmp_path: Path) -> None:
    catalog = DataCatalog(tmp_path)
    first = [QuoteTick(EURUSD, 0, 0, 10**9, 0, 5, 0, ts, ts) for ts in (T0, T0 + 5, T0 + 5, T0 + 9)]
    second = [QuoteTick(EURUSD, 0, 0, 2 * 10**9, 0, 5, 0, ts, ts) for ts in (T0 + 1, T0 + 5, T0 + 9)]
    catalog.write_quotes(EURUSD, first)
    scratch = DataCatalog(tmp_path / "scratch")
    source = scratch.write_quotes(EURUSD, second, price_precision=5, size_precision=0)
    assert source is not None
    os.link(source, catalog.dataset_path("quotes", EURUSD) / "part-00001.parquet")  # as an older version allowed
    before = catalog.query_objects("quotes", EURUSD)
    assert [q.bid_size_raw // 10**9 for q in before] == [1, 2, 1, 1, 2, 1, 2]
    report = catalog.consolidate("quotes", EURUSD, target_rows=3)
    assert report.removed == ("part-00000.parquet", "part-00001.parquet")
    assert catalog.query_objects("quotes", EURUSD) == before
    assert part_rows(catalog) == [2, 3, 2]  # cut where ts_init changes


# ---- the index of part spans ---------------------------------------------------------------------


def test_index_is_kept_with_each_write_and_rebuilt_when_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = DataCatalog(tmp_path)
    for day in range(5):
        catalog.write_quotes(EURUSD, simple_quotes(100, T0 + day * 10**12, 10**9))
    index = catalog.dataset_path("quotes", EURUSD) / INDEX_FILE
    document = msgspec.json.decode(index.read_bytes())
    assert document["index_version"] == 1
    assert [p["name"] for p in document["parts"]] == [f"part-{i:05d}.parquet" for i in range(5)]
    assert document["parts"][2]["first_ts_init"] == T0 + 2 * 10**12 and document["parts"][2]["rows"] == 100

    footers: list[str] = []
    opened: list[str] = []
    real_metadata, real_file = pq.read_metadata, pq.ParquetFile

    def counting_metadata(path: Any, *args: Any, **kwargs: Any) -> Any:
        footers.append(Path(path).name)
        return real_metadata(path, *args, **kwargs)

    def counting_file(path: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(Path(path).name)
        return real_file(path, *args, **kwargs)

    monkeypatch.setattr(pq, "read_metadata", counting_metadata)
    monkeypatch.setattr(pq, "ParquetFile", counting_file)
    fresh = DataCatalog(tmp_path)
    day3 = fresh.query("quotes", EURUSD, T0 + 3 * 10**12, T0 + 3 * 10**12 + 50 * 10**9)
    assert day3.height == 51
    assert footers == [] and opened == ["part-00003.parquet"]  # one part opened, no other footer read

    index.unlink()
    assert DataCatalog(tmp_path).query("quotes", EURUSD).height == 500
    assert sorted(footers) == [f"part-{i:05d}.parquet" for i in range(5)]  # rebuilt in memory from the footers
    assert not index.exists()  # reads never write into the catalog
    footers.clear()
    assert fresh.query("quotes", EURUSD, T0, T0).height == 1 and footers == []  # this object remembers the parts
    assert catalog.refresh_indexes() == [index] and index.exists() and catalog.refresh_indexes() == []
    assert DataCatalog(tmp_path).query("quotes", EURUSD, T0, T0).height == 1 and footers == []
    index.write_text("not json")
    assert DataCatalog(tmp_path).query("quotes", EURUSD, T0, T0).height == 1 and len(footers) == 5  # ignored
    catalog.write_quotes(EURUSD, simple_quotes(1, T0 + 10**13))  # a write rewrites the index
    assert msgspec.json.decode(index.read_bytes())["index_version"] == 1


def test_truncated_part_names_the_file_and_changes_nothing(tmp_path: Path) -> None:
    catalog = DataCatalog(tmp_path)
    for day in range(3):
        catalog.write_quotes(EURUSD, simple_quotes(100, T0 + day * 10**12, 10**9))
    victim = catalog.parts("quotes", EURUSD)[1]
    victim.write_bytes(victim.read_bytes()[:-100])

    def snapshot() -> dict[str, bytes]:
        return {str(p.relative_to(tmp_path)): p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}

    before = snapshot()
    for read in (
        lambda: DataCatalog(tmp_path).query("quotes", EURUSD),
        lambda: catalog.query("quotes", EURUSD, T0, T0 + 10),
        lambda: list(catalog.stream([("quotes", EURUSD)])),
        lambda: catalog.query_objects("quotes", EURUSD),
        catalog.list_datasets,
    ):
        with pytest.raises(CatalogError, match=r"part-00001\.parquet: cannot read this Parquet part"):
            read()
        assert snapshot() == before
    with pytest.raises(CatalogError, match=r"part-00001\.parquet"):
        catalog.write_quotes(EURUSD, simple_quotes(1, T0 + 10**13))
    assert snapshot() == before


def test_corrupt_row_group_data_names_the_file(tmp_path: Path) -> None:
    catalog = DataCatalog(tmp_path)
    path = catalog.write_quotes(EURUSD, simple_quotes(1000, T0))
    assert path is not None
    data = bytearray(path.read_bytes())
    stat = path.stat()
    data[10:400] = b"\xff" * 390  # the footer is intact, the column chunks are not
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even an index that still looks valid
    with pytest.raises(CatalogError, match=r"part-00000\.parquet: cannot read"):
        catalog.query("quotes", EURUSD)


# ---- outside readers ------------------------------------------------------------------------------


def test_duckdb_and_polars_read_the_datasets_directly(tmp_path: Path) -> None:
    catalog = DataCatalog(tmp_path, max_rows_per_part=40)
    catalog.write_quotes(EURUSD, simple_quotes(100, T0, 10))
    catalog.write_deltas(EURUSD, delta_frame(), price_precision=2, size_precision=0)
    rows = duckdb.sql(
        f"SELECT count(*), min(ts_init), max(ts_init) FROM read_parquet('{tmp_path}/quotes/EUR%2FUSD.SIM/*.parquet')"
    ).fetchall()
    assert rows == [(100, T0, T0 + 990)]
    actions = duckdb.sql(
        f"SELECT action, count(*) FROM read_parquet('{tmp_path}/deltas/*/*.parquet') GROUP BY action ORDER BY action"
    ).fetchall()
    assert actions == [(1, 1), (2, 1), (3, 1), (4, 1)]
    frame = pl.scan_parquet(str(tmp_path / "quotes" / "EUR%2FUSD.SIM" / "*.parquet")).sort("ts_init").collect()
    assert frame.equals(catalog.query("quotes", EURUSD))


def test_instruments_are_a_parquet_dataset_and_legacy_json_still_reads(tmp_path: Path) -> None:
    import json

    import duckdb

    from toolkit.model.instruments import instrument_from_dict

    eurusd = instrument_from_dict(
        {
            "kind": "CurrencyPair",
            "id": "EUR/USD.SIM",
            "base_currency": "EUR",
            "quote_currency": "USD",
            "price_increment": "0.00001",
            "size_increment": "1",
        }
    )
    legacy = DataCatalog(tmp_path / "legacy")
    (legacy.path / "instruments").mkdir(parents=True)
    (legacy.path / "instruments" / "instruments.json").write_text(
        json.dumps({"toolkit.schema_version": 1, "instruments": [eurusd.to_dict()]})
    )
    assert [i.to_dict() for i in legacy.instruments()] == [eurusd.to_dict()]
    legacy.write_instruments([eurusd])  # rewritten as Parquet; the JSON file goes
    assert not (legacy.path / "instruments" / "instruments.json").exists()
    rows = duckdb.sql(f"SELECT instrument_id, kind FROM read_parquet('{legacy.path}/instruments/*.parquet')").fetchall()
    assert rows == [("EUR/USD.SIM", "CurrencyPair")]
    assert [i.to_dict() for i in DataCatalog(legacy.path).instruments()] == [eurusd.to_dict()]
