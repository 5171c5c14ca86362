"""End to end against a local Workers runtime: `pywrangler dev` for the sandbox, `wrangler dev` for a
caller bound to it (the example caller's routes, tests_e2e/rpc_caller/), the README's one-process
command, local D1 with the migrations applied, and a probe Worker (tests_e2e/probe/) that loads a raw
script with the runner isolate's settings.

Run with `scripts/test-e2e`, which prepares the runtime (downloaded, or built offline where it cannot
be) and is part of CI; where neither works every test skips with the reason.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from .devserver import (
    ENV,
    LOOPBACK,
    ROOT,
    Server,
    Unavailable,
    compatibility_date,
    dev_command,
    free_port,
    get,
    project,
    start,
    stop,
)

HERE = Path(__file__).resolve().parent
PROBE = HERE / "probe"
PROBE_SECRET = "probe-secret-5d1e0c"
EVAL = "def eval_x(trace):\n    return True, 'ok'"


@pytest.fixture(scope="module", autouse=True)
def runtime():
    reason = os.environ.get("SANDBOX_E2E_UNAVAILABLE")
    if reason:
        pytest.skip(reason)


def started(command: list[str], port: int, cwd: Path = ROOT, env: dict[str, str] | None = None) -> Server:
    try:
        return start(command, port, cwd, env)
    except Unavailable as why:
        pytest.skip(str(why))


def migrate(persist: Path) -> None:
    done = subprocess.run(
        ["wrangler", "d1", "migrations", "apply", "sandbox-log", "--local", "--persist-to", str(persist)],
        cwd=ROOT, env=ENV, capture_output=True, text=True, input="y\n", check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(
            f"wrangler could not apply the migrations locally: {done.stderr.strip().splitlines()[-1:]}"
        )


def log_rows(persist: Path, sql: str) -> list[dict]:
    result = subprocess.run(
        ["wrangler", "d1", "execute", "sandbox-log", "--local", "--persist-to", str(persist), "--json",
         "--command", sql],
        cwd=ROOT, env=ENV, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(result.stdout)[0]["results"]


@pytest.fixture(scope="module")
def persist(tmp_path_factory) -> Path:
    """The sandbox's local D1, apart from the one `pywrangler dev` uses by hand (.wrangler/state)."""
    path = tmp_path_factory.mktemp("sandbox-state")
    migrate(path)
    return path


@pytest.fixture(scope="module")
def workers(persist):
    sandbox_port, caller_port = free_port(), free_port()
    sandbox = started(
        dev_command("pywrangler", sandbox_port, "--var", "ALLOW_UNAUTHENTICATED_HTTP:true",
                    "--persist-to", str(persist)),
        sandbox_port,
    )  # fmt: skip
    caller = started(
        dev_command("wrangler", caller_port, "-c", str(HERE / "rpc_caller" / "wrangler.toml")), caller_port
    )
    yield sandbox_port, caller_port
    stop(caller)
    stop(sandbox)


class Target(http.server.BaseHTTPRequestHandler):
    """A server on the host's loopback that counts the requests reaching it."""

    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"reached")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def target():
    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), Target)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://{LOOPBACK}:{server.server_port}/"
    server.shutdown()


PROBE_CONFIG = f"""name = "runner-probe"
main = "src/front.py"
compatibility_date = "{compatibility_date()}"
compatibility_flags = ["python_workers"]

# Bindings and a secret of the front Worker, for the probe to look for.
[vars]
PROBE_SECRET = "{PROBE_SECRET}"

[[worker_loaders]]
binding = "LOADER"

[[d1_databases]]
binding = "DB"
database_name = "probe"
database_id = "00000000-0000-0000-0000-000000000001"
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    root = tmp_path_factory.mktemp("runner-probe")
    project(root, PROBE_CONFIG, (PROBE / "front.py", PROBE / "probe_runner.py"))
    port = free_port()
    server = started(dev_command("pywrangler", port), port, cwd=root)
    yield port
    stop(server)


def probe_runner(port: int, **query: str) -> dict:
    """An execute request through the probe front Worker's path to a runner: what the probe runner
    said about itself (instance, calls), or the front Worker's result when the runner failed."""
    status, answer = get(port, f"/runner?{urllib.parse.urlencode(query)}")
    assert status == 200, answer
    return json.loads(answer["output"]) if answer.get("success") else answer


# --- HTTP -------------------------------------------------------------------------------------------------


def test_http_execute_and_health(workers):
    sandbox, _ = workers
    assert get(sandbox, "/v1/health")[1]["status"] == "ok"
    status, body = get(sandbox, "/v1/execute", {"code": "print(6 * 7)"})
    assert (status, body["output"]) == (200, "42")


def test_http_refuses_bad_input(workers):
    sandbox, _ = workers
    assert get(sandbox, "/v1/execute", {"code": 1})[0] == 400
    assert get(sandbox, "/v1/nope")[0] == 404
    deep = b'{"code": "print(1)", "x": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"
    assert get(sandbox, "/v1/execute", deep)[1]["code"] == "bad_request"


def test_http_body_with_invalid_utf8_is_refused_not_replaced(workers):
    sandbox, _ = workers
    # request.text() would make U+FFFD of the 0xff byte, and the code would run.
    status, body = get(sandbox, "/v1/execute", b'{"code": "print(\'\xff\')"}')
    assert (status, body["code"]) == (400, "bad_request") and "utf-8" in body["error"]


# --- RPC --------------------------------------------------------------------------------------------------


def test_rpc_through_the_example_caller(workers):
    _, caller = workers
    assert get(caller, "/execute")[1]["output"] == "42"
    assert [r["passed"] for r in get(caller, "/evaluate")[1]["results"]] == [True, False]
    assert get(caller, "/validate")[1]["valid"] is False


@pytest.mark.parametrize(("route", "given"), [("/no-argument", 0), ("/two-arguments", 2)])
def test_rpc_called_with_the_wrong_arguments_answers_error_and_code(workers, route, given):
    _, caller = workers
    answer = get(caller, route)[1]
    assert (answer["success"], answer["code"], answer["error"]) == (
        False, "bad_request", f"execute takes one argument, the request object; it was given {given}"
    )  # fmt: skip


@pytest.mark.parametrize("depth", [250, 1_500])
def test_rpc_argument_nested_too_deep_answers_bad_request(workers, depth):
    _, caller = workers
    # 1,500 levels threw RecursionError from the SDK's conversion, before the sandbox's code ran.
    answer = get(caller, f"/nested?depth={depth}")[1]
    assert answer.get("code") == "bad_request", answer
    assert get(caller, "/execute")[1]["output"] == "42"


def test_requests_are_logged_in_local_d1(workers, persist):
    sandbox, caller = workers
    get(sandbox, "/v1/execute", {"code": "print('logged')"})
    get(caller, "/evaluate")
    time.sleep(2)  # writes happen after the answers, through waitUntil
    rows = log_rows(persist, "SELECT kind, caller, mode FROM executions")
    assert {("execute", "anonymous", "isolate"), ("evaluate", "binding", "isolate")} <= {
        (row["kind"], row["caller"], row["mode"]) for row in rows
    }
    assert log_rows(persist, "SELECT COUNT(*) AS n FROM trace_results")[0]["n"] >= 2


# --- the runner isolate -----------------------------------------------------------------------------------


def test_runner_isolate_mode_is_reported(workers):
    sandbox, _ = workers
    assert get(sandbox, "/v1/health")[1]["mode"] == "isolate"


def test_execution_and_evaluation_through_the_runner(workers):
    sandbox, _ = workers
    assert get(sandbox, "/v1/execute", {"code": "print(1 + 1)"})[1]["output"] == "2"
    body = {"evalCode": EVAL, "traces": [{"trace_id": "t", "data": {}}]}
    assert get(sandbox, "/v1/evaluate", body)[1]["results"][0]["passed"] is True
    for placement in ({"isolationKey": "tenant-1"}, {"isolationKey": "tenant-1", "isolation": "fresh"}):
        assert get(sandbox, "/v1/execute", {"code": "print(3)", **placement})[1]["output"] == "3"
        assert get(sandbox, "/v1/evaluate", {**body, **placement})[1]["results"][0]["passed"] is True


@pytest.mark.skipif(
    os.environ.get("SANDBOX_E2E_CPU_LIMITS") != "1",
    reason="local workerd applies no CPU limit to runner isolates (nor to any Worker), and a runaway "
    "in one C call blocks its single thread; set SANDBOX_E2E_CPU_LIMITS=1 on a runtime that does",
)
def test_cpu_bound_runaway_in_c_ends_as_a_timeout_and_the_front_keeps_serving(workers):
    sandbox, _ = workers
    # The engine refuses iter(int, 1) (iter with a sentinel takes only the script's own functions)...
    status, body = get(sandbox, "/v1/execute", {"code": "any(iter(int, 1))"})
    assert status == 200 and body["errorType"] == "runtime"
    # ...so run a C loop the step count cannot see: only the runner's CPU limit ends it.
    status, body = get(sandbox, "/v1/execute", {"code": "import re\nre.match('(a+)+$', 'a' * 64 + 'b')"})
    assert status == 200 and body["errorType"] == "timeout"
    assert get(sandbox, "/v1/execute", {"code": "print('still here')"})[1]["output"] == "still here"


def test_a_raw_script_with_the_runners_settings_reaches_nothing(probe, target):
    hits_before = Target.hits
    status, report = get(probe, f"/?target={urllib.parse.quote(target, safe='')}")
    assert status == 200, report
    # The target was up: the probe's front Worker, whose network is open, reached it.
    assert report["control"] == {"status": 200} and Target.hits == hits_before + 1
    for way_out in ("js.fetch", "pyodide.http.pyfetch", "connect"):
        assert report[way_out]["reached"] is False, (way_out, report[way_out])
    assert Target.hits == hits_before + 1  # nothing from the runner arrived
    assert report["env"] == []
    # The env a module can import: either out of reach, or empty.
    module_env = report["cloudflare:workers env"]
    assert module_env["reached"] is False or module_env["detail"] == "[]", module_env
    # None of the front Worker's bindings or secrets shows anywhere the script looked.
    text = json.dumps(report)
    assert PROBE_SECRET not in text
    assert not {"DB", "LOADER", "PROBE_SECRET"} & set(report["globalThis"])


def test_two_keys_never_share_a_runner_and_one_key_keeps_its_own(probe):
    first_a = probe_runner(probe, isolationKey="key-a")
    first_b = probe_runner(probe, isolationKey="key-b")
    second_a = probe_runner(probe, isolationKey="key-a")
    assert first_b["instance"] != first_a["instance"]
    assert second_a == {"instance": first_a["instance"], "calls": first_a["calls"] + 1}  # warm, state kept
    assert probe_runner(probe)["instance"] not in {first_a["instance"], first_b["instance"]}  # no key


def test_fresh_runners_are_never_reused(probe):
    warm = probe_runner(probe, isolationKey="key-fresh")
    fresh = [probe_runner(probe, isolationKey="key-fresh", isolation="fresh") for _ in range(3)]
    assert [runner["calls"] for runner in fresh] == [1, 1, 1]
    assert len({warm["instance"], *(runner["instance"] for runner in fresh)}) == 4
    assert probe_runner(probe, isolationKey="key-fresh")["instance"] == warm["instance"]


@pytest.mark.parametrize("act", ["fault", "crash", "malformed"])
def test_a_failed_runner_is_replaced_and_never_called_again(probe, act):
    key = f"key-recycled-{act}"
    before = probe_runner(probe, isolationKey=key)
    failed = probe_runner(probe, isolationKey=key, act=act)
    if act == "fault":
        assert failed["instance"] == before["instance"]  # the run's answer is kept; the runner goes
    else:
        assert (failed["success"], failed["errorType"]) == (False, "internal")
    after = probe_runner(probe, isolationKey=key)
    assert after["instance"] != before["instance"] and after["calls"] == 1
    assert probe_runner(probe, isolationKey=key) == {"instance": after["instance"], "calls": 2}


# --- the README's one-process command -----------------------------------------------------------------------


def test_the_readme_one_process_command_keeps_the_log(tmp_path):
    """`wrangler dev -c examples/caller/wrangler.toml -c wrangler.toml`: without --persist-to, D1's
    state landed under examples/caller/.wrangler, where no migration ran, and every log write failed."""
    migrate(tmp_path)
    port = free_port()
    # Its own dev registry: the sandbox it binds to is the one in this process.
    env = {**ENV, "WRANGLER_REGISTRY_PATH": tempfile.mkdtemp(dir=tmp_path)}
    server = started(
        dev_command("wrangler", port, "-c", "examples/caller/wrangler.toml", "-c", "wrangler.toml",
                    "--persist-to", str(tmp_path)),
        port, env=env,
    )  # fmt: skip
    try:
        assert get(port, "/execute")[1]["output"] == "42"
        time.sleep(2)  # the write happens after the answer
        rows = log_rows(tmp_path, "SELECT kind, caller FROM executions")
        assert rows == [{"kind": "execute", "caller": "binding"}]
    finally:
        stop(server)
