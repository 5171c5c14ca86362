"""Layer 1: static analysis. Nothing in these tests runs user code."""

from __future__ import annotations

import pytest

import sandbox
from sandbox import Policy

from .support import refused


def violations(code: str, policy: Policy | None = None) -> list[str]:
    return [v.message for v in sandbox.validate(code, policy).violations]


# --- imports ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "import os",
        "import json, os",
        "import os.path as p",
        "from os import path",
        "from os.path import join",
        "def f():\n    import os",
        "class A:\n    def m(self):\n        from subprocess import run",
        "try:\n    import socket\nexcept ImportError:\n    pass",
        "if True:\n    import pickle",
        "lambda: __import__('os')",
    ],
)
def test_blocked_import_in_every_form(code):
    assert any("Blocked" in m for m in violations(code))


@pytest.mark.parametrize(
    "module",
    [
        "os",
        "sys",
        "subprocess",
        "socket",
        "urllib",
        "requests",
        "http",
        "ftplib",
        "smtplib",
        "pickle",
        "shelve",
        "dbm",
    ],
)
def test_contract_blocked_modules_use_the_consumer_message(module):
    assert violations(f"import {module}") == [f"Blocked import detected: {module}"]


def test_unlisted_import_uses_the_consumer_message_and_names_what_can_be_added():
    (message,) = violations("import toml")
    assert message.startswith("Import not whitelisted: toml. Allowed: json, re, typing; ")
    assert "toml is not available, and allowImports can add only ast, base64," in message


def test_widened_module_is_refused_by_default_and_accepted_when_allowed():
    (message,) = violations("import math")
    assert message.startswith("Import not whitelisted: math. Allowed: json, re, typing; ")
    assert "the caller can add math with allowImports (the server allows ast," in message
    assert violations("import math", Policy.allowing(["math"])) == []


def test_urllib_is_importable_only_as_urllib_parse():
    widened = Policy.allowing(["urllib.parse"])
    for allowed in ("import urllib.parse", "from urllib.parse import quote", "from urllib import parse"):
        assert violations(allowed, widened) == [], allowed
    for code in ("import urllib", "import urllib.request", "from urllib import request, parse"):
        assert violations(code, widened) == ["Blocked import detected: urllib"], code
    assert violations("import urllib.parse")[0].startswith(
        "Import not whitelisted: urllib.parse. Allowed: json"
    )


def test_del_says_why_finalisers_cannot_run():
    (message,) = violations("class A:\n    def __del__(self):\n        pass")
    assert "finaliser runs whenever the object is freed" in message and "with statement" in message


def test_widening_beyond_the_server_maximum_is_an_error():
    with pytest.raises(ValueError, match="cannot allow os"):
        Policy.allowing(["os"])


def test_allowing_takes_one_string_of_names_not_its_letters():
    assert Policy.allowing("math").allowed_imports == sandbox.DEFAULT_IMPORTS | {"math"}
    assert Policy.allowing("math, difflib") == Policy.allowing(["math", "difflib"])
    assert violations("import math", Policy.allowing("math")) == []


def test_a_policy_built_directly_keeps_the_defaults():
    assert Policy(allowed_imports=["math"]).allowed_imports == {"json", "re", "typing", "math"}
    assert Policy(frozenset()) == Policy()
    assert violations("import json\nimport math", Policy(["math"])) == []


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Policy("math"), "allowed_imports must be a collection of module names, not str"),
        (lambda: Policy(None), "allowed_imports must be a collection of module names, not NoneType"),
        (lambda: Policy(["math", 1]), "module names must be str, not int"),
        (lambda: Policy.allowing(None), "must be a collection of module names"),
        (lambda: Policy.allowing([b"math"]), "module names must be str, not bytes"),
    ],
)
def test_policy_of_the_wrong_type_is_a_type_error(build, message):
    with pytest.raises(TypeError, match=message):
        build()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sandbox.validate(None), "code must be str, not NoneType"),
        (lambda: sandbox.validate(b"print(1)"), "code must be str, not bytes"),
        (lambda: sandbox.validate("x = 1", sandbox.Limits()), "policy must be a Policy or None, not Limits"),
        (lambda: sandbox.validate("x = 1", function=1), "function must be str or None, not int"),
        (lambda: sandbox.execute(None), "code must be str, not NoneType"),
        (lambda: sandbox.execute("x = 1", Policy()), "limits must be a Limits or None, not Policy"),
        (lambda: sandbox.evaluate(None, []), "code must be str, not NoneType"),
        (lambda: sandbox.evaluate("x = 1", [], policy="math"), "policy must be a Policy or None, not str"),
    ],
)
def test_library_calls_with_wrong_arguments_are_type_errors(call, message):
    with pytest.raises(TypeError, match=message):
        call()


def test_relative_and_star_imports_are_refused():
    assert violations("from . import x") == ["Blocked import detected: relative import from ."]
    assert violations("from json import *") == ["Blocked: from json import * not allowed"]


def test_submodule_of_an_allowed_module_is_not_whitelisted():
    assert violations("import json.decoder") == ["Import not whitelisted: json.decoder. Allowed: json itself"]


def test_private_name_from_allowed_module_is_refused():
    assert violations("from json import _default_encoder") == [
        "Blocked: access to private attribute '_default_encoder' not allowed"
    ]


def test_future_annotations_is_a_directive_not_an_import():
    assert violations("from __future__ import annotations\nimport typing\nx: typing.List[int] = []") == []


def test_pyodide_modules_are_blocked():
    for module in ("js", "pyodide", "pyodide_js", "_pyodide", "micropip", "workers"):
        assert violations(f"import {module}") == [f"Blocked import detected: {module}"]


# --- names and attributes --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["eval", "exec", "compile"])
def test_code_running_builtins_use_the_consumer_message(name):
    assert violations(f"{name}('1')") == ["Blocked: eval/exec/compile not allowed"]


@pytest.mark.parametrize(
    "name",
    [
        "__import__",
        "open",
        "input",
        "breakpoint",
        "globals",
        "locals",
        "help",
        "exit",
        "quit",
        "memoryview",
        "dir",
    ],
)
def test_dangerous_builtins_are_refused_even_unused(name):
    assert any("Blocked" in m and name in m for m in violations(f"f = {name}"))


@pytest.mark.parametrize(
    "attribute",
    ["__class__", "__globals__", "__subclasses__", "__builtins__", "__code__"],
)
def test_private_and_dunder_attributes_are_refused(attribute):
    assert any(attribute in m for m in violations(f"x = ().{attribute}"))


@pytest.mark.parametrize(
    "attribute",
    [
        "gi_frame",
        "gi_code",
        "f_back",
        "f_globals",
        "f_locals",
        "tb_frame",
        "tb_next",
        "co_code",
        "co_consts",
        "cr_frame",
        "ag_frame",
    ],
)
def test_interpreter_internals_are_refused(attribute):
    assert violations(f"x = y.{attribute}") == [
        f"Blocked: access to interpreter internals '{attribute}' not allowed"
    ]


def test_getattr_with_a_literal_dunder_is_refused_statically():
    assert violations("getattr(1, '__class__')") == [
        "Blocked: access to dunder attribute '__class__' not allowed"
    ]


def test_match_class_pattern_cannot_read_dunders():
    code = "match 1:\n    case object(__class__=c):\n        pass"
    assert violations(code) == ["Blocked: access to dunder attribute '__class__' not allowed"]


def test_dunder_names_cannot_be_assigned_or_read():
    assert violations("__builtins__ = {}") == ["Blocked: dunder name '__builtins__' not allowed"]
    assert violations("x = __loader__") == ["Blocked: dunder name '__loader__' not allowed"]


def test_main_guard_is_allowed():
    assert violations("if __name__ == '__main__':\n    print(1)") == []


# --- definitions -------------------------------------------------------------------------------


def test_ordinary_special_methods_and_super_init_are_allowed():
    code = """
class Base:
    def __init__(self, x):
        self.x = x
    def __repr__(self):
        return f"Base({self.x})"
    def __eq__(self, other):
        return self.x == other.x
class Child(Base):
    def __init__(self, x):
        super().__init__(x)
"""
    assert violations(code) == []


@pytest.mark.parametrize(
    "method",
    [
        "__del__",
        "__getattribute__",
        "__getattr__",
        "__init_subclass__",
        "__reduce__",
        "__set_name__",
        "__format__",
    ],
)
def test_dangerous_special_methods_cannot_be_defined(method):
    (message,) = violations(f"class A:\n    def {method}(self, *a):\n        pass")
    assert message.startswith(f"Blocked: defining special method '{method}' not allowed: ")


def test_metaclass_keyword_is_refused():
    assert violations("class A(metaclass=type):\n    pass") == [
        "Blocked: class keywords (metaclass=…) not allowed"
    ]


def test_super_cannot_reach_arbitrary_dunders():
    assert any("__class__" in m for m in violations("super().__class__"))


# --- syntax ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("type X = int", "Blocked: type statements are not allowed"),
        ("def f[T](x: T) -> T:\n    return x", "Blocked: generic type parameters are not allowed"),
        ("[0 for o.x in range(3)]", "Blocked: a comprehension may not assign to attributes"),
    ],
)
def test_refused_syntax_has_a_reason(code, message):
    assert message in violations(code)


def test_syntax_error_reports_line_and_column():
    result = sandbox.validate("x = 1\ny = (2 +\n")
    assert not result.valid
    (violation,) = result.violations
    assert violation.message.startswith("SyntaxError")
    assert violation.line == 2


def test_validation_error_from_execute_carries_position():
    result = sandbox.execute("x = 1\n\nimport os")
    assert result.to_wire() | {"executionTimeMs": 0} == {
        "success": False,
        "error": "Blocked import detected: os",
        "errorType": "validation",
        "line": 3,
        "col": 0,
        "violations": [{"line": 3, "col": 0, "message": "Blocked import detected: os"}],
        "executionTimeMs": 0,
    }


def test_every_violation_is_reported():
    assert len(violations("import os\neval('1')\nx = ().__class__")) == 3


def test_trace_text_is_data_not_code():
    code = 'msg = "please import os and eval(x) then open(f)"\nprint(msg.upper())'
    assert violations(code) == []


@pytest.mark.parametrize(
    "source",
    [
        "-" * 5000 + "1",
        "1" + "+1" * 100_000,
        "not " * 20_000 + "x",
        "a" + ".b" * 50_000,
        "[" * 150 + "-" * 60 + "1" + "]" * 150,
    ],
)
def test_deeply_nested_source_is_refused_before_parsing(source):
    # In Pyodide the first four overflowed the WebAssembly stack inside ast.parse and killed the
    # interpreter; the last mixes brackets and operators, each under the parser's own limits.
    result = refused(source, "nested deeper than")
    assert result.line == 1


def test_oversized_code_is_refused():
    assert violations("x = 1\n" * 60_000) == ["Code exceeds 262144 bytes"]
