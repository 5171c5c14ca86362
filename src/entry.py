"""The Worker's entry point: the only module that knows the `workers` SDK and `js`.

Every method turns a request or an RPC call into a call into `sandbox.api` and the answer into a
Response or a plain object; log rows are written after the answer, through ctx.waitUntil.
"""

import asyncio
import json
from urllib.parse import parse_qsl, urlsplit

from pyodide.ffi import JsProxy, create_proxy, jsnull
from workers import Response, WorkerEntrypoint, python_from_rpc, python_to_rpc

from sandbox import api, log


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


class Default(WorkerEntrypoint):
    def _database(self):
        binding = getattr(self.env, "DB", None)
        return D1Database(binding) if binding is not None else None

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
        body = (
            (await request.text()).encode("utf-8", errors="surrogatepass") if request.method != "GET" else b""
        )
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
        answer = await api.handle_http(http, access, self._database())
        self._log_after_answer(answer.log)
        return Response(
            json.dumps(answer.body),
            status=answer.status,
            headers={"content-type": "application/json", **answer.headers},
        )

    async def _rpc(self, kind, payload):
        if isinstance(payload, JsProxy):
            payload = python_from_rpc(payload)
        answer = await api.rpc(kind, payload, "binding")
        self._log_after_answer(answer.log)
        return python_to_rpc(answer.body)

    async def execute(self, payload):
        return await self._rpc("execute", payload)

    async def evaluate(self, payload):
        return await self._rpc("evaluate", payload)

    async def validate(self, payload):
        return await self._rpc("validate", payload)
