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

import numpy as np

from sn_sim.processes.base import Process
from sn_sim.scenario import Scenario
from sn_sim.world.events import Offences
from sn_sim.world import World
from sn_sim.world.geography import RESIDENTIAL
from sn_sim.world.randomness import keyed_uniforms


def age_crime_curve(scenario: Scenario) -> np.ndarray:
    """Relative offending by age 0..255 (Farrington 1986): steep rise, slow decline; zero under 12."""
    c = scenario.crime
    ages = np.arange(256, dtype=float)
    rise = np.exp(-0.5 * ((ages - c.age_peak) / (c.age_spread / c.age_rise_steepness)) ** 2)
    fall = np.exp(-0.5 * ((ages - c.age_peak) / c.age_spread) ** 2)
    curve = np.where(ages < c.age_peak, rise, fall)
    curve[ages < scenario.youth.min_age] = 0.0
    return curve.astype(np.float32)


def propensity_of(world: World, curve: np.ndarray, idx: np.ndarray | slice = slice(None),
                  record: bool = True) -> np.ndarray:
    """The weekly attempt probability of residents ``idx``.

    p = rate x neighbourhood level x age-crime curve x sex x exp(risk gradient) x gang x
    former-prisoner multipliers (the last only with ``record``: the initial justice draw needs
    the propensity of a person without one).
    """
    s = world.scenario.crime
    r = world.residents
    level = world.geo.crime_level[r.neighbourhood[idx]].astype(np.float32)
    p = np.float32(s.offending_rate) * level * curve[r.age[idx]]
    p = p * np.where(r.female[idx], np.float32(s.female_factor), np.float32(1.0))
    p = p * np.exp(np.float32(s.risk_effect) * (r.risk[idx] - np.float32(world.scenario.population.risk_mean)))
    gang_mult = np.array([1.0, s.at_risk_multiplier, s.gang_multiplier], dtype=np.float32)
    p = p * gang_mult[r.gang[idx]]
    if record:
        recent = r.former_prisoner[idx] & ((world.clock.week - r.released_week[idx].astype(np.int32)) < s.recidivism_window_weeks)
        p = p * np.where(recent, np.float32(s.former_prisoner_multiplier), np.float32(1.0))
    return np.minimum(p, np.float32(s.propensity_max))


def refresh_propensity(world: World, curve: np.ndarray, idx: np.ndarray | slice = slice(None)) -> None:
    """Recompute the weekly attempt probability of residents ``idx`` (:func:`propensity_of`).
    The offending process calls it before drawing attempts, for the residents whose inputs
    changed."""
    world.residents.propensity[idx] = propensity_of(world, curve, idx)


def window_ends(world: World) -> np.ndarray:
    """Former prisoners whose recidivism window ends this week (their multiplier lapses now).

    Their inputs did not change, only the clock did, so nothing else notes them: without this,
    the multiplier would last until their next birthday, up to a year too long."""
    r, s = world.residents, world.scenario.crime
    released = np.int16(max(world.clock.week - s.recidivism_window_weeks, np.iinfo(np.int16).min + 1))
    return np.concatenate([part.start + np.flatnonzero((r.released_week[part] == released) & r.former_prisoner[part])
                           for part in world.chunks()])


def deterrence(world: World, at: np.ndarray | None = None) -> np.ndarray:
    """Probability that an attempt at a block is deterred: every block, shape (n, B), or only
    the global block ids ``at``, shape (len(at),) (cheaper when there are few attempts).

    Patrol deters with diminishing returns (Koper 1995): d = d_max * h / (h + h50), where h is
    the patrol an offender perceives (own block plus a share of the neighbours' patrol).
    Collective efficacy and public-space condition add independent hazards.
    """
    s = world.scenario.crime
    blocks, geo = world.blocks, world.geo
    B = geo.blocks_per_neighbourhood
    where = slice(None) if at is None else at
    patrol = blocks.patrol_hours.ravel()
    padded = np.append(patrol, 0.0)  # index -1 (no block) reads the appended 0
    nb_patrol = padded[geo.block_neighbours[where]].sum(axis=1)
    perceived = patrol[where] + s.diffusion_weight * nb_patrol / geo.neighbour_count[where]
    by_patrol = s.patrol_max_deterrence * perceived / (perceived + s.patrol_half_hours)
    nb = np.arange(geo.n).repeat(B) if at is None else at // B
    informal = s.guardianship_efficacy * world.places.efficacy[nb] + s.guardianship_space * blocks.space_condition.ravel()[where]
    d = 1.0 - (1.0 - by_patrol) * np.exp(-informal)
    return d.reshape(blocks.patrol_hours.shape) if at is None else d


# Columns of the per-attempt uniforms (one row per offender, keyed by who they are).
(U_TARGET, U_DETER, U_RETRY, U_RETRY_BLOCK, U_RETRY_DETER, U_VIOLENT, U_LETHAL, U_VISITOR, U_VISITOR_NB,
 U_VICTIM, U_VICTIM_AGAIN, U_REPORT, U_WITNESS, U_CLEARED, U_TREND) = range(15)
N_ATTEMPT_DRAWS = 15


def _row_search(weights: np.ndarray, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """For each draw i, the column of ``weights[rows[i]]`` picked with probability proportional
    to its weight, by inverse transform with uniform ``u[i]``: one sorted search in the running
    sum over all rows (float64, so float32 weights lose nothing that matters)."""
    k, C = weights.shape
    cum = np.cumsum(weights.ravel(), dtype=np.float64)
    end = cum[C - 1::C]                       # running sum at the end of each row
    start = np.concatenate([[0.0], end[:-1]])
    # Strictly below the row's end, so the pick is a column of positive weight even when the
    # rounding of u x total would reach the end (rows have positive totals).
    value = np.minimum(start[rows] + u * (end - start)[rows], np.nextafter(end, -np.inf)[rows])
    return np.searchsorted(cum, value, side="right") - rows * C


def _distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and each element's index into them (as ``np.unique(return_inverse=True)``),
    in one pass when the values are already sorted (offenders' home blocks usually are:
    residents are stored by home block)."""
    if values.size and (values[1:] >= values[:-1]).all():
        new = np.concatenate([[True], values[1:] != values[:-1]])
        return values[new], np.cumsum(new) - 1
    return np.unique(values, return_inverse=True)


def search_attractiveness(world: World) -> np.ndarray:
    """(n, 3B) attractiveness of each neighbourhood's search area (left, own and right
    neighbourhood's blocks; zero where a side neighbourhood does not exist)."""
    blocks, geo = world.blocks, world.geo
    attract = np.vstack([blocks.current_attractiveness, np.zeros((1, geo.blocks_per_neighbourhood))])
    area = np.where(geo.search_area >= 0, geo.search_area, geo.n)  # row n: the zero row
    return attract[area].reshape(geo.n, -1)


def choose_targets(world: World, home_block: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Target block (global id) of attempts by offenders living at ``home_block``.

    An offender searches the blocks of the home neighbourhood and of the neighbourhoods on either
    side, around the anchors of their routine activities (Brantingham & Brantingham 1993): the
    home block and the neighbourhood's activity nodes (markets, transport stops), each with
    distance decay (journeys to crime, Bernasco 2010). Block ``b`` is chosen with probability
    proportional to ``attractiveness_b x ((1 - m) decay(home, b) + m decay(nodes, b))``,
    ``m = crime.activity_node_share`` (the home decay alone where a neighbourhood has no node)."""
    geo = world.geo
    B = geo.blocks_per_neighbourhood
    # One row of weights per distinct home block among this week's offenders.
    homes, row = _distinct(home_block)
    h = homes // B
    attract = search_attractiveness(world).astype(np.float32)
    search_weights = geo.search_weights.reshape(-1, 3 * B)
    if world.compiled and (row[1:] >= row[:-1]).all():
        from sn_sim.world.compiled import target_columns
        c = target_columns(search_weights, homes, attract, h, row, u)  # the same search, without the matrix
    else:
        c = _row_search(search_weights[homes] * attract[h], row, u)
    return geo.candidate_blocks(h[row], c)


def displacement_targets(world: World, deterred_at: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Block where a displaced offender retries: one of the Moore neighbours of the deterred
    target (across a neighbourhood border too), with probability proportional to its
    attractiveness -- the next suitable target nearby (crime pattern theory: Brantingham &
    Brantingham 1993). Every block has at least three neighbours, so a retry always has a place."""
    options = world.geo.block_neighbours[deterred_at]  # (k, 8), -1 where there is no block
    attract = world.blocks.current_attractiveness.ravel()
    weights = np.where(options >= 0, attract[np.maximum(options, 0)], 0.0)
    c = _row_search(weights, np.arange(options.shape[0]), u)
    return options[np.arange(options.shape[0]), c]


def _victims(world: World, target: np.ndarray, offenders: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Victims of completed offences at ``target`` blocks: the block's residents, or people present
    from elsewhere (residents of the target's neighbourhood or of the next ones, in proportion to
    their numbers) with the land use's visitor share -- markets and stops draw their victims from
    a wide area (Brantingham & Brantingham 1995). Victims are residents, so victimisation rates stay
    defined over residents as INEI's surveys define them."""
    geo, layout, lu = world.geo, world.layout, world.scenario.land_use
    r, week = world.residents, world.clock.week
    B = geo.blocks_per_neighbourhood
    nb_target = target // B
    residential = geo.land_use.ravel()[target] == RESIDENTIAL
    visitor = u[:, U_VISITOR] < np.where(residential, lu.visitors_residential, lu.visitors_nonresidential)

    start = layout.block_start[target]
    size = layout.block_start[target + 1] - start
    # A visitor's neighbourhood: one of the search area's, in proportion to its agents.
    area = geo.search_area[nb_target]  # (k, 3)
    agents = np.where(area >= 0, np.diff(layout.nb_start)[np.maximum(area, 0)], 0)
    home_nb = area[np.arange(target.size), _row_search(agents, np.arange(target.size), u[:, U_VISITOR_NB])]
    nb_first = layout.nb_start[home_nb]
    nb_size = layout.nb_start[home_nb + 1] - nb_first
    from_block = ~visitor & (size > 0)
    victim = np.where(from_block, start + (u[:, U_VICTIM] * size).astype(np.int64),
                      nb_first + (u[:, U_VICTIM] * nb_size).astype(np.int64))
    # Victims are people out of prison other than the offender: redraw the few who are not, once,
    # among the people present from the same neighbourhood.
    bad = (victim == offenders) | (r.released_week[victim] > week)
    if bad.any():
        victim[bad] = nb_first[bad] + (u[bad, U_VICTIM_AGAIN] * nb_size[bad]).astype(np.int64)
    return victim


def draw_offences(world: World) -> Offences:
    """Draw attempts, deter or displace them, and return completed offences with their victims.

    Every decision about an attempt uses uniforms keyed by the offender and the week
    (sn_sim.world.randomness), so twin runs make the same draws for the same person."""
    r, geo, blocks, s = world.residents, world.geo, world.blocks, world.scenario
    week = world.clock.week
    B = geo.blocks_per_neighbourhood

    # Motivated offenders: one Bernoulli draw per resident (float32 keeps this cheap), drawn
    # chunk by chunk from one stream (the same numbers as one draw for everyone).
    rng = world.random.stream("offending")
    # A stated national trend scales everyone's attempts alike (scenario trends; 1 without one).
    t = s.trends
    trend = np.float32(np.exp(t.offending_per_year * world.clock.years_into(t.offending_from, t.offending_until)))
    if world.compiled:  # the same comparison in one pass (sn_sim/world/compiled.py)
        from sn_sim.world.compiled import below
        offenders = np.concatenate([below(rng.random(part.stop - part.start, dtype=np.float32), r.propensity[part],
                                          trend, part.start) for part in world.chunks()])
    else:
        offenders = np.concatenate([part.start + np.flatnonzero(rng.random(part.stop - part.start, dtype=np.float32)
                                                                < r.propensity[part] * trend) for part in world.chunks()])
    offenders = offenders[r.released_week[offenders] <= week]  # in prison: no attempt
    if offenders.size == 0:
        return Offences.empty()
    u = keyed_uniforms(world.random.key("crime"), offenders, N_ATTEMPT_DRAWS)

    target = choose_targets(world, r.block[offenders].astype(np.int64), u[:, U_TARGET])
    # The whole map when attempts cover many blocks, else only the blocks attempted.
    whole = offenders.size > geo.n * B // 4
    p_deter = deterrence(world).ravel() if whole else None
    deterred = u[:, U_DETER] < (p_deter[target] if whole else deterrence(world, target))

    # Displacement: some deterred offenders try an adjacent block once.
    idx = np.flatnonzero(deterred & (u[:, U_RETRY] < s.crime.displacement_share))
    if idx.size:
        pick = displacement_targets(world, target[idx], u[idx, U_RETRY_BLOCK])
        success = u[idx, U_RETRY_DETER] >= (p_deter[pick] if whole else deterrence(world, pick))
        target[idx[success]] = pick[success]
        deterred[idx[success]] = False
        world.tally.displaced += np.bincount(pick[success] // B, minlength=geo.n) / s.population.scale
    done = ~deterred
    offenders, target, u = offenders[done], target[done], u[done]
    if offenders.size == 0:
        return Offences.empty()

    # Violence rises with alcohol outlets at the block and the neighbourhood's consumption.
    nb_target = target // B
    outlets = blocks.outlets.ravel()[target]
    p_violent = s.crime.violent_share * (1 + s.crime.alcohol_violence * outlets * world.places.alcohol[nb_target])
    violent = u[:, U_VIOLENT] < np.minimum(p_violent, s.crime.violent_share_max)
    # A stated national fall in property crime, and the rebound that may follow it (scenario
    # trends): fewer property offences happen. The schema keeps the sum at or below 0.
    clock = world.clock
    fall = np.exp(t.property_offending_per_year * clock.years_into(t.property_offending_from, t.property_offending_until)
                  + t.property_rebound_per_year * clock.years_into(t.property_rebound_from, t.property_rebound_until))
    if fall < 1.0:
        happen = violent | (u[:, U_TREND] < fall)
        offenders, target, u, violent, nb_target = (x[happen] for x in (offenders, target, u, violent, nb_target))
        if offenders.size == 0:
            return Offences.empty()
    lethal = violent & (u[:, U_LETHAL] < s.crime.lethality)

    victim = _victims(world, target, offenders, u)

    # Reporting: logistic in trust (Tyler & Fagan 2008), violent offences more often.
    rep = s.reporting
    # (±30 stands in for the infinite logit of a base of 0 or 1: a numerical guard, not a parameter.)
    logit0 = np.log(rep.base / (1 - rep.base)) if 0 < rep.base < 1 else (-30.0 if rep.base == 0 else 30.0)
    # Anchored at the trust threshold, so a more trusting population reports more.
    z = (logit0 + t.reporting_logit_per_year * world.clock.years_into(t.reporting_from, t.reporting_until)
         + rep.trust_effect * (r.trust[victim] - s.trust.threshold) + rep.violent_bonus * violent)
    reported = u[:, U_REPORT] < 1.0 / (1.0 + np.exp(-z))
    witnessed = u[:, U_WITNESS] < -np.expm1(-rep.patrol_detection * blocks.patrol_hours.ravel()[target])
    recorded = reported | witnessed | lethal  # homicides always come to police attention
    return Offences(offenders, target, violent, lethal, victim, reported, recorded, u[:, U_CLEARED])


def update_attractiveness(world: World, offences: Offences) -> None:
    """Self-exciting attractiveness (Short et al. 2008; near repeats, Johnson & Bowers 2004): each
    offence raises its block's attractiveness, relative to the block's static attractiveness (its
    suitable targets), and the rise decays back. Counts are per inhabitant so the scale does not
    matter on average."""
    s = world.scenario.crime
    blocks = world.blocks
    counts = np.bincount(offences.block, minlength=blocks.repeat.size).reshape(blocks.repeat.shape)
    blocks.repeat *= 1.0 - s.repeat_decay
    blocks.repeat += s.repeat_boost * counts / (world.scenario.population.scale * blocks.attractiveness)
    blocks.offences_year += counts


def count_offences(world: World, o: Offences) -> None:
    """This week's offences, victims and homicides per neighbourhood (inhabitant units)."""
    n, B, scale = world.geo.n, world.geo.blocks_per_neighbourhood, world.scale
    t = world.tally
    nb = o.block // B

    def count(mask=None):
        return np.bincount(nb if mask is None else nb[mask], minlength=n) / scale

    t.offences += count()
    t.violent_offences += count(o.violent)
    t.property_offences += count(~o.violent)
    t.homicides += count(o.lethal)
    t.recorded_crimes += count(o.recorded)
    victims = o.victim[o.victim_once()]  # each victim once (the victims process reuses the mask)
    t.victims += np.bincount(world.residents.neighbourhood[victims], minlength=n) / scale


class Offending(Process):
    """Motivated offenders, target choice, guardianship, displacement, victims and reporting."""

    name = "offending"
    parameters = ("crime", "reporting", "trends", "land_use", "population.risk_mean", "trust.threshold")
    reads = ("residents.age", "residents.female", "residents.risk", "residents.gang", "residents.former_prisoner",
             "residents.released_week", "residents.trust", "blocks.attractiveness", "blocks.patrol_hours",
             "blocks.space_condition", "blocks.outlets", "places.efficacy", "places.alcohol")
    writes = ("residents.propensity", "blocks.repeat", "blocks.offences_year", "offences",
              "tally.offences", "tally.property_offences", "tally.violent_offences", "tally.homicides",
              "tally.recorded_crimes", "tally.victims", "tally.displaced")

    def __init__(self, world: World):
        super().__init__(world)
        self.age_curve = age_crime_curve(world.scenario)

    def initialise(self, rng: np.random.Generator) -> None:
        self.refresh_propensity()  # the justice system draws its prisoners by propensity

    def refresh_propensity(self) -> None:
        """Recompute the propensity of everyone whose inputs changed since the last refresh, and
        of those whose recidivism window ended."""
        self.world.residents.note(window_ends(self.world))
        changed = self.world.residents.take_changed()
        if changed is None:
            refresh_propensity(self.world, self.age_curve)
        elif changed.size:
            refresh_propensity(self.world, self.age_curve, changed)

    def base_propensity(self) -> np.ndarray:
        """Everyone's propensity as if nobody had a prison record (for the initial justice draw)."""
        return propensity_of(self.world, self.age_curve, record=False)

    def step(self) -> None:
        world = self.world
        self.refresh_propensity()
        world.offences = draw_offences(world)
        update_attractiveness(world, world.offences)
        count_offences(world, world.offences)

