"""csv: reading and writing CSV text held in memory (a list of lines, io.StringIO).

Every line the reader parses is priced before C splits it: a new str per field (a delimiter
counted at C speed), so a line of a million commas is refused rather than made into a million
strings in one call. Rows written are priced the same way: quoting at most doubles a field. The
DictReader and DictWriter are the module's, with their reader and writer replaced by these.
Left out: field_size_limit, register_dialect and unregister_dialect (process-wide settings every
later run would inherit), Sniffer (regular expressions over the sample, in Python), and Dialect
(a class to subclass; pass the format parameters, or `dialect='excel_tab'`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from ..limits import StepBudget, char_bytes, check_bytes, check_nesting, check_rendering, true_length
from . import FacadeRun

# A field costs its list slot and a str header beyond its characters.
_FIELD_BYTES = 8 + 56


def _price_line(budget: StepBudget, line: Any, delimiter: str) -> None:
    if isinstance(line, str):
        fields = str.count(line, delimiter) + 1
        check_bytes(budget, fields * _FIELD_BYTES + (true_length(line) or 0) * char_bytes(line), "csv.reader")


def _checked_lines(budget: StepBudget, lines: Iterable[Any], dialect: list[str]) -> Iterator[Any]:
    """The lines of `lines`, each priced before the reader parses it (a step each)."""
    for line in lines:
        _price_line(budget, line, dialect[0])
        yield line


class _Writer:
    """csv.writer's object, with every row priced before C joins it."""

    __slots__ = ("_budget", "_writer")

    def __init__(self, budget: StepBudget, writer: Any) -> None:
        if type(budget) is not StepBudget:  # type() of a writer is this class: made here only
            raise TypeError("csv writers are made with csv.writer()")
        self._budget = budget
        self._writer = writer

    @property
    def dialect(self) -> Any:
        return self._writer.dialect

    def writerow(self, row: Iterable[Any]) -> Any:
        fields = list(row)
        # Quoting at most doubles a field's text; other values are written as str() makes them,
        # measured as print measures them.
        for field in fields:
            if not isinstance(field, str):
                check_nesting(self._budget, field)
                check_rendering(self._budget, field)
        size = sum(
            (true_length(f) or 0) * char_bytes(f) * 2 + _FIELD_BYTES for f in fields if isinstance(f, str)
        )
        check_bytes(self._budget, size + len(fields) * _FIELD_BYTES, "csv.writer.writerow")
        return self._writer.writerow(fields)

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def members(run: FacadeRun) -> dict[str, object]:
    budget = run.budget

    def reader(csvfile: Iterable[Any], dialect: Any = "excel", **fmtparams: Any) -> Any:
        delimiter: list[str] = [","]
        parsed = csv.reader(_checked_lines(budget, csvfile, delimiter), dialect, **fmtparams)
        delimiter[0] = parsed.dialect.delimiter
        return parsed

    def writer(csvfile: Any, dialect: Any = "excel", **fmtparams: Any) -> _Writer:
        return _Writer(budget, csv.writer(csvfile, dialect, **fmtparams))

    def DictReader(f: Iterable[Any], *args: Any, **kwargs: Any) -> csv.DictReader[Any]:
        delimiter: list[str] = [","]
        parsed = csv.DictReader(_checked_lines(budget, f, delimiter), *args, **kwargs)
        delimiter[0] = parsed.reader.dialect.delimiter
        return parsed

    def DictWriter(f: Any, fieldnames: Any, *args: Any, **kwargs: Any) -> csv.DictWriter[Any]:
        written = csv.DictWriter(f, fieldnames, *args, **kwargs)
        written.writer = _Writer(budget, written.writer)
        return written

    members: dict[str, object] = {
        "reader": reader, "writer": writer, "DictReader": DictReader, "DictWriter": DictWriter,
        "Error": csv.Error, "excel": csv.excel, "excel_tab": csv.excel_tab, "unix_dialect": csv.unix_dialect,
        "get_dialect": csv.get_dialect, "list_dialects": csv.list_dialects,
    }  # fmt: skip
    members.update({name: getattr(csv, name) for name in dir(csv) if name.startswith("QUOTE_")})
    return members
