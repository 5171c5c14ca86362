"""json: loads and dumps, with the text or the data measured first."""

from __future__ import annotations

import json
from typing import Any

from ..guards import plain_keywords
from ..limits import (
    as_count,
    call,
    check_json_size,
    check_json_text,
    check_nesting,
    check_width,
    joined,
    true_length,
)
from . import FacadeRun


def members(run: FacadeRun) -> dict[str, object]:
    budget = run.budget
    # loads/dumps recurse in C once per nesting level; in Pyodide that overflows the WebAssembly
    # stack. The text or the data is measured first. Left out: load/dump (files), the encoder and
    # decoder classes (their methods would bypass these checks), and `cls=` for the same reason.
    limits = budget.limits

    def loads(s: str | bytes | bytearray, **options: Any) -> object:
        options = plain_keywords(options)  # checked by name here: exact names, as the callee binds them
        if "cls" in options:
            raise TypeError("json.loads(cls=...) is not available in the sandbox")
        if not isinstance(s, (str, bytes, bytearray)):
            raise TypeError(f"the JSON object must be str or bytes, not {type(s).__name__}")
        check_json_size(budget, s)  # first: it pays for the depth check's pass and the parse
        check_json_text(limits, s)
        return call(json.loads, s, **options)

    def dumps(obj: object, **options: Any) -> str:
        options = plain_keywords(options)
        if "cls" in options:
            raise TypeError("json.dumps(cls=...) is not available in the sandbox")
        indent = options.get("indent")
        if isinstance(indent, str):
            check_width(budget, (true_length(indent) or 0) * limits.nesting_depth, "a json indent")
        elif indent is not None:
            options["indent"] = as_count(indent)
            check_width(budget, options["indent"], "a json indent")
        check_nesting(budget, obj)
        # The encoder written in Python (what iterencode uses), not the C one json.dumps takes: its
        # chunks are steps and looks at memory, so `dumps([s] * 1000)` or a long separator between
        # a million items is stopped as it grows, not after one C call built it. The chunks are
        # joined measured: a separator is yielded as one shared piece per item.
        return joined(budget, list(json.JSONEncoder(**options).iterencode(obj)), "json.dumps")

    return {"loads": loads, "dumps": dumps, "JSONDecodeError": json.JSONDecodeError}
