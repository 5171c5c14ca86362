"""Latency of the Worker on a local Workers runtime (issue 21): what a warm `execute` through a
runner isolate waits for, a 100-trace `evaluate`, and a runner's start.

One `wrangler dev` process runs the sandbox (a checkout's src/, the shipped wrangler.toml, local D1
migrated) and a caller Worker bound to it by a service binding, as the README's one-process
command does: calls between them stay in one runtime, as in production. The caller times each call
from inside workerd (Date.now() moves on at every I/O, and a call is I/O): what another Worker waits
for. The client (this script) times the same requests from outside, through wrangler's dev proxy,
which production does not have. With in-process mode (no loader) as well, the hop to the runner
shows by elimination.

Steps, each server up at once and visited in turn, round after round:

- `health` over the binding's fetch: the floor of an HTTP request through the front Worker;
- `validate` over RPC: the front Worker and a runner hop, analysis only;
- `execute` of `x = 1` over RPC and over the binding's fetch (HTTP), warm runner;
- `evaluate` of 100 medium traces (bench.py's typical eval) over RPC, warm;
- a runner's start: `execute` with an isolation key never used before (a named runner's cold start).

With `--compare REF`, the same steps run against the src/ of git revision REF too (before and
after in one run, each on a server of its own, interleaved).

    uv run python scripts/bench_worker.py [--calls 40] [--batches 5] [--starts 3] [--skip-in-process]
                                          [--compare REF] [--json FILE]

Needs the Workers runtime: run scripts/test-e2e once first where it cannot be downloaded (it builds
one offline) and export the MINIFLARE_WORKERD_PATH it uses (README, "Run it locally"). A script,
not a test: numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from tests_e2e.devserver import (  # noqa: E402
    ENV,
    LOOPBACK,
    Unavailable,
    compatibility_date,
    dev_command,
    free_port,
    project,
    start,
    stop,
)

from bench import CORPUS, SIZES, TYPICAL, make_trace  # noqa: E402

LOADER_BLOCK = '[[worker_loaders]]\nbinding = "LOADER"\n'
TRIVIAL = {"code": "x = 1"}

# The caller: makes `calls` calls of one kind back to back and reports how long each took, in ms, as
# workerd's clock saw it (whole milliseconds; the mean of many is finer), and the last answer.
CALLER_JS = """
export default {
  async fetch(request, env) {
    const spec = await request.json();
    const times = [];
    let answer;
    const began = Date.now();
    for (let i = 0; i < spec.calls; i++) {
      const argument = spec.fresh_key ? { ...spec.argument, isolationKey: `${spec.fresh_key}-${i}` } : spec.argument;
      const started = Date.now();
      if (spec.http) {
        const init = argument ? { method: "POST", body: JSON.stringify(argument) } : {};
        const response = await env.SANDBOX.fetch(`http://sandbox${spec.http}`, init);
        answer = await response.json();
      } else {
        answer = await env.SANDBOX[spec.method](argument);
      }
      times.push(Date.now() - started);
    }
    return Response.json({ times, total: Date.now() - began, answer });
  },
};
"""
CALLER_CONFIG = f"""name = "bench-caller"
main = "caller.js"
compatibility_date = "{compatibility_date()}"

[[services]]
binding = "SANDBOX"
service = "python-sandbox"
props = {{ caller = "bench" }}
"""
STEPS: dict[str, dict[str, Any]] = {
    "health, HTTP over the binding": {"http": "/v1/health"},
    "validate x = 1, RPC": {"method": "validate", "argument": TRIVIAL},
    "execute x = 1, RPC": {"method": "execute", "argument": TRIVIAL},
    "execute x = 1, HTTP over the binding": {"http": "/v1/execute", "argument": TRIVIAL},
}
BATCH = "evaluate 100 medium traces, RPC"
START = "execute x = 1, new runner (cold start), RPC"


class Server:
    """The sandbox (its src/ from `src`) and the bench caller in one `wrangler dev`, with local D1."""

    def __init__(self, mode: str, src: Path) -> None:
        self.mode = mode
        self.root = Path(tempfile.mkdtemp(prefix=f"bench-worker-{mode}-"))
        shipped = (ROOT / "wrangler.toml").read_text()
        if LOADER_BLOCK not in shipped:
            sys.exit("wrangler.toml has no LOADER binding")
        config = shipped + '\n[vars]\nALLOW_UNAUTHENTICATED_HTTP = "true"\n'
        if mode == "in-process":
            config = config.replace(LOADER_BLOCK, "").replace(
                "[vars]\n", '[vars]\nSANDBOX_IN_PROCESS = "true"\n'
            )
        project(self.root, config)
        shutil.rmtree(self.root / "src")
        shutil.copytree(src, self.root / "src", ignore=shutil.ignore_patterns("__pycache__"))
        (self.root / "caller.js").write_text(CALLER_JS)
        (self.root / "caller.toml").write_text(CALLER_CONFIG)
        state = self.root / "state"
        migrated = subprocess.run(
            ["wrangler", "d1", "migrations", "apply", "sandbox-log", "--local", "--persist-to", str(state)],
            cwd=ROOT, env=ENV, capture_output=True, text=True, input="y\n", check=False,
        )  # fmt: skip
        if migrated.returncode != 0:
            raise Unavailable(f"wrangler could not apply the migrations: {migrated.stderr.strip()[-300:]}")
        self.port = free_port()
        env = {**ENV, "WRANGLER_REGISTRY_PATH": tempfile.mkdtemp(dir=self.root)}
        command = dev_command(
            "wrangler", self.port, "-c", "caller.toml", "-c", "wrangler.toml", "--persist-to", str(state)
        )
        self.server = start(command, self.port, self.root, env)
        self.connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=300)

    def calls(self, spec: dict[str, Any]) -> dict[str, Any]:
        """One request to the caller, which makes `spec["calls"]` calls; with the client's time."""
        body = json.dumps(spec).encode()
        for attempt in (1, 2):  # the dev proxy may have closed the kept-alive connection
            try:
                started = time.perf_counter()
                self.connection.request("POST", "/", body, {"content-type": "application/json"})
                response = self.connection.getresponse()
                answer = json.loads(response.read())
                break
            except (OSError, http.client.HTTPException):
                self.connection.close()
                self.connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=300)
                if attempt == 2:
                    raise
        answer["client_ms"] = (time.perf_counter() - started) * 1000
        if response.status != 200 or "times" not in answer:
            sys.exit(f"{self.mode}: the caller answered {response.status}: {str(answer)[:500]}")
        check(answer["answer"], str(spec.get("method") or spec.get("http")))
        return answer

    def close(self) -> None:
        self.connection.close()
        stop(self.server)
        shutil.rmtree(self.root, ignore_errors=True)


def check(answer: dict[str, Any], what: str) -> None:
    if answer.get("success") is False or answer.get("valid") is False or "refused" in answer:
        sys.exit(f"{what}: unexpected answer {str(answer)[:500]}")


def measure(servers: dict[str, Server], options: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Every step on every server, in rounds, each round visiting every server and step in turn:
    drift of the machine (other work on it) falls on all of them alike."""
    for server in servers.values():
        for spec in STEPS.values():  # warm: the runner started, the code cached, the JIT done
            server.calls({**spec, "calls": 5})
    samples: dict[tuple[str, str], dict[str, list[float]]] = {
        (column, name): {"single": [], "client": [], "mean": []} for column in servers for name in STEPS
    }
    for _ in range(4):
        for column, server in servers.items():
            for name, spec in STEPS.items():
                taken = samples[column, name]
                for _ in range(max(1, options.calls // 4)):
                    answer = server.calls({**spec, "calls": 1})
                    taken["single"].append(answer["total"])
                    taken["client"].append(answer["client_ms"])
                many = server.calls({**spec, "calls": options.calls})
                taken["mean"].append(many["total"] / options.calls)
    results: dict[str, dict[str, Any]] = {
        column: {
            name: {
                "inside_ms": statistics.median(samples[column, name]["single"]),
                "mean_ms": statistics.median(samples[column, name]["mean"]),
                "outside_ms": statistics.median(samples[column, name]["client"]),
            }
            for name in STEPS
        }
        for column in servers
    }
    traces = [{"trace_id": str(i), "data": make_trace(SIZES["medium"], seed=i)} for i in range(100)]
    batch = {"method": "evaluate", "argument": {"evalCode": CORPUS[TYPICAL], "traces": traces}}
    timings: dict[str, list[dict[str, Any]]] = {column: [] for column in servers}
    for server in servers.values():
        server.calls({**batch, "calls": 1})
    for _ in range(options.batches):
        for column, server in servers.items():
            timings[column].append(server.calls({**batch, "calls": 1}))
    for column, taken in timings.items():
        summary = taken[-1]["answer"]["summary"]
        if summary["passed"] + summary["failed"] != 100:
            sys.exit(f"evaluate: unexpected summary {summary}")
        results[column][BATCH] = {
            "inside_ms": statistics.median(t["total"] for t in taken),
            "outside_ms": statistics.median(t["client_ms"] for t in taken),
            # The runner's own clock: it moves on only at I/O there too, so this is a lower bound.
            "engine_ms": statistics.median(t["answer"]["total_time_ms"] for t in taken),
            "request_bytes": len(json.dumps(batch["argument"])),
        }
    key = f"start-{os.getpid()}-{time.time_ns()}"
    starts: dict[str, list[dict[str, Any]]] = {column: [] for column in servers}
    for n in range(options.starts):
        for column, server in servers.items():
            if server.mode == "isolate":
                spec = {**STEPS["execute x = 1, RPC"], "calls": 1, "fresh_key": f"{key}-{column}-{n}"}
                starts[column].append(server.calls(spec))
    for column, taken in starts.items():
        if taken:
            results[column][START] = {
                "inside_ms": statistics.median(s["total"] for s in taken),
                "outside_ms": statistics.median(s["client_ms"] for s in taken),
            }
    return results


def sources_of(revision: str) -> Path:
    """src/ of a git revision, unpacked into a temporary directory."""
    archive = subprocess.run(["git", "archive", revision, "src"], cwd=ROOT, capture_output=True, check=True)
    directory = Path(tempfile.mkdtemp(prefix="bench-worker-src-"))
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(directory, filter="data")
    return directory / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40, help="calls per step and round")
    parser.add_argument("--batches", type=int, default=5, help="100-trace evaluate calls")
    parser.add_argument("--starts", type=int, default=3, help="runner starts (new isolation keys)")
    parser.add_argument("--skip-in-process", action="store_true")
    parser.add_argument("--compare", metavar="REF", help="also measure the src/ of this git revision")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args()
    modes = ["isolate"] if options.skip_in_process else ["isolate", "in-process"]
    trees = {"this checkout": ROOT / "src"}
    if options.compare:
        trees = {options.compare: sources_of(options.compare), **trees}
    servers: dict[str, Server] = {}
    try:
        for tree, src in trees.items():
            for mode in modes:
                servers[f"{mode}, {tree}"] = Server(mode, src)
        figures = measure(servers, options)
    except Unavailable as why:
        sys.exit(str(why))
    finally:
        for server in servers.values():
            server.close()
    print(report(figures))
    if options.json:
        options.json.write_text(json.dumps(figures, indent=2) + "\n")


def report(figures: dict[str, dict[str, Any]]) -> str:
    columns = list(figures)
    lines = [
        "Caller's wait inside workerd (median of single calls, whole ms; then the mean of back-to-back"
        " calls) and the client's wait through wrangler's dev proxy, in ms:",
        "",
        "| step | " + " | ".join(columns) + " |",
        "| --- " * (len(columns) + 1) + "|",
    ]
    names = dict.fromkeys(name for steps in figures.values() for name in steps)
    for name in names:
        cells = []
        for column in columns:
            f = figures[column].get(name)
            if f is None:
                cells.append("—")
                continue
            mean = f" (mean {f['mean_ms']:.1f})" if "mean_ms" in f else ""
            cells.append(f"{f['inside_ms']:.0f}{mean}; client {f['outside_ms']:.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for column, steps in figures.items():
        batch = steps[BATCH]
        lines.append(
            f"\n{column}: the batch is {batch['request_bytes'] / 1e6:.1f} MB of JSON; the runner reported"
            f" {batch['engine_ms']:.0f} ms for it of the caller's {batch['inside_ms']:.0f} ms."
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
