"""CPU-bound code, a cached run and a batch: the sandbox against bare `exec` of the same code in the
same process, side by side (issue 21's table). Every round runs each contender once, in a rotated
order; figures are medians of per-round ratios, so drift of a shared machine cancels out.

    uv run python scripts/bench_cpu.py                   # CPython, then the same inside Pyodide 314
    uv run python scripts/bench_cpu.py --quick           # fewer rounds, a 100-trace batch
    uv run python scripts/bench_cpu.py --batch           # only the batch of 1,000 traces
    uv run python scripts/bench_cpu.py --floor           # what any step count and memory read cost
    node_modules/.bin/node scripts/bench-pyodide.mjs bench_cpu  # Pyodide alone (called by the above)

This is a script, not a test: numbers depend on the machine.
"""

from __future__ import annotations

import _tracemalloc
import json
import marshal
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "scripts")]

IN_PYODIDE = sys.platform == "emscripten"

# Ordinary eval code doing ordinary work: the kind that took 0.15 s in CPython and timed out.
CPU_BOUND: dict[str, str] = {
    "for-loop, 300k pass": "for i in range(300000):\n    pass\n",
    "s += i*i % 7, 300k": "s = 0\nfor i in range(300000):\n    s += i * i % 7\n",
    "coin change 2000 x 6": """
coins = [1, 2, 5, 10, 20, 50]
ways = [1] + [0] * 2000
for coin in coins:
    for amount in range(coin, 2001):
        ways[amount] += ways[amount - coin]
""",
    "Levenshtein 264 x 270": """
a = "the cat sat on the mat and " * 9 + "a cat sat here at 123"
b = "the bat sat in the hat and " * 10
previous = list(range(len(b) + 1))
for i, ca in enumerate(a, 1):
    current = [i]
    for j, cb in enumerate(b, 1):
        current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
    previous = current
distance = previous[-1]
""",
    "out.append(str(i)), 50k": """
out = []
for i in range(50000):
    out.append(str(i))
text = ",".join(out)
""",
    "word count, 160k words": """
words = ("the quick brown fox jumps over the lazy dog and " * 16000).split()
counts = {}
for word in words:
    counts[word] = counts.get(word, 0) + 1
""",
}

TRIVIAL = "x = 1\n"


def run_bare(code: object) -> None:
    exec(code, {"__name__": "__main__"})


# A run that ends in an error (the issue's `s += i*i % 7` spent its 5 s budget) is timed all the
# same and its error type reported next to its time: the figure is then a lower bound.
FAILED: dict[str, str] = {}


def run_sandbox(code: str, limits: Any) -> None:
    import sandbox

    result = sandbox.execute(code, limits)
    if not result.success:
        FAILED[code] = str(result.error_type)


def rounds_of(contenders: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each contender, one call each per round in a rotated order."""
    names = list(contenders)
    for name in names:
        contenders[name]()  # warm-up: imports, caches
    samples: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            contenders[name]()
            samples[name].append(time.perf_counter() - started)
    return samples


def summary(samples: dict[str, list[float]], floor: str) -> dict[str, dict[str, float]]:
    """Each contender's median seconds and the median of its per-round ratio to `floor`."""
    return {
        name: {
            "seconds": statistics.median(values),
            "ratio": statistics.median(v / f for v, f in zip(values, samples[floor], strict=True)),
        }
        for name, values in samples.items()
    }


def contenders_for(code: str) -> dict[str, Callable[[], object]]:
    import sandbox

    compiled = compile(code, "<bare>", "exec")
    untracked = sandbox.Limits(track_memory=False)
    return {
        "bare exec": lambda: run_bare(compiled),
        "sandbox": lambda: run_sandbox(code, None),
        "sandbox, no memory tracking": lambda: run_sandbox(code, untracked),
    }


class _Steps:
    """The least a step count through sys.monitoring can do: a Python callback per loop iteration
    that counts, and one that also reads the traced memory, as a memory limit checked at every step
    must (one step can double what a run holds)."""

    def __init__(self) -> None:
        self.steps = 0
        self.ceiling = 1 << 60

    def count(self, _code: object, source: int, destination: int = -1) -> object:
        if destination > source:
            return sys.monitoring.DISABLE
        self.steps += 1
        return None

    def count_and_read(self, _code: object, source: int, destination: int = -1) -> object:
        if destination > source:
            return sys.monitoring.DISABLE
        self.steps += 1
        if _tracemalloc.get_traced_memory()[0] > self.ceiling:
            raise MemoryError
        return None


def _monitored(compiled: object, callback_name: str, traced: bool) -> None:
    tool = next(tool for tool in range(6) if sys.monitoring.get_tool(tool) is None)
    sys.monitoring.use_tool_id(tool, "bench_cpu floor")
    if traced:
        _tracemalloc.start()
    try:
        if callback_name:
            events = sys.monitoring.events.JUMP | sys.monitoring.events.PY_START
            for event in (sys.monitoring.events.JUMP, sys.monitoring.events.PY_START):
                sys.monitoring.register_callback(tool, event, getattr(_Steps(), callback_name))
            sys.monitoring.set_events(tool, events)
        run_bare(compiled)
    finally:
        sys.monitoring.set_events(tool, 0)
        sys.monitoring.free_tool_id(tool)
        if traced:
            _tracemalloc.stop()


def floors(rounds: int) -> dict[str, Any]:
    """The sandbox against what a step count and a memory limit checked at every step cost at least
    on this interpreter, each against bare exec of the same code."""
    table = {}
    for name in ("for-loop, 300k pass", "s += i*i % 7, 300k", "Levenshtein 264 x 270"):
        code = CPU_BOUND[name]
        compiled = compile(code, "<bare>", "exec")
        contenders = {
            **contenders_for(code),
            "tracemalloc on": lambda c=compiled: _monitored(c, "", True),
            "a callback that counts": lambda c=compiled: _monitored(c, "count", False),
            "counts, tracemalloc on and read": lambda c=compiled: _monitored(c, "count_and_read", True),
        }
        table[name] = summary(rounds_of(contenders, rounds), "bare exec")
    return table


def cpu_bound(rounds: int) -> dict[str, Any]:
    table = {}
    for name, code in CPU_BOUND.items():
        table[name] = summary(rounds_of(contenders_for(code), rounds), "bare exec")
        table[name]["failed"] = FAILED.pop(code, None)
    return table


def fixed_overhead(calls: int, rounds: int) -> dict[str, Any]:
    """A trivial script run `calls` times per sample: what a cached run costs beyond the work."""

    def repeated(call: Callable[[], object]) -> Callable[[], object]:
        return lambda: [call() for _ in range(calls)]

    samples = rounds_of({name: repeated(call) for name, call in contenders_for(TRIVIAL).items()}, rounds)
    return summary({name: [v / calls for v in values] for name, values in samples.items()}, "bare exec")


def batch(count: int, rounds: int) -> dict[str, Any]:
    """`evaluate` over `count` medium traces of the typical eval, against bare exec giving each trace
    the same private copy (marshal, as the batch does) and running the module body per trace."""
    import sandbox
    from bench import CORPUS, SIZES, TYPICAL, make_trace

    code = CORPUS[TYPICAL]
    traces = [{"trace_id": str(i), "data": make_trace(SIZES["medium"], seed=i)} for i in range(count)]
    compiled = compile(code, "<bare>", "exec")

    def bare() -> None:
        for trace in traces:
            namespace: dict[str, Any] = {"__name__": "__main__"}
            exec(compiled, namespace)
            namespace["eval_tools_allowed"](marshal.loads(marshal.dumps(trace["data"])))

    def sandboxed(track: bool) -> Callable[[], object]:
        # 1,000 medium traces are about 30 MB: past the default batch size, within its maximum.
        limits = sandbox.Limits(track_memory=track, max_batch_bytes=32 * 1024 * 1024)
        # As the runner evaluates a batch that came as the front Worker's JSON text (json_data: not
        # walked again); evaluate() on a library caller's objects walks their types first.
        return lambda: sandbox.evaluate(code, traces, limits=limits, json_data=True)

    samples = rounds_of(
        {"bare exec": bare, "sandbox": sandboxed(True), "sandbox, no memory tracking": sandboxed(False)},
        rounds,
    )
    figures = summary(samples, "bare exec")
    for figure in figures.values():
        figure["traces_per_second"] = count / figure["seconds"]
        figure["ratio"] = 1 / figure["ratio"]  # throughput against bare exec's
    return figures


def measure(quick: bool, batch_only: bool = False, floor_only: bool = False) -> dict[str, Any]:
    rounds = 3 if quick else 7
    interpreter = f"{platform.python_implementation()} {platform.python_version()}"
    if batch_only:
        return {"interpreter": interpreter, "batch": batch(1000, 3)}
    if floor_only:
        return {"interpreter": interpreter, "floor": floors(rounds)}
    return {
        "interpreter": interpreter,
        "cpu_bound": cpu_bound(rounds),
        "overhead": fixed_overhead(50 if quick else 200, rounds),
        "batch": batch(100 if quick else 1000, rounds if quick else 3),
    }


def in_pyodide(arguments: list[str]) -> dict[str, Any] | None:
    node = ROOT / "node_modules" / ".bin" / "node"
    if not node.exists():
        return None
    done = subprocess.run(
        [str(node), str(ROOT / "scripts" / "bench-pyodide.mjs"), "bench_cpu", *arguments],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def render(columns: dict[str, dict[str, Any]]) -> str:
    contenders = ("sandbox", "sandbox, no memory tracking")
    head = "| code | " + " | ".join(
        f"{where}: bare exec | {where}: sandbox | ÷ bare | no memory tracking, ÷ bare" for where in columns
    )
    lines = [head + " |", "| --- " * (1 + 4 * len(columns)) + "|"]

    def row(
        label: str, pick: Callable[[dict[str, Any]], dict[str, Any]], unit: Callable[[float], str]
    ) -> str:
        cells = []
        for results in columns.values():
            figures = pick(results)
            failed = f" ({figures['failed']})" if figures.get("failed") else ""
            cells += [unit(figures["bare exec"]["seconds"]), unit(figures["sandbox"]["seconds"]) + failed]
            cells += [f"{figures[c]['ratio']:.2f}×" for c in contenders]  # noqa: RUF001
        return f"| {label} | " + " | ".join(cells) + " |"

    first = next(iter(columns.values()))
    for name in first.get("cpu_bound", ()):
        lines.append(row(f"`{name}`", lambda r, n=name: r["cpu_bound"][n], lambda s: f"{s * 1e3:,.1f} ms"))
    if "overhead" in first:
        lines.append(row("a cached run of `x = 1`", lambda r: r["overhead"], lambda s: f"{s * 1e6:,.0f} µs"))
    lines.append(
        row(
            "batch of medium traces (seconds; ÷ is throughput)", lambda r: r["batch"], lambda s: f"{s:,.2f} s"
        )
    )
    return "\n".join(lines)


def render_floor(columns: dict[str, dict[str, Any]]) -> str:
    first = next(iter(columns.values()))["floor"]
    names = [name for name in next(iter(first.values())) if name != "bare exec"]
    lines = [
        "| code | " + " | ".join(f"{where}: {name}, ÷ bare" for where in columns for name in names) + " |",
        "| --- " * (1 + len(names) * len(columns)) + "|",
    ]
    for code in first:
        ratios = [results["floor"][code][name]["ratio"] for results in columns.values() for name in names]
        cells = [f"{ratio:.1f}×" for ratio in ratios]  # noqa: RUF001
        lines.append(f"| `{code}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    quick = "--quick" in sys.argv
    batch_only = "--batch" in sys.argv
    floor_only = "--floor" in sys.argv
    results = measure(quick, batch_only, floor_only)
    if IN_PYODIDE:
        print(json.dumps(results))
        return
    columns = {"CPython": results}
    arguments = [flag for flag in ("--quick", "--batch", "--floor") if flag in sys.argv]
    pyodide = None if "--no-pyodide" in sys.argv else in_pyodide(arguments)
    if pyodide is not None:
        columns["Pyodide"] = pyodide
    print(render_floor(columns) if floor_only else render(columns))
    print(json.dumps(columns))


if __name__ == "__main__":
    main()
