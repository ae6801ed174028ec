"""Read-only snapshots of the scheduler and the collector, for the live view.

Everything here reads model state and returns frozen records; nothing writes.  The
view renders from these records and from the events it subscribed to, so what it
shows is what the model holds at the moment of the frame (data flows one way).

The two questions the seed change is about are answered here:
  * where is the GC coordinator goroutine? (``locate_coordinator``: running on a P, in
    a P's ``runnext``, at position k of a P's run queue or of the global queue, or
    parked and why);
  * is a mark phase complete while the coordinator has not run yet?
    (``pending_completion``: which phase, who completed it, when, on which P, and the
    bytes allocated since — from the phase's ``bgMarkSignal`` record).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiogc.sched.g import RUNNABLE, RUNNING, STATUS_NAMES, WAITING
from aiogc.sched.p import P_DEAD, P_GCSTOP, P_IDLE, P_RUNNING
from aiogc.trace.metrics import heap_goal_now

__all__ = ["heap_goal_now", "locate_coordinator", "pending_completion", "snapshot_gc", "snapshot_sched"]

_P_STATUS = {P_IDLE: "idle", P_RUNNING: "running", P_GCSTOP: "gcstop", P_DEAD: "dead"}
COORDINATOR_LABEL = "GC coordinator"


def gname(g: Any) -> str:
    """``G17 GC coordinator``, ``G3 producer1`` or ``G5``; "" for no goroutine."""
    if g is None:
        return ""
    return f"G{g.id} {g.label}" if g.label else f"G{g.id}"


@dataclass(frozen=True)
class PSnap:
    id: int
    status: str  # "idle", "running" (a goroutine runs), "sched" (running, between goroutines), "gcstop"
    curg: str  # "G<id> <label>", "" when none
    runnext: str
    runq: int
    spinning: bool
    clock: int
    t_mutator: int
    t_assist: int
    t_bgmark: int
    t_idle: int
    coord_here: str  # "running", "runnext", "runq 2/5" or "" (the coordinator's place on this P)


@dataclass(frozen=True)
class CoordSnap:
    """Where the GC coordinator goroutine is (Go: the ``backgroundgc`` goroutine)."""

    name: str  # "G17 GC coordinator", or "GC coordinator" before it exists
    state: str  # "running", "runnext", "runq", "global", "parked", "not started", "dead", "runnable"
    p: int = -1  # the P it runs on or is queued on
    pos: int = 0  # 1-based position in a run queue (runq or global)
    qlen: int = 0  # that queue's length
    waitreason: str = ""

    def where(self) -> str:
        """Its place in words: "running on P2", "in P1's runnext", "in P1's run queue (3rd of 5)"..."""
        if self.state == "running":
            return f"running on P{self.p}"
        if self.state == "runnext":
            return f"in P{self.p}'s runnext"
        if self.state == "runq":
            return f"in P{self.p}'s run queue ({_ordinal(self.pos)} of {self.qlen})"
        if self.state == "global":
            return f"in the global run queue ({_ordinal(self.pos)} of {self.qlen})"
        if self.state == "parked":
            return f"parked ({self.waitreason})" if self.waitreason else "parked"
        return self.state


def _ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


@dataclass(frozen=True)
class SchedSnap:
    now_ns: int
    ps: tuple[PSnap, ...]
    global_runq: int
    ngoroutines: int
    coord: CoordSnap


def locate_coordinator(rt: Any) -> CoordSnap:
    """Find the coordinator goroutine in the scheduler's structures (read-only)."""
    gc = getattr(rt, "gc", None)
    g = getattr(gc, "coord_g", None) if gc is not None else None
    if g is None:
        return CoordSnap(COORDINATOR_LABEL, "not started")
    name = gname(g)
    sched = rt.sched
    if g.status == RUNNING:
        for p in sched.allp:
            if p.curg is g:
                return CoordSnap(name, "running", p.id)
        return CoordSnap(name, "running")
    if g.status == RUNNABLE:
        for p in sched.allp:
            if p.runnext is g:
                return CoordSnap(name, "runnext", p.id)
            if g in p.runq:
                q = list(p.runq)
                return CoordSnap(name, "runq", p.id, q.index(g) + 1, len(q))
        gq = list(sched.gq)
        if g in gq:
            return CoordSnap(name, "global", -1, gq.index(g) + 1, len(gq))
        return CoordSnap(name, "runnable")  # between queues (being stolen)
    if g.status == WAITING:
        return CoordSnap(name, "parked", waitreason=str(g.waitreason or ""))
    return CoordSnap(name, STATUS_NAMES.get(g.status, str(g.status)))


def snapshot_sched(rt: Any) -> SchedSnap:
    """A read-only snapshot of every P (curg, runnext, run-queue length, time accounting)."""
    sched = rt.sched
    now = int(rt.now_ns())
    coord = locate_coordinator(rt)
    ps = []
    for p in sched.allp:
        idle = p.t_idle
        if p.status == P_IDLE and p.idle_since:
            idle += max(0, now - p.idle_since)
        status = _P_STATUS.get(p.status, str(p.status))
        if status == "running" and p.curg is None:
            status = "sched"  # in the scheduler (findrunnable), no goroutine: never "running"
        here = ""
        if coord.p == p.id:
            here = {"running": "running", "runnext": "runnext"}.get(coord.state, "")
            if coord.state == "runq":
                here = f"runq {coord.pos}/{coord.qlen}"
        ps.append(PSnap(
            id=p.id, status=status, curg=gname(p.curg),
            runnext=gname(p.runnext), runq=len(p.runq), spinning=bool(p.spinning),
            clock=max(p.clock, now) if p.status == P_IDLE else p.clock,
            t_mutator=p.t_mutator, t_assist=p.t_assist, t_bgmark=p.t_bgmark, t_idle=idle, coord_here=here,
        ))
    return SchedSnap(now_ns=now, ps=tuple(ps), global_runq=len(sched.gq), ngoroutines=len(sched.allgs),
                     coord=coord)


@dataclass(frozen=True)
class PendingSnap:
    """A mark phase that is complete while the coordinator has not run since (Go: ``bgMarkSignal``
    done, the coordinator readied but not yet running)."""

    phase: int  # 1 or 2
    who: str  # "assist" | "worker" | "sched"
    p: int  # the P that called complete() (where the coordinator was readied)
    since_ns: int  # when complete() took effect
    alloc_since: int  # bytes allocated since then


@dataclass(frozen=True)
class GCSnap:
    phase: str  # the collector's gcphase: off, sweepterm, scan, mark, marktermination
    mark: int  # 1 or 2 while phase == "mark" (2 once blacken_promptly), else 0
    heap_live: int
    trigger: int
    goal: int
    scan_done: int  # scan work done this cycle (flushed + cached in the Ps' gcWork), bytes
    scan_grey: int  # scan work of the grey objects queued now (global lists + per-P caches), bytes
    expected_scan: int  # the pacer's estimate of the cycle's scan work (heap_scan)
    assist_ratio: float
    numgc: int
    total_alloc: int
    pending: PendingSnap | None

    @property
    def scan_known(self) -> int:
        """Work known: done plus what the grey objects queued now will cost."""
        return self.scan_done + self.scan_grey

    def phase_label(self) -> str:
        """mark 1 / mark 2 / "mark N complete, awaiting coordinator" / mark termination / off..."""
        if self.pending is not None:
            return f"mark {self.pending.phase} complete, awaiting coordinator"
        return {
            "off": "off",
            "sweepterm": "sweep termination (STW)",
            "scan": "root scan",
            "mark": f"mark {self.mark or 1}",
            "marktermination": "mark termination (STW)",
        }.get(self.phase, self.phase)


def pending_completion(gc: Any) -> PendingSnap | None:
    """The phase completed whose coordinator has not run yet, if any (read from ``bg_mark1/2``)."""
    for sig in (gc.bg_mark2, gc.bg_mark1):
        if sig.done and sig.complete_ns >= 0 and sig.latency_ns < 0:
            return PendingSnap(phase=int(sig.name), who=str(sig.who), p=int(sig.complete_p),
                               since_ns=int(sig.complete_ns),
                               alloc_since=max(0, int(gc.heap.total_alloc) - int(sig.alloc_at)))
    return None


def _grey_scan_work(gc: Any, rt: Any) -> int:
    bufs: list[list[int]] = list(gc.marker.full) + list(gc.marker.partial)
    bufs += [p.gcw.wbuf for p in rt.sched.allp if p.gcw is not None and p.gcw.wbuf]
    n = sum(len(b) for b in bufs)
    if not n:
        return 0
    import numpy as np

    ids = np.fromiter((i for b in bufs for i in b), dtype=np.int64, count=n)
    return int(gc.heap.nptrs[ids].sum()) * 8


def snapshot_gc(rt: Any) -> GCSnap | None:
    """A read-only snapshot of the collector (phase, heap, pacer, scan work done and known)."""
    gc = rt.gc
    if gc is None:
        return None
    pacer = gc.pacer
    cached = sum(getattr(p.gcw, "scan_work", 0) or 0 for p in rt.sched.allp if p.gcw is not None)
    marking = gc.phase in ("scan", "mark", "marktermination")
    return GCSnap(
        phase=str(gc.phase), mark=(2 if gc.blacken_promptly else 1) if gc.phase == "mark" else 0,
        heap_live=int(gc.heap.heap_live), trigger=int(pacer.next_gc), goal=heap_goal_now(gc),
        scan_done=int(gc.marker.scan_work) + int(cached),
        scan_grey=_grey_scan_work(gc, rt) if marking else 0,
        expected_scan=int(pacer.heap_scan), assist_ratio=float(pacer.assist_ratio), numgc=int(gc.numgc),
        total_alloc=int(gc.heap.total_alloc),
        pending=pending_completion(gc) if gc.phase == "mark" else None,
    )
