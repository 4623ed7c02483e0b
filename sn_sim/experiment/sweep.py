"""Batch parameter sweeps: a sweep file, a design, a resumable sweep directory.

A sweep file (TOML) names a base scenario, the parameters to vary, a design and the outputs
to keep; see ``docs/experiments.md`` for the format. :func:`plan_sweep` reads and validates
it completely -- every sample point is turned into a scenario and validated -- before
anything is written. :func:`run_sweep` then hands one :class:`~sn_sim.experiment.executors.RunTask`
per (point, replicate) to an executor and a single collector writes each result as it
arrives::

    DIR/manifest.json             sweep file resolved, base scenario, design, points, runs, seeds
    DIR/runs/run-000042.parquet   one row: run, point, replicate, seed, parameters, summaries
    DIR/panels/run-000042.parquet the full weekly panel (only with outputs.panel = true)
    DIR/failures/run-000042.json  error and traceback of a run that raised

A run file is written to a temporary name and renamed into place (``os.replace``), after
its panel, so its existence is the commit mark of a finished run: a sweep that is killed
loses at most the runs in flight, and ``--resume`` runs exactly the runs without a file
(failed ones included) -- none is lost or done twice.

Seeds. Run ``k = point * replicates + replicate`` calls
``sn_sim.api.run_replicate(scenario_of_point, seed, replicate)``, whose random stream is
``SeedSequence(seed).spawn(replicate + 1)[replicate]``. With ``random_numbers = "common"``
(the default) ``seed`` is the sweep seed for every point, so all points share random numbers
replicate by replicate (common random numbers: differences between points are due to the
parameters, not to noise). With ``"independent"`` the seed of point ``p`` is drawn from
``SeedSequence([sweep_seed, p])``. Either way a run's seed depends only on the sweep seed,
the point index and the replicate -- never on the executor, the worker or the order of
completion -- so 1 worker, many workers and a Dask cluster give identical results.
"""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
import itertools
import json
import math
import os
import re
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sn_sim.errors import OutputError, ScenarioError, SnSimError
from sn_sim.experiment import summaries
from sn_sim.scenario import Scenario, _read_toml, format_validation_error, load_scenario, validate

DESIGNS = ("grid", "lhs", "sobol", "morris")
MANIFEST = "manifest.json"
FORMAT = 1
RUN_FILE = "run-{:06d}"
_RUN_RE = re.compile(r"^run-(\d{6,})\.(parquet|json)$")


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
        known = summaries.summary_names()
        for name in v:
            if name not in known:
                raise ValueError(f"unknown summary {name!r} (expected <metric>_<scope>, e.g. offences_per_1000_all;"
                                 f" metrics: {', '.join(summaries.METRICS)}; scopes: all, treated)")
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


def _flatten(table: dict, stop=lambda v: False, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}: unquoted dotted TOML keys become nested tables."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and not stop(value):
            out.update(_flatten(value, stop, name + "."))
        else:
            out[name] = value
    return out


def _is_range(v: dict) -> bool:
    return "min" in v or "max" in v


# --- Parameters -------------------------------------------------------------------------------


_MISSING = object()


def _lookup(data: Any, key: str) -> Any:
    """The value at a dotted key of a scenario dict (list items by index), or _MISSING."""
    node = data
    for part in key.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "other"


def _coerce(value: Any, kind: str) -> Any:
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
            return [_coerce(v, self.kind) for v in self.values]
        if self.num is not None:
            raw = np.linspace(self.low, self.high, self.num)
        else:
            raw = np.arange(self.low, self.high + self.step * 1e-9, self.step)
        vals = [_coerce(float(v), self.kind) for v in raw]
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
            return _coerce(self.values[min(int(math.floor(x)), len(self.values) - 1)], self.kind)
        if self.kind == "int":
            return int(min(math.floor(x), self.high))
        return float(x)


def _parse_parameter(key: str, spec: Any, base: dict, source: str, grid: bool) -> Parameter:
    where = f"{source}: parameters.{key}"
    current = _lookup(base, key)
    if current is _MISSING:
        raise ScenarioError(f"{where}: unknown scenario key")
    kind = _kind(current)
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


# --- Plan: everything validated, nothing written ----------------------------------------------


@dataclass
class SweepPlan:
    """A validated sweep: points, their scenarios, the runs and their seeds."""

    source: str
    name: str
    spec: dict  # the sweep file, resolved (json-safe)
    base: Scenario
    parameters: list[str]
    derived: list[str]
    points: list[dict[str, Any]]  # parameter and derived values per point
    scenarios: list[dict]  # resolved scenario per point
    runs: list[dict]  # run, point, replicate, seed
    outputs: list[str]
    panel: bool
    post_start: dt.date
    design: dict  # method, samples, ..., problem, X
    fingerprint: str = ""

    def tasks(self, run_ids=None):
        from sn_sim.experiment.executors import RunTask

        ids = range(len(self.runs)) if run_ids is None else run_ids
        return [RunTask(scenario=self.scenarios[self.runs[k]["point"]], seed=self.runs[k]["seed"],
                        replicate=self.runs[k]["replicate"], outputs=tuple(self.outputs), panel=self.panel,
                        post_start=self.post_start.isoformat(), kind="summary", key=k) for k in ids]

    def manifest(self) -> dict:
        from sn_sim.api import package_version

        return {
            "kind": "sn_sim.sweep",
            "format": FORMAT,
            "package": "sn_sim",
            "version": package_version(),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "sweep_file": self.source,
            "name": self.name,
            "sweep": self.spec,
            "base_scenario": self.base.to_dict(),
            "base_scenario_hash": self.base.digest(),
            "parameters": self.parameters,
            "derived": self.derived,
            "design": self.design,
            "outputs": {"summaries": self.outputs, "panel": self.panel, "post_start": self.post_start.isoformat()},
            "seeds": {
                "sweep_seed": self.spec["seed"],
                "random_numbers": self.spec["random_numbers"],
                "rule": ("run k = point * replicates + replicate runs sn_sim.api.run_replicate(scenario, seed, "
                         "replicate); stream = SeedSequence(seed).spawn(replicate + 1)[replicate]; seed = sweep "
                         "seed (common) or SeedSequence([sweep seed, point]) (independent)"),
            },
            "points": [{"point": i, **p} for i, p in enumerate(self.points)],
            "runs": self.runs,
            "fingerprint": self.fingerprint,
        }


def point_seed(sweep_seed: int, point: int, random_numbers: str) -> int:
    """The seed a point's runs pass to ``run_replicate`` (see module docstring)."""
    if random_numbers == "common":
        return int(sweep_seed)
    state = np.random.SeedSequence([int(sweep_seed), int(point)]).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))  # 63 bits: fits the panel's int64 seed column


def _design_matrix(method: str, params: list[Parameter], d: Design, seed: int) -> tuple[dict, np.ndarray]:
    problem = {"num_vars": len(params), "names": [p.key for p in params], "bounds": [p.bounds() for p in params]}
    lo = np.array([b[0] for b in problem["bounds"]])
    hi = np.array([b[1] for b in problem["bounds"]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SALib's notes on sample sizes; the choices are in the manifest
        if method == "lhs":
            from scipy.stats import qmc

            X = qmc.scale(qmc.LatinHypercube(d=len(params), rng=seed).random(d.samples), lo, hi)
        elif method == "sobol":
            from SALib.sample import sobol

            X = sobol.sample(problem, d.samples, calc_second_order=d.second_order, seed=seed)
        else:
            from SALib.sample import morris

            X = morris.sample(problem, d.samples, num_levels=d.levels, seed=seed)
            X = np.minimum(X, np.nextafter(hi, lo))  # morris reaches the upper bound; keep [lo, hi)
    return problem, np.asarray(X, dtype=float)


def _json_safe(obj):
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (dt.date, dt.datetime, dt.time)):
        return obj.isoformat()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _describe(point: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in point.items())


def plan_sweep(path: str | Path) -> SweepPlan:
    """Read, validate and expand a sweep file. Raises ScenarioError (``file: key: reason``)."""
    path = Path(path)
    source = str(path)
    if path.suffix != ".toml":
        if not path.exists():
            raise ScenarioError(f"{path}: file not found")
        raise ScenarioError(f"{path}: not a TOML file (expected a .toml sweep file)")
    raw = _read_toml(path)
    data = dict(raw)
    for key in ("set", "derived"):
        if isinstance(data.get(key), dict):
            data[key] = _flatten(data[key])
    if isinstance(data.get("parameters"), dict):
        data["parameters"] = _flatten(data["parameters"], stop=_is_range)
    try:
        spec = SweepFile.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(exc, source)) from None

    base_path = (path.parent / spec.base)
    base = load_scenario(base_path)
    base_dict = base.to_dict()
    for key in spec.set:
        if _lookup(base_dict, key) is _MISSING:
            raise ScenarioError(f"{source}: set.{key}: unknown scenario key")
    if spec.set:
        from sn_sim.scenario import apply_overrides

        apply_overrides(base_dict, spec.set, source=f"{source}: set")
        base = validate(base_dict, source=f"{source}: set")
        base_dict = base.to_dict()

    grid = spec.design.method == "grid"
    params = [_parse_parameter(k, v, base_dict, source, grid) for k, v in spec.parameters.items()]
    keys = [p.key for p in params]
    derived: dict[str, Expression] = {}
    kinds = {}
    for key, text in spec.derived.items():
        where = f"{source}: derived.{key}"
        current = _lookup(base_dict, key)
        if current is _MISSING:
            raise ScenarioError(f"{where}: unknown scenario key")
        if key in spec.parameters:
            raise ScenarioError(f"{where}: is also a swept parameter")
        if _kind(current) not in ("float", "int"):
            raise ScenarioError(f"{where}: a derived parameter must be numeric (the scenario's value is {current!r})")
        kinds[key] = _kind(current)
        derived[key] = Expression(str(text), set(keys), where)

    # Design -> points.
    d = spec.design
    design: dict[str, Any] = {"method": d.method, "samples": d.samples, "second_order": d.second_order,
                              "levels": d.levels, "seed": spec.seed}
    if grid:
        combos = list(itertools.product(*[p.grid() for p in params]))
        points = [dict(zip(keys, c)) for c in combos]
        design["problem"] = None
        design["X"] = None
    else:
        problem, X = _design_matrix(d.method, params, d, spec.seed)
        points = [{p.key: p.from_design(x) for p, x in zip(params, row)} for row in X]
        design["problem"] = problem
        design["X"] = X.tolist()
    for pt in points:
        values = dict(pt)
        for key, expr in derived.items():
            try:
                pt[key] = _coerce(float(expr(values)), kinds[key])
            except (ZeroDivisionError, OverflowError, ValueError, TypeError) as exc:
                raise ScenarioError(f"{source}: derived.{key}: cannot evaluate at {_describe(values)} ({exc})") from None

    # Every point must be a valid scenario before anything is written.
    scenarios = []
    for i, pt in enumerate(points):
        try:
            sc = base.with_overrides(pt)
        except ScenarioError as exc:
            reason = str(exc)
            if reason.startswith("--set: "):
                reason = reason[len("--set: "):]
            raise ScenarioError(f"{source}: point {i} ({_describe(pt)}): {reason}") from None
        scenarios.append(sc.to_dict())

    runs = []
    for i in range(len(points)):
        s = point_seed(spec.seed, i, spec.random_numbers)
        for r in range(spec.replicates):
            runs.append({"run": len(runs), "point": i, "replicate": r, "seed": s})

    post_start = spec.outputs.post_start or summaries.post_start_for(base)
    resolved = _json_safe(spec.model_dump())
    resolved["name"] = spec.name or path.stem
    resolved["base"] = str(base_path.resolve())
    plan = SweepPlan(source=source, name=resolved["name"], spec=resolved, base=base, parameters=keys,
                     derived=list(derived), points=[_json_safe(p) for p in points], scenarios=scenarios, runs=runs,
                     outputs=spec.outputs.summaries or summaries.summary_names(), panel=spec.outputs.panel,
                     post_start=post_start, design=_json_safe(design))
    plan.fingerprint = _fingerprint(plan)
    return plan


def _fingerprint(plan: SweepPlan) -> str:
    """What must not change between a sweep and its resumption (file locations may)."""
    blob = json.dumps({"base": plan.base.digest(), "points": plan.points, "runs": plan.runs,
                       "outputs": plan.outputs, "panel": plan.panel, "post_start": plan.post_start.isoformat(),
                       "design": plan.design}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def plan_from_manifest(directory: str | Path) -> SweepPlan:
    """Rebuild the plan of an existing sweep directory (to resume it without its sweep file)."""
    directory = Path(directory)
    m = read_manifest(directory)
    base = validate(m["base_scenario"], source=f"{directory / MANIFEST}: base_scenario")
    points = [{k: v for k, v in p.items() if k != "point"} for p in m["points"]]
    scenarios = [base.with_overrides(p).to_dict() for p in points]
    plan = SweepPlan(source=m.get("sweep_file", ""), name=m["name"], spec=m["sweep"], base=base,
                     parameters=m["parameters"], derived=m["derived"], points=points, scenarios=scenarios,
                     runs=m["runs"], outputs=m["outputs"]["summaries"], panel=m["outputs"]["panel"],
                     post_start=dt.date.fromisoformat(m["outputs"]["post_start"]), design=m["design"])
    plan.fingerprint = _fingerprint(plan)
    return plan


# --- The sweep directory ----------------------------------------------------------------------


def read_manifest(directory: str | Path) -> dict:
    directory = Path(directory)
    path = directory / MANIFEST
    try:
        m = json.loads(path.read_text())
    except FileNotFoundError:
        raise OutputError(f"{directory}: not a sweep directory (no {MANIFEST})") from None
    except (OSError, ValueError) as exc:
        raise OutputError(f"{path}: cannot read ({type(exc).__name__})") from None
    if m.get("kind") != "sn_sim.sweep":
        raise OutputError(f"{path}: not a sweep manifest")
    return m


def _run_ids(folder: Path, suffix: str) -> set[int]:
    if not folder.is_dir():
        return set()
    ids = set()
    for entry in os.scandir(folder):
        m = _RUN_RE.match(entry.name)
        if m and m.group(2) == suffix:
            ids.add(int(m.group(1)))
    return ids


def finished_runs(directory: str | Path) -> set[int]:
    return _run_ids(Path(directory) / "runs", "parquet")


def failed_runs(directory: str | Path) -> set[int]:
    """Runs whose last attempt raised (and that have not finished since)."""
    d = Path(directory)
    return _run_ids(d / "failures", "json") - finished_runs(d)


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _clean_temporaries(directory: Path) -> None:
    for sub in ("runs", "panels", "failures"):
        folder = directory / sub
        if folder.is_dir():
            for entry in folder.glob(".*.tmp-*"):
                entry.unlink(missing_ok=True)


def _prepare_directory(out: Path, plan: SweepPlan, resume: bool, force: bool, make_parent: bool = False) -> str:
    """Check what may be done with ``out``: 'create', 'replace' or 'resume'. Writes nothing."""
    if out.exists():
        if not out.is_dir():
            raise OutputError(f"{out}: --out: exists and is not a directory")
        is_sweep = (out / MANIFEST).exists()
        if resume:
            m = read_manifest(out)
            if m.get("fingerprint") != plan.fingerprint:
                raise OutputError(f"{out}: --resume: the sweep file or base scenario changed since this sweep "
                                  f"started (use --force to start over)")
            return "resume"
        if force:
            if not is_sweep and any(out.iterdir()):
                raise OutputError(f"{out}: --force: not a sweep directory; refusing to replace it")
            return "replace"
        raise OutputError(f"{out}: --out: already exists (use --resume to continue it or --force to start over)")
    parent = out.parent if str(out.parent) else Path(".")
    if make_parent and not parent.exists():
        return "create"  # the default sweeps/ folder is made once everything is checked
    if not parent.exists():
        raise OutputError(f"{out}: --out: parent directory {parent} does not exist")
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise OutputError(f"{out}: --out: parent directory {parent} is not writable")
    return "create"


def _create_directory(out: Path, plan: SweepPlan) -> None:
    parent = out.parent if str(out.parent) else Path(".")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    try:
        for sub in ("runs", "failures") + (("panels",) if plan.panel else ()):
            (tmp / sub).mkdir()
        (tmp / MANIFEST).write_text(json.dumps(plan.manifest(), indent=1, default=str))
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@dataclass
class SweepResult:
    """What one call of :func:`run_sweep` did."""

    directory: Path
    runs_total: int
    skipped: int  # already finished before this call
    done: int = 0  # finished in this call
    failed: int = 0  # raised in this call
    wall_s: float = 0.0
    run_s: float = 0.0  # sum of the runs' own time, measured in the workers
    executor: str = ""
    workers: int = 1
    failures: list[int] = field(default_factory=list)

    @property
    def overhead(self) -> float:
        """Share of the workers' wall time not spent inside runs: 1 - run time / (wall time x workers)."""
        if self.wall_s <= 0 or not (self.done + self.failed):
            return float("nan")
        return 1.0 - self.run_s / (self.wall_s * self.workers)

    @property
    def runs_per_minute(self) -> float:
        return 60.0 * (self.done + self.failed) / self.wall_s if self.wall_s > 0 else float("nan")

    def frame(self):
        return load_sweep(self.directory)


def run_sweep(sweep: str | Path | SweepPlan, out: str | Path | None = None, *, workers: int | None = None,
              scheduler: str | None = None, resume: bool = False, force: bool = False, progress: bool = True,
              executor=None) -> SweepResult:
    """Run (or resume) a sweep. Returns counts and timings; results are in the directory.

    sweep : a sweep file, a SweepPlan, or (with resume) an existing sweep directory
    out : sweep directory (default ``sweeps/<name>``)
    workers : local processes (default all cores; 1 = in this process)
    scheduler : ``tcp://HOST:PORT`` of a Dask scheduler (instead of the local pool)
    resume : continue an existing directory: run only runs without a result (failed ones again)
    force : replace an existing sweep directory
    executor : an Executor to use instead of building one (e.g. a DaskExecutor on your Client)
    """
    from tqdm import tqdm

    from sn_sim.experiment.executors import make_executor

    if isinstance(sweep, SweepPlan):
        plan = sweep
    elif Path(sweep).is_dir():
        if not resume:
            raise OutputError(f"{sweep}: is a sweep directory; pass its sweep file, or --resume to continue it")
        plan = plan_from_manifest(sweep)
        out = out or sweep
    else:
        plan = plan_sweep(sweep)
    default_out = out is None
    out = Path(out) if out is not None else Path("sweeps") / plan.name
    mode = _prepare_directory(out, plan, resume, force, make_parent=default_out)
    own = executor is None
    if own:
        executor = make_executor(workers, scheduler)  # connection problems surface before writing
    try:
        if default_out:
            out.parent.mkdir(parents=True, exist_ok=True)
        if mode == "replace":
            shutil.rmtree(out)
        if mode in ("create", "replace"):
            _create_directory(out, plan)
        if plan.panel:
            (out / "panels").mkdir(exist_ok=True)
        _clean_temporaries(out)
        done = finished_runs(out)
        todo = [k for k in range(len(plan.runs)) if k not in done]
        result = SweepResult(out, len(plan.runs), skipped=len(done), executor=executor.description,
                             workers=executor.workers)
        t0 = time.perf_counter()
        with tqdm(total=len(plan.runs), initial=len(done), unit="run", desc=plan.name, disable=not progress,
                  dynamic_ncols=True, smoothing=0.1) as bar:
            bar.set_postfix(failed=0)
            tasks = plan.tasks(todo)
            for outcome in executor.run(tasks):
                k = tasks[outcome.index].key
                result.run_s += outcome.seconds
                if outcome.ok:
                    _write_run(out, plan, k, outcome)
                    result.done += 1
                else:
                    _write_failure(out, plan, k, outcome)
                    result.failed += 1
                    result.failures.append(k)
                    bar.set_postfix(failed=result.failed)
                bar.update(1)
        result.wall_s = time.perf_counter() - t0
        result.failures.sort()
        return result
    finally:
        if own:
            executor.close()


def _write_run(out: Path, plan: SweepPlan, k: int, outcome) -> None:
    import pandas as pd

    run = plan.runs[k]
    stem = RUN_FILE.format(k)
    value = outcome.value
    if plan.panel and value.get("panel") is not None:
        panel = value["panel"]
        panel.insert(0, "run", np.int64(k))
        panel.insert(1, "point", np.int64(run["point"]))
        _atomic_write(out / "panels" / f"{stem}.parquet", lambda p: panel.to_parquet(p, index=False))
    row = {"run": k, "point": run["point"], "replicate": run["replicate"], "seed": run["seed"]}
    row.update(plan.points[run["point"]])
    row.update({name: float(value["summary"][name]) for name in plan.outputs})
    row["run_seconds"] = float(outcome.seconds)
    frame = pd.DataFrame([row])
    for c in ("run", "point", "replicate", "seed"):
        frame[c] = frame[c].astype("int64")
    _atomic_write(out / "runs" / f"{stem}.parquet", lambda p: frame.to_parquet(p, index=False))
    (out / "failures" / f"{stem}.json").unlink(missing_ok=True)  # an earlier attempt failed


def _write_failure(out: Path, plan: SweepPlan, k: int, outcome) -> None:
    run = plan.runs[k]
    record = {**run, "parameters": plan.points[run["point"]], "error": outcome.error,
              "traceback": outcome.traceback, "seconds": round(outcome.seconds, 3),
              "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    path = out / "failures" / f"{RUN_FILE.format(k)}.json"
    _atomic_write(path, lambda p: p.write_text(json.dumps(record, indent=1, default=str)))


# --- Reading results --------------------------------------------------------------------------


def load_sweep(directory: str | Path, panel: bool = False):
    """All finished runs of a sweep directory as one DataFrame, sorted by run.

    Columns: run, point, replicate, seed, the swept (and derived) parameters under their
    dotted keys, the summary outputs and run_seconds. With ``panel=True``: the full weekly
    panels of the finished runs (outputs.panel = true) with run, point and the parameters.
    """
    import pandas as pd

    directory = Path(directory)
    m = read_manifest(directory)
    ids = sorted(finished_runs(directory))
    if ids:
        import pyarrow.dataset as ds

        files = [str(directory / "runs" / f"{RUN_FILE.format(k)}.parquet") for k in ids]
        runs = ds.dataset(files, format="parquet").to_table().to_pandas()
        runs = runs.sort_values("run", ignore_index=True)
    else:
        cols = ["run", "point", "replicate", "seed"] + m["parameters"] + m["derived"] + m["outputs"]["summaries"]
        runs = pd.DataFrame(columns=cols + ["run_seconds"])
    if not panel:
        return runs
    if not m["outputs"]["panel"]:
        raise OutputError(f"{directory}: no panels kept (set outputs.panel = true in the sweep file)")
    panels = [pd.read_parquet(directory / "panels" / f"{RUN_FILE.format(k)}.parquet") for k in ids
              if (directory / "panels" / f"{RUN_FILE.format(k)}.parquet").exists()]
    if not panels:
        return pd.DataFrame()
    full = pd.concat(panels, ignore_index=True)
    params = runs[["run"] + m["parameters"] + m["derived"]]
    return full.merge(params, on="run", how="left")


def load_failures(directory: str | Path):
    """Runs whose last attempt failed: run, point, replicate, seed, parameters, error, traceback."""
    import pandas as pd

    directory = Path(directory)
    rows = [json.loads((directory / "failures" / f"{RUN_FILE.format(k)}.json").read_text())
            for k in sorted(failed_runs(directory))]
    return pd.DataFrame(rows, columns=["run", "point", "replicate", "seed", "parameters", "error", "traceback",
                                       "seconds", "time"])


def query(directory: str | Path, sql: str):
    """Run DuckDB SQL over a sweep directory; returns a DataFrame.

    Views: ``runs`` (runs/*.parquet) and, when kept, ``panels`` (panels/*.parquet). Dotted
    parameter columns need double quotes: ``SELECT "strategy.mix.police", avg(trust_police_all)
    FROM runs GROUP BY 1``.
    """
    import duckdb

    directory = Path(directory)
    read_manifest(directory)
    con = duckdb.connect()
    try:
        def view(name, pattern):
            glob = str(directory / name / pattern).replace("'", "''")
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{glob}', union_by_name = true)")

        if finished_runs(directory):
            view("runs", "run-*.parquet")
            if (directory / "panels").is_dir() and any((directory / "panels").glob("run-*.parquet")):
                view("panels", "run-*.parquet")
        else:
            raise SnSimError(f"{directory}: no finished runs to query")
        return con.execute(sql).df()
    finally:
        con.close()
