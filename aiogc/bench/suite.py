"""``python -m aiogc bench``: aiogc against asyncio, uvloop, trio and a bare trampoline, in one run.

Benchmarks (``--only`` takes a comma list of these names):

  switch      K goroutines x M yields each: ``await aiogc.gosched()`` (virtual and wall clock,
              GOMAXPROCS 1 and 4) vs ``asyncio.sleep(0)`` on the stdlib loop and on uvloop,
              ``trio.lowlevel.checkpoint()``, and a bare ``coro.send`` round-robin over a deque
              (``trampoline``: the floor any Python scheduler pays).  ns per yield; the one-time
              creation of the K coroutines is included, amortised over the M yields.
  spawn       N goroutines created and finished (``aiogc.go`` + ``WaitGroup``) vs
              ``loop.create_task`` + ``gather`` on both loops, a trio nursery, and creating then
              running N bare coroutines (trampoline).  ns per goroutine.  Plus memory per
              *parked* goroutine (tracemalloc; parked on a channel receive) vs a parked asyncio
              Task (on an ``asyncio.Event``) and a trio task (on a ``trio.Event``): bytes each.
  chan        unbuffered ping-pong: ``Chan()`` send + receive back (one round trip = two hand-offs,
              two parks) vs two ``asyncio.Queue``s on both loops and trio's
              ``open_memory_channel(0)``.  ns per round trip.
  mark        pointer slots scanned per second by aiogc's ``Marker.drain`` (the collector's
              batched numpy drain, clock-independent; reported as impl ``aiogc-virtual``) vs a
              plain Python BFS over the same random graph (``python-bfs``; ported from
              ``bench/bench_mark.py``).  ns per slot.
  simulation  the seed workload (``aiogc.experiments.workloads.run_seed``, GOMAXPROCS=4, GC on,
              virtual time): allocations and goroutine steps (``rt.sched.nsched``) per wall second,
              and virtual ns simulated per wall ns.  ns_per_op is wall ns per allocation.
  scale       the seed workload at GOMAXPROCS 1, 2, 4, ... 256, each run in a fresh subprocess
              (so its peak RSS, ``VmHWM``, is its own; interpreter start and imports are not
              timed but are in the RSS): wall ns per allocation and peak RSS per point.  Targets:
              every point finishes its cycles (at least 4) under 2 GiB of peak RSS, and ns per
              allocation at the largest GOMAXPROCS is at most 2x that at GOMAXPROCS=4.  A point
              that fails (a time-out: ``SCALE_TIMEOUT_S``; a crash; the 8 GiB address-space limit
              each child runs under, which keeps a runaway from taking the machine) is a MISS row.

Method: every time is taken inside the event loop / runtime (loop and runtime creation are not
counted), with ``time.perf_counter``; before each sample Python's cyclic GC is collected once
(it stays enabled while timing).  Repetitions are interleaved round-robin over the
implementations of a case so background load hits them alike; the table shows the median and
the JSON keeps every sample.

JSON (``--json FILE``)::

    {"version": 1, "quick": bool, "machine": {...}, "command": "...",
     "results": [{"bench": "switch", "impl": "aiogc-virtual", "case": "K=100 M=1000 P=1",
                  "ns_per_op": 123.4, "samples": [...], "ops": 100000, "reps": 5,
                  "k": 100, "m": 1000, "gomaxprocs": 1,
                  "ratio_trampoline": 2.1, "ratio_uvloop": 0.8,
                  "targets": ["virtual P=1 <= 2.5x trampoline", ...], "pass": false}, ...],
     "targets": [{"target": "...", "case": "...", "value": 2.1, "limit": 2.5, "pass": false}, ...]}

Memory rows (``"metric": "bytes_per_parked"``) have ``ns_per_op: null`` and ``bytes``; mark rows
add ``slots_per_s``; simulation rows add ``allocs_per_s``, ``steps_per_s``,
``virtual_ns_per_wall_ns``; scale rows add ``peak_rss_bytes``, ``cycles``, ``allocations`` and
``error`` (null, or why the point failed: its ``ns_per_op`` is then null).  Entry points: ``add_bench_arguments(parser)``, ``cmd_bench(args)``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc as pygc
import os
import platform
import statistics
import sys
import time
import tracemalloc
import types
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiogc.argtypes import positive_int as _reps
from aiogc.io import ArgumentParser, CLIError, fail, write_json

BENCHES = ("switch", "spawn", "chan", "mark", "simulation", "scale")
IMPLS = ("aiogc-virtual", "aiogc-wall", "asyncio", "uvloop", "trio", "trampoline", "python-bfs")

perf = time.perf_counter


# ---- sizes ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sizes:
    switch_ks: tuple[int, ...]
    switch_ops: int  # K * M per case (M = ops // K, at least 1)
    spawn_ns: tuple[int, ...]
    parked_n: int
    chan_n: int
    mark_n: int
    sim_cycles: int
    reps: int
    big_spawn_reps: int = 3  # reps for spawn N >= 1,000,000 (seconds per sample)
    scale_procs: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)
    scale_cycles: int = 8
    scale_reps: int = 3


FULL = Sizes(switch_ks=(1, 100, 10_000), switch_ops=100_000, spawn_ns=(100_000, 1_000_000), parked_n=10_000,
             chan_n=50_000, mark_n=1_000_000, sim_cycles=50, reps=5)
QUICK = Sizes(switch_ks=(1, 100), switch_ops=20_000, spawn_ns=(100_000,), parked_n=2_000, chan_n=5_000,
              mark_n=200_000, sim_cycles=10, reps=3, scale_procs=(1, 4, 16, 64, 256), scale_cycles=8,
              scale_reps=1)
TINY = Sizes(switch_ks=(1, 10), switch_ops=200, spawn_ns=(200,), parked_n=50, chan_n=50, mark_n=2_000,
             sim_cycles=1, reps=1, big_spawn_reps=1, scale_procs=(1, 4), scale_cycles=1, scale_reps=1)
SCALE_TIMEOUT_S = 900  # one scale point; a healthy 256-P point takes seconds
SCALE_RSS_LIMIT = 2 << 30  # the target: peak RSS under 2 GiB
SCALE_AS_LIMIT = 8 << 30  # address-space limit of a scale child (RLIMIT_AS)


# ---- optional baselines ---------------------------------------------------------------------------
def _uvloop() -> Any:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop


def _trio() -> Any:
    try:
        import trio
    except ImportError:
        return None
    return trio


def _run_asyncio(coro: Coroutine[Any, Any, Any], kind: str) -> Any:
    if kind == "uvloop":
        loop = _uvloop().new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def _run_aiogc(coro: Coroutine[Any, Any, Any], clock: str, procs: int) -> Any:
    import aiogc

    # GC off: these benches allocate nothing on aiogc's heap; GODEBUG cleared so a user's
    # gctrace/schedtrace setting does not print into the timings.
    rt = aiogc.Runtime(gomaxprocs=procs, clock=clock, gogc=None, godebug="", seed=0)
    return rt.run(coro)


def _run(impl: str, factory: Callable[[], Coroutine[Any, Any, float]], procs: int = 1) -> float:
    """Run ``factory()`` (a coroutine returning its own elapsed seconds) on ``impl``."""
    if impl == "aiogc-virtual":
        return float(_run_aiogc(factory(), "virtual", procs))
    if impl == "aiogc-wall":
        return float(_run_aiogc(factory(), "wall", procs))
    if impl in ("asyncio", "uvloop"):
        return float(_run_asyncio(factory(), impl))
    if impl == "trio":
        return float(_trio().run(factory))
    raise ValueError(impl)


# ---- switch -----------------------------------------------------------------------------------
@types.coroutine
def _bare_yield() -> Any:
    yield


async def _tramp_worker(m: int) -> None:
    y = _bare_yield
    for _ in range(m):
        await y()


def switch_trampoline(k: int, m: int) -> float:
    t0 = perf()
    q = deque([_tramp_worker(m) for _ in range(k)])
    pop = q.popleft
    push = q.append
    while q:
        c = pop()
        try:
            c.send(None)
        except StopIteration:
            continue
        push(c)
    return perf() - t0


def _switch_factory(impl: str, k: int, m: int) -> Callable[[], Coroutine[Any, Any, float]]:
    if impl.startswith("aiogc"):
        import aiogc

        async def main() -> float:
            t0 = perf()
            gosched = aiogc.gosched
            wg = aiogc.WaitGroup()
            wg.add(k)

            async def w() -> None:
                for _ in range(m):
                    await gosched()
                wg.done()

            go = aiogc.go
            for _ in range(k):
                go(w())
            await wg.wait()
            return perf() - t0

        return main
    if impl == "trio":
        trio = _trio()

        async def tmain() -> float:
            t0 = perf()
            cp = trio.lowlevel.checkpoint

            async def w() -> None:
                for _ in range(m):
                    await cp()

            async with trio.open_nursery() as nursery:
                for _ in range(k):
                    nursery.start_soon(w)
            return perf() - t0

        return tmain

    async def amain() -> float:
        t0 = perf()
        sleep = asyncio.sleep

        async def w() -> None:
            for _ in range(m):
                await sleep(0)

        await asyncio.gather(*[w() for _ in range(k)])
        return perf() - t0

    return amain


# ---- spawn ------------------------------------------------------------------------------------
async def _noop() -> None:
    pass


def spawn_trampoline(n: int) -> float:
    t0 = perf()
    q = deque([_noop() for _ in range(n)])
    pop = q.popleft
    while q:
        c = pop()
        try:
            c.send(None)
        except StopIteration:
            pass
    return perf() - t0


def _spawn_factory(impl: str, n: int) -> Callable[[], Coroutine[Any, Any, float]]:
    if impl.startswith("aiogc"):
        import aiogc

        async def main() -> float:
            t0 = perf()
            wg = aiogc.WaitGroup()
            wg.add(n)
            done = wg.done

            async def child() -> None:
                done()

            go = aiogc.go
            for _ in range(n):
                go(child())
            await wg.wait()
            return perf() - t0

        return main
    if impl == "trio":
        trio = _trio()

        async def tmain() -> float:
            t0 = perf()
            async with trio.open_nursery() as nursery:
                ss = nursery.start_soon
                for _ in range(n):
                    ss(_noop)
            return perf() - t0

        return tmain

    async def amain() -> float:
        t0 = perf()
        ct = asyncio.get_running_loop().create_task
        tasks = [ct(_noop()) for _ in range(n)]
        await asyncio.gather(*tasks)
        return perf() - t0

    return amain


def _parked_factory(impl: str, n: int) -> Callable[[], Coroutine[Any, Any, float]]:
    """A coroutine returning bytes per parked goroutine/task (tracemalloc must be tracing)."""
    if impl.startswith("aiogc"):
        import aiogc

        async def main() -> float:
            ch: aiogc.Chan[Any] = aiogc.Chan()

            async def parked() -> None:
                await ch.recv()

            pygc.collect()
            base = tracemalloc.get_traced_memory()[0]
            go = aiogc.go
            for _ in range(n):
                go(parked())
            while len(ch.recvq) < n:
                await aiogc.gosched()
            used = tracemalloc.get_traced_memory()[0] - base
            ch.close()
            return used / n

        return main
    if impl == "trio":
        trio = _trio()

        async def tmain() -> float:
            ev = trio.Event()
            waiting = [0]

            async def parked() -> None:
                waiting[0] += 1
                await ev.wait()

            async with trio.open_nursery() as nursery:
                pygc.collect()
                base = tracemalloc.get_traced_memory()[0]
                for _ in range(n):
                    nursery.start_soon(parked)
                while waiting[0] < n:
                    await trio.lowlevel.checkpoint()
                await trio.lowlevel.checkpoint()
                used = tracemalloc.get_traced_memory()[0] - base
                ev.set()
            return used / n

        return tmain

    async def amain() -> float:
        ev = asyncio.Event()
        waiting = [0]

        async def parked() -> None:
            waiting[0] += 1
            await ev.wait()

        pygc.collect()
        base = tracemalloc.get_traced_memory()[0]
        ct = asyncio.get_running_loop().create_task
        tasks = [ct(parked()) for _ in range(n)]
        while waiting[0] < n:
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        used = tracemalloc.get_traced_memory()[0] - base
        ev.set()
        await asyncio.gather(*tasks)
        return used / n

    return amain


# ---- chan -------------------------------------------------------------------------------------
def _chan_factory(impl: str, n: int) -> Callable[[], Coroutine[Any, Any, float]]:
    if impl.startswith("aiogc"):
        import aiogc

        async def main() -> float:
            a: aiogc.Chan[Any] = aiogc.Chan()
            b: aiogc.Chan[Any] = aiogc.Chan()

            async def pong() -> None:
                recv, send = a.recv, b.send
                for _ in range(n):
                    await send(await recv())

            t0 = perf()
            aiogc.go(pong())
            send, recv = a.send, b.recv
            for i in range(n):
                await send(i)
                await recv()
            return perf() - t0

        return main
    if impl == "trio":
        trio = _trio()

        async def tmain() -> float:
            a_s, a_r = trio.open_memory_channel(0)
            b_s, b_r = trio.open_memory_channel(0)

            async def pong() -> None:
                for _ in range(n):
                    await b_s.send(await a_r.receive())

            t0 = perf()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(pong)
                for i in range(n):
                    await a_s.send(i)
                    await b_r.receive()
            return perf() - t0

        return tmain

    async def amain() -> float:
        a: asyncio.Queue[int] = asyncio.Queue()
        b: asyncio.Queue[int] = asyncio.Queue()

        async def pong() -> None:
            for _ in range(n):
                await b.put(await a.get())

        t0 = perf()
        task = asyncio.get_running_loop().create_task(pong())
        for i in range(n):
            await a.put(i)
            await b.get()
        await task
        return perf() - t0

    return amain


# ---- mark (ported from bench/bench_mark.py) -----------------------------------------------------
def build_graph(n: int, seed: int = 1) -> tuple[Any, list[list[int]], list[int]]:
    """A random heap of ``n`` objects: 0..4 pointer slots each (mean 2), a slot nil with
    probability 0.3, else a uniformly random object; 64 random roots (about half reachable).
    Returns (aiogc Heap, the same graph as Python adjacency lists (nil = -1), roots)."""
    import numpy as np

    from aiogc.collector.heap import Heap

    rng = np.random.default_rng(seed)
    nptrs = rng.integers(0, 5, size=n)
    heap = Heap(initial_slots=n, initial_ptr_words=4 * n)
    alloc = heap.alloc
    for k in nptrs.tolist():
        alloc(max(16, 8 * k), k)
    ids = np.arange(n)
    cnt = nptrs.astype(np.int64)
    total = int(cnt.sum())
    starts = np.cumsum(cnt) - cnt
    idx = np.repeat(heap.ptr_off[ids] - starts, cnt) + np.arange(total)
    vals = rng.integers(0, n, size=total)
    vals[rng.random(total) < 0.3] = -1
    heap.ptrs[idx] = vals  # bench-only shortcut for n Ref writes
    flat = vals.tolist()
    adj: list[list[int]] = []
    pos = 0
    for k in nptrs.tolist():
        adj.append(flat[pos : pos + k])
        pos += k
    roots = rng.choice(n, size=min(64, n), replace=False).tolist()
    return heap, adj, roots


def python_bfs(adj: list[list[int]], roots: list[int]) -> tuple[int, int]:
    visited = [False] * len(adj)
    q: deque[int] = deque()
    for r in roots:
        if not visited[r]:
            visited[r] = True
            q.append(r)
    slots = 0
    nvis = len(q)
    while q:
        o = q.popleft()
        kids = adj[o]
        slots += len(kids)
        for c in kids:
            if c >= 0 and not visited[c]:
                visited[c] = True
                q.append(c)
                nvis += 1
    return nvis, slots


def aiogc_mark(heap: Any, roots: list[int]) -> tuple[int, int]:
    from aiogc.collector.mark import Marker

    heap.mark[:] = 0
    m = Marker(heap)
    m.reset()
    gcw = m.new_gcw()
    m.mark_roots(roots, gcw)
    work = m.drain(gcw, None)
    gcw.dispose()
    return int(heap.mark.sum()), work // 8


# ---- scale -------------------------------------------------------------------------------------------
_SCALE_CHILD = """
import json, resource, sys, time
from aiogc.experiments.workloads import run_seed
g, cycles = int(sys.argv[1]), int(sys.argv[2])
t0 = time.perf_counter()
rt = run_seed(gomaxprocs=g, seed=0, gogc=100, godebug="", clock="virtual", cycles=cycles, go_commit="64a32ffe")
wall = time.perf_counter() - t0
# VmHWM: this process image's own peak (ru_maxrss would also keep the forking parent's, as exec
# carries the pre-exec high-water mark over on Linux); ru_maxrss where there is no /proc.
try:
    with open("/proc/self/status") as f:
        rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
print(json.dumps({"wall_s": wall, "allocations": rt.gc.heap.nmalloc, "cycles": len(rt.stats.cycles),
                  "peak_rss_bytes": rss, "virtual_ns": rt.now_ns()}))
"""


def _limit_child() -> None:  # pragma: no cover - runs in the child
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (SCALE_AS_LIMIT, SCALE_AS_LIMIT))
    except (ImportError, ValueError, OSError):
        pass


def scale_point(gomaxprocs: int, cycles: int, timeout: float = SCALE_TIMEOUT_S) -> dict[str, Any]:
    """Run the seed workload at ``gomaxprocs`` for ``cycles`` cycles in a fresh interpreter.

    Returns ``{"wall_s", "allocations", "cycles", "peak_rss_bytes", "virtual_ns", "error": None}``,
    or ``{"error": why, "peak_rss_bytes": None}`` if the child timed out or failed.
    """
    import json
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("GODEBUG", None)
    try:
        cp = subprocess.run([sys.executable, "-c", _SCALE_CHILD, str(gomaxprocs), str(cycles)],
                            capture_output=True, text=True, timeout=timeout, env=env,
                            preexec_fn=_limit_child if os.name == "posix" else None)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:g} s", "peak_rss_bytes": None}
    if cp.returncode != 0:
        last = (cp.stderr.strip().splitlines() or [f"exit status {cp.returncode}"])[-1]
        return {"error": last[:200], "peak_rss_bytes": None}
    out: dict[str, Any] = json.loads(cp.stdout.strip().splitlines()[-1])
    out["error"] = None
    return out


# ---- results ----------------------------------------------------------------------------------
@dataclass
class Row:
    bench: str
    impl: str
    case: str
    samples: list[float]  # per-op values (ns, or bytes for memory rows)
    ops: int
    params: dict[str, Any] = field(default_factory=dict)
    metric: str = "ns_per_op"
    extra: dict[str, Any] = field(default_factory=dict)
    ratio_trampoline: float | None = None
    ratio_uvloop: float | None = None
    speedup: float | None = None  # mark: python-bfs time / aiogc time
    targets: list[str] = field(default_factory=list)
    passed: bool | None = None

    @property
    def value(self) -> float:
        """The median sample; NaN when there is none (a scale point that failed)."""
        return statistics.median(self.samples) if self.samples else float("nan")

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"bench": self.bench, "impl": self.impl, "case": self.case, "metric": self.metric}
        if self.metric == "ns_per_op":
            d["ns_per_op"] = self.value if self.samples else None
        else:
            d["ns_per_op"] = None
            d["bytes"] = self.value
        d["samples"] = list(self.samples)
        d["reps"] = len(self.samples)
        d["ops"] = self.ops
        d.update(self.params)
        d.update(self.extra)
        d["ratio_trampoline"] = self.ratio_trampoline
        d["ratio_uvloop"] = self.ratio_uvloop
        if self.speedup is not None:
            d["speedup_vs_python_bfs"] = self.speedup
        d["targets"] = list(self.targets)
        d["pass"] = self.passed
        return d


class Suite:
    def __init__(self, sizes: Sizes, reps: int, only: Sequence[str], log: Callable[[str], None]) -> None:
        self.sizes = sizes
        self.reps = reps
        self.only = list(only)
        self.log = log
        self.rows: list[Row] = []
        self.have_uvloop = _uvloop() is not None
        self.have_trio = _trio() is not None

    def _impls(self, aiogc_cases: Sequence[tuple[str, int]], others: Sequence[str]) -> list[tuple[str, int]]:
        out = list(aiogc_cases)
        for impl in others:
            if impl == "uvloop" and not self.have_uvloop or impl == "trio" and not self.have_trio:
                self.log(f"  ({impl} not installed: skipped)")
                continue
            out.append((impl, 0))
        return out

    def _measure(self, cases: list[tuple[str, int]], sample: Callable[[str, int], float], reps: int) -> list[list[float]]:
        """Round-robin ``reps`` samples over ``cases``; returns per-case sample lists (seconds or values)."""
        out: list[list[float]] = [[] for _ in cases]
        for _ in range(reps):
            for i, (impl, procs) in enumerate(cases):
                pygc.collect()
                out[i].append(sample(impl, procs))
        return out

    # -- the benches --
    def bench_switch(self) -> None:
        s = self.sizes
        cases = self._impls([("aiogc-virtual", 1), ("aiogc-virtual", 4), ("aiogc-wall", 1), ("aiogc-wall", 4)],
                            ["asyncio", "uvloop", "trio", "trampoline"])
        for k in s.switch_ks:
            m = max(1, s.switch_ops // k)
            ops = k * m

            def sample(impl: str, procs: int, k: int = k, m: int = m) -> float:
                if impl == "trampoline":
                    return switch_trampoline(k, m)
                return _run(impl, _switch_factory(impl, k, m), procs)

            t = perf()
            res = self._measure(cases, sample, self.reps)
            for (impl, procs), secs in zip(cases, res, strict=True):
                params: dict[str, Any] = {"k": k, "m": m}
                case = f"K={k} M={m}"
                if procs:
                    params["gomaxprocs"] = procs
                self.rows.append(Row("switch", impl, case, [x * 1e9 / ops for x in secs], ops, params))
            self.log(f"  switch K={k}: {perf() - t:.1f} s")

    def bench_spawn(self) -> None:
        s = self.sizes
        cases = self._impls([("aiogc-virtual", 1), ("aiogc-virtual", 4), ("aiogc-wall", 1)],
                            ["asyncio", "uvloop", "trio", "trampoline"])
        for n in s.spawn_ns:

            def sample(impl: str, procs: int, n: int = n) -> float:
                if impl == "trampoline":
                    return spawn_trampoline(n)
                return _run(impl, _spawn_factory(impl, n), procs)

            t = perf()
            reps = min(self.reps, s.big_spawn_reps) if n >= 1_000_000 else self.reps
            res = self._measure(cases, sample, reps)
            for (impl, procs), secs in zip(cases, res, strict=True):
                params: dict[str, Any] = {"n": n}
                if procs:
                    params["gomaxprocs"] = procs
                self.rows.append(Row("spawn", impl, f"N={n}", [x * 1e9 / n for x in secs], n, params))
            self.log(f"  spawn N={n}: {perf() - t:.1f} s")
        # memory per parked goroutine
        n = s.parked_n
        mcases = self._impls([("aiogc-virtual", 1), ("aiogc-wall", 1)], ["asyncio", "uvloop", "trio"])
        t = perf()
        tracemalloc.start()
        try:
            res = self._measure(mcases, lambda impl, procs: _run(impl, _parked_factory(impl, n), procs),
                                min(self.reps, 3))
        finally:
            tracemalloc.stop()
        for (impl, procs), vals in zip(mcases, res, strict=True):
            params = {"n": n}
            if procs:
                params["gomaxprocs"] = procs
            self.rows.append(Row("spawn", impl, f"parked N={n}", vals, n, params, metric="bytes_per_parked"))
        self.log(f"  spawn parked-memory N={n}: {perf() - t:.1f} s")

    def bench_chan(self) -> None:
        n = self.sizes.chan_n
        cases = self._impls([("aiogc-virtual", 1), ("aiogc-virtual", 4), ("aiogc-wall", 1), ("aiogc-wall", 4)],
                            ["asyncio", "uvloop", "trio"])
        t = perf()
        res = self._measure(cases, lambda impl, procs: _run(impl, _chan_factory(impl, n), procs), self.reps)
        for (impl, procs), secs in zip(cases, res, strict=True):
            params: dict[str, Any] = {"n": n}
            if procs:
                params["gomaxprocs"] = procs
            self.rows.append(Row("chan", impl, f"N={n}", [x * 1e9 / n for x in secs], n, params))
        self.log(f"  chan N={n}: {perf() - t:.1f} s")

    def bench_mark(self) -> None:
        n = self.sizes.mark_n
        t = perf()
        heap, adj, roots = build_graph(n)
        self.log(f"  mark: built {n:,} objects in {perf() - t:.1f} s")
        py_s: list[float] = []
        ag_s: list[float] = []
        slots = 0
        for _ in range(self.reps):
            pygc.collect()
            t0 = perf()
            nv_py, slots_py = python_bfs(adj, roots)
            py_s.append(perf() - t0)
            pygc.collect()
            t0 = perf()
            nv_ag, slots_ag = aiogc_mark(heap, roots)
            ag_s.append(perf() - t0)
            if (nv_py, slots_py) != (nv_ag, slots_ag):
                raise RuntimeError(f"mark bench: python BFS found {nv_py} objects / {slots_py} slots, "
                                   f"aiogc {nv_ag} / {slots_ag}")
            slots = slots_py
        case = f"objects={n}"
        params = {"objects": n, "reachable": nv_py, "slots": slots}
        for impl, secs in (("aiogc-virtual", ag_s), ("python-bfs", py_s)):
            row = Row("mark", impl, case, [x * 1e9 / max(1, slots) for x in secs], slots, dict(params))
            row.extra["slots_per_s"] = slots / statistics.median(secs)
            if impl == "aiogc-virtual":
                row.extra["note"] = "Marker.drain (batched numpy); independent of the clock"
            self.rows.append(row)
        del heap, adj
        self.log(f"  mark: {perf() - t:.1f} s")

    def bench_simulation(self) -> None:
        from aiogc.experiments.workloads import run_seed

        cycles = self.sizes.sim_cycles
        t = perf()
        walls: list[float] = []
        per: list[tuple[float, float, float, int, int, int]] = []
        for _ in range(self.reps):
            pygc.collect()
            t0 = perf()
            # 64a32ffe: at the seed a dedicated worker can livelock mark 1 at GOMAXPROCS >= 4
            # (docs/realgo.md, mechanism C); the benchmarks measure the scheduler, not that livelock.
            rt = run_seed(gomaxprocs=4, seed=0, gogc=100, godebug="", clock="virtual", cycles=cycles,
                          go_commit="64a32ffe")
            wall = perf() - t0
            nalloc = rt.gc.heap.nmalloc
            nsched = rt.sched.nsched
            vns = rt.now_ns()
            walls.append(wall)
            per.append((nalloc / wall, nsched / wall, vns / (wall * 1e9), nalloc, nsched, vns))
            del rt
        i = sorted(range(len(walls)), key=walls.__getitem__)[len(walls) // 2]  # the median run
        allocs_s, steps_s, v_per_w, nalloc, nsched, vns = per[i]
        row = Row("simulation", "aiogc-virtual", f"seed cycles={cycles}",
                  [w * 1e9 / max(1, p[3]) for w, p in zip(walls, per, strict=True)], nalloc,
                  {"gomaxprocs": 4, "cycles": cycles})
        row.extra.update({
            "allocs_per_s": allocs_s, "steps_per_s": steps_s, "virtual_ns_per_wall_ns": v_per_w,
            "allocations": nalloc, "steps": nsched, "virtual_ns": vns, "wall_s": walls[i],
            "samples_allocs_per_s": [p[0] for p in per],
        })
        self.rows.append(row)
        self.log(f"  simulation: {perf() - t:.1f} s")

    def bench_scale(self) -> None:
        s = self.sizes
        t = perf()
        procs = list(s.scale_procs)
        cycles = s.scale_cycles
        reps = max(1, min(self.reps, s.scale_reps))
        got: dict[int, list[dict[str, Any]]] = {g: [] for g in procs}
        for _ in range(reps):  # round-robin over the points, as the other benches interleave impls
            for g in procs:
                got[g].append(scale_point(g, cycles))
        for g in procs:
            ok = [r for r in got[g] if r.get("error") is None]
            bad = [r for r in got[g] if r.get("error") is not None]
            samples = [r["wall_s"] * 1e9 / max(1, r["allocations"]) for r in ok]
            row = Row("scale", "aiogc-virtual", f"seed cycles={cycles}", samples,
                      ok[0]["allocations"] if ok else 0, {"gomaxprocs": g, "cycles": cycles})
            rss = max(r["peak_rss_bytes"] for r in got[g] if r.get("peak_rss_bytes") is not None) \
                if any(r.get("peak_rss_bytes") is not None for r in got[g]) else None
            row.extra.update({
                "peak_rss_bytes": rss,
                "cycles_done": min((r["cycles"] for r in ok), default=0),
                "allocations": ok[0]["allocations"] if ok else 0,
                "wall_s": statistics.median(r["wall_s"] for r in ok) if ok else None,
                "error": bad[0]["error"] if bad else None,
            })
            self.rows.append(row)
            e = row.extra
            self.log(f"  scale P={g}: " + (f"{row.value:,.0f} ns/alloc, peak RSS {rss / 2**20:,.0f} MiB"
                                             if ok and rss is not None else f"failed: {e['error']}"))
        self.log(f"  scale: {perf() - t:.1f} s")

    def run(self) -> None:
        for name in BENCHES:
            if name in self.only:
                self.log(f"{name} ...")
                getattr(self, f"bench_{name}")()
        annotate(self.rows)


# ---- ratios and targets ---------------------------------------------------------------------------
@dataclass
class Target:
    target: str
    case: str
    value: float
    limit: float
    passed: bool
    unit: str = "x"

    def to_json(self) -> dict[str, Any]:
        value = None if self.value != self.value else self.value  # NaN (nothing measured) -> null
        return {"target": self.target, "case": self.case, "value": value, "limit": self.limit,
                "unit": self.unit, "pass": self.passed}


def annotate(rows: list[Row]) -> list[Target]:
    """Fill each row's ratios and PASS/MISS; return the target checks (also kept on the rows)."""
    by_case: dict[tuple[str, str], dict[str, Row]] = {}
    for r in rows:
        if r.metric == "ns_per_op" and "gomaxprocs" not in r.params:
            by_case.setdefault((r.bench, r.case), {})[r.impl] = r
    checks: list[Target] = []

    def check(row: Row, name: str, short: str, value: float, limit: float, ok: bool, unit: str = "x") -> None:
        row.targets.append(short)
        row.passed = ok if row.passed is None else (row.passed and ok)
        checks.append(Target(name, _label(row), value, limit, ok, unit))

    for r in rows:
        if r.metric != "ns_per_op":
            continue
        base = by_case.get((r.bench, r.case), {})
        v = r.value
        if "trampoline" in base:
            r.ratio_trampoline = v / base["trampoline"].value
        if "uvloop" in base:
            r.ratio_uvloop = v / base["uvloop"].value
        if r.bench == "mark" and "python-bfs" in base and r.impl != "python-bfs":
            r.speedup = base["python-bfs"].value / v
    for r in rows:
        procs = r.params.get("gomaxprocs")
        if r.bench == "switch" and r.impl == "aiogc-virtual":
            if r.ratio_trampoline is not None:
                lim = 2.5 if procs == 1 else 4.0
                check(r, f"virtual gosched <= {lim:g}x trampoline (P={procs})", f"<={lim:g}x tramp",
                      r.ratio_trampoline, lim,
                      r.ratio_trampoline <= lim)
            if r.ratio_uvloop is not None:
                check(r, "virtual gosched < uvloop sleep(0)", "<uvloop", r.ratio_uvloop, 1.0, r.ratio_uvloop < 1.0)
        elif r.bench == "switch" and r.impl == "aiogc-wall" and r.ratio_uvloop is not None:
            check(r, "wall gosched < uvloop sleep(0)", "<uvloop", r.ratio_uvloop, 1.0, r.ratio_uvloop < 1.0)
        elif r.bench == "spawn" and r.impl.startswith("aiogc") and r.metric == "ns_per_op" \
                and r.ratio_uvloop is not None:
            check(r, "spawn+finish < uvloop create_task", "<uvloop", r.ratio_uvloop, 1.0, r.ratio_uvloop < 1.0)
        elif r.bench == "spawn" and r.impl.startswith("aiogc") and r.metric == "bytes_per_parked":
            check(r, "parked goroutine < 1 KiB", "<1 KiB", r.value, 1024, r.value < 1024, "B")
        elif r.bench == "mark" and r.impl == "aiogc-virtual" and r.speedup is not None:
            check(r, "mark >= 5x python BFS", ">=5x bfs", r.speedup, 5.0, r.speedup >= 5.0)
        elif r.bench == "simulation":
            a = r.extra["allocs_per_s"]
            check(r, "seed workload >= 500,000 allocs/s", ">=500k allocs/s", a, 500_000, a >= 500_000, "/s")
        elif r.bench == "scale":
            e = r.extra
            done = e["error"] is None and e["cycles_done"] >= min(4, r.params["cycles"])
            check(r, f"finishes {min(4, r.params['cycles'])}+ cycles", "cycles", float(e["cycles_done"]),
                  float(min(4, r.params["cycles"])), done, "cycles")
            rss = e["peak_rss_bytes"]
            check(r, "peak RSS < 2 GiB", "<2 GiB", float(rss if rss is not None else "nan"),
                  SCALE_RSS_LIMIT, rss is not None and rss < SCALE_RSS_LIMIT, "B")
    scale = {r.params["gomaxprocs"]: r for r in rows if r.bench == "scale" and r.samples}
    if 4 in scale and len(scale) > 1:
        top = scale[max(scale)]
        ratio = top.value / scale[4].value
        top.extra["ratio_vs_gomaxprocs_4"] = ratio
        check(top, f"ns/alloc at P={max(scale)} <= 2x P=4", "<=2x P=4", ratio, 2.0, ratio <= 2.0)
    return checks


def _label(r: Row) -> str:
    procs = r.params.get("gomaxprocs")
    return f"{r.bench} {r.case}{f' P={procs}' if procs else ''} {r.impl}"


def target_checks(rows: list[Row]) -> list[Target]:
    for r in rows:
        r.targets = []
        r.passed = None
    return annotate(rows)


# ---- output -----------------------------------------------------------------------------------
def _fmt_ns(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:,.2f} ms"
    if v >= 1e4:
        return f"{v / 1e3:,.1f} µs"
    return f"{v:,.1f}"


def _fmt_bytes(v: float) -> str:
    if v != v:
        return "-"
    if v >= 1 << 30:
        return f"{v / (1 << 30):,.2f} GiB"
    if v >= 1 << 20:
        return f"{v / (1 << 20):,.0f} MiB"
    return f"{v:,.0f} B"


def _fmt_ratio(v: float | None) -> str:
    return "" if v is None else f"{v:.2f}x"


def render(rows: list[Row], checks: list[Target], console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    if console is None:
        console = Console(width=None if sys.stdout.isatty() else 150)
    t = Table(title="aiogc bench: median ns/op (lower is better); ratios = this / baseline, same run")
    t.add_column("bench")
    t.add_column("case")
    t.add_column("impl")
    t.add_column("P", justify="right")
    t.add_column("ns/op", justify="right")
    t.add_column("x trampoline", justify="right")
    t.add_column("x uvloop", justify="right")
    t.add_column("other", justify="right", no_wrap=True)
    t.add_column("target", no_wrap=True)
    t.add_column("result")
    last = None
    for r in rows:
        if last is not None and (r.bench, r.case) != last:
            t.add_section()
        last = (r.bench, r.case)
        procs = r.params.get("gomaxprocs")
        other = ""
        if r.metric == "bytes_per_parked":
            ns = f"{r.value:,.0f} B"
        else:
            ns = _fmt_ns(r.value)
        if r.bench == "mark":
            other = f"{r.extra['slots_per_s'] / 1e6:,.1f} M slots/s"
            if r.speedup is not None:
                other += f"\n{r.speedup:.1f}x python-bfs speed"
        elif r.bench == "simulation":
            e = r.extra
            other = (f"{e['allocs_per_s']:,.0f} allocs/s\n{e['steps_per_s']:,.0f} steps/s\n"
                     f"{e['virtual_ns_per_wall_ns']:.4f} virtual ns/wall ns")
        elif r.bench == "scale":
            e = r.extra
            rss = e["peak_rss_bytes"]
            other = "" if rss is None else f"peak RSS {_fmt_bytes(rss)}"
            if e.get("ratio_vs_gomaxprocs_4") is not None:
                other += f"\n{e['ratio_vs_gomaxprocs_4']:.2f}x P=4 ns/alloc"
            if e["error"] is not None:
                ns = "-"
                other += f"\n{e['error'][:60]}"
        result = "" if r.passed is None else ("[green]PASS[/]" if r.passed else "[red]MISS[/]")
        t.add_row(r.bench, r.case, r.impl, str(procs or ""), ns, _fmt_ratio(r.ratio_trampoline),
                  _fmt_ratio(r.ratio_uvloop), other, ", ".join(r.targets), result)
    console.print(t)
    if checks:
        s = Table(title="targets")
        s.add_column("target")
        s.add_column("where")
        s.add_column("measured", justify="right")
        s.add_column("limit", justify="right")
        s.add_column("result")
        for c in checks:
            if c.unit == "x":
                meas, lim = f"{c.value:.2f}x", f"{c.limit:g}x"
            elif c.unit == "B":
                meas, lim = _fmt_bytes(c.value), _fmt_bytes(c.limit)
            elif c.unit == "cycles":
                meas, lim = f"{c.value:.0f}", f"{c.limit:.0f}"
            else:
                meas, lim = f"{c.value:,.0f}/s", f"{c.limit:,.0f}/s"
            s.add_row(c.target, c.case, meas, lim, "[green]PASS[/]" if c.passed else "[red]MISS[/]")
        console.print(s)
        npass = sum(c.passed for c in checks)
        console.print(f"{npass}/{len(checks)} target checks pass")


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, Any] = {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
                            "implementation": platform.python_implementation(), "platform": platform.platform()}
    u, t = _uvloop(), _trio()
    info["uvloop"] = getattr(u, "__version__", None) if u else None
    info["trio"] = getattr(t, "__version__", None) if t else None
    try:
        import numpy

        info["numpy"] = numpy.__version__
    except ImportError:
        pass
    return info


# ---- command line -----------------------------------------------------------------------------------
def _only(s: str) -> list[str]:
    names = [x.strip() for x in s.split(",") if x.strip()]
    bad = [x for x in names if x not in BENCHES]
    if not names or bad:
        raise argparse.ArgumentTypeError(
            f"unknown benchmark {', '.join(map(repr, bad)) or repr(s)}; choose from {', '.join(BENCHES)}")
    return names




def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``bench``'s flags to ``parser`` (the ``bench`` subparser)."""
    parser.add_argument("--quick", action="store_true",
                        help="small sizes (K up to 100, 100,000 spawns, 200,000-object mark graph): under a minute")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument("--only", type=_only, metavar="NAMES",
                        help=f"comma list of benchmarks to run (default all: {','.join(BENCHES)})")
    parser.add_argument("--reps", type=_reps, metavar="N",
                        help="repetitions per measurement; the median is reported (default 5, --quick 3)")
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # for the smoke test


def run_suite(sizes: Sizes, reps: int | None = None, only: Sequence[str] | None = None, *,
              log: Callable[[str], None] | None = None) -> tuple[list[Row], list[Target]]:
    """Run the selected benchmarks; return (rows, target checks)."""
    suite = Suite(sizes, reps or sizes.reps, list(only) if only else list(BENCHES),
                  log or (lambda s: None))
    suite.run()
    checks = target_checks(suite.rows)
    return suite.rows, checks


def to_json(rows: list[Row], checks: list[Target], *, quick: bool, command: str) -> dict[str, Any]:
    return {"version": 1, "quick": quick, "machine": machine_info(), "command": command,
            "results": [r.to_json() for r in rows], "targets": [c.to_json() for c in checks]}


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the suite from parsed ``bench`` arguments; print the table; write ``--json``.  Returns 0."""
    tiny = getattr(args, "tiny", False)
    quick = bool(args.quick)
    sizes = TINY if tiny else QUICK if quick else FULL
    json_path = args.json
    if json_path:
        d = os.path.dirname(os.path.abspath(json_path))
        if not os.path.isdir(d):
            raise _cli_error(f"--json: directory {d} does not exist")

    def log(s: str) -> None:
        print(s, file=sys.stderr, flush=True)

    t0 = perf()
    mode = "tiny" if tiny else "quick" if quick else "full"
    log(f"aiogc bench ({mode}; {args.reps or sizes.reps} reps; medians)")
    rows, checks = run_suite(sizes, args.reps, args.only, log=log)
    log(f"total {perf() - t0:.1f} s")
    render(rows, checks)
    if json_path:
        data = to_json(rows, checks, quick=quick or tiny, command=" ".join(["aiogc", *sys.argv[1:]]))
        write_json(json_path, data, indent=1)
    return 0


def _cli_error(msg: str) -> BaseException:
    return CLIError(msg)


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry (``python -m aiogc.bench.suite``), same flags as ``aiogc bench``."""
    p = ArgumentParser(prog="aiogc bench", description=__doc__.splitlines()[0])
    add_bench_arguments(p)
    try:
        args = p.parse_args(list(argv) if argv is not None else None)
        return cmd_bench(args)
    except SystemExit as e:
        code = e.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except CLIError as e:
        return fail(str(e))


if __name__ == "__main__":
    sys.exit(main())
