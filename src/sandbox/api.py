"""Request handling for the Worker, as plain functions the tests call without a Worker."""

from __future__ import annotations

import json
from typing import Any

from .limits import Limits
from .policy import Policy
from .runner import execute

MAX_BODY_BYTES = 1024 * 1024


def handle_execute(method: str, body: str) -> tuple[int, dict[str, Any]]:
    """`POST {"code": str, "allowImports"?: [str], "timeoutMs"?: int}` → (status, JSON object)."""
    if method != "POST":
        return 405, {"error": "method not allowed: POST a JSON object", "code": "method_not_allowed"}
    if len(body.encode("utf-8", errors="surrogatepass")) > MAX_BODY_BYTES:
        return 413, {"error": f"request body exceeds {MAX_BODY_BYTES} bytes", "code": "payload_too_large"}
    try:
        request = json.loads(body)
    except ValueError as error:
        return 400, {"error": f"malformed JSON: {error}", "code": "bad_request"}
    if not isinstance(request, dict) or not isinstance(request.get("code"), str):
        return 400, {"error": "expected a JSON object with a string field 'code'", "code": "bad_request"}
    imports = request.get("allowImports", [])
    timeout = request.get("timeoutMs")
    if not isinstance(imports, list) or not all(isinstance(name, str) for name in imports):
        return 400, {"error": "allowImports must be a list of module names", "code": "bad_request"}
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int)):
        return 400, {"error": "timeoutMs must be an integer", "code": "bad_request"}
    try:
        policy = Policy.allowing(imports)
        limits = Limits().with_overrides(timeout_ms=timeout)
    except ValueError as error:
        return 400, {"error": str(error), "code": "bad_request"}
    return 200, execute(request["code"], limits, policy).to_wire()
