"""Mark throughput: aiogc's batched numpy drain vs a plain Python BFS over the same graph.

Builds a random heap graph of N objects (default 1,000,000): pointer slots per object uniform in
0..4 (mean 2, so ~20 % noscan objects), each slot nil with probability 0.3 and otherwise pointing
to a uniformly random object; 64 random roots.  That makes about half the heap reachable.

Both walks scan every reachable object once and look at each of its pointer slots (nil ones
included).  Rate = pointer slots scanned / second.  The Python BFS stores the graph as a list of
lists (nil = -1) and uses a deque plus a list of visited flags.  Prints both rates and the ratio.

Usage: python bench/bench_mark.py [N] [--seed S] [--repeat R]
"""

from __future__ import annotations

import argparse
import time
from collections import deque

import numpy as np

from aiogc.gc.heap import Heap
from aiogc.gc.mark import Marker


def build(n: int, seed: int) -> tuple[Heap, list[list[int]], list[int]]:
    rng = np.random.default_rng(seed)
    nptrs = rng.integers(0, 5, size=n)
    heap = Heap(initial_slots=n, initial_ptr_words=4 * n)
    alloc = heap.alloc
    for k in nptrs.tolist():
        alloc(max(16, 8 * k), k)
    # fill the pointer words directly (bench-only shortcut for n Ref writes)
    ids = np.arange(n)
    cnt = nptrs.astype(np.int64)
    total = int(cnt.sum())
    starts = np.cumsum(cnt) - cnt
    idx = np.repeat(heap.ptr_off[ids] - starts, cnt) + np.arange(total)
    vals = rng.integers(0, n, size=total)
    vals[rng.random(total) < 0.3] = -1
    heap.ptrs[idx] = vals
    # the same graph as Python lists
    flat = vals.tolist()
    adj: list[list[int]] = []
    pos = 0
    for k in nptrs.tolist():
        adj.append(flat[pos : pos + k])
        pos += k
    roots = rng.choice(n, size=64, replace=False).tolist()
    return heap, adj, roots


def python_bfs(adj: list[list[int]], roots: list[int]) -> tuple[int, int]:
    visited = [False] * len(adj)
    q: deque[int] = deque()
    for r in roots:
        if not visited[r]:
            visited[r] = True
            q.append(r)
    slots = 0
    nvis = len(q)
    while q:
        o = q.popleft()
        kids = adj[o]
        slots += len(kids)
        for c in kids:
            if c >= 0 and not visited[c]:
                visited[c] = True
                q.append(c)
                nvis += 1
    return nvis, slots


def aiogc_mark(heap: Heap, roots: list[int]) -> tuple[int, int]:
    heap.mark[:] = 0
    m = Marker(heap)
    m.reset()
    gcw = m.new_gcw()
    m.mark_roots(roots, gcw)
    work = m.drain(gcw, None)
    gcw.dispose()
    return int(heap.mark.sum()), work // 8


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    t = time.perf_counter()
    heap, adj, roots = build(a.n, a.seed)
    print(f"built {a.n:,} objects in {time.perf_counter() - t:.1f} s")

    best_py = best_np = float("inf")
    for _ in range(a.repeat):
        t = time.perf_counter()
        nv_py, slots_py = python_bfs(adj, roots)
        best_py = min(best_py, time.perf_counter() - t)
        t = time.perf_counter()
        nv_np, slots_np = aiogc_mark(heap, roots)
        best_np = min(best_np, time.perf_counter() - t)
    if (nv_py, slots_py) != (nv_np, slots_np):
        raise SystemExit(f"mismatch: python {nv_py} objects/{slots_py} slots, aiogc {nv_np}/{slots_np}")
    rate_py = slots_py / best_py
    rate_np = slots_np / best_np
    print(f"reachable: {nv_py:,} of {a.n:,} objects ({nv_py / a.n:.0%}), {slots_py:,} pointer slots scanned")
    print(f"python-bfs : {rate_py / 1e6:8.1f} M slots/s  ({best_py * 1e3:7.1f} ms)")
    print(f"aiogc drain: {rate_np / 1e6:8.1f} M slots/s  ({best_np * 1e3:7.1f} ms)")
    print(f"ratio      : {rate_np / rate_py:8.1f}x")


if __name__ == "__main__":
    main()
