"""The Worker's entry point: the only module that knows the `workers` SDK and `js`.

Every method turns a request or an RPC call into a call into `sandbox.api` and the answer into a
Response or a plain object; log rows are written after the answer, through ctx.waitUntil. With a
LOADER binding, untrusted code runs in runner isolates started by the Worker Loader
(src/isolate_entry.py); without one, only if SANDBOX_IN_PROCESS is "true", in this interpreter.
"""

import asyncio
import functools
import json
from urllib.parse import parse_qsl, urlsplit

import js
import workers
from pyodide.ffi import JsException, JsProxy, create_proxy, jsnull, to_js
from workers import Response, WorkerEntrypoint, python_to_rpc

from sandbox import api, isolate, log
from sandbox.limits import check_json_text


class Unreadable:
    """What an RPC argument arrives as when it is not JSON data or is nested too deeply to read."""

    def __init__(self, reason):
        self.reason = reason


def rpc_argument(value, convert=workers.python_from_rpc):
    """The runtime converts every RPC argument before a method runs, with the `python_from_rpc` it
    imports from `workers` after this module (so the one set below). The SDK's own recursed once per
    level, in JavaScript and in Python: a trace about 1,500 deep threw RangeError or RecursionError,
    with a traceback, at the caller, before any of our code ran (a higher recursion limit overflows
    V8's stack and kills this isolate instead: measured). A plain object or array is read here as
    the JSON it must be: JSON.stringify, whose stack check throws where it runs out; its nesting
    measured without recursion; json.loads. Anything else (a fetch's Request) goes to the SDK."""
    constructor = getattr(value, "constructor", None) if isinstance(value, JsProxy) else None
    if getattr(constructor, "name", None) not in ("Object", "Array"):
        return convert(value)
    try:
        text = js.JSON.stringify(value)
    except JsException as error:  # RangeError: nested past the stack; TypeError: a BigInt, a cycle
        return Unreadable(f"not readable as JSON (nested too deeply, or not JSON data): {error}")
    try:
        check_json_text(api.LIMITS, text)
    except ValueError as error:
        return Unreadable(str(error))
    return json.loads(text)


workers.python_from_rpc = rpc_argument


class D1Database:
    """sandbox.log's Database interface over a D1 binding."""

    def __init__(self, binding):
        self.binding = binding

    def _statement(self, sql, params):
        # A Python None crosses into JavaScript as undefined, which D1 refuses to bind: use null.
        return self.binding.prepare(sql).bind(*(jsnull if value is None else value for value in params))

    async def batch(self, statements):
        await self.binding.batch([self._statement(sql, params) for sql, params in statements])

    async def query(self, sql, params=()):
        result = await self._statement(sql, params).all()
        rows = result.results
        return rows.to_py() if isinstance(rows, JsProxy) else list(rows)


def worker_code_for_js(code):
    """isolate.worker_code as the JavaScript object the loader takes. to_js turns None into
    undefined, and `globalOutbound: undefined` leaves the network open (measured on workerd): it
    must be null."""
    converted = to_js(code, dict_converter=js.Object.fromEntries)
    converted.globalOutbound = jsnull
    return converted


def runner_call(loader, worker_code=isolate.worker_code):
    """isolate.RunnerCall through the Worker Loader: a named runner by its id, which the loader may
    keep warm, or an unnamed one (`load`), which no other request reaches and which is freed after
    use. `worker_code` builds the runner for a CPU limit; the probe in tests_e2e swaps its main module."""

    async def call(kind, request, placement):
        # JSON text both ways (isolate.handle_json); isolate.read_answer reads the answer.
        if placement.runner_id is None:
            stub = loader.load(worker_code_for_js(worker_code(placement.cpu_ms)))
            return await getattr(stub.getEntrypoint(), kind)(json.dumps(request))
        # The loader calls this only when it starts a new isolate for the id, so a warm runner
        # costs no conversion of the sources.
        callback = create_proxy(lambda: worker_code_for_js(worker_code(placement.cpu_ms)))
        try:
            stub = loader.get(placement.runner_id, callback)
            return await getattr(stub.getEntrypoint(), kind)(json.dumps(request))
        finally:
            callback.destroy()

    return call


@functools.cache
def named_runner_limit(setting):
    """The SANDBOX_NAMED_RUNNERS var: how many named runners this front Worker isolate may start
    (isolate.MAX_NAMED_RUNNERS when unset). A setting that is not a whole number is reported in the
    log, once, and the default used: a typo in a var must not stop every request."""
    if setting is None:
        return isolate.MAX_NAMED_RUNNERS
    if isinstance(setting, str) and setting.strip().isdigit():
        return int(setting)
    print(f"SANDBOX_NAMED_RUNNERS is not a whole number: {setting!r}; using {isolate.MAX_NAMED_RUNNERS}")
    return isolate.MAX_NAMED_RUNNERS


class Default(WorkerEntrypoint):
    def _database(self):
        binding = getattr(self.env, "DB", None)
        return D1Database(binding) if binding is not None else None

    def _executor(self):
        """Where requests run, and the name of that mode for health and the log. In-process is a
        choice, never a fallback: without a loader and without it, execute and evaluate are refused."""
        loader = getattr(self.env, "LOADER", None)
        if loader is not None:
            runner_ids = isolate.RUNNER_IDS
            runner_ids.max_named = named_runner_limit(getattr(self.env, "SANDBOX_NAMED_RUNNERS", None))
            call = runner_call(loader)

            async def through_runner(kind, request, caller):
                return await isolate.through_runner(call, api.check_answer, kind, request, caller, runner_ids)

            return through_runner, "isolate"
        if getattr(self.env, "SANDBOX_IN_PROCESS", None) == "true":
            return api.in_process, "in-process"
        return api.without_isolation, "none"

    def _log_after_answer(self, entry):
        database = self._database()
        if entry is None or database is None:
            return
        task = asyncio.ensure_future(log.write(database, entry))
        # waitUntil takes a promise-like; the proxy lives until the write settles.
        proxy = create_proxy(task)
        task.add_done_callback(lambda _: proxy.destroy())
        self.ctx.waitUntil(proxy)

    async def fetch(self, request):
        url = urlsplit(request.url)
        # The bytes as sent: request.text() made U+FFFD of invalid UTF-8 and ran the code; api refuses it.
        body = await request.bytes() if request.method != "GET" else b""
        access = api.Access.from_env(
            getattr(self.env, "SANDBOX_API_TOKEN", None),
            getattr(self.env, "ALLOW_UNAUTHENTICATED_HTTP", None),
        )
        http = api.HttpRequest(
            method=request.method,
            path=url.path,
            headers={"authorization": request.headers.get("authorization") or ""},
            body=body,
            query=dict(parse_qsl(url.query)),
        )
        executor, mode = self._executor()
        answer = await api.handle_http(http, access, self._database(), executor, mode)
        self._log_after_answer(answer.log)
        return Response(
            json.dumps(answer.body),
            status=answer.status,
            headers={"content-type": "application/json", **answer.headers},
        )

    async def _rpc(self, kind, arguments):
        # The runtime has already converted the arguments (rpc_argument). Any number of them may
        # arrive: a method declared with one parameter would throw a traceback at the caller.
        if len(arguments) != 1:
            message = f"{kind} takes one argument, the request object; it was given {len(arguments)}"
            return python_to_rpc(api.error_answer(400, "bad_request", message, kind=kind).body)
        if isinstance(arguments[0], Unreadable):
            message = f"invalid request: {arguments[0].reason}"
            return python_to_rpc(api.error_answer(400, "bad_request", message, kind=kind).body)
        executor, mode = self._executor()
        answer = await api.rpc(kind, arguments[0], "binding", executor, mode)
        self._log_after_answer(answer.log)
        return python_to_rpc(answer.body)

    async def execute(self, *arguments):
        return await self._rpc("execute", arguments)

    async def evaluate(self, *arguments):
        return await self._rpc("evaluate", arguments)

    async def validate(self, *arguments):
        return await self._rpc("validate", arguments)
