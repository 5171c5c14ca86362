"""The Worker's API without a Worker: routes, statuses, access rules, RPC, and the log rows written
to a real SQLite database through the same SQL D1 runs."""

from __future__ import annotations

import json
import pathlib

import pytest

from sandbox import api, log
from sandbox.log import SqliteDatabase, run_now

TOKEN = "s3cret-token-for-tests"
ACCESS = api.Access(token=TOKEN)
AUTH = {"authorization": f"Bearer {TOKEN}"}
BINDING = api.Caller("binding:test")
KEEP_ALL = log.TEXT_KINDS
EVAL = "def eval_x(trace):\n    return trace['ok'], 'checked'"


def http(method, path, body=None, headers=AUTH, access=ACCESS, db=None, query=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    request = api.HttpRequest(method, path, headers, raw, query or {})
    return run_now(api.handle_http(request, access, db))


@pytest.fixture
def db():
    return SqliteDatabase(":memory:")


def written(db, answer):
    assert answer.log is not None
    assert run_now(log.write(db, answer.log))
    return run_now(db.query("SELECT * FROM executions")), run_now(
        db.query("SELECT * FROM trace_results ORDER BY position")
    )


# --- routes --------------------------------------------------------------------------------------


def test_execute_over_http():
    answer = http("POST", "/v1/execute", {"code": "print(6 * 7)"})
    assert answer.status == 200
    assert answer.body["success"] is True and answer.body["output"] == "42"


def test_evaluate_over_http_takes_the_platforms_batch_shape():
    body = {"evalCode": EVAL, "functionName": "eval_x", "traces": [{"trace_id": "a", "data": {"ok": True}}]}
    answer = http("POST", "/v1/evaluate", body)
    assert answer.status == 200
    assert answer.body["results"][0] == {
        "trace_id": "a",
        "success": True,
        "passed": True,
        "score": 1.0,
        "reason": "checked",
        "output": "",
        "execution_time_ms": answer.body["results"][0]["execution_time_ms"],
    }
    assert answer.body["summary"]["passed"] == 1


def test_validate_over_http_reports_entry_point():
    answer = http("POST", "/v1/validate", {"code": EVAL})
    assert answer.body == {"valid": True, "violations": [], "entryPoint": "eval_x", "convention": "fn(trace)"}


def test_health_needs_no_token_and_says_which_mode_runs():
    answer = http("GET", "/v1/health", headers={}, access=api.Access())
    assert answer.status == 200 and answer.body["status"] == "ok" and answer.body["mode"] == "in-process"


def test_schema_is_served_and_matches_the_published_file():
    answer = http("GET", "/v1/schema")
    published = pathlib.Path(__file__).resolve().parents[1] / "schema" / "api.schema.json"
    assert answer.body == json.loads(published.read_text()), "run: uv run python scripts/schema.py"


def test_recent_executions_newest_first_with_a_limit(db):
    for code in ("print(1)", "print(2)", "print(3)"):
        written(db, http("POST", "/v1/execute", {"code": code}))
    answer = http("GET", "/v1/executions", db=db, query={"limit": "2"})
    rows = answer.body["executions"]
    assert len(rows) == 2 and all(row["kind"] == "execute" for row in rows)
    assert rows[0]["created_at"] >= rows[1]["created_at"]


# --- bad input: status and stable code ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "fragment"),
    [
        ("POST", "/v1/execute", b"{not json", 400, "bad_request", "malformed JSON"),
        ("POST", "/v1/execute", b"[" * 5000 + b"]" * 5000, 400, "bad_request", "nested deeper than"),
        ("POST", "/v1/execute", {"code": 1}, 400, "bad_request", "code: Input should be a valid string"),
        ("POST", "/v1/execute", {}, 400, "bad_request", "code: Field required"),
        (
            "POST",
            "/v1/execute",
            {"code": "", "extra": 1},
            400,
            "bad_request",
            "extra: Extra inputs are not permitted",
        ),
        ("POST", "/v1/execute", {"code": "", "timeoutMs": "5"}, 400, "bad_request", "the time budget in ms"),
        (
            "POST",
            "/v1/execute",
            {"code": "", "timeoutMs": 60000},
            400,
            "bad_request",
            "the time budget in ms",
        ),
        ("POST", "/v1/execute", {"code": "", "allowImports": ["os"]}, 400, "bad_request", "cannot allow os"),
        (
            "POST",
            "/v1/evaluate",
            {"evalCode": EVAL, "traces": [{"trace_id": "a"}]},
            400,
            "bad_request",
            "traces.0.data: Field required",
        ),
        (
            "POST",
            "/v1/evaluate",
            {"evalCode": EVAL, "traces": "x"},
            400,
            "bad_request",
            "traces: Input should be a valid list",
        ),
        (
            "POST",
            "/v1/evaluate",
            {"evalCode": EVAL, "traces": [{"trace_id": "a", "data": 1}, {"trace_id": "a", "data": 2}]},
            400,
            "bad_request",
            "traces[1] has the trace_id 'a' of traces[0]; trace ids must be unique",
        ),
        ("POST", "/v1/execute", {"code": "x" * 300_000}, 413, "payload_too_large", "code exceeds"),
        (
            "POST",
            "/v1/evaluate",
            {"evalCode": EVAL, "traces": [{"trace_id": str(i), "data": 1} for i in range(1001)]},
            413,
            "payload_too_large",
            "1001 traces",
        ),
        (
            "POST",
            "/v1/evaluate",
            {"evalCode": EVAL, "traces": [{"trace_id": "a", "data": "x" * 300_000}]},
            413,
            "payload_too_large",
            "over the limit",
        ),
        (
            "POST",
            "/v1/execute",
            b" " * (api.MAX_BODY_BYTES + 1),
            413,
            "payload_too_large",
            "request body exceeds",
        ),
        ("GET", "/v1/nope", None, 404, "not_found", "no route"),
        ("GET", "/", None, 404, "not_found", "no route"),
        ("GET", "/v1/execute", None, 405, "method_not_allowed", "takes POST"),
        ("DELETE", "/v1/health", None, 405, "method_not_allowed", "takes GET"),
        ("GET", "/v1/executions", None, 400, "bad_request", "limit must be"),
    ],
)
def test_bad_input_gets_a_json_error_with_a_stable_code(method, path, body, status, code, fragment):
    query = {"limit": "0"} if path == "/v1/executions" else None
    answer = http(method, path, body, query=query)
    assert (answer.status, answer.body["code"]) == (status, code)
    assert fragment in answer.body["error"]
    assert answer.log is None  # nothing ran, nothing to log


@pytest.mark.parametrize(
    "body",
    [
        {"code": "", "timeoutMs": 60_000},
        {"code": "", "timeoutMs": 0},
        {"code": "", "timeoutMs": "5000"},
        {"code": "", "timeout": 5000},
        {"evalCode": EVAL, "traces": [], "timeoutMs": 10**9},
    ],
)
def test_a_refused_time_budget_does_not_say_timeout(body):
    # Callers retry any error whose text contains "timeout": a 400 would be retried for ever.
    kind = "evaluate" if "evalCode" in body else "execute"
    answer = http("POST", f"/v1/{kind}", body)
    assert (answer.status, answer.body["code"]) == (400, "bad_request")
    assert "timeout" not in answer.body["error"].lower(), answer.body["error"]


LONE = "\ud800"  # a lone surrogate: valid in JSON text ("\\ud800"), not in UTF-8


@pytest.mark.parametrize(
    ("method", "path", "body", "query"),
    [
        ("POST", "/v1/execute", {"code": f"print(1){LONE}"}, None),
        ("POST", "/v1/execute", {"code": f"x = '{LONE}'"}, None),
        ("POST", "/v1/validate", {"code": f"# {LONE}"}, None),
        ("POST", "/v1/evaluate", {"evalCode": f"{LONE}{EVAL}", "traces": []}, None),
        ("POST", "/v1/evaluate", {"evalCode": EVAL, "traces": [], "functionName": LONE}, None),
        ("POST", "/v1/execute", {"code": "", "allowImports": [LONE]}, None),
        ("POST", "/v1/execute", b"\xff\xfe{}", None),
        ("POST", "/v1/execute", b'{"code": "", "timeoutMs": 1' + b"0" * 5000 + b"}", None),
        ("GET", "/v1/executions", None, {"limit": "\u00b2"}),  # "²".isdigit() is True
        ("GET", "/v1/executions", None, {"limit": "\u0663"}),  # Arabic-Indic three: int() takes it
        ("GET", "/v1/executions", None, {"limit": "9" * 5000}),  # past int()'s digit limit
    ],
)
def test_caller_input_never_yields_a_500(method, path, body, query):
    if isinstance(body, dict):
        body = json.dumps(body).encode()  # lone surrogates travel escaped, as JSON allows
    answer = http(method, path, body, query=query)
    assert answer.status != 500, answer.body
    assert answer.status in (200, 400, 413), answer.body


def test_a_lone_surrogate_in_code_is_a_validation_error_with_its_position():
    answer = http("POST", "/v1/execute", json.dumps({"code": f"x = 1\ny = '{LONE}'"}).encode())
    assert answer.status == 200
    assert answer.body["errorType"] == "validation"
    assert (answer.body["line"], answer.body["col"]) == (2, 5)
    assert "lone surrogate" in answer.body["error"]


REFUSED = [
    ("execute", {"code": "x" * 300_000}, 413, "payload_too_large"),
    ("execute", {"code": "", "memoryMb": 4096}, 400, "bad_request"),
    ("execute", {"code": "", "allowImports": ["os"]}, 400, "bad_request"),
    ("execute", {"code": "", "colour": "red"}, 400, "bad_request"),
    ("validate", {"code": 1}, 400, "bad_request"),
    ("evaluate", {"evalCode": EVAL, "traces": "x"}, 400, "bad_request"),
]


@pytest.mark.parametrize(("kind", "body", "status", "code"), REFUSED)
@pytest.mark.parametrize("transport", ["rpc", "http"])
def test_a_refusal_keeps_the_result_shape_callers_read(transport, kind, body, status, code):
    if transport == "rpc":
        answer = run_now(api.rpc(kind, body, BINDING))
    else:
        answer = http("POST", f"/v1/{kind}", body)
    assert (answer.status, answer.body["code"]) == (status, code)
    # A PythonRunner reads success, error and executionTimeMs; errorType says it was refused.
    assert answer.body["success"] is False
    assert answer.body["errorType"] == "request"
    assert answer.body["error"] and answer.body["executionTimeMs"] == 0.0
    if kind == "evaluate":
        assert (answer.body["results"], answer.body["total_time_ms"]) == ([], 0.0)
    else:
        assert "results" not in answer.body


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"evalCode": "x" * 300_000}, 413, "code exceeds"),
        ({"evalCode": EVAL, "allowImports": ["os"]}, 400, "cannot allow os"),
        (
            {
                "evalCode": EVAL,
                "traces": [{"trace_id": "a", "data": 1}, {"trace_id": "b", "data": "x" * 300_000}],
            },
            413,
            "over the limit",
        ),
    ],
)
def test_a_refused_batch_gives_every_trace_its_error(body, status, fragment):
    traces = [{"trace_id": "a", "data": {"ok": True}}, {"trace_id": "b", "data": {"ok": False}}]
    answer = run_now(api.rpc("evaluate", {"traces": traces, **body}, BINDING))
    assert answer.status == status and fragment in answer.body["error"]
    assert [(r["trace_id"], r["success"], r["error"], r["errorType"]) for r in answer.body["results"]] == [
        ("a", False, answer.body["error"], "request"),
        ("b", False, answer.body["error"], "request"),
    ]


def test_eval_code_that_fails_analysis_gives_every_trace_its_error():
    traces = [{"trace_id": "a", "data": {}}, {"trace_id": "b", "data": {}}]
    answer = run_now(api.rpc("evaluate", {"evalCode": "import os", "traces": traces}, BINDING))
    assert answer.status == 200
    assert (answer.body["success"], answer.body["errorType"]) == (False, "validation")
    assert [(r["trace_id"], r["error"], r["errorType"]) for r in answer.body["results"]] == [
        ("a", "Blocked import detected: os", "validation"),
        ("b", "Blocked import detected: os", "validation"),
    ]


def test_wrong_method_names_the_allowed_one():
    assert http("GET", "/v1/execute").headers == {"allow": "POST"}


def test_internal_failure_answers_500_with_an_error_id_in_the_log(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("engine exploded at /srv/secret/path.py")

    monkeypatch.setattr(api.isolate, "handle", broken)
    answer = http("POST", "/v1/execute", {"code": "print(1)"})
    assert answer.status == 500 and answer.body["code"] == "internal"
    assert (answer.body["success"], answer.body["errorType"]) == (False, "internal")
    assert "/srv/secret" not in json.dumps(answer.body)
    logged = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert logged["errorId"] == answer.body["errorId"] and "exploded" in logged["error"]


# --- access --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "access", "status"),
    [
        ({}, ACCESS, 401),
        ({"authorization": "Bearer wrong"}, ACCESS, 401),
        ({"authorization": TOKEN}, ACCESS, 401),  # no "Bearer "
        ({"authorization": f"Bearer {TOKEN}x"}, ACCESS, 401),
        (AUTH, ACCESS, 200),
        (AUTH, api.Access(), 401),  # no secret configured: the API is off
        ({}, api.Access(allow_unauthenticated=True), 200),
        # Once a token is set it is required: ALLOW_UNAUTHENTICATED_HTTP no longer lets anyone in.
        ({"authorization": "Bearer wrong"}, api.Access(token=TOKEN, allow_unauthenticated=True), 401),
        ({}, api.Access(token=TOKEN, allow_unauthenticated=True), 401),
        (AUTH, api.Access(token=TOKEN, allow_unauthenticated=True), 200),
        ({"authorization": "Bearer op"}, api.Access(operator_token="op"), 200),
    ],
)
def test_access_rules(headers, access, status):
    answer = http("POST", "/v1/execute", {"code": "print(1)"}, headers=headers, access=access)
    assert answer.status == status
    if status == 401:
        assert answer.body["code"] == "unauthorized"


def test_access_from_environment_only_true_means_true():
    assert not api.Access.from_env(None, "1").allow_unauthenticated
    assert api.Access.from_env("", "true") == api.Access(None, True)


def test_log_names_the_token_without_storing_it(db):
    (row,), _ = written(db, http("POST", "/v1/execute", {"code": "print(1)"}))
    assert row["caller"].startswith("token:") and TOKEN not in row["caller"]


# --- RPC -----------------------------------------------------------------------------------------------


def test_rpc_methods_share_validation_and_need_no_token():
    assert run_now(api.rpc("execute", {"code": "print(2)"}, BINDING)).body["output"] == "2"
    assert run_now(api.rpc("validate", {"code": "import os"}, BINDING)).body["valid"] is False
    refused = run_now(api.rpc("execute", {"code": 2}, BINDING))
    assert (refused.status, refused.body["code"]) == (400, "bad_request")


def test_rpc_internal_failure_crosses_as_an_error_object(monkeypatch):
    monkeypatch.setattr(api.isolate, "handle", lambda *a: 1 / 0)
    answer = run_now(api.rpc("validate", {"code": ""}, BINDING))
    assert answer.body["code"] == "internal" and answer.body["errorId"]


# --- the log ---------------------------------------------------------------------------------------------


def test_execute_writes_one_row(db):
    (row,), traces = written(
        db, run_now(api.rpc("execute", {"code": "print('é')\nraise ValueError('x')"}, BINDING, keep=KEEP_ALL))
    )
    assert row["kind"] == "execute" and row["caller"] == "binding:test" and row["mode"] == "in-process"
    assert row["success"] == 0 and row["error_type"] == "runtime" and row["error"].startswith("ValueError: x")
    assert row["output"] == "é"
    assert len(row["code_sha256"]) == 64 and row["code_size"] == len(
        "print('é')\nraise ValueError('x')".encode()
    )
    assert traces == []


def test_evaluate_writes_one_row_and_one_per_trace(db):
    traces = [
        {"trace_id": "a", "data": {"ok": True}},
        {"trace_id": "b", "data": {"ok": False}},
        {"trace_id": "c", "data": {"ok": 1}},
    ]
    request = {"evalCode": EVAL, "traces": traces}
    (row,), rows = written(db, run_now(api.rpc("evaluate", request, BINDING, keep=KEEP_ALL)))
    assert (row["trace_count"], row["passed_count"], row["failed_count"], row["error_count"]) == (3, 1, 1, 1)
    assert [(r["trace_id"], r["passed"], r["error_type"]) for r in rows] == [
        ("a", 1, None),
        ("b", 0, None),
        ("c", None, "invalid_result"),
    ]
    assert rows[0]["reason"] == "checked" and rows[0]["score"] == 1.0


def test_runs_of_the_same_code_share_a_hash(db):
    for _ in range(2):
        written(db, run_now(api.rpc("execute", {"code": "print(1)"}, BINDING)))
    rows = run_now(db.query("SELECT code_sha256 FROM executions"))
    assert rows[0] == rows[1]


def test_a_failing_write_is_reported_and_never_raises(capsys):
    class Broken:
        async def batch(self, statements):
            raise ConnectionError("D1 unavailable")

    answer = run_now(api.rpc("execute", {"code": "print(1)"}, BINDING))
    assert answer.body["output"] == "1"  # the answer was complete before the write was tried
    assert run_now(log.write(Broken(), answer.log)) is False
    assert "execution log write failed" in capsys.readouterr().err


def test_migrations_create_the_indexes(db):
    names = {row["name"] for row in run_now(db.query("SELECT name FROM sqlite_master WHERE type = 'index'"))}
    assert {"executions_recent", "executions_by_code"} <= names


def test_an_old_log_gains_the_later_migrations(tmp_path):
    path = tmp_path / "old.sqlite"
    first = sorted(log.MIGRATIONS.glob("*.sql"))[0]
    import sqlite3

    with sqlite3.connect(path) as connection:
        connection.executescript(first.read_text())
    db = SqliteDatabase(path)
    written(db, run_now(api.rpc("execute", {"code": "print(1)", "isolationKey": "t"}, BINDING)))
    assert run_now(db.query("SELECT tenant FROM executions")) == [{"tenant": "t"}]


# --- what the log keeps and who reads it (issue 18) -------------------------------------------------------


SECRET_ERROR = "data = {'api_key': 'sk-tenant-a'}\nprint(data['api_key'])\ndata['missing ' + data['api_key']]"


def test_by_default_a_row_holds_no_script_text(db):
    (row,), _ = written(db, run_now(api.rpc("execute", {"code": SECRET_ERROR}, BINDING)))
    assert row["error_type"] == "runtime" and row["error"] is None and row["output"] is None
    assert "sk-tenant-a" not in json.dumps(run_now(db.query("SELECT * FROM executions")))


def test_evaluate_rows_hold_no_reasons_errors_or_output_by_default(db):
    code = "def eval_x(trace):\n    print(trace['secret'])\n    return True, trace['secret']"
    traces = [{"trace_id": "a", "data": {"secret": "sk-a"}}]
    written(db, run_now(api.rpc("evaluate", {"evalCode": code, "traces": traces}, BINDING)))
    assert "sk-a" not in json.dumps(run_now(db.query("SELECT * FROM trace_results")))


@pytest.mark.parametrize(("keep", "error", "output"), [("errors", True, False), ("output", False, True)])
def test_the_operator_chooses_which_script_text_is_kept(db, keep, error, output):
    kinds, unknown = log.text_kinds(keep)
    (row,), _ = written(db, run_now(api.rpc("execute", {"code": SECRET_ERROR}, BINDING, keep=kinds)))
    assert (row["error"] is not None, row["output"] is not None, unknown) == (error, output, [])


def test_log_text_setting_reports_words_that_name_no_kind():
    assert log.text_kinds(None) == (frozenset(), [])
    assert log.text_kinds(" errors , outputs") == (frozenset({"errors"}), ["outputs"])


def test_a_lone_surrogate_is_stored_as_its_escape_not_as_replacement_characters(db):
    code = "raise ValueError('\\ud800 and \\x00 end')"
    (row,), _ = written(db, run_now(api.rpc("execute", {"code": code}, BINDING, keep=KEEP_ALL)))
    assert row["error"].startswith("ValueError: \\ud800 and \\x00 end")
    # Every text SQLite keeps is whole to its functions: nothing after a NUL is hidden.
    (measured,) = run_now(db.query("SELECT length(error) AS n, instr(error, 'end') AS at FROM executions"))
    assert measured == {"n": len(row["error"]), "at": row["error"].index("end") + 1}


@pytest.mark.parametrize("key", ["acme\x00", "acme\n", "acme\x7f", "acme\u200b", "acme\ud800", "a\u2028b"])
def test_an_isolation_key_with_a_control_or_invisible_character_is_refused(db, key):
    # "acme\x00" and "acme\\x00" got two runners but one log filter: the NUL was stored as its escape.
    for kind, body in (("execute", {"code": "print(1)"}), ("executions", {})):
        answer = run_now(api.rpc(kind, {**body, "isolationKey": key}, BINDING, db=db))
        assert (answer.status, answer.body["code"]) == (400, "bad_request"), answer.body
        # pydantic itself refuses a lone surrogate ("unable to parse raw data as a unicode string").
        assert "isolationKey: " in answer.body["error"], answer.body
        assert "printable" in answer.body["error"] or key == "acme\ud800"


@pytest.mark.parametrize(
    "key", ["cafe\u0301", "acme\ufe0f", "acme\U000e0100", "acme\u3164", "acme\u034f", "\u2800"]
)
def test_an_isolation_key_that_reads_like_another_is_refused(db, key):
    # "café" spelt two ways, or a key ending in a character that shows as nothing, got a runner and
    # log rows of its own while reading like another key.
    answer = run_now(api.rpc("execute", {"code": "print(1)", "isolationKey": key}, BINDING, db=db))
    assert (answer.status, answer.body["code"]) == (400, "bad_request"), answer.body
    assert "isolationKey: " in answer.body["error"], answer.body


def test_a_tenant_key_is_stored_and_filtered_exactly(db):
    for key in ("acme\\x00", "acme x00", "ünïcode-🙂"):
        written(db, run_now(api.rpc("execute", {"code": "print(1)", "isolationKey": key}, BINDING)))
        assert rows_as(db, BINDING, isolationKey=key) == [("binding:test", key)]
    assert rows_as(db, BINDING, isolationKey="acme") == []


def rows_as(db, reader, **query):
    answer = run_now(api.rpc("executions", query, reader, db=db))
    assert answer.status == 200, answer.body
    return [(row["caller"], row["tenant"]) for row in answer.body["executions"]]


def test_a_caller_reads_only_its_own_rows_and_a_tenant_key_only_its_tenants(db):
    a, b = api.Caller("binding:a"), api.Caller("binding:b")
    for caller, key in ((a, None), (a, "t1"), (a, "t2"), (b, "t1")):
        written(db, run_now(api.rpc("execute", {"code": "print(1)", "isolationKey": key}, caller)))
    assert set(rows_as(db, a)) == {("binding:a", None), ("binding:a", "t1"), ("binding:a", "t2")}
    assert rows_as(db, a, isolationKey="t1") == [("binding:a", "t1")]
    assert rows_as(db, b) == [("binding:b", "t1")]
    refused = run_now(api.rpc("executions", {"caller": "binding:a"}, b, db=db))
    assert (refused.status, refused.body["code"]) == (403, "forbidden")
    operator = api.Caller("binding:ops", operator=True)
    assert len(rows_as(db, operator)) == 4 and rows_as(db, operator, caller="binding:b") == [
        ("binding:b", "t1")
    ]


def test_an_http_caller_reads_its_own_rows_and_the_operator_token_reads_all(db):
    access = api.Access(token=TOKEN, operator_token="op-secret")
    written(db, run_now(api.rpc("execute", {"code": "print(1)"}, BINDING)))
    written(db, http("POST", "/v1/execute", {"code": "print(2)"}, access=access))
    own = http("GET", "/v1/executions", access=access, db=db)
    assert [row["caller"] for row in own.body["executions"]] == [
        api.Access(TOKEN).caller(AUTH["authorization"]).name
    ]
    everyone = http(
        "GET", "/v1/executions", headers={"authorization": "Bearer op-secret"}, access=access, db=db
    )
    assert len(everyone.body["executions"]) == 2
    assert http("GET", "/v1/executions", access=access, db=db, query={"caller": "binding:test"}).status == 403
    assert http("GET", "/v1/executions", access=access, db=db, query={"nope": "1"}).status == 400


# --- who a binding is ---------------------------------------------------------------------------------------


def test_a_binding_is_named_by_its_props_and_operators_by_the_sandboxs_var():
    assert api.binding_caller({"caller": "platform-a"}) == api.Caller("binding:platform-a")
    assert api.binding_caller({"caller": "ops"}, "platform-a, ops") == api.Caller("binding:ops", True)
    assert not api.binding_caller({"caller": "ops2"}, "ops").operator


@pytest.mark.parametrize(
    "props", [None, {}, {"caller": ""}, {"caller": 7}, {"caller": "a b"}, {"caller": "x" * 65}, "a"]
)
def test_a_binding_without_a_caller_identity_is_refused(props):
    with pytest.raises(api.RequestError) as refused:
        api.binding_caller(props)
    assert refused.value.status == 401 and "props" in str(refused.value)


# --- bodies ---------------------------------------------------------------------------------------------------


def test_a_body_is_refused_by_its_declared_length_before_it_is_read():
    async def never(limit):
        raise AssertionError("read")

    headers = {**AUTH, "content-length": str(api.MAX_BODY_BYTES + 1)}
    request = api.HttpRequest("POST", "/v1/execute", headers, reader=never)
    answer = run_now(api.handle_http(request, ACCESS, None))
    assert (answer.status, answer.body["code"]) == (413, "payload_too_large")


def test_a_body_that_outgrows_the_limit_while_read_is_refused():
    async def too_much(limit):
        return None  # what src/entry.py's reader answers past the limit

    answer = run_now(
        api.handle_http(api.HttpRequest("POST", "/v1/execute", AUTH, reader=too_much), ACCESS, None)
    )
    assert (answer.status, answer.body["code"]) == (413, "payload_too_large")


def test_a_body_of_millions_of_empty_lists_is_refused_before_it_is_parsed(monkeypatch):
    body = b'{"code": "x", "d": [' + b"[]," * 1_200_000 + b"[]]}"
    monkeypatch.setattr(api.json, "loads", lambda *a, **k: pytest.fail("parsed"))
    answer = http("POST", "/v1/execute", body)
    assert (answer.status, answer.body["code"]) == (413, "payload_too_large")
    assert "JSON values" in answer.body["error"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_a_body_that_is_not_utf8_is_refused(encoding):
    answer = http("POST", "/v1/execute", json.dumps({"code": "print(1)"}).encode(encoding))
    assert (answer.status, answer.body["code"]) == (400, "bad_request") and "UTF-8" in answer.body["error"]


def test_trace_data_is_parsed_once_and_handed_on_uncopied():
    seen = {}

    async def executor(kind, request, caller, llm):
        seen["data"] = request["traces"][0]["data"]
        return {
            "results": [],
            "total_time_ms": 0.0,
            "summary": dict.fromkeys(("passed", "failed", "errors", "timeouts", "not_run"), 0),
        }

    payload = {"evalCode": EVAL, "traces": [{"trace_id": "a", "data": {"deep": [[1]]}}]}
    run_now(api.rpc("evaluate", payload, BINDING, executor))
    assert seen["data"] is payload["traces"][0]["data"]


# --- refusals that cost no more than the request (found by attacking the Worker layer) --------------------


def test_too_many_traces_are_refused_before_any_is_read_and_the_refusal_stays_small(monkeypatch):
    # 199,000 tiny traces (6 MB) answered 413 with a 31 MB body, a result per trace, after a
    # TraceInput was built for each.
    monkeypatch.setattr(api, "_parse", lambda *a: pytest.fail("the traces were validated"))
    traces = [{"trace_id": str(n), "data": 0} for n in range(api.LIMITS.max_traces * 5)]
    for answer in (
        http("POST", "/v1/evaluate", {"evalCode": EVAL, "traces": traces}),
        run_now(api.rpc("evaluate", {"evalCode": EVAL, "traces": traces}, BINDING)),
    ):
        assert (answer.status, answer.body["code"]) == (413, "payload_too_large")
        assert f"{len(traces)} traces exceed the limit of {api.LIMITS.max_traces}" in answer.body["error"]
        assert answer.body["results"] == [] and len(json.dumps(answer.body)) < 1_000


def test_a_refusal_lists_a_few_of_the_problems_not_all():
    traces = [{"trace_id": str(n)} for n in range(api.LIMITS.max_traces)]  # every one without data
    answer = run_now(api.rpc("evaluate", {"evalCode": EVAL, "traces": traces}, BINDING))
    assert (answer.status, answer.body["code"]) == (400, "bad_request")
    assert "traces.0.data: Field required" in answer.body["error"]
    assert f"and {len(traces) - api.MAX_PROBLEMS} more" in answer.body["error"]
    assert len(answer.body["error"]) < 2_000


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"code": "print(1)", "timeoutMs": NaN}', "the time budget in ms: NaN is not a JSON number"),
        (b'{"code": "print(1)", "x": [1, {"y": Infinity}]}', "x.1.y: Infinity is not a JSON number"),
        (b'{"code": "print(1)", "x": -Infinity}', "x: -Infinity is not a JSON number"),
        (b'{"code": "print(1)", "x": [1e400]}', "x.0: 1e400 is not a JSON number"),
        (b'{"code": "print(1)", "code": "print(2)"}', 'the key "code" appears twice'),
        (b'{"code": "print(1)", "x": {"a": 1, "a": 2}}', 'the key "a" appears twice'),
    ],
)
def test_http_json_that_rpc_would_refuse_is_refused_naming_the_field(body, fragment):
    # json.loads took NaN, Infinity and 1e400 (an RPC argument with them is refused), and kept the
    # last of two equal keys, where a gateway reading the first would see other code.
    answer = http("POST", "/v1/execute", body)
    assert (answer.status, answer.body["code"]) == (400, "bad_request") and fragment in answer.body["error"]


def test_http_json_keeps_large_finite_numbers_and_keys_that_differ():
    body = b'{"code": "print(1)", "timeoutMs": 1e3, "n": 1.5e308, "m": {"a": 1, "A": 2}}'
    assert api.parse_body(body) == {
        "code": "print(1)",
        "timeoutMs": 1000.0,
        "n": 1.5e308,
        "m": {"a": 1, "A": 2},
    }


def test_a_row_keeps_at_most_max_text_characters_of_each_text_after_escaping(db):
    # Cut before escaping, 4,096 lone surrogates were stored as 24,576 characters (`\udc80` each).
    code = "print('\\udc80' * 10_000)\nraise ValueError('\\x00' * 10_000)"
    (row,), _ = written(db, run_now(api.rpc("execute", {"code": code}, BINDING, keep=KEEP_ALL)))
    for text in (row["output"], row["error"]):
        assert len(text) <= log.MAX_TEXT + len(log.CUT_MARKER), len(text)
        assert text.endswith(log.CUT_MARKER) and text.startswith(("\\udc80", "ValueError: \\x00"))
    body = {"evalCode": "def eval_x(t):\n    print('\\x00' * 9999)\n    return True, '\\ud800' * 9999",
            "traces": [{"trace_id": "t", "data": 0}]}  # fmt: skip
    _, (trace,) = written(db, run_now(api.rpc("evaluate", body, BINDING, keep=KEEP_ALL)))
    assert max(len(trace["output"]), len(trace["reason"])) <= log.MAX_TEXT + len(log.CUT_MARKER)
    # An escape is never cut in half.
    assert trace["reason"].removesuffix(log.CUT_MARKER).endswith("\\ud800")
