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
import collections
import enum
import importlib
import inspect
import operator
import re
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import repeat
from types import TracebackType
from typing import Any

from . import ownership, policy
from .facades import REPLACED_CLASSES, FacadeRun, ModuleFacade, facade
from .facades.typing import SANDBOX_BASES
from .guards import (
    TEXT_TYPES,
    guarded_format,
    plain_name,
    public_attributes,
    read_attribute,
    stand_in_class,
)
from .limits import (
    LimitExceeded,
    OutputLimitExceeded,
    StepBudget,
    as_count,
    char_bytes,
    check_bytes,
    check_class,
    check_concatenation,
    check_int_text,
    check_lshift,
    check_mul,
    check_nesting,
    check_number_texts,
    check_pow,
    check_range,
    check_rational,
    check_rendering,
    check_round,
    check_width,
    plain,
    rendered,
    spend,
    true_length,
)
from .policy import SandboxViolation

# Interpreter builtins handed over unchanged: pure functions and types whose every operation is
# either step-counted or bounded by the size of its inputs.
_PASS_THROUGH = [
    "abs",
    "aiter",
    "anext",
    "all",
    "any",
    "bool",
    "callable",
    "chr",
    "complex",
    "dict",
    "enumerate",
    "filter",
    "float",
    "frozenset",
    "hash",
    "int",
    "len",
    "list",
    "map",
    "max",
    "min",
    "next",
    "object",
    "ord",
    "reversed",
    "set",
    "slice",
    "sorted",
    "str",
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
_C_IMPORTS = frozenset({"_strptime", "time"})

TRUNCATION_MARKER = "\n[output truncated: limit of {limit} bytes reached]"


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
        room = limit - self.size
        # Only what can still fit is encoded (a character is at least a byte): printing a huge
        # string costs no more than the room left.
        head = str.__getitem__(text, slice(0, room + 1))
        encoded = str.encode(head, "utf-8", errors="replace")
        if len(encoded) <= room:
            self.chunks.append(head)
            self.size += len(encoded)
            return
        self.chunks.append(encoded[:room].decode("utf-8", errors="ignore"))
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
    words: frozenset[str] = frozenset()
    """The names the script's code holds (runner.script_words): the only ones a class factory
    that compiles code may be given."""
    output: OutputBuffer = field(init=False)
    user_classes: set[type] = field(default_factory=set)
    imported: dict[str, ModuleFacade] = field(default_factory=dict)
    # Bases a facade made for the run's classes to derive from (enum's guarded Enum, IntEnum, …).
    facade_bases: set[type] = field(default_factory=set)
    # The classes the run can name (its builtins table, the facades it imported): type() hands
    # these out.
    nameable: set[type] = field(default_factory=lambda: set(_NAMEABLE_BUILTINS))
    cleaned: dict[int, tuple[BaseException, TracebackType | None]] = field(default_factory=dict)
    """Exceptions clean_exception has made plain, by id, with their traceback as it left it; the
    teardown frees them."""

    def __post_init__(self) -> None:
        self.output = OutputBuffer(self.budget)

    def begin(self, budget: StepBudget, words: frozenset[str]) -> None:
        """Start the next run on this scope (RunBuiltins lends one scope to run after run): every
        field is new, none cleared, so whatever still held a container of the last run holds
        nothing of this one's."""
        self.budget = budget
        self.words = words
        self.output = OutputBuffer(budget)
        self.user_classes = set()
        self.imported = {}
        self.facade_bases = set()
        self.nameable = set(_NAMEABLE_BUILTINS)
        self.cleaned = {}


def guarded_getattr(scope: RunScope, obj: object, name: str, *default: object) -> object:
    try:
        return read_attribute(scope.budget, scope.user_classes, obj, name)
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


def _check_writable(scope: RunScope, obj: object, name: object, value: object = None) -> str:
    """Attribute writes reach the script's own classes and their instances only: a module's
    classes, functions and singletons are shared with later runs and with the host. Returns the
    name as the plain str to write."""
    name = plain_name(name)
    message = policy.attribute_violation(name)
    if message is None and policy.is_dunder(name):
        message = f"Blocked: assigning dunder attribute '{name}' not allowed"
    if message is None and not ownership.owns(scope.user_classes, obj):
        if isinstance(obj, ModuleFacade):
            message = f"Blocked: {obj!r} is read-only"
        else:
            message = (
                f"Blocked: cannot set attributes on {type(obj).__name__} objects: only on instances of"
                " classes defined in the script"
            )
    if message is None:
        message = ownership.write_violation(scope.user_classes, obj, name, value)
    if message:
        raise SandboxViolation(message)
    return name


def guarded_vars(scope: RunScope, *args: object) -> dict[str, Any]:
    """vars(obj) of the run's own instances; vars() alone would be the namespace itself."""
    if len(args) != 1:
        raise TypeError(
            "vars() takes one argument in the sandbox: an instance of a class defined in the script"
        )
    return ownership.instance_dict(scope.user_classes, args[0])


def guarded_setattr(scope: RunScope, obj: object, name: object, value: object) -> None:
    setattr(obj, _check_writable(scope, obj, name, value), value)


def guarded_delattr(scope: RunScope, obj: object, name: object) -> None:
    delattr(obj, _check_writable(scope, obj, name))


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "Mult": operator.mul, "Pow": operator.pow, "LShift": operator.lshift, "Mod": operator.mod,
    "Div": operator.truediv, "FloorDiv": operator.floordiv,
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
    elif op in ("Mod", "Div", "FloorDiv"):
        check_rational(scope.budget, op, left, right)


def guarded_binop(scope: RunScope, op: str, left: object, right: object) -> object:
    if op == "Mod" and isinstance(left, TEXT_TYPES):
        return operator.mod(left, _check_percent(scope, left, right))
    _check_operands(scope, op, left, right)
    return _BINARY[op](left, right)


def guarded_inplace(scope: RunScope, op: str, target: object, value: object) -> object:
    if op == "Mod" and isinstance(target, TEXT_TYPES):
        return operator.imod(target, _check_percent(scope, target, value))
    _check_operands(scope, op, target, value)
    return _INPLACE[op](target, value)


# Plain ints and floats of magnitude under 2**62: every operator the analyser routes here is then a
# few machine instructions with a result of at most 64 * 62 bits (exponents and shifts only up to
# 64), so no size or cost check could refuse it; most arithmetic in a loop is this, and it skips
# them. Exact types only: a subclass's own comparison methods must not decide what is small.
_SMALL = 1 << 62
_MINUS_SMALL = -_SMALL  # computed once: a negation in the test would be a new int object per call
_SMALL_POWER = 64
_GROWS_WITH_RIGHT = frozenset({"Pow", "LShift"})  # the result's size grows with the right operand's value


def operator_guards(scope: RunScope) -> dict[str, Callable[[object, object], object]]:
    """The guard of each operator the analyser routes (policy.GUARD_BINOPS, GUARD_INPLACES): one
    function, the operation chosen here. A guard shared by all of them, called with the operator's
    name, took a second Python call and a look-up per operation: a third of what `i * i % 7`
    cost in a loop in Pyodide."""
    guards: dict[str, Callable[[object, object], object]] = {}
    for op, name in policy.GUARD_BINOPS.items():
        guards[name] = _operator_guard(scope, op, _BINARY[op], guarded_binop)
        guards[policy.GUARD_INPLACES[op]] = _operator_guard(scope, op, _INPLACE[op], guarded_inplace)
    return guards


def _operator_guard(
    scope: RunScope,
    op: str,
    apply: Callable[[Any, Any], object],
    checked: Callable[[RunScope, str, Any, Any], object],
) -> Callable[[object, object], object]:
    any_power = op not in _GROWS_WITH_RIGHT

    def guard(left: Any, right: Any) -> object:
        kind = type(left)
        if (
            (kind is int or kind is float)
            and (type(right) is int or type(right) is float)
            and _MINUS_SMALL < left < _SMALL
            and _MINUS_SMALL < right < _SMALL
            and (any_power or right <= _SMALL_POWER)
        ):
            return apply(left, right)
        return checked(scope, op, left, right)

    return guard


# The special methods whose work grows with their operands, as the operator each stands for
# would be checked (the operator's name, and whether the instance is its right operand). A script's
# subclass of int, str or list reaches its base type's through super(): `super().__mul__(10**9)`.
_SUPER_OPERATORS = {
    "__mul__": ("Mult", False), "__rmul__": ("Mult", True), "__imul__": ("Mult", False),
    "__pow__": ("Pow", False), "__rpow__": ("Pow", True), "__ipow__": ("Pow", False),
    "__lshift__": ("LShift", False), "__rlshift__": ("LShift", True), "__ilshift__": ("LShift", False),
    "__mod__": ("Mod", False), "__rmod__": ("Mod", True), "__imod__": ("Mod", False),
    "__truediv__": ("Div", False), "__rtruediv__": ("Div", True), "__itruediv__": ("Div", False),
    "__floordiv__": ("FloorDiv", False), "__rfloordiv__": ("FloorDiv", True),
    "__ifloordiv__": ("FloorDiv", False), "__divmod__": ("FloorDiv", False),
    "__rdivmod__": ("FloorDiv", True),
}  # fmt: skip


def guarded_super(scope: RunScope, proxy: object, name: str) -> object:
    """`super().__name__` (policy.SPECIAL_METHODS, a literal in the source): the base type's own
    method, checked when called as the operator or builtin it stands for would be (its text
    measured for __repr__ and __str__, at the call: a __repr__ that grows the object first is
    measured grown)."""
    method = getattr(proxy, name)
    if name not in _SUPER_OPERATORS and name not in ("__repr__", "__str__", "__round__"):
        return method
    owner = super.__self__.__get__(proxy)  # type: ignore[attr-defined]

    def checked(*args: Any) -> object:
        return method(*_checked_special(scope, owner, name, args))

    return checked


def _checked_special(scope: RunScope, owner: object, name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The arguments to call `owner`'s special method `name` with, once checked."""
    budget = scope.budget
    if name in ("__repr__", "__str__"):
        check_nesting(budget, owner)
        check_rendering(budget, owner)
        return args
    if name == "__round__":
        places = as_count(args[0]) if args and args[0] is not None else None
        if places is not None:
            check_round(budget, owner, places)
            return (places, *args[1:])
        return args
    if not args:
        return args
    op, reflected = _SUPER_OPERATORS[name]
    left, right = (args[0], owner) if reflected else (owner, args[0])
    if op == "Pow" and len(args) > 1 and args[1] is not None:
        check_pow(budget, left, right, args[1])
    elif op == "Mod" and isinstance(left, TEXT_TYPES):
        formatted = _check_percent(scope, left, right)
        if not reflected:
            return (formatted, *args[1:])
        if formatted is not right:
            raise TypeError(f"{name} of a mapping through super() is not available in the sandbox")
    else:
        _check_operands(scope, op, left, right)
    return args


def guarded_augattr(scope: RunScope, obj: object, name: str, op: str, value: object) -> None:
    """`obj.name op= value`: read, combine through the same guards, write through setattr's rule."""
    current = guarded_getattr(scope, obj, name)
    guarded_setattr(scope, obj, name, guarded_inplace(scope, op, current, value))


# --- Classes the script makes ------------------------------------------------------------------

_CLASS_DICT = type.__dict__["__dict__"]


# Host classes a script's class may derive from: data types whose methods never hand the script's
# overrides to host code that trusts them. Any other host base would: ModuleFacade reads its private
# `_facade_members` and typing's forms call `_checked` (a script property there is a working
# __getattr__ or __instancecheck__, hooks the analyser refuses), and cached_property's public
# `attrname` decides which key it writes into an instance's __dict__ (a dunder, if the script says).
_SUBCLASSABLE = frozenset({
    object, int, float, complex, str, list, dict, set, frozenset, tuple,
    collections.Counter, collections.OrderedDict, collections.defaultdict, collections.deque,
})  # fmt: skip


def _may_derive_from(scope: RunScope, base: type) -> bool:
    return (
        base in scope.user_classes
        or base in _SUBCLASSABLE
        or base in SANDBOX_BASES
        or issubclass(base, BaseException)
        or issubclass(type(base), enum.EnumType)  # enum's bases, guarded or real: no members
        or (issubclass(base, tuple) and "_fields" in _CLASS_DICT.__get__(base))  # a namedtuple
    )


def admit_class(scope: RunScope, cls: type) -> type:
    """Every class the script makes passes here: class statements, enum's functional API,
    namedtuple, NamedTuple, TypedDict and dataclasses. Attribute writes are allowed on it and its
    instances from now on, so the names it was given as data must pass the analyser's rule: a class
    pattern reads every name in `__match_args__` from the subject (`case C(x)`), and dataclass
    helpers read every field."""
    namespace = _CLASS_DICT.__get__(cls)
    # Inherited too: a class pattern reads whichever __match_args__ the class's MRO gives first.
    match_args = next(
        (
            _CLASS_DICT.__get__(c)["__match_args__"]
            for c in cls.__mro__
            if "__match_args__" in _CLASS_DICT.__get__(c)
        ),
        (),
    )
    for base in cls.__bases__:
        # An enum base is the script's own or one the enum facade made: the real enum.Enum behind
        # them has no guard on its functional API or its members' __new__.
        if issubclass(type(base), enum.EnumType) and base not in scope.user_classes | scope.facade_bases:
            raise SandboxViolation(f"Blocked: a class may not derive from {base.__qualname__}")
    for base in cls.__mro__[1:]:
        if not _may_derive_from(scope, base):
            raise SandboxViolation(
                f"Blocked: a class may derive from the script's classes, exceptions, enums, namedtuples"
                f" and builtin data types only, not from {base.__qualname__}"
            )
    if type(match_args) is not tuple:
        raise SandboxViolation("Blocked: __match_args__ must be a tuple of attribute names")
    fields = namespace.get("__dataclass_fields__", {})
    names = (*match_args, *(fields if type(fields) is dict else ()))
    # The walks here and below: every class of the MRO for its bases, every name through it.
    spend(scope.budget, len(cls.__mro__) * (1 + len(names)), "admitting this class")
    policy.refuse_member_names(*names, private=True)
    scope.user_classes.add(cls)
    try:
        ownership.refuse_inherited(scope.user_classes, cls, names)
    except SandboxViolation:
        scope.user_classes.discard(cls)
        raise
    return cls


def _metaclass_of(bases: tuple[type, ...]) -> type:
    """The metaclass `class X(*bases)` gets: the most derived of its bases' (type's own rule)."""
    winner: type = type
    for base in bases:
        meta = type(base)
        if issubclass(winner, meta):
            continue
        if not issubclass(meta, winner):
            raise TypeError(
                "metaclass conflict: the metaclass of a derived class must derive from all its bases'"
            )
        winner = meta
    return winner


class _ClassBody:
    """The metaclass a class statement is built with: the real one (type, enum's) does the work,
    but first the namespace the class body made is checked, special methods and hooks by value
    (ownership.slot_violation). Checked before class machinery adds its own methods (enum's
    `__new__`, dataclass's `__init__`), which are the host's to trust."""

    __slots__ = ("_prepared", "_scope")

    def __init__(self, scope: RunScope) -> None:
        self._scope = scope
        self._prepared: dict[str, Any] = {}

    def __prepare__(self, name: str, bases: tuple[type, ...]) -> Any:
        namespace = _metaclass_of(bases).__prepare__(name, bases)
        self._prepared = dict.copy(namespace)  # enum's puts its own _generate_next_value_ there
        return namespace

    def __call__(self, name: str, bases: tuple[type, ...], namespace: Any) -> type:
        prepared = self._prepared
        made = {k: v for k, v in dict.items(namespace) if k not in prepared or prepared[k] is not v}
        check_class(self._scope.budget, bases, len(made))
        ownership.refuse_namespace(self._scope.user_classes, name, bases, made)
        return _metaclass_of(bases)(name, bases, namespace)  # type: ignore[no-any-return]


# --- Exceptions that reach the script ----------------------------------------------------------
# Host code raises with whatever it holds: `AttributeError.obj` is the object a lookup failed on
# (the real `type` behind a stand-in), tracebacks lead through the host's frames, and arguments,
# contexts and notes can carry anything. The instrumentation hands every exception the script
# catches (`except ... as e`, the arguments of `__exit__`) to `clean_exception` first.

_TRACEBACK = BaseException.__dict__["__traceback__"]
_CONTEXT = BaseException.__dict__["__context__"]
_CAUSE = BaseException.__dict__["__cause__"]
_ARGS = BaseException.__dict__["args"]
_EXCEPTION_DICT = BaseException.__dict__["__dict__"]
_GROUP_MEMBERS = BaseExceptionGroup.__dict__["exceptions"]
# Members of the interpreter's exception types that hold objects rather than text.
_OBJECT_FIELDS = (
    (AttributeError, "obj"), (StopIteration, "value"), (SystemExit, "code"),
    (OSError, "filename"), (OSError, "filename2"),
)  # fmt: skip
_PLAIN_ATOMS = frozenset({str, int, float, complex, bool, type(None), bytes})
_PLAIN_CONTAINERS = (tuple, list, dict, set, frozenset)
# Containers nested deeper than this in one exception's fields are described instead of walked:
# the walk recurses in the host, on top of the script's own frames.
_PLAIN_DEPTH = 64


def clean_exception(scope: RunScope, exc: BaseException) -> BaseException:
    """`exc` and every exception chained to it, holding only the script's frames, plain data and
    the script's own objects. Looks at everything by exact type, so no script code runs here.

    The work is the script's: every traceback entry, chained exception and container item looked
    at is paid for in steps before it is read, and a copy's memory measured before it is made.
    An exception's data is cleaned once per run (`RunScope.cleaned`): a loop that raises and
    catches the same richly filled exception pays for it once. Its chain is looked at every
    time, and its traceback down to the part cleaned before: raising it again adds to both."""
    budget = scope.budget
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        spend(budget, 1, "cleaning an exception")
        earlier = scope.cleaned.get(id(current))
        cleaned_before = earlier is not None and earlier[0] is current
        # Raising an exception again puts new entries in front of its cleaned traceback: only
        # they are looked at.
        tail = earlier[1] if cleaned_before else None  # type: ignore[index]
        head = script_frames(budget, _TRACEBACK.__get__(current), tail)
        _TRACEBACK.__set__(current, head)
        pending.extend(e for e in (_CONTEXT.__get__(current), _CAUSE.__get__(current)) if e is not None)
        kind = type(current)
        if issubclass(kind, BaseExceptionGroup):
            members = _GROUP_MEMBERS.__get__(current)  # not a script's `exceptions` property
            spend(budget, len(members), "cleaning an exception group")
            pending.extend(members)
        if cleaned_before:
            scope.cleaned[id(current)] = (current, head)
            continue  # its data was made plain earlier in this run
        if kind in scope.user_classes:
            scope.cleaned[id(current)] = (current, head)
            continue  # made by the script, from its own values
        copy = _PlainCopy(scope, pending)
        _ARGS.__set__(current, copy.plain(_ARGS.__get__(current), 0))
        for owner, name in _OBJECT_FIELDS:
            if issubclass(kind, owner):
                member = owner.__dict__[name]
                value = member.__get__(current)
                member.__set__(current, None if name == "obj" else copy.plain(value, 0))
        attributes = _EXCEPTION_DICT.__get__(current)
        spend(budget, len(attributes), "cleaning an exception")
        for name, value in list(attributes.items()):
            attributes[name] = copy.plain(value, 0)
        scope.cleaned[id(current)] = (current, head)  # held until the teardown: ids are not reused
    return exc


def script_frames(
    budget: StepBudget, tb: TracebackType | None, clean: TracebackType | None = None
) -> TracebackType | None:
    """The traceback with the host's frames unlinked: the script's frames only, down to `clean`,
    the part cleaned already. Each entry looked at is paid for."""
    kept: list[TracebackType] = []
    entries = 0
    while tb is not None and tb is not clean:
        entries += 1
        if tb.tb_frame.f_code.co_filename == policy.FILENAME:
            kept.append(tb)
        tb = tb.tb_next
    spend(budget, entries, "cleaning a traceback")
    if not kept:
        return tb
    for entry, following in zip(kept, [*kept[1:], tb], strict=True):
        entry.tb_next = following
    return kept[0]


class _PlainCopy:
    """One exception's fields made plain: every container read once (a shared one is copied once
    and its copy reused, so a DAG of references costs what it holds, not what it spells out), each
    paid for before it is read, each copy measured before it is made."""

    def __init__(self, scope: RunScope, exceptions: list[BaseException]) -> None:
        self.scope = scope
        self.exceptions = exceptions
        self.done: dict[int, object] = {}
        self.held: list[object] = []  # the originals, so that no id in `done` is reused
        self.texts: dict[int, str] = {}

    def text(self, key: Any, describe: Callable[[Any], str]) -> str:
        """One description per class, shared by every value it stands for."""
        text = self.texts.get(id(key))
        if text is None:
            text = self.texts[id(key)] = describe(key)
        return text

    def plain(self, value: object, depth: int) -> object:
        """`value` when it holds only plain data, exceptions (queued for cleaning) and the
        script's own classes, instances and functions; otherwise a copy with everything else
        described in text."""
        scope = self.scope
        kind = type(value)
        if kind in _PLAIN_ATOMS or kind in scope.user_classes:
            return value
        if issubclass(kind, type):
            return value if value in scope.user_classes else self.text(value, type.__repr__)
        if kind is types.FunctionType and value.__code__.co_filename == policy.FILENAME:  # type: ignore[attr-defined]
            return value
        if issubclass(kind, BaseException):
            self.exceptions.append(value)  # type: ignore[arg-type]
            return value
        if kind not in _PLAIN_CONTAINERS or depth >= _PLAIN_DEPTH:
            return self.text(kind, lambda kind: f"<{kind.__name__} object>")
        done = self.done.get(id(value))
        if done is not None:
            return done
        budget = scope.budget
        length = true_length(value) or 0
        spend(budget, length, "cleaning an exception")
        # The items read and a copy of them: a reference each (descriptions are shared), and for
        # a dict a pair and a slot per item.
        check_bytes(budget, (96 if kind is dict else 16) * length, "copying an exception's fields")
        if kind is dict:
            pairs = [(self.plain(k, depth + 1), self.plain(v, depth + 1)) for k, v in value.items()]  # type: ignore[attr-defined]
            same = all(a is k and b is v for (a, b), (k, v) in zip(pairs, value.items(), strict=True))  # type: ignore[attr-defined]
            result: object = value if same else dict(pairs)
        else:
            items = [self.plain(item, depth + 1) for item in value]  # type: ignore[attr-defined]
            same = all(a is b for a, b in zip(items, value, strict=True))  # type: ignore[call-overload]
            result = value if same else kind(items)
        self.done[id(value)] = result
        self.held.append(value)
        return result


def _special_method(obj: object, name: str, protocol: str = "context manager") -> Callable[..., Any]:
    """`name` looked up as the interpreter looks up special methods: on the type, bound to `obj`."""
    kind = type(obj)
    for base in kind.__mro__:
        namespace = _CLASS_DICT.__get__(base)
        if name in namespace:
            found = namespace[name]
            binder = getattr(type(found), "__get__", None)
            return binder(found, obj, kind) if binder is not None else found  # type: ignore[no-any-return]
    raise TypeError(f"'{kind.__name__}' object does not support the {protocol} protocol")


class ManagedContext:
    """What a with statement of the script manages in place of the script's context manager:
    `__enter__` is the manager's; `__exit__` hands the manager's the exception cleaned, whatever
    that `__exit__` is (a method, a decorated callable, an inherited one). For `async with`, the
    same with `__aenter__` and `__aexit__`, whose awaitables the statement awaits."""

    __slots__ = ("_enter", "_exit", "_scope")

    def __init__(self, scope: RunScope, manager: object, asynchronous: bool = False) -> None:
        self._scope = scope
        if asynchronous:
            protocol = "asynchronous context manager"
            self._enter = _special_method(manager, "__aenter__", protocol)
            self._exit = _special_method(manager, "__aexit__", protocol)
        else:
            self._enter = _special_method(manager, "__enter__")
            self._exit = _special_method(manager, "__exit__")

    def __enter__(self) -> object:
        return self._enter()

    def __exit__(self, kind: object, error: BaseException | None, tb: TracebackType | None) -> object:
        if error is not None:
            clean_exception(self._scope, error)
            tb = _TRACEBACK.__get__(error)
        return self._exit(kind, error, tb)

    __aenter__ = __enter__
    __aexit__ = __exit__


# After `%` and an optional `(key)`: flags, width, precision, length modifier, conversion.
_PERCENT_SPEC = re.compile(r"[#0\- +]*(\*|\d*)(?:\.(\*|\d*))?[hlL]?(.?)", re.DOTALL)


def _percent_fields(text: str, args: object) -> Iterator[tuple[bool | None, object]]:
    """What C reads for each conversion of a printf-style template: (True, n) for every width and
    precision (the template's digits, or for `*` the argument in its position) and (False, value)
    for the argument converted, where it is a tuple's item or a dict's value, and (None, key) for a
    key to be read from any other mapping (`_percent_mapping` reads it). Parsed as C parses
    it: a mapping key runs to its matching parenthesis (`%(a(b))999999999s` has the key `a(b)`),
    and `%%` takes no argument."""
    values = args if isinstance(args, tuple) else (args,)
    position = 0
    i = text.find("%")
    while i != -1:
        j, key = i + 1, None
        if text.startswith("(", j):
            depth, j = 1, j + 1
            while depth:
                close = text.find(")", j)
                if close == -1:
                    return  # C refuses the unterminated key
                depth += text.count("(", j, close) - 1
                j = close + 1
            key = text[i + 2 : j - 1]
        spec = _PERCENT_SPEC.match(text, j)
        assert spec is not None  # every part of the pattern may be empty
        for digits in spec.group(1, 2):
            if digits == "*":
                if key is None and position < len(values):
                    yield True, values[position]
                position += 1
            elif digits:
                yield True, int(digits) if len(digits) < 13 else 10**13
        if spec.group(3) != "%":
            if key is None and position < len(values):
                yield False, values[position]
                position += 1
            elif key is not None and type(args) is dict:
                yield False, dict.get(args, key)
            elif key is not None:
                yield None, key  # read from a mapping that is not a dict (_percent_mapping)
        i = text.find("%", spec.end())


def _check_percent(scope: RunScope, template: str | bytes | bytearray, args: object) -> object:
    """`template % args`: no width or precision larger than the memory left, and the result (the
    template, every width, and the text of every argument, however often it is repeated) within
    it too; the arguments to format with. The parser's work is paid for in steps: a template is
    a script's own data."""
    budget = scope.budget
    template = plain(template)
    if isinstance(args, tuple):
        # C reads a tuple's items in place, whatever a subclass's __len__ or __getitem__ says.
        args = tuple.__getitem__(args, slice(None))
    text = template.decode("latin-1") if isinstance(template, (bytes, bytearray)) else template
    # About a microsecond a conversion in Pyodide, parsed in Python (scripts/bench_guards.py).
    spend(budget, 4 * str.count(text, "%") + str.count(text, ")"), "a % format")
    args = _percent_mapping(text, template, args)
    widths: list[int] = []
    strings: list[object] = [template]
    numbers: list[int | float] = []
    for is_width, number_or_value in _percent_fields(text, args):
        if is_width:
            widths.append(max(as_count(number_or_value) or 0, 0))
        elif isinstance(number_or_value, TEXT_TYPES):
            strings.append(number_or_value)
        elif type(number_or_value) in (int, float, bool):  # a subclass's text may show more: rendered
            numbers.append(number_or_value)  # type: ignore[arg-type]
        else:
            check_nesting(budget, number_or_value)
            check_rendering(budget, number_or_value)
    size = max(map(char_bytes, strings))
    for width in widths:
        check_width(budget, width, "a % format width", size)
    digits = check_number_texts(budget, numbers)
    check_bytes(budget, (sum(widths) + sum(map(true_length, strings)) + digits) * size, "a % format")  # type: ignore[arg-type]
    return args


def _percent_mapping(text: str, template: str | bytes | bytearray, args: object) -> object:
    """The arguments as a plain dict when the template takes keys from anything else (a ChainMap,
    a dict subclass, a script's class): C reads each key through its __getitem__, which the
    measure cannot see, so each key is read once here and C formats from the dict measured."""
    if type(args) is dict or isinstance(args, (tuple, str)) or "%(" not in text:
        return args
    keys: dict[object, object] = {}
    for kind, found in _percent_fields(text, args):
        if kind is None:
            key = found if isinstance(template, str) else str.encode(found, "latin-1")  # type: ignore[arg-type]
            if key not in keys:
                keys[key] = args[key]  # type: ignore[index]
    return keys


# The real `type` offers nothing a script needs (mro, __subclasses__, __prepare__ are machinery).
_STAND_IN_ATTRIBUTES = {
    type: frozenset(),
    range: public_attributes(range),
    bytes: public_attributes(bytes),
    types.GenericAlias: frozenset(),
}


def _import(scope: RunScope, name: str, fromlist: object = (), level: int = 0) -> ModuleFacade:
    """The run's `__import__`: facades of the allowed modules (a package facade for `import
    urllib.parse`), the real module only for the interpreter's own C imports."""
    if name == "__future__" and not level:
        return _FUTURE  # `from __future__ import annotations` imports at run time too
    if name in _C_IMPORTS and not level and type(fromlist) is list:
        # The interpreter's C code imports through the running code's builtins: datetime's
        # strptime and strftime import these, with a list for `fromlist`. The script's import
        # statements pass None or a tuple (and `import time` gets the facade), so only that C
        # code gets the modules, and the script never sees them.
        return importlib.import_module(name)  # type: ignore[return-value]
    names = fromlist if type(fromlist) is tuple else ()
    submodules = [f"{name}.{item}" for item in names if type(item) is str]
    if not level and names and all(sub in scope.allowed_imports for sub in submodules):
        return _package_of(scope, name)  # from urllib import parse
    message = (
        "Blocked import detected: relative import"
        if level
        else policy.import_violation(name, scope.allowed_imports)
    )
    if message:
        raise ImportError(message)
    if "." in name and not names:
        return _package_of(scope, name.partition(".")[0])  # import urllib.parse binds urllib
    return facade_of(scope, name)


def _package_of(scope: RunScope, package: str) -> ModuleFacade:
    """What `import urllib.parse` binds: a facade of the package holding only the submodules the
    run may import."""
    prefix = f"{package}."
    members = {
        name.removeprefix(prefix): facade_of(scope, name)
        for name in sorted(scope.allowed_imports)
        if name.startswith(prefix)
    }
    return ModuleFacade(package, members)


def facade_run(scope: RunScope) -> FacadeRun:
    """What the facades of one run may use of it: its budget, its classes, class admission, the
    operators' guards (operator.mul is `*`) and its output (pprint.pprint prints)."""
    return FacadeRun(
        scope.budget,
        scope.user_classes,
        lambda cls: admit_class(scope, cls),
        lambda op, a, b: guarded_binop(scope, op, a, b),
        lambda op, a, b: guarded_inplace(scope, op, a, b),
        scope.output.write,
        scope.facade_bases,
        scope.words,
    )


def facade_of(scope: RunScope, name: str) -> ModuleFacade:
    """The run's facade of module `name`, made on first use."""
    if name not in scope.imported:
        made = scope.imported[name] = facade(name, facade_run(scope))
        members = object.__getattribute__(made, "_facade_members").values()
        scope.nameable.update(value for value in members if issubclass(type(value), type))
    return scope.imported[name]


def _replacement(scope: RunScope, kind: type) -> type | None:
    """The run's class for a library class a facade replaces (facades.REPLACED_CLASSES): type() of
    an instance host code made is the run's class, whether or not the script imported the module."""
    for module, name in REPLACED_CLASSES:
        if getattr(sys.modules.get(module), name, None) is kind:
            return getattr(facade_of(scope, module), name)  # type: ignore[no-any-return]
    return None


def _stand_ins(scope: RunScope) -> dict[type, type]:
    """The run's stand-ins for the builtin types whose constructors are guarded, keyed by the real
    type. `type()` maps through them, so `type(range(1))(10**10)` meets the same guard; and through
    the run's classes that replace a library's (`decimal.Decimal`, `fractions.Fraction`). They read
    the scope's budget when called: the scope is begun afresh for every run (RunBuiltins)."""
    stand_ins: dict[type, type] = {}

    def _type(*args: Any, **kwargs: Any) -> type:
        if len(args) != 1 or kwargs:
            raise TypeError("type() takes exactly one argument in the sandbox; define classes with class")
        return type_of(scope, stand_ins, args[0])

    def _range(*args: Any) -> range:
        result = range(*args)
        check_range(scope.budget, result)
        return result

    def _bytes(*args: Any, **kwargs: Any) -> bytes:
        if args and isinstance(args[0], int):
            args = (as_count(args[0]), *args[1:])
            check_width(scope.budget, args[0], "bytes(n)")
        return bytes(*args, **kwargs)

    def _generic_alias(*args: Any, **kwargs: Any) -> Any:
        # GenericAlias(origin, args) forwards almost every attribute read to any origin.
        raise TypeError("GenericAlias cannot be constructed in the sandbox; subscript a class: list[int]")

    calls = {type: _type, range: _range, bytes: _bytes, types.GenericAlias: _generic_alias}
    stand_ins.update(
        {real: stand_in_class(real, call, _STAND_IN_ATTRIBUTES[real]) for real, call in calls.items()}
    )
    return stand_ins


# Classes of values the script makes with literals and operators, beyond those its builtins table
# names: type() hands them out (calling one makes nothing new).
_DATA_TYPES = frozenset({type(None), type(Ellipsis), type(NotImplemented), bytearray})


def type_of(scope: RunScope, stand_ins: dict[type, type], value: object) -> type:
    """`type(value)`, as an allow-list: the class for the run's own objects, for builtin data types
    and for every class the run can already name (its builtins, the facades it imported); the
    stand-in for what has one; for an exception, the nearest of its classes that is one of those
    (an engine's or a library's internal error is its public base); refused for anything else. Host
    classes reached through operators (3.14's `type(int | str)` is typing.Union, whose subscript
    turned a string into an evaluated forward reference) are never handed out."""
    kind = type(value)
    # Never hand out a metaclass: calling one with three arguments builds a class from a namespace
    # of the caller's choosing, with the special methods the analyser refuses.
    if issubclass(kind, type):
        return stand_ins[type]
    candidates = _class_mro(kind) if issubclass(kind, BaseException) else (kind,)
    for candidate in candidates:
        found = stand_ins.get(candidate) or _replacement(scope, candidate)
        if found is not None:
            return found
        if candidate in scope.user_classes or candidate in _DATA_TYPES or candidate in scope.nameable:
            return candidate
    raise TypeError(
        f"type() of a {kind.__name__} object is not available in the sandbox: compare with isinstance()"
    )


_class_mro = type.__dict__["__mro__"].__get__


def _guard_length(budget: StepBudget, cls: type) -> None:
    """A script's `__len__` is what list(), tuple(), bytes() and `[*x]` preallocate from, in C and
    before the first item: a length the memory left could not hold is refused when reported."""
    length = cls.__dict__.get("__len__")
    if length is None:
        return

    def __len__(self: object) -> int:
        # Called as the interpreter calls a special method: a function with self, any other
        # descriptor bound first, anything else with no argument.
        if isinstance(length, types.FunctionType):
            reported = length(self)
        else:
            bind = getattr(type(length), "__get__", None)
            reported = (bind(length, self, type(self)) if bind is not None else length)()
        count = operator.index(reported)
        check_bytes(budget, count * 8, f"{cls.__name__}.__len__")
        return count

    type.__setattr__(cls, "__len__", __len__)


def flat_classes(budget: StepBudget, classinfo: object, depth: int = 16) -> object:
    """What isinstance and issubclass check against, paid for, with nested tuples flattened to
    their distinct members (an `except` clause takes no nested tuple). C walks nested tuples recursively, every path:
    `(C,) * 150` nested four deep is 5 * 10**8 checks in one call (18 s of a 300 ms budget in
    Pyodide, and no signal lands there) from 600 references. Each tuple is walked once, a step an
    item; each member then costs C about `depth` (the MRO it is looked for in) comparisons."""
    if not issubclass(type(classinfo), tuple):
        return classinfo
    items = tuple.__len__(classinfo)  # type: ignore[arg-type]
    # The look for nested tuples below, then C's check: about 0.1 us an item in Pyodide.
    spend(budget, items // 8 + items * depth // 1024, "checking against a tuple of classes")
    if not any(map(issubclass, map(type, classinfo), repeat(tuple))):  # type: ignore[call-overload]
        return classinfo
    members: dict[int, object] = {}
    walked = {id(classinfo)}
    pending = [classinfo]
    while pending:
        container = pending.pop()
        spend(budget, tuple.__len__(container), "flattening a tuple of classes")  # type: ignore[arg-type]
        for item in tuple.__iter__(container):  # type: ignore[arg-type]
            if not issubclass(type(item), tuple):
                members.setdefault(id(item), item)
            elif id(item) not in walked:
                walked.add(id(item))
                pending.append(item)
    spend(budget, len(members) * depth // 1024, "checking against a tuple of classes")
    return tuple(members.values())


def _in_base(scope: RunScope, real: Callable[[Any], str], presentation: str) -> Callable[[Any], str]:
    """bin, oct, hex: the text of a big int is up to eight times its size (check_int_text)."""

    def convert(number: Any) -> str:
        check_int_text(scope.budget, number, presentation)
        return real(number)

    convert.__name__ = convert.__qualname__ = real.__name__
    return convert


# Code whose call returns a generator, coroutine or async generator without running a frame.
_FRAMELESS_CALLS = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


def _iter(obj: Any, *sentinel: Any) -> Iterator[Any]:
    if sentinel:
        # iter(int, 1) never ends, and every C consumer (any, list, sum) would loop where the step
        # count cannot see it: only the script's own functions, whose every call is a step. Not any
        # function: a method object can bind a C callable, and the guards' closures are exempt.
        # Nor a generator or coroutine function: calling one makes a generator without starting
        # a frame, so no step either.
        function = obj.__func__ if type(obj) is types.MethodType else obj
        if (
            type(function) is not types.FunctionType
            or function.__code__.co_filename != policy.FILENAME
            or function.__code__.co_flags & _FRAMELESS_CALLS
        ):
            raise TypeError(
                "iter(callable, sentinel) takes a function defined in the script (not a generator function)"
            )
    return iter(obj, *sentinel)


_UNCHANGED: dict[str, Any] = {name: getattr(_host, name) for name in _PASS_THROUGH + _EXCEPTIONS}
_NAMEABLE_BUILTINS = frozenset(value for value in _UNCHANGED.values() if issubclass(type(value), type))


def build(scope: RunScope) -> dict[str, Any]:
    """The `__builtins__` of the runs of `scope`. Its functions read the scope's budget, output and
    classes when called, never at build: the scope is begun afresh for every run (RunBuiltins)."""
    table = dict(_UNCHANGED)

    def _print(
        *values: object, sep: str | None = " ", end: str | None = "\n", file: None = None, flush: bool = False
    ) -> None:
        if file is not None:
            raise TypeError("print(file=...) is not available in the sandbox")
        if (sep is not None and not isinstance(sep, str)) or (end is not None and not isinstance(end, str)):
            raise TypeError("sep and end must be None or a string")
        budget = scope.budget
        for value in values:
            check_nesting(budget, value)
            check_rendering(budget, value)
        # Written piece by piece: joined first, `print(*[s] * 1000, sep=s)` would build a string far
        # larger than the output cap before the cap applies.
        for position, value in enumerate(values):
            if position:
                scope.output.write(" " if sep is None else sep)
            scope.output.write(str(value))
        scope.output.write("\n" if end is None else end)

    def _build_class(func: Callable[..., Any], name: str, *bases: Any, **keywords: Any) -> type:
        if keywords:
            raise TypeError("class keywords (metaclass=…) are not available in the sandbox")
        built = _host.__build_class__(func, name, *bases, metaclass=_ClassBody(scope))
        cls = admit_class(scope, built)
        _guard_length(scope.budget, cls)
        return cls

    def _pow(base: Any, exp: Any, mod: Any = None) -> Any:
        if mod is None:
            return guarded_binop(scope, "Pow", base, exp)
        check_pow(scope.budget, base, exp, mod)
        return pow(base, exp, mod)

    def _divmod(a: Any, b: Any) -> Any:
        check_rational(scope.budget, "FloorDiv", a, b)
        return divmod(a, b)

    def _round(number: Any, ndigits: Any = None) -> Any:
        if ndigits is None:
            return round(number)
        places = as_count(ndigits)
        if places is not None:
            check_round(scope.budget, number, places)
            ndigits = places
        return round(number, ndigits)

    def _sum(iterable: Any, /, start: Any = 0) -> Any:
        if not isinstance(start, (list, tuple)):
            return sum(iterable, start)
        items = list(iterable)
        check_concatenation(scope.budget, start, items)
        return sum(items, start)

    def _repr(obj: object) -> str:
        return rendered(scope.budget, obj)

    def _ascii(obj: object) -> str:
        return rendered(scope.budget, obj, ascii)

    def _isinstance(obj: object, classinfo: object, /) -> bool:
        return isinstance(obj, flat_classes(scope.budget, classinfo, len(_class_mro(type(obj)))))  # type: ignore[arg-type]

    def _issubclass(cls: object, classinfo: object, /) -> bool:
        depth = len(_class_mro(cls)) if issubclass(type(cls), type) else 1  # type: ignore[arg-type]
        return issubclass(cls, flat_classes(scope.budget, classinfo, depth))  # type: ignore[arg-type]

    def _format(value: object, spec: str = "") -> str:
        return guarded_format(scope.budget, value, "", spec)

    table.update(
        {
            "print": _print,
            **{real.__name__: stand_in for real, stand_in in _stand_ins(scope).items()},
            "pow": _pow,
            "divmod": _divmod,
            "round": _round,
            "sum": _sum,
            "repr": _repr,
            "ascii": _ascii,
            "isinstance": _isinstance,
            "issubclass": _issubclass,
            "format": _format,
            "bin": _in_base(scope, bin, "b"),
            "oct": _in_base(scope, oct, "o"),
            "hex": _in_base(scope, hex, "x"),
            "iter": _iter,
            "vars": lambda *args: guarded_vars(scope, *args),
            "getattr": lambda obj, name, *default: guarded_getattr(scope, obj, name, *default),
            "hasattr": lambda obj, name: guarded_hasattr(scope, obj, name),
            "setattr": lambda obj, name, value: guarded_setattr(scope, obj, name, value),
            "delattr": lambda obj, name: guarded_delattr(scope, obj, name),
            "__import__": lambda name, globals=None, locals=None, fromlist=(), level=0: _import(
                scope, name, fromlist, level
            ),
            "__build_class__": _build_class,
            **operator_guards(scope),
            policy.GUARD_GETATTR: lambda obj, name: guarded_getattr(scope, obj, name),
            policy.GUARD_SUPER: lambda proxy, name: guarded_super(scope, proxy, name),
            policy.GUARD_SETATTR: lambda obj, name, value: guarded_setattr(scope, obj, name, value),
            policy.GUARD_DELATTR: lambda obj, name: guarded_delattr(scope, obj, name),
            policy.GUARD_AUGATTR: lambda obj, name, op, value: guarded_augattr(scope, obj, name, op, value),
            policy.GUARD_FORMAT: lambda value, conversion, spec: guarded_format(
                scope.budget, value, conversion, spec
            ),
            policy.GUARD_CAUGHT: lambda exc: clean_exception(scope, exc),
            policy.GUARD_WITH: lambda manager, asynchronous: ManagedContext(scope, manager, asynchronous),
        }
    )
    table[policy.GUARD_LOOP_RANGE] = _loop_range(table["range"])
    return table


class RunBuiltins:
    """A builtins table, its stand-ins and the scope their functions read, made once and lent to
    run after run that allow the same imports: building them was 35 µs of every run (four
    stand-in classes, thirty closures), a fifth of a cached run. Each run begins the scope afresh
    (`start`); the table's functions read it when called, so they act for the run that calls them,
    and nothing of one run is in the scope once the next has begun. A script reads the table and
    never writes it (`__builtins__`, frames and closures are out of its reach); `intact` checks
    that after every run all the same, and the finished-run guard keeps a run's leftover code from
    calling into the next run's scope."""

    def __init__(self, allowed_imports: frozenset[str]) -> None:
        self.allowed_imports = allowed_imports
        self.scope: RunScope | None = None
        self.table: dict[str, Any] = {}
        self.pristine: dict[str, Any] = {}

    def start(self, budget: StepBudget, words: frozenset[str]) -> RunScope:
        """The scope for a run with `budget` of a script holding `words` (runner.script_words),
        begun afresh; the table is made at the first."""
        if self.scope is None:
            self.scope = RunScope(budget, self.allowed_imports, words)
            self.table = build(self.scope)
            self.pristine = self.table.copy()
        else:
            self.scope.begin(budget, words)
        return self.scope

    def intact(self) -> bool:
        """Whether the table holds what it was made with: every name, every value by identity."""
        return self.table == self.pristine


def _loop_range(stand_in: object) -> Callable[..., object]:
    """The range a for statement or clause iterates (policy._loop_range): lazy, a step an item, so
    unpriced; anything the script bound to `range` is called as it is."""

    def loop_range(candidate: Callable[..., Any], *args: Any) -> object:
        return range(*args) if candidate is stand_in else candidate(*args)

    return loop_range


def guard_code_ids(*extra_modules: types.ModuleType) -> frozenset[int]:
    """Ids of the code the step count leaves out: the code objects of this module, guards.py,
    limits.py, ownership.py and policy.py (the attribute rule the guards apply) and `extra_modules`,
    nested ones included, except the functions the script can hold (handed_out_code_ids)."""
    from . import guards, limits

    codes: set[int] = set()
    for module in (guards, limits, ownership, policy, sys.modules[__name__], *extra_modules):
        for value in vars(module).values():
            members = vars(value).values() if isinstance(value, type) else ()
            for candidate in (value, *members):
                code = getattr(candidate, "__code__", None)
                if isinstance(code, types.CodeType) and code.co_filename == module.__file__:
                    codes.update(map(id, _code_tree(code)))
    return frozenset(codes) - handed_out_code_ids()


def _code_tree(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_tree(const)


def handed_out_code_ids() -> frozenset[int]:
    """Ids of the code of the engine's functions a script can hold: the builtins it can name, the
    stand-ins' constructors and metaclass methods, the `__len__` put on its classes and the checked
    methods the guards hand out. A C loop calls them with no frame of the script's in between
    (`all(map(getattr, objs, names))`, `sorted(xs, key=repr)`), microseconds a call that no step
    saw: in Pyodide, where no signal ends a run, such a loop ran minutes on a 500 ms budget. So they
    run as the script's own code does, a step per call and per loop iteration. Everything else of
    the engine is reached only through them or through the instrumented guards (dunder names the
    analyser refuses), which are exempt because they must work once the budget is spent."""
    from . import guards
    from .limits import Limits

    table = build(RunScope(StepBudget(Limits()), frozenset()))
    held: list[object] = [value for name, value in table.items() if not name.startswith("__")]
    for value in list(held):
        if isinstance(value, type) and "_sandbox_call" in value.__dict__:  # a stand-in
            held.extend(vars(type(value)).values())
            held.append(value.__dict__["_sandbox_call"].__func__)
    codes = [value.__code__ for value in held if isinstance(value, types.FunctionType)]
    for factory in (*guards.HANDED_OUT_FACTORIES, _guard_length, guarded_super):
        codes.extend(
            code
            for code in _code_tree(factory.__code__)
            # The nested functions, not the generator expressions the factory uses itself.
            if code is not factory.__code__ and not code.co_flags & _FRAMELESS_CALLS
        )
    return frozenset(map(id, codes))


__all__ = ["LimitExceeded", "RunBuiltins", "RunScope", "SandboxViolation", "build", "guard_code_ids"]
