"""decimal: a stand-in Decimal in a bounded context."""

from __future__ import annotations

from ..guards import public_attributes, stand_in_class
from ..limits import bounded_decimal_context, check_decimal
from . import FacadeRun, pick


def members(run: FacadeRun) -> dict[str, object]:
    # Left out: getcontext, setcontext, localcontext and the shared contexts (Default, Basic,
    # Extended): the thread's decimal context is shared by every run and by the host, so one run
    # could change the precision of the next. Context is left out too: a context with a huge
    # precision turns one arithmetic call into an unbounded computation.
    # A run computes in limits.bounded_decimal_context (limits.bound_run restores the host's), and
    # Decimal is a stand-in whose constructor holds exact values to the same bounds.
    import decimal

    members = pick(
        "decimal",
        "DecimalException InvalidOperation DivisionByZero Inexact Rounded Overflow "
        "Underflow Subnormal Clamped FloatOperation ROUND_UP ROUND_DOWN ROUND_CEILING "
        "ROUND_FLOOR ROUND_HALF_UP ROUND_HALF_DOWN ROUND_HALF_EVEN ROUND_05UP",
    )
    decimal.setcontext(bounded_decimal_context())

    def construct(value: object = "0", context: object = None) -> object:
        check_decimal(value)
        result = decimal.Decimal(value) if context is None else decimal.Decimal(value, context)  # type: ignore[arg-type]
        check_decimal(result)
        return result

    def from_number(number: object) -> object:
        check_decimal(number)
        return decimal.Decimal.from_number(number)  # type: ignore[attr-defined]

    stand_in = stand_in_class(decimal.Decimal, construct, public_attributes(decimal.Decimal))
    if hasattr(decimal.Decimal, "from_number"):  # Python 3.14
        type.__setattr__(stand_in, "from_number", staticmethod(from_number))
    members["Decimal"] = stand_in
    return members
