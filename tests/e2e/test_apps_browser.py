"""Browser tests of the marimo apps: `marimo run` serves each app on 127.0.0.1 over a backtest snapshot,
headless Chromium (Debian's /usr/bin/chromium, driven by playwright) loads it, and the test checks that
the page renders charts and shows no error; a screenshot of each page goes to output/screenshots/.

How an error is seen: in `marimo run` a failing cell disappears from the page and marimo shows an
"An internal error occurred" toast, which fades. So the watcher records, for the page's whole life, every
websocket `cell-op` message whose output channel is `marimo-error` (the kernel's report of a cell error,
also sent for `mo.stop` ancestors), uncaught page errors, and cell stderr with a traceback; and it checks
the DOM for the toast, a traceback and the connection state. `test_the_error_detector_sees_a_broken_app`
proves the watcher on an app with a raising cell.

The page is kept offline: requests to anything but the local server and local files are refused (and
recorded), and the marimo frontend files a static export loads from its CDN are answered from the copy
inside the installed marimo package.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import marimo
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, sync_playwright

from tests.conftest import PROJECT_ROOT, require_program

APPS = PROJECT_ROOT / "apps"
SCREENSHOTS = PROJECT_ROOT / "output" / "screenshots"
MARIMO_STATIC = Path(marimo.__file__).resolve().parent / "_static"
MARIMO_CDN = re.compile(r"^https://cdn\.jsdelivr\.net/npm/@marimo-team/frontend@[^/]+/dist/([^?#]+)")
LOCAL_URL = re.compile(r"^(https?://(127\.0\.0\.1|localhost)(:\d+)?/|file:|data:|blob:|about:)")
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".json": "application/json", ".woff2": "font/woff2"}
ERROR_MARKERS = ("An internal error occurred", "Traceback (most recent call last)")
DEEP_QUERY_JS = """(root, selector) => {
    const found = [];
    const walk = (node) => {
        node.querySelectorAll(selector).forEach(e => found.push(e));
        node.querySelectorAll('*').forEach(e => { if (e.shadowRoot) walk(e.shadowRoot); });
    };
    walk(root);
    return found;
}"""
CHARTS_JS = (
    """() => ("""
    + DEEP_QUERY_JS
    + """)(document, '.vega-embed').map(embed => {
    const marks = embed.querySelector('canvas.marks, svg.marks');
    const doc = embed.querySelector('[aria-roledescription=visualization]');
    return {
        kind: marks ? marks.tagName.toLowerCase() : null,
        width: marks ? marks.clientWidth : 0,
        height: marks ? marks.clientHeight : 0,
        label: doc ? doc.getAttribute('aria-label') : null,
    };
})"""
)
DOM_ERRORS_JS = (
    """(markers) => {
    const found = [];
    const shadows = ("""
    + DEEP_QUERY_JS
    + """)(document, '*').filter(e => e.shadowRoot);
    const texts = shadows.map(e => e.shadowRoot.textContent);
    const text = [document.body ? document.body.innerText : '', ...texts].join('\\n');
    for (const marker of markers) if (text.includes(marker)) found.push('page text: ' + marker);
    document.querySelectorAll('[role=region] li.destructive').forEach(toast => found.push('toast: ' + toast.innerText));
    const app = document.getElementById('App');
    if (app && app.getAttribute('data-connection-state') !== 'OPEN')
        found.push('connection ' + app.getAttribute('data-connection-state') + ': ' + app.innerText.slice(0, 200));
    return found;
}"""
)


# ---- helpers (also used by test_live_monitor.py) -------------------------------------------------------------


def wait_until(
    condition: Callable[[], Any], deadline_s: float, what: str, pump: Callable[[], None] | None = None
) -> Any:
    """Poll `condition` until it returns something truthy; `pump` lets the browser deliver its events."""
    end = time.monotonic() + deadline_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline_s:g} s waiting for {what}")
        if pump is not None:
            pump()
        else:
            time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MarimoServer:
    """`marimo run --headless` of one app on 127.0.0.1 and a free port, as a child process."""

    def __init__(self, app: Path, args: list[str], workdir: Path) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = workdir / f"marimo-{app.stem}-{self.port}.log"
        command = [sys.executable, "-m", "marimo", "run", "--headless", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), str(app), "--", *args]
        env = dict(os.environ, MARIMO_SKIP_UPDATE_CHECK="1", PYTHONUNBUFFERED="1")
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, deadline_s: float = 60) -> None:
        def answers() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"marimo exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    return response.status == 200
            except (OSError, urllib.error.URLError):
                return False

        wait_until(answers, deadline_s, f"marimo run of {self.app.name} on {self.url}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def __enter__(self) -> MarimoServer:
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class PageWatch:
    """Everything a page reports that means an error, from the moment it is opened."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.completed_runs = 0
        self.cell_outputs = 0
        self.blocked: list[str] = []
        page.on("websocket", lambda ws: ws.on("framereceived", self._on_frame))
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught page error: {exc}"))
        page.on("console", self._on_console)

    def _on_frame(self, payload: str | bytes) -> None:
        text = payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
        try:
            message = json.loads(text)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        data = message.get("data") if isinstance(message.get("data"), dict) else {}
        if message.get("op") == "completed-run":
            self.completed_runs += 1
        output = data.get("output") if isinstance(data.get("output"), dict) else None
        if message.get("op") == "cell-op" and output is not None:
            self.cell_outputs += 1
            if output.get("channel") == "marimo-error":
                self.errors.append(f"cell {data.get('cell_id')} error: {json.dumps(output.get('data'))[:500]}")
        console = data.get("console") if message.get("op") == "cell-op" else None
        for item in console if isinstance(console, list) else [console] if isinstance(console, dict) else []:
            if item.get("channel") == "stderr" and "Traceback" in str(item.get("data")):
                self.errors.append(f"cell {data.get('cell_id')} stderr: {str(item.get('data'))[:500]}")

    def _on_console(self, message: Any) -> None:
        if "[STDERR]" in message.text and ("Traceback" in message.text or '"type":' in message.text):
            self.errors.append(f"console: {message.text[:500]}")

    def pump(self, ms: int = 100) -> None:
        self.page.wait_for_timeout(ms)

    def dom_errors(self) -> list[str]:
        return self.page.evaluate(DOM_ERRORS_JS, list(ERROR_MARKERS))

    def all_errors(self) -> list[str]:
        return [*self.errors, *self.dom_errors()]

    def charts(self) -> list[dict[str, Any]]:
        return self.page.evaluate(CHARTS_JS)

    def drawn_charts(self) -> list[dict[str, Any]]:
        return [c for c in self.charts() if c["kind"] and c["width"] > 0 and c["height"] > 0]

    def wait_for_run(self, deadline_s: float = 60) -> None:
        wait_until(lambda: self.completed_runs > 0, deadline_s, "marimo to finish running the app", self.pump)

    def wait_for_charts(self, count: int = 1, deadline_s: float = 60) -> list[dict[str, Any]]:
        return wait_until(
            lambda: len(charts := self.drawn_charts()) >= count and charts, deadline_s, "charts drawn", self.pump
        )


def _route(watch_blocked: list[str]) -> Callable[[Route], None]:
    def handle(route: Route) -> None:
        url = route.request.url
        cdn = MARIMO_CDN.match(url)
        if cdn is not None:
            local = (MARIMO_STATIC / cdn.group(1)).resolve()
            if MARIMO_STATIC in local.parents and local.is_file():
                content_type = CONTENT_TYPES.get(local.suffix, "application/octet-stream")
                route.fulfill(status=200, body=local.read_bytes(), headers={"content-type": content_type})
                return
        if LOCAL_URL.match(url):
            route.continue_()
            return
        watch_blocked.append(url)
        route.abort()

    return handle


def open_page(browser: Browser, url: str, height: int = 2200) -> tuple[BrowserContext, Page, PageWatch]:
    """A fresh browser context and page, offline but for 127.0.0.1 and local files, watched from the start."""
    context = browser.new_context(viewport={"width": 1400, "height": height})
    page = context.new_page()
    watch = PageWatch(page)
    context.route("**/*", _route(watch.blocked))
    page.goto(url)
    return context, page, watch


def save_screenshot(page: Page, name: str, *folders: Path) -> list[Path]:
    """A PNG of the whole app (the viewport grown to the page's height) in output/screenshots and `folders`."""
    height = page.evaluate(
        "() => Math.max(document.body.scrollHeight, (document.getElementById('App') || document.body).scrollHeight)"
    )
    page.set_viewport_size({"width": 1400, "height": max(900, min(int(height) + 40, 12000))})
    # charts of width "container" redraw on the resize: let the browser run two frames before the picture
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    paths = []
    for folder in (SCREENSHOTS, *folders):
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        page.screenshot(path=str(path))
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = require_program("chromium", "chromium")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=chromium,
            args=["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"],
        )
        try:
            yield instance
        finally:
            instance.close()


def make_backtest_snapshot(folder: Path, tag: str, end: str) -> Path:
    """A real backtest snapshot: the EMA cross run file with a short period."""
    text = (PROJECT_ROOT / "strategies" / "ema_cross.toml").read_text()
    text = text.replace('catalog = "data/catalog"', f'catalog = "{PROJECT_ROOT / "data" / "catalog"}"', 1)
    text = text.replace('path = "strategies/', f'path = "{PROJECT_ROOT / "strategies"}/', 1)
    text = text.replace("[backtest]\n", f'[backtest]\nend = "{end}"\n', 1)
    run_file = folder / f"ema_cross_{tag}.toml"
    run_file.write_text(text)
    output = folder / f"snapshot_{tag}"
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "toolkit"), "backtest", str(run_file), "--output", str(output)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and (output / "manifest.json").is_file(), proc.stdout[-2000:] + proc.stderr[-2000:]
    return output


# ---- tests -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("browser_snapshots")
    return [make_backtest_snapshot(folder, "a", "2024-01-03"), make_backtest_snapshot(folder, "b", "2024-01-04")]


BROKEN_APP = """import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo

    mo.md("a cell that works")
    return


@app.cell
def _():
    raise RuntimeError("a deliberately broken cell")
"""


def test_the_error_detector_sees_a_broken_app(browser: Browser, tmp_path: Path) -> None:
    app = tmp_path / "broken_app.py"
    app.write_text(BROKEN_APP)
    with MarimoServer(app, [], tmp_path) as server:
        context, page, watch = open_page(browser, server.url, height=900)
        try:
            watch.wait_for_run()
            page.get_by_text("a cell that works").wait_for(timeout=30_000)
            assert any("error" in e and '"internal"' in e for e in watch.errors), watch.errors
            dom = wait_until(watch.dom_errors, 30, "the error toast", watch.pump)
            assert any("An internal error occurred" in e for e in dom), dom
        finally:
            context.close()
    assert "a deliberately broken cell" in server.output()


def app_arguments(app: str, snapshots: list[Path]) -> list[str]:
    if app == "compare":
        return ["--a", str(snapshots[0]), "--b", str(snapshots[1])]
    return ["--snapshot", str(snapshots[-1])]


@pytest.mark.parametrize("app", ["tearsheet", "compare", "live_monitor"])
def test_app_renders_charts_and_no_error(app: str, browser: Browser, snapshots: list[Path], tmp_path: Path) -> None:
    path = APPS / f"{app}.py"
    assert path.is_file(), f"{path} is missing"
    with MarimoServer(path, app_arguments(app, snapshots), tmp_path) as server:
        context, page, watch = open_page(browser, server.url)
        try:
            watch.wait_for_run()
            charts = watch.wait_for_charts()
            page.wait_for_timeout(1000)  # late outputs (a refresh tick, a redraw) would show an error now
            shots = save_screenshot(page, f"{app}.png", tmp_path)
            errors = watch.all_errors()
            if app == "live_monitor":
                assert page.locator(".lm-status").get_attribute("data-status") == "completed"
                assert int(page.locator(".lm-fill-count").inner_text()) > 0
                assert any(c["label"] == "live monitor equity chart" for c in charts), charts
        finally:
            context.close()
    assert errors == [], f"{app}: {errors}\n{server.output()[-3000:]}"
    assert watch.blocked == [], f"{app} asked for outside resources: {watch.blocked}"
    assert watch.cell_outputs > 0 and charts
    assert all(p.stat().st_size > 10_000 for p in shots)


def test_report_html_shows_the_equity_chart(browser: Browser, snapshots: list[Path], tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "toolkit"), "report", str(snapshots[-1]), "--html", str(report)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, MARIMO_SKIP_UPDATE_CHECK="1"),
    )
    assert proc.returncode == 0 and report.is_file(), proc.stdout[-2000:] + proc.stderr[-2000:]
    context, page, watch = open_page(browser, report.as_uri())
    try:
        watch.wait_for_charts()
        equity = wait_until(
            lambda: [c for c in watch.drawn_charts() if "equity" in (c["label"] or "").lower()],
            60,
            "the equity chart (a drawn chart whose description names equity)",
            watch.pump,
        )
        assert equity[0]["width"] > 200 and equity[0]["height"] > 100, equity
        page.wait_for_timeout(500)
        errors = [e for e in watch.all_errors() if not e.startswith("connection")]  # a static page has no kernel
        shots = save_screenshot(page, "report.png", tmp_path)
    finally:
        context.close()
    assert errors == [], errors
    assert watch.blocked == [], f"the report asked for outside resources: {watch.blocked}"
    assert all(p.stat().st_size > 10_000 for p in shots)
