"""Workers under a local runtime (`wrangler dev`, `pywrangler dev`), for the end-to-end tests and
scripts/bench_runner.py."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "node_modules" / ".bin"
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}  # wrangler needs Node 22
READY_SECONDS = 120


class Unavailable(Exception):
    """The local runtime could not start; the message says why in one line."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(command: list[str], port: int, cwd: Path = ROOT) -> subprocess.Popen[str]:
    """Start a dev server and wait until its Worker answers on `port`."""
    process = subprocess.Popen(
        command, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise Unavailable(f"{command[0]} dev could not start the Workers runtime: {_first_error(output)}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
            return process
        except urllib.error.HTTPError:
            return process  # any answer, 404 included, means the Worker is up
        except OSError:
            time.sleep(1)
    stop(process)
    raise Unavailable(f"{command[0]} dev was not ready within {READY_SECONDS} s")


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    process.wait(timeout=30)


def _first_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if line.lower().startswith(("error", "cause: failed to download", "✘")):
            return line
    return lines[-1] if lines else "no output"


def get(port: int, path: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method="POST" if data else "GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def project(root: Path, config: str, sources: tuple[Path, ...] = ()) -> None:
    """A Worker project in `root`: the deployed sources (and `sources` beside them), the project's
    own dependencies for pywrangler to vendor, and `config` as its wrangler.toml."""
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


def compatibility_date() -> str:
    return tomllib.loads((ROOT / "wrangler.toml").read_text())["compatibility_date"]
