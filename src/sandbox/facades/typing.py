"""typing: the annotation vocabulary, owned by the sandbox.

The real module cannot be handed out. Its aliases forward attribute reads to collections.abc
(typing.Mapping.register(tuple) changes isinstance for the whole process); every subscription is
kept in process-wide caches, where one run's objects are compared, with their own __eq__, against
a later run's; and strings in annotations become ForwardRefs, whose evaluate() runs eval with the
real builtins (Python 3.14), as do TypeVar bounds. What evals use is kept: subscription for
annotations, isinstance against the bare aliases, get_origin/get_args, cast, and the class forms
of NamedTuple, TypedDict, Generic and Protocol.
"""

from __future__ import annotations

import collections
import functools
import typing
from collections.abc import Callable, Iterable
from types import GenericAlias, MappingProxyType, UnionType

from ..ownership import exact_str
from ..policy import refuse_member_names, refuse_unwritten_names
from . import FacadeRun


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
            # Not its repr: that is the text of whatever the script subscripted it with.
            raise TypeError(f"typing.{self._name}{'[...]' if self._args else ''} is not subscriptable")
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


def TypedDict(typename: object, fields: object, /, *, total: object = True) -> type:
    """The functional form. Only names reach typing: the keys, copied to exact strs and checked
    by the member rule. The field types are the script's values, and typing's type check compares
    them with its own objects (a script's `__eq__` would receive them); the types are not
    readable in the sandbox anyway (`__annotations__`), so typing is given Any for each."""
    if type(fields) is not dict or type(total) is not bool:
        raise TypeError("TypedDict(name, {field: type, ...}, total=True|False) takes a dict and a bool")
    name = exact_str(typename, "typename")
    keys = [exact_str(key, "a field name") for key in fields]
    refuse_member_names(name, *keys)
    return typing.TypedDict(name, dict.fromkeys(keys, typing.Any), total=total)  # type: ignore[no-any-return, operator]


def _named_tuple(run: FacadeRun) -> Callable[..., type]:
    def NamedTuple(typename: object, fields: object, /) -> type:
        """The functional form, as collections.namedtuple with the names copied to exact strs and
        checked; the types never reach typing's type check (see TypedDict). The class is the run's
        own. The class form is typing's, checked as the class is made (builtins.admit_class)."""
        if not isinstance(fields, Iterable):
            raise TypeError("NamedTuple(name, [(field, type), ...]) takes an iterable of pairs")
        pairs = [tuple(pair) for pair in list(fields)]  # type: ignore[call-overload]
        if any(len(pair) != 2 for pair in pairs):
            raise TypeError("NamedTuple fields must be (name, type) pairs")
        name = exact_str(typename, "typename")
        names = [exact_str(pair[0], "a field name") for pair in pairs]
        refuse_member_names(name, *names)
        refuse_unwritten_names(run.words, "NamedTuple", *names)
        return run.admit(collections.namedtuple(name, names))

    NamedTuple.__mro_entries__ = lambda bases: _NAMED_TUPLE_BASES  # type: ignore[attr-defined]
    return NamedTuple


# Subclassing them (class P(NamedTuple): ...) goes through typing's own class machinery: the bases
# typing's own functions stand for.
_TYPED_DICT_BASES = typing.TypedDict.__mro_entries__((typing.TypedDict,))  # type: ignore[attr-defined]
_NAMED_TUPLE_BASES = typing.NamedTuple.__mro_entries__((typing.NamedTuple,))  # type: ignore[attr-defined]
TypedDict.__mro_entries__ = lambda bases: _TYPED_DICT_BASES  # type: ignore[attr-defined]


def members(run: FacadeRun) -> dict[str, object]:
    # NamedTuple's classes are the run's own (their `_asdict` and the rest are readable).
    return {**_vocabulary(), "NamedTuple": _named_tuple(run)}


@functools.cache
def _vocabulary() -> MappingProxyType[str, object]:
    """Everything else, which holds nothing of any run: made once."""
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
        TypedDict=TypedDict, get_origin=get_origin, get_args=get_args,
        cast=cast, overload=overload, TYPE_CHECKING=False,
    )  # fmt: skip
    return MappingProxyType(members)
