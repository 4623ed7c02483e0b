"""Design diagnosis: how well would an evaluation of this rollout do? (``sn-sim diagnose``)

In the spirit of DeclareDesign's ``diagnose_design`` (Blair, Cooper, Coppock & Humphreys 2019),
with the agent-based model as the data-generating process. For every replicate world (and each
rollout design, ``strategy.rollout_design``) the treated run and its counterfactual twin are
simulated once; the administrative panel is built once and the survey is drawn again for every
survey size (same survey seed: common random numbers across sizes); every estimator of
``effects.estimate_effects`` runs on each data set exactly as in ``evaluate``, including the
spillover-aware ``*_buffer`` variants, and the evaluator's DiD on the untreated neighbours of
treated neighbourhoods (``spillover_*``: estimated against true spillover). The twin has no
rollout, so it is one world per replicate whatever the design.

Per design x survey size x outcome x estimator, across the R replicates with an estimate
(``diagnosis_table``; each with its Monte Carlo standard error, ``*_mcse``):

- mean estimate; true effect (mean over replicates of the truth the estimator targets);
- bias = mean(estimate - truth); RMSE = sqrt(mean((estimate - truth)^2)), MCSE by the delta
  method sd((estimate - truth)^2) / (2 RMSE sqrt(R));
- coverage = share of replicates whose 95% interval holds the truth, MCSE sqrt(c(1-c)/R);
- power = share of replicates whose test of no effect rejects at 5% (two-sided p < 0.05),
  MCSE sqrt(p(1-p)/R);
- minimum detectable effect at 80% power, MDE = (z_0.975 + z_0.80) x mean SE = 2.80 x mean SE
  (Bloom 1995), MCSE 2.80 x sd(SE) / sqrt(R).

Administrative outcomes do not depend on the survey: their rows have no survey size.
``run_diagnosis`` runs the replicates on any executor with ``run(tasks, fn)`` (the CLI passes
the experiment layer's local pool or Dask cluster; the evaluation layer does not import it).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats

from sn_sim.evaluation import EvaluationError
from sn_sim.evaluation import estimators as est
from sn_sim.evaluation.measures import OUTCOMES
from sn_sim.observe.provenance import provenance
from sn_sim.observe.results import Results
from sn_sim.observe.storage import check_output_dir, file_checksums, staged_directory
from sn_sim.scenario import Scenario, validate
from sn_sim.scenario.schema import ROLLOUT_DESIGNS

ALPHA = 0.05
POWER = 0.80
MDE_FACTOR = float(stats.norm.ppf(1 - ALPHA / 2) + stats.norm.ppf(POWER))  # 1.960 + 0.842 = 2.802
SURVEY_SIZES = (400, 800, 1600)
SPILLOVER_PREFIX = "spillover_"
CSV_FLOAT = "%.10g"

ESTIMATE_COLUMNS = ["design", "replicate", "survey_n", "outcome", "source", "unit", "estimator", "estimate", "se",
                    "ci_low", "ci_high", "p_value", "true_effect", "covers_truth", "rejects"]
TABLE_COLUMNS = ["design", "survey_n", "outcome", "source", "unit", "estimator", "estimator_name", "replicates",
                 "mean_estimate", "mean_estimate_mcse", "true_effect", "true_effect_mcse", "bias", "bias_mcse",
                 "rmse", "rmse_mcse", "coverage", "coverage_mcse", "power", "power_mcse", "mean_se", "mde",
                 "mde_mcse"]


# --- input checks -------------------------------------------------------------------------------


def parse_survey_sizes(text: str | list[int] | tuple[int, ...]) -> tuple[int, ...]:
    """``"400,800,1600"`` -> (400, 800, 1600); one-line error for anything but positive integers."""
    items = text.split(",") if isinstance(text, str) else list(text)
    sizes = []
    for item in items:
        try:
            n = int(str(item).strip())
        except ValueError:
            raise EvaluationError(f"--survey-n: {str(item).strip()!r} is not an integer (e.g. 400,800,1600)") from None
        if n < 1:
            raise EvaluationError(f"--survey-n: every survey size must be at least 1 respondent (got {n})")
        sizes.append(n)
    if not sizes:
        raise EvaluationError("--survey-n: give at least one survey size (e.g. 400,800,1600)")
    return tuple(dict.fromkeys(sizes))


def parse_designs(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``"diagnosis,stepped_wedge"`` -> the rollout designs, checked against the schema's."""
    items = [d.strip() for d in (text.split(",") if isinstance(text, str) else text) if d.strip()]
    for d in items:
        if d not in ROLLOUT_DESIGNS:
            raise EvaluationError(f"--design: unknown rollout design {d!r} (choose from {', '.join(ROLLOUT_DESIGNS)})")
    if not items:
        raise EvaluationError(f"--design: give at least one rollout design ({', '.join(ROLLOUT_DESIGNS)})")
    return tuple(dict.fromkeys(items))


def with_design(scenario: Scenario | dict, design: str) -> Scenario:
    """The scenario with ``strategy.rollout_design`` set to ``design``."""
    data = scenario.to_dict() if isinstance(scenario, Scenario) else dict(scenario)
    data = {**data, "strategy": {**data.get("strategy", {}), "rollout_design": design}}
    return validate(data, source=f"rollout design {design}")


# --- one replicate (runs in a worker) -----------------------------------------------------------


@dataclass(frozen=True)
class DiagnosisTask:
    """One replicate world, as plain picklable data: its twin and one treated run per design."""

    scenario: dict
    designs: tuple[str, ...]
    seed: int
    replicate: int
    survey_sizes: tuple[int, ...]
    outcomes: tuple[str, ...]
    period: str = "quarter"
    alpha: float = ALPHA


def _simulate(scenario: Scenario, seed: int, replicate: int) -> Results:
    from sn_sim.api import run_replicate

    panel, blocks, nb = run_replicate(scenario, seed, replicate)
    return Results(panel=panel, blocks=blocks, manifest={"seed": seed, "replicates": replicate + 1},
                   neighbourhoods=nb, scenario=scenario)


def _tag(frame: pd.DataFrame, design: str, survey_n) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(columns=ESTIMATE_COLUMNS)
    f = frame[frame["term"] == "ATT"].copy()
    f["design"], f["survey_n"] = design, survey_n
    return f


def diagnose_replicate(task: DiagnosisTask) -> pd.DataFrame:
    """Every estimate of one replicate world: rows of ``ESTIMATE_COLUMNS``."""
    from sn_sim.evaluation.data import admin_data, survey_data, week_periods
    from sn_sim.evaluation.effects import estimate_effects
    from sn_sim.evaluation.spillovers import estimated_spillovers
    from sn_sim.evaluation.twins import twin_scenario

    base = validate(task.scenario, source=f"<diagnosis replicate {task.replicate}>")
    twin = _simulate(twin_scenario(base), task.seed, task.replicate)  # the same for every design
    admin_outcomes = [o for o in task.outcomes if OUTCOMES[o].source != "survey"]
    survey_outcomes = [o for o in task.outcomes if OUTCOMES[o].source == "survey"]
    recorded = next(o for o in OUTCOMES.values() if o.source == "admin")
    kw = dict(period=task.period, alpha=task.alpha, event_studies=False)
    parts = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for design in task.designs:
            run = _simulate(with_design(base, design), task.seed, task.replicate)
            nb = run.neighbourhoods
            if not nb["cohort_year"].notna().any():
                continue
            if admin_outcomes:
                admin = admin_data(run, twin, task.period)
                eff, _, _ = estimate_effects(admin, None, nb, admin_outcomes, **kw)
                parts.append(_tag(eff, design, pd.NA))
            if recorded.name in admin_outcomes:  # the evaluator's spillover estimate, on recorded crime
                of_week = week_periods(run.panel, task.period)
                spill = estimated_spillovers(admin, run, outcome=recorded.column, truth=recorded.truth,
                                             period_of_week=lambda w: of_week.get(w, np.nan), alpha=task.alpha)
            else:
                spill = pd.DataFrame()
            if not spill.empty:
                parts.append(pd.DataFrame({
                    "design": design, "replicate": spill["replicate"], "survey_n": pd.NA,
                    "outcome": recorded.name, "source": recorded.source, "unit": recorded.unit,
                    "estimator": SPILLOVER_PREFIX + spill["estimator"], "estimate": spill["effect"], "se": spill["se"],
                    "ci_low": spill["ci_low"], "ci_high": spill["ci_high"], "true_effect": spill["true_effect"],
                    "p_value": _p_values(spill["effect"], spill["se"], spill["n_neighbourhoods"])}))
            for n in task.survey_sizes if survey_outcomes else ():
                survey = survey_data(run, twin, size=n, seed=task.seed)
                eff, _, _ = estimate_effects(None, survey, nb, survey_outcomes, **kw)
                parts.append(_tag(eff, design, n))
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=ESTIMATE_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    out["covers_truth"] = (out["ci_low"] <= out["true_effect"]) & (out["true_effect"] <= out["ci_high"])
    out["rejects"] = out["p_value"] < task.alpha
    out["survey_n"] = out["survey_n"].astype("Int64")
    return out[ESTIMATE_COLUMNS]


def _p_values(estimate, se, clusters) -> np.ndarray:
    """Two-sided p-values with Student-t (clusters - 1) degrees of freedom, as ``estimators._row``."""
    e, s = np.asarray(estimate, dtype=float), np.asarray(se, dtype=float)
    df = np.maximum(np.asarray(clusters, dtype=float) - 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s > 0, 2 * stats.t.sf(np.abs(e / s), df), np.nan)


# --- the statistics across replicates -----------------------------------------------------------


def _mcse_share(p: float, n: int) -> float:
    return float(np.sqrt(p * (1 - p) / n)) if n > 0 and np.isfinite(p) else np.nan


def _sd_mean(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1) / np.sqrt(x.size)) if x.size > 1 else np.nan


def diagnose_group(d: pd.DataFrame) -> dict:
    """The diagnosis of one estimator on one data set from its replicate estimates (columns
    estimate, se, true_effect, covers_truth, rejects)."""
    d = d[np.isfinite(d["estimate"].astype(float)) & np.isfinite(d["true_effect"].astype(float))]
    n = len(d)
    if n == 0:
        return {"replicates": 0}
    e = d["estimate"].to_numpy(float)
    t = d["true_effect"].to_numpy(float)
    err = e - t
    se = d["se"].to_numpy(float)
    se = se[np.isfinite(se)]
    rmse = float(np.sqrt(np.mean(err ** 2)))
    cov = float(d["covers_truth"].astype(float).mean())
    power = float(d["rejects"].astype(float).mean())
    return {
        "replicates": n, "mean_estimate": float(e.mean()), "mean_estimate_mcse": _sd_mean(e),
        "true_effect": float(t.mean()), "true_effect_mcse": _sd_mean(t),
        "bias": float(err.mean()), "bias_mcse": _sd_mean(err),
        "rmse": rmse, "rmse_mcse": float(np.std(err ** 2, ddof=1) / (2 * rmse * np.sqrt(n))) if n > 1 and rmse > 0 else np.nan,
        "coverage": cov, "coverage_mcse": _mcse_share(cov, n),
        "power": power, "power_mcse": _mcse_share(power, n),
        "mean_se": float(se.mean()) if se.size else np.nan,
        "mde": MDE_FACTOR * float(se.mean()) if se.size else np.nan,
        "mde_mcse": MDE_FACTOR * _sd_mean(se),
    }


def diagnosis_table(estimates: pd.DataFrame) -> pd.DataFrame:
    """One row per design x survey size x outcome x estimator: ``TABLE_COLUMNS``."""
    if estimates.empty:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    keys = ["design", "survey_n", "outcome", "source", "unit", "estimator"]
    rows = []
    for k, d in estimates.groupby(keys, sort=False, dropna=False):
        rows.append({**dict(zip(keys, k)), "estimator_name": estimator_label(k[-1]), **diagnose_group(d)})
    table = pd.DataFrame(rows).reindex(columns=TABLE_COLUMNS)
    # Designs as given, administrative outcomes (no survey size) first, outcomes and estimators
    # in the order of the evaluation's registries.
    order = {"design": list(dict.fromkeys(estimates["design"])), "outcome": list(OUTCOMES),
             "estimator": [*est.ESTIMATORS, *(f"{c}{est.BUFFER_SUFFIX}" for c in est.BUFFERED)]}
    rank = {c: table[c].map({v: i for i, v in enumerate(vals)}).fillna(len(vals)) for c, vals in order.items()}
    table = table.assign(_d=rank["design"], _n=table["survey_n"].astype("Float64").fillna(-1), _o=rank["outcome"],
                         _e=rank["estimator"])
    return (table.sort_values(["_d", "_n", "_o", "_e", "estimator"], kind="stable")
            .drop(columns=["_d", "_n", "_o", "_e"]).reset_index(drop=True))


def estimator_label(code: str) -> str:
    """Full name of an estimator code, including the spillover estimates on neighbours."""
    if code.startswith(SPILLOVER_PREFIX):
        return f"{est.estimator_name(code.removeprefix(SPILLOVER_PREFIX))}: spillover on untreated neighbours"
    return est.estimator_name(code)


# --- the whole diagnosis ------------------------------------------------------------------------


class _InProcess:
    """The executor interface (``run(tasks, fn)`` yielding outcomes) in this process, for callers
    that pass no executor (a notebook, a test)."""

    @dataclass
    class _Outcome:
        index: int
        ok: bool
        value: object = None
        error: str | None = None

    def run(self, tasks, fn):
        for i, task in enumerate(tasks):
            yield self._Outcome(i, True, fn(task))


@dataclass
class Diagnosis:
    table: pd.DataFrame
    estimates: pd.DataFrame
    metadata: dict
    out: Path | None = None


def run_diagnosis(scenario: Scenario, *, replicates: int, seed: int = 0, survey_sizes=SURVEY_SIZES,
                  designs=("diagnosis",), outcomes: list[str] | None = None, period: str = "quarter",
                  out: str | Path | None = None, force: bool = False, plots: bool = True, executor=None,
                  progress: Callable[[int], None] | None = None) -> Diagnosis:
    """Diagnose the evaluation of ``scenario``'s rollout over ``replicates`` replicate worlds.

    ``executor``: anything with ``run(tasks, fn)`` yielding outcomes with ``index``, ``ok``,
    ``value`` and ``error`` (``sn_sim.experiment.executors``); default in this process.
    ``progress`` is called with 1 after each replicate. Writes ``out`` (staged) if given."""
    from sn_sim.evaluation.data import check_period
    from sn_sim.evaluation.report import _package_version, _resolve_outcomes

    if replicates < 2:
        raise EvaluationError(f"--replicates: a diagnosis needs at least 2 replicates for its Monte Carlo "
                              f"standard errors (got {replicates}; 20 or more to read coverage)")
    survey_sizes = parse_survey_sizes(survey_sizes)
    designs = parse_designs(designs)
    outcomes = _resolve_outcomes(outcomes)
    check_period(period)
    if not scenario.strategy.rollout:
        raise EvaluationError(f"{scenario.name}: strategy.rollout: no cohort, nothing to diagnose")
    if out is not None:
        out = Path(out)
        check_output_dir(out, force, kind="diagnose")  # before simulating
    tasks = [DiagnosisTask(scenario=scenario.to_dict(), designs=designs, seed=seed, replicate=r,
                           survey_sizes=survey_sizes, outcomes=tuple(outcomes), period=period)
             for r in range(replicates)]
    t0 = time.perf_counter()
    parts, failed = [], {}
    for o in (executor or _InProcess()).run(tasks, diagnose_replicate):
        if o.ok:
            parts.append(o.value)
        else:
            failed[tasks[o.index].replicate] = o.error
        if progress:
            progress(1)
    if not parts:
        raise EvaluationError(f"diagnose: every replicate failed (first: {next(iter(failed.values()), '?')})")
    estimates = pd.concat(parts, ignore_index=True).sort_values(["design", "replicate", "survey_n", "outcome",
                                                                 "estimator"], kind="stable").reset_index(drop=True)
    table = diagnosis_table(estimates)
    meta = {
        "kind": "diagnose", "scenario_name": scenario.name, "scenario_hash": scenario.digest(),
        "scenario": scenario.to_dict(), "seed": seed, "replicates": replicates,
        "replicates_failed": {str(k): v for k, v in sorted(failed.items())}, "designs": list(designs),
        "survey_sizes": list(survey_sizes), "survey_seed": seed, "outcomes": outcomes, "period": period,
        "alpha": ALPHA, "mde": f"(z_0.975 + z_0.80) x mean SE = {MDE_FACTOR:.3f} x mean SE",
        "wall_time_s": round(time.perf_counter() - t0, 1), "version": _package_version(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **provenance(),
    }
    diag = Diagnosis(table=table, estimates=estimates, metadata=meta)
    if out is not None:
        diag.out = write_diagnosis(diag, out, force=force, plots=plots)
    return diag


# --- output -------------------------------------------------------------------------------------


def _fmt(x, mcse=None, digits=3) -> str:
    if x is None or pd.isna(x):
        return ""
    text = f"{x:.{digits}g}"
    return f"{text} ({mcse:.2g})" if mcse is not None and pd.notna(mcse) else text


def diagnosis_markdown(table: pd.DataFrame, meta: dict) -> str:
    lines = [
        f"# Design diagnosis of `{meta['scenario_name']}`",
        "",
        f"{meta['replicates']} replicate worlds (seed {meta['seed']}, scenario hash {meta['scenario_hash'][:12]}), "
        f"each with its counterfactual twin on common random numbers; rollout design(s): {', '.join(meta['designs'])}; "
        f"survey of {', '.join(map(str, meta['survey_sizes']))} respondents 15+ per neighbourhood and year; "
        f"administrative data by {meta['period']}.",
        "",
        "Monte Carlo standard errors in parentheses. Bias = mean(estimate - true effect); RMSE = root mean squared "
        "error; coverage = share of replicates whose 95% interval holds the true effect; power = share rejecting "
        f"no effect at 5%; MDE = minimum detectable effect at 80% power = {meta['mde']}. Administrative outcomes "
        "do not depend on the survey size (blank). See docs/evaluation.md (Design diagnosis).",
        "",
    ]
    if meta.get("replicates_failed"):
        lines += [f"Failed replicates (left out): {', '.join(meta['replicates_failed'])}.", ""]
    lines += ["| design | survey n | outcome (unit) | estimator | R | mean estimate | true effect | bias | RMSE | "
              "coverage | power | MDE |", "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for x in table.itertuples(index=False):
        n = "" if pd.isna(x.survey_n) else int(x.survey_n)
        lines.append(f"| {x.design} | {n} | {x.outcome} ({x.unit}) | {x.estimator_name} | {x.replicates} | "
                     f"{_fmt(x.mean_estimate, x.mean_estimate_mcse)} | {_fmt(x.true_effect, x.true_effect_mcse)} | "
                     f"{_fmt(x.bias, x.bias_mcse)} | {_fmt(x.rmse, x.rmse_mcse)} | "
                     f"{_fmt(x.coverage, x.coverage_mcse, 2)} | {_fmt(x.power, x.power_mcse, 2)} | "
                     f"{_fmt(x.mde, x.mde_mcse)} |")
    return "\n".join(lines) + "\n"


def write_diagnosis(diag: Diagnosis, out: Path, force: bool = False, plots: bool = True) -> Path:
    """diagnosis.csv/.md, estimates.csv (every replicate's estimate), power_curve.png/.svg and
    manifest.json (with the data files' checksums), written atomically."""
    from sn_sim.evaluation.figures import plot_power_curves

    out = Path(out)
    check_output_dir(out, force, kind="diagnose")
    with staged_directory(out, "diagnose") as tmp:
        # 10 significant digits: the estimation libraries' last bits (~1e-16) depend on what the
        # process computed before (seen with pyfixest), so a replicate's estimate may differ in its
        # last bit between the local pool, a Dask worker and this process; the written files do not.
        diag.table.to_csv(tmp / "diagnosis.csv", index=False, float_format=CSV_FLOAT)
        diag.estimates.to_csv(tmp / "estimates.csv", index=False, float_format=CSV_FLOAT)
        (tmp / "diagnosis.md").write_text(diagnosis_markdown(diag.table, diag.metadata))
        checksums = file_checksums(tmp, ["diagnosis.csv", "estimates.csv", "diagnosis.md"])
        if plots:
            plot_power_curves(diag.table, tmp / "power_curve.png")
        (tmp / "manifest.json").write_text(json.dumps({**diag.metadata, "checksums": checksums}, indent=2,
                                                      default=str))
    return out
