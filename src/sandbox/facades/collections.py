"""collections: containers, and namedtuple with its names checked.

Left out: abc (a submodule), UserDict/UserList/UserString (wrappers with a public `.data` that is
simply the contents — harmless, but unused by evals).
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

from ..ownership import exact_str
from ..policy import refuse_member_names, refuse_unwritten_names
from . import FacadeRun, pick


def field_names(names: object) -> list[str]:
    """Field names as namedtuple takes them (a string of names separated by commas or spaces, or
    an iterable of names), copied to exact strs first: the checks and namedtuple read the copy."""
    if isinstance(names, str):
        return str.split(str.replace(exact_str(names, "field_names"), ",", " "))
    if not isinstance(names, Iterable):
        raise TypeError("field_names must be a string or an iterable of strings")
    return [exact_str(name, "a field name") for name in list(names)]


def members(run: FacadeRun) -> dict[str, object]:
    def namedtuple(
        typename: str, field_names_: str | Iterable[str], *, defaults: Iterable[object] | None = None
    ) -> type:
        """collections.namedtuple with the type and field names checked by the attribute rule, and
        the field names written in the script (policy.refuse_unwritten_names); no `rename`, which
        invents private names, and no `module`. The class is the run's own: its
        documented `_asdict`, `_replace`, `_make`, `_fields` and `_field_defaults` are readable."""
        name, names = exact_str(typename, "typename"), field_names(field_names_)
        refuse_member_names(name, *names)
        refuse_unwritten_names(run.words, "namedtuple", *names)
        made = collections.namedtuple(name, names, defaults=None if defaults is None else tuple(defaults))
        return run.admit(made)

    namedtuple.__name__ = namedtuple.__qualname__ = "namedtuple"
    return {**pick("collections", "Counter OrderedDict defaultdict deque ChainMap"), "namedtuple": namedtuple}
