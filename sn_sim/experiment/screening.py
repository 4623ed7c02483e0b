"""Screen every assumed parameter against the policy answers (issue 14, deliverable 3).

``sn-sim screen SPEC.toml --out DIR`` (or :func:`screen`):

1. collects every parameter whose *value* is assumed -- source kind ``mechanism`` (the work
   supports the mechanism, the value is assumed) or ``assumption`` -- from the schema metadata
   of the base scenario at the calibrated point, each varied over its ``plausible`` range
   (:func:`assumed_parameters`). Left out, each with its reason: parameters a compared scenario
   file sets (the policy under comparison, the calibrated and trend values), parameters without
   a numeric plausible range (switches, labels, dates) and list items (per-district data);
2. runs a Morris screening (SALib trajectories) in which every design point runs the base
   (no intervention) and each pillar scenario on common random numbers, so each point gives
   the paired treated-neighbourhood effects of every pillar on offences, victimisation, trust
   and insecurity, and the ranking of the pillars by their effect on offences (its Kendall
   distance to the ranking at the calibrated point, and whether the best pillar changes);
3. computes Sobol indices (Saltelli sample) over the ``top`` most influential parameters by
   the Morris influence score (mu* divided by the largest mu* of the same output, averaged over
   the outputs), the others held at the calibrated point;
4. writes the tables, figures and a Markdown report (``sensitivity.md``; ``--doc`` also writes
   it to another path with its links adjusted, e.g. docs/sensitivity.md). The statements of
   which conclusions hold across the ranges are computed from the runs
   (:mod:`sn_sim.experiment.screening_report`).

Groups of shares that must sum to 1 (police splits, community splits, program shares) are
renormalised after sampling: a screened share then measures raising that share relative to
the others of its group.

Random numbers: every point and scenario runs ``run_replicate(scenario, seed, r)`` with the
spec's seed and replicates ``r = 0..replicates-1`` (common random numbers across points and
scenarios); the calibrated point runs ``nominal_replicates`` replicates, whose spread gives the
Monte Carlo noise floor the report states. Results do not depend on the executor or on the
number of workers.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from sn_sim.errors import ScenarioError, SnSimError, require_extra
from sn_sim.observe import outcomes
from sn_sim.scenario import Scenario, format_validation_error, load_scenario, read_toml, validate
from sn_sim.scenario.keys import apply_overrides, flatten
from sn_sim.scenario.loading import resolve_chain, scenario_path

from .sweep.design import json_safe
from .sweep.spec import Design, Parameter, _Section

# The outcomes a policy team reads, as treated-neighbourhood effects (pillar minus base on the
# neighbourhoods the pillar treats, replicate by replicate).
EFFECT_OUTCOMES = ("offences_per_1000_year", "victimisation_12m", "trust_police", "insecurity")
RANKING_OUTCOME = "offences_per_1000_year"  # pillars ranked by their effect on it: most negative first
KENDALL = "ranking.kendall_distance"
BEST_CHANGED = "ranking.best_changed"
# Shares that must sum to 1 (schema validators): renormalised after sampling.
SHARE_GROUPS = (("police.split_patrol", "police.split_community_policing", "police.split_intelligence"),
                ("community.split_activities", "community.split_space", "community.split_alcohol"))
ASSUMED_KINDS = ("mechanism", "assumption")
ONLY = "not in the spec's parameters.only"


def effect_column(scenario: str, outcome: str) -> str:
    return f"{scenario}.{outcome}"


# --- The spec file -----------------------------------------------------------------------------


class Morris(_Section):
    trajectories: int = Field(4, ge=2, le=10_000, description="Morris trajectories r (points: r (k + 1))")
    levels: int = Field(4, ge=2, le=100, description="grid levels of each parameter's range")


class Sobol(_Section):
    samples: int = Field(8, ge=2, le=1_000_000, description="Saltelli base samples N, a power of 2 (points: N (top + 2))")
    top: int = Field(10, ge=2, le=100, description="parameters carried over from the Morris screening")

    @field_validator("samples")
    @classmethod
    def _power(cls, v: int) -> int:
        if v & (v - 1):
            raise ValueError(f"must be a power of 2 (got {v})")
        return v


class Selection(_Section):
    only: list[str] = Field(default_factory=list, description="screen only these assumed keys (a quick look, tests)")
    exclude: list[str] = Field(default_factory=list, description="assumed keys not to screen (reported as excluded)")


class ScreenFile(_Section):
    name: str | None = Field(None, description="name (default: the file stem)")
    description: str = ""
    base: str = Field("no_intervention", description="reference scenario: a shipped name or a path relative to the file")
    scenarios: list[str] = Field(description="pillar scenarios compared with the base (shipped names or paths)")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="design sampling and every run's random numbers")
    replicates: int = Field(1, ge=1, le=1000, description="replicates per design point (common random numbers)")
    nominal_replicates: int = Field(3, ge=2, le=1000, description="replicates at the calibrated point (noise floor)")
    set: dict[str, Any] = Field(default_factory=dict, description="overrides of every scenario (e.g. population.scale)")
    morris: Morris = Field(default_factory=Morris)
    sobol: Sobol = Field(default_factory=Sobol)
    parameters: Selection = Field(default_factory=Selection)

    @field_validator("scenarios")
    @classmethod
    def _two(cls, v: list[str]) -> list[str]:
        if len(v) < 2:
            raise ValueError("name at least two pillar scenarios (a ranking needs two)")
        if len(set(v)) != len(v):
            raise ValueError("a scenario is listed twice")
        return v

    @model_validator(mode="after")
    def _base_not_compared(self):
        if self.base in self.scenarios:
            raise ValueError(f"scenarios: lists the base {self.base!r}")
        return self


def read_screen_file(path: Path) -> ScreenFile:
    if path.suffix != ".toml":
        raise ScenarioError(f"{path}: file not found" if not path.exists() else
                            f"{path}: not a TOML file (expected a .toml screening spec)")
    data = dict(read_toml(path))
    if isinstance(data.get("set"), dict):
        data["set"] = flatten(data["set"])
    try:
        return ScreenFile.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(exc, str(path))) from None


# --- Collecting the assumed parameters --------------------------------------------------------


@dataclass
class Assumed:
    """A parameter whose value is assumed, at the calibrated point."""

    key: str
    kind: str  # source kind: mechanism or assumption
    value: Any  # at the calibrated point (the base scenario)
    low: float
    high: float
    unit: str
    description: str
    source: str

    def parameter(self) -> Parameter:
        kind = "int" if isinstance(self.value, int) and not isinstance(self.value, bool) else "float"
        return Parameter(self.key, kind, low=self.low, high=self.high)


def _leaves(model: BaseModel, prefix: str = ""):
    """(dotted key, value, FieldInfo) of every leaf of a scenario; list items as ``key[]``."""
    for name, info in type(model).model_fields.items():
        key, value = f"{prefix}{name}", getattr(model, name)
        if isinstance(value, BaseModel):
            yield from _leaves(value, f"{key}.")
        elif isinstance(value, dict) and value and all(isinstance(v, BaseModel) for v in value.values()):
            for sub, item in value.items():  # programs: one parameter per sector of the scenario
                yield from _leaves(item, f"{key}.{sub}.")
        elif isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
            for sub, sub_value, sub_info in _leaves(value[0], f"{key}[]."):
                yield sub, sub_value, sub_info
        else:
            yield key, value, info


def set_by_files(paths: list[Path]) -> dict[str, str]:
    """Every key a file of the scenarios' ``extends`` chains sets -> the first file setting it."""
    out: dict[str, str] = {}
    for path in paths:
        _, chain = resolve_chain(path)
        for f in chain:
            data = dict(read_toml(f))
            for k in ("extends", "name", "description"):
                data.pop(k, None)
            for key in flatten(data):
                out.setdefault(key, f.name if f.parent.name != "parameters" else f"parameters/{f.name}")
    return out


def assumed_parameters(base: Scenario, fixed: dict[str, str] | None = None, only=(), exclude=()
                       ) -> tuple[list[Assumed], pd.DataFrame]:
    """The assumed parameters to screen, and a table of every assumed parameter left out with its
    reason. ``fixed``: keys set elsewhere (by a scenario file or the spec) -> by what."""
    fixed = fixed or {}
    chosen, left = [], []
    for key, value, info in _leaves(base):
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        kind = extra.get("source_kind")
        if kind not in ASSUMED_KINDS:
            continue
        band = extra.get("plausible")
        why = None
        if "[]" in key:
            why = "per-item scenario data (a list of tables), not one value"
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not band:
            why = "no numeric plausible range (a switch, label or date)"
        elif key in fixed:
            why = f"set by {fixed[key]}"
        elif key in exclude:
            why = "excluded by the spec"
        elif only and key not in only:
            why = ONLY
        if why:
            left.append({"parameter": key, "kind": kind, "reason": why})
            continue
        chosen.append(Assumed(key, kind, value, float(band[0]), float(band[1]), extra.get("unit", ""),
                              info.description or "", extra.get("source", "")))
    return chosen, pd.DataFrame(left, columns=["parameter", "kind", "reason"])


def share_groups(base: Scenario) -> list[tuple[str, ...]]:
    """Groups of keys that must sum to 1 (program shares per sector of the base, the splits)."""
    return [*SHARE_GROUPS, tuple(f"programs.{s}.share" for s in base.programs)]


def _renormalise(values: dict[str, Any], base_dict: dict, groups) -> dict[str, Any]:
    """Point values with every touched share group rescaled to sum to 1."""
    from sn_sim.scenario.keys import get_key

    out = dict(values)
    for group in groups:
        if not any(k in values for k in group):
            continue
        shares = {k: float(values.get(k, get_key(base_dict, k))) for k in group}
        total = sum(shares.values())
        out.update({k: v / total for k, v in shares.items()})
    return out


# --- Planning ----------------------------------------------------------------------------------


@dataclass
class ScreenPlan:
    source: str
    name: str
    spec: ScreenFile
    base: Scenario  # the calibrated point, with the spec's [set]
    scenarios: list[Scenario]  # base first, then the pillars
    names: list[str]
    parameters: list[Assumed]
    excluded: pd.DataFrame
    groups: list[tuple[str, ...]]
    post_start: dt.date
    fingerprint: str = ""

    @property
    def pillars(self) -> list[str]:
        return self.names[1:]

    def outputs(self) -> list[str]:
        return [effect_column(p, o) for p in self.pillars for o in EFFECT_OUTCOMES] + [KENDALL, BEST_CHANGED]

    def scenario_dicts(self, values: dict[str, Any]) -> list[dict]:
        """Every compared scenario (as dicts) with one point's parameter values, validated."""
        values = _renormalise(values, self.scenarios[0].to_dict(), self.groups)
        out = []
        for name, s in zip(self.names, self.scenarios):
            d = s.to_dict()
            apply_overrides(d, values, source=f"{self.source}: point")
            out.append(validate(d, source=f"{self.source}: {name} at a design point").to_dict())
        return out


def _load(spec_path: Path, name: str, fixed: dict) -> tuple[Scenario, Path]:
    local = spec_path.parent / name
    path = scenario_path(local if local.exists() else name)
    return load_scenario(path, fixed or None), path


def plan_screen(path: str | Path) -> ScreenPlan:
    """Read and check a screening spec: scenarios, comparability, the assumed parameters."""
    from .compare import _unique_names, check_comparable

    path = Path(path)
    spec = read_screen_file(path)
    loaded = [_load(path, n, spec.set) for n in [spec.base, *spec.scenarios]]
    scs = [s for s, _ in loaded]
    check_comparable(scs, [spec.base, *spec.scenarios])
    fixed = set_by_files([p for _, p in loaded])
    fixed.update({k: f"the spec's [set] ({path.name})" for k in spec.set})
    params, excluded = assumed_parameters(scs[0], fixed, spec.parameters.only, spec.parameters.exclude)
    known = {k for k, _, _ in _leaves(scs[0])}
    for key in [*spec.parameters.only, *spec.parameters.exclude]:
        if key not in known:
            raise ScenarioError(f"{path}: parameters: unknown scenario key {key!r}")
    unscreenable = [k for k in spec.parameters.only if k not in {p.key for p in params}]
    if unscreenable:
        why = excluded.set_index("parameter")["reason"].get(unscreenable[0], "its value is taken from a source")
        raise ScenarioError(f"{path}: parameters.only: {unscreenable[0]} cannot be screened ({why})")
    if len(params) < 2:
        raise ScenarioError(f"{path}: parameters: fewer than two assumed parameters to screen")
    if spec.sobol.top > len(params):
        raise ScenarioError(f"{path}: sobol.top: {spec.sobol.top} is more than the {len(params)} screened parameters")
    if not all(s.strategy.rollout for s in scs[1:]):
        raise ScenarioError(f"{path}: scenarios: every pillar scenario must treat neighbourhoods (a rollout)")
    plan = ScreenPlan(source=str(path), name=spec.name or path.stem, spec=spec, base=scs[0], scenarios=scs,
                      names=_unique_names(scs), parameters=params, excluded=excluded, groups=share_groups(scs[0]),
                      post_start=outcomes.post_start_for(*scs))
    for corner in ("low", "high"):  # the corners validate before anything runs
        plan.scenario_dicts({p.key: p.parameter().from_design(getattr(p, corner)) for p in params})
    from sn_sim.experiment.sweep.design import check_run_limit

    check_run_limit(str(path), morris_points(plan) + plan.spec.nominal_replicates, len(plan.scenarios) * spec.replicates)
    return plan


def morris_points(plan: ScreenPlan) -> int:
    return plan.spec.morris.trajectories * (len(plan.parameters) + 1)


def sobol_points(plan: ScreenPlan) -> int:
    return plan.spec.sobol.samples * (plan.spec.sobol.top + 2)


# --- Running -----------------------------------------------------------------------------------


@dataclass
class Stage:
    """One design's points and per-point outputs."""

    method: str
    problem: dict
    X: np.ndarray
    values: pd.DataFrame  # parameter values per point
    outputs: pd.DataFrame  # per point: the mean over replicates of each output
    runs: int
    wall_s: float


def _effects(totals: list, names: list[str]) -> dict[str, float]:
    """Treated-neighbourhood effects of each pillar against the base, one replicate."""
    base = totals[0]
    out = {}
    for name, t in zip(names[1:], totals[1:]):
        mask = t["treated"].to_numpy()
        own = outcomes.summarise_totals(t, mask, EFFECT_OUTCOMES)
        ref = outcomes.summarise_totals(base, mask, EFFECT_OUTCOMES)
        out.update({effect_column(name, o): own[o] - ref[o] for o in EFFECT_OUTCOMES})
    return out


def ranking(effects: dict[str, float], pillars: list[str]) -> list[str]:
    """Pillars from the largest fall in offences to the smallest (ties: the listed order)."""
    return sorted(pillars, key=lambda p: (effects[effect_column(p, RANKING_OUTCOME)], pillars.index(p)))


def kendall_distance(a: list[str], b: list[str]) -> int:
    """Pairs of items the two rankings order differently (0: same order; n(n-1)/2: reversed)."""
    pos = {x: i for i, x in enumerate(b)}
    return sum(1 for i, j in itertools.combinations(range(len(a)), 2) if pos[a[i]] > pos[a[j]])


def run_points(plan: ScreenPlan, points: list[dict[str, Any]], replicates: int, executor, progress: bool,
               what: str) -> list[list[dict[str, float]]]:
    """Run every compared scenario at every point (replicates 0..n-1, common random numbers);
    per point, per replicate, the pillars' effects."""
    from tqdm import tqdm

    from sn_sim.experiment.executors import RunTask

    n_sc = len(plan.scenarios)
    tasks = []
    for p, values in enumerate(points):
        for i, d in enumerate(plan.scenario_dicts(values)):
            for r in range(replicates):
                tasks.append(RunTask(scenario=d, seed=plan.spec.seed, replicate=r,
                                     post_start=plan.post_start.isoformat(), kind="totals",
                                     key=(p * n_sc + i) * replicates + r))
    totals: dict[int, Any] = {}
    with tqdm(total=len(tasks), unit="run", desc=what, disable=not progress, dynamic_ncols=True) as bar:
        for o in executor.run(tasks):
            key = tasks[o.index].key
            if not o.ok:
                p, rest = divmod(key, n_sc * replicates)
                raise SnSimError(f"{plan.source}: {what}: {plan.names[rest // replicates]} at point {p} "
                                 f"replicate {rest % replicates} failed: {o.error}")
            totals[key] = o.value["totals"]
            bar.update(1)
    out = []
    for p in range(len(points)):
        out.append([_effects([totals[(p * n_sc + i) * replicates + r] for i in range(n_sc)], plan.names)
                    for r in range(replicates)])
    return out


def point_outputs(per_point: list[list[dict[str, float]]], pillars: list[str], reference: list[str]) -> pd.DataFrame:
    """Per point: mean effects over replicates, then the ranking's distance to ``reference``."""
    rows = []
    for reps in per_point:
        mean = {k: float(np.mean([r[k] for r in reps])) for k in reps[0]}
        order = ranking(mean, pillars)
        mean[KENDALL] = float(kendall_distance(order, reference))
        mean[BEST_CHANGED] = float(order[0] != reference[0])
        rows.append(mean)
    return pd.DataFrame(rows)


def _design(method: str, params: list[Assumed], spec: ScreenFile, seed: int) -> tuple[dict, np.ndarray, pd.DataFrame]:
    from .sweep.design import design_matrix

    if method == "morris":
        d = Design(method="morris", samples=spec.morris.trajectories, levels=spec.morris.levels)
    else:
        d = Design(method="sobol", samples=spec.sobol.samples, second_order=False)
    ps = [a.parameter() for a in params]
    problem, X = design_matrix(method, ps, d, seed)
    values = pd.DataFrame([[p.from_design(x) for p, x in zip(ps, row)] for row in X], columns=[p.key for p in ps])
    return problem, X, values


def _stage(plan, method, params, reference, executor, progress) -> Stage:
    problem, X, values = _design(method, params, plan.spec, plan.spec.seed)
    t0 = time.perf_counter()
    per_point = run_points(plan, values.to_dict("records"), plan.spec.replicates, executor, progress, method)
    wall = time.perf_counter() - t0
    return Stage(method, problem, X, values, point_outputs(per_point, plan.pillars, reference),
                 runs=len(values) * len(plan.scenarios) * plan.spec.replicates, wall_s=wall)


# --- Analysis ----------------------------------------------------------------------------------


def influence(morris: pd.DataFrame) -> pd.Series:
    """Influence score per parameter: mu* over the largest mu* of the same output, averaged over
    the outputs (an output whose mu* are all 0 counts 0); highest first."""
    m = morris.copy()
    top = m.groupby("output")["mu_star"].transform("max")
    m["score"] = np.where(top > 0, m["mu_star"] / top.where(top > 0, 1), 0.0)
    return m.groupby("parameter", sort=False)["score"].mean().sort_values(ascending=False, kind="stable")


@dataclass
class ScreenResult:
    plan: ScreenPlan
    nominal: pd.DataFrame  # the calibrated point: one row per replicate of the pillars' effects
    reference: list[str]  # ranking at the calibrated point
    morris_stage: Stage
    morris: pd.DataFrame  # SALib Morris indices (output, parameter, mu, mu_star, mu_star_conf, sigma)
    scores: pd.Series
    sobol_stage: Stage
    sobol: pd.DataFrame  # SALib Sobol indices over the top parameters
    manifest: dict = field(default_factory=dict)

    @property
    def top(self) -> list[str]:
        return list(self.scores.index[: self.plan.spec.sobol.top])


def screen(path: str | Path, *, workers: int | None = None, scheduler: str | None = None, executor=None,
           progress: bool = False, plan: ScreenPlan | None = None) -> ScreenResult:
    """Run the screening of a spec file; see the module docstring. Save the result with
    :func:`sn_sim.experiment.screening_report.save` (check the output directory first:
    :func:`sn_sim.observe.storage.check_output_dir`, kind "screen")."""
    require_extra("experiments", "SALib", what="screen")
    from sn_sim.api import package_version
    from sn_sim.observe.provenance import provenance

    from .executors import LocalPoolExecutor, default_workers, make_executor
    from .sensitivity import salib_indices

    plan = plan or plan_screen(path)
    own = executor is None
    if own:
        executor = make_executor(None, scheduler) if scheduler else LocalPoolExecutor(workers or default_workers())
        if not scheduler:
            executor.start()
    started = time.perf_counter()
    try:
        t0 = time.perf_counter()
        reps = run_points(plan, [{}], plan.spec.nominal_replicates, executor, progress, "calibrated point")[0]
        nominal_wall = time.perf_counter() - t0
        nominal = pd.DataFrame(reps)
        reference = ranking(nominal.mean().to_dict(), plan.pillars)
        morris_stage = _stage(plan, "morris", plan.parameters, reference, executor, progress)
        outputs = plan.outputs()
        morris = salib_indices("morris", morris_stage.problem, morris_stage.X, morris_stage.outputs, outputs,
                               levels=plan.spec.morris.levels, seed=plan.spec.seed, where=f"{plan.source}: morris")
        scores = influence(morris)
        by_key = {p.key: p for p in plan.parameters}
        top = [by_key[k] for k in scores.index[: plan.spec.sobol.top]]
        sobol_stage = _stage(plan, "sobol", top, reference, executor, progress)
        sobol = salib_indices("sobol", sobol_stage.problem, sobol_stage.X, sobol_stage.outputs, outputs,
                              seed=plan.spec.seed, where=f"{plan.source}: sobol")
    finally:
        if own:
            executor.close()
    runs = nominal.shape[0] * len(plan.scenarios) + morris_stage.runs + sobol_stage.runs
    manifest = {
        "package": "sn_sim", "version": package_version(), "kind": "sn_sim.screen",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "spec": plan.source, "name": plan.name, "settings": json_safe(plan.spec.model_dump()),
        "scenario_names": plan.names, "post_start": plan.post_start.isoformat(),
        "calendar": [plan.base.calendar.start.isoformat(), plan.base.calendar.end.isoformat()],
        "scale": plan.base.population.scale, "executor": type(executor).__name__,
        "workers": getattr(executor, "workers", None),
        "runs": {"calibrated_point": int(nominal.shape[0] * len(plan.scenarios)), "morris": morris_stage.runs,
                 "sobol": sobol_stage.runs, "total": runs},
        "wall_s": {"calibrated_point": round(nominal_wall, 1), "morris": round(morris_stage.wall_s, 1),
                   "sobol": round(sobol_stage.wall_s, 1), "total": round(time.perf_counter() - started, 1)},
        "common_random_numbers": "every scenario at every point runs run_replicate(scenario, seed, r)",
        "scenarios": [{"name": n, "hash": s.digest()} for n, s in zip(plan.names, plan.scenarios)],
        **provenance(),
    }
    return ScreenResult(plan=plan, nominal=nominal, reference=reference, morris_stage=morris_stage, morris=morris,
                        scores=scores, sobol_stage=sobol_stage, sobol=sobol, manifest=manifest)


def assumed_table(params: list[Assumed]) -> pd.DataFrame:
    return pd.DataFrame([{"parameter": p.key, "kind": p.kind, "calibrated": p.value, "low": p.low, "high": p.high,
                          "unit": p.unit, "description": p.description, "source": p.source} for p in params])

