"""What each isolation level costs, measured on a local Workers runtime (workerd under `pywrangler dev`):

- a warm runner: the same isolation key again;
- a new named runner: a new key for every request (what a platform's first request per tenant pays);
- a fresh runner: `isolation: "fresh"`, an unnamed runner for the request alone;
- the memory the runtime keeps per named runner (local workerd never evicts one) and per fresh one;
- whether the code's SHA-256 should be part of a runner's id: a platform running several evals over
  several batches each, with one key for all of them, and with the code's hash in the key (a runner
  per eval), which is what the id would do.

One `pywrangler dev` for everything, in the order above, so every later step runs beside the
runners the earlier ones left. Run scripts/test-e2e once first where the runtime cannot be
downloaded (it builds one offline), then, with the MINIFLARE_WORKERD_PATH it printed if any:

    uv run python scripts/bench_isolation.py [--runners 20] [--warm 50] [--evals 5] [--batches 4]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests_e2e.devserver import (  # noqa: E402
    ENV,
    Server,
    Unavailable,
    dev_command,
    free_port,
    get,
    start,
    stop,
)

TRIVIAL = {"code": "print(1)"}
EVAL = "def eval_{n}(trace):\n    return len(trace['steps']) > {n}, 'counted'"
TRACES = [{"trace_id": f"t{i}", "data": {"steps": list(range(i))}} for i in range(10)]


def timed(port: int, body: dict, path: str = "/v1/execute") -> float:
    started = time.perf_counter()
    status, answer = get(port, path, body, timeout=120)
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200 or answer.get("success") is False:
        sys.exit(f"unexpected answer {status} {answer}")
    return elapsed


def resident_mib(server: Server) -> float:
    """Resident memory of the server's process group (workerd and its tools), in MiB."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            pid = int(status.parent.name)
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except (OSError, ValueError):
            continue
        try:
            if os.getpgid(pid) == server.process.pid and "VmRSS" in fields:
                total += int(fields["VmRSS"].split()[0])
        except ProcessLookupError:
            continue
    return total / 1024


def settled_mib(server: Server) -> float:
    time.sleep(3)  # let the runtime collect what it frees
    return resident_mib(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runners", type=int, default=20, help="new named runners, and fresh ones")
    parser.add_argument("--warm", type=int, default=50, help="calls to one warm runner")
    parser.add_argument("--evals", type=int, default=5, help="distinct eval functions")
    parser.add_argument("--batches", type=int, default=4, help="batches per eval function")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-isolation-") as state:
        subprocess.run(
            ["wrangler", "d1", "migrations", "apply", "sandbox-log", "--local", "--persist-to", state],
            cwd=ROOT, env=ENV, capture_output=True, input="y\n", text=True, check=True,
        )  # fmt: skip
        port = free_port()
        try:
            server = start(
                dev_command("pywrangler", port, "--var", "ALLOW_UNAUTHENTICATED_HTTP:true", "--persist-to", state),
                port,
            )  # fmt: skip
        except Unavailable as why:
            sys.exit(str(why))
        try:
            measure(port, server, options)
        finally:
            stop(server)


def measure(port: int, server: Server, options: argparse.Namespace) -> None:
    timed(port, {**TRIVIAL, "isolationKey": "bench-warm"})  # starts the front Worker and one runner
    warm = [timed(port, {**TRIVIAL, "isolationKey": "bench-warm"}) for _ in range(options.warm)]

    before_named = settled_mib(server)
    named = [timed(port, {**TRIVIAL, "isolationKey": f"bench-new-{n}"}) for n in range(options.runners)]
    after_named = settled_mib(server)
    fresh = [timed(port, {**TRIVIAL, "isolation": "fresh"}) for _ in range(options.runners)]
    after_fresh = settled_mib(server)

    # One platform, E eval functions, B batches each, interleaved as a platform would send them.
    workload = [
        {"evalCode": EVAL.format(n=n), "traces": TRACES, "isolationKey": "bench-platform"}
        for _ in range(options.batches)
        for n in range(options.evals)
    ]
    shared = [timed(port, body, "/v1/evaluate") for body in workload]
    per_code = [
        timed(port, {**body, "isolationKey": "bench-platform:" + hashlib.sha256(body["evalCode"].encode()).hexdigest()},
              "/v1/evaluate")
        for body in workload
    ]  # fmt: skip

    median = statistics.median
    print("| isolation | per request, median ms | runners started | resident memory kept |")
    print("|---|---|---|---|")
    print(f"| warm runner (same key) | {median(warm):.0f} | 0 | none |")
    print(
        f"| new named runner (new key) | {median(named):.0f} | 1 per request | "
        f"{(after_named - before_named) / options.runners:.1f} MiB per runner |"
    )
    print(
        f"| fresh (unnamed) runner | {median(fresh):.0f} | 1 per request | "
        f"{(after_fresh - after_named) / options.runners:.1f} MiB per request |"
    )
    print(
        f"\n{options.evals} evals x {options.batches} batches of {len(TRACES)} traces, one key: "
        f"{sum(shared) / 1000:.1f} s in all, 1 runner; with the code's hash in the key: "
        f"{sum(per_code) / 1000:.1f} s in all, {options.evals} runners "
        f"(first batch of each eval {median(per_code[: options.evals]):.0f} ms, later ones "
        f"{median(per_code[options.evals :]):.0f} ms; one key: {median(shared[1:]):.0f} ms)."
    )


if __name__ == "__main__":
    main()
