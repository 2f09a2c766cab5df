"""End-to-end promotion: `toolkit venue` and `toolkit live` as separate OS processes on 127.0.0.1.

The live node trades the same run file the backtest runs; snapshots are read while it runs; SIGINT and
SIGTERM stop it with status 0 and a final snapshot; in lockstep the live orders and fills equal the
backtest's (`toolkit parity`), for the tick and the bar strategy; a venue that drops every connection
mid-run loses no fill.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from tests.conftest import PROJECT_ROOT
from toolkit.adapters.sandbox.protocol import sign

TOOLKIT = str(Path(sys.executable).parent / "toolkit")
KEY, SECRET = "sandbox-key", "sandbox-secret"


def wait_for(condition: Callable[[], bool], deadline_s: float, what: str) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {deadline_s}s waiting for {what}")


class Proc:
    def __init__(self, args: list[str], workdir: Path, name: str) -> None:
        self.out = workdir / f"{name}.out"
        self.err = workdir / f"{name}.err"
        self.proc = subprocess.Popen(
            args,
            cwd=PROJECT_ROOT,
            stdout=self.out.open("w"),
            stderr=self.err.open("w"),
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )

    def text(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


_last_stamp = [0]


def request(url: str, method: str, path: str, attempts: int = 3) -> dict:
    """A signed request with a strictly increasing timestamp (two identical requests in one millisecond would be
    refused as a replay). Signed again and resent: a request the venue only read after its 5 s receive window
    (its loop was busy, e.g. opening the data on a loaded machine), or one whose signature the node's own
    adapter happened to use in the same millisecond (same key, same GET /api/v1/status). Any other refusal
    fails with the venue's reason, not a bare HTTP 401."""
    for attempt in range(attempts):
        ts = _last_stamp[0] = max(time.time_ns() // 1_000_000, _last_stamp[0] + 1)
        headers = {"X-TK-APIKEY": KEY, "X-TK-TIMESTAMP": str(ts), "X-TK-SIGNATURE": sign(SECRET, ts, method, path)}
        http_request = urllib.request.Request(url + path, method=method, headers=headers)
        try:
            with urllib.request.urlopen(http_request, timeout=10) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as exc:
            reason = exc.read().decode(errors="replace")
            retryable = "away from the server time" in reason or "already used" in reason
            if exc.code == 401 and retryable and attempt + 1 < attempts:
                continue
            raise AssertionError(f"{method} {path}: HTTP {exc.code}: {reason}") from None
    raise AssertionError(f"{method} {path}: no answer after {attempts} attempts")


def run_file(tmp_path: Path, base: str, end: str, strategy_overrides: dict[str, object]) -> Path:
    """A copy of one of the project's run files with a shorter period and the catalog path made absolute."""
    text = (PROJECT_ROOT / "strategies" / base).read_text()
    text = text.replace('catalog = "data/catalog"', f'catalog = "{PROJECT_ROOT / "data" / "catalog"}"', 1)
    text = text.replace("[backtest]\n", f'[backtest]\nend = "{end}"\n', 1)
    for key, value in strategy_overrides.items():
        lines = [line for line in text.splitlines() if not line.startswith(f"{key} =")]
        index = lines.index("[strategy.config]") + 1
        lines.insert(index, f"{key} = {value}")
        text = "\n".join(lines) + "\n"
    path = tmp_path / base
    path.write_text(text)
    return path


class LiveRun:
    def __init__(self, tmp_path: Path, config: Path) -> None:
        self.tmp = tmp_path
        self.config = config
        self.snapshot = tmp_path / "live-snapshot"
        self.venue = Proc([TOOLKIT, "venue", str(config), "--port", "0", "--lockstep"], tmp_path, "venue")
        wait_for(lambda: "listening on http://" in self.venue.out.read_text(), 30, "the venue URL")
        self.url = self.venue.out.read_text().split("listening on ", 1)[1].split()[0]
        self.node = Proc(
            [TOOLKIT, "live", str(config), "--venue-url", self.url, "--snapshot", str(self.snapshot)], tmp_path, "live"
        )

    def status(self) -> dict:
        return request(self.url, "GET", "/api/v1/status")

    def manifest(self) -> dict:
        path = self.snapshot / "manifest.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def wait_end_of_data(self, deadline_s: float = 120) -> None:
        def done() -> bool:
            if self.node.proc.poll() is not None:
                code = self.node.proc.returncode
                raise AssertionError(f"the node exited early ({code}):\n{self.node.text()[-3000:]}")
            return bool(self.status()["end_of_data"])

        try:
            wait_for(done, deadline_s, "the venue's end of data")
        except AssertionError as exc:
            # Say where it stopped: the last lines of both processes.
            tails = f"\n--- venue ---\n{self.venue.text()[-3000:]}\n--- node ---\n{self.node.text()[-3000:]}"
            raise AssertionError(f"{exc}{tails}") from None

    def stop_node(self, sig: int, deadline_s: float = 10) -> int:
        self.node.proc.send_signal(sig)
        try:
            return self.node.proc.wait(timeout=deadline_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the node did not exit within {deadline_s}s of {signal.Signals(sig).name}") from None

    def close(self) -> None:
        self.node.stop()
        self.venue.stop()


@pytest.fixture
def live_runs() -> Iterator[list[LiveRun]]:
    runs: list[LiveRun] = []
    yield runs
    for run in runs:
        run.close()


def backtest(config: Path, out: Path) -> None:
    proc = subprocess.run(
        [TOOLKIT, "backtest", str(config), "--output", str(out), "--no-progress"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def parity(a: Path, b: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TOOLKIT, "parity", str(a), str(b)], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_tick_strategy_promoted_to_live_matches_the_backtest_and_stops_on_a_signal(
    tmp_path: Path, live_runs: list[LiveRun], sig: int
) -> None:
    config = run_file(
        tmp_path, "ema_cross_ticks.toml", "2024-01-02T00:30:00Z", {"fast_ema_period": 50, "slow_ema_period": 200}
    )
    run = LiveRun(tmp_path, config)
    live_runs.append(run)
    # A snapshot written while the node runs is readable, with orders and fills.
    wait_for(lambda: run.manifest().get("counts", {}).get("fills", 0) > 0, 120, "fills in the running snapshot")
    assert run.manifest()["status"] == "running"
    running_fills = duckdb.sql(f"SELECT count(*) FROM read_parquet('{run.snapshot}/fills/*.parquet')").fetchall()
    assert running_fills[0][0] > 0
    run.wait_end_of_data()
    code = run.stop_node(sig, deadline_s=10)  # timeout_disconnection
    assert code == 0, run.node.text()
    manifest = run.manifest()
    assert manifest["status"] == "stopped" and manifest["counts"]["fills"] > 10
    backtest(config, tmp_path / "bt")
    result = parity(tmp_path / "bt", run.snapshot)
    assert result.returncode == 0, result.stdout
    assert "no differences" in result.stdout


def test_bar_strategy_promoted_to_live_matches_the_backtest(tmp_path: Path, live_runs: list[LiveRun]) -> None:
    config = run_file(tmp_path, "ema_cross.toml", "2024-01-03T00:00:00Z", {})
    run = LiveRun(tmp_path, config)
    live_runs.append(run)
    run.wait_end_of_data()
    assert run.stop_node(signal.SIGINT) == 0, run.node.text()
    backtest(config, tmp_path / "bt")
    result = parity(tmp_path / "bt", run.snapshot)
    assert result.returncode == 0, result.stdout
    assert run.manifest()["counts"]["fills"] > 10


def test_dropped_connections_mid_run_lose_no_fill(tmp_path: Path, live_runs: list[LiveRun]) -> None:
    config = run_file(
        tmp_path, "ema_cross_ticks.toml", "2024-01-02T00:30:00Z", {"fast_ema_period": 50, "slow_ema_period": 200}
    )
    run = LiveRun(tmp_path, config)
    live_runs.append(run)
    wait_for(lambda: run.status()["user_seq"] > 4, 120, "the first fills at the venue")
    for _ in range(3):  # drop every WebSocket three times during the run
        before = run.status()["events_released"]
        request(run.url, "POST", "/api/v1/test/drop_connections")
        wait_for(lambda b=before: run.status()["events_released"] > b + 500, 60, "the replay to go on after a drop")
    run.wait_end_of_data()
    assert run.stop_node(signal.SIGINT) == 0, run.node.text()
    assert "reconnect" in run.node.text().lower()
    venue_fills = request(run.url, "GET", "/api/v1/fills")["reports"]
    live_fills = duckdb.sql(f"SELECT trade_id FROM read_parquet('{run.snapshot}/fills/*.parquet')").fetchall()
    assert sorted(str(f["trade_id"]) for f in venue_fills) == sorted(row[0] for row in live_fills)
    backtest(config, tmp_path / "bt")
    assert parity(tmp_path / "bt", run.snapshot).returncode == 0


def test_a_user_script_runs_the_node_too(tmp_path: Path, live_runs: list[LiveRun]) -> None:
    config = run_file(
        tmp_path, "ema_cross_ticks.toml", "2024-01-02T00:10:00Z", {"fast_ema_period": 50, "slow_ema_period": 200}
    )
    snapshots = tmp_path / "script-snapshots"
    config.write_text(config.read_text().replace('snapshot_dir = "output/live"', f'snapshot_dir = "{snapshots}"'))
    venue = Proc([TOOLKIT, "venue", str(config), "--port", "0", "--lockstep"], tmp_path, "venue")
    try:
        wait_for(lambda: "listening on http://" in venue.out.read_text(), 30, "the venue URL")
        url = venue.out.read_text().split("listening on ", 1)[1].split()[0]
        env = dict(os.environ, TOOLKIT_SANDBOX_URL=url, PYTHONUNBUFFERED="1")
        script = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "strategies" / "live_node.py"), str(config)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            try:
                wait_for(lambda: request(url, "GET", "/api/v1/status")["end_of_data"], 120, "the end of the data")
            except AssertionError as exc:
                script.kill()
                out, err = script.communicate(timeout=15)
                raise AssertionError(
                    f"{exc}\n--- venue ---\n{venue.text()[-3000:]}\n--- script ---\n{(out + err)[-3000:]}"
                ) from None
            script.send_signal(signal.SIGINT)
            _out, err = script.communicate(timeout=15)
            assert script.returncode == 0, err
        finally:
            if script.poll() is None:
                script.kill()
        (folder,) = list(snapshots.iterdir())
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["status"] == "stopped" and manifest["counts"]["fills"] > 0
    finally:
        venue.stop()
