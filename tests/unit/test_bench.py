"""`toolkit bench` at tiny sizes: every workload writes every figure, and its floor matches the engine run.

Each W workload runs through `main(...)` with 2,000 events (the engine run happens in a child process, as in a
real bench) and the JSON is checked for each figure with a sane type, for the floor having handled as many
events as the engine, and for the floor having made the same decisions (the same orders, and the same sends
in the same order). A last test shows the decision check is not vacuous: the market maker's floor without the
venue's recorded answers decides differently. Speed is never asserted here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from toolkit import bench
from toolkit.bench_floor import Recorder, Recording, run_floor, signature

EVENTS = 2_000

ENGINE_FIGURES: dict[str, type | tuple[type, ...]] = {
    "events": int,
    "wall_s": float,
    "events_per_s": int,
    "time_to_first_event_s": float,
    "process_start_to_first_event_s": float,
    "orders": int,
    "fills": int,
    "orders_per_s": (int, float),
    "peak_rss_mb": float,
    "final_balance": str,
}
FLOOR_FIGURES: dict[str, type | tuple[type, ...]] = {
    "modifies": int,
    "cancels": int,
    "floor_events": int,
    "floor_wall_s": float,
    "floor_events_per_s": int,
    "floor_time_to_first_event_s": float,
    "floor_orders": int,
    "floor_same_decisions": bool,
    "engine_floor_ratio": (int, float),
    "repeat": int,
}


def _run(tmp_path: Path, workload: str) -> dict[str, Any]:
    path = tmp_path / "bench.json"
    assert bench.main(events=EVENTS, seed=7, json_path=str(path), workload=workload) == 0
    record = json.loads(path.read_text())
    assert isinstance(record["date"], str) and record["date"].startswith("20")
    assert isinstance(record["python"], str) and record["python"].count(".") == 2
    assert record["git_commit"] is None or len(record["git_commit"]) == 40
    assert {"python", "implementation", "platform", "processor", "cpus"} <= set(record["machine"])
    assert len(record["results"]) == 1
    return record["results"][0]  # type: ignore[no-any-return]


def _check_types(figures: dict[str, Any], expected: dict[str, type | tuple[type, ...]], prefix: str = "") -> None:
    for key, kind in expected.items():
        value = figures.get(prefix + key)
        assert isinstance(value, kind), f"{prefix + key} = {value!r}, expected {kind}"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert value >= 0, f"{prefix + key} = {value!r}"


@pytest.mark.parametrize("workload", ["w1", "w2", "w3", "w4"])
def test_standard_workload_writes_every_figure_and_its_floor_matches_the_engine(tmp_path: Path, workload: str) -> None:
    figures = _run(tmp_path, workload)
    assert figures["workload"].startswith(workload.upper())
    _check_types(figures, ENGINE_FIGURES)
    _check_types(figures, FLOOR_FIGURES)
    assert isinstance(figures["generate_s"], float)
    assert figures["events"] == EVENTS  # W4: events are deltas
    assert figures["wall_s"] > 0 and figures["floor_wall_s"] > 0 and figures["peak_rss_mb"] > 0
    assert figures["orders"] > 0
    # The floor ran over the same objects and made the same decisions, send by send.
    assert figures["floor_events"] == figures["events"]
    assert figures["floor_orders"] == figures["orders"]
    assert figures["floor_same_decisions"] is True
    if workload == "w2":
        assert isinstance(figures["no_orders_wall_s"], float) and figures["no_orders_wall_s"] > 0
        assert isinstance(figures["round_trip_us"], float)  # a difference of two timings: its sign is not checked
        # The run that sends nothing made the same decisions, except the close on stop (it holds no position).
        assert figures["no_orders_decisions"] == figures["orders"] - 1
        assert figures["repeat"] == 3
    if workload == "w3":
        assert figures["bars_per_s"] == figures["events_per_s"]
    if workload == "w4":
        assert figures["modifies"] > 0  # the market maker re-quotes: its decisions depend on the venue's answers


def test_stream_workload_reports_catalog_engine_and_floor_figures(tmp_path: Path) -> None:
    figures = _run(tmp_path, "w5")
    assert figures["workload"] == "W5 stream"
    _check_types(figures, ENGINE_FIGURES, prefix="backtest_")
    _check_types(figures, FLOOR_FIGURES)
    for key in ("generate_s", "one_day_query_first_ms", "decode_objects_per_s", "catalog_parts"):
        assert isinstance(figures[key], (int, float)), key
    assert figures["backtest_events"] == EVENTS == figures["floor_events"]
    assert figures["floor_orders"] == figures["backtest_orders"] > 0
    assert figures["floor_same_decisions"] is True


def test_workload_names_and_aliases() -> None:
    assert bench.ALIASES == {"ticks": "w1", "catalog": "w5"}
    with pytest.raises(ValueError, match="unknown workload"):
        bench.main(events=EVENTS, workload="w9")


def test_without_the_recorded_venue_answers_the_market_maker_floor_decides_differently(tmp_path: Path) -> None:
    workload = bench.WORKLOADS["w4"]
    catalog, _ = bench.generate(workload, tmp_path, EVENTS, seed=7)
    instrument = catalog.instruments()[0]
    recorder = Recorder()
    engine_run = bench.run_engine(workload, catalog, instrument, bench.make_strategy(workload), recorder)
    recording = recorder.recording
    assert recording.data_calls == engine_run.engine.events_processed == EVENTS
    assert recording.nested and recording.feedback and not recording.stray

    def floor(with_recording: Recording) -> list[tuple[str, str, str, str, str]]:
        result = run_floor(
            bench.make_strategy(workload),
            lambda: catalog.stream_objects([workload.request()]),
            workload.topic(),
            instrument,
            with_recording,
            keep_book=True,
        )
        assert result.events == EVENTS
        return [signature(msg) for msg in result.sent]

    assert floor(recording) == recording.sent
    # No answers: both quotes stay in flight (never accepted), so the strategy never re-quotes.
    silent = floor(Recording(trader_id=recording.trader_id))
    assert [kind for kind, *_ in silent] == ["SubmitOrder", "SubmitOrder"]
    assert silent != recording.sent


def test_write_runs_gives_run_files_that_backtest_the_bench_data_the_same_way_twice(tmp_path: Path) -> None:
    """`toolkit bench --write-runs DIR`: W1-W4 data and run files; each run file backtests (the bench's strategy
    and venue) and two runs of one file are identical under `toolkit parity` (how before/after are compared)."""
    from toolkit.backtest.runner import BacktestRun
    from toolkit.persistence.parity import compare_snapshots

    runs = bench.write_runs(tmp_path / "runs", events=3_000, seed=7)
    assert [p.parent.name for p in runs] == ["w1", "w2", "w3", "w4"]
    for path in runs:
        snapshots = []
        for name in ("a", "b"):
            _, _, snapshot = BacktestRun.from_file(path).run(tmp_path / path.parent.name / name)
            snapshots.append(snapshot)
        report = compare_snapshots(*snapshots)
        assert report.identical, (path, report.differences[:3])
        assert report.orders_a > 0, path  # the strategy traded on this data
