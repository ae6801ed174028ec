"""next_gc at the seed: heap_minimum is its only floor (e30c6d64's sweep-distance floor came after
the series; ``Config.sweep_distance_floor`` turns it on).  Exact virtual-time checks.

At the seed, when the trigger ratio is 0 and the reachable estimate (bytes marked minus bytes
allocated during the cycle) is under heap_minimum, next_gc is heap_minimum, the next cycle fakes
heap_marked = heap_minimum and its goal is exactly 2 x heap_minimum (GOGC=100): real Go's goal was
exactly 8 MiB in 59% of the seed's cycles (docs/realgo.md).  And the bytes marked, floating garbage
included, are then already past next_gc, so that cycle starts at the next span refill.
"""

from __future__ import annotations

from typing import Any

import aiogc
from aiogc.config import HOSTS
from aiogc.experiments.workloads import SeedWorkload, seed_main

MiB = 1 << 20


def _seed_cycles(**cfg: Any) -> list[Any]:
    rt = aiogc.Runtime(gomaxprocs=2, gogc=100, seed=1, go_commit="seed", clock="virtual", godebug="",
                       **{**HOSTS["realgo-vm"], **cfg})
    rt.run(seed_main(SeedWorkload(), cycles=16, max_heap_bytes=256 << 20))
    return [c for c in rt.stats.cycles if not c.forced and c.n >= 3]


def test_the_seed_falls_to_the_heap_minimum_goal_as_real_go_does() -> None:
    cycles = _seed_cycles()
    assert len(cycles) >= 12
    at_minimum = [c for c in cycles if c.heap_goal == 8 * MiB]
    # The ratio-0 state is the common one (real Go: 59% of kept cycles).
    assert len(at_minimum) * 2 > len(cycles), [c.heap_goal for c in cycles]
    # ... and in it the trigger is heap_minimum itself, so a cycle follows at once whenever the
    # previous one marked more than that.
    for prev, c in zip(cycles, cycles[1:], strict=False):
        if c.heap_goal == 8 * MiB:
            assert c.heap_trigger == 4 * MiB
            if prev.heap_live_after > 4 * MiB:
                assert c.heap_start - prev.heap_live_after < MiB, (prev.n, c.n)


def test_the_sweep_distance_floor_keeps_the_goal_off_the_minimum() -> None:
    cycles = _seed_cycles(sweep_distance_floor=True)
    assert cycles
    assert not [c for c in cycles if c.heap_goal == 8 * MiB]
    for c in cycles:
        assert c.heap_trigger > 4 * MiB  # at least the previous bytes marked + 1 MiB
