"""html: escape and unescape."""

from __future__ import annotations

import html
from typing import Any

from ..limits import char_bytes, check_bytes, plain, true_length
from . import FacadeRun

# The longest entity escape writes for one character: `"` becomes `&quot;`.
_ESCAPE_GROWTH = 6


def members(run: FacadeRun) -> dict[str, object]:
    budget = run.budget

    def escape(s: Any, quote: bool = True) -> str:
        # Five str.replace calls in C, each up to six times the text: measured first. The text is
        # the builtin str's (`plain`): a subclass's own replace could hand the next call more.
        s = plain(s)
        if isinstance(s, str):
            check_bytes(budget, (true_length(s) or 0) * _ESCAPE_GROWTH * char_bytes(s), "html.escape")
        return html.escape(s, quote)

    def unescape(s: Any) -> str:
        # An entity is longer than what it stands for (a step each: a Python callback of re.sub),
        # but one astral character (`&#x1F600;`) makes the whole result four bytes a character.
        # Read as the builtin str (a subclass's __contains__ could deny the `&` to this check only).
        s = plain(s)
        if isinstance(s, str) and "&" in s:
            check_bytes(budget, (true_length(s) or 0) * 4, "html.unescape")
        return html.unescape(s)

    return {"escape": escape, "unescape": unescape}
