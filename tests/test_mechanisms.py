"""Mechanism directions on controlled inputs.

Where possible two models are built from the same seed and differ only in the input under test,
so that they draw the same random numbers (common random numbers): the comparison is then
paired and the tests are not flaky. End-to-end comparisons use several seeds and wide margins.
"""

from __future__ import annotations

import numpy as np
import pytest

from sn_sim.processes import community, crime, police, youth
from sn_sim.api import run
from sn_sim.world.residents import GANG_INVOLVED, NO_PROGRAM
from sn_sim.scenario import load_scenario

from conftest import make_model


def _with(scenario, **overrides):
    """A copy of ``scenario`` with dotted-key overrides, e.g. ``**{"crime.displacement_share": 0}``."""
    return scenario.with_overrides(overrides)


# --- patrol and deterrence ---------------------------------------------------------------------------


def test_deterrence_rises_with_patrol_hours_at_the_block(quiet_scenario):
    m = make_model(quiet_scenario, seed=1)
    m.blocks.patrol_hours[:] = 0.0
    h, b = 2, 2 * m.geo.cols + 4  # an interior block of neighbourhood 2
    other = m.geo.n - 1
    base_other = crime.deterrence(m.world)[other].copy()
    values = []
    for hours in [0.0, 5.0, 20.0, 80.0, 320.0, 5000.0]:
        m.blocks.patrol_hours[h, b] = hours
        d = crime.deterrence(m.world)
        values.append(d[h, b])
        assert np.all((d >= 0) & (d <= 1))
        np.testing.assert_array_equal(d[other], base_other)  # patrol elsewhere changes nothing here
    assert all(b2 > b1 for b1, b2 in zip(values, values[1:])), values


def test_patrol_diffuses_to_adjacent_blocks_but_less(quiet_scenario):
    m = make_model(quiet_scenario, seed=1)
    m.blocks.patrol_hours[:] = 0.0
    before = crime.deterrence(m.world)
    h, b = 2, 2 * m.geo.cols + 4
    m.blocks.patrol_hours[h, b] = 100.0
    gain = crime.deterrence(m.world) - before
    adjacent = b + 1  # same row, next column
    far = 5 * m.geo.cols + 9  # several blocks away
    assert gain[h, b] > gain[h, adjacent] > 0
    assert gain[h, far] == pytest.approx(0.0, abs=1e-12)


def _offences_at_hot_blocks(scenario, seed, extra_hours, monkeypatch):
    """Run a whole scenario; optionally put ``extra_hours`` of patrol on each neighbourhood's most
    attractive block every recorded week. Returns (offences at those blocks, all offences)."""
    m = make_model(scenario, seed)
    B = m.geo.blocks_per_neighbourhood
    local = np.argmax(m.blocks.attractiveness, axis=1)
    target = np.arange(m.geo.n) * B + local
    counts = {"target": 0, "all": 0}
    real_allocate, real_offences = police.allocate_patrol, crime.draw_offences

    def allocate(world, hours):
        real_allocate(world, hours)
        if extra_hours:
            world.blocks.patrol_hours[np.arange(world.geo.n), local] += extra_hours

    def offences(world):
        o = real_offences(world)
        counts["target"] += int(np.isin(o.block, target).sum())
        counts["all"] += int(o.block.size)
        return o

    with monkeypatch.context() as mp:
        mp.setattr(police, "allocate_patrol", allocate)
        mp.setattr(crime, "draw_offences", offences)
        m.run()
    return counts["target"], counts["all"]


def test_heavy_patrol_at_a_block_lowers_its_offences_end_to_end(quiet_scenario, monkeypatch):
    """Same seed, same model; one arm adds 500 patrol hours a week on each neighbourhood's hottest
    block for two years. Offences at those blocks must fall clearly in every matched pair."""
    with_patrol, without = [], []
    for seed in (0, 1, 2):
        t0, _ = _offences_at_hot_blocks(quiet_scenario, seed, 0.0, monkeypatch)
        t1, _ = _offences_at_hot_blocks(quiet_scenario, seed, 500.0, monkeypatch)
        assert t0 >= 40, "too few offences at the hot blocks for a meaningful comparison"
        assert t1 < 0.9 * t0, (seed, t1, t0)
        with_patrol.append(t1)
        without.append(t0)
    assert sum(with_patrol) < 0.75 * sum(without)


# --- trust and reporting -----------------------------------------------------------------------------


def _offences_with_trust(scenario, level: float, weeks: int = 15, seed: int = 4):
    m = make_model(scenario, seed)
    m.residents.trust[:] = np.float32(level)
    out = []
    for _ in range(weeks):
        out.append(crime.draw_offences(m.world))
        m.world.clock.week += 1
    return (np.concatenate([o.victim for o in out]), np.concatenate([o.reported for o in out]),
            np.concatenate([o.violent for o in out]))


def test_victims_with_higher_trust_report_more(quiet_scenario):
    """Matched: same seed and state, only everyone's trust differs, so the same offences happen to
    the same victims and the reporting draws are paired."""
    v_hi, rep_hi, _ = _offences_with_trust(quiet_scenario, 0.9)
    v_lo, rep_lo, _ = _offences_with_trust(quiet_scenario, 0.1)
    np.testing.assert_array_equal(v_hi, v_lo)
    assert v_hi.size >= 200
    assert np.all(rep_lo <= rep_hi), "a victim who reports at low trust must also report at high trust"
    assert rep_hi.mean() > rep_lo.mean() + 0.1, (rep_hi.mean(), rep_lo.mean())


def test_reporting_rises_with_trust_within_a_population(quiet_scenario):
    """Unmatched, in one model: split residents into a high- and a low-trust half at random."""
    m = make_model(quiet_scenario, seed=5)
    rng = np.random.default_rng(0)
    high = rng.random(m.residents.n) < 0.5
    m.residents.trust[:] = np.where(high, 0.95, 0.05).astype(np.float32)
    victims, reported = [], []
    for _ in range(25):
        o = crime.draw_offences(m.world)
        m.world.clock.week += 1
        victims.append(o.victim)
        reported.append(o.reported)
    v, rep = np.concatenate(victims), np.concatenate(reported)
    share_hi, share_lo = rep[high[v]].mean(), rep[~high[v]].mean()
    assert share_hi > share_lo + 0.1, (share_hi, share_lo)


def test_population_with_higher_trust_reports_more_over_a_run(tiny_path):
    """Regression test for a fixed bug (sn_sim/processes/crime.py draw_offences): the reporting logit is centred on the mean of the
    scenario's *own* initial trust distribution (``mean_trust = a / (a + b)``), so shifting
    ``trust.initial_a/b`` moves the reference with it and a population that trusts the police far
    more reports no more often. A scenario with ~97 % trusting residents should report more than
    one with ~2 %."""
    rates = {}
    for label, (a, b) in {"high": (8.0, 2.0), "low": (2.0, 8.0)}.items():
        s = load_scenario(tiny_path, ["strategy.rollout=[]", "culture_points.districts=[]",
                                      "population.scale=0.05", f"trust.initial_a={a}", f"trust.initial_b={b}"])
        p = run(s, seed=1).panel
        rates[label] = (p.trust_police.mean(), p.reporting_rate.mean())
    assert rates["high"][0] > rates["low"][0] + 0.5  # the premise: far more trust
    assert rates["high"][1] > rates["low"][1] + 0.05, rates


# --- programs and youth risk ------------------------------------------------------------------------


def _enrol_and_run(scenario, program="labour", n=40, dose=4, steps=None, seed=2):
    m = make_model(scenario, seed)
    progs = m.programs.enrolments
    pid = progs.names.index(program)
    got = progs.enrol(0, pid, n, "youth", dose, m.world.random.stream("programs"))
    assert got > 10
    who = progs.enrolled.copy()
    r = m.residents
    m.offending.refresh_propensity()  # propensity as the offending process will next see it
    before = (r.risk[who].copy(), r.propensity[who].copy())
    for _ in range(dose if steps is None else steps):
        progs.progress()
    m.offending.refresh_propensity()  # propensity is derived: the offending process recomputes it
    return m, who, before


def test_completed_program_lowers_risk_and_propensity(quiet_scenario):
    s = _with(quiet_scenario, **{"programs.labour.completion": 1.0, "programs.labour.effect_lag_weeks": 0,
                                 "programs.labour.risk_reduction": 0.2})
    m, who, (risk0, prop0) = _enrol_and_run(s)
    r = m.residents
    assert np.all(r.program[who] == NO_PROGRAM)  # everyone finished
    np.testing.assert_allclose(r.risk[who], risk0 * 0.8, rtol=1e-5)
    assert np.all(r.propensity[who] <= prop0)
    active = (prop0 > 0) & (prop0 < 0.9)
    assert active.sum() > 5
    assert np.all(r.propensity[who][active] < prop0[active])


def test_program_has_no_effect_before_the_dose_is_complete(quiet_scenario):
    s = _with(quiet_scenario, **{"programs.labour.completion": 1.0, "programs.labour.effect_lag_weeks": 0})
    m, who, (risk0, _) = _enrol_and_run(s, dose=4, steps=3)
    np.testing.assert_array_equal(m.residents.risk[who], risk0)
    assert np.all(m.residents.program[who] != NO_PROGRAM)


def test_dropouts_keep_their_risk(quiet_scenario):
    s = _with(quiet_scenario, **{"programs.labour.completion": 0.0})
    m, who, (risk0, prop0) = _enrol_and_run(s)
    np.testing.assert_array_equal(m.residents.risk[who], risk0)
    np.testing.assert_array_equal(m.residents.propensity[who], prop0)


def test_program_effect_waits_for_its_lag(quiet_scenario):
    s = _with(quiet_scenario, **{"programs.labour.completion": 1.0, "programs.labour.effect_lag_weeks": 3,
                                 "programs.labour.risk_reduction": 0.2})
    m, who, (risk0, _) = _enrol_and_run(s)
    np.testing.assert_array_equal(m.residents.risk[who], risk0)  # completed, effect not yet due
    for _ in range(3):
        m.world.clock.week += 1
        m.programs.enrolments.progress()
    np.testing.assert_allclose(m.residents.risk[who], risk0 * 0.8, rtol=1e-5)


# --- alcohol and violence ---------------------------------------------------------------------------


def test_alcohol_control_lowers_consumption_which_then_recovers(quiet_scenario):
    m = make_model(quiet_scenario, seed=3)
    n = m.geo.n
    assert np.allclose(m.places.alcohol, 1.0)
    ops = np.zeros(n)
    ops[0] = 3
    for _ in range(4):
        community.alcohol_control(m.world, ops)
    assert m.places.alcohol[0] < 0.5
    assert np.allclose(m.places.alcohol[1:], 1.0)
    path = []
    for _ in range(30):
        community.alcohol_control(m.world, np.zeros(n))
        path.append(m.places.alcohol[0])
    assert all(b > a for a, b in zip(path, path[1:])) and path[-1] < 1.0


def _violent_with_alcohol(scenario, level: float, weeks: int = 20, seed: int = 6):
    m = make_model(scenario, seed)
    m.places.alcohol[:] = level
    out = []
    for _ in range(weeks):
        out.append(crime.draw_offences(m.world))
        m.world.clock.week += 1
    return np.concatenate([o.block for o in out]), np.concatenate([o.violent for o in out])


def test_less_alcohol_means_a_smaller_violent_share(quiet_scenario):
    s = _with(quiet_scenario, **{"crime.alcohol_violence": 2.0})
    b_hi, v_hi = _violent_with_alcohol(s, 1.0)
    b_lo, v_lo = _violent_with_alcohol(s, 0.0)
    np.testing.assert_array_equal(b_hi, b_lo)  # the same offences, paired draws
    assert b_hi.size >= 300
    assert np.all(v_lo <= v_hi)
    assert v_hi.mean() > v_lo.mean() + 0.05, (v_hi.mean(), v_lo.mean())
    # With no consumption the violent share is the scenario's base share (within sampling error).
    assert abs(v_lo.mean() - s.crime.violent_share) < 0.06


def test_community_pillar_alcohol_line_cuts_consumption_in_treated_only(tiny_scenario):
    s = _with(tiny_scenario, **{"strategy.mix.police": 0.0, "strategy.mix.social": 0.0, "strategy.mix.community": 1.0,
                                "community.split_activities": 0.0, "community.split_space": 0.0,
                                "community.split_alcohol": 1.0, "budget.usd_per_year": 1e6})
    p = run(s, seed=3).panel
    executing = p[p.stage.isin(["execution", "consolidation"])]
    never = p[~p.treated]
    assert executing.alcohol_operations.sum() > 0
    assert executing.alcohol_consumption.mean() < 0.9
    assert np.allclose(never.alcohol_consumption, 1.0)
    assert never.alcohol_operations.sum() == 0


# --- community police and intelligence operations ------------------------------------------------------


@pytest.mark.parametrize("quality, direction", [(1.0, +1), (0.0, -1)])
def test_community_contacts_move_trust_with_implementation_quality(quiet_scenario, quality, direction):
    s = _with(quiet_scenario, **{"police.implementation_quality": quality})
    m = make_model(s, seed=7)
    r = m.residents
    before = r.trust.copy()
    contacts = np.zeros(m.geo.n)
    contacts[0] = 20_000  # inhabitant units: ~1,000 contacts at 5 % scale
    police.community_contacts(m.world, contacts)
    sl = m.world.layout.neighbourhood_slice(0)
    change = (r.trust - before)[sl]
    step = s.police.contact_gain if direction > 0 else s.police.contact_loss
    assert direction * change.mean() > 0.25 * step  # about half the residents contacted, each moved by one step
    assert np.all(direction * change >= 0)  # nobody moves the wrong way
    np.testing.assert_array_equal(r.trust[sl.stop:], before[sl.stop:])  # other neighbourhoods untouched


def test_community_contacts_cost_trust_unless_nearly_all_are_good(quiet_scenario):
    """Skogan's asymmetry: a bad contact weighs several times a good one, so at the default quality
    contacts lower trust on average, at every trust level (absolute steps), and only near-perfect
    implementation builds it."""
    def mean_change(quality):
        m = make_model(_with(quiet_scenario, **{"police.implementation_quality": quality}), seed=7)
        before = m.residents.trust.copy()
        contacts = np.zeros(m.geo.n)
        contacts[0] = 20_000
        police.community_contacts(m.world, contacts)
        sl = m.world.layout.neighbourhood_slice(0)
        change, low = (m.residents.trust - before)[sl], before[sl] < 0.2
        return change.mean(), change[low].mean()

    everyone, distrustful = mean_change(quiet_scenario.police.implementation_quality)
    assert everyone < 0 and distrustful < 0  # also among the distrustful, who gained under relative steps
    assert mean_change(0.97)[0] > 0


def _free_involved(m):
    r = m.residents
    mask = (r.gang == GANG_INVOLVED) & (r.released_week <= m.world.clock.week)
    return np.bincount(r.neighbourhood[mask], minlength=m.geo.n)


def _gang_bed(quiet_scenario):
    s = _with(quiet_scenario, **{"youth.onset_rate": 0.02, "youth.recruitment_rate": 0.02, "police.operation_removal": 0.5,
                                 "reporting.conviction": 0.8, "police.heavy_handedness": 0.0})
    return make_model(s, seed=8)


def test_intelligence_operations_reduce_gang_members_at_large(quiet_scenario):
    m = _gang_bed(quiet_scenario)
    before = _free_involved(m)
    assert before.sum() >= 30
    ops = np.zeros(m.geo.n)
    ops[: m.geo.n // 2] = 2
    m.world.tally.reset()  # count this operation's arrests only
    police.intelligence_operations(m.world, ops)
    after = _free_involved(m)
    hit = ops > 0
    assert after[hit].sum() < 0.8 * before[hit].sum()
    np.testing.assert_array_equal(after[~hit], before[~hit])
    assert m.world.tally.arrests[hit].sum() > 0 and m.world.tally.operations[hit].sum() == ops.sum()


def test_jailed_gang_members_stop_counting_for_peer_influence(quiet_scenario):
    """Regression test for a fixed bug (sn_sim/processes/youth.py gang_share): its docstring says the peer-influence gang share counts
    free youth only, but it counts incarcerated gang members too. Jailing every gang member
    therefore leaves the peer pressure on the remaining youth unchanged."""
    s = _with(quiet_scenario, **{"youth.onset_rate": 0.02, "youth.recruitment_rate": 0.02, "police.operation_removal": 1.0,
                                 "reporting.conviction": 1.0})
    m = make_model(s, seed=8)
    before = youth.gang_share(m.world)
    police.intelligence_operations(m.world, np.ones(m.geo.n))
    assert _free_involved(m).sum() == 0  # premise: everyone involved is now in prison
    after = youth.gang_share(m.world)
    assert np.all(after < before), (before, after)


# --- displacement -------------------------------------------------------------------------------------


def test_displacement_share_zero_gives_no_displaced_offences(quiet_scenario):
    none = run(_with(quiet_scenario, **{"crime.displacement_share": 0.0}), seed=2).panel
    some = run(_with(quiet_scenario, **{"crime.displacement_share": 1.0}), seed=2).panel
    assert none.displaced_offences.sum() == 0
    assert some.displaced_offences.sum() > 0
    assert (some.displaced_offences > 0).mean() > 0.2  # many neighbourhood-weeks, not a fluke
