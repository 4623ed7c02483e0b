"""What the evaluation measures, defined through the outcome registry (``sn_sim.observe.outcomes``).

Every rate and share the evaluation estimates, holds against the truth or converts to a count
is a registry :class:`~sn_sim.observe.outcomes.Outcome`: its name, label, unit, the panel
columns it is computed from and its per-year factor come from the registry. Where the
evaluation needs a variant the registry does not have, it is *derived* here from a registry
entry with ``dataclasses.replace`` (same denominator, weighting and factor; another numerator):

- ``recorded_crimes_per_1000_year`` / ``_week``: the registry's offence rate with the panel's
  ``recorded_crimes`` (what the police record) as numerator;
- ``activities_<pillar>_per_1000_year``: the same with a pillar's activities as numerator
  (the doses of the pillar dose-response);
- ``reporting_rate``: the registry's victimisation share with the panel's reporting share as
  numerator (the share of victims who reported; only read per neighbourhood here, never pooled).

:data:`OUTCOMES` lists the outcomes ``evaluate`` estimates (``--outcome``), each with the data
set an evaluator would have it from (survey, administrative records, or the *oracle* true
offences no evaluator has), its registry definition and its true-effect column.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from sn_sim.observe import outcomes as registry
from sn_sim.observe.outcomes import WEEKS_PER_YEAR, Outcome

__all__ = ["WEEKS_PER_YEAR", "Outcome", "EvaluationOutcome", "OUTCOMES", "RENAMED", "OFFENCES_YEAR",
           "RECORDED_YEAR", "REPORTING", "SURVEY_ITEMS", "PILLARS", "ACTIVITY_RATES", "DERIVED_RATES",
           "STAGE_TRUTH", "per_1000", "definition", "value", "effect_scale", "effect_unit", "numerator_total"]


def per_1000(column: str, noun: str, per: str = "year") -> Outcome:
    """A rate per 1,000 inhabitants of a panel flow the registry has no rate for: the registry's
    ``offences_per_1000_<per>`` with ``column`` as numerator (same denominator and factor)."""
    base = registry.get(f"offences_per_1000_{per}")
    return replace(base, name=f"{column}_per_1000_{per}", numerator=(column,),
                   label=f"{noun[0].upper()}{noun[1:]} per 1,000 inhabitants per {per}",
                   unit=f"{noun} per 1,000 inhabitants per {per}")


OFFENCES_YEAR = registry.get("offences_per_1000_year")
RECORDED_YEAR = per_1000("recorded_crimes", "recorded crimes")
REPORTING = replace(registry.get("victimisation_12m"), name="reporting_rate", numerator=("reporting_rate",),
                    label="Victims who reported the offence to the police",
                    population="victims in the last 12 months, 15+")

PILLARS = ("police", "social", "community", "culture")
ACTIVITY_RATES = {p: per_1000(f"activities_{p}", f"{p} activities") for p in PILLARS}

# Survey item -> the panel share it is drawn from.
SURVEY_ITEMS: dict[str, Outcome] = {
    "victimisation": registry.get("victimisation_12m"),
    "reporting": REPORTING,
    "trust_police": registry.get("trust_police"),
    "insecurity": registry.get("insecurity"),
}

# Weekly true effects are computed for these derived rates too (``twins.with_rates``).
DERIVED_RATES = {o.name: o for o in (RECORDED_YEAR, per_1000("recorded_crimes", "recorded crimes", "week"))}

# True effects by stage (``by_stage_pillar.csv``): annualised rates and survey shares.
STAGE_TRUTH = (OFFENCES_YEAR, RECORDED_YEAR, registry.get("victimisation_12m"), registry.get("trust_police"),
               registry.get("insecurity"), REPORTING)


def definition(name: str) -> Outcome:
    """A registry outcome or one derived here."""
    return DERIVED_RATES[name] if name in DERIVED_RATES else registry.get(name)


def value(frame: pd.DataFrame, o: Outcome) -> np.ndarray:
    """``o`` on each row of ``frame``: rows of the panel (one neighbourhood-week), or sums of
    panel columns over groups (then the ratio of sums, as the registry aggregates)."""
    num = sum(frame[c].to_numpy(dtype=float) for c in o.numerator)
    if o.weighted:
        num = num * frame["population"].to_numpy(dtype=float)
    if o.denominator is None:
        return o.factor * num
    den = frame[o.denominator].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, o.factor * num / np.where(den > 0, den, 1.0), np.nan)


def numerator_total(rate, o: Outcome, denominator_total):
    """The numerator count a value of ``o`` implies over ``denominator_total`` (e.g. offences
    from a rate per 1,000 per year and the person-weeks it was measured over)."""
    return rate * denominator_total / o.factor


def effect_scale(o: Outcome) -> float:
    """Shares are reported (and their effects estimated) in percent."""
    return 100.0 if o.percent else 1.0


def effect_unit(o: Outcome) -> str:
    """Unit of an effect (a difference) on ``o``."""
    return "percentage points" if o.percent else o.unit


@dataclass(frozen=True)
class EvaluationOutcome:
    """An outcome ``evaluate`` estimates: ``name`` is also its column in its data set."""

    name: str
    source: str            # survey | admin | oracle
    definition: Outcome    # registry entry (or derived from one) it measures
    truth: str             # its true-effect column in the data set
    seen_as: str           # how the evaluator sees it (appended to the label)

    @property
    def column(self) -> str:
        return self.name

    @property
    def unit(self) -> str:
        return effect_unit(self.definition)

    @property
    def label(self) -> str:
        return f"{self.definition.label} ({self.seen_as})"


OUTCOMES: dict[str, EvaluationOutcome] = {o.name: o for o in (
    *(EvaluationOutcome(item, "survey", d, f"true_effect_{item}", "survey") for item, d in SURVEY_ITEMS.items()),
    EvaluationOutcome(RECORDED_YEAR.name, "admin", RECORDED_YEAR, f"tau_{RECORDED_YEAR.name}", "police records"),
    EvaluationOutcome(OFFENCES_YEAR.name, "oracle", OFFENCES_YEAR, f"tau_{OFFENCES_YEAR.name}",
                      "oracle, not observable"),
)}

# Former ``--outcome`` names, for the error message.
RENAMED = {"offences_per_1000": OFFENCES_YEAR.name, "recorded_crimes_per_1000": RECORDED_YEAR.name}
