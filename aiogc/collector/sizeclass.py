"""Go 1.5's small-object size classes (msize.go) and allocation rounding (``roundupsize``).

Algorithm.  Every allocation of at most ``MAX_SMALL_SIZE`` (32 KiB) bytes is rounded up to the
smallest size class that holds it; the object then occupies exactly that many bytes.  Anything
larger is a *large object*: it gets its own span of whole 8 KiB pages, so it is rounded up to a
multiple of ``PAGE_SIZE``.  ``heap_live`` grows by the rounded size, which is why the model needs it.

Go 1.5 did not ship a table: ``initSizes`` in msize.go computed it at start-up.  Walking sizes
upward in steps of an alignment (8 bytes, then 16 from 16, then size/8 from 128, then 256 from
2048), it picks for each size the fewest pages that waste at most 1/8 when cut into objects, and
merges a size into the previous class when both use the same pages and fit the same number of
objects.  The result, 67 classes with class 0 meaning "large", is written out below as
``SIZE_CLASSES`` (with ``CLASS_NPAGES``, the span size of each class); tests/test_sizeclass.py
re-runs that algorithm and checks the table against it.  The same table appears in a Go 1.5-era
annotated copy of msize.go that prints it.  It differs from the published ``sizeclasses.go`` of
Go 1.7 and later (also 67 classes), where a further pass enlarges sizes that still fit the same
number of objects per span (e.g. class 51 is 8448 bytes here, 9472 there).

Invariants: ``SIZE_CLASSES`` is strictly increasing, every entry is a multiple of 8, the last is
32768; for ``0 < n <= 32768``, ``round_size(n) = SIZE_CLASSES[size_class(n)]`` is the smallest
class size ``>= n``.  msize.go's comment aims at round-up waste of at most 12.5 %, but the
merge step breaks that: for ``n >= 128`` the table adds up to 23 % (3329 -> 4096 bytes; 769 ->
896 is 16.5 %), always less than ``n / 4``.

Lookup is one index into a precomputed array by ``(size + 7) >> 3`` (every class size is a
multiple of 8, so sizes sharing ``ceil(size / 8)`` share a class), like Go's ``size_to_class8``
but over the whole small range instead of switching to a 128-byte granularity above 1 KiB.
"""

from __future__ import annotations

__all__ = [
    "MAX_SMALL_SIZE",
    "PAGE_SIZE",
    "NUM_SIZE_CLASSES",
    "SIZE_CLASSES",
    "CLASS_NPAGES",
    "size_class",
    "round_size",
]

MAX_SMALL_SIZE = 32768
"""``_MaxSmallSize``: objects up to this size are allocated from size-classed spans."""

PAGE_SIZE = 8192
"""``_PageSize``: the heap page; large objects are rounded up to whole pages."""

SIZE_CLASSES: tuple[int, ...] = (
    0, 8, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
    288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280,
    1408, 1536, 1664, 2048, 2304, 2560, 2816, 3072, 3328, 4096, 4608, 5376, 6144, 6400,
    6656, 6912, 8192, 8448, 8704, 9472, 10496, 12288, 13568, 14080, 16384, 16640, 17664,
    20480, 21248, 24576, 24832, 28416, 32768,
)  # fmt: skip
"""Go 1.5's ``class_to_size``: index = size class, value = bytes per object; class 0 = large."""

CLASS_NPAGES: tuple[int, ...] = (
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 2, 1, 2, 1, 2, 1, 3, 2, 3, 1, 3, 2, 3, 4, 5, 6, 1, 7, 6, 5, 4, 3,
    5, 7, 2, 9, 7, 5, 8, 3, 10, 7, 4,
)  # fmt: skip
"""Go 1.5's ``class_to_allocnpages``: pages per span of each class."""

NUM_SIZE_CLASSES = len(SIZE_CLASSES)
"""``_NumSizeClasses`` (67)."""


def _build_lookup() -> tuple[int, ...]:
    """Class index for every ``ceil(size / 8)`` from 0 to ``MAX_SMALL_SIZE / 8``.

    Models the table fill at the end of ``initSizes``; index 0 (size 0) maps to class 1 as Go's
    ``size_to_class8[0]`` does.
    """
    table = []
    cls = 1
    for idx in range(MAX_SMALL_SIZE // 8 + 1):
        while SIZE_CLASSES[cls] < idx * 8:
            cls += 1
        table.append(cls)
    return tuple(table)


_CLASS_BY_8 = _build_lookup()


def size_class(size: int) -> int:
    """Size class index for an allocation of ``size`` bytes; 0 for a large object (> 32 KiB).

    Models ``sizeToClass`` (msize.go) and the ``size <= maxSmallSize`` test in ``mallocgc``.
    ``size_class(0)`` is 1, what Go's table says, though ``mallocgc`` never asks for size 0.
    """
    if size < 0:
        raise ValueError(f"allocation size must be >= 0, got {size}")
    if size > MAX_SMALL_SIZE:
        return 0
    return _CLASS_BY_8[(size + 7) >> 3]


def round_size(size: int) -> int:
    """Bytes an allocation of ``size`` bytes actually occupies in the heap.

    Models ``roundupsize`` (msize.go): the class size for small objects, a whole number of 8 KiB
    pages for large ones.  Departure: size 0 gives 0, because ``mallocgc`` returns the shared
    ``zerobase`` address for zero-size allocations and uses no heap (``roundupsize(0)`` is 8 but
    is never consulted for them).
    """
    if size < 0:
        raise ValueError(f"allocation size must be >= 0, got {size}")
    if size == 0:
        return 0
    if size <= MAX_SMALL_SIZE:
        return SIZE_CLASSES[_CLASS_BY_8[(size + 7) >> 3]]
    return (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
