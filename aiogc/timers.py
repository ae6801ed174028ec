"""Go's timers: ``time.After``, ``time.Timer``, ``time.Ticker``, ``time.AfterFunc`` and ``time.Now``.

Models Go 1.5's time package over the runtime's timers (time.go/sleep.go/tick.go):

  * A ``Timer``'s channel ``c`` has a buffer of one.  When the timer fires, the runtime
    sends the current time (integer ns, ``aiogc.now()``) *without blocking*, as Go's
    ``sendTime`` does (``select { case c <- now: default: }``): nobody has to be receiving.
  * ``stop()`` prevents the timer from firing and returns True if it did so (False if it
    had already fired or been stopped); it does not drain ``c``.  ``reset(d)`` re-arms
    it ``d`` ns from now and returns whether it was active (Go's ``Reset``).
  * A ``Ticker`` sends the time every ``d`` ns; a receiver that falls behind misses ticks
    (the send finds the buffer full and drops the tick), and after a late tick the next
    one is due at the next multiple of the period (Go's ``t.when += period * (1 + late/period)``).
  * ``after_func(d, f)`` starts ``f()`` as a new goroutine when the timer fires.

The timer is a driver timer on the P that made it (virtual or wall time, as every asyncio
``call_at`` on a P); firing is a timer wake-up, so a goroutine it readies goes to the global
queue (Go's timerproc and the netpoller inject goroutines the same way).  Durations are
integer nanoseconds (Go's ``time.Duration``); ``SECOND``, ``MILLISECOND``... name the units.

Departure: Go 1.5 runs timers on one ``timerproc`` goroutine; here each fires as a callback
on its P, so firing costs a callback, not a goroutine switch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from aiogc.errors import NotInGoroutine
from aiogc.sched.p import CUR, P
from aiogc.sched.sync import Chan

__all__ = ["Timer", "Ticker", "after", "after_func", "now", "tick",
           "NANOSECOND", "MICROSECOND", "MILLISECOND", "SECOND", "MINUTE", "HOUR"]

NANOSECOND = 1
MICROSECOND = 1_000
MILLISECOND = 1_000_000
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE


def _p(what: str) -> P:
    p = CUR.p
    if p is None or p.curg is None:
        raise NotInGoroutine(f"{what} must be called inside a goroutine (aiogc.run(main()))")
    return p


def _duration(d: object, what: str) -> int:
    if isinstance(d, bool) or not isinstance(d, int):
        raise TypeError(f"{what} needs an int duration in nanoseconds, got {type(d).__name__}")
    return d


def now() -> int:
    """``time.Now()``: the runtime's clock in integer ns (virtual, or wall since the run began)."""
    return _p("aiogc.now()").now_ns()


class Timer:
    """Go's ``time.Timer``: ``c`` receives the time once, ``d`` ns after creation or ``reset``.

    Must be created inside a goroutine.  ``d <= 0`` fires at once (at the next timer event).
    """

    __slots__ = ("c", "_p", "_handle", "_func")

    def __init__(self, d: int, *, _func: Callable[[], Coroutine[Any, Any, Any]] | None = None) -> None:
        d = _duration(d, "Timer")
        self._p = _p("aiogc.Timer()")
        self._func = _func
        # after_func's timer has no channel in Go (C is nil); here it has one nobody reads.
        self.c: Chan[int] = Chan(1)
        self._handle: asyncio.TimerHandle | None = None
        self._arm(d)

    def _arm(self, d: int) -> None:
        p = self._p
        when = p.now_ns() + max(0, d)
        h = asyncio.TimerHandle(when / 1e9, self._fire, (), p, None)
        p.sched.driver.add_timer(p, when, h)
        self._handle = h

    def _fire(self) -> None:
        self._handle = None
        if self._func is not None:
            self._p.sched.newproc(self._func(), self._p, label="AfterFunc")
            return
        # sendTime: never blocks; a full buffer drops it.  The time is the event's (the P's own
        # clock may have run ahead of it in a long compute).
        self.c._try_send(self._p.sched.now(None))

    def stop(self) -> bool:
        """``Stop``: True if this call stopped the timer, False if it had fired or been stopped."""
        h = self._handle
        if h is None:
            return False
        h.cancel()
        self._handle = None
        return True

    def reset(self, d: int) -> bool:
        """``Reset``: fire ``d`` ns from now; True if the timer had been active."""
        d = _duration(d, "Timer.reset")
        active = self.stop()
        self._arm(d)
        return active

    def __repr__(self) -> str:
        return f"<aiogc.Timer active={self._handle is not None}>"


class Ticker:
    """Go's ``time.Ticker``: ``c`` receives the time every ``d`` ns; slow receivers miss ticks."""

    __slots__ = ("c", "_p", "_handle", "_period", "_when")

    def __init__(self, d: int) -> None:
        d = _duration(d, "Ticker")
        if d <= 0:
            raise ValueError("non-positive interval for NewTicker")
        self._p = _p("aiogc.Ticker()")
        self.c: Chan[int] = Chan(1)
        self._period = d
        self._handle: asyncio.TimerHandle | None = None
        self._start(self._p.now_ns() + d)

    def _start(self, when: int) -> None:
        p = self._p
        self._when = when
        h = asyncio.TimerHandle(when / 1e9, self._fire, (), p, None)
        p.sched.driver.add_timer(p, when, h)
        self._handle = h

    def _fire(self) -> None:
        t = self._p.sched.now(None)  # the event's time, as in Timer._fire
        self.c._try_send(t)  # dropped if the receiver has not taken the previous tick
        period = self._period
        late = t - self._when
        # Go's timerproc: the next tick is due at the first multiple of the period after now.
        self._start(self._when + period * (1 + late // period))

    def stop(self) -> None:
        """``Stop``: no more ticks (a tick already in ``c`` stays there, as in Go)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def reset(self, d: int) -> None:
        """``Reset``: stop, then tick every ``d`` ns from now."""
        d = _duration(d, "Ticker.reset")
        if d <= 0:
            raise ValueError("non-positive interval for Ticker.Reset")
        self.stop()
        self._period = d
        self._start(self._p.now_ns() + d)

    def __repr__(self) -> str:
        return f"<aiogc.Ticker period={self._period} active={self._handle is not None}>"


def after(d: int) -> Chan[int]:
    """``time.After(d)``: a channel that receives the time once, ``d`` ns from now (for ``select``)."""
    return Timer(d).c


def tick(d: int) -> Chan[int]:
    """``time.Tick(d)``: a ticker's channel (the ticker is never stopped, as in Go)."""
    return Ticker(d).c


def after_func(d: int, f: Callable[[], Coroutine[Any, Any, Any]]) -> Timer:
    """``time.AfterFunc``: start ``f()`` as a goroutine ``d`` ns from now; ``stop()`` cancels it."""
    if not callable(f):
        raise TypeError(f"after_func needs a coroutine function, got {type(f).__name__}")
    return Timer(d, _func=f)
