"""The `toolkit` command line: backtest, demo, bench, live, venue, parity and catalog tools.

`toolkit backtest CONFIG.toml [--output DIR]` runs one run file and prints the summary and the
snapshot folder; `toolkit demo` runs the EMA cross example on the bundled sample catalog;
`toolkit bench` prints throughput figures; `toolkit catalog ls|sample` inspects or rebuilds a
catalog. Errors in configs or data print one clear line and exit with status 2; a strategy that
raises during a run exits with status 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from toolkit.backtest.engine import StrategyError
from toolkit.backtest.statistics import format_ts_ns
from toolkit.core.config import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class ProgressBar:
    """A one-line progress display on stderr, shown only for runs longer than a second (wall time)."""

    def __init__(self, span: tuple[int, int] | None, enabled: bool = True) -> None:
        self.span = span
        self.enabled = enabled
        self.started = time.monotonic()
        self.shown = False

    def __call__(self, events: int, ts: int) -> None:
        if not self.enabled or time.monotonic() - self.started < 1.0:
            return
        self.shown = True
        line = f"{events:>12,} events  {format_ts_ns(ts)}"
        if self.span is not None and self.span[1] > self.span[0]:
            fraction = min(max((ts - self.span[0]) / (self.span[1] - self.span[0]), 0.0), 1.0)
            filled = int(fraction * 30)
            line = f"[{'#' * filled}{'.' * (30 - filled)}] {fraction:6.1%} " + line
        sys.stderr.write("\r" + line)
        sys.stderr.flush()

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def run_backtest_file(config: Path, output: Path | None, progress: bool = True) -> Path:
    from toolkit.backtest.runner import BacktestRun

    run = BacktestRun.from_file(config)
    bar = ProgressBar(None, enabled=progress)

    def report(events: int, ts: int) -> None:
        bar.span = run.span
        bar(events, ts)

    if output is None:
        output = run.default_output(datetime.now(UTC).strftime("%Y%m%d-%H%M%S"))
    try:
        _, result, path = run.run(output, progress=report)
    finally:
        bar.close()
    print(result.render())
    print(f"\nSnapshot written to {path}")
    return path


def _how_to_open(path: Path) -> str:
    return (
        "Analyse it in marimo:\n"
        f"  uv run marimo run apps/tearsheet.py -- --snapshot {path}\n"
        f"  uv run toolkit report {path} --html tearsheet.html\n"
        "Or open it with polars or DuckDB, for example:\n"
        f"  uv run python -c \"import polars as pl; print(pl.read_parquet('{path}/fills/*.parquet'))\"\n"
        f'  uv run python -c "import duckdb; duckdb.sql(\\"SELECT * FROM read_parquet(\'{path}/equity/*.parquet\')\\")'
        '.show()"\n'
        "Its layout is described in docs/snapshots.md."
    )


def cmd_backtest(args: argparse.Namespace) -> int:
    path = run_backtest_file(Path(args.config), Path(args.output) if args.output else None, not args.no_progress)
    print(_how_to_open(path))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    config = PROJECT_ROOT / "strategies" / "ema_cross.toml"
    print(f"toolkit demo: EMA(10)/EMA(20) cross on one-minute bars of the sample catalog ({config})\n")
    output = Path(args.output) if args.output else None
    path = run_backtest_file(config, output, not args.no_progress)
    print(_how_to_open(path))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from toolkit.bench import main, write_runs

    if args.write_runs:
        for path in write_runs(Path(args.write_runs), events=args.events, seed=args.seed):
            print(f"wrote {path}  (uv run toolkit backtest {path} --output DIR; then toolkit parity A B)")
        return 0
    return main(events=args.events, seed=args.seed, json_path=args.json, workload=args.workload)


def cmd_live(args: argparse.Namespace) -> int:
    import os

    from toolkit.live.config import load_node_config
    from toolkit.live.node import TradingNode

    if args.venue_url:
        os.environ["TOOLKIT_SANDBOX_URL"] = args.venue_url  # read by the sandbox clients' config
    loaded = load_node_config(args.config)
    node = TradingNode(loaded.config, source=loaded.source, snapshot_path=args.snapshot)
    try:
        node.run()
    finally:
        if node.snapshot is not None:
            print(f"Snapshot: {node.snapshot.path}")
        node.dispose()
    return 0


def cmd_parity(args: argparse.Namespace) -> int:
    from toolkit.persistence.parity import compare_snapshots

    report = compare_snapshots(args.a, args.b)
    print(report.render(limit=args.limit))
    return 0 if report.identical else 1


def cmd_catalog_ls(args: argparse.Namespace) -> int:
    from toolkit.catalog.parquet import DataCatalog

    catalog = DataCatalog(args.catalog)
    infos = catalog.list_datasets()
    if not infos:
        print(f"{args.catalog}: no datasets")
        return 0
    print(f"{'type':<8} {'dataset':<45} {'rows':>12} {'first ts_init':<31} {'last ts_init':<31}")
    for info in infos:
        print(
            f"{info.data_type.value:<8} {info.identifier:<45} {info.rows:>12,} "
            f"{format_ts_ns(info.first_ts_init):<31} {format_ts_ns(info.last_ts_init):<31}"
        )
    return 0


def cmd_catalog_sample(args: argparse.Namespace) -> int:
    from toolkit.backtest.runner import load_instruments_file
    from toolkit.catalog.sample import build_sample_catalog

    instruments_file = PROJECT_ROOT / "data" / "instruments.toml"
    instruments = load_instruments_file(instruments_file, str(instruments_file), "instruments")
    catalog = build_sample_catalog(args.catalog, instruments)
    print(f"sample catalog written to {catalog.path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="toolkit", description="Research-to-live trading toolkit.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log engine messages (INFO) to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("backtest", help="run a backtest from a TOML run file")
    p.add_argument("config", help="run file with [strategy] and [backtest] tables")
    p.add_argument("--output", help="snapshot folder (default: backtest.output_dir/<strategy>-<time>)")
    p.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    p.set_defaults(func=cmd_backtest)

    p = sub.add_parser("demo", help="run the EMA cross example on the bundled sample catalog")
    p.add_argument("--output", help="snapshot folder")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("bench", help="measure backtest throughput on generated data")
    p.add_argument(
        "--workload",
        choices=["w1", "w2", "w3", "w4", "w5", "all", "ticks", "catalog", "live-latency", "database"],
        default="w1",
        help="w1 quotes-light, w2 quotes-heavy, w3 bars, w4 L2 book, w5 10M-quote catalog stream (= catalog; "
        "ticks = w1), each with its engine-free floor; live-latency; database; all (docs/performance.md)",
    )
    p.add_argument(
        "--events", type=int, help="events per workload (defaults: w1/w3/w4 1,000,000, w2 100,000, w5 10,000,000)"
    )
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument(
        "--write-runs",
        metavar="DIR",
        help="instead of measuring: generate W1-W4's data into DIR and write a run file for each, to backtest two "
        "versions of the engine on the same data and compare them with toolkit parity",
    )
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("live", help="run the run file's strategy on a live node ([live] table)")
    p.add_argument("config", help="run file with [strategy] and [live] tables")
    p.add_argument("--snapshot", help="snapshot folder (default: live.snapshot_dir/<trader>-<time>)")
    p.add_argument("--venue-url", help="override the sandbox clients' base_url (sets TOOLKIT_SANDBOX_URL)")
    p.set_defaults(func=cmd_live)

    p = sub.add_parser("parity", help="compare the orders and fills of two snapshot folders")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--limit", type=int, default=20, help="differences to print (default 20)")
    p.set_defaults(func=cmd_parity)

    from toolkit.analysis import report as report_cmd

    p = sub.add_parser("report", help="export a snapshot folder's tearsheet as a static HTML file")
    report_cmd.add_report_arguments(p)
    p.set_defaults(func=report_cmd.run_report_cli)

    from toolkit.adapters.sandbox import server as venue_server

    p = sub.add_parser("venue", help="run the sandbox venue server (local exchange replaying catalog data)")
    venue_server.add_venue_arguments(p)
    p.set_defaults(func=venue_server.run_venue_cli)

    p = sub.add_parser("catalog", help="data catalog tools")
    catalog_sub = p.add_subparsers(dest="catalog_command", required=True)
    q = catalog_sub.add_parser("ls", help="list the datasets of a catalog")
    q.add_argument("--catalog", required=True)
    q.set_defaults(func=cmd_catalog_ls)
    q = catalog_sub.add_parser("sample", help="(re)build the generated sample catalog into an empty folder")
    q.add_argument("catalog", nargs="?", default=str(PROJECT_ROOT / "data" / "catalog"))
    q.set_defaults(func=cmd_catalog_sample)

    from toolkit.catalog import checks, generator, importer

    q = catalog_sub.add_parser("import", help="import data files in a real format (checked against the instrument)")
    importer.add_import_arguments(q)
    q.set_defaults(func=importer.run_import_cli)
    q = catalog_sub.add_parser("instruments", help="write instrument definitions (TOML/JSON) into a catalog")
    importer.add_instruments_arguments(q)
    q.set_defaults(func=importer.run_instruments_cli)
    q = catalog_sub.add_parser("check", help="report data problems per dataset (grid, order, crossed quotes, gaps)")
    checks.add_check_arguments(q)
    q.set_defaults(func=checks.run_check_cli)
    q = catalog_sub.add_parser("generate", help="write seeded synthetic quotes, trades, bars or L2 deltas")
    generator.add_generate_arguments(q)
    q.set_defaults(func=generator.run_generate_cli)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StrategyError as exc:
        print(f"error: the run stopped: {exc}", file=sys.stderr)
        return 1
    except RuntimeError as exc:  # NodeError and friends: the node could not start or run
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
