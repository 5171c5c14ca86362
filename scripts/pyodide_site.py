"""Prepare .pyodide/site-packages: the pure-Python wheels the test suite needs inside Pyodide.

The versions are the ones uv installed on the host (uv.lock), so both interpreters run the same
pytest. Wheels come from PyPI through pip, are cached in .pyodide/wheels, and are unpacked rather than
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
PACKAGES = ("pytest", "pluggy", "iniconfig", "packaging", "pygments")


def main() -> None:
    pins = [f"{name}=={metadata.version(name)}" for name in PACKAGES]
    stamp = SITE / ".pins"
    if stamp.exists() and stamp.read_text() == "\n".join(pins):
        return
    WHEELS.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--only-binary=:all:", "--dest", str(WHEELS), *pins],
        check=True,
    )  # fmt: skip
    SITE.mkdir(parents=True, exist_ok=True)
    for pin in pins:
        name, version = pin.split("==")
        wheel = next(WHEELS.glob(f"{name}-{version}-*.whl"))
        if not wheel.name.endswith("-none-any.whl"):
            raise SystemExit(f"{wheel.name} is not a pure-Python wheel")
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(SITE)
    stamp.write_text("\n".join(pins))


if __name__ == "__main__":
    main()
