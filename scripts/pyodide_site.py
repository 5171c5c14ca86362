"""Prepare .pyodide/site-packages: the wheels the test suite needs inside Pyodide.

The versions are the ones uv installed on the host (uv.lock), so both interpreters run the same
pytest and pydantic. Pure-Python wheels are the host's; pydantic_core comes as the WebAssembly wheel
PyPI has for Pyodide 314's platform. Wheels are cached in .pyodide/wheels and unpacked rather than
installed: Pyodide under Node mounts the folder and puts it on sys.path.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WHEELS = ROOT / ".pyodide" / "wheels"
SITE = ROOT / ".pyodide" / "site-packages"
PACKAGES = (
    "pytest", "pluggy", "iniconfig", "packaging", "pygments",
    "pydantic", "typing-extensions", "annotated-types", "typing-inspection",
    "workers-runtime-sdk",
)  # fmt: skip
# Built for Pyodide 314 (CPython 3.14, Emscripten): what production's pydantic_core is.
WASM_PACKAGES = ("pydantic-core",)
WASM_PLATFORM = ["--platform", "pyemscripten_2026_0_wasm32", "--python-version", "3.14",
                 "--implementation", "cp", "--abi", "cp314"]  # fmt: skip


def main() -> None:
    pure = [f"{name}=={metadata.version(name)}" for name in PACKAGES]
    wasm = [f"{name}=={metadata.version(name)}" for name in WASM_PACKAGES]
    stamp = SITE / ".pins"
    if stamp.exists() and stamp.read_text() == "\n".join(pure + wasm):
        return
    WHEELS.mkdir(parents=True, exist_ok=True)
    download(pure)
    download(wasm, *WASM_PLATFORM)
    SITE.mkdir(parents=True, exist_ok=True)
    for pin in pure + wasm:
        name, version = pin.split("==")
        wheel = next(WHEELS.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(SITE)
    stamp.write_text("\n".join(pure + wasm))


def download(pins: list[str], *platform: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--only-binary=:all:", *platform, "--dest", str(WHEELS), *pins],
        check=True,
    )  # fmt: skip


if __name__ == "__main__":
    main()
