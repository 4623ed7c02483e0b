"""Neighbourhood rates: the smoothed crime figures the Ministry diagnoses and that efficacy and
insecurity respond to, and the share of adults in juntas."""

from __future__ import annotations

from sn_sim.processes.base import Process
from sn_sim.scenario.calendar import WEEKS_PER_YEAR


class NeighbourhoodRates(Process):
    """Exponentially weighted offence (``community.offence_rate_weeks``), recorded-crime and
    homicide (52 weeks) rates.

    During the burn-in the reference offence rate follows the current one, so perceptions and
    efficacy are anchored to the settling crime level; it is frozen when the calendar starts."""

    name = "rates"
    parameters = ("community.offence_rate_weeks",)
    reads = ("tally.offences", "tally.recorded_crimes", "tally.homicides", "residents.junta")
    writes = ("places.offence_rate", "places.recorded_rate", "places.homicide_rate", "places.junta_share",
              "reference.offence_rate")

    def step(self) -> None:
        world = self.world
        st, t = world.places, world.tally
        inhabitants = world.inhabitants
        st.offence_rate += (100 * t.offences / inhabitants - st.offence_rate) / world.scenario.community.offence_rate_weeks
        year = float(WEEKS_PER_YEAR)
        st.recorded_rate += (year * 1000 * t.recorded_crimes / inhabitants - st.recorded_rate) / year
        st.homicide_rate += (year * 1e5 * t.homicides / inhabitants - st.homicide_rate) / year
        st.junta_share[:] = world.share_by_neighbourhood(world.residents.junta, world.ages.adult)
        if world.clock.week < 0:
            world.reference.offence_rate[:] = st.offence_rate
