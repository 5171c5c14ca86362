"""re: matching, with the functions that can outgrow the text searched measured, and patterns of
the run's own.

re's compile cache is process-wide and keeps each pattern with the very string it was compiled
from: `re.compile(s).pattern is s` told a run whether an earlier run (another trace of the batch,
an earlier request) had compiled that text. The run compiles through a cache of its own, so every
Pattern it gets was compiled from its own string, and nothing it compiles enters re's cache. The
substitution templates re caches by (pattern, template) are dropped after every run
(`facades.empty_host_caches`).
"""

from __future__ import annotations

import operator
import re
from re import _compiler  # type: ignore[attr-defined]  # re.compile without re's shared cache
from typing import Any

from ..guards import exact_text, guarded_method
from . import FacadeRun, pick


def members(run: FacadeRun) -> dict[str, object]:
    budget = run.budget
    # Everything but purge (clears the host's shared cache) and template/Scanner (undocumented).
    # sub, subn, findall, finditer and split are the Pattern methods, through the same guards
    # (guards.guarded_method). Patterns and flags are read as plain str, bytes and int
    # (guards.exact_text): a key of the run's cache is compared with its own __eq__ otherwise. The
    # flags are plain ints: RegexFlag keeps every value it is called with for the life of the
    # process.
    compiled: dict[tuple[type, object, int], re.Pattern[Any]] = {}

    def compile(pattern: Any, flags: Any = 0) -> re.Pattern[Any]:
        pattern, flags = exact_text(pattern), operator.index(flags)
        if flags & re.DEBUG:
            # The compiler prints its parse tree to the host's stdout, past the run's output cap.
            raise ValueError("re.DEBUG is not available in the sandbox")
        if isinstance(pattern, re.Pattern):
            if flags:
                raise ValueError("cannot process flags argument with a compiled pattern")
            return pattern
        if not isinstance(pattern, (str, bytes)):
            raise TypeError("first argument must be string or compiled pattern")
        key = (type(pattern), pattern, flags)
        found = compiled.get(key)
        if found is None:
            found = compiled[key] = _compiler.compile(pattern, flags)
        return found

    def search(pattern: Any, string: Any, flags: Any = 0) -> Any:
        return compile(pattern, flags).search(string)

    def match(pattern: Any, string: Any, flags: Any = 0) -> Any:
        return compile(pattern, flags).match(string)

    def fullmatch(pattern: Any, string: Any, flags: Any = 0) -> Any:
        return compile(pattern, flags).fullmatch(string)

    def findall(pattern: Any, string: Any, flags: Any = 0) -> Any:
        return guarded_method(budget, compile(pattern, flags), "findall", run.made)(string)

    def finditer(pattern: Any, string: Any, flags: Any = 0) -> Any:
        return guarded_method(budget, compile(pattern, flags), "finditer", run.made)(string)

    def split(pattern: Any, string: Any, maxsplit: Any = 0, flags: Any = 0) -> Any:
        return guarded_method(budget, compile(pattern, flags), "split", run.made)(string, maxsplit=maxsplit)

    def sub(pattern: Any, repl: Any, string: Any, count: Any = 0, flags: Any = 0) -> Any:
        return guarded_method(budget, compile(pattern, flags), "sub", run.made)(
            exact_text(repl), string, count=count
        )

    def subn(pattern: Any, repl: Any, string: Any, count: Any = 0, flags: Any = 0) -> Any:
        return guarded_method(budget, compile(pattern, flags), "subn", run.made)(
            exact_text(repl), string, count=count
        )

    members: dict[str, object] = {
        "compile": compile, "search": search, "match": match, "fullmatch": fullmatch,
        "findall": findall, "finditer": finditer, "split": split, "sub": sub, "subn": subn,
    }  # fmt: skip
    members.update(pick("re", "escape error Pattern Match"))
    flags = "NOFLAG A ASCII I IGNORECASE M MULTILINE S DOTALL X VERBOSE U UNICODE"
    members.update({name: int(getattr(re, name)) for name in flags.split()})
    return members
