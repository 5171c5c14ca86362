"""itertools: every iterator counted, and what sizes a C allocation measured first."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..counting import counted, counted_from
from ..guards import plain_keywords
from ..limits import as_count, check_bytes
from . import FacadeRun


def members(run: FacadeRun) -> dict[str, object]:
    budget = run.budget
    # Every iterator is handed out wrapped by `counted`: a C consumer (list(), max(), set()) of
    # permutations(range(12)), chain(*[s] * 1000) or accumulate over strings would otherwise run
    # for minutes, or fill memory, inside one C call. Arguments that size a C allocation up front
    # (product's copied pools, batched's tuple, tee's copies, the r of the combinatorics) are
    # measured first and passed on as the plain ints measured.
    members: dict[str, object] = {
        name: _counting(getattr(itertools, name))
        for name in dir(itertools)
        if not name.startswith("_") and isinstance(getattr(itertools, name), type)
    }

    def product(*iterables: Iterable[object], repeat: int = 1) -> Iterator[tuple[object, ...]]:
        pools = [tuple(pool) for pool in iterables]
        times = as_count(repeat)
        if times is not None:
            # C allocates a slot, an index and a result slot per pool and repetition, whatever
            # the pools hold (one empty pool made the old estimate 0), and copies each pool's items.
            slots = len(pools) * 3 + sum(len(p) for p in pools)
            check_bytes(budget, slots * max(times, 0) * 8, "itertools.product")
        return counted(itertools.product(*pools, repeat=repeat if times is None else times))

    def _sized(name: str, position: int, item_bytes: int) -> Callable[..., Iterator[Any]]:
        real = getattr(itertools, name)

        def call(*args: Any, **kwargs: Any) -> Iterator[Any]:
            arguments, kwargs = list(args), plain_keywords(kwargs)  # the size is looked for by name
            keyword = {"batched": "n", "tee": "n"}.get(name, "r")
            if len(arguments) > position:
                arguments[position] = size = as_count(arguments[position])
            elif keyword in kwargs:
                kwargs[keyword] = size = as_count(kwargs[keyword])
            else:
                size = None
            if size is not None:
                check_bytes(budget, size * item_bytes, f"itertools.{name}")
            result = real(*arguments, **kwargs)
            if name == "tee":
                # The C copies share a buffer the teardown cannot empty: a ring through it (a chain
                # that holds a copy, buffered by its sibling) was freed recursively by the
                # collector. Handed out counted, each copy is held by what the teardown empties.
                return tuple(counted_from([copy]) for copy in result)
            return counted(result)

        call.__name__ = call.__qualname__ = name
        call.__doc__ = real.__doc__
        return call

    # count, cycle and repeat never end (or end after any number of items) inside C, where
    # list(), sum() or any() would consume them unseen by the step count. As generators written
    # here, every item they yield is a counted step.
    def count(start: Any = 0, step: Any = 1) -> Iterator[Any]:
        value = start
        while True:
            yield value
            value += step

    def cycle(iterable: Iterable[Any]) -> Iterator[Any]:
        saved = list(iterable)
        while saved:
            yield from saved

    def repeat(value: Any, times: int | None = None) -> Iterator[Any]:
        if times is None:
            while True:
                yield value
        for _ in range(times):
            yield value

    members.update(
        product=product,
        count=count,
        cycle=cycle,
        repeat=repeat,
        # A tuple of n slots per batch, r indices and r cycles, n tee objects: allocated at once.
        batched=_sized("batched", 1, 8),
        tee=_sized("tee", 1, 96),
        permutations=_sized("permutations", 1, 24),
        combinations=_sized("combinations", 1, 16),
        combinations_with_replacement=_sized("combinations_with_replacement", 1, 16),
    )
    return members


def _counting(kind: type) -> Callable[..., Iterator[Any]]:
    """An itertools class as a function whose iterators are `counted`; `chain.from_iterable` too."""

    def call(*args: Any, **kwargs: Any) -> Iterator[Any]:
        return counted(kind(*args, **kwargs))

    call.__name__ = call.__qualname__ = kind.__name__
    call.__doc__ = kind.__doc__
    if hasattr(kind, "from_iterable"):
        call.from_iterable = lambda iterable: counted(kind.from_iterable(iterable))  # type: ignore[attr-defined]
    return call
