"""Determinism: a subscriber only watches, and the same seed gives the same trace in any process.

Data flows one way (README, house rules): the model emits events, observers consume them.  So a run
must not change in any way when something subscribes to its bus: not its cycles, not its virtual end
time, not its scheduling.  The sweep below covers the scheduler and collector paths that differ along
the July 2015 series (the parent's non-yielding assists, the seed, 64a32ffe's signals, 510fd135's
prompt blackening) at GOMAXPROCS 1-4, with a subscriber that records every event *and* disturbs
everything a subscriber can disturb without touching the model: it allocates Python garbage in
reference cycles and runs CPython's cyclic collector in the middle of the run, so that any
dependence on when ``Ref.__del__`` runs (the live-handle table), on object addresses or on the
interpreter's memory would show up as a difference.  A negative control (a "subscriber" that does
change the model) shows the comparison can fail.  A second program leaves Python reference cycles
that name heap objects: what CPython's cyclic collector has not freed yet is still counted by the
live-handle table, so without mark termination's own collection (``Collector._mark_termination``)
a subscriber's allocations, by moving when CPython collects, changed that run; a negative control
shows it.

Across processes: the same seed gives a byte-identical event trace under different
``PYTHONHASHSEED`` values (str/bytes hashing, hence set and dict orders keyed by strings, change
between them).
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

import aiogc
from aiogc.experiments.workloads import SeedWorkload, seed_main
from aiogc.trace.events import Event, GoStart, Recorder

# (go_commit, GOMAXPROCS, seed): every commit at every GOMAXPROCS 1-4, seeds varied across the grid,
# plus the configuration the defect was first reported on (the parent, GOMAXPROCS=3, seed 5).
COMMITS = ("parent", "seed", "64a32ffe", "510fd135")
CONFIGS = [(c, gmp, 1 + (3 * i + gmp) % 7) for i, c in enumerate(COMMITS) for gmp in (1, 2, 3, 4)]
CONFIGS.append(("parent", 3, 5))
CYCLES = 3
MAX_NS = 20_000_000  # virtual; the parent at GOMAXPROCS >= 2 starves its coordinator ~10 ms a cycle


def fingerprint(rt: aiogc.Runtime, summary: dict[str, Any]) -> tuple[Any, ...]:
    """What a run produced: its cycle records, its end, and the totals of its scheduler and heap."""
    heap = rt.gc.heap
    return (repr(rt.stats.cycles), summary, rt.now_ns(), rt.sched.nsched, heap.total_alloc,
            heap.nmalloc, heap.nfree, heap.heap_live)


class Disturbing(Recorder):
    """Records every event, makes cyclic Python garbage, and collects it now and then mid-run."""

    def __init__(self) -> None:
        super().__init__()
        self.garbage: list[Any] = []

    def __call__(self, ev: Event) -> None:
        super().__call__(ev)
        a: list[Any] = [ev]
        a.append(a)  # a reference cycle: only the cyclic collector frees it
        if len(self.events) % 4999 == 0:
            gc.collect(1)


def run(commit: str, gmp: int, seed: int, sub: Any = None) -> tuple[Any, ...]:
    rt = aiogc.Runtime(gomaxprocs=gmp, seed=seed, go_commit=commit, clock="virtual", godebug="")
    if sub is not None:
        rt.bus.subscribe(sub)
    summary = rt.run(seed_main(SeedWorkload(), cycles=CYCLES, duration_ns=MAX_NS))
    return fingerprint(rt, summary)


@pytest.mark.parametrize(("commit", "gmp", "seed"), CONFIGS)
def test_a_subscriber_does_not_change_the_run(commit: str, gmp: int, seed: int) -> None:
    bare = run(commit, gmp, seed)
    rec = Disturbing()
    watched = run(commit, gmp, seed, rec)
    assert watched == bare
    assert len(rec.of(GoStart)) > 0
    # and with the cyclic collector off for the whole run: when CPython collects does not matter
    gc.disable()
    try:
        assert run(commit, gmp, seed) == bare
    finally:
        gc.enable()


class _Holder:
    """A plain object the program below puts in a reference cycle."""

    me: Any
    ref: Any


async def _cyclic_garbage_main() -> int:
    """Each iteration leaves a Python cycle naming a heap object: garbage only CPython's cyclic
    collector frees, so until it runs the live-handle table still counts that ``Ref``."""
    keep = []
    for _ in range(1500):
        h = _Holder()
        h.me = h
        h.ref = await aiogc.alloc(4096, 1)
        keep.append(await aiogc.alloc(512, 0))
        if len(keep) > 50:
            keep.pop(0)
    return aiogc.read_mem_stats().num_gc


def run_cyclic(gmp: int, sub: Any = None) -> tuple[Any, ...]:
    rt = aiogc.Runtime(gomaxprocs=gmp, seed=1, gogc=100, heap_minimum=256 << 10, godebug="")
    if sub is not None:
        rt.bus.subscribe(sub)
    ngc = rt.run(_cyclic_garbage_main())
    return fingerprint(rt, {"num_gc": ngc})


@pytest.mark.parametrize("gmp", [1, 2])
def test_cyclic_python_garbage_holding_refs_does_not_make_a_subscriber_matter(gmp: int) -> None:
    """Mark termination collects Python's cyclic garbage before the live-handle table is read, so
    what CPython had not collected yet (which depends on every allocation in the interpreter, a
    subscriber's included) cannot decide what is greyed."""
    bare = run_cyclic(gmp)
    assert bare[6] > 0  # nfree: heap objects were freed, so the garbage's Refs really were released
    assert run_cyclic(gmp, Recorder()) == bare
    assert run_cyclic(gmp, Disturbing()) == bare


def test_negative_control_without_the_collection_a_subscriber_changes_that_program(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The test above can fail: with mark termination's collection disabled, the same program's run
    depends on when CPython's collector happens to run, and a subscriber moves that."""
    import aiogc.collector.cycle as cycle

    class NoCollect:
        @staticmethod
        def collect(*a: Any) -> int:
            return 0

    monkeypatch.setattr(cycle, "pygc", NoCollect)
    assert run_cyclic(1) != run_cyclic(1, Disturbing())


def test_negative_control_a_subscriber_that_charges_time_is_seen() -> None:
    """The comparison above can fail: a subscriber that advances a P's clock changes the run."""
    rt_box: list[aiogc.Runtime] = []

    def meddle(ev: Event) -> None:
        if type(ev) is GoStart and ev.p >= 0:
            rt_box[0].sched.allp[ev.p].clock += 1_000

    bare = run("seed", 2, 1)
    rt = aiogc.Runtime(gomaxprocs=2, seed=1, go_commit="seed", clock="virtual", godebug="")
    rt_box.append(rt)
    rt.bus.subscribe(meddle)
    summary = rt.run(seed_main(SeedWorkload(), cycles=CYCLES, duration_ns=MAX_NS))
    assert fingerprint(rt, summary) != bare


_CHILD = textwrap.dedent("""
    import sys, aiogc
    from aiogc.experiments.workloads import SeedWorkload, seed_main
    from aiogc.trace.events import Recorder
    for spec in sys.argv[1:]:
        commit, gmp, seed = spec.split(":")
        rt = aiogc.Runtime(gomaxprocs=int(gmp), seed=int(seed), go_commit=commit, clock="virtual", godebug="")
        rec = Recorder()
        rt.bus.subscribe(rec)
        rt.run(seed_main(SeedWorkload(), cycles=2, duration_ns=100_000_000))
        print(spec, len(rec.events), rec.digest())
""")


def test_same_seed_same_trace_across_processes_and_hash_seeds() -> None:
    specs = ["seed:2:1", "64a32ffe:3:4", "510fd135:4:2", "parent:2:3"]
    outs = []
    for hashseed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        for k in ("GOMAXPROCS", "GOGC", "GODEBUG"):
            env.pop(k, None)
        r = subprocess.run([sys.executable, "-c", _CHILD, *specs], capture_output=True, text=True, env=env,
                           timeout=300, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stderr
        outs.append(r.stdout)
    lines = outs[0].splitlines()
    assert len(lines) == len(specs) and all(int(ln.split()[1]) > 100 for ln in lines)
    assert outs[0] == outs[1]
