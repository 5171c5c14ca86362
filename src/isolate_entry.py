"""The runner Worker: the main module the Worker Loader starts for untrusted code.

It has no bindings and no network; its only job is to hand each RPC call to the engine. Requests and
answers cross RPC as JSON text (see `sandbox.isolate.handle_json`), so of the `workers` SDK the runner
needs `WorkerEntrypoint` alone, which the runtime itself provides.

An evaluate call may come with a capability: a function of the front Worker's, handed for this
request only, through which the eval function's ctx.call_llm reaches the model (the front Worker
checks, counts and answers every call; src/entry.py). The engine calls it synchronously, with
`run_sync`, while the script's budget is switched off (runner.call_outside_budget).
"""

import json

from pyodide.ffi import run_sync
from workers import WorkerEntrypoint

from sandbox import isolate, llm


def model_through(capability) -> llm.Backend:
    """The engine's backend for one request: each call as JSON text through the front Worker's
    capability, the answer as JSON text back (llm.completion_wire, or {"error": why})."""

    def complete(request: llm.LLMRequest) -> llm.Completion:
        answer = run_sync(capability(json.dumps(request.to_wire(), ensure_ascii=False)))
        if not isinstance(answer, str):
            raise llm.LLMFailure("the front Worker answered with something other than text")
        return llm.read_completion_wire(json.loads(answer))

    return complete


class Default(WorkerEntrypoint):
    async def execute(self, request: str) -> str:
        async with isolate.ENGINE_LOCK:
            return isolate.handle_json("execute", request)

    async def evaluate(self, request: str, capability=None) -> str:
        backend = model_through(capability) if capability is not None else None
        async with isolate.ENGINE_LOCK:
            return isolate.handle_json("evaluate", request, backend)

    async def validate(self, request: str) -> str:
        async with isolate.ENGINE_LOCK:
            return isolate.handle_json("validate", request)
