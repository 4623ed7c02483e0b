"""Calibration targets and the simulated moments that match them.

Each target in ``targets.toml`` is matched by a moment computed from a run's panel exactly as
the reporting body computes it: INEI survey rates as population-weighted means of the panel's
survey-style rates over the target's 12-month window; program figures as sums over the
reported period.

Survey rates are post-stratified to the population they describe: the treated neighbourhoods
are all of the Strategy's neighbourhoods there and count with their own population, while the
never-treated candidates stand for the rest (the population minus the treated population).
National rates describe urban Peru (URBAN_POPULATION). Without this the pool, where 91 of 148
neighbourhoods are treated, would weigh the Strategy's neighbourhoods some fifteen times more
than they weigh in the country. The Lima Metropolitana and San Juan de Lurigancho rates are
post-stratified the same way to their own populations (SCOPE_POPULATION): plain weights over
the pool's Lima neighbourhoods would give the Strategy's neighbourhoods, chosen for their high
crime, more than half the weight of a city where they hold well under a tenth of the people.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass
from importlib.resources import files

import numpy as np
import pandas as pd

from sn_sim.observe import outcomes


@dataclass(frozen=True)
class Target:
    id: str
    what: str
    unit: str
    period: str
    scope: str
    source: str
    status: str
    role: str
    value: float | None = None
    range: tuple[float, float] | None = None
    tolerance_kind: str = "absolute"
    tolerance: float = 0.0
    fit_period: str | None = None
    note: str = ""

    @property
    def centre(self) -> float:
        return self.value if self.value is not None else 0.5 * (self.range[0] + self.range[1])

    def band(self) -> tuple[float, float]:
        """Acceptance band: the range, or value +- tolerance."""
        if self.range is not None:
            return self.range
        tol = self.tolerance * abs(self.value) if self.tolerance_kind == "relative" else self.tolerance
        return (self.value - tol, self.value + tol)

    def scale(self) -> float:
        """Error scale for the objective: half the acceptance band (so 1 = at the band's edge)."""
        lo, hi = self.band()
        half = (hi - lo) / 2
        return half if half > 0 else max(abs(self.centre) * 0.01, 1e-9)

    def accepted(self, simulated: float) -> bool:
        lo, hi = self.band()
        return bool(lo - 1e-9 <= simulated <= hi + 1e-9)


def load_targets() -> list[Target]:
    data = tomllib.loads(files("sn_sim.calibration").joinpath("targets.toml").read_text())
    out = []
    for t in data["target"]:
        tol = t.get("tolerance", {})
        out.append(Target(
            id=t["id"], what=t["what"], unit=t["unit"], period=t["period"], scope=t["scope"],
            source=t["source"], status=t["status"], role=t.get("role", "fitted"),
            value=t.get("value"), range=tuple(t["range"]) if "range" in t else None,
            tolerance_kind=tol.get("kind", "absolute"), tolerance=float(tol.get("value", 0.0)),
            fit_period=t.get("fit_period"), note=t.get("note", ""),
        ))
    return out


def period_window(period: str) -> tuple[dt.date, dt.date]:
    """'2016' -> the year; '2017-09..2018-02' -> those months; 'to 2019' / 'c. 2019' -> 2019;
    '2014-2019' / '2016-2019' -> the years (clipped to the simulation later)."""
    m = re.fullmatch(r"(\d{4})-(\d{2})\.\.(\d{4})-(\d{2})", period)
    if m:
        y0, m0, y1, m1 = map(int, m.groups())
        end = dt.date(y1 + (m1 == 12), m1 % 12 + 1, 1) - dt.timedelta(days=1)
        return dt.date(y0, m0, 1), end
    years = [int(y) for y in re.findall(r"\d{4}", period)]
    if not years:
        raise ValueError(f"cannot read period {period!r}")
    return dt.date(min(years), 1, 1), dt.date(max(years), 12, 31)


def _window(panel: pd.DataFrame, period: str) -> pd.DataFrame:
    lo, hi = period_window(period)
    d = panel["date"]
    return panel[(d >= pd.Timestamp(lo)) & (d <= pd.Timestamp(hi))]


# Urban population of Peru, INEI Censo 2017 (23,311,893), the population the national INEI
# survey rates describe.
URBAN_POPULATION = 23_311_893


# Populations of the sub-national scopes of the survey targets, INEI Censos Nacionales 2017
# (censused population): the province of Lima, i.e. Lima Metropolitana's 43 districts without
# Callao (ENAPRES reports Callao as its own domain), and the district of San Juan de Lurigancho.
SCOPE_POPULATION = {"lima": 8_574_974, "sjl": 1_038_495}
SJL = "San Juan de Lurigancho"


def post_stratification_weight(df: pd.DataFrame, population: float) -> pd.Series:
    """Row multipliers that post-stratify the rows of ``df`` to ``population`` inhabitants: the
    treated neighbourhoods keep their own weight, the never-treated ones stand for the rest (see
    module docstring). With no never-treated neighbourhood every weight stays 1."""
    pop = df.groupby(["replicate", "treated", "week"])["population"].sum().groupby(["replicate", "treated"]).mean()
    out = pd.Series(1.0, index=df.index)
    for rep in df["replicate"].unique():
        treated_pop = pop.get((rep, True), 0.0)
        untreated_pop = pop.get((rep, False), 0.0)
        if untreated_pop > 0:
            factor = max(population - treated_pop, 0.0) / untreated_pop
            out[(df["replicate"] == rep) & ~df["treated"]] = factor
    return out


def national_weight(df: pd.DataFrame) -> pd.Series:
    """Row multipliers that post-stratify the pool to urban Peru (see module docstring)."""
    return post_stratification_weight(df, URBAN_POPULATION)


def _weighted_rate(df: pd.DataFrame, column: str, weight: pd.Series) -> pd.Series:
    """Per replicate: sum(w * rate) / sum(w), ignoring missing rates."""
    ok = df[column].notna()
    num = (df[column].where(ok, 0) * weight.where(ok, 0)).groupby(df["replicate"]).sum()
    den = weight.where(ok, 0).groupby(df["replicate"]).sum()
    return num / den


class PanelViews:
    """The slices of one panel that the moments share (a target period's weeks, their national
    weights, the last week), each computed once: a calibration evaluates every target on every
    simulated panel, and cutting them again per target cost about as much as a small-scale run."""

    def __init__(self, panel: pd.DataFrame):
        self.panel = panel
        self.reps = panel["replicate"].unique()
        self.last = panel[panel["week"] == panel["week"].max()]
        self._windows: dict[str, pd.DataFrame] = {}
        self._weights: dict[str, pd.Series] = {}

    def window(self, period: str) -> pd.DataFrame:
        if period not in self._windows:
            self._windows[period] = _window(self.panel, period)
        return self._windows[period]

    def national_weight(self, period: str) -> pd.Series:
        if period not in self._weights:
            self._weights[period] = national_weight(self.window(period))
        return self._weights[period]


def moment(target: Target, panel: pd.DataFrame, scenario, views: PanelViews | None = None) -> pd.Series:
    """The simulated counterpart of ``target``, one value per replicate (NaN if out of scope).
    ``views``: the panel's shared slices, when several targets are evaluated on it."""
    views = views if views is not None and views.panel is panel else PanelViews(panel)
    reps = views.reps
    tid = target.id
    w = views.window(target.period)
    last = views.last

    def per_rep(values) -> pd.Series:
        return pd.Series(values, index=reps) if np.isscalar(values) else values.reindex(reps)

    if tid.startswith("rollout_"):
        cohorts = last.drop_duplicates(["replicate", "neighbourhood"])
        if tid == "rollout_total":
            return cohorts.groupby("replicate")["treated"].sum().astype(float).reindex(reps)
        year = int(tid.split("_")[1])
        return (cohorts["cohort_year"] == year).groupby(cohorts["replicate"]).sum().astype(float).reindex(reps)
    if tid == "neighbourhood_population":
        return last.groupby("replicate")["population"].mean().reindex(reps)
    if tid == "neighbourhood_blocks":
        return per_rep(float(scenario.population.block_rows * scenario.population.block_cols))
    if tid == "extra_police_example":
        return per_rep(float(scenario.police.extra_officers))
    if tid == "activities_2019_q1q3":
        return w.groupby("replicate")["activities"].sum().reindex(reps)
    if tid == "beneficiaries_2019":
        end = views.window("2019")
        end = end[end["week"] == end["week"].max()]
        return end.groupby("replicate")["beneficiaries_to_date"].sum().reindex(reps)
    if tid == "budget_per_year":
        return views.window("2019").groupby("replicate")["cost_usd"].sum().reindex(reps)
    if tid in ("culture_orgs_trained", "culture_projects_financed"):
        return last.groupby("replicate")[tid].sum().astype(float).reindex(reps)
    if tid.startswith("culture_"):
        return w.groupby("replicate")[tid].sum().reindex(reps)
    if tid.startswith("homicide_rate"):
        # Expected homicides given the simulated violent offences (lethality x violent): the same
        # mean as the sampled count, without its Poisson noise at reduced scales (Rao-Blackwell).
        nw = views.national_weight(target.period)
        expected = w["violent_offences"] * scenario.crime.lethality * nw
        yearly = expected.groupby(w["replicate"]).sum().to_frame("h")
        yearly["weeks"] = w.groupby("replicate")["week"].nunique()
        pop = (w["population"] * nw).groupby([w["replicate"], w["week"]]).sum().groupby("replicate").mean()
        # The registry's homicide rate (per 100,000 per year) over the window's person-weeks.
        per_year = outcomes.get("homicides_per_100k_year").factor
        return (per_year * yearly["h"] / (pop * yearly["weeks"])).reindex(reps)

    # Survey-style rates, post-stratified to the population they describe: urban Peru, or the
    # Lima and SJL subsets of the pool to Lima Metropolitana and San Juan de Lurigancho.
    if "lima" in tid:
        w = w[w["lima"]]
        nw = post_stratification_weight(w, SCOPE_POPULATION["lima"])
    elif "sjl" in tid:
        w = w[w["district"] == SJL]
        nw = post_stratification_weight(w, SCOPE_POPULATION["sjl"])
    else:
        nw = views.national_weight(target.period)
    if w.empty:
        return per_rep(np.nan)
    # The registry's survey shares (inhabitant-weighted), each row also carrying its national
    # post-stratification weight; reporting is a share of victims, so victims weight it.
    people = w["population"] * nw
    for prefix, name in (("victimization", "victimisation_12m"), ("insecurity", "insecurity"),
                         ("trust_police", "trust_police")):
        if tid.startswith(prefix):
            o = outcomes.get(name)
            assert o.weighted and o.denominator == "population"
            return _weighted_rate(w, o.numerator[0], people).reindex(reps)
    if tid.startswith("reporting"):
        return _weighted_rate(w, "reporting_rate", people * w["victimisation_12m"]).reindex(reps)
    raise KeyError(f"no simulated moment for target {tid!r}")


def simulated_moments(panel: pd.DataFrame, scenario, targets: list[Target] | None = None) -> pd.DataFrame:
    """Long frame: target id x replicate -> simulated value."""
    rows = []
    views = PanelViews(panel)
    for t in targets or load_targets():
        s = moment(t, panel, scenario, views)
        rows += [{"id": t.id, "replicate": int(r), "simulated": float(v)} for r, v in s.items()]
    return pd.DataFrame(rows)
