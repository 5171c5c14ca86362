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


# --- heap mode (Pyodide) -------------------------------------------------------------------------
# A run past limits.HEAP_AFTER_STEPS may leave tracemalloc for the allocator's own figures (heap
# mode, sandbox/heap.py). Tests of it prepare the heap and read what the run did to it from outside,
# with libc through ctypes, not through the engine's own bookkeeping.

WARM_UP = "for _ in range(5000):\n    pass\n"
"""More steps than HEAP_AFTER_STEPS: a run that starts with this is in heap mode for what follows,
where it may be."""


class HeapScene:
    """The heap made ready for a heap-mode run: every free chunk below the top chunk filled (the
    suite's earlier runs leave free chunks behind, in pieces too small for a ballast, and a run
    stays traced where they and what it holds are over a quarter of its limit); with `top_room`,
    the top chunk holding at least that much free; with `top_margin`, the top chunk taken too,
    all but that many bytes. Then nothing the run allocates, even for a moment, escapes the
    heap's end, and `peak_bound` is an upper bound of the most it held at any moment, read from
    outside."""

    def __init__(self, top_margin: int | None = None, top_room: int = 0) -> None:
        import ctypes

        from sandbox import heap

        figures = heap.figures()
        assert figures is not None
        self.figures = figures
        libc = ctypes.CDLL(None)
        self._malloc, self._free = libc.malloc, libc.free
        self._malloc.restype, self._malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
        self._free.restype, self._free.argtypes = None, [ctypes.c_void_p]
        self.blocks: list[int] = []
        size = 8 * 1024 * 1024
        while size >= 16:
            top, end = figures.top.value, figures.end.value
            block = self._malloc(size)
            if figures.top.value != top or figures.end.value != end:
                self._free(block)  # carved from the top chunk: no free chunk of this size is left
                size //= 2
            else:
                self.blocks.append(block)
        if top_room:
            # A top chunk of at least `top_room` free, as earlier heavy runs leave it.
            self._free(self._malloc(top_room))
        if top_margin is not None:
            top_size = figures.usage()[2]
            if top_size > top_margin:
                self.blocks.append(self._malloc(top_size - top_margin))
        self.entries = figures.entries
        # Each scene's runs may spend the whole allowance of growth under ballasts (added back
        # to what the interpreter had spent when the scene is released).
        self.spent, figures.ballast_growth = figures.ballast_growth, 0
        self.in_use, self.free, self.top_size = figures.usage()
        self.end = figures.end.value

    def entered(self) -> int:
        """Runs that entered heap mode since the scene was set."""
        return self.figures.entries - self.entries

    def peak_bound(self, end: int | None = None) -> int:
        """With `top_margin`: the most anything held at any moment since the scene was set (or
        until the heap's end was `end`), over what was in use then: every free byte then, plus
        what the heap's end has grown by."""
        return self.free + self.top_size + (self.figures.end.value if end is None else end) - self.end

    def release(self) -> None:
        while self.blocks:
            self._free(self.blocks.pop())
        self.figures.ballast_growth += self.spent
        self.spent = 0


def heap_limits(limits: Limits) -> Limits:
    """`limits` with a memory limit its time budget can free whole: the only runs that may enter
    heap mode (limits.heap_mode_frees_in_time)."""
    from dataclasses import replace

    from sandbox.limits import HEAP_FREED_BYTES_PER_MS

    return replace(limits, memory_bytes=min(limits.memory_bytes, limits.timeout_ms * HEAP_FREED_BYTES_PER_MS))


def run_in_heap_mode(
    code: str, limits: Limits, policy: Policy | None = ALL_IMPORTS
) -> tuple[ExecutionResult, int, int, float]:
    """Run `code` after WARM_UP in a HeapScene whose top chunk keeps three quarters of the
    memory limit free (the margin the budget leaves a run, so the engine's own ballast has little
    to take and what the run holds is read from outside). Returns the result, how many runs
    entered heap mode (1 where it did), the most the run can have held at any moment while in
    heap mode (the scene's peak bound when heap mode ended: after it the run is traced, and
    tracemalloc's own tables are no part of what it holds), and the seconds it took."""
    import time

    scene = HeapScene(top_margin=limits.memory_bytes * 3 // 4)
    try:
        started = time.perf_counter()
        result = sandbox.execute(WARM_UP + code, limits, policy)
        elapsed = time.perf_counter() - started
        entered = scene.entered()
        peak = scene.peak_bound(scene.figures.end_when_left) if entered else 0
    finally:
        scene.release()
    assert CANARY not in str(result.to_wire())
    return result, entered, peak, elapsed
