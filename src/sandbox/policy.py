"""Static analysis: what source the sandbox accepts, decided on the AST and never by pattern.

Default-deny over node kinds: `ALLOWED_NODES` names every kind of syntax a script may use and why;
anything else, including syntax added by a future Python (3.14's template strings), is refused until
someone reviews it. On top of the node table: names that reach the interpreter's machinery, private
and dunder attributes, the internals of frames, code, generators and tracebacks, and imports outside
the policy's allow-list. `instrument` then rewrites the accepted tree so the run-time guards see the
operations that can allocate without bound in a single C call.
"""

from __future__ import annotations

import ast
import io
import sys
import tokenize
import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .limits import Limits

DEFAULT_IMPORTS: frozenset[str] = frozenset({"json", "re", "typing"})

# The file name of the script's code: how tracebacks and the teardown tell its frames and functions
# from the host's.
FILENAME = "<sandbox>"

# The server-side maximum a caller may widen the allow-list to. What each module exposes is curated
# in the facades package, a file per module, where every exclusion is explained.
MAX_IMPORTS: frozenset[str] = DEFAULT_IMPORTS | {
    "math",
    "datetime",
    "difflib",
    "collections",
    "itertools",
    "functools",
    "statistics",
    "string",
    "textwrap",
    "unicodedata",
    "dataclasses",
    "enum",
    "decimal",
    "fractions",
    "random",
    "heapq",
    "bisect",
    "operator",
    "copy",
    "ast",
    "pprint",
    "calendar",
    "html",
    "urllib.parse",
    "base64",
    "hashlib",
    "csv",
    "io",
    "time",
}

# Modules the consumers' users were promised are blocked get the "Blocked import detected" message
# (callers match on "blocked"); so do the ones that lead straight out of the sandbox. A dotted name
# in MAX_IMPORTS is the one way into its package: `urllib.parse` (pure URL text), never `urllib`
# itself, `urllib.request` or the rest.
BLOCKED_IMPORTS: frozenset[str] = frozenset(
    {
        "os", "sys", "subprocess", "socket", "urllib", "requests", "http", "ftplib", "smtplib",
        "pickle", "shelve", "dbm",
        "builtins", "importlib", "ctypes", "cffi", "io", "pathlib", "shutil", "tempfile", "glob",
        "marshal", "gc", "inspect", "types", "code", "codeop", "runpy", "pkgutil", "zipimport",
        "site", "sysconfig", "signal", "threading", "_thread", "multiprocessing", "concurrent",
        "asyncio", "selectors", "select", "ssl", "urllib3", "httpx", "aiohttp", "webbrowser",
        "sqlite3", "posix", "nt", "pty", "fcntl", "resource", "traceback", "weakref", "copyreg",
        "tracemalloc", "faulthandler", "atexit", "dis", "linecache",
        "js", "pyodide", "pyodide_js", "_pyodide", "micropip", "workers", "pyodide_http",
    }
)  # fmt: skip

BLOCKED_NAMES: dict[str, str] = {
    # Callers match on this exact message for the three code-running builtins. Only the bare names
    # read as values are the builtins: a method, attribute, parameter or keyword called `eval` is
    # the script's own (`scorer.eval(output)`, `def eval(self, ...)`).
    "eval": "Blocked: eval/exec/compile not allowed",
    "exec": "Blocked: eval/exec/compile not allowed",
    "compile": "Blocked: eval/exec/compile not allowed",
    # The rest run code, reach the interpreter's machinery, the outside world or the namespace
    # itself (globals, locals, dir).
    **{
        name: f"Blocked: {name}() not allowed"
        for name in (
            "__import__", "open", "input", "breakpoint", "globals", "locals", "dir",
            "help", "exit", "quit", "memoryview", "copyright", "credits", "license",
        )
    },
}  # fmt: skip

# Dunder names user code may read as plain names: the script's own module name, so that
# `if __name__ == "__main__":` works.
READABLE_DUNDER_NAMES = frozenset({"__name__"})

# Dunder attributes that are plain strings wherever they exist.
READABLE_DUNDER_ATTRIBUTES = frozenset({"__name__", "__qualname__", "__doc__"})

# Dunder attributes the script may read on its own objects only (`vars`-like introspection: an
# instance's `__dict__`, an enum's `__members__`, `__module__`): the analyser lets them through and
# the run-time attribute path asks ownership.py whose object it is.
OWNER_DUNDERS = frozenset({"__dict__", "__members__", "__module__"})

# Special methods a class may define (and reach through `super()`): the ordinary protocol
# methods. Left out on purpose: __del__ (runs whenever the object dies, possibly outside the
# budget), __getattribute__/__getattr__/__setattr__/__delattr__ (hooks on every attribute access,
# including the host's), __init_subclass__, __set_name__, __class_getitem__, __mro_entries__,
# __prepare__, __instancecheck__, __subclasscheck__ (run during class machinery), __reduce__,
# __reduce_ex__, __getstate__, __setstate__, __copy__, __deepcopy__ (copy protocol walks),
# __format__ (format strings are guarded in one place), __index__ (makes any object a size in C
# calls the guards do not see), __buffer__, __release_buffer__.
SPECIAL_METHODS: frozenset[str] = frozenset(
    f"__{name}__"
    for name in [
        "init",
        "new",
        "repr",
        "str",
        "bytes",
        "hash",
        "bool",
        "eq",
        "ne",
        "lt",
        "le",
        "gt",
        "ge",
        "len",
        "iter",
        "next",
        "reversed",
        "contains",
        "getitem",
        "setitem",
        "delitem",
        "missing",
        "call",
        "enter",
        "exit",
        "int",
        "float",
        "complex",
        "round",
        "trunc",
        "floor",
        "ceil",
        "abs",
        "neg",
        "pos",
        "invert",
        "add",
        "sub",
        "mul",
        "matmul",
        "truediv",
        "floordiv",
        "mod",
        "divmod",
        "pow",
        "lshift",
        "rshift",
        "and",
        "or",
        "xor",
        "radd",
        "rsub",
        "rmul",
        "rmatmul",
        "rtruediv",
        "rfloordiv",
        "rmod",
        "rdivmod",
        "rpow",
        "rlshift",
        "rrshift",
        "rand",
        "ror",
        "rxor",
        "iadd",
        "isub",
        "imul",
        "imatmul",
        "itruediv",
        "ifloordiv",
        "imod",
        "ipow",
        "ilshift",
        "irshift",
        "iand",
        "ior",
        "ixor",
        "post_init",
        # The async protocols: the script's coroutines run to their end inside the budget
        # (runner.settle); an __await__ that yields is refused there, at its await.
        "aiter",
        "anext",
        "aenter",
        "aexit",
        "await",
    ]
)


# Why the special methods a script most often reaches for are refused, and what to do instead.
REFUSED_SPECIAL_METHODS = {
    "__del__": (
        "a finaliser runs whenever the object is freed, which may be after the run has ended and its"
        " budget is gone, so it could never be counted or stopped; release what the object holds"
        " explicitly, or in a with statement (__enter__/__exit__)"
    ),
    **dict.fromkeys(
        ("__getattr__", "__getattribute__", "__setattr__", "__delattr__"),
        "attribute hooks would run inside the sandbox's own attribute checks; use properties or"
        " plain methods",
    ),
    "__format__": "format strings are checked in one place; define __str__ or __repr__",
}
_SPECIAL_METHOD_NOTE = "a class may define the protocol methods (__init__, __repr__, __eq__, __iter__, …)"


def _internal_attributes() -> frozenset[str]:
    """Attribute names of frames, code objects, generators, coroutines, async generators and
    tracebacks (gi_frame, f_back, f_globals, tb_frame, co_code, …), read off the running
    interpreter so a new version's additions are covered without a list to maintain."""

    def gen() -> Iterator[int]:
        yield 1

    async def coro() -> None:
        return None

    async def agen() -> types.AsyncGeneratorType[int, None]:
        yield 1

    try:
        raise ValueError
    except ValueError as error:
        tb = error.__traceback__
    c = coro()
    samples = (sys._getframe(), gen.__code__, gen(), c, agen(), tb)
    names = {
        name
        for sample in samples
        for name in dir(sample)
        if name.startswith(("gi_", "cr_", "ag_", "f_", "tb_", "co_"))
    }
    c.close()
    return frozenset(names)


INTERNAL_ATTRIBUTES = _internal_attributes()

# Public attributes of class machinery: `mro()` lists the real classes behind the sandbox's own
# (the real enum.Enum behind the guarded one, collections.abc behind ChainMap), and with them their
# unchecked APIs.
CLASS_MACHINERY = frozenset({"mro"})


def _syntax(*names: str) -> dict[type, str]:
    return {getattr(ast, name): "" for name in names if hasattr(ast, name)}


# Every node kind a script may contain. Kinds with extra rules are checked in `_Analyser`.
ALLOWED_NODES: frozenset[type] = frozenset(
    {
        **_syntax("Module", "Expr", "Pass", "Break", "Continue", "Return", "Delete"),
        # Assignment and control flow.
        **_syntax("Assign", "AugAssign", "AnnAssign", "For", "While", "If", "With", "withitem"),
        **_syntax("Raise", "Try", "TryStar", "ExceptHandler", "Assert", "Global", "Nonlocal"),
        # Definitions: names, decorators, parameters and class keywords are checked.
        **_syntax("FunctionDef", "ClassDef", "Lambda", "arguments", "arg", "keyword"),
        # Coroutines and async generators: nothing in the sandbox suspends, so the runner drives
        # them to their end without an event loop; their frames are counted like generators'.
        **_syntax("AsyncFunctionDef", "Await", "AsyncFor", "AsyncWith"),
        # Imports: checked against the allow-list.
        **_syntax("Import", "ImportFrom", "alias"),
        # Expressions.
        **_syntax("BoolOp", "NamedExpr", "BinOp", "UnaryOp", "IfExp", "Compare", "Call"),
        **_syntax("Dict", "Set", "List", "Tuple", "Starred", "Slice", "Subscript", "Constant"),
        **_syntax("ListComp", "SetComp", "DictComp", "GeneratorExp", "comprehension"),
        **_syntax("Yield", "YieldFrom", "JoinedStr", "FormattedValue", "Name", "Attribute"),
        # Pattern matching: class patterns read attributes by keyword, which are checked.
        **_syntax("Match", "match_case", "MatchValue", "MatchSingleton", "MatchSequence"),
        **_syntax("MatchMapping", "MatchClass", "MatchStar", "MatchAs", "MatchOr"),
        # Contexts and operators.
        **_syntax("Load", "Store", "Del", "And", "Or", "Not", "Invert", "UAdd", "USub"),
        **_syntax("Add", "Sub", "Mult", "MatMult", "Div", "Mod", "Pow", "LShift", "RShift"),
        **_syntax("BitOr", "BitXor", "BitAnd", "FloorDiv", "Eq", "NotEq", "Lt", "LtE", "Gt"),
        **_syntax("GtE", "Is", "IsNot", "In", "NotIn"),
    }
)

# Refused kinds, with the reason given to the user. Anything neither here nor allowed is refused
# with a generic message.
REFUSED_NODES: dict[str, str] = {
    "TypeAlias": "type statements are not allowed",
    "TypeVar": "generic type parameters are not allowed",
    "ParamSpec": "generic type parameters are not allowed",
    "TypeVarTuple": "generic type parameters are not allowed",
    "TemplateStr": "template strings are not allowed",
    "Interpolation": "template strings are not allowed",
}


@dataclass(frozen=True)
class Violation:
    line: int
    col: int
    message: str


@dataclass(frozen=True)
class Policy:
    """What a script may import: json, re and typing always (the platforms promise them to their
    users, so widening never drops them), and what a caller adds per call, within `MAX_IMPORTS`."""

    allowed_imports: frozenset[str] = DEFAULT_IMPORTS

    def __post_init__(self) -> None:
        names = _module_names(self.allowed_imports, "allowed_imports")
        outside = sorted(names - MAX_IMPORTS)
        if outside:
            raise ValueError(
                f"cannot allow {', '.join(outside)}: imports can be widened only within"
                f" {', '.join(sorted(MAX_IMPORTS))}"
            )
        object.__setattr__(self, "allowed_imports", DEFAULT_IMPORTS | names)

    @classmethod
    def allowing(cls, extra: str | Iterable[str]) -> Policy:
        """The defaults and `extra`: module names, or one string of them separated by commas
        ("math, difflib"), as the command line takes them."""
        if isinstance(extra, str):
            extra = extra.split(",")
        names = _module_names(extra, "extra")
        return cls(frozenset(name.strip() for name in names if name.strip()))


def _module_names(names: object, what: str) -> frozenset[str]:
    # A lone string is iterable too, and frozenset("math") is four letters.
    if isinstance(names, (str, bytes)) or not isinstance(names, Iterable):
        raise TypeError(
            f"{what} must be a collection of module names, not {type(names).__name__};"
            " Policy.allowing('math, difflib') takes a string"
        )
    result = frozenset(names)
    for name in result:
        if not isinstance(name, str):
            raise TypeError(f"module names must be str, not {type(name).__name__}")
    return result


class SandboxViolation(AttributeError):
    """A computed name or value that the analyser would have refused had it been literal."""


def member_name_violation(name: object, *, private: bool = False) -> str | None:
    """The rule for attribute names that the host, not the script's own code, reads or writes for
    the script: members and fields that a class factory (enum's functional API, namedtuple,
    NamedTuple, TypedDict) or a dataclass turns into attributes, the names in `__match_args__` and
    the keywords of a class pattern (`case C(name=x)`), which the interpreter reads without the
    run-time guards. So beyond the attribute rule, none of the guarded method names: read that way,
    `format` or `sub` would be the interpreter's own, unchecked."""
    if type(name) is not str:
        return f"Blocked: attribute names must be str, not {type(name).__name__}"
    if name in GUARDED_METHODS:
        return f"Blocked: '{name}' is guarded; it cannot be a field, member or class-pattern keyword"
    message = attribute_violation(name)
    if (
        message is None
        and needs_owner(name)
        and not (private and not is_dunder(name) and name not in OWNER_DUNDERS)
    ):
        # Read by the host, past the run-time rule that would ask whose object it is.
        message = f"Blocked: '{name}' is private; it cannot be a field, member or class-pattern keyword"
    return message


def refuse_member_names(*names: object, private: bool = False) -> None:
    """At run time: raise on the first name `member_name_violation` refuses. `private`: the names
    are read on the script's own instances only (a dataclass's fields, a class's __match_args__),
    so a single-underscore name is theirs (ownership.py judges where it resolves)."""
    for name in names:
        message = member_name_violation(name, private=private)
        if message:
            raise SandboxViolation(message)


def refuse_unwritten_names(words: frozenset[str], factory: str, *names: str) -> None:
    """At run time: a class factory that compiles code from names (namedtuple) takes only names
    the script's own code holds, which the compiler has already made permanent; one made from data
    would stay interned for the life of the process, and a later run could tell that it was used."""
    for name in names:
        if name not in words:
            shown = name if len(name) <= 40 else name[:40] + "…"
            raise SandboxViolation(
                f"Blocked: {factory} field names must be written in the script, and {shown!r} is not"
                " (names made from data would outlive the run)"
            )


def is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def attribute_violation(name: str) -> str | None:
    """The rule for attribute names that holds whoever owns the object, shared by the analyser and
    the run-time attribute path. Single-underscore names and `OWNER_DUNDERS` pass here: whether
    they may be read depends on whose object it is, which only the run-time path can tell
    (ownership.attribute_violation), and the instrumentation routes every such read there."""
    if name in INTERNAL_ATTRIBUTES or name in CLASS_MACHINERY:
        return f"Blocked: access to interpreter internals '{name}' not allowed"
    if is_dunder(name):
        if name in READABLE_DUNDER_ATTRIBUTES or name in OWNER_DUNDERS:
            return None
        return f"Blocked: access to dunder attribute '{name}' not allowed"
    return None


def needs_owner(name: str) -> bool:
    """Names whose reads go through the run-time attribute path: the answer depends on the object."""
    return name in OWNER_DUNDERS or (name.startswith("_") and not is_dunder(name))


# What analysis, compilation or instrumentation says when the code is still too deep for them: the
# bounds below should stop such code first; this is the net under them.
COMPLEXITY_MESSAGE = "Blocked: code too complex to analyse (nested too deeply)"

# AST nodes per level of nesting: a level of source nesting is a node and its context or operator,
# a block is its statement and the statements in it.
_TREE_LEVELS_PER_LEVEL = 2


def analyse(code: str, policy: Policy, limits: Limits) -> tuple[ast.Module | None, list[Violation]]:
    """Parse and check `code`. Returns the tree when it is acceptable, and every violation found.

    Never raises for any input: the parser, the analyser (recursive, like every ast.NodeVisitor)
    and the compiler after it recurse once per level of the tree, so its depth is bounded twice,
    on the tokens before parsing and on the tree after, both without recursion; running out of
    stack or memory anyway is a validation error."""
    problem = source_bounds_violation(code, limits)
    if problem is not None:
        return None, [problem]
    try:
        tree = ast.parse(code, filename=FILENAME, mode="exec")
    except SyntaxError as error:
        return None, [Violation(error.lineno or 1, (error.offset or 1) - 1, f"SyntaxError: {error.msg}")]
    except (ValueError, MemoryError, RecursionError) as error:
        return None, [Violation(1, 0, f"SyntaxError: {error}")]
    problem = _tree_depth_violation(tree, limits)
    if problem is not None:
        return None, [problem]
    analyser = _Analyser(policy)
    try:
        analyser.visit(tree)
    except (RecursionError, MemoryError):
        return None, [Violation(1, 0, COMPLEXITY_MESSAGE)]
    return (tree if not analyser.violations else None), analyser.violations


def source_bounds_violation(code: str, limits: Limits) -> Violation | None:
    """The bounds on source text before the parser sees it: UTF-8 text, `max_code_bytes`, and the
    nesting and tokens `_nesting_violation` counts. For a script, and for the text ast.literal_eval
    parses (the same C parser, with the same stack)."""
    try:
        size = len(code.encode("utf-8"))
    except UnicodeEncodeError as error:
        # JSON can carry a lone surrogate ("\ud800"), which is no UTF-8 text: the tokenizer raises.
        line = code.count("\n", 0, error.start) + 1
        col = error.start - (code.rfind("\n", 0, error.start) + 1)
        return Violation(line, col, "SyntaxError: the source holds a lone surrogate, not text")
    if size > limits.max_code_bytes:
        return Violation(1, 0, f"Code exceeds {limits.max_code_bytes} bytes")
    return _nesting_violation(code, limits)


_FREE_PARENTHESES = 3
_WEIGHT_NOTE = f" (a token inside more than {_FREE_PARENTHESES} parentheses counts once more for each)"


def _nesting_violation(code: str, limits: Limits) -> Violation | None:
    """Bound how deep the parser and compiler will recurse, before they do.

    CPython's parser, AST conversion and compiler recurse in C once per nesting level; in Pyodide a
    few thousand levels (`-` * 5000 + `1`, `1+` * 100000, `a.b.b.b…`, 5,500 `elif` clauses)
    overflow the WebAssembly stack and kill the isolate. The tokenizer is iterative, so the bound
    is computed on tokens: within a bracket level, every operator, dot and opening bracket can add
    a level to the tree, and a comma or a new statement starts over; every `elif` nests the rest
    of its `if` statement one level deeper, until a statement that is not part of it. The same pass
    bounds the parser's work and the size of the tree it would build (`max_code_tokens`): a token
    counts once, and once more for every parenthesis around it past the third, because the
    parser's memory grows with both (190 parentheses around 64,000 tokens took 280 MB in Pyodide,
    the same tokens without them 25 MB).
    """
    segments = [0]
    chains = [0]  # per indentation level: the `elif` clauses of the `if` statement open there
    chained = 0
    line_start = True
    weight, parentheses = 0, 0
    try:
        tokens = tokenize.generate_tokens(io.StringIO(code).readline)
        for token in tokens:
            weight += 1 + max(parentheses - _FREE_PARENTHESES, 0)
            if weight > limits.max_code_tokens:
                line, col = token.start
                return Violation(line, col, f"Code exceeds {limits.max_code_tokens} tokens{_WEIGHT_NOTE}")
            if token.type == tokenize.OP and token.string == "(":
                parentheses += 1
            elif token.type == tokenize.OP and token.string == ")" and parentheses:
                parentheses -= 1
            if token.type in (tokenize.NL, tokenize.COMMENT):
                continue
            if line_start and token.type == tokenize.NAME:
                if token.string == "elif":
                    chains[-1] += 1
                    chained += 1
                elif token.string != "else":
                    chained -= chains[-1]
                    chains[-1] = 0
            line_start = token.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
            if token.type == tokenize.OP:
                if token.string in "([{":
                    segments[-1] += 1
                    segments.append(0)
                elif token.string in ")]}":
                    if len(segments) > 1:
                        segments.pop()
                elif token.string in ",;":
                    segments[-1] = 0
                else:
                    segments[-1] += 1
            elif token.type == tokenize.NAME and token.string in (
                "not",
                "and",
                "or",
                "if",
                "lambda",
                "await",
            ):
                segments[-1] += 1
            elif token.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
                segments = [0]
                if token.type == tokenize.INDENT:
                    chains.append(0)
                elif token.type == tokenize.DEDENT and len(chains) > 1:
                    chained -= chains.pop()
            if sum(segments) + chained > limits.nesting_depth:
                line, col = token.start
                return Violation(line, col, f"Blocked: code nested deeper than {limits.nesting_depth} levels")
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None  # the parser reports it, with its own position
    return None


def _tree_depth_violation(tree: ast.Module, limits: Limits) -> Violation | None:
    """Bound the depth of the parsed tree, without recursion, before anything recursive walks it.
    A comprehension nests a level per `for` clause and a `with` a level per item: the compiler
    recurses once for each (10,000 `for` clauses in one comprehension killed Pyodide)."""
    limit = limits.nesting_depth * _TREE_LEVELS_PER_LEVEL
    pending: list[tuple[ast.AST, int]] = [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            depth += len(node.generators)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            depth += len(node.items)
        if depth > limit:
            line, col = getattr(node, "lineno", 1), getattr(node, "col_offset", 0)
            return Violation(line, col, f"Blocked: code nested deeper than {limits.nesting_depth} levels")
        pending.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return None


@dataclass
class _Analyser(ast.NodeVisitor):
    policy: Policy
    violations: list[Violation] = field(default_factory=list)

    def refuse(self, node: ast.AST, message: str) -> None:
        self.violations.append(Violation(getattr(node, "lineno", 1), getattr(node, "col_offset", 0), message))

    def visit(self, node: ast.AST) -> None:
        kind = type(node)
        if kind not in ALLOWED_NODES:
            reason = REFUSED_NODES.get(kind.__name__, f"{kind.__name__} syntax is not allowed")
            self.refuse(node, f"Blocked: {reason}")
            return
        checker = getattr(self, f"check_{kind.__name__}", None)
        if checker is not None:
            checker(node)
        self.generic_visit(node)

    # --- names ---------------------------------------------------------------------------------
    def check_name(
        self, node: ast.AST, name: str | None, *, readable: bool = False, value: bool = True
    ) -> None:
        if name is None:
            return
        if name in BLOCKED_NAMES and (value or name not in _CODE_RUNNERS):
            self.refuse(node, BLOCKED_NAMES[name])
        elif name in _PINNED and not value:
            self.refuse(node, f"Blocked: '{name}' cannot be rebound: {_PINNED[name]}")
        elif is_dunder(name) and not (readable and name in READABLE_DUNDER_NAMES):
            self.refuse(node, f"Blocked: dunder name '{name}' not allowed")

    def check_Name(self, node: ast.Name) -> None:
        loaded = isinstance(node.ctx, ast.Load)
        self.check_name(node, node.id, readable=loaded, value=loaded)

    def check_arg(self, node: ast.arg) -> None:
        self.check_name(node, node.arg, value=False)

    def check_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        self.check_name(node, node.name, value=False)

    def check_Global(self, node: ast.Global) -> None:
        for name in node.names:
            self.check_name(node, name, value=False)

    check_Nonlocal = check_Global

    def check_MatchAs(self, node: ast.MatchAs) -> None:
        self.check_name(node, node.name, value=False)

    def check_MatchStar(self, node: ast.MatchStar) -> None:
        self.check_name(node, node.name, value=False)

    def check_MatchMapping(self, node: ast.MatchMapping) -> None:
        self.check_name(node, node.rest, value=False)

    def check_MatchClass(self, node: ast.MatchClass) -> None:
        # `case object(__class__=c)` and `case str(format=f)` read the attribute through the match
        # machinery, past the run-time guards.
        for name in node.kwd_attrs:
            message = member_name_violation(name)
            if message:
                self.refuse(node, message)

    def check_keyword(self, node: ast.keyword) -> None:
        if node.arg is not None and is_dunder(node.arg):
            self.refuse(node, f"Blocked: dunder keyword '{node.arg}' not allowed")

    # --- definitions ---------------------------------------------------------------------------
    def check_FunctionDef(self, node: ast.FunctionDef) -> None:
        if is_dunder(node.name):
            if node.name not in SPECIAL_METHODS:
                reason = REFUSED_SPECIAL_METHODS.get(node.name, _SPECIAL_METHOD_NOTE)
                self.refuse(node, f"Blocked: defining special method '{node.name}' not allowed: {reason}")
        else:
            self.check_name(node, node.name, value=False)

    check_AsyncFunctionDef = check_FunctionDef

    def check_ClassDef(self, node: ast.ClassDef) -> None:
        self.check_name(node, node.name, value=False)
        if node.keywords:
            # metaclass=… and __init_subclass__ arguments run class machinery chosen by the user.
            self.refuse(node, "Blocked: class keywords (metaclass=…) not allowed")

    # --- attributes ----------------------------------------------------------------------------
    def check_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.ctx, ast.Load) and node.attr in SPECIAL_METHODS and _is_super_call(node.value):
            return  # super().__init__(...) and its kin
        message = attribute_violation(node.attr)
        if message is None and is_dunder(node.attr) and not isinstance(node.ctx, ast.Load):
            message = f"Blocked: assigning dunder attribute '{node.attr}' not allowed"
        if message:
            self.refuse(node, message)

    def check_Call(self, node: ast.Call) -> None:
        # getattr(x, "__class__") with a literal name: report it here, with its position, rather
        # than only at run time.
        func = node.func
        if (
            isinstance(func, ast.Name)
            and func.id in ("getattr", "hasattr", "setattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            message = attribute_violation(node.args[1].value)
            if message:
                self.refuse(node, message)

    # --- imports -------------------------------------------------------------------------------
    def check_import_name(self, node: ast.AST, module: str) -> None:
        message = import_violation(module, self.policy.allowed_imports)
        if message:
            self.refuse(node, message)

    def check_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.check_import_name(node, alias.name)

    def check_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self.refuse(
                node, f"Blocked import detected: relative import from {'.' * node.level}{node.module or ''}"
            )
            return
        module = node.module or ""
        if module == "__future__":
            return  # a compiler directive (from __future__ import annotations), not an import
        submodules = [f"{module}.{alias.name}" for alias in node.names]
        if all(name in MAX_IMPORTS for name in submodules):
            for name in submodules:  # from urllib import parse
                self.check_import_name(node, name)
        else:
            self.check_import_name(node, module)
        for alias in node.names:
            if alias.name == "*":
                self.refuse(node, f"Blocked: from {module} import * not allowed")
            elif alias.name.startswith("_") and not is_dunder(alias.name):
                # A facade has public members only: a module's private name is its own business.
                self.refuse(node, f"Blocked: access to private attribute '{alias.name}' not allowed")
            else:
                message = attribute_violation(alias.name)
                if message:
                    self.refuse(node, message)

    def check_alias(self, node: ast.alias) -> None:
        self.check_name(node, node.asname, value=False)

    def check_comprehension(self, node: ast.comprehension) -> None:
        if any(isinstance(n, ast.Attribute) for n in ast.walk(node.target)):
            # Attribute writes are routed through the setattr guard, which needs a statement.
            self.refuse(node.target, "Blocked: a comprehension may not assign to attributes")


# The builtins that run code from text: refused as values, free as the script's own names.
_CODE_RUNNERS = frozenset({"eval", "exec", "compile"})

# Names the analyser trusts by what they are called, so the script may not bind them to anything
# else: `super().__init__` is let through because `super` is the builtin (a `def super(x): return
# x` made every special method of any object readable, a dataclass's generated __init__ a writer
# onto host classes, and its __eq__ a reader of the run's own budget).
_PINNED = {"super": "super().method is allowed because super is the builtin"}


def import_violation(module: str, allowed: frozenset[str]) -> str | None:
    """The one rule for imports, shared by the analyser and the run-time `__import__`."""
    top = module.split(".", maxsplit=1)[0]
    if module in allowed:
        return None
    if module in MAX_IMPORTS:
        return import_refusal(module, allowed)
    if top in BLOCKED_IMPORTS or (top not in MAX_IMPORTS and top.startswith("_")):
        return f"Blocked import detected: {top}"
    if top in allowed:
        return f"Import not whitelisted: {module}. Allowed: {top} itself"
    return import_refusal(top, allowed)


def import_refusal(module: str, allowed: frozenset[str]) -> str:
    """Callers match on the text up to the allowed list; what follows says what to do instead."""
    refusal = f"Import not whitelisted: {module}. Allowed: {', '.join(sorted(allowed))}"
    more = ", ".join(sorted(MAX_IMPORTS - allowed))
    if module in MAX_IMPORTS:
        return f"{refusal}; the caller can add {module} with allowImports (the server allows {more})"
    if not more:
        return f"{refusal}; the server allows no more"
    return f"{refusal}; {module} is not available, and allowImports can add only {more}"


def _is_super_call(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"


# --- Eval entry points ---------------------------------------------------------------------------
# The consumer contract: the function the caller names, else the one top-level eval_* function,
# else eval_function; the calling convention told from the parameter names (or, failing that, their
# number).

CONVENTIONS: dict[tuple[str, ...], str] = {
    ("trace",): "fn(trace)",
    ("trace", "ctx"): "fn(trace, ctx)",
    ("task", "task_metadata", "trace", "ctx"): "fn(task, task_metadata, trace, ctx)",
}
_BY_ARITY = {len(names): signature for names, signature in CONVENTIONS.items()}


@dataclass(frozen=True)
class EntryPoint:
    name: str
    convention: str


def find_entry_point(tree: ast.Module, function: str | None) -> EntryPoint | Violation:
    functions = {
        node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    listed = ", ".join(functions) or "none"
    if function is not None:
        if function not in functions:
            return Violation(
                1, 0, f"Entry point '{function}' is not a top-level function. Top-level functions: {listed}"
            )
        name = function
    else:
        candidates = [n for n in functions if n.startswith("eval_")]
        if len(candidates) == 1:
            name = candidates[0]
        elif "eval_function" in functions:
            name = "eval_function"  # beside eval_* helpers, the conventional name decides
        elif candidates:
            return Violation(
                1,
                0,
                f"Ambiguous entry point: {', '.join(candidates)} all start with eval_; name one with function",
            )
        else:
            return Violation(
                1,
                0,
                f"No entry point: define one top-level eval_* function or eval_function. Top-level functions: {listed}",
            )
    node = functions[name]
    params = tuple(a.arg for a in node.args.posonlyargs + node.args.args)
    convention = CONVENTIONS.get(params) or _BY_ARITY.get(len(params))
    if convention is None:
        expected = "; ".join(CONVENTIONS.values())
        return Violation(
            node.lineno,
            node.col_offset,
            f"Cannot tell how to call {name}({', '.join(params)}): expected {expected}",
        )
    return EntryPoint(name, convention)


# --- Instrumentation ------------------------------------------------------------------------------
# The guards are installed in the run's builtins under dunder names, which the analyser refuses in
# user code: the script can neither call nor shadow them.

GUARD_GETATTR = "__sandbox_getattr__"
GUARD_SUPER = "__sandbox_super__"
GUARD_SETATTR = "__sandbox_setattr__"
GUARD_DELATTR = "__sandbox_delattr__"
GUARD_AUGATTR = "__sandbox_augattr__"
GUARD_FORMAT = "__sandbox_format__"
GUARD_CAUGHT = "__sandbox_caught__"
GUARD_WITH = "__sandbox_with__"
GUARD_LOOP_RANGE = "__sandbox_loop_range__"

# Operators whose result can be far larger than their operands, or take far longer to compute than
# their operands are large: repetition, powers, shifts, printf-style padding, and the divisions of
# big integers and fractions.
_GUARDED_BINOPS = (ast.Mult, ast.Pow, ast.LShift, ast.Mod, ast.Div, ast.FloorDiv)
# A guard of its own for each of them, as an operator and in place (`x *= n`), the operation chosen
# when the run's builtins are made (builtins.operator_guards): one Python call an operation.
GUARD_BINOPS = {op.__name__: f"__sandbox_{op.__name__.lower()}__" for op in _GUARDED_BINOPS}
GUARD_INPLACES = {op.__name__: f"__sandbox_i{op.__name__.lower()}__" for op in _GUARDED_BINOPS}

# Methods of str, bytes, int, Counter, random.Random and regular expressions that can allocate far
# past their inputs (padding widths, replace, translate, join, split, encode's error handlers,
# to_bytes, getrandbits, substitution templates, a match per position, Counter.elements, the
# datetime types' strftime, which expands every directive of a format in one call) or read
# attributes through a format string (format, format_map), and abstract classes' register
# (process-wide isinstance): loading them goes through the getattr guard, which hands out checked
# versions or refuses.
GUARDED_METHODS = frozenset(
    {"format", "format_map", "ljust", "rjust", "center", "zfill", "expandtabs", "replace",
     "translate", "join", "split", "rsplit", "splitlines", "encode", "to_bytes", "sub", "subn",
     "expand", "findall", "finditer", "elements", "getrandbits", "randbytes", "register", "strftime"}
)  # fmt: skip


def _call(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=list(args), keywords=[])


def _load(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Load())


def _store(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Store())


@dataclass
class _Instrumenter(ast.NodeTransformer):
    """Attribute writes go through the setattr guard (shared host classes stay unmodified);
    `*`, `**`, `<<` and `%` through the size guards; loads of the guarded str methods through the
    getattr guard; every f-string replacement field through the format guard. Temporaries get
    dunder names, which user code cannot use."""

    temporaries: int = 0

    def temporary(self) -> str:
        self.temporaries += 1
        return f"__sandbox_t{self.temporaries}__"

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if not isinstance(node.op, _GUARDED_BINOPS):
            return node
        call = _call(GUARD_BINOPS[type(node.op).__name__], node.left, node.right)
        return ast.copy_location(call, node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load) and (node.attr in GUARDED_METHODS or needs_owner(node.attr)):
            return ast.copy_location(_call(GUARD_GETATTR, node.value, ast.Constant(node.attr)), node)
        if isinstance(node.ctx, ast.Load) and node.attr in SPECIAL_METHODS and _is_super_call(node.value):
            # super().__mul__(n) is `*` without the operator's guard: the base type's own C method.
            return ast.copy_location(_call(GUARD_SUPER, node.value, ast.Constant(node.attr)), node)
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:
        # `except E as e` (and except*): the script sees the exception only once it is cleaned of
        # the host's objects (builtins.clean_exception).
        self.generic_visit(node)
        if node.name is not None:
            clean = ast.Assign(targets=[_store(node.name)], value=_call(GUARD_CAUGHT, _load(node.name)))
            node.body = [ast.copy_location(clean, node), *node.body]
        return node

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        # f"{x!r:>{w}}" becomes f"{guard(x, 'r', f'>{w}')}": conversion, nesting and width are
        # checked in the one place str.format and format() use too.
        self.generic_visit(node)
        conversion = chr(node.conversion) if node.conversion != -1 else ""
        spec: ast.expr = node.format_spec if node.format_spec is not None else ast.Constant("")
        call = _call(GUARD_FORMAT, node.value, ast.Constant(conversion), spec)
        return ast.copy_location(ast.FormattedValue(value=call, conversion=-1, format_spec=None), node)

    # --- statements that write attributes --------------------------------------------------------
    def split_target(self, target: ast.expr) -> tuple[ast.expr, list[ast.stmt]]:
        """Replace every attribute written by `target` with a temporary, and return the setattr
        calls that complete the assignment (`self.a, self.b = v` unpacks into temporaries)."""
        if isinstance(target, ast.Attribute):
            temp = self.temporary()
            setter = ast.Expr(_call(GUARD_SETATTR, target.value, ast.Constant(target.attr), _load(temp)))
            return _store(temp), [setter]
        if isinstance(target, (ast.Tuple, ast.List)):
            after: list[ast.stmt] = []
            elements = []
            for element in target.elts:
                new, more = self.split_target(element)
                elements.append(new)
                after.extend(more)
            return type(target)(elts=elements, ctx=ast.Store()), after
        if isinstance(target, ast.Starred):
            new, after = self.split_target(target.value)
            return ast.Starred(value=new, ctx=ast.Store()), after
        return target, []

    def located(self, node: ast.stmt, statements: list[ast.stmt]) -> list[ast.stmt]:
        return [ast.copy_location(s, node) for s in statements]

    def visit_Assign(self, node: ast.Assign) -> ast.AST | list[ast.stmt]:
        self.generic_visit(node)
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Attribute):
            target = node.targets[0]
            call = _call(GUARD_SETATTR, target.value, ast.Constant(target.attr), node.value)
            return ast.copy_location(ast.Expr(call), node)
        targets, after = [], []
        for target in node.targets:
            new, more = self.split_target(target)
            targets.append(new)
            after.extend(more)
        if not after:
            return node
        return self.located(node, [ast.Assign(targets=targets, value=node.value), *after])

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | list[ast.stmt]:
        self.generic_visit(node)
        if node.value is None or not isinstance(node.target, ast.Attribute):
            return node
        target = node.target
        call = _call(GUARD_SETATTR, target.value, ast.Constant(target.attr), node.value)
        return ast.copy_location(ast.Expr(call), node)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> ast.AST:
        self.generic_visit(node)
        node.iter = _loop_range(node.iter)
        node.target, after = self.split_target(node.target)
        node.body = self.located(node, after) + node.body
        return node

    visit_AsyncFor = visit_For

    def visit_comprehension(self, node: ast.comprehension) -> ast.AST:
        self.generic_visit(node)
        node.iter = _loop_range(node.iter)
        return node

    def visit_With(self, node: ast.With | ast.AsyncWith) -> ast.AST:
        self.generic_visit(node)
        after: list[ast.stmt] = []
        asynchronous = ast.Constant(isinstance(node, ast.AsyncWith))
        for item in node.items:
            # The with statement hands the manager's __exit__ the exception and its traceback;
            # whatever __exit__ is (a method, a decorated callable), it gets them cleaned.
            item.context_expr = _call(GUARD_WITH, item.context_expr, asynchronous)
            if item.optional_vars is not None:
                item.optional_vars, more = self.split_target(item.optional_vars)
                after.extend(more)
        node.body = self.located(node, after) + node.body
        return node

    visit_AsyncWith = visit_With

    def visit_Delete(self, node: ast.Delete) -> ast.AST | list[ast.stmt]:
        self.generic_visit(node)
        statements: list[ast.stmt] = []
        for target in node.targets:
            if isinstance(target, ast.Attribute):
                call = _call(GUARD_DELATTR, target.value, ast.Constant(target.attr))
                statements.append(ast.Expr(call))
            else:
                statements.append(ast.Delete(targets=[target]))
        return self.located(node, statements)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST | list[ast.stmt]:
        self.generic_visit(node)
        op = ast.Constant(type(node.op).__name__)
        target = node.target
        if isinstance(target, ast.Attribute):
            call = _call(GUARD_AUGATTR, target.value, ast.Constant(target.attr), op, node.value)
            return ast.copy_location(ast.Expr(call), node)
        if not isinstance(node.op, _GUARDED_BINOPS):
            return node
        guard = GUARD_INPLACES[op.value]
        if isinstance(target, ast.Name):
            call = _call(guard, _load(target.id), node.value)
            return ast.copy_location(ast.Assign(targets=[_store(target.id)], value=call), node)
        assert isinstance(target, ast.Subscript)
        # a[i] *= n: evaluate a and i once, as Python does.
        obj, key = self.temporary(), self.temporary()
        item = ast.Subscript(value=_load(obj), slice=_load(key), ctx=ast.Load())
        statements: list[ast.stmt] = [
            ast.Assign(targets=[_store(obj)], value=target.value),
            ast.Assign(targets=[_store(key)], value=target.slice),
            ast.Assign(
                targets=[ast.Subscript(value=_load(obj), slice=_load(key), ctx=ast.Store())],
                value=_call(guard, item, node.value),
            ),
        ]
        return self.located(node, statements)


def _loop_range(iterable: ast.expr) -> ast.expr:
    """`for i in range(n)` and `[… for i in range(n)]`: the range a loop iterates is never
    materialised (every item is a step of the loop), so it needs no memory; the guard makes it
    unpriced when `range` is still the builtin, and calls whatever the script bound otherwise.
    Elsewhere a range is priced as the list a C consumer (list(), sorted(), sum()) could make."""
    if (
        isinstance(iterable, ast.Call)
        and isinstance(iterable.func, ast.Name)
        and iterable.func.id == "range"
        and not iterable.keywords
        and not any(isinstance(arg, ast.Starred) for arg in iterable.args)
    ):
        return ast.copy_location(_call(GUARD_LOOP_RANGE, iterable.func, *iterable.args), iterable)
    return iterable


def instrument(tree: ast.Module) -> ast.Module:
    """Route guarded operations through the run's guards. The tree must have passed `analyse`."""
    tree = _Instrumenter().visit(tree)
    return ast.fix_missing_locations(tree)
