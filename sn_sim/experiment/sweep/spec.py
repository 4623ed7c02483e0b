"""The sweep file: its schema, the parameters it varies and the derived-parameter arithmetic.

:func:`read_sweep_file` reads and validates a sweep file (TOML); :func:`parse_parameter`
checks one swept parameter against the base scenario; :class:`Expression` is the safe
arithmetic of ``[derived]``. Nothing here runs or writes anything.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sn_sim.errors import ScenarioError
from sn_sim.observe import outcomes
from sn_sim.scenario import format_validation_error, read_toml
from sn_sim.scenario.keys import MISSING, flatten, get_key
from sn_sim.scenario.schema import Date, toml_text

DESIGNS = ("grid", "lhs", "sobol", "morris")


# --- Sweep file schema ------------------------------------------------------------------------


class _Section(BaseModel):
    """Strict like the scenario's tables: ``replicates = "5"`` or ``panel = "no"`` is an error."""

    model_config = ConfigDict(extra="forbid", strict=True)


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
    post_start: Date | None = Field(None, description="start of the post period (default: first launch of the base)")

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
    min: float = Field(allow_inf_nan=False)
    max: float = Field(allow_inf_nan=False)
    num: int | None = Field(None, ge=1, le=100_000)
    step: float | None = Field(None, gt=0, allow_inf_nan=False)


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


KIND_NAMES = {"float": "a number", "int": "a whole number", "bool": "true or false", "str": "a string"}


def _fits(value: Any, kind: str) -> bool:
    """Whether a listed value can stand for a scenario value of ``kind`` (the schema is strict; a
    whole float like 20.0 is a fine integer, 20.5 is not). The resolved scenario holds dates as
    ISO strings, so a TOML date may stand for a string (the schema then checks the field)."""
    if kind == "float":
        return kind_of(value) in ("int", "float")
    if kind == "int":
        return kind_of(value) == "int" or (kind_of(value) == "float" and float(value).is_integer())
    if kind == "str":
        return isinstance(value, (str, dt.date))
    return kind_of(value) == kind


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

    def size(self) -> int:
        """Values on a grid, counted without making them (an upper bound where integer rounding
        merges some): a design's size is checked against the run limit before it is built."""
        if self.values is not None:
            return len(self.values)
        if self.num is not None:
            n = self.num
        else:
            steps = (self.high - self.low) / self.step  # as np.arange(low, high + step * 1e-9, step)
            n = math.floor(steps + 1e-9) + 1 if math.isfinite(steps) else sys.maxsize
        return min(n, int(self.high - self.low) + 1) if self.kind == "int" else n

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


def parse_parameter(key: str, spec: Any, base: dict, source: str, grid: bool,
                    section: str = "parameters") -> Parameter:
    """A swept parameter (or an optimisation's lever or uncertainty: ``section``) checked
    against the base scenario (as a dict)."""
    where = f"{source}: {section}.{key}"
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
            if not _fits(v, kind):
                raise ScenarioError(f"{where}: {toml_text(v)} is not {KIND_NAMES[kind]} like the scenario's "
                                    f"value {toml_text(current)}")
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


def _round(x: float, digits: float = 0.0) -> float:
    """``round`` for the float arithmetic of expressions: ``round(x, 2)``."""
    if not float(digits).is_integer():
        raise ValueError(f"round: digits must be a whole number (got {digits:g})")
    return round(x, int(digits))


_FUNCS = {"min": min, "max": max, "abs": abs, "round": _round}

# An expression is evaluated once per point: it must stay small and quick. A power's exponent is
# a constant of at most MAX_EXPONENT (9**9**9 would take hours and gigabytes of digits), and the
# text is short enough that the parser and the checks below cannot run out of stack.
MAX_EXPONENT = 10
MAX_EXPRESSION_CHARS = 500
ALLOWED = f"numbers, parameters, + - * /, ** with a constant exponent of at most {MAX_EXPONENT}, min, max, abs, round"


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def _number(node: ast.AST) -> float | None:
    """The value of a constant number, signs included (``-2``), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _number(node.operand)
        return None if value is None else (-value if isinstance(node.op, ast.USub) else value)
    return None


class Expression:
    """``(1 - strategy.mix.police) * 0.35 / 0.6``: numbers, parameters, + - * / (** with a small
    constant exponent), min max abs round. Anything else is refused when the sweep file is read."""

    def __init__(self, text: str, names: set[str], where: str):
        self.text = text
        if len(text) > MAX_EXPRESSION_CHARS:
            raise ScenarioError(f"{where}: longer than {MAX_EXPRESSION_CHARS} characters")
        try:
            self.tree = ast.parse(text, mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            raise ScenarioError(f"{where}: not an arithmetic expression ({text!r})") from None
        self.names: set[str] = set()
        self._check(self.tree, names, where)

    def _check(self, node, names, where):
        name = _dotted(node)
        if name is not None:
            if name not in names:
                raise ScenarioError(f"{where}: unknown name {name!r} (use a swept parameter's key)")
            self.names.add(name)
        elif _number(node) is not None:
            pass
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            exponent = _number(node.right)
            if exponent is None or abs(exponent) > MAX_EXPONENT:
                raise ScenarioError(f"{where}: ** needs a constant exponent of at most {MAX_EXPONENT} "
                                    f"({ast.unparse(node.right)!r} is not)")
            self._check(node.left, names, where)
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
            raise ScenarioError(f"{where}: only {ALLOWED} are allowed")

    def __call__(self, values: dict[str, Any]) -> float:
        # In floats: a power of a power overflows at once (OverflowError) instead of growing an
        # exact integer for hours; the result is a float anyway.
        def ev(node):
            name = _dotted(node)
            if name is not None:
                return float(values[name])
            if isinstance(node, ast.Constant):
                return float(node.value)
            if isinstance(node, ast.BinOp):
                return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
            if isinstance(node, ast.UnaryOp):
                return -ev(node.operand) if isinstance(node.op, ast.USub) else ev(node.operand)
            return _FUNCS[node.func.id](*[ev(a) for a in node.args])

        return ev(self.tree)
