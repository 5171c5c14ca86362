"""The `sandbox` console script, called in-process (Pyodide has no subprocesses)."""

from __future__ import annotations

import io
import json

import pytest

from sandbox.cli import main


def run_cli(args, capsys, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_exec_prints_one_json_object_and_exits_0(tmp_path, capsys):
    script = tmp_path / "hello.py"
    script.write_text("print('hello')")
    code, out, _ = run_cli(["exec", str(script)], capsys)
    assert code == 0
    result = json.loads(out)
    assert result["success"] is True and result["output"] == "hello"


def test_exec_from_stdin_failure_exits_1(capsys, monkeypatch):
    code, out, _ = run_cli(["exec", "-"], capsys, "import os", monkeypatch)
    assert code == 1
    assert json.loads(out)["error"] == "Blocked import detected: os"


def test_exec_options(capsys, monkeypatch):
    code, out, _ = run_cli(
        ["exec", "-", "--timeout-ms", "100", "--memory-mb", "10", "--allow-imports", "math"],
        capsys, "import math\nwhile True:\n    pass", monkeypatch,
    )  # fmt: skip
    assert code == 1
    assert json.loads(out)["errorType"] == "timeout"


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["run", "x.py"],
        ["exec"],
        ["exec", "-", "--timeout-ms", "abc"],
        ["exec", "-", "--timeout-ms", "999999"],
        ["exec", "-", "--allow-imports", "os"],
        ["exec", "/no/such/file.py"],
    ],
)
def test_usage_errors_exit_2(args, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("print(1)"))
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(main(args))
    assert exit_info.value.code == 2
    assert capsys.readouterr().err


def test_check_reports_violations_with_positions(capsys, monkeypatch):
    code, out, _ = run_cli(["check", "-"], capsys, "x = 1\nimport os\neval('1')", monkeypatch)
    assert code == 1
    assert json.loads(out) == {
        "valid": False,
        "violations": [
            {"line": 2, "col": 0, "message": "Blocked import detected: os"},
            {"line": 3, "col": 0, "message": "Blocked: eval/exec/compile not allowed"},
        ],
    }


def test_check_valid_exits_0(capsys, monkeypatch):
    code, out, _ = run_cli(["check", "-"], capsys, "print(1)", monkeypatch)
    assert (code, json.loads(out)) == (0, {"valid": True, "violations": []})


def test_exec_and_eval_append_to_a_local_sqlite_log(tmp_path, capsys, monkeypatch):
    from sandbox.log import SqliteDatabase, run_now

    database = tmp_path / "log.sqlite"
    monkeypatch.setattr("sys.stdin", io.StringIO("print(1)"))
    assert main(["exec", "-", "--log", str(database)]) == 0
    traces = tmp_path / "traces.json"
    traces.write_text(json.dumps([{"trace_id": "a", "data": {}}]))
    monkeypatch.setattr("sys.stdin", io.StringIO("def eval_x(trace):\n    return True, 'ok'"))
    assert main(["eval", "-", "--traces", str(traces), "--log", str(database)]) == 0
    capsys.readouterr()
    rows = run_now(
        SqliteDatabase(database).query(
            "SELECT kind, caller, mode, trace_count FROM executions ORDER BY rowid"
        )
    )
    assert rows == [
        {"kind": "execute", "caller": "local", "mode": "cli", "trace_count": None},
        {"kind": "evaluate", "caller": "local", "mode": "cli", "trace_count": 1},
    ]


EVAL_WITH_HELPERS = (
    "def eval_steps(trace):\n    return 1\n\n"
    "def eval_function(trace):\n    return True, 'ok'\n\n"
    "def eval_other(trace, ctx):\n    return True, 'ok'"
)


def test_check_reports_the_entry_point_eval_would_use(capsys, monkeypatch):
    code, out, _ = run_cli(["check", "-"], capsys, EVAL_WITH_HELPERS, monkeypatch)
    assert (code, json.loads(out)) == (
        0,
        {"valid": True, "violations": [], "entryPoint": "eval_function", "convention": "fn(trace)"},
    )


def test_check_takes_the_function_eval_would_be_given(capsys, monkeypatch):
    code, out, _ = run_cli(["check", "-", "--function", "eval_other"], capsys, EVAL_WITH_HELPERS, monkeypatch)
    assert (code, json.loads(out)["entryPoint"], json.loads(out)["convention"]) == (
        0,
        "eval_other",
        "fn(trace, ctx)",
    )
    code, out, _ = run_cli(["check", "-", "--function", "missing"], capsys, EVAL_WITH_HELPERS, monkeypatch)
    assert code == 1
    assert json.loads(out)["violations"][0]["message"].startswith("Entry point 'missing' is not a top-level")
