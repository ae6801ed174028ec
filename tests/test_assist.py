"""Mutator assists on the real runtime: debt accounting, stealing background credit, the three
assist policies, and the seed commit's change — yield to the GC coordinator after an assist
completes a mark phase — plus the per-cycle records (``CycleStats``) it is measured by.

All runs are in virtual time, so the traces are exact and deterministic.  The workload for the
coordinator hand-off is the seed workload at GOMAXPROCS=4, seed 1, six cycles, with the fix on
and off (``yield_after_assist``); both runs are made once per module.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from typing import Any

import pytest
from helpers import events, recorded_runtime

import aiogc
from aiogc.collector.assist import gc_assist_alloc
from aiogc.experiments.workloads import SeedWorkload, seed_main
from aiogc.trace.events import (
    AssistEnd,
    AssistStart,
    Event,
    GCComplete,
    GCCoordWake,
    GCDone,
    GoEnd,
    GoPark,
    GoPreempt,
    GoSched,
    GoStart,
    GoUnpark,
    Recorder,
)
from aiogc.trace.metrics import FIELDS, CycleStats

SEED_RUN = dict(gomaxprocs=2, seed=0, cycles=6)  # GOMAXPROCS=2: the real-Go data (at 4 the seed can livelock)



class AssistProbe:
    """Subscriber that checks the debt formula *at the instant* each assist starts and ends.

    At ``AssistStart`` (emitted after background credit was stolen) the payload must be
    ``floor(assist_ratio * g.gcalloc) - g.gcscanwork`` and positive, and the background credit
    must be exhausted (credit is stolen before any mark work is done).  At ``AssistEnd`` the
    goroutine's ``gcscanwork`` must have grown by exactly the work reported.
    """

    def __init__(self, rt: aiogc.Runtime) -> None:
        self.rt = rt
        self.open: dict[int, int] = {}
        self.errors: list[str] = []
        self.starts = 0
        self.ends = 0

    def __call__(self, ev: Event) -> None:
        ts, gid = ev.ts, ev.g
        if isinstance(ev, AssistStart):
            self.starts += 1
            g = self.rt.sched.allgs[gid]
            pacer = self.rt.gc.pacer
            want = math.floor(pacer.assist_ratio * g.gcalloc) - g.gcscanwork
            if ev.debt != want or ev.debt <= 0:
                self.errors.append(f"{ts}: G{gid} debt {ev.debt}, formula gives {want}")
            if pacer.bg_scan_credit != 0:
                self.errors.append(f"{ts}: G{gid} assists with {pacer.bg_scan_credit} credit left")
            self.open[gid] = g.gcscanwork
        elif isinstance(ev, AssistEnd):
            self.ends += 1
            g = self.rt.sched.allgs[gid]
            work = ev.work
            if g.gcscanwork != self.open.pop(gid) + work:
                self.errors.append(f"{ts}: G{gid} gcscanwork did not grow by the work done ({work})")


def _seed_run(yield_after_assist: bool, **cfg: Any) -> dict[str, Any]:
    fields = dict(gomaxprocs=SEED_RUN["gomaxprocs"], seed=SEED_RUN["seed"], yield_after_assist=yield_after_assist)
    fields.update(cfg)
    rt, rec = recorded_runtime(**fields)
    probe = AssistProbe(rt)
    rt.bus.subscribe(probe)
    rt.run(seed_main(SeedWorkload(), cycles=SEED_RUN["cycles"]))
    return {"rt": rt, "rec": rec, "probe": probe}


@pytest.fixture(scope="module")
def with_yield() -> dict[str, Any]:
    return _seed_run(True)


@pytest.fixture(scope="module")
def without_yield() -> dict[str, Any]:
    return _seed_run(False)


def _labels(events: list[Any]) -> dict[int, str]:
    return {e.g: e.label for e in events if isinstance(e, GoStart)}


def handoffs(events: list[Any]) -> list[dict[str, Any]]:
    """For each effective ``complete()`` by an assist: what ran next on that P, and the wake."""
    out = []
    labels = _labels(events)
    for i, c in enumerate(events):
        if not isinstance(c, GCComplete) or c.who != "assist":
            continue
        between: list[str] = []
        first = None
        for e in events[i + 1 :]:
            if isinstance(e, GoStart) and e.p == c.p:
                if first is None:
                    first = e
                if e.label == "GC coordinator":
                    break
                between.append(e.label)
        wake = next((e for e in events[i + 1 :] if isinstance(e, GCCoordWake)), None)
        if wake is None:
            continue  # the run ended (its cycle bound) before the coordinator got to run
        out.append({"ts": c.ts, "p": c.p, "assist_g": labels.get(c.g, c.g), "phase": c.phase, "first": first,
                    "others_before_coordinator": between, "wake": wake})
    return out


# ----------------------------------------------------------------------------- the seed's yield


def test_yield_runs_coordinator_right_after_assist_completion(with_yield: dict[str, Any]) -> None:
    """THE KEY TEST: with the fix, the next goroutine on the completing P is the coordinator,
    and the hand-off costs exactly one ready plus one switch of virtual time."""
    cfg = with_yield["rt"].config
    one_switch = cfg.cost_ready_ns + cfg.cost_switch_ns  # complete() readies it, gosched switches
    hs = handoffs(with_yield["rec"].events)
    assert hs, "the seed workload must have assists completing mark phases"
    for h in hs:
        assert h["first"] is not None
        assert h["first"].label == "GC coordinator", h
        assert h["others_before_coordinator"] == []
        wake = h["wake"]
        assert wake.p == h["p"] and wake.completed_on == h["p"]
        assert wake.who == "assist" and wake.phase == h["phase"]
        # one hand-off, plus at most a few wake-ups the P delivered from its callback queue
        # (timers firing) before scheduling: the coordinator is never kicked out of runnext
        assert one_switch <= wake.latency_ns <= one_switch + 4 * cfg.cost_ready_ns
        assert wake.ts == h["ts"] + wake.latency_ns
    # and every cycle's coordinator latency is that one hand-off
    cycles = with_yield["rt"].stats.cycles
    assert all(one_switch <= c.coordinator_latency_ns <= one_switch + 4 * cfg.cost_ready_ns
               for c in cycles), [c.coordinator_latency_ns for c in cycles]
    assert [c.coordinator_latency_ns for c in cycles].count(one_switch) >= len(cycles) // 2
    assert any(c.completed_by == "assist" for c in cycles)


def test_assist_completing_gosches_to_global_queue(with_yield: dict[str, Any]) -> None:
    """The yield is a gosched: after a completing assist its G's next stop is a GoSched on that P,
    and its AssistEnd (between the two) reports completed=True."""
    ev = with_yield["rec"].events
    n = 0
    for i, e in enumerate(ev):
        if not isinstance(e, GCComplete) or e.who != "assist":
            continue
        mine = [f for f in ev[i + 1 :] if f.g == e.g]
        stop = next(j for j, f in enumerate(mine) if isinstance(f, (GoSched, GoPark, GoPreempt, GoEnd)))
        assert isinstance(mine[stop], GoSched) and mine[stop].p == e.p
        ends = [f for f in mine[:stop] if isinstance(f, AssistEnd)]
        assert len(ends) == 1 and ends[0].completed is True
        n += 1
    assert n >= 1


def test_without_yield_coordinator_waits_behind_other_goroutines(
    with_yield: dict[str, Any], without_yield: dict[str, Any]
) -> None:
    cfg = without_yield["rt"].config
    one_switch = cfg.cost_ready_ns + cfg.cost_switch_ns
    hs = handoffs(without_yield["rec"].events)
    assert hs
    delayed = [h for h in hs if h["others_before_coordinator"]]
    assert delayed, "some assist completion must be followed by other goroutines before the coordinator"
    for h in delayed:
        assert h["first"].label != "GC coordinator"
        assert h["wake"].latency_ns > 100 * one_switch
    worst = max(h["wake"].latency_ns for h in hs)
    assert worst > 1_000_000, f"latency without the yield should be ~ a time slice, got {worst} ns"
    # the cycle records show it too, and the heap overshoots the goal more
    lat_on = max(c.coordinator_latency_ns for c in with_yield["rt"].stats.cycles)
    lat_off = max(c.coordinator_latency_ns for c in without_yield["rt"].stats.cycles)
    # (a cycle still running when main returned has a wake but no CycleStats: compare finished ones)
    end = without_yield["rt"].stats.cycles[-1].end_ns
    worst_finished = max(h["wake"].latency_ns for h in hs if h["wake"].ts <= end)
    assert lat_on <= one_switch + 4 * cfg.cost_ready_ns and lat_off == worst_finished
    over_on = max(c.overshoot for c in with_yield["rt"].stats.cycles)
    over_off = max(c.overshoot for c in without_yield["rt"].stats.cycles)
    assert over_off > over_on
    alloc_on = max(c.alloc_after_complete for c in with_yield["rt"].stats.cycles)
    alloc_off = max(c.alloc_after_complete for c in without_yield["rt"].stats.cycles)
    assert alloc_off > 100 * max(1, alloc_on)


def test_debt_formula_and_credit_first_on_seed_workload(
    with_yield: dict[str, Any], without_yield: dict[str, Any]
) -> None:
    for run in (with_yield, without_yield):
        probe = run["probe"]
        assert probe.starts > 10
        assert probe.errors == []
        ends = events(run["rec"], AssistEnd)
        assert any(e.stolen > 0 for e in ends), "some assists steal background credit"
        assert any(e.work > 0 for e in ends), "some assists do mark work"


def test_seed_policy_returns_unpaid(with_yield: dict[str, Any]) -> None:
    ev = with_yield["rec"].events
    parks = Counter(e.reason for e in events(ev, GoPark))
    assert parks["assist retry sleep"] == 0 and parks["GC assist wait"] == 0
    starts: dict[int, int] = {}
    unpaid = 0
    for e in ev:
        if isinstance(e, AssistStart):
            starts[e.g] = e.debt
        elif isinstance(e, AssistEnd):
            if e.work < starts.pop(e.g):
                unpaid += 1
    assert unpaid >= 1, "with the seed policy an assist that could not pay just returns"


# ----------------------------------------------------------------------------- CycleStats


def _check_cycle(c: CycleStats, cfg: aiogc.Config) -> None:
    assert set(dataclasses.asdict(c)) == set(FIELDS)
    assert c.end_ns > c.start_ns
    assert c.heap_goal > 0
    assert c.overshoot == pytest.approx((c.heap_at_mark_term - c.heap_goal) / c.heap_goal, rel=0, abs=1e-12)
    assert c.completed_by in {"assist", "worker", "forced"}
    assert (c.completed_by == "forced") == c.forced
    assert c.gomaxprocs == cfg.gomaxprocs
    assert c.stw_ns > 0 and c.stw_ns <= c.end_ns - c.start_ns
    assert c.mark_duration_ns >= 0 and c.mark_duration_ns <= c.end_ns - c.start_ns
    assert c.assist_ns >= 0 and c.bg_mark_ns >= 0 and c.idle_mark_ns >= 0
    assert c.coordinator_latency_ns >= 0 and c.alloc_after_complete >= 0
    assert 0 <= c.gc_cpu_fraction
    assert c.heap_live_after <= c.heap_at_mark_term
    if not c.forced:
        assert c.heap_start >= c.heap_trigger, "a background cycle starts at or after its trigger"
        assert c.gc_cpu_fraction <= 1.0


def test_cycle_stats_consistent(with_yield: dict[str, Any], without_yield: dict[str, Any]) -> None:
    for run in (with_yield, without_yield):
        rt = run["rt"]
        cycles = rt.stats.cycles
        assert len(cycles) >= SEED_RUN["cycles"]
        assert [c.n for c in cycles] == list(range(1, len(cycles) + 1))
        for a, b in zip(cycles, cycles[1:], strict=False):
            assert b.start_ns >= a.end_ns
        for c in cycles:
            _check_cycle(c, rt.config)
        done = [e.stats for e in events(run["rec"], GCDone)]
        assert done == cycles


def test_forced_cycles_are_completed_by_forced() -> None:
    async def main() -> None:
        keep = [await aiogc.alloc(256, 2) for _ in range(10)]
        for _ in range(200):
            await aiogc.alloc(256, 2)
        await aiogc.gc()
        await aiogc.gc()
        assert all(k.alive for k in keep)

    rt = aiogc.Runtime(gomaxprocs=2, seed=0, heap_minimum=16 << 10)
    rt.run(main())
    cycles = rt.stats.cycles
    forced = [c for c in cycles if c.forced]
    assert len(forced) == 2
    for c in cycles:
        _check_cycle(c, rt.config)
    for c in forced:
        assert c.completed_by == "forced" and c.coordinator_latency_ns == 0
    assert any(not c.forced for c in cycles), "the allocation also triggered background cycles"


# ----------------------------------------------------------------------------- accounting, directly


def test_assist_steals_credit_before_marking_and_debt_formula_exact() -> None:
    """Drive ``gc_assist_alloc`` from a goroutine with a hand-set mark-phase state."""
    rec = Recorder()

    async def main() -> dict[str, Any]:
        rt = aiogc.current_runtime()
        col = rt.gc
        sched = col.sched
        p = aiogc.current_p()
        g = aiogc.current_g()
        pacer = col.pacer
        res: dict[str, Any] = {}
        sched.gc_blacken_enabled = True  # as during concurrent mark
        try:
            pacer.assist_ratio = 0.5
            pacer.bg_scan_credit = 10_000
            g.gcalloc = g.gcscanwork = 0
            sw0 = col.marker.scan_work
            # a fast-path allocation only counts bytes
            await gc_assist_alloc(col, p, g, 1000, False)
            res["fast"] = (g.gcalloc, g.gcscanwork, pacer.bg_scan_credit)
            # debt = floor(0.5 * 5096) - 0 = 2548: covered by credit, no mark work
            await gc_assist_alloc(col, p, g, 4096, True)
            res["covered"] = (g.gcalloc, g.gcscanwork, pacer.bg_scan_credit, col.marker.scan_work - sw0)
            res["events_after_covered"] = [e.kind for e in rec.of(AssistStart, AssistEnd)]
            # debt = floor(0.5 * 8096) - 2548 = 1500; only 100 credit: steal it, then assist
            pacer.bg_scan_credit = 100
            await gc_assist_alloc(col, p, g, 3000, True)
            res["partial"] = (g.gcalloc, g.gcscanwork, pacer.bg_scan_credit)
            # nothing owed: returns at once
            pacer.bg_scan_credit = 7
            g.gcscanwork += 10_000
            await gc_assist_alloc(col, p, g, 8, True)
            res["nothing_owed"] = pacer.bg_scan_credit
        finally:
            sched.gc_blacken_enabled = False
            col.bg_mark1.clear()
        return res

    rt = aiogc.Runtime(gomaxprocs=1, seed=0, yield_after_assist=False)
    rt.bus.subscribe(rec)
    res = rt.run(main())
    assert res["fast"] == (1000, 0, 10_000)
    assert res["covered"] == (5096, 2548, 10_000 - 2548, 0)
    assert res["events_after_covered"] == []
    assert res["partial"] == (8096, 2548 + 100, 0)  # nothing grey: no work, the rest stays unpaid
    starts = [e.debt for e in events(rec, AssistStart)]
    ends = [(e.work, e.stolen, e.completed) for e in events(rec, AssistEnd)]
    assert starts == [1400]
    assert ends == [(0, 100, True)]  # (work, stolen, completed: nothing marking, nothing grey)
    completes = [(e.phase, e.who) for e in events(rec, GCComplete)]
    assert completes == [(1, "assist")]
    assert res["nothing_owed"] == 7


# ----------------------------------------------------------------------------- policies


def _policy_run(policy: str, seed: int) -> tuple[aiogc.Runtime, Recorder, list[tuple[Any, ...]]]:
    rt, rec = recorded_runtime(gomaxprocs=2, seed=seed, assist_policy=policy)
    probe = AssistProbe(rt)
    rt.bus.subscribe(probe)
    parked: dict[int, tuple[int, str, int, int]] = {}
    debts: dict[int, int] = {}
    log: list[tuple[Any, ...]] = []

    def watch(ev: Event) -> None:
        ts, gid = ev.ts, ev.g
        if isinstance(ev, AssistStart):
            debts[gid] = ev.debt
        elif isinstance(ev, AssistEnd):
            debts[gid] -= ev.work
        elif isinstance(ev, GoPark) and ev.reason in ("GC assist wait", "assist retry sleep"):
            parked[gid] = (ts, ev.reason, rt.sched.allgs[gid].gcscanwork, debts[gid])
        elif isinstance(ev, GoUnpark) and ev.target in parked:
            t0, why, sw0, debt = parked.pop(ev.target)
            g = rt.sched.allgs[ev.target]
            waker = rt.sched.allgs[gid].label if gid in rt.sched.allgs else ""
            log.append((why, ts - t0, rt.gc.phase, waker, g.gcscanwork - sw0, debt))

    rt.bus.subscribe(watch)
    rt.run(seed_main(SeedWorkload(), cycles=4))
    assert probe.errors == []
    return rt, rec, log


def test_retry_policy_sleeps_100us_and_retries() -> None:
    log: list[tuple[Any, ...]] = []
    for seed in (1, 4):  # seed 4: one of its retries is still in debt during the mark phase
        rt, rec, lg = _policy_run("retry", seed)
        parks = Counter(e.reason for e in events(rec, GoPark))
        assert parks["GC assist wait"] == 0
        log += lg
    assert log, "the retry policy must sleep at least once on this workload"
    for why, dt, _phase, waker, _paid, debt in log:
        assert why == "assist retry sleep"
        assert dt >= 100_000  # timeSleep(100 µs) in virtual time
        assert waker == "timerproc"  # a runtime timer: timerproc readies the assist
        assert debt > 0  # it only sleeps while in debt
    assert any(phase == "mark" for _w, _d, phase, *_ in log), "some retries happen while still marking"


def test_queue_policy_parks_until_credit_pays() -> None:
    log: list[tuple[Any, ...]] = []
    for seed in (1, 2):
        rt, rec, lg = _policy_run("queue", seed)
        parks = Counter(e.reason for e in events(rec, GoPark))
        assert parks["assist retry sleep"] == 0
        log += lg
    assert log, "the queue policy must park at least once on this workload"
    paid = [x for x in log if x[2] == "mark"]
    assert paid, "some queued assists are paid by background credit during mark"
    for why, _dt, phase, waker, delta, debt in log:
        assert why == "GC assist wait" and debt > 0
        if phase == "mark":
            # readied by a background worker flushing credit, which paid exactly the remaining debt
            assert waker.startswith("GC worker")
            assert delta == debt
        else:
            # or woken by the coordinator at the end of the cycle (gcWakeAllAssists)
            assert phase == "off" and waker == "GC coordinator"
