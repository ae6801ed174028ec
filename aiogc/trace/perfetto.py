"""Perfetto / Chrome trace-event JSON from the event bus.

``PerfettoTrace`` is a bus subscriber: attach it with ``rt.bus.subscribe(trace)``
(or ``PerfettoTrace.attach(rt)``), run, then ``trace.write(path)``; the file opens
in https://ui.perfetto.dev or chrome://tracing.  It only reads events: data flows
one way, from the model to the trace.

Layout (one process, "aiogc"):
  * one thread lane per P, named ``P0`` .. ``Pn``, holding
      - goroutine slices (``X``): from ``GoStart`` to the next ``GoSched``,
        ``GoPreempt``, ``GoPark``, ``GoEnd`` or ``GoStart`` on that P; named after
        the goroutine's label, else ``G<id>``;
      - assist slices (``AssistStart`` -> ``AssistEnd``) and mark-worker slices
        (``WorkerStart`` -> ``WorkerEnd``), nested inside the goroutine slice;
      - instants (``i``) for ``complete()`` (``GCComplete``: phase, who) and for the
        coordinator's wake-up (``GCCoordWake``: latency, who completed, where);
  * a ``GC`` lane with the phase slices (sweepterm, scan, mark, mark2,
    marktermination; ``off`` closes the last one) and cycle slices;
  * counters (``C``): ``heap live``, ``heap trigger``, ``heap goal`` in bytes,
    from ``HeapAlloc`` samples and the ``GCStart``/``GCDone`` payloads.

Timestamps are microseconds with nanosecond fractions (``ns / 1000`` rounded to
3 decimals).  The run's configuration (seed included) is in the top-level
``otherData`` object and in the process's labels.

Note: in virtual time each P has its own clock, so events from different Ps are
not globally ordered; per lane they are.  A slice whose end would precede its
start (a cross-P skew, e.g. a GC phase begun on one P and ended on another) is
given duration 0 rather than a negative one.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from typing import Any

from aiogc.config import MAX_GOMAXPROCS
from aiogc.trace.events import (
    AssistEnd,
    AssistStart,
    Event,
    GCComplete,
    GCCoordWake,
    GCDone,
    GCPhase,
    GCStart,
    GoEnd,
    GoPark,
    GoPreempt,
    GoSched,
    GoStart,
    HeapAlloc,
    Steal,
    STWStart,
    WorkerEnd,
    WorkerStart,
)

PID = 1
_GO_STOP: frozenset[type[Event]] = frozenset({GoSched, GoPreempt, GoPark, GoEnd})


def _us(ns: int) -> float:
    return round(ns / 1000.0, 3)


def config_metadata(config: Any) -> dict[str, Any]:
    """The JSON-safe fields of a ``Config`` (or any dataclass / mapping)."""
    if config is None:
        return {}
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        items = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    elif isinstance(config, dict):
        items = dict(config)
    else:
        return {"config": repr(config)}
    out: dict[str, Any] = {}
    for k, v in items.items():
        if v is None or isinstance(v, (bool, int, float, str)):
            out[k] = v
        elif isinstance(v, dict) and all(isinstance(x, (bool, int, float, str)) for x in v.values()):
            out[k] = dict(v)
        else:
            out[k] = repr(v)
    return out


class PerfettoTrace:
    """Builds a Chrome trace-event JSON document from bus events (see the module docstring)."""

    def __init__(self, rt: Any = None, *, gomaxprocs: int | None = None, config: Any = None,
                 metadata: dict[str, Any] | None = None) -> None:
        if config is None and rt is not None:
            config = rt.config
        if gomaxprocs is None:
            gomaxprocs = getattr(config, "gomaxprocs", None) or (len(rt.sched.allp) if rt is not None else 1)
        self.nprocs = int(gomaxprocs)
        # The GC lanes come after every possible P lane (GOMAXPROCS may grow during the run).
        self.gc_tid = MAX_GOMAXPROCS  # GC phase slices
        self.cycle_tid = MAX_GOMAXPROCS + 1  # one slice per GC cycle
        self.meta: dict[str, Any] = {"tool": "aiogc", "config": config_metadata(config)}
        if metadata:
            self.meta.update(metadata)
        self.events: list[dict[str, Any]] = []
        self.labels: dict[int, str] = {}  # goroutine id -> label
        self._run: dict[int, tuple[int, int]] = {}  # p -> (g, start ns)
        self._assist: dict[int, tuple[int, int, int]] = {}  # g -> (p, start ns, debt)
        self._worker: dict[int, tuple[int, int, str]] = {}  # g -> (p, start ns, mode)
        self._phase: tuple[str, int] | None = None  # (phase, start ns)
        self._gc_last = 0
        self._cycle: tuple[int, int] | None = None  # (n, start ns)
        self._counters: dict[str, int] = {}
        self.last_ns = 0
        self._unsubscribe: Callable[[], None] | None = None

    # ---- wiring ------------------------------------------------------------------------------
    @classmethod
    def attach(cls, rt: Any, **kw: Any) -> PerfettoTrace:
        """A trace subscribed to ``rt.bus``."""
        t = cls(rt, **kw)
        t._unsubscribe = rt.bus.subscribe(t)
        return t

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # ---- the subscriber --------------------------------------------------------------------------
    def __call__(self, ev: Event) -> None:
        ts = ev.ts
        p = ev.p
        g = ev.g
        if ts > self.last_ns:
            self.last_ns = ts
        if p >= self.nprocs:
            self.nprocs = p + 1  # a P added by runtime.GOMAXPROCS: it gets a lane too
        if isinstance(ev, GoStart):
            self._end_g(p, ts)
            if ev.label:
                self.labels[g] = ev.label
            if p >= 0:
                self._run[p] = (g, ts)
        elif type(ev) in _GO_STOP:
            cur = self._run.get(p)
            if cur is not None and cur[0] == g:
                self._end_g(p, ts)
        elif isinstance(ev, AssistStart):
            self._assist[g] = (p, ts, ev.debt)
        elif isinstance(ev, AssistEnd):
            st = self._assist.pop(g, None)
            if st is not None:
                self._slice(st[0], "assist", st[1], ts, "gc.assist",
                            {"g": g, "debt": st[2], "work": ev.work, "stolen": ev.stolen,
                             "completed": ev.completed})
        elif isinstance(ev, WorkerStart):
            self._worker[g] = (p, ts, ev.mode)
        elif isinstance(ev, WorkerEnd):
            wst = self._worker.pop(g, None)
            if wst is not None:
                self._slice(wst[0], f"mark worker ({ev.mode})", wst[1], ts, "gc.worker",
                            {"g": g, "mode": ev.mode, "work": ev.work})
        elif isinstance(ev, GCPhase):
            self._gc_phase(ev.phase, ts)
        elif isinstance(ev, GCStart):
            self._cycle = (ev.n, ts)
            self._counter("heap trigger", ts, ev.trigger)
            self._counter("heap live", ts, ev.heap_live)
        elif isinstance(ev, GCDone):
            cs = ev.stats
            if self._cycle is not None:
                n, t0 = self._cycle
                self._slice(self.cycle_tid, f"GC {n}", t0, ts, "gc.cycle",
                            {"n": cs.n, "heap_goal": cs.heap_goal, "heap_at_mark_term": cs.heap_at_mark_term,
                             "overshoot": cs.overshoot, "coordinator_latency_ns": cs.coordinator_latency_ns,
                             "completed_by": cs.completed_by, "alloc_after_complete": cs.alloc_after_complete})
                self._cycle = None
            self._counter("heap live", ts, cs.heap_live_after)
        elif isinstance(ev, GCComplete):
            self._instant(p, f"complete() mark {ev.phase} by {ev.who}", ts, "gc.complete",
                          {"phase": ev.phase, "who": ev.who, "g": g})
        elif isinstance(ev, GCCoordWake):
            self._instant(p, f"coordinator wakes ({_fmt_lat(ev.latency_ns)})", ts, "gc.coord",
                          {"phase": ev.phase, "latency_ns": ev.latency_ns, "completed_on": ev.completed_on,
                           "who": ev.who, "alloc_after": ev.alloc_after, "g": g})
        elif isinstance(ev, HeapAlloc):
            self._counter("heap live", ts, ev.heap_live)
            self._counter("heap trigger", ts, ev.trigger)
            self._counter("heap goal", ts, ev.goal)
        elif isinstance(ev, STWStart):
            self._instant(p, "stop the world", ts, "sched.stw", {"g": g})
        elif isinstance(ev, Steal):
            self._instant(p, f"steal {ev.n} from P{ev.victim}", ts, "sched.steal",
                          {"victim": ev.victim, "n": ev.n, "g": g})

    # ---- builders -----------------------------------------------------------------------------------
    def _gname(self, g: int) -> str:
        return self.labels.get(g) or f"G{g}"

    def _end_g(self, p: int, ts: int) -> None:
        cur = self._run.pop(p, None)
        if cur is not None:
            g, t0 = cur
            self._slice(p, self._gname(g), t0, ts, "goroutine", {"g": g})

    def _slice(self, tid: int, name: str, t0: int, t1: int, cat: str, args: dict[str, Any]) -> None:
        if tid < 0:
            tid = self.gc_tid
        self.events.append({"ph": "X", "name": name, "cat": cat, "ts": _us(t0), "dur": _us(max(0, t1 - t0)),
                            "pid": PID, "tid": tid, "args": args})

    def _instant(self, tid: int, name: str, ts: int, cat: str, args: dict[str, Any]) -> None:
        if tid < 0:
            tid = self.gc_tid
        self.events.append({"ph": "i", "s": "t", "name": name, "cat": cat, "ts": _us(ts), "pid": PID,
                            "tid": tid, "args": args})

    def _counter(self, name: str, ts: int, value: int) -> None:
        if self._counters.get(name) == value:
            return
        self._counters[name] = value
        self.events.append({"ph": "C", "name": name, "ts": _us(ts), "pid": PID, "args": {"bytes": value}})

    def _gc_phase(self, phase: str, ts: int) -> None:
        # Phases are emitted from whichever P runs the coordinator: keep the lane monotonic.
        ts = max(ts, self._gc_last)
        self._gc_last = ts
        if self._phase is not None:
            name, t0 = self._phase
            self._slice(self.gc_tid, name, t0, ts, "gc.phase", {"phase": name})
            self._phase = None
        if phase != "off":
            self._phase = (phase, ts)

    def _metadata(self) -> list[dict[str, Any]]:
        cfg = self.meta.get("config", {})
        label = ", ".join(f"{k}={cfg[k]}" for k in ("seed", "gomaxprocs", "gogc", "yield_after_assist", "clock")
                          if k in cfg)
        out: list[dict[str, Any]] = [
            {"ph": "M", "name": "process_name", "pid": PID, "tid": 0, "args": {"name": "aiogc"}},
            {"ph": "M", "name": "process_labels", "pid": PID, "tid": 0, "args": {"labels": label}},
        ]
        for i in range(self.nprocs):
            out.append({"ph": "M", "name": "thread_name", "pid": PID, "tid": i, "args": {"name": f"P{i}"}})
            out.append({"ph": "M", "name": "thread_sort_index", "pid": PID, "tid": i, "args": {"sort_index": i}})
        for tid, name in ((self.gc_tid, "GC"), (self.cycle_tid, "GC cycles")):
            out.append({"ph": "M", "name": "thread_name", "pid": PID, "tid": tid, "args": {"name": name}})
            out.append({"ph": "M", "name": "thread_sort_index", "pid": PID, "tid": tid,
                        "args": {"sort_index": tid}})
        return out

    # ---- output -------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The trace document.  Slices still open (a goroutine running when the run ended) are closed
        at the last timestamp seen, without changing the recorded state."""
        end = self.last_ns
        tail: list[dict[str, Any]] = []
        saved = self.events
        self.events = tail
        try:
            for p, (g, t0) in sorted(self._run.items()):
                self._slice(p, self._gname(g), t0, end, "goroutine", {"g": g, "unfinished": True})
            for g, (p, t0, debt) in sorted(self._assist.items()):
                self._slice(p, "assist", t0, end, "gc.assist", {"g": g, "debt": debt, "unfinished": True})
            for g, (p, t0, mode) in sorted(self._worker.items()):
                self._slice(p, f"mark worker ({mode})", t0, end, "gc.worker", {"g": g, "unfinished": True})
            if self._phase is not None:
                self._slice(self.gc_tid, self._phase[0], self._phase[1], end, "gc.phase",
                            {"phase": self._phase[0], "unfinished": True})
        finally:
            self.events = saved
        return {
            "traceEvents": self._metadata() + self.events + tail,
            "displayTimeUnit": "ns",
            "otherData": self.meta,
        }

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the trace as JSON to ``path``."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_json(), f, separators=(",", ":"))
            f.write("\n")


def _fmt_lat(ns: Any) -> str:
    try:
        v = float(ns)
    except (TypeError, ValueError):
        return "?"
    if v < 1_000:
        return f"{v:.0f} ns"
    if v < 1_000_000:
        return f"{v / 1e3:.1f} µs"
    return f"{v / 1e6:.2f} ms"


def attach(runtime: Any, path: str | os.PathLike[str]) -> Callable[[], None]:
    """Subscribe a ``PerfettoTrace`` to ``runtime``; the returned function detaches it and writes ``path``."""
    trace = PerfettoTrace.attach(runtime)

    def close() -> None:
        trace.detach()
        trace.write(path)

    return close
