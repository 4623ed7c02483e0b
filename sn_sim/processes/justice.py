"""Justice: arrests for recorded offences, convictions and sentences, prison and release.

Recorded offences are cleared with a fixed probability; convictions lead to exponentially
distributed sentences. Prisoners stay in the population (absent: they neither offend nor are
victimised nor counted in survey rates) and return as former prisoners, with a higher
propensity for a while (Durose et al. 2014).

The initial justice state (who is in prison, who was released within the recidivism window) is
drawn from the stationary distribution of these flows, person by person (:func:`stationary_shares`).
"""

from __future__ import annotations

import numpy as np

from sn_sim.processes.base import Process
from sn_sim.world import World
from sn_sim.world.randomness import keyed_uniforms
from sn_sim.world.residents import NEVER, WEEKS_PER_AGE_YEAR


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


def stationary_shares(h: np.ndarray, sentence: float, window: int, multiplier: float):
    """Long-run shares of time in prison, released within the window, and free without a recent
    release, of a person admitted to prison at weekly hazard ``h`` (``multiplier`` x ``h`` within
    the window after a release); sentences average ``sentence`` weeks.

    A renewal cycle starts at an admission: ``sentence`` weeks in prison, then min(Exp(m h),
    window) weeks released, readmitted within the window with probability 1 - E (E = exp(-m h
    window)), otherwise 1/h weeks free before the next admission. Shares are times over the cycle
    length (multiplied through by h): (S h, (1 - E)/m, E) / (S h + (1 - E)/m + E)."""
    E = np.exp(-multiplier * h * window)
    recent = -np.expm1(-multiplier * h * window) / multiplier
    total = sentence * h + recent + E
    return sentence * h / total, recent / total, E / total


def admission_age_curves(world: World, curve: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The age-crime curve, by current age (years), averaged over the ages at which a current
    prisoner and a person released within the window were admitted.

    The time since a prisoner's admission is Exp(S) (sentences are exponential, so the elapsed
    part is distributed like the whole); a recent releasee was admitted that long before a
    release uniform over the window. So a 25-year-old prisoner offended at the rate of someone
    a little younger: prison holds people admitted near the peak of the curve."""
    s = world.scenario
    S, W = s.reporting.sentence_weeks, s.crime.recidivism_window_weeks
    weekly = np.repeat(curve.astype(float), WEEKS_PER_AGE_YEAR)  # by age in weeks
    lag = np.arange(int(12 * S) + 1)
    in_prison = np.exp(-lag / S)
    in_prison /= in_prison.sum()
    released = np.convolve(np.full(W, 1.0 / W), in_prison)
    mid_year = np.arange(curve.size) * WEEKS_PER_AGE_YEAR + WEEKS_PER_AGE_YEAR // 2

    def average(weights: np.ndarray) -> np.ndarray:
        at = mid_year[:, None] - np.arange(weights.size)[None, :]
        return np.where(at >= 0, weekly[np.maximum(at, 0)], 0.0) @ weights

    return average(in_prison), average(released)


class Justice(Process):
    """Arrests for this week's recorded offences; convictions; sentences.

    While ``probing`` (burn-in weeks set by the model), it also counts the offence attempts
    expected from free residents and the offences recorded, whose ratio times clearance and
    conviction is the probability that an attempt ends in prison (:meth:`conviction_per_attempt`)."""

    name = "justice"
    parameters = ("reporting.clearance", "reporting.conviction", "reporting.sentence_weeks",
                  "population.prison_rate", "crime.recidivism_window_weeks", "crime.former_prisoner_multiplier")
    reads = ("offences", "residents.released_week", "residents.propensity", "residents.age")
    writes = ("offences.cleared", "residents.released_week", "residents.former_prisoner", "residents.program",
              "tally.arrests")

    def __init__(self, world: World):
        super().__init__(world)
        self.probing = False
        self.attempts = 0.0  # expected attempts of free residents over the probe weeks
        self.recorded = 0    # offences recorded over the probe weeks

    def initialise(self, rng: np.random.Generator, base_propensity: np.ndarray, curve: np.ndarray) -> None:
        """Start from the stationary justice state whose prison population is
        ``population.prison_rate``: the conviction probability per attempt is set to give it.
        The model replaces this first draw once the probability is measured (docs/ODD.md §5)."""
        world = self.world
        target = world.residents.n * world.scenario.population.prison_rate / 1e5
        q = self.conviction_for_prison_stock(target, base_propensity, curve)
        self.draw(rng, q, base_propensity, curve)

    def admission_hazards(self, q: float, base_propensity: np.ndarray, curve: np.ndarray,
                          idx: np.ndarray | slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """Weekly hazards of admission of residents ``idx`` (``base_propensity``: theirs, without
        a record), as a current prisoner and as a recent releasee would have had them: the
        propensity at the age-crime curve of their ages at admission (:func:`admission_age_curves`)
        instead of their age now, times ``q``."""
        r = self.world.residents
        at_prison, at_release = admission_age_curves(self.world, curve)
        age = r.age[idx].astype(np.intp)
        now = curve[age].astype(float)
        rest = np.where(now > 0, base_propensity / np.where(now > 0, now, 1.0), 0.0)  # all but the age curve
        return rest * at_prison[age] * q, rest * at_release[age] * q

    def conviction_for_prison_stock(self, prisoners: float, base_propensity: np.ndarray, curve: np.ndarray) -> float:
        """The conviction probability per attempt whose stationary prison population is ``prisoners``
        (bisection on a log scale: the stock rises with it)."""
        s = self.world.scenario
        hP, _ = self.admission_hazards(1.0, base_propensity, curve)
        lo, hi = 1e-9, 1.0
        for _ in range(50):
            mid = np.sqrt(lo * hi)
            stock = stationary_shares(hP * mid, s.reporting.sentence_weeks, s.crime.recidivism_window_weeks,
                                      s.crime.former_prisoner_multiplier)[0].sum()
            lo, hi = (mid, hi) if stock < prisoners else (lo, mid)
        return float(np.sqrt(lo * hi))

    def draw(self, rng: np.random.Generator, q: float, base_propensity: np.ndarray, curve: np.ndarray) -> None:
        """Everyone's justice state from their stationary shares at conviction probability ``q``.

        Prisoners serve a residual sentence ceil(Exp(S)) from now (sentences are memoryless); a
        recent releasee was released tau weeks ago, tau distributed as the time since release
        given no readmission yet (Exp(m h) truncated to the window). Everyone else has no record."""
        world, r = self.world, self.world.residents
        s = world.scenario
        S, W, m = s.reporting.sentence_weeks, s.crime.recidivism_window_weeks, s.crime.former_prisoner_multiplier
        hP, hR = self.admission_hazards(q, base_propensity, curve)
        in_prison = stationary_shares(hP, S, W, m)[0]
        _, recent, _ = stationary_shares(hR, S, W, m)
        u = rng.random(r.n)
        prisoners = np.flatnonzero(u < in_prison)
        released = np.flatnonzero((u >= in_prison) & (u < in_prison + recent))
        week = world.clock.week
        r.released_week[:] = NEVER
        r.former_prisoner[:] = False
        residual = np.ceil(-np.log1p(-rng.random(prisoners.size)) * S)
        rate = m * hR[released]
        v = rng.random(released.size)
        with np.errstate(divide="ignore", invalid="ignore"):
            tau = np.where(rate * W > 1e-9, -np.log1p(v * np.expm1(-rate * W)) / rate, v * W)
        tau = np.minimum(np.floor(tau), W - 1)
        r.imprison(prisoners, week + residual)
        r.imprison(released, week - tau)
        r.note_everyone()

    def conviction_per_attempt(self) -> float | None:
        """Measured probability that an offence attempt ends in prison (None before any probe)."""
        if self.attempts <= 0:
            return None
        rep = self.world.scenario.reporting
        return self.recorded / self.attempts * rep.clearance * rep.conviction

    def step(self) -> None:
        world = self.world
        if self.probing:
            r = world.residents
            free = r.released_week <= world.clock.week
            self.attempts += float(r.propensity[free].sum(dtype=np.float64))
            self.recorded += int(world.offences.recorded.sum())
        world.offences.cleared = arrests_from_offences(world, world.offences)
