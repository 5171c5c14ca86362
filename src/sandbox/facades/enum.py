"""enum: the bases, with the functional API's member names checked, and auto and unique."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from ..policy import SandboxViolation, is_dunder, refuse_member_names
from . import FacadeRun


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


def members(run: FacadeRun) -> dict[str, object]:
    # Enum bases whose functional API checks member names, and helpers. Left out: EnumType/EnumMeta
    # (the metaclass builds classes from a namespace), the private _EnumDict, and pickle helpers.
    # Made for each run: the check below needs the run's classes.
    class GuardedEnumType(enum.EnumType):
        """Enum's metaclass, with the functional API (`Enum("E", names)`) applying the attribute
        rule to every member name (it builds a class from data, where a class statement would have
        been checked by the analyser), and no `__new__` of the script's: enum writes _value_,
        _name_ and __objclass__ onto whatever a member's __new__ returns, a host object included."""

        def __new__(mcs, name: str, bases: tuple[type, ...], namespace: Any, **options: Any) -> type:
            scripted = (c for base in bases for c in base.__mro__ if c in run.made)
            if "__new__" in namespace or any("__new__" in vars(c) for c in scripted):
                raise SandboxViolation("Blocked: an enum or its mixins may not define __new__ in the sandbox")
            return super().__new__(mcs, name, bases, namespace, **options)

        def __call__(cls, value: Any, *rest: Any, **options: Any) -> Any:
            if cls._member_map_ or not (rest or options):
                return super().__call__(value, *rest, **options)  # a lookup: Color(1)
            if len(rest) != 1 or set(options) - {"start"}:
                raise TypeError("enum's functional API takes a class name, the members and start=")
            if type(value) is not str or is_dunder(value):
                # Not its repr: that would be the text of any value the script passed.
                shown = repr(value) if type(value) is str and len(value) <= 64 else type(value).__name__
                raise SandboxViolation(f"Blocked: enum class name {shown} not allowed")
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
