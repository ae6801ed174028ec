"""The coordinator's per-cycle record: Go's ``work`` struct, the part one cycle fills in.

Go 1.5 keeps a cycle's timestamps and heap sizes in the global ``work`` (mgc.go:
``tSweepTerm``, ``tScan``, ``tInstallWB``, ``tMark``, ``tMarkTerm``, ``tEnd``, ``heap0``,
``heap1``, ``heap2``) and in locals of ``gc(mode)``.  aiogc's coordinator fills one
``CycleWork`` per cycle and hands it, finished, to ``CycleStats`` and to the ``GCDone``
event (gctrace formats it, ``aiogc.trace.gctrace``).  Invariant: after ``GCDone`` nobody
writes to it.

Times are in runtime ns (virtual or wall), sizes in bytes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class CycleWork:
    forced: bool
    t_sweepterm: int  # work.tSweepTerm: the cycle began (before stopping the world)
    heap0: int  # work.heap0: heap_live at sweep termination
    trigger: int  # the trigger the cycle crossed (memstats.next_gc then)
    goal: int = 0  # the heap goal of this cycle (heap_live for a forced cycle)
    trigger_ratio: float = 0.0  # the ratio the cycle was triggered with
    t_scan: int = 0  # work.tScan: world restarted, root scan begins
    t_installwb: int = 0  # work.tInstallWB: root scan done
    t_mark: int = 0  # work.tMark: blackening enabled
    t_markterm: int = 0  # work.tMarkTerm: mark termination begins
    t_end: int = 0  # work.tEnd: the world restarts after mark termination
    heap1: int = 0  # work.heap1: heap_live at mark termination
    heap2: int = 0  # work.heap2: the marked (live) heap after the cycle
    stw_ns: int = 0  # time with the world stopped, both pauses
    mark2: bool = False  # grey work remained after mark 1: mark 2 ran
