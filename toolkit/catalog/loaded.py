"""What a loader hands to the import pipeline (`LoadedData`), its errors, and the one place the data checks run.

Loaders (`loaders`, `binance`, `tardis`) parse the structure of a vendor file and return `LoadedData`:
a polars frame in the catalog's raw schema of one data type plus an int64 `row` column, the source
row of every output row (1-based line number in a CSV file counting the header line, 1-based row
index in a Parquet file). `check_loaded` runs `toolkit.catalog.checks` on such a frame against the
instrument, refuses it with `ImportRefused` (file, row, column, value, reason) when an error is not
covered by the requested fixes, else applies the fixes and returns the repaired frame. Both the
importer and the legacy `load_*` functions go through it, so there is one policy.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from toolkit.catalog.parquet import DataType
from toolkit.model.data import BarType
from toolkit.model.identifiers import InstrumentId
from toolkit.model.instruments import Instrument

PathLike = str | os.PathLike[str]
ROW = "row"
"""Name of the column carrying the source row number of every loaded row."""

FIXES = ("round", "sort", "dedupe")
"""Repairs an import may ask for: round to the instrument grid, sort by time, drop exact duplicate rows."""

FIX_FOR_KIND = {
    "off_grid_price": "round",
    "off_grid_size": "round",
    "precision": "round",
    "unsorted": "sort",
    "duplicate_row": "dedupe",
}
"""Which fix repairs a fixable issue kind (an issue kind not listed here is never covered by a fix)."""


def location(path: PathLike, row: int | None, column: str | None = None) -> str:
    """`file: row 12, column price` (row: the 1-based CSV line counting the header, or Parquet row)."""
    text = str(path)
    if row is not None:
        text += f": row {row}"
    if column:
        text += f", column {column}" if row is not None else f": column {column}"
    return text


class LoaderError(ValueError):
    """A file could not be loaded; names the file, the row (1-based) and the column when one is at fault.

    `line` is the same as `row` (kept for callers of the first loaders).
    """

    def __init__(
        self,
        path: PathLike,
        row: int | None,
        message: str,
        *,
        column: str | None = None,
        value: Any = None,
        text: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.row = row
        self.line = row
        self.column = column
        self.value = value
        self.reason = message
        super().__init__(text if text is not None else f"{location(self.path, row, column)}: {message}")


class ImportRefused(LoaderError):
    """The data checks found errors that the requested fixes do not repair; names the first one.

    The message is the first error's (file, row, column, value, reason, the number of rows with
    that problem), its kind, the fix that would repair it, and the other kinds of errors found.
    `issues` holds every error-severity issue (up to the checks' example limit per kind).
    """

    def __init__(self, path: PathLike, issues: Sequence[Any], after: str = "") -> None:
        self.issues = list(issues)
        first = self.issues[0]
        fix = FIX_FOR_KIND.get(first.kind)
        text = f"{first.message} [{first.kind}{after}]"
        if fix and first.fixable:
            text += f" (--fix {fix} repairs it)"
        counts: dict[str, int] = {}
        for issue in self.issues:
            counts.setdefault(issue.kind, getattr(issue, "count", 1))
        others = [
            f"{kind} ({count} row{'s' if count != 1 else ''})" for kind, count in counts.items() if kind != first.kind
        ]
        if others:
            text += f"; other errors: {', '.join(others)}"
        super().__init__(path, first.row, first.message, column=first.column, value=first.value, text=text)


@dataclass(frozen=True)
class LoadedData:
    """One parsed file (or the part of it going to one dataset), in the catalog raw schema plus `row`.

    `repairs` lists what the loader itself changed (only when asked to, e.g. rounding values with more
    than 9 decimals); `warnings` what it noticed without refusing (e.g. a sequence gap in book updates).
    `column_sources` names another file for columns that came from it (the ASK file of bid/ask quotes).
    """

    data_type: DataType
    identifier: InstrumentId | BarType
    frame: pl.DataFrame
    source: Path
    repairs: tuple[str, ...] = field(default=())
    warnings: tuple[str, ...] = field(default=())
    column_sources: dict[str, Path] = field(default_factory=dict)

    def source_of(self, column: str | None) -> Path:
        """The file a column's values came from."""
        return self.column_sources.get(column or "", self.source)

    @property
    def instrument_id(self) -> InstrumentId:
        ident = self.identifier
        return ident.instrument_id if isinstance(ident, BarType) else ident

    @property
    def dataset(self) -> str:
        """`data_type/identifier`, the name the catalog and the checks use for the dataset."""
        return f"{self.data_type.value}/{self.identifier}"

    @property
    def rows(self) -> int:
        return self.frame.height


@dataclass(frozen=True)
class CheckedData:
    """A loaded frame that passed the checks: repaired when fixes were asked for, `row` column kept."""

    loaded: LoadedData
    frame: pl.DataFrame
    repairs: tuple[str, ...]
    warnings: tuple[str, ...]


def parse_fixes(fix: Iterable[str] | str | None) -> frozenset[str]:
    """`"round,sort"` or an iterable of names -> a validated set of fix names."""
    if fix is None:
        return frozenset()
    names = [part.strip() for part in fix.split(",")] if isinstance(fix, str) else [str(part).strip() for part in fix]
    names = [name for name in names if name]
    unknown = [name for name in names if name not in FIXES]
    if unknown:
        raise ValueError(f"unknown fix {', '.join(map(repr, unknown))} (expected some of: {', '.join(FIXES)})")
    return frozenset(names)


def _refused(loaded: LoadedData, issues: list[Any], after: str) -> ImportRefused:
    """The refusal of the first issue, naming the file its column came from (the ASK file of bid/ask quotes)."""
    source = loaded.source_of(issues[0].column)
    refused = ImportRefused(source, issues, after)
    if source != loaded.source:  # the checks named the frame's source: name the column's file instead
        refused.args = (str(refused).replace(f"{loaded.source} (", f"{source} (", 1),)
    return refused


def check_loaded(loaded: LoadedData, instrument: Instrument, fix: Iterable[str] = ()) -> CheckedData:
    """Run the data checks on a loaded frame; refuse uncovered errors, else apply `fix` and check again.

    Raises `ImportRefused` naming the file, source row, column, value and reason of the first error
    the fixes do not cover. Warnings (the first of each kind, naming the file) are returned, never raised.
    """
    from toolkit.catalog import checks

    fixes = parse_fixes(fix)
    if loaded.instrument_id != instrument.id:
        raise LoaderError(loaded.source, None, f"{loaded.dataset} is not data of instrument {instrument.id}")
    frame = loaded.frame
    issues = checks.check_frame(loaded.data_type, frame, instrument, dataset=loaded.dataset, source=str(loaded.source))
    errors = [i for i in issues if i.severity == "error"]
    uncovered = [i for i in errors if not (i.fixable and FIX_FOR_KIND.get(i.kind) in fixes)]
    if uncovered:
        raise _refused(loaded, uncovered, "")
    repairs: list[str] = list(loaded.repairs)
    if fixes:
        frame, done = checks.fix_frame(loaded.data_type, frame, instrument, set(fixes))
        repairs.extend(f"{loaded.source} ({loaded.dataset}): {line}" for line in done)
        issues = checks.check_frame(
            loaded.data_type, frame, instrument, dataset=loaded.dataset, source=str(loaded.source)
        )
        remaining = [i for i in issues if i.severity == "error"]
        if remaining:
            raise _refused(loaded, remaining, ", left after the repairs")
    warnings = list(loaded.warnings)
    kinds: set[str] = set()
    for issue in issues:  # the first example of each kind of warning (its message gives the total)
        if issue.severity != "error" and issue.kind not in kinds:
            kinds.add(issue.kind)
            warnings.append(issue.message)
    return CheckedData(loaded, frame, tuple(repairs), tuple(warnings))
