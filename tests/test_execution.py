"""Layer 2: running accepted code. What a script can do, what it gets back, and isolation."""

from __future__ import annotations

import json

import sandbox
from sandbox import Limits, Policy

from .support import SHORT, run

# --- the five checks of the original prototype ------------------------------------------------


def test_simple_print():
    result = run('print("Hello from sandbox")')
    assert result.success
    assert result.output == "Hello from sandbox"
    assert result.to_wire()["executionTimeMs"] >= 0


def test_timeout():
    result = run("while True:\n    pass", Limits(timeout_ms=100))
    assert not result.success
    assert result.error_type == "timeout"
    assert result.error == "Execution timeout exceeded 100ms (the caller can raise timeoutMs to 5000)"
    assert "timeout" in result.error.lower()


def test_dangerous_import_blocked():
    result = run("import os\nprint(os.listdir('/'))")
    assert not result.success
    assert "blocked" in result.error.lower()


def test_json_output():
    result = run('import json\nprint(json.dumps({"score": 0.8, "tags": ["a", "b"]}))')
    assert json.loads(result.output) == {"score": 0.8, "tags": ["a", "b"]}


def test_eval_function_printing_its_verdict():
    code = """
def eval_has_weather(trace):
    calls = [c["name"] for s in trace["steps"] for c in s["tool_calls"]]
    return ("weather_lookup" in calls, f"tool calls: {calls}")

trace = {"steps": [{"tool_calls": [{"name": "weather_lookup"}]}, {"tool_calls": []}]}
passed, reason = eval_has_weather(trace)
print(passed, reason)
"""
    assert run(code).output == "True tool calls: ['weather_lookup']"


# --- language features ----------------------------------------------------------------------


def test_classes_inheritance_and_special_methods():
    code = """
class Vector:
    def __init__(self, x, y):
        self.x, self.y = x, y
    def __add__(self, other):
        return Vector(self.x + other.x, self.y + other.y)
    def __eq__(self, other):
        return (self.x, self.y) == (other.x, other.y)
    def __repr__(self):
        return f"Vector({self.x}, {self.y})"
class Named(Vector):
    def __init__(self, name, x, y):
        super().__init__(x, y)
        self.name = name
    @property
    def label(self):
        return self.name.upper()
    @staticmethod
    def origin():
        return Vector(0, 0)
    @classmethod
    def unit(cls):
        return cls("u", 1, 1)
v = Named("a", 1, 2) + Vector(3, 4)
print(v, v == Vector(4, 6), Named.unit().label, Named.origin(), type(v).__name__, isinstance(v, Vector))
"""
    assert run(code).output == "Vector(4, 6) True U Vector(0, 0) Vector True"


def test_comprehensions_lambdas_and_walrus():
    code = """
data = [3, 1, 4, 1, 5, 9, 2, 6]
squares = [x * x for x in data if x % 2]
unique = {x for x in data}
index = {x: i for i, x in enumerate(data)}
gen = sum(x for x in data)
by = sorted(data, key=lambda x: -x)
if (n := len(data)) > 5:
    print(squares, len(unique), index[9], gen, by[:3], n)
"""
    assert run(code).output == "[9, 1, 1, 25, 81] 7 5 31 [9, 6, 5] 8"


def test_try_except_finally_and_exception_classes():
    code = """
class EvalError(Exception):
    pass
log = []
try:
    try:
        raise EvalError("bad trace")
    except EvalError as e:
        log.append(str(e))
        raise ValueError("wrapped") from e
    finally:
        log.append("finally")
except ValueError as e:
    log.append(type(e).__name__)
print(log)
"""
    assert run(code).output == "['bad trace', 'finally', 'ValueError']"


def test_decorators_and_context_managers():
    code = """
import functools
def twice(f):
    @functools.wraps(f) if False else (lambda g: g)
    def inner(*args):
        return f(*f(*args))
    return inner
@twice
def swap(a, b):
    return b, a
class Tag:
    def __init__(self):
        self.events = []
    def __enter__(self):
        self.events.append("enter")
        return self
    def __exit__(self, *exc):
        self.events.append("exit")
        return False
with Tag() as t:
    t.events.append("body")
print(swap(1, 2), t.events)
"""
    assert run(code, policy=Policy.allowing(["functools"])).output == "(1, 2) ['enter', 'body', 'exit']"


def test_generators_and_yield_from():
    code = """
def count(n):
    for i in range(n):
        yield i
def chain(*gens):
    for g in gens:
        yield from g
g = count(3)
print(list(chain(g, count(2))), next(iter([7])))
"""
    assert run(code).output == "[0, 1, 2, 0, 1] 7"


def test_match_statement():
    code = """
def kind(step):
    match step:
        case {"tool_calls": [first, *_]}:
            return "tool:" + first["name"]
        case {"error": str(message)}:
            return "error:" + message
        case [x, y]:
            return f"pair {x} {y}"
        case _:
            return "other"
print(kind({"tool_calls": [{"name": "a"}]}), kind({"error": "boom"}), kind([1, 2]), kind(3))
"""
    assert run(code).output == "tool:a error:boom pair 1 2 other"


def test_fstrings_with_specs_and_conversions():
    code = 'x = 3.14159\nname = "eval"\nprint(f"{x:.2f}|{name!r}|{name:>6}|{x=:.1f}|{42:#x}|{1234567:,}")'
    assert run(code).output == "3.14|'eval'|  eval|x=3.1|0x2a|1,234,567"


def test_string_formatting_forms():
    code = 'print("{} {:>4} {name}".format(1, 2, name="n"), "%s=%05.1f" % ("a", 2.5), "{0[k]}".format({"k": "v"}))'
    assert run(code).output == "1    2 n a=002.5 v"


def test_dataclasses_enum_and_typing():
    code = """
from __future__ import annotations
from dataclasses import dataclass, field
from enum import Enum
from typing import Optional
class Level(Enum):
    LOW = 1
    HIGH = 2
@dataclass
class Verdict:
    passed: bool
    reason: str
    level: Level = Level.LOW
    tags: list[str] = field(default_factory=list)
    note: Optional[str] = None
v = Verdict(True, "ok", tags=["x"])
print(v, Level(2).name)
"""
    policy = Policy.allowing(["dataclasses", "enum"])
    assert run(code, policy=policy).output == (
        "Verdict(passed=True, reason='ok', level=<Level.LOW: 1>, tags=['x'], note=None) HIGH"
    )


def test_allowed_modules_work_through_their_facades():
    code = """
import math, re, difflib, collections, itertools, statistics, datetime, textwrap, string, random
print(math.sqrt(16), re.findall(r"\\d+", "a1b22"), round(difflib.SequenceMatcher(None, "abc", "abd").ratio(), 2))
print(collections.Counter("aab").most_common(1), list(itertools.islice(itertools.count(), 3)), statistics.mean([1, 2, 3]))
print(datetime.date(2026, 1, 2).isoformat(), textwrap.shorten("a b c d e f", 7), string.ascii_lowercase[:3])
r = random.Random(1); print(r.randint(1, 1))
"""
    result = run(code, policy=Policy(sandbox.MAX_IMPORTS))
    assert result.output.splitlines() == [
        "4.0 ['1', '22'] 0.67",
        "[('a', 2)] [0, 1, 2] 2",
        "2026-01-02 a [...] abc",
        "1",
    ]


def test_main_guard_runs():
    assert run('if __name__ == "__main__":\n    print("main")').output == "main"


# --- results ---------------------------------------------------------------------------------


def test_runtime_error_reports_type_message_and_user_line_only():
    result = run("x = 1\ndef f():\n    return {}['missing']\nf()")
    assert result.error == "KeyError: 'missing' (line 3)"
    assert result.error_type == "runtime"
    assert result.line == 3
    assert "/" not in result.error  # no host paths


def test_output_is_trimmed_and_kept_on_failure():
    result = run("print('  partial  ')\nraise ValueError('x')")
    assert result.to_wire()["output"] == "partial"
    assert not result.success


def test_wire_format_of_success_has_only_the_consumer_fields():
    assert set(run("print(1)").to_wire()) == {"success", "output", "executionTimeMs"}


def test_user_exception_with_failing_str_is_reported():
    code = "class E(Exception):\n    def __str__(self):\n        return 1/0\nraise E()"
    assert run(code).error == "E: <exception message unavailable> (line 4)"


def test_user_exception_str_that_loops_is_stopped_by_the_budget():
    code = "class E(Exception):\n    def __str__(self):\n        while True:\n            pass\nraise E()"
    assert run(code, SHORT).error_type == "timeout"


# --- isolation between runs -----------------------------------------------------------------


def test_globals_do_not_survive_a_run():
    run("leak = 'from run one'")
    assert run("print(leak)").error == "NameError: name 'leak' is not defined (line 1)"


def test_module_facades_cannot_be_mutated():
    result = run("import json\njson.dumps = lambda o: 'pwned'")
    assert result.error_type == "runtime"
    assert result.error == "Blocked: <module 'json' (sandbox)> is read-only (line 2)"
    assert run("import json\nprint(json.dumps(1))").output == "1"


def test_module_classes_cannot_be_mutated_for_later_runs():
    policy = Policy.allowing(["collections"])
    result = run(
        "import collections\ncollections.Counter.most_common = lambda self, n=None: 'pwned'", policy=policy
    )
    assert "Blocked: cannot set attributes" in result.error
    assert (
        run("import collections\nprint(collections.Counter('aa').most_common())", policy=policy).output
        == "[('a', 2)]"
    )


def test_random_state_is_per_run():
    policy = Policy.allowing(["random"])
    first = run("import random\nrandom.seed(7)\nprint(random.random())", policy=policy).output
    # Seeding in one run does not make the next run's sequence predictable.
    assert run("import random\nprint(random.random())", policy=policy).output != first


def test_builtins_cannot_be_changed_for_later_runs():
    run("print = None\nlen = None")
    assert run("print(len('abc'))").output == "3"
