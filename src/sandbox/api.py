"""The Worker's API as plain Python: request and response models, routes, access, the log entry.

src/entry.py turns a Worker request or an RPC call into a call here and the answer into a Response;
everything else happens in this module, which the tests call without a Worker. Requests and responses
are pydantic models, strict: wrong types, missing and unknown fields are refused with the field's
path, so bad input never reaches the engine.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import sys
import unicodedata
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, SkipValidation, ValidationError
from pydantic.json_schema import models_json_schema

from . import isolate, log
from .limits import MIB, Limits, check_json_text
from .llm import Gate
from .policy import Policy
from .results import ErrorType, TraceErrorType

VERSION = "0.1.0"
MODE = "in-process"  # or, as src/entry.py decides: "isolate" (the Worker Loader), "none" (no loader)
LIMITS = Limits()
# A request body may carry the largest batch plus the code and a little JSON around them. Refused by
# its Content-Length before it is read, and while it is read when it has none or lies.
MAX_BODY_BYTES = LIMITS.max_batch_bytes + LIMITS.max_code_bytes + 64 * 1024
# How many values a request's JSON may hold, checked before anything is built: the front Worker has
# 128 MB, and 15 MB of `[[],[],…]` (five million empty lists) took about 870 MiB. Counted from the
# body's brackets, commas and colons at C speed (over HTTP, those inside strings too, so the count
# is an upper bound); the values of a large realistic batch, text and all, stay well below it.
MAX_JSON_VALUES = 1_000_000
# The RPC methods a binding may call (src/entry.py exposes nothing else): the documented API.
RPC_METHODS = ("execute", "evaluate", "validate", "executions")


# --- models ---------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


def _printable(key: str) -> str:
    """An isolation key is an identifier: printable characters only, in NFC form, with no character
    that shows as nothing. "acme\\x00" and "acme\\\\x00" got two runners but one log filter (the
    log writes a NUL as its escape); "café" spelt two ways, or a key ending in a variation selector
    or a Hangul filler, got a runner and log rows of its own while reading like another key."""
    if not key.isprintable():
        bad = next(character for character in key if not character.isprintable())
        raise ValueError(f"an isolation key takes printable characters only, not {bad!a}")
    if unicodedata.normalize("NFC", key) != key:
        raise ValueError("an isolation key must be in Unicode NFC form (compose its characters)")
    bad = next(
        (c for c in key if c in _BLANK or 0xFE00 <= ord(c) <= 0xFE0F or 0xE0100 <= ord(c) <= 0xE01EF), None
    )
    if bad is not None:
        raise ValueError(f"an isolation key takes no character that shows as nothing, not {bad!a}")
    return key


# Printable characters that show as nothing: the combining grapheme joiner, Hangul fillers and the
# braille blank (variation selectors are checked by range).
_BLANK = frozenset("\u034f\u115f\u1160\u3164\uffa0\u2800")


# Which runner isolate runs the request (README, "Who shares a runner"), and whose log rows to read.
IsolationKey = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_printable)]


class _Placement(_Strict):
    # A platform passes its tenant or workspace id as the key: runners are never shared across keys.
    # Unused in-process.
    isolationKey: IsolationKey | None = None
    isolation: Literal["warm", "fresh"] = "warm"


class _Options(_Placement):
    # Field names are the wire's (camelCase), as the consumers already send them.
    allowImports: list[str] = Field(default_factory=list, max_length=32)
    timeoutMs: int | None = Field(default=None, ge=1, le=LIMITS.timeout_ms)
    memoryMb: int | None = Field(default=None, ge=1, le=128)


# Refused with 413 by the API rather than 400 by the model, so the schema only documents them.
def _code() -> Any:
    return Field(description=f"Python source, at most {LIMITS.max_code_bytes} bytes as UTF-8 (413 past it)")


class ExecuteRequest(_Options):
    """Run a script once."""

    code: str = _code()


# Trace data and task fields are JSON already: the HTTP body went through json.loads, an RPC argument
# through src/entry.py's check of plain JSON. Validating them again as JsonValue would copy every
# list and dict of a batch that may be 16 MiB (the schema still describes them as JSON values).
JsonData = SkipValidation[JsonValue]


class TraceInput(_Strict):
    trace_id: str = Field(min_length=1, max_length=256)
    data: JsonData


class EvaluateRequest(_Options):
    """Run an eval function over traces: the shape eval platforms already send."""

    evalCode: str = _code()
    functionName: str | None = None
    traces: list[TraceInput] = Field(
        description=f"At most {LIMITS.max_traces} traces, {LIMITS.max_trace_bytes} bytes each (413 past it)",
        json_schema_extra={"maxItems": LIMITS.max_traces},
    )
    task: dict[str, JsonData] | None = None
    taskMetadata: dict[str, JsonData] | None = None


class ValidateRequest(_Placement):
    """Analyse without running; for eval code, say which entry point would be used."""

    code: str = _code()
    allowImports: list[str] = Field(default_factory=list, max_length=32)
    functionName: str | None = None


class ExecutionsRequest(_Strict):
    """Read the log: the caller's own rows (an operator's: every caller's), newest first."""

    limit: int = Field(default=20, ge=1, le=log.MAX_RECENT)
    # Only this tenant's rows: the requests sent with this isolationKey.
    isolationKey: IsolationKey | None = None
    # Only this caller's rows (`binding:<name>`, `token:<prefix>`, `anonymous`); operators only.
    caller: str | None = Field(default=None, min_length=1, max_length=256)


class ViolationOut(BaseModel):
    line: int
    col: int
    message: str


class ExecuteResponse(BaseModel):
    success: bool
    output: str | None = None
    error: str | None = None
    errorType: ErrorType | None = None
    line: int | None = None
    col: int | None = None
    violations: list[ViolationOut] | None = None
    executionTimeMs: float


class LLMUsageOut(BaseModel):
    """What ctx.call_llm calls used: of one trace, or of the whole batch."""

    calls: int
    tokens_in: int
    tokens_out: int
    time_ms: float
    models: list[str]


class TraceResultOut(BaseModel):
    trace_id: str
    success: bool
    passed: bool | None = None
    score: float | None = None
    reason: str | None = None
    error: str | None = None
    # "request": the result each trace gets when the request was refused (see ErrorResponse).
    errorType: Literal[TraceErrorType, "request"] | None = None
    output: str
    execution_time_ms: float
    # With an LLM configured or passed: what this trace's ctx.call_llm calls used.
    llm: LLMUsageOut | None = None


class SummaryOut(BaseModel):
    passed: int
    failed: int
    errors: int
    timeouts: int
    not_run: int


class EvaluateResponse(BaseModel):
    results: list[TraceResultOut]
    total_time_ms: float
    summary: SummaryOut
    entryPoint: str | None = None
    convention: str | None = None
    # With an LLM configured or passed: every trace's ctx.call_llm calls together.
    llm: LLMUsageOut | None = None
    success: Literal[False] | None = None
    error: str | None = None
    errorType: Literal["validation"] | None = None
    line: int | None = None
    col: int | None = None
    violations: list[ViolationOut] | None = None


class ValidateResponse(BaseModel):
    valid: bool
    violations: list[ViolationOut]
    entryPoint: str | None = None
    convention: str | None = None


class ErrorResponse(BaseModel):
    """Every refusal: a message, a stable code, and for internal failures the id in the log. It keeps
    the fields a caller reads from a result (success, error, errorType, executionTimeMs), so code that
    reads `success` sees false; a refused evaluate call also has `results`: one per trace of the
    request when its traces could be read, each with the error (none for more traces than the
    limit: the refusal does not grow with the request), and `total_time_ms`."""

    success: Literal[False]
    error: str
    errorType: Literal["request", "internal"]
    code: Literal[
        "bad_request", "unauthorized", "forbidden", "not_found", "method_not_allowed", "payload_too_large",
        "internal", "no_isolation", "runner_backoff", "too_many_requests",
    ]  # fmt: skip
    errorId: str | None = None
    # With runner_backoff and too_many_requests (429): the seconds to wait, as the HTTP answer's
    # Retry-After says too.
    retryAfter: int | None = None
    executionTimeMs: float
    results: list[TraceResultOut] | None = None
    total_time_ms: float | None = None


class HealthResponse(BaseModel):
    status: Literal["ok"]
    version: str
    mode: str


class ExecutionRow(BaseModel):
    id: str
    kind: Literal["execute", "evaluate", "validate"]
    caller: str
    tenant: str | None
    mode: str
    runner: str | None
    code_sha256: str
    code_size: int
    success: bool
    error_type: str | None
    # Script text: null unless the operator keeps it (SANDBOX_LOG_TEXT).
    error: str | None
    output: str | None
    execution_time_ms: float
    trace_count: int | None
    passed_count: int | None
    failed_count: int | None
    error_count: int | None
    timeout_count: int | None
    not_run_count: int | None
    # ctx.call_llm calls of an evaluate request, as the front Worker counted them; null without an LLM.
    llm_source: str | None
    llm_calls: int | None
    llm_tokens_in: int | None
    llm_tokens_out: int | None
    llm_time_ms: float | None
    llm_models: str | None
    created_at: str


class ExecutionsResponse(BaseModel):
    executions: list[ExecutionRow]


SCHEMA_MODELS: tuple[type[BaseModel], ...] = (
    ExecuteRequest, EvaluateRequest, ValidateRequest, ExecutionsRequest, ExecuteResponse,
    EvaluateResponse, ValidateResponse, ErrorResponse, HealthResponse, ExecutionsResponse,
)  # fmt: skip


def json_schema() -> dict[str, Any]:
    """The JSON Schema of every request and response, as published in schema/api.schema.json: one
    document whose `$defs` hold every model and every model they use, so each `#/$defs/…` resolves."""
    _, document = models_json_schema([(model, "validation") for model in SCHEMA_MODELS])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Python sandbox Worker API",
        "version": VERSION,
        **document,
    }


# --- operations (shared by HTTP and RPC) ---------------------------------------------------------


class RequestError(Exception):
    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.retry_after = status, code, retry_after
        # For a refused evaluate request whose traces were read: each gets a result with the error.
        self.trace_ids: list[str] = []


@dataclass(frozen=True)
class Caller:
    """Who sent a request: `name` goes into every runner id and log row, and decides which rows the
    caller reads; an operator reads every caller's."""

    name: str
    operator: bool = False


# A binding's identity, `props.caller` in the calling Worker's [[services]] binding: a short name,
# kept to characters that read the same in a log, a runner id and a query.
_CALLER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
NO_IDENTITY = (
    "this service binding carries no caller identity: give it one in the calling Worker's "
    'configuration, [[services]] binding = "SANDBOX" service = "python-sandbox" '
    'props = { caller = "<name>" } (letters, digits, ".", "_", "-"; at most 64)'
)


def binding_caller(props: object, operators: object = None) -> Caller:
    """The caller behind a service binding, from the props its configuration sets (ctx.props). Only
    someone who may deploy the Workers of the account can set them, and a calling Worker's code
    cannot change them (Cloudflare, "Context (ctx)": "you can trust that the content of ctx.props is
    authentic"), where anything in a request is the caller's to choose. A binding without one is
    refused: every binding without a name would otherwise be one caller, sharing runners and rows.
    `operators` is the SANDBOX_OPERATORS var: the names, comma-separated, that read every row."""
    name = props.get("caller") if isinstance(props, Mapping) else None
    if not isinstance(name, str) or _CALLER_NAME.fullmatch(name) is None:
        raise RequestError(401, "unauthorized", NO_IDENTITY)
    names = operators.split(",") if isinstance(operators, str) else []
    return Caller("binding:" + name, name in {entry.strip() for entry in names})


@dataclass(frozen=True)
class Answer:
    """What an operation produced: the body, and the log entry to write after answering."""

    status: int
    body: dict[str, Any]
    log: log.LogEntry | None = None
    headers: dict[str, str] = field(default_factory=dict)


# A refusal names this many of a request's problems, and counts the rest: a batch of a thousand
# malformed traces would otherwise be refused with a message a thousand problems long.
MAX_PROBLEMS = 10


def _parse(model: type[BaseModel], payload: object) -> Any:
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        found = error.errors()
        problems = "; ".join(
            f"{'.'.join(_field_name(part) for part in e['loc']) or '(body)'}: {e['msg']}"
            for e in found[:MAX_PROBLEMS]
        )
        if len(found) > MAX_PROBLEMS:
            problems += f"; and {len(found) - MAX_PROBLEMS} more"
        raise RequestError(400, "bad_request", f"invalid request: {problems}") from None


def _check_trace_count(payload: object) -> None:
    """Refuse a batch of more than `max_traces` traces by counting them, before a TraceInput is built
    for any: 199,000 tiny traces (6 MB) were validated, then refused with a result each (31 MB)."""
    traces = payload.get("traces") if isinstance(payload, dict) else None
    if isinstance(traces, list) and len(traces) > LIMITS.max_traces:
        raise RequestError(
            413, "payload_too_large", f"{len(traces)} traces exceed the limit of {LIMITS.max_traces}"
        )


# Callers retry any error whose text says "timeout", so a refusal names the time budget by what it
# is, and an unknown field the caller named after one ("timeout": 5) without repeating its name.
_FIELD_NAMES = {"timeoutMs": "the time budget in ms"}


def _field_name(part: int | str) -> str:
    name = _FIELD_NAMES.get(str(part), str(part))
    return "a field named after a time limit" if "timeout" in name.lower() else name


def _check_settings(request: _Options | ValidateRequest) -> None:
    """Imports within the maximum and limits within theirs, refused here with a 400."""
    try:
        Policy.allowing(request.allowImports)
        if not isinstance(request, ValidateRequest):
            memory = request.memoryMb * MIB if request.memoryMb is not None else None
            LIMITS.with_overrides(timeout_ms=request.timeoutMs, memory_bytes=memory)
    except ValueError as error:
        raise RequestError(400, "bad_request", str(error)) from None


def check_json_values(body: bytes | bytearray) -> None:
    """Refuse a JSON body that could hold more than MAX_JSON_VALUES values, before anything is built
    (its text included: counted in the bytes, where the marks are the same ASCII bytes): every
    value but the first follows a comma or opens a container, every key a colon's."""
    marks = sum(body.count(mark) for mark in b"[{,:")
    if marks >= MAX_JSON_VALUES:
        raise RequestError(
            413, "payload_too_large",
            f"the request holds more than {MAX_JSON_VALUES} JSON values (brackets, commas and colons"
            " counted, inside strings too)",
        )  # fmt: skip


def _check_code_size(code: str) -> None:
    if len(code.encode("utf-8", errors="surrogatepass")) > LIMITS.max_code_bytes:
        raise RequestError(413, "payload_too_large", f"code exceeds {LIMITS.max_code_bytes} bytes")


# Where validated requests run: in this interpreter (isolate.handle), or in a runner Worker that
# the Worker Loader starts for the caller (src/entry.py passes that executor in). Called with the
# kind, the request, the caller and the request's LLM gate (or None); either returns the wire answer.
Executor = Callable[[str, dict[str, Any], str, Gate | None], Awaitable[dict[str, Any]]]


async def in_process(
    kind: str, request: dict[str, Any], caller: str, llm: Gate | None = None
) -> dict[str, Any]:
    async with isolate.ENGINE_LOCK:
        return isolate.handle(kind, request, llm.engine_backend() if llm is not None else None)


NO_ISOLATION = (
    "this Worker has no runner isolate for untrusted code: add the Worker Loader binding "
    '([[worker_loaders]] binding = "LOADER" in wrangler.toml), or accept running code in this '
    'Worker\'s own isolate, beside its bindings, with SANDBOX_IN_PROCESS = "true" in its [vars]'
)


async def without_isolation(
    kind: str, request: dict[str, Any], caller: str, llm: Gate | None = None
) -> dict[str, Any]:
    """The executor when there is no loader and in-process mode was not chosen: execute and
    evaluate are refused with 503 `no_isolation`; validate, which runs nothing, is analysed here."""
    if kind == "validate":
        return isolate.handle(kind, request)
    raise RequestError(503, "no_isolation", NO_ISOLATION)


_REQUESTS: dict[str, type[_Strict]] = {
    "execute": ExecuteRequest,
    "evaluate": EvaluateRequest,
    "validate": ValidateRequest,
}
_RESPONSES: dict[str, type[BaseModel]] = {
    "execute": ExecuteResponse,
    "evaluate": EvaluateResponse,
    "validate": ValidateResponse,
}


async def run_operation(
    kind: str,
    payload: object,
    caller: Caller,
    executor: Executor = in_process,
    mode: str = MODE,
    keep: frozenset[str] = frozenset(),
    llm: Gate | None = None,
) -> Answer:
    """Validate the payload of `kind` (execute, evaluate, validate), run it through `executor`,
    and shape the answer; the log entry records who asked, for which tenant, which mode and runner
    ran it, what its ctx.call_llm calls used, and of the script's text only the kinds the operator
    keeps. `llm` answers an evaluate request's ctx.call_llm; it is closed when the request ends."""
    if kind == "evaluate":
        _check_trace_count(payload)  # refused as a whole: no result per trace
    request = _parse(_REQUESTS[kind], payload)
    if not isinstance(request, EvaluateRequest):
        llm = None
    code = request.evalCode if isinstance(request, EvaluateRequest) else request.code
    try:
        _check_code_size(code)
        _check_settings(request)
        sent = _wire(request)
        if llm is not None:
            sent[isolate.LLM_FIELD] = {"models": list(llm.models)}
        try:
            wire = await executor(kind, sent, caller.name, llm)
        finally:
            if llm is not None:
                llm.close()
        refused = wire.get("refused")
        if refused is not None:
            raise RequestError(
                refused["status"], refused["code"], refused["error"], refused.get("retryAfter")
            )
    except RequestError as error:
        if isinstance(request, EvaluateRequest):
            error.trace_ids = [trace.trace_id for trace in request.traces]
        raise
    runner = wire.pop(isolate.RAN_IN, None)
    body = _RESPONSES[kind].model_validate(wire)
    entry = log.LogEntry(
        id=uuid.uuid4().hex, kind=kind, caller=caller.name, code=code, result=wire, mode=mode,
        tenant=request.isolationKey, runner=runner, keep=keep,
        llm_source=llm.source if llm is not None else None,
        llm_usage=llm.usage.to_wire() if llm is not None else None,
        llm_calls=tuple(llm.records) if llm is not None else (),
    )  # fmt: skip
    return Answer(200, _dump(body), entry)


def _wire(request: _Strict) -> dict[str, Any]:
    """The validated request as an executor takes it, sharing the parsed data: model_dump rebuilt
    every list and dict of every trace, one more copy of a body that may be 16 MiB."""
    wire = {name: getattr(request, name) for name in type(request).model_fields}
    if isinstance(request, EvaluateRequest):
        wire["traces"] = [{"trace_id": trace.trace_id, "data": trace.data} for trace in request.traces]
    return {name: value for name, value in wire.items() if value is not None}


def check_answer(kind: str, wire: dict[str, Any]) -> None:
    """Raise ValueError (pydantic's ValidationError is one) when a runner's answer does not have the
    shape of `kind`'s: the runner is then recycled (isolate.through_runner)."""
    _RESPONSES[kind].model_validate(wire)


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)


def error_answer(
    status: int,
    code: str,
    message: str,
    error_id: str | None = None,
    kind: str | None = None,
    trace_ids: Sequence[str] = (),
    retry_after: int | None = None,
) -> Answer:
    """A refusal (or, with code "internal", our failure) in the shape of a result; for `kind`
    "evaluate", with a result for each trace the request named."""
    error_type = "internal" if code == "internal" else "request"
    results = None
    if kind == "evaluate":
        results = [
            TraceResultOut(
                trace_id=trace_id, success=False, error=message, errorType=error_type,
                output="", execution_time_ms=0.0,
            )
            for trace_id in trace_ids
        ]  # fmt: skip
    body = ErrorResponse(
        success=False, error=message, errorType=error_type, errorId=error_id, executionTimeMs=0.0,
        code=code,  # type: ignore[arg-type]
        results=results, total_time_ms=0.0 if results is not None else None, retryAfter=retry_after,
    )  # fmt: skip
    headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
    return Answer(status, _dump(body), headers=headers)


def refusal(refused: RequestError, kind: str | None = None) -> Answer:
    return error_answer(
        refused.status, refused.code, str(refused), None, kind, refused.trace_ids, refused.retry_after
    )


def internal_failure(error: BaseException, kind: str | None = None) -> Answer:
    """A bug on our side: the caller gets an id, the Worker's log gets the details under it."""
    error_id = uuid.uuid4().hex
    print(
        json.dumps({"level": "error", "errorId": error_id, "error": f"{type(error).__name__}: {error}"}),
        file=sys.stderr,
    )
    return error_answer(
        500, "internal", "internal error; quote the errorId when reporting it", error_id, kind
    )


async def rpc(
    kind: str,
    payload: object,
    caller: Caller,
    executor: Executor = in_process,
    mode: str = MODE,
    keep: frozenset[str] = frozenset(),
    db: log.Database | None = None,
    llm: Gate | None = None,
) -> Answer:
    """An RPC call through a service binding, whose props name the caller (binding_caller): no
    token; the same validation. `llm`: the gate of the caller's own LLM capability or of the
    sandbox's configured backend."""
    try:
        if kind == "executions":
            return await read_log(_parse(ExecutionsRequest, payload), caller, db)
        return await run_operation(kind, payload, caller, executor, mode, keep, llm)
    except RequestError as refused:
        return refusal(refused, kind)
    except Exception as error:  # noqa: BLE001 - never let internals cross the boundary
        return internal_failure(error, kind)


# --- HTTP ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    """Who may use the HTTP API: callers presenting the SANDBOX_API_TOKEN secret, and the operator,
    presenting SANDBOX_OPERATOR_TOKEN (who also reads every caller's log rows). With neither secret
    set, everyone when ALLOW_UNAUTHENTICATED_HTTP is "true" (local development), else nobody: once a
    token is set it is required, whatever that variable says."""

    token: str | None = None
    allow_unauthenticated: bool = False
    operator_token: str | None = None

    @classmethod
    def from_env(cls, token: object, allow: object, operator_token: object = None) -> Access:
        return cls(_secret(token), allow == "true", _secret(operator_token))

    def caller(self, authorization: str | None) -> Caller:
        """Who presented `authorization`, or RequestError(401)."""
        presented = None
        if authorization and authorization.startswith("Bearer "):
            presented = _digest(authorization.removeprefix("Bearer ").strip())
        for secret, operator in ((self.operator_token, True), (self.token, False)):
            # Constant time, on digests, so neither content nor length leaks through timing.
            if (
                secret is not None
                and presented is not None
                and hmac.compare_digest(presented, _digest(secret))
            ):
                return Caller("token:" + _digest(secret)[:12], operator)
        if self.token is None and self.operator_token is None:
            if self.allow_unauthenticated:
                return Caller("anonymous")
            raise RequestError(
                401, "unauthorized", "the HTTP API is disabled: no SANDBOX_API_TOKEN is configured"
            )
        raise RequestError(401, "unauthorized", "missing or wrong bearer token")


def _secret(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


# Reads a request's body, at most `limit` bytes of it: None once it holds more (src/entry.py reads
# the stream and stops there, so an oversized body is never held whole).
BodyReader = Callable[[int], Awaitable[bytes | bytearray | None]]


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names: authorization, content-length
    body: bytes = b""
    query: Mapping[str, str] = field(default_factory=dict)
    reader: BodyReader | None = None  # read instead of `body` when given

    async def read_body(self) -> bytes | bytearray:
        """The body, refused (413) by its declared length before it is read, or while it is read."""
        declared = self.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise RequestError(413, "payload_too_large", f"request body exceeds {MAX_BODY_BYTES} bytes")
        body = self.body if self.reader is None else await self.reader(MAX_BODY_BYTES)
        if body is None or len(body) > MAX_BODY_BYTES:
            raise RequestError(413, "payload_too_large", f"request body exceeds {MAX_BODY_BYTES} bytes")
        return body


ROUTES: dict[str, tuple[str, ...]] = {
    "/v1/execute": ("POST",),
    "/v1/evaluate": ("POST",),
    "/v1/validate": ("POST",),
    "/v1/executions": ("GET",),
    "/v1/health": ("GET",),
    "/v1/schema": ("GET",),
}


async def handle_http(
    request: HttpRequest,
    access: Access,
    db: log.Database | None,
    executor: Executor = in_process,
    mode: str = MODE,
    keep: frozenset[str] = frozenset(),
    llm: Gate | None = None,
) -> Answer:
    """Route one HTTP request. Never raises: every outcome is an Answer with a JSON body. `llm`:
    the sandbox's configured backend, if any; an HTTP body carries no key and no model endpoint."""
    kind = "evaluate" if request.path.rstrip("/") == "/v1/evaluate" else None
    try:
        return await _route(request, access, db, executor, mode, keep, llm)
    except RequestError as refused:
        answer = refusal(refused, kind)
        if refused.status == 405:
            return Answer(
                answer.status, answer.body, headers={"allow": ", ".join(ROUTES.get(request.path, ()))}
            )
        return answer
    except Exception as error:  # noqa: BLE001 - nothing a caller sends may surface internals
        return internal_failure(error, kind)


async def _route(
    request: HttpRequest,
    access: Access,
    db: log.Database | None,
    executor: Executor,
    mode: str,
    keep: frozenset[str],
    llm: Gate | None,
) -> Answer:
    path = request.path.rstrip("/")
    methods = ROUTES.get(path)
    if methods is None:
        raise RequestError(404, "not_found", f"no route {request.path}; see GET /v1/schema")
    if request.method not in methods:
        raise RequestError(405, "method_not_allowed", f"{request.path} takes {', '.join(methods)}")
    if path == "/v1/health":
        return Answer(200, _dump(HealthResponse(status="ok", version=VERSION, mode=mode)))
    caller = access.caller(request.headers.get("authorization"))
    if path == "/v1/schema":
        return Answer(200, json_schema())
    if path == "/v1/executions":
        return await read_log(_executions_query(request.query), caller, db)
    payload = parse_body(await request.read_body())
    return await run_operation(path.removeprefix("/v1/"), payload, caller, executor, mode, keep, llm)


def parse_body(body: bytes | bytearray) -> object:
    """A request body as JSON, parsed once, after everything that bounds what parsing builds: the
    encoding (UTF-8 only: json.loads would also read UTF-16 and UTF-32, which the API does not
    take), the nesting (json.loads recurses in C, and Pyodide's stack is short) and the values."""
    check_json_values(body)
    try:
        text = body.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        raise RequestError(400, "bad_request", f"the request body is not UTF-8 ({error})") from None
    if "\x00" in text:  # valid UTF-8, but JSON has no NUL: UTF-16 or UTF-32 without a byte order mark
        raise RequestError(400, "bad_request", "the request body is not UTF-8 JSON: it holds NUL bytes")
    try:
        check_json_text(LIMITS, text)
    except ValueError as error:
        raise RequestError(400, "bad_request", f"malformed JSON: {error}") from None
    reader = _StrictJson()
    try:
        payload = json.loads(
            text, parse_constant=reader.not_a_number, parse_float=reader.number,
            object_pairs_hook=reader.object,
        )  # fmt: skip
    except _DuplicateKey as twice:
        message = f'invalid request: the key "{twice.key}" appears twice in one object'
        raise RequestError(400, "bad_request", message) from None
    except ValueError as error:
        raise RequestError(400, "bad_request", f"malformed JSON: {error}") from None
    if reader.non_finite:
        where = render_path(_path_to(payload, _NON_FINITE), "(the body)")
        message = f"invalid request: {where}: {reader.non_finite[0]} is not a JSON number"
        raise RequestError(400, "bad_request", message)
    return payload


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


# What json.loads makes of NaN, Infinity, -Infinity and a number past the float range (1e400):
# refused as RPC refuses them, after the parse, naming the field.
_NON_FINITE = object()


class _StrictJson:
    """json.loads' hooks for what JSON does not have and Python's reader accepts: NaN, Infinity and
    numbers past the float range become a marker whose field the refusal names; a key given twice in
    one object (json.loads kept the last, where a gateway reading the first sees other code) is
    refused at once."""

    def __init__(self) -> None:
        self.non_finite: list[str] = []

    def not_a_number(self, literal: str) -> object:
        self.non_finite.append(literal)
        return _NON_FINITE

    def number(self, literal: str) -> object:
        value = float(literal)
        if math.isfinite(value):
            return value
        self.non_finite.append(literal)
        return _NON_FINITE

    def object(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        members = dict(pairs)
        if len(members) != len(pairs):
            seen: set[str] = set()
            raise _DuplicateKey(next(key for key, _ in pairs if key in seen or seen.add(key)))
        return members


def _path_to(value: object, target: object) -> tuple[Any, Any] | None:
    """The path, as render_path takes it, to the first `target` in parsed JSON (iterative: the data
    may nest up to the API's limit)."""
    pending: list[tuple[object, tuple[Any, Any] | None]] = [(value, None)]
    while pending:
        item, path = pending.pop()
        if item is target:
            return path
        members = (
            item.items() if isinstance(item, dict) else enumerate(item) if isinstance(item, list) else ()
        )
        pending.extend((member, (path, key)) for key, member in reversed(list(members)))
    return None


def render_path(path: tuple[Any, Any] | None, whole: str = "(the argument)") -> str:
    """A field's path as a refusal names it (`traces.0.data.when`), from linked (parent, key) pairs:
    one string per refusal, none per value; the time budget by what it is (_FIELD_NAMES)."""
    parts = []
    while path is not None:
        path, key = path
        parts.append(_field_name(key))
    return ".".join(reversed(parts)) or whole


def _executions_query(query: Mapping[str, str]) -> ExecutionsRequest:
    raw = query.get("limit", "20")
    # ASCII digits, and few: str.isdigit() takes "²", which int() refuses.
    if re.fullmatch(r"[0-9]{1,4}", raw) is None or not 1 <= int(raw) <= log.MAX_RECENT:
        raise RequestError(400, "bad_request", f"limit must be an integer from 1 to {log.MAX_RECENT}")
    unknown = sorted(set(query) - set(ExecutionsRequest.model_fields))
    if unknown:
        raise RequestError(400, "bad_request", f"unknown query parameter: {', '.join(unknown)}")
    return _parse(ExecutionsRequest, {**query, "limit": int(raw)})


async def read_log(query: ExecutionsRequest, caller: Caller, db: log.Database | None) -> Answer:
    """The latest rows a caller may read: its own (of one tenant when it names an isolationKey), or,
    for an operator, every caller's (of one caller when it names one)."""
    if query.caller is not None and not caller.operator and query.caller != caller.name:
        raise RequestError(403, "forbidden", "only an operator reads other callers' log rows")
    owner = query.caller if caller.operator else caller.name
    rows = await log.recent(db, query.limit, owner, query.isolationKey) if db is not None else []
    # Every column of a row, nulls included: a row's shape does not depend on its values.
    return Answer(200, ExecutionsResponse.model_validate({"executions": rows}).model_dump(mode="json"))
