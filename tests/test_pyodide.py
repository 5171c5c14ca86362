"""Pyodide-only: the interpreter production runs holds the modules an escape would want most."""

from __future__ import annotations

import sys

import pytest

from sandbox import Limits

from .support import IN_PYODIDE, contained, refused

pytestmark = pytest.mark.skipif(not IN_PYODIDE, reason="js, pyodide and pyodide_js exist only inside Pyodide")

PYODIDE_MODULES = ["js", "pyodide", "pyodide.ffi", "pyodide.http", "pyodide_js", "_pyodide"]


@pytest.fixture(scope="module", autouse=True)
def host_has_loaded_them():
    # Make sure the targets are really there, as they are in a Worker, so the tests mean something.
    import importlib

    for name in PYODIDE_MODULES:
        importlib.import_module(name)
    assert all(name in sys.modules for name in PYODIDE_MODULES)


@pytest.mark.parametrize("module", PYODIDE_MODULES)
def test_pyodide_module_import_is_blocked(module):
    refused(f"import {module}", f"Blocked import detected: {module.split('.')[0]}")


@pytest.mark.parametrize("module", PYODIDE_MODULES)
def test_pyodide_module_from_import_is_blocked(module):
    refused(f"from {module} import x", "Blocked import detected")


@pytest.mark.parametrize(
    "code",
    [
        "print(getattr(print, '__glob' + 'als__'))",
        "import json\nprint('{0.__globals__[sys].modules[js]}'.format(json.loads))",
        "import re\nprint(re.sys.modules['js'])",
        "import json\nprint(json.loads('1').__class__)",
    ],
)
def test_module_chains_to_js_are_cut(code):
    result = contained(code)
    assert not result.success
    assert "JsProxy" not in (result.output or "") and "<module" not in (result.output or "")


def test_deep_python_recursion_ends_cleanly_in_webassembly():
    result = contained("def f(n):\n    return f(n + 1)\nf(0)")
    assert result.error.startswith("RecursionError")


def test_deep_structure_freed_at_the_end_does_not_kill_the_interpreter():
    # Freeing a 20,000-deep list recursed in C and overflowed the WebAssembly stack.
    result = contained("x = []\nfor _ in range(20000):\n    x = [x]\nprint('built')", Limits())
    assert result.output == "built"


def test_deep_chain_of_objects_freed_at_the_end_does_not_kill_the_interpreter():
    code = "class Node:\n    pass\nhead = None\nfor _ in range(20000):\n    n = Node()\n    n.next = head\n    head = n\nprint('built')"
    assert contained(code, Limits()).output == "built"


def test_time_budget_holds_without_the_wall_clock():
    # In a Worker the clock may stand still during synchronous code; the step count alone stops it.
    import time

    real = time.perf_counter
    time.perf_counter = lambda: 0.0
    try:
        result = contained("while True:\n    pass", Limits(timeout_ms=100))
    finally:
        time.perf_counter = real
    assert result.error_type == "timeout"


def test_deep_structure_held_by_a_kept_traceback_is_freed_safely():
    # The structure is reachable only through the exception the script kept: its traceback, the
    # frame, the frame's locals.
    code = """
def build():
    x = []
    for _ in range(20000):
        x = [x]
    raise ValueError('kept')
try:
    build()
except ValueError as error:
    kept = error
print('kept')
"""
    assert contained(code, Limits()).output == "kept"


def test_deep_structure_in_a_function_stopped_by_the_budget_is_freed_safely():
    # The budget stops the function mid-build; its frame, in the stopping exception's traceback,
    # holds the chain.
    code = "def build():\n    x = []\n    while True:\n        x = [x]\nbuild()"
    assert contained(code, Limits(timeout_ms=300)).error_type == "timeout"
