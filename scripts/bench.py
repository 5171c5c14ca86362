"""Benchmarks, side by side, as ratios: the sandbox against bare `exec` (no protection, the floor),
RestrictedPython (compile_restricted with its safe globals) and a fresh `python -I` subprocess per
run, on the same realistic eval functions and generated traces. Contenders are interleaved in every
round so that drift of the machine cancels out; each figure is a median with its spread.

    uv run --group bench python scripts/bench.py            # CPython, writes docs/benchmarks.md and the chart
    uv run --group bench python scripts/bench.py --report-only   # re-render from docs/benchmarks.json
    node_modules/.bin/node scripts/bench-pyodide.mjs bench  # the same engine inside Pyodide 314 (called by the above)

This is a script, not a test: numbers depend on the machine, and the document says which.
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

IN_PYODIDE = sys.platform == "emscripten"

# --- the corpus: eval functions of the kinds the consumer contract describes ------------------------

CORPUS: dict[str, str] = {
    "json_output_check": """
import json
def eval_json_output(trace):
    last = trace["steps"][-1]["output"]["response"]
    try:
        data = json.loads(last) if last.startswith("{") else {"text": last}
    except ValueError:
        return False, "not JSON"
    return "text" in data or "answer" in data, "keys: " + ", ".join(sorted(data))
""",
    "regex_pii_scan": """
import re
EMAIL = re.compile(r"[\\w.+-]+@[\\w-]+\\.[\\w.]+")
PHONE = re.compile(r"\\+?\\d[\\d -]{8,}\\d")
def eval_no_pii(trace):
    hits = 0
    for step in trace["steps"]:
        text = step["output"]["response"]
        hits += len(EMAIL.findall(text)) + len(PHONE.findall(text))
    return hits == 0, f"{hits} possible PII matches"
""",
    "tool_call_audit": """
ALLOWED = {"search", "weather_lookup", "order_get", "calendar_read"}
def eval_tools_allowed(trace):
    bad = [c["name"] for s in trace["steps"] for c in s["tool_calls"] if c["name"] not in ALLOWED]
    return not bad, "unexpected tools: " + ", ".join(bad) if bad else "all tools allowed"
""",
    "tool_error_rate": """
def eval_tool_errors(trace, ctx=None):
    calls = [c for s in trace["steps"] for c in s["tool_calls"]]
    failed = sum(1 for c in calls if c.get("error"))
    rate = failed / len(calls) if calls else 0.0
    return 1.0 - rate, f"{failed}/{len(calls)} tool calls failed"
""",
    "span_tree_depth": """
def eval_span_depth(trace):
    children = {}
    for span in trace["spans"]:
        children.setdefault(span["parent_span_id"], []).append(span["span_id"])
    depth, frontier = 0, children.get(None, [])
    while frontier:
        depth += 1
        frontier = [c for s in frontier for c in children.get(s, [])]
    return depth <= 12, f"depth {depth}"
""",
    "span_latency_budget": """
from datetime import datetime
def eval_latency(trace):
    total = 0.0
    for span in trace["spans"]:
        if span["span_kind"] == "LLM":
            start = datetime.fromisoformat(span["start_time"])
            end = datetime.fromisoformat(span["end_time"])
            total += (end - start).total_seconds()
    return total < 60.0, f"{total:.1f} s in LLM spans"
""",
    "difflib_similarity": """
import difflib
def eval_similar_to_reference(task, task_metadata, trace, ctx):
    answer = trace["steps"][-1]["output"]["response"]
    ratio = difflib.SequenceMatcher(None, answer, task_metadata["reference"]).ratio()
    return round(ratio, 3), f"similarity {ratio:.2f}"
""",
    "step_loop_counter": """
def eval_loops(trace):
    seen = {}
    repeats = 0
    for step in trace["steps"]:
        key = step["input"].get("user_message", "") + "|" + ",".join(c["name"] for c in step["tool_calls"])
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 3:
            repeats += 1
    return repeats == 0, f"{repeats} repeated steps"
""",
    "keyword_presence": """
def eval_mentions_city(task, task_metadata, trace, ctx):
    city = task_metadata["city"].lower()
    said = any(city in step["output"]["response"].lower() for step in trace["steps"])
    return said, "city mentioned" if said else "city never mentioned"
""",
    "tool_sequence_order": """
def eval_lookup_before_answer(trace):
    order = [c["name"] for s in trace["steps"] for c in s["tool_calls"]]
    if "weather_lookup" not in order:
        return False, "no lookup"
    first = order.index("weather_lookup")
    return first < len(order), f"lookup at position {first}"
""",
    "answer_length_score": """
import statistics
def eval_concise(trace):
    lengths = [len(s["output"]["response"].split()) for s in trace["steps"]]
    mean = statistics.fmean(lengths)
    return max(0.0, min(1.0, 1.0 - (mean - 40) / 200)), f"mean {mean:.0f} words"
""",
    "helper_then_entry": """
from typing import Any, Dict, List
def collect(trace: Dict[str, Any]) -> List[str]:
    return [s["output"]["response"] for s in trace["steps"] if s.get("error") is None]
def eval_no_errors(trace):
    ok = collect(trace)
    return len(ok) == len(trace["steps"]), f"{len(trace['steps']) - len(ok)} steps with errors"
""",
    "class_based_checker": """
class Checker:
    def __init__(self, banned):
        self.banned = banned
        self.hits = []
    def scan(self, text):
        for word in self.banned:
            if word in text:
                self.hits.append(word)
def eval_no_banned_words(trace):
    checker = Checker(["password", "ssn", "secret key"])
    for step in trace["steps"]:
        checker.scan(step["output"]["response"].lower())
    return not checker.hits, f"banned: {sorted(set(checker.hits))}"
""",
    # Class-heavy evals, written as scorer code is: a module body that defines classes (which a
    # run executes for every trace), instances made per step, methods and properties called.
    "dataclass_scorecard": """
from dataclasses import dataclass, field
from typing import List

@dataclass
class StepScore:
    index: int
    words: int
    tool_errors: int
    mentions_city: bool

    @property
    def clean(self) -> bool:
        return self.tool_errors == 0 and self.words <= 80

@dataclass
class Scorecard:
    steps: List[StepScore] = field(default_factory=list)
    threshold: float = 0.8

    def add(self, step: StepScore) -> None:
        self.steps.append(step)

    def score(self) -> float:
        return sum(step.clean for step in self.steps) / len(self.steps) if self.steps else 0.0

def eval_scorecard(task, task_metadata, trace, ctx):
    card = Scorecard()
    city = task_metadata["city"].lower()
    for index, step in enumerate(trace["steps"]):
        text = step["output"]["response"]
        errors = sum(1 for call in step["tool_calls"] if call.get("error"))
        card.add(StepScore(index, len(text.split()), errors, city in text.lower()))
    value = card.score()
    return value >= card.threshold, f"{value:.2f} of steps clean"
""",
    "enum_span_mix": """
from enum import Enum

class Kind(Enum):
    AGENT = "AGENT"
    CHAIN = "CHAIN"
    LLM = "LLM"
    TOOL = "TOOL"

class SpanStats:
    def __init__(self):
        self.counts = {kind: 0 for kind in Kind}

    def record(self, span):
        self.counts[Kind(span["span_kind"])] += 1

    def share(self, kind):
        total = sum(self.counts.values())
        return self.counts[kind] / total if total else 0.0

def eval_span_mix(trace):
    stats = SpanStats()
    for span in trace["spans"]:
        stats.record(span)
    share = stats.share(Kind.LLM)
    return share <= 0.6, f"LLM share {share:.2f} ({Kind.LLM.name})"
""",
    "namedtuple_tool_ledger": """
from collections import Counter
from typing import NamedTuple

class Call(NamedTuple):
    step: int
    name: str
    failed: bool

def calls_of(trace):
    return [Call(i, c["name"], bool(c.get("error"))) for i, s in enumerate(trace["steps"]) for c in s["tool_calls"]]

def eval_tool_ledger(trace):
    calls = calls_of(trace)
    busiest = Counter(call.name for call in calls).most_common(1)
    failed = [call for call in calls if call.failed]
    return len(failed) <= len(calls) // 10, f"{len(failed)} of {len(calls)} failed; busiest {busiest}"
""",
    "rule_classes": """
class Rule:
    name = "rule"

    def check(self, step):
        raise NotImplementedError

class NoStepError(Rule):
    name = "no_step_error"

    def check(self, step):
        return step.get("error") is None

class ShortAnswer(Rule):
    def __init__(self, limit):
        self.limit = limit
        self.name = f"answer_under_{limit}_words"

    def check(self, step):
        return len(step["output"]["response"].split()) <= self.limit

class ToolsAllowed(Rule):
    name = "tools_allowed"

    def __init__(self, allowed):
        self.allowed = frozenset(allowed)

    def check(self, step):
        return all(call["name"] in self.allowed for call in step["tool_calls"])

def eval_rules(trace):
    rules = [NoStepError(), ShortAnswer(60), ToolsAllowed(["search", "weather_lookup", "order_get"])]
    failures = {rule.name: 0 for rule in rules}
    for step in trace["steps"]:
        for rule in rules:
            if not rule.check(step):
                failures[rule.name] += 1
    worst = max(failures, key=failures.get)
    return failures[worst] == 0, f"most failed: {worst} ({failures[worst]})"
""",
    "word_frequency": """
import collections, re
def eval_not_repetitive(trace):
    words = re.findall(r"[a-z']+", " ".join(s["output"]["response"].lower() for s in trace["steps"]))
    common = collections.Counter(words).most_common(1)
    share = common[0][1] / len(words) if words else 0.0
    return share < 0.2, f"most common word share {share:.2f}"
""",
}

ALLOW = ["datetime", "difflib", "statistics", "collections", "dataclasses", "enum"]
# The evals whose module body defines classes: with the typical one, issue 21's "warm run on a
# medium trace, typical and class-heavy evals" target.
CLASS_HEAVY = (
    "class_based_checker",
    "dataclass_scorecard",
    "enum_span_mix",
    "namedtuple_tool_ledger",
    "rule_classes",
)
TASK = {"user_message": "What's the weather in Lisbon tomorrow?"}
TASK_METADATA = {"city": "Lisbon", "reference": "Tomorrow in Lisbon: sunny, between 14 and 21 degrees."}
SIZES = {"small": 5, "medium": 50, "large": 300}
TYPICAL = "tool_call_audit"


def make_trace(steps: int, seed: int) -> dict[str, Any]:
    """A trace with both shapes the platforms send: steps with tool calls, and an OpenInference span tree."""
    rng = random.Random(seed)
    words = (
        "the weather in lisbon tomorrow is sunny with light wind and temperatures between 14 and 21 degrees"
    )
    words = words.split()
    tools = ["search", "weather_lookup", "order_get", "calendar_read"]
    step_list = []
    for i in range(steps):
        calls = [
            {"name": rng.choice(tools), "arguments": {"q": f"query {i}"}, "result": {"ok": True},
             "error": "rate limited" if rng.random() < 0.05 else None}
            for _ in range(rng.randint(0, 2))
        ]  # fmt: skip
        response = " ".join(rng.choice(words) for _ in range(rng.randint(10, 60)))
        step_list.append({"input": {"user_message": f"message {i}"}, "output": {"response": response},
                          "tool_calls": calls, "error": None})  # fmt: skip
    step_list[-1]["output"]["response"] = TASK_METADATA["reference"]
    spans = [{"span_id": "s0", "parent_span_id": None, "span_kind": "AGENT", "name": "agent",
              "start_time": "2026-03-02T10:00:00.000+00:00", "end_time": "2026-03-02T10:00:09.000+00:00"}]  # fmt: skip
    for i in range(1, steps):
        spans.append({"span_id": f"s{i}", "parent_span_id": f"s{rng.randrange(max(1, i // 2))}",
                      "span_kind": rng.choice(["LLM", "TOOL", "CHAIN"]), "name": f"span {i}",
                      "start_time": "2026-03-02T10:00:01.000+00:00", "end_time": "2026-03-02T10:00:01.400+00:00"})  # fmt: skip
    return {"trace_id": f"tr_{seed}", "steps": step_list, "spans": spans}


def entry_and_args(code: str, trace: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """The entry point and its arguments, the way the sandbox resolves them (for the contenders
    that have no such logic)."""
    import ast

    from sandbox.policy import find_entry_point

    entry = find_entry_point(ast.parse(code), None)
    arguments = {
        "fn(trace)": (trace,),
        "fn(trace, ctx)": (trace, None),
        "fn(task, task_metadata, trace, ctx)": (TASK, TASK_METADATA, trace, None),
    }[entry.convention]
    return entry.name, arguments


# --- contenders: one run = analyse/compile, fresh namespace, call the eval on one trace ---------------


def run_bare(code: str, trace: dict[str, Any]) -> object:
    name, args = entry_and_args_cached(code, trace)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(code, "<bare>", "exec"), namespace)
    return namespace[name](*_copy(args))


def run_sandbox(code: str, trace: dict[str, Any], track_memory: bool = True) -> object:
    import sandbox

    limits = sandbox.Limits(track_memory=track_memory)
    batch = sandbox.evaluate(
        code, [{"trace_id": "t", "data": trace}], task=TASK, task_metadata=TASK_METADATA, limits=limits,
        policy=sandbox.Policy.allowing(ALLOW),
    )  # fmt: skip
    result = batch.results[0]
    if not result.success:
        raise RuntimeError(f"sandbox failed: {result.error}")
    return result.passed


def run_restricted(code: str, trace: dict[str, Any]) -> object:
    from RestrictedPython import compile_restricted, limited_builtins, safe_builtins, safe_globals
    from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
    from RestrictedPython.Guards import (
        guarded_iter_unpack_sequence,
        guarded_unpack_sequence,
        safer_getattr,
    )

    name, args = entry_and_args_cached(code, trace)
    builtins = {**safe_builtins, **limited_builtins, "__import__": _restricted_import}
    # What typical evals use beyond RestrictedPython's safe set: pure functions, no access to more.
    builtins.update({n: __builtins__[n] if isinstance(__builtins__, dict) else getattr(__builtins__, n)
                     for n in ("sorted", "min", "max", "sum", "any", "all", "enumerate", "map", "filter",
                               "dict", "list", "set", "len", "round", "isinstance")})  # fmt: skip
    namespace = dict(safe_globals)
    namespace.update(
        __builtins__=builtins, __name__="__main__", __metaclass__=type, _getitem_=default_guarded_getitem,
        _getiter_=default_guarded_getiter, _iter_unpack_sequence_=guarded_iter_unpack_sequence,
        _unpack_sequence_=guarded_unpack_sequence, _getattr_=safer_getattr,
        # full_write_guard would refuse `self.x = ...` in the script's own classes; letting writes
        # through can only make RestrictedPython faster than it is configured in practice.
        _write_=lambda obj: obj, _inplacevar_=_inplace,
    )  # fmt: skip
    try:
        restricted = compile_restricted(code, "<restricted>", "exec")
    except SyntaxError as refused:  # annotations (dataclasses, NamedTuple) are refused
        raise Unsupported(str(refused)) from None
    exec(restricted, namespace)
    return namespace[name](*_copy(args))


class Unsupported(Exception):
    """A contender that cannot run an eval at all: left out of that eval's row."""


def _inplace(op: str, x: Any, y: Any) -> Any:
    return {"+=": lambda: x + y, "-=": lambda: x - y, "*=": lambda: x * y}[op]()


def _restricted_import(name: str, *args: Any, **kwargs: Any) -> Any:
    if name.partition(".")[0] not in {"json", "re", "typing", *ALLOW}:
        raise ImportError(name)
    return __import__(name, *args, **kwargs)


SUBPROCESS_RUNNER = """
import json, sys
payload = json.loads(sys.stdin.read())
namespace = {"__name__": "__main__"}
exec(compile(payload["code"], "<subprocess>", "exec"), namespace)
print(json.dumps(namespace[payload["name"]](*payload["args"])))
"""


def run_subprocess(code: str, trace: dict[str, Any]) -> object:
    name, args = entry_and_args_cached(code, trace)
    payload = json.dumps({"code": code, "name": name, "args": list(args)})
    done = subprocess.run(
        [sys.executable, "-I", "-c", SUBPROCESS_RUNNER],
        input=payload,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


_entries: dict[int, tuple[str, tuple[Any, ...]]] = {}


def entry_and_args_cached(code: str, trace: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    key = hash((code, id(trace)))
    if key not in _entries:
        _entries[key] = entry_and_args(code, trace)
    return _entries[key]


def _copy(args: tuple[Any, ...]) -> tuple[Any, ...]:
    # Every contender gets a private copy of its input, as the sandbox gives each trace.
    return tuple(json.loads(json.dumps(args)))


# --- measurement ---------------------------------------------------------------------------------------


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def interleaved(contenders: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Each round runs every contender once, in a rotated order."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for name in list(names):
        try:
            contenders[name]()  # warm-up: imports, caches
        except Unsupported:
            names.remove(name)
            del samples[name]
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(timed(contenders[name]))
    return samples


def median_spread(values: list[float]) -> tuple[float, float, float]:
    quartiles = statistics.quantiles(values, n=4) if len(values) >= 4 else [min(values), 0, max(values)]
    return statistics.median(values), quartiles[0], quartiles[2]


def per_run(rounds: int, contenders: dict[str, Callable[[str, dict[str, Any]], object]]) -> dict[str, Any]:
    """For every eval and trace size: each contender's median time, and its ratio to bare exec."""
    traces = {size: make_trace(steps, seed=steps) for size, steps in SIZES.items()}
    table: dict[str, Any] = {}
    for size, trace in traces.items():
        for name, code in CORPUS.items():
            runs = {c: (lambda f=f, code=code, trace=trace: f(code, trace)) for c, f in contenders.items()}
            samples = interleaved(runs, rounds)
            table[f"{size}/{name}"] = {c: median_spread(v) for c, v in samples.items()}
    return table


def fixed_overhead(
    rounds: int, contenders: dict[str, Callable[[str, dict[str, Any]], object]]
) -> dict[str, Any]:
    """A trivial eval on a tiny trace: what each contender costs beyond the work itself."""
    code = "def eval_trivial(trace):\n    return True, ''"
    trace = {"steps": []}
    samples = interleaved({c: (lambda f=f: f(code, trace)) for c, f in contenders.items()}, rounds)
    return {c: median_spread(v) for c, v in samples.items()}


def batch_rate(count: int, rounds: int) -> dict[str, Any]:
    """Traces per second for `count` medium traces of the typical eval: the sandbox compiles once
    and runs each trace afresh; bare exec does the same without protection."""
    import sandbox

    code = CORPUS[TYPICAL]
    traces = [{"trace_id": str(i), "data": make_trace(SIZES["medium"], seed=i)} for i in range(count)]
    name, _ = entry_and_args(code, traces[0]["data"])

    def sandbox_batch(track: bool) -> Callable[[], object]:
        # 1,000 medium traces are about 30 MB: past the default batch size, within its maximum.
        limits = sandbox.Limits(track_memory=track, max_batch_bytes=32 * 1024 * 1024)
        # As the runner evaluates a batch that came as the front Worker's JSON text (json_data: not
        # walked again); evaluate() on a library caller's objects walks their types first.
        return lambda: sandbox.evaluate(code, traces, limits=limits, json_data=True)

    def bare_batch() -> None:
        compiled = compile(code, "<bare>", "exec")
        for trace in traces:
            namespace: dict[str, Any] = {"__name__": "__main__"}
            exec(compiled, namespace)
            namespace[name](json.loads(json.dumps(trace["data"])))

    samples = interleaved(
        {
            "bare exec": bare_batch,
            "sandbox": sandbox_batch(True),
            "sandbox, no memory tracking": sandbox_batch(False),
        },
        rounds,
    )
    return {c: tuple(count / v for v in median_spread(s)) for c, s in samples.items()}


IMPORT_PROBE = """
import sys, time, tracemalloc
sys.path.insert(0, {src!r})
if {traced}:
    tracemalloc.start()
started = time.perf_counter()
import sandbox
print(time.perf_counter() - started if not {traced} else tracemalloc.get_traced_memory()[1])
"""


def import_cost(rounds: int) -> dict[str, tuple[float, float, float]]:
    """Import time of `import sandbox` (untraced) and the memory it allocates (traced), each in a
    fresh interpreter."""

    def probe(traced: bool) -> float:
        code = IMPORT_PROBE.format(src=str(ROOT / "src"), traced=traced)
        return float(
            subprocess.run(
                [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )

    return {
        "import_seconds": median_spread([probe(False) for _ in range(rounds)]),
        "peak_bytes": median_spread([probe(True) for _ in range(3)]),
    }


# --- report --------------------------------------------------------------------------------------------


RAW = ROOT / "docs" / "benchmarks.json"


def main() -> None:
    quick = "--quick" in sys.argv
    if "--report-only" in sys.argv:
        saved = json.loads(RAW.read_text())
        write_report(saved["cpython"], saved["pyodide"], saved["quick"])
        return
    rounds = 3 if quick else 15
    contenders: dict[str, Callable[[str, dict[str, Any]], object]] = {
        "bare exec": run_bare,
        "sandbox": run_sandbox,
        "sandbox, no memory tracking": lambda c, t: run_sandbox(c, t, track_memory=False),
    }
    if not IN_PYODIDE:
        contenders["RestrictedPython"] = run_restricted
    results: dict[str, Any] = {
        "interpreter": f"{platform.python_implementation()} {platform.python_version()}"
    }
    if IN_PYODIDE:
        # A fresh interpreter: its first import of the package is what a Worker's cold start pays.
        # One sample, untraced (tracing would slow the import it measures).
        started = time.perf_counter()
        import sandbox  # noqa: F401

        elapsed = time.perf_counter() - started
        results["import"] = {"import_seconds": (elapsed,) * 3}
    results["overhead"] = fixed_overhead(
        rounds * 4, contenders | ({} if IN_PYODIDE else {"subprocess": run_subprocess})
    )
    results["per_run"] = per_run(rounds, contenders)
    results["batch"] = batch_rate(100 if quick else 1000, 3 if quick else 5)
    if IN_PYODIDE:
        print(json.dumps(results))
        return
    results["import"] = import_cost(rounds)
    pyodide = run_in_pyodide(quick)
    RAW.write_text(json.dumps({"cpython": results, "pyodide": pyodide, "quick": quick}, indent=1) + "\n")
    write_report(results, pyodide, quick)


def run_in_pyodide(quick: bool) -> dict[str, Any] | None:
    node = ROOT / "node_modules" / ".bin" / "node"
    if not node.exists():
        return None
    done = subprocess.run(
        [str(node), str(ROOT / "scripts" / "bench-pyodide.mjs"), "bench", *(["--quick"] if quick else [])],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_report(cpython: dict[str, Any], pyodide: dict[str, Any] | None, quick: bool) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_report import render

    markdown, chart = render(cpython, pyodide, machine(), quick)
    path = ROOT / "docs" / "benchmarks.md"
    # scripts/bench_guards.py's section, measured separately, is kept.
    kept = path.read_text().partition("<!-- bench_guards -->")
    path.write_text(markdown + (f"\n{kept[1]}{kept[2]}" if kept[1] else ""))
    chart(ROOT / "docs" / "benchmarks.png")
    print(markdown)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


if __name__ == "__main__":
    main()
