"""The runner Worker: the main module the Worker Loader starts for untrusted code.

It has no bindings and no network; its only job is to hand each RPC call to the engine. Requests and
answers cross RPC as JSON text (see `sandbox.isolate.handle_json`), so of the `workers` SDK the runner
needs `WorkerEntrypoint` alone, which the runtime itself provides.
"""

from workers import WorkerEntrypoint

from sandbox import isolate


class Default(WorkerEntrypoint):
    async def execute(self, request: str) -> str:
        return isolate.handle_json("execute", request)

    async def evaluate(self, request: str) -> str:
        return isolate.handle_json("evaluate", request)

    async def validate(self, request: str) -> str:
        return isolate.handle_json("validate", request)
