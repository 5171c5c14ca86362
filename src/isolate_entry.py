"""The runner Worker: the main module the Worker Loader starts for untrusted code.

It has no bindings and no network; its only job is to hand each RPC call to the engine. Input and
output are plain JSON-compatible objects, already validated by the front Worker (src/entry.py).
"""

from pyodide.ffi import JsProxy
from workers import WorkerEntrypoint, python_from_rpc, python_to_rpc

from sandbox import isolate


class Default(WorkerEntrypoint):
    async def execute(self, request):
        return _answer("execute", request)

    async def evaluate(self, request):
        return _answer("evaluate", request)

    async def validate(self, request):
        return _answer("validate", request)


def _answer(kind, request):
    if isinstance(request, JsProxy):
        request = python_from_rpc(request)
    return python_to_rpc(isolate.handle(kind, request))
