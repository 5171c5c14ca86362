"""A walk of everything a script can reach without calling anything: from its builtins and from
every module facade, through every attribute name the analyser accepts. Nothing on the way may be a
module, a frame, code, a traceback, the real `type`, or a builtin that runs code or touches files."""

from __future__ import annotations

import builtins
import collections
import collections.abc
import enum
import re
import sys
import types
import typing

import sandbox
from sandbox import Limits, runner
from sandbox.builtins import RunScope, build, facade_run
from sandbox.facades import facade, load
from sandbox.limits import MemoryLimitExceeded, StepBudget, TimeLimitExceeded
from sandbox.ownership import attribute_violation
from sandbox.policy import member_name_violation

FORBIDDEN_TYPES = (types.ModuleType, types.FrameType, types.CodeType, types.TracebackType, typing.ForwardRef)
FORBIDDEN_OBJECTS = {
    id(obj): name
    for name, obj in {
        "type": type,
        "eval": builtins.eval,
        "exec": builtins.exec,
        "compile": builtins.compile,
        "open": builtins.open,
        "__import__": builtins.__import__,
        "globals": builtins.globals,
        "vars": builtins.vars,
        "sys.modules": sys.modules,
        # Evaluates strings (3.14's evaluate(), 3.13's _evaluate).
        "typing.ForwardRef": typing.ForwardRef,
        # Keeps every value it is called with: RegexFlag(n) for any n lives as long as the process.
        "re.RegexFlag": re.RegexFlag,
        # The real enum classes: their functional API checks no names, and their metaclass makes
        # members from whatever a __new__ returns.
        **{
            f"enum.{name}": getattr(enum, name)
            for name in ("Enum", "IntEnum", "StrEnum", "Flag", "IntFlag", "ReprEnum", "EnumType")
        },
        # Forwards almost every attribute read to any origin it is built with.
        "types.GenericAlias": types.GenericAlias,
        # register() on them changes isinstance for the whole process.
        **{f"collections.abc.{name}": getattr(collections.abc, name) for name in collections.abc.__all__},
    }.items()
}
# Containers whose contents every run would share: a run could write to them.
MUTABLE = (dict, list, set, bytearray, collections.deque)
MAX_OBJECTS = 60_000
# Values whose non-dunder attributes are only methods bound to them: nothing further to find, and
# every getattr would make a fresh bound method.
LEAVES = (str, bytes, int, float, complex, types.BuiltinMethodType, types.MethodWrapperType, types.MethodType)


def reachable_roots() -> dict[str, object]:
    load(sandbox.MAX_IMPORTS)  # as compiling code under a policy allowing them all does
    scope = RunScope(StepBudget(Limits()), sandbox.MAX_IMPORTS)
    roots: dict[str, object] = dict(build(scope))
    for name in sandbox.MAX_IMPORTS:
        roots[name] = facade(name, facade_run(scope))
    # What a script can catch: the budget's stops, and the stop raised into code of a finished run.
    for stop in (TimeLimitExceeded, MemoryLimitExceeded, runner.TeardownStop, runner.FinishedRunStop):
        roots[stop.__name__] = stop("stopped")
    return roots


# The engine's code the step count leaves out: none of it may be a function the script can hold.
EXEMPT = sandbox.builtins.guard_code_ids(runner)


def walk(roots: dict[str, object]) -> tuple[int, list[str]]:
    findings: list[str] = []
    seen: set[int] = set()
    frontier = list(roots.items())
    while frontier and len(seen) < MAX_OBJECTS:
        following = []
        for path, obj in frontier:
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if isinstance(obj, FORBIDDEN_TYPES) or id(obj) in FORBIDDEN_OBJECTS:
                findings.append(f"{path} -> {FORBIDDEN_OBJECTS.get(id(obj), type(obj).__name__)}")
                continue
            if (
                isinstance(obj, types.FunctionType)
                and id(obj.__code__) in EXEMPT
                and not path.startswith("__")
            ):
                # A C loop would call it with no step (`all(map(getattr, objs, names))`). The
                # instrumentation's own names are the exception: the analyser refuses them.
                findings.append(f"{path} -> engine function the step count leaves out")
            if isinstance(obj, MUTABLE) and path.count(".") > 0:
                findings.append(f"{path} -> shared {type(obj).__name__}")
                continue
            if isinstance(obj, LEAVES):
                continue
            if isinstance(obj, type) and any(
                member_name_violation(name) for name in getattr(obj, "__match_args__", ())
            ):
                # `case C(x)` on any subject reads these names for the script, past the guards.
                findings.append(f"{path} -> __match_args__ {obj.__match_args__}")
            if isinstance(obj, type):
                # super() reads the attributes of every class in the MRO, shadowed ones included.
                following.extend(
                    (f"{path}<{base.__name__}>.{name}", value)
                    for base in type.mro(obj)
                    for name, value in vars(base).items()
                    if attribute_violation(set(), obj, name) is None
                )
            for name in dir(obj):
                if attribute_violation(set(), obj, name) is not None:
                    continue
                try:
                    value = getattr(obj, name)
                    if isinstance(value, MUTABLE) and getattr(obj, name) is not value:
                        continue  # made afresh for every read (Pattern.groupindex): not shared
                except Exception:  # noqa: BLE001 - properties may raise; nothing to walk then
                    continue
                following.append((f"{path}.{name}", value))
        frontier = following
    return len(seen), findings


def test_nothing_dangerous_is_reachable_through_attributes():
    visited, findings = walk(reachable_roots())
    assert findings == []
    assert visited > 1000  # the walk really went somewhere


def test_the_walk_notices_shared_state_and_shadowed_class_attributes():
    class Base:
        table: typing.ClassVar[dict[str, int]] = {"a": 1}

    class Handed(Base):
        table = None

    assert walk({"Handed": Handed})[1] == ["Handed<Base>.table -> shared dict"]


def test_the_walk_notices_a_class_whose_patterns_read_refused_names():
    class Handed:
        __match_args__ = ("__globals__",)

    assert walk({"Handed": Handed})[1] == ["Handed -> __match_args__ ('__globals__',)"]


def test_the_walk_notices_an_engine_function_the_step_count_leaves_out():
    assert walk({"leaky": types.SimpleNamespace(check=sandbox.guards.read_attribute)})[1] == [
        "leaky.check -> engine function the step count leaves out"
    ]


def test_the_walk_notices_a_module_two_attributes_away():
    # The test above can fail: one innocent-looking attribute leading to sys is reported.
    leaky = types.SimpleNamespace(helper=types.SimpleNamespace(config=sys))
    assert walk({"leaky": leaky})[1] == ["leaky.helper.config -> module"]
