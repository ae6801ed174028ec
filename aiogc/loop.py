"""aiogc as an asyncio event loop other code can use: a loop factory and a policy, uvloop-shaped.

``aiogc.new_event_loop(**config)`` returns a ``Loop``: an ``asyncio.AbstractEventLoop``
that owns one ``Runtime``.  ``loop.create_task(coro)`` starts a goroutine (the first
one is goroutine 1, Go's ``main``), and ``loop.run_until_complete(fut)`` runs Go's
scheduler (virtual time by default, or wall time) until ``fut`` is done.  So

    asyncio.Runner(loop_factory=lambda: aiogc.new_event_loop(gomaxprocs=4)).run(main())
    asyncio.set_event_loop_policy(aiogc.EventLoopPolicy()); asyncio.run(main())
    unittest.IsolatedAsyncioTestCase (under the policy)

run an asyncio program's main task as goroutine 1 on Go's scheduler.  Successive
``run_until_complete`` calls resume the same runtime (``IsolatedAsyncioTestCase`` runs
setUp, the test and tearDown as three of them): goroutines left running by one go on in
the next.  Inside a goroutine ``asyncio.get_running_loop()`` is the goroutine's P (see
``aiogc.sched.p``); the ``Loop`` is the program's handle on the runtime from outside.

Departures from asyncio's loops, each deliberate:
  * ``run_until_complete`` on a future that nothing can complete raises ``Deadlock``
    (Go's ``checkdead``) instead of hanging.  In virtual time, work outside the
    simulation -- ``run_in_executor`` threads, signal handlers, other threads'
    ``call_soon_threadsafe`` -- takes no virtual time: a run with nothing else to do
    waits for it in real time.
  * A goroutine started with ``aiogc.go`` that raises ends the program with
    ``GoroutinePanic`` (tasks made by ``create_task`` keep their exception, as asyncio's).
  * Tasks run in their ``contextvars.Context`` (a copy of the creator's, or ``context=``), as
    asyncio's; goroutines started with ``aiogc.go`` share the driver's context.
  * ``set_task_factory`` is refused: every task is a goroutine.
  * One runtime runs at a time per process (the current-P register is per process).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import signal
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiogc.config import Config
from aiogc.runtime import Runtime
from aiogc.sched.drivers import VirtualDriver, WallDriver
from aiogc.sched.g import G
from aiogc.sched.p import P

__all__ = ["Loop", "EventLoopPolicy", "new_event_loop", "install"]

T = TypeVar("T")



class _Until:
    """What the driver runs until: ``fut`` done, or ``loop.stop()`` called."""

    __slots__ = ("fut", "loop")

    def __init__(self, fut: Any, loop: Loop) -> None:
        self.fut = fut
        self.loop = loop

    def done(self) -> bool:
        return self.loop._stopping or (self.fut is not None and self.fut.done())


async def _await(aw: Awaitable[T]) -> T:
    return await aw


class Loop(P):
    """An asyncio event loop running Go's scheduler (see the module docstring).

    The loop *is* the runtime's P0: it takes over P0's state and place in ``allp``, so a
    goroutine on P0 sees this object as ``asyncio.get_running_loop()``, and futures, tasks
    and callbacks made through the loop from outside the runtime are bound to a P that runs
    them.  (With GOMAXPROCS > 1 goroutines on the other Ps see their own P.)
    """

    def __init__(self, config: Config | None = None, **fields: Any) -> None:
        rt = Runtime(config, **fields)
        p0 = rt.sched.allp[0]
        self.__dict__.update(p0.__dict__)  # P0's scheduling and GC state (nothing else holds P0 yet)
        rt.sched.allp[0] = self
        self.runtime = rt
        self._closed = False
        self._running = False
        self._stopping = False
        self._debug = False
        self._current_handle: Any = None  # read by asyncio's default_exception_handler
        self._asyncgens: weakref.WeakSet[Any] = weakref.WeakSet()
        self._asyncgens_shutdown_called = False
        self._executor_shutdown_called = False
        self._signals: dict[int, Any] = {}  # signum -> the handler it replaced
        self._host_loop: asyncio.AbstractEventLoop | None = None
        drv = self.runtime.driver
        if isinstance(drv, WallDriver):
            try:
                import uvloop

                self._host_loop = uvloop.new_event_loop()
            except ImportError:
                self._host_loop = asyncio.new_event_loop()
            drv.host = self._host_loop  # timers may be set before the first run

    def __repr__(self) -> str:
        cfg = self.runtime.config
        return (f"<aiogc.Loop clock={cfg.clock} gomaxprocs={self.runtime.sched.gomaxprocs} "
                f"running={self._running} closed={self._closed}>")

    def _check_closed(self) -> None:
        if self._closed:
            raise RuntimeError("Event loop is closed")

    # ---- running and stopping ------------------------------------------------------------------------
    def _check_running(self) -> None:
        if self._running:
            raise RuntimeError("This event loop is already running")
        if asyncio._get_running_loop() is not None:
            raise RuntimeError("Cannot run the event loop while another loop is running")

    def run_until_complete(self, future: Any) -> Any:
        """Run Go's scheduler until ``future`` (a coroutine, task, future or awaitable) is done."""
        try:
            self._check_closed()
            self._check_running()
        except RuntimeError:
            if asyncio.iscoroutine(future):
                future.close()  # refused: never started, so no "never awaited" warning
            raise
        if asyncio.iscoroutine(future):
            fut: Any = self.create_task(future)
        elif isinstance(future, G) or asyncio.isfuture(future):
            fut = future
        elif inspect.isawaitable(future):
            fut = self.create_task(_await(future))
        else:
            raise TypeError("An asyncio.Future, a coroutine or an awaitable is required")
        self._run(_Until(fut, self))
        if not fut.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        return fut.result()

    def run_forever(self) -> None:
        """Run until ``stop()``; ``Deadlock`` if every goroutine is parked and nothing can wake one."""
        self._check_closed()
        self._check_running()
        self._run(_Until(None, self))

    def _run(self, until: _Until) -> None:
        rt = self.runtime
        if not rt._started:
            rt._begin(None)  # type: ignore[arg-type]  # no task yet: the program starts empty
        old_hooks = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook,
                               finalizer=self._asyncgen_finalizer_hook)
        self._running = True
        try:
            drv = rt.driver
            rt.sched.panic = None  # a panic ended the previous run; the program may go on
            if isinstance(drv, VirtualDriver):
                drv.run(until)  # type: ignore[arg-type]
            else:
                assert self._host_loop is not None
                self._host_loop.run_until_complete(drv.run(until))  # type: ignore[arg-type]
        finally:
            self._running = False
            self._stopping = False
            sys.set_asyncgen_hooks(*old_hooks)

    def stop(self) -> None:
        """Stop after the current scheduling step (``run_forever`` returns)."""
        self._stopping = True

    def is_running(self) -> bool:
        return self._running

    def is_closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the loop: abandon the goroutines still alive (Go's exit), drop the executor and
        the signal handlers.  Idempotent; refused while running."""
        if self._running:
            raise RuntimeError("Cannot close a running event loop")
        if self._closed:
            return
        self._closed = True
        for sig in list(self._signals):
            self.remove_signal_handler(sig)
        drv = self.runtime.driver
        if isinstance(drv, VirtualDriver) and drv.default_executor is not None:
            drv.default_executor.shutdown(wait=False)
            drv.default_executor = None
        self.runtime.close()
        if self._host_loop is not None:
            self._host_loop.close()

    async def shutdown_asyncgens(self) -> None:
        """Close every asynchronous generator this loop has seen start (asyncio's semantics)."""
        self._asyncgens_shutdown_called = True
        if not self._asyncgens:
            return
        closing = list(self._asyncgens)
        self._asyncgens.clear()
        results = await asyncio.gather(*[ag.aclose() for ag in closing], return_exceptions=True)
        for result, agen in zip(results, closing, strict=True):
            if isinstance(result, Exception):
                self.call_exception_handler({
                    "message": f"an error occurred during closing of asynchronous generator {agen!r}",
                    "exception": result, "asyncgen": agen})

    def _asyncgen_firstiter_hook(self, agen: Any) -> None:
        if self._asyncgens_shutdown_called:
            import warnings

            warnings.warn(f"asynchronous generator {agen!r} was scheduled after loop.shutdown_asyncgens() call",
                          ResourceWarning, source=self, stacklevel=2)
        self._asyncgens.add(agen)

    def _asyncgen_finalizer_hook(self, agen: Any) -> None:
        self._asyncgens.discard(agen)
        if not self.is_closed():
            self.call_soon_threadsafe(self.create_task, agen.aclose())

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        """Wait for the default executor's threads to finish, off the scheduler (asyncio's semantics)."""
        self._executor_shutdown_called = True
        drv = self.runtime.driver
        if not isinstance(drv, VirtualDriver):
            # The host loop owns the executor (and the thread); its futures wake us (the netpoller).
            assert self._host_loop is not None
            drv.host_io_used = True
            await self._host_loop.shutdown_default_executor()
            return
        ex = drv.default_executor
        if ex is None:
            return
        p = self
        fut = p.create_future()

        def done() -> None:
            if not fut.done():
                fut.set_result(None)

        def work() -> None:
            try:
                ex.shutdown(wait=True)
            finally:
                p.call_soon_threadsafe(done)

        drv.external += 1
        fut.add_done_callback(lambda _: setattr(drv, "external", drv.external - 1))
        threading.Thread(target=work, name="aiogc-executor-shutdown").start()
        await fut

    # ---- callbacks, timers, futures, tasks -----------------------------------------------------------
    def call_soon(self, callback: Callable[..., object], *args: Any,  # type: ignore[override]
                  context: Any = None) -> asyncio.Handle:
        self._check_closed()
        return super().call_soon(callback, *args, context=context)

    def call_at(self, when: float, callback: Callable[..., object], *args: Any,  # type: ignore[override]
                context: Any = None) -> asyncio.TimerHandle:
        self._check_closed()
        return super().call_at(when, callback, *args, context=context)

    def call_soon_threadsafe(self, callback: Callable[..., object], *args: Any,  # type: ignore[override]
                             context: Any = None) -> asyncio.Handle:
        self._check_closed()
        return super().call_soon_threadsafe(callback, *args, context=context)

    def create_task(self, coro: Any, *, name: str | None = None, context: Any = None) -> Any:
        """Start ``coro`` as a goroutine that keeps its exception, as a Task does.  The first is
        goroutine 1; from outside a goroutine it goes to the global run queue."""
        try:
            self._check_closed()
        except RuntimeError:
            if asyncio.iscoroutine(coro):
                coro.close()
            raise
        rt = self.runtime
        g = super().create_task(coro, name=name, context=context)
        if not rt._started:
            rt._begin(g)
        return g

    def get_task_factory(self) -> Any:
        return None

    def set_task_factory(self, factory: Any) -> None:
        raise NotImplementedError("tasks are goroutines in aiogc: a task factory cannot apply")

    # ---- executors --------------------------------------------------------------------------------
    def run_in_executor(self, executor: Any, func: Callable[..., T], *args: Any) -> asyncio.Future[T]:  # type: ignore[override]
        """``func(*args)`` on a thread (the default executor: a ThreadPoolExecutor); in virtual time its
        result arrives at the event time at which it is delivered (threads take no virtual time)."""
        self._check_closed()
        if executor is None and self._executor_shutdown_called:
            raise RuntimeError("Executor shutdown has been called")
        return super().run_in_executor(executor, func, *args)  # type: ignore[no-any-return]

    @property
    def _default_executor(self) -> concurrent.futures.Executor | None:
        """asyncio's private attribute, read by some asyncio test helpers (test_utils.close_loop)."""
        drv = self.runtime.driver
        return drv.default_executor if isinstance(drv, VirtualDriver) else None

    def set_default_executor(self, executor: Any) -> None:
        if not isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            raise TypeError("executor must be ThreadPoolExecutor")
        drv = self.runtime.driver
        if isinstance(drv, VirtualDriver):
            drv.default_executor = executor
        else:
            assert self._host_loop is not None
            self._host_loop.set_default_executor(executor)

    # ---- signals ----------------------------------------------------------------------------------
    def add_signal_handler(self, sig: int, callback: Callable[..., object], *args: Any) -> None:  # type: ignore[override]
        """Run ``callback(*args)`` on a P when ``sig`` arrives (main thread only, as asyncio's).

        While a handler is installed a virtual-time run with nothing else to do waits for a
        signal instead of reporting a deadlock (as Go's ``signal.Notify``)."""
        if asyncio.iscoroutine(callback) or asyncio.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        self._check_closed()
        if not isinstance(sig, int) or not 1 <= sig < signal.NSIG:
            raise ValueError(f"sig {sig} out of range(1, {signal.NSIG})")
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("add_signal_handler() only works in the main thread")
        drv = self.runtime.driver
        p0 = self.runtime.sched.allp[0]

        def on_signal(signum: int, frame: Any) -> None:
            drv.call_soon_threadsafe(p0, callback, args, None)

        old = signal.signal(sig, on_signal)  # OSError/ValueError for SIGKILL, SIGSTOP...
        if sig not in self._signals:
            self._signals[sig] = old
            if isinstance(drv, VirtualDriver):
                drv.external += 1
            else:
                drv.host_io_used = True

    def remove_signal_handler(self, sig: int) -> bool:
        """Restore the signal's previous handler; False if this loop had none for it."""
        if sig not in self._signals:
            return False
        old = self._signals.pop(sig)
        if old is None:
            old = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
        signal.signal(sig, old)
        drv = self.runtime.driver
        if isinstance(drv, VirtualDriver):
            drv.external -= 1
        return True

    # ---- errors and debug --------------------------------------------------------------------------
    def get_exception_handler(self) -> Any:
        return self.runtime.exception_handler

    def set_exception_handler(self, handler: Any) -> None:
        if handler is not None and not callable(handler):
            raise TypeError(f"A callable object or None is expected, got {handler!r}")
        self.runtime.exception_handler = handler

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        asyncio.BaseEventLoop.default_exception_handler(self, context)  # type: ignore[arg-type]

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        handler = self.runtime.exception_handler
        if handler is None:
            self.default_exception_handler(context)
            return
        try:
            handler(self, context)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 - as asyncio: a failing handler is logged
            self.default_exception_handler({"message": "Unhandled error in exception handler",
                                            "exception": exc, "context": context})

    def get_debug(self) -> bool:
        return self._debug

    def set_debug(self, enabled: bool) -> None:
        self._debug = bool(enabled)




def new_event_loop(config: Config | None = None, **fields: Any) -> Loop:
    """A new aiogc event loop (``uvloop.new_event_loop``'s shape): ``fields`` are ``Config`` fields."""
    return Loop(config, **fields)


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """asyncio's policy making aiogc loops: ``asyncio.set_event_loop_policy(aiogc.EventLoopPolicy())``.

    The configuration is checked once, here (``ConfigError`` at once for a bad field); every
    loop the policy makes gets a fresh runtime with that configuration.
    """

    def __init__(self, config: Config | None = None, **fields: Any) -> None:
        super().__init__()
        self.config = Config.make(config, **fields)

    def _loop_factory(self) -> Loop:  # type: ignore[override]
        return Loop(self.config)

    def __repr__(self) -> str:
        return f"<aiogc.EventLoopPolicy clock={self.config.clock} gomaxprocs={self.config.gomaxprocs}>"


def install(config: Config | None = None, **fields: Any) -> EventLoopPolicy:
    """Make aiogc asyncio's event loop policy (``asyncio.run`` then runs on Go's scheduler)."""
    policy = EventLoopPolicy(config, **fields)
    asyncio.set_event_loop_policy(policy)
    return policy

