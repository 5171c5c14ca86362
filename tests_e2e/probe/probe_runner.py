"""A raw script standing in for untrusted code that got past the engine: loaded with exactly the
runner's isolation settings and no engine in front of it, it tries every way out it can find and
reports what happened. tests_e2e/test_worker_e2e.py asserts that none of them worked.

It also stands in for the engine's runner (`execute`), keeping a value at module level between
calls, so that the tests see which requests reach the same isolate, and failing in the ways that
get a runner recycled."""

import json
import secrets

import js
from pyodide.ffi import JsProxy
from workers import WorkerEntrypoint


async def attempt(action) -> dict:
    try:
        return {"reached": True, "detail": str(await action())}
    except Exception as error:  # noqa: BLE001 - every refusal is an answer here
        return {"reached": False, "detail": f"{type(error).__name__}: {error}"}


def names(holder) -> list[str]:
    """What an env object holds: its JavaScript keys, or its public Python attributes."""
    if isinstance(holder, JsProxy):
        return sorted(str(key) for key in js.Object.keys(holder))
    return sorted(name for name in dir(holder) if not name.startswith("_"))


async def outcome(action) -> str:
    try:
        return f"OK {await action()}"
    except Exception as error:  # noqa: BLE001 - a refusal is the answer wanted here
        return f"ERR {type(error).__name__}: {error}"[:300]


# Which isolate this is, drawn at its first call, how many calls it has answered, and the LLM
# capability an earlier request handed it, if it kept one.
state = {"instance": None, "calls": 0, "kept": None}


class Default(WorkerEntrypoint):
    async def execute(self, request: str) -> str:
        """An execute result whose output says which isolate answered and how many calls it has had;
        or, as the request's code asks, a failure."""
        act = json.loads(request)["code"]
        state["instance"] = state["instance"] or secrets.token_hex(8)
        state["calls"] += 1
        if act == "crash":
            # C recursion past the WebAssembly stack: fatal for the whole interpreter.
            json.loads("[" * 100_000 + "]" * 100_000)
        if act == "malformed":
            return "not JSON"
        output = json.dumps({"instance": state["instance"], "calls": state["calls"]})
        answer = {"success": True, "output": output, "executionTimeMs": 0.0}
        if act == "fault":
            answer["runnerFault"] = "probe: the self-check failed"
        return json.dumps(answer)

    async def evaluate(self, request: str, capability=None) -> str:
        """`keep`: call the capability of this request, and keep a copy of it; `stale`: call the copy
        kept by an earlier request, and try every other member of this request's capability."""
        act = json.loads(request)["evalCode"]
        call = json.dumps({"prompt": "PASS?", "model": None, "temperature": 0.0, "maxTokens": 5})
        report = {}

        async def ask(target):
            answer = await target(call)
            if "error" in json.loads(answer):
                raise RuntimeError(answer)
            return answer

        if act == "keep":
            report["first"] = await outcome(lambda: ask(capability))
            state["kept"] = capability.dup()
        else:
            report["stale"] = await outcome(lambda: ask(state["kept"]))
            # toString is the stub's own, answered where it is: not a member of the front's.
            for name in (
                "complete",
                "answer",
                "destroy",
                "call",
                "apply",
                "__globals__",
            ):
                report[f"member {name}"] = await outcome(lambda name=name: getattr(capability, name)(call))
        result = {"trace_id": "t", "success": True, "passed": True, "score": 1.0, "reason": json.dumps(report),
                  "output": "", "execution_time_ms": 0.0}  # fmt: skip
        summary = {"passed": 1, "failed": 0, "errors": 0, "timeouts": 0, "not_run": 0}
        return json.dumps({"results": [result], "total_time_ms": 0.0, "summary": summary})

    async def probe(self, target: str) -> str:
        async def fetch_from_js():
            return (await js.fetch(target)).status

        async def fetch_from_python():
            from pyodide.http import pyfetch

            return (await pyfetch(target)).status

        async def connect():
            import _pyodide_entrypoint_helper as helper

            socket = helper.cloudflareSocketsModule.connect(target.split("/")[2])
            await socket.opened
            return "socket opened"

        async def module_env():
            import _pyodide_entrypoint_helper as helper

            return names(helper.cloudflareWorkersModule.env)

        report = {
            "js.fetch": await attempt(fetch_from_js),
            "pyodide.http.pyfetch": await attempt(fetch_from_python),
            "connect": await attempt(connect),
            "env": names(self.env),
            "cloudflare:workers env": await attempt(module_env),
            "globalThis": sorted(str(name) for name in js.Object.getOwnPropertyNames(js.globalThis)),
        }
        return json.dumps(report)
