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
  * a ``GC`` lane with each finished cycle's phase slices — sweepterm, scan,
    install wb, mark (split into mark 1 / mark 2 when mark 2 ran), marktermination —
    drawn from the coordinator's ``CycleWork`` record (the ``GCDone`` event), i.e.
    from the very timestamps gctrace prints, and inside them a slice "mark N
    complete, awaiting coordinator" from each ``complete()`` to the coordinator
    running; and a ``GC cycles`` lane with one slice per cycle;
  * a flow arrow (``s`` -> ``f``) from each ``complete()`` instant, on the lane of
    the P that called it, to the slice of the coordinator starting, on the lane of
    the P it runs on: the hand-off the seed change is about;
  * one track per system goroutine (the GC coordinator, the mark workers) — and with
    ``goroutines=True`` (``--trace-goroutines``) per goroutine — holding its
    "running on Pn" slices and its "runnable" slices: from being readied (created,
    unparked, yielded or preempted) to starting, with who readied it and where;
  * counters (``C``): ``heap live``, ``heap trigger``, ``heap goal`` in bytes from t=0
    (the goal as ``read_mem_stats`` reports it: between cycles, the next cycle's),
    and, when the trace has the runtime, each P's run-queue length (``runq Pn``,
    ``runnext`` not counted) and the global queue's (``global runq``).

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
    GoCreate,
    GoEnd,
    GoPark,
    GoPreempt,
    GoSched,
    GoStart,
    GoUnpark,
    HeapAlloc,
    ProcStop,
    Steal,
    STWEnd,
    STWStart,
    WorkerEnd,
    WorkerStart,
)
from aiogc.trace.metrics import heap_goal_now

PID = 1
_GO_STOP: frozenset[type[Event]] = frozenset({GoSched, GoPreempt, GoPark, GoEnd})
# Events after which a run queue may have changed length (the counters are re-read then).
_QUEUE_KINDS: frozenset[type[Event]] = frozenset({GoCreate, GoUnpark, GoStart, GoSched, GoPreempt, Steal,
                                                 ProcStop, STWEnd})
G_TID_BASE = MAX_GOMAXPROCS + 16  # goroutine tracks: tid = G_TID_BASE + goroutine id


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
                 metadata: dict[str, Any] | None = None, goroutines: bool = False) -> None:
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
        self._phase: tuple[str, int] | None = None  # the running cycle's phase (phase, start ns)
        self._mark2_ns = -1  # when the running cycle entered mark 2
        self._cycle: tuple[int, int] | None = None  # (n, start ns)
        self._counters: dict[str, int] = {}
        self.last_ns = 0
        self._unsubscribe: Callable[[], None] | None = None
        self.rt = rt
        self.goroutines = goroutines
        self._runnable: dict[int, tuple[int, str, int, int]] = {}  # g -> (since, why, on P, by G)
        self._g_tracks: set[int] = set()
        self._complete: dict[int, tuple[int, int, str, int]] = {}  # phase -> (ts, p, who, flow id)
        self._flow_id = 0
        self._initial_counters()

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
        ts, kind, p, g = ev.ts, type(ev), ev.p, ev.g
        if ts > self.last_ns:
            self.last_ns = ts
        if p >= self.nprocs:
            self.nprocs = p + 1  # a P added by runtime.GOMAXPROCS: it gets a lane too
        if kind in _QUEUE_KINDS:
            self._queue_counters(ts)
        if isinstance(ev, GoCreate):
            self._runnable[ev.new_g] = (ts, "created", p, g)
        elif isinstance(ev, GoUnpark):
            self._runnable[ev.target] = (ts, "readied", p, g)
        elif isinstance(ev, (GoSched, GoPreempt)):
            self._runnable[g] = (ts, "yielded" if kind is GoSched else "preempted", p, g)
        if isinstance(ev, GoStart):
            self._end_g(p, ts)
            if ev.label:
                self.labels[g] = ev.label
            self._start_g(g, p, ts)
            if p >= 0:
                self._run[p] = (g, ts)
        elif kind in _GO_STOP:
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
            if ev.phase == "mark2":
                self._mark2_ns = ts
            if ev.phase != "off" and ev.phase != "mark2":
                self._phase = (ev.phase, ts)  # drawn only if the cycle is unfinished at the end
        elif isinstance(ev, GCStart):
            self._cycle = (ev.n, ts)
            self._mark2_ns = -1
            self._counter("heap trigger", ts, ev.trigger)
            self._counter("heap live", ts, ev.heap_live)
        elif isinstance(ev, GCDone):
            self._done(ev)
        elif isinstance(ev, GCComplete):
            self._flow_id += 1
            self._complete[ev.phase] = (ts, p, ev.who, self._flow_id)
            self._instant(p, f"complete() mark {ev.phase} by {ev.who}", ts, "gc.complete",
                          {"phase": ev.phase, "who": ev.who, "g": g, "flow": self._flow_id})
            self._flow("s", p, ts, self._flow_id)
        elif isinstance(ev, GCCoordWake):
            lat = ev.latency_ns
            self._instant(p, f"coordinator wakes ({_fmt_lat(lat)})", ts, "gc.coord",
                          {"phase": ev.phase, "latency_ns": lat, "completed_on": ev.completed_on,
                           "who": ev.who, "alloc_after": ev.alloc_after, "g": g})
            done = self._complete.pop(ev.phase, None)
            if done is not None:
                t0, cp, who, fid = done
                self._flow("f", p, ts, fid)
                self._slice(self.gc_tid, f"mark {ev.phase} complete, awaiting coordinator", t0, ts,
                            "gc.await", {"who": who, "completed_on": cp, "ran_on": p, "latency_ns": lat,
                                         "alloc_after": ev.alloc_after})
        elif isinstance(ev, HeapAlloc):
            self._counter("heap live", ts, ev.heap_live)
            self._counter("heap trigger", ts, ev.trigger)
            self._counter("heap goal", ts, self._goal(ev.goal))
        elif isinstance(ev, STWStart):
            self._instant(p, "stop the world", ts, "sched.stw", {"g": g})
        elif isinstance(ev, Steal):
            self._instant(p, f"steal {ev.n} from P{ev.victim}", ts, "sched.steal",
                          {"victim": ev.victim, "n": ev.n, "g": g})

    def _done(self, ev: GCDone) -> None:
        """A finished cycle: its slice, and its phase slices from the coordinator's record — the
        timestamps gctrace prints, so both show the same boundaries."""
        cs, w, ts = ev.stats, ev.work, ev.ts
        if self._cycle is not None:
            n, t0 = self._cycle
            self._slice(self.cycle_tid, f"GC {n}", t0, ts, "gc.cycle",
                        {"n": cs.n, "heap_goal": cs.heap_goal, "heap_at_mark_term": cs.heap_at_mark_term,
                         "overshoot": cs.overshoot, "coordinator_latency_ns": cs.coordinator_latency_ns,
                         "completed_by": cs.completed_by, "alloc_after_complete": cs.alloc_after_complete})
            self._cycle = None
        for name, a, b in (("sweepterm", w.t_sweepterm, w.t_scan), ("scan", w.t_scan, w.t_installwb),
                           ("install wb", w.t_installwb, w.t_mark), ("mark", w.t_mark, w.t_markterm),
                           ("marktermination", w.t_markterm, w.t_end)):
            self._slice(self.gc_tid, name, a, b, "gc.phase", {"phase": name, "n": cs.n, "dur_ns": b - a})
        if w.mark2 and w.t_mark <= self._mark2_ns <= w.t_markterm:
            self._slice(self.gc_tid, "mark 1", w.t_mark, self._mark2_ns, "gc.phase", {"phase": "mark 1", "n": cs.n})
            self._slice(self.gc_tid, "mark 2", self._mark2_ns, w.t_markterm, "gc.phase",
                        {"phase": "mark 2", "n": cs.n})
        self._phase = None
        self._counter("heap live", ts, cs.heap_live_after)
        self._counter("heap goal", ts, self._goal(cs.heap_goal))

    # ---- builders -----------------------------------------------------------------------------------
    def _gname(self, g: int) -> str:
        return self.labels.get(g) or f"G{g}"

    def _goal(self, fallback: int) -> int:
        """The goal now, as ``read_mem_stats`` reports it (never 0 before the first cycle)."""
        gc = getattr(self.rt, "gc", None)
        if gc is None:
            return fallback
        return heap_goal_now(gc)

    def _initial_counters(self) -> None:
        """Heap live, trigger and goal at the moment of attaching (t=0 before a run)."""
        rt = self.rt
        gc = getattr(rt, "gc", None)
        if gc is None:
            return
        ts = int(rt.now_ns()) if getattr(rt.sched, "driver", None) is not None else 0
        self._counter("heap live", ts, int(gc.heap.heap_live))
        self._counter("heap trigger", ts, int(gc.pacer.next_gc))
        self._counter("heap goal", ts, self._goal(0))
        self._queue_counters(ts)

    def _queue_counters(self, ts: int) -> None:
        sched = getattr(self.rt, "sched", None)
        if sched is None:
            return
        for q in sched.allp:
            self._counter(f"runq P{q.id}", ts, len(q.runq), "goroutines")
        self._counter("global runq", ts, len(sched.gq), "goroutines")

    def _tracked(self, g: int) -> bool:
        """Does goroutine ``g`` get its own track? Every one with ``goroutines``; else the system
        goroutines (the GC coordinator and the mark workers)."""
        if self.goroutines:
            return True
        sched = getattr(self.rt, "sched", None)
        gg = sched.allgs.get(g) if sched is not None else None
        if gg is not None:
            return bool(gg.system)
        return self._gname(g).startswith("GC ")

    def _start_g(self, g: int, p: int, ts: int) -> None:
        """``g`` starts on ``p``: close its runnable slice on its own track (if it has one)."""
        r = self._runnable.pop(g, None)
        if not self._tracked(g):
            return
        self._g_tracks.add(g)
        if r is not None:
            t0, why, on, by = r
            self._slice(G_TID_BASE + g, "runnable", t0, ts, "goroutine.runnable",
                        {"g": g, "why": why, "readied_on": on, "readied_by": by, "started_on": p,
                         "waited_ns": max(0, ts - t0)})

    def _end_g(self, p: int, ts: int) -> None:
        cur = self._run.pop(p, None)
        if cur is not None:
            g, t0 = cur
            self._slice(p, self._gname(g), t0, ts, "goroutine", {"g": g})
            if g in self._g_tracks:
                self._slice(G_TID_BASE + g, f"running on P{p}", t0, ts, "goroutine.running", {"g": g, "p": p})

    def _flow(self, ph: str, tid: int, ts: int, fid: int) -> None:
        """One end of the complete() -> coordinator flow arrow (bound to the enclosing slice)."""
        ev: dict[str, Any] = {"ph": ph, "id": fid, "name": "complete() -> coordinator", "cat": "gc.handoff",
                              "ts": _us(ts), "pid": PID, "tid": tid if tid >= 0 else self.gc_tid}
        if ph == "f":
            ev["bp"] = "e"
        self.events.append(ev)

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

    def _counter(self, name: str, ts: int, value: int, unit: str = "bytes") -> None:
        if self._counters.get(name) == value:
            return
        self._counters[name] = value
        self.events.append({"ph": "C", "name": name, "ts": _us(ts), "pid": PID, "args": {unit: value}})

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
        for g in sorted(self._g_tracks):
            name = f"G{g} {self.labels[g]}" if self.labels.get(g) else f"G{g}"
            out.append({"ph": "M", "name": "thread_name", "pid": PID, "tid": G_TID_BASE + g, "args": {"name": name}})
            out.append({"ph": "M", "name": "thread_sort_index", "pid": PID, "tid": G_TID_BASE + g,
                        "args": {"sort_index": G_TID_BASE + g}})
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
                if g in self._g_tracks:  # its own track too, as _end_g does for a finished slice
                    self._slice(G_TID_BASE + g, f"running on P{p}", t0, end, "goroutine.running",
                                {"g": g, "p": p, "unfinished": True})
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


def attach(runtime: Any, path: str | os.PathLike[str], *, goroutines: bool = False) -> Callable[[], None]:
    """Subscribe a ``PerfettoTrace`` to ``runtime``; the returned function detaches it and writes ``path``.
    ``goroutines``: one track per goroutine (``--trace-goroutines``)."""
    trace = PerfettoTrace.attach(runtime, goroutines=goroutines)

    def close() -> None:
        trace.detach()
        trace.write(path)

    return close
