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

from typing import TYPE_CHECKING

import numpy as np

from sn_sim.crime import Offences, refresh_propensity
from sn_sim.population import GANG_INVOLVED
from sn_sim.randomness import keyed_uniforms

if TYPE_CHECKING:
    from sn_sim.model import SafeNeighbourhoodModel


def allocate_patrol(model: "SafeNeighbourhoodModel", extra_hours: np.ndarray) -> None:
    """Set this week's patrol hours per block.

    extra_hours: (n,) hours beyond routine patrol for each neighbourhood (in-kind officers plus
    hours bought by the budget). Returns nothing; writes ``blocks.patrol_hours`` and the tally.
    """
    p = model.params.police
    blocks = model.blocks
    n, B = blocks.patrol_hours.shape
    hours = np.full((n, B), p.routine_hours_per_block)
    treated = np.flatnonzero(extra_hours > 0)
    if treated.size:
        k = min(p.hot_zone_blocks, B)
        recorded = blocks.recorded_crime[treated]
        # Ties (no recorded crime at all) are broken at random, not by block order.
        jitter = model.stream("police").random(recorded.shape) * 1e-9
        hot = np.argpartition(-(recorded + jitter), k - 1, axis=1)[:, :k]
        hot_hours = extra_hours[treated] * p.hot_zone_share
        routine_extra = extra_hours[treated] * (1 - p.hot_zone_share)
        hours[treated] += (routine_extra / B)[:, None]
        rows = np.repeat(treated, k)
        np.add.at(hours, (rows, hot.ravel()), np.repeat(hot_hours / k, k))
        model.tally.hot_zone_hours[treated] += hot_hours
    blocks.patrol_hours[:] = hours
    model.tally.patrol_hours += hours.sum(axis=1)


def community_contacts(model: "SafeNeighbourhoodModel", contacts: np.ndarray) -> None:
    """Community-police contacts: each is procedurally just with probability
    ``implementation_quality`` (trust gain) or not (larger trust loss)."""
    p = model.params.police
    r, rng = model.residents, model.stream("contacts")
    agents = model.to_agents(contacts, rng)
    model.tally.contacts += contacts
    for h in np.flatnonzero(agents):
        sl = model.layout.neighbourhood_slice(h)
        who = rng.integers(sl.start, sl.stop, size=agents[h])
        who = who[r.age[who] >= 15]
        just = rng.random(who.size) < p.implementation_quality
        t = r.trust[who]
        t = np.where(just, t + p.contact_gain * (1 - t), t - p.contact_loss * t)
        r.trust[who] = t.astype(np.float32)


def intelligence_operations(model: "SafeNeighbourhoodModel", operations: np.ndarray) -> None:
    """Operations against crime rings in the neighbourhoods where ``operations[h] > 0``."""
    p = model.params.police
    r, rng = model.residents, model.stream("operations")
    for h in np.flatnonzero(operations):
        sl = model.layout.neighbourhood_slice(h)
        for _ in range(int(operations[h])):
            members = sl.start + np.flatnonzero(
                (r.gang[sl] == GANG_INVOLVED) & (r.released_week[sl] <= model.week)
            )
            model.tally.operations[h] += 1
            if members.size == 0:
                continue
            caught = members[rng.random(members.size) < p.operation_removal]
            incarcerate(model, caught, convicted_share=model.params.reporting.conviction)
            model.tally.arrests[h] += caught.size / model.params.population.scale
            if caught.size and rng.random() < p.heavy_handedness:
                raided = np.unique(r.block[caught])
                for b in raided:
                    lo, hi = model.layout.block_start[b], model.layout.block_start[b + 1]
                    r.trust[lo:hi] = np.maximum(r.trust[lo:hi] - p.raid_trust_loss, 0)


def incarcerate(model: "SafeNeighbourhoodModel", who: np.ndarray, convicted_share: float) -> None:
    """Convict a share of ``who`` and send them to prison for an exponential sentence."""
    if who.size == 0:
        return
    # Keyed by person: the same arrestee gets the same verdict and sentence in a twin run.
    u = keyed_uniforms(model.stream_key("justice"), who, 2)
    convicted = u[:, 0] < convicted_share
    jailed = who[convicted]
    if jailed.size == 0:
        return
    sentence = np.ceil(-np.log1p(-u[convicted, 1]) * model.params.reporting.sentence_weeks)
    r = model.residents
    r.released_week[jailed] = np.minimum(model.week + sentence, np.iinfo(np.int16).max).astype(np.int16)
    r.former_prisoner[jailed] = True
    r.program[jailed] = -1  # leaving a program on arrest
    refresh_propensity(model, jailed)


def arrests_from_offences(model: "SafeNeighbourhoodModel", offences: Offences) -> np.ndarray:
    """Clear recorded offences with an arrest; returns a mask over offences that were cleared."""
    rep = model.params.reporting
    cleared = offences.recorded & (offences.u_cleared < rep.clearance)
    arrested = np.unique(offences.offender[cleared])
    arrested = arrested[model.residents.released_week[arrested] <= model.week]
    incarcerate(model, arrested, convicted_share=rep.conviction)
    nb = model.residents.neighbourhood[arrested]
    model.tally.arrests += np.bincount(nb, minlength=model.geo.n) / model.params.population.scale
    return cleared


def update_recorded_crime(model: "SafeNeighbourhoodModel", offences: Offences, tips: np.ndarray) -> None:
    """Exponentially weighted recorded crime per block, in inhabitant units: the police's map.

    ``tips`` (n, B) adds information juntas vecinales pass to the police."""
    blocks = model.blocks
    decay = 1.0 / model.params.reporting.memory_weeks
    rec = np.bincount(offences.block[offences.recorded], minlength=blocks.recorded_crime.size)
    rec = rec.reshape(blocks.recorded_crime.shape) / model.params.population.scale
    blocks.recorded_crime *= 1.0 - decay
    blocks.recorded_crime += rec + tips
