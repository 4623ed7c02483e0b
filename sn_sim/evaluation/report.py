"""``evaluate``: estimated against true effects for one run, written to ``evaluation/``.

What an evaluator sees and what the laboratory knows:

- survey data (``survey.draw_survey``): victimisation, reporting, trust and insecurity in
  intervened and control neighbourhoods, once a year, with sampling error;
- administrative data: recorded crime per neighbourhood (what the police see), aggregated to
  periods (default quarters), per 1,000 inhabitants per year (``recorded_crimes_per_1000_year``);
- an *oracle* outcome, true offences per 1,000 inhabitants per year (``offences_per_1000_year``),
  that no evaluator has: it separates the error due to measurement (recorded crime moves with
  reporting) from the error of the estimator;
- the truth: the counterfactual twin (``twins``), aggregated exactly like each data set.

Every estimator of ``estimators`` runs on each data set of each replicate as it would on real
data; ``effects.csv`` puts each estimate next to the true value of the quantity it targets and
its bias. See docs/evaluation.md for the definitions and what each estimator assumes.

This module orchestrates (``evaluate``, ``evaluate_many``) and writes the directory; the data
sets are built in ``data``, the estimates and tables in ``effects``, the figures in ``figures``,
and the outcomes are defined in ``measures`` (through the outcome registry).
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from sn_sim.evaluation import FEW_REPLICATES, EvaluationError
from sn_sim.evaluation.data import admin_data, check_period, check_run_dir, load_evaluation_inputs, survey_data
from sn_sim.evaluation import estimators as est
from sn_sim.evaluation.effects import (cost_table, diagnostic_tables, estimate_effects, spillover_table,
                                      stage_pillar_table, summarise_effects)
from sn_sim.evaluation.figures import (estimator_comparison_figure, event_study_figure, plot_estimator_comparison,
                                      plot_event_study, scores_figure)
from sn_sim.evaluation.measures import OUTCOMES, RENAMED
from sn_sim.evaluation.twins import check_twin, run_twin, scenario_of, true_effects, true_effects_by_source
from sn_sim.observe import style
from sn_sim.observe.provenance import provenance
from sn_sim.observe.results import Results
from sn_sim.observe.storage import check_output_dir, file_checksums, staged_directory

__all__ = ["Evaluation", "evaluate", "evaluate_many", "write_evaluation", "comparison_table", "effects_markdown",
           "OUTCOMES", "check_run_dir", "load_evaluation_inputs"]


@dataclass
class Evaluation:
    """Everything ``evaluate`` computed (and wrote, if ``out`` is set)."""

    effects: pd.DataFrame
    effects_summary: pd.DataFrame
    event_study: pd.DataFrame
    spillovers: pd.DataFrame
    by_stage_pillar: pd.DataFrame
    cost_effectiveness: pd.DataFrame
    survey: pd.DataFrame
    true_effects: pd.DataFrame
    metadata: dict
    twin: Results | None = field(repr=False, default=None)
    out: Path | None = None
    bacon: pd.DataFrame = field(default_factory=pd.DataFrame)
    honest_did: pd.DataFrame = field(default_factory=pd.DataFrame)
    # The true ATT on the mean trust and insecurity scores by mechanism (twins.true_effects_by_source).
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)
    # With channels=True: the effects taken apart by the Strategy's channels
    # (experiment.channels.Decomposition; its total is the effect against the twin).
    channels: object | None = field(repr=False, default=None)

    def plot(self, name: str = "event_study"):
        """One evaluation figure as a matplotlib Figure (shown inline in a notebook): ``event_study``
        or ``estimator_comparison`` (see :mod:`sn_sim.evaluation.figures`)."""
        if name == "event_study":
            return event_study_figure(self.event_study, self.metadata["outcomes"], self.metadata["period"])
        if name == "estimator_comparison":
            return estimator_comparison_figure(self.effects, self.metadata["outcomes"])
        if name == "scores_by_source" and not self.scores.empty:
            return scores_figure(self.scores, self.metadata["scenario_name"])
        raise EvaluationError(f"plot: unknown figure {name!r} (expected event_study, estimator_comparison or "
                              f"scores_by_source)")


# --- markdown -----------------------------------------------------------------------------------


def _fmt(x, digits=3) -> str:
    return "" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{digits}g}" if abs(x) >= 1000 else f"{x:.{digits}f}"


def effects_markdown(summary: pd.DataFrame, meta: dict) -> str:
    lines = [
        f"# Evaluation of `{meta['scenario_name']}`",
        "",
        f"Run `{meta['run']}` (scenario hash {str(meta['scenario_hash'])[:12]}, seed {meta['seed']}, "
        f"{meta['replicates']} replicate(s)); survey of {meta['survey_size']} residents 15+ per neighbourhood and year "
        f"(survey seed {meta['survey_seed']}); administrative data by {meta['period']}; twin: {meta['twin_source']}.",
        "",
        "Estimated effect (mean over replicates, 95% CI of the mean replicate's interval bounds) against the true value "
        "of the quantity each estimator targets (`true effect`, from the counterfactual twin); `true ATT` is the "
        "average true effect over all intervened unit-periods of the data set; bias = estimate - true effect; "
        "coverage = share of replicates whose interval covers the truth. See docs/evaluation.md.",
        "",
        "| outcome | source | estimator | estimate | 95% CI | true effect | true ATT | bias | RMSE | coverage |",
        "|---|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    if not summary.empty:
        for x in summary[summary["term"] == "ATT"].itertuples(index=False):
            lines.append(f"| {x.outcome} ({x.unit}) | {x.source} | {est.estimator_name(x.estimator)} | {_fmt(x.estimate)} | "
                         f"[{_fmt(x.ci_low)}, {_fmt(x.ci_high)}] | {_fmt(x.true_effect)} | {_fmt(x.true_att)} | "
                         f"{_fmt(x.bias)} | {_fmt(x.rmse)} | {_fmt(x.coverage, 2)} |")
    skipped = meta.get("skipped") or {}
    if skipped:
        lines += ["", "Estimators that could not run on a design:", ""]
        for key, why in skipped.items():
            for name, reason in why.items():
                lines.append(f"- replicate/outcome {key}: {name}: {reason}")
    lines += ["", "Estimators (docs/evaluation.md):", ""]
    present = set(summary["estimator"]) if not summary.empty else set()
    for code in [c for c in est.ESTIMATOR_LIBRARY if c in present or c in est.ESTIMATORS]:
        lines.append(f"- `{code}` (in the CSV files): {est.estimator_name(code)}; {est.ESTIMATOR_LIBRARY[code]}")
    lines += ["", "`bacon.csv`: Goodman-Bacon decomposition of TWFE into its 2 x 2 comparisons (weight, estimate, true "
              "effect; `later_vs_earlier` uses already-treated units as controls). `honest_did.csv`: HonestDiD bounds "
              "(Rambachan-Roth relative magnitudes, M = 0 ... 2) on the Callaway-Sant'Anna event study.", ""]
    return "\n".join(lines)


def replicates_note(replicates) -> str:
    """Why coverage and RMSE need replicates, when the run has too few of them ('' otherwise)."""
    if replicates is None or replicates >= FEW_REPLICATES:
        return ""
    return (f"The run has {replicates} replicate{'s' if replicates != 1 else ''}; coverage (share of replicates whose "
            f"95% interval holds the truth) and RMSE need many; with one, coverage is 0 or 1 and RMSE equals |bias|. "
            f"Run with --replicates {FEW_REPLICATES} or more to read them, or use `sn-sim diagnose`.")


def report_markdown(ev: Evaluation, figures: dict[str, bytes] | None = None) -> str:
    """One self-contained page for a memo: what was evaluated, the effects table with every
    estimator named in full, the spillovers next door (true against estimated), what the
    replicates allow one to read, and the figures embedded (PNG as data URIs: no file beside it)."""
    import base64

    meta = ev.metadata
    lines = [effects_markdown(ev.effects_summary, meta), ""]
    note = replicates_note(meta.get("replicates"))
    if note:
        lines += [f"**Note.** {note}", ""]
    sp = ev.spillovers
    if sp is not None and not sp.empty and "level" in sp.columns:
        nb = sp[(sp["level"] == "neighbourhood") & (sp["group"] == "adjacent_untreated")]
        if not nb.empty:
            lines += ["## Spillovers on untreated neighbours", "",
                      "Never-treated neighbourhoods next to an intervened one, after its launch: the true spillover "
                      "(treated run minus twin; + displacement, - diffusion of benefits) and what an evaluator "
                      "would estimate (DiD with 'has an intervened neighbour' as treatment); means over replicates.", "",
                      "| outcome | estimator | effect | 95% CI | true effect | reading |", "|---|---|---:|---|---:|---|"]
            for (o, e), d in nb.groupby(["outcome", "estimator"], sort=False):
                true = d["true_effect"].mean() if "true_effect" in d and e != "truth" else d["effect"].mean()
                name = "truth (counterfactual twin)" if e == "truth" else est.estimator_name(e)
                lines.append(f"| {o} ({d['unit'].iloc[0]}) | {name} | {_fmt(d['effect'].mean())} | "
                             f"[{_fmt(d['ci_low'].mean())}, {_fmt(d['ci_high'].mean())}] | {_fmt(true)} | "
                             f"{d['interpretation'].mode().iloc[0]} |")
            lines.append("")
    if not ev.scores.empty:
        from sn_sim.experiment import scores

        lines += ["## Trust and insecurity by mechanism (true ATT)", "",
                  "The true ATT on the mean scores (treated neighbourhood-weeks from launch, treated run minus twin) "
                  "taken apart by mechanism. " + scores.NOTE, "",
                  scores.markdown(ev.scores.assign(run=meta["scenario_name"]), "run", heading="###"), ""]
    if ev.channels is not None:
        lines += ["## Effects by channel", "", "From `--channels` (tables and waterfalls in channels/): each channel "
                  "of the Strategy switched on in turn, on the run's seed and replicates; the world with every channel "
                  "off is the twin, so the contributions add up to the true effect.", ""]
        lines += [x.replace("# ", "### ", 1) if x.startswith("## ") else x
                  for x in ev.channels.markdown().splitlines()[2:]] + [""]
    for name, png in (figures or {}).items():
        lines += [f"## {name.replace('_', ' ').capitalize()}", "",
                  f"![{name}](data:image/png;base64,{base64.b64encode(png).decode()})", ""]
    return "\n".join(lines)


# --- the entry point -----------------------------------------------------------------------------


def unknown_outcome(name: str) -> EvaluationError:
    """The one-line error for an ``--outcome`` that is not in OUTCOMES."""
    hint = f"; renamed {RENAMED[name]!r}" if name in RENAMED else ""
    return EvaluationError(f"--outcome: unknown outcome {name!r}{hint} (choose from {', '.join(OUTCOMES)})")


def _resolve_outcomes(outcomes) -> list[str]:
    if not outcomes:
        return list(OUTCOMES)
    bad = [o for o in outcomes if o not in OUTCOMES]
    if bad:
        raise unknown_outcome(bad[0])
    return list(dict.fromkeys(outcomes))


def evaluate(source: str | Path | Results, out: str | Path | None = None, *, twin: Results | None = None,
             survey_size: int = 400, seed: int | None = None, outcomes: list[str] | None = None,
             period: str = "quarter", leads: int | None = None, lags: int | None = None,
             force: bool = False, plots: bool = True, alpha: float = 0.05,
             progress: Callable[[int], None] | None = None, channels: bool = False, workers: int | None = None,
             channel_progress: bool = False) -> Evaluation:
    """Evaluate a run: estimated against true effects, spillovers, stages and pillars, cost.

    Parameters
    ----------
    source : a run directory (``sn-sim run --out DIR``) or a Results object
    out : output directory; default ``RUN_DIR/evaluation`` for a run directory, nothing written
        for a Results object without ``out``. Refused if it exists unless ``force``.
    twin : the counterfactual twin; default ``RUN_DIR/twin/`` if present, else a previous
        ``OUT/twin/`` that matches, else it is simulated (same scenario without the rollout and
        Culture Points, same seed and replicates) and saved to ``OUT/twin/``
    survey_size : respondents 15+ per neighbourhood and survey year (default 400)
    seed : survey seed (default: the run's seed)
    outcomes : subset of OUTCOMES (default all)
    period : period of the administrative data: week, month, quarter (default) or year
    leads, lags : event-study window in periods (default per period; survey: 2 and 3 years)
    progress : callback for the twin's simulated weeks
    channels : also take the effects apart by the Strategy's channels (``sn-sim decompose`` on the
        run's scenario, seed and replicates: about nine more runs per replicate, on ``workers``
        local processes; ``channel_progress`` shows a bar); saved in ``channels/``

    Returns
    -------
    Evaluation with every table; ``out`` is where they were written (or None).
    """
    outcomes = _resolve_outcomes(outcomes)
    if survey_size < 1:
        raise EvaluationError(f"--survey-size: must be at least 1 (got {survey_size})")
    check_period(period)
    run_label = "<Results>"
    if isinstance(source, Results):
        results = source
        out = Path(out) if out is not None else None
        twin_source = "given" if twin is not None else "computed"
    else:
        run_dir = check_run_dir(source)
        run_label = str(run_dir)
        out = Path(out) if out is not None else run_dir / "evaluation"
        _refuse_replacing_run(out, [run_dir])
        check_output_dir(out, force, kind="evaluate")  # before reading anything
        results, stored, twin_source = load_evaluation_inputs(run_dir, out if force else None)
        if twin is None:
            twin = stored
        else:
            twin_source = "given"
    if out is not None:
        check_output_dir(out, force, kind="evaluate")  # fail before simulating, not after
    if results.neighbourhoods is None or results.neighbourhoods.empty:
        raise EvaluationError(f"{run_label}: the run has no neighbourhoods table (neighbourhoods.parquet)")
    if not results.neighbourhoods["cohort_year"].notna().any():
        raise EvaluationError(f"{run_label}: no neighbourhood was selected in this run: nothing to evaluate")
    if twin is None:
        twin = run_twin(results, progress=progress)
        twin_source = "computed"
    else:
        check_twin(results, twin)
    m = results.manifest
    survey_seed = int(seed) if seed is not None else int(m.get("seed", 0))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weekly = true_effects(results, twin)
        by_source = true_effects_by_source(results, twin)
        admin = admin_data(results, twin, period)
        survey = survey_data(results, twin, size=survey_size, seed=survey_seed)
        effects, dynamic, skipped = estimate_effects(admin, survey, results.neighbourhoods, outcomes, period,
                                                     leads=leads, lags=lags, alpha=alpha)
        summary = summarise_effects(effects)
        spill = spillover_table(results, twin, admin, period)
        stage_pillar = stage_pillar_table(weekly, admin, outcomes, alpha)
        costs = cost_table(weekly, effects)
        bacon, honest = diagnostic_tables(admin, survey, results.neighbourhoods, outcomes, period, leads=leads,
                                          lags=lags, alpha=alpha)

    scenario = scenario_of(results)
    meta = {
        "run": run_label, "scenario_name": m.get("scenario_name", scenario.name),
        "scenario_hash": m.get("scenario_hash"), "seed": m.get("seed"), "replicates": m.get("replicates"),
        "twin_scenario_hash": twin.manifest.get("scenario_hash"), "twin_source": twin_source,
        "survey_size": survey_size, "survey_seed": survey_seed, "survey_field_date": "03-15",
        "survey_coverage": "treated_and_controls", "period": period, "outcomes": outcomes, "alpha": alpha,
        "mix": scenario.strategy.mix.model_dump(), "skipped": skipped,
        "version": _package_version(), "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        **provenance(),
    }
    ev = Evaluation(effects=effects, effects_summary=summary, event_study=dynamic, spillovers=spill,
                    by_stage_pillar=stage_pillar, cost_effectiveness=costs, survey=survey, true_effects=weekly,
                    metadata=meta, twin=twin, out=None, bacon=bacon, honest_did=honest, scores=by_source)
    if channels:
        from sn_sim.experiment.channels import decompose

        ev.channels = decompose(scenario, replicates=int(m.get("replicates", 1)), seed=int(m.get("seed", 0)),
                                workers=workers, progress=channel_progress)
    if out is not None:
        ev.out = write_evaluation(ev, out, force=force, save_twin=twin_source in ("computed", "previous evaluation"),
                                  plots=plots)
    return ev


def _refuse_replacing_run(out: Path, run_dirs) -> None:
    """--force replaces the output directory: never let that be a run directory or hold one."""
    target = Path(out).resolve()
    for d in run_dirs:
        d = Path(d).resolve()
        if target == d or target in d.parents:
            raise EvaluationError(f"{out}: --out: would replace the run directory {d} (choose another directory)")


def _package_version() -> str:
    from sn_sim.api import package_version

    return package_version()


def write_evaluation(ev: Evaluation, out: Path, force: bool = False, save_twin: bool = True, plots: bool = True) -> Path:
    """Write every table, the plots and (if computed here) the twin, atomically: into a
    temporary sibling directory renamed into place when complete."""
    out = Path(out)
    check_output_dir(out, force, kind="evaluate")
    with staged_directory(out, "evaluate") as tmp:
        tables = {"effects.csv": ev.effects, "effects_summary.csv": ev.effects_summary,
                  "event_study.csv": ev.event_study, "spillovers.csv": ev.spillovers,
                  "by_stage_pillar.csv": ev.by_stage_pillar, "cost_effectiveness.csv": ev.cost_effectiveness,
                  "survey.csv": ev.survey, "bacon.csv": ev.bacon, "honest_did.csv": ev.honest_did,
                  "scores.csv": ev.scores}
        for name, table in tables.items():
            table.to_csv(tmp / name, index=False)
        (tmp / "effects.md").write_text(effects_markdown(ev.effects_summary, ev.metadata))
        ev.true_effects.to_parquet(tmp / "true_effects.parquet", index=False)
        # The data files, recorded in evaluation.json like a run's in its manifest (the twin/
        # records its own); plots are pictures of these tables.
        checksums = file_checksums(tmp, [*tables, "effects.md", "true_effects.parquet"])
        figures = {}
        if plots:
            plot_event_study(ev.event_study, tmp / "event_study.png", ev.metadata["outcomes"], ev.metadata["period"])
            plot_estimator_comparison(ev.effects, tmp / "estimator_comparison.png", ev.metadata["outcomes"])
            names = ["estimator_comparison", "event_study"]
            if not ev.scores.empty:
                style.save(scores_figure(ev.scores, ev.metadata["scenario_name"]), tmp / "scores_by_source.png")
                names.append("scores_by_source")
            figures = {name: (tmp / f"{name}.png").read_bytes() for name in names}
        if ev.channels is not None:
            ev.channels.save(tmp / "channels", plots=plots)
        (tmp / "report.md").write_text(report_markdown(ev, figures))
        if save_twin and ev.twin is not None:
            ev.twin.save(tmp / "twin", plots=False)
        (tmp / "evaluation.json").write_text(json.dumps({**ev.metadata, "checksums": checksums}, indent=2,
                                                        default=str))
    return out


# --- several runs: a clean pillar decomposition -----------------------------------------------------


def comparison_table(evaluations: dict[str, Evaluation]) -> pd.DataFrame:
    """One row per run x outcome: the policy mix, the true ATT, the Callaway-Sant'Anna and TWFE
    estimates and the true cost per offence averted (means over replicates). With single-pillar
    scenarios (police_only, social_only, community_only) on the same seed this is the clean
    pillar decomposition that one mixed run cannot give."""
    rows = []
    for label, ev in evaluations.items():
        mix = ev.metadata.get("mix", {})
        s = ev.effects_summary
        cost = ev.cost_effectiveness
        usd = cost[(cost["measure"] == "usd_per_offence_averted") & (cost["basis"] == "truth")]["usd_per_unit"].mean() \
            if not cost.empty else np.nan
        if s.empty:
            continue
        for o, d in s[s["term"] == "ATT"].groupby("outcome", sort=False):
            by = d.set_index("estimator")
            rows.append({"run": label, "scenario": ev.metadata.get("scenario_name"),
                         "mix_police": mix.get("police"), "mix_social": mix.get("social"),
                         "mix_community": mix.get("community"), "outcome": o, "unit": d["unit"].iloc[0],
                         "true_att": float(d["true_att"].mean()),
                         "cs_notyet": float(by["estimate"].get("cs_notyet", np.nan)),
                         "twfe": float(by["estimate"].get("twfe", np.nan)),
                         "true_usd_per_offence_averted": float(usd)})
    return pd.DataFrame(rows)


def evaluate_many(run_dirs: list[str | Path], out: str | Path | None = None, *, force: bool = False,
                  **kwargs) -> tuple[pd.DataFrame, dict[str, Evaluation]]:
    """Evaluate several runs (e.g. police_only, social_only, community_only on the same seed).

    Without ``out`` each run is evaluated into its own ``RUN_DIR/evaluation``; with ``out``,
    into ``OUT/<run name>/`` plus ``OUT/comparison.csv`` (written atomically as a whole).
    Returns the comparison table and the evaluations."""
    if not run_dirs:
        raise EvaluationError("evaluate: no run directory given")
    labels, evaluations = [], {}
    for d in run_dirs:
        base = Path(d).resolve().name or "run"
        label = base
        k = 2
        while label in labels:
            label, k = f"{base}_{k}", k + 1
        labels.append(label)
    if out is None:
        for d, label in zip(run_dirs, labels):
            evaluations[label] = evaluate(d, force=force, **kwargs)
        return comparison_table(evaluations), evaluations
    out = Path(out)
    check_output_dir(out, force, kind="evaluate")
    for d in run_dirs:
        check_run_dir(d)  # fail on a bad directory before any work
    _refuse_replacing_run(out, run_dirs)
    with staged_directory(out, "evaluate") as tmp:
        for d, label in zip(run_dirs, labels):
            evaluations[label] = evaluate(d, tmp / label, **kwargs)
        table = comparison_table(evaluations)
        table.to_csv(tmp / "comparison.csv", index=False)
    for label in labels:
        evaluations[label].out = out / label
    return table, evaluations
