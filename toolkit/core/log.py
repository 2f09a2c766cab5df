"""Component logging stamped with the clock's time, written through the stdlib `logging` logger "toolkit".

A `Logger` belongs to one component: each line starts with the time of the component's clock (simulated
time in a backtest, wall time live; ISO-8601 UTC with nanoseconds), then the component name in brackets.
Messages take `msg, *args` like stdlib logging and are formatted only when the level is enabled, so a
disabled `debug` call costs one `isEnabledFor` check. Handlers, levels and output are configured with the
standard `logging` machinery; each record also carries `ts_ns` and `component` attributes for handlers that
want them structured.
"""

from __future__ import annotations

import logging
from typing import Any

from toolkit.core.clock import Clock, unix_nanos_to_iso8601

TOOLKIT_LOGGER_NAME = "toolkit"


class Logger:
    """Logs for one named component, prefixed with `clock` time; see the module docstring."""

    __slots__ = ("_clock", "_logger", "name")

    def __init__(self, name: str, clock: Clock, logger: logging.Logger | None = None) -> None:
        self.name = str(name)
        self._clock = clock
        self._logger = logger if logger is not None else logging.getLogger(TOOLKIT_LOGGER_NAME)

    def __repr__(self) -> str:
        return f"Logger({self.name!r})"

    def is_enabled_for(self, level: int) -> bool:
        return self._logger.isEnabledFor(level)

    def debug(self, msg: str, *args: Any) -> None:
        if self._logger.isEnabledFor(logging.DEBUG):
            self._emit(logging.DEBUG, msg, args, False)

    def info(self, msg: str, *args: Any) -> None:
        if self._logger.isEnabledFor(logging.INFO):
            self._emit(logging.INFO, msg, args, False)

    def warning(self, msg: str, *args: Any) -> None:
        if self._logger.isEnabledFor(logging.WARNING):
            self._emit(logging.WARNING, msg, args, False)

    def error(self, msg: str, *args: Any) -> None:
        if self._logger.isEnabledFor(logging.ERROR):
            self._emit(logging.ERROR, msg, args, False)

    def exception(self, msg: str, *args: Any) -> None:
        """Log at ERROR with the traceback of the exception being handled."""
        if self._logger.isEnabledFor(logging.ERROR):
            self._emit(logging.ERROR, msg, args, True)

    def _emit(self, level: int, msg: str, args: tuple[Any, ...], exc_info: bool) -> None:
        ts_ns = self._clock.timestamp_ns()
        text = msg % args if args else msg
        self._logger.log(
            level,
            "%s [%s] %s",
            unix_nanos_to_iso8601(ts_ns),
            self.name,
            text,
            exc_info=exc_info,
            stacklevel=3,
            extra={"ts_ns": ts_ns, "component": self.name},
        )
