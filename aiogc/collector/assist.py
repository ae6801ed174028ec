"""gcAssistAlloc: the mutator assist, an ``async def`` — and the seed's yield, ``await gosched()``.

Models mgcmark.go's ``gcAssistAlloc`` at the seed commit (500c88d4), with the
later policies selectable by ``Config.assist_policy``:

  1. ``g.gcalloc += size`` on every allocation during mark (done by mallocgc on
     the fast path; here on the slow path);
  2. debt = floor(assist_ratio x gcalloc) - gcscanwork, in scan-work units;
     nothing owed → return;
  3. steal background credit first (``bg_scan_credit``), as after b8526a83;
  4. do mark work on this P's gcw (``gcDrainN``), best effort, charged to the
     P's clock as assist time;
  5. if this assist observes the completion condition (nobody marking, no grey
     anywhere) it calls ``complete()`` — which readies the coordinator into
     *this* P's ``runnext`` — and then, **the seed's change**, when
     ``Config.yield_after_assist`` is true: ``await gosched()``, so this G goes
     to the global queue and ``schedule()`` runs the coordinator at once.
     Without it the coordinator waits in ``runnext`` until this G blocks, yields
     or is preempted (10-20 ms), or is kicked to the ring's tail when this G
     readies another goroutine;
  6. an unpaid debt: "seed" returns (no back-pressure: the seed's behaviour);
     "retry" sleeps 100 µs (``timeSleep``: a timer timerproc serves, which readies
     it) and retries until paid or the cycle ends (8f34b253, go1.5); "queue" parks
     on the assist queue until background credit pays it or the cycle ends (Go 1.6).

Departure: debt stays in Go 1.5's scan-work units for all three policies (Go 1.6
also switched to byte units and to assisting before allocating).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogc.sched.g import G
from aiogc.sched.p import P, current_p
from aiogc.sched.timers import time_sleep
from aiogc.sched.traps import gosched_trap as gosched
from aiogc.sched.traps import park_trap, tick_trap
from aiogc.trace.events import AssistEnd, AssistStart

if TYPE_CHECKING:
    from aiogc.collector.cycle import Collector

RETRY_SLEEP = 100e-6  # seconds: go1.5's timeSleep(100 µs)
ASSIST_CHUNK = 16 * 1024  # scan work per drain step (as the background workers' CHUNK)


async def gc_assist_alloc(col: Collector, p: P, g: G, size: int, allow: bool) -> None:
    """Models ``gcAssistAlloc`` (see the module docstring); awaited by ``mallocgc`` on its slow path.

    Departure: it is entered only from ``mallocgc``'s slow path, where go1.5 checks on every
    allocation during mark (the fast path adds to ``g.gcalloc`` itself).
    """
    sched = col.sched
    pacer = col.pacer
    marker = col.marker
    bus = col.bus
    cfg = col.config
    g.gcalloc += size
    if not allow:
        return
    policy = cfg.assist_policy
    while True:
        debt = int(pacer.assist_ratio * g.gcalloc) - g.gcscanwork
        if debt <= 0:
            return
        stolen = 0
        bg = pacer.bg_scan_credit
        if bg > 0:
            stolen = min(bg, debt)
            pacer.bg_scan_credit -= stolen
            debt -= stolen
            g.gcscanwork += stolen
            if debt == 0:
                return
        if not sched.gc_blacken_enabled:
            return
        clock = col.clock
        start = clock.now(p)
        if bus.on:
            bus.emit(AssistStart(col.now(p), p.id, g.id, debt))
        # Marking: this assist counts as an active marker (Go: nwait -= 1) for the whole
        # virtual interval its work takes, and cannot be preempted (Go runs it on the
        # system stack), so other Ps that catch up meanwhile see it marking.
        col.nactive += 1
        g.locks += 1
        # gcDrainN in chunks, each charged to this P's clock before the next, so a long assist
        # interleaves with the other Ps in virtual time like any other marker.
        work = 0
        while work < debt:
            left = debt - work
            w = marker.drain(p.gcw, left if left < ASSIST_CHUNK else ASSIST_CHUNK)
            if not w:
                break
            work += w
            clock.charge(p, (w >> 3) * col.c_word, "t_assist")
            await tick_trap()
            p = current_p()
        g.gcscanwork += work
        debt -= work
        if col.blacken_promptly:
            p.gcw.dispose()
        g.locks -= 1
        col.nactive -= 1
        # The seed records `completed` whenever this assist saw the condition,
        # even if another marker's complete() got there first.
        completed = col.gc_mark_done(p, "assist")
        dur = clock.now(p) - start
        pacer.assist_time_ns += dur
        if bus.on:
            bus.emit(AssistEnd(col.now(p), p.id, g.id, work, stolen, completed))
        if completed and cfg.yield_after_assist:
            # The seed's change (500c88d4): complete() readied the coordinator into this P's
            # runnext; Gosched() so that it runs now instead of after this goroutine's slice.
            await gosched()
            p = current_p()
        if debt <= 0 or policy == "seed" or not sched.gc_blacken_enabled:
            return
        if policy == "retry":
            # 8f34b253: timeSleep(100 * 1000), a timer that timerproc serves: the assist is readied
            # into the runnext of the P that runs timerproc (and a timerproc stranded in a ring
            # strands the sleeping assist too).
            await time_sleep(p, RETRY_SLEEP, "assist retry sleep")
            p = current_p()
            continue
        # "queue": park until background credit pays the rest or the cycle ends.
        col.assist_queue.append([g, debt])
        g.waitreason = "GC assist wait"
        await park_trap()
        return
