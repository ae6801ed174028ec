"""The seed workload at many Ps: the total allocation rate stops growing past ``alloc_procs`` Ps."""

from __future__ import annotations

import dataclasses

import pytest

from aiogc.errors import ConfigError
from aiogc.experiments.workloads import SeedWorkload, WorkloadParams, run_seed


def test_params_unchanged_up_to_alloc_procs() -> None:
    w = SeedWorkload()
    base = {f.name: getattr(w, f.name) for f in dataclasses.fields(WorkloadParams)}
    for n in (1, 2, 4, 8):
        p = w.at_gomaxprocs(n)
        assert type(p) is WorkloadParams  # the goroutines never see alloc_procs (one scan word less)
        assert dataclasses.asdict(p) == base


def test_total_rate_held_beyond_alloc_procs() -> None:
    w = SeedWorkload(alloc_work_ns=1000, consume_work_ns=2000, alloc_procs=8)
    for n in (16, 64, 256):
        p = w.at_gomaxprocs(n)
        # n pairs, each allocating a node per alloc_work_ns: n / alloc_work_ns == 8 / 1000
        assert p.alloc_work_ns * 8 == 1000 * n
        assert p.consume_work_ns * 8 == 2000 * n
    assert w.with_(alloc_procs=256).at_gomaxprocs(256).alloc_work_ns == 1000


def test_alloc_procs_validated() -> None:
    with pytest.raises(ConfigError):
        SeedWorkload(alloc_procs=0)
    assert "alloc_procs" in SeedWorkload.knobs()


@pytest.mark.parametrize("gomaxprocs", [64, 128])
def test_many_ps_finish_cycles_in_bounded_heap(gomaxprocs: int) -> None:
    # Before the cap, mark 1 at >= 96 Ps never completed (golang/go#12041's live-lock under a
    # per-P allocation rate) and the heap grew without bound.
    rt = run_seed(gomaxprocs=gomaxprocs, seed=1, cycles=3, clock="virtual", godebug="")
    cycles = rt.stats.cycles
    assert len(cycles) >= 3
    assert all(c.gomaxprocs == gomaxprocs for c in cycles)
    # The live heap stays within a small multiple of the goal: no runaway.
    assert max(c.heap_at_mark_term for c in cycles) < 8 * max(c.heap_goal for c in cycles)
