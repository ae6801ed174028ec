"""Per-cycle GC measurements (``runtime.stats.cycles``) and their aggregation.

``CycleStats`` is filled by the collector at the end of every cycle, from the
timestamps and counters Go 1.5 itself keeps for gctrace and memstats (its
``work`` record and ``gcController``); it is then published on the event bus
(``GCDone``) for whoever watches.  Everything here only reads those records.

Definitions (times in runtime ns — virtual or wall — sizes in bytes):
  overshoot              (heap_at_mark_term - heap_goal) / heap_goal
  coordinator_latency_ns the longest, over the cycle's mark phases, of the time
                         from the phase's first effective ``complete()`` to the
                         coordinator goroutine running again
  completed_by           "assist", "worker" or "forced": who completed the last
                         mark phase (the scheduler's own completion check, go1.5's
                         ``findRunnableGCWorker`` path, counts as "worker")
  alloc_after_complete   bytes allocated between that completion and mark termination
  gc_cpu_fraction        (assist + dedicated + fractional mark time) over
                         (concurrent mark duration x GOMAXPROCS): the pacer's u_a,
                         measured rather than assumed (idle marking is free, as in Go)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class CycleStats:
    n: int
    start_ns: int
    end_ns: int
    heap_trigger: int
    heap_goal: int
    heap_at_mark_term: int
    heap_live_after: int
    overshoot: float
    coordinator_latency_ns: int
    completed_by: str
    alloc_after_complete: int
    assist_ns: int
    bg_mark_ns: int
    idle_mark_ns: int
    stw_ns: int
    gc_cpu_fraction: float
    mark_duration_ns: int
    heap_start: int = 0
    trigger_ratio: float = 0.0
    forced: bool = False
    mark2: bool = False
    gomaxprocs: int = 1
    scan_work: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FIELDS = [f.name for f in dataclasses.fields(CycleStats)]


@dataclass
class MemStats:
    """``runtime.ReadMemStats`` subset.  ``next_gc`` is the trigger, as in Go 1.5."""

    heap_alloc: int
    heap_live: int
    heap_marked: int
    heap_goal: int
    next_gc: int
    num_gc: int
    pause_total_ns: int
    gc_cpu_fraction: float
    heap_objects: int
    total_alloc: int
    mallocs: int
    frees: int
    last_gc_ns: int


class GCStats:
    """What the collector publishes: the finished cycles and totals."""

    def __init__(self) -> None:
        self.cycles: list[CycleStats] = []
        self.pause_total_ns = 0
        self.gc_cpu_ns = 0  # Go's work.totaltime: GC CPU excluding idle marking


def percentile(sorted_vals: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence (q in [0, 100])."""
    if not sorted_vals:
        return math.nan
    k = max(0, min(len(sorted_vals) - 1, math.ceil(q / 100 * len(sorted_vals)) - 1))
    return float(sorted_vals[k])


def summarize(values: Iterable[float]) -> dict[str, float]:
    """mean, p50, p99, max of a sample (NaN for an empty one)."""
    vals = sorted(float(v) for v in values)
    if not vals:
        return {"mean": math.nan, "p50": math.nan, "p99": math.nan, "max": math.nan}
    return {
        "mean": sum(vals) / len(vals),
        "p50": percentile(vals, 50),
        "p99": percentile(vals, 99),
        "max": vals[-1],
    }


def heap_goal_now(gc: Any) -> int:
    """The goal now, read from the collector: the running cycle's, or between cycles the one the
    next cycle will aim at (as ``read_mem_stats`` reports it; before the first cycle too, so it is
    never 0).  Shared by the live view and the Perfetto counters."""
    return int(gc.pacer.heap_goal if gc.phase != "off" else gc.next_heap_goal())
