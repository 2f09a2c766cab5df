"""Static check: trading code reads time only from the kernel clock, never from the wall clock.

Scans the Python sources of `toolkit/model`, `toolkit/engine`, `toolkit/trading`,
`toolkit/backtest` and `strategies/` for direct wall-clock calls and fails naming each
`file:line`. Wall time belongs to `LiveClock` (in `toolkit/core`) and to the live side.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCANNED = ["toolkit/model", "toolkit/engine", "toolkit/trading", "toolkit/backtest", "strategies"]
FORBIDDEN = ["time.time(", "datetime.now(", "datetime.utcnow(", "time.monotonic(", "time.perf_counter("]
# `time.time(` does not match `time.time_ns(`; the look-behind keeps `mytime.time(` out, while
# `datetime.datetime.now(` is still found.
PATTERN = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(call) for call in FORBIDDEN) + ")")


def wall_clock_calls(root: Path, folder: str) -> list[str]:
    found = []
    for path in sorted((root / folder).rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = PATTERN.search(line)
            if match:
                found.append(f"{path.relative_to(root)}:{number}: {match.group(0)} in {line.strip()!r}")
    return found


def test_scanned_folders_exist() -> None:
    for folder in SCANNED:
        assert (PROJECT_ROOT / folder).is_dir(), folder
        assert any((PROJECT_ROOT / folder).rglob("*.py")), folder


def test_pattern_matches_each_forbidden_call_and_nothing_else() -> None:
    for call in FORBIDDEN:
        assert PATTERN.search(f"    now = {call})"), call
    assert PATTERN.search("stamp = datetime.datetime.now(datetime.UTC)")
    allowed = ["time.time_ns()", "self.clock.timestamp_ns()", "clock.utc_now()", "mytime.time()", "my_datetime.now()"]
    for fine in allowed:
        assert not PATTERN.search(fine), fine


def test_scanner_reports_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "bad.py").write_text("import time\n\nstarted = time.perf_counter()\n", encoding="utf-8")
    assert wall_clock_calls(tmp_path, "pkg") == ["pkg/bad.py:3: time.perf_counter( in 'started = time.perf_counter()'"]


@pytest.mark.parametrize("folder", SCANNED)
def test_no_wall_clock_in_trading_code(folder: str) -> None:
    found = wall_clock_calls(PROJECT_ROOT, folder)
    assert not found, "wall-clock calls in trading code (use self.clock / the kernel clock):\n" + "\n".join(found)
