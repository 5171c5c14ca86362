"""The set-up the two commands share (scripts/setup.sh): installs run once, and again only when
what they depend on changed or the installed tree is gone. Run in a copy of the scripts with
stand-ins for uv and npm that record each call."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from .support import IN_PYODIDE

pytestmark = pytest.mark.skipif(IN_PYODIDE, reason="the scripts run on the host; Pyodide has no subprocesses")

SCRIPTS = pathlib.Path(__file__).resolve().parents[1] / "scripts"

# python3 runs as itself except `python3 -m uv ...`; `uv sync` and `npm ci` build a tree and log.
FAKE_PYTHON = """#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "uv" ]; then
  if [ "$3" = "sync" ]; then echo "uv sync" >> "$CALLS"; mkdir -p .venv/bin; touch .venv/bin/python; fi
  exit 0
fi
exec {python} "$@"
"""
FAKE_NPM = """#!/bin/sh
echo "npm $1" >> "$CALLS"
rm -rf node_modules && mkdir -p node_modules/.bin && touch node_modules/.bin/node
"""


@pytest.fixture
def repo(tmp_path):
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPTS / "setup.sh", repo / "scripts" / "setup.sh")
    for name in ("uv.lock", "pyproject.toml", ".python-version", "package-lock.json", "package.json"):
        (repo / name).write_text(f"{name} v1\n")
    tools = tmp_path / "bin"
    tools.mkdir()
    for name, text in (("python3", FAKE_PYTHON.format(python=sys.executable)), ("npm", FAKE_NPM)):
        (tools / name).write_text(text)
        (tools / name).chmod(0o755)
    return repo


def installs(repo: pathlib.Path) -> list[str]:
    """Source the set-up as scripts/test does, from another directory; the installs it ran."""
    calls = repo.parent / "calls.log"
    calls.write_text("")
    env = {**os.environ, "PATH": f"{repo.parent / 'bin'}:{os.environ['PATH']}", "CALLS": str(calls)}
    script = (
        f'source {repo / "scripts" / "setup.sh"} && install_node_tools && test "$CALLER_DIR" = {repo.parent}'
    )
    subprocess.run(["bash", "-c", script], cwd=repo.parent, env=env, check=True, capture_output=True)
    return calls.read_text().split("\n")[:-1]


def test_installs_once_and_skips_while_nothing_changed(repo):
    assert installs(repo) == ["uv sync", "npm ci"]  # a fresh clone installs everything
    assert installs(repo) == []
    assert installs(repo) == []


@pytest.mark.parametrize("changed", ["uv.lock", "pyproject.toml", ".python-version"])
def test_a_changed_python_lock_syncs_again(repo, changed):
    installs(repo)
    (repo / changed).write_text("v2\n")
    assert installs(repo) == ["uv sync"]
    assert installs(repo) == []


@pytest.mark.parametrize("changed", ["package-lock.json", "package.json"])
def test_a_changed_npm_lock_installs_again(repo, changed):
    installs(repo)
    (repo / changed).write_text("v2\n")
    assert installs(repo) == ["npm ci"]


@pytest.mark.parametrize(("removed", "again"), [(".venv", "uv sync"), ("node_modules", "npm ci")])
def test_a_missing_tree_installs_again(repo, removed, again):
    installs(repo)
    shutil.rmtree(repo / removed)
    assert installs(repo) == [again]


def outside_the_venv() -> dict[str, str]:
    """The environment a shell gives the command: pytest runs under `uv run`, whose venv python3
    comes first on PATH and has no uv (the set-up would install one into it)."""
    venv = os.environ.get("VIRTUAL_ENV", str(pathlib.Path(sys.executable).parent.parent))
    path = [entry for entry in os.environ["PATH"].split(os.pathsep) if not entry.startswith(venv)]
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    return {**env, "PATH": os.pathsep.join(path)}


def test_the_sandbox_command_reads_paths_from_the_callers_directory(tmp_path):
    (tmp_path / "hello.py").write_text("print('from the caller')")
    done = subprocess.run(
        [str(SCRIPTS / "sandbox"), "exec", "hello.py"],
        cwd=tmp_path,
        env=outside_the_venv(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert '"output": "from the caller"' in done.stdout


def test_the_wrangler_command_runs_with_the_projects_node_first(repo):
    # node_modules/.bin/wrangler run by hand failed on a machine whose Node was older than 22.12.
    installs(repo)  # node_modules, as scripts/test leaves it
    shutil.copy(SCRIPTS / "wrangler", repo / "scripts" / "wrangler")
    fake = repo / "node_modules" / ".bin" / "wrangler"
    fake.write_text('#!/bin/sh\necho "$(command -v node) $PWD $*"\n')
    fake.chmod(0o755)
    (repo / "node_modules" / ".bin" / "node").chmod(0o755)
    env = {**os.environ, "PATH": f"{repo.parent / 'bin'}:{os.environ['PATH']}", "CALLS": os.devnull}
    done = subprocess.run(
        [str(repo / "scripts" / "wrangler"), "d1", "list"], cwd=repo.parent, env=env, check=True,
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.stdout.split() == [
        str(repo / "node_modules" / ".bin" / "node"),
        str(repo.parent),
        "d1",
        "list",
    ]
