"""Community prevention: juntas vecinales, collective efficacy, public spaces, alcohol control.

- Juntas vecinales recruit adults at community activities and lose members over time; members
  pass information to the police (tips add to the recorded-crime map of their block).
- Collective efficacy (Sampson et al. 1997) is a neighbourhood score that moves towards a level
  raised by junta membership and eroded by crime and disorder (Markowitz et al. 2001); it adds
  to guardianship in the crime module.
- Recovering a block's public space raises its condition (lighting, maintenance: Welsh &
  Farrington 2008; Branas et al. 2018); condition decays without upkeep.
- Alcohol-control operations cut the neighbourhood's consumption, which scales violence near
  outlets (Duailibi et al. 2007); consumption drifts back to its baseline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sn_sim.randomness import keyed_uniforms

if TYPE_CHECKING:
    from sn_sim.model import SafeNeighbourhoodModel


def community_activities(model: "SafeNeighbourhoodModel", activities: np.ndarray) -> None:
    """Each activity recruits adults into a junta vecinal."""
    c = model.params.community
    r, rng = model.residents, model.stream("community")
    recruits = model.to_agents(activities * c.junta_recruits_per_activity, rng)
    for h in np.flatnonzero(recruits):
        sl = model.layout.neighbourhood_slice(h)
        who = rng.integers(sl.start, sl.stop, size=3 * recruits[h])
        who = who[(r.age[who] >= 18) & ~r.junta[who]][: recruits[h]]
        r.junta[who] = True


def junta_turnover(model: "SafeNeighbourhoodModel") -> None:
    """Members leave at a constant hazard; outside the Strategy, the juntas' own recruitment
    replaces them at the initial membership level (a stable background of 14,000 juntas).
    Draws are keyed by person and neighbourhood so twin runs stay aligned (sn_sim.randomness)."""
    if model.week % 4:
        return  # checked every 4 weeks with the 4-week hazard: same expectation, a quarter of the cost
    r, c = model.residents, model.params.community
    key = model.stream_key("juntas")
    p = 1 - (1 - c.junta_dropout) ** 4
    members = np.flatnonzero(r.junta)
    r.junta[members[keyed_uniforms(key, members, 1)[:, 0] < p]] = False
    adults = np.add.reduceat(model.adult, model.layout.nb_start[:-1], dtype=np.int64)
    expected = p * adults * model.reference_junta_share
    whole = np.floor(expected)
    n = model.geo.n
    joins = (whole + (keyed_uniforms(~key & 0xFFFFFFFFFFFFFFFF, np.arange(n), 1)[:, 0] < expected - whole)).astype(np.int64)
    for h in np.flatnonzero(joins):
        sl = model.layout.neighbourhood_slice(h)
        draws = keyed_uniforms(key, (h << 32) + np.arange(3 * joins[h]), 1)[:, 0]
        who = sl.start + (draws * (sl.stop - sl.start)).astype(np.int64)
        r.junta[who[r.age[who] >= 18][: joins[h]]] = True


def junta_tips(model: "SafeNeighbourhoodModel", offences) -> np.ndarray:
    """Information juntas pass to police about this week's unrecorded offences, per block
    (inhabitant units); keyed by offender."""
    c = model.params.community
    unrecorded = ~offences.recorded
    blocks_, who = offences.block[unrecorded], offences.offender[unrecorded]
    nb = blocks_ // model.geo.blocks_per_neighbourhood
    u = keyed_uniforms(model.stream_key("tips"), who, 1)[:, 0]
    known = u < np.minimum(c.junta_tip_rate * model.state.junta_share[nb] * 100, 1.0)
    tips = np.bincount(blocks_[known], minlength=model.blocks.recorded_crime.size)
    return tips.reshape(model.blocks.recorded_crime.shape) / model.params.population.scale


def update_efficacy(model: "SafeNeighbourhoodModel") -> None:
    c = model.params.community
    st = model.state
    target = (
        st.efficacy_base
        + c.efficacy_junta_gain * (st.junta_share - model.reference_junta_share)
        - c.efficacy_crime_erosion * (st.offence_rate - model.reference_offence_rate)
        - c.efficacy_disorder_erosion * (model.blocks.disorder.mean(axis=1) - model.reference_disorder.mean(axis=1))
    )
    st.efficacy += c.efficacy_relaxation * (np.clip(target, 0, 1) - st.efficacy)


def recover_spaces(model: "SafeNeighbourhoodModel", recoveries: np.ndarray) -> None:
    """Recover the worst-kept blocks first, weighting by their crime (where it matters most)."""
    c = model.params.community
    blocks = model.blocks
    for h in np.flatnonzero(recoveries):
        need = blocks.disorder[h] * (1 + blocks.recorded_crime[h])
        order = np.argsort(-need)[: int(recoveries[h])]
        blocks.space_condition[h, order] = np.minimum(blocks.space_condition[h, order] + c.space_recovery_gain, 1.0)
        blocks.recovered[h, order] = True


def decay_spaces(model: "SafeNeighbourhoodModel") -> None:
    c = model.params.community
    blocks = model.blocks
    # Decay towards the block's initial condition, not to zero: upkeep by residents continues.
    blocks.space_condition += c.space_decay * (model.reference_condition - blocks.space_condition)


def alcohol_control(model: "SafeNeighbourhoodModel", operations: np.ndarray) -> None:
    c = model.params.community
    st = model.state
    st.alcohol *= (1 - c.alcohol_control_effect) ** operations
    st.alcohol += c.alcohol_recovery * (1.0 - st.alcohol)
