"""Eval code in the idioms of public scorer projects (written for these tests, copied from none),
run in the sandbox and in plain Python on the same traces: the verdicts must be the same."""

from __future__ import annotations

import asyncio
import json
import pathlib

import pytest

import sandbox
from sandbox import Limits, Policy
from sandbox.policy import find_entry_point

from .support import IN_PYODIDE

TRACES = [
    json.loads(line)
    for line in (pathlib.Path(__file__).parent.parent / "examples" / "traces.jsonl").read_text().splitlines()
] + [
    {
        "trace_id": "judged",
        "data": {
            "steps": [
                {
                    "output": {"response": "Rating: [[8.5]]"},
                    "tool_calls": [
                        {"name": "search", "arguments": {"url": "https://docs.example.org/a?q=1"}},
                        {"name": "fetch", "arguments": {"url": "http://tracker.example.net/x"}},
                    ],
                },
                {"output": {"response": "id,answer\n1,yes\n2,no\n"}, "tool_calls": []},
                {"output": {"response": "Rating: [[8.5]]"}, "tool_calls": []},
            ]
        },
    },
    {"trace_id": "empty", "data": {"steps": []}},
]

CORPUS: dict[str, tuple[str, str]] = {
    "async metric class": (
        "",
        '''
class ToolCallMetric:
    """A metric object with an async score and an async helper."""

    def __init__(self, threshold=0.5):
        self.threshold = threshold

    async def _ascore(self, steps):
        calls = [call for step in steps for call in step.get("tool_calls", [])]
        if not calls:
            return 0.0
        failed = [c for c in calls if c.get("error")]
        return 1.0 - len(failed) / len(calls)

    async def score(self, trace):
        return await self._ascore(trace.get("steps", []))


async def eval_tool_success(trace, ctx=None):
    metric = ToolCallMetric()
    value = await metric.score(trace)
    return value >= metric.threshold, f"tool success rate {value:.2f}"
''',
    ),
    "async generator of steps": (
        "",
        """
async def responses(trace):
    for step in trace.get("steps", []):
        output = step.get("output") or {}
        if isinstance(output, dict) and output.get("response"):
            yield output["response"]

async def eval_answers(trace):
    texts = [text async for text in responses(trace)]
    long_enough = [t for t in texts if len(t) > 20]
    return bool(long_enough), f"{len(long_enough)} of {len(texts)} responses are substantive"
""",
    ),
    "decorators with wraps": (
        "functools, time",
        """
import functools
import time

TIMINGS = {}

def timed(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMINGS[fn.__name__] = time.perf_counter() - started
    return wrapper

def retry(times=3, exceptions=(KeyError,)):
    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            last = None
            for _ in range(times):
                try:
                    return fn(*args, **kwargs)
                except exceptions as error:
                    last = error
            raise last
        return wrapper
    return decorate

@retry(times=2)
def first_tool(trace):
    for step in trace["steps"]:
        for call in step.get("tool_calls", []):
            return call.get("name") or call.get("tool_name")
    return None

@timed
def eval_named(trace):
    '''first tool named'''
    name = first_tool(trace) if "steps" in trace else None
    return name is not None, f"{first_tool.__name__}: {name} ({eval_named.__doc__}, timed: {sorted(TIMINGS)})"
""",
    ),
    "judge ratings with literal_eval": (
        "ast, re",
        """
import ast
import re

RATING = re.compile(r"\\[\\[(.*?)\\]\\]")

def parse_rating(text):
    match = RATING.search(text or "")
    if match is None:
        return None
    try:
        value = ast.literal_eval("[[" + match.group(1) + "]]")
    except (ValueError, SyntaxError):
        return None
    return float(value[0][0])

def eval_judge(trace):
    ratings = []
    for step in trace.get("steps", []):
        output = step.get("output") or {}
        rating = parse_rating(output.get("response") if isinstance(output, dict) else None)
        if rating is not None:
            ratings.append(rating)
    if not ratings:
        return 0.0, "no rating found"
    score = sum(ratings) / len(ratings) / 10
    return min(max(score, 0.0), 1.0), f"mean rating {score * 10:.1f} over {len(ratings)}"
""",
    ),
    "heapq top-k": (
        "heapq",
        """
import heapq

def eval_longest_responses(trace):
    responses = [
        (step.get("output") or {}).get("response", "")
        for step in trace.get("steps", [])
        if isinstance(step.get("output"), dict)
    ]
    top = heapq.nlargest(2, responses, key=len)
    shortest = heapq.nsmallest(1, responses, key=len)
    return len(top) > 0, f"top={[len(t) for t in top]} shortest={[len(s) for s in shortest]}"
""",
    ),
    "urllib.parse domain check": (
        "urllib.parse",
        """
from urllib.parse import urlparse, parse_qs

ALLOWED = {"docs.example.org"}

def eval_urls(trace):
    problems = []
    for step in trace.get("steps", []):
        for call in step.get("tool_calls", []):
            url = (call.get("arguments") or {}).get("url")
            if not url:
                continue
            parts = urlparse(url)
            if parts.scheme != "https" or parts.netloc not in ALLOWED:
                problems.append(f"{parts.scheme}://{parts.netloc}")
            problems.extend(f"query {k}" for k in parse_qs(parts.query) if k not in ("q",))
    return not problems, "; ".join(problems) or "all URLs allowed"
""",
    ),
    "hashlib dedup": (
        "hashlib, collections",
        """
import hashlib
from collections import Counter

def digest(text):
    return hashlib.sha256(text.strip().lower().encode("utf-8")).hexdigest()[:16]

def eval_no_repeats(trace):
    texts = [
        step["output"]["response"]
        for step in trace.get("steps", [])
        if isinstance(step.get("output"), dict) and "response" in step["output"]
    ]
    counts = Counter(digest(t) for t in texts)
    repeated = sum(n - 1 for n in counts.values() if n > 1)
    return repeated == 0, f"{repeated} repeated responses among {len(texts)}"
""",
    ),
    "csv output check": (
        "csv, io",
        """
import csv
import io

def eval_csv_answer(trace):
    for step in trace.get("steps", []):
        text = (step.get("output") or {}).get("response", "") if isinstance(step.get("output"), dict) else ""
        if "," not in text or "\\n" not in text:
            continue
        rows = list(csv.DictReader(io.StringIO(text)))
        if not rows:
            return False, "empty table"
        missing = [r for r in rows if not r.get("answer")]
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["rows", len(rows)])
        return not missing, out.getvalue().strip()
    return True, "no table produced"
""",
    ),
    "class-based checker": (
        "dataclasses, enum, typing, copy, pprint",
        """
import copy
import dataclasses
import enum
import pprint
from typing import List

class Severity(enum.Enum):
    OK = 0
    WARN = 1
    FAIL = 2

@dataclasses.dataclass
class Finding:
    rule: str
    severity: Severity
    notes: List[str] = dataclasses.field(default_factory=list)

class Checker:
    rules = ("has_steps", "no_errors")

    def check(self, trace):
        findings = []
        steps = trace.get("steps", [])
        findings.append(Finding("has_steps", Severity.OK if steps else Severity.FAIL))
        errors = [s.get("error") for s in steps if s.get("error")]
        findings.append(Finding("no_errors", Severity.WARN if errors else Severity.OK, list(map(str, errors))))
        return findings

def eval_function(trace):
    findings = Checker().check(trace)
    snapshot = copy.deepcopy(findings)
    snapshot[0].notes.append("copied")
    worst = max(f.severity.value for f in findings)
    summary = pprint.pformat({f.rule: f.severity.name for f in findings})
    return worst < 2 and not findings[0].notes, summary
""",
    ),
}


def reference(code: str, trace: dict) -> tuple[object, object]:
    """The verdict plain Python gives: the module run with the real builtins, the entry point
    called, and a coroutine run by an event loop (in Pyodide, whose loop is the page's, driven by
    hand as a loop drives one that never suspends)."""
    namespace: dict[str, object] = {"__name__": "__main__"}
    exec(compile(code, "<reference>", "exec"), namespace)
    import ast as host_ast

    entry = find_entry_point(host_ast.parse(code), None)
    function = namespace[entry.name]  # type: ignore[union-attr]
    arguments = {
        "fn(trace)": (trace,),
        "fn(trace, ctx)": (trace, None),
        "fn(task, task_metadata, trace, ctx)": ({}, {}, trace, None),
    }[entry.convention]  # type: ignore[union-attr]
    value = function(*arguments)  # type: ignore[operator]
    if asyncio.iscoroutine(value):
        if IN_PYODIDE:
            try:
                value.send(None)
            except StopIteration as done:
                value = done.value
        else:
            value = asyncio.run(value)
    return value  # type: ignore[return-value]


@pytest.mark.parametrize("name", CORPUS)
def test_corpus_verdicts_match_plain_python(name):
    imports, code = CORPUS[name]
    policy = Policy.allowing(imports) if imports else Policy()
    batch = sandbox.evaluate(code, TRACES, limits=Limits(timeout_ms=2000), policy=policy)
    assert batch.error is None, batch.error
    for trace, result in zip(TRACES, batch.results, strict=True):
        assert result.success, (trace["trace_id"], result.error)
        expected = reference(code, json.loads(json.dumps(trace["data"])))
        assert (
            result.passed if isinstance(expected[0], bool) else result.score,
            result.reason,
        ) == expected, trace["trace_id"]
