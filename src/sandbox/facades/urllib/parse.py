"""urllib.parse: pure URL text: splitting, joining, quoting and query strings.

urlsplit keeps a process-wide cache keyed by its arguments (urlparse, urljoin and urldefrag call
it): a key of a run's making would keep its memory past the run, and its __eq__ would run at any
later lookup of an equal hash, another trace's or the host's own. So the URL, base and scheme reach
it as exact str or bytes and allow_fragments as a bool of the facade's own; anything else is
refused. Every other text argument is copied to the plain type too (quote's cache is keyed by what
it makes of `safe`). Text is priced before the C calls inside run: splits make a str per separator
(`&`, `;`, `/`, `%`, `=`), quoting writes up to three characters a byte (twelve for a character of
four UTF-8 bytes). urlencode writes `str(value)` of every key and value that is not text in one C
call each: the facade renders them itself first, measured as print measures them (nesting and
size), and prices the text as any other. Left out: the deprecated split* helpers and the module's
imports.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

from ...guards import exact_text, plain_keywords
from ...limits import (
    StepBudget,
    as_count,
    char_bytes,
    check_bytes,
    check_nesting,
    check_rendering,
    true_length,
)
from .. import FacadeRun

_PIECE_BYTES = 8 + 56
_SEPARATORS = ("&", ";", "/", "%", "=")
_CODECS = frozenset({"quote", "quote_plus", "unquote", "unquote_plus", "parse_qs", "parse_qsl"})
_NAMES = (
    "urlunparse urlunsplit quote quote_plus quote_from_bytes unquote unquote_plus unquote_to_bytes "
    "parse_qs parse_qsl"
)


# Bytes of result per character of text: `%XX` per UTF-8 byte (an unquoted astral character is four
# bytes wide), and with a caller's `encoding` or `errors` the worst a codec or handler writes
# (namereplace: `\N{…}`, up to a hundred bytes, each quoted).
_ASCII_GROWTH, _TEXT_GROWTH, _CODEC_GROWTH = 4, 12, 300


def _cost(value: Any, separator: Any, codec: bool, levels: int = 2) -> int:
    """Text (and the text in urlunsplit's parts, one level down) as quoting and splitting grow it."""
    if isinstance(value, (str, bytes, bytearray)):
        text = value if isinstance(value, str) else bytes(value).decode("latin-1")
        pieces = 1 + sum(str.count(text, s) for s in (*_SEPARATORS, separator) if s)
        growth = _CODEC_GROWTH if codec else _ASCII_GROWTH if str.isascii(text) else _TEXT_GROWTH
        return pieces * _PIECE_BYTES + (true_length(text) or 0) * max(growth, char_bytes(text))
    if levels and isinstance(value, (list, tuple)):
        return sum(_cost(item, separator, codec, levels - 1) for item in value)
    return 0


def _url(value: Any, what: str) -> str | bytes:
    """A key of urlsplit's cache: exact text, never an object of the run's (a str subclass, an object
    whose `decode()` makes the text)."""
    if not isinstance(value, (str, bytes)):
        raise TypeError(f"the {what} must be str or bytes in the sandbox, not {type(value).__name__}")
    return exact_text(value)  # type: ignore[return-value]


def _flag(value: Any) -> bool:
    """allow_fragments as a key of urlsplit's cache: the facade's own bool, read from an int as C
    reads one (an int subclass's __bool__ is not asked)."""
    number = as_count(value)
    if number is None:
        raise TypeError(f"allow_fragments must be a bool in the sandbox, not {type(value).__name__}")
    return number != 0


def _text(budget: StepBudget, value: Any) -> Any:
    """What urlencode makes of a key or value that is not a sequence of them: bytes as they are, and
    `str(value)`, rendered here once its nesting and size are measured."""
    if isinstance(value, (str, bytes)):
        return exact_text(value)
    check_nesting(budget, value)
    check_rendering(budget, value)
    return exact_text(str(value))


def _query_pairs(budget: StepBudget, query: Any, doseq: bool) -> list[tuple[Any, Any]]:
    """urlencode's query as pairs of text, read as urlencode reads it (a mapping's items, else a
    sequence of pairs; with doseq, a sized value is a sequence of values)."""
    if hasattr(query, "items"):
        pairs = query.items()
    else:
        try:
            if len(query) and not isinstance(query[0], tuple):
                raise TypeError
        except TypeError as error:
            raise TypeError("not a valid non-string sequence or mapping object") from error
        pairs = query
    return [(_text(budget, key), _values(budget, value, doseq)) for key, value in pairs]


def _values(budget: StepBudget, value: Any, doseq: bool) -> Any:
    if doseq and not isinstance(value, (str, bytes)):
        try:
            len(value)
        except TypeError:
            return _text(budget, value)
        return [_text(budget, item) for item in value]
    return _text(budget, value)


def _price(budget: StepBudget, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    separator = kwargs.get("separator")
    separator = separator if isinstance(separator, str) else None
    # An encoding or error handler named, or given positionally (quote's third argument on), to a
    # function that takes one: urlsplit's third argument is allow_fragments.
    codec = name in _CODECS and ("encoding" in kwargs or "errors" in kwargs or len(args) > 2)
    size = 0
    for value in (*args, *kwargs.values()):
        if not isinstance(value, (str, bytes, bytearray)):
            # Whatever a call might make of it with str() or repr(), measured as print measures it.
            check_nesting(budget, value)
            check_rendering(budget, value)
        size += _cost(value, separator, codec)
    check_bytes(budget, size, f"urllib.parse.{name}")


def _priced(budget: StepBudget, name: str) -> Callable[..., Any]:
    function = getattr(urllib.parse, name)

    def call(*args: Any, **kwargs: Any) -> Any:
        args = tuple(map(exact_text, args))
        kwargs = {key: exact_text(value) for key, value in plain_keywords(kwargs).items()}
        _price(budget, name, args, kwargs)
        return function(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = function.__doc__
    return call


def members(run: FacadeRun) -> dict[str, object]:
    budget = run.budget
    members: dict[str, object] = {name: _priced(budget, name) for name in _NAMES.split()}

    def urlsplit(url: Any, scheme: Any = "", allow_fragments: Any = True) -> Any:
        args = (_url(url, "url"), _url(scheme, "scheme"), _flag(allow_fragments))
        _price(budget, "urlsplit", args, {})
        return urllib.parse.urlsplit(*args)

    def urlparse(url: Any, scheme: Any = "", allow_fragments: Any = True) -> Any:
        args = (_url(url, "url"), _url(scheme, "scheme"), _flag(allow_fragments))
        _price(budget, "urlparse", args, {})
        return urllib.parse.urlparse(*args)

    def urljoin(base: Any, url: Any, allow_fragments: Any = True) -> Any:
        args = (_url(base, "base"), _url(url, "url"), _flag(allow_fragments))
        _price(budget, "urljoin", args, {})
        return urllib.parse.urljoin(*args)

    def urldefrag(url: Any) -> Any:
        text = _url(url, "url")
        _price(budget, "urldefrag", (text,), {})
        return urllib.parse.urldefrag(text)

    def urlencode(
        query: Any, doseq: Any = False, safe: Any = "", encoding: Any = None, errors: Any = None,
        quote_via: Any = urllib.parse.quote_plus,
    ) -> str:  # fmt: skip
        sequences = bool(doseq)  # read once: the pairs are made, and urlencode reads them, by this
        pairs = _query_pairs(budget, query, sequences)
        texts = [
            text for key, value in pairs for text in (key, *(value if type(value) is list else (value,)))
        ]
        codec = encoding is not None or errors is not None
        check_bytes(budget, sum(_cost(text, None, codec) for text in texts), "urllib.parse.urlencode")
        options = (exact_text(safe), exact_text(encoding), exact_text(errors))
        return urllib.parse.urlencode(pairs, sequences, *options, quote_via)

    for function in (urlsplit, urlparse, urljoin, urldefrag, urlencode):
        function.__doc__ = getattr(urllib.parse, function.__name__).__doc__
        members[function.__name__] = function
    for result in ("ParseResult", "SplitResult", "DefragResult", "ParseResultBytes", "SplitResultBytes",
                   "DefragResultBytes"):  # fmt: skip
        members[result] = getattr(urllib.parse, result)
    return members
