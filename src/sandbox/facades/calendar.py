"""calendar: leap years, weekdays, month lengths and the text calendars.

What is handed out is plain data: weekdays as ints and the month and day names as tuples, where the
module has members of its own IntEnum classes (the real enum machinery) and name lists built on
strftime. Left out: setfirstweekday (it changes the module's one shared calendar for every later
run), the classes (their pr* methods print to the host's stdout; the Locale* ones change the
process's locale), prcal/prmonth/prweek and the module's imports.
"""

from __future__ import annotations

import calendar
from typing import Any

from ..limits import as_count, check_bytes
from . import FacadeRun

# A text calendar's column width and lines per week are the caller's: its size is their product
# with the days and weeks it lays out (12 months, at most 6 weeks of 7 days each).
_DAYS_LAID_OUT = 12 * 6 * 7


def members(run: FacadeRun) -> dict[str, object]:
    budget = run.budget
    text = calendar.TextCalendar()  # the run's own: the module's `calendar.c` is what setfirstweekday changes

    def _measured(w: Any, lines: Any, c: Any = 6) -> tuple[int, int, int]:
        width, height, spacing = as_count(w), as_count(lines), as_count(c)
        if width is None or height is None or spacing is None:
            raise TypeError("the width, lines and spacing of a calendar must be integers")
        size = (max(width, 2) + 1 + max(spacing, 0)) * max(height, 1) * _DAYS_LAID_OUT
        check_bytes(budget, size, "a text calendar")
        return width, height, spacing

    def month(theyear: int, themonth: int, w: Any = 0, l: Any = 0) -> str:  # noqa: E741 - calendar's name
        width, height, _ = _measured(w, l)
        return text.formatmonth(theyear, themonth, width, height)

    def calendar_(theyear: int, w: Any = 2, l: Any = 1, c: Any = 6, m: Any = 3) -> str:  # noqa: E741
        width, height, spacing = _measured(w, l, c)
        months = as_count(m) or 1
        # The year is centred over a row of `m` months: a line that wide, however few months follow.
        check_bytes(budget, ((max(width, 2) + 1) * 7 + max(spacing, 0)) * max(months, 1), "a text calendar")
        return text.formatyear(theyear, width, height, spacing, months)

    def weekday(year: int, month: int, day: int) -> int:
        return int(calendar.weekday(year, month, day))

    def monthrange(year: int, month: int) -> tuple[int, int]:
        first, days = calendar.monthrange(year, month)
        return int(first), days

    def monthcalendar(year: int, month: int) -> list[list[int]]:
        return text.monthdayscalendar(year, month)

    days = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
    return {
        "isleap": calendar.isleap,
        "leapdays": calendar.leapdays,
        "timegm": calendar.timegm,
        "weekday": weekday,
        "monthrange": monthrange,
        "monthcalendar": monthcalendar,
        "month": month,
        "calendar": calendar_,
        "firstweekday": lambda: 0,
        "month_name": tuple(calendar.month_name),
        "month_abbr": tuple(calendar.month_abbr),
        "day_name": tuple(calendar.day_name),
        "day_abbr": tuple(calendar.day_abbr),
        "IllegalMonthError": calendar.IllegalMonthError,
        "IllegalWeekdayError": calendar.IllegalWeekdayError,
        **{name: int(getattr(calendar, name)) for name in days},
    }
