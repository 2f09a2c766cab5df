"""Compare two snapshot folders: a backtest and a live run of the same strategy, or two backtests.

    uv run marimo run apps/compare.py -- --a output/bt1 --b output/live1
    uv run python apps/compare.py --a DIR --b DIR          # headless

Equity overlay (normalised to 1.0 at each run's first sample, or absolute), the orders and fills that
differ (`toolkit.persistence.parity.compare_snapshots`, the same comparison as `toolkit parity`) and
summary deltas (final equity, total PnL, trades, fills, commissions: A, B, B - A). Reads the folders
through `toolkit.analysis` only; never writes into them, never imports `toolkit.live`.

Module-level definitions a caller of `app.run()` can read: `problem_a`, `problem_b` (message or None),
`key_a`, `key_b` (`KeyFigures`), `final_equity_a`, `final_equity_b`, `fill_count_a`, `fill_count_b`,
`deltas` (the summary deltas frame, exact), `parity_differences` (list of str) and `differences`
(the same as a frame).
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Compare runs")

with app.setup:
    import html

    import altair as alt
    import marimo as mo
    import polars as pl

    from toolkit.analysis import tearsheet as ts
    from toolkit.persistence.parity import compare_snapshots

    alt.data_transformers.disable_max_rows()  # curves are thinned to MAX_POINTS below
    MAX_POINTS = 4000


@app.cell
def _():
    a_arg = str(mo.cli_args().get("a") or "")
    b_arg = str(mo.cli_args().get("b") or "")
    return a_arg, b_arg


@app.cell
def _(a_arg, b_arg):
    a_field = mo.ui.text(value=a_arg, label="A (snapshot folder)", placeholder="output/bt1", full_width=True)
    b_field = mo.ui.text(value=b_arg, label="B (snapshot folder)", placeholder="output/live1", full_width=True)
    reload_button = mo.ui.button(label="Reload", value=0, on_click=lambda count: count + 1)
    mo.vstack([mo.md("# Compare two runs"), a_field, b_field, reload_button])
    return a_field, b_field, reload_button


@app.cell
def _(a_field, b_field, reload_button):
    reload_button.value  # noqa: B018  (a click reads the folders again)
    loaded_a, problem_a = ts.load(a_field.value)
    loaded_b, problem_b = ts.load(b_field.value)
    return loaded_a, loaded_b, problem_a, problem_b


@app.cell
def _(loaded_a, loaded_b, problem_a, problem_b):
    _problems = [(name, text) for name, text in (("A", problem_a), ("B", problem_b)) if text is not None]
    _transient = all(("still being written" in text or "empty" in text) for _, text in _problems)
    mo.stop(
        loaded_a is None or loaded_b is None,
        mo.callout(
            mo.Html(
                "".join(f"<p><b>{name}</b>: {html.escape(text)}</p>" for name, text in _problems)
                + "<p>Type another folder above, or wait for the run to write it and press Reload.</p>"
            ),
            kind="warn" if _transient else "danger",
            title="No comparison: a snapshot cannot be read",
        ),
    )
    run_a, run_b = loaded_a, loaded_b
    mo.md(
        f"**A** {run_a.snapshot.run_label}, {run_a.snapshot.status} · "
        f"**B** {run_b.snapshot.run_label}, {run_b.snapshot.status}"
    )
    return run_a, run_b


@app.cell
def _(run_a, run_b):
    _currencies = list(dict.fromkeys(c for data in (run_a, run_b) for _, c in data.accounts()))
    currency_select = mo.ui.dropdown(_currencies or ["none"], value=(_currencies or ["none"])[0], label="Currency")
    scale_select = mo.ui.radio(["normalised", "absolute"], value="normalised", label="Equity", inline=True)
    mo.hstack([currency_select, scale_select] if len(_currencies) > 1 else [scale_select], justify="start")
    return currency_select, scale_select


@app.cell
def _(currency_select, run_a, run_b):
    _currency = None if currency_select.value == "none" else currency_select.value
    account_a = ts.account_for(run_a, _currency)
    account_b = ts.account_for(run_b, _currency)
    key_a = ts.key_figures(run_a, account_a)
    key_b = ts.key_figures(run_b, account_b)
    final_equity_a, final_equity_b = key_a.final_equity, key_b.final_equity
    fill_count_a, fill_count_b = key_a.fill_count, key_b.fill_count
    deltas = ts.summary_deltas(key_a, key_b)
    mo.vstack(
        [
            mo.md("## Summary"),
            mo.ui.table(
                ts.display_frame(deltas, money={"A": "currency", "B": "currency", "B - A": "currency"}),
                selection=None,
                pagination=False,
                show_download=False,
                show_column_summaries=False,
            ),
        ]
    )
    return account_a, account_b, deltas, fill_count_a, fill_count_b, final_equity_a, final_equity_b, key_a, key_b


@app.cell
def _(account_a, account_b, run_a, run_b, scale_select):
    _curves = {}
    for _label, _data, _account in (("A", run_a, account_a), ("B", run_b, account_b)):
        if _account is not None:
            _curves[f"{_label}: {_data.snapshot.path.name}"] = ts.equity_curve(_data, *_account)
    _normalise = scale_select.value == "normalised"
    overlay = ts.equity_overlay(_curves, _normalise)
    mo.stop(overlay.is_empty(), mo.callout("No equity samples to compare.", kind="info"))
    _points = ts.thin(overlay, MAX_POINTS, by="run", keep=("value",))
    (
        alt.Chart(_points, description="toolkit compare equity overlay")
        .mark_line()
        .encode(
            alt.X("time:T", title=None),
            alt.Y("value:Q", title="Equity / first sample" if _normalise else "Equity", scale=alt.Scale(zero=False)),
            alt.Color("run:N", title="Run"),
            alt.StrokeDash("run:N", title="Run"),
            tooltip=[alt.Tooltip("time:T", format="%Y-%m-%d %H:%M:%S"), "run:N", alt.Tooltip("value:Q", format=",.6g")],
        )
        .properties(height=300, width="container", title="Equity")
    )
    return (overlay,)


@app.cell
def _(run_a, run_b):
    try:
        _report = compare_snapshots(run_a.snapshot.path, run_b.snapshot.path)
        parity_problem = None
    except ValueError as exc:
        _report = None
        parity_problem = str(exc)
    parity_differences = list(_report.differences) if _report is not None else []
    differences = ts.differences_frame(parity_differences, run_a, run_b)
    _fills = differences.filter(pl.col("kind") == "fill")
    _orders = differences.filter(pl.col("kind") != "fill")
    if parity_problem is not None:
        _body = [mo.callout(mo.Html(f"<p>{html.escape(parity_problem)}</p>"), kind="danger")]
    elif not parity_differences:
        _body = [
            mo.callout(
                f"No differences: {_report.orders_a} orders and {_report.fills_a} fills are identical "
                "(instrument, side, type, quantity, price, status; ids and times are not compared).",
                kind="success",
            )
        ]
    else:
        _body = [
            mo.md(
                f"{len(parity_differences)} difference(s): {_fills.height} in fills, {_orders.height} in orders. "
                f"A has {_report.orders_a} orders and {_report.fills_a} fills, B {_report.orders_b} and "
                f"{_report.fills_b}."
            ),
            mo.md("### Fills that differ"),
            mo.ui.table(_fills.drop("kind"), selection=None, page_size=15) if _fills.height else mo.md("_None._"),
            mo.md("### Orders that differ"),
            mo.ui.table(_orders.select("number", "difference"), selection=None, page_size=15)
            if _orders.height
            else mo.md("_None._"),
        ]
    mo.vstack([mo.md("## Parity (the same comparison as `toolkit parity`)"), *_body])
    return differences, parity_differences, parity_problem


if __name__ == "__main__":
    app.run()
