"""The walks over ``h_allspans`` (collector/cycle.py ``span_walk``; config.py ``cost_span_walk_ns``).

Go 1.5 never shrinks its list of span structs, and walks all of it in sweep termination, the
scan and (twice) mark termination, so a heap that once grew makes every later cycle's phases
longer.  Exact virtual-time checks: the same program with and without the walk's cost.
"""

from __future__ import annotations

import aiogc
from aiogc.collector.heap import Heap
from aiogc.collector.sizeclass import PAGE_SIZE

MIB = 1 << 20


def test_nspan_follows_the_peak_and_never_shrinks() -> None:
    h = Heap()
    assert h.nspan() == 0
    h.alloc(3 * PAGE_SIZE + 1)
    peak = h.heap_live
    assert h.nspan() == -(-peak // PAGE_SIZE) >= 4
    h.set_heap_live(0)  # mark termination: heap_live = bytesMarked
    assert h.nspan() == -(-peak // PAGE_SIZE), "allspans shrank when heap_live fell"


def _after_peak(peak_mib: int, forced: int, **cost: int) -> aiogc.Runtime:
    """Grow the heap to ``peak_mib`` (GOGC off: no background cycle), drop it, force ``forced`` cycles."""
    rt = aiogc.Runtime(gomaxprocs=1, gogc="off", seed=1, clock="virtual", godebug="", **cost)

    async def main() -> None:
        held = [await aiogc.alloc(MIB) for _ in range(peak_mib)]
        del held
        for _ in range(forced):
            await aiogc.gc()

    rt.run(main())
    return rt


def _forced_after_peak(peak_mib: int, **cost: int) -> tuple[int, int, int]:
    rt = _after_peak(peak_mib, 2, **cost)
    return rt.stats.cycles[-1].clk_markterm_ns, rt.gc.heap.nspan(), rt.now_ns()


def test_a_heap_that_grew_once_makes_every_later_cycle_walk_its_spans() -> None:
    with_walk, nspan, end_with = _forced_after_peak(200)
    without, nspan0, end_without = _forced_after_peak(200, cost_span_walk_ns=0)
    assert nspan == nspan0 >= 200 * MIB // PAGE_SIZE
    # A forced cycle is one stop-the-world: finishsweep_m, markroot's _RootSpans, gcSweep's count.
    walked = nspan - 12_000
    assert with_walk - without == 3 * walked * 8, (with_walk, without, nspan)
    # The second forced cycle found a heap of almost nothing and still paid for the peak.
    assert end_with - end_without == 2 * 3 * walked * 8


def test_a_small_heap_walks_from_the_cache() -> None:
    with_walk, nspan, end_with = _forced_after_peak(64)  # 8k spans: under span_walk_cached
    without, _, end_without = _forced_after_peak(64, cost_span_walk_ns=0)
    assert nspan < 12_000
    assert (with_walk, end_with) == (without, end_without)


def _grow(peak_mib: int, **cost: int) -> tuple[int, aiogc.Runtime]:
    rt = _after_peak(peak_mib, 0, **cost)
    return rt.now_ns(), rt


def test_fresh_memory_faults_once_per_page_and_allspans_grows_by_half() -> None:
    # sysmon off the table (preempt_ns beyond the run): a preemption every 10 ms would add a
    # switch per 10 ms of the longer runs and break the exact proportionality below.
    never = 10**15
    base, _ = _grow(100, cost_page_fault_ns=0, preempt_ns=never)
    t1, rt = _grow(100, cost_page_fault_ns=1000, preempt_ns=never)
    t2, _ = _grow(100, cost_page_fault_ns=2000, preempt_ns=never)
    assert t2 - base == 2 * (t1 - base)  # every charge is a whole number of faults
    faults = (t1 - base) // 1000
    heap_pages = rt.gc.heap.peak_live // 4096
    nspan = rt.gc.heap.nspan()
    caps = [8192]
    while caps[-1] < nspan:
        caps.append(caps[-1] * 3 // 2)
    assert rt.gc.allspans_cap == caps[-1]  # recordspan: 64 KiB of pointers, then 3/2 each time
    # The heap's pages, each faulted once (counted per refill, so up to one page short per refill);
    # the h_allspans arrays' pages have their own measured cost (cost_sysalloc_page_ns).
    assert heap_pages - 100 <= faults <= heap_pages, (faults, heap_pages)
    _, rt_a = _grow(100, cost_page_fault_ns=0, preempt_ns=never, cost_sysalloc_page_ns=0)
    t_a, _ = _grow(100, cost_page_fault_ns=0, preempt_ns=never, cost_sysalloc_page_ns=1000)
    # recordspan's copy into each new array, and its append, touch the array's first 8 * (len + 1)
    # bytes, where len is the old capacity; the first array is made before main runs.
    array_pages = sum(-(-(old + 1) * 8 // 4096) for old in caps[:-1])
    assert array_pages > 0
    assert t_a - rt_a.now_ns() == 1000 * array_pages


def test_memory_the_heap_held_before_does_not_fault_again() -> None:
    rt = aiogc.Runtime(gomaxprocs=1, gogc="off", seed=1, clock="virtual", godebug="", cost_page_fault_ns=1000)
    marks: list[int] = []

    async def main() -> None:
        held = [await aiogc.alloc(MIB) for _ in range(40)]
        del held
        await aiogc.gc()  # heap_live back to ~0; the 40 MiB stay mapped
        marks.append(aiogc.current_runtime().now_ns())
        held = [await aiogc.alloc(MIB) for _ in range(40)]
        marks.append(aiogc.current_runtime().now_ns())
        assert len(held) == 40

    rt.run(main())
    again = marks[1] - marks[0]
    rt0 = aiogc.Runtime(gomaxprocs=1, gogc="off", seed=1, clock="virtual", godebug="", cost_page_fault_ns=0)
    marks.clear()
    rt0.run(main())
    assert again == marks[1] - marks[0], "re-allocating below the peak paid page faults"


def _growth_stall(wb_on: bool, **cost: int) -> tuple[int, int]:
    """(stall, old capacity) of the h_allspans growth past 64 MiB of spans, with the write barrier on
    or off (a GC phase that has it on is entered by hand: only the flag matters to the copy)."""
    rt = aiogc.Runtime(gomaxprocs=1, gogc="off", seed=1, clock="virtual", godebug="", **cost)
    stalls: list[tuple[int, int]] = []
    gc = rt.gc
    orig = gc._grow_allspans

    def grow(p: object) -> None:
        t0, before = p.clock, gc.allspans_cap  # type: ignore[attr-defined]
        gc.heap.wb_enabled = wb_on
        orig(p)  # type: ignore[arg-type]
        gc.heap.wb_enabled = False
        stalls.append((p.clock - t0, before))  # type: ignore[attr-defined]

    gc._grow_allspans = grow  # type: ignore[method-assign]

    async def main() -> None:
        held = [await aiogc.alloc(MIB) for _ in range(70)]
        assert len(held) == 70

    rt.run(main())
    assert [b for _, b in stalls] == [0, 8192], stalls
    return stalls[1]


def test_growing_h_allspans_with_the_write_barrier_on_copies_element_by_element() -> None:
    """recordspan's copy() of the span list is typedslicecopy: one typedmemmove per element while
    the write barrier is on (config.py: cost_typedmemmove_ns), one memmove (left out) while off."""
    off, old = _growth_stall(False, cost_sysalloc_page_ns=1000, cost_typedmemmove_ns=6)
    pages = -(-(old + 1) * 8 // 4096)
    assert off == pages * 1000  # the new array's touched pages only
    on, _ = _growth_stall(True, cost_sysalloc_page_ns=1000, cost_typedmemmove_ns=6)
    assert on - off == old * 6
    on7, _ = _growth_stall(True, cost_sysalloc_page_ns=1000, cost_typedmemmove_ns=7)
    assert on7 - on == old


def test_an_h_allspans_growth_is_not_stretched_by_the_host_model() -> None:
    """The other Ps sleep on mheap_.lock while one grows the list, so it runs at a whole CPU's speed:
    a P on half a CPU's worth of time (host_cpus=0.5) has every other cost stretched, not this one."""
    base, _ = _growth_stall(True)
    shared, _ = _growth_stall(True, host_cpus=0.5)
    assert shared == base
