"""``evaluate``: estimated against true effects for one run, written to ``evaluation/``.

What an evaluator sees and what the laboratory knows:

- survey data (``survey.draw_survey``): victimisation, reporting, trust and insecurity in
  intervened and control neighbourhoods, once a year, with sampling error;
- administrative data: recorded crime per neighbourhood (what the police see), aggregated to
  periods (default quarters) and annualised per 1,000 inhabitants;
- an *oracle* outcome, true offences per 1,000, that no evaluator has: it separates the error
  due to measurement (recorded crime moves with reporting) from the error of the estimator;
- the truth: the counterfactual twin (``twins``), aggregated exactly like each data set.

Every estimator of ``estimators`` runs on each data set of each replicate as it would on real
data; ``effects.csv`` puts each estimate next to the true value of the quantity it targets and
its bias. See docs/evaluation.md for the definitions and what each estimator assumes.
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

from sn_sim.evaluation import EvaluationError
from sn_sim.evaluation import estimators as est
from sn_sim.evaluation.survey import draw_survey, survey_cohorts
from sn_sim.evaluation.twins import check_twin, launch_weeks, run_twin, scenario_of, true_effects
from sn_sim.results import Results, check_output_dir, load_results, staged_directory


@dataclass(frozen=True)
class Outcome:
    name: str
    source: str        # survey | admin | oracle
    column: str        # column of the survey / admin data set
    truth: str         # its true-effect column
    unit: str
    label: str


OUTCOMES: dict[str, Outcome] = {o.name: o for o in (
    Outcome("victimisation", "survey", "victimisation", "true_effect_victimisation", "percentage points",
            "victimisation, last 12 months (survey)"),
    Outcome("reporting", "survey", "reporting", "true_effect_reporting", "percentage points",
            "victims who reported (survey)"),
    Outcome("trust_police", "survey", "trust_police", "true_effect_trust_police", "percentage points",
            "trust the police (survey)"),
    Outcome("insecurity", "survey", "insecurity", "true_effect_insecurity", "percentage points",
            "perceived insecurity (survey)"),
    Outcome("recorded_crimes_per_1000", "admin", "recorded_crimes_per_1000", "tau_recorded_crimes_per_1000",
            "per 1,000 inhabitants per year", "recorded crime (police records)"),
    Outcome("offences_per_1000", "oracle", "offences_per_1000", "tau_offences_per_1000",
            "per 1,000 inhabitants per year", "true offences (oracle, not observable)"),
)}

# Default event-study windows (leads, lags) in periods.
WINDOWS = {"week": (13, 52), "month": (6, 24), "quarter": (4, 8), "year": (2, 3)}
SURVEY_WINDOW = (2, 3)
PILLARS = ("police", "social", "community", "culture")
STAGE_ORDER = ("planning", "execution", "consolidation", "evaluation")


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


# --- inputs -------------------------------------------------------------------------------------


def check_run_dir(run_dir: str | Path) -> Path:
    """Cheap check that ``run_dir`` looks like a run directory written by ``sn-sim run``."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise EvaluationError(f"{run_dir}: run directory not found")
    if not run_dir.is_dir():
        raise EvaluationError(f"{run_dir}: not a directory (expected a run directory written by 'sn-sim run')")
    for name in ("manifest.json", "panel.parquet", "neighbourhoods.parquet", "blocks.parquet"):
        if not (run_dir / name).is_file():
            raise EvaluationError(f"{run_dir}: not a run directory (missing {name})")
    return run_dir


def load_run(run_dir: str | Path) -> Results:
    """Load a run directory written by ``sn-sim run``; one-line errors when it is not one."""
    run_dir = check_run_dir(run_dir)
    try:
        results = load_results(run_dir)
    except (OSError, ValueError) as exc:
        raise EvaluationError(f"{run_dir}: cannot read the run ({exc.__class__.__name__}: {str(exc)[:120]})") from None
    m = results.manifest
    if not isinstance(m, dict) or "scenario" not in m or "seed" not in m or "replicates" not in m:
        raise EvaluationError(f"{run_dir}/manifest.json: scenario/seed/replicates: missing")
    return results


def load_evaluation_inputs(run_dir: str | Path, out: Path | None = None) -> tuple[Results, Results | None, str]:
    """The run, its twin if one is stored (``RUN_DIR/twin/`` or a previous ``OUT/twin/``) and
    where the twin came from."""
    results = load_run(run_dir)
    for where, label in ((Path(run_dir) / "twin", "run_dir/twin"), ((out / "twin") if out else None, "previous evaluation")):
        if where is not None and (where / "manifest.json").is_file():
            try:
                twin = load_results(where)
            except (OSError, ValueError) as exc:
                raise EvaluationError(f"{where}: cannot read the twin ({exc.__class__.__name__})") from None
            try:
                check_twin(results, twin)
            except EvaluationError:
                if label == "previous evaluation":
                    continue  # stale: recompute
                raise
            return results, twin, label
    return results, None, "computed"


# --- data sets ----------------------------------------------------------------------------------


def period_label(dates: pd.Series, period: str) -> np.ndarray:
    d = pd.to_datetime(dates)
    if period == "year":
        return d.dt.year.to_numpy(dtype=np.int64)
    if period == "quarter":
        return (d.dt.year * 10 + d.dt.quarter).to_numpy(dtype=np.int64)
    if period == "month":
        return (d.dt.year * 100 + d.dt.month).to_numpy(dtype=np.int64)
    raise ValueError(f"unknown period {period!r}")


def _week_periods(panel: pd.DataFrame, period: str) -> pd.Series:
    weeks = panel[["week", "date"]].drop_duplicates("week").sort_values("week")
    if period == "week":
        return pd.Series(weeks["week"].to_numpy(dtype=np.int64), index=weeks["week"].to_numpy())
    return pd.Series(period_label(weeks["date"], period), index=weeks["week"].to_numpy())


def admin_data(results: Results, twin: Results, period: str = "quarter") -> pd.DataFrame:
    """The evaluator's administrative panel: replicate x neighbourhood x period with recorded
    crime and (oracle) true offences per 1,000 inhabitants per year, activities per 1,000
    inhabitants per year by pillar, cost, the modal stage, the cohort (period of launch) and the
    true effects ``tau_<outcome>`` (treated run minus twin, aggregated the same way)."""
    if period not in WINDOWS:
        raise EvaluationError(f"--period: unknown period {period!r} (choose from {', '.join(WINDOWS)})")
    of_week = _week_periods(results.panel, period)
    flows = ["offences", "recorded_crimes", "cost_usd", "cost_in_kind_usd"] + [f"activities_{p}" for p in PILLARS]
    keys = ["replicate", "neighbourhood", "time"]

    def aggregate(panel: pd.DataFrame) -> pd.DataFrame:
        p = panel[["replicate", "neighbourhood", "week", "population"] + flows].copy()
        p["time"] = of_week.reindex(p["week"]).to_numpy()
        g = p.groupby(keys, sort=True)
        out = g[flows].sum()
        out["weeks"] = g.size()
        out["population"] = g["population"].mean()
        per_year = 52.0 / out["weeks"] * 1000.0 / out["population"]
        out["offences_per_1000"] = out["offences"] * per_year
        out["recorded_crimes_per_1000"] = out["recorded_crimes"] * per_year
        for pl in PILLARS:
            out[f"activities_{pl}_per_1000"] = out[f"activities_{pl}"] * per_year
        return out.reset_index()

    a = aggregate(results.panel)
    b = aggregate(twin.panel)
    for o in ("offences_per_1000", "recorded_crimes_per_1000"):
        a[f"tau_{o}"] = a[o].to_numpy() - b.set_index(keys).reindex(pd.MultiIndex.from_frame(a[keys]))[o].to_numpy()
    # Modal stage of each period (the stage of most of its weeks).
    st = results.panel[["replicate", "neighbourhood", "week", "stage"]].copy()
    st["time"] = of_week.reindex(st["week"]).to_numpy()
    st["stage"] = st["stage"].astype(str)
    mode = (st.groupby(keys + ["stage"]).size().rename("n").reset_index()
            .sort_values(keys + ["n"], ascending=[True, True, True, False], kind="stable")
            .drop_duplicates(keys)[keys + ["stage"]])
    a = a.merge(mode, on=keys, how="left")
    lw = launch_weeks(results)
    lw["cohort"] = [float(of_week.get(int(w), np.nan)) if pd.notna(w) else np.nan for w in lw["launch_week"]]
    nb = results.neighbourhoods[["replicate", "neighbourhood", "diagnosis_score"]]
    a = a.merge(lw[["replicate", "neighbourhood", "cohort", "cohort_year", "is_control"]],
                on=["replicate", "neighbourhood"], how="left").merge(nb, on=["replicate", "neighbourhood"], how="left")
    a["unit"] = a["neighbourhood"]
    return a


def survey_data(results: Results, twin: Results, *, size: int, seed: int, field_date=(3, 15),
                coverage: str = "treated_and_controls") -> pd.DataFrame:
    """The survey with true effects, its cohort on the survey's time scale and ``unit``/``time``."""
    s = draw_survey(results.panel, results.neighbourhoods, size=size, seed=seed, field_date=field_date,
                    coverage=coverage, twin_panel=twin.panel)
    if s.empty:
        return s
    s["cohort"] = survey_cohorts(s).to_numpy()
    s["unit"] = s["neighbourhood"]
    s["time"] = s["year"]
    nb = results.neighbourhoods[["replicate", "neighbourhood", "diagnosis_score"]]
    return s.merge(nb, on=["replicate", "neighbourhood"], how="left")


# --- estimation ---------------------------------------------------------------------------------


def _matches(nb_r: pd.DataFrame, units: set) -> pd.DataFrame:
    nb_r = nb_r[nb_r["neighbourhood"].isin(units)].assign(cohort=nb_r["cohort_year"].astype(float))
    m = est.match_controls(nb_r, unit="neighbourhood", cohort="cohort", score="diagnosis_score",
                           is_control="is_control", method="ministry")
    if m.empty:
        m = est.match_controls(nb_r, unit="neighbourhood", cohort="cohort", score="diagnosis_score",
                               method="nearest", is_control=None)
    return m


def _true_att(d: pd.DataFrame, outcome: Outcome) -> float:
    post = d["cohort"].notna() & (d["time"] >= d["cohort"].fillna(np.inf)) & d[outcome.column].notna()
    v = d.loc[post, outcome.truth].astype(float)
    return float(v.mean()) if len(v) else np.nan


def estimate_effects(admin: pd.DataFrame, survey: pd.DataFrame, neighbourhoods: pd.DataFrame, outcomes: list[str],
                     period: str, leads: int | None = None, lags: int | None = None,
                     alpha: float = 0.05) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Run every estimator on every outcome of every replicate; returns (effects, event study, skipped)."""
    att_parts, dyn_parts, skipped = [], [], {}
    replicates = sorted(neighbourhoods["replicate"].unique())
    for r in replicates:
        nb_r = neighbourhoods[neighbourhoods["replicate"] == r]
        for name in outcomes:
            o = OUTCOMES[name]
            data = survey if o.source == "survey" else admin
            if data is None or data.empty:
                skipped[f"{r}/{name}"] = {"all": "no data (no survey year inside the calendar)"}
                continue
            d = data[data["replicate"] == r]
            win = SURVEY_WINDOW if o.source == "survey" else WINDOWS[period]
            le, la = leads if leads is not None else win[0], lags if lags is not None else win[1]
            matches = _matches(nb_r, set(d["unit"].unique()))
            att, dyn = est.estimate_all(d, o.column, unit="unit", time="time", cohort="cohort", truth=o.truth,
                                        matches=matches, leads=le, lags=la, alpha=alpha)
            if att.attrs.get("skipped"):
                skipped[f"{r}/{name}"] = att.attrs["skipped"]
            # Callaway-Sant'Anna by cohort too (the overall row equals the simple aggregation).
            try:
                grp = est.callaway_santanna(d, o.column, unit="unit", time="time", cohort="cohort",
                                            control="notyet", aggregation="group", truth=o.truth, alpha=alpha)
                att = pd.concat([att, grp[grp["term"] != "ATT"]], ignore_index=True)
            except ValueError:
                pass
            for frame, parts in ((att, att_parts), (dyn, dyn_parts)):
                if frame.empty:
                    continue
                frame = frame.copy()
                frame["outcome"] = name
                frame.insert(0, "replicate", int(r))
                frame.insert(2, "source", o.source)
                frame["unit"] = o.unit
                frame["true_att"] = _true_att(d, o)
                frame["bias"] = frame["estimate"] - frame["true_effect"]
                frame["covers_truth"] = (frame["ci_low"] <= frame["true_effect"]) & (frame["true_effect"] <= frame["ci_high"])
                parts.append(frame)
    effects = pd.concat(att_parts, ignore_index=True) if att_parts else pd.DataFrame()
    dynamic = pd.concat(dyn_parts, ignore_index=True) if dyn_parts else pd.DataFrame()
    return effects, dynamic, skipped


def summarise_effects(effects: pd.DataFrame) -> pd.DataFrame:
    """Across replicates: mean estimate and truth, bias, RMSE, CI coverage of the truth."""
    if effects.empty:
        return pd.DataFrame()
    g = effects.groupby(["outcome", "source", "estimator", "term", "unit"], sort=False)
    s = g.agg(replicates=("replicate", "nunique"), estimate=("estimate", "mean"), se=("se", "mean"),
              ci_low=("ci_low", "mean"), ci_high=("ci_high", "mean"), true_effect=("true_effect", "mean"),
              true_att=("true_att", "mean"), bias=("bias", "mean"),
              rmse=("bias", lambda b: float(np.sqrt(np.mean(np.square(b))))),
              coverage=("covers_truth", "mean")).reset_index()
    return s


# --- spillovers, stages and pillars, cost ----------------------------------------------------------


def spillover_table(results: Results, twin: Results, admin: pd.DataFrame, period: str) -> pd.DataFrame:
    from sn_sim.evaluation.spillovers import block_spillovers, estimated_spillovers, neighbourhood_spillovers

    of_week = _week_periods(results.panel, period)
    parts = [neighbourhood_spillovers(results, twin), block_spillovers(results, twin)]
    parts.append(estimated_spillovers(admin, results, truth="tau_recorded_crimes_per_1000",
                                      period_of_week=lambda w: of_week.get(w, np.nan)))
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=["replicate", "level", "group", "estimator", "outcome"])
    out = pd.concat(parts, ignore_index=True)
    if "true_effect" not in out.columns:
        out["true_effect"] = np.nan
    return out


def stage_pillar_table(effects_weekly: pd.DataFrame, admin: pd.DataFrame, outcomes: list[str],
                       alpha: float = 0.05) -> pd.DataFrame:
    """Effects by stage (truth over neighbourhood-weeks; TWFE and two-stage DiD estimates) and
    associations with pillar intensity (truth and evaluator's dose-response)."""
    rows = []
    weekly = {"offences_per_1000": (52.0, "per 1,000 inhabitants per year"),
              "recorded_crimes_per_1000": (52.0, "per 1,000 inhabitants per year"),
              "victimisation_12m": (100.0, "percentage points"), "trust_police": (100.0, "percentage points"),
              "insecurity": (100.0, "percentage points"), "reporting_rate": (100.0, "percentage points")}
    treated = effects_weekly[effects_weekly["cohort_year"].notna()]
    for (r, stage), d in treated.groupby(["replicate", treated["stage"].astype(str)], sort=True):
        if stage == "none":
            continue
        for o, (k, unit) in weekly.items():
            col = f"{o}_effect"
            if col not in d:
                continue
            per_nb = d.groupby("neighbourhood")[col].mean() * k
            n = per_nb.notna().sum()
            se = float(per_nb.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
            rows.append({"replicate": int(r), "kind": "stage", "level": stage, "estimator": "truth",
                         "outcome": o, "unit": unit, "estimate": float(d[col].mean() * k), "se": se,
                         "ci_low": np.nan, "ci_high": np.nan, "true_effect": float(d[col].mean() * k),
                         "n_obs": int(d[col].notna().sum()), "n_units": int(n)})
    admin_outcomes = [o for o in outcomes if OUTCOMES[o].source in ("admin", "oracle")]
    doses = [f"activities_{p}_per_1000" for p in PILLARS]
    for r, a in admin.groupby("replicate"):
        for name in admin_outcomes:
            o = OUTCOMES[name]
            for method in ("twfe", "did2s"):
                try:
                    res = est.stage_effects(a, o.column, stage="stage", unit="unit", time="time", method=method,
                                            truth=o.truth, alpha=alpha)
                except (ValueError, np.linalg.LinAlgError):
                    continue
                for x in res.itertuples(index=False):
                    rows.append({"replicate": int(r), "kind": "stage", "level": x.term, "estimator": x.estimator,
                                 "outcome": name, "unit": o.unit, "estimate": x.estimate, "se": x.se,
                                 "ci_low": x.ci_low, "ci_high": x.ci_high, "true_effect": x.true_effect,
                                 "n_obs": x.n_obs, "n_units": x.n_units})
            post = a[a["cohort"].notna() & (a["time"] >= a["cohort"].fillna(np.inf))]
            for estimator, data, y, fe in (("truth_association", post, o.truth, "time"),
                                           ("twfe_dose_response", a, o.column, "unit+time")):
                try:
                    res = est.dose_response(data, y, doses, unit="unit", time="time", fixed_effects=fe, alpha=alpha,
                                            estimator=estimator)
                except (ValueError, np.linalg.LinAlgError):
                    continue
                for x in res.itertuples(index=False):
                    rows.append({"replicate": int(r), "kind": "pillar", "level": x.term.replace("activities_", "").replace("_per_1000", ""),
                                 "estimator": estimator, "outcome": name,
                                 "unit": f"{o.unit} per activity per 1,000 inhabitants per year",
                                 "estimate": x.estimate, "se": x.se, "ci_low": x.ci_low, "ci_high": x.ci_high,
                                 "true_effect": np.nan, "n_obs": x.n_obs, "n_units": x.n_units})
    cols = ["replicate", "kind", "level", "estimator", "outcome", "unit", "estimate", "se", "ci_low", "ci_high",
            "true_effect", "n_obs", "n_units"]
    out = pd.DataFrame(rows, columns=cols)
    order = {s: i for i, s in enumerate(STAGE_ORDER)}
    out["_o"] = out["level"].map(order).fillna(99)
    return out.sort_values(["replicate", "kind", "outcome", "estimator", "_o"], kind="stable").drop(columns="_o").reset_index(drop=True)


def cost_table(effects_weekly: pd.DataFrame, effects: pd.DataFrame) -> pd.DataFrame:
    """USD per offence averted and per percentage point of trust gained, true and as estimated."""
    rows = []
    for r, e in effects_weekly.groupby("replicate"):
        cost = float(e["cost_usd_effect"].sum())
        in_kind = float(e["cost_in_kind_usd_effect"].sum())
        treated = e[e["cohort_year"].notna()]
        post = treated[treated["event_week"].fillna(-1) >= 0]
        # neighbourhood-years and 1,000-inhabitant-years of exposure after launch
        nb_years = len(post) / 52.0
        kpop_years = float((post["population"] / 1000.0).sum() / 52.0)
        trust_years = float((post["trust_police_effect"] * 100).sum() / 52.0)

        def add(measure, basis, quantity, qunit):
            ok = np.isfinite(quantity) and quantity > 0
            rows.append({"replicate": int(r), "measure": measure, "basis": basis, "quantity": quantity,
                         "quantity_unit": qunit, "cost_usd": cost, "cost_in_kind_usd": in_kind,
                         "usd_per_unit": cost / quantity if ok else np.nan,
                         "usd_per_unit_incl_in_kind": (cost + in_kind) / quantity if ok else np.nan,
                         "note": "" if ok else "no gain: cost-effectiveness undefined"})

        add("usd_per_offence_averted", "truth", -float(treated["offences_effect"].sum()), "offences averted in intervened neighbourhoods")
        add("usd_per_offence_averted_net", "truth", -float(e["offences_effect"].sum()),
            "offences averted, all neighbourhoods (net of displacement or diffusion)")
        add("usd_per_recorded_crime_averted", "truth", -float(treated["recorded_crimes_effect"].sum()), "recorded crimes averted")
        add("usd_per_pp_trust_year", "truth", trust_years, "percentage points of trust x neighbourhood-years")
        if effects is None or effects.empty:
            continue
        er = effects[(effects["replicate"] == r) & (effects["term"] == "ATT")]
        for x in er.itertuples(index=False):
            if x.outcome == "recorded_crimes_per_1000":
                add("usd_per_recorded_crime_averted", f"estimated:{x.estimator}", -x.estimate * kpop_years, "recorded crimes averted")
            elif x.outcome == "offences_per_1000":
                add("usd_per_offence_averted", f"estimated:{x.estimator} (oracle data)", -x.estimate * kpop_years,
                    "offences averted in intervened neighbourhoods")
            elif x.outcome == "trust_police":
                add("usd_per_pp_trust_year", f"estimated:{x.estimator}", x.estimate * nb_years,
                    "percentage points of trust x neighbourhood-years")
    return pd.DataFrame(rows, columns=["replicate", "measure", "basis", "quantity", "quantity_unit", "cost_usd",
                                       "cost_in_kind_usd", "usd_per_unit", "usd_per_unit_incl_in_kind", "note"])


# --- plots --------------------------------------------------------------------------------------

_COLORS = {"event_study_twfe": "#d95f02", "event_study_did2s": "#1b9e77", "event_study_cs": "#7570b3",
           "twfe": "#d95f02", "did2s": "#1b9e77", "cs_notyet": "#7570b3", "cs_never": "#e7298a", "matched": "#66a61e"}


def plot_event_study(dynamic: pd.DataFrame, path: Path, outcomes: list[str], period: str = "quarter") -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    # Recorded crime and true offences first (the quarterly panel), then the survey items.
    ordered = sorted(outcomes, key=lambda o: OUTCOMES[o].source == "survey")
    shown = [o for o in ordered if not dynamic.empty and o in set(dynamic["outcome"])][:6]
    n = max(len(shown), 1)
    ncols = 2 if n > 1 else 1
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.5 * ncols, 4.2 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, shown):
        d = dynamic[(dynamic["outcome"] == name) & (dynamic["replicate"] == dynamic["replicate"].min())]
        methods = [m for m in ("event_study_twfe", "event_study_did2s", "event_study_cs") if m in set(d["estimator"])]
        for i, m in enumerate(methods):
            x = d[d["estimator"] == m].sort_values("event_time")
            off = (i - (len(methods) - 1) / 2) * 0.12
            err = np.vstack([x["estimate"] - x["ci_low"], x["ci_high"] - x["estimate"]])
            ax.errorbar(x["event_time"] + off, x["estimate"], yerr=np.nan_to_num(err), fmt="o", ms=3.5, capsize=2,
                        color=_COLORS[m], label=m.replace("event_study_", "").replace("cs", "Callaway-Sant'Anna"))
        truth = d[d["estimator"] == (methods[0] if methods else "")].sort_values("event_time")
        ax.plot(truth["event_time"], truth["true_effect"], "k-", lw=1.6, label="true effect (twin)")
        ax.axhline(0, color="grey", lw=0.8)
        ax.axvline(-0.5, color="grey", lw=0.8, ls=":")
        unit = OUTCOMES[name].unit
        ax.set_title(OUTCOMES[name].label, fontsize=10)
        ax.set_xlabel("survey years since launch" if OUTCOMES[name].source == "survey" else f"{period}s since launch")
        ax.set_ylabel(unit)
        ax.legend(fontsize=7, loc="best")
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    if not shown:
        axes.flat[0].text(0.5, 0.5, "no event study could be estimated", ha="center", va="center")
    fig.suptitle("Event study: estimates (95% CI, replicate 0) against the true effect", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_estimator_comparison(effects: pd.DataFrame, path: Path, outcomes: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    att = effects[effects["term"] == "ATT"] if not effects.empty else effects
    shown = [o for o in outcomes if not att.empty and o in set(att["outcome"])]
    n = max(len(shown), 1)
    ncols = 3 if n > 2 else n
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False)
    r0 = int(att["replicate"].min()) if not att.empty else 0
    for ax, name in zip(axes.flat, shown):
        d = att[att["outcome"] == name]
        names = [e for e in est.ESTIMATORS if e in set(d["estimator"])]
        for i, e in enumerate(names):
            x = d[d["estimator"] == e]
            first = x[x["replicate"] == r0]
            others = x[x["replicate"] != r0]
            ax.scatter(others["estimate"], np.full(len(others), i), s=8, color="lightgrey", zorder=1)
            if len(first):
                f = first.iloc[0]
                ax.errorbar(f["estimate"], i, xerr=[[f["estimate"] - f["ci_low"]], [f["ci_high"] - f["estimate"]]],
                            fmt="o", color=_COLORS.get(e, "C0"), capsize=3, zorder=3)
                ax.plot(f["true_effect"], i, "kx", ms=7, zorder=4)
        if len(d):
            ax.axvline(d.loc[d["replicate"] == r0, "true_att"].mean(), color="k", ls="--", lw=1)
        ax.axvline(0, color="grey", lw=0.6)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_title(OUTCOMES[name].label, fontsize=9)
        ax.set_xlabel(OUTCOMES[name].unit, fontsize=8)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    fig.suptitle("Estimated ATT (95% CI) vs truth: x = estimand's true value, dashed = true ATT", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


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
            lines.append(f"| {x.outcome} ({x.unit}) | {x.source} | {x.estimator} | {_fmt(x.estimate)} | "
                         f"[{_fmt(x.ci_low)}, {_fmt(x.ci_high)}] | {_fmt(x.true_effect)} | {_fmt(x.true_att)} | "
                         f"{_fmt(x.bias)} | {_fmt(x.rmse)} | {_fmt(x.coverage, 2)} |")
    skipped = meta.get("skipped") or {}
    if skipped:
        lines += ["", "Estimators that could not run on a design:", ""]
        for key, why in skipped.items():
            for name, reason in why.items():
                lines.append(f"- replicate/outcome {key}: {name}: {reason}")
    lines += ["", "Estimators: twfe (two-way fixed effects, pyfixest feols); did2s (Gardner two-stage DiD, pyfixest "
              "did2s); cs_notyet / cs_never (Callaway & Sant'Anna group-time ATT with not-yet-treated / never-treated "
              "controls, simple aggregation); matched (stacked DiD against the Ministry's matched control "
              "neighbourhoods, pyfixest feols).", ""]
    return "\n".join(lines)


# --- the entry point -----------------------------------------------------------------------------


def _resolve_outcomes(outcomes) -> list[str]:
    if not outcomes:
        return list(OUTCOMES)
    bad = [o for o in outcomes if o not in OUTCOMES]
    if bad:
        raise EvaluationError(f"--outcome: unknown outcome {bad[0]!r} (choose from {', '.join(OUTCOMES)})")
    return list(dict.fromkeys(outcomes))


def evaluate(source: str | Path | Results, out: str | Path | None = None, *, twin: Results | None = None,
             survey_size: int = 400, seed: int | None = None, outcomes: list[str] | None = None,
             period: str = "quarter", leads: int | None = None, lags: int | None = None,
             force: bool = False, plots: bool = True, alpha: float = 0.05,
             progress: Callable[[int], None] | None = None) -> Evaluation:
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

    Returns
    -------
    Evaluation with every table; ``out`` is where they were written (or None).
    """
    outcomes = _resolve_outcomes(outcomes)
    if survey_size < 1:
        raise EvaluationError(f"--survey-size: must be at least 1 (got {survey_size})")
    if period not in WINDOWS:
        raise EvaluationError(f"--period: unknown period {period!r} (choose from {', '.join(WINDOWS)})")
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
        check_output_dir(out, force)  # before reading anything
        results, stored, twin_source = load_evaluation_inputs(run_dir, out if force else None)
        if twin is None:
            twin = stored
        else:
            twin_source = "given"
    if out is not None:
        check_output_dir(out, force)  # fail before simulating, not after
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
        admin = admin_data(results, twin, period)
        survey = survey_data(results, twin, size=survey_size, seed=survey_seed)
        effects, dynamic, skipped = estimate_effects(admin, survey, results.neighbourhoods, outcomes, period,
                                                     leads=leads, lags=lags, alpha=alpha)
        summary = summarise_effects(effects)
        spill = spillover_table(results, twin, admin, period)
        stage_pillar = stage_pillar_table(weekly, admin, outcomes, alpha)
        costs = cost_table(weekly, effects)

    scenario = scenario_of(results)
    meta = {
        "run": run_label, "scenario_name": m.get("scenario_name", scenario.name),
        "scenario_hash": m.get("scenario_hash"), "seed": m.get("seed"), "replicates": m.get("replicates"),
        "twin_scenario_hash": twin.manifest.get("scenario_hash"), "twin_source": twin_source,
        "survey_size": survey_size, "survey_seed": survey_seed, "survey_field_date": "03-15",
        "survey_coverage": "treated_and_controls", "period": period, "outcomes": outcomes, "alpha": alpha,
        "mix": scenario.strategy.mix.model_dump(), "skipped": skipped,
        "version": _package_version(), "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    ev = Evaluation(effects=effects, effects_summary=summary, event_study=dynamic, spillovers=spill,
                    by_stage_pillar=stage_pillar, cost_effectiveness=costs, survey=survey, true_effects=weekly,
                    metadata=meta, twin=twin, out=None)
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
    check_output_dir(out, force)
    with staged_directory(out) as tmp:
        ev.effects.to_csv(tmp / "effects.csv", index=False)
        ev.effects_summary.to_csv(tmp / "effects_summary.csv", index=False)
        (tmp / "effects.md").write_text(effects_markdown(ev.effects_summary, ev.metadata))
        ev.event_study.to_csv(tmp / "event_study.csv", index=False)
        ev.spillovers.to_csv(tmp / "spillovers.csv", index=False)
        ev.by_stage_pillar.to_csv(tmp / "by_stage_pillar.csv", index=False)
        ev.cost_effectiveness.to_csv(tmp / "cost_effectiveness.csv", index=False)
        ev.survey.to_csv(tmp / "survey.csv", index=False)
        ev.true_effects.to_parquet(tmp / "true_effects.parquet", index=False)
        if plots:
            plot_event_study(ev.event_study, tmp / "event_study.png", ev.metadata["outcomes"], ev.metadata["period"])
            plot_estimator_comparison(ev.effects, tmp / "estimator_comparison.png", ev.metadata["outcomes"])
        if save_twin and ev.twin is not None:
            ev.twin.save(tmp / "twin", plots=False)
        (tmp / "evaluation.json").write_text(json.dumps(ev.metadata, indent=2, default=str))
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
    check_output_dir(out, force)
    for d in run_dirs:
        check_run_dir(d)  # fail on a bad directory before any work
    _refuse_replacing_run(out, run_dirs)
    with staged_directory(out) as tmp:
        for d, label in zip(run_dirs, labels):
            evaluations[label] = evaluate(d, tmp / label, **kwargs)
        table = comparison_table(evaluations)
        table.to_csv(tmp / "comparison.csv", index=False)
    for label in labels:
        evaluations[label].out = out / label
    return table, evaluations
