"""time: reading clocks, nothing else.

Left out: sleep (nothing in the sandbox waits: a sleep would spend the run's budget idle, and in a
Worker the clock does not advance during a request anyway), strftime/strptime (datetime's, in its
facade, do the same), the process-wide timezone state (tzset) and thread clocks.
"""

from __future__ import annotations

from . import FacadeRun, pick

SHARED = True


def members(run: FacadeRun) -> dict[str, object]:
    return pick(
        "time",
        "time time_ns monotonic monotonic_ns perf_counter perf_counter_ns process_time "
        "process_time_ns gmtime localtime mktime struct_time",
    )
