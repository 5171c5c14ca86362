"""A raw script standing in for untrusted code that got past the engine: loaded with exactly the
runner's isolation settings and no engine in front of it, it tries every way out it can find and
reports what happened. tests_e2e/test_worker_e2e.py asserts that none of them worked."""

import json

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


class Default(WorkerEntrypoint):
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
