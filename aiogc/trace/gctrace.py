"""GODEBUG=gctrace=1 lines in Go 1.5's five-phase format (model doc §6.1).

One line per cycle, printed when the cycle's ``GCDone`` event arrives (the coordinator emits it
after the world restarts) by the ``GCTrace`` subscriber, which the runtime attaches under
``GODEBUG=gctrace=1``:

    gc N @T.TTTs U%: a+b+c+d+e ms clock, f+g+h+i/j/k+l ms cpu, H0->H1->H2 MB, G MB goal, P P

optionally followed by `` (forced)``.  Clock phases: a sweep termination (STW), b root scan,
c install write barrier, d concurrent mark, e mark termination (STW).  CPU: f sweep termination,
g scan, h install WB (always 0 in Go), i assists / j background (dedicated + fractional) /
k idle marking, l mark termination.  Heap sizes are ``bytes >> 20`` (MiB, truncated): H0 at
sweep termination, H1 at the start of mark termination, H2 marked (live) heap, G the goal.

Number formatting is Go's, digit for digit (mgc.go ``fmtNSAsMS``, ``itoaDiv``):
  * a duration of at least 10 ms prints as whole milliseconds ("12");
  * otherwise it is truncated to whole microseconds x; x == 0 prints "0"; else two significant
    digits with at most three decimals: start with 3 decimals and, while x >= 100, drop a digit
    (integer division) and a decimal ("0.016", "0.35", "7.4", "0.001");
  * @T is the cycle's start in truncated milliseconds since runtime start, printed as seconds
    with exactly three decimals;
  * U is an integer percent, already truncated by the caller.
Invariant: every line this module produces matches ``GCTRACE_RE``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any, TextIO

from aiogc.trace.events import Event, GCDone

__all__ = ["GCTrace", "GCTraceRecord", "GCTRACE_RE", "fmt_ns_as_ms", "format_gctrace_line", "gctrace_record"]

_NUM = r"\d+(?:\.\d{1,3})?"

GCTRACE_RE = re.compile(
    r"^gc (?P<n>\d+) @(?P<t>\d+\.\d{3})s (?P<util>\d+)%: "
    rf"(?P<clock_sweep_term>{_NUM})\+(?P<clock_scan>{_NUM})\+(?P<clock_install_wb>{_NUM})"
    rf"\+(?P<clock_mark>{_NUM})\+(?P<clock_mark_term>{_NUM}) ms clock, "
    rf"(?P<cpu_sweep_term>{_NUM})\+(?P<cpu_scan>{_NUM})\+(?P<cpu_install_wb>{_NUM})"
    rf"\+(?P<cpu_assist>{_NUM})/(?P<cpu_background>{_NUM})/(?P<cpu_idle>{_NUM})"
    rf"\+(?P<cpu_mark_term>{_NUM}) ms cpu, "
    r"(?P<heap0>\d+)->(?P<heap1>\d+)->(?P<heap2>\d+) MB, (?P<goal>\d+) MB goal, "
    r"(?P<procs>\d+) P(?P<forced> \(forced\))?$"
)
"""A Go 1.5 (seed-era, ``gc N`` not ``gc #N``) gctrace line; ``$`` tolerates one trailing newline."""


@dataclass
class GCTraceRecord:
    """The inputs of one gctrace line, as the coordinator in ``gc()`` collects them.

    Times are integer nanoseconds; ``t_sweep_term_ns`` is measured from runtime start
    (``tSweepTerm - runtimeInitTime``); sizes are bytes.
    """

    n: int
    t_sweep_term_ns: int
    util_percent: int
    clock_sweep_term_ns: int
    clock_scan_ns: int
    clock_install_wb_ns: int
    clock_mark_ns: int
    clock_mark_term_ns: int
    cpu_sweep_term_ns: int
    cpu_scan_ns: int
    cpu_install_wb_ns: int
    cpu_assist_ns: int
    cpu_background_ns: int
    cpu_idle_ns: int
    cpu_mark_term_ns: int
    heap0: int
    heap1: int
    heap2: int
    goal: int
    gomaxprocs: int
    forced: bool = False


def _itoa_div(val: int, dec: int) -> str:
    """``val / 10**dec`` printed with exactly ``dec`` decimals (Go's ``itoaDiv``; dec 0: no point)."""
    if dec == 0:
        return str(val)
    s = str(val).rjust(dec + 1, "0")
    return f"{s[:-dec]}.{s[-dec:]}"


def fmt_ns_as_ms(ns: int) -> str:
    """Format a duration in nanoseconds as milliseconds, exactly as Go 1.5's ``fmtNSAsMS`` does.

    Examples: 16 µs -> "0.016", 350 µs -> "0.35", 7.4 ms -> "7.4", 1234 ns -> "0.001",
    999 ns -> "0", 12 ms -> "12".  Departure: a negative duration raises ``ValueError`` (Go would
    print the uint64 wrap-around); it can only come from a model bug.
    """
    if ns < 0:
        raise ValueError(f"duration must be >= 0 ns, got {ns}")
    if ns >= 10_000_000:
        return _itoa_div(ns // 1_000_000, 0)
    x = ns // 1000
    if x == 0:
        return "0"
    dec = 3
    while x >= 100:
        x //= 10
        dec -= 1
    return _itoa_div(x, dec)


def _field(rec: Any, name: str) -> Any:
    if isinstance(rec, Mapping):
        return rec[name]
    return getattr(rec, name)


def format_gctrace_line(rec: GCTraceRecord | Mapping[str, Any] | Any) -> str:
    """One gctrace line (no trailing newline) from a ``GCTraceRecord``, a dict or any object.

    Models the ``debug.gctrace > 0`` block at the end of ``gc`` (mgc.go, seed): ``gc N``, ``@`` the
    start time as ``itoaDiv(ms, 3)`` with ``ms = ns // 10**6`` truncated, ``U%``, the five clock and
    seven CPU durations through ``fmt_ns_as_ms`` (``/`` before the background and idle CPU terms,
    ``+`` elsewhere), heap sizes ``>> 20``, ``P``, and `` (forced)`` for non-background modes.
    """
    if is_dataclass(rec) and not isinstance(rec, type):
        rec = asdict(rec)
    ms = _field(rec, "t_sweep_term_ns") // 1_000_000
    clock = "+".join(
        fmt_ns_as_ms(_field(rec, k))
        for k in (
            "clock_sweep_term_ns",
            "clock_scan_ns",
            "clock_install_wb_ns",
            "clock_mark_ns",
            "clock_mark_term_ns",
        )
    )
    f = fmt_ns_as_ms
    cpu = (
        f"{f(_field(rec, 'cpu_sweep_term_ns'))}+{f(_field(rec, 'cpu_scan_ns'))}"
        f"+{f(_field(rec, 'cpu_install_wb_ns'))}+{f(_field(rec, 'cpu_assist_ns'))}"
        f"/{f(_field(rec, 'cpu_background_ns'))}/{f(_field(rec, 'cpu_idle_ns'))}"
        f"+{f(_field(rec, 'cpu_mark_term_ns'))}"
    )
    line = (
        f"gc {_field(rec, 'n')} @{_itoa_div(ms, 3)}s {_field(rec, 'util_percent')}%: "
        f"{clock} ms clock, {cpu} ms cpu, "
        f"{_field(rec, 'heap0') >> 20}->{_field(rec, 'heap1') >> 20}->{_field(rec, 'heap2') >> 20} MB, "
        f"{_field(rec, 'goal') >> 20} MB goal, {_field(rec, 'gomaxprocs')} P"
    )
    if _field(rec, "forced"):
        line += " (forced)"
    return line


def gctrace_record(ev: GCDone) -> GCTraceRecord:
    """The gctrace inputs of one finished cycle, as ``gc(mode)`` computes them at the seed.

    Clock phases from the cycle's timeline (``work.tSweepTerm`` ... ``work.tEnd``); CPU: the
    pauses times GOMAXPROCS, the root scan on one P, assists / background / idle marking from the
    pacer's counters; ``U%`` is the run's GC CPU so far (idle marking excluded) over its elapsed
    time times GOMAXPROCS.  A forced cycle is one pause from sweep termination to its end.
    """
    w = ev.work
    cs = ev.stats
    gmp = cs.gomaxprocs
    t_sw = w.t_sweepterm
    forced = w.forced
    total = max(1, (w.t_end - ev.t0_ns) * gmp)
    mark_term = w.t_end - w.t_markterm if not forced else w.t_end - t_sw
    return GCTraceRecord(
        n=cs.n, t_sweep_term_ns=t_sw - ev.t0_ns,
        util_percent=int(ev.gc_cpu_ns * 100 // total),
        clock_sweep_term_ns=w.t_scan - t_sw if not forced else 0,
        clock_scan_ns=w.t_installwb - w.t_scan,
        clock_install_wb_ns=w.t_mark - w.t_installwb,
        clock_mark_ns=cs.mark_duration_ns,
        clock_mark_term_ns=mark_term,
        cpu_sweep_term_ns=(w.t_scan - t_sw) * gmp if not forced else 0,
        cpu_scan_ns=w.t_installwb - w.t_scan,
        cpu_install_wb_ns=0,
        cpu_assist_ns=cs.assist_ns, cpu_background_ns=cs.bg_mark_ns, cpu_idle_ns=cs.idle_mark_ns,
        cpu_mark_term_ns=mark_term * gmp,
        heap0=w.heap0, heap1=w.heap1, heap2=w.heap2, goal=w.goal,
        gomaxprocs=gmp, forced=forced,
    )


class GCTrace:
    """The gctrace subscriber: ``rt.bus.subscribe(GCTrace())`` prints one line per cycle to ``out``."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out

    def __call__(self, ev: Event) -> None:
        if isinstance(ev, GCDone):
            print(format_gctrace_line(gctrace_record(ev)), file=self.out if self.out is not None else sys.stderr)
