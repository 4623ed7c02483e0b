"""Reading scenario files: TOML data, never code.

``load_scenario`` reads a file (or a shipped scenario by name), follows its ``extends`` chain,
applies ``--set`` overrides and validates the result. Shipped scenarios and their parameter
files are package data (``sn_sim.scenarios``), so they are found from any directory after a
normal install: ``load_scenario("national_rollout")``.
"""

from __future__ import annotations

import copy
import importlib
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from sn_sim.errors import ScenarioError
from sn_sim.scenario.keys import MAX_LINE_DOTS, apply_overrides, dotted_line
from sn_sim.scenario.schema import Scenario, validate

SHIPPED_PACKAGE = "sn_sim.scenarios"
CALIBRATED = "parameters/calibrated.toml"  # the fitted free parameters (sn-sim calibrate)

# Limits on what a scenario or sweep file may be. The shipped scenarios are a few KiB, nest four
# levels and extend two files deep; the limits are far above any real file and far below what
# would exhaust memory or the interpreter's stack.
MAX_FILE_BYTES = 1024 * 1024
MAX_EXTENDS = 16     # ``extends`` steps from a file to the root of its chain
MAX_NESTING = 32     # levels of tables and lists


def shipped_dir() -> Path:
    """Directory of the shipped scenarios (inside the installed package; a data folder without
    an ``__init__.py``, so it is a namespace package with one directory on its path)."""
    return Path(next(iter(importlib.import_module(SHIPPED_PACKAGE).__path__)))


def shipped_scenario_names() -> list[str]:
    """Names of the scenarios shipped with the package (``sn-sim run NAME`` runs one)."""
    return sorted(p.stem for p in shipped_dir().glob("*.toml"))


def shipped_path(name: str) -> Path | None:
    """The shipped file a bare name stands for (``national_rollout``, ``parameters/calibrated``),
    or None. Only names inside the shipped directory are accepted."""
    rel = name if name.endswith(".toml") else f"{name}.toml"
    if rel.startswith(("/", "\\")) or ".." in Path(rel).parts:
        return None
    path = shipped_dir() / rel
    return path if path.is_file() else None


def _read_text(path: Path) -> str:
    """A small regular file's text. A FIFO, a device (``/dev/zero``) or a huge file would block or
    exhaust memory; they are refused before reading. The file is opened without blocking and
    checked through its descriptor, so it cannot be swapped between the check and the read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ScenarioError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ScenarioError(f"{path}: is a directory, not a TOML file") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read ({exc.strerror or exc.__class__.__name__})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise ScenarioError(f"{path}: is a directory, not a TOML file")
        raise ScenarioError(f"{path}: not a regular file (a device, pipe or socket), not a TOML file")
    with os.fdopen(fd, "rb") as f:
        try:
            raw = f.read(MAX_FILE_BYTES + 1)  # the size a file reports may change or be wrong
        except OSError as exc:
            raise ScenarioError(f"{path}: cannot read ({exc.strerror or exc.__class__.__name__})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB; scenario and sweep files are "
                            "small tables")
    try:
        return raw.decode("utf-8-sig")  # a byte-order mark, as some Windows editors write, is not content
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _nesting(data: Any) -> int:
    """Levels of tables and lists in parsed TOML (iterative: deep data must not overflow the stack)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


def read_toml(path: Path) -> dict:
    """A TOML file as a dict; ScenarioError ``path: reason`` if it cannot be read or parsed, or is
    not a small regular file (see MAX_FILE_BYTES, MAX_NESTING)."""
    text = _read_text(path)
    line = dotted_line(text)
    if line is not None:
        raise ScenarioError(f"{path}: line {line}: more than {MAX_LINE_DOTS:,} dots on one line "
                            "(keys cannot nest that deep; write long lists over several lines)")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML ({exc})") from None
    except RecursionError:
        raise ScenarioError(f"{path}: not valid TOML (lists or tables nested too deeply)") from None
    if _nesting(data) > MAX_NESTING:
        raise ScenarioError(f"{path}: tables and lists nested deeper than {MAX_NESTING} levels")
    return data


def _merge(base: dict, child: dict) -> dict:
    """Deep-merge child into base: tables merge key by key, everything else is replaced."""
    out = copy.deepcopy(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _parent_path(path: Path, parent: str) -> Path:
    """``extends`` names a ``.toml`` file relative to the extending file, or a shipped scenario or
    parameter file (``national_rollout``, ``parameters/calibrated.toml``) when there is no such
    local file. Anything else (``/dev/zero``, a directory) is refused before it is opened."""
    where = f"{path}: extends"
    if "\0" in parent:  # no file name has one; the path functions would raise ValueError
        raise ScenarioError(f"{where}: {parent!r} contains a NUL character")
    if not parent.endswith(".toml"):
        shipped = shipped_path(parent)
        if shipped is None:
            raise ScenarioError(f"{where}: {parent!r} is neither a .toml file nor a shipped scenario "
                                f"({', '.join(shipped_scenario_names())})")
        return shipped
    local = path.parent / parent
    if local.exists():
        return local
    return shipped_path(parent) or local


def resolve_chain(path: Path) -> tuple[dict, tuple[Path, ...]]:
    """The merged data of ``path`` and its ``extends`` chain, and the files of the chain (the file
    first). The chain is followed in a loop, not by recursion, and at most MAX_EXTENDS steps."""
    chain: list[Path] = []
    layers: list[dict] = []
    current = path.resolve()
    while True:
        if current in chain:
            start = chain[0].parent
            names = " -> ".join(os.path.relpath(p, start) for p in [*chain, current])
            raise ScenarioError(f"{chain[-1]}: extends: circular chain {names}")
        if len(chain) > MAX_EXTENDS:
            raise ScenarioError(f"{chain[-1]}: extends: a chain of more than {MAX_EXTENDS} extends steps "
                                f"(from {chain[0]}); merge some of its files")
        chain.append(current)
        data = read_toml(current)
        parent = data.pop("extends", None)
        layers.append(data)
        if parent is None:
            break
        if not isinstance(parent, str):
            raise ScenarioError(f"{current}: extends: must be a file name (string)")
        current = _parent_path(current, parent).resolve()
    merged: dict = {}
    for data in reversed(layers):  # the root first; each child overrides its parent
        merged = _merge(merged, data)
    return merged, tuple(chain)


def scenario_path(name_or_path: str | Path) -> Path:
    """A scenario argument as a file: an existing path, else a shipped scenario's name."""
    if "\0" in str(name_or_path):  # (from a file: a sweep's base) the path functions would raise ValueError
        raise ScenarioError(f"{str(name_or_path)!r}: contains a NUL character, not a file name")
    path = Path(name_or_path)
    if path.exists():
        return path
    shipped = shipped_path(str(name_or_path)) if path.parent == Path(".") else None
    if shipped is not None:
        return shipped
    if path.suffix != ".toml":
        known = ", ".join(shipped_scenario_names())
        raise ScenarioError(f"{path}: no such file, and not a shipped scenario ({known})")
    raise ScenarioError(f"{path}: file not found")


def load_scenario(path: str | Path, overrides: dict[str, Any] | list[str] | None = None) -> Scenario:
    """Read a scenario file or shipped scenario (following ``extends``), apply overrides, validate.

    Raises ScenarioError with ``file: key: reason`` on any problem. The result knows whether its
    chain includes the calibrated parameters (``Scenario.extends_calibrated``).
    """
    path = scenario_path(path)
    if path.suffix != ".toml" and not path.is_dir():
        raise ScenarioError(f"{path}: not a TOML file (expected a .toml scenario)")
    data, chain = resolve_chain(path)
    data.setdefault("name", path.stem)
    scenario = validate(data, source=str(path))
    calibrated = shipped_path(CALIBRATED)
    scenario.extends_calibrated = calibrated is not None and calibrated.resolve() in chain
    if not overrides:
        return scenario
    # Overrides apply to the resolved scenario, defaults included, so any key can be set.
    full = scenario.to_dict()
    apply_overrides(full, overrides, source=f"{path} --set")
    out = validate(full, source=f"{path} --set")
    out.extends_calibrated = scenario.extends_calibrated
    return out


def scenario_json_schema() -> dict:
    """JSON schema of a scenario, with each field's description, unit, range and source."""
    return Scenario.model_json_schema()
