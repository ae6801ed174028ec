"""Go 1.5's timer goroutine: ``time.Sleep`` and ``timerproc`` (time.go).

In Go 1.5 a sleeping goroutine is woken by ``timerproc``, an ordinary (runtime)
goroutine, not by the scheduler: ``timeSleep`` adds a timer whose function is
``goroutineReady`` and parks.  ``timerproc`` sleeps in ``notetsleepg`` until the
earliest timer is due; on waking, ``exitsyscall`` finds no idle P (every P is busy),
so ``exitsyscall0`` puts timerproc on the *global* run queue.  Some P takes it there
(on its 61st schedtick, or when it runs out of local work); timerproc then calls
``goready(sleeper)``, which is ``ready``: the sleeper goes to *that* P's ``runnext``,
kicking whatever was in ``runnext`` to the tail of that P's ring, and runs as soon
as timerproc blocks again.

That path matters to the seed experiment: it is how a GC coordinator stuck in a
P's ring behind a producer/consumer pair that keeps ``runnext`` occupied gets out
when sysmon cannot preempt the pair (see docs/realgo.md): the main goroutine's
1 ms poll is readied into ``runnext`` by timerproc, kicks the pair's G behind the
coordinator, parks again, and the P's ring head — the coordinator — runs.

Model: the host timer (the driver's, as for every asyncio timer) fires as a callback,
which makes the timerproc G runnable on the global queue (``ready`` from a callback,
Go's ``exitsyscall0``); when timerproc runs it readies every due sleeper on its P
(``runnext``) and parks.  Departure: timerproc parks instead of sleeping in a
syscall-like ``notetsleepg``; it is one G per runtime, created at the first timer (Go's
``go timerproc()`` in the first ``addtimer``: into the adding goroutine's P's ``runnext``).

A new timer that becomes the earliest wakes timerproc, as Go's ``addtimerLocked`` does:
  * timerproc asleep until a later timer (``timers.sleeping``, in ``notetsleepg``):
    ``notewakeup``; its M wakes, finds no idle P and puts timerproc on the global queue
    (modelled as a host callback due now: the same path as a timer firing), and timerproc
    runs only to go back to sleep until the new earliest timer.  During a GC cycle the
    pacer's 10 ms revise timer is pending, so every 1 ms ``time.Sleep`` of the seed
    workload's main goroutine sends timerproc through the global queue once more;
  * no timer pending (``timers.rescheduling``, parked): ``goready`` into the adding
    goroutine's P's ``runnext``.
Invariant: ``state`` is "sleeping" only while timerproc is parked with a live timer pending
(``sleep_until`` is the earliest then), "rescheduling" only while parked with none, else
"running" (running, runnable, or woken and on its way).

The runtime's own timers go the same way (``RuntimeTimer``, Go's ``timer`` with ``f`` and
``period``: ``addtimer``/``deltimer``): the function runs on timerproc when timerproc runs,
not when the time comes, and a periodic timer is re-armed then, to the first multiple of its
period after that instant, as Go's timerproc does.  The seed's pacer revises its assist ratio
from such a timer every 10 ms (``gcController.reviseTimer``), so a timerproc stuck behind other
goroutines also stops the revisions.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiogc.errors import NotInGoroutine, Throw
from aiogc.sched.g import WAITING, G
from aiogc.sched.p import CUR
from aiogc.sched.traps import park_trap

if TYPE_CHECKING:
    from aiogc.sched.sched import Sched


class RuntimeTimer:
    """A runtime timer (Go's ``timer``): ``f`` runs on timerproc once ``when_ns`` has passed and
    timerproc runs; ``period_ns`` > 0 re-arms it.  ``active`` is False after ``deltimer``."""

    __slots__ = ("f", "when_ns", "period_ns", "active", "handle", "token")

    def __init__(self, f: Callable[[], object], when_ns: int, period_ns: int = 0) -> None:
        self.f = f
        self.when_ns = when_ns
        self.period_ns = period_ns
        self.active = False
        self.handle: asyncio.TimerHandle | None = None
        self.token: _Pending | None = None


class _Pending:
    """One pending deadline in timerproc's heap; ``live`` is False once fired or deleted."""

    __slots__ = ("live",)

    def __init__(self) -> None:
        self.live = True


class TimerProc:
    """The runtime's timerproc goroutine, its due sleepers and its due runtime timers."""

    __slots__ = ("sched", "g", "due", "due_timers", "pending", "seq", "state", "sleep_until")

    def __init__(self, sched: Sched) -> None:
        self.sched = sched
        self.g: G | None = None
        self.due: deque[tuple[G, str]] = deque()  # (sleeper, its wait reason)
        self.due_timers: deque[RuntimeTimer] = deque()
        # Go's timers.t: every pending deadline (ns, seq, token), dead tokens dropped lazily.
        self.pending: list[tuple[int, int, _Pending]] = []
        self.seq = 0
        self.state = "running"  # "sleeping" | "rescheduling" | "running" (see the module doc)
        self.sleep_until = 0

    def _earliest(self) -> int | None:
        """The earliest live pending deadline, or None (Go: ``timers.t[0].when``)."""
        pending = self.pending
        while pending and not pending[0][2].live:
            heapq.heappop(pending)
        return pending[0][0] if pending else None

    def _add(self, p: Any, when_ns: int) -> _Pending:
        """Models ``addtimerLocked``'s wake-up: record the deadline, and wake timerproc when it is
        the new earliest (see the module doc)."""
        tok = _Pending()
        self.seq += 1
        heapq.heappush(self.pending, (when_ns, self.seq, tok))
        tp = self.g
        if tp is None:
            # go timerproc(): a new G in the adding goroutine's P's runnext.
            self.g = self.sched.newproc(self._loop(), system=True, label="timerproc")
        elif self.state == "rescheduling":
            self.state = "running"
            self.sched.ready(tp)  # goready(timers.gp): this P's runnext
        elif self.state == "sleeping" and when_ns < self.sleep_until:
            self.state = "running"
            p.call_at(self.sched.now(p) / 1e9, self._wake)  # notewakeup: exitsyscall0, global queue
        return tok

    def _wake(self) -> None:
        """A host timer fired (a callback): wake timerproc onto the global queue (exitsyscall0)."""
        tp = self.g
        if tp is None:
            raise Throw("timerproc: a timer fired before addtimer created timerproc")
        if tp.status == WAITING:
            self.state = "running"
            self.sched.ready(tp)

    def _fire(self, g: G, tok: _Pending, reason: str) -> None:
        """The host timer of ``g``'s sleep (parked with wait reason ``reason``) fired."""
        tok.live = False
        self.due.append((g, reason))
        self._wake()

    def _fire_timer(self, t: RuntimeTimer, tok: _Pending) -> None:
        """The host timer of runtime timer ``t`` fired."""
        tok.live = False
        if t.active:
            t.handle = None
            self.due_timers.append(t)
            self._wake()

    def _arm(self, p: Any, t: RuntimeTimer) -> None:
        tok = self._add(p, t.when_ns)
        t.token = tok
        t.handle = p.call_at(t.when_ns / 1e9, self._fire_timer, t, tok)

    def addtimer(self, p: Any, t: RuntimeTimer) -> None:
        """Models ``addtimer`` from code running on ``p``: arm ``t`` for ``t.when_ns``."""
        t.active = True
        self._arm(p, t)

    def deltimer(self, t: RuntimeTimer) -> None:
        """Models ``deltimer``: ``t`` will not run (again).  (Go does not wake timerproc for it.)"""
        t.active = False
        if t.token is not None:
            t.token.live = False
            t.token = None
        if t.handle is not None:
            t.handle.cancel()
            t.handle = None

    async def _loop(self) -> None:
        """Models ``timerproc``: run each due runtime timer (re-arming a periodic one) and goready
        each due sleeper (into this P's runnext), then block."""
        sched = self.sched
        due = self.due
        due_timers = self.due_timers
        while True:
            while due_timers:
                t = due_timers.popleft()
                if not t.active:
                    continue
                if t.period_ns > 0:
                    # Go: t.when += t.period * (1 + -delta/t.period), delta = t.when - now <= 0.
                    p = CUR.p
                    if p is None:
                        raise Throw("timerproc: not running on a P")
                    now = sched.now(p)
                    t.when_ns += t.period_ns * (1 + (now - t.when_ns) // t.period_ns)
                    self._arm(p, t)
                else:
                    t.active = False
                t.f()
            while due:
                g, reason = due.popleft()
                if g.status == WAITING and g.waitreason == reason:
                    sched.ready(g)  # goroutineReady: into this P's runnext
            me = sched.cur_g()
            me.waitreason = "timer goroutine (idle)"
            # notetsleepg until the earliest pending timer, or park with none (rescheduling).
            earliest = self._earliest()
            if earliest is None:
                self.state = "rescheduling"
            else:
                self.state = "sleeping"
                self.sleep_until = earliest
            await park_trap()


def timerproc(sched: Sched) -> TimerProc:
    tp: TimerProc | None = sched.timerproc
    if tp is None:
        tp = TimerProc(sched)
        sched.timerproc = tp
    return tp


async def sleep(seconds: float) -> None:
    """Go's ``time.Sleep``: park this goroutine; ``timerproc`` readies it when the time is up.

    Unlike ``asyncio.sleep`` (whose wake-up is a callback, Go's netpoller: the global
    queue), the sleeper is readied by the timerproc goroutine into the ``runnext`` of
    the P that runs timerproc.  Not cancellable (as in Go).  ``seconds <= 0`` returns at
    once, as ``timeSleep`` does.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError(f"sleep(seconds) needs a number, got {type(seconds).__name__}")
    p: Any = CUR.p
    if p is None or p.curg is None:
        raise NotInGoroutine("sleep() must be awaited inside an aiogc goroutine")
    if seconds <= 0:
        return
    await time_sleep(p, seconds, "sleep")


async def time_sleep(p: Any, seconds: float, reason: str) -> None:
    """Models ``timeSleep``: park the running goroutine of ``p`` (wait reason ``reason``) on a timer
    that timerproc serves; timerproc readies it into the runnext of the P that runs timerproc.
    The runtime's own sleeps use it too (8f34b253's assist retry: ``timeSleep(100 * 1000)``)."""
    g = p.curg
    tp = timerproc(p.sched)
    deadline = p.time() + seconds  # as call_later computes it, so the host timer is the same
    tok = tp._add(p, max(0, round(deadline * 1e9)))
    p.call_at(deadline, tp._fire, g, tok, reason)
    g.waitreason = reason
    await park_trap()
