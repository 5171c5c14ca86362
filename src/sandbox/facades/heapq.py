"""heapq: the heap functions over lists, and nlargest/nsmallest, the top-k idiom."""

from __future__ import annotations

import heapq

from . import FacadeRun

SHARED = True

# The C functions move references within the list they are given and compare items (a script's
# __lt__ runs as counted script code); nlargest, nsmallest and merge are Python (counted). Python
# 3.14's max-heap functions are included where the interpreter has them.
_NAMES = (
    "heappush heappop heapify heapreplace heappushpop nlargest nsmallest merge "
    "heappush_max heappop_max heapify_max heapreplace_max heappushpop_max"
)


def members(run: FacadeRun) -> dict[str, object]:
    return {name: getattr(heapq, name) for name in _NAMES.split() if hasattr(heapq, name)}
