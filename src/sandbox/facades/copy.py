"""copy: copy and deepcopy of the data a script holds.

Only plain values, the builtin containers and the run's own objects are copied. The standard copy
would rebuild anything else from its `__reduce_ex__`: a host object's reduction names a callable and
its state (a facade's private table, a guard's closure, a generator of the random facade) and copy
calls and hands them out. Here an object of the script's own class is rebuilt from its class's
reduction, which the script cannot write (the analyser refuses __reduce__, __getstate__ and the
like; the bases it may have are the builtin data types, enums and namedtuples), and only through
copyreg's __newobj__ or the class itself; everything it holds is copied by these same rules.
Everything here is Python: every object copied is a step, and deep structures meet the recursion
limit as the standard deepcopy does.
"""

from __future__ import annotations

import collections
import copy as real
import copyreg
import enum
import types
from typing import Any

from . import FacadeRun

# Values copy returns as they are: immutable, or shared by design (functions, classes).
_ATOMIC = frozenset(
    {
        type(None), int, float, bool, complex, str, bytes, range, types.EllipsisType,
        types.NotImplementedType, types.FunctionType, types.BuiltinFunctionType, property,
    }
)  # fmt: skip
_SHALLOW = (list, dict, set, bytearray, collections.deque, collections.OrderedDict, collections.Counter)
_MAPPINGS = (dict, collections.OrderedDict, collections.Counter, collections.defaultdict)
_REBUILT = (copyreg.__newobj__, copyreg.__newobj_ex__)  # type: ignore[attr-defined]


def members(run: FacadeRun) -> dict[str, object]:
    def copy(x: Any) -> Any:
        return _copy(run, x)

    def deepcopy(x: Any, memo: None = None) -> Any:
        # The memo maps ids to copies: one of the caller's (filled in advance, or by a __hash__ while
        # the copy runs) would hand _reconstruct a host class in place of the script's own class.
        if memo is not None:
            raise TypeError("deepcopy(x, memo) is not available in the sandbox: call deepcopy(x)")
        return _deepcopy(run, x, {})

    return {"copy": copy, "deepcopy": deepcopy, "Error": real.Error}


def _refusal(kind: type) -> TypeError:
    return TypeError(
        f"copy works on plain values, builtin containers and the script's own objects, not {kind.__name__} objects"
    )


def _is_atomic(x: object) -> bool:
    kind = type(x)
    return kind in _ATOMIC or issubclass(kind, type)


def _reduction(x: object) -> tuple[Any, ...]:
    """The reduction of the script's own object, rebuilt only through its class."""
    reduced = type(x).__reduce_ex__(x, 4)
    if type(reduced) is not tuple or len(reduced) < 2:
        raise _refusal(type(x))
    func, args = reduced[0], reduced[1]
    if not (func is type(x) or (func in _REBUILT and type(args) is tuple and args[:1] == (type(x),))):
        raise _refusal(type(x))
    return reduced


def _copy(run: FacadeRun, x: Any) -> Any:
    kind = type(x)
    if _is_atomic(x) or kind in (tuple, frozenset):
        return x
    if kind in _SHALLOW or kind is collections.defaultdict:
        return kind.copy(x)
    if kind in run.made:
        if isinstance(x, enum.Enum):
            return x  # members are singletons
        return _rebuilt(kind, real._reconstruct(x, None, *_reduction(x)))  # type: ignore[attr-defined]
    raise _refusal(kind)


def _rebuilt(kind: type, y: Any) -> Any:
    """A copy is of the class it was copied from: the reduction named the script's class, and
    anything that made _reconstruct build another (a class swapped on the way) is refused."""
    if type(y) is not kind:
        raise _refusal(type(y))
    return y


def _deepcopy(run: FacadeRun, x: Any, memo: dict[int, Any]) -> Any:
    key = id(x)
    if key in memo:
        return memo[key]
    kind = type(x)
    if _is_atomic(x):
        return x

    def inner(value: Any, memo: dict[int, Any] = memo) -> Any:
        return _deepcopy(run, value, memo)

    if kind is list or kind is collections.deque:
        y: Any = [] if kind is list else collections.deque(maxlen=x.maxlen)
        memo[key] = y
        y.extend(inner(item) for item in x)
    elif kind is tuple:
        items = [inner(item) for item in x]
        if key in memo:
            return memo[key]  # the tuple held itself through a list: as the standard deepcopy
        y = x if all(a is b for a, b in zip(items, x, strict=True)) else tuple(items)
    elif kind in _MAPPINGS:
        y = kind(x.default_factory) if kind is collections.defaultdict else kind()
        memo[key] = y
        for k, v in list(x.items()):
            y[inner(k)] = inner(v)
    elif kind is set or kind is frozenset:
        y = kind(inner(item) for item in x)
    elif kind is bytearray:
        y = bytearray(x)
    elif kind in run.made:
        if isinstance(x, enum.Enum):
            return x
        y = _rebuilt(kind, real._reconstruct(x, memo, *_reduction(x), deepcopy=inner))  # type: ignore[attr-defined]
    else:
        raise _refusal(kind)
    memo[key] = y
    if y is not x:
        memo.setdefault(id(memo), []).append(x)  # keeps x alive, so its id stays its own
    return y
