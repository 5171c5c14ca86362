"""string: constants and capwords.

Left out: Formatter, whose get_field walks any attribute named in a format string
("{0.__globals__}"), the very path str.format is guarded against; Template, whose class attribute
`flags` is a member of re.RegexFlag, a flag class that keeps every value it is called with
(RegexFlag(n) for any n) for the life of the process.
"""

from __future__ import annotations

from . import FacadeRun, pick

SHARED = True


def members(run: FacadeRun) -> dict[str, object]:
    return pick(
        "string",
        "ascii_letters ascii_lowercase ascii_uppercase digits hexdigits octdigits punctuation "
        "printable whitespace capwords",
    )
