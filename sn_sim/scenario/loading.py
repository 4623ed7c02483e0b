"""Reading scenario files: TOML data, never code.

``load_scenario`` reads a file (or a shipped scenario by name), follows its ``extends`` chain,
applies ``--set`` overrides and validates the result. Shipped scenarios and their parameter
files are package data (``sn_sim.scenarios``), so they are found from any directory after a
normal install: ``load_scenario("national_rollout")``.
"""

from __future__ import annotations

import copy
import importlib
import tomllib
from pathlib import Path
from typing import Any

from sn_sim.errors import ScenarioError
from sn_sim.scenario.keys import apply_overrides
from sn_sim.scenario.schema import Scenario, validate

SHIPPED_PACKAGE = "sn_sim.scenarios"
CALIBRATED = "parameters/calibrated.toml"  # the fitted free parameters (sn-sim calibrate)


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


def read_toml(path: Path) -> dict:
    """A TOML file as a dict; ScenarioError ``path: reason`` if it cannot be read or parsed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ScenarioError(f"{path}: is a directory, not a TOML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML ({exc})") from None


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
    """``extends`` is relative to the extending file; a name of a shipped scenario or parameter
    file (``national_rollout``, ``parameters/calibrated.toml``) that is not there is the shipped one."""
    local = path.parent / parent
    if local.exists():
        return local
    return shipped_path(parent) or local


def resolve_chain(path: Path, seen: tuple[Path, ...] = ()) -> tuple[dict, tuple[Path, ...]]:
    """The merged data of ``path`` and its ``extends`` chain, and the files of the chain."""
    path = path.resolve()
    if path in seen:
        raise ScenarioError(f"{path}: extends: circular chain")
    data = read_toml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data, seen + (path,)
    if not isinstance(parent, str):
        raise ScenarioError(f"{path}: extends: must be a file name (string)")
    base, chain = resolve_chain(_parent_path(path, parent), seen + (path,))
    return _merge(base, data), chain


def scenario_path(name_or_path: str | Path) -> Path:
    """A scenario argument as a file: an existing path, else a shipped scenario's name."""
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
