"""A channel pipeline: generate -> square -> (3 parallel) filter -> merge -> sum.

Each stage is a goroutine (the filter stage is fanned out to three), connected by small
buffered channels; closing a channel ends the stage after it, as in Go's pipelines pattern.

    python -m aiogc run demos/pipeline.py [--gomaxprocs N]
"""

from __future__ import annotations

import aiogc

N = 2_000


async def generate(out: aiogc.Chan) -> None:
    for i in range(1, N + 1):
        await out.send(i)
    out.close()


async def square(inp: aiogc.Chan, out: aiogc.Chan) -> None:
    async for v in inp:
        await aiogc.compute(2_000)
        await out.send(v * v)
    out.close()


async def keep_odd(inp: aiogc.Chan, out: aiogc.Chan, wg: aiogc.WaitGroup) -> None:
    async for v in inp:
        await aiogc.compute(8_000)  # the slow stage: three of them share the work
        if v % 2:
            await out.send(v)
    wg.done()


async def closer(wg: aiogc.WaitGroup, ch: aiogc.Chan) -> None:
    await wg.wait()
    ch.close()


async def main() -> None:
    rt = aiogc.current_runtime()
    t0 = rt.now_ns()
    nums, squares, odd = aiogc.Chan(8), aiogc.Chan(8), aiogc.Chan(8)
    wg = aiogc.WaitGroup()
    wg.add(3)
    aiogc.go(generate(nums), name="generate")
    aiogc.go(square(nums, squares), name="square")
    for i in range(3):
        aiogc.go(keep_odd(squares, odd, wg), name=f"filter{i}")
    aiogc.go(closer(wg, odd), name="closer")
    count = total = 0
    async for v in odd:
        count += 1
        total += v
    dt = rt.now_ns() - t0
    assert total == sum(i * i for i in range(1, N + 1, 2))
    print(f"pipeline: {N} numbers -> square -> keep odd (x3) -> {count} values, sum = {total}")
    print(f"time: {dt / 1e6:.3f} ms at GOMAXPROCS={aiogc.gomaxprocs()} "
          f"(one item alone would take 10 µs of CPU; {N} items serially {N * 10_000 / 1e6:.0f} ms)")


if __name__ == "__main__":
    aiogc.run(main())
