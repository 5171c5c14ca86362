"""Running requests in a separate isolate: what the runner Worker does, what the front Worker
hands the Worker Loader, and how it reads the runner's answers.

The front Worker validates a request and passes it, as plain JSON-compatible data, to `handle`:
either here (no loader configured) or, as JSON text, inside a runner Worker that the loader starts
with no bindings, no network and a CPU limit (src/isolate_entry.py calls `handle_json`). Everything
in this module is standard library, so the runner needs nothing but the engine's own sources, which
it gets from the deployed package.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from .evals import BatchInputError, evaluate
from .limits import MIB, Limits, check_json_text
from .policy import Policy
from .runner import execute, validate

# The engine's modules, which the runner loads: the standard-library part of the package. api.py
# (pydantic), log.py and cli.py stay with the front Worker.
ENGINE_MODULES = (
    "__init__", "builtins", "evals", "isolate", "limits", "modules", "policy", "results", "runner",
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


def handle(kind: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """Run one request that the front Worker has already validated; the answer in wire format.
    A batch the engine refuses comes back as `{"refused": {"status", "code", "error"}}`."""
    policy = Policy.allowing(request.get("allowImports", []))
    if kind == "validate":
        return validate(request["code"], policy, Limits(), request.get("functionName")).to_wire()
    memory = request.get("memoryMb")
    limits = Limits().with_overrides(
        timeout_ms=request.get("timeoutMs"), memory_bytes=memory * MIB if memory is not None else None
    )
    if kind == "execute":
        return execute(request["code"], limits, policy).to_wire()
    try:
        batch = evaluate(
            request["evalCode"], request["traces"], request.get("functionName"), request.get("task"),
            request.get("taskMetadata"), limits, policy,
        )  # fmt: skip
    except BatchInputError as error:
        status, code = (413, "payload_too_large") if error.too_large else (400, "bad_request")
        return {"refused": {"status": status, "code": code, "error": str(error)}}
    return batch.to_wire()


def handle_json(kind: str, request: str) -> str:
    """`handle` with JSON text on both sides: what crosses RPC between the front Worker and a runner.
    Text passes the structured clone untouched, where converting objects would need the SDK's
    helpers on both sides and turn None into undefined, large ints into BigInt and lone surrogates
    into errors."""
    return json.dumps(handle(kind, json.loads(request)))


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


def runner_id(caller: str, cpu_limit_ms: int) -> str:
    """The loader caches isolates by id. One per engine version (a deploy loads new code), per
    caller (a hypothetical escape sees only data of the same caller) and per CPU limit (the limit is
    fixed when an isolate loads)."""
    who = hashlib.sha256(caller.encode()).hexdigest()[:16]
    return f"sandbox-runner-{engine_version()}-{who}-{cpu_limit_ms}"


def worker_code(cpu_limit_ms: int) -> dict[str, Any]:
    """The WorkerCode for a runner: a Python Worker with the engine's modules, no bindings, no
    network, and a CPU limit. `globalOutbound` is None here and must reach JavaScript as null, not
    undefined: undefined leaves the network open (src/entry.py converts it)."""
    return {
        "compatibilityDate": COMPATIBILITY_DATE,
        "compatibilityFlags": list(COMPATIBILITY_FLAGS),
        "mainModule": RUNNER_MAIN,
        "modules": {name: {"py": source} for name, source in runner_modules().items()},
        "env": {},
        "globalOutbound": None,
        "limits": {"cpuMs": cpu_limit_ms, "subRequests": 0},
    }


# Sends a request to the caller's runner, as JSON text, and returns the runner's answer as it came
# (src/entry.py: the loader and RPC). Called with the kind, the request and the caller.
RunnerCall = Callable[[str, dict[str, Any], str], Awaitable[object]]
# The refusals a runner may answer with: a batch whose traces the engine cannot copy.
REFUSALS = {(400, "bad_request"), (413, "payload_too_large")}


async def through_runner(call: RunnerCall, kind: str, request: dict[str, Any], caller: str) -> dict[str, Any]:
    """Send a caller's request to its runner isolate through `call` and read the answer.
    However the runner fails, the front Worker answers with a structured result and goes on
    serving; the details go to its log."""
    try:
        return read_answer(kind, await call(kind, request, caller))
    except Exception as error:  # noqa: BLE001 - a killed or crashed isolate surfaces as any error
        print(f"runner isolate failed on {kind}: {type(error).__name__}: {error}", file=sys.stderr)
        return failure(kind, request, str(error))


def read_answer(kind: str, text: object) -> dict[str, Any]:
    """A runner's answer, read as untrusted: an escape from the engine would have written it. Its
    shape is checked afterwards, like any answer, by the API's response models."""
    if not isinstance(text, str):
        raise ValueError(f"the runner answered with {type(text).__name__}, not JSON text")
    # Nested thousands deep, json.loads would overflow Pyodide's stack and kill the front Worker.
    check_json_text(Limits(), text)
    answer = json.loads(text)
    if not isinstance(answer, dict):
        raise ValueError("the runner's answer is not a JSON object")
    refused = answer.get("refused")
    if refused is not None and not (
        kind == "evaluate"
        and isinstance(refused, dict)
        and (refused.get("status"), refused.get("code")) in REFUSALS
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
