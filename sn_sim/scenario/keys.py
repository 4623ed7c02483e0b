"""Dotted keys: the one way to name a place in a scenario (``police.hot_zone_share``,
``strategy.rollout.0.neighbourhoods``, ``programs.labour.share``).

Scenario overrides (``--set``), sweep parameters, calibration's free parameters and the app's
controls all address scenario values this way. Tables are addressed by key, lists by index.
"""

from __future__ import annotations

import tomllib
from typing import Any, Callable

import numpy as np

from sn_sim.errors import ScenarioError

MISSING = object()  # what :func:`get_key` returns for a key that names nothing

# tomllib's work on a dotted TOML key (``a.b.c = 1``) grows with the square of its parts: 10,000
# parts take 400 MB. A key lies on one line, so a cap on the dots of a line bounds it.
MAX_LINE_DOTS = 2000


def dotted_line(text: str) -> int | None:
    """The number of the first line of ``text`` with more than MAX_LINE_DOTS dots, or None."""
    if text.count(".") <= MAX_LINE_DOTS:
        return None
    return next((n for n, line in enumerate(text.splitlines(), 1) if line.count(".") > MAX_LINE_DOTS), None)


def _item(node: list, part: str) -> int | None:
    """The list index ``part`` names, or None: ASCII digits only ("²".isdigit() is true, but
    int("²") fails) and inside the list."""
    if part.isascii() and part.isdigit() and int(part) < len(node):
        return int(part)
    return None


def get_key(data: Any, key: str, default: Any = MISSING) -> Any:
    """The value at ``key`` in a nested dict/list (list items by index); ``default`` if absent."""
    node = data
    for part in key.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and _item(node, part) is not None:
            node = node[_item(node, part)]
        else:
            return default
    return node


def set_key(data: dict, key: str, value: Any, source: str) -> None:
    """Replace the value at an existing ``key``; ScenarioError ``source: key: unknown key`` if
    the key names nothing (a typo must never silently add a parameter).

    A NumPy scalar (from a design matrix, an optimiser, a row of a data frame) is stored as the
    Python value it holds, since the scenario schema is strict and takes Python values only. A
    whole NumPy float becomes an int: arrays and frames turn integers into floats when they mix
    them with floats (a sweep's results row holds ``police.extra_officers`` as 20.0), and an int
    is valid wherever a float is."""
    if isinstance(value, np.generic):
        value = value.item()
        if isinstance(value, float) and value.is_integer():
            value = int(value)
    parts = key.split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list) and _item(node, part) is not None:
            node = node[_item(node, part)]
        elif isinstance(node, dict) and isinstance(node.get(part), (dict, list)):
            node = node[part]
        elif isinstance(node, dict) and part not in node and parts[0] == "programs" and i == 1:
            raise ScenarioError(f"{source}: {key}: unknown program {part!r}")
        else:
            raise ScenarioError(f"{source}: {key}: unknown key")
    leaf = parts[-1]
    if isinstance(node, list):
        if _item(node, leaf) is None:
            raise ScenarioError(f"{source}: {key}: unknown key")
        node[_item(node, leaf)] = value
    else:
        if leaf not in node:
            raise ScenarioError(f"{source}: {key}: unknown key")
        node[leaf] = value


def parse_value(text: str) -> Any:
    """An override value as TOML reads it (``0.5``, ``true``, ``[1, 2]``), else a bare string."""
    if dotted_line(text) is not None:  # no value has that many dots; parsing it could take gigabytes
        return text
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):  # not TOML (lists nested too deep aren't either)
        return text


def parse_assignments(items: list[str], source: str) -> list[tuple[str, Any]]:
    """``["police.hot_zone_share=0.5", ...]`` -> ``[("police.hot_zone_share", 0.5), ...]``."""
    parsed = []
    for item in items:
        if "=" not in item:
            raise ScenarioError(f"{source}: {item}: expected section.key=value")
        key, _, value = item.partition("=")
        parsed.append((key.strip(), parse_value(value.strip())))
    return parsed


def apply_overrides(data: dict, overrides: dict[str, Any] | list[str], source: str) -> None:
    """Set every ``key=value`` (a dict, or ``--set`` strings) in ``data``, in order."""
    items = overrides.items() if isinstance(overrides, dict) else parse_assignments(list(overrides), source)
    for key, value in items:
        set_key(data, key, value, source)


def flatten(table: dict, stop: Callable[[Any], bool] = lambda v: False, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}} -> {"a.b": 1}``; a sub-table for which ``stop`` is true stays whole."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and not stop(value):
            out.update(flatten(value, stop, name + "."))
        else:
            out[name] = value
    return out
