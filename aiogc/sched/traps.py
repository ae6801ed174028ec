"""Every point where a goroutine gives control back to its P — the only yield points aiogc has.

A goroutine's coroutine talks to the scheduler by *yielding* one of the trap
sentinels below (never by calling into the scheduler and switching stacks,
which Python cannot do).  The P's trampoline (``Sched.run_slice``) receives the
trap and acts on it.  Besides these, the trampoline understands two yields it
did not define: an asyncio future (park until it is done) and a bare ``yield``
(``asyncio.sleep(0)``), which it treats as ``gosched``.

Trap protocol (invariant: a trap is yielded only by the goroutine that is the
``curg`` of the running P):
  GOSCHED    the G goes to the *global* queue tail (Go's ``goschedImpl``).
  PARK       the G becomes WAITING with ``g.waitreason`` set beforehand; whoever
             holds it will ``ready`` it (Go's ``gopark``).  The value or exception
             given to ``ready`` is what the ``park`` awaitable returns or raises.
  SAFEPOINT  nothing changes state; the scheduler may preempt the G here (a
             pending sysmon request) or let other Ps catch up in virtual time.
  STW        the G asks to stop the world; it resumes once every other P has
             stopped at a safe point (``Sched._stw_begin``).
  TICK       like SAFEPOINT but never preempts: runtime code that must not be
             preempted (an assist holding the mark barrier) lets the other Ps
             catch up to its clock.

Every aiogc awaitable is a safe point.  Module-level sentinels keep the hot
path allocation-free.

Code yields a trap through the functions below (``await gosched_trap()``...), with
these exceptions, which yield the sentinel directly from a ``types.coroutine``
generator because they are the per-operation hot paths and an extra generator
frame per yield costs ~+120 ns on a ~550 ns operation (``await aiogc.compute(10)``
x 200,000 at GOMAXPROCS=1: 547 ns/op with ``yield SAFEPOINT``, 670 ns/op with
``yield from safepoint_trap()``; 2-core host under load, best of 5):
  * ``runtime._compute``                      SAFEPOINT (every ``aiogc.compute``);
  * ``gc.cycle.Collector.mallocgc``           GOSCHED after startGC, SAFEPOINT (every ``aiogc.alloc``);
  * ``sched.sync`` ``Chan`` send/recv and ``Mutex.lock``: SAFEPOINT and PARK (every channel
    operation and contended lock).
``G.__await__`` yields the G itself: that is asyncio's future protocol, not a trap.
A test (tests/test_layers.py) checks that no other module yields a raw sentinel.
"""

from __future__ import annotations

import types
from collections.abc import Generator
from typing import Any


class _Trap:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<trap {self.name}>"


GOSCHED = _Trap("gosched")
PARK = _Trap("park")
SAFEPOINT = _Trap("safepoint")
TICK = _Trap("tick")
STW = _Trap("stop the world")


@types.coroutine
def gosched_trap() -> Generator[Any, Any, None]:
    yield GOSCHED


@types.coroutine
def park_trap() -> Generator[Any, Any, Any]:
    """Yield PARK; the resumption carries the value given to ``ready`` (an exception is thrown in)."""
    return (yield PARK)


@types.coroutine
def safepoint_trap() -> Generator[Any, Any, None]:
    yield SAFEPOINT


@types.coroutine
def stw_trap() -> Generator[Any, Any, None]:
    yield STW


@types.coroutine
def tick_trap() -> Generator[Any, Any, None]:
    yield TICK
