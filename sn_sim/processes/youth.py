"""Youth risk and gang involvement.

Youth (12-24 by default) move between none -> at risk -> involved and back. The hazards rise
with the person's risk-factor score and with the share of gang-involved youth in the
neighbourhood (peer influence: Haynie 2001; Thornberry et al. 2003), and are halved while the
youth is enrolled in a program (structured use of free time: Gottfredson et al. 2004).
Involvement ends by desistance (Pyrooz 2014: median membership about two years) or prison.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from sn_sim.processes.base import Process
from sn_sim.world import World
from sn_sim.world.world import CHUNK
from sn_sim.world.residents import GANG_AT_RISK, GANG_INVOLVED, GANG_NONE, NO_PROGRAM, WEEKS_PER_AGE_YEAR


# Fixed point of the neighbourhood peer share in the initial draw (numerics, not model parameters):
# it converges in 5-8 iterations to this tolerance (a share of youth).
PEER_ITERATIONS, PEER_TOLERANCE = 12, 1e-4
# The fixed point is found on every k-th youth, k chosen so that the smallest neighbourhood keeps
# at least this many (the share is an expectation over them, not a draw: at 400 the subsample moves
# it far less than the tolerance); the final probabilities use everyone. Numerics, not a parameter.
PEER_SAMPLE = 400
# Gang members past the youth ages desist at twice the youth rate: after this many years past
# them, an involved state is rarer than 1e-9 with the defaults; nobody older is drawn.
YEARS_PAST_YOUTH = 30


def gang_share(world: World) -> np.ndarray:
    """Share of youth who are gang-involved, per neighbourhood (free youth only)."""
    total, _, involved = world.youth_at_home()
    return involved / np.maximum(total, 1)


# The state a move leads to, by current state (none -> at risk -> involved -> none).
NEXT_STATE = np.array([GANG_AT_RISK, GANG_INVOLVED, GANG_NONE], dtype=np.uint8)


def step_youth(world: World, gang_share: np.ndarray) -> None:
    """Weekly transitions of youth, and desistance of gang members who are no longer youth."""
    rng, everyone = world.random.stream("youth"), world.ages.gang_idx
    # One draw per youth, prisoners included, so twin runs stay aligned (common random numbers).
    u_move, u_recover = rng.random(everyone.size), rng.random(everyone.size)
    if world.compiled:
        world.residents.set_gang(*_compiled_moves(world, gang_share, everyone, u_move, u_recover))
        return
    # The rest is elementwise: chunk by chunk, so temporaries stay in the CPU cache.
    for lo in range(0, everyone.size, CHUNK):
        part = slice(lo, lo + CHUNK)
        _transitions(world, gang_share, everyone[part], u_move[part], u_recover[part])


def _compiled_moves(world: World, gang_share: np.ndarray, idx: np.ndarray, u_move: np.ndarray,
                    u_recover: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_transitions` as one compiled pass over all of ``idx`` (sn_sim/world/compiled.py):
    who moves, and to which state. The hazards' parameters go in as float32, as NumPy computes
    them below."""
    from sn_sim.world.compiled import gang_moves

    y, r = world.scenario.youth, world.residents
    return gang_moves(
        idx, u_move, u_recover, r.released_week, world.clock.week, r.gang, r.age, y.max_age,
        np.array([y.onset_rate, y.recruitment_rate, y.desistance_rate], dtype=np.float32), r.neighbourhood,
        gang_share, np.float32(y.peer_effect), r.program, NO_PROGRAM, np.float32(y.enrolled_protection), r.risk,
        np.float32(y.adult_desistance_factor), np.float32(y.recovery_rate), GANG_AT_RISK, GANG_INVOLVED, GANG_NONE,
        NEXT_STATE)


def _transitions(world: World, gang_share: np.ndarray, idx: np.ndarray, u_move: np.ndarray,
                 u_recover: np.ndarray) -> None:
    y, r = world.scenario.youth, world.residents
    free = r.released_week[idx] <= world.clock.week
    idx, u_move, u_recover = idx[free], u_move[free], u_recover[free]
    gang = r.gang[idx]
    youth = r.age[idx] <= y.max_age
    # Hazard of the next move by state: none -> at risk (onset), at risk -> involved (recruitment),
    # involved -> none (desistance). Onset and recruitment scale with risk, peers and enrolment and
    # stop past the youth ages; desistance is faster past them.
    base = np.array([y.onset_rate, y.recruitment_rate, y.desistance_rate], dtype=np.float32)[gang]
    involved = gang == GANG_INVOLVED
    peer = np.float32(1.0) + np.float32(y.peer_effect) * gang_share[r.neighbourhood[idx]].astype(np.float32)
    protect = np.where(r.program[idx] != NO_PROGRAM, np.float32(y.enrolled_protection), np.float32(1.0))
    risk = r.risk[idx]
    scale = np.where(involved, np.where(youth, np.float32(1.0), np.float32(y.adult_desistance_factor)),
                     np.where(youth, risk * peer * protect, np.float32(0.0)))
    move = u_move < base * scale
    # At-risk youth may also recover (more so with few risk factors).
    recover = (gang == GANG_AT_RISK) & ~move & (u_recover < y.recovery_rate * (1 - risk))
    moved = move | recover
    new = np.where(recover[moved], np.uint8(GANG_NONE), NEXT_STATE[gang[moved]])
    r.set_gang(idx[moved], new)


class Youth(Process):
    """Gang transitions of youth (and desistance of members who outgrew the youth ages)."""

    name = "youth"
    parameters = ("youth",)
    reads = ("residents.risk", "residents.age", "residents.program", "residents.released_week")
    writes = ("residents.gang",)

    def initialise(self, rng: np.random.Generator, free_share: FreeShare | None = None) -> None:
        """Draw every gang state from the stationary distribution of the youth dynamics given
        the person's age (:func:`draw_stationary_states`); ``free_share`` accounts for prison
        (the model redraws them so once the justice flows are measured, docs/ODD.md §5)."""
        draw_stationary_states(self.world, rng, free_share)

    def step(self) -> None:
        step_youth(self.world, gang_share(self.world))


# (candidates) -> (n, 3): the expected share of time each candidate would spend out of prison in
# each gang state (none, at risk, involved); None = always free.
FreeShare = Callable[[np.ndarray], np.ndarray]


def _propagate(p: list[np.ndarray], M: list[list[np.ndarray]], x: np.ndarray) -> list[np.ndarray]:
    """Row vectors ``p`` (3 arrays of shape (n,)) times the per-person 3x3 matrices ``M`` to the
    power ``x`` (n,), by binary powering: O(log max x) products instead of max x weekly steps.
    The 3x3 products are written out over (n,) columns (a fifth of the time of einsum)."""
    x = x.copy()
    while x.any():
        odd = (x & 1).astype(bool)
        p = [np.where(odd, p[0] * M[0][j] + p[1] * M[1][j] + p[2] * M[2][j], p[j]) for j in range(3)]
        x >>= 1
        if x.any():
            M = [[M[i][0] * M[0][j] + M[i][1] * M[1][j] + M[i][2] * M[2][j] for j in range(3)] for i in range(3)]
    return p


def _state_probabilities(world: World, idx: np.ndarray, weeks: np.ndarray, peer_share: np.ndarray,
                         free: np.ndarray | None) -> np.ndarray:
    """(n, 3) probabilities of none / at risk / involved after ``weeks`` weekly transitions
    (:func:`_transitions`, with hazards times the share of time free) from none at ``youth.min_age``."""
    y, r = world.scenario.youth, world.residents
    risk = r.risk[idx].astype(float)
    peer = 1.0 + y.peer_effect * peer_share[r.neighbourhood[idx]]
    f = np.ones((idx.size, 3)) if free is None else free
    onset = np.minimum(y.onset_rate * risk * peer, 1.0) * f[:, 0]
    recruit = np.minimum(y.recruitment_rate * risk * peer, 1.0) * f[:, 1]
    recover = (1 - recruit) * y.recovery_rate * (1 - risk) * f[:, 1]  # only if not recruited
    desist = np.full(idx.size, y.desistance_rate) * f[:, 2]
    zero = np.zeros(idx.size)
    M = [[1 - onset, onset, zero],
         [recover, 1 - recruit - recover, recruit],
         [desist, zero, 1 - desist]]
    p = _propagate([np.ones(idx.size), zero, zero], M, weeks.astype(np.int64))
    return np.stack(p, axis=1)


def draw_stationary_states(world: World, rng: np.random.Generator, free_share: FreeShare | None = None) -> None:
    """Gang states drawn from the distribution the youth dynamics imply at each person's age.

    In a population whose cohorts are replaced at the same rate (equal young cohorts, §5), the
    youth dynamics with ageing have a stationary distribution: a youth aged ``a`` entered the
    youth ages in state none ``x = a - min_age`` weeks ago, so their state is distributed as
    ``e_none · M^x``, with ``M`` their own weekly transition matrix. ``M`` depends on the share of
    free youth who are involved in the neighbourhood (peer influence), which depends on
    everyone's state: that share is taken at its fixed point (iterated). Running the transitions
    without ageing instead (as a long warm-up would) settles on a no-turnover equilibrium with
    about twice as many members, which ageing then drains over the recorded years.

    Past the youth ages, at-risk status has lapsed (processes/ageing.py) and involvement
    decays at the adult desistance rate. ``free_share`` scales each state's hazards by the share
    of time spent out of prison (prisoners make no transitions and are not peers)."""
    y, r, geo = world.scenario.youth, world.residents, world.geo
    lo, span = y.min_age * WEEKS_PER_AGE_YEAR, (y.max_age + 1 - y.min_age) * WEEKS_PER_AGE_YEAR
    age_weeks = r.age.astype(np.int64) * WEEKS_PER_AGE_YEAR + r.weeks_since_birthday(world.clock.week)
    since = age_weeks - lo  # weeks since entering the youth ages
    youth = np.flatnonzero((since >= 0) & (since < span))
    older = np.flatnonzero((since >= span) & (since < span + YEARS_PAST_YOUTH * WEEKS_PER_AGE_YEAR))
    free_youth = None if free_share is None else free_share(youth)
    # Youth are stored by neighbourhood, so every k-th one samples each neighbourhood evenly.
    per_nb = np.bincount(r.neighbourhood[youth], minlength=geo.n)
    stride = max(1, int(per_nb[per_nb > 0].min(initial=0)) // PEER_SAMPLE)
    sample = youth[::stride]
    free_sample = None if free_youth is None else free_youth[::stride]
    nb = r.neighbourhood[sample].astype(np.intp)
    n_youth = np.bincount(nb, minlength=geo.n)
    peer_share = np.zeros(geo.n)
    for _ in range(PEER_ITERATIONS):
        p = _state_probabilities(world, sample, since[sample], peer_share, free_sample)
        at_home = p if free_sample is None else p * free_sample
        new = (np.bincount(nb, weights=at_home[:, 2], minlength=geo.n)
               / np.maximum(np.bincount(nb, weights=at_home.sum(axis=1), minlength=geo.n), 1e-12))
        new[n_youth == 0] = 0.0
        done = np.abs(new - peer_share).max() < PEER_TOLERANCE
        peer_share = new
        if done:
            break
    p = _state_probabilities(world, youth, since[youth], peer_share, free_youth)
    q = _state_probabilities(world, older, np.full(older.size, span), peer_share,
                             None if free_share is None else free_share(older))
    still = (1 - y.desistance_rate * y.adult_desistance_factor) ** (since[older] - span)
    involved_old = q[:, 2] * still
    r.gang[:] = GANG_NONE
    u = rng.random(youth.size)
    r.gang[youth] = np.where(u < p[:, 2], GANG_INVOLVED, np.where(u < p[:, 2] + p[:, 1], GANG_AT_RISK, GANG_NONE))
    r.gang[older[rng.random(older.size) < involved_old]] = GANG_INVOLVED
    r.note_everyone()
    world.refresh_ages()  # who can change gang state: youth and the members among the older
