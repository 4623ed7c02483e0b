"""Calendar arithmetic, in one place: weeks of a scenario's calendar and their dates.

Week 0 starts on ``calendar.start`` (a Monday by default); week ``w`` starts ``w`` weeks later.
Negative weeks are the unrecorded burn-in. A week
belongs to the calendar year of its first day. The world's clock and the analysis layers
(evaluation, plots) use these functions, so a week means the same thing everywhere.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

# Weeks in a year, for per-year conversions of weekly flows and rates, for the 12-month windows
# of the survey-style rates (INEI asks about the last 12 months) and for yearly time constants.
# (A calendar year has 52 or 53 simulated weeks; ``weeks_in_year`` counts them exactly.)
WEEKS_PER_YEAR = 52


def weeks_between(start: dt.date, end: dt.date) -> int:
    """Simulated weeks of a calendar from ``start`` to ``end``: weeks starting on or before ``end``."""
    return (end - start).days // 7 + 1


def week_of(start: dt.date, date: dt.date) -> int:
    """The week (counted from ``start``) in which ``date`` falls."""
    return (date - start).days // 7


def date_of(start: dt.date, week: int) -> dt.date:
    """First day of week ``week``."""
    return start + dt.timedelta(weeks=int(week))


def weeks_in_year(start: dt.date, year: int) -> int:
    """Simulated weeks that start in ``year`` (52 or 53: weeks start on the calendar's weekday)."""
    first = dt.date(year, 1, 1)
    offset = (start - first).days % 7  # days from Jan 1 to the first week start in the year
    return len(range(offset, (dt.date(year, 12, 31) - first).days + 1, 7))


def weeks_since(start, dates) -> np.ndarray:
    """Week index of each of ``dates`` (dates, datetime64 or pandas values; NaT allowed) on a
    calendar starting at ``start``, as floats (NaN where the date is missing)."""
    days = (np.asarray(dates, dtype="datetime64[D]") - np.datetime64(start, "D")).astype("timedelta64[D]")
    out = np.floor_divide(days.astype(np.int64), 7).astype(float)
    out[np.isnat(days)] = np.nan
    return out
