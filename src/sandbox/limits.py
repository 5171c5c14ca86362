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
import gc
import math
import operator
import re
import sys
import time
import types
from collections.abc import Iterable
from dataclasses import dataclass, replace
from itertools import compress
from types import CodeType
from typing import NoReturn

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
    memory_baseline: int = 0
    tripped: LimitExceeded | None = None
    stop: tuple[str, str] | None = None
    """(message, error type) of the limit that tripped, taken before the script saw the exception.
    A tuple: a dataclass's generated __init__ would be a step of the budget being spent."""

    def start(self) -> None:
        self.deadline = time.perf_counter() + self.limits.timeout_ms / 1000
        if self.limits.track_memory:
            _tracemalloc.reset_peak()
            self.memory_baseline = _tracemalloc.get_traced_memory()[0]

    def trip(self, error: LimitExceeded) -> NoReturn:
        """Spend the budget for good (limits, the output cap) and raise."""
        if self.tripped is None:
            self.tripped = error
            message = error.args[0] if error.args and type(error.args[0]) is str else type(error).__name__
            self.stop = (message, type(error).error_type)
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
            self.trip(memory_error(limits, self.memory_used()))
        if self.steps & (limits.check_interval - 1) == 0 and (
            self.steps > limits.max_steps or time.perf_counter() > self.deadline
        ):
            self.trip(TimeLimitExceeded(f"Execution timeout exceeded {limits.timeout_ms}ms"))

    def charge(self, steps: int) -> None:
        """Count work the host does on the script's behalf (the nesting check's walk) as its steps."""
        if self.tripped is not None:
            raise self.tripped
        self.steps += steps
        if self.steps > self.limits.max_steps:
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


# --- Guards for single C calls that could allocate far past the limit ---------------------------
# Each guard runs inside the user's budget, called by code the analyser inserted (policy.instrument)
# or by a curated builtin. It estimates the size of the result from the operands before the
# operation runs, and a refusal spends the budget like any other limit.

_SEQUENCES = (str, bytes, bytearray, list, tuple)


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
        _refuse_size(budget, f"a range of {length:,} items", length * 8)


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
        budget.charge(len(level) + len(references) // 8)
        level = []
        for child in holders(references):
            key = id(child)
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
    return [child for child in holders(gc.get_referents(node)) if _inside(budget, kinds, type(child))]


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


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def check_json_text(limits: Limits, text: str | bytes | bytearray) -> None:
    """Nesting depth of a JSON document, found without recursion before `json.loads` recurses.

    Strings are removed so brackets inside them do not count; then innermost bracket pairs are
    peeled off, one level per pass, each pass a C-speed replace.
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if text.count("[") + text.count("{") <= limits.nesting_depth:
        return
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    levels = 0
    while levels <= limits.nesting_depth:
        peeled = brackets.replace("[]", "").replace("{}", "")
        if peeled == brackets:
            break
        brackets, levels = peeled, levels + 1
    # What is left is unbalanced; each opener in it may still nest one level deeper.
    if levels + brackets.count("[") + brackets.count("{") > limits.nesting_depth:
        raise ValueError(f"JSON nested deeper than {limits.nesting_depth} levels")
