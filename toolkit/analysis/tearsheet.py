"""Tearsheet figures of one snapshot folder: pure computations behind `apps/tearsheet.py`, `apps/compare.py`
and `toolkit report`.

`SnapshotData.read(snapshot)` reads every table once through `toolkit.analysis.reader`; the functions
below turn those frames into the tearsheet's series and tables. Nothing here draws, writes or imports
`toolkit.live`.

- Account-level figures (`equity_curve`, `daily_returns_frame`, `monthly_returns`, `performance`) belong
  to one account and currency: equity is not split by instrument or strategy. `performance` is
  `toolkit.backtest.statistics.compute_performance` over the equity samples, the realized PnLs of the
  account's closed position cycles (net of commissions) and its fills' commissions, with the first
  equity sample as the starting balance: the figures the backtest summary prints. PnLs and commissions in
  another currency than the account's are left out (a snapshot holds no conversion rates);
  `performance_notes` says so when it happens.
- Trade-level tables (`price_series`, `fill_markers`, `trades`, `fills_table`, `net_positions`,
  `open_orders`, `commissions`) take `Filters` (instruments, strategies; empty means all).
- `load(path)` returns the tables or a message for a folder that is not (yet) a snapshot;
  `summary_deltas`, `differences_frame` (of `compare_snapshots(a, b).differences`) and `equity_overlay`
  serve `apps/compare.py`.
- Money stays exact (`Decimal`, written with the currency's decimals when that loses nothing); columns
  ending in `_f` are float copies for charts.
- Drawdown is `equity / running peak - 1` (<= 0), the running peak starting at the first sample, so
  `-min(drawdown)` equals `statistics.max_drawdown(equity, first sample)`. Monthly returns chain month-end
  equities (the first month against the first sample), so they compound to the total return.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Context, Decimal
from pathlib import Path

import polars as pl

from toolkit.analysis.reader import DECIMAL, Snapshot, SnapshotProblem, ns_to_datetime, open_snapshot
from toolkit.backtest.statistics import (
    PerformanceSummary,
    compute_performance,
    daily_closes,
    daily_returns,
)
from toolkit.model.objects import Currency

__all__ = [
    "MONTHS",
    "Filters",
    "KeyFigures",
    "SnapshotData",
    "account_for",
    "commissions",
    "daily_returns_frame",
    "differences_frame",
    "display_frame",
    "equity_curve",
    "equity_overlay",
    "fill_markers",
    "fills_table",
    "format_duration_ns",
    "format_money",
    "is_open_status",
    "key_figures",
    "load",
    "monthly_returns",
    "monthly_table",
    "net_positions",
    "open_orders",
    "performance",
    "performance_notes",
    "price_series",
    "statistics_table",
    "summary_deltas",
    "thin",
    "trades",
]

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
OPEN_STATUSES = frozenset({"ACCEPTED", "TRIGGERED", "PARTIALLY_FILLED"})  # and every PENDING_*
_WIDE = Context(prec=60)
_ZERO = Decimal(0)


def is_open_status(status: str | None) -> bool:
    """An order still working at the venue: ACCEPTED, TRIGGERED, PARTIALLY_FILLED or PENDING_*."""
    return status is not None and (status in OPEN_STATUSES or status.startswith("PENDING_"))


# ---- money -----------------------------------------------------------------------------------------


def currency_precision(code: str | None) -> int | None:
    """Decimals of a known currency (USD 2, JPY 0, BTC 8...), None when unknown."""
    if not code:
        return None
    try:
        return Currency.from_str(code).precision
    except ValueError:
        return None


def trim(value: Decimal, precision: int | None) -> Decimal:
    """The same value written with `precision` decimals when that loses nothing, else with the fewest it needs.

    Snapshot money has 9 decimals; the backtest summary writes money at the currency's precision.
    """
    if precision is not None:
        quantized = value.quantize(Decimal(1).scaleb(-precision), context=_WIDE)
        if quantized == value:
            return quantized
    normal = value.normalize(_WIDE)
    exponent = normal.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        normal = normal.quantize(Decimal(1), context=_WIDE)
    return normal


def format_money(value: Decimal | None, currency: str | None = None) -> str:
    """`1,234.50 USD` at the currency's precision (all decimals the value has when unknown); `n/a` for None."""
    if value is None:
        return "n/a"
    precision = currency_precision(currency)
    shown = trim(value, precision)
    exponent = shown.as_tuple().exponent
    places = max(0, -exponent) if isinstance(exponent, int) else 0
    if precision is not None:
        places = max(places, precision)
    text = f"{shown:,.{places}f}"
    return f"{text} {currency}" if currency else text


# ---- reading ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """Instruments and strategies to keep; an empty tuple keeps all."""

    instruments: tuple[str, ...] = ()
    strategies: tuple[str, ...] = ()

    @classmethod
    def of(cls, instrument: str | Iterable[str] | None = None, strategy: str | Iterable[str] | None = None) -> Filters:
        def tup(value: str | Iterable[str] | None) -> tuple[str, ...]:
            if value is None:
                return ()
            if isinstance(value, str):
                return (value,)
            return tuple(value)

        return cls(tup(instrument), tup(strategy))

    def apply(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Rows of `frame` (with `instrument_id` and/or `strategy_id` columns) that pass the filters."""
        if self.instruments and "instrument_id" in frame.columns:
            frame = frame.filter(pl.col("instrument_id").is_in(list(self.instruments)))
        if self.strategies and "strategy_id" in frame.columns:
            frame = frame.filter(pl.col("strategy_id").is_in(list(self.strategies)))
        return frame


ALL = Filters()


@dataclass(frozen=True)
class SnapshotData:
    """The tables of one snapshot, read once through the reader."""

    snapshot: Snapshot
    orders: pl.DataFrame
    fills: pl.DataFrame
    positions: pl.DataFrame
    account: pl.DataFrame
    equity: pl.DataFrame
    prices: pl.DataFrame

    @classmethod
    def read(cls, snapshot: Snapshot) -> SnapshotData:
        tables = {name: snapshot.table(name) for name in ("orders", "fills", "positions", "account", "equity")}
        tables["fills"] = tables["fills"].sort("ts_event", maintain_order=True)
        tables["equity"] = tables["equity"].sort("ts", maintain_order=True)
        tables["account"] = tables["account"].sort("ts", maintain_order=True)
        prices = snapshot.table("prices").sort("ts", maintain_order=True)
        return cls(snapshot=snapshot, prices=prices, **tables)

    @property
    def manifest(self) -> dict:
        return self.snapshot.manifest

    def accounts(self) -> list[tuple[str, str]]:
        """(account id, currency) pairs with equity samples (else with account states), in first-seen order."""
        source = self.equity if self.equity.height else self.account
        pairs = source.select("account_id", "currency").unique(maintain_order=True)
        return [(str(a), str(c)) for a, c in pairs.iter_rows()]

    def instruments(self) -> list[str]:
        """Every instrument the run had orders, fills, positions or prices for (and the manifest lists)."""
        found: set[str] = set(map(str, self.manifest.get("instruments") or []))
        for frame in (self.orders, self.fills, self.positions, self.prices):
            found.update(str(v) for v in frame["instrument_id"].unique().to_list() if v is not None)
        return sorted(found)

    def strategies(self) -> list[str]:
        found: set[str] = set(map(str, self.manifest.get("strategies") or []))
        for frame in (self.orders, self.fills, self.positions):
            found.update(str(v) for v in frame["strategy_id"].unique().to_list() if v is not None)
        return sorted(found)

    def span_ns(self) -> tuple[int, int] | None:
        """First and last timestamp the snapshot has data for (equity, prices, fills, account)."""
        firsts: list[int] = []
        lasts: list[int] = []
        for frame, column in ((self.equity, "ts"), (self.prices, "ts"), (self.fills, "ts_event"), (self.account, "ts")):
            if frame.height:
                firsts.append(int(frame[column].min()))  # type: ignore[arg-type]
                lasts.append(int(frame[column].max()))  # type: ignore[arg-type]
        if not firsts:
            return None
        return min(firsts), max(lasts)


# ---- equity, drawdown, returns ---------------------------------------------------------------------


def equity_curve(data: SnapshotData, account_id: str, currency: str) -> pl.DataFrame:
    """Equity samples of one account and currency in time order, with the running peak and the drawdown.

    Columns: ts, time, currency, balance, unrealized_pnl, equity, peak (exact), drawdown (fraction <= 0),
    drawdown_amount (exact, >= 0), equity_f and drawdown_pct (floats for charts).
    """
    rows = data.equity.filter((pl.col("account_id") == account_id) & (pl.col("currency") == currency))
    precision = currency_precision(currency)
    values = [trim(v, precision) for v in rows["equity"].to_list()]
    peaks: list[Decimal] = []
    drawdowns: list[float] = []
    amounts: list[Decimal] = []
    peak: Decimal | None = None
    for value in values:
        peak = value if peak is None or value > peak else peak
        peaks.append(peak)
        amounts.append(peak - value)
        drawdowns.append(-float((peak - value) / peak) if peak > 0 else 0.0)
    curve = rows.select("ts", "currency", "balance", "unrealized_pnl").with_columns(
        pl.Series("equity", values, dtype=DECIMAL),
        pl.Series("peak", peaks, dtype=DECIMAL),
        pl.Series("drawdown", drawdowns, dtype=pl.Float64),
        pl.Series("drawdown_amount", amounts, dtype=DECIMAL),
    )
    curve = ns_to_datetime(curve, "ts", "time")
    return curve.with_columns(
        pl.col("equity").cast(pl.Float64).alias("equity_f"),
        (pl.col("drawdown") * 100).alias("drawdown_pct"),
    ).select(
        "ts",
        "time",
        "currency",
        "balance",
        "unrealized_pnl",
        "equity",
        "peak",
        "drawdown",
        "drawdown_amount",
        "equity_f",
        "drawdown_pct",
    )


def _series(curve: pl.DataFrame) -> tuple[list[int], list[Decimal]]:
    """Timestamps and exact equities of a curve, the equities written with the currency's decimals."""
    precision = currency_precision(curve["currency"][0]) if curve.height else None
    return [int(t) for t in curve["ts"].to_list()], [trim(v, precision) for v in curve["equity"].to_list()]


def daily_returns_frame(curve: pl.DataFrame) -> pl.DataFrame:
    """Daily returns of an equity curve (columns `day`, `return`), as `statistics.daily_returns` counts them:
    last sample per UTC day, the first sample standing for the close of the day before."""
    ts, equity = _series(curve)
    if not equity:
        return pl.DataFrame(schema={"day": pl.Date, "return": pl.Float64})
    closes = daily_closes(ts, equity)
    returns = daily_returns(ts, equity, equity[0])
    previous = [equity[0], *[value for _, value in closes[:-1]]]
    days = [day for (day, _), before in zip(closes, previous, strict=True) if before > 0]
    if len(days) != len(returns):  # cannot happen: daily_returns skips exactly the days after a close <= 0
        raise AssertionError("daily returns and their days disagree")
    labels = [date.fromordinal(date(1970, 1, 1).toordinal() + day) for day in days]
    return pl.DataFrame({"day": labels, "return": returns}, schema={"day": pl.Date, "return": pl.Float64})


def monthly_returns(curve: pl.DataFrame) -> pl.DataFrame:
    """Monthly returns as fractions (columns `year`, `month` 1-12, `return`): each UTC month's last equity
    against the previous month's last (the first month against the first sample). Months without samples
    are absent; a month after a close <= 0 has a null return."""
    ts, equity = _series(curve)
    schema = {"year": pl.Int32, "month": pl.Int32, "return": pl.Float64}
    if not equity:
        return pl.DataFrame(schema=schema)
    closes: list[tuple[int, int, Decimal]] = []
    for stamp, value in zip(ts, equity, strict=True):
        moment = datetime.fromtimestamp(stamp // 1_000_000_000, tz=UTC)
        if closes and closes[-1][:2] == (moment.year, moment.month):
            closes[-1] = (moment.year, moment.month, value)
        else:
            closes.append((moment.year, moment.month, value))
    rows = []
    previous = equity[0]
    for year, month, value in closes:
        rows.append((year, month, float(value / previous - 1) if previous > 0 else None))
        previous = value
    return pl.DataFrame(rows, schema=schema, orient="row")


def monthly_table(monthly: pl.DataFrame) -> pl.DataFrame:
    """Years as rows, `Jan`..`Dec` and the compounded `Year` as columns (fractions; null without data)."""
    columns: dict[str, list] = {"year": [], **{name: [] for name in MONTHS}, "Year": []}
    for year in sorted(set(monthly["year"].to_list())):
        rows = monthly.filter(pl.col("year") == year)
        by_month = dict(zip(rows["month"].to_list(), rows["return"].to_list(), strict=True))
        columns["year"].append(year)
        compounded: float | None = 1.0
        for number, name in enumerate(MONTHS, start=1):
            value = by_month.get(number)
            columns[name].append(value)
            if number in by_month:
                compounded = None if value is None or compounded is None else compounded * (1.0 + value)
        columns["Year"].append(None if compounded is None else compounded - 1.0)
    schema = {"year": pl.Int32, **{name: pl.Float64 for name in MONTHS}, "Year": pl.Float64}
    return pl.DataFrame(columns, schema=schema)


# ---- statistics ------------------------------------------------------------------------------------


def _closed_cycles(data: SnapshotData, account_id: str) -> pl.DataFrame:
    return data.positions.filter((pl.col("account_id") == account_id) & ~pl.col("is_open"))


def performance(data: SnapshotData, account_id: str, currency: str) -> PerformanceSummary | None:
    """The backtest summary's figures for one account and currency (None without equity samples)."""
    curve = equity_curve(data, account_id, currency)
    if curve.is_empty():
        return None
    precision = currency_precision(currency)
    ts, equity = _series(curve)
    closed = _closed_cycles(data, account_id).filter(pl.col("currency") == currency)
    pnls = [trim(v, precision) for v in closed["realized_pnl"].to_list()]
    fees = data.fills.filter((pl.col("account_id") == account_id) & (pl.col("commission_currency") == currency))
    total_fees = trim(sum(fees["commission"].to_list(), _ZERO), precision)
    return compute_performance(ts, equity, pnls, total_fees, equity[0], currency=currency)


def performance_notes(data: SnapshotData, account_id: str, currency: str) -> list[str]:
    """What `performance` had to leave out (PnLs or commissions in another currency), for the user."""
    notes = []
    closed = _closed_cycles(data, account_id).filter(pl.col("currency") != currency)
    if closed.height:
        notes.append(
            f"{closed.height} closed position cycle(s) settle in another currency "
            f"({', '.join(sorted(set(closed['currency'].to_list())))}) and are not in the trade statistics"
        )
    fees = data.fills.filter((pl.col("account_id") == account_id) & (pl.col("commission_currency") != currency))
    if fees.height:
        notes.append(
            f"{fees.height} fill(s) paid commission in another currency "
            f"({', '.join(sorted(set(fees['commission_currency'].to_list())))}): not in the commissions figure"
        )
    return notes


def statistics_table(summary: PerformanceSummary | None) -> pl.DataFrame:
    """`PerformanceSummary.as_rows()` as a two-column frame (`figure`, `value`)."""
    rows = summary.as_rows() if summary is not None else []
    return pl.DataFrame(rows, schema={"figure": pl.String, "value": pl.String}, orient="row")


# ---- trade-level tables ----------------------------------------------------------------------------


def price_series(data: SnapshotData, filters: Filters = ALL) -> pl.DataFrame:
    """Sampled mark prices (ts, time, instrument_id, price as float) of the kept instruments."""
    prices = filters.apply(data.prices) if filters.instruments else data.prices
    frame = prices.select("ts", "instrument_id", pl.col("price").cast(pl.Float64))
    return ns_to_datetime(frame, "ts", "time").select("ts", "time", "instrument_id", "price")


def fill_markers(data: SnapshotData, filters: Filters = ALL) -> pl.DataFrame:
    """Fills as chart points: time, instrument_id, strategy_id, side (BUY/SELL), price and quantity as floats."""
    fills = filters.apply(data.fills)
    frame = fills.select(
        "ts_event",
        "instrument_id",
        "strategy_id",
        "side",
        pl.col("last_px").cast(pl.Float64).alias("price"),
        pl.col("last_qty").cast(pl.Float64).alias("quantity"),
        "client_order_id",
    )
    return ns_to_datetime(frame, "ts_event", "time").drop("ts_event").select("time", pl.exclude("time"))


def fills_table(data: SnapshotData, filters: Filters = ALL) -> pl.DataFrame:
    """Every kept fill in time order, with a UTC time column first."""
    fills = filters.apply(data.fills)
    frame = ns_to_datetime(fills, "ts_event", "time")
    return frame.select(
        "time",
        "instrument_id",
        "strategy_id",
        "side",
        "last_qty",
        "last_px",
        "commission",
        "commission_currency",
        "liquidity_side",
        "order_type",
        "client_order_id",
        "trade_id",
        "position_id",
        "account_id",
        "ts_event",
    )


def trades(data: SnapshotData, filters: Filters = ALL) -> pl.DataFrame:
    """Closed position cycles: instrument, side (LONG/SHORT by the opening side), quantity (peak), open and
    close times and average prices, realized PnL (net of commissions) and duration."""
    closed = filters.apply(data.positions.filter(~pl.col("is_open"))).sort(
        ["ts_closed", "position_id", "cycle"], maintain_order=True
    )
    frame = closed.with_columns(
        pl.when(pl.col("entry") == "BUY").then(pl.lit("LONG")).otherwise(pl.lit("SHORT")).alias("side"),
        pl.from_epoch("ts_opened", time_unit="ns").dt.replace_time_zone("UTC").alias("opened"),
        pl.from_epoch("ts_closed", time_unit="ns").dt.replace_time_zone("UTC").alias("closed"),
        pl.col("duration_ns").cast(pl.Duration("ns")).alias("duration"),
    )
    return frame.select(
        "instrument_id",
        "strategy_id",
        "side",
        pl.col("peak_qty").alias("quantity"),
        "opened",
        pl.col("avg_px_open").alias("open_price"),
        "closed",
        pl.col("avg_px_close").alias("close_price"),
        "realized_pnl",
        "currency",
        "duration",
        "position_id",
        "cycle",
        "account_id",
    )


def net_positions(data: SnapshotData, filters: Filters = ALL) -> pl.DataFrame:
    """Signed net quantity per instrument after each fill (BUY +, SELL -), rebuilt from the fills: a step
    series starting at 0 at the snapshot's first timestamp and held to its last.

    Columns: ts, time, instrument_id, net_qty (exact), net_qty_f (float for charts).
    """
    schema = {"ts": pl.Int64, "instrument_id": pl.String, "net_qty": DECIMAL}
    fills = filters.apply(data.fills)
    span = data.span_ns()
    parts = []
    if fills.height and span is not None:
        signed = fills.select(
            "ts_event",
            "instrument_id",
            pl.when(pl.col("side") == "SELL").then(-pl.col("last_qty")).otherwise(pl.col("last_qty")).alias("q"),
        )
        steps = signed.with_columns(pl.col("q").cum_sum().over("instrument_id").alias("net_qty")).select(
            pl.col("ts_event").alias("ts"), "instrument_id", pl.col("net_qty").cast(DECIMAL)
        )
        # Several fills at one timestamp: the position after the last of them.
        steps = steps.group_by("ts", "instrument_id", maintain_order=True).last()
        first = steps.group_by("instrument_id", maintain_order=True).agg(pl.col("ts").min())
        starts = first.select(
            pl.min_horizontal(pl.col("ts"), pl.lit(span[0])).alias("ts"),
            "instrument_id",
            pl.lit(_ZERO).cast(DECIMAL).alias("net_qty"),
        )
        ends = steps.group_by("instrument_id", maintain_order=True).last()
        ends = ends.with_columns(pl.max_horizontal(pl.col("ts"), pl.lit(span[1])).alias("ts"))
        parts = [frame.select(list(schema)) for frame in (starts, steps, ends)]
    frame = pl.concat(parts) if parts else pl.DataFrame(schema=schema)
    frame = frame.unique(subset=["ts", "instrument_id"], keep="last", maintain_order=True).sort(
        ["instrument_id", "ts"], maintain_order=True
    )
    frame = ns_to_datetime(frame, "ts", "time")
    return frame.select("ts", "time", "instrument_id", "net_qty", pl.col("net_qty").cast(pl.Float64).alias("net_qty_f"))


def open_orders(data: SnapshotData, filters: Filters = ALL) -> pl.DataFrame:
    """Orders still working (ACCEPTED, TRIGGERED, PENDING_*, PARTIALLY_FILLED), oldest first."""
    orders = filters.apply(data.orders)
    working = orders.filter(
        pl.col("status").is_in(sorted(OPEN_STATUSES)) | pl.col("status").str.starts_with("PENDING_")
    ).sort("ts_init", maintain_order=True)
    frame = ns_to_datetime(working, "ts_init", "created")
    frame = ns_to_datetime(frame, "ts_last", "updated")
    return frame.select(
        "created",
        "instrument_id",
        "strategy_id",
        "side",
        "order_type",
        "quantity",
        "filled_qty",
        "price",
        "trigger_price",
        "status",
        "time_in_force",
        "updated",
        "client_order_id",
        "venue_order_id",
    )


def commissions(data: SnapshotData, filters: Filters = ALL) -> pl.DataFrame:
    """Commissions of the kept fills per currency (columns `currency`, `commission` exact, `fills`)."""
    fills = filters.apply(data.fills)
    frame = (
        fills.group_by(pl.col("commission_currency").alias("currency"))
        .agg(pl.col("commission").sum().cast(DECIMAL), pl.len().alias("fills"))
        .sort("currency")
    )
    return frame.select("currency", "commission", pl.col("fills").cast(pl.Int64))


# ---- key figures -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyFigures:
    """The headline of a tearsheet. Account-level money (final equity, total PnL) for one account and
    currency; counts (fills, trades) and commissions under the filters."""

    account_id: str | None
    currency: str | None
    final_equity: Decimal | None
    total_pnl: Decimal | None
    total_return: float | None
    fill_count: int
    trade_count: int
    commissions: Decimal

    def as_rows(self) -> list[tuple[str, str]]:
        ret = "n/a" if self.total_return is None else f"{self.total_return * 100:.2f}%"
        return [
            ("Final equity", format_money(self.final_equity, self.currency)),
            ("Total PnL", format_money(self.total_pnl, self.currency)),
            ("Total return", ret),
            ("Fills", f"{self.fill_count:,}"),
            ("Trades", f"{self.trade_count:,}"),
            ("Commissions", format_money(self.commissions, self.currency)),
        ]


def key_figures(data: SnapshotData, account: tuple[str, str] | None = None, filters: Filters = ALL) -> KeyFigures:
    """Final equity and total PnL of `account` (default: the first with equity), fills, trades and the
    commissions in its currency under `filters`."""
    accounts = data.accounts()
    if account is None and accounts:
        account = accounts[0]
    account_id, currency = account if account is not None else (None, None)
    summary = performance(data, account_id, currency) if account_id and currency else None
    fills = filters.apply(data.fills)
    fee_rows = fills.filter(pl.col("commission_currency") == currency) if currency else fills.clear()
    fees = trim(sum(fee_rows["commission"].to_list(), _ZERO), currency_precision(currency))
    return KeyFigures(
        account_id=account_id,
        currency=currency,
        final_equity=summary.final_equity if summary is not None else None,
        total_pnl=summary.total_pnl if summary is not None else None,
        total_return=summary.total_return if summary is not None else None,
        fill_count=fills.height,
        trade_count=trades(data, filters).height,
        commissions=fees,
    )


# ---- charts ----------------------------------------------------------------------------------------


def thin(frame: pl.DataFrame, max_rows: int, by: str | None = None, keep: Sequence[str] = ()) -> pl.DataFrame:
    """At most about `max_rows` rows (per group of `by`) for a chart: every k-th row, the last row and the
    rows holding the minimum and maximum of each `keep` column, in the original order."""
    if max_rows < 2 or frame.height <= max_rows:
        return frame
    indexed = frame.with_row_index("_row")
    groups = indexed.partition_by(by, maintain_order=True) if by else [indexed]
    kept = []
    for group in groups:
        if group.height <= max_rows:
            kept.append(group)
            continue
        step = -(-group.height // max_rows)
        positions = set(range(0, group.height, step)) | {group.height - 1}
        for column in keep:
            positions.add(int(group[column].arg_min()))  # type: ignore[arg-type]
            positions.add(int(group[column].arg_max()))  # type: ignore[arg-type]
        kept.append(group.with_row_index("_pos").filter(pl.col("_pos").is_in(sorted(positions))).drop("_pos"))
    return pl.concat(kept).sort("_row").drop("_row")


# ---- display ---------------------------------------------------------------------------------------


def format_duration_ns(value: int | None) -> str | None:
    """`2d 03:04:05` (days only when any), fractional seconds dropped; None stays None."""
    if value is None:
        return None
    seconds = abs(int(value)) // 1_000_000_000
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    sign = "-" if value < 0 else ""
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{sign}{days}d {clock}" if days else f"{sign}{clock}"


def display_frame(frame: pl.DataFrame, money: dict[str, str] | None = None) -> pl.DataFrame:
    """The frame for a table on screen: exact decimals as text (money columns named in `money`, mapped to
    their currency column, at the currency's decimals; other decimals with the digits they need) and
    durations as `[Nd ]HH:MM:SS`."""
    money = money or {}
    columns = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Decimal):
            values = frame[name].to_list()
            if name in money and money[name] in frame.columns:
                codes = frame[money[name]].to_list()
                text = [
                    None if v is None else format_money(v, c).removesuffix(f" {c}")
                    for v, c in zip(values, codes, strict=True)
                ]
            else:
                text = [None if v is None else format_money(v) for v in values]
            columns.append(pl.Series(name, text, dtype=pl.String))
        elif isinstance(dtype, pl.Duration):
            ns = frame[name].cast(pl.Int64).to_list()
            columns.append(pl.Series(name, [format_duration_ns(v) for v in ns], dtype=pl.String))
    return frame.with_columns(columns) if columns else frame


# ---- loading and comparing -------------------------------------------------------------------------


def load(path: str | Path) -> tuple[SnapshotData | None, str | None]:
    """(the snapshot's tables, None) or (None, a message for the user) for a folder that cannot be read:
    missing, empty, still being written (no manifest), unsupported version or a table that fails to read."""
    try:
        return SnapshotData.read(open_snapshot(path)), None
    except SnapshotProblem as exc:
        return None, str(exc)
    except (OSError, pl.exceptions.PolarsError) as exc:
        return None, f"{path}: a table cannot be read ({exc})"


def account_for(data: SnapshotData, currency: str | None) -> tuple[str, str] | None:
    """The first account with equity in `currency` (any currency when None)."""
    for account_id, code in data.accounts():
        if currency is None or code == currency:
            return account_id, code
    return None


def equity_overlay(curves: dict[str, pl.DataFrame], normalise: bool) -> pl.DataFrame:
    """Equity curves of several runs in one frame (`time`, `run`, `value`): absolute (float) or normalised
    to 1.0 at each run's first sample."""
    frames = []
    for label, curve in curves.items():
        if curve.is_empty():
            continue
        value = pl.col("equity_f") / curve["equity_f"][0] if normalise else pl.col("equity_f")
        frames.append(curve.select("time", pl.lit(label).alias("run"), value.alias("value")))
    if not frames:
        return pl.DataFrame(schema={"time": pl.Datetime("ns", "UTC"), "run": pl.String, "value": pl.Float64})
    return pl.concat(frames)


def summary_deltas(a: KeyFigures, b: KeyFigures) -> pl.DataFrame:
    """Final equity, total PnL, trades, fills and commissions of runs A and B and B - A (exact; money rows
    carry their currency, counts none). A delta is null when either side is missing or the currencies differ."""
    rows = []

    def add(figure: str, left: Decimal | int | None, right: Decimal | int | None, money: bool) -> None:
        currency = (a.currency if a.currency == b.currency else None) if money else None
        x = None if left is None else Decimal(left)
        y = None if right is None else Decimal(right)
        comparable = x is not None and y is not None and (not money or a.currency == b.currency)
        rows.append((figure, currency, x, y, y - x if comparable else None))  # type: ignore[operator]

    add("Final equity", a.final_equity, b.final_equity, True)
    add("Total PnL", a.total_pnl, b.total_pnl, True)
    add("Trades", a.trade_count, b.trade_count, False)
    add("Fills", a.fill_count, b.fill_count, False)
    add("Commissions", a.commissions, b.commissions, True)
    schema = {"figure": pl.String, "currency": pl.String, "A": DECIMAL, "B": DECIMAL, "B - A": DECIMAL}
    return pl.DataFrame(rows, schema=schema, orient="row")


_DIFFERENCE = re.compile(r"^(?P<kind>order|fill) #(?P<number>\d+): (?P<detail>.*)$")


def differences_frame(differences: Sequence[str], a: SnapshotData, b: SnapshotData) -> pl.DataFrame:
    """`ParityReport.differences` as a table: kind (order/fill), number (1-based position in time order),
    what differs, and for fills the time, side, quantity and price on each side (empty where a side has
    no such fill)."""
    fills_a = a.fills.sort("ts_event", maintain_order=True)
    fills_b = b.fills.sort("ts_event", maintain_order=True)

    def side(fills: pl.DataFrame, number: int) -> tuple[datetime | None, str | None, str | None, str | None]:
        if number > fills.height:
            return None, None, None, None
        row = fills.row(number - 1, named=True)
        moment = datetime.fromtimestamp(row["ts_event"] // 1_000_000_000, tz=UTC)
        return moment, row["side"], format_money(row["last_qty"]), format_money(row["last_px"])

    rows = []
    for text in differences:
        match = _DIFFERENCE.match(text)
        if match is None:
            rows.append(("?", None, text, *([None] * 8)))
            continue
        kind, number = match["kind"], int(match["number"])
        if kind == "fill":
            rows.append((kind, number, match["detail"], *side(fills_a, number), *side(fills_b, number)))
        else:
            rows.append((kind, number, match["detail"], *([None] * 8)))
    schema = {
        "kind": pl.String,
        "number": pl.Int64,
        "difference": pl.String,
        "A time": pl.Datetime("us", "UTC"),
        "A side": pl.String,
        "A qty": pl.String,
        "A price": pl.String,
        "B time": pl.Datetime("us", "UTC"),
        "B side": pl.String,
        "B qty": pl.String,
        "B price": pl.String,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")
