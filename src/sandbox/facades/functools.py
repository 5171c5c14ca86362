"""functools: reduce, partial, the caches, cmp_to_key, total_ordering, and wraps/update_wrapper
for the script's own decorators."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..ownership import is_script_function
from . import FacadeRun, pick


def members(run: FacadeRun) -> dict[str, object]:
    # Left out: singledispatch (its register reads type hints, which evaluates strings),
    # WRAPPER_ASSIGNMENTS and WRAPPER_UPDATES (lists of dunder names). total_ordering writes
    # methods onto the class it is given, so it takes the script's classes only.
    import functools

    members = pick("functools", "reduce partial lru_cache cache cached_property cmp_to_key")

    def total_ordering(cls: Any) -> Any:
        if not (issubclass(type(cls), type) and cls in run.made):
            raise TypeError("total_ordering() applies only to classes defined in the script")
        return functools.total_ordering(cls)

    # update_wrapper copies __module__, __name__, __qualname__, __doc__, the annotations and
    # __dict__ from one object to another and sets __wrapped__: between the script's own functions
    # only. Written onto a host function, it would rename a function every later run shares;
    # copied from one, it would hand the script the host's __dict__ and, as __wrapped__, the
    # function itself. The attribute lists are functools' own: a script's `assigned` could name
    # __code__ or __defaults__. And wraps returns a closure, not functools.partial, whose `func`
    # would be the unchecked update_wrapper.
    def update_wrapper(wrapper: Any, wrapped: Any) -> Any:
        for role, function in (("wrapper", wrapper), ("wrapped", wrapped)):
            if not is_script_function(function):
                raise TypeError(
                    f"update_wrapper() and wraps() take functions defined in the script; the {role}"
                    f" is {type(function).__name__}"
                )
        return functools.update_wrapper(wrapper, wrapped)

    def wraps(wrapped: Any) -> Callable[[Any], Any]:
        if not is_script_function(wrapped):
            raise TypeError(f"wraps() takes a function defined in the script, not {type(wrapped).__name__}")

        def decorate(wrapper: Any) -> Any:
            return update_wrapper(wrapper, wrapped)

        return decorate

    members.update(total_ordering=total_ordering, update_wrapper=update_wrapper, wraps=wraps)
    return members
