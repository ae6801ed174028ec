"""P: a processor — a scheduling context that is also an asyncio event loop.

While a goroutine runs on a P, that P is the thread's running loop, so
``asyncio.get_running_loop()`` inside a goroutine returns its P, and asyncio
code (futures, ``sleep``, ``Event``, ``Queue``, ``wait_for``, ``timeout``,
``gather``, ``create_task``) works against it:

  * ``create_future`` makes ordinary asyncio futures bound to this P; their done
    callbacks are queued with ``call_soon`` and run on this P between goroutines;
  * ``call_later``/``call_at`` go to the driver, which owns time (virtual or wall);
  * ``create_task`` starts a *goroutine* (Go's ``newproc``) — every asyncio task
    in aiogc is a G, scheduled by Go's rules;
  * sockets, servers and DNS are delegated to the wall driver's host loop (the
    netpoller): their completions ready goroutines back onto Ps.

A P holds Go's per-P scheduling state: ``runnext``, the 256-slot ``runq``,
``curg``, ``schedtick`` and, for the GC, its ``gcw`` and mark worker.  In
virtual time it also holds its local ``clock`` (integer ns).

The Ps of one runtime are one program's loops, and asyncio's loop-identity checks treat them as
one (``_one_runtime_one_loop``): an ``asyncio.Lock``/``Event``/``Queue``/``Condition`` bound to the
P that first used it works from goroutines on any other P (its futures stay bound to that P, whose
callbacks wake them), and ``gather``/``wait_for``/``ensure_future`` accept futures and goroutines of
any P of the runtime, as Go's primitives serve every goroutine whatever its P.  A loop of another
runtime or of plain asyncio is still "a different event loop".
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiogc.errors import NotInGoroutine

if TYPE_CHECKING:
    from aiogc.sched.g import G
    from aiogc.sched.sched import Sched

# P status values (runtime2.go).
P_IDLE = 0
P_RUNNING = 1
P_GCSTOP = 3
P_DEAD = 4


_current_tasks: dict[Any, Any] = asyncio.tasks._current_tasks  # type: ignore[attr-defined]
_register_task = asyncio.tasks._register_task


def _one_runtime_one_loop() -> None:
    """Make asyncio's two loop-identity checks see every P of a runtime as the same loop.

    asyncio binds a primitive (``mixins._LoopBoundMixin._get_loop``: Lock, Event, Condition,
    Semaphore, Barrier, Queue) to the first running loop that uses it and compares a future's
    loop with the running one (``futures._get_loop``, called by ``ensure_future``, ``gather``
    and ``Task.__step``).  Inside a goroutine the running loop is its P, and a goroutine moves
    between Ps (stealing, the global queue), so at GOMAXPROCS > 1 both checks would reject the
    same program that runs at GOMAXPROCS=1.  The wrappers change nothing unless the running
    loop is a P (``CUR.p``) and the loop compared with it is *another* P of the same runtime:
    then a primitive answers with the P it is bound to, and a future's loop is reported as the
    current P.  All Ps run on one thread, so no thread-safety is lost.
    """
    mixin = asyncio.mixins._LoopBoundMixin
    bound_get_loop = mixin._get_loop  # type: ignore[attr-defined]
    future_get_loop = asyncio.futures._get_loop  # type: ignore[attr-defined]
    if getattr(bound_get_loop, "_aiogc", False):
        return

    def _get_loop(self: Any) -> Any:
        bound = self._loop
        cur = CUR.p
        if cur is not None and bound is not cur and isinstance(bound, P) and bound.sched is cur.sched:
            return bound
        return bound_get_loop(self)

    def _get_future_loop(fut: Any) -> Any:
        loop = future_get_loop(fut)
        cur = CUR.p
        if cur is not None and loop is not cur and isinstance(loop, P) and loop.sched is cur.sched:
            return cur
        return loop

    _get_loop._aiogc = True  # type: ignore[attr-defined]
    mixin._get_loop = _get_loop  # type: ignore[attr-defined]
    asyncio.futures._get_loop = _get_future_loop  # type: ignore[attr-defined]


class DirectWake:
    """A future done callback whose only effect is to make a parked goroutine runnable.

    ``P.call_soon`` runs it at once instead of queueing it: a goroutine that completes a
    future (``lock.release()``, ``fut.set_result``) readies the waiter as Go's ``ready``
    does -- into the current P's ``runnext``, before the completer can yield -- and a timer
    or host callback completing one still injects the waiter into the global queue (the
    ``ready`` it calls knows which).  asyncio's order agrees: the waiter's wake-up is queued
    before anything the completer does next.
    """

    __slots__ = ()


class P(asyncio.AbstractEventLoop):
    """One P.  Scheduling fields are public (the model and its tests read them)."""

    def __init__(self, pid: int, sched: Sched) -> None:
        self.id = pid
        self.sched = sched
        self.status = P_IDLE
        self.runnext: G | None = None
        self.runq: deque[G] = deque()
        self.curg: G | None = None
        self.schedtick = 0
        self.clock = 0  # virtual time of this P, ns
        self.spinning = False
        # asyncio callbacks queued on this P (call_soon) as (stamp, handle, injected): see
        # queue_callback, and run_ready_callbacks for how they share the P's run order with goroutines.
        self.ready_cbs: deque[tuple[int, asyncio.Handle, bool]] = deque()
        self.cb_running = -1  # the stamp of the callback this P is running, -1 when none
        self.cb_injected = False  # that callback came from outside the Ps (see queue_callback)
        self.cb_limit = 0  # run_ready_callbacks' bound; Sched.ready lowers it (see there)
        # Sysmon's view of this P (Go's sysmontick / pdesc[i]).
        self.sysmon_tick = 0
        self.sysmon_when = 0
        # The slice start (for wall-time preemption at safe points).
        self.slice_start = 0
        # Time accounting, ns, by what the P was doing (for the live view and metrics).
        self.t_mutator = 0
        self.t_assist = 0
        self.t_bgmark = 0
        self.t_idle = 0
        self.t_stolen = 0  # lost to host wake-up stalls (sched/host.py; virtual time)
        self.stall_from = 0  # the last such stall: [stall_from, stall_until) in virtual ns
        self.stall_until = 0
        self.idle_since = 0
        # GC per-P state, owned by the collector (set by its GCHooks.init_p): the grey cache
        # (Go's p.gcw, an aiogc.collector.mark gcWork), the mcache's free-slot count per size class, and
        # this P's background mark worker.
        self.gcw: Any = None
        self.mcache: list[int] = []
        self.mark_worker: G | None = None
        # findrunnable is sleeping runqgrab's 100 µs before taking this (victim P, its runnext G)
        self.runnext_target: tuple[P, G] | None = None
        # forEachP's request (Go's p.runSafePointFn): the function this P runs at its next
        # schedule(), then it counts itself off Sched.safe_point_wait.  None when not asked.
        self.safe_point_fn: Callable[[P], None] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"<P{self.id} status={self.status} curg={self.curg} runq={len(self.runq)} next={self.runnext}>"

    # ---- asyncio loop API --------------------------------------------------------------
    def time(self) -> float:
        return self.sched.now(self) / 1e9

    def now_ns(self) -> int:
        return self.sched.now(self)

    def get_debug(self) -> bool:
        return False

    def set_debug(self, enabled: bool) -> None:
        pass

    def is_running(self) -> bool:
        return True

    def is_closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)

    def call_soon(self, callback: Callable[..., Any], *args: Any,  # type: ignore[override]
                  context: contextvars.Context | None = None) -> asyncio.Handle:
        h = asyncio.Handle(callback, args, self, context)
        cur = CUR.p
        if isinstance(callback, DirectWake):
            if cur is not None and cur.curg is not None and not self.sched.in_callback:
                callback(*args)  # completed by a running goroutine: ready the waiter now
                return h
        # A P removed by procresize forwards its callbacks (futures bound to it) to P0.
        target = self if self.status != P_DEAD else self.sched.allp[0]
        # From outside every P (host I/O, code outside the loop) or from a timer firing, the
        # callback is a netpoll/timer wake-up; from a goroutine or a callback on a P it is not.
        target.queue_callback(h, cur is None or (self.sched.in_callback > 0 and cur.cb_running < 0))
        if target.curg is None:
            # Nobody on that P will look at ready_cbs unless it is running: tell the driver.
            self.sched.wake_p(target)
        return h

    def call_soon_threadsafe(self, callback: Callable[..., Any], *args: Any,  # type: ignore[override]
                             context: contextvars.Context | None = None) -> asyncio.Handle:
        return self.sched.driver.call_soon_threadsafe(self, callback, args, context)

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any,  # type: ignore[override]
                   context: contextvars.Context | None = None) -> asyncio.TimerHandle:
        return self.call_at(self.time() + delay, callback, *args, context=context)

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any,  # type: ignore[override]
                context: contextvars.Context | None = None) -> asyncio.TimerHandle:
        h = asyncio.TimerHandle(when, callback, args, self, context)
        self.sched.driver.add_timer(self, max(0, round(when * 1e9)), h)
        return h

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        # The driver drops cancelled handles lazily when they reach the top of its heap.
        self.sched.driver.timer_cancelled(handle)

    def create_task(self, coro: Any, *, name: str | None = None, context: Any = None) -> Any:
        """A task is a goroutine: ``newproc`` onto this P (or the global queue from outside a G)."""
        g = self.sched.newproc(coro, self, is_task=True, label=name or "")
        g.context = context if context is not None else contextvars.copy_context()
        _register_task(g)  # type: ignore[arg-type]  # asyncio.all_tasks() sees it (a weak reference)
        return g

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        self.sched.runtime.report_loop_exception(context, self)

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        rt = self.sched.runtime
        handler, rt.exception_handler = rt.exception_handler, None
        try:
            rt.report_loop_exception(context, self)
        finally:
            rt.exception_handler = handler

    def get_exception_handler(self) -> Any:
        return self.sched.runtime.exception_handler

    def set_exception_handler(self, handler: Any) -> None:
        """One handler for the whole runtime (every P and the ``aiogc.loop.Loop``)."""
        if handler is not None and not callable(handler):
            raise TypeError(f"A callable object or None is expected, got {handler!r}")
        self.sched.runtime.exception_handler = handler

    def get_task_factory(self) -> Any:
        return None

    def set_task_factory(self, factory: Any) -> None:
        raise NotImplementedError("tasks are goroutines in aiogc")

    def run_forever(self) -> None:
        raise RuntimeError("a P is driven by the aiogc runtime; use aiogc.run()")

    def run_until_complete(self, future: Any) -> Any:
        raise RuntimeError("a P is driven by the aiogc runtime; use aiogc.run()")

    def stop(self) -> None:
        raise RuntimeError("a P is driven by the aiogc runtime")

    async def shutdown_asyncgens(self) -> None:
        pass

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        pass

    # I/O: delegated to the wall driver's host loop (the netpoller).
    def _host(self, what: str) -> Any:
        return self.sched.driver.host_loop(what)

    def set_default_executor(self, executor: Any) -> None:
        raise NotImplementedError("executors belong to the host loop (clock='wall'), not to a P")

    def run_in_executor(self, executor: Any, func: Callable[..., Any], *args: Any) -> Any:  # type: ignore[override]
        return self.sched.driver.run_in_executor(self, executor, func, args)

    async def getaddrinfo(self, *args: Any, **kw: Any) -> Any:
        return await self._host("getaddrinfo").getaddrinfo(*args, **kw)

    async def getnameinfo(self, *args: Any, **kw: Any) -> Any:
        return await self._host("getnameinfo").getnameinfo(*args, **kw)

    async def create_connection(self, *args: Any, **kw: Any) -> Any:
        return await self._host("create_connection").create_connection(*args, **kw)

    async def create_server(self, *args: Any, **kw: Any) -> Any:
        return await self._host("create_server").create_server(*args, **kw)

    async def create_unix_connection(self, *args: Any, **kw: Any) -> Any:
        return await self._host("create_unix_connection").create_unix_connection(*args, **kw)

    async def create_unix_server(self, *args: Any, **kw: Any) -> Any:
        return await self._host("create_unix_server").create_unix_server(*args, **kw)

    async def create_datagram_endpoint(self, *args: Any, **kw: Any) -> Any:
        return await self._host("create_datagram_endpoint").create_datagram_endpoint(*args, **kw)

    async def sock_recv(self, *args: Any) -> Any:
        return await self._host("sock_recv").sock_recv(*args)

    async def sock_sendall(self, *args: Any) -> Any:
        return await self._host("sock_sendall").sock_sendall(*args)

    async def sock_connect(self, *args: Any) -> Any:
        return await self._host("sock_connect").sock_connect(*args)

    async def sock_accept(self, *args: Any) -> Any:
        return await self._host("sock_accept").sock_accept(*args)

    async def start_tls(self, *args: Any, **kw: Any) -> Any:
        return await self._host("start_tls").start_tls(*args, **kw)

    async def connect_accepted_socket(self, *args: Any, **kw: Any) -> Any:
        return await self._host("connect_accepted_socket").connect_accepted_socket(*args, **kw)

    async def connect_read_pipe(self, *args: Any, **kw: Any) -> Any:
        return await self._host("connect_read_pipe").connect_read_pipe(*args, **kw)

    async def connect_write_pipe(self, *args: Any, **kw: Any) -> Any:
        return await self._host("connect_write_pipe").connect_write_pipe(*args, **kw)

    async def subprocess_exec(self, *args: Any, **kw: Any) -> Any:
        return await self._host("subprocess_exec").subprocess_exec(*args, **kw)

    async def subprocess_shell(self, *args: Any, **kw: Any) -> Any:
        return await self._host("subprocess_shell").subprocess_shell(*args, **kw)

    async def sendfile(self, *args: Any, **kw: Any) -> Any:
        return await self._host("sendfile").sendfile(*args, **kw)

    async def sock_sendfile(self, *args: Any, **kw: Any) -> Any:
        return await self._host("sock_sendfile").sock_sendfile(*args, **kw)

    async def sock_recv_into(self, *args: Any) -> Any:
        return await self._host("sock_recv_into").sock_recv_into(*args)

    async def sock_recvfrom(self, *args: Any) -> Any:
        return await self._host("sock_recvfrom").sock_recvfrom(*args)

    async def sock_recvfrom_into(self, *args: Any) -> Any:
        return await self._host("sock_recvfrom_into").sock_recvfrom_into(*args)

    async def sock_sendto(self, *args: Any) -> Any:
        return await self._host("sock_sendto").sock_sendto(*args)

    def add_reader(self, *args: Any) -> Any:  # type: ignore[override]
        return self._host("add_reader").add_reader(*args)

    def remove_reader(self, *args: Any) -> Any:
        return self._host("remove_reader").remove_reader(*args)

    def add_writer(self, *args: Any) -> Any:  # type: ignore[override]
        return self._host("add_writer").add_writer(*args)

    def remove_writer(self, *args: Any) -> Any:
        return self._host("remove_writer").remove_writer(*args)

    def add_signal_handler(self, *args: Any) -> Any:  # type: ignore[override]
        raise NotImplementedError("signal handlers belong to the host loop, not to a P")

    def remove_signal_handler(self, *args: Any) -> Any:
        raise NotImplementedError("signal handlers belong to the host loop, not to a P")

    # ---- callbacks ----------------------------------------------------------------------
    def queue_callback(self, h: asyncio.Handle, injected: bool) -> None:
        """Queue ``h`` to run on this P between goroutines, stamped with the next ``Sched.cbseq``.

        ``injected``: it comes from outside the Ps (a host I/O completion, another thread, a
        timer firing, code outside the loop): a goroutine it readies goes to the global queue,
        as Go's netpoller and timers ``injectglist``; otherwise to this P's ``runnext``.
        """
        sched = self.sched
        sched.cbseq += 1
        self.ready_cbs.append((sched.cbseq, h, injected))

    def next_g_qseq(self) -> int:
        """The oldest stamp among the goroutines this P may run next: its ``runnext`` and ring,
        and the global queue (a callback queued after that goroutine became runnable waits).
        Called only while callbacks are queued, so a program without them never pays for it."""
        s = 1 << 62
        g = self.runnext
        if g is not None:
            s = g.qseq
        for q in (self.runq, self.sched.gq):  # mostly in stamp order, not always (a kicked runnext)
            for g in q:
                if g.qseq < s:
                    s = g.qseq
        return s

    def run_ready_callbacks(self) -> None:
        """Run the queued callbacks (``call_soon``: future done callbacks, mostly) that come
        before every runnable goroutine in the P's run order.

        Go has no callbacks; asyncio has one FIFO ready queue in which a task's step is
        just another callback.  aiogc keeps Go's order between goroutines (``runnext``
        first, then the ring, the global queue every 61st tick) and puts each callback
        where asyncio would: after every goroutine that became runnable before it was
        queued, before every one readied after.  Stamps order the two: ``Sched.cbseq``
        counts the callbacks ever queued; a callback's stamp is its number; a G's
        ``qseq`` is the count when it became runnable.  So callback ``s`` runs at a
        scheduling point only if ``s <= qseq`` of every G this P would take first
        (``next_g_qseq``).  A callback that readies a G (a future's done callback waking
        its awaiter: asyncio's ``Task.__wakeup``, which steps the task at once) gives it
        the callback's own stamp (``Sched.ready``: into ``runnext``, or the global queue
        for an injected callback), so the woken G runs before any callback queued after
        the one that woke it.

        At most the callbacks queued when the pass starts run (a callback that queues
        another does not starve the goroutines, as asyncio's ``_run_once``).  Runs with no
        current goroutine on this P (so an asyncio Task protocol ``_enter_task`` would not
        clash) and with this P as the running loop.
        """
        cbs = self.ready_cbs
        sched = self.sched
        end = sched.cbseq  # callbacks queued by this pass wait for the next one
        limit = self.next_g_qseq()
        if cbs[0][0] > limit:
            return
        self.cb_limit = limit
        # No goroutine runs now: drop the trampoline's stale current-task entry, so an asyncio
        # Task stepping as a callback here may enter (asyncio's _enter_task checks it).
        _current_tasks.pop(self, None)
        sched.in_callback += 1
        try:
            while cbs:
                s, h, injected = cbs[0]
                if s > self.cb_limit or s > end:  # (a G the last one readied runs first)
                    break
                cbs.popleft()
                if h._cancelled:
                    continue
                self.cb_running = s
                self.cb_injected = injected
                h._run()
        finally:
            self.cb_running = -1
            sched.in_callback -= 1


class _CurP:
    """The P this thread is executing for (Go's ``getg().m.p``), or None outside any P.

    Kept by the drivers next to asyncio's running loop: ``asyncio._get_running_loop()`` is
    what asyncio code sees, but on CPython 3.11 each call of it checks the process id (a
    system call), too slow for aiogc's own per-operation lookups.  Invariant: whenever
    ``CUR.p`` is not None, the thread's running loop is that same P.
    """

    __slots__ = ("p",)

    def __init__(self) -> None:
        self.p: P | None = None


CUR = _CurP()


def current_p() -> P:
    """The P running the calling goroutine (``asyncio.get_running_loop()`` inside one)."""
    p = CUR.p
    if p is None:
        raise NotInGoroutine("not inside an aiogc goroutine")
    return p


_one_runtime_one_loop()
