"""Iterators that count: every item a step, whoever consumes it.

Kept apart from the guards' modules, whose code the step count leaves out (builtins.guard_code_ids):
an item yielded here must be the script's work.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


def counted(items: Iterable[Any]) -> Iterator[Any]:
    """Hand out a generator rather than a C iterator: every item it yields is a step (and a look at
    memory) whoever consumes it, Python or C (list(), sum(), max()); and type() of it is not an
    unguarded class the script could call."""
    yield from items


def counted_from(box: list[Iterable[Any]]) -> Iterator[Any]:
    """`counted`, for the one iterator in `box`, taken out when the first item is asked for. An
    iterator whose state another object changes (a copy of a tee, whose sibling fills their shared
    buffer) can come to hold a ring the teardown must cut: until then it is held by a list, which
    the teardown empties, and after by a paused frame, which it clears (a generator never started
    keeps its arguments to the end)."""
    yield from box.pop()
