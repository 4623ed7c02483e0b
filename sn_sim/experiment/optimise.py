"""Mix optimisation under uncertainty: a Pareto front of levers over several objectives.

An optimisation file (TOML) names a base scenario, the **levers** to search (pillar shares,
officers, hot-zone share, ... as ranges or lists of values; keys that must keep a sum move with
them through ``[derived]``, as in a sweep file), the **uncertainties** (ranges of uncertain
parameters), the **objectives** (summary columns to minimise or maximise) and a budget of
candidates. Every candidate is evaluated on the same set of *worlds*: ``uncertainty_samples``
points of a Latin hypercube over the uncertainties, each run for ``replicates`` replicates on
common random numbers. An objective's value is its mean over the worlds, reported with a 95%
interval (t interval over the worlds). That is robust decision making in the sense of EMA
Workbench's MORDM: a candidate is judged across uncertain futures, not in one.

The search is Optuna's NSGA-II (multi-objective genetic algorithm, Deb et al. 2002); see
docs/experiments.md for why Optuna rather than EMA Workbench's own optimiser. Each generation
(``population`` candidates) is one batch of run tasks on the experiment executors (local pool or
Dask), so a generation runs in parallel. The study is stored in an Optuna journal file in the
output directory after every candidate: ``--resume`` continues an interrupted optimisation
(candidates in flight are evaluated again), and the tables are rebuilt from the journal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, field_validator

from sn_sim.errors import OutputError, ScenarioError, SnSimError, require_extra
from sn_sim.experiment.sweep.spec import (
    Expression, Parameter, _Section, coerce, kind_of, parse_parameter,
)
from sn_sim.observe import outcomes as registry
from sn_sim.scenario import format_validation_error, read_toml, validate
from sn_sim.scenario.keys import MISSING, apply_overrides, flatten, get_key, set_key
from sn_sim.scenario.schema import Date

EXTRA = "experiments"
JOURNAL = "study.journal"
MANIFEST = "manifest.json"
MAX_RUNS = 1_000_000


class OptimiseFile(_Section):
    name: str | None = Field(None, description="name (default: file stem); the default output is optimise/<name>")
    description: str = ""
    base: str = Field(description="base scenario TOML, relative to the optimisation file")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="seed of the search, the uncertainty sample and every run")
    trials: int = Field(ge=1, le=100_000, description="candidates to evaluate in all")
    population: int = Field(8, ge=2, le=10_000, description="NSGA-II population: candidates per generation")
    replicates: int = Field(2, ge=1, le=1000, description="replicates per world")
    uncertainty_samples: int = Field(1, ge=1, le=10_000, description="Latin hypercube points over the uncertainties")
    calibrated_uncertainty: bool = Field(False, description="also draw the calibrated free parameters from their "
                                         "approximate posterior (scenarios/parameters/calibrated_uncertainty.toml), "
                                         "one draw per world")
    set: dict[str, Any] = Field(default_factory=dict, description="fixed overrides applied to the base scenario")
    levers: dict[str, Any] = Field(description="dotted key -> list of values or {min, max}: what the search sets")
    uncertainties: dict[str, Any] = Field(default_factory=dict, description="dotted key -> {min, max}: what it does not")
    derived: dict[str, str] = Field(default_factory=dict, description="dotted key -> arithmetic of levers and uncertainties")
    objectives: dict[str, Literal["minimize", "maximize"]] = Field(description="summary column -> minimize or maximize")
    post_start: Date | None = Field(None, description="start of the post period (default: first launch of the base)")

    @field_validator("levers", "objectives")
    @classmethod
    def _some(cls, v):
        if not v:
            raise ValueError("empty")
        return v

    @field_validator("objectives")
    @classmethod
    def _known(cls, v):
        known = registry.summary_names()
        for name in v:
            if name not in known:
                raise ValueError(f"unknown summary {name!r} (expected <outcome>_<scope>, e.g. offences_per_1000_year_all)")
        return v


@dataclass
class OptimisePlan:
    """A validated optimisation file: everything needed to evaluate a candidate."""

    source: str
    name: str
    spec: dict
    base: Any  # Scenario, with [set] applied
    levers: list[Parameter]
    uncertainties: list[Parameter]
    derived: dict[str, tuple[Expression, str]]
    worlds: list[dict]  # uncertainty values of each world sample (replicates run on each)
    objectives: dict[str, str]
    post_start: dt.date
    fingerprint: str

    def base_levers(self) -> dict[str, Any] | None:
        """The base scenario's values of the levers, when every one lies in its lever's range."""
        data = self.base.to_dict()
        values = {}
        for p in self.levers:
            v = get_key(data, p.key)
            inside = v in p.values if p.values is not None else p.low <= v <= p.high
            if not inside:
                return None
            values[p.key] = v
        return values

    @property
    def n_worlds(self) -> int:
        return len(self.worlds) * self.spec["replicates"]

    def scenario(self, levers: dict[str, Any], world: dict[str, Any]) -> dict:
        """The resolved scenario (dict) of a candidate in a world; raises ScenarioError."""
        data = self.base.to_dict()
        values = {**levers, **world}
        apply_overrides(data, values, source=self.source)
        for key, (expr, kind) in self.derived.items():
            set_key(data, key, coerce(float(expr(values)), kind), self.source)
        return validate(data, source=f"{self.source}: candidate").to_dict()

    def tasks(self, levers: dict[str, Any], key: int):
        """The RunTasks of one candidate: every world sample x replicate, tagged ``key``.
        Raises ScenarioError when the candidate is not a valid scenario in some world."""
        from sn_sim.experiment.executors import RunTask

        tasks = []
        for world in self.worlds:
            scenario = self.scenario(levers, world)
            for r in range(self.spec["replicates"]):
                tasks.append(RunTask(scenario=scenario, seed=self.spec["seed"], replicate=r,
                                     outputs=tuple(self.objectives), post_start=self.post_start.isoformat(), key=key))
        return tasks


def read_optimise_file(path: Path) -> OptimiseFile:
    if path.suffix != ".toml":
        if not path.exists():
            raise ScenarioError(f"{path}: file not found")
        raise ScenarioError(f"{path}: not a TOML file (expected a .toml optimisation file)")
    data = dict(read_toml(path))
    for key in ("set", "derived"):
        if isinstance(data.get(key), dict):
            data[key] = flatten(data[key])
    for key in ("levers", "uncertainties"):
        if isinstance(data.get(key), dict):
            data[key] = flatten(data[key], stop=lambda v: "min" in v or "max" in v)
    try:
        return OptimiseFile.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(exc, str(path))) from None


def plan_optimisation(path: str | Path) -> OptimisePlan:
    """Read and validate an optimisation file completely (every lever, uncertainty, derived key,
    objective, and the scenario at the corners of the levers in every world) before anything runs."""
    from sn_sim.experiment.sweep.design import base_scenario, json_safe
    from sn_sim.observe.outcomes import post_start_for

    path = Path(path)
    source = str(path)
    spec = read_optimise_file(path)
    base, base_dict = base_scenario(path, spec.base, spec.set)
    levers = [parse_parameter(k, v, base_dict, source, grid=False, section="levers") for k, v in spec.levers.items()]
    uncertain = [parse_parameter(k, v, base_dict, source, grid=False, section="uncertainties")
                 for k, v in spec.uncertainties.items()]
    for p in uncertain:
        if p.values is not None:
            raise ScenarioError(f"{source}: uncertainties.{p.key}: give a range {{min, max}}")
        if p.key in spec.levers:
            raise ScenarioError(f"{source}: uncertainties.{p.key}: is also a lever")
    keys = [p.key for p in levers + uncertain]
    derived = {}
    for key, text in spec.derived.items():
        where = f"{source}: derived.{key}"
        current = get_key(base_dict, key)
        if current is MISSING:
            raise ScenarioError(f"{where}: unknown scenario key")
        if key in keys:
            raise ScenarioError(f"{where}: is also a lever or an uncertainty")
        if kind_of(current) not in ("float", "int"):
            raise ScenarioError(f"{where}: a derived parameter must be numeric (the scenario's value is {current!r})")
        derived[key] = (Expression(str(text), set(keys), where), kind_of(current))
    runs = spec.trials * spec.uncertainty_samples * spec.replicates
    if runs > MAX_RUNS:
        raise ScenarioError(f"{source}: trials x uncertainty_samples x replicates = {runs} runs (at most {MAX_RUNS:,})")
    if uncertain:
        from scipy.stats import qmc

        lo = [p.low for p in uncertain]
        hi = [p.high if p.kind == "float" else p.high + 1 for p in uncertain]
        X = qmc.scale(qmc.LatinHypercube(d=len(uncertain), rng=spec.seed).random(spec.uncertainty_samples), lo, hi)
        worlds = [{p.key: p.from_design(x) for p, x in zip(uncertain, row)} for row in X]
    else:
        if spec.uncertainty_samples != 1 and not spec.calibrated_uncertainty:
            raise ScenarioError(f"{source}: uncertainty_samples: needs [uncertainties] or calibrated_uncertainty "
                                "to sample")
        worlds = [{} for _ in range(spec.uncertainty_samples)]
    posterior_digest = ""
    if spec.calibrated_uncertainty:
        # The calibration's own uncertainty: world i also gets posterior draw i (seeded by the file's seed).
        from sn_sim.scenario.posterior import default_path, load_posterior

        posterior = load_posterior()
        taken = set(keys) | set(derived)
        clash = [k for p in posterior.parameters for k in p.keys if k in taken]
        if clash:
            raise ScenarioError(f"{source}: calibrated_uncertainty: {clash[0]} is also a lever, an uncertainty "
                                "or derived (the posterior draws set it)")
        worlds = [{**w, **d} for w, d in zip(worlds, posterior.draw_overrides(len(worlds), seed=spec.seed))]
        posterior_digest = hashlib.sha256(default_path().read_bytes()).hexdigest()
    spec_dict = json_safe(spec.model_dump())
    plan = OptimisePlan(source=source, name=spec.name or path.stem, spec=spec_dict, base=base, levers=levers,
                        uncertainties=uncertain, derived=derived, worlds=json_safe(worlds),
                        objectives=dict(spec.objectives), post_start=spec.post_start or post_start_for(base),
                        fingerprint="")
    # The corners: every lever at its lowest and its highest value, in every world.
    for corner in (0, 1):
        levers_at = {p.key: _corner(p, corner) for p in levers}
        for world in plan.worlds:
            try:
                plan.scenario(levers_at, world)
            except ScenarioError as exc:
                raise ScenarioError(f"{source}: with every lever at its {'lowest' if corner == 0 else 'highest'} "
                                    f"value: {str(exc).split(': ', 2)[-1]}") from None
            except (ZeroDivisionError, OverflowError, ValueError) as exc:
                raise ScenarioError(f"{source}: derived: cannot evaluate ({exc})") from None
    fingerprinted = {"spec": spec_dict, "base": base.digest()}
    if posterior_digest:
        fingerprinted["posterior"] = posterior_digest
    text = json.dumps(fingerprinted, sort_keys=True, default=str)
    plan.fingerprint = hashlib.sha256(text.encode()).hexdigest()
    return plan


def _corner(p: Parameter, corner: int):
    if p.values is not None:
        return coerce(p.values[0 if corner == 0 else -1], p.kind)
    return coerce(p.low if corner == 0 else p.high, p.kind)


# --- The search -------------------------------------------------------------------------------


def _suggest(trial, p: Parameter):
    if p.values is not None:
        return coerce(trial.suggest_categorical(p.key, [coerce(v, p.kind) for v in p.values]), p.kind)
    if p.kind == "int":
        return trial.suggest_int(p.key, int(p.low), int(p.high))
    return trial.suggest_float(p.key, float(p.low), float(p.high))


def _study(plan: OptimisePlan, out: Path, create: bool):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(out / JOURNAL)))
    sampler = optuna.samplers.NSGAIISampler(population_size=plan.spec["population"], seed=plan.spec["seed"])
    directions = list(plan.objectives.values())
    if create:
        return optuna.create_study(study_name=plan.name, storage=storage, sampler=sampler, directions=directions)
    return optuna.load_study(study_name=plan.name, storage=storage, sampler=sampler)


@dataclass
class OptimiseResult:
    directory: Path
    candidates: pd.DataFrame  # every finished candidate: levers, derived, objectives with intervals, pareto
    pareto: pd.DataFrame
    objectives: dict[str, str]
    evaluated: int  # candidates evaluated in this call
    wall_s: float

    def markdown(self) -> str:
        lines = [f"Pareto front: {len(self.pareto)} distinct mixes among {len(self.candidates)} candidates "
                 f"(mean over the worlds, 95% interval)", ""]
        levers = [c for c in self.pareto.columns if c.startswith("lever:")]
        head = [c.removeprefix("lever:") for c in levers] + [f"{o} ({d[:3]})" for o, d in self.objectives.items()]
        lines += ["| trial | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
        for _, r in self.pareto.iterrows():
            cells = [_fmt(r[c]) for c in levers]
            cells += [f"{_fmt(r[o])} [{_fmt(r[o + '_ci_low'])}, {_fmt(r[o + '_ci_high'])}]" for o in self.objectives]
            lines.append(f"| {int(r['trial'])}{' (base)' if r.get('base') else ''} | " + " | ".join(cells) + " |")
        first = next(iter(self.objectives))
        if f"{first}_vs_base" in self.pareto.columns:
            base = self.candidates[self.candidates["base"]]
            lines += ["", f"Against the base scenario's own mix (trial {int(base['trial'].iloc[0])}), world by world "
                      "and replicate by replicate (common random numbers): difference [95% interval]", "",
                      "| trial | " + " | ".join(self.objectives) + " |", "|---" * (len(self.objectives) + 1) + "|"]
            for _, r in self.pareto.iterrows():
                cells = [f"{_fmt(r[o + '_vs_base'])} [{_fmt(r[o + '_vs_base_ci_low'])}, "
                         f"{_fmt(r[o + '_vs_base_ci_high'])}]" for o in self.objectives]
                lines.append(f"| {int(r['trial'])} | " + " | ".join(cells) + " |")
        else:
            lines += ["", "(The base scenario's mix lies outside the levers' ranges: no paired comparison with it.)"]
        return "\n".join(lines) + "\n"

    def plot(self):
        """The Pareto front as a matplotlib Figure (shown inline in a notebook): every pair of
        objectives, all candidates and the front with 95% intervals; ``plots/pareto.png`` of the
        directory is this figure."""
        return pareto_figure(self)


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "—" if not math.isfinite(v) else f"{v:.4g}"
    return str(v)


def run_optimisation(source: str | Path | OptimisePlan, out: str | Path | None = None, *, workers: int | None = None,
                     scheduler: str | None = None, resume: bool = False, force: bool = False, progress: bool = True,
                     executor=None) -> OptimiseResult:
    """Run (or, with ``resume``, continue) an optimisation into directory ``out``."""
    require_extra(EXTRA, "optuna", what="optimise")
    from sn_sim.observe.storage import output_lock, safe_name

    if isinstance(source, OptimisePlan):
        plan = source
    elif Path(source).is_dir():
        if not resume:
            raise OutputError(f"{source}: is an optimisation directory; pass its file, or --resume to continue it")
        plan = plan_from_directory(Path(source))
        out = out or source
    else:
        plan = plan_optimisation(source)
    out = Path(out) if out is not None else Path("optimise") / safe_name(plan.name)
    with output_lock(out):
        return _run(plan, out, workers, scheduler, resume, force, progress, executor)


def plan_from_directory(directory: Path) -> OptimisePlan:
    m = read_optimise_manifest(directory)
    path = Path(m["file"])
    if not path.is_file():
        raise OutputError(f"{directory}: --resume: its optimisation file {path} is gone; give it again: "
                          f"sn-sim optimise FILE --out {directory} --resume")
    return plan_optimisation(path)


def read_optimise_manifest(directory: Path) -> dict:
    try:
        m = json.loads((Path(directory) / MANIFEST).read_text())
    except FileNotFoundError:
        raise OutputError(f"{directory}: not an optimisation directory (no {MANIFEST})") from None
    except (OSError, ValueError) as exc:
        raise OutputError(f"{directory / MANIFEST}: cannot read ({type(exc).__name__})") from None
    if not isinstance(m, dict) or m.get("kind") != "sn_sim.optimise":
        raise OutputError(f"{directory / MANIFEST}: not an optimisation manifest")
    return m


def _manifest(plan: OptimisePlan) -> dict:
    from sn_sim.api import package_version
    from sn_sim.observe.provenance import provenance

    return {
        "kind": "sn_sim.optimise", "package": "sn_sim", "version": package_version(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "file": str(Path(plan.source).resolve()), "name": plan.name, "spec": plan.spec,
        "base_scenario": plan.base.to_dict(), "base_scenario_hash": plan.base.digest(),
        "worlds": plan.worlds, "replicates": plan.spec["replicates"], "post_start": plan.post_start.isoformat(),
        "objectives": plan.objectives, "fingerprint": plan.fingerprint,
        "search": "optuna NSGAIISampler(population_size, seed); study in study.journal",
        "seeds": "every candidate runs replicates 0..replicates-1 of the seed in every world (common random numbers)",
        **provenance(),
    }


def _prepare(plan: OptimisePlan, out: Path, resume: bool, force: bool) -> str:
    from sn_sim.observe.storage import check_output_dir

    if not out.exists():
        check_output_dir(out, force=False, kind="optimise")
        return "create"
    if resume:
        m = read_optimise_manifest(out)
        if m.get("fingerprint") != plan.fingerprint:
            raise OutputError(f"{out}: --resume: the optimisation file or base scenario changed since it started "
                              "(use --force to start over)")
        return "resume"
    if force:
        check_output_dir(out, force=True, kind="optimise")
        return "create"
    raise OutputError(f"{out}: --out: already exists (use --resume to continue it or --force to start over)")


def _run(plan, out, workers, scheduler, resume, force, progress, executor) -> OptimiseResult:
    import optuna
    from tqdm import tqdm

    from sn_sim.experiment.executors import make_executor
    from sn_sim.observe.storage import staged_directory

    mode = _prepare(plan, out, resume, force)
    own = executor is None
    if own:
        executor = make_executor(workers, scheduler)
    try:
        if mode == "create":
            with staged_directory(out, "optimise") as tmp:
                (tmp / MANIFEST).write_text(json.dumps(_manifest(plan), indent=1, default=str))
                study = _study(plan, tmp, create=True)
                base = plan.base_levers()
                if base is not None:  # the base scenario's own mix first: what every candidate is compared with
                    study.enqueue_trial(base, user_attrs={"base": True})
        study = _study(plan, out, create=False)
        # Candidates in flight when an earlier call stopped are evaluated again, first.
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            study.tell(t.number, state=optuna.trial.TrialState.FAIL)
            study.enqueue_trial(t.params, user_attrs={**t.user_attrs, "retry_of": t.number})
        t0 = time.perf_counter()
        evaluated = 0
        total = plan.spec["trials"]
        done = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
        # Progress in runs (a candidate is n_worlds runs; one met before counts as run at once).
        with tqdm(total=total * plan.n_worlds, initial=done * plan.n_worlds, unit="run", desc=plan.name,
                  disable=not progress, dynamic_ncols=True) as bar:
            while done < total:
                batch = min(plan.spec["population"], total - done)
                trials = [study.ask() for _ in range(batch)]
                candidates = [{p.key: _suggest(t, p) for p in plan.levers} for t in trials]
                # A candidate met before (NSGA-II proposes some twice) has the same results: the
                # same worlds and seeds. Only new ones are simulated.
                seen = _evaluated(study)
                worlds: list[list] = [list(seen.get(_levers_key(c), [])) for c in candidates]
                errors: list[str | None] = [None] * batch
                tasks = []
                owner: dict[str, int] = {}  # the first of identical candidates in this generation runs
                for i, c in enumerate(candidates):
                    if _levers_key(c) in seen or owner.setdefault(_levers_key(c), i) != i:
                        bar.update(plan.n_worlds)
                        continue
                    try:
                        tasks += plan.tasks(c, key=i)
                    except (ScenarioError, ZeroDivisionError, OverflowError, ValueError) as exc:
                        errors[i] = f"not a valid scenario: {exc}"  # e.g. derived shares out of range
                first = {}  # candidate -> position of its first task (tasks are world-major, replicate-minor)
                for k, task in enumerate(tasks):
                    first.setdefault(task.key, k)
                for outcome in executor.run(tasks):
                    bar.update(1)
                    i = tasks[outcome.index].key
                    world, replicate = divmod(outcome.index - first[i], plan.spec["replicates"])
                    if outcome.ok:
                        worlds[i].append({"world": world, "replicate": replicate,
                                          **{o: float(outcome.value["summary"][o]) for o in plan.objectives}})
                    else:
                        errors[i] = outcome.error
                for i, c in enumerate(candidates):
                    j = owner.get(_levers_key(c), i)
                    if j != i:
                        worlds[i], errors[i] = list(worlds[j]), errors[j]
                for i, t in enumerate(trials):
                    if errors[i] is not None or len(worlds[i]) != plan.n_worlds:
                        t.set_user_attr("error", errors[i] or "missing results")
                        study.tell(t, state=optuna.trial.TrialState.FAIL)
                        print(f"sn-sim: candidate {t.number} failed: {errors[i]}", file=sys.stderr)
                        continue
                    worlds[i].sort(key=lambda w: (w["world"], w["replicate"]))  # paired with every other candidate
                    frame = pd.DataFrame(worlds[i])
                    t.set_user_attr("worlds", worlds[i])
                    values = [float(frame[o].mean()) for o in plan.objectives]
                    if not all(math.isfinite(v) for v in values):
                        t.set_user_attr("error", "an objective is NaN (e.g. a treated-scope output where nothing is treated)")
                        study.tell(t, state=optuna.trial.TrialState.FAIL)
                        continue
                    study.tell(t, values)
                    done += 1
                    evaluated += 1
                if all(e is not None for e in errors):
                    raise SnSimError(f"every candidate of a generation failed (first: {errors[0]}); "
                                     f"the failures are in {out / JOURNAL}")
        result = _tables(plan, study, out, evaluated, time.perf_counter() - t0)
        _write_outputs(plan, result, out)
        return result
    finally:
        if own:
            executor.close()


def _levers_key(levers: dict[str, Any]) -> str:
    return json.dumps(levers, sort_keys=True)


def _evaluated(study) -> dict[str, list]:
    """Lever values (as a key) -> world results of every finished candidate."""
    import optuna

    return {_levers_key(t.params): t.user_attrs["worlds"]
            for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))}


def _tables(plan: OptimisePlan, study, out: Path, evaluated: int, wall: float) -> OptimiseResult:
    import optuna
    from scipy import stats

    rows = []
    pareto_ids = {t.number for t in study.best_trials}
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    base = next((pd.DataFrame(t.user_attrs["worlds"]) for t in complete if t.user_attrs.get("base")), None)

    def interval(values: pd.Series) -> tuple[float, float, float]:
        n = len(values)
        mean = float(values.mean())
        sd = float(values.std(ddof=1)) if n > 1 else float("nan")
        half = float(stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)) if n > 1 else float("nan")
        return mean, sd, half

    for t in complete:
        frame = pd.DataFrame(t.user_attrs["worlds"])
        levers = {p.key: t.params[p.key] for p in plan.levers}
        row = {"trial": t.number, "pareto": t.number in pareto_ids}
        row.update({f"lever:{k}": v for k, v in levers.items()})
        if plan.derived:
            values = {**levers, **plan.worlds[0]}
            for key, (expr, kind) in plan.derived.items():
                if all(name in levers for name in expr.names):
                    row[f"derived:{key}"] = coerce(float(expr(values)), kind)
        row["base"] = bool(t.user_attrs.get("base"))
        for o in plan.objectives:
            mean, sd, half = interval(frame[o])
            row.update({o: mean, f"{o}_ci_low": mean - half, f"{o}_ci_high": mean + half, f"{o}_sd": sd})
        if base is not None:  # world by world and replicate by replicate: common random numbers
            for o in plan.objectives:
                mean, _, half = interval(frame[o] - base[o])
                row.update({f"{o}_vs_base": mean, f"{o}_vs_base_ci_low": mean - half,
                            f"{o}_vs_base_ci_high": mean + half})
        row["worlds"] = len(frame)
        rows.append(row)
    candidates = pd.DataFrame(rows).sort_values("trial", ignore_index=True) if rows else pd.DataFrame()
    # The front once per lever combination (a candidate proposed twice has the same results).
    levers = [f"lever:{p.key}" for p in plan.levers]
    pareto = (candidates[candidates["pareto"]].drop_duplicates(levers).reset_index(drop=True) if rows
              else candidates)
    return OptimiseResult(out, candidates, pareto, plan.objectives, evaluated, wall)


def _write_outputs(plan: OptimisePlan, res: OptimiseResult, out: Path) -> None:
    """candidates.csv, pareto.csv, pareto.md and plots/pareto.{png,svg}, each replaced whole."""
    from sn_sim.experiment.sweep.directory import _atomic_write
    from sn_sim.observe.storage import file_checksums

    def atomic(name: str, write) -> None:  # as a sweep writes its run files: whole or not at all
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(out / name, write)

    atomic("candidates.csv", lambda p: res.candidates.to_csv(p, index=False))
    atomic("pareto.csv", lambda p: res.pareto.to_csv(p, index=False))
    atomic("pareto.md", lambda p: p.write_text(f"# {plan.name}\n\n" + res.markdown()))
    fig = pareto_figure(res)
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": "sn_sim"}):
        atomic("plots/pareto.png", lambda p: fig.savefig(p, dpi=110, format="png"))
        atomic("plots/pareto.svg", lambda p: fig.savefig(p, format="svg", metadata={"Date": None}))
    names = ["candidates.csv", "pareto.csv", "pareto.md", "plots/pareto.png", "plots/pareto.svg"]
    m = read_optimise_manifest(out)
    m["checksums"] = file_checksums(out, names)
    m["candidates_evaluated"] = len(res.candidates)
    atomic(MANIFEST, lambda p: p.write_text(json.dumps(m, indent=1, default=str)))


def pareto_figure(res: OptimiseResult):
    """Every pair of objectives: all candidates (grey), the Pareto front (blue) with 95% intervals."""
    from matplotlib.figure import Figure

    objs = list(res.objectives)
    pairs = [(a, b) for i, a in enumerate(objs) for b in objs[i + 1:]] or [(objs[0], objs[0])]
    fig = Figure(figsize=(max(7.0, 5.5 * min(3, len(pairs))), 4.8 * math.ceil(len(pairs) / 3)), dpi=110)
    axes = fig.subplots(math.ceil(len(pairs) / 3), min(3, len(pairs)), squeeze=False).ravel()
    c, p = res.candidates, res.pareto
    for ax, (a, b) in zip(axes, pairs):
        if len(c):
            ax.scatter(c[a], c[b], s=14, color="#999999", marker="o", label="candidates")
        if len(p):
            ax.errorbar(p[a], p[b], xerr=[p[a] - p[f"{a}_ci_low"], p[f"{a}_ci_high"] - p[a]],
                        yerr=[p[b] - p[f"{b}_ci_low"], p[f"{b}_ci_high"] - p[b]], fmt="s", color="#0072B2",
                        ecolor="#56B4E9", elinewidth=0.7, alpha=0.9, capsize=2, ms=5,
                        label="Pareto front (95% interval over worlds)")
        ax.set_xlabel(f"{a} ({res.objectives[a]})", fontsize=9)
        ax.set_ylabel(f"{b} ({res.objectives[b]})", fontsize=9)
        ax.legend(fontsize=7)
    for ax in axes[len(pairs):]:
        ax.set_visible(False)
    fig.suptitle(f"Which mixes are not beaten on every objective at once? Pareto front of {len(c)} candidates\n"
                 "(means over the uncertain worlds; the intervals show the spread across worlds, shared by all "
                 "candidates, not the precision of their differences)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.75 / fig.get_figheight()))  # room for the two-line title
    return fig
