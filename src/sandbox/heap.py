"""What the allocator itself says about the heap, where the interpreter lets the engine ask it.

Pyodide's CPython has no pymalloc: every object is a chunk of Emscripten's dlmalloc, whose heap
grows by `sbrk` and never shrinks (`malloc_trim` gives nothing back). Four things of it serve the
memory budget's heap mode (`limits.StepBudget.enter_heap_mode`):

- the top chunk's start (`top`): dlmalloc carves from it what no free chunk can serve, so it moves
  up as a run fills the heap and down as the heap's end is freed. One word of linear memory, read
  through ctypes without a call (about 90 ns in Pyodide 314 under Node 22, against 1.1 to 2.2 us for
  a call into JS): what a run holds now;
- the heap's end (`end`, `emscripten_get_sbrk_ptr`), another word, which only ever goes up: what
  one C call allocated and freed again inside one step stays in it, however short the moment;
- `mallinfo()`: the exact bytes in use, free below the top chunk and free in it, found by a walk
  of every chunk (0.35 to 0.5 ms on a heap of 14 MB, more as the heap holds more);
- `malloc` and `free`, for a ballast: blocks that hold the top chunk's free space (which after
  earlier heavy runs may be 100 MB) while a run is in heap mode, so that what the run allocates
  beyond the free chunks below the top and a margin moves the heap's end. No byte of a ballast is
  written: it is address space the run cannot have, not memory anyone uses.

CPython on a host exposes nothing like it portably (glibc's `mallinfo2` misses pymalloc's arenas,
`sys.getallocatedblocks` counts small blocks only and costs an arena walk in 3.13): there the budget
keeps tracemalloc.

Only the engine calls these; the script cannot import ctypes (policy.py).
"""

from __future__ import annotations

import sys
from typing import Any


class Heap:
    """Pyodide's dlmalloc, read and ballasted through ctypes."""

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
        self._malloc = libc.malloc
        self._malloc.restype = ctypes.c_void_p
        self._malloc.argtypes = [ctypes.c_size_t]
        self._free = libc.free
        self._free.restype = None
        self._free.argtypes = [ctypes.c_void_p]
        sbrk_pointer = libc.emscripten_get_sbrk_ptr
        sbrk_pointer.restype = ctypes.c_void_p
        sbrk_pointer.argtypes = []
        self.end: Any = ctypes.c_size_t.from_address(sbrk_pointer())
        """The heap's end, where `sbrk` gives the allocator more. Never goes down."""
        state = _malloc_state(libc, self.end, self._mallinfo)
        if not state:
            raise LookupError("dlmalloc's state was not found")
        self.top: Any = ctypes.c_size_t.from_address(state + _TOP)
        """The top chunk's start: every byte above it is free, and a run that fills the heap beyond
        the free chunks below it moves it up."""
        # The ballast's guides: the top chunk's size, the designated victim's (the free chunk
        # dlmalloc splits small requests from), the bitmap of non-empty bins of large free chunks.
        self._top_size: Any = ctypes.c_size_t.from_address(state + _TOPSIZE)
        self._dv_size: Any = ctypes.c_size_t.from_address(state + _DV_SIZE)
        self._tree_map: Any = ctypes.c_uint32.from_address(state + _TREE_MAP)
        self.entries = 0
        """Runs that entered heap mode in this interpreter (for tests: that a run was bounded this
        way, not by tracemalloc)."""
        self.end_when_left = 0
        """The heap's end when a run last left heap mode (for tests: how far the heap had grown
        while the run was bounded this way, before a traced rest of it)."""
        self.ballast_growth = 0
        """What the heap's end has grown by, over this interpreter's life, while a ballast held
        free space a run could otherwise have had: what heap mode has cost the heap beyond tracing.
        Past BALLAST_GROWTH_ALLOWANCE no run enters heap mode again (`may_ballast`)."""

    def usage(self) -> tuple[int, int, int]:
        """(bytes in use, bytes free below the top chunk, bytes free in the top chunk): exact, a
        walk of the heap. dlmalloc's `keepcost` is its top chunk's size."""
        info = self._mallinfo()
        return info.uordblks, info.fordblks - info.keepcost, info.keepcost

    def may_ballast(self) -> bool:
        return self.ballast_growth < BALLAST_GROWTH_ALLOWANCE

    def take_free_below(self, ballast: Ballast) -> None:
        """Add to `ballast` the free chunks below the top chunk of FREE_CHUNK_TAKEN and more. A run
        in heap mode leaves behind it a few blocks the interpreter keeps (about 5 KB a run, none a
        Python object), made where it was allocating: in the top chunk's margin, above the space
        its ballast held, which is then free below the top for good. Each request is the least size of the largest non-empty bin of dlmalloc's tree of
        free chunks (or the designated victim's size), so a free chunk serves it and the heap
        never grows for it."""
        for _ in range(1024):
            dv_size, tree_map = self._dv_size.value, self._tree_map.value
            if dv_size >= FREE_CHUNK_TAKEN:
                size = dv_size
            elif tree_map >> _TREE_BIN_TAKEN:
                size = _tree_bin_least(tree_map.bit_length() - 1)
            else:
                return
            # A chunk of `size` holds a request of `size` less its header, rounded to 8 bytes.
            address = self._malloc(size - _CHUNK_HEADER)
            if not address:
                return
            ballast.blocks.append(address)
            ballast.size += size

    def take_top(self, ballast: Ballast, margin: int) -> None:
        """Add to `ballast` the top chunk's free space but `margin` (and up to TOP_SLACK): one
        block carved from the top chunk's start, so the margin is the top chunk that is left."""
        top_size = self._top_size.value
        if top_size > margin + TOP_SLACK:
            top = self.top.value
            address = self._malloc(top_size - margin)
            if address and self.top.value != top:
                ballast.blocks.append(address)
                ballast.size += top_size - margin
            elif address:
                self._free(address)  # a free chunk served it after all: the top is left as it is


class Ballast:
    """Blocks of the heap that a run in heap mode cannot have."""

    def __init__(self, heap: Heap) -> None:
        self._free = heap._free
        self.blocks: list[int] = []
        self.size = 0
        """Bytes asked for, over all blocks."""

    def release(self) -> None:
        """Give the blocks back; a second call frees nothing twice."""
        while self.blocks:
            self._free(self.blocks.pop())
        self.size = 0


# Free bytes a ballast may leave in the top chunk beyond the margin asked for: not worth a block.
TOP_SLACK = 64 * 1024

# The smallest free chunk below the top a ballast takes (Heap.take_free_below): the rest are
# counted as room the run may fill.
FREE_CHUNK_TAKEN = 64 * 1024

# The most the heap's end may grow, summed over an interpreter's life, while a ballast held free
# space (Heap.ballast_growth). A run that outgrows its margin in one step (a C call that builds far
# more than the script holds, straight-line code) moves the heap's end where, traced, it would have
# reused the top chunk's free space; once freed, that growth is top space the next ballast holds
# again, so such runs would grow the heap a little each. Past this the interpreter's runs stay
# traced: slower, no larger.
BALLAST_GROWTH_ALLOWANCE = 32 * 1024 * 1024


# dlmalloc 2.8.6's `struct malloc_state` on wasm32 (4-byte words): the bitmap of non-empty tree
# bins, the designated victim's size, `topsize` and `top` at these offsets, `footprint`,
# `max_footprint` and `footprint_limit` side by side at _FOOTPRINT.
_TREE_MAP, _DV_SIZE, _TOPSIZE, _TOP, _FOOTPRINT = 4, 8, 12, 24, 432
_TOP_FOOT = 64  # at most, between the top chunk's end and the heap's end (40 bytes measured)
_CHUNK_HEADER = 8  # a request of n bytes takes a chunk of n + 4 rounded up to 8


def _tree_bin_least(index: int) -> int:
    """The least chunk size of dlmalloc's tree bin `index` (its `minsize_for_tree_index`)."""
    shift = (index >> 1) + 8
    return (1 << shift) | ((index & 1) << (shift - 1))


# The first tree bin whose chunks are all FREE_CHUNK_TAKEN or more.
_TREE_BIN_TAKEN = next(index for index in range(32) if _tree_bin_least(index) >= FREE_CHUNK_TAKEN)


def _malloc_state(libc: Any, end: Any, mallinfo: Any) -> int:
    """The address of dlmalloc's global state `_gm_`, which Emscripten does not export: found in
    linear memory by the three footprint words it alone holds (the allocator's own answers for
    two, 0 for an unset limit), and kept only where its top chunk agrees with the heap's end and
    with mallinfo. 0 where not found."""
    import ctypes
    import struct

    for name in ("malloc_footprint", "malloc_max_footprint"):
        getattr(libc, name).restype = ctypes.c_size_t
    window = 1 << 20
    for start in range(1024, end.value, window):
        chunk = ctypes.string_at(start, min(window + 12, end.value - start))
        # Read after the copy, which may itself have grown the heap.
        signature = struct.pack("<III", libc.malloc_footprint(), libc.malloc_max_footprint(), 0)
        at = chunk.find(signature)
        while at >= 0:
            state = start + at - _FOOTPRINT
            top = ctypes.c_size_t.from_address(state + _TOP)
            topsize = ctypes.c_size_t.from_address(state + _TOPSIZE)
            keepcost = mallinfo().keepcost  # dlmalloc's topsize, as mallinfo reports it
            if 0 <= end.value - (top.value + topsize.value) <= _TOP_FOOT and keepcost == topsize.value:
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
        in_use, free, top_size = heap.usage()
        top, end = heap.top.value, heap.end.value
    except Exception:  # noqa: BLE001 - a build without these symbols or this layout: tracemalloc
        return None
    # A misread structure or address would make every bound wrong: refuse figures that disagree.
    if not (0 < in_use < top < end and 0 <= free < top and in_use + free <= top and top + top_size <= end):
        return None
    return heap
