"""A sandbox for untrusted Python: static analysis, curated builtins and module facades, budgets.

The public surface is small: `execute` runs a script, `validate` only analyses it; `Limits` and
`Policy` say what a run may spend and import; results are frozen dataclasses with `to_wire()`.
"""

from .limits import Limits
from .policy import DEFAULT_IMPORTS, MAX_IMPORTS, Policy, Violation
from .results import ExecutionResult, ValidationResult
from .runner import execute, validate

__all__ = [
    "DEFAULT_IMPORTS",
    "MAX_IMPORTS",
    "ExecutionResult",
    "Limits",
    "Policy",
    "ValidationResult",
    "Violation",
    "execute",
    "validate",
]
