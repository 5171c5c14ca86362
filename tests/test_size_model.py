"""The size model's table: every C callable a script can reach, and what bounds one call to it.

A call into C runs unseen by the step count and tracemalloc. Each reachable C callable is either
listed in SIZE_MODEL, with the guard that measures it before it runs (its result's size from an
argument's value, its running time from bit lengths or an iterator's length), or in BOUNDED, with
why one call costs no more than a small multiple of the data it is given. A callable added to the
builtins or a facade, or one a new Python version adds to a reachable type, is in neither and
fails `test_every_reachable_c_callable_is_in_the_size_model` until someone decides which it is.
"""

from __future__ import annotations

import ast
import builtins
import decimal
import hashlib
import re
import sys
import types

import sandbox
from sandbox import Limits, ownership, policy
from sandbox.builtins import RunScope, build, facade_run
from sandbox.facades import FacadeRun, facade, load
from sandbox.limits import StepBudget

_C_CALLABLES = (
    types.BuiltinFunctionType,
    types.MethodDescriptorType,
    types.ClassMethodDescriptorType,
    types.WrapperDescriptorType,
)
_LEAVES = (str, bytes, int, float, complex, bool, type(None), types.ModuleType)


def _run(scope: RunScope) -> FacadeRun:
    return facade_run(scope)


def _roots() -> dict[str, object]:
    """The builtins and every facade, and instances of the types a script gets only as values."""
    load(sandbox.MAX_IMPORTS)  # as compiling code under a policy allowing them all does
    scope = RunScope(StepBudget(Limits()), sandbox.MAX_IMPORTS)
    table = build(scope)
    roots: dict[str, object] = {name: value for name, value in table.items() if not name.startswith("__")}
    for name in sorted(sandbox.MAX_IMPORTS):
        roots[name] = facade(name, _run(scope))
    # The real types behind the stand-ins (their methods are reached through values), and values
    # of types no name reaches.
    samples = [bytes, range, {}.keys(), {}.values(), {}.items(), iter([]), (x for x in ()),
               re.compile("a").match("a"), reversed([]), enumerate([]), zip(), map(abs, []),
               filter(None, []), decimal.Decimal(1), hashlib.sha256(), hashlib.md5(),
               *_async_samples()]  # fmt: skip
    roots.update({f"<{getattr(sample, '__name__', type(sample).__name__)}>": sample for sample in samples})
    return roots


def _async_samples() -> list[object]:
    """A coroutine, an async generator and the awaitables of its methods and of anext, closed."""

    async def coroutine() -> None:
        return None

    async def generator() -> types.AsyncGeneratorType[int, None]:
        yield 1

    made = coroutine()
    made.close()
    agen = generator()
    awaitables = [agen.asend(None), agen.athrow(ValueError), anext(agen, None)]
    for awaitable in awaitables:
        awaitable.close()  # type: ignore[attr-defined]
    return [made, agen, *awaitables]


def _key(obj: object) -> str | None:
    if isinstance(obj, type):
        return f"{obj.__module__}.{obj.__qualname__}"
    if isinstance(
        obj, (types.MethodDescriptorType, types.ClassMethodDescriptorType, types.WrapperDescriptorType)
    ):
        owner = obj.__objclass__
        return f"{owner.__module__}.{owner.__qualname__}.{obj.__name__}"
    if isinstance(obj, types.BuiltinFunctionType):
        bound = obj.__self__
        if bound is None or isinstance(bound, types.ModuleType):
            return f"{obj.__module__ or 'builtins'}.{obj.__qualname__}"
        owner = bound if isinstance(bound, type) else type(bound)
        return f"{owner.__module__}.{owner.__qualname__}.{obj.__name__}"
    return None


def reachable_c_callables() -> dict[str, str]:
    """Every C function, method and type reachable through attribute names the analyser accepts,
    keyed by where it is defined, with one path that reaches it."""
    found: dict[str, str] = {}
    seen: set[int] = set()
    frontier = list(_roots().items())
    while frontier:
        following = []
        for path, obj in frontier:
            if id(obj) in seen or isinstance(obj, _LEAVES):
                continue
            seen.add(id(obj))
            if isinstance(obj, (type, *_C_CALLABLES)) and not path.startswith("<"):
                key = _key(obj)
                if key is not None and not key.startswith("sandbox."):
                    found.setdefault(key, path)
            for name in dir(obj):
                if ownership.attribute_violation(set(), obj, name) is not None:
                    continue
                try:
                    following.append((f"{path}.{name}", getattr(obj, name)))
                except Exception:  # noqa: BLE001 - a property that raises: nothing to walk
                    continue
        frontier = following
    return found


def _names(owner: str, names: str, reason: str) -> dict[str, str]:
    return {f"{owner}.{name}": reason for name in names.split()}


# --- the callables whose cost grows with an argument's value, and the guard of each ------------------
# A method is guarded when its name is one of policy.GUARDED_METHODS: every load of it goes through
# guards.guarded_method. A builtin or a module function is guarded when the run's table or facade
# holds the sandbox's own function in its place.

_TEXT_GUARDS = {
    "center ljust rjust zfill": "check_width: the width, times the widest character",
    "expandtabs": "check_bytes: tabs counted, times the tab size",
    "replace": "check_bytes: occurrences counted with the base type's count, times the new text",
    "translate": "check_bytes: the longest replacement in the table, times the text",
    "join": "check_bytes: every item (repeated references too) and a separator between each two",
    "split rsplit splitlines": "check_bytes: separators counted at C speed, a new str per piece",
}
SIZE_MODEL: dict[str, str] = {
    **{
        f"builtins.{kind}.{name}": guard
        for kind in ("str", "bytes")
        for names, guard in _TEXT_GUARDS.items()
        for name in names.split()
    },
    "builtins.str.encode": "check_bytes: the bytes an error handler may write per character (namereplace: 100)",
    "builtins.str.format": "_SafeFormatter: widths checked per field, the joined result measured as it grows",
    "builtins.str.format_map": "_SafeFormatter, as str.format",
    "builtins.int.to_bytes": "check_bytes: the length, read through operator.index",
    "_random.Random.getrandbits": "check_bytes: k / 8 (random.Random is handed out; its methods are guarded by name)",
    "re.Pattern.findall": "counted: built from finditer's matches, a step and a look at memory each",
    "re.Pattern.finditer": "counted",
    "re.Pattern.split": "counted: built from finditer's matches",
    "re.Pattern.sub": "check_bytes: (matches + 1) * (template + 1) + group references * subject",
    "re.Pattern.subn": "as Pattern.sub",
    "re.Match.expand": "check_bytes: as Pattern.sub for one match",
    "builtins.range": "stand-in: check_range, 40 bytes an element as list(range(n)) holds it",
    "builtins.bytes": "stand-in: bytes(n) checked, n read through operator.index",
    # Builtins replaced in the run's table.
    "builtins.pow": "check_pow (result bits, squarings' time), check_pow_mod (a squaring and a reduction per exponent bit)",
    "builtins.divmod": "check_rational: division time from bit lengths",
    "builtins.round": "check_round: round(n, -k) computes 10 ** k",
    "builtins.sum": "check_concatenation: sum(lists, []) holds every item and copies each partial sum",
    "builtins.print": "written piece by piece into the capped output; check_rendering per value",
    "builtins.repr": "check_rendering: every reference counted",
    "builtins.ascii": "check_rendering",
    "builtins.format": "check_format_spec, check_rendering",
    "builtins.iter": "iter(callable, sentinel) only with a script function: every call a step",
    **_names("builtins", "bin oct hex", "check_int_text: one character per 1, 3 or 4 bits"),
    # Facade members replaced per run.
    **_names("math", "factorial perm", "_check_product: result bits, three multiplications of halves"),
    "math.comb": "check_int_bits and a measured cost curve (its divisions)",
    "math.prod": "check_int_bits, the running product's multiplications; a sequence repeated by every int",
    "math.gcd": "_check_reduction: a quadratic gcd per argument",
    "math.lcm": "_check_reduction: a gcd, a multiplication and a division per argument",
    "math.isqrt": "charge: about 1.5 multiplications of half the bits",
    "math.sumprod": "charge: a multiplication per pair",
    **_names(
        "bisect",
        "insort insort_left insort_right",
        "charge: the list's length, the references list.insert moves",
    ),
    **_names(
        "hashlib",
        "md5 sha1 sha224 sha256 sha384 sha512 sha3_224 sha3_256 sha3_384 sha3_512 blake2b blake2s",
        "charge: the data's length at the algorithm's measured rate; the hash object's update and copy too",
    ),
    **_names(
        "itertools",
        "accumulate chain compress dropwhile filterfalse groupby islice pairwise starmap takewhile zip_longest",
        "counted: a step per item, whoever consumes it",
    ),
    **_names("itertools", "count cycle repeat", "generators of the facade: a step per item"),
    "itertools.product": "check_bytes on the copied pools, then counted",
    **_names(
        "itertools",
        "permutations combinations combinations_with_replacement batched",
        "check_bytes on r or n, then counted",
    ),
    "itertools.tee": "check_bytes on n",
    "json.loads": "check_json_text (depth), check_json_size (an upper bound from brackets and separators)",
    "json.dumps": "the encoder written in Python: a step per chunk",
    **_names("re", "sub subn findall finditer split", "as the Pattern methods"),
    **_names("random", "getrandbits randbytes", "check_bytes on the size, read through operator.index"),
    "unicodedata.normalize": "check_normalize: up to 18 characters from one, the buffers, and the time by the runs of marks",
    **{
        f"datetime.{kind}.strftime": "check_strftime: 64 characters a directive, %Z the zone's name, twice over"
        for kind in ("date", "datetime", "time")
    },
    "decimal.Decimal": "stand-in: exact values within DECIMAL_DIGITS; arithmetic in a context bounded the same",
    "fractions.Fraction": "a subclass whose constructor and operators are measured (gcds, powers, rounding)",
}
OPERATORS: dict[type, str] = {
    ast.Mult: "check_mul: repetition size, integer and fraction multiplication time",
    ast.Pow: "check_pow",
    ast.LShift: "check_lshift: result bits",
    ast.Mod: "_check_percent for text (widths, keys with parentheses, repeated values); check_rational for numbers",
    ast.Div: "check_rational: fractions (int / int is a float, linear)",
    ast.FloorDiv: "check_rational: schoolbook division is dividend digits times divisor digits",
}

# --- the callables whose one call is bounded by the data it is given ------------------------------

_LINEAR = "linear in its arguments, a result at most a small multiple of them"
_FIXED = "fixed-size values"
_LOOKUP = "a lookup or an update of one item"
_ITERABLE = "consumes an iterable: each item is already held, or made by a counted producer"
BOUNDED: dict[str, str] = {
    **_names(
        "builtins",
        "abs bool callable chr complex float hash int isinstance issubclass len max min next ord",
        _LINEAR,
    ),
    "builtins.int": "int(str) stops at sys.int_max_str_digits (4300); int(Decimal) bounded by the decimal facade",
    **_names("builtins", "classmethod object property staticmethod slice super", "wrappers, no work"),
    **_names("builtins", "enumerate filter map reversed zip", "lazy: one item per next()"),
    **_names("builtins", "all any sorted", _ITERABLE),
    **_names(
        "builtins", "dict frozenset list set tuple", _ITERABLE + "; see SECURITY.md for hash collisions"
    ),
    "builtins.str": "str() of a str is itself; of a container, see SECURITY.md (str() of shared containers)",
    **_names("builtins.BaseException", "add_note with_traceback", _LOOKUP),
    **_names("builtins.BaseExceptionGroup", "derive split subgroup", _LINEAR),
    **{
        f"{owner}.from_bytes": _LINEAR
        for owner in ("builtins.bool", "builtins.int", "enum.IntEnum", "enum.IntFlag", "re.RegexFlag")
    },
    **_names("builtins.complex", "conjugate from_number", _FIXED),
    **_names("builtins.float", "as_integer_ratio conjugate from_number fromhex hex is_integer", _FIXED),
    **_names("builtins.int", "as_integer_ratio bit_count bit_length conjugate is_integer", _LINEAR),
    **_names("builtins.dict", "clear copy get items keys pop popitem setdefault values", _LOOKUP),
    **_names("builtins.dict", "fromkeys update", _ITERABLE),
    "builtins.dict_items.isdisjoint": _ITERABLE,
    "builtins.dict_keys.isdisjoint": _ITERABLE,
    **_names("builtins.mappingproxy", "copy get items keys values", _LOOKUP),
    **_names(
        "builtins.frozenset",
        "copy difference intersection isdisjoint issubset issuperset symmetric_difference union",
        _ITERABLE,
    ),
    **_names(
        "builtins.set",
        "add clear copy difference difference_update discard intersection intersection_update isdisjoint "
        "issubset issuperset pop remove symmetric_difference symmetric_difference_update union update",
        _ITERABLE,
    ),
    **_names(
        "builtins.list", "append clear copy count extend index insert pop remove reverse sort", _ITERABLE
    ),
    **_names("builtins.tuple", "count index", _LINEAR),
    **_names("builtins.range", "count index", "arithmetic on the range"),
    **_names("builtins.generator", "close send throw", "resumes a generator: its code is counted"),
    **_names("builtins.property", "deleter getter setter", "wrappers, no work"),
    **_names("builtins.slice", "indices", _FIXED),
    **_names(
        "builtins.str",
        "capitalize casefold count endswith find index isalnum isalpha isascii isdecimal isdigit "
        "isidentifier islower isnumeric isprintable isspace istitle isupper lower lstrip maketrans "
        "partition removeprefix removesuffix rfind rindex rpartition rstrip startswith strip swapcase "
        "title upper",
        _LINEAR + " (case mappings: 3 characters from one at most)",
    ),
    **_names(
        "builtins.bytes",
        "capitalize count decode endswith find fromhex hex index isalnum isalpha isascii isdigit islower "
        "isspace istitle isupper lower lstrip maketrans partition removeprefix removesuffix rfind rindex "
        "rpartition rstrip startswith strip swapcase title upper",
        _LINEAR + " (decode's error handlers: 4 characters a byte at most)",
    ),
    **_names("_functools", "cmp_to_key", "a wrapper, no work"),
    "_functools.reduce": "calls its function per item: the sandbox's guarded functions, or script code (counted)",
    "_random.Random.random": _FIXED,
    "random.Random": "a generator of its own per instance; getrandbits and randbytes are guarded by name",
    "random.Random.random": _FIXED,
    **_names("collections", "ChainMap Counter OrderedDict defaultdict deque", _ITERABLE),
    **_names(
        "collections.OrderedDict", "clear copy items keys move_to_end pop popitem setdefault values", _LOOKUP
    ),
    **_names("collections.OrderedDict", "fromkeys update", _ITERABLE),
    **_names("collections.defaultdict", "copy fromkeys", _ITERABLE),
    **_names(
        "collections.deque",
        "append appendleft clear copy count extend extendleft index insert pop popleft remove reverse rotate",
        _ITERABLE + "; rotate is O(min(n, len))",
    ),
    **_names("dataclasses", "FrozenInstanceError InitVar", "an exception, a marker"),
    **_names("datetime", "date datetime time timedelta timezone tzinfo", _FIXED),
    **_names(
        "datetime.date",
        "ctime fromisocalendar fromisoformat fromordinal fromtimestamp isocalendar isoformat isoweekday "
        "replace timetuple today toordinal weekday",
        _FIXED,
    ),
    **_names(
        "datetime.datetime",
        "astimezone combine ctime date dst fromisocalendar fromisoformat fromordinal fromtimestamp isocalendar "
        "isoformat isoweekday now replace strptime time timestamp timetuple timetz today toordinal "
        "tzname utcfromtimestamp utcnow utcoffset utctimetuple weekday",
        _FIXED + "; strptime is Python (counted)",
    ),
    **_names("datetime.time", "dst fromisoformat isoformat replace tzname utcoffset", _FIXED),
    "datetime.date.strptime": "Python: counted (Python 3.14)",
    "datetime.time.strptime": "Python: counted (Python 3.14)",
    **_names("datetime.timedelta", "total_seconds", _FIXED),
    **_names("datetime.timezone", "dst fromutc tzname utcoffset", _FIXED),
    **_names("datetime.tzinfo", "dst fromutc tzname utcoffset", _FIXED),
    **_names(
        "decimal",
        "Clamped DecimalException DivisionByZero FloatOperation Inexact InvalidOperation Overflow Rounded "
        "Subnormal Underflow",
        "exception classes",
    ),
    **_names(
        "decimal.Decimal",
        "adjusted as_integer_ratio as_tuple canonical compare compare_signal compare_total compare_total_mag "
        "conjugate copy_abs copy_negate copy_sign exp fma from_float from_number is_canonical is_finite "
        "is_infinite is_nan is_normal is_qnan is_signed is_snan is_subnormal is_zero ln log10 logb "
        "logical_and logical_invert logical_or logical_xor max max_mag min min_mag next_minus next_plus "
        "next_toward normalize number_class quantize radix remainder_near rotate same_quantum scaleb shift "
        "sqrt to_eng_string to_integral to_integral_exact to_integral_value",
        "precision 28 and exponents within DECIMAL_DIGITS (the run's context and the constructor)",
    ),
    **_names("difflib", "Differ HtmlDiff SequenceMatcher", "Python: counted"),
    **_names("enum", "Enum Flag IntEnum IntFlag StrEnum auto", "Python: counted"),
    **_names("functools", "cached_property partial", "wrappers, no work"),
    "json.decoder.JSONDecodeError": "an exception",
    **_names(
        "math",
        "acos acosh asin asinh atan atan2 atanh cbrt copysign cos cosh degrees dist erf erfc exp exp2 expm1 "
        "fabs fma fmod frexp fsum gamma hypot isclose isfinite isinf isnan ldexp lgamma log log10 log1p "
        "log2 modf nextafter pow radians remainder sin sinh sqrt tan tanh ulp",
        "floats: fixed size; fsum, dist, hypot linear",
    ),
    **_names(
        "math",
        "ceil floor trunc",
        "an int's own value, a Decimal bounded by its context, a Fraction's guarded methods",
    ),
    **_names("re", "Match Pattern PatternError RegexFlag", "types"),
    **_names("re.Match", "end group groupdict groups span start", _LINEAR),
    **_names(
        "re.Pattern",
        "fullmatch match search scanner",
        "backtracking is not bounded in-process: the wall-clock signal on CPython hosts, the runner's CPU limit in Workers",
    ),
    **_names("statistics", "NormalDist StatisticsError", "Python: counted"),
    **_names("string", "Template", "Python: counted"),
    **_names("textwrap", "TextWrapper", "Python: counted"),
    **_names("typing", "Any Generic NewType Protocol TypeVar Union", "annotation vocabulary"),
    # Coroutines and async generators: resuming one runs the script's own code, counted.
    **_names("builtins", "aiter anext", "lazy: an awaitable of one item"),
    **_names("builtins.coroutine", "close send throw", "resumes a coroutine: its code is counted"),
    **_names("builtins.async_generator", "aclose asend athrow", "an awaitable that resumes it: counted"),
    **{
        f"builtins.{kind}.{name}": "resumes an async generator: its code is counted"
        for kind in ("async_generator_asend", "async_generator_athrow", "anext_awaitable")
        for name in ("close", "send", "throw")
    },
    # The facades added for eval code (issue 19).
    **_names(
        "_bisect", "bisect_left bisect_right", "log n comparisons; a key or __lt__ of the script is counted"
    ),
    **_names(
        "_heapq",
        "heapify heappop heappush heappushpop heapreplace",
        _LINEAR + "; comparisons of script items counted",
    ),
    **_names(
        "_heapq",
        "heapify_max heappop_max heappush_max heappushpop_max heapreplace_max",
        _LINEAR + " (Python 3.14)",
    ),
    **_names(
        "_operator",
        "abs add and_ call concat contains countOf delitem eq ge getitem gt iadd iand iconcat imatmul index "
        "indexOf inv invert ior irshift is_ is_not is_none is_not_none isub ixor le length_hint lt matmul ne "
        "neg not_ or_ pos rshift setitem sub truth xor",
        "as the operator or statement it stands for, none of which the size model guards",
    ),
    "operator.itemgetter": "obj[key] per key, as a subscript",
    **_names("_csv", "get_dialect list_dialects", "a lookup in the dialect registry"),
    **_names("csv", "excel excel_tab unix_dialect", "dialect classes: attributes only"),
    **_names(
        "_io.StringIO",
        "close getvalue read readable readline seekable tell truncate writable write",
        _LINEAR + " (seek is the facade's, priced past the end; iteration is its generator)",
    ),
    **_names("_io._IOBase", "fileno flush isatty", _FIXED + " (fileno raises)"),
    "_io._IOBase.readlines": "iterates the StringIO through the facade's generator: a step a line",
    "_io._TextIOBase.detach": "raises: a StringIO has no buffer",
    **_names(
        "time",
        "gmtime localtime mktime monotonic monotonic_ns perf_counter perf_counter_ns process_time process_time_ns "
        "struct_time time time_ns",
        _FIXED,
    ),
    **_names(
        "urllib.parse",
        "DefragResult DefragResultBytes ParseResult ParseResultBytes SplitResult SplitResultBytes",
        "namedtuples of the parts: Python, counted",
    ),
    **_names("typing.TypeVar", "has_default", _FIXED),
    **_names(
        "unicodedata",
        "bidirectional category combining decimal decomposition digit east_asian_width is_normalized lookup "
        "mirrored name numeric",
        "one character's entry, or a linear check",
    ),
}


def _unlisted(reachable: dict[str, str]) -> dict[str, str]:
    return {
        key: path
        for key, path in reachable.items()
        if key not in SIZE_MODEL and key not in BOUNDED and not _is_exception_class(key)
    }


def test_every_reachable_c_callable_is_in_the_size_model():
    assert _unlisted(reachable_c_callables()) == {}, "reachable C callables with no entry in the size model"


def _is_exception_class(key: str) -> bool:
    module, _, name = key.rpartition(".")
    value = getattr(sys.modules.get(module), name, None)
    return isinstance(value, type) and issubclass(value, BaseException)


def test_every_guard_in_the_size_model_is_wired():
    load(sandbox.MAX_IMPORTS)  # as compiling code under a policy allowing them all does
    scope = RunScope(StepBudget(Limits()), sandbox.MAX_IMPORTS)
    table = build(scope)
    for key in SIZE_MODEL:
        owner, _, name = key.rpartition(".")
        if owner in (
            "builtins.str",
            "builtins.bytes",
            "builtins.int",
            "re.Pattern",
            "re.Match",
            "_random.Random",
            "datetime.date",
            "datetime.datetime",
            "datetime.time",
        ):
            assert name in policy.GUARDED_METHODS, key
        elif owner == "builtins":
            assert table[name] is not getattr(builtins, name, None), key
        else:
            module = sys.modules[owner] if owner in sys.modules else __import__(owner)
            assert getattr(facade(owner, _run(scope)), name) is not getattr(module, name), key


def test_the_unguarded_c_callables_are_not_reachable():
    # The raw functions the guards stand in for must not be reachable under another path.
    reachable = reachable_c_callables()
    methods = {key for key in SIZE_MODEL if key.rpartition(".")[2] in policy.GUARDED_METHODS}
    leaked = {key: reachable[key] for key in SIZE_MODEL if key in reachable and key not in methods}
    assert leaked == {}


def test_every_operator_that_can_outgrow_its_operands_is_routed_through_a_guard():
    assert set(OPERATORS) == set(policy._GUARDED_BINOPS)


def test_the_size_model_test_notices_a_callable_added_without_a_guard(monkeypatch):
    # The test above can fail: a C function a facade starts to hand out, classified by nobody.
    from sandbox.facades import math

    real = math.members
    monkeypatch.setattr(math, "members", lambda run: {**real(run), "sizeof": sys.getsizeof})
    assert _unlisted(reachable_c_callables()) == {"sys.getsizeof": "math.sizeof"}


# --- library functions written in Python, handed out by the facades -------------------------------
# Their loops are counted steps, but one call can still end in a C call over what they built (an
# unchecked join of one shared piece per line), so each is listed with its guard or why one call
# is bounded; the facade's own replacements (textwrap.indent, json.dumps) are the sandbox's.

_COUNTED = "Python: its loops are counted steps, each piece it makes a step at a time"
LIBRARY: dict[str, str] = {
    **_names("dataclasses", "field fields is_dataclass replace", _COUNTED + "; one field or one instance"),
    **_names("difflib", "context_diff diff_bytes get_close_matches ndiff restore unified_diff", _COUNTED),
    **_names("difflib", "IS_CHARACTER_JUNK IS_LINE_JUNK", "one character, or one regex match of a line"),
    "enum.unique": _COUNTED,
    **_names("functools", "cache lru_cache", "wrappers: the cache holds what the script computed, counted"),
    "re.escape": "linear: at most two characters per character",
    **_names(
        "base64",
        "b64encode b64decode standard_b64encode standard_b64decode urlsafe_b64encode urlsafe_b64decode "
        "b32encode b32decode b32hexencode b32hexdecode b16encode b16decode a85encode a85decode "
        "b85encode b85decode encodebytes decodebytes",
        "linear: binascii's C at about twice the input, or Python loops a step a chunk (Ascii85's z: 4 bytes a character)",
    ),
    **_names(
        "calendar",
        "isleap leapdays timegm",
        "a few integer operations on numbers the script made, priced as it made them",
    ),
    **_names("heapq", "merge nlargest nsmallest", _COUNTED + "; the heap holds at most the items given"),
    "string.capwords": "splits raw, up to 29 times the text: a gap listed in SECURITY.md",
    "textwrap.dedent": "linear: its regexes over the text and one join of its own lines",
    **_names(
        "textwrap",
        "fill shorten wrap",
        _COUNTED + "; tabsize= expands tabs raw: a gap listed in SECURITY.md",
    ),
}


def reachable_library_functions() -> dict[str, str]:
    """Every Python function of the standard library a facade hands out, with its facade."""
    load(sandbox.MAX_IMPORTS)  # as compiling code under a policy allowing them all does
    scope = RunScope(StepBudget(Limits()), sandbox.MAX_IMPORTS)
    found: dict[str, str] = {}
    for name in sorted(sandbox.MAX_IMPORTS):
        module = facade(name, _run(scope))
        for member in dir(module):
            value = getattr(module, member)
            if isinstance(value, types.FunctionType) and not value.__module__.startswith("sandbox"):
                found[f"{value.__module__}.{value.__qualname__}"] = f"{name}.{member}"
    return found


def test_every_library_function_a_facade_hands_out_is_in_the_size_model():
    unlisted = {key: path for key, path in reachable_library_functions().items() if key not in LIBRARY}
    assert unlisted == {}, "library functions with no entry in the size model"
