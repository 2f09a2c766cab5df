"""Parity of two snapshot folders: do two runs (a backtest and a live run, or two backtests) agree?

`compare_snapshots(a, b)` reads the `orders` and `fills` tables of both folders and compares them as
sequences, in time order: for orders the instrument, side, type, quantity, price, trigger price and
final status; for fills the instrument, side, quantity and price. Ids and timestamps differ between
runs by construction and are not compared. The result lists every position where the sequences
diverge (and rows only one side has); `toolkit parity` prints it, and `apps/compare.py` uses the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from toolkit.persistence.parts import part_files

ORDER_KEYS = ("instrument_id", "side", "order_type", "quantity", "price", "trigger_price", "status")
FILL_KEYS = ("instrument_id", "side", "last_qty", "last_px")


@dataclass
class ParityReport:
    a: Path
    b: Path
    orders_a: int = 0
    orders_b: int = 0
    fills_a: int = 0
    fills_b: int = 0
    differences: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.differences

    def render(self, limit: int = 20) -> str:
        head = (
            f"A: {self.a}\n   {self.orders_a} orders, {self.fills_a} fills\n"
            f"B: {self.b}\n   {self.orders_b} orders, {self.fills_b} fills"
        )
        if self.identical:
            return head + "\nno differences: orders and fills are identical"
        shown = self.differences[:limit]
        more = len(self.differences) - len(shown)
        tail = f"\n... and {more} more" if more > 0 else ""
        return head + f"\n{len(self.differences)} difference(s):\n  " + "\n  ".join(shown) + tail


class SnapshotError(ValueError):
    """A folder is not a readable snapshot."""


def read_table(folder: Path, table: str) -> pl.DataFrame:
    if not (folder / "manifest.json").is_file():
        raise SnapshotError(f"{folder}: not a snapshot folder (no manifest.json)")
    parts = part_files(folder / table)
    if not parts:
        raise SnapshotError(f"{folder}: the snapshot has no {table}/ table")
    return pl.concat([pl.read_parquet(p) for p in parts], how="vertical")


def _rows(frame: pl.DataFrame, keys: tuple[str, ...], order_by: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Rows in time order; ties in the order the strategy created the orders (the number that ends a
    client order id such as `O-20240102-000000-001-001-100`, compared as a number: "-99" before "-100")."""
    if frame.is_empty():
        return []
    tie = (
        pl.col("client_order_id").cast(pl.Utf8).str.extract(r"-(\d+)$", 1).cast(pl.Int64, strict=False).fill_null(0)
        if "client_order_id" in frame.columns
        else pl.lit(0)
    )
    ordered = frame.with_columns(tie.alias("_created")).sort([*order_by, "_created"], maintain_order=True)
    return [tuple("" if v is None else str(v) for v in row) for row in ordered.select(list(keys)).iter_rows()]


def _diff(name: str, a: list[tuple[str, ...]], b: list[tuple[str, ...]], keys: tuple[str, ...]) -> list[str]:
    out = []
    for index in range(max(len(a), len(b))):
        left = a[index] if index < len(a) else None
        right = b[index] if index < len(b) else None
        if left == right:
            continue
        if left is None or right is None:
            side, row = ("B only", right) if left is None else ("A only", left)
            out.append(f"{name} #{index + 1}: {side}: " + ", ".join(f"{k}={v}" for k, v in zip(keys, row, strict=True)))
            continue
        changed = [f"{k}: {x} != {y}" for k, x, y in zip(keys, left, right, strict=True) if x != y]
        out.append(f"{name} #{index + 1}: " + "; ".join(changed))
    return out


def compare_snapshots(a: str | Path, b: str | Path) -> ParityReport:
    """Compare orders and fills of two snapshot folders (see the module docstring)."""
    pa_, pb = Path(a), Path(b)
    report = ParityReport(pa_, pb)
    orders_a, orders_b = read_table(pa_, "orders"), read_table(pb, "orders")
    fills_a, fills_b = read_table(pa_, "fills"), read_table(pb, "fills")
    report.orders_a, report.orders_b = orders_a.height, orders_b.height
    report.fills_a, report.fills_b = fills_a.height, fills_b.height
    report.differences += _diff(
        "order", _rows(orders_a, ORDER_KEYS, ("ts_init",)), _rows(orders_b, ORDER_KEYS, ("ts_init",)), ORDER_KEYS
    )
    report.differences += _diff(
        "fill", _rows(fills_a, FILL_KEYS, ("ts_event",)), _rows(fills_b, FILL_KEYS, ("ts_event",)), FILL_KEYS
    )
    return report
