"""Police prevention: patrol in hot zones, community police, intelligence operations, arrests.

- Patrol: every neighbourhood gets routine PNP patrol. A treated neighbourhood gets extra
  officers (in kind) and patrol hours bought by the police pillar; a share goes to the hot zone,
  the blocks with most *recorded* crime (Sherman & Weisburd 1995; Braga et al. 2019), so that
  when trust and reporting are low the police target the wrong blocks.
- Community police: contacts whose procedural quality (implementation quality) moves trust up
  or down (Mazerolle et al. 2013; Skogan 2006 asymmetry; Blair et al. 2021).
- Intelligence-led operations arrest a share of a neighbourhood's gang members (Braga &
  Weisburd 2012); heavy-handed ones cost the raided blocks' trust (Tyler 2006).
- Arrests: recorded offences are cleared with a fixed probability; convictions lead to
  exponentially distributed sentences. Prisoners stay in the population (absent) and return
  as former prisoners, with a higher propensity (Durose et al. 2014).
"""

from __future__ import annotations


import numpy as np

from sn_sim.processes import justice, trust
from sn_sim.processes.community import junta_tips
from sn_sim.processes.base import Process
from sn_sim.world import World
from sn_sim.world.residents import GANG_INVOLVED


def allocate_patrol(world: World, extra_hours: np.ndarray) -> None:
    """Set this week's patrol hours per block.

    extra_hours: (n,) hours beyond routine patrol for each neighbourhood (in-kind officers plus
    hours bought by the budget). Returns nothing; writes ``blocks.patrol_hours`` and the tally.
    """
    p = world.scenario.police
    blocks = world.blocks
    n, B = blocks.patrol_hours.shape
    hours = np.full((n, B), p.routine_hours_per_block)
    treated = np.flatnonzero(extra_hours > 0)
    if treated.size:
        k = min(p.hot_zone_blocks, B)
        recorded = blocks.recorded_crime[treated]
        # Ties (no recorded crime at all) are broken at random, not by block order; the 1e-9 jitter
        # is far below one recorded offence, so it only breaks ties (not a parameter).
        jitter = world.random.stream("police").random(recorded.shape) * 1e-9
        hot = np.argpartition(-(recorded + jitter), k - 1, axis=1)[:, :k]
        hot_hours = extra_hours[treated] * p.hot_zone_share
        routine_extra = extra_hours[treated] * (1 - p.hot_zone_share)
        hours[treated] += (routine_extra / B)[:, None]
        rows = np.repeat(treated, k)
        np.add.at(hours, (rows, hot.ravel()), np.repeat(hot_hours / k, k))
        world.tally.hot_zone_hours[treated] += hot_hours
    blocks.patrol_hours[:] = hours
    world.tally.patrol_hours += hours.sum(axis=1)


def community_contacts(world: World, contacts: np.ndarray) -> None:
    """Community-police contacts: each is procedurally just with probability
    ``implementation_quality`` (a small trust gain) or not (a trust loss several times larger)."""
    p = world.scenario.police
    r, rng = world.residents, world.random.stream("contacts")
    agents = world.to_agents(contacts, rng)
    world.tally.contacts += contacts
    for h in np.flatnonzero(agents):
        sl = world.layout.neighbourhood_slice(h)
        who = rng.integers(sl.start, sl.stop, size=agents[h])
        who = who[r.age[who] >= p.contact_min_age]
        just = rng.random(who.size) < p.implementation_quality
        trust.after_contacts(world, who, just)


def intelligence_operations(world: World, operations: np.ndarray) -> None:
    """Operations against crime rings in the neighbourhoods where ``operations[h] > 0``."""
    p = world.scenario.police
    r, rng = world.residents, world.random.stream("operations")
    for h in np.flatnonzero(operations):
        sl = world.layout.neighbourhood_slice(h)
        for _ in range(int(operations[h])):
            members = sl.start + np.flatnonzero(
                (r.gang[sl] == GANG_INVOLVED) & (r.released_week[sl] <= world.clock.week)
            )
            world.tally.operations[h] += 1
            if members.size == 0:
                continue
            caught = members[rng.random(members.size) < p.operation_removal]
            justice.incarcerate(world, caught, convicted_share=world.scenario.reporting.conviction)
            world.tally.arrests[h] += caught.size / world.scenario.population.scale
            if caught.size and rng.random() < p.heavy_handedness:
                trust.after_raid(world, np.unique(r.block[caught]))


def update_recorded_crime(world: World, offences, tips: np.ndarray) -> None:
    """Exponentially weighted recorded crime per block, in inhabitant units: the police's map.

    ``tips`` (n, B) adds information juntas vecinales pass to the police."""
    blocks = world.blocks
    decay = 1.0 / world.scenario.reporting.memory_weeks
    rec = np.bincount(offences.block[offences.recorded], minlength=blocks.recorded_crime.size)
    rec = rec.reshape(blocks.recorded_crime.shape) / world.scenario.population.scale
    blocks.recorded_crime *= 1.0 - decay
    blocks.recorded_crime += rec + tips


class Patrol(Process):
    """Routine patrol everywhere; the Strategy's extra hours split between hot zones (picked
    from recorded crime) and the rest of the neighbourhood."""

    name = "police"
    parameters = ("police",)
    reads = ("effort.extra_patrol_hours", "blocks.recorded_crime")
    writes = ("blocks.patrol_hours", "tally.patrol_hours", "tally.hot_zone_hours")

    def step(self) -> None:
        allocate_patrol(self.world, self.world.effort.extra_patrol_hours)


class CommunityPolicing(Process):
    """Community-police contacts, each procedurally just or not (trust moves accordingly)."""

    name = "contacts"
    parameters = ("police",)
    reads = ("effort.contacts", "residents.age")
    writes = ("residents.trust", "trust_ledger.rows", "tally.contacts")

    def step(self) -> None:
        community_contacts(self.world, self.world.effort.contacts)


class Operations(Process):
    """Intelligence-led operations against crime rings: arrests of gang members, and trust lost
    on the raided blocks when an operation is heavy-handed."""

    name = "operations"
    parameters = ("police", "reporting.conviction", "reporting.sentence_weeks")
    reads = ("effort.operations", "residents.gang", "residents.released_week")
    writes = ("residents.released_week", "residents.former_prisoner", "residents.program", "residents.trust",
              "trust_ledger.rows", "tally.operations", "tally.arrests")

    def step(self) -> None:
        intelligence_operations(self.world, self.world.effort.operations)


class CrimeMap(Process):
    """The police's map of recorded crime per block (reported, witnessed, and juntas' tips)."""

    name = "tips"
    parameters = ("reporting.memory_weeks", "community.junta_tip_rate")
    reads = ("offences", "places.junta_share")
    writes = ("blocks.recorded_crime",)

    def step(self) -> None:
        world = self.world
        update_recorded_crime(world, world.offences, junta_tips(world, world.offences))
