"""textwrap: pure text functions over the script's own strings.

TextWrapper's class attribute unicode_whitespace_trans is a dict every wrapper reads: a run that
wrote to it would change how every later run wraps. It is frozen in place, once.
"""

from __future__ import annotations

from types import MappingProxyType

from . import FacadeRun, pick

SHARED = True


def members(run: FacadeRun) -> dict[str, object]:
    import textwrap

    trans = textwrap.TextWrapper.unicode_whitespace_trans
    if type(trans) is dict:
        textwrap.TextWrapper.unicode_whitespace_trans = MappingProxyType(trans)  # type: ignore[assignment]
    return pick("textwrap", "wrap fill shorten dedent indent TextWrapper")
