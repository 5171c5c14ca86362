# Sourced by scripts/sandbox and scripts/test: installs what the project needs, idempotently.
# Host Python comes from .python-version (3.13) through pyenv; uv from PyPI; Node tools from npm.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! python3 -m uv --version >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check uv >&2
fi
uv() { python3 -m uv "$@"; }

uv sync --quiet --frozen >&2
