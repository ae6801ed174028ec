"""The seed's reviseTimer: the assist ratio is revised at cycle start and then every 10 ms by a
runtime timer that timerproc runs (sched/timers.py ``RuntimeTimer``), not at every allocation;
``Config.revise_on_alloc`` (1fb01a88, after the series) revises it at every allocation that can
assist.  Exact virtual-time checks."""

from __future__ import annotations

from typing import Any

import aiogc
from aiogc.collector.cycle import REVISE_PERIOD_NS
from aiogc.collector.pacer import PacerState
from aiogc.experiments.workloads import SeedWorkload, seed_main
from aiogc.sched.timers import RuntimeTimer, timerproc


def _revisions(monkeypatch: Any, **cfg: Any) -> tuple[aiogc.Runtime, list[tuple[int, int]]]:
    """Run the parent (long mark phases) and record (time, cycle) of every assist-ratio revision."""
    seen: list[tuple[int, int]] = []
    orig = PacerState.revise

    def revise(self: PacerState, heap_live: int | None = None) -> float:
        rt = aiogc.current_runtime()
        seen.append((rt.now_ns(), rt.gc.numgc + 1))
        return orig(self, heap_live)

    monkeypatch.setattr(PacerState, "revise", revise)
    rt = aiogc.Runtime(gomaxprocs=2, gogc=100, seed=5, go_commit="parent", clock="virtual", godebug="", **cfg)
    rt.run(seed_main(SeedWorkload(), cycles=12, max_heap_bytes=256 << 20))
    return rt, seen


def test_the_seed_revises_at_cycle_start_and_from_its_10_ms_timer_only(monkeypatch: Any) -> None:
    rt, seen = _revisions(monkeypatch)
    for c in rt.stats.cycles:
        times = [t for t, n in seen if n == c.n]
        assert times, f"cycle {c.n}: no revision at its start"
        # One at startCycle; the timer's only after 10 ms and never closer than 10 ms apart.
        assert all(b - a >= REVISE_PERIOD_NS for a, b in zip(times, times[1:], strict=False)), times
        assert len(times) <= 1 + (c.end_ns - c.start_ns) // REVISE_PERIOD_NS
    assert any(n == c.n and t > c.start_ns + REVISE_PERIOD_NS for c in rt.stats.cycles for t, n in seen), \
        "no timer revision (seed 5: cycle 7 lasts 13 ms and timerproc runs in it)"


def test_revise_on_alloc_revises_at_every_allocation_that_can_assist(monkeypatch: Any) -> None:
    rt_seed, seed_revs = _revisions(monkeypatch)
    monkeypatch.undo()
    _, alloc_revs = _revisions(monkeypatch, revise_on_alloc=True)
    assert len(alloc_revs) > 10 * len(seed_revs)


def test_no_revise_timer_is_left_after_a_cycle() -> None:
    """endCycle's deltimer: between cycles nothing is armed, so a program whose goroutines all
    park after its GC cycles still reports a deadlock instead of waiting on the pacer's timer."""
    rt = aiogc.Runtime(gomaxprocs=2, gogc=100, seed=1, clock="virtual", godebug="")
    rt.run(seed_main(SeedWorkload(), cycles=3))
    assert rt.gc.revise_timer is None
    assert not [h for _, _, h, _ in rt.driver.timers if not h._cancelled]


def test_a_runtime_timer_runs_on_timerproc_and_a_periodic_one_rearms_after_the_instant_it_ran() -> None:
    rt = aiogc.Runtime(gomaxprocs=1, gogc=None, seed=1, clock="virtual", godebug="")
    ran: list[int] = []

    async def main() -> None:
        p = aiogc.current_p()
        tp = timerproc(p.sched)
        t = RuntimeTimer(lambda: ran.append(rt.now_ns()), 1_000_000, 1_000_000)
        tp.addtimer(p, t)
        # Hold the only P for 2.5 ms: timerproc cannot run until this goroutine blocks.
        await aiogc.compute(2_500_000)
        await aiogc.sleep(0.0021)  # now at ~2.5 ms: timerproc runs at once, then at 3, 4 ms ...
        tp.deltimer(t)
        await aiogc.sleep(0.005)

    rt.run(main())
    assert ran and ran[0] >= 2_500_000  # the timer was due at 1 ms; timerproc ran it when it could
    later = ran[1:]
    assert later and all(t % 1_000_000 < 200_000 for t in later)  # re-armed to multiples of 1 ms
    assert max(ran) < 4_700_000  # deltimer at ~4.6 ms: nothing after


def _timerproc_wakeups(arm_runtime_timer: bool) -> tuple[list[tuple[int, int]], int]:
    """main (one P) optionally arms a 10 ms runtime timer, then sleeps 1 ms twice.  Returns
    (time, waker) of every ready of timerproc (waker -1: a callback, the global queue) and
    main's goroutine id."""
    from aiogc.sched.p import current_p
    from aiogc.trace.events import Recorder

    async def main() -> int:
        rt = aiogc.current_runtime()
        if arm_runtime_timer:
            timerproc(rt.sched).addtimer(current_p(), RuntimeTimer(lambda: None, rt.now_ns() + 10_000_000))
        await aiogc.sleep(0.001)
        await aiogc.sleep(0.001)
        return rt.sched.cur_g().id

    rt = aiogc.Runtime(gomaxprocs=1, gogc=None, seed=0, clock="virtual", godebug="")
    rec = Recorder()
    rt.bus.subscribe(rec)
    main_id = rt.run(main())
    tp_id = rt.sched.timerproc.g.id
    return [(e.ts, e.g) for e in rec.events if e.kind == "GoUnpark" and e.target == tp_id], main_id


def test_an_earlier_timer_wakes_a_sleeping_timerproc_onto_the_global_queue() -> None:
    # addtimerLocked: timerproc sleeps until the 10 ms timer (notetsleepg); main's second 1 ms
    # sleep is the new earliest, so timerproc is woken at once (a callback: its M finds no idle
    # P and queues it globally), runs to go back to sleep, and wakes again at 2 ms.
    wakes, _ = _timerproc_wakeups(True)
    times = [t for t, _ in wakes]
    assert all(w == -1 for _, w in wakes), wakes
    assert len(wakes) == 3, wakes  # 1 ms (main's first sleep), the early wake, 2 ms
    assert times[0] >= 1_000_000 and times[1] - times[0] < 100_000 and times[2] >= 2_000_000, times


def test_a_timer_readies_a_parked_timerproc_into_runnext() -> None:
    # No timer pending (timers.rescheduling): addtimer goready()s timerproc into the adding
    # goroutine's P's runnext; no early global-queue trip.
    wakes, main_id = _timerproc_wakeups(False)
    assert [w for _, w in wakes] == [-1, main_id, -1], wakes  # 1 ms fire, main's goready, 2 ms fire
