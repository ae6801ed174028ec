"""``aiogc demo --scheduler``: the scheduler alone, in plain text.

Rounds of fan-out/fan-in over channels plus one CPU hog per round, with per-P statistics (switches,
steals, preemptions) counted from the event bus, read-only like every observer.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from aiogc.io import attach_live, attach_trace, check_writable, config_from_args, write_json


def cmd_demo_scheduler(args: argparse.Namespace) -> int:
    """The scheduler at work: rounds of fan-out/fan-in over channels, plus one CPU hog per round.

    Each round, main starts 4 x GOMAXPROCS workers that read jobs (modelled CPU work of varied
    length) from one channel and send results to another; main feeds the jobs, sums the results and
    waits on a WaitGroup.  A hog goroutine computes for 25 ms in 1 ms steps, so sysmon preempts it.
    Prints, per P, how many goroutines it ran (switches), steals and preemptions, then the virtual
    time taken.  On a terminal (unless ``--no-live``) the live view runs meanwhile, at ``--speed``.  Counts come from the event bus (read-only, as every observer).
    """
    import aiogc
    from aiogc.trace.events import Event, GoPreempt, GoStart, Steal

    cfg = config_from_args(args, yield_after_assist=not args.no_yield, clock="virtual")
    rt = aiogc.Runtime(cfg)
    n = cfg.gomaxprocs
    runs = [0] * n
    steals = [0] * n
    stolen = [0] * n
    preempts = [0] * n

    def count(ev: Event) -> None:
        p = ev.p
        if p < 0:
            return
        if isinstance(ev, GoStart):
            runs[p] += 1
        elif isinstance(ev, Steal):
            steals[p] += 1
            stolen[p] += ev.n
        elif isinstance(ev, GoPreempt):
            preempts[p] += 1

    rt.bus.subscribe(count)
    if args.json:
        check_writable(args.json)
    closers: list[Callable[[], None]] = []
    if args.trace:
        closers.append(attach_trace(rt, args.trace))
    if not args.no_live and sys.stdout.isatty():
        closers.append(attach_live(rt, speed=args.speed))
    limit_ns = int(args.duration * 1e9)
    nworkers = 4 * n
    njobs = 64 * n

    async def worker(jobs: aiogc.Chan, results: aiogc.Chan, wg: aiogc.WaitGroup) -> None:
        async for cost in jobs:
            await aiogc.compute(cost)
            await results.send(cost)
        wg.done()

    async def hog(ms: int) -> None:
        for _ in range(ms):
            await aiogc.compute(1_000_000)

    async def main() -> list[dict[str, int]]:
        rounds: list[dict[str, int]] = []
        rng = aiogc.current_runtime().rng
        for r in range(args.cycles):
            t0 = aiogc.current_runtime().now_ns()
            if t0 >= limit_ns:
                break
            jobs: aiogc.Chan[int] = aiogc.Chan(16)
            results: aiogc.Chan[int] = aiogc.Chan(16)
            wg = aiogc.WaitGroup()
            wg.add(nworkers)
            for _ in range(nworkers):
                aiogc.go(worker(jobs, results, wg))
            aiogc.go(hog(25))
            costs = [rng.randrange(5_000, 200_000) for _ in range(njobs)]

            async def feed(costs: list[int] = costs, jobs: aiogc.Chan = jobs) -> None:
                for c in costs:
                    await jobs.send(c)
                jobs.close()

            aiogc.go(feed())
            total = 0
            for _ in range(njobs):
                total += await results.recv()
            await wg.wait()
            t1 = aiogc.current_runtime().now_ns()
            rounds.append({"round": r + 1, "jobs": njobs, "work_ns": total, "elapsed_ns": t1 - t0})
        return rounds

    try:
        rounds = rt.run(main())
    finally:
        for close in reversed(closers):
            close()
    total_ns = rt.now_ns()
    out = sys.stdout
    out.write(f"aiogc demo: scheduler, GOMAXPROCS={n}, seed={cfg.seed}, virtual time\n")
    out.write(f"{len(rounds)} round(s) of fan-out/fan-in: {nworkers} workers, {njobs} jobs each, "
              "plus a 25 ms CPU hog\n")
    for rd in rounds:
        par = rd["work_ns"] / rd["elapsed_ns"] if rd["elapsed_ns"] else 0.0
        out.write(f"  round {rd['round']}: {rd['elapsed_ns'] / 1e6:8.3f} ms for {rd['work_ns'] / 1e6:8.3f} ms "
                  f"of job work (parallelism {par:4.2f})\n")
    out.write(f"{'P':>4} {'ran':>8} {'steals':>7} {'stolen':>7} {'preempt':>8} {'schedtick':>10}\n")
    for p in rt.sched.allp:
        out.write(f"{p.id:>4} {runs[p.id]:>8} {steals[p.id]:>7} {stolen[p.id]:>7} {preempts[p.id]:>8} "
                  f"{p.schedtick:>10}\n")
    out.write(f"total: {sum(runs)} goroutine runs, {sum(steals)} steals, {sum(preempts)} preemptions, "
              f"{total_ns / 1e6:.3f} ms virtual time\n")
    if args.json:
        doc = {
            "config": {"gomaxprocs": n, "seed": cfg.seed, "gogc": cfg.gogc, "cycles": args.cycles},
            "rounds": rounds,
            "procs": [{"p": i, "ran": runs[i], "steals": steals[i], "stolen": stolen[i],
                       "preemptions": preempts[i], "schedtick": rt.sched.allp[i].schedtick} for i in range(n)],
            "virtual_ns": total_ns,
        }
        write_json(args.json, doc)
    return 0


