"""async def, await, async for, async with and async comprehensions: the script's coroutines run to
their end inside the run's budget, with no event loop; their internals stay out of reach."""

from __future__ import annotations

import sys
import warnings

import pytest

import sandbox
from sandbox import Limits

from .support import SHORT, contained, run


def test_async_functions_await_each_other():
    code = """
async def double(x):
    return 2 * x

async def main():
    total = 0
    for i in range(3):
        total += await double(i)
    return total

print(await main())
"""
    assert run(code).output == "6"


def test_async_generators_async_for_and_async_comprehensions():
    code = """
async def numbers(n):
    for i in range(n):
        yield i

async def main():
    seen = []
    async for x in numbers(3):
        seen.append(x)
    squares = [x * x async for x in numbers(4)]
    first = await anext(aiter(numbers(5)))
    return seen, squares, first

print(await main())
"""
    assert run(code).output == "([0, 1, 2], [0, 1, 4, 9], 0)"


def test_async_with_runs_the_managers_hooks_and_sees_the_error_cleaned():
    code = """
class Session:
    async def __aenter__(self):
        print('open')
        return self
    async def __aexit__(self, kind, error, tb):
        print('close', kind.__name__ if kind else None, error)
        return True

async def main():
    async with Session() as s:
        raise ValueError('inside')
    return 'swallowed'

print(await main())
"""
    assert run(code).output.splitlines() == ["open", "close ValueError inside", "swallowed"]


def test_async_with_needs_the_asynchronous_protocol():
    code = "class C:\n    pass\nasync def main():\n    async with C():\n        pass\nawait main()"
    result = run(code)
    assert "asynchronous context manager protocol" in result.error and result.line == 4


def test_an_await_that_suspends_is_an_error_at_its_line():
    code = """
class Sleep:
    def __await__(self):
        yield 'waiting for a loop'

async def main():
    await Sleep()

await main()
"""
    result = run(code)
    assert result.error_type == "runtime"
    assert result.error.startswith("RuntimeError: an await suspended")
    assert result.line == 4  # where it waits: the yield inside the awaited object


def test_a_script_that_catches_the_suspension_and_waits_again_stops_at_its_budget():
    code = """
class Sleep:
    def __await__(self):
        yield

async def main():
    while True:
        try:
            await Sleep()
        except RuntimeError:
            pass

await main()
"""
    assert contained(code).error_type == "timeout"


def test_coroutine_work_is_counted():
    assert contained("async def spin():\n    while True:\n        pass\nawait spin()").error_type == "timeout"
    code = "async def forever():\n    while True:\n        yield 1\nasync def main():\n    async for _ in forever():\n        pass\nawait main()"
    assert contained(code).error_type == "timeout"


def test_async_recursion_meets_the_recursion_limit():
    code = "async def down(n):\n    return await down(n + 1)\nawait down(0)"
    assert "RecursionError" in contained(code).error


@pytest.mark.parametrize("convention", ["trace", "trace, ctx", "task, task_metadata, trace, ctx"])
def test_an_async_entry_point_works_in_every_convention(convention):
    code = f"async def eval_steps({convention}):\n    return len(trace['steps']) > 0, 'has steps'\n"
    batch = sandbox.evaluate(code, [{"trace_id": "t", "data": {"steps": [1]}}])
    assert batch.results[0].passed is True and batch.results[0].reason == "has steps"


def test_a_sync_entry_point_returning_a_script_coroutine_is_settled():
    code = "async def score(trace):\n    return 0.75, 'ok'\ndef eval_x(trace):\n    return score(trace)\n"
    assert sandbox.evaluate(code, [{"trace_id": "t", "data": {}}]).results[0].score == 0.75


INTERNALS = ["cr_frame", "cr_code", "cr_await", "cr_origin", "ag_frame", "ag_code", "ag_await"]


@pytest.mark.parametrize("name", INTERNALS)
def test_coroutine_and_async_generator_internals_are_refused(name):
    maker = "f()" if name.startswith("cr_") else "g()"
    prelude = "async def f():\n    return 1\nasync def g():\n    yield 1\n"
    static = sandbox.execute(f"{prelude}print({maker}.{name})")
    assert static.error_type == "validation" and "interpreter internals" in static.error
    computed = contained(f"{prelude}c = {maker}\nprint(getattr(c, '{name[:3]}' + '{name[3:]}'))")
    assert "interpreter internals" in computed.error


def test_a_coroutines_frame_is_unreachable_through_an_exception():
    code = """
async def boom():
    raise ValueError('x')

async def main():
    try:
        await boom()
    except ValueError as error:
        return error.__traceback__

print(await main())
"""
    assert contained(code).error_type == "validation"


def test_a_coroutine_never_awaited_warns_nothing_into_the_host(capfd):
    code = "async def f():\n    return 1\nf()\nc = f()\nprint('ran')"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run(code).output == "ran"
        assert sandbox.evaluate("async def g():\n    pass\ndef eval_x(trace):\n    g()\n    return True, ''\n",
                                [{"trace_id": "t", "data": {}}]).results[0].passed  # fmt: skip
    assert caught == []
    assert "never awaited" not in capfd.readouterr().err


def test_an_unfinished_async_generator_is_closed_within_the_run(capfd):
    # With the host's hooks (Pyodide's event loop sets them), its aclose() would be scheduled on
    # the host's loop, to run after the run.
    hooks = sys.get_asyncgen_hooks()
    code = "async def g():\n    try:\n        yield 1\n    finally:\n        print('closed')\nasync def main():\n    async for x in g():\n        return x\nprint(await main())"
    assert run(code).output == "closed\n1"  # closed as its last reference went, inside main
    assert sys.get_asyncgen_hooks() == hooks
    assert capfd.readouterr().err == ""


def test_aiter_and_anext_are_builtins_again():
    result = sandbox.validate("async def f(x):\n    return await anext(aiter(x), None)")
    assert result.valid, result.violations


def test_await_outside_an_async_function_is_a_validation_error():
    # The compiler's error, not the parser's: reported with its line by validate and execute alike.
    for result in (run("def f():\n    await g()"), sandbox.validate("def f():\n    await g()")):
        wire = result.to_wire()
        assert wire["violations"] == [
            {"line": 2, "col": 4, "message": "SyntaxError: 'await' outside async function"}
        ]


def test_await_in_a_short_budget_still_reports_timeouts():
    assert (
        contained("async def f():\n    while True:\n        pass\nawait f()", SHORT).error_type == "timeout"
    )
    assert Limits  # the short budget is the tests' usual one
