"""Prepare a local Workers runtime that runs Python Workers, for the end-to-end suite (scripts/test-e2e).

workerd downloads its Python runtime from Cloudflare at the first Python Worker. Where that works
(workerd itself is asked, with a one-module Python Worker), it is used as it is. Where it does not
(machines that reach only the package registries), ../shared/workerd-offline/ rebuilds the runtime
from npm's `pyodide` (its README says how). Either way the Worker's packages are unpacked from the
wheels scripts/pyodide_site.py keeps, in place of `pywrangler sync`, which downloads interpreters
from outside the registries. Prints shell `export` lines for scripts/test-e2e to eval: the
MINIFLARE_WORKERD_PATH to use, or SANDBOX_E2E_UNAVAILABLE with the reason the suite then skips for.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OFFLINE_TOOLS = ROOT.parent / "shared" / "workerd-offline"
OFFLINE_BUILD = ROOT / ".workerd-offline"
WORKERD = ROOT / "node_modules" / "@cloudflare" / "workerd-linux-64"
# How long workerd may take to download its Python runtime (about 13 MB) and answer.
DOWNLOAD_SECONDS = 120
PROBE_WORKER = """from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("ok")
"""
PROBE_CONFIG = """using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = (modules = [(name = "probe.py", pythonModule = embed "probe.py")],
               compatibilityDate = "{date}",
               compatibilityFlags = ["python_workers", "disable_python_external_sdk"]))],
  sockets = [(name = "http", address = "127.0.0.1:{port}", http = (), service = "main")],
);
"""
# The Worker's packages for Pyodide 314: its dependencies and theirs, from .pyodide/wheels.
WORKER_PACKAGES = (
    "pydantic", "pydantic-core", "typing-extensions", "annotated-types", "typing-inspection",
    "workers-runtime-sdk",
)  # fmt: skip


class Unavailable(Exception):
    """Neither way to a runtime works here; the message says why."""


def download_works() -> bool:
    """Whether workerd, given an empty cache, can fetch its Python runtime and serve a Python Worker.
    Offline it exits at once, naming the file it could not download."""
    date = compatibility_date()
    with tempfile.TemporaryDirectory(prefix="workerd-download-") as directory, socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
        free.close()
        Path(directory, "probe.py").write_text(PROBE_WORKER)
        Path(directory, "probe.capnp").write_text(PROBE_CONFIG.format(date=date, port=port))
        Path(directory, "cache").mkdir()
        workerd = subprocess.Popen(
            [str(WORKERD / "bin" / "workerd"), "serve", "probe.capnp", "--experimental",
             f"--pyodide-bundle-disk-cache-dir={directory}/cache"],
            cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + DOWNLOAD_SECONDS
            while workerd.poll() is None and time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/", timeout=DOWNLOAD_SECONDS
                    ) as answer:
                        return answer.read() == b"ok"
                except (urllib.error.HTTPError, OSError):
                    time.sleep(0.5)
            return False
        finally:
            workerd.kill()
            workerd.wait()


def compatibility_date() -> str:
    return tomllib.loads((ROOT / "wrangler.toml").read_text())["compatibility_date"]


def run(command: list[str], what: str) -> None:
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise Unavailable(f"{what} failed: {lines[-1] if lines else f'exit status {done.returncode}'}")


def ensure_capnp() -> None:
    """The offline build needs the `capnp` tool; as root (as on CI) it is installed with apt."""
    if shutil.which("capnp"):
        return
    if os.geteuid() != 0:
        raise Unavailable(
            "the offline runtime build needs `capnp` (apt-get install capnproto), and this is not root"
        )
    apt = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    installed = subprocess.run(
        ["apt-get", "install", "-y", "capnproto"], capture_output=True, env=apt, check=False
    )
    if installed.returncode != 0:
        subprocess.run(["apt-get", "update"], capture_output=True, env=apt, check=False)
        run(["apt-get", "install", "-y", "capnproto"], "apt-get install capnproto")


def offline_runtime() -> Path:
    """workerd with the Python runtime rebuilt locally, built once per workerd version."""
    if not (OFFLINE_TOOLS / "build.sh").is_file():
        raise Unavailable(f"the runtime download is unreachable and {OFFLINE_TOOLS} is missing")
    wrapper = OFFLINE_BUILD / "workerd-offline"
    stamp = OFFLINE_BUILD / ".workerd-version"
    version = json.loads((WORKERD / "package.json").read_text())["version"]
    if not (wrapper.is_file() and stamp.is_file() and stamp.read_text() == version):
        ensure_capnp()
        run(
            ["bash", str(OFFLINE_TOOLS / "build.sh"), "node_modules", str(OFFLINE_BUILD)],
            "the offline runtime build",
        )
        stamp.write_text(version)
    return wrapper


def vendor() -> None:
    """What `pywrangler sync` would vendor, from the wheels scripts/pyodide_site.py downloaded (the
    locked versions: the same packages production gets); `pywrangler sync` itself without the tools."""
    if not (OFFLINE_TOOLS / "vendor_offline.py").is_file():
        run(["pywrangler", "sync"], "pywrangler sync")
        return
    wheels = ROOT / ".pyodide" / "wheels"
    chosen = []
    for name in WORKER_PACKAGES:
        pattern = f"{name.replace('-', '_')}-{metadata.version(name)}-*.whl"
        found = sorted(wheels.glob(pattern))
        if not found:
            raise Unavailable(f"no wheel {pattern} in {wheels}: run scripts/pyodide_site.py")
        chosen.append(str(found[0]))
    run([sys.executable, str(OFFLINE_TOOLS / "vendor_offline.py"), ".", *chosen], "vendoring the wheels")


def main() -> None:
    exports: dict[str, str] = {}
    try:
        if os.environ.get("MINIFLARE_WORKERD_PATH"):
            print(
                f"== e2e: workerd from MINIFLARE_WORKERD_PATH={os.environ['MINIFLARE_WORKERD_PATH']}",
                file=sys.stderr,
            )
        elif download_works():
            print("== e2e: workerd downloads its Python runtime", file=sys.stderr)
        else:
            exports["MINIFLARE_WORKERD_PATH"] = str(offline_runtime())
            print(
                "== e2e: no runtime download here; workerd with the runtime built offline from npm pyodide",
                file=sys.stderr,
            )
        vendor()
    except Unavailable as why:
        exports["SANDBOX_E2E_UNAVAILABLE"] = str(why)
        print(f"== e2e: every test skips: {why}", file=sys.stderr)
    for name, value in exports.items():
        print(f"export {name}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
