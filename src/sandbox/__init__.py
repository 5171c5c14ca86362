"""A sandbox for untrusted Python: static analysis, curated builtins and module facades, budgets.

The public surface is small: `execute` runs a script, `evaluate` runs an eval function over many
traces, `validate` only analyses; `Limits` and
`Policy` say what a run may spend and import; results are frozen dataclasses with `to_wire()`.
"""

from .evals import BatchExecutionResult, BatchInputError, BatchSummary, TraceResult, evaluate
from .limits import Limits
from .policy import DEFAULT_IMPORTS, MAX_IMPORTS, EntryPoint, Policy, Violation
from .results import ExecutionResult, ValidationResult
from .runner import execute, validate

__all__ = [
    "DEFAULT_IMPORTS",
    "MAX_IMPORTS",
    "BatchExecutionResult",
    "BatchInputError",
    "BatchSummary",
    "EntryPoint",
    "ExecutionResult",
    "Limits",
    "Policy",
    "TraceResult",
    "ValidationResult",
    "Violation",
    "evaluate",
    "execute",
    "validate",
]
