"""Social prevention: sectoral programs and Culture Points organisations.

Sectoral programs (education, health, labour, social inclusion, justice) buy enrolments with
the social pillar's money. Each enrolment lasts ``dose_weeks``; a completed one lowers the
participant's risk-factor score by ``risk_reduction`` after ``effect_lag_weeks`` (effect sizes
from the evaluation literature, see docs/ODD.md: Tolan et al. 2014; Heller et al. 2017; Heller
2014; Lipsey 2009). Targeting picks eligible people at random and accepts them with a
probability that rises with their risk (programs aimed at youth at risk reach mostly, not only,
the riskiest).

Culture Points organisations (Ministry of Culture) are Mesa agents: trained in a first stage,
some financed, and the financed ones run workshops of several weekly sessions for youth and
one-off cultural activities that also bring public space back into use.
"""

from __future__ import annotations

import datetime as dt

import mesa
from mesa.agent import AgentSet  # mesa.agentset only from 3.5.1 on
import numpy as np

from sn_sim.processes.base import Process
from sn_sim.world import World
from sn_sim.world.residents import GANG_NONE, NO_PROGRAM


class Enrolments:
    """Enrolment, progress and completion of every program, vectorised over participants.

    Culture Points workshops are enrolments too (the program id after the sectoral ones)."""

    def __init__(self, world: World):
        self.world = world
        s = world.scenario
        self.names = list(s.programs)
        self.culture_id = len(self.names)  # Culture Points workshops use the next id
        specs = list(s.programs.values())
        self.risk_reduction = np.array([p.risk_reduction for p in specs] + [s.culture_points.risk_reduction])
        self.completion = np.array([p.completion for p in specs] + [s.culture_points.completion])
        self.lag = np.array([p.effect_lag_weeks for p in specs] + [s.culture_points.effect_lag_weeks])
        self.enrolled = np.zeros(0, dtype=np.int64)
        self.pending_idx = np.zeros(0, dtype=np.int64)
        self.pending_week = np.zeros(0, dtype=np.int64)
        self.pending_factor = np.zeros(0, dtype=np.float32)

    def eligible_accept(self, who: np.ndarray, target: str, rng: np.random.Generator) -> np.ndarray:
        r, y = self.world.residents, self.world.scenario.youth
        age = r.age[who]
        free = (r.program[who] == NO_PROGRAM) & (r.released_week[who] <= self.world.clock.week)
        youth = (age >= y.min_age) & (age <= y.max_age)
        if target == "youth_at_risk":
            ok = youth & free
            accept = np.where(r.gang[who] != GANG_NONE, 1.0, r.risk[who])
        elif target == "youth":
            ok, accept = youth & free, np.ones(who.size)
        elif target == "adults":
            ok, accept = (age > y.max_age) & free, np.ones(who.size)
        else:  # residents
            ok, accept = (age >= y.min_age) & free, np.ones(who.size)
        return ok & (rng.random(who.size) < accept)

    def enrol(self, h: int, program_id: int, n_agents: int, target: str, dose_weeks: int,
              rng: np.random.Generator) -> int:
        """Enrol up to ``n_agents`` people of neighbourhood ``h``; returns how many were enrolled."""
        if n_agents <= 0:
            return 0
        world, r = self.world, self.world.residents
        sl = world.layout.neighbourhood_slice(h)
        chosen = np.zeros(0, dtype=np.int64)
        # Rejection sampling, O(enrolments) not O(residents): up to 4 rounds of max(8 x wanted, 32)
        # draws is a sampling budget, not a behavioural parameter.
        for _ in range(4):
            draw = rng.integers(sl.start, sl.stop, size=max(8 * n_agents, 32))
            draw = draw[self.eligible_accept(draw, target, rng) & ~np.isin(draw, chosen)]
            _, first = np.unique(draw, return_index=True)
            chosen = np.concatenate([chosen, draw[np.sort(first)]])[:n_agents]
            if chosen.size >= n_agents:
                break
        r.program[chosen] = program_id
        r.program_weeks_left[chosen] = dose_weeks
        new = chosen[~r.beneficiary[chosen]]
        r.beneficiary[chosen] = True
        world.places.beneficiaries[h] += new.size / world.scenario.population.scale
        self.enrolled = np.concatenate([self.enrolled, chosen])
        return int(chosen.size)

    def enrol_sectoral(self, enrolments: np.ndarray) -> None:
        """``enrolments``: (n, K) enrolments bought this week, in inhabitant units."""
        world = self.world
        specs = list(world.scenario.programs.values())
        rng = world.random.stream("programs")
        agents = world.to_agents(enrolments, rng)
        for h, k in zip(*np.nonzero(agents)):
            got = self.enrol(h, k, int(agents[h, k]), specs[k].target, specs[k].dose_weeks, rng)
            world.tally.enrolments[h] += got / world.scenario.population.scale

    def progress(self) -> None:
        """Advance enrolments; completed ones schedule their effect; due effects apply."""
        world, r = self.world, self.world.residents
        e = np.unique(self.enrolled)  # someone removed and re-enrolled must count once
        e = e[r.program[e] != NO_PROGRAM]  # arrested participants left
        r.program_weeks_left[e] -= 1
        done = e[r.program_weeks_left[e] == 0]
        if done.size:
            pid = r.program[done].astype(np.int64)
            completed = self.world.random.stream("programs").random(done.size) < self.completion[pid]
            c = done[completed]
            self.pending_idx = np.concatenate([self.pending_idx, c])
            self.pending_week = np.concatenate([self.pending_week, world.clock.week + self.lag[pid[completed]]])
            self.pending_factor = np.concatenate(
                [self.pending_factor, (1 - self.risk_reduction[pid[completed]]).astype(np.float32)])
            r.program[done] = NO_PROGRAM
            e = e[r.program[e] != NO_PROGRAM]
        self.enrolled = e
        due = self.pending_week <= world.clock.week
        if due.any():
            idx = self.pending_idx[due]
            r.scale_risk(idx, self.pending_factor[due])
            keep = ~due
            self.pending_idx, self.pending_week, self.pending_factor = (
                self.pending_idx[keep], self.pending_week[keep], self.pending_factor[keep])

    def in_programs(self) -> np.ndarray:
        """People in a program per neighbourhood (inhabitant units)."""
        r = self.world.residents
        e = self.enrolled
        return np.bincount(r.neighbourhood[e], minlength=self.world.geo.n) / self.world.scale


def _spread(total: int, parts: int) -> list[int]:
    """Split an integer total as evenly as possible (largest remainder)."""
    base, extra = divmod(total, parts) if parts else (0, 0)
    return [base + (i < extra) for i in range(parts)]


def _weeks_between(world: World, start: dt.date, end: dt.date, count: int, length: int = 1) -> list[int]:
    first, last = world.clock.week_of(start), max(world.clock.week_of(end) - length + 1, world.clock.week_of(start))
    if count <= 0:
        return []
    return [int(round(w)) for w in np.linspace(first, last, count)]


class CultureOrganisation(mesa.Agent):
    """A community cultural organisation recognised as a Culture Point (Ministry of Culture).

    Stages: registered -> trained (first stage) -> financed (project selected) -> runs its
    scheduled workshops and one-off activities in its home neighbourhood.
    """

    def __init__(self, model: mesa.Model, world: World, enrolments: Enrolments, district: str, neighbourhood: int):
        super().__init__(model)
        self.world = world
        self.enrolments = enrolments
        self.district = district
        self.neighbourhood = neighbourhood
        self.stage = "registered"
        self.workshop_weeks: list[int] = []
        self.activity_weeks: list[int] = []

    def finance(self, workshops: int, activities: int) -> None:
        cp = self.world.scenario.culture_points
        self.stage = "financed"
        self.workshop_weeks = _weeks_between(self.world, cp.financing_start, cp.financing_end, workshops,
                                             cp.sessions_per_workshop)
        self.activity_weeks = _weeks_between(self.world, cp.financing_start, cp.financing_end, activities)
        self.world.tally.cost_in_kind[self.neighbourhood] += cp.cost_per_project

    def step(self) -> None:
        world, cp, h = self.world, self.world.scenario.culture_points, self.neighbourhood
        scale = world.scenario.population.scale
        for _ in range(self.workshop_weeks.count(world.clock.week)):
            rng = world.random.stream("culture")
            agents = int(world.to_agents(np.array([cp.participants_per_workshop]), rng)[0])
            acts = world.scenario.strategy.channels.culture_points  # else delivered without effect (§7.26)
            got = self.enrolments.enrol(h, self.enrolments.culture_id, agents, "youth", cp.sessions_per_workshop,
                                        rng) if acts else agents
            world.tally.culture_workshops[h] += 1
            world.tally.culture_workshop_participants[h] += got / scale
        for _ in range(self.activity_weeks.count(world.clock.week)):
            world.tally.culture_activities[h] += 1
            world.tally.culture_activity_participants[h] += cp.participants_per_activity
            if world.scenario.strategy.channels.culture_points:
                b = int(np.argmax(world.blocks.disorder[h]))
                world.blocks.space_condition[h, b] = min(world.blocks.space_condition[h, b] + cp.space_use_gain, 1.0)


class CulturePoints:
    """The Ministry of Culture's partnership: creates, trains and finances organisations, which
    are Mesa agents of the model (stepped through an AgentSet)."""

    def __init__(self, world: World, enrolments: Enrolments, host: mesa.Model):
        self.world = world
        self.enrolments = enrolments
        self.host = host
        self.orgs = AgentSet([], random=host.random)
        cp = world.scenario.culture_points
        self.training_week = world.clock.week_of(cp.training_start)
        self.financing_week = world.clock.week_of(cp.financing_start)

    def _home(self, district: str) -> int:
        geo, st = self.world.geo, self.world.places
        members = np.flatnonzero(np.array(geo.district_names)[geo.district] == district)
        treated = members[st.cohort_year[members] > 0]
        pool = treated if treated.size else members
        # Where insecurity bites hardest: the most recorded crime per inhabitant.
        crime = self.world.blocks.recorded_crime[pool].sum(axis=1) / geo.inhabitants[pool]
        return int(pool[np.argmax(crime)])

    def step(self) -> None:
        world, cp = self.world, self.world.scenario.culture_points
        if not cp.districts:
            return
        if world.clock.week == self.training_week:
            for d, k in zip(cp.districts, _spread(cp.orgs_trained, len(cp.districts))):
                for _ in range(k):
                    org = CultureOrganisation(self.host, world, self.enrolments, d, self._home(d))
                    org.stage = "trained"
                    self.orgs.add(org)
            for org in self.orgs:
                world.places.culture_orgs_trained[org.neighbourhood] += 1
        if world.clock.week == self.financing_week:
            chosen = []
            for d in cp.districts:
                trained = [o for o in self.orgs if o.district == d]
                picks = world.random.stream("culture").permutation(len(trained))[: cp.projects_per_district]
                chosen += [trained[i] for i in picks]
            workshops = _spread(int(round(cp.workshops_per_project * len(chosen))), len(chosen))
            activities = _spread(int(round(cp.activities_per_project * len(chosen))), len(chosen))
            for org, w, a in zip(chosen, workshops, activities):
                org.finance(w, a)
                world.places.culture_projects_financed[org.neighbourhood] += 1
        self.orgs.select(lambda org: org.stage == "financed").do("step")


class SocialPrograms(Process):
    """Social prevention: sectoral programs bought by the social pillar, and the Culture Points
    partnership's workshops and activities; completed programs lower risk after a lag."""

    name = "programs"
    parameters = ("programs", "culture_points", "youth.min_age", "youth.max_age")
    reads = ("effort.enrolments", "residents.age", "residents.gang", "residents.risk", "residents.released_week",
             "blocks.recorded_crime", "blocks.space_condition", "places.cohort_year")
    writes = ("residents.program", "residents.program_weeks_left", "residents.beneficiary", "residents.risk",
              "places.beneficiaries", "places.in_programs", "places.culture_orgs_trained",
              "places.culture_projects_financed", "blocks.space_condition", "tally.enrolments",
              "tally.culture_workshops", "tally.culture_workshop_participants", "tally.culture_activities",
              "tally.culture_activity_participants", "tally.cost_in_kind")

    def __init__(self, world: World, host: mesa.Model):
        super().__init__(world)
        self.enrolments = Enrolments(world)
        self.culture_points = CulturePoints(world, self.enrolments, host)

    def step(self) -> None:
        self.enrolments.enrol_sectoral(self.world.effort.enrolments)
        self.culture_points.step()
        self.enrolments.progress()
        self.world.places.in_programs[:] = self.enrolments.in_programs()
