"""pprint: pformat, and pprint/pp printing to the run's output.

pprint lays its text out in Python (counted, a step per piece written); what it does in one C call
is priced first: the repr of every value it does not lay out itself (check_rendering, as print and
repr), the indentation string (`' ' * indent` per line, as json.dumps' indent), and the pieces a
long string is cut into (splitlines, then re.findall of its words: a new str per piece). Left out:
PrettyPrinter (its overridable _dispatch and _format are the engine's code paths), saferepr,
isreadable and isrecursive (repr without the rendering check), and `stream=` (the run's output is
the only stream).
"""

from __future__ import annotations

import pprint
from typing import Any, ClassVar

from ..limits import (
    StepBudget,
    as_count,
    char_bytes,
    check_bytes,
    check_nesting,
    check_rendering,
    check_width,
    true_length,
)
from . import FacadeRun

# A list slot and a str header per piece a long string is cut into.
_PIECE_BYTES = 64


class _Printer(pprint.PrettyPrinter):
    """PrettyPrinter with its text-splitting layouts priced."""

    def __init__(self, budget: StepBudget, **options: Any) -> None:
        super().__init__(**options)
        self._budget = budget

    def _price_pieces(self, text: Any) -> None:
        text_type = str if isinstance(text, str) else bytes
        separators = " \n\t" if text_type is str else b" \n\t"
        pieces = 1 + sum(text_type.count(text, separators[i : i + 1]) for i in range(3))  # type: ignore[arg-type]
        size = pieces * _PIECE_BYTES + (true_length(text) or 0) * char_bytes(text)
        check_bytes(self._budget, size, "pprint's layout of a long string")

    def _pprint_str(self, object: Any, *args: Any) -> None:
        self._price_pieces(object)
        super()._pprint_str(object, *args)  # type: ignore[misc]

    def _pprint_bytes(self, object: Any, *args: Any) -> None:
        self._price_pieces(bytes(object) if isinstance(object, bytearray) else object)
        super()._pprint_bytes(object, *args)  # type: ignore[misc]

    _dispatch: ClassVar[dict[Any, Any]] = {
        **pprint.PrettyPrinter._dispatch,  # type: ignore[attr-defined]
        str.__repr__: _pprint_str,
        bytes.__repr__: _pprint_bytes,
    }


def members(run: FacadeRun) -> dict[str, object]:
    budget = run.budget
    limits = budget.limits

    def pformat(
        object: Any, indent: Any = 1, width: Any = 80, depth: Any = None, *, compact: bool = False,
        sort_dicts: bool = True, underscore_numbers: bool = False,
    ) -> str:  # fmt: skip
        indent = as_count(indent)
        if indent is None:
            raise TypeError("indent must be an integer")
        check_width(budget, max(indent, 0) * limits.nesting_depth, "a pprint indent")
        check_nesting(budget, object)
        check_rendering(budget, object)
        printer = _Printer(
            budget, indent=indent, width=width, depth=depth, compact=compact, sort_dicts=sort_dicts,
            underscore_numbers=underscore_numbers,
        )  # fmt: skip
        return printer.pformat(object)

    def pprint_(object: Any, stream: None = None, *args: Any, **options: Any) -> None:
        if stream is not None:
            raise TypeError("pprint(stream=...) is not available in the sandbox: it prints to the output")
        run.write(pformat(object, *args, **options) + "\n")

    def pp(object: Any, *args: Any, sort_dicts: bool = False, **options: Any) -> None:
        pprint_(object, *args, sort_dicts=sort_dicts, **options)

    return {"pformat": pformat, "pprint": pprint_, "pp": pp}
