"""Unit tests of `toolkit.core.component`: every legal lifecycle path, every illegal action, hooks and logging."""

from __future__ import annotations

import logging

import pytest

from toolkit.core.clock import TestClock
from toolkit.core.component import Component, ComponentAction, InvalidComponentTransition
from toolkit.core.log import Logger
from toolkit.core.msgbus import MessageBus
from toolkit.model.enums import ComponentState
from toolkit.model.identifiers import ComponentId

S = ComponentState


class RecordingComponent(Component):
    """Records each hook call together with the state it ran in."""

    def __init__(self, component_id: str | None = None, fail_on: str | None = None) -> None:
        super().__init__(component_id)
        self.calls: list[tuple[str, ComponentState]] = []
        self.fail_on = fail_on

    def _record(self, hook: str) -> None:
        self.calls.append((hook, self.state))
        if hook == self.fail_on:
            raise RuntimeError(f"{hook} failed")

    def _on_start(self) -> None:
        self._record("start")

    def _on_stop(self) -> None:
        self._record("stop")

    def _on_resume(self) -> None:
        self._record("resume")

    def _on_reset(self) -> None:
        self._record("reset")

    def _on_dispose(self) -> None:
        self._record("dispose")

    def _on_degrade(self) -> None:
        self._record("degrade")

    def _on_fault(self) -> None:
        self._record("fault")


def registered(component_id: str = "Comp-1", fail_on: str | None = None) -> RecordingComponent:
    component = RecordingComponent(component_id, fail_on=fail_on)
    component.register(TestClock(), MessageBus("TRADER-001"))
    return component


def put_in_state(state: ComponentState) -> RecordingComponent:
    """A component driven through legal actions into `state` (transitional states via a hook that raises)."""
    if state is S.PRE_INITIALIZED:
        return RecordingComponent("Comp-1")
    component = registered()
    paths: dict[ComponentState, list[str]] = {
        S.READY: [],
        S.RUNNING: ["start"],
        S.STOPPED: ["start", "stop"],
        S.DEGRADED: ["start", "degrade"],
        S.FAULTED: ["fault"],
        S.DISPOSED: ["dispose"],
    }
    for action in paths[state]:
        getattr(component, action)()
    assert component.state is state
    return component


ACTIONS = ["start", "stop", "resume", "reset", "dispose", "degrade", "fault"]
STABLE_STATES = [S.PRE_INITIALIZED, S.READY, S.RUNNING, S.STOPPED, S.DEGRADED, S.FAULTED, S.DISPOSED]
LEGAL: dict[str, set[ComponentState]] = {
    "start": {S.READY},
    "stop": {S.RUNNING, S.DEGRADED},
    "resume": {S.STOPPED, S.DEGRADED},
    "reset": {S.READY, S.STOPPED},
    "dispose": {S.PRE_INITIALIZED, S.READY, S.STOPPED, S.DEGRADED, S.FAULTED},
    "degrade": {S.RUNNING},
    "fault": {S.PRE_INITIALIZED, S.READY, S.RUNNING, S.STOPPED, S.DEGRADED},
}
RESULT = {
    "start": S.RUNNING,
    "stop": S.STOPPED,
    "resume": S.RUNNING,
    "reset": S.READY,
    "dispose": S.DISPOSED,
    "degrade": S.DEGRADED,
    "fault": S.FAULTED,
}


def test_new_component_is_pre_initialized_with_class_name_id() -> None:
    component = RecordingComponent()
    assert component.state is S.PRE_INITIALIZED
    assert component.id == ComponentId("RecordingComponent")
    assert isinstance(component.id, ComponentId)
    assert not component.is_initialized
    with pytest.raises(RuntimeError, match="not registered"):
        _ = component.clock
    with pytest.raises(RuntimeError, match="not registered"):
        _ = component.log


def test_register_makes_it_ready_and_gives_clock_bus_and_log() -> None:
    clock, bus = TestClock(), MessageBus("TRADER-001")
    component = RecordingComponent("DataEngine")
    component.register(clock, bus)
    assert component.state is S.READY
    assert component.is_initialized
    assert component.clock is clock
    assert component.msgbus is bus
    assert isinstance(component.log, Logger)
    assert component.log.name == "DataEngine"


def test_constructor_with_clock_and_bus_registers() -> None:
    component = Component("Engine", TestClock(), MessageBus("TRADER-001"))
    assert component.state is S.READY
    with pytest.raises(ValueError, match="both clock and msgbus"):
        Component("Engine", TestClock())


def test_full_lifecycle_runs_hooks_in_transitional_states() -> None:
    component = registered()
    component.start()
    assert component.is_running
    component.degrade()
    assert component.state is S.DEGRADED
    component.resume()
    assert component.is_running
    component.stop()
    assert component.is_stopped
    component.resume()
    component.stop()
    component.reset()
    assert component.state is S.READY
    component.start()
    component.stop()
    component.dispose()
    assert component.is_disposed
    assert component.calls == [
        ("start", S.STARTING),
        ("degrade", S.DEGRADING),
        ("resume", S.STARTING),
        ("stop", S.STOPPING),
        ("resume", S.STARTING),
        ("stop", S.STOPPING),
        ("reset", S.RESETTING),
        ("start", S.STARTING),
        ("stop", S.STOPPING),
        ("dispose", S.DISPOSING),
    ]


@pytest.mark.parametrize("state", STABLE_STATES, ids=lambda s: s.value)
@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_from_every_stable_state(action: str, state: ComponentState) -> None:
    component = put_in_state(state)
    calls_before = len(component.calls)
    if state in LEGAL[action]:
        getattr(component, action)()
        assert component.state is RESULT[action]
        assert component.calls[-1][0] == action
    else:
        with pytest.raises(InvalidComponentTransition) as info:
            getattr(component, action)()
        message = str(info.value)
        assert "Comp-1" in message
        assert state.value in message
        assert f"cannot {action}" in message
        assert info.value.state is state
        assert info.value.action is ComponentAction(action)
        assert component.state is state  # unchanged
        assert len(component.calls) == calls_before  # hook not run


@pytest.mark.parametrize("state", [s for s in STABLE_STATES if s is not S.PRE_INITIALIZED], ids=lambda s: s.value)
def test_register_twice_is_illegal(state: ComponentState) -> None:
    component = put_in_state(state)
    with pytest.raises(InvalidComponentTransition, match=rf"Comp-1: cannot register while {state.value}"):
        component.register(TestClock(), MessageBus("TRADER-001"))


@pytest.mark.parametrize("failing", ["start", "stop", "resume", "reset", "dispose", "degrade", "fault"])
def test_hook_failure_faults_the_component_and_propagates(failing: str) -> None:
    component = registered(fail_on=failing)
    setup: dict[str, list[str]] = {
        "start": [],
        "stop": ["start"],
        "resume": ["start", "stop"],
        "reset": [],
        "dispose": [],
        "degrade": ["start"],
        "fault": [],
    }
    for action in setup[failing]:
        getattr(component, action)()
    with pytest.raises(RuntimeError, match=f"{failing} failed"):
        getattr(component, failing)()
    assert component.state is S.FAULTED
    assert [hook for hook, _ in component.calls].count("fault") == (1 if failing == "fault" else 0)


def test_fault_is_legal_from_transitional_states() -> None:
    seen: list[ComponentState] = []

    class FaultsWhileStarting(Component):
        def _on_start(self) -> None:
            self.fault()

        def _on_fault(self) -> None:
            seen.append(self.state)

    component = FaultsWhileStarting("X")
    component.register(TestClock(), MessageBus("TRADER-001"))
    component.start()
    assert seen == [S.FAULTING]
    assert component.state is S.FAULTED  # the fault inside _on_start wins over RUNNING


def test_state_changes_are_logged_with_clock_time(caplog: pytest.LogCaptureFixture) -> None:
    clock = TestClock(start_ns=1_000_000_000)
    component = RecordingComponent("Logged-1")
    component.register(clock, MessageBus("TRADER-001"))
    with caplog.at_level(logging.INFO, logger="toolkit"):
        component.start()
    messages = [r.getMessage() for r in caplog.records]
    assert "1970-01-01T00:00:01.000000000Z [Logged-1] RUNNING" in messages
    assert not any("STARTING" in m for m in messages)  # transitional states are DEBUG


def test_plain_component_hooks_are_no_ops() -> None:
    component = Component("Plain", TestClock(), MessageBus("TRADER-001"))
    for name in ["start", "degrade", "stop", "reset", "dispose"]:
        getattr(component, name)()
    assert component.is_disposed


class CountsStr:
    """Argument that counts how often it is formatted."""

    def __init__(self) -> None:
        self.formatted = 0

    def __str__(self) -> str:
        self.formatted += 1
        return "counted"


def test_logger_formats_lazily_with_clock_time_and_name(caplog: pytest.LogCaptureFixture) -> None:
    clock = TestClock(start_ns=1_700_000_000_000_000_007)
    log = Logger("Strategy-1", clock)
    argument = CountsStr()
    with caplog.at_level(logging.INFO, logger="toolkit"):
        log.debug("skipped %s", argument)
        assert argument.formatted == 0
        assert caplog.records == []
        log.info("fill %s at %d%%", argument, 5)
        log.warning("literal 100%")  # no args: '%' is not a format directive
    assert argument.formatted == 1
    assert [r.getMessage() for r in caplog.records] == [
        "2023-11-14T22:13:20.000000007Z [Strategy-1] fill counted at 5%",
        "2023-11-14T22:13:20.000000007Z [Strategy-1] literal 100%",
    ]
    record = caplog.records[0]
    assert record.name == "toolkit"
    assert record.levelno == logging.INFO
    assert record.ts_ns == 1_700_000_000_000_000_007  # type: ignore[attr-defined]
    assert record.component == "Strategy-1"  # type: ignore[attr-defined]
    assert record.filename == "test_component.py"  # the caller, not log.py


def test_logger_error_and_exception(caplog: pytest.LogCaptureFixture) -> None:
    log = Logger("Engine", TestClock())
    with caplog.at_level(logging.ERROR, logger="toolkit"):
        log.warning("not shown")
        log.error("bad %s", "thing")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("caught")
    assert [r.levelno for r in caplog.records] == [logging.ERROR, logging.ERROR]
    assert caplog.records[0].getMessage().endswith("[Engine] bad thing")
    assert caplog.records[1].exc_info is not None
    assert "ValueError: boom" in caplog.text
