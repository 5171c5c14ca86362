"""Helpers for the tests. The canary is a secret the host holds in every place an escape would look:
an environment variable, a module in sys.modules, a module-level global, the builtins module and
a file. Escape tests assert that it never appears in anything a run returns."""

from __future__ import annotations

import builtins
import os
import sys
import tempfile
import types

import sandbox
from sandbox import ExecutionResult, Limits, Policy

CANARY = "canary-7f3c9a-host-secret"
IN_PYODIDE = sys.platform == "emscripten"

os.environ["SANDBOX_CANARY"] = CANARY
_secrets = types.ModuleType("host_secrets")
_secrets.CANARY = CANARY  # type: ignore[attr-defined]
sys.modules["host_secrets"] = _secrets
builtins.SANDBOX_CANARY = CANARY  # type: ignore[attr-defined]
with tempfile.NamedTemporaryFile("w", suffix=".secret", delete=False) as _file:
    _file.write(CANARY)
CANARY_FILE = _file.name

# Fast budgets for tests that run into a limit on purpose: a quarter of a second of steps.
SHORT = Limits(timeout_ms=250)
ALL_IMPORTS = Policy(sandbox.MAX_IMPORTS)


def run(code: str, limits: Limits | None = None, policy: Policy | None = None) -> ExecutionResult:
    return sandbox.execute(code, limits, policy)


def contained(
    code: str, limits: Limits | None = None, policy: Policy | None = ALL_IMPORTS
) -> ExecutionResult:
    """Run an attack with every importable module allowed; the canary must not come back."""
    result = sandbox.execute(code, limits or SHORT, policy)
    wire = str(result.to_wire())
    assert CANARY not in wire, f"canary leaked: {wire}"
    return result


def refused(code: str, fragment: str = "Blocked", policy: Policy | None = ALL_IMPORTS) -> ExecutionResult:
    """The analyser refuses `code`, with `fragment` in the message, before anything runs."""
    result = contained(code, policy=policy)
    assert result.error_type == "validation", result
    assert fragment in (result.error or ""), result.error
    return result


def fails(
    code: str, fragment: str, error_type: str = "runtime", limits: Limits | None = None
) -> ExecutionResult:
    """The code passes analysis but fails at run time with `fragment` in the error."""
    result = contained(code, limits)
    assert not result.success, result
    assert result.error_type == error_type, result
    assert fragment in (result.error or ""), result.error
    return result


def runner_entrypoint(source: str) -> object:
    """The runner's entry point made from its main module's source, as the loader is given it, with
    a `workers` module that holds only `WorkerEntrypoint`: all the runner may take from the SDK the
    runtime gives it. `sandbox` is the package under test, whose sources the payload carries."""
    workers = types.ModuleType("workers")

    class WorkerEntrypoint:
        def __init__(self, ctx: object, env: object) -> None:
            self.ctx, self.env = ctx, env

    workers.WorkerEntrypoint = WorkerEntrypoint  # type: ignore[attr-defined]
    main: dict[str, object] = {"__name__": "runner_main"}
    real = sys.modules.get("workers")
    sys.modules["workers"] = workers
    try:
        exec(compile(source, "isolate_entry.py", "exec"), main)
    finally:
        if real is None:
            del sys.modules["workers"]
        else:
            sys.modules["workers"] = real
    return main["Default"](None, {})  # type: ignore[operator]
