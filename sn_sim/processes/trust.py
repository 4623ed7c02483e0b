"""Trust in the police and perceived insecurity: every change to either happens here.

Trust (Tyler 2006; Skogan 2006) is a personal score in [0, 1]. Contacts with community police
(by their procedural quality), heavy-handed raids, victimisation without a response, an arrest
after one's own offence was reported, and visible patrol on one's own block move it; it then
relaxes slowly towards the person's own long-run level, so effects last only while the causes
last. Perceived insecurity (Hale 1996; Skogan & Maxfield 1981) relaxes towards a level set by
the neighbourhood's offence rate, the block's disorder and its visible patrol, relative to the
pre-period, and jumps for victims.

The police processes call :func:`after_contacts` and :func:`after_raid`; the victims process
calls :func:`after_victimisation`; the weekly relaxation is the ``Trust`` and ``Insecurity``
processes. Every change is also written, by source, to the world's score ledgers
(world/ledger.py), which relaxation discounts as it discounts the scores: an effect on a mean
score can be taken apart by the mechanism that produced it.
"""

from __future__ import annotations

import numpy as np

from sn_sim.processes.base import Process
from sn_sim.world import World
from sn_sim.world.events import last_of_each


def after_contacts(world: World, who: np.ndarray, just: np.ndarray) -> None:
    """A procedurally just contact raises trust by ``contact_gain``, an unjust one lowers it by
    ``contact_loss`` (absolute steps, kept in [0, 1]).

    Absolute steps make the asymmetry the same at every trust level (Skogan 2006: a bad contact
    weighs 4-14 times a good one, whose effect is near zero): a contact's expected change is
    ``quality * gain - (1 - quality) * loss`` whatever the person's trust. Steps proportional to
    the distance to 1 and to 0 would let gains outweigh losses among the distrustful, so that
    community policing built trust by construction."""
    p = world.scenario.police
    r = world.residents
    before = r.trust[who]
    after = np.where(just, np.minimum(before + p.contact_gain, 1.0),
                     np.maximum(before - p.contact_loss, 0.0)).astype(np.float32)
    r.trust[who] = after
    once = last_of_each(who)
    change = r.trust[who].astype(np.float64) - before
    nb = r.neighbourhood[who]
    ledger = world.trust_ledger
    ledger.add("contacts_just", nb[once & just], change[once & just])
    ledger.add("contacts_unjust", nb[once & ~just], change[once & ~just])


def after_raid(world: World, raided_blocks: np.ndarray) -> None:
    """A heavy-handed operation costs every resident of the raided blocks ``raid_trust_loss``."""
    loss = world.scenario.police.raid_trust_loss
    r, start = world.residents, world.layout.block_start
    B = world.geo.blocks_per_neighbourhood
    for b in raided_blocks:
        t = r.trust[start[b]:start[b + 1]]  # a view: updated in place
        before = t.sum(dtype=np.float64)
        np.maximum(t - np.float32(loss), 0, out=t)
        world.trust_ledger.add("raids", int(b) // B, t.sum(dtype=np.float64) - before)


def after_victimisation(world: World, victims: np.ndarray, cleared: np.ndarray, speed: float = 1.0,
                        once: np.ndarray | None = None) -> None:
    """Victims whose offence led to an arrest gain trust (a response); the others lose some.
    ``speed`` multiplies both changes while trust settles in the burn-in (:class:`Trust`);
    ``once`` is ``last_of_each(victims)`` if the caller has it."""
    s = world.scenario
    r = world.residents
    before = r.trust[victims]
    after = np.where(cleared, before + speed * s.trust.response_gain * (1 - before),
                     before - speed * s.trust.victim_penalty * before).astype(np.float32)
    r.trust[victims] = after
    once = last_of_each(victims) if once is None else once
    change = r.trust[victims].astype(np.float64) - before
    nb = r.neighbourhood[victims]
    world.trust_ledger.add("victim_response", nb[once & cleared], change[once & cleared])
    world.trust_ledger.add("victim_no_response", nb[once & ~cleared], change[once & ~cleared])


class Victims(Process):
    """What happens to this week's victims: the survey's 12-month window, trust and insecurity;
    homicide victims are replaced by in-movers (the population is conserved)."""

    name = "victims"
    parameters = ("trust.response_gain", "trust.victim_penalty", "insecurity.victim_jump")
    speed = 1.0  # trust.settling_factor while trust settles (set by the model)
    reads = ("offences",)
    writes = ("residents.last_victim_week", "residents.last_reported", "residents.trust", "residents.insecurity",
              "residents.gang", "residents.program", "residents.junta", "trust_ledger.rows", "insecurity_ledger.rows")

    def step(self) -> None:
        world = self.world
        o, r = world.offences, world.residents
        v = o.victim
        r.last_victim_week[v] = world.clock.week
        r.last_reported[v] = o.reported
        once = o.victim_once()
        after_victimisation(world, v, o.cleared, self.speed, once)
        before = r.insecurity[v]
        r.insecurity[v] = np.minimum(before + world.scenario.insecurity.victim_jump, 1.0).astype(np.float32)
        world.insecurity_ledger.add("victimisation", r.neighbourhood[v[once]],
                                    r.insecurity[v[once]].astype(np.float64) - before[once])
        dead = v[o.lethal]
        if dead.size:
            r.replace(dead)


def _trust_week(world: World, trust: np.ndarray, anchor: np.ndarray, block: np.ndarray, extra_patrol: np.ndarray | None,
                visibility: np.float32, relaxation: np.float32) -> np.ndarray | None:
    """One week of trust for a slice of residents, in place: the gain from visible extra patrol on
    the home block (none where ``extra_patrol`` is None), then relaxation to the anchor. Returns
    each resident's patrol gain (None without patrol)."""
    if world.compiled:  # the same arithmetic in one pass (sn_sim/world/compiled.py)
        from sn_sim.world.compiled import patrol_gain_and_relax, relax_to_anchor
        if extra_patrol is None:
            relax_to_anchor(trust, anchor, relaxation)
            return None
        gain = np.empty_like(trust)
        patrol_gain_and_relax(trust, anchor, extra_patrol, block, visibility, relaxation, gain)
        return gain
    gain = None
    if extra_patrol is not None:
        gain = visibility * extra_patrol[block]
        gain *= np.float32(1) - trust
        trust += gain
    trust += relaxation * (anchor - trust)
    np.clip(trust, 0, 1, out=trust)  # a no-op in exact arithmetic (relaxation is a convex step)
    return gain


class Trust(Process):
    """Weekly trust update: visible extra patrol on the home block, then relaxation to the
    personal anchor (O(N), float32).

    The initial trust scores are not at the fixed point of these dynamics (victims without a
    response lose trust, relaxation pulls it back at 1 % a week: a time constant of about two
    years). So for the first ``trust.settling_weeks`` of the burn-in the model sets ``speed``
    here and in :class:`Victims` to ``trust.settling_factor``: relaxation, victim penalty and
    response gain all scale by it, the expected weekly change scales by it, and its zero -- the
    fixed point -- stays where it is, reached that many times sooner."""

    name = "trust"
    parameters = ("trust.visibility_gain", "trust.relaxation", "trust.settling_factor", "trust.settling_weeks",
                  "police.routine_hours_per_block")
    speed = 1.0
    reads = ("blocks.patrol_hours", "residents.trust_anchor")
    writes = ("residents.trust", "trust_ledger")

    def step(self) -> None:
        world = self.world
        s, r = world.scenario, world.residents
        routine = s.police.routine_hours_per_block
        extra_patrol = np.maximum(world.blocks.patrol_hours - routine, 0.0)
        patrolled = (extra_patrol > 0).any(axis=1)  # neighbourhoods with any extra patrol
        extra_patrol = extra_patrol.astype(np.float32).ravel()
        visibility, relaxation = np.float32(s.trust.visibility_gain), np.float32(self.speed * s.trust.relaxation)
        ledger, nb_start = world.trust_ledger, world.layout.nb_start
        for res, nbs in world.neighbourhood_chunks:  # whole neighbourhoods: sums per neighbourhood
            offsets = nb_start[nbs.start:nbs.stop] - res.start
            t = r.trust[res]  # a view: updated in place
            gain = _trust_week(world, t, r.trust_anchor[res], r.block[res], extra_patrol if patrolled[nbs].any() else None,
                               visibility, relaxation)
            if gain is not None:
                ledger.row("patrol")[nbs] += np.add.reduceat(gain, offsets, dtype=np.float64)
            ledger.score_sum[nbs] = np.add.reduceat(t, offsets, dtype=np.float64)
        ledger.relax(1.0 - float(relaxation))


class Insecurity(Process):
    """Weekly insecurity update: relaxation towards the personal anchor shifted by the
    environment (offence rate, disorder, visible patrol) relative to the pre-period."""

    name = "insecurity"
    parameters = ("insecurity", "police.routine_hours_per_block")
    reads = ("places.offence_rate", "reference.offence_rate", "blocks.space_condition", "reference.disorder",
             "blocks.patrol_hours", "residents.insecurity_anchor")
    writes = ("residents.insecurity", "insecurity_ledger")

    def step(self) -> None:
        world = self.world
        s, r, blocks = world.scenario, world.residents, world.blocks
        ins = s.insecurity
        routine = s.police.routine_hours_per_block
        rate = world.places.offence_rate  # offences per 100 inhabitants per week (EWMA)
        crime = ins.crime_effect * (rate - world.reference.offence_rate)[:, None]
        disorder = ins.disorder_effect * (blocks.disorder - world.reference.disorder)
        patrol = -ins.patrol_effect * (blocks.patrol_hours - routine)
        env = (crime + disorder + patrol).astype(np.float32).ravel()
        relaxation = np.float32(ins.relaxation)
        ledger, nb_start = world.insecurity_ledger, world.layout.nb_start
        if world.compiled:
            from sn_sim.world.compiled import relax_scores
        for res, nbs in world.neighbourhood_chunks:
            x = r.insecurity[res]  # a view: updated in place
            if world.compiled:  # the same arithmetic in one pass (sn_sim/world/compiled.py)
                relax_scores(x, r.insecurity_anchor[res], env, r.block[res], relaxation)
            else:
                x += relaxation * (r.insecurity_anchor[res] + env[r.block[res]] - x)
                np.clip(x, 0, 1, out=x)  # the target anchor + environment can lie outside [0, 1]
            offsets = nb_start[nbs.start:nbs.stop] - res.start
            ledger.score_sum[nbs] = np.add.reduceat(x, offsets, dtype=np.float64)
        # The relaxation moves every score a share of the way to its target: it keeps 1 - rate of
        # every source's past change and adds rate x each part of the environment, per resident.
        ledger.relax(1.0 - float(relaxation))
        agents = world.agents_per_block
        for source, part in (("crime", crime), ("disorder", disorder), ("patrol", patrol)):
            ledger.add_per_neighbourhood(source, float(relaxation) * (part * agents).sum(axis=1))
