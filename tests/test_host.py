"""The host model (sched/host.py): the machine's CPU capacity and the M wake-up stalls.

Off by default, and then a run is byte-identical to one that never heard of it; on, its
two effects are exact in virtual time: a compute-bound program at GOMAXPROCS=2 on one CPU's
worth of time takes twice as long (and a lone goroutine does not), and a stall moves only the
stalled P's clock while the other P runs on.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from helpers import events, recorded_runtime

import aiogc
from aiogc.config import HOSTS, Config
from aiogc.errors import ConfigError
from aiogc.experiments.workloads import SeedWorkload, seed_main
from aiogc.sched.host import DIL_ONE, Host
from aiogc.trace.events import MStall

REALGO_VM = HOSTS["realgo-vm"]


# ---- configuration ---------------------------------------------------------------------------
@pytest.mark.parametrize("field,bad", [("host_cpus", -1), ("host_cpus", 0.05), ("host_cpus", True),
                                       ("host_cpus", "1"), ("host_stack_prob", 1.5), ("host_stack_prob", -0.1),
                                       ("host_stack_prob", False), ("host_stack_ns", -1), ("host_stack_ns", 1.5)])
def test_bad_host_fields_are_config_errors_naming_the_field(field: str, bad: Any) -> None:
    with pytest.raises(ConfigError, match=field):
        Config(gomaxprocs=2, **{field: bad})


def test_the_named_hosts_are_valid_configs() -> None:
    assert HOSTS["none"] == {}
    for fields in HOSTS.values():
        Config(gomaxprocs=2, **fields)


# ---- the stretch: a pure function of how many Ps run -----------------------------------------
@pytest.mark.parametrize("cpus,n,dil", [(1.0, 1, 1024), (1.0, 2, 2048), (1.0, 3, 3072), (2.0, 1, 1024),
                                        (2.0, 2, 1024), (2.0, 3, 1536), (2.0, 8, 4096), (1.5, 1, 1024),
                                        (1.5, 2, 1366), (0.5, 1, 2048), (4.0, 3, 1024)])
def test_dil_for_is_n_over_cpus_rounded_up_and_never_below_full_speed(cpus: float, n: int, dil: int) -> None:
    rt = aiogc.Runtime(gomaxprocs=2, host_cpus=cpus)
    assert rt.sched.host.dil_for(n) == dil
    assert rt.sched.host.dil_for(n) >= DIL_ONE


# ---- off: nothing changes ----------------------------------------------------------------------
def _seed_digest(**cfg: Any) -> tuple[str, aiogc.Runtime]:
    rt, rec = recorded_runtime(gomaxprocs=2, seed=5, **cfg)
    rt.run(seed_main(SeedWorkload(), cycles=6))
    return rec.digest(), rt


def test_off_by_default_and_a_half_set_host_is_still_off() -> None:
    d0, rt0 = _seed_digest()
    assert not rt0.sched.host.capacity_on and not rt0.sched.host.stack_on
    assert rt0.sched.dil_num == DIL_ONE
    # A stall probability without a length (or a length without a probability) is no host model:
    # no draw from the RNG, so the very same trace.
    d1, rt1 = _seed_digest(host_stack_prob=0.5)
    d2, rt2 = _seed_digest(host_stack_ns=4_000_000)
    assert d0 == d1 == d2
    assert rt1.sched.host.nstall == rt2.sched.host.nstall == 0


def test_the_wall_clock_ignores_the_host_model() -> None:
    rt = aiogc.Runtime(gomaxprocs=2, clock="wall", **REALGO_VM)
    assert not rt.sched.host.capacity_on and not rt.sched.host.stack_on


# ---- 1. capacity ---------------------------------------------------------------------------------
def _compute_bound(nworkers: int, **cfg: Any) -> int:
    """``nworkers`` goroutines each doing 10 x compute(1 ms) at GOMAXPROCS=2; the virtual ns it took."""
    rt = aiogc.Runtime(gomaxprocs=2, gogc=None, **cfg)

    async def worker() -> None:
        for _ in range(10):
            await aiogc.compute(1_000_000)

    async def main() -> int:
        t0 = rt.now_ns()
        gs = [aiogc.go(worker()) for _ in range(nworkers)]
        for g in gs:
            await g
        return rt.now_ns() - t0

    return rt.run(main())


def test_two_busy_ps_on_one_cpu_take_twice_as_long_and_a_lone_one_does_not() -> None:
    full2 = _compute_bound(2)
    shared2 = _compute_bound(2, host_cpus=1.0)
    full1 = _compute_bound(1)
    shared1 = _compute_bound(1, host_cpus=1.0)
    assert 10_000_000 <= full2 < 10_100_000  # each P: 10 ms of work, plus a few switches
    assert 2 * full2 - 100_000 <= shared2 <= 2 * full2 + 10_000  # each P at half speed (switches too)
    assert shared1 == full1  # alone on the CPU: full speed
    assert _compute_bound(2, host_cpus=2.0) == full2  # a CPU each: no stretch


def test_running_at_leaves_out_a_p_inside_a_stall() -> None:
    rt = aiogc.Runtime(gomaxprocs=2, host_cpus=1.0)
    p0, p1 = rt.sched.allp
    p0.status = p1.status = 1  # P_RUNNING
    host = rt.sched.host
    assert host.running_at(100, [p0, p1]) == 2
    p1.stall_from, p1.stall_until = 50, 150
    assert host.running_at(100, [p0, p1]) == 1
    assert host.running_at(150, [p0, p1]) == 2  # [stall_from, stall_until)
    assert host.running_at(49, [p0, p1]) == 2


# ---- 2. wake-up stalls -------------------------------------------------------------------------
class _FakeSched:
    def __init__(self, prob: float, mean: int) -> None:
        self.config = Config(gomaxprocs=2, host_stack_prob=prob, host_stack_ns=mean)
        self.virtual = True
        self.rng = random.Random(7)
        self.bus = aiogc.Runtime(gomaxprocs=1).bus  # a bus nobody listens to


def test_a_stall_moves_only_its_ps_clock_forwards_and_is_accounted() -> None:
    rt = aiogc.Runtime(gomaxprocs=2)
    p = rt.sched.allp[0]
    p.clock = 1_000
    sched: Any = _FakeSched(1.0, 4_000_000)
    host = Host(sched)
    ns = host.wakeup_stall(p, "forEachP")
    assert ns > 0 and p.clock == 1_000 + ns
    assert (p.stall_from, p.stall_until) == (1_000, 1_000 + ns)
    assert p.t_stolen == ns == host.stolen_ns and host.nstall == 1
    assert rt.sched.allp[1].clock == 0
    # The lengths are exponential with the configured mean: 2,000 draws within 10% of it.
    total = sum(host.wakeup_stall(p, "forEachP") for _ in range(2000))
    assert 0.9 * 4_000_000 < total / 2000 < 1.1 * 4_000_000


def test_no_stall_draws_a_length_when_the_coin_says_no() -> None:
    p = aiogc.Runtime(gomaxprocs=2).sched.allp[0]
    sched: Any = _FakeSched(1e-12, 4_000_000)
    host = Host(sched)
    state = sched.rng.getstate()
    assert host.wakeup_stall(p, "startTheWorld") == 0
    sched.rng.setstate(state)
    sched.rng.random()  # exactly one draw: the coin
    after_one = sched.rng.getstate()
    sched.rng.setstate(state)
    host.wakeup_stall(p, "startTheWorld")
    assert sched.rng.getstate() == after_one and p.clock == 0


def test_stalls_happen_at_the_named_wake_ups_at_two_ps_and_never_at_one() -> None:
    rt, rec = recorded_runtime(gomaxprocs=2, seed=5, host_stack_prob=0.5, host_stack_ns=1_000_000)
    rt.run(seed_main(SeedWorkload(), cycles=8))
    stalls = events(rec, MStall)
    assert stalls and {e.where for e in stalls} == {"startTheWorld", "forEachP"}
    assert sum(e.ns for e in stalls) == rt.sched.host.stolen_ns == sum(p.t_stolen for p in rt.sched.allp)
    coord = rt.gc.coord_g
    assert coord is not None and all(e.g == coord.id for e in stalls)  # only the coordinator's P loses time
    rt1, rec1 = recorded_runtime(gomaxprocs=1, seed=5, host_stack_prob=0.5, host_stack_ns=1_000_000)
    rt1.run(seed_main(SeedWorkload(), cycles=8))
    assert events(rec1, MStall) == [] and rt1.sched.host.nstall == 0


def test_the_other_p_allocates_while_the_coordinator_is_stalled_in_the_scan() -> None:
    """The mechanism the seed's tail comes from: a stall at the start of the world after sweep
    termination lands in the scan phase (no assists at the seed), and the heap grows meanwhile."""
    rt, rec = recorded_runtime(gomaxprocs=2, seed=5, host_stack_prob=1.0, host_stack_ns=2_000_000)
    rt.run(seed_main(SeedWorkload(), cycles=6))
    scan_stalls = {e.ts: e.ns for e in events(rec, MStall) if e.where == "startTheWorld"}
    grew = 0
    for c in rt.stats.cycles:
        t_scan = c.start_ns + c.clk_sweepterm_ns
        ns = scan_stalls.get(t_scan)
        if ns is None:
            continue  # the stall after mark termination: not in a cycle's scan
        assert c.clk_scan_ns >= ns
        grew += c.heap_at_mark_term > c.heap_start
    assert grew >= 3


def test_same_seed_same_trace_with_the_host_model_on() -> None:
    d1, rt1 = _seed_digest(**REALGO_VM)
    d2, _ = _seed_digest(**REALGO_VM)
    d0, _ = _seed_digest()
    assert d1 == d2 != d0
    assert rt1.sched.host.capacity_on and rt1.sched.host.stack_on
