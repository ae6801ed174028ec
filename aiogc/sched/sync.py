"""Go-style synchronisation between goroutines: Chan, select, WaitGroup, Mutex.

Models chan.go, select.go and sync's semaphore-based Mutex/WaitGroup of Go 1.5:

  * A channel has a FIFO buffer of ``cap`` elements and two FIFO wait queues of
    ``sudog``s (parked senders and receivers).  A send to a waiting receiver hands
    the value over directly and ``ready``s the receiver (into the sender's P's
    ``runnext``); a receive from a full buffer takes the head and moves the first
    waiting sender's value in.  Close wakes every receiver (zero value, ok=False)
    and makes every parked sender panic.  Receive on a closed, drained channel
    returns (None, False) at once.  Send on a closed channel, and close of a closed
    channel, raise ``ChanClosed`` (Go panics).
  * ``select`` polls its cases in a random order (the run's seeded RNG, as Go's
    ``fastrand`` pollorder) and commits the first ready one; with ``default`` it
    never blocks; otherwise it enqueues a sudog on every case's channel, parks,
    and the first channel operation that picks one of them commits the select
    (the others become stale and are removed when the G wakes).
  * Invariant: a sudog whose select already committed is never used again.

Every operation here is a safe point (it yields to the scheduler at least with
SAFEPOINT), and each charges ``cost_chan_ns`` in virtual time.
"""

from __future__ import annotations

import types
from collections import deque
from collections.abc import AsyncIterator, Generator
from typing import Any

from aiogc.errors import ChanClosed
from aiogc.sched.g import WAITING, G
from aiogc.sched.p import current_p
from aiogc.sched.traps import PARK, SAFEPOINT, park_trap, safepoint_trap


class _Select:
    __slots__ = ("g", "done", "sudogs")

    def __init__(self, g: G) -> None:
        self.g = g
        self.done = False
        self.sudogs: list[_Sudog] = []

    def cancel_waiter(self, g: G) -> None:
        self.done = True
        for sd in self.sudogs:
            sd.unlink()


class _Sudog:
    """A parked goroutine's entry on a channel wait queue (Go's ``sudog``)."""

    __slots__ = ("g", "elem", "sel", "case", "queue")

    def __init__(self, g: G, elem: Any, queue: deque[_Sudog], sel: _Select | None = None, case: int = 0) -> None:
        self.g = g
        self.elem = elem
        self.sel = sel
        self.case = case
        self.queue = queue

    def unlink(self) -> None:
        try:
            self.queue.remove(self)
        except ValueError:
            pass

    def cancel_waiter(self, g: G) -> None:
        self.unlink()


def _dequeue(q: deque[_Sudog]) -> _Sudog | None:
    """Models ``waitq.dequeue``: the first live sudog; commits its select, if any."""
    while q:
        sd = q.popleft()
        sel = sd.sel
        if sel is None:
            if sd.g.status == WAITING:
                return sd
            continue
        if sel.done:
            continue  # stale: its select committed elsewhere
        sel.done = True
        return sd
    return None


def _wake(sd: _Sudog, val: Any = None, exc: BaseException | None = None) -> None:
    p = current_p()
    if sd.sel is not None:
        val = (sd.case, val[0], val[1]) if exc is None else None
    p.sched.ready(sd.g, val, exc)


class Chan:
    """A Go channel.  ``Chan()`` is unbuffered; ``Chan(n)`` buffers n values."""

    __slots__ = ("cap", "buf", "closed", "recvq", "sendq", "__weakref__")

    def __init__(self, cap: int = 0) -> None:
        if isinstance(cap, bool) or not isinstance(cap, int):
            raise TypeError(f"Chan capacity must be an int, got {type(cap).__name__}")
        if cap < 0:
            raise ValueError(f"makechan: size out of range ({cap})")
        self.cap = cap
        self.buf: deque[Any] = deque()
        self.closed = False
        self.recvq: deque[_Sudog] = deque()
        self.sendq: deque[_Sudog] = deque()

    def __len__(self) -> int:
        return len(self.buf)

    def __repr__(self) -> str:
        return f"<Chan cap={self.cap} len={len(self.buf)} closed={self.closed}>"

    # -- non-blocking halves (also used by select) --------------------------------------------
    def _try_send(self, v: Any) -> bool:
        if self.closed:
            raise ChanClosed("send on closed channel")
        sd = _dequeue(self.recvq)
        if sd is not None:
            _wake(sd, (v, True))
            return True
        if len(self.buf) < self.cap:
            self.buf.append(v)
            return True
        return False

    def _try_recv(self) -> tuple[bool, Any, bool]:
        """(done, value, ok)."""
        buf = self.buf
        if buf:
            v = buf.popleft()
            sd = _dequeue(self.sendq)
            if sd is not None:
                buf.append(sd.elem)
                _wake(sd, (None, True))
            return True, v, True
        sd = _dequeue(self.sendq)
        if sd is not None:
            v = sd.elem
            _wake(sd, (None, True))
            return True, v, True
        if self.closed:
            return True, None, False
        return False, None, False

    # -- blocking operations ----------------------------------------------------------------------
    # Each is a single generator that yields the trap itself (no nested awaitables): a goroutine
    # parked on a channel then holds one small frame here, which keeps a parked goroutine
    # under 1 KiB including its coroutine.
    @types.coroutine
    def send(self, v: Any) -> Generator[Any, Any, None]:
        """``ch <- v``."""
        p = current_p()
        p.clock += p.sched.c_chan
        if self._try_send(v):
            yield SAFEPOINT
            return
        g = p.curg
        assert g is not None
        sd = _Sudog(g, v, self.sendq)
        self.sendq.append(sd)
        g.parkinfo = sd
        g.waitreason = "chan send"
        yield PARK

    @types.coroutine
    def recv2(self) -> Generator[Any, Any, tuple[Any, bool]]:
        """``v, ok := <-ch``: ok is False once the channel is closed and drained."""
        p = current_p()
        p.clock += p.sched.c_chan
        done, v, ok = self._try_recv()
        if done:
            yield SAFEPOINT
            return v, ok
        g = p.curg
        assert g is not None
        sd = _Sudog(g, None, self.recvq)
        self.recvq.append(sd)
        g.parkinfo = sd
        g.waitreason = "chan receive"
        r = yield PARK
        return r  # type: ignore[no-any-return]

    @types.coroutine
    def recv(self) -> Generator[Any, Any, Any]:
        """``<-ch``: the value (None from a closed channel)."""
        p = current_p()
        p.clock += p.sched.c_chan
        done, v, _ = self._try_recv()
        if done:
            yield SAFEPOINT
            return v
        g = p.curg
        assert g is not None
        sd = _Sudog(g, None, self.recvq)
        self.recvq.append(sd)
        g.parkinfo = sd
        g.waitreason = "chan receive"
        r = yield PARK
        return r[0]

    def close(self) -> None:
        """``close(ch)``: wakes every receiver with (None, False); parked senders panic."""
        if self.closed:
            raise ChanClosed("close of closed channel")
        self.closed = True
        while True:
            sd = _dequeue(self.recvq)
            if sd is None:
                break
            _wake(sd, (None, False))
        while True:
            sd = _dequeue(self.sendq)
            if sd is None:
                break
            _wake(sd, exc=ChanClosed("send on closed channel"))

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        v, ok = await self.recv2()
        if not ok:
            raise StopAsyncIteration
        return v

    def recv_case(self) -> Recv:
        return Recv(self)

    def send_case(self, v: Any) -> Send:
        return Send(self, v)


class Recv:
    """A receive case for ``select``."""

    __slots__ = ("ch",)

    def __init__(self, ch: Chan) -> None:
        if not isinstance(ch, Chan):
            raise TypeError(f"Recv needs a Chan, got {type(ch).__name__}")
        self.ch = ch


class Send:
    """A send case for ``select``."""

    __slots__ = ("ch", "value")

    def __init__(self, ch: Chan, value: Any) -> None:
        if not isinstance(ch, Chan):
            raise TypeError(f"Send needs a Chan, got {type(ch).__name__}")
        self.ch = ch
        self.value = value


async def select(*cases: Recv | Send, default: bool = False) -> tuple[int, Any, bool]:
    """Go's ``select``: commit exactly one ready case.

    Returns ``(index, value, ok)``: the index of the committed case (``-1`` for
    ``default``), the received value (None for a send), and ``ok`` (False for a
    receive from a closed channel).  With no cases and no default it blocks
    forever (``select {}``), which a deadlock check reports.
    """
    p = current_p()
    sched = p.sched
    p.clock += sched.c_chan
    for c in cases:
        if not isinstance(c, Recv | Send):
            raise TypeError(f"select cases must be Recv or Send, got {type(c).__name__}")
    order = list(range(len(cases)))
    sched.rng.shuffle(order)  # Go's pollorder
    for i in order:
        c = cases[i]
        if isinstance(c, Recv):
            done, v, ok = c.ch._try_recv()
            if done:
                await safepoint_trap()
                return i, v, ok
        else:
            if c.ch._try_send(c.value):
                await safepoint_trap()
                return i, None, True
    if default:
        await safepoint_trap()
        return -1, None, False
    g = p.curg
    assert g is not None
    sel = _Select(g)
    for i in order:
        c = cases[i]
        if isinstance(c, Recv):
            sd = _Sudog(g, None, c.ch.recvq, sel, i)
            c.ch.recvq.append(sd)
        else:
            sd = _Sudog(g, c.value, c.ch.sendq, sel, i)
            c.ch.sendq.append(sd)
        sel.sudogs.append(sd)
    g.parkinfo = sel
    g.waitreason = "select" if cases else "select (no cases)"
    try:
        r = await park_trap()
    finally:
        for sd in sel.sudogs:
            sd.unlink()
    return r  # type: ignore[no-any-return]


class WaitGroup:
    """Go's ``sync.WaitGroup``."""

    __slots__ = ("counter", "waiters")

    def __init__(self) -> None:
        self.counter = 0
        self.waiters: list[G] = []

    def add(self, n: int = 1) -> None:
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError("WaitGroup.add needs an int")
        if self.counter + n < 0:  # checked before the update: a caught panic leaves the counter as it was
            raise ValueError("sync: negative WaitGroup counter")
        self.counter += n
        if self.counter == 0 and self.waiters:
            ws, self.waiters = self.waiters, []
            sched = current_p().sched
            for g in ws:
                if g.status == WAITING:
                    sched.ready(g)

    def done(self) -> None:
        self.add(-1)

    @types.coroutine
    def wait(self) -> Generator[Any, Any, None]:
        if self.counter == 0:
            yield SAFEPOINT
            return
        g = current_p().curg
        assert g is not None
        self.waiters.append(g)
        g.parkinfo = self
        g.waitreason = "semacquire"
        yield PARK

    def cancel_waiter(self, g: G) -> None:
        if g in self.waiters:
            self.waiters.remove(g)


class Mutex:
    """Go's ``sync.Mutex`` (FIFO hand-off to parked waiters)."""

    __slots__ = ("locked", "waitq")

    def __init__(self) -> None:
        self.locked = False
        self.waitq: deque[G] = deque()

    @types.coroutine
    def lock(self) -> Generator[Any, Any, None]:
        p = current_p()
        p.clock += p.sched.c_chan
        if not self.locked:
            self.locked = True
            yield SAFEPOINT
            return
        g = p.curg
        assert g is not None
        self.waitq.append(g)
        g.parkinfo = self
        g.waitreason = "semacquire"
        yield PARK  # the unlocker handed the lock to us

    def unlock(self) -> None:
        if not self.locked:
            raise RuntimeError("sync: unlock of unlocked mutex")
        while self.waitq:
            g = self.waitq.popleft()
            if g.status == WAITING:
                current_p().sched.ready(g)  # the lock stays held: handed to g
                return
        self.locked = False

    def cancel_waiter(self, g: G) -> None:
        if g in self.waitq:
            self.waitq.remove(g)

    async def __aenter__(self) -> Mutex:
        await self.lock()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.unlock()
