"""Read-only facades of the modules a script may import: one file per module.

A facade exposes a curated public API, not a module: no `__dict__`, no submodules, no path to `sys`,
`os`, `js` or `pyodide`, and no way to assign to it. Each file here is everything a script can reach
of one module: its members, what is left out and why, and the guards on what is handed out. Every
file defines `members(run)`; those whose members hold no per-run state say `SHARED = True`, and their
table is built once per process. Objects with state shared between runs (random's generator,
decimal's context) are replaced per run; calls that could allocate without bound or recurse deep in
one C call are wrapped with the guards in limits.py and guards.py.

A facade's file is imported, with the module it stands for, when code is compiled under a policy
that allows it (`load`), never during a run.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
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
    run's output, the bases the facade makes for the script's classes (enum's guarded ones), and
    the names the script's code holds (the only ones namedtuple may compile into a class)."""

    budget: StepBudget
    made: set[type]
    admit: Callable[[type], type]
    binop: Callable[[str, Any, Any], Any]
    inplace: Callable[[str, Any, Any], Any]
    write: Callable[[str], None]
    bases: set[type] = field(default_factory=set)
    words: frozenset[str] = frozenset()


def pick(module: str, names: str) -> dict[str, object]:
    imported = sys.modules[module]  # imported by `load`, never during a run
    return {name: getattr(imported, name) for name in names.split()}


FACADE_NAMES: frozenset[str] = frozenset(
    {
        "ast", "base64", "bisect", "calendar", "collections", "copy", "csv", "dataclasses",
        "datetime", "decimal", "difflib", "enum", "fractions", "functools", "hashlib", "heapq",
        "html", "io", "itertools", "json", "math", "operator", "pprint", "random", "re",
        "statistics", "string", "textwrap", "time", "typing", "unicodedata", "urllib.parse",
    }
)  # fmt: skip

# Library classes that a priced class of the run's own replaces wherever host code hands the
# script an instance (builtins._replacement): statistics computes with fractions.Fraction inside,
# whether or not the script imported fractions. Their facades are loaded with any other.
REPLACED_CLASSES = (("fractions", "Fraction"), ("decimal", "Decimal"))

# The facades loaded so far, by module name.
_files: dict[str, ModuleType] = {}
_shared_members: dict[str, MappingProxyType[str, object]] = {}


def load(names: Iterable[str]) -> None:
    """Import the facades of `names` (and of REPLACED_CLASSES' modules), each after the module it
    stands for: when code is compiled under a policy (runner.compile_code), with the host's
    builtins, outside any run. A run imports nothing, so no module body runs under a script's
    budget and tracemalloc, after the host's objects were frozen for the teardown, or between the
    self-check's two looks at the engine's modules. Imported with the package, the facades and
    their modules (urllib.parse and ipaddress, html.entities, calendar, csv, pprint, hashlib) were
    120 ms of every Pyodide start, where the default policy allows three."""
    for name in sorted(FACADE_NAMES & {*names, *(module for module, _ in REPLACED_CLASSES)}):
        if name not in _files:
            importlib.import_module(name)
            _files[name] = importlib.import_module(f"{__name__}.{name}")


def facade(name: str, run: FacadeRun) -> ModuleFacade:
    """A facade for one run, of a facade `load` imported. Shared members are computed once; the
    object is always new, so nothing a run does to its facade (it cannot do anything) could reach
    another."""
    file = _files[name]
    if not getattr(file, "SHARED", False):
        return ModuleFacade(name, file.members(run))
    if name not in _shared_members:
        _shared_members[name] = MappingProxyType(file.members(run))
    return ModuleFacade(name, _shared_members[name])


def _functools_caches() -> list[Callable[..., Any]]:
    """The process-wide lru_caches that facades call with a run's arguments."""
    parse, regex = sys.modules.get("urllib.parse"), sys.modules.get("re")
    caches = [getattr(parse, "urlsplit", None), getattr(parse, "_byte_quoter_factory", None)]
    caches.append(getattr(regex, "_compile_template", None))
    return [cache for cache in caches if hasattr(cache, "cache_clear")]


def empty_host_caches() -> None:
    """After every run, once monitoring is off: empty every host cache a facade fills with what a
    run gave it: urlsplit's, quote's, strptime's, re's (strptime compiles through it), re's
    substitution templates and the codecs' search. Whatever a run left there would outlive it: a
    key of its own making, whose __eq__ would run at a later lookup (the host's included); text
    the isolate keeps (128 URLs of a run's size); and a hit or a miss that a later run can tell
    apart by its steps without a clock (a hit skips urlsplit's Python body: 72 steps, not 90),
    which told one run the URLs, formats and encoding names another had used."""
    regex = sys.modules.get("re")
    strptime = sys.modules.get("_strptime")
    encodings = sys.modules.get("encodings")
    for table in (
        getattr(regex, "_cache", None),
        getattr(regex, "_cache2", None),
        getattr(strptime, "_regex_cache", None),
        getattr(encodings, "_cache", None),
    ):
        if type(table) is dict:
            table.clear()
    for function in _functools_caches():
        function.cache_clear()  # type: ignore[attr-defined]
