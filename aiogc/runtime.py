"""The Runtime: one scheduler, one driver, one heap and collector, one seeded RNG, one event bus.

``Runtime(config).run(coro)`` runs ``coro`` as the main goroutine and returns its
result when it returns (other goroutines are then abandoned, as when Go's
``main`` returns).  A panicking goroutine stops the run with ``GoroutinePanic``;
a program whose goroutines are all parked with nothing to wake them raises
``Deadlock``.

The module-level functions (``go``, ``gosched``, ``compute``...) find the runtime
through the running P (``asyncio.get_running_loop()`` inside a goroutine).
"""

from __future__ import annotations

import asyncio
import random
import sys
import threading
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, overload

from aiogc.collector.cycle import Collector
from aiogc.collector.heap import MAX_ALLOC, Ref, Weak
from aiogc.config import MAX_GOMAXPROCS, Config
from aiogc.errors import NotInGoroutine, RuntimeMisuse
from aiogc.sched.drivers import VirtualDriver, WallDriver
from aiogc.sched.g import G
from aiogc.sched.host import DIL_ONE, DIL_SHIFT
from aiogc.sched.p import CUR, P_DEAD, P
from aiogc.sched.procresize import procresize
from aiogc.sched.sched import Sched
from aiogc.sched.traps import SAFEPOINT, gosched_trap, safepoint_trap, stw_trap
from aiogc.trace.events import EventBus
from aiogc.trace.metrics import GCStats

if TYPE_CHECKING:
    from aiogc.collector.heap import Ref
    from aiogc.trace.metrics import MemStats


class Runtime:
    """One executable Go runtime (see module docstring)."""

    def __init__(self, config: Config | None = None, **fields: Any) -> None:
        self.config = Config.make(config, **fields)
        self.rng = random.Random(self.config.seed)
        self.bus = EventBus()
        self.sched = Sched(self)
        self.driver: VirtualDriver | WallDriver
        if self.config.clock == "virtual":
            self.driver = VirtualDriver(self.sched)
        else:
            self.driver = WallDriver(self.sched)
        self.loop_errors: list[dict[str, Any]] = []
        #: asyncio's ``loop.set_exception_handler``: called as ``handler(loop, context)`` for errors in
        #: callbacks run on a P (the Ps and an ``aiogc.loop.Loop`` share it); None = report on stderr.
        self.exception_handler: Callable[[Any, dict[str, Any]], object] | None = None
        self._started = False
        self._closed = False
        self.result: Any = None
        self.gc = Collector(self)
        self._attach_observers()

    def _attach_observers(self) -> None:
        """GODEBUG's tracers, each a subscriber to the event bus (the model never prints)."""
        dbg = self.config.debug
        if dbg.get("gcpacertrace"):
            from aiogc.trace.pacertrace import PacerTrace

            self.bus.subscribe(PacerTrace())
        if dbg.get("gctrace"):
            from aiogc.trace.gctrace import GCTrace

            self.bus.subscribe(GCTrace())
        if dbg.get("schedtrace"):
            from aiogc.trace.schedtrace import SchedTrace

            SchedTrace(self, dbg["schedtrace"], dbg.get("scheddetail", 0)).install()

    @property
    def stats(self) -> GCStats:
        """The collector's published measurements (``stats.cycles``: one ``CycleStats`` per cycle)."""
        return self.gc.stats

    def report_loop_exception(self, context: dict[str, Any], loop: Any = None) -> None:
        """asyncio's exception handler for callbacks run on a P: keep, and say on stderr
        (or call the handler set with ``loop.set_exception_handler``)."""
        self.loop_errors.append(context)
        if self.exception_handler is not None:
            self.exception_handler(loop, context)
            return
        print(f"aiogc: {context.get('message', 'error in callback')}: {context.get('exception')!r}",
              file=sys.stderr)

    def _start(self, coro: Coroutine[Any, Any, Any]) -> G:
        if self._started:
            raise RuntimeMisuse("a Runtime runs one program; make a new Runtime")
        if CUR.p is not None:
            raise RuntimeMisuse("aiogc.run() inside a goroutine: one runtime runs at a time per process "
                                "(start the work with aiogc.go() instead)")
        if not asyncio.iscoroutine(coro):
            raise TypeError(f"run() needs a coroutine object, got {type(coro).__name__}")
        g = self.sched.newproc(coro, label="main")
        self._begin(g)
        return g

    def _begin(self, main_g: G) -> None:
        """The program starts: ``main_g`` is goroutine 1 (an event loop's first task)."""
        self._started = True
        self.sched.main_g = main_g
        self.gc.start()

    # ---- context manager: ``with Runtime(...) as rt`` / ``async with`` ----------------------------
    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Runtime:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Abandon whatever still runs (Go's exit): close every goroutine's coroutine.  Idempotent;
        ``run`` does it itself when main returns."""
        if self._started and not self._closed:
            self._finish()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` as the main goroutine; return its result."""
        if CUR.p is not None:
            if asyncio.iscoroutine(coro):
                coro.close()
            raise RuntimeMisuse("aiogc.run() inside a goroutine: one runtime runs at a time per process "
                                "(start the work with aiogc.go() instead)")
        if self.config.clock == "wall":
            host: asyncio.AbstractEventLoop
            try:
                import uvloop

                host = uvloop.new_event_loop()
            except ImportError:
                host = asyncio.new_event_loop()
            try:
                return host.run_until_complete(self.run_async(coro))
            finally:
                host.close()
        main_g = self._start(coro)
        try:
            assert isinstance(self.driver, VirtualDriver)
            self.driver.run(main_g)
            self.result = main_g.result()
            return self.result
        finally:
            self._finish()

    async def run_async(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run inside an already running asyncio program.

        Wall time: the Ps are multiplexed on the running (host) loop, next to its own tasks.
        Virtual time: the simulation runs to completion on a thread of its own (it owns no
        host resources and never waits for real time) while the host loop keeps running; the
        awaiting task gets its result.  Cancelling that task abandons the program, as killing
        a Go process does: the run stops at its next event, every goroutine's coroutine is
        closed (their ``finally`` blocks run, on the run's thread), and the cancellation
        reaches the awaiter only once the thread has ended.  (A goroutine inside a single
        step -- a Python loop that never awaits -- cannot be interrupted: the thread ends
        when that step does.)
        """
        if not isinstance(self.driver, WallDriver):
            if self._started:
                if asyncio.iscoroutine(coro):
                    coro.close()
                raise RuntimeMisuse("a Runtime runs one program; make a new Runtime")
            return await self._run_on_thread(coro)
        main_g = self._start(coro)
        try:
            await self.driver.run(main_g)
            self.result = main_g.result()
            return self.result
        finally:
            self._finish()

    async def _run_on_thread(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """``run_async`` in virtual time: ``run(coro)`` on a thread; cancellation abandons it."""
        loop = asyncio.get_running_loop()
        result = loop.create_future()
        ended = loop.create_future()

        def settle(fut: asyncio.Future[Any], value: Any, exc: BaseException | None) -> None:
            if fut.done():
                return  # the awaiter was cancelled: nobody wants the run's outcome
            if exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(value)

        def work() -> None:
            value: Any = None
            exc: BaseException | None = None
            try:
                value = self.run(coro)
            except BaseException as e:  # noqa: BLE001 - handed to the awaiting task
                exc = e
            try:
                loop.call_soon_threadsafe(settle, result, value, exc)
                loop.call_soon_threadsafe(settle, ended, None, None)
            except RuntimeError:
                pass  # the host loop is closed: nobody is left to tell

        thread = threading.Thread(target=work, name="aiogc-virtual-run", daemon=True)
        thread.start()
        try:
            return await result
        except asyncio.CancelledError:
            if not ended.done():
                assert isinstance(self.driver, VirtualDriver)
                self.driver.abandon()
                # Wait for the thread to close the goroutines and end; a second cancellation
                # does not cut that short (the cleanup is bounded: the next event stops the run).
                while not ended.done():
                    try:
                        await asyncio.shield(ended)
                    except asyncio.CancelledError:
                        continue
            thread.join()
            raise

    def _finish(self) -> None:
        self._closed = True
        self.gc.finish()
        self.sched.close_all()
        drv = self.driver
        if isinstance(drv, VirtualDriver) and drv.default_executor is not None:
            # run_in_executor's threads: queued jobs are dropped, running ones end on their own.
            drv.default_executor.shutdown(wait=False, cancel_futures=True)
            drv.default_executor = None

    def now_ns(self) -> int:
        return self.sched.now(None)


# ---- module-level API (inside goroutines) -----------------------------------------------------------
def _p() -> P:
    p = CUR.p
    if p is None or p.curg is None:
        raise NotInGoroutine("this aiogc call must be made inside a goroutine (aiogc.run(main()))")
    return p


def current_runtime() -> Runtime:
    return _p().sched.runtime


def current_g() -> G:
    """The running goroutine (``getg()``)."""
    g = _p().curg
    assert g is not None
    return g


def current_p() -> P:
    """The P running the calling goroutine; the same object as ``asyncio.get_running_loop()``."""
    return _p()


def go(coro: Coroutine[Any, Any, Any], *, name: str = "") -> G:
    """The ``go`` statement (``newproc``): start ``coro`` as a goroutine in this P's runnext."""
    p = _p()
    return p.sched.newproc(coro, p, label=name)


def gosched() -> Awaitable[None]:
    """``runtime.Gosched()``: yield the P; this G goes to the global queue tail."""
    if CUR.p is None:
        raise NotInGoroutine("gosched() must be awaited inside an aiogc goroutine")
    return gosched_trap()


@types.coroutine
def _compute(p: P, ns: int) -> Generator[Any, Any, None]:
    sched = p.sched
    if sched.virtual:
        if sched.dil_num != DIL_ONE:
            ns = ns * sched.dil_num >> DIL_SHIFT  # the host model's stretch (sched/host.py)
        p.clock += ns
        p.t_mutator += ns
    else:
        import time

        end = time.perf_counter_ns() + ns
        while time.perf_counter_ns() < end:
            pass
    yield SAFEPOINT


def compute(ns: int) -> Awaitable[None]:
    """Modelled CPU work of ``ns`` nanoseconds; a safe point (sysmon may preempt here).

    Virtual time: advances the P's clock.  Wall time: spins for ``ns`` real ns.
    """
    if isinstance(ns, bool) or not isinstance(ns, int):
        raise TypeError(f"compute(ns) needs an int number of nanoseconds, got {type(ns).__name__}")
    if ns < 0:
        raise ValueError(f"compute(ns) needs ns >= 0, got {ns}")
    return _compute(_p(), ns)


@overload
def gomaxprocs(n: None = None) -> int: ...
@overload
def gomaxprocs(n: int) -> Awaitable[int]: ...


def gomaxprocs(n: int | None = None) -> int | Awaitable[int]:
    """``runtime.GOMAXPROCS``.

    ``gomaxprocs()`` returns the current number of Ps.  ``await gomaxprocs(n)`` changes it and
    returns the old value: like Go's, the change stops the world (after any running GC cycle,
    as Go waits for worldsema) and resizes the Ps (``aiogc.sched.procresize``).  ``n`` must be
    1..256; ``n < 1`` only reads, as in Go.
    """
    p = _p()
    sched = p.sched
    if n is None:
        return sched.gomaxprocs
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"gomaxprocs(n) needs an int, got {type(n).__name__}")
    if n > MAX_GOMAXPROCS:
        raise ValueError(f"gomaxprocs: {n} exceeds the maximum of {MAX_GOMAXPROCS}")
    return _set_gomaxprocs(sched, n)


async def _set_gomaxprocs(sched: Sched, n: int) -> int:
    old = sched.gomaxprocs
    if n < 1 or n == old:
        await safepoint_trap()
        return old
    g = sched.cur_g()
    col = sched.runtime.gc
    await col.acquire_worldsema()  # never resize during a GC cycle
    g.locks += 1
    try:
        await safepoint_trap()  # let Ps woken meanwhile catch up before the stop (as in gc_cycle)
        await stw_trap()
        p = g.p
        assert p is not None
        procresize(sched, p, n)
        sched.start_the_world()
        if p.status == P_DEAD:
            await gosched_trap()  # this goroutine's P is gone: it goes to the global queue
    finally:
        g.locks -= 1
        col.release_worldsema()
    if not g.locks and (g.preempt or g.must_cancel):
        await safepoint_trap()  # releasem: take a preemption requested while the world was stopped
    return old


def run(main: Coroutine[Any, Any, Any], *, config: Config | None = None, **fields: Any) -> Any:
    """Run ``main`` as the main goroutine of a new runtime (like ``asyncio.run``)."""
    try:
        rt = Runtime(config, **fields)
    except BaseException:
        if asyncio.iscoroutine(main):
            main.close()
        raise
    return rt.run(main)


# ---- the GC API ----------------------------------------------------------------------------------
def alloc(size: int, nptrs: int = 0) -> Awaitable[Ref]:
    """``new``: allocate ``size`` bytes with ``nptrs`` pointer slots (its first words); may assist.

    Returns an awaitable giving a ``Ref``.  TypeError for non-int arguments,
    ValueError for negative values or ``8 * nptrs > size``.
    """
    if (type(size) is not int or type(nptrs) is not int or size < 0 or nptrs < 0 or nptrs * 8 > size
            or size > MAX_ALLOC):
        _check_alloc_args(size, nptrs)
    p = CUR.p
    if p is None or p.curg is None:
        raise NotInGoroutine("aiogc.alloc must be awaited inside a goroutine (aiogc.run(main()))")
    return p.sched.runtime.gc.mallocgc(p, p.curg, size, nptrs)


def _check_alloc_args(size: Any, nptrs: Any) -> None:
    """The slow half of ``alloc``'s argument check: raise the precise error."""
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"alloc size must be an int, got {type(size).__name__}")
    if isinstance(nptrs, bool) or not isinstance(nptrs, int):
        raise TypeError(f"alloc nptrs must be an int, got {type(nptrs).__name__}")
    if size < 0:
        raise ValueError(f"alloc size must be >= 0, got {size}")
    if nptrs < 0:
        raise ValueError(f"alloc nptrs must be >= 0, got {nptrs}")
    if nptrs * 8 > size:
        raise ValueError(f"alloc: {nptrs} pointer slots need {nptrs * 8} bytes but size is {size}")
    if size > MAX_ALLOC:
        raise ValueError(f"alloc size {size} exceeds the largest heap Go 1.5 can map on linux/amd64 "
                         f"(_MaxMem = {MAX_ALLOC} bytes): out of memory")


def weak(ref: Ref) -> Weak:
    """``weak.Make`` (Go 1.24's ``weak.Pointer``): a pointer that does not keep ``ref``'s object
    alive; ``.value()`` is a ``Ref`` to it, or ``None`` once it has been collected.

    TypeError if ``ref`` is not a ``Ref``; ``UseAfterFree`` if its object is already freed.
    """
    return Weak(ref)


async def gc() -> None:
    """``runtime.GC()``: run a full (stop-the-world) collection and wait for it."""
    await _p().sched.runtime.gc.gc_forced()


def globals() -> dict[str, Any]:
    """The runtime's global roots: a dict whose ``Ref`` values (and containers of them) stay alive."""
    return _p().sched.runtime.gc.globals


def read_mem_stats() -> MemStats:
    """``runtime.ReadMemStats``: a ``MemStats`` snapshot (``next_gc`` is the trigger, as in Go 1.5)."""
    return _p().sched.runtime.gc.read_mem_stats()


def set_gc_percent(n: int | str | None) -> int | None:
    """``debug.SetGCPercent``: set GOGC; returns the old value (None = off).

    Takes what ``Config(gogc=...)`` takes (an int >= 0, a numeric string, ``"off"``, ``None``)
    and, as Go does, any negative int for off.  ``ConfigError`` for anything else.
    """
    from aiogc.config import parse_gogc

    v = None if type(n) is int and n < 0 else parse_gogc(n, "gogc")
    return _p().sched.runtime.gc.pacer.set_gc_percent(v)
