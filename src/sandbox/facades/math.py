"""math: pure functions and constants, with the big-integer ones priced before they run."""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..limits import (
    StepBudget,
    as_count,
    charge,
    check_bytes,
    check_int_bits,
    div_ms,
    gcd_ms,
    int_bits,
    mul_ms,
    spend,
    true_length,
)
from . import FacadeRun


def members(run: FacadeRun) -> dict[str, object]:
    budget = run.budget
    # Pure functions and constants, but some build or reduce integers of any size in one C call:
    # their results are measured against the memory headroom and their running time against the
    # steps left (limits.py's integer model), and their counts are read through operator.index.
    members = {n: getattr(math, n) for n in dir(math) if not n.startswith("_")}

    def factorial(n: int) -> int:
        count = as_count(n)
        if count is not None and count > 2:
            _check_product(budget, _log2_factorial(count), "math.factorial")
        return math.factorial(count if count is not None else n)

    def comb(n: int, k: int) -> int:
        total, chosen = as_count(n), as_count(k)
        if total is not None and chosen is not None and 0 < chosen < total:
            bits = _log2_factorial(total) - _log2_factorial(chosen) - _log2_factorial(total - chosen)
            check_int_bits(budget, bits, "math.comb")
            # Its divisions make it slower than a product of the same size (measured).
            charge(budget, _COMB_MS_AT_1E5_BITS * (bits / 1e5) ** 1.7, "math.comb")
        return math.comb(n if total is None else total, k if chosen is None else chosen)

    def perm(n: int, k: int | None = None) -> int:
        total = as_count(n)
        chosen = total if k is None else as_count(k)
        if total is not None and chosen is not None and 0 < chosen <= total:
            bits = _log2_factorial(total) - _log2_factorial(total - chosen)
            _check_product(budget, bits, "math.perm")
        return math.perm(n if total is None else total, k if chosen is None or k is None else chosen)

    def prod(iterable: Iterable[object], *, start: object = 1) -> object:
        items = [start, *iterable]
        spend(budget, len(items) // 16, "math.prod")
        numbers = [int_bits(x) for x in items if isinstance(x, int)]
        sequences = [x for x in items if isinstance(x, (str, bytes, bytearray, list, tuple))]
        if sequences:
            # A sequence in the product is repeated by every integer in it: ['ab', 10**9].
            # Read by bit length, as C multiplies: an int subclass's __abs__ or __bool__ may lie.
            factor = sum(int_bits(x) for x in items if isinstance(x, int))
            check_bytes(budget, (true_length(sequences[0]) or 0) * 8 * 2.0 ** min(factor, 64), "math.prod")
        else:
            check_int_bits(budget, sum(numbers), "math.prod")
            running, ms = 0, 0.0
            for bits in numbers:
                ms, running = ms + mul_ms(running, bits), running + bits
            charge(budget, ms, "math.prod")
        return math.prod(items[1:], start=start)

    def gcd(*integers: int) -> int:
        return math.gcd(*_check_reduction(budget, integers, "math.gcd", grows=False))

    def lcm(*integers: int) -> int:
        return math.lcm(*_check_reduction(budget, integers, "math.lcm", grows=True))

    def isqrt(n: int) -> int:
        if isinstance(n, int):
            bits = int_bits(n)
            charge(budget, 1.5 * mul_ms(bits / 2, bits / 2), "math.isqrt")
        return math.isqrt(n)

    def sumprod(p: Iterable[object], q: Iterable[object]) -> object:
        left, right = list(p), list(q)
        spend(budget, len(left) // 16, "math.sumprod")
        pairs = [
            (int_bits(a), int_bits(b))
            for a, b in zip(left, right, strict=False)
            if isinstance(a, int) and isinstance(b, int)
        ]
        check_int_bits(budget, max((a + b for a, b in pairs), default=0) + 64, "math.sumprod")
        charge(budget, sum(mul_ms(a, b) for a, b in pairs), "math.sumprod")
        return math.sumprod(left, right)

    members.update(
        factorial=factorial, comb=comb, perm=perm, prod=prod, gcd=gcd, lcm=lcm, isqrt=isqrt, sumprod=sumprod
    )
    return members


# math.comb(n, n // 2) with a result of 10**5 bits, in Pyodide (about twice CPython's 179 ms).
_COMB_MS_AT_1E5_BITS = 400.0


def _log2_factorial(n: int) -> float:
    return math.lgamma(n + 1) / math.log(2)


def _check_product(budget: StepBudget, bits: float, what: str) -> None:
    """factorial and perm multiply by binary splitting: about three multiplications of halves of
    the result (measured: factorial(10**5) takes 255 ms in Pyodide)."""
    check_int_bits(budget, bits, what)
    charge(budget, 3 * mul_ms(bits / 2, bits / 2), what)


def _check_reduction(
    budget: StepBudget, integers: tuple[object, ...], what: str, grows: bool
) -> list[object]:
    """gcd and lcm fold their arguments left to right: a gcd (quadratic) at each one, and for lcm
    a multiplication and a division of a result that grows by each argument. Every argument is
    read through `__index__` once, as C reads it, and the ints read are what math gets; pricing
    goes on to the first one that is not an integer, which C reaches only after folding all
    before it. The arguments to call math with."""
    spend(budget, len(integers) // 16, what)
    numbers: list[object] = [as_count(value) for value in integers]
    running, ms = 0, 0.0
    for position, value in enumerate(numbers):
        if value is None:
            numbers[position] = integers[position]  # math refuses it, having folded the rest
            break
        bits = int_bits(value)  # type: ignore[arg-type]
        ms += gcd_ms(max(running, bits), min(running, bits) if running else bits)
        if grows:
            ms += mul_ms(running, bits) + div_ms(running + bits, bits)
            running += bits
        else:
            running = max(running, bits)
    if grows:
        check_int_bits(budget, running, what)
    charge(budget, ms, what)
    return numbers
