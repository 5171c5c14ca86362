"""End to end against a local Workers runtime: `pywrangler dev` for the sandbox, `wrangler dev` for
the example caller, local D1 with the migrations applied, and a probe Worker (tests_e2e/probe/) that
loads a raw script with the runner isolate's settings.

Needs the Workers runtime for Python, which wrangler downloads from Cloudflare on first use; where
that cannot happen (these build machines have no internet) every test skips with one line saying
why. Not part of scripts/test; run it with:

    uv run pytest tests_e2e
"""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from .devserver import ENV, ROOT, Unavailable, compatibility_date, free_port, get, project, start, stop

PROBE = Path(__file__).resolve().parent / "probe"
PROBE_SECRET = "probe-secret-5d1e0c"


def started(command: list[str], port: int, cwd: Path = ROOT) -> subprocess.Popen[str]:
    try:
        return start(command, port, cwd)
    except Unavailable as why:
        pytest.skip(str(why))


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
    sandbox = started(
        ["pywrangler", "dev", "--port", str(sandbox_port), "--var", "ALLOW_UNAUTHENTICATED_HTTP:true"],
        sandbox_port,
    )
    caller = started(
        ["wrangler", "dev", "-c", "examples/caller/wrangler.toml", "--port", str(caller_port)], caller_port
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
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
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
    process = started(["pywrangler", "dev", "--port", str(port)], port, cwd=root)
    yield port
    stop(process)


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
