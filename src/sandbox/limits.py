"""Every number the sandbox enforces, and the mechanisms that enforce them at run time.

A Worker has no signals, threads, subprocesses or `resource`, and its clock may not advance during
synchronous execution, so the time budget is a deterministic count of work observed through
`sys.monitoring`; the wall clock is a second, best-effort bound where it moves. Memory is tracked with
`tracemalloc` (present in Pyodide), and any single C call that could allocate far past the limit, or
recurse deep enough to overflow the WebAssembly stack, is refused before it starts.
"""

from __future__ import annotations

# The C half of tracemalloc: the Python module imports pickle and more, 70 ms of a Pyodide cold start.
import _tracemalloc
import itertools
import json
import math
import re
import sys
import time
from dataclasses import dataclass, replace
from types import CodeType
from typing import Any, NoReturn

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Limits:
    """Budgets of one run. Every field has a default and a server-side maximum (`MAXIMA`)."""

    timeout_ms: int = 5000
    """Time budget. Enforced as a step count (`steps_per_ms` times this), plus the wall clock where it
    advances. The maximum equals the default: the platforms promise their users 5 s per run."""

    memory_bytes: int = 50 * MIB
    """Python allocations alive during the run (tracemalloc), checked at every step, and the
    headroom against which any single operation that could allocate in one C call is measured."""

    output_bytes: int = 64 * KIB
    """Captured stdout. Past it the output is cut, a marker appended and the run stopped."""

    recursion_depth: int = 200
    """Python frames the user's code may stack on top of the host's."""

    nesting_depth: int = 200
    """Nesting of containers handed to C code that recurses (repr, format, json) and of expressions
    in the source. Pyodide's WebAssembly stack overflows fatally at a few thousand levels (measured:
    repr of a 5,000-deep list, json.loads of 7,000 nested arrays, a 5,000-long chain of unary minus),
    killing the whole isolate, where CPython raises RecursionError; 200 leaves a wide margin."""

    steps_per_ms: int = 1000
    """Work units (function starts, generator resumptions, jumps) that count as one millisecond.
    Measured in Pyodide 314 under Node, the interpreter production runs: about 1,000 steps per ms
    with memory tracking on (CPython 3.13 on the same machine manages about 4,000, so there a loop
    stops by its step count well before the wall clock)."""

    track_memory: bool = True
    """Turn tracemalloc accounting off to trade the memory budget for speed (benchmarks report both);
    the single-operation guards stay on."""

    max_code_bytes: int = 256 * KIB
    """Source size accepted by the analyser."""

    batch_timeout_ms: int = 30_000
    """Time budget of one `evaluate` call over all its traces, counted like `timeout_ms` (steps or
    wall clock, whichever says more). Each trace gets at most what is left; traces after it is
    spent are reported as not run. wrangler.toml's `[limits] cpu_ms` sits above it."""

    max_traces: int = 1000
    """Traces in one `evaluate` call; a larger batch is refused before anything runs."""

    max_trace_bytes: int = 256 * KIB
    """Size of one trace's data as the batch encodes it for copying (marshal; about two thirds of
    its JSON size). The platforms' traces are about 100 KB of JSON at most."""

    max_batch_bytes: int = 16 * MIB
    """Encoded size of all the traces, task and task metadata of one `evaluate` call."""

    check_interval: int = 1024
    """Steps between two looks at the wall clock: a power of two, so the check is a mask."""

    def __post_init__(self) -> None:
        for name, ceiling in MAXIMA.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"limit {name} must be a positive integer, got {value!r}")
            if value > ceiling:
                raise ValueError(f"limit {name}={value} exceeds the server maximum of {ceiling}")
        if self.check_interval & (self.check_interval - 1):
            raise ValueError("limit check_interval must be a power of two")

    @property
    def max_steps(self) -> int:
        return self.timeout_ms * self.steps_per_ms

    @property
    def max_items(self) -> int:
        """Elements a single operation may create: a list slot costs at least 8 bytes."""
        return self.memory_bytes // 8

    def with_overrides(self, **changes: int) -> Limits:
        """A copy with some budgets changed, validated against the maxima like any other."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


MAXIMA: dict[str, int] = {
    "timeout_ms": 5000,
    "memory_bytes": 128 * MIB,
    "output_bytes": 1 * MIB,
    "recursion_depth": 800,
    "nesting_depth": 500,
    "steps_per_ms": 1000,
    "max_code_bytes": 1 * MIB,
    "check_interval": 1 << 20,
    "batch_timeout_ms": 60_000,
    "max_traces": 5000,
    "max_trace_bytes": 1 * MIB,
    "max_batch_bytes": 32 * MIB,
}


class LimitExceeded(BaseException):
    """Raised into the user's code when a budget runs out. A BaseException, so `except Exception`
    does not swallow it; code that catches BaseException meets it again at its next step."""

    error_type = "internal"


class TimeLimitExceeded(LimitExceeded):
    error_type = "timeout"


class MemoryLimitExceeded(LimitExceeded):
    error_type = "memory"


class OutputLimitExceeded(LimitExceeded):
    error_type = "output_limit"


@dataclass
class StepBudget:
    """Counts work through `sys.monitoring` and raises once a budget is spent.

    Events: PY_START (every Python call, so recursion is counted), PY_RESUME (generators) and JUMP
    (every loop iteration). Any unbounded Python-level computation produces them. Memory is looked
    at on every step, because one step can double it (`s = s + s` in a loop). Exhaustion is sticky:
    every later event raises again, so `except BaseException`, loops in `finally` and generator
    finalisers cannot continue past the budget.
    """

    limits: Limits
    exempt_code_ids: frozenset[int] = frozenset()
    deadline: float = 0.0
    steps: int = 0
    memory_baseline: int = 0
    tripped: LimitExceeded | None = None

    def start(self) -> None:
        self.deadline = time.perf_counter() + self.limits.timeout_ms / 1000
        if self.limits.track_memory:
            _tracemalloc.reset_peak()
            self.memory_baseline = _tracemalloc.get_traced_memory()[0]

    def trip(self, error: LimitExceeded) -> NoReturn:
        """Spend the budget for good (limits, the output cap, teardown) and raise."""
        if self.tripped is None:
            self.tripped = error
        raise self.tripped

    def on_start(self, code: CodeType, _offset: int) -> object:
        """PY_START and PY_RESUME: a call, or a generator picking up again."""
        if id(code) in self.exempt_code_ids:
            # The sandbox's own code: not the user's work, and DISABLE makes it free from now on.
            return sys.monitoring.DISABLE
        return self.step()

    def on_jump(self, code: CodeType, source: int, destination: int) -> object:
        """JUMP: only backward jumps (loop iterations) bound work. A forward jump (the end of an
        if-branch) is disabled where it stands, so it costs nothing after its first time."""
        if destination > source or id(code) in self.exempt_code_ids:
            return sys.monitoring.DISABLE
        return self.step()

    def step(self) -> None:
        if self.tripped is not None:
            raise self.tripped
        self.steps += 1
        limits = self.limits
        if limits.track_memory and _traced_memory()[0] - self.memory_baseline > limits.memory_bytes:
            self.trip(memory_error(limits))
        if self.steps & (limits.check_interval - 1) == 0 and (
            self.steps > limits.max_steps or time.perf_counter() > self.deadline
        ):
            self.trip(TimeLimitExceeded(f"Execution timeout exceeded {limits.timeout_ms}ms"))

    def memory_used(self) -> int:
        return _tracemalloc.get_traced_memory()[0] - self.memory_baseline

    def headroom(self) -> int:
        """Bytes a single operation may still allocate."""
        if not self.limits.track_memory:
            return self.limits.memory_bytes
        return self.limits.memory_bytes - self.memory_used()

    def exceeded_memory_at_peak(self) -> bool:
        """A last look after the run: a single C call may have peaked and released in one step."""
        if not self.limits.track_memory:
            return False
        return _tracemalloc.get_traced_memory()[1] - self.memory_baseline > self.limits.memory_bytes


_traced_memory = _tracemalloc.get_traced_memory


def memory_error(limits: Limits) -> MemoryLimitExceeded:
    return MemoryLimitExceeded(f"Memory limit exceeded: {limits.memory_bytes // MIB} MB")


# --- Guards for single C calls that could allocate far past the limit ---------------------------
# Each guard runs inside the user's budget, called by code the analyser inserted (policy.instrument)
# or by a curated builtin. It estimates the size of the result from the operands before the
# operation runs, and a refusal spends the budget like any other limit.

_SEQUENCES = (str, bytes, bytearray, list, tuple)
_NESTABLE = (list, tuple, dict, set, frozenset)
# Exact types that never nest, tested first because most values in a trace are one of them.
_ATOMS = frozenset({str, int, float, bool, type(None), bytes})


def _refuse_size(budget: StepBudget, what: str, size: float) -> NoReturn:
    budget.trip(
        MemoryLimitExceeded(
            f"Memory limit exceeded: {what} would create about {size:,.0f} items"
            f" (limit {budget.limits.memory_bytes // MIB} MB)"
        )
    )


def check_repeat(budget: StepBudget, seq: object, times: object) -> None:
    if isinstance(seq, _SEQUENCES) and isinstance(times, int) and times > 1:
        size = len(seq) * times * (1 if isinstance(seq, (str, bytes, bytearray)) else 8)
        if size > budget.headroom():
            _refuse_size(budget, "sequence repetition", size)


def check_mul(budget: StepBudget, a: object, b: object) -> None:
    check_repeat(budget, a, b)
    check_repeat(budget, b, a)
    if isinstance(a, int) and isinstance(b, int):
        check_int_bits(budget, a.bit_length() + b.bit_length(), "integer multiplication")


def check_pow(budget: StepBudget, base: object, exp: object) -> None:
    if isinstance(base, int) and isinstance(exp, int) and exp > 0 and abs(base) > 1:
        check_int_bits(budget, exp * math.log2(abs(base)), "integer power")


def check_lshift(budget: StepBudget, a: object, b: object) -> None:
    if isinstance(a, int) and isinstance(b, int) and a and b > 0:
        check_int_bits(budget, a.bit_length() + b, "left shift")


def check_int_bits(budget: StepBudget, bits: float, what: str) -> None:
    if bits > budget.headroom() * 8:
        _refuse_size(budget, what, bits / 8)


def check_width(budget: StepBudget, width: object, what: str) -> None:
    """Padding widths and precisions: `'x'.ljust(10**9)`, `f'{x:>999999999}'`, `'%.99999999f'`."""
    if isinstance(width, int) and width > budget.headroom():
        _refuse_size(budget, what, width)


def check_format_spec(budget: StepBudget, spec: str) -> None:
    """Every run of digits in a format spec is a fill, width or precision: none may be huge."""
    for number in re.findall(r"\d+", spec):
        # A long run of digits is itself the attack; do not convert a huge string to int.
        check_width(budget, int(number) if len(number) < 13 else 10**13, "a format width")


def check_range(budget: StepBudget, r: range) -> None:
    """A range is lazy, but `list(range(10**10))` or `sum(range(10**12))` runs in one C call that
    the step count cannot see. Ranges longer than a run could hold are refused when created."""
    # Arithmetic, not len(): on 32-bit WebAssembly len(range(10**10)) overflows ssize_t.
    length = max(0, (r.stop - r.start + r.step - (1 if r.step > 0 else -1)) // r.step)
    if length > budget.limits.max_items:
        _refuse_size(budget, "range", length)


def check_nesting(limits: Limits, value: object) -> None:
    """Refuse containers nested deeper than `nesting_depth` before C code recurses into them.

    Breadth first, one level at a time, each container once (cycles are fine: repr prints them as
    [...]). Gives up, accepting, after as many containers as a run could create.
    """
    if not isinstance(value, _NESTABLE):
        return
    level: list[Any] = [value]
    seen: set[int] = set()
    depth = 0
    while level:
        depth += 1
        if depth > limits.nesting_depth:
            raise ValueError(
                f"data nested deeper than {limits.nesting_depth} levels cannot be printed,"
                " formatted or serialised in the sandbox"
            )
        following: list[Any] = []
        for node in level:
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, dict):
                for key, child in node.items():
                    if type(child) not in _ATOMS and isinstance(child, _NESTABLE):
                        following.append(child)
                    if type(key) is not str and isinstance(key, (tuple, frozenset)):
                        following.append(key)  # the hashable containers
            else:
                following.extend([c for c in node if type(c) not in _ATOMS and isinstance(c, _NESTABLE)])
        if len(seen) > limits.max_items:
            return
        level = following


# Structure is all check_json_text looks at: brackets, and quotes to tell strings apart.
_OPENERS_TO_ONE = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")
_NOT_STRUCTURE = bytes(set(range(256)) - set(b'[]{}"'))
# Text is measured a window at a time, so the check holds a bounded copy of it, never a second one.
_JSON_WINDOW = 1 << 18


def check_json_text(limits: Limits, text: str | bytes | bytearray) -> None:
    """Nesting depth of a JSON document, found before `json.loads` recurses once per level, in one
    pass over the text at C speed (it runs on every HTTP body and on untrusted runner answers, so
    crafted text must not make it slow: no backtracking, no repeated passes).

    Escaped backslashes, then escaped quotes, are dropped, so the quotes left delimit strings
    exactly and brackets inside strings are not counted. Outside valid JSON (a backslash outside a
    string) the parser stops where the measure may go wrong, having recursed no deeper than the
    measure up to there.
    """
    if isinstance(text, (bytes, bytearray)):
        # As json.loads reads bytes: UTF-16 and UTF-32 hold bracket and quote bytes inside other
        # characters, UTF-8 never does.
        encoding = json.detect_encoding(text)
        if encoding != "utf-8":
            text = bytes(text).decode(encoding, errors="surrogatepass")
    square, curly = ("[", "{") if isinstance(text, str) else (b"[", b"{")
    if text.count(square) + text.count(curly) <= limits.nesting_depth:  # type: ignore[arg-type]
        return
    depth, in_string, pending = 0, False, b""
    for start in range(0, len(text), _JSON_WINDOW):
        window = text[start : start + _JSON_WINDOW]
        if isinstance(window, str):
            window = window.encode("utf-8", errors="surrogatepass")
        window = pending + bytes(window)
        # A run of backslashes at the end may pair with the next window's first character.
        body = window.rstrip(b"\\")
        pending = b"\\" if (len(window) - len(body)) % 2 else b""
        structure = body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
        pieces = structure.split(b'"')
        outside = b"".join(pieces[1 if in_string else 0 :: 2])
        in_string ^= len(pieces) % 2 == 0
        steps = outside.translate(_OPENERS_TO_ONE)
        if steps and depth + max(itertools.accumulate(memoryview(steps).cast("b"))) > limits.nesting_depth:
            raise ValueError(f"JSON nested deeper than {limits.nesting_depth} levels")
        depth += steps.count(1) - steps.count(0xFF)
