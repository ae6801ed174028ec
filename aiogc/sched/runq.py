"""Run-queue operations: Go's runqput/runqputslow/runqget/runqgrab/runqsteal/globrunqget.

Pure policy over plain data, kept apart from the scheduler so every case can be
unit-tested exhaustively (as Go's ``testSchedLocalQueue`` / ``...Steal`` do).

The per-P queue is ``runnext`` (one slot, run before the ring and inheriting the
current time slice) plus a FIFO ring of at most ``RUNQ_SIZE`` (256) Gs.  Go's ring
is a lock-free array with free-running head/tail counters; here it is a
``collections.deque`` whose length is kept <= 256 by ``runqput``: the observable
behaviour (capacity, FIFO order, half-overflow to the global queue, half-steal)
is the same, and we are single-threaded so no CAS retry is needed.

Invariants (checked by ``check_runq``):
  * ``len(ring) <= RUNQ_SIZE``;
  * ``runnext`` is not also in the ring;
  * every queued G has status RUNNABLE.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Protocol

from aiogc.errors import Throw

RUNQ_SIZE = 256  # len(p.runq) in Go 1.5 (runtime2.go)
GLOBRUNQ_BATCH_MAX = RUNQ_SIZE // 2  # globrunqget takes at most half a local ring


class RunQ(Protocol):
    runnext: Any
    runq: deque[Any]


def runqput(p: RunQ, gq: deque[Any], g: Any, next: bool) -> None:
    """Models ``runqput``: put ``g`` on P's queue; ``next`` puts it in ``runnext``.

    With ``next``, the previous ``runnext`` G (if any) is kicked to the ring tail.
    A full ring moves its older half plus ``g`` to the global queue ``gq``
    (``runqputslow``).
    """
    if next:
        old = p.runnext
        p.runnext = g
        if old is None:
            return
        g = old
    ring = p.runq
    if len(ring) < RUNQ_SIZE:
        ring.append(g)
        return
    runqputslow(p, gq, g)


def runqputslow(p: RunQ, gq: deque[Any], g: Any) -> None:
    """Models ``runqputslow``: move the first half of a full ring and ``g`` to the global queue tail."""
    ring = p.runq
    n = len(ring) // 2
    if n != RUNQ_SIZE // 2:
        raise Throw("runqputslow: queue is not full")
    for _ in range(n):
        gq.append(ring.popleft())
    gq.append(g)


def runqget(p: RunQ) -> tuple[Any, bool]:
    """Models ``runqget``: runnext first (inheritTime=True), else the ring head (inheritTime=False)."""
    g = p.runnext
    if g is not None:
        p.runnext = None
        return g, True
    if p.runq:
        return p.runq.popleft(), False
    return None, False


def runqempty(p: RunQ) -> bool:
    """Models ``runqempty``: no runnext and an empty ring."""
    return p.runnext is None and not p.runq


def runqgrab(victim: RunQ, steal_runnext: bool) -> list[Any]:
    """Models ``runqgrab``: take ceil(len/2) Gs from the victim's ring head (the older half).

    An empty ring with ``steal_runnext`` yields the victim's ``runnext`` (exactly one G).
    Go first sleeps 100 µs so the victim can run its own runnext; the scheduler
    models that sleep (see ``Sched.findrunnable``), not this pure function.
    """
    ring = victim.runq
    n = len(ring)
    n = n - n // 2
    if n == 0:
        if steal_runnext and victim.runnext is not None:
            g = victim.runnext
            victim.runnext = None
            return [g]
        return []
    return [ring.popleft() for _ in range(n)]


def runqsteal(thief: RunQ, victim: RunQ, steal_runnext: bool) -> tuple[Any, int]:
    """Models ``runqsteal``: grab half of the victim's queue onto the thief's ring.

    Returns ``(g, n)``: the *last* grabbed G, to run now, and how many were grabbed.
    Invariant: the thief's ring is empty when it steals (it looked for work first),
    so the grabbed Gs always fit.
    """
    batch = runqgrab(victim, steal_runnext)
    if not batch:
        return None, 0
    g = batch.pop()
    if len(thief.runq) + len(batch) > RUNQ_SIZE:
        raise Throw("runqsteal: runq overflow")
    thief.runq.extend(batch)
    return g, len(batch) + 1


def globrunqget(p: RunQ, gq: deque[Any], gomaxprocs: int, max_: int) -> Any:
    """Models ``globrunqget``: take n = min(len, len/gomaxprocs+1, max_, 128) Gs from the global head.

    Returns the first; the other n-1 go to P's ring (``runqput(next=False)``).
    """
    size = len(gq)
    if size == 0:
        return None
    n = size // gomaxprocs + 1
    if n > size:
        n = size
    if max_ > 0 and n > max_:
        n = max_
    if n > GLOBRUNQ_BATCH_MAX:
        n = GLOBRUNQ_BATCH_MAX
    g = gq.popleft()
    ring = p.runq
    if len(ring) + n - 1 <= RUNQ_SIZE:
        # The common case (findrunnable calls this with an empty ring): a bulk move.
        popleft = gq.popleft
        ring.extend([popleft() for _ in range(n - 1)])
    else:
        for _ in range(n - 1):
            runqput(p, gq, gq.popleft(), False)
    return g


def check_runq(p: RunQ) -> None:
    """Assert the run-queue invariants of the module docstring."""
    if len(p.runq) > RUNQ_SIZE:
        raise Throw(f"runq overflow: {len(p.runq)} > {RUNQ_SIZE}")
    if p.runnext is not None and any(g is p.runnext for g in p.runq):
        raise Throw("runnext is also on the ring")
