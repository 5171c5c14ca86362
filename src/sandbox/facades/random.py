"""random: a generator of the run's own."""

from __future__ import annotations

from ..limits import as_count, check_bytes, check_int_bits
from . import FacadeRun


def members(run: FacadeRun) -> dict[str, object]:
    budget = run.budget
    # The module-level functions are methods of one generator shared by every run: seeding it in
    # one run would make the next predictable. Each run gets its own generator. Left out:
    # SystemRandom (os.urandom) and the generator's getstate/setstate.
    import random

    generator = random.Random()
    members: dict[str, object] = {
        name: getattr(generator, name)
        for name in [
            "random",
            "uniform",
            "triangular",
            "randint",
            "randrange",
            "choice",
            "choices",
            "sample",
            "shuffle",
            "seed",
            "gauss",
            "normalvariate",
            "lognormvariate",
            "expovariate",
            "vonmisesvariate",
            "gammavariate",
            "betavariate",
            "paretovariate",
            "weibullvariate",
            "getrandbits",
            "randbytes",
            "binomialvariate",
        ]
    }
    members["Random"] = random.Random

    def getrandbits(k: int) -> int:
        bits = as_count(k)
        check_int_bits(budget, bits or 0, "random.getrandbits")
        return generator.getrandbits(k if bits is None else bits)

    def randbytes(n: int) -> bytes:
        size = as_count(n)
        check_bytes(budget, size or 0, "random.randbytes")
        return generator.randbytes(n if size is None else size)

    members.update(getrandbits=getrandbits, randbytes=randbytes)
    return members
