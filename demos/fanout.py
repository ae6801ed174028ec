"""Fan-out/fan-in: N workers share one job channel and send results to one result channel.

The jobs are modelled CPU work (``aiogc.compute``) of varied length; idle Ps steal runnable
workers from busy ones, so in virtual time the elapsed time shrinks as GOMAXPROCS grows.

    python -m aiogc run demos/fanout.py --gomaxprocs 4
"""

from __future__ import annotations

import aiogc

WORKERS = 16
JOBS = 400


async def worker(wid: int, jobs: aiogc.Chan, results: aiogc.Chan) -> None:
    async for job, cost in jobs:
        await aiogc.compute(cost)  # modelled CPU work: job * job, taking `cost` ns
        await results.send((wid, aiogc.current_p().id, job * job, cost))
    await results.send(None)  # this worker is done


async def producer(jobs: aiogc.Chan) -> None:
    rng = aiogc.current_runtime().rng
    for job in range(JOBS):
        await jobs.send((job, rng.randrange(10_000, 100_000)))
    jobs.close()


async def main() -> None:
    rt = aiogc.current_runtime()
    jobs, results = aiogc.Chan(32), aiogc.Chan(32)
    t0 = rt.now_ns()
    aiogc.go(producer(jobs))
    for w in range(WORKERS):
        aiogc.go(worker(w, jobs, results))
    total, work, running = 0, 0, WORKERS
    per_p: dict[int, int] = {}
    while running:
        r = await results.recv()
        if r is None:
            running -= 1
            continue
        _, p, square, cost = r
        total += square
        work += cost
        per_p[p] = per_p.get(p, 0) + 1
    dt = rt.now_ns() - t0
    assert total == sum(j * j for j in range(JOBS))
    print(f"fan-out/fan-in: {JOBS} jobs over {WORKERS} workers at GOMAXPROCS={aiogc.gomaxprocs()}: "
          f"sum of squares = {total}")
    print("jobs per P: " + ", ".join(f"P{p}={n}" for p, n in sorted(per_p.items())))
    print(f"time: {dt / 1e6:.3f} ms for {work / 1e6:.3f} ms of CPU work (speed-up {work / dt:.2f}x)")


if __name__ == "__main__":
    aiogc.run(main())
