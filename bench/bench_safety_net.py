"""What the GC's live-handle table costs (issue 9): Ref creation, a pointer read, an allocation,
and a forced cycle over 100,000 held objects.  Wall time, best of several repetitions.

    python bench/bench_safety_net.py            # this checkout
    PYTHONPATH=OTHER_CHECKOUT python bench/bench_safety_net.py   # another commit, for before/after

Every Ref counts itself in ``Heap.handles`` (``Ref.__init__``/``__del__``); mark termination greys
the table's unmarked slots in one numpy pass.  See docs/performance.md for a recorded run.
"""

from __future__ import annotations

import time
import timeit

import aiogc
from aiogc.collector.heap import Heap, Ref

N_ALLOC = 100_000
N_HELD = 100_000


def ref_cost_ns() -> tuple[float, float]:
    h = Heap()
    oid = h.alloc(64, 1)
    r = h.ref_of(oid)
    r[0] = r
    create = min(timeit.repeat(lambda: Ref(h, oid, 0), number=200_000, repeat=5)) / 200_000 * 1e9
    read = min(timeit.repeat(lambda: r[0], number=200_000, repeat=5)) / 200_000 * 1e9
    return create, read


async def _allocs() -> float:
    t0 = time.perf_counter()
    for _ in range(N_ALLOC):
        await aiogc.alloc(64, 1)
    return (time.perf_counter() - t0) / N_ALLOC * 1e9


async def _cycle() -> float:
    keep = []  # an explicit loop: a comprehension's list was not a root before the table
    for _ in range(N_HELD):
        keep.append(await aiogc.alloc(64, 1))
    for i in range(1, len(keep)):
        keep[i][0] = keep[i - 1]
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        await aiogc.gc()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def main() -> None:
    create, read = ref_cost_ns()
    alloc = min(aiogc.run(_allocs(), gomaxprocs=1, seed=0) for _ in range(3))
    cycle = aiogc.run(_cycle(), gomaxprocs=1, seed=0)
    print(f"Ref() create+drop {create:.0f} ns; ref[0] read {read:.0f} ns; "
          f"await alloc(64, 1) {alloc:.0f} ns; forced gc over {N_HELD:,} held objects {cycle:.1f} ms")


if __name__ == "__main__":
    main()
