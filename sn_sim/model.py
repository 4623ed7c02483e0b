"""The Mesa model: owns the random generator and runs the weekly schedule.

Residents are arrays (population module); neighbourhoods, Culture Points organisations and the
Ministry are Mesa agents. Each ``step()`` is one week, in this order (see docs/ODD.md §3):

1. new calendar year: everyone ages a year; block-year crime counts are closed
2. Ministry: cohort selection, stages, money -> this week's effort
3. police: patrol allocation (hot zones from recorded crime), community contacts, operations
4. community: junta recruitment and drop-out, public-space recovery and decay, alcohol control
5. programs: enrolment, Culture Points, progress and completion
6. youth: gang transitions
7. crime: attempts, deterrence and displacement, offences, victims, reporting, arrests,
   attractiveness, recorded-crime map
8. neighbourhood climate: rates, collective efficacy, trust and insecurity
9. record one panel row per neighbourhood (from week 0; burn-in weeks are not recorded)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields

import mesa
import numpy as np

from sn_sim import community, crime, perceptions, police, youth
from sn_sim.geography import Blocks, build_geography
from sn_sim.population import GANG_AT_RISK, GANG_INVOLVED, create_residents
from sn_sim.programs import CulturePoints, SectoralPrograms
from sn_sim.scenario import Scenario
from sn_sim.strategy import NEVER_WEEK, STAGES, Ministry


STREAMS = ("strategy", "police", "contacts", "operations", "justice", "community", "programs", "culture",
           "youth", "offending", "crime", "juntas", "tips")


@dataclass
class NeighbourhoodState:
    """Neighbourhood-level state, shape (n,) each."""

    cohort_year: np.ndarray
    launch_week: np.ndarray
    stage: np.ndarray
    is_control: np.ndarray
    diagnosis_score: np.ndarray
    efficacy: np.ndarray
    efficacy_base: np.ndarray
    alcohol: np.ndarray          # consumption relative to baseline (1 = no control)
    offence_rate: np.ndarray     # offences per 100 inhabitants per week, EWMA (8 weeks)
    recorded_rate: np.ndarray    # recorded offences per 1,000 inhabitants per year, EWMA (52 weeks)
    homicide_rate: np.ndarray    # homicides per 100,000 per year, EWMA (52 weeks)
    junta_share: np.ndarray      # adults in juntas
    beneficiaries: np.ndarray    # unique program beneficiaries to date (inhabitants)
    culture_orgs_trained: np.ndarray
    culture_projects_financed: np.ndarray

    @classmethod
    def empty(cls, n: int) -> "NeighbourhoodState":
        return cls(
            cohort_year=np.zeros(n, dtype=np.int16), launch_week=np.full(n, NEVER_WEEK, dtype=np.int64),
            stage=np.zeros(n, dtype=np.int8), is_control=np.zeros(n, dtype=bool),
            diagnosis_score=np.full(n, np.nan), efficacy=np.zeros(n), efficacy_base=np.zeros(n),
            alcohol=np.ones(n), offence_rate=np.zeros(n), recorded_rate=np.zeros(n), homicide_rate=np.zeros(n),
            junta_share=np.zeros(n), beneficiaries=np.zeros(n), culture_orgs_trained=np.zeros(n, dtype=np.int64),
            culture_projects_financed=np.zeros(n, dtype=np.int64),
        )


@dataclass
class WeekTally:
    """Flows counted during one week, per neighbourhood, in inhabitant units."""

    n: int
    offences: np.ndarray = field(init=False)
    property_offences: np.ndarray = field(init=False)
    violent_offences: np.ndarray = field(init=False)
    homicides: np.ndarray = field(init=False)
    recorded_crimes: np.ndarray = field(init=False)
    victims: np.ndarray = field(init=False)
    arrests: np.ndarray = field(init=False)
    displaced: np.ndarray = field(init=False)
    patrol_hours: np.ndarray = field(init=False)
    hot_zone_hours: np.ndarray = field(init=False)
    contacts: np.ndarray = field(init=False)
    operations: np.ndarray = field(init=False)
    activities_police: np.ndarray = field(init=False)
    activities_social: np.ndarray = field(init=False)
    activities_community: np.ndarray = field(init=False)
    enrolments: np.ndarray = field(init=False)
    alcohol_operations: np.ndarray = field(init=False)
    spaces_recovered: np.ndarray = field(init=False)
    culture_workshops: np.ndarray = field(init=False)
    culture_workshop_participants: np.ndarray = field(init=False)
    culture_activities: np.ndarray = field(init=False)
    culture_activity_participants: np.ndarray = field(init=False)
    cost: np.ndarray = field(init=False)
    cost_in_kind: np.ndarray = field(init=False)

    def __post_init__(self):
        self.reset()

    def reset(self) -> None:
        for f in fields(self):
            if f.name != "n":
                setattr(self, f.name, np.zeros(self.n))


class Neighbourhood(mesa.Agent):
    """A thin, read-only Mesa view of one neighbourhood (its state lives in arrays)."""

    def __init__(self, model: "SafeNeighbourhoodModel", index: int):
        super().__init__(model)
        self.index = index

    name = property(lambda self: self.model.geo.names[self.index])
    district = property(lambda self: self.model.geo.district_names[self.model.geo.district[self.index]])
    stage = property(lambda self: STAGES[self.model.state.stage[self.index]])
    cohort_year = property(lambda self: int(self.model.state.cohort_year[self.index]) or None)
    residents = property(lambda self: self.model.layout.neighbourhood_slice(self.index))


class SafeNeighbourhoodModel(mesa.Model):
    """Safe Neighborhood strategy over a pool of candidate neighbourhoods.

    Parameters
    ----------
    scenario : Scenario
        Validated scenario (see ``sn_sim.scenario``).
    rng : int | numpy.random.SeedSequence | numpy.random.Generator
        Source of all randomness; same scenario and rng give the same run.
    """

    def __init__(self, scenario: Scenario, rng: int | np.random.SeedSequence | None = None):
        # One root SeedSequence: the initial state comes from its generator, and each weekly
        # process draws from its own stream keyed by (process, week). A policy change therefore
        # does not shift the random numbers of other processes or later weeks: twin runs with
        # different mixes share common random numbers (the basis of comparisons and of the
        # counterfactual twins).
        self.seed_sequence = rng if isinstance(rng, np.random.SeedSequence) else np.random.SeedSequence(rng)
        super().__init__(rng=np.random.default_rng(self.seed_sequence))
        self._streams: dict[str, np.random.Generator] = {}
        self._streams_week: int | None = None
        self.params = scenario
        s = scenario
        self.geo = build_geography(s, self.rng)
        self.residents, self.layout = create_residents(s, self.geo, self.rng)
        self.blocks = Blocks.create(s, self.geo, self.rng)
        n = self.geo.n
        self.state = NeighbourhoodState.empty(n)
        self.tally = WeekTally(n)
        self.start = s.calendar.start
        self.n_weeks = (s.calendar.end - s.calendar.start).days // 7 + 1
        self.week = -s.calendar.burn_in_weeks
        self.age_curve = crime.make_age_curve(self)
        self._refresh_age_groups()
        crime.refresh_propensity(self)
        self._initial_prisoners()

        st = self.state
        st.efficacy_base[:] = np.clip(s.community.initial_efficacy * np.exp(-0.5 * self.geo.deprivation), 0, 1)
        st.efficacy[:] = st.efficacy_base
        st.junta_share[:] = self._share_by_neighbourhood(self.residents.junta, self.adult)
        self.reference_junta_share = st.junta_share.copy()
        self.reference_condition = self.blocks.space_condition.copy()
        self.reference_disorder = self.blocks.disorder.copy()
        self.reference_offence_rate = np.zeros(n)  # fixed at the end of burn-in
        self.gang_share = youth.gang_share(self)

        self.neighbourhoods = [Neighbourhood(self, h) for h in range(n)]
        self.ministry = Ministry(self)
        self.programs = SectoralPrograms(self)
        self.culture_points = CulturePoints(self)

        from sn_sim.results import PanelRecorder  # results depends on the model's fields

        self.recorder = PanelRecorder(self)
        self._settle_youth(s.calendar.youth_settling_weeks)
        self._year = self.date.year
        for _ in range(s.calendar.burn_in_weeks):
            self.step()
        self.reference_offence_rate = st.offence_rate.copy()
        self.blocks.offences_year[:] = 0  # block-year counts start with the recorded calendar

    # --- calendar -------------------------------------------------------------------------------
    @property
    def date(self) -> dt.date:
        return self.start + dt.timedelta(weeks=self.week)

    def week_of(self, date: dt.date) -> int:
        return (date - self.start).days // 7

    def weeks_in_year(self, year: int) -> int:
        """Simulated weeks that start in ``year`` (52 or 53: weeks start on the calendar's weekday)."""
        first = dt.date(year, 1, 1)
        offset = (self.start - first).days % 7  # days from Jan 1 to the first week start in the year
        return len(range(offset, (dt.date(year, 12, 31) - first).days + 1, 7))

    @property
    def finished(self) -> bool:
        return self.week >= self.n_weeks

    # --- randomness -------------------------------------------------------------------------------
    def stream(self, process: str) -> np.random.Generator:
        """This week's generator for one process (see STREAMS); the same (seed, process, week)
        always gives the same numbers."""
        if self._streams_week != self.week:
            self._streams.clear()
            self._streams_week = self.week
        gen = self._streams.get(process)
        if gen is None:
            ss = self.seed_sequence
            key = ss.spawn_key + (STREAMS.index(process), self.week + 100_000)
            gen = np.random.default_rng(np.random.SeedSequence(ss.entropy, spawn_key=key))
            self._streams[process] = gen
        return gen

    def stream_key(self, process: str) -> int:
        """This week's 64-bit key for counter-based draws of one process (sn_sim.randomness)."""
        ss = self.seed_sequence
        key = ss.spawn_key + (STREAMS.index(process), self.week + 100_000)
        return int(np.random.SeedSequence(ss.entropy, spawn_key=key).generate_state(1, np.uint64)[0])

    # --- helpers ----------------------------------------------------------------------------------
    def to_agents(self, amount: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Inhabitant-unit amounts -> whole agents at this scale (stochastic rounding, unbiased)."""
        x = np.asarray(amount, dtype=float) * self.params.population.scale
        base = np.floor(x)
        return (base + (rng.random(x.shape) < x - base)).astype(np.int64)

    def _share_by_neighbourhood(self, mask: np.ndarray, among: np.ndarray) -> np.ndarray:
        num = np.add.reduceat(mask & among, self.layout.nb_start[:-1], dtype=np.int64)
        den = np.add.reduceat(among, self.layout.nb_start[:-1], dtype=np.int64)
        return num / np.maximum(den, 1)

    def _refresh_age_groups(self) -> None:
        r, y = self.residents, self.params.youth
        youth = (r.age >= y.min_age) & (r.age <= y.max_age)
        self.youth_idx = np.flatnonzero(youth)
        # Whoever can change gang state this year: youth, and members who have outgrown the ages.
        self.gang_idx = np.flatnonzero(youth | (r.gang == GANG_INVOLVED))
        self.adult = r.age >= 18
        self.age15 = r.age >= 15

    def _initial_prisoners(self) -> None:
        """Start near the steady state of the justice system: prisoners and people released in
        the last recidivism window are drawn among adults in proportion to their offending
        propensity (prison holds the active offenders), prisoners with residual sentences uniform
        over two mean sentences, former prisoners released uniformly over the window."""
        r, s = self.residents, self.params
        adult = r.age >= 18
        weights = np.where(adult, r.propensity.astype(float), 0.0)
        if weights.sum() == 0:
            return
        n_prison = int(round(r.n * s.population.prison_rate / 1e5))
        adults_by_nb = np.add.reduceat(adult, self.layout.nb_start[:-1], dtype=np.int64)
        n_former = int(round((adults_by_nb * self.geo.former_prisoner_share).sum()))
        k = min(n_prison + n_former, int((weights > 0).sum()))
        who = self.rng.choice(r.n, size=k, replace=False, p=weights / weights.sum())
        prisoners, former = who[:n_prison], who[n_prison:]
        residual = 1 + self.rng.integers(0, int(2 * s.reporting.sentence_weeks), size=prisoners.size)
        r.released_week[prisoners] = (self.week + residual).astype(np.int16)
        window = int(s.crime.recidivism_window_weeks)
        r.released_week[former] = (self.week - self.rng.integers(0, window, size=former.size)).astype(np.int16)
        r.former_prisoner[who] = True
        crime.refresh_propensity(self, who)

    def _settle_youth(self, weeks: int) -> None:
        """Run the gang transitions alone (no crime, no ageing) for ``weeks`` before the burn-in,
        so that initial gang states are draws from their own dynamics, not from a guess."""
        burn_in_start = self.week
        for k in range(weeks):
            self.week = burn_in_start - weeks + k
            self.gang_share = youth.gang_share(self)
            youth.step_youth(self)
        self.week = burn_in_start
        self.gang_idx = np.flatnonzero(np.isin(np.arange(self.residents.n), self.youth_idx)
                                       | (self.residents.gang == GANG_INVOLVED))
        crime.refresh_propensity(self)

    def former_prisoner_share(self) -> np.ndarray:
        return self._share_by_neighbourhood(self.residents.former_prisoner, self.adult)

    def _new_year(self) -> None:
        r, y = self.residents, self.params.youth
        aged_out = self.youth_idx[r.age[self.youth_idx] == y.max_age]
        np.minimum(r.age.astype(np.int16) + 1, 255, out=r.age, casting="unsafe")
        # Leaving the youth group: at-risk status lapses; gang members may stay involved.
        r.gang[aged_out[r.gang[aged_out] == GANG_AT_RISK]] = 0
        self._refresh_age_groups()
        crime.refresh_propensity(self)

    # --- the week -------------------------------------------------------------------------------
    def step(self) -> None:
        _s, st, t = self.params, self.state, self.tally
        t.reset()
        if self.date.year != self._year:
            if self.week > 0:
                self.recorder.close_year(self._year)
            self._year = self.date.year
            self._new_year()

        self.ministry.step()
        effort = self.ministry.weekly_effort()

        police.allocate_patrol(self, effort.extra_patrol_hours)
        police.community_contacts(self, effort.contacts)
        police.intelligence_operations(self, effort.operations)

        community.community_activities(self, effort.community_activities)
        community.junta_turnover(self)
        community.recover_spaces(self, effort.space_recoveries)
        community.decay_spaces(self)
        community.alcohol_control(self, effort.alcohol_operations)

        self.programs.enrol_sectoral(effort.enrolments)
        self.culture_points.step()
        self.programs.step()

        self.gang_share = youth.gang_share(self)
        youth.step_youth(self)

        offences = crime.weekly_offences(self)
        cleared = police.arrests_from_offences(self, offences)
        perceptions.victims_update(self, offences, cleared)
        crime.update_attractiveness(self, offences)
        tips = community.junta_tips(self, offences)
        police.update_recorded_crime(self, offences, tips)
        self._count_offences(offences)

        self._update_rates()
        if self.week < 0:  # burn-in: perceptions and efficacy are anchored to the settling crime level
            self.reference_offence_rate = st.offence_rate.copy()
        community.update_efficacy(self)
        perceptions.relax(self)

        if self.week >= 0:
            self.recorder.record_week()
        self.week += 1

    def _count_offences(self, o: crime.Offences) -> None:
        n, B, scale = self.geo.n, self.geo.blocks_per_neighbourhood, self.params.population.scale
        t = self.tally
        nb = o.block // B

        def count(mask=None):
            return np.bincount(nb if mask is None else nb[mask], minlength=n) / scale

        t.offences += count()
        t.violent_offences += count(o.violent)
        t.property_offences += count(~o.violent)
        t.homicides += count(o.lethal)
        t.recorded_crimes += count(o.recorded)
        t.victims += np.bincount(self.residents.neighbourhood[np.unique(o.victim)], minlength=n) / scale
        # Homicide victims are replaced by in-movers of the same age and sex: population is conserved.
        dead = o.victim[o.lethal]
        if dead.size:
            r = self.residents
            r.trust[dead] = r.trust_anchor[dead]
            r.insecurity[dead] = r.insecurity_anchor[dead]
            r.last_victim_week[dead] = np.int16(-32768)
            r.gang[dead] = 0
            r.program[dead] = -1
            r.junta[dead] = False
            crime.refresh_propensity(self, dead)

    def _update_rates(self) -> None:
        st, t = self.state, self.tally
        inhabitants = self.layout_inhabitants
        st.offence_rate += (100 * t.offences / inhabitants - st.offence_rate) / 8.0
        st.recorded_rate += (52 * 1000 * t.recorded_crimes / inhabitants - st.recorded_rate) / 52.0
        st.homicide_rate += (52 * 1e5 * t.homicides / inhabitants - st.homicide_rate) / 52.0
        st.junta_share[:] = self._share_by_neighbourhood(self.residents.junta, self.adult)

    @property
    def layout_inhabitants(self) -> np.ndarray:
        """Inhabitants represented by each neighbourhood's agents (agents / scale)."""
        return np.diff(self.layout.nb_start) / self.params.population.scale

    def run(self, progress=None) -> None:
        """Step to the end of the calendar; ``progress(weeks_done)`` is called each week."""
        while not self.finished:
            self.step()
            if progress is not None:
                progress(1)
        self.recorder.close_year(self._year)
