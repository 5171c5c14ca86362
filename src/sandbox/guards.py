"""Checked versions of what the script reaches that can outgrow its inputs in one C call.

Attribute reads the interpreter does not do by itself (getattr, format fields, the loads of
`policy.GUARDED_METHODS`) come here: the names pass the attribute rule, and the str, bytes, int,
regex, Counter and random methods that pad, join, split, encode, substitute or draw come back as
versions measured before they run. The stand-in metaclass lives here too: the builtins and the
facades both hand out stand-ins for types whose constructors are guarded.
"""

from __future__ import annotations

import abc
import collections
import re
import string
import sys
import types
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from . import ownership, policy
from .counting import counted
from .limits import (
    UNCHECKED_BYTES,
    StepBudget,
    as_count,
    call,
    char_bytes,
    check_bytes,
    check_format_spec,
    check_int_text,
    check_nesting,
    check_rendering,
    check_width,
    plain,
    rendered,
    spend,
    true_length,
)
from .policy import SandboxViolation

# --- Attribute access -------------------------------------------------------------------------


def plain_name(name: object) -> str:
    """An attribute name as a plain str. A str subclass is copied first: a rule would otherwise ask
    the name's own startswith and __eq__, which the script wrote, while the lookup uses its
    characters (getattr(print, S('__globals__')))."""
    if not isinstance(name, str):
        raise TypeError(f"attribute name must be string, not '{type(name).__name__}'")
    return str.__getitem__(name, slice(None))


def read_attribute(budget: StepBudget, classes: set[type], obj: object, name: object) -> object:
    """Every attribute read the interpreter does not do by itself for a literal, public name:
    getattr and hasattr, format fields ("{0.name}"), and the loads of the names in
    policy.GUARDED_METHODS, of single-underscore names and of policy.OWNER_DUNDERS. The rule is
    ownership.attribute_violation (the analyser's rule, then whose object it is); guarded methods
    come back as their checked versions."""
    checked = plain_name(name)
    entries = ownership.lookup_entries(obj)
    if entries > _FREE_LOOKUP:
        # The rule walks these classes, some twice: below a chain of a thousand classes a read
        # costs a millisecond, which a loop of reads would get for a step.
        spend(budget, entries, "reading an attribute")
    message = ownership.attribute_violation(classes, obj, checked)
    if message:
        raise SandboxViolation(message)
    if checked in policy.GUARDED_METHODS:
        return guarded_method(budget, obj, checked, classes)
    if checked == "__dict__":
        return ownership.instance_dict(classes, obj)
    return getattr(obj, checked)


# Classes in an object's lookup path that its reads get for free: ordinary classes have a few.
_FREE_LOOKUP = 16


# --- Formatting -------------------------------------------------------------------------------


class _SafeFormatter(string.Formatter):
    """str.format and format_map: fields may index and read public attributes only, specs may not
    pad to huge widths, values are checked for nesting before C code recurses into them, and the
    result (`'{0}' * 1000` of a megabyte: every field the same object) must fit in the memory left
    before the fields are joined."""

    def __init__(self, budget: StepBudget, classes: set[type]) -> None:
        self.budget = budget
        self.classes = classes
        self.size = 0

    def vformat(self, format_string: str, args: Any, kwargs: Any) -> str:
        self.size = (true_length(format_string) or 0) * char_bytes(format_string)
        return super().vformat(format_string, args, kwargs)

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, Any]:
        first, rest = _formatter_field_name_split(field_name)
        obj = self.get_value(first, args, kwargs)
        for is_attribute, key in rest:
            # A field chains any number of reads (`'{0' + '.a' * 10**7 + '}'`): a step each, as
            # the script's own loop of them would be.
            spend(self.budget, 1, "a format field")
            obj = read_attribute(self.budget, self.classes, obj, key) if is_attribute else obj[key]
        return obj, first

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        # `!r`, `!s` and `!a` make the value's text here, before format_field measures the piece.
        converter = _CONVERSIONS.get(conversion) if isinstance(conversion, str) else None
        if converter is None:
            check_nesting(self.budget, value)
            return super().convert_field(value, conversion)
        return rendered(self.budget, value, converter)

    def format_field(self, value: Any, format_spec: str) -> Any:
        piece = guarded_format(self.budget, value, "", format_spec)
        self.size += (true_length(piece) or 0) * char_bytes(piece)
        check_bytes(self.budget, self.size, "str.format")
        return piece


def _formatter_field_name_split(field_name: str) -> tuple[Any, Iterator[tuple[bool, Any]]]:
    # The same parser str.format uses, reached through a str method's documented behaviour:
    # string.Formatter.get_field calls it; we need its result before any getattr happens.
    import _string

    return _string.formatter_field_name_split(field_name)


_CONVERSIONS: dict[str, Callable[[Any], str]] = {"r": repr, "s": str, "a": ascii}


def guarded_format(budget: StepBudget, value: object, conversion: str, spec: object) -> str:
    """format(), f-string fields, and str.format's fields all end here."""
    converter = _CONVERSIONS.get(conversion)
    if converter is not None:
        value = rendered(budget, value, converter)
    else:
        check_nesting(budget, value)
        check_rendering(budget, value)
    if not isinstance(spec, str):
        raise TypeError(f"format spec must be str, not {type(spec).__name__}")
    check_format_spec(budget, spec, char_bytes(value))
    check_int_text(budget, value, plain(spec)[-1:])
    if spec and _moment_types(value):
        spec = check_strftime(budget, value, spec)  # date.__format__ is strftime
    return format(value, spec)


# --- Methods that can outgrow their inputs ----------------------------------------------------

TEXT_TYPES = (str, bytes, bytearray)
_GUARDED_OWNERS = (*TEXT_TYPES, re.Pattern, re.Match)


def guarded_method(budget: StepBudget, obj: object, name: str, classes: set[type]) -> Callable[..., Any]:
    """`obj.name` for the names in policy.GUARDED_METHODS. Decided on what the lookup returns, not
    on `obj`, so subclasses of str and `super()` objects get the same checked versions: str and
    bytes methods, re's module functions, and the methods of patterns and matches."""
    attribute = getattr(obj, name)
    if type(attribute) is types.MethodType and attribute.__func__ is abc.ABCMeta.register:
        # Fraction.register(tuple), ChainMap.register(...): a virtual subclass changes isinstance and
        # issubclass for the whole process, the host's own checks and every later run included.
        raise SandboxViolation("Blocked: registering virtual subclasses of abstract classes not allowed")
    # The common case first, making nothing on the way: every object made here is traced.
    if type(attribute) is types.BuiltinMethodType and isinstance(attribute.__self__, TEXT_TYPES):
        return _text_method(budget, attribute.__self__, name, attribute, classes)
    if isinstance(attribute, types.MethodDescriptorType) and attribute.__objclass__ in _UNBOUND_OWNERS:
        owner_type = attribute.__objclass__
        # str.format, bytes.center, int.to_bytes, re.Pattern.findall, …: unbound, the first
        # argument is the object; the bound version of it is the checked one.

        def unbound(self: object, *args: Any, **kwargs: Any) -> Any:
            if not isinstance(self, owner_type):
                raise TypeError(f"descriptor '{name}' requires a '{owner_type.__name__}' object")
            return guarded_method(budget, self, name, classes)(*args, **kwargs)

        return unbound
    if name == "strftime" and _moment_types(attribute):
        return _bound(_checked_strftime, budget, attribute)
    if name == "elements" and attribute is collections.Counter.elements:
        return lambda counter: counted(collections.Counter.elements(counter))
    if isinstance(attribute, types.BuiltinMethodType):
        owner = attribute.__self__
        if isinstance(owner, TEXT_TYPES):
            return _text_method(budget, owner, name, attribute, classes)  # a subclass of the method type
        if isinstance(owner, re.Pattern) and name in _PER_MATCH:
            return _bound(_per_match_call, budget, owner, name, attribute, 0)
        if isinstance(owner, (re.Pattern, re.Match)):
            return _regex_method(budget, owner, name)
        if isinstance(owner, int) and name == "to_bytes":
            return _to_bytes(budget, owner)
    if isinstance(attribute, types.MethodType) and isinstance(attribute.__self__, collections.Counter):
        return lambda: counted(attribute())  # Counter.elements: itertools.repeat inside
    if name in _RANDOM_SIZES and _is_random_method(attribute):
        return _random_method(budget, attribute, name)
    if any(attribute is getattr(re, function) for function in _RE_FUNCTIONS):
        return _regex_method(budget, re, name)
    return attribute  # type: ignore[no-any-return]


# Bytes an item of a list of new strings costs beyond its characters: a list slot and a str header.
_PIECE_BYTES = 8 + 56
# Characters that end a line for str.splitlines, and that separate words for str.split().
LINE_BREAKS = {str: "\n\x0b\x0c\r\x1c\x1d\x1e\x85\u2028\u2029", bytes: "\n\r"}
_WHITESPACE = {
    str: "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000",
    bytes: "\t\n\x0b\x0c\r ",
}
# Bytes str.encode may write for one character: `\U0010ffff` (unicode_escape, backslashreplace),
# `&#1114111;`, and for namereplace `\N{...}` with the longest character name.
_ENCODE_ERROR_BYTES = {"namereplace": 100}


def _text_method(
    budget: StepBudget,
    text: str | bytes | bytearray,
    name: str,
    method: Callable[..., Any],
    classes: set[type],
) -> Callable[..., Any]:
    """A checked version of `method`, one of GUARDED_METHODS bound to `text`. Measured with the
    builtin type's own methods: a subclass may override `count`, `__len__` and the rest. Every
    object made here is traced when memory is tracked, so the common calls make few."""
    if name in _WHOLE_TEXT and _whole_text_fits(budget, text, name):
        # A split or an encoding of this text fits whatever its arguments: the method itself, at no
        # cost per call (these are the methods evals call most).
        return method
    if name in ("format", "format_map"):
        if not isinstance(text, str):
            return method
        formatter = _SafeFormatter(budget, classes)
        if name == "format":
            return lambda *args, **kwargs: formatter.vformat(text, args, kwargs)
        return lambda mapping: formatter.vformat(text, (), mapping)
    return _bound(_checked_text_call, budget, text, name, method)


def _bound(function: Callable[..., Any], *first: Any) -> Callable[..., Any]:
    """`function` with its first arguments given, as a closure. Never functools.partial: its
    public `func`, `args` and `keywords` would hand the script the run's budget and the raw method
    the guard stands in for."""

    def checked(*args: Any, **kwargs: Any) -> Any:
        return function(*first, *args, **kwargs)

    return checked


def _whole_text_fits(budget: StepBudget, text: str | bytes | bytearray, name: str) -> bool:
    return _fits(budget, ((true_length(text) or 0) + 1) * _WHOLE_TEXT[name])


def _fits(budget: StepBudget, size: float) -> bool:
    return size <= UNCHECKED_BYTES or size <= budget.headroom()


# The most a split makes per character of its text (a piece each), and an encoding.
_WHOLE_TEXT = {"split": 2 * 64, "rsplit": 2 * 64, "splitlines": 2 * 64, "encode": 100}
_METHOD_NAMES = {
    base: {name: f"{base.__name__}.{name}" for name in policy.GUARDED_METHODS}
    for base in (str, bytes, bytearray)
}


def _checked_text_call(
    budget: StepBudget,
    text: str | bytes | bytearray,
    name: str,
    method: Callable[..., Any],
    /,
    *args: Any,
    **kwargs: Any,
) -> Any:
    # Short, so the allocations the method makes are cheap to trace (see limits.call).
    return call(method, *_check_text_call(budget, text, name, args, kwargs), **kwargs)


def _check_text_call(
    budget: StepBudget,
    text: str | bytes | bytearray,
    name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> tuple[Any, ...]:
    """Measure `text.name(*args, **kwargs)` before it runs; the arguments to call it with."""
    base = str if isinstance(text, str) else bytes if isinstance(text, bytes) else bytearray
    length = true_length(text) or 0
    what = _METHOD_NAMES[base][name]
    if name in ("ljust", "rjust", "center", "zfill") and args:
        width = as_count(args[0])
        size = max(char_bytes(text), char_bytes(args[1]) if len(args) > 1 else 1)
        check_width(budget, width, what, size)
        return (width, *args[1:])
    if name == "expandtabs":
        tabsize = as_count(args[0] if args else kwargs.get("tabsize", 8)) or 0
        tabs = base.count(text, "\t" if base is str else b"\t")  # type: ignore[call-overload]
        check_bytes(budget, (length + tabs * max(tabsize, 0)) * char_bytes(text), what)
    elif name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        count = as_count(args[2] if len(args) > 2 else kwargs.get("count", -1))
        if isinstance(old, TEXT_TYPES) and isinstance(new, TEXT_TYPES):
            hits = base.count(text, old)  # type: ignore[call-overload]
            if count is not None and count >= 0:
                hits = min(hits, count)
            grown = length + hits * max((true_length(new) or 0) - (true_length(old) or 0), 0)
            check_bytes(budget, grown * max(char_bytes(text), char_bytes(new)), what)
    elif name == "translate" and args:
        check_bytes(budget, length * _longest_replacement(budget, args[0]), what)
    elif name == "join" and args:
        items = args[0] if type(args[0]) in (list, tuple) else list(args[0])
        spend(budget, len(items) // 4, what)  # measured at C speed, about 0.2 us an item
        check_bytes(budget, _joined_bytes(text, items), what)
        return (items,)
    elif name in ("split", "rsplit", "splitlines"):
        check_bytes(budget, _split_bytes(base, text, name, args, kwargs), what)
    elif name == "encode":
        errors = args[1] if len(args) > 1 else kwargs.get("errors", "strict")
        handler = plain(errors) if isinstance(errors, str) else errors
        check_bytes(budget, length * _ENCODE_ERROR_BYTES.get(handler, 10), what)
    return args


def _longest_replacement(budget: StepBudget, table: object) -> int:
    """Bytes one character may become through a translate table held in a dict, list or tuple
    (their lookups run in C, unseen); a table of the script's own class is looked up through its
    `__getitem__`, a step at a time."""
    # Read as C reads them: a subclass's own values() or __iter__ may hide what its lookups return.
    if isinstance(table, dict):
        values: Any = list(dict.values(table))
    elif isinstance(table, (list, tuple)):
        values = (list if isinstance(table, list) else tuple).__getitem__(table, slice(None))
    elif isinstance(table, (str, bytes)):
        values = plain(table)
    else:
        return 4
    spend(budget, len(values) // 16, "a translate table")
    replacements = [v for v in values if isinstance(v, str)]
    return max((true_length(v) or 1) * char_bytes(v) for v in [*replacements, "x"])


def _joined_bytes(separator: str | bytes | bytearray, items: list[Any]) -> int:
    """What `separator.join(items)` needs: every item, and the separator between each two."""
    try:
        if isinstance(separator, str):
            total = sum(map(str.__len__, items))
            wide = not (str.isascii(separator) and all(map(str.isascii, items)))
            width = 4 if wide else 1
        else:
            total, width = sum(map(len, map(memoryview, items))), 1
    except TypeError:
        return 0  # an item of the wrong type: join refuses it before allocating
    return (total + (true_length(separator) or 0) * max(len(items) - 1, 0)) * width


def _split_bytes(
    base: type, text: str | bytes | bytearray, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> int:
    """An upper bound of what a split builds: a piece after every separator, each a new object in
    a new list. Separators are counted at C speed, one pass per kind of separator."""
    family = str if base is str else bytes
    if name == "splitlines":
        separators: Iterable[Any] = LINE_BREAKS[family]
    else:
        separator = args[0] if args else kwargs.get("sep")
        separators = _WHITESPACE[family] if separator is None else (separator,)
    if family is bytes:
        separators = [s.encode("latin-1") if isinstance(s, str) else s for s in separators]
    try:
        pieces = 1 + sum(base.count(text, s) for s in separators if true_length(s))  # type: ignore[attr-defined]
    except TypeError:
        return 0  # a separator of the wrong type: split refuses it
    if name != "splitlines":
        limit = as_count(args[1] if len(args) > 1 else kwargs.get("maxsplit", -1))
        if limit is not None and limit >= 0:
            pieces = min(pieces, limit + 1)
    return pieces * _PIECE_BYTES + (true_length(text) or 0) * char_bytes(text)


def _to_bytes(budget: StepBudget, number: int) -> Callable[..., bytes]:
    def to_bytes(*args: Any, **kwargs: Any) -> bytes:
        if args:
            args = (as_count(args[0]), *args[1:])
            check_bytes(budget, args[0] or 0, "int.to_bytes")
        elif "length" in kwargs:
            kwargs["length"] = as_count(kwargs["length"])
            check_bytes(budget, kwargs["length"] or 0, "int.to_bytes")
        return int.to_bytes(number, *args, **kwargs)

    return to_bytes


# Types whose methods in GUARDED_METHODS are checked when reached unbound too (`int.to_bytes(1, n)`).
_UNBOUND_OWNERS = (*TEXT_TYPES, int, re.Pattern, re.Match)

# random.Random's methods that allocate what their argument says, and bytes per unit of it.
_RANDOM_SIZES = {"getrandbits": 1 / 8, "randbytes": 1}


def _is_random_method(attribute: object) -> bool:
    """A method of random.Random, bound (`Random().getrandbits`) or not (`Random.getrandbits`):
    the facade's own functions are checked, but it hands out the class too."""
    random = sys.modules.get("random")
    if random is None:
        return False
    owner = getattr(attribute, "__self__", None)
    if isinstance(owner, random.Random):
        return True
    objclass = getattr(attribute, "__objclass__", None)
    qualname = getattr(attribute, "__qualname__", "")
    return (isinstance(objclass, type) and issubclass(random.Random, objclass)) or qualname.startswith(
        "Random."
    )


def _random_method(budget: StepBudget, method: Callable[..., Any], name: str) -> Callable[..., Any]:
    position = 0 if hasattr(method, "__self__") else 1  # unbound: the generator comes first

    def checked(*args: Any) -> Any:
        if len(args) > position:
            count = as_count(args[position])
            check_bytes(budget, (count or 0) * _RANDOM_SIZES[name], f"random.{name}")
            args = (*args[:position], count, *args[position + 1 :])
        return method(*args)

    return checked


def _moment_types(value: object) -> bool:
    """Whether `value` is a date, datetime or time, or their strftime method, bound or not (without
    importing datetime: a run that holds one has it)."""
    datetime = sys.modules.get("datetime")
    if datetime is None:
        return False
    moments = (datetime.date, datetime.time)
    owner = getattr(value, "__self__", None) if callable(value) else value
    if isinstance(owner, moments):
        return True
    return isinstance(value, types.MethodDescriptorType) and issubclass(value.__objclass__, moments)


# The longest text one strftime directive makes in any locale C's strftime knows (`%c`: 24
# characters in C's, about twice that elsewhere).
_DIRECTIVE_CHARS = 64


def check_strftime(budget: StepBudget, moment: object, fmt: object) -> object:
    """strftime expands every directive of its format in one C call (`'%c' * 10**6`: 24 MB, and
    the buffers it grows through), `%Z` into the time zone's name, which may be as long as the
    script likes: the result, twice over, measured first. The format to pass on, as measured."""
    if not isinstance(fmt, str):
        return fmt  # strftime refuses it
    fmt = plain(fmt)
    zone = moment.tzname() if isinstance(moment, _datetime_types()) else None  # type: ignore[attr-defined]
    zone_chars = (true_length(zone) or 0) if isinstance(zone, str) else 0
    directives = str.count(fmt, "%")
    size = true_length(fmt) + directives * _DIRECTIVE_CHARS + str.count(fmt, "%Z") * zone_chars  # type: ignore[operator]
    check_bytes(budget, 2 * size * max(char_bytes(fmt), char_bytes(zone)), "strftime")
    return fmt


def _datetime_types() -> tuple[type, ...]:
    datetime = sys.modules["datetime"]
    return (datetime.datetime, datetime.time)


def _checked_strftime(budget: StepBudget, method: Callable[..., Any], /, *args: Any) -> Any:
    if type(method) is types.MethodDescriptorType:  # unbound: the moment comes first
        if args and isinstance(args[0], method.__objclass__):
            return method(args[0], *(check_strftime(budget, args[0], fmt) for fmt in args[1:2]), *args[2:])
        return method(*args)
    return method(*(check_strftime(budget, method.__self__, fmt) for fmt in args[:1]), *args[1:])  # type: ignore[attr-defined]


def exact_text(value: object) -> object:
    """A str or bytes subclass copied to the plain type; anything else as it is. Patterns, flags and
    templates become keys of re's process-wide caches, where a key's own __eq__ and __hash__ would
    run whenever a later run or the host looked up an equal one."""
    kind = type(value)
    if kind is not str and isinstance(value, str):
        return str.__getitem__(value, slice(None))
    if kind is not bytes and isinstance(value, bytes):
        return bytes.__getitem__(value, slice(None))
    return value


def plain_keywords(kwargs: dict[Any, Any]) -> dict[str, Any]:
    """Keyword arguments with their names copied to exact str. A str subclass as a keyword name
    (`f(**{S('x'): v})`) reaches a facade's **kwargs as it is: `"indent" in kwargs` asks its
    __hash__ and __eq__, which may say no, while the function it is forwarded to binds it by its
    value (C) or by its __eq__ (Python) to the very parameter the facade looked for."""
    return {str.__getitem__(key, slice(None)): value for key, value in dict.items(kwargs)}


_RE_FUNCTIONS = ("sub", "subn", "findall", "finditer", "split")


def _regex_method(budget: StepBudget, obj: object, name: str) -> Callable[..., Any]:
    """re's module functions and the methods of patterns and matches whose result can be far larger
    than the string searched. A substitution template repeats its literal text for every match,
    so its result is measured first. findall, finditer and split make objects for every match
    (`re.findall('()' * 100, s)`: a tuple of 100 strings per position): they are built from
    finditer's matches one step each, so memory is looked at as they grow."""
    method = getattr(obj, name)
    shift = 1 if obj is re else 0  # re.sub(pattern, repl, string) vs Pattern.sub(repl, string)
    if name in _PER_MATCH:
        return _bound(_per_match_call, budget, obj, name, method, shift)

    def checked(*args: Any, **kwargs: Any) -> Any:
        args = tuple(map(exact_text, args))
        kwargs = {key: exact_text(value) for key, value in plain_keywords(kwargs).items()}
        if name == "expand":
            template, subject = (args[0] if args else kwargs.get("template")), obj.string  # type: ignore[attr-defined]
        else:
            template = args[shift] if len(args) > shift else kwargs.get("repl")
            subject = args[shift + 1] if len(args) > shift + 1 else kwargs.get("string")
        if isinstance(template, (str, bytes)) and isinstance(subject, (str, bytes)):
            # Matches do not overlap, so group references add at most the subject per reference.
            backslash = "\\" if isinstance(template, str) else b"\\"
            references = plain(template).count(backslash)
            size, pattern = true_length(subject) or 0, true_length(template) or 0
            estimate = (size + 1) * (pattern + 1) + references * size
            check_bytes(budget, estimate * max(char_bytes(subject), char_bytes(template)), f"re.{name}")
        return call(method, *args, **kwargs)

    return checked


# What findall, finditer and split make: objects for every match.
_PER_MATCH = frozenset({"findall", "finditer", "split"})


def _per_match_call(
    budget: StepBudget,
    obj: object,
    name: str,
    method: Callable[..., Any],
    shift: int,
    /,
    *args: Any,
    **kwargs: Any,
) -> Any:
    # At most a match per position, each a few objects: when even that fits in the memory left,
    # C does it; otherwise the result is built a match a step, memory looked at each.
    kwargs = plain_keywords(kwargs)
    subject = args[shift] if len(args) > shift else kwargs.get("string")
    groups = _groups_upper_bound(obj, args, kwargs)
    if _fits(budget, ((true_length(subject) or 0) + 1) * _PIECE_BYTES * (groups + 2)):
        return call(method, *args, **kwargs)
    finditer = obj.finditer  # type: ignore[attr-defined]
    if name == "finditer":
        return counted(finditer(*args, **kwargs))
    if name == "findall":
        return list(counted(_findall(finditer(*args, **kwargs))))
    return list(counted(_split(finditer, shift, *args, **kwargs)))


def _groups_upper_bound(obj: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """A pattern's groups, from the compiled pattern or as the '(' in its text (without compiling:
    re's cache is shared)."""
    pattern = obj if isinstance(obj, re.Pattern) else args[0] if args else kwargs.get("pattern")
    if isinstance(pattern, re.Pattern):
        return pattern.groups
    if isinstance(pattern, (str, bytes)):
        return plain(pattern).count("(" if isinstance(pattern, str) else b"(")
    return 0


def _findall(matches: Iterable[re.Match[Any]]) -> Iterator[Any]:
    """findall's items from finditer's matches: the whole match, the one group, or all of them."""
    for match in matches:
        groups = match.re.groups
        yield match.group() if groups == 0 else match.groups("")[0] if groups == 1 else match.groups("")


def _split(finditer: Callable[..., Any], shift: int, *args: Any, **kwargs: Any) -> Iterator[Any]:
    """split's pieces from finditer's matches, as the C implementation takes them: the text before
    each match, then its groups; at most `maxsplit` matches; then the rest."""
    positional = list(args)
    maxsplit = positional.pop(shift + 1) if len(positional) > shift + 1 else kwargs.pop("maxsplit", 0)
    maxsplit = as_count(maxsplit)
    if maxsplit is None:
        raise TypeError("maxsplit must be an integer")
    # Sliced as the C implementation slices: the text itself, not a subclass's __getitem__.
    subject = plain(positional[shift] if len(positional) > shift else kwargs.get("string"))
    last = 0
    for count, match in enumerate(finditer(*positional, **kwargs)):
        if 0 < maxsplit <= count:
            break
        yield subject[last : match.start()]
        yield from match.groups()
        last = match.end()
    yield subject[last:]


# Factories whose nested functions are the checked versions the script holds and calls
# (builtins.handed_out_code_ids: a step per call).
HANDED_OUT_FACTORIES = (guarded_method, _text_method, _bound, _to_bytes, _random_method, _regex_method)


# --- Builtins with guarded calls --------------------------------------------------------------


class _StandIn(type):
    """Metaclass of the stand-ins: isinstance, issubclass and class attributes (`bytes.fromhex`)
    behave as the real type's; calling one calls the run's guarded constructor. Subclasses inherit
    the guarded call too."""

    _sandbox_real: type
    _sandbox_call: Callable[..., Any]
    _sandbox_attributes: frozenset[str]

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> _StandIn:
        # A subclass would inherit the real type and the guarded call, with neither behaving as a
        # subclass should; `class M(type)` is a metaclass, class machinery the script may not make.
        if any(type(base) is mcs for base in bases):
            raise TypeError(f"{bases[0].__name__} cannot be subclassed in the sandbox")
        return super().__new__(mcs, name, bases, namespace)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._sandbox_call(*args, **kwargs)

    def __setattr__(cls, name: str, value: Any) -> None:
        raise AttributeError(f"{cls.__name__} is read-only in the sandbox")

    def __delattr__(cls, name: str) -> None:
        raise AttributeError(f"{cls.__name__} is read-only in the sandbox")

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, cls._sandbox_real)

    def __subclasscheck__(cls, subclass: Any) -> bool:
        return issubclass(subclass, cls._sandbox_real)

    def __getattr__(cls, name: str) -> Any:
        # Only the real type's public attributes (bytes.fromhex, range.count): anything else would
        # raise from the real type, and the error would carry it.
        if name in cls._sandbox_attributes:
            return getattr(cls._sandbox_real, name)
        raise AttributeError(f"type object '{cls.__name__}' has no attribute '{name}' in the sandbox")

    def __repr__(cls) -> str:
        return repr(cls._sandbox_real)


def stand_in_class(real: type, call: Callable[..., Any], attributes: frozenset[str]) -> type:
    namespace = {
        "__doc__": real.__doc__,
        "_sandbox_real": real,
        "_sandbox_call": staticmethod(call),
        "_sandbox_attributes": attributes,
    }
    return _StandIn(real.__name__, (), namespace)


def public_attributes(real: type) -> frozenset[str]:
    return frozenset(
        name for name in dir(real) if not name.startswith("_") and policy.attribute_violation(name) is None
    )
