"""End to end against a local Workers runtime: `pywrangler dev` for the sandbox, `wrangler dev` for
the example caller, local D1 with the migrations applied.

Needs the Workers runtime for Python, which wrangler downloads from Cloudflare on first use; where
that cannot happen (these build machines have no internet) every test skips with one line saying
why. Not part of scripts/test; run it with:

    uv run pytest tests_e2e
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "node_modules" / ".bin"
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}  # wrangler needs Node 22
READY_SECONDS = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(command: list[str], port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            pytest.skip(f"{command[0]} dev could not start the Workers runtime: {_first_error(output)}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=2)
            return process
        except urllib.error.HTTPError:
            return process  # the caller Worker answers 404 there: it is up
        except OSError:
            time.sleep(1)
    process.terminate()
    pytest.skip(f"{command[0]} dev was not ready within {READY_SECONDS} s")


def _first_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if line.lower().startswith(("error", "cause: failed to download", "✘")):
            return line
    return lines[-1] if lines else "no output"


@pytest.fixture(scope="module")
def workers():
    migrate = subprocess.run(
        ["wrangler", "d1", "migrations", "apply", "sandbox-log", "--local"],
        cwd=ROOT, env=ENV, capture_output=True, text=True, input="y\n", check=False,
    )  # fmt: skip
    if migrate.returncode != 0:
        pytest.skip(
            f"wrangler could not apply the migrations locally: {migrate.stderr.strip().splitlines()[-1:]}"
        )
    sandbox_port, caller_port = free_port(), free_port()
    sandbox = start(
        ["pywrangler", "dev", "--port", str(sandbox_port), "--var", "ALLOW_UNAUTHENTICATED_HTTP:true"],
        sandbox_port,
    )
    caller = start(
        ["wrangler", "dev", "-c", "examples/caller/wrangler.toml", "--port", str(caller_port)], caller_port
    )
    yield sandbox_port, caller_port
    for process in (caller, sandbox):
        process.terminate()
        process.wait(timeout=30)


def get(port: int, path: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method="POST" if data else "GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def log_rows(sql: str) -> list[dict]:
    result = subprocess.run(
        ["wrangler", "d1", "execute", "sandbox-log", "--local", "--json", "--command", sql],
        cwd=ROOT, env=ENV, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(result.stdout)[0]["results"]


def test_http_execute_and_health(workers):
    sandbox, _ = workers
    assert get(sandbox, "/v1/health")[1]["status"] == "ok"
    status, body = get(sandbox, "/v1/execute", {"code": "print(6 * 7)"})
    assert (status, body["output"]) == (200, "42")


def test_http_refuses_bad_input(workers):
    sandbox, _ = workers
    assert get(sandbox, "/v1/execute", {"code": 1})[0] == 400
    assert get(sandbox, "/v1/nope")[0] == 404


def test_rpc_through_the_example_caller(workers):
    _, caller = workers
    assert get(caller, "/execute")[1]["output"] == "42"
    assert [r["passed"] for r in get(caller, "/evaluate")[1]["results"]] == [True, False]
    assert get(caller, "/validate")[1]["valid"] is False


def test_requests_are_logged_in_local_d1(workers):
    time.sleep(2)  # writes happen after the answers, through waitUntil
    kinds = {row["kind"] for row in log_rows("SELECT kind FROM executions")}
    assert {"execute", "evaluate", "validate"} <= kinds
    assert log_rows("SELECT COUNT(*) AS n FROM trace_results")[0]["n"] >= 2


def test_runner_isolate_mode_is_reported(workers):
    sandbox, _ = workers
    assert get(sandbox, "/v1/health")[1]["mode"] == "isolate"


def test_execution_and_evaluation_through_the_runner(workers):
    sandbox, _ = workers
    assert get(sandbox, "/v1/execute", {"code": "print(1 + 1)"})[1]["output"] == "2"
    body = {
        "evalCode": "def eval_x(trace):\n    return True, 'ok'",
        "traces": [{"trace_id": "t", "data": {}}],
    }
    assert get(sandbox, "/v1/evaluate", body)[1]["results"][0]["passed"] is True


def test_cpu_bound_runaway_in_c_ends_as_a_timeout_and_the_front_keeps_serving(workers):
    sandbox, _ = workers
    # iter(int, 1) is refused by the engine's own guard, so go through a C loop it cannot see.
    status, body = get(sandbox, "/v1/execute", {"code": "import re\nre.match('(a+)+$', 'a' * 64 + 'b')"})
    assert status == 200 and body["errorType"] == "timeout"
    assert get(sandbox, "/v1/execute", {"code": "print('still here')"})[1]["output"] == "still here"
