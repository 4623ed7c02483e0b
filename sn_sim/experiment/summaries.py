"""Per-run summary outputs: the numbers a sweep keeps and a comparison contrasts.

One replicate's panel (neighbourhood x week) is reduced in two steps:

1. :func:`neighbourhood_aggregates` -- one row per neighbourhood: post-period sums of crime and
   person-weeks, end-of-run survey rates and youth counts, and whole-run costs;
2. :func:`summarise_aggregates` -- the metrics below over a set of neighbourhoods (a *scope*).

Every metric is computed for two scopes, and a sweep's run file has one column per pair,
named ``<metric>_<scope>`` (for example ``offences_per_1000_all``, ``trust_police_treated``):

``all``
    every neighbourhood of the candidate pool (treated, controls and never selected): the
    net effect of a policy, displacement and diffusion included.
``treated``
    the neighbourhoods the Strategy selected in that run (any cohort). NaN when none was
    selected (e.g. the no-intervention scenario).

The metrics (the explicit list is :data:`METRICS`):

==========================  ===============================================================
``offences_per_1000``       offences per 1,000 residents per year over the post period
``homicides_per_100k``      homicides per 100,000 residents per year over the post period
``offences``                offences in the post period (persons; counts are per inhabitant)
``victimisation_12m``       share of residents 15+ victimised in the last 12 months, at the
                            last simulated week (population-weighted across neighbourhoods)
``trust_police``            share of adults who trust the police, at the last week (weighted)
``insecurity``              share of residents 15+ expecting to be victims, at the last week
``youth_in_gangs``          gang-involved youth (persons) at the last week
``youth_gang_share``        gang-involved youth / all youth at the last week
``cost_usd``                the Strategy's own spending over the whole calendar (USD)
``cost_in_kind_usd``        in-kind cost of assigned officers over the whole calendar (USD)
``total_cost_usd``          ``cost_usd + cost_in_kind_usd``: the economic cost of the policy
``neighbourhoods``          neighbourhoods in the scope
==========================  ===============================================================

The *post period* runs from ``post_start`` (by default the earliest cohort launch of the
scenario, or the calendar start when nothing is rolled out) to the end of the calendar. A
sweep fixes it from its base scenario and a comparison from all its scenarios, so every run
of one experiment is summarised over the same weeks.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

SCOPES = ("all", "treated")

METRICS: dict[str, str] = {
    "offences_per_1000": "offences per 1,000 residents per year, post period",
    "homicides_per_100k": "homicides per 100,000 residents per year, post period",
    "offences": "offences in the post period (persons)",
    "victimisation_12m": "share of residents 15+ victimised in the last 12 months, last week",
    "trust_police": "share of adults trusting the police, last week",
    "insecurity": "share of residents 15+ expecting to be victimised, last week",
    "youth_in_gangs": "gang-involved youth (persons), last week",
    "youth_gang_share": "gang-involved youth / youth, last week",
    "cost_usd": "Strategy spending over the whole calendar (USD)",
    "cost_in_kind_usd": "in-kind officer cost over the whole calendar (USD)",
    "total_cost_usd": "Strategy spending plus in-kind officer cost (USD)",
    "neighbourhoods": "neighbourhoods in the scope",
}

# Columns of the weekly series a comparison plots (pool-wide or treated, per replicate).
SERIES = ("offences_per_1000", "victimisation_12m", "trust_police", "insecurity", "youth_in_gangs",
          "cost_to_date_usd")

WEEKS_PER_YEAR = 52.0


def summary_names(metrics=None, scopes=SCOPES) -> list[str]:
    """Column names ``<metric>_<scope>`` in a fixed order."""
    metrics = list(METRICS) if metrics is None else list(metrics)
    return [f"{m}_{s}" for m in metrics for s in scopes]


def post_start_for(*scenarios) -> dt.date:
    """The earliest cohort launch of the scenarios, else the (earliest) calendar start."""
    launches = [c.launch for s in scenarios for c in s.strategy.rollout]
    if launches:
        return min(launches)
    return min(s.calendar.start for s in scenarios)


def _as_date(value) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def neighbourhood_aggregates(panel: pd.DataFrame, post_start=None) -> pd.DataFrame:
    """One row per neighbourhood of one replicate's panel (index: neighbourhood)."""
    post_start = _as_date(post_start)
    dates = pd.to_datetime(panel["date"])
    post = np.ones(len(panel), dtype=bool) if post_start is None else (dates >= pd.Timestamp(post_start)).to_numpy()
    last = (panel["week"] == panel["week"].max()).to_numpy()
    nb = panel["neighbourhood"].to_numpy()
    n = int(nb.max()) + 1 if len(nb) else 0

    def total(col, rows=None):
        x = panel[col].to_numpy(dtype=float)
        if rows is not None:
            x = np.where(rows, x, 0.0)
        return np.bincount(nb, weights=x, minlength=n)

    def at_end(col):
        out = np.full(n, np.nan)
        out[nb[last]] = panel[col].to_numpy(dtype=float)[last]
        return out

    treated = np.zeros(n, dtype=bool)
    treated[nb] = panel["treated"].to_numpy(dtype=bool)
    return pd.DataFrame({
        "treated": treated,
        "post_offences": total("offences", post),
        "post_homicides": total("homicides", post),
        "post_person_weeks": total("population", post),
        "end_population": at_end("population"),
        "end_victimisation_12m": at_end("victimisation_12m"),
        "end_trust_police": at_end("trust_police"),
        "end_insecurity": at_end("insecurity"),
        "end_youth": at_end("youth"),
        "end_youth_in_gangs": at_end("youth_in_gangs"),
        "cost_usd": total("cost_usd"),
        "cost_in_kind_usd": total("cost_in_kind_usd"),
    }, index=pd.RangeIndex(n, name="neighbourhood"))


def _ratio(num: float, den: float, factor: float = 1.0) -> float:
    return factor * num / den if den > 0 else float("nan")


def summarise_aggregates(agg: pd.DataFrame, mask=None) -> dict[str, float]:
    """The :data:`METRICS` over the neighbourhoods selected by ``mask`` (all when None)."""
    a = agg if mask is None else agg[np.asarray(mask, dtype=bool)]
    if len(a) == 0:
        out = {m: float("nan") for m in METRICS}
        out["neighbourhoods"] = 0.0
        return out
    pop = a["end_population"].to_numpy()
    pw = float(a["post_person_weeks"].sum())

    def weighted(col):
        x = a[col].to_numpy()
        ok = ~np.isnan(x)
        return _ratio(float((x[ok] * pop[ok]).sum()), float(pop[ok].sum()))

    return {
        "offences_per_1000": _ratio(float(a["post_offences"].sum()), pw, 1000 * WEEKS_PER_YEAR),
        "homicides_per_100k": _ratio(float(a["post_homicides"].sum()), pw, 100_000 * WEEKS_PER_YEAR),
        "offences": float(a["post_offences"].sum()),
        "victimisation_12m": weighted("end_victimisation_12m"),
        "trust_police": weighted("end_trust_police"),
        "insecurity": weighted("end_insecurity"),
        "youth_in_gangs": float(a["end_youth_in_gangs"].sum()),
        "youth_gang_share": _ratio(float(a["end_youth_in_gangs"].sum()), float(a["end_youth"].sum())),
        "cost_usd": float(a["cost_usd"].sum()),
        "cost_in_kind_usd": float(a["cost_in_kind_usd"].sum()),
        "total_cost_usd": float(a["cost_usd"].sum() + a["cost_in_kind_usd"].sum()),
        "neighbourhoods": float(len(a)),
    }


def summarise(panel: pd.DataFrame, post_start=None, names: list[str] | None = None) -> dict[str, float]:
    """All ``<metric>_<scope>`` summaries of one replicate's panel (or the chosen ``names``)."""
    agg = neighbourhood_aggregates(panel, post_start)
    out: dict[str, Any] = {}
    for scope in SCOPES:
        values = summarise_aggregates(agg, None if scope == "all" else agg["treated"].to_numpy())
        out.update({f"{m}_{scope}": v for m, v in values.items()})
    if names is not None:
        out = {k: out[k] for k in names}
    return out


def weekly_series(panel: pd.DataFrame, mask=None) -> pd.DataFrame:
    """Week-by-week outcomes over a set of neighbourhoods (population-weighted rates).

    ``offences_per_1000`` is the weekly offence count annualised (x 52) per 1,000 residents.
    """
    p = panel
    if mask is not None:
        keep = np.asarray(mask, dtype=bool)
        p = panel[keep[panel["neighbourhood"].to_numpy()]]
    cols = ["population", "offences", "youth_in_gangs", "cost_usd"]
    w = p[["week", "date"] + cols].copy()
    for c in ("victimisation_12m", "trust_police", "insecurity"):
        w[c + "_w"] = p[c].to_numpy() * p["population"].to_numpy()
    g = w.groupby(["week", "date"], observed=True, sort=True).sum(numeric_only=True)
    out = pd.DataFrame(index=g.index)
    out["offences_per_1000"] = 1000 * WEEKS_PER_YEAR * g["offences"] / g["population"]
    for c in ("victimisation_12m", "trust_police", "insecurity"):
        out[c] = g[c + "_w"] / g["population"]
    out["youth_in_gangs"] = g["youth_in_gangs"]
    out["cost_to_date_usd"] = g["cost_usd"].cumsum()
    return out.reset_index()
