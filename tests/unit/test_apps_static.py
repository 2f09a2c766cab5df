"""The marimo apps in apps/ only read snapshot folders: they never import `toolkit.live` and never start an
event loop (the live node runs in its own process).

Static: every file under apps/ is parsed (comments and docstrings do not count) and may not import
`toolkit.live` in any form nor call `asyncio.run`, `run_until_complete`, `run_forever`, `new_event_loop` or
name `TradingNode`. Dynamic: each app runs headless (`app.run()` with its snapshot arguments) in a fresh
subprocess that records every asyncio event loop constructed and every thread started while the app is
imported and run; afterwards no `toolkit.live` module may be loaded, no loop may have been built and no
new thread may be alive. Both checks are first shown to catch a deliberately bad app.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

APPS = PROJECT_ROOT / "apps"
LIVE_MODULE = re.compile(r"toolkit\.live(\.\w+)*")
LOOP_CALLS = {"run_until_complete", "run_forever", "new_event_loop"}
LOOP_NAMES = {"TradingNode"}


def static_problems(source: str, filename: str = "<app>") -> list[str]:
    """What in `source` imports toolkit.live or starts an event loop, as 'line N: ...' strings."""
    problems: list[str] = []
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            for alias in node.names:
                if LIVE_MODULE.fullmatch(alias.name):
                    problems.append(f"line {line}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names = [alias.name for alias in node.names]
            if LIVE_MODULE.fullmatch(module):
                problems.append(f"line {line}: from {module} import ...")
            elif module == "toolkit" and "live" in names:
                problems.append(f"line {line}: from toolkit import live")
            elif module == "asyncio" and {"run", *LOOP_CALLS} & set(names):
                problems.append(f"line {line}: from asyncio import {', '.join(names)}")
            if LOOP_NAMES & set(names):
                problems.append(f"line {line}: imports TradingNode")
        elif isinstance(node, ast.Attribute):
            if node.attr in LOOP_CALLS or node.attr in LOOP_NAMES:
                problems.append(f"line {line}: .{node.attr}")
            elif node.attr == "run" and isinstance(node.value, ast.Name) and node.value.id == "asyncio":
                problems.append(f"line {line}: asyncio.run")
            elif node.attr == "live" and isinstance(node.value, ast.Name) and node.value.id == "toolkit":
                problems.append(f"line {line}: toolkit.live")
        elif isinstance(node, ast.Name) and node.id in LOOP_NAMES | LOOP_CALLS:
            problems.append(f"line {line}: {node.id}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and LIVE_MODULE.fullmatch(node.value):
            problems.append(f"line {line}: module name {node.value!r} (dynamic import)")
    return problems


def app_files() -> list[Path]:
    return sorted(p for p in APPS.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize(
    "source",
    [
        "import toolkit.live",
        "import toolkit.live.node as n",
        "import os, toolkit.live.config",
        "from toolkit.live import node",
        "from toolkit.live.node import TradingNode",
        "from toolkit import live",
        "from toolkit import analysis, live as lv",
        "import toolkit\nx = toolkit.live.node",
        "import importlib\nimportlib.import_module('toolkit.live.node')",
        "import asyncio\nasyncio.run(main())",
        "import asyncio as aio\nloop = aio.new_event_loop()",
        "from asyncio import new_event_loop",
        "from asyncio import run",
        "loop.run_until_complete(task)",
        "loop.run_forever()",
        "node = TradingNode(config)",
        "def cell():\n    import toolkit.live.loopback\n    return None",
    ],
)
def test_the_static_check_catches_each_form(source: str) -> None:
    assert static_problems(source), f"not caught: {source!r}"


@pytest.mark.parametrize(
    "source",
    [
        '"""Never imports toolkit.live, never calls asyncio.run or builds a TradingNode."""',
        "# import toolkit.live\nimport toolkit.analysis.reader",
        "from toolkit.analysis.reader import open_snapshot",
        "import marimo\napp = marimo.App()\nif __name__ == '__main__':\n    app.run()",
        "text = 'see toolkit.live for the node'",
    ],
)
def test_the_static_check_accepts_reading_code(source: str) -> None:
    assert static_problems(source) == []


def test_apps_never_import_the_live_node_or_start_a_loop() -> None:
    files = app_files()
    assert APPS / "live_monitor.py" in files, f"no apps found under {APPS}"
    found = {
        str(path.relative_to(PROJECT_ROOT)): problems
        for path in files
        if (problems := static_problems(path.read_text(), str(path)))
    }
    assert found == {}, f"apps must only read snapshots: {found}"


# ---- dynamic: run each app headless in a fresh interpreter -------------------------------------------------

HARNESS = r"""
import asyncio, json, runpy, sys, threading, traceback

loops = []
_init = asyncio.BaseEventLoop.__init__


def _record(self, *args, **kwargs):
    loops.append("".join(traceback.format_stack(limit=6)[:-1]))
    _init(self, *args, **kwargs)


asyncio.BaseEventLoop.__init__ = _record
threads_before = {t.ident for t in threading.enumerate()}
app_path = sys.argv[1]
sys.argv = [app_path, *sys.argv[2:]]
error = None
try:
    namespace = runpy.run_path(app_path)  # defines `app`; not as __main__, so the file does not run itself
    namespace["app"].run()
except BaseException as exc:
    error = "".join(traceback.format_exception(exc))
report = {
    "error": error,
    "live_modules": sorted(m for m in sys.modules if m == "toolkit.live" or m.startswith("toolkit.live.")),
    "loops": loops,
    "new_threads": [t.name for t in threading.enumerate() if t.ident not in threads_before and t.is_alive()],
}
print("HARNESS-REPORT " + json.dumps(report))
"""


def run_headless(app: Path, args: list[str], timeout: float = 120) -> dict:
    """Run `app` headless with `args` in a subprocess; the harness's report."""
    proc = subprocess.run(
        [sys.executable, "-c", HARNESS, str(app), *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, PYTHONPATH=str(PROJECT_ROOT)),
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("HARNESS-REPORT ")]
    assert lines, f"{app.name} did not finish (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1].removeprefix("HARNESS-REPORT "))


def make_backtest_snapshot(folder: Path, tag: str, end: str) -> Path:
    """A real backtest snapshot (the EMA cross run file with a short period)."""
    text = (PROJECT_ROOT / "strategies" / "ema_cross.toml").read_text()
    text = text.replace('catalog = "data/catalog"', f'catalog = "{PROJECT_ROOT / "data" / "catalog"}"', 1)
    text = text.replace('path = "strategies/', f'path = "{PROJECT_ROOT / "strategies"}/', 1)
    text = text.replace("[backtest]\n", f'[backtest]\nend = "{end}"\n', 1)
    run_file = folder / f"ema_cross_{tag}.toml"
    run_file.write_text(text)
    output = folder / f"snapshot_{tag}"
    toolkit = str(Path(sys.executable).parent / "toolkit")
    proc = subprocess.run(
        [toolkit, "backtest", str(run_file), "--output", str(output)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and (output / "manifest.json").is_file(), proc.stdout[-2000:] + proc.stderr[-2000:]
    return output


def app_arguments(app: Path, snapshots: list[Path]) -> list[str]:
    """Command-line arguments of each app (compare takes two snapshots)."""
    if app.stem == "compare":
        return ["--a", str(snapshots[0]), "--b", str(snapshots[1])]
    return ["--snapshot", str(snapshots[0])]


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("apps_static")
    return [make_backtest_snapshot(folder, "a", "2024-01-03"), make_backtest_snapshot(folder, "b", "2024-01-04")]


def test_the_dynamic_check_catches_a_live_import_a_loop_and_a_loop_thread(tmp_path: Path) -> None:
    bad = tmp_path / "bad_app.py"
    bad.write_text(
        "import marimo\n\napp = marimo.App()\n\n\n"
        "@app.cell\ndef _():\n"
        "    import asyncio, importlib, threading\n"
        "    importlib.import_module('toolkit.' + 'live.config')  # hidden from a text search\n"
        "    loop = asyncio.new_event_loop()\n"
        "    threading.Thread(target=loop.run_forever, name='hidden-loop', daemon=True).start()\n"
        "    return\n"
    )
    report = run_headless(bad, [])
    assert report["error"] is None
    assert "toolkit.live.config" in report["live_modules"]
    assert len(report["loops"]) == 1 and "bad_app.py" in report["loops"][0]
    assert report["new_threads"] == ["hidden-loop"]


def test_each_app_runs_headless_without_the_live_node_or_a_loop(snapshots: list[Path]) -> None:
    results = {}
    for app in app_files():
        report = run_headless(app, app_arguments(app, snapshots))
        results[app.name] = report
        assert report["error"] is None, f"{app.name} raised:\n{report['error']}"
        assert report["live_modules"] == [], f"{app.name} loaded {report['live_modules']}"
        assert report["loops"] == [], f"{app.name} built an event loop:\n{report['loops'][0]}"
        assert report["new_threads"] == [], f"{app.name} left threads running: {report['new_threads']}"
    assert "live_monitor.py" in results
