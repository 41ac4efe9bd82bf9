"""Config mistakes as one helpful line: the valid keys, the YAML line, the section a value needs.

Used by segnet.config.load; kept apart so that the schema file stays a readable list of fields.
"""

from __future__ import annotations

import difflib

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from segnet.errors import SegnetError


def yaml_error(path, exc: Exception) -> SegnetError:
    """A YAML parse error with its line and column (PyYAML's first line alone drops them)."""
    mark = getattr(exc, "problem_mark", None)
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
    start = getattr(exc, "context_mark", None)  # where the unclosed construct began
    if start is not None and getattr(exc, "context", None):
        problem += f", {exc.context} started at line {start.line + 1}, column {start.column + 1}"
    return SegnetError(f"{path}{where}: invalid YAML ({problem})")


def _keys(schema: DictConfig, parent: str) -> list[str]:
    node = OmegaConf.select(schema, parent) if parent else schema
    return list(node.keys()) if isinstance(node, DictConfig) else []


def unknown_key(key: str, source: str, schema: DictConfig) -> SegnetError:
    """'unknown config key' naming the valid keys at that level, and the closest one."""
    parent, _, leaf = key.rpartition(".")
    valid = _keys(schema, parent)
    close = difflib.get_close_matches(leaf, valid, n=1)
    hint = f"; did you mean '{'.'.join(filter(None, (parent, close[0])))}'?" if close else ""
    where = f"keys of {parent}" if parent else "top-level keys"
    return SegnetError(f"{source}: unknown config key '{key}' ({where}: {', '.join(valid)}){hint}")


def from_omegaconf(exc: OmegaConfBaseException, source: str, schema: DictConfig) -> SegnetError:
    """One line for an OmegaConf merge/validation error, naming the key."""
    key = getattr(exc, "full_key", None) or ""
    if isinstance(exc, ConfigKeyError) and key:
        return unknown_key(key, source, schema)
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    where = f" (key '{key}')" if key and key not in msg else ""
    return SegnetError(f"{source}: {msg}{where}")


def check_sections(raw: DictConfig, source: str, schema: DictConfig, override: bool) -> None:
    """``model=fc_densenet56`` (a value where the schema has a section) gets the spelling it needs."""
    for key in raw.keys():
        if key not in schema or not isinstance(schema[key], DictConfig) or isinstance(raw[key], DictConfig):
            continue
        value = raw[key]
        if raw[key] is None and override is False:
            continue  # "model:" with nothing under it is an empty section in YAML
        inner = "name" if "name" in schema[key] else "<key>"
        use = f"{key}.{inner}={value}" if override else f"'{key}:' followed by indented '{inner}: {value}'"
        raise SegnetError(f"{source}: {key} is a section: use {use} (keys of {key}: {', '.join(_keys(schema, key))})")
