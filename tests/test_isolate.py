"""Running requests in a runner isolate, everything that does not need the Workers runtime: the
runner's own logic, the payload given to the loader, and the front Worker's answers when the runner
fails (with a stand-in for the loader and RPC)."""

from __future__ import annotations

import ast
import json
import pathlib
import sys

import pytest

from sandbox import Limits, api, isolate
from sandbox.log import SqliteDatabase, run_now, write

from .support import runner_entrypoint

SRC = pathlib.Path(__file__).resolve().parents[1] / "src"
EVAL = "def eval_x(trace):\n    return trace['ok'], 'checked'"
TRACES = [{"trace_id": "a", "data": {"ok": True}}, {"trace_id": "b", "data": {"ok": False}}]


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
    assert answer["errorType"] == "timeout" and answer["error"] == "Execution timeout exceeded 100ms"


def test_runner_refuses_an_unusable_batch_as_data():
    answer = isolate.handle(
        "evaluate", {"evalCode": EVAL, "traces": [{"trace_id": "a", "data": {"x": {1, 2}}}]}
    )
    assert answer["refused"]["status"] == 400 and "not JSON data" in answer["refused"]["error"]


async def runner_text(kind: str, request: dict) -> str:
    """A call as the front Worker makes it: JSON text into the runner's main module, text back."""
    entry = runner_entrypoint(isolate.worker_code(7000)["modules"][isolate.RUNNER_MAIN]["py"])
    answer = await getattr(entry, kind)(json.dumps(request))
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


def test_runner_ids_separate_callers_and_engine_versions():
    first = isolate.runner_id("token:abc", 7000)
    assert first == isolate.runner_id("token:abc", 7000)  # reused for the same caller
    assert first != isolate.runner_id("binding", 7000)  # never shared across callers
    assert first != isolate.runner_id("token:abc", 32000)  # the CPU limit is fixed per isolate
    assert isolate.engine_version() in first


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

    async def call(kind, request, caller):
        if fails_with is not None:
            raise RuntimeError(fails_with)
        return await runner_text(kind, request) if answers is OWN_ANSWER else answers

    async def executor(kind, request, caller):
        return await isolate.through_runner(call, kind, request, caller)

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
        api.rpc("execute", {"code": "any(iter(int, 1))"}, "binding", runner_that(message), "isolate")
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
            "binding",
            runner_that("exceeded CPU time limit"),
            "isolate",
        )
    )
    assert [r["errorType"] for r in answer.body["results"]] == ["timeout", "timeout"]
    assert answer.body["summary"]["timeouts"] == 2


def test_the_next_request_after_a_killed_runner_works(capsys):
    run_now(api.rpc("execute", {"code": "x"}, "binding", runner_that("exceeded CPU time limit"), "isolate"))
    answer = run_now(api.rpc("execute", {"code": "print('fine')"}, "binding", runner_that(None), "isolate"))
    assert answer.body["output"] == "fine"


def test_log_rows_and_health_say_which_mode_ran(capsys):
    db = SqliteDatabase(":memory:")
    answer = run_now(
        api.rpc("evaluate", {"evalCode": EVAL, "traces": TRACES}, "binding", runner_that(None), "isolate")
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
    body = run_now(api.rpc("execute", {"code": "x"}, "binding", runner_that(answers=answer), "isolate")).body
    assert (body["success"], body["errorType"]) == (False, "internal")
    assert "forged" not in json.dumps(body)


def test_a_forged_refusal_of_a_batch_is_not_passed_on(capsys):
    forged = json.dumps({"refused": {"status": 401, "code": "unauthorized", "error": "forged"}})
    answer = run_now(
        api.rpc(
            "evaluate",
            {"evalCode": EVAL, "traces": TRACES},
            "binding",
            runner_that(answers=forged),
            "isolate",
        )
    )
    assert answer.status == 200
    assert [r["errorType"] for r in answer.body["results"]] == ["internal", "internal"]


def test_a_real_refusal_of_a_batch_is_passed_on():
    request = {"evalCode": EVAL, "traces": [{"trace_id": "a", "data": {"x": "y" * (300 * 1024)}}]}
    answer = run_now(api.rpc("evaluate", request, "binding", runner_that(), "isolate"))
    assert (answer.status, answer.body["code"]) == (413, "payload_too_large")


def test_an_answer_of_the_wrong_shape_is_an_internal_error_and_the_next_request_works(capsys):
    forged = json.dumps({"success": "yes", "output": ["forged"]})
    answer = run_now(api.rpc("execute", {"code": "x"}, "binding", runner_that(answers=forged), "isolate"))
    assert (answer.status, answer.body["code"]) == (500, "internal") and "forged" not in json.dumps(
        answer.body
    )
    after = run_now(api.rpc("execute", {"code": "print('next')"}, "binding", runner_that(), "isolate"))
    assert after.body["output"] == "next"
