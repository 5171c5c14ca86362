"""Is this the run's own? The one place that decides, by what an object is and who made it.

Every object a script can touch is either the run's own (classes it created and their instances,
functions it defined, the data it built) or not (facades, stand-ins, builtin types, host objects).
The rules that used to go by names go by this instead:

- a single-underscore attribute is the script's business where it resolves inside the run's own
  instance dictionaries or classes (`self._cache`, `cls._registry`, a helper `_parse`), and for
  namedtuple's and enum's documented `_` API; anywhere else it is refused, including what a run's
  class inherits from a builtin, facade or stand-in base;
- special methods and the hooks host code calls (`__eq__`, enum's `_missing_`) hold only the run's
  own Python functions, checked by value, whatever put them there (a decorator that returns a
  builtin, a bound C method);
- names given as data to a class factory are copied to exact `str` and `tuple` before any check,
  and the copy is what the factory gets;
- read-only introspection (`vars(obj)`, `obj.__dict__`, an enum's `__members__`, `__module__`) is
  for the run's own objects only.

Lookups here never ask the object: class dictionaries are read through `type`'s own descriptor and
instance dictionaries through `object`'s, so no code of the script's runs while it is judged.
"""

from __future__ import annotations

import enum
from types import FunctionType, MemberDescriptorType, MethodType
from typing import Any

from . import policy
from .policy import SandboxViolation

_class_dict = type.__dict__["__dict__"].__get__
_class_mro = type.__dict__["__mro__"].__get__
_instance_dict = object.__getattribute__
_super_self = super.__dict__["__self__"].__get__
_super_self_class = super.__dict__["__self_class__"].__get__
_super_this_class = super.__dict__["__thisclass__"].__get__
_classmethod_function = classmethod.__dict__["__func__"].__get__
_staticmethod_function = staticmethod.__dict__["__func__"].__get__

# namedtuple's documented API: what a run's namedtuple class offers under `_` names.
NAMEDTUPLE_NAMES = frozenset({"_asdict", "_replace", "_make", "_fields", "_field_defaults"})
# enum's documented `_sunder_` names a script reads on its own enums and members.
# (Not `_add_alias_` or `_add_value_alias_`: they set any name on the class, a dunder included.)
ENUM_NAMES = frozenset({"_name_", "_value_", "_missing_", "_generate_next_value_"})
# Hooks under `_` names that host code calls on a run's class (enum's lookups and auto values):
# like special methods, they may hold only the run's own functions.
HOOK_NAMES = frozenset({"_missing_", "_generate_next_value_", "_numeric_repr_"})
# Dunder attributes a script may read on its own objects: introspection that hands out nothing
# of the host's.
OWN_DUNDERS = frozenset({"__dict__", "__members__", "__module__"})
# Dunders that are data in a class body, not protocol methods the interpreter calls.
_DATA_DUNDERS = frozenset(
    {
        "__module__", "__qualname__", "__doc__", "__classcell__", "__firstlineno__",
        "__static_attributes__", "__annotations__", "__orig_bases__", "__match_args__",
    }
)  # fmt: skip


def is_script_function(value: object) -> bool:
    """A function the script defined: its code was compiled from the script, and code objects
    cannot be made by the script."""
    return type(value) is FunctionType and value.__code__.co_filename == policy.FILENAME  # type: ignore[attr-defined]


def script_callable(value: object) -> bool:
    """A function the script defined, as a class body holds one: bare, or wrapped by
    classmethod, staticmethod or property around the script's functions only."""
    kind = type(value)
    if kind is FunctionType:
        return is_script_function(value)
    if kind is classmethod:
        return is_script_function(_classmethod_function(value))
    if kind is staticmethod:
        return is_script_function(_staticmethod_function(value))
    if kind is property:
        parts = (value.fget, value.fset, value.fdel)  # type: ignore[attr-defined]
        return all(part is None or is_script_function(part) for part in parts)
    return False


def is_run_class(classes: set[type], value: object) -> bool:
    return issubclass(type(value), type) and value in classes


def is_run_instance(classes: set[type], value: object) -> bool:
    return type(value) in classes


def slot_violation(owner: str, name: object, value: object) -> str | None:
    """Rule for what a class holds under a special method's or a hook's name: the run's own Python
    functions (or None, which switches a protocol off). A builtin or a bound C method there would
    run in C with no step, read a container differently from the guard that measured it, or run
    host code after the run has ended."""
    if type(name) is not str:
        return None
    if not ((policy.is_dunder(name) and name not in _DATA_DUNDERS) or name in HOOK_NAMES):
        return None
    if value is None or script_callable(value):
        return None
    return (
        f"Blocked: {owner}.{name} must be a function defined in the script, not"
        f" {type(value).__name__}: special methods and hooks run the script's own code only"
    )


def refuse_namespace(
    classes: set[type], owner: str, bases: tuple[type, ...], namespace: dict[str, Any]
) -> None:
    """What a class body made: special methods and hooks by value; and no `_` name over a member
    that a base the script did not define keeps for its own code (as with writes: Counter's
    methods call `self._keep_positive()`, whatever the class body put there)."""
    for name, value in namespace.items():
        message = slot_violation(owner, name, value) or next(
            filter(None, (host_member_violation(classes, _class_mro(base), name) for base in bases)), None
        )
        if message:
            raise SandboxViolation(message)


def host_member_violation(classes: set[type], mro: tuple[type, ...], name: object) -> str | None:
    """A `_` name that a class in `mro` the script did not define keeps for its own code: host code
    of that class reads it, trusting its own value (Counter's methods call `self._keep_positive()`),
    so the script may neither set it nor define it over it. Enum's documented names are meant to
    be defined by the script."""
    if type(name) is not str or not name.startswith("_") or policy.is_dunder(name) or name in ENUM_NAMES:
        return None
    found = _resolve(mro, name)
    if found is None or found[0] in classes:
        return None
    return f"Blocked: '{name}' belongs to {found[0].__qualname__}, which the script did not define"


def lookup_entries(obj: object) -> int:
    """Classes the rule may walk to judge a name read on `obj`: its class's MRO and, for a class,
    its own."""
    kind = type(obj)
    entries = len(_class_mro(kind))
    if issubclass(kind, type):
        entries += len(_class_mro(obj))  # type: ignore[arg-type]
    return entries


def _resolve(mro: tuple[type, ...], name: str) -> tuple[type, object] | None:
    for cls in mro:
        namespace = _class_dict(cls)
        if name in namespace:
            return cls, namespace[name]
    return None


def _is_data_descriptor(value: object) -> bool:
    kind = type(value)
    return (
        _resolve(_class_mro(kind), "__set__") is not None
        or _resolve(_class_mro(kind), "__delete__") is not None
    )


def _own_value(classes: set[type], value: object) -> bool:
    """What a run's class may hand out under a `_` name: whatever the script put there, but not a
    callable that class machinery put there (enum's `_new_member_` is object.__new__)."""
    kind = type(value)
    if kind in (classmethod, staticmethod, property, FunctionType):
        return script_callable(value)
    if kind is MemberDescriptorType:
        return value.__objclass__ in classes  # type: ignore[attr-defined]
    if kind is MethodType:
        return is_script_function(value.__func__)  # type: ignore[attr-defined]
    if issubclass(kind, type):
        return value in classes
    return kind in classes or not callable(value)


def _namedtuple_class(cls: type) -> bool:
    return issubclass(cls, tuple) and type(_class_dict(cls).get("_fields")) is tuple


def private_violation(classes: set[type], obj: object, name: str) -> str | None:
    """Whether `obj.name`, a single-underscore name, may be read: None if so, else the refusal.
    It resolves as the interpreter would resolve it, and is allowed where that place is the run's
    own: for an instance, a data descriptor of its class, then its own dictionary, then the class
    attribute; for a class, its MRO, and never its metaclass (never the script's: EnumType's
    `_convert_` reads any module's globals, `_add_member_` sets any name). A name that resolves
    nowhere reads as Python would (an AttributeError the script can catch), unless a host class
    on the way answers unknown names itself (`__getattr__`)."""
    refusal = f"Blocked: access to private attribute '{name}' not allowed"
    kind = type(obj)
    if kind is super:
        instance = _super_self(obj)
        if not (is_run_instance(classes, instance) or is_run_class(classes, instance)):
            return refusal
        mro = _class_mro(_super_self_class(obj))
        start = _super_this_class(obj)
        mro = mro[mro.index(start) + 1 :] if start in mro else ()
        found = _resolve(mro, name)
        return None if found is None else _judged(classes, found, name, any(map(_is_enum, mro)), refusal)
    if issubclass(kind, type):
        if obj not in classes:
            return refusal
        metaclasses = _class_mro(kind)
        if _resolve(metaclasses, name) is not None:
            return refusal
        found = _resolve(_class_mro(obj), name)  # type: ignore[arg-type]
        if found is None:
            return refusal if _answers_unknown_names(metaclasses) else None
        return _judged(classes, found, name, _is_enum(obj), refusal)  # type: ignore[arg-type]
    if kind not in classes:
        return refusal
    mro = _class_mro(kind)
    found = _resolve(mro, name)
    if found is not None and _is_data_descriptor(found[1]):
        return _judged(classes, found, name, _is_enum(kind), refusal)
    try:
        attributes = _instance_dict(obj, "__dict__")
    except AttributeError:
        attributes = None
    if type(attributes) is dict and name in attributes:
        return None  # the instance's own dictionary: what the script (or its enum) stored there
    if found is None:
        return refusal if _answers_unknown_names(mro) else None
    return _judged(classes, found, name, _is_enum(kind), refusal)


def _answers_unknown_names(mro: tuple[type, ...]) -> bool:
    return _resolve(mro, "__getattr__") is not None


def _is_enum(cls: type) -> bool:
    return issubclass(type(cls), enum.EnumType)


def _judged(
    classes: set[type], found: tuple[type, object], name: str, enum_owner: bool, refusal: str
) -> str | None:
    owner, value = found
    if owner in classes:
        if name in NAMEDTUPLE_NAMES and _namedtuple_class(owner):
            return None
        if _own_value(classes, value):
            return None
        if enum_owner and name in ENUM_NAMES:
            return None
        return (
            f"Blocked: '{name}' of {owner.__qualname__} holds {type(value).__name__}, which class"
            " machinery put there, not the script"
        )
    if enum_owner and name in ENUM_NAMES:
        return None  # enum's documented API, inherited from the enum base
    return refusal


def owns(classes: set[type], obj: object) -> bool:
    """The run's own class, or an instance of one: what the script may write attributes on."""
    return is_run_class(classes, obj) or is_run_instance(classes, obj)


def write_violation(classes: set[type], obj: object, name: str, value: object = None) -> str | None:
    """Whether the script may set or delete `obj.name` on one of its own objects (`value` is what a
    set would store). A `_` name stays where a base the script did not define keeps it (host code
    of that base reads it, trusting its own value: Counter's `_keep_positive`); a class's hook
    takes only the script's own function."""
    is_class = issubclass(type(obj), type)
    message = host_member_violation(classes, _class_mro(obj if is_class else type(obj)), name)  # type: ignore[arg-type]
    if message is None and is_class:
        return slot_violation(obj.__qualname__, name, value)  # type: ignore[attr-defined]
    return message


def refuse_inherited(classes: set[type], cls: type, names: tuple[object, ...]) -> None:
    """Names the host reads on a class's instances for the script (a class pattern's
    `__match_args__`, a dataclass's fields): a `_` name among them must not be a member that a
    base the script did not define keeps."""
    mro = _class_mro(cls)
    for name in names:
        message = host_member_violation(classes, mro, name)
        if message:
            raise SandboxViolation(message)


def dunder_violation(classes: set[type], obj: object, name: str) -> str | None:
    """`__dict__` of the run's instances, `__members__` of its enums, `__module__` of its classes
    and functions: read-only introspection of the script's own objects."""
    refusal = f"Blocked: access to dunder attribute '{name}' not allowed"
    if name == "__dict__":
        return (
            None if is_run_instance(classes, obj) else f"{refusal}: only on instances of the script's classes"
        )
    if name == "__members__":
        return (
            None if is_run_class(classes, obj) and _is_enum(obj) else f"{refusal}: only on the script's enums"
        )  # type: ignore[arg-type]
    if name == "__module__":
        return None if is_run_class(classes, obj) or is_script_function(obj) else refusal
    return refusal


def attribute_violation(classes: set[type], obj: object, name: str) -> str | None:
    """The run-time attribute rule: the analyser's rule for every name, then, for the names that
    depend on whose object it is, ownership."""
    message = policy.attribute_violation(name)
    if message is not None:
        return message
    if name in OWN_DUNDERS:
        return dunder_violation(classes, obj, name)
    if name.startswith("_") and not policy.is_dunder(name):
        return private_violation(classes, obj, name)
    return None


def instance_dict(classes: set[type], obj: object) -> dict[str, Any]:
    """`vars(obj)` and `obj.__dict__` for the run's instances: a copy of the instance's dictionary,
    read-only introspection. The live one would take writes past the attribute rule (a `_` name
    that a library base keeps for its own code, Counter's `_keep_positive`)."""
    if not is_run_instance(classes, obj):
        raise TypeError("vars() takes an instance of a class defined in the script")
    attributes = _instance_dict(obj, "__dict__")
    if type(attributes) is not dict:
        raise TypeError(f"{type(obj).__name__} objects have no attribute dictionary")
    return dict.copy(attributes)


def exact_str(value: object, what: str) -> str:
    """A name given as data, copied to an exact str: a subclass's own methods would show the check
    one name and the factory another."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, not {type(value).__name__}")
    return str.__getitem__(value, slice(None))
