"""The Worker's request handling, without a Worker."""

from __future__ import annotations

import json

import pytest

from sandbox.api import MAX_BODY_BYTES, handle_execute


def test_post_runs_code():
    status, body = handle_execute("POST", json.dumps({"code": "print(6 * 7)"}))
    assert status == 200
    assert body["success"] is True and body["output"] == "42"


def test_imports_can_be_widened_within_the_maximum():
    status, body = handle_execute(
        "POST", json.dumps({"code": "import math\nprint(math.floor(2.5))", "allowImports": ["math"]})
    )
    assert (status, body["output"]) == (200, "2")


@pytest.mark.parametrize(
    ("method", "payload", "status"),
    [
        ("GET", "", 405),
        ("POST", "{not json", 400),
        ("POST", "[]", 400),
        ("POST", json.dumps({"code": 1}), 400),
        ("POST", json.dumps({"code": "", "allowImports": "math"}), 400),
        ("POST", json.dumps({"code": "", "allowImports": ["os"]}), 400),
        ("POST", json.dumps({"code": "", "timeoutMs": "5"}), 400),
        ("POST", json.dumps({"code": "", "timeoutMs": 10**6}), 400),
        ("POST", json.dumps({"code": "x" * MAX_BODY_BYTES}), 413),
    ],
)
def test_bad_input_is_refused_with_a_json_error(method, payload, status):
    got, body = handle_execute(method, payload)
    assert got == status
    assert body["error"] and body["code"]
