"""The `sandbox` console script, called in-process (Pyodide has no subprocesses)."""

from __future__ import annotations

import io
import json
import pathlib
import sys

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


# --- no tracebacks: clear messages, exit 2 -------------------------------------------------------------

EVAL = "def eval_x(trace):\n    return trace.get('ok') is True, 'ok is ' + str(trace.get('ok'))"


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "eval.py"
    path.write_text(EVAL)
    return path


def usage_error(args, capsys) -> str:
    """The command exits 2 with one line on stderr and prints nothing on stdout."""
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert out == "" and err.startswith("sandbox: error: ") and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    "text",
    [
        "[" * 10_000 + "]" * 10_000,
        '{"trace_id": "a", "data": ' + "[" * 10_000 + "]" * 10_000 + "}",
        '{"trace_id": "a", "data": 1}\n' + "[" * 10_000 + "]" * 10_000 + "\n",
    ],
)
def test_deeply_nested_traces_are_a_usage_error_not_a_traceback(text, script, tmp_path, capsys):
    traces = tmp_path / "deep.json"
    traces.write_text(text)
    err = usage_error(["eval", str(script), "--traces", str(traces)], capsys)
    assert "nested deeper than" in err and "deep.json" in err


def test_deeply_nested_task_is_a_usage_error(script, tmp_path, capsys):
    traces = tmp_path / "t.json"
    traces.write_text('{"ok": true}')
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", str(script), "--traces", str(traces), "--task", "[" * 10_000 + "]" * 10_000])
    assert exit_info.value.code == 2
    assert "nested deeper than" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["missing-directory/log.sqlite", "a-directory", "not-a-database"])
def test_a_log_that_cannot_be_opened_is_a_usage_error_before_anything_runs(where, script, tmp_path, capsys):
    (tmp_path / "a-directory").mkdir()
    (tmp_path / "not-a-database").write_text("these are not the bytes of an SQLite file" * 100)
    err = usage_error(["exec", str(script), "--log", str(tmp_path / where)], capsys)
    assert f"cannot open the log {tmp_path / where}" in err


def test_a_failed_log_write_comes_after_the_result(tmp_path, capsys, monkeypatch):
    import sqlite3

    from sandbox.log import SqliteDatabase

    async def broken(self, statements):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(SqliteDatabase, "batch", broken)
    monkeypatch.setattr("sys.stdin", io.StringIO("print(42)"))
    code = main(["exec", "-", "--log", str(tmp_path / "log.sqlite")])
    out, err = capsys.readouterr()
    assert code == 2
    assert json.loads(out)["output"] == "42"  # the run is not lost
    assert "disk I/O error" in err and "could not be written to the log" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--memory-mb", "200"], "200 MB is outside 1 to 128 MB"),
        (["--memory-mb", "0"], "0 MB is outside 1 to 128 MB"),
        (["--memory-mb", "1.5"], "not a whole number of MB: '1.5'"),
        (["--timeout-ms", "99999"], "99999 ms is outside 1 to 5000 ms"),
    ],
)
def test_budget_options_are_checked_in_their_own_units(args, message, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("print(1)"))
    with pytest.raises(SystemExit) as exit_info:
        main(["exec", "-", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "bytes" not in err


def test_eval_takes_a_memory_budget_in_mb(script, tmp_path, capsys):
    traces = tmp_path / "t.json"
    traces.write_text('{"ok": true}')
    code = main(["eval", str(script), "--traces", str(traces), "--memory-mb", "1"])
    assert code == 0 and json.loads(capsys.readouterr().out)["results"][0]["passed"] is True


# --- traces in the shapes people have ----------------------------------------------------------------


def eval_over(traces_path, capsys, *extra):
    code = main(["eval", "-", "--traces", str(traces_path), *extra])
    out = capsys.readouterr().out
    return code, json.loads(out)


def verdicts(wire):
    return [(r["trace_id"], r.get("passed")) for r in wire["results"]]


@pytest.fixture
def stdin_eval(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(EVAL))


def test_a_single_pretty_printed_trace(stdin_eval, tmp_path, capsys):
    # The contract's own sample files: one raw trace, indented, named by its trace_id.
    traces = tmp_path / "steps.json"
    traces.write_text(json.dumps({"trace_id": "tr_0001", "ok": True, "steps": [{"input": "hi"}]}, indent=2))
    code, wire = eval_over(traces, capsys)
    assert code == 0 and verdicts(wire) == [("tr_0001", True)]


def test_a_raw_trace_without_an_id_is_named_by_its_file(stdin_eval, tmp_path, capsys):
    traces = tmp_path / "lisbon.json"
    traces.write_text('{\n  "ok": false\n}\n')
    assert verdicts(eval_over(traces, capsys)[1]) == [("lisbon", False)]


def test_an_array_of_raw_traces_named_by_trace_id_or_position(stdin_eval, tmp_path, capsys):
    traces = tmp_path / "raw.json"
    traces.write_text(
        json.dumps([{"trace_id": "first", "ok": True}, {"ok": False}, {"trace_id": 7, "ok": True}])
    )
    assert verdicts(eval_over(traces, capsys)[1]) == [("first", True), ("1", False), ("2", True)]


def test_an_array_of_wrapped_traces_keeps_their_ids(stdin_eval, tmp_path, capsys):
    traces = tmp_path / "wrapped.json"
    traces.write_text(json.dumps([{"trace_id": "a", "data": {"ok": True}}, {"trace_id": "b", "data": {}}]))
    assert verdicts(eval_over(traces, capsys)[1]) == [("a", True), ("b", False)]


def test_json_lines_of_raw_and_wrapped_traces(stdin_eval, tmp_path, capsys):
    traces = tmp_path / "traces.jsonl"
    traces.write_text(
        '{"trace_id": "raw", "ok": true}\n\n{"trace_id": "w", "data": {"ok": true}}\n{"ok": 1}\n'
    )
    assert verdicts(eval_over(traces, capsys)[1]) == [("raw", True), ("w", True), ("2", False)]


def test_a_directory_of_json_files(stdin_eval, tmp_path, capsys):
    folder = tmp_path / "traces"
    folder.mkdir()
    (folder / "b.json").write_text(json.dumps({"trace_id": "tr_b", "ok": True}, indent=2))
    (folder / "a.json").write_text('{"ok": true}')
    (folder / "c.json").write_text(json.dumps([{"ok": False}, {"trace_id": "tr_c1", "ok": True}]))
    (folder / "notes.txt").write_text("not a trace")
    assert verdicts(eval_over(folder, capsys)[1]) == [
        ("a", True),
        ("tr_b", True),
        ("c[0]", False),
        ("tr_c1", True),
    ]


def test_utf8_byte_order_marks_are_accepted_in_scripts_and_traces(tmp_path, capsys, monkeypatch):
    script = tmp_path / "bom.py"
    script.write_bytes(b"\xef\xbb\xbf" + EVAL.encode())
    traces = tmp_path / "bom.json"
    traces.write_bytes(b"\xef\xbb\xbf" + b'{"trace_id": "t", "ok": true}')
    lines = tmp_path / "bom.jsonl"
    lines.write_bytes(b'\xef\xbb\xbf{"trace_id": "a", "ok": true}\n{"trace_id": "b", "ok": true}\n')
    for path in (traces, lines):
        assert main(["eval", str(script), "--traces", str(path)]) == 0
        assert all(r["passed"] for r in json.loads(capsys.readouterr().out)["results"])
    code, out, _ = run_cli(["exec", "-"], capsys, "\ufeffprint('from stdin')", monkeypatch)
    assert (code, json.loads(out)["output"]) == (0, "from stdin")
    assert main(["check", str(script)]) == 0 and json.loads(capsys.readouterr().out)["valid"]


def test_duplicate_trace_ids_are_refused_naming_both_places(script, tmp_path, capsys):
    folder = tmp_path / "traces"
    folder.mkdir()
    (folder / "a.json").write_text('{"trace_id": "same", "ok": true}')
    (folder / "b.json").write_text('[{"trace_id": "other"}, {"trace_id": "same"}]')
    err = usage_error(["eval", str(script), "--traces", str(folder)], capsys)
    assert "'same' is used twice" in err and "a.json" in err and "b.json[1]" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "is int, not a trace object"),
        ('{"trace_id": "a"}\n{bad\n', "neither JSON nor JSON Lines: line 2"),
        ("{bad", "is not JSON"),
    ],
)
def test_malformed_trace_files_are_usage_errors(text, message, script, tmp_path, capsys):
    traces = tmp_path / "t.json"
    traces.write_text(text)
    assert message in usage_error(["eval", str(script), "--traces", str(traces)], capsys)


# --- for people and CI ---------------------------------------------------------------------------------


@pytest.fixture
def evals_and_traces(tmp_path):
    evals = tmp_path / "evals"
    evals.mkdir()
    (evals / "ok_is_true.py").write_text(EVAL)
    (evals / "has_steps.py").write_text(
        "def eval_steps(trace):\n    return 'steps' in trace, 'looked for steps'"
    )
    (evals / "README.md").write_text("not an eval")
    traces = tmp_path / "traces.json"
    traces.write_text(
        json.dumps([{"trace_id": "good", "ok": True, "steps": []}, {"trace_id": "bad", "ok": False}])
    )
    return evals, traces


def test_require_pass_makes_a_failed_verdict_exit_1(evals_and_traces, capsys):
    evals, traces = evals_and_traces
    script = str(evals / "ok_is_true.py")
    assert main(["eval", script, "--traces", str(traces)]) == 0  # every trace judged
    assert main(["eval", script, "--traces", str(traces), "--require-pass"]) == 1  # one failed
    capsys.readouterr()
    passing = traces.with_name("passing.json")
    passing.write_text('[{"trace_id": "good", "ok": true}]')
    assert main(["eval", script, "--traces", str(passing), "--require-pass"]) == 0


def test_several_evals_run_over_the_same_traces_as_a_matrix(evals_and_traces, capsys):
    evals, traces = evals_and_traces
    scripts = [str(evals / "ok_is_true.py"), str(evals / "has_steps.py")]
    assert main(["eval", *scripts, "--traces", str(traces)]) == 0
    wire = json.loads(capsys.readouterr().out)
    assert [(e["eval"], e["entryPoint"], verdicts(e)) for e in wire["evals"]] == [
        (scripts[0], "eval_x", [("good", True), ("bad", False)]),
        (scripts[1], "eval_steps", [("good", True), ("bad", False)]),
    ]


def test_a_directory_of_evals_runs_each_py_file(evals_and_traces, capsys):
    evals, traces = evals_and_traces
    (evals / "broken.py").write_text("import os\n")
    assert main(["eval", str(evals), "--traces", str(traces)]) == 1  # one eval is invalid
    wire = json.loads(capsys.readouterr().out)
    names = [pathlib.Path(e["eval"]).name for e in wire["evals"]]
    assert names == ["broken.py", "has_steps.py", "ok_is_true.py"]
    assert wire["evals"][0]["error"] == "Blocked import detected: os"


def test_table_format_summarises_with_the_failing_traces_and_their_reasons(evals_and_traces, capsys):
    evals, traces = evals_and_traces
    (evals / "broken.py").write_text("import os\n")
    assert main(["eval", str(evals), "--traces", str(traces), "--format", "table"]) == 1
    table = capsys.readouterr().out
    broken, steps, ok = (str(evals / name) for name in ("broken.py", "has_steps.py", "ok_is_true.py"))
    lines = table.splitlines()
    assert lines[0].split() == ["trace", broken, steps, ok]
    assert lines[1].split() == ["good", "ERROR", "pass", "pass"]
    assert lines[2].split() == ["bad", "ERROR", "FAIL", "FAIL"]
    assert any(
        line.startswith(ok) and "eval_x" in line and "1 passed, 1 failed, 0 errors" in line for line in lines
    )
    failing = table.split("Not passed:\n")[1].splitlines()
    assert [line.split()[:3] for line in failing] == [
        [broken, "every", "trace"],
        [steps, "bad", "FAIL"],
        [ok, "bad", "FAIL"],
    ]
    assert failing[0].endswith("INVALID EVAL  Blocked import detected: os (line 1)")
    assert failing[2].endswith("FAIL          ok is False")


def test_the_example_evals_directory_runs_over_the_example_traces(capsys):
    # `sandbox eval examples/` used to take examples/eval_trace.py (a script for exec, no eval) too,
    # and 3 of its 4 traces failed.
    examples = pathlib.Path(__file__).resolve().parents[1] / "examples"
    code, out, _ = run_cli(
        ["eval", str(examples / "evals"), "--traces", str(examples / "traces.jsonl")], capsys
    )
    assert code == 0
    (batch,) = json.loads(out)["evals"]
    summary = batch["summary"]
    assert summary["errors"] == summary["not_run"] == 0 and summary["passed"] + summary["failed"] == 4


class ClosedPipe(io.StringIO):
    """stdout piped into `head`, which has exited: every write and flush fails with EPIPE."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_pipe_ends_the_command_quietly(monkeypatch, capsys):
    # `scripts/sandbox exec … | head` ended with a BrokenPipeError traceback.
    from sandbox import cli

    exits = []
    monkeypatch.setattr(cli.os, "_exit", exits.append)
    monkeypatch.setattr(sys, "argv", ["sandbox", "exec", "-"])
    monkeypatch.setattr(sys, "stdin", io.StringIO("print('x' * 100)"))
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    cli.entry()
    assert exits == [cli.CLOSED_PIPE_EXIT]
    assert capsys.readouterr().err == ""
