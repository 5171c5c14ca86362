"""What a runner isolate costs a caller, on a local Workers runtime, side by side in one run:

- the first call after the front Worker is up, when the loader starts a runner isolate with Python and
  the engine;
- the following calls, which find that isolate warm;
- the same calls in-process (the project's wrangler.toml without its LOADER binding, in-process mode
  chosen).

Each round starts a fresh `pywrangler dev`, so every round's first call is a cold runner. Needs the
Workers runtime, which pywrangler downloads on first use (not possible on machines without internet,
where this stops with the reason; scripts/test-e2e prepares an offline one). Prints a Markdown table for the README.

    uv run python scripts/bench_runner.py [--rounds 5] [--calls 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests_e2e.devserver import Unavailable, dev_command, free_port, get, project, start, stop  # noqa: E402

LOADER_BLOCK = '[[worker_loaders]]\nbinding = "LOADER"\n'
REQUEST = {"code": "total = 0\nfor i in range(1000):\n    total += i\nprint(total)"}


def configs() -> dict[str, str]:
    shipped = (ROOT / "wrangler.toml").read_text()
    if LOADER_BLOCK not in shipped:
        sys.exit("wrangler.toml has no LOADER binding to compare with")
    return {"isolate": shipped, "in-process": shipped.replace(LOADER_BLOCK, "")}


def timed_call(port: int, mode: str) -> float:
    started = time.perf_counter()
    status, body = get(port, "/v1/execute", REQUEST)
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200 or body.get("output") != "499500":
        sys.exit(f"{mode}: unexpected answer {status} {body}")
    return elapsed


def one_round(mode: str, config: str, calls: int) -> tuple[float, list[float]]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{mode}-") as directory:
        root = Path(directory)
        project(root, config)
        port = free_port()
        # Without a loader, in-process mode has to be chosen (it is never a fallback).
        chosen = ["--var", "SANDBOX_IN_PROCESS:true"] if mode == "in-process" else []
        server = start(
            dev_command("pywrangler", port, "--var", "ALLOW_UNAUTHENTICATED_HTTP:true", *chosen), port, root
        )
        try:
            status, health = get(port, "/v1/health")  # the front Worker is up and warm
            if status != 200 or health.get("mode") != mode:
                sys.exit(f"expected mode {mode}, health says {health}")
            first = timed_call(port, mode)
            return first, [timed_call(port, mode) for _ in range(calls)]
        finally:
            stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20, help="following calls per round")
    options = parser.parse_args()
    modes = configs()
    firsts: dict[str, list[float]] = {mode: [] for mode in modes}
    following: dict[str, list[float]] = {mode: [] for mode in modes}
    try:
        for _ in range(options.rounds):  # modes interleaved, so drift of the machine cancels out
            for mode, config in modes.items():
                first, rest = one_round(mode, config, options.calls)
                firsts[mode].append(first)
                following[mode].extend(rest)
    except Unavailable as why:
        sys.exit(str(why))
    print("| mode | first call, median ms | following calls, median ms |")
    print("|---|---|---|")
    for mode in modes:
        print(
            f"| {mode} | {statistics.median(firsts[mode]):.1f} | {statistics.median(following[mode]):.1f} |"
        )
    ratio = statistics.median(following["isolate"]) / statistics.median(following["in-process"])
    extra = statistics.median(firsts["isolate"]) - statistics.median(firsts["in-process"])
    print(
        f"\nA runner's start adds {extra:.0f} ms to its first call; a warm runner costs {ratio:.2f}x in-process."
    )


if __name__ == "__main__":
    main()
