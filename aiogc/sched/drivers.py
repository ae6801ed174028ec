"""Drivers: who decides which P steps next, and who owns time, timers and I/O.

VirtualDriver — discrete-event simulation in integer nanoseconds.
  Each P has a local clock.  The driver keeps the active Ps in a heap keyed by
  (clock, sequence number), the timers in a heap keyed by (when, sequence), and
  sysmon's next tick; it always processes the earliest of the three, ties broken
  by sequence number, so a run is a pure function of (config, seed, program).
  A P, once picked, runs ahead until its clock reaches ``limit`` — the time of the
  next other P plus ``Config.lookahead_ns``, or the next timer or sysmon tick —
  instead of returning to the heap after every switch.  The lookahead bounds the
  skew between Ps' clocks (default 2 µs: far below the phenomena modelled — a
  100 µs steal back-off, 10 ms preemption — and it makes a busy 4-P run ~5x
  faster in wall time); ``lookahead_ns=0`` is the strict conservative order.
  Every operation charges the running P's clock a modelled cost (Config.cost_*).
  Causality note: a P reads other Ps' queues as they stand; since a P runs ahead
  of the next event by at most ``lookahead_ns`` plus one step, that bounds the
  skew.  A goroutine never starts before it became runnable (``execute`` moves
  the P's clock up to the G's ``ready_ns``), and global GC state changes let the
  other Ps catch up first.

WallDriver — real time on a host asyncio loop (uvloop when importable).
  Ps are multiplexed on the host loop's thread: the driver steps every active P
  for a batch of switches, then yields to the host loop so I/O and timers run.
  Timers are kept in the driver's own heap keyed (when, sequence), with one host timer armed
  for the earliest, so equal deadlines run in the order set and nothing runs early (a host loop
  may round a delay down to whole ms); I/O completions ready goroutines through the global queue
  (the netpoller).  Preemption: sysmon's ``retake`` runs between
  batches against the monotonic clock.

The clock service (both drivers): ``now(p)`` is the runtime time seen by code running on ``p``;
``charge(p, ns, bucket)`` charges ``ns`` of modelled work to ``p`` (virtual time: its clock advances
and the named time-accounting field of ``p`` — "t_mutator", "t_assist", "t_bgmark" — grows; wall
time: nothing, real time passes by itself); ``cost(ns)`` is a cost in the clock's unit for hot paths
that add it to ``p.clock`` inline (``ns`` in virtual time, 0 in wall time).  The model's code asks
these instead of branching on the clock kind.

Deadlock (both): no P has work, no timer is pending, no callback is queued, no
goroutine waits on host I/O, and a user goroutine is parked ⇒
``Deadlock("all goroutines are asleep - deadlock!")``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from aiogc.errors import Deadlock
from aiogc.sched.g import G
from aiogc.sched.p import CUR, P_IDLE, P_RUNNING, P, _current_tasks
from aiogc.sched.sched import STEP_PANIC, STEP_RUNNING, Sched
from aiogc.sched.sysmon import Sysmon

INF = 1 << 62


def run_timer_callback(sched: Sched, p: P, h: asyncio.TimerHandle) -> None:
    """Run a due timer's callback on its P (the loop it was scheduled on), as a netpoll wake-up:
    P is the running loop and the current P, and goroutines it readies go to the global queue."""
    prev = asyncio._get_running_loop()
    prev_p = CUR.p
    asyncio.events._set_running_loop(p)
    CUR.p = p
    sched.in_callback += 1
    _current_tasks.pop(p, None)  # no goroutine runs now (see P.run_ready_callbacks)
    try:
        h._run()
    finally:
        sched.in_callback -= 1
        asyncio.events._set_running_loop(prev)
        CUR.p = prev_p


class RunAbandoned(Exception):
    """Raised out of ``VirtualDriver.run`` after ``abandon()``: nobody waits for the run any more."""


def _parked(sched: Sched) -> list[tuple[int, str, str]]:
    return [(g.id, g.label, g.waitreason) for g in sched.waiting_user_goroutines()]


class VirtualDriver:
    """Deterministic discrete-event time (see module docstring)."""

    virtual = True

    def __init__(self, sched: Sched) -> None:
        self.sched = sched
        sched.driver = self
        self.pheap: list[tuple[int, int, P]] = []
        self.active: set[P] = set()  # Ps in pheap or stepping
        self.timers: list[tuple[int, int, asyncio.TimerHandle, P]] = []
        self.seq = 0
        self.limit = INF
        self.lookahead = sched.config.lookahead_ns
        self.stepping: P | None = None
        self.event_time = 0
        self.sysmon = Sysmon(sched)
        self.hooks_after_step: list[Any] = []  # schedtrace etc.
        # Work from outside the simulation (executor threads, signal handlers, other threads'
        # call_soon_threadsafe): callbacks land in ``inbox`` (deque appends are atomic) and run on
        # their P at the current event time -- outside work costs no virtual time.  ``external``
        # counts sources that may still deliver (pending executor jobs, installed signal
        # handlers): while it is > 0 a run with nothing else to do waits for them instead of
        # reporting a deadlock.
        self.inbox: deque[tuple[P, asyncio.Handle]] = deque()
        self.inbox_ready = threading.Event()
        self.external = 0
        self.default_executor: concurrent.futures.Executor | None = None
        # Set from another thread (``abandon``): the run stops at its next event (Runtime.run_async's
        # awaiter was cancelled: the program is abandoned, as when a Go process is killed).
        self.abandoned = False

    def abandon(self) -> None:
        """Stop the run at its next event, from any thread: ``run`` raises ``RunAbandoned``."""
        self.abandoned = True
        self.inbox_ready.set()

    # -- services for Sched and P ----------------------------------------------------------
    def now(self, p: P | None) -> int:
        if p is not None:
            if p is self.stepping:
                return p.clock
            # A P that is not stepping (idle, or running a timer callback) is at least at the
            # current event time: its own clock may be stale while it sat idle.
            t = self.current_time()
            return p.clock if p.clock >= t else t
        return self.current_time()

    def current_time(self) -> int:
        s = self.stepping
        return s.clock if s is not None else self.event_time

    def charge(self, p: P, ns: int, bucket: str | None = None) -> None:
        """``ns`` of modelled work on ``p``: its clock advances (and its ``bucket`` time account)."""
        p.clock += ns
        if bucket is not None:
            setattr(p, bucket, getattr(p, bucket) + ns)

    @staticmethod
    def cost(ns: int) -> int:
        return ns

    def activate(self, p: P) -> None:
        """Put P in the event heap at its clock (it has work, or was stopped and restarts)."""
        if p in self.active:
            return
        self.active.add(p)
        self.seq += 1
        heapq.heappush(self.pheap, (p.clock, self.seq, p))
        s = self.stepping
        if s is not None and p is not s and p.clock + self.lookahead < self.limit:
            self.limit = p.clock + self.lookahead  # nor run too far ahead of the newcomer

    def add_timer(self, p: P, when_ns: int, h: asyncio.TimerHandle) -> None:
        self.seq += 1
        heapq.heappush(self.timers, (when_ns, self.seq, h, p))
        if when_ns < self.limit:
            self.limit = when_ns

    def timer_cancelled(self, h: asyncio.TimerHandle) -> None:
        pass  # dropped lazily when it reaches the top of the timer heap

    def call_soon_threadsafe(self, p: P, cb: Any, args: tuple[Any, ...], ctx: Any) -> asyncio.Handle:
        h = asyncio.Handle(cb, args, p, ctx)
        self.inbox.append((p, h))
        self.inbox_ready.set()
        return h

    def _deliver_inbox(self) -> None:
        inbox = self.inbox
        while inbox:
            p, h = inbox.popleft()
            if not h._cancelled:
                p.queue_callback(h, True)
                self.sched.wake_p(p)

    def run_in_executor(self, p: P, executor: concurrent.futures.Executor | None,
                        func: Callable[..., Any], args: tuple[Any, ...]) -> asyncio.Future[Any]:
        """``loop.run_in_executor``: ``func`` runs on a thread; its result comes back through the
        inbox at the current event time (virtual time does not advance while it runs)."""
        if executor is None:
            if self.default_executor is None:
                self.default_executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="aiogc")
            executor = self.default_executor
        cf = executor.submit(func, *args)
        self.external += 1

        def delivered() -> None:
            self.external -= 1

        # Both callbacks arrive through the inbox, in this order: the result, then the count.
        fut = asyncio.wrap_future(cf, loop=p)
        cf.add_done_callback(lambda _: self.call_soon_threadsafe(p, delivered, (), None))
        return fut

    def host_loop(self, what: str) -> Any:
        raise NotImplementedError(f"{what}: real I/O needs clock='wall'; virtual time has no network")

    # -- the event loop ---------------------------------------------------------------------
    def _next_timer(self) -> int:
        t = self.timers
        while t and t[0][2]._cancelled:
            heapq.heappop(t)
        return t[0][0] if t else INF

    def run(self, main_g: G | asyncio.Future[Any]) -> None:
        """Run until ``main_g`` (a G or any future) is done.  May be called again with another
        future (an event loop's successive ``run_until_complete``): the run resumes where it
        stopped."""
        sched = self.sched
        pheap = self.pheap
        sysmon = self.sysmon
        hooks = self.hooks_after_step
        for p in sched.allp:
            if p not in self.active and p.status == P_IDLE and p not in sched.pidle:
                sched.pidle.append(p)
            elif p.status == P_RUNNING and p not in self.active:
                self.activate(p)  # resuming after a panic stopped this P mid-slice
        if sched.pidle:
            # Ps start idle; wakep (from newproc) picks them up.  Keep Go's order: P0 first.
            sched.pidle.sort(key=lambda q: -q.id)
        sched.wakep()
        inbox = self.inbox
        host = sched.host
        host_cap = host.capacity_on
        all_idle = False  # no P was active at the last look (sysmon may be asleep: see below)
        while not main_g.done():
            if self.abandoned:
                raise RunAbandoned("the run was abandoned")
            if inbox:
                self._deliver_inbox()
            t_timer = self._next_timer()
            t_p = pheap[0][0] if pheap else INF
            if pheap:
                if all_idle:
                    all_idle = False
                    sysmon.idle_spell_over(t_p)
                t_sys = sysmon.next_ns
            else:
                all_idle = True
                t_sys = INF
            if t_timer <= t_p and t_timer <= t_sys:
                if t_timer == INF:
                    if self.external > 0 or inbox:
                        self._wait_external()
                        continue
                    self._deadlock(main_g)
                    return
                self._fire_timer()
                continue
            if t_sys < t_p:
                self.event_time = t_sys
                sysmon.tick(t_sys)
                for h in hooks:
                    h(t_sys)
                continue
            _, _, p = heapq.heappop(pheap)
            nxt = pheap[0][0] if pheap else INF
            self.limit = min(nxt + self.lookahead, t_timer, t_sys)
            if self.limit <= p.clock:
                self.limit = p.clock + 1  # always make progress
            if host_cap:
                # The host model's CPU capacity: how fast p runs this slice (sched/host.py).
                d = host.dil_for(host.running_at(p.clock, self.active))
                if d != sched.dil_num:
                    sched.rescale(d)
            self.stepping = p
            r = sched.run_slice(p)
            self.stepping = None
            self.event_time = p.clock
            self.active.discard(p)
            if r == STEP_PANIC:
                assert sched.panic is not None
                raise sched.panic
            if r == STEP_RUNNING and p.status == P_RUNNING:
                self.activate(p)
            for h in hooks:
                h(p.clock)

    def _wait_external(self) -> None:
        """Nothing to simulate until a thread or a signal delivers: block on the inbox."""
        while not self.inbox and not self.abandoned:
            self.inbox_ready.wait(0.05)
            self.inbox_ready.clear()

    def _fire_timer(self) -> None:
        when, _, h, p = heapq.heappop(self.timers)
        self.event_time = when
        sched = self.sched
        run_timer_callback(self.sched, p, h)
        if sched.panic is not None:
            raise sched.panic

    def _deadlock(self, main_g: Any) -> None:
        sched = self.sched
        if any(p.ready_cbs for p in sched.allp):
            raise AssertionError("deadlock check with queued callbacks")  # unreachable: call_soon wakes
        raise Deadlock(goroutines=_parked(sched))


class WallDriver:
    """Real time on a host loop (see module docstring)."""

    virtual = False
    BATCH = 64  # switches per P before yielding to the host loop

    def __init__(self, sched: Sched) -> None:
        self.sched = sched
        sched.driver = self
        self.t0 = time.monotonic_ns()
        self.host: asyncio.AbstractEventLoop | None = None
        self.active: list[P] = []
        self.limit = 0
        self.stepping: P | None = None
        self.sysmon = Sysmon(sched)
        self.wakeup: asyncio.Future[None] | None = None
        self.pending_timers = 0  # timers in self.timers (cancelled ones until they are dropped)
        self.timers: list[tuple[int, int, asyncio.TimerHandle, P]] = []
        self.tseq = 0
        self.host_timer: asyncio.TimerHandle | None = None  # armed for self.host_when
        self.host_when = 0
        self.host_io_used = False  # some goroutine used host I/O (see _deadlocked)
        self.external = 0  # executor jobs not yet done
        self.hooks_after_step: list[Any] = []

    def now(self, p: P | None) -> int:
        return time.monotonic_ns() - self.t0

    def current_time(self) -> int:
        return time.monotonic_ns() - self.t0

    def charge(self, p: P, ns: int, bucket: str | None = None) -> None:
        """Modelled work costs nothing extra in wall time: the real work took real time."""

    @staticmethod
    def cost(ns: int) -> int:
        return 0

    def activate(self, p: P) -> None:
        if p not in self.active:
            self.active.append(p)
        self._kick()

    def _kick(self) -> None:
        w = self.wakeup
        if w is not None and not w.done():
            w.set_result(None)

    def add_timer(self, p: P, when_ns: int, h: asyncio.TimerHandle) -> None:
        """Timers live in this driver's own heap, keyed (when, sequence number) as in virtual time,
        with one host timer armed for the earliest.  Invariants: due timers run in (when, seq)
        order, so two timers with one deadline run in the order they were set (one host timer
        each, each computed from its own reading of two clocks, could swap them); and none runs
        before its time (a host timer that fires early, e.g. rounded to whole ms, re-arms)."""
        assert self.host is not None
        self.pending_timers += 1
        self.tseq += 1
        heapq.heappush(self.timers, (when_ns, self.tseq, h, p))
        if self.host_timer is None or when_ns < self.host_when:
            self._arm()

    def _arm(self) -> None:
        """(Re)arm the one host timer for the earliest pending timer (dropping cancelled ones)."""
        assert self.host is not None
        t = self.timers
        while t and t[0][2]._cancelled:
            heapq.heappop(t)
            self.pending_timers -= 1
        if self.host_timer is not None:
            self.host_timer.cancel()
            self.host_timer = None
        if t:
            self.host_when = t[0][0]
            self.host_timer = self.host.call_later(max(0, self.host_when - self.now(None)) / 1e9, self._fire)

    def timer_cancelled(self, h: asyncio.TimerHandle) -> None:
        pass  # dropped when it reaches the top of the heap (_arm, _fire)

    def _fire(self) -> None:
        self.host_timer = None
        t = self.timers
        now = self.now(None)
        while t and t[0][0] <= now:
            _, _, h, p = heapq.heappop(t)
            self.pending_timers -= 1
            if not h._cancelled:
                run_timer_callback(self.sched, p, h)
                if self.sched.panic is not None:
                    break
        self._arm()
        self._kick()

    def call_soon_threadsafe(self, p: P, cb: Any, args: tuple[Any, ...], ctx: Any) -> asyncio.Handle:
        assert self.host is not None
        h = asyncio.Handle(cb, args, p, ctx)

        def deliver() -> None:
            p.queue_callback(h, True)
            self.sched.wake_p(p)
            self._kick()

        self.host.call_soon_threadsafe(deliver)
        return h

    def host_loop(self, what: str) -> Any:
        assert self.host is not None
        self.host_io_used = True
        return self.host

    def run_in_executor(self, p: P, executor: concurrent.futures.Executor | None,
                        func: Callable[..., Any], args: tuple[Any, ...]) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = self.host_loop("run_in_executor").run_in_executor(executor, func, *args)
        # A pending executor job may still complete the future the run waits for (see _deadlocked).
        self.external += 1

        def done(_: Any) -> None:
            self.external -= 1
            self._kick()

        fut.add_done_callback(done)
        return fut

    async def run(self, main_g: G | asyncio.Future[Any]) -> None:
        sched = self.sched
        host = asyncio.get_running_loop()
        if host is not self.host:
            self.host = host
            self.host_timer = None  # armed on another loop (an earlier run's): arm here
            if self.timers:
                self._arm()
        for p in sched.allp:
            if p not in self.active and p.status == P_IDLE and p not in sched.pidle:
                sched.pidle.append(p)
        sched.pidle.sort(key=lambda q: -q.id)
        sched.wakep()
        sysmon = self.sysmon
        while not main_g.done():
            if self.active:
                for p in list(self.active):
                    if p.status != P_RUNNING:
                        self.active.remove(p)
                        continue
                    self.limit = p.clock + self.BATCH
                    self.stepping = p
                    r = sched.run_slice(p)
                    self.stepping = None
                    if r == STEP_PANIC:
                        assert sched.panic is not None
                        raise sched.panic
                    if r != STEP_RUNNING or p.status != P_RUNNING:
                        if p in self.active:
                            self.active.remove(p)
                    if main_g.done():
                        break
                now = self.now(None)
                sysmon.retake(now)
                for h in self.hooks_after_step:
                    h(now)
                await asyncio.sleep(0)  # let the host loop run I/O and timers
                continue
            # Nothing runnable: wait for a timer, an I/O completion or a callback.
            if self._deadlocked():
                raise Deadlock(goroutines=_parked(sched))
            self.wakeup = self.host.create_future()
            try:
                await self.wakeup
            finally:
                self.wakeup = None

    def _deadlocked(self) -> bool:
        sched = self.sched
        if self.pending_timers > 0 or self.external > 0 or any(p.ready_cbs for p in sched.allp) or sched.gq:
            return False
        if not self.host_io_used:
            # The program never touched the host loop (no sockets, servers, executors): only
            # timers and callbacks can complete its futures, and there are none: as in virtual time.
            return True
        for g in sched.allgs.values():
            # A goroutine waiting on a future may be woken by host I/O (the netpoller): a
            # transport's protocol callbacks complete futures of the P that made them.
            if g.fut_waiter is not None and not isinstance(g.fut_waiter, G):
                return False
        return True
