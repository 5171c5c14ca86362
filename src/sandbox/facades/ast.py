"""ast: literal_eval alone, for text such as an LLM judge's rating ("[[8.5]]", "{'score': 3}").

The text is held to the bounds the analyser puts on a script before the same C parser sees it
(`max_code_bytes`, and the nesting and tokens policy counts: 100,000 nested brackets would
overflow Pyodide's stack in the parser). Only text is taken: no AST nodes, no parse, no compile,
no NodeVisitor, which would hand out the tree classes and the compiler's flags. Nor does the
parser see a name: it keeps every identifier it reads for the life of the process, so a name in a
trace's text (`literal_eval(trace['pin'])`) stayed interned for a later run to find by identity.
The text is read by the tokenizer first, which keeps nothing, and refused at its first name that
is not a constant's.
"""

from __future__ import annotations

import ast
import io
import tokenize
from typing import Any

from ..limits import plain, spend
from ..policy import source_bounds_violation
from . import FacadeRun


def members(run: FacadeRun) -> dict[str, object]:
    limits = run.budget.limits

    def literal_eval(node_or_string: Any) -> Any:
        if not isinstance(node_or_string, str):
            raise ValueError(f"literal_eval takes a str in the sandbox, not {type(node_or_string).__name__}")
        text = plain(node_or_string)  # a str subclass's own methods never see the parser
        # The bounds are counted by the tokenizer, in Python the step count does not see (the
        # analyser's code), and the parser runs in C: about a microsecond a character in Pyodide.
        spend(run.budget, len(text), "ast.literal_eval")
        problem = source_bounds_violation(text.lstrip(" \t"), limits)
        if problem is not None:
            raise ValueError(f"malformed node or string: {problem.message.removeprefix('Blocked: ')}")
        name = _first_name(text)
        if name is not None:
            raise ValueError(f"malformed node or string: {name!r} is a name, not a literal")
        return ast.literal_eval(text)

    return {"literal_eval": literal_eval}


# The names literal_eval reads as literals: the constants, and set for `set()`, an empty set.
_LITERAL_NAMES = frozenset({"True", "False", "None", "set"})


def _first_name(text: str) -> str | None:
    """The first name in `text` that is no literal's, or text the tokenizer cannot read (the
    parser may have read a name before it met the error)."""
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.NAME and token.string not in _LITERAL_NAMES:
                return token.string
    except tokenize.TokenError as error:  # a SyntaxError of the tokenizer's goes on as it is
        raise SyntaxError(error.args[0]) from None
    return None
