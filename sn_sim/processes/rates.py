"""Neighbourhood rates: the smoothed crime figures the Ministry diagnoses and that efficacy and
insecurity respond to, and the share of adults in juntas."""

from __future__ import annotations

from sn_sim.processes.base import Process
from sn_sim.scenario.calendar import WEEKS_PER_YEAR


class NeighbourhoodRates(Process):
    """Exponentially weighted offence (``community.offence_rate_weeks``), recorded-crime and
    homicide (52 weeks) rates.

    During the burn-in the reference offence rate follows the current one, so perceptions and
    efficacy are anchored to the settling crime level; over its last ``calendar.reference_weeks``
    it is the mean weekly rate of those weeks (a mean over months, not the 8-week moving average
    of the last week, whose noise would shift every later level), frozen when the calendar starts."""

    name = "rates"
    parameters = ("calendar.burn_in_weeks", "calendar.reference_weeks", "community.offence_rate_weeks")
    reads = ("tally.offences", "tally.recorded_crimes", "tally.homicides", "residents.junta")
    writes = ("places.offence_rate", "places.recorded_rate", "places.homicide_rate", "places.junta_share",
              "reference.offence_rate")

    def step(self) -> None:
        world = self.world
        st, t = world.places, world.tally
        inhabitants = world.inhabitants
        weekly = 100 * t.offences / inhabitants
        st.offence_rate += (weekly - st.offence_rate) / world.scenario.community.offence_rate_weeks
        year = float(WEEKS_PER_YEAR)
        st.recorded_rate += (year * 1000 * t.recorded_crimes / inhabitants - st.recorded_rate) / year
        st.homicide_rate += (year * 1e5 * t.homicides / inhabitants - st.homicide_rate) / year
        st.junta_share[:] = world.share_by_neighbourhood(world.residents.junta, world.ages.adult)
        week = world.clock.week
        if week < 0:
            cal = world.scenario.calendar
            first = -min(cal.reference_weeks, cal.burn_in_weeks)  # first week of the reference mean
            ref = world.reference.offence_rate
            if week < first:
                ref[:] = st.offence_rate
            elif week == first:
                ref[:] = weekly
            else:  # running mean of the weekly rates since ``first``
                ref += (weekly - ref) / (week - first + 1)
