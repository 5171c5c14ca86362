"""The security suite: escape attempts, each readable on its own, each proving that the canary the
host holds (environment, sys.modules, builtins, a module global, a file) stays out of reach.

`contained` runs the attack with every importable module allowed and asserts the canary is not in
anything the run returned; each test then says how the attack was stopped."""

from __future__ import annotations

import pytest

from .support import CANARY_FILE, contained, refused


def stopped_at_run_time(code: str, fragment: str = "Blocked") -> None:
    result = contained(code)
    assert not result.success, result
    assert result.error_type == "runtime", result
    assert fragment in result.error, result.error


# --- the object graph through dunders: refused by the analyser ----------------------------------

STATIC_ATTACKS = {
    "subclasses of object": "print(().__class__.__base__.__subclasses__())",
    "mro walk": "print(''.__class__.__mro__[1].__subclasses__())",
    "function globals": "def f(): pass\nprint(f.__globals__)",
    "builtin self is the builtins module": "print(print.__self__.SANDBOX_CANARY)",
    "module function globals": "import json\nprint(json.loads.__globals__['sys'].modules['host_secrets'].CANARY)",
    "instance class": "print((1).__class__)",
    "code object": "def f(): pass\nprint(f.__code__.co_consts)",
    "closure cells": "def f():\n    x = 1\n    return lambda: x\nprint(f().__closure__[0].cell_contents)",
    "generator frame": "g = (x for x in [1])\nprint(g.gi_frame.f_back.f_globals)",
    "generator code": "g = (x for x in [1])\nprint(g.gi_code)",
    "traceback frame": "try:\n    1 / 0\nexcept Exception as e:\n    print(e.__traceback__.tb_frame.f_globals)",
    "traceback next": "try:\n    1 / 0\nexcept Exception as e:\n    tb = e.__traceback__\n    print(tb.tb_next)",
    "frame locals by name": "def f(g):\n    return g.f_locals\n",
    "exception context chain": "try:\n    1 / 0\nexcept Exception as e:\n    print(e.__context__)",
    "builtins by name": "print(__builtins__['open'])",
    "loader": "print(__loader__)",
    "spec": "print(__spec__)",
    "import builtin": "print(__import__('os').environ)",
    "import os": "import os\nprint(os.environ['SANDBOX_CANARY'])",
    "import sys": "import sys\nprint(sys.modules['host_secrets'].CANARY)",
    "import importlib": "import importlib\nprint(importlib.import_module('os').environ)",
    "import builtins module": "import builtins\nprint(builtins.SANDBOX_CANARY)",
    "import js": "import js\nprint(js.fetch)",
    "import pyodide": "import pyodide.ffi\nprint(pyodide.ffi)",
    "import workers": "from workers import fetch",
    "import inspect": "import inspect\nprint(inspect.currentframe().f_back.f_globals)",
    "import gc": "import gc\nprint([o for o in gc.get_objects() if o == 'canary'])",
    "relative import": "from . import secrets",
    "submodule of allowed module": "import json.decoder\nprint(json.decoder.scanstring)",
    "private member of allowed module": "from json import _default_encoder",
    "eval": "print(eval('__import__(\"os\").environ'))",
    "exec": "exec('import os')",
    "compile": "compile('1', 'x', 'exec')",
    "open a file": f"print(open({CANARY_FILE!r}).read())",
    "globals()": "print(globals()['__builtins__'])",
    "locals()": "print(locals())",
    "dir()": "print(dir())",
    "breakpoint": "breakpoint()",
    "help": "help(print)",
    "input": "input()",
    "memoryview": "memoryview(b'x')",
    "getattr literal dunder": "print(getattr(print, '__self__'))",
    "match class pattern reads dunder": "match print:\n    case object(__self__=b):\n        print(b)",
    "metaclass keyword": "class M(type):\n    pass\nclass A(metaclass=M):\n    pass",
    "define __del__": "class A:\n    def __del__(self):\n        print('late')",
    "define __getattribute__": "class A:\n    def __getattribute__(self, n):\n        return 1",
    "assign to __builtins__": "__builtins__ = {}",
}


@pytest.mark.parametrize("code", STATIC_ATTACKS.values(), ids=STATIC_ATTACKS.keys())
def test_static_attack_is_refused_before_running(code):
    refused(code, fragment="")  # "Blocked …" or "Import not whitelisted …"


# --- the same walks with computed names: stopped by the run-time guards ---------------------------

RUNTIME_ATTACKS = {
    "getattr computed dunder": "print(getattr((), '__cla' + 'ss__'))",
    "getattr computed frame attribute": "g = (x for x in [1])\nprint(getattr(g, 'gi_' + 'frame'))",
    "hasattr probing still refuses getattr": "name = '__glob' + 'als__'\nprint(hasattr(print, name), getattr(print, name))",
    "getattr through functools.partial": "import functools\nprint(functools.partial(getattr, (), '__cl' + 'ass__')())",
    "getattr through map": "print(list(map(getattr, [()], ['__cl' + 'ass__'])))",
    "getattr through reduce": "import functools\nprint(functools.reduce(getattr, ['__cl' + 'ass__', '__base__'], ()))",
    "getattr through sorted key": "print(sorted([()], key=lambda o: getattr(o, '__cl' + 'ass__')))",
    "setattr computed dunder": "class A: pass\nsetattr(A, '__del' + '__', lambda s: None)",
    "format string attribute": "print('{0.__class__}'.format(1))",
    "format string globals": "import json\nprint('{0.__globals__[sys]}'.format(json.loads))",
    "format string builtin self": "print('{0.__self__.SANDBOX_CANARY}'.format(print))",
    "format_map attribute": "print('{x.__class__}'.format_map({'x': 1}))",
    "unbound str.format": "print(str.format('{0.__class__}', 1))",
    "format method taken as a value": "f = '{0.__class__.__base__}'.format\nprint(f(1))",
    "format method through getattr": "print(getattr('{0.__class__}', 'format')(1))",
    "format method through map": "print(list(map(str.format, ['{0.__class__}'], [1])))",
    "format string private attribute": "import re\nprint('{0._cache}'.format(re.compile('a')))",
    "format string frame attribute": "g = (x for x in [1])\nprint('{0.gi_frame}'.format(g))",
    "nested format spec attribute": "print('{0:{1.__class__}}'.format(1, 2))",
    "type with three arguments": "T = type('T', (), {'__del__': lambda s: None})",
    "type of a class is not the real type": "meta = type(type(1))\nmeta('T', (), {'__del__': print})",
    "subclass of type stand-in": "class M(type):\n    pass\nM('T', (), {})",
    "metaclass from a module class": "import enum\nmeta = type(enum.Enum)\nmeta('T', (), {})",
    "module facade is read-only": "import json\njson.loads = print",
    "class dict": "class A: pass\nprint(A.__dict__)",
    "vars() is the namespace": "print(vars())",
    "vars of a host object": "import json\nprint(vars(json))",
    "private attribute of a host object": "import re\nprint(re.compile('a')._cache)",
    "private attribute class machinery put on a script class": "import enum\nclass E(enum.Enum):\n    A = 1\nprint(E._new_member_)",
    "private attribute inherited from a host base": "import collections\nclass C(collections.Counter):\n    pass\nprint(C()._keep_positive)",
    "private attribute written over a host base's": "import collections\nclass C(collections.Counter):\n    pass\nc = C()\nc._keep_positive = print",
    "private attribute of a facade": "import random\nrandom._os",
    "module facade delete": "import json\ndel json.loads",
    "setattr on facade": "import json\nsetattr(json, 'loads', print)",
    "host class mutation": "import collections\ncollections.Counter.most_common = print",
    "host exception class mutation": "import json\njson.JSONDecodeError.marker = 1",
    "host singleton mutation": "import dataclasses\ndataclasses.MISSING.marker = 1",
    "host instance attribute": "import textwrap\nw = textwrap.TextWrapper()\nw.width = 10",
    "host class via getattr and setattr": "import re\nsetattr(re.error, 'marker', 1)",
    "augmented assignment on a host class": "import datetime\ndatetime.timedelta.resolution += datetime.timedelta(1)",
    "tuple unpacking into a host class": "import collections\ncollections.Counter.a, x = 1, 2",
    "for target on a host class": "import collections\nfor collections.Counter.a in [1]:\n    pass",
    "attrgetter of a dunder": "import operator\nprint(operator.attrgetter('__class__')(1))",
    "attrgetter through a dotted path": "import operator\nprint(operator.attrgetter('real.__class__')(1))",
    "methodcaller of format walks attributes": "import operator\nprint(operator.methodcaller('format', 1)('{0.__class__}'))",
    "with target on a host class": "import collections\nclass C:\n    def __enter__(self):\n        return 1\n    def __exit__(self, *a):\n        return False\nwith C() as collections.Counter.a:\n    pass",
}

RUNTIME_FRAGMENTS = {
    "vars() is the namespace": "vars() takes one argument",
    "vars of a host object": "vars() takes an instance of a class defined in the script",
    "private attribute written over a host base's": "belongs to Counter",
    "private attribute class machinery put on a script class": "which class machinery put there",
    "type with three arguments": "type() takes exactly one argument",
    "type of a class is not the real type": "type() takes exactly one argument",
    "subclass of type stand-in": "cannot be subclassed in the sandbox",
    "metaclass from a module class": "type() takes exactly one argument",
    "module facade delete": "read-only",
    "format string globals": "__globals__",
}


@pytest.mark.parametrize("name", RUNTIME_ATTACKS.keys())
def test_runtime_attack_is_stopped(name):
    stopped_at_run_time(RUNTIME_ATTACKS[name], RUNTIME_FRAGMENTS.get(name, "Blocked"))


# --- what modules hand out leads nowhere ----------------------------------------------------------

UNAVAILABLE_MEMBERS = {
    "typing.get_type_hints evaluates strings": "import typing\ntyping.get_type_hints",
    "typing.ForwardRef evaluates strings": "import typing\ntyping.ForwardRef('x')",
    "typing.Type builds classes": "import typing\ntyping.Type('T', (), {})",
    "string.Formatter walks attributes": "import string\nstring.Formatter().format('{0.__class__}', 1)",
    "string.Formatter get_field": "import string\nstring.Formatter().get_field('0.__class__', (1,), {})",
    "decimal context is shared": "import decimal\ndecimal.getcontext().prec = 1",
    "json encoder class bypasses checks": "import json\njson.JSONEncoder().encode([])",
    "json file functions": "import json\njson.load",
    "re cache purge": "import re\nre.purge()",
    "dataclasses namespace builder": "import dataclasses\ndataclasses.make_dataclass('X', [], namespace={})",
    "enum metaclass": "import enum\nenum.EnumType",
    "functools lists of dunder names": "import functools\nfunctools.WRAPPER_ASSIGNMENTS",
    "random system source": "import random\nrandom.SystemRandom().random()",
    "module attribute that is a module": "import json\njson.decoder",
    "sys through a module": "import re\nre.sys",
}


@pytest.mark.parametrize("code", UNAVAILABLE_MEMBERS.values(), ids=UNAVAILABLE_MEMBERS.keys())
def test_curated_module_members_are_absent(code):
    result = contained(code)
    assert not result.success
    assert "has no attribute" in result.error or result.error_type == "validation", result.error


def test_json_cls_argument_is_refused():
    stopped_at_run_time("import json\njson.dumps([], cls=dict)", "json.dumps(cls=...) is not available")


def test_type_hands_out_only_classes_the_run_can_name():
    # What is reachable without dunders is plain data and the sandbox's own guards; type() of a
    # host object is refused rather than handing out its class.
    code = """
import functools, json
print(json.loads.__name__, type(type).__name__, type(range).__name__, type(1).__name__)
for value in (functools.partial(len).func, print, json, iter([]), {}.keys()):
    try:
        type(value)
    except TypeError as e:
        print(e)
"""
    result = contained(code)
    assert result.output.splitlines() == [
        "loads type type int",
        *(
            f"type() of a {name} object is not available in the sandbox: compare with isinstance()"
            for name in (
                "builtin_function_or_method",
                "function",
                "ModuleFacade",
                "list_iterator",
                "dict_keys",
            )
        ),
    ]


def test_error_messages_carry_no_host_paths():
    result = contained("import json\njson.loads('{')")
    assert result.error.startswith("JSONDecodeError: Expecting property name")
    assert "/" not in result.error and ".py" not in result.error


def test_catching_the_budget_exception_gives_nothing_to_walk():
    code = """
try:
    while True:
        pass
except BaseException as e:
    kind = type(e)
    print(kind.__name__, isinstance(e, Exception), str(e))
"""
    result = contained(code)
    assert result.error_type == "timeout"
    assert result.output == ""


def test_str_subclass_cannot_smuggle_code_into_output():
    code = "class S(str):\n    def __str__(self):\n        return 'custom'\nprint(S('x'))"
    assert contained(code).output == "custom"


SUBCLASS_ATTACKS = {
    "str subclass format": "class S(str):\n    pass\nprint(S('{0.__class__}').format(1))",
    "str subclass unbound format": "class S(str):\n    pass\nprint(S.format('{0.__class__}', 1))",
    "format through super()": "class S(str):\n    def show(self):\n        return super().format(1)\nprint(S('{0.__class__}').show())",
    "format through two-argument super": "class S(str):\n    pass\nprint(super(S, S('{0.__class__}')).format(1))",
    "format_map through a subclass": "class S(str):\n    pass\nprint(S('{x.__class__}').format_map({'x': 1}))",
}


@pytest.mark.parametrize("code", SUBCLASS_ATTACKS.values(), ids=SUBCLASS_ATTACKS.keys())
def test_format_through_str_subclasses_and_super_is_guarded(code):
    stopped_at_run_time(code)


def test_padding_through_a_str_subclass_is_guarded():
    result = contained("class S(str):\n    pass\nx = S('a').ljust(10**10)")
    assert result.error_type == "memory"
