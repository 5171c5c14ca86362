"""difflib: sequence comparison. Pure Python, so its loops are step-counted.

Left out: HtmlDiff, which numbers its tables with a class-wide counter that would tell a run how
many came before it.
"""

from __future__ import annotations

from . import FacadeRun, pick

SHARED = True


def members(run: FacadeRun) -> dict[str, object]:
    return pick(
        "difflib",
        "SequenceMatcher Differ get_close_matches ndiff unified_diff context_diff "
        "restore IS_LINE_JUNK IS_CHARACTER_JUNK diff_bytes",
    )
