"""Running accepted code: a fresh namespace, the budgets switched on, results as values."""

from __future__ import annotations
import __future__

# The C half of tracemalloc: the Python module imports pickle and more, 70 ms of a Pyodide cold start.
import _tracemalloc
import ast
import collections
import functools
import gc
import keyword
import sys
import time
import warnings
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import chain, compress
from operator import is_not
from types import CellType, CodeType, CoroutineType, FrameType, FunctionType, ModuleType, TracebackType
from typing import Any

from . import builtins as sandbox_builtins
from . import facades, policy, sinks
from .limits import (
    MAXIMA,
    MIB,
    LimitExceeded,
    Limits,
    StepBudget,
    bound_run,
    check_nesting,
    check_rendering,
    holders,
    memory_error,
    pause_alarm,
)
from .policy import COMPLEXITY_MESSAGE, EntryPoint, Policy, Violation, analyse, find_entry_point, instrument
from .results import ExecutionResult, ValidationResult

FILENAME = policy.FILENAME
# The defaults, made once (both are frozen): a run without its own took 3 µs making them.
DEFAULT_LIMITS = Limits()
DEFAULT_POLICY = Policy()

# Events that every unbounded Python computation produces: calls (and so recursion), generator
# resumptions, and jumps (every loop iteration). Line and instruction events would cost far more
# and bound nothing these do not.
_EVENT_LIST = (sys.monitoring.events.PY_START, sys.monitoring.events.PY_RESUME, sys.monitoring.events.JUMP)
_EVENTS = _EVENT_LIST[0] | _EVENT_LIST[1] | _EVENT_LIST[2]
_TOOL_NAME = "python-sandbox"
# A second tool watches the code of finished runs, and only it (local events, set on its code
# objects): any of it that starts, resumes, jumps or reaches a new line stops there.
_FINISHED_TOOL_NAME = "python-sandbox-finished"
_FINISHED_EVENT_LIST = (*_EVENT_LIST, sys.monitoring.events.LINE)
_FINISHED_EVENTS = _EVENTS | sys.monitoring.events.LINE
# Python frames the guards themselves may add on top of the user's recursion budget.
_GUARD_FRAMES = 30


class TeardownStop(LimitExceeded):
    """Spends the budget once the script has finished, so that code it left behind (generator
    finalisers run by the garbage collector) stops at its first step."""


class FinishedRunStop(BaseException):
    """Raised into code of a run that has ended (a generator a host cache kept alive and closed
    later, a method of an object freed in another request): it stops before its first line."""


@dataclass(frozen=True)
class Compiled:
    """Analysed, instrumented and compiled code, ready to run any number of times."""

    code: CodeType
    policy: Policy
    tree: ast.Module | None
    """The analysed tree; None in what `prepare` returns (a tree costs far more memory to keep)."""
    codes: tuple[CodeType, ...] = ()
    """Every code object of the script, nested ones included: the finished-run guard's targets."""
    words: frozenset[str] = frozenset()
    """The names the compiler made permanent for this script (see `script_words`)."""

    def afresh(self) -> Compiled:
        """The same code on code objects of its own, for another run (see `prepare`): a batch's
        traces each run their own, so what one trace left behind stays stopped by the
        finished-run guard while the next one runs, with the same builtins table (RunBuiltins)."""
        fresh = _copied(self.code)
        return Compiled(fresh, self.policy, None, _code_objects(fresh), self.words)


# Analysis, instrumentation and compilation are most of a small run's fixed cost, and callers send
# the same eval again and again. Bounded in entries, in the source kept and in the bytes of the code
# objects kept, all entries together: a Worker has 128 MB, and 16 KiB of source can compile to
# 630 KB of code objects (1,750 lambdas), 40 MB over 64 entries when counted by entries alone.
_PREPARED_ENTRIES = 64
_PREPARED_MAX_CODE = 16 * 1024
_PREPARED_MAX_BYTES = 2 * 1024 * 1024
_prepared: collections.OrderedDict[
    tuple[str, Policy, Limits, str | None], tuple[Compiled, EntryPoint | Violation, int]
] = collections.OrderedDict()


def prepare(
    code: str, policy: Policy, limits: Limits, function: str | None = None
) -> tuple[Compiled, EntryPoint | Violation] | ExecutionResult:
    """`compile_code` and the entry point `function` selects, cached by everything that changes
    them (the code, the policy, the limits, the function's name). Every call gets code objects of
    its own, copies of the cached ones: the finished-run guard is switched on and off per code
    object, and a run's leftovers (a generator a host cache kept) must find theirs still guarded
    while a later call runs the same text."""
    key = (code, policy, limits, function)
    cached = _prepared.get(key)
    if cached is None:
        compiled = compile_code(code, policy, limits)
        if isinstance(compiled, ExecutionResult):
            return compiled
        assert compiled.tree is not None
        size = sum(map(sys.getsizeof, compiled.codes))
        cached = (replace(compiled, tree=None), find_entry_point(compiled.tree, function), size)
        if len(code) <= _PREPARED_MAX_CODE and size <= _PREPARED_MAX_BYTES // 4:
            _prepared[key] = cached
            while len(_prepared) > _PREPARED_ENTRIES or _prepared_bytes() > _PREPARED_MAX_BYTES:
                _prepared.popitem(last=False)
    else:
        _prepared.move_to_end(key)
    compiled, entry, _ = cached
    return compiled.afresh(), entry


# Builtins tables lent to runs, by the imports they allow (sandbox.builtins.RunBuiltins), the most
# recently used last. An OrderedDict, which the self-check's tables (the engine's plain dicts)
# leave out: it gains an entry during a run's setup.
_LENT_ENTRIES = 16
_lent: collections.OrderedDict[frozenset[str], sandbox_builtins.RunBuiltins] = collections.OrderedDict()


def _lent_builtins(allowed_imports: frozenset[str]) -> sandbox_builtins.RunBuiltins:
    lent = _lent.get(allowed_imports)
    if lent is None:
        lent = _lent[allowed_imports] = sandbox_builtins.RunBuiltins(allowed_imports)
        while len(_lent) > _LENT_ENTRIES:
            _lent.popitem(last=False)
    else:
        _lent.move_to_end(allowed_imports)
    return lent


def _prepared_bytes() -> int:
    return sum(size for _, _, size in _prepared.values())


def _copied(code: CodeType) -> CodeType:
    """A new code object equal to `code`, its nested code copied too (replace always makes one)."""
    return code.replace(co_consts=tuple(_copied(c) if type(c) is CodeType else c for c in code.co_consts))


def compile_code(code: str, policy: Policy, limits: Limits) -> Compiled | ExecutionResult:
    """Analyse and compile, or the validation failure as a result."""
    started = time.perf_counter()
    tree, violations = analyse(code, policy, limits)
    if tree is not None:
        compiled = _compile(instrument(tree))
        if isinstance(compiled, Violation):
            violations = [compiled]
        else:
            codes = _code_objects(compiled)
            return Compiled(compiled, policy, tree, codes, script_words(codes))
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


def _compile(tree: ast.Module) -> CodeType | Violation:
    """The tree's code, or what the compiler refuses that the parser accepted (`return` or `await`
    outside a function, an async comprehension in a plain one) as a violation with its position."""
    try:
        # Annotations stay text (PEP 563), whatever the script imports: Python 3.14 otherwise
        # evaluates them lazily, and the host's class machinery (dataclass, NamedTuple, TypedDict)
        # would run the script's annotation code with its own stand-ins for undefined names and
        # hand the script ForwardRefs, whose evaluate() runs eval with the real builtins.
        # Top-level await: `await main()` is how a script runs its async entry point; the module
        # code is then a coroutine, which `_execute` drives like any other of the script's.
        flags = __future__.annotations.compiler_flag | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        return compile(tree, FILENAME, "exec", flags=flags, dont_inherit=True)
    except SyntaxError as error:
        return Violation(error.lineno or 1, (error.offset or 1) - 1, f"SyntaxError: {error.msg}")
    except (RecursionError, MemoryError):
        # The analyser bounds the tree's depth; this is the net under it (the compiler's own
        # recursion in C, on a platform whose stack it does not know).
        return Violation(1, 0, COMPLEXITY_MESSAGE)


def _code_objects(code: CodeType) -> tuple[CodeType, ...]:
    found = [code]
    for each in found:  # grows as nested code is found
        found.extend(const for const in each.co_consts if type(const) is CodeType)
    return tuple(found)


def script_words(codes: tuple[CodeType, ...]) -> frozenset[str]:
    """Every name of the script's code and every word of its text constants (split as namedtuple
    splits field names). The compiler keeps a code object's names for the life of the process, so
    a class factory that compiles code from names (namedtuple's `__new__`) may be given these and
    no others: a name made from trace data would stay interned for every later run to find. The
    words of text constants are made permanent here, as the compiler made the names: interned
    only once a run gave one to namedtuple, the trace's own string stayed, and a later run could
    tell which of the script's words a trace had used."""
    names: set[str] = set()
    pieces: set[str] = set()
    for code in codes:
        names.update(code.co_names, code.co_varnames, code.co_cellvars, code.co_freevars)
        for constant in code.co_consts:
            if type(constant) is str:
                pieces.update(constant.replace(",", " ").split())
    fresh = sorted(word for word in pieces - names if word.isidentifier() and not keyword.iskeyword(word))
    if fresh:
        compile(f"lambda {', '.join(fresh)}: 0", "<script words>", "eval")
    return frozenset(names | pieces)


def check_arguments(
    code: object, limits: object = None, policy: object = None, function: object = None
) -> None:
    """A library caller's mistakes (None for the code, arguments swapped) as TypeErrors that say
    what was expected, not an AttributeError from deep inside the analyser."""
    expected = (
        ("code", code, str, "str"),
        ("limits", limits, Limits | None, "a Limits or None"),
        ("policy", policy, Policy | None, "a Policy or None"),
        ("function", function, str | None, "str or None"),
    )
    for name, value, kind, description in expected:
        if not isinstance(value, kind):
            raise TypeError(f"{name} must be {description}, not {type(value).__name__}")


def validate(
    code: str, policy: Policy | None = None, limits: Limits | None = None, function: str | None = None
) -> ValidationResult:
    """Analyse without running. For eval code (or when `function` is named) the result also says
    which entry point and calling convention `evaluate` would use."""
    check_arguments(code, limits, policy, function)
    tree, violations = analyse(code, policy or Policy(), limits or Limits())
    entry = find_entry_point(tree, function) if tree is not None else None
    if tree is not None:
        compiled = _compile(tree)  # what only the compiler refuses; not instrumented, never run
        if isinstance(compiled, Violation):
            violations.append(compiled)
    if isinstance(entry, Violation):
        if function is not None:
            violations.append(entry)
        entry = None
    return ValidationResult(valid=not violations, violations=tuple(violations), entry_point=entry)


def execute(code: str, limits: Limits | None = None, policy: Policy | None = None) -> ExecutionResult:
    """Analyse, compile and run `code` once, within `limits`."""
    check_arguments(code, limits, policy)
    limits = limits or DEFAULT_LIMITS
    started = time.perf_counter()
    if _fault:
        return ExecutionResult(False, _elapsed_ms(started), error=_refusal(), error_type="internal")
    prepared = prepare(code, policy or DEFAULT_POLICY, limits)
    if isinstance(prepared, ExecutionResult):
        return prepared
    outcome = run(prepared[0], limits)
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
    tables: HostTables | None = None,
) -> Outcome:
    """Run the module in a fresh namespace; then, if `call` names a function it defined, call it
    with `arguments`, inside the same budget, and pass what it returned to `convert` while the
    budget still holds. `convert` must look at the value by type only and return plain data, which
    becomes `Outcome.value`; the value itself is freed with the rest of the run. `compiled` must be
    code objects no earlier run has used (what `prepare` returns, or `Compiled.afresh()`): the
    finished-run guard stops a run's leftovers by their code objects.

    Afterwards the host checks itself: if anything a run may not change differs (see
    `_host_settings` and `HostTables`), or the engine itself failed, the interpreter is marked
    unusable (`interpreter_fault`) and this and every later run is refused as `internal`. `tables`
    is the copy of the host's tables to compare with, when the caller took it (a batch, once for
    all its traces: `evaluate`); it must have been taken since the last run, or found unchanged by
    it, with nothing but the engine's own code run in between."""
    if _fault:
        return Outcome(output="", error=_refusal(), error_type="internal")
    if _active:
        # A run waiting on a host call (call_outside_budget) lets the event loop run other requests;
        # the engine holds one run at a time (src/isolate_entry.py queues them), so this is a bug.
        return Outcome(output="", error="Internal error: another run is in progress", error_type="internal")
    try:
        _tool_ids()
    except RuntimeError as taken:
        _fault.append(str(taken))
        return Outcome(output="", error=_refusal(), error_type="internal")
    lent = _lent_builtins(compiled.policy.allowed_imports)
    before = _host_settings()
    if tables is None:
        tables = HostTables()
    outcome: Outcome | None = None
    try:
        outcome = _run_once(compiled, limits, call, arguments, convert, lent)
    except BaseException:  # noqa: BLE001 - a failure of the engine's own code, never the script's
        _fault.append("the engine failed while running a script")
    try:
        after = _host_settings()
        changed = [name for name, was, now in zip(_SETTING_NAMES, before, after, strict=True) if was != now]
        changed += tables.changed()
        if not lent.intact():
            changed.append("the builtins table lent to its runs")
    except BaseException:  # noqa: BLE001 - something not the host's compared itself
        changed = ["the host's state, beyond comparing"]
    if changed and not _fault:
        _fault.append(f"a run changed {', '.join(changed)}")
    if outcome is None or _fault:
        # Whatever the run left, host code from here on must not meet a spent budget.
        _switch_off_budget()
        return Outcome(output="", error=_refusal(), error_type="internal")
    return outcome


def _run_once(
    compiled: Compiled,
    limits: Limits,
    call: str | None,
    arguments: tuple[object, ...],
    convert: Callable[[object], object] | None,
    lent: sandbox_builtins.RunBuiltins,
) -> Outcome:
    budget = StepBudget(limits, exempt_code_ids=_host_code_ids())
    scope = lent.start(budget, compiled.words)
    namespace: dict[str, object] = {"__builtins__": lent.table, "__name__": "__main__"}
    tracing_here = limits.track_memory and not _tracemalloc.is_tracing()
    recursion_limit = sys.getrecursionlimit()
    unraisable_hook = sys.unraisablehook
    asyncgen_hooks = sys.get_asyncgen_hooks()
    # Warnings raised for the script's calls (re's FutureWarning for `[[a]`, a coroutine never
    # awaited) are the script's: silenced, never printed on the host's stderr with its paths.
    warnings_kept = warnings.catch_warnings()
    # Every piece of host state is put back by its own `finally`, the first one changed last: a
    # restore that fails leaves the others done, and the self-check in `run` reports it. No
    # context managers: host code that runs while monitoring is on must be exempt from the budget
    # (see guard_code_ids), and a generator-based one would resume as a step of a spent budget.
    if tracing_here:
        _tracemalloc.start()
    try:
        sys.setrecursionlimit(_depth() + limits.recursion_depth + _GUARD_FRAMES)
        try:
            sys.unraisablehook = _ignore_unraisable
            try:
                # A host event loop's hooks (Pyodide's) would keep the script's async generators
                # and close them later in the loop, outside the run: without hooks, the teardown
                # closes them, with the budget spent.
                sys.set_asyncgen_hooks(None, None)
                try:
                    warnings_kept.__enter__()
                    try:
                        warnings.simplefilter("ignore")
                        return _monitored(
                            compiled, budget, scope, namespace, call, arguments, convert, tracing_here
                        )
                    finally:
                        warnings_kept.__exit__(None, None, None)
                finally:
                    sys.set_asyncgen_hooks(*asyncgen_hooks)
            finally:
                sys.unraisablehook = unraisable_hook
        finally:
            sys.setrecursionlimit(recursion_limit)
    finally:
        if tracing_here and _tracemalloc.is_tracing():
            _tracemalloc.stop()


def _monitored(
    compiled: Compiled,
    budget: StepBudget,
    scope: sandbox_builtins.RunScope,
    namespace: dict[str, object],
    call: str | None,
    arguments: tuple[object, ...],
    convert: Callable[[object], object] | None,
    tracing_here: bool,
) -> Outcome:
    """The budget on, the script, its teardown, the budget off."""
    callbacks = (budget.on_start, budget.on_start, budget.on_jump)
    host_froze = gc.get_freeze_count() > 0
    sinks.RUN.running = True
    try:
        _start_monitoring(callbacks)
        # Only now, under the budget. Fresh code objects are not guarded (prepare, afresh): this
        # lets go only of code an earlier run used, should a caller run it again.
        _watch_finished(compiled.codes, 0)
        # Everything alive now is the host's: frozen, the teardown's collection skips it.
        gc.freeze()
        try:
            error, value = _execute(compiled, namespace, budget, call, arguments, convert)
            # Read before tracing stops: a single C call may have peaked past the limit and freed
            # it again between two steps.
            peaked = budget.peak_over_limit()
            output = scope.output.text().strip()
            _watch_finished(compiled.codes, _FINISHED_EVENTS)
            if tracing_here:
                # The run's memory is measured: tracing the teardown's own allocations (an id per
                # object it walks) would make it several times slower, past the run's budget.
                _tracemalloc.stop()
            _teardown(budget, namespace, scope.user_classes, scope.cleaned)
            # The teardown's work is the run's too (it frees what the script made): a run whose
            # teardown took it past its deadline is a timeout, not a success.
            budget.note_overrun()
        finally:
            if host_froze:
                gc.freeze()
            else:
                gc.unfreeze()
    finally:
        try:
            _watch_finished(compiled.codes, _FINISHED_EVENTS)
        finally:
            _stop_monitoring(callbacks)
            sinks.RUN.running = False
    # Not only after runs that imported a facade: a script reaches the codecs' search without one
    # ('a'.encode(name)).
    facades.empty_host_caches()
    # The interpreter's cache of type attribute lookups holds the names it looked up: a name the
    # run interned (setattr(o, trace['v'], 1), a namedtuple's fields) stayed alive in it, and a
    # later run interning an equal string got that very object back, which told it another trace's
    # text. Emptied, the run's names die with the run.
    _clear_type_cache()
    return _outcome(budget, output, error, value, peaked)


def _outcome(
    budget: StepBudget,
    output: str,
    error: tuple[str, str, int | None] | None,
    value: object,
    peaked: int | None,
) -> Outcome:
    """Made of plain values only: the strings the budget copied when it tripped, the output's text,
    the description made inside the budget. Nothing the script could still change is read."""
    if budget.stop is not None:
        error = (*budget.stop, None)
    elif peaked is not None:
        error = (str(memory_error(budget.limits, peaked, peaked=True)), "memory", None)
    if error is None:
        return Outcome(output=output, value=value, steps=budget.steps + budget.pending)
    message, kind, line = error
    message += _remedy(kind, budget.limits)
    return Outcome(
        output=output, error=message, error_type=kind, line=line, steps=budget.steps + budget.pending
    )


def _remedy(kind: str, limits: Limits) -> str:
    """What a budget's error adds to its message: how far a caller may raise that limit."""
    if kind == "timeout":
        ceiling = MAXIMA["timeout_ms"]
        if limits.timeout_ms < ceiling:
            return f" (the caller can raise timeoutMs to {ceiling})"
        return " (the server's maximum)"
    if kind == "memory":
        ceiling_mb = MAXIMA["memory_bytes"] // MIB
        if limits.memory_bytes < MAXIMA["memory_bytes"]:
            return f" (the caller can raise memoryMb to {ceiling_mb})"
        return " (the server's maximum)"
    if kind == "output_limit":
        return " (print less: the output limit is the server's)"
    return ""


def _execute(
    compiled: Compiled,
    namespace: dict[str, object],
    budget: StepBudget,
    call: str | None,
    arguments: tuple[object, ...],
    convert: Callable[[object], object] | None,
) -> tuple[tuple[str, str, int | None] | None, object]:
    """The script's part of the run, inside the budget: its failure described, its value converted."""
    error = value = None
    budget.start()
    # The wall-clock line where the host has signals, decimal's bounded context: see limits.bound_run.
    unbound = bound_run(budget)
    _active.append((budget, compiled.codes))
    try:
        try:
            settle(eval(compiled.code, namespace))
            if call is not None:
                returned = settle(namespace[call](*arguments))  # type: ignore[operator]
                namespace["__sandbox_returned__"] = returned  # freed by the teardown
                value = convert(returned) if convert is not None else None
        except BaseException as raised:  # noqa: BLE001 - every failure of user code becomes a value
            namespace["__sandbox_raised__"] = raised  # its arguments may nest deep: the teardown frees it
            if budget.tripped is None:
                # Not contextlib.suppress: its __exit__ is Python, a step of a budget that may be spent.
                try:  # noqa: SIM105
                    error = _describe(raised, budget)
                except LimitExceeded:
                    pass  # the budget ran out while describing; it is reported below
        budget.note_overrun()
    finally:
        _active.clear()
        unbound()
    return error, value


SUSPENDED = (
    "an await suspended, and the sandbox has no event loop to resume it: await only the script's"
    " own coroutines and async generators, which run to their end"
)
_send = CoroutineType.send
_throw = CoroutineType.throw


def settle(value: object) -> object:
    """`value`, or, for a coroutine of the script (an async entry point, a module with top-level
    await), what it returns once run to its end. Nothing in the sandbox suspends, so no event loop
    is needed: the first send(None) runs it to its end, its frames counted by the budget like a
    generator's. Should something yield to a loop all the same (an `__await__` that yields), the
    error is thrown in where it waits, so it carries the line of that await."""
    if type(value) is not CoroutineType or value.cr_code.co_filename != FILENAME:
        return value
    try:
        _send(value, None)
        while True:  # the script caught the error and waited again: every throw resumes it, a step
            _throw(value, RuntimeError(SUSPENDED))
    except StopIteration as finished:
        return finished.value


# The budget of the script running now, while it runs: what a host call made for it pauses.
_active: list[tuple[StepBudget, tuple[CodeType, ...]]] = []


def call_outside_budget[T](call: Callable[[], T]) -> T:
    """Run `call`, host work the script asked for that waits on the world outside (ctx.call_llm's
    model), with the running script's budget switched off, and switch it on again after.

    Off, because while Python waits in Pyodide's `run_sync`, Pyodide's event loop runs Python that
    sys.monitoring counts; a budget exception raised there was lost, became a WebAssembly "null
    function" error, or hung the request with the tool still registered (measured on workerd, issue
    22). The wait moves the run's deadline and pauses the wall-clock alarm: waiting is not the
    script's work (the batch's wall time counts it). The string evaluators' refusal is lifted while
    the host's own code runs. A `LimitExceeded` from `call` spends the budget, as any limit does,
    and reaches the script as the run's stop."""
    if not _active:
        raise RuntimeError("no script is running")
    budget, codes = _active[-1]
    tool = _tool_ids()[0]
    if not sys.monitoring.get_events(tool):
        # Called again from script code that ran while a call waited (a finaliser): switching the
        # budget back on at its end would count, and stop, the outer call's host code.
        raise RuntimeError("ctx.call_llm cannot be called while another call waits")
    # The host's call (an HTTP client, the event loop) may start where the script's recursion
    # stopped, at its limit: room of its own first, for this function's work too, taken back after.
    recursion_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(recursion_limit + _HOST_CALL_FRAMES)
    collecting = gc.isenabled()
    sys.monitoring.set_events(tool, 0)
    try:
        sinks.RUN.running = False
        # No script code may run uncounted while the host waits: the collector would finalise the
        # script's generators (their finally blocks), and any code of this run that starts or
        # resumes meets the finished-run guard.
        gc.disable()
        _watch_finished(codes, _FINISHED_EVENTS)
        resume_alarm = pause_alarm()
        started = time.perf_counter()
        try:
            return call()
        except LimitExceeded as stop:
            budget.trip(stop)
        finally:
            budget.deadline += time.perf_counter() - started
            resume_alarm()
    finally:
        _watch_finished(codes, 0)
        if collecting:
            gc.enable()
        sys.setrecursionlimit(recursion_limit)
        sinks.RUN.running = True
        sys.monitoring.set_events(tool, _EVENTS)


# Python frames a host call made for the script may use beyond the script's own recursion limit.
_HOST_CALL_FRAMES = 100


# Set once a run has left the interpreter in a state the host cannot trust: from then on every run
# refuses, and a runner isolate asks to be replaced.
_fault: list[str] = []


def interpreter_fault() -> str | None:
    """Why this interpreter must not run another script, or None while it is sound."""
    return _fault[0] if _fault else None


def _refusal() -> str:
    return f"Internal error: this interpreter can no longer run scripts safely ({_fault[0]})"


def _describe(raised: BaseException, budget: StepBudget) -> tuple[str, str, int | None]:
    """`Type: message (line N)`, computed inside the budget: a script's exception class may define
    __str__, and its arguments may be deeply nested. Plain `str` out, whatever the class returns,
    and never an exception but the budget's: one escaping here would count as the engine failing
    and take the interpreter out of service."""
    line = _user_line(_traceback_of(raised))
    name = str.__str__(type(raised).__name__)
    try:
        check_nesting(budget, _args_of(raised))
        # The interpreter's exceptions make their text from their arguments (KeyError's is their
        # repr): measured as any other rendering, its refusal spends the budget.
        check_rendering(budget, _args_of(raised))
    except LimitExceeded:
        raise
    except BaseException as refused:  # noqa: BLE001 - the check's refusal, or a hook of the script failing
        arguments = _args_of(refused)
        plain = type(refused) is ValueError and len(arguments) == 1 and type(arguments[0]) is str
        message = arguments[0] if plain else _UNAVAILABLE
    else:
        try:
            message = str.__str__(str(raised))
        except LimitExceeded:
            raise
        except BaseException:  # noqa: BLE001 - a failing __str__ is reported, not propagated
            message = _UNAVAILABLE
    text = f"{name}: {message}" if message else name
    if issubclass(type(raised), sandbox_builtins.SandboxViolation):
        text = message
    if line is not None:
        text += f" (line {line})"
    return text, "runtime", line


_UNAVAILABLE = "<exception message unavailable>"
# The C descriptors themselves: an attribute lookup could meet a property the script defined.
_traceback_of = BaseException.__traceback__.__get__  # type: ignore[attr-defined]
_args_of = BaseException.args.__get__  # type: ignore[attr-defined]


def _user_line(tb: TracebackType | None) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


# --- Teardown --------------------------------------------------------------------------------------
# Runs with the budget spent, so any code of the script that something here sets off (a finaliser,
# a __del__ reached through class machinery, a property) stops at its first step. It looks at
# objects only with type(), gc.get_referents and the C methods of exact built-in types, never with
# isinstance or attribute lookups a script could hook.


def _teardown(
    budget: StepBudget,
    namespace: dict[str, object],
    user_classes: set[type],
    cleaned: dict[int, tuple[BaseException, TracebackType | None]],
) -> None:
    """Free everything the run left, parents before children so that no deallocation recurses
    (CPython frees a nested structure recursively in C; in Pyodide a few thousand levels overflow
    the WebAssembly stack and kill the isolate), and break the cycles among what is left before
    the collector frees them (the collector's clearing of one link frees the rest of a chain
    recursively too)."""
    if budget.tripped is None:
        budget.tripped = TeardownStop("teardown")
    classes = _classes_made_during_run()
    release = _ReleaseOrder({id(namespace), id(namespace.get("__builtins__"))}, set(map(id, classes)))
    release.add([*namespace.values(), budget.tripped, *classes, *cleaned.values()])
    del classes
    cleaned.clear()
    # The exception that stopped the run holds, through its traceback, the frames it left: a
    # guard's frame holds the script's data it refused (`s * 100`: s), and the frame that raised
    # holds the exception, a cycle the collection below did not free (40 MB kept a request in
    # Pyodide). What they hold is in the walk, so it is let go in order, not freed from here.
    _release_frames(budget.tripped)
    # The exception that spent the budget may hold what the script put in it; the stop stays sticky
    # with one of the host's own.
    budget.tripped = TeardownStop("teardown")
    namespace.clear()
    collections.deque(map(_hollow, user_classes), maxlen=0)  # no loop variable: see _empty_instances
    user_classes.clear()
    # Freeing a generator paused in `yield from` calls its delegate's `close`, looked up as a plain
    # attribute: with the classes hollowed, only an instance's own could answer, and it could be
    # a host C loop (functools.partial(sorted, xs)) running past the budget. Every instance of
    # the run's classes is emptied first; what it held stays held by the walk until released.
    _empty_instances(release.nodes, release.run_classes)
    release.release()
    del release
    _free_cycles()


def _release_frames(exc: BaseException) -> None:
    """Clear the finished frames of `exc`'s traceback and unlink it. The runner's own frames are
    still running (clear() refuses them) and hold nothing of the script's."""
    tb = _traceback_of(exc)
    _set_traceback(exc, None)
    while tb is not None:
        frame = tb.tb_frame
        if id(frame.f_code) not in _RUNNER_CODE_IDS:
            try:  # noqa: SIM105
                frame.clear()
            except RuntimeError:
                pass  # still executing
        tb = tb.tb_next


_HEAPTYPE = 1 << 9
# Built-in containers: their references are all the walk follows, with no further question.
_PLAIN_KINDS = frozenset(map(id, (list, tuple, dict, set, frozenset, collections.deque)))
_CLEARERS: dict[int, Callable[[Any], object]] = {
    id(list): list.clear,
    id(dict): dict.clear,
    id(set): set.clear,
    id(collections.deque): collections.deque.clear,
    id(CellType): CellType.cell_contents.__delete__,  # type: ignore[attr-defined]
}
_class_namespace = type.__dict__["__dict__"].__get__
_set_args = BaseException.args.__set__  # type: ignore[attr-defined]
_set_traceback = BaseException.__traceback__.__set__  # type: ignore[attr-defined]
_set_context = BaseException.__context__.__set__  # type: ignore[attr-defined]
_set_cause = BaseException.__cause__.__set__  # type: ignore[attr-defined]


def _hollow(cls: type) -> None:
    """Drop the script's own attributes from a class it defined: a host cache may keep the class
    (typing.List[K]) long after the run, and with it whatever its attributes hold. Through
    type's own __delattr__, which keeps the interpreter's lookup caches right; dunders stay."""
    for name in list(_class_namespace(cls)):
        if type(name) is str and not (name.startswith("__") and name.endswith("__")):
            try:  # noqa: SIM105
                type.__delattr__(cls, name)
            except BaseException:  # noqa: BLE001 - an odd class; what it keeps, the guard covers
                pass


def _free_cycles() -> None:
    """Collect what is left with gc.DEBUG_SAVEALL, so the collector hands over its garbage instead
    of freeing it; break every link among it that can be broken from outside (clear lists, dicts,
    sets, deques, cells, frames, instance attributes, exception links: safe, since nothing but the
    garbage itself refers to it); let go of it parents first; collect again for the rest."""
    debug = gc.get_debug()
    saved = len(gc.garbage)
    gc.set_debug(debug | gc.DEBUG_SAVEALL)
    try:
        gc.collect()
    finally:
        gc.set_debug(debug)
    garbage = gc.garbage[saved:]
    del gc.garbage[saved:]
    # A class's own dict is left to the collector, which clears it only after invalidating the
    # interpreter's lookup caches: clearing it here would leave them pointing at freed objects.
    class_dicts = {
        id(namespace)
        for obj in garbage
        if issubclass(type(obj), type)
        for namespace in gc.get_referents(_class_namespace(obj))
    }
    _unlink_all(garbage, class_dicts)
    release = _ReleaseOrder(set(), set())
    release.add(garbage)
    del garbage
    release.release()
    del release
    gc.collect()


# The teardown's loops over the run's objects are functions of their own: a loop variable left
# in the teardown's frame held the last object it named (a class, and with it the names its
# instances' keys hold) through the collection that was to free it.


def _empty_instances(nodes: list[object], run_classes: set[int]) -> None:
    for node in nodes:
        if id(type(node)) in run_classes:
            _clear_attributes(node)


def _unlink_all(garbage: list[object], class_dicts: set[int]) -> None:
    for obj in garbage:
        if id(obj) not in class_dicts:
            _unlink(obj)


def _unlink(obj: object) -> None:
    kind = type(obj)
    clear = _CLEARERS.get(id(kind))
    if clear is not None:
        clear(obj)
    elif kind is FrameType:
        try:  # noqa: SIM105
            obj.clear()  # type: ignore[attr-defined]
        except RuntimeError:
            pass  # a suspended generator's frame: its generator is garbage too, and closed
    elif issubclass(kind, BaseException):
        _set_args(obj, ())
        _set_traceback(obj, None)
        _set_context(obj, None)
        _set_cause(obj, None)
    if kind.__flags__ & _HEAPTYPE and not issubclass(kind, type):
        _clear_attributes(obj)


def _clear_attributes(obj: object) -> None:
    """Instance attributes (inline values have no dict until asked for one). The lookup may meet a
    __dict__ the script defined through class machinery: it stops at its first step."""
    try:
        attributes = object.__getattribute__(obj, "__dict__")
    except BaseException:  # noqa: BLE001
        return
    if type(attributes) is dict:
        attributes.clear()


def _distinct_holders(references: Sequence[object]) -> Iterable[object]:
    """The objects among `references` that may hold others (most of a trace is atoms), each once
    by identity (ints: nothing of the script runs), sifted at C speed: four million references to
    one list cost a C pass, not a Python loop of four million. A frame of two lines: tracemalloc
    scans the calling frame's line table for every allocation (see limits.call)."""
    # Runs of one object first, comparing identities only (`[x] * 10**6` is one); then by id.
    collapsed = list(compress(references, map(is_not, references, chain((None,), references))))
    sifted = list(holders(collapsed))
    return dict(zip(map(id, sifted), sifted, strict=True)).values()


class _ReleaseOrder:
    """Objects and what they hold, to be let go parents before children, so that an object freed
    drops references only to objects still held here and no deallocation recurses. The order is
    Tarjan's: it finishes a group of objects that refer to each other only after every group it
    reaches. Breadth-first order is not enough: a list holding every link of a chain, innermost
    first, puts each link before its parent.

    The walk follows every object's references (`gc.get_referents`) except into what belongs to
    the host: modules, functions and classes that did not come from this run, the engine's own
    objects, and the runner's own frames; a frame is followed into its locals only, never its
    caller, and a module-level frame not at all (its locals are the namespace). References are
    kept as positions in two arrays, eight bytes each."""

    def __init__(self, boundary: set[int], run_classes: set[int]) -> None:
        self.nodes: list[object] = []
        # Position of each object found by id; the run's own boundary (its namespace and builtins
        # table) at -1, so that the engine's ids need no copy per run (a set union of 1,500 ids
        # was 15 µs of every teardown).
        self.index: dict[int, int] = dict.fromkeys(boundary, -1)
        self.starts = array("q")
        self.edges = array("q")
        self.boundary = _ENGINE_OBJECT_IDS
        self.run_classes = run_classes

    def add(self, roots: list[object]) -> None:
        """Walk from `roots`; once (what it no longer needs is dropped at its end)."""
        nodes, index, boundary, edges, starts = self.nodes, self.index, self.boundary, self.edges, self.starts
        for root in holders(roots):
            if id(root) not in boundary and id(root) not in index:
                index[id(root)] = len(nodes)
                nodes.append(root)
        # The hot loop of the teardown, written for speed: one pass per object the run left.
        is_tracked, referents, find, append = gc.is_tracked, gc.get_referents, index.get, edges.append
        for node in nodes:  # grows as the walk finds more
            starts.append(len(edges))
            kind = type(node)
            # A list's or tuple's items are read in place: a copy of four million references is
            # 32 MB the teardown would add to what the run held.
            references = (
                node
                if kind is list or kind is tuple
                else referents(node)
                if id(kind) in _PLAIN_KINDS
                else self._children(node)
            )
            if len(references) > 16:  # type: ignore[arg-type]
                references = _distinct_holders(references)  # type: ignore[arg-type]
            for child in references:
                kind = type(child)
                if not is_tracked(child) and kind is not tuple and kind is not dict:
                    continue  # holds nothing: numbers, strings
                key = id(child)
                found = find(key)
                if found is None:
                    if key in boundary:
                        continue
                    found = index[key] = len(nodes)
                    nodes.append(child)
                elif found < 0:
                    continue  # the run's boundary
                append(found)
        starts.append(len(edges))
        index.clear()  # the largest part of the walk's memory: not needed from here on

    def _children(self, obj: object) -> list[object]:
        kind = type(obj)
        if kind is ModuleType or id(kind) in _RUN_BOOKKEEPING:
            return []
        if kind is FunctionType:
            return gc.get_referents(obj) if obj.__code__.co_filename == FILENAME else []  # type: ignore[attr-defined]
        if kind is FrameType:
            frame: FrameType = obj  # type: ignore[assignment]
            if id(frame.f_code) in _RUNNER_CODE_IDS or frame.f_locals is frame.f_globals:
                return []
            return list(frame.f_locals.values())
        if issubclass(kind, type) and id(obj) not in self.run_classes:
            return []
        return gc.get_referents(obj)

    def release(self) -> None:
        """Let go of every object, parents first: in Kahn's order where no cycle is in the way,
        the cheap common case; what sits in or under a cycle in Tarjan's order after that."""
        count = len(self.nodes)
        starts, edges = self.starts, self.edges
        parents = [0] * count
        for child in edges:
            parents[child] += 1
        order = [position for position in range(count) if parents[position] == 0]
        for position in order:  # grows as parents are let go
            for child in edges[starts[position] : starts[position + 1]]:
                parents[child] -= 1
                if parents[child] == 0:
                    order.append(child)
        if len(order) < count:
            placed = bytearray(count)
            for position in order:
                placed[position] = 1
            order.extend(self._cyclic_order(placed))
        finished = [self.nodes[position] for position in reversed(order)]
        del order
        self.nodes.clear()
        finished.clear()  # frees from the end, where the parents are

    def _cyclic_order(self, placed: bytearray) -> list[int]:
        """The positions not yet placed, parents first: Tarjan's strongly connected components,
        iterative, which finish a group of objects only after every group it reaches."""
        starts, edges = self.starts, self.edges
        count = len(self.nodes)
        found_at = [-1] * count
        low = [0] * count
        on_stack = bytearray(count)
        stack: list[int] = []
        finished: list[int] = []
        visited = 0
        for root in range(count):
            if placed[root] or found_at[root] >= 0:
                continue
            found_at[root] = low[root] = visited
            visited += 1
            stack.append(root)
            on_stack[root] = 1
            # The depth-first walk's own stack: a chain of a million objects is a million deep.
            calls = [[root, starts[root]]]
            while calls:
                call = calls[-1]
                node, edge = call
                if edge < starts[node + 1]:
                    call[1] = edge + 1
                    child = edges[edge]
                    if placed[child]:
                        continue
                    if found_at[child] < 0:
                        found_at[child] = low[child] = visited
                        visited += 1
                        stack.append(child)
                        on_stack[child] = 1
                        calls.append([child, starts[child]])
                    elif on_stack[child] and found_at[child] < low[node]:
                        low[node] = found_at[child]
                    continue
                calls.pop()
                if calls and low[node] < low[calls[-1][0]]:
                    low[calls[-1][0]] = low[node]
                if low[node] == found_at[node]:
                    while True:
                        member = stack.pop()
                        on_stack[member] = 0
                        finished.append(member)
                        if member == node:
                            break
        finished.reverse()
        return finished


def _classes_made_during_run() -> list[type]:
    """Classes the run created, by the script or by class factories (enum's functional API,
    namedtuple): everything alive before the run is frozen, so gc.get_objects lists only the
    run's objects. Sifted at C speed, by type() and the C subclass check only."""
    young = gc.get_objects()
    return list(compress(young, map(_IS_CLASS, map(type, young))))


_IS_CLASS = functools.partial(type.__subclasscheck__, type)


# 3.13 deprecates sys._clear_type_cache for this, which clears the same cache (and the JIT's
# traces, where there is a JIT).
_clear_type_cache = getattr(sys, "_clear_internal_caches", None) or sys._clear_type_cache


def _ignore_unraisable(_: object) -> None:
    """While a script runs, exceptions in its finalisers (a generator stopped by the budget as it
    closes) have nowhere to go; the host's hook may itself be Python and count as a step."""


def _refuse_finished_run(*_: object, _stop: type[BaseException] = FinishedRunStop) -> object:
    # Bound at definition: at interpreter exit, module globals may already be gone.
    raise _stop("code of a finished run cannot run again")


# --- sys.monitoring ----------------------------------------------------------------------------------


def _start_monitoring(callbacks: tuple[Callable[..., object], ...]) -> None:
    tool = _tool_ids()[0]
    for event, callback in zip(_EVENT_LIST, callbacks, strict=True):
        sys.monitoring.register_callback(tool, event, callback)
    sys.monitoring.set_events(tool, _EVENTS)


def _stop_monitoring(callbacks: tuple[Callable[..., object], ...]) -> None:
    """Switch the budget off; its callbacks must be the ones the run started with."""
    tool = _tool_ids()[0]
    sys.monitoring.set_events(tool, 0)
    for event, callback in zip(_EVENT_LIST, callbacks, strict=True):
        if sys.monitoring.register_callback(tool, event, None) is not callback:
            _fault.append("a run replaced the budget's sys.monitoring callbacks")


def _switch_off_budget() -> None:
    tool = _tool_ids()[0]
    sys.monitoring.set_events(tool, 0)
    for event in _EVENT_LIST:
        sys.monitoring.register_callback(tool, event, None)


def _watch_finished(codes: tuple[CodeType, ...], events: int) -> None:
    """Arm (or, before the code runs again, disarm) the finished-run guard on the script's code."""
    tool = _tool_ids()[1]
    for code in codes:
        if sys.monitoring.get_local_events(tool, code) != events:
            sys.monitoring.set_local_events(tool, code, events)


_tool: list[int] = []


def _tool_ids() -> list[int]:
    """The sandbox's two sys.monitoring tool ids (the budget, the finished-run guard), claimed once
    per process; the guard's callbacks stay registered for good. Ids 0-2 and 5 are conventionally
    the debugger's, coverage's, the profiler's and the optimizer's."""
    if not _tool:
        free = [tool for tool in (3, 4, 2, 1, 0, 5) if sys.monitoring.get_tool(tool) is None]
        if len(free) < 2:
            raise RuntimeError("no free sys.monitoring tool ids")
        sys.monitoring.use_tool_id(free[0], _TOOL_NAME)
        sys.monitoring.use_tool_id(free[1], _FINISHED_TOOL_NAME)
        for event in _FINISHED_EVENT_LIST:
            sys.monitoring.register_callback(free[1], event, _refuse_finished_run)
        _tool.extend(free[:2])
    return _tool


# --- The host's self-check ---------------------------------------------------------------------------

_SETTING_NAMES = (
    "the sys.monitoring tools",
    "the sys.monitoring events",
    "the recursion limit",
    "the garbage collector's settings",
    "sys.unraisablehook",
    "the async generator hooks",
    "the warning filters",
    "tracemalloc",
    "the engine's modules",
)


def _host_settings() -> tuple[object, ...]:
    """The interpreter's settings a run may not change, compared before and after every run, item
    by item (a tuple compares its members by identity first, at C speed)."""
    monitoring = sys.monitoring
    return (
        tuple(map(monitoring.get_tool, range(6))),
        tuple(map(monitoring.get_events, range(6))),
        sys.getrecursionlimit(),
        (gc.isenabled(), gc.get_freeze_count() > 0, gc.get_debug(), gc.get_threshold()),
        sys.unraisablehook,
        tuple(sys.get_asyncgen_hooks()),
        (warnings.filters, *warnings.filters),
        _tracemalloc.is_tracing(),
        tuple(map(sys.modules.get, _ENGINE_MODULE_NAMES)),
    )


class HostTables:
    """A copy of every dict a run may not change: the builtins module's, every engine module's
    globals, and the engine's dict tables. A rebound function or a patched table shows when the
    live dict is compared with its copy, at C speed: identity first, then equality, key by key.
    Copying is cheap (a few microseconds for all of them); building a tuple of every value, as
    this check did before, took 20 µs, twice a run."""

    def __init__(self) -> None:
        self.dicts = _host_dicts()
        self.copies = [(name, table, table.copy()) for name, table in self.dicts]

    def changed(self) -> list[str]:
        """What differs now from the copy, by item name, each once; the copy stays valid while
        nothing has."""
        # Displays and comprehensions only, no len() or list(): the builtins module is among what
        # a run may have damaged.
        now = _host_dicts()
        changed = {name: None for name, table, copy in self.copies if table != copy}
        if now is not self.dicts:
            changed["the engine's modules"] = None  # one imported since the copy
        return [*changed]


def _host_dicts() -> tuple[tuple[str, dict[str, object]], ...]:
    """The dicts HostTables copies, each with the item its change is reported as, the warnings
    module's records dropped from the modules' globals first. Made again only when the engine's
    modules in sys.modules are others (one imported since): the same tuple until then."""
    present = tuple(map(sys.modules.get, _ENGINE_MODULE_NAMES))
    if present != _made_for[0]:
        modules = [module for module in present if module is not None]
        _made_for[:] = [
            present,
            (
                ("the builtins module", vars(_builtins_module)),
                *(("the engine's globals", vars(module)) for module in modules),
                *(("the engine's tables", table) for table in _ENGINE_TABLES),
            ),
            tuple(vars(module) for module in modules),
        ]
    # The warnings module's record of warnings shown, which the interpreter writes into the
    # globals of whichever module a warning is attributed to (re's facade, for `[[a]`): the
    # library's bookkeeping, not a change a run made to the engine.
    for module_globals in _made_for[2]:  # type: ignore[attr-defined]
        module_globals.pop("__warningregistry__", None)
    return _made_for[1]  # type: ignore[return-value]


# The engine's modules _host_dicts last found, its dicts, and the modules' globals (tuples: what
# the self-check compares by identity cannot be changed in place).
_made_for: list[object] = [None, None, None]


_builtins_module = sys.modules["builtins"]
_ENGINE_MODULE_NAMES = tuple(
    f"{__package__}.{name}"
    for name in (
        "builtins", "counting", "guards", "limits", "llm", "ownership", "policy", "results", "runner",
        "sinks", "facades",
        *(f"facades.{facade}" for facade in sorted(facades.FACADE_NAMES)),
    )
)  # fmt: skip


def _engine_modules() -> list[ModuleType]:
    return [sys.modules[name] for name in _ENGINE_MODULE_NAMES if name in sys.modules]


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


# The engine's dict tables, which never change after import (its one cache left out); the globals
# item of the self-check notices one rebound.
_ENGINE_TABLES = tuple(
    value
    for module in _engine_modules()
    for name, value in vars(module).items()
    if type(value) is dict and not name.startswith("__") and name != "_shared_members"
)
# Module-level objects of the engine, which a walk from the script may meet: never part of a run.
_ENGINE_OBJECT_IDS = frozenset(id(value) for module in _engine_modules() for value in vars(module).values())
_RUNNER_CODE_IDS = frozenset(
    id(f.__code__) for f in (run, _run_once, _monitored, _execute, _teardown, _free_cycles)
)
# The engine's own bookkeeping of a run (reached through a with statement's ManagedContext): the
# teardown does not walk into it. Everything else, the engine's classes included (a typing form
# holds what the script subscripted it with), is walked and let go in order.
_RUN_BOOKKEEPING = frozenset(
    map(id, (sandbox_builtins.RunScope, sandbox_builtins.OutputBuffer, StepBudget, facades.FacadeRun))
)
