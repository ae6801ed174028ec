"""Mark throughput alone: aiogc's batched numpy drain vs a plain Python BFS over the same graph.

A standalone front end to the ``mark`` benchmark of ``python -m aiogc bench`` (the graph, both walks
and their accounting live in ``aiogc/bench/suite.py``: ``build_graph``, ``python_bfs``,
``aiogc_mark``).  Prints both rates (pointer slots scanned per second) and the ratio.

Usage: python bench/bench_mark.py [N] [--seed S] [--repeat R]
"""

from __future__ import annotations

import argparse
import time

from aiogc.bench.suite import aiogc_mark, build_graph, python_bfs


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    heap, adj, roots = build_graph(a.n, a.seed)
    best_py = best_ai = float("inf")
    for _ in range(a.repeat):
        t = time.perf_counter()
        reached_py, slots_py = python_bfs(adj, roots)
        best_py = min(best_py, time.perf_counter() - t)
        t = time.perf_counter()
        reached_ai, slots_ai = aiogc_mark(heap, roots)
        best_ai = min(best_ai, time.perf_counter() - t)
    assert (reached_py, slots_py) == (reached_ai, slots_ai), "the two walks disagree"
    print(f"{a.n:,} objects, {reached_py:,} reachable, {slots_py:,} pointer slots scanned")
    print(f"python-bfs   {slots_py / best_py / 1e6:6.1f} M slots/s  ({best_py * 1e3:.1f} ms)")
    print(f"aiogc drain  {slots_ai / best_ai / 1e6:6.1f} M slots/s  ({best_ai * 1e3:.1f} ms)")
    print(f"ratio        {best_py / best_ai:6.1f}x")


if __name__ == "__main__":
    main()
