"""The published JSON Schema: one document whose references resolve, and real requests and responses
that conform to it, checked with a JSON Schema validator."""

from __future__ import annotations

import json
import pathlib
import re

import pytest

from sandbox import api, log
from sandbox.log import SqliteDatabase, run_now

from .support import IN_PYODIDE

PUBLISHED = pathlib.Path(__file__).resolve().parents[1] / "schema" / "api.schema.json"
SCHEMA = json.loads(PUBLISHED.read_text())
ACCESS = api.Access(allow_unauthenticated=True)
EVAL = "def eval_x(trace):\n    return trace['ok'], 'checked'"


def _references(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _references(value)]
    return []


def test_every_reference_resolves_within_the_document():
    references = _references(SCHEMA)
    assert references  # the models do refer to each other
    for reference in references:
        assert reference.startswith("#/"), reference
        node: object = SCHEMA
        for part in reference.removeprefix("#/").split("/"):
            assert isinstance(node, dict) and part in node, f"{reference} does not resolve"
            node = node[part]


# Each model of the schema and the interface types/sandbox.d.ts declares for it.
TYPESCRIPT = {
    "ExecuteRequest": "ExecuteRequest", "EvaluateRequest": "EvaluateRequest",
    "ValidateRequest": "ValidateRequest", "TraceInput": "TraceInput",
    "ExecuteResponse": "ExecutionResult", "EvaluateResponse": "BatchExecutionResult",
    "ValidateResponse": "ValidationResult", "TraceResultOut": "BatchTraceResult",
    "SummaryOut": "BatchSummary", "ViolationOut": "Violation", "ErrorResponse": "ErrorResponse",
    "HealthResponse": "HealthResponse", "ExecutionRow": "ExecutionRow",
    "ExecutionsRequest": "ExecutionsRequest", "ExecutionsResponse": "ExecutionsResponse",
    "LLMUsageOut": "LlmUsage",
}  # fmt: skip
DECLARATIONS = (PUBLISHED.parents[1] / "types" / "sandbox.d.ts").read_text()


def _interface(name: str) -> tuple[dict[str, bool], str]:
    """The properties of a TypeScript interface (and what it extends): name -> optional."""
    found = re.search(rf"export interface {name}(?: extends (\w+))? \{{(.*?)\n\}}", DECLARATIONS, re.DOTALL)
    assert found, name
    properties = {p: bool(q) for p, q in re.findall(r"^  (\w+)(\??):", found.group(2), re.MULTILINE)}
    if found.group(1):
        properties |= _interface(found.group(1))[0]
    return properties, found.group(2)


def test_every_model_has_an_interface_with_the_same_fields():
    assert set(TYPESCRIPT) == {name for name in SCHEMA["$defs"] if name != "JsonValue"}
    for definition, interface in TYPESCRIPT.items():
        model = SCHEMA["$defs"][definition]
        properties, _ = _interface(interface)
        assert set(properties) == set(model["properties"]), interface
        required = {name for name, optional in properties.items() if not optional}
        assert required == set(model.get("required", [])), interface


def _enum(definition: str, field: str) -> set[str]:
    node = SCHEMA["$defs"][definition]["properties"][field]
    options = node.get("anyOf", [node])
    return {value for option in options for value in option.get("enum", [option.get("const")]) if value}


def _union(name: str) -> set[str]:
    declaration = re.search(rf"export type {name} = ([^;]+);", DECLARATIONS)
    assert declaration, name
    named = re.findall(r"\b([A-Z]\w+)\b", declaration.group(1))
    return set(re.findall(r'"(\w+)"', declaration.group(1))).union(*(_union(other) for other in named))


def test_the_typescript_declarations_list_the_schemas_values():
    assert _union("ErrorType") == _enum("ExecuteResponse", "errorType")
    assert _union("TraceErrorType") == _enum("TraceResultOut", "errorType")
    _, error_response = _interface("ErrorResponse")
    codes = re.search(r"\n  code: ([^;]+);", error_response)
    assert codes and set(re.findall(r'"(\w+)"', codes.group(1))) == _enum("ErrorResponse", "code")


# --- real traffic against the whole document ---------------------------------------------------------

jsonschema = None
if not IN_PYODIDE:
    import jsonschema

needs_validator = pytest.mark.skipif(
    IN_PYODIDE,
    reason="jsonschema needs rpds-py, which has no WebAssembly wheel; the schema is a document, the same"
    " on both interpreters, and the reference test above runs in both",
)


def conforms(instance: object, definition: str) -> list[str]:
    """The errors of `instance` against `#/$defs/<definition>`, resolved within the whole document."""
    assert jsonschema is not None
    validator = jsonschema.Draft202012Validator({**SCHEMA, "$ref": f"#/$defs/{definition}"})
    return [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(instance)]


def http(method, path, body=None, db=None, query=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    request = api.HttpRequest(method, path, {}, raw, query or {})
    return run_now(api.handle_http(request, ACCESS, db))


TRACES = [
    {"trace_id": "pass", "data": {"ok": True}},
    {"trace_id": "fail", "data": {"ok": False}},
    {"trace_id": "invalid", "data": {"ok": 1}},
    {"trace_id": "raises", "data": {}},
]

REQUESTS = [
    ("ExecuteRequest", {"code": "print(1)"}),
    ("ExecuteRequest", {"code": "print(1)", "allowImports": ["math"], "timeoutMs": 100, "memoryMb": 8}),
    ("ExecuteRequest", {"code": "print(1)", "timeoutMs": None, "memoryMb": None}),
    ("EvaluateRequest", {"evalCode": EVAL, "functionName": None, "traces": TRACES, "task": None}),
    ("EvaluateRequest", {"evalCode": EVAL, "traces": TRACES, "task": {"user_message": "hi"}}),
    ("ValidateRequest", {"code": EVAL, "functionName": "eval_x"}),
]


@needs_validator
def test_the_document_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@needs_validator
@pytest.mark.parametrize(("definition", "request_body"), REQUESTS)
def test_requests_the_api_accepts_conform(definition, request_body):
    assert conforms(request_body, definition) == []
    kind = definition.removesuffix("Request").lower()
    assert http("POST", f"/v1/{kind}", request_body).status == 200


RESPONSES = [
    ("execute", {"code": "print(6 * 7)"}, "ExecuteResponse"),
    ("execute", {"code": "raise ValueError('x')"}, "ExecuteResponse"),
    ("execute", {"code": "x = 1\nimport os"}, "ExecuteResponse"),
    ("execute", {"code": "while True:\n    pass", "timeoutMs": 50}, "ExecuteResponse"),
    ("execute", {"code": "'x' * 10**10"}, "ExecuteResponse"),
    ("evaluate", {"evalCode": EVAL, "traces": TRACES}, "EvaluateResponse"),
    ("evaluate", {"evalCode": "import os", "traces": TRACES}, "EvaluateResponse"),
    ("validate", {"code": EVAL}, "ValidateResponse"),
    ("validate", {"code": "import os"}, "ValidateResponse"),
    ("execute", {"code": 1}, "ErrorResponse"),
    ("execute", {"code": "x" * 300_000}, "ErrorResponse"),
    ("evaluate", {"evalCode": EVAL, "traces": "x"}, "ErrorResponse"),
    ("evaluate", {"evalCode": EVAL, "traces": TRACES, "allowImports": ["os"]}, "ErrorResponse"),
]


@needs_validator
@pytest.mark.parametrize(("kind", "body", "definition"), RESPONSES)
def test_real_responses_conform(kind, body, definition):
    answer = http("POST", f"/v1/{kind}", body)
    assert (answer.status == 200) == (definition != "ErrorResponse")
    assert conforms(answer.body, definition) == []


@needs_validator
def test_health_executions_schema_and_routing_errors_conform(monkeypatch):
    db = SqliteDatabase(":memory:")
    for body in ({"code": "print(1)"}, {"evalCode": EVAL, "traces": TRACES}):
        kind = "evaluate" if "evalCode" in body else "execute"
        answer = http("POST", f"/v1/{kind}", body)
        assert run_now(log.write(db, answer.log))
    assert conforms(http("GET", "/v1/health").body, "HealthResponse") == []
    executions = http("GET", "/v1/executions", db=db).body
    assert len(executions["executions"]) == 2 and conforms(executions, "ExecutionsResponse") == []
    for method, path in (("GET", "/v1/nope"), ("GET", "/v1/execute"), ("GET", "/v1/executions?x")):
        assert conforms(http(method, path, query={"limit": "0"}).body, "ErrorResponse") == []
    monkeypatch.setattr(api.isolate, "handle", lambda *a: 1 / 0)
    internal = http("POST", "/v1/evaluate", {"evalCode": EVAL, "traces": TRACES})
    assert internal.status == 500 and conforms(internal.body, "ErrorResponse") == []


@needs_validator
@pytest.mark.parametrize(
    ("instance", "definition"),
    [
        ({"success": False, "error": "x", "errorType": "crashed", "executionTimeMs": 1.0}, "ExecuteResponse"),
        ({"success": True, "executionTimeMs": "fast"}, "ExecuteResponse"),
        ({"code": "print(1)", "timeoutMs": 60_000}, "ExecuteRequest"),
        ({"evalCode": "", "traces": [{"trace_id": "", "data": 1}]}, "EvaluateRequest"),
        ({"error": "x", "code": "bad_request"}, "ErrorResponse"),  # the shape callers could not read
    ],
)
def test_the_validator_does_refuse_what_the_schema_rules_out(instance, definition):
    assert conforms(instance, definition) != []
