"""asyncio inside goroutines: the P is the running loop, a G is the current task (virtual time).

asyncio's own primitives (Event, Queue, Lock) bind to the first loop that uses them; the Ps of one
runtime count as one loop (sched/p.py), so goroutines on different Ps share them
(test_asyncio_primitives_shared_by_goroutines_on_different_ps).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import aiogc
from aiogc import Config
from aiogc.sched.g import G

SLACK_NS = 1_000_000


def run(main: Any, **kw: Any) -> Any:
    kw.setdefault("gogc", None)
    return aiogc.run(main, **kw)


def now_ns() -> int:
    return aiogc.current_p().now_ns()


@pytest.mark.parametrize("procs", [1, 2])
def test_running_loop_is_current_p_and_task_is_current_g(procs: int) -> None:
    async def check() -> tuple[bool, bool, bool, int]:
        loop = asyncio.get_running_loop()
        return (loop is aiogc.current_p(), asyncio.current_task() is aiogc.current_g(),
                asyncio.current_task(loop) is aiogc.current_g(), aiogc.current_g().id)

    async def main() -> list[Any]:
        out = [await check()]
        ch = aiogc.Chan()

        async def child() -> None:
            await ch.send(await check())

        for _ in range(3):
            aiogc.go(child())
        for _ in range(3):
            out.append(await ch.recv())
        return out

    out = run(main(), gomaxprocs=procs)
    assert all(a and b and c for a, b, c, _ in out)
    assert len({goid for *_, goid in out}) == 4  # each goroutine saw itself


def test_asyncio_sleep_advances_virtual_time_exactly() -> None:
    cfg = Config(gomaxprocs=1, gogc=None, cost_switch_ns=700, cost_ready_ns=40)

    async def main() -> tuple[int, int, float]:
        loop = asyncio.get_running_loop()
        t0 = now_ns()
        await asyncio.sleep(0.25)
        t1 = now_ns()
        return t0, t1, loop.time()

    t0, t1, lt = aiogc.run(main(), config=cfg)
    # The timer fires exactly 250 ms later; readying main and switching to it cost what Config says.
    assert t1 - t0 == 250_000_000 + cfg.cost_ready_ns + cfg.cost_switch_ns
    assert lt == t1 / 1e9


def test_sleeps_order_by_deadline_not_by_start() -> None:
    async def main() -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        wg = aiogc.WaitGroup()

        async def sleeper(ms: int) -> None:
            await asyncio.sleep(ms / 1000)
            out.append((ms, now_ns()))
            wg.done()

        for ms in (30, 10, 20, 5):
            wg.add(1)
            aiogc.go(sleeper(ms))
        await wg.wait()
        return out

    out = run(main(), gomaxprocs=2)
    assert [ms for ms, _ in out] == [5, 10, 20, 30]
    for ms, t in out:
        assert ms * 1_000_000 <= t < ms * 1_000_000 + SLACK_NS


def test_call_later_and_call_soon_run_on_the_p() -> None:
    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        log: list[Any] = []
        fut = loop.create_future()
        loop.call_soon(log.append, "soon")
        def later() -> None:
            log.append(("later", now_ns_of(loop)))
            fut.set_result("fut")

        loop.call_later(0.01, later)
        h = loop.call_later(0.005, log.append, "cancelled")
        h.cancel()
        log.append(await fut)
        return log

    def now_ns_of(loop: Any) -> int:
        return loop.now_ns()

    log = run(main(), gomaxprocs=1)
    assert log[0] == "soon"
    # Inside the timer callback the P's loop.time() is the timer's time, not the idle P's stale clock.
    assert log[1][0] == "later"
    assert 10_000_000 <= log[1][1] < 10_000_000 + SLACK_NS
    assert log[2] == "fut"
    assert "cancelled" not in log


def test_periodic_timer_rearmed_from_its_callback() -> None:
    """A callback that re-arms itself with call_later(loop.time()-relative) advances virtual time."""

    async def main() -> list[int]:
        loop = aiogc.current_p()
        fired: list[int] = []
        fut = loop.create_future()

        def tick() -> None:
            fired.append(loop.now_ns())
            if len(fired) < 5:
                loop.call_later(0.01, tick)
            else:
                fut.set_result(None)

        loop.call_later(0.01, tick)
        await fut
        return fired

    fired = run(main(), gomaxprocs=1)
    assert len(fired) == 5
    for k, t in enumerate(fired, start=1):
        assert k * 10_000_000 <= t < k * 10_000_000 + SLACK_NS


def test_futures_result_and_exception() -> None:
    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        f1 = loop.create_future()
        f2 = loop.create_future()

        async def completer() -> None:
            await asyncio.sleep(0.001)
            f1.set_result(41)
            f2.set_exception(LookupError("nope"))

        aiogc.go(completer())
        out: list[Any] = [await f1 + 1]
        try:
            await f2
        except LookupError as e:
            out.append(str(e))
        assert f1.get_loop() is loop
        return out

    assert run(main(), gomaxprocs=1) == [42, "nope"]


def test_future_shared_between_ps() -> None:
    """A future made on one P, completed by a goroutine on another P, wakes its waiter."""

    async def main() -> tuple[str, set[int]]:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        ps: set[int] = {aiogc.current_p().id}

        async def completer() -> None:
            await aiogc.compute(5_000_000)
            ps.add(aiogc.current_p().id)
            fut.set_result("done")

        aiogc.go(completer())
        # Keep P0 busy so the completer is stolen by another P.
        await aiogc.compute(1_000_000)
        return await fut, ps

    v, ps = run(main(), gomaxprocs=2)
    assert v == "done"
    assert len(ps) == 2


def test_event() -> None:
    async def main() -> list[str]:
        ev = asyncio.Event()
        log: list[str] = []
        wg = aiogc.WaitGroup()

        async def waiter(name: str) -> None:
            await ev.wait()
            log.append(name)
            wg.done()

        for name in ("w1", "w2", "w3"):
            wg.add(1)
            aiogc.go(waiter(name))
        await asyncio.sleep(0.01)
        assert log == []
        log.append("set")
        ev.set()
        await wg.wait()
        return log

    log = run(main(), gomaxprocs=1)
    assert log[0] == "set"
    assert sorted(log[1:]) == ["w1", "w2", "w3"]


def test_queue() -> None:
    async def main() -> list[int]:
        q: asyncio.Queue[int | None] = asyncio.Queue(maxsize=2)
        got: list[int] = []

        async def producer() -> None:
            for i in range(10):
                await q.put(i)  # blocks while the queue is full
            await q.put(None)

        aiogc.go(producer())
        while True:
            v = await q.get()
            if v is None:
                break
            got.append(v)
            await asyncio.sleep(0.001)
        return got

    assert run(main(), gomaxprocs=1) == list(range(10))


def test_lock_mutual_exclusion() -> None:
    async def main() -> tuple[int, int]:
        lock = asyncio.Lock()
        inside = 0
        max_inside = 0
        wg = aiogc.WaitGroup()

        async def worker() -> None:
            nonlocal inside, max_inside
            for _ in range(5):
                async with lock:
                    inside += 1
                    max_inside = max(max_inside, inside)
                    await asyncio.sleep(0.001)
                    await aiogc.gosched()
                    inside -= 1
            wg.done()

        for _ in range(4):
            wg.add(1)
            aiogc.go(worker())
        t0 = now_ns()
        await wg.wait()
        return max_inside, now_ns() - t0

    max_inside, dt = run(main(), gomaxprocs=1)
    assert max_inside == 1
    assert dt >= 20 * 1_000_000  # 20 critical sections of 1 ms, serialised


def test_wait_for_timeout_and_success() -> None:
    async def main() -> list[Any]:
        out: list[Any] = []

        async def val(x: int, delay: float) -> int:
            await asyncio.sleep(delay)
            return x

        t0 = now_ns()
        try:
            await asyncio.wait_for(asyncio.sleep(10), 0.5)
            out.append("no timeout")
        except TimeoutError:
            out.append(("timeout", now_ns() - t0))
        t0 = now_ns()
        out.append((await asyncio.wait_for(val(5, 0.1), 1), now_ns() - t0))
        return out

    (tag, dt1), (v, dt2) = run(main(), gomaxprocs=1)
    assert tag == "timeout"
    assert 500_000_000 <= dt1 < 500_000_000 + SLACK_NS
    assert v == 5
    assert 100_000_000 <= dt2 < 100_000_000 + SLACK_NS


@pytest.mark.parametrize("procs", [1, 2])
def test_gather_results_and_exceptions(procs: int) -> None:
    async def val(x: int, delay: float) -> int:
        await asyncio.sleep(delay)
        return x

    async def bad() -> None:
        await asyncio.sleep(0.1)
        raise ValueError("bad")

    async def main() -> list[Any]:
        out: list[Any] = []
        t0 = now_ns()
        out.append(await asyncio.gather(val(1, 0.3), val(2, 0.1), val(3, 0.2)))
        out.append(now_ns() - t0)  # concurrent: ~0.3 s, not 0.6 s
        try:
            await asyncio.gather(val(1, 0.3), bad())
            out.append("no exception")
        except ValueError as e:
            out.append(str(e))
        out.append(await asyncio.gather(val(1, 0.01), bad(), return_exceptions=True))
        return out

    res, dt, err, mixed = run(main(), gomaxprocs=procs)
    assert res == [1, 2, 3]
    assert 300_000_000 <= dt < 300_000_000 + SLACK_NS
    assert err == "bad"
    assert mixed[0] == 1 and isinstance(mixed[1], ValueError)


def test_timeout_cancels_sleep() -> None:
    async def main() -> tuple[str, int]:
        t0 = now_ns()
        try:
            async with asyncio.timeout(0.5):
                await asyncio.sleep(3)
            return "no timeout", 0
        except TimeoutError:
            return "timeout", now_ns() - t0

    tag, dt = run(main(), gomaxprocs=1)
    assert tag == "timeout"
    assert 500_000_000 <= dt < 500_000_000 + SLACK_NS


@pytest.mark.parametrize("procs", [1, 2])
def test_timeout_cancels_chan_recv_and_cleans_wait_queue(procs: int) -> None:
    async def main() -> tuple[str, int, int, Any, int]:
        ch = aiogc.Chan()
        t0 = now_ns()
        tag = "no timeout"
        try:
            async with asyncio.timeout(0.5):
                await ch.recv()
        except TimeoutError:
            tag = "timeout"
        dt = now_ns() - t0
        qlen = len(ch.recvq)
        # The cancelled receiver must not swallow a later value: a new sender blocks until we receive.
        sent = aiogc.Chan(1)

        async def sender() -> None:
            await ch.send("v")
            await sent.send(True)

        aiogc.go(sender())
        await asyncio.sleep(0.01)
        pending = len(ch.sendq)
        v = await ch.recv()
        await sent.recv()
        return tag, dt, qlen, v, pending

    tag, dt, qlen, v, pending = run(main(), gomaxprocs=procs)
    assert tag == "timeout"
    assert 500_000_000 <= dt < 500_000_000 + SLACK_NS
    assert qlen == 0
    assert pending == 1
    assert v == "v"


def test_timeout_cancels_select_and_cleans_all_queues() -> None:
    async def main() -> tuple[str, list[int]]:
        a, b = aiogc.Chan(), aiogc.Chan()
        try:
            async with asyncio.timeout(0.01):
                await aiogc.select(a.recv_case(), b.recv_case(), a.send_case(1))
            return "no timeout", []
        except TimeoutError:
            return "timeout", [len(a.recvq), len(b.recvq), len(a.sendq)]

    assert run(main(), gomaxprocs=1) == ("timeout", [0, 0, 0])


def test_timeout_cancels_mutex_and_waitgroup_waits() -> None:
    async def main() -> list[Any]:
        out: list[Any] = []
        mu = aiogc.Mutex()
        await mu.lock()
        try:
            async with asyncio.timeout(0.01):
                await mu.lock()
        except TimeoutError:
            out.append(("mutex", len(mu.waitq)))
        wg = aiogc.WaitGroup()
        wg.add(1)
        try:
            async with asyncio.timeout(0.01):
                await wg.wait()
        except TimeoutError:
            out.append(("wg", len(wg.waiters)))
        mu.unlock()
        wg.done()
        await mu.lock()  # the lock is free again: the cancelled waiter did not get it
        mu.unlock()
        return out

    assert run(main(), gomaxprocs=1) == [("mutex", 0), ("wg", 0)]


@pytest.mark.parametrize("procs", [1, 2])
def test_create_task_and_cancel(procs: int) -> None:
    async def main() -> list[Any]:
        out: list[Any] = []
        loop = asyncio.get_running_loop()
        ch = aiogc.Chan()
        cleanup: list[str] = []

        async def sleeper() -> None:
            try:
                await asyncio.sleep(10)
            finally:
                cleanup.append("sleeper")

        async def chan_waiter() -> None:
            try:
                await ch.recv()
            finally:
                cleanup.append("chan")

        t1 = loop.create_task(sleeper())
        t2 = asyncio.create_task(chan_waiter())
        assert isinstance(t1, G)
        await asyncio.sleep(0.01)
        out.append((t1.cancel(), t2.cancel()))
        for t in (t1, t2):
            try:
                await t
                out.append("not cancelled")
            except asyncio.CancelledError:
                out.append(t.cancelled())
        out.append(len(ch.recvq))
        out.append(sorted(cleanup))
        out.append(t1.cancel())  # already done
        return out

    assert run(main(), gomaxprocs=procs) == [(True, True), True, True, 0, ["chan", "sleeper"], False]


def test_cancel_before_first_run() -> None:
    async def main() -> tuple[bool, list[str]]:
        ran: list[str] = []

        async def never() -> None:
            ran.append("ran")

        t = asyncio.create_task(never())
        t.cancel()
        try:
            await t
        except asyncio.CancelledError:
            pass
        return t.cancelled(), ran

    assert run(main(), gomaxprocs=1) == (True, [])


@pytest.mark.parametrize("procs", [1, 2])
def test_await_goroutine(procs: int) -> None:
    async def main() -> list[Any]:
        async def val(x: int) -> int:
            await asyncio.sleep(0.001)
            await aiogc.compute(1000)
            return x * 2

        g = aiogc.go(val(21))
        quick = aiogc.go(val(1))
        await asyncio.sleep(0.1)  # quick is done before we await it
        assert quick.done()
        return [await g, await quick, g.done(), g.result()]

    assert run(main(), gomaxprocs=procs) == [42, 2, True, 42]


def test_goroutine_done_callback() -> None:
    async def main() -> list[Any]:
        seen: list[Any] = []

        async def work() -> str:
            await asyncio.sleep(0.001)
            return "r"

        g = aiogc.go(work())
        g.add_done_callback(lambda gg: seen.append(gg.result()))
        await g
        await asyncio.sleep(0)  # let the callback run
        return seen

    assert run(main(), gomaxprocs=1) == ["r"]


def test_as_completed_and_wait() -> None:
    async def main() -> tuple[list[int], int, int]:
        async def val(x: int) -> int:
            await asyncio.sleep(x / 100)
            return x

        order = [await f for f in asyncio.as_completed([val(3), val(1), val(2)])]
        tasks = [asyncio.create_task(val(x)) for x in (1, 5)]
        done, pending = await asyncio.wait(tasks, timeout=0.03)
        for t in pending:
            t.cancel()
        return order, len(done), len(pending)

    assert run(main(), gomaxprocs=1) == ([1, 2, 3], 1, 1)


def test_asyncio_lock_departure_documented() -> None:
    """asyncio's primitives work across goroutines at GOMAXPROCS=1 (the case the docs promise)."""

    async def main() -> int:
        sem = asyncio.Semaphore(2)
        inside = 0
        peak = 0
        wg = aiogc.WaitGroup()

        async def w() -> None:
            nonlocal inside, peak
            async with sem:
                inside += 1
                peak = max(peak, inside)
                await asyncio.sleep(0.001)
                inside -= 1
            wg.done()

        for _ in range(6):
            wg.add(1)
            aiogc.go(w())
        await wg.wait()
        return peak

    assert run(main(), gomaxprocs=1) == 2


# ---------------------------------------------------------------- callbacks in a P's run order


async def _callback_after_tasks() -> list[str]:
    """A callback queued after two tasks were created (loop.call_soon(wait.cancel) in wait_for's tests)."""
    loop = asyncio.get_running_loop()
    order: list[str] = []

    async def child(name: str) -> None:
        order.append(name)

    t1 = asyncio.create_task(child("a"))
    t2 = asyncio.create_task(child("b"))
    loop.call_soon(order.append, "callback")
    await asyncio.gather(t1, t2)
    await asyncio.sleep(0.001)
    return order


async def _woken_before_later_callbacks() -> list[str]:
    """A done callback that wakes a task (asyncio's Task.__wakeup steps it at once) lets the task run
    before the future's next done callback (test_cancel_gather_1's order)."""
    loop = asyncio.get_running_loop()
    order: list[str] = []
    fut = loop.create_future()

    async def waiter() -> None:
        await fut
        order.append("woken task")

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0)  # the waiter parks on fut
    fut.add_done_callback(lambda f: order.append("next done callback"))
    loop.call_soon(fut.set_result, 1)  # completed in a callback: both done callbacks are queued
    await task
    await asyncio.sleep(0.001)
    return order


@pytest.mark.parametrize("procs", [1, 2])
def test_a_callback_runs_after_the_goroutines_readied_before_it(procs: int) -> None:
    # Go's runnext between the goroutines (the newest first), the callback after both; asyncio: a, b, callback.
    assert asyncio.run(_callback_after_tasks()) == ["a", "b", "callback"]
    assert run(_callback_after_tasks(), gomaxprocs=procs) == ["b", "a", "callback"]
    assert run(_callback_after_tasks(), gomaxprocs=procs, runnext=False) == ["a", "b", "callback"]


@pytest.mark.parametrize("procs", [1, 2])
def test_a_goroutine_woken_by_a_callback_runs_before_later_callbacks(procs: int) -> None:
    assert asyncio.run(_woken_before_later_callbacks()) == ["woken task", "next done callback"]
    assert run(_woken_before_later_callbacks(), gomaxprocs=procs) == ["woken task", "next done callback"]


def test_a_future_completed_from_outside_wakes_its_goroutine_before_later_callbacks() -> None:
    """Completed outside the loop (between two run_until_complete calls), the waiter is injected into the
    global queue (a netpoll wake-up), still ahead of the callbacks queued after its wake-up."""
    loop = aiogc.new_event_loop(gomaxprocs=1, gogc=None)
    try:
        fut = loop.create_future()
        order: list[str] = []

        async def waiter() -> None:
            await fut
            order.append("woken task")

        task = loop.create_task(waiter())
        loop.run_until_complete(asyncio.sleep(0.001))
        fut.add_done_callback(lambda f: order.append("next done callback"))
        fut.set_result(1)
        loop.run_until_complete(task)
        loop.run_until_complete(asyncio.sleep(0.001))
        assert order == ["woken task", "next done callback"]
    finally:
        loop.close()


# ---------------------------------------------------------------- one runtime, one loop


@pytest.mark.parametrize("procs", [1, 4])
def test_asyncio_primitives_shared_by_goroutines_on_different_ps(procs: int) -> None:
    async def main() -> tuple[int, int, int]:
        q: asyncio.Queue[int | None] = asyncio.Queue()
        lock = asyncio.Lock()
        ev = asyncio.Event()
        cond = asyncio.Condition()
        ps: set[int] = set()
        total = 0
        finished = 0

        async def worker() -> None:
            nonlocal total, finished
            await ev.wait()
            while True:
                item = await q.get()
                ps.add(aiogc.current_p().id)
                if item is None:
                    q.task_done()
                    break
                await aiogc.compute(20_000)  # long enough for idle Ps to steal the others
                async with lock:
                    total += item
                q.task_done()
            async with cond:
                finished += 1
                cond.notify_all()

        ws = [asyncio.create_task(worker()) for _ in range(8)]
        await asyncio.sleep(0.001)
        ev.set()
        for i in range(100):
            await q.put(i)
        for _ in ws:
            await q.put(None)
        await asyncio.wait_for(q.join(), 10)
        async with cond:
            await cond.wait_for(lambda: finished == len(ws))
        await asyncio.wait_for(asyncio.gather(*ws), 10)
        return total, finished, len(ps)

    # As an existing asyncio program would run it (README: "As an asyncio event loop").
    with asyncio.Runner(loop_factory=lambda: aiogc.new_event_loop(gomaxprocs=procs, gogc=None)) as runner:
        total, finished, nps = runner.run(main())
    assert (total, finished) == (sum(range(100)), 8)
    assert nps == procs if procs == 1 else nps > 1  # the workers really ran on several Ps


def test_a_primitive_bound_to_another_loop_is_still_refused() -> None:
    ev = asyncio.Event()

    async def plain() -> None:
        waiter = asyncio.create_task(ev.wait())  # binds ev to plain asyncio's loop
        await asyncio.sleep(0)
        ev.set()
        await waiter

    asyncio.run(plain())
    ev.clear()

    async def main() -> str:
        try:
            await asyncio.wait_for(ev.wait(), 0.01)
        except RuntimeError as e:
            return str(e)
        return "accepted"

    assert "different event loop" in run(main(), gomaxprocs=2)
