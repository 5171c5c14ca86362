"""bisect: binary search and insertion in sorted sequences."""

from __future__ import annotations

from . import FacadeRun, pick

SHARED = True


def members(run: FacadeRun) -> dict[str, object]:
    # A search is O(log n) comparisons (a `key` or a script's __lt__ is counted script code); an
    # insertion is list.insert, or the sequence's own `insert` for a script's class.
    return pick("bisect", "bisect bisect_left bisect_right insort insort_left insort_right")
