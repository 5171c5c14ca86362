"""Read-only facades of the modules a script may import.

A facade exposes a curated public API, not a module: no `__dict__`, no submodules, no path to `sys`,
`os`, `js` or `pyodide`, and no way to assign to it. The tables below say, module by module, what is
left out and why. Objects with state shared between runs (random's generator, decimal's context) are
replaced per run; calls that could allocate without bound or recurse deep in one C call are wrapped
with the guards in limits.py.
"""

from __future__ import annotations

import collections
import enum
import importlib
import itertools
import json
import math
import operator
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import GenericAlias, MappingProxyType, UnionType
from typing import Any

from .limits import (
    StepBudget,
    as_count,
    bounded_decimal_context,
    call,
    char_bytes,
    charge,
    check_bytes,
    check_decimal,
    check_fraction_input,
    check_int_bits,
    check_json_size,
    check_json_text,
    check_nesting,
    check_pow,
    check_rational,
    check_round,
    check_statistics,
    check_width,
    div_ms,
    gcd_ms,
    int_bits,
    mul_ms,
    spend,
    true_length,
)
from .policy import SandboxViolation, is_dunder, refuse_member_names


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
    # The annotation vocabulary, owned by the sandbox: see _typing_members.
    "typing": lambda: _typing_members(),  # noqa: PLW0108 - defined below
    # Types and constructors only. Every member is a C type or constant.
    "datetime": lambda: _pick("datetime", "date time datetime timedelta timezone tzinfo MINYEAR MAXYEAR"),
    # Containers. Left out: abc (a submodule), UserDict/UserList/UserString (wrappers with a
    # public `.data` that is simply the contents — harmless, but unused by evals). namedtuple's
    # field names pass the attribute rule.
    "collections": lambda: {
        **_pick("collections", "Counter OrderedDict defaultdict deque ChainMap"),
        "namedtuple": namedtuple,
    },
    # Constants and capwords. Left out: Formatter, whose get_field walks any attribute named in a
    # format string ("{0.__globals__}"), the very path str.format is guarded against; Template,
    # whose class attribute `flags` is a member of re.RegexFlag, a flag class that keeps every value
    # it is called with (RegexFlag(n) for any n) for the life of the process.
    "string": lambda: _pick(
        "string",
        "ascii_letters ascii_lowercase ascii_uppercase digits hexdigits octdigits punctuation "
        "printable whitespace capwords",
    ),
    # Pure text functions over the user's own strings.
    "textwrap": lambda: _textwrap_members(),  # noqa: PLW0108 - defined below
    # Sequence comparison. Pure Python, so its loops are step-counted. Left out: HtmlDiff, which
    # numbers its tables with a class-wide counter that would tell a run how many came before it.
    "difflib": lambda: _pick(
        "difflib",
        "SequenceMatcher Differ get_close_matches ndiff unified_diff context_diff "
        "restore IS_LINE_JUNK IS_CHARACTER_JUNK diff_bytes",
    ),
}


@dataclass(frozen=True)
class ClassRules:
    """What the facades that take or make classes need of a run: the classes the script made, and
    the check every new class passes before the script gets it (builtins.admit_class)."""

    made: set[type]
    admit: Callable[[type], type]


def namedtuple(
    typename: str, field_names: str | Iterable[str], *, defaults: Iterable[object] | None = None
) -> type:
    """collections.namedtuple with the type and field names checked by the attribute rule (no
    `rename`, which invents private names, and no `module`)."""
    names = field_names.replace(",", " ").split() if isinstance(field_names, str) else list(field_names)
    refuse_member_names(typename, *names)
    return collections.namedtuple(typename, names, defaults=defaults)


def _member_list(names: object) -> list[object]:
    """Enum's functional API takes names as a string, a list of names or pairs, or a mapping;
    copied into a list once, so what is checked is what the enum gets."""
    if isinstance(names, str):
        members: list[object] = list(names.replace(",", " ").split())
    elif isinstance(names, Mapping):
        members = [tuple(pair) for pair in names.items()]
    else:
        members = [item if isinstance(item, str) else tuple(item) for item in names]  # type: ignore[attr-defined]
    refuse_member_names(*(m if isinstance(m, str) else m[0] for m in members))  # type: ignore[index]
    return members


# --- typing: the annotation vocabulary, owned by the sandbox ---------------------------------------
# The real module cannot be handed out. Its aliases forward attribute reads to collections.abc
# (typing.Mapping.register(tuple) changes isinstance for the whole process); every subscription is
# kept in process-wide caches, where one run's objects are compared, with their own __eq__, against
# a later run's; and strings in annotations become ForwardRefs, whose evaluate() runs eval with the
# real builtins (Python 3.14), as do TypeVar bounds. What evals use is kept: subscription for
# annotations, isinstance against the bare aliases, get_origin/get_args, cast, and the class forms
# of NamedTuple, TypedDict, Generic and Protocol.


class _Form:
    """A name of typing's vocabulary (typing.List) or a subscription of it (typing.List[int]):
    immutable, made anew for every subscription, holding nothing but what the script gave it."""

    __slots__ = ("_args", "_check", "_name", "_origin", "_subscriptable")

    def __init__(
        self,
        name: str,
        origin: type | None = None,
        check: type | None = None,
        subscriptable: bool = True,
        args: tuple[object, ...] = (),
    ) -> None:
        # `origin` is the concrete type behind an alias (list for List), `check` what isinstance
        # tests against; neither is handed to the script unless it is a builtin type.
        for slot, value in zip(self.__slots__, (args, check, name, origin, subscriptable), strict=True):
            object.__setattr__(self, slot, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"typing.{self._name} is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"typing.{self._name} is read-only")

    @property
    def __name__(self) -> str:
        return self._name

    def __getitem__(self, params: object) -> _Form:
        if not self._subscriptable or self._args:
            raise TypeError(f"{self!r} is not subscriptable")
        args = params if type(params) is tuple else (params,)
        if self._name == "Optional":
            return _Form("Union", args=(*args, type(None)))
        return _Form(self._name, self._origin, self._check, False, args)

    def __call__(self, *args: object, **kwargs: object) -> object:
        if self._name in _INSTANTIABLE and not self._args and self._origin is not None:
            return self._origin(*args, **kwargs)
        raise TypeError(f"Type {self._name} cannot be instantiated")

    def _checked(self) -> type:
        if self._args:
            raise TypeError("Subscripted generics cannot be used with class and instance checks")
        if self._check is None:
            raise TypeError(f"typing.{self._name} cannot be used with isinstance()")
        return self._check

    def __instancecheck__(self, obj: object) -> bool:
        return isinstance(obj, self._checked())

    def __subclasscheck__(self, cls: type) -> bool:
        return issubclass(cls, self._checked())

    def __mro_entries__(self, bases: tuple[object, ...]) -> tuple[type, ...]:
        if self._origin is not None:
            return (self._origin,)
        if self._name == "Any":
            return (object,)
        raise TypeError(f"typing.{self._name} cannot be subclassed in the sandbox: subclass a concrete type")

    def __or__(self, other: object) -> _Form:
        return _Form("Union", args=(self, other))

    def __ror__(self, other: object) -> _Form:
        return _Form("Union", args=(other, self))

    def __eq__(self, other: object) -> bool:
        return type(other) is _Form and (self._name, self._args) == (other._name, other._args)

    def __hash__(self) -> int:
        return hash((self._name, self._args))

    def __repr__(self) -> str:
        if not self._args:
            return f"typing.{self._name}"
        return f"typing.{self._name}[{', '.join(map(_type_repr, self._args))}]"


def _type_repr(value: object) -> str:
    if value is Ellipsis:
        return "..."
    if issubclass(type(value), type):
        return value.__qualname__  # type: ignore[attr-defined]
    if type(value) is list:
        return f"[{', '.join(map(_type_repr, value))}]"
    return repr(value)


_INSTANTIABLE = frozenset({"Counter", "Deque", "DefaultDict", "OrderedDict"})


class TypeVar:
    """A type variable, as a name only: the real one keeps its bound and constraints as
    ForwardRefs, and 3.14 hands out functions that evaluate them."""

    __slots__ = ("__name__",)

    def __init__(self, name: str, *constraints: object, **options: object) -> None:
        if type(name) is not str:
            raise TypeError("TypeVar name must be a string")
        object.__setattr__(self, "__name__", name)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("TypeVar is read-only")

    def __repr__(self) -> str:
        return f"~{self.__name__}"

    def __or__(self, other: object) -> _Form:
        return _Form("Union", args=(self, other))

    def __ror__(self, other: object) -> _Form:
        return _Form("Union", args=(other, self))


class NewType:
    """NewType("UserId", int): calling it returns its argument, as typing's does."""

    __slots__ = ("__name__",)

    def __init__(self, name: str, tp: object) -> None:
        if type(name) is not str:
            raise TypeError("NewType name must be a string")
        object.__setattr__(self, "__name__", name)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("NewType is read-only")

    def __call__(self, value: object) -> object:
        return value

    def __repr__(self) -> str:
        return self.__name__


class Generic:
    """Base of the script's generic classes: `Box[int]` is Box, with nothing cached."""

    __slots__ = ()

    def __class_getitem__(cls, params: object) -> type:
        return cls


class Protocol:
    """Base of the script's protocols: nominal, as runtime_checkable is left out."""

    __slots__ = ()

    def __class_getitem__(cls, params: object) -> type:
        return cls


# The sandbox's own classes that a script's class may derive from (builtins.admit_class).
SANDBOX_BASES = frozenset({Generic, Protocol})


def TypedDict(typename: str, fields: Mapping[str, object], /, *, total: bool = True) -> type:
    """The functional form, with the keys checked by the attribute rule; the class form is typing's."""
    pairs = dict(fields.items())
    refuse_member_names(typename, *pairs)
    return typing.TypedDict(typename, pairs, total=total)  # type: ignore[no-any-return, operator]


def NamedTuple(typename: str, fields: Iterable[tuple[str, object]], /) -> type:
    """The functional form, with the field names checked by the attribute rule; the class form is
    typing's, and its fields are checked as the class is made (builtins.admit_class)."""
    pairs = [tuple(pair) for pair in fields]
    refuse_member_names(typename, *(pair[0] for pair in pairs))
    return typing.NamedTuple(typename, pairs)  # type: ignore[arg-type, no-any-return]


# Subclassing them (class P(NamedTuple): ...) goes through typing's own class machinery: the bases
# typing's own functions stand for.
_TYPED_DICT_BASES = typing.TypedDict.__mro_entries__((typing.TypedDict,))  # type: ignore[attr-defined]
_NAMED_TUPLE_BASES = typing.NamedTuple.__mro_entries__((typing.NamedTuple,))  # type: ignore[attr-defined]
TypedDict.__mro_entries__ = lambda bases: _TYPED_DICT_BASES  # type: ignore[attr-defined]
NamedTuple.__mro_entries__ = lambda bases: _NAMED_TUPLE_BASES  # type: ignore[attr-defined]


def _typing_members() -> dict[str, object]:
    import collections.abc as abcs

    aliases: dict[str, tuple[type | None, type | None]] = {
        "List": (list, list), "Dict": (dict, dict), "Tuple": (tuple, tuple), "Set": (set, set),
        "FrozenSet": (frozenset, frozenset), "Deque": (collections.deque, collections.deque),
        "DefaultDict": (collections.defaultdict, collections.defaultdict),
        "OrderedDict": (collections.OrderedDict, collections.OrderedDict),
        "Counter": (collections.Counter, collections.Counter),
        **{name: (None, getattr(abcs, name)) for name in (
            "Callable", "Iterable", "Iterator", "Sequence", "Mapping", "MutableMapping",
            "MutableSequence", "Generator", "Hashable", "Sized", "Collection", "Container")},
    }  # fmt: skip
    members: dict[str, object] = {
        name: _Form(name, origin, check) for name, (origin, check) in aliases.items()
    }
    for name in ("Optional", "Union", "Literal", "Final", "ClassVar", "Annotated"):
        members[name] = _Form(name)
    for name in ("Any", "NoReturn", "Never", "Self"):
        members[name] = _Form(name, subscriptable=False)

    def get_origin(tp: object) -> object:
        if type(tp) is _Form:
            if tp._origin is not None:
                return tp._origin
            return members[tp._name] if tp._args or tp._check is not None else None
        if type(tp) is GenericAlias:
            return tp.__origin__
        if type(tp) is UnionType:
            return members["Union"]
        return None

    def get_args(tp: object) -> tuple[object, ...]:
        if type(tp) is _Form:
            return tp._args
        if type(tp) in (GenericAlias, UnionType):
            return tp.__args__  # type: ignore[attr-defined, no-any-return]
        return ()

    def cast(typ: object, value: object) -> object:
        return value

    def overload(func: object) -> Callable[..., object]:
        # The real one records every overload in a process-wide registry.
        def overloaded(*args: object, **kwargs: object) -> object:
            raise NotImplementedError("an @overload-decorated function is not meant to be called")

        return overloaded

    members.update(
        TypeVar=TypeVar, NewType=NewType, Generic=Generic, Protocol=Protocol,
        TypedDict=TypedDict, NamedTuple=NamedTuple, get_origin=get_origin, get_args=get_args,
        cast=cast, overload=overload, TYPE_CHECKING=False,
    )  # fmt: skip
    return members


def _enum_members(classes: ClassRules) -> dict[str, object]:
    # Enum bases whose functional API checks member names, and helpers. Left out: EnumType/EnumMeta
    # (the metaclass builds classes from a namespace), the private _EnumDict, and pickle helpers.
    # Made for each run: the check below needs the run's classes.
    class GuardedEnumType(enum.EnumType):
        """Enum's metaclass, with the functional API (`Enum("E", names)`) applying the attribute
        rule to every member name (it builds a class from data, where a class statement would have
        been checked by the analyser), and no `__new__` of the script's: enum writes _value_,
        _name_ and __objclass__ onto whatever a member's __new__ returns, a host object included."""

        def __new__(mcs, name: str, bases: tuple[type, ...], namespace: Any, **options: Any) -> type:
            scripted = (c for base in bases for c in base.__mro__ if c in classes.made)
            if "__new__" in namespace or any("__new__" in vars(c) for c in scripted):
                raise SandboxViolation("Blocked: an enum or its mixins may not define __new__ in the sandbox")
            return super().__new__(mcs, name, bases, namespace, **options)

        def __call__(cls, value: Any, *rest: Any, **options: Any) -> Any:
            if cls._member_map_ or not (rest or options):
                return super().__call__(value, *rest, **options)  # a lookup: Color(1)
            if len(rest) != 1 or set(options) - {"start"}:
                raise TypeError("enum's functional API takes a class name, the members and start=")
            if type(value) is not str or is_dunder(value):
                raise SandboxViolation(f"Blocked: enum class name {value!r} not allowed")
            return super().__call__(value, _member_list(rest[0]), **options)

    def guarded(base: type) -> type:
        namespace = GuardedEnumType.__prepare__(base.__name__, (base,))
        namespace["__module__"] = "enum"
        namespace["__qualname__"] = base.__name__
        return GuardedEnumType(base.__name__, (base,), namespace)

    bases = (enum.Enum, enum.IntEnum, enum.StrEnum, enum.Flag, enum.IntFlag)
    members: dict[str, object] = {base.__name__: guarded(base) for base in bases}
    members.update(auto=enum.auto, unique=enum.unique)
    return members


def _dataclasses_members(classes: ClassRules) -> dict[str, object]:
    # Class decorators and helpers over the script's own classes. Left out: make_dataclass (takes a
    # `namespace` of arbitrary class attributes, the route to special methods the analyser refuses).
    import dataclasses

    members = _pick(
        "dataclasses", "field fields replace is_dataclass FrozenInstanceError InitVar MISSING KW_ONLY"
    )

    # asdict and astuple, without the deep copy: dataclasses' own pass every other value to
    # copy.deepcopy, whose copy protocol reads __reduce_ex__ from the object (an instance's
    # __dict__ entry included) and then writes, unchecked, onto whatever object that names.
    def plain(value: Any, factory: Callable[[Any], Any], as_dict: bool) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            items = [
                (f.name, plain(getattr(value, f.name), factory, as_dict)) for f in dataclasses.fields(value)
            ]
            return factory(items) if as_dict else factory([item for _, item in items])
        if type(value) in (list, tuple):
            return type(value)(plain(item, factory, as_dict) for item in value)
        if type(value) is dict:
            return {plain(k, factory, as_dict): plain(v, factory, as_dict) for k, v in value.items()}
        return value

    def require_instance(obj: Any, name: str) -> None:
        if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
            raise TypeError(f"{name}() should be called on dataclass instances")

    def asdict(obj: Any, *, dict_factory: Callable[[Any], Any] = dict) -> Any:
        require_instance(obj, "asdict")
        return plain(obj, dict_factory, True)

    def astuple(obj: Any, *, tuple_factory: Callable[[Any], Any] = tuple) -> Any:
        require_instance(obj, "astuple")
        return plain(obj, tuple_factory, False)

    members.update(asdict=asdict, astuple=astuple)

    def dataclass(cls: Any = None, /, **options: Any) -> Any:
        def decorate(target: Any) -> type:
            # Plain classes only: a TypedDict or NamedTuple class keeps typing's ForwardRefs in its
            # annotations, and fields() would hand them out.
            if not (type(target) is type and target in classes.made):
                raise TypeError("dataclass() applies only to plain classes defined in the script")
            # Every field is read from the class (its default) and, later, from instances (asdict,
            # match): the names pass the rule before dataclass touches the class. The script's
            # annotations are text (runner.compile_code), so they are a plain dict here.
            refuse_member_names(*target.__dict__.get("__annotations__", {}))  # noqa: RUF063 - text, not evaluated
            return classes.admit(dataclasses.dataclass(target, **options))  # slots=True: a new class

        return decorate if cls is None else decorate(cls)

    members["dataclass"] = dataclass
    return members


def _functools_members(classes: ClassRules) -> dict[str, object]:
    # Left out: singledispatch (its register reads type hints, which evaluates strings),
    # WRAPPER_ASSIGNMENTS (lists of dunder names), update_wrapper/wraps (copy __dict__,
    # __wrapped__ and __module__ between objects). total_ordering writes methods onto the class it
    # is given, so it takes the script's classes only.
    import functools

    members = _pick("functools", "reduce partial lru_cache cache cached_property cmp_to_key")

    def total_ordering(cls: Any) -> Any:
        if not (issubclass(type(cls), type) and cls in classes.made):
            raise TypeError("total_ordering() applies only to classes defined in the script")
        return functools.total_ordering(cls)

    members["total_ordering"] = total_ordering
    return members


def _textwrap_members() -> dict[str, object]:
    # TextWrapper's class attribute unicode_whitespace_trans is a dict every wrapper reads: a run
    # that wrote to it would change how every later run wraps. It is frozen in place, once.
    import textwrap

    trans = textwrap.TextWrapper.unicode_whitespace_trans
    if type(trans) is dict:
        textwrap.TextWrapper.unicode_whitespace_trans = MappingProxyType(trans)  # type: ignore[assignment]
    return _pick("textwrap", "wrap fill shorten dedent indent TextWrapper")


_static_members: dict[str, MappingProxyType[str, object]] = {}


def _shared(name: str) -> MappingProxyType[str, object]:
    if name not in _static_members:
        _static_members[name] = MappingProxyType(_STATIC[name]())
    return _static_members[name]


# --- Modules with per-run members: built for each run that imports them -------------------------


def _math_members(budget: StepBudget) -> dict[str, object]:
    # Pure functions and constants, but some build or reduce integers of any size in one C call:
    # their results are measured against the memory headroom and their running time against the
    # steps left (limits.py's integer model), and their counts are read through operator.index.
    members = {n: getattr(math, n) for n in dir(math) if not n.startswith("_")}

    def factorial(n: int) -> int:
        count = as_count(n)
        if count is not None and count > 2:
            _check_product(budget, _log2_factorial(count), "math.factorial")
        return math.factorial(count if count is not None else n)

    def comb(n: int, k: int) -> int:
        total, chosen = as_count(n), as_count(k)
        if total is not None and chosen is not None and 0 < chosen < total:
            bits = _log2_factorial(total) - _log2_factorial(chosen) - _log2_factorial(total - chosen)
            check_int_bits(budget, bits, "math.comb")
            # Its divisions make it slower than a product of the same size (measured).
            charge(budget, _COMB_MS_AT_1E5_BITS * (bits / 1e5) ** 1.7, "math.comb")
        return math.comb(n if total is None else total, k if chosen is None else chosen)

    def perm(n: int, k: int | None = None) -> int:
        total = as_count(n)
        chosen = total if k is None else as_count(k)
        if total is not None and chosen is not None and 0 < chosen <= total:
            bits = _log2_factorial(total) - _log2_factorial(total - chosen)
            _check_product(budget, bits, "math.perm")
        return math.perm(n if total is None else total, k if chosen is None or k is None else chosen)

    def prod(iterable: Iterable[object], *, start: object = 1) -> object:
        items = [start, *iterable]
        spend(budget, len(items) // 16, "math.prod")
        numbers = [int_bits(x) for x in items if isinstance(x, int)]
        sequences = [x for x in items if isinstance(x, (str, bytes, bytearray, list, tuple))]
        if sequences:
            # A sequence in the product is repeated by every integer in it: ['ab', 10**9].
            factor = sum(math.log2(abs(x)) for x in items if isinstance(x, int) and x)
            check_bytes(budget, (true_length(sequences[0]) or 0) * 8 * 2.0 ** min(factor, 64), "math.prod")
        else:
            check_int_bits(budget, sum(numbers), "math.prod")
            running, ms = 0, 0.0
            for bits in numbers:
                ms, running = ms + mul_ms(running, bits), running + bits
            charge(budget, ms, "math.prod")
        return math.prod(items[1:], start=start)

    def gcd(*integers: int) -> int:
        _check_reduction(budget, integers, "math.gcd", grows=False)
        return math.gcd(*integers)

    def lcm(*integers: int) -> int:
        _check_reduction(budget, integers, "math.lcm", grows=True)
        return math.lcm(*integers)

    def isqrt(n: int) -> int:
        if isinstance(n, int):
            bits = int_bits(n)
            charge(budget, 1.5 * mul_ms(bits / 2, bits / 2), "math.isqrt")
        return math.isqrt(n)

    def sumprod(p: Iterable[object], q: Iterable[object]) -> object:
        left, right = list(p), list(q)
        spend(budget, len(left) // 16, "math.sumprod")
        pairs = [
            (int_bits(a), int_bits(b))
            for a, b in zip(left, right, strict=False)
            if isinstance(a, int) and isinstance(b, int)
        ]
        check_int_bits(budget, max((a + b for a, b in pairs), default=0) + 64, "math.sumprod")
        charge(budget, sum(mul_ms(a, b) for a, b in pairs), "math.sumprod")
        return math.sumprod(left, right)

    members.update(
        factorial=factorial, comb=comb, perm=perm, prod=prod, gcd=gcd, lcm=lcm, isqrt=isqrt, sumprod=sumprod
    )
    return members


# math.comb(n, n // 2) with a result of 10**5 bits, in Pyodide (about twice CPython's 179 ms).
_COMB_MS_AT_1E5_BITS = 400.0


def _log2_factorial(n: int) -> float:
    return math.lgamma(n + 1) / math.log(2)


def _check_product(budget: StepBudget, bits: float, what: str) -> None:
    """factorial and perm multiply by binary splitting: about three multiplications of halves of
    the result (measured: factorial(10**5) takes 255 ms in Pyodide)."""
    check_int_bits(budget, bits, what)
    charge(budget, 3 * mul_ms(bits / 2, bits / 2), what)


def _check_reduction(budget: StepBudget, integers: tuple[object, ...], what: str, grows: bool) -> None:
    """gcd and lcm fold their arguments left to right: a gcd (quadratic) at each one, and for lcm
    a multiplication and a division of a result that grows by each argument."""
    spend(budget, len(integers) // 16, what)
    running, ms = 0, 0.0
    for value in integers:
        if not isinstance(value, int):
            return  # math refuses it
        bits = int_bits(value)
        ms += gcd_ms(max(running, bits), min(running, bits) if running else bits)
        if grows:
            ms += mul_ms(running, bits) + div_ms(running + bits, bits)
            running += bits
        else:
            running = max(running, bits)
    if grows:
        check_int_bits(budget, running, what)
    charge(budget, ms, what)


def counted(items: Iterable[Any]) -> Iterator[Any]:
    """Hand out a generator rather than a C iterator: every item it yields is a step (and a look at
    memory) whoever consumes it, Python or C (list(), sum(), max()); and type() of it is not an
    unguarded class the script could call. It must live outside the guards' modules, whose code
    the step count leaves out."""
    yield from items


def _itertools_members(budget: StepBudget) -> dict[str, object]:
    # Every iterator is handed out wrapped by `counted`: a C consumer (list(), max(), set()) of
    # permutations(range(12)), chain(*[s] * 1000) or accumulate over strings would otherwise run
    # for minutes, or fill memory, inside one C call. Arguments that size a C allocation up front
    # (product's copied pools, batched's tuple, tee's copies, the r of the combinatorics) are
    # measured first and passed on as the plain ints measured.
    members: dict[str, object] = {
        name: _counting(getattr(itertools, name))
        for name in dir(itertools)
        if not name.startswith("_") and isinstance(getattr(itertools, name), type)
    }

    def product(*iterables: Iterable[object], repeat: int = 1) -> Iterator[tuple[object, ...]]:
        pools = [tuple(pool) for pool in iterables]
        times = as_count(repeat)
        if times is not None:
            check_bytes(budget, sum(len(p) for p in pools) * times * 8, "itertools.product")
        return counted(itertools.product(*pools, repeat=repeat if times is None else times))

    def _sized(name: str, position: int, item_bytes: int) -> Callable[..., Iterator[Any]]:
        real = getattr(itertools, name)

        def call(*args: Any, **kwargs: Any) -> Iterator[Any]:
            arguments = list(args)
            keyword = {"batched": "n", "tee": "n"}.get(name, "r")
            if len(arguments) > position:
                arguments[position] = size = as_count(arguments[position])
            elif keyword in kwargs:
                kwargs[keyword] = size = as_count(kwargs[keyword])
            else:
                size = None
            if size is not None:
                check_bytes(budget, size * item_bytes, f"itertools.{name}")
            result = real(*arguments, **kwargs)
            return result if name == "tee" else counted(result)  # tee's copies read a counted source

        call.__name__ = call.__qualname__ = name
        call.__doc__ = real.__doc__
        return call

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

    members.update(
        product=product,
        count=count,
        cycle=cycle,
        repeat=repeat,
        # A tuple of n slots per batch, r indices and r cycles, n tee objects: allocated at once.
        batched=_sized("batched", 1, 8),
        tee=_sized("tee", 1, 96),
        permutations=_sized("permutations", 1, 24),
        combinations=_sized("combinations", 1, 16),
        combinations_with_replacement=_sized("combinations_with_replacement", 1, 16),
    )
    return members


def _counting(kind: type) -> Callable[..., Iterator[Any]]:
    """An itertools class as a function whose iterators are `counted`; `chain.from_iterable` too."""

    def call(*args: Any, **kwargs: Any) -> Iterator[Any]:
        return counted(kind(*args, **kwargs))

    call.__name__ = call.__qualname__ = kind.__name__
    call.__doc__ = kind.__doc__
    if hasattr(kind, "from_iterable"):
        call.from_iterable = lambda iterable: counted(kind.from_iterable(iterable))  # type: ignore[attr-defined]
    return call


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
        check_json_size(budget, s)
        return call(json.loads, s, **options)

    def dumps(obj: object, **options: Any) -> str:
        if "cls" in options:
            raise TypeError("json.dumps(cls=...) is not available in the sandbox")
        indent = options.get("indent")
        if isinstance(indent, str):
            check_width(budget, (true_length(indent) or 0) * limits.nesting_depth, "a json indent")
        elif indent is not None:
            options["indent"] = as_count(indent)
            check_width(budget, options["indent"], "a json indent")
        check_nesting(budget, obj)
        # The encoder written in Python (what iterencode uses), not the C one json.dumps takes: its
        # chunks are steps and looks at memory, so `dumps([s] * 1000)` or a long separator between
        # a million items is stopped as it grows, not after one C call built it.
        return "".join(json.JSONEncoder(**options).iterencode(obj))

    return {"loads": loads, "dumps": dumps, "JSONDecodeError": json.JSONDecodeError}


def _re_members(budget: StepBudget) -> dict[str, object]:
    # Everything but purge (clears the host's shared cache) and template/Scanner (undocumented).
    # sub, subn, findall, finditer and split go through the same guards as the Pattern methods, in
    # builtins.guarded_method. Patterns and
    # flags are keys of re's process-wide compile cache: they reach it as plain str, bytes and int
    # (builtins.exact_text), so no key of a run's making can answer a later lookup. The flags are
    # plain ints: RegexFlag keeps every value it is called with for the life of the process.
    from .builtins import exact_text, guarded_method

    checked = {
        name: guarded_method(budget, re, name) for name in ("sub", "subn", "findall", "finditer", "split")
    }

    def compile(pattern: Any, flags: Any = 0) -> re.Pattern[Any]:
        return re.compile(exact_text(pattern), operator.index(flags))  # type: ignore[call-overload]

    def search(pattern: Any, string: Any, flags: Any = 0) -> Any:
        return re.search(exact_text(pattern), string, operator.index(flags))  # type: ignore[call-overload]

    def match(pattern: Any, string: Any, flags: Any = 0) -> Any:
        return re.match(exact_text(pattern), string, operator.index(flags))  # type: ignore[call-overload]

    def fullmatch(pattern: Any, string: Any, flags: Any = 0) -> Any:
        return re.fullmatch(exact_text(pattern), string, operator.index(flags))  # type: ignore[call-overload]

    def findall(pattern: Any, string: Any, flags: Any = 0) -> Any:
        return checked["findall"](exact_text(pattern), string, flags=operator.index(flags))

    def finditer(pattern: Any, string: Any, flags: Any = 0) -> Any:
        return checked["finditer"](exact_text(pattern), string, flags=operator.index(flags))

    def split(pattern: Any, string: Any, maxsplit: Any = 0, flags: Any = 0) -> Any:
        return checked["split"](exact_text(pattern), string, maxsplit=maxsplit, flags=operator.index(flags))

    def sub(pattern: Any, repl: Any, string: Any, count: Any = 0, flags: Any = 0) -> Any:
        return checked["sub"](exact_text(pattern), repl, string, count=count, flags=operator.index(flags))

    def subn(pattern: Any, repl: Any, string: Any, count: Any = 0, flags: Any = 0) -> Any:
        return checked["subn"](exact_text(pattern), repl, string, count=count, flags=operator.index(flags))

    members: dict[str, object] = {
        "compile": compile, "search": search, "match": match, "fullmatch": fullmatch,
        "findall": findall, "finditer": finditer, "split": split, "sub": sub, "subn": subn,
    }  # fmt: skip
    members.update(_pick("re", "escape error Pattern Match"))
    flags = "NOFLAG A ASCII I IGNORECASE M MULTILINE S DOTALL X VERBOSE U UNICODE"
    members.update({name: int(getattr(re, name)) for name in flags.split()})
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

    def getrandbits(k: int) -> int:
        bits = as_count(k)
        check_int_bits(budget, bits or 0, "random.getrandbits")
        return generator.getrandbits(k if bits is None else bits)

    def randbytes(n: int) -> bytes:
        size = as_count(n)
        check_bytes(budget, size or 0, "random.randbytes")
        return generator.randbytes(n if size is None else size)

    members.update(getrandbits=getrandbits, randbytes=randbytes)
    return members


def _unicodedata_members(budget: StepBudget) -> dict[str, object]:
    # Lookups into the Unicode database, and normalize: a compatibility decomposition turns one
    # character into as many as 18 (U+FDFA), measured before it runs.
    import unicodedata

    members = _pick(
        "unicodedata",
        "lookup name decimal digit numeric category bidirectional combining east_asian_width "
        "mirrored decomposition is_normalized unidata_version",
    )

    def normalize(form: str, unistr: str) -> str:
        if isinstance(form, str) and isinstance(unistr, str) and not unicodedata.is_normalized(form, unistr):
            # Up to 18 characters from one, each held in a 4-byte buffer while decomposed and again
            # while composed, then in the result (measured: 110 MB for a million U+FDFA).
            growth = 18 if form in ("NFKD", "NFKC") else 4
            size = (true_length(unistr) or 0) * growth * (8 + max(2, char_bytes(unistr)))
            check_bytes(budget, size, "unicodedata.normalize")
        return unicodedata.normalize(form, unistr)

    members["normalize"] = normalize
    return members


def _decimal_members(budget: StepBudget) -> dict[str, object]:
    # Left out: getcontext, setcontext, localcontext and the shared contexts (Default, Basic,
    # Extended): the thread's decimal context is shared by every run and by the host, so one run
    # could change the precision of the next. Context is left out too: a context with a huge
    # precision turns one arithmetic call into an unbounded computation.
    # A run computes in limits.bounded_decimal_context (limits.bound_run restores the host's), and
    # Decimal is a stand-in whose constructor holds exact values to the same bounds.
    import decimal

    from .builtins import public_attributes, stand_in_class

    members = _pick(
        "decimal",
        "DecimalException InvalidOperation DivisionByZero Inexact Rounded Overflow "
        "Underflow Subnormal Clamped FloatOperation ROUND_UP ROUND_DOWN ROUND_CEILING "
        "ROUND_FLOOR ROUND_HALF_UP ROUND_HALF_DOWN ROUND_HALF_EVEN ROUND_05UP",
    )
    decimal.setcontext(bounded_decimal_context())

    def construct(value: object = "0", context: object = None) -> object:
        check_decimal(value)
        result = decimal.Decimal(value) if context is None else decimal.Decimal(value, context)  # type: ignore[arg-type]
        check_decimal(result)
        return result

    def from_number(number: object) -> object:
        check_decimal(number)
        return decimal.Decimal.from_number(number)  # type: ignore[attr-defined]

    stand_in = stand_in_class(decimal.Decimal, construct, public_attributes(decimal.Decimal))
    if hasattr(decimal.Decimal, "from_number"):  # Python 3.14
        type.__setattr__(stand_in, "from_number", staticmethod(from_number))
    members["Decimal"] = stand_in
    return members


_FRACTION_OPERATORS = {
    "__add__": "Add", "__sub__": "Sub", "__mul__": "Mult", "__truediv__": "Div",
    "__floordiv__": "FloorDiv", "__mod__": "Mod", "__divmod__": "FloorDiv",
    "__lt__": "Compare", "__le__": "Compare", "__gt__": "Compare", "__ge__": "Compare",
}  # fmt: skip


def _fractions_members(budget: StepBudget) -> dict[str, object]:
    # Fraction is written in Python, but every operation reduces its result with math.gcd, which
    # is quadratic in C: x + Fraction(1, x.denominator + 1) doubles the denominator's size, and
    # twenty such additions make one gcd take seconds. The run's Fraction is a subclass whose
    # constructor and operators are measured (limits.check_rational, check_pow, check_round)
    # before they run, and whose results are its own instances.
    from fractions import Fraction as Real

    def own(value: object) -> object:
        if type(value) is Real:
            numerator, denominator = value.as_integer_ratio()  # type: ignore[attr-defined]
            return Fraction._from_coprime_ints(numerator, denominator)
        if type(value) is tuple:
            return tuple(own(item) for item in value)  # divmod
        return value

    class Fraction(Real):
        __slots__ = ()
        __doc__ = Real.__doc__

        def __new__(cls, numerator: Any = 0, denominator: Any = None) -> Any:
            check_fraction_input(budget, numerator, denominator)
            return super().__new__(cls, numerator, denominator)

        def __pow__(self, other: Any, *modulo: Any) -> Any:
            check_pow(budget, self, other)
            return own(Real.__pow__(self, other, *modulo))

        def __rpow__(self, other: Any, *modulo: Any) -> Any:
            check_pow(budget, other, self)
            return own(Real.__rpow__(self, other, *modulo))

        def __round__(self, ndigits: Any = None) -> Any:
            places = None if ndigits is None else as_count(ndigits)
            if places is not None:
                check_round(budget, self, places)
            return own(Real.__round__(self, ndigits if places is None else places))

        def __format__(self, format_spec: str) -> str:
            # Precision digits become a power of ten in Fraction's own formatting code.
            digits = [int(run) for run in re.findall(r"\d+", format_spec[:256]) if len(run) < 13]
            check_round(budget, self, max(digits, default=0))
            return Real.__format__(self, format_spec)

        def limit_denominator(self, max_denominator: int = 1000000) -> Any:
            numerator, denominator = self.as_integer_ratio()
            charge(budget, gcd_ms(int_bits(numerator), int_bits(denominator)), "Fraction.limit_denominator")
            return own(Real.limit_denominator(self, max_denominator))

    def priced(name: str, op: str, reflected: bool) -> Callable[..., Any]:
        real = getattr(Real, name)

        def method(self: Any, other: Any) -> Any:
            check_rational(budget, op, *((other, self) if reflected else (self, other)))
            return own(real(self, other))

        method.__name__ = method.__qualname__ = name
        return method

    for name, op in _FRACTION_OPERATORS.items():
        type.__setattr__(Fraction, name, priced(name, op, reflected=False))
        mirrored = "__r" + name[2:]
        if op != "Compare":
            type.__setattr__(Fraction, mirrored, priced(mirrored, op, reflected=True))
    for name in ("__floor__", "__ceil__", "__trunc__", "__int__"):
        type.__setattr__(Fraction, name, _integral_part(budget, getattr(Real, name)))
    for name in ("__neg__", "__pos__", "__abs__"):
        real = getattr(Real, name)
        type.__setattr__(Fraction, name, lambda self, real=real: own(real(self)))
    return {"Fraction": Fraction}


def _integral_part(budget: StepBudget, real: Callable[[Any], int]) -> Callable[[Any], int]:
    def method(self: Any) -> int:
        numerator, denominator = self.as_integer_ratio()
        charge(budget, div_ms(int_bits(numerator), int_bits(denominator)), "a fraction's integer part")
        return real(self)

    return method


def _statistics_members(budget: StepBudget) -> dict[str, object]:
    # Pure functions, NormalDist and the StatisticsError. NormalDist.samples() without a seed draws
    # from the `random` module's process-wide generator, which the host and every run share: read
    # through cdf(), its draws give its state away. statistics is pointed at a generator of this
    # run's own (super() reaches the method whatever class is handed out, so the module is what is
    # changed).
    # The functions are Python, but they do exact arithmetic in C on the script's numbers, unpriced
    # by the guards the script's own code meets: variance squares every item (a thousand
    # million-bit integers: minutes), and the sum of fractions with coprime denominators grows
    # with every one. Each call is priced from its data first (limits.check_statistics).
    import random
    import statistics

    statistics.random = types.SimpleNamespace(random=random.Random().random, Random=random.Random)  # type: ignore[attr-defined]
    members = _pick(
        "statistics",
        "mean fmean geometric_mean harmonic_mean median median_low median_high median_grouped "
        "mode multimode pstdev pvariance stdev variance quantiles correlation covariance "
        "linear_regression NormalDist StatisticsError",
    )
    for name, function in list(members.items()):
        if isinstance(function, types.FunctionType):
            members[name] = _priced(budget, function, 2 if name in _TWO_DATA else 1)
    return members


_TWO_DATA = frozenset({"correlation", "covariance", "linear_regression", "fmean", "harmonic_mean"})


def _priced(budget: StepBudget, function: Callable[..., Any], data_args: int) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        data = [
            list(arg) if i < data_args and not isinstance(arg, (str, bytes)) else arg
            for i, arg in enumerate(args)
        ]
        for items in data[:data_args]:
            if isinstance(items, list):
                check_statistics(budget, items)
        return function(*data, **kwargs)

    call.__name__ = call.__qualname__ = function.__name__
    call.__doc__ = function.__doc__
    return call


_PER_RUN: dict[str, Callable[[StepBudget], dict[str, object]]] = {
    "math": _math_members,
    "itertools": _itertools_members,
    "json": _json_members,
    "re": _re_members,
    "random": _random_members,
    "unicodedata": _unicodedata_members,
    "decimal": _decimal_members,
    "statistics": _statistics_members,
    "fractions": _fractions_members,
}

_WITH_CLASSES: dict[str, Callable[[ClassRules], dict[str, object]]] = {
    "enum": _enum_members,
    "dataclasses": _dataclasses_members,
    "functools": _functools_members,
}

FACADE_NAMES: frozenset[str] = frozenset(_STATIC) | frozenset(_PER_RUN) | frozenset(_WITH_CLASSES)


def forget_script_keys() -> None:
    """After every run, once monitoring is off: drop the entries that a run put in a host cache
    under a key of its own making. datetime's strptime keeps compiled formats keyed by the format
    it was given, a str subclass included, whose __eq__ would run at a later run's lookup."""
    strptime = sys.modules.get("_strptime")
    cache: dict[Any, Any] | None = getattr(strptime, "_regex_cache", None)
    if cache and any(type(key) is not str for key in cache):
        kept = [(key, value) for key, value in cache.items() if type(key) is str]
        cache.clear()
        cache.update(kept)


def facade(name: str, budget: StepBudget, classes: ClassRules) -> ModuleFacade:
    """A facade for one run. Stateless members are computed once; the object is always new, so
    nothing a run does to its facade (it cannot do anything) could reach another."""
    if name in _PER_RUN:
        return ModuleFacade(name, _PER_RUN[name](budget))
    if name in _WITH_CLASSES:
        return ModuleFacade(name, _WITH_CLASSES[name](classes))
    return ModuleFacade(name, _shared(name))
