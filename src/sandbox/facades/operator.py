"""operator: the operators as functions, itemgetter, and attrgetter/methodcaller through the
attribute rule.

The operators that can outgrow their operands (`*`, `**`, `<<`, `%`, `/`, `//` and their in-place
forms) go through the same guards as the operators in the script's code (builtins.guarded_binop).
attrgetter and methodcaller are the sandbox's own: each name is read with guards.read_attribute,
the run-time attribute rule getattr() applies (so `attrgetter('__class__')` is refused as
`getattr(x, '__class__')` is, and `methodcaller('format', …)` gets the checked str.format). The
real ones read attributes in C, past every rule. itemgetter is the real one: `obj[key]`, as the
script may write it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from ..guards import read_attribute
from . import FacadeRun

# Functions whose result is bounded by their operands (or that call the script's own methods).
_PLAIN = (
    "abs add and_ call concat contains countOf delitem eq ge getitem gt iadd iand iconcat index "
    "indexOf inv invert ior irshift is_ is_not is_none is_not_none isub itemgetter ixor le "
    "length_hint lt matmul imatmul ne neg not_ or_ pos rshift setitem sub truth xor"
)
# The guarded operators, by the name of their ast operator.
_GUARDED = {
    "mul": "Mult",
    "pow": "Pow",
    "lshift": "LShift",
    "mod": "Mod",
    "truediv": "Div",
    "floordiv": "FloorDiv",
}


def members(run: FacadeRun) -> dict[str, object]:
    budget = run.budget
    members: dict[str, object] = {
        name: getattr(operator, name) for name in _PLAIN.split() if hasattr(operator, name)
    }

    def binary(name: str, op: str, inplace: bool) -> Callable[[Any, Any], Any]:
        guard = run.inplace if inplace else run.binop

        def apply(a: Any, b: Any, /) -> Any:
            return guard(op, a, b)

        apply.__name__ = apply.__qualname__ = name
        return apply

    for name, op in _GUARDED.items():
        members[name] = binary(name, op, inplace=False)
        members[f"i{name}"] = binary(f"i{name}", op, inplace=True)

    def attrgetter(attr: Any, /, *attrs: Any) -> Callable[[Any], Any]:
        paths = [_dotted(name) for name in (attr, *attrs)]

        def get(obj: Any, path: list[str]) -> Any:
            for name in path:
                obj = read_attribute(budget, run.made, obj, name)
            return obj

        if not attrs:
            return lambda obj: get(obj, paths[0])
        return lambda obj: tuple(get(obj, path) for path in paths)

    def methodcaller(name: Any, /, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        if not isinstance(name, str):
            raise TypeError("method name must be a string")
        return lambda obj: read_attribute(budget, run.made, obj, name)(*args, **kwargs)

    members.update(attrgetter=attrgetter, methodcaller=methodcaller)
    return members


def _dotted(name: Any) -> list[str]:
    if not isinstance(name, str):
        raise TypeError("attribute name must be a string")
    return str.split(name, ".")
