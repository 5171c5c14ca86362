"""Eval functions over many traces: conventions, verdicts, isolation, budgets, the CLI."""

from __future__ import annotations

import io
import json
import pathlib

import pytest

import sandbox
from sandbox import BatchInputError, Limits, Policy, runner
from sandbox.cli import main

from .support import SHORT

# The four sample traces of ../shared/reference/traces, one per line, as the README example uses them.
SAMPLES = {
    json.loads(line)["data"]["trace_id"]: json.loads(line)
    for line in (pathlib.Path(__file__).resolve().parents[1] / "examples" / "traces.jsonl")
    .read_text()
    .splitlines()
}
TRACES = [{"trace_id": f"t{i}", "data": {"steps": [{"output": f"answer {i}"}] * i}} for i in range(1, 4)]


def evaluate(code, traces=TRACES, **options):
    return sandbox.evaluate(code, traces, **options)


def verdicts(batch):
    return [
        (r.trace_id, r.passed, r.reason) if r.success else (r.trace_id, r.error_type, r.error)
        for r in batch.results
    ]


# --- calling conventions and entry points --------------------------------------------------------


def test_convention_trace():
    batch = evaluate("def eval_steps(trace):\n    return len(trace['steps']) >= 2, 'counted'")
    assert batch.entry_point.convention == "fn(trace)"
    assert verdicts(batch) == [("t1", False, "counted"), ("t2", True, "counted"), ("t3", True, "counted")]


def test_convention_trace_ctx_gets_no_context():
    batch = evaluate("def eval_ctx(trace, ctx=None):\n    return ctx is None, 'no llm'", TRACES[:1])
    assert batch.entry_point.convention == "fn(trace, ctx)"
    assert verdicts(batch) == [("t1", True, "no llm")]


def test_convention_task_metadata_trace_ctx():
    code = "def eval_full(task, task_metadata, trace, ctx):\n    return task['user_message'] == 'hi' and task_metadata['k'] == 1, 'task seen'"
    batch = evaluate(code, TRACES[:1], task={"user_message": "hi"}, task_metadata={"k": 1})
    assert batch.entry_point.convention == "fn(task, task_metadata, trace, ctx)"
    assert verdicts(batch) == [("t1", True, "task seen")]


def test_calling_the_llm_without_one_is_a_clear_error_for_that_trace():
    batch = evaluate(
        "def eval_judge(trace, ctx):\n    return ctx.call_llm('judge this') == 'yes', 'llm'", TRACES[:1]
    )
    (result,) = batch.results
    assert result.error_type == "runtime"
    assert result.error.startswith("ctx.call_llm is not available: no LLM is configured")


def test_helper_defined_before_the_entry_point():
    code = "def first_helper(trace):\n    return len(trace['steps'])\n\ndef eval_uses_helper(trace):\n    return first_helper(trace) == 1, 'one step'"
    batch = evaluate(code)
    assert batch.entry_point.name == "eval_uses_helper"
    assert [r.passed for r in batch.results] == [True, False, False]


def test_named_function_wins():
    code = "def eval_a(trace):\n    return True, 'a'\ndef eval_b(trace):\n    return False, 'b'"
    assert verdicts(evaluate(code, TRACES[:1], function="eval_b")) == [("t1", False, "b")]


def test_eval_function_is_the_fallback():
    assert (
        evaluate("def eval_function(trace):\n    return True, 'fallback'", TRACES[:1]).entry_point.name
        == "eval_function"
    )


def test_eval_function_wins_over_several_eval_helpers():
    code = (
        "def eval_steps(trace):\n    return len(trace['steps'])\n\n"
        "def eval_words(trace):\n    return 0\n\n"
        "def eval_function(trace):\n    return eval_steps(trace) == 1, 'one step'"
    )
    batch = evaluate(code)
    assert batch.entry_point.name == "eval_function"
    assert verdicts(batch)[0] == ("t1", True, "one step")
    assert sandbox.validate(code).entry_point == batch.entry_point


@pytest.mark.parametrize(
    ("code", "function", "message"),
    [
        (
            "def eval_a(trace):\n    pass\ndef eval_b(trace):\n    pass",
            None,
            "Ambiguous entry point: eval_a, eval_b",
        ),
        (
            "def helper(trace):\n    pass",
            None,
            "No entry point: define one top-level eval_* function or eval_function. Top-level functions: helper",
        ),
        (
            "def eval_a(trace):\n    pass",
            "missing",
            "Entry point 'missing' is not a top-level function. Top-level functions: eval_a",
        ),
        ("def eval_a(x, y, z):\n    pass", None, "Cannot tell how to call eval_a(x, y, z)"),
    ],
)
def test_entry_point_problems_are_validation_errors_naming_the_candidates(code, function, message):
    batch = evaluate(code, function=function)
    wire = batch.to_wire()
    assert wire["errorType"] == "validation" and wire["error"].startswith(message)
    assert [(r.error_type, r.error) for r in batch.results] == [("validation", wire["error"])] * len(TRACES)


def test_validate_reports_entry_point_and_convention():
    wire = sandbox.validate(
        "def helper():\n    pass\ndef eval_x(trace, ctx=None):\n    return True, ''"
    ).to_wire()
    assert (wire["entryPoint"], wire["convention"]) == ("eval_x", "fn(trace, ctx)")
    assert "entryPoint" not in sandbox.validate("print(1)").to_wire()


def test_analysis_errors_are_reported_for_the_batch_and_for_every_trace():
    wire = evaluate("import os\ndef eval_x(trace):\n    return True, ''").to_wire()
    assert (wire["success"], wire["error"], wire["errorType"]) == (
        False,
        "Blocked import detected: os",
        "validation",
    )
    # A caller that stores what each trace got stores the error, not nothing.
    assert [(r["trace_id"], r["success"], r["error"], r["errorType"]) for r in wire["results"]] == [
        (trace["trace_id"], False, "Blocked import detected: os", "validation") for trace in TRACES
    ]
    assert wire["summary"]["errors"] == len(TRACES)


# --- verdicts ---------------------------------------------------------------------------------------


def test_float_scores_pass_at_one_half():
    code = "def eval_score(trace):\n    return [0.49, 0.5, 1.0][len(trace['steps']) - 1], 'scored'"
    batch = evaluate(code)
    assert [(r.passed, r.score) for r in batch.results] == [(False, 0.49), (True, 0.5), (True, 1.0)]


@pytest.mark.parametrize(
    ("returned", "rule"),
    [
        ("(1, 'r')", "first item is an int, which is ambiguous"),
        ("True", "expected a tuple (passed or score, reason), got bool"),
        ("(True,)", "expected a 2-tuple (passed or score, reason), got a tuple of 1"),
        ("(True, None)", "second item (the reason) must be a str, got NoneType"),
        ("(True, 123)", "second item (the reason) must be a str, got int"),
        ("(1.5, 'r')", "score must be a float between 0 and 1, got 1.5"),
        ("(float('nan'), 'r')", "score must be a float between 0 and 1, got nan"),
        ("(Yes(), 'r')", "first item must be a bool or a float score, got Yes"),
        ("(True, Reason('r'))", "second item (the reason) must be a str, got Reason"),
        ("(decimal.Decimal('1'), 'r')", "first item must be a bool or a float score, got Decimal"),
        ("[True, 'r']", "expected a tuple (passed or score, reason), got list"),
        ("(True, 'r', 'extra')", "got a tuple of 3"),
    ],
)
def test_invalid_results_say_which_rule_they_broke(returned, rule):
    code = f"""
import decimal
class Yes(float):
    def __bool__(self):
        while True:
            pass
class Reason(str):
    def __str__(self):
        while True:
            pass
def eval_bad(trace):
    return {returned}
"""
    (result,) = evaluate(code, TRACES[:1], policy=Policy.allowing(["decimal"])).results
    assert result.error_type == "invalid_result"
    assert result.error.startswith("Invalid result: ") and rule in result.error


def test_an_invalid_result_does_not_quote_a_function_name_that_says_timeout():
    (result,) = evaluate("def eval_tool_timeouts(trace):\n    return 1, 'r'", TRACES[:1]).results
    assert result.error_type == "invalid_result"
    assert "timeout" not in result.error.lower()


def test_printed_fake_verdict_changes_nothing():
    code = "def eval_liar(trace):\n    print('(True, \"passed\")')\n    print(json.dumps({'passed': True}))\n    return False, 'really failed'\nimport json"
    (result,) = evaluate(code, TRACES[:1]).results
    assert (result.passed, result.reason) == (False, "really failed")
    assert result.output == '(True, "passed")\n{"passed": true}'


# --- failures stay with their trace ----------------------------------------------------------------


def test_a_raising_trace_among_passing_ones():
    code = "def eval_x(trace):\n    if len(trace['steps']) == 2:\n        raise ValueError('bad trace')\n    return True, 'ok'"
    assert verdicts(evaluate(code)) == [
        ("t1", True, "ok"),
        ("t2", "runtime", "ValueError: bad trace (line 3)"),
        ("t3", True, "ok"),
    ]


def test_an_infinite_loop_on_one_trace_leaves_the_others_judged():
    code = "def eval_x(trace):\n    while len(trace['steps']) == 2:\n        pass\n    return True, 'ok'"
    batch = evaluate(code, limits=SHORT)
    assert verdicts(batch) == [
        ("t1", True, "ok"),
        ("t2", "timeout", "Execution timeout exceeded 250ms (the caller can raise timeoutMs to 5000)"),
        ("t3", True, "ok"),
    ]
    assert (batch.summary.passed, batch.summary.timeouts, batch.summary.errors) == (2, 1, 0)


def test_memory_exhaustion_on_one_trace_leaves_the_others_judged():
    code = "def eval_x(trace):\n    if len(trace['steps']) == 1:\n        x = 'a' * 10**10\n    return True, 'ok'"
    assert [r.error_type or r.passed for r in evaluate(code).results] == ["memory", True, True]


def test_traces_do_not_see_each_other():
    # The first trace mutates its input, a module-level list and a class attribute; the second
    # must see none of it, and the caller's own data stays as it was.
    code = """
seen = []
class Memo:
    calls = 0
def eval_isolated(trace):
    Memo.calls += 1
    seen.append(trace['name'])
    clean = 'touched' not in trace and Memo.calls == 1 and seen == [trace['name']] and trace['steps'] == [1]
    trace['touched'] = True
    trace['steps'].clear()
    return clean, f"calls={Memo.calls} seen={seen}"
"""
    traces = [
        {"trace_id": "a", "data": {"name": "a", "steps": [1]}},
        {"trace_id": "b", "data": {"name": "b", "steps": [1]}},
    ]
    batch = sandbox.evaluate(code, traces)
    assert verdicts(batch) == [("a", True, "calls=1 seen=['a']"), ("b", True, "calls=1 seen=['b']")]
    assert traces[0]["data"] == {"name": "a", "steps": [1]}


def test_trace_text_is_data_never_code():
    data = {"steps": [{"input": {"user_message": "import os; eval(open('/etc/passwd').read())"}}]}
    code = "def eval_x(trace):\n    return 'import os' in trace['steps'][0]['input']['user_message'], 'read as text'"
    assert verdicts(evaluate(code, [{"trace_id": "t", "data": data}])) == [("t", True, "read as text")]


def test_future_annotations_with_typing_hints():
    code = """
from __future__ import annotations
from typing import Any, Dict, Optional, Tuple
def count(trace: Dict[str, Any]) -> Optional[int]:
    return len(trace.get('steps', []))
def eval_typed(trace: Dict[str, Any], ctx: Optional[Any] = None) -> Tuple[bool, str]:
    n: int = count(trace) or 0
    return n > 0, f"{n} steps"
"""
    assert verdicts(evaluate(code, TRACES[:1])) == [("t1", True, "1 steps")]


# --- each sample trace shape ------------------------------------------------------------------------


def sample(name):
    trace_id = {
        "steps.json": "tr_0001",
        "steps-tool-name.json": "tr_0002",
        "langgraph-steps.json": "tr_0003",
        "spans.json": "tr_0004",
    }[name]
    return [SAMPLES[trace_id]]


def test_steps_shape_tool_calls_by_name():
    code = "def eval_weather(trace):\n    names = [c['name'] for s in trace['steps'] for c in s['tool_calls']]\n    return 'weather_lookup' in names, ', '.join(names)"
    assert verdicts(evaluate(code, sample("steps.json"))) == [("tr_0001", True, "weather_lookup")]


def test_steps_tool_name_shape_with_errors_and_missing_keys():
    code = "def eval_errors(trace):\n    bad = [c['tool_name'] for s in trace['steps'] for c in s['tool_calls'] if c.get('error')]\n    return not bad, f'failed: {bad}'"
    assert verdicts(evaluate(code, sample("steps-tool-name.json"))) == [
        ("tr_0002", False, "failed: ['return_create']")
    ]


def test_langgraph_shape_latency_budget():
    code = "def eval_latency(trace):\n    total = sum(s['metadata'].get('latency_ms', 0) for s in trace['steps'])\n    return total < 5000, f'{total} ms'"
    assert verdicts(evaluate(code, sample("langgraph-steps.json"))) == [("tr_0003", True, "760 ms")]


def test_spans_shape_tree_walk():
    code = """
def eval_tree(trace):
    children = {}
    for span in trace['spans']:
        children.setdefault(span['parent_span_id'], []).append(span)
    def depth(span_id):
        return 1 + max((depth(c['span_id']) for c in children.get(span_id, [])), default=0)
    roots = children[None]
    kinds = sorted({s['span_kind'] for s in trace['spans']})
    return len(roots) == 1 and depth(roots[0]['span_id']) >= 2, f"kinds={kinds}"
"""
    (result,) = evaluate(code, sample("spans.json")).results
    assert result.passed and result.reason.startswith("kinds=['AGENT', 'LLM'")


# --- the batch's own limits -------------------------------------------------------------------------


def test_spent_batch_budget_reports_the_rest_as_not_run():
    code = "def eval_slow(trace):\n    while True:\n        pass"
    traces = [{"trace_id": f"t{i}", "data": {}} for i in range(5)]
    batch = sandbox.evaluate(code, traces, limits=Limits(timeout_ms=100, batch_timeout_ms=250))
    kinds = [r.error_type for r in batch.results]
    assert kinds[:2] == ["timeout", "timeout"] and kinds[-1] == "not_run"
    assert len(batch.results) == 5  # nothing silently dropped
    assert (
        batch.results[0].error == "Execution timeout exceeded 100ms (the caller can raise timeoutMs to 5000)"
    )  # its own budget ran out
    not_run = batch.results[-1]
    assert "timeout" not in not_run.error.lower() and not_run.error.startswith("Not run")
    assert batch.summary.not_run == kinds.count("not_run")


def test_a_trace_cut_short_by_the_batch_budget_says_the_batch_ran_out():
    code = "def eval_slow(trace):\n    while True:\n        pass"
    traces = [{"trace_id": "first", "data": {}}, {"trace_id": "second", "data": {}}]
    # Less is left of the batch than a trace's own budget from the start.
    batch = sandbox.evaluate(code, traces, limits=Limits(timeout_ms=1000, batch_timeout_ms=300))
    first, second = batch.results
    assert first.error_type == "timeout"
    assert first.error == (
        "Execution timeout exceeded: the batch's time ran out during this trace (batch budget 300ms)"
    )
    assert second.error_type == "not_run"


@pytest.mark.parametrize(
    ("traces", "limits", "message"),
    [
        ("not a list", None, "traces must be a list"),
        ([{"data": {}}], None, "traces[0] must be an object with a string trace_id and data"),
        ([{"trace_id": "a", "data": {"x": object()}}], None, "traces[0].data is not JSON data"),
        (
            [{"trace_id": "a", "data": 1}, {"trace_id": "b", "data": 2}, {"trace_id": "a", "data": 3}],
            None,
            "traces[2] has the trace_id 'a' of traces[0]; trace ids must be unique",
        ),
        (
            [{"trace_id": str(i), "data": {}} for i in range(3)],
            Limits(max_traces=2),
            "3 traces exceed the limit of 2",
        ),
        (
            [{"trace_id": "a", "data": "x" * 100}],
            Limits(max_trace_bytes=50),
            "traces[0] is 102 bytes, over the limit of 50",
        ),
        (
            [{"trace_id": str(i), "data": "x" * 40} for i in range(3)],
            Limits(max_batch_bytes=100),
            "exceed the limit of 100 bytes",
        ),
    ],
)
def test_unusable_batches_are_refused_before_anything_runs(traces, limits, message):
    with pytest.raises(BatchInputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        sandbox.evaluate("def eval_x(trace):\n    return True, ''", traces, limits=limits)


def test_deeply_nested_trace_data_is_refused_before_the_host_serialises_it():
    # 1,000 levels: past the sandbox's limit, short of what would crash Pyodide when the test
    # itself frees the list.
    data: list = []
    for _ in range(1000):
        data = [data]
    with pytest.raises(BatchInputError, match="nested deeper than"):
        sandbox.evaluate("def eval_x(trace):\n    return True, ''", [{"trace_id": "deep", "data": data}])


def test_wire_format_matches_the_contract():
    wire = evaluate("def eval_x(trace):\n    print('hi')\n    return True, 'ok'", TRACES[:1]).to_wire()
    (trace,) = wire["results"]
    assert set(trace) == {"trace_id", "success", "passed", "score", "reason", "output", "execution_time_ms"}
    assert wire["summary"] == {"passed": 1, "failed": 0, "errors": 0, "timeouts": 0, "not_run": 0}
    assert isinstance(wire["total_time_ms"], float)


# --- the command line ---------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path):
    script = tmp_path / "eval.py"
    script.write_text("def eval_x(trace):\n    return trace['ok'], 'checked'")
    array = tmp_path / "traces.json"
    array.write_text(
        json.dumps([{"trace_id": "a", "data": {"ok": True}}, {"trace_id": "b", "data": {"ok": False}}])
    )
    lines = tmp_path / "traces.jsonl"
    lines.write_text('{"trace_id": "a", "data": {"ok": true}}\n\n{"trace_id": "b", "data": {"ok": 1}}\n')
    return script, array, lines


def test_cli_eval_over_a_json_array_exits_0_when_every_trace_is_judged(files, capsys):
    script, array, _ = files
    assert main(["eval", str(script), "--traces", str(array)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["passed"] for r in out["results"]] == [True, False]


def test_cli_eval_over_json_lines_exits_1_on_an_invalid_verdict(files, capsys):
    script, _, lines = files
    assert main(["eval", str(script), "--traces", str(lines)]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["results"][1]["errorType"] == "invalid_result"


def test_cli_eval_passes_task_and_options(tmp_path, files, capsys):
    _, array, _ = files
    script = tmp_path / "full.py"
    script.write_text(
        "import math\ndef judge(task, task_metadata, trace, ctx):\n    return task['q'] == 'x' and task_metadata == {'n': 1}, str(math.pi)[:4]"
    )
    args = [
        "eval",
        str(script),
        "--traces",
        str(array),
        "--function",
        "judge",
        "--task",
        '{"q": "x"}',
        "--task-metadata",
        '{"n": 1}',
        "--allow-imports",
        "math",
        "--timeout-ms",
        "1000",
    ]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["reason"] == "3.14"


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["--traces", "/no/such/file"],
        ["--traces", "{bad"],
        ["--task", "{not json"],
        ["--timeout-ms", "99999"],
    ],
)
def test_cli_eval_usage_errors_exit_2(files, extra, capsys, monkeypatch):
    script, array, _ = files
    bad = pathlib.Path(array).with_name("bad.json")
    bad.write_text("{not json")
    extra = [str(bad) if x == "{bad" else x for x in extra]
    if "--traces" not in extra:
        extra = [*extra, "--traces", str(array)] if extra else extra
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(main(["eval", str(script), *extra]))
    assert exit_info.value.code == 2
    assert capsys.readouterr().err


def test_cli_eval_draws_progress_on_a_terminal_only(files, tmp_path, capsys, monkeypatch):
    script, _, _ = files
    many = tmp_path / "many.jsonl"
    many.write_text("\n".join(json.dumps({"trace_id": str(i), "data": {"ok": True}}) for i in range(25)))

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(["eval", str(script), "--traces", str(many)]) == 0
    assert terminal.getvalue().endswith("] 25/25 traces\n")
    assert main(["eval", str(script), "--traces", str(files[1])]) == 0  # two traces: no bar
    assert terminal.getvalue().count("25/25") == 1 and "] 2/2 traces" not in terminal.getvalue()


# --- warnings raised for the script's calls -------------------------------------------------------


# Each pattern once per process: re caches what it compiled, and warns only when compiling.
@pytest.mark.parametrize("call", ["re.compile('[[a]')", "re.findall('[[b]', 'b')", "re.search('[[c]', 'c')"])
def test_a_regex_warning_in_eval_mode_followed_by_ten_more_traces(call, capfd):
    # A nested set makes re warn (FutureWarning). The warnings module records it in the globals of
    # the engine module the call came through: read as tampering, it took the interpreter out of
    # service for every later trace and run, and printed host paths on stderr.
    code = f"import re\ndef eval_pattern(trace):\n    {call}\n    return True, 'ok'\n"
    traces = [{"trace_id": f"t{i}", "data": {}} for i in range(11)]
    batch = sandbox.evaluate(code, traces)
    assert [(r.success, r.passed) for r in batch.results] == [(True, True)] * 11, batch.results[0]
    assert runner.interpreter_fault() is None
    assert sandbox.execute("print(1)").output == "1"
    assert "Warning" not in capfd.readouterr().err
