"""What the allocator itself says about the heap, where the interpreter lets the engine ask it.

Pyodide's CPython has no pymalloc: every object is a block of Emscripten's dlmalloc, whose heap
grows by `sbrk` and never shrinks. Two figures of it serve the memory budget (`limits.StepBudget`):

- the heap's top, one word of linear memory at a fixed address, read through ctypes without a
  call into JS (about 90 ns in Pyodide 314 under Node 22, against 1.1 to 2.2 us for a call of the
  module's exported `_malloc_footprint` or `_sbrk` through `pyodide_js`);
- `mallinfo()`: the exact bytes in use and free, found by a walk of every chunk (0.35 to 0.5 ms on
  a heap of 14 MB, more as the heap holds more).

The top grows only when no free chunk can serve a request, so what a run holds is at most what was
free when it was last measured plus what the top has grown since. CPython on a host exposes
nothing like it portably (glibc's `mallinfo2` misses pymalloc's arenas, `sys.getallocatedblocks`
counts small blocks only and costs an arena walk in 3.13): there the budget keeps tracemalloc.

Only the engine calls these; the script cannot import ctypes (policy.py).
"""

from __future__ import annotations

import sys
from typing import Any


class Heap:
    """Pyodide's dlmalloc, read through ctypes."""

    def __init__(self) -> None:
        import ctypes

        libc = ctypes.CDLL(None)

        class Mallinfo(ctypes.Structure):
            # dlmalloc's struct mallinfo: MALLINFO_FIELD_TYPE is size_t.
            _fields_ = [
                (name, ctypes.c_size_t)
                for name in (
                    "arena", "ordblks", "smblks", "hblks", "hblkhd",
                    "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
                )
            ]  # fmt: skip

        self._mallinfo = libc.mallinfo
        self._mallinfo.restype = Mallinfo
        self._mallinfo.argtypes = []
        sbrk_pointer = libc.emscripten_get_sbrk_ptr
        sbrk_pointer.restype = ctypes.c_void_p
        sbrk_pointer.argtypes = []
        self.sbrk_top: Any = ctypes.c_size_t.from_address(sbrk_pointer())
        """The heap's end, where `sbrk` will give the allocator more."""
        state = _malloc_state(libc, self.sbrk_top, self._mallinfo)
        self.top: Any = ctypes.c_size_t.from_address(state + _TOP) if state else self.sbrk_top
        """The top chunk's start, where the allocator carves what no free chunk can serve (the
        heap's end where dlmalloc's state was not found): the step compares `top.value`, a C
        getter, with the run's ceiling. Every byte above it is free, and a run that fills it moves
        it up, so only the free chunks below it (`usage`'s second figure) are free space a run
        could fill unseen."""
        self.top_is_chunk = bool(state)

    def usage(self) -> tuple[int, int]:
        """(bytes in use, bytes free below `top`): exact, a walk of the heap. With the top chunk
        found, its free bytes (`keepcost`) lie above `top` and are left out."""
        info = self._mallinfo()
        return info.uordblks, info.fordblks - (info.keepcost if self.top_is_chunk else 0)


# dlmalloc 2.8.6's `struct malloc_state` on wasm32 (4-byte words): `topsize` and `top` at these
# offsets, `footprint`, `max_footprint` and `footprint_limit` side by side at _FOOTPRINT.
_TOPSIZE, _TOP, _FOOTPRINT = 12, 24, 432
_TOP_FOOT = 64  # at most, between the top chunk's end and the heap's end (40 bytes measured)


def _malloc_state(libc: Any, sbrk_top: Any, mallinfo: Any) -> int:
    """The address of dlmalloc's global state `_gm_`, which Emscripten does not export: found in
    linear memory by the three footprint words it alone holds (the allocator's own answers for
    two, 0 for an unset limit), and kept only where its top chunk agrees with the heap's end and
    with mallinfo. 0 where not found."""
    import ctypes
    import struct

    for name in ("malloc_footprint", "malloc_max_footprint"):
        getattr(libc, name).restype = ctypes.c_size_t
    window = 1 << 20
    for start in range(1024, sbrk_top.value, window):
        chunk = ctypes.string_at(start, min(window + 12, sbrk_top.value - start))
        # Read after the copy, which may itself have grown the heap.
        signature = struct.pack("<III", libc.malloc_footprint(), libc.malloc_max_footprint(), 0)
        at = chunk.find(signature)
        while at >= 0:
            state = start + at - _FOOTPRINT
            top = ctypes.c_size_t.from_address(state + _TOP)
            topsize = ctypes.c_size_t.from_address(state + _TOPSIZE)
            keepcost = mallinfo().keepcost  # dlmalloc's topsize, as mallinfo reports it
            end = sbrk_top.value
            if 0 <= end - (top.value + topsize.value) <= _TOP_FOOT and keepcost == topsize.value:
                return state
            at = chunk.find(signature, at + 1)
    return 0


_FIGURES: list[Heap | None] = []


def figures() -> Heap | None:
    """The heap's figures where the interpreter has them (Pyodide), else None: made once, before a
    run (ctypes is imported then, never inside a budget), and checked to agree with themselves."""
    if not _FIGURES:
        _FIGURES.append(_make() if sys.platform == "emscripten" else None)
    return _FIGURES[0]


def _make() -> Heap | None:
    try:
        heap = Heap()
        in_use, free = heap.usage()
        top, end = heap.top.value, heap.sbrk_top.value
    except Exception:  # noqa: BLE001 - a build without these symbols: the budget keeps tracemalloc
        return None
    # A misread structure or address would make every bound wrong: refuse figures that disagree.
    if not (0 < in_use < top <= end and 0 <= free < top and in_use + free <= top):
        return None
    return heap
