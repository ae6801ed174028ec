"""A typed aiogc program: ``mypy --strict`` must accept it (tests/test_typing.py checks)."""

from __future__ import annotations

import asyncio

import aiogc
from aiogc.timers import MILLISECOND, Ticker, Timer, after


async def worker(ch: aiogc.Chan[aiogc.Ref]) -> None:
    node: aiogc.Ref = await aiogc.alloc(64, nptrs=2)
    node[0] = await aiogc.alloc(32)
    await aiogc.compute(50_000)
    await ch.send(node)


async def main() -> int:
    ch: aiogc.Chan[aiogc.Ref] = aiogc.Chan()
    for _ in range(4):
        aiogc.go(worker(ch))
    got: list[aiogc.Ref] = [await ch.recv() for _ in range(4)]
    ch.close()
    ref, ok = await ch.recv2()  # closed and drained: (None, False), Go's zero value
    assert not ok and ref is None
    await aiogc.gc()
    ms: aiogc.MemStats = aiogc.read_mem_stats()
    n: int = aiogc.gomaxprocs()
    old: int = await aiogc.gomaxprocs(2)
    g: aiogc.G = aiogc.current_g()
    p: aiogc.P = aiogc.current_p()
    nums: aiogc.Chan[int] = aiogc.Chan(1)
    await nums.send(len(got) + n + old + g.id + p.id)
    i, v, ok = await aiogc.select(aiogc.Recv(nums), aiogc.Recv(after(5 * MILLISECOND)))
    value: int | None = v
    t = Timer(MILLISECOND)
    stopped: bool = t.stop()
    tk = Ticker(MILLISECOND)
    tick: int = await tk.c.recv()
    tk.stop()
    now: int = aiogc.now()
    return ms.num_gc + i + (value or 0) + int(stopped) + tick + now


print(aiogc.run(main(), gomaxprocs=4, seed=1))
with aiogc.Runtime(gomaxprocs=2) as rt:
    print(rt.run(main()))
print(asyncio.Runner(loop_factory=lambda: aiogc.new_event_loop(gomaxprocs=4)).run(main()))
