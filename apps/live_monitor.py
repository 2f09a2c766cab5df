"""Live monitor: watch a running node's snapshot folder.

    uv run marimo run apps/live_monitor.py -- --snapshot output/live1 [--refresh 1s]

Every tick of the refresh control (default every 2 s; 1 s to 1 min selectable) re-reads the folder
through `toolkit.analysis.reader` and shows: the node's status (running/stopped, trader, strategies)
and the age of its last snapshot (red "stale" when the node says it is running but the snapshot is
older than 3x its write interval, and never under 10 s; the interval is the manifest's
`snapshot_interval_secs`, or for older snapshots the spacing of the equity samples, one per write),
balances (latest account rows per currency), open positions with unrealized PnL, open orders, the
last 20 fills and equity since start.

The app only reads the folder. It never imports the live node, never starts an event loop and never
writes into the snapshot folder. While the node replaces and appends files, a read that fails shows a
short warning for that refresh; a missing, empty or half-written folder shows what is wrong.
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="Live monitor")

with app.setup:
    import html
    import itertools
    import statistics
    from dataclasses import dataclass, field
    from datetime import UTC, datetime
    from decimal import Decimal
    from pathlib import Path
    from typing import Any

    import altair as alt
    import marimo as mo
    import polars as pl

    from toolkit.analysis.reader import SnapshotProblem, floats, ns_to_datetime, open_snapshot

    REFRESH_OPTIONS = ["1s", "2s", "5s", "10s", "30s", "1m"]
    DEFAULT_REFRESH = "2s"
    STALE_MIN_SECS = 10.0
    STALE_INTERVALS = 3
    LAST_FILLS = 20
    MAX_CHART_POINTS = 2000
    # Order statuses after which an order can no longer trade (the snapshot stores enum names).
    CLOSED_ORDER_STATUSES = ("DENIED", "REJECTED", "CANCELED", "EXPIRED", "FILLED")


@app.class_definition
@dataclass
class MonitorView:
    """What one refresh read from the folder: `problem` (no snapshot to show) or `warning` (this read
    failed, try again) or the figures."""

    path: str
    read_at: datetime
    problem: str | None = None
    warning: str | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    last_update: datetime | None = None
    age_secs: float | None = None
    interval_secs: float | None = None
    stale_after_secs: float = STALE_MIN_SECS
    balances: pl.DataFrame | None = None
    positions: pl.DataFrame | None = None
    orders: pl.DataFrame | None = None
    fills: pl.DataFrame | None = None
    fill_count: int = 0
    order_count: int = 0
    equity: pl.DataFrame | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None and self.warning is None

    @property
    def status(self) -> str:
        return str(self.manifest.get("status", "?"))

    @property
    def mode(self) -> str:
        return str(self.manifest.get("mode", "?"))

    @property
    def stale(self) -> bool:
        """A node that says it is running but has not written for too long."""
        return self.status == "running" and self.age_secs is not None and self.age_secs > self.stale_after_secs


@app.function
def write_interval_secs(equity: pl.DataFrame) -> float | None:
    """Median spacing of the last equity samples (a live node writes one set per snapshot write)."""
    stamps = equity.get_column("ts").unique().sort().tail(11).to_list()
    gaps = [(b - a) / 1e9 for a, b in itertools.pairwise(stamps) if b > a]
    return statistics.median(gaps) if gaps else None


@app.function
def parse_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


@app.function
def latest_balances(account: pl.DataFrame) -> pl.DataFrame:
    """The last account row per account and currency (rows are in write order; ts breaks no ties)."""
    return (
        account.with_row_index("_row")
        .sort(["ts", "_row"])
        .group_by(["account_id", "currency"], maintain_order=True)
        .last()
        .sort(["account_id", "currency"])
        .pipe(ns_to_datetime, "ts", "updated")
        .select("account_id", "account_type", "currency", "total", "locked", "free", "updated")
    )


@app.function
def read_monitor(path: str, now: datetime | None = None) -> MonitorView:
    """Read the folder once, through the reader; never raises for a folder that is missing or in flux."""
    now = now or datetime.now(UTC)
    view = MonitorView(path=path, read_at=now)
    try:
        snapshot = open_snapshot(path)
    except SnapshotProblem as exc:
        view.problem = str(exc)
        return view
    try:
        account = snapshot.table("account")
        positions = snapshot.table("positions")
        orders = snapshot.table("orders")
        fills = snapshot.table("fills")
        equity = snapshot.table("equity")
    except (OSError, ValueError, pl.exceptions.PolarsError) as exc:
        reason = type(exc).__name__
        view.warning = f"the snapshot changed while it was read ({reason}); reading again on the next refresh"
        return view
    view.manifest = snapshot.manifest
    view.last_update = parse_time(snapshot.manifest.get("last_update"))
    if view.last_update is not None:
        view.age_secs = max(0.0, (now - view.last_update).total_seconds())
    declared = snapshot.manifest.get("snapshot_interval_secs")
    if view.mode != "live":
        view.interval_secs = None
    elif isinstance(declared, (int, float)) and declared > 0:
        view.interval_secs = float(declared)  # the node says how often it writes
    else:
        view.interval_secs = write_interval_secs(equity)  # older manifests: measure the spacing
    if view.interval_secs is not None:
        view.stale_after_secs = max(STALE_MIN_SECS, STALE_INTERVALS * view.interval_secs)
    view.balances = latest_balances(account)
    view.positions = (
        positions.filter(pl.col("is_open"))
        .pipe(ns_to_datetime, "ts_opened", "opened")
        .select(
            "instrument_id",
            "side",
            "quantity",
            "avg_px_open",
            "unrealized_pnl",
            "realized_pnl",
            "currency",
            "opened",
            "strategy_id",
            "position_id",
        )
    )
    view.order_count = orders.height
    view.orders = (
        orders.filter(~pl.col("status").is_in(CLOSED_ORDER_STATUSES))
        .sort("ts_init")
        .pipe(ns_to_datetime, "ts_init", "created")
        .select(
            "created",
            "instrument_id",
            "side",
            "order_type",
            "quantity",
            "filled_qty",
            "price",
            "trigger_price",
            "status",
            "time_in_force",
            "client_order_id",
            "strategy_id",
        )
    )
    view.fill_count = fills.height
    view.fills = (
        fills.with_row_index("_row")
        .sort(["ts_event", "_row"], descending=True)
        .head(LAST_FILLS)
        .pipe(ns_to_datetime, "ts_event", "time")
        .select(
            "time",
            "instrument_id",
            "side",
            "last_qty",
            "last_px",
            "commission",
            "commission_currency",
            "liquidity_side",
            "client_order_id",
            "trade_id",
        )
    )
    view.equity = (
        equity.sort("ts")
        .pipe(floats, "balance", "unrealized_pnl", "equity")
        .pipe(ns_to_datetime, "ts", "time")
        .with_columns((pl.col("account_id") + " " + pl.col("currency")).alias("account"))
    )
    return view


@app.function
def thin(equity: pl.DataFrame, max_points: int) -> pl.DataFrame:
    """At most about `max_points` samples per account for the chart (every n-th, and always the last)."""
    longest = equity.group_by("account").len().get_column("len").max() or 0
    step = -(-longest // max_points)
    if step <= 1:
        return equity
    index = pl.int_range(pl.len()).over("account")
    return equity.filter((index % step == 0) | (index == pl.len().over("account") - 1))


@app.function
def fmt(value: object) -> str:
    """A cell of a table: exact decimals without trailing zeros, times to the second in UTC."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value.normalize():,f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


@app.function
def fmt_age(secs: float) -> str:
    if secs < 120:
        return f"{secs:.1f} s"
    if secs < 7200:
        return f"{secs / 60:.1f} min"
    if secs < 172800:
        return f"{secs / 3600:.1f} h"
    return f"{secs / 86400:.1f} days"


@app.function
def html_table(frame: pl.DataFrame, empty: str, css_class: str) -> mo.Html:
    """A plain HTML table (visible in the page's DOM, redrawn on each refresh)."""
    if frame.height == 0:
        return mo.Html(f'<p class="{css_class} lm-empty" style="color:#666">{html.escape(empty)}</p>')
    head = "".join(f'<th style="text-align:left;padding:2px 10px">{html.escape(c)}</th>' for c in frame.columns)
    rows = []
    for row in frame.iter_rows():
        cells = "".join(f'<td style="padding:2px 10px">{html.escape(fmt(v))}</td>' for v in row)
        rows.append(f"<tr>{cells}</tr>")
    return mo.Html(
        f'<table class="{css_class}" style="border-collapse:collapse;font-size:0.9em">'
        f'<thead><tr style="border-bottom:1px solid #ccc">{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


@app.cell
def _():
    cli = mo.cli_args()
    snapshot_arg = cli.get("snapshot")
    refresh_arg = str(cli.get("refresh") or DEFAULT_REFRESH)
    if refresh_arg.replace(".", "", 1).isdigit():
        refresh_arg = f"{refresh_arg}s"
    path_field = mo.ui.text(
        value="" if snapshot_arg is None else str(snapshot_arg),
        label="Snapshot folder",
        placeholder="output/live1",
        full_width=True,
    )
    refresh = mo.ui.refresh(
        options=REFRESH_OPTIONS,
        default_interval=refresh_arg if refresh_arg in REFRESH_OPTIONS else DEFAULT_REFRESH,
        label="Re-read every",
    )
    return path_field, refresh


@app.cell
def _(path_field, refresh):
    mo.vstack([mo.md("# Live monitor"), path_field, refresh])
    return


@app.cell
def _(path_field, refresh):
    _tick = refresh.value  # every tick of the refresh control re-runs this cell: a fresh read
    view = read_monitor(path_field.value.strip(), datetime.now(UTC))
    return (view,)


@app.cell
def _(view):
    def _status_block(view: MonitorView) -> mo.Html:
        if view.problem is not None:
            return mo.callout(mo.md(f"**No snapshot to show.** {html.escape(view.problem)}"), kind="warn")
        if view.warning is not None:
            return mo.callout(mo.md(f"**Read skipped:** {html.escape(view.warning)}"), kind="warn")
        manifest = view.manifest
        status = view.status
        colour = {"running": "#1e8449", "stopped": "#555"}.get(status, "#555")
        badge = (
            f'<span class="lm-status" data-status="{html.escape(status)}" style="background:{colour};color:white;'
            f'padding:2px 10px;border-radius:10px;font-weight:bold">{html.escape(status)}</span>'
        )
        if view.age_secs is None:
            age = '<span class="lm-age">no last_update in the manifest</span>'
        elif view.stale:
            age = (
                f'<span class="lm-age lm-stale" style="color:#c0392b;font-weight:bold">{fmt_age(view.age_secs)} ago'
                f" — stale (expected a write every {fmt_age(view.interval_secs or 0)}; stale after "
                f"{fmt_age(view.stale_after_secs)})</span>"
            )
        else:
            note = f" (writes every {fmt_age(view.interval_secs)})" if view.interval_secs else ""
            age = f'<span class="lm-age">{fmt_age(view.age_secs)} ago{note}</span>'
        last = view.last_update.strftime("%Y-%m-%d %H:%M:%S UTC") if view.last_update else "?"
        last_ns = html.escape(str(manifest.get("last_update_ns", "")))
        strategies = ", ".join(manifest.get("strategies", [])) or "?"
        rows = [
            ("Trader", html.escape(str(manifest.get("trader_id", "?")))),
            ("Strategies", html.escape(strategies)),
            ("Mode", html.escape(view.mode)),
            ("Last snapshot", f'<span class="lm-last-update" data-ns="{last_ns}">{last}</span>, {age}'),
            ("Fills", f'<span class="lm-fill-count">{view.fill_count}</span>'),
            ("Orders", f'<span class="lm-order-count">{view.order_count}</span> ({view.orders.height} open)'),
            ("Open positions", f'<span class="lm-position-count">{view.positions.height}</span>'),
            ("Folder", html.escape(str(Path(view.path).expanduser().resolve()))),
        ]
        body = "".join(
            f'<tr><td style="padding:2px 12px 2px 0;color:#666">{k}</td><td style="padding:2px 0">{v}</td></tr>'
            for k, v in rows
        )
        note = ""
        if view.mode != "live":
            note = f'<p style="color:#666">This is a {html.escape(view.mode)} snapshot: it does not change.</p>'
        return mo.Html(f'<div class="lm-node">{badge}<table style="margin-top:8px">{body}</table>{note}</div>')

    _status_block(view)
    return


@app.cell
def _(view):
    mo.stop(not view.ok)
    mo.vstack([mo.md("## Balances"), html_table(view.balances, "No account state yet.", "lm-balances")])
    return


@app.cell
def _(view):
    mo.stop(not view.ok)
    _totals = (
        view.positions.group_by("currency", maintain_order=True).agg(pl.col("unrealized_pnl").sum())
        if view.positions.height
        else None
    )
    _summary = (
        mo.md("Unrealized PnL: " + ", ".join(f"**{fmt(pnl)} {ccy}**" for ccy, pnl in _totals.iter_rows()))
        if _totals is not None
        else mo.md("")
    )
    mo.vstack([mo.md("## Open positions"), _summary, html_table(view.positions, "No open positions.", "lm-positions")])
    return


@app.cell
def _(view):
    mo.stop(not view.ok)
    mo.vstack([mo.md("## Open orders"), html_table(view.orders, "No open orders.", "lm-orders")])
    return


@app.cell
def _(view):
    mo.stop(not view.ok)
    mo.vstack(
        [
            mo.md(f"## Last {LAST_FILLS} fills (newest first, of {view.fill_count})"),
            html_table(view.fills, "No fills yet.", "lm-fills"),
        ]
    )
    return


@app.cell
def _(view):
    mo.stop(not view.ok)

    def _equity_chart(equity: pl.DataFrame) -> Any:
        if equity.height == 0:
            return mo.md("No equity samples yet.")
        span_ns = equity.get_column("ts").max() - equity.get_column("ts").min()
        time_format = "%H:%M:%S" if span_ns <= 86_400 * 10**9 else "%Y-%m-%d %H:%M"
        return (
            alt.Chart(thin(equity, MAX_CHART_POINTS).select("time", "account", "equity", "balance", "unrealized_pnl"))
            .mark_line(point=equity.height <= 200)
            .encode(
                x=alt.X("time:T", title="time (UTC)", axis=alt.Axis(format=time_format, labelOverlap=True)),
                y=alt.Y("equity:Q", title="equity", scale=alt.Scale(zero=False)),
                color=alt.Color("account:N", title="account"),
                tooltip=[
                    alt.Tooltip("time:T", format="%Y-%m-%d %H:%M:%S"),
                    "account:N",
                    alt.Tooltip("equity:Q", format=",.2f"),
                    alt.Tooltip("balance:Q", format=",.2f"),
                    alt.Tooltip("unrealized_pnl:Q", format=",.2f"),
                ],
            )
            .properties(
                width="container", height=260, title="Equity since start", description="live monitor equity chart"
            )
        )

    mo.vstack([mo.md("## Equity"), _equity_chart(view.equity)])
    return


if __name__ == "__main__":
    app.run()
