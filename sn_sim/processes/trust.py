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
processes.
"""

from __future__ import annotations

import numpy as np

from sn_sim.processes.base import Process
from sn_sim.world import World


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
    t = r.trust[who]
    t = np.where(just, np.minimum(t + p.contact_gain, 1.0), np.maximum(t - p.contact_loss, 0.0))
    r.trust[who] = t.astype(np.float32)


def after_raid(world: World, raided_blocks: np.ndarray) -> None:
    """A heavy-handed operation costs every resident of the raided blocks ``raid_trust_loss``."""
    loss = world.scenario.police.raid_trust_loss
    r, start = world.residents, world.layout.block_start
    for b in raided_blocks:
        lo, hi = start[b], start[b + 1]
        r.trust[lo:hi] = np.maximum(r.trust[lo:hi] - loss, 0)


def after_victimisation(world: World, victims: np.ndarray, cleared: np.ndarray, speed: float = 1.0) -> None:
    """Victims whose offence led to an arrest gain trust (a response); the others lose some.
    ``speed`` multiplies both changes while trust settles in the burn-in (:class:`Trust`)."""
    s = world.scenario
    r = world.residents
    t = r.trust[victims]
    r.trust[victims] = np.where(cleared, t + speed * s.trust.response_gain * (1 - t),
                                t - speed * s.trust.victim_penalty * t).astype(np.float32)


class Victims(Process):
    """What happens to this week's victims: the survey's 12-month window, trust and insecurity;
    homicide victims are replaced by in-movers (the population is conserved)."""

    name = "victims"
    parameters = ("trust.response_gain", "trust.victim_penalty", "insecurity.victim_jump")
    speed = 1.0  # trust.settling_factor while trust settles (set by the model)
    reads = ("offences",)
    writes = ("residents.last_victim_week", "residents.last_reported", "residents.trust", "residents.insecurity",
              "residents.gang", "residents.program", "residents.junta")

    def step(self) -> None:
        world = self.world
        o, r = world.offences, world.residents
        v = o.victim
        r.last_victim_week[v] = world.clock.week
        r.last_reported[v] = o.reported
        after_victimisation(world, v, o.cleared, self.speed)
        r.insecurity[v] = np.minimum(r.insecurity[v] + world.scenario.insecurity.victim_jump, 1.0).astype(np.float32)
        dead = v[o.lethal]
        if dead.size:
            r.replace(dead)


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
    writes = ("residents.trust",)

    def step(self) -> None:
        world = self.world
        s, r = world.scenario, world.residents
        routine = s.police.routine_hours_per_block
        extra_patrol = np.maximum(world.blocks.patrol_hours - routine, 0.0).ravel()
        extra_patrol = extra_patrol.astype(np.float32)
        visibility, relaxation = np.float32(s.trust.visibility_gain), np.float32(self.speed * s.trust.relaxation)
        for part in world.chunks():
            gain = visibility * extra_patrol[r.block[part]]
            t = r.trust[part]  # a view: updated in place
            t += gain * (np.float32(1) - t)
            t += relaxation * (r.trust_anchor[part] - t)
            np.clip(t, 0, 1, out=t)


class Insecurity(Process):
    """Weekly insecurity update: relaxation towards the personal anchor shifted by the
    environment (offence rate, disorder, visible patrol) relative to the pre-period."""

    name = "insecurity"
    parameters = ("insecurity", "police.routine_hours_per_block")
    reads = ("places.offence_rate", "reference.offence_rate", "blocks.space_condition", "reference.disorder",
             "blocks.patrol_hours", "residents.insecurity_anchor")
    writes = ("residents.insecurity",)

    def step(self) -> None:
        world = self.world
        s, r, blocks = world.scenario, world.residents, world.blocks
        ins = s.insecurity
        routine = s.police.routine_hours_per_block
        rate = world.places.offence_rate  # offences per 100 inhabitants per week (EWMA)
        env = (
            ins.crime_effect * (rate - world.reference.offence_rate)[:, None]
            + ins.disorder_effect * (blocks.disorder - world.reference.disorder)
            - ins.patrol_effect * (blocks.patrol_hours - routine)
        ).astype(np.float32).ravel()
        relaxation = np.float32(ins.relaxation)
        for part in world.chunks():
            x = r.insecurity[part]  # a view: updated in place
            x += relaxation * (r.insecurity_anchor[part] + env[r.block[part]] - x)
            np.clip(x, 0, 1, out=x)
