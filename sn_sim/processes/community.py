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


import numpy as np

from sn_sim.processes.base import Process
from sn_sim.world import World
from sn_sim.world.randomness import keyed_uniforms
from sn_sim.world.residents import adult_mortality


def community_activities(world: World, activities: np.ndarray) -> None:
    """Each activity recruits adults into a junta vecinal."""
    c = world.scenario.community
    r, rng = world.residents, world.random.stream("community")
    recruits = world.to_agents(activities * c.junta_recruits_per_activity, rng)
    for h in np.flatnonzero(recruits):
        sl = world.layout.neighbourhood_slice(h)
        # Three draws per recruit: a sampling budget for finding adults who are not yet members
        # (about seven in ten residents are adults), not a behavioural parameter. Juntas are
        # adult organisations: 18 is the adult age everywhere in the model (AgeGroups.adult).
        who = rng.integers(sl.start, sl.stop, size=3 * recruits[h])
        who = who[(r.age[who] >= 18) & ~r.junta[who]][: recruits[h]]
        r.junta[who] = True


# Candidates drawn per join: about two in three draws are free adults not yet members, so six
# fill the joins with near certainty.
JOIN_DRAWS = 6


def junta_turnover(world: World) -> None:
    """Members leave at a constant hazard (or die); outside the Strategy, the juntas' own recruitment
    replaces them at the initial membership level (a stable background of 14,000 juntas).
    Draws are keyed by person and neighbourhood so twin runs stay aligned (sn_sim.world.randomness)."""
    if world.clock.week % 4:
        return  # checked every 4 weeks with the 4-week hazard: same expectation, a quarter of the cost
    r, c = world.residents, world.scenario.community
    key = world.random.key("juntas")
    join_key = world.random.key("juntas.joins")
    p = 1 - (1 - c.junta_dropout) ** 4
    members = np.flatnonzero(r.junta)
    r.junta[members[keyed_uniforms(key, members, 1)[:, 0] < p]] = False
    adults = world.per_neighbourhood(world.ages.adult)
    # Members also leave by dying (processes/ageing.py): recruitment replaces both flows, so
    # membership stays at its reference share of adults.
    deaths = 1 - (1 - adult_mortality(world.scenario)) ** 4
    expected = (p + deaths) * adults * world.reference.junta_share
    whole = np.floor(expected)
    n = world.geo.n
    joins = (whole + (keyed_uniforms(join_key, np.arange(n), 1)[:, 0] < expected - whole)).astype(np.int64)
    week = world.clock.week
    for h in np.flatnonzero(joins):
        sl = world.layout.neighbourhood_slice(h)
        draws = keyed_uniforms(key, (h << 32) + np.arange(JOIN_DRAWS * joins[h]), 1)[:, 0]
        who = sl.start + (draws * (sl.stop - sl.start)).astype(np.int64)
        # Joins are new members: free adults who are not members yet, each once (a draw that
        # fell on a member, a prisoner or the same person twice would be a lost join, and
        # membership would sink below its reference level).
        who = who[(r.age[who] >= 18) & ~r.junta[who] & (r.released_week[who] <= week)]
        _, first = np.unique(who, return_index=True)
        r.junta[who[np.sort(first)][: joins[h]]] = True


def junta_tips(world: World, offences) -> np.ndarray:
    """Information juntas pass to police about this week's unrecorded offences, per block
    (inhabitant units); keyed by offender."""
    c = world.scenario.community
    unrecorded = ~offences.recorded
    blocks_, who = offences.block[unrecorded], offences.offender[unrecorded]
    nb = blocks_ // world.geo.blocks_per_neighbourhood
    u = keyed_uniforms(world.random.key("tips"), who, 1)[:, 0]
    known = u < np.minimum(c.junta_tip_rate * world.places.junta_share[nb] * 100, 1.0)
    tips = np.bincount(blocks_[known], minlength=world.blocks.recorded_crime.size)
    return tips.reshape(world.blocks.recorded_crime.shape) / world.scenario.population.scale


def update_efficacy(world: World) -> None:
    """Collective efficacy relaxes towards its base level, raised by junta membership and
    eroded by crime and disorder above their pre-period levels."""
    c = world.scenario.community
    st = world.places
    target = (
        st.efficacy_base
        + c.efficacy_junta_gain * (st.junta_share - world.reference.junta_share)
        - c.efficacy_crime_erosion * (st.offence_rate - world.reference.offence_rate)
        - c.efficacy_disorder_erosion * (world.blocks.disorder.mean(axis=1) - world.reference.disorder.mean(axis=1))
    )
    st.efficacy += c.efficacy_relaxation * (np.clip(target, 0, 1) - st.efficacy)


def recover_spaces(world: World, recoveries: np.ndarray) -> None:
    """Recover the worst-kept blocks first, weighting by their crime (where it matters most)."""
    c = world.scenario.community
    blocks = world.blocks
    for h in np.flatnonzero(recoveries):
        need = blocks.disorder[h] * (1 + blocks.recorded_crime[h])
        order = np.argsort(-need)[: int(recoveries[h])]
        blocks.space_condition[h, order] = np.minimum(blocks.space_condition[h, order] + c.space_recovery_gain, 1.0)
        blocks.recovered[h, order] = True


def decay_spaces(world: World) -> None:
    """Public spaces drift back to their initial condition."""
    c = world.scenario.community
    blocks = world.blocks
    # Decay towards the block's initial condition, not to zero: upkeep by residents continues.
    blocks.space_condition += c.space_decay * (world.reference.condition - blocks.space_condition)


def alcohol_control(world: World, operations: np.ndarray) -> None:
    """Each operation cuts consumption by a share; consumption drifts back to its baseline."""
    c = world.scenario.community
    st = world.places
    st.alcohol *= (1 - c.alcohol_control_effect) ** operations
    st.alcohol += c.alcohol_recovery * (1.0 - st.alcohol)


class Juntas(Process):
    """Juntas vecinales: recruitment at the Strategy's community activities, and turnover."""

    name = "community"
    parameters = ("community.junta_recruits_per_activity", "community.junta_dropout", "community.initial_junta_share",
                  "population.age_flat_until", "population.age_max")
    reads = ("effort.community_activities", "residents.age", "residents.released_week", "reference.junta_share")
    writes = ("residents.junta",)

    def step(self) -> None:
        community_activities(self.world, self.world.effort.community_activities)
        junta_turnover(self.world)


class PublicSpaces(Process):
    """Recovery of public spaces by the Strategy, and their decay without upkeep."""

    name = "spaces"
    parameters = ("community.space_recovery_gain", "community.space_decay")
    reads = ("effort.space_recoveries", "blocks.recorded_crime", "reference.condition")
    writes = ("blocks.space_condition", "blocks.recovered")

    def step(self) -> None:
        recover_spaces(self.world, self.world.effort.space_recoveries)
        decay_spaces(self.world)


class AlcoholControl(Process):
    """Alcohol-control operations and the drift of consumption back to its baseline."""

    name = "alcohol"
    parameters = ("community.alcohol_control_effect", "community.alcohol_recovery")
    reads = ("effort.alcohol_operations",)
    writes = ("places.alcohol",)

    def step(self) -> None:
        alcohol_control(self.world, self.world.effort.alcohol_operations)


class CollectiveEfficacy(Process):
    """Collective efficacy of each neighbourhood (Sampson et al. 1997)."""

    name = "efficacy"
    parameters = ("community",)
    reads = ("places.junta_share", "places.offence_rate", "blocks.space_condition", "reference")
    writes = ("places.efficacy", "places.efficacy_base", "reference.junta_share")

    def initialise(self, rng: np.random.Generator) -> None:
        world = self.world
        st = world.places
        c = world.scenario.community
        st.efficacy_base[:] = np.clip(c.initial_efficacy * np.exp(-c.efficacy_deprivation_effect * world.geo.deprivation), 0, 1)
        st.efficacy[:] = st.efficacy_base
        st.junta_share[:] = world.share_by_neighbourhood(world.residents.junta, world.ages.adult)
        world.reference.junta_share[:] = st.junta_share

    def step(self) -> None:
        update_efficacy(self.world)
