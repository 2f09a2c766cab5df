"""Snapshot part naming and compaction: a growing live table is merged into one range file, and a reader
listing the folder at any moment of a compaction sees every row exactly once."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from toolkit.analysis.reader import open_snapshot
from toolkit.persistence.parts import next_part_number, part_files, part_range
from toolkit.persistence.snapshot import SnapshotWriter


def _equity(ts: int) -> dict[str, object]:
    from decimal import Decimal

    return {
        "ts": ts,
        "account_id": "SIM-001",
        "currency": "USD",
        "balance": Decimal("100.5"),
        "unrealized_pnl": Decimal("0"),
        "equity": Decimal(100) + Decimal(ts) / 1000,
    }


def _touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")


def test_part_range_reads_single_and_range_names() -> None:
    assert part_range(Path("part-00007.parquet")) == (7, 7)
    assert part_range(Path("part-00000-00063.parquet")) == (0, 63)
    assert part_range(Path("part-00010-00002.parquet")) is None
    assert part_range(Path(".part-00001.parquet.abc.tmp")) is None
    assert part_range(Path("data.parquet")) is None


def test_part_files_skips_parts_covered_by_a_range_file(tmp_path: Path) -> None:
    folder = tmp_path / "equity"
    _touch(
        folder,
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
        "part-00000-00002.parquet",
        "part-00003.parquet",
        "part-00004.parquet",
    )
    assert [p.name for p in part_files(folder)] == [
        "part-00000-00002.parquet",
        "part-00003.parquet",
        "part-00004.parquet",
    ]
    _touch(folder, "part-00000-00004.parquet")  # a second compaction, before the first one's files are gone
    assert [p.name for p in part_files(folder)] == ["part-00000-00004.parquet"]
    assert next_part_number(folder) == 5
    assert part_files(tmp_path / "missing") == [] and next_part_number(tmp_path / "missing") == 0


def test_compaction_keeps_every_row_once_and_in_order(tmp_path: Path) -> None:
    writer = SnapshotWriter(tmp_path / "snap")
    for i in range(10):
        writer.write_part("equity", [_equity(i)])
    writer.write_manifest({"schema_version": 1, "mode": "live", "status": "running"})
    assert writer.compact("equity", max_parts=16) is None  # under the limit: nothing to do
    merged = writer.compact("equity", max_parts=4)
    assert merged is not None and merged.name == "part-00000-00009.parquet"
    assert [p.name for p in (tmp_path / "snap" / "equity").glob("part-*.parquet")] == [merged.name]
    for i in range(10, 13):
        writer.write_part("equity", [_equity(i)])
    assert sorted(p.name for p in (tmp_path / "snap" / "equity").iterdir()) == [
        "part-00000-00009.parquet",
        "part-00010.parquet",
        "part-00011.parquet",
        "part-00012.parquet",
    ]
    table = open_snapshot(tmp_path / "snap").table("equity")
    assert table["ts"].to_list() == list(range(13))
    assert str(table["balance"][0]) == "100.500000000"  # exact decimals survive the merge

    # a writer opened later on the same folder continues the numbering after the range
    again = SnapshotWriter(tmp_path / "snap")
    assert again.write_part("equity", [_equity(13)]).name == "part-00013.parquet"


def test_a_reader_between_range_write_and_deletion_sees_no_duplicates(tmp_path: Path) -> None:
    writer = SnapshotWriter(tmp_path / "snap")
    for i in range(5):
        writer.write_part("fills", [])
        writer.write_part("equity", [_equity(i)])
    writer.write_manifest({"schema_version": 1, "mode": "live", "status": "running"})
    folder = tmp_path / "snap" / "equity"
    # the state in the middle of a compaction: the range file is in place, the covered parts not yet deleted
    merged = pl.concat([pl.read_parquet(p) for p in sorted(folder.glob("part-*.parquet"))])
    merged.write_parquet(folder / "part-00000-00004.parquet")
    assert len(list(folder.glob("part-*.parquet"))) == 6
    table = open_snapshot(tmp_path / "snap").table("equity")
    assert table["ts"].to_list() == [0, 1, 2, 3, 4]


def test_live_snapshot_compacts_its_growing_tables(tmp_path: Path) -> None:
    from toolkit.engine.portfolio import EquityPoint
    from toolkit.model.objects import Money
    from toolkit.persistence.snapshot import LiveSnapshot

    class _Cache:
        def orders(self) -> list[object]:
            return []

        def positions(self) -> list[object]:
            return []

        def position_snapshots(self) -> list[object]:
            return []

    class _Portfolio:
        def __init__(self) -> None:
            self.account_states: list[object] = []

        def equity_points(self, ts: int) -> list[EquityPoint]:
            usd = Money.from_str(f"{1000 + ts // 1_000_000_000}.25 USD")
            return [EquityPoint(ts, "SIM-001", "USD", usd, Money.from_str("0 USD"), usd)]

    snapshot = LiveSnapshot(tmp_path / "live", {"trader_id": "T-1", "snapshot_interval_secs": 1.0}, max_parts=8)
    for second in range(30):
        snapshot.write(_Cache(), _Portfolio(), [], "running", second * 1_000_000_000)
    for table in ("equity", "fills", "account", "prices"):
        assert len(list((tmp_path / "live" / table).glob("part-*.parquet"))) <= 8, table
    opened = open_snapshot(tmp_path / "live")
    assert opened.manifest["snapshot_interval_secs"] == 1.0
    equity = opened.table("equity")
    assert equity["ts"].to_list() == [s * 1_000_000_000 for s in range(30)]
    assert str(equity["equity"][29]) == "1029.250000000"
