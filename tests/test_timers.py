"""Go's timers (aiogc.timers): After, Timer (Stop, Reset), Ticker, AfterFunc, Now, in select."""

from __future__ import annotations

import asyncio

import pytest

import aiogc
from aiogc.errors import NotInGoroutine
from aiogc.timers import MILLISECOND, Ticker, Timer, after, after_func, now, tick


def run(coro: object, **kw: object) -> object:
    return aiogc.run(coro, gomaxprocs=1, gogc=None, **kw)  # type: ignore[arg-type]


def test_after_delivers_the_time_it_fired_at() -> None:
    async def main() -> tuple[int, int]:
        t0 = now()
        v = await after(5 * MILLISECOND).recv()
        return t0, v

    t0, v = run(main())  # type: ignore[misc]
    assert v == t0 + 5 * MILLISECOND  # virtual time: the timer fires exactly on time


def test_after_as_a_select_timeout() -> None:
    async def main() -> tuple[int, object, bool]:
        ch: aiogc.Chan[int] = aiogc.Chan()  # nobody sends
        return await aiogc.select(aiogc.Recv(ch), aiogc.Recv(after(MILLISECOND)))

    i, v, ok = run(main())  # type: ignore[misc]
    assert i == 1 and ok and isinstance(v, int)


def test_a_stopped_timer_does_not_fire() -> None:
    async def main() -> tuple[bool, bool, int, int]:
        t = Timer(MILLISECOND)
        first = t.stop()
        second = t.stop()
        i, _, _ = await aiogc.select(aiogc.Recv(t.c), aiogc.Recv(after(3 * MILLISECOND)))
        return first, second, i, len(t.c)

    assert run(main()) == (True, False, 1, 0)


def test_stop_after_expiry_returns_false_and_leaves_the_value() -> None:
    async def main() -> tuple[bool, int]:
        t = Timer(MILLISECOND)
        await aiogc.compute(2 * MILLISECOND)  # the timer fires meanwhile; nobody receives
        await aiogc.gosched()
        return t.stop(), len(t.c)

    assert run(main()) == (False, 1)  # sendTime never blocks: the value waits in the buffer


def test_reset_rearms_and_reports_whether_it_was_active() -> None:
    async def main() -> tuple[bool, int, bool]:
        t0 = now()
        t = Timer(10 * MILLISECOND)
        was_active = t.reset(MILLISECOND)
        v = await t.c.recv()
        return was_active, v - t0, t.reset(MILLISECOND)

    assert run(main()) == (True, MILLISECOND, False)


def test_ticker_drops_ticks_for_a_slow_receiver() -> None:
    async def main() -> list[int]:
        t0 = now()
        tk = Ticker(10 * MILLISECOND)
        await aiogc.compute(35 * MILLISECOND)  # ticks at 10, 20, 30 ms: only the first fits the buffer
        got = [await tk.c.recv() - t0, await tk.c.recv() - t0]
        tk.stop()
        return got

    assert run(main()) == [10 * MILLISECOND, 40 * MILLISECOND]


def test_ticker_stop_and_reset() -> None:
    async def main() -> tuple[int, int]:
        t0 = now()
        tk = Ticker(10 * MILLISECOND)
        tk.reset(3 * MILLISECOND)
        a = await tk.c.recv() - t0
        tk.stop()
        i, _, _ = await aiogc.select(aiogc.Recv(tk.c), aiogc.Recv(after(20 * MILLISECOND)))
        return a, i

    assert run(main()) == (3 * MILLISECOND, 1)


def test_tick_keeps_ticking() -> None:
    async def main() -> list[int]:
        t0 = now()
        c = tick(MILLISECOND)
        return [await c.recv() - t0 for _ in range(3)]

    assert run(main()) == [MILLISECOND, 2 * MILLISECOND, 3 * MILLISECOND]


def test_after_func_starts_a_goroutine_and_stop_cancels_it() -> None:
    async def main() -> tuple[list[int], bool]:
        t0 = now()
        fired: list[int] = []
        done: aiogc.Chan[None] = aiogc.Chan(1)

        async def f() -> None:
            fired.append(now() - t0)
            await done.send(None)

        after_func(2 * MILLISECOND, f)
        cancelled = after_func(MILLISECOND, f)
        stopped = cancelled.stop()
        await done.recv()
        await aiogc.compute(5 * MILLISECOND)
        return fired, stopped

    fired, stopped = run(main())  # type: ignore[misc]
    assert stopped and len(fired) == 1 and fired[0] >= 2 * MILLISECOND


def test_timers_work_in_wall_time() -> None:
    async def main() -> tuple[int, int]:
        t = Timer(50 * MILLISECOND)
        i, _, _ = await aiogc.select(aiogc.Recv(t.c), aiogc.Recv(after(MILLISECOND)))
        t.stop()
        v = await after(MILLISECOND).recv()
        return i, v

    i, v = aiogc.run(main(), gomaxprocs=1, gogc=None, clock="wall")
    assert i == 1 and v > 0


def test_bad_arguments() -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="non-positive"):
            Ticker(0)
        with pytest.raises(TypeError, match="nanoseconds"):
            Timer(1.5)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            after_func(1, 3)  # type: ignore[arg-type]

    run(main())
    with pytest.raises(NotInGoroutine):
        Timer(1)
    with pytest.raises(NotInGoroutine):
        now()


def test_a_goroutine_created_by_a_timer_callback_goes_to_the_global_queue() -> None:
    """newproc from a callback (a timer firing while the P runs a goroutine) is Go's netpoller or
    timer injection: the new G goes to the global queue, not the runnext of the goroutine that
    happens to be current on that P (where a runnext-hogging pair would starve it)."""
    rt = aiogc.Runtime(gomaxprocs=1, seed=1, clock="virtual", godebug="")
    seen: dict[str, object] = {}

    async def child() -> None:
        seen["child_ran"] = True

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def cb() -> None:
            aiogc.go(child(), name="child")
            sched = aiogc.current_runtime().sched
            seen["in_gq"] = [g.label for g in sched.gq]
            seen["runnext"] = [p.runnext.label if p.runnext else None for p in sched.allp]

        loop.call_later(0.0005, cb)
        await aiogc.compute(2_000_000)  # this P is busy running main when the timer fires
        await aiogc.gosched()

    rt.run(main())
    assert seen["in_gq"] == ["child"] and seen["runnext"] == [None], seen
    assert seen.get("child_ran") is True
