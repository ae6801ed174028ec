"""Scheduler scenarios in virtual time, carrying the intent of Go's proc_test.go.

Everything here runs on the VirtualDriver, so orders and times are exact and deterministic.
Expected times are computed from the Config cost fields, never written as magic numbers.
GOGC is off in these runs so no collector goroutine can interleave with the scenarios.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from helpers import both_scheduler_paths, events, make_rt, now_ns, start_labels

import aiogc
from aiogc import Config, ConfigError, Deadlock, GoroutinePanic, NotInGoroutine
from aiogc.trace.events import Ev, Recorder

SLACK_NS = 1_000_000  # scheduling overheads (switches, steal attempts) are µs; 1 ms is generous

_INLINE_DIGESTS: dict[str, list[str]] = {}


@pytest.fixture(autouse=True, params=["inline", "slowpath"])
def sched_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every scenario runs twice: with run_slice's inlined schedule()/execute()/gosched_impl() and
    through the named functions (``Config.sched_slowpath``); the two event traces must be identical."""
    yield from both_scheduler_paths(request, monkeypatch, _INLINE_DIGESTS)


# ---------------------------------------------------------------------------- Gosched


def test_gosched_in_loop_interleaves_exactly() -> None:
    """Two goroutines calling Gosched in a loop at GOMAXPROCS=1 alternate; the end time is exact."""
    cfg = Config(gomaxprocs=1, gogc=None, cost_switch_ns=1000, cost_go_ns=70, cost_ready_ns=30)

    async def main() -> tuple[list[tuple[str, int]], int]:
        order: list[tuple[str, int]] = []
        wg = aiogc.WaitGroup()
        wg.add(2)

        async def w(name: str) -> None:
            for i in range(3):
                order.append((name, i))
                await aiogc.gosched()
            wg.done()

        aiogc.go(w("a"), name="a")
        aiogc.go(w("b"), name="b")  # takes runnext, kicking "a" to the ring
        await wg.wait()
        return order, now_ns()

    rt, rec = make_rt(config=cfg)
    order, t = rt.run(main())
    assert order == [("b", 0), ("a", 0), ("b", 1), ("a", 1), ("b", 2), ("a", 2)]
    # main's start, two `go`s, 4 starts each of a and b (3 goscheds + the final run), the ready of
    # main by the last wg.done, and main's start again.
    s, g, r = cfg.cost_switch_ns, cfg.cost_go_ns, cfg.cost_ready_ns
    assert t == s + 2 * g + 8 * s + r + s
    assert len(events(rec, Ev.GoSched)) == 6
    assert start_labels(rec) == ["main"] + ["b", "a"] * 4 + ["main"]


def test_gosched_goes_to_global_queue_tail() -> None:
    """Gosched puts the G at the global queue tail: a G already on the ring runs before it resumes."""

    async def main() -> list[str]:
        log: list[str] = []

        async def other() -> None:
            log.append("other")

        aiogc.go(other(), name="other")
        log.append("before")
        await aiogc.gosched()
        log.append("after")
        return log

    rt, rec = make_rt(gomaxprocs=1)
    assert rt.run(main()) == ["before", "other", "after"]
    assert [e.g for e in events(rec, Ev.GoSched)] == [1]


def test_bare_yield_sleep0_is_gosched() -> None:
    async def main() -> list[str]:
        log: list[str] = []

        async def other() -> None:
            log.append("other")

        aiogc.go(other())
        await asyncio.sleep(0)
        log.append("main")
        return log

    rt, rec = make_rt(gomaxprocs=1)
    assert rt.run(main()) == ["other", "main"]
    assert len(events(rec, Ev.GoSched)) == 1


# ---------------------------------------------------------------------------- preemption


def _spin_and_yield(preempt_ns: int) -> tuple[int, int, int, Recorder, aiogc.Runtime]:
    async def main() -> tuple[int, int, int]:
        stop = False
        spins = 0

        async def spinner() -> None:
            nonlocal spins
            # Bounded (100 ms of work) so that a broken sysmon fails the test instead of hanging it.
            while not stop and spins < 100_000:
                await aiogc.compute(1000)
                spins += 1

        g = aiogc.go(spinner(), name="spin")
        t0 = now_ns()
        await aiogc.gosched()  # to the global queue; the spinner (runnext) runs until preempted
        t1 = now_ns()
        stop = True
        return t0, t1, g.id

    rt, rec = make_rt(gomaxprocs=1, preempt_ns=preempt_ns)
    t0, t1, goid = rt.run(main())
    return t0, t1, goid, rec, rt


@pytest.mark.parametrize("preempt_ns", [10_000_000, 2_000_000])
def test_spinning_goroutine_is_preempted(preempt_ns: int) -> None:
    t0, t1, goid, rec, rt = _spin_and_yield(preempt_ns)
    cfg = rt.config
    waited = t1 - t0
    # sysmon preempts between preempt_ns and preempt_ns + one (backed-off) sysmon delay.
    assert preempt_ns <= waited < preempt_ns + cfg.sysmon_max_ns + SLACK_NS
    pre = events(rec, Ev.GoPreempt)
    assert [e.g for e in pre] == [goid]
    assert t0 + preempt_ns <= pre[0].ts <= t1
    assert rt.driver.sysmon.npreempt == 1


def test_shorter_preempt_ns_preempts_sooner() -> None:
    t0a, t1a, *_ = _spin_and_yield(10_000_000)
    t0b, t1b, *_ = _spin_and_yield(2_000_000)
    assert t1b - t0b < t1a - t0a
    assert t1b - t0b < 10_000_000


def test_preempted_goroutine_resumes_and_finishes() -> None:
    """Two hogs at GOMAXPROCS=1 are both preempted and both make progress; total time is their work."""
    work = 30_000_000
    chunk = 10_000

    async def main() -> tuple[int, int]:
        wg = aiogc.WaitGroup()

        async def hog() -> None:
            for _ in range(work // chunk):
                await aiogc.compute(chunk)
            wg.done()

        wg.add(2)
        aiogc.go(hog(), name="h1")
        aiogc.go(hog(), name="h2")
        await wg.wait()
        return now_ns(), 0

    rt, rec = make_rt(gomaxprocs=1)
    t, _ = rt.run(main())
    assert 2 * work <= t < 2 * work + SLACK_NS
    # 60 ms of hogging with a 10 ms slice: preemptions alternating between the two.  sysmon's
    # tick has backed off to 10 ms (as in Go, a preemption does not reset it: only a syscall
    # hand-off does), so a slice lasts 10-20 ms.
    pre = events(rec, Ev.GoPreempt)
    assert len(pre) >= 2
    assert [e.g for e in pre] == [pre[i % 2].g for i in range(len(pre))] and pre[0].g != pre[1].g
    assert 10_000_000 <= pre[0].ts <= 20_000_000 + SLACK_NS
    assert all(10_000_000 <= b.ts - a.ts <= 20_000_000 + SLACK_NS for a, b in zip(pre, pre[1:], strict=False))
    # The tick right after a preemption sees the new slice; the next is 10 ms later and the one
    # after that preempts: 20 ms (a tick reset to 20 µs by the preemption would give 10 ms).
    assert pre[1].ts - pre[0].ts > 15_000_000


# ---------------------------------------------------------------------------- parallelism and stealing


def _parallel(gomaxprocs: int, n: int = 4, work: int = 10_000_000, **kw: Any) -> tuple[int, Recorder]:
    async def main() -> int:
        wg = aiogc.WaitGroup()

        async def w() -> None:
            for _ in range(100):
                await aiogc.compute(work // 100)
            wg.done()

        for i in range(n):
            wg.add(1)
            aiogc.go(w(), name=f"w{i}")
        await wg.wait()
        return now_ns()

    rt, rec = make_rt(gomaxprocs=gomaxprocs, **kw)
    return rt.run(main()), rec


def test_parallelism_across_ps() -> None:
    work = 10_000_000
    t4, rec4 = _parallel(4, work=work)
    assert work <= t4 < work + SLACK_NS  # ~10 ms, not 40 ms
    t1, _ = _parallel(1, work=work)
    assert 4 * work <= t1 < 4 * work + SLACK_NS
    ps = {e.p for e in events(rec4, Ev.GoStart) if e.label.startswith("w")}
    assert ps == {0, 1, 2, 3}


def test_stealing_happens() -> None:
    _, rec = _parallel(4)
    steals = events(rec, Ev.Steal)
    assert steals
    for st in steals:
        assert st.p != st.victim
        assert st.n >= 1
        assert st.g > 0
    assert {e.p for e in steals} - {0}  # Ps other than P0 stole
    assert {e.p for e in events(rec, Ev.GoStart)} - {0}  # and ran goroutines


def test_steal_off_keeps_everything_on_p0() -> None:
    work = 10_000_000
    t, rec = _parallel(4, work=work, steal=False)
    assert not events(rec, Ev.Steal)
    assert {e.p for e in events(rec, Ev.GoStart)} == {0}
    assert 4 * work <= t < 4 * work + SLACK_NS


# ---------------------------------------------------------------------------- runnext ordering


def _spawn_three(**kw: Any) -> list[str]:
    async def main() -> None:
        wg = aiogc.WaitGroup()

        async def w() -> None:
            wg.done()

        wg.add(3)
        for name in ("g1", "g2", "g3"):
            aiogc.go(w(), name=name)
        await wg.wait()

    rt, rec = make_rt(gomaxprocs=1, **kw)
    rt.run(main())
    return start_labels(rec)


def test_go_puts_new_g_in_runnext_kicking_previous_to_tail() -> None:
    # g3 took runnext last; g1 and g2 were kicked to the ring in creation order.
    assert _spawn_three() == ["main", "g3", "g1", "g2", "main"]


def test_runnext_off_go_is_fifo() -> None:
    assert _spawn_three(runnext=False) == ["main", "g1", "g2", "g3", "main"]


def _ready_order(**kw: Any) -> list[str]:
    async def main() -> None:
        ch = aiogc.Chan()
        wg = aiogc.WaitGroup()

        async def receiver() -> None:
            await ch.recv()
            wg.done()

        async def w() -> None:
            wg.done()

        wg.add(3)
        aiogc.go(receiver(), name="R")
        await aiogc.gosched()  # R runs and parks on ch
        aiogc.go(w(), name="A")
        aiogc.go(w(), name="B")  # runnext=B, ring=[A]
        await ch.send(1)  # readies R into runnext: B kicked to the ring tail
        await wg.wait()

    rt, rec = make_rt(gomaxprocs=1, **kw)
    rt.run(main())
    return start_labels(rec)


def test_readied_g_runs_before_older_ring_entries() -> None:
    assert _ready_order() == ["main", "R", "main", "R", "A", "B", "main"]


def test_runnext_off_readied_g_goes_to_tail() -> None:
    assert _ready_order(runnext=False) == ["main", "R", "main", "A", "B", "R", "main"]


def test_runnext_inherits_time_slice() -> None:
    """A G run from runnext does not start a new slice: schedtick stays; a ring G increments it."""

    async def main() -> list[tuple[str, int]]:
        ticks: list[tuple[str, int]] = []
        wg = aiogc.WaitGroup()

        async def w(name: str) -> None:
            ticks.append((name, aiogc.current_p().schedtick))
            wg.done()

        wg.add(2)
        aiogc.go(w("ring"))
        aiogc.go(w("next"))
        ticks.append(("main", aiogc.current_p().schedtick))
        await wg.wait()
        return ticks

    rt, _ = make_rt(gomaxprocs=1)
    ticks = rt.run(main())
    main_tick = ticks[0][1]
    assert ticks == [("main", main_tick), ("next", main_tick), ("ring", main_tick + 1)]


# ---------------------------------------------------------------------------- fairness


LIMIT = 500_000


def _pingpong(**kw: Any) -> tuple[int, int, int, Recorder]:
    """Two goroutines ping-pong forever on unbuffered channels; main waits on the global queue."""

    async def main() -> tuple[int, int, int]:
        ab, ba = aiogc.Chan(), aiogc.Chan()
        hops = 0

        # "Forever", bounded so that a broken scheduler fails the test instead of hanging it.
        async def a() -> None:
            nonlocal hops
            while hops < LIMIT:
                await ab.send(1)
                await ba.recv()
                hops += 1

        async def b() -> None:
            nonlocal hops
            while hops < LIMIT:
                await ab.recv()
                await ba.send(1)
                hops += 1

        aiogc.go(a(), name="a")
        aiogc.go(b(), name="b")
        await aiogc.gosched()  # main to the global queue: will it ever run again?
        return hops, aiogc.current_p().schedtick, now_ns()

    rt, rec = make_rt(gomaxprocs=1, **kw)
    h, tick, t = rt.run(main())
    return h, tick, t, rec


def test_schedtick_61_fairness_global_g_runs() -> None:
    """Without runnext every hop is a new schedtick; the 1-in-61 global check lets main back in.

    Nothing else would: the ring always holds the other ping-pong G, and the slices are short so
    sysmon never preempts.  main resumes exactly when schedtick % 61 == 0 (tick 61), and its own
    execute makes it 62.
    """
    hops, tick, _, rec = _pingpong(runnext=False)
    assert tick == 62
    assert 0 < hops < LIMIT
    assert not events(rec, Ev.GoPreempt)


def test_pingpong_through_runnext_is_cut_by_sysmon() -> None:
    """Through runnext the pair inherits one time slice forever; sysmon preempts it after preempt_ns
    and main (on the global queue) runs (Go's BenchmarkPingPongHog scenario)."""
    hops, _, t, rec = _pingpong()
    cfg = Config(gomaxprocs=1, gogc=None)
    assert cfg.preempt_ns <= t < cfg.preempt_ns + cfg.sysmon_max_ns + SLACK_NS
    assert events(rec, Ev.GoPreempt)
    assert 1000 < hops < LIMIT


# ---------------------------------------------------------------------------- deadlock


def test_deadlock_message() -> None:
    async def main() -> None:
        ch = aiogc.Chan()
        await ch.recv()

    with pytest.raises(Deadlock, match=r"^all goroutines are asleep - deadlock!$"):
        aiogc.run(main(), gomaxprocs=2, gogc=None)


def test_deadlock_all_parked_in_many_goroutines() -> None:
    async def main() -> None:
        mu = aiogc.Mutex()
        await mu.lock()
        wg = aiogc.WaitGroup()
        wg.add(1)

        async def w() -> None:
            await mu.lock()  # never unlocked

        for _ in range(5):
            aiogc.go(w())
        await wg.wait()

    with pytest.raises(Deadlock):
        aiogc.run(main(), gomaxprocs=4, gogc=None)


def test_sleeping_goroutine_is_not_a_deadlock() -> None:
    async def main() -> tuple[int, int]:
        ch = aiogc.Chan()

        async def sleeper() -> None:
            await asyncio.sleep(5)
            await ch.send(42)

        aiogc.go(sleeper())
        t0 = now_ns()
        v = await ch.recv()
        return v, now_ns() - t0

    v, dt = aiogc.run(main(), gomaxprocs=2, gogc=None)
    assert v == 42
    assert 5_000_000_000 <= dt < 5_000_000_000 + SLACK_NS


def test_empty_select_blocks_forever() -> None:
    async def main() -> None:
        await aiogc.select()

    with pytest.raises(Deadlock):
        aiogc.run(main(), gomaxprocs=1, gogc=None)


# ---------------------------------------------------------------------------- panics


async def explode_in_goroutine() -> None:
    await aiogc.compute(10)
    raise ValueError("boom")


def test_goroutine_panic_stops_the_run() -> None:
    ids: list[int] = []
    after: list[str] = []

    async def main() -> None:
        g = aiogc.go(explode_in_goroutine())
        ids.append(g.id)
        await asyncio.sleep(1)
        after.append("main resumed")

    with pytest.raises(GoroutinePanic) as ei:
        aiogc.run(main(), gomaxprocs=1, gogc=None)
    e = ei.value
    assert e.goid == ids[0]
    assert isinstance(e.exc, ValueError)
    assert isinstance(e.__cause__, ValueError)
    assert "explode_in_goroutine" in e.traceback_text
    assert "ValueError: boom" in e.traceback_text
    assert f"goroutine {ids[0]}" in str(e)
    assert after == []  # the run stopped at the panic


def test_panic_in_main() -> None:
    async def main_that_raises() -> None:
        await aiogc.compute(1)
        raise KeyError("missing")

    rt = aiogc.Runtime(gomaxprocs=1, gogc=None)
    with pytest.raises(GoroutinePanic) as ei:
        rt.run(main_that_raises())
    assert rt.sched.main_g is not None
    assert ei.value.goid == rt.sched.main_g.id
    assert isinstance(ei.value.exc, KeyError)
    assert "main_that_raises" in ei.value.traceback_text


def test_panic_on_other_p() -> None:
    async def main() -> None:
        wg = aiogc.WaitGroup()
        wg.add(1)
        for _ in range(3):
            aiogc.go(aiogc.compute(5_000_000))
        aiogc.go(explode_in_goroutine())
        await wg.wait()

    with pytest.raises(GoroutinePanic, match="boom"):
        aiogc.run(main(), gomaxprocs=4, gogc=None)


def test_create_task_keeps_exception_for_awaiter() -> None:
    async def main() -> tuple[str, bool, type]:
        t = asyncio.get_running_loop().create_task(explode_in_goroutine())
        try:
            await t
        except ValueError as e:
            return str(e), t.done(), type(t.exception())
        return "no exception", False, type(None)

    assert aiogc.run(main(), gomaxprocs=1, gogc=None) == ("boom", True, ValueError)


def test_create_task_exception_not_awaited_is_not_a_panic() -> None:
    async def main() -> str:
        asyncio.create_task(explode_in_goroutine())
        await asyncio.sleep(0.01)
        return "ok"

    assert aiogc.run(main(), gomaxprocs=2, gogc=None) == "ok"


# ---------------------------------------------------------------------------- determinism


async def busy_program(n: int = 24) -> list[Any]:
    """Many goroutines, channels, select, sleeps and compute: exercises stealing and the RNG."""
    jobs = aiogc.Chan(8)
    results = aiogc.Chan()
    ticks = aiogc.Chan(1)
    wg = aiogc.WaitGroup()
    rng_out: list[Any] = []

    async def worker(i: int) -> None:
        async for j in jobs:
            await aiogc.compute(10_000 * (1 + (i * j) % 7))
            if j % 5 == 0:
                await asyncio.sleep(0.0001 * (1 + i % 3))
            await results.send((i, j))
        wg.done()

    async def ticker() -> None:
        for k in range(10):
            await asyncio.sleep(0.0002)
            await ticks.send(k)

    for i in range(n // 3):
        wg.add(1)
        aiogc.go(worker(i), name=f"w{i}")
    aiogc.go(ticker(), name="ticker")

    async def feeder() -> None:
        for j in range(n * 4):
            await jobs.send(j)
        jobs.close()

    aiogc.go(feeder(), name="feeder")
    got = 0
    nticks = 0
    while got < n * 4 or nticks < 10:
        idx, v, ok = await aiogc.select(results.recv_case(), ticks.recv_case())
        rng_out.append((idx, v))
        if idx == 0:
            got += 1
        else:
            nticks += 1
    await wg.wait()
    return rng_out


def _digest(seed: int) -> tuple[str, Any, int]:
    rt, rec = make_rt(gomaxprocs=4, seed=seed)
    out = rt.run(busy_program())
    return rec.digest(), out, len(events(rec, Ev.Steal))


def test_same_seed_same_trace() -> None:
    d1, out1, steals = _digest(7)
    d2, out2, _ = _digest(7)
    assert steals > 0  # the program really exercises stealing
    assert d1 == d2
    assert out1 == out2


def test_different_seed_different_trace() -> None:
    d1, out1, _ = _digest(7)
    d2, out2, _ = _digest(8)
    assert d1 != d2
    # Whatever the interleaving, every job result arrived exactly once.
    for out in (out1, out2):
        results = sorted(v for idx, v in out if idx == 0)
        assert sorted(j for _, j in results) == list(range(96))


# ---------------------------------------------------------------------------- API misuse


def test_not_in_goroutine() -> None:
    with pytest.raises(NotInGoroutine):
        aiogc.gosched()

    async def f() -> None:
        pass

    coro = f()
    try:
        with pytest.raises(NotInGoroutine):
            aiogc.go(coro)
    finally:
        coro.close()
    with pytest.raises(NotInGoroutine):
        aiogc.current_g()
    with pytest.raises(NotInGoroutine):
        aiogc.current_p()
    with pytest.raises(NotInGoroutine):
        aiogc.compute(10)
    assert issubclass(NotInGoroutine, RuntimeError)


def test_not_in_goroutine_inside_plain_asyncio() -> None:
    async def plain() -> None:
        with pytest.raises(NotInGoroutine):
            aiogc.gosched()
        with pytest.raises(NotInGoroutine):
            aiogc.current_g()

    asyncio.run(plain())


@pytest.mark.parametrize("bad, exc", [(1.5, TypeError), ("10", TypeError), (True, TypeError),
                                      (None, TypeError), (-1, ValueError)])
def test_compute_bad_args(bad: Any, exc: type) -> None:
    async def main() -> None:
        with pytest.raises(exc):
            await aiogc.compute(bad)
        await aiogc.compute(0)  # zero is fine

    aiogc.run(main(), gomaxprocs=1, gogc=None)


def test_compute_advances_virtual_time_exactly() -> None:
    async def main() -> int:
        t0 = now_ns()
        await aiogc.compute(123_456)
        return now_ns() - t0

    assert aiogc.run(main(), gomaxprocs=1, gogc=None) == 123_456


def test_go_needs_a_coroutine() -> None:
    async def main() -> None:
        with pytest.raises(TypeError):
            aiogc.go(lambda: None)  # type: ignore[arg-type]

    aiogc.run(main(), gomaxprocs=1, gogc=None)


def test_runtime_runs_once_and_needs_coroutine() -> None:
    async def main() -> int:
        return 1

    rt = aiogc.Runtime(gomaxprocs=1, gogc=None)
    assert rt.run(main()) == 1
    coro = main()
    with pytest.raises(RuntimeError):
        rt.run(coro)
    coro.close()
    with pytest.raises(TypeError):
        aiogc.Runtime(gomaxprocs=1).run(main)  # type: ignore[arg-type]


def test_goroutine_ids_and_current() -> None:
    async def main() -> tuple[int, int, int, int]:
        me = aiogc.current_g()
        child_ids: list[int] = []
        ch = aiogc.Chan()

        async def child() -> None:
            child_ids.append(aiogc.current_g().id)
            await ch.send(None)

        g = aiogc.go(child())
        await ch.recv()
        return me.id, g.id, child_ids[0], aiogc.gomaxprocs()

    main_id, gid, seen, n = aiogc.run(main(), gomaxprocs=3, gogc=None)
    assert gid == seen
    assert gid > main_id
    assert n == 3


def test_gomaxprocs_resize_grows_and_shrinks_keeping_every_goroutine() -> None:
    """runtime.GOMAXPROCS(n): stop the world, procresize, start it; nothing is lost."""

    async def main() -> tuple[list[int], set[int], int, int]:
        sizes = [aiogc.gomaxprocs()]
        assert await aiogc.gomaxprocs(2) == 2 and aiogc.gomaxprocs() == 2  # same value: a no-op
        done = aiogc.Chan(64)
        ran_on: set[int] = set()

        async def worker(i: int) -> None:
            for _ in range(20):
                await aiogc.compute(50_000)
                ran_on.add(aiogc.current_p().id)
            await done.send(i)

        for i in range(16):
            aiogc.go(worker(i))
        await aiogc.compute(100_000)
        assert await aiogc.gomaxprocs(6) == 2
        sizes.append(aiogc.gomaxprocs())
        await aiogc.compute(300_000)
        assert await aiogc.gomaxprocs(1) == 6  # the queued work of P1..P5 moves to the global queue
        sizes.append(aiogc.gomaxprocs())
        finished = {await done.recv() for _ in range(16)}
        rt = aiogc.current_runtime()
        return sizes, ran_on, len(finished), len(rt.sched.allp)

    sizes, ran_on, nfinished, nallp = aiogc.run(main(), gomaxprocs=2, gogc=None, seed=3)
    assert sizes == [2, 6, 1]
    assert nfinished == 16  # every goroutine survived both resizes
    assert max(ran_on) >= 2  # the new Ps ran goroutines
    assert nallp == 1


def test_gomaxprocs_shrink_moves_the_caller_off_its_dead_p() -> None:
    async def main() -> tuple[int, int]:
        stop = [False]
        out: list[tuple[int, int]] = []
        wg = aiogc.WaitGroup()

        async def busy() -> None:
            while not stop[0]:
                await aiogc.compute(20_000)

        async def resizer() -> None:
            for _ in range(10_000):  # bounded: get onto a P other than P0 (stealing moves us)
                if aiogc.current_p().id != 0:
                    break
                await aiogc.compute(20_000)
                await aiogc.gosched()
            before = aiogc.current_p().id
            await aiogc.gomaxprocs(1)
            out.append((before, aiogc.current_p().id))
            stop[0] = True
            wg.done()

        for _ in range(6):
            aiogc.go(busy())
        wg.add(1)
        aiogc.go(resizer())
        await wg.wait()
        return out[0]

    before, after = aiogc.run(main(), gomaxprocs=4, gogc=None, seed=1)
    assert before != 0 and after == 0


def test_gomaxprocs_bad_values() -> None:
    async def main() -> int:
        with pytest.raises(TypeError):
            aiogc.gomaxprocs("2")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            aiogc.gomaxprocs(257)
        return await aiogc.gomaxprocs(0)  # n < 1 only reads, as in Go

    assert aiogc.run(main(), gomaxprocs=3, gogc=None) == 3


def test_gomaxprocs_resize_waits_for_a_running_gc_cycle() -> None:
    """Resizing under the collector: the resize waits for worldsema; marks stay sound."""

    async def main() -> int:
        keep = []
        for i in range(2000):
            keep.append(await aiogc.alloc(256, 4))
            if i % 3:
                keep[-1][0] = keep[len(keep) // 2]
            if i % 400 == 0:
                await aiogc.gomaxprocs(1 + (i // 400) % 4)
            if len(keep) > 300:
                keep.pop(0)
        return aiogc.read_mem_stats().num_gc

    # 64a32ffe: at the seed, when main parks on worldsema during a mark phase, every P can idle with
    # no marker left to notice that the phase is done (docs/realgo.md, mechanism D).
    ngc = aiogc.run(main(), gomaxprocs=2, gogc=10, heap_minimum=64 << 10, godebug="gccheckmark=1",
                    go_commit="64a32ffe")
    assert ngc > 0


def test_main_return_abandons_goroutines() -> None:
    """Like Go: when main returns, the run ends even if other goroutines are blocked or runnable."""
    closed: list[str] = []

    async def main() -> str:
        async def blocked() -> None:
            closed.append("started")
            try:
                await aiogc.Chan().recv()
            finally:
                closed.append("closed")

        aiogc.go(blocked())
        await aiogc.gosched()  # blocked (runnext) runs and parks
        return "done"

    assert aiogc.run(main(), gomaxprocs=1, gogc=None) == "done"
    assert closed == ["started", "closed"]


# ---------------------------------------------------------------------------- Config and environment


@pytest.mark.parametrize("field, value", [
    ("gomaxprocs", 0), ("gomaxprocs", 257), ("gomaxprocs", "4"), ("gomaxprocs", True), ("gomaxprocs", 2.0),
    ("clock", "real"), ("seed", "x"), ("seed", 1.0), ("preempt_ns", 0), ("runnext", 1), ("steal", "yes"),
    ("yield_after_assist", None), ("assist_policy", "bogus"), ("workbuf_size", 1), ("heap_minimum", 0),
    ("cost_switch_ns", -1), ("cost_go_ns", 1.5), ("sysmon_min_ns", 0), ("gogc", -5), ("gogc", "xyz"),
    ("gogc", True), ("godebug", "gctrace=x"), ("godebug", "gctrace"), ("godebug", 1),
])
def test_config_rejects_bad_values(clean_go_env: Any, field: str, value: Any) -> None:
    with pytest.raises(ConfigError) as ei:
        Config(**{field: value})
    assert isinstance(ei.value, ValueError)
    assert ei.value.field in (field, "GODEBUG")
    assert field in str(ei.value)


def test_unknown_godebug_keys_are_ignored_with_one_warning(clean_go_env: Any, capsys: Any) -> None:
    """Go ignores GODEBUG keys it does not know (madvdontneed=1, gctrace's neighbours...)."""
    from aiogc import config as config_mod

    config_mod._warned_godebug.discard("nosuchkey")
    clean_go_env.setenv("GODEBUG", "nosuchkey=1,gctrace=1")
    assert Config().debug == {"gctrace": 1}
    assert Config(godebug="nosuchkey=2").debug == {}
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nosuchkey" in err and "ignored" in err


def test_config_sysmon_max_below_min(clean_go_env: Any) -> None:
    with pytest.raises(ConfigError, match="sysmon_max_ns"):
        Config(sysmon_min_ns=1000, sysmon_max_ns=999)


def test_config_accepts_good_values(clean_go_env: Any) -> None:
    off: Any = "off"
    c = Config(gomaxprocs=256, gogc=off, godebug="gctrace=1,schedtrace=100", seed=-3)
    assert c.gomaxprocs == 256 and c.gogc is None
    assert c.debug == {"gctrace": 1, "schedtrace": 100}
    assert Config(gogc=-1).gogc is None
    assert Config(gogc=0).gogc == 0
    assert Config(gomaxprocs=1).replace(seed=5).seed == 5
    with pytest.raises(ConfigError):
        Config(gomaxprocs=1).replace(nonsense=1)


@pytest.mark.parametrize("var, value", [
    ("GOMAXPROCS", "0"), ("GOMAXPROCS", "abc"), ("GOMAXPROCS", "-2"),
    ("GOGC", "-5"), ("GOGC", "xyz"),
    ("GODEBUG", "gctrace=x"), ("GODEBUG", "gctrace=-1"),
])
def test_bad_env_vars(clean_go_env: pytest.MonkeyPatch, var: str, value: str) -> None:
    clean_go_env.setenv(var, value)
    with pytest.raises(ConfigError) as ei:
        Config()
    assert ei.value.field == var
    assert var in str(ei.value)

    async def main() -> None:
        pass

    with pytest.raises(ConfigError):
        aiogc.run(main())


def test_env_vars_honoured_and_overridden(clean_go_env: pytest.MonkeyPatch) -> None:
    clean_go_env.setenv("GOMAXPROCS", "3")
    clean_go_env.setenv("GOGC", "off")
    clean_go_env.setenv("GODEBUG", "gctrace=1")
    c = Config()
    assert c.gomaxprocs == 3 and c.gogc is None and c.debug == {"gctrace": 1}
    c2 = Config(gomaxprocs=2, gogc=50, godebug="")
    assert c2.gomaxprocs == 2 and c2.gogc == 50 and c2.debug == {}
    clean_go_env.setenv("GOMAXPROCS", "1000")
    assert Config().gomaxprocs == 256  # capped like Go's _MaxGomaxprocs
    clean_go_env.setenv("GOGC", "200")
    assert Config().gogc == 200


def test_env_gomaxprocs_used_by_runtime(clean_go_env: pytest.MonkeyPatch) -> None:
    clean_go_env.setenv("GOMAXPROCS", "3")

    async def main() -> int:
        return aiogc.gomaxprocs()

    assert aiogc.run(main(), gogc=None) == 3


def test_run_unknown_field_is_config_error() -> None:
    async def main() -> None:
        pass

    coro = main()
    with pytest.raises(ConfigError) as ei:
        aiogc.run(coro, bogus_field=1)
    assert ei.value.field == "bogus_field"
    # aiogc.run closed the coroutine it could not run (no "never awaited" warning).
    assert coro.cr_frame is None  # type: ignore[attr-defined]
    with pytest.raises(ConfigError):
        aiogc.Runtime(bogus_field=1)
    with pytest.raises(ConfigError):
        aiogc.run(main(), config=Config(gomaxprocs=1), bogus_field=1)


def test_nested_run_is_a_typed_error() -> None:
    from aiogc.errors import RuntimeMisuse

    async def inner() -> int:
        return 1

    async def main() -> str:
        with pytest.raises(RuntimeMisuse) as e:
            aiogc.run(inner())
        return str(e.value)

    assert "inside a goroutine" in aiogc.run(main(), gogc=None)


# ----------------------------------------------------------------------------- issue 9: hogs of the world


@pytest.mark.parametrize("gomaxprocs", [1, 2, 4])
def test_a_goroutine_looping_on_gc_does_not_starve_the_others(gomaxprocs: int) -> None:
    """sysmon preempts a goroutine that loops on runtime.GC(), as in Go (releasem re-arms the
    request when the cycle drops its lock), and an idle P woken after each cycle gets to the
    global queue before the next stop: main's gosched() returns long before the loop ends."""

    async def looper(n: int) -> None:
        for _ in range(n):
            await aiogc.gc()

    async def main() -> tuple[int, int]:
        aiogc.go(looper(3000))
        t0 = aiogc.current_runtime().now_ns()
        await aiogc.gosched()
        return aiogc.read_mem_stats().num_gc, aiogc.current_runtime().now_ns() - t0

    cfg = aiogc.Config(gomaxprocs=gomaxprocs, seed=1)
    cycles, waited = aiogc.run(main(), config=cfg)
    assert cycles < 3000
    # at worst one preemption quantum plus a backed-off sysmon tick (and the cycle in progress)
    assert waited <= cfg.preempt_ns + cfg.sysmon_max_ns + 1_000_000


@pytest.mark.parametrize("start", [1, 2, 4])
def test_gomaxprocs_then_allocation_completes(start: int) -> None:
    """Shrinking away the resizer's own P: its goroutine moves on and a P runs it."""

    async def main() -> list[int]:
        seen = []
        for n in (2, 4, 1, 3):
            await aiogc.gomaxprocs(n)
            for _ in range(200):
                await aiogc.alloc(4096)
            seen.append(aiogc.gomaxprocs())
        return seen

    # 64a32ffe: at the seed, 4 Ps with a dedicated worker can livelock mark 1 (docs/realgo.md, mechanism C)
    assert aiogc.run(main(), gomaxprocs=start, seed=1, gogc=10, heap_minimum=64 << 10,
                     go_commit="64a32ffe") == [2, 4, 1, 3]


def test_seed_workload_with_the_collector_on_both_scheduler_paths() -> None:
    """With GC on, schedule() also runs its GC-worker and 61st-tick steps and findrunnable its idle
    worker step: the autouse ``sched_path`` fixture compares this run's trace on both paths."""
    from aiogc.experiments.workloads import SeedWorkload, seed_main

    for gmp in (2, 4):
        # At GOMAXPROCS=4 the seed's dedicated worker can hold its P ahead of the coordinator
        # (docs/realgo.md, mechanism C) and this seed's first cycle then lasts until the heap bound:
        # 64a32ffe, which starts no worker between the phases, keeps the run about the scheduler.
        rt = aiogc.Runtime(gomaxprocs=gmp, seed=5, go_commit="64a32ffe" if gmp >= 4 else "500c88d4")
        rt.run(seed_main(SeedWorkload(), cycles=3))
        assert len(rt.stats.cycles) >= 3
        assert rt.sched.nsched > 100


def test_sched_slowpath_really_takes_the_named_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above is not vacuous: with sched_slowpath every switch calls Sched.execute and every
    gosched Sched.gosched_impl; without it the trampoline's inlined copies run instead."""
    from aiogc.sched.sched import Sched

    calls = {"execute": 0, "gosched_impl": 0}
    for name in calls:
        orig = getattr(Sched, name)

        def counted(self: Sched, *a: Any, _orig: Any = orig, _name: str = name) -> Any:
            calls[_name] += 1
            return _orig(self, *a)

        monkeypatch.setattr(Sched, name, counted)

    async def main() -> None:
        for _ in range(10):
            await aiogc.gosched()

    for slow in (False, True):
        for k in calls:
            calls[k] = 0
        rt = aiogc.Runtime(gomaxprocs=2, gogc=None, sched_slowpath=slow)
        rt.run(main())
        if slow:
            assert calls == {"execute": rt.sched.nsched, "gosched_impl": 10}
        else:
            assert calls == {"execute": 0, "gosched_impl": 0}


# ---------------------------------------------------------------------------- sysmon's sleep


def _sysmon_ticks(monkeypatch: Any, main: Any, gomaxprocs: int) -> list[tuple[int, int]]:
    """Run ``main``; return every sysmon tick as (time, delay before the next)."""
    from aiogc.sched.sysmon import Sysmon

    ticks: list[tuple[int, int]] = []
    orig = Sysmon.tick

    def tick(self: Sysmon, now: int, woken: bool = False) -> None:
        orig(self, now, woken)
        ticks.append((now, self.delay))

    monkeypatch.setattr(Sysmon, "tick", tick)
    aiogc.run(main(), gomaxprocs=gomaxprocs, gogc=None)
    return ticks


def test_sysmon_ticks_through_a_stall_of_every_p(monkeypatch: Any) -> None:
    """Two goroutines each compute 30 ms in one step, so every P's clock jumps together: the Ps
    still run, so sysmon keeps its 10 ms tick through them (the driver once took such a jump for
    an all-idle spell and skipped the ticks)."""

    async def hog() -> None:
        await aiogc.compute(30_000_000)

    async def main() -> None:
        await aiogc.sleep(0.02)  # sysmon backs off to its 10 ms tick
        wg = aiogc.WaitGroup()
        wg.add(2)

        async def one() -> None:
            await hog()
            wg.done()

        aiogc.go(one())
        aiogc.go(one())
        await wg.wait()

    ticks = _sysmon_ticks(monkeypatch, main, 2)
    inside = [t for t, _ in ticks if 21_000_000 < t < 49_000_000]
    assert len(inside) >= 2, ticks[-8:]


def test_sysmon_sleeps_while_every_p_is_idle_and_starts_over_at_20us(monkeypatch: Any) -> None:
    """Go's sysmon sleeps on sysmonnote when a tick finds every P idle; the first P to run again
    wakes it with idle = 0, so it polls at 20 µs again before backing off."""

    async def main() -> None:
        await aiogc.compute(30_000_000)  # sysmon backs off to 10 ms ticks
        await aiogc.sleep(0.05)  # every P idle for 50 ms
        await aiogc.compute(2_000_000)

    ticks = _sysmon_ticks(monkeypatch, main, 1)
    assert not [t for t, _ in ticks if 31_000_000 < t < 80_000_000]  # asleep through the sleep
    after = [(t, d) for t, d in ticks if t >= 80_000_000]
    assert after and after[0][1] == aiogc.Config().sysmon_min_ns  # woken: 20 µs ticks again
    assert after[1][0] - after[0][0] == aiogc.Config().sysmon_min_ns
