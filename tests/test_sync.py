"""Chan, select, WaitGroup and Mutex (aiogc.sched.sync) in virtual time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import aiogc
from aiogc import Chan, GoroutinePanic, Mutex, Recv, Send, WaitGroup, select
from aiogc.errors import ChanClosed


def run(main: Any, **kw: Any) -> Any:
    kw.setdefault("gogc", None)
    kw.setdefault("gomaxprocs", 1)
    return aiogc.run(main, **kw)


def now_ns() -> int:
    return aiogc.current_p().now_ns()


# ---------------------------------------------------------------------------- construction


@pytest.mark.parametrize("cap, exc", [(-1, ValueError), (1.5, TypeError), (True, TypeError), ("2", TypeError)])
def test_chan_bad_capacity(cap: Any, exc: type) -> None:
    with pytest.raises(exc):
        Chan(cap)


def test_case_constructors_check_types() -> None:
    with pytest.raises(TypeError):
        Recv("not a chan")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Send(42, 1)  # type: ignore[arg-type]
    ch = Chan()
    assert isinstance(ch.recv_case(), Recv) and ch.recv_case().ch is ch
    s = ch.send_case(5)
    assert isinstance(s, Send) and s.value == 5


# ---------------------------------------------------------------------------- unbuffered


@pytest.mark.parametrize("procs", [1, 4])
def test_unbuffered_send_blocks_until_received(procs: int) -> None:
    async def main() -> list[Any]:
        ch = Chan()
        log: list[Any] = []

        async def sender() -> None:
            log.append("send start")
            await ch.send("x")
            log.append("send done")

        aiogc.go(sender())
        await asyncio.sleep(0.01)  # the sender runs and parks: nobody receives yet
        log.append(("parked", len(ch.sendq), len(ch)))
        v = await ch.recv()
        log.append(("got", v))
        await asyncio.sleep(0.01)
        return log

    log = run(main(), gomaxprocs=procs)
    assert log == ["send start", ("parked", 1, 0), ("got", "x"), "send done"]


def test_unbuffered_fifo_among_senders_and_receivers() -> None:
    async def main() -> tuple[list[int], list[tuple[int, int]]]:
        ch = Chan()
        got: list[int] = []
        for i in range(5):
            aiogc.go(ch.send(i))
        await asyncio.sleep(0.001)  # all five senders park, in creation order... of running
        for _ in range(5):
            got.append(await ch.recv())
        # Now receivers first.
        out = Chan(10)

        async def receiver(k: int) -> None:
            await out.send((k, await ch.recv()))

        for k in range(3):
            aiogc.go(receiver(k))
        await asyncio.sleep(0.001)
        for v in (100, 101, 102):
            await ch.send(v)
        pairs = [await out.recv() for _ in range(3)]
        return got, pairs

    got, pairs = run(main())
    assert sorted(got) == [0, 1, 2, 3, 4]
    # Senders parked in the order they ran (runnext: the last created ran first); receive is FIFO.
    assert got == [4, 0, 1, 2, 3]
    by_receiver = dict(pairs)
    # Receivers parked in run order 2, 0, 1: the values are handed out FIFO in that order.
    assert by_receiver == {2: 100, 0: 101, 1: 102}


# ---------------------------------------------------------------------------- buffered


def test_buffered_semantics() -> None:
    async def main() -> list[Any]:
        ch = Chan(3)
        log: list[Any] = [len(ch), ch.cap]
        for i in range(3):
            await ch.send(i)  # never blocks while there is room
        log.append(len(ch))
        blocked_done: list[int] = []

        async def fourth() -> None:
            await ch.send(3)
            blocked_done.append(now_ns())

        aiogc.go(fourth())
        await asyncio.sleep(0.01)
        log.append(("4th blocked", blocked_done == [], len(ch), len(ch.sendq)))
        log.append(await ch.recv())  # takes 0 and moves the parked sender's 3 into the buffer
        log.append(len(ch))
        await asyncio.sleep(0.001)
        log.append(("4th done", len(blocked_done)))
        log.append([await ch.recv() for _ in range(3)])
        log.append(len(ch))
        return log

    assert run(main()) == [0, 3, 3, ("4th blocked", True, 3, 1), 0, 3, ("4th done", 1), [1, 2, 3], 0]


@pytest.mark.parametrize("cap", [0, 1, 7, 64])
@pytest.mark.parametrize("procs", [1, 4])
def test_producer_consumer_order_preserved(cap: int, procs: int) -> None:
    async def main() -> list[int]:
        ch = Chan(cap)

        async def producer() -> None:
            for i in range(200):
                await ch.send(i)
                if i % 17 == 0:
                    await aiogc.compute(50_000)
            ch.close()

        aiogc.go(producer())
        return [v async for v in ch]

    assert run(main(), gomaxprocs=procs) == list(range(200))


# ---------------------------------------------------------------------------- close


def test_recv_on_closed_drains_buffer_first() -> None:
    async def main() -> list[Any]:
        ch = Chan(2)
        await ch.send("a")
        await ch.send("b")
        ch.close()
        return [await ch.recv2(), await ch.recv2(), await ch.recv2(), await ch.recv(), len(ch)]

    assert run(main()) == [("a", True), ("b", True), (None, False), None, 0]


def test_send_and_close_on_closed_raise() -> None:
    async def main() -> list[str]:
        ch = Chan(1)
        ch.close()
        out = []
        try:
            await ch.send(1)
        except ChanClosed as e:
            out.append(str(e))
        try:
            ch.close()
        except ChanClosed as e:
            out.append(str(e))
        return out

    assert run(main()) == ["send on closed channel", "close of closed channel"]


def test_close_wakes_all_receivers() -> None:
    async def main() -> list[Any]:
        ch = Chan()
        out = Chan(10)

        async def receiver() -> None:
            await out.send(await ch.recv2())

        for _ in range(4):
            aiogc.go(receiver())
        await asyncio.sleep(0.001)
        assert len(ch.recvq) == 4
        ch.close()
        res = [await out.recv() for _ in range(4)]
        return [res, len(ch.recvq)]

    assert run(main(), gomaxprocs=2) == [[(None, False)] * 4, 0]


def test_parked_sender_gets_chanclosed_on_close() -> None:
    async def main() -> list[Any]:
        ch = Chan()
        out = Chan(1)

        async def sender() -> None:
            try:
                await ch.send(1)
                await out.send("sent")
            except ChanClosed as e:
                await out.send(f"panic: {e}")

        aiogc.go(sender())
        await asyncio.sleep(0.001)
        ch.close()
        return [await out.recv(), len(ch.sendq)]

    assert run(main()) == ["panic: send on closed channel", 0]


def test_parked_sender_uncaught_close_is_goroutine_panic() -> None:
    ids: list[int] = []

    async def main() -> None:
        ch = Chan()

        async def doomed_sender() -> None:
            await ch.send(1)

        ids.append(aiogc.go(doomed_sender()).id)
        await asyncio.sleep(0.001)
        ch.close()
        await asyncio.sleep(1)

    with pytest.raises(GoroutinePanic) as ei:
        run(main())
    assert ei.value.goid == ids[0]
    assert isinstance(ei.value.exc, ChanClosed)
    assert "doomed_sender" in ei.value.traceback_text


def test_async_for_stops_at_close() -> None:
    async def main() -> list[int]:
        ch = Chan(3)

        async def producer() -> None:
            for i in range(10):
                await ch.send(i)
            ch.close()

        aiogc.go(producer())
        got = []
        async for v in ch:
            got.append(v)
        # A second loop over a closed, drained channel ends at once.
        async for _v in ch:
            got.append(-1)
        return got

    assert run(main(), gomaxprocs=2) == list(range(10))


# ---------------------------------------------------------------------------- select


def test_select_default_when_nothing_ready() -> None:
    async def main() -> list[Any]:
        a, b = Chan(), Chan(1)
        t0 = now_ns()
        r1 = await select(a.recv_case(), b.recv_case(), default=True)
        await b.send(1)  # b is now full: a send case is not ready either
        r2 = await select(a.send_case(1), b.send_case(2), default=True)
        r3 = await select(default=True)
        return [r1, r2, r3, len(b), now_ns() - t0 < 1_000_000]

    assert run(main()) == [(-1, None, False), (-1, None, False), (-1, None, False), 1, True]


def test_select_ready_case_commits() -> None:
    async def main() -> list[Any]:
        a, b = Chan(1), Chan(1)
        await b.send("vb")
        r1 = await select(a.recv_case(), b.recv_case(), default=True)
        r2 = await select(a.send_case("va"), default=True)
        return [r1, r2, await a.recv(), len(b)]

    assert run(main()) == [(1, "vb", True), (0, None, True), "va", 0]


def test_select_on_closed_channel() -> None:
    async def main() -> list[Any]:
        a, b = Chan(), Chan()
        b.close()
        r1 = await select(a.recv_case(), b.recv_case())
        try:
            await select(a.recv_case(), b.send_case(1))
            r2: Any = "no error"
        except ChanClosed:
            r2 = "ChanClosed"
        return [r1, r2]

    assert run(main()) == [(1, None, False), "ChanClosed"]


def test_parked_select_woken_by_close() -> None:
    async def main() -> tuple[Any, list[int]]:
        a, b = Chan(), Chan()

        async def closer() -> None:
            await asyncio.sleep(0.01)
            b.close()

        aiogc.go(closer())
        r = await select(a.recv_case(), b.recv_case())
        return r, [len(a.recvq), len(b.recvq)]

    assert run(main(), gomaxprocs=2) == ((1, None, False), [0, 0])


def test_parked_select_send_case_committed_by_receiver() -> None:
    async def main() -> tuple[Any, Any, list[int]]:
        a, b = Chan(), Chan()

        async def receiver() -> None:
            await asyncio.sleep(0.01)
            await b.send(await a.recv())

        aiogc.go(receiver())
        r = await select(a.send_case("hello"), b.recv_case())
        got = await b.recv()
        return r, got, [len(a.sendq), len(b.recvq)]

    assert run(main(), gomaxprocs=2) == ((0, None, True), "hello", [0, 0])


def test_stale_select_sudog_does_not_steal_values() -> None:
    """After a parked select commits on one channel, its entry on the other channel is gone."""

    async def main() -> list[Any]:
        a, b = Chan(), Chan(1)
        out: list[Any] = []

        async def selector() -> None:
            out.append(await select(a.recv_case(), b.recv_case()))

        aiogc.go(selector())
        await asyncio.sleep(0.001)
        await a.send("A")
        await asyncio.sleep(0.001)
        await b.send("B")  # buffered: nobody is waiting any more, the value stays in the buffer
        out.append(len(b))
        out.append(await b.recv())
        return out

    assert run(main()) == [(0, "A", True), 1, "B"]


@pytest.mark.parametrize("procs", [1, 4])
def test_select_exactly_one_case_commits_many_trials(procs: int) -> None:
    """Both cases ready every trial: exactly one commits, the other value is still there afterwards."""
    trials = 150

    async def main() -> tuple[list[int], list[Any]]:
        chosen: list[int] = []
        leftovers: list[Any] = []
        for t in range(trials):
            a, b = Chan(), Chan()
            aiogc.go(a.send(("a", t)))
            aiogc.go(b.send(("b", t)))
            await asyncio.sleep(0.0001)  # both senders parked
            idx, v, ok = await select(a.recv_case(), b.recv_case())
            assert ok and v == (("a", "b")[idx], t)
            chosen.append(idx)
            other = b if idx == 0 else a
            assert len(other.sendq) == 1  # the other sender is still parked, value not lost
            leftovers.append(await other.recv())
            assert not a.sendq and not b.sendq
        return chosen, leftovers

    chosen, leftovers = run(main(), gomaxprocs=procs, seed=3)
    assert len(chosen) == trials
    # Go's random poll order: both cases get chosen, roughly evenly.
    assert 0.25 < sum(chosen) / trials < 0.75
    assert [t for _, t in leftovers] == list(range(trials))


@pytest.mark.parametrize("procs", [1, 4])
def test_select_no_value_lost_or_duplicated(procs: int) -> None:
    """Producers on two channels, several selecting consumers, preemption and stealing in play."""
    n_per = 300

    async def main() -> list[Any]:
        a, b, quit_ = Chan(2), Chan(), Chan()
        results = Chan(1000)
        wg = WaitGroup()

        async def producer(ch: Chan, tag: str) -> None:
            for i in range(n_per):
                await ch.send((tag, i))
                if i % 50 == 0:
                    await aiogc.compute(20_000)

        async def consumer() -> None:
            while True:
                idx, v, ok = await select(a.recv_case(), b.recv_case(), quit_.recv_case())
                if idx == 2:
                    break
                await results.send(v)
                await aiogc.compute(1_000)
            wg.done()

        for _ in range(3):
            wg.add(1)
            aiogc.go(consumer())
        pwg = WaitGroup()

        async def prod(ch: Chan, tag: str) -> None:
            await producer(ch, tag)
            pwg.done()

        pwg.add(2)
        aiogc.go(prod(a, "a"))
        aiogc.go(prod(b, "b"))
        await pwg.wait()
        quit_.close()
        await wg.wait()
        # A consumer may have taken the quit case while a's buffer still held values: drain them.
        a.close()
        async for v in a:
            await results.send(v)
        results.close()
        return [v async for v in results]

    got = run(main(), gomaxprocs=procs, seed=11)
    assert len(got) == 2 * n_per
    assert sorted(got) == sorted([("a", i) for i in range(n_per)] + [("b", i) for i in range(n_per)])


def test_select_bad_case_type() -> None:
    async def main() -> None:
        with pytest.raises(TypeError):
            await select(Chan())  # type: ignore[arg-type]

    run(main())


def test_select_send_and_recv_same_channel_pair() -> None:
    """Two goroutines select send/recv on each other: a value goes through exactly once per round."""

    async def main() -> list[int]:
        ch = Chan()
        got: list[int] = []
        done = Chan()

        async def a() -> None:
            for i in range(20):
                idx, _, _ = await select(ch.send_case(i))
                assert idx == 0
            await done.send(None)

        aiogc.go(a())
        for _ in range(20):
            idx, v, ok = await select(ch.recv_case())
            assert idx == 0 and ok
            got.append(v)
        await done.recv()
        return got

    assert run(main(), gomaxprocs=2) == list(range(20))


# ---------------------------------------------------------------------------- WaitGroup


def test_waitgroup_negative_counter() -> None:
    wg = WaitGroup()
    with pytest.raises(ValueError, match="negative WaitGroup counter"):
        wg.done()
    wg2 = WaitGroup()
    wg2.add(2)
    with pytest.raises(ValueError):
        wg2.add(-3)
    with pytest.raises(TypeError):
        wg2.add(1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("procs", [1, 4])
def test_waitgroup_wait_returns_when_counter_hits_zero(procs: int) -> None:
    async def main() -> list[Any]:
        wg = WaitGroup()
        finished: list[int] = []
        woke: list[tuple[str, int]] = []
        n = 8
        wg.add(n)

        async def worker(i: int) -> None:
            await asyncio.sleep(i / 1000)
            finished.append(i)
            wg.done()

        async def waiter(name: str) -> None:
            await wg.wait()
            woke.append((name, len(finished)))

        for name in ("w1", "w2"):
            aiogc.go(waiter(name))
        for i in range(n):
            aiogc.go(worker(i))
        t0 = now_ns()
        await wg.wait()
        dt = now_ns() - t0
        await asyncio.sleep(0.001)
        # Waiting on a zero counter returns at once.
        t1 = now_ns()
        await wg.wait()
        return [len(finished), dt, sorted(woke), now_ns() - t1]

    nfin, dt, woke, dt0 = run(main(), gomaxprocs=procs)
    assert nfin == 8
    assert 7_000_000 <= dt < 8_000_000  # the last worker sleeps 7 ms
    assert woke == [("w1", 8), ("w2", 8)]
    assert dt0 < 1_000


def test_waitgroup_reuse() -> None:
    async def main() -> int:
        wg = WaitGroup()
        total = 0
        for rnd in range(3):
            wg.add(4)

            async def w() -> None:
                nonlocal total
                total += 1
                wg.done()

            for _ in range(4):
                aiogc.go(w())
            await wg.wait()
            assert total == 4 * (rnd + 1)
        return total

    assert run(main(), gomaxprocs=2) == 12


# ---------------------------------------------------------------------------- Mutex


def test_unlock_of_unlocked_mutex() -> None:
    mu = Mutex()
    with pytest.raises(RuntimeError, match="unlock of unlocked mutex"):
        mu.unlock()


@pytest.mark.parametrize("procs", [1, 4])
def test_mutex_mutual_exclusion_under_preemption(procs: int) -> None:
    """Critical sections longer than a time slice, with gosched inside: still one holder at a time."""

    async def main() -> tuple[int, int, int]:
        mu = Mutex()
        inside = 0
        peak = 0
        counter = 0
        wg = WaitGroup()

        async def worker() -> None:
            nonlocal inside, peak, counter
            for k in range(6):
                async with mu:
                    inside += 1
                    peak = max(peak, inside)
                    c = counter
                    await aiogc.compute(4_000_000)  # 3 x 4 ms in a row: sysmon preempts holders
                    if k % 2:
                        await aiogc.gosched()
                    await aiogc.compute(4_000_000)
                    await aiogc.compute(4_000_000)
                    counter = c + 1
                    inside -= 1
            wg.done()

        for _ in range(4):
            wg.add(1)
            aiogc.go(worker())
        await wg.wait()
        return peak, counter, aiogc.current_runtime().driver.sysmon.npreempt

    peak, counter, npreempt = run(main(), gomaxprocs=procs)
    assert peak == 1
    assert counter == 24
    assert npreempt > 0  # preemption really happened inside critical sections


def test_mutex_fifo_handoff() -> None:
    async def main() -> list[str]:
        mu = Mutex()
        order: list[str] = []
        wg = WaitGroup()
        await mu.lock()

        async def w(name: str) -> None:
            await mu.lock()
            order.append(name)
            mu.unlock()
            wg.done()

        for name in ("a", "b", "c", "d"):
            wg.add(1)
            aiogc.go(w(name))
            await asyncio.sleep(0.001)  # each waiter parks before the next is created
        assert len(mu.waitq) == 4
        mu.unlock()  # hands the lock to "a", which hands it to "b"...
        await wg.wait()
        return order

    assert run(main(), gomaxprocs=2) == ["a", "b", "c", "d"]


def test_mutex_handoff_keeps_lock_held() -> None:
    """unlock with waiters hands the lock over: a third goroutine cannot barge in."""

    async def main() -> list[str]:
        mu = Mutex()
        order: list[str] = []
        await mu.lock()

        async def waiter() -> None:
            await mu.lock()
            order.append("waiter")
            mu.unlock()

        aiogc.go(waiter())
        await asyncio.sleep(0.001)
        mu.unlock()
        assert mu.locked  # handed to the waiter, not released
        # We try to take it again right away: we must queue behind the waiter.
        await mu.lock()
        order.append("main")
        mu.unlock()
        assert not mu.locked
        return order

    assert run(main()) == ["waiter", "main"]


def test_waitgroup_negative_add_leaves_the_counter_unchanged() -> None:
    async def main() -> tuple[int, str, int]:
        wg = aiogc.WaitGroup()
        wg.add(2)
        try:
            wg.add(-3)
        except ValueError as e:
            msg = str(e)
        after = wg.counter
        wg.done()
        wg.done()
        await wg.wait()  # still usable: reaches zero normally
        return after, msg, wg.counter

    assert aiogc.run(main(), gomaxprocs=1, seed=0) == (2, "sync: negative WaitGroup counter", 0)
