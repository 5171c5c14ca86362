"""Layer 3: budgets. Every resource attack ends as a structured result, and the interpreter stays
healthy (the autouse fixture runs a normal script after each test)."""

from __future__ import annotations

import re

import pytest

import sandbox
from sandbox import Limits
from sandbox.limits import StepBudget, TimeLimitExceeded

from .support import SHORT, contained, fails, run

# --- time ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "while True:\n    pass",
        "for i in range(10**6):\n    for j in range(10**6):\n        pass",
        "def f():\n    return f() if False else [f for _ in iter(list, None)]\nwhile True:\n    f",
        "def g():\n    while True:\n        yield 1\nfor x in g():\n    pass",
        "x = [i for i in range(10**6) for j in range(10**6)]",
        "def f(n):\n    return f(n - 1) + f(n - 1) if n else 1\nf(60)",
    ],
)
def test_runaway_python_ends_as_a_timeout(code):
    result = fails(code, "timeout", "timeout", SHORT)
    assert result.error == "Execution timeout exceeded 250ms (the caller can raise timeoutMs to 5000)"


def test_catching_base_exception_does_not_outlive_the_budget():
    code = """
while True:
    try:
        while True:
            pass
    except BaseException:
        pass
"""
    fails(code, "timeout", "timeout", SHORT)


def test_looping_in_finally_does_not_outlive_the_budget():
    code = "try:\n    while True:\n        pass\nfinally:\n    while True:\n        pass"
    fails(code, "timeout", "timeout", SHORT)


def test_swallowed_timeout_is_still_a_timeout():
    code = "try:\n    while True:\n        pass\nexcept BaseException:\n    pass\nprint('I finished')"
    result = fails(code, "timeout", "timeout", SHORT)
    assert "I finished" not in (result.output or "")


def test_generator_finaliser_cannot_loop_after_the_run():
    # The generator's finally runs when it is collected, after the script has ended.
    code = """
def g():
    try:
        yield 1
    finally:
        while True:
            pass
it = g()
next(it)
print("done")
"""
    result = contained(code)
    assert result.success and result.output == "done"


def test_closing_a_generator_that_loops_is_stopped():
    code = "def g():\n    try:\n        yield 1\n    finally:\n        while True:\n            pass\nit = g()\nnext(it)\nit.close()"
    fails(code, "timeout", "timeout", SHORT)


def test_recursion_is_bounded():
    result = fails("def f(n):\n    return f(n + 1)\nf(0)", "RecursionError", "runtime")
    assert result.line in (1, 2)


def test_recursion_depth_is_a_limit():
    code = "def depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\nprint(depth(150))"
    assert run(code).output == "150"
    assert not run(code, Limits(recursion_depth=100)).success


def test_iter_with_a_builtin_callable_is_refused():
    # any(iter(int, 1)) would loop forever inside one C call, unseen by the step count.
    fails("any(iter(int, 1))", "iter(callable, sentinel) takes a function defined in the script")


def test_iter_with_a_script_function_is_counted():
    fails("def one():\n    return 1\nall(iter(one, 2))", "timeout", "timeout", SHORT)


@pytest.mark.parametrize(
    "code",
    [
        "sum(itertools.count())",
        "list(itertools.repeat(1))",
        "any(x < 0 for x in itertools.cycle([1]))",
        "max(itertools.repeat(1, 10**12))",
    ],
)
def test_infinite_itertools_are_counted(code):
    result = contained("import itertools\n" + code)
    assert result.error_type in ("timeout", "memory"), result


# --- memory --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "x = 'a' * 10**10",
        "x = [0] * 10**9",
        "x = (1, 2) * 10**9",
        "x = 10**9 * b'ab'",
        "x = 2 ** (10**10)",
        "x = pow(3, 10**10)",
        "x = 1 << 10**11",
        "x = 'a'\nx *= 10**10",
        "x = [1]\nfor i in range(100):\n    x = x * 1000",
        "x = 'a'.ljust(10**10)",
        "x = 'a'.center(10**10)",
        "x = 'a'.zfill(10**10)",
        "x = ('\\t' * 1000).expandtabs(10**8)",
        "x = ('a' * 10**6).replace('a', 'b' * 10**6)",
        "x = ''.replace('', 'x' * 1000, 1) + ('a' * 100000).replace('', 'x' * 1000)",
        "x = f'{1:>10000000000}'",
        "x = format(1, '>10000000000')",
        "x = '{:>10000000000}'.format(1)",
        "x = '{0:{1}}'.format(1, 10**10)",
        "x = '%10000000000d' % 1",
        "x = '%*d' % (10**10, 1)",
        "x = '%.10000000000f' % 1.0",
        "x = str.ljust('a', 10**10)",
        "x = list(range(10**10))",
        "x = list(type(range(1))(10**10))",
        "x = bytes(10**10)",
        "x = type(b'')(10**10)",
        "x = sum(range(10**15))",
        "x = {}.fromkeys(range(10**12))",
        "import re\nx = re.sub('', 'x' * 10**5, 'a' * 10**5)",
        "import re\nx = re.compile('a').sub('b' * 10**5, 'a' * 10**5)",
        "x = ('a' * 1000).translate({97: 'b' * 10**6})",
        "import math\nx = math.factorial(10**9)",
        "import itertools\nx = itertools.product(range(1000), repeat=10**6)",
        "import json\nx = json.dumps([1, 2], indent=10**9)",
        "x = []\nwhile True:\n    x.append('x' * 10**6)",
        "s = 'x' * 10**6\nwhile True:\n    s = s + s",
    ],
)
def test_allocation_far_past_the_limit_is_refused(code):
    result = fails(code, "Memory limit exceeded", "memory")
    assert "50 MB" in result.error


def test_a_refused_allocation_says_what_it_needs_and_what_the_run_holds():
    # 49.5 MB held, then a 600 KB string: refused for what is held, not for its own size.
    code = "big = 'x' * (49 * 1024 * 1024 + 512 * 1024)\nsmall = 'y' * (600 * 1024)"
    result = fails(code, "Memory limit exceeded", "memory")
    assert result.error == (
        "Memory limit exceeded: sequence repetition would need about 600 KB;"
        " the run holds 49.5 MB of its 50 MB limit (the caller can raise memoryMb to 128)"
    )


@pytest.mark.parametrize(
    ("code", "needs"),
    [
        ("x = 'y' * 10**10", "sequence repetition would need about 9.31 GB"),
        ("x = 2 ** 10**12", "integer power would need about 116.42 GB"),
        ("x = range(10**12)", "a range of 1,000,000,000,000 items kept outside a for loop"),
        ("x = 'a'.ljust(10**9)", "str.ljust would need about 953.67 MB"),
    ],
)
def test_memory_errors_are_in_bytes_against_the_limit(code, needs):
    result = fails(code, "Memory limit exceeded", "memory")
    assert needs in result.error and "items (limit" not in result.error
    limit = r"of its 50 MB limit \(the caller can raise memoryMb to 128\)$"
    assert re.search(r"the run holds [\d,.]+ (bytes|KB) " + limit, result.error), result.error


def test_a_run_that_grows_past_the_limit_says_by_how_much():
    code = "x = []\nwhile True:\n    x.append([0, 1, 2, 3, len(x)])"
    result = fails(code, "Memory limit exceeded", "memory", Limits(memory_bytes=1024 * 1024))
    assert re.fullmatch(
        r"Memory limit exceeded: the run holds 1 MB, [\d,]+ bytes more than its limit of 1 MB"
        r" \(the caller can raise memoryMb to 128\)",
        result.error,
    ), result.error


def test_without_memory_tracking_a_refusal_names_the_limit_only():
    result = run("x = 'a' * 10**10", Limits(track_memory=False))
    assert (
        result.error
        == "Memory limit exceeded: sequence repetition would need about 9.31 GB, over the limit of 50 MB"
        " (the caller can raise memoryMb to 128)"
    )


def test_refused_allocation_cannot_be_caught_and_ignored():
    code = "try:\n    x = 'a' * 10**10\nexcept BaseException:\n    pass\nprint('survived')"
    result = fails(code, "Memory limit exceeded", "memory")
    assert result.output == ""


def test_allocations_within_the_limit_are_fine():
    code = "x = 'a' * 10**6\ny = [0] * 10**5\nz = 2 ** 10000\nprint(len(x), len(y), z.bit_length(), f'{1:>20}'.strip())"
    assert run(code).output == "1000000 100000 10001 1"


def test_memory_limit_is_configurable():
    code = "x = [list(range(1000)) for _ in range(300)]\nprint(len(x))"
    assert run(code).success
    assert run(code, Limits(memory_bytes=1024 * 1024)).error_type == "memory"


def test_memory_tracking_can_be_turned_off_but_guards_stay():
    result = run("x = 'a' * 10**10", Limits(track_memory=False))
    assert result.error_type == "memory"


# --- nesting deep enough to overflow the WebAssembly stack ---------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "import json\njson.loads('[' * 7000 + ']' * 7000)",
        "import json\njson.loads('{\"a\":' * 7000 + '1' + '}' * 7000)",
        "import json\njson.loads('[' * 100000)",
        "x = []\nfor _ in range(10000):\n    x = [x]\nrepr(x)",
        "x = []\nfor _ in range(10000):\n    x = [x]\nprint(x)",
        "x = []\nfor _ in range(10000):\n    x = [x]\nf'{x}'",
        "x = []\nfor _ in range(10000):\n    x = [x]\nstr.format('{}', x)",
        "x = []\nfor _ in range(10000):\n    x = [x]\n'%s' % (x,)",
        "x = {}\nfor _ in range(10000):\n    x = {'a': x}\nimport json\njson.dumps(x)",
        "x = ()\nfor _ in range(10000):\n    x = (x,)\nformat(x, '')",
        "x = []\nfor _ in range(10000):\n    x = [x]\nraise ValueError(x)",
    ],
)
def test_deep_nesting_is_refused_before_c_recursion(code):
    result = contained(code)
    assert not result.success
    assert "nested deeper than" in result.error


def test_json_brackets_inside_strings_do_not_count():
    code = "import json\nprint(len(json.loads(json.dumps(['[' * 5000, '{' * 5000]))))"
    assert run(code).output == "2"


def test_ordinary_nesting_is_fine():
    code = "x = 1\nfor _ in range(100):\n    x = [x]\nimport json\nprint(len(json.dumps(x)), len(repr(x)))"
    assert run(code).output == "201 201"


# --- output ----------------------------------------------------------------------------------------


def test_output_is_truncated_with_a_marker_and_stops_the_run():
    result = fails("while True:\n    print('x' * 1000)", "Output limit exceeded", "output_limit")
    assert result.output.endswith("[output truncated: limit of 65536 bytes reached]")
    assert len(result.output.encode()) < 65536 + 100


def test_output_limit_counts_bytes_not_characters():
    result = run("print('é' * 40000)", Limits(output_bytes=50000))
    assert result.error_type == "output_limit"


def test_print_cannot_write_to_a_file():
    fails("print('x', file=None or 1)", "print(file=...) is not available")


# --- limits themselves ------------------------------------------------------------------------------


def test_limits_above_the_server_maximum_are_refused():
    with pytest.raises(ValueError, match="exceeds the server maximum"):
        Limits(timeout_ms=60_000)
    with pytest.raises(ValueError, match="positive integer"):
        Limits(memory_bytes=0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"track_memory": "no"}, "track_memory must be a bool, not str"),
        ({"track_memory": 0}, "track_memory must be a bool, not int"),
        ({"timeout_ms": "1000"}, "timeout_ms must be an int, not str"),
        ({"memory_bytes": 1.5e6}, "memory_bytes must be an int, not float"),
        ({"max_traces": True}, "max_traces must be an int, not bool"),
    ],
)
def test_limits_of_the_wrong_type_are_type_errors(changes, message):
    with pytest.raises(TypeError, match=message):
        Limits(**changes)


def test_limits_and_interpreter_settings_are_restored_after_a_run():
    import sys

    before = sys.getrecursionlimit()
    sandbox.execute("def f():\n    return f()\nf()")
    assert sys.getrecursionlimit() == before


def test_type_of_a_guarded_result_is_not_an_unguarded_constructor():
    # type(range(1)) and type(b'') are the guarded stand-ins; product hands out a generator.
    assert (
        run("print(type(range(1)) is range, type(b'') is bytes, isinstance(range(2), range))").output
        == "True True True"
    )
    fails("import itertools\ntype(itertools.product([1]))([1], repeat=10**9)", "TypeError")


def test_memory_peak_inside_one_call_is_caught_after_the_fact():
    # list(range(...)) allocates far more than the limit and frees it before the next step: only
    # the peak shows it.
    result = run("n = len(list(range(1_000_000)))\nprint(n)", Limits(memory_bytes=10 * 1024 * 1024))
    assert result.error_type == "memory"


def test_a_tripped_budget_reports_only_the_engines_own_error_types():
    # A subclass of the budget's exception could carry any `error_type`; the result must not.
    class Spoofed(TimeLimitExceeded):
        error_type = ["held", "after", "the", "run"]  # type: ignore[assignment]  # noqa: RUF012

    budget = StepBudget(Limits())
    with pytest.raises(Spoofed):
        budget.trip(Spoofed("spoofed"))
    assert budget.stop == ("spoofed", "internal")


# --- ranges: priced where a C call could make them a list, not where a loop iterates them -------------

ROOMY = Limits(memory_bytes=4 * 1024 * 1024, track_memory=False)


@pytest.mark.parametrize(
    "code",
    [
        "for i in range(200_000):\n    pass\nprint(i)",
        "print(sum(i for i in range(200_000)))",
        "print(len([0 for i in range(200_000) if i < 3]))",
        "print(sum(1 for i in range(0, 400_000, 2)))",
    ],
)
def test_a_range_a_loop_iterates_needs_no_memory(code):
    # 200,000 items as a list would be 8 MB, twice the run's limit; the loop holds one at a time.
    result = run(code, ROOMY)
    assert result.success, result


@pytest.mark.parametrize(
    "code", ["x = list(range(200_000))", "r = range(200_000)\nx = sorted(r)", "x = [*range(200_000)]"]
)
def test_a_range_something_could_materialise_is_priced(code):
    result = run(code, ROOMY)
    assert result.error_type == "memory" and "kept outside a for loop" in result.error, result


def test_a_rebound_range_in_a_loop_is_called_as_bound():
    assert run("range = lambda n: [n]\nfor x in range(7):\n    print(x)").output == "7"
