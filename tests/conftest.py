"""The fixture every test runs under."""

import sys

import pytest

import sandbox
from sandbox import runner

from . import support  # noqa: F401 - plants the canary before any test runs


@pytest.fixture
def faulted():
    """For tests that damage the host on purpose: the interpreter is declared sound again after."""
    yield
    runner._fault.clear()


@pytest.fixture(autouse=True)
def interpreter_stays_healthy():
    """After every test, whatever it threw at the sandbox, a normal script still runs."""
    yield
    after = sandbox.execute("import json\nprint(json.dumps(sum(range(10))))")
    fault = runner.interpreter_fault()
    # The test that faulted the interpreter fails here; the tests after it start sound again.
    runner._fault.clear()
    assert fault is None, fault
    assert after.success and after.output == "45", after
    assert sys.getrecursionlimit() >= 1000
    ours = [tool for tool in range(6) if sys.monitoring.get_tool(tool) == "python-sandbox"]
    assert all(sys.monitoring.get_events(tool) == 0 for tool in ours)
