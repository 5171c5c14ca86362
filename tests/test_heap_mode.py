"""Memory in long runs: heap mode. In Pyodide a run past HEAP_AFTER_STEPS leaves tracemalloc for a
bound made of dlmalloc's own figures (sandbox/heap.py, StepBudget.enter_heap_mode): what it held,
the heap's free space it may fill, and how far the heap's end grows, with a ballast holding the
rest of the heap's free space. These tests prepare the heap (support.HeapScene) and read what a run
did to it from outside the engine: the heap's end and mallinfo. CPython keeps tracemalloc (its
heap exposes no portable figure), so most of them are Pyodide's only."""

from __future__ import annotations

import re

import pytest

import sandbox
from sandbox import Limits, heap
from sandbox.limits import HEAP_AFTER_STEPS, KIB, heap_mode_frees_in_time

from .support import (
    ALL_IMPORTS,
    IN_PYODIDE,
    WARM_UP,
    HeapScene,
    fails,
    heap_limits,
    run,
    run_in_heap_mode,
)
from .test_c_boundary import STEP_SLACK
from .test_limits import FAR_PAST_THE_LIMIT

MIB = 1024 * KIB
LONG = f"for _ in range({HEAP_AFTER_STEPS + 1000}):\n    pass\n"
pyodide_only = pytest.mark.skipif(
    not IN_PYODIDE, reason="heap mode reads dlmalloc's figures: Pyodide only (CPython keeps tracemalloc)"
)


def held_mb(result: sandbox.ExecutionResult) -> float:
    """The run's figure from a memory error, in MB."""
    match = re.search(r"the run (?:holds|peaked at(?: up to)?) ([\d,.]+) (MB|KB|bytes)", result.error or "")
    assert match, result.error
    scale = {"MB": 1, "KB": 1 / 1024, "bytes": 1 / MIB}[match.group(2)]
    return float(match.group(1).replace(",", "")) * scale


@pytest.fixture
def heap_mode_runs():
    """How many runs entered heap mode so far in the test (0 outside Pyodide), the heap's free
    chunks below its top filled while it runs (see HeapScene)."""
    if not IN_PYODIDE:
        yield lambda: 0
        return
    scene = HeapScene()
    try:
        yield scene.entered
    finally:
        scene.release()


def test_heap_figures_exist_only_where_the_allocator_has_them():
    figures = heap.figures()
    if not IN_PYODIDE:
        assert figures is None  # CPython keeps tracemalloc: no portable figure of its heap
        return
    assert figures is not None
    in_use, free, top_size = figures.usage()
    assert in_use > 0 and free >= 0 and in_use + free <= figures.top.value
    assert figures.top.value + top_size <= figures.end.value


# --- when a run enters heap mode -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timeout_ms", "memory_bytes", "enters"),
    [
        (5000, 50 * MIB, True),  # the defaults: 5 s frees 55 MB at 89 ns a byte
        (1000, 11_000 * KIB, True),
        (1000, 11_000 * KIB + 1, False),
        (1000, 50 * MIB, False),
        (300, 128 * MIB, False),  # test_host_work's many-objects run: check_freeable must see it
    ],
)
def test_heap_mode_is_only_for_budgets_that_free_their_whole_limit(timeout_ms, memory_bytes, enters):
    # Heap mode counts no blocks, so check_freeable cannot keep the teardown within twice the
    # budget there: the run's whole memory limit must be freeable (at 89 ns a byte) in its budget.
    limits = Limits(timeout_ms=timeout_ms, memory_bytes=memory_bytes)
    assert heap_mode_frees_in_time(limits) is enters
    assert (limits.timeout_ms * 11 * KIB >= limits.memory_bytes) is enters


def test_a_long_run_whose_budget_cannot_free_its_limit_stays_traced(heap_mode_runs):
    result = run(LONG + "print('done')", Limits(timeout_ms=1000))
    assert result.success and result.output == "done", result
    assert not heap_mode_runs()
    result = run(LONG + "print('done')")
    assert result.success and result.output == "done", result
    assert bool(heap_mode_runs()) == IN_PYODIDE


def test_a_long_run_with_a_small_limit_stops_at_it(heap_mode_runs):
    result = fails(
        LONG + "l = []\nwhile True:\n    l.append(str(len(l)))",
        "Memory limit exceeded",
        "memory",
        Limits(memory_bytes=2 * MIB),
    )
    assert held_mb(result) <= 2.1, result.error


# --- what a run holds -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attack",
    [
        "l = []\nwhile True:\n    l.append('x' * 100_000)",  # a step at a time
        "s = 'x'\nwhile True:\n    s = s + s",  # doubling, one new str a step
        "l = [None]\nwhile True:\n    l.extend(l)",  # doubling one list's items, no new object
        "d = {}\nwhile True:\n    d[len(d)] = bytes(50_000)",
    ],
)
def test_a_long_run_that_grows_past_the_limit_ends_as_memory(attack, heap_mode_runs):
    result = fails(LONG + attack, "Memory limit exceeded", "memory", Limits())
    # Past the 50 MB limit by at most what one step adds: a doubling from under it.
    assert held_mb(result) <= 2 * 50, result.error
    assert bool(heap_mode_runs()) == IN_PYODIDE


def test_a_long_run_holding_most_of_its_limit_succeeds(heap_mode_runs):
    # 30 MB of strings under the 50 MB limit: heap mode's bound must not refuse what fits.
    result = run(LONG + "l = ['z' * 1000 + str(i) for i in range(30_000)]\nprint(len(l))")
    assert result.success and result.output == "30000", result
    assert bool(heap_mode_runs()) == IN_PYODIDE


def test_space_an_earlier_run_freed_is_not_free_for_the_next(heap_mode_runs):
    # The first run leaves 20 MB of free chunks in the heap (a heap never shrinks); the second
    # fills them without moving the heap's top, and must still stop at its own limit.
    first = run("keep = ['x' * 1000 + str(i) for i in range(20_000)]\nprint(len(keep))")
    assert first.success, first
    attack = "l = []\nwhile True:\n    l.append('y' * 200 + str(len(l)))"
    result = fails(LONG + attack, "Memory limit exceeded", "memory", Limits())
    assert held_mb(result) <= 51, result.error


@pyodide_only
@pytest.mark.parametrize("attack", FAR_PAST_THE_LIMIT)
def test_an_allocation_far_past_the_limit_is_refused_in_heap_mode(attack):
    # test_limits' attacks after a warm-up: refused or stopped as traced, and while the run was
    # in heap mode, it never held more than the limit, by the heap's own end read from outside.
    # (test_c_boundary.held runs every attack of its file and of test_host_work this way too.)
    limits = heap_limits(Limits())
    result, entered, peak, _ = run_in_heap_mode(attack, limits)
    assert entered == 1, "the run did not enter heap mode"
    assert result.error_type == "memory" and "Memory limit exceeded" in (result.error or ""), result
    assert peak <= limits.memory_bytes + STEP_SLACK, f"peak {peak:,} bytes"


# --- what a run held for a moment -----------------------------------------------------------------
# A single C call that builds far more than the script holds and frees it again inside one step
# (the "C consumers" of docs/SECURITY.md): traced, tracemalloc's peak reports it after the call. In
# heap mode the ballast leaves it nowhere to go but past the heap's end, which never goes down.

ONE_STEP_PEAKS = [
    "s = 'x' * 100_000\nx = [s] * 1000\nprint(len(str(x)))",  # str of a shared container: 100 MB
    "s = 'x' * 100_000\nprint(len(str(([s] * 1000,))))",
    "s = 'x' * 100_000\nprint(len(sorted([s] * 1000, key=str.upper)))",  # a new key per item
    "s = 'x' * 100_000\nprint(len(list(map(str.upper, [s] * 1000))))",
]


@pyodide_only
@pytest.mark.parametrize("attack", ONE_STEP_PEAKS)
def test_a_peak_inside_one_call_ends_as_memory_in_heap_mode(attack):
    # Earlier runs left the top chunk 150 MB free: without the ballast, the call took it and gave
    # it back between two steps, and the run reported success.
    scene = HeapScene(top_room=150 * MIB)
    try:
        result = sandbox.execute(WARM_UP + attack, Limits(), ALL_IMPORTS)
        entered = scene.entered()
    finally:
        scene.release()
    assert entered == 1, "the run did not enter heap mode"
    assert result.error_type == "memory" and "peaked at up to" in (result.error or ""), result
    # An upper bound of the peak: never less than the 95 MB the call built.
    assert held_mb(result) >= 95, result.error
    traced = sandbox.execute(attack, Limits(), ALL_IMPORTS)
    assert traced.error_type == "memory" and "peaked at" in (traced.error or ""), traced


# --- the ballast ----------------------------------------------------------------------------------

ENDINGS = [
    "l = ['z' * 1000 + str(i) for i in range(10_000)]\nprint(len(l))",  # success, 10 MB
    "t = 0\nfor i in range(100_000):\n    t += i\nprint(t)",  # success, a loop
    "l = []\nwhile True:\n    l.append('x' * 100_000)",  # memory, a step at a time
    "s = 'x'\nwhile True:\n    s = s + s",  # memory, doubling
    "x = 'a' * 10**10",  # memory, refused by a guard
    "while True:\n    pass",  # timeout
    "raise ValueError('no')",  # runtime error
    "while True:\n    print('x' * 1000)",  # output limit
]


@pyodide_only
def test_the_ballast_is_given_back_however_a_run_ends():
    # Rounds of heap-mode runs that end every way a run ends: after each one, the heap holds no
    # more than before it (a ballast left behind would be over 100 MB in use), and from the second
    # round on the heap neither grows nor loses free space to them.
    scene = HeapScene(top_room=150 * MIB)
    limits = Limits(timeout_ms=1000, memory_bytes=10 * MIB)
    try:
        rounds = []
        for _ in range(3):
            for code in ENDINGS:
                before = scene.figures.entries, scene.figures.usage()
                result = sandbox.execute(WARM_UP + code, limits, ALL_IMPORTS)
                assert scene.figures.entries == before[0] + 1, (code, result, before[1])
                in_use, free, top_size = scene.figures.usage()
                assert in_use < scene.in_use + MIB, (code, result, in_use - scene.in_use)
            rounds.append((scene.figures.end.value, free + top_size))
    finally:
        scene.release()
    _, (end_2, free_2), (end_3, free_3) = rounds
    assert end_3 == end_2, f"the heap grew by {end_3 - end_2:,} bytes"
    assert abs(free_3 - free_2) < MIB, (free_2, free_3)


@pyodide_only
def test_heap_mode_ends_for_good_once_ballasts_have_grown_the_heap_by_the_allowance():
    # A peak inside one call grows the heap's end where, traced, the top chunk's free space would
    # have served it: memory heap mode costs beyond tracing. Summed over the interpreter's life it
    # may reach heap.BALLAST_GROWTH_ALLOWANCE; then runs stay traced and the heap stops growing.
    scene = HeapScene(top_room=150 * MIB)
    attack = WARM_UP + ONE_STEP_PEAKS[2]
    try:
        ends = []
        for _ in range(4):
            result = sandbox.execute(attack, Limits(), ALL_IMPORTS)
            assert result.error_type == "memory", result
            ends.append(scene.figures.end.value)
        entered, grown = scene.entered(), scene.figures.ballast_growth
    finally:
        scene.release()
    assert 1 <= entered < 4
    assert heap.BALLAST_GROWTH_ALLOWANCE <= grown <= heap.BALLAST_GROWTH_ALLOWANCE + 100 * MIB
    assert ends[-1] == ends[-2], "the heap grew after heap mode ended"
