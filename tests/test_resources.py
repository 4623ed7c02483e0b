"""Like-for-like resources: the single-pillar scenarios get the default mix's total resources.

The resources of a treated neighbourhood-week are its Strategy budget allocation plus the value
of its in-kind officers (``officers x police.officer_week_cost``). ``police_only``,
``social_only`` and ``community_only`` set ``strategy.resources.like_for_like``: each gets the
resources national_rollout's default mix gets, all in its own pillar. Over a run, what was
allocated (budget spent + in-kind + money still in the Ministry's accounts) is then the same in
the four scenarios, and what was spent (budget + in-kind) differs only by the money whole units
leave in the accounts. The labelled ``*_budget_only`` scenarios keep the officers in every pillar
and move only the budget, at the same total.
"""

from __future__ import annotations

import numpy as np
import pytest

from sn_sim.model import SafeNeighbourhoodModel
from sn_sim.scenario import load_scenario

PILLARS = ("police_only", "social_only", "community_only")
BUDGET_ONLY = ("social_budget_only", "community_budget_only")  # in-kind officers kept in every pillar
# Small and short: two cohorts, whose programs have started before the end; the accounts do not
# need the world settled (8 weeks of burn-in, not 104), nor a year before the first cohort.
SHORT = ["population.scale=0.006", "calendar.start=2016-01-04", "calendar.end=2017-12-25", "calendar.burn_in_weeks=8",
         "strategy.rollout=[{year=2016, neighbourhoods=10, launch=2016-03-07}, "
         "{year=2017, neighbourhoods=15, launch=2017-03-06}]"]

QUICK = ["population.scale=0.006", "calendar.burn_in_weeks=8"]  # only the Ministry's rule is used


def _resources(name: str, overrides: list[str]) -> dict[str, float]:
    m = SafeNeighbourhoodModel(load_scenario(name, overrides), rng=3)
    m.run()
    cols = m.recorder.columns
    left = m.ministry.accounts
    return {"budget": float(cols["cost_usd"].sum()), "in_kind": float(cols["cost_in_kind_usd"].sum()),
            "left": float(left.sum()), "left_per_unit": float((left / m.ministry.unit_cost).max()),
            "treated": int((m.world.places.cohort_year > 0).sum()), "unit_cost": float(m.ministry.unit_cost.sum())}


@pytest.fixture(scope="module", params=["default budget", "binding cap"])
def runs(request):
    overrides = SHORT + (["budget.usd_per_year=400000"] if request.param == "binding cap" else [])
    return request.param, {name: _resources(name, overrides) for name in ("national_rollout",) + PILLARS + BUDGET_ONLY}


def test_pillar_scenarios_are_like_for_like():
    base = load_scenario("national_rollout")
    for name in PILLARS + BUDGET_ONLY:
        s = load_scenario(name)
        assert s.strategy.resources.like_for_like
        assert s.strategy.resources.mix == base.strategy.mix  # the reference is the default mix
        assert s.strategy.rollout == base.strategy.rollout and s.districts == base.districts
        assert s.budget == base.budget and s.police == base.police
    assert not base.strategy.resources.like_for_like
    police, social, community = (load_scenario(n).strategy for n in PILLARS)
    assert (police.mix.police, police.extra_officers_in_kind, police.community_police) == (1.0, True, True)
    assert (social.mix.social, social.extra_officers_in_kind, social.community_police) == (1.0, False, False)
    assert (community.mix.community, community.extra_officers_in_kind, community.community_police) == (1.0, False, False)
    social, community = (load_scenario(n).strategy for n in BUDGET_ONLY)
    assert (social.mix.social, social.extra_officers_in_kind, social.community_police) == (1.0, True, True)
    assert (community.mix.community, community.extra_officers_in_kind, community.community_police) == (1.0, True, True)


def test_allocated_resources_are_equal(runs):
    """Budget spent + in-kind + money left in the accounts: the same in every pillar scenario."""
    case, r = runs
    ref = r["national_rollout"]
    total = ref["budget"] + ref["in_kind"] + ref["left"]
    assert total > 0
    for name in PILLARS + BUDGET_ONLY:
        x = r[name]
        assert x["treated"] == ref["treated"]
        assert x["budget"] + x["in_kind"] + x["left"] == pytest.approx(total, rel=1e-9), (case, name)


def test_spent_resources_are_equal_up_to_whole_units(runs):
    """Budget spent + in-kind: equal up to what is left in the accounts; without a binding cap,
    less than one unit per line and neighbourhood."""
    case, r = runs
    ref = r["national_rollout"]
    spent = ref["budget"] + ref["in_kind"]
    for name in ("national_rollout",) + PILLARS + BUDGET_ONLY:
        x = r[name]
        assert abs(x["budget"] + x["in_kind"] - spent) <= max(x["left"], ref["left"]) + 1e-6 * spent, (case, name)
        if case == "default budget":
            assert x["left_per_unit"] <= 1.0 + 1e-9, name  # nothing waits for the cap, only for a whole unit
            assert abs(x["budget"] + x["in_kind"] - spent) <= x["treated"] * x["unit_cost"]
            assert abs(x["budget"] + x["in_kind"] - spent) < 0.02 * spent


def test_in_kind_officers_belong_to_the_police_pillar(runs):
    _, r = runs
    ref = r["national_rollout"]
    assert r["police_only"]["in_kind"] == ref["in_kind"] > 0  # officers kept
    for name in ("social_only", "community_only"):
        assert r[name]["in_kind"] == 0  # no officers: their value became budget
        assert r[name]["budget"] > ref["budget"] + 0.9 * ref["in_kind"]
    for name in BUDGET_ONLY:  # officers kept, only the budget moves
        assert r[name]["in_kind"] == ref["in_kind"]


def test_like_for_like_with_the_own_mix_splits_money_as_the_mix_does():
    """With the reference mix as its own mix and every officer assigned, like-for-like gives each
    pillar what the plain rule gives it (the social share is held back until programs start)."""
    m = SafeNeighbourhoodModel(load_scenario("national_rollout", QUICK), rng=0)
    mix = m.spec.strategy.mix
    delivering = np.array([False, True, True, True])
    programs_on = np.array([False, False, True, True])
    plain = np.array([mix.police * delivering, mix.social * programs_on, mix.community * delivering])
    money = plain.sum(axis=0)  # the reference allocation of one unit of weekly money
    police, social, community = m.ministry.split_resources(money, delivering, programs_on)
    np.testing.assert_allclose(np.array([police, social, community]), plain, rtol=1e-12, atol=0)
    # A social-only mix before programs start saves its money in the program accounts.
    m = SafeNeighbourhoodModel(load_scenario("social_only", QUICK), rng=0)
    police, social, community = m.ministry.split_resources(np.ones(4), delivering, programs_on)
    np.testing.assert_array_equal(social, np.ones(4))
    np.testing.assert_array_equal(police + community, np.zeros(4))
