"""fractions: a Fraction of the run's own whose arithmetic is priced."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..limits import (
    StepBudget,
    as_count,
    charge,
    check_fraction_input,
    check_pow,
    check_rational,
    check_round,
    div_ms,
    gcd_ms,
    int_bits,
    plain,
)
from . import FacadeRun

_FRACTION_OPERATORS = {
    "__add__": "Add", "__sub__": "Sub", "__mul__": "Mult", "__truediv__": "Div",
    "__floordiv__": "FloorDiv", "__mod__": "Mod", "__divmod__": "FloorDiv",
    "__lt__": "Compare", "__le__": "Compare", "__gt__": "Compare", "__ge__": "Compare",
}  # fmt: skip


def members(run: FacadeRun) -> dict[str, object]:
    budget = run.budget
    # Fraction is written in Python, but every operation reduces its result with math.gcd, which
    # is quadratic in C: x + Fraction(1, x.denominator + 1) doubles the denominator's size, and
    # twenty such additions make one gcd take seconds. The run's Fraction is a subclass whose
    # constructor and operators are measured (limits.check_rational, check_pow, check_round)
    # before they run, and whose results are its own instances.
    from fractions import Fraction as Real

    def own(value: object) -> object:
        if type(value) is Real:
            numerator, denominator = value.as_integer_ratio()  # type: ignore[attr-defined]
            return Fraction._from_coprime_ints(numerator, denominator)
        if type(value) is tuple:
            return tuple(own(item) for item in value)  # divmod
        return value

    class Fraction(Real):
        __slots__ = ()
        __doc__ = Real.__doc__

        def __new__(cls, numerator: Any = 0, denominator: Any = None) -> Any:
            check_fraction_input(budget, numerator, denominator)
            return super().__new__(cls, numerator, denominator)

        def __pow__(self, other: Any, *modulo: Any) -> Any:
            check_pow(budget, self, other)
            return own(Real.__pow__(self, other, *modulo))

        def __rpow__(self, other: Any, *modulo: Any) -> Any:
            check_pow(budget, other, self)
            return own(Real.__rpow__(self, other, *modulo))

        def __round__(self, ndigits: Any = None) -> Any:
            places = None if ndigits is None else as_count(ndigits)
            if places is not None:
                check_round(budget, self, places)
            return own(Real.__round__(self, ndigits if places is None else places))

        def __format__(self, format_spec: str) -> str:
            # Precision digits become a power of ten in Fraction's own formatting code.
            # Read as C reads the spec: a str subclass's own __getitem__ could hide the digits.
            digits = [int(run) for run in re.findall(r"\d+", plain(format_spec)[:256]) if len(run) < 13]
            check_round(budget, self, max(digits, default=0))
            return Real.__format__(self, format_spec)

        def limit_denominator(self, max_denominator: int = 1000000) -> Any:
            numerator, denominator = self.as_integer_ratio()
            charge(budget, gcd_ms(int_bits(numerator), int_bits(denominator)), "Fraction.limit_denominator")
            return own(Real.limit_denominator(self, max_denominator))

    def priced(name: str, op: str, reflected: bool) -> Callable[..., Any]:
        real = getattr(Real, name)

        def method(self: Any, other: Any) -> Any:
            check_rational(budget, op, *((other, self) if reflected else (self, other)))
            return own(real(self, other))

        method.__name__ = method.__qualname__ = name
        return method

    for name, op in _FRACTION_OPERATORS.items():
        type.__setattr__(Fraction, name, priced(name, op, reflected=False))
        mirrored = "__r" + name[2:]
        if op != "Compare":
            type.__setattr__(Fraction, mirrored, priced(mirrored, op, reflected=True))
    for name in ("__floor__", "__ceil__", "__trunc__", "__int__"):
        type.__setattr__(Fraction, name, _integral_part(budget, getattr(Real, name)))
    for name in ("__neg__", "__pos__", "__abs__"):
        real = getattr(Real, name)
        type.__setattr__(Fraction, name, lambda self, real=real: own(real(self)))
    return {"Fraction": Fraction}


def _integral_part(budget: StepBudget, real: Callable[[Any], int]) -> Callable[[Any], int]:
    def method(self: Any) -> int:
        numerator, denominator = self.as_integer_ratio()
        charge(budget, div_ms(int_bits(numerator), int_bits(denominator)), "a fraction's integer part")
        return real(self)

    return method
