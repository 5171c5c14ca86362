"""bisect: binary search and insertion in sorted sequences.

A search is O(log n) comparisons (a `key` or a script's __lt__ is counted script code). An insertion
into a list is list.insert in C, which moves every reference after the insertion point, and may copy
them all to grow the list, unseen by the step count: it is paid for by the list's length before it
runs. A sequence of the script's own class is given to its own `insert` (counted).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any

from ..limits import StepBudget, charge, true_length
from . import FacadeRun, pick

# A reference moved, measured as the mean of 100 `insort(xs, -1)` into a list of 5M items: 1.75 ns
# in Pyodide 314 under Node 22 (0.52 ns in CPython 3.13).
_NS_PER_REFERENCE_MOVED = 1.8


def _priced(budget: StepBudget, name: str) -> Callable[..., Any]:
    real = getattr(bisect, name)

    def insort(a: Any, x: Any, /, *args: Any, **kwargs: Any) -> Any:
        if isinstance(a, list):
            charge(budget, (true_length(a) or 0) * _NS_PER_REFERENCE_MOVED / 1e6, f"bisect.{name}")
        return real(a, x, *args, **kwargs)

    insort.__name__ = insort.__qualname__ = name
    insort.__doc__ = real.__doc__
    return insort


def members(run: FacadeRun) -> dict[str, object]:
    members = pick("bisect", "bisect bisect_left bisect_right")
    members.update({name: _priced(run.budget, name) for name in ("insort", "insort_left", "insort_right")})
    return members
