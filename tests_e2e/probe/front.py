"""The probe's front Worker. It loads probe_runner.py with the runner's exact isolation settings
(`isolate.worker_code`, converted by `entry.worker_code_for_js`, as src/entry.py hands them to the
loader, with only the main module swapped) and answers with what the script reached, next to what
this Worker reaches itself with the same request: the control that shows the target was up."""

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import js
from pyodide.ffi import create_proxy
from workers import Response, WorkerEntrypoint

from entry import worker_code_for_js
from sandbox import isolate

PROBE = (Path(__file__).parent / "probe_runner.py").read_text()


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        targets = parse_qs(urlsplit(request.url).query).get("target")
        if not targets:
            return Response("give ?target=<url>", status=400)
        control = await js.fetch(targets[0])
        code = isolate.worker_code(isolate.cpu_ms("execute", {}))
        code["modules"][code["mainModule"]] = {"py": PROBE}
        callback = create_proxy(lambda: worker_code_for_js(code))
        try:
            stub = self.env.LOADER.get(f"probe-{isolate.engine_version()}", callback)
            report = json.loads(await stub.getEntrypoint().probe(targets[0]))
        finally:
            callback.destroy()
        report["control"] = {"status": control.status}
        return Response(json.dumps(report), headers={"content-type": "application/json"})
