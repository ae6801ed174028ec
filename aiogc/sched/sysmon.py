"""sysmon: forced preemption of goroutines that hog a P (Go's ``sysmon``/``retake``/``preemptone``).

sysmon runs without a P.  Each tick it looks at every running P: if the P's
``schedtick`` changed since the last tick it records (schedtick, now); if it did
not change for ``preempt_ns`` (Go: forcePreemptNS = 10 ms) it asks the running G
to stop (``g.preempt = True``).  The G notices at its next safe point — every
aiogc await — and goes to the global queue tail (``gopreempt_m``).

Tick spacing follows Go: 20 µs while sysmon keeps finding work; after 50
consecutive idle ticks the delay doubles each tick up to 10 ms.  As in Go 1.5,
"work" is only ``retake`` handing off a P blocked in a syscall (its ``n++`` is in
that branch alone; ``preemptone`` is not counted), which never happens here (no
syscalls are modelled): so in a busy program sysmon settles at its 10 ms tick and a
hog is preempted between ``preempt_ns`` and ``preempt_ns`` + 10 ms after its slice
began, as in Go.

sysmon sleeps while the world is stopped or every P is idle (Go: ``sched.gcwaiting`` or
``npidle == gomaxprocs`` at a tick puts it on ``sysmonnote``) and is woken by
``startTheWorld`` (``Sched.start_the_world``) or, after an all-idle spell, by the first P to run
again (in Go the M that leaves a syscall with an idle P, typically the timer's); it then starts
over at 20 µs ticks (``idle = 0``).  A tick is never skipped for any other reason: Ps whose clocks
jumped ahead together (a stall of every P) are still running, and sysmon sees their slices.

Mark workers are system goroutines that poll ``preempt`` themselves (fractional
and idle workers stop draining; dedicated ones ignore it), so the request is
set on them too but the trampoline never preempts a system G.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogc.sched.p import P_RUNNING

_NEVER = 1 << 62  # no tick is pending while sysmon sleeps

if TYPE_CHECKING:
    from aiogc.sched.sched import Sched


class Sysmon:
    __slots__ = ("sched", "next_ns", "delay", "idle", "min_ns", "max_ns", "preempt_ns", "npreempt", "asleep")

    def __init__(self, sched: Sched) -> None:
        cfg = sched.config
        self.sched = sched
        self.min_ns = cfg.sysmon_min_ns
        self.max_ns = cfg.sysmon_max_ns
        self.preempt_ns = cfg.preempt_ns
        self.delay = self.min_ns
        self.next_ns = self.min_ns
        self.idle = 0
        self.npreempt = 0
        self.asleep = False  # on sysmonnote: the world is stopped or every P was idle at a tick

    def retake(self, now: int) -> int:
        """Models ``retake`` for running Ps: request preemption (``preemptone``) of a G whose P's
        ``schedtick`` has not moved for ``preempt_ns``; returns, as Go's does, the number of Ps
        retaken from syscalls -- always 0 here (no syscalls).  Preemptions are counted in
        ``npreempt`` only."""
        pre = self.preempt_ns
        for p in self.sched.allp:
            g = p.curg
            if p.status != P_RUNNING or g is None:
                continue
            if p.sysmon_tick != p.schedtick:
                p.sysmon_tick = p.schedtick
                p.sysmon_when = now
            elif p.sysmon_when + pre <= now and not g.preempt:
                g.preempt = True  # preemptone
                self.npreempt += 1
        return 0

    def tick(self, now: int, woken: bool = False) -> None:
        """One sysmon iteration at ``now``; schedules the next by Go's back-off rule.  ``woken``:
        the iteration goes on right after a wake-up, past the check that would sleep."""
        if self.sched.gcwaiting and not woken:
            # The world is stopping or stopped: sleep until startTheWorld wakes us.
            self.asleep = True
            self.next_ns = _NEVER
            return
        if self.retake(now):
            self.idle = 0
        else:
            self.idle += 1
        if self.idle == 0:
            self.delay = self.min_ns
        elif self.idle > 50:
            self.delay = min(self.delay * 2, self.max_ns)
        self.next_ns = now + self.delay

    def idle_spell_over(self, now: int) -> None:
        """Every P was idle and one runs again at ``now``: if sysmon's tick fell in that spell it
        found every P idle and slept (``npidle == gomaxprocs``), so the first P to run wakes it."""
        if self.next_ns <= now:
            self.asleep = True
        self.wake(now)

    def wake(self, now: int) -> None:
        """``notewakeup(&sched.sysmonnote)``: a sleeping sysmon resumes at ``now``: ``idle = 0``,
        then the rest of that iteration -- its ``retake`` at ``now``, whatever the world does
        meanwhile (Go does not look at ``gcwaiting`` again before it) -- then 20 µs ticks,
        backing off after 50.  A sysmon not asleep is left alone."""
        if not self.asleep:
            return
        self.asleep = False
        self.idle = 0
        self.delay = self.min_ns
        self.tick(now, woken=True)
        drv = self.sched.driver
        if self.sched.virtual and drv.limit > self.next_ns:
            drv.limit = self.next_ns  # the P that woke us ends its step there: the tick runs in order
