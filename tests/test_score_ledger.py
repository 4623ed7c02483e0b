"""The scores' ledger (world/ledger.py, docs/ODD.md §7.13-7.14): every change to trust and
insecurity is booked to its source, relaxation discounts the bookings as it discounts the scores,
so effects on the mean scores can be taken apart by mechanism (experiment/scores.py)."""

from __future__ import annotations

import numpy as np
import pytest

from sn_sim.processes import police, trust

from conftest import make_model


def _anchor_part(ledger) -> np.ndarray:
    """Sum of scores minus every source's booking, per neighbourhood: what no source explains."""
    return ledger.score_sum - ledger.rows.sum(axis=0)


def test_a_contact_books_exactly_the_change_it_made(quiet_scenario):
    m = make_model(quiet_scenario, seed=7)
    r, ledger = m.residents, m.world.trust_ledger
    before, rows = r.trust.astype(np.float64), ledger.rows.copy()
    contacts = np.zeros(m.geo.n)
    contacts[1] = 20_000  # many contacts: some residents are met twice in the week
    police.community_contacts(m.world, contacts)
    sl = m.world.layout.neighbourhood_slice(1)
    booked = ledger.rows - rows
    changed = (r.trust.astype(np.float64) - before)[sl].sum()
    i_just, i_unjust = ledger.index["contacts_just"], ledger.index["contacts_unjust"]
    assert booked[i_just, 1] > 0 > booked[i_unjust, 1]
    assert booked[i_just, 1] + booked[i_unjust, 1] == pytest.approx(changed, rel=1e-6)
    assert np.count_nonzero(booked) == 2  # one neighbourhood, two sources


def test_relaxation_leaves_the_anchor_part_to_the_anchors(quiet_scenario):
    """Two models on the same random numbers, one with a burst of contacts and of victims: after a
    week the scores differ but the part no source explains does not (up to the deviations of the
    few people who died in that week)."""
    a, b = make_model(quiet_scenario, seed=3), make_model(quiet_scenario, seed=3)
    contacts = np.zeros(a.geo.n)
    contacts[:] = 5_000
    police.community_contacts(b.world, contacts)
    victims = np.arange(0, b.residents.n, 7)
    trust.after_victimisation(b.world, victims, np.zeros(victims.size, dtype=bool))
    for m in (a, b):
        m.step()
        m.step()
    la, lb = a.world.trust_ledger, b.world.trust_ledger
    differs = np.abs(lb.score_sum - la.score_sum)
    assert differs.min() > 1.0  # every neighbourhood's summed trust moved by more than one point
    np.testing.assert_allclose(_anchor_part(lb), _anchor_part(la), atol=0.02 * differs.max())


def test_ledger_rows_follow_their_sources_sign_in_a_treated_run(tiny_results):
    p = tiny_results.panel
    treated = p[p["treated"] & (p["stage"].astype(str) != "none")]
    assert treated["trust_from_patrol"].gt(0).any() and treated["trust_from_contacts_unjust"].lt(0).any()
    assert treated["insecurity_from_patrol"].lt(0).any()
    # The ledger explains the mean score: score = anchor part + parts + rest, with the anchor part
    # the same in every week's relaxation; so week-on-week moves of the score are the parts' moves.
    one = p[p["neighbourhood"] == treated["neighbourhood"].iloc[0]].sort_values(["replicate", "week"])
    parts = one.filter(like="trust_from_").sum(axis=1)
    assert np.corrcoef(np.diff(one["trust_score"]), np.diff(parts))[0, 1] > 0.5
