"""re: matching, with the functions that can outgrow the text searched measured."""

from __future__ import annotations

import operator
import re
from typing import Any

from ..guards import exact_text, guarded_method
from . import FacadeRun, pick


def members(run: FacadeRun) -> dict[str, object]:
    budget = run.budget
    # Everything but purge (clears the host's shared cache) and template/Scanner (undocumented).
    # sub, subn, findall, finditer and split go through the same guards as the Pattern methods, in
    # guards.guarded_method. Patterns and
    # flags are keys of re's process-wide compile cache: they reach it as plain str, bytes and int
    # (guards.exact_text), so no key of a run's making can answer a later lookup. The flags are
    # plain ints: RegexFlag keeps every value it is called with for the life of the process.
    checked = {
        name: guarded_method(budget, re, name, run.made)
        for name in ("sub", "subn", "findall", "finditer", "split")
    }

    def compile(pattern: Any, flags: Any = 0) -> re.Pattern[Any]:
        return re.compile(exact_text(pattern), operator.index(flags))  # type: ignore[call-overload]

    def search(pattern: Any, string: Any, flags: Any = 0) -> Any:
        return re.search(exact_text(pattern), string, operator.index(flags))  # type: ignore[call-overload]

    def match(pattern: Any, string: Any, flags: Any = 0) -> Any:
        return re.match(exact_text(pattern), string, operator.index(flags))  # type: ignore[call-overload]

    def fullmatch(pattern: Any, string: Any, flags: Any = 0) -> Any:
        return re.fullmatch(exact_text(pattern), string, operator.index(flags))  # type: ignore[call-overload]

    def findall(pattern: Any, string: Any, flags: Any = 0) -> Any:
        return checked["findall"](exact_text(pattern), string, flags=operator.index(flags))

    def finditer(pattern: Any, string: Any, flags: Any = 0) -> Any:
        return checked["finditer"](exact_text(pattern), string, flags=operator.index(flags))

    def split(pattern: Any, string: Any, maxsplit: Any = 0, flags: Any = 0) -> Any:
        return checked["split"](exact_text(pattern), string, maxsplit=maxsplit, flags=operator.index(flags))

    def sub(pattern: Any, repl: Any, string: Any, count: Any = 0, flags: Any = 0) -> Any:
        return checked["sub"](exact_text(pattern), repl, string, count=count, flags=operator.index(flags))

    def subn(pattern: Any, repl: Any, string: Any, count: Any = 0, flags: Any = 0) -> Any:
        return checked["subn"](exact_text(pattern), repl, string, count=count, flags=operator.index(flags))

    members: dict[str, object] = {
        "compile": compile, "search": search, "match": match, "fullmatch": fullmatch,
        "findall": findall, "finditer": finditer, "split": split, "sub": sub, "subn": subn,
    }  # fmt: skip
    members.update(pick("re", "escape error Pattern Match"))
    flags = "NOFLAG A ASCII I IGNORECASE M MULTILINE S DOTALL X VERBOSE U UNICODE"
    members.update({name: int(getattr(re, name)) for name in flags.split()})
    return members
