"""The seed workload: steady allocation over a steady live heap, plus goroutines readied mid-assist.

What it models: the situation of golang/go#11677 that the seed commit addressed —
mutators on every P allocate fast enough that assists, not only the background
workers, finish mark phases; and goroutines are readied all the time (channel
hand-offs), which is what kicks a readied coordinator out of ``runnext`` to the
tail of the run queue when the completing assist does not yield.

Per P there is one *producer* and one *consumer*:

  producer  loops: allocate a node (``node_size`` bytes, ``node_ptrs`` pointer
            slots: slot 0 links the list, slots 1..``leaves`` point at leaf objects
            allocated with it, ``leaf_size`` bytes, no pointers; the rest stay
            nil but are still scanned), link it into
            the list under construction, compute ``alloc_work_ns``; when the list
            reaches ``list_len`` nodes it is kept, and the oldest kept list is
            dropped once this producer's share of ``live_bytes`` is exceeded (so
            the reachable heap stays near ``live_bytes``); every ``send_every``
            nodes it sends the current node to its consumer over an unbuffered
            channel.
  consumer  receives, computes ``consume_work_ns``, and reads the node it got.

Knobs (all exposed for sweeps): ``live_bytes`` (live heap size), ``alloc_work_ns``
(allocation rate: bytes per ns ~ (node + leaves) / alloc_work_ns per P),
``node_ptrs`` (pointer density), ``send_every`` (readying frequency),
``alloc_procs`` (beyond how many Ps the total allocation rate stops growing).

Defaults, and why: a 4 MiB live heap (the Go 1.5 heap minimum, so GOGC=100 gives
an 8 MiB goal and cycles are cheap to simulate); 1 KiB nodes whose 128 words are
all pointer slots (scan work 1 KiB per node, ~20 % of the bytes allocated) with
four 1 KiB pointer-free leaves; one node per ``alloc_work_ns`` = 1 µs of mutator
work, i.e. ~4 B/ns per P.  The allocation rate is the knob that was tuned: at
~2 B/ns (alloc_work_ns = 2000) the dedicated worker alone finishes every mark
phase; at 1 µs assists complete more than half of them with GOMAXPROCS=4 and
GOGC=100 (``compare`` reports the share as ``assist_completed_share``).  Nothing
that touches the scheduler or the GC was tuned.

Many Ps: the rate is per P up to ``alloc_procs`` = 8 Ps (the range it was tuned and
validated over, ``compare``'s default GOMAXPROCS 1,2,4,8); at GOMAXPROCS = n > 8 the
same total (8 Ps' worth) is spread over the n pairs: ``alloc_work_ns`` and
``consume_work_ns`` are multiplied by n/8.  Why: in mark 1 Go 1.5 allocates white, so
every node a producer links in is shaded grey by the write barrier and scanned by that
P's next assist — each P is mid-assist a fixed fraction f (~17 % here) of the time.
Mark 1 completes only when a marker that finishes sees nobody else marking
(``nwait == nproc``), which with n allocating Ps happens with probability ~(1 - f)^n:
the termination live-lock of golang/go#12041 (fixed for real only when Go 1.7 allocated
black).  At a per-P rate this workload's mark 1 lasts ~0.1-1 ms at 64 Ps and never ends
at 96 or more, while under the seed's assist policy nothing slows the mutators, so the
heap grows without bound (24 GB of memory at 256 Ps).  Holding the total rate keeps
n·f bounded, so cycles end and assists still complete phases (fix-on overshoot +11 %
at 16 Ps, fix-off x47); ``alloc_procs=N`` (e.g. a sweep's ``--grid alloc_procs=256``)
puts the per-P rate back up to N Ps, to study the live-lock itself.  Results at
GOMAXPROCS <= 8 are unchanged.  Note also that when the producers outnumber
``live_bytes`` / (``list_len`` x node bytes) (102 with the defaults) a producer's share
cannot hold one finished list, and the live heap is set by the lists under
construction (~ producers x half a list) rather than by ``live_bytes``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import aiogc
from aiogc.errors import ConfigError


@dataclass(frozen=True)
class WorkloadParams:
    """What the goroutines of one run see: the seed workload's parameters at its GOMAXPROCS
    (``SeedWorkload.at_gomaxprocs``).  Its fields are exactly what the goroutines' frames
    hold — the stack scanner counts one word of scan work per field, so adding a knob here
    would change every run's timing."""

    live_bytes: int = 4 << 20
    node_size: int = 1024
    node_ptrs: int = 128
    leaf_size: int = 1024
    leaves: int = 4
    list_len: int = 8
    alloc_work_ns: int = 1000
    send_every: int = 16
    consume_work_ns: int = 2_000
    producers_per_p: int = 1

    def node_bytes(self) -> int:
        """Approximate bytes per node with its leaves (before size-class rounding)."""
        return self.node_size + self.leaves * self.leaf_size


@dataclass(frozen=True)
class SeedWorkload(WorkloadParams):
    alloc_procs: int = 8

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f.name, v, "a non-negative integer")
        if self.node_ptrs < 1 or self.node_ptrs * 8 > self.node_size:
            raise ConfigError("node_ptrs", self.node_ptrs, f"between 1 and node_size/8 ({self.node_size // 8})")
        if self.leaves > self.node_ptrs - 1:
            raise ConfigError("leaves", self.leaves, f"at most node_ptrs - 1 ({self.node_ptrs - 1})")
        for name in ("list_len", "send_every", "producers_per_p", "live_bytes", "alloc_procs"):
            if getattr(self, name) < 1:
                raise ConfigError(name, getattr(self, name), "a positive integer")

    @classmethod
    def knobs(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def with_(self, **kw: Any) -> SeedWorkload:
        return dataclasses.replace(self, **kw)

    def at_gomaxprocs(self, gomaxprocs: int) -> WorkloadParams:
        """The parameters the goroutines run with at ``gomaxprocs`` Ps: beyond ``alloc_procs``
        Ps the work per node (``alloc_work_ns``, ``consume_work_ns``) grows as
        gomaxprocs/alloc_procs, so the total allocation rate stays that of ``alloc_procs`` Ps
        (see the module docstring)."""
        kw = {f.name: getattr(self, f.name) for f in dataclasses.fields(WorkloadParams)}
        if gomaxprocs > self.alloc_procs:
            kw["alloc_work_ns"] = self.alloc_work_ns * gomaxprocs // self.alloc_procs
            kw["consume_work_ns"] = self.consume_work_ns * gomaxprocs // self.alloc_procs
        return WorkloadParams(**kw)


async def _producer(w: WorkloadParams, share: int, out: aiogc.Chan, stop: list[bool]) -> None:
    alloc = aiogc.alloc
    compute = aiogc.compute
    per_list = w.list_len * w.node_bytes()
    # The heads of the finished lists, this goroutine's live heap: a ring of pointer slots in a
    # heap object, as seedload.go's `kept := make([]*node, maxKept)`.  Storing a head into it is
    # a heap pointer write, so while the write barrier is on it greys the list's newest node
    # (white in mark 1): this P's gcw holds work at the send that follows, and the fractional
    # worker can start when the producer parks (docs/realgo.md, mechanism A).
    max_kept = share // per_list + 2
    kept = await alloc(max_kept * 8, max_kept)
    kh = kn = 0
    kept_bytes = 0
    head = None
    n = 0
    nleaves = w.leaves
    while not stop[0] and not _enough():
        node = await alloc(w.node_size, w.node_ptrs)
        node[0] = head
        for i in range(1, nleaves + 1):
            if _enough():  # N cycles finished mid-node: no allocation may start another
                break
            node[i] = await alloc(w.leaf_size, 0)
        head = node
        n += 1
        await compute(w.alloc_work_ns)
        if n % w.list_len == 0:
            kept[(kh + kn) % max_kept] = head
            kn += 1
            kept_bytes += per_list
            head = None
            while kept_bytes > share and kn > 0:
                kept[kh] = None
                kh = (kh + 1) % max_kept
                kn -= 1
                kept_bytes -= per_list
        if n % w.send_every == 0:
            await out.send(node)
    out.close()


async def _consumer(w: WorkloadParams, inp: aiogc.Chan) -> None:
    compute = aiogc.compute
    async for node in inp:
        await compute(w.consume_work_ns)
        _ = node[0]


# The harness's bound, per running runtime (id -> cycles): outside the program's data (not a root,
# not in any goroutine's frame), so stopping at exactly N cycles costs no scan work and leaves every
# cycle before the N-th unchanged.  Set and cleared by seed_main.
_cycle_bound: dict[int, int] = {}


def _enough() -> bool:
    """Have the runtime's ``cycles`` cycles (``seed_main``'s bound) finished?  Then producers stop
    allocating, so no cycle after the N-th starts: a run shows and reports exactly N cycles."""
    rt = aiogc.current_runtime()
    n = _cycle_bound.get(id(rt))
    return n is not None and rt.stats is not None and len(rt.stats.cycles) >= n


MAX_HEAP_BYTES = 1 << 30  # a run whose heap passes this stops its mutators (see seed_main)


async def seed_main(workload: SeedWorkload, *, cycles: int = 10, duration_ns: int | None = None,
                    max_heap_bytes: int | None = MAX_HEAP_BYTES) -> dict[str, Any]:
    """Run the seed workload until ``cycles`` GC cycles have finished (or ``duration_ns`` passed).

    The producers stop allocating the moment the ``cycles``-th cycle has finished (``_enough``),
    so no cycle after it starts.  As seedload.go does, the main goroutine polls every 1 ms
    (``aiogc.sleep``, Go's time.Sleep) and then sets ``stop``, which the producers read.  Unlike
    seedload, the two bounds are also checked by a driver step hook, outside any goroutine: at the
    seed a GC coordinator, and the main goroutine with it, can starve indefinitely behind
    goroutines that never leave their P (docs/realgo.md), and a bound that needs main to run would
    never fire.  ``max_heap_bytes`` (default 1 GiB, 128x the default goal) is the model's stand-in
    for the OOM kill that ended two real parent runs: past it the run stops, as if killed.  When a
    bound fires the mutators stop, whatever cycle is in progress then finishes without them, and
    ``stop_ns`` says when: cycles that ended after it are not the workload's.

    Returns a summary (``cycles``, ``virtual_ns``, ``stopped_by``: "cycles", "duration" or
    "heap", ``stop_ns``); the per-cycle records are in ``runtime.stats.cycles``.
    """
    rt = aiogc.current_runtime()
    sched = rt.sched
    w = workload.at_gomaxprocs(sched.gomaxprocs)
    del workload  # this frame is a goroutine stack: it holds only what the run uses
    nprod = sched.gomaxprocs * w.producers_per_p
    share = max(1, w.live_bytes // nprod)
    stop = [False]
    _cycle_bound[id(rt)] = cycles
    chans = []
    for i in range(nprod):
        ch: aiogc.Chan[Any] = aiogc.Chan()
        chans.append(ch)
        aiogc.go(_consumer(w, ch), name=f"consumer{i}")
        aiogc.go(_producer(w, share, ch, stop), name=f"producer{i}")
    stats = rt.stats
    t0 = rt.now_ns()
    why = ["cycles"]
    stop_ns = [-1]
    col = rt.gc
    deadline = t0 + duration_ns if duration_ns is not None else None

    def bound(now: int) -> None:
        if stop[0]:
            return
        if deadline is not None and now >= deadline:
            why[0] = "duration"
        elif max_heap_bytes is not None and col is not None and col.heap.heap_live > max_heap_bytes:
            why[0] = "heap"
        else:
            return
        stop[0] = True
        stop_ns[0] = now

    hooks = getattr(rt.driver, "hooks_after_step", None)
    if hooks is not None:
        hooks.append(bound)
    try:
        # The main goroutine only watches, as seedload's does: time.Sleep(1 ms), then check the bound.
        # aiogc.sleep is Go's time.Sleep: timerproc readies main into the runnext of the P it runs on
        # (an asyncio.sleep wake-up would go to the global queue, as a netpoller wake-up).
        while not stop[0]:
            await aiogc.sleep(0.001)
            if stats is not None and len(stats.cycles) >= cycles:
                break
            bound(rt.now_ns())
    finally:
        _cycle_bound.pop(id(rt), None)
        if hooks is not None:
            hooks.remove(bound)
    if not stop[0]:
        stop[0] = True
        stop_ns[0] = rt.now_ns()
    return {"cycles": len(stats.cycles) if stats is not None else 0, "virtual_ns": rt.now_ns() - t0,
            "stopped_by": why[0], "stop_ns": stop_ns[0]}


def run_seed(config: aiogc.Config | None = None, workload: SeedWorkload | None = None, *, cycles: int = 10,
             duration_ns: int | None = None, **config_fields: Any) -> aiogc.Runtime:
    """Run the seed workload in a fresh runtime and return the runtime (stats in ``rt.stats``)."""
    rt = aiogc.Runtime(config, **config_fields)
    rt.run(seed_main(workload or SeedWorkload(), cycles=cycles, duration_ns=duration_ns))
    return rt
