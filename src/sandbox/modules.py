"""Read-only facades of the modules a script may import.

A facade exposes a curated public API, not a module: no `__dict__`, no submodules, no path to `sys`,
`os`, `js` or `pyodide`, and no way to assign to it. The tables below say, module by module, what is
left out and why. Objects with state shared between runs (random's generator, decimal's context) are
replaced per run; calls that could allocate without bound or recurse deep in one C call are wrapped
with the guards in limits.py.
"""

from __future__ import annotations

import importlib
import itertools
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from .limits import StepBudget, check_int_bits, check_json_text, check_nesting, check_width


class ModuleFacade:
    """What `import json` binds in a script: attribute reads of a fixed table, nothing else."""

    __slots__ = ("_facade_members", "_facade_name")

    def __init__(self, name: str, members: Mapping[str, object]) -> None:
        object.__setattr__(self, "_facade_name", name)
        object.__setattr__(self, "_facade_members", MappingProxyType(members))

    def __getattr__(self, attr: str) -> object:
        try:
            return self._facade_members[attr]
        except KeyError:
            raise AttributeError(
                f"module '{self._facade_name}' has no attribute '{attr}' in the sandbox"
            ) from None

    def __setattr__(self, attr: str, value: object) -> None:
        raise AttributeError(f"module '{self._facade_name}' is read-only in the sandbox")

    def __delattr__(self, attr: str) -> None:
        raise AttributeError(f"module '{self._facade_name}' is read-only in the sandbox")

    def __dir__(self) -> list[str]:
        return sorted(self._facade_members)

    def __repr__(self) -> str:
        return f"<module '{self._facade_name}' (sandbox)>"


def _pick(module: str, names: str) -> dict[str, object]:
    # Imported on first use, not with the package: statistics, decimal, difflib and the rest would
    # otherwise add tens of milliseconds to every Worker's cold start for modules few runs use.
    imported = importlib.import_module(module)
    return {name: getattr(imported, name) for name in names.split()}


# --- Modules whose members are stateless: one facade, shared by every run -----------------------

_STATIC: dict[str, Callable[[], dict[str, object]]] = {
    # Annotation vocabulary. Left out: get_type_hints, ForwardRef, evaluate_forward_ref (they
    # evaluate strings as code against a module's globals); Type (calling typing.Type(...) builds
    # classes through type() with three arguments); no_type_check, runtime_checkable internals.
    "typing": lambda: _pick(
        "typing",
        "Any Optional Union List Dict Tuple Set FrozenSet Callable Iterable Iterator Sequence "
        "Mapping MutableMapping MutableSequence Generator Literal Final ClassVar Annotated "
        "TypedDict NamedTuple Protocol TypeVar Generic NewType cast overload TYPE_CHECKING "
        "NoReturn Never Self get_origin get_args Hashable Sized Collection Container Counter "
        "DefaultDict OrderedDict Deque",
    ),
    # Types and constructors only. Every member is a C type or constant.
    "datetime": lambda: _pick("datetime", "date time datetime timedelta timezone tzinfo MINYEAR MAXYEAR"),
    # Containers. Left out: abc (a submodule), UserDict/UserList/UserString (wrappers with a
    # public `.data` that is simply the contents — harmless, but unused by evals).
    "collections": lambda: _pick("collections", "Counter OrderedDict defaultdict deque namedtuple ChainMap"),
    # Left out: singledispatchmethod internals, WRAPPER_ASSIGNMENTS (lists of dunder names),
    # update_wrapper/wraps (copy __dict__, __wrapped__ and __module__ between objects).
    "functools": lambda: _pick(
        "functools", "reduce partial lru_cache cache cached_property cmp_to_key total_ordering"
    ),
    # Pure functions and the StatisticsError. Left out: NormalDist's private fields are private.
    "statistics": lambda: _pick(
        "statistics",
        "mean fmean geometric_mean harmonic_mean median median_low median_high median_grouped "
        "mode multimode pstdev pvariance stdev variance quantiles correlation covariance "
        "linear_regression NormalDist StatisticsError",
    ),
    # Constants and Template. Left out: Formatter, whose get_field walks any attribute named in a
    # format string ("{0.__globals__}"), the very path str.format is guarded against.
    "string": lambda: _pick(
        "string",
        "ascii_letters ascii_lowercase ascii_uppercase digits hexdigits octdigits punctuation "
        "printable whitespace capwords Template",
    ),
    # Pure text functions over the user's own strings.
    "textwrap": lambda: _pick("textwrap", "wrap fill shorten dedent indent TextWrapper"),
    # Lookups into the Unicode database.
    "unicodedata": lambda: _pick(
        "unicodedata",
        "lookup name decimal digit numeric category bidirectional combining east_asian_width "
        "mirrored decomposition normalize is_normalized unidata_version",
    ),
    # Class decorators and helpers over the script's own classes. Left out: make_dataclass (takes a
    # `namespace` of arbitrary class attributes, the route to special methods the analyser refuses).
    "dataclasses": lambda: _pick(
        "dataclasses",
        "dataclass field fields asdict astuple replace is_dataclass FrozenInstanceError "
        "InitVar MISSING KW_ONLY",
    ),
    # Enum bases and helpers. Left out: EnumType/EnumMeta (the metaclass builds classes from a
    # namespace), the private _EnumDict, and pickle helpers.
    "enum": lambda: _pick("enum", "Enum IntEnum StrEnum Flag IntFlag auto unique"),
    # Left out: getcontext, setcontext, localcontext and the shared contexts (Default, Basic,
    # Extended): the thread's decimal context is shared by every run and by the host, so one run
    # could change the precision of the next. Context is left out too: a context with a huge
    # precision turns one arithmetic call into an unbounded computation.
    "decimal": lambda: _pick(
        "decimal",
        "Decimal DecimalException InvalidOperation DivisionByZero Inexact Rounded Overflow "
        "Underflow Subnormal Clamped FloatOperation ROUND_UP ROUND_DOWN ROUND_CEILING "
        "ROUND_FLOOR ROUND_HALF_UP ROUND_HALF_DOWN ROUND_HALF_EVEN ROUND_05UP",
    ),
    "fractions": lambda: _pick("fractions", "Fraction"),
    # Sequence comparison. Pure Python, so its loops are step-counted.
    "difflib": lambda: _pick(
        "difflib",
        "SequenceMatcher Differ HtmlDiff get_close_matches ndiff unified_diff context_diff "
        "restore IS_LINE_JUNK IS_CHARACTER_JUNK diff_bytes",
    ),
}


_static_members: dict[str, MappingProxyType[str, object]] = {}


def _shared(name: str) -> MappingProxyType[str, object]:
    if name not in _static_members:
        _static_members[name] = MappingProxyType(_STATIC[name]())
    return _static_members[name]


# --- Modules with per-run members: built for each run that imports them -------------------------


def _math_members(budget: StepBudget) -> dict[str, object]:
    # Pure functions and constants, but four of them build integers of any size in one C call:
    # factorial, comb, perm and prod are checked against the memory headroom first.
    members = {n: getattr(math, n) for n in dir(math) if not n.startswith("_")}

    def factorial(n: int) -> int:
        if isinstance(n, int) and n > 2:
            check_int_bits(budget, n * math.log2(n), "math.factorial")
        return math.factorial(n)

    def comb(n: int, k: int) -> int:
        if isinstance(n, int):
            check_int_bits(budget, n, "math.comb")
        return math.comb(n, k)

    def perm(n: int, k: int | None = None) -> int:
        if isinstance(n, int) and n > 2:
            count = n if k is None or not isinstance(k, int) else min(max(k, 0), n)
            check_int_bits(budget, count * math.log2(n), "math.perm")
        return math.perm(n, k)

    def prod(iterable: Iterable[object], *, start: object = 1) -> object:
        items = list(iterable)
        bits = sum(x.bit_length() for x in items if isinstance(x, int))
        check_int_bits(budget, bits, "math.prod")
        return math.prod(items, start=start)

    members.update(factorial=factorial, comb=comb, perm=perm, prod=prod)
    return members


def _generator(items: Iterable[Any]) -> Iterator[Any]:
    """Hand out a generator rather than the object itself, so type() of it is not an unguarded
    class the script could call."""
    yield from items


def _itertools_members(budget: StepBudget) -> dict[str, object]:
    # Lazy combinators: consuming them is step-counted Python or a C loop bounded by the range
    # guard. product(..., repeat=n) copies its pools n times before yielding anything, so that
    # copy is measured first.
    members = {n: getattr(itertools, n) for n in dir(itertools) if not n.startswith("_")}

    def product(*iterables: Iterable[object], repeat: int = 1) -> Iterator[tuple[object, ...]]:
        pools = [tuple(pool) for pool in iterables]
        if isinstance(repeat, int):
            check_width(budget, sum(len(p) for p in pools) * repeat * 8, "itertools.product")
        return _generator(itertools.product(*pools, repeat=repeat))

    # count, cycle and repeat never end (or end after any number of items) inside C, where
    # list(), sum() or any() would consume them unseen by the step count. As generators written
    # here, every item they yield is a counted step.
    def count(start: Any = 0, step: Any = 1) -> Iterator[Any]:
        value = start
        while True:
            yield value
            value += step

    def cycle(iterable: Iterable[Any]) -> Iterator[Any]:
        saved = list(iterable)
        while saved:
            yield from saved

    def repeat(value: Any, times: int | None = None) -> Iterator[Any]:
        if times is None:
            while True:
                yield value
        for _ in range(times):
            yield value

    members.update(product=product, count=count, cycle=cycle, repeat=repeat)
    return members


def _json_members(budget: StepBudget) -> dict[str, object]:
    # loads/dumps recurse in C once per nesting level; in Pyodide that overflows the WebAssembly
    # stack. The text or the data is measured first. Left out: load/dump (files), the encoder and
    # decoder classes (their methods would bypass these checks), and `cls=` for the same reason.
    limits = budget.limits

    def loads(s: str | bytes | bytearray, **options: Any) -> object:
        if "cls" in options:
            raise TypeError("json.loads(cls=...) is not available in the sandbox")
        if not isinstance(s, (str, bytes, bytearray)):
            raise TypeError(f"the JSON object must be str or bytes, not {type(s).__name__}")
        check_json_text(limits, s)
        return json.loads(s, **options)

    def dumps(obj: object, **options: Any) -> str:
        if "cls" in options:
            raise TypeError("json.dumps(cls=...) is not available in the sandbox")
        indent = options.get("indent")
        if isinstance(indent, str):
            check_width(budget, len(indent) * 1000, "a json indent")
        else:
            check_width(budget, indent, "a json indent")
        for separator in options.get("separators") or ():
            check_width(
                budget, len(separator) * 1000 if isinstance(separator, str) else 0, "a json separator"
            )
        check_nesting(budget, obj)
        if options.get("default") is not None:
            # The C encoder recurses once more into whatever the hook returns, unseen by the check
            # above: a hook that keeps returning objects that need it again nests without bound in
            # C. The pure-Python encoder nests in Python frames, which the recursion limit bounds.
            return "".join(json.JSONEncoder(**options).iterencode(obj))
        return json.dumps(obj, **options)

    return {"loads": loads, "dumps": dumps, "JSONDecodeError": json.JSONDecodeError}


def _re_members(budget: StepBudget) -> dict[str, object]:
    # Everything but purge (clears the host's shared cache) and template/Scanner (undocumented).
    # sub/subn go through the same guard as Pattern.sub, in builtins.guarded_method.
    from .builtins import guarded_method

    members = _pick(
        "re",
        "compile search match fullmatch findall finditer split escape error Pattern Match "
        "RegexFlag NOFLAG A ASCII I IGNORECASE M MULTILINE S DOTALL X VERBOSE U UNICODE",
    )
    members["sub"] = guarded_method(budget, re, "sub")
    members["subn"] = guarded_method(budget, re, "subn")
    return members


def _random_members(budget: StepBudget) -> dict[str, object]:
    # The module-level functions are methods of one generator shared by every run: seeding it in
    # one run would make the next predictable. Each run gets its own generator. Left out:
    # SystemRandom (os.urandom) and the generator's getstate/setstate.
    import random

    generator = random.Random()
    members: dict[str, object] = {
        name: getattr(generator, name)
        for name in [
            "random",
            "uniform",
            "triangular",
            "randint",
            "randrange",
            "choice",
            "choices",
            "sample",
            "shuffle",
            "seed",
            "gauss",
            "normalvariate",
            "lognormvariate",
            "expovariate",
            "vonmisesvariate",
            "gammavariate",
            "betavariate",
            "paretovariate",
            "weibullvariate",
            "getrandbits",
            "randbytes",
            "binomialvariate",
        ]
    }
    members["Random"] = random.Random
    return members


_PER_RUN: dict[str, Callable[[StepBudget], dict[str, object]]] = {
    "math": _math_members,
    "itertools": _itertools_members,
    "json": _json_members,
    "re": _re_members,
    "random": _random_members,
}

FACADE_NAMES: frozenset[str] = frozenset(_STATIC) | frozenset(_PER_RUN)


def facade(name: str, budget: StepBudget) -> ModuleFacade:
    """A facade for one run. Stateless members are computed once; the object is always new, so
    nothing a run does to its facade (it cannot do anything) could reach another."""
    if name in _PER_RUN:
        return ModuleFacade(name, _PER_RUN[name](budget))
    return ModuleFacade(name, _shared(name))
