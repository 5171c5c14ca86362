"""`import sandbox` in a fresh interpreter (issue 21: under 100 ms in Pyodide), split into the
engine's own modules (compiling their sources, then running them) and the standard-library modules
they import, with the slowest modules named.

    uv run python scripts/bench_import.py             # CPython, then Pyodide 314 under Node
    uv run python scripts/bench_import.py --rounds 9
    node_modules/.bin/node scripts/bench-import.mjs 5  # Pyodide alone (called by the above)

Each sample is one fresh interpreter. Pyodide imports the package in three layouts: the repository's
sources on Node's file system (how the tests and the other benchmarks load it), and the runner
isolate's payload (`isolate.worker_code`'s modules) written into the in-memory file system, as the
Worker Loader hands them to a runner. This is a script, not a test: numbers depend on the machine.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def profile() -> dict[str, Any]:
    """Import the package once, timing every module the import loads, as `python -X importtime`
    does (which Pyodide cannot be started with): a module's own time is its load minus the loads it
    caused. Compiling a source file is timed apart. Call it in a fresh interpreter, the package on
    sys.path and not yet imported."""
    import importlib._bootstrap as bootstrap
    from importlib import machinery

    loads: list[tuple[str, float]] = []
    children: list[float] = []
    find_and_load = bootstrap._find_and_load  # type: ignore[attr-defined]
    to_code = machinery.SourceFileLoader.source_to_code
    compiled = {"engine": 0.0, "library": 0.0}

    def timed_load(name: str, import_: Any) -> Any:
        children.append(0.0)
        started = time.perf_counter()
        try:
            return find_and_load(name, import_)
        finally:
            took = time.perf_counter() - started
            own = took - children.pop()
            if children:
                children[-1] += took
            loads.append((name, own))

    def timed_compile(loader: Any, data: Any, path: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return to_code(loader, data, path, *args, **kwargs)
        finally:
            compiled["engine" if "sandbox" in str(path) else "library"] += time.perf_counter() - started

    before = set(sys.modules)
    bootstrap._find_and_load = timed_load  # type: ignore[attr-defined]
    machinery.SourceFileLoader.source_to_code = timed_compile  # type: ignore[method-assign]
    try:
        started = time.perf_counter()
        import sandbox  # noqa: F401

        total = time.perf_counter() - started
    finally:
        bootstrap._find_and_load = find_and_load  # type: ignore[attr-defined]
        machinery.SourceFileLoader.source_to_code = to_code  # type: ignore[method-assign]
    engine = sum(own for name, own in loads if name.split(".")[0] == "sandbox")
    library = [(name, own) for name, own in loads if name.split(".")[0] != "sandbox"]
    return {
        "total": total,
        "engine": engine,
        "engine_compile": compiled["engine"],
        "library": sum(own for _, own in library),
        "library_modules": sorted(
            {name for name in set(sys.modules) - before if not name.startswith("sandbox")}
        ),
        "slowest": sorted(loads, key=lambda load: -load[1])[:12],
    }


def payload_files(bytecode: bool) -> dict[str, str]:
    """The runner's modules as the front Worker hands them to the loader, text or base64 of bytes."""
    import base64

    sys.path.insert(0, str(ROOT / "src"))
    from sandbox import isolate

    files: dict[str, str] = {}
    for name, module in isolate.worker_code(1000)["modules"].items():
        if "py" in module:
            files[name] = module["py"]
        elif bytecode:
            files[name] = "b64:" + base64.b64encode(module["data"]).decode()
    return files


def write_payload(files: dict[str, str], where: str) -> None:
    import base64

    for name, content in files.items():
        path = Path(where) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content.startswith("b64:"):
            path.write_bytes(base64.b64decode(content[4:]))
        else:
            path.write_text(content)


def summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    def median(key: str) -> float:
        return statistics.median(sample[key] for sample in samples) * 1000

    return {
        "samples": len(samples),
        "total_ms": median("total"),
        "engine_ms": median("engine"),
        "engine_compile_ms": median("engine_compile"),
        "library_ms": median("library"),
        "library_modules": samples[0]["library_modules"],
        "slowest": samples[len(samples) // 2]["slowest"],
    }


CPYTHON_PROBE = """
import json, sys
sys.path[:0] = [{src!r}, {scripts!r}]
import bench_import
print(json.dumps(bench_import.profile()))
"""


def main() -> None:
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 5
    code = CPYTHON_PROBE.format(src=str(ROOT / "src"), scripts=str(ROOT / "scripts"))
    cpython = [
        json.loads(
            subprocess.run(
                [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(rounds)
    ]
    results = {"CPython, sources": summary(cpython)}
    node = ROOT / "node_modules" / ".bin" / "node"
    done = subprocess.run(
        [str(node), str(ROOT / "scripts" / "bench-import.mjs"), str(rounds)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    for layout, samples in json.loads(done.stdout.strip().splitlines()[-1]).items():
        results[f"Pyodide, {layout}"] = summary(samples)
    print("| layout | `import sandbox` | engine's modules | of which compiling | standard library |")
    print("| --- | --- | --- | --- | --- |")
    for layout, result in results.items():
        print(
            f"| {layout} | {result['total_ms']:.1f} ms | {result['engine_ms']:.1f} ms |"
            f" {result['engine_compile_ms']:.1f} ms | {result['library_ms']:.1f} ms |"
        )
    for layout, result in results.items():
        print(
            f"\n{layout}: {len(result['library_modules'])} library modules imported:",
            *result["library_modules"],
        )
        print("  slowest (own ms):", ", ".join(f"{name} {own * 1000:.1f}" for name, own in result["slowest"]))


if __name__ == "__main__":
    main()
