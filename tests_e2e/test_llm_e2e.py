"""ctx.call_llm end to end (issue 22), on the local Workers runtime: a sandbox whose LLM service
binding reaches a stub gateway Worker (tests_e2e/llm_stub/), a caller that passes its own LLM
capability (tests_e2e/rpc_caller/, /judge), and the probe (tests_e2e/probe/) standing in for a
runner that kept the capability of an earlier request.

Run with `scripts/test-e2e`, like the rest of the suite."""

from __future__ import annotations

import json
import time
import urllib.parse

import pytest

from .devserver import compatibility_date, dev_command, free_port, get, project, stop
from .test_worker_e2e import HERE, PROBE_CONFIG, log_rows, migrate, probe, runtime, started  # noqa: F401

SANDBOX_CONFIG = f"""name = "python-sandbox-llm"
main = "src/entry.py"
compatibility_date = "{compatibility_date()}"
compatibility_flags = ["python_workers"]

[vars]
ALLOW_UNAUTHENTICATED_HTTP = "true"
SANDBOX_LLM_MODELS = "stub-small,stub-large"

[[services]]
binding = "LLM"
service = "sandbox-llm-stub"

[[worker_loaders]]
binding = "LOADER"

[[d1_databases]]
binding = "DB"
database_name = "sandbox-log"
database_id = "00000000-0000-0000-0000-000000000000"
migrations_dir = "migrations"
"""

CALLER_CONFIG = f"""name = "sandbox-llm-caller"
main = "{HERE / "rpc_caller" / "index.js"}"
compatibility_date = "{compatibility_date()}"

[[services]]
binding = "SANDBOX"
service = "python-sandbox-llm"
props = {{ caller = "llm-caller" }}
"""

JUDGE = """def eval_judge(trace, ctx):
    answer = ctx.call_llm("Did the agent answer? " + trace["verdict"], max_tokens=20)
    return answer.startswith("PASS"), answer
"""


@pytest.fixture(scope="module")
def llm(tmp_path_factory):
    """(sandbox port, stub port, caller port, persist path)."""
    persist = tmp_path_factory.mktemp("llm-state")
    migrate(persist)
    stub_port, sandbox_port, caller_port = free_port(), free_port(), free_port()
    stub = started(
        dev_command("wrangler", stub_port, "-c", str(HERE / "llm_stub" / "wrangler.toml")), stub_port
    )
    root = tmp_path_factory.mktemp("llm-sandbox")
    project(root, SANDBOX_CONFIG)
    sandbox = started(
        dev_command("pywrangler", sandbox_port, "--persist-to", str(persist)), sandbox_port, cwd=root
    )
    config = tmp_path_factory.mktemp("llm-caller") / "wrangler.toml"
    config.write_text(CALLER_CONFIG)
    caller = started(dev_command("wrangler", caller_port, "-c", str(config)), caller_port)
    yield sandbox_port, stub_port, caller_port, persist
    stop(caller)
    stop(sandbox)
    stop(stub)


def evaluate(port: int, code: str, traces: list[dict], **options: object) -> dict:
    status, body = get(port, "/v1/evaluate", {"evalCode": code, "traces": traces, **options}, timeout=120)
    assert status == 200, body
    return body


def asked(stub: int) -> list[dict]:
    return get(stub, "/reset")[1]


def test_a_runner_calls_the_gateway_through_its_capability(llm):
    sandbox, stub, _, _ = llm
    asked(stub)
    traces = [
        {"trace_id": "good", "data": {"verdict": "PASS"}},
        {"trace_id": "bad", "data": {"verdict": "no"}},
    ]
    batch = evaluate(sandbox, JUDGE, traces)
    assert [r["passed"] for r in batch["results"]] == [True, False], batch
    good = batch["results"][0]
    assert good["llm"] == {"calls": 1, "tokens_in": 7, "tokens_out": 3, "time_ms": good["llm"]["time_ms"],
                           "models": ["stub-small"]}  # fmt: skip
    assert batch["llm"]["calls"] == 2
    seen = asked(stub)
    assert [(a["prompt"], a["model"], a["maxTokens"], a["traceId"]) for a in seen] == [
        ("Did the agent answer? PASS", "stub-small", 20, "good"),
        ("Did the agent answer? no", "stub-small", 20, "bad"),
    ]


def test_every_convention_and_the_fresh_runner_get_a_ctx(llm):
    sandbox, _, _, _ = llm
    code = (
        "def eval_function(task, task_metadata, trace, ctx):\n"
        "    return ctx.call_llm(task['user_message'], model='stub-large').startswith('PASS'), 'judged'\n"
    )
    for placement in ({}, {"isolation": "fresh"}, {"isolationKey": "llm-tenant"}):
        batch = evaluate(
            sandbox, code, [{"trace_id": "t", "data": {}}], task={"user_message": "PASS"}, **placement
        )
        assert batch["results"][0]["passed"] is True, batch
        assert batch["results"][0]["llm"]["models"] == ["stub-large"]


def test_budgets_trip_per_trace_and_other_traces_go_on(llm):
    sandbox, stub, _, _ = llm
    greedy = (
        "def eval_x(trace, ctx):\n"
        "    for _ in range(trace['calls']):\n"
        "        try:\n"
        "            ctx.call_llm('PASS')\n"
        "        except BaseException:\n"
        "            pass\n"  # caught: the trace ends as an llm_error all the same
        "    return True, 'done'\n"
    )
    traces = [{"trace_id": "greedy", "data": {"calls": 11}}, {"trace_id": "modest", "data": {"calls": 2}}]
    batch = evaluate(sandbox, greedy, traces)
    first, second = batch["results"]
    assert (first["success"], first["errorType"]) == (False, "llm_error"), first
    assert "10 calls" in first["error"] and first["llm"]["calls"] == 10
    assert (second["passed"], second["llm"]["calls"]) == (True, 2)
    refused = evaluate(
        sandbox, "def eval_x(trace, ctx):\n    return True, ctx.call_llm('x', model='gpt-5')", traces[:1]
    )
    assert "not allowed" in refused["results"][0]["error"] and refused["results"][0]["errorType"] == "runtime"
    assert all(a["model"] != "gpt-5" for a in asked(stub))


def test_a_budget_spent_around_a_call_never_lands_in_the_event_loop(llm):
    """The steps run out right after a call, or while the script loops between calls; the runner
    must answer with a timeout and serve the next request (a budget exception lost in Pyodide's
    event loop hung the request or left the monitoring tool registered)."""
    sandbox, _, _, _ = llm
    code = (
        "def eval_x(trace, ctx):\n"
        "    n = 0\n"
        "    while True:\n"
        "        n += 1\n"
        "        if n % 1000 == 0:\n"
        "            ctx.call_llm('PASS', max_tokens=1)\n"
    )
    for key in ("llm-loop", "llm-loop"):  # the same runner twice
        batch = evaluate(sandbox, code, [{"trace_id": "t", "data": {}}], timeoutMs=300, isolationKey=key)
        result = batch["results"][0]
        assert result["errorType"] in ("timeout", "llm_error"), result
        assert evaluate(sandbox, JUDGE, [{"trace_id": "t", "data": {"verdict": "PASS"}}], isolationKey=key)[
            "results"][0]["passed"] is True  # fmt: skip


def test_the_callers_own_capability_answers_and_nothing_else_of_it_is_reached(llm):
    _, stub, caller, _ = llm
    asked(stub)
    get(caller, "/reached")
    code = (
        "def eval_x(trace, ctx):\n"
        "    for name in ('secret', 'complete', '_binding', 'call_llm.secret'):\n"
        "        try:\n"
        "            getattr(ctx, name)\n"
        "            print('reached', name)\n"
        "        except Exception as e:\n"
        "            print(type(e).__name__)\n"
        "    answer = ctx.call_llm('PASS?')\n"
        "    return answer.startswith('PASS'), answer\n"
    )
    request = {"evalCode": code, "traces": [{"trace_id": "t", "data": {}}]}
    batch = get(caller, f"/judge?request={urllib.parse.quote(json.dumps(request))}", timeout=120)[1]
    result = batch["results"][0]
    assert result["passed"] is True and "caller's judge (its default)" in result["reason"], batch
    assert "reached complete" not in result["output"] and "reached secret" not in result["output"]
    assert get(caller, "/reached")[1] == ["complete:PASS?"]  # never `secret`
    assert asked(stub) == []  # the caller's model, not the sandbox's
    refused = get(caller, f"/judge?capability=text&request={urllib.parse.quote(json.dumps(request))}")[1]
    assert refused["code"] == "bad_request" and "capability" in refused["error"]


def test_the_log_counts_the_calls_and_keeps_no_prompt(llm):
    sandbox, _, _, persist = llm
    marker = f"llm-log-{time.monotonic_ns()}"
    evaluate(sandbox, JUDGE, [{"trace_id": "t", "data": {"verdict": f"PASS {marker}"}}], isolationKey=marker)
    time.sleep(2)  # written after the answer
    rows = log_rows(
        persist, f"SELECT id, llm_source, llm_calls, llm_models FROM executions WHERE tenant = '{marker}'"
    )
    assert [(r["llm_source"], r["llm_calls"], r["llm_models"]) for r in rows] == [
        ("gateway", 1, "stub-small")
    ]
    calls = log_rows(persist, f"SELECT * FROM llm_calls WHERE execution_id = '{rows[0]['id']}'")
    assert [(c["trace_id"], c["tokens_in"], c["prompt"], c["completion"]) for c in calls] == [
        ("t", 7, None, None)
    ]
    traces = log_rows(persist, f"SELECT llm_calls FROM trace_results WHERE execution_id = '{rows[0]['id']}'")
    assert traces == [{"llm_calls": 1}]
    assert marker not in json.dumps(log_rows(persist, "SELECT * FROM llm_calls"))


def test_a_runner_cannot_use_the_capability_of_an_earlier_request(probe):  # noqa: F811
    """The probe runner keeps the capability it was handed (dup()) and calls it again during the next
    request: the front Worker destroyed it and closed its gate when the first request ended."""
    first = get(probe, "/llm?act=keep&isolationKey=llm-stale")[1]
    assert first["first"].startswith("OK"), first
    second = get(probe, "/llm?act=stale&isolationKey=llm-stale")[1]
    assert second["stale"].startswith("ERR"), second
    # Nothing but the call is reachable on a capability: every member is "not implemented".
    assert all(value.startswith("ERR") for name, value in second.items() if name.startswith("member ")), (
        second
    )
    assert PROBE_CONFIG  # the probe front Worker's own configuration
