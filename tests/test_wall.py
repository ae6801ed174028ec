"""Wall-clock mode: the runtime on a real host loop, embedded (run_async) or standalone (run).

No test here asserts a wall-clock duration: only orders, results, and that things finish.
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

import aiogc
from aiogc import Deadlock, GoroutinePanic
from aiogc.trace.events import GoPreempt, Recorder

REPO = Path(__file__).resolve().parents[1]


def wall_rt(**kw: Any) -> aiogc.Runtime:
    kw.setdefault("gogc", None)
    kw.setdefault("gomaxprocs", 2)
    return aiogc.Runtime(clock="wall", **kw)


async def chan_program(n: int = 20) -> list[int]:
    """Goroutines, channels and gosched: a small fan-out/fan-in."""
    out = aiogc.Chan()
    wg = aiogc.WaitGroup()

    async def worker(i: int) -> None:
        await aiogc.gosched()
        await aiogc.compute(1000)
        await out.send(i * i)
        wg.done()

    for i in range(n):
        wg.add(1)
        aiogc.go(worker(i))

    async def closer() -> None:
        await wg.wait()
        out.close()

    aiogc.go(closer())
    return sorted([v async for v in out])


# ---------------------------------------------------------------------------- embedding and standalone


@pytest.mark.asyncio
async def test_run_async_inside_running_loop() -> None:
    host = asyncio.get_running_loop()
    seen: list[Any] = []

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        seen.append((loop is aiogc.current_p(), loop is not host, asyncio.current_task() is aiogc.current_g()))
        return await chan_program()

    rt = wall_rt()
    assert await rt.run_async(main()) == [i * i for i in range(20)]
    assert seen == [(True, True, True)]
    # The host loop is untouched and still ours.
    assert asyncio.get_running_loop() is host
    await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_run_async_concurrent_with_host_tasks() -> None:
    """The host program keeps running its own tasks while the runtime runs."""
    ticks: list[int] = []

    async def host_ticker() -> None:
        for i in range(5):
            ticks.append(i)
            await asyncio.sleep(0.001)

    async def main() -> str:
        await asyncio.sleep(0.05)
        return "main done"

    t = asyncio.create_task(host_ticker())
    assert await wall_rt().run_async(main()) == "main done"
    await t
    assert ticks == [0, 1, 2, 3, 4]


@pytest.mark.asyncio
async def test_run_async_in_virtual_time() -> None:
    # Virtual time runs the simulation on a worker thread (tests/test_loop.py checks the host loop
    # keeps running meanwhile).
    async def main() -> int:
        await asyncio.sleep(5)
        return 7

    assert await aiogc.Runtime(clock="virtual", gomaxprocs=1, gogc=None).run_async(main()) == 7


def test_run_from_sync_code() -> None:
    async def main() -> tuple[list[int], bool]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await asyncio.sleep(0.01)
        t1 = loop.time()
        return await chan_program(), t1 >= t0

    res, monotonic = aiogc.run(main(), clock="wall", gomaxprocs=2, gogc=None)
    assert res == [i * i for i in range(20)]
    assert monotonic


@pytest.mark.parametrize("procs", [1, 3])
def test_asyncio_sleep_and_timers_in_wall_mode(procs: int) -> None:
    async def main() -> list[str]:
        log: list[str] = []
        wg = aiogc.WaitGroup()

        async def sleeper(name: str, d: float) -> None:
            await asyncio.sleep(d)
            log.append(name)
            wg.done()

        for k in range(5):
            wg.add(1)
            aiogc.go(sleeper(f"s{k}", 0.001 * k))
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        loop.call_later(0.002, fut.set_result, "timer")
        log.append(await fut)
        await wg.wait()
        try:
            async with asyncio.timeout(0.01):
                await aiogc.Chan().recv()
        except TimeoutError:
            log.append("timeout")
        return log

    log = aiogc.run(main(), clock="wall", gomaxprocs=procs, gogc=None)
    assert sorted(log) == sorted(["timer", "timeout"] + [f"s{k}" for k in range(5)])
    assert log[-1] == "timeout"


def test_wall_preemption_of_spinner() -> None:
    """sysmon preempts a goroutine spinning on compute in wall time too (retake between batches)."""

    async def main() -> tuple[int, int]:
        stop = False
        spins = 0

        async def spinner() -> None:
            nonlocal spins
            while not stop and spins < 200_000:  # bounded: a broken sysmon fails instead of hanging
                await aiogc.compute(10_000)
                spins += 1

        aiogc.go(spinner())
        await aiogc.gosched()
        stop = True
        return spins, 200_000

    rt = wall_rt(gomaxprocs=1, preempt_ns=2_000_000)
    rec = Recorder()
    rt.bus.subscribe(rec)
    spins, bound = rt.run(main())
    assert 0 < spins < bound
    assert rec.of(GoPreempt)


# ---------------------------------------------------------------------------- TCP echo


async def echo_program(n_clients: int, n_msgs: int) -> list[tuple[int, list[bytes]]]:
    handled = aiogc.Chan(n_clients)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                writer.write(b"echo:" + line)
                await writer.drain()
        finally:
            writer.close()
            await writer.wait_closed()
            await handled.send(aiogc.current_g().id)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    results = aiogc.Chan(n_clients)

    async def client(i: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        got = []
        for k in range(n_msgs):
            writer.write(f"{i}.{k}\n".encode())
            await writer.drain()
            got.append(await reader.readline())
        writer.close()
        await writer.wait_closed()
        await results.send((i, got))

    for i in range(n_clients):
        aiogc.go(client(i))
    out = sorted([await results.recv() for _ in range(n_clients)])
    handler_ids = {await handled.recv() for _ in range(n_clients)}
    assert len(handler_ids) == n_clients  # one server goroutine per connection
    server.close()
    await server.wait_closed()
    return out


def _expected(n_clients: int, n_msgs: int) -> list[tuple[int, list[bytes]]]:
    return [(i, [f"echo:{i}.{k}\n".encode() for k in range(n_msgs)]) for i in range(n_clients)]


@pytest.mark.parametrize("procs", [1, 2])
def test_tcp_echo_run(procs: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        out = aiogc.run(echo_program(5, 4), clock="wall", gomaxprocs=procs, gogc=None)
        gc.collect()
    assert out == _expected(5, 4)


@pytest.mark.asyncio
async def test_tcp_echo_run_async() -> None:
    out = await wall_rt(gomaxprocs=2).run_async(echo_program(4, 3))
    assert out == _expected(4, 3)


# ---------------------------------------------------------------------------- deadlock and panics


def test_deadlock_in_wall_mode_run() -> None:
    async def main() -> None:
        await aiogc.Chan().recv()

    with pytest.raises(Deadlock, match="all goroutines are asleep - deadlock!"):
        aiogc.run(main(), clock="wall", gomaxprocs=2, gogc=None)


@pytest.mark.asyncio
async def test_deadlock_in_wall_mode_run_async() -> None:
    async def main() -> None:
        ch = aiogc.Chan()

        async def also_blocked() -> None:
            await ch.send(1)
            await ch.send(2)

        aiogc.go(also_blocked())
        await ch.recv()
        await aiogc.Chan().recv()  # blocked forever, and so is also_blocked

    with pytest.raises(Deadlock):
        await wall_rt().run_async(main())


def test_sleeping_goroutine_not_deadlock_in_wall_mode() -> None:
    async def main() -> str:
        ch = aiogc.Chan()

        async def later() -> None:
            await asyncio.sleep(0.02)
            await ch.send("woke")

        aiogc.go(later())
        return await ch.recv()

    assert aiogc.run(main(), clock="wall", gomaxprocs=2, gogc=None) == "woke"


@pytest.mark.asyncio
async def test_panic_in_wall_mode() -> None:
    async def failing_goroutine() -> None:
        await asyncio.sleep(0.001)
        raise ZeroDivisionError("wall boom")

    async def main() -> None:
        aiogc.go(failing_goroutine())
        await asyncio.sleep(5)

    with pytest.raises(GoroutinePanic) as ei:
        await wall_rt().run_async(main())
    assert isinstance(ei.value.exc, ZeroDivisionError)
    assert "failing_goroutine" in ei.value.traceback_text


# ---------------------------------------------------------------------------- the demo


def test_echo_demo_runs_and_exits_cleanly() -> None:
    env = dict(os.environ, PYTHONWARNINGS="error::ResourceWarning")
    for var in ("GOMAXPROCS", "GOGC", "GODEBUG"):
        env.pop(var, None)
    proc = subprocess.run(
        [sys.executable, str(REPO / "demos" / "echo.py"), "--clients", "3", "--messages", "2"],
        capture_output=True, text=True, timeout=60, env=env, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("echo server listening on 127.0.0.1:")
    sent_lines = [ln for ln in lines if ln.startswith("client ")]
    assert len(sent_lines) == 6
    for i in range(3):
        assert sum(ln.startswith(f"client {i}: sent 'client {i} message ") for ln in sent_lines) == 2
    assert lines[-1] == "3 clients x 2 messages echoed: all match"
    assert "Traceback" not in proc.stderr


def test_echo_demo_main_is_a_coroutine_function() -> None:
    import importlib.util
    import inspect

    spec = importlib.util.spec_from_file_location("_echo_demo", REPO / "demos" / "echo.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert inspect.iscoroutinefunction(mod.main)
    inspect.signature(mod.main).bind()  # callable with no arguments, as `aiogc run` does
    out = aiogc.run(mod.main(clients=2, messages=1), clock="wall", gomaxprocs=2, gogc=None)
    assert [i for i, _ in out] == [0, 1]
    assert all(sent == got for _, pairs in out for sent, got in pairs)


def test_gc_with_streams_in_wall_time_keeps_live_objects() -> None:
    """Forced cycles (with checkmark) while goroutines are inside asyncio stream I/O on the host loop."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read(100)
        keep = await aiogc.alloc(64, 1)
        await aiogc.gc()
        writer.write(data + b" " + str(keep.size).encode())
        await writer.drain()
        writer.close()

    async def main() -> tuple[bytes, int]:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"hello")
        await w.drain()
        junk = [await aiogc.alloc(128, 2) for _ in range(500)]
        await aiogc.gc()
        out = await r.read(100)
        w.close()
        server.close()
        del junk
        return out, aiogc.read_mem_stats().num_gc

    out, ngc = aiogc.run(main(), clock="wall", gomaxprocs=2, godebug="gccheckmark=1")
    assert out == b"hello 64"
    assert ngc >= 2
