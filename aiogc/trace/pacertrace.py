"""GODEBUG=gcpacertrace=1: Go 1.5's pacer lines, printed by a subscriber to the model's events.

Two lines per background cycle, on stderr, as go1.5 prints them:
  * at the end of ``startCycle`` (``GCPacerStart``):
    ``pacer: assist ratio=<r> (scan <S> MB in <H0>-><G> MB) workers=<dedicated>+<fractional>``;
  * in ``endCycle`` (``GCPacerEnd``): ``pacer: H_m_prev=... u_a/u_g=...``.
Forced cycles print neither (Go 1.5's forced modes skip startCycle/endCycle).

The collector only emits the events (``aiogc.collector.cycle``); formatting and printing live here,
so the model never writes to a stream.
"""

from __future__ import annotations

import math
import sys
from typing import Any, TextIO

from aiogc.trace.events import Event, GCPacerEnd, GCPacerStart

__all__ = ["PacerTrace", "go_float", "format_pacer_end_line", "format_pacer_start_line"]


class PacerTrace:
    """The gcpacertrace subscriber: ``rt.bus.subscribe(PacerTrace())``; writes to ``out`` (stderr)."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out

    def __call__(self, ev: Event) -> None:
        if isinstance(ev, GCPacerStart):
            if not ev.forced:
                self._print(format_pacer_start_line(ev.assist_ratio, ev.heap_scan, ev.initial_heap_live,
                                                    ev.heap_goal, ev.dedicated, ev.fractional))
        elif isinstance(ev, GCPacerEnd):
            self._print(format_pacer_end_line({k: getattr(ev, k) for k in _END_FIELDS}))

    def _print(self, line: str) -> None:
        print(line, file=self.out if self.out is not None else sys.stderr)


_END_FIELDS = ("H_m_prev", "h_t", "H_T", "h_a", "H_a", "h_g", "H_g", "u_a", "u_g", "W_a", "goal_delta",
               "actual_delta", "u_a_over_u_g")




def go_float(x: float) -> str:
    """Format a float as Go's runtime ``print`` does: ``+d.dddddde±ddd`` (``printfloat``, print.go).

    The digits come from Go's own algorithm (normalise by repeated *10 or /10, add 5e-7, peel seven
    digits with int()), replayed in IEEE doubles, so even the last digit matches Go's output, which
    can differ from C's correctly rounded ``%e``.  NaN prints ``NaN``; infinities ``+Inf``/``-Inf``;
    negative zero ``-0.000000e+000``.
    """
    v = float(x)
    if v != v:
        return "NaN"
    if v + v == v and v > 0:
        return "+Inf"
    if v + v == v and v < 0:
        return "-Inf"
    n = 7
    sign = "+"
    e = 0
    if v == 0:
        if math.copysign(1.0, v) < 0:
            sign = "-"
    else:
        if v < 0:
            v = -v
            sign = "-"
        while v >= 10:
            e += 1
            v /= 10
        while v < 1:
            e -= 1
            v *= 10
        h = 5.0
        for _ in range(n):
            h /= 10
        v += h
        if v >= 10:
            e += 1
            v /= 10
    digits = []
    for _ in range(n):
        s = int(v)
        digits.append(chr(s + ord("0")))
        v -= float(s)
        v *= 10
    esign = "+"
    if e < 0:
        e = -e
        esign = "-"
    return f"{sign}{digits[0]}.{''.join(digits[1:])}e{esign}{e // 100}{e // 10 % 10}{e % 10}"


def format_pacer_end_line(d: dict[str, Any]) -> str:
    """The ``pacer:`` line gcpacertrace prints in ``endCycle`` (model doc §6.3), no newline.

    ``d`` is ``PacerState.end_cycle``'s result (or any mapping with its keys).  Integers print as
    integers, ratios in ``go_float`` format; the three trailing fields are named ``goalΔ``,
    ``actualΔ`` and ``u_a/u_g`` as in Go.
    """
    f = go_float
    return (
        f"pacer: H_m_prev={int(d['H_m_prev'])}"
        f" h_t={f(d['h_t'])} H_T={int(d['H_T'])}"
        f" h_a={f(d['h_a'])} H_a={int(d['H_a'])}"
        f" h_g={f(d['h_g'])} H_g={int(d['H_g'])}"
        f" u_a={f(d['u_a'])} u_g={f(d['u_g'])}"
        f" W_a={int(d['W_a'])}"
        f" goalΔ={f(d['goal_delta'])}"
        f" actualΔ={f(d['actual_delta'])}"
        f" u_a/u_g={f(d['u_a_over_u_g'])}"
    )


def format_pacer_start_line(
    assist_ratio: float,
    heap_scan: int,
    initial_heap_live: int,
    heap_goal: int,
    dedicated: int,
    fractional: int,
) -> str:
    """The go1.5 ``pacer: assist ratio=...`` line printed at the end of ``startCycle``, no newline.

    Format (commit f9dc3382): ``pacer: assist ratio=<r> (scan <heap_scan MB> MB in
    <initialHeapLive MB>-><heapGoal MB> MB) workers=<dedicated>+<fractional tokens>``, sizes
    ``>> 20``.  Accepts ``PacerState.start_cycle``'s result as keyword arguments.
    """
    return (
        f"pacer: assist ratio={go_float(assist_ratio)}"
        f" (scan {heap_scan >> 20} MB in {initial_heap_live >> 20}->{heap_goal >> 20} MB)"
        f" workers={dedicated}+{fractional}"
    )
