"""The Worker module itself, in Pyodide with the workers SDK and pydantic's WebAssembly core."""

from __future__ import annotations

import json
import types

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
    def __init__(self, method, url, body=b"", headers=None):
        self.method, self.url = method, url
        self._body = body.encode() if isinstance(body, str) else body
        self.headers = FakeHeaders(headers or {})

    @property
    def js_object(self):
        """What the Worker reads of the JavaScript Request: its body stream, here in chunks of 4 KiB
        whose reads never suspend (the tests drive coroutines without an event loop)."""
        return types.SimpleNamespace(body=FakeStream(self._body))


class FakeStream:
    def __init__(self, body, chunk=4096):
        self.chunks = [body[start : start + chunk] for start in range(0, len(body), chunk)]
        self.read_chunks = 0

    def getReader(self):
        stream = self

        class Reader:
            async def read(self):
                if stream.read_chunks == len(stream.chunks):
                    return types.SimpleNamespace(done=True, value=None)
                chunk = stream.chunks[stream.read_chunks]
                stream.read_chunks += 1
                value = types.SimpleNamespace(byteLength=len(chunk), to_bytes=lambda: chunk)
                return types.SimpleNamespace(done=False, value=value)

            async def cancel(self):
                stream.cancelled = True

        return Reader()


class FakeEnv:
    """A Worker's env without a loader, in the in-process mode chosen in [vars]."""

    ALLOW_UNAUTHENTICATED_HTTP = "true"
    SANDBOX_IN_PROCESS = "true"
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
    """An RPC call's ctx: the props of the caller's binding name it (entry.caller_of)."""

    def __init__(self, props=None):
        self.props = {"caller": "test"} if props is None else props

    def waitUntil(self, promise):
        pass


@pytest.fixture
def answered(monkeypatch):
    """The JSON bodies of the Worker's answers, in order: a real Response, its body kept on the way
    in, as reading it back needs an event loop."""
    import entry

    bodies = []

    class RecordingResponse(entry.Response):
        def __init__(self, body=None, **options):
            bodies.append(json.loads(body))
            super().__init__(body, **options)

    monkeypatch.setattr(entry, "Response", RecordingResponse)
    return bodies


def test_worker_module_imports_with_pydantic_from_the_webassembly_wheel():
    import pydantic_core._pydantic_core as core

    import entry  # noqa: F401

    assert core.__file__.endswith(".so") and "wasm32" in core.__file__


def test_fetch_runs_code_and_answers_json(worker, answered):
    response = run_now(
        worker.fetch(FakeRequest("POST", "http://sandbox/v1/execute", json.dumps({"code": "print(6 * 7)"})))
    )
    assert response.status == 200
    assert response.headers.get("content-type") == "application/json"
    assert answered[-1]["output"] == "42"


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
    """A stand-in for the Worker Loader binding: it starts a runner from the main module of the
    code the front Worker gives it, once per named id (`get`) or for every `load`, and answers RPC
    calls with it, or fails as a killed isolate while `fail_with` is set."""

    def __init__(self, fail_with=None):
        self.fail_with = fail_with
        self.loaded = []  # (id, or None when unnamed; the code) of every runner started
        self.runners = {}

    def _start(self, runner_id, code):
        self.loaded.append((runner_id, code))
        return runner_entrypoint(getattr(code.modules, code.mainModule).py)

    def _stub(self, entry):
        loader = self

        class Killed:
            async def execute(self, request):
                raise RuntimeError(loader.fail_with)

        class Stub:
            def getEntrypoint(self):
                return Killed() if loader.fail_with else entry

        return Stub()

    def get(self, runner_id, get_code):
        if runner_id not in self.runners:
            self.runners[runner_id] = self._start(runner_id, get_code())
        return self._stub(self.runners[runner_id])

    def load(self, code):
        return self._stub(self._start(None, code))


def with_loader(loader):
    import entry

    env = FakeEnv()
    env.LOADER = loader
    return entry.Default(FakeContext(), env)


def plain(result):
    return result.to_py() if hasattr(result, "to_py") else result


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


def test_a_killed_runner_is_a_timeout_and_the_next_request_gets_a_new_one(capsys):
    loader = FakeLoader(fail_with="Worker exceeded CPU time limit.")
    request = {"code": "any(iter(int, 1))", "isolationKey": "killed-runner-test"}
    result = plain(run_now(with_loader(loader).execute(request)))
    assert result["errorType"] == "timeout"
    # The next request (a new entrypoint instance, as the runtime makes per request) works, in a
    # runner of its own: the killed one is never called again.
    loader.fail_with = None
    after = plain(
        run_now(with_loader(loader).execute({"code": "print('next')", "isolationKey": "killed-runner-test"}))
    )
    assert after["output"] == "next"
    (killed, _), (replacement, _) = loader.loaded
    assert replacement != killed and replacement.endswith("-1")


def test_isolation_keys_get_runners_of_their_own_and_keep_them():
    loader = FakeLoader()
    for key in ("worker-test-a", "worker-test-b", "worker-test-a"):
        assert (
            plain(run_now(with_loader(loader).execute({"code": "print(1)", "isolationKey": key})))["output"]
            == "1"
        )
    assert [runner_id is not None for runner_id, _ in loader.loaded] == [True, True]
    assert loader.loaded[0][0] != loader.loaded[1][0]


def test_fresh_isolation_loads_an_unnamed_runner_every_time():
    import js

    loader = FakeLoader()
    for _ in range(2):
        answer = plain(run_now(with_loader(loader).execute({"code": "print(1)", "isolation": "fresh"})))
        assert answer["output"] == "1"
    assert [runner_id for runner_id, _ in loader.loaded] == [None, None]
    # The same isolation as a named runner: no network, no bindings.
    code = loader.loaded[0][1]
    assert js.eval("(code) => code.globalOutbound === null && Object.keys(code.env).length === 0")(code)


# --- without a loader ------------------------------------------------------------------------------------


class NoLoaderEnv:
    ALLOW_UNAUTHENTICATED_HTTP = "true"
    DB = None


def test_without_a_loader_or_in_process_mode_execute_and_evaluate_answer_503():
    import entry

    worker = entry.Default(FakeContext(), NoLoaderEnv())
    for method, payload in [
        (worker.execute, {"code": "print(1)"}),
        (worker.evaluate, {"evalCode": "def eval_x(trace):\n    return True, 'ok'", "traces": []}),
    ]:
        answer = plain(run_now(method(payload)))
        assert answer["code"] == "no_isolation" and "SANDBOX_IN_PROCESS" in answer["error"], answer
    response = run_now(worker.fetch(FakeRequest("POST", "http://sandbox/v1/execute", '{"code": "print(1)"}')))
    assert response.status == 503
    assert plain(run_now(worker.validate({"code": "import os"})))["valid"] is False


@pytest.mark.parametrize("setting", ["false", "1", "TRUE", ""])
def test_in_process_mode_is_only_true(setting):
    import entry

    env = NoLoaderEnv()
    env.SANDBOX_IN_PROCESS = setting
    answer = plain(run_now(entry.Default(FakeContext(), env).execute({"code": "print(1)"})))
    assert answer["code"] == "no_isolation"


def test_health_says_which_mode_runs(answered):
    import entry

    for worker in (entry.Default(FakeContext(), NoLoaderEnv()), entry.Default(FakeContext(), FakeEnv()),
                   with_loader(FakeLoader())):  # fmt: skip
        run_now(worker.fetch(FakeRequest("GET", "http://sandbox/v1/health")))
    assert [body["mode"] for body in answered] == ["none", "in-process", "isolate"]


# --- what the runtime hands the Worker --------------------------------------------------------------------


@pytest.mark.parametrize("arguments", [(), ({"code": "print(1)"}, {}), ({"code": "print(1)"}, None, 3)])
def test_rpc_methods_called_with_the_wrong_number_of_arguments_answer_bad_request(worker, arguments):
    for method in (worker.execute, worker.evaluate, worker.validate):
        answer = plain(run_now(method(*arguments)))
        # evaluate's second argument is the caller's LLM capability: a JSON object is none.
        expected = "second argument must be an LLM capability" if (
            method == worker.evaluate and len(arguments) == 2
        ) else f"given {len(arguments)}"  # fmt: skip
        assert answer["code"] == "bad_request" and expected in answer["error"], answer


def runtime_conversion():
    """The conversion the runtime applies to every RPC argument before a method runs: the
    `python_from_rpc` its wrapper module imports from `workers`, after the Worker's main module."""
    import workers

    import entry

    assert workers.python_from_rpc is entry.rpc_argument
    return workers.python_from_rpc


def test_an_rpc_argument_nested_too_deep_is_refused_before_anything_recurses(worker):
    import js

    convert = runtime_conversion()
    # The SDK's own conversion recursed once per level and threw at about 1,000 to 1,500.
    deep = js.eval("(n) => { let d = {}; for (let i = 0; i < n; i++) d = {d}; return {code: 'x', d}; }")
    for depth in (250, 1_000, 1_500, 100_000):
        answer = plain(run_now(worker.execute(convert(deep(depth)))))
        assert answer["code"] == "bad_request" and "nested" in answer["error"], answer
    assert plain(run_now(worker.execute(convert(js.eval("({code: 'print(6 * 7)'})")))))["output"] == "42"


def test_an_rpc_argument_with_a_cycle_is_refused_at_the_nesting_limit(worker):
    import js

    cycle = js.eval("(() => { const o = {code: 'x'}; o.self = o; return o; })()")
    answer = plain(run_now(worker.execute(runtime_conversion()(cycle))))
    assert answer["code"] == "bad_request" and "nested deeper" in answer["error"], answer


def test_rpc_arguments_convert_as_json_and_a_request_as_the_sdk_does():
    import js

    convert = runtime_conversion()
    converted = convert(js.eval("({a: null, b: [1, {c: 'ü\\ud800'}], u: undefined, n: 2.5, big: 2 ** 60})"))
    assert converted == {"a": None, "b": [1, {"c": "ü\ud800"}], "n": 2.5, "big": 2**60}
    assert convert(js.eval("[1, null]")) == [1, None]
    assert convert(js.eval("Object.assign(Object.create(null), {k: 1})")) == {"k": 1}
    assert convert("text") == "text" and convert(3) == 3
    request = convert(js.eval("new Request('http://x/')"))
    assert type(request).__name__ == "Request" and request.url == "http://x/"


def test_an_rpc_batch_reads_as_its_json_text_parses():
    # The reading takes a container's primitive members with it and JavaScript's functions looked
    # up once (2x faster on 100 traces); what it makes is what json.loads makes of the same text.
    import js

    trace = {"steps": [{"n": n, "x": n / 3, "big": 2.0**60, "none": None, "t": "é\ud800"} for n in range(20)]}
    batch = {"evalCode": "x", "traces": [{"trace_id": str(n), "data": trace} for n in range(30)]}
    text = json.dumps(batch)
    assert runtime_conversion()(js.JSON.parse(text)) == json.loads(text)


CALLED_BACK = []


@pytest.mark.parametrize(
    ("argument", "field", "reason"),
    [
        (
            "({code: 'x', traces: [{trace_id: 't', data: {when: new Map([['k', 1]])}}]})",
            "traces.0.data.when",
            "Map",
        ),
        ("({code: 'x', task: {tags: new Set([1])}})", "task.tags", "Set"),
        ("({code: 'x', timeoutMs: NaN})", "the time budget in ms", "nan"),
        ("({code: 'x', n: Infinity})", "n", "inf"),
        ("({code: 'x', f: () => 1})", "f", "function"),
        ("({code: 'x', toJSON: globalThis.calledBack})", "toJSON", "function"),
        ("({code: 'x', d: new Date(0)})", "d", "Date"),
        ("({code: 'x', l: [1, undefined]})", "l.1", "undefined"),
        ("({code: 'x', n: 10n})", "n", "JsBigInt"),
        ("new Map([['code', 'x']])", "(the argument)", "Map"),
    ],
)
def test_an_rpc_argument_that_is_not_plain_json_is_refused_naming_the_field(worker, argument, field, reason):
    import js
    from pyodide.ffi import create_proxy

    js.globalThis.calledBack = create_proxy(lambda *args: CALLED_BACK.append(args) or 1)
    answer = plain(run_now(worker.execute(runtime_conversion()(js.eval(argument)))))
    assert (
        answer["code"] == "bad_request" and f"{field}: " in answer["error"] and reason in answer["error"]
    ), answer
    assert CALLED_BACK == []  # nothing the caller sent was called


# Every odd value a caller can send: each is refused naming its field, none throws a traceback at the
# caller (an ArrayBuffer did: reading its prototype raised inside the conversion).
ODD_VALUES = {
    "new ArrayBuffer(4)": "ArrayBuffer",
    "new SharedArrayBuffer(4)": "SharedArrayBuffer",
    "new DataView(new ArrayBuffer(4))": "DataView",
    "new Uint8Array(4)": "Uint8Array",
    "new BigInt64Array(2)": "BigInt64Array",
    "new Blob(['a'])": "Blob",
    "new TypeError('t')": "TypeError",
    "/a/": "RegExp",
    "Promise.resolve(1)": "Promise",
    "new String('print(1)')": "String",
    "new Number(1)": "Number",
    "new URL('http://x/')": "URL",
    "new Headers({a: 'b'})": "Headers",
    "new Response('x')": "Response",
    "new ReadableStream()": "ReadableStream",
    "new WeakMap()": "WeakMap",
    "Symbol('s')": "",
    "new (class Target { get code() { return 'x'; } })()": "Target",
    "new Proxy({}, {getPrototypeOf() { throw new Error('trap'); }})": "",
    "Object.create(Object.create(null))": "",
    "Object.assign(Object.create({}), {code: 'print(1)'})": "Object",
}


@pytest.mark.parametrize("value", list(ODD_VALUES))
@pytest.mark.parametrize("where", ["top", "field"])
def test_every_odd_javascript_value_is_refused_naming_its_field(worker, value, where):
    import js

    argument = js.eval(f"({value})") if where == "top" else js.eval(f"({{code: 'print(1)', x: {value}}})")
    answer = plain(run_now(worker.execute(runtime_conversion()(argument))))
    assert (answer.get("success"), answer.get("code")) == (False, "bad_request"), answer
    assert "Traceback" not in answer["error"], answer
    if where == "field":  # at the top, a Promise arrives as Pyodide's future, named as that
        assert "invalid request: x: " in answer["error"] and ODD_VALUES[value] in answer["error"], answer
    else:
        assert "invalid request: (the argument): " in answer["error"], answer


@pytest.mark.parametrize(
    ("value", "error"),
    [
        # A plain object or array naming itself Request is plain data, not handed to the SDK.
        ("{constructor: {name: 'Request'}, url: 'http://x/'}", "constructor: Extra inputs"),
        ("Object.assign([1], {constructor: {name: 'Request'}})", "(body): Input should be a valid dict"),
        ("{code: 'print(1)', x: {constructor: {name: 'Map'}, y: [1, 2]}}", "x: Extra inputs"),
        ("(() => { const a = [0]; a[5] = 1; return {code: 'print(1)', a}; })()", "undefined is not JSON"),
    ],
)
def test_plain_data_is_read_as_plain_data_whatever_it_calls_itself(worker, value, error):
    import js

    answer = plain(run_now(worker.execute(runtime_conversion()(js.eval(f"({value})")))))
    assert answer.get("code") == "bad_request" and error in answer["error"], answer


def test_a_batch_of_too_many_traces_is_refused_before_its_traces_are_read(worker, monkeypatch):
    import js

    import entry

    monkeypatch.setattr(entry, "json_scalar", lambda *a: pytest.fail("a trace was read"))
    argument = js.eval("({traces: Array.from({length: 5001}, (_, n) => ({trace_id: 't' + n, data: 0}))})")
    answer = plain(run_now(worker.evaluate(runtime_conversion()(argument))))
    assert (answer["code"], answer["results"]) == ("payload_too_large", [])
    assert "traces: 5001 traces exceed the limit of 1000" in answer["error"], answer


def test_an_rpc_argument_with_too_many_values_is_refused_before_it_is_all_read(worker, monkeypatch):
    import js

    import entry

    monkeypatch.setattr(entry.api, "MAX_JSON_VALUES", 1_000)
    answer = plain(
        run_now(worker.execute(runtime_conversion()(js.eval("({code: 'x', l: Array(5000).fill([])})"))))
    )
    assert answer["code"] == "payload_too_large", answer
    # One array of many members is measured before any of it is converted: the refusal names the
    # array, not a member somewhere past the limit.
    flat = runtime_conversion()(js.eval("({code: 'x', l: Array(5000).fill(0)})"))
    answer = plain(run_now(worker.execute(flat)))
    assert answer["code"] == "payload_too_large" and "invalid request: l: " in answer["error"], answer


@pytest.mark.parametrize(
    "name",
    [
        "_rpc",
        "answer_rpc",
        "__init__",
        "__setattr__",
        "__getattribute__",
        "__class__",
        "__reduce__",
        "__dir__",
    ],
)
def test_only_the_documented_methods_are_callable_on_the_entrypoint(worker, name):
    # The runtime calls whatever callable attribute an RPC call names; none but the API's is there.
    import entry

    with pytest.raises(AttributeError):
        getattr(worker, name)
    assert {name for name in dir(worker) if callable(getattr(worker, name, None))} <= entry.EXPOSED


def test_a_binding_without_a_caller_identity_is_refused(worker):
    import entry

    for props in ({}, {"caller": ""}, {"caller": "two words"}):
        env = FakeEnv()
        answer = plain(run_now(entry.Default(FakeContext(props), env).execute({"code": "print(1)"})))
        assert (answer["code"], answer["errorType"]) == ("unauthorized", "request") and "props" in answer[
            "error"
        ]


def test_two_bindings_get_runners_of_their_own():
    loader = FakeLoader()
    import entry

    for caller in ("platform-a", "platform-b", "platform-a"):
        env = FakeEnv()
        env.LOADER = loader
        worker = entry.Default(FakeContext({"caller": caller}), env)
        assert plain(run_now(worker.execute({"code": "print(1)"})))["output"] == "1"
    assert len(loader.loaded) == 2 and loader.loaded[0][0] != loader.loaded[1][0]


def test_an_http_body_past_the_limit_is_refused_while_it_is_read(worker, answered, monkeypatch):
    import entry

    monkeypatch.setattr(entry.api, "MAX_BODY_BYTES", 10_000)
    request = FakeRequest("POST", "http://sandbox/v1/execute", b"[" * 100_000)
    stream = request.js_object.body
    request = types.SimpleNamespace(
        method="POST", url=request.url, headers=request.headers, js_object=types.SimpleNamespace(body=stream)
    )
    assert run_now(worker.fetch(request)).status == 413
    assert stream.read_chunks == 3 and stream.cancelled  # 12 KiB read of 100 KB, the rest never


def test_an_http_body_with_invalid_utf8_is_refused_not_replaced(worker, answered):
    # request.text() would have turned 0xff into U+FFFD, and the code would have run.
    body = b'{"code": "print(\'\xff\')"}'
    response = run_now(worker.fetch(FakeRequest("POST", "http://sandbox/v1/execute", body)))
    assert response.status == 400
    assert answered[-1]["code"] == "bad_request" and "utf-8" in answered[-1]["error"]


@pytest.mark.parametrize(
    ("setting", "limit"), [(None, 64), ("3", 3), (" 200 ", 200), ("0", 0), ("many", 64), ("-1", 64)]
)
def test_the_named_runner_limit_comes_from_a_var(setting, limit, capsys):
    import entry
    from sandbox import isolate

    assert isolate.MAX_NAMED_RUNNERS == 64
    assert entry.whole_number_var("SANDBOX_NAMED_RUNNERS", setting, 64) == limit
    assert ("not a whole number" in capsys.readouterr().out) == (setting in {"many", "-1"})


def test_past_the_named_runner_limit_requests_run_in_unnamed_runners(monkeypatch):
    from sandbox import isolate

    monkeypatch.setattr(isolate, "RUNNER_SLOTS", isolate.RunnerSlots())
    loader = FakeLoader()
    for key in ("limit-a", "limit-b", "limit-a"):
        env = FakeEnv()
        env.LOADER, env.SANDBOX_NAMED_RUNNERS = loader, "1"
        import entry

        assert (
            plain(
                run_now(entry.Default(FakeContext(), env).execute({"code": "print(1)", "isolationKey": key}))
            )["output"]
            == "1"
        )
    (first, _), (second, _) = loader.loaded
    assert first is not None and second is None  # limit-a named, limit-b past the limit; limit-a warm


# --- ctx.call_llm's model --------------------------------------------------------------------------------


class GatewayEnv(FakeEnv):
    """A Worker configured with an LLM gateway binding and the models scripts may name."""

    SANDBOX_LLM_MODELS = " judge-1, judge-2 ,"

    class LLM:
        @staticmethod
        async def complete(request):
            return "PASS"


def test_the_gate_takes_the_callers_capability_else_the_configured_model_else_none(worker):
    import entry

    assert entry.llm_gate(FakeEnv(), frozenset()) is None
    configured = entry.llm_gate(GatewayEnv(), frozenset({"llm"}))
    assert (configured.source, configured.models, configured.keep_text) == (
        "gateway",
        ("judge-1", "judge-2"),
        True,
    )
    theirs = entry.llm_gate(GatewayEnv(), frozenset(), capability=GatewayEnv.LLM)
    assert (theirs.source, theirs.models) == ("caller", ())


def test_the_capability_a_runner_is_handed_answers_json_text_and_refuses_anything_else(worker):
    import json

    import entry
    from sandbox import llm

    async def backend(request):
        return "PASS"

    complete = entry.capability_of(llm.Gate(backend, "gateway"))
    call = json.dumps({"prompt": "PASS?", "model": None, "temperature": 0.0, "maxTokens": 5})
    assert json.loads(run_now(complete(call)))["text"] == "PASS"
    for forged in (3, "[" * 5000, "x" * (entry.MAX_CAPABILITY_CALL_CHARS + 1), '{"prompt": 1}'):
        assert "error" in json.loads(run_now(complete(forged))), forged
    # The longest prompt of the widest characters, as the runner sends it (isolate_entry.model_through,
    # not escaped to ASCII), and of control characters, which JSON escapes anyway, is no forgery.
    limit = llm.LLMLimits().prompt_chars
    for prompt in ("中" * limit, "\U0001f600" * (limit // 2), "\x01" * limit):
        request = llm.LLMRequest(prompt, None, 0.0, 5, 1000)
        answer = json.loads(run_now(complete(json.dumps(request.to_wire(), ensure_ascii=False))))
        assert answer.get("text") == "PASS", answer
