"""Size classes: Go 1.5's computed table, lookup and rounding (msize.go ``initSizes``, ``roundupsize``)."""

from __future__ import annotations

import bisect

import pytest

from aiogc.collector.sizeclass import (
    CLASS_NPAGES,
    MAX_SMALL_SIZE,
    NUM_SIZE_CLASSES,
    PAGE_SIZE,
    SIZE_CLASSES,
    round_size,
    size_class,
)


def _init_sizes() -> tuple[list[int], list[int]]:
    """Go 1.5's initSizes class-choosing loop, transcribed independently for the check."""
    sizes, npages = [0], [0]
    align = 8
    size = align
    while size <= MAX_SMALL_SIZE:
        if size & (size - 1) == 0:
            if size >= 2048:
                align = 256
            elif size >= 128:
                align = size // 8
            elif size >= 16:
                align = 16
        allocsize = PAGE_SIZE
        while allocsize % size > allocsize // 8:
            allocsize += PAGE_SIZE
        n = allocsize // PAGE_SIZE
        if len(sizes) > 1 and n == npages[-1] and allocsize // size == allocsize // sizes[-1]:
            sizes[-1] = size
        else:
            sizes.append(size)
            npages.append(n)
        size += align
    return sizes, npages


def test_table_is_what_go15_init_sizes_computes() -> None:
    sizes, npages = _init_sizes()
    assert tuple(sizes) == SIZE_CLASSES
    assert tuple(npages) == CLASS_NPAGES
    assert NUM_SIZE_CLASSES == 67 == len(CLASS_NPAGES)


def test_table_shape_invariants() -> None:
    assert SIZE_CLASSES[0] == 0 and SIZE_CLASSES[1] == 8 and SIZE_CLASSES[-1] == MAX_SMALL_SIZE
    assert all(a < b for a, b in zip(SIZE_CLASSES, SIZE_CLASSES[1:], strict=False))
    assert all(s % 8 == 0 for s in SIZE_CLASSES)
    for c in range(1, NUM_SIZE_CLASSES):
        span = CLASS_NPAGES[c] * PAGE_SIZE
        # chopping the span into objects wastes at most 1/8 of it
        assert span % SIZE_CLASSES[c] <= span // 8


@pytest.mark.parametrize(
    ("size", "cls", "rounded"),
    [
        (1, 1, 8),
        (8, 1, 8),
        (9, 2, 16),
        (17, 3, 32),
        (33, 4, 48),
        (129, 10, 144),
        (1024, 31, 1024),
        (1025, 32, 1152),
        (1600, 36, 1664),  # Go 1.7+ would give 1792
        (8193, 51, 8448),  # Go 1.7+ would give 9472
        (32767, 66, 32768),
        (32768, 66, 32768),
    ],
)
def test_known_sizes(size: int, cls: int, rounded: int) -> None:
    assert size_class(size) == cls
    assert round_size(size) == rounded
    assert SIZE_CLASSES[cls] == rounded


def test_every_small_size_rounds_to_smallest_fitting_class() -> None:
    for n in range(1, MAX_SMALL_SIZE + 1):
        expect = bisect.bisect_left(SIZE_CLASSES, n)
        assert size_class(n) == expect, n
        assert round_size(n) == SIZE_CLASSES[expect] >= n
        assert SIZE_CLASSES[expect - 1] < n


def test_round_up_waste_bounded_above_128() -> None:
    # msize.go aims at <= 12.5 % round-up waste, but merged classes exceed it (769 -> 896);
    # the Go 1.5 table's worst case from 128 bytes up is 3329 -> 4096 (+23 %).
    worst = max(range(128, MAX_SMALL_SIZE + 1), key=lambda n: (round_size(n) - n) / n)
    assert worst == 3329 and round_size(worst) == 4096
    for n in range(128, MAX_SMALL_SIZE + 1):
        assert (round_size(n) - n) * 4 < n, n
    assert round_size(769) == 896


def test_large_objects_round_to_pages() -> None:
    assert size_class(MAX_SMALL_SIZE + 1) == 0
    assert round_size(MAX_SMALL_SIZE + 1) == 40960
    assert round_size(40960) == 40960
    assert round_size(40961) == 49152
    assert round_size(1 << 30) == 1 << 30
    assert round_size((1 << 30) + 1) == (1 << 30) + PAGE_SIZE
    for n in range(MAX_SMALL_SIZE + 1, MAX_SMALL_SIZE + 5 * PAGE_SIZE, 977):
        r = round_size(n)
        assert r % PAGE_SIZE == 0 and n <= r < n + PAGE_SIZE


def test_zero_and_negative() -> None:
    assert size_class(0) == 1  # Go's size_to_class8[0]
    assert round_size(0) == 0  # mallocgc uses zerobase: no heap bytes
    with pytest.raises(ValueError):
        size_class(-1)
    with pytest.raises(ValueError):
        round_size(-8)
