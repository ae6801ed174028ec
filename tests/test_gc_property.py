"""Property tests of the concurrent collector: random mutator programs against a model.

A program is a list of operations drawn by Hypothesis (or, in the seeded sweep below, by a
``random.Random``), each tagged with the worker goroutine that runs it.  Workers run concurrently
on GOMAXPROCS 1..4 with a small GOGC and heap minimum, and "big" garbage allocations keep the
collector cycling, so background cycles run *during* the program: the write barrier, stack
re-scans and allocation colour all matter.  GODEBUG=gccheckmark=1 re-marks after every cycle and
raises ``CheckmarkError`` if concurrent mark missed a reachable object.

The program's own view of its heap is kept in plain Python (``_M``): objects and their pointer
slots as ``(id, generation)`` keys — plain ints, so the model itself is never a GC root — and
the roots: each worker's locals, each holder goroutine's arguments, the globals.  Invariants:

  1. nothing reachable is ever freed: after every operation, every object reachable in the model
     is ``alive`` and its pointer slots hold exactly what the model says;
  2. garbage is collected: the objects unreachable at a snapshot are freed once two more cycles
     have finished (the one in progress, if any, and a full one that started after the snapshot);
  3. at the end (two forced cycles after all goroutines are done), the heap holds exactly the
     objects reachable from the globals.

Any live ``Ref`` keeps its object (the root contract), so the interpreter never leaves a ``Ref``
anywhere the model does not count: each operation runs in its own short-lived frame (``_step``).
Programs also *stash* Refs in places no stack scan reaches (``_STASH``, a module global: deques,
OrderedDicts, namespaces, ``__slots__`` objects, exception args, suspended generators, closures,
partials, C iterators) and unstash them later; the model counts stashed Refs as roots.
"""

from __future__ import annotations

import collections
import functools
import random
import types
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

import aiogc
from aiogc.collector.heap import Ref

Key = tuple[int, int]  # (object id, generation)


@dataclass
class Model:
    heap: Any = None
    objs: dict[Key, list[Key | None]] = field(default_factory=dict)
    roots: dict[str, list[Key]] = field(default_factory=dict)  # "w0", "h3", "globals"
    globs: dict[str, Key] = field(default_factory=dict)
    pending: list[tuple[int, set[Key]]] = field(default_factory=list)
    garbage: set[Key] = field(default_factory=set)
    holders: list[tuple[int, aiogc.Chan]] = field(default_factory=list)
    next_holder: int = 0
    checks: int = 0
    garbage_verified: int = 0
    background_cycles_seen: int = 0
    errors: list[str] = field(default_factory=list)


_M = Model()  # module global: it holds keys, never Refs


class _Slots:
    __slots__ = ("held",)

    def __init__(self, held: Any) -> None:
        self.held = held


def _suspended(r: Ref) -> Any:
    def gen() -> Any:
        yield r

    return gen()


#: places a Ref can be stashed in, each as (put, get); none is a reference cycle, so an
#: unstashed Ref dies at once and invariant 2 holds exactly
STASH_PLACES: list[tuple[Any, Any]] = [
    (lambda r: collections.deque([r]), lambda h: h[0]),
    (lambda r: collections.OrderedDict(k=r), lambda h: h["k"]),
    (lambda r: types.SimpleNamespace(held=r), lambda h: h.held),
    (_Slots, lambda h: h.held),
    (lambda r: ValueError("stashed", r), lambda h: h.args[1]),
    (_suspended, lambda h: h.gi_frame.f_locals["r"]),
    (lambda r: (lambda: r), lambda h: h()),
    (lambda r: functools.partial(int, r), lambda h: h.args[0]),
    (lambda r: iter((0, r)), lambda h: h.__reduce__()[1][0][1]),
]
#: per worker: (place index, holder) in stash order; the model's root "s<wid>" follows it
_STASH: dict[int, list[tuple[int, Any]]] = {}


def key(r: Ref) -> Key:
    return (r.id, r.gen)


def ref(k: Key) -> Ref:
    r = Ref(_M.heap, k[0], k[1])
    if not r.alive:
        raise AssertionError(f"invariant 1: reachable object {k} was freed")
    return r


def reach(root_keys: list[Key]) -> list[Key]:
    """Model reachability (deterministic order: BFS)."""
    seen: dict[Key, None] = {}
    todo = list(root_keys)
    while todo:
        k = todo.pop(0)
        if k in seen:
            continue
        seen[k] = None
        todo.extend(c for c in _M.objs[k] if c is not None)
    return list(seen)


def all_roots() -> list[Key]:
    out: list[Key] = []
    for ks in _M.roots.values():
        out.extend(ks)
    out.extend(_M.globs.values())
    return out


def check_invariants(num_gc: int) -> None:
    """Invariants 1 and 2 (see module docstring); raises AssertionError."""
    _M.checks += 1
    for k in reach(all_roots()):
        r = ref(k)
        want = _M.objs[k]
        got = [None if x is None else key(x) for x in r]
        if got != want:
            raise AssertionError(f"invariant 1: object {k} slots {got} != model {want}")
    keep = []
    for n0, keys in _M.pending:
        if num_gc >= n0 + 2:
            alive = [k for k in keys if _M.heap._gen_v[k[0]] == k[1]]
            if alive:
                raise AssertionError(f"invariant 2: garbage at cycle {n0} still alive after cycle {num_gc}: {alive}")
            _M.garbage_verified += len(keys)
        else:
            keep.append((n0, keys))
    _M.pending = keep


def snapshot(num_gc: int) -> None:
    """Record what is garbage now; it must be freed two cycles later."""
    live = set(reach(all_roots()))
    dead = {k for k in _M.objs if k not in live}
    for k in dead:
        del _M.objs[k]
    _M.garbage |= dead
    if dead:
        _M.pending.append((num_gc, dead))


# ----------------------------------------------------------------------------- the interpreter


async def holder(hid: int, refs: tuple[Ref, ...], ch: aiogc.Chan, wg: aiogc.WaitGroup) -> None:
    """Holds ``refs`` only in its frame, parked on ``ch`` until released."""
    await ch.recv()
    for r in refs:
        if not r.alive:
            _M.errors.append(f"holder {hid}: its object {key(r)} was freed while it was parked")
    del refs
    _M.roots.pop(f"h{hid}")
    wg.done()


async def _step(wid: int, locs: list[Ref], op: tuple[Any, ...], holders_wg: aiogc.WaitGroup) -> None:
    """Run one operation of worker ``wid``; its temporaries die with this frame."""
    mine = _M.roots[f"w{wid}"]
    kind = op[0]
    if kind == "alloc":
        _, size, nptrs = op
        nptrs = min(nptrs, size // 8)
        r = await aiogc.alloc(size, nptrs)
        locs.append(r)
        _M.objs[key(r)] = [None] * nptrs
        mine.append(key(r))
    elif kind in ("store", "nil", "load"):
        visible = reach(mine + list(_M.globs.values()))
        srcs = [k for k in visible if _M.objs[k]]
        if not srcs:
            return
        src = srcs[op[1] % len(srcs)]
        slot = op[2] % len(_M.objs[src])
        if kind == "store":
            dst = visible[op[3] % len(visible)]
            ref(src)[slot] = ref(dst)  # the write barrier shades dst while marking
            _M.objs[src][slot] = dst
        elif kind == "nil":
            ref(src)[slot] = None
            _M.objs[src][slot] = None
        else:  # load: copy a heap pointer into a local (then maybe delete it from the heap)
            r = ref(src)[slot]
            if r is not None:
                locs.append(r)
                mine.append(key(r))
    elif kind == "move":
        # The write barrier's case: move a pointer from one heap slot to another, deleting the
        # original, without it ever staying in a local.  If the destination was already scanned
        # (black) and nothing else reaches the pointee, only the barrier's shade saves it.
        visible = reach(mine + list(_M.globs.values()))
        holding = [(k, i) for k in visible for i, c in enumerate(_M.objs[k]) if c is not None]
        dsts = [k for k in visible if _M.objs[k]]
        if not holding or not dsts:
            return
        src, i = holding[op[1] % len(holding)]
        dst = dsts[op[2] % len(dsts)]
        j = op[3] % len(_M.objs[dst])
        ref(dst)[j] = ref(src)[i]
        _M.objs[dst][j] = _M.objs[src][i]
        ref(src)[i] = None
        _M.objs[src][i] = None
    elif kind == "tree":
        # a parent array whose children are reachable only through it (not from any local)
        _, nkids, kid_ptrs = op
        parent = await aiogc.alloc(8 * nkids, nkids)
        locs.append(parent)
        pk = key(parent)
        _M.objs[pk] = [None] * nkids
        mine.append(pk)
        for t in range(nkids):
            kid = await aiogc.alloc(8 * kid_ptrs + 8, kid_ptrs)
            parent[t] = kid
            _M.objs[key(kid)] = [None] * kid_ptrs
            _M.objs[pk][t] = key(kid)
    elif kind == "fill":
        # point many slots of one object at visible objects (big, scan-heavy pointer arrays)
        visible = reach(mine + list(_M.globs.values()))
        arrays = [k for k in visible if len(_M.objs[k]) >= 8]
        if not arrays:
            return
        a = arrays[op[1] % len(arrays)]
        ra = ref(a)
        n = len(_M.objs[a])
        for t in range(0, n, max(1, n // 32)):
            k = visible[(op[2] + 7 * t) % len(visible)]
            ra[t] = ref(k)
            _M.objs[a][t] = k
    elif kind == "drop":
        if locs:
            i = op[1] % len(locs)
            del locs[i]
            del mine[i]
    elif kind == "global":
        name = f"g{op[1]}"
        visible = mine + list(_M.globs.values())
        if op[2] < 0 or not visible:
            aiogc.globals().pop(name, None)
            _M.globs.pop(name, None)
        else:
            k = visible[op[2] % len(visible)]
            aiogc.globals()[name] = ref(k)
            _M.globs[name] = k
    elif kind == "spawn":
        if not locs:
            return
        refs = tuple(locs[i % len(locs)] for i in op[1])
        hid = _M.next_holder
        _M.next_holder += 1
        ch = aiogc.Chan(1)
        _M.roots[f"h{hid}"] = [key(r) for r in refs]
        _M.holders.append((hid, ch))
        holders_wg.add(1)
        aiogc.go(holder(hid, refs, ch, holders_wg))
    elif kind == "release":
        if _M.holders:
            _hid, ch = _M.holders.pop(op[1] % len(_M.holders))
            await ch.send(None)
    elif kind == "stash":
        if not locs:
            return
        r = locs[op[1] % len(locs)]
        place = op[2] % len(STASH_PLACES)
        _STASH.setdefault(wid, []).append((place, STASH_PLACES[place][0](r)))
        _M.roots.setdefault(f"s{wid}", []).append(key(r))
    elif kind == "unstash":
        stash = _STASH.get(wid)
        if stash:
            j = op[1] % len(stash)
            place, h = stash[j]
            got = STASH_PLACES[place][1](h)
            if key(got) != _M.roots[f"s{wid}"][j]:
                raise AssertionError(f"stash place {place} gave {key(got)}, model {_M.roots[f's{wid}'][j]}")
            del stash[j], got, h
            del _M.roots[f"s{wid}"][j]
    elif kind == "gosched":
        await aiogc.gosched()
    elif kind == "compute":
        await aiogc.compute(op[1])
    elif kind == "big":
        await aiogc.alloc(op[1], 0)  # garbage at once: drives the pacer
    elif kind == "snapshot":
        snapshot(aiogc.read_mem_stats().num_gc)
    else:  # pragma: no cover
        raise AssertionError(f"unknown op {op!r}")


async def worker(wid: int, ops: list[tuple[Any, ...]], wg: aiogc.WaitGroup, holders_wg: aiogc.WaitGroup) -> None:
    locs: list[Ref] = []
    _M.roots[f"w{wid}"] = []
    for op in ops:
        await _step(wid, locs, op, holders_wg)
        check_invariants(aiogc.read_mem_stats().num_gc)
        await aiogc.compute(20_000)  # interleave with the other Ps and the churn
    locs.clear()
    del _M.roots[f"w{wid}"]
    wg.done()


async def churn(size: int, stop: list[bool], done: aiogc.WaitGroup) -> None:
    """Allocates garbage while the workers run, so background cycles overlap the program."""
    while not stop[0]:
        await aiogc.alloc(size, size // 64)  # dropped at once
        await aiogc.compute(1_000)
    done.done()


def _drop_stash() -> None:
    """Read every stashed Ref back, then drop the stash (in a frame of its own: a loop
    variable left in ``program``'s frame would keep the last holder, and its object, alive)."""
    for wid in list(_STASH):
        for j, (place, h) in enumerate(_STASH[wid]):
            if key(STASH_PLACES[place][1](h)) != _M.roots[f"s{wid}"][j]:
                raise AssertionError(f"stash place {place} of worker {wid} lost its Ref")
        del _STASH[wid], _M.roots[f"s{wid}"]


async def program(nworkers: int, ops: list[tuple[int, tuple[Any, ...]]], churn_size: int) -> dict[str, Any]:
    _M.heap = aiogc.current_runtime().gc.heap
    wg = aiogc.WaitGroup()
    holders_wg = aiogc.WaitGroup()
    stop = [False]
    churn_wg = aiogc.WaitGroup()
    if churn_size:
        churn_wg.add(1)
        aiogc.go(churn(churn_size, stop, churn_wg))
    for w in range(nworkers):
        wg.add(1)
        aiogc.go(worker(w, [op for (ww, op) in ops if ww % nworkers == w], wg, holders_wg))
    await wg.wait()
    stop[0] = True
    await churn_wg.wait()
    background = aiogc.read_mem_stats().num_gc
    while _M.holders:
        _hid, ch = _M.holders.pop()
        await ch.send(None)
    await holders_wg.wait()
    _drop_stash()
    snapshot(aiogc.read_mem_stats().num_gc)
    await aiogc.gc()
    await aiogc.gc()
    n = aiogc.read_mem_stats().num_gc
    check_invariants(n)
    assert not _M.pending
    # invariant 3: exactly what the globals reach is left
    live = reach(list(_M.globs.values()))
    for k in live:
        ref(k)
    alive_garbage = [k for k in _M.garbage if _M.heap._gen_v[k[0]] == k[1]]
    assert alive_garbage == []
    stats = aiogc.read_mem_stats()
    assert stats.heap_objects == len(live), (stats.heap_objects, len(live))
    assert stats.heap_alloc == sum(ref(k).size for k in live)
    _M.heap.check_invariants()
    return {"background_cycles": background, "cycles": n}


def run_program(ops: list[tuple[int, tuple[Any, ...]]], *, nworkers: int, gomaxprocs: int, gogc: int,
                heap_minimum: int, seed: int, policy: str = "seed", yield_after_assist: bool = True,
                churn_size: int = 0, scan_word_ns: int = 2, go_commit: str = "500c88d4") -> dict[str, Any]:
    global _M
    _M = Model()
    _STASH.clear()
    rt = aiogc.Runtime(gomaxprocs=gomaxprocs, gogc=gogc, heap_minimum=heap_minimum, seed=seed,
                       godebug="gccheckmark=1", assist_policy=policy, yield_after_assist=yield_after_assist,
                       cost_scan_word_ns=scan_word_ns, go_commit=go_commit)
    try:
        res = rt.run(program(nworkers, ops, churn_size))
    except aiogc.GoroutinePanic as e:
        raise AssertionError(f"goroutine panic: {e.exc!r}") from e
    assert _M.errors == []
    assert all(c.n == i + 1 for i, c in enumerate(rt.stats.cycles))
    res["garbage_verified"] = _M.garbage_verified
    res["checks"] = _M.checks
    return res


# ----------------------------------------------------------------------------- strategies

IDX = st.integers(0, 1_000)
OPS = st.one_of(
    st.tuples(st.just("alloc"), st.integers(0, 600), st.integers(0, 6)),
    st.tuples(st.just("alloc"), st.integers(8, 64), st.integers(1, 4)),
    st.integers(64, 2048).map(lambda n: ("alloc", 8 * n, n)),  # a pointer array: much scan work
    st.tuples(st.just("move"), IDX, IDX, IDX),
    st.tuples(st.just("move"), IDX, IDX, IDX),
    st.tuples(st.just("tree"), st.integers(1, 512), st.integers(0, 8)),
    st.tuples(st.just("tree"), st.integers(100, 400), st.integers(1, 4)),
    st.tuples(st.just("fill"), IDX, IDX),
    st.tuples(st.just("store"), IDX, IDX, IDX),
    st.tuples(st.just("nil"), IDX, IDX),
    st.tuples(st.just("load"), IDX, IDX),
    st.tuples(st.just("drop"), IDX),
    st.tuples(st.just("global"), st.integers(0, 3), st.integers(-1, 50)),
    st.tuples(st.just("spawn"), st.lists(IDX, min_size=1, max_size=3)),
    st.tuples(st.just("release"), IDX),
    st.tuples(st.just("gosched")),
    st.tuples(st.just("stash"), IDX, IDX),
    st.tuples(st.just("stash"), IDX, IDX),
    st.tuples(st.just("unstash"), IDX),
    st.tuples(st.just("compute"), st.integers(0, 200_000)),
    st.tuples(st.just("big"), st.integers(33_000, 1_500_000)),
    st.tuples(st.just("big"), st.integers(100_000, 1_500_000)),
    st.tuples(st.just("snapshot")),
)
PROGRAM = st.lists(st.tuples(st.integers(0, 3), OPS), min_size=30, max_size=150)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    ops=PROGRAM,
    nworkers=st.integers(1, 4),
    gomaxprocs=st.integers(1, 4),
    gogc=st.integers(10, 50),
    heap_minimum=st.sampled_from([4 << 10, 16 << 10, 64 << 10]),
    seed=st.integers(0, 2**16),
    policy=st.sampled_from(["seed", "retry", "queue"]),
    yield_after_assist=st.booleans(),
    churn_size=st.sampled_from([0, 4096, 32768, 65536]),
    scan_word_ns=st.sampled_from([2, 20, 200]),  # slower marking: longer mark phases
)
def test_random_programs_keep_reachable_and_free_garbage(
    ops: list[tuple[int, tuple[Any, ...]]], nworkers: int, gomaxprocs: int, gogc: int, heap_minimum: int,
    seed: int, policy: str, yield_after_assist: bool, churn_size: int, scan_word_ns: int,
) -> None:
    res = run_program(ops, nworkers=nworkers, gomaxprocs=gomaxprocs, gogc=gogc, heap_minimum=heap_minimum,
                      seed=seed, policy=policy, yield_after_assist=yield_after_assist, churn_size=churn_size,
                      scan_word_ns=scan_word_ns)
    note(repr(res))
    event(f"background cycles: {min(res['background_cycles'], 5)}{'+' if res['background_cycles'] >= 5 else ''}")


# ----------------------------------------------------------------------------- a seeded sweep


def random_program(rnd: random.Random, n: int) -> list[tuple[int, tuple[Any, ...]]]:
    """A program like the Hypothesis ones, weighted towards pointer churn and cycling."""
    ops: list[tuple[int, tuple[Any, ...]]] = []
    for _ in range(n):
        w = rnd.randrange(4)
        c = rnd.random()
        i = rnd.randrange(1000)
        if c < 0.20:
            op: tuple[Any, ...] = ("alloc", rnd.randrange(8, 300), rnd.randrange(0, 6))
        elif c < 0.25:
            n = rnd.randrange(64, 2048)
            op = ("alloc", 8 * n, n)
        elif c < 0.35:
            op = ("store", i, rnd.randrange(8), rnd.randrange(1000))
        elif c < 0.40:
            op = ("move", i, rnd.randrange(1000), rnd.randrange(1000))
        elif c < 0.43:
            op = ("fill", i, rnd.randrange(1000))
        elif c < 0.45:
            op = ("tree", rnd.randrange(100, 400), rnd.randrange(1, 5))
        elif c < 0.52:
            op = ("nil", i, rnd.randrange(8))
        elif c < 0.60:
            op = ("load", i, rnd.randrange(8))
        elif c < 0.68:
            op = ("drop", i)
        elif c < 0.71:
            op = ("global", rnd.randrange(4), rnd.randrange(-1, 40))
        elif c < 0.74:
            op = ("spawn", [rnd.randrange(1000) for _ in range(rnd.randrange(1, 4))])
        elif c < 0.77:
            op = ("release", i)
        elif c < 0.79:
            op = ("gosched",)
        elif c < 0.82:
            op = ("stash", i, rnd.randrange(100))
        elif c < 0.84:
            op = ("unstash", i)
        elif c < 0.85:
            op = ("compute", rnd.randrange(0, 100_000))
        elif c < 0.95:
            op = ("big", rnd.randrange(33_000, 200_000))
        else:
            op = ("snapshot",)
        ops.append((w, op))
    return ops


@pytest.mark.parametrize("gomaxprocs", [1, 2, 3, 4])
def test_seeded_programs_cycle_concurrently(gomaxprocs: int) -> None:
    """Deterministic companion of the property: fixed programs that are known to run many
    background cycles concurrently with the mutators, so the invariants are exercised under
    concurrent mark, not only around forced cycles."""
    total_bg = 0
    verified = 0
    for s in range(3):
        rnd = random.Random(1000 * gomaxprocs + s)
        # At the seed a dedicated worker (GOMAXPROCS >= 4) that completes mark 1 is restarted by
        # schedule() ahead of the coordinator in its P's runnext until another P idles
        # (docs/realgo.md): the programs then run few background cycles.  From 64a32ffe on no
        # worker starts between the phases.
        commit = "64a32ffe" if gomaxprocs >= 4 else "500c88d4"
        res = run_program(random_program(rnd, 150), nworkers=4, gomaxprocs=gomaxprocs, gogc=20,
                          heap_minimum=16 << 10, seed=s, policy=("seed", "retry", "queue")[s], go_commit=commit)
        total_bg += res["background_cycles"]
        verified += res["garbage_verified"]
    assert total_bg >= 10, "the programs must run background cycles concurrently"
    assert verified > 0, "some snapshot garbage must have been verified freed"
