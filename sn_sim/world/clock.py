"""The clock: where the simulation is in time (arithmetic in :mod:`sn_sim.scenario.calendar`)."""

from __future__ import annotations

import datetime as dt

from sn_sim.scenario import calendar


class Clock:
    """The current week of a calendar. ``week`` is the only mutable field."""

    def __init__(self, start: dt.date, end: dt.date, week: int = 0):
        self.start = start
        self.end = end
        self.n_weeks = calendar.weeks_between(start, end)
        self.week = week

    @property
    def date(self) -> dt.date:
        """First day of the current week."""
        return self.date_of(self.week)

    @property
    def year(self) -> int:
        return self.date.year

    @property
    def finished(self) -> bool:
        return self.week >= self.n_weeks

    def date_of(self, week: int) -> dt.date:
        return calendar.date_of(self.start, week)

    def week_of(self, date: dt.date) -> int:
        """The week in which ``date`` falls."""
        return calendar.week_of(self.start, date)

    def weeks_in_year(self, year: int) -> int:
        return calendar.weeks_in_year(self.start, year)

    def years_into(self, start: dt.date, end: dt.date) -> float:
        """Years elapsed in the window [start, end] at this week: 0 before it, constant after it
        (how far a secular trend that runs over the window has gone)."""
        today = min(max(self.date, start), end)
        return (today - start).days / 365.25
