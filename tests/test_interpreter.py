"""A run cannot outlive, outlast or damage its interpreter (Engine hardening 2). One request must
never change what the next one gets, so every attack here ends with the next run in the same
interpreter: it must work, or, where the host found itself damaged, refuse as `internal`."""

from __future__ import annotations

import ast
import gc
import json
import operator
import subprocess
import sys
import textwrap
import time
import tracemalloc
import types
from pathlib import Path

import pytest

import sandbox
from sandbox import Limits, Policy, runner
from sandbox.limits import MAXIMA, StepBudget, TimeLimitExceeded, check_nesting

from .support import ALL_IMPORTS, IN_PYODIDE, SHORT, contained, run

NEXT = "import json\nprint(json.dumps(sum(range(10))))"


def next_run_works() -> None:
    after = sandbox.execute(NEXT)
    assert after.success and after.output == "45", after
    assert runner.interpreter_fault() is None


def compiled(code: str, policy: Policy = ALL_IMPORTS) -> runner.Compiled:
    result = runner.compile_code(textwrap.dedent(code), policy, Limits())
    assert isinstance(result, runner.Compiled), result
    return result


def unchecked(code: str) -> runner.Compiled:
    """Compiled without analysis or instrumentation: stands for code of the script that reached
    a hook the analyser refuses to let it define (through class machinery, say)."""
    source = textwrap.dedent(code)
    code_object = compile(source, runner.FILENAME, "exec")
    return runner.Compiled(code_object, Policy(), ast.parse(source), runner._code_objects(code_object))


def clear_host_caches() -> list[type[BaseException]]:
    """What the host does sooner or later: its caches let go of what they held. Returns what the
    finalisers that ran then raised, which would otherwise only be printed."""
    import typing

    raised: list[type[BaseException]] = []
    hook, sys.unraisablehook = sys.unraisablehook, lambda unraisable: raised.append(unraisable.exc_type)
    try:
        for clear in typing._cleanups:  # type: ignore[attr-defined]
            clear()
        gc.collect()
    finally:
        sys.unraisablehook = hook
    return raised


# --- 1. The teardown runs no script code and always restores the host ----------------------------


def test_a_cached_script_runs_on_code_objects_of_its_own():
    # The finished-run guard is switched per code object: what an earlier call of the same text
    # left behind (a generator a host cache kept) must stay guarded while a later call runs.
    source = "def eval_x(trace):\n    return [n for n in range(3)] and True, ''\n"
    first, _ = runner.prepare(source, Policy(), Limits())
    second, entry = runner.prepare(source, Policy(), Limits())
    assert second.code.co_code == first.code.co_code and entry.name == "eval_x"
    assert not set(map(id, first.codes)) & set(map(id, second.codes))
    assert len(first.codes) == len(second.codes) > 1


def test_the_compile_cache_is_bounded_by_the_bytes_of_its_code_objects():
    # Counted by entries alone, 64 scripts of 1,750 lambdas each (16 KiB of source, 630 KB of code
    # objects) kept 40 MB in a Worker of 128 MB, outside every run's memory limit.
    runner._prepared.clear()  # what other tests left would count against the bytes too
    for n in range(64):
        runner.prepare(f"q{n} = [" + ",".join(["lambda: 0"] * 1750) + "]", Policy(), Limits())
    assert runner._prepared_bytes() <= runner._PREPARED_MAX_BYTES
    assert len(runner._prepared) < 64


def test_teardown_reads_nothing_the_script_can_hook():
    # Each hook would loop for ever if anything of the host ran it after the run; before the fix,
    # the teardown's isinstance() read __class__ and the stop escaped halfway through it.
    code = unchecked("""
        class Trap:
            armed = False
            def spring(self):
                while Trap.armed:
                    pass
                return 1
            __class__ = property(spring)
            __eq__ = lambda self, other: self.spring() == 2
            __hash__ = spring
            __del__ = spring
        kept = [Trap(), {Trap(): 1}, {Trap()}, (Trap(),)]
        kept.append(kept)
        Trap.armed = True
        print("done")
    """)
    outcome = runner.run(code, SHORT)
    assert outcome.error is None and outcome.output == "done"
    next_run_works()


def test_a_class_attribute_named_class_through_enum_is_not_read():
    result = contained(
        "import enum\n"
        "def trap(self):\n    while True:\n        pass\n"
        "E = enum.Enum('E', [('__class__', property(trap)), ('A', 1)])\n"
        "x = [E.A]\nprint('ok')"
    )
    assert result.error_type != "internal", result
    next_run_works()


def test_every_host_setting_is_restored_when_a_restore_fails(monkeypatch, faulted):
    recursion_limit, hook, tracing = sys.getrecursionlimit(), sys.unraisablehook, tracemalloc.is_tracing()
    # Arming the finished-run guard fails once the script has run (a C callable: anything written in
    # Python would be a step of the spent budget): everything after it must still be put back.
    monkeypatch.setattr(runner, "_watch_finished", operator.getitem)
    outcome = runner.run(compiled("x = [1]\nprint('ran')"), Limits())
    assert outcome.error_type == "internal"
    assert "the engine failed" in outcome.error
    assert sys.monitoring.get_events(runner._tool_ids()[0]) == 0
    assert sys.getrecursionlimit() == recursion_limit
    assert sys.unraisablehook is hook
    assert tracemalloc.is_tracing() == tracing
    assert gc.get_freeze_count() == 0


def test_an_exception_built_to_break_its_description_is_still_described():
    # Had describing it raised, the engine would have counted itself failed and refused every
    # later run: one script taking the interpreter out of service.
    code = unchecked("""
        class Odd(Exception):
            @property
            def __traceback__(self):
                raise KeyError("traceback")
            @property
            def args(self):
                raise KeyError("args")
            def __str__(self):
                raise KeyError("str")
        raise Odd()
    """)
    outcome = runner.run(code, Limits())
    assert (outcome.error_type, outcome.error) == (
        "runtime",
        "Odd: <exception message unavailable> (line 11)",
    )
    next_run_works()


# --- 2. The host checks itself after every run ----------------------------------------------------


def _free_tool() -> int:
    return next(tool for tool in range(6) if sys.monitoring.get_tool(tool) is None)


def _take_tool() -> None:
    sys.monitoring.use_tool_id(_free_tool(), "intruder")


def _release_tools() -> None:
    for tool in range(6):
        if sys.monitoring.get_tool(tool) == "intruder":
            sys.monitoring.set_events(tool, 0)
            sys.monitoring.free_tool_id(tool)


def _watch_calls() -> None:
    tool = _free_tool()
    sys.monitoring.use_tool_id(tool, "intruder")
    sys.monitoring.set_events(tool, sys.monitoring.events.PY_START)


DAMAGE = {
    "the sys.monitoring tools": (_take_tool, _release_tools),
    "the sys.monitoring events": (_watch_calls, _release_tools),
    "the garbage collector's settings": (gc.disable, gc.enable),
    "sys.unraisablehook": (
        lambda: setattr(sys, "unraisablehook", print),
        lambda: setattr(sys, "unraisablehook", sys.__unraisablehook__),
    ),
    "the builtins module": (
        lambda: setattr(sys.modules["builtins"], "len", abs),
        lambda: setattr(sys.modules["builtins"], "len", sandbox.builtins._UNCHANGED["len"]),
    ),
    "the engine's modules": (
        lambda: sys.modules.__setitem__("sandbox.policy", types.ModuleType("sandbox.policy")),
        lambda: sys.modules.__setitem__("sandbox.policy", sandbox.policy),
    ),
}


def damaged_during_a_run(monkeypatch, damage) -> runner.Outcome:
    """Run a script while `damage` changes the host: it strikes as the run puts the recursion limit
    back, after the budget is off, as a flaw in the engine or a runaway C extension would."""
    real = sys.setrecursionlimit
    calls = []

    def setrecursionlimit(limit: int) -> None:
        calls.append(limit)
        if len(calls) == 2:
            damage()
        real(limit)

    monkeypatch.setattr(sys, "setrecursionlimit", setrecursionlimit)
    outcome = runner.run(compiled("print('ran')"), Limits())
    monkeypatch.undo()
    return outcome


@pytest.mark.parametrize("kind", ["zip", "enumerate"])
def test_a_run_that_leaves_memory_the_collector_cannot_free_faults_the_interpreter(kind, faulted):
    # The reused result tuple holds the ring's way back to the iterator: no type in the ring can
    # be cleared, so every such run kept its memory for good (4 GB of Pyodide's heap in 94 runs).
    code = f"L = []\nz = {kind}(L)\nc = (z, 'x' * 1_000_000)\nL.append(c)\nnext(z)"
    result = sandbox.execute(code)
    assert result.error_type == "internal", result
    refuses_from_now_on(runner._UNCUT_FAULT)


def refuses_from_now_on(item: str) -> None:
    assert item in runner.interpreter_fault()
    result = sandbox.execute("print('must not run')")
    assert (result.success, result.error_type, result.output) == (False, "internal", None)
    assert item in result.error
    batch = sandbox.evaluate("def eval_x(trace):\n    return True, 'ok'", [{"trace_id": "a", "data": {}}])
    assert [r.error_type for r in batch.results] == ["internal"]
    assert item in batch.results[0].error


@pytest.mark.parametrize("item", DAMAGE)
def test_a_run_that_changed_the_host_makes_every_later_run_refuse(item, monkeypatch, faulted):
    damage, repair = DAMAGE[item]
    try:
        outcome = damaged_during_a_run(monkeypatch, damage)
    finally:
        repair()
    assert outcome.error_type == "internal" and item in outcome.error
    refuses_from_now_on(item)


def test_a_recursion_limit_left_lowered_is_noticed(monkeypatch, faulted):
    real, limit = sys.setrecursionlimit, sys.getrecursionlimit()
    calls = []
    monkeypatch.setattr(sys, "setrecursionlimit", lambda n: calls.append(n) or (len(calls) == 1 and real(n)))
    try:
        outcome = runner.run(compiled("print('ran')"), Limits())
    finally:
        monkeypatch.undo()
        sys.setrecursionlimit(limit)
    assert outcome.error_type == "internal" and "the recursion limit" in outcome.error
    refuses_from_now_on("the recursion limit")


def test_tracing_switched_off_under_the_host_is_noticed(monkeypatch, faulted):
    tracemalloc.start()
    try:
        outcome = damaged_during_a_run(monkeypatch, tracemalloc.stop)
    finally:
        tracemalloc.stop()
    assert outcome.error_type == "internal"
    refuses_from_now_on("tracemalloc")


def test_a_collector_left_frozen_is_noticed(monkeypatch, faulted):
    monkeypatch.setattr(gc, "unfreeze", gc.isenabled)  # a C no-op: the run cannot thaw the heap
    try:
        outcome = runner.run(compiled("print('ran')"), Limits())
    finally:
        monkeypatch.undo()
        gc.unfreeze()
    assert outcome.error_type == "internal"
    refuses_from_now_on("the garbage collector's settings")


@pytest.mark.parametrize(
    ("item", "module", "name", "value"),
    [
        ("the engine's globals", "sandbox.policy", "BLOCKED_NAMES", {}),
        ("the engine's tables", "sandbox.builtins", "_UNCHANGED", None),
    ],
)
def test_a_changed_engine_table_is_noticed(item, module, name, value, monkeypatch, faulted):
    target = sys.modules[module]
    if value is None:  # patch the table's contents rather than rebind it
        table = getattr(target, name)
        damage = lambda: table.__setitem__("len", abs)  # noqa: E731
        repair = lambda: table.__setitem__("len", len)  # noqa: E731
    else:
        original = getattr(target, name)
        damage = lambda: setattr(target, name, value)  # noqa: E731
        repair = lambda: setattr(target, name, original)  # noqa: E731
    try:
        outcome = damaged_during_a_run(monkeypatch, damage)
    finally:
        repair()
    assert outcome.error_type == "internal"
    refuses_from_now_on(item)


def test_replaced_budget_callbacks_are_noticed(faulted):
    tool = runner._tool_ids()[0]

    def unhook(value: object) -> object:
        sys.monitoring.register_callback(tool, sys.monitoring.events.JUMP, None)
        return value

    outcome = runner.run(compiled("def f():\n    return 1"), Limits(), call="f", convert=unhook)
    assert outcome.error_type == "internal"
    refuses_from_now_on("callbacks")


# --- 3. Nothing of the script runs after its run ---------------------------------------------------

# Each script hands the host a list to write to; whatever of it runs after the run writes there.
LEFT_BEHIND = {
    "a generator kept by a class attribute": """
        def main(log):
            class Keeper:
                pass
            def pending():
                try:
                    yield 1
                finally:
                    log.append("finally ran")
            Keeper.it = pending()
            next(Keeper.it)
    """,
    "a generator kept by a class subscribed in typing (whose real caches kept such classes)": """
        import typing
        def main(log):
            class Keeper:
                pass
            def pending():
                try:
                    yield 1
                finally:
                    log.append("finally ran")
            Keeper.it = pending()
            next(Keeper.it)
            typing.List[Keeper]
    """,
    "__del__ reached through enum, kept by a host cache": """
        import enum, typing
        def main(log):
            def finaliser(self):
                log.append("__del__ ran")
            E = enum.Enum("E", [("__del__", finaliser), ("A", 1)])
            typing.List[E]
    """,
}


@pytest.mark.parametrize("code", LEFT_BEHIND.values(), ids=LEFT_BEHIND.keys())
def test_code_the_script_left_behind_never_runs_after_the_run(code):
    log: list[str] = []
    runner.run(compiled(code), Limits(), call="main", arguments=(log,))
    stopped = clear_host_caches()
    assert log == []
    assert set(stopped) <= {runner.FinishedRunStop}
    next_run_works()


def test_a_class_a_host_cache_keeps_is_emptied_at_the_end_of_the_run():
    # `cache` stands for any host cache that keeps what a script handed it (typing's did).
    cache: list[object] = []
    code = (
        "class Keeper:\n    data = [1, 2, 3]\n    def method(self):\n        return 1\n"
        "def main(cache):\n    cache.append(Keeper)"
    )
    runner.run(compiled(code), Limits(), call="main", arguments=(cache,))
    assert [cls.__name__ for cls in cache] == ["Keeper"]  # type: ignore[attr-defined]
    assert "data" not in vars(cache[0]) and "method" not in vars(cache[0])
    cache.clear()
    next_run_works()


def test_code_of_a_finished_run_stops_before_its_first_line():
    # The host itself holds on to generators of the script and resumes them afterwards: a paused
    # one stops at its first step; one never started was closed by the teardown, and runs nothing.
    kept: list[object] = []
    code = (
        "def main(kept):\n    def steps():\n        yield 0\n        kept.append('resumed')\n        yield 1\n"
        "    paused = steps()\n    next(paused)\n    kept.append(paused)\n    kept.append(steps())"
    )
    runner.run(compiled(code), Limits(), call="main", arguments=(kept,))
    with pytest.raises(runner.FinishedRunStop):
        next(kept[0])  # type: ignore[call-overload]
    with pytest.raises(StopIteration):
        next(kept[1])  # type: ignore[call-overload]
    assert kept[2:] == []
    kept.clear()
    next_run_works()


def test_code_one_trace_left_behind_cannot_run_in_the_next():
    # The runs of a batch share one builtins table (RunBuiltins): a `print` of the first run
    # writes to whichever run is current. Each trace runs on code objects of its own (afresh), so
    # the generator the first left behind, handed to the second as a host cache might, stops at
    # its first step instead of printing into the second run's output.
    kept: list[object] = []
    code = compiled(
        "def main(kept):\n"
        "    if kept:\n        print('second')\n        next(kept[0])\n"
        "    else:\n"
        "        def steps():\n            yield 0\n            print('left behind ran')\n            yield 1\n"
        "        paused = steps()\n        next(paused)\n        kept.append(paused)"
    )
    first = runner.run(code.afresh(), Limits(), call="main", arguments=(kept,))
    second = runner.run(code.afresh(), Limits(), call="main", arguments=(kept,))
    kept.clear()
    assert first.error is None, first
    assert second.output == "second" and "code of a finished run" in (second.error or ""), second
    next_run_works()


def test_each_trace_of_a_batch_runs_on_code_objects_of_its_own(monkeypatch):
    seen: list[set[int]] = []
    real = runner.run

    def spy(compiled: runner.Compiled, *args: object, **kwargs: object) -> runner.Outcome:
        seen.append(set(map(id, compiled.codes)))
        return real(compiled, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sandbox.evals, "run", spy)
    code = "def eval_x(trace):\n    return [n for n in range(2)] == [0, 1], 'ok'"
    batch = sandbox.evaluate(code, [{"trace_id": str(n), "data": n} for n in range(3)])
    assert [r.passed for r in batch.results] == [True] * 3
    assert len(seen) == 3 and all(len(codes) > 1 for codes in seen)
    assert not seen[0] & seen[1] and not seen[1] & seen[2] and not seen[0] & seen[2]


def test_a_run_that_changed_its_lent_builtins_table_makes_every_later_run_refuse(monkeypatch, faulted):
    # The table is lent to run after run (RunBuiltins); a script cannot reach it, but should one
    # write to it all the same, the host notices and stops.
    lent = runner._lent_builtins(ALL_IMPORTS.allowed_imports)  # what compiled() allows
    runner.run(compiled("x = 1"), Limits())  # made
    try:
        outcome = damaged_during_a_run(monkeypatch, lambda: lent.table.__setitem__("len", abs))
    finally:
        lent.table["len"] = lent.pristine["len"]
    assert outcome.error_type == "internal"
    refuses_from_now_on("the builtins table lent to its runs")


def test_a_run_begins_with_nothing_of_the_last_in_its_scope():
    lent = runner._lent_builtins(ALL_IMPORTS.allowed_imports)
    runner.run(compiled("import json\nclass C:\n    pass\nprint('first')"), Limits())
    scope = lent.scope
    assert scope is not None and scope.imported and scope.user_classes == set()  # emptied by the teardown
    kept = (scope.output, scope.imported, scope.nameable, scope.budget)
    outcome = runner.run(compiled("print(type(range(1)).__name__)"), Limits())
    assert outcome.output == "range"
    assert not scope.imported and scope.output.text() == "range\n"
    assert all(now is not then for now, then in zip((scope.output, scope.imported, scope.nameable,
                                                     scope.budget), kept, strict=True))  # fmt: skip


def test_a_run_imports_no_module():
    # A facade's module is imported when code is compiled under a policy allowing it: a module body
    # run inside a run would run under the script's budget and tracemalloc, after the host's
    # objects were frozen for the teardown.
    code = compiled("import " + ", ".join(sorted(sandbox.MAX_IMPORTS)) + "\nprint(statistics.mean([1, 2]))")
    before = set(sys.modules)
    outcome = runner.run(code, Limits())
    assert outcome.output == "1.5" and set(sys.modules) == before


IMPORT_PROBE = """
import sys
sys.path.insert(0, {src!r})
import sandbox
from sandbox import Policy, runner
loaded_with_package = sorted(name for name in {names!r} if name in sys.modules or "sandbox.facades." + name in sys.modules)
compiled = runner.compile_code("import statistics\\nprint(statistics.mean([1, 2]))", Policy.allowing(["statistics"]), sandbox.Limits())
before = set(sys.modules)
print(loaded_with_package, runner.run(compiled, sandbox.Limits()).output, sorted(set(sys.modules) - before))
"""


@pytest.mark.skipif(IN_PYODIDE, reason="Pyodide has no subprocesses")
def test_facades_and_their_modules_are_imported_when_a_policy_allows_them_not_with_the_package():
    # A fresh interpreter: importing the package imports none of the facades a policy may allow
    # (calendar, csv, urllib.parse and ipaddress, html.entities, pprint, hashlib, statistics: 120 ms
    # of a Pyodide start), and the run of code compiled under a policy imports nothing more.
    names = ["calendar", "csv", "urllib.parse", "html", "pprint", "hashlib", "statistics", "difflib"]
    probe = IMPORT_PROBE.format(src=str(Path(sandbox.__file__).parents[1]), names=names)
    finished = subprocess.run(
        [sys.executable, "-I", "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert finished.stdout.strip() == "[] 1.5 []", finished.stdout


@pytest.mark.skipif(IN_PYODIDE, reason="Pyodide has no subprocesses")
def test_the_cli_exits_after_printing_its_result(tmp_path):
    # Interpreter shutdown empties typing's cache after sys.monitoring has stopped working: the
    # generator's finally would loop there for ever and the process never exit.
    script = tmp_path / "stays.py"
    script.write_text(
        "import typing\nclass Keeper:\n    pass\ndef pending():\n    try:\n        yield 1\n"
        "    finally:\n        while True:\n            pass\n"
        "keeper = Keeper()\nkeeper.it = pending()\nnext(keeper.it)\ntyping.Literal[keeper]\nprint('printed')"
    )
    command = [sys.executable, "-m", "sandbox.cli", "exec", str(script), "--allow-imports", "typing"]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout)["output"] == "printed"


# --- 4. The host never reads what the script can still change ---------------------------------------


def test_a_reinitialised_budget_exception_cannot_change_the_report():
    code = """
x = []
for _ in range(5000):
    x = [x]
def spin():
    while True:
        pass
try:
    spin()
except BaseException as stop:
    super(type(stop), stop).__init__(x)
"""
    result = run(code, SHORT)
    assert (result.error_type, result.error) == (
        "timeout",
        "Execution timeout exceeded 250ms (the caller can raise timeoutMs to 5000)",
    )
    next_run_works()


def test_an_object_put_into_the_budget_exception_is_never_formatted():
    log: list[str] = []
    code = """
        class Message:
            def __str__(self):
                log.append("formatted")
                return "hostile"
            def __repr__(self):
                log.append("formatted")
                return "hostile"
        def spin():
            while True:
                pass
        def main(sink):
            global log
            log = sink
            try:
                spin()
            except BaseException as stop:
                super(type(stop), stop).__init__(Message())
                stop.add_note("note")
    """
    outcome = runner.run(compiled(code), SHORT, call="main", arguments=(log,))
    assert (outcome.error_type, outcome.error) == (
        "timeout",
        "Execution timeout exceeded 250ms (the caller can raise timeoutMs to 5000)",
    )
    assert log == []
    next_run_works()


def test_an_error_message_is_a_plain_string():
    code = "class Text(str):\n    pass\nclass Odd(Exception):\n    def __str__(self):\n        return Text('odd')\nraise Odd()"
    result = run(code)
    assert result.error == "Odd: odd (line 6)" and type(result.error) is str
    next_run_works()


# --- 5. C recursion cannot kill the interpreter ---------------------------------------------------

CHAINS = {
    "deque": "import collections\nx = collections.deque()\nfor _ in range(20000):\n    x = collections.deque([x])",
    "functools.partial": "import functools\nx = len\nfor _ in range(20000):\n    x = functools.partial(len, x)",
    "slice": "x = slice(1)\nfor _ in range(20000):\n    x = slice(x)",
    "list[...] alias": "x = int\nfor _ in range(20000):\n    x = list[x]",
    "exception arguments": "x = ValueError()\nfor _ in range(20000):\n    x = ValueError(x)",
    "a list subclass": "class L(list):\n    pass\nx = L()\nfor _ in range(20000):\n    x = L([x])",
    "instances of a class with a repr": (
        "class Node:\n    def __init__(self, inner):\n        self.inner = inner\n"
        "    def __repr__(self):\n        return 'Node'\nx = None\nfor _ in range(20000):\n    x = Node(x)"
    ),
    "a list holding every link of a chain": (
        "links = []\nx = []\nfor _ in range(20000):\n    x = [x]\n    links.append(x)\nlinks.reverse()\nx = links"
    ),
    "a ring": (
        "ring = [[] for _ in range(2000)]\nfor i in range(2000):\n    ring[i].append(ring[i - 1])\nx = [ring]"
    ),
}
USES = {
    "print": "print(x)",
    "repr": "repr(x)",
    "f-string": "f'{x}'",
    "format": "format(x, '')",
    "%": "'%s' % (x,)",
    "str.format": "'{}'.format(x)",
    "json.dumps": "import json\njson.dumps(x, default=str)",
    "raise": "raise ValueError(x)",
}


@pytest.mark.parametrize("use", USES.values(), ids=USES.keys())
@pytest.mark.parametrize("chain", CHAINS.values(), ids=CHAINS.keys())
def test_deep_structures_of_any_kind_are_refused_before_c_recursion(chain, use):
    result = contained(f"{chain}\n{use}", Limits())
    assert result.error_type == "runtime" and "nested deeper than" in result.error, result
    next_run_works()


def test_json_default_hook_cannot_nest_in_c():
    # Each object the hook returns needs the hook again: the C encoder would recurse once per call.
    code = "import json\nclass Box:\n    pass\nprint(json.dumps(Box(), default=lambda box: [Box()]))"
    result = contained(code, Limits())
    assert result.error_type == "runtime" and result.error.startswith("RecursionError"), result
    next_run_works()


def test_json_default_hook_still_works():
    code = "import json\nclass Box:\n    pass\nprint(json.dumps({'b': [Box()]}, default=lambda box: 'box'))"
    assert run(code).output == '{"b": ["box"]}'


def test_ordinary_shared_and_cyclic_data_still_prints():
    code = "shared = [1, 2]\nx = {'a': shared, 'b': shared, 'c': [shared] * 3}\nx['self'] = x\nprint(len(repr(x)))"
    assert run(code).success


FREED = {
    "a chain of lists": "x = []\nfor _ in range(20000):\n    x = [x]",
    "a chain of tuples": "x = ()\nfor _ in range(20000):\n    x = (x,)",
    # Containers too large to read in one batch, read in place a chunk at a time.
    **{
        f"a chain of tuples in a long {kind}": f"x = ()\nfor _ in range(20000):\n    x = (x,)\nholder = {holder}\nx = None"
        for kind, holder in (
            ("list", "[0] * 5000 + [x]"),
            ("tuple", "tuple([0] * 5000 + [x])"),
            ("dict", "{i: 0 for i in range(5000)} | {'x': x}"),
        )
    },
    "a chain of dicts": "x = {}\nfor _ in range(20000):\n    x = {'a': x}",
    "a chain of maps": "x = [1]\nfor _ in range(20000):\n    x = map(abs, x)",
    **{name: CHAINS[name] for name in ("deque", "functools.partial", "slice", "list[...] alias")},
    "a chain of exceptions": "x = ValueError()\nfor _ in range(20000):\n    x = ValueError(x)",
    # A ring through a built-in exception's own field, which the teardown once left to the collector.
    "a ring through StopIteration.value": (
        "class E(StopIteration):\n    pass\ne = E()\nc = e\nfor _ in range(20000):\n    c = (c, 0)\ne.value = c"
    ),
    "a ring through AttributeError.obj": (
        "class E(AttributeError):\n    pass\ne = E()\nc = e\nfor _ in range(20000):\n    c = (c, 0)\ne.obj = c"
    ),
    "a chain of instances": "class N:\n    pass\nx = None\nfor _ in range(20000):\n    n = N()\n    n.next = x\n    x = n",
    "a list holding every link, innermost first": CHAINS["a list holding every link of a chain"],
    "a cycle of lists": "first = []\nx = first\nfor _ in range(20000):\n    x = [x]\nfirst.append(x)\nx = first = None",
    "a cycle of instances": (
        "class N:\n    pass\nfirst = N()\nx = first\nfor _ in range(20000):\n    n = N()\n    n.next = x\n    x = n\n"
        "first.next = x\nx = first = n = None"
    ),
    "a chain on a class attribute": "class Keeper:\n    pass\nKeeper.x = []\nfor _ in range(20000):\n    Keeper.x = [Keeper.x]",
    # Closing the paused generator clears its frame, which alone held the chain.
    "a chain in a paused generator's frame": (
        "def g():\n    x = slice(1)\n    for _ in range(20000):\n        x = slice(x)\n    yield 1\n"
        "paused = g()\nnext(paused)"
    ),
    # Rings through what C keeps out of the emptier's reach, which the collector freed recursively:
    # the buffer a tee's copies share (filled by one copy while the other, never started, is held
    # in the ring), and an lru_cache's links (a key or a result that holds the function).
    "a ring through itertools.tee's shared buffer": (
        "from itertools import tee\nbuffered = []\na, b = tee(iter(buffered))\nc = a\n"
        "for _ in range(20000):\n    c = (c, 0)\nbuffered.append(c)\nnext(b)"
    ),
    "a ring through an lru_cache key": (
        "import functools\n@functools.lru_cache\ndef f(x):\n    return 1\nc = f\n"
        "for _ in range(20000):\n    c = (c, 0)\nf(iter(c))"
    ),
    "a ring through an lru_cache result": (
        "import functools\nbox = []\n@functools.lru_cache\ndef f(x):\n    return box[0]\nc = f\n"
        "for _ in range(20000):\n    c = (c, 0)\nbox.append(c)\nf(1)\nbox.clear()"
    ),
}


@pytest.mark.parametrize("code", FREED.values(), ids=FREED.keys())
def test_deep_structures_of_any_kind_are_freed_safely(code):
    # In Pyodide each of these, freed recursively, overflowed the WebAssembly stack at the end of
    # the run (or in the collector, for the cycles) and killed the interpreter.
    result = contained(f"{code}\nprint('built')", Limits())
    assert result.output == "built", result
    next_run_works()


def test_tee_copies_handed_out_counted_still_read_alike():
    code = (
        "import itertools\na, b = itertools.tee(iter([1, 2, 3]))\nc, d = itertools.tee(a)\n"
        "print(list(b), list(c), list(d), next(a, None), len(itertools.tee('xy', 3)))"
    )
    assert run(code, policy=ALL_IMPORTS).output == "[1, 2, 3] [1, 2, 3] [1, 2, 3] None 3"


# Rings of objects the teardown cannot empty, closed after they were made by a reused result tuple
# (a zip's, a dict items iterator's) and something the collector can clear (a frozenset, an
# itemgetter), with a chain of 20,000 tuples in the ring.
UNCUT_RINGS = {
    "zip and frozenset": "L = []\nz = zip(L)\nc = frozenset([z])\nfor _ in range(20000):\n    c = (c, 0)\n"
    "L.append(c)\nnext(z)\nc = None\nprint('built')",
    "dict items and itemgetter": "import operator\nd = {'k': 0}\nit = iter(d.items())\n"
    "c = operator.itemgetter(it)\nfor _ in range(20000):\n    c = (c, 0)\nd['k'] = c\nnext(it)\n"
    "c = None\nprint('built')",
    # 8,000 small rings, each hanging below the next: a collection a level once (56 times a 300 ms
    # budget in Pyodide, 22 on CPython).
    "nested rings": "below = None\nfor i in range(8000):\n    L = []\n    z = zip(L)\n"
    "    c = (frozenset([z]), (below,))\n    L.append(c)\n    next(z)\n    below = c\n"
    "L = z = c = None\nprint('built')",
}


@pytest.mark.parametrize("name", UNCUT_RINGS)
def test_a_ring_the_teardown_cannot_cut_is_kept_and_faults_the_interpreter(name, faulted):
    # The collector freed such a ring, and the chain in it recursively: Pyodide lost the isolate
    # with no result, and no fault. Kept for good now, the interpreter faulted, its runner replaced.
    limits = Limits(timeout_ms=300)
    started = time.perf_counter()
    result = sandbox.execute(UNCUT_RINGS[name], limits, ALL_IMPORTS)
    assert time.perf_counter() - started < 2 * limits.timeout_ms / 1000
    # On a slower machine the teardown's meter may end it first, with the same outcome for the
    # interpreter; the run's own result stands then.
    fault = runner.interpreter_fault()
    assert (fault, result.error_type) in {
        (runner._UNCUT_FAULT, "internal"),
        (runner._OVERRUN_FAULT, "timeout"),
    }
    refuses_from_now_on(fault)


def test_cycles_among_slotted_instances_are_cut_without_a_fault():
    # Emptying the class dropped its `__slots__` key before its instances were emptied, so their
    # slots were never cleared: an ordinary parent-linked tree faulted the interpreter.
    code = (
        "import dataclasses\n@dataclasses.dataclass(slots=True)\nclass Node:\n    name: str\n"
        "    parent: 'Node | None' = None\n    kids: tuple = ()\n@dataclasses.dataclass(slots=True)\n"
        "class Leaf(Node):\n    extra: object = None\nroot = Node('r')\nroot.kids = (Node('k', root),)\n"
        "leaf = Leaf('l', root)\nleaf.extra = leaf\nprint(root.kids[0].parent.name)"
    )
    assert run(code, policy=ALL_IMPORTS).output == "r"
    assert runner.interpreter_fault() is None


@pytest.mark.parametrize("argument", ["trace", "task", "task_metadata"])
def test_a_deep_structure_hung_on_the_runs_arguments_is_freed_safely(argument):
    # The trace, task and metadata were the host's (made before the run): a chain stored in them
    # was never the teardown's, and was freed recursively when the batch let the trace go, killing
    # the Pyodide interpreter after the trace had reported success.
    code = (
        "def eval_fn(task, task_metadata, trace, ctx):\n    x = None\n    for _ in range(20000):\n"
        f"        x = [x]\n    {argument}['deep'] = x\n    return True, 'ok'"
    )
    traces = [{"trace_id": "t", "data": {}}]
    batch = sandbox.evaluate(code, traces, task={"user_message": "hi"}, task_metadata={})
    assert [r.passed for r in batch.results] == [True], batch
    next_run_works()


def test_the_nesting_check_is_charged_to_the_budget():
    budget = StepBudget(Limits())
    check_nesting(budget, [[i] for i in range(1000)])
    assert budget.steps >= 1000


def test_work_charged_between_steps_does_not_keep_the_clock_from_being_read():
    # A loop that is charged on every iteration (a caught exception's cleaning) must still reach
    # the look at the clock: where no signal stops a run (Pyodide), that look is what ends it.
    budget = StepBudget(Limits(timeout_ms=1000))
    budget.start()
    budget.deadline = 0.0
    with pytest.raises(TimeLimitExceeded):
        for _ in range(10 * budget.limits.check_interval):
            budget.on_event(budget.user_code, 0)
            budget.charge(1)


def test_printing_a_large_structure_in_a_loop_runs_out_of_budget():
    code = "x = [[i] for i in range(20000)]\nwhile True:\n    repr(x)"
    result = run(code, SHORT)
    assert result.error_type == "timeout"


# --- 6. Analysis cannot crash -----------------------------------------------------------------------

ELIFS = "x = 1\nif x == 0:\n    pass\n" + "".join(f"elif x == {i}:\n    pass\n" for i in range(3000))
DEEP_SOURCE = {
    "3,000 elif clauses": ELIFS,
    "10,000 for clauses in one comprehension": "x = [1 "
    + " ".join("for a in b" for _ in range(10_000))
    + "]",
    "elif clauses in nested blocks": "def f(x):\n"
    + "".join(
        f"    {'if' if i == 0 else 'elif'} x == {i}:\n        for y in x:\n            pass\n"
        for i in range(300)
    ),
}


@pytest.mark.parametrize("source", DEEP_SOURCE.values(), ids=DEEP_SOURCE.keys())
def test_deep_code_is_a_validation_error(source):
    result = contained(source)
    assert result.error_type == "validation" and "nested deeper than" in result.error, result
    assert not sandbox.validate(source).valid
    next_run_works()


def test_analysis_running_out_of_stack_is_a_validation_error():
    # At the largest nesting a caller may ask for, the tree bound lets through more than the
    # recursive analyser can walk: it runs out of stack, which must be a result like any other.
    source = "x = 1\nif x == 0:\n    pass\n" + "".join(f"elif x == {i}:\n    pass\n" for i in range(480))
    result = run(source, Limits(nesting_depth=500))
    assert result.error_type == "validation" and result.error == runner.COMPLEXITY_MESSAGE, result
    next_run_works()


def test_ordinary_elif_chains_are_fine():
    code = "def grade(n):\n" + "".join(
        f"    {'if' if i == 0 else 'elif'} n == {i}:\n        return {i}\n" for i in range(50)
    )
    assert run(code + "print(grade(42))").output == "42"


def test_deep_code_over_http_is_a_validation_error():
    from sandbox import api
    from sandbox.log import run_now

    request = api.HttpRequest("POST", "/v1/execute", {}, json.dumps({"code": ELIFS}).encode(), {})
    answer = run_now(api.handle_http(request, api.Access(allow_unauthenticated=True), None))
    assert answer.status == 200 and answer.body["errorType"] == "validation", answer.body
    next_run_works()


@pytest.mark.parametrize(
    "code",
    [
        # The check on the value cannot see what the encoder builds as it goes: a cycle with the
        # encoder's own check switched off, a hook that keeps returning what needs the hook again.
        "import json\nl = []\nl.append(l)\njson.dumps(l, check_circular=False)",
        "import json\njson.dumps(0j, default=lambda o: [complex(1)])",
    ],
)
def test_json_encoding_that_keeps_nesting_ends_in_recursion_error(code):
    result = sandbox.execute(code, policy=sandbox.Policy(sandbox.MAX_IMPORTS))
    assert result.error_type == "runtime" and "RecursionError" in result.error, result
    next_run_works()


@pytest.mark.parametrize(
    "code",
    [
        # C callables that call back into Python cost more stack a level than a Python call.
        "import functools\n@functools.lru_cache(None)\ndef f(x):\n    return f(x + 1)\nf(0)",
        "import functools\n@functools.cache\ndef f(x):\n    return f(x + 1)\nf(0)",
        "import functools\ndef c(a, b):\n    sorted([0, 1], key=functools.cmp_to_key(c))\n    return 0\nc(0, 0)",
        "def k(x):\n    sorted([0, 1], key=k)\n    return 0\nk(0)",
    ],
)
def test_recursion_through_c_callbacks_at_the_maximum_depth_is_a_recursion_error(code):
    deepest = Limits(recursion_depth=MAXIMA["recursion_depth"])
    result = sandbox.execute(code, deepest, sandbox.Policy(sandbox.MAX_IMPORTS))
    assert result.error_type == "runtime" and "RecursionError" in result.error, result
    next_run_works()


def test_a_single_c_call_past_the_deadline_is_a_timeout():
    # list.count compares a long string once per reference, in one C call with no step to count;
    # the clock is read once more when the script returns.
    code = "s = 'a' * 10**6\nt = s[:-1] + 'a'\nL = [s] * 2000\nprint(L.count(t))"
    result = sandbox.execute(code, Limits(timeout_ms=10))
    assert result.error_type == "timeout", result
    next_run_works()


def test_what_a_refused_operation_held_is_freed_with_the_run():
    # The exception that stops a run holds its traceback's frames; a guard's frame held the data it
    # refused (`s * 100`: s), and the frame that raised held the exception: a cycle the teardown's
    # collection left for a later full collection (40 MB kept per request in Pyodide).
    for _ in range(3):
        result = sandbox.execute("s = [7] * 1_234_567\nt = s * 100")
        assert result.error_type == "memory", result
        left = [o for o in gc.get_objects() if type(o) is list and len(o) == 1_234_567]
        assert left == []
