"""The probe's front Worker. It loads probe_runner.py with the runner's exact isolation settings
(`isolate.worker_code`, converted by `entry.worker_code_for_js`, as src/entry.py hands them to the
loader, with only the main module swapped) and answers with what the script reached, next to what
this Worker reaches itself with the same request: the control that shows the target was up.

On /runner it sends an execute request through the front Worker's own path to a runner
(isolate.through_runner, entry.runner_call: ids, keys, fresh runners, recycling) with probe_runner.py
as the runner, and answers with the result."""

import json
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlsplit

import js
from pyodide.ffi import create_proxy
from workers import Response, WorkerEntrypoint

from entry import runner_call, worker_code_for_js
from sandbox import api, isolate, llm

PROBE = (Path(__file__).parent / "probe_runner.py").read_text()


def probe_code(cpu_ms):
    code = isolate.worker_code(cpu_ms)
    code["modules"][code["mainModule"]] = {"py": PROBE}
    return code


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlsplit(request.url)
        if url.path == "/runner":
            return await self.runner(dict(parse_qsl(url.query)))
        if url.path == "/llm":
            return await self.llm(dict(parse_qsl(url.query)))
        targets = parse_qs(url.query).get("target")
        if not targets:
            return Response("give ?target=<url>", status=400)
        control = await js.fetch(targets[0])
        code = probe_code(isolate.cpu_ms("execute", {}))
        callback = create_proxy(lambda: worker_code_for_js(code))
        try:
            stub = self.env.LOADER.get(f"probe-{isolate.engine_version()}", callback)
            report = json.loads(await stub.getEntrypoint().probe(targets[0]))
        finally:
            callback.destroy()
        report["control"] = {"status": control.status}
        return Response(json.dumps(report), headers={"content-type": "application/json"})

    async def runner(self, query):
        """?act=count|fault|crash|malformed&isolationKey=…&isolation=warm|fresh&caller=…&slots=small|fair
        (`small`: runner slots of 3 places, 2 per caller, so that a test fills them quickly; `fair`:
        2 places, 2 per caller, so that one caller fills them all)."""
        caller = query.pop("caller", "probe")
        slots = {"small": SMALL_SLOTS, "fair": FAIR_SLOTS}.get(query.pop("slots", None), PROBE_SLOTS)
        request = {"code": query.pop("act", "count"), **query}
        call = runner_call(self.env.LOADER, probe_code)
        answer = await isolate.through_runner(call, api.check_answer, "execute", request, caller, slots)
        answer.pop(isolate.RAN_IN, None)
        return Response(json.dumps(answer), headers={"content-type": "application/json"})

    async def llm(self, query):
        """?act=keep|stale&isolationKey=…: an evaluate request through the front Worker's path, with
        a gate of its own and the capability runner_call hands the runner for this request only;
        answers with what the probe runner reported (its `reason`)."""
        gate = llm.Gate(answer_at_once, "probe")
        request = {"evalCode": query.pop("act"), "traces": [{"trace_id": "t", "data": {}}], **query}
        call = runner_call(self.env.LOADER, probe_code)
        answer = await isolate.through_runner(
            call, api.check_answer, "evaluate", request, "probe", isolate.RUNNER_SLOTS, gate
        )
        gate.close()
        return Response(answer["results"][0]["reason"], headers={"content-type": "application/json"})


async def answer_at_once(request):
    return "PASS"


# The front Worker's slots, but for the cap on fresh runners, which the tests of the sandbox itself
# check (test_one_callers_fresh_runners_are_capped…): here one caller asks for fresh runners in a row.
PROBE_SLOTS = isolate.RunnerSlots(fresh_per_caller=1_000)
SMALL_SLOTS = isolate.RunnerSlots(max_named=3, per_caller=2)
FAIR_SLOTS = isolate.RunnerSlots(max_named=2, per_caller=2)
