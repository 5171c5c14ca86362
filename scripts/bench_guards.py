"""The guards' worst cases at the maximum input sizes, on CPython and inside Pyodide 314: the host-side
checks (each must be linear with a small constant, they run uncounted), and the cost model's
estimates against what the C calls it prices really take (each must be at least half of it, so a
run that pays for its C calls ends within twice its budget).

    uv run python scripts/bench_guards.py         # CPython, then Pyodide; writes its section of docs/benchmarks.md
    node_modules/.bin/node scripts/bench-pyodide.mjs bench_guards  # the Pyodide half alone (called by the above)

This is a script, not a test: numbers depend on the machine, and the document says which.
"""

from __future__ import annotations

import _tracemalloc
import contextlib
import json
import math
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import sandbox  # noqa: E402
from sandbox import Limits, limits  # noqa: E402
from sandbox.builtins import RunScope, _check_percent  # noqa: E402
from sandbox.facades import FacadeRun, facade  # noqa: E402
from sandbox.guards import _joined_bytes, _split_bytes  # noqa: E402
from sandbox.limits import StepBudget, check_format_spec, check_rendering  # noqa: E402

IN_PYODIDE = sys.platform == "emscripten"
BEGIN, END = "<!-- bench_guards -->", "<!-- /bench_guards -->"
MIB = 1 << 20


def timed(call: Callable[[], object], rounds: int = 3) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def peak_of(call: Callable[[], object]) -> int:
    _tracemalloc.start()
    try:
        call()
        return _tracemalloc.get_traced_memory()[1]
    finally:
        _tracemalloc.stop()


def refused(call: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        with contextlib.suppress(ValueError, limits.LimitExceeded):
            call()

    return run


# --- check_json_text: every HTTP body, every runner answer, every json.loads in a script ------------


def _old_check_json_text(text: str) -> None:
    """The regex version this replaces, for the row that shows why (quadratic on unterminated strings)."""
    if text.count("[") + text.count("{") <= 200:
        return
    re.sub(r"[^\[\]{}]+", "", re.sub(r'"(?:[^"\\]|\\.)*"', "", text, flags=re.DOTALL))


def json_rows() -> list[tuple[str, str, float]]:
    body = limits.Limits().max_batch_bytes + limits.Limits().max_code_bytes  # the largest HTTP body
    crafted = '["' + '\\"' * 4_000 + "[" * 300  # 8 KB; the 80 KB version took 46 s
    trace = json.dumps(
        {"steps": [{"output": {"response": "x" * 500, "tool_calls": [{"a": [1, 2]}] * 5}}] * 20}
    )
    batch = ("[" + ",".join([trace] * (body // len(trace))) + "]")[:body]
    cases = {
        "16 MiB of `[]`: brackets only": "[" + "[]," * (body // 3 - 1) + "[]]",
        '16 MiB of `"\\"`: quotes and escapes only': '["' + '\\"' * (body // 2 - 2) + '"]',
        "16 MiB batch of realistic traces": batch,
        "8 KB crafted body (unterminated string of escaped quotes)": crafted,
    }
    rows = [
        (
            name,
            f"{len(text) / MIB:.1f} MiB",
            timed(refused(lambda t=text: limits.check_json_text(Limits(), t))),
        )
        for name, text in cases.items()
    ]
    rows.append(
        ("the same 8 KB, the regex it replaces", "0.0 MiB", timed(lambda: _old_check_json_text(crafted), 1))
    )
    return rows


# --- analysis: every request's code before anything runs ---------------------------------------------


def analysis_rows() -> list[tuple[str, str, float, int]]:
    source = (
        (ROOT / "src" / "sandbox" / "policy.py").read_text().replace("from __future__ import annotations", "")
    )
    cases = {
        "256 KiB of `x;` (refused at the token budget)": "x;" * (128 * 1024),
        "64K tokens of `x;` (the densest code accepted)": "x;" * (32 * 1024 - 4),
        "190 parentheses around 64K tokens (refused)": "y = " + "(" * 190 + "x," * 32_000 + ")" * 190,
        "256 KiB of this package's own source": (source * 10)[: 250 * 1024],
    }
    rows = []
    for name, code in cases.items():
        seconds = timed(lambda c=code: sandbox.validate(c), 1)
        rows.append(
            (name, f"{len(code) / 1024:.0f} KiB", seconds, peak_of(lambda c=code: sandbox.validate(c)))
        )
    return rows


# --- guards inside a run: host code the step count does not see ---------------------------------------


def run_guard_rows() -> list[tuple[str, str, float]]:
    def budget() -> StepBudget:
        fresh = StepBudget(Limits(memory_bytes=128 * MIB))
        fresh.start()
        return fresh

    def percent(template: str, args: object) -> Callable[[], object]:
        return lambda: _check_percent(RunScope(budget(), sandbox.MAX_IMPORTS), template, args)

    items = list(range(6_000_000))  # the list slots 50 MB holds
    records = [{"a": i, "b": str(i), "c": [1, 2]} for i in range(100_000)]
    dag: Any = [1]
    for _ in range(40):
        dag = [dag, dag]
    text = "a b" * (10 * MIB // 3)
    letters = ["x"] * 6_000_000
    measures: dict[str, tuple[str, Callable[[], object]]] = {
        "% template, a million `%(k)s`": ("6 MB", percent("%(k)s" * 1_000_000, {"k": "v"})),
        "% key of a million nested parentheses": (
            "1 MB",
            percent("%(" + "(" * 500_000 + ")" * 500_000 + ")s", {}),
        ),
        "text of a 6M-item list (repr, print, format)": (
            "6M items",
            lambda: check_rendering(budget(), items),
        ),
        "text of 100,000 small dicts, a list in each": (
            "200K containers",
            lambda: check_rendering(budget(), records),
        ),
        "text of a 40-level DAG of `[x, x]` (refused)": (
            "41 lists",
            refused(lambda: check_rendering(budget(), dag)),
        ),
        "str.join's measure of 6M one-character strings": ("6M items", lambda: _joined_bytes("", letters)),
        "str.split's measure of 10 MiB": ("10 MiB", lambda: _split_bytes(str, text, "split", (), {})),
        "format spec of 256 characters": (
            "256 chars",
            refused(lambda: check_format_spec(budget(), "9" * 256)),
        ),
    }
    return [(name, size, timed(call)) for name, (size, call) in measures.items()]


def counted_rows() -> list[tuple[str, float, float]]:
    """What counting every item of a C iterator costs against the raw iterator."""
    import itertools

    scope = RunScope(StepBudget(Limits()), sandbox.MAX_IMPORTS)
    guarded = facade("itertools", FacadeRun(scope.budget, set(), lambda cls: cls))
    pool = range(9)
    trace = {"steps": [{"output": {"response": "x" * 200, "calls": [{"a": [1, 2, 3]}] * 5}}] * 300}
    dumps = facade("json", FacadeRun(scope.budget, set(), lambda cls: cls)).dumps
    rows = [
        (
            "list(itertools.permutations(range(9))), 362,880 items",
            timed(lambda: list(itertools.permutations(pool))),
            timed(lambda: list(guarded.permutations(pool))),
        ),
        (
            "json.dumps of a 100 KB trace (Python encoder)",
            timed(lambda: json.dumps(trace)),
            timed(lambda: dumps(trace)),
        ),
    ]
    return rows


# --- the cost model against the C calls it prices ----------------------------------------------------


def model_rows() -> list[tuple[str, float, float]]:
    """(call, the model's estimate in ms, the measured ms), at sizes the model prices near a second."""
    mul_bits = 4_500_000
    x, y = (1 << mul_bits) - 12345, (1 << mul_bits) - 54321
    divisor = (1 << 9000) - 1
    big = (1 << 4_000_000) - 1
    g1, g2 = 3**100_000, 5**80_000
    cases: list[tuple[str, float, Callable[[], object]]] = [
        (f"{mul_bits:,}-bit by {mul_bits:,}-bit", limits.mul_ms(mul_bits, mul_bits), lambda: x * y),
        ("10 ** 2,000,000", limits.pow_ms(2_000_000 * math.log2(10), 4), lambda: 10**2_000_000),
        ("4M-bit // 9,000-bit", limits.div_ms(4_000_000, 9000), lambda: big // divisor),
        (
            "gcd of 158K-bit and 186K-bit",
            limits.gcd_ms(g1.bit_length(), g2.bit_length()),
            lambda: math.gcd(g1, g2),
        ),
        (
            "pow(3, 2**1000 - 1, 10,000-bit)",
            1.2 * 1000 * (limits.mul_ms(10_000, 10_000) + limits.div_ms(20_000, 10_000)),
            lambda: pow(3, (1 << 1000) - 1, (1 << 10_000) - 1),
        ),
        (
            "math.factorial(150,000)",
            3 * limits.mul_ms(math.lgamma(150_001) / math.log(2) / 2, math.lgamma(150_001) / math.log(2) / 2),
            lambda: math.factorial(150_000),
        ),
    ]
    return [(name, estimate, timed(call, 1) * 1000) for name, estimate, call in cases]


def measure() -> dict[str, Any]:
    return {
        "interpreter": f"{platform.python_implementation()} {platform.python_version()}",
        "json": json_rows(),
        "analysis": analysis_rows(),
        "guards": run_guard_rows(),
        "counted": counted_rows(),
        "model": model_rows(),
    }


# --- the report ------------------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def render(cpython: dict[str, Any], pyodide: dict[str, Any] | None) -> str:
    def other(section: str, index: int, column: int) -> str:
        if pyodide is None:
            return "not measured"
        value = pyodide[section][index][column]
        return _ms(value) if column != 3 else f"{value / MIB:,.1f} MB"

    lines = [
        BEGIN,
        "## The guards' worst cases",
        "",
        f"Produced by `uv run python scripts/bench_guards.py` on {time.strftime('%Y-%m-%d')},"
        f" {cpython['interpreter']}, and inside Pyodide 314 under Node"
        " (`scripts/bench-pyodide.mjs bench_guards`). The host-side checks run uncounted by the step"
        " budget, so each is measured at the largest input it can meet.",
        "",
        "| check | input | CPython | Pyodide |",
        "| --- | --- | --- | --- |",
    ]
    for i, (name, size, seconds) in enumerate(cpython["json"]):
        lines.append(f"| `check_json_text`: {name} | {size} | {_ms(seconds)} | {other('json', i, 2)} |")
    for i, (name, size, seconds, peak) in enumerate(cpython["analysis"]):
        lines.append(
            f"| analysis: {name} | {size} | {_ms(seconds)}, peak {peak / MIB:,.1f} MB"
            f" | {other('analysis', i, 2)}, peak {other('analysis', i, 3)} |"
        )
    for i, (name, size, seconds) in enumerate(cpython["guards"]):
        lines.append(f"| {name} | {size} | {_ms(seconds)} | {other('guards', i, 2)} |")
    lines += [
        "",
        "Counting every item of a C iterator (a generator the sandbox hands out instead):",
        "",
        "| call | raw, CPython | counted, CPython | raw, Pyodide | counted, Pyodide |",
        "| --- | --- | --- | --- | --- |",
    ]
    for i, (name, raw, counted) in enumerate(cpython["counted"]):
        lines.append(
            f"| {name} | {_ms(raw)} | {_ms(counted)} | {other('counted', i, 1)} | {other('counted', i, 2)} |"
        )
    lines += [
        "",
        "The cost model against the C calls it prices (the model is calibrated on Pyodide; a ratio"
        " of at least 0.5 keeps a run that pays for its C calls within twice its budget):",
        "",
        "| call | model | CPython | ratio | Pyodide | ratio |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for i, (name, estimate, actual) in enumerate(cpython["model"]):
        if pyodide is not None:
            measured = pyodide["model"][i][2]
            tail = f"{measured:,.0f} ms | {estimate / measured:.2f}"
        else:
            tail = "not measured | —"
        lines.append(f"| {name} | {estimate:,.0f} ms | {actual:,.0f} ms | {estimate / actual:.2f} | {tail} |")
    lines.append(END)
    return "\n".join(lines) + "\n"


def write(section: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text()
    if BEGIN in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END) + 1 :]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main() -> None:
    results = measure()
    if IN_PYODIDE:
        print(json.dumps(results))
        return
    node = ROOT / "node_modules" / ".bin" / "node"
    pyodide = None
    if node.exists():
        done = subprocess.run(
            [str(node), str(ROOT / "scripts" / "bench-pyodide.mjs"), "bench_guards"],
            capture_output=True, text=True, check=True, cwd=ROOT,
        )  # fmt: skip
        pyodide = json.loads(done.stdout.strip().splitlines()[-1])
    section = render(results, pyodide)
    write(section)
    print(section)


if __name__ == "__main__":
    main()
