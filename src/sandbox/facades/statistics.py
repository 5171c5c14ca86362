"""statistics: pure functions priced from their data, NormalDist on a generator of the run's own."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from ..limits import StepBudget, check_statistics
from . import FacadeRun, pick


def members(run: FacadeRun) -> dict[str, object]:
    budget = run.budget
    # Pure functions, NormalDist and the StatisticsError. NormalDist.samples() without a seed draws
    # from the `random` module's process-wide generator, which the host and every run share: read
    # through cdf(), its draws give its state away. statistics is pointed at a generator of this
    # run's own (super() reaches the method whatever class is handed out, so the module is what is
    # changed).
    # The functions are Python, but they do exact arithmetic in C on the script's numbers, unpriced
    # by the guards the script's own code meets: variance squares every item (a thousand
    # million-bit integers: minutes), and the sum of fractions with coprime denominators grows
    # with every one. Each call is priced from its data first (limits.check_statistics).
    import random
    import statistics

    statistics.random = types.SimpleNamespace(random=random.Random().random, Random=random.Random)  # type: ignore[attr-defined]
    members = pick(
        "statistics",
        "mean fmean geometric_mean harmonic_mean median median_low median_high median_grouped "
        "mode multimode pstdev pvariance stdev variance quantiles correlation covariance "
        "linear_regression NormalDist StatisticsError",
    )
    for name, function in list(members.items()):
        if isinstance(function, types.FunctionType):
            members[name] = _priced(budget, function, 2 if name in _TWO_DATA else 1)
    return members


_TWO_DATA = frozenset({"correlation", "covariance", "linear_regression", "fmean", "harmonic_mean"})


def _priced(budget: StepBudget, function: Callable[..., Any], data_args: int) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        data = [
            list(arg) if i < data_args and not isinstance(arg, (str, bytes)) else arg
            for i, arg in enumerate(args)
        ]
        for items in data[:data_args]:
            if isinstance(items, list):
                check_statistics(budget, items)
        return function(*data, **kwargs)

    call.__name__ = call.__qualname__ = function.__name__
    call.__doc__ = function.__doc__
    return call
