"""``forEachP`` at the seed (proc1.go): each P runs the function at its own safe point.

The caller asks every other running P (``runSafePointFn``) and preempts its goroutine; it runs
the function itself for each idle P and for its own P, and then sleeps until the last P has run
it in its next ``schedule()``.  So the mark-1 flush (``forEachP(gcw.dispose)``) empties a P's
grey cache at the instant that P stops, and what the P does next (a mark worker started by the
same ``schedule()``, an assist) comes before the coordinator decides whether mark 2 is needed
(docs/realgo.md, mechanism S).  Exact virtual-time checks.
"""

from __future__ import annotations

from typing import Any

import aiogc
from aiogc.config import HOSTS
from aiogc.experiments.workloads import SeedWorkload, seed_main
from aiogc.sched.g import RUNNABLE, RUNNING
from aiogc.sched.p import P, current_p
from aiogc.trace.events import Ev, Recorder


def _for_each_p_run(gomaxprocs: int) -> tuple[aiogc.Runtime, list[tuple[int, int, Any]], list[int]]:
    """main calls forEachP on its P while a spinner computes on another (and, with 3 Ps, the
    third idles).  Returns the fn calls in the order they ran, as (P id, that P's clock, the
    spinner's status), and [the caller's P id, its clock when forEachP returned, the spinner's
    P id, the idle P ids at the call]."""
    ran: list[tuple[int, int, Any]] = []
    back: list[int] = []
    spinner: list[Any] = []

    async def spin() -> None:
        spinner.append(aiogc.current_runtime().sched.cur_g())
        for _ in range(1_000):
            await aiogc.compute(3_000)  # a safe point every 3 µs, for 3 ms

    async def main() -> None:
        rt = aiogc.current_runtime()
        aiogc.go(spin())
        await aiogc.compute(1_000_000)  # another P steals the spinner; a third finds nothing and idles
        p = current_p()
        idle = [q.id for q in rt.sched.pidle]
        sp = spinner[0].p.id if spinner[0].p is not None else -1

        def fn(q: P) -> None:
            ran.append((q.id, q.clock, spinner[0].status))

        p2 = await rt.gc._for_each_p(p, fn)
        assert p2 is p
        back.extend([p.id, p.clock, sp, *idle])
        assert rt.sched.safe_point_wait == 0

    rt = aiogc.Runtime(gomaxprocs=gomaxprocs, seed=1, clock="virtual", godebug="")
    rt.run(main())
    return rt, ran, back


def test_each_running_p_runs_fn_at_its_next_schedule_and_the_caller_waits_for_it() -> None:
    rt, ran, back = _for_each_p_run(2)
    caller, t_back, spinner_p = back[:3]
    assert spinner_p != caller
    # The caller's own P first, then the spinner's P, once each.
    assert [r[0] for r in ran] == [caller, spinner_p]
    (_, t_caller, st_caller), (_, t_other, st_other) = ran
    assert st_caller == RUNNING  # the spinner was still running when the caller's fn ran
    assert st_other == RUNNABLE  # its P ran fn after preempting it (gopreempt_m: global queue)
    # At the spinner's next safe point (a compute() every 3 µs), give or take the Ps' clock skew.
    assert abs(t_other - t_caller) <= 3_000 + rt.config.lookahead_ns
    assert t_back >= t_other  # the caller went on only after that P had answered
    assert all(q.safe_point_fn is None for q in rt.sched.allp)


def test_the_caller_runs_fn_for_an_idle_p_before_its_own() -> None:
    _, ran, back = _for_each_p_run(3)
    caller, _, spinner_p, *idle = back
    assert len(idle) == 1
    assert [r[0] for r in ran] == [idle[0], caller, spinner_p]
    assert ran[0][2] == RUNNING  # run by the caller at the call, while the spinner still ran


def test_the_mark_1_flush_runs_on_each_p_and_a_marker_can_take_it_before_the_decision() -> None:
    """Seed, GOMAXPROCS=2, the measured machine: at every mark-1 flush the coordinator's P
    disposes first and the other P when it stops; in some cycles the other P flushes grey work
    and mark 2 is still skipped, because a marker on a P took that work off the global lists
    before the coordinator looked (Go's decision reads work.full/partial after its wake-up)."""
    rt = aiogc.Runtime(gomaxprocs=2, gogc=100, seed=2, go_commit="seed", clock="virtual", godebug="",
                       **HOSTS["realgo-vm"])
    rec = Recorder()
    rt.bus.subscribe(rec)
    rt.run(seed_main(SeedWorkload(), cycles=24))
    ev = rec.events
    flushes = 0
    taken = 0
    for i, e in enumerate(ev):
        if not (isinstance(e, Ev.GCCoordWake) and e.phase == 1):
            continue
        win = []
        for x in ev[i + 1:]:
            if isinstance(x, Ev.GCPhase) and x.phase in ("mark2", "marktermination"):
                break
            win.append(x)
        mark2 = isinstance(x, Ev.GCPhase) and x.phase == "mark2"
        disp = [x for x in win if isinstance(x, Ev.SafePointFn) and x.what == "dispose"]
        assert [d.p for d in disp] == [e.p, 1 - e.p], disp  # the coordinator's P first, once each
        assert disp[0].g == e.g  # run by the coordinator itself
        other = disp[1]
        # The other P ran it when its goroutine stopped there (preempted or parked), not later.
        before = [x for x in win if x.p == other.p and x.ts <= other.ts and isinstance(x, (Ev.GoPreempt, Ev.GoPark, Ev.GoSched))]
        assert before, win
        flushes += 1
        if other.flushed and not mark2:
            # Someone drained the lists between the flush and the decision.
            drained = [x for x in win if x.ts >= other.ts and isinstance(x, (Ev.AssistStart, Ev.WorkerStart))]
            assert drained, win
            taken += 1
    assert flushes >= 20
    assert taken >= 1
