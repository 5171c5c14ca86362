"""ast: literal_eval alone, for text such as an LLM judge's rating ("[[8.5]]", "{'score': 3}").

The text is held to the bounds the analyser puts on a script before the same C parser sees it
(`max_code_bytes`, and the nesting and tokens policy counts: 100,000 nested brackets would
overflow Pyodide's stack in the parser). Only text is taken: no AST nodes, no parse, no compile,
no NodeVisitor, which would hand out the tree classes and the compiler's flags.
"""

from __future__ import annotations

import ast
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
        return ast.literal_eval(text)

    return {"literal_eval": literal_eval}
