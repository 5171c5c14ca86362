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
import collections
import gc
import itertools
import json
import math
import operator
import os
import re
import struct
import sys
import time
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from itertools import compress, repeat
from types import CodeType, FrameType
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

    max_code_tokens: int = 64 * KIB
    """Tokens accepted by the analyser, counted before anything is parsed. The parsed tree costs
    about 350 bytes a node in Pyodide and the analysis about 10 us a node, and source as dense as
    `x;x;x;…` makes 1.5 nodes a byte: 256 KiB of it would take 136 MB (past a Worker's 128) and
    seconds. Ordinary code has a token every 5 bytes: 256 KiB of this package's own source is
    47,000 tokens."""

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
        if not isinstance(self.track_memory, bool):
            raise TypeError(f"limit track_memory must be a bool, not {type(self.track_memory).__name__}")
        for name, ceiling in MAXIMA.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"limit {name} must be an int, not {type(value).__name__}")
            if value < 1:
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
    # Measured in Pyodide 314 under Node 22: recursion through C callables that call back into
    # Python (functools.lru_cache, cmp_to_key) overflows V8's stack between 500 and 700 levels.
    "recursion_depth": 400,
    "nesting_depth": 500,
    "steps_per_ms": 1000,
    "max_code_bytes": 1 * MIB,
    "max_code_tokens": 256 * KIB,
    "check_interval": 1 << 20,
    "batch_timeout_ms": 60_000,
    "max_traces": 5000,
    "max_trace_bytes": 1 * MIB,
    "max_batch_bytes": 32 * MIB,
}


# What a tripped budget may report as the run's error type.
_STOP_KINDS = frozenset({"timeout", "memory", "output_limit", "llm_error", "internal"})


class LimitExceeded(BaseException):
    """Raised into the user's code when a budget runs out. A BaseException, so `except Exception`
    does not swallow it; code that catches BaseException meets it again at its next step. What
    the run reports is copied into `StepBudget.stop` when it trips: the script may catch this exception and
    re-initialise it (`super(type(e), e).__init__(anything)`)."""

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
    """Steps counted so far, except the last `pending` (see `counted`)."""
    pending: int = 0
    """Steps since `steps` was last brought up to date: at most `chunk`, so always one of the
    interpreter's cached small ints. Under tracemalloc every new int object is a traced
    allocation, and a step that allocated would make an empty loop pay for several."""
    chunk: int = 0
    next_clock: int = 0
    memory_baseline: int = 0
    track_memory: bool = False
    """`limits.track_memory`, read on every step without the second attribute look-up."""
    memory_ceiling: int = 0
    """Traced bytes past which the run is over its memory limit: baseline plus limit, added once."""
    traces_baseline: int = 0
    """tracemalloc's own memory when the run started: it grows by TRACE_BYTES a block the run holds."""
    user_code: CodeType | None = None
    """The code of the last event found not exempt: a loop's events then skip the `id(code)` (a
    new int object) of the exemption test."""
    tripped: LimitExceeded | None = None
    stop: tuple[str, str] | None = None
    """(message, error type) of the limit that tripped, taken before the script saw the exception.
    A tuple: a dataclass's generated __init__ would be a step of the budget being spent."""

    def __post_init__(self) -> None:
        # 256: CPython's largest cached small int; check_interval may be smaller (a power of two).
        self.chunk = min(self.limits.check_interval, 256)
        self.next_clock = self.limits.check_interval
        self.memory_ceiling = self.limits.memory_bytes
        self.track_memory = self.limits.track_memory

    def start(self) -> None:
        self.deadline = time.perf_counter() + self.limits.timeout_ms / 1000
        if self.limits.track_memory:
            _tracemalloc.reset_peak()
            self.memory_baseline = _tracemalloc.get_traced_memory()[0]
            self.memory_ceiling = self.memory_baseline + self.limits.memory_bytes
            self.traces_baseline = _tracemalloc.get_tracemalloc_memory()

    def trip(self, error: LimitExceeded) -> NoReturn:
        """Spend the budget for good (limits, the output cap) and raise."""
        if self.tripped is None:
            self.tripped = error
            message = error.args[0] if error.args and type(error.args[0]) is str else type(error).__name__
            kind = type(error).error_type
            # Plain strings from the engine's own vocabulary: results carry nothing a class made.
            self.stop = (message, kind if type(kind) is str and kind in _STOP_KINDS else "internal")
        raise self.tripped

    def on_event(self, code: CodeType, source: int, destination: int = -1) -> object:
        """A step: PY_START and PY_RESUME (`code, offset`: a call, or a generator picking up again)
        and backward JUMPs (`code, source, destination`: loop iterations). A forward jump (the end
        of an if-branch) bounds no work and is disabled where it stands, so it costs nothing after
        its first time. One Python function per event: a second frame for the step was a fifth of
        an empty loop's cost in Pyodide. Allocates nothing but what reading the traced memory
        returns; the step count and the clock are brought up to date every `chunk` steps."""
        if destination > source:
            return sys.monitoring.DISABLE
        if code is not self.user_code:
            if id(code) in self.exempt_code_ids:
                # The sandbox's own code: not the user's work, and DISABLE makes it free from now on.
                return sys.monitoring.DISABLE
            self.user_code = code
        if self.tripped is not None:
            raise self.tripped
        self.pending += 1
        if self.pending == self.chunk:
            self.catch_up()
        # Every step: one step can double what the run holds (`s = s + s` in a loop).
        if self.track_memory and _traced_memory()[0] > self.memory_ceiling:
            self.trip(memory_error(self.limits, self.memory_used()))
        return None

    def catch_up(self) -> None:
        """Count the pending steps; past the step budget, or at a look at the clock (every
        `check_interval` steps) past the deadline, the run is out of time."""
        self.steps += self.pending
        self.pending = 0
        limits = self.limits
        if self.steps > limits.max_steps:
            self.trip(TimeLimitExceeded(f"Execution timeout exceeded {limits.timeout_ms}ms"))
        if self.steps >= self.next_clock:
            self.next_clock = self.steps + limits.check_interval
            if time.perf_counter() > self.deadline:
                self.trip(TimeLimitExceeded(f"Execution timeout exceeded {limits.timeout_ms}ms"))
        if limits.track_memory:
            self.check_freeable()

    def check_freeable(self, adding: float = 0, what: str = "") -> None:
        """Past what the rest of RESERVE_SHARE of its budget can free (see FREED_BLOCKS_PER_MS and
        FREED_BYTES_PER_MS), the run is out of time: its teardown would take it further. `adding`:
        bytes of references one C call is about to make (`what`), priced before it runs."""
        limits = self.limits
        blocks = self.blocks_held()
        held = _traced_memory()[0] - self.memory_baseline + adding
        # What is left of RESERVE_SHARE of the budget, in steps: where the clock moves, it also
        # counts the C work done between steps (a tuple of 1,000 references copied in one).
        left = int(RESERVE_SHARE * limits.max_steps) - self.steps
        by_clock = int(
            ((self.deadline - time.perf_counter()) * 1000 + (RESERVE_SHARE - 1) * limits.timeout_ms)
            * limits.steps_per_ms
        )
        left = min(left, by_clock)
        # blocks / FREED_BLOCKS_PER_MS + references / FREED_BYTES_PER_MS > what is left, in ms
        references = max(0, held - blocks * BLOCK_BYTES)
        cost = (blocks * FREED_BYTES_PER_MS + references * FREED_BLOCKS_PER_MS) * limits.steps_per_ms
        if cost > left * FREED_BLOCKS_PER_MS * FREED_BYTES_PER_MS:
            holding = (
                f"what the run would hold after {what} ({size_text(held)} in {blocks:,} objects)"
                if what
                else f"the {blocks:,} objects the run holds ({size_text(held)})"
            )
            self.trip(
                TimeLimitExceeded(
                    f"Execution timeout exceeded {limits.timeout_ms}ms: freeing {holding} would take it past its budget"
                )
            )

    def blocks_held(self) -> int:
        """Memory blocks the run holds, from tracemalloc's own memory (see TRACE_BYTES); at least
        as many as there are. Only while memory is tracked."""
        return (_tracemalloc.get_tracemalloc_memory() - self.traces_baseline) // TRACE_BYTES

    def note_overrun(self) -> None:
        """After the script has returned, and again after its teardown: one C call may have run far
        past the deadline with no step left to notice it (a list of references to one long string
        compared item by item), or freeing what the run left may have; such a run is a timeout
        all the same, wherever the clock advances."""
        if self.stop is None and time.perf_counter() > self.deadline:
            message = f"Execution timeout exceeded {self.limits.timeout_ms}ms"
            self.stop = (message, "timeout")
            if self.tripped is None:
                self.tripped = TimeLimitExceeded(message)

    def charge(self, steps: int) -> None:
        """Count work the host does on the script's behalf (the nesting check's walk) as its steps."""
        if self.tripped is not None:
            raise self.tripped
        # `pending` is left to count on: reset here, a loop that charges on every iteration (a
        # caught exception's cleaning) would never reach the step that looks at the clock.
        self.steps += steps
        if self.steps + self.pending > self.limits.max_steps:
            self.trip(TimeLimitExceeded(f"Execution timeout exceeded {self.limits.timeout_ms}ms"))

    def memory_used(self) -> int:
        return _tracemalloc.get_traced_memory()[0] - self.memory_baseline

    def headroom(self) -> int:
        """Bytes a single operation may still allocate."""
        if not self.limits.track_memory:
            return self.limits.memory_bytes
        return self.limits.memory_bytes - self.memory_used()

    def peak_over_limit(self) -> int | None:
        """A last look after the run: a single C call may have peaked and released in one step.
        The peak, if it went over the limit."""
        if not self.limits.track_memory:
            return None
        peak = _tracemalloc.get_traced_memory()[1] - self.memory_baseline
        return peak if peak > self.limits.memory_bytes else None


_traced_memory = _tracemalloc.get_traced_memory

# What the teardown frees in a millisecond: memory blocks, and bytes of references beyond a block's
# own few. It empties what a run left from outside and lets it go in an order in which no
# deallocation recurses (see runner._teardown): a few Python steps for each object, a C pass over
# every reference (the collector's, a clear's; in Pyodide, a look at each reference's kind too).
# Measured in Pyodide 314 under Node at up to 2.3 us an object (a chain of slices, let go in the
# order of its references; most kinds under 1.5) and 35 to 60 ns a reference of four bytes (a list
# of 16 million references to two lists, tuples of 1,000 shared lists), on a machine busy with
# other work; CPython takes a third of that or less. A run may hold only what the rest of
# RESERVE_SHARE of its budget frees at 3 us a block and 16 ns a byte past the first BLOCK_BYTES of
# each block (which the cost of a block covers: a byte of text costs nothing to free, a small
# object's references are part of its cost), so that it ends, teardown included, within twice its
# budget: the default 5 s frees 50 MB of the smallest objects, a 300 ms budget 120,000 objects or
# 22 MB of references.
# Blocks are counted by tracemalloc's own memory, which keeps an entry of six pointers (and its
# share of the table) for each block it traces; bytes are all the run holds.
# Of the budget, from the script's start: what a run may hold must be freed by then. The teardown
# itself stops at 1.8 (runner._TEARDOWN_SHARE): the rates below are the most freeing costs, but a
# busy machine makes any of it slower.
RESERVE_SHARE = 1.4
FREED_BLOCKS_PER_MS = 336
FREED_BYTES_PER_MS = 62_500
# A reference, in those bytes: what freeing one costs in Pyodide (sifted, cleared: 35 to 48 ns), and
# one to a tuple (looked up by id where the collector untracks it: 75 to 128 ns), whatever the size
# of a pointer. For the references a repetition is about to make (check_repeat).
FREED_REFERENCE = 3
FREED_TUPLE_REFERENCE = 8
BLOCK_BYTES = 32
TRACE_BYTES = 6 * struct.calcsize("P")


def memory_error(limits: Limits, held: int, peaked: bool = False) -> MemoryLimitExceeded:
    # Just past the limit, the two amounts read the same: the difference says by how much.
    return MemoryLimitExceeded(
        f"Memory limit exceeded: the run {'peaked at' if peaked else 'holds'} {size_text(held)},"
        f" {size_text(held - limits.memory_bytes)} more than its limit of {size_text(limits.memory_bytes)}"
    )


def size_text(size: float) -> str:
    """Bytes as people read them, in the units of the limits: 600 KB, 49.5 MB, 9.31 GB."""
    for unit, scale in (("GB", 1024 * MIB), ("MB", MIB), ("KB", KIB)):
        if size >= scale:
            return f"{size / scale:,.2f}".rstrip("0").rstrip(".") + f" {unit}"
    return f"{size:,.0f} bytes"


# --- Guards for single C calls: the size and cost model -----------------------------------------
# Each guard runs inside the user's budget, called by code the analyser inserted (policy.instrument)
# or by a curated builtin. It estimates the size of the result from the operands before the
# operation runs, and a refusal spends the budget like any other limit.

_SEQUENCES = (str, bytes, bytearray, list, tuple)
# Exact types that never contain another object, tested first: most values in a trace are one.
_ATOMS = frozenset({str, int, float, bool, type(None), bytes})

# Neither the step count nor tracemalloc sees inside one C call, and the Pyodide heap never shrinks
# (a Worker isolate dies at 128 MB), so what a C call would allocate or compute is decided before it
# runs, from its operands alone:
# - sizes and counts are read as C reads them, through `operator.index` (`as_count`), and objects
#   are measured with the builtin types' own methods (`true_length`, `int.bit_length`), so an int or
#   str subclass that overrides `__gt__`, `bit_length` or `__len__` cannot talk a guard down;
# - the bytes a result needs are compared with the memory headroom (`check_bytes`);
# - the time a computation needs is estimated in milliseconds as Pyodide 314 runs it (the constants
#   below, measured by scripts/bench_guards.py) and charged to the step count before it starts
#   (`charge`): a call that would outlast the steps left is refused, one that fits is paid for.
# Reachable C callables whose cost grows with an argument's value, and the guard of each, are listed
# in tests/test_size_model.py; one added without a guard fails that test.

_DIGIT_BITS = 30  # CPython's int digit
_KARATSUBA_CUTOFF = 70  # digits below which CPython multiplies by the schoolbook method
_NS_PER_SCHOOLBOOK_DIGIT = 1.5  # per pair of digits multiplied (measured 0.9 ns in Pyodide)
_NS_PER_KARATSUBA_UNIT = 14.0  # per unit of large * small ** 0.585 (measured 9.2 ns)
_NS_PER_DIVISION_DIGIT = 2.5  # per pair of digits in schoolbook division (measured 1.4 ns)
_NS_PER_GCD_DIGIT = 5.0  # per pair of digits in Lehmer's gcd (measured 3.2 ns)
_PYLONG_DIVISOR = 300  # digits past which CPython divides with _pylong (for a long enough quotient)


def _refuse_size(budget: StepBudget, what: str, size: float) -> NoReturn:
    """`size`: the bytes the operation would allocate, against what the run already holds."""
    limit = size_text(budget.limits.memory_bytes)
    if budget.limits.track_memory:
        held = f"; the run holds {size_text(budget.memory_used())} of its {limit} limit"
    else:
        held = f", over the limit of {limit}"
    budget.trip(
        MemoryLimitExceeded(f"Memory limit exceeded: {what} would need about {size_text(size)}{held}")
    )


def as_count(value: object) -> int | None:
    """`value` as C reads a size, count or exponent (through `__index__`: an int subclass, an
    IntEnum member), or None where C would refuse it. Guards compare this plain int, never the
    object, whose comparison methods a subclass may have overridden."""
    try:
        return operator.index(value)
    except TypeError:
        return None


_MEASURED = (str, bytes, bytearray, list, tuple, dict, set, frozenset, collections.deque)


def true_length(value: object) -> int | None:
    """len() as the builtin type computes it: a subclass's own `__len__` may lie to a guard."""
    kind = type(value)
    for base in _MEASURED:
        if issubclass(kind, base):
            return base.__len__(value)  # type: ignore[attr-defined, no-any-return]
    return None


# PyCompactUnicodeObject as this interpreter lays it out: a str of n characters of k bytes each
# takes this plus (n + 1) * k (plus its UTF-8 form once something has asked for it).
_COMPACT_HEADER = str.__sizeof__("".join(["\xe9"] * 8)) - 9


def char_bytes(text: object) -> int:
    """Bytes per character a str holds (1, 2 or 4: CPython stores the widest character's width);
    1 for bytes."""
    if not issubclass(type(text), str) or str.isascii(text):  # type: ignore[arg-type]
        return 1
    if type(text) is str:
        width = (str.__sizeof__(text) - _COMPACT_HEADER) // (str.__len__(text) + 1)
        return 4 if width >= 4 else 2 if width >= 2 else 1  # a cached UTF-8 form only overstates
    return 4


def plain(text: Any) -> Any:
    """A str, bytes or bytearray subclass's characters as the builtin type: a guard reads text as C
    reads it, never through the subclass's own __getitem__, count or find."""
    for base in (str, bytes, bytearray):
        if isinstance(text, base) and type(text) is not base:
            return base.__getitem__(text, slice(None))
    return text


def joined(budget: StepBudget, pieces: list[str], what: str) -> str:
    """`"".join(pieces)` measured first, every reference counted: library code that yields one
    shared piece many times (json's separators, textwrap's prefix) ends in such a join."""
    spend(budget, len(pieces) // 8, what)
    wide = not all(map(str.isascii, pieces))
    check_bytes(budget, sum(map(str.__len__, pieces)) * (4 if wide else 1), what)
    return "".join(pieces)


def call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a C function that makes many objects from a frame of two lines. tracemalloc notes the
    line of the calling frame for every allocation, found by a scan of that function's line table:
    called from the end of a long guard, str.split under tracemalloc took five times as long."""
    return function(*args, **kwargs)


# What one C call may allocate without a look at the memory left: the next step's look catches
# it, and reading the traced memory costs more than the small calls evals make most.
UNCHECKED_BYTES = 1 << 19


def check_bytes(budget: StepBudget, size: float, what: str) -> None:
    """A single allocation of `size` bytes must fit in what is left of the memory budget."""
    if size > UNCHECKED_BYTES and size > budget.headroom():
        _refuse_size(budget, what, size)


# unicodedata.normalize in Pyodide 314 (CPython 3.13 is slower where it says): a compatibility form
# makes up to 18 characters of one at about 1.8 us an input character (U+FDFA), a canonical one
# about 0.1 us; putting a run of combining marks in canonical order is quadratic in the run's
# length, 0.2 ns per square (0.8 on CPython: 40,000 alternating marks took 0.8 s); reading the runs
# first costs 0.15 us a character.
_NORMALIZE_NS = {"NFKC": 2000, "NFKD": 2000, "NFC": 200, "NFD": 200}
_NS_PER_MARK_SQUARED = 1.0
_NS_PER_MARK_READ = 150


def check_normalize(budget: StepBudget, form: object, text: str, what: str) -> None:
    """`unicodedata.normalize(form, text)`, priced before C runs it: the characters it may make,
    each held in a 4-byte buffer while decomposed and again while composed, then in the result
    (measured: 110 MB for a million U+FDFA), and its time, by the runs of combining marks
    (measured at C speed, and paid for)."""
    import unicodedata

    length = true_length(text) or 0
    growth = 18 if form in ("NFKD", "NFKC") else 4
    check_bytes(budget, length * growth * (8 + max(2, char_bytes(text))), what)
    check_bytes(budget, length * 9, what)  # the marks, a byte a character, and their runs' lengths
    charge(budget, length * _NS_PER_MARK_READ / 1e6, what)
    marks = bytes(map(bool, map(unicodedata.combining, text)))
    runs = list(map(len, marks.split(b"\x00")))
    squares = sum(map(operator.mul, runs, runs))
    ns = length * _NORMALIZE_NS.get(form, 2000) + squares * _NS_PER_MARK_SQUARED  # type: ignore[call-overload]
    charge(budget, ns / 1e6, what)


def charge(budget: StepBudget, ms: float, what: str) -> None:
    """Pay for a C computation of about `ms` milliseconds before it starts, in steps; refuse it when
    the steps left do not cover it. Each caller is itself at least one step, so leaving out what
    is worth less than a step at most doubles the cost of a loop of them."""
    spend(budget, int(ms * budget.limits.steps_per_ms), what)


def spend(budget: StepBudget, steps: int, what: str) -> None:
    """Count `steps` of work done where the step count cannot see it (in C, or in a guard)."""
    # A spent budget stops every guard at its entry: the wall-clock signal only marks the budget
    # when it lands in the engine's own code, and a C loop calling guards (map(repr, xs)) makes
    # no step of its own that would raise.
    if budget.tripped is not None:
        raise budget.tripped
    if steps < 1:
        return
    limits = budget.limits
    # `pending` stays as it is: see StepBudget.charge.
    if budget.steps + budget.pending + steps > limits.max_steps:
        budget.trip(
            TimeLimitExceeded(
                f"Execution timeout exceeded {limits.timeout_ms}ms: {what} would take about"
                f" {steps / limits.steps_per_ms:,.0f} ms, more than is left"
            )
        )
    budget.steps += steps


# --- the cost of integer arithmetic, from the operands' bit lengths ---------------------------------


def int_bits(value: int) -> int:
    return int.bit_length(value)


def _digits(bits: float) -> float:
    return bits / _DIGIT_BITS + 1


def mul_ms(a_bits: float, b_bits: float) -> float:
    small, large = sorted((_digits(a_bits), _digits(b_bits)))
    if small <= _KARATSUBA_CUTOFF:
        return small * large * _NS_PER_SCHOOLBOOK_DIGIT / 1e6
    return large * small**0.585 * _NS_PER_KARATSUBA_UNIT / 1e6


def div_ms(a_bits: float, b_bits: float) -> float:
    """Division, remainder and divmod of an a-bit integer by a b-bit one."""
    dividend, divisor = _digits(a_bits), _digits(b_bits)
    if divisor >= dividend:
        return 0.0
    if divisor > _PYLONG_DIVISOR and dividend - divisor > _PYLONG_DIVISOR // 2:
        return 3 * mul_ms(a_bits, b_bits)  # _pylong's recursive division: a few multiplications
    return (dividend - divisor + 1) * divisor * _NS_PER_DIVISION_DIGIT / 1e6


def gcd_ms(a_bits: float, b_bits: float) -> float:
    return _digits(a_bits) * _digits(b_bits) * _NS_PER_GCD_DIGIT / 1e6


def pow_ms(result_bits: float, base_bits: float) -> float:
    """Exponentiation by squaring: the last squarings dominate (a geometric series), plus a
    multiplication by the base at every step."""
    return 1.5 * mul_ms(result_bits / 2, result_bits / 2) + 2 * mul_ms(result_bits, base_bits)


def check_int_bits(budget: StepBudget, bits: float, what: str) -> None:
    check_bytes(budget, bits / 8, what)


def _ratio_parts(value: object) -> tuple[int, ...]:
    """(n,) for an int, (numerator, denominator) for a `fractions.Fraction` read from its real
    fields (a subclass may override the `numerator` property), () for anything else."""
    if isinstance(value, int):
        return (operator.index(value),)
    fraction = _fraction_type()
    if fraction is not None and isinstance(value, fraction):
        parts = fraction.numerator.fget(value), fraction.denominator.fget(value)  # type: ignore[attr-defined]
        if isinstance(parts[0], int) and isinstance(parts[1], int):
            return parts
    return ()


def _fraction_type() -> type | None:
    # Without importing fractions (50 ms of a Pyodide cold start): a run that holds a Fraction has it.
    module = sys.modules.get("fractions")
    return getattr(module, "Fraction", None)


# --- the operators the analyser routes through guards ------------------------------------------------


# What `*` repeats: the sequences, and deque (deque([0] * 1000) * 10**9).
_REPEATABLE = (*_SEQUENCES, collections.deque)


def check_repeat(budget: StepBudget, seq: object, times: object) -> None:
    if not isinstance(seq, _REPEATABLE):
        return
    count = as_count(times)
    if count is None or count <= 1:
        return
    text = isinstance(seq, (str, bytes, bytearray))
    items = (true_length(seq) or 0) * count
    check_bytes(budget, items * (char_bytes(seq) if text else 8), "sequence repetition")
    if not text and items * FREED_REFERENCE > UNCHECKED_BYTES and budget.limits.track_memory:
        # References made in one C call, which the reserve would see only after it: priced before,
        # at what freeing them costs (not text, whose bytes cost nothing to free). The kinds are
        # read at C speed through the base type's own iterator (never the script's __iter__), with
        # no copy of the items.
        base = next(kind for kind in (list, tuple, collections.deque) if isinstance(seq, kind))
        tuples = tuple in set(map(type, base.__iter__(seq)))  # type: ignore[attr-defined]
        adding = items * (FREED_TUPLE_REFERENCE if tuples else FREED_REFERENCE)
        budget.check_freeable(adding, "a sequence repetition")


def check_mul(budget: StepBudget, a: object, b: object) -> None:
    check_repeat(budget, a, b)
    check_repeat(budget, b, a)
    check_rational(budget, "Mult", a, b)


def check_rational(budget: StepBudget, op: str, a: object, b: object) -> None:
    """`*`, `/`, `//`, `%` and divmod of integers and fractions: the result's size, and the time
    of the multiplications, divisions and (for fractions) the gcds that reduce the result."""
    left, right = _ratio_parts(a), _ratio_parts(b)
    if not left or not right:
        return
    an, ad = int_bits(left[0]), int_bits(left[1]) if len(left) == 2 else 0
    bn, bd = int_bits(right[0]), int_bits(right[1]) if len(right) == 2 else 0
    what = "fraction arithmetic" if ad or bd else "integer arithmetic"
    if op == "Div" and not (ad or bd):
        return  # int / int is a float, computed in time linear in the operands
    if op in ("Add", "Sub", "Compare"):
        if not (ad or bd):
            return  # integers: linear
        # a/b + c/d = (a*d + c*b) / (b*d), reduced by gcds of the denominators; a comparison
        # compares the cross products.
        if op != "Compare":
            check_int_bits(budget, max(an + bd, bn + ad) + 2 * (ad + bd) + 1, what)
        ms = mul_ms(an, bd) + mul_ms(bn, ad)
        if op != "Compare":
            ms += mul_ms(ad, bd) + 2 * gcd_ms(ad, bd) + div_ms(ad + bd, min(ad, bd))
    elif op in ("Mult", "Div"):
        # a/b * c/d = (a*c)/(b*d), a/b / c/d = (a*d)/(b*c): sizes add, each side reduced by a gcd.
        n1, n2, d1, d2 = (an, bn, ad, bd) if op == "Mult" else (an, bd, ad, bn)
        check_int_bits(budget, n1 + n2 + d1 + d2, what)
        ms = mul_ms(n1, n2) + mul_ms(d1, d2)
        if d1 or d2:
            ms += gcd_ms(n1, d2) + gcd_ms(n2, d1) + 2 * div_ms(n1 + n2, 1)
    else:  # FloorDiv, Mod, divmod: one division of the cross products
        ms = mul_ms(an, bd) + mul_ms(bn, ad) + div_ms(an + bd, bn + ad)
        if ad or bd:
            ms += gcd_ms(an + bd, ad + bd)
    charge(budget, ms, what)


def check_pow(budget: StepBudget, base: object, exp: object, mod: object = None) -> None:
    if mod is not None:
        check_pow_mod(budget, base, exp, mod)
        return
    parts, power = _ratio_parts(base), _integral(exp)
    if not parts or power is None or (power < 0 and isinstance(base, int) and isinstance(exp, int)):
        return  # not a power of integers, or an int to a negative int power: a float
    power = abs(power)  # a fraction to a negative power is its reciprocal to the positive one
    if power <= 1 or all(-1 <= part <= 1 for part in parts):
        return
    what = "integer power" if len(parts) == 1 else "fraction power"
    # The result's bits from log2 of the base: bit_length would overstate 2**n by a bit per factor.
    bits = [power * _log2_magnitude(part) for part in parts]
    check_int_bits(budget, sum(bits), what)
    charge(budget, sum(pow_ms(b, int_bits(part)) for b, part in zip(bits, parts, strict=True)), what)


def _integral(value: object) -> int | None:
    """An exponent as an int: an int, or a fraction whose denominator is 1 (`x ** Fraction(10**8)`
    is an integer power); None for anything else (a float or a true fraction: a float result)."""
    if isinstance(value, int):
        return as_count(value)
    parts = _ratio_parts(value)
    if len(parts) == 2 and parts[1] == 1:
        return parts[0]
    return None


def _log2_magnitude(value: int) -> float:
    return math.log2(abs(value)) if value else 0.0


def check_pow_mod(budget: StepBudget, base: object, exp: object, mod: object) -> None:
    """pow(base, exp, mod): a squaring and a reduction for every bit of the exponent; a negative
    exponent adds a modular inverse."""
    if not (isinstance(base, int) and isinstance(exp, int) and isinstance(mod, int)):
        return
    base_bits, exp_bits, mod_bits = int_bits(base), int_bits(exp), int_bits(mod)
    ms = div_ms(base_bits, mod_bits) + 1.2 * exp_bits * (
        mul_ms(mod_bits, mod_bits) + div_ms(2 * mod_bits, mod_bits)
    )
    if exp < 0:
        ms += gcd_ms(mod_bits, mod_bits)
    charge(budget, ms, "modular power")


# Bits a character of an int's text holds in each base that has no digit limit (decimal text stops
# at sys.int_max_str_digits): bin() is eight times the int's size.
_POWER_OF_TWO_BASES = {"b": 1, "o": 3, "x": 4, "X": 4}


def check_int_text(budget: StepBudget, value: object, presentation: str) -> None:
    """bin(), oct(), hex() and the b, o, x and X format presentations of an int."""
    bits = _POWER_OF_TWO_BASES.get(presentation)
    if bits is not None and isinstance(value, int):
        check_bytes(budget, int_bits(value) / bits + 4, f"an int in base {2**bits}")


# Decimal text of an int: quadratic in its 30-bit digits, 0.9 ns a pair of them in Pyodide 314
# (`'%d' % 10**4299`: 207 us), up to sys.int_max_str_digits digits.
_NS_PER_DECIMAL_PAIR = 0.9
_DECIMAL_BITS = (sys.get_int_max_str_digits() or math.inf) * math.log2(10)


def _decimal_us(bits: float) -> float:
    """Microseconds the decimal text of an int of `bits` takes (none past the digit limit: the
    conversion refuses it at once)."""
    return _digits(min(bits, _DECIMAL_BITS)) ** 2 * _NS_PER_DECIMAL_PAIR / 1000


def check_number_texts(budget: StepBudget, numbers: list[int | float]) -> float:
    """Numbers one C call turns into text (`('%d' * n) % ints`): decimal conversion charged, and
    their characters returned for the caller's size check: at most a third of an int's bits (octal
    is its longest text) and five more (a sign, a prefix, `False`), 320 for a float past 1e16 (its
    `%f` text without a precision)."""
    characters = 0.0
    ms = 0.0
    for number in numbers:
        if isinstance(number, int):
            bits = int_bits(number)
            characters += bits / 3 + 5
            ms += _decimal_us(bits) / 1000
        else:
            characters += 24 if not float.__abs__(number) >= 1e16 else 320
    charge(budget, ms, "turning numbers into text")
    return characters


def check_lshift(budget: StepBudget, a: object, b: object) -> None:
    shift = as_count(b) if isinstance(a, int) else None
    # Zero read by its bits, as C reads it: an int subclass's own __bool__ may say False.
    if shift is not None and shift > 0 and int_bits(a):  # type: ignore[arg-type]
        check_int_bits(budget, int_bits(a) + shift, "left shift")  # type: ignore[arg-type]


def check_width(budget: StepBudget, width: object, what: str, char_size: int = 1) -> None:
    """Padding widths and precisions: `'x'.ljust(10**9)`, `f'{x:>999999999}'`, `'%.99999999f'`."""
    count = as_count(width)
    if count is not None:
        check_bytes(budget, count * char_size, what)


def check_round(budget: StepBudget, number: object, places: int) -> None:
    """round(n, -k) of an int, and round(f, k) of a fraction, compute 10 ** k and divide by it."""
    parts = _ratio_parts(number)
    if not parts or (len(parts) == 1 and places >= 0):
        return  # a float or a Decimal (bounded by its context), or an int rounded to the right
    shift = abs(places) * math.log2(10)
    check_int_bits(budget, shift + sum(map(int_bits, parts)), "round()")
    charge(
        budget,
        pow_ms(shift, 4)
        + sum(mul_ms(int_bits(part), shift) + div_ms(int_bits(part) + shift, shift) for part in parts),
        "round()",
    )


_NS_PER_ITEM_COPIED = 3.0  # a reference copied and counted


def check_concatenation(budget: StepBudget, start: object, items: list[Any]) -> None:
    """sum(items, []) or sum(items, ()): the result holds every item's elements (`[big] * 1000`
    repeats one list a thousand times), and every partial sum is copied again."""
    spend(budget, len(items) // 16, "sum()")
    lengths = [true_length(start) or 0, *map(true_length, items)]
    check_bytes(budget, sum(length or 0 for length in lengths) * 8, "sum() of sequences")
    copied = sum(itertools.accumulate(length or 0 for length in lengths))
    charge(budget, copied * _NS_PER_ITEM_COPIED / 1e6, "sum() of sequences")


def check_fraction_input(budget: StepBudget, numerator: object, denominator: object) -> None:
    """Fraction(numerator, denominator): a string's exponent becomes a power of ten
    (`Fraction('1e100000000')`), and two integers or fractions are reduced by a gcd."""
    if isinstance(numerator, str) and denominator is None:
        _, mark, exponent = str.rpartition(str.lower(numerator), "e")
        if mark and str.isdigit(str.lstrip(str.strip(exponent), "+-")):
            # int() reads at most 4300 digits; beyond, Fraction refuses the string as well.
            check_pow(budget, 10, abs(int(exponent)) if len(exponent) < 4300 else 10**4300)
        return
    left, right = _ratio_parts(numerator), _ratio_parts(denominator)
    if denominator is None or not left or not right:
        return
    top = int_bits(left[0]) + (int_bits(right[1]) if len(right) == 2 else 0)
    bottom = int_bits(right[0]) + (int_bits(left[1]) if len(left) == 2 else 0)
    check_int_bits(budget, top + bottom, "Fraction()")
    charge(budget, gcd_ms(top, bottom) + mul_ms(top, bottom), "Fraction()")


def check_statistics(budget: StepBudget, items: list[Any]) -> None:
    """What a statistics function's exact arithmetic may cost on `items`: a few multiplications of
    the largest integer per item (variance squares each), and for fractions a gcd per item of
    denominators that may grow by every fraction's (coprime ones multiply)."""
    kinds = set(map(type, items))
    if kinds <= {float, bool}:
        return  # floats, the common case: fixed size
    if kinds <= {int, bool}:
        largest, denominators = max(map(int.bit_length, items), default=0), 0
    else:
        spend(budget, len(items) // 4, "statistics")  # a Python loop over mixed items
        parts = [_ratio_parts(item) for item in items]
        largest = max((int_bits(part[0]) for part in parts if part), default=0)
        denominators = sum(int_bits(part[1]) for part in parts if len(part) == 2)
    ms = len(items) * 4 * mul_ms(largest, largest)
    if denominators:
        ms += len(items) * gcd_ms(denominators + largest, denominators)
    charge(budget, ms, "statistics")


# No valid format spec comes near this length; a long one is only ever an attack on the check.
_MAX_SPEC = 256


def check_format_spec(budget: StepBudget, spec: str, char_size: int = 1) -> None:
    """Every run of digits in a format spec is a fill, width or precision: none may be huge.
    `char_size` is the widest character of the value formatted."""
    if (true_length(spec) or 0) > _MAX_SPEC:
        raise ValueError(f"Invalid format specifier: longer than {_MAX_SPEC} characters")
    # A fill character is one character of the result per column: a 4-byte fill quadruples it.
    char_size = max(char_size, char_bytes(spec))
    for number in re.findall(r"\d+", spec):
        # A long run of digits is itself the attack; do not convert a huge string to int.
        check_width(budget, int(number) if len(number) < 13 else 10**13, "a format width", char_size)


# Bytes one element of a materialised range costs: its list slot and, above the small-int cache,
# an int object as tracemalloc counts it.
_RANGE_ITEM_BYTES = 8 + 32


_class_mro = type.__dict__["__mro__"].__get__


def check_class(budget: StepBudget, bases: tuple[object, ...], names: int) -> None:
    """Making a class is C work, and engine work, that no step sees, measured in Pyodide 314
    (CPython 3.13 is about twice as fast): type() copies what it inherits from every class of the
    new MRO (up to 3 us an entry: a class below a chain of 2,000 took 6 ms); C3 merges the bases'
    MROs in a search that grows with the square of the bases (0.1 to 0.2 ns per entry and base
    squared: 2,000 bases of 50 classes each ran a minute in one call, where no signal lands); the
    ownership rule looks up each of the `names` the body defines in every base's MRO. Paid before
    any of it runs."""
    entries = sum(len(_class_mro(base)) if issubclass(type(base), type) else 1 for base in bases)
    micros = entries * (3 + len(bases) ** 2 / 5000 + names / 10)
    charge(budget, micros / 1000, "making this class")


def check_range(budget: StepBudget, r: range) -> None:
    """A range is lazy, but `list(range(10**10))` or `sum(range(10**12))` runs in one C call that
    the step count cannot see. Ranges longer than a run could hold as a list are refused when
    created, except the range a for statement or clause iterates, which is never made into a list
    (policy._loop_range does not come here)."""
    # Arithmetic, not len(): on 32-bit WebAssembly len(range(10**10)) overflows ssize_t.
    length = max(0, (r.stop - r.start + r.step - (1 if r.step > 0 else -1)) // r.step)
    if length * _RANGE_ITEM_BYTES > budget.headroom():
        what = f"a range of {length:,} items kept outside a for loop (`for i in range(n)` holds none of them)"
        _refuse_size(budget, what, length * _RANGE_ITEM_BYTES)


# Characters of repr() for the atoms, at most: a str or bytes escapes a character in up to 10
# (`\U000e0001`) or 4 (`\x00`); an int is measured by its bits; the rest are short. An object whose
# text the walk does not look into is counted as a function's (`<function f at 0x…>`), or as two
# characters when the script's own code makes its text (that code is measured as it runs).
_FIXED_TEXT = {float: 24, complex: 50, bool: 5, type(None): 4}
_OPAQUE_TEXT = 64
_RENDERED = (list, tuple, dict, set, frozenset, collections.deque)

# The file name the script's code is compiled under (policy.FILENAME).
SCRIPT_FILENAME = "<sandbox>"


def rendered(budget: StepBudget, value: object, convert: Callable[[object], str] = repr) -> str:
    """The one measured renderer: every path that turns a script's value into text for it (repr,
    ascii, print, format and its conversions, `%`, the engine's own messages, an exception's
    description) measures the text first, then makes it."""
    check_nesting(budget, value)
    check_rendering(budget, value)
    return convert(value)


def check_rendering(budget: StepBudget, value: object) -> None:
    """The text repr(), str(), format() and print() make of an object, in one C call: every
    element as often as it is referenced, so `x = [x, x]` forty times is 2**40 elements held in a
    few hundred bytes. Containers are read through their items; any other object whose text the
    host makes from what it refers to (a slice, an exception, a partial, a dataclass's or an enum
    member's generated repr, a namedtuple) through every reference it holds, which may overstate
    but never understates. Sized before the call by a walk that reads each object once (shared
    ones are counted as often as referenced, recursive references as `[...]`), a long container
    of one kind of atom at C speed; the walk is paid for in steps, and the rendering too, by the
    objects it renders and the ints it converts, each as often as it is referenced (the text of
    `x = [x, x]` 22 times is 25 MB, within the limit, and took 5.8 s to make in Pyodide)."""
    if type(value) in _ATOMS or not _renders_inside(type(value)):
        return
    limit = budget.headroom()
    sizes: dict[int, float] = {}
    works: dict[int, float] = {}  # microseconds of C rendering, by the object's id
    # (object, its atoms' text, its nested objects, the steps reading it took, the microseconds
    # rendering it takes but for its nested objects), pushed when first read.
    kinds: dict[int, object] = {}  # by the kind's id: how its objects are counted (_kind_text)
    stack: list[tuple[Any, float, list[Any], int, float]] = [_read(budget, kinds, value)]
    # The stack is the path from `value` to the object being read, one child at a time (`next`
    # of each, in the same order): an object on it is an ancestor, a recursive reference.
    following = [0]
    reading = {id(value)}
    steps = stack[0][3]
    while stack:
        node, atoms, nested, _, work = stack[-1]
        position = following[-1]
        while position < len(nested) and (id(nested[position]) in sizes or id(nested[position]) in reading):
            position += 1
        following[-1] = position + 1
        if position < len(nested):
            # Each object once, however often it is referenced, and paid for as it is read.
            reading.add(id(nested[position]))
            stack.append(_read(budget, kinds, nested[position]))
            following.append(0)
            steps += stack[-1][3]
            if steps >= _SPENT_EVERY:
                spend(budget, steps, "measuring a container's text")
                steps = 0
            continue
        stack.pop()
        following.pop()
        reading.discard(id(node))
        # A nested object still being read is a recursive reference: `[...]`.
        size = atoms + 2 * len(nested) + sum(map(sizes.get, map(id, nested), repeat(5)))
        sizes[id(node)] = size
        works[id(node)] = work + sum(map(works.get, map(id, nested), repeat(0)))
        if size > limit:
            _refuse_size(budget, "the text of a container", size)
    spend(budget, steps, "measuring a container's text")
    charge(budget, works[id(value)] / 1000, "rendering a container's text")


def _renders_inside(kind: type) -> bool:
    """Whether the host makes the text of a `kind` from what it refers to: the containers, and
    any kind whose repr or str looks inside (`_looks_inside`) unless the script's own code makes
    it (a script's __repr__ is instrumented: what it renders is measured as it runs)."""
    if issubclass(kind, _RENDERED):
        return True
    return _looks_inside(kind) and not _scripted_text(kind)


def _scripted_text(kind: type) -> bool:
    """Whether only the script's own code makes the text of a `kind`: every __repr__ and __str__
    along its MRO is the script's or object's. A host one behind it (an exception's, a list's)
    is one `super().__repr__()` away, and renders what the instance holds unmeasured."""
    methods = _text_methods(kind, (object,))
    return bool(methods) and all(map(_the_scripts, methods))


def _text_methods(kind: type, bases: tuple[type, ...]) -> list[object]:
    """The __repr__ and __str__ defined along a kind's MRO, up to the first of `bases`."""
    methods = []
    for klass in _mro(kind):
        if klass in bases:
            break
        members = _class_dict(klass)
        methods.extend(members[name] for name in ("__repr__", "__str__") if name in members)
    return methods


def _the_scripts(method: object) -> bool:
    code = getattr(method, "__code__", None) if type(method) is types.FunctionType else None
    return type(code) is CodeType and code.co_filename == SCRIPT_FILENAME


def _read(
    budget: StepBudget, kinds: dict[int, object], node: Any
) -> tuple[Any, float, list[Any], int, float]:
    """An object, the characters its atoms take in its text (two more each, for separators), the
    objects in it whose text is made from theirs, what reading it cost in steps of about a
    microsecond in Pyodide (8 an object, 1 an item read in Python and looked at again by the walk,
    1 for 8 at C speed: measured by scripts/bench_guards.py), and the microseconds C takes to
    render it but for those objects (_US_RENDERED, the decimal text of its ints, the text of its
    floats)."""
    atoms, nested, cost, work = 2.0, [], 8, _US_RENDERED
    # An atom's subclass read as an object (its text made by more than its base type): its value too.
    if isinstance(node, (str, bytes, bytearray)):
        atoms += (true_length(node) or 0) * (10 if isinstance(node, str) else 4)
    elif isinstance(node, int):
        atoms += int.bit_length(node) * 0.302
        work += _decimal_us(int.bit_length(node))
    elif isinstance(node, (float, complex)):
        atoms += _FIXED_TEXT[complex]
    for part in _rendered_parts(node):
        one_kind = set(map(type, part)) if len(part) > 16 else None
        if one_kind is not None and len(one_kind) == 1 and next(iter(one_kind)) in _ONE_KIND:
            atoms += _ONE_KIND[next(iter(one_kind))](part) + 4 * len(part)
            cost += len(part) // 8
            if int in one_kind and max(map(int.bit_length, part)) > _LONG_INT_BITS:
                work += sum(map(_decimal_us, map(int.bit_length, part)))
            work += _ATOM_US.get(next(iter(one_kind)), 0) * len(part)
            continue
        # Before the loop below, and the walk's look at each nested one after it: a step an item.
        spend(budget, len(part), "measuring a container's text")
        for child in part:
            kind = type(child)
            known = kinds.get(id(kind))
            if known is None:
                known = kinds[id(kind)] = _kind_text(kind)
            if known is _NESTED:
                nested.append(child)
            elif known is not _BY_VALUE:
                text, micros = known  # type: ignore[misc]
                atoms += text + 2
                work += micros
            elif isinstance(child, (str, bytes, bytearray)):
                atoms += (true_length(child) or 0) * (10 if isinstance(child, str) else 4) + 4
            else:
                bits = int.bit_length(child)
                atoms += bits * 0.302 + (4 if kind is int else _OPAQUE_TEXT)
                work += _decimal_us(bits)
    return node, atoms, nested, cost, work


_NESTED = "nested"
_BY_VALUE = "by value"


def _kind_text(kind: type) -> object:
    """How the text of an object of `kind` is counted, worked out once per kind and walk (its MRO
    may be hundreds of classes long): `_NESTED`, read through what it refers to; `_BY_VALUE`, its
    characters or digits (str, bytes and int, subclasses too: their text is their base type's,
    whatever they refer to); or the characters and microseconds of any object of the kind."""
    if kind in _FIXED_TEXT:
        return _FIXED_TEXT[kind], _ATOM_US.get(kind, 0.0)
    if issubclass(kind, (str, bytes, bytearray, int, float, complex)) and _atom_text(kind):
        if issubclass(kind, (str, bytes, bytearray, int)):
            return _BY_VALUE
        base = float if issubclass(kind, float) else complex
        return _FIXED_TEXT[base], _ATOM_US[base]
    if _renders_inside(kind):
        return _NESTED
    return (2 if _scripted_text(kind) else _OPAQUE_TEXT), _US_RENDERED


def _atom_text(kind: type) -> bool:
    """Whether the text of a subclass of an atom type is its base type's, or the script's own code
    makes it (measured as it runs): no other __repr__ or __str__ along its MRO up to the atom type.
    A generated one (a dataclass's) renders the fields too, in the same C call."""
    return all(map(_the_scripts, _text_methods(kind, (*_ATOM_KINDS, bytearray, object))))


# What C takes to render an object inside another's text, at least (a list of two in Pyodide: 0.7
# us, most of it the guard against recursive reprs).
_US_RENDERED = 0.5
# What the text of a float or a complex number takes at least (1.9 and 3.6 us in Pyodide, at 17
# significant digits).
_ATOM_US = {float: 1.5, complex: 3.0}
_SPENT_EVERY = 1024  # steps of reading counted between two payments
# Ints whose decimal text takes longer than rendering an object does (20 digits of 30 bits).
_LONG_INT_BITS = 600


def _rendered_parts(node: Any) -> tuple[Any, ...]:
    """An object's items as its C repr reads them (a subclass's own __iter__ may hide them), or for
    any other object, everything it refers to but its class. A container subclass's text may show
    more than its items (a defaultdict's factory): everything it refers to is counted as well."""
    kind = type(node)
    others = _referents_but_class(node) if kind not in _RENDERED else None
    if isinstance(node, dict):
        return (dict.keys(node), dict.values(node)) + ((others,) if others else ())
    for base in _RENDERED:
        if isinstance(node, base):
            if kind is base:
                return (node,)
            return (list(base.__iter__(node)), others)
    return (others,)


def _referents_but_class(node: object) -> list[Any]:
    kind = type(node)
    return [child for child in gc.get_referents(node) if child is not kind]


# A long container of one kind of atom, measured at C speed.
_ONE_KIND: dict[type, Callable[[Any], float]] = {
    str: lambda part: 10 * sum(map(str.__len__, part)),
    bytes: lambda part: 4 * sum(map(bytes.__len__, part)),
    int: lambda part: 0.302 * sum(map(int.bit_length, part)),
    **{kind: (lambda part, text=text: text * len(part)) for kind, text in _FIXED_TEXT.items()},
}


# Kinds whose repr, str and format never look at what they refer to, so C code does not recurse
# through them: functions, methods, descriptors, modules, code, frames, generators, cells. Compared
# by id: hashing a type could run its metaclass's __hash__.
_OPAQUE_KINDS = frozenset(
    map(
        id,
        (
            types.FunctionType, types.BuiltinFunctionType, types.MethodDescriptorType,
            types.WrapperDescriptorType, types.MethodWrapperType, types.ClassMethodDescriptorType,
            types.GetSetDescriptorType, types.MemberDescriptorType, types.ModuleType, types.CodeType,
            types.FrameType, types.TracebackType, types.GeneratorType, types.CoroutineType,
            types.AsyncGeneratorType, types.CellType,
        ),
    )
)  # fmt: skip
# Tuples and dicts that hold only atoms are untracked by the collector, yet a chain of tuples,
# x = (x,), ends up wholly untracked and still nests.
_UNTRACKED_HOLDERS = frozenset({id(tuple), id(dict)})
_ATOM_KINDS = frozenset({str, int, float, bool, type(None), bytes, complex})
_mro = type.__dict__["__mro__"].__get__
_class_dict = type.__dict__["__dict__"].__get__


def _looks_inside(kind: type) -> bool:
    """Whether repr or str of a `kind` may recurse into what it refers to: not for classes, the
    opaque kinds above, or classes whose repr and str are object's (a plain instance prints as
    <A object at …>). Read from the classes' own dicts: nothing of the script runs."""
    if id(kind) in _OPAQUE_KINDS or issubclass(kind, type):
        return False
    for klass in _mro(kind):
        members = _class_dict(klass)
        if "__repr__" in members or "__str__" in members:
            return klass is not object
    return False


def holders(objects: list[object]) -> Iterable[object]:
    """The objects that may refer to others, sifted at C speed: most of a trace is atoms. (The
    set of kinds hashes classes: no metaclass a script can reach defines __hash__.)"""
    kinds = set(map(type, objects))
    if kinds <= _ATOM_KINDS:
        return ()
    if tuple not in kinds and dict not in kinds:
        return compress(objects, map(gc.is_tracked, objects))
    untracked_holder = map(_UNTRACKED_HOLDERS.__contains__, map(id, map(type, objects)))
    return compress(objects, map(operator.or_, map(gc.is_tracked, objects), untracked_holder))


def check_nesting(budget: StepBudget, value: object) -> None:
    """Refuse data that C code would recurse into deeper than `nesting_depth` levels (repr, str,
    format, json and exception messages recurse once per level; in Pyodide a few thousand levels
    overflow the WebAssembly stack and kill the interpreter).

    Follows every object's references (`gc.get_referents`), not a list of container types: deques,
    partials, slices, `list[list[…]]` aliases, exception arguments and the script's own objects
    nest too. Breadth first, which is exact for trees (all JSON-shaped data). Where objects are
    shared, breadth-first depth is fooled (a list that holds every link of a long chain is two
    levels deep by it), so the longest path is measured instead, a cycle counting all its
    members, because repr may walk every one of them before it meets one twice. The walk is host
    code the step count does not see, so it is charged to the budget at about its cost in Pyodide.
    """
    limit = budget.limits.nesting_depth
    holds = gc.is_tracked(value) or id(type(value)) in _UNTRACKED_HOLDERS
    if not holds or not _looks_inside(type(value)):
        return
    kinds: dict[int, bool] = {}
    seen = {id(value)}
    shared: dict[int, object] = {}
    level = [value]
    depth = count = 0
    while level:
        depth += 1
        if depth > limit:
            _refuse_nesting(limit)
        count += len(level)
        references = gc.get_referents(*level)
        budget.charge(len(level) + len(references) // _REFERENCES_PER_STEP)
        # Runs of one object collapsed first, comparing identities only: `[x] * 10**6` is one
        # (and what repeats is shared: all of this level is taken to be, which errs on the safe
        # side), then each object once by id. Only distinct objects reach the loop below, a step
        # each: four million references to one list are sifted at C speed (the walk of them,
        # uncharged, took 43 s on a 2 s budget).
        collapsed = list(
            compress(references, map(operator.is_not, references, itertools.chain((None,), references)))
        )
        repeated = len(collapsed) < len(references)
        del references
        found = list(holders(collapsed))
        unique = _by_id(found)
        budget.charge(len(unique))
        if repeated:
            shared.update(unique)
        elif len(unique) < len(found):
            shared.update(
                (key, unique[key]) for key, times in collections.Counter(map(id, found)).items() if times > 1
            )
        level = []
        for key, child in unique.items():
            if key in seen:
                shared[key] = child
            elif _inside(budget, kinds, type(child)):
                seen.add(key)
                level.append(child)
    if count > limit and any(_children(budget, kinds, node) for node in shared.values()):
        children = _graph(budget, kinds, value)
        if _longest_path(children, limit) > limit:
            _refuse_nesting(limit)


def _inside(budget: StepBudget, kinds: dict[int, bool], kind: type) -> bool:
    inside = kinds.get(id(kind))
    if inside is None:
        budget.charge(len(_mro(kind)))  # a class may have a long line of ancestors to look through
        inside = kinds[id(kind)] = _looks_inside(kind)
    return inside


def _children(budget: StepBudget, kinds: dict[int, bool], node: object) -> list[object]:
    """What `node` refers to that repr may look inside, each object once: the edges of the walk,
    each paid for here (twice: once found, once followed by the longest-path search)."""
    references = gc.get_referents(node)
    budget.charge(len(references) // _REFERENCES_PER_STEP)
    collapsed = compress(references, map(operator.is_not, references, itertools.chain((None,), references)))
    unique = _by_id(list(holders(list(collapsed))))
    budget.charge(2 * len(unique))
    return [child for child in unique.values() if _inside(budget, kinds, type(child))]


# References sifted at C speed per step: gc.get_referents, holders and the dict of ids below
# (about 40 ns a reference in CPython, several times that in Pyodide).
_REFERENCES_PER_STEP = 4


def _by_id(objects: list[object]) -> dict[int, object]:
    """Distinct objects by identity, at C speed: nothing of the script runs (ids are ints)."""
    return dict(zip(map(id, objects), objects, strict=True))


def _graph(budget: StepBudget, kinds: dict[int, bool], value: object) -> list[list[int]]:
    """Who refers to whom, by position in the walk (0 is `value`)."""
    nodes = [value]
    index = {id(value): 0}
    children: list[list[int]] = []
    for node in nodes:  # grows as the walk finds more
        edges = []
        for child in _children(budget, kinds, node):
            found = index.get(id(child))
            if found is None:
                found = index[id(child)] = len(nodes)
                nodes.append(child)
            edges.append(found)
        children.append(edges)
        if len(children) % 1024 == 0:
            budget.charge(4 * 1024)
    budget.charge(4 * (len(nodes) % 1024))
    return children


def _refuse_nesting(limit: int) -> NoReturn:
    raise ValueError(
        f"data nested deeper than {limit} levels cannot be printed, formatted or serialised in the sandbox"
    )


def _longest_path(children: list[list[int]], limit: int) -> int:
    """Objects on the longest path from object 0, a cycle counting all its members; stops early
    past `limit`. Tarjan's strongly connected components, iterative: each component is finished
    after every component it reaches, so its height is its size plus the tallest of those."""
    count = len(children)
    order = [-1] * count
    low = [0] * count
    on_stack = [False] * count
    component = [-1] * count
    heights: list[int] = []
    stack: list[int] = []
    calls = [(0, 0)]
    order[0] = low[0] = 0
    visited = 1
    stack.append(0)
    on_stack[0] = True
    while calls:
        node, edge = calls[-1]
        edges = children[node]
        if edge < len(edges):
            calls[-1] = (node, edge + 1)
            child = edges[edge]
            if order[child] < 0:
                order[child] = low[child] = visited
                visited += 1
                stack.append(child)
                on_stack[child] = True
                calls.append((child, 0))
            elif on_stack[child]:
                low[node] = min(low[node], order[child])
            continue
        calls.pop()
        if calls:
            parent = calls[-1][0]
            low[parent] = min(low[parent], low[node])
        if low[node] != order[node]:
            continue
        members = []
        while True:
            member = stack.pop()
            on_stack[member] = False
            component[member] = len(heights)
            members.append(member)
            if member == node:
                break
        below = 0
        for member in members:
            for child in children[member]:
                if component[child] != len(heights):
                    below = max(below, heights[component[child]])
        heights.append(len(members) + below)
        if heights[-1] > limit:
            return heights[-1]
    return heights[component[0]]


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
    text = plain(text)
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
        # Through `call`: accumulate makes an int per byte, each traced with this frame's line.
        if (
            steps
            and depth + call(max, itertools.accumulate(memoryview(steps).cast("b"))) > limits.nesting_depth
        ):
            raise ValueError(f"JSON nested deeper than {limits.nesting_depth} levels")
        depth += steps.count(1) - steps.count(0xFF)


# What json.loads makes per container and per item at most: a list or dict, a slot, a str header.
_JSON_CONTAINER_BYTES = 72
_JSON_ITEM_BYTES = 72


# Characters of JSON text per step: json.loads parses numbers at about 30 ns a character in
# CPython (several times that in Pyodide), and check_json_text's pass costs a tenth of that.
_JSON_CHARS_PER_STEP = 16


def check_json_size(budget: StepBudget, text: str | bytes | bytearray) -> None:
    """json.loads builds its whole result in one C call: `[[],[],...]` is 20 times its text. An
    upper bound from separators and brackets counted at C speed (those inside strings count too).
    Called first: the text's checks and its parse are paid for here, by its length, before any of
    them runs (json.loads of 10 MB refused for depth in a loop took 18 s on a 2 s budget)."""
    text = plain(text)
    marks = ("[", "{", ",", ":") if isinstance(text, str) else (b"[", b"{", b",", b":")
    containers = text.count(marks[0]) + text.count(marks[1])  # type: ignore[arg-type]
    # The depth check follows every bracket through an int of its own (about half a microsecond
    # each with memory tracked); the rest of the text is read at C speed.
    spend(budget, (true_length(text) or 0) // _JSON_CHARS_PER_STEP + containers // 2, "json.loads")
    items = containers + text.count(marks[2]) + text.count(marks[3]) + 1  # type: ignore[arg-type]
    size = (true_length(text) or 0) * char_bytes(text)
    check_bytes(budget, containers * _JSON_CONTAINER_BYTES + items * _JSON_ITEM_BYTES + size, "json.loads")


# --- Host settings that bound the C work of a run --------------------------------------------------

# Decimal's exact conversions (int(), as_integer_ratio, Fraction()) are quadratic in the digits they
# produce: int(Decimal("1e999999")) takes 44 s. Within a run, exponents and coefficients stay below
# the digits int(str) accepts (sys.int_max_str_digits, 4300 by default): arithmetic results through
# this context (an overflow raises decimal.Overflow), constructed values through the facade.
DECIMAL_DIGITS = 4300


def bounded_decimal_context() -> Any:
    import decimal

    return decimal.Context(Emax=DECIMAL_DIGITS, Emin=-DECIMAL_DIGITS)


def check_decimal(value: object) -> None:
    """An exact decimal (a constructor's argument or result) within DECIMAL_DIGITS: an integer of
    at most that many digits, a string of at most twice as many characters, a finite Decimal of at
    most twice as many digits and an exponent in the bounded context's range (a tuple's digits
    are read through its own iteration, so only the result is measured)."""
    import decimal

    if isinstance(value, int):
        too_large = int_bits(value) * math.log10(2) > DECIMAL_DIGITS
    elif isinstance(value, str):
        too_large = (true_length(value) or 0) > 2 * DECIMAL_DIGITS
    elif isinstance(value, decimal.Decimal) and value.is_finite():
        digits = value.as_tuple()
        too_large = len(digits.digits) > 2 * DECIMAL_DIGITS or not (
            -2 * DECIMAL_DIGITS <= value.adjusted() <= DECIMAL_DIGITS
        )
    else:
        return
    if too_large:
        raise decimal.Overflow(
            f"a Decimal in the sandbox holds at most {DECIMAL_DIGITS} digits, with exponents within"
            f" the same range"
        )


def bound_run(budget: StepBudget) -> Callable[[], None]:
    """Arm the host settings that bound one run's C work, and return what restores the host's own:
    decimal's context (the decimal facade bounds it when a script imports decimal) and, where there
    are signals, the wall-clock line."""
    decimal = sys.modules.get("decimal")
    saved_context = decimal.getcontext() if decimal is not None else None
    stop_alarm = _start_alarm(budget)

    def restore() -> None:
        stop_alarm()
        decimal = sys.modules.get("decimal")
        if decimal is not None:
            decimal.setcontext(saved_context if saved_context is not None else decimal.Context())

    return restore


def _start_alarm(budget: StepBudget) -> Callable[[], None]:
    """Where the host has signals (CPython: the CLI, the tests), end the run by the wall clock soon
    after its deadline, even inside a C call that checks for signals (the regular expression engine does, every
    few thousand steps), and return what restores the host's handler and timer. A no-op elsewhere:
    Pyodide has no signals, and in Workers the runner isolate's CPU limit is that line.

    The handler raises into the script, the libraries it called and the guards calling C for it;
    in the budget's own callbacks and the runner (its teardown restores the host) it only marks the
    budget spent, and the script's next step raises. Only C functions here (`_signal`): this runs
    while monitoring is on, where any other Python code is a step of a budget that may be spent.
    """
    try:
        import _signal
    except ImportError:
        return _nothing
    if not hasattr(_signal, "setitimer"):
        return _nothing  # Pyodide
    limits = budget.limits

    def alarm(_signum: int, frame: FrameType | None) -> None:
        if budget.tripped is None:
            message = f"Execution timeout exceeded {limits.timeout_ms}ms"
            budget.tripped, budget.stop = TimeLimitExceeded(message), (message, "timeout")
        if frame is not None and not _uninterruptible(frame.f_code):
            raise budget.tripped

    try:
        previous_handler = _signal.signal(_signal.SIGALRM, alarm)
    except ValueError:
        return _nothing  # not the main thread: signals are the main thread's
    # Half the budget again after the deadline: the step count and the clock's own look at every
    # check_interval steps come first; this is for a C call that does not return. The teardown
    # fits in the other half of "within twice its budget".
    previous_timer = _signal.setitimer(_signal.ITIMER_REAL, _HARD_LINE * limits.timeout_ms / 1000)

    def restore() -> None:
        _signal.setitimer(_signal.ITIMER_REAL, 0)
        _signal.signal(_signal.SIGALRM, previous_handler)
        if previous_timer[0]:
            _signal.setitimer(_signal.ITIMER_REAL, *previous_timer)

    return restore


_HARD_LINE = 1.5


def pause_alarm() -> Callable[[], None]:
    """Stop the wall-clock alarm of the running script while the host waits for it (ctx.call_llm:
    an HTTP call to a model would otherwise be interrupted at 1.5x the script's budget), and return
    what starts it again with the time it had left. A no-op where there are no signals."""
    try:
        import _signal
    except ImportError:
        return _nothing
    if not hasattr(_signal, "setitimer"):
        return _nothing
    left, interval = _signal.setitimer(_signal.ITIMER_REAL, 0)
    if not left:
        return _nothing
    return lambda: _signal.setitimer(_signal.ITIMER_REAL, left, interval)


def _nothing() -> None:
    pass


def _uninterruptible(code: CodeType) -> bool:
    """The code the wall-clock signal only marks the budget in: the runner (its teardown restores
    the host) and the budget's own bookkeeping and restores. Not the guards: one that lands in a
    guard's walk or in a C call a guard makes (`limits.call`: re's findall backtracking) raises
    there, or the walk and the C call ran on unseen (a 2 s budget ending after 43 s)."""
    return code.co_filename == _RUNNER_FILE or id(code) in _BOOKKEEPING_CODE_IDS


def _nested_codes(*codes: CodeType) -> list[CodeType]:
    found = list(codes)
    for code in found:  # grows as nested code is found
        found.extend(const for const in code.co_consts if type(const) is CodeType)
    return found


_RUNNER_FILE = os.path.join(os.path.dirname(__file__), "runner.py")
_BOOKKEEPING_CODE_IDS = frozenset(
    map(
        id,
        _nested_codes(
            *(f.__code__ for f in vars(StepBudget).values() if type(f) is types.FunctionType),
            bound_run.__code__,
            _start_alarm.__code__,
            _nothing.__code__,
        ),
    )
)
