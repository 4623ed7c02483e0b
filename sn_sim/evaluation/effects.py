"""Estimated against true effects: every estimator on every outcome and replicate, their summary
across replicates, and the tables built on them (spillovers, stages and pillars, cost).

Outcomes, units and conversions come from ``measures`` (the outcome registry).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sn_sim.evaluation import estimators as est
from sn_sim.evaluation.data import week_periods
from sn_sim.evaluation.measures import (ACTIVITY_RATES, OUTCOMES, STAGE_TRUTH, WEEKS_PER_YEAR, EvaluationOutcome,
                                        effect_scale, effect_unit, numerator_total)
from sn_sim.observe.results import Results

# Default event-study windows (leads, lags) in periods: a quarter and a year of weeks, ...
WINDOWS = {"week": (13, int(WEEKS_PER_YEAR)), "month": (6, 24), "quarter": (4, 8), "year": (2, 3)}
SURVEY_WINDOW = (2, 3)
STAGE_ORDER = ("planning", "execution", "consolidation", "evaluation")


# --- estimated against true effects -------------------------------------------------------------


def _matches(nb_r: pd.DataFrame, units: set) -> pd.DataFrame:
    nb_r = nb_r[nb_r["neighbourhood"].isin(units)].assign(cohort=nb_r["cohort_year"].astype(float))
    m = est.match_controls(nb_r, unit="neighbourhood", cohort="cohort", score="diagnosis_score",
                           is_control="is_control", method="ministry")
    if m.empty:
        m = est.match_controls(nb_r, unit="neighbourhood", cohort="cohort", score="diagnosis_score",
                               method="nearest", is_control=None)
    return m


def _true_att(d: pd.DataFrame, outcome: EvaluationOutcome) -> float:
    post = d["cohort"].notna() & (d["time"] >= d["cohort"].fillna(np.inf)) & d[outcome.column].notna()
    v = d.loc[post, outcome.truth].astype(float)
    return float(v.mean()) if len(v) else np.nan


def estimate_effects(admin: pd.DataFrame, survey: pd.DataFrame, neighbourhoods: pd.DataFrame, outcomes: list[str],
                     period: str, leads: int | None = None, lags: int | None = None,
                     alpha: float = 0.05, event_studies: bool = True) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Run every estimator on every outcome of every replicate; returns (effects, event study, skipped).

    Each estimator of ``estimators.BUFFERED`` also runs without the never-treated neighbours of
    treated neighbourhoods (``<code>_buffer``); without ``event_studies`` only the overall ATTs
    are estimated (no event study, no Callaway-Sant'Anna ATT by cohort)."""
    from sn_sim.evaluation.spillovers import buffer_units

    att_parts, dyn_parts, skipped = [], [], {}
    replicates = sorted(neighbourhoods["replicate"].unique())
    buffers = buffer_units(neighbourhoods)
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
                                        matches=matches, leads=le, lags=la, alpha=alpha,
                                        buffer=buffers.get(int(r)), event_studies=event_studies)
            if att.attrs.get("skipped"):
                skipped[f"{r}/{name}"] = att.attrs["skipped"]
            # Callaway-Sant'Anna by cohort too (the overall row equals the simple aggregation).
            try:
                if event_studies:
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


def diagnostic_tables(admin: pd.DataFrame, survey: pd.DataFrame, neighbourhoods: pd.DataFrame, outcomes: list[str],
                      period: str, leads: int | None = None, lags: int | None = None,
                      alpha: float = 0.05) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Why TWFE misleads, and how robust the robust estimate is, for every outcome and replicate:
    the Goodman-Bacon decomposition of TWFE (``bacon.csv``: each 2 x 2 comparison, its weight,
    estimate and true effect) and the HonestDiD bounds on the Callaway-Sant'Anna event study
    under relative-magnitude violations of parallel trends (``honest_did.csv``). A design on
    which one cannot run is left out."""
    bacon_parts, honest_parts = [], []
    for r in sorted(neighbourhoods["replicate"].unique()):
        for name in outcomes:
            o = OUTCOMES[name]
            data = survey if o.source == "survey" else admin
            if data is None or data.empty:
                continue
            d = data[data["replicate"] == r]
            win = SURVEY_WINDOW if o.source == "survey" else WINDOWS[period]
            le, la = leads if leads is not None else win[0], lags if lags is not None else win[1]
            tag = dict(replicate=int(r), outcome=name, source=o.source, unit=o.unit)
            try:
                b = est.bacon_decomposition(d, o.column, unit="unit", time="time", cohort="cohort", truth=o.truth)
                bacon_parts.append(b.drop(columns="outcome").assign(**tag))
            except (ValueError, np.linalg.LinAlgError):
                pass
            try:
                h = est.honest_did(d, o.column, unit="unit", time="time", cohort="cohort", control="notyet",
                                   leads=le, lags=la, truth=o.truth, alpha=alpha)
                honest_parts.append(h.drop(columns="outcome").assign(**tag))
            except (ValueError, np.linalg.LinAlgError):
                pass

    def frame(parts, columns):
        lead = ["replicate", "outcome", "source", "unit"]
        if not parts:
            return pd.DataFrame(columns=lead + [c for c in columns if c != "outcome"])
        out = pd.concat(parts, ignore_index=True)
        return out[lead + [c for c in out.columns if c not in lead]]

    return frame(bacon_parts, est.BACON_COLUMNS), frame(honest_parts, est.HONEST_COLUMNS)


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

    of_week = week_periods(results.panel, period)
    recorded = next(o for o in OUTCOMES.values() if o.source == "admin")
    parts = [neighbourhood_spillovers(results, twin), block_spillovers(results, twin)]
    parts.append(estimated_spillovers(admin, results, outcome=recorded.column, truth=recorded.truth,
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
    treated = effects_weekly[effects_weekly["cohort_year"].notna()]
    for (r, stage), d in treated.groupby(["replicate", treated["stage"].astype(str)], sort=True):
        if stage == "none":
            continue
        for o in STAGE_TRUTH:
            col = f"{o.name}_effect"
            if col not in d:
                continue
            k = effect_scale(o)
            per_nb = d.groupby("neighbourhood")[col].mean() * k
            n = per_nb.notna().sum()
            se = float(per_nb.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
            rows.append({"replicate": int(r), "kind": "stage", "level": stage, "estimator": "truth",
                         "outcome": o.name, "unit": effect_unit(o), "estimate": float(d[col].mean() * k), "se": se,
                         "ci_low": np.nan, "ci_high": np.nan, "true_effect": float(d[col].mean() * k),
                         "n_obs": int(d[col].notna().sum()), "n_units": int(n)})
    admin_outcomes = [o for o in outcomes if OUTCOMES[o].source in ("admin", "oracle")]
    pillar_of_dose = {rate.name: p for p, rate in ACTIVITY_RATES.items()}
    doses = list(pillar_of_dose)
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
                    rows.append({"replicate": int(r), "kind": "pillar", "level": pillar_of_dose.get(x.term, x.term),
                                 "estimator": estimator, "outcome": name,
                                 "unit": f"{o.unit} per (activity per 1,000 inhabitants per year)",
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
    trust = OUTCOMES["trust_police"]
    for r, e in effects_weekly.groupby("replicate"):
        cost = float(e["cost_usd_effect"].sum())
        in_kind = float(e["cost_in_kind_usd_effect"].sum())
        treated = e[e["cohort_year"].notna()]
        post = treated[treated["event_week"].fillna(-1) >= 0]
        # exposure after launch: neighbourhood-years, and the person-weeks below a rate's line
        nb_years = len(post) / WEEKS_PER_YEAR
        person_weeks = float(post["population"].sum())
        trust_years = float((post[f"{trust.definition.name}_effect"] * effect_scale(trust.definition)).sum()
                            / WEEKS_PER_YEAR)

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
            o = OUTCOMES.get(x.outcome)
            if o is None:
                continue
            if o.source == "admin":  # a rate per 1,000 per year x the person-weeks exposed: a count
                add("usd_per_recorded_crime_averted", f"estimated:{x.estimator}",
                    -numerator_total(x.estimate, o.definition, person_weeks), "recorded crimes averted")
            elif o.source == "oracle":
                add("usd_per_offence_averted", f"estimated:{x.estimator} (oracle data)",
                    -numerator_total(x.estimate, o.definition, person_weeks),
                    "offences averted in intervened neighbourhoods")
            elif o is trust:
                add("usd_per_pp_trust_year", f"estimated:{x.estimator}", x.estimate * nb_years,
                    "percentage points of trust x neighbourhood-years")
    return pd.DataFrame(rows, columns=["replicate", "measure", "basis", "quantity", "quantity_unit", "cost_usd",
                                       "cost_in_kind_usd", "usd_per_unit", "usd_per_unit_incl_in_kind", "note"])
