"""The live view: Ps, run queues, heap vs goal, assists and the coordinator hand-off, in rich.

``LiveView`` is a bus subscriber (``rt.bus.subscribe(view)``) plus ``render()``,
which returns a rich renderable of the current state:

  * per P: status, running G, ``runnext``, run-queue length and a utilisation
    bar (mutator / assist / background mark / idle; the rest of the P's clock is
    runtime overhead: switches, allocation, write barriers, stopped worlds);
  * the GC: phase, heap live vs trigger vs goal, scan work done vs expected,
    assist ratio, cycle count;
  * a heap sparkline (heap live over virtual time, red where it exceeds the goal);
  * a log of notable events, above all what happened after each ``complete()``:
    "assist completed mark 1 on P2 → gosched → coordinator ran after 0.2 µs" (the fix)
    or "assist completed mark 1 on P2 → coordinator ran after 7.9 ms; 3.1 MB allocated
    meanwhile" (without it).

What it shows comes from the events, and from read-only snapshots of scheduler
and collector state (``snapshot_sched``, ``snapshot_gc``); it never changes the
model.  Rendered to a console that is not a terminal, rich prints plain text.

``LiveSession`` drives a rich ``Live`` from the driver's step hook (refresh every
N virtual ms, optional pacing in wall time); ``attach(runtime)`` is the
``run --live`` entry point.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from aiogc.sched.p import P_DEAD, P_GCSTOP, P_IDLE, P_RUNNING
from aiogc.trace.events import (
    AssistEnd,
    Event,
    GCComplete,
    GCCoordWake,
    GCDone,
    GCPhase,
    GCStart,
    GoSched,
    HeapAlloc,
)
from aiogc.trace.metrics import summarize

MB = 1 << 20
SPARK = " ▁▂▃▄▅▆▇█"
_P_STATUS = {P_IDLE: "idle", P_RUNNING: "running", P_GCSTOP: "gcstop", P_DEAD: "dead"}


# ---- formatting ------------------------------------------------------------------------------------
def fmt_ns(ns: float) -> str:
    """A duration for humans: ``250 ns``, ``0.4 µs``... ``7.9 ms``, ``1.20 s``."""
    if ns is None or (isinstance(ns, float) and math.isnan(ns)):
        return "-"
    v = float(ns)
    if abs(v) < 100:
        return f"{v:.0f} ns"
    if abs(v) < 1e6:
        return f"{v / 1e3:.1f} µs"
    if abs(v) < 1e9:
        return f"{v / 1e6:.1f} ms"
    return f"{v / 1e9:.2f} s"


def fmt_bytes(n: float) -> str:
    """Bytes in Go's gctrace units (MB = 2^20)."""
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "-"
    v = float(n)
    if abs(v) < 1024:
        return f"{v:.0f} B"
    if abs(v) < MB:
        return f"{v / 1024:.1f} KB"
    return f"{v / MB:.1f} MB"


def fmt_pct(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x * 100:+.1f}%"


# ---- read-only snapshots -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PSnap:
    id: int
    status: str
    curg: str  # label or "G<id>", "" when none
    runnext: str
    runq: int
    spinning: bool
    clock: int
    t_mutator: int
    t_assist: int
    t_bgmark: int
    t_idle: int


@dataclass(frozen=True)
class SchedSnap:
    now_ns: int
    ps: tuple[PSnap, ...]
    global_runq: int
    ngoroutines: int


@dataclass(frozen=True)
class GCSnap:
    phase: str
    heap_live: int
    trigger: int
    goal: int
    scan_work: int
    expected_scan: int
    assist_ratio: float
    numgc: int


def _gname(g: Any) -> str:
    if g is None:
        return ""
    return f"G{g.id} {g.label}" if g.label else f"G{g.id}"


def snapshot_sched(rt: Any) -> SchedSnap:
    """A read-only snapshot of every P (curg, runnext, run-queue length, time accounting)."""
    sched = rt.sched
    now = int(rt.now_ns())
    ps = []
    for p in sched.allp:
        idle = p.t_idle
        if p.status == P_IDLE and p.idle_since:
            idle += max(0, now - p.idle_since)
        ps.append(PSnap(
            id=p.id, status=_P_STATUS.get(p.status, str(p.status)), curg=_gname(p.curg),
            runnext=_gname(p.runnext), runq=len(p.runq), spinning=bool(p.spinning),
            clock=max(p.clock, now) if p.status == P_IDLE else p.clock,
            t_mutator=p.t_mutator, t_assist=p.t_assist, t_bgmark=p.t_bgmark, t_idle=idle,
        ))
    return SchedSnap(now_ns=now, ps=tuple(ps), global_runq=len(sched.gq), ngoroutines=len(sched.allgs))


def snapshot_gc(rt: Any) -> GCSnap | None:
    """A read-only snapshot of the collector (phase, heap, pacer, scan work)."""
    gc = rt.gc
    if gc is None:
        return None
    pacer = gc.pacer
    pending = sum(getattr(p.gcw, "scan_work", 0) or 0 for p in rt.sched.allp if p.gcw is not None)
    return GCSnap(
        phase=str(gc.phase), heap_live=int(gc.heap.heap_live), trigger=int(pacer.next_gc),
        # between cycles, the goal the next cycle will aim at (as read_mem_stats reports it)
        goal=int(pacer.heap_goal if gc.phase != "off" else gc.next_heap_goal()),
        scan_work=int(gc.marker.scan_work) + int(pending),
        expected_scan=int(pacer.heap_scan), assist_ratio=float(pacer.assist_ratio), numgc=int(gc.numgc),
    )


# ---- the view ----------------------------------------------------------------------------------------
@dataclass
class _Pending:
    """A complete() whose coordinator wake-up has not been seen yet."""

    ts: int
    p: int
    g: int
    phase: int
    who: str
    gosched: bool = False


class LiveView:
    """Bus subscriber + ``render()``; see the module docstring."""

    def __init__(self, rt: Any, *, log_lines: int = 12, spark_width: int = 96,
                 on_log: Callable[[str], None] | None = None) -> None:
        self.rt = rt
        self.log_lines = log_lines
        self.spark_width = spark_width
        self.on_log = on_log
        cfg = getattr(rt, "config", None)
        self.yield_after_assist = bool(getattr(cfg, "yield_after_assist", True))
        self.seed = getattr(cfg, "seed", 0)
        self.log: deque[tuple[int, str, str]] = deque(maxlen=max(1, log_lines))
        self.cycles: list[dict[str, Any]] = []
        self.phase = "off"
        self.cycle_n = 0
        self.heap_live = 0
        self.trigger = 0
        self.goal = 0
        self.samples: list[tuple[int, int, int]] = []  # (ts, heap live, goal)
        self._max_samples = 8192
        self.pending: dict[int, _Pending] = {}  # mark phase -> completion awaiting the coordinator
        self.assists = 0
        self.assist_completions = 0
        self.worker_completions = 0
        self.wakes: list[dict[str, Any]] = []
        self.last_ns = 0
        self._prev: dict[int, tuple[int, int, int, int, int]] = {}
        self._unsubscribe: Callable[[], None] | None = None

    # ---- wiring -------------------------------------------------------------------------------
    @classmethod
    def attach(cls, rt: Any, **kw: Any) -> LiveView:
        v = cls(rt, **kw)
        v._unsubscribe = rt.bus.subscribe(v)
        return v

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # ---- events -------------------------------------------------------------------------------
    def _say(self, ts: int, text: str, style: str = "") -> None:
        self.log.append((ts, text, style))
        if self.on_log is not None:
            self.on_log(f"{ts / 1e6:10.3f} ms  {text}")

    def _sample(self, ts: int) -> None:
        s = self.samples
        s.append((ts, self.heap_live, self.goal))
        if len(s) > self._max_samples:
            # Halve the resolution, keeping each pair's peak.
            self.samples = [max(s[i], s[i + 1], key=lambda x: x[1]) if i + 1 < len(s) else s[i]
                            for i in range(0, len(s), 2)]

    def __call__(self, ev: Event) -> None:
        ts = ev.ts
        if ts > self.last_ns:
            self.last_ns = ts
        if isinstance(ev, HeapAlloc):
            self.heap_live, self.trigger, self.goal = ev.heap_live, ev.trigger, ev.goal
            self._sample(ts)
        elif isinstance(ev, GoSched):
            for pend in self.pending.values():
                if pend.p == ev.p and pend.g == ev.g:
                    pend.gosched = True
        elif isinstance(ev, AssistEnd):
            self.assists += 1
        elif isinstance(ev, GCPhase):
            self.phase = ev.phase
            if ev.phase == "mark2":
                self._say(ts, f"GC {self.cycle_n}: mark 1 done, grey work left → mark 2", "dim")
        elif isinstance(ev, GCStart):
            self.cycle_n = ev.n
            self.heap_live = ev.heap_live
            self.trigger = ev.trigger
            self.pending.clear()
            why = "forced" if ev.forced else f"heap {fmt_bytes(self.heap_live)} ≥ trigger {fmt_bytes(self.trigger)}"
            self._say(ts, f"GC {self.cycle_n} start: {why}", "cyan")
            self._sample(ts)
        elif isinstance(ev, GCComplete):
            self.pending[ev.phase] = _Pending(ts, ev.p, ev.g, ev.phase, ev.who)
            if ev.who == "assist":
                self.assist_completions += 1
            else:
                self.worker_completions += 1
        elif isinstance(ev, GCCoordWake):
            self._wake(ev)
        elif isinstance(ev, GCDone):
            d = ev.stats.as_dict()
            self.cycles.append(d)
            self.heap_live = ev.stats.heap_live_after
            self._sample(ts)
            style = "red" if d["overshoot"] > 0.5 else "green"
            self._say(ts, f"GC {d['n']} done: heap {fmt_bytes(d['heap_at_mark_term'])} at mark "
                          f"termination vs goal {fmt_bytes(d['heap_goal'])} "
                          f"({fmt_pct(d['overshoot'])}), mark {fmt_ns(d['mark_duration_ns'])}, "
                          f"completed by {d['completed_by']}", style)

    def _wake(self, ev: GCCoordWake) -> None:
        ts = ev.ts
        p = ev.p
        phase = ev.phase
        pend = self.pending.pop(phase, None)
        lat = ev.latency_ns
        who = ev.who or (pend.who if pend else "?")
        on = ev.completed_on
        alloc = ev.alloc_after
        gosched = pend.gosched if pend is not None else False
        self.wakes.append({"ts": ts, "phase": phase, "latency_ns": lat, "who": who, "completed_on": on,
                           "ran_on": p, "alloc_after": alloc, "gosched": gosched})
        where = f" (on P{p})" if p != on and p >= 0 else ""
        text = f"{who} completed mark {phase} on P{on} → "
        if gosched:
            text += f"gosched → coordinator ran after {fmt_ns(lat)}{where}"
            if lat >= 100_000:
                text += f"; {fmt_bytes(alloc)} allocated meanwhile"
        else:
            text += f"coordinator ran after {fmt_ns(lat)}{where}; {fmt_bytes(alloc)} allocated meanwhile"
        style = "bold red" if lat >= 1_000_000 else ("yellow" if lat >= 10_000 else "green")
        self._say(ts, text, style)

    # ---- rendering ------------------------------------------------------------------------------------
    def _util(self, ps: PSnap) -> tuple[float, float, float, float, float]:
        """Fractions (mutator, assist, bg mark, idle, runtime) over the window since the last render,
        or over the whole run when nothing moved since."""
        cur = (ps.t_mutator, ps.t_assist, ps.t_bgmark, ps.t_idle, ps.clock)
        prev = self._prev.get(ps.id)
        self._prev[ps.id] = cur
        d = [c - q for c, q in zip(cur, prev, strict=True)] if prev is not None else list(cur)
        if d[4] <= 0:
            d = list(cur)
        total = max(d[4], d[0] + d[1] + d[2] + d[3], 1)
        m, a, b, i = (max(0, x) / total for x in d[:4])
        return m, a, b, i, max(0.0, 1.0 - m - a - b - i)

    @staticmethod
    def _bar(fracs: Sequence[float], width: int) -> Text:
        chars = (("█", "green"), ("▓", "red"), ("▒", "blue"), ("░", "grey50"), ("·", "yellow"))
        cells = [int(round(f * width)) for f in fracs]
        # Fix rounding so the bar is exactly `width` cells.
        while sum(cells) > width:
            k = max(range(len(cells)), key=lambda j: cells[j])
            cells[k] -= 1
        while sum(cells) < width:
            k = max(range(len(cells)), key=lambda j: fracs[j] * width - cells[j])
            cells[k] += 1
        t = Text()
        for (ch, style), n in zip(chars, cells, strict=True):
            if n:
                t.append(ch * n, style=style)
        return t

    def _procs(self, snap: SchedSnap) -> Table:
        t = Table(title=None, expand=False, box=None, pad_edge=False, show_edge=False)
        t.add_column("P", justify="right")
        t.add_column("status")
        t.add_column("running", overflow="ellipsis", max_width=22, no_wrap=True)
        t.add_column("runnext", overflow="ellipsis", max_width=20, no_wrap=True)
        t.add_column("runq", justify="right")
        t.add_column("mutator█ assist▓ bg▒ idle░ rt·", no_wrap=True)
        for ps in snap.ps:
            fr = self._util(ps)
            t.add_row(f"P{ps.id}", ps.status + ("*" if ps.spinning else ""), ps.curg or "-", ps.runnext or "-",
                      str(ps.runq), self._bar(fr, 28))
        return t

    @staticmethod
    def _scaled(label: str, value: int, scale: int, width: int, style: str) -> Text:
        n = 0 if scale <= 0 else min(width, int(round(value / scale * width)))
        t = Text(f"{label:<8}")
        t.append("█" * n, style=style)
        t.append("░" * (width - n), style="grey30")
        t.append(f" {fmt_bytes(value)}")
        return t

    def _gc(self, g: GCSnap | None) -> RenderableType:
        if g is None:
            return Text("no collector attached")
        live = g.heap_live
        scale = max(live, g.goal, g.trigger, 1)
        width = 30
        over = live > g.goal > 0
        lines: list[RenderableType] = []
        head = Text(f"phase {g.phase:<16}", style="bold magenta" if g.phase != "off" else "bold")
        head.append(f" cycles {g.numgc}   fix {'on (yield after assist)' if self.yield_after_assist else 'OFF'}")
        lines.append(head)
        lines.append(self._scaled("live", live, scale, width, "red" if over else "green"))
        lines.append(self._scaled("trigger", g.trigger, scale, width, "yellow"))
        lines.append(self._scaled("goal", g.goal, scale, width, "cyan"))
        exp = max(g.expected_scan, 1)
        frac = min(1.0, g.scan_work / exp)
        n = int(round(frac * width))
        sw = Text(f"{'scan':<8}")
        sw.append("█" * n, style="blue")
        sw.append("░" * (width - n), style="grey30")
        sw.append(f" {g.scan_work:,} / {g.expected_scan:,} ({g.scan_work / exp * 100:.0f}%)")
        lines.append(sw)
        lines.append(Text(f"assist ratio {g.assist_ratio:.3f} scan/B   assists {self.assists}   "
                          f"completed by assist {self.assist_completions}, by worker {self.worker_completions}"))
        return Group(*lines)

    def sparkline(self, width: int | None = None) -> Text:
        """Heap live over time as unicode blocks; red columns exceed the goal of their time."""
        width = width or self.spark_width
        s = self.samples
        if not s:
            return Text("(no heap samples yet)", style="dim")
        t0, t1 = s[0][0], max(x[0] for x in s)
        span = max(1, t1 - t0)
        cols: list[tuple[int, int] | None] = [None] * width
        for ts, live, goal in s:
            k = min(width - 1, (ts - t0) * width // span)
            c = cols[k]
            if c is None or live > c[0]:
                cols[k] = (live, goal)
        last: tuple[int, int] = (s[0][1], s[0][2])
        top = max(max(x[1] for x in s), 1)
        out = Text()
        for c in cols:
            if c is None:
                c = last
            last = c
            live, goal = c
            lvl = int(round(live / top * (len(SPARK) - 1)))
            out.append(SPARK[max(1, lvl)] if live > 0 else SPARK[0],
                       style="red" if goal > 0 and live > goal else "green")
        out.append(f"  max {fmt_bytes(top)} over {fmt_ns(span)}", style="dim")
        return out

    def _events(self) -> Text:
        t = Text()
        if not self.log:
            t.append("(no GC events yet)", style="dim")
        for i, (ts, text, style) in enumerate(self.log):
            if i:
                t.append("\n")
            t.append(f"{ts / 1e6:9.3f} ms  ", style="dim")
            t.append(text, style=style)
        return t

    def render(self) -> RenderableType:
        """The current frame (see the module docstring)."""
        snap = snapshot_sched(self.rt)
        gcs = snapshot_gc(self.rt)
        title = (f"aiogc — GOMAXPROCS={len(snap.ps)} seed={self.seed} t={fmt_ns(snap.now_ns)} virtual  "
                 f"goroutines {snap.ngoroutines}  global runq {snap.global_runq}")
        return Group(
            Panel(self._procs(snap), title="Ps", title_align="left"),
            Panel(self._gc(gcs), title="GC", title_align="left"),
            Panel(self.sparkline(), title="heap live", title_align="left"),
            Panel(self._events(), title="events", title_align="left"),
            Text(title, style="dim"),
        )

    def __rich__(self) -> RenderableType:
        return self.render()


# ---- the end-of-demo summary --------------------------------------------------------------------------
def summary_table(results: Mapping[str, Sequence[Mapping[str, Any]]], *, title: str | None = None) -> Table:
    """Fix-on vs fix-off summary: one row per label -> list of cycle dicts (``CycleStats.as_dict()``)."""
    t = Table(title=title or "fix on vs fix off", title_justify="left")
    t.add_column("mode")
    t.add_column("cycles", justify="right")
    t.add_column("by assist", justify="right")
    t.add_column("coord latency p50", justify="right")
    t.add_column("p99", justify="right")
    t.add_column("max", justify="right")
    t.add_column("overshoot mean", justify="right")
    t.add_column("max", justify="right")
    t.add_column("alloc after complete (mean)", justify="right")
    t.add_column("mark (mean)", justify="right")
    for label, cycles in results.items():
        cyc = list(cycles)
        lat = summarize(c["coordinator_latency_ns"] for c in cyc)
        ov = summarize(c["overshoot"] for c in cyc)
        al = summarize(c["alloc_after_complete"] for c in cyc)
        md = summarize(c["mark_duration_ns"] for c in cyc)
        by_assist = sum(1 for c in cyc if c.get("completed_by") == "assist")
        t.add_row(label, str(len(cyc)), f"{by_assist}/{len(cyc)}", fmt_ns(lat["p50"]), fmt_ns(lat["p99"]),
                  fmt_ns(lat["max"]), fmt_pct(ov["mean"]), fmt_pct(ov["max"]), fmt_bytes(al["mean"]),
                  fmt_ns(md["mean"]))
    return t


# ---- driving a rich Live from the virtual driver --------------------------------------------------------
class LiveSession:
    """Runs a ``LiveView`` on a console while a runtime runs.

    The driver's step hook (``rt.driver.hooks_after_step``) refreshes the frame
    every ``refresh_ns`` of virtual time (and at most ``max_fps`` times per wall
    second); with ``speed`` it also sleeps so virtual time advances at ``speed``
    virtual seconds per wall second.  On a console that is not a terminal (or with
    ``plain=True``) there is no animation: notable events are printed as lines.
    """

    def __init__(self, rt: Any, *, console: Console | None = None, plain: bool | None = None,
                 refresh_ns: int = 50_000, speed: float | None = None, max_fps: float = 20.0,
                 log_lines: int = 12) -> None:
        self.rt = rt
        self.console = console or Console()
        self.plain = (not self.console.is_terminal) if plain is None else plain
        self.refresh_ns = max(1, int(refresh_ns))
        self.speed = speed
        self.min_wall = 1.0 / max_fps if max_fps > 0 else 0.0
        on_log = self._print_line if self.plain else None
        self.view = LiveView.attach(rt, log_lines=log_lines, on_log=on_log,
                                    spark_width=max(20, min(96, self.console.width - 30)))
        self.live: Live | None = None
        self._v0: int | None = None
        self._w0 = 0.0
        self._next_v = 0
        self._last_wall = 0.0
        self._vmax = 0
        self._hooked = False

    def _print_line(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def start(self) -> LiveSession:
        drv = self.rt.driver
        if hasattr(drv, "hooks_after_step"):
            drv.hooks_after_step.append(self._hook)
            self._hooked = True
        if not self.plain:
            self.live = Live(self.view.render(), console=self.console, auto_refresh=False, transient=False,
                             redirect_stdout=False, redirect_stderr=False)
            self.live.start(refresh=True)
        return self

    def _hook(self, now_ns: int) -> None:
        if now_ns > self._vmax:
            self._vmax = now_ns
        v = self._vmax
        if self._v0 is None:
            self._v0 = v
            self._w0 = time.monotonic()
            self._next_v = v
        if self.speed:
            target = self._w0 + (v - self._v0) / 1e9 / self.speed
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(min(delay, 1.0))
        if self.live is None or v < self._next_v:
            return
        w = time.monotonic()
        if w - self._last_wall < self.min_wall:
            return
        self._next_v = v + self.refresh_ns
        self._last_wall = w
        self.live.update(self.view.render(), refresh=True)

    def refresh(self) -> None:
        if self.live is not None:
            self.live.update(self.view.render(), refresh=True)

    def stop(self) -> None:
        """Show the final frame and stop the animation (idempotent); the view keeps its data."""
        if self._hooked:
            hooks = self.rt.driver.hooks_after_step
            if self._hook in hooks:
                hooks.remove(self._hook)
            self._hooked = False
        if self.live is not None:
            try:
                self.live.update(self.view.render(), refresh=True)
            finally:
                self.live.stop()
                self.live = None
        self.view.detach()

    close = stop

    def __enter__(self) -> LiveSession:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def attach(runtime: Any, **kw: Any) -> Callable[[], None]:
    """``run --live``: start a ``LiveSession`` on ``runtime``; returns the function that stops it."""
    return LiveSession(runtime, **kw).start().stop
