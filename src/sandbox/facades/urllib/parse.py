"""urllib.parse: pure URL text: splitting, joining, quoting and query strings.

Every text argument is copied to the plain type (urlsplit and quote keep process-wide caches keyed
by their arguments, where a str subclass's __eq__ would run at a later run's lookup) and priced
before the C calls inside run: splits make a str per separator (`&`, `;`, `/`, `%`, `=`), quoting
writes up to three characters a byte (twelve for a character of four UTF-8 bytes). Containers
handed in (urlencode's query, urlunsplit's parts) are priced item by item, two levels deep, as
urlencode reads them. Left out: the deprecated split* helpers and the module's imports.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

from ...guards import exact_text
from ...limits import StepBudget, char_bytes, check_bytes, true_length
from .. import FacadeRun

_PIECE_BYTES = 8 + 56
_SEPARATORS = ("&", ";", "/", "%", "=")
_NAMES = (
    "urlparse urlsplit urlunparse urlunsplit urljoin urldefrag quote quote_plus quote_from_bytes "
    "unquote unquote_plus unquote_to_bytes urlencode parse_qs parse_qsl"
)


# Bytes of result per character of text: `%XX` per UTF-8 byte (an unquoted astral character is four
# bytes wide), and with a caller's `encoding` or `errors` the worst a codec or handler writes
# (namereplace: `\N{…}`, up to a hundred bytes, each quoted).
_ASCII_GROWTH, _TEXT_GROWTH, _CODEC_GROWTH = 4, 12, 300


def _cost(value: Any, separator: Any, codec: bool, levels: int = 2) -> int:
    if isinstance(value, (str, bytes, bytearray)):
        text = value if isinstance(value, str) else bytes(value).decode("latin-1")
        pieces = 1 + sum(str.count(text, s) for s in (*_SEPARATORS, separator) if s)
        growth = _CODEC_GROWTH if codec else _ASCII_GROWTH if str.isascii(text) else _TEXT_GROWTH
        return pieces * _PIECE_BYTES + (true_length(text) or 0) * max(growth, char_bytes(text))
    if levels and isinstance(value, dict):
        return sum(
            _cost(k, separator, codec, levels - 1) + _cost(v, separator, codec, levels - 1)
            for k, v in dict.items(value)
        )
    if levels and isinstance(value, (list, tuple)):
        return sum(_cost(item, separator, codec, levels - 1) for item in value)
    return 0


def _priced(budget: StepBudget, name: str) -> Callable[..., Any]:
    function = getattr(urllib.parse, name)

    def call(*args: Any, **kwargs: Any) -> Any:
        args = tuple(map(exact_text, args))
        kwargs = {key: exact_text(value) for key, value in kwargs.items()}
        separator = kwargs.get("separator")
        separator = separator if isinstance(separator, str) else None
        # An encoding or error handler named, or given positionally (quote's third argument on).
        codec = "encoding" in kwargs or "errors" in kwargs or len(args) > 2
        size = sum(_cost(value, separator, codec) for value in (*args, *kwargs.values()))
        check_bytes(budget, size, f"urllib.parse.{name}")
        return function(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = function.__doc__
    return call


def members(run: FacadeRun) -> dict[str, object]:
    members: dict[str, object] = {name: _priced(run.budget, name) for name in _NAMES.split()}
    for result in ("ParseResult", "SplitResult", "DefragResult", "ParseResultBytes", "SplitResultBytes",
                   "DefragResultBytes"):  # fmt: skip
        members[result] = getattr(urllib.parse, result)
    return members
