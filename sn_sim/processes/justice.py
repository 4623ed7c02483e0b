"""Justice: arrests for recorded offences, convictions and sentences, prison and release.

Recorded offences are cleared with a fixed probability; convictions lead to exponentially
distributed sentences. Prisoners stay in the population (absent: they neither offend nor are
victimised nor counted in survey rates) and return as former prisoners, with a higher
propensity for a while (Durose et al. 2014).
"""

from __future__ import annotations

import numpy as np

from sn_sim.processes.base import Process
from sn_sim.world import World
from sn_sim.world.randomness import keyed_uniforms


def incarcerate(world: World, who: np.ndarray, convicted_share: float) -> None:
    """Convict a share of ``who`` and send them to prison for an exponential sentence."""
    if who.size == 0:
        return
    # Keyed by person: the same arrestee gets the same verdict and sentence in a twin run.
    u = keyed_uniforms(world.random.key("justice"), who, 2)
    convicted = u[:, 0] < convicted_share
    jailed = who[convicted]
    if jailed.size == 0:
        return
    sentence = np.ceil(-np.log1p(-u[convicted, 1]) * world.scenario.reporting.sentence_weeks)
    r = world.residents
    r.imprison(jailed, world.clock.week + sentence)
    r.program[jailed] = -1  # leaving a program on arrest


def arrests_from_offences(world: World, offences) -> np.ndarray:
    """Clear recorded offences with an arrest; returns a mask over offences that were cleared."""
    rep = world.scenario.reporting
    cleared = offences.recorded & (offences.u_cleared < rep.clearance)
    arrested = np.unique(offences.offender[cleared])
    arrested = arrested[world.residents.released_week[arrested] <= world.clock.week]
    incarcerate(world, arrested, convicted_share=rep.conviction)
    nb = world.residents.neighbourhood[arrested]
    world.tally.arrests += np.bincount(nb, minlength=world.geo.n) / world.scenario.population.scale
    return cleared


def initial_prisoners(world: World, rng: np.random.Generator) -> None:
    """Start near the steady state of the justice system: prisoners and people released in
    the last recidivism window are drawn among adults in proportion to their offending
    propensity (prison holds the active offenders), prisoners with residual sentences uniform
    over two mean sentences, former prisoners released uniformly over the window."""
    r, s = world.residents, world.scenario
    adult = r.age >= 18
    weights = np.where(adult, r.propensity.astype(float), 0.0)
    if weights.sum() == 0:
        return
    n_prison = int(round(r.n * s.population.prison_rate / 1e5))
    adults_by_nb = world.per_neighbourhood(adult)
    n_former = int(round((adults_by_nb * world.geo.former_prisoner_share).sum()))
    k = min(n_prison + n_former, int((weights > 0).sum()))
    who = rng.choice(r.n, size=k, replace=False, p=weights / weights.sum())
    prisoners, former = who[:n_prison], who[n_prison:]
    week = world.clock.week
    residual = 1 + rng.integers(0, int(2 * s.reporting.sentence_weeks), size=prisoners.size)
    window = int(s.crime.recidivism_window_weeks)
    r.imprison(prisoners, week + residual)
    r.imprison(former, week - rng.integers(0, window, size=former.size))


class Justice(Process):
    """Arrests for this week's recorded offences; convictions; sentences."""

    name = "justice"
    parameters = ("reporting.clearance", "reporting.conviction", "reporting.sentence_weeks",
                  "population.prison_rate", "crime.recidivism_window_weeks")
    reads = ("offences", "residents.released_week")
    writes = ("offences.cleared", "residents.released_week", "residents.former_prisoner", "residents.program",
              "tally.arrests")

    def initialise(self, rng: np.random.Generator) -> None:
        initial_prisoners(self.world, rng)

    def step(self) -> None:
        world = self.world
        world.offences.cleared = arrests_from_offences(world, world.offences)
