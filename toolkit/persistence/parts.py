"""Which part files make up one table of a snapshot folder (the naming rule both writers and readers use).

A table folder holds single parts `part-NNNNN.parquet` (one per write) and compacted parts
`part-FFFFF-LLLLL.parquet`, each holding the rows of parts F to L in order. A live node compacts a
growing table by writing the range file first and deleting the parts it covers afterwards, so for a
moment both exist: `part_files` leaves out any file whose numbers are covered by another range file,
and a reader never counts a row twice. Names that do not follow the rule are kept as they are (last).
This module imports nothing heavy, so `apps/` can use it without loading the trading code.
"""

from __future__ import annotations

import re
from pathlib import Path

PART_GLOB = "part-*.parquet"
_PART_NAME = re.compile(r"^part-(\d+)(?:-(\d+))?\.parquet$")


def part_range(path: Path) -> tuple[int, int] | None:
    """(first, last) part numbers a file holds, or None for a name outside the rule."""
    match = _PART_NAME.match(path.name)
    if match is None:
        return None
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) is not None else first
    return (first, last) if last >= first else None


def part_files(table_dir: Path) -> list[Path]:
    """The files to read for a table, in row order; covered parts of an unfinished compaction left out."""
    if not table_dir.is_dir():
        return []
    ranged: list[tuple[int, int, Path]] = []
    other: list[Path] = []
    for path in table_dir.glob(PART_GLOB):
        bounds = part_range(path)
        if bounds is None:
            other.append(path)
        else:
            ranged.append((bounds[0], bounds[1], path))
    chosen: list[tuple[int, int, Path]] = []
    for first, last, path in sorted(ranged, key=lambda r: (r[0] - r[1], r[0])):  # widest ranges first
        if not any(f <= first and last <= lst for f, lst, _ in chosen):
            chosen.append((first, last, path))
    return [path for _, _, path in sorted(chosen)] + sorted(other)


def next_part_number(table_dir: Path) -> int:
    """The number the next single part of a table takes (one past the highest covered so far)."""
    lasts = [bounds[1] for path in table_dir.glob(PART_GLOB) if (bounds := part_range(path)) is not None]
    return max(lasts) + 1 if table_dir.is_dir() and lasts else 0
