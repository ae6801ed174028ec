"""The live view: Ps, run queues, heap vs goal, assists and the coordinator hand-off, in rich.

``LiveView`` is a bus subscriber (``rt.bus.subscribe(view)``) plus a rich renderable
that lays itself out for the console it is printed on:

  * the **wait banner** while a mark phase is complete and the coordinator has not run:
    which phase, who completed it (assist on P1 / worker), since when (counting up), where
    the coordinator is (P1's runnext, 3rd in P1's run queue, the global queue...), the bytes
    allocated since, and what runs on that P instead;
  * per P: status, running G, ``runnext``, run-queue length, the coordinator named wherever
    it is, and on wide screens a utilisation bar (mutator / assist / background mark / idle;
    the rest of the P's clock is runtime overhead: switches, allocation, write barriers, STW);
  * the GC: phase (mark 1 / mark 2 / "mark N complete, awaiting coordinator" / mark
    termination / off), heap live vs goal (and trigger), scan work done vs work known (done
    plus the grey objects queued now: it reaches 100% when marking is complete);
  * on wide screens, a heap chart: heap live with the goal line and cycle markers, for this
    run and (when given) a reference run of the same seed in the other mode, on one scale;
  * the newest notable events, above all what happened after each ``complete()``;
  * the time scale (virtual time per wall second) and the keys, when a session provides them.

At 80x24 it keeps, in this order: the banner, the Ps, the GC phase and heap vs goal, the
newest events; wider and taller consoles add the panels above.  On a console that is not a
terminal rich prints plain text; ``LiveSession`` then prints notable events as lines.

What it shows comes from the events and from read-only snapshots (``aiogc.view.snapshot``);
it never changes the model.  ``LiveSession`` drives a rich ``Live`` from the driver's step
hook: refresh every N virtual ns, pacing in wall time, and keys (pause/resume, slower/faster,
step to the next GC event, quit).  ``attach(runtime)`` is the ``run --live`` entry point.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from aiogc.trace.events import (
    AssistEnd,
    Event,
    GCComplete,
    GCCoordWake,
    GCDone,
    GCPhase,
    GCStart,
    GoCreate,
    GoPark,
    GoPreempt,
    GoSched,
    GoStart,
    GoUnpark,
    HeapAlloc,
    Steal,
)
from aiogc.trace.metrics import summarize
from aiogc.view.snapshot import (
    GCSnap,
    PSnap,
    SchedSnap,
    heap_goal_now,
    locate_coordinator,
    snapshot_gc,
    snapshot_sched,
)

__all__ = ["LiveView", "LiveSession", "RunRecord", "attach", "fmt_bytes", "fmt_ns", "fmt_pct", "heap_chart",
           "summary_table", "snapshot_gc", "snapshot_sched"]

KB = 1 << 10
MB = 1 << 20
GB = 1 << 30
_BLOCKS = " ▁▂▃▄▅▆▇█"
GC_KINDS: frozenset[type[Event]] = frozenset({GCStart, GCPhase, GCComplete, GCCoordWake, GCDone})
# Scheduler events after which the coordinator may have moved (followed while a completion waits).
_SCHED_KINDS: frozenset[type[Event]] = frozenset({GoSched, GoUnpark, GoCreate, GoPreempt, GoPark, GoStart, Steal})
WIDE = 120  # columns from which the wide layout (panels, utilisation bars, heap chart) is used
TALL = 36  # rows from which it is used


# ---- formatting ------------------------------------------------------------------------------------
def _nan(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt_ns(ns: float | None, digits: int = 1) -> str:
    """A duration for humans: ``250 ns``, ``20.3 µs``, ``7.9 ms``, ``1.20 s`` (under 1 µs in ns)."""
    if _nan(ns):
        return "-"
    v = float(ns)  # type: ignore[arg-type]
    if abs(v) < 1e3:
        return f"{v:.0f} ns"
    if abs(v) < 1e6:
        return f"{v / 1e3:.{digits}f} µs"
    if abs(v) < 1e9:
        return f"{v / 1e6:.{digits}f} ms"
    return f"{v / 1e9:.2f} s"


def fmt_bytes(n: float | None) -> str:
    """Bytes in Go's gctrace units: KB = 2^10, MB = 2^20, GB = 2^30 bytes (as the README)."""
    if _nan(n):
        return "-"
    v = float(n)  # type: ignore[arg-type]
    if abs(v) < KB:
        return f"{v:.0f} B"
    if abs(v) < MB:
        return f"{v / KB:.1f} KB"
    if abs(v) < GB:
        return f"{v / MB:.1f} MB"
    return f"{v / GB:.2f} GB"


def fmt_pct(x: float | None) -> str:
    """A signed percentage with one decimal; a value that rounds to zero is ``0.0%`` (never ``-0.0%``)."""
    if _nan(x):
        return "-"
    v = round(float(x) * 100, 1)  # type: ignore[arg-type]
    if v == 0:
        return "0.0%"
    return f"{v:+.1f}%"


def fmt_speed(speed: float | None) -> str:
    """The time scale: ``1 wall s = 2.0 ms virtual`` (or unpaced)."""
    if not speed:
        return "unpaced (as fast as it runs)"
    return f"1 wall s = {fmt_ns(speed * 1e9)} virtual"


def cycle_dict(ev: GCDone) -> dict[str, Any]:
    """A finished cycle as one flat dict: its ``CycleStats`` fields plus its phase boundaries from
    the coordinator's ``CycleWork`` (``t_sweepterm`` ... ``t_end``), the numbers gctrace prints."""
    d = ev.stats.as_dict()
    w = ev.work
    for k in ("t_sweepterm", "t_scan", "t_installwb", "t_mark", "t_markterm", "t_end", "heap0", "heap1", "heap2"):
        d[k] = getattr(w, k)
    return d


# ---- what a run looked like (for charts and the side-by-side comparison) ---------------------------
class RunRecord:
    """A bus subscriber keeping what the heap chart and the comparison need: heap samples
    ``(ts, live, goal)``, cycle starts, finished cycles (``CycleStats`` dicts) and coordinator
    wake-ups.  Attach one to a headless run of the other mode to show it next to a live run.

    ``goal`` is the goal at the sample's time (``heap_goal_now``: between cycles, the next
    cycle's), read from the collector when the record has the runtime.
    """

    def __init__(self, label: str, rt: Any = None, max_samples: int = 8192) -> None:
        self.label = label
        self.rt = rt
        self.samples: list[tuple[int, int, int]] = []
        self.cycle_starts: list[tuple[int, int]] = []  # (ts, n)
        self.cycles: list[dict[str, Any]] = []
        self.wakes: list[dict[str, Any]] = []
        self.end_ns = 0
        self._max = max_samples
        self._goal = 0
        gc = getattr(rt, "gc", None)
        if gc is not None:
            self._goal = heap_goal_now(gc)
            self.samples.append((0, int(gc.heap.heap_live), self._goal))

    @classmethod
    def attach(cls, rt: Any, label: str) -> RunRecord:
        r = cls(label, rt)
        rt.bus.subscribe(r)
        return r

    def _sample(self, ts: int, live: int) -> None:
        s = self.samples
        s.append((ts, live, self._goal))
        if len(s) > self._max:  # halve the resolution, keeping each pair's peak
            self.samples = [max(s[i], s[i + 1], key=lambda x: x[1]) if i + 1 < len(s) else s[i]
                            for i in range(0, len(s), 2)]

    def _goal_now(self, fallback: int) -> int:
        gc = getattr(self.rt, "gc", None)
        return heap_goal_now(gc) if gc is not None else fallback

    def __call__(self, ev: Event) -> None:
        ts = ev.ts
        if ts > self.end_ns:
            self.end_ns = ts
        if isinstance(ev, HeapAlloc):
            self._goal = self._goal_now(ev.goal)
            self._sample(ts, ev.heap_live)
        elif isinstance(ev, GCStart):
            self.cycle_starts.append((ts, ev.n))
        elif isinstance(ev, GCPhase) and ev.phase == "mark":
            self._goal = self._goal_now(self._goal)
        elif isinstance(ev, GCDone):
            d = cycle_dict(ev)
            self.cycles.append(d)
            self._goal = self._goal_now(int(d["heap_goal"]))
            self._sample(ts, int(d["heap_live_after"]))
        elif isinstance(ev, GCCoordWake):
            self.wakes.append({"ts": ts, "phase": ev.phase, "latency_ns": ev.latency_ns,
                               "completed_on": ev.completed_on, "who": ev.who, "alloc_after": ev.alloc_after})

    def at(self, t: int) -> dict[str, Any]:
        """What the run had done by virtual time ``t``: cycles finished, heap live, the longest
        coordinator wait so far, the largest overshoot so far."""
        done = [c for c in self.cycles if c["end_ns"] <= t]
        live = 0
        for ts, v, _ in self.samples:
            if ts > t:
                break
            live = v
        waits = [w["latency_ns"] for w in self.wakes if w["ts"] <= t]
        return {"cycles": len(done), "heap_live": live, "max_wait_ns": max(waits) if waits else None,
                "max_overshoot": max((c["overshoot"] for c in done), default=None),
                "finished": t >= self.end_ns}


# ---- the heap chart ---------------------------------------------------------------------------------
def heap_chart(rec: RunRecord, *, width: int, height: int, t_end: int, top: int,
               now: int | None = None) -> list[Text]:
    """``height`` rows of ``width`` columns: heap live as bars (green below the goal, red above it),
    the goal as a line (``─``, cyan where it crosses a bar), and a marker row with the last digit of each cycle's number at its start.

    The x axis runs from 0 to ``t_end`` and the y axis from 0 to ``top`` bytes, so two charts
    drawn with the same ``t_end`` and ``top`` share one scale.  Columns after ``now`` (or after
    the run's end) are blank.
    """
    width = max(4, width)
    height = max(1, height)
    span = max(1, t_end)
    top = max(1, top)
    last_t = min(rec.end_ns if now is None else now, t_end)
    cols: list[tuple[int, int] | None] = [None] * width
    for ts, live, goal in rec.samples:
        if ts > last_t:
            break
        k = min(width - 1, ts * width // span)
        c = cols[k]
        if c is None or live > c[0]:
            cols[k] = (live, goal)
    filled: list[tuple[int, int] | None] = []
    prev: tuple[int, int] | None = None
    for k, c in enumerate(cols):
        if c is None and prev is not None and k * span // width <= last_t:
            c = prev
        filled.append(c)
        prev = c if c is not None else prev
    levels = height * 8
    rows = [Text() for _ in range(height)]
    for c in filled:
        if c is None:
            for row in rows:
                row.append(" ")
            continue
        live, goal = c
        lv = min(levels, int(round(live / top * levels)))
        if live > 0:
            lv = max(1, lv)
        gl = min(levels, int(round(goal / top * levels))) if goal > 0 else -1
        grow = (gl - 1) // 8 if gl > 0 else -1  # the row the goal line is drawn in
        for r in range(height):  # r = 0 is the top row
            level = height - 1 - r
            fill = max(0, min(8, lv - level * 8))
            if fill == 0:
                rows[r].append("─" if level == grow else " ", style="cyan")
            elif level == grow:
                rows[r].append(_BLOCKS[fill], style="cyan")  # the goal line crosses the bar here
            else:
                rows[r].append(_BLOCKS[fill], style="red" if level > grow >= 0 else "green")
    marks = [" "] * width
    for ts, n in rec.cycle_starts:
        if ts <= last_t:
            marks[min(width - 1, ts * width // span)] = str(n % 10)
    rows.append(Text("".join(marks), style="magenta"))
    return rows


# ---- the view ----------------------------------------------------------------------------------------
@dataclass
class _Pending:
    """A complete() whose coordinator wake-up has not been seen yet (from the events)."""

    ts: int
    p: int
    g: int
    phase: int
    who: str
    gname: str
    gosched: bool = False
    coord_state: str = ""


class LiveView:
    """Bus subscriber + rich renderable; see the module docstring."""

    def __init__(self, rt: Any, *, log_lines: int = 12, spark_width: int = 96,
                 on_log: Callable[[str], None] | None = None, reference: RunRecord | None = None,
                 label: str | None = None, title: str = "aiogc") -> None:
        self.rt = rt
        self.log_lines = log_lines
        self.spark_width = spark_width
        self.on_log = on_log
        self.reference = reference
        cfg = getattr(rt, "config", None)
        self.yield_after_assist = bool(getattr(cfg, "yield_after_assist", True))
        self.seed = getattr(cfg, "seed", 0)
        self.label = label or ("fix on" if self.yield_after_assist else "fix OFF")
        self.title = title
        self.record = RunRecord(self.label, rt)
        self.log: deque[tuple[int, str, str]] = deque(maxlen=max(64, log_lines))
        self.phase = "off"
        self.cycle_n = 0
        self.heap_live = 0
        self.trigger = 0
        self.goal = 0
        self.pending: dict[int, _Pending] = {}  # mark phase -> completion awaiting the coordinator
        self.assists = 0
        self.assist_completions = 0
        self.worker_completions = 0
        self.wakes: list[dict[str, Any]] = []
        self.gc_events = 0  # GC events seen (the session's "step to the next GC event")
        self.last_ns = 0
        self.status_line = ""  # set by a session: time scale, pause state, keys
        self.keys_line = ""
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

    @property
    def cycles(self) -> list[dict[str, Any]]:
        return self.record.cycles

    @property
    def samples(self) -> list[tuple[int, int, int]]:
        return self.record.samples

    # ---- events -------------------------------------------------------------------------------
    def _say(self, ts: int, text: str, style: str = "") -> None:
        self.log.append((ts, text, style))
        if self.on_log is not None:
            self.on_log(f"{ts / 1e6:10.3f} ms  {text}")

    def _gname(self, gid: int) -> str:
        g = self.rt.sched.allgs.get(gid) if gid >= 0 else None
        if g is None:
            return f"G{gid}" if gid >= 0 else "?"
        return f"G{g.id} {g.label}" if g.label else f"G{g.id}"

    def __call__(self, ev: Event) -> None:
        ts, kind, p, g = ev.ts, type(ev), ev.p, ev.g
        if ts > self.last_ns:
            self.last_ns = ts
        self.record(ev)
        if kind in GC_KINDS:
            self.gc_events += 1
        if isinstance(ev, HeapAlloc):
            self.heap_live, self.trigger, self.goal = ev.heap_live, ev.trigger, ev.goal
        elif isinstance(ev, AssistEnd):
            self.assists += 1
        elif self.pending and kind in _SCHED_KINDS:
            self._follow_coordinator(ev)
        if isinstance(ev, GCPhase):
            self.phase = ev.phase
            if ev.phase == "mark2":
                self._say(ts, f"GC {self.cycle_n}: mark 1 left grey work in the Ps' caches → mark 2", "dim")
        elif isinstance(ev, GCStart):
            self.cycle_n = ev.n
            self.heap_live = ev.heap_live
            self.trigger = ev.trigger
            self.pending.clear()
            why = "forced" if ev.forced else f"heap {fmt_bytes(self.heap_live)} ≥ trigger {fmt_bytes(self.trigger)}"
            self._say(ts, f"GC {self.cycle_n} start: {why}", "cyan")
        elif isinstance(ev, GCComplete):
            phase, who = ev.phase, ev.who
            pend = _Pending(ts, p, g, phase, who, self._gname(g))
            self.pending[phase] = pend
            if who == "assist":
                self.assist_completions += 1
            else:
                self.worker_completions += 1
            by = f"assist {pend.gname}" if who == "assist" else ("a mark worker" if who == "worker" else who)
            self._say(ts, f"mark {phase} complete ({by}, P{p}): coordinator readied into P{p}'s runnext",
                      "yellow")
        elif isinstance(ev, GCCoordWake):
            self._wake(ev)
        elif isinstance(ev, GCDone):
            d = cycle_dict(ev)
            self.heap_live = int(d["heap_live_after"])
            style = "red" if d["overshoot"] > 0.5 else "green"
            self._say(ts, f"GC {d['n']} done: heap {fmt_bytes(d['heap_at_mark_term'])} at mark "
                          f"termination vs goal {fmt_bytes(d['heap_goal'])} "
                          f"({fmt_pct(d['overshoot'])}), mark {fmt_ns(d['mark_duration_ns'])}, "
                          f"completed by {d['completed_by']}", style)

    def _follow_coordinator(self, ev: Event) -> None:
        """While a completion waits: say when the completing goroutine yields, and when the
        coordinator changes place (kicked out of runnext, moved to the global queue...)."""
        ts, p, g = ev.ts, ev.p, ev.g
        coord = locate_coordinator(self.rt)
        for pend in self.pending.values():
            if isinstance(ev, GoSched) and pend.p == p and pend.g == g:
                pend.gosched = True
                self._say(ts, f"{pend.gname} yields (gosched): the coordinator runs next on P{p}", "green")
            if coord.state in ("running", "parked"):
                continue
            where = coord.where()
            if where != pend.coord_state:
                if pend.coord_state and coord.state != "runnext":
                    cause = (f"{self._gname(ev.target)} readied into P{p}'s runnext: "
                             if isinstance(ev, GoUnpark) else "")
                    self._say(ts, f"{cause}coordinator kicked, now {where}", "bold red")
                elif isinstance(ev, GoPreempt):
                    self._say(ts, f"P{p}: {self._gname(g)} preempted; coordinator {where}", "yellow")
                pend.coord_state = where

    def _wake(self, ev: GCCoordWake) -> None:
        ts, p = ev.ts, ev.p
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

    # ---- pieces ---------------------------------------------------------------------------------------
    def banner_lines(self, snap: SchedSnap, g: GCSnap | None) -> list[str]:
        """The wait banner's lines ([] when no phase awaits the coordinator)."""
        if g is None or g.pending is None:
            return []
        pend = g.pending
        ev = self.pending.get(pend.phase)
        waited = max(0, snap.now_ns - pend.since_ns)
        if pend.who == "assist":
            by = f"an assist ({ev.gname})" if ev is not None else "an assist"
        elif pend.who == "worker":
            by = f"a mark worker ({ev.gname})" if ev is not None and ev.gname != "?" else "a mark worker"
        else:
            by = pend.who
        coord = snap.coord
        on = coord.p if coord.p >= 0 else pend.p
        instead = next((ps.curg for ps in snap.ps if ps.id == on), "")
        return [
            f"MARK {pend.phase} COMPLETE, AWAITING COORDINATOR for {fmt_ns(waited, 2)} "
            f"(since t={pend.since_ns / 1e6:.3f} ms)",
            f"completed by {by} on P{pend.p}; {coord.name} is {coord.where()}",
            f"P{on} runs {instead or 'no goroutine'} instead; {fmt_bytes(pend.alloc_since)} allocated since",
        ]

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

    @staticmethod
    def _cell(name: str, coord_name: str) -> Text:
        if not name:
            return Text("-", style="dim")
        return Text(name, style="bold reverse yellow" if name == coord_name else "")

    def procs_table(self, snap: SchedSnap, *, wide: bool, width: int) -> Table:
        t = Table(box=None, pad_edge=False, show_edge=False, expand=False, padding=(0, 1))
        name_w = max(12, min(24, (width - 30) // 2)) if not wide else 24
        t.add_column("P", justify="right", no_wrap=True)
        t.add_column("status", no_wrap=True)
        t.add_column("running", overflow="ellipsis", max_width=name_w, no_wrap=True)
        t.add_column("runnext", overflow="ellipsis", max_width=name_w, no_wrap=True)
        t.add_column("runq", justify="left", no_wrap=True)
        if wide:
            t.add_column("mutator█ assist▓ bg▒ idle░ rt·", no_wrap=True)
        cn = snap.coord.name
        for ps in snap.ps:
            runq = Text(str(ps.runq))
            if ps.coord_here.startswith("runq"):
                runq.append(f" coord {ps.coord_here[5:]}", style="bold reverse yellow")
            row: list[RenderableType] = [f"P{ps.id}", ps.status + ("*" if ps.spinning else ""),
                                         self._cell(ps.curg, cn), self._cell(ps.runnext, cn), runq]
            if wide:
                row.append(self._bar(self._util(ps), 28))
            t.add_row(*row)
        return t

    def coord_line(self, snap: SchedSnap) -> Text:
        t = Text("coordinator: ", style="dim")
        c = snap.coord
        t.append(c.name, style="bold yellow")
        t.append(f" {c.where()}")
        t.append(f"   global runq {snap.global_runq}", style="dim")
        return t

    @staticmethod
    def _scaled(label: str, value: int, scale: int, width: int, style: str, suffix: str = "") -> Text:
        n = 0 if scale <= 0 else min(width, int(round(value / scale * width)))
        t = Text(f"{label:<8}")
        t.append("█" * n, style=style)
        t.append("░" * (width - n), style="grey30")
        t.append(f" {fmt_bytes(value)}{suffix}")
        return t

    def heap_line(self, g: GCSnap, width: int) -> Text:
        """Heap live as a bar with the goal marked (│) on it, then the numbers."""
        scale = max(g.heap_live, g.goal, g.trigger, 1)
        n = min(width, int(round(g.heap_live / scale * width)))
        gpos = min(width - 1, int(round(g.goal / scale * width))) if g.goal > 0 else -1
        over = g.heap_live > g.goal > 0
        t = Text(f"{'heap':<6}")
        for i in range(width):
            if i == gpos:
                t.append("│", style="bold cyan")
            elif i < n:
                t.append("█", style="red" if over and i > gpos else "green")
            else:
                t.append("░", style="grey30")
        rel = f" ({fmt_pct((g.heap_live - g.goal) / g.goal)})" if g.goal > 0 else ""
        t.append(f" {fmt_bytes(g.heap_live)} vs goal {fmt_bytes(g.goal)}{rel}")
        return t

    def scan_line(self, g: GCSnap, width: int) -> Text:
        """Scan work done against work known (done + grey queued); 100% when marking is complete."""
        t = Text(f"{'scan':<6}")
        if g.phase == "off":
            t.append("░" * width, style="grey30")
            t.append(f" last cycle {g.scan_done:,} B scanned")
            return t
        known = max(g.scan_known, 1)
        n = min(width, int(round(g.scan_done / known * width)))
        t.append("█" * n, style="blue")
        t.append("░" * (width - n), style="grey30")
        t.append(f" {fmt_bytes(g.scan_done)} done of {fmt_bytes(g.scan_known)} known "
                 f"({g.scan_done / known * 100:.0f}%)")
        return t

    def phase_line(self, g: GCSnap) -> Text:
        label = g.phase_label()
        style = "bold reverse red" if g.pending is not None else ("bold magenta" if g.phase != "off" else "bold")
        t = Text("GC ", style="bold")
        n = g.numgc + (1 if g.phase != "off" else 0)
        t.append(f"{n} " if g.phase != "off" else f"({g.numgc} done) ", style="bold")
        t.append(label, style=style)
        return t

    def gc_lines(self, g: GCSnap | None, *, wide: bool, width: int) -> list[Text]:
        if g is None:
            return [Text("no collector attached")]
        bar_w = max(10, min(40, width - 50))
        out = [self.phase_line(g), self.heap_line(g, bar_w), self.scan_line(g, bar_w)]
        if wide:
            scale = max(g.heap_live, g.goal, g.trigger, 1)
            out.insert(2, self._scaled("trigger", g.trigger, scale, bar_w - 2, "yellow"))
            out.append(Text(f"assist ratio {g.assist_ratio:.3f} scan B per B allocated   assists {self.assists}"))
            out.append(Text(f"phases completed by an assist {self.assist_completions}, "
                            f"by a worker {self.worker_completions}"))
        return out

    def compare_line(self, now: int) -> Text | None:
        ref = self.reference
        if ref is None:
            return None
        a = ref.at(now)
        t = Text(f"{ref.label}, same seed, at the same t: ", style="bold cyan")
        t.append(f"{a['cycles']} cycle(s) done, heap {fmt_bytes(a['heap_live'])}, "
                 f"longest coordinator wait {fmt_ns(a['max_wait_ns'])}")
        if a["finished"]:
            t.append(" (finished)", style="dim")
        return t

    def events_text(self, n: int, width: int) -> list[Text]:
        lines = list(self.log)[-n:] if n > 0 else []
        if not lines:
            return [Text("(no GC events yet)", style="dim")] if n > 0 else []
        out = []
        for ts, text, style in lines:
            t = Text(f"{ts / 1e6:9.3f} ms ", style="dim", no_wrap=True, overflow="ellipsis")
            t.append(text, style=style)
            t.truncate(width, overflow="ellipsis")
            out.append(t)
        return out

    def charts(self, now: int, width: int, rows: int) -> list[Text]:
        """This run's heap chart and the reference's, on one scale (same time axis, same bytes)."""
        runs = [self.record] + ([self.reference] if self.reference is not None else [])
        t_end = max(now, 1)
        top = max((v for r in runs for ts, v, _ in r.samples if ts <= t_end), default=1)
        top = max(top, max((gl for r in runs for ts, _, gl in r.samples if ts <= t_end), default=1))
        per = max(1, (rows - len(runs)) // len(runs) - 1)
        out: list[Text] = []
        for r in runs:
            head = Text(f"{r.label}: heap live (█ green, red above the goal), goal (─ cyan), cycle starts (digits)",
                        style="bold")
            out.append(head)
            out.extend(heap_chart(r, width=width, height=per, t_end=t_end, top=top, now=now))
        out.append(Text(f"x: 0 … {fmt_ns(t_end)} virtual (both runs)   y: 0 … {fmt_bytes(top)} (both runs)",
                        style="dim"))
        return out

    # ---- layout --------------------------------------------------------------------------------------
    def header(self, snap: SchedSnap, g: GCSnap | None) -> Text:
        t = Text(f"{self.title} · ", style="bold", no_wrap=True, overflow="ellipsis")
        t.append(self.label, style="bold red" if self.label.lower().endswith("off") else "bold green")
        t.append(f" · t={snap.now_ns / 1e6:.3f} ms virtual")
        if g is not None:
            t.append(f" · {g.numgc} cycle(s) done")
        t.append(f" · GOMAXPROCS={len(snap.ps)} seed={self.seed}")
        return t

    def render(self, width: int | None = None, height: int | None = None) -> RenderableType:
        """The current frame for a console of ``width`` x ``height`` (see the module docstring)."""
        return _Frame(self, width, height)

    def build(self, width: int, height: int) -> RenderableType:
        snap = snapshot_sched(self.rt)
        g = snapshot_gc(self.rt)
        if width >= WIDE and height >= TALL:
            return self._wide(snap, g, width, height)
        return self._compact(snap, g, width, height)

    def _footer(self) -> list[Text]:
        out = []
        if self.status_line:
            out.append(Text(self.status_line, style="bold", no_wrap=True, overflow="ellipsis"))
        if self.keys_line:
            out.append(Text(self.keys_line, style="dim", no_wrap=True, overflow="ellipsis"))
        return out

    def _compact(self, snap: SchedSnap, g: GCSnap | None, width: int, height: int) -> RenderableType:
        """80x24 and other small consoles: banner, Ps, GC phase and heap vs goal, newest events."""
        parts: list[RenderableType] = [self.header(snap, g)]
        used = 1
        for line in self.banner_lines(snap, g):
            parts.append(Text(line, style="bold white on red"))
            used += _wrapped(line, width)
        parts.append(self.procs_table(snap, wide=False, width=width))
        used += 1 + len(snap.ps)
        if g is not None and g.pending is None:
            parts.append(self.coord_line(snap))
            used += 1
        gl = self.gc_lines(g, wide=False, width=width)
        parts.extend(gl)
        used += sum(_wrapped(t.plain, width) for t in gl)
        cmp = self.compare_line(snap.now_ns)
        if cmp is not None:
            parts.append(cmp)
            used += _wrapped(cmp.plain, width)
        footer = self._footer()
        room = height - used - len(footer)
        parts.extend(self.events_text(room, width))
        parts.extend(footer)
        return Group(*parts)

    def _wide(self, snap: SchedSnap, g: GCSnap | None, width: int, height: int) -> RenderableType:
        parts: list[RenderableType] = [self.header(snap, g)]
        used = 1
        banner = self.banner_lines(snap, g)
        if banner:
            parts.append(Panel(Text("\n".join(banner), style="bold white on red"), border_style="red",
                               title="the coordinator is waiting", title_align="left"))
            used += len(banner) + 2
        procs = Group(self.procs_table(snap, wide=True, width=width), self.coord_line(snap))
        gcg = Group(*self.gc_lines(g, wide=True, width=max(60, width - 100)))
        grid = Table.grid(expand=True, padding=(0, 1))
        grid.add_column(ratio=3)
        grid.add_column(ratio=2)
        grid.add_row(Panel(procs, title="Ps", title_align="left"), Panel(gcg, title="GC", title_align="left"))
        parts.append(grid)
        used += max(len(snap.ps) + 2, 7) + 2
        cmp = self.compare_line(snap.now_ns)
        if cmp is not None:
            parts.append(cmp)
            used += 1
        footer = self._footer()
        room = height - used - len(footer)
        nruns = 2 if self.reference is not None else 1
        chart_rows = min(nruns * 8 + 1, max(0, room - 8 - 2))
        if chart_rows >= nruns * 3 + 1:
            parts.append(Panel(Group(*self.charts(snap.now_ns, width - 4, chart_rows)),
                               title="heap vs goal, one scale", title_align="left"))
            room -= chart_rows + 2
        ev = self.events_text(max(1, room - 2), width - 4)
        parts.append(Panel(Group(*ev), title="events", title_align="left"))
        parts.extend(footer)
        return Group(*parts)

    def __rich__(self) -> RenderableType:
        return self.render()


def _wrapped(line: str, width: int) -> int:
    """How many lines ``line`` takes when word-wrapped at ``width`` columns (as rich wraps it)."""
    n, col = 1, 0
    for word in line.split(" "):
        w = len(word)
        if col and col + 1 + w > width:
            n += 1
            col = 0
        col += (1 if col else 0) + w
        while col > width:  # a word longer than the line is folded
            n += 1
            col -= width
    return n


class _Frame:
    """Renders a ``LiveView`` at the console's size (or the size given)."""

    def __init__(self, view: LiveView, width: int | None, height: int | None) -> None:
        self.view = view
        self.width = width
        self.height = height

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        w = self.width or options.max_width
        h = self.height or options.height or console.height
        yield self.view.build(w, h)


# ---- the end-of-demo summary --------------------------------------------------------------------------
def summary_table(results: Mapping[str, Sequence[Mapping[str, Any]]], *, title: str | None = None) -> Table:
    """Fix-on vs fix-off summary, one column per mode (label -> list of ``CycleStats`` dicts) and one
    row per measure: it stays within 80 columns."""
    t = Table(title=title or "fix on vs fix off", title_justify="left")
    t.add_column("")
    labels = list(results)
    for label in labels:
        t.add_column(label, justify="right")
    cols: list[list[str]] = []
    for label in labels:
        cyc = list(results[label])
        lat = summarize(c["coordinator_latency_ns"] for c in cyc)
        ov = summarize(c["overshoot"] for c in cyc)
        al = summarize(c["alloc_after_complete"] for c in cyc)
        md = summarize(c["mark_duration_ns"] for c in cyc)
        by_assist = sum(1 for c in cyc if c.get("completed_by") == "assist")
        cols.append([str(len(cyc)), f"{by_assist}/{len(cyc)}", fmt_ns(lat["p50"]), fmt_ns(lat["p99"]),
                     fmt_ns(lat["max"]), fmt_pct(ov["mean"]), fmt_pct(ov["max"]), fmt_bytes(al["mean"]),
                     fmt_ns(md["mean"])])
    names = ["cycles", "last phase completed by an assist", "coordinator latency p50", "  p99", "  max",
             "heap overshoot of the goal, mean", "  max", "allocated after completion, mean",
             "mark phase, mean"]
    for i, name in enumerate(names):
        t.add_row(name, *(c[i] for c in cols))
    return t


# ---- driving a rich Live from the virtual driver --------------------------------------------------------
KEYS_HELP = "keys: space pause/resume · - slower · + faster · n next GC event · q quit"


class KeyReader:
    """Single keys from a terminal's stdin without echo (cbreak mode), read without blocking.

    ``available()`` is False when stdin is not a terminal: then no key is read and none is shown.
    """

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream if stream is not None else sys.stdin
        self._saved: Any = None
        try:
            self.fd = self.stream.fileno()
            self.ok = os.isatty(self.fd)
        except (AttributeError, OSError, ValueError):
            self.fd = -1
            self.ok = False

    def available(self) -> bool:
        return self.ok

    def start(self) -> None:
        if not self.ok:
            return
        try:
            import termios
            import tty

            self._saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)
        except (ImportError, OSError):
            self.ok = False

    def stop(self) -> None:
        if self._saved is not None:
            import termios

            try:
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            except OSError:
                pass
            self._saved = None

    def read(self, timeout: float = 0.0) -> str:
        """The keys pressed so far ('' if none), waiting at most ``timeout`` seconds for one."""
        if not self.ok:
            if timeout:
                time.sleep(timeout)
            return ""
        import select

        out = ""
        r, _, _ = select.select([self.fd], [], [], timeout)
        while r:
            ch = os.read(self.fd, 1)
            if not ch:
                break
            out += ch.decode(errors="ignore")
            r, _, _ = select.select([self.fd], [], [], 0)
        return out


class QuitRequested(KeyboardInterrupt):
    """The user pressed q in the live view: handled as Ctrl-C (the run stops, the summary prints)."""


class LiveSession:
    """Runs a ``LiveView`` on a console while a runtime runs.

    The driver's step hook (``rt.driver.hooks_after_step``) refreshes the frame every
    ``refresh_ns`` of virtual time (and at most ``max_fps`` times per wall second); with
    ``speed`` it also sleeps so that virtual time advances at ``speed`` virtual seconds per
    wall second.  The time scale is always on screen.  With a terminal on stdin, keys: space
    pauses and resumes, ``-``/``+`` halve/double the speed, ``n`` runs to the next GC event and
    pauses, ``q`` quits (``QuitRequested``, a ``KeyboardInterrupt``).  ``keys`` may be a callable
    returning the keys pressed since the last call (tests).

    On a console that is not a terminal (or with ``plain=True``) there is no animation and no
    keys: notable events are printed as lines.  With ``redirect=True`` (the default) the program's
    own stdout/stderr are printed above the live region instead of being overwritten by it.
    """

    def __init__(self, rt: Any, *, console: Console | None = None, plain: bool | None = None,
                 refresh_ns: int = 50_000, speed: float | None = None, max_fps: float = 20.0,
                 log_lines: int = 12, reference: RunRecord | None = None, label: str | None = None,
                 keys: Callable[[float], str] | bool | None = None, redirect: bool = True,
                 title: str = "aiogc") -> None:
        self.rt = rt
        self.console = console or Console()
        self.plain = (not self.console.is_terminal) if plain is None else plain
        self.refresh_ns = max(1, int(refresh_ns))
        self.speed = speed
        self.min_wall = 1.0 / max_fps if max_fps > 0 else 0.0
        self.redirect = redirect
        on_log = self._print_line if self.plain else None
        self.view = LiveView.attach(rt, log_lines=log_lines, on_log=on_log, reference=reference, label=label,
                                    spark_width=max(20, min(96, self.console.width - 30)), title=title)
        self._reader: KeyReader | None = None
        self._keys: Callable[[float], str] | None = None
        if not self.plain:
            if callable(keys):
                self._keys = keys
            elif keys is None or keys:
                reader = KeyReader()
                if reader.available():
                    self._reader = reader
                    self._keys = reader.read
        self.paused = False
        self._step_from: int | None = None  # gc_events count when "next GC event" was asked
        self._last_poll = 0.0
        self.live: Live | None = None
        self._v0: int | None = None
        self._w0 = 0.0
        self._next_v = 0
        self._last_wall = 0.0
        self._vmax = 0
        self._hooked = False
        self._update_status()

    def _print_line(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def _update_status(self) -> None:
        state = "PAUSED" if self.paused else ("stepping to the next GC event" if self._step_from is not None
                                               else "running")
        self.view.status_line = f"time scale: {fmt_speed(self.speed)} · {state}"
        self.view.keys_line = KEYS_HELP if self._keys is not None else ""

    def start(self) -> LiveSession:
        drv = self.rt.driver
        if hasattr(drv, "hooks_after_step"):
            drv.hooks_after_step.append(self._hook)
            self._hooked = True
        if not self.plain:
            if self._reader is not None:
                self._reader.start()
            self.live = Live(self.view.render(), console=self.console, auto_refresh=False, transient=False,
                             redirect_stdout=self.redirect, redirect_stderr=self.redirect,
                             vertical_overflow="crop")
            self.live.start(refresh=True)
        return self

    # ---- keys --------------------------------------------------------------------------------------
    def _rebase(self) -> None:
        self._v0 = self._vmax
        self._w0 = time.monotonic()

    def handle_keys(self, keys: str) -> None:
        """Apply keys (also used by tests): space/p pause, -/s slower, +/=/f faster, n step, q quit."""
        for k in keys:
            if k in " p":
                self.paused = not self.paused
                self._step_from = None
            elif k in "-s":
                self.speed = (self.speed or 0.001) / 2
            elif k in "+=f":
                self.speed = (self.speed or 0.0005) * 2
            elif k == "n":
                self._step_from = self.view.gc_events
                self.paused = False
            elif k in "qQ":
                raise QuitRequested()
            self._rebase()
        self._update_status()

    def _poll(self, timeout: float) -> None:
        if self._keys is not None:
            keys = self._keys(timeout)
            if keys:
                self.handle_keys(keys)
        elif timeout:
            time.sleep(timeout)

    def _hook(self, now_ns: int) -> None:
        if now_ns > self._vmax:
            self._vmax = now_ns
        v = self._vmax
        if self._v0 is None:
            self._v0 = v
            self._w0 = time.monotonic()
            self._next_v = v
        if self._step_from is not None and self.view.gc_events > self._step_from:
            self._step_from = None
            self.paused = True
            self._update_status()
            self.refresh()
        w_now = time.monotonic()
        if w_now - self._last_poll >= 0.02:  # keys: a select() at most every 20 ms, not every step
            self._last_poll = w_now
            self._poll(0.0)
        while self.paused:
            self.refresh()
            self._poll(0.05)
            if not self.paused:
                self._rebase()
        if self.speed:
            target = self._w0 + (v - (self._v0 or 0)) / 1e9 / self.speed
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(min(delay, 0.25))
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
        if self._reader is not None:
            self._reader.stop()
        if self.live is not None:
            self.view.keys_line = ""
            self.view.status_line = f"time scale: {fmt_speed(self.speed)} · finished"
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
