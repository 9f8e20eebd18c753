"""params.yaml read as DVC reads it and validated against the schema (config.py), every problem
as one `ConfigError` line naming the key, the value and what is allowed (the CLI prints it and
exits 2)."""

from __future__ import annotations

import difflib
from pathlib import Path

from pydantic import ValidationError
from ruamel.yaml import YAML, YAMLError

from .config import Config, Section
from .errors import ConfigError


def _keys(loc: tuple) -> list[tuple[type[Section], object]]:
    """The params keys a pydantic error location names, each with the section it is a key of, down to
    the first that is no section (what may follow is a union member's tag or a list index)."""
    keys, section = [], Config
    for part in loc:
        keys.append((section, part))
        field = section.model_fields.get(part)
        section = field.annotation if field else None
        if not (isinstance(section, type) and issubclass(section, Section)):
            break
    return keys


def _error_order(error) -> tuple[int, ...]:
    """Where an error sits in params.yaml's key order: of each mapping, its unknown keys first, then
    its keys in declaration order (pydantic reports unknown keys last)."""
    return tuple(
        list(section.model_fields).index(key) if key in section.model_fields else -1
        for section, key in _keys(error["loc"])
    )


def _message(error, raw) -> str:
    """pydantic's error as one line naming the key, the value and what is allowed."""
    keys = _keys(error["loc"])
    dotted = ".".join(str(key) for _, key in keys)
    if error["type"] in ("extra_forbidden", "invalid_key"):  # invalid_key: a key that is no string
        section, key = keys[-1]
        key = error["input"] if error["type"] == "invalid_key" else key
        prefix = "".join(f"{parent}." for _, parent in keys[:-1])
        names = list(section.model_fields)
        close = difflib.get_close_matches(str(key), names, n=1)
        hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
        shown = key if isinstance(key, str) and key.isprintable() else repr(key)
        return f"{prefix}{shown}: unknown key{hint}; allowed: {', '.join(names)}"
    if error["type"] == "missing":
        return f"{dotted}: missing key"
    if error["type"] == "model_type":
        return f"{dotted or 'params'}: expected a mapping, got {error['input']!r}"
    value = raw
    for _, key in keys:
        value = value[key]
    section, key = keys[-1]
    return f"{dotted}: got {value!r}, expected {section.model_fields[key].description}"


def parse(raw, check_data: bool = True) -> Config:
    """Validate a params mapping (as loaded from YAML) into a Config. check_data=False skips what
    needs data.source's files (for commands that read no data: compare, report, generate, tracking)."""
    from .data.checks import check_params

    try:  # the data's bounds first (Config's validator runs check_params before its own checks)
        return Config.model_validate(raw, context={"check_data": check_params if check_data else None})
    except ValidationError as e:
        raise ConfigError(_message(min(e.errors(), key=_error_order), raw)) from None


def load(path: str | Path = "params.yaml", check_data: bool = True) -> Config:
    """params.yaml as DVC reads it: ruamel.yaml's safe loader, YAML 1.2 (1e-3 is a number, yes a string)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        raw = YAML(typ="safe", pure=True).load(text)
    except YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = " ".join(str(getattr(e, "problem", None) or e).split())
        raise ConfigError(f"{path}: invalid YAML{at}: {problem}") from None
    except (
        ValueError,
        IndexError,
    ) as e:  # ruamel's, unmarked, for a scalar its tag cannot hold: 2001-13-45, !!int
        raise ConfigError(f"{path}: invalid YAML: {e}") from None
    return parse(raw, check_data)
