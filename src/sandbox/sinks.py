"""Defence at the sinks: the host's own string evaluators refuse to run while a script does.

Both complete escapes found in the ownership round ended in the same place: Python 3.14's forward
references evaluating a string with the real builtins (a host class reached through an operator,
a script `__eq__` handed typing's objects). Those paths are closed where they started; this closes
the place they lead to, so that a path found tomorrow evaluates nothing. No engine path needs any
of these while a run is active: the script's annotations are compiled as text and never evaluated.

The evaluators, from a search of the 3.13 and 3.14 standard libraries for eval() of text they were
given: `ForwardRef.evaluate` / `_evaluate`, `typing.evaluate_forward_ref`, `typing._eval_type`,
`typing.get_type_hints`, annotationlib's `call_evaluate_function`, `call_annotate_function` and
`get_annotations(eval_str=True)` (also bound as `inspect.get_annotations`, which
`inspect.signature(eval_str=True)` calls).
"""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .policy import SandboxViolation

REFUSAL = "Blocked: evaluating annotations or forward references is not allowed in the sandbox"


@dataclass
class _Switch:
    running: bool = False


RUN = _Switch()


def _refusing(function: Callable[..., Any], when: Callable[[dict[str, Any]], bool]) -> Callable[..., Any]:
    def refusing(*args: Any, **kwargs: Any) -> Any:
        if RUN.running and when(kwargs):
            raise SandboxViolation(REFUSAL)
        return function(*args, **kwargs)

    refusing.__name__ = function.__name__
    refusing.__qualname__ = function.__qualname__
    refusing.__doc__ = function.__doc__
    refusing.__sandbox_refusing__ = True  # type: ignore[attr-defined]
    return refusing


def _always(_: dict[str, Any]) -> bool:
    return True


def _evaluating_strings(kwargs: dict[str, Any]) -> bool:
    return bool(kwargs.get("eval_str"))


# (module, owner class or None, attribute, when to refuse)
_TARGETS: tuple[tuple[str, str | None, str, Callable[[dict[str, Any]], bool]], ...] = (
    ("typing", "ForwardRef", "evaluate", _always),
    ("typing", "ForwardRef", "_evaluate", _always),
    ("typing", None, "evaluate_forward_ref", _always),
    ("typing", None, "_eval_type", _always),
    ("typing", None, "get_type_hints", _always),
    ("annotationlib", "ForwardRef", "evaluate", _always),
    ("annotationlib", None, "call_evaluate_function", _always),
    ("annotationlib", None, "call_annotate_function", _always),
    ("annotationlib", None, "get_annotations", _evaluating_strings),
    ("inspect", None, "get_annotations", _evaluating_strings),
)


def install() -> list[str]:
    """Wrap every evaluator this interpreter has, once per process; the names wrapped."""
    wrapped = []
    modules = {"typing": typing, "inspect": inspect}
    for module_name, owner_name, attribute, when in _TARGETS:
        try:
            module = modules.get(module_name) or importlib.import_module(module_name)
        except ImportError:
            continue  # annotationlib is new in 3.14
        owner: Any = getattr(module, owner_name) if owner_name else module
        current = owner.__dict__.get(attribute) if owner_name else getattr(module, attribute, None)
        if current is None or getattr(current, "__sandbox_refusing__", False):
            continue
        setattr(owner, attribute, _refusing(current, when))
        place = f"{owner.__module__}.{owner.__qualname__}" if owner_name else module_name
        wrapped.append(f"{place}.{attribute}")
    return wrapped


INSTALLED = tuple(install())
