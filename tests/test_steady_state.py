"""A steady baseline (issue 10): with no intervention and no stated trend (the shipped trends
set to 0), every pool-wide panel rate stays near its level of the first recorded quarter, and youth ageing leaves no yearly
staircase.

The packaged no_intervention scenario at scale 0.05 over three years, averaged over three
replicates (about 15 s). The tolerances are the issue's 3 % where the replicate mean is that
quiet, wider where a small-scale run is noisier than the drift the test guards against: a few
hundred prisoners serving two-year sentences, and gang membership amplified by peer influence,
wander by several per cent in one replicate (they drifted by 27 % before the stationary start).
Measured after the 0.3.0 refit: the gang share's 3-replicate quarterly mean at this scale rose
to +7.5% in 2016Q3 and came back to +2.3% by 2017Q4 (seed 11) and ended at +6.0% (seed 12),
while one replicate at scale 0.3 moved -3.1% over five years: a wander of either sign at small
scale, hence 8% for it here. Over 24 replicates at this scale (0.5.0) the per-replicate standard
deviation of a quarter's level is 5.1% for the gang share and 3.5% for the prison population,
while their 24-replicate means stay within 1.5% of 2015Q1 (docs/ODD.md §8): the bounds here are
about three standard errors of a three-replicate mean."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sn_sim.api import run
from sn_sim.scenario import load_scenario, without_trends

SCALE, REPLICATES, SEED, END = 0.05, 3, 11, "2017-12-25"
# The shipped scenarios state the national trends of 2015-2019 (scenarios/parameters/
# national_trends.toml); the world at rest is the one without a stated trend.
NO_TREND = without_trends()

# Relative tolerance on each quarter's pool-wide level against the first quarter's.
TOLERANCE = {
    "victimisation": 0.03, "insecurity": 0.03, "trust": 0.03, "collective_efficacy": 0.03,
    "offences_per_inhabitant": 0.03, "youth_at_risk": 0.03, "reporting": 0.05,
    "youth_in_gangs": 0.08, "incarceration": 0.07,
}


def pool_weekly(panel: pd.DataFrame) -> pd.DataFrame:
    """Pool-wide weekly rates, averaged over replicates: survey rates weighted by population,
    counts summed (the statistics of the drift table in the issue)."""
    def weighted(column: str):
        return lambda d: np.average(d[column], weights=d.population)

    rows = []
    for (replicate, week), d in panel.groupby(["replicate", "week"]):
        ok = d.reporting_rate.notna()
        rows.append({
            "replicate": replicate, "week": week, "date": d.date.iloc[0],
            "victimisation": weighted("victimisation_12m")(d),
            "insecurity": weighted("insecurity")(d),
            "trust": weighted("trust_police")(d),
            "reporting": np.average(d.reporting_rate[ok], weights=d.population[ok]),
            "youth_in_gangs": d.youth_in_gangs.sum() / d.youth.sum(),
            "youth_at_risk": d.youth_at_risk.sum() / d.youth.sum(),
            "incarceration": d.incarcerated.sum() / d.population.sum(),
            "collective_efficacy": weighted("collective_efficacy")(d),
            "offences_per_inhabitant": d.offences.sum() / d.population.sum(),
        })
    weekly = pd.DataFrame(rows).groupby("week").mean(numeric_only=True).drop(columns="replicate")
    weekly.index = pd.to_datetime(panel.drop_duplicates("week").set_index("week").date.loc[weekly.index])
    return weekly


@pytest.fixture(scope="module")
def weekly() -> pd.DataFrame:
    scenario = load_scenario("no_intervention", [f"population.scale={SCALE}", f"calendar.end={END}", *NO_TREND])
    return pool_weekly(run(scenario, seed=SEED, replicates=REPLICATES).panel)


def test_every_pool_wide_rate_stays_at_its_first_quarter_level(weekly):
    quarterly = weekly.groupby(weekly.index.to_period("Q")).mean()
    drift = (quarterly / quarterly.iloc[0] - 1).abs().max()
    assert set(drift.index) == set(TOLERANCE)
    too_far = {rate: f"{drift[rate]:.1%} > {tol:.0%}" for rate, tol in TOLERANCE.items() if drift[rate] > tol}
    assert not too_far, f"drift from 2015Q1 (mean of {REPLICATES} replicates): {too_far}"


@pytest.mark.parametrize("rate", ["youth_in_gangs", "youth_at_risk"])
def test_youth_shares_do_not_step_in_january(weekly, rate):
    """Everyone ageing on 1 January moved a whole cohort in and out of the youth ages at once
    (the gang share fell by 9 % in that week); birthdays spread over the year leave the first
    week of January like any other."""
    change = weekly[rate].diff().abs().iloc[1:]
    january = (change.index.month == 1) & (change.index.day <= 7)
    assert january.sum() >= 2
    typical = change[~january].quantile(0.9)
    assert change[january].max() <= 3 * typical, (change[january], typical)
