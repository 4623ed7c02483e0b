"""The calendar: weeks, dates and years -- the one place that does calendar arithmetic.

Week 0 starts on ``calendar.start`` (a Monday by default); week ``w`` starts ``w`` weeks later.
Negative weeks are the unrecorded burn-in (and, before it, the youth-settling weeks). A week
belongs to the calendar year of its first day.
"""

from __future__ import annotations

import datetime as dt


def weeks_between(start: dt.date, end: dt.date) -> int:
    """Simulated weeks of a calendar from ``start`` to ``end``: weeks starting on or before ``end``."""
    return (end - start).days // 7 + 1


class Clock:
    """Where the simulation is in time. ``week`` is the only mutable field."""

    def __init__(self, start: dt.date, end: dt.date, week: int = 0):
        self.start = start
        self.end = end
        self.n_weeks = weeks_between(start, end)
        self.week = week

    @property
    def date(self) -> dt.date:
        """First day of the current week."""
        return self.date_of(self.week)

    @property
    def year(self) -> int:
        return self.date.year

    @property
    def recording(self) -> bool:
        """True from week 0 to the end of the calendar (burn-in weeks are not recorded)."""
        return 0 <= self.week < self.n_weeks

    @property
    def finished(self) -> bool:
        return self.week >= self.n_weeks

    def date_of(self, week: int) -> dt.date:
        return self.start + dt.timedelta(weeks=int(week))

    def week_of(self, date: dt.date) -> int:
        """The week in which ``date`` falls."""
        return (date - self.start).days // 7

    def weeks_in_year(self, year: int) -> int:
        """Simulated weeks that start in ``year`` (52 or 53: weeks start on the calendar's weekday)."""
        first = dt.date(year, 1, 1)
        offset = (self.start - first).days % 7  # days from Jan 1 to the first week start in the year
        return len(range(offset, (dt.date(year, 12, 31) - first).days + 1, 7))
