"""Loading a user's strategy class and its config from a `[strategy]` TOML table.

`path` names the class as `file.py:ClassName` (relative to the working directory, else to the
config file's folder) or `package.module:ClassName`. The config class is `config_class` in the
same module when given, else the type of the class's `config` argument, else `{ClassName}Config`.
The `[strategy.config]` table is converted into that frozen struct; every error names the config
file, the field and the reason.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import typing
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec

from toolkit.core.config import ConfigError, ToolkitConfig, config_from_dict
from toolkit.trading.config import StrategyConfig
from toolkit.trading.strategy import Strategy


class StrategyTable(ToolkitConfig):
    """The `[strategy]` table: where the class is and its config values."""

    path: str
    config: dict[str, Any] = msgspec.field(default_factory=dict)
    config_class: str | None = None


def _candidates(file_part: str, base_dir: Path | None) -> list[Path]:
    raw = Path(file_part)
    if raw.is_absolute():
        return [raw]
    paths = [Path.cwd() / raw]
    if base_dir is not None:
        paths += [base_dir / raw, base_dir.parent / raw]
    return paths


def load_module(spec: str, source: str, field: str, base_dir: Path | None = None) -> ModuleType:
    """Import the module part of `file.py:Class` or `package.module:Class`."""
    module_part = spec.partition(":")[0]
    if module_part.endswith(".py"):
        tried = _candidates(module_part, base_dir)
        path = next((p for p in tried if p.is_file()), None)
        if path is None:
            shown = ", ".join(str(p) for p in tried)
            raise ConfigError(source, field, f"strategy file {module_part!r} not found (looked at: {shown})")
        name = f"toolkit_user.{path.stem}_{abs(hash(str(path.resolve()))):x}"
        if name in sys.modules:
            return sys.modules[name]
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise ConfigError(source, field, f"cannot import {path}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            raise ConfigError(source, field, f"importing {path} failed: {exc!r}") from exc
        return module
    try:
        return importlib.import_module(module_part)
    except ImportError as exc:
        raise ConfigError(source, field, f"cannot import module {module_part!r}: {exc}") from exc


def _config_type(cls: type, module: ModuleType, explicit: str | None, source: str) -> type[StrategyConfig]:
    if explicit is not None:
        found = getattr(module, explicit, None)
        if found is None:
            raise ConfigError(source, "strategy.config_class", f"{explicit!r} is not defined in {module.__name__}")
        return found  # type: ignore[no-any-return]
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:
        hints = {}
    hinted = hints.get("config")
    if isinstance(hinted, type) and issubclass(hinted, StrategyConfig):
        return hinted
    if typing.get_origin(hinted) is not None:
        for arg in typing.get_args(hinted):
            if isinstance(arg, type) and issubclass(arg, StrategyConfig):
                return arg
    found = getattr(module, f"{cls.__name__}Config", None)
    if isinstance(found, type) and issubclass(found, StrategyConfig):
        return found
    raise ConfigError(
        source,
        "strategy.path",
        f"cannot tell the config class of {cls.__name__}: annotate its `config` argument or set config_class",
    )


def load_strategy(table: StrategyTable, source: str, base_dir: Path | None = None) -> Strategy:
    """Import the class named by `table.path`, build its config from `table.config`, instantiate it."""
    if ":" not in table.path:
        raise ConfigError(source, "strategy.path", f"{table.path!r} must be 'file.py:ClassName' or 'module:ClassName'")
    module = load_module(table.path, source, "strategy.path", base_dir)
    class_name = table.path.partition(":")[2]
    cls = getattr(module, class_name, None)
    if cls is None:
        names = [
            n for n, v in vars(module).items() if inspect.isclass(v) and issubclass(v, Strategy) and v is not Strategy
        ]
        raise ConfigError(
            source, "strategy.path", f"{class_name!r} is not defined in {table.path.partition(':')[0]} (found: {names})"
        )
    if not (inspect.isclass(cls) and issubclass(cls, Strategy)):
        raise ConfigError(source, "strategy.path", f"{class_name} is not a Strategy subclass")
    config_type = _config_type(cls, module, table.config_class, source)
    config = config_from_dict(table.config, config_type, source=source, path_prefix="strategy.config")
    try:
        return cls(config)  # type: ignore[no-any-return]
    except (ValueError, TypeError) as exc:
        raise ConfigError(source, "strategy.config", f"{class_name} refused its config: {exc}") from exc
