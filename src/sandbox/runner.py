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
import struct
import sys
import time
import warnings
from _collections import _count_elements  # type: ignore[attr-defined]
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from itertools import batched, chain, compress, islice, repeat
from operator import eq, ge, is_, is_not, lt, not_
from types import (
    AsyncGeneratorType,
    BuiltinFunctionType,
    CellType,
    CodeType,
    CoroutineType,
    FrameType,
    FunctionType,
    GeneratorType,
    GenericAlias,
    GetSetDescriptorType,
    MappingProxyType,
    MemberDescriptorType,
    MethodType,
    MethodWrapperType,
    ModuleType,
    SimpleNamespace,
    TracebackType,
    UnionType,
)
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
    memory_error,
    pause_alarm,
    size_text,
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


# A call's arguments, or what makes them once the host is frozen (see `run`).
Arguments = tuple[object, ...] | Callable[[], tuple[object, ...]]


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
            facades.load(policy.allowed_imports)  # now, with the host's builtins: never in a run
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
    fresh = sorted(
        word
        for word in pieces - names
        # __debug__ is the one identifier that cannot be bound (and is permanent already).
        if word.isidentifier() and not keyword.iskeyword(word) and word != "__debug__"
    )
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
    arguments: Arguments = (),
    convert: Callable[[object], object] | None = None,
    tables: HostTables | None = None,
) -> Outcome:
    """Run the module in a fresh namespace; then, if `call` names a function it defined, call it
    with `arguments` (or what `arguments()` makes once the host is frozen: objects the run owns,
    which its teardown frees), inside the same budget, and pass what it returned to `convert` while the
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
    if changed:
        # After a teardown's fault too: a run that also changed the host is never the script's result.
        _fault.append(f"a run changed {', '.join(changed)}")
    # No builtin here: the run may have replaced one (len).
    if outcome is not None and _fault and _fault[0] in _TEARDOWN_FAULTS and not _fault[1:]:
        # The script's own doing: its result stands (a timeout, at least: `_monitored`); the
        # interpreter refuses from now on, and a runner isolate asks to be replaced.
        _switch_off_budget()
        return outcome
    if outcome is None or _fault:
        # Whatever the run left, host code from here on must not meet a spent budget.
        _switch_off_budget()
        return Outcome(output="", error=_refusal(), error_type="internal")
    return outcome


def _run_once(
    compiled: Compiled,
    limits: Limits,
    call: str | None,
    arguments: Arguments,
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
    # Tracing starts in `_monitored`, once the call's arguments are made; stopped here whatever
    # happened there.
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
    arguments: Arguments,
    convert: Callable[[object], object] | None,
    tracing_here: bool,
) -> Outcome:
    """The budget on, the script, its teardown, the budget off."""
    callbacks = (budget.on_event,) * len(_EVENT_LIST)
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
            if callable(arguments):
                # Made now, after the freeze, the run's own: the teardown frees what the script
                # hung on them. Made before, they were the host's, and a chain stored in the trace
                # (`trace['x'] = chain`) was freed recursively when the caller let the trace go,
                # losing a Pyodide isolate.
                namespace["__sandbox_arguments__"] = arguments = arguments()
            if tracing_here:
                # Only now: the budget's memory starts from what is traced when the script starts
                # (StepBudget.start), so the arguments were never counted, and tracing their
                # decoding (a medium trace, 2,000 allocations) made it six times slower.
                _tracemalloc.start()
            error, value = _execute(compiled, namespace, budget, call, arguments, convert)
            del arguments
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
            if budget.stop is None and _fault and _fault[0] in _TEARDOWN_FAULTS:  # none before (see run)
                budget.stop = _teardown_stop(budget.limits, _fault[0])
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
# objects only with type(), gc.get_referents, sys.getrefcount and the C methods of built-in types
# (on a subclass, the base type's own: `list.clear(obj)`), never with isinstance or attribute
# lookups a script could hook.
#
# CPython frees a nested structure recursively in C, a level of the C stack for each level of the
# structure; in Pyodide a few thousand levels overflow the WebAssembly stack and kill the isolate
# (measured in Pyodide 314: a chain of 6,000 lists, tuples, dicts or instances). CPython's trashcan,
# which defers deep deallocations, does not prevent it there: 3.14 measures the C stack in linear
# memory, not the WebAssembly stack that overflows. So nothing the run left is freed by a cascade:
# each object is emptied from outside before anything is let go, or let go while all it holds is
# still held by the teardown.


def _teardown(
    budget: StepBudget,
    namespace: dict[str, object],
    user_classes: set[type],
    cleaned: dict[int, tuple[BaseException, TracebackType | None]],
) -> None:
    """Free everything the run left, at C speed per reference, with no deallocation recursing.

    The collector says what is the run's: the run's roots go into a list that refers to itself and
    that nothing else holds, and a collection with gc.DEBUG_SAVEALL hands over, instead of freeing,
    every object only that list kept alive (`_free_garbage`). Everything alive when the run started
    was frozen, so the collection looks at what the run made, and nothing outside can reach what
    it hands over: it is emptied from outside, without asking whose it is."""
    if budget.tripped is None:
        budget.tripped = TeardownStop("teardown")
    # No collection of the interpreter's own in between: one would free, with tp_clear and so
    # recursively, the cycles the script dropped before the run ended.
    collecting = gc.isenabled()
    gc.disable()
    meter = _meter(budget)
    try:
        if not _abandon(budget, namespace, user_classes, cleaned, meter):
            return
        _free_garbage(meter)
    finally:
        if collecting:
            gc.enable()


def _abandon(
    budget: StepBudget,
    namespace: dict[str, object],
    user_classes: set[type],
    cleaned: dict[int, tuple[BaseException, TracebackType | None]],
    meter: _Meter,
) -> bool:
    """Leave what the run made to a list that refers to itself and to nothing else holds. A
    function of its own: its locals (a loop's last object) go when it returns, before the
    collection, which would otherwise find them held. False where the finalisers the collection
    would run cannot be paid for: then all the run made is kept for good and the interpreter is
    faulted."""
    # The exception that stopped the run holds, through its traceback, the frames it left: a guard's
    # frame holds the script's data it refused (`s * 100`: s).
    roots = [*namespace.values(), budget.tripped, *cleaned.values()]
    # The collection runs finalisers before it hands anything over: closing a paused generator
    # clears its frame, and what a local alone held (a chain of 20,000 slices) would go with it,
    # recursively. What a paused generator, or an object with a __del__, refers to is held here
    # first (all that is not frozen: what the run made), and so is what a generator delegates to.
    young = gc.get_objects()
    # Kinds, not their ids: an id is a new int, an allocation an object (in Pyodide, a third of this).
    finalised = {kind for kind in set(map(type, young)) if _finalises_known(kind)}
    held = list(compress(young, map(finalised.__contains__, map(type, young)))) if finalised else []
    # Generators and coroutines that are not paused (never started, `list(map(coroutine_function,
    # xs))`, or finished) are closed here at C speed, which runs nothing of theirs and leaves the
    # collection no finaliser of theirs to run: a coroutine never awaited warned through host
    # Python, a step of the spent budget, 5 us a coroutine inside the collection (15 times a
    # 300 ms budget in Pyodide), and each took a turn of the loop below.
    for kind, paused_now, close in _PAUSABLE:
        if kind in finalised:
            of_kind = list(compress(held, map(is_, map(type, held), repeat(kind))))
            paused = list(map(paused_now, of_kind))
            _drain(map(close, compress(of_kind, map(not_, paused))))
            held = [*compress(held, map(is_not, map(type, held), repeat(kind))), *compress(of_kind, paused)]
            del of_kind, paused
    # Closing a paused one runs its handlers in the collection, each met by the finished-run guard
    # (a raise, and the unraisable hook: 12 us for 19 nested try blocks in Pyodide, 100,000 of
    # them six times a 300 ms budget): paid for before, by the size of their code's handler tables.
    handlers = sum(map(len, map(_HANDLER_TABLE, map(_code_of, held))))
    try:
        meter.spend(len(held) * _NS_PAUSED + handlers * _NS_HANDLER_BYTE)
    except _Overrun as stopped:
        _keep_for_good(young, stopped.args[0])
        return False
    del young
    delegates: list[object] = []
    node = None
    for node in held:
        roots.extend(gc.get_referents(node))
        delegation = _DELEGATES.get(id(type(node)))
        if delegation is not None:
            delegates.append(delegation(node))
    del held, node
    # The exception that spent the budget may hold what the script put in it; the stop stays sticky
    # with one of the host's own.
    budget.tripped = TeardownStop("teardown")
    namespace.clear()
    cleaned.clear()
    for cls in user_classes:
        _hollow(cls, roots)
    # Freeing a generator paused in `yield from` calls its delegate's `close`, looked up as a plain
    # attribute: with the classes hollowed, only an instance's own could answer, and it could be
    # a host C loop (functools.partial(sorted, xs)) running past the budget. Every delegate of the
    # script's classes is emptied before the collection runs the finalisers.
    made = set(map(id, user_classes))
    for delegate in delegates:
        kind = type(delegate)
        if id(kind) in made:
            _clear_attributes(delegate, roots)
            for member in _slot_members(kind):
                _clear_slot(member, delegate, roots)
    del delegates
    user_classes.clear()
    roots.append(roots)  # a cycle nothing else holds: garbage, with all that only it kept alive
    del roots
    return True


def _code_of(held: object) -> CodeType:
    """The code a finalising object of the run would run handlers of: a generator's, coroutine's
    or async generator's; none for the rest."""
    read = _CODES.get(id(type(held)))
    return _NO_HANDLERS if read is None else read(held)


_CODES: dict[int, Callable[[Any], CodeType]] = {
    id(GeneratorType): GeneratorType.gi_code.__get__,  # type: ignore[attr-defined]
    id(CoroutineType): CoroutineType.cr_code.__get__,  # type: ignore[attr-defined]
    id(AsyncGeneratorType): AsyncGeneratorType.ag_code.__get__,  # type: ignore[attr-defined]
}
_NO_HANDLERS = compile("", "<none>", "exec")
_HANDLER_TABLE = CodeType.co_exceptiontable.__get__  # type: ignore[attr-defined]


def _free_garbage(meter: _Meter) -> None:
    """Collect with gc.DEBUG_SAVEALL, so the collector hands its garbage over instead of freeing
    it; where a deallocation can overflow the stack, hold the tuples the collector does not track
    as well (`_untracked_tuples`); empty every object from outside (`_Emptier`); let go of them in
    an order in which nothing goes with another (`_let_go`); collect once more.

    Each of these meters its work as it goes (`_Meter`): the budget's reserve prices what a run
    holds at the teardown's measured rates, but what one C call made is seen only after it, and
    some shapes cost more than the rates (a reference to a tuple the collector does not track is
    looked up by id: 170 ns in Pyodide). Past the meter's end, what is left is kept for good and
    the interpreter is faulted, so that its runner isolate is replaced: the run ends within twice
    its budget whatever it left."""
    nodes = _saved_garbage()
    try:
        if _WASM_STACK:
            nodes.extend(_untracked_tuples(nodes, meter))
        _Emptier(nodes).empty(meter)
        _let_go(nodes, meter)
    except _Overrun as stopped:
        # Nothing is freed from here: let go of now, what is left would go recursively.
        _keep_for_good(nodes, stopped.args[0])
        return
    gc.collect()
    # What a collection leaves of the run is memory nothing can give back: a ring through a zip's
    # or an enumerate's reused result tuple (no type in it can be cleared) kept 40 MB a run until
    # the isolate ran out. The interpreter is faulted, so that its runner isolate is replaced.
    if _saved_garbage() and _UNCUT_FAULT not in _fault:
        _fault.append(_UNCUT_FAULT)


class _Overrun(Exception):
    """The teardown reached the end of its meter."""


def _keep_for_good(held: list[object], fault: str) -> None:
    """What the teardown cannot free is kept for as long as the interpreter lives, which from now
    on refuses every run (`fault`), so that its runner isolate is replaced."""
    _UNCUT.append(held)
    if not _fault:
        _fault.append(fault)


class _Meter:
    """What the teardown may still do: by the clock where it moves, and by a count of its own work
    where it stands still (deployed Workers advance their clocks only at I/O, so a teardown would
    read one time throughout). Not a dataclass: its generated __init__ is not the engine's code,
    and would be a step of the spent budget."""

    def __init__(self, cutoff: float, started: float, allowance_ns: float, room: int) -> None:
        self.cutoff = cutoff  # the clock's reading past which the teardown stops
        self.started = started
        self.room = room
        # The work it may count, at rates that are lower bounds of Pyodide's (the _NS_ constants).
        self.allowance_ns = allowance_ns
        self.spent_ns = 0.0

    def spend(self, ns: float, holding: float = 0) -> None:
        """Count `ns` of work, about to be done or just done, and stop past the end; and stop where
        the teardown's own structures would hold more than `room` (`holding` bytes): in a Worker
        the isolate's memory is the run's and these together (a chain of 1.5 million tuples at the
        defaults took the WebAssembly heap to 323 MB)."""
        if holding > self.room:
            raise _Overrun(_OVERFULL_FAULT)
        ns *= _RATE
        self.spent_ns += ns
        now = _clock()
        # Ahead of work about to be done: what will not fit is not started (where the clock moves,
        # the work is counted as time at the same lower-bound rates).
        if now + ns / 1e9 > self.cutoff or (now == self.started and self.spent_ns > self.allowance_ns):
            raise _Overrun(_OVERRUN_FAULT)


def _teardown_stop(limits: Limits, fault: str) -> tuple[str, str]:
    """The stop of a run that ended well but whose teardown did not: what it would have broken."""
    if fault == _OVERRUN_FAULT:
        return f"Execution timeout exceeded {limits.timeout_ms}ms: {fault}", "timeout"
    return f"Memory limit exceeded: {fault} of {size_text(limits.memory_bytes)}", "memory"


def _meter(budget: StepBudget) -> _Meter:
    """Twice the budget from the script's start, less a margin for what follows the teardown (the
    last collection, the self-check): by the clock, or from the end of a C call of the script that
    ran past its deadline, as much again as the budget's reserve prices what the run holds at; by
    the count, what the steps the script took leave of it."""
    # Fields only: a property's code, not exempt from the budget, would be a step of a spent one.
    timeout_ms = budget.limits.timeout_ms
    now = _clock()
    cutoff = max(budget.deadline, now) + (_TEARDOWN_SHARE - 1) * timeout_ms / 1000
    steps_ms = (budget.steps + budget.pending) / budget.limits.steps_per_ms
    # The count sees none of the time the script's C calls took, and counts at lower bounds: of a
    # script that ended early, less than the rest (what the reserve let it hold costs well under it).
    counted_ms = min(_TEARDOWN_SHARE * timeout_ms - steps_ms, _COUNTED_SHARE * timeout_ms)
    allowance_ms = max(counted_ms, (_TEARDOWN_SHARE - 1) * timeout_ms)
    return _Meter(cutoff, now, allowance_ms * 1e6, budget.limits.memory_bytes)


# The C function, bound once: a script's run never reaches the module's attribute.
_clock = time.perf_counter
# Of the budget, from the script's start: the teardown's own end.
_TEARDOWN_SHARE = 1.8
_COUNTED_SHARE = 1.5
_OVERRUN_FAULT = "freeing what a run left would have taken it past twice its budget"
_OVERFULL_FAULT = "freeing what a run left would have needed more memory than its limit"
_TEARDOWN_FAULTS = (_OVERRUN_FAULT, _OVERFULL_FAULT)
# Bytes of the teardown's own structures, a pointer's size apart: an untracked tuple found (an
# entry of a dict by id: 61 measured in Pyodide), an object ordered (its position by id, two ints
# and an entry, its references' arrays and count: 115 in Pyodide, 194 on CPython).
_FOUND_BYTES = 16 * struct.calcsize("P")
_INDEX_BYTES = 29 * struct.calcsize("P")
_CHECKED = 1024  # objects emptied or ordered between two looks at the meter
# What the teardown's work costs at least in Pyodide 314 under Node (the reserve's rates,
# FREED_BLOCKS_PER_MS and FREED_BYTES_PER_MS, are the most it costs): emptying and letting go of
# an object, sifting and clearing a reference, looking an untracked tuple up by id, reading a
# reference to order what rounds left, ordering a position, a round's look at an object, Kahn's
# look at a reference, the walk among cycles' and its levels' looks at one and at a position
# (64,000 positions in nested rings: 3.7 us each).
_NS_OBJECT = 1000
_NS_REFERENCE = 30
_NS_LOOKUP = 100
_NS_READ = 250
_NS_EDGE = 150
_NS_WALK = 500
_NS_WALK_POSITION = 2000
_NS_POSITION = 300
_NS_ROUND = 20
_NS_STEP = 300  # a Python call of the emptier's steps
_NS_SLOT = 100  # a slot written by _clear_slots
_NS_BETWEEN_LOOKS = 2e6
# An object or reference a collection reads: 13 to 14 ns in Pyodide (chains of classes, narrow and
# wide). Not a lower bound like the rest: at 8 ns a chain ended at 2 times the budget.
_NS_COLLECTED = 13
# The rates are Pyodide's; CPython does the same work in a third of the time or less.
_RATE = 1.0 if sys.platform == "emscripten" else 1 / 3
# Closing a paused generator in the collection, and a byte of its code's handler table (each
# handler it runs meets the finished-run guard: 0.25 us with none, 2.1 with one try block, 12 with
# nineteen nested, 227 bytes).
_NS_PAUSED = 500
_NS_HANDLER_BYTE = 40


def _saved_garbage() -> list[object]:
    debug = gc.get_debug()
    saved = len(gc.garbage)
    gc.set_debug(debug | gc.DEBUG_SAVEALL)
    try:
        gc.collect()
    finally:
        gc.set_debug(debug)
    garbage = gc.garbage[saved:]
    del gc.garbage[saved:]
    return garbage


def _hollow(cls: type, keep: list[object]) -> None:
    """Drop the script's own attributes from a class it defined: a host cache may keep the class
    (typing.List[K]) long after the run, and with it whatever its attributes hold. Through
    type's own __delattr__, which keeps the interpreter's lookup caches right; dunders stay, and
    the accessors of __slots__ (they hold a name), through which the teardown empties instances.
    What the attributes held goes to `keep`, freed with the rest of the run."""
    namespace = _class_namespace(cls)
    for name in list(namespace):
        if type(name) is str and not (name.startswith("__") and name.endswith("__")):
            value = namespace[name]
            if type(value) is MemberDescriptorType:
                continue
            keep.append(value)
            try:  # noqa: SIM105
                type.__delattr__(cls, name)
            except BaseException:  # noqa: BLE001 - an odd class; what it keeps, the guard covers
                pass


def _clear_attributes(obj: object, keep: list[object] | None = None) -> None:
    """Instance attributes (inline values have no dict until asked for one), their values moved to
    `keep`. The lookup may meet a __dict__ the script defined through class machinery: it stops at
    its first step."""
    try:
        attributes = object.__getattribute__(obj, "__dict__")
    except BaseException:  # noqa: BLE001
        return
    if type(attributes) is dict:
        if keep is not None:
            keep.extend(attributes.values())
        attributes.clear()


def _slot_members(kind: type) -> list[MemberDescriptorType]:
    """The accessors of the __slots__ that `kind` and its bases declare (a C type's own fields
    have accessors of the same type, some read-only, but no __slots__: they are left alone)."""
    return [
        value
        for klass in _mro(kind)
        if klass.__flags__ & _HEAPTYPE and "__slots__" in _class_namespace(klass)
        for value in _class_namespace(klass).values()
        if type(value) is MemberDescriptorType
    ]


def _clear_slot(member: MemberDescriptorType, obj: object, keep: list[object] | None = None) -> None:
    try:
        value = member.__get__(obj)
        member.__delete__(obj)
    except BaseException:  # noqa: BLE001 - an empty slot
        return
    if keep is not None:
        keep.append(value)


# --- Tuples the collector does not track (where a deallocation can overflow the stack) -------------
# The collector untracks a tuple whose items are all untracked (numbers, strings, untracked tuples),
# so a chain of nested tuples (`x = (x,)`) is invisible to it after a collection: the collection
# does not hand it over, and emptying what refers to it would free it recursively. On CPython the
# trashcan counts the levels of such a cascade and defers the deep ones; in Pyodide it does not.

_WASM_STACK = sys.platform == "emscripten"
_SIFTED = 4096  # references sifted in one C pass
_FEW = 8  # references of an object that is not a container, about (attributes, a frame's locals)


def _untracked_tuples(nodes: list[object], meter: _Meter) -> list[object]:
    """Every untracked tuple that `nodes` refer to, and every one below those, each once."""
    found: dict[int, object] = {}
    _sift_referents(nodes, found, meter)
    # Below the untracked tuples found: only numbers, strings and untracked tuples.
    level = list(found.values())
    while level:
        if len(level) <= _LINKS and sum(map(len, level)) <= _LINKS:  # type: ignore[arg-type]
            # A chain, a link at a time: one Python step a link.
            below = gc.get_referents(*level)
            meter.spend(len(below) * _NS_LOOKUP, len(found) * _FOUND_BYTES)
            level = []
            for item in below:
                if type(item) is tuple and id(item) not in found:
                    found[id(item)] = item
                    level.append(item)
            continue
        fresh: dict[int, object] = {}
        _sift_below(level, fresh, len(found), meter)
        new = fresh.keys() - found.keys()
        level = list(map(fresh.__getitem__, new))
        found.update(zip(new, level, strict=True))
        meter.spend(0, len(found) * _FOUND_BYTES)
    return list(found.values())


def _sift_below(tuples: list[object], found: dict[int, object], held: int, meter: _Meter) -> None:
    """The untracked tuples that `tuples` (untracked tuples all) hold, into `found` by id: a large
    one a chunk at a time, the rest a group at a time, at C speed. `held`: the entries of the
    teardown's own dict of tuples found, which this level's are added to after it."""
    large = map(lt, repeat(_SIFTED), map(len, tuples))  # type: ignore[arg-type]
    for one in compress(tuples, large):
        for chunk in _READERS[id(tuple)][1](one):  # type: ignore[index]
            looked_up = _sift(chunk, found)
            meter.spend(len(chunk) * _NS_REFERENCE + looked_up * _NS_LOOKUP, _level_bytes(held, found))
    small = list(compress(tuples, map(ge, repeat(_SIFTED), map(len, tuples))))  # type: ignore[arg-type]
    for start in range(0, len(small), _GROUP):
        below = gc.get_referents(*small[start : start + _GROUP])
        looked_up = _sift(below, found)
        meter.spend(len(below) * _NS_REFERENCE + looked_up * _NS_LOOKUP, _level_bytes(held, found))


def _level_bytes(held: int, fresh: dict[int, object]) -> int:
    """What finding a level holds: the dict of tuples found so far, and this level's own, which is
    also a set of the new keys, a list of them, and the found dict's growth when they join it."""
    return (held + 3 * len(fresh)) * _FOUND_BYTES


_GROUP = 256  # small tuples sifted in one C pass: a million references at most


def _sift_referents(objects: list[object], found: dict[int, object], meter: _Meter) -> None:
    """The untracked tuples `objects` refer to, into `found` by id. Found by the kinds of the
    references, sifted at C speed a chunk at a time (`_sift`): small objects many at a time through
    gc.get_referents, a large container in place through its base type's own methods, never copied
    whole (a tuple of 16 million references, sifted in one call, ran past the meter's end)."""
    batch: list[object] = []
    batched = 0  # references in the batch, about: few for an object that is not a container
    # By kind, not by id: an id is a new int, an allocation an object (a fifth of this in Pyodide).
    readers: dict[type, object] = {}
    fields: dict[type, int] = {}
    for node in objects:
        kind = type(node)
        if kind is dict or kind is list or kind is tuple:
            # Most of any run's garbage, measured here: an exact one's len is C's own.
            size = len(node)  # type: ignore[arg-type]
            reader = _READERS[id(kind)] if size > _SIFTED else None
        else:
            reader = readers.get(kind, _UNKNOWN)
            if reader is _UNKNOWN:
                reader = _READERS.get(id(kind), _UNKNOWN)
                if reader is _UNKNOWN:
                    reader = _reader(kind)
                readers[kind] = reader
                # Not a container: a few references, and one a slot (1,000 slots: counted as 8).
                fields[kind] = _FEW + len(_slot_members(kind))
            size = fields[kind] if reader is None else reader[0](node)  # type: ignore[index]
        if size > _SIFTED:
            for chunk in reader[1](node):  # type: ignore[index]
                looked_up = _sift(chunk, found)
                meter.spend(len(chunk) * _NS_REFERENCE + looked_up * _NS_LOOKUP, len(found) * _FOUND_BYTES)
            continue
        if batched + size > _SIFTED:
            looked_up = _sift(gc.get_referents(*batch), found)
            meter.spend(batched * _NS_REFERENCE + looked_up * _NS_LOOKUP, len(found) * _FOUND_BYTES)
            batch.clear()
            batched = 0
        batch.append(node)
        batched += size
    looked_up = _sift(gc.get_referents(*batch), found)
    meter.spend(batched * _NS_REFERENCE + looked_up * _NS_LOOKUP, len(found) * _FOUND_BYTES)


_LINKS = 16


def _sift(references: list[object], found: dict[int, object]) -> int:
    """The untracked tuples among `references`, into `found` by id: most chunks hold no tuple at
    all, which one C pass over their kinds tells; the tuples of the rest each looked at once. How
    many references were looked up by id."""
    kinds = set(map(type, references))
    if tuple not in kinds:
        return 0
    if len(kinds) == 1:  # tuples only (a tuple of tuples, a grid): a copy, not a pass over kinds
        tuples = list(references)
    else:
        tuples = list(compress(references, map(is_, map(type, references), repeat(tuple))))
    del kinds
    # A run of one tuple (a grid, `[(0, 0)] * n`) is one look-up: repeats next to each other go
    # first, at C speed.
    if len(tuples) > 1:
        after = islice(tuples, 1, None)
        tuples[1:] = compress(islice(tuples, 1, None), map(is_not, after, tuples))
    # The tracked ones are the collector's (it handed them over): only the rest are looked up by
    # id, a new int each (170 ns a reference in Pyodide, where telling tracked apart is 10).
    tuples = list(compress(tuples, map(not_, map(gc.is_tracked, tuples))))
    # One that holds no tuple frees only numbers and text: nothing goes after it, so it need not
    # be held (a list of 900,000 pairs, held, took the teardown's memory past the run's limit).
    # Told for the chunk at once, at C speed, where its tuples are small.
    if (
        tuples
        and sum(map(len, tuples)) <= 8 * _SIFTED
        and tuple not in set(map(type, gc.get_referents(*tuples)))
    ):
        return 0
    distinct = dict(zip(map(id, tuples), tuples, strict=True))
    looked_up = len(tuples)
    del tuples
    for key in distinct.keys() & found.keys():
        del distinct[key]
    found.update(distinct)
    return looked_up


# Generators and coroutines: whether one is paused, and how to close one that is not (async
# generators close through an awaitable, and a finished or unstarted one runs nothing either way).
_PAUSABLE = (
    (GeneratorType, GeneratorType.gi_suspended.__get__, GeneratorType.close),  # type: ignore[attr-defined]
    (CoroutineType, CoroutineType.cr_suspended.__get__, CoroutineType.close),  # type: ignore[attr-defined]
)
# What a paused generator, coroutine or async generator delegates to (None if nothing).
_DELEGATES: dict[int, Callable[[Any], object]] = {
    id(GeneratorType): GeneratorType.gi_yieldfrom.__get__,  # type: ignore[attr-defined]
    id(CoroutineType): CoroutineType.cr_await.__get__,  # type: ignore[attr-defined]
    id(AsyncGeneratorType): AsyncGeneratorType.ag_await.__get__,  # type: ignore[attr-defined]
}


def _finalises(kind: type) -> bool:
    """Whether the collector runs code of an object of `kind` before it hands the object over:
    generators and their kin close, and a class's __del__ runs (looked up in the class
    dictionaries, not through attribute lookup)."""
    return id(kind) in _DELEGATES or any("__del__" in _class_namespace(klass) for klass in _mro(kind))


_UNKNOWN = object()
_HEAPTYPE = 1 << 9
_INLINE_VALUES = 1 << 2
_class_namespace = type.__dict__["__dict__"].__get__
_mro = type.__dict__["__mro__"].__get__


def _reader(
    kind: type,
) -> tuple[Callable[[Any], int], Callable[[Any], Iterable[list[object]]]] | None:
    """How to count and read the references of a `kind` of container in place, a chunk at a time,
    through the C methods of its built-in base (a subclass's own __len__, __iter__ or __getitem__
    would be the script's); None for other kinds, whose references are few."""
    for base in _mro(kind):
        if base is list or base is tuple:
            return base.__len__, functools.partial(_slices, base.__len__, base.__getitem__)  # type: ignore[attr-defined]
        if base is dict:
            return dict.__len__, _dict_chunks
        if base is set or base is frozenset or base is collections.deque:
            return base.__len__, functools.partial(_iterated, base.__iter__)  # type: ignore[attr-defined]
    return None


def _dict_chunks(obj: dict[object, object]) -> Iterable[list[object]]:
    return _chunks(chain(dict.keys(obj), dict.values(obj)))


def _slices(
    length: Callable[[Any], int], item: Callable[[Any, slice], list[object]], obj: object
) -> Iterable[list[object]]:
    size = length(obj)
    for start in range(0, size, _SIFTED):
        yield item(obj, slice(start, start + _SIFTED))


def _iterated(iterate: Callable[[Any], Iterable[object]], obj: object) -> Iterable[list[object]]:
    return _chunks(iterate(obj))


def _chunks(items: Iterable[object]) -> Iterable[list[object]]:
    items = iter(items)
    while chunk := list(islice(items, _SIFTED)):
        yield chunk


# --- Emptying ------------------------------------------------------------------------------------


class _Emptier:
    """Empties the garbage from outside, each object through what its kind offers in C: clears
    lists, dicts, sets and deques (a subclass's through its base type's own `clear`), cells,
    frames, attributes and slots, exception links, the defaults of functions, partials, the
    namespaces of classes (through type's own __delattr__). Safe, since nothing but the garbage
    itself refers to it; nothing is freed meanwhile, since the garbage list holds all of it and
    `_untracked_tuples` the rest. Nothing of the script runs: none of these calls a method a
    class can define. A class's own dict is never cleared directly: clearing it would leave the
    interpreter's lookup caches pointing at freed objects."""

    def __init__(self, nodes: list[object]) -> None:
        self.nodes = nodes
        # The classes among the garbage, by their kinds (metaclasses), each kind tested once: a
        # test an object was a fifth of the emptying in Pyodide.
        metaclasses = {kind for kind in set(map(type, nodes)) if _IS_CLASS(kind)}
        classes = compress(nodes, map(metaclasses.__contains__, map(type, nodes))) if metaclasses else ()
        self.class_dicts = set(map(id, gc.get_referents(*map(_class_namespace, classes))))
        self.actions = dict(_STEPS)
        self.costs = dict(_STEP_COSTS)

    def empty(self, meter: _Meter) -> None:
        actions = self.actions
        costs = self.costs
        class_dicts = self.class_dicts
        # What a kind's steps cost beyond an object's own (nine Python calls for a SyntaxError's
        # fields, 1,000 slots written: 4 and 110 us in Pyodide, where an object is counted at 1),
        # counted before they run and looked at every few ms of it.
        dearer = 0.0
        for some in batched(self.nodes, _CHECKED, strict=False):
            meter.spend(len(some) * _NS_OBJECT + dearer)
            dearer = 0.0
            for node in some:
                kind = type(node)
                # Plain dicts and lists, most of any run's garbage, emptied here: a call of a step
                # for each was two thirds of the emptying in Pyodide (100 us of a medium trace's).
                if kind is dict:
                    if id(node) not in class_dicts:
                        node.clear()  # type: ignore[attr-defined]
                    continue
                if kind is list:
                    node.clear()  # type: ignore[attr-defined]
                    continue
                steps = actions.get(id(kind))
                if steps is None:
                    steps = actions[id(kind)] = _steps(kind)
                    costs[id(kind)] = _steps_cost(steps)
                dearer += costs[id(kind)]
                if dearer > _NS_BETWEEN_LOOKS:
                    meter.spend(dearer)
                    dearer = 0.0
                for step in steps:
                    step(node)
                if _slots_written[0]:
                    dearer += _slots_written[0] * _NS_SLOT
                    _slots_written[0] = 0


def _steps_cost(steps: tuple[Callable[[Any], object], ...]) -> float:
    """What emptying an object with `steps` costs at least, beyond an object's own: a Python call
    a step (C methods cost no more than the object); slots written are counted as they are."""
    return sum(_NS_STEP for step in steps if type(step) is functools.partial or type(step) is FunctionType)


# Slots `_clear_slots` wrote since the emptier last counted them: whether it writes is told per
# object (slots left alone cost a few ns each).
_slots_written = [0]


def _steps(kind: type) -> tuple[Callable[[Any], object], ...]:
    """How to empty an object of `kind` (a plain dict or list is the emptier's own: it skips
    classes' dicts)."""
    if kind is list or kind is set or kind is collections.deque or kind is dict:
        return (kind.clear,)
    if kind is CellType:
        return (_CELL_CONTENTS.__delete__,)
    if kind is FrameType:
        return (_clear_frame,)
    if kind is TracebackType:
        return (_cut_traceback,)
    if kind is FunctionType:
        return (_empty_function,)
    if _IS_CLASS(kind):
        return (_empty_class,)
    steps: list[Callable[[Any], object]] = []
    for base in _mro(kind):
        clear = _BASE_CLEARS.get(id(base))
        if clear is not None:
            steps.append(clear)
            break
    if issubclass(kind, BaseException):
        steps.append(_cut_exception)
        fields = (member for base in _mro(kind) for member in _EXCEPTION_FIELDS.get(id(base), ()))
        steps.extend(functools.partial(_clear_slot, member) for member in fields)
    if kind.__flags__ & _INLINE_VALUES:
        # Attributes kept in the object itself, with no dict until one is asked for; a dict,
        # wherever one exists, is garbage of its own and emptied as such.
        steps.append(_clear_attributes)
    slots = tuple(_slot_members(kind))
    if slots:
        steps.append(functools.partial(_clear_slots, slots))
    return tuple(steps)


def _clear_slots(members: tuple[MemberDescriptorType, ...], obj: object) -> None:
    """Every slot a class statement declared, at C speed: None written into each, which never
    raises for such a slot, and drops what it held (the emptier holds every object of the run, so
    nothing goes from here); none of it where the slots hold nothing that refers further (the
    collector's own walk of them says so, a few ns a slot). A Python call a slot, reading it first,
    cost 0.8 us an empty one in Pyodide (its AttributeError): instances of a class of 1,000 empty
    slots, made a step each, took the teardown to 18 times a 300 ms budget."""
    # Its referents are its class and what its slots hold. A slot need not be cut where what it
    # holds cannot be in a cycle or a chain (numbers, text) or is emptied itself (plain lists,
    # dicts, sets): the kinds, read at C speed, a few ns a slot.
    kinds = set(map(type, gc.get_referents(obj)))
    if not kinds.issubset(_LEFT_IN_SLOTS) and any(
        not issubclass(kind, type) for kind in kinds - _LEFT_IN_SLOTS
    ):
        _drain(map(_SET_MEMBER, members, repeat(obj), repeat(None)))
        _slots_written[0] += len(members)


_SET_MEMBER = MemberDescriptorType.__set__
_LEFT_IN_SLOTS = frozenset({int, float, complex, str, bytes, bool, type(None), list, dict, set, bytearray})
_drain = collections.deque(maxlen=0).extend


# The fields a built-in exception keeps beside its arguments (StopIteration.value,
# AttributeError.obj, OSError.filename, ...): a script's subclass may set them, and a ring through
# one was left to the collector, whose clearing of the exception freed a chain behind it
# recursively (losing a Pyodide isolate).
_EXCEPTION_FIELDS = {
    id(kind): tuple(value for value in vars(kind).values() if type(value) is MemberDescriptorType)
    for kind in vars(sys.modules["builtins"]).values()
    if type(kind) is type and issubclass(kind, BaseException)
}
_CELL_CONTENTS = CellType.cell_contents  # type: ignore[attr-defined]
_set_args = BaseException.args.__set__  # type: ignore[attr-defined]
_set_traceback = BaseException.__traceback__.__set__  # type: ignore[attr-defined]
_set_context = BaseException.__context__.__set__  # type: ignore[attr-defined]
_set_cause = BaseException.__cause__.__set__  # type: ignore[attr-defined]
_set_tb_next = TracebackType.tb_next.__set__  # type: ignore[attr-defined]
_FUNCTION_FIELDS = tuple(
    FunctionType.__dict__[name] for name in ("__defaults__", "__kwdefaults__", "__doc__", "__module__")
)


def _clear_frame(frame: FrameType) -> None:
    try:  # noqa: SIM105
        frame.clear()
    except RuntimeError:
        pass  # a suspended generator's frame: its generator is garbage too, and closed


def _cut_traceback(tb: TracebackType) -> None:
    _set_tb_next(tb, None)


def _cut_exception(exc: BaseException) -> None:
    _set_args(exc, ())
    _set_traceback(exc, None)
    _set_context(exc, None)
    _set_cause(exc, None)


def _empty_function(function: FunctionType) -> None:
    for field in _FUNCTION_FIELDS:
        field.__set__(function, None)


def _empty_class(cls: type) -> None:
    """Everything type's own __delattr__ lets go (not __module__, __doc__ or __dict__), but the
    accessors of __slots__ and its names, which `_Emptier` reads to empty the class's instances
    (dropped, a class before its instances in the garbage left them unemptied: a
    dataclass(slots=True) tree with parent links, then a cycle the teardown could not cut)."""
    namespace = _class_namespace(cls)
    for name in list(namespace):
        if name != "__slots__" and type(name) is str and type(namespace[name]) is not MemberDescriptorType:
            try:  # noqa: SIM105
                type.__delattr__(cls, name)
            except BaseException:  # noqa: BLE001
                pass


def _empty_partial(partial: functools.partial[object]) -> None:
    functools.partial.__setstate__(partial, (len, (), None, None))


def _empty_default_dict(obj: collections.defaultdict[object, object]) -> None:
    dict.clear(obj)
    _DEFAULT_FACTORY.__set__(obj, None)


def _empty_staticmethod(method: staticmethod[..., object]) -> None:
    staticmethod.__init__(method, None)  # type: ignore[arg-type]


def _empty_classmethod(method: classmethod[Any, ..., object]) -> None:
    classmethod.__init__(method, None)  # type: ignore[arg-type]


_DEFAULT_FACTORY = collections.defaultdict.default_factory  # type: ignore[attr-defined]
# The built-in bases whose own C method empties an instance of a subclass.
_BASE_CLEARS: dict[int, Callable[[Any], object]] = {
    id(collections.OrderedDict): collections.OrderedDict.clear,
    id(collections.defaultdict): _empty_default_dict,
    id(dict): dict.clear,
    id(list): list.clear,
    id(set): set.clear,
    id(collections.deque): collections.deque.clear,
    id(functools.partial): _empty_partial,
    # The cache keeps its keys and results in links of its own, out of the emptier's reach, and a
    # ring through one (a cached chain that holds the function) was freed recursively.
    id(functools._lru_cache_wrapper): functools._lru_cache_wrapper.cache_clear,  # type: ignore[attr-defined]
    id(property): property.__init__,
    id(staticmethod): _empty_staticmethod,
    id(classmethod): _empty_classmethod,
}


# --- Letting go ----------------------------------------------------------------------------------

_HELD_ONCE = next(map(sys.getrefcount, [object()]))
"""What sys.getrefcount reads, through map, of an object only one list holds."""
_ROUND_SHARE = 8  # another round while the last one freed this share of what was left


def _let_go(nodes: list[object], meter: _Meter) -> None:
    """Let go of each object once nothing else the teardown holds refers to it, so that all it
    holds is still held as it goes. An object nothing but `nodes` refers to reads _HELD_ONCE: those
    go first, then those only they held, round after round, at C speed and without a look at a
    reference (emptied objects hold next to nothing). A chain takes a round a link: once a round
    frees little, what is left is ordered by its references (`_let_go_in_order`)."""
    while nodes:
        meter.spend(len(nodes) * _NS_ROUND)
        free = bytes(map(eq, map(sys.getrefcount, nodes), repeat(_HELD_ONCE)))
        freed = free.count(1)
        if not freed:
            break
        # What stays is held apart, and the rest goes with the list's items: in most runs one
        # object stays (the namespace, which the script's functions refer to), and a list of all
        # that goes was a pass of its own (15 us of a medium trace's teardown in Pyodide).
        staying = list(compress(nodes, map(not_, free)))
        nodes.clear()
        nodes += staying
        del staying
        if freed * _ROUND_SHARE < len(nodes) + freed and len(nodes) > _LINKS:
            break
    if nodes:
        _let_go_in_order(nodes, meter)


# What a cycle that survives the emptying may be made of: a class and its parts (its namespace, the
# descriptors of its __dict__, __weakref__ and slots, its MRO and bases), which nothing of the
# script's can extend into a chain.
_CLASS_PARTS = frozenset(map(id, (dict, tuple, GetSetDescriptorType, MemberDescriptorType)))
_UNCUT: list[list[object]] = []
_UNCUT_FAULT = "a run left memory the teardown cannot free"


def _class_part(kind: type) -> bool:
    return id(kind) in _CLASS_PARTS or issubclass(kind, type)


def _let_go_in_order(nodes: list[object], meter: _Meter) -> None:
    """What rounds did not free: chains and cycles. Ordered by the references among them (each
    counted once, at C speed): parents before children (Kahn's order), then what sits in or under
    a cycle in Tarjan's order, which finishes a group of objects only after every group it reaches.
    A cycle survives being let go, and a collection frees it; what hangs below it is held until
    then: let go in levels, a collection after each (`_release_levels`)."""
    meter.spend(0, len(nodes) * _INDEX_BYTES)
    starts, edges, parents, read = _references_among(nodes, meter)
    # Kahn's order walks every reference once and looks at the meter only between positions.
    meter.spend(len(edges) * _NS_EDGE)
    levels, in_cycles = _release_levels(len(nodes), starts, edges, parents, meter)
    del starts, edges, parents
    if not all(map(_class_part, map(type, map(nodes.__getitem__, in_cycles)))):
        # A ring of objects the teardown cannot empty (a zip's or a dict items iterator's reused
        # result tuple closed by a frozenset or an itemgetter): the collector would free it, and
        # a chain in it recursively, losing a Pyodide interpreter with no result; nested rings
        # cost a collection a level (8,000 of them: 56 times a 300 ms budget). Kept for good, and
        # the interpreter is faulted, so that its runner isolate is replaced.
        _keep_for_good(nodes.copy(), _UNCUT_FAULT)
        nodes.clear()
        return
    batches = [[nodes[position] for position in reversed(level)] for level in levels]
    # A collection reads every reference of every object the run left still standing (the rest is
    # frozen): a chain of n classes, each with an MRO of its depth, costs n**3 / 6 references.
    standing = [len(level) + sum(map(read.__getitem__, level)) for level in levels]
    del levels, read
    nodes.clear()
    try:
        left = sum(standing)
        for going, weight in zip(batches, standing, strict=True):
            left -= weight
            meter.spend(left * _NS_COLLECTED)
            going.clear()  # frees from the end, where the parents are
            if going is not batches[-1]:
                gc.collect()  # the cycles just let go, and nothing below them: that is held
    except _Overrun:
        _UNCUT.append(batches)  # the levels not let go yet, and what they hold
        raise


def _references_among(
    nodes: list[object], meter: _Meter
) -> tuple[array[int], array[int], array[int], array[int]]:
    """The references among `nodes`, as positions: those of node i are edges[starts[i]:starts[i+1]]
    (those of a large tuple each once), how many of them reach each position, and how many
    references each node has, wherever they lead (what a collection reads of it). A function of its
    own: a loop's last object must not outlive it (held by a local, it would go, with all below it,
    after everything else was let go)."""
    find = dict(zip(map(id, nodes), range(len(nodes)), strict=True)).get
    starts = array("i")
    edges = array("i")
    read = array("i")
    mark, add, extend, weigh = starts.append, edges.append, edges.extend, read.append
    # Counted as they are found: a dict of counts made afterwards from all the edges held an int
    # a position (54 MB more of the heap for a chain of 1.5 million tuples in Pyodide). Only the
    # references of large objects, read at C speed, are counted at C speed, into a dict.
    parents = array("i", [0]) * len(nodes)
    counted: dict[int, int] = {}
    readers = dict(_REFERENCE_READERS)
    index = len(nodes) * _INDEX_BYTES  # held throughout; the references' arrays and counts grow
    for some in batched(nodes, _CHECKED, strict=False):
        meter.spend(len(some) * _NS_READ, index + 4 * len(edges) + len(counted) * _FOUND_BYTES)
        for node in some:
            mark(len(edges))
            kind = type(node)
            reader = readers.get(id(kind))
            if reader is None:
                reader = readers[id(kind)] = _references_reader(kind)
            references = reader(node)
            weigh(0)
            if (reader is gc.get_referents or kind is tuple) and len(references) <= _FEW:  # type: ignore[arg-type]
                # A link of a chain, most of what rounds leave: a plain loop costs less than C maps.
                read[-1] = len(references)  # type: ignore[arg-type]
                for reference in references:
                    position = find(id(reference))
                    if position is not None:
                        add(position)
                        parents[position] += 1
                continue
            distinct = kind is tuple and len(node) > _LINKS  # type: ignore[arg-type]
            for chunk in _chunks(references):  # type: ignore[arg-type]
                meter.spend(len(chunk) * _NS_READ, index + 4 * len(edges) + len(counted) * _FOUND_BYTES)
                start = len(edges)
                positions = filter(_IS_POSITION, map(find, map(id, chunk)))
                extend(set(positions) if distinct else positions)
                _count_elements(
                    counted, edges[start:]
                )  # C, not Counter: a Python class's code would be a step
                read[-1] += len(chunk)
    mark(len(edges))
    for position, times in counted.items():
        parents[position] += times
    return starts, edges, parents, read


_IS_POSITION = functools.partial(is_not, None)


def _references_reader(kind: type) -> Callable[[Any], Iterable[object]]:
    """Tuples and frozensets, the large objects that cannot be emptied, are read in place (a
    subclass through its base type's own __iter__); the rest, emptied, through gc.get_referents."""
    if kind is tuple:
        return _itself
    for base in _mro(kind):
        if base is tuple or base is frozenset:
            return base.__iter__  # type: ignore[attr-defined,no-any-return]
    return gc.get_referents


def _itself(node: object) -> object:
    return node


def _release_levels(
    count: int, starts: array[int], edges: array[int], parents: array[int], meter: _Meter
) -> tuple[list[array[int]], array[int]]:
    """Positions in levels, each parents first: a level is let go once the cycles of the level
    before it are collected; and the positions that are members of cycles. Arrays of four bytes a
    position throughout: a chain of a million objects is a million positions. Counts down
    `parents`."""
    order = array("i", compress(range(count), map(not_, parents)))
    append = order.append
    done = 0
    while done < len(order):  # grows as parents are let go
        some = order[done : done + _SIFTED]
        meter.spend(len(some) * _NS_POSITION)
        done += len(some)
        for position in some:
            start = starts[position]
            end = starts[position + 1]
            if end - start == 1:  # a link of a chain
                child = edges[start]
                parents[child] -= 1
                if not parents[child]:
                    append(child)
                continue
            for child in edges[start:end]:
                parents[child] -= 1
                if not parents[child]:
                    append(child)
    if len(order) == count:
        return [order], array("i")
    del parents
    placed = bytearray(count)
    for position in order:
        placed[position] = 1
    # The walk among cycles and the levels after it read each reference of what is not placed, a
    # walk from one root at a time: paid for before, where it would look at the meter too seldom.
    unplaced = list(compress(range(count), map(not_, placed)))
    ends = map(starts.__getitem__, map(int.__add__, unplaced, repeat(1)))
    walked = sum(map(int.__sub__, ends, map(starts.__getitem__, unplaced)))
    meter.spend(walked * _NS_WALK + len(unplaced) * _NS_WALK_POSITION)
    del unplaced, ends
    cyclic, group = _components(count, starts, edges, placed, meter)
    # What a cycle refers to outside itself waits for the collection that frees the cycle: a level
    # below it. A cycle reached from another goes in the same collection (what the collector frees
    # there goes a cycle member at a time, and what hangs below either is held); everything else
    # goes with its parents. A level a group: a cycle held by the member a reference enters and let
    # go for the rest would be collected with nothing below it held. One pass, parents first: a
    # group comes after every group that reaches it.
    groups = array("i", map(abs, group))
    level = array("i", [0]) * (count + 1)
    for position in cyclic:
        own = group[position]
        below = level[groups[position]] + (own < 0)
        for child in edges[starts[position] : starts[position + 1]]:
            other = group[child]
            if other != own:
                needed = below if other > 0 else below - (own < 0)
                level[groups[child]] = max(level[groups[child]], needed)
    levels = [order]
    for position in cyclic:
        at = level[groups[position]]
        while len(levels) <= at:
            levels.append(array("i"))
        levels[at].append(position)
    # The members of cycles (a negative group), for the kinds they are made of.
    return levels, array("i", compress(cyclic, map(lt, map(group.__getitem__, cyclic), repeat(0))))


def _components(
    count: int, starts: array[int], edges: array[int], placed: bytearray, meter: _Meter
) -> tuple[array[int], array[int]]:
    """The positions not yet placed, parents first: Tarjan's strongly connected components,
    iterative, which finish a group of objects only after every group it reaches. With each
    position's group: a negative number for a group that is a cycle (two or more objects, or one
    that refers to itself)."""
    # A placed position reads as found and off the stack: the walk passes it by.
    found_at = array("i", map((-1).__add__, placed))
    low = array("i", [0]) * count
    group = array("i", [0]) * count
    on_stack = bytearray(count)
    stack = array("i")
    finished = array("i")
    # The depth-first walk's own stack, a position and its next edge: a chain of a million objects
    # is a million deep.
    calls, next_edges = array("i"), array("i")
    visited = groups = 0
    for root in range(count):
        if found_at[root] >= 0:
            continue
        # A look a walk: what is not placed yet sits in or under cycles of classes and their
        # parts, whose making is paid for (limits.check_class).
        meter.spend(_NS_POSITION)
        child = root
        while True:
            if child >= 0:  # a position found just now: onto both stacks
                found_at[child] = low[child] = visited
                visited += 1
                stack.append(child)
                on_stack[child] = 1
                calls.append(child)
                next_edges.append(starts[child])
            if not calls:
                break
            node = calls[-1]
            edge = next_edges[-1]
            child = -1
            if edge < starts[node + 1]:
                next_edges[-1] = edge + 1
                found = found_at[edges[edge]]
                if found < 0:
                    child = edges[edge]
                elif on_stack[edges[edge]] and found < low[node]:
                    low[node] = found
                continue
            calls.pop()
            next_edges.pop()
            if calls and low[node] < low[calls[-1]]:
                low[calls[-1]] = low[node]
            if low[node] == found_at[node]:
                groups += 1
                first = len(finished)
                while True:
                    member = stack.pop()
                    on_stack[member] = 0
                    finished.append(member)
                    if member == node:
                        break
                cycle = len(finished) - first > 1 or node in edges[starts[node] : starts[node + 1]]
                for member in finished[first:]:
                    group[member] = -groups if cycle else groups
    finished.reverse()
    return finished, group


_IS_CLASS = functools.partial(type.__subclasscheck__, type)
# The host's kinds a run's garbage is mostly made of, and what the teardown does with each, worked
# out once: per kind and per run, it took a tenth of a millisecond of every run in Pyodide. Only
# classes that live as long as the interpreter: an id of a class a run made may come back.
_COMMON_KINDS = (
    list, tuple, dict, set, frozenset, collections.deque, collections.OrderedDict,
    collections.defaultdict, CellType, FrameType, TracebackType, FunctionType, CodeType, ModuleType,
    GeneratorType, CoroutineType, AsyncGeneratorType, type, slice, map, filter, zip, enumerate,
    reversed, property, staticmethod, classmethod, functools.partial, BaseException, Exception,
    ValueError, TypeError, KeyError, IndexError, AttributeError, RuntimeError, StopIteration,
    MethodType, BuiltinFunctionType, MethodWrapperType, MappingProxyType, GenericAlias, UnionType,
    SimpleNamespace, type(iter([])), type(iter(())), type(iter({})), type(iter(range(0))),
    type({}.keys()), type({}.values()), type({}.items()),
)  # fmt: skip
_FINALISES = {id(kind): _finalises(kind) for kind in _COMMON_KINDS}
_STEPS = {id(kind): _steps(kind) for kind in _COMMON_KINDS}
_STEP_COSTS = {key: _steps_cost(steps) for key, steps in _STEPS.items()}
_READERS = {id(kind): _reader(kind) for kind in _COMMON_KINDS}
_REFERENCE_READERS = {id(kind): _references_reader(kind) for kind in _COMMON_KINDS}


def _finalises_known(kind: type) -> bool:
    """`_finalises`, worked out once for the common kinds (built-in types cannot gain a __del__)."""
    known = _FINALISES.get(id(kind))
    return _finalises(kind) if known is None else known


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
                *(("the engine's tables", table) for table in _engine_tables(modules)),
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


def _engine_tables(modules: list[ModuleType]) -> tuple[dict[object, object], ...]:
    """The engine's dict tables, which no run changes (its one cache left out; the facades a
    policy allows are loaded between runs); the globals item of the self-check notices one
    rebound."""
    return tuple(
        value
        for module in modules
        for name, value in vars(module).items()
        if type(value) is dict and not name.startswith("__") and name != "_shared_members"
    )
