"""Ageing, deaths and births: every week, the residents whose birthday week it is are a year older.

Birthdays are spread over the year (``residents.birthday_week``), so 1/52 of every cohort ages
each week. Ageing everyone on 1 January would make every youth output step once a year: a
whole cohort would enter the youth ages and another leave them in the same week.

Youth who leave the youth ages lose their at-risk status (gang members may stay involved and
desist later); the age groups every other process uses are updated for the birthday cohort when
someone in it crosses an age limit.

The age pyramid stays as it was drawn (world/residents.py: pyramid): at a birthday at age a the
person dies with probability 1 - P(a+1)/P(a) (zero in the flat young part) and a newborn takes
their place on the same block. A closed population without births would empty its youngest
cohorts and raise the adult share by about 2 points a year, moving every per-adult rate (junta
share, hence collective efficacy) with no cause in the model."""

from __future__ import annotations

import numpy as np

from sn_sim.processes.base import Process
from sn_sim.world import World
from sn_sim.world.residents import GANG_AT_RISK, GANG_NONE, WEEKS_PER_AGE_YEAR, personal_traits, pyramid

# Age limits some process reads (adults 18+, the survey's 15+); the youth limits come from the scenario.
SURVEY_AGE, ADULT_AGE = 15, 18


class Ageing(Process):
    name = "ageing"
    parameters = ("youth.min_age", "youth.max_age", "population.age_flat_until", "population.age_max",
                  "population.risk_mean", "population.risk_concentration", "trust.initial_a", "trust.initial_b",
                  "insecurity.initial_a", "insecurity.initial_b")
    reads = ("clock", "residents.birthday_week", "residents.neighbourhood")
    writes = ("residents", "ages")  # a newborn replaces every field but home and birthday

    def __init__(self, world: World):
        super().__init__(world)
        # Who has a birthday in each week of the 52-week cycle (fixed: birthdays never change).
        birthday = world.residents.birthday_week
        order = np.argsort(birthday, kind="stable").astype(np.int32)  # int32: 4 B per resident
        bounds = np.searchsorted(birthday[order], np.arange(WEEKS_PER_AGE_YEAR + 1))
        self.by_week = [order[bounds[i]:bounds[i + 1]] for i in range(WEEKS_PER_AGE_YEAR)]
        y = world.scenario.youth
        self.limits = np.array(sorted({y.min_age, y.max_age + 1, SURVEY_AGE, ADULT_AGE}))
        density = pyramid(world.scenario)
        survive = np.append(density[1:], 0.0) / np.where(density > 0, density, 1.0)
        self.death = np.ones(256)  # by age before the birthday; nobody outlives age_max
        self.death[:density.size] = np.where(density > 0, 1.0 - survive, 1.0)

    def step(self) -> None:
        world = self.world
        idx = self.by_week[world.clock.week % WEEKS_PER_AGE_YEAR]
        if idx.size == 0:
            return
        r, y = world.residents, world.scenario.youth
        old = r.age[idx]
        at_risk_out = idx[(old == y.max_age) & (r.gang[idx] == GANG_AT_RISK)]
        r.age_one_year(idx)
        r.set_gang(at_risk_out, GANG_NONE)
        # Deaths and births: drawn from this week's stream, one uniform per birthday (a number set
        # by the calendar alone, so twin runs stay aligned).
        rng = world.random.stream(self.name)
        dead = idx[rng.random(idx.size) < self.death[old]]
        if dead.size:
            r.newborn(dead, *personal_traits(world.scenario, world.geo, r.neighbourhood[dead], rng))
        if dead.size or np.isin(old.astype(np.int64) + 1, self.limits).any():
            world.ages.update(r, idx, y.min_age, y.max_age)
