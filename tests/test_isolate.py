"""Running requests in a runner isolate, everything that does not need the Workers runtime: the
runner's own logic, the payload given to the loader, and the front Worker's answers when the runner
fails (with a stand-in for the loader and RPC)."""

from __future__ import annotations

import ast
import importlib.util
import json
import marshal
import pathlib
import subprocess
import sys

import pytest

from sandbox import Limits, api, isolate, runner
from sandbox.llm import Gate
from sandbox.log import SqliteDatabase, run_now, write

from .support import IN_PYODIDE, runner_entrypoint

SRC = pathlib.Path(__file__).resolve().parents[1] / "src"
EVAL = "def eval_x(trace):\n    return trace['ok'], 'checked'"
TRACES = [{"trace_id": "a", "data": {"ok": True}}, {"trace_id": "b", "data": {"ok": False}}]
BINDING = api.Caller("binding:test")


# --- the runner's logic -------------------------------------------------------------------------------


def test_runner_handles_each_kind_with_plain_data():
    assert isolate.handle("execute", {"code": "print(6 * 7)"})["output"] == "42"
    batch = isolate.handle("evaluate", {"evalCode": EVAL, "traces": TRACES})
    assert [r["passed"] for r in batch["results"]] == [True, False]
    assert isolate.handle("validate", {"code": "import os"})["valid"] is False


def test_runner_applies_the_request_options():
    answer = isolate.handle(
        "execute", {"code": "import math\nwhile True:\n    pass", "allowImports": ["math"], "timeoutMs": 100}
    )
    assert (
        answer["errorType"] == "timeout"
        and answer["error"] == "Execution timeout exceeded 100ms (the caller can raise timeoutMs to 5000)"
    )


def test_runner_refuses_an_unusable_batch_as_data():
    answer = isolate.handle(
        "evaluate", {"evalCode": EVAL, "traces": [{"trace_id": "a", "data": {"x": {1, 2}}}]}
    )
    assert answer["refused"]["status"] == 400 and "not JSON data" in answer["refused"]["error"]


def test_a_batch_sent_as_json_text_is_not_walked_again(monkeypatch):
    # json.loads made it, and the front Worker bounded its nesting before parsing: the type walk
    # was a third of a batch's time. A batch handed over as objects is still walked (above).
    from sandbox import evals

    monkeypatch.setattr(evals, "_encode", lambda *args: pytest.fail("walked"))
    traces = [{"trace_id": name, "data": {"ok": name == "a"}} for name in ("a", "b")]
    answer = json.loads(isolate.handle_json("evaluate", json.dumps({"evalCode": EVAL, "traces": traces})))
    assert [(r["trace_id"], r["passed"]) for r in answer["results"]] == [("a", True), ("b", False)]


async def runner_text(kind: str, request: dict | str) -> str:
    """A call as the front Worker makes it: JSON text into the runner's main module, text back."""
    entry = runner_entrypoint(isolate.worker_code(7000)["modules"][isolate.RUNNER_MAIN]["py"])
    answer = await getattr(entry, kind)(request if isinstance(request, str) else json.dumps(request))
    assert isinstance(answer, str)
    return answer


def call_runner(kind: str, request: dict) -> dict:
    return json.loads(run_now(runner_text(kind, request)))


def test_runner_main_module_answers_each_kind_as_json_text():
    assert call_runner("execute", {"code": "print(6 * 7)"})["output"] == "42"
    batch = call_runner("evaluate", {"evalCode": EVAL, "traces": TRACES})
    assert [r["passed"] for r in batch["results"]] == [True, False]
    assert call_runner("validate", {"code": "import os"})["valid"] is False


def test_json_text_carries_what_object_conversion_would_lose():
    # A 70-bit int (a BigInt or a rounded Number in JavaScript), a lone surrogate (no valid UTF-16
    # conversion) and a null (undefined after to_js) come back exactly.
    code = "def eval_x(trace):\n    return trace['n'] == 1180591620717411303424, trace['s'] + str(trace['z'])"
    traces = [{"trace_id": "a", "data": {"n": 2**70, "s": "\ud800", "z": None}}]
    (result,) = call_runner("evaluate", {"evalCode": code, "traces": traces})["results"]
    assert (result["passed"], result["reason"]) == (True, "\ud800None")
    assert call_runner("execute", {"code": "print('\\ud800')"})["output"] == "\ud800"


# --- the payload the loader gets ------------------------------------------------------------------------


def test_worker_code_has_no_bindings_no_network_and_a_cpu_limit():
    code = isolate.worker_code(7000)
    assert code["env"] == {}
    assert "globalOutbound" in code and code["globalOutbound"] is None  # null once in JavaScript
    assert code["limits"] == {"cpuMs": 7000, "subRequests": 0}
    assert code["compatibilityDate"] >= "2026-09-08"  # Pyodide 314, as the front Worker runs
    # The runtime's own `workers` SDK: at this date it is left out unless the flag asks for it.
    assert code["compatibilityFlags"] == ["python_workers", "disable_python_external_sdk"]
    assert code["mainModule"] in code["modules"]


def test_worker_code_modules_are_the_deployed_sources_and_only_the_engine():
    modules = isolate.worker_code(7000)["modules"]
    assert modules["isolate_entry.py"] == {"py": (SRC / "isolate_entry.py").read_text()}
    for name in isolate.ENGINE_MODULES:
        assert modules[f"sandbox/{name}.py"] == {"py": (SRC / "sandbox" / f"{name}.py").read_text()}
    # The front Worker's parts (pydantic, the log, the CLI) stay out of the runner.
    assert not {"sandbox/api.py", "sandbox/log.py", "sandbox/cli.py", "entry.py"} & set(modules)


def test_worker_code_carries_each_engine_module_compiled_and_checked_against_its_source():
    # What the runner's import reads instead of compiling (PEP 552): this interpreter's magic
    # number, the flags of a checked hash-based file, the source's hash, then the code.
    modules = isolate.worker_code(7000)["modules"]
    for name in isolate.ENGINE_MODULES:
        folder, _, file = f"sandbox/{name}".rpartition("/")
        data = modules[f"{folder}/__pycache__/{file}.{sys.implementation.cache_tag}.pyc"]["data"]
        source = modules[f"sandbox/{name}.py"]["py"]
        assert data[:4] == importlib.util.MAGIC_NUMBER and int.from_bytes(data[4:8], "little") == 0b11
        assert data[8:16] == importlib.util.source_hash(source.encode())
        assert marshal.loads(data[16:]) == compile(source, f"sandbox/{name}.py", "exec", dont_inherit=True)
    assert sum(1 for module in modules.values() if "data" in module) == len(isolate.ENGINE_MODULES)


RUNNER_IMPORT_PROBE = """
import sys
from importlib import machinery
sys.dont_write_bytecode = True
sys.path.insert(0, {root!r})
compiled = []
to_code = machinery.SourceFileLoader.source_to_code
machinery.SourceFileLoader.source_to_code = lambda loader, data, path, *a, **k: compiled.append(path) or to_code(loader, data, path, *a, **k)
import sandbox
print(sorted(path.removeprefix({root!r}) for path in compiled))
"""


@pytest.mark.skipif(IN_PYODIDE, reason="Pyodide has no subprocesses")
def test_a_runner_imports_the_engine_without_compiling_it_and_compiles_a_source_its_bytecode_does_not_match(
    tmp_path,
):
    for name, module in isolate.worker_code(7000)["modules"].items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if "data" in module:
            path.write_bytes(module["data"])
        else:
            path.write_text(module["py"])

    def compiled() -> str:
        probe = RUNNER_IMPORT_PROBE.format(root=str(tmp_path))
        done = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True, check=True)
        return done.stdout.strip()

    assert compiled() == "[]"
    policy = tmp_path / "sandbox" / "policy.py"
    policy.write_text(policy.read_text() + "\n# changed after the bytecode was made\n")
    assert compiled() == "['/sandbox/policy.py']"


def test_engine_modules_import_the_standard_library_only():
    # Nothing else is vendored into the runner: every import is the standard library's or the
    # package's own.
    for name in isolate.ENGINE_MODULES:
        tree = ast.parse((SRC / "sandbox" / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                tops = {alias.name.partition(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                tops = {(node.module or "").partition(".")[0]}
            else:
                continue
            assert tops <= sys.stdlib_module_names | {"__future__"}, (name, tops)


def test_runner_ids_separate_callers_keys_cpu_limits_and_engine_versions():
    first = isolate.runner_base("token:abc", None, 7000)
    assert first == isolate.runner_base("token:abc", None, 7000)  # reused for the same caller
    assert first != isolate.runner_base("binding", None, 7000)  # never shared across callers
    assert first != isolate.runner_base("token:abc", "tenant-1", 7000)  # nor across keys
    assert first != isolate.runner_base("token:abc", None, 32000)  # the CPU limit is fixed per isolate
    assert isolate.engine_version() in first
    # The parts cannot run into each other: a caller and key that concatenate alike stay apart.
    assert isolate.runner_base("a", "bc", 7000) != isolate.runner_base("ab", "c", 7000)
    assert isolate.runner_base("binding", "\ud800", 7000)  # any text a key may hold


def test_cpu_limit_sits_above_the_engine_budget_on_a_few_tiers():
    margin = isolate.CPU_MARGIN_MS
    assert isolate.cpu_ms("execute", {"timeoutMs": 1000}) == 1000 + margin
    assert isolate.cpu_ms("execute", {"timeoutMs": 1}) == 1000 + margin
    assert isolate.cpu_ms("execute", {"timeoutMs": 1001}) == 5000 + margin
    assert isolate.cpu_ms("execute", {}) == 5000 + margin
    assert isolate.cpu_ms("validate", {}) == 5000 + margin
    assert isolate.cpu_ms("evaluate", {}) == 30000 + margin
    # Every timeoutMs a request may ask for lands on one of three runner isolates per caller.
    limits = {isolate.cpu_ms("execute", {"timeoutMs": ms}) for ms in range(1, Limits().timeout_ms + 1)}
    assert limits == {1000 + margin, 5000 + margin}


# --- the front Worker when the runner fails -------------------------------------------------------------


OWN_ANSWER = object()


def runner_that(fails_with: str | None = None, answers: object = OWN_ANSWER):
    """The front Worker's executor with a runner that works, dies with `fails_with`, or sends
    `answers` in place of its own answer."""

    async def call(kind, request, placement, llm):
        if fails_with is not None:
            raise RuntimeError(fails_with)
        return await runner_text(kind, request) if answers is OWN_ANSWER else answers

    async def executor(kind, request, caller, llm):
        return await isolate.through_runner(
            call, api.check_answer, kind, request, caller, isolate.RunnerSlots(), llm
        )

    return executor


@pytest.mark.parametrize(
    ("message", "error_type"),
    [
        ("Worker exceeded CPU time limit.", "timeout"),
        ("The Worker was terminated because it exceeded its memory limit.", "internal"),
        ("Network connection lost.", "internal"),
        ("Internal error in the isolate", "internal"),
    ],
)
def test_runner_failure_becomes_a_structured_result(message, error_type, capsys):
    answer = run_now(
        api.rpc("execute", {"code": "any(iter(int, 1))"}, BINDING, runner_that(message), "isolate")
    )
    assert answer.status == 200
    assert answer.body["success"] is False and answer.body["errorType"] == error_type
    assert ("timeout" in answer.body["error"].lower()) == (error_type == "timeout")
    assert message in capsys.readouterr().err  # the details are logged, not answered
    assert answer.log.mode == "isolate"


def test_killed_runner_marks_every_trace_of_the_batch(capsys):
    answer = run_now(
        api.rpc(
            "evaluate",
            {"evalCode": EVAL, "traces": TRACES},
            BINDING,
            runner_that("exceeded CPU time limit"),
            "isolate",
        )
    )
    assert [r["errorType"] for r in answer.body["results"]] == ["timeout", "timeout"]
    assert answer.body["summary"]["timeouts"] == 2


def test_the_next_request_after_a_killed_runner_works(capsys):
    run_now(api.rpc("execute", {"code": "x"}, BINDING, runner_that("exceeded CPU time limit"), "isolate"))
    answer = run_now(api.rpc("execute", {"code": "print('fine')"}, BINDING, runner_that(None), "isolate"))
    assert answer.body["output"] == "fine"


def test_log_rows_and_health_say_which_mode_ran(capsys):
    db = SqliteDatabase(":memory:")
    answer = run_now(
        api.rpc("evaluate", {"evalCode": EVAL, "traces": TRACES}, BINDING, runner_that(None), "isolate")
    )
    assert run_now(write(db, answer.log))
    assert run_now(db.query("SELECT mode FROM executions")) == [{"mode": "isolate"}]
    health = run_now(
        api.handle_http(
            api.HttpRequest("GET", "/v1/health", {}), api.Access(), None, runner_that(None), "isolate"
        )
    )
    assert health.body["mode"] == "isolate"


# --- the front Worker when the runner's answer is forged --------------------------------------------------
# An escape from the engine inside a runner could answer anything; the front Worker reads it as data.


@pytest.mark.parametrize(
    "answer",
    [
        "[" * 10_000 + "]" * 10_000,  # json.loads would overflow Pyodide's stack: the front Worker dies
        '{"output": ' + "[" * 5_000 + "]" * 5_000 + "}",
        "1" * 5_000,  # past the int digit limit
        "not JSON",
        "[1, 2]",
        42,
        None,
        '{"refused": {"status": 200, "code": "ok", "error": "forged"}}',
    ],
    ids=["deep", "deep-inside", "digits", "text", "array", "number", "none", "refusal"],
)
def test_a_forged_answer_becomes_an_internal_result(answer, capsys):
    body = run_now(api.rpc("execute", {"code": "x"}, BINDING, runner_that(answers=answer), "isolate")).body
    assert (body["success"], body["errorType"]) == (False, "internal")
    assert "forged" not in json.dumps(body)


def test_a_forged_answer_cannot_pass_for_a_timeout(capsys):
    # The front Worker tells a kill at the CPU limit by the runtime's message; an answer that
    # merely mentions one is malformed, whatever it says.
    forged = json.dumps({"success": "exceeded CPU time limit", "executionTimeMs": 1})
    body = run_now(api.rpc("execute", {"code": "x"}, BINDING, runner_that(answers=forged), "isolate")).body
    assert (body["errorType"], body["error"]) == ("internal", "The runner isolate failed before answering")


def test_a_forged_refusal_of_a_batch_is_not_passed_on(capsys):
    forged = json.dumps({"refused": {"status": 401, "code": "unauthorized", "error": "forged"}})
    answer = run_now(
        api.rpc(
            "evaluate",
            {"evalCode": EVAL, "traces": TRACES},
            BINDING,
            runner_that(answers=forged),
            "isolate",
        )
    )
    assert answer.status == 200
    assert [r["errorType"] for r in answer.body["results"]] == ["internal", "internal"]


def test_a_real_refusal_of_a_batch_is_passed_on():
    request = {"evalCode": EVAL, "traces": [{"trace_id": "a", "data": {"x": "y" * (300 * 1024)}}]}
    answer = run_now(api.rpc("evaluate", request, BINDING, runner_that(), "isolate"))
    assert (answer.status, answer.body["code"]) == (413, "payload_too_large")


def test_an_answer_of_the_wrong_shape_is_an_internal_result_and_the_next_request_works(capsys):
    forged = json.dumps({"success": "yes", "output": ["forged"]})
    answer = run_now(api.rpc("execute", {"code": "x"}, BINDING, runner_that(answers=forged), "isolate"))
    assert (answer.body["success"], answer.body["errorType"]) == (False, "internal")
    assert "forged" not in json.dumps(answer.body)
    after = run_now(api.rpc("execute", {"code": "print('next')"}, BINDING, runner_that(), "isolate"))
    assert after.body["output"] == "next"


# --- who shares a runner, and recycling -------------------------------------------------------------------


class StandInLoader:
    """The Worker Loader as the front Worker uses it: one runner per named id, started on first use
    and kept; a new runner for every unnamed one. A runner can be made to die on its next call
    (`kill_next`) or to answer with something else (`answer_next`)."""

    def __init__(self) -> None:
        self.runners: dict[str, object] = {}
        self.started: list[str | None] = []  # the id of every runner started; None when unnamed
        self.used: list[object] = []  # the runner each call reached
        self.sent: list[dict] = []
        self.kill_next: str | None = None
        self.answer_next: object = OWN_ANSWER
        self.now = 0.0
        # The cap on fresh runners has tests of its own; here a caller starts as many as a test needs.
        self.ids = isolate.RunnerSlots(clock=lambda: self.now, fresh_per_caller=1_000)

    def runner(self, placement: isolate.Placement) -> object:
        if placement.runner_id is not None and placement.runner_id in self.runners:
            return self.runners[placement.runner_id]
        self.started.append(placement.runner_id)
        runner = runner_entrypoint(
            isolate.worker_code(placement.cpu_ms)["modules"][isolate.RUNNER_MAIN]["py"]
        )
        if placement.runner_id is not None:
            self.runners[placement.runner_id] = runner
        return runner

    async def call(self, kind: str, text: str, placement: isolate.Placement, llm: Gate | None) -> object:
        runner = self.runner(placement)
        self.used.append(runner)
        self.sent.append(json.loads(text))
        if self.kill_next is not None:
            message, self.kill_next = self.kill_next, None
            raise RuntimeError(message)
        if self.answer_next is not OWN_ANSWER:
            answer, self.answer_next = self.answer_next, OWN_ANSWER
            return answer
        return await getattr(runner, kind)(text)

    async def executor(self, kind: str, request: dict, caller: str, llm: Gate | None) -> dict:
        return await isolate.through_runner(self.call, api.check_answer, kind, request, caller, self.ids, llm)

    def execute(self, caller: str = "binding:test", **options: object) -> dict:
        request = {"code": "print('ran')", **options}
        return run_now(api.rpc("execute", request, api.Caller(caller), self.executor, "isolate")).body


def test_two_isolation_keys_never_share_a_runner_and_one_key_keeps_its_own():
    loader = StandInLoader()
    loader.execute(isolationKey="tenant-a")
    loader.execute(isolationKey="tenant-b")
    loader.execute(isolationKey="tenant-a")
    first_a, first_b, second_a = loader.used
    assert first_a is not first_b
    assert second_a is first_a  # warm: the same runner
    assert len(loader.started) == 2 and None not in loader.started


def test_no_key_is_a_key_of_its_own_and_callers_stay_apart():
    loader = StandInLoader()
    loader.execute()
    loader.execute(isolationKey="tenant-a")
    loader.execute(caller="token:other")
    loader.execute(caller="token:other", isolationKey="tenant-a")
    assert len({id(runner) for runner in loader.used}) == 4


def test_fresh_isolation_never_reuses_a_runner_and_names_none():
    loader = StandInLoader()
    for _ in range(3):
        assert loader.execute(isolationKey="tenant-a", isolation="fresh")["output"] == "ran"
    assert loader.started == [None, None, None]
    assert len({id(runner) for runner in loader.used}) == 3
    # Nor does a fresh request reach the key's warm runner, or the other way round.
    loader.execute(isolationKey="tenant-a")
    loader.execute(isolationKey="tenant-a", isolation="fresh")
    assert len({id(runner) for runner in loader.used}) == 5


def test_the_runner_never_sees_the_placement_fields():
    loader = StandInLoader()
    loader.execute(isolationKey="tenant-a", isolation="warm")
    assert loader.sent == [{"code": "print('ran')", "allowImports": []}]


@pytest.mark.parametrize(
    ("failure", "how"),
    [
        ("kill_next", "Worker exceeded CPU time limit."),
        ("kill_next", "The Worker was terminated because it exceeded its memory limit."),
        ("kill_next", "Network connection lost."),  # a crash
        ("answer_next", "[" * 10_000 + "]" * 10_000),
        ("answer_next", '{"success": "yes"}'),  # the wrong shape
        ("answer_next", 42),
        ("answer_next", '{"success": true, "executionTimeMs": 1, "runnerFault": ["not", "text"]}'),
        ("answer_next", "{}"),
    ],
    ids=["cpu", "memory", "crash", "deep", "shape", "not-text", "fault-not-text", "empty"],
)
def test_a_runner_that_failed_is_never_called_again(failure, how, capsys):
    loader = StandInLoader()
    loader.execute(isolationKey="tenant-a")
    setattr(loader, failure, how)
    failed = loader.execute(isolationKey="tenant-a")
    assert (failed["success"], failed["errorType"]) in {(False, "timeout"), (False, "internal")}
    after = loader.execute(isolationKey="tenant-a")
    assert after["output"] == "ran"
    first, dead, replacement = loader.used
    assert dead is first and replacement is not first
    assert loader.started[1] != loader.started[0] and loader.started[1].endswith("-1")
    # Other keys keep their runners.
    loader.execute(isolationKey="tenant-b")
    loader.execute(isolationKey="tenant-b")
    assert loader.used[-1] is loader.used[-2]


def test_a_runner_whose_interpreter_is_faulted_is_recycled_after_its_answer(monkeypatch, capsys):
    loader = StandInLoader()
    loader.execute(isolationKey="tenant-a")
    # Sound before the run, faulted after it: the run is what damaged the interpreter.
    checks = iter([None, "builtins table changed"])
    monkeypatch.setattr(runner, "interpreter_fault", lambda: next(checks))
    answer = loader.execute(isolationKey="tenant-a")
    monkeypatch.undo()
    # The run's own answer is kept, without the flag; the runner goes.
    assert answer == {"success": True, "output": "ran", "executionTimeMs": answer["executionTimeMs"]}
    assert "builtins table changed" in capsys.readouterr().err
    loader.execute(isolationKey="tenant-a")
    assert loader.used[2] is not loader.used[0] and len(loader.started) == 2


def test_a_faulted_runner_asked_again_runs_nothing(monkeypatch):
    # A front Worker that restarted has forgotten the recycle and may reach the runner again.
    monkeypatch.setattr(runner, "interpreter_fault", lambda: "builtins table changed")
    answer = json.loads(run_now(runner_text("execute", {"code": "print('should not run')"})))
    assert answer == {isolate.RUNNER_FAULT: "builtins table changed"}


def test_the_front_worker_answers_a_refusal_to_run_as_an_internal_result(monkeypatch, capsys):
    loader = StandInLoader()
    loader.answer_next = json.dumps({isolate.RUNNER_FAULT: "x" * 10_000})
    answer = loader.execute(isolationKey="tenant-a")
    assert (answer["success"], answer["errorType"]) == (False, "internal")
    logged = capsys.readouterr().err
    assert "x" * isolate.FAULT_LOG_CHARS in logged and "x" * (isolate.FAULT_LOG_CHARS + 1) not in logged
    loader.execute(isolationKey="tenant-a")
    assert len(loader.started) == 2


def test_a_forged_fault_cannot_touch_another_keys_runner(capsys):
    loader = StandInLoader()
    loader.execute(isolationKey="tenant-b")
    loader.answer_next = json.dumps({"success": True, "executionTimeMs": 1.0, isolate.RUNNER_FAULT: "boom"})
    loader.execute(isolationKey="tenant-a")
    loader.execute(isolationKey="tenant-b")
    assert loader.used[2] is loader.used[0]


def test_requests_in_flight_when_a_runner_fails_recycle_it_once():
    slots = isolate.RunnerSlots()
    first = slots.place("execute", {"isolationKey": "k"}, "binding:a")
    same = slots.place("execute", {"isolationKey": "k"}, "binding:a")
    slots.recycle(first)
    slots.recycle(same)  # the second failure of the same runner
    assert slots.place("execute", {"isolationKey": "k"}, "binding:a").runner_id.endswith("-1")
    assert len(slots.live) == 1


def place(slots: isolate.RunnerSlots, caller: str, key: str) -> str | None:
    return slots.place("execute", {"isolationKey": key}, caller).runner_id


def test_a_recycled_runner_keeps_its_place_and_never_takes_another():
    # Each crash-and-recycle used up one of the named places for good: three crashes with the cap at
    # 3 made every new tenant's request a cold start.
    slots = isolate.RunnerSlots(max_named=3)
    for _ in range(10):
        slots.recycle(slots.place("execute", {"isolationKey": "crashing"}, "binding:a"))
        slots.failures.clear()  # the backoff is another test's
    assert len(slots.live) == 1
    assert place(slots, "binding:b", "tenant") is not None


def test_a_caller_past_its_quota_loses_its_own_least_recently_used_runner():
    slots = isolate.RunnerSlots(max_named=8, per_caller=2)
    other = place(slots, "binding:b", "theirs")
    first, second = place(slots, "binding:a", "k0"), place(slots, "binding:a", "k1")
    place(slots, "binding:a", "k0")  # k0 used again: k1 is now the least recently used
    assert place(slots, "binding:a", "k2") is not None
    assert {base for base, (caller, _) in slots.live.items() if caller == "binding:a"} == {
        first.rpartition("-")[0],
        place(slots, "binding:a", "k2").rpartition("-")[0],
    }
    assert second.rpartition("-")[0] not in slots.live
    assert place(slots, "binding:b", "theirs") == other  # untouched


def test_a_caller_under_its_fair_share_takes_the_lru_runner_of_a_caller_over_it():
    # With every place held by tenant A, tenant B got cold unnamed runners for good.
    slots = isolate.RunnerSlots(max_named=4, per_caller=4)
    held = [place(slots, "binding:a", f"k{n}") for n in range(4)]
    place(slots, "binding:a", "k0")  # k0 used again: k1 is A's least recently used
    mine = place(slots, "binding:b", "b")
    assert mine is not None and held[1].rpartition("-")[0] not in slots.live
    for n in (0, 2, 3, 0, 2, 3):  # A busy on the runners it kept: all warm
        assert place(slots, "binding:a", f"k{n}") == held[n]
    assert place(slots, "binding:b", "b") == mine  # B's second request: warm
    # A, over its share (3 of 4 between two callers), takes nobody's place for a new key: it runs
    # unnamed, and B's runner stays.
    assert place(slots, "binding:a", "k1") is None
    assert place(slots, "binding:b", "b") == mine


def test_a_caller_at_its_fair_share_runs_unnamed_until_a_runner_is_idle():
    now = [0.0]
    slots = isolate.RunnerSlots(max_named=4, per_caller=4, clock=lambda: now[0])
    held = [place(slots, "binding:a", "a0"), place(slots, "binding:a", "a1")]
    held += [place(slots, "binding:b", "b0"), place(slots, "binding:b", "b1")]
    assert place(slots, "binding:b", "b2") is None  # at its share (2 of 4), and nothing idle
    assert [place(slots, "binding:a", key) for key in ("a0", "a1")] == held[:2]
    now[0] += isolate.IDLE_SECONDS + 1
    assert place(slots, "binding:b", "b2") is not None  # an idle one gives way
    assert len(slots.live) == 4


def test_an_evicted_key_never_gets_a_recycled_id_back():
    slots = isolate.RunnerSlots(max_named=8, per_caller=1)
    failed = slots.place("execute", {"isolationKey": "k0"}, "binding:a")
    slots.recycle(failed)
    place(slots, "binding:a", "k1")  # evicts k0
    assert place(slots, "binding:a", "k0") not in {None, failed.runner_id}


def test_a_key_whose_runners_keep_failing_backs_off_and_others_do_not():
    now = [0.0]
    slots = isolate.RunnerSlots(clock=lambda: now[0])
    for _ in range(isolate.FAILURES_BEFORE_BACKOFF):
        slots.recycle(slots.place("execute", {"isolationKey": "crash"}, "binding:a"))
    with pytest.raises(isolate.RunnerBackoff) as backoff:
        slots.place("execute", {"isolationKey": "crash", "isolation": "fresh"}, "binding:a")
    assert backoff.value.retry_after == isolate.BACKOFF_SECONDS
    assert place(slots, "binding:a", "other-key") is not None
    assert place(slots, "binding:b", "crash") is not None  # the same key of another caller
    now[0] += isolate.BACKOFF_SECONDS
    for _ in range(isolate.FAILURES_BEFORE_BACKOFF):  # a second round waits twice as long
        slots.recycle(slots.place("execute", {"isolationKey": "crash"}, "binding:a"))
    with pytest.raises(isolate.RunnerBackoff) as backoff:
        place(slots, "binding:a", "crash")
    assert backoff.value.retry_after == 2 * isolate.BACKOFF_SECONDS


def test_a_caller_crashing_under_a_new_key_each_time_backs_off_too():
    slots = isolate.RunnerSlots()
    for n in range(isolate.CALLER_FAILURES_BEFORE_BACKOFF):
        slots.recycle(slots.place("execute", {"isolationKey": f"new-{n}"}, "binding:a"))
    with pytest.raises(isolate.RunnerBackoff, match="of this caller failed"):
        place(slots, "binding:a", "yet-another")
    assert place(slots, "binding:b", "new-0") is not None


def test_a_backing_off_key_gets_429_with_retry_after():
    loader = StandInLoader()
    for _ in range(isolate.FAILURES_BEFORE_BACKOFF):
        loader.kill_next = "Network connection lost."
        loader.execute(isolationKey="crash")
    started = len(loader.started)
    answer = run_now(
        api.rpc("execute", {"code": "1", "isolationKey": "crash"}, BINDING, loader.executor, "isolate")
    )
    assert (answer.status, answer.body["code"], answer.body["retryAfter"]) == (429, "runner_backoff", 30)
    assert answer.headers == {"retry-after": "30"} and len(loader.started) == started


def test_remembered_generations_and_failures_are_bounded(monkeypatch):
    monkeypatch.setattr(isolate, "MAX_REMEMBERED", 5)
    slots = isolate.RunnerSlots(per_caller=1)
    for n in range(20):
        slots.recycle(slots.place("execute", {"isolationKey": f"k{n}"}, f"binding:{n % 2}"))
    assert len(slots.generations) <= 5 and len(slots.failures) <= 5


def test_isolation_fields_are_checked_like_every_field():
    loader = StandInLoader()
    for options, fragment in [
        ({"isolationKey": ""}, "isolationKey"),
        ({"isolationKey": "k" * 129}, "isolationKey"),
        ({"isolationKey": 7}, "isolationKey"),
        ({"isolation": "shared"}, "isolation"),
    ]:
        body = loader.execute(**options)
        assert body["code"] == "bad_request" and fragment in body["error"], body
    assert loader.execute(isolationKey="k" * 128)["output"] == "ran"
    assert loader.started == [loader.started[0]]  # nothing refused reached a runner


def test_validate_and_evaluate_take_the_isolation_fields_too():
    loader = StandInLoader()
    check = run_now(
        api.rpc("validate", {"code": "x = 1", "isolationKey": "k", "isolation": "fresh"}, BINDING,
                loader.executor, "isolate")
    )  # fmt: skip
    assert check.body["valid"] is True
    batch = run_now(
        api.rpc("evaluate", {"evalCode": EVAL, "traces": TRACES, "isolationKey": "k"}, BINDING,
                loader.executor, "isolate")
    )  # fmt: skip
    assert [r["passed"] for r in batch.body["results"]] == [True, False]
    assert loader.started[0] is None and loader.started[1] is not None


# --- without a loader ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "payload"),
    [("execute", {"code": "print(1)"}), ("evaluate", {"evalCode": EVAL, "traces": TRACES})],
)
def test_without_a_loader_untrusted_code_is_refused_with_how_to_enable_it(kind, payload):
    answer = run_now(api.rpc(kind, payload, BINDING, api.without_isolation, "none"))
    assert (answer.status, answer.body["code"]) == (503, "no_isolation")
    assert "LOADER" in answer.body["error"] and 'SANDBOX_IN_PROCESS = "true"' in answer.body["error"]
    over_http = run_now(
        api.handle_http(
            api.HttpRequest("POST", f"/v1/{kind}", {}, json.dumps(payload).encode()),
            api.Access(allow_unauthenticated=True),
            None,
            api.without_isolation,
            "none",
        )
    )
    assert (over_http.status, over_http.body["code"]) == (503, "no_isolation")


def test_without_a_loader_validate_still_answers_and_health_says_none():
    answer = run_now(api.rpc("validate", {"code": "import os"}, BINDING, api.without_isolation, "none"))
    assert answer.body["valid"] is False
    health = run_now(
        api.handle_http(
            api.HttpRequest("GET", "/v1/health", {}), api.Access(), None, api.without_isolation, "none"
        )
    )
    assert health.body["mode"] == "none"


def test_the_log_schema_names_every_mode_a_row_can_have():
    # isolate, in-process and none come from src/entry.py, cli from `sandbox exec --log`.
    schema = (SRC.parent / "migrations" / "0001_execution_log.sql").read_text()
    (line,) = [line for line in schema.splitlines() if line.strip().startswith("mode ")]
    documented = set(line.partition("--")[2].replace("|", " ").split())
    assert {"isolate", "in-process", "none", "cli"} <= documented


# --- what crosses RPC (found by attacking the Worker layer) --------------------------------------------


def test_request_text_is_not_escaped_to_ascii_and_reads_back_the_same():
    # 12 MB of "é" became 36 MB escaped to ASCII, past the runtime's 32 MiB limit for one RPC message.
    value = {"traces": [{"trace_id": "t", "data": "é" * 1000 + "\ud800 \U0001f600 \x00"}]}
    text = isolate.rpc_text(value)
    assert json.loads(text) == value and "é" in text
    assert isolate.rpc_bytes("é" * 1000) == 1000  # Latin-1: a byte a character
    assert isolate.rpc_bytes("中" * 1000) == 2000 and isolate.rpc_bytes("\U0001f600") == 4


def test_a_request_that_would_not_fit_two_bytes_a_character_crosses_with_those_escaped(monkeypatch):
    monkeypatch.setattr(isolate, "MAX_RPC_TEXT_BYTES", 10_000)
    value = {"data": "x" * 6_000 + "中\U0001f600\ud800"}  # one wide character makes all of it two bytes
    text = isolate.rpc_text(value)
    assert isolate.rpc_bytes(text) <= 10_000 and "\\u4e2d" in text and "\\ud83d\\ude00" in text
    assert json.loads(text) == value
    with pytest.raises(isolate.RpcTooLarge):
        isolate.rpc_text({"data": "中" * 6_000})


def test_a_request_too_large_for_rpc_is_refused_before_any_runner_is_asked(monkeypatch):
    monkeypatch.setattr(isolate, "MAX_RPC_TEXT_BYTES", 10_000)
    loader = StandInLoader()
    answer = run_now(
        api.rpc("evaluate", {"evalCode": EVAL, "traces": [{"trace_id": "a", "data": "中" * 6_000}]},
                BINDING, loader.executor, "isolate")
    )  # fmt: skip
    assert (answer.status, answer.body["code"]) == (413, "payload_too_large"), answer.body
    assert loader.started == [] and not loader.ids.failures


def test_an_answer_past_the_rpc_limit_is_refused_and_the_runner_kept(capsys):
    # 1,000 traces of 34,000 characters each broke the limit: every result `internal`, the healthy
    # runner recycled, and the fourth such batch refused with 429.
    loader = StandInLoader()
    for _ in range(isolate.FAILURES_BEFORE_BACKOFF + 1):
        loader.kill_next = "Serialized RPC arguments or return values are limited to 32MiB, but the size …"
        answer = run_now(api.rpc("execute", {"code": "print(1)", "isolationKey": "big"}, BINDING,
                                 loader.executor, "isolate"))  # fmt: skip
        assert (answer.status, answer.body["code"]) == (413, "payload_too_large"), answer.body
    assert len(loader.started) == 1 and not loader.ids.failures
    assert loader.execute(isolationKey="big")["output"] == "ran"


def test_a_batchs_output_is_cut_at_the_answer_text_budget_and_every_trace_still_judged(monkeypatch):
    monkeypatch.setattr(isolate, "MAX_ANSWER_TEXT", 1_000)
    loader = StandInLoader()
    code = "def eval_x(trace):\n    print('x' * 400)\n    return True, 'ok'"
    traces = [{"trace_id": str(n), "data": 0} for n in range(5)]
    answer = run_now(api.rpc("evaluate", {"evalCode": code, "traces": traces}, BINDING, loader.executor,
                             "isolate"))  # fmt: skip
    marker = isolate.ANSWER_CUT_MARKER.format(limit=1_000)
    assert answer.status == 200 and answer.body["summary"]["passed"] == 5
    outputs = [r["output"] for r in answer.body["results"]]
    assert outputs[0] == "x" * 400 and outputs[1] == "x" * 400
    assert [len(o.removesuffix(marker)) for o in outputs[2:]] == [200 - 4, 0, 0]  # "ok" reasons count
    assert all(o.endswith(marker) for o in outputs[2:])


def test_an_executes_error_text_is_cut_at_the_answer_text_budget(monkeypatch):
    monkeypatch.setattr(isolate, "MAX_ANSWER_TEXT", 1_000)
    answer = StandInLoader().execute(code="raise ValueError('é' * 5_000)")
    assert answer["errorType"] == "runtime" and len(answer["error"]) < 1_100
    assert answer["error"].endswith(isolate.ANSWER_CUT_MARKER.format(limit=1_000))


def test_a_caller_starting_fresh_runners_at_its_limit_gets_429_and_others_do_not():
    # Six fresh requests at once from one caller held another caller's warm request 10-20 s.
    now = [0.0]
    slots = isolate.RunnerSlots(clock=lambda: now[0])
    fresh = {"isolation": "fresh"}
    starting = [slots.enter("execute", fresh, "binding:a") for _ in range(isolate.FRESH_PER_CALLER)]
    with pytest.raises(isolate.RunnerBusy) as busy:
        slots.enter("execute", fresh, "binding:a")
    assert busy.value.retry_after == isolate.BUSY_RETRY_SECONDS and busy.value.code == "too_many_requests"
    assert slots.enter("execute", {"isolationKey": "new"}, "binding:a").runner_id  # named: its places
    assert slots.enter("execute", fresh, "binding:b").runner_id is None  # another caller's own
    slots.leave(starting.pop())
    # Ended, a fresh start still holds its place until FRESH_HOLD_SECONDS after it began: local
    # workerd starts one runner at a time, and a burst's later requests found the first ones ended.
    with pytest.raises(isolate.RunnerBusy):
        slots.enter("execute", fresh, "binding:a")
    now[0] += isolate.FRESH_HOLD_SECONDS
    slots.leave(slots.enter("execute", fresh, "binding:a"))


def test_a_caller_with_too_many_requests_running_gets_429():
    slots = isolate.RunnerSlots(requests_per_caller=3)
    running = [slots.enter("execute", {}, "binding:a") for _ in range(3)]
    with pytest.raises(isolate.RunnerBusy, match="3 requests running"):
        slots.enter("execute", {}, "binding:a")
    slots.enter("execute", {}, "binding:b")
    for placement in running:
        slots.leave(placement)
    assert "binding:a" not in slots.running


def test_a_busy_caller_gets_429_with_retry_after_and_a_failed_request_leaves_its_count():
    loader = StandInLoader()
    loader.kill_next = "Network connection lost."
    loader.execute(isolation="fresh")
    assert not loader.ids.running  # counted out, though it failed
    assert loader.execute()["output"] == "ran"  # its warm runner, started
    loader.ids.fresh_per_caller = len(loader.ids.starting["binding:test"])  # its one start, held
    answer = run_now(
        api.rpc("execute", {"code": "1", "isolation": "fresh"}, BINDING, loader.executor, "isolate")
    )
    assert (answer.status, answer.body["code"]) == (429, "too_many_requests")
    assert answer.headers == {"retry-after": str(isolate.BUSY_RETRY_SECONDS)}
    assert loader.execute()["output"] == "ran" and len(loader.started) == 2  # its warm runner still


def test_the_answer_text_budget_counts_a_character_past_ascii_as_four_bytes(monkeypatch):
    # Counted as characters, 1,000 traces printing emoji made a 48 MB answer from a 40 KB request.
    monkeypatch.setattr(isolate, "MAX_ANSWER_TEXT", 1_000)
    answer = isolate.fit_text("execute", {"output": "\U0001f600" * 400})
    marker = isolate.ANSWER_CUT_MARKER.format(limit=1_000)
    assert answer["output"] == "\U0001f600" * 250 + marker
    assert len(answer["output"].removesuffix(marker).encode("utf-8")) <= 1_000
