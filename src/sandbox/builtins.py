"""The builtins a script sees: a curated table, rebuilt for every run.

Most entries are the interpreter's own. The rest are guarded stand-ins: `print` writes to the run's
capped buffer; `getattr`/`hasattr`/`setattr`/`delattr` apply the analyser's attribute rule to computed
names, and attribute writes reach only the script's own classes and their instances; `type()` takes
one argument and never hands out a metaclass; `str.format`, `format`, `%` and f-strings cannot walk
attributes and cannot pad to huge widths; `range`, `pow` and `iter` refuse what a C loop could not
finish. The guards live under dunder names that user code can neither name nor shadow.
"""

from __future__ import annotations
import __future__

import builtins as _host
import operator
import re
import string
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import policy
from .limits import (
    LimitExceeded,
    OutputLimitExceeded,
    StepBudget,
    check_format_spec,
    check_lshift,
    check_mul,
    check_nesting,
    check_pow,
    check_range,
    check_width,
)
from .modules import ModuleFacade, facade

# Interpreter builtins handed over unchanged: pure functions and types whose every operation is
# either step-counted or bounded by the size of its inputs.
_PASS_THROUGH = [
    "abs",
    "all",
    "any",
    "bin",
    "bool",
    "callable",
    "chr",
    "complex",
    "dict",
    "divmod",
    "enumerate",
    "filter",
    "float",
    "frozenset",
    "hash",
    "hex",
    "int",
    "isinstance",
    "issubclass",
    "len",
    "list",
    "map",
    "max",
    "min",
    "next",
    "object",
    "oct",
    "ord",
    "reversed",
    "round",
    "set",
    "slice",
    "sorted",
    "str",
    "sum",
    "super",
    "tuple",
    "zip",
    "property",
    "classmethod",
    "staticmethod",
    "Ellipsis",
    "NotImplemented",
]

# Every exception class, so scripts can raise and catch them by name.
_EXCEPTIONS = [
    name
    for name, value in vars(_host).items()
    if isinstance(value, type) and issubclass(value, BaseException) and not name.startswith("_")
]

_FUTURE = ModuleFacade("__future__", {"annotations": __future__.annotations})

TRUNCATION_MARKER = "\n[output truncated: limit of {limit} bytes reached]"


class SandboxViolation(AttributeError):
    """A computed name or value that the analyser would have refused had it been literal."""


@dataclass
class OutputBuffer:
    """stdout of one run. Past the limit the text is cut, a marker appended, and the run ends."""

    budget: StepBudget
    chunks: list[str] = field(default_factory=list)
    size: int = 0

    def write(self, text: str) -> None:
        if self.budget.tripped is not None:
            raise self.budget.tripped  # a script that swallowed its limit prints nothing more
        limit = self.budget.limits.output_bytes
        encoded = len(text.encode("utf-8", errors="replace"))
        if self.size + encoded <= limit:
            self.chunks.append(text)
            self.size += encoded
            return
        room = limit - self.size
        self.chunks.append(text.encode("utf-8", errors="replace")[:room].decode("utf-8", errors="ignore"))
        self.chunks.append(TRUNCATION_MARKER.format(limit=limit))
        self.size = limit
        self.budget.trip(OutputLimitExceeded(f"Output limit exceeded: {limit} bytes"))

    def text(self) -> str:
        return "".join(self.chunks)


@dataclass
class RunScope:
    """Everything the guards of one run share: budget, policy, output and the classes it made."""

    budget: StepBudget
    allowed_imports: frozenset[str]
    output: OutputBuffer = field(init=False)
    user_classes: set[type] = field(default_factory=set)
    imported: dict[str, ModuleFacade] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.output = OutputBuffer(self.budget)


# --- Attribute access -------------------------------------------------------------------------


def _refuse_attribute(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"attribute name must be string, not '{type(name).__name__}'")
    message = policy.attribute_violation(name)
    if message:
        raise SandboxViolation(message)
    return name


def guarded_getattr(scope: RunScope, obj: object, name: str, *default: object) -> object:
    _refuse_attribute(name)
    try:
        if name in policy.GUARDED_METHODS:
            return guarded_method(scope.budget, obj, name)
        return getattr(obj, name)
    except AttributeError:
        if default:
            return default[0]
        raise


def guarded_hasattr(scope: RunScope, obj: object, name: str) -> bool:
    try:
        guarded_getattr(scope, obj, name)
    except AttributeError:
        return False
    return True


def _check_writable(scope: RunScope, obj: object, name: str) -> None:
    """Attribute writes reach the script's own classes and their instances only: a module's
    classes, functions and singletons are shared with later runs and with the host."""
    _refuse_attribute(name)
    if policy.is_dunder(name):
        raise SandboxViolation(f"Blocked: assigning dunder attribute '{name}' not allowed")
    if obj in scope.user_classes if isinstance(obj, type) else type(obj) in scope.user_classes:
        return
    if isinstance(obj, ModuleFacade):
        raise SandboxViolation(f"Blocked: {obj!r} is read-only")
    raise SandboxViolation(
        f"Blocked: cannot set attributes on {type(obj).__name__} objects: only on instances of"
        " classes defined in the script"
    )


def guarded_setattr(scope: RunScope, obj: object, name: str, value: object) -> None:
    _check_writable(scope, obj, name)
    setattr(obj, name, value)


def guarded_delattr(scope: RunScope, obj: object, name: str) -> None:
    _check_writable(scope, obj, name)
    delattr(obj, name)


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "Mult": operator.mul, "Pow": operator.pow, "LShift": operator.lshift, "Mod": operator.mod,
}  # fmt: skip

_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "Add": operator.iadd, "Sub": operator.isub, "Mult": operator.imul, "MatMult": operator.imatmul,
    "Div": operator.itruediv, "FloorDiv": operator.ifloordiv, "Mod": operator.imod,
    "Pow": operator.ipow, "LShift": operator.ilshift, "RShift": operator.irshift,
    "BitOr": operator.ior, "BitXor": operator.ixor, "BitAnd": operator.iand,
}  # fmt: skip


def _check_operands(scope: RunScope, op: str, left: object, right: object) -> None:
    """The size checks of the operators whose result can outgrow their operands."""
    if op == "Mult":
        check_mul(scope.budget, left, right)
    elif op == "Pow":
        check_pow(scope.budget, left, right)
    elif op == "LShift":
        check_lshift(scope.budget, left, right)
    elif op == "Mod":
        _check_percent(scope, left, right)


def guarded_binop(scope: RunScope, op: str, left: object, right: object) -> object:
    _check_operands(scope, op, left, right)
    return _BINARY[op](left, right)


def guarded_inplace(scope: RunScope, op: str, target: object, value: object) -> object:
    _check_operands(scope, op, target, value)
    return _INPLACE[op](target, value)


def guarded_augattr(scope: RunScope, obj: object, name: str, op: str, value: object) -> None:
    """`obj.name op= value`: read, combine through the same guards, write through setattr's rule."""
    current = guarded_getattr(scope, obj, name)
    guarded_setattr(scope, obj, name, guarded_inplace(scope, op, current, value))


# --- Formatting -------------------------------------------------------------------------------


class _SafeFormatter(string.Formatter):
    """str.format and format_map: fields may index and read public attributes only, specs may not
    pad to huge widths, and values are checked for nesting before C code recurses into them."""

    def __init__(self, budget: StepBudget) -> None:
        self.budget = budget

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, Any]:
        first, rest = _formatter_field_name_split(field_name)
        obj = self.get_value(first, args, kwargs)
        for is_attribute, key in rest:
            obj = getattr(obj, _refuse_attribute(key)) if is_attribute else obj[key]
        return obj, first

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        check_nesting(self.budget, value)
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> Any:
        return guarded_format(self.budget, value, "", format_spec)


def _formatter_field_name_split(field_name: str) -> tuple[Any, Iterator[tuple[bool, Any]]]:
    # The same parser str.format uses, reached through a str method's documented behaviour:
    # string.Formatter.get_field calls it; we need its result before any getattr happens.
    import _string

    return _string.formatter_field_name_split(field_name)


def guarded_format(budget: StepBudget, value: object, conversion: str, spec: object) -> str:
    """format(), f-string fields, and str.format's fields all end here."""
    check_nesting(budget, value)
    if conversion == "r":
        value = repr(value)
    elif conversion == "s":
        value = str(value)
    elif conversion == "a":
        value = ascii(value)
    if not isinstance(spec, str):
        raise TypeError(f"format spec must be str, not {type(spec).__name__}")
    check_format_spec(budget, spec)
    return format(value, spec)


def _percent_widths(template: str | bytes) -> Iterator[int | str]:
    """Widths and precisions in a printf-style template; '*' where they come from the arguments."""
    text = template.decode("latin-1") if isinstance(template, bytes) else template
    i = text.find("%")
    while i != -1 and i + 1 < len(text):
        j = i + 1
        if text[j] == "(":
            j = text.find(")", j) + 1 or len(text)
        while j < len(text) and text[j] in "#0- +":
            j += 1
        for _part in ("width", "precision"):
            if j < len(text) and text[j] == "*":
                yield "*"
                j += 1
            else:
                start = j
                while j < len(text) and text[j].isdigit():
                    j += 1
                if j > start:
                    yield text[start:j]
            if _part == "width" and j < len(text) and text[j] == ".":
                j += 1
            else:
                break
        i = text.find("%", j + 1)


def _check_percent(scope: RunScope, template: object, args: object) -> None:
    if not isinstance(template, (str, bytes)):
        return
    values = args if isinstance(args, tuple) else (args,)
    star = iter(values)
    for width in _percent_widths(template):
        number = next(star, 0) if width == "*" else (int(width) if len(width) < 13 else 10**13)
        check_width(scope.budget, number, "a % format width")
    for value in values:
        check_nesting(scope.budget, value)
    if isinstance(args, Mapping):
        for value in args.values():
            check_nesting(scope.budget, value)


# --- Methods that can outgrow their inputs ----------------------------------------------------

_TEXT_TYPES = (str, bytes, bytearray)


def guarded_method(budget: StepBudget, obj: object, name: str) -> Callable[..., Any]:
    """`obj.name` for the names in policy.GUARDED_METHODS. Decided on what the lookup returns, not
    on `obj`, so subclasses of str and `super()` objects get the same checked versions: str and
    bytes methods, re's module functions, and the methods of patterns and matches."""
    attribute = getattr(obj, name)
    if isinstance(attribute, types.MethodDescriptorType) and attribute.__objclass__ in _TEXT_TYPES:
        # str.format, bytes.center, …: unbound, the first argument is the string.
        owner_type = attribute.__objclass__

        def unbound(self: object, *args: Any, **kwargs: Any) -> Any:
            if not isinstance(self, owner_type):
                raise TypeError(f"descriptor '{name}' requires a '{owner_type.__name__}' object")
            return _text_method(budget, self, name)(*args, **kwargs)  # type: ignore[arg-type]

        return unbound
    if isinstance(attribute, types.BuiltinMethodType):
        owner = attribute.__self__
        if isinstance(owner, _TEXT_TYPES):
            return _text_method(budget, owner, name)
        if isinstance(owner, (re.Pattern, re.Match)):
            return _regex_method(budget, owner, name)
    if attribute is re.sub or attribute is re.subn:
        return _regex_method(budget, re, name)
    return attribute  # type: ignore[no-any-return]


def _text_method(budget: StepBudget, text: str | bytes | bytearray, name: str) -> Callable[..., Any]:
    method = getattr(text, name)
    if name in ("format", "format_map"):
        if not isinstance(text, str):
            return method  # type: ignore[no-any-return]
        formatter = _SafeFormatter(budget)
        if name == "format":
            return lambda *args, **kwargs: formatter.vformat(text, args, kwargs)
        return lambda mapping: formatter.vformat(text, (), mapping)

    def checked(*args: Any, **kwargs: Any) -> Any:
        if name in ("ljust", "rjust", "center", "zfill") and args:
            check_width(budget, args[0], f"{type(text).__name__}.{name}")
        elif name == "expandtabs":
            tabsize = args[0] if args else kwargs.get("tabsize", 8)
            if isinstance(tabsize, int):
                check_width(budget, len(text) * tabsize, f"{type(text).__name__}.expandtabs")
        elif name == "replace" and len(args) >= 2:
            old, new = args[0], args[1]
            count = args[2] if len(args) > 2 else kwargs.get("count", -1)
            if isinstance(old, type(text)) and isinstance(new, (str, bytes, bytearray)):
                hits = text.count(old)  # type: ignore[arg-type]
                if isinstance(count, int) and count >= 0:
                    hits = min(hits, count)
                check_width(budget, len(text) + hits * len(new), f"{type(text).__name__}.replace")
        elif name == "translate" and args and isinstance(args[0], dict):
            longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
            check_width(budget, len(text) * longest, "str.translate")
        return method(*args, **kwargs)

    return checked


def _regex_method(budget: StepBudget, obj: object, name: str) -> Callable[..., Any]:
    """re.sub, Pattern.sub/subn and Match.expand: a replacement template repeats its literal text
    for every match, so the result can be far larger than the string searched."""
    method = getattr(obj, name)

    def checked(*args: Any, **kwargs: Any) -> Any:
        if name == "expand":
            template, subject = (args[0] if args else kwargs.get("template")), obj.string  # type: ignore[attr-defined]
        else:
            shift = 1 if obj is re else 0  # re.sub(pattern, repl, string) vs Pattern.sub(repl, string)
            template = args[shift] if len(args) > shift else kwargs.get("repl")
            subject = args[shift + 1] if len(args) > shift + 1 else kwargs.get("string")
        if isinstance(template, (str, bytes)) and isinstance(subject, (str, bytes)):
            # Matches do not overlap, so group references add at most the subject per reference.
            references = template.count("\\" if isinstance(template, str) else b"\\")  # type: ignore[arg-type]
            estimate = (len(subject) + 1) * (len(template) + 1) + references * len(subject)
            check_width(budget, estimate, f"re.{name}")
        return method(*args, **kwargs)

    return checked


# --- Builtins with guarded calls --------------------------------------------------------------


class _StandIn(type):
    """Metaclass of the stand-ins: isinstance, issubclass and class attributes (`bytes.fromhex`)
    behave as the real type's; calling one calls the run's guarded constructor. Subclasses inherit
    the guarded call too."""

    _sandbox_real: type
    _sandbox_call: Callable[..., Any]

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._sandbox_call(*args, **kwargs)

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, cls._sandbox_real)

    def __subclasscheck__(cls, subclass: Any) -> bool:
        return issubclass(subclass, cls._sandbox_real)

    def __getattr__(cls, name: str) -> Any:
        return getattr(cls._sandbox_real, name)

    def __repr__(cls) -> str:
        return repr(cls._sandbox_real)


def _stand_in(real: type, call: Callable[..., Any]) -> type:
    namespace = {"__doc__": real.__doc__, "_sandbox_real": real, "_sandbox_call": staticmethod(call)}
    return _StandIn(real.__name__, (), namespace)


def _stand_ins(budget: StepBudget) -> dict[type, type]:
    """The run's stand-ins for the builtin types whose constructors are guarded, keyed by the real
    type. `type()` maps through them, so `type(range(1))(10**10)` meets the same guard."""
    stand_ins: dict[type, type] = {}

    def _type(*args: Any, **kwargs: Any) -> type:
        if len(args) != 1 or kwargs:
            raise TypeError("type() takes exactly one argument in the sandbox; define classes with class")
        kind = type(args[0])
        # Never hand out a metaclass: calling one with three arguments builds a class from a
        # namespace of the caller's choosing, with the special methods the analyser refuses.
        if issubclass(kind, type):
            return stand_ins[type]
        return stand_ins.get(kind, kind)

    def _range(*args: Any) -> range:
        result = range(*args)
        check_range(budget, result)
        return result

    def _bytes(*args: Any, **kwargs: Any) -> bytes:
        if args and isinstance(args[0], int):
            check_width(budget, args[0], "bytes(n)")
        return bytes(*args, **kwargs)

    stand_ins.update(
        {type: _stand_in(type, _type), range: _stand_in(range, _range), bytes: _stand_in(bytes, _bytes)}
    )
    return stand_ins


def _iter(obj: Any, *sentinel: Any) -> Iterator[Any]:
    if sentinel and not isinstance(obj, (types.FunctionType, types.MethodType)):
        # iter(int, 1) never ends, and every C consumer (any, list, sum) would loop where the
        # step count cannot see it.
        raise TypeError("iter(callable, sentinel) takes a function defined in the script")
    return iter(obj, *sentinel)


_UNCHANGED: dict[str, Any] = {name: getattr(_host, name) for name in _PASS_THROUGH + _EXCEPTIONS}


def build(scope: RunScope) -> dict[str, Any]:
    """The `__builtins__` of one run."""
    budget = scope.budget
    table = dict(_UNCHANGED)

    def _print(
        *values: object, sep: str | None = " ", end: str | None = "\n", file: None = None, flush: bool = False
    ) -> None:
        if file is not None:
            raise TypeError("print(file=...) is not available in the sandbox")
        if (sep is not None and not isinstance(sep, str)) or (end is not None and not isinstance(end, str)):
            raise TypeError("sep and end must be None or a string")
        for value in values:
            check_nesting(budget, value)
        text = (" " if sep is None else sep).join(map(str, values))
        scope.output.write(text + ("\n" if end is None else end))

    def _import(
        name: str, globals: object = None, locals: object = None, fromlist: object = (), level: int = 0
    ) -> ModuleFacade:
        top = name.partition(".")[0]
        if name == "__future__" and not level:
            return _FUTURE  # `from __future__ import annotations` imports at run time too
        if level or top != name or top not in scope.allowed_imports:
            raise ImportError(
                f"Import not whitelisted: {name}. Allowed: {', '.join(sorted(scope.allowed_imports))}"
            )
        if top not in scope.imported:
            scope.imported[top] = facade(top, budget)
        return scope.imported[top]

    def _build_class(func: Callable[..., Any], name: str, *bases: Any, **keywords: Any) -> type:
        if keywords:
            raise TypeError("class keywords (metaclass=…) are not available in the sandbox")
        cls = _host.__build_class__(func, name, *bases)
        scope.user_classes.add(cls)
        return cls  # type: ignore[no-any-return]

    def _pow(base: Any, exp: Any, mod: Any = None) -> Any:
        if mod is None:
            return guarded_binop(scope, "Pow", base, exp)
        return pow(base, exp, mod)

    def _repr(obj: object) -> str:
        check_nesting(budget, obj)
        return repr(obj)

    def _ascii(obj: object) -> str:
        check_nesting(budget, obj)
        return ascii(obj)

    def _format(value: object, spec: str = "") -> str:
        return guarded_format(budget, value, "", spec)

    table.update(
        {
            "print": _print,
            **{real.__name__: stand_in for real, stand_in in _stand_ins(budget).items()},
            "pow": _pow,
            "repr": _repr,
            "ascii": _ascii,
            "format": _format,
            "iter": _iter,
            "getattr": lambda obj, name, *default: guarded_getattr(scope, obj, name, *default),
            "hasattr": lambda obj, name: guarded_hasattr(scope, obj, name),
            "setattr": lambda obj, name, value: guarded_setattr(scope, obj, name, value),
            "delattr": lambda obj, name: guarded_delattr(scope, obj, name),
            "__import__": _import,
            "__build_class__": _build_class,
            policy.GUARD_BINOP: lambda op, a, b: guarded_binop(scope, op, a, b),
            policy.GUARD_INPLACE: lambda op, a, b: guarded_inplace(scope, op, a, b),
            policy.GUARD_GETATTR: lambda obj, name: guarded_getattr(scope, obj, name),
            policy.GUARD_SETATTR: lambda obj, name, value: guarded_setattr(scope, obj, name, value),
            policy.GUARD_DELATTR: lambda obj, name: guarded_delattr(scope, obj, name),
            policy.GUARD_AUGATTR: lambda obj, name, op, value: guarded_augattr(scope, obj, name, op, value),
            policy.GUARD_FORMAT: lambda value, conversion, spec: guarded_format(
                budget, value, conversion, spec
            ),
        }
    )
    return table


def guard_code_ids(*extra_modules: types.ModuleType) -> frozenset[int]:
    """Ids of the code objects of this module, limits.py, policy.py (the attribute rule the guards
    apply) and `extra_modules`, nested ones included."""
    from . import limits

    codes: set[int] = set()

    def collect(code: types.CodeType) -> None:
        codes.add(id(code))
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                collect(const)

    for module in (limits, policy, sys.modules[__name__], *extra_modules):
        for value in vars(module).values():
            members = vars(value).values() if isinstance(value, type) else ()
            for candidate in (value, *members):
                code = getattr(candidate, "__code__", None)
                if isinstance(code, types.CodeType) and code.co_filename == module.__file__:
                    collect(code)
    return frozenset(codes)


__all__ = ["LimitExceeded", "RunScope", "SandboxViolation", "build", "guard_code_ids"]
