"""The outcome registry: every outcome a user reads is defined here, once.

An outcome is a ratio of sums over neighbourhoods (and, for a summary, over weeks):

    value = factor * sum(numerator [x weight]) / sum(denominator)

- a *rate of a flow* (offences per 1,000 inhabitants per year) sums the weekly counts over the
  neighbourhoods and weeks and divides by the person-weeks;
- a *survey share* (victimisation, trust, insecurity) is a neighbourhood share weighted by its
  inhabitants, read at the last week of a period;
- a *count* (offences, gang-involved youth, cost) is a plain sum.

The panel, ``compare``, sweeps, evaluation, calibration, the app, the plots and the Mesa
DataCollector all compute outcomes through :func:`weekly` and :func:`summarise` (or
:func:`pooled` on the recorder's arrays), so one name always means one thing. Names carry their
unit where it could be ambiguous (``offences_per_1000_week`` vs ``offences_per_1000_year``).
``docs/data_dictionary.md`` is generated from this module (``python -m sn_sim.observe.dictionary``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sn_sim.scenario.calendar import WEEKS_PER_YEAR  # per-year conversions of weekly flows
from sn_sim.world.ledger import INSECURITY_SOURCES, TRUST_SOURCES



@dataclass(frozen=True)
class Outcome:
    name: str
    label: str                       # title on figures and tables
    unit: str
    population: str                  # who the outcome is defined over
    numerator: tuple[str, ...]       # panel columns summed
    denominator: str | None = None   # panel column summed below the line (None: a count)
    weighted: bool = False           # numerator is a share: weight it by inhabitants
    factor: float = 1.0
    over_time: str = "last"          # "last": the period's last week; "sum": ratio of sums over weeks
    period: str = "post"             # summaries: "post" period, or the "whole" calendar
    percent: bool = False            # shown as % on figures

    @property
    def columns(self) -> tuple[str, ...]:
        """Panel columns this outcome needs."""
        extra = (self.denominator,) if self.denominator else ()
        return self.numerator + extra + (("population",) if self.weighted else ())


def _rate(name, label, column, factor, unit, population="inhabitants"):
    return Outcome(name, label, unit, population, (column,), "population", factor=factor, over_time="sum")


def _share(name, label, population):
    return Outcome(name, label, "share", population, (name,), "population", weighted=True, percent=True)


OUTCOMES: dict[str, Outcome] = {o.name: o for o in [
    _rate("offences_per_1000_year", "Offences per 1,000 inhabitants per year", "offences", 1000 * WEEKS_PER_YEAR,
          "offences per 1,000 inhabitants per year"),
    _rate("offences_per_1000_week", "Offences per 1,000 inhabitants per week", "offences", 1000,
          "offences per 1,000 inhabitants per week"),
    _rate("homicides_per_100k_year", "Homicides per 100,000 inhabitants per year", "homicides",
          100_000 * WEEKS_PER_YEAR, "homicides per 100,000 inhabitants per year"),
    Outcome("offences", "Offences", "offences (persons)", "inhabitants", ("offences",), over_time="sum"),
    Outcome("homicides", "Homicides", "homicides (persons)", "inhabitants", ("homicides",), over_time="sum"),
    _share("victimisation_12m", "Victimised in the last 12 months", "residents 15+ not in prison"),
    _share("trust_police", "Trust the police", "adults not in prison"),
    _share("insecurity", "Expect to be a victim in the next 12 months", "residents 15+ not in prison"),
    Outcome("youth_in_gangs", "Gang-involved youth", "persons", "youth not in prison", ("youth_in_gangs",)),
    Outcome("youth_gang_share", "Gang-involved share of youth", "share", "youth not in prison",
            ("youth_in_gangs",), "youth", percent=True),
    # Costs. The resources of the Strategy are its budget spent plus the value of what it gets in
    # kind (officers on the PNP payroll, Culture Points grants): total_cost_usd is the basis of
    # like-for-like comparisons and of the cost per offence averted.
    Outcome("cost_usd", "Strategy budget spent", "USD", "the Strategy", ("cost_usd",), over_time="sum", period="whole"),
    Outcome("cost_in_kind_usd", "In-kind cost (officers, Culture Points grants)", "USD", "the Strategy",
            ("cost_in_kind_usd",), over_time="sum", period="whole"),
    Outcome("total_cost_usd", "Total cost: budget spent plus in-kind", "USD", "the Strategy",
            ("cost_usd", "cost_in_kind_usd"), over_time="sum", period="whole"),
]}

# The scores' ledger (world/ledger.py): mean scores and the part each source put there, per
# resident of any age. An effect on the mean score is the sum of the effects on its sources plus a
# rest (turnover, clipping): experiment/scores.py takes effects apart that way.
SCORE_SOURCES: dict[str, tuple[str, ...]] = {"trust": TRUST_SOURCES, "insecurity": INSECURITY_SOURCES}
SCORE_LABELS = {"trust": "Trust in the police (mean score)", "insecurity": "Perceived insecurity (mean score)"}
SOURCE_LABELS = {
    "trust": {"contacts_just": "Procedurally just contacts", "contacts_unjust": "Poor contacts",
              "raids": "Heavy-handed raids", "victim_response": "Victims whose offender was arrested",
              "victim_no_response": "Victims without an arrest", "patrol": "Visible extra patrol"},
    "insecurity": {"crime": "Offence rate", "disorder": "Disorder (public spaces)", "patrol": "Visible patrol",
                   "victimisation": "Own victimisation"},
}
for _score, _sources in SCORE_SOURCES.items():
    OUTCOMES[f"{_score}_score"] = Outcome(f"{_score}_score", SCORE_LABELS[_score], "score 0-1",
                                          "all residents", (f"{_score}_score",), "population", weighted=True)
    for _x in _sources:
        _name = f"{_score}_from_{_x}"
        OUTCOMES[_name] = Outcome(_name, f"{SCORE_LABELS[_score].split(' (')[0]}: part from "
                                         f"{SOURCE_LABELS[_score][_x].lower()}", "score 0-1", "all residents",
                                  (_name,), "population", weighted=True)
LEDGER_OUTCOMES = tuple(n for n in OUTCOMES if n.endswith("_score") or "_from_" in n)

# What the summaries of a run (compare, sweeps) report, and over which neighbourhoods.
SUMMARY_OUTCOMES = ("offences_per_1000_year", "homicides_per_100k_year", "offences", "victimisation_12m",
                    "trust_police", "insecurity", "youth_in_gangs", "youth_gang_share", "cost_usd",
                    "cost_in_kind_usd", "total_cost_usd")
SCOPES = {"all": "every neighbourhood of the candidate pool (treated, controls and never selected)",
          "treated": "the neighbourhoods the Strategy selected in that run (any cohort)"}
# Weekly series a comparison, the app and the DataCollector show.
SERIES_OUTCOMES = ("offences_per_1000_year", "victimisation_12m", "trust_police", "insecurity", "youth_in_gangs")


def get(name: str) -> Outcome:
    try:
        return OUTCOMES[name]
    except KeyError:
        raise KeyError(f"unknown outcome {name!r}; known: {', '.join(OUTCOMES)}") from None


def _ratio(num: float, den: float, factor: float) -> float:
    return factor * num / den if den > 0 else float("nan")


# --- on arrays (the recorder's (weeks, n) columns) ---------------------------------------------


def pooled(columns: dict[str, np.ndarray], name: str, mask: np.ndarray | None = None) -> np.ndarray:
    """Weekly values of one outcome pooled over the neighbourhoods in ``mask``.

    ``columns``: panel columns as arrays of shape (weeks, n). Returns shape (weeks,)."""
    o = get(name)
    sel = slice(None) if mask is None else np.asarray(mask, dtype=bool)
    num = sum(columns[c][:, sel] for c in o.numerator)
    if o.weighted:
        num = num * columns["population"][:, sel]
    num = num.sum(axis=1)
    if o.denominator is None:
        return o.factor * num
    den = columns[o.denominator][:, sel].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, o.factor * num / np.where(den > 0, den, 1), np.nan)


def datacollector_reporters(recorder) -> dict[str, Any]:
    """Mesa DataCollector model reporters: this week's pool-wide value of each series outcome."""
    def reporter(name):
        def report(model):
            w = model.world.clock.week
            cols = {c: recorder.columns[c][w:w + 1] for c in get(name).columns}
            return float(pooled(cols, name)[0])
        return report
    return {name: reporter(name) for name in SERIES_OUTCOMES}


# --- on a panel (one replicate, or many with a groupby) ------------------------------------------


def weekly(panel: pd.DataFrame, names=SERIES_OUTCOMES, mask=None, by=("week", "date")) -> pd.DataFrame:
    """Week-by-week outcomes pooled over a set of neighbourhoods of one replicate's panel.

    ``mask``: boolean array over neighbourhood ids (all when None). ``by``: the grouping
    (default one row per week; e.g. ``["replicate", "treated", "date"]`` for several replicates
    and groups at once). Returns the ``by`` columns and one column per outcome."""
    p = panel
    if mask is not None:
        keep = np.asarray(mask, dtype=bool)
        p = panel[keep[panel["neighbourhood"].to_numpy()]]
    by = list(by)
    need = sorted({c for n in names for c in get(n).columns})
    frame = p[by].copy()
    for n in names:
        o = get(n)
        num = sum(p[c].to_numpy(dtype=float) for c in o.numerator)
        if o.weighted:
            num = num * p["population"].to_numpy(dtype=float)
        frame[f"{n}__num"] = num
    for c in need:
        frame[f"{c}__col"] = p[c].to_numpy(dtype=float)
    g = frame.groupby(by, observed=True, sort=True, dropna=False).sum(numeric_only=True)
    out = pd.DataFrame(index=g.index)
    for n in names:
        o = get(n)
        num = g[f"{n}__num"]
        den = g[f"{o.denominator}__col"].replace(0, np.nan) if o.denominator else None
        out[n] = o.factor * (num / den if o.denominator else num)
    return out.reset_index()


def series(panel: pd.DataFrame, mask=None) -> pd.DataFrame:
    """The weekly :data:`SERIES_OUTCOMES` of one replicate's panel over the neighbourhoods in
    ``mask``, the Strategy's budget spent to date (``cost_to_date_usd``) and its total cost to
    date, budget plus in-kind (``total_cost_to_date_usd``)."""
    s = weekly(panel, tuple(SERIES_OUTCOMES) + ("cost_usd", "total_cost_usd"), mask)
    s["cost_to_date_usd"] = s.pop("cost_usd").cumsum()
    s["total_cost_to_date_usd"] = s.pop("total_cost_usd").cumsum()
    return s


def axis_label(name: str) -> str:
    """``label (unit)`` for a figure axis; shares are shown in %."""
    o = get(name)
    unit = f"% of {o.population}" if o.percent else o.unit
    return f"{o.label} ({unit})"


def display_factor(name: str) -> float:
    """Multiplier from the outcome's value to what figures show (100 for shares)."""
    return 100.0 if get(name).percent else 1.0


def _as_date(value) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def neighbourhood_totals(panel: pd.DataFrame, post_start=None, names=SUMMARY_OUTCOMES) -> pd.DataFrame:
    """Per neighbourhood of one replicate: for each outcome the numerator and denominator sums
    it needs (over the period for ``sum`` outcomes, at the last week for ``last`` ones).

    Index: neighbourhood. Columns ``<outcome>__num``, ``<outcome>__den`` and ``treated``."""
    post_start = _as_date(post_start)
    dates = pd.to_datetime(panel["date"])
    post = np.ones(len(panel), dtype=bool) if post_start is None else (dates >= pd.Timestamp(post_start)).to_numpy()
    last = (panel["week"] == panel["week"].max()).to_numpy()
    nb = panel["neighbourhood"].to_numpy()
    n = int(nb.max()) + 1 if len(nb) else 0
    pop = panel["population"].to_numpy(dtype=float)
    out = {}
    for name in names:
        o = get(name)
        rows = last if o.over_time == "last" else (post if o.period == "post" else np.ones(len(panel), dtype=bool))
        num = sum(panel[c].to_numpy(dtype=float) for c in o.numerator)
        if o.weighted:
            num = num * pop
        ok = rows & ~np.isnan(num)
        out[f"{name}__num"] = np.bincount(nb, weights=np.where(ok, num, 0.0), minlength=n)
        if o.denominator:
            den = panel[o.denominator].to_numpy(dtype=float)
            out[f"{name}__den"] = np.bincount(nb, weights=np.where(ok, den, 0.0), minlength=n)
    treated = np.zeros(n, dtype=bool)
    treated[nb] = panel["treated"].to_numpy(dtype=bool)
    out["treated"] = treated
    return pd.DataFrame(out, index=pd.RangeIndex(n, name="neighbourhood"))


def summarise_totals(totals: pd.DataFrame, mask=None, names=SUMMARY_OUTCOMES) -> dict[str, float]:
    """The outcomes over the neighbourhoods selected by ``mask`` (all when None), plus
    ``neighbourhoods`` (how many were selected)."""
    t = totals if mask is None else totals[np.asarray(mask, dtype=bool)]
    out: dict[str, float] = {}
    for name in names:
        o = get(name)
        if len(t) == 0:
            out[name] = float("nan")
            continue
        num = float(t[f"{name}__num"].sum())
        out[name] = _ratio(num, float(t[f"{name}__den"].sum()), o.factor) if o.denominator else o.factor * num
    out["neighbourhoods"] = float(len(t))
    return out


def summary_names(names=SUMMARY_OUTCOMES, scopes=tuple(SCOPES)) -> list[str]:
    """Column names ``<outcome>_<scope>`` of a run summary, in a fixed order."""
    return [f"{m}_{s}" for m in list(names) + ["neighbourhoods"] for s in scopes]


def summarise(panel: pd.DataFrame, post_start=None, names: list[str] | None = None) -> dict[str, float]:
    """Every ``<outcome>_<scope>`` summary of one replicate's panel (or only ``names``)."""
    totals = neighbourhood_totals(panel, post_start)
    out: dict[str, float] = {}
    for scope in SCOPES:
        values = summarise_totals(totals, None if scope == "all" else totals["treated"].to_numpy())
        out.update({f"{m}_{scope}": v for m, v in values.items()})
    if names is not None:
        out = {k: out[k] for k in names}
    return out


def post_start_for(*scenarios) -> dt.date:
    """Start of the post period: the earliest cohort launch, else the earliest calendar start."""
    launches = [c.launch for s in scenarios for c in s.strategy.rollout]
    if launches:
        return min(launches)
    return min(s.calendar.start for s in scenarios)
