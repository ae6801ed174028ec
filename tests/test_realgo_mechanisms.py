"""The mechanisms of docs/realgo.md, each checked in an event trace (virtual time, exact).

Mechanism A at GOMAXPROCS=2 without the fix (the parent, 4f188c2d): an assist completes mark 1 and
readies the coordinator into its P's runnext; the producer/consumer pair kicks it to the ring
tail and keeps runnext busy.  At the seed's parent both mark signals must be done before
``findRunnableGCWorker`` stops, so every ``schedule()`` in the wait starts this P's fractional
worker (the kept ring's write barrier greys a node every list): a new time slice each time, so
sysmon never preempts.  The coordinator leaves the ring only when the timerproc goroutine,
woken onto the global queue by main's 1 ms sleep, is taken by *this* P at a 61st schedtick: it
readies main into runnext (kicking the pair's G behind the coordinator), main parks, and the
ring's head runs.  Both Ps tick in step, so which P takes timerproc is a race; each loss sends
main to the other P and restarts the 1 ms timer, so a P that keeps losing keeps its coordinator
waiting (in real Go for seconds: docs/realgo.md, A′).
"""

from __future__ import annotations

from typing import Any

import aiogc
from aiogc.experiments.workloads import SeedWorkload, seed_main
from aiogc.trace.events import Recorder


def _mark1_waits(seed: int, cycles: int = 12) -> list[dict[str, Any]]:
    rt = aiogc.Runtime(gomaxprocs=2, gogc=100, seed=seed, go_commit="parent", clock="virtual", godebug="")
    rec = Recorder()
    rt.bus.subscribe(rec)
    summary = rt.run(seed_main(SeedWorkload(), cycles=cycles))
    # A wait still running when a bound (the 1 GiB heap) stopped the mutators ended because they
    # stopped, not by the race: leave it out.
    stop_ns = summary["stop_ns"] if summary["stopped_by"] != "cycles" else None
    out: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    for e in rec.events:
        if e.kind == "GCComplete" and e.phase == 1 and e.who.startswith("assist"):
            cur = {"p": e.p, "timerproc": [], "main": [], "workers": {0: 0, 1: 0}, "preempted": set()}
        elif cur is None:
            continue
        elif e.kind == "GoStart" and e.label == "timerproc":
            cur["timerproc"].append(e.p)
        elif e.kind == "GoStart" and e.label == "main":
            cur["main"].append(e.p)
        elif e.kind == "GoStart" and e.label.startswith("GC worker"):
            cur["workers"][e.p] += 1
        elif e.kind == "GoPreempt":
            cur["preempted"].add(e.p)
        elif e.kind == "GCCoordWake" and e.phase == 1:
            cur["wake_p"] = e.p
            cur["latency_ns"] = e.latency_ns
            if stop_ns is None or e.ts <= stop_ns:
                out.append(cur)
            cur = None
    return out


def test_mark1_wait_ends_when_the_coordinators_p_wins_the_timerproc_race() -> None:
    long_waits = [w for s in (1, 2, 4) for w in _mark1_waits(s, cycles=24) if w["latency_ns"] > 1_000_000]
    assert len(long_waits) >= 5, long_waits
    for w in long_waits:
        p = w["p"]
        other = 1 - p
        assert w["wake_p"] == p, w  # not stolen: it left this P's ring
        assert not w["preempted"], w  # sysmon never saw a 10 ms slice on either P
        # Both Ps' workers ticking: a new slice on each P at least every 0.5 ms of the wait.
        ticks = max(2, w["latency_ns"] // 500_000)
        assert w["workers"][p] >= ticks and w["workers"][other] >= ticks, w
        # The exit: this P took timerproc when main's sleep was due, and main ran here.  (timerproc
        # also runs the pacer's 10 ms revise timer, which readies nobody: those picks do not count.)
        assert w["timerproc"] and w["timerproc"][-1] == p, w
        assert w["main"] and w["main"][-1] == p, w
        assert all(q == other for q in w["main"][:-1]), w  # every earlier wake-up of main: the other P
    # The race was lost several times in a row at least once: a wait of many timer periods.
    assert max(len(w["main"]) for w in long_waits) >= 3


def _other_p_stops_after_foreachp(monkeypatch: Any, enabled: bool) -> tuple[int, int]:
    """(transitions, how many of them the other P's goroutine answered with a GoPreempt first)."""
    from aiogc.sched.sched import Sched

    if not enabled:
        monkeypatch.setattr(Sched, "preemptall", lambda self, me: [])
    rt = aiogc.Runtime(gomaxprocs=2, gogc=100, seed=1, clock="virtual", godebug="")
    rec = Recorder()
    rt.bus.subscribe(rec)
    rt.run(seed_main(SeedWorkload(), cycles=8))
    ev = rec.events
    n = hits = 0
    for i, e in enumerate(ev):
        # the write barrier's ragged barrier follows the phase change; mark 1's flush follows the
        # coordinator's wake-up after mark 1
        if (e.kind == "GCPhase" and e.phase == "mark") or (e.kind == "GCCoordWake" and e.phase == 1):
            n += 1
            for f in ev[i + 1:]:
                if f.p == 1 - e.p and f.kind in ("GoPreempt", "GoPark", "GoSched", "GoEnd"):
                    hits += f.kind == "GoPreempt" and f.ts - e.ts < 50_000
                    break
    return n, hits


def test_foreachp_sends_the_other_ps_goroutine_to_the_global_queue(monkeypatch: Any) -> None:
    """forEachP (the write barrier's ragged barrier, and mark 1's gcw flush) preempts the goroutine
    running on every other P at its next safe point (gopreempt_m: the global queue)."""
    n, hits = _other_p_stops_after_foreachp(monkeypatch, True)
    assert n >= 12 and hits >= 0.8 * n, (n, hits)
    n0, hits0 = _other_p_stops_after_foreachp(monkeypatch, False)
    assert hits0 <= 0.2 * n0, (n0, hits0)  # without it, what stops that goroutine first is its own park
