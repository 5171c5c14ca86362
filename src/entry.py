"""The Worker's entry point. The only module that knows the `workers` SDK; everything it does is a
call into the `sandbox` package, which is plain Python tested without a Worker."""

import json

from workers import Response, WorkerEntrypoint

from sandbox import api


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        status, payload = api.handle_execute(request.method, await request.text())
        return Response(json.dumps(payload), status=status, headers={"content-type": "application/json"})
