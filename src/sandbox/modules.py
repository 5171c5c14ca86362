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
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import GenericAlias, MappingProxyType, UnionType
from typing import Any

from .limits import StepBudget, check_int_bits, check_json_text, check_nesting, check_width
from .policy import SandboxViolation, is_dunder, member_name_violation


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
    # Lookups into the Unicode database.
    "unicodedata": lambda: _pick(
        "unicodedata",
        "lookup name decimal digit numeric category bidirectional combining east_asian_width "
        "mirrored decomposition normalize is_normalized unidata_version",
    ),
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


def _checked_names(*names: object) -> None:
    """Names a class factory is about to turn into attributes: the analyser's attribute rule."""
    for name in names:
        message = member_name_violation(name)
        if message:
            raise SandboxViolation(message)


def namedtuple(
    typename: str, field_names: str | Iterable[str], *, defaults: Iterable[object] | None = None
) -> type:
    """collections.namedtuple with the type and field names checked by the attribute rule (no
    `rename`, which invents private names, and no `module`)."""
    names = field_names.replace(",", " ").split() if isinstance(field_names, str) else list(field_names)
    _checked_names(typename, *names)
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
    _checked_names(*(m if isinstance(m, str) else m[0] for m in members))  # type: ignore[index]
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
    _checked_names(typename, *pairs)
    return typing.TypedDict(typename, pairs, total=total)  # type: ignore[no-any-return, operator]


def NamedTuple(typename: str, fields: Iterable[tuple[str, object]], /) -> type:
    """The functional form, with the field names checked by the attribute rule; the class form is
    typing's, and its fields are checked as the class is made (builtins.admit_class)."""
    pairs = [tuple(pair) for pair in fields]
    _checked_names(typename, *(pair[0] for pair in pairs))
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
            _checked_names(*target.__dict__.get("__annotations__", {}))  # noqa: RUF063 - text, not evaluated
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
    # sub/subn go through the same guard as Pattern.sub, in builtins.guarded_method. Patterns and
    # flags are keys of re's process-wide compile cache: they reach it as plain str, bytes and int
    # (builtins.exact_text), so no key of a run's making can answer a later lookup. The flags are
    # plain ints: RegexFlag keeps every value it is called with for the life of the process.
    from .builtins import exact_text, guarded_method

    checked_sub = guarded_method(budget, re, "sub")
    checked_subn = guarded_method(budget, re, "subn")

    def compile(pattern: Any, flags: Any = 0) -> re.Pattern[Any]:
        return re.compile(exact_text(pattern), operator.index(flags))  # type: ignore[call-overload]

    def search(pattern: Any, string: Any, flags: Any = 0) -> Any:
        return re.search(exact_text(pattern), string, operator.index(flags))  # type: ignore[call-overload]

    def match(pattern: Any, string: Any, flags: Any = 0) -> Any:
        return re.match(exact_text(pattern), string, operator.index(flags))  # type: ignore[call-overload]

    def fullmatch(pattern: Any, string: Any, flags: Any = 0) -> Any:
        return re.fullmatch(exact_text(pattern), string, operator.index(flags))  # type: ignore[call-overload]

    def findall(pattern: Any, string: Any, flags: Any = 0) -> Any:
        return re.findall(exact_text(pattern), string, operator.index(flags))  # type: ignore[call-overload]

    def finditer(pattern: Any, string: Any, flags: Any = 0) -> Any:
        return re.finditer(exact_text(pattern), string, operator.index(flags))  # type: ignore[call-overload]

    def split(pattern: Any, string: Any, maxsplit: Any = 0, flags: Any = 0) -> Any:
        return re.split(exact_text(pattern), string, maxsplit=maxsplit, flags=operator.index(flags))  # type: ignore[call-overload]

    def sub(pattern: Any, repl: Any, string: Any, count: Any = 0, flags: Any = 0) -> Any:
        return checked_sub(exact_text(pattern), repl, string, count=count, flags=operator.index(flags))

    def subn(pattern: Any, repl: Any, string: Any, count: Any = 0, flags: Any = 0) -> Any:
        return checked_subn(exact_text(pattern), repl, string, count=count, flags=operator.index(flags))

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
    return members


def _statistics_members(_budget: StepBudget) -> dict[str, object]:
    # Pure functions, NormalDist and the StatisticsError. NormalDist.samples() without a seed draws
    # from the `random` module's process-wide generator, which the host and every run share: read
    # through cdf(), its draws give its state away. statistics is pointed at a generator of this
    # run's own (super() reaches the method whatever class is handed out, so the module is what is
    # changed).
    import random
    import statistics
    import types

    statistics.random = types.SimpleNamespace(random=random.Random().random, Random=random.Random)  # type: ignore[attr-defined]
    return _pick(
        "statistics",
        "mean fmean geometric_mean harmonic_mean median median_low median_high median_grouped "
        "mode multimode pstdev pvariance stdev variance quantiles correlation covariance "
        "linear_regression NormalDist StatisticsError",
    )


_PER_RUN: dict[str, Callable[[StepBudget], dict[str, object]]] = {
    "statistics": _statistics_members,
    "math": _math_members,
    "itertools": _itertools_members,
    "json": _json_members,
    "re": _re_members,
    "random": _random_members,
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
