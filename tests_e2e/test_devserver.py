"""The dev-server harness itself: a server's whole process tree stops with it (needs no runtime)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from . import devserver
from .devserver import group_alive, spawn, stop

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc (Linux)")


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_server_runs_in_its_own_process_group_and_stops_with_all_its_children(tmp_path):
    # As `pywrangler dev` does: a leader that starts children (npm, node, workerd) and waits.
    pids = tmp_path / "pids"
    server = spawn(["sh", "-c", f"sleep 300 & echo $! >> {pids}; sleep 300 & echo $! >> {pids}; wait"])
    deadline = time.monotonic() + 10
    while len(pids.read_text().split() if pids.exists() else []) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    children = [int(pid) for pid in pids.read_text().split()]
    assert os.getpgid(server.process.pid) == server.process.pid != os.getpgid(0)
    assert all(os.getpgid(child) == server.process.pid for child in children)
    stop(server)
    assert not group_alive(server.process.pid)
    assert not any(running(child) for child in children)


def test_a_child_that_ignores_sigterm_is_killed(tmp_path, monkeypatch):
    monkeypatch.setattr(devserver, "STOP_SECONDS", 1)
    pids = tmp_path / "pids"
    server = spawn(["sh", "-c", f"sh -c 'trap \"\" TERM; sleep 300' & echo $! > {pids}; wait"])
    deadline = time.monotonic() + 10
    while not (pids.exists() and pids.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    stubborn = int(pids.read_text())
    stop(server)
    assert not running(stubborn)
