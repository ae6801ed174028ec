"""procresize: changing GOMAXPROCS while the program runs (Go's ``runtime.GOMAXPROCS(n)``).

Models proc1.go's ``procresize`` as called from ``startTheWorld`` after ``GOMAXPROCS``
stopped the world (go-runtime-model.md §1.10).  With the world stopped — every other P
at a step boundary with no goroutine in hand (stop-the-world preempted them onto the
global queue) — the Ps are resized:

  * growing: new Ps are created idle, with their own grey cache and mcache, at the
    requester's clock; ``wakep`` starts one if there is queued work;
  * shrinking: for each removed P, in id order, its ring is moved to the *head* of the
    global queue popping from the ring's tail (so the order is preserved), then its
    ``runnext`` to the head; its parked background mark worker exits; the P is dead.
    The requester keeps its P if that P survives; otherwise its goroutine goes to the
    global queue when the world restarts and its P stops (Go moves the caller to P0).

Invariant: resizing never happens during a GC cycle (the caller holds worldsema, the
collector's cycle lock, as Go's ``GOMAXPROCS`` does), so no P has grey work, no worker
is marking and no pacer token is out.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from aiogc.config import MAX_GOMAXPROCS
from aiogc.errors import Throw
from aiogc.sched.p import P_DEAD, P_IDLE, P

if TYPE_CHECKING:
    from aiogc.sched.sched import Sched


def procresize(sched: Sched, requester: P, n: int) -> int:
    """Resize ``sched.allp`` to ``n`` Ps with the world stopped; returns the old count."""
    if not 1 <= n <= MAX_GOMAXPROCS:
        raise Throw(f"procresize: invalid arg {n}")
    if not sched.gcwaiting or sched.stw_p is not requester:
        raise Throw("procresize: world not stopped by the caller")
    old = sched.gomaxprocs
    if n == old:
        return old
    gc = sched.gc
    if n > old:
        for i in range(old, n):
            p = P(i, sched)
            p.clock = requester.clock
            p.idle_since = requester.clock
            p.status = P_IDLE
            if gc is not None:
                gc.init_p(p)
            sched.allp.append(p)
            sched.pidle.append(p)
        # pidle is a stack: keep the lowest id on top, as at start.
        sched.pidle.sort(key=lambda q: -q.id)
    else:
        gq = sched.gq
        for p in sched.allp[n:]:
            if p is not requester and p.curg is not None:
                raise Throw(f"procresize: P{p.id} still runs G{p.curg.id} with the world stopped")
            while p.runq:
                gq.appendleft(p.runq.pop())
            if p.runnext is not None:
                gq.appendleft(p.runnext)
                p.runnext = None
            if gc is not None:
                gc.destroy_p(p)
            if p.ready_cbs:  # callbacks already queued on it move to P0 (call_soon forwards later ones)
                p0 = sched.allp[0]
                p0.ready_cbs = deque(sorted([*p0.ready_cbs, *p.ready_cbs], key=lambda c: c[0]))  # stamp order
                p.ready_cbs.clear()
            if p in sched.pidle:
                sched.pidle.remove(p)
            if p.spinning:
                p.spinning = False
                sched.nmspinning -= 1
            p.status = P_DEAD
        del sched.allp[n:]
    sched.gomaxprocs = n
    if gc is not None:
        gc.procresize(n)
    return old

