"""The seed workload as a program for ``python -m aiogc run demos/seed_overshoot.py``.

Runs the seed scenario (producers allocating over a steady live heap, consumers
readied over channels) for a few GC cycles and prints one line per cycle:
who completed the last mark phase, how long the coordinator took to run after
it, and how far the heap overshot its goal.  ``run`` takes the runtime's flags
and GODEBUG (e.g. ``GODEBUG=gctrace=1``); the fix is on here (the default), so
compare with ``aiogc demo --no-yield`` to see the bug.
"""

from __future__ import annotations

import aiogc
from aiogc.experiments.workloads import SeedWorkload, seed_main

CYCLES = 6


async def main() -> None:
    rt = aiogc.current_runtime()
    cfg = rt.config
    print(f"seed workload: GOMAXPROCS={cfg.gomaxprocs} GOGC={cfg.gogc} seed={cfg.seed} "
          f"yield_after_assist={cfg.yield_after_assist}")
    await seed_main(SeedWorkload(), cycles=CYCLES)
    print(f"{'gc':>3} {'completed by':>12} {'coord latency':>14} {'goal':>10} {'heap@term':>10} "
          f"{'overshoot':>10} {'alloc after':>12}")
    for c in rt.stats.cycles:
        print(f"{c.n:>3} {c.completed_by:>12} {c.coordinator_latency_ns / 1e3:>11.1f} µs "
              f"{c.heap_goal / (1 << 20):>7.1f} MB {c.heap_at_mark_term / (1 << 20):>7.1f} MB "
              f"{c.overshoot * 100:>+9.1f}% {c.alloc_after_complete / (1 << 20):>9.2f} MB")
