"""Eval functions: one analysed, compiled script run over many traces, with verdicts checked by type.

The contract (../shared/reference/consumer-contract.md): the entry point is the function the caller
names, else the one top-level `eval_*` function, else `eval_function`; the calling convention is told
from its parameter names; the result is `(bool or float in [0, 1], str)`. Each trace runs the module
afresh with its own copy of the data, within its own budget and what is left of the batch's.
"""

from __future__ import annotations

import marshal
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .limits import Limits
from .llm import LLM, NOT_CONFIGURED, Backend, Session, Usage, as_llm
from .policy import EntryPoint, Policy, Violation
from .results import ExecutionResult, TraceErrorType, violation_wire
from .runner import (
    DEFAULT_LIMITS,
    DEFAULT_POLICY,
    Compiled,
    HostTables,
    check_arguments,
    prepare,
    run,
)


@dataclass(frozen=True)
class TraceResult:
    """One trace's verdict, or why there is none. `to_wire` gives the consumer's field names."""

    trace_id: str
    success: bool
    execution_time_ms: float
    passed: bool | None = None
    score: float | None = None
    reason: str | None = None
    error: str | None = None
    error_type: TraceErrorType | None = None
    output: str = ""
    llm: Usage | None = None
    """What the trace's ctx.call_llm calls used, when an LLM was configured."""

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"trace_id": self.trace_id, "success": self.success}
        if self.success:
            wire.update(passed=self.passed, score=self.score, reason=self.reason)
        else:
            wire.update(error=self.error, errorType=self.error_type)
        wire.update(output=self.output, execution_time_ms=self.execution_time_ms)
        if self.llm is not None:
            wire["llm"] = self.llm.to_wire()
        return wire


@dataclass(frozen=True)
class BatchSummary:
    passed: int = 0
    failed: int = 0
    errors: int = 0
    timeouts: int = 0
    not_run: int = 0


@dataclass(frozen=True)
class BatchExecutionResult:
    """Every trace's result, in input order, with counts. A script that fails analysis carries the
    validation error, and every trace has it too: a caller that stores results per trace stores it."""

    results: tuple[TraceResult, ...]
    total_time_ms: float
    summary: BatchSummary = field(default_factory=BatchSummary)
    entry_point: EntryPoint | None = None
    error: str | None = None
    violations: tuple[Violation, ...] = ()
    llm: Usage | None = None
    """Every trace's ctx.call_llm calls together, when an LLM was configured."""

    @property
    def all_valid(self) -> bool:
        return self.error is None and all(r.success for r in self.results)

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "results": [r.to_wire() for r in self.results],
            "total_time_ms": self.total_time_ms,
            "summary": vars(self.summary).copy(),
        }
        if self.entry_point is not None:
            wire.update(entryPoint=self.entry_point.name, convention=self.entry_point.convention)
        if self.llm is not None:
            wire["llm"] = self.llm.to_wire()
        if self.error is not None:
            first = self.violations[0] if self.violations else None
            wire.update(success=False, error=self.error, errorType="validation")
            if first is not None:
                wire.update(line=first.line, col=first.col)
            wire["violations"] = [violation_wire(v) for v in self.violations]
        return wire


class BatchInputError(ValueError):
    """The request itself is unusable: wrong shapes, or (`too_large`) too many traces or bytes."""

    def __init__(self, message: str, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


# --- verdicts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    passed: bool | None = None
    score: float | None = None
    reason: str | None = None
    problem: str | None = None


def read_verdict(value: object) -> Verdict:
    """Check a returned value against the contract by exact type, calling none of its methods: a
    str or float subclass could override anything, so it is refused like any other non-verdict."""
    if type(value) is not tuple:
        return Verdict(problem=f"expected a tuple (passed or score, reason), got {type(value).__name__}")
    if len(value) != 2:
        return Verdict(problem=f"expected a 2-tuple (passed or score, reason), got a tuple of {len(value)}")
    first, reason = value
    if type(first) is bool:
        passed, score = first, 1.0 if first else 0.0
    elif type(first) is float:
        if not (math.isfinite(first) and 0.0 <= first <= 1.0):
            return Verdict(problem=f"score must be a float between 0 and 1, got {first!r}")
        passed, score = first >= 0.5, first
    elif type(first) is int:
        return Verdict(
            problem="first item is an int, which is ambiguous: return True/False, or a float score such as 1.0"
        )
    else:
        return Verdict(problem=f"first item must be a bool or a float score, got {type(first).__name__}")
    if type(reason) is not str:
        return Verdict(problem=f"second item (the reason) must be a str, got {type(reason).__name__}")
    return Verdict(passed=passed, score=score, reason=reason)


# --- the batch ------------------------------------------------------------------------------------


def evaluate(
    code: str,
    traces: Sequence[Mapping[str, Any]],
    function: str | None = None,
    task: object = None,
    task_metadata: object = None,
    limits: Limits | None = None,
    policy: Policy | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    llm: LLM | Backend | None = None,
    *,
    json_data: bool = False,
) -> BatchExecutionResult:
    """Run the eval function in `code` once per trace. Raises BatchInputError for unusable input.
    With `llm`, each trace's `ctx` is a sandbox.llm.Context whose call_llm it answers; without, `ctx`
    is None.

    `json_data`: the traces' data, the task and its metadata are what json.loads made of text
    whose nesting was bounded by `limits.nesting_depth` before it was parsed (the front Worker
    checks every request so: isolate.handle), so their types and depth are not walked again
    before they are encoded (the walk was a third of a batch's time)."""
    check_arguments(code, limits, policy, function)
    limits = limits or DEFAULT_LIMITS
    started = time.perf_counter()
    session = None if llm is None else Session(as_llm(llm), started + limits.batch_timeout_ms / 1000)
    payloads = _trace_payloads(traces, task, task_metadata, limits, json_data)
    prepared = prepare(code, policy or DEFAULT_POLICY, limits, function)
    if isinstance(prepared, ExecutionResult):
        return _invalid_code(payloads, started, prepared.error or "", prepared.violations)
    compiled, entry = prepared
    if isinstance(entry, Violation):
        return _invalid_code(payloads, started, entry.message, (entry,))

    results: list[TraceResult] = []
    spent_steps = 0
    # The host's tables, copied once for the batch: each trace's run compares them with the copy,
    # which stays valid from one trace to the next while none changed them (runner.run).
    tables = HostTables()
    for index, (trace_id, shared, data) in enumerate(payloads):
        spent_ms = max(_ms(started), spent_steps / limits.steps_per_ms)
        remaining = int(limits.batch_timeout_ms - spent_ms)
        if remaining < 1:
            results.append(_not_run(trace_id, limits))
        else:
            trace_limits = (
                limits if remaining >= limits.timeout_ms else limits.with_overrides(timeout_ms=remaining)
            )
            # Each trace on code objects of its own (prepare's copy for the first).
            this = compiled if index == 0 else compiled.afresh()
            result, steps = _run_trace(this, entry, trace_id, shared, data, trace_limits, session, tables)
            if trace_limits is not limits and result.error_type == "timeout":
                # Its own budget was cut to what the batch had left: the batch ran out, not the trace.
                result = replace(result, error=_batch_ran_out(limits))
            results.append(result)
            spent_steps += steps
        if on_progress is not None:
            on_progress(index + 1, len(payloads))
            tables = HostTables()  # the caller's code ran: copied again
    usage = session.usage if session is not None else None
    return BatchExecutionResult(tuple(results), _ms(started), _summarise(results), entry, llm=usage)


def _invalid_code(
    payloads: list[tuple[str, bytes, bytes]], started: float, error: str, violations: tuple[Violation, ...]
) -> BatchExecutionResult:
    results = [
        TraceResult(trace_id, False, 0.0, error=error, error_type="validation") for trace_id, _, _ in payloads
    ]
    return BatchExecutionResult(
        tuple(results), _ms(started), _summarise(results), error=error, violations=violations
    )


def _trace_payloads(
    traces: Sequence[Mapping[str, Any]],
    task: object,
    task_metadata: object,
    limits: Limits,
    json_data: bool = False,
) -> list[tuple[str, bytes, bytes]]:
    """Each trace's data, checked for shape, types, nesting and size (the types and nesting only
    when not `json_data`: see `evaluate`), and encoded once: the encoding is both the size measure
    and the source of every trace's private copy."""
    encode = _encode_parsed if json_data else _encode
    if not isinstance(traces, Sequence) or isinstance(traces, (str, bytes)):
        raise BatchInputError("traces must be a list of {trace_id, data} objects")
    if len(traces) > limits.max_traces:
        raise BatchInputError(
            f"{len(traces)} traces exceed the limit of {limits.max_traces} per request", too_large=True
        )
    shared = encode("task", (task, task_metadata), limits)
    total = len(shared)
    payloads = []
    # Callers store results by trace_id: two traces with one id would overwrite each other's.
    first_of: dict[str, int] = {}
    for position, trace in enumerate(traces):
        if (
            not isinstance(trace, Mapping)
            or not isinstance(trace.get("trace_id"), str)
            or "data" not in trace
        ):
            raise BatchInputError(f"traces[{position}] must be an object with a string trace_id and data")
        first = first_of.setdefault(trace["trace_id"], position)
        if first != position:
            raise BatchInputError(
                f"traces[{position}] has the trace_id {trace['trace_id']!r} of traces[{first}];"
                " trace ids must be unique"
            )
        data = encode(f"traces[{position}].data", trace["data"], limits)
        if len(data) > limits.max_trace_bytes:
            raise BatchInputError(
                f"traces[{position}] is {len(data)} bytes, over the limit of {limits.max_trace_bytes}",
                too_large=True,
            )
        total += len(data)
        if total > limits.max_batch_bytes:
            raise BatchInputError(
                f"the traces exceed the limit of {limits.max_batch_bytes} bytes per request",
                too_large=True,
            )
        payloads.append((trace["trace_id"], shared, data))
    return payloads


_JSON_ATOMS = frozenset({str, int, float, bool, type(None)})
_JSON_CONTAINERS = frozenset({dict, list, tuple})
_STR = frozenset({str})


def _encode(where: str, value: object, limits: Limits) -> bytes:
    """JSON-shaped data (exact types: dict with str keys, list, tuple, str, int, float, bool,
    None), no deeper than `nesting_depth`, encoded with marshal.

    The types are checked first because marshal also carries code objects, sets and bytes, which
    must never reach a script; the depth because marshal recurses in C. marshal rather than JSON:
    encoding and decoding a trace is several times faster, and that copy is made for every trace.
    """
    level = [value] if type(value) in _JSON_CONTAINERS else []
    if not level and type(value) not in _JSON_ATOMS:
        raise BatchInputError(f"{where} is not JSON data: {type(value).__name__}")
    depth = 0
    while level:
        depth += 1
        if depth > limits.nesting_depth:
            raise BatchInputError(f"{where} is nested deeper than {limits.nesting_depth} levels")
        following: list[Any] = []
        for node in level:
            if type(node) is dict:
                if not _STR.issuperset(map(type, node)):
                    raise BatchInputError(f"{where} is not JSON data: an object key is not a string")
                children: Any = node.values()
            else:
                children = node
            # The types of a node's children, gathered in C; most nodes hold only atoms.
            kinds = set(map(type, children))
            if not kinds <= _JSON_ATOMS:
                unknown = kinds - _JSON_ATOMS - _JSON_CONTAINERS
                if unknown:
                    raise BatchInputError(f"{where} is not JSON data: {next(iter(unknown)).__name__}")
                following.extend([child for child in children if type(child) in _JSON_CONTAINERS])
        level = following
    return marshal.dumps(value)


def _encode_parsed(where: str, value: object, limits: Limits) -> bytes:
    """`_encode` for what json.loads made of text whose nesting was bounded before parsing: only
    JSON types, within `nesting_depth`, so nothing to walk. marshal's own depth limit stays under
    it, should a caller pass deeper data all the same."""
    try:
        return marshal.dumps(value)
    except ValueError:
        raise BatchInputError(f"{where} is not JSON data or is nested too deeply") from None


def _run_trace(
    compiled: Compiled,
    entry: EntryPoint,
    trace_id: str,
    shared: bytes,
    data: bytes,
    limits: Limits,
    session: Session | None = None,
    tables: HostTables | None = None,
) -> tuple[TraceResult, int]:
    ctx, usage = session.context(trace_id) if session is not None else (None, None)
    convention = entry.convention

    def arguments() -> tuple[object, ...]:
        # This trace's own copy, made by the runner once the host is frozen: the run's, so that
        # its teardown frees whatever the script hangs on it.
        (task, task_metadata), trace = marshal.loads(shared), marshal.loads(data)
        return {
            "fn(trace)": (trace,),
            "fn(trace, ctx)": (trace, ctx),
            "fn(task, task_metadata, trace, ctx)": (task, task_metadata, trace, ctx),
        }[convention]

    started = time.perf_counter()
    outcome = run(compiled, limits, call=entry.name, arguments=arguments, convert=read_verdict, tables=tables)
    elapsed = _ms(started)
    output = outcome.output
    if outcome.error is not None:
        error = outcome.error
        if ctx is None and "'NoneType' object has no attribute 'call_llm'" in error:
            error = NOT_CONFIGURED + error[error.rfind(" (line") :] if " (line" in error else NOT_CONFIGURED
        return TraceResult(
            trace_id, False, elapsed, error=error, error_type=outcome.error_type, output=output, llm=usage
        ), outcome.steps
    verdict = outcome.value
    assert isinstance(verdict, Verdict)
    if verdict.problem is not None:
        # The function is named in the batch's entryPoint; here its name could hold the word callers
        # retry on ("eval_tool_timeouts").
        error = f"Invalid result: {verdict.problem}"
        return TraceResult(
            trace_id, False, elapsed, error=error, error_type="invalid_result", output=output, llm=usage
        ), outcome.steps
    reason = verdict.reason or ""
    if len(reason) > limits.output_bytes:
        reason = reason[: limits.output_bytes] + " [reason truncated]"
    result = TraceResult(
        trace_id, True, elapsed, passed=verdict.passed, score=verdict.score, reason=reason, output=output,
        llm=usage,
    )  # fmt: skip
    return result, outcome.steps


def _batch_ran_out(limits: Limits) -> str:
    return (
        f"Execution timeout exceeded: the batch's time ran out during this trace"
        f" (batch budget {limits.batch_timeout_ms}ms)"
    )


def _not_run(trace_id: str, limits: Limits) -> TraceResult:
    return TraceResult(
        trace_id,
        False,
        0.0,
        error=f"Not run: the batch budget of {limits.batch_timeout_ms} ms was spent before this trace",
        error_type="not_run",
    )


def _summarise(results: list[TraceResult]) -> BatchSummary:
    return BatchSummary(
        passed=sum(1 for r in results if r.success and r.passed),
        failed=sum(1 for r in results if r.success and not r.passed),
        errors=sum(1 for r in results if not r.success and r.error_type not in ("timeout", "not_run")),
        timeouts=sum(1 for r in results if r.error_type == "timeout"),
        not_run=sum(1 for r in results if r.error_type == "not_run"),
    )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
