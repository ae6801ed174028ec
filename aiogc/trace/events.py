"""The event bus and the typed events: the one channel by which the model talks to what watches it.

Data flows one way.  ``sched/`` and ``collector/`` build an event record and call
``EventBus.emit``; trace writers (gctrace, gcpacertrace, schedtrace, Perfetto),
metrics and the live view subscribe.  Nobody subscribed means ``bus.on`` is
False, and every emit site in the model is guarded by it
(``if bus.on: bus.emit(GoStart(...))``), so an unobserved run pays one
attribute load per site and builds no record — the same zero-cost idea as
trio's ``Instrument`` hooks.

An event is a small slotted record, one class per kind.  Every record has
  ts  runtime time in integer nanoseconds (virtual or wall),
  p   the P id the event happened on (-1 when none),
  g   the goroutine id concerned (-1 when none),
and the fields of its kind (below, with their meaning).  ``type(ev).kind`` is
the kind's name (Go's execution-tracer name for the scheduler kinds), and ``Ev``
names the classes, so a consumer dispatches on ``type(ev)`` or ``ev.kind`` and
reads fields by name.  Records hold plain values (ints, strs, bools, and the
collector's own immutable-by-convention records), so ``repr`` is deterministic
and a trace can be hashed for determinism tests (``Recorder.digest``).

This module is in the lowest layer (docs/architecture.md): it imports nothing from
aiogc except the records it carries, which live with it in the lowest layer.

A subscriber that raises is detached, with a one-line warning on stderr, and the
run goes on: an observer's bug must not become a goroutine's panic nor escape
the driver.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from aiogc.collector.work import CycleWork
    from aiogc.trace.metrics import CycleStats


@dataclass(slots=True)
class Event:
    """The header every event has (see the module docstring)."""

    kind: ClassVar[str] = "Event"
    ts: int
    p: int
    g: int


# ---- scheduler (Go execution-tracer kinds) -----------------------------------------------------------
@dataclass(slots=True)
class GoCreate(Event):
    """``newproc``: ``g`` (-1 outside any goroutine) created goroutine ``new_g``."""

    kind: ClassVar[str] = "GoCreate"
    new_g: int


@dataclass(slots=True)
class GoStart(Event):
    """``execute``: ``g`` starts running on ``p``."""

    kind: ClassVar[str] = "GoStart"
    label: str


@dataclass(slots=True)
class GoEnd(Event):
    """``goexit0``: ``g`` returned or raised."""

    kind: ClassVar[str] = "GoEnd"


@dataclass(slots=True)
class GoSched(Event):
    """``goschedImpl``: ``g`` yielded (to the global queue tail)."""

    kind: ClassVar[str] = "GoSched"


@dataclass(slots=True)
class GoPreempt(Event):
    """``gopreempt_m``: ``g`` was preempted (sysmon or stop-the-world), to the global queue tail."""

    kind: ClassVar[str] = "GoPreempt"


@dataclass(slots=True)
class GoPark(Event):
    """``gopark``: ``g`` parked with wait reason ``reason``."""

    kind: ClassVar[str] = "GoPark"
    reason: str


@dataclass(slots=True)
class GoUnpark(Event):
    """``ready``: ``g`` (the waker; -1 from a callback or timer) readied goroutine ``target``."""

    kind: ClassVar[str] = "GoUnpark"
    target: int


@dataclass(slots=True)
class Steal(Event):
    """``runqsteal``: ``p`` stole ``n`` goroutines from P ``victim``; ``g`` is the one it runs now."""

    kind: ClassVar[str] = "Steal"
    victim: int
    n: int


@dataclass(slots=True)
class ProcStart(Event):
    """``p`` left the idle list."""

    kind: ClassVar[str] = "ProcStart"


@dataclass(slots=True)
class ProcStop(Event):
    """``p`` went idle."""

    kind: ClassVar[str] = "ProcStop"


@dataclass(slots=True)
class STWStart(Event):
    """``g`` on ``p`` asked to stop the world."""

    kind: ClassVar[str] = "STWStart"


@dataclass(slots=True)
class STWEnd(Event):
    """``startTheWorld`` by ``p``."""

    kind: ClassVar[str] = "STWEnd"


# ---- collector (aiogc kinds) ---------------------------------------------------------------------------
@dataclass(slots=True)
class MStall(Event):
    """The host model (sched/host.py): at the wake-up ``where`` the coordinator's M shared a CPU
    with the M it woke or was woken by, and ``p`` lost ``ns`` from ``ts``."""

    kind: ClassVar[str] = "MStall"
    ns: int
    where: str


@dataclass(slots=True)
class SafePointFn(Event):
    """``forEachP``'s function ran for P ``p`` (``runSafePointFn``; by the caller for itself and
    for idle Ps): ``what`` is "barrier" (the write barrier's ragged barrier, nothing to do) or
    "dispose" (the mark-1 flush), which put ``flushed`` grey objects of ``p``'s cache on the
    global lists."""

    kind: ClassVar[str] = "SafePointFn"
    what: str
    flushed: int


@dataclass(slots=True)
class GCStart(Event):
    """Cycle ``n`` begins (sweep termination): the trigger it crossed and the heap then."""

    kind: ClassVar[str] = "GCStart"
    n: int
    trigger: int
    heap_live: int
    forced: bool


@dataclass(slots=True)
class GCPhase(Event):
    """The collector entered ``phase``: "sweepterm", "scan", "mark", "mark2", "marktermination", "off"."""

    kind: ClassVar[str] = "GCPhase"
    phase: str


@dataclass(slots=True)
class GCPacerStart(Event):
    """``startCycle`` computed the cycle's pacing (the inputs of gcpacertrace's first line)."""

    kind: ClassVar[str] = "GCPacerStart"
    assist_ratio: float
    heap_scan: int
    initial_heap_live: int
    heap_goal: int
    dedicated: int
    fractional: int
    forced: bool


@dataclass(slots=True)
class GCPacerEnd(Event):
    """``endCycle``: the trigger controller's inputs and output (gcpacertrace's ``pacer:`` line)."""

    kind: ClassVar[str] = "GCPacerEnd"
    H_m_prev: int
    h_t: float
    H_T: int
    h_a: float
    H_a: int
    h_g: float
    H_g: int
    u_a: float
    u_g: float
    W_a: int
    goal_delta: float
    actual_delta: float
    u_a_over_u_g: float
    trigger_error: float
    trigger_ratio: float
    duration_ns: int


@dataclass(slots=True)
class GCDone(Event):
    """Cycle finished (world restarted): its measurements, its timeline, and the run's GC totals.

    ``t0_ns`` is when the collector started (gctrace's ``@T`` origin); ``gc_cpu_ns`` the run's GC
    CPU time so far, idle marking excluded (gctrace's ``U%``).
    """

    kind: ClassVar[str] = "GCDone"
    stats: CycleStats
    work: CycleWork
    t0_ns: int
    gc_cpu_ns: int


@dataclass(slots=True)
class GCComplete(Event):
    """``complete()`` took effect for mark ``phase`` (1 or 2); ``who``: "assist" or "worker"."""

    kind: ClassVar[str] = "GCComplete"
    phase: int
    who: str


@dataclass(slots=True)
class GCCoordWake(Event):
    """The coordinator ``g`` ran again after mark ``phase``'s ``complete()`` on P ``completed_on``.

    ``latency_ns`` from the completion to now; ``alloc_after`` bytes allocated meanwhile.
    """

    kind: ClassVar[str] = "GCCoordWake"
    phase: int
    latency_ns: int
    completed_on: int
    who: str
    alloc_after: int


@dataclass(slots=True)
class AssistStart(Event):
    """``gcAssistAlloc``: ``g`` starts an assist owing ``debt`` scan work."""

    kind: ClassVar[str] = "AssistStart"
    debt: int


@dataclass(slots=True)
class AssistEnd(Event):
    """The assist did ``work``, stole ``stolen`` background credit, and saw completion if ``completed``."""

    kind: ClassVar[str] = "AssistEnd"
    work: int
    stolen: int
    completed: bool


@dataclass(slots=True)
class WorkerStart(Event):
    """A background mark worker ``g`` starts in ``mode`` ("dedicated", "fractional", "idle")."""

    kind: ClassVar[str] = "WorkerStart"
    mode: str


@dataclass(slots=True)
class WorkerEnd(Event):
    """The worker stops after ``work`` scan work."""

    kind: ClassVar[str] = "WorkerEnd"
    mode: str
    work: int


@dataclass(slots=True)
class HeapAlloc(Event):
    """A slow-path allocation sampled the heap: live bytes, the trigger and the goal."""

    kind: ClassVar[str] = "HeapAlloc"
    heap_live: int
    trigger: int
    goal: int


class Ev:
    """The event classes by kind name: ``Ev.GoStart is GoStart``."""

    GoCreate = GoCreate
    GoStart = GoStart
    GoEnd = GoEnd
    GoSched = GoSched
    GoPreempt = GoPreempt
    GoPark = GoPark
    GoUnpark = GoUnpark
    Steal = Steal
    ProcStart = ProcStart
    ProcStop = ProcStop
    STWStart = STWStart
    STWEnd = STWEnd
    MStall = MStall
    SafePointFn = SafePointFn
    GCStart = GCStart
    GCPhase = GCPhase
    GCPacerStart = GCPacerStart
    GCPacerEnd = GCPacerEnd
    GCDone = GCDone
    GCComplete = GCComplete
    GCCoordWake = GCCoordWake
    AssistStart = AssistStart
    AssistEnd = AssistEnd
    WorkerStart = WorkerStart
    WorkerEnd = WorkerEnd
    HeapAlloc = HeapAlloc


ALL_KINDS: tuple[type[Event], ...] = tuple(v for k, v in vars(Ev).items() if not k.startswith("_"))

Subscriber = Callable[[Event], None]


class EventBus:
    """Fan-out of model events to subscribers.

    Invariant: ``self.on`` is True iff at least one subscriber is attached.  ``_subs`` is a
    tuple, replaced (never mutated) on (un)subscribe, so a subscriber may detach itself or
    another during an ``emit``.
    """

    __slots__ = ("on", "_subs")

    def __init__(self) -> None:
        self.on: bool = False
        self._subs: tuple[Subscriber, ...] = ()

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Attach ``fn``; returns a function that detaches it."""
        self._subs = (*self._subs, fn)
        self.on = True

        def unsubscribe() -> None:
            self._remove(fn)

        return unsubscribe

    def _remove(self, fn: Subscriber) -> None:
        subs = list(self._subs)
        if fn in subs:
            subs.remove(fn)
        self._subs = tuple(subs)
        self.on = bool(subs)

    def emit(self, ev: Event) -> None:
        """Deliver ``ev`` to every subscriber; one that raises is detached (one line on stderr)."""
        for fn in self._subs:
            try:
                fn(ev)
            except Exception as e:  # noqa: BLE001 - an observer's bug must not stop the model
                self._remove(fn)
                print(f"aiogc: warning: event subscriber {_name(fn)} raised {type(e).__name__}: {e} "
                      f"on {ev.kind} at {ev.ts} ns; detached", file=sys.stderr)


def _name(fn: Any) -> str:
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return str(name)


class Recorder:
    """A subscriber that keeps every event (for tests and trace files)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, ev: Event) -> None:
        self.events.append(ev)

    def of(self, *kinds: type[Event]) -> list[Any]:
        """The recorded events of the given kinds, in order."""
        return [e for e in self.events if type(e) in kinds]

    def digest(self) -> str:
        """SHA-256 of the events' repr: equal digests mean identical traces."""
        h = hashlib.sha256()
        for ev in self.events:
            h.update(repr(ev).encode())
            h.update(b"\n")
        return h.hexdigest()
