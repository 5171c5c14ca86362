"""ctx.call_llm (issue 22): what the script gets, the checks, the budgets, the wait outside the step
budget, the front Worker's gate, the log and the CLI. A stub model answers deterministically and
records what it was asked. Runs on CPython and in Pyodide."""

from __future__ import annotations

import http.server
import json
import pathlib
import threading
import time

import pytest

import sandbox
from sandbox import Limits, api, log
from sandbox.cli import main
from sandbox.llm import (
    LLM,
    NOT_CONFIGURED,
    Completion,
    Gate,
    LLMLimits,
    LLMRequest,
    drive_without_loop,
)
from sandbox.log import SqliteDatabase, run_now
from sandbox.runner import call_outside_budget

from .support import CANARY, IN_PYODIDE


class StubModel:
    """Answers "PASS" when the prompt says so, else "FAIL"; records every request."""

    def __init__(self, answer: object = None) -> None:
        self.asked: list[LLMRequest] = []
        self.answer = answer

    def __call__(self, request: LLMRequest) -> object:
        self.asked.append(request)
        if self.answer is not None:
            return self.answer
        return "PASS" if "PASS" in request.prompt else "FAIL"


JUDGE = """
def eval_judge(trace, ctx):
    answer = ctx.call_llm("Verdict? " + trace["says"])
    return answer == "PASS", answer
"""
TRACES = [{"trace_id": "yes", "data": {"says": "PASS"}}, {"trace_id": "no", "data": {"says": "nope"}}]


def judged(code: str, model: object, traces: list = TRACES, **options: object) -> list[tuple]:
    batch = sandbox.evaluate(code, traces, llm=model, **options)
    return [
        (r.trace_id, r.passed, r.reason) if r.success else (r.trace_id, r.error_type, r.error)
        for r in batch.results
    ]


# --- what the script gets ------------------------------------------------------------------------


def test_a_stub_model_answers_and_records_what_it_was_asked():
    model = StubModel()
    batch = sandbox.evaluate(JUDGE, TRACES, llm=LLM(model, models=("judge-1",)))
    assert [(r.trace_id, r.passed, r.reason) for r in batch.results] == [
        ("yes", True, "PASS"),
        ("no", False, "FAIL"),
    ]
    assert [(a.prompt, a.model, a.temperature, a.max_tokens, a.trace_id) for a in model.asked] == [
        ("Verdict? PASS", "judge-1", 0.0, 500, "yes"),
        ("Verdict? nope", "judge-1", 0.0, 500, "no"),
    ]
    wire = batch.to_wire()
    assert wire["results"][0]["llm"] == {
        "calls": 1, "tokens_in": 4, "tokens_out": 1, "time_ms": wire["results"][0]["llm"]["time_ms"],
        "models": ["judge-1"],
    }  # fmt: skip
    assert wire["llm"]["calls"] == 2


@pytest.mark.parametrize(
    "code",
    [
        "def eval_x(trace, ctx):\n    return ctx.call_llm('PASS') == 'PASS', 'r'",
        "def eval_x(trace, ctx=None):\n    return ctx.call_llm(prompt='PASS') == 'PASS', 'r'",
        "def eval_function(task, task_metadata, trace, ctx):\n    return ctx.call_llm(task['q']) == 'PASS', 'r'",
    ],
)
def test_every_convention_with_a_ctx_gets_one(code):
    batch = sandbox.evaluate(code, TRACES[:1], task={"q": "PASS"}, llm=StubModel())
    assert batch.results[0].passed is True, batch.results[0]


def test_without_a_model_ctx_is_none_and_the_error_says_how_to_configure_one():
    batch = sandbox.evaluate(JUDGE, TRACES[:1])
    result = batch.results[0]
    assert (result.error_type, result.llm) == ("runtime", None)
    assert result.error.startswith(NOT_CONFIGURED) and result.error.endswith("(line 3)")
    assert "llm" not in batch.to_wire() and "llm" not in batch.to_wire()["results"][0]


def test_only_a_plain_str_comes_back():
    class Loud(str):
        __hash__ = str.__hash__

        def __eq__(self, other: object) -> bool:
            return True

    for answer in (Loud("PASS"), 1, Completion(Loud("PASS")), object(), b"PASS"):
        outcome = judged(JUDGE, StubModel(answer), TRACES[:1])
        assert outcome[0][1] == "llm_error", (answer, outcome)


def test_ctx_has_call_llm_and_nothing_else_reachable():
    code = """
def eval_x(trace, ctx):
    seen = [repr(ctx)]
    attempts = [
        lambda: type(ctx), lambda: type(ctx.call_llm), lambda: vars(ctx), lambda: ctx.complete,
        lambda: setattr(ctx, 'call_llm', print), lambda: delattr(ctx, 'call_llm'),
        lambda: getattr(ctx.call_llm, '__clo' + 'sure__'), lambda: getattr(ctx, '__sl' + 'ots__'),
        lambda: getattr(ctx.call_llm, '__glo' + 'bals__'), lambda: getattr(ctx, '_' + 'session'),
    ]
    for attempt in attempts:
        try:
            seen.append('reached: ' + repr(attempt()))
        except Exception as error:
            seen.append(type(error).__name__)
    seen.append(ctx.call_llm.__qualname__)
    return True, ' | '.join(seen)
"""
    batch = sandbox.evaluate(code, TRACES[:1], llm=StubModel())
    reason = batch.results[0].reason
    assert "reached" not in reason, reason
    assert reason.startswith("<ctx: call_llm(prompt, model=None, temperature=0.0, max_tokens=500) -> str>")
    assert reason.endswith("ctx.call_llm"), reason


def test_a_ctx_belongs_to_its_trace():
    # A ctx kept in a module global of one trace is gone in the next: every trace runs the module
    # afresh; and a ctx smuggled out through the data would not survive the copy either.
    code = """
KEPT = []
def eval_x(trace, ctx):
    KEPT.append(ctx)
    return len(KEPT) == 1, ctx.call_llm('PASS')
"""
    assert [v[1] for v in judged(code, StubModel())] == [True, True]


# --- the checks: exact types and sizes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error"),
    [
        ("ctx.call_llm(1)", "TypeError: ctx.call_llm: prompt must be a str, not int"),
        ("ctx.call_llm(S('x'))", "TypeError: ctx.call_llm: prompt must be a str, not S"),
        ("ctx.call_llm('')", "ValueError: ctx.call_llm: prompt must have 1 to 32768 characters, not 0"),
        ("ctx.call_llm('x' * 40000)", "ValueError: ctx.call_llm: prompt must have 1 to 32768 characters"),
        ("ctx.call_llm('\\ud800')", "lone surrogate"),
        ("ctx.call_llm('x', model='other')", "model 'other' is not allowed here; allowed: judge-1, judge-2"),
        ("ctx.call_llm('x', model=S('judge-1'))", "model must be a str or None, not S"),
        ("ctx.call_llm('x', temperature=True)", "temperature must be a float, not bool"),
        ("ctx.call_llm('x', temperature=float('nan'))", "temperature must be between 0 and 2"),
        ("ctx.call_llm('x', temperature=3)", "temperature must be between 0 and 2"),
        ("ctx.call_llm('x', max_tokens=2.0)", "max_tokens must be an int, not float"),
        ("ctx.call_llm('x', max_tokens=True)", "max_tokens must be an int, not bool"),
        ("ctx.call_llm('x', max_tokens=0)", "max_tokens must be between 1 and 2048"),
        ("ctx.call_llm('x', max_tokens=10**6)", "max_tokens must be between 1 and 2048"),
    ],
)
def test_arguments_are_checked_by_exact_type_and_size_before_anything_is_asked(call, error):
    code = f"class S(str):\n    pass\ndef eval_x(trace, ctx):\n    return True, {call}"
    model = StubModel()
    outcome = judged(code, LLM(model, models=("judge-1", "judge-2")), TRACES[:1])
    assert outcome[0][1] == "runtime" and error in outcome[0][2], outcome
    assert model.asked == []


def test_a_bad_argument_can_be_caught_and_costs_nothing():
    code = """
def eval_x(trace, ctx):
    try:
        ctx.call_llm(None)
    except TypeError:
        pass
    return ctx.call_llm('PASS') == 'PASS', 'ok'
"""
    assert judged(code, LLM(StubModel(), limits=LLMLimits(calls_per_trace=1)), TRACES[:1])[0][1] is True


# --- budgets --------------------------------------------------------------------------------------

GREEDY = """
def eval_x(trace, ctx):
    for _ in range(trace['calls']):
        try:
            ctx.call_llm('PASS', max_tokens=trace.get('max_tokens', 10))
        except BaseException:
            pass
    return True, 'no verdict may come of this once a call failed'
"""


def test_calls_per_trace_end_that_trace_alone_and_cannot_be_caught_away():
    model = StubModel()
    traces = [{"trace_id": "greedy", "data": {"calls": 4}}, {"trace_id": "modest", "data": {"calls": 3}}]
    outcome = judged(GREEDY, LLM(model, limits=LLMLimits(calls_per_trace=3)), traces)
    assert outcome == [
        ("greedy", "llm_error", "LLM budget exceeded: this trace has made its 3 calls"),
        ("modest", True, "no verdict may come of this once a call failed"),
    ]
    assert len(model.asked) == 6


def test_calls_and_tokens_per_batch():
    traces = [{"trace_id": str(n), "data": {"calls": 2}} for n in range(3)]
    outcome = judged(GREEDY, LLM(StubModel(), limits=LLMLimits(calls_per_batch=5)), traces)
    assert [o[1] for o in outcome] == [True, True, "llm_error"] and "batch has made its 5 calls" in outcome[
        2
    ][2]
    outcome = judged(GREEDY, LLM(StubModel("x" * 40), limits=LLMLimits(tokens_out_per_batch=35)), traces)
    # Each call receives 10 tokens and may receive max_tokens=10: the fourth would pass 35.
    assert [o[1] for o in outcome] == [True, "llm_error", "llm_error"] and "35 completion tokens" in outcome[
        1
    ][2]
    outcome = judged(GREEDY, LLM(StubModel(), limits=LLMLimits(tokens_in_per_batch=1)), traces[:1])
    assert outcome[0][1] == "llm_error" and "prompt tokens" in outcome[0][2]


def test_a_failing_backend_is_an_llm_error_that_names_no_secret():
    def failing(request: LLMRequest) -> str:
        raise ConnectionError(f"could not reach https://api.example with key {CANARY}")

    outcome = judged(JUDGE, failing)
    assert outcome == [
        ("yes", "llm_error", "LLM call failed: the backend raised ConnectionError"),
        ("no", "llm_error", "LLM call failed: the backend raised ConnectionError"),
    ]


def test_a_call_that_outlasts_its_time_is_an_llm_error():
    def slow(request: LLMRequest) -> str:
        time.sleep(request.timeout_ms / 1000 + 0.05)
        return "PASS"

    outcome = judged(JUDGE, LLM(slow, limits=LLMLimits(call_ms=50)), TRACES[:1])
    assert outcome[0][1] == "llm_error" and "no answer within 50 ms" in outcome[0][2]
    assert "timeout" not in outcome[0][2].lower()  # callers retry on that word


def test_a_call_gets_no_more_time_than_the_batch_has_left():
    model = StubModel()
    judged(JUDGE, model, TRACES[:1], limits=Limits(batch_timeout_ms=1000))
    assert 0 < model.asked[0].timeout_ms <= 1000


# --- the wait is outside the script's budget -----------------------------------------------------


def test_waiting_for_the_model_is_not_the_scripts_time():
    def patient(request: LLMRequest) -> str:
        time.sleep(0.3)
        return "PASS"

    # Three waits of 300 ms in a trace whose own budget is 200 ms.
    code = (
        "def eval_x(trace, ctx):\n    return all(ctx.call_llm('PASS') == 'PASS' for _ in range(3)), 'waited'"
    )
    batch = sandbox.evaluate(code, TRACES[:1], llm=patient, limits=Limits(timeout_ms=200))
    assert batch.results[0].passed is True, batch.results[0]
    assert batch.results[0].llm.time_ms >= 900


def test_the_backends_python_runs_with_the_budget_off_and_a_spent_budget_never_lands_in_it():
    """Pyodide's event loop runs Python while run_sync waits: loops and coroutine resumptions the
    budget would count. Here the backend does that work, far past the script's steps; the budget
    must stay off during the call (no exception inside the backend) and on after it."""
    finished = []

    def busy(request: LLMRequest) -> str:
        async def step() -> int:
            return 1

        async def loop() -> int:
            total = 0
            for _ in range(50_000):
                total += await step()
            return total

        finished.append(drive_without_loop(loop()))
        return "PASS"

    code = """
def eval_x(trace, ctx):
    ctx.call_llm('PASS')
    if trace.get('spin'):
        while True:
            pass
    return True, 'after the call'
"""
    traces = [{"trace_id": "ok", "data": {}}, {"trace_id": "spin", "data": {"spin": True}}]
    outcome = judged(code, busy, traces, limits=Limits(timeout_ms=50))
    assert finished == [50_000, 50_000]
    assert outcome[0] == ("ok", True, "after the call")
    assert outcome[1][1] == "timeout"  # on again after the call
    assert sandbox.execute("print(sum(range(10)))").output == "45"  # and the interpreter still serves


def test_a_host_call_outside_a_run_is_refused_and_no_run_starts_inside_one():
    with pytest.raises(RuntimeError, match="no script is running"):
        call_outside_budget(lambda: None)
    nested = []

    def reentrant(request: LLMRequest) -> str:
        nested.append(sandbox.execute("print(1)").to_wire())
        return "PASS"

    assert judged(JUDGE, reentrant, TRACES[:1])[0][1] is True
    assert nested[0]["errorType"] == "internal" and "another run is in progress" in nested[0]["error"]


# --- the front Worker's gate ----------------------------------------------------------------------


def gate_of(model: StubModel, **options: object) -> Gate:
    async def backend(request: LLMRequest) -> object:
        return model(request)

    return Gate(backend, "gateway", **options)


def test_the_gate_checks_and_counts_what_a_runner_sends_and_closes_with_its_request():
    model = StubModel()
    gate = gate_of(model, models=("m",), limits=LLMLimits(calls_per_batch=1))
    call = {"prompt": "PASS", "model": None, "temperature": 0.0, "maxTokens": 5, "traceId": "t"}
    assert run_now(gate.answer(call)) == {"text": "PASS", "model": "m", "tokensIn": 1, "tokensOut": 1}
    assert "batch has made its 1 calls" in run_now(gate.answer(call))["error"]
    for forged in ({**call, "maxTokens": 10**9}, {**call, "model": "n"}, {**call, "prompt": ["x"]}, "text"):
        assert "error" in run_now(gate_of(model, models=("m",)).answer(forged)), forged
    gate.close()
    assert run_now(gate.answer(call)) == {"error": "this capability's request has ended"}
    assert len(model.asked) == 1
    assert [(r.trace_id, r.prompt, r.completion) for r in gate.records] == [("t", None, None)]


def test_in_process_evaluate_goes_through_the_gate_and_the_log_keeps_counts_not_text():
    model = StubModel()
    database = SqliteDatabase(":memory:")
    kept = [("yes", "Verdict? PASS", "PASS"), ("no", "Verdict? nope", "FAIL")]
    for keep, expected in (
        (frozenset(), [("yes", None, None), ("no", None, None)]),
        (frozenset({"llm"}), kept),
    ):
        gate = gate_of(model, models=("m",), keep_text="llm" in keep)
        request = {"evalCode": JUDGE, "traces": TRACES}
        answer = run_now(api.rpc("evaluate", request, api.Caller("binding:x"), keep=keep, llm=gate))
        assert [r["passed"] for r in answer.body["results"]] == [True, False], answer.body
        assert answer.body["llm"]["calls"] == 2 and gate.closed
        run_now(log.write(database, answer.log))
        row = run_now(database.query("SELECT * FROM executions WHERE id = ?", (answer.log.id,)))[0]
        assert (row["llm_source"], row["llm_calls"], row["llm_models"]) == ("gateway", 2, "m")
        sql = "SELECT * FROM llm_calls WHERE execution_id = ? ORDER BY position"
        calls = run_now(database.query(sql, (answer.log.id,)))
        assert [(c["trace_id"], c["prompt"], c["completion"]) for c in calls] == expected
        traces = run_now(
            database.query("SELECT llm_calls FROM trace_results WHERE execution_id = ?", (answer.log.id,))
        )
        assert traces == [{"llm_calls": 1}, {"llm_calls": 1}]
    rows = run_now(log.recent(database, 10))
    assert {row["llm_calls"] for row in rows} == {2}


def test_execute_and_validate_never_use_the_gate():
    gate = gate_of(StubModel())
    answer = run_now(api.rpc("execute", {"code": "print(1)"}, api.Caller("binding:x"), llm=gate))
    assert answer.body["output"] == "1" and not gate.records and not gate.closed


def test_a_caller_cannot_send_models_or_a_backend_in_the_request():
    for field in ("llm", "llmEndpoint", "llmKey"):
        answer = run_now(
            api.rpc("evaluate", {"evalCode": JUDGE, "traces": TRACES, field: "x"}, api.Caller("binding:x"))
        )
        assert answer.body["code"] == "bad_request" and field in answer.body["error"]


# --- the CLI --------------------------------------------------------------------------------------


@pytest.mark.skipif(
    IN_PYODIDE, reason="the CLI's endpoint test serves HTTP from a thread; Pyodide has no sockets"
)
def test_the_cli_asks_an_openai_compatible_endpoint_with_the_key_from_the_environment(
    tmp_path, monkeypatch, capsys
):
    seen = []

    class Endpoint(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            seen.append((self.path, self.headers["authorization"], body))
            verdict = "PASS" if "PASS" in body["messages"][0]["content"] else "FAIL"
            answer = {"model": body["model"], "choices": [{"message": {"content": verdict}}],
                      "usage": {"prompt_tokens": 11, "completion_tokens": 1}}  # fmt: skip
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        script, traces = tmp_path / "judge.py", tmp_path / "traces.json"
        script.write_text(JUDGE)
        traces.write_text(json.dumps(TRACES))
        monkeypatch.setenv("SANDBOX_LLM_KEY", CANARY)
        status = main(["eval", str(script), "--traces", str(traces), "--llm-endpoint",
                       f"http://127.0.0.1:{server.server_port}/v1", "--llm-model", "judge-1"])  # fmt: skip
    finally:
        server.shutdown()
    output = capsys.readouterr().out
    batch = json.loads(output)
    assert status == 0 and [r["passed"] for r in batch["results"]] == [True, False]
    assert batch["results"][0]["llm"]["tokens_in"] == 11
    assert seen[0][:2] == ("/v1/chat/completions", f"Bearer {CANARY}")
    assert seen[0][2] == {"messages": [{"role": "user", "content": "Verdict? PASS"}], "temperature": 0.0,
                          "max_tokens": 500, "model": "judge-1"}  # fmt: skip
    assert CANARY not in output


def test_the_cli_refuses_a_model_without_an_endpoint(tmp_path, capsys):
    script = tmp_path / "judge.py"
    script.write_text(JUDGE)
    assert main(["eval", str(script), "--traces", str(script), "--llm-model", "m"]) == 2
    assert "--llm-model needs --llm-endpoint" in capsys.readouterr().err


def test_the_readme_rubric_example_grades_every_sample_trace():
    root = pathlib.Path(__file__).resolve().parents[1] / "examples"
    traces = [json.loads(line) for line in (root / "traces.jsonl").read_text().splitlines()]
    model = StubModel("PASS: it answers the question.")
    batch = sandbox.evaluate((root / "llm" / "eval_rubric.py").read_text(), traces, llm=model)
    assert [(r.trace_id, r.success, r.passed) for r in batch.results] == [
        (t["trace_id"], True, True) for t in traces
    ], batch.to_wire()
    assert len(model.asked) == len(traces) and all("Agent: " in a.prompt for a in model.asked)


def test_calls_made_at_once_cannot_all_pass_one_check_of_the_gate():
    class Pause:
        def __await__(self):
            yield

    async def slow(request: LLMRequest) -> str:
        await Pause()
        return "PASS"

    gate = Gate(slow, "gateway", limits=LLMLimits(calls_per_batch=1))
    call = {"prompt": "PASS", "model": None, "temperature": 0.0, "maxTokens": 5}
    first, second = gate.answer(call), gate.answer(call)
    first.send(None)  # admitted, waiting for its answer
    with pytest.raises(StopIteration) as refused:
        second.send(None)
    assert "batch has made its 1 calls" in refused.value.value["error"]
    with pytest.raises(StopIteration) as answered:
        first.send(None)
    assert answered.value.value["text"] == "PASS" and gate.usage.calls == 1


def test_a_call_from_the_bottom_of_the_scripts_recursion_has_room_for_the_backend():
    def deep(request: LLMRequest) -> str:
        def down(n: int) -> int:
            return n if n == 0 else down(n - 1)

        return "PASS" if down(50) == 0 else "FAIL"

    code = """
def dive(ctx, n):
    try:
        return dive(ctx, n + 1)
    except RecursionError:
        return ctx.call_llm('PASS')
def eval_x(trace, ctx):
    return dive(ctx, 0) == 'PASS', 'from the bottom'
"""
    assert judged(code, deep, TRACES[:1]) == [("yes", True, "from the bottom")]


def test_the_scripts_exception_carries_nothing_of_the_backends():
    def leaky(request: LLMRequest) -> str:
        raise OSError(CANARY)

    code = """
def eval_x(trace, ctx):
    try:
        ctx.call_llm('x')
    except BaseException as stop:
        caught = stop
    return True, repr(caught.args) + repr(getattr(caught, '__cont' + 'ext__', None))
"""
    outcome = judged(code, leaky, TRACES[:1])
    assert outcome[0][1] in ("llm_error", "runtime") and CANARY not in str(outcome)


# --- the attack on ctx.call_llm ---------------------------------------------------------------------


def test_no_script_code_runs_uncounted_while_a_call_waits():
    # The collector finalised the script's generators during the backend's call, with the budget
    # off: their finally blocks computed for free (or for ever).
    code = (
        "def eval_trace(trace, ctx):\n"
        "    def g():\n"
        "        try:\n"
        "            yield 1\n"
        "        finally:\n"
        "            print('finaliser ran')\n"
        "            n = 0\n"
        "            while n < 3000000:\n"
        "                n += 1\n"
        "    gen = g()\n"
        "    next(gen)\n"
        "    cycle = [gen]\n"
        "    cycle.append(cycle)\n"
        "    del gen, cycle\n"
        "    return True, ctx.call_llm('x')\n"
    )

    def collecting_backend(request):
        import gc

        gc.collect()  # what any backend that allocates may set off
        return "fine"

    batch = sandbox.evaluate(
        code, [{"trace_id": "t", "data": {}}], limits=Limits(timeout_ms=300), llm=collecting_backend
    )
    result = batch.results[0]
    assert result.success and result.reason == "fine", result
    assert "finaliser ran" not in result.output  # it met the finished-run guard, not the host's time


def test_a_call_made_while_another_waits_is_refused():
    # A finaliser calling ctx.call_llm inside a call switched the budget on inside the outer host
    # call; here the backend itself asks, as such script code would, and is refused.
    from sandbox import runner

    def reentering(request):
        return runner.call_outside_budget(lambda: "inner")

    code = "def eval_trace(trace, ctx):\n    return True, ctx.call_llm('outer')\n"
    batch = sandbox.evaluate(code, [{"trace_id": "t", "data": {}}], llm=reentering)
    assert batch.results[0].error_type == "llm_error", batch.results[0]
    assert sandbox.execute("print(1)").output == "1"
    with pytest.raises(RuntimeError, match="no script is running"):
        runner.call_outside_budget(lambda: None)


def test_a_model_the_script_names_is_not_recorded_without_an_allow_list():
    # With no list configured, the model name is the script's text: the log keeps none unless told.
    code = "def eval_trace(trace, ctx):\n    return True, ctx.call_llm('x', model='leak:' + trace['ssn'])\n"
    batch = sandbox.evaluate(
        code, [{"trace_id": "t", "data": {"ssn": "123-45-6789"}}], llm=lambda request: "ok"
    )
    assert "123-45-6789" not in str(batch.to_wire())
