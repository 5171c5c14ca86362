"""string: constants, capwords, and Formatter for parsing templates.

Formatter offers `parse` only (listing a template's literal text and fields): its get_field walks any
attribute named in a format string ("{0.__globals__}"), the very path str.format is guarded
against, and str.format itself is the guarded way to fill a template. Left out: Template, whose
class attribute `flags` is a member of re.RegexFlag, a flag class that keeps every value it is
called with (RegexFlag(n) for any n) for the life of the process.
"""

from __future__ import annotations

import _string
from collections.abc import Iterator
from typing import Any

from ..counting import counted
from ..limits import plain
from . import FacadeRun, pick

SHARED = True


class Formatter:
    """string.Formatter's parser: (literal_text, field_name, format_spec, conversion) per field."""

    __slots__ = ()

    def parse(self, format_string: str) -> Iterator[tuple[str, Any, Any, Any]]:
        if not isinstance(format_string, str):
            raise TypeError(f"parse() argument must be str, not {type(format_string).__name__}")
        # A tuple of up to four new strings per field, made in C: counted, a step and a look at
        # memory each, whoever consumes them.
        return counted(_string.formatter_parser(plain(format_string)))


def members(run: FacadeRun) -> dict[str, object]:
    members = pick(
        "string",
        "ascii_letters ascii_lowercase ascii_uppercase digits hexdigits octdigits punctuation "
        "printable whitespace capwords",
    )
    members["Formatter"] = Formatter
    return members
