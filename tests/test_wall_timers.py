"""Wall-clock timers: one heap keyed (when, sequence), one host timer for the earliest.

Two timers set for one deadline run in the order they were set (each used to get its own host
timer, computed from its own reading of two clocks, and the host loop could swap them: the
peer suite's ``test_nested_timeouts`` flaked so); and no timer runs before its time.  Wall-clock
tests here assert order and "not early", never durations.
"""

from __future__ import annotations

import asyncio
import time

import aiogc


def test_timers_with_one_deadline_run_in_the_order_they_were_set() -> None:
    rt = aiogc.Runtime(gomaxprocs=1, gogc=None, clock="wall")
    order: list[int] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        when = loop.time() + 0.02
        for i in range(40):
            loop.call_at(when, order.append, i)
            t_end = time.perf_counter() + 0.0002  # let both clocks move between the settings
            while time.perf_counter() < t_end:
                pass
        await asyncio.sleep(0.05)

    rt.run(main())
    assert order == list(range(40))


def test_no_timer_runs_before_its_time_and_cancelled_ones_never_run() -> None:
    rt = aiogc.Runtime(gomaxprocs=2, gogc=None, clock="wall")
    early: list[tuple[float, float]] = []
    ran: list[int] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        hs = []
        for i in range(30):
            when = loop.time() + 0.001 * (i % 7) + 0.0003

            def cb(i: int = i, when: float = when) -> None:
                ran.append(i)
                if loop.time() < when:
                    early.append((loop.time(), when))

            hs.append(loop.call_at(when, cb))
        for h in hs[::3]:
            h.cancel()
        await asyncio.sleep(0.03)

    rt.run(main())
    assert early == []
    assert sorted(ran) == [i for i in range(30) if i % 3 != 0]
    assert rt.driver.pending_timers == 0 and rt.driver.timers == []
