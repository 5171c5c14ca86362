"""Results as values, with the field names callers already read on the wire."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .policy import EntryPoint, Violation

ErrorType = Literal["validation", "timeout", "memory", "output_limit", "runtime", "internal"]
# A trace may also return something that is no verdict, be not run once the batch budget is spent,
# or end because a ctx.call_llm call failed or ran out of its budget.
TraceErrorType = Literal[ErrorType, "invalid_result", "not_run", "llm_error"]


def violation_wire(violation: Violation) -> dict[str, Any]:
    return {"line": violation.line, "col": violation.col, "message": violation.message}


@dataclass(frozen=True)
class ExecutionResult:
    """One run of a script. `to_wire` gives the consumer's shape:
    `{success, output?, error?, errorType?, executionTimeMs}` plus position fields."""

    success: bool
    execution_time_ms: float
    output: str | None = None
    error: str | None = None
    error_type: ErrorType | None = None
    line: int | None = None
    col: int | None = None
    violations: tuple[Violation, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"success": self.success}
        if self.output is not None and (self.success or self.output):
            wire["output"] = self.output
        if self.error is not None:
            wire["error"] = self.error
            wire["errorType"] = self.error_type
        if self.line is not None:
            wire["line"] = self.line
        if self.col is not None:
            wire["col"] = self.col
        if self.violations:
            wire["violations"] = [violation_wire(v) for v in self.violations]
        wire["executionTimeMs"] = self.execution_time_ms
        return wire


@dataclass(frozen=True)
class ValidationResult:
    """What `validate` found, without running anything."""

    valid: bool
    violations: tuple[Violation, ...] = ()
    entry_point: EntryPoint | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "valid": self.valid,
            "violations": [violation_wire(v) for v in self.violations],
        }
        if self.entry_point is not None:
            wire.update(entryPoint=self.entry_point.name, convention=self.entry_point.convention)
        return wire
