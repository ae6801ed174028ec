"""The event bus: the one channel by which the model talks to everything that watches it.

Data flows one way.  ``sched/`` and ``gc/`` call ``EventBus.emit``; trace
writers, the live view and metrics subscribe.  Nobody subscribed means
``bus.on`` is False, and every emit site in the model is guarded by it
(``if bus.on: bus.emit(...)``), so an unobserved run pays one attribute load
per site and allocates nothing — the same zero-cost idea as trio's
``Instrument`` hooks.

An event is a plain tuple ``(ts_ns, kind, p, g, arg)``:
  ts_ns  runtime time in integer nanoseconds (virtual or wall),
  kind   one of the ``Ev`` string constants below,
  p      the P id the event happened on (-1 when none),
  g      the goroutine id concerned (-1 when none),
  arg    kind-specific payload (an int, str, tuple or dict of plain values).
Tuples of plain values keep the trace hashable for determinism tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Event = tuple[int, str, int, int, Any]
Subscriber = Callable[[Event], None]


class Ev:
    """Event kinds.  The scheduler ones follow Go's execution-tracer names."""

    # Scheduler (Go trace kinds).
    GoCreate = "GoCreate"  # arg: new goroutine id; g: creator
    GoStart = "GoStart"  # g starts running on p; arg: goroutine label
    GoEnd = "GoEnd"  # g returned
    GoSched = "GoSched"  # g called gosched (to the global queue)
    GoPreempt = "GoPreempt"  # g was preempted by sysmon (to the global queue)
    GoPark = "GoPark"  # g parked; arg: wait reason
    GoUnpark = "GoUnpark"  # g readied; arg: readied goroutine id; g: waker
    Steal = "Steal"  # p stole arg=(victim, n) goroutines
    ProcStart = "ProcStart"  # p left the idle list
    ProcStop = "ProcStop"  # p went idle
    # GC (aiogc kinds).
    GCStart = "GCStart"  # arg: dict(n, trigger, goal, heap_live)
    GCPhase = "GCPhase"  # arg: phase name ("sweepterm", "mark1", "mark2", "marktermination", "off")
    GCDone = "GCDone"  # arg: the CycleStats as a dict
    GCComplete = "GCComplete"  # complete() took effect; arg: (mark phase 1|2, who: "assist"|"worker"|"sched")
    GCCoordWake = "GCCoordWake"  # the coordinator started running after a complete(); arg: latency ns
    AssistStart = "AssistStart"  # arg: debt in scan work
    AssistEnd = "AssistEnd"  # arg: (work done, stolen, completed: bool)
    WorkerStart = "WorkerStart"  # background mark worker; arg: mode
    WorkerEnd = "WorkerEnd"  # arg: (mode, work done)
    HeapAlloc = "HeapAlloc"  # arg: (heap_live, trigger, goal) sampled
    STWStart = "STWStart"  # arg: reason
    STWEnd = "STWEnd"


class EventBus:
    """Fan-out of model events to subscribers.

    Invariant: ``self.on`` is True iff at least one subscriber is attached.
    """

    __slots__ = ("on", "_subs")

    def __init__(self) -> None:
        self.on: bool = False
        self._subs: list[Subscriber] = []

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Attach ``fn``; returns a function that detaches it."""
        self._subs.append(fn)
        self.on = True

        def unsubscribe() -> None:
            if fn in self._subs:
                self._subs.remove(fn)
            self.on = bool(self._subs)

        return unsubscribe

    def emit(self, ts: int, kind: str, p: int, g: int, arg: Any = None) -> None:
        ev = (ts, kind, p, g, arg)
        for fn in self._subs:
            fn(ev)


class Recorder:
    """A subscriber that keeps every event (for tests and trace files)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, ev: Event) -> None:
        self.events.append(ev)

    def digest(self) -> str:
        """SHA-256 of the events' repr: equal digests mean identical traces."""
        import hashlib

        h = hashlib.sha256()
        for ev in self.events:
            h.update(repr(ev).encode())
            h.update(b"\n")
        return h.hexdigest()
