"""`ctx.call_llm`: eval functions that ask a model, with the key, the network and the budget outside.

An eval function's `ctx` (conventions `fn(trace, ctx)` and `fn(task, task_metadata, trace, ctx)`) is
a `Context` whose one attribute is `call_llm(prompt, model=None, temperature=0.0, max_tokens=500)`,
which returns the model's text as a plain `str`. What answers is decided by whoever runs the engine,
never by the script: a library caller's callable (`evaluate(..., llm=...)`), the CLI's
OpenAI-compatible endpoint, or in the Worker a capability the front Worker hands the runner isolate
for one request (src/entry.py, src/isolate_entry.py). The script holds no key and no network path:
it hands text over and gets text back.

Every call is checked here, in one place, by exact type and size (`check_call`), and counted against
`LLMLimits` (`Ledger`): in the engine per trace and per batch, and again in the front Worker per
batch, which does not trust a runner to have counted. A call that fails or runs out of budget ends
its trace with `errorType: "llm_error"` (the step budget trips with it, so a script that catches it
meets it again at its next step and cannot turn it into a pass); other traces go on.

Standard library only: the runner isolate loads this module with the rest of the engine.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .limits import LimitExceeded
from .runner import call_outside_budget

DEFAULT_MAX_TOKENS = 500
# Characters per token where a backend does not report its counts: the usual rule of thumb for
# English text with the common tokenizers. Only the accounting uses it; the limits on a call are
# in characters (prompt) and in the tokens the caller asks for (max_tokens).
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class LLMLimits:
    """Every number `ctx.call_llm` enforces. The time a call waits counts against the batch's wall
    time (`Limits.batch_timeout_ms`), never against the script's step budget."""

    calls_per_trace: int = 10
    """Calls one trace may make: a rubric over a few criteria, not a loop over every step."""
    calls_per_batch: int = 200
    """Calls one evaluate request may make, all traces together."""
    prompt_chars: int = 32_768
    """Characters in one prompt (about 8,000 tokens); a token is at least a character, so this
    also bounds the tokens a call sends."""
    max_tokens: int = 2_048
    """The most `max_tokens` one call may ask for: the tokens a call may receive."""
    tokens_in_per_batch: int = 500_000
    """Prompt tokens of a whole request, as the backend reports them (else estimated)."""
    tokens_out_per_batch: int = 100_000
    """Completion tokens of a whole request; a call is refused when what it may receive
    (`max_tokens`) would pass this."""
    call_ms: int = 30_000
    """Time one call may wait for its answer (less when the batch has less left)."""
    completion_chars: int = 65_536
    """Characters of one answer: more than `max_tokens` could honestly produce is a broken backend."""
    model_chars: int = 128
    """Characters of a model's name."""


@dataclass(frozen=True)
class LLMRequest:
    """One call, checked, as a backend receives it. `timeout_ms` is how long it may take."""

    prompt: str
    model: str | None
    temperature: float
    max_tokens: int
    timeout_ms: int
    trace_id: str = ""
    model_listed: bool = True
    """Whether `model` is the operator's text (one of the allowed models, or the default) rather than
    the script's (any name, where no list is configured): only the operator's is recorded as the
    model used, since the log keeps no script text unless the operator says so."""

    def recorded_model(self) -> str | None:
        return self.model if self.model_listed else None

    def to_wire(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt, "model": self.model, "temperature": self.temperature,
            "maxTokens": self.max_tokens, "timeoutMs": self.timeout_ms, "traceId": self.trace_id,
        }  # fmt: skip


@dataclass(frozen=True)
class Completion:
    """A backend's answer: the text, and what it says it used (None where it does not say)."""

    text: str
    model: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None


# What answers a call: takes the checked request, returns the text or a Completion, raises on failure.
Backend = Callable[[LLMRequest], "str | Completion"]


@dataclass(frozen=True)
class LLM:
    """A model for `ctx.call_llm`: the backend, the model names a script may ask for (the first is
    the default; none: any name, and None by default, for the backend to choose), and the limits."""

    complete: Backend
    models: tuple[str, ...] = ()
    limits: LLMLimits = field(default_factory=LLMLimits)


class LLMFailure(Exception):
    """A backend could not answer. Its message reaches the trace's error: adapters write it from
    what they know (a status, a kind of failure), never from a key or a response body."""


class LLMCallFailed(LimitExceeded):
    """Raised into the script when a call fails or its budget is spent: the run's step budget trips
    with it (runner.call_outside_budget), so the trace ends as an `llm_error` whatever it catches."""

    error_type = "llm_error"


NOT_CONFIGURED = (
    "ctx.call_llm is not available: no LLM is configured for this sandbox (ctx is None). Configure one:"
    " evaluate(..., llm=callable) in Python, `sandbox eval --llm-endpoint URL --llm-model NAME` on the"
    " command line, or in the Worker pass an LLM capability with the RPC call or give the sandbox an"
    " LLM, AI or SANDBOX_LLM_URL backend (README, 'LLM judges')"
)


# --- the checks, in one place ---------------------------------------------------------------------


def check_call(
    prompt: object,
    model: object,
    temperature: object,
    max_tokens: object,
    llm_models: tuple[str, ...],
    limits: LLMLimits,
) -> tuple[str, str | None, float, int]:
    """The script's arguments by exact type and size, the model against the allowed ones; TypeError
    or ValueError say what is wrong (the script may catch them: nothing was spent). A `str` subclass
    is refused like any other non-str: its methods could tell a check one thing and the backend
    another."""
    if type(prompt) is not str:
        raise TypeError(f"ctx.call_llm: prompt must be a str, not {type(prompt).__name__}")
    if not 0 < len(prompt) <= limits.prompt_chars:
        raise ValueError(
            f"ctx.call_llm: prompt must have 1 to {limits.prompt_chars} characters, not {len(prompt)}"
        )
    _check_encodable("prompt", prompt)
    if model is not None and type(model) is not str:
        raise TypeError(f"ctx.call_llm: model must be a str or None, not {type(model).__name__}")
    if model is None:
        model = llm_models[0] if llm_models else None
    elif llm_models and model not in llm_models:
        raise ValueError(
            f"ctx.call_llm: model {model[: limits.model_chars]!r} is not allowed here; allowed: {', '.join(llm_models)}"
        )
    elif not 0 < len(model) <= limits.model_chars:
        raise ValueError(f"ctx.call_llm: model must have 1 to {limits.model_chars} characters")
    if model is not None:
        _check_encodable("model", model)
    if type(temperature) not in (float, int):  # exact: True is no temperature
        raise TypeError(f"ctx.call_llm: temperature must be a float, not {type(temperature).__name__}")
    if not 0.0 <= temperature <= 2.0:  # NaN included
        raise ValueError(f"ctx.call_llm: temperature must be between 0 and 2, not {temperature!r}")
    if type(max_tokens) is not int:
        raise TypeError(f"ctx.call_llm: max_tokens must be an int, not {type(max_tokens).__name__}")
    if not 1 <= max_tokens <= limits.max_tokens:
        raise ValueError(
            f"ctx.call_llm: max_tokens must be between 1 and {limits.max_tokens}, not {max_tokens}"
        )
    return prompt, model, float(temperature), max_tokens


def _check_encodable(name: str, text: str) -> None:
    # A lone surrogate cannot be sent as UTF-8 to any backend; refused here rather than failing there.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"ctx.call_llm: {name} holds a lone surrogate, which cannot be sent") from None


def read_completion(answer: object, request: LLMRequest, limits: LLMLimits) -> Completion:
    """A backend's answer as a Completion of exact types, or LLMFailure. Only a plain str goes back
    to the script: a backend that hands back anything else (a str subclass, an object with methods)
    would hand the script code the host wrote."""
    if type(answer) is str:
        answer = Completion(answer)
    if type(answer) is not Completion or type(answer.text) is not str:
        raise LLMFailure(f"the backend answered with {type(answer).__name__}, not text")
    if len(answer.text) > limits.completion_chars:
        raise LLMFailure(f"the backend answered with more than {limits.completion_chars} characters")
    model = answer.model if type(answer.model) is str and len(answer.model) <= limits.model_chars else None
    return Completion(
        answer.text,
        model or request.recorded_model(),
        _count(answer.tokens_in, request.prompt),
        _count(answer.tokens_out, answer.text),
    )


def _count(reported: object, text: str) -> int:
    if type(reported) is int and 0 <= reported < 2**53:
        return reported
    return -(-len(text) // CHARS_PER_TOKEN)


def read_completion_wire(wire: object) -> Completion:
    """A completion as it crosses JSON (`completion_wire`), or LLMFailure."""
    if not isinstance(wire, Mapping):
        raise LLMFailure("the model's answer was not an object")
    error = wire.get("error")
    if error is not None:
        raise LLMFailure(str(error)[:500])
    return Completion(wire.get("text"), wire.get("model"), wire.get("tokensIn"), wire.get("tokensOut"))  # type: ignore[arg-type]


def completion_wire(completion: Completion) -> dict[str, Any]:
    return {
        "text": completion.text, "model": completion.model,
        "tokensIn": completion.tokens_in, "tokensOut": completion.tokens_out,
    }  # fmt: skip


def request_from_wire(
    wire: object, limits: LLMLimits, models: tuple[str, ...], timeout_ms: int
) -> LLMRequest:
    """A request as the front Worker receives it from a runner, which it does not trust: checked by
    the same rules as the script's call, with the time the front allows rather than the one asked."""
    if not isinstance(wire, Mapping):
        raise ValueError("a call to the model must be an object")
    prompt, model, temperature, max_tokens = check_call(
        wire.get("prompt"), wire.get("model"), wire.get("temperature"), wire.get("maxTokens"), models, limits
    )
    trace_id = wire.get("traceId")
    return LLMRequest(
        prompt,
        model,
        temperature,
        max_tokens,
        timeout_ms,
        trace_id[:256] if type(trace_id) is str else "",
        model_listed=bool(models) or wire.get("model") is None,
    )


# --- accounting -----------------------------------------------------------------------------------


@dataclass
class Usage:
    """Calls, tokens, time and models, of a trace or a batch."""

    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    time_ms: float = 0.0
    models: list[str] = field(default_factory=list)

    def add(self, completion: Completion, elapsed_ms: float) -> None:
        self.calls += 1
        self.tokens_in += completion.tokens_in or 0
        self.tokens_out += completion.tokens_out or 0
        self.time_ms = round(self.time_ms + elapsed_ms, 3)
        if completion.model is not None and completion.model not in self.models:
            self.models.append(completion.model)

    def to_wire(self) -> dict[str, Any]:
        return {
            "calls": self.calls, "tokens_in": self.tokens_in, "tokens_out": self.tokens_out,
            "time_ms": self.time_ms, "models": list(self.models),
        }  # fmt: skip


@dataclass
class Ledger:
    """What a batch (and, in the engine, each trace) has spent, and the one check of a call against
    it. The engine keeps one per batch and one per trace; the front Worker keeps its own per batch."""

    limits: LLMLimits
    batch: Usage = field(default_factory=Usage)
    deadline: float = math.inf
    """time.perf_counter() by which every call must have answered: the batch's wall time."""
    waiting: list[LLMRequest] = field(default_factory=list)
    """Calls admitted and not yet settled: counted against the batch as if spent in full, so that
    calls made at once (an escaped runner's, through the gate) cannot all pass one check."""

    def admit(self, request: LLMRequest, trace: Usage | None = None) -> LLMRequest:
        """The call with the time it may take, or LLMCallFailed when a budget would be passed. An
        admitted call must be settled, answered or not."""
        limits, waiting = self.limits, self.waiting
        if trace is not None and trace.calls >= limits.calls_per_trace:
            raise LLMCallFailed(
                f"LLM budget exceeded: this trace has made its {limits.calls_per_trace} calls"
            )
        if self.batch.calls + len(waiting) >= limits.calls_per_batch:
            raise LLMCallFailed(
                f"LLM budget exceeded: this batch has made its {limits.calls_per_batch} calls"
            )
        tokens_in = sum(_count(None, each.prompt) for each in (*waiting, request))
        if self.batch.tokens_in + tokens_in > limits.tokens_in_per_batch:
            raise LLMCallFailed(
                f"LLM budget exceeded: this prompt would pass the batch's {limits.tokens_in_per_batch} prompt tokens"
            )
        if (
            self.batch.tokens_out + sum(each.max_tokens for each in (*waiting, request))
            > limits.tokens_out_per_batch
        ):
            raise LLMCallFailed(
                f"LLM budget exceeded: max_tokens={request.max_tokens} would pass the batch's"
                f" {limits.tokens_out_per_batch} completion tokens"
            )
        left = (self.deadline - time.perf_counter()) * 1000
        left_ms = int(left) if left < limits.call_ms else limits.call_ms
        if left_ms < 1:
            raise LLMCallFailed("LLM budget exceeded: the batch's time ran out before this call")
        admitted = replace(request, timeout_ms=left_ms)
        waiting.append(admitted)
        return admitted

    def settle(
        self,
        request: LLMRequest,
        completion: Completion | None,
        elapsed_ms: float,
        trace: Usage | None = None,
    ) -> None:
        """An admitted call is over: answered (what it used recorded) or failed (nothing to record)."""
        self.waiting.remove(request)
        if completion is not None:
            self.batch.add(completion, elapsed_ms)
            if trace is not None:
                trace.add(completion, elapsed_ms)


# --- the engine's side: a batch's model, and the ctx each trace gets --------------------------------


class Context:
    """`ctx` in an eval function: `call_llm`, and nothing else. Its one slot holds a closure of the
    sandbox's own (guards._bound says why not a bound method or a partial: their public members
    would hand out the ledger and the backend); the script can neither write nor delete it (it owns
    neither the object nor its class), and `type(ctx)` is refused like any host class."""

    __slots__ = ("call_llm",)

    def __repr__(self) -> str:
        return "<ctx: call_llm(prompt, model=None, temperature=0.0, max_tokens=500) -> str>"


_set_call = Context.__dict__["call_llm"].__set__


class Session:
    """One evaluate request's model: its backend, what the batch has spent, the ctx of each trace."""

    def __init__(self, llm: LLM, deadline: float = math.inf) -> None:
        self.llm = llm
        self.ledger = Ledger(llm.limits, deadline=deadline)

    @property
    def usage(self) -> Usage:
        return self.ledger.batch

    def context(self, trace_id: str) -> tuple[Context, Usage]:
        """A fresh ctx for one trace, and the Usage it fills."""
        usage = Usage()

        def call_llm(
            prompt: object,
            model: object = None,
            temperature: object = 0.0,
            max_tokens: object = DEFAULT_MAX_TOKENS,
        ) -> str:
            # The one step the script pays for: everything else runs with its budget switched off.
            return call_outside_budget(
                lambda: self.call(trace_id, usage, prompt, model, temperature, max_tokens)
            )

        call_llm.__qualname__ = "ctx.call_llm"
        call_llm.__doc__ = "Ask the configured model; returns its answer as a str."
        ctx = Context()
        _set_call(ctx, call_llm)
        return ctx, usage

    def call(
        self,
        trace_id: str,
        trace: Usage,
        prompt: object,
        model: object,
        temperature: object,
        max_tokens: object,
    ) -> str:
        """One call of the script's: checked, admitted, answered, recorded. Raises TypeError or
        ValueError for bad arguments, LLMCallFailed for a budget spent or a failed backend."""
        llm = self.llm
        checked = check_call(prompt, model, temperature, max_tokens, llm.models, llm.limits)
        request = LLMRequest(
            *checked, timeout_ms=0, trace_id=trace_id, model_listed=bool(llm.models) or model is None
        )
        request = self.ledger.admit(request, trace)
        started = time.perf_counter()
        completion, why = None, None
        try:
            completion = read_completion(llm.complete(request), request, llm.limits)
        except LLMFailure as failure:
            why = str(failure)
        except Exception as error:  # noqa: BLE001 - whatever the backend raised, named by kind only
            why = f"the backend raised {type(error).__name__}"
        # A backend that overran its time (a library callable cannot be interrupted) still spent
        # the batch's: recorded, and the trace ends.
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.ledger.settle(request, completion, elapsed_ms, trace)
        if completion is not None and elapsed_ms > request.timeout_ms:
            why = f"no answer within {request.timeout_ms} ms"
        if why is not None or completion is None:
            # Raised here, outside the handler: the backend's exception (its text, its objects)
            # is not chained to what the script receives.
            raise LLMCallFailed(f"LLM call failed: {why}")
        return completion.text


def as_llm(llm: LLM | Backend) -> LLM:
    """`evaluate(..., llm=...)` takes an LLM, or a bare backend callable with the defaults."""
    if isinstance(llm, LLM):
        return llm
    if not callable(llm):
        raise TypeError(f"llm must be an LLM or a callable taking an LLMRequest, not {type(llm).__name__}")
    return LLM(llm)


# --- the front Worker's side: the gate every call of one request passes -----------------------------

# A backend the front Worker awaits: a capability, a binding, an endpoint (src/entry.py).
AsyncBackend = Callable[[LLMRequest], Awaitable["str | Completion"]]
# Runs a coroutine to its end from synchronous code: pyodide.ffi.run_sync in the Worker.
Drive = Callable[[Awaitable[Any]], Any]


def drive_without_loop(awaitable: Awaitable[Any]) -> Any:
    """A Drive for coroutines that never suspend (a backend answering at once: the tests, a library
    caller's in-process gate), where there is no run_sync."""
    coroutine = awaitable.__await__()
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("the coroutine suspended: drive it with run_sync")


@dataclass(frozen=True)
class CallRecord:
    """One call as the front Worker saw it, for the log; the texts only when the operator keeps them."""

    trace_id: str
    model: str | None
    tokens_in: int
    tokens_out: int
    time_ms: float
    error: str | None = None
    prompt: str | None = None
    completion: str | None = None


class Gate:
    """One request's model, in the front Worker: every call of the request passes here, from a
    runner isolate (through the capability src/entry.py hands it for this request only) or from the
    engine in-process, and is checked and counted again, per batch, by the same rules: the front
    does not trust a runner to have counted. `close` ends it with the request; a capability kept
    past it (an escape that stored it) is refused."""

    def __init__(
        self,
        backend: AsyncBackend,
        source: str,
        models: tuple[str, ...] = (),
        limits: LLMLimits | None = None,
        deadline: float = math.inf,
        keep_text: bool = False,
        drive: Drive = drive_without_loop,
    ) -> None:
        self.backend, self.source, self.models, self.drive = backend, source, models, drive
        self.limits = limits or LLMLimits()
        self.ledger = Ledger(self.limits, deadline=deadline)
        self.keep_text = keep_text
        self.records: list[CallRecord] = []
        self.closed = False

    @property
    def usage(self) -> Usage:
        return self.ledger.batch

    def close(self) -> None:
        self.closed = True

    async def answer(self, wire: object) -> dict[str, Any]:
        """A call's answer as `completion_wire`, or `{"error": why}`; never raises."""
        if self.closed:
            return {"error": "this capability's request has ended"}
        try:
            request = request_from_wire(wire, self.limits, self.models, timeout_ms=0)
            request = self.ledger.admit(request)
        except (TypeError, ValueError, LLMCallFailed) as refused:
            return {"error": str(refused)}
        started = time.perf_counter()
        completion, why = None, None
        try:
            # The backend bounds its own wait by request.timeout_ms (src/entry.py: asyncio.wait_for
            # on the Worker's loop); an answer that came later is refused all the same.
            completion = read_completion(await self.backend(request), request, self.limits)
        except TimeoutError:
            why = f"no answer within {request.timeout_ms} ms"
        except LLMFailure as failure:
            why = str(failure)
        except Exception as error:  # noqa: BLE001 - a backend's failure, named by kind only
            why = f"the backend raised {type(error).__name__}"
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.ledger.settle(request, completion, elapsed_ms)
        if completion is not None and elapsed_ms > request.timeout_ms:
            why = f"no answer within {request.timeout_ms} ms"
        self._remember(request, completion, round(elapsed_ms, 3), why)
        if why is not None or completion is None:
            return {"error": why}
        return completion_wire(completion)

    def _remember(
        self, request: LLMRequest, completion: Completion | None, elapsed_ms: float, why: str | None
    ) -> None:
        keep, answered = self.keep_text, completion or Completion("", request.recorded_model(), 0, 0)
        record = CallRecord(
            request.trace_id, answered.model, answered.tokens_in or 0, answered.tokens_out or 0, elapsed_ms,
            why, request.prompt if keep else None, completion.text if keep and completion is not None else None,
        )  # fmt: skip
        self.records.append(record)

    def engine_backend(self) -> Backend:
        """This gate as the engine's backend when the engine runs in this interpreter (in-process
        mode), each call driven to its end by the gate's `drive` (run_sync in the Worker)."""

        def complete(request: LLMRequest) -> Completion:
            return read_completion_wire(self.drive(self.answer(request.to_wire())))

        return complete
