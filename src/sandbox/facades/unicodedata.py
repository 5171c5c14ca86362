"""unicodedata: lookups into the Unicode database, and a measured normalize."""

from __future__ import annotations

from ..limits import check_normalize, plain
from . import FacadeRun, pick


def members(run: FacadeRun) -> dict[str, object]:
    budget = run.budget
    # Lookups into the Unicode database, and normalize, priced before it runs (limits.check_normalize).
    import unicodedata

    members = pick(
        "unicodedata",
        "lookup name decimal digit numeric category bidirectional combining east_asian_width "
        "mirrored decomposition is_normalized unidata_version",
    )

    def normalize(form: str, unistr: str) -> str:
        # Read as C reads them, and C is given the copies: a str subclass's __eq__ would show the
        # check another form than the one normalize applies.
        form, unistr = plain(form), plain(unistr)
        if isinstance(form, str) and isinstance(unistr, str) and not unicodedata.is_normalized(form, unistr):
            check_normalize(budget, form, unistr, "unicodedata.normalize")
        return unicodedata.normalize(form, unistr)

    members["normalize"] = normalize
    return members
