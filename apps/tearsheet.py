"""Tearsheet of one snapshot folder (a backtest's or a running/stopped live node's).

    uv run marimo run apps/tearsheet.py -- --snapshot output/backtests/EMACross-...
    uv run python apps/tearsheet.py --snapshot DIR        # headless (no output), e.g. to check a folder
    uv run toolkit report DIR --html tearsheet.html       # the same page as a static HTML file

It reads the folder through `toolkit.analysis.reader` only (never writes into it, never imports
`toolkit.live`); the figures come from `toolkit.analysis.tearsheet`. Module-level definitions a caller
of `app.run()` can read: `snapshot_problem` (the message shown instead of the tearsheet, or None),
`final_equity`, `total_pnl` (Decimal, selected account and currency), `fill_count`, `trade_count` (int,
under the instrument/strategy filters), `key` (the whole `KeyFigures`), `account` and `filters` (the
selectors' choice; override both through `app.run(defs=...)`), `snapshot_arg` (the folder from the command
line), `equity_chart` (its Vega-Lite description is "toolkit tearsheet equity chart").
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Tearsheet")

with app.setup:
    import html

    import altair as alt
    import marimo as mo
    import polars as pl

    from toolkit.analysis import tearsheet as ts
    from toolkit.backtest.statistics import format_ts_ns

    alt.data_transformers.disable_max_rows()  # charts are thinned to MAX_POINTS below
    MAX_POINTS = 4000
    ALL_LABEL = "All"
    SIDE_COLOURS = alt.Scale(domain=["BUY", "SELL"], range=["#1a9850", "#d73027"])
    SIDE_SHAPES = alt.Scale(domain=["BUY", "SELL"], range=["triangle-up", "triangle-down"])


@app.cell
def _():
    snapshot_arg = str(mo.cli_args().get("snapshot") or "")
    return (snapshot_arg,)


@app.cell
def _(snapshot_arg):
    path_field = mo.ui.text(
        value=snapshot_arg,
        label="Snapshot folder",
        placeholder="output/backtests/EMACross-000-...",
        full_width=True,
    )
    reload_button = mo.ui.button(label="Reload", value=0, on_click=lambda count: count + 1)
    mo.hstack([path_field, reload_button], justify="start", align="end", widths=[8, 1])
    return path_field, reload_button


@app.cell
def _(path_field, reload_button):
    reload_button.value  # noqa: B018  (a click reads the folder again)
    loaded, snapshot_problem = ts.load(path_field.value)
    return loaded, snapshot_problem


@app.cell
def _(loaded, snapshot_problem):
    _transient = snapshot_problem is not None and (
        "still being written" in snapshot_problem or "empty" in snapshot_problem
    )
    mo.stop(
        loaded is None,
        mo.callout(
            mo.Html(
                f"<p>{html.escape(snapshot_problem or '')}</p>"
                "<p>Type another folder above, or wait for the run to write it and press Reload.</p>"
            ),
            kind="warn" if _transient else "danger",
            title="No tearsheet: the snapshot cannot be read",
        ),
    )
    data = loaded
    return (data,)


@app.cell
def _(data):
    _m = data.manifest
    _span = data.span_ns()
    _period = (
        f"{format_ts_ns(_span[0])[:19]} → {format_ts_ns(_span[1])[:19]} UTC" if _span is not None else "no data yet"
    )
    _live = (
        "\n\n_This live run is still running: the tables hold what the node had written when the page read "
        "them; press Reload for newer data._"
        if data.snapshot.mode == "live" and data.snapshot.status == "running"
        else ""
    )
    mo.md(
        f"# Tearsheet: {data.snapshot.run_label}\n\n"
        f"**Mode** {data.snapshot.mode} · **status** {data.snapshot.status} · "
        f"**trader** {_m.get('trader_id', '?')} · **period** {_period} · "
        f"**last update** {_m.get('last_update', '?')}{_live}"
    )
    return


@app.cell
def _(data):
    instruments = data.instruments()
    strategies = data.strategies()
    account_options = {f"{a} ({c})": (a, c) for a, c in data.accounts()}
    instrument_select = mo.ui.dropdown([ALL_LABEL, *instruments], value=ALL_LABEL, label="Instrument")
    strategy_select = mo.ui.dropdown([ALL_LABEL, *strategies], value=ALL_LABEL, label="Strategy")
    account_select = mo.ui.dropdown(
        list(account_options) or ["none"],
        value=next(iter(account_options), "none"),
        label="Account (currency)",
    )
    _shown = [
        widget
        for widget, count in (
            (account_select, len(account_options)),
            (instrument_select, len(instruments)),
            (strategy_select, len(strategies)),
        )
        if count > 1
    ]
    mo.hstack(_shown, justify="start") if _shown else None
    return account_options, account_select, instrument_select, strategy_select


@app.cell
def _(account_options, account_select, instrument_select, strategy_select):
    account = account_options.get(account_select.value)
    filters = ts.Filters.of(
        None if instrument_select.value == ALL_LABEL else instrument_select.value,
        None if strategy_select.value == ALL_LABEL else strategy_select.value,
    )
    return account, filters


@app.cell
def _(account, data, filters):
    key = ts.key_figures(data, account, filters)
    final_equity = key.final_equity
    total_pnl = key.total_pnl
    fill_count = key.fill_count
    trade_count = key.trade_count
    _rows = key.as_rows()
    mo.vstack(
        [
            mo.hstack([mo.stat(value=value, label=label, bordered=True) for label, value in _rows], wrap=True),
            mo.md(
                f"_Final equity and total PnL: account {key.account_id} in {key.currency}. Fills, trades "
                "and commissions follow the instrument and strategy filters._"
            ),
        ]
    )
    return final_equity, fill_count, key, total_pnl, trade_count


@app.cell
def _(account, data):
    curve = ts.equity_curve(data, *account) if account is not None else None
    summary = ts.performance(data, *account) if account is not None else None
    notes = ts.performance_notes(data, *account) if account is not None else []
    return curve, notes, summary


@app.cell
def _(account, curve):
    mo.stop(curve is None or curve.is_empty(), mo.callout("No equity samples in this snapshot yet.", kind="info"))
    _equity_points = ts.thin(curve.select("time", "equity_f"), MAX_POINTS, keep=("equity_f",))
    equity_chart = (
        alt.Chart(_equity_points, description="toolkit tearsheet equity chart")
        .mark_line(color="#3366cc")
        .encode(
            alt.X("time:T", title=None),
            alt.Y("equity_f:Q", title=f"Equity ({account[1]})", scale=alt.Scale(zero=False)),
            tooltip=[alt.Tooltip("time:T", format="%Y-%m-%d %H:%M"), alt.Tooltip("equity_f:Q", format=",.2f")],
        )
        .properties(height=260, width="container", title=f"Equity: {account[0]} ({account[1]})")
    )
    equity_chart  # noqa: B018  (the cell's output: a chart of its own, so its Vega-Lite spec is the output)
    return (equity_chart,)


@app.cell
def _(curve):
    mo.stop(curve is None or curve.is_empty())
    _drawdown_points = ts.thin(curve.select("time", "drawdown_pct"), MAX_POINTS, keep=("drawdown_pct",))
    drawdown_chart = (
        alt.Chart(_drawdown_points, description="toolkit tearsheet drawdown chart")
        .mark_area(color="#d73027", opacity=0.5, line=True)
        .encode(
            alt.X("time:T", title=None),
            alt.Y("drawdown_pct:Q", title="Drawdown (%)"),
            tooltip=[alt.Tooltip("time:T", format="%Y-%m-%d %H:%M"), alt.Tooltip("drawdown_pct:Q", format=".3f")],
        )
        .properties(height=140, width="container", title="Drawdown from the running peak (%)")
    )
    drawdown_chart  # noqa: B018
    return (drawdown_chart,)


@app.cell
def _(curve):
    mo.stop(curve is None or curve.is_empty())
    daily = ts.daily_returns_frame(curve)
    monthly = ts.monthly_returns(curve)
    _hist = (
        alt.Chart(
            daily.with_columns((pl.col("return") * 100).alias("return_pct")),
            description="toolkit tearsheet daily returns histogram",
        )
        .mark_bar(color="#3366cc")
        .encode(
            alt.X("return_pct:Q", bin=alt.Bin(maxbins=40), title="Daily return (%)"),
            alt.Y("count():Q", title="Days"),
        )
        .properties(height=200, width="container", title=f"Daily returns ({daily.height} days)")
    )
    _table = ts.monthly_table(monthly)
    _shown = _table.with_columns(
        pl.col("year").cast(pl.String),
        *[
            pl.col(c).map_elements(lambda v: f"{v * 100:.2f}%", return_dtype=pl.String).fill_null("")
            for c in (*ts.MONTHS, "Year")
        ],
    )
    mo.vstack(
        [
            _hist,
            mo.md("### Monthly returns"),
            mo.ui.table(_shown, selection=None, pagination=False, show_download=False, show_column_summaries=False),
        ]
    )
    return daily, monthly


@app.cell
def _(notes, summary):
    mo.stop(summary is None)
    mo.vstack(
        [
            mo.md("### Statistics\n\n_The same figures as the backtest summary, from this snapshot's tables._"),
            mo.ui.table(
                ts.statistics_table(summary),
                selection=None,
                pagination=False,
                show_download=False,
                show_column_summaries=False,
            ),
            *[mo.callout(note, kind="warn") for note in notes],
        ]
    )
    return


@app.cell
def _(data, filters):
    prices = ts.price_series(data, filters)
    markers = ts.fill_markers(data, filters)
    _ids = sorted(set(prices["instrument_id"].to_list()) | set(markers["instrument_id"].to_list()))
    _charts = []
    for _iid in _ids[:8]:
        _line = ts.thin(prices.filter(pl.col("instrument_id") == _iid), MAX_POINTS, keep=("price",))
        _fills = ts.thin(markers.filter(pl.col("instrument_id") == _iid), MAX_POINTS)
        _layers = []
        if _line.height:
            _layers.append(
                alt.Chart(_line)
                .mark_line(color="#7f7f7f", strokeWidth=1)
                .encode(alt.X("time:T", title=None), alt.Y("price:Q", scale=alt.Scale(zero=False), title="Price"))
            )
        if _fills.height:
            _layers.append(
                alt.Chart(_fills)
                .mark_point(filled=True, size=70, opacity=0.9)
                .encode(
                    alt.X("time:T", title=None),
                    alt.Y("price:Q", scale=alt.Scale(zero=False), title="Price"),
                    alt.Color("side:N", scale=SIDE_COLOURS, title="Fill"),
                    alt.Shape("side:N", scale=SIDE_SHAPES, title="Fill"),
                    tooltip=[
                        alt.Tooltip("time:T", format="%Y-%m-%d %H:%M:%S"),
                        "side:N",
                        alt.Tooltip("price:Q", format=".6g"),
                        alt.Tooltip("quantity:Q", format=",g"),
                        "strategy_id:N",
                        "client_order_id:N",
                    ],
                )
            )
        _charts.append(
            alt.layer(*_layers, description=f"toolkit tearsheet price and fills {_iid}").properties(
                height=260, width="container", title=f"{_iid}: price and fills"
            )
        )
    _more = (
        [mo.md(f"_{len(_ids) - 8} more instruments: choose one with the instrument selector._")]
        if len(_ids) > 8
        else []
    )
    mo.vstack(_charts + _more) if _charts else mo.callout("No prices or fills for this selection.", kind="info")
    return


@app.cell
def _(data, filters):
    trade_table = ts.trades(data, filters)
    fill_table = ts.fills_table(data, filters)
    mo.vstack(
        [
            mo.md(f"### Trades ({trade_table.height} closed position cycles)"),
            mo.ui.table(ts.display_frame(trade_table, money={"realized_pnl": "currency"}), selection=None, page_size=15)
            if trade_table.height
            else mo.md("_No closed trades._"),
            mo.md(f"### Fills ({fill_table.height})"),
            mo.ui.table(
                ts.display_frame(fill_table, money={"commission": "commission_currency"}), selection=None, page_size=15
            )
            if fill_table.height
            else mo.md("_No fills._"),
        ]
    )
    return fill_table, trade_table


@app.cell
def _(data, filters):
    positions_over_time = ts.net_positions(data, filters)
    mo.stop(positions_over_time.is_empty(), mo.md("### Positions over time\n\n_No fills: always flat._"))
    _points = ts.thin(
        positions_over_time.select("time", "instrument_id", "net_qty_f"),
        MAX_POINTS,
        by="instrument_id",
        keep=("net_qty_f",),
    )
    _chart = (
        alt.Chart(_points, description="toolkit tearsheet positions over time")
        .mark_line(interpolate="step-after")
        .encode(
            alt.X("time:T", title=None),
            alt.Y("net_qty_f:Q", title="Net quantity"),
            alt.Color("instrument_id:N", title="Instrument"),
            tooltip=[alt.Tooltip("time:T", format="%Y-%m-%d %H:%M:%S"), "instrument_id:N", "net_qty_f:Q"],
        )
        .properties(height=200, width="container", title="Net position per instrument (from the fills)")
    )
    mo.vstack([mo.md("### Positions over time"), _chart])
    return (positions_over_time,)


@app.cell
def _(data, filters):
    working_orders = ts.open_orders(data, filters)
    commission_table = ts.commissions(data, filters)
    mo.vstack(
        [
            mo.md(f"### Open orders ({working_orders.height})"),
            mo.ui.table(ts.display_frame(working_orders), selection=None, page_size=10)
            if working_orders.height
            else mo.md("_No working orders._"),
            mo.md("### Commissions"),
            mo.ui.table(
                ts.display_frame(commission_table, money={"commission": "currency"}),
                selection=None,
                pagination=False,
                show_download=False,
                show_column_summaries=False,
            )
            if commission_table.height
            else mo.md("_No commissions._"),
        ]
    )
    return commission_table, working_orders


if __name__ == "__main__":
    app.run()
