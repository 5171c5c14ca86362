"""functools: reduce, partial, the caches, cmp_to_key and total_ordering."""

from __future__ import annotations

from typing import Any

from . import FacadeRun, pick


def members(run: FacadeRun) -> dict[str, object]:
    # Left out: singledispatch (its register reads type hints, which evaluates strings),
    # WRAPPER_ASSIGNMENTS (lists of dunder names), update_wrapper/wraps (copy __dict__,
    # __wrapped__ and __module__ between objects). total_ordering writes methods onto the class it
    # is given, so it takes the script's classes only.
    import functools

    members = pick("functools", "reduce partial lru_cache cache cached_property cmp_to_key")

    def total_ordering(cls: Any) -> Any:
        if not (issubclass(type(cls), type) and cls in run.made):
            raise TypeError("total_ordering() applies only to classes defined in the script")
        return functools.total_ordering(cls)

    members["total_ordering"] = total_ordering
    return members
