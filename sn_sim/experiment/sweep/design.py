"""From a sweep file to a plan: design matrices, points, their scenarios, runs and seeds.

:func:`plan_sweep` turns a sweep file into a :class:`SweepPlan` -- every point made into a
scenario and validated -- before anything is written; :func:`plan_from_manifest` rebuilds the
plan of an existing sweep directory (to resume it without its sweep file).

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

import datetime as dt
import hashlib
import itertools
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sn_sim import arguments
from sn_sim.errors import ScenarioError, require_extra
from sn_sim.observe import outcomes
from sn_sim.scenario import Scenario, apply_overrides, load_scenario, validate
from sn_sim.scenario.keys import MISSING, get_key
from sn_sim.scenario.schema import toml_text

from .spec import Design, Expression, Parameter, coerce, kind_of, parse_parameter, read_sweep_file


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
        """The manifest.json of this plan's sweep directory."""
        from .directory import manifest

        return manifest(self)


def point_seed(sweep_seed: int, point: int, random_numbers: str) -> int:
    """The seed a point's runs pass to ``run_replicate`` (see module docstring)."""
    if random_numbers == "common":
        return int(sweep_seed)
    state = np.random.SeedSequence([int(sweep_seed), int(point)]).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))  # 63 bits: fits the panel's int64 seed column


def design_size(params: list[Parameter], d: Design) -> int:
    """Points of the design, computed from the sweep file alone (before any matrix or grid exists)."""
    k = len(params)
    if d.method == "grid":
        return math.prod(p.size() for p in params)
    if d.method == "sobol":  # Saltelli: N (k + 2) points, N (2k + 2) with second-order indices
        return d.samples * (2 * k + 2 if d.second_order else k + 2)
    if d.method == "morris":  # N trajectories of k + 1 points
        return d.samples * (k + 1)
    return d.samples  # lhs


def check_run_limit(source: str, points: int, replicates: int) -> None:
    """Refuse a sweep of more runs than the MAX_RUNS limit before anything is built: a mistyped
    range or sample count must not fill the memory while the sweep is being planned."""
    runs = points * replicates
    name, _ = arguments.MAX_RUNS
    most = arguments.limit(arguments.MAX_RUNS)
    if runs <= most:
        return
    if runs < 10**12:
        raise ScenarioError(f"{source}: design: {points:,} points x {replicates:,} replicates = {runs:,} runs, "
                            f"above the limit of {most:,}; set {name}={runs} to allow it")
    # A step of 1e-300 gives a count of 300 digits: no limit to raise, a range to fix.
    raise ScenarioError(f"{source}: design: about {runs:.1e} runs, far above the limit of {most:,}; "
                        "check the ranges' steps and num, and the design's samples")


def design_matrix(method: str, params: list[Parameter], d: Design, seed: int) -> tuple[dict, np.ndarray]:
    """The SALib problem and the sample (rows: points, columns: design coordinates)."""
    if method in ("sobol", "morris"):
        require_extra("experiments", "SALib", what=f"design = \"{method}\"")
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


def json_safe(obj):
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (dt.date, dt.datetime, dt.time)):
        return obj.isoformat()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _describe(point: dict) -> str:
    return ", ".join(f"{k}={toml_text(v)}" for k, v in point.items())


def base_scenario(path: Path, base_name: str, fixed: dict) -> tuple[Scenario, dict]:
    """The base scenario of a sweep or optimisation file (``base``, relative to the file) with its
    ``[set]`` keys applied, and its dict. Unknown keys are errors naming the file."""
    source = str(path)
    base = load_scenario(path.parent / base_name)
    base_dict = base.to_dict()
    for key in fixed:
        if get_key(base_dict, key) is MISSING:
            raise ScenarioError(f"{source}: set.{key}: unknown scenario key")
    if fixed:
        apply_overrides(base_dict, fixed, source=f"{source}: set")
        base = validate(base_dict, source=f"{source}: set")
        base_dict = base.to_dict()
    return base, base_dict


def plan_sweep(path: str | Path) -> SweepPlan:
    """Read, validate and expand a sweep file. Raises ScenarioError (``file: key: reason``)."""
    path = Path(path)
    source = str(path)
    spec = read_sweep_file(path)

    base, base_dict = base_scenario(path, spec.base, spec.set)

    grid = spec.design.method == "grid"
    params = [parse_parameter(k, v, base_dict, source, grid) for k, v in spec.parameters.items()]
    keys = [p.key for p in params]
    derived: dict[str, Expression] = {}
    kinds = {}
    for key, text in spec.derived.items():
        where = f"{source}: derived.{key}"
        current = get_key(base_dict, key)
        if current is MISSING:
            raise ScenarioError(f"{where}: unknown scenario key")
        if key in spec.parameters:
            raise ScenarioError(f"{where}: is also a swept parameter")
        if kind_of(current) not in ("float", "int"):
            raise ScenarioError(f"{where}: a derived parameter must be numeric (the scenario's value is {current!r})")
        kinds[key] = kind_of(current)
        derived[key] = Expression(str(text), set(keys), where)

    # Design -> points.
    d = spec.design
    check_run_limit(source, design_size(params, d), spec.replicates)
    design: dict[str, Any] = {"method": d.method, "samples": d.samples, "second_order": d.second_order,
                              "levels": d.levels, "seed": spec.seed}
    if grid:
        points = [dict(zip(keys, c)) for c in itertools.product(*[p.grid() for p in params])]
        design["problem"] = None
        design["X"] = None
    else:
        problem, X = design_matrix(d.method, params, d, spec.seed)
        points = [{p.key: p.from_design(x) for p, x in zip(params, row)} for row in X]
        design["problem"] = problem
        design["X"] = X.tolist()
    for pt in points:
        values = dict(pt)
        for key, expr in derived.items():
            try:
                pt[key] = coerce(float(expr(values)), kinds[key])
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

    post_start = spec.outputs.post_start or outcomes.post_start_for(base)
    resolved = json_safe(spec.model_dump())
    resolved["name"] = spec.name or path.stem
    resolved["base"] = str((path.parent / spec.base).resolve())
    plan = SweepPlan(source=source, name=resolved["name"], spec=resolved, base=base, parameters=keys,
                     derived=list(derived), points=[json_safe(p) for p in points], scenarios=scenarios, runs=runs,
                     outputs=spec.outputs.summaries or outcomes.summary_names(), panel=spec.outputs.panel,
                     post_start=post_start, design=json_safe(design))
    plan.fingerprint = fingerprint(plan)
    return plan


def fingerprint(plan: SweepPlan) -> str:
    """What must not change between a sweep and its resumption (file locations may)."""
    blob = json.dumps({"base": plan.base.digest(), "points": plan.points, "runs": plan.runs,
                       "outputs": plan.outputs, "panel": plan.panel, "post_start": plan.post_start.isoformat(),
                       "design": plan.design}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def plan_from_manifest(directory: str | Path) -> SweepPlan:
    """Rebuild the plan of an existing sweep directory (to resume it without its sweep file)."""
    from .directory import MANIFEST, read_manifest

    directory = Path(directory)
    m = read_manifest(directory)
    base = validate(m["base_scenario"], source=f"{directory / MANIFEST}: base_scenario")
    points = [{k: v for k, v in p.items() if k != "point"} for p in m["points"]]
    scenarios = [base.with_overrides(p).to_dict() for p in points]
    plan = SweepPlan(source=m.get("sweep_file", ""), name=m["name"], spec=m["sweep"], base=base,
                     parameters=m["parameters"], derived=m["derived"], points=points, scenarios=scenarios,
                     runs=m["runs"], outputs=m["outputs"]["summaries"], panel=m["outputs"]["panel"],
                     post_start=dt.date.fromisoformat(m["outputs"]["post_start"]), design=m["design"])
    plan.fingerprint = fingerprint(plan)
    return plan
