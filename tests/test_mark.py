"""Tests of aiogc.collector.mark: gcWork buffers, greyobject/scanobject, drain budgets, marking = reachability,
the write barrier, checkmark."""

from __future__ import annotations

import random
from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiogc.collector.heap import Heap
from aiogc.collector.mark import GCWork, Marker
from aiogc.errors import CheckmarkError, Throw

# ---------------------------------------------------------------------- helpers


def build_graph(
    rnd: random.Random, n: int, max_ptrs: int = 4, nil_p: float = 0.3
) -> tuple[Heap, list[list[int]]]:
    """A random heap of n objects through the public API, plus its adjacency lists."""
    h = Heap(initial_slots=8, initial_ptr_words=8)
    adj: list[list[int]] = []
    for _ in range(n):
        k = rnd.randrange(0, max_ptrs + 1)
        h.alloc(8 * k + rnd.randrange(0, 40), k)
        adj.append([])
    for i in range(n):
        r = h.ref_of(i)
        for s in range(len(r)):
            t = -1 if rnd.random() < nil_p else rnd.randrange(n)
            r[s] = None if t < 0 else h.ref_of(t)
            adj[i].append(t)
    return h, adj


def reference_reach(adj: list[list[int]], roots: list[int]) -> set[int]:
    seen = set(roots)
    q = deque(roots)
    while q:
        for c in adj[q.popleft()]:
            if c >= 0 and c not in seen:
                seen.add(c)
                q.append(c)
    return seen


def marked(h: Heap) -> set[int]:
    return set(np.flatnonzero(h.mark[: h.nslots]).tolist())


def mark_all(m: Marker, roots: list[int], budgets: list[int | None] | None = None) -> GCWork:
    gcw = m.new_gcw()
    m.mark_roots(roots, gcw)
    for b in budgets or []:
        m.drain(gcw, b)
    while m.work_available(gcw):
        m.drain(gcw, None)
    gcw.dispose()
    return gcw


def marked_bytes(h: Heap) -> int:
    return int(h.size[: h.nslots][h.mark[: h.nslots] != 0].sum())


# ---------------------------------------------------------------------- GCWork mechanics


def test_put_fills_buffer_then_full() -> None:
    m = Marker(Heap(), workbuf_size=4)
    g = m.new_gcw()
    assert g.empty() and len(g) == 0
    for i in range(3):
        g.put(i)
    assert g.wbuf == [0, 1, 2] and m.full == [] and not g.empty()
    g.put(3)  # buffer reaches workbuf_size: goes to full, gcw caches nothing
    assert m.full == [[0, 1, 2, 3]] and g.wbuf is None and g.empty()
    for i in range(4, 9):
        g.put(i)
    assert m.full == [[0, 1, 2, 3], [4, 5, 6, 7]] and g.wbuf == [8]


def test_put_never_leaves_full_buffer() -> None:
    m = Marker(Heap(), workbuf_size=24)
    g = m.new_gcw()
    for i in range(1000):
        g.put(i)
        assert g.wbuf is None or 0 < len(g.wbuf) < 24
    assert all(len(b) == 24 for b in m.full)
    assert len(m.full) == 1000 // 24 and len(g) == 1000 % 24


def test_put_takes_partial_first() -> None:
    m = Marker(Heap(), workbuf_size=4)
    m.partial.append([10, 11])
    g = m.new_gcw()
    g.put(1)
    assert g.wbuf == [10, 11, 1] and m.partial == []


@pytest.mark.parametrize("to_full", [True, False])
def test_dispose_list_and_who_can_take_it_back(to_full: bool) -> None:
    # e95bc5fe (default): dispose to full, where a write barrier's put cannot take it back; the
    # series: to partial (putpartial), which the next put on any P takes (getpartialorempty).
    m = Marker(Heap(), workbuf_size=8, dispose_to_full=to_full)
    a, b = GCWork(m), GCWork(m)
    a.put(1)
    a.put(2)
    a.dispose()
    assert a.wbuf is None
    assert (m.full, m.partial) == (([[1, 2]], []) if to_full else ([], [[1, 2]]))
    b.put(3)
    assert b.wbuf == ([3] if to_full else [1, 2, 3])
    assert b.try_get() == 3


def test_put_many_equals_puts() -> None:
    for size in (2, 3, 5, 24):
        for n in range(0, 60, 7):
            m1, m2 = Marker(Heap(), workbuf_size=size), Marker(Heap(), workbuf_size=size)
            g1, g2 = m1.new_gcw(), m2.new_gcw()
            g1.put(99)
            g2.put(99)
            for i in range(n):
                g1.put(i)
            g2.put_many(list(range(n)))
            assert (g1.wbuf, m1.full) == (g2.wbuf, m2.full)


def test_try_get_lifo_then_full_then_partial() -> None:
    m = Marker(Heap(), workbuf_size=4)
    g = m.new_gcw()
    for i in range(6):
        g.put(i)  # full: [0,1,2,3]; cached [4,5]
    m.partial.append([100])
    assert [g.try_get() for _ in range(2)] == [5, 4]
    assert g.wbuf is None  # emptied buffer is dropped (never cached empty)
    assert [g.try_get() for _ in range(4)] == [3, 2, 1, 0]  # from full, LIFO
    assert g.try_get() == 100  # then partial
    assert g.try_get() is None and g.empty() and m.global_empty()


def test_try_get_from_other_gcw_work() -> None:
    m = Marker(Heap(), workbuf_size=4)
    a, b = m.new_gcw(), m.new_gcw()
    a.put(1)
    assert b.try_get() is None  # a's cached buffer is private
    assert m.has_grey([a, b]) and not m.work_available(b) and m.work_available(a)
    a.dispose()
    assert m.full == [[1]] and a.empty()
    assert m.work_available(b) and b.try_get() == 1
    assert not m.has_grey([a, b])


def test_dispose_flushes_counters_and_pushes_to_full() -> None:
    h = Heap()
    m = Marker(h, workbuf_size=8)
    g = m.new_gcw()
    g.put(1)
    g.put(2)
    g.bytes_marked, g.scan_work = 100, 40
    g.dispose()
    assert m.full == [[1, 2]] and g.wbuf is None
    assert m.bytes_marked == 100 and h.bytes_marked == 100 and m.scan_work == 40
    assert g.bytes_marked == 0 and g.scan_work == 0
    g.dispose()  # idempotent
    assert m.full == [[1, 2]] and m.bytes_marked == 100
    m.bytes_marked = 5
    assert h.bytes_marked == 5


def test_balance() -> None:
    m = Marker(Heap(), workbuf_size=24)
    g = m.new_gcw()
    for i in range(4):
        g.put(i)
    g.balance()  # <= 4: nothing
    assert m.full == [] and g.wbuf == [0, 1, 2, 3]
    g.put(4)
    g.balance()  # 5: keep the newest 2, hand off the older 3
    assert m.full == [[0, 1, 2]] and g.wbuf == [3, 4]
    g2 = m.new_gcw()
    g2.balance()  # no buffer: nothing
    assert len(m.full) == 1


def test_reset() -> None:
    h = Heap()
    m = Marker(h)
    m.full.append([1])
    m.partial.append([2])
    m.scan_work = 9
    h.bytes_marked = 9
    m.reset()
    assert m.global_empty() and m.scan_work == 0 and h.bytes_marked == 0


def test_check_no_work() -> None:
    m = Marker(Heap())
    g = m.new_gcw()
    m.check_no_work([g])
    g.put(1)
    with pytest.raises(Throw, match="caches work"):
        m.check_no_work([g])
    g.dispose()
    with pytest.raises(Throw, match="work.full"):
        m.check_no_work([g])


def test_marker_args() -> None:
    with pytest.raises(ValueError):
        Marker(Heap(), workbuf_size=1)
    with pytest.raises(ValueError):
        Marker(Heap(), batch_min=0)
    with pytest.raises(ValueError):
        Marker(Heap(), max_batch=0)


# ---------------------------------------------------------------------- greyobject / scanobject


def test_greyobject_colours() -> None:
    h = Heap()
    noscan = h.alloc(100)
    scan = h.alloc(32, 2)
    m = Marker(h)
    g = m.new_gcw()
    m.greyobject(noscan, g)
    assert h.mark[noscan] == 1 and g.empty() and g.bytes_marked == 112  # black at once
    m.greyobject(scan, g)
    assert h.mark[scan] == 1 and g.wbuf == [scan] and g.bytes_marked == 112  # grey
    m.greyobject(scan, g)
    m.greyobject(noscan, g)
    assert g.wbuf == [scan] and g.bytes_marked == 112  # already marked: nothing
    assert g.scan_work == 0


def test_scanobject_accounting() -> None:
    h = Heap()
    a = h.ref_of(h.alloc(48, 5))  # size class 48
    kids = [h.ref_of(h.alloc(16, 1)) for _ in range(2)] + [h.ref_of(h.alloc(8))]
    a[0], a[2], a[3] = kids[0], kids[1], kids[2]
    a[4] = kids[0]  # duplicate pointer: greyed once
    m = Marker(h)
    g = m.new_gcw()
    h.mark[a.id] = 1
    m.scanobject(a.id, g)
    assert g.scan_work == 8 * 5  # bytes scanned = 8 * nptrs, nil slots included
    assert g.bytes_marked == 48 + 8  # a itself + the noscan kid (black)
    assert sorted(g.wbuf or []) == [kids[0].id, kids[1].id]
    assert all(h.mark[k.id] for k in kids)


def test_mark_roots_no_scan_work() -> None:
    h = Heap()
    a = h.alloc(16, 1)
    b = h.alloc(32)
    m = Marker(h)
    g = m.new_gcw()
    m.mark_roots([a, b, a, b], g)
    assert g.scan_work == 0 and g.bytes_marked == 32  # noscan root is black; bytes counted
    assert g.wbuf == [a]
    m.mark_roots([], g)
    m.mark_roots(iter([a]), g)
    assert g.wbuf == [a]
    with pytest.raises(Throw, match="root 7"):
        m.mark_roots([7], g)
    h.mark[:] = 0
    h.sweep()
    with pytest.raises(Throw, match="not an allocated object"):
        m.mark_roots([a], g)


# ---------------------------------------------------------------------- drain


def chain_heap(n: int, nptrs: int = 2) -> Heap:
    """Object i points to i+1 in slot 0 (other slots nil): a chain of n objects of 8*nptrs bytes."""
    h = Heap()
    refs = [h.ref_of(h.alloc(8 * nptrs, nptrs)) for _ in range(n)]
    for i in range(n - 1):
        refs[i][0] = refs[i + 1]
    return h


@pytest.mark.parametrize("batch_min", [1, 32, 10**6])
def test_drain_budget_exact_units(batch_min: int) -> None:
    h = chain_heap(100, nptrs=3)  # every object: 24 bytes of scan work
    m = Marker(h, batch_min=batch_min, max_batch=max(batch_min, 64))
    g = m.new_gcw()
    m.mark_roots([0], g)
    assert m.drain(g, 0) == 0 and m.drain(g, -5) == 0
    assert m.drain(g, 1) == 24  # overshoot by less than one object
    assert m.drain(g, 24) == 24
    assert m.drain(g, 25) == 48
    assert m.drain(g, 48) == 48
    total = 6 * 24  # 1 + 1 + 2 + 2 objects
    rest = m.drain(g, None)
    assert rest == 100 * 24 - total
    assert m.drain(g, 100) == 0  # out of work
    assert g.scan_work == 100 * 24
    g.dispose()
    assert m.scan_work == 2400 and m.bytes_marked == 100 * 32 == marked_bytes(h)  # size 24 -> class 32


def _wide_heap(n: int, fan: int, seed: int) -> tuple[Heap, list[list[int]]]:
    return build_graph(random.Random(seed), n, max_ptrs=fan, nil_p=0.2)


@pytest.mark.parametrize("batch_min", [1, 8, 32, 10**6])
def test_drain_budgets_random(batch_min: int) -> None:
    rnd = random.Random(11)
    h, adj = _wide_heap(3000, 6, 5)
    roots = rnd.sample(range(3000), 10)
    m = Marker(h, workbuf_size=24, batch_min=batch_min)
    g = m.new_gcw()
    m.mark_roots(roots, g)
    maxwork = 8 * 6
    while True:
        budget = rnd.choice([1, 7, 8, 100, 1000, 5000, 40000])
        before_avail = m.work_available(g)
        done = m.drain(g, budget)
        if done < budget:
            assert not m.work_available(g)  # stopped early only for lack of work
            break
        assert before_avail
        assert budget <= done < budget + maxwork
        # between calls: the gcw's buffer invariant holds
        assert g.wbuf is None or 0 < len(g.wbuf) < 24
        assert all(len(b) > 0 for b in m.full)
    g.dispose()
    assert marked(h) == reference_reach(adj, roots)
    assert m.bytes_marked == marked_bytes(h)
    expected_work = 8 * sum(len(adj[i]) for i in reference_reach(adj, roots))
    assert m.scan_work == expected_work


def test_drain_takes_global_work() -> None:
    h = chain_heap(10)
    m = Marker(h)
    a, b = m.new_gcw(), m.new_gcw()
    m.mark_roots([0], a)
    a.dispose()  # root buffer to full
    assert m.drain(b, None) == 10 * 16
    assert m.global_empty() and b.empty()
    assert b.scan_work == 160 and a.scan_work == 0


def test_drain_leaves_unscanned_greys_in_buffers() -> None:
    h = Heap()
    root = h.ref_of(h.alloc(8 * 200, 200))
    kids = [h.ref_of(h.alloc(16, 1)) for _ in range(200)]
    for i, k in enumerate(kids):
        root[i] = k
    m = Marker(h, workbuf_size=24, batch_min=4)
    g = m.new_gcw()
    m.mark_roots([root.id], g)
    assert m.drain(g, 1) == 1600  # the root only
    # 200 greys: 8 full buffers + 8 cached
    assert len(m.full) == 8 and len(g) == 8
    assert m.drain(g, 80) == 80  # 10 kids
    assert len(m.full) * 24 + len(g) == 190
    assert g.wbuf is None or len(g.wbuf) < 24
    assert m.drain(g, None) == 190 * 8


def test_black_alloc_during_mark_not_scanned() -> None:
    h = Heap()
    a = h.ref_of(h.alloc(16, 1))
    m = Marker(h)
    m.reset()
    g = m.new_gcw()
    m.mark_roots([a.id], g)
    b = h.ref_of(h.alloc(32, 2, black=True))  # mark 2: allocated black
    h.wb_enabled = True
    h.shade = lambda o: m.shade(o, g)
    a[0] = b  # shading a black object: nothing
    assert len(g) == 1
    m.drain(g, None)
    g.dispose()
    assert h.mark[b.id] == 1 and m.scan_work == 8
    assert m.bytes_marked == 16 + 32 == marked_bytes(h)


# ---------------------------------------------------------------------- whole-graph marking


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("batch_min", [1, 32, 10**6])
def test_mark_equals_reference_bfs(seed: int, batch_min: int) -> None:
    rnd = random.Random(seed)
    n = 2000
    h, adj = build_graph(rnd, n)
    roots = rnd.sample(range(n), 5)
    m = Marker(h, batch_min=batch_min)
    mark_all(m, roots)
    reach = reference_reach(adj, roots)
    assert marked(h) == reach
    assert m.bytes_marked == marked_bytes(h)
    assert m.scan_work == 8 * sum(len(adj[i]) for i in reach)
    mask = m.reachable_from(roots)
    assert set(np.flatnonzero(mask).tolist()) == reach
    m.checkmark(roots)  # a correct mark passes


def test_mark_large_graph_numpy_path() -> None:
    rnd = random.Random(99)
    n = 30000
    h, adj = build_graph(rnd, n, max_ptrs=3, nil_p=0.35)
    roots = rnd.sample(range(n), 20)
    m = Marker(h)
    mark_all(m, roots, budgets=[5000, 100, 20000])
    assert marked(h) == reference_reach(adj, roots)
    assert m.bytes_marked == marked_bytes(h)


def test_sweep_after_mark_frees_unreachable() -> None:
    rnd = random.Random(5)
    h, adj = build_graph(rnd, 1500)
    roots = rnd.sample(range(1500), 3)
    m = Marker(h)
    mark_all(m, roots)
    reach = reference_reach(adj, roots)
    h.set_heap_live(m.bytes_marked)
    freed, _ = h.sweep()
    assert freed == 1500 - len(reach)
    assert h.heap_alloc == h.heap_live == m.bytes_marked
    assert set(h.live_ids().tolist()) == reach
    h.check_invariants()


# ---------------------------------------------------------------------- write barrier


def test_write_barrier_shades_when_enabled() -> None:
    h = Heap()
    black = h.ref_of(h.alloc(16, 1))
    white = h.ref_of(h.alloc(16, 1))
    white2 = h.ref_of(h.alloc(16, 1))
    m = Marker(h)
    g = m.new_gcw()
    h.shade = lambda o: m.shade(o, g)
    m.mark_roots([black.id], g)
    m.drain(g, None)
    black[0] = white  # barrier disabled: white stays white
    assert h.mark[white.id] == 0 and g.empty()
    h.wb_enabled = True
    black[0] = white2  # barrier enabled: new pointee greyed, old (white) not
    assert h.mark[white2.id] == 1 and g.wbuf == [white2.id]
    assert h.mark[white.id] == 0
    white2[0] = white  # barrier shades regardless of the slot object's colour
    assert h.mark[white.id] == 1


def test_write_barrier_keeps_hidden_object_alive() -> None:
    """The classic lost-object scenario, with the barrier on: mark is correct."""
    h = Heap()
    root = h.ref_of(h.alloc(16, 2))
    grey = h.ref_of(h.alloc(16, 1))
    hidden = h.ref_of(h.alloc(16))
    root[0] = grey
    grey[0] = hidden
    m = Marker(h, batch_min=1)
    g = m.new_gcw()
    h.shade = lambda o: m.shade(o, g)
    h.wb_enabled = True
    m.mark_roots([root.id], g)
    m.drain(g, 16)  # scan root: grey is grey
    root[1] = hidden  # black -> white store: shaded
    grey[0] = None  # delete the grey path
    m.drain(g, None)
    g.dispose()
    assert h.mark[hidden.id] == 1
    m.checkmark([root.id])


# ---------------------------------------------------------------------- checkmark


def test_checkmark_catches_hidden_object() -> None:
    h = Heap()
    root = h.ref_of(h.alloc(16, 2))
    grey = h.ref_of(h.alloc(16, 1))
    hidden = h.ref_of(h.alloc(32))
    root[0] = grey
    grey[0] = hidden
    m = Marker(h, batch_min=1)
    g = m.new_gcw()
    m.mark_roots([root.id], g)
    assert m.drain(g, 16) == 16  # root scanned (black), grey is grey, hidden white
    assert h.mark[hidden.id] == 0
    root[1] = hidden  # barrier off: black -> white pointer
    grey[0] = None  # the only grey path to hidden is gone
    m.drain(g, None)
    g.dispose()
    assert h.mark[hidden.id] == 0
    with pytest.raises(CheckmarkError) as ei:
        m.checkmark([root.id])
    msg = str(ei.value)
    assert f"object {hidden.id} " in msg and f"referenced by object {root.id} slot 1 (marked)" in msg
    mask = m.reachable_from([root.id])
    assert mask.tolist() == [True, True, True]
    assert h.mark.tolist()[:3] == [1, 1, 0]  # reachable_from did not touch mark bits


def test_checkmark_unmarked_root_and_lowest_id() -> None:
    h = Heap()
    ids = [h.alloc(16, 1) for _ in range(4)]
    h.ref_of(ids[3])[0] = h.ref_of(ids[1])
    m = Marker(h)
    with pytest.raises(CheckmarkError, match="object 1 .*referenced by object 3 slot 0 \\(unmarked\\)"):
        m.checkmark([ids[3]])
    with pytest.raises(CheckmarkError, match="object 2 .*it is a root"):
        m.checkmark([ids[2]])
    m.checkmark([])
    with pytest.raises(Throw, match="root 9"):
        m.checkmark([9])


def test_checkmark_ignores_marked_garbage() -> None:
    h = Heap()
    a = h.alloc(16, 1)
    h.alloc(16, black=True)  # marked but unreachable: fine (floating garbage)
    m = Marker(h)
    mark_all(m, [a])
    m.checkmark([a])


def test_reachable_from_large() -> None:
    rnd = random.Random(1)
    h, adj = build_graph(rnd, 20000, max_ptrs=3, nil_p=0.4)
    roots = rnd.sample(range(20000), 50)
    mask = Marker(h).reachable_from(roots)
    assert mask.dtype == bool and mask.size == h.nslots
    assert set(np.flatnonzero(mask).tolist()) == reference_reach(adj, roots)
    assert not h.mark.any()


# ---------------------------------------------------------------------- property test


@st.composite
def graphs(draw: st.DrawFn) -> tuple[list[int], list[list[int]], list[int], list[int | None], int, int, int]:
    n = draw(st.integers(1, 120))
    nptrs = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    adj = [draw(st.lists(st.integers(-1, n - 1), min_size=k, max_size=k)) for k in nptrs]
    roots = draw(st.lists(st.integers(0, n - 1), max_size=6))
    budgets = draw(st.lists(st.one_of(st.none(), st.integers(-8, 400)), max_size=12))
    wbs = draw(st.integers(2, 30))
    batch_min = draw(st.sampled_from([1, 2, 5, 32, 1000]))
    max_batch = draw(st.sampled_from([1000, 4]))
    return nptrs, adj, roots, budgets, wbs, batch_min, max(batch_min, max_batch)


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_property_drain_marks_reachable(
    g: tuple[list[int], list[list[int]], list[int], list[int | None], int, int, int],
) -> None:
    nptrs, adj, roots, budgets, wbs, batch_min, max_batch = g
    h = Heap(initial_slots=4, initial_ptr_words=4)
    for k in nptrs:
        h.alloc(8 * k + 8, k)
    for i, kids in enumerate(adj):
        r = h.ref_of(i)
        for s, t in enumerate(kids):
            r[s] = None if t < 0 else h.ref_of(t)
    m = Marker(h, workbuf_size=wbs, batch_min=batch_min, max_batch=max_batch)
    gcws = [m.new_gcw(), m.new_gcw()]
    m.mark_roots(roots, gcws[0])
    for j, b in enumerate(budgets):
        gcw = gcws[j % 2]
        if j % 3 == 2:
            gcws[0].dispose()
        done = m.drain(gcw, b)
        if b is not None and b > 0 and done < b:
            assert not m.work_available(gcw)
        if b is not None and b <= 0:
            assert done == 0
        assert gcw.wbuf is None or 0 < len(gcw.wbuf) < wbs
    for gcw in gcws:
        gcw.dispose()
    while m.has_grey(gcws):
        m.drain(gcws[1], None)
    for gcw in gcws:
        gcw.dispose()
    m.check_no_work(gcws)
    reach = reference_reach(adj, sorted(set(roots)))
    assert marked(h) == reach
    assert m.bytes_marked == marked_bytes(h)
    assert m.scan_work == 8 * sum(nptrs[i] for i in reach)
    m.checkmark(roots)
    h.sweep(free_held=True)  # the test's own Refs are not roots here
    assert set(h.live_ids().tolist()) == reach
