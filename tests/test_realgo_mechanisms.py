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
from aiogc.config import HOSTS
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
    long_waits = [w for s in (9, 11) for w in _mark1_waits(s, cycles=24) if w["latency_ns"] > 1_000_000]
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


# ---------------------------------------------------------------------------- h_allspans growth


def _stalled_growths(monkeypatch: Any, stall_ns: int) -> list[tuple[int, int, int, int]]:
    """Make every h_allspans growth stall its P ``stall_ns`` more (the heap lock held throughout);
    returns the growths as (P id, start, end, capacity in bytes before)."""
    from aiogc.collector.cycle import Collector

    grows: list[tuple[int, int, int, int]] = []
    orig = Collector._grow_allspans

    def grow(self: Collector, p: Any) -> None:
        t0, before = p.clock, self.allspans_cap_bytes
        orig(self, p)
        p.clock += stall_ns
        self.heap_lock_until = p.clock
        grows.append((p.id, t0, p.clock, before))

    monkeypatch.setattr(Collector, "_grow_allspans", grow)
    return grows


def test_an_h_allspans_growth_stops_the_other_ps_refills_until_it_is_done(monkeypatch: Any) -> None:
    """recordspan runs under mheap_.lock: while one P grows h_allspans, another P's next span
    refill waits for the lock, so no P takes a span until the growth is done."""
    grows = _stalled_growths(monkeypatch, 1_000_000)
    rt = aiogc.Runtime(gomaxprocs=2, gogc=None, seed=1, clock="virtual", godebug="")
    rec = Recorder()
    rt.bus.subscribe(rec)

    async def grower(out: list[Any]) -> None:
        for _ in range(40_000):  # 40 MiB each: the pair crosses the 64 MiB boundary
            out.append(await aiogc.alloc(1024))

    async def main() -> None:
        a: list[Any] = []
        b: list[Any] = []
        wg = aiogc.WaitGroup()
        wg.add(2)

        async def run(out: list[Any]) -> None:
            await grower(out)
            wg.done()

        aiogc.go(run(a))
        aiogc.go(run(b))
        await wg.wait()

    rt.run(main())
    big = [g for g in grows if g[3] >= 64 << 20]
    assert big, grows
    pid, t0, t1, _ = big[0]
    other = [e for e in rec.events if e.kind == "HeapAlloc" and e.p != pid and e.ts > t0]
    assert other, "the other P went on allocating"
    assert other[0].ts >= t1  # its first refill after the growth began waited for the lock
    assert rt.gc.heap_lock_until == big[-1][2]


def test_a_growth_that_stalls_both_ps_for_a_sysmon_period_ends_a_lock_in_there(monkeypatch: Any) -> None:
    """The parent on the measured machine (seed 4) locks in within 47 cycles.  If each h_allspans growth
    stops both mutators (the heap lock) for longer than two sysmon ticks, sysmon sees both Ps'
    schedticks stand still and preempts the pairs' goroutines; with runnext empty the ring's
    coordinator runs, and the cycle reaches mark termination with the heap at the boundary, as real
    Go's lock-ins ended (docs/realgo.md, A′).  The model's own growth stall (the copy, 6 ns per span
    struct in a mark phase, and its pages) passes a sysmon period only from the 12.16 GiB growth on."""
    grows = _stalled_growths(monkeypatch, 25_000_000)
    rt = aiogc.Runtime(gomaxprocs=2, gogc=100, seed=4, go_commit="parent", clock="virtual", godebug="",
                       **HOSTS["realgo-vm"])
    rec = Recorder()
    rt.bus.subscribe(rec)
    rt.run(seed_main(SeedWorkload(), cycles=47, max_heap_bytes=256 << 20))
    bounds = {g[3] for g in grows}
    ended = [c for c in rt.stats.cycles if c.coordinator_latency_ns > 50_000_000
             and any(0 <= c.heap_at_mark_term - b <= 16 * 8192 for b in bounds)]
    assert ended, [(c.n, c.coordinator_latency_ns, c.heap_at_mark_term) for c in rt.stats.cycles[-4:]]
    c = ended[-1]
    wake = [e for e in rec.events if e.kind == "GCCoordWake" and c.start_ns <= e.ts <= c.end_ns][-1]
    growth = max((g for g in grows if g[1] < wake.ts), key=lambda g: g[1])
    # sysmon preempted a goroutine on each P during the stall, and the coordinator ran right after.
    pre = {e.p for e in rec.events if e.kind == "GoPreempt" and growth[1] <= e.ts <= wake.ts}
    assert pre == {0, 1}, (growth, wake)
    assert wake.ts - growth[2] < 2_000_000
