"""Spillovers of the strategy onto untreated places next door: displacement or diffusion.

Offenders deterred in an intervened neighbourhood may move next door (displacement) or desist,
and the deterrence may reach beyond the intervened area (diffusion of benefits; Clarke &
Weisburd 1994; Guerette & Bowers 2009). The twin shows which: for untreated places,

    spillover = offences (treated run) - offences (twin)

is positive under displacement and negative under diffusion of benefits.

Two levels:

- neighbourhoods: never-treated neighbourhoods adjacent to an intervened one (the
  neighbourhoods table's ``adjacent`` lists), from the first launch among their intervened
  neighbours on; compared with never-treated neighbourhoods with no intervened neighbour
  (over the weeks from the first launch anywhere), whose twin difference shows how much the
  runs diverge through noise alone (weekly random streams are shared, but the number of draws
  of a stream can change with the strategy, which re-shuffles individual outcomes).
- blocks: in those adjacent never-treated neighbourhoods, the border column that touches the
  intervened neighbour (neighbourhoods of a city sit side by side in pool order, so the
  intervened neighbour on the left touches column 0 and the one on the right the last column)
  against the same neighbourhoods' interior columns, in calendar years from the neighbour's
  launch year on (block counts are yearly).

Uncertainty: means over neighbourhoods with standard errors across neighbourhoods (clustered
by neighbourhood) and Student-t intervals; ``interpretation`` reads "displacement" or
"diffusion of benefits" only when the interval excludes zero.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from sn_sim.evaluation.measures import OFFENCES_YEAR, RECORDED_YEAR, definition
from sn_sim.observe.results import Results
from sn_sim.scenario import calendar

SPILLOVER_COLUMNS = [
    "replicate", "level", "group", "estimator", "outcome", "unit", "n_neighbourhoods", "effect", "se", "ci_low",
    "ci_high", "twin_level", "relative_effect", "interpretation",
]


def _interpret(lo: float, hi: float) -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "undetermined"
    if lo > 0:
        return "displacement"
    if hi < 0:
        return "diffusion of benefits"
    return "no detectable spillover"


def _summarise(values: np.ndarray, twin_values: np.ndarray, alpha: float = 0.05) -> dict:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = v.size
    if n == 0:
        return {"n_neighbourhoods": 0, "effect": np.nan, "se": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                "twin_level": np.nan, "relative_effect": np.nan, "interpretation": "undetermined"}
    mean = float(v.mean())
    se = float(v.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
    crit = float(stats.t.ppf(1 - alpha / 2, max(n - 1, 1)))
    lo, hi = (mean - crit * se, mean + crit * se) if np.isfinite(se) else (np.nan, np.nan)
    base = float(np.nanmean(twin_values)) if np.size(twin_values) else np.nan
    return {"n_neighbourhoods": n, "effect": mean, "se": se, "ci_low": lo, "ci_high": hi, "twin_level": base,
            "relative_effect": mean / base if base and np.isfinite(base) else np.nan,
            "interpretation": _interpret(lo, hi)}


def buffer_units(neighbourhoods: pd.DataFrame) -> dict[int, set[int]]:
    """Per replicate: the never-treated neighbourhoods adjacent to a treated one (the units a
    spillover-aware evaluation leaves out of its controls, ``estimators.BUFFERED``)."""
    out = {}
    for r, g in neighbourhoods.groupby("replicate"):
        treated = set(g.loc[g["cohort_year"].notna(), "neighbourhood"].astype(int))
        out[int(r)] = {int(h) for h, c, adj in zip(g["neighbourhood"], g["cohort_year"], g["adjacent"])
                       if pd.isna(c) and treated.intersection(np.asarray(adj, dtype=np.int64).tolist())}
    return out


def exposure(results: Results) -> pd.DataFrame:
    """Per replicate x never-treated neighbourhood: the intervened neighbours, the first launch
    among them (``exposure_week``, panel week index; NA if none) and which side they are on."""
    nb = results.neighbourhoods
    panel = results.panel
    start = pd.Timestamp(panel.loc[panel["week"] == panel["week"].min(), "date"].iloc[0])
    rows = []
    for r, g in nb.groupby("replicate"):
        cohort = dict(zip(g["neighbourhood"], g["cohort_year"]))
        launch = dict(zip(g["neighbourhood"], pd.to_datetime(g["launch_date"])))
        for h, adj in zip(g["neighbourhood"], g["adjacent"]):
            if pd.notna(cohort[h]):
                continue
            treated_adj = [int(a) for a in np.asarray(adj, dtype=np.int64) if pd.notna(cohort.get(int(a)))]
            weeks = [int(calendar.weeks_since(start, [launch[a]])[0]) for a in treated_adj]
            years = [launch[a].year for a in treated_adj]
            rows.append({
                "replicate": int(r), "neighbourhood": int(h), "treated_neighbours": treated_adj,
                "exposure_week": min(weeks) if weeks else pd.NA,
                "exposure_year": min(years) if years else pd.NA,
                "left_launch_year": min([launch[a].year for a in treated_adj if a < h], default=pd.NA),
                "right_launch_year": min([launch[a].year for a in treated_adj if a > h], default=pd.NA),
            })
    cols = ["replicate", "neighbourhood", "treated_neighbours", "exposure_week", "exposure_year",
            "left_launch_year", "right_launch_year"]
    out = pd.DataFrame(rows, columns=cols)
    for c in cols[3:]:
        out[c] = out[c].astype("Int64")
    return out


def neighbourhood_spillovers(results: Results, twin: Results,
                             outcomes: tuple[str, ...] = (OFFENCES_YEAR.name, RECORDED_YEAR.name),
                             alpha: float = 0.05) -> pd.DataFrame:
    """True spillovers on never-treated neighbourhoods, adjacent vs not adjacent to an intervened
    one: per neighbourhood the mean over weeks of the weekly true effect on each outcome (rates:
    the week's rate annualised, as ``twins.true_effects`` gives them), then over neighbourhoods."""
    from sn_sim.evaluation.twins import true_effects

    eff = true_effects(results, twin, outcomes=list(outcomes))
    exp = exposure(results)
    launches = eff.loc[eff["launch_week"].notna()].groupby("replicate")["launch_week"].min()
    rows = []
    for r, ex in exp.groupby("replicate"):
        e = eff[(eff["replicate"] == r) & eff["cohort_year"].isna()].merge(
            ex[["neighbourhood", "exposure_week"]], on="neighbourhood", how="left")
        first_launch = launches.get(r, pd.NA)
        if pd.isna(first_launch):
            continue
        adjacent = e["exposure_week"].notna()
        groups = {
            "adjacent_untreated": e[adjacent & (e["week"] >= e["exposure_week"].fillna(10**9))],
            "non_adjacent_untreated": e[~adjacent & (e["week"] >= int(first_launch))],
        }
        for name, d in groups.items():
            for o in outcomes:
                per_nb = d.groupby("neighbourhood")[[f"{o}_effect", f"{o}_twin"]].mean()
                s = _summarise(per_nb[f"{o}_effect"].to_numpy(), per_nb[f"{o}_twin"].to_numpy(), alpha)
                if name == "non_adjacent_untreated":  # a reference, not a spatial spillover
                    s["interpretation"] = {"displacement": "higher than twin", "diffusion of benefits": "lower than twin",
                                           "no detectable spillover": "no detectable difference"}.get(
                                               s["interpretation"], s["interpretation"])
                rows.append({"replicate": int(r), "level": "neighbourhood", "group": name, "estimator": "truth",
                             "outcome": o, "unit": definition(o).unit, **s})
    return pd.DataFrame(rows, columns=SPILLOVER_COLUMNS)


def block_spillovers(results: Results, twin: Results, alpha: float = 0.05) -> pd.DataFrame:
    """True spillovers on the border blocks of never-treated neighbourhoods that face an
    intervened neighbour, against the interior blocks of the same neighbourhoods (offences per
    block per year), and the border-minus-interior difference."""
    b, bt = results.blocks, twin.blocks
    if b is None or b.empty or bt is None or bt.empty:
        return pd.DataFrame(columns=SPILLOVER_COLUMNS)
    keys = ["replicate", "year", "neighbourhood", "block"]
    m = b[keys + ["col", "offences"]].merge(bt[keys + ["offences"]].rename(columns={"offences": "offences_twin"}),
                                           on=keys, how="inner")
    m["effect"] = m["offences"] - m["offences_twin"]
    last_col = int(m["col"].max())
    exp = exposure(results)
    rows = []
    for r, ex in exp.groupby("replicate"):
        ex = ex[ex["exposure_year"].notna()]
        per_border, per_interior, tw_border, tw_interior = {}, {}, {}, {}
        for x in ex.itertuples(index=False):
            d = m[(m["replicate"] == r) & (m["neighbourhood"] == x.neighbourhood)]
            border_parts = []
            if pd.notna(x.left_launch_year):
                border_parts.append(d[(d["col"] == 0) & (d["year"] >= x.left_launch_year)])
            if pd.notna(x.right_launch_year):
                border_parts.append(d[(d["col"] == last_col) & (d["year"] >= x.right_launch_year)])
            border = pd.concat(border_parts) if border_parts else d.iloc[:0]
            interior = d[(d["col"] > 0) & (d["col"] < last_col) & (d["year"] >= x.exposure_year)]
            if border.empty or interior.empty:
                continue
            h = x.neighbourhood
            per_border[h], tw_border[h] = border["effect"].mean(), border["offences_twin"].mean()
            per_interior[h], tw_interior[h] = interior["effect"].mean(), interior["offences_twin"].mean()
        if not per_border:
            continue
        hs = sorted(per_border)
        bv = np.array([per_border[h] for h in hs])
        iv = np.array([per_interior[h] for h in hs])
        for name, v, tw in (("border_blocks_facing_intervened", bv, [tw_border[h] for h in hs]),
                            ("interior_blocks", iv, [tw_interior[h] for h in hs]),
                            ("border_minus_interior", bv - iv, [tw_border[h] for h in hs])):
            s = _summarise(v, np.asarray(tw), alpha)
            rows.append({"replicate": int(r), "level": "block", "group": name, "estimator": "truth",
                         "outcome": "offences", "unit": "offences per block per year", **s})
    return pd.DataFrame(rows, columns=SPILLOVER_COLUMNS)


def estimated_spillovers(admin: pd.DataFrame, results: Results, outcome: str = RECORDED_YEAR.name,
                         truth: str | None = None, period_of_week=None, alpha: float = 0.05) -> pd.DataFrame:
    """What an evaluator would estimate: DiD on never-treated neighbourhoods only, with 'treated'
    meaning 'has an intervened neighbour' from the first neighbour's launch period on (TWFE and
    Callaway-Sant'Anna with not-yet-exposed controls). ``admin`` is the evaluator's period
    panel (``unit``, ``time``, outcome, truth column); ``period_of_week`` maps a panel week index
    to its period label."""
    from sn_sim.evaluation.estimators import callaway_santanna, twfe_did

    exp = exposure(results)
    rows = []
    for r, ex in exp.groupby("replicate"):
        d = admin[(admin["replicate"] == r) & admin["cohort"].isna()].drop(columns="cohort")
        if d.empty:
            continue
        ew = ex.set_index("neighbourhood")["exposure_week"]
        d = d.assign(cohort=d["neighbourhood"].map(
            lambda h: float(period_of_week(int(ew[h]))) if h in ew.index and pd.notna(ew[h]) else np.nan))
        for name, fn, kw in (("twfe", twfe_did, {}), ("cs_notyet", callaway_santanna, {"control": "notyet"})):
            try:
                est = fn(d, outcome, unit="unit", time="time", cohort="cohort", truth=truth, alpha=alpha, **kw)
            except (ValueError, np.linalg.LinAlgError):
                continue
            for x in est.itertuples(index=False):
                rows.append({"replicate": int(r), "level": "neighbourhood", "group": "adjacent_untreated",
                             "estimator": name, "outcome": outcome, "unit": definition(outcome).unit,
                             "n_neighbourhoods": x.n_units, "effect": x.estimate, "se": x.se, "ci_low": x.ci_low,
                             "ci_high": x.ci_high, "twin_level": np.nan,
                             "relative_effect": np.nan, "interpretation": _interpret(x.ci_low, x.ci_high),
                             "true_effect": x.true_effect})
    return pd.DataFrame(rows, columns=SPILLOVER_COLUMNS + ["true_effect"])
