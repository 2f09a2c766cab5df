"""`toolkit report SNAPSHOT --html OUT.html`: the tearsheet of a snapshot folder as one static HTML file.

The folder is checked first (`open_snapshot`: a missing, empty or half-written folder is a one-line
error, exit status 2). Then `apps/tearsheet.py` is exported with marimo's own exporter, run as a
subprocess of this interpreter (`python -m marimo export html ... --no-include-code -- --snapshot=DIR`).
The export runs on a copy of the app in a temporary folder, so marimo's session cache lands there and
is deleted with it; the page is written next to OUT under a temporary name and renamed into place, and
only when every cell ran. Nothing is ever written into the snapshot folder: an OUT inside it is refused.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import toolkit
from toolkit.analysis.reader import open_snapshot

APP_NAME = "tearsheet.py"


def apps_dir() -> Path:
    """The project's `apps/` folder (beside the `toolkit` package)."""
    return Path(toolkit.__file__).resolve().parents[1] / "apps"


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("snapshot", help="snapshot folder of a backtest or a live node (read only)")
    parser.add_argument("--html", required=True, metavar="OUT.html", help="HTML file to write (replaced if it exists)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds the export may take (default 600)")


def _check_target(out: str | Path, snapshot_folder: Path) -> Path:
    target = Path(out).expanduser().resolve()
    if target == snapshot_folder or snapshot_folder in target.parents:
        raise ValueError(
            f"{target} is inside the snapshot folder {snapshot_folder}: reports never write into a snapshot, "
            "choose a path outside it"
        )
    if target.is_dir():
        raise ValueError(f"{target} is a folder: give the HTML file to write, e.g. {target / 'tearsheet.html'}")
    if not target.parent.is_dir():
        raise ValueError(f"cannot write {target}: the folder {target.parent} does not exist")
    return target


def _failure(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in (proc.stderr or proc.stdout or "").splitlines() if line.strip()]
    return " | ".join(lines[-3:]) or "no output"


def export_html(snapshot: str | Path, out: str | Path, timeout: float = 600.0) -> Path:
    """Write the tearsheet of `snapshot` to `out` as static HTML; return the file's path.

    Raises SnapshotProblem/ValueError for a bad folder or target, RuntimeError when the export fails.
    """
    snap = open_snapshot(snapshot)
    folder = snap.path.resolve()
    target = _check_target(out, folder)
    app = apps_dir() / APP_NAME
    if not app.is_file():
        raise RuntimeError(f"the tearsheet app is missing: {app} (apps/ must sit beside the toolkit package)")
    with tempfile.TemporaryDirectory(prefix="toolkit-report-") as work:
        copy = Path(work) / APP_NAME
        shutil.copyfile(app, copy)
        page = Path(work) / "tearsheet.html"
        command = [
            sys.executable,
            "-m",
            "marimo",
            "export",
            "html",
            str(copy),
            "-o",
            str(page),
            "--no-include-code",
            "--force",
            "--",
            f"--snapshot={folder}",
        ]
        try:
            proc = subprocess.run(
                command, cwd=work, capture_output=True, text=True, timeout=timeout, check=False, env=dict(os.environ)
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"the export of {folder} took longer than {timeout:g} s (see --timeout)") from None
        if proc.returncode != 0 or not page.is_file():
            raise RuntimeError(f"the tearsheet export failed (marimo exit {proc.returncode}): {_failure(proc)}")
        temporary = target.parent / f".{target.name}.{os.getpid()}.tmp"
        try:
            shutil.copyfile(page, temporary)
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    return target


def run_report_cli(args: argparse.Namespace) -> int:
    path = export_html(args.snapshot, args.html, timeout=args.timeout)
    print(f"Report written to {path}")
    return 0
