"""End-to-end: `toolkit report SNAPSHOT --html OUT.html` as a real process writes the tearsheet as a static
HTML page (the equity chart's Vega-Lite spec and the key figures inside); a folder that is not a snapshot
is a one-line error with exit status 2; nothing is written into the snapshot folder."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import PROJECT_ROOT
from toolkit.analysis.tearsheet import format_money

TOOLKIT = str(Path(sys.executable).parent / "toolkit")


def run_toolkit(*args: str, cwd: Path = PROJECT_ROOT, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [TOOLKIT, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def fingerprint(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def page_text(path: Path) -> str:
    """The page with marimo's escaping undone (\\uXXXX in its JSON, then HTML entities)."""
    text = re.sub(r"\\u([0-9A-Fa-f]{4})", lambda m: chr(int(m.group(1), 16)), path.read_text(encoding="utf-8"))
    for _ in range(3):
        text = html.unescape(text)
    return text


def vega_lite_specs(path: Path) -> list[dict]:
    """Every Vega-Lite spec among the page's cell outputs (JSON strings under a vega-lite mime type)."""
    page = path.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    specs = []
    for match in re.finditer(r'"application/vnd\.vegalite\.v\d+\+json":\s*', page):
        value, _ = decoder.raw_decode(page, match.end())
        specs.append(json.loads(value) if isinstance(value, str) else value)
    return specs


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "demo"
    proc = run_toolkit("demo", "--output", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    return out


def test_report_writes_the_tearsheet_as_static_html(snapshot: Path, tmp_path: Path) -> None:
    before = fingerprint(snapshot)
    session_cache = PROJECT_ROOT / "apps" / "__marimo__" / "session" / "tearsheet.py.json"
    cache_before = session_cache.stat().st_mtime_ns if session_cache.exists() else None
    out = tmp_path / "site" / "tearsheet.html"
    out.parent.mkdir()
    proc = run_toolkit("report", str(snapshot), "--html", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert str(out) in proc.stdout
    assert out.is_file() and out.stat().st_size > 10_000
    manifest = json.loads((snapshot / "manifest.json").read_text())
    summary = manifest["summary"]["SIM-001:USD"]
    # The equity chart's spec: Vega-Lite JSON in the page, its data ending at the final equity.
    specs = vega_lite_specs(out)
    equity = [s for s in specs if s.get("description") == "toolkit tearsheet equity chart"]
    assert len(equity) == 1, [s.get("description") for s in specs]
    assert equity[0]["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
    (rows,) = equity[0]["datasets"].values()
    assert rows[-1]["equity_f"] == float(summary["final_equity"])
    assert len(rows) == pl.read_parquet(snapshot / "equity" / "*.parquet").height
    text = page_text(out)
    final_equity = format_money(Decimal(summary["final_equity"]), "USD")
    total_pnl = format_money(Decimal(summary["total_pnl"]), "USD")
    fills = pl.read_parquet(snapshot / "fills" / "*.parquet").height
    assert f"data-value='\"{final_equity}\"' data-label='\"Final equity\"'" in text
    assert f"data-value='\"{total_pnl}\"' data-label='\"Total PnL\"'" in text
    assert f"data-value='\"{fills:,}\"' data-label='\"Fills\"'" in text
    assert f"data-value='\"{summary['trade_count']:,}\"' data-label='\"Trades\"'" in text
    assert "Sharpe ratio (252d)" in text  # the statistics table
    assert "Traceback" not in text and "marimo-error" not in text
    # Read only: the snapshot folder is untouched; no leftovers beside the page; no session cache in apps/.
    assert fingerprint(snapshot) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["tearsheet.html"]
    assert (session_cache.stat().st_mtime_ns if session_cache.exists() else None) == cache_before
    # A second export replaces the file.
    proc = run_toolkit("report", str(snapshot), "--html", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["tearsheet.html"]


@pytest.mark.parametrize(
    ("folder", "message"),
    [
        ("missing", "does not exist"),
        ("empty", "is empty"),
        ("half", "still being written"),
    ],
)
def test_a_folder_that_is_not_a_snapshot_is_a_one_line_error(folder: str, message: str, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "half" / "equity").mkdir(parents=True)
    out = tmp_path / "out.html"
    proc = run_toolkit("report", str(tmp_path / folder), "--html", str(out), cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_the_report_is_never_written_into_the_snapshot(snapshot: Path) -> None:
    before = fingerprint(snapshot)
    proc = run_toolkit("report", str(snapshot), "--html", str(snapshot / "tearsheet.html"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "inside the snapshot folder" in lines[0]
    assert fingerprint(snapshot) == before
