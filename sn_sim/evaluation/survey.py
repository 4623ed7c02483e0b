"""An INEI-style yearly survey of residents aged 15 and over, drawn from the simulated panel.

Supreme Decree 008-2017-IN asks for INEI surveys in intervened and control neighbourhoods at
baseline and at each follow-up. Each year, in the panel week nearest the field date (default
15 March, before the April-May launches of the 2017-2019 cohorts, so every cohort has a
baseline), ``size`` residents aged 15+ are interviewed in each surveyed neighbourhood:

- victimisation: victim of an offence in the last 12 months (INEI's definition);
- reporting: asked of the sampled victims only: did you report it to the police;
- trust: trusts the police a lot or enough;
- insecurity: expects to be a victim in the next 12 months.

Sampling. A simple random sample of n residents (with replacement) from a neighbourhood where a
share p has an attribute gives a Binomial(n, p) count of respondents with it, so drawing
``Binomial(n, p)`` around the panel's true population share at the survey week is *exactly*
simple random sampling of residents for each item's marginal; the number of reporting victims is
``Binomial(victims in the sample, reporting rate)``, exactly what asking the sampled victims
gives. Without replacement the variance would be smaller by the finite-population factor
(1 - n/N), about 0.97 for 400 interviews among 8,000-16,000 residents 15+: ignored. Items are
drawn independently, so within-respondent correlations between items are not reproduced
(no estimator here uses them). Trust in the panel is measured among adults 18+; the survey
applies it to its 15+ respondents (15-17 year olds are a small share).

The draw is seeded and deterministic: each replicate x neighbourhood x year cell has its own
stream ``SeedSequence(seed, spawn_key=(replicate, neighbourhood, year))``, so a cell's draw does
not depend on which other neighbourhoods or years are surveyed.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from sn_sim.evaluation.measures import SURVEY_ITEMS
from sn_sim.scenario import calendar

WORDING = {
    "victimisation": "victim of an offence in the last 12 months (residents 15+)",
    "reporting": "victims who reported the offence to the police",
    "trust_police": "trust the police a lot or enough",
    "insecurity": "expect to be a victim in the next 12 months",
}
# survey item -> (panel share column, from the item's outcome definition; INEI wording)
ITEMS = {item: (SURVEY_ITEMS[item].numerator[0], wording) for item, wording in WORDING.items()}


def survey_weeks(panel: pd.DataFrame, field_date: tuple[int, int] = (3, 15)) -> pd.DataFrame:
    """One survey week per calendar year: the panel week nearest to the field date, kept only if
    within 3 days of it (so a partial first or last year is not surveyed off season)."""
    weeks = panel[["week", "date"]].drop_duplicates("week").sort_values("week")
    dates = pd.to_datetime(weeks["date"])
    rows = []
    for year in sorted(dates.dt.year.unique()):
        target = pd.Timestamp(dt.date(int(year), field_date[0], field_date[1]))
        gap = (dates - target).abs()
        i = int(np.argmin(gap.to_numpy()))
        if gap.iloc[i] <= pd.Timedelta(days=3):
            rows.append({"year": int(year), "week": int(weeks["week"].iloc[i]), "date": dates.iloc[i]})
    return pd.DataFrame(rows, columns=["year", "week", "date"])


def draw_survey(panel: pd.DataFrame, neighbourhoods: pd.DataFrame | None = None, *, size: int = 400,
                seed: int = 0, field_date: tuple[int, int] = (3, 15), coverage: str = "treated_and_controls",
                twin_panel: pd.DataFrame | None = None) -> pd.DataFrame:
    """Draw the yearly survey.

    Parameters
    ----------
    panel : the run's weekly panel (replicate x neighbourhood x week)
    neighbourhoods : the run's neighbourhood table (cohort_year, is_control, launch_date); if
        None they are read from the panel (cohort_year, is_control at the last week)
    size : respondents 15+ per neighbourhood and year (ENAPRES-style cluster size; >= 1)
    seed : survey seed (the same seed gives the same survey)
    field_date : (month, day) of fieldwork each year
    coverage : "treated_and_controls" (the decree's design: neighbourhoods ever selected and
        the Ministry's designated controls) or "all" candidate neighbourhoods
    twin_panel : optional panel of the counterfactual twin; adds ``true_effect_<item>`` (the
        treated-run share minus the twin's share, in percentage points)

    Returns
    -------
    One row per replicate x neighbourhood x survey year: identifiers, ``cohort_year``,
    ``launch_week``, ``treated_at_survey``, ``respondents``, counts (``victims``, ``reported``,
    ``trusting``, ``insecure``), estimated shares in percent with binomial standard errors
    (``victimisation``, ``se_victimisation``, ...; ``reporting`` is NaN when no sampled
    victim) and the panel's true population shares in percent (``true_<item>``).
    """
    if size < 1:
        raise ValueError(f"survey size must be at least 1 (got {size})")
    if coverage not in ("treated_and_controls", "all"):
        raise ValueError(f"coverage must be 'treated_and_controls' or 'all' (got {coverage!r})")
    weeks = survey_weeks(panel, field_date)
    if weeks.empty:
        return pd.DataFrame()
    cols = ["replicate", "neighbourhood", "week", "district", "cohort_year", "is_control", "population"] + \
        [c for c, _ in ITEMS.values()]
    at = panel.loc[panel["week"].isin(weeks["week"]), cols].merge(weeks, on="week")
    start = pd.Timestamp(panel.loc[panel["week"] == panel["week"].min(), "date"].iloc[0])
    if neighbourhoods is not None and len(neighbourhoods):
        nb = neighbourhoods[["replicate", "neighbourhood", "is_control", "launch_date"]].copy()
        nb["launch_week"] = pd.Series(calendar.weeks_since(start, pd.to_datetime(nb["launch_date"])),
                                      index=nb.index).astype("Int64")
        nb = nb.drop(columns="launch_date").rename(columns={"is_control": "designated_control"})
    else:
        last = panel[panel["week"] == panel["week"].max()]
        nb = last[["replicate", "neighbourhood", "is_control"]].rename(columns={"is_control": "designated_control"})
        first_active = (panel[panel["stage"].astype(str).isin(["execution", "consolidation", "evaluation"])]
                        .groupby(["replicate", "neighbourhood"])["week"].min().rename("launch_week"))
        nb = nb.merge(first_active.reset_index(), on=["replicate", "neighbourhood"], how="left")
        nb["launch_week"] = nb["launch_week"].astype("Int64")
    at = at.drop(columns="is_control").merge(nb, on=["replicate", "neighbourhood"], how="left")
    ever = at["cohort_year"].notna()
    if coverage == "treated_and_controls":
        at = at[ever | at["designated_control"].fillna(False).astype(bool)]
    at = at.sort_values(["replicate", "neighbourhood", "year"], kind="stable").reset_index(drop=True)

    n = len(at)
    victims = np.zeros(n, dtype=np.int64)
    reported = np.zeros(n, dtype=np.int64)
    trusting = np.zeros(n, dtype=np.int64)
    insecure = np.zeros(n, dtype=np.int64)
    share = {item: np.clip(at[col].astype(float).to_numpy(), 0.0, 1.0) for item, (col, _) in ITEMS.items()}
    for i, (r, h, y) in enumerate(zip(at["replicate"], at["neighbourhood"], at["year"])):
        rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(r), int(h), int(y))))
        victims[i] = rng.binomial(size, share["victimisation"][i])
        rate = share["reporting"][i]
        reported[i] = rng.binomial(victims[i], rate if np.isfinite(rate) else 0.0)
        trusting[i] = rng.binomial(size, share["trust_police"][i])
        insecure[i] = rng.binomial(size, share["insecurity"][i])

    out = at[["replicate", "neighbourhood", "district", "year", "week", "date", "cohort_year", "launch_week",
              "designated_control", "population"]].copy()
    out = out.rename(columns={"designated_control": "is_control"})
    out["is_control"] = out["is_control"].fillna(False).astype(bool)
    lw = out["launch_week"]
    out["treated_at_survey"] = (lw.notna() & (out["week"] >= lw.fillna(10**9))).astype(bool)
    out["respondents"] = size
    out["victims"], out["reported"], out["trusting"], out["insecure"] = victims, reported, trusting, insecure

    def pct(k, m):
        m = np.asarray(m, dtype=float)
        p = np.where(m > 0, k / np.maximum(m, 1), np.nan)
        return 100 * p, 100 * np.sqrt(p * (1 - p) / np.maximum(m, 1))

    for item, (k, m) in {"victimisation": (victims, size), "reporting": (reported, victims),
                         "trust_police": (trusting, size), "insecurity": (insecure, size)}.items():
        est, se = pct(k, np.broadcast_to(m, (n,)))
        out[item] = est
        out[f"se_{item}"] = se
    for item, (col, _) in ITEMS.items():
        out[f"true_{item}"] = 100 * at[col].astype(float).to_numpy()
    if twin_panel is not None:
        tw = twin_panel.loc[twin_panel["week"].isin(weeks["week"]),
                            ["replicate", "neighbourhood", "week"] + [c for c, _ in ITEMS.values()]]
        tw = tw.rename(columns={col: f"_twin_{item}" for item, (col, _) in ITEMS.items()})
        out = out.merge(tw, on=["replicate", "neighbourhood", "week"], how="left")
        for item in ITEMS:
            out[f"true_effect_{item}"] = out[f"true_{item}"] - 100 * out.pop(f"_twin_{item}").astype(float)
    return out


def survey_cohorts(survey: pd.DataFrame) -> pd.Series:
    """First survey year in which each replicate x neighbourhood is surveyed after its launch
    (its cohort on the survey's time scale); NaN if never surveyed after launch."""
    treated = survey[survey["treated_at_survey"]]
    first = treated.groupby(["replicate", "neighbourhood"])["year"].min()
    idx = pd.MultiIndex.from_frame(survey[["replicate", "neighbourhood"]])
    return pd.Series(first.reindex(idx).to_numpy(dtype=float), index=survey.index, name="survey_cohort")
