# Sourced by scripts/sandbox and scripts/test: installs what the project needs, idempotently.
# Host Python comes from .python-version (3.13) through pyenv; uv from PyPI; Node tools from npm.
# An install is skipped while the files it depends on match the digest recorded inside the installed
# tree when it was made: `uv sync` and `npm ci` (426 MB) cost seconds on every call otherwise. A fresh
# clone (CI) has no tree and no record, so it installs everything.
set -euo pipefail
CALLER_DIR="$PWD"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# From here on, in the repository: pyenv picks python3 by the directory's .python-version.
cd "$ROOT"

if ! python3 -m uv --version >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check uv >&2
fi
uv() { python3 -m uv "$@"; }

# digest FILE...: one digest of the files' names and contents.
digest() {
  python3 -c 'import hashlib, sys
digest = hashlib.sha256()
for name in sys.argv[1:]:
    with open(name, "rb") as file:
        digest.update(name.encode() + b"\0" + file.read() + b"\0")
print(digest.hexdigest())' "$@"
}

# install_once TREE PROBE INSTALL FILE...: run the function INSTALL unless
# TREE/PROBE exists and the digest recorded in TREE matches the FILEs; then record it.
install_once() {
  local tree=$1 probe=$2 install=$3
  shift 3
  local wanted
  wanted="$(digest "$@")"
  if [[ -e "$ROOT/$tree/$probe" && "$(cat "$ROOT/$tree/.installed-from" 2>/dev/null)" == "$wanted" ]]; then
    return 0
  fi
  "$install" >&2
  echo "$wanted" > "$ROOT/$tree/.installed-from"
}

sync_python() { uv sync --quiet --frozen; }
install_once .venv bin/python sync_python uv.lock pyproject.toml .python-version

# For scripts/test: wrangler, Node 22 and the Pyodide build production runs.
install_node_tools() {
  npm_ci() { npm ci --no-audit --no-fund --loglevel=error; }
  install_once node_modules .bin/node npm_ci package-lock.json package.json
}
