"""Offending, target choice, guardianship, displacement, victims and reporting.

Routine activity theory (Cohen & Felson 1979) at the block: a motivated offender chooses a
suitable target block (heavy-tailed, self-exciting attractiveness: Short et al. 2008; distance
decay from home: Bernasco 2010) and offends unless a capable guardian deters them. Guardianship
is patrol (own block plus a share of neighbouring blocks' patrol, which offenders cannot tell
apart: diffusion of benefits, Clarke & Weisburd 1994), collective efficacy (Sampson et al. 1997)
and maintained, lit public space (Welsh & Farrington 2008). A deterred offender retries once at
an adjacent block, possibly across a neighbourhood border (displacement, Guerette & Bowers 2009),
or desists. Victims report with a probability that rises with their trust in the police; the
police see only reported offences and those patrol witnesses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sn_sim.population import age_crime_curve
from sn_sim.randomness import keyed_uniforms

if TYPE_CHECKING:
    from sn_sim.model import SafeNeighbourhoodModel


@dataclass
class Offences:
    """This week's completed offences (agent units), one entry each."""

    offender: np.ndarray  # int64 resident index
    block: np.ndarray     # int64 global block id
    violent: np.ndarray   # bool
    lethal: np.ndarray    # bool
    victim: np.ndarray    # int64 resident index
    reported: np.ndarray  # bool, reported by the victim
    recorded: np.ndarray  # bool, known to the police (reported or witnessed by patrol)
    u_cleared: np.ndarray  # float, the offender's uniform for clearance by arrest


def refresh_propensity(model: "SafeNeighbourhoodModel", idx: np.ndarray | slice = slice(None)) -> None:
    """Recompute the cached weekly attempt probability for residents ``idx``.

    p = rate x neighbourhood level x age-crime curve x sex x exp(risk gradient) x gang x
    former-prisoner multipliers. Called for everyone once a year (ageing) and for the few
    whose risk, gang state or record changed during the week.
    """
    s = model.params.crime
    r = model.residents
    curve = model.age_curve
    level = model.geo.crime_level[r.neighbourhood[idx]].astype(np.float32)
    p = np.float32(s.offending_rate) * level * curve[r.age[idx]]
    p = p * np.where(r.female[idx], np.float32(s.female_factor), np.float32(1.0))
    p = p * np.exp(np.float32(s.risk_effect) * (r.risk[idx] - np.float32(model.params.population.risk_mean)))
    gang_mult = np.array([1.0, s.at_risk_multiplier, s.gang_multiplier], dtype=np.float32)
    p = p * gang_mult[r.gang[idx]]
    recent = r.former_prisoner[idx] & ((model.week - r.released_week[idx].astype(np.int32)) < s.recidivism_window_weeks)
    p = p * np.where(recent, np.float32(s.former_prisoner_multiplier), np.float32(1.0))
    r.propensity[idx] = np.minimum(p, np.float32(0.9))


def make_age_curve(model: "SafeNeighbourhoodModel") -> np.ndarray:
    return age_crime_curve(model.params)


def deterrence(model: "SafeNeighbourhoodModel") -> np.ndarray:
    """Probability that an attempt at each block is deterred, shape (n, B).

    Patrol deters with diminishing returns (Koper 1995): d = d_max * h / (h + h50), where h is
    the patrol an offender perceives (own block plus a share of the neighbours' patrol).
    Collective efficacy and public-space condition add independent hazards.
    """
    s = model.params.crime
    blocks, geo = model.blocks, model.geo
    patrol = blocks.patrol_hours.ravel()
    nbrs = geo.block_neighbours
    nb_patrol = np.where(nbrs >= 0, patrol[np.maximum(nbrs, 0)], 0.0)
    n_valid = np.maximum((nbrs >= 0).sum(axis=1), 1)
    perceived = (patrol + s.diffusion_weight * nb_patrol.sum(axis=1) / n_valid).reshape(blocks.patrol_hours.shape)
    by_patrol = s.patrol_max_deterrence * perceived / (perceived + s.patrol_half_hours)
    informal = s.guardianship_efficacy * model.state.efficacy[:, None] + s.guardianship_space * blocks.space_condition
    return 1.0 - (1.0 - by_patrol) * np.exp(-informal)


# Columns of the per-attempt uniforms (one row per offender, keyed by who they are).
(U_CROSS, U_NEIGHBOUR_NB, U_STAY, U_TARGET, U_DETER, U_RETRY, U_RETRY_BLOCK, U_RETRY_DETER,
 U_VIOLENT, U_LETHAL, U_VICTIM, U_VICTIM_AGAIN, U_REPORT, U_WITNESS, U_CLEARED) = range(15)
N_ATTEMPT_DRAWS = 15


def _choose_target_blocks(model, offenders: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Target block for each attempt: attractiveness x distance decay within the home
    neighbourhood, or attractiveness alone in an adjacent neighbourhood (cross-border trips)."""
    r, geo, blocks = model.residents, model.geo, model.blocks
    B = geo.blocks_per_neighbourhood
    s = model.params.crime
    home_nb = r.neighbourhood[offenders].astype(np.int64)
    home_local = r.block[offenders].astype(np.int64) - home_nb * B
    attract = (blocks.attractiveness + blocks.repeat).astype(np.float32)

    target_nb = home_nb.copy()
    crossing = u[:, U_CROSS] < s.roam_share * s.cross_border_share
    for i in np.flatnonzero(crossing):
        adj = geo.adjacent[home_nb[i]]
        if adj.size:
            target_nb[i] = adj[int(u[i, U_NEIGHBOUR_NB] * adj.size)]
    away = target_nb != home_nb
    # Staying home: roamers spread by distance decay; non-roamers favour their own block.
    weights = attract[target_nb]
    decay = geo.block_decay[home_local]
    stay_home_block = u[:, U_STAY] >= s.roam_share
    weights = np.where(away[:, None], weights, weights * decay)
    weights[stay_home_block & ~away, home_local[stay_home_block & ~away]] *= 1e6
    cum = np.cumsum(weights, axis=1)
    local = (cum < (u[:, U_TARGET] * cum[:, -1])[:, None]).sum(axis=1)
    return target_nb * B + np.minimum(local, B - 1)


def weekly_offences(model: "SafeNeighbourhoodModel") -> Offences:
    """Draw attempts, deter or displace them, and return completed offences with their victims.

    Every decision about an attempt uses uniforms keyed by the offender and the week
    (sn_sim.randomness), so twin runs make the same draws for the same person."""
    r, geo, blocks, s = model.residents, model.geo, model.blocks, model.params
    week = model.week
    B = geo.blocks_per_neighbourhood

    # Motivated offenders: one Bernoulli draw per resident (float32 keeps this cheap).
    attempt = model.stream("offending").random(r.n, dtype=np.float32) < r.propensity
    offenders = np.flatnonzero(attempt)
    offenders = offenders[r.released_week[offenders] <= week]  # in prison: no attempt
    if offenders.size == 0:
        return _empty()
    u = keyed_uniforms(model.stream_key("crime"), offenders, N_ATTEMPT_DRAWS)

    target = _choose_target_blocks(model, offenders, u)
    p_deter = deterrence(model).ravel()
    deterred = u[:, U_DETER] < p_deter[target]

    # Displacement: some deterred offenders try an adjacent block once.
    idx = np.flatnonzero(deterred & (u[:, U_RETRY] < s.crime.displacement_share))
    if idx.size:
        options = geo.block_neighbours[target[idx]]
        pick = options[np.arange(idx.size), (u[idx, U_RETRY_BLOCK] * 8).astype(np.int64)]
        ok = pick >= 0
        idx, pick = idx[ok], pick[ok]
        success = u[idx, U_RETRY_DETER] >= p_deter[pick]
        target[idx[success]] = pick[success]
        deterred[idx[success]] = False
        model.tally.displaced += np.bincount(pick[success] // B, minlength=geo.n) / s.population.scale
    done = ~deterred
    offenders, target, u = offenders[done], target[done], u[done]
    if offenders.size == 0:
        return _empty()

    # Violence rises with alcohol outlets at the block and the neighbourhood's consumption.
    nb_target = target // B
    outlets = blocks.outlets.ravel()[target]
    p_violent = s.crime.violent_share * (1 + s.crime.alcohol_violence * outlets * model.state.alcohol[nb_target])
    violent = u[:, U_VIOLENT] < np.minimum(p_violent, 0.95)
    lethal = violent & (u[:, U_LETHAL] < s.crime.lethality)

    # Victims: a resident of the target block (the block's residents are one slice).
    start = model.layout.block_start[target]
    size = model.layout.block_start[target + 1] - start
    nb_first = model.layout.nb_start[nb_target]
    nb_size = model.layout.nb_start[nb_target + 1] - nb_first
    victim = np.where(
        size > 0,
        start + (u[:, U_VICTIM] * size).astype(np.int64),
        nb_first + (u[:, U_VICTIM] * nb_size).astype(np.int64),
    )

    # Victims are people at home other than the offender: redraw the few who are not, once.
    bad = (victim == offenders) | (r.released_week[victim] > week)
    if bad.any():
        victim[bad] = nb_first[bad] + (u[bad, U_VICTIM_AGAIN] * nb_size[bad]).astype(np.int64)

    # Reporting: logistic in trust (Tyler & Fagan 2008), violent offences more often.
    rep = s.reporting
    logit0 = np.log(rep.base / (1 - rep.base)) if 0 < rep.base < 1 else (-30.0 if rep.base == 0 else 30.0)
    # Anchored at the trust threshold, so a more trusting population reports more.
    z = logit0 + rep.trust_effect * (r.trust[victim] - s.trust.threshold) + rep.violent_bonus * violent
    reported = u[:, U_REPORT] < 1.0 / (1.0 + np.exp(-z))
    witnessed = u[:, U_WITNESS] < -np.expm1(-rep.patrol_detection * blocks.patrol_hours.ravel()[target])
    recorded = reported | witnessed | lethal  # homicides always come to police attention
    return Offences(offenders, target, violent, lethal, victim, reported, recorded, u[:, U_CLEARED])


def _empty() -> Offences:
    e = np.zeros(0, dtype=np.int64)
    b = np.zeros(0, dtype=bool)
    return Offences(e, e, b, b, e, b, b, np.zeros(0))


def update_attractiveness(model: "SafeNeighbourhoodModel", offences: Offences) -> None:
    """Self-exciting attractiveness (Short et al. 2008): each offence raises its block's
    attractiveness, which decays back. Counts are per inhabitant so the scale does not matter."""
    s = model.params.crime
    blocks = model.blocks
    counts = np.bincount(offences.block, minlength=blocks.repeat.size).reshape(blocks.repeat.shape)
    blocks.repeat *= 1.0 - s.repeat_decay
    blocks.repeat += s.repeat_boost * counts / model.params.population.scale
    blocks.offences_year += counts

