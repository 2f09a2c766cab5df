"""Component lifecycle: the `Component` base class and the state machine every engine, actor and strategy follows.

States are `ComponentState`. A component is PRE_INITIALIZED until it gets its clock and message bus
(`register`, or both passed to the constructor), then READY. The actions and their transitions:

    start()    READY -> STARTING -> RUNNING
    stop()     RUNNING | DEGRADED -> STOPPING -> STOPPED
    resume()   STOPPED | DEGRADED -> STARTING -> RUNNING
    reset()    READY | STOPPED -> RESETTING -> READY
    dispose()  PRE_INITIALIZED | READY | STOPPED | DEGRADED | FAULTED -> DISPOSING -> DISPOSED
    degrade()  RUNNING -> DEGRADING -> DEGRADED
    fault()    any state but FAULTED and DISPOSED -> FAULTING -> FAULTED

Subclasses put their work in the `_on_*` hooks, which run while the component is in the transitional
state; a hook that itself changes the state (say `_on_start` calling `fault()`) wins over the action's
usual end state. Any other action raises `InvalidComponentTransition` naming the component, its state and the
action. If a hook raises, the component goes straight to FAULTED (without running `_on_fault`) and the
exception propagates to the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from toolkit.core.clock import Clock
from toolkit.core.log import Logger
from toolkit.core.msgbus import MessageBus
from toolkit.model.enums import ComponentState
from toolkit.model.identifiers import ComponentId


class ComponentAction(StrEnum):
    """What can be asked of a component; the names used in lifecycle errors."""

    REGISTER = "register"
    START = "start"
    STOP = "stop"
    RESUME = "resume"
    RESET = "reset"
    DISPOSE = "dispose"
    DEGRADE = "degrade"
    FAULT = "fault"


class InvalidComponentTransition(RuntimeError):
    """A lifecycle action was asked of a component in a state that does not allow it."""

    def __init__(self, component_id: str, state: ComponentState, action: ComponentAction) -> None:
        allowed = ", ".join(s.value for s in _ALLOWED_FROM[action])
        super().__init__(
            f"component {component_id}: cannot {action.value} while {state.value} ({action.value} is allowed from: "
            f"{allowed})"
        )
        self.component_id = component_id
        self.state = state
        self.action = action


_S = ComponentState
_ALLOWED_FROM: dict[ComponentAction, frozenset[ComponentState]] = {
    ComponentAction.REGISTER: frozenset({_S.PRE_INITIALIZED}),
    ComponentAction.START: frozenset({_S.READY}),
    ComponentAction.STOP: frozenset({_S.RUNNING, _S.DEGRADED}),
    ComponentAction.RESUME: frozenset({_S.STOPPED, _S.DEGRADED}),
    ComponentAction.RESET: frozenset({_S.READY, _S.STOPPED}),
    ComponentAction.DISPOSE: frozenset({_S.PRE_INITIALIZED, _S.READY, _S.STOPPED, _S.DEGRADED, _S.FAULTED}),
    ComponentAction.DEGRADE: frozenset({_S.RUNNING}),
    ComponentAction.FAULT: frozenset(set(_S) - {_S.FAULTED, _S.DISPOSED}),
}
"""States from which each action is legal."""

_TRANSITIONAL: dict[ComponentAction, tuple[ComponentState, ComponentState]] = {
    ComponentAction.START: (_S.STARTING, _S.RUNNING),
    ComponentAction.STOP: (_S.STOPPING, _S.STOPPED),
    ComponentAction.RESUME: (_S.STARTING, _S.RUNNING),
    ComponentAction.RESET: (_S.RESETTING, _S.READY),
    ComponentAction.DISPOSE: (_S.DISPOSING, _S.DISPOSED),
    ComponentAction.DEGRADE: (_S.DEGRADING, _S.DEGRADED),
    ComponentAction.FAULT: (_S.FAULTING, _S.FAULTED),
}
"""State while the hook of each action runs, and the state after it."""

_STABLE_STATES = frozenset(after for _, after in _TRANSITIONAL.values())


class Component:
    """Base of every lifecycle-managed part of a node: an id, a state, and once registered a clock, bus and log."""

    def __init__(
        self,
        component_id: ComponentId | str | None = None,
        clock: Clock | None = None,
        msgbus: MessageBus | None = None,
    ) -> None:
        self._id = ComponentId(component_id if component_id is not None else type(self).__name__)
        self._state = ComponentState.PRE_INITIALIZED
        self._clock: Clock | None = None
        self._msgbus: MessageBus | None = None
        self._log: Logger | None = None
        if clock is not None and msgbus is not None:
            self.register(clock, msgbus)
        elif clock is not None or msgbus is not None:
            raise ValueError(f"component {self._id}: pass both clock and msgbus, or neither (and call register later)")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self._id!r}, state={self._state.value})"

    # -- properties ------------------------------------------------------------------------------------------

    @property
    def id(self) -> ComponentId:
        return self._id

    @property
    def state(self) -> ComponentState:
        return self._state

    @property
    def is_initialized(self) -> bool:
        return self._state is not ComponentState.PRE_INITIALIZED

    @property
    def is_running(self) -> bool:
        return self._state is ComponentState.RUNNING

    @property
    def is_stopped(self) -> bool:
        return self._state is ComponentState.STOPPED

    @property
    def is_degraded(self) -> bool:
        return self._state is ComponentState.DEGRADED

    @property
    def is_faulted(self) -> bool:
        return self._state is ComponentState.FAULTED

    @property
    def is_disposed(self) -> bool:
        return self._state is ComponentState.DISPOSED

    @property
    def clock(self) -> Clock:
        if self._clock is None:
            raise RuntimeError(f"component {self._id} is not registered: it has no clock yet")
        return self._clock

    @property
    def msgbus(self) -> MessageBus:
        if self._msgbus is None:
            raise RuntimeError(f"component {self._id} is not registered: it has no message bus yet")
        return self._msgbus

    @property
    def log(self) -> Logger:
        if self._log is None:
            raise RuntimeError(f"component {self._id} is not registered: it has no logger yet")
        return self._log

    # -- lifecycle actions -----------------------------------------------------------------------------------

    def register(self, clock: Clock, msgbus: MessageBus) -> None:
        """Give the component its clock and message bus: PRE_INITIALIZED -> READY."""
        self._check(ComponentAction.REGISTER)
        self._clock = clock
        self._msgbus = msgbus
        self._log = Logger(self._id, clock)
        self._set_state(ComponentState.READY)

    def start(self) -> None:
        self._run(ComponentAction.START, self._on_start)

    def stop(self) -> None:
        self._run(ComponentAction.STOP, self._on_stop)

    def resume(self) -> None:
        self._run(ComponentAction.RESUME, self._on_resume)

    def reset(self) -> None:
        self._run(ComponentAction.RESET, self._on_reset)

    def dispose(self) -> None:
        self._run(ComponentAction.DISPOSE, self._on_dispose)

    def degrade(self) -> None:
        self._run(ComponentAction.DEGRADE, self._on_degrade)

    def fault(self) -> None:
        self._run(ComponentAction.FAULT, self._on_fault)

    # -- hooks for subclasses --------------------------------------------------------------------------------

    def _on_start(self) -> None:
        """Runs while STARTING (from READY)."""

    def _on_stop(self) -> None:
        """Runs while STOPPING."""

    def _on_resume(self) -> None:
        """Runs while STARTING (from STOPPED or DEGRADED)."""

    def _on_reset(self) -> None:
        """Runs while RESETTING: return the component to its just-registered condition."""

    def _on_dispose(self) -> None:
        """Runs while DISPOSING: release resources for good."""

    def _on_degrade(self) -> None:
        """Runs while DEGRADING."""

    def _on_fault(self) -> None:
        """Runs while FAULTING: stop work and release what is safe to release."""

    # -- internals -------------------------------------------------------------------------------------------

    def _check(self, action: ComponentAction) -> None:
        if self._state not in _ALLOWED_FROM[action]:
            raise InvalidComponentTransition(self._id, self._state, action)

    def _run(self, action: ComponentAction, hook: Callable[[], None]) -> None:
        self._check(action)
        during, after = _TRANSITIONAL[action]
        self._set_state(during)
        try:
            hook()
        except Exception:
            self._set_state(ComponentState.FAULTED)
            raise
        if self._state is during:  # the hook may have moved on itself, e.g. by calling fault()
            self._set_state(after)

    def _set_state(self, state: ComponentState) -> None:
        self._state = state
        if self._log is not None:
            if state in _STABLE_STATES:
                self._log.info("%s", state.value)
            else:
                self._log.debug("%s", state.value)
