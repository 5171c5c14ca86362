"""io: StringIO, text in memory (for csv), and nothing else: no files, no streams, no buffers.

The run's StringIO is a subclass whose C parts that could outgrow what the script holds are
measured or made Python: seeking past the end is priced (the next write fills the gap), and
iterating it (for loops, readlines, list(), csv.reader) is a generator, a step and a look at memory
per line; writelines writes a line a step.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any

from ..limits import as_count, check_width
from . import FacadeRun


def members(run: FacadeRun) -> dict[str, object]:
    budget = run.budget
    tell, seek, readline, write = io.StringIO.tell, io.StringIO.seek, io.StringIO.readline, io.StringIO.write

    class StringIO(io.StringIO):
        __slots__ = ()
        __doc__ = io.StringIO.__doc__

        def seek(self, pos: Any, whence: Any = 0, /) -> int:
            # Both read once, as C reads them (through __index__), and C is given what was read: an
            # int subclass's __eq__ or a second __index__ would show the check another position.
            offset, origin = as_count(pos), as_count(whence)
            if offset is None or origin is None:
                raise TypeError("the position and whence of seek() must be integers")
            if origin == 0 and offset > (here := tell(self)):
                end = seek(self, 0, 2)
                seek(self, here)
                if offset > end:
                    # A write there fills the gap with NULs, four bytes a character at worst.
                    check_width(budget, offset - end, "seeking past the end of a StringIO", 4)
            return seek(self, offset, origin)

        def __iter__(self) -> Iterator[str]:
            while line := readline(self):
                yield line

        def writelines(self, lines: Iterable[Any], /) -> None:
            for line in lines:
                write(self, line)

    return {"StringIO": StringIO}
