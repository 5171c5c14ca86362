"""Turns scripts/bench.py's measurements into docs/benchmarks.md and docs/benchmarks.png."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SIZES = ("small", "medium", "large")


def _ratio_by_size(per_run: dict[str, Any], contender: str) -> dict[str, float]:
    """Median over the corpus of (contender's median time / bare exec's median time), per size."""
    out = {}
    for size in SIZES:
        ratios = [
            row[contender][0] / row["bare exec"][0]
            for key, row in per_run.items()
            if key.startswith(size + "/") and contender in row  # RestrictedPython refuses annotations
        ]
        out[size] = statistics.median(ratios)
    return out


def _us(triple: tuple[float, float, float]) -> str:
    median, low, high = (v * 1e6 for v in triple)
    return f"{median:,.0f} µs ({low:,.0f}–{high:,.0f})"


def _rate(triple: tuple[float, float, float]) -> str:
    median, low, high = triple
    return f"{median:,.0f} /s ({min(low, high):,.0f}–{max(low, high):,.0f})"


def _mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def render(
    cpython: dict[str, Any], pyodide: dict[str, Any] | None, machine: str, quick: bool
) -> tuple[str, Callable[[Path], None]]:
    overhead, per_run, batch = cpython["overhead"], cpython["per_run"], cpython["batch"]
    contenders = [c for c in overhead if c != "bare exec"]
    ratios = {c: _ratio_by_size(per_run, c) for c in contenders if c != "subprocess"}
    sandbox_overhead = overhead["sandbox"][0] - overhead["bare exec"][0]
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `uv run --group bench python scripts/bench.py{' --quick' if quick else ''}` on {datetime.now(UTC):%Y-%m-%d}, "
        f"{cpython['interpreter']}, on {machine}; the Pyodide column by the same script inside Pyodide 314.0.6 under "
        "Node 22 (`scripts/bench-pyodide.mjs`). Medians, with the interquartile range in brackets; the contenders "
        "run interleaved, each round in a rotated order. A run is: analyse and compile the eval, build a fresh "
        "namespace, call the eval on its own copy of one trace, tear down.",
        "",
        "## Headline",
        "",
        "| | sandbox | RestrictedPython | subprocess per run |",
        "| --- | --- | --- | --- |",
        f"| time of a trivial run (fixed overhead) | {_us(overhead['sandbox'])} | {_us(overhead['RestrictedPython'])} | {_us(overhead['subprocess'])} |",
        f"| run time ÷ bare exec (medium traces, median over the corpus) | {ratios['sandbox']['medium']:.2f}× | {ratios['RestrictedPython']['medium']:.2f}× | — |",
        f"| a trivial run, ÷ the sandbox's | 1× | {overhead['RestrictedPython'][0] / overhead['sandbox'][0]:.2f}× | {overhead['subprocess'][0] / overhead['sandbox'][0]:.0f}× |",
        "",
        "## Run time as a ratio to bare `exec`",
        "",
        "| contender | small (5 steps) | medium (50) | large (300) |",
        "| --- | --- | --- | --- |",
    ]
    for contender, by_size in ratios.items():
        lines.append(f"| {contender} | " + " | ".join(f"{by_size[s]:.2f}×" for s in SIZES) + " |")
    if pyodide:
        pyodide_ratios = {
            c: _ratio_by_size(pyodide["per_run"], c) for c in ("sandbox", "sandbox, no memory tracking")
        }
        for contender, by_size in pyodide_ratios.items():
            lines.append(
                f"| {contender}, in Pyodide | " + " | ".join(f"{by_size[s]:.2f}×" for s in SIZES) + " |"
            )
    lines += [
        "",
        "Per eval, medium traces (median time per run; the class-heavy evals marked *):",
        "",
        "| eval | bare exec | sandbox | ÷ bare | RestrictedPython | ÷ bare | Pyodide: bare exec | sandbox | ÷ bare |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, row in per_run.items():
        if key.startswith("medium/"):
            bare = row["bare exec"][0]
            name = key.split("/", 1)[1]
            there = pyodide["per_run"][key] if pyodide else None
            in_pyodide = (
                f"{there['bare exec'][0] * 1e6:,.0f} µs | {there['sandbox'][0] * 1e6:,.0f} µs | "
                f"{there['sandbox'][0] / there['bare exec'][0]:.2f}×"
                if there
                else "n/a | n/a | n/a"
            )
            restricted = (
                f"{row['RestrictedPython'][0] * 1e6:,.0f} µs | {row['RestrictedPython'][0] / bare:.2f}×"
                if "RestrictedPython" in row
                else "refused (annotations) | —"
            )
            lines.append(
                f"| {name}{' *' if name in _class_heavy() else ''} | {bare * 1e6:,.0f} µs | {row['sandbox'][0] * 1e6:,.0f} µs | {row['sandbox'][0] / bare:.2f}× "
                f"| {restricted} | {in_pyodide} |"
            )
    lines += [
        "",
        "## Fixed overhead, batches, import",
        "",
        "| measure | CPython | Pyodide 314 |",
        "| --- | --- | --- |",
        f"| fixed overhead per run, bare exec | {_us(overhead['bare exec'])} | {_us(pyodide['overhead']['bare exec']) if pyodide else 'n/a'} |",
        f"| fixed overhead per run, sandbox | {_us(overhead['sandbox'])} | {_us(pyodide['overhead']['sandbox']) if pyodide else 'n/a'} |",
        f"| fixed overhead per run, sandbox without memory tracking | {_us(overhead['sandbox, no memory tracking'])} | {_us(pyodide['overhead']['sandbox, no memory tracking']) if pyodide else 'n/a'} |",
        f"| batch of medium traces, `{_typical()}`, bare exec | {_rate(batch['bare exec'])} | {_rate(pyodide['batch']['bare exec']) if pyodide else 'n/a'} |",
        f"| batch, sandbox | {_rate(batch['sandbox'])} | {_rate(pyodide['batch']['sandbox']) if pyodide else 'n/a'} |",
        f"| batch, sandbox without memory tracking | {_rate(batch['sandbox, no memory tracking'])} | {_rate(pyodide['batch']['sandbox, no memory tracking']) if pyodide else 'n/a'} |",
        f"| `import sandbox` from the repository's sources (Pyodide compiles them: no bytecode on Node's file system; a runner's import, with its bytecode: `scripts/bench_import.py`) | {_us(cpython['import']['import_seconds'])} | {_us(pyodide['import']['import_seconds']) if pyodide else 'n/a'} |",
        f"| peak memory the import allocates (tracemalloc) | {cpython['import']['peak_bytes'][0] / 1024:,.0f} KiB | not measured (one untraced import per interpreter) |",
        "",
        "Memory tracking (tracemalloc, looked at on every step) costs "
        f"{ratios['sandbox']['medium'] / ratios['sandbox, no memory tracking']['medium']:.2f}× in run time on medium traces and "
        f"{batch['sandbox, no memory tracking'][0] / batch['sandbox'][0]:.2f}× in batch throughput; without it the memory "
        "budget is gone, the single-operation guards (repetition, powers, widths, ranges) stay.",
        "",
        "## Targets (CPython unless said)",
        "",
        "| target | result | |",
        "| --- | --- | --- |",
        f"| fixed overhead under 1 ms per run | {sandbox_overhead * 1e3:.2f} ms over bare exec | {_mark(sandbox_overhead < 1e-3)} |",
        f"| run time within 1.5× of bare exec (typical evals, medium) | {ratios['sandbox']['medium']:.2f}× | {_mark(ratios['sandbox']['medium'] <= 1.5)} |",
        f"| faster than RestrictedPython per run | a trivial run: {overhead['sandbox'][0] * 1e6:,.0f} µs against {overhead['RestrictedPython'][0] * 1e6:,.0f} µs; medium traces: {ratios['sandbox']['medium']:.2f}× against {ratios['RestrictedPython']['medium']:.2f}× bare exec | {_mark(overhead['sandbox'][0] < overhead['RestrictedPython'][0])} |",
        f"| at least 20× faster than a subprocess per run | {overhead['subprocess'][0] / overhead['sandbox'][0]:.0f}× | {_mark(overhead['subprocess'][0] / overhead['sandbox'][0] >= 20)} |",
        f"| at least 1,000 traces/s in batch (medium, typical eval) | {batch['sandbox'][0]:,.0f} /s | {_mark(batch['sandbox'][0] >= 1000)} |",
    ]
    measured = {"CPython": per_run} | ({"Pyodide": pyodide["per_run"]} if pyodide else {})
    for interpreter, runs in measured.items():
        found, untracked = _warm_ratios(runs, "sandbox"), _warm_ratios(runs, "sandbox, no memory tracking")
        lines.append(
            f"| warm run on a medium trace, the typical and class-heavy evals, at most 2× bare exec ({interpreter}) | "
            f"{min(found.values()):.2f}× to {max(found.values()):.2f}× (worst: {max(found, key=found.__getitem__)}); "
            f"without memory tracking {min(untracked.values()):.2f}× to {max(untracked.values()):.2f}× | "
            f"{_mark(max(found.values()) <= 2)} |"
        )
    if pyodide:
        lines.append(
            f"| Pyodide: the package's import under 100 ms (from sources, compiled at import) | {pyodide['import']['import_seconds'][0] * 1e3:.0f} ms | {_mark(pyodide['import']['import_seconds'][0] < 0.1)} |"
        )
    markdown = "\n".join(line for line in lines if line is not None) + "\n"

    def chart(path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        series = dict(ratios)
        if pyodide:
            series["sandbox, in Pyodide"] = _ratio_by_size(pyodide["per_run"], "sandbox")
        figure, axes = plt.subplots(figsize=(8, 4.2))
        width = 0.8 / len(series)
        for index, (name, by_size) in enumerate(series.items()):
            axes.bar(
                [i + index * width for i in range(len(SIZES))], [by_size[s] for s in SIZES], width, label=name
            )
        axes.axhline(1.0, color="black", linewidth=0.8)
        axes.axhline(1.5, color="grey", linewidth=0.8, linestyle="--", label="target: 1.5× bare exec")
        axes.set_xticks(
            [i + width * (len(series) - 1) / 2 for i in range(len(SIZES))], [f"{s} traces" for s in SIZES]
        )
        axes.set_ylabel("run time ÷ bare exec (median over the corpus)")
        axes.set_title("Eval run time relative to unprotected exec")
        axes.legend(fontsize=8)
        figure.tight_layout()
        figure.savefig(path, dpi=110)

    return markdown, chart


def _warm_ratios(per_run: dict[str, Any], contender: str) -> dict[str, float]:
    """`contender`'s time ÷ bare exec's on medium traces, for the typical eval and the class-heavy ones."""
    from bench import TYPICAL

    rows = {name: per_run[f"medium/{name}"] for name in (TYPICAL, *_class_heavy())}
    return {name: row[contender][0] / row["bare exec"][0] for name, row in rows.items()}


def _class_heavy() -> tuple[str, ...]:
    from bench import CLASS_HEAVY

    return CLASS_HEAVY


def _typical() -> str:
    from bench import TYPICAL

    return TYPICAL
