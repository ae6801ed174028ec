"""Ping-pong: two goroutines bat a ball back and forth over unbuffered channels.

Each hit readies the other goroutine into this P's ``runnext`` (Go's ``ready``), so the pair
shares one time slice and mostly stays on one P, however many Ps there are.

    python -m aiogc run demos/pingpong.py [--gomaxprocs N] [--seed N]
"""

from __future__ import annotations

import aiogc

HITS = 10_000


async def player(name: str, table: aiogc.Chan, other: aiogc.Chan, hits: dict[str, int],
                 procs: set[int], wg: aiogc.WaitGroup) -> None:
    while True:
        ball = await table.recv()
        if ball is None:  # the match is over
            wg.done()
            return
        hits[name] += 1
        procs.add(aiogc.current_p().id)
        if ball >= HITS:
            await other.send(None)
            wg.done()
            return
        await other.send(ball + 1)


async def main() -> None:
    rt = aiogc.current_runtime()
    ping, pong = aiogc.Chan(), aiogc.Chan()
    hits = {"ping": 0, "pong": 0}
    procs: set[int] = set()
    wg = aiogc.WaitGroup()
    wg.add(2)
    t0 = rt.now_ns()
    aiogc.go(player("ping", ping, pong, hits, procs, wg))
    aiogc.go(player("pong", pong, ping, hits, procs, wg))
    await ping.send(1)  # serve
    await wg.wait()
    dt = rt.now_ns() - t0
    print(f"ping-pong: {hits['ping'] + hits['pong']} hits ({hits['ping']} ping, {hits['pong']} pong) "
          f"at GOMAXPROCS={aiogc.gomaxprocs()}")
    print("ran on: " + ", ".join(f"P{p}" for p in sorted(procs)))
    print(f"time: {dt / 1e6:.3f} ms ({'virtual' if rt.config.clock == 'virtual' else 'wall'}), "
          f"{dt / (hits['ping'] + hits['pong']):.0f} ns per hit")


if __name__ == "__main__":
    aiogc.run(main())
