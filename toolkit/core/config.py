"""Config loading: TOML or JSON files (or plain dicts) into frozen msgspec structs, with errors naming the field.

Every config type derives from `ToolkitConfig` (frozen, keyword-only, unknown fields forbidden, all
inherited). Values are converted with `msgspec.convert(strict=False)`, so TOML text like "5" still fills an
int, plus our own types built from text: `Decimal`, `Price` and `Quantity` (from "1.2345" or a number),
`Currency` (from "USD"), `Money` ("1000000 USD"), `BarType` and any value struct with `from_str`, any
`Identifier` subclass (e.g. `InstrumentId` from "GBP/USD.SIM", validated), `pathlib.Path`, and enums by
value or by name (case-insensitive). Every failure is a `ConfigError` carrying the `file`, the dotted
`field` (prefixed with the table the config was read from, e.g. `strategy.config.fast_period`) and the
`reason`, with a message like `strategies/ema_cross.toml: field 'backtest.venue.oms_type': Invalid enum
value 'NETT' (expected one of: NETTING, HEDGING)`. A config's `__post_init__` reports a bad value by raising a
ValueError whose text is "<ConfigName> field `<name>`: <reason>"; it becomes a `ConfigError` for that field.
"""

from __future__ import annotations

import re
import tomllib
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from msgspec import inspect as msgspec_inspect

from toolkit.model.identifiers import Identifier
from toolkit.model.objects import Price, Quantity

C = TypeVar("C")

_MSGSPEC_PATH = re.compile(r"^(?P<reason>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_FIELD_IN_REASON = re.compile(r"^Object (?:contains unknown|missing required) field `(?P<name>[^`]*)`")
# A config's own `__post_init__` check: ValueError("SomeConfig field `name`: reason").
_POST_INIT_FIELD = re.compile(r"^\w+ field `(?P<name>\w+)`: (?P<reason>.*)$", re.DOTALL)
_TOML_LINE = re.compile(r"at line (?P<line>\d+)")
_SEQUENCE_TYPES = (
    msgspec_inspect.ListType,
    msgspec_inspect.SetType,
    msgspec_inspect.FrozenSetType,
    msgspec_inspect.VarTupleType,
)


class _KeywordOnlyStructMeta(type(msgspec.Struct)):  # type: ignore[misc]
    """Struct metaclass making `kw_only=True` the default of every subclass, not only of the class that says it.

    msgspec applies `kw_only` to the fields a class defines itself; configs inherit it so that fields without
    defaults may follow inherited fields with defaults, and so that no config is ever built positionally.
    """

    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **options: Any) -> Any:
        options.setdefault("kw_only", True)
        return super().__new__(mcls, name, bases, namespace, **options)


class ToolkitConfig(
    msgspec.Struct, metaclass=_KeywordOnlyStructMeta, frozen=True, kw_only=True, forbid_unknown_fields=True
):
    """Base of every config: an immutable value, keyword-only; unknown fields in a file are errors, not ignored.

    Subclasses inherit `frozen`, `forbid_unknown_fields` and (through the metaclass) `kw_only`.
    """


class ConfigError(ValueError):
    """A config could not be loaded: `file`, dotted `field` (None for file-level errors), `reason`, `line`."""

    def __init__(self, file: str, field: str | None, reason: str, line: int | None = None) -> None:
        self.file = file
        self.field = field
        self.reason = reason
        self.line = line
        where = f"{file}: field '{field}'" if field else file
        super().__init__(f"{where}: {reason}")


def load_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file; a missing file or syntax error is a `ConfigError` naming the file (and the line)."""
    text = _read_text(path)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_LINE.search(str(exc))
        line = int(match["line"]) if match else None
        raise ConfigError(str(path), None, f"TOML syntax error: {exc}", line=line) from None


def load_json(path: str | Path) -> dict[str, Any]:
    """Parse a JSON file holding an object; errors are `ConfigError`s naming the file."""
    text = _read_text(path)
    try:
        data = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise ConfigError(str(path), None, f"JSON syntax error: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), None, f"expected a JSON object at the top level, got {type(data).__name__}")
    return data


def load_config(path: str | Path, config_type: type[C], table: str | None = None) -> C:
    """Load `config_type` from a `.toml` or `.json` file, or from one (dotted) `table` of it, e.g. "strategy"."""
    suffix = Path(path).suffix.lower()
    if suffix == ".toml":
        data = load_toml(path)
    elif suffix == ".json":
        data = load_json(path)
    else:
        raise ConfigError(str(path), None, f"unsupported config file type {suffix or '(none)'!r}: use .toml or .json")
    if table:
        data = _select_table(data, table, str(path))
    return config_from_dict(data, config_type, source=str(path), path_prefix=table or "")


def config_from_dict(data: Any, config_type: type[C], source: str = "<dict>", path_prefix: str = "") -> C:
    """Convert plain data (as parsed from TOML/JSON) to `config_type`; errors name `source` and the field."""
    info = _type_info(config_type)
    prepared = _prepare(data, info, [], source, path_prefix)
    try:
        return msgspec.convert(prepared, config_type, strict=False, dec_hook=_decode_custom)
    except msgspec.ValidationError as exc:
        raise _config_error_from_validation(exc, info, source, path_prefix) from None


# -- reading files -------------------------------------------------------------------------------------------------


def _read_text(path: str | Path) -> str:
    file_path = Path(path)
    try:
        return file_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), None, f"config file not found (looked at {file_path.resolve()})") from None
    except IsADirectoryError:
        raise ConfigError(str(path), None, "is a directory, not a config file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), None, f"not UTF-8 text: {exc}") from None
    except OSError as exc:
        raise ConfigError(str(path), None, f"cannot read: {exc.strerror or exc}") from None


def _select_table(data: dict[str, Any], table: str, source: str) -> dict[str, Any]:
    current: dict[str, Any] = data
    walked: list[str] = []
    for key in table.split("."):
        child = current.get(key)
        if not isinstance(child, dict):
            if child is not None:
                raise ConfigError(source, ".".join([*walked, key]), f"expected a table, got {type(child).__name__}")
            tables = ", ".join(sorted(k for k, v in current.items() if isinstance(v, dict))) or "none"
            where = ".".join(walked) or "the top level"
            raise ConfigError(source, table, f"table not found (tables at {where}: {tables})")
        current = child
        walked.append(key)
    return current


# -- conversion ----------------------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _type_info(config_type: Any) -> msgspec_inspect.Type:
    return msgspec_inspect.type_info(config_type)


def _decode_custom(target: type, value: Any) -> Any:
    """msgspec `dec_hook`: build the types msgspec does not know from their text form."""
    if isinstance(target, type):
        if issubclass(target, Identifier):
            if not isinstance(value, str):
                raise TypeError(f"Expected `str` for {target.__name__}, got `{type(value).__name__}`")
            return target(value)
        if issubclass(target, Path):
            if not isinstance(value, str):
                raise TypeError(f"Expected `str` for a path, got `{type(value).__name__}`")
            return target(value)
    raise NotImplementedError(f"no conversion to {target!r}")


def _dotted(prefix: str, parts: list[str | int]) -> str:
    text = prefix
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.startswith("["):
            text += part
        else:
            text = f"{text}.{part}" if text else part
    return text


def _prepare(value: Any, info: msgspec_inspect.Type, path: list[str | int], source: str, prefix: str) -> Any:
    """Rewrite the parts of `value` that msgspec cannot convert by itself (our structs from text, enum names).

    Values of the wrong shape are left alone for msgspec to report with its path.
    """
    if isinstance(info, msgspec_inspect.Metadata):
        return _prepare(value, info.type, path, source, prefix)
    if isinstance(info, msgspec_inspect.StructType):
        cls = info.cls
        if cls is Price or cls is Quantity:
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                try:
                    return cls.from_str(value)  # type: ignore[arg-type]
                except (ValueError, TypeError) as exc:
                    raise ConfigError(source, _dotted(prefix, path), str(exc)) from None
            return value
        from_str = getattr(cls, "from_str", None)
        if from_str is not None and isinstance(value, str):
            # Currency, Money, BarType and other value structs written as text in a config.
            try:
                return from_str(value)
            except (ValueError, TypeError) as exc:
                raise ConfigError(source, _dotted(prefix, path), str(exc)) from None
        if isinstance(value, dict):
            prepared = dict(value)
            for field in info.fields:
                if field.encode_name in prepared:
                    prepared[field.encode_name] = _prepare(
                        prepared[field.encode_name], field.type, [*path, field.encode_name], source, prefix
                    )
            return prepared
        return value
    if isinstance(info, msgspec_inspect.UnionType):
        if value is None:
            return value
        options = [t for t in info.types if not isinstance(t, msgspec_inspect.NoneType)]
        if len(options) == 1:
            return _prepare(value, options[0], path, source, prefix)
        return value
    if isinstance(info, msgspec_inspect.EnumType):
        if isinstance(value, str):
            return _enum_member(info.cls, value)
        return value
    if isinstance(info, _SEQUENCE_TYPES):
        if isinstance(value, list | tuple):
            return [_prepare(item, info.item_type, [*path, i], source, prefix) for i, item in enumerate(value)]
        return value
    if isinstance(info, msgspec_inspect.TupleType):
        if isinstance(value, list | tuple) and len(value) == len(info.item_types):
            return [
                _prepare(v, t, [*path, i], source, prefix)
                for i, (v, t) in enumerate(zip(value, info.item_types, strict=True))
            ]
        return value
    if isinstance(info, msgspec_inspect.DictType):
        if isinstance(value, dict):
            return {k: _prepare(v, info.value_type, [*path, str(k)], source, prefix) for k, v in value.items()}
        return value
    return value


def _enum_member(enum_type: type[Enum], text: str) -> Any:
    """The member whose value or (case-insensitive) name is `text`; `text` unchanged if none, for msgspec to report."""
    for member in enum_type:
        if member.value == text:
            return member
    folded = text.casefold()
    for member in enum_type:
        if member.name.casefold() == folded:
            return member
    return text


def _config_error_from_validation(
    exc: msgspec.ValidationError, info: msgspec_inspect.Type, source: str, prefix: str
) -> ConfigError:
    match = _MSGSPEC_PATH.match(str(exc))
    reason = match["reason"] if match else str(exc)
    raw_path = (match["path"] or "") if match else ""
    parts = _parse_msgspec_path(raw_path)
    named = _FIELD_IN_REASON.match(reason)
    checked = _POST_INIT_FIELD.match(reason)
    if named:
        parts.append(named["name"])
    elif checked:
        parts.append(checked["name"])
        reason = checked["reason"]
    elif reason.startswith("Invalid enum value"):
        field_type = _type_at(info, parts)
        if isinstance(field_type, msgspec_inspect.EnumType):
            names = ", ".join(m.name for m in field_type.cls)
            reason = f"{reason} (expected one of: {names})"
        elif isinstance(field_type, msgspec_inspect.LiteralType):
            names = ", ".join(str(v) for v in field_type.values)
            reason = f"{reason} (expected one of: {names})"
    return ConfigError(source, _dotted(prefix, parts) or None, reason)


def _parse_msgspec_path(raw_path: str) -> list[str | int]:
    """`.a.b[0].c` -> ["a", "b", 0, "c"]; a dict entry (`[...]`) stays as the text "[...]"."""
    parts: list[str | int] = []
    for token in re.findall(r"\.([^.\[]+)|\[([^\]]*)\]", raw_path):
        name, index = token
        if name:
            parts.append(name)
        elif index.isdigit():
            parts.append(int(index))
        else:
            parts.append(f"[{index}]")
    return parts


def _type_at(info: msgspec_inspect.Type, parts: list[str | int]) -> msgspec_inspect.Type | None:
    """The msgspec type found by following `parts` from `info`, or None if the path leaves known types."""
    current: msgspec_inspect.Type | None = info
    for part in parts:
        while isinstance(current, msgspec_inspect.Metadata | msgspec_inspect.UnionType):
            if isinstance(current, msgspec_inspect.Metadata):
                current = current.type
            else:
                options = [t for t in current.types if not isinstance(t, msgspec_inspect.NoneType)]
                current = options[0] if len(options) == 1 else None
        if isinstance(current, msgspec_inspect.StructType) and isinstance(part, str):
            current = next((f.type for f in current.fields if f.encode_name == part), None)
        elif isinstance(current, msgspec_inspect.DictType):
            current = current.value_type
        elif isinstance(current, _SEQUENCE_TYPES):
            current = current.item_type
        elif isinstance(current, msgspec_inspect.TupleType) and isinstance(part, int):
            current = current.item_types[part] if part < len(current.item_types) else None
        else:
            return None
    while isinstance(current, msgspec_inspect.Metadata):
        current = current.type
    if isinstance(current, msgspec_inspect.UnionType):
        options = [t for t in current.types if not isinstance(t, msgspec_inspect.NoneType)]
        current = options[0] if len(options) == 1 else None
    return current
