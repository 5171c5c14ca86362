"""unicodedata: lookups into the Unicode database, and a measured normalize."""

from __future__ import annotations

from ..limits import char_bytes, check_bytes, plain, true_length
from . import FacadeRun, pick


def members(run: FacadeRun) -> dict[str, object]:
    budget = run.budget
    # Lookups into the Unicode database, and normalize: a compatibility decomposition turns one
    # character into as many as 18 (U+FDFA), measured before it runs.
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
            # Up to 18 characters from one, each held in a 4-byte buffer while decomposed and again
            # while composed, then in the result (measured: 110 MB for a million U+FDFA).
            growth = 18 if form in ("NFKD", "NFKC") else 4
            size = (true_length(unistr) or 0) * growth * (8 + max(2, char_bytes(unistr)))
            check_bytes(budget, size, "unicodedata.normalize")
        return unicodedata.normalize(form, unistr)

    members["normalize"] = normalize
    return members
