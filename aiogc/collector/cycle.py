"""The GC cycle: the coordinator goroutine, bgMarkSignal, and the collector's global state.

Models mgc.go's ``backgroundgc``/``gc(mode)``/``bgMarkSignal`` at the seed commit
(500c88d4, July 2015).  One cycle, run by the coordinator — an ordinary (system)
goroutine that any delay of an ordinary goroutine delays too:

  1. sweep termination, world stopped: reset mark state, ``startCycle`` (goal,
     workers, assist ratio), write barrier on (phase "scan");
  2. world started; concurrent root scan by the coordinator: globals and every
     goroutine's stack are greyed (assists and workers are not yet enabled,
     as at the seed);
  3. phase "mark"; ``gcBlackenEnabled = 1``: assists and background workers
     blacken; the coordinator parks in ``bgMark1.wait()``;
  4. mark 1 complete: the coordinator — readied by whoever called
     ``complete()`` first, into *that* P's ``runnext`` — re-scans the globals and
     flushes every P's grey cache; if grey work remains, mark 2 (allocate black,
     no caching) and ``bgMark2.wait()``;
  5. mark termination, world stopped: ``endCycle`` (the trigger controller),
     re-scan every goroutine's stack (see roots.py: shared Python containers have no
     write barrier), drain to
     completion, checkmark (GODEBUG=gccheckmark=1), heap statistics and the
     next trigger, sweep, world started, the cycle's record published (``GCDone``: gctrace
     and the other observers are subscribers, in aiogc.trace).

``complete()`` takes effect once per phase.  Completion ("no grey objects
anywhere and nobody marking") is checked by every marker when it stops
marking: an assist, a background worker, or (go1.5) the scheduler when it
looks for a mark worker and finds neither work nor markers.

``Config.go_commit`` selects the point of the July 2015 series (default the seed
exactly); the later changes are switches: ``yield_after_assist`` (500c88d4),
``assist_policy="retry"`` (8f34b253), ``no_worker_after_complete`` and
``sched_complete`` (64a32ffe: both signals start done and each is cleared just
before its wait; mark 2 always waited for; the scheduler completes a phase it
finds without work or markers), ``assist_in_scan`` (510fd135: blackening enabled
for assists from the scan phase).  At the seed two things can hang a cycle, in
real Go as in the model (docs/realgo.md): a dedicated worker (GOMAXPROCS >= 4)
that completed mark 1 is restarted by ``schedule()`` ahead of the coordinator in
its own P's ``runnext`` until another P idles and steals it; and a phase with no
grey object is completed by nobody while no marker runs (no assist debt, no
dedicated worker, no idle P).

Departures, each a choice for a single-threaded model:
  * completion is Go's (no marker active, global lists empty; see
    ``mark_done_now``): per-P caches are flushed by the coordinator after mark 1,
    and mark 2 caches nothing, so when mark 2 completes no grey is left anywhere;
  * the sweep runs inside the mark-termination pause and is not charged to it
    (Go sweeps concurrently and lazily);
  * ``aiogc.gc()`` under GOGC=off still collects (as later Go does; Go 1.5's
    ``runtime.GC()`` did nothing under GOGC=off); it runs Go's
    ``gcForceBlockMode``: the whole mark with the world stopped.
"""

from __future__ import annotations

import gc as pygc
import types
from collections import deque
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from aiogc.collector.assist import gc_assist_alloc
from aiogc.collector.heap import Heap, Ref
from aiogc.collector.mark import Marker
from aiogc.collector.pacer import PacerState, fake_first_cycle_marked, heap_goal
from aiogc.collector.roots import RootScanner, python_held_ids
from aiogc.collector.sizeclass import _CLASS_BY_8, CLASS_NPAGES, PAGE_SIZE, SIZE_CLASSES, round_size
from aiogc.collector.work import CycleWork
from aiogc.collector.workers import ensure_workers, find_idle_gc_worker, find_runnable_gc_worker
from aiogc.errors import Throw
from aiogc.sched.g import DEAD, WAITING, G
from aiogc.sched.host import stretch_costs
from aiogc.sched.p import P_GCSTOP, P_IDLE, P_RUNNING, P, current_p
from aiogc.sched.sched import Sched
from aiogc.sched.timers import RuntimeTimer, timerproc
from aiogc.sched.traps import GOSCHED, SAFEPOINT, park_trap, safepoint_trap, stw_trap
from aiogc.trace.events import (
    GCComplete,
    GCCoordWake,
    GCDone,
    GCPacerEnd,
    GCPacerStart,
    GCPhase,
    GCStart,
    HeapAlloc,
    SafePointFn,
)
from aiogc.trace.metrics import CycleStats, GCStats, MemStats

if TYPE_CHECKING:
    from aiogc.runtime import Runtime

# gcphase values (Go's _GCoff ... _GCmarktermination).
GC_OFF = "off"
GC_SCAN = "scan"
GC_MARK = "mark"
GC_MARKTERM = "marktermination"
GC_SWEEPTERM = "sweepterm"

STACKS_PER_SAFEPOINT = 64  # root scan yields to the other Ps every this many stacks


class MarkSignal:
    """Go's ``bgMarkSignal``: ``done`` once per phase, the parked coordinator, ``wake``.

    Invariant: ``complete`` has an effect only for the first caller after ``clear``.
    """

    __slots__ = ("name", "done", "g", "wake", "complete_ns", "complete_p", "who", "alloc_at", "latency_ns")

    def __init__(self, name: int) -> None:
        self.name = name
        self.clear()

    def clear(self) -> None:
        self.done = False
        self.g: G | None = None
        self.wake = False
        self.complete_ns = -1
        self.complete_p = -1
        self.who = ""
        self.alloc_at = 0
        self.latency_ns = -1


#: How often ``forEachP``'s caller looks whether the other Ps have passed their safe point (it
#: sleeps until the last one wakes it; 1 µs bounds the model's late wake-up).
FOREACHP_POLL_NS = 1_000

#: The collector's costs and the Config fields they come from (``Collector.rescale``).
COLLECTOR_COSTS = (("c_alloc", "cost_alloc_ns"), ("c_alloc_slow", "cost_alloc_slow_ns"),
                   ("c_alloc_kib", "cost_alloc_kib_ns"), ("c_wb", "cost_wb_ns"), ("c_word", "cost_scan_word_ns"),
                   ("c_roots", "cost_root_scan_ns"), ("c_span_walk", "cost_span_walk_ns"),
                   ("c_page_fault", "cost_page_fault_ns"))

#: gcController.reviseTimer's period at the seed (10 ms): how often the assist ratio is revised.
REVISE_PERIOD_NS = 10_000_000

#: ``recordspan``'s first ``h_allspans`` array: 64 KiB of pointers; each growth is 3/2.
ALLSPANS_MIN_CAP = 64 * 1024 // 8


class Collector:
    """All GC state of one runtime; see the module docstring."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        cfg = rt.config
        self.config = cfg
        self.sched: Sched = rt.sched
        self.bus = rt.bus
        self.heap = Heap()
        self.marker = Marker(self.heap, cfg.workbuf_size, dispose_to_full=cfg.dispose_to_full)
        self.pacer = PacerState(gogc=cfg.gogc, gomaxprocs=cfg.gomaxprocs, heap_minimum_base=cfg.heap_minimum,
                                sweep_distance_floor=cfg.sweep_distance_floor)
        self.stats = GCStats()
        self.globals: dict[str, Any] = {}
        self.phase = GC_OFF
        self.blacken_promptly = False
        self.alloc_black = False
        self.nactive = 0  # markers marking now (Go: nproc - nwait)
        self.working = False  # a background cycle is running (bggc.working)
        self.cycle_busy = False  # worldsema: some cycle (background or forced) is running
        self.cycle_waiters: list[G] = []
        self.coord_g: G | None = None
        self.bg_mark1 = MarkSignal(1)
        self.bg_mark2 = MarkSignal(2)
        self.assist_queue: deque[list[Any]] = deque()  # [g, debt] (Go 1.6's work.assistQueue)
        self.worker_mode: dict[int, str] = {}
        # The clock service (see aiogc.sched.drivers): the collector never asks which clock runs.
        # Per-allocation and per-pointer-write hot paths add these costs to p.clock inline.
        clock = rt.driver
        self.clock = clock
        self.c_alloc = clock.cost(cfg.cost_alloc_ns)
        self.c_alloc_slow = clock.cost(cfg.cost_alloc_slow_ns)
        self.c_alloc_kib = clock.cost(cfg.cost_alloc_kib_ns)
        self.c_wb = clock.cost(cfg.cost_wb_ns)
        self.c_word = clock.cost(cfg.cost_scan_word_ns)
        # markroot's non-stack jobs per pass (data, bss, finalizers, span specials, mcache flush):
        # charged once in the scan phase and once in mark termination (config.py: calibrated).
        self.c_roots = clock.cost(cfg.cost_root_scan_ns)
        self.c_span_walk = clock.cost(cfg.cost_span_walk_ns)
        self.c_page_fault = clock.cost(cfg.cost_page_fault_ns)
        # An h_allspans growth runs at a whole CPU's speed: the other Ps sleep on mheap_.lock meanwhile
        # (_grow_allspans), so its costs are not in COLLECTOR_COSTS and the host model never stretches them.
        self.c_grow_page = clock.cost(cfg.cost_sysalloc_page_ns)
        self.c_typedmemmove = clock.cost(cfg.cost_typedmemmove_ns)
        self.cfg = cfg
        # gcController.reviseTimer: at the seed the assist ratio is revised at cycle start and then
        # every 10 ms by a runtime timer, which timerproc runs (sched/timers.py) -- unless
        # Config.revise_on_alloc (1fb01a88) revises it at every allocation that can assist.
        self.revise_on_alloc = cfg.revise_on_alloc
        self.revise_timer: RuntimeTimer | None = None
        self.allspans_cap = 0  # h_allspans' capacity, in spans (see _grow_allspans)
        # Virtual time until which a P growing h_allspans holds the heap lock (see _grow_allspans).
        self.heap_lock_until = 0
        self.allspans_cap_bytes = 0  # the heap size it covers
        self.span_walk_cached = cfg.span_walk_cached
        self.debug = cfg.debug
        self.numgc = 0
        self.last_gc_ns = 0
        self.t0 = 0
        self.work: CycleWork | None = None  # the running cycle's record
        self._run_slice_code = Sched.run_slice.__code__
        # Objects per span, per size class, for the mcache fast/slow path split.
        self.span_objs = [max(1, (CLASS_NPAGES[i] * PAGE_SIZE) // SIZE_CLASSES[i]) if SIZE_CLASSES[i] else 1
                          for i in range(len(SIZE_CLASSES))]
        self.heap.shade = self._shade
        for p in self.sched.allp:
            self.init_p(p)
        self.sched.gc = self

    # ---- the GC hooks the scheduler calls (aiogc.sched.hooks.GCHooks) ---------------------------
    def rescale(self, dil_num: int) -> None:
        """GCHooks.rescale: the host model stretched every cost by dil_num / DIL_ONE (virtual time)."""
        stretch_costs(self, self.cfg, COLLECTOR_COSTS, dil_num)

    def init_p(self, p: P) -> None:
        """A P's GC state: its grey cache (Go's p.gcw) and its mcache span counts."""
        p.gcw = self.marker.new_gcw()
        p.mcache = [0] * len(SIZE_CLASSES)

    def destroy_p(self, p: P) -> None:
        """``procresize`` removed ``p`` (between cycles): its parked background mark worker exits."""
        w = p.mark_worker
        if w is not None:
            if w.status != WAITING:
                raise Throw("procresize: a mark worker is active outside a GC cycle")
            w.status = DEAD
            w.coro.close()
            self.sched.allgs.pop(w.id, None)
            p.mark_worker = None

    def procresize(self, n: int) -> None:
        """GOMAXPROCS is now ``n``: the pacer's dedicated/fractional worker split follows it."""
        self.pacer.gomaxprocs = n

    # ---- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self.t0 = self.sched.now(None)

    def finish(self) -> None:
        self.sched.gc_blacken_enabled = False
        self.heap.close()  # a Ref used after the run raises RuntimeEnded

    def now(self, p: P | None = None) -> int:
        """Runtime time as code running on ``p`` sees it (the clock service; virtual or wall)."""
        return self.clock.now(p)

    async def _for_each_p(self, p: P, fn: Callable[[P], None]) -> P:
        """Models ``forEachP(fn)``: every P runs ``fn`` at a safe point before the caller goes on.

        As Go's: every other P is asked (``runSafePointFn``) and its running goroutine preempted
        (``preemptall``: a mutator goes to the global queue at its next safe point); an idle P's
        ``fn`` is run by the caller, the caller's own P runs it next, and each other P runs it at
        its next ``schedule()`` (``Sched.run_safe_point_fn``) — so a P's ``gcw`` is flushed at
        the instant it stops, not when the caller looks, and what that P does next (a mark
        worker started by the same ``schedule()`` taking the flushed buffer) comes before the
        caller's decision.  The caller meanwhile sleeps (``notetsleep`` on ``safePointNote``,
        holding its P) until the last P to answer wakes it, here in steps of
        ``FOREACHP_POLL_NS``; the host model may stall that wake-up.  Returns the caller's P.
        """
        sched = self.sched
        if sched.safe_point_wait:
            raise Throw("forEachP: sched.safePointWait != 0")
        asked = [q for q in sched.allp if q is not p and q.status == P_RUNNING]
        for q in asked:
            q.safe_point_fn = fn
        sched.safe_point_wait = len(asked)
        sched.preemptall(p)
        # An idle P runs nothing, so the caller runs fn on its behalf; then on its own P.
        for q in sched.allp:
            if q.status == P_IDLE:
                fn(q)
        fn(p)
        wait = sched.safe_point_wait > 0
        while sched.safe_point_wait > 0:
            self.clock.charge(p, FOREACHP_POLL_NS)
            await safepoint_trap()
            p = current_p()
        if any(q.safe_point_fn is not None for q in sched.allp):
            raise Throw("forEachP: P did not run fn")
        if wait and sched.host.wakeup_stall(p, "forEachP"):
            await safepoint_trap()  # the other Ps run up to the stalled caller's clock first
            p = current_p()
        return p

    def _safe_point_barrier(self, p: P) -> None:
        """``forEachP(func(*p) {})``: the write barrier's ragged barrier asks nothing of a P."""
        if self.bus.on:
            self._emit_safe_point(p, "barrier", 0)

    def _safe_point_dispose(self, p: P) -> None:
        """``forEachP(func(_p_ *p) { _p_.gcw.dispose() })``: flush the P's grey cache to the lists."""
        gcw = p.gcw
        flushed = len(gcw.wbuf) if gcw.wbuf is not None else 0
        gcw.dispose()
        if self.bus.on:
            self._emit_safe_point(p, "dispose", flushed)

    def _emit_safe_point(self, p: P, what: str, flushed: int) -> None:
        g = p.curg
        self.bus.emit(SafePointFn(self.now(p), p.id, g.id if g is not None else -1, what, flushed))

    def _grow_allspans(self, p: P) -> None:
        """Models ``recordspan`` outgrowing ``h_allspans``: a new array, 3/2 the capacity (64 KiB of
        pointers at first), from ``sysAlloc``; the old one is copied into it and the new span appended.

        The allocating goroutine pays it inside ``mallocgc`` with no preemption point, holding the
        heap lock (``recordspan`` runs under ``mheap_.lock``, in ``mHeap_AllocSpanLocked``).  Until it
        is done every other P waits at its next span refill (``heap_lock_until``, ``mallocgc``), so the
        growth stops all the mutators, as the data show it did in real Go (docs/realgo.md, A′: "How
        real Go's lock-ins end").  With the others asleep on the lock it runs at a whole CPU's speed,
        so the host model does not stretch it.  It costs:

        * the new array's first ``8 * (len + 1)`` bytes, which the copy and the append touch: per
          4 KiB a page fault, and the ``sysFree`` of a page of the old array (``cost_sysalloc_page_ns``,
          measured; the rest of the new array faults in one page per 512 later spans, left out);
        * the copy.  ``copy(new, h_allspans)`` copies a slice of pointers, which Go 1.5 compiles into
          ``typedslicecopy``: while the write barrier is on (the scan, mark and mark termination
          phases, so in every lock-in) that calls ``typedmemmove`` once per element
          (``cost_typedmemmove_ns`` each, measured, config.py), and with it off it is one
          ``memmove`` (0.2 ns per element on the same machine, left out).  So a growth in a mark
          phase costs 6 ns per span struct.

        In a mark phase that is 4.4 ms at the 3.60 GiB boundary, 6.6 at 5.41, 9.9 at 8.11, 14.9 at
        12.16 and 22.3 ms at 18.25 GiB, as measured as a whole on the machine.  The first array
        (64 KiB) is free: Go makes it for the runtime's own first spans, in ``mallocinit`` and
        ``schedinit``, before ``main`` runs.  Departures: a heap that jumps past several capacities at
        once (one huge object) pays each growth in turn; and the ``sysFree`` (0.3 of the 1.7 µs a
        page) is charged at every growth, where Go skips it for the array ``gcCopySpans`` cached at
        the last mark termination (``h.allspans == mheap_.gcspans``: the first growth after it), so
        such a growth is charged 0.3 µs a page too much (0.3 ms at 3.60 GiB, 1.4 ms at 18.25).
        """
        need = self.heap.nspan()
        cap = self.allspans_cap
        stall = 0
        while cap < need:
            old = cap
            cap = max(ALLSPANS_MIN_CAP, cap * 3 // 2)
            if old == 0:
                continue  # the first array: made for the runtime's own first spans, before main runs
            stall += -(-(old + 1) * 8 // 4096) * self.c_grow_page
            if self.heap.wb_enabled:
                stall += old * self.c_typedmemmove
        self.allspans_cap = cap
        self.allspans_cap_bytes = cap * PAGE_SIZE
        if stall:  # 0 in wall time: the real copy takes real time
            p.clock += stall
            self.heap_lock_until = p.clock  # mheap_.lock is released when the copy is done

    def span_walk(self, p: P, walks: int) -> None:
        """Charge ``walks`` walks over ``h_allspans`` to ``p`` (config.py: ``cost_span_walk_ns``).

        Go 1.5 walks every span struct it ever made in ``finishsweep_m`` (sweep termination),
        markroot's ``_RootSpans`` (the scan, and mark termination again) and ``gcSweep``'s
        pages-to-sweep count, with the world stopped or on the coordinator.  The list never
        shrinks, so a heap that once grew to GBs makes every later cycle's sweep termination,
        scan and mark termination milliseconds long, while the mutators allocate unassisted
        in the first two: one overshoot feeds the next (docs/realgo.md, "Calibration").
        """
        n = self.heap.nspan() - self.span_walk_cached
        if n > 0:
            self.clock.charge(p, walks * n * self.c_span_walk)

    # ---- the write barrier ------------------------------------------------------------------
    def _shade(self, obj: int) -> None:
        """Models ``writebarrierptr``'s ``shade``: grey the new pointee into this P's gcw."""
        p = self.sched.cur_p()
        if p is None:
            gcw = self.sched.allp[0].gcw
        else:
            p.clock += self.c_wb
            gcw = p.gcw
        self.marker.shade(obj, gcw)
        if self.blacken_promptly or self.phase == GC_MARKTERM:
            gcw.dispose()

    # ---- allocation: mallocgc ----------------------------------------------------------------
    @types.coroutine
    def mallocgc(self, p: P, g: G, size: int, nptrs: int) -> Generator[Any, Any, Ref]:
        """Models ``mallocgc``'s GC half: allocate, then trigger a cycle or assist.

        The trigger and the assist are only evaluated on the slow path (a span
        refill for the size class, or a large object), as in Go 1.5; the bytes
        count towards the assist debt on every allocation.
        """
        heap = self.heap
        sched = self.sched
        if size <= 32768:
            cls = _CLASS_BY_8[(size + 7) >> 3]  # sizeclass.size_class / round_size, inlined
            rsize = SIZE_CLASSES[cls] if size else 0
        else:
            cls = 0
            rsize = round_size(size)
        obj = heap.alloc_rounded(rsize, nptrs, self.alloc_black)
        # The Ref must exist before any yield below: this frame's locals are a root while
        # the goroutine is suspended in an assist (a bare id would let the object be swept).
        ref = Ref(heap, obj, heap._gen_v[obj])
        if nptrs:
            self.pacer.heap_scan += nptrs << 3  # scannable bytes allocated since the last GC
        mc = p.mcache
        if self.c_alloc_kib:
            p.clock += (rsize * self.c_alloc_kib) >> 10  # memclr and heap bits, per KiB (config.py)
        if cls and mc[cls] > 0:
            mc[cls] -= 1
            slow = False
            p.clock += self.c_alloc
        else:
            if cls:
                mc[cls] = self.span_objs[cls] - 1
            slow = True
            if p.clock < self.heap_lock_until:
                # A refill needs mheap_.lock while another P grows h_allspans under it: lock()
                # spins, then sleeps in the kernel until the holder's unlock wakes it.
                p.t_idle += self.heap_lock_until - p.clock
                p.clock = self.heap_lock_until
            p.clock += self.c_alloc + self.c_alloc_slow
        if heap.heap_live > heap.peak_live:
            # The heap grew past its peak: mHeap_Grow mapped fresh memory, and the allocating
            # goroutine's first touch of each 4 KiB page faults (config.py: cost_page_fault_ns).
            # Charged per object, to the P that allocates it.
            fresh = heap.heap_live - heap.peak_live
            p.clock += ((fresh if fresh < rsize else rsize) * self.c_page_fault) >> 12
            heap.peak_live = heap.heap_live
            if heap.peak_live > self.allspans_cap_bytes:
                self._grow_allspans(p)
        if slow:
            if self.bus.on:
                self.bus.emit(HeapAlloc(self.now(p), p.id, g.id, heap.heap_live, self.pacer.next_gc,
                                        self.pacer.heap_goal))
            if (self.phase == GC_OFF and not self.working and self.pacer.gogc is not None
                    and heap.heap_live >= self.pacer.next_gc):
                self.start_gc(p)
                yield GOSCHED  # startGC: let the coordinator run at once
            elif sched.gc_blacken_enabled:
                if self.revise_on_alloc:
                    self.pacer.revise(heap.heap_live)  # 1fb01a88; the series: reviseTimer (_gc)
                yield from gc_assist_alloc(self, p, g, rsize, True)  # an async def: CO_ITERABLE_COROUTINE
        elif sched.gc_blacken_enabled:
            g.gcalloc += rsize
        if p.clock >= sched.driver.limit or g.preempt:
            yield SAFEPOINT
        return ref

    # ---- starting a cycle ----------------------------------------------------------------------
    def start_gc(self, p: P) -> None:
        """Models ``startGC(gcBackgroundMode)``: start or ready the coordinator (it takes runnext)."""
        self.working = True
        if self.coord_g is None:
            self.coord_g = self.sched.newproc(self._coordinator(), p, system=True, label="GC coordinator")
        elif self.coord_g.status == WAITING:
            self.sched.ready(self.coord_g)

    async def _coordinator(self) -> None:
        """Models ``backgroundgc``: run a cycle, then park until the next trigger."""
        sched = self.sched
        while True:
            await self.gc_cycle(forced=False)
            self.working = False
            g = sched.cur_g()
            g.waitreason = "Concurrent GC wait"
            await park_trap()

    async def gc_forced(self) -> None:
        """``runtime.GC()``: wait for any running cycle, then a full stop-the-world cycle.

        The caller cannot be cancelled half-way (an ``asyncio.timeout`` around ``aiogc.gc()``):
        a cycle abandoned with the world stopped would stop it for good.  As in Go, where the
        collection runs on the system stack, the cancellation is delivered after the cycle.
        """
        g = self.sched.cur_g()
        g.locks += 1
        try:
            await self.gc_cycle(forced=True)
        finally:
            g.locks -= 1
        if not g.locks and (g.must_cancel or g.preempt):
            # Go's releasem: a preemption sysmon requested while the cycle held the G is re-armed
            # when m.locks drops to 0 and taken at the next call's prologue.  Without this a
            # goroutine looping on runtime.GC() is never preempted and starves every other one.
            await safepoint_trap()  # deliver the deferred cancellation or preemption now

    # ---- worldsema ---------------------------------------------------------------------------------
    async def acquire_worldsema(self) -> None:
        """``semacquire(&worldsema)``: wait until no GC cycle (nor GOMAXPROCS change) is running."""
        sched = self.sched
        while self.cycle_busy:
            g = sched.cur_g()
            self.cycle_waiters.append(g)
            g.waitreason = "semacquire"
            await park_trap()
        self.cycle_busy = True

    def release_worldsema(self) -> None:
        """``semrelease(&worldsema)``: wake every waiter (each re-checks; one wins)."""
        self.cycle_busy = False
        ws, self.cycle_waiters = self.cycle_waiters, []
        for g in ws:
            if g.status == WAITING:
                self.sched.ready(g)

    # ---- the cycle ------------------------------------------------------------------------------------
    async def gc_cycle(self, forced: bool) -> None:
        """Models ``gc(mode)`` at the seed (see the module docstring for the steps)."""
        await self.acquire_worldsema()
        try:
            await self._gc(forced)
        finally:
            self.release_worldsema()

    async def _gc(self, forced: bool) -> None:
        sched = self.sched
        heap = self.heap
        pacer = self.pacer
        marker = self.marker
        bus = self.bus
        p = current_p()
        self._ensure_workers()
        t_sweepterm = self.now(p)
        work = CycleWork(forced=forced, t_sweepterm=t_sweepterm, heap0=heap.heap_live, trigger=pacer.next_gc)
        self.work = work
        self.phase = GC_SWEEPTERM
        if bus.on:
            bus.emit(GCStart(self.now(p), p.id, -1, self.numgc + 1, pacer.next_gc, heap.heap_live, forced))
            bus.emit(GCPhase(self.now(p), p.id, -1, GC_SWEEPTERM))
        # 5. Stop the world for sweep termination.  First a safe point: a stop request is a
        # global state change, so Ps started meanwhile (start_the_world's wakep after the last
        # cycle) catch up to this instant before it.  Without it a goroutine looping on
        # aiogc.gc() stops the world again before a woken P ever looks at the global queue.
        await safepoint_trap()
        await stw_trap()
        p = current_p()
        # Sweeping finished at the previous mark termination (see departures); finishsweep_m
        # still walks every span to check it.
        self.span_walk(p, 1)
        marker.reset()
        for q in sched.allp:
            q.gcw.wbuf = None
            q.gcw.bytes_marked = 0
            q.gcw.scan_work = 0
        for g in sched.allgs.values():  # gcResetGState
            g.gcalloc = 0
            g.gcscanwork = 0
        self.nactive = 0
        self.bg_mark1.clear()
        self.bg_mark2.clear()
        start_line = pacer.start_cycle(heap.heap_live, self.now(p))
        if not forced and not self.revise_on_alloc:
            # startCycle: addtimer(&c.reviseTimer), period 10 ms.
            t = RuntimeTimer(pacer.revise, self.now(p) + REVISE_PERIOD_NS, REVISE_PERIOD_NS)
            timerproc(sched).addtimer(p, t)
            self.revise_timer = t
        work.goal = pacer.heap_goal if not forced else heap.heap_live
        work.trigger_ratio = pacer.trigger_ratio
        if bus.on:
            bus.emit(GCPacerStart(self.now(p), p.id, -1, forced=forced, **start_line))
        # 7. Write barrier on.
        self._set_phase(GC_SCAN, p)
        if forced:
            work.t_scan = work.t_installwb = work.t_mark = self.now(p)
            await self._mark_termination(p, work, forced=True)
            return
        cfg = self.config
        if cfg.assist_in_scan:
            # 510fd135: gcBgMarkPrepare and gcBlackenEnabled before the scan, with the world still
            # stopped: assists (and idle workers) may blacken during the scan.
            self._bg_mark_prepare(p)
            sched.gc_blacken_enabled = True
        woke = any(q is not p and q.status == P_GCSTOP for q in sched.allp)
        sched.start_the_world()
        p = current_p()
        work.t_scan = t_scan = self.now(p)
        work.stw_ns += t_scan - t_sweepterm
        # startTheWorldWithSema woke the other Ps' Ms; the host's OS may stack one on this CPU
        # (sched/host.py), and the scan then waits while the other Ps run, unpaced.
        if woke and sched.host.wakeup_stall(p, "startTheWorld"):
            await safepoint_trap()
            p = current_p()
        # 8. Concurrent root scan by the coordinator.
        await self._scan_roots(p)
        p = current_p()
        work.t_installwb = self.now(p)
        # 9-11. Mark phase: the write barrier's ragged barrier, forEachP(func(*p) {}), whose
        # preemptall sends the goroutine running on every other P to the global queue; then
        # blackening on.
        self._set_phase(GC_MARK, p)
        p = await self._for_each_p(p, self._safe_point_barrier)
        if cfg.assist_in_scan:
            pacer.bg_mark_start_ns = self.now(p)  # 510fd135: workers' utilisation is timed from here
        else:
            self._bg_mark_prepare(p)
            sched.gc_blacken_enabled = True
        work.t_mark = self.now(p)
        for _ in range(len(sched.pidle)):
            sched.wakep()  # idle Ps may run idle-priority mark workers
        # 12. Wait for mark 1 (64a32ffe: clear the signal just before, so workers may start now).
        if cfg.no_worker_after_complete:
            self.bg_mark1.clear()
        await self._wait(self.bg_mark1)
        await safepoint_trap()  # the other Ps catch up to the coordinator's resumption (preemptall)
        p = current_p()
        # 13. Re-scan globals, flush every P's cache to the global lists: forEachP(gcw.dispose),
        # whose preemptall again sends every other P's goroutine to the global queue.
        scanner = RootScanner(heap)
        scanner.scan_globals(self.globals)
        marker.mark_roots(scanner.out, p.gcw)
        self.clock.charge(p, scanner.words * self.c_word)
        p = await self._for_each_p(p, self._safe_point_dispose)
        # 14. Mark 2 if work remains (64a32ffe: always, the scheduler completing it if no
        # marker is left; the seed's check is racy: a worker started for mark 1 may still be
        # marking and complete mark 2 early, as 64a32ffe's message says).
        if cfg.no_worker_after_complete or not marker.global_empty():
            work.mark2 = True
            self.blacken_promptly = True
            self.alloc_black = True
            if cfg.no_worker_after_complete:
                self.bg_mark2.clear()
            if bus.on:
                bus.emit(GCPhase(self.now(p), p.id, -1, "mark2"))
            await self._wait(self.bg_mark2)
            p = current_p()
        else:
            self.bg_mark2.done = True
        await self._mark_termination(p, work, forced=False)

    def _bg_mark_prepare(self, p: P) -> None:
        """Models ``gcBgMarkPrepare``: no marker active; the mark signals cleared (the seed) or
        both set "done" (64a32ffe: no background worker may start until a wait clears one)."""
        self.nactive = 0
        done = self.config.no_worker_after_complete
        self.bg_mark1.done = done
        self.bg_mark2.done = done
        self.pacer.bg_mark_prepare(self.now(p))
        self.worker_mode.clear()

    def _set_phase(self, phase: str, p: P) -> None:
        self.phase = phase
        self.heap.wb_enabled = phase in (GC_SCAN, GC_MARK, GC_MARKTERM)
        self.alloc_black = self.blacken_promptly or phase == GC_MARKTERM
        if self.bus.on:
            self.bus.emit(GCPhase(self.now(p), p.id, -1, phase))

    async def _wait(self, sig: MarkSignal) -> None:
        """Models ``bgMarkSignal.wait``: park unless completion already happened."""
        g = self.sched.cur_g()
        if not sig.wake:
            sig.g = g
            g.waitreason = "mark wait (idle)"
            await park_trap()
        p = current_p()
        now = self.now(p)
        if sig.complete_ns >= 0:
            sig.latency_ns = max(0, now - sig.complete_ns)
        else:
            sig.latency_ns = 0
        if self.bus.on:
            self.bus.emit(GCCoordWake(self.now(p), p.id, g.id, sig.name, sig.latency_ns, sig.complete_p, sig.who,
                                      self.heap.total_alloc - sig.alloc_at))
        sig.wake = False
        sig.g = None

    def complete(self, sig: MarkSignal, p: P, who: str) -> bool:
        """Models ``bgMarkSignal.complete``: the first caller readies the coordinator on *its* P."""
        if sig.done:
            return False
        sig.done = True
        sig.complete_ns = self.now(p)
        sig.complete_p = p.id
        sig.who = who
        sig.alloc_at = self.heap.total_alloc
        if self.bus.on:
            self.bus.emit(GCComplete(self.now(p), p.id, p.curg.id if p.curg else -1, sig.name, who))
        if sig.g is None:
            sig.wake = True
        else:
            self.sched.ready(sig.g)
        return True

    def phase_signal(self) -> MarkSignal:
        if self.blacken_promptly:
            if not self.bg_mark1.done:
                raise Throw("completing mark 2 before mark 1")
            return self.bg_mark2
        return self.bg_mark1

    def gc_mark_done(self, p: P, who: str) -> bool:
        """A marker stopped marking: if the phase's work is done, complete it; True if it was done.

        Models the completion check every marker makes when it stops (``gcMarkDone``'s entry in
        go1.5; at the seed, the ``work.nwait == work.nproc && !gcMarkWorkAvailable`` test before
        ``bgMark1.complete()``/``bgMark2.complete()``).  Only the first caller's ``complete``
        takes effect (``MarkSignal``); ``who`` is "assist" or "worker".
        """
        if not self.mark_done_now():
            return False
        self.complete(self.phase_signal(), p, who)
        return True

    def mark_done_now(self) -> bool:
        """The completion condition of Go 1.5: nobody marking (``nwait == nproc``) and the
        global work lists empty.

        Per-P grey caches are deliberately *not* part of the check, as at the seed: a P
        may still cache a partial buffer (greyed by its write barriers, or left by an
        assist whose budget ran out).  That is why the coordinator flushes every cache
        after mark 1 and runs mark 2, during which nothing is cached (every shade and
        every drain disposes at once), so mark 2's completion means no grey anywhere.
        Mark termination drains whatever is left with the world stopped.
        """
        return self.nactive == 0 and self.marker.global_empty()

    async def _scan_roots(self, p: P) -> None:
        """Models ``gcscan_m``: grey every root, one goroutine at a time, concurrently."""
        heap = self.heap
        marker = self.marker
        scanner = RootScanner(heap)
        scanner.scan_globals(self.globals)
        self.clock.charge(p, self.c_roots)
        self.span_walk(p, 1)  # markroot(_RootSpans)
        me = self.sched.cur_g()
        gs = list(self.sched.allgs.values())
        for i, g in enumerate(gs):
            if g.status == DEAD:  # died meanwhile
                continue
            scanner.scan_goroutine(g, self._run_slice_code, running=g is me)
            if (i + 1) % STACKS_PER_SAFEPOINT == 0:
                marker.mark_roots(scanner.out, p.gcw)
                self.clock.charge(p, scanner.words * self.c_word)
                marker.scan_work += scanner.words * 8
                scanner.out.clear()
                scanner.words = 0
                await safepoint_trap()
                p = current_p()
        marker.mark_roots(scanner.out, p.gcw)
        self.clock.charge(p, scanner.words * self.c_word)
        marker.scan_work += scanner.words * 8  # the issue: stack scanning costs scan work
        p.gcw.dispose()
        # Let the other Ps catch up to the end of the scan before the coordinator enables
        # blackening: a global state change must not become visible "before" it happens.
        await safepoint_trap()

    async def _mark_termination(self, p: P, work: CycleWork, forced: bool) -> None:
        sched = self.sched
        heap = self.heap
        pacer = self.pacer
        marker = self.marker
        work.t_markterm = t_markterm = self.now(p)
        if not forced:
            await stw_trap()
            p = current_p()
        for q in sched.allp:
            q.gcw.dispose()
        work.heap1 = heap1 = heap.heap_live
        if not forced:
            pacer.scan_work = marker.scan_work  # W_a: every P's gcw was just disposed
            if self.revise_timer is not None:
                timerproc(sched).deltimer(self.revise_timer)  # endCycle: deltimer(&c.reviseTimer)
                self.revise_timer = None
            end_line = pacer.end_cycle(heap1, self.now(p))
            if self.bus.on:
                self.bus.emit(GCPacerEnd(self.now(p), p.id, -1, **end_line))
        sched.gc_blacken_enabled = False
        self.blacken_promptly = False
        self._set_phase(GC_MARKTERM, p)
        # gcMark: re-scan the globals and every stack; drain everything.
        me = sched.cur_g()
        scanner = RootScanner(heap)
        scanner.scan_globals(self.globals)
        for g in list(sched.allgs.values()):
            # Every stack (see roots.py: shared Python containers have no write barrier).
            scanner.scan_goroutine(g, self._run_slice_code, running=g is me)
        gcw = p.gcw
        marker.mark_roots(scanner.out, gcw)
        # The safety net (heap.py, "The live-handle table"): with the world stopped, grey every
        # object a live Python Ref still names that the stack scans did not reach (a running
        # frame's evaluation stack, a C container...).  Each one is charged as one root word,
        # what a stack scan that had seen it would have cost.  After this, the drain below
        # blackens everything they reach, so sweep frees no object Python can still load.
        self.clock.charge(p, self.c_roots)
        self.span_walk(p, 2)  # markroot(_RootSpans) and gcSweep's count of the pages to sweep
        held = heap.held_unmarked()
        if held.size:
            # A Ref the scans did not reach may be in unreachable Python garbage that CPython's
            # cyclic collector has not freed yet (a cycle through a Ref's holder).  When that
            # collector runs depends on the interpreter's whole allocation history (an event
            # subscriber's records, the host), not on the program: greying such objects would
            # make the run depend on it.  So collect first: then the table counts exactly the
            # Refs Python can still reach, a function of the program's state alone.
            pygc.collect()
            held = heap.held_unmarked()
        if held.size:
            marker.mark_roots(held.tolist(), gcw)
        drained = marker.drain(gcw, None)
        gcw.dispose()
        self.clock.charge(p, (scanner.words * 8 + int(held.size) * 8 + drained) // 8 * self.c_word)
        marker.check_no_work(q.gcw for q in sched.allp)
        if self.debug.get("gccheckmark"):
            # Roots re-found independently of the table: the stacks and globals, plus every
            # Ref object CPython tracks (which also catches a Ref to an already freed object).
            roots = RootScanner(heap)
            roots.scan_globals(self.globals)
            for g in list(sched.allgs.values()):
                roots.scan_goroutine(g, self._run_slice_code, running=g is me)
            marker.checkmark(roots.out + python_held_ids(heap))
        bytes_marked = heap.bytes_marked
        pacer.set_heap_stats_after_mark(bytes_marked, heap.heap_live, marker.scan_work)
        heap.set_heap_live(bytes_marked)
        self._set_phase(GC_OFF, p)
        self.alloc_black = False
        heap.sweep()
        for q in sched.allp:
            q.mcache = [0] * len(SIZE_CLASSES)
        # Wake assists parked on the queue (Go 1.6's gcWakeAllAssists).
        while self.assist_queue:
            g, _ = self.assist_queue.popleft()
            if g.status == WAITING:
                sched.ready(g)
        self.numgc += 1
        t_end = self.now(p) + sched.c_stw
        work.t_end = t_end
        stw_term = t_end - t_markterm if not forced else t_end - work.t_sweepterm
        work.stw_ns += stw_term
        self.stats.pause_total_ns += work.stw_ns if not forced else stw_term
        woke = any(q is not p and q.status == P_GCSTOP for q in sched.allp)
        sched.start_the_world()
        p = current_p()
        self.last_gc_ns = t_end
        self._record_cycle(p, work)
        if woke and sched.host.wakeup_stall(p, "startTheWorld"):
            await safepoint_trap()  # the cycle is over; only this P's queue waits

    def _record_cycle(self, p: P, work: CycleWork) -> None:
        """The cycle's ``CycleStats`` (``runtime.stats.cycles``) and the ``GCDone`` event.

        gctrace's line is formatted from the event by ``aiogc.trace.gctrace.GCTrace``.
        """
        pacer = self.pacer
        heap = self.heap
        gmp = self.sched.gomaxprocs
        forced = work.forced
        goal = work.goal
        heap1 = work.heap1
        work.heap2 = heap.heap_live
        last = self.bg_mark2 if work.mark2 else self.bg_mark1
        lat = max(self.bg_mark1.latency_ns, self.bg_mark2.latency_ns if work.mark2 else -1, 0)
        if forced:
            completed_by = "forced"
            alloc_after = 0
            lat = 0
        else:
            completed_by = "assist" if last.who == "assist" else "worker"
            alloc_after = max(0, heap.total_alloc - last.alloc_at) if last.complete_ns >= 0 else 0
        mark_dur = max(0, work.t_markterm - work.t_mark)
        bg = pacer.dedicated_mark_time_ns + pacer.fractional_mark_time_ns
        assist = pacer.assist_time_ns
        frac = (assist + bg) / (mark_dur * gmp) if mark_dur > 0 else 0.0
        stw = work.stw_ns
        cs = CycleStats(
            n=self.numgc, start_ns=work.t_sweepterm, end_ns=work.t_end,
            heap_trigger=work.trigger, heap_goal=goal, heap_at_mark_term=heap1,
            heap_live_after=heap.heap_live,
            overshoot=(heap1 - goal) / goal if goal > 0 else 0.0,
            coordinator_latency_ns=lat, completed_by=completed_by, alloc_after_complete=alloc_after,
            assist_ns=assist, bg_mark_ns=bg, idle_mark_ns=pacer.idle_mark_time_ns, stw_ns=stw,
            gc_cpu_fraction=frac, mark_duration_ns=mark_dur, heap_start=work.heap0,
            trigger_ratio=work.trigger_ratio, forced=forced, mark2=work.mark2,
            gomaxprocs=gmp, scan_work=self.marker.scan_work,
            clk_sweepterm_ns=work.t_scan - work.t_sweepterm if not forced else 0,
            clk_scan_ns=work.t_installwb - work.t_scan, clk_installwb_ns=work.t_mark - work.t_installwb,
            clk_markterm_ns=work.t_end - work.t_markterm if not forced else work.t_end - work.t_sweepterm,
        )
        self.stats.cycles.append(cs)
        self.stats.gc_cpu_ns += assist + bg + stw * gmp
        if self.bus.on:
            self.bus.emit(GCDone(self.now(p), p.id, -1, cs, work, self.t0, self.stats.gc_cpu_ns))
        self.work = None

    # ---- workers -----------------------------------------------------------------------------------
    def _ensure_workers(self) -> None:
        ensure_workers(self)

    def find_runnable_gc_worker(self, p: P) -> G | None:
        return find_runnable_gc_worker(self, p)

    def find_idle_gc_worker(self, p: P) -> G | None:
        return find_idle_gc_worker(self, p)

    # ---- background credit -----------------------------------------------------------------------------
    def flush_bg_credit(self, work: int) -> None:
        """Add background scan work to ``bg_scan_credit``; with the "queue" policy it first
        pays the assists parked on the assist queue (Go 1.6's ``gcFlushBgCredit``)."""
        q = self.assist_queue
        while q and work > 0:
            ent = q[0]
            g, debt = ent
            if g.status != WAITING:
                q.popleft()
                continue
            if work >= debt:
                work -= debt
                g.gcscanwork += debt
                q.popleft()
                self.sched.ready(g)
            else:
                ent[1] = debt - work
                g.gcscanwork += work
                work = 0
        self.pacer.bg_scan_credit += work

    def next_heap_goal(self) -> int:
        """The goal the next cycle will compute at its start (startCycle, incl. the small-heap fake)."""
        pacer = self.pacer
        r = pacer.heap_reachable
        if pacer.gogc is not None and pacer.next_gc <= pacer.heap_minimum:
            r = fake_first_cycle_marked(pacer.next_gc, pacer.trigger_ratio)
        goal = heap_goal(r, pacer.gogc)
        if pacer.gogc is not None and goal < pacer.heap_minimum:
            goal = pacer.heap_minimum  # the floor start_cycle applies (see PacerState.start_cycle)
        return goal

    # ---- read-outs ------------------------------------------------------------------------------------
    def read_mem_stats(self) -> MemStats:
        heap = self.heap
        pacer = self.pacer
        now = self.sched.now(None)
        total = max(1, (now - self.t0) * self.sched.gomaxprocs)
        return MemStats(
            heap_alloc=heap.heap_alloc, heap_live=heap.heap_live, heap_marked=pacer.heap_marked,
            # Between cycles: the goal the next cycle will aim at; during one: its goal.
            heap_goal=pacer.heap_goal if self.phase != GC_OFF else self.next_heap_goal(),
            next_gc=pacer.next_gc, num_gc=self.numgc,
            pause_total_ns=self.stats.pause_total_ns, gc_cpu_fraction=self.stats.gc_cpu_ns / total,
            heap_objects=heap.nobjects, total_alloc=heap.total_alloc, mallocs=heap.nmalloc,
            frees=heap.nfree, last_gc_ns=self.last_gc_ns,
        )

