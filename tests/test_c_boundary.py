"""Engine hardening 3: every budget holds at the C boundary. Each attack below is one C call that,
unguarded, allocates far past the memory limit or computes for minutes; each must end as a
structured result, with the run's memory (tracemalloc's peak) under its limit, within twice its
time budget, and leave the interpreter fit for the next run."""

from __future__ import annotations

import _tracemalloc
import random
import time

import pytest

import sandbox
from sandbox import Limits, limits
from sandbox.limits import check_json_text

from .support import ALL_IMPORTS, CANARY

BUDGET = Limits(timeout_ms=1000)


def held(code: str, error_type: str, fragment: str = "", budget: Limits = BUDGET) -> sandbox.ExecutionResult:
    """Run an attack and check the promise: a result of `error_type`, the memory peak under the
    limit, the wall time under twice the budget, and a normal run right after."""
    tracing_here = not _tracemalloc.is_tracing()
    if tracing_here:
        _tracemalloc.start()
    before = _tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    try:
        result = sandbox.execute(code, budget, ALL_IMPORTS)
        elapsed = time.perf_counter() - started
        peak = _tracemalloc.get_traced_memory()[1] - before
    finally:
        if tracing_here:
            _tracemalloc.stop()
    assert CANARY not in str(result.to_wire())
    assert result.error_type == error_type, result
    assert fragment in (result.error or ""), result.error
    assert peak <= budget.memory_bytes, f"peak {peak:,} bytes"
    assert elapsed < 2 * budget.timeout_ms / 1000, f"{elapsed:.2f} s"
    after = sandbox.execute("print(sum(range(10)))")
    assert after.success and after.output == "45", after
    return result


# --- guards measure on their own terms ----------------------------------------------------------


def _depth(text: str) -> tuple[int, bool]:
    """The nesting a JSON parser reaches, by a plain character loop, and whether it got to the end:
    it stops at a backslash outside a string, the first thing no JSON text has."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == "\\":
            return deepest, False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest, True


@pytest.mark.parametrize("window", [1, 2, 3, 7, 64, limits._JSON_WINDOW])
def test_json_depth_is_measured_exactly_across_strings_escapes_and_windows(monkeypatch, window):
    monkeypatch.setattr(limits, "_JSON_WINDOW", window)
    depth_limit = Limits(nesting_depth=5)
    rng = random.Random(window)
    for _ in range(2000):
        text = "".join(rng.choice('[[{]}"\\\\a,') for _ in range(rng.randrange(1, 40)))
        for candidate in (text, text.encode(), text.encode("utf-16")):
            refused = False
            try:
                check_json_text(depth_limit, candidate)
            except ValueError:
                refused = True
            deepest, whole = _depth(text)
            # Exact on text a parser reads to the end; never short of what a parser reaches before
            # it stops (past that point the measure may refuse what the parser refuses anyway).
            assert refused == (deepest > 5) if whole else refused >= (deepest > 5), (window, text)


def test_json_text_crafted_against_the_old_regex_is_measured_in_one_pass():
    # Quadratic for the old string-stripping regex: an unterminated string full of escaped quotes,
    # rescanned from every quote. The brackets after them are inside the string and do not count.
    text = '["' + '\\"' * 40_000 + "[" * 300
    assert _depth(text) == (1, True)
    check_json_text(Limits(), text)
    with pytest.raises(ValueError, match="nested deeper than 200"):
        check_json_text(Limits(), text + '"' + "[" * 300)
