"""textwrap: pure text functions over the script's own strings.

TextWrapper's class attribute unicode_whitespace_trans is a dict every wrapper reads: a run that
wrote to it would change how every later run wraps. It is frozen in place, once.

textwrap is written in Python, so its loops are counted steps; what one call can still build
unseen is its last join. `indent` appends the one prefix object before every line and joins them:
a prefix of a kilobyte before a million lines held as two megabytes of text is a gigabyte in one
C call, so it is measured first. The others join lines they made one step each.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import Any

from ..guards import LINE_BREAKS
from ..limits import char_bytes, check_bytes, plain, spend
from . import FacadeRun, pick


def members(run: FacadeRun) -> dict[str, object]:
    import textwrap

    budget = run.budget
    trans = textwrap.TextWrapper.unicode_whitespace_trans
    if type(trans) is dict:
        textwrap.TextWrapper.unicode_whitespace_trans = MappingProxyType(trans)  # type: ignore[assignment]

    def indent(text: str, prefix: str, predicate: Callable[[str], Any] | None = None) -> str:
        if isinstance(text, str) and isinstance(prefix, str):
            # Read as C reads them, and passed on as measured: a subclass's own methods may lie.
            text, prefix = plain(text), plain(prefix)
            spend(budget, len(LINE_BREAKS[str]) * len(text) // 4096, "textwrap.indent")
            lines = 1 + sum(str.count(text, brk) for brk in LINE_BREAKS[str])
            size = len(text) + lines * len(prefix)
            check_bytes(budget, size * max(char_bytes(text), char_bytes(prefix)), "textwrap.indent")
        return textwrap.indent(text, prefix, predicate)

    members = pick("textwrap", "wrap fill shorten dedent TextWrapper")
    members["indent"] = indent
    return members
