"""Running requests in a separate isolate: what the runner Worker does, what the front Worker
hands the Worker Loader, and how it reads the runner's answers.

The front Worker validates a request and passes it, as plain JSON-compatible data, to `handle`:
either here (no loader configured) or, as JSON text, inside a runner Worker that the loader starts
with no bindings, no network and a CPU limit (src/isolate_entry.py calls `handle_json`). Everything
in this module is standard library, so the runner needs nothing but the engine's own sources, which
it gets from the deployed package.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import importlib.util
import json
import marshal
import math
import re
import sys
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import runner
from .evals import BatchInputError, evaluate
from .facades import FACADE_NAMES
from .limits import MIB, Limits, check_json_text
from .llm import LLM, Backend, Gate
from .policy import Policy
from .runner import execute, validate

# The engine's modules, which the runner loads: the standard-library part of the package. api.py
# (pydantic), log.py and cli.py stay with the front Worker.
ENGINE_MODULES = (
    "__init__", "builtins", "counting", "evals", "guards", "isolate", "limits", "llm", "ownership",
    "policy", "results", "runner", "sinks", "facades/__init__",
    *(f"facades/{name.replace('.', '/')}" for name in sorted(FACADE_NAMES)),
    # The packages of dotted facades (facades/urllib for urllib.parse).
    *sorted({f"facades/{name.rpartition('.')[0]}/__init__" for name in FACADE_NAMES if "." in name}),
)  # fmt: skip
RUNNER_MAIN = "isolate_entry.py"
COMPATIBILITY_DATE = "2026-11-20"
# From 2026-04-21 on, a Python Worker must vendor the `workers` SDK unless this flag says to use the
# runtime's own copy; the runner needs only its WorkerEntrypoint, so nothing is shipped but the engine.
COMPATIBILITY_FLAGS = ("python_workers", "disable_python_external_sdk")
# CPU the runner may use beyond the engine's own budget (interpreter start, copying, teardown).
CPU_MARGIN_MS = 2000
# The budgets a runner's CPU limit is rounded up to. The loader fixes the limit when it starts an
# isolate, so the limit is part of the runner's id: a few tiers keep a caller on a few warm isolates
# where one per distinct `timeoutMs` would make most calls cold starts.
BUDGET_TIERS_MS = (1000, Limits().timeout_ms, Limits().batch_timeout_ms)


# The engine runs one script at a time per interpreter. A run waiting for its model (ctx.call_llm
# through run_sync) lets the event loop take the next request; that request waits here rather than
# start a run inside the paused one (runner.run refuses that, as a bug).
ENGINE_LOCK = asyncio.Lock()
# The request field in which the front Worker tells the engine which models ctx.call_llm may name
# (LLM.models); set by the front after validation, never by a caller (the models forbid it).
LLM_FIELD = "llm"


def handle(
    kind: str, request: Mapping[str, Any], llm: Backend | None = None, parsed: bool = False
) -> dict[str, Any]:
    """Run one request that the front Worker has already validated; the answer in wire format.
    A batch the engine refuses comes back as `{"refused": {"status", "code", "error"}}`. `llm`
    answers the eval function's ctx.call_llm (without it, ctx is None). `parsed`: the request is
    what json.loads made of the front Worker's text (handle_json), whose nesting the front bounded
    before it parsed the caller's request, so a batch's data is not walked again
    (`evaluate(json_data=...)`)."""
    policy = Policy.allowing(request.get("allowImports", []))
    if kind == "validate":
        return validate(request["code"], policy, Limits(), request.get("functionName")).to_wire()
    memory = request.get("memoryMb")
    limits = Limits().with_overrides(
        timeout_ms=request.get("timeoutMs"), memory_bytes=memory * MIB if memory is not None else None
    )
    if kind == "execute":
        return execute(request["code"], limits, policy).to_wire()
    model = None
    if llm is not None:
        model = LLM(llm, models=tuple((request.get(LLM_FIELD) or {}).get("models", ())))
    try:
        batch = evaluate(
            request["evalCode"], request["traces"], request.get("functionName"), request.get("task"),
            request.get("taskMetadata"), limits, policy, llm=model, json_data=parsed,
        )  # fmt: skip
    except BatchInputError as error:
        status, code = (413, "payload_too_large") if error.too_large else (400, "bad_request")
        return {"refused": {"status": status, "code": code, "error": str(error)}}
    return batch.to_wire()


def handle_json(kind: str, request: str, llm: Backend | None = None) -> str:
    """`handle` with JSON text on both sides: what crosses RPC between the front Worker and a runner.
    Text passes the structured clone untouched, where converting objects would need the SDK's
    helpers on both sides and turn None into undefined, large ints into BigInt and lone surrogates
    into errors.

    A runner whose interpreter failed the engine's self-check says so in RUNNER_FAULT, so that the
    front Worker never sends it another request; asked again all the same (a front Worker that
    restarted and forgot), it runs nothing."""
    fault = runner.interpreter_fault()
    if fault is not None:
        return json.dumps({RUNNER_FAULT: fault})
    answer = fit_text(kind, handle(kind, json.loads(request), llm, parsed=True))
    fault = runner.interpreter_fault()
    if fault is not None:
        answer[RUNNER_FAULT] = fault
    try:
        return rpc_text(answer)
    except RpcTooLarge as error:  # fit_text keeps answers far below; a refusal, should one not be
        refusal = {"status": 413, "code": "payload_too_large", "error": f"the answer is too large: {error}"}
        return json.dumps({"refused": refusal, **({RUNNER_FAULT: fault} if fault is not None else {})})


# --- what crosses RPC -------------------------------------------------------------------------------------

# workerd refuses an RPC message, a call's arguments or its answer as V8 serialises them, of 32 MiB
# or more (MAX_JS_RPC_MESSAGE_SIZE, "Serialized RPC … limited to 32MiB"). V8 writes a string whose
# every character is Latin-1 a byte a character, any other two bytes a UTF-16 unit.
RPC_MESSAGE_BYTES = 32 * MIB
# What the JSON text of a request or an answer may take of it, the rest being margin. A request
# within the API's limits stays below it (a body is at most 16.3 MiB of UTF-8; see rpc_text); an
# answer does too, its script text being cut at MAX_ANSWER_TEXT. Past it, a request is refused with
# 413 `payload_too_large` before any runner is asked (1,000 traces of 12 MB of "é", escaped to
# ASCII, were 36 MB: the RPC failed, and the healthy runner was recycled and counted as failing).
MAX_RPC_TEXT_BYTES = 30 * MIB
# The script text one answer carries, output, errors and reasons of all its traces together, in
# characters (at most 4 bytes each across RPC). Past it, each text is cut and ends with
# ANSWER_CUT_MARKER: 1,000 traces printing 34,000 characters each, under the 64 KiB output limit,
# made a 34 MB answer, which broke the RPC limit and made every result `internal`.
MAX_ANSWER_TEXT = 4 * MIB
ANSWER_CUT_MARKER = "\n[cut: this answer's text reached its limit of {limit} characters]"
# The texts fit_text cuts, in the order it meets them.
_SCRIPT_TEXT = ("output", "reason", "error")


class RpcTooLarge(ValueError):
    """A request or an answer whose JSON text would not cross RPC."""


def fit_text(kind: str, answer: dict[str, Any]) -> dict[str, Any]:
    """Cut the script text of an answer to MAX_ANSWER_TEXT characters in all, a batch's traces in
    order: a text past the room left keeps what fits and ends with the marker."""
    room = MAX_ANSWER_TEXT
    holders = answer.get("results", []) if kind == "evaluate" else [answer]
    for holder in holders:
        for name in _SCRIPT_TEXT:
            text = holder.get(name)
            if not isinstance(text, str):
                continue
            # A character past ASCII counts as four (its UTF-8 bytes at most, across RPC and HTTP),
            # so the room bounds bytes, not characters: 4 Mi emoji were 16 MiB.
            size = len(text) if text.isascii() else 4 * len(text)
            if size > room:
                keep = room if text.isascii() else room // 4
                holder[name] = text[:keep] + ANSWER_CUT_MARKER.format(limit=MAX_ANSWER_TEXT)
            room = max(0, room - size)
    return answer


# A character V8 cannot write as one byte (past U+00FF), and one past the BMP (two UTF-16 units).
_WIDE = re.compile("[^\x00-\xff]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def rpc_text(value: object) -> str:
    """`value` as the JSON text that crosses RPC: not escaped to ASCII (which made 12 MB of "é" 36
    MB), compact, and, when a character past U+00FF makes V8 write all of it two bytes a character
    and that would not fit, escaped to ASCII instead (`\\u4e2d`), when that fits. Raises
    RpcTooLarge when neither fits."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if rpc_bytes(text) <= MAX_RPC_TEXT_BYTES:
        return text
    if not text.isascii():
        # Escaped to ASCII, in one C call (a Python callback per character took 11 s of the front's
        # CPU on 7.9 million emoji): one byte a character for V8, valid JSON with the same meaning.
        narrow = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
        if len(narrow) <= MAX_RPC_TEXT_BYTES:
            return narrow

    raise RpcTooLarge(
        f"{rpc_bytes(text)} bytes as the runtime serialises them, over the {MAX_RPC_TEXT_BYTES} a"
        " runner takes"
    )


def rpc_bytes(text: str) -> int:
    """The bytes V8's serialiser writes for `text`."""
    if text.isascii() or _WIDE.search(text) is None:
        return len(text)
    astral = _ASTRAL.subn("", text)[1] if _ASTRAL.search(text) else 0
    return 2 * (len(text) + astral)


# --- what the front Worker gives the loader ---------------------------------------------------------


@functools.cache
def runner_modules() -> dict[str, str]:
    """The runner's modules, read once per isolate from the deployed package itself, so there is no
    second copy to keep in step."""
    package = Path(__file__).resolve().parent
    modules = {f"sandbox/{name}.py": (package / f"{name}.py").read_text() for name in ENGINE_MODULES}
    modules[RUNNER_MAIN] = (package.parent / RUNNER_MAIN).read_text()
    return modules


@functools.cache
def runner_bytecode() -> dict[str, bytes]:
    """The runner's engine modules compiled, as the files its import reads before a source
    (`sandbox/__pycache__/runner.cpython-314.pyc` beside `sandbox/runner.py`): a runner compiled
    every source at its start, 110 ms of the engine's import in Pyodide (scripts/bench_import.py).
    Compiled by this interpreter, which in production is the runner's own Pyodide (the same
    compatibility date); another's files (a CPython front in the tests, another Pyodide) carry its
    cache tag or magic number, which the runner's import passes over. Checked hash-based files: the
    runner's import hashes the source beside each and uses the code only if it matches, so a stale
    file costs a compile, never a module other than its source. The front Worker makes them at import
    (src/entry.py), which production's memory snapshot keeps."""
    header = importlib.util.MAGIC_NUMBER + _CHECKED_HASH_PYC.to_bytes(4, "little")
    files = {}
    for name, source in runner_modules().items():
        if name == RUNNER_MAIN:
            continue  # the main module is run, not imported: its bytecode would never be read
        folder, _, file = name.rpartition("/")
        code = compile(source, name, "exec", dont_inherit=True)
        cached = f"{folder}/__pycache__/{file.removesuffix('.py')}.{sys.implementation.cache_tag}.pyc"
        files[cached] = header + importlib.util.source_hash(source.encode()) + marshal.dumps(code)
    return files


# The flags of a hash-based .pyc that its import checks against the source (PEP 552).
_CHECKED_HASH_PYC = 0b11


@functools.cache
def engine_version() -> str:
    """A digest of the runner's sources: a deploy that changes them gets fresh runner isolates."""
    digest = hashlib.sha256()
    for name, source in sorted(runner_modules().items()):
        digest.update(name.encode() + b"\0" + source.encode() + b"\0")
    return digest.hexdigest()[:16]


def cpu_ms(kind: str, request: Mapping[str, Any]) -> int:
    """The runner's CPU limit: the request's budget rounded up to a tier, plus a margin, so that the
    engine's budget ends a runaway first and the isolate's limit only catches work inside one C call."""
    defaults = Limits()
    if kind == "evaluate":
        budget = defaults.batch_timeout_ms
    else:
        budget = request.get("timeoutMs") or defaults.timeout_ms
    tier = next((tier for tier in BUDGET_TIERS_MS if tier >= budget), budget)
    return int(tier) + CPU_MARGIN_MS


def runner_base(caller: str, isolation_key: str | None, cpu_limit_ms: int) -> str:
    """What a runner id is made of, before its generation. The loader caches isolates by id: one per
    engine version (a deploy loads new code), per caller and isolation key (an escape sees only
    data of requests with the same caller and key) and per CPU limit (fixed when an isolate loads).
    The code's hash is left out on purpose: one eval over many batches stays warm, and a caller who
    wants each script apart puts the hash in its key (README, "Who shares a runner")."""
    who = json.dumps([caller, isolation_key]).encode()
    return f"sandbox-runner-{engine_version()}-{hashlib.sha256(who).hexdigest()[:16]}-{cpu_limit_ms}"


def worker_code(cpu_limit_ms: int) -> dict[str, Any]:
    """The WorkerCode for a runner: a Python Worker with the engine's modules, no bindings, no
    network, and a CPU limit. `globalOutbound` is None here and must reach JavaScript as null, not
    undefined: undefined leaves the network open (src/entry.py converts it)."""
    return {
        "compatibilityDate": COMPATIBILITY_DATE,
        "compatibilityFlags": list(COMPATIBILITY_FLAGS),
        "mainModule": RUNNER_MAIN,
        "modules": {
            **{name: {"py": source} for name, source in runner_modules().items()},
            **{name: {"data": data} for name, data in runner_bytecode().items()},
        },
        "env": {},
        "globalOutbound": None,
        "limits": {"cpuMs": cpu_limit_ms, "subRequests": 0},
    }


# Request fields that choose the runner; the front Worker keeps them, the runner never sees them.
PLACEMENT_FIELDS = ("isolationKey", "isolation")
# Named runners one front Worker isolate keeps at once. Local workerd never evicts an isolate started
# under a name (about 34 MiB each, README "Who shares a runner"), and Cloudflare bills each distinct
# id per day; past this, a caller's least recently used runner makes room, or the request runs in an
# unnamed runner, which isolates just as well.
MAX_NAMED_RUNNERS = 64
# Of those, how many one caller may hold: a caller that starts more runners (a new key each request,
# a crash loop) loses only its own least recently used ones, never another caller's.
RUNNERS_PER_CALLER = 16
# When every place is taken, a caller holding fewer runners than its fair share (the places divided
# among the callers holding them and itself, at least one) takes the least recently used runner of a
# caller holding more than its share: with every place held by one tenant, another got cold unnamed
# runners for good. Past that, a runner unused this long gives its place to anyone.
IDLE_SECONDS = 300.0
# Fresh runners (`isolation: "fresh"`, a new isolate every request) one caller may have starting:
# past it, 429 `too_many_requests` with Retry-After. Six fresh requests at once from one caller held
# another caller's warm request 10 to 20 s on local workerd, where every isolate shares one thread; in
# production each is a billed Dynamic Worker. Named runners are bounded by the places instead.
FRESH_PER_CALLER = 2
# A fresh start holds its place at least this long after it began, even when its request ended
# sooner: local workerd starts one runner at a time, so a burst's later requests found the first
# ones finished and four of six started; held, at most two begin within this window.
FRESH_HOLD_SECONDS = 10.0
# Requests of one caller running at once in this front Worker isolate, warm or not.
REQUESTS_PER_CALLER = 32
# The wait a busy caller is told: about one runner's start.
BUSY_RETRY_SECONDS = 2
# A caller and key whose runners failed this many times within FAILURE_WINDOW_SECONDS is refused
# with 429 and Retry-After for BACKOFF_SECONDS, doubling with each further round, up to
# MAX_BACKOFF_SECONDS: every failure costs a cold start (and in production a billed Dynamic Worker).
FAILURES_BEFORE_BACKOFF = 3
# The same for all of one caller's keys together: a caller that crashes a runner under a new key
# each time would otherwise never back off (found by attacking the Worker layer).
CALLER_FAILURES_BEFORE_BACKOFF = 10
FAILURE_WINDOW_SECONDS = 60.0
BACKOFF_SECONDS = 30.0
MAX_BACKOFF_SECONDS = 900.0
# How many runner ids' generations and how many keys' failures the front Worker remembers beyond its
# live runners: bounded, so that a caller minting keys cannot grow its memory.
MAX_REMEMBERED = 4096
# The field of a runner's answer in which it asks never to be used again (RunnerSlots.recycle).
RUNNER_FAULT = "runnerFault"
# The field the front Worker adds to an answer for the log: the id of the named runner that ran it.
# Set after the runner's answer is read, so a runner cannot name another.
RAN_IN = "ranIn"
# How much of a runner's fault report, text an escape may have written, goes to the log.
FAULT_LOG_CHARS = 200


@dataclass(frozen=True)
class Placement:
    """Where one request runs: a named runner the loader keeps warm for later requests of the same
    caller and key, or, with `runner_id` None, an unnamed one that no other request ever uses.
    `owner` is the caller and key whose failures it counts against."""

    runner_id: str | None
    cpu_ms: int
    owner: tuple[str, str | None] = ("", None)
    start: _Start | None = None  # the fresh start it holds a place for (RunnerSlots.enter)


@dataclass
class _Start:
    began: float
    running: bool = True


class RunnerRefusal(Exception):
    """A request refused with 429 before any runner is asked: `code` and `retry_after` seconds."""

    code = ""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RunnerBackoff(RunnerRefusal):
    """A caller (and key) whose runners keep failing: refused for `retry_after` seconds."""

    code = "runner_backoff"

    def __init__(self, whose: str, retry_after: int) -> None:
        super().__init__(
            f"the runners of {whose} failed too often within {FAILURE_WINDOW_SECONDS:.0f} s;"
            f" retry after {retry_after} s",
            retry_after,
        )


class RunnerBusy(RunnerRefusal):
    """A caller with FRESH_PER_CALLER fresh runners starting, or REQUESTS_PER_CALLER requests running."""

    code = "too_many_requests"


# The failures of every key of a caller, counted under this key (an isolationKey is str or None).
_EVERY_KEY = ("every key",)


@dataclass
class _Failures:
    times: list[float] = field(default_factory=list)  # within the window
    rounds: int = 0  # backoffs so far, each twice as long as the last
    until: float = 0.0


@dataclass
class RunnerSlots:
    """The named runners of this front Worker isolate: at most `max_named` at once, at most
    `per_caller` of one caller, least recently used first to go. A runner that failed (its
    self-check, a crash, a kill at its CPU or memory limit, a malformed answer) is recycled: its base
    moves to the next generation, in the same place, so the next request gets a new isolate and the
    failed one is never called again; its caller and key back off once failures pile up."""

    max_named: int = MAX_NAMED_RUNNERS
    per_caller: int = RUNNERS_PER_CALLER
    clock: Callable[[], float] = time.monotonic
    # base (runner_base) -> (caller, last use), least recently used first.
    live: OrderedDict[str, tuple[str, float]] = field(default_factory=OrderedDict)
    # base -> generation, for live bases and the MAX_REMEMBERED most recently recycled others.
    generations: OrderedDict[str, int] = field(default_factory=OrderedDict)
    failures: OrderedDict[tuple[str, str | None], _Failures] = field(default_factory=OrderedDict)
    fresh_per_caller: int = FRESH_PER_CALLER
    requests_per_caller: int = REQUESTS_PER_CALLER
    # caller -> its requests in flight (enter, leave), and its fresh starts still running or begun
    # within FRESH_HOLD_SECONDS.
    running: dict[str, int] = field(default_factory=dict)
    starting: dict[str, list[_Start]] = field(default_factory=dict)

    def place(self, kind: str, request: Mapping[str, Any], caller: str) -> Placement:
        """Raises RunnerBackoff when the caller and key are backing off."""
        return self._place(kind, request, caller, admit=False)

    def enter(self, kind: str, request: Mapping[str, Any], caller: str) -> Placement:
        """`place`, counting the request as running until `leave`: raises RunnerBusy, before anything
        is placed, when the caller is at its limit of requests running or of fresh runners starting."""
        return self._place(kind, request, caller, admit=True)

    def leave(self, placement: Placement) -> None:
        caller = placement.owner[0]
        self.running[caller] -= 1
        if not self.running[caller]:
            del self.running[caller]
        if placement.start is not None:
            placement.start.running = False  # its place is held until FRESH_HOLD_SECONDS have passed

    def _place(self, kind: str, request: Mapping[str, Any], caller: str, admit: bool) -> Placement:
        now, owner = self.clock(), (caller, request.get("isolationKey"))
        self._check_backoff(owner, now)
        cpu_limit_ms = cpu_ms(kind, request)
        fresh = request.get("isolation") == "fresh"
        start = self._admit(caller, fresh, now) if admit else None
        if fresh:
            return Placement(None, cpu_limit_ms, owner, start)
        base = runner_base(caller, owner[1], cpu_limit_ms)
        if base not in self.live and not self._make_room(caller, now):
            return Placement(None, cpu_limit_ms, owner)
        self.live[base] = (caller, now)
        self.live.move_to_end(base)
        return Placement(f"{base}-{self.generations.get(base, 0)}", cpu_limit_ms, owner)

    def _starts_held(self, caller: str, now: float) -> int:
        """How many of the caller's fresh starts hold a place: running, or begun within the hold."""
        held = [s for s in self.starting.pop(caller, []) if s.running or now - s.began < FRESH_HOLD_SECONDS]
        if held:
            self.starting[caller] = held
        return len(held)

    def _admit(self, caller: str, fresh: bool, now: float) -> _Start | None:
        running, starting = self.running.get(caller, 0), self._starts_held(caller, now)
        if running >= self.requests_per_caller:
            raise RunnerBusy(
                f"this caller has {running} requests running, its limit; retry after {BUSY_RETRY_SECONDS} s",
                BUSY_RETRY_SECONDS,
            )
        if fresh and starting >= self.fresh_per_caller:
            raise RunnerBusy(
                f"this caller started {starting} fresh runners within {FRESH_HOLD_SECONDS:.0f} s, its"
                f" limit; retry after {BUSY_RETRY_SECONDS} s",
                BUSY_RETRY_SECONDS,
            )
        self.running[caller] = running + 1
        if not fresh:
            return None
        start = _Start(now)
        self.starting.setdefault(caller, []).append(start)
        return start

    def _make_room(self, caller: str, now: float) -> bool:
        """Whether a new runner of `caller` may be named: under its quota and the cap; or after its
        own least recently used runner gave way; or, all places taken, when it holds less than its
        fair share, after the least recently used runner of a caller over its share gave way; or
        after one idle for IDLE_SECONDS did."""
        held = Counter(holder for holder, _ in self.live.values())
        if held[caller] >= self.per_caller:
            self._forget(next(base for base, (holder, _) in self.live.items() if holder == caller))
            return True
        if len(self.live) < self.max_named:
            return True
        share = max(1, self.max_named // len(held.keys() | {caller}))
        if held[caller] < share:
            for base, (holder, _) in self.live.items():  # least recently used first
                if held[holder] > share:
                    self._forget(base)
                    return True
        oldest, (_, used) = next(iter(self.live.items()))
        if now - used < IDLE_SECONDS:
            return False
        self._forget(oldest)
        return True

    def _forget(self, base: str) -> None:
        # Its generation stays remembered (bounded) should the key come back: a recycled id must not
        # be named again.
        del self.live[base]

    def recycle(self, placement: Placement) -> None:
        self._count_failure(placement.owner, self.clock())
        if placement.runner_id is None:
            return  # an unnamed runner is never called again anyway
        base, _, generation = placement.runner_id.rpartition("-")
        if self.generations.get(base, 0) != int(generation):
            return  # recycled already, by another request that ran in it at the same time
        self.generations[base] = int(generation) + 1
        self.generations.move_to_end(base)
        _trim(self.generations, keep=self.live)

    def _count_failure(self, owner: tuple[str, str | None], now: float) -> None:
        caller, _ = owner
        for counted, limit in (
            (owner, FAILURES_BEFORE_BACKOFF),
            ((caller, _EVERY_KEY), CALLER_FAILURES_BEFORE_BACKOFF),
        ):
            record = self.failures.setdefault(counted, _Failures())
            self.failures.move_to_end(counted)
            record.times = [t for t in record.times if now - t < FAILURE_WINDOW_SECONDS] + [now]
            if len(record.times) >= limit:
                record.until = now + min(BACKOFF_SECONDS * 2**record.rounds, MAX_BACKOFF_SECONDS)
                record.rounds += 1
                record.times = []
        _trim(self.failures)

    def _check_backoff(self, owner: tuple[str, str | None], now: float) -> None:
        caller, _ = owner
        for counted, whose in (
            (owner, "this caller and isolationKey"),
            ((caller, _EVERY_KEY), "this caller"),
        ):
            record = self.failures.get(counted)
            if record is None:
                continue
            if now < record.until:
                raise RunnerBackoff(whose, math.ceil(record.until - now))
            if not record.times and now - record.until > MAX_BACKOFF_SECONDS:
                del self.failures[counted]  # quiet long enough: the next round starts short again


def _trim(remembered: OrderedDict[Any, Any], keep: Mapping[Any, Any] | None = None) -> None:
    """Drop the oldest entries past MAX_REMEMBERED, never one that `keep` holds."""
    for key in list(remembered)[: max(0, len(remembered) - MAX_REMEMBERED)]:
        if keep is None or key not in keep:
            del remembered[key]


# This front Worker isolate's runners. Its memory ends with the isolate; a runner recycled for a
# failed self-check refuses work on its own (handle_json), should a new front Worker reach it.
RUNNER_SLOTS = RunnerSlots()

# Sends a request to its runner and returns the runner's answer as it came (src/entry.py: the loader
# and RPC). Called with the kind, the request as JSON text (rpc_text), its placement and the
# request's LLM gate, if it has one (src/entry.py hands the runner a capability for it).
RunnerCall = Callable[[str, str, Placement, Gate | None], Awaitable[object]]
# Raises ValueError when an answer does not have the shape of `kind`'s (the API's response models).
AnswerCheck = Callable[[str, dict[str, Any]], object]
# The refusals a runner may answer with: a batch whose traces the engine cannot copy, and an answer
# too large for RPC (handle_json; fit_text keeps answers far below that).
REFUSALS = {
    "evaluate": {(400, "bad_request"), (413, "payload_too_large")},
    "execute": {(413, "payload_too_large")},
    "validate": {(413, "payload_too_large")},
}


async def through_runner(
    call: RunnerCall,
    check: AnswerCheck,
    kind: str,
    request: dict[str, Any],
    caller: str,
    slots: RunnerSlots,
    llm: Gate | None = None,
) -> dict[str, Any]:
    """Send a caller's request to its runner isolate through `call` and read the answer.
    However the runner fails, the front Worker answers with a structured result, recycles the
    runner and goes on serving; the details go to its log. A caller and key backing off get a
    refusal, `{"refused": {"status": 429, …, "retryAfter": seconds}}`."""
    sent = {name: value for name, value in request.items() if name not in PLACEMENT_FIELDS}
    try:
        text = rpc_text(sent)
    except RpcTooLarge as error:  # refused before any runner is asked, or counted as failing
        return {"refused": {"status": 413, "code": "payload_too_large", "error": f"the request is {error}"}}
    try:
        placement = slots.enter(kind, request, caller)
    except RunnerRefusal as refused:
        refusal = {"status": 429, "code": refused.code, "error": str(refused)}
        return {"refused": {**refusal, "retryAfter": refused.retry_after}}
    try:
        answer = await _ask(call, check, kind, text, sent, placement, slots, llm)
    finally:
        slots.leave(placement)
    answer[RAN_IN] = placement.runner_id
    return answer


def rpc_limit_refusal(error: Exception) -> dict[str, Any] | None:
    """The refusal for an RPC message the runtime found too large ("Serialized RPC … are limited to
    …"), which says nothing about the runner's health: no recycling, no backoff."""
    message = str(error)
    if "Serialized RPC" not in message or "limited to" not in message:
        return None
    error_text = "the answer was too large to cross from the runner to the front Worker"
    return {"refused": {"status": 413, "code": "payload_too_large", "error": error_text}}


async def _ask(
    call: RunnerCall,
    check: AnswerCheck,
    kind: str,
    request_text: str,
    sent: dict[str, Any],
    placement: Placement,
    slots: RunnerSlots,
    llm: Gate | None,
) -> dict[str, Any]:
    try:
        text = await call(kind, request_text, placement, llm)
    except Exception as error:  # noqa: BLE001 - a killed or crashed isolate surfaces as any error
        refusal = rpc_limit_refusal(error)
        if refusal is not None:
            print(f"runner isolate answered {kind} past the RPC limit: {error}"[:2000], file=sys.stderr)
            return refusal
        slots.recycle(placement)
        print(f"runner isolate failed on {kind}: {type(error).__name__}: {error}", file=sys.stderr)
        return failure(kind, sent, str(error))
    try:
        answer = read_answer(kind, text)
        fault = take_fault(answer)
        if "refused" not in answer and (answer or fault is None):  # a faulted runner may run nothing
            check(kind, answer)
    except Exception as error:  # noqa: BLE001 - whatever an escape wrote, it cannot break the reading
        slots.recycle(placement)
        print(f"runner isolate answered {kind} with something malformed: {error}"[:2000], file=sys.stderr)
        return failure(kind, sent, "malformed answer")
    if fault is not None:
        slots.recycle(placement)
        print(f"runner isolate recycled after {kind}: {fault[:FAULT_LOG_CHARS]!r}", file=sys.stderr)
        if not answer:
            return failure(kind, sent, "the runner's interpreter is faulted; it ran nothing")
    return answer


def take_fault(answer: dict[str, Any]) -> str | None:
    """Remove the runner's fault report from its answer: its text, or None when it sent none."""
    fault = answer.pop(RUNNER_FAULT, None)
    if fault is not None and not isinstance(fault, str):
        raise ValueError(f"the runner's {RUNNER_FAULT} is not text")
    return fault


def read_answer(kind: str, text: object) -> dict[str, Any]:
    """A runner's answer, read as untrusted: an escape from the engine would have written it. Its
    shape is checked afterwards, by the API's response models (through_runner's `check`)."""
    if not isinstance(text, str):
        raise ValueError(f"the runner answered with {type(text).__name__}, not JSON text")
    # Nested thousands deep, json.loads would overflow Pyodide's stack and kill the front Worker.
    check_json_text(Limits(), text)
    answer = json.loads(text)
    if not isinstance(answer, dict):
        raise ValueError("the runner's answer is not a JSON object")
    refused = answer.get("refused")
    if refused is not None and not (
        isinstance(refused, dict)
        and (refused.get("status"), refused.get("code")) in REFUSALS.get(kind, ())
        and isinstance(refused.get("error"), str)
    ):
        raise ValueError("the runner's answer holds a refusal it cannot make")
    return answer


def failure(kind: str, request: Mapping[str, Any], message: str) -> dict[str, Any]:
    """A structured result for a runner that did not answer: killed at its CPU limit (a timeout),
    or crashed, out of memory, or unreachable (internal). Every trace of a batch gets the error."""
    timed_out = "cpu" in message.lower() and "limit" in message.lower()
    error_type = "timeout" if timed_out else "internal"
    error = (
        "Execution timeout exceeded: the runner isolate reached its CPU limit"
        if timed_out
        else "The runner isolate failed before answering"
    )
    if kind == "evaluate":
        traces = request.get("traces", [])
        results = [
            {"trace_id": trace["trace_id"], "success": False, "error": error, "errorType": error_type,
             "output": "", "execution_time_ms": 0.0}
            for trace in traces
        ]  # fmt: skip
        summary = {"passed": 0, "failed": 0, "errors": 0 if timed_out else len(traces),
                   "timeouts": len(traces) if timed_out else 0, "not_run": 0}  # fmt: skip
        return {"results": results, "total_time_ms": 0.0, "summary": summary}
    if kind == "validate":
        return {"valid": False, "violations": [{"line": 1, "col": 0, "message": error}]}
    return {"success": False, "error": error, "errorType": error_type, "executionTimeMs": 0.0}
