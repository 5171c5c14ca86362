"""collections: containers, and namedtuple with its names checked.

Left out: abc (a submodule), UserDict/UserList/UserString (wrappers with a public `.data` that is
simply the contents — harmless, but unused by evals).
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

from ..policy import refuse_member_names
from . import FacadeRun, pick

SHARED = True


def namedtuple(
    typename: str, field_names: str | Iterable[str], *, defaults: Iterable[object] | None = None
) -> type:
    """collections.namedtuple with the type and field names checked by the attribute rule (no
    `rename`, which invents private names, and no `module`)."""
    names = field_names.replace(",", " ").split() if isinstance(field_names, str) else list(field_names)
    refuse_member_names(typename, *names)
    return collections.namedtuple(typename, names, defaults=defaults)


def members(run: FacadeRun) -> dict[str, object]:
    return {**pick("collections", "Counter OrderedDict defaultdict deque ChainMap"), "namedtuple": namedtuple}
