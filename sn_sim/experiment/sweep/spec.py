"""The sweep file: its schema, the parameters it varies and the derived-parameter arithmetic.

:func:`read_sweep_file` reads and validates a sweep file (TOML); :func:`parse_parameter`
checks one swept parameter against the base scenario; :class:`Expression` is the safe
arithmetic of ``[derived]``. Nothing here runs or writes anything.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sn_sim.errors import ScenarioError
from sn_sim.observe import outcomes
from sn_sim.scenario import format_validation_error, read_toml
from sn_sim.scenario.keys import MISSING, flatten, get_key

DESIGNS = ("grid", "lhs", "sobol", "morris")


# --- Sweep file schema ------------------------------------------------------------------------


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Design(_Section):
    method: str = Field(description="grid (full factorial), lhs (Latin hypercube), sobol or morris (SALib)")
    samples: int | None = Field(None, ge=1, le=10_000_000,
                                description="lhs: points; sobol: base samples N (a power of 2); morris: trajectories")
    second_order: bool = Field(False, description="sobol: also sample for second-order indices")
    levels: int = Field(4, ge=2, le=1000, description="morris: grid levels")

    @field_validator("method")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in DESIGNS:
            raise ValueError(f"unknown design {v!r} (expected one of {', '.join(DESIGNS)})")
        return v

    @model_validator(mode="after")
    def _samples(self):
        if self.method != "grid" and self.samples is None:
            raise ValueError(f"design.samples: the {self.method} design needs samples")
        if self.method == "sobol" and self.samples & (self.samples - 1):
            raise ValueError(f"design.samples: sobol needs a power of 2 (got {self.samples})")
        return self


class Outputs(_Section):
    summaries: list[str] | None = Field(None, description="summary columns to keep (default: all)")
    panel: bool = Field(False, description="also keep every run's full weekly panel (panels/run-*.parquet)")
    post_start: dt.date | None = Field(None, description="start of the post period (default: first launch of the base)")

    @field_validator("summaries")
    @classmethod
    def _known(cls, v):
        if v is None:
            return v
        known = outcomes.summary_names()
        for name in v:
            if name not in known:
                raise ValueError(f"unknown summary {name!r} (expected <outcome>_<scope>, e.g. "
                                 f"offences_per_1000_year_all; outcomes: "
                                 f"{', '.join(list(outcomes.SUMMARY_OUTCOMES) + ['neighbourhoods'])}; "
                                 f"scopes: {', '.join(outcomes.SCOPES)})")
        if not v:
            raise ValueError("empty list (omit it to keep all summaries)")
        return v


class Range(_Section):
    min: float
    max: float
    num: int | None = Field(None, ge=1, le=100_000)
    step: float | None = Field(None, gt=0)


class SweepFile(_Section):
    name: str | None = Field(None, description="sweep name (default: file stem); the default output is sweeps/<name>")
    description: str = ""
    base: str = Field(description="base scenario TOML, relative to the sweep file")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="sweep seed: design sampling and every run's random numbers")
    replicates: int = Field(1, ge=1, le=100_000, description="replicates per point")
    random_numbers: Literal["common", "independent"] = Field("common", description="common: every point uses the sweep seed")
    design: Design
    set: dict[str, Any] = Field(default_factory=dict, description="fixed overrides applied to the base scenario")
    parameters: dict[str, Any] = Field(description="dotted scenario key -> list of values or {min, max[, num | step]}")
    derived: dict[str, str] = Field(default_factory=dict, description="dotted key -> arithmetic of parameters")
    outputs: Outputs = Field(default_factory=Outputs)

    @field_validator("design", mode="before")
    @classmethod
    def _shorthand(cls, v):
        return {"method": v} if isinstance(v, str) else v

    @field_validator("parameters")
    @classmethod
    def _some(cls, v):
        if not v:
            raise ValueError("no parameters to vary")
        return v


def _is_range(v: dict) -> bool:
    return "min" in v or "max" in v


def read_sweep_file(path: Path) -> SweepFile:
    """Read and validate a sweep file. Unquoted dotted TOML keys (``crime.offending_rate = ...``)
    are nested tables; they are flattened back to dotted keys. Raises ScenarioError."""
    if path.suffix != ".toml":
        if not path.exists():
            raise ScenarioError(f"{path}: file not found")
        raise ScenarioError(f"{path}: not a TOML file (expected a .toml sweep file)")
    data = dict(read_toml(path))
    for key in ("set", "derived"):
        if isinstance(data.get(key), dict):
            data[key] = flatten(data[key])
    if isinstance(data.get("parameters"), dict):
        data["parameters"] = flatten(data["parameters"], stop=_is_range)
    try:
        return SweepFile.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(exc, str(path))) from None


# --- Parameters -------------------------------------------------------------------------------


def kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "other"


def coerce(value: Any, kind: str) -> Any:
    """A value in the type of the scenario field (so every run file has the same schema)."""
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind == "int" and isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and value != int(value):
            return int(round(value))
        return int(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass
class Parameter:
    key: str
    kind: str  # type of the base scenario's value: float, int, bool, str
    values: list | None = None  # a list of values
    low: float | None = None  # a range
    high: float | None = None
    num: int | None = None
    step: float | None = None

    def grid(self) -> list:
        if self.values is not None:
            return [coerce(v, self.kind) for v in self.values]
        if self.num is not None:
            raw = np.linspace(self.low, self.high, self.num)
        else:
            raw = np.arange(self.low, self.high + self.step * 1e-9, self.step)
        vals = [coerce(float(v), self.kind) for v in raw]
        return list(dict.fromkeys(vals))  # integer rounding can repeat values

    def bounds(self) -> list[float]:
        """Bounds in design coordinates: the range (integers: [min, max + 1)), or [0, n) for a list."""
        if self.values is not None:
            return [0.0, float(len(self.values))]
        if self.kind == "int":
            return [float(self.low), float(self.high) + 1.0]
        return [float(self.low), float(self.high)]

    def from_design(self, x: float) -> Any:
        """The parameter value of a design coordinate."""
        if self.values is not None:
            return coerce(self.values[min(int(math.floor(x)), len(self.values) - 1)], self.kind)
        if self.kind == "int":
            return int(min(math.floor(x), self.high))
        return float(x)


def parse_parameter(key: str, spec: Any, base: dict, source: str, grid: bool) -> Parameter:
    """A swept parameter checked against the base scenario (as a dict)."""
    where = f"{source}: parameters.{key}"
    current = get_key(base, key)
    if current is MISSING:
        raise ScenarioError(f"{where}: unknown scenario key")
    kind = kind_of(current)
    if kind == "other":
        raise ScenarioError(f"{where}: is a table or a list in the scenario; vary one of its values instead")
    if isinstance(spec, list):
        if not spec:
            raise ScenarioError(f"{where}: empty list of values")
        for v in spec:
            if isinstance(v, (dict, list)):
                raise ScenarioError(f"{where}: values must be numbers, booleans or strings")
        return Parameter(key, kind, values=list(spec))
    if isinstance(spec, dict):
        try:
            r = Range.model_validate(spec)
        except ValidationError as exc:
            raise ScenarioError(format_validation_error(exc, f"{where}")) from None
        if kind not in ("float", "int"):
            raise ScenarioError(f"{where}: a range needs a numeric parameter (the scenario's value is {current!r})")
        if not r.min < r.max:
            raise ScenarioError(f"{where}: empty range (min {r.min:g} is not below max {r.max:g})")
        if kind == "int" and (r.min != int(r.min) or r.max != int(r.max)):
            raise ScenarioError(f"{where}: an integer parameter needs integer min and max")
        if grid:
            if (r.num is None) == (r.step is None):
                raise ScenarioError(f"{where}: a grid range needs exactly one of num or step")
        elif r.num is not None or r.step is not None:
            raise ScenarioError(f"{where}: num and step apply only to design \"grid\"")
        return Parameter(key, kind, low=r.min, high=r.max, num=r.num, step=r.step)
    raise ScenarioError(f"{where}: expected a list of values or a range {{min = .., max = ..}}")


# --- Derived parameters: safe arithmetic of parameters ----------------------------------------

_BINOPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
           ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a ** b}
_FUNCS = {"min": min, "max": max, "abs": abs, "round": round}


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


class Expression:
    """``(1 - strategy.mix.police) * 0.35 / 0.6``: numbers, parameters, + - * / **, min max abs round."""

    def __init__(self, text: str, names: set[str], where: str):
        self.text = text
        try:
            self.tree = ast.parse(text, mode="eval").body
        except SyntaxError:
            raise ScenarioError(f"{where}: not an arithmetic expression ({text!r})") from None
        self.names: set[str] = set()
        self._check(self.tree, names, where)

    def _check(self, node, names, where):
        name = _dotted(node)
        if name is not None:
            if name not in names:
                raise ScenarioError(f"{where}: unknown name {name!r} (use a swept parameter's key)")
            self.names.add(name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            pass
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            self._check(node.left, names, where)
            self._check(node.right, names, where)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            self._check(node.operand, names, where)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS
              and not node.keywords and node.args):
            for a in node.args:
                self._check(a, names, where)
        else:
            raise ScenarioError(f"{where}: only numbers, parameters, + - * / ** and min, max, abs, round are allowed")

    def __call__(self, values: dict[str, Any]) -> float:
        def ev(node):
            name = _dotted(node)
            if name is not None:
                return values[name]
            if isinstance(node, ast.Constant):
                return node.value
            if isinstance(node, ast.BinOp):
                return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
            if isinstance(node, ast.UnaryOp):
                return -ev(node.operand) if isinstance(node.op, ast.USub) else ev(node.operand)
            return _FUNCS[node.func.id](*[ev(a) for a in node.args])

        return ev(self.tree)
