"""datetime: types and constructors only. Every member is a C type or constant."""

from __future__ import annotations

from . import FacadeRun, pick

SHARED = True


def members(run: FacadeRun) -> dict[str, object]:
    return pick("datetime", "date time datetime timedelta timezone tzinfo MINYEAR MAXYEAR")
