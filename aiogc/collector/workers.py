"""Background mark workers: one system goroutine per P, run by the scheduler, never queued.

Models mgc.go's ``gcBgMarkStartWorkers``, ``gcBgMarkWorker`` and
``gcControllerState.findRunnableGCWorker`` plus proc1.go's idle-worker step, at
``Config.go_commit`` (see ``find_runnable_gc_worker``).  Each run of a worker is an
``execute`` with a new time slice (``schedtick++``): a fractional worker started on
every ``schedule()`` of a P resets sysmon's view of that P's slice, so sysmon does not
preempt the goroutines that share the P with it (docs/realgo.md).

A worker is parked ("mark worker (idle)") except while the scheduler runs it:
``schedule()`` asks ``find_runnable_gc_worker(p)`` *before* ``runnext`` whenever
blackening is enabled, and ``findrunnable`` asks ``find_idle_gc_worker(p)``
before idling the P.  Modes:

  dedicated   taken while ``dedicated_needed`` tokens remain (floor(GOMAXPROCS/4));
              drains until the phase completes (Go's ``gcDrain`` with the ``getfull``
              barrier: with no work but other markers active it spins in 100 µs
              sleeps, holding its P); ignores preemption.
  fractional  the single token when the fractional goal is > 0 and the fractional
              time so far is under goal x elapsed; drains until sysmon asks it to
              stop (``g.preempt``) or no work can be had.
  idle        a P with nothing else to run; same stopping rule as fractional.

Each worker adds its scan work to ``bg_scan_credit`` in chunks of at least
``gcBgCreditSlack`` (2000) units, and on stopping checks the completion
condition; if it holds it calls ``complete()`` and parks — parking hands the P
straight to ``schedule()``, which finds the coordinator in ``runnext``: why
workers never needed the seed's yield.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogc.collector.pacer import GC_BG_CREDIT_SLACK
from aiogc.sched.g import RUNNABLE, WAITING, G
from aiogc.sched.p import P, current_p
from aiogc.sched.traps import park_trap, safepoint_trap
from aiogc.trace.events import WorkerEnd, WorkerStart

if TYPE_CHECKING:
    from aiogc.collector.cycle import Collector

DEDICATED = "dedicated"
FRACTIONAL = "fractional"
IDLE = "idle"

CHUNK = 16 * 1024  # scan work per step between safe points (~4 µs of virtual time at 2 ns/word)
GETFULL_SLEEP_NS = 10_000  # getfull: procyield/osyield spins before its usleep(100)


def ensure_workers(col: Collector) -> None:
    """Models ``gcBgMarkStartWorkers``: a parked worker G for every P that has none."""
    sched = col.sched
    for p in sched.allp:
        if p.mark_worker is None:
            sched.goidgen += 1
            g = G(sched.goidgen, _worker(col, p), system=True, label=f"GC worker P{p.id}")
            g.status = WAITING
            g.waitreason = "mark worker (idle)"
            g._loop = p
            sched.allgs[g.id] = g
            p.mark_worker = g


def _take(col: Collector, p: P, mode: str) -> G | None:
    g = p.mark_worker
    if g is None or g.status != WAITING:
        return None
    col.worker_mode[p.id] = mode
    g.status = RUNNABLE
    g.ready_ns = p.clock
    return g


def find_runnable_gc_worker(col: Collector, p: P) -> G | None:
    """Models ``findRunnableGCWorker`` at ``Config.go_commit``.

    Go's test is the same at every point of the series: no worker once *both* mark signals
    are done.  What differs is when they are done: at the seed both are cleared when the
    mark phase starts, so between mark 1's completion and the coordinator starting mark 2
    the scheduler keeps starting workers (a dedicated one returns at once; a fractional
    one drains whatever this P's write barriers cached); with ``no_worker_after_complete``
    (64a32ffe) both start done and each is cleared just before its wait.
    ``sched_complete`` (64a32ffe): finding no work and no marker, the scheduler signals
    completion itself.
    """
    if col.bg_mark1.done and col.bg_mark2.done:
        return None  # background mark is done (or, from 64a32ffe, not begun)
    g = p.mark_worker
    if g is None or g.status != WAITING:
        return None
    pacer = col.pacer
    if pacer.dedicated_needed > 0:
        pacer.dedicated_needed -= 1
        return _take(col, p, DEDICATED)
    if not col.marker.work_available(p.gcw):
        if col.config.sched_complete:
            # 64a32ffe: no work and no markers — nobody else may be left to notice completion.
            col.gc_mark_done(p, "sched")
        return None
    if pacer.fractional_needed <= 0:
        return None
    now = col.clock.now(p) - pacer.bg_mark_start_ns
    if now > 0 and pacer.fractional_mark_time_ns / now > pacer.fractional_goal:
        return None
    pacer.fractional_needed -= 1
    return _take(col, p, FRACTIONAL)


def find_idle_gc_worker(col: Collector, p: P) -> G | None:
    """Models findrunnable's idle-GC-work step: run this P's worker in idle mode if work exists.

    Go checks only ``gcBlackenEnabled`` (the caller's test) and ``gcMarkWorkAvailable`` here, at
    every point of the series, not the mark signals: a P with nothing else to run drains whatever
    grey work there is, even after the current phase's ``complete()`` (its worker then finds the
    phase done, or completes it again, which ``gc_mark_done`` ignores), so the model does the same.
    """
    if not col.marker.work_available(p.gcw):
        return None
    return _take(col, p, IDLE)


async def _worker(col: Collector, p0: P) -> None:
    """Models ``gcBgMarkWorker``'s loop; each iteration is one scheduling of the worker."""
    sched = col.sched
    marker = col.marker
    pacer = col.pacer
    bus = col.bus
    clock = col.clock
    while True:
        p = current_p()
        g = p.curg
        assert g is not None
        mode = col.worker_mode.get(p.id, IDLE)
        start = clock.now(p)
        col.nactive += 1
        if bus.on:
            bus.emit(WorkerStart(col.now(p), p.id, g.id, mode))
        total = 0
        credit = 0
        while sched.gc_blacken_enabled:
            work = marker.drain(p.gcw, CHUNK)
            if work:
                total += work
                credit += work
                clock.charge(p, (work >> 3) * col.c_word, "t_bgmark")  # read each time: the host may rescale
                if credit >= GC_BG_CREDIT_SLACK:
                    col.flush_bg_credit(credit)
                    credit = 0
                await safepoint_trap()
                p = current_p()
                if mode != DEDICATED and g.preempt:
                    break
                continue
            # No work could be had without blocking.
            if mode != DEDICATED:
                break
            if col.nactive == 1 and marker.global_empty():
                break  # we are the last marker: the getfull barrier releases us
            # getfull: others are still marking; wait for work or for them to finish.
            col.nactive -= 1
            clock.charge(p, GETFULL_SLEEP_NS, "t_bgmark")
            await safepoint_trap()
            p = current_p()
            col.nactive += 1
            if col.bg_mark2.done or (col.bg_mark1.done and not col.blacken_promptly):
                break
        if credit:
            col.flush_bg_credit(credit)
        if col.blacken_promptly:
            p.gcw.dispose()
        col.nactive -= 1
        g.preempt = False
        if sched.gc_blacken_enabled:
            col.gc_mark_done(p, "worker")
        dur = clock.now(p) - start
        if mode == DEDICATED:
            pacer.dedicated_mark_time_ns += dur
            pacer.dedicated_needed += 1
        elif mode == FRACTIONAL:
            pacer.fractional_mark_time_ns += dur
            pacer.fractional_needed += 1
        else:
            pacer.idle_mark_time_ns += dur
        if bus.on:
            bus.emit(WorkerEnd(col.now(p), p.id, g.id, mode, total))
        g.waitreason = "mark worker (idle)"
        await park_trap()
