"""A walk of everything a script can reach without calling anything: from its builtins and from
every module facade, through every attribute name the analyser accepts. Nothing on the way may be a
module, a frame, code, a traceback, the real `type`, or a builtin that runs code or touches files."""

from __future__ import annotations

import builtins
import sys
import types

import sandbox
from sandbox import Limits, runner
from sandbox.builtins import RunScope, build
from sandbox.limits import MemoryLimitExceeded, StepBudget, TimeLimitExceeded
from sandbox.modules import facade
from sandbox.policy import attribute_violation

FORBIDDEN_TYPES = (types.ModuleType, types.FrameType, types.CodeType, types.TracebackType)
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
    }.items()
}
MAX_OBJECTS = 60_000
# Values whose non-dunder attributes are only methods bound to them: nothing further to find, and
# every getattr would make a fresh bound method.
LEAVES = (str, bytes, int, float, complex, types.BuiltinMethodType, types.MethodWrapperType, types.MethodType)


def reachable_roots() -> dict[str, object]:
    scope = RunScope(StepBudget(Limits()), sandbox.MAX_IMPORTS)
    roots: dict[str, object] = dict(build(scope))
    for name in sandbox.MAX_IMPORTS:
        roots[name] = facade(name, scope.budget)
    # What a script can catch: the budget's stops, and the stop raised into code of a finished run.
    for stop in (TimeLimitExceeded, MemoryLimitExceeded, runner.TeardownStop, runner.FinishedRunStop):
        roots[stop.__name__] = stop("stopped")
    return roots


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
            if isinstance(obj, LEAVES):
                continue
            for name in dir(obj):
                if attribute_violation(name) is not None:
                    continue
                try:
                    value = getattr(obj, name)
                except Exception:  # noqa: BLE001 - properties may raise; nothing to walk then
                    continue
                following.append((f"{path}.{name}", value))
        frontier = following
    return len(seen), findings


def test_nothing_dangerous_is_reachable_through_attributes():
    visited, findings = walk(reachable_roots())
    assert findings == []
    assert visited > 1000  # the walk really went somewhere


def test_the_walk_notices_a_module_two_attributes_away():
    # The test above can fail: one innocent-looking attribute leading to sys is reported.
    leaky = types.SimpleNamespace(helper=types.SimpleNamespace(config=sys))
    assert walk({"leaky": leaky})[1] == ["leaky.helper.config -> module"]
