"""Workers under a local runtime (`wrangler dev`, `pywrangler dev`), for the end-to-end tests and the
runner benchmarks (scripts/bench_runner.py, scripts/bench_isolation.py).

Every server runs in a process group of its own and is stopped as a group: `pywrangler dev` starts
npm, node and workerd, and stopping only pywrangler left workerd running (one kept spinning at 56%
CPU). Servers listen on 127.0.0.1 only and register in a dev registry of this process's own, so two
checkouts testing at once never bind to each other's Workers.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "node_modules" / ".bin"
READY_SECONDS = 180
STOP_SECONDS = 15
LOOPBACK = "127.0.0.1"

_registry = tempfile.mkdtemp(prefix="wrangler-registry-")
atexit.register(shutil.rmtree, _registry, True)
ENV = {
    **os.environ,
    "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",  # wrangler needs Node 22
    "WRANGLER_REGISTRY_PATH": _registry,
    "WRANGLER_SEND_METRICS": "false",
}


class Unavailable(Exception):
    """The local runtime could not start; the message says why in one line."""


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def dev_command(tool: str, port: int, *options: str) -> list[str]:
    """`wrangler dev` or `pywrangler dev` on `port`, everything on loopback."""
    return [tool, "dev", "--ip", LOOPBACK, "--port", str(port), "--inspector-ip", LOOPBACK,
            "--inspector-port", str(free_port()), "--show-interactive-dev-session=false", *options]  # fmt: skip


def spawn(command: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None) -> Server:
    """Start `command` as the leader of a new process group, its output going to a file: a pipe
    nobody reads fills up and stalls the server."""
    log = Path(tempfile.mkstemp(prefix="devserver-", suffix=".log")[1])
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=cwd, env=env or ENV, stdin=subprocess.DEVNULL, stdout=sink,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    return Server(process, log)


def start(command: list[str], port: int, cwd: Path = ROOT, env: dict[str, str] | None = None) -> Server:
    """Start a dev server and wait until its Worker answers on `port`."""
    server = spawn(command, cwd, env)
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            stop(server)
            raise Unavailable(
                f"{command[0]} dev could not start the Workers runtime: {_first_error(server.output())}"
            )
        try:
            urllib.request.urlopen(f"http://{LOOPBACK}:{port}/", timeout=5)
            return server
        except urllib.error.HTTPError:
            return server  # any answer, 404 included, means the Worker is up
        except OSError:
            time.sleep(1)
    stop(server)
    raise Unavailable(f"{command[0]} dev was not ready within {READY_SECONDS} s")


def stop(server: Server) -> None:
    """Stop the server's whole process group: SIGTERM, then SIGKILL for whatever is left."""
    group = server.process.pid
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + STOP_SECONDS
        while group_alive(group) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not group_alive(group):
            break
    server.process.wait(timeout=STOP_SECONDS)  # the leader is gone by now; this reaps it
    server.log.unlink(missing_ok=True)


def group_alive(group: int) -> bool:
    """Whether a process of the group still runs. Zombies do not count: where PID 1 does not reap
    orphans, workerd's children linger as zombies that no signal can end."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


def _first_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if line.lower().startswith(("error", "cause: failed to download", "✘")):
            return line
    return lines[-1] if lines else "no output"


def get(port: int, path: str, body: dict | bytes | None = None, timeout: float = 60) -> tuple[int, dict]:
    """A JSON request to a local Worker: GET without a body, else POST of `body` (raw when bytes)."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    call = urllib.request.Request(
        f"http://{LOOPBACK}:{port}{path}", data=data, method="POST" if data is not None else "GET"
    )
    try:
        with urllib.request.urlopen(call, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def project(root: Path, config: str, sources: tuple[Path, ...] = ()) -> None:
    """A Worker project in `root`: the deployed sources (and `sources` beside them), the project's
    own dependencies for pywrangler to vendor, and `config` as its wrangler.toml. Packages already
    vendored here (scripts/test-e2e) are copied with their sync tokens, so pywrangler skips the sync."""
    shutil.copytree(ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for source in sources:
        shutil.copy(source, root / "src" / source.name)
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dependencies = ", ".join(json.dumps(d) for d in meta["dependencies"])
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{root.name}"\nversion = "0"\n'
        f'requires-python = "{meta["requires-python"]}"\ndependencies = [{dependencies}]\n'
    )
    (root / "wrangler.toml").write_text(config)
    token = ROOT / ".venv-workers" / ".synced"
    if (ROOT / "python_modules").is_dir() and token.is_file():
        shutil.copytree(ROOT / "python_modules", root / "python_modules")
        (root / ".venv-workers").mkdir()
        shutil.copy(token, root / ".venv-workers" / ".synced")
        os.utime(root / "python_modules" / ".synced")  # newer than the pyproject.toml just written
        os.utime(root / ".venv-workers" / ".synced")


def compatibility_date() -> str:
    return tomllib.loads((ROOT / "wrangler.toml").read_text())["compatibility_date"]
