"""G: one goroutine, and the asyncio Task face it shows to asyncio code.

A G owns one coroutine.  The P that runs it drives the coroutine with
``coro.send``/``coro.throw`` (a trampoline, like asyncio's ``Task.__step``)
and interprets what the coroutine yields: an aiogc trap (``traps.py``), an
asyncio future (the G parks until the future is done), or a bare ``yield``
(``asyncio.sleep(0)``: treated as ``gosched``).

Status follows Go's ``_Grunnable``/``_Grunning``/``_Gwaiting``/``_Gdead``.
Invariants:
  * a G is on at most one run queue (``runnext``, a local ring, the global
    queue) and only while ``status == RUNNABLE``;
  * ``status == RUNNING`` iff it is some P's ``curg``;
  * a ``WAITING`` G is woken only by ``Sched.ready`` (which checks the status).

To asyncio a running G *is* the current task: ``asyncio.current_task()``
returns it, ``asyncio.timeout()`` cancels it, ``gather``/``wait_for`` await it.
So it implements the Future/Task protocol (``_asyncio_future_blocking``,
``add_done_callback``, ``result``, ``cancel``, ``cancelling``, ``uncancel``...)
with asyncio's semantics: ``cancel()`` cancels the future the G waits on, or
makes its next resumption raise ``CancelledError``.
Departure from asyncio: goroutines started with ``aiogc.go`` *panic* when they
raise (Go semantics: the run stops with ``GoroutinePanic``); goroutines made by
``loop.create_task`` keep their exception for whoever awaits them, as Tasks do.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiogc.sched.p import P

# G status values: Go's numbering (runtime2.go), used by scheddetail.
IDLE = 0
RUNNABLE = 1
RUNNING = 2
WAITING = 4
DEAD = 6

STATUS_NAMES = {IDLE: "idle", RUNNABLE: "runnable", RUNNING: "running", WAITING: "waiting", DEAD: "dead"}

_PENDING, _CANCELLED, _FINISHED = 0, 1, 2


class G:
    """A goroutine.  See the module docstring for its invariants."""

    __slots__ = (
        "id",
        "coro",
        "status",
        "waitreason",
        "preempt",
        "locks",
        "system",
        "is_task",
        "label",
        "p",
        "wake_val",
        "wake_exc",
        "fut_waiter",
        "must_cancel",
        "cancel_msg",
        "num_cancels",
        "_state",
        "_result",
        "_exception",
        "_callbacks",
        "_loop",
        "traceback_text",
        "gcalloc",
        "gcscanwork",
        "ready_ns",
        "qseq",
        "parkinfo",
        "context",
        "cancelled_exc",
        "_log_destroy_pending",
        "_asyncio_future_blocking",  # a slot on the class: asyncio.isfuture() sees a future
        "__weakref__",
    )

    def __init__(self, goid: int, coro: Coroutine[Any, Any, Any], *, system: bool = False,
                 is_task: bool = False, label: str = "") -> None:
        self.id = goid
        self.coro = coro
        self.status = IDLE
        self.waitreason = ""
        self.preempt = False
        self.locks = 0  # > 0: not preemptible now (Go's m.locks / preemptoff, e.g. inside an assist)
        self.system = system  # Go's isSystemGoroutine: excluded from deadlock detection
        self.is_task = is_task
        self.label = label
        self.p: P | None = None  # the P it last ran on (its loop, for asyncio)
        self.wake_val: Any = None  # value the next resumption sends in
        self.wake_exc: BaseException | None = None  # or exception it throws in
        self.fut_waiter: Any = None  # the asyncio future it is parked on
        self.must_cancel = False
        self.cancel_msg: Any = None
        self.num_cancels = 0
        self._state = _PENDING
        self._result: Any = None
        self._exception: BaseException | None = None
        self._callbacks: list[Callable[[Any], None]] | None = None
        self._loop: Any = None
        self.traceback_text = ""
        # GC per-G state (Go 1.5's gcalloc, gcscanwork: the assist's debt accounting).
        self.gcalloc = 0
        self.gcscanwork = 0
        self.ready_ns = 0  # when it was last readied
        # Its place in a P's run order relative to asyncio callbacks (see P.run_ready_callbacks):
        # the stamp of the last callback queued before it became runnable.
        self.qseq = 0
        self.parkinfo: Any = None  # what it is parked on (a sudog, a select...)
        self.context: contextvars.Context | None = None  # a task's Context (None: the driver's)
        self.cancelled_exc: BaseException | None = None  # the CancelledError that ended it
        self._asyncio_future_blocking = False
        self._log_destroy_pending = True  # asyncio.gather sets this on its children

    def __repr__(self) -> str:
        name = self.label or getattr(self.coro, "__qualname__", "?")
        return f"<G{self.id} {name} {STATUS_NAMES.get(self.status, self.status)}>"

    # ---- asyncio Task/Future protocol ------------------------------------------------
    def get_loop(self) -> Any:
        return self._loop

    def get_name(self) -> str:
        return self.label or f"G{self.id}"

    def set_name(self, value: object) -> None:
        self.label = str(value)

    def get_context(self) -> contextvars.Context | None:
        return self.context

    def get_coro(self) -> Any:
        return self.coro

    def done(self) -> bool:
        return self._state != _PENDING

    def cancelled(self) -> bool:
        return self._state == _CANCELLED

    def result(self) -> Any:
        if self._state == _CANCELLED:
            raise self._make_cancelled_error()
        if self._state != _FINISHED:
            raise asyncio.InvalidStateError("Result is not ready.")
        if self._exception is not None:
            raise self._exception
        return self._result

    def exception(self) -> BaseException | None:
        if self._state == _CANCELLED:
            raise self._make_cancelled_error()
        if self._state != _FINISHED:
            raise asyncio.InvalidStateError("Exception is not set.")
        return self._exception

    def add_done_callback(self, fn: Callable[[Any], None], *, context: Any = None) -> None:
        if self._state != _PENDING:
            self._schedule_callback(fn)
            return
        if self._callbacks is None:
            self._callbacks = []
        self._callbacks.append(fn)

    def remove_done_callback(self, fn: Callable[[Any], None]) -> int:
        if not self._callbacks:
            return 0
        n = len(self._callbacks)
        self._callbacks = [cb for cb in self._callbacks if cb != fn]
        return n - len(self._callbacks)

    def _schedule_callback(self, fn: Callable[[Any], None]) -> None:
        loop = self._loop
        if loop is None:
            fn(self)
        else:
            loop.call_soon(fn, self)

    @property
    def _cancel_message(self) -> Any:
        return self.cancel_msg

    def _make_cancelled_error(self) -> asyncio.CancelledError:
        """asyncio's private Future method, which ``gather`` calls on a cancelled child: the
        CancelledError that ended the goroutine (as asyncio's Task keeps it), else a new one."""
        if self.cancelled_exc is not None:
            exc, self.cancelled_exc = self.cancelled_exc, None  # raised once, as asyncio's
            return exc  # type: ignore[return-value]
        msg = self.cancel_msg
        return asyncio.CancelledError(msg) if msg is not None else asyncio.CancelledError()

    def cancelling(self) -> int:
        return self.num_cancels

    def uncancel(self) -> int:
        if self.num_cancels > 0:
            self.num_cancels -= 1
        return self.num_cancels

    def cancel(self, msg: Any = None) -> bool:
        """asyncio ``Task.cancel``: cancel what the G waits on, else throw at its next resumption."""
        if self._state != _PENDING:
            return False
        self.num_cancels += 1
        fw = self.fut_waiter
        if fw is not None and fw.cancel(msg=msg):
            # The waiter's done callback will ready us; its result() raises CancelledError.
            return True
        self.must_cancel = True
        self.cancel_msg = msg
        if self.status == WAITING and self.p is not None:
            # Parked on an aiogc primitive: wake it so the CancelledError is delivered now.
            self.p.sched.cancel_parked(self)
        return True

    def __await__(self) -> Generator[Any, None, Any]:
        if self._state == _PENDING:
            self._asyncio_future_blocking = True
            yield self
        return self.result()

    __iter__ = __await__

    # ---- completion (called by the P that ran the G) ---------------------------------------
    def _finish(self, result: Any = None, exc: BaseException | None = None, cancelled: bool = False) -> None:
        if cancelled:
            self._state = _CANCELLED
        else:
            self._state = _FINISHED
            self._result = result
            self._exception = exc
        self.status = DEAD
        cbs = self._callbacks
        if cbs:
            self._callbacks = None
            for fn in cbs:
                self._schedule_callback(fn)
