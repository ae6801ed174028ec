"""The scheduler: Go's schedule/findrunnable/ready/gopark/gosched/newproc over Ps.

This file models proc1.go of Go 1.5 development (July 2015).  The algorithm:

  * A P runs one G at a time (``curg``).  When the G stops — it parks, yields,
    is preempted or returns — the P calls ``schedule()``, which picks, in order:
    (1) this P's GC mark worker if blackening is enabled and the pacer wants one
    (``findRunnableGCWorker``); (2) one G from the global queue every 61st
    schedtick (fairness); (3) ``runnext``, then the local ring (``runqget``);
    (4) ``findrunnable``: local, global (``globrunqget``), steal half of a
    uniformly random victim's ring (4 x GOMAXPROCS tries; a victim's ``runnext``
    only in the second half, after a 100 µs sleep), an idle-priority GC mark
    worker, else the P goes idle.
  * ``ready(g)`` and ``newproc`` put the G in the *current* P's ``runnext``,
    kicking the previous ``runnext`` to the ring tail, and wake an idle P if no
    P is spinning (``wakep``); the caller keeps running.
  * ``gosched`` and a forced preemption put the G at the *global* queue tail.
  * A G taken from ``runnext`` inherits the time slice: ``schedtick`` is not
    incremented, so sysmon measures the slice from its start (``execute``).
  * Stop-the-world: the requester waits until every other P has stopped at a
    safe point (between two steps, in this model), then runs alone.

Departures (see go-runtime-model.md §1.12): Ms are folded into Ps (one running
G per P; a "spinning M" is a P in findrunnable); victims are chosen with the
run's seeded ``random.Random`` instead of ``fastrand1``; timers and I/O belong
to the driver (the netpoller); G structs are not reused (``gfput``/``gfget``).
"""

from __future__ import annotations

import asyncio
import enum
import traceback
from collections import deque
from typing import TYPE_CHECKING, Any, Final

from aiogc.errors import GoroutinePanic, NotInGoroutine, Throw
from aiogc.sched.g import DEAD, RUNNABLE, RUNNING, WAITING, G
from aiogc.sched.host import DIL_ONE, Host, stretch_costs
from aiogc.sched.p import CUR, P_DEAD, P_GCSTOP, P_IDLE, P_RUNNING, DirectWake, P
from aiogc.sched.runq import globrunqget, runqget, runqput, runqsteal
from aiogc.sched.traps import GOSCHED, PARK, SAFEPOINT, STW, TICK
from aiogc.trace.events import (
    GoCreate,
    GoEnd,
    GoPark,
    GoPreempt,
    GoSched,
    GoStart,
    GoUnpark,
    ProcStart,
    ProcStop,
    Steal,
    STWEnd,
    STWStart,
)

if TYPE_CHECKING:
    from aiogc.runtime import Runtime
    from aiogc.sched.hooks import GCHooks

_get_running_loop = asyncio._get_running_loop
_set_running_loop = asyncio.events._set_running_loop
_current_tasks: dict[Any, Any] = asyncio.tasks._current_tasks  # type: ignore[attr-defined]
_CancelledError = asyncio.CancelledError

# What a P's step ended with (returned by Sched.run_slice).
STEP_RUNNING = 0  # still has work; reschedule at its clock
STEP_IDLE = 1  # found nothing: went idle
STEP_STOPPED = 2  # stopped for a stop-the-world
STEP_STW_WAIT = 3  # its G requested stop-the-world; waiting for the others
STEP_PANIC = 4  # a goroutine panicked: the run is over

RUNQGRAB_SLEEP_NS = 100_000  # runqgrab's usleep(100) before it takes a victim's runnext


class Retry(enum.Enum):
    """findrunnable's third outcome, besides a G and nothing: sleep ``RUNQGRAB_SLEEP_NS``, look again."""

    RETRY = "retry"


RETRY: Final = Retry.RETRY


#: The scheduler's costs and the Config fields they come from (``rescale``).
SCHED_COSTS: Final = (("c_switch", "cost_switch_ns"), ("c_go", "cost_go_ns"), ("c_ready", "cost_ready_ns"),
                      ("c_chan", "cost_chan_ns"), ("c_steal", "cost_steal_ns"), ("c_stw", "cost_stw_ns"))


class Sched:
    """Global scheduler state (Go's ``sched`` plus ``allp``) and the P trampoline."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        cfg = runtime.config
        self.config = cfg
        self.bus = runtime.bus
        self.rng = runtime.rng
        self.driver: Any = None  # set by the driver
        self.gomaxprocs = cfg.gomaxprocs
        self.allp = [P(i, self) for i in range(cfg.gomaxprocs)]
        self.gq: deque[G] = deque()  # the global run queue
        self.pidle: list[P] = []  # idle Ps (a stack, like Go's pidle list)
        self.nmspinning = 0
        self.allgs: dict[int, G] = {}
        self.goidgen = 0
        self.main_g: G | None = None
        self.panic: GoroutinePanic | None = None
        self.runnext_on = cfg.runnext
        self.steal_on = cfg.steal
        self.chaos = cfg.chaos  # Config.chaos: random yields (0: never, and no RNG draw)
        # Every switch through schedule()/execute()/gosched_impl() instead of their inlined copies
        # in run_slice (tests run the scenario suite both ways and require identical traces).
        self.slowpath = cfg.sched_slowpath
        # The collector, seen through the GC-hooks protocol (set when a collector is attached).
        self.gc: GCHooks | None = None
        self.gc_blacken_enabled = False
        # Stop-the-world state.
        self.gcwaiting = False
        self.stw_p: P | None = None  # the P whose G requested the stop
        self.stw_waiting = False  # requester still waiting for the others
        # forEachP: the Ps asked to run a safe-point function that have not yet run it.
        self.safe_point_wait = 0
        # Costs in the clock's unit (ns in virtual time; a switch counter in wall time).
        virtual = cfg.clock == "virtual"
        self.virtual = virtual
        self.c_switch = cfg.cost_switch_ns if virtual else 1
        self.c_go = cfg.cost_go_ns if virtual else 0
        self.c_ready = cfg.cost_ready_ns if virtual else 0
        self.c_chan = cfg.cost_chan_ns if virtual else 0
        self.c_steal = cfg.cost_steal_ns if virtual else 0
        self.c_stw = cfg.cost_stw_ns if virtual else 0
        # The host model's stretch of every cost (sched/host.py): DIL_ONE = full speed.  Only
        # ``rescale`` changes it, and only when Config.host_cpus is set.
        self.dil_num = DIL_ONE
        self.nsched = 0  # goroutine switches, for benchmarks and schedtrace
        self.in_callback = 0  # > 0 while a P runs asyncio callbacks or a timer fires (see ready)
        self.cbseq = 0  # asyncio callbacks ever queued on a P: their stamps (P.run_ready_callbacks)
        self.timerproc: Any = None  # Go's timerproc goroutine (sched/timers.py), made by the first sleep
        # The machine under the Ps (sched/host.py): off unless Config.host_cpus or host_stack_* is set.
        self.host = Host(self)

    def rescale(self, dil_num: int) -> None:
        """The host model (sched/host.py): the running Ps now go at DIL_ONE/dil_num of full speed;
        every modelled cost, here and in the collector, becomes its configured value times that
        stretch.  Virtual time only."""
        if not self.virtual or dil_num < DIL_ONE:
            raise Throw("rescale: a stretch must be >= 1, in virtual time")
        self.dil_num = dil_num
        stretch_costs(self, self.config, SCHED_COSTS, dil_num)
        if self.gc is not None:
            self.gc.rescale(dil_num)

    # ---- time --------------------------------------------------------------------------
    def now(self, p: P | None = None) -> int:
        return int(self.driver.now(p))

    # ---- where are we -------------------------------------------------------------------
    def cur_p(self) -> P | None:
        return CUR.p

    def cur_g(self) -> G:
        p = CUR.p
        if p is None or p.curg is None:
            raise NotInGoroutine("not inside an aiogc goroutine")
        return p.curg

    # ---- goroutine creation and readying --------------------------------------------------
    def newproc(self, coro: Any, p: P | None = None, *, system: bool = False, is_task: bool = False,
                label: str = "") -> G:
        """Models ``newproc``: a new G in the current P's ``runnext`` (old runnext to the tail).

        Called outside any goroutine (the main G, or a host-loop callback such as a
        server's connection callback), the G goes to the global queue instead, as
        Go's netpoller injects Gs.
        """
        if not asyncio.iscoroutine(coro):
            raise TypeError(f"go() needs a coroutine object, got {type(coro).__name__}")
        self.goidgen += 1
        g = G(self.goidgen, coro, system=system, is_task=is_task, label=label)
        g.status = RUNNABLE
        self.allgs[g.id] = g
        g.qseq = self.cbseq
        cur = self.cur_p()
        if cur is not None and cur.curg is not None and not self.in_callback:
            g._loop = cur
            runqput(cur, self.gq, g, self.runnext_on)
            cur.clock += self.c_go
            g.ready_ns = cur.clock if self.virtual else 0
            if self.bus.on:
                self.bus.emit(GoCreate(self.now(cur), cur.id, cur.curg.id, g.id))
        else:
            g._loop = cur if cur is not None else (p if p is not None else self.allp[0])
            self.gq.append(g)
            if self.bus.on:
                self.bus.emit(GoCreate(self.now(cur), cur.id if cur else -1, -1, g.id))
        self.wakep()
        return g

    def ready(self, g: G, val: Any = None, exc: BaseException | None = None) -> None:
        """Models ``ready``: make a parked G runnable in the current P's ``runnext``.

        ``val`` is what its ``park`` returns; ``exc`` is raised there instead.
        From a callback run on a P (``call_soon``: an asyncio future's done callback, run
        between goroutines) the G takes the callback's place in the P's run order (see
        ``P.run_ready_callbacks``: asyncio's ``Task.__wakeup`` steps the task inside that
        callback): into that P's ``runnext`` when a goroutine or another callback on a P
        queued the callback; into the global queue when it was injected -- a timer firing,
        a host-loop I/O completion, another thread -- as are the wake-ups a timer callback
        makes itself: those are Go's netpoller and timer wake-ups, which ``injectglist``
        (they do not take, nor kick, any P's ``runnext``).
        """
        if g.status != WAITING:
            raise Throw(f"bad g->status in ready: G{g.id} is {g.status}, want waiting")
        g.status = RUNNABLE
        g.wake_val = val
        g.wake_exc = exc
        g.parkinfo = None
        g.fut_waiter = None
        cur = self.cur_p()
        if cur is not None and not self.in_callback:
            g.qseq = self.cbseq
            runqput(cur, self.gq, g, self.runnext_on)
            cur.clock += self.c_ready
            g.ready_ns = cur.clock if self.virtual else self.now(cur)
            if self.bus.on:
                self.bus.emit(GoUnpark(self.now(cur), cur.id, cur.curg.id if cur.curg else -1, g.id))
        elif cur is not None and cur.cb_running >= 0 and not cur.cb_injected:
            # Readied by the callback P is running: the G takes the callback's place, so no
            # callback queued after that one runs before it (cb_limit).
            g.qseq = cur.cb_limit = cur.cb_running
            runqput(cur, self.gq, g, self.runnext_on)
            if cur.spinning:
                # A P woken to look for work found some in its own callbacks (Go's schedule()
                # throws on a spinning M with local work; findrunnable resets spinning first).
                self._stop_spinning(cur)
            cur.clock += self.c_ready
            g.ready_ns = cur.clock if self.virtual else self.now(cur)
            if self.bus.on:
                self.bus.emit(GoUnpark(self.now(cur), cur.id, -1, g.id))
        else:
            g.qseq = self.cbseq
            if cur is not None and cur.cb_running >= 0:  # an injected callback: in its place
                g.qseq = cur.cb_limit = cur.cb_running
            self.gq.append(g)
            if cur is not None:  # a callback run on a P: it pays for the wake-up
                cur.clock += self.c_ready
                g.ready_ns = self.now(cur)  # (a timer may fire on an idle P with a stale clock)
            else:
                g.ready_ns = self.now(None)
            if self.bus.on:
                self.bus.emit(GoUnpark(g.ready_ns, cur.id if cur is not None else -1, -1, g.id))
        self.wakep()

    def cancel_parked(self, g: G) -> None:
        """Deliver a CancelledError to a G parked on an aiogc primitive (asyncio cancellation)."""
        info = g.parkinfo
        if info is not None and hasattr(info, "cancel_waiter"):
            info.cancel_waiter(g)
        if g.status == WAITING and g.fut_waiter is None and g.parkinfo is not None:
            msg = g.cancel_msg
            g.must_cancel = False
            self.ready(g, exc=_CancelledError(msg) if msg is not None else _CancelledError())

    def wakep(self) -> None:
        """Models ``wakep``: if a P is idle and none is spinning, start one looking for work."""
        if self.pidle and self.nmspinning == 0 and not self.gcwaiting:
            p = self.pidle.pop()
            p.spinning = True
            self.nmspinning += 1
            self._start_idle_p(p)

    def wake_p(self, p: P) -> None:
        """A callback was queued on an idle P: start it so the callback runs."""
        if p.status == P_IDLE and p in self.pidle and not self.gcwaiting:
            self.pidle.remove(p)
            self._start_idle_p(p)

    def _start_idle_p(self, p: P) -> None:
        p.status = P_RUNNING
        now = self.driver.current_time()
        if self.virtual:
            if now > p.clock:
                p.t_idle += now - p.idle_since if p.idle_since else 0
                p.clock = now
        if self.bus.on:
            self.bus.emit(ProcStart(now, p.id, -1))
        self.driver.activate(p)

    def _go_idle(self, p: P) -> None:
        if p.safe_point_fn is not None:
            self.run_safe_point_fn(p)  # Go: a P entering _Pidle runs a pending safe-point function
        if p.spinning:
            p.spinning = False
            self.nmspinning -= 1
        p.status = P_IDLE
        p.idle_since = p.clock if self.virtual else self.now(p)
        self.pidle.append(p)
        if self.bus.on:
            self.bus.emit(ProcStop(self.now(p), p.id, -1))

    # ---- schedule ----------------------------------------------------------------------
    def schedule(self, p: P) -> tuple[G | Retry | None, bool]:
        """Models ``schedule``: GC worker, 1-in-61 global, runnext, ring, then findrunnable.

        Returns ``(g, inherit_time)``; ``g`` is None when the P should go idle, ``RETRY`` when it
        should sleep ``RUNQGRAB_SLEEP_NS`` and look again.  ``run_slice`` inlines the common case
        (no GC worker due, not a 61st tick) and is tied to this function by ``Config.sched_slowpath``.
        """
        # Every path that finds a G ends spinning (Go 1.5 calls resetspinning after each source);
        # a P left "spinning" while it runs a G blocks every later wakep.
        gc = self.gc
        if self.gc_blacken_enabled and gc is not None:
            g = gc.find_runnable_gc_worker(p)
            if g is not None:
                self._stop_spinning(p)
                return g, False
        if p.schedtick % 61 == 0 and self.gq:
            g = globrunqget(p, self.gq, self.gomaxprocs, 1)
            if g is not None:
                self._stop_spinning(p)
                return g, False
        g = p.runnext
        if g is not None:
            p.runnext = None
            self._stop_spinning(p)
            return g, True
        if p.runq:
            self._stop_spinning(p)
            return p.runq.popleft(), False
        return self.findrunnable(p)

    def findrunnable(self, p: P) -> tuple[G | Retry | None, bool]:
        """Models ``findrunnable`` without blocking: ``(None, False)`` idles the P.

        ``(RETRY, False)`` asks the caller to sleep ``RUNQGRAB_SLEEP_NS`` and call again: Go's
        ``usleep(100)`` in ``runqgrab`` before it steals a victim's ``runnext``, and Go's "check
        all runqueues once again" before idling when another P still has queued work.
        """
        g, inherit = runqget(p)
        if g is not None:
            return g, inherit
        if self.gq:
            g = globrunqget(p, self.gq, self.gomaxprocs, 0)
            if g is not None:
                self._stop_spinning(p)
                return g, False
        n = self.gomaxprocs
        if self.steal_on and n > 1:
            npidle = len(self.pidle)
            if p.spinning or 2 * self.nmspinning < n - npidle:
                if not p.spinning:
                    p.spinning = True
                    self.nmspinning += 1
                allp = self.allp
                tv = p.runnext_target
                if tv is not None:
                    # Back from runqgrab's sleep: take the victim's runnext if it is still the
                    # same G and its ring is still empty (Go's CAS on pp.runnext after usleep),
                    # else look around again.
                    victim, want = tv
                    p.runnext_target = None
                    if victim.runnext is want and not victim.runq:
                        g, k = runqsteal(p, victim, True)
                        if self.bus.on:
                            self.bus.emit(Steal(self.now(p), p.id, g.id, victim.id, k))
                        self._stop_spinning(p)
                        return g, False
                rand = self.rng.randrange
                tries = 4 * n
                for i in range(tries):
                    victim = allp[rand(n)]
                    if victim is p:
                        g, inherit = runqget(p)
                        if g is not None:
                            self._stop_spinning(p)
                            return g, inherit
                        continue
                    steal_next = i > 2 * n
                    if steal_next and not victim.runq and victim.runnext is not None \
                            and victim.runnext.status == RUNNABLE:
                        # Go sleeps 100 µs so the victim can run its own runnext first, then takes
                        # it if it is still there (above, on the next findrunnable).
                        p.runnext_target = (victim, victim.runnext)
                        p.clock += self.c_steal * (i + 1)
                        return RETRY, False
                    g, k = runqsteal(p, victim, False)
                    if g is not None:
                        p.clock += self.c_steal * (i + 1)
                        if self.bus.on:
                            self.bus.emit(Steal(self.now(p), p.id, g.id, victim.id, k))
                        self._stop_spinning(p)
                        return g, False
                p.clock += self.c_steal * tries
                # Go's last step before idling: "check all runqueues once again"; another P still
                # has queued work (the random victims missed it) -> look again instead of idling.
                if any(q is not p and (q.runq or q.runnext is not None) for q in allp):
                    return RETRY, False
        gc = self.gc
        if self.gc_blacken_enabled and gc is not None:
            g = gc.find_idle_gc_worker(p)
            if g is not None:
                self._stop_spinning(p)
                return g, False
        return None, False

    def execute(self, p: P, g: G, inherit: bool) -> None:
        """Models ``execute``: ``g`` becomes running on ``p``; a new time slice unless it inherits one.

        A G taken from ``runnext`` inherits the current slice (``schedtick`` unchanged), so sysmon
        measures the slice from its start.  ``run_slice`` inlines this (the hot path of every
        switch) and is tied to it by ``Config.sched_slowpath``.
        """
        if g.status != RUNNABLE:
            raise Throw(f"execute: bad g status {g.status} for G{g.id}")
        if self.virtual and g.ready_ns > p.clock:
            # Causality: a G cannot start before it became runnable (it may have been readied
            # or yielded on a P whose clock is ahead of this one's).
            p.t_idle += g.ready_ns - p.clock
            p.clock = g.ready_ns
        g.status = RUNNING
        g.preempt = False
        g.p = p
        p.curg = g
        if not inherit:
            p.schedtick += 1
            p.slice_start = p.clock
        p.clock += self.c_switch
        self.nsched += 1
        _current_tasks[p] = g
        if self.bus.on:
            self.bus.emit(GoStart(self.now(p), p.id, g.id, g.label))

    def _stop_spinning(self, p: P) -> None:
        """Models ``resetspinning``: the last spinning P that found work wakes another."""
        if p.spinning:
            p.spinning = False
            self.nmspinning -= 1
            if self.nmspinning == 0:
                self.wakep()


    def _leave(self, p: P) -> None:
        # asyncio's current task for this P is overwritten by the next execute (a stale entry
        # between goroutines is harmless: no asyncio Task ever runs on a P).
        p.curg = None

    # ---- the trampoline -------------------------------------------------------------------
    def run_slice(self, p: P) -> int:
        """Run P until its clock reaches the driver's ``limit`` or it has nothing to do.

        The heart of the model: resume ``curg`` with ``coro.send``, act on the trap
        it yields, pick the next G with ``schedule``.  Returns a ``STEP_*`` code.
        Invariant on return with STEP_RUNNING: P is P_RUNNING and either has a
        ``curg`` stopped at a safe point or will call ``schedule`` next step.
        """
        drv = self.driver
        bus = self.bus
        gq = self.gq
        virtual = self.virtual
        c_switch = self.c_switch
        chaos = self.chaos
        slow = self.slowpath
        prev_loop = _get_running_loop()
        prev_p = CUR.p
        _set_running_loop(p)
        CUR.p = p
        g: G | Retry | None
        try:
            while True:
                g = p.curg
                if g is None:
                    if p.status == P_DEAD:
                        # Removed by procresize: its last goroutine (the resizer) has left for the
                        # global queue; wake a P to run it (Go hands the resizer's M allp[0]).
                        if gq:
                            self.wakep()
                        return STEP_STOPPED
                    if p.ready_cbs:
                        p.run_ready_callbacks()
                        if self.panic is not None:
                            return STEP_PANIC
                    if self.gcwaiting and p is not self.stw_p:
                        return self._stop_for_stw(p)
                    if p.safe_point_fn is not None:
                        self.run_safe_point_fn(p)  # schedule()'s runSafePointFn, before it picks a G
                    # schedule(), with its common case (no GC worker due, not a 61st tick)
                    # inlined: this is the hot path of every goroutine switch.  The inlined
                    # copy must do exactly what schedule() does (sched_slowpath tests it).
                    if slow or self.gc_blacken_enabled or (gq and p.schedtick % 61 == 0):
                        g, inherit = self.schedule(p)
                    else:
                        g = p.runnext
                        if g is not None:
                            p.runnext = None
                            inherit = True
                        elif p.runq:
                            g = p.runq.popleft()
                            inherit = False
                        elif gq:
                            # findrunnable's global-queue step, inlined (gosched's round trip);
                            # globrunqget of a one-G queue takes just that G.
                            g = gq.popleft() if len(gq) == 1 else globrunqget(p, gq, self.gomaxprocs, 0)
                            inherit = False
                            if p.spinning:
                                self._stop_spinning(p)
                        else:
                            g, inherit = self.findrunnable(p)
                    if g is None or g is RETRY:
                        if p.ready_cbs:
                            continue  # callbacks queued more callbacks: run them before idling
                        if g is RETRY:  # findrunnable asked to sleep, then look again
                            p.clock += RUNQGRAB_SLEEP_NS if virtual else 0
                            return STEP_RUNNING
                        self._go_idle(p)
                        return STEP_IDLE
                    if slow:
                        self.execute(p, g, inherit)
                    else:
                        # execute(), inlined (the hot path of every goroutine switch): the G becomes
                        # running on P; a new time slice (schedtick++) unless it inherits the current
                        # one (taken from runnext).
                        if g.status != RUNNABLE:
                            raise Throw(f"execute: bad g status {g.status} for G{g.id}")
                        if virtual and g.ready_ns > p.clock:
                            # Causality: a G cannot start before it became runnable (it may have been
                            # readied or yielded on a P whose clock is ahead of this one's).
                            p.t_idle += g.ready_ns - p.clock
                            p.clock = g.ready_ns
                        g.status = RUNNING
                        g.preempt = False
                        g.p = p
                        p.curg = g
                        if not inherit:
                            p.schedtick += 1
                            p.slice_start = p.clock
                        p.clock += c_switch
                        self.nsched += 1
                        _current_tasks[p] = g
                        if bus.on:
                            bus.emit(GoStart(self.now(p), p.id, g.id, g.label))
                    if p.clock >= drv.limit:
                        return STEP_RUNNING  # with the next G in hand (see the end of the loop)
                    if chaos and not g.system and self.rng.random() < chaos:
                        self._preempt(p, g)  # Config.chaos: a random yield before it resumes
                        continue
                elif g.locks:
                    pass  # not preemptible now: resume it whatever is pending
                elif self.gcwaiting and p is not self.stw_p:
                    # stopTheWorld's preemptall: a mutator stops at this safe point and goes to
                    # the global queue (gopreempt_m); a system G (mark worker) is asked to stop
                    # and parks by itself.
                    if not g.system:
                        self._preempt(p, g)
                        continue
                    g.preempt = True
                elif g.preempt and not g.system:
                    self._preempt(p, g)
                    continue
                elif chaos and not g.system and self.rng.random() < chaos:
                    self._preempt(p, g)  # Config.chaos: a random yield before this resumption
                    continue
                # Resume the goroutine.
                coro = g.coro
                try:
                    if g.context is not None:
                        trap = g.context.run(_resume, g)  # an asyncio task: runs in its own Context
                    elif g.must_cancel and not g.locks:  # cancellation waits out a locked section
                        g.must_cancel = False
                        msg = g.cancel_msg
                        trap = coro.throw(_CancelledError(msg) if msg is not None else _CancelledError())
                    elif g.wake_exc is not None:
                        exc = g.wake_exc
                        g.wake_exc = None
                        trap = coro.throw(exc)
                    else:
                        val = g.wake_val
                        if val is not None:
                            g.wake_val = None
                        trap = coro.send(val)
                except StopIteration as e:
                    self._goexit(p, g, e.value, None)
                    if self.panic is not None:
                        return STEP_PANIC
                    continue
                except BaseException as e:  # noqa: BLE001 - every goroutine exception is a panic or a task result
                    self._goexit(p, g, None, e)
                    if self.panic is not None:
                        return STEP_PANIC
                    continue
                # Act on the trap (most frequent first).
                if trap is SAFEPOINT:
                    if g.preempt and not g.system and not g.locks:
                        self._preempt(p, g)
                    elif not virtual:
                        # Wall time: the clock counts steps; a safe point is one, so a G that only
                        # computes still ends the driver's batch (host I/O, sysmon's retake run).
                        p.clock += 1
                elif trap is GOSCHED or trap is None:
                    if slow:
                        self.gosched_impl(p, g)
                    else:
                        # gosched_impl, inlined: running -> runnable, to the global queue tail.
                        g.status = RUNNABLE
                        g.ready_ns = p.clock
                        g.qseq = self.cbseq
                        p.curg = None
                        gq.append(g)
                        if bus.on:
                            bus.emit(GoSched(self.now(p), p.id, g.id))
                elif trap is TICK:
                    pass
                elif trap is PARK:
                    g.status = WAITING
                    p.curg = None
                    if bus.on:
                        bus.emit(GoPark(self.now(p), p.id, g.id, g.waitreason))
                elif trap is STW:
                    if not self._stw_begin(p):
                        return STEP_STW_WAIT
                elif getattr(trap, "_asyncio_future_blocking", None) is not None:
                    self._park_on_future(p, g, trap)
                else:
                    g.wake_exc = RuntimeError(
                        f"goroutine G{g.id} yielded {trap!r}: only aiogc awaitables and asyncio futures may be awaited")
                # A step ends with a G in hand: if this G just left the P (gosched, park), the P
                # first picks its next G (the check after execute above), so no other P sees this
                # P's queues in the instant between the two — as in Go, where schedule() follows
                # goschedImpl/park_m directly on the same M.
                if p.clock >= drv.limit and p.curg is not None:
                    return STEP_RUNNING
        finally:
            _set_running_loop(prev_loop)
            CUR.p = prev_p

    def gosched_impl(self, p: P, g: G) -> None:
        """Models ``goschedImpl`` (``Gosched``): running -> runnable, to the global queue tail.

        ``run_slice`` inlines it for the GOSCHED trap, tied to it by ``Config.sched_slowpath``.
        """
        self._to_global_queue(p, g)
        if self.bus.on:
            self.bus.emit(GoSched(self.now(p), p.id, g.id))

    def _preempt(self, p: P, g: G) -> None:
        """Models ``gopreempt_m``: ``goschedImpl`` for a preempted G (a ``GoPreempt`` event)."""
        g.preempt = False
        self._to_global_queue(p, g)
        if self.bus.on:
            self.bus.emit(GoPreempt(self.now(p), p.id, g.id))

    def _to_global_queue(self, p: P, g: G) -> None:
        """``goschedImpl``'s body: running -> runnable, off ``p``, to the global queue tail."""
        g.status = RUNNABLE
        g.ready_ns = p.clock
        g.qseq = self.cbseq
        self._leave(p)
        self.gq.append(g)

    def _park_on_future(self, p: P, g: G, fut: Any) -> None:
        """The G awaits an asyncio future (or another G): park until it is done."""
        if not fut._asyncio_future_blocking:
            g.wake_exc = RuntimeError(f"yield was used instead of yield from in G{g.id} with {fut!r}")
            return
        fut._asyncio_future_blocking = False
        if fut is g:
            g.wake_exc = RuntimeError(f"G{g.id} cannot await itself")
            return
        g.status = WAITING
        g.waitreason = "future"
        g.fut_waiter = fut
        self._leave(p)
        fut.add_done_callback(_FutWake(self, g))
        if g.must_cancel and fut.cancel(msg=g.cancel_msg):
            g.must_cancel = False
        if self.bus.on:
            self.bus.emit(GoPark(self.now(p), p.id, g.id, "future"))

    def _goexit(self, p: P, g: G, result: Any, exc: BaseException | None) -> None:
        """Models ``goexit0``: the G is dead; a raising goroutine is a panic (tasks keep it)."""
        self._leave(p)
        del self.allgs[g.id]
        if self.bus.on:
            self.bus.emit(GoEnd(self.now(p), p.id, g.id))
        if exc is None:
            g._finish(result)
            return
        if isinstance(exc, _CancelledError) and (g.is_task or g.num_cancels > 0):
            g.cancelled_exc = exc  # its message (and context chain) reach whoever awaits the G
            g.cancel_msg = exc.args[0] if exc.args else None
            g._finish(cancelled=True)
            return
        if g.is_task and not isinstance(exc, KeyboardInterrupt | SystemExit):
            g._finish(exc=exc)  # as asyncio's Task.__step: any other BaseException is the task's result
            return
        tb = "".join(traceback.format_exception(exc))
        g.traceback_text = tb
        g._finish(exc=exc)
        if self.panic is None:
            panic = GoroutinePanic(g.id, exc, tb)
            panic.__cause__ = exc
            self.panic = panic

    def preemptall(self, me: P) -> list[tuple[P, G]]:
        """Models ``preemptall`` as ``forEachP`` calls it: ask the G running on every other P to stop.

        A mutator stops at its next safe point and goes to the global queue (``gopreempt_m``),
        which breaks a producer/consumer pair's hold on its P's ``runnext``; a mark worker polls
        the flag and stops draining.  Returns the (P, mutator G) pairs asked, for the caller's
        wait (``Collector._for_each_p``).
        """
        asked: list[tuple[P, G]] = []
        for q in self.allp:
            g = q.curg
            if q is not me and q.status == P_RUNNING and g is not None:
                g.preempt = True
                if not g.system:
                    asked.append((q, g))
        return asked

    def run_safe_point_fn(self, p: P) -> None:
        """Models ``runSafePointFn``: run the function ``forEachP`` asked of ``p``, then count ``p``
        off ``safe_point_wait`` (the caller waits for 0; Go's last P does ``notewakeup``)."""
        fn = p.safe_point_fn
        if fn is None:
            raise Throw("runSafePointFn: no safe point function pending")
        p.safe_point_fn = None
        fn(p)
        self.safe_point_wait -= 1
        if self.safe_point_wait < 0:
            raise Throw("runSafePointFn: safePointWait < 0")

    # ---- stop the world -------------------------------------------------------------------
    def _stw_begin(self, p: P) -> bool:
        """The G on ``p`` asked to stop the world.  True if every other P is already stopped."""
        if self.gcwaiting:
            raise Throw("stopTheWorld: already stopping")
        self.gcwaiting = True
        self.stw_p = p
        if self.bus.on:
            self.bus.emit(STWStart(self.now(p), p.id, p.curg.id if p.curg else -1))
        if self._all_others_stopped(p):
            p.clock += self.c_stw
            return True
        self.stw_waiting = True
        return False

    def _all_others_stopped(self, req: P) -> bool:
        return all(q is req or q.status != P_RUNNING for q in self.allp)

    def _stop_for_stw(self, p: P) -> int:
        p.status = P_GCSTOP
        if self.stw_waiting and self._all_others_stopped(self.stw_p):  # type: ignore[arg-type]
            req = self.stw_p
            assert req is not None
            t = max(q.clock for q in self.allp)
            req.clock = t + self.c_stw
            self.stw_waiting = False
            self.driver.activate(req)
        return STEP_STOPPED

    def start_the_world(self) -> None:
        """Models ``startTheWorld``: every stopped P resumes at the requester's time."""
        req = self.stw_p
        if not self.gcwaiting or req is None:
            raise Throw("startTheWorld: world not stopped")
        self.gcwaiting = False
        self.stw_p = None
        req.clock += self.c_stw
        t = req.clock
        if self.bus.on:
            self.bus.emit(STWEnd(self.now(req), req.id, -1))
        self.driver.sysmon.wake(t)  # startTheWorld: notewakeup(&sched.sysmonnote)
        for q in self.allp:
            if q.status == P_GCSTOP:
                q.status = P_RUNNING
                if self.virtual and q.clock < t:
                    q.clock = t
                self.driver.activate(q)
            elif q.status == P_IDLE and q.ready_cbs:
                self.wake_p(q)
        if self.gq or any(q.runq or q.runnext for q in self.allp):
            self.wakep()

    # ---- deadlock -------------------------------------------------------------------------
    def waiting_user_goroutines(self) -> list[G]:
        return [g for g in self.allgs.values() if not g.system and g.status == WAITING]

    def close_all(self) -> None:
        """End of run: close every goroutine's coroutine (Go kills them when main returns)."""
        for g in list(self.allgs.values()):
            try:
                g.coro.close()
            except BaseException:  # noqa: BLE001 - a goroutine that refuses to die is dropped anyway
                pass
            g.status = DEAD
        self.allgs.clear()
        for p in self.allp:
            _current_tasks.pop(p, None)


def _resume(g: G) -> Any:
    """Resume ``g`` once (the trampoline's three cases, above, inlined there): for a G that runs
    in a ``contextvars.Context`` (a task, as asyncio's run each step in theirs)."""
    coro = g.coro
    if g.must_cancel and not g.locks:
        g.must_cancel = False
        msg = g.cancel_msg
        return coro.throw(_CancelledError(msg) if msg is not None else _CancelledError())
    if g.wake_exc is not None:
        exc = g.wake_exc
        g.wake_exc = None
        return coro.throw(exc)
    val = g.wake_val
    g.wake_val = None
    return coro.send(val)


class _FutWake(DirectWake):
    """Done callback that readies a G parked on a future (runs on the future's loop)."""

    __slots__ = ("sched", "g")

    def __init__(self, sched: Sched, g: G) -> None:
        self.sched = sched
        self.g = g

    def __call__(self, fut: Any) -> None:
        g = self.g
        if g.status == WAITING and g.fut_waiter is fut:
            self.sched.ready(g)
