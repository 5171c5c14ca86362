"""The Worker module itself, in Pyodide with the workers SDK and pydantic's WebAssembly core."""

from __future__ import annotations

import json

import pytest

from sandbox.log import run_now

from .support import IN_PYODIDE, runner_entrypoint

pytestmark = pytest.mark.skipif(
    not IN_PYODIDE, reason="the workers SDK imports js and pyodide, which exist only inside Pyodide"
)


class FakeHeaders(dict):
    def get(self, key, default=None):
        return super().get(key.lower(), default)


class FakeRequest:
    def __init__(self, method, url, body="", headers=None):
        self.method, self.url, self._body = method, url, body
        self.headers = FakeHeaders(headers or {})

    async def text(self):
        return self._body


class FakeEnv:
    ALLOW_UNAUTHENTICATED_HTTP = "true"
    DB = None


@pytest.fixture(scope="module", autouse=True)
def workerd_helper():
    """workerd gives every Python Worker two modules of its own, `_pyodide_entrypoint_helper` and
    `_cloudflare_compat_flags`; Node's Pyodide has neither. These stand-ins answer the SDK's calls
    at import and construction, nothing more."""
    import sys
    import types

    helper = types.ModuleType("_pyodide_entrypoint_helper")
    helper.patchWaitUntil = lambda ctx: None
    helper.cloudflareWorkersModule = helper.cloudflareSocketsModule = None
    flags = types.ModuleType("_cloudflare_compat_flags")
    flags.python_workflows_implicit_dependencies = False
    sys.modules.setdefault("_pyodide_entrypoint_helper", helper)
    sys.modules.setdefault("_cloudflare_compat_flags", flags)


@pytest.fixture(scope="module")
def worker(workerd_helper):
    import entry

    return entry.Default(FakeContext(), FakeEnv())


class FakeContext:
    def waitUntil(self, promise):
        pass


def test_worker_module_imports_with_pydantic_from_the_webassembly_wheel():
    import pydantic_core._pydantic_core as core

    import entry  # noqa: F401

    assert core.__file__.endswith(".so") and "wasm32" in core.__file__


def test_fetch_runs_code_and_answers_json(worker, monkeypatch):
    import entry

    bodies = []

    class RecordingResponse(entry.Response):
        # A real Response; the body is kept on the way in, as reading it back needs an event loop.
        def __init__(self, body=None, **options):
            bodies.append(body)
            super().__init__(body, **options)

    monkeypatch.setattr(entry, "Response", RecordingResponse)
    response = run_now(
        worker.fetch(FakeRequest("POST", "http://sandbox/v1/execute", json.dumps({"code": "print(6 * 7)"})))
    )
    assert response.status == 200
    assert response.headers.get("content-type") == "application/json"
    assert json.loads(bodies[-1])["output"] == "42"


def test_fetch_refuses_bad_input(worker):
    response = run_now(worker.fetch(FakeRequest("POST", "http://sandbox/v1/execute", "{oops")))
    assert response.status == 400


def test_fetch_unknown_route_is_404(worker):
    assert run_now(worker.fetch(FakeRequest("GET", "http://sandbox/nope"))).status == 404


def test_rpc_method_returns_a_plain_object(worker):
    result = run_now(worker.validate({"code": "import os"}))
    result = result.to_py() if hasattr(result, "to_py") else result
    assert result["valid"] is False


def test_worker_code_reaches_javascript_with_a_null_global_outbound():
    import js

    import entry
    from sandbox import isolate

    code = entry.worker_code_for_js(isolate.worker_code(7000))
    # null, not undefined: undefined would leave the runner's network open.
    assert js.eval("(code) => code.globalOutbound === null")(code)
    assert js.eval("(code) => Object.keys(code.env).length === 0 && code.limits.cpuMs === 7000")(code)
    assert js.eval("(code) => typeof code.modules['isolate_entry.py'].py === 'string'")(code)
    assert js.eval("(code) => code.compatibilityFlags.includes('disable_python_external_sdk')")(code)


class FakeLoader:
    """A stand-in for the Worker Loader binding: it starts the runner from the main module of the
    code the front Worker gives it, and answers RPC calls with it, or fails as a killed isolate."""

    def __init__(self, fail_with=None):
        self.fail_with = fail_with
        self.loaded = []

    def get(self, runner_id, get_code):
        code = get_code()
        self.loaded.append((runner_id, code))
        entry = runner_entrypoint(getattr(code.modules, code.mainModule).py)
        fail_with = self.fail_with

        class Killed:
            async def execute(self, request):
                raise RuntimeError(fail_with)

        class Stub:
            def getEntrypoint(self):
                return Killed() if fail_with else entry

        return Stub()


def test_with_a_loader_the_front_worker_runs_code_in_the_runner(monkeypatch):
    import js

    import entry

    loader = FakeLoader()
    env = FakeEnv()
    env.LOADER = loader
    worker = entry.Default(FakeContext(), env)
    result = run_now(worker.execute({"code": "print(6 * 7)"}))
    result = result.to_py() if hasattr(result, "to_py") else result
    assert result["output"] == "42"
    ((runner_id, code),) = loader.loaded
    assert runner_id.startswith("sandbox-runner-")
    assert js.eval("(code) => code.globalOutbound === null && code.mainModule === 'isolate_entry.py'")(code)


def test_a_killed_runner_is_a_timeout_and_the_front_worker_goes_on(capsys):
    import entry

    env = FakeEnv()
    env.LOADER = FakeLoader(fail_with="Worker exceeded CPU time limit.")
    worker = entry.Default(FakeContext(), env)
    result = run_now(worker.execute({"code": "any(iter(int, 1))"}))
    result = result.to_py() if hasattr(result, "to_py") else result
    assert result["errorType"] == "timeout"
    # The next request (a new entrypoint instance, as the runtime makes per request) works.
    env = FakeEnv()
    env.LOADER = FakeLoader()
    after = run_now(entry.Default(FakeContext(), env).execute({"code": "print('next')"}))
    after = after.to_py() if hasattr(after, "to_py") else after
    assert after["output"] == "next"
