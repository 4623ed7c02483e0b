"""Residents and youth as a structure of arrays.

A 1:1 national run holds millions of people, so residents are not Python objects: each
attribute is one compact numpy array, and people are sorted by neighbourhood and then by
home block so that a neighbourhood or a block is a contiguous slice. ``Residents.person(i)``
gives a read-only per-person view for inspection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

import numpy as np

from sn_sim.scenario import Scenario
from sn_sim.world.geography import Geography, residential_density

# Gang states of youth (Howell & Egley 2005 developmental stages, coarsened).
GANG_NONE, GANG_AT_RISK, GANG_INVOLVED = 0, 1, 2
NO_PROGRAM = -1
NEVER = np.int16(-32768)  # "no such week" in int16 week fields
WEEKS_PER_AGE_YEAR = 52  # a resident ages in one week of every 52 (their birthday week)

log = logging.getLogger(__name__)


@dataclass
class Residents:
    """One entry per simulated person. Shapes are (N,); N = sum of agents per neighbourhood."""

    neighbourhood: np.ndarray      # uint16
    block: np.ndarray              # int32, global block id = neighbourhood * B + local block
    age: np.ndarray                # uint8, years
    birthday_week: np.ndarray      # uint8, 0..51: the person ages in the weeks w with w % 52 == birthday_week
    female: np.ndarray             # bool
    risk: np.ndarray               # float32, risk-factor score in [0, 1]
    gang: np.ndarray               # uint8, GANG_* (meaningful for youth and former youth)
    trust: np.ndarray              # float32, trust in police score in [0, 1]
    trust_anchor: np.ndarray       # float32, personal long-run trust level
    insecurity: np.ndarray         # float32, perceived insecurity score in [0, 1]
    insecurity_anchor: np.ndarray  # float32, personal baseline insecurity
    junta: np.ndarray              # bool, member of a junta vecinal
    program: np.ndarray            # int8, enrolled program id or NO_PROGRAM
    program_weeks_left: np.ndarray  # uint8
    beneficiary: np.ndarray        # bool, ever enrolled in a program or workshop
    last_victim_week: np.ndarray   # int16, model week of latest victimisation, NEVER if none
    last_reported: np.ndarray      # bool, latest victimisation was reported
    released_week: np.ndarray      # int16, week the person is free again (incarcerated while > now)
    former_prisoner: np.ndarray    # bool
    propensity: np.ndarray         # float32, weekly offence-attempt probability (derived: owned by
                                   # the offending process, recomputed from the inputs below)

    # Offending propensity is derived from age, sex, risk, gang state and prison record. Those
    # inputs are written only through the methods below, which note who changed; the offending
    # process recomputes exactly those people before it draws (``take_changed``). So no process
    # has to remember to refresh a cache that another process owns.

    def __post_init__(self):
        # Who changed, as a mask: marking is a scatter, and reading it back one pass over a byte
        # per person (cheaper than sorting the week's tens of thousands of notes, and in order).
        self._changed = np.zeros(self.age.shape[0], dtype=bool)
        self._any_changed = False
        self._all_changed = True

    def take_changed(self) -> np.ndarray | None:
        """People whose propensity inputs changed since the last call, in order (None = everyone)."""
        if self._all_changed:
            self._all_changed = False
            self._changed[:] = False
            self._any_changed = False
            return None
        if not self._any_changed:
            return np.zeros(0, dtype=np.int64)
        idx = np.flatnonzero(self._changed)
        self._changed[idx] = False
        self._any_changed = False
        return idx

    def _note(self, idx: np.ndarray) -> None:
        if not self._all_changed and np.size(idx):
            self._changed[idx] = True
            self._any_changed = True

    def note(self, idx: np.ndarray) -> None:
        """Recompute these people's propensity at the next refresh (an input read against the
        clock, the recidivism window, has lapsed)."""
        self._note(idx)

    def note_everyone(self) -> None:
        """Every propensity input may have changed (a redraw of initial states)."""
        self._all_changed = True

    def set_gang(self, idx: np.ndarray, states: np.ndarray | int) -> None:
        self.gang[idx] = states
        self._note(idx)

    def scale_risk(self, idx: np.ndarray, factor: np.ndarray) -> None:
        """Multiply risk scores (repeated indices multiply repeatedly)."""
        np.multiply.at(self.risk, idx, factor)
        self._note(idx)

    def imprison(self, idx: np.ndarray, release_week: np.ndarray | int) -> None:
        """Send people to prison until ``release_week``; they carry a prison record from now on."""
        self.released_week[idx] = np.minimum(release_week, np.iinfo(np.int16).max).astype(np.int16)
        self.former_prisoner[idx] = True
        self._note(idx)

    def replace(self, idx: np.ndarray) -> None:
        """People who died are replaced by in-movers of the same age, sex and home block (the
        population is conserved): personal histories restart at the person's long-run levels."""
        self.trust[idx] = self.trust_anchor[idx]
        self.insecurity[idx] = self.insecurity_anchor[idx]
        self.last_victim_week[idx] = NEVER
        self.gang[idx] = GANG_NONE
        self.program[idx] = NO_PROGRAM
        self.junta[idx] = False
        self._note(idx)

    def newborn(self, idx: np.ndarray, female: np.ndarray, risk: np.ndarray, trust: np.ndarray,
                insecurity: np.ndarray) -> None:
        """People who died are replaced by newborns on the same home block (the population and its
        age pyramid are conserved): age 0, new personal traits, no history of any kind. The
        birthday week is kept: a newborn is born in the week it replaces someone."""
        self.age[idx] = 0
        self.female[idx] = female
        self.risk[idx] = risk
        self.trust[idx] = self.trust_anchor[idx] = trust
        self.insecurity[idx] = self.insecurity_anchor[idx] = insecurity
        self.gang[idx] = GANG_NONE
        self.junta[idx] = False
        self.program[idx] = NO_PROGRAM
        self.program_weeks_left[idx] = 0
        self.beneficiary[idx] = False
        self.last_victim_week[idx] = NEVER
        self.last_reported[idx] = False
        self.released_week[idx] = NEVER
        self.former_prisoner[idx] = False
        self._note(idx)

    def age_one_year(self, idx: np.ndarray) -> None:
        """People ``idx`` have their birthday (ages stop at 255)."""
        self.age[idx] = np.minimum(self.age[idx].astype(np.int16) + 1, 255).astype(np.uint8)
        self._note(idx)

    def weeks_since_birthday(self, week: int, idx: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Whole weeks since the last birthday at model week ``week`` (0..51), before that week's ageing."""
        return (week - self.birthday_week[idx].astype(np.int64)) % WEEKS_PER_AGE_YEAR

    @property
    def n(self) -> int:
        return self.age.shape[0]

    def nbytes(self) -> int:
        return sum(getattr(self, f.name).nbytes for f in fields(self))

    def person(self, i: int) -> dict:
        """A read-only view of person ``i`` (for inspection, tests and the app)."""
        return {f.name: getattr(self, f.name)[i].item() for f in fields(self)}


@dataclass
class AgeGroups:
    """Who is in which age group. Rebuilt after initial draws; updated every week for the residents
    whose age changed (the birthday cohort), which is all that can move between groups."""

    youth: np.ndarray      # (N,) bool, aged youth.min_age..youth.max_age
    youth_idx: np.ndarray  # indices of ``youth``
    gang_idx: np.ndarray   # who can change gang state: youth, and members who outgrew the ages
    adult: np.ndarray      # (N,) bool, 18+
    age15: np.ndarray      # (N,) bool, 15+ (INEI's survey population)

    @classmethod
    def of(cls, residents: "Residents", min_age: int, max_age: int) -> "AgeGroups":
        r = residents
        youth = (r.age >= min_age) & (r.age <= max_age)
        return cls(youth=youth, youth_idx=np.flatnonzero(youth),
                   gang_idx=np.flatnonzero(youth | (r.gang == GANG_INVOLVED)), adult=r.age >= 18, age15=r.age >= 15)

    def update(self, residents: "Residents", idx: np.ndarray, min_age: int, max_age: int) -> None:
        """Residents ``idx`` changed age (a birthday, or a newborn in their place)."""
        age = residents.age[idx]
        self.youth[idx] = (age >= min_age) & (age <= max_age)
        self.adult[idx] = age >= 18
        self.age15[idx] = age >= 15
        self.youth_idx = np.flatnonzero(self.youth)
        self.gang_idx = np.flatnonzero(self.youth | (residents.gang == GANG_INVOLVED))


@dataclass
class Layout:
    """Where each neighbourhood's and block's residents live in the arrays."""

    nb_start: np.ndarray     # (n+1,) int64
    block_start: np.ndarray  # (n*B+1,) int64

    def neighbourhood_slice(self, h: int) -> slice:
        return slice(int(self.nb_start[h]), int(self.nb_start[h + 1]))


def agents_per_neighbourhood(geo: Geography, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Agents simulated per neighbourhood: inhabitants x scale, stochastically rounded, at least 1 per block."""
    expected = geo.inhabitants * scale
    base = np.floor(expected)
    counts = base + (rng.random(geo.n) < (expected - base))
    return np.maximum(counts.astype(np.int64), geo.blocks_per_neighbourhood)


# A floor that adds less than this share of agents is within the noise of a small scale.
FLOOR_NOTE_SHARE = 0.01
_floor_noted: set[tuple] = set()  # one line per scale and grid in a process, not one per replicate


def note_scale_floor(scenario: Scenario, geo: Geography) -> None:
    """One line on stderr when the floor of one agent per block inflates the simulated population
    by more than FLOOR_NOTE_SHARE over scale x inhabitants.

    Populations and counts are reported per represented inhabitant (agents / scale), so the floor
    inflates them too: at scale 0.002 a neighbourhood of 15,000 has 30 agents for 60 blocks, and
    reports 30,000 inhabitants. Results are unchanged; the user learns the smallest scale that
    avoids it (one agent per block in the smallest neighbourhood the scenario allows).

    A logging warning, not ``warnings.warn``: with logging unconfigured (the command line) the
    record is printed as its bare line, where a warning would add its source file and code line;
    an application that configures logging gets it like any other record."""
    pop = scenario.population
    blocks = geo.blocks_per_neighbourhood
    expected = geo.inhabitants * pop.scale
    extra = float(np.maximum(expected, blocks).sum() / expected.sum()) - 1
    key = (pop.scale, blocks, pop.inhabitants_min)
    if extra <= FLOOR_NOTE_SHARE or key in _floor_noted:
        return
    _floor_noted.add(key)
    digits = 1 - int(np.floor(np.log10(blocks / pop.inhabitants_min)))  # two significant digits, rounded up
    smallest = -(-blocks * 10**digits // pop.inhabitants_min) / 10**digits
    remedy = (f"use a scale of at least {smallest:g} to avoid it" if smallest <= 1 else
              f"no scale avoids it while population.inhabitants_min ({pop.inhabitants_min}) is below the blocks")
    log.warning(f"sn-sim: warning: population.scale: {pop.scale:g} gives fewer agents than the {blocks} blocks in "
                f"{int((expected < blocks).sum())} of {geo.n} neighbourhoods; one agent per block makes the simulated "
                f"population, and the population and counts reported, about {extra:.0%} larger than scale x "
                f"inhabitants; {remedy}")


def pyramid(scenario: Scenario) -> np.ndarray:
    """Relative number of people of each age 0..age_max: equal cohorts up to ``age_flat_until``,
    then linearly fewer people per year of age up to ``age_max``."""
    pop = scenario.population
    ages = np.arange(pop.age_max + 1)
    return np.where(ages <= pop.age_flat_until, 1.0,
                    np.clip((pop.age_max - ages) / max(pop.age_max - pop.age_flat_until, 1), 0, 1))


def adult_mortality(scenario: Scenario) -> float:
    """Weekly deaths among adults (18+) per adult in the stationary pyramid (processes/ageing.py):
    the yearly deaths above 18 are the cohort aged 18, P(18), over the adults, sum_{a>=18} P(a)."""
    density = pyramid(scenario)
    adults = density[18:].sum()
    return float(density[18] / adults / WEEKS_PER_AGE_YEAR) if adults > 0 else 0.0


def sample_ages(n: int, scenario: Scenario, rng: np.random.Generator) -> np.ndarray:
    """Ages from a stylised urban pyramid (:func:`pyramid`).

    Equal young cohorts matter: each year the cohort that ages into the peak offending ages is
    as large as the one leaving them, so the age structure itself does not make crime drift over
    a five-year run; deaths above ``age_flat_until`` replaced by newborns (processes/ageing.py)
    keep the whole pyramid in place."""
    density = pyramid(scenario)
    return rng.choice(np.arange(density.size), size=n, p=density / density.sum()).astype(np.uint8)


def personal_traits(scenario: Scenario, geo: Geography, nb: np.ndarray, rng: np.random.Generator):
    """Sex, risk-factor score, trust and insecurity of people living in neighbourhoods ``nb``
    (at the start, and for newborns). Risk: Beta around the mean, shifted by deprivation."""
    pop = scenario.population
    female = rng.random(nb.size) < pop.female_share
    m = np.clip(pop.risk_mean * np.exp(pop.risk_deprivation_effect * geo.deprivation[nb]), pop.risk_mean_min, pop.risk_mean_max)
    k = pop.risk_concentration
    risk = rng.beta(m * k, (1 - m) * k).astype(np.float32)
    trust = rng.beta(scenario.trust.initial_a, scenario.trust.initial_b, size=nb.size).astype(np.float32)
    insecurity = rng.beta(scenario.insecurity.initial_a, scenario.insecurity.initial_b, size=nb.size).astype(np.float32)
    return female, risk, trust, insecurity


def create_residents(scenario: Scenario, geo: Geography, rng: np.random.Generator) -> tuple[Residents, Layout]:
    pop = scenario.population
    B = geo.blocks_per_neighbourhood
    counts = agents_per_neighbourhood(geo, pop.scale, rng)
    note_scale_floor(scenario, geo)
    N = int(counts.sum())
    nb = np.repeat(np.arange(geo.n, dtype=np.uint16), counts)
    # Home blocks: in proportion to each block's residential density (land use), then sorted so
    # blocks are contiguous.
    density = residential_density(scenario)[geo.land_use]  # (n, B)
    density[density.sum(axis=1) == 0] = 1.0  # a neighbourhood without dwellings: uniform (never at the defaults)
    cum = np.cumsum(density, axis=1)
    cum = cum / cum[:, -1:] + np.arange(geo.n)[:, None]  # row h spans (h, h + 1]: one search for everyone
    local = np.searchsorted(cum.ravel(), nb + rng.random(N), side="right") - nb.astype(np.int64) * B
    local = np.minimum(local, B - 1)  # (a guard against rounding at a row's end)
    # Sorted by block: only the home blocks' counts matter (a counting sort, O(N); people are
    # not distinguishable yet, and nb is already in order).
    block_counts = np.bincount(nb.astype(np.int64) * B + local, minlength=geo.n * B)
    block = np.repeat(np.arange(geo.n * B, dtype=np.int32), block_counts)

    age = sample_ages(N, scenario, rng)
    female, risk, trust, insecurity = personal_traits(scenario, geo, nb, rng)
    # Birthdays spread over the year: each week 1/52 of every cohort ages (processes/ageing.py),
    # so no output steps once a year as a whole cohort crosses an age limit at once.
    birthday_week = rng.integers(0, WEEKS_PER_AGE_YEAR, size=N).astype(np.uint8)
    # Gang states are drawn once offending and the justice state are known (processes/youth.py:
    # Youth.initialise, from the stationary distribution of the youth dynamics).
    gang = np.zeros(N, dtype=np.uint8)
    adult = age >= 18
    junta = adult & (rng.random(N) < scenario.community.initial_junta_share)
    # Who is in prison or has a recent record is decided by the justice process (processes/justice.py:
    # Justice.initialise), once offending propensities are known: records go to the people who offend.
    former = np.zeros(N, dtype=bool)
    released = np.full(N, NEVER, dtype=np.int16)

    residents = Residents(
        neighbourhood=nb,
        block=block,
        age=age,
        birthday_week=birthday_week,
        female=female,
        risk=risk,
        gang=gang,
        trust=trust,
        trust_anchor=trust.copy(),
        insecurity=insecurity,
        insecurity_anchor=insecurity.copy(),
        junta=junta,
        program=np.full(N, NO_PROGRAM, dtype=np.int8),
        program_weeks_left=np.zeros(N, dtype=np.uint8),
        beneficiary=np.zeros(N, dtype=bool),
        last_victim_week=np.full(N, NEVER, dtype=np.int16),
        last_reported=np.zeros(N, dtype=bool),
        released_week=released,
        former_prisoner=former,
        propensity=np.zeros(N, dtype=np.float32),
    )
    nb_start = np.concatenate([[0], np.cumsum(counts)])
    block_start = np.concatenate([[0], np.cumsum(block_counts)])
    return residents, Layout(nb_start=nb_start, block_start=block_start)
