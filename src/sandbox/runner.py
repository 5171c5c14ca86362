"""Running accepted code: a fresh namespace, the budgets switched on, results as values."""

from __future__ import annotations

# The C half of tracemalloc: the Python module imports pickle and more, 70 ms of a Pyodide cold start.
import _tracemalloc
import ast
import functools
import gc
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import CellType, CodeType, FrameType, FunctionType, TracebackType

from . import builtins as sandbox_builtins
from .limits import LimitExceeded, Limits, StepBudget, bound_run, check_nesting, memory_error
from .policy import Policy, Violation, analyse, find_entry_point, instrument
from .results import ExecutionResult, ValidationResult

FILENAME = "<sandbox>"

# Events that every unbounded Python computation produces: calls (and so recursion), generator
# resumptions, and jumps (every loop iteration). Line and instruction events would cost far more
# and bound nothing these do not.
_EVENT_LIST = (sys.monitoring.events.PY_START, sys.monitoring.events.PY_RESUME, sys.monitoring.events.JUMP)
_EVENTS = _EVENT_LIST[0] | _EVENT_LIST[1] | _EVENT_LIST[2]
_TOOL_NAME = "python-sandbox"
# Python frames the guards themselves may add on top of the user's recursion budget.
_GUARD_FRAMES = 30


class TeardownStop(LimitExceeded):
    """Spends the budget once the script has finished, so that code it left behind (generator
    finalisers run by the garbage collector) stops at its first step."""


@dataclass(frozen=True)
class Compiled:
    """Analysed, instrumented and compiled code, ready to run any number of times."""

    code: CodeType
    policy: Policy
    tree: ast.Module


def compile_code(code: str, policy: Policy, limits: Limits) -> Compiled | ExecutionResult:
    """Analyse and compile, or the validation failure as a result."""
    started = time.perf_counter()
    if not isinstance(code, str):
        raise TypeError(f"code must be str, not {type(code).__name__}")
    tree, violations = analyse(code, policy, limits)
    if tree is None:
        first = violations[0]
        return ExecutionResult(
            success=False,
            execution_time_ms=_elapsed_ms(started),
            error=first.message,
            error_type="validation",
            line=first.line,
            col=first.col,
            violations=tuple(violations),
        )
    return Compiled(compile(instrument(tree), FILENAME, "exec", dont_inherit=True), policy, tree)


def validate(
    code: str, policy: Policy | None = None, limits: Limits | None = None, function: str | None = None
) -> ValidationResult:
    """Analyse without running. For eval code (or when `function` is named) the result also says
    which entry point and calling convention `evaluate` would use."""
    tree, violations = analyse(code, policy or Policy(), limits or Limits())
    entry = find_entry_point(tree, function) if tree is not None else None
    if isinstance(entry, Violation):
        if function is not None:
            violations.append(entry)
        entry = None
    return ValidationResult(valid=not violations, violations=tuple(violations), entry_point=entry)


def execute(code: str, limits: Limits | None = None, policy: Policy | None = None) -> ExecutionResult:
    """Analyse, compile and run `code` once, within `limits`."""
    limits = limits or Limits()
    started = time.perf_counter()
    compiled = compile_code(code, policy or Policy(), limits)
    if isinstance(compiled, ExecutionResult):
        return compiled
    outcome = run(compiled, limits)
    return ExecutionResult(
        success=outcome.error is None,
        execution_time_ms=_elapsed_ms(started),
        output=outcome.output,
        error=outcome.error,
        error_type=outcome.error_type,
        line=outcome.line,
    )


@dataclass(frozen=True)
class Outcome:
    """What one run of compiled code left: its stdout, and the error if it failed."""

    output: str
    error: str | None = None
    error_type: str | None = None
    line: int | None = None
    value: object = None
    steps: int = 0


def run(
    compiled: Compiled,
    limits: Limits,
    call: str | None = None,
    arguments: tuple[object, ...] = (),
    convert: Callable[[object], object] | None = None,
) -> Outcome:
    """Run the module in a fresh namespace; then, if `call` names a function it defined, call it
    with `arguments`, inside the same budget, and pass what it returned to `convert` while the
    budget still holds. `convert` must look at the value by type only and return plain data, which
    becomes `Outcome.value`; the value itself is freed with the rest of the run."""
    budget = StepBudget(limits, exempt_code_ids=_host_code_ids())
    scope = sandbox_builtins.RunScope(budget, compiled.policy.allowed_imports)
    namespace: dict[str, object] = {"__builtins__": sandbox_builtins.build(scope), "__name__": "__main__"}
    error: tuple[str, str, int | None] | None = None
    value: object = None
    tracing_here = limits.track_memory and not _tracemalloc.is_tracing()
    if tracing_here:
        _tracemalloc.start()
    previous_recursion_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(_depth() + limits.recursion_depth + _GUARD_FRAMES)
    unraisable_hook = sys.unraisablehook
    sys.unraisablehook = _ignore_unraisable
    tool = _start_monitoring(budget)
    # Everything alive now is the host's: frozen, it is skipped by the teardown's collection.
    gc.freeze()
    budget.start()
    # The wall-clock line where the host has signals, decimal's bounded context: see limits.bound_run.
    unbound = bound_run(budget)
    try:
        exec(compiled.code, namespace)
        if call is not None:
            returned = namespace[call](*arguments)  # type: ignore[operator]
            namespace["__sandbox_returned__"] = returned  # freed by the teardown walk
            value = convert(returned) if convert is not None else None
    except BaseException as raised:  # noqa: BLE001 - every failure of user code becomes a value
        if budget.tripped is None:
            # Not contextlib.suppress: its __exit__ is Python, a step of a budget that may be spent.
            try:  # noqa: SIM105
                error = _describe(raised, budget)
            except LimitExceeded:
                pass  # the budget ran out while describing; it is reported below
    finally:
        unbound()
        # Plain calls from here on, no context managers: the host code that runs while monitoring
        # is still on must be exempt from the budget (see guard_code_ids), and a generator-based
        # context manager would resume as a step of the spent budget.
        # Read before tracing stops: a single C call may have peaked past the limit and freed it
        # again between two steps.
        peaked = budget.exceeded_memory_at_peak()
        _teardown(budget, namespace, scope.user_classes)
        gc.unfreeze()
        _stop_monitoring(tool)
        sys.unraisablehook = unraisable_hook
        sys.setrecursionlimit(previous_recursion_limit)
        if tracing_here:
            _tracemalloc.stop()
    if budget.tripped is not None and not isinstance(budget.tripped, TeardownStop):
        error = (str(budget.tripped), budget.tripped.error_type, None)
    elif peaked:
        error = (str(memory_error(limits)), "memory", None)
    output = scope.output.text().strip()
    if error is None:
        return Outcome(output=output, value=value, steps=budget.steps)
    message, kind, line = error
    return Outcome(output=output, error=message, error_type=kind, line=line, steps=budget.steps)


# Set once a run has left the interpreter in a state the host cannot trust (see Engine hardening 2);
# from then on every run refuses, and a runner isolate asks to be replaced.
_fault: list[str] = []


def interpreter_fault() -> str | None:
    """Why this interpreter must not run another script, or None while it is sound."""
    return _fault[0] if _fault else None


def _describe(raised: BaseException, budget: StepBudget) -> tuple[str, str, int | None]:
    """`Type: message (line N)`, computed inside the budget: a script's exception class may define
    __str__, and its arguments may be deeply nested."""
    line = _user_line(raised.__traceback__)
    name = type(raised).__name__
    try:
        check_nesting(budget.limits, raised.args)
    except ValueError as nesting:
        message = str(nesting)
    else:
        try:
            message = str(raised)
        except LimitExceeded:
            raise
        except BaseException:  # noqa: BLE001 - a failing __str__ is reported, not propagated
            message = "<exception message unavailable>"
    text = f"{name}: {message}" if message else name
    if isinstance(raised, sandbox_builtins.SandboxViolation):
        text = message
    if line is not None:
        text += f" (line {line})"
    return text, "runtime", line


def _user_line(tb: TracebackType | None) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _teardown(budget: StepBudget, namespace: dict[str, object], user_classes: set[type]) -> None:
    """Drop and collect what the script left behind, with every step it takes raising: generator
    finalisers and cycles die here, not later in the host."""
    if budget.tripped is None:
        budget.tripped = TeardownStop("teardown")
    survivors = _release_order(namespace, budget.tripped, user_classes)
    # The exception that spent the budget is kept for its message only: without its traceback it
    # holds none of the frames, and so none of the data, of the code it stopped.
    budget.tripped.__traceback__ = budget.tripped.__context__ = budget.tripped.__cause__ = None
    namespace.clear()
    # Outermost first: each object freed drops one reference to the next, which `survivors` still
    # holds, so no deallocation recurses.
    survivors.reverse()
    survivors.clear()
    # The host's objects were frozen when the run started, so this looks at the run's objects only.
    gc.collect()


_CONTAINERS = (list, tuple, dict, set, frozenset, BaseException, TracebackType, CellType)


def _may_hold_more(obj: object) -> bool:
    # Objects the collector does not track (numbers, strings) hold nothing to walk, except tuples
    # and dicts, which it stops tracking once it sees they hold only such objects: a chain of
    # tuples, x = (x,), ends up wholly untracked and still frees recursively.
    return gc.is_tracked(obj) or type(obj) in (tuple, dict)


def _release_order(
    namespace: dict[str, object], stopper: BaseException, user_classes: set[type]
) -> list[object]:
    """The script's containers and objects, outermost first.

    CPython frees a nested structure recursively in C; in Pyodide a structure a few thousand levels
    deep (x = [x] in a loop, a linked list of the script's objects) overflows the WebAssembly stack
    when it is freed and kills the isolate. Holding every level and letting go from the outside in
    frees one level at a time. The walk follows containers, instances of the script's classes, and
    what can hold data out of sight of the namespace: kept exceptions, their tracebacks, the locals
    of the frames in them, closures, and the script's own functions. It never enters the host's
    functions or modules.
    """
    order: list[object] = []
    seen: set[int] = {id(namespace), id(namespace.get("__builtins__"))}
    frontier: list[object] = [*namespace.values(), stopper]
    while frontier:
        following: list[object] = []
        for obj in frontier:
            if id(obj) in seen:
                continue
            if isinstance(obj, FrameType):
                # Its locals only: its globals are the namespace or a host module's, and its f_back
                # leads up the host's stack.
                seen.add(id(obj))
                following.extend(obj.f_locals.values())
                continue
            if isinstance(obj, FunctionType):
                if obj.__code__.co_filename != FILENAME:
                    continue
            elif not isinstance(obj, _CONTAINERS) and type(obj) not in user_classes:
                continue
            seen.add(id(obj))
            order.append(obj)
            following.extend(filter(_may_hold_more, gc.get_referents(obj)))
        frontier = following
    return order


def _ignore_unraisable(_: object) -> None:
    """While a script runs, exceptions in its finalisers (a generator stopped by the budget as it
    closes) have nowhere to go; the host's hook may itself be Python and count as a step."""


def _start_monitoring(budget: StepBudget) -> int:
    tool = _tool_id()
    events = sys.monitoring.events
    sys.monitoring.register_callback(tool, events.PY_START, budget.on_start)
    sys.monitoring.register_callback(tool, events.PY_RESUME, budget.on_start)
    sys.monitoring.register_callback(tool, events.JUMP, budget.on_jump)
    sys.monitoring.set_events(tool, _EVENTS)
    return tool


def _stop_monitoring(tool: int) -> None:
    sys.monitoring.set_events(tool, 0)
    for event in _EVENT_LIST:
        sys.monitoring.register_callback(tool, event, None)


_tool: list[int] = []


def _tool_id() -> int:
    """A sys.monitoring tool id for the sandbox, claimed once per process. Ids 0-2 and 5 are
    conventionally the debugger's, coverage's, the profiler's and the optimizer's."""
    if not _tool:
        for candidate in (3, 4, 2, 1, 0, 5):
            if sys.monitoring.get_tool(candidate) is None:
                sys.monitoring.use_tool_id(candidate, _TOOL_NAME)
                _tool.append(candidate)
                break
        else:
            raise RuntimeError("no free sys.monitoring tool id")
    return _tool[0]


def _depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


@functools.cache
def _host_code_ids() -> frozenset[int]:
    """The sandbox's own functions that run while monitoring is on (guards, teardown): their steps
    are not the user's work, and they must keep working after the budget is spent."""
    return sandbox_builtins.guard_code_ids(sys.modules[__name__])


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
