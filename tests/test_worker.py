"""The Worker module itself, in Pyodide with the workers SDK and pydantic's WebAssembly core."""

from __future__ import annotations

import json

import pytest

from sandbox.log import run_now

from .support import IN_PYODIDE

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
