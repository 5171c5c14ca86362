"""Read-only facades of the modules a script may import: one file per module.

A facade exposes a curated public API, not a module: no `__dict__`, no submodules, no path to `sys`,
`os`, `js` or `pyodide`, and no way to assign to it. Each file here is everything a script can reach
of one module: its members, what is left out and why, and the guards on what is handed out. Every
file defines `members(run)`; those whose members hold no per-run state say `SHARED = True`, and their
table is built once per process. Objects with state shared between runs (random's generator,
decimal's context) are replaced per run; calls that could allocate without bound or recurse deep in
one C call are wrapped with the guards in limits.py and guards.py.

The files are imported with the package (the engine's self-check compares the set of its modules
before and after every run); the modules they stand for are imported on first use.
"""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import chain, compress, repeat
from operator import is_
from re import Pattern
from types import MappingProxyType, ModuleType
from typing import Any

from ..limits import StepBudget


class ModuleFacade:
    """What `import json` binds in a script: attribute reads of a fixed table, nothing else."""

    __slots__ = ("_facade_members", "_facade_name")

    def __init__(self, name: str, members: Mapping[str, object]) -> None:
        object.__setattr__(self, "_facade_name", name)
        object.__setattr__(self, "_facade_members", MappingProxyType(members))

    def __getattr__(self, attr: str) -> object:
        try:
            return self._facade_members[attr]
        except KeyError:
            raise AttributeError(
                f"module '{self._facade_name}' has no attribute '{attr}' in the sandbox"
            ) from None

    def __setattr__(self, attr: str, value: object) -> None:
        raise AttributeError(f"module '{self._facade_name}' is read-only in the sandbox")

    def __delattr__(self, attr: str) -> None:
        raise AttributeError(f"module '{self._facade_name}' is read-only in the sandbox")

    def __dir__(self) -> list[str]:
        return sorted(self._facade_members)

    def __repr__(self) -> str:
        return f"<module '{self._facade_name}' (sandbox)>"


@dataclass(frozen=True)
class FacadeRun:
    """What a facade may know of the run importing it: its budget, the classes the script made,
    the check every new class passes before the script gets it (builtins.admit_class), the guards
    of the operators that can outgrow their operands (by their ast names: "Mult", "Pow", …), the
    run's output, and the bases the facade makes for the script's classes (enum's guarded ones)."""

    budget: StepBudget
    made: set[type]
    admit: Callable[[type], type]
    binop: Callable[[str, Any, Any], Any]
    inplace: Callable[[str, Any, Any], Any]
    write: Callable[[str], None]
    bases: set[type] = field(default_factory=set)


def pick(module: str, names: str) -> dict[str, object]:
    # Imported on first use, not with the package: statistics, decimal, difflib and the rest would
    # otherwise add tens of milliseconds to every Worker's cold start for modules few runs use.
    imported = importlib.import_module(module)
    return {name: getattr(imported, name) for name in names.split()}


FACADE_NAMES: frozenset[str] = frozenset(
    {
        "ast", "base64", "bisect", "calendar", "collections", "copy", "csv", "dataclasses",
        "datetime", "decimal", "difflib", "enum", "fractions", "functools", "hashlib", "heapq",
        "html", "io", "itertools", "json", "math", "operator", "pprint", "random", "re",
        "statistics", "string", "textwrap", "time", "typing", "unicodedata", "urllib.parse",
    }
)  # fmt: skip

_files: dict[str, ModuleType] = {
    name: importlib.import_module(f"{__name__}.{name}") for name in sorted(FACADE_NAMES)
}
_shared_members: dict[str, MappingProxyType[str, object]] = {}


def facade(name: str, run: FacadeRun) -> ModuleFacade:
    """A facade for one run. Shared members are computed once; the object is always new, so
    nothing a run does to its facade (it cannot do anything) could reach another."""
    file = _files[name]
    if not getattr(file, "SHARED", False):
        return ModuleFacade(name, file.members(run))
    if name not in _shared_members:
        _shared_members[name] = MappingProxyType(file.members(run))
    return ModuleFacade(name, _shared_members[name])


# What a host cache may keep as a key once a run is over: data whose hashing and equality are the
# interpreter's own, so that no later lookup, the host's or another run's, runs a run's code.
_PLAIN_KEYS = frozenset({str, bytes, int, float, complex, bool, type(None), Pattern})


# A typed lru_cache adds the arguments' types to its keys, and an object() between the positional
# and the keyword arguments.
_KEY_PARTS = _PLAIN_KEYS | {type, object, tuple}


# Text a cache may keep across runs, over all its keys: an lru_cache keeps 128 of them, and a run
# could leave one URL or `safe` of tens of MB in each, memory the next runs of the isolate lose.
_KEPT_KEY_TEXT = 64 * 1024


def plain_keys(keys: Iterable[object]) -> bool:
    """Whether every key is plain data, and their text small (`_KEPT_KEY_TEXT`), read level by
    level at C speed and never by recursion (a key nested deep). Looked at after every run: with
    re's caches full (768 keys) about 0.3 ms on CPython and 1 ms in Pyodide, tens of microseconds
    at the few patterns eval code uses."""
    pending = list(keys)
    text = 0
    while pending:
        kinds = list(map(type, pending))
        if not _KEY_PARTS.issuperset(kinds):
            return False
        if not _PLAIN_KEYS.issuperset(compress(pending, map(is_, kinds, repeat(type)))):
            return False
        text += sum(map(len, compress(pending, map(_is_text, kinds))))
        if text > _KEPT_KEY_TEXT:
            return False
        pending = list(chain.from_iterable(compress(pending, map(is_, kinds, repeat(tuple)))))
    return True


def _is_text(kind: type) -> bool:
    return kind is str or kind is bytes


def _functools_caches() -> list[Callable[..., Any]]:
    """The process-wide lru_caches that facades call with a run's arguments."""
    parse, regex = sys.modules.get("urllib.parse"), sys.modules.get("re")
    caches = [getattr(parse, "urlsplit", None), getattr(parse, "_byte_quoter_factory", None)]
    caches.append(getattr(regex, "_compile_template", None))
    return [cache for cache in caches if hasattr(cache, "cache_clear")]


def forget_script_keys() -> None:
    """After every run, once monitoring is off: drop what a run put in a host cache under a key of
    its own making, whose __eq__ would run at a later lookup, the host's included, or whose size
    would stay with the isolate. The facades hand these caches plain text only; this is the second
    line. strptime's, urlsplit's, quote's and re's caches are cleared whole when one of their keys
    is not plain data or their keys' text is large (an lru_cache's keys are read through the
    collector, which lists the dict it keeps them in: nothing of the key runs). re's cache of
    substitution templates, keyed by (pattern, template), is cleared after every run: its pieces
    are the run's strings, which a later run's equal pattern would be handed back."""
    regex = sys.modules.get("re")
    if regex is not None:
        regex._compile_template.cache_clear()
    strptime = sys.modules.get("_strptime")
    cache: dict[Any, Any] | None = getattr(strptime, "_regex_cache", None)
    if type(cache) is dict and not plain_keys(cache):
        cache.clear()
    for table in (getattr(regex, "_cache", None), getattr(regex, "_cache2", None)):
        if type(table) is dict and not plain_keys(table):
            table.clear()
    for function in _functools_caches():
        tables = [part for part in gc.get_referents(function) if type(part) is dict]
        if not plain_keys(chain.from_iterable(tables)):
            function.cache_clear()  # type: ignore[attr-defined]
