"""Ageing: at each new calendar year everyone is a year older.

Youth who leave the youth ages lose their at-risk status (gang members may stay involved and
desist later); the age groups every other process uses are refreshed."""

from __future__ import annotations

from sn_sim.processes.base import Process
from sn_sim.world import World
from sn_sim.world.residents import GANG_AT_RISK, GANG_NONE


class Ageing(Process):
    name = "ageing"
    parameters = ("youth.max_age",)
    reads = ("clock",)
    writes = ("residents.age", "residents.gang", "ages")

    def __init__(self, world: World):
        super().__init__(world)
        self.year = world.clock.year

    def step(self) -> None:
        world = self.world
        if world.clock.year == self.year:
            return
        self.year = world.clock.year
        r, y = world.residents, world.scenario.youth
        youth = world.ages.youth_idx
        aged_out = youth[r.age[youth] == y.max_age]
        r.age_one_year()
        r.set_gang(aged_out[r.gang[aged_out] == GANG_AT_RISK], GANG_NONE)
        world.refresh_ages()
