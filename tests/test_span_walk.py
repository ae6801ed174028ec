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


def _forced_after_peak(peak_mib: int, **cost: int) -> tuple[int, int, int]:
    """Grow the heap to ``peak_mib`` (GOGC off: no background cycle), drop it, force two cycles."""
    rt = aiogc.Runtime(gomaxprocs=1, gogc="off", seed=1, clock="virtual", godebug="", **cost)

    async def main() -> None:
        held = [await aiogc.alloc(MIB) for _ in range(peak_mib)]
        del held
        await aiogc.gc()
        await aiogc.gc()

    rt.run(main())
    last = rt.stats.cycles[-1]
    return last.clk_markterm_ns, rt.gc.heap.nspan(), rt.now_ns()


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
