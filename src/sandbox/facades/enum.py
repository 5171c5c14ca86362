"""enum: the bases, with the functional API's member names checked, and auto and unique."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

from ..guards import plain_keywords
from ..ownership import exact_str, script_callable, slot_violation
from ..policy import SandboxViolation, is_dunder, refuse_member_names
from . import FacadeRun


def _member_list(names: object) -> list[object]:
    """Enum's functional API takes names as a string, a list of names or pairs, or a mapping;
    copied into a list of exact strs and tuples once, so what is checked is what the enum gets
    (a str subclass's own split or __eq__ would show the check one name and enum another)."""
    if isinstance(names, str):
        members: list[object] = list(str.split(str.replace(exact_str(names, "names"), ",", " ")))
    elif isinstance(names, Mapping):
        members = [(exact_str(key, "a member name"), value) for key, value in list(names.items())]
    elif isinstance(names, Iterable):
        members = []
        for item in list(names):
            if isinstance(item, str):
                members.append(exact_str(item, "a member name"))
            else:
                pair = tuple(item)
                if len(pair) != 2:
                    raise TypeError("enum members must be names or (name, value) pairs")
                members.append((exact_str(pair[0], "a member name"), pair[1]))
    else:
        raise TypeError("enum members must be a string, an iterable or a mapping")
    refuse_member_names(*(m if type(m) is str else m[0] for m in members))  # type: ignore[index]
    return members


# Enum's class namespace: `_generate_next_value_` and `_missing_` are called by enum itself, while
# the class body still runs (auto() asks for a value as it is assigned).
_EnumDict: type = getattr(enum, "EnumDict", None) or enum._EnumDict  # type: ignore[attr-defined]


def members(run: FacadeRun) -> dict[str, object]:
    # Enum bases whose functional API checks member names, and helpers. Left out: EnumType/EnumMeta
    # (the metaclass builds classes from a namespace), the private _EnumDict, and pickle helpers.
    # Made for each run: the check below needs the run's classes.
    class CheckedEnumDict(_EnumDict):  # type: ignore[misc, valid-type]
        """A hook set in an enum's body is the script's own function before enum may call it."""

        def __setitem__(self, key: str, value: Any) -> None:
            message = slot_violation(str(dict.get(self, "__qualname__", "an enum")), key, value)
            if message:
                raise SandboxViolation(message)
            super().__setitem__(key, value)

    class GuardedEnumType(enum.EnumType):
        """Enum's metaclass, with the functional API (`Enum("E", names)`) applying the attribute
        rule to every member name (it builds a class from data, where a class statement would have
        been checked by the analyser), and no `__new__` of the script's: enum writes _value_,
        _name_ and __objclass__ onto whatever a member's __new__ returns, a host object included."""

        @classmethod
        def __prepare__(mcs, name: str, bases: tuple[type, ...], **options: Any) -> Any:  # type: ignore[override]
            namespace = super().__prepare__(name, bases, **options)
            namespace.__class__ = CheckedEnumDict  # the same layout: enum's, with hooks checked
            return namespace

        def __new__(mcs, name: str, bases: tuple[type, ...], namespace: Any, **options: Any) -> type:
            scripted = (c for base in bases for c in base.__mro__ if c in run.made)
            # Enum puts a `__new__` of its own on every enum class: only the script's counts.
            if "__new__" in namespace or any(script_callable(vars(c).get("__new__")) for c in scripted):
                raise SandboxViolation("Blocked: an enum or its mixins may not define __new__ in the sandbox")
            return super().__new__(mcs, name, bases, namespace, **options)

        def __call__(cls, value: Any, *rest: Any, **options: Any) -> Any:
            options = plain_keywords(options)  # checked by name below: `type=` would be a mixin
            if cls._member_map_ or not (rest or options):
                return super().__call__(value, *rest, **options)  # a lookup: Color(1)
            if len(rest) != 1 or set(options) - {"start"}:
                raise TypeError("enum's functional API takes a class name, the members and start=")
            if type(value) is not str or is_dunder(value):
                # Not its repr: that would be the text of any value the script passed.
                shown = repr(value) if type(value) is str and len(value) <= 64 else type(value).__name__
                raise SandboxViolation(f"Blocked: enum class name {shown} not allowed")
            return run.admit(super().__call__(value, _member_list(rest[0]), **options))

    def guarded(base: type) -> type:
        namespace = GuardedEnumType.__prepare__(base.__name__, (base,))
        namespace["__module__"] = "enum"
        namespace["__qualname__"] = base.__name__
        return GuardedEnumType(base.__name__, (base,), namespace)

    bases = (enum.Enum, enum.IntEnum, enum.StrEnum, enum.Flag, enum.IntFlag)
    members: dict[str, object] = {base.__name__: guarded(base) for base in bases}
    run.bases.update(members.values())  # type: ignore[arg-type]
    members.update(auto=enum.auto, unique=enum.unique)
    return members
