"""While a live node writes snapshots every second, apps/live_monitor.py refreshes for a minute without an error.

Three processes besides the test: a writer (a real `TradingNode` with the loopback clients, started by this
module's `--writer` mode, trading the EMA cross on the sample quotes, one quote every 20 ms, and writing
its snapshot folder every second), `marimo run` serving the monitor over that folder with a 1 s refresh,
and a headless loop (this module's `--headless-loop` mode) that runs the app with `app.run()` again and
again against the changing folder. One Chromium page stays open on the served app for the minute; every
second the test reads the figures the page shows. Afterwards the page must show the folder's latest
figures, then, once the node is stopped, its stopped status.

The other tests show the monitor's states on a copy of a backtest snapshot made to look live: a missing,
empty or half-written folder gives a message, a part that cannot be read gives a warning for that refresh
(and the next refresh reads the folder again), a running node whose last write is older than three write
intervals is marked stale in red (in the browser too), and a folder typed into the path field is read.

    uv run python -m tests.e2e.test_live_monitor --writer DIR         # a node writing DIR until SIGTERM
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import runpy
import shutil
import signal
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from playwright.sync_api import Page, sync_playwright

from tests.conftest import PROJECT_ROOT, require_program
from tests.e2e.test_apps_browser import MarimoServer, make_backtest_snapshot, open_page, save_screenshot, wait_until
from toolkit.analysis.reader import SnapshotProblem, open_snapshot

APP = PROJECT_ROOT / "apps" / "live_monitor.py"
MINUTE = 60.0
QUOTE_DELAY = 0.02  # seconds between quotes: about 3,000 quotes a minute
QUOTES = 20_000  # more than the test needs (over six minutes of quotes)


# ---- the writer: a live node in its own process ---------------------------------------------------------------


def run_writer(folder: Path, delay: float, quotes: int) -> None:
    """A TradingNode with loopback clients trading the sample quotes, snapshot every second, until SIGTERM."""
    from toolkit.catalog.parquet import DataCatalog
    from toolkit.live.config import node_config_from_dict
    from toolkit.live.node import TradingNode

    loopback = "toolkit.live.loopback:LoopbackClientFactory"
    config = node_config_from_dict(
        {
            "trader_id": "MONITOR-001",
            "snapshot_dir": str(folder.parent / "node-snapshots"),
            "instruments_file": str(PROJECT_ROOT / "data" / "instruments.toml"),
            "data_clients": {"LOOP": {"factory": loopback}},
            "exec_clients": {"LOOP": {"factory": loopback}},
            "exec_engine": {"snapshot_positions_interval_secs": 1},
            "strategies": [
                {
                    "path": str(PROJECT_ROOT / "strategies" / "ema_cross_ticks.py") + ":EMACrossTicks",
                    "config": {
                        "instrument_id": "EUR/USD.SIM",
                        "trade_size": "100000",
                        "fast_ema_period": 5,
                        "slow_ema_period": 20,
                    },
                }
            ],
        },
        source="test_live_monitor writer",
    )
    feed = []
    for quote in DataCatalog(PROJECT_ROOT / "data" / "catalog").stream_objects([("quotes", "EUR/USD.SIM")]):
        feed.append(quote)
        if len(feed) == quotes:
            break
    node = TradingNode(config, source="test_live_monitor writer", snapshot_path=folder)
    client = node.data_clients["LOOP"]
    client.feed = feed  # type: ignore[attr-defined]
    idle = client.wait_until_idle
    assert idle is not None

    async def idle_then_pause() -> None:  # the loopback feed hands over one quote per call: slow it down
        await idle()
        await asyncio.sleep(delay)

    client.wait_until_idle = idle_then_pause
    try:
        node.run()  # until SIGTERM: then the node stops gracefully and writes its final snapshot
    finally:
        node.dispose()


# ---- the headless loop: app.run() again and again -------------------------------------------------------------


def run_headless_loop(folder: Path, seconds: float) -> None:
    """Run the monitor headless until `seconds` have passed; one JSON line per run on stdout."""
    sys.argv = [str(APP), "--snapshot", str(folder)]
    app = runpy.run_path(str(APP))["app"]
    end = time.monotonic() + seconds
    count = 0
    while time.monotonic() < end:
        count += 1
        record: dict[str, object] = {"run": count}
        try:
            _, defs = app.run()
            view = defs["view"]
            record.update(
                ok=view.ok,
                problem=view.problem,
                warning=view.warning,
                status=view.status,
                fills=view.fill_count,
                last_update_ns=view.manifest.get("last_update_ns"),
                stale=view.stale,
            )
        except BaseException:  # report it, and keep running: the test fails on any
            record["error"] = traceback.format_exc()
        print(json.dumps(record), flush=True)
        time.sleep(0.2)  # pacing, so the loop does not take a whole core from the node


# ---- the test ----------------------------------------------------------------------------------------------------


def helper(mode: str, *args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.test_live_monitor", mode, *args],
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONPATH=str(PROJECT_ROOT), PYTHONUNBUFFERED="1"),
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


def folder_figures(folder: Path) -> dict[str, object] | None:
    """Status, last_update_ns and fill count of the folder now (None while it cannot be read)."""
    try:
        snapshot = open_snapshot(folder)
        return {
            "status": snapshot.status,
            "last_update_ns": snapshot.manifest.get("last_update_ns"),
            "fills": snapshot.table("fills").height,
        }
    except (SnapshotProblem, OSError, pl.exceptions.PolarsError):
        return None


def page_figures(page: Page) -> dict[str, object]:
    """What the open page shows now."""
    return {
        "status": page.locator(".lm-status").first.get_attribute("data-status"),
        "last_update_ns": int(page.locator(".lm-last-update").first.get_attribute("data-ns") or 0),
        "fills": int(page.locator(".lm-fill-count").first.inner_text()),
        "stale": page.locator(".lm-stale").count() > 0,
    }


def test_live_monitor_follows_a_running_node_for_a_minute(tmp_path: Path) -> None:
    chromium = require_program("chromium", "chromium")
    folder = tmp_path / "live"
    writer = helper("--writer", str(folder), log=tmp_path / "writer.log")
    headless: subprocess.Popen[bytes] | None = None
    observed: list[dict[str, object]] = []
    try:

        def writer_alive() -> None:
            if writer.poll() is not None:
                pytest.fail(f"the writer exited with {writer.returncode}:\n{read(tmp_path / 'writer.log')}")
            time.sleep(0.1)

        wait_until(
            lambda: (f := folder_figures(folder)) is not None and f["status"] == "running" and f["fills"] > 0,
            120,
            "the node to write a running snapshot with fills",
            writer_alive,
        )
        with (
            MarimoServer(APP, ["--snapshot", str(folder), "--refresh", "1s"], tmp_path) as server,
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(executable_path=chromium, args=["--disable-gpu", "--disable-quic"])
            try:
                context, page, watch = open_page(browser, server.url)
                watch.wait_for_run()
                page.locator(".lm-status").first.wait_for(timeout=60_000)
                headless = helper("--headless-loop", str(folder), str(MINUTE), log=tmp_path / "headless.jsonl")
                end = time.monotonic() + MINUTE
                while time.monotonic() < end:
                    watch.pump(1000)  # the page refreshes itself every second meanwhile
                    errors = watch.all_errors()
                    assert errors == [], f"the page showed an error after {len(observed)} s: {errors}"
                    observed.append(page_figures(page))
                assert writer.poll() is None, f"the node stopped early:\n{read(tmp_path / 'writer.log')}"

                # The page shows the latest figures: those of the folder now, within a few refreshes.
                latest = folder_figures(folder)
                assert latest is not None and latest["status"] == "running"
                shown = wait_until(
                    lambda: (
                        (f := page_figures(page))["last_update_ns"] >= latest["last_update_ns"]
                        and f["fills"] >= latest["fills"]
                        and f
                    ),
                    15,
                    f"the page to show the folder's latest figures {latest}",
                    watch.pump,
                )
                assert shown["status"] == "running" and not shown["stale"]
                save_screenshot(page, "live_monitor_running.png", tmp_path)

                # The headless loop's minute ends (it started a moment after the page's), the node still running.
                headless.wait(timeout=60)
                assert writer.poll() is None, f"the node stopped early:\n{read(tmp_path / 'writer.log')}"

                # The node stops gracefully: its final snapshot says so, and so does the page.
                writer.send_signal(signal.SIGTERM)
                writer.wait(timeout=60)
                assert writer.returncode == 0, read(tmp_path / "writer.log")
                wait_until(
                    lambda: page_figures(page)["status"] == "stopped", 15, "the page to show stopped", watch.pump
                )
                assert watch.all_errors() == []
                assert watch.blocked == [], watch.blocked
                context.close()
            finally:
                browser.close()
    finally:
        stop(writer)
        if headless is not None:
            stop(headless)

    # The open page followed the node: running all along, never stale, figures moving forward.
    assert len(observed) >= 50, len(observed)
    assert all(o["status"] == "running" and not o["stale"] for o in observed), observed
    last_updates = [o["last_update_ns"] for o in observed]
    fills = [o["fills"] for o in observed]
    assert last_updates == sorted(last_updates) and len(set(last_updates)) >= 30, last_updates
    assert fills == sorted(fills) and fills[-1] > fills[0], fills

    # The headless runs never raised and saw the folder move forward.
    runs = [json.loads(line) for line in (tmp_path / "headless.jsonl").read_text().splitlines() if line.startswith("{")]
    errors = [r["error"] for r in runs if "error" in r]
    assert errors == [], errors[0]
    ok = [r for r in runs if r["ok"]]
    assert not [r for r in runs if r["problem"]], [r for r in runs if r["problem"]]
    assert len(runs) >= 60 and len(ok) >= 0.9 * len(runs), f"{len(ok)} of {len(runs)} runs read the folder"
    assert all(r["status"] == "running" and not r["stale"] for r in ok)
    run_fills = [r["fills"] for r in ok]
    run_updates = [r["last_update_ns"] for r in ok]
    assert run_fills == sorted(run_fills) and run_fills[-1] > run_fills[0], run_fills
    assert run_updates == sorted(run_updates) and len(set(run_updates)) >= 30, run_updates


# ---- the monitor's states, headless: problems as messages, a failed read as a warning, stale ---------------


@pytest.fixture(scope="module")
def backtest_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_backtest_snapshot(tmp_path_factory.mktemp("monitor_states"), "states", "2024-01-03")


def live_copy(source: Path, target: Path, status: str, age_secs: float) -> Path:
    """A copy of a backtest snapshot whose manifest says it is a live node's, last written `age_secs` ago."""
    shutil.copytree(source, target)
    manifest = json.loads((target / "manifest.json").read_text())
    written = datetime.now(UTC) - timedelta(seconds=age_secs)
    manifest.update(
        mode="live", status=status, last_update=written.isoformat(), last_update_ns=int(written.timestamp() * 1e9)
    )
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


def run_monitor(folder: Path | str, monkeypatch: pytest.MonkeyPatch) -> tuple[object, str]:
    """One headless run of the monitor over `folder`: its view and the HTML of its outputs."""
    monkeypatch.setattr(sys, "argv", [str(APP), "--snapshot", str(folder)])
    app = runpy.run_path(str(APP))["app"]
    outputs, defs = app.run()
    return defs["view"], "\n".join(str(getattr(o, "text", "")) for o in outputs if o is not None)


def test_monitor_shows_a_message_for_a_missing_empty_or_half_written_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "half" / "fills").mkdir(parents=True)
    (tmp_path / "half" / "fills" / "part-00000.parquet").write_bytes(b"PAR1")
    cases = {
        tmp_path / "missing": "does not exist",
        tmp_path / "empty": "is empty",
        tmp_path / "half": "still being written",
        "": "no snapshot folder given",
    }
    for folder, message in cases.items():
        view, page = run_monitor(folder, monkeypatch)
        assert view.problem is not None and message in view.problem, (folder, view.problem)
        assert "No snapshot to show" in page and message in page and "Traceback" not in page


def test_monitor_shows_a_failed_read_as_a_warning(
    backtest_snapshot: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = live_copy(backtest_snapshot, tmp_path / "live", "running", 0.5)
    (folder / "fills" / "part-00099.parquet").write_bytes(b"not parquet: a part replaced while it was read")
    view, page = run_monitor(folder, monkeypatch)
    assert view.problem is None and view.warning is not None and "reading again on the next refresh" in view.warning
    assert "Read skipped" in page and "Traceback" not in page
    (folder / "fills" / "part-00099.parquet").unlink()  # the next refresh reads the folder again
    view, page = run_monitor(folder, monkeypatch)
    assert view.ok and view.fill_count > 0 and "Read skipped" not in page


def test_monitor_marks_a_running_node_that_stopped_writing_as_stale(
    backtest_snapshot: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The copy's equity samples are an hour apart: a write is expected every hour, stale after three.
    fresh = live_copy(backtest_snapshot, tmp_path / "fresh", "running", 2 * 3600)
    view, page = run_monitor(fresh, monkeypatch)
    assert view.interval_secs == 3600 and view.stale_after_secs == 3 * 3600
    assert not view.stale and "lm-stale" not in page
    stale = live_copy(backtest_snapshot, tmp_path / "stale", "running", 4 * 3600)
    view, page = run_monitor(stale, monkeypatch)
    assert view.stale and "lm-stale" in page and "stale" in page and "#c0392b" in page
    stopped = live_copy(backtest_snapshot, tmp_path / "stopped", "stopped", 4 * 3600)
    view, page = run_monitor(stopped, monkeypatch)
    assert not view.stale and "lm-stale" not in page and 'data-status="stopped"' in page


def test_monitor_lists_working_orders_and_uses_the_declared_write_interval(
    backtest_snapshot: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = live_copy(backtest_snapshot, tmp_path / "orders", "running", 5)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["snapshot_interval_secs"] = 2.0  # what a node declares wins over the spacing of equity samples
    (folder / "manifest.json").write_text(json.dumps(manifest))
    orders = open_snapshot(folder).table("orders")
    assert orders.height >= 4
    statuses = ["ACCEPTED", "PARTIALLY_FILLED", "CANCELED", "TRIGGERED"] + ["FILLED"] * (orders.height - 4)
    ids = orders["client_order_id"].to_list()
    working = {ids[0], ids[1], ids[3]}
    for part in (folder / "orders").glob("part-*.parquet"):
        part.unlink()
    orders.with_columns(pl.Series("status", statuses)).write_parquet(folder / "orders" / "part-00000.parquet")
    view, page = run_monitor(folder, monkeypatch)
    assert view.ok and view.interval_secs == 2.0 and view.stale_after_secs == 10.0 and not view.stale
    assert set(view.orders["client_order_id"].to_list()) == working
    assert set(view.orders["status"].to_list()) == {"ACCEPTED", "PARTIALLY_FILLED", "TRIGGERED"}
    assert all(order_id in page for order_id in working) and ids[2] not in page.split("Last 20 fills")[0]
    stale = live_copy(folder, tmp_path / "late", "running", 11)
    view, _ = run_monitor(stale, monkeypatch)
    assert view.interval_secs == 2.0 and view.stale  # 11 s > max(3 x 2 s, 10 s)


def test_monitor_in_the_browser_shows_stale_in_red_then_a_typed_missing_folder(
    backtest_snapshot: Path, tmp_path: Path
) -> None:
    chromium = require_program("chromium", "chromium")
    stale = live_copy(backtest_snapshot, tmp_path / "stale", "running", 4 * 3600)
    with MarimoServer(APP, ["--snapshot", str(stale)], tmp_path) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--disable-gpu", "--disable-quic"])
        try:
            context, page, watch = open_page(browser, server.url)
            watch.wait_for_run()
            age = page.locator(".lm-stale").first
            age.wait_for(timeout=30_000)
            assert "stale" in age.inner_text()
            assert age.evaluate("e => getComputedStyle(e).color") == "rgb(192, 57, 43)"
            save_screenshot(page, "live_monitor_stale.png", tmp_path)

            missing = tmp_path / "no-such-folder"
            field = page.get_by_role("textbox").first
            field.fill(str(missing))
            field.press("Enter")
            page.get_by_text("No snapshot to show").first.wait_for(timeout=30_000)
            assert page.get_by_text(f"no snapshot at {missing}: the folder does not exist").count() == 1
            assert page.locator(".lm-status").count() == 0 and watch.drawn_charts() == []
            save_screenshot(page, "live_monitor_missing.png", tmp_path)
            assert watch.all_errors() == [] and watch.blocked == []
            context.close()
        finally:
            browser.close()


def read(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--writer", metavar="DIR", type=Path, help="run a live node writing DIR until SIGTERM")
    group.add_argument("--headless-loop", metavar="DIR", type=Path, help="run the monitor headless over DIR")
    parser.add_argument("seconds", nargs="?", type=float, default=MINUTE, help="how long the headless loop runs")
    args = parser.parse_args()
    if args.writer is not None:
        run_writer(args.writer, QUOTE_DELAY, QUOTES)
    else:
        run_headless_loop(args.headless_loop, args.seconds)


if __name__ == "__main__":
    main()
