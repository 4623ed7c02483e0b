"""Youth risk and gang involvement.

Youth (12-24 by default) move between none -> at risk -> involved and back. The hazards rise
with the person's risk-factor score and with the share of gang-involved youth in the
neighbourhood (peer influence: Haynie 2001; Thornberry et al. 2003), and are halved while the
youth is enrolled in a program (structured use of free time: Gottfredson et al. 2004).
Involvement ends by desistance (Pyrooz 2014: median membership about two years) or prison.
"""

from __future__ import annotations


import numpy as np

from sn_sim.processes.base import Process
from sn_sim.world import World
from sn_sim.world.world import CHUNK
from sn_sim.world.residents import GANG_AT_RISK, GANG_INVOLVED, GANG_NONE, NO_PROGRAM


ENROLLED_PROTECTION = 0.5  # hazard multiplier while in a program (assumption; see ODD)


def gang_share(world: World) -> np.ndarray:
    """Share of youth who are gang-involved, per neighbourhood (free youth only)."""
    total, _, involved = world.youth_at_home()
    return involved / np.maximum(total, 1)


def step_youth(world: World, gang_share: np.ndarray) -> None:
    """Weekly transitions of youth, and desistance of gang members who are no longer youth."""
    rng, everyone = world.random.stream("youth"), world.ages.gang_idx
    # One draw per youth, prisoners included, so twin runs stay aligned (common random numbers).
    u_move, u_recover = rng.random(everyone.size), rng.random(everyone.size)
    # The rest is elementwise: chunk by chunk, so temporaries stay in the CPU cache.
    for lo in range(0, everyone.size, CHUNK):
        part = slice(lo, lo + CHUNK)
        _transitions(world, gang_share, everyone[part], u_move[part], u_recover[part])


def _transitions(world: World, gang_share: np.ndarray, idx: np.ndarray, u_move: np.ndarray,
                 u_recover: np.ndarray) -> None:
    y, r = world.scenario.youth, world.residents
    free = r.released_week[idx] <= world.clock.week
    idx, u_move, u_recover = idx[free], u_move[free], u_recover[free]
    gang = r.gang[idx]
    risk = r.risk[idx]
    youth = r.age[idx] <= y.max_age
    peer = 1.0 + y.peer_effect * gang_share[r.neighbourhood[idx]]
    protect = np.where(r.program[idx] != NO_PROGRAM, ENROLLED_PROTECTION, 1.0)
    hazard = np.select(
        [(gang == GANG_NONE) & youth, (gang == GANG_AT_RISK) & youth, gang == GANG_INVOLVED],
        [y.onset_rate * risk * peer * protect, y.recruitment_rate * risk * peer * protect,
         y.desistance_rate * np.where(youth, 1.0, y.adult_desistance_factor)],
        0.0,
    )
    move = u_move < hazard
    # At-risk youth may also recover (more so with few risk factors).
    recover = (gang == GANG_AT_RISK) & ~move & (u_recover < y.recovery_rate * (1 - risk))
    new = gang.copy()
    new[move & (gang == GANG_NONE)] = GANG_AT_RISK
    new[move & (gang == GANG_AT_RISK)] = GANG_INVOLVED
    new[move & (gang == GANG_INVOLVED)] = GANG_NONE
    new[recover] = GANG_NONE
    moved = new != gang
    r.set_gang(idx[moved], new[moved])


class Youth(Process):
    """Gang transitions of youth (and desistance of members who outgrew the youth ages)."""

    name = "youth"
    parameters = ("youth",)
    reads = ("residents.risk", "residents.age", "residents.program", "residents.released_week")
    writes = ("residents.gang",)

    def initialise(self, rng: np.random.Generator) -> None:
        """Run the gang transitions alone (no crime, no ageing) for ``youth_settling_weeks``
        before the burn-in, so that initial gang states are draws from their own dynamics, not
        from a guess."""
        world = self.world
        clock = world.clock
        weeks = world.scenario.calendar.youth_settling_weeks
        burn_in_start = clock.week
        for k in range(weeks):
            clock.week = burn_in_start - weeks + k
            step_youth(world, gang_share(world))
        clock.week = burn_in_start
        world.refresh_ages()  # members who joined while settling can now change state too

    def step(self) -> None:
        step_youth(self.world, gang_share(self.world))
