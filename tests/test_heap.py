"""Tests of aiogc.collector.heap: allocation, rounding, accounting, Ref semantics, sweep, storage reuse."""

from __future__ import annotations

import random

import numpy as np
import pytest

from aiogc.collector.heap import Heap, Ref
from aiogc.collector.sizeclass import round_size
from aiogc.errors import Throw, UseAfterFree

# ---------------------------------------------------------------------- allocation


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 16, 17, 33, 100, 1024, 1025, 32768, 32769, 100_000])
def test_alloc_rounds_size(size: int) -> None:
    h = Heap()
    oid = h.alloc(size)
    assert h.ref_of(oid).size == round_size(size)
    assert int(h.size[oid]) == round_size(size)


def test_alloc_large_rounded_to_pages() -> None:
    h = Heap()
    r = h.ref_of(h.alloc(32 * 1024 + 1))
    assert r.size == 40 * 1024
    assert r.size % 8192 == 0


def test_alloc_pointer_slots_start_nil() -> None:
    h = Heap()
    r = h.ref_of(h.alloc(64, 8))
    assert len(r) == 8
    assert [r[i] for i in range(8)] == [None] * 8
    assert list(r) == [None] * 8


def test_alloc_rejects_too_many_pointers() -> None:
    h = Heap()
    with pytest.raises(ValueError, match=r"8\*nptrs <= size"):
        h.alloc(16, 3)
    h.alloc(24, 3)  # exactly fits
    with pytest.raises(ValueError, match="negative"):
        h.alloc(-1)
    with pytest.raises(ValueError, match="negative"):
        h.alloc(16, -1)
    # nothing was allocated by the failed calls
    assert h.nobjects == 1 and h.nmalloc == 1


def test_alloc_ids_sequential_and_growth() -> None:
    h = Heap(initial_slots=2, initial_ptr_words=2)
    ids = [h.alloc(8 * (i % 5 + 1), i % 5 + 1) for i in range(1000)]
    assert ids == list(range(1000))
    assert h.capacity >= 1000
    refs = [h.ref_of(i) for i in ids]
    # write after growth through old refs and read back
    for i, r in enumerate(refs):
        r[0] = refs[(i * 7) % 1000]
    for i, r in enumerate(refs):
        assert r[0] == refs[(i * 7) % 1000]
    h.check_invariants()


def test_accounting() -> None:
    h = Heap()
    sizes = [1, 8, 9, 100, 5000, 40000]
    for s in sizes:
        h.alloc(s)
    total = sum(round_size(s) for s in sizes)
    assert h.heap_live == h.heap_alloc == h.total_alloc == total
    assert h.nobjects == h.nmalloc == len(sizes)
    assert h.nfree == 0
    h.set_heap_live(123)
    assert h.heap_live == 123
    with pytest.raises(ValueError):
        h.set_heap_live(-1)
    h.sweep()  # nothing marked: everything goes
    assert h.heap_alloc == 0 and h.nobjects == 0 and h.nfree == len(sizes)
    assert h.total_alloc == total and h.nmalloc == len(sizes)
    assert h.heap_live == 123  # sweep leaves heap_live to the caller
    st = h.stats()
    assert st["nfree"] == len(sizes) and st["heap_alloc"] == 0


def test_black_alloc_marks_and_counts() -> None:
    h = Heap()
    a = h.alloc(100, black=True)
    b = h.alloc(100)
    assert h.mark[a] == 1 and h.mark[b] == 0
    assert h.bytes_marked == round_size(100)
    h.sweep()
    assert h.is_allocated(a) and not h.is_allocated(b)
    assert h.mark[a] == 0  # sweep clears mark bits


# ---------------------------------------------------------------------- Ref


def test_ref_read_write_nil() -> None:
    h = Heap()
    a = h.ref_of(h.alloc(32, 4))
    b = h.ref_of(h.alloc(16))
    a[0] = b
    a[3] = a
    assert a[0] == b and a[3] == a and a[1] is None
    assert a[-1] == a and a[-4] == b
    a[0] = None
    assert a[0] is None
    a[-2] = b
    assert a[2] == b
    assert isinstance(a[2], Ref)
    assert h.pointers(a.id).tolist() == [-1, -1, b.id, a.id]


def test_ref_index_errors() -> None:
    h = Heap()
    a = h.ref_of(h.alloc(16, 2))
    n = h.ref_of(h.alloc(16))
    for i in (2, 3, -3, 100):
        with pytest.raises(IndexError):
            a[i]
        with pytest.raises(IndexError):
            a[i] = None
    with pytest.raises(IndexError):
        n[0]
    with pytest.raises(IndexError):
        n[0] = a
    assert len(n) == 0 and list(n) == []


def test_ref_type_errors() -> None:
    h = Heap()
    other = Heap()
    a = h.ref_of(h.alloc(16, 2))
    x = other.ref_of(other.alloc(16))
    for bad in (1, "x", 0.5, a.id, object(), [a]):
        with pytest.raises(TypeError):
            a[0] = bad  # type: ignore[assignment]
    with pytest.raises(TypeError, match="another Heap"):
        a[0] = x
    assert a[0] is None
    with pytest.raises(TypeError):
        a["0"]  # type: ignore[index]


def test_ref_equality_and_hash() -> None:
    h = Heap()
    i = h.alloc(16, 1)
    r1, r2 = h.ref_of(i), h.ref_of(i)
    assert r1 is not r2 and r1 == r2 and hash(r1) == hash(r2)
    assert not (r1 != r2)
    j = h.alloc(16)
    assert r1 != h.ref_of(j)
    assert len({r1, r2, h.ref_of(j)}) == 2
    assert r1 != i and r1 != (h, i, 0)
    # same id, other heap
    h2 = Heap()
    assert h2.ref_of(h2.alloc(16, 1)) != r1
    # read back yields an equal ref
    r1[0] = h.ref_of(j)
    assert r1[0] == h.ref_of(j) and hash(r1[0]) == hash(h.ref_of(j))
    assert "id=0" in repr(r1)
    assert r1.id == i and r1.alive


def test_ref_of_free_slot() -> None:
    h = Heap()
    with pytest.raises(UseAfterFree):
        h.ref_of(0)
    i = h.alloc(8)
    h.sweep()
    with pytest.raises(UseAfterFree):
        h.ref_of(i)
    with pytest.raises(UseAfterFree):
        h.ref_of(-1)


# ---------------------------------------------------------------------- use after free


def test_use_after_free_every_access() -> None:
    h = Heap()
    keep = h.ref_of(h.alloc(16, 2, black=True))
    dead = h.ref_of(h.alloc(16, 2))
    h.sweep(free_held=True)
    assert not dead.alive and keep.alive
    with pytest.raises(UseAfterFree):
        dead[0]
    with pytest.raises(UseAfterFree):
        dead[0] = None
    with pytest.raises(UseAfterFree):
        len(dead)
    with pytest.raises(UseAfterFree):
        _ = dead.size
    with pytest.raises(UseAfterFree):
        list(dead)
    # storing a dangling ref into a live object is also a use after free
    with pytest.raises(UseAfterFree):
        keep[0] = dead
    assert keep[0] is None
    # handle-only operations still work
    assert dead.id == 1 and hash(dead) == hash(dead) and dead == dead and "freed" in repr(dead)


def test_use_after_free_slot_reuse() -> None:
    h = Heap()
    old = h.ref_of(h.alloc(16, 2))
    h.sweep(free_held=True)
    new = h.ref_of(h.alloc(64, 1))
    assert new.id == old.id  # the slot is reused ...
    assert new.gen == old.gen + 1  # ... with a new generation
    assert new != old
    with pytest.raises(UseAfterFree):
        old[0]
    with pytest.raises(UseAfterFree):
        old[0] = new
    with pytest.raises(UseAfterFree):
        len(old)
    assert len(new) == 1 and new[0] is None and new.size == 64


def test_reuse_lowest_id_first() -> None:
    h = Heap()
    ids = [h.alloc(16) for _ in range(10)]
    for i in (2, 5, 7):
        h.mark[ids[i]] = 0
    for i in ids:
        if i not in (2, 5, 7):
            h.mark[i] = 1
    assert h.sweep() == (3, 3 * 16)
    assert [h.alloc(8) for _ in range(4)] == [2, 5, 7, 10]


# ---------------------------------------------------------------------- sweep


def test_sweep_frees_exactly_unmarked() -> None:
    rnd = random.Random(7)
    h = Heap()
    n = 500
    sizes = [rnd.randrange(0, 3000) for _ in range(n)]
    ids = [h.alloc(s, min(s // 8, rnd.randrange(0, 6))) for s in sizes]
    keep = {i for i in ids if rnd.random() < 0.4}
    for i in keep:
        h.mark[i] = 1
    freed, freed_bytes = h.sweep()
    assert freed == n - len(keep)
    assert freed_bytes == sum(round_size(sizes[i]) for i in ids if i not in keep)
    for i in ids:
        assert h.is_allocated(i) == (i in keep)
    assert not h.mark.any()
    assert h.heap_alloc == sum(round_size(sizes[i]) for i in keep)
    assert h.nobjects == len(keep) and h.nfree == freed
    assert set(h.live_ids().tolist()) == keep
    h.check_invariants()
    # a second sweep with nothing marked frees the survivors
    assert h.sweep()[0] == len(keep)
    assert h.nobjects == 0 and h.heap_alloc == 0
    h.check_invariants()


def test_sweep_nils_pointer_words_and_reuses_storage() -> None:
    h = Heap()
    a = h.ref_of(h.alloc(64, 5))  # bucket of 8 words
    b = h.ref_of(h.alloc(64, 8, black=True))
    for i in range(5):
        a[i] = b
    for i in range(8):
        b[i] = b
    off_a = int(h.ptr_off[a.id])
    top = h.ptr_top
    assert h.sweep(free_held=True) == (1, 64)
    assert (h.ptrs[off_a : off_a + 8] == -1).all()
    h.check_invariants()
    # a new object of the same bucket (5..8 words) takes a's block: the pool does not grow
    c = h.ref_of(h.alloc(56, 7))
    assert int(h.ptr_off[c.id]) == off_a and h.ptr_top == top
    assert list(c) == [None] * 7
    h.check_invariants()


def test_pointer_storage_steady_state() -> None:
    """Alloc/free cycles of the same shapes do not grow the pool."""
    rnd = random.Random(3)
    h = Heap()
    shapes = [rnd.randrange(1, 40) for _ in range(300)]
    for s in shapes:
        h.alloc(8 * s, s)
    h.sweep(free_held=True)
    top, nslots = h.ptr_top, h.nslots
    for _ in range(5):
        rnd.shuffle(shapes)
        for s in shapes:
            r = h.ref_of(h.alloc(8 * s, s))
            r[s - 1] = r
        h.check_invariants()
        h.sweep(free_held=True)
        h.check_invariants()
    assert h.ptr_top == top and h.nslots == nslots


def test_sweep_vectorised_large() -> None:
    h = Heap()
    n = 20000
    for i in range(n):
        h.alloc(16 + 8 * (i % 7), i % 3)
    h.mark[:n:2] = 1
    freed, _ = h.sweep()
    assert freed == n // 2
    assert h.nobjects == n // 2
    assert (h.gen[1:n:2] == 1).all() and (h.gen[0:n:2] == 0).all()
    h.check_invariants()


def test_check_invariants_detects_corruption() -> None:
    h = Heap()
    a = h.alloc(16, 2)
    h.check_invariants()
    h.ptrs[h.ptr_top + 1] = 3  # a pool word outside every object
    with pytest.raises(Throw, match="pool word"):
        h.check_invariants()
    h.ptrs[h.ptr_top + 1] = -1
    h.ptrs[int(h.ptr_off[a])] = 5  # a pointer to a free slot
    with pytest.raises(Throw, match="free slot"):
        h.check_invariants()
    h.ptrs[int(h.ptr_off[a])] = -1
    h.heap_alloc += 1
    with pytest.raises(Throw, match="heap_alloc"):
        h.check_invariants()


# ---------------------------------------------------------------------- write barrier hook


def test_write_barrier_shades_new_pointee_only() -> None:
    h = Heap()
    a = h.ref_of(h.alloc(16, 2))
    old = h.ref_of(h.alloc(16))
    new = h.ref_of(h.alloc(16))
    a[0] = old
    shaded: list[int] = []
    h.shade = shaded.append
    a[0] = new  # barrier off
    assert shaded == []
    h.wb_enabled = True
    a[0] = old
    a[1] = new
    a[1] = None  # nil is not shaded
    assert shaded == [old.id, new.id]
    assert isinstance(shaded[0], int)


def test_write_barrier_without_hook_throws() -> None:
    h = Heap()
    a = h.ref_of(h.alloc(16, 1))
    h.wb_enabled = True
    with pytest.raises(Throw, match="shade hook"):
        a[0] = a
    a[0] = None  # nil needs no shade


def test_arrays_dtypes() -> None:
    h = Heap()
    assert h.size.dtype == np.int64 and h.nptrs.dtype == np.int32 and h.mark.dtype == np.uint8
    assert h.gen.dtype == np.int64 and h.ptr_off.dtype == np.int64 and h.ptrs.dtype == np.int32


def test_a_heap_stops_at_the_slots_a_pointer_word_can_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pointer words are int32: the heap throws rather than hand out an id one cannot hold."""
    import aiogc.collector.heap as heap_mod

    monkeypatch.setattr(heap_mod, "MAX_SLOTS", 4)
    h = Heap(initial_slots=2)
    ids = [h.alloc(16, 1) for _ in range(4)]
    assert ids == [0, 1, 2, 3]
    with pytest.raises(Throw, match="object slots"):
        h.alloc(16, 1)


def test_word_index_chunks_are_the_word_index_in_bounded_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass over GBs of objects indexes their pointer words by pieces (heap.WORD_CHUNK), so its
    temporaries stay small; the pieces, in order, are exactly the whole index."""
    import aiogc.collector.heap as heap_mod

    rng = random.Random(7)
    for chunk in (1, 3, 8, 64):
        monkeypatch.setattr(heap_mod, "WORD_CHUNK", chunk)
        for _ in range(50):
            n = rng.randrange(0, 12)
            cnt = np.array([rng.choice([0, 1, 2, 5, 9, 128]) for _ in range(n)], np.int64)
            offs = np.array([rng.randrange(0, 10_000) for _ in range(n)], np.int64)
            whole = heap_mod.word_index(offs, cnt, int(cnt.sum()))
            pieces = list(heap_mod.word_index_chunks(offs, cnt))
            got = np.concatenate(pieces) if pieces else np.empty(0, np.int64)
            assert got.tolist() == whole.tolist()
            # a piece over the bound is a single object's words
            assert all(p.size <= chunk or p.size in set(cnt.tolist()) for p in pieces)
            assert all(p.size for p in pieces)


def test_a_run_marks_and_sweeps_the_same_by_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """The mark's and the sweep's vectorised passes give the same result whatever the piece size:
    the same seed's event trace is identical with pieces of 5 words."""
    import aiogc
    import aiogc.collector.heap as heap_mod
    from aiogc.experiments.workloads import SeedWorkload, seed_main
    from aiogc.trace.events import Recorder

    def trace() -> list[str]:
        rt = aiogc.Runtime(gomaxprocs=2, gogc=100, seed=3, clock="virtual", godebug="")
        rec = Recorder()
        rt.bus.subscribe(rec)
        rt.run(seed_main(SeedWorkload(), cycles=4))
        rt.gc.heap.check_invariants()
        return [repr(e) for e in rec.events]

    whole = trace()
    monkeypatch.setattr(heap_mod, "WORD_CHUNK", 5)
    assert trace() == whole
