"""Prepare a local Workers runtime that runs Python Workers, for the end-to-end suite (scripts/test-e2e).

workerd downloads its Python runtime from Cloudflare at the first Python Worker. Where that host
answers, the download is used as it is, and `pywrangler sync` vendors the Worker's packages. Where it
does not (machines that reach only the package registries), ../shared/workerd-offline/ rebuilds the
runtime from npm's `pyodide` (its README says how) and the packages are unpacked from the wheels
scripts/pyodide_site.py keeps. Prints shell `export` lines for scripts/test-e2e to eval: the
MINIFLARE_WORKERD_PATH to use, or SANDBOX_E2E_UNAVAILABLE with the reason the suite then skips for.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OFFLINE_TOOLS = ROOT.parent / "shared" / "workerd-offline"
OFFLINE_BUILD = ROOT / ".workerd-offline"
WORKERD_PACKAGE = ROOT / "node_modules" / "@cloudflare" / "workerd-linux-64" / "package.json"
# Where workerd fetches its Python runtime (the URL is in the workerd binary).
RUNTIME_HOST = "https://pyodide-capnp-bin.edgeworker.net/"
# The Worker's packages for Pyodide 314: its dependencies and theirs, from .pyodide/wheels.
WORKER_PACKAGES = (
    "pydantic", "pydantic-core", "typing-extensions", "annotated-types", "typing-inspection",
    "workers-runtime-sdk",
)  # fmt: skip


class Unavailable(Exception):
    """Neither way to a runtime works here; the message says why."""


def download_works() -> bool:
    try:
        urllib.request.urlopen(urllib.request.Request(RUNTIME_HOST, method="HEAD"), timeout=10)
    except urllib.error.HTTPError:
        return True  # the host answered
    except OSError:
        return False
    return True


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
    version = json.loads(WORKERD_PACKAGE.read_text())["version"]
    if not (wrapper.is_file() and stamp.is_file() and stamp.read_text() == version):
        ensure_capnp()
        run(
            ["bash", str(OFFLINE_TOOLS / "build.sh"), "node_modules", str(OFFLINE_BUILD)],
            "the offline runtime build",
        )
        stamp.write_text(version)
    return wrapper


def vendor_offline() -> None:
    """What `pywrangler sync` would vendor, from the wheels scripts/pyodide_site.py downloaded."""
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
            run(["pywrangler", "sync"], "pywrangler sync")
        else:
            exports["MINIFLARE_WORKERD_PATH"] = str(offline_runtime())
            vendor_offline()
            print(
                "== e2e: no runtime download here; workerd with the runtime built offline from npm pyodide",
                file=sys.stderr,
            )
    except Unavailable as why:
        exports["SANDBOX_E2E_UNAVAILABLE"] = str(why)
        print(f"== e2e: every test skips: {why}", file=sys.stderr)
    for name, value in exports.items():
        print(f"export {name}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
