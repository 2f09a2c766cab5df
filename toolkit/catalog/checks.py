"""Data checks of imported frames and catalog datasets, and the repairs an import may apply (`toolkit catalog check`).

`check_frame` runs vectorised polars checks on one frame in a catalog raw schema against the
instrument it is meant for and returns `DataIssue`s; `check_catalog` runs the same checks on every
dataset of a catalog, streaming its Arrow batches (bounded memory) and carrying the previous
`ts_init` and the rows of the last timestamp across batch boundaries so order, gap and duplicate
checks see the dataset as one sequence. `fix_frame` applies the repairs an import may be asked
for: round to the instrument's grid, sort by `ts_init`, drop exact duplicate rows.

What is checked, per data type (prices/sizes are raw fixed-point ints, value * 10**9):

- every type: prices and sizes on the instrument's increments (`off_grid_price`/`off_grid_size`,
  error, fixable by rounding; the message names the increment the data imply: the gcd of the
  non-zero raw values, see `implied_increment`), prices > 0 unless the instrument allows negative
  prices (`non_positive_price`, error), `ts_init` never decreasing (`unsorted`, error, fixable by
  sorting), rows repeating an earlier row exactly (`duplicate_row`, error, fixable by dedupe), rows
  sharing the previous row's `ts_init` (`duplicate_ts`, warning: normal in tick data), and with a
  threshold, `ts_init` gaps longer than it (`gap`, warning);
- quotes: bid_size/ask_size > 0 (`non_positive_size`, error), bid > ask (`crossed`, warning: real
  FX feeds publish some); trades: size > 0; bars: volume >= 0 and high/low bounding open/close
  (`bad_ohlc`, error); deltas: CLEAR rows are exempt, ADD sizes > 0, UPDATE/DELETE sizes >= 0 (an
  MBP level set to 0 is removed), no `duplicate_ts` (the deltas of one update share it); depth10:
  empty levels (price 0 and size 0) are exempt, others need price and size > 0, and a best bid
  above the best ask is `crossed` (warning);
- catalog datasets only: the precisions stored with the dataset equal the instrument's, and a
  dataset without an instrument definition is checked against its stored precision (`precision`).

Each kind reports at most `max_examples` example rows (the first ones) and, on every example, the
total number of rows with that kind of issue (`DataIssue.count`). `row` is the frame's `row`
column when there is one (the 1-based row of the source file), else the 1-based position in the
frame (for catalog datasets: in `ts_init` stream order). The CLI exits 0 when no dataset has an
error (warnings allowed) and 1 when at least one has.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

import msgspec
import polars as pl
import pyarrow as pa

from toolkit.catalog.parquet import BOOK_ACTION_CODES, DataCatalog, DatasetInfo
from toolkit.model.data import BarType
from toolkit.model.enums import BookAction
from toolkit.model.identifiers import InstrumentId
from toolkit.model.instruments import Instrument
from toolkit.model.objects import FIXED_PRECISION, FIXED_SCALE

IssueKind = Literal[
    "off_grid_price",
    "off_grid_size",
    "precision",
    "unsorted",
    "duplicate_ts",
    "duplicate_row",
    "crossed",
    "non_positive_size",
    "gap",
    "non_positive_price",
    "bad_ohlc",
]
Severity = Literal["error", "warning"]
ISSUE_KINDS: tuple[str, ...] = get_args(IssueKind)

FIXES = ("round", "sort", "dedupe")
"""Repairs `fix_frame` knows, applied in this order (rounding can create duplicates; sorting groups them)."""

ROW_COLUMN = "row"
"""Optional column of an import frame: the 1-based row of the source file, reported instead of the position."""

CHECK_BATCH_ROWS = 131_072
"""Rows `check_catalog` gathers from a dataset's stream before checking them at once (memory ~ 250 bytes/row)."""


class DataIssue(msgspec.Struct, frozen=True):
    """One problem found in a dataset: a kind, where (row, column, value) and a message naming all of it.

    `count` is the number of rows of the dataset with this kind of issue (the same on every example
    of one kind); at most `max_examples` examples of each kind are reported.
    """

    kind: IssueKind
    dataset: str
    row: int | None
    column: str | None
    value: str | None
    message: str
    severity: Severity
    fixable: bool
    count: int = 1


# ---- rendering ------------------------------------------------------------------------------------


def format_decimal(raw: int, min_decimals: int = 0) -> str:
    """A raw fixed-point int (value * 10**9) as an exact decimal: no trailing zeros beyond `min_decimals`."""
    sign = "-" if raw < 0 else ""
    units, frac = divmod(abs(raw), FIXED_SCALE)
    digits = f"{frac:0{FIXED_PRECISION}d}".rstrip("0").ljust(min_decimals, "0")
    return f"{sign}{units}.{digits}" if digits else f"{sign}{units}"


def format_increment(raw: int) -> str:
    """An increment from `implied_increment` as a decimal string ("0.00001"); 0 (no non-zero value) is "0"."""
    return format_decimal(raw)


def format_ts(ns: int) -> str:
    """Nanoseconds since the epoch as an ISO-8601 UTC time with nanoseconds."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


def format_duration(ns: int) -> str:
    """A duration in nanoseconds as seconds with the minutes/hours spelled out when long ("5400 s (1h30m)")."""
    text = f"{format_decimal(ns)} s"
    if ns >= 60 * 1_000_000_000:
        minutes, seconds = divmod(ns // 1_000_000_000, 60)
        hours, minutes = divmod(minutes, 60)
        text += f" ({hours}h{minutes:02d}m{seconds:02d}s)" if hours else f" ({minutes}m{seconds:02d}s)"
    return text


# ---- implied increments ---------------------------------------------------------------------------


def implied_increment(values: pl.Series) -> int:
    """The raw increment a column's values imply: the gcd of its non-zero raw values (0 if there are none).

    Prices stored at 1.10003, 1.10010 and 1.10025 imply 0.00001; at 1.1000, 1.1010, 1.1025 they imply
    0.0005. Nulls and zeros carry no information and are ignored; signs are ignored.
    """
    return _gcd_update(0, values)


def _gcd_update(current: int, values: pl.Series) -> int:
    """gcd(current, the non-zero values): only values the current gcd does not divide can lower it."""
    values = values.drop_nulls()
    if current == 1 or values.len() == 0:
        return current
    values = values.filter(values % current != 0) if current else values.filter(values != 0)
    if values.len() == 0:
        return current
    return math.gcd(current, *values.abs().unique().to_list())


# ---- per data type rules --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Grid:
    """The grid and sign rules the checks apply: from the instrument, or from a stored precision."""

    label: str
    price_increment: int
    size_increment: int
    price_precision: int
    size_precision: int
    allow_negative_prices: bool

    @classmethod
    def of(cls, instrument: Instrument) -> _Grid:
        return cls(
            f"instrument {instrument.id}",
            instrument.price_increment.raw,
            instrument.size_increment.raw,
            instrument.price_precision,
            instrument.size_precision,
            instrument.allow_negative_prices,
        )

    @classmethod
    def of_precisions(cls, label: str, price_precision: int, size_precision: int) -> _Grid:
        return cls(
            label,
            10 ** (FIXED_PRECISION - price_precision),
            10 ** (FIXED_PRECISION - size_precision),
            price_precision,
            size_precision,
            False,
        )


@dataclass(frozen=True, slots=True)
class _Column:
    """A price or size column and the rows where it must be checked (None: every row)."""

    name: str
    applies: pl.Expr | None = None
    positive: bool = True  # sizes: > 0 (else >= 0); prices are always > 0 unless negatives are allowed
    positive_when: pl.Expr | None = None  # rows where a size must be > 0 (others only >= 0)

    def where(self, condition: pl.Expr) -> pl.Expr:
        return condition if self.applies is None else (condition & self.applies)


@dataclass(frozen=True, slots=True)
class _Spec:
    data_type: str
    required: tuple[str, ...]
    prices: tuple[_Column, ...]
    sizes: tuple[_Column, ...]
    extra: Callable[[_Grid], list[_Rule]] = lambda grid: []
    shared_ts: bool = False  # rows routinely share a ts_init (the deltas of one update): no duplicate_ts


@dataclass(frozen=True, slots=True)
class _Rule:
    """One per-row check: `masks` are (column, boolean expression) pairs; a row is flagged if any is true."""

    kind: IssueKind
    severity: Severity
    fixable: bool
    masks: tuple[tuple[str, pl.Expr], ...]
    detail: Callable[[dict[str, Any], str], str]


_TS = ("ts_event", "ts_init")


def _quote_rules(grid: _Grid) -> list[_Rule]:
    def detail(row: dict[str, Any], column: str) -> str:
        bid = format_decimal(row["bid"], grid.price_precision)
        ask = format_decimal(row["ask"], grid.price_precision)
        return f"bid {bid} is above ask {ask} (crossed quote)"

    return [_Rule("crossed", "warning", False, (("bid", pl.col("bid") > pl.col("ask")),), detail)]


def _bar_rules(grid: _Grid) -> list[_Rule]:
    o, h, lo, c = pl.col("open"), pl.col("high"), pl.col("low"), pl.col("close")

    def detail(row: dict[str, Any], column: str) -> str:
        values = " ".join(
            f"{n}={format_decimal(row[n], grid.price_precision)}" for n in ("open", "high", "low", "close")
        )
        what = "high is below open, low or close" if column == "high" else "low is above open or close"
        return f"{what} ({values})"

    masks = (("high", (h < o) | (h < c) | (h < lo)), ("low", (lo > o) | (lo > c)))
    return [_Rule("bad_ohlc", "error", False, masks, detail)]


_DEPTH_LEVEL = re.compile(r"^(bid|ask)_(price|size|count)s?_?(\d+)$")


def _depth_levels(columns: Iterable[str]) -> list[tuple[str, str, str]]:
    """(side, price column, size column) of each depth level found in the columns, best levels first."""
    found: dict[tuple[str, int], dict[str, str]] = {}
    for name in columns:
        match = _DEPTH_LEVEL.match(name)
        if match:
            found.setdefault((match[1], int(match[3])), {})[match[2]] = name
    levels = []
    for (side, _), names in sorted(found.items()):
        if "price" in names and "size" in names:
            levels.append((side, names["price"], names["size"]))
    return levels


def _depth_spec(columns: Iterable[str]) -> _Spec:
    levels = _depth_levels(columns)
    if not levels:
        raise ValueError(
            "depth10 frame has no level columns (expected e.g. bid_price_0, bid_size_0, ask_price_0, ask_size_0)"
        )
    prices, sizes = [], []
    for _, price, size in levels:
        filled = ~((pl.col(price) == 0) & (pl.col(size) == 0))
        prices.append(_Column(price, filled))
        sizes.append(_Column(size, filled))
    best = {side: (price, size) for side, price, size in reversed(levels)}  # level 0 wins

    def rules(grid: _Grid) -> list[_Rule]:
        if "bid" not in best or "ask" not in best:
            return []
        (bid, bid_size), (ask, ask_size) = best["bid"], best["ask"]

        def detail(row: dict[str, Any], column: str) -> str:
            return (
                f"best bid {format_decimal(row[bid], grid.price_precision)} is above best ask "
                f"{format_decimal(row[ask], grid.price_precision)} (crossed book)"
            )

        crossed = (pl.col(bid_size) > 0) & (pl.col(ask_size) > 0) & (pl.col(bid) > pl.col(ask))
        return [_Rule("crossed", "warning", False, ((bid, crossed),), detail)]

    required = tuple(name for _, price, size in levels for name in (price, size)) + _TS
    return _Spec("depth10", required, tuple(prices), tuple(sizes), rules)


def _action_is(action: BookAction) -> pl.Expr:
    """Rows whose `action` is this book action, given by name ("ADD") or by the catalog's uint8 code."""
    names = [action.value, str(BOOK_ACTION_CODES[action])]
    return pl.col("action").cast(pl.String).str.to_uppercase().is_in(names)


_NOT_CLEAR = ~_action_is(BookAction.CLEAR)
_IS_ADD = _action_is(BookAction.ADD)

_SPECS: dict[str, _Spec] = {
    "quotes": _Spec(
        "quotes",
        ("bid", "ask", "bid_size", "ask_size", *_TS),
        (_Column("bid"), _Column("ask")),
        (_Column("bid_size"), _Column("ask_size")),
        _quote_rules,
    ),
    "trades": _Spec("trades", ("price", "size", *_TS), (_Column("price"),), (_Column("size"),)),
    "bars": _Spec(
        "bars",
        ("open", "high", "low", "close", "volume", *_TS),
        (_Column("open"), _Column("high"), _Column("low"), _Column("close")),
        (_Column("volume", positive=False),),
        _bar_rules,
    ),
    "deltas": _Spec(
        "deltas",
        ("action", "price", "size", *_TS),
        (_Column("price", _NOT_CLEAR),),
        (_Column("size", _NOT_CLEAR, positive=False, positive_when=_IS_ADD),),
        shared_ts=True,
    ),
}


def _spec(data_type: Any, columns: Iterable[str]) -> _Spec:
    name = str(getattr(data_type, "value", data_type)).lower()
    if name == "depth10":
        return _depth_spec(columns)
    spec = _SPECS.get(name)
    if spec is None:
        raise ValueError(f"no checks for data type {data_type!r} (expected one of: {', '.join([*_SPECS, 'depth10'])})")
    return spec


def _value_rules(spec: _Spec, grid: _Grid) -> list[_Rule]:
    """Grid and sign rules of the price and size columns."""

    def on_grid(increment: int, precision: int, what: str) -> Callable[[dict[str, Any], str], str]:
        def detail(row: dict[str, Any], column: str) -> str:
            value = row[column]
            decimals = len(format_decimal(value).partition(".")[2])
            reason = f" (more decimals than {what}_precision={precision})" if decimals > precision else ""
            return (
                f"{format_decimal(value, precision)} is not a multiple of the {what} increment "
                f"{format_increment(increment)} of {grid.label}{reason}"
            )

        return detail

    def sign(precision: int, what: str) -> Callable[[dict[str, Any], str], str]:
        def detail(row: dict[str, Any], column: str) -> str:
            value = format_decimal(row[column], precision)
            if row[column] < 0:
                return f"{what} {value} is negative"
            return f"{what} {value} is not positive"

        return detail

    rules = []
    if grid.price_increment > 1:
        masks = tuple((c.name, c.where(pl.col(c.name) % grid.price_increment != 0)) for c in spec.prices)
        rules.append(
            _Rule("off_grid_price", "error", True, masks, on_grid(grid.price_increment, grid.price_precision, "price"))
        )
    if grid.size_increment > 1:
        masks = tuple((c.name, c.where(pl.col(c.name) % grid.size_increment != 0)) for c in spec.sizes)
        rules.append(
            _Rule("off_grid_size", "error", True, masks, on_grid(grid.size_increment, grid.size_precision, "size"))
        )
    if not grid.allow_negative_prices:
        masks = tuple((c.name, c.where(pl.col(c.name) <= 0)) for c in spec.prices)
        rules.append(_Rule("non_positive_price", "error", False, masks, sign(grid.price_precision, "price")))
    size_masks = []
    for c in spec.sizes:
        bad = pl.col(c.name) <= 0 if c.positive else pl.col(c.name) < 0
        if c.positive_when is not None:
            bad = bad | ((pl.col(c.name) == 0) & c.positive_when)
        size_masks.append((c.name, c.where(bad)))
    rules.append(_Rule("non_positive_size", "error", False, tuple(size_masks), sign(grid.size_precision, "size")))
    return rules


def _order_rules(gap_threshold_ns: int | None, shared_ts: bool) -> list[_Rule]:
    """Rules on `ts_init` against the previous row (`_prev_ts`) and the duplicate flag (`_dup`)."""
    ts, prev = pl.col("ts_init"), pl.col("_prev_ts")

    def unsorted(row: dict[str, Any], column: str) -> str:
        return f"ts_init {format_ts(row['ts_init'])} is earlier than the previous row's {format_ts(row['_prev_ts'])}"

    def duplicate_ts(row: dict[str, Any], column: str) -> str:
        return f"ts_init {format_ts(row['ts_init'])} repeats the previous row's timestamp"

    def duplicate_row(row: dict[str, Any], column: str) -> str:
        return f"the row repeats an earlier row exactly (ts_init {format_ts(row['ts_init'])})"

    rules = [
        _Rule("unsorted", "error", True, (("ts_init", ts < prev),), unsorted),
        _Rule("duplicate_row", "error", True, (("ts_init", pl.col("_dup")),), duplicate_row),
    ]
    if not shared_ts:
        rules.append(
            _Rule("duplicate_ts", "warning", False, (("ts_init", (ts == prev) & ~pl.col("_dup")),), duplicate_ts)
        )
    if gap_threshold_ns is not None:

        def gap(row: dict[str, Any], column: str) -> str:
            return (
                f"{format_duration(row['ts_init'] - row['_prev_ts'])} since the previous row "
                f"({format_ts(row['_prev_ts'])} -> {format_ts(row['ts_init'])}), longer than the "
                f"{format_duration(gap_threshold_ns)} threshold"
            )

        rules.append(_Rule("gap", "warning", False, (("ts_init", ts - prev > gap_threshold_ns),), gap))
    return rules


# ---- the checker ----------------------------------------------------------------------------------


@dataclass
class _KindState:
    rule: _Rule
    count: int = 0
    examples: list[tuple[int, str, str, str]] = field(default_factory=list)  # (row, column, value, detail)


def _example_value(kind: IssueKind, row: dict[str, Any], column: str, grid: _Grid) -> str:
    value = row[column]
    if kind == "gap":
        return format_decimal(row["ts_init"] - row["_prev_ts"])
    if kind in ("unsorted", "duplicate_ts", "duplicate_row"):
        return str(value)
    if kind in ("off_grid_size", "non_positive_size"):
        return format_decimal(value, grid.size_precision)
    return format_decimal(value, grid.price_precision)


class _Checker:
    """Checks one dataset fed as a sequence of frames (in stream order), carrying state across them."""

    def __init__(
        self,
        data_type: Any,
        columns: Iterable[str],
        grid: _Grid,
        *,
        dataset: str,
        source: str | None,
        gap_threshold_ns: int | None,
        max_examples: int,
    ) -> None:
        columns = list(columns)
        self.spec = _spec(data_type, columns)
        missing = [c for c in self.spec.required if c not in columns]
        if missing:
            raise ValueError(f"{dataset}: the {self.spec.data_type} frame lacks column(s) {', '.join(missing)}")
        if max_examples < 0:
            raise ValueError(f"max_examples must not be negative, got {max_examples}")
        if gap_threshold_ns is not None and gap_threshold_ns < 0:
            raise ValueError(f"gap_threshold_ns must not be negative, got {gap_threshold_ns}")
        self.grid = grid
        self.dataset = dataset
        self.where = f"{source} ({dataset})" if source else dataset
        self.max_examples = max_examples
        self.data_columns = [c for c in columns if c != ROW_COLUMN]
        rules = [
            *_value_rules(self.spec, grid),
            *self.spec.extra(grid),
            *_order_rules(gap_threshold_ns, self.spec.shared_ts),
        ]
        self.states = [_KindState(rule) for rule in rules]
        self.rows = 0
        self.prev_ts: int | None = None
        self.carry: pl.DataFrame | None = None  # rows with the last ts_init seen, for duplicates across frames
        self.price_gcd = 0
        self.size_gcd = 0

    def feed(self, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        positions = pl.int_range(self.rows + 1, self.rows + frame.height + 1, dtype=pl.Int64)
        row_expr = pl.col(ROW_COLUMN).cast(pl.Int64) if ROW_COLUMN in frame.columns else positions
        prev = (
            pl.col("ts_init").shift(1, fill_value=self.prev_ts)
            if self.prev_ts is not None
            else pl.col("ts_init").shift(1)
        )
        frame = frame.with_columns(_row=row_expr, _prev_ts=prev)
        frame = frame.with_columns(_dup=self._duplicates(frame))
        self._gcds(frame)
        self._count(frame)
        self.rows += frame.height
        last = frame["ts_init"][-1]
        self.prev_ts = last
        tail = frame.filter(pl.col("ts_init") == last).select(self.data_columns)
        if self.carry is not None and self.carry.height and self.carry["ts_init"][0] == last:
            tail = pl.concat([self.carry, tail])
        self.carry = tail

    def _duplicates(self, frame: pl.DataFrame) -> pl.Series:
        """True for rows that repeat an earlier row (this frame, or the carried rows of the last timestamp).

        Equal rows share their ts_init, so only rows whose ts_init occurs more than once are compared
        whole (a hash of one column first, then of all the columns of those few rows).
        """
        data = frame.select(self.data_columns)
        carried = 0
        if self.carry is not None and self.carry.height:
            data = pl.concat([self.carry, data])
            carried = self.carry.height
        candidates = data["ts_init"].is_duplicated()
        dup = pl.repeat(False, data.height, eager=True)
        if candidates.any():
            positions = candidates.arg_true()
            subset = data.filter(candidates)
            if len(self.data_columns) == 1:
                repeated = ~subset.to_series().is_first_distinct()
            else:
                repeated = ~subset.select(pl.struct(self.data_columns).is_first_distinct()).to_series()
            if repeated.any():
                dup = dup.scatter(positions.filter(repeated), True)
        return dup.slice(carried)

    def _gcds(self, frame: pl.DataFrame) -> None:
        for columns, attr in ((self.spec.prices, "price_gcd"), (self.spec.sizes, "size_gcd")):
            gcd = getattr(self, attr)
            if gcd == 1:
                continue
            for column in columns:
                values = frame[column.name] if column.applies is None else frame.filter(column.applies)[column.name]
                gcd = _gcd_update(gcd, values)
            setattr(self, attr, gcd)

    def _count(self, frame: pl.DataFrame) -> None:
        anys = [
            pl.any_horizontal([m.fill_null(False) for _, m in s.rule.masks]).alias(f"_k{i}")
            for i, s in enumerate(self.states)
        ]
        counts = frame.select([a.sum() for a in anys]).row(0)
        for i, (state, count) in enumerate(zip(self.states, counts, strict=True)):
            if not count:
                continue
            state.count += count
            need = self.max_examples - len(state.examples)
            if need <= 0:
                continue
            masks = [m.fill_null(False).alias(f"_m{j}") for j, (_, m) in enumerate(state.rule.masks)]
            rows = frame.filter(anys[i]).head(need).with_columns(masks).iter_rows(named=True)
            for row in rows:
                column = next(name for j, (name, _) in enumerate(state.rule.masks) if row[f"_m{j}"])
                value = _example_value(state.rule.kind, row, column, self.grid)
                state.examples.append((row["_row"], column, value, state.rule.detail(row, column)))

    def issues(self) -> list[DataIssue]:
        out: list[DataIssue] = []
        for state in self.states:
            if not state.count:
                continue
            kind = state.rule.kind
            total = f"{state.count} row{'s' if state.count != 1 else ''} in total"
            suffix = total
            if kind == "off_grid_price":
                suffix = f"the prices imply increment {format_increment(self.price_gcd)}; {total}"
            elif kind == "off_grid_size":
                suffix = f"the sizes imply increment {format_increment(self.size_gcd)}; {total}"
            for row, column, value, detail in state.examples:
                out.append(
                    DataIssue(
                        kind=kind,
                        dataset=self.dataset,
                        row=row,
                        column=column,
                        value=value,
                        message=f"{self.where}: row {row}, column {column}: {detail} ({suffix})",
                        severity=state.rule.severity,
                        fixable=state.rule.fixable,
                        count=state.count,
                    )
                )
            if not state.examples:  # max_examples=0: one summary issue per kind
                out.append(
                    DataIssue(
                        kind=kind,
                        dataset=self.dataset,
                        row=None,
                        column=None,
                        value=None,
                        message=f"{self.where}: {kind.replace('_', ' ')} ({suffix})",
                        severity=state.rule.severity,
                        fixable=state.rule.fixable,
                        count=state.count,
                    )
                )
        return out


def check_frame(
    data_type: Any,
    frame: pl.DataFrame,
    instrument: Instrument,
    *,
    dataset: str,
    source: str | None = None,
    gap_threshold_ns: int | None = None,
    max_examples: int = 5,
) -> list[DataIssue]:
    """Issues of one frame in the raw schema of `data_type` (quotes, trades, bars, deltas, depth10).

    `dataset` names the target dataset ("quotes/EUR/USD.SIM") and `source` the file the frame came
    from; both appear in the messages. An optional `row` column gives the source rows to report.
    """
    checker = _Checker(
        data_type,
        frame.columns,
        _Grid.of(instrument),
        dataset=dataset,
        source=source,
        gap_threshold_ns=gap_threshold_ns,
        max_examples=max_examples,
    )
    checker.feed(frame)
    return checker.issues()


# ---- repairs --------------------------------------------------------------------------------------


def _round_half_even(column: pl.Expr, increment: int) -> pl.Expr:
    """Round raw values to a multiple of `increment`, ties to the even multiple (exact integer arithmetic)."""
    quotient = column // increment  # floor division, so the remainder is in [0, increment)
    twice = 2 * (column - quotient * increment)
    up = (twice > increment) | ((twice == increment) & (quotient % 2 == 1))
    return (quotient + up.cast(pl.Int64)) * increment


def fix_frame(
    data_type: Any, frame: pl.DataFrame, instrument: Instrument, fixes: set[str]
) -> tuple[pl.DataFrame, list[str]]:
    """Apply the named repairs and say what each changed (nothing said when it changed nothing).

    "round": prices and sizes to the instrument's increments, half-even; "sort": stably by ts_init;
    "dedupe": drop rows repeating an earlier row exactly (the `row` column is not compared), keeping
    the first. They apply in that order.
    """
    unknown = sorted(set(fixes) - set(FIXES))
    if unknown:
        raise ValueError(f"unknown fix(es) {', '.join(unknown)}: valid fixes are {', '.join(FIXES)}")
    spec = _spec(data_type, frame.columns)
    messages: list[str] = []
    if "round" in fixes:
        grid = _Grid.of(instrument)
        for columns, increment in ((spec.prices, grid.price_increment), (spec.sizes, grid.size_increment)):
            if increment == 1:
                continue
            for column in columns:
                if column.name not in frame.columns:
                    continue
                old = pl.col(column.name)
                new = _round_half_even(old, increment)
                if column.applies is not None:
                    new = pl.when(column.applies).then(new).otherwise(old)
                changed = frame.select((new != old).sum()).item()
                if changed:
                    frame = frame.with_columns(new.alias(column.name))
                    messages.append(
                        f"rounded {changed} {column.name} value{'s' if changed != 1 else ''} to the "
                        f"{format_increment(increment)} grid"
                    )
    if "sort" in fixes:
        descents = frame.select((pl.col("ts_init").diff() < 0).sum()).item()
        if descents:
            frame = frame.sort("ts_init", maintain_order=True)
            messages.append(f"sorted {descents} row{'s' if descents != 1 else ''} out of order")
    if "dedupe" in fixes:
        subset = [c for c in frame.columns if c != ROW_COLUMN]
        deduped = frame.unique(subset=subset, keep="first", maintain_order=True)
        dropped = frame.height - deduped.height
        if dropped:
            frame = deduped
            messages.append(f"dropped {dropped} exact duplicate row{'s' if dropped != 1 else ''}")
    return frame, messages


# ---- catalog datasets -----------------------------------------------------------------------------


class DatasetReport(msgspec.Struct, frozen=True):
    """What `check_dataset` found: the issues plus the increments the data imply (0: no non-zero value)."""

    dataset: str
    rows: int
    issues: list[DataIssue]
    price_increment: int | None
    size_increment: int | None
    implied_price_increment: int
    implied_size_increment: int

    @property
    def errors(self) -> int:
        """Issues of error severity (examples, not rows: see `DataIssue.count` for totals)."""
        return sum(1 for issue in self.issues if issue.severity == "error")


def _dataset_name(info: DatasetInfo) -> str:
    """`data_type/identifier`, as the catalog names a dataset in its messages."""
    return f"{getattr(info.data_type, 'value', info.data_type)}/{info.identifier}"


def _instrument_id_of(info: DatasetInfo) -> InstrumentId:
    if str(info.data_type) == "bars":
        return BarType.from_str(info.identifier).instrument_id
    return InstrumentId(info.identifier)


def _gathered(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pl.DataFrame]:
    """Frames of about `rows` rows from a stream of batches (fewer Python round trips than batch by batch)."""
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        held.append(batch.replace_schema_metadata(None))
        count += batch.num_rows
        if count >= rows:
            yield pl.from_arrow(pa.Table.from_batches(held))  # type: ignore[misc]
            held, count = [], 0
    if held:
        yield pl.from_arrow(pa.Table.from_batches(held))  # type: ignore[misc]


def check_dataset(
    catalog: DataCatalog,
    info: DatasetInfo,
    *,
    gap_threshold_ns: int | None = None,
    max_examples: int = 5,
    batch_rows: int = CHECK_BATCH_ROWS,
) -> DatasetReport:
    """Check one catalog dataset, streaming it in `ts_init` order (memory bounded by `batch_rows`)."""
    data_type = str(getattr(info.data_type, "value", info.data_type))
    dataset = _dataset_name(info)
    instrument_id = _instrument_id_of(info)
    instrument = catalog.instrument(instrument_id)
    header: list[DataIssue] = []
    if instrument is None:
        grid = _Grid.of_precisions(
            f"the stored precisions (no instrument {instrument_id} in the catalog)",
            info.price_precision,
            info.size_precision,
        )
        header.append(
            DataIssue(
                kind="precision",
                dataset=dataset,
                row=None,
                column=None,
                value=None,
                message=(
                    f"{dataset}: instrument {instrument_id} is not in the catalog: checked against the stored "
                    f"price_precision={info.price_precision} and size_precision={info.size_precision} only"
                ),
                severity="warning",
                fixable=False,
            )
        )
    else:
        grid = _Grid.of(instrument)
        for what, stored, declared in (
            ("price_precision", info.price_precision, instrument.price_precision),
            ("size_precision", info.size_precision, instrument.size_precision),
        ):
            if stored != declared:
                header.append(
                    DataIssue(
                        kind="precision",
                        dataset=dataset,
                        row=None,
                        column=what,
                        value=str(stored),
                        message=f"{dataset}: stored {what}={stored} differs from {instrument_id}'s {declared}",
                        severity="error",
                        fixable=False,
                    )
                )
    checker: _Checker | None = None
    batches = catalog.stream_batches(data_type, info.identifier, batch_size=min(batch_rows, 65_536))
    for frame in _gathered(batches, batch_rows):
        if checker is None:
            checker = _Checker(
                data_type,
                frame.columns,
                grid,
                dataset=dataset,
                source=None,
                gap_threshold_ns=gap_threshold_ns,
                max_examples=max_examples,
            )
        checker.feed(frame)
    issues = header + (checker.issues() if checker is not None else [])
    return DatasetReport(
        dataset=dataset,
        rows=checker.rows if checker is not None else 0,
        issues=issues,
        price_increment=instrument.price_increment.raw if instrument is not None else None,
        size_increment=instrument.size_increment.raw if instrument is not None else None,
        implied_price_increment=checker.price_gcd if checker is not None else 0,
        implied_size_increment=checker.size_gcd if checker is not None else 0,
    )


def check_catalog(
    catalog: DataCatalog, gap_threshold_ns: int | None = None, max_examples: int = 5
) -> dict[str, list[DataIssue]]:
    """Issues of every dataset of the catalog, keyed by dataset ("quotes/EUR/USD.SIM"); [] when clean."""
    return {
        report.dataset: report.issues
        for report in (
            check_dataset(catalog, info, gap_threshold_ns=gap_threshold_ns, max_examples=max_examples)
            for info in catalog.list_datasets()
        )
    }


# ---- command line ---------------------------------------------------------------------------------


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--catalog", required=True, help="catalog folder")
    parser.add_argument(
        "--gap", type=float, metavar="SECONDS", help="report ts_init gaps longer than this (default: not checked)"
    )
    parser.add_argument(
        "--max-examples", type=int, default=5, metavar="N", help="example rows per kind of issue (default 5)"
    )
    parser.add_argument(
        "--dataset",
        action="append",
        metavar="NAME",
        help="check only this dataset, e.g. quotes/EUR/USD.SIM (repeatable; default: all)",
    )
    parser.epilog = "Exit status: 0 when no dataset has an error (warnings allowed), 1 when one has."


def _describe(report: DatasetReport) -> list[str]:
    lines = []
    by_kind: dict[str, list[DataIssue]] = {}
    for issue in report.issues:
        by_kind.setdefault(issue.kind, []).append(issue)
    errors = sum(1 for issues in by_kind.values() if issues[0].severity == "error")
    warnings = len(by_kind) - errors
    grid = ""
    if report.price_increment is not None and report.size_increment is not None:
        grid = (
            f"; price increment {format_increment(report.price_increment)} "
            f"(data imply {format_increment(report.implied_price_increment)}), size increment "
            f"{format_increment(report.size_increment)} (data imply {format_increment(report.implied_size_increment)})"
        )
    if not by_kind:
        lines.append(f"{report.dataset}: {report.rows:,} rows: OK{grid}")
        return lines
    status = ", ".join(
        part
        for part in (
            f"{errors} kind{'s' if errors != 1 else ''} of error" if errors else "",
            f"{warnings} kind{'s' if warnings != 1 else ''} of warning" if warnings else "",
        )
        if part
    )
    lines.append(f"{report.dataset}: {report.rows:,} rows: {status}{grid}")
    for kind, issues in by_kind.items():
        first = issues[0]
        fix = {"off_grid_price": "round", "off_grid_size": "round", "unsorted": "sort", "duplicate_row": "dedupe"}
        how = f", import --fix {fix[kind]} repairs it" if first.fixable and kind in fix else ""
        examples = [i for i in issues if i.row is not None]
        shown = f", first {len(examples)} shown" if examples and len(examples) < first.count else ""
        lines.append(f"  {first.severity.upper()} {kind}: {first.count:,} row(s){shown}{how}")
        lines.extend(f"    {issue.message}" for issue in issues)
    return lines


def run_check_cli(args: argparse.Namespace) -> int:
    root = Path(args.catalog)
    if not root.is_dir():
        raise FileNotFoundError(f"catalog folder {root} does not exist")
    if args.max_examples < 0:
        raise ValueError(f"--max-examples must not be negative, got {args.max_examples}")
    gap_ns = None
    if args.gap is not None:
        if args.gap < 0:
            raise ValueError(f"--gap must not be negative, got {args.gap}")
        gap_ns = round(args.gap * 1_000_000_000)
    catalog = DataCatalog(root)
    infos = catalog.list_datasets()
    if args.dataset:
        names = {_dataset_name(i): i for i in infos}
        unknown = [name for name in args.dataset if name not in names]
        if unknown:
            raise ValueError(f"no dataset {', '.join(unknown)} in {root} (available: {', '.join(names) or 'none'})")
        infos = [names[name] for name in args.dataset]
    if not infos:
        print(f"{root}: no datasets")
        return 0
    gap_text = f"gaps over {format_duration(gap_ns)}" if gap_ns is not None else "gaps not checked (--gap SECONDS)"
    print(f"checking {len(infos)} dataset(s) in {root} ({gap_text})")
    failed = 0
    warned = 0
    for info in infos:
        report = check_dataset(catalog, info, gap_threshold_ns=gap_ns, max_examples=args.max_examples)
        for line in _describe(report):
            print(line)
        if report.errors:
            failed += 1
        elif report.issues:
            warned += 1
    ok = len(infos) - failed - warned
    print(f"{failed} dataset(s) with errors, {warned} with warnings only, {ok} OK")
    return 1 if failed else 0
