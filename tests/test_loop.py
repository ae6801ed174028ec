"""aiogc as an asyncio event loop: new_event_loop, EventLoopPolicy, install, Runner, IsolatedAsyncioTestCase,
the loop lifecycle (create_task before running, nested runs refused, asyncgens, executors, signals,
close), and Runtime as a context manager / run_async in virtual time."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import os
import signal
import threading
import time
import unittest
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

import aiogc
from aiogc.config import Config
from aiogc.errors import ConfigError, Deadlock, RuntimeMisuse


@pytest.fixture
def policy_reset() -> Iterator[None]:
    yield
    asyncio.set_event_loop_policy(None)


def test_runner_with_loop_factory_runs_main_as_goroutine_1_in_virtual_time() -> None:
    cfg = Config(gomaxprocs=4, gogc=None, seed=3)

    async def main() -> tuple[int, int, bool]:
        t0 = aiogc.now()
        await asyncio.sleep(100)
        g = asyncio.current_task()
        assert isinstance(g, aiogc.G)
        return g.id, aiogc.now() - t0, asyncio.get_running_loop() is aiogc.current_p()

    w0 = time.monotonic()
    with asyncio.Runner(loop_factory=lambda: aiogc.new_event_loop(cfg)) as runner:
        gid, dt, is_p = runner.run(main())
        assert isinstance(runner.get_loop(), aiogc.Loop)
    assert gid == 1 and is_p
    assert dt == 100_000_000_000 + cfg.cost_ready_ns + cfg.cost_switch_ns  # exact: timer, ready, switch
    assert time.monotonic() - w0 < 60  # 100 virtual seconds are not slept (a loose bound, never tight)


def test_asyncio_run_under_the_policy(policy_reset: None) -> None:
    aiogc.install(gomaxprocs=1, gogc=None)
    assert isinstance(asyncio.get_event_loop_policy(), aiogc.EventLoopPolicy)

    async def main() -> tuple[bool, int]:
        loop = asyncio.get_running_loop()
        # At GOMAXPROCS=1 the loop is the only P: the program's loop is its running loop.
        return isinstance(loop, aiogc.Loop), loop.runtime.sched.gomaxprocs

    assert asyncio.run(main()) == (True, 1)


def test_policy_checks_its_config_at_once() -> None:
    with pytest.raises(ConfigError, match="gomaxprocs"):
        aiogc.EventLoopPolicy(gomaxprocs=0)
    with pytest.raises(ConfigError, match="not a Config field"):
        aiogc.new_event_loop(gomaxprocz=2)


def test_isolated_asyncio_testcase_runs_on_aiogc(policy_reset: None) -> None:
    seen: dict[str, Any] = {}

    class Case(unittest.IsolatedAsyncioTestCase):
        async def asyncSetUp(self) -> None:
            self.q: asyncio.Queue[int] = asyncio.Queue()
            self.bg = asyncio.create_task(self.q.put(7))  # still pending when setUp's run ends

        async def test_queue(self) -> None:
            seen["loop"] = asyncio.get_running_loop()
            seen["value"] = await self.q.get()
            t0 = asyncio.get_running_loop().time()
            await asyncio.sleep(30)
            seen["slept"] = asyncio.get_running_loop().time() - t0

        async def test_fails(self) -> None:
            self.assertEqual(1, 2)

    aiogc.install(gomaxprocs=1, gogc=None)
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(Case).run(result)
    assert result.testsRun == 2
    assert [t.id().rsplit(".", 1)[1] for t, _ in result.failures] == ["test_fails"]
    assert not result.errors
    assert isinstance(seen["loop"], aiogc.Loop) and seen["loop"].is_closed()
    assert seen["value"] == 7 and 30 <= seen["slept"] < 30.001


def test_create_task_before_the_loop_runs_and_successive_runs_resume() -> None:
    loop = aiogc.new_event_loop(gomaxprocs=2, gogc=None)
    order: list[str] = []

    async def bg() -> None:
        order.append("bg start")
        await asyncio.sleep(1)
        order.append("bg end")

    async def first() -> int:
        order.append("first")
        return asyncio.current_task().id  # type: ignore[union-attr]

    t = loop.create_task(bg())  # before the loop runs: goroutine 1, waits in the global queue
    assert t.id == 1 and not t.done()
    assert loop.run_until_complete(first()) == 2
    assert not t.done()
    loop.run_until_complete(asyncio.sleep(5))  # a coroutine: a new task; bg finishes meanwhile
    assert t.done() and order == ["bg start", "first", "bg end"]
    loop.close()


def test_nested_run_refused_and_the_coroutine_closed_without_a_warning() -> None:
    loop = aiogc.new_event_loop(gomaxprocs=1, gogc=None)

    async def inner() -> None:
        pass

    async def main() -> str:
        with pytest.raises(RuntimeError, match="already running"):
            loop.run_until_complete(inner())
        with pytest.raises(RuntimeError, match="already running"):
            asyncio.get_running_loop().run_forever()
        return "ok"

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert loop.run_until_complete(main()) == "ok"
        loop.close()
        gc.collect()
    assert not [x for x in w if "never awaited" in str(x.message)]


def test_run_in_executor_uses_threads_and_costs_no_virtual_time() -> None:
    loop = aiogc.new_event_loop(gomaxprocs=2, gogc=None)

    async def main() -> tuple[str, int, float]:
        lp = asyncio.get_running_loop()
        t0 = lp.time()
        name = await lp.run_in_executor(None, lambda: threading.current_thread().name)
        n = await asyncio.to_thread(lambda: (time.sleep(0.01), 42)[1])
        return name, n, lp.time() - t0

    name, n, dt = loop.run_until_complete(main())
    assert name != threading.current_thread().name and n == 42
    assert dt < 1e-3  # the threads' real time is not virtual time
    loop.run_until_complete(loop.shutdown_default_executor())
    with pytest.raises(RuntimeError, match="shutdown"):
        loop.run_in_executor(None, print)
    loop.close()


def test_shutdown_asyncgens_closes_suspended_generators() -> None:
    loop = aiogc.new_event_loop(gomaxprocs=1, gogc=None)
    closed: list[bool] = []

    async def agen() -> Any:
        try:
            yield 1
            yield 2
        finally:
            closed.append(True)

    async def main() -> Any:
        g = agen()
        return g, await g.__anext__()

    g, first = loop.run_until_complete(main())
    assert first == 1 and not closed
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert closed == [True]
    loop.close()
    del g


def test_signal_handler_runs_on_the_loop_and_is_removed() -> None:
    loop = aiogc.new_event_loop(gomaxprocs=1, gogc=None)
    got: list[int] = []

    async def main() -> list[int]:
        fut = asyncio.get_running_loop().create_future()

        def on_usr1(n: int) -> None:
            got.append(n)
            fut.set_result(None)

        loop.add_signal_handler(signal.SIGUSR1, on_usr1, 5)
        threading.Timer(0.01, os.kill, (os.getpid(), signal.SIGUSR1)).start()
        await fut  # nothing else to do: the virtual run waits for the signal, not a Deadlock
        return got

    old = signal.getsignal(signal.SIGUSR1)
    assert loop.run_until_complete(main()) == [5]
    assert loop.remove_signal_handler(signal.SIGUSR1) is True
    assert loop.remove_signal_handler(signal.SIGUSR1) is False
    assert signal.getsignal(signal.SIGUSR1) == old
    with pytest.raises(TypeError, match="coroutines"):
        loop.add_signal_handler(signal.SIGUSR1, main)
    loop.close()


def test_close_and_stop_behave_as_asyncio_documents() -> None:
    loop = aiogc.new_event_loop(gomaxprocs=1, gogc=None)

    async def main() -> None:
        with pytest.raises(RuntimeError, match="running"):
            loop.close()
        asyncio.get_running_loop().call_later(3, loop.stop)

    loop.create_task(main())
    loop.call_soon(lambda: None)
    loop.run_forever()  # until the callback stops it
    assert 3 <= loop.time() < 3.001 and not loop.is_running()
    loop.close()
    loop.close()  # idempotent
    assert loop.is_closed()
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_soon(print)

    async def never() -> None:
        pass

    coro = never()
    with pytest.raises(RuntimeError, match="closed"):
        loop.run_until_complete(coro)
    assert coro.cr_frame is None  # closed, not left to warn


def test_run_until_complete_on_a_future_nobody_completes_is_a_deadlock() -> None:
    loop = aiogc.new_event_loop(gomaxprocs=2, gogc=None)
    with pytest.raises(Deadlock):
        loop.run_until_complete(loop.create_future())
    loop.close()


def test_exception_handler_gets_callback_errors() -> None:
    loop = aiogc.new_event_loop(gomaxprocs=1, gogc=None)
    seen: list[tuple[Any, str]] = []
    loop.set_exception_handler(lambda lp, ctx: seen.append((lp, type(ctx["exception"]).__name__)))

    async def main() -> None:
        asyncio.get_running_loop().call_soon(lambda: 1 / 0)
        await asyncio.sleep(0.001)

    loop.run_until_complete(main())
    assert seen == [(loop, "ZeroDivisionError")]
    assert loop.get_exception_handler() is not None
    loop.close()


def test_tasks_run_in_their_own_context() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    async def child(v: str) -> str:
        var.set(v)
        await asyncio.sleep(0)
        return var.get()

    async def main() -> tuple[list[str], str]:
        var.set("main")
        got = await asyncio.gather(*(child(f"c{i}") for i in range(3)))
        return got, var.get()

    assert asyncio.Runner(loop_factory=lambda: aiogc.new_event_loop(gomaxprocs=2, gogc=None)).run(main()) == (
        ["c0", "c1", "c2"], "main")


def test_wall_clock_loop() -> None:
    async def main() -> int:
        await asyncio.sleep(0.002)
        return await asyncio.to_thread(lambda: 6) * 7

    with asyncio.Runner(loop_factory=lambda: aiogc.new_event_loop(clock="wall", gomaxprocs=2, gogc=None)) as r:
        assert r.run(main()) == 42


def test_runtime_is_a_context_manager() -> None:
    async def main() -> int:
        aiogc.go(forever())
        return 1

    async def forever() -> None:
        while True:
            await asyncio.sleep(1)

    with aiogc.Runtime(gomaxprocs=1, gogc=None) as rt:
        assert rt.run(main()) == 1
    assert rt._closed


async def _amain() -> int:
    await asyncio.sleep(10)
    return aiogc.current_g().id


@pytest.mark.asyncio
async def test_run_async_in_virtual_time_runs_off_the_host_thread() -> None:
    ticks = 0

    async def host_ticker() -> None:
        nonlocal ticks
        for _ in range(3):
            await asyncio.sleep(0)
            ticks += 1

    t = asyncio.create_task(host_ticker())
    async with aiogc.Runtime(gomaxprocs=2, gogc=None) as rt:
        assert await rt.run_async(_amain()) == 1
        with pytest.raises(RuntimeMisuse, match="one program"):
            await rt.run_async(_amain())
    await t
    assert ticks == 3


def _run_threads() -> list[threading.Thread]:
    """run_async's simulation threads still alive (Runtime._run_on_thread names them)."""
    return [t for t in threading.enumerate() if t.name == "aiogc-virtual-run"]


@pytest.mark.asyncio
@pytest.mark.parametrize("when", ["running", "starting"])
async def test_cancelling_run_async_in_virtual_time_abandons_the_run(when: str) -> None:
    """Cancelling the awaiter stops the simulation's thread (a program that never ends), closes every
    goroutine (their finally blocks run) and leaves no warning; the CancelledError arrives after."""
    steps = 0
    closed: list[str] = []
    first_step = threading.Event()

    async def spinner(name: str) -> None:
        nonlocal steps
        try:
            while True:  # never ends: 1 s of virtual time per turn, no wall time
                await asyncio.sleep(1)
                steps += 1
                first_step.set()
        finally:
            closed.append(name)

    async def main() -> None:
        aiogc.go(spinner("child"))
        await spinner("main")

    rt = aiogc.Runtime(gomaxprocs=2, gogc=None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        task = asyncio.create_task(rt.run_async(main()))
        if when == "running":
            assert await asyncio.to_thread(first_step.wait, 30)  # the simulation is under way
        else:
            await asyncio.sleep(0)  # run_async has started its thread, which may not have begun the run
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not _run_threads()  # the run's thread has ended
        assert rt._closed
        n = steps
        time.sleep(0.05)
        assert steps == n  # nothing runs any more
        gc.collect()
    if when == "running":
        assert sorted(closed) == ["child", "main"]
    assert not [w for w in caught if "never awaited" in str(w.message)]
