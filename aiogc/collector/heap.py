"""The GC-managed heap: object storage, ``Ref`` handles, allocation colour, sweep.

Models the parts of Go 1.5's ``mheap``/``mspan``/``mallocgc``/``gcSweep`` that the
concurrent mark phase can observe: which objects exist, how big they are, where
their pointers are, their mark bits, and the heap counters the pacer reads
(model doc §2.10, §2.12).  Spans, size-class free lists and the page heap are not
modelled; an object is a *slot*.

Layout (struct of arrays, all numpy, indexed by object id = slot):

  ``size[id]``     int64  size in bytes, rounded with ``round_size`` (Go's size classes);
  ``nptrs[id]``    int32  number of pointer words: the object's FIRST ``nptrs`` words;
  ``mark[id]``     uint8  the mark bit (1 = marked: grey or black);
  ``gen[id]``      int64  generation, bumped each time the slot is freed;
  ``ptr_off[id]``  int64  offset of the object's pointer words in the shared pool ``ptrs``
                          (-1 when ``nptrs == 0`` or the slot is free);
  ``allocated[id]`` uint8 1 while the slot holds an object;
  ``ptrs[k]``      int32  the pointer pool (a pooled CSR): a pointer word holds the id of
                          the object it points to, or -1 for nil (ids stay below 2**31:
                          ``_grow_slots`` throws first; half the memory of int64 words, and the
                          pool is most of a big heap's memory: 128 words per 1 KiB node);
  ``handles[id]``  int32  how many Python ``Ref`` objects name the slot now: the live-handle
                          table, the GC's safety net under stack scanning (see below).

The live-handle table.  Go's roots are every pointer the program can still load; in Python
that is every ``Ref`` any live Python object can reach, and no scanner sees all of them (an
evaluation-stack temporary of a running frame is invisible to introspection).  So each ``Ref``
counts itself: ``Ref.__init__`` adds one to ``handles[id]`` and ``Ref.__del__`` (CPython runs it
when the last reference goes, or when its cyclic collector frees a cycle) takes one off.  Mark
termination greys every unmarked slot with ``handles > 0`` with the world stopped
(``Collector._mark_termination``), so an object is never freed while a ``Ref`` to it exists, and
``sweep`` throws if it would ever free one.  When the table names an object the scans did not mark,
mark termination first runs CPython's cyclic collector: a ``Ref`` in unreachable cyclic garbage is
counted until that collector runs, and when it runs depends on every allocation in the interpreter
(an event subscriber's too), so without it what gets greyed would not be the program's alone.  Copying a ``Ref`` returns the same handle; pickling
one is a ``TypeError`` (a heap slot means nothing in another process).  ``__del__`` may run on
another thread (a Ref dropped in ``run_in_executor``): the count's load-add-store is straight-line
bytecode on a memoryview, with no eval-breaker check between the load and the store, so under
CPython's GIL no other thread's update can interleave and none is lost.

Pointer storage: an object with ``nptrs > 0`` owns a block of ``2**b >= nptrs`` words of
``ptrs`` (bucket ``b = (nptrs-1).bit_length()``).  Freed blocks go to the free list of their
bucket and are reused by the next allocation of that bucket, so the pool stops growing in a
steady state.  Free object slots are reused too (lowest id first after a sweep); a reused
slot has a new generation, which is how a stale ``Ref`` is caught (``UseAfterFree``).
Arrays grow by doubling.

For scalar access on the mutator's hot path (``Ref`` reads and writes, the plain-Python
mark path) each array also has a ``memoryview`` over the same buffer (``_size_v``,
``_gen_v``...): indexing one costs about half of indexing numpy and yields a Python ``int``.
The views are rebuilt whenever an array grows; never cache them across an ``alloc``.

Invariants (``check_invariants`` asserts them; tests call it):
  * ``0 <= nptrs[id] and 8 * nptrs[id] <= size[id]`` for every allocated slot;
  * every pointer word of an allocated object is -1 or the id of an allocated object
    (a ``Ref`` write checks the generation, so a freed object cannot be stored);
  * every pool word that is not one of an allocated object's first ``nptrs`` words of its
    block is -1 (sweep nils a freed object's words, so a reused block starts all nil);
  * free slots have ``size == nptrs == mark == 0`` and ``ptr_off == -1``;
  * ``heap_alloc == size[allocated].sum()`` and ``nobjects == allocated.sum()``;
  * after ``sweep`` every mark bit is clear;
  * ``handles[id] > 0`` only for allocated slots: sweep never frees a slot a ``Ref`` names.

After the runtime ends (``Heap.close``) every access through a ``Ref`` raises ``RuntimeEnded``:
the generation view is replaced by one that raises, so the check costs nothing on the hot path.

Accounting of ``bytes_marked`` (Go's ``work.bytesMarked``): the single global counter lives
HERE, as ``Heap.bytes_marked``, because both sides add to it: ``alloc(black=True)`` adds the
object's rounded size (Go's ``gcmarknewobject_m``), and ``mark.Marker`` adds each ``GCWork``'s
local count when it is disposed (``Marker.bytes_marked`` is a property over this attribute).
``Marker.reset()`` zeroes it at the start of a cycle.

Departures from Go 1.5:
  * no spans: sweeping is all at once (``sweep``), which the model doc allows (§2.12);
  * ``heap_live`` grows by the rounded size on every allocation (Go folds per-P
    ``local_cachealloc`` in per span); the caller sets it to ``bytes_marked`` at mark
    termination (``set_heap_live``);
  * pointer words are exactly the first ``nptrs`` words of the object (no heap bitmap);
  * size 0 objects get their own slot (Go returns the shared ``zerobase``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from aiogc.collector.sizeclass import PAGE_SIZE, round_size
from aiogc.errors import RuntimeEnded, Throw, UseAfterFree

__all__ = ["Heap", "Ref", "Weak", "PTR_SIZE", "MAX_ALLOC"]

PTR_SIZE = 8  # bytes per pointer word (64-bit)
#: Go 1.5's ``_MaxMem`` on linux/amd64 (1<<39 - 1, the arena it reserves): no object can be larger
MAX_ALLOC = (1 << 39) - 1
_INITIAL_SLOTS = 1024
_INITIAL_PTRS = 4096
#: dtype of a pointer word (an object id or -1); see the module docstring
PTR_WORD = np.int32
#: Most pointer words one vectorised pass over many objects indexes at once (``word_index_chunks``):
#: it bounds the pass's int64 temporaries to a few times 32 MiB, where a sweep of a heap of GBs
#: indexing all its words at once would take three arrays of 8 bytes per word.
WORD_CHUNK = 1 << 22
_NO_WORDS = np.empty(0, np.int64)
_NO_WORDS.setflags(write=False)  # shared by every caller
#: object slots a heap may have: every id must fit a pointer word
MAX_SLOTS = 1 << 31


class Ref:
    """A handle to one heap object: what user code holds (a Go pointer).

    ``ref[i]`` reads pointer slot ``i`` (a ``Ref`` or ``None`` for nil), ``ref[i] = other``
    writes it (``None`` stores nil) and, while the write barrier is enabled, shades
    ``other`` (Go's ``writebarrierptr``, Dijkstra insertion: the NEW pointee only).
    Indices follow Python sequences: ``-1`` is the last slot; out of range is ``IndexError``.
    ``len(ref)`` is the number of pointer slots, ``ref.size`` the rounded size in bytes.
    Any access to a freed object raises ``UseAfterFree``; ``ref.id``, equality, hashing
    and ``repr`` do not (they only use the handle), and ``ref.alive`` tells.
    Two Refs are equal iff they name the same heap, slot and generation.
    """

    __slots__ = ("heap", "id", "gen")

    def __init__(self, heap: Heap, id: int, gen: int) -> None:
        self.heap = heap
        self.id = id
        self.gen = gen
        heap._handles_v[id] += 1  # the live-handle table (module docstring)

    def __del__(self) -> None:
        # Runs when CPython frees this handle: the slot loses one live handle.  Never raises
        # (a half-built Ref has no ``heap``; at interpreter exit the heap may be gone).
        try:
            h = self.heap
            if h._gen_v[self.id] == self.gen:  # a stale handle no longer counts (sweep(free_held=True))
                h._handles_v[self.id] -= 1
        except Exception:
            pass

    def __copy__(self) -> Ref:
        return self  # a pointer handle is a value: copies are the same handle

    def __deepcopy__(self, memo: Any) -> Ref:
        return self  # copying a Python structure copies pointers, not the objects they name

    def __reduce__(self) -> Any:
        raise TypeError("a Ref cannot be pickled: it names a slot of one runtime's heap in this process")

    def _dead(self) -> UseAfterFree:
        if self.heap.closed:
            return RuntimeEnded(f"use of object {self.id} after its runtime ended: run() has returned "
                                "and its heap is gone")
        return UseAfterFree(
            f"use after free: object {self.id} generation {self.gen} was freed "
            f"(slot now at generation {self.heap._gen_v[self.id]})"
        )

    def __getitem__(self, i: int) -> Ref | None:
        h = self.heap
        oid = self.id
        if h._gen_v[oid] != self.gen:
            raise self._dead()
        if type(i) is not int:
            i = _slot_index(i)
        n = h._nptrs_v[oid]
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"pointer slot index out of range: object {oid} has {n} pointer slots")
        p = h._ptrs_v[h._off_v[oid] + i]
        if p < 0:
            return None
        return Ref(h, p, h._gen_v[p])

    def __setitem__(self, i: int, other: Ref | None) -> None:
        h = self.heap
        oid = self.id
        if h._gen_v[oid] != self.gen:
            raise self._dead()
        if other is None:
            v = -1
        elif type(other) is Ref:
            if other.heap is not h:
                raise TypeError("cannot store a Ref to an object of another Heap")
            v = other.id
            if h._gen_v[v] != other.gen:
                raise other._dead()
        else:
            raise TypeError(f"pointer slots hold a Ref or None, not {type(other).__name__}")
        if type(i) is not int:
            i = _slot_index(i)
        n = h._nptrs_v[oid]
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"pointer slot index out of range: object {oid} has {n} pointer slots")
        h._ptrs_v[h._off_v[oid] + i] = v
        if v >= 0 and h.wb_enabled:
            shade = h.shade
            if shade is None:
                raise Throw("write barrier enabled without a shade hook")
            shade(v)

    def __len__(self) -> int:
        h = self.heap
        if h._gen_v[self.id] != self.gen:
            raise self._dead()
        return h._nptrs_v[self.id]

    def __iter__(self) -> Iterator[Ref | None]:
        for i in range(len(self)):
            yield self[i]

    @property
    def size(self) -> int:
        """Rounded size of the object in bytes (its size class)."""
        h = self.heap
        if h._gen_v[self.id] != self.gen:
            raise self._dead()
        return h._size_v[self.id]

    @property
    def alive(self) -> bool:
        """True while the object this handle names has not been freed (False once its runtime ended)."""
        h = self.heap
        return not h.closed and h._gen_v[self.id] == self.gen

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is Ref and other.id == self.id and other.gen == self.gen and other.heap is self.heap
        )

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        # Not id(heap): a set of Refs must iterate in the same order in every process, or root
        # scanning order (and with it virtual time) would differ between executors.
        return hash((self.id, self.gen))

    def __repr__(self) -> str:
        state = "" if self.alive else " freed"
        return f"<Ref id={self.id} gen={self.gen}{state}>"


def _slot_index(i: Any) -> int:
    """A pointer-slot index that is not a plain ``int``: ints in disguise (``numpy.int64``, any
    ``__index__``) are accepted, anything else is a ``TypeError`` naming what was given."""
    if isinstance(i, bool) or not hasattr(type(i), "__index__"):
        raise TypeError(f"pointer slot index must be an int, not {type(i).__name__} "
                        "(a Ref has numbered pointer slots; slices are not supported)")
    return int(i.__index__())


class Weak:
    """A weak pointer (Go 1.24's ``weak.Pointer``): names an object without keeping it alive.

    ``value()`` is a ``Ref`` to the object while it has not been collected, else ``None``
    (also ``None`` once its runtime ended).  Holding a ``Weak`` does not count in the
    live-handle table; the ``Ref`` that ``value()`` returns does, like any other.  Two weak
    pointers made from the same object are equal, as in Go.
    """

    __slots__ = ("heap", "id", "gen")

    def __init__(self, ref: Ref) -> None:
        if type(ref) is not Ref:
            raise TypeError(f"weak() needs a Ref, got {type(ref).__name__}")
        h = ref.heap
        if h.closed or h._gen_v[ref.id] != ref.gen:
            raise ref._dead()
        self.heap = h
        self.id = ref.id
        self.gen = ref.gen

    def value(self) -> Ref | None:
        h = self.heap
        if h.closed or h._gen_v[self.id] != self.gen:
            return None
        return Ref(h, self.id, self.gen)

    def __eq__(self, other: object) -> bool:
        return type(other) is Weak and other.id == self.id and other.gen == self.gen and other.heap is self.heap

    def __hash__(self) -> int:
        return hash(("weak", self.id, self.gen))

    def __repr__(self) -> str:
        return f"<Weak id={self.id} gen={self.gen}{'' if self.value() is not None else ' collected'}>"


class _EndedGenerations:
    """Stands in for ``Heap._gen_v`` after ``Heap.close``: every generation check raises."""

    __slots__ = ()

    def __getitem__(self, i: int) -> int:
        raise RuntimeEnded(f"use of object {i} after its runtime ended: run() has returned and its heap is gone")


def word_index(offs: np.ndarray, cnt: np.ndarray, total: int) -> np.ndarray:
    """Pool indices of all pointer words of the objects whose blocks start at ``offs`` and hold
    ``cnt`` words each (``total`` = ``cnt.sum()``): ``concat(arange(o, o + c))``, vectorised."""
    if total == 0:
        return _NO_WORDS
    starts = np.cumsum(cnt) - cnt
    return np.repeat(offs - starts, cnt) + np.arange(total, dtype=np.int64)


def word_index_chunks(offs: np.ndarray, cnt: np.ndarray) -> Iterator[np.ndarray]:
    """``word_index`` of the same objects, in order, in pieces of at most ``WORD_CHUNK`` words (an
    object with more words than that is a piece of its own): concatenated, the pieces are exactly
    ``word_index(offs, cnt, cnt.sum())``."""
    ends = np.cumsum(cnt)
    total = int(ends[-1]) if ends.size else 0
    if total <= WORD_CHUNK:
        if total:
            yield word_index(offs, cnt, total)
        return
    lo, base, n = 0, 0, int(cnt.size)
    while lo < n:
        hi = max(lo + 1, int(np.searchsorted(ends, base + WORD_CHUNK, side="right")))
        top = int(ends[hi - 1])
        if top > base:
            yield word_index(offs[lo:hi], cnt[lo:hi], top - base)
        lo, base = hi, top


class Heap:
    """Objects, pointer storage and heap counters (Go's ``mheap_`` + ``memstats``, reduced).

    Public state besides the arrays (see the module docstring):
      ``wb_enabled``   Go's ``writeBarrierEnabled``; set by the GC cycle;
      ``shade``        ``Callable[[int], None]`` called with the new pointee's id by the
                       write barrier (the GC binds it to ``Marker.shade`` on the current P's gcw);
      ``bytes_marked`` Go's ``work.bytesMarked`` (shared with ``Marker``);
      ``heap_live``, ``heap_alloc``, ``nobjects``, ``total_alloc``, ``nmalloc``, ``nfree``.
    """

    def __init__(self, initial_slots: int = _INITIAL_SLOTS, initial_ptr_words: int = _INITIAL_PTRS) -> None:
        cap = max(1, int(initial_slots))
        self.size: np.ndarray = np.zeros(cap, np.int64)
        self.nptrs: np.ndarray = np.zeros(cap, np.int32)
        self.mark: np.ndarray = np.zeros(cap, np.uint8)
        self.gen: np.ndarray = np.zeros(cap, np.int64)
        self.ptr_off: np.ndarray = np.full(cap, -1, np.int64)
        self.allocated: np.ndarray = np.zeros(cap, np.uint8)
        self.handles: np.ndarray = np.zeros(cap, np.int32)
        self.ptrs: np.ndarray = np.full(max(1, int(initial_ptr_words)), -1, PTR_WORD)
        #: slots ever used: ids are < nslots
        self.nslots = 0
        #: pool words ever handed out: block offsets are < ptr_top
        self.ptr_top = 0
        self._free_ids: list[int] = []  # popped from the end
        self._ptr_free: list[list[int]] = [[] for _ in range(64)]  # per bucket b: blocks of 2**b words

        self.wb_enabled = False
        self.shade: Callable[[int], None] | None = None
        #: set by ``close`` when the runtime ends
        self.closed = False

        self.bytes_marked = 0
        self.heap_live = 0
        self.peak_live = 0  # the most heap_live ever reached (see nspan)
        self.heap_alloc = 0
        self.nobjects = 0
        self.total_alloc = 0
        self.nmalloc = 0
        self.nfree = 0
        self._refresh_views()

    # ------------------------------------------------------------------ storage

    def _refresh_views(self) -> None:
        self._size_v = self.size.data
        self._nptrs_v = self.nptrs.data
        self._mark_v = self.mark.data
        self._gen_v = self.gen.data
        self._off_v = self.ptr_off.data
        self._alloc_v = self.allocated.data
        self._ptrs_v = self.ptrs.data
        self._handles_v = self.handles.data

    @property
    def capacity(self) -> int:
        """Length of the object arrays (slots allocatable before the next doubling)."""
        return len(self.size)

    def _grow_slots(self) -> None:
        old = len(self.size)
        new = min(old * 2, MAX_SLOTS)
        if new == old:
            raise Throw(f"heap: more than {MAX_SLOTS} object slots (a pointer word holds an id in 32 bits)")

        def grown(a: np.ndarray, fill: int) -> np.ndarray:
            b = np.full(new, fill, a.dtype)
            b[:old] = a
            return b

        self.size = grown(self.size, 0)
        self.nptrs = grown(self.nptrs, 0)
        self.mark = grown(self.mark, 0)
        self.gen = grown(self.gen, 0)
        self.ptr_off = grown(self.ptr_off, -1)
        self.allocated = grown(self.allocated, 0)
        self.handles = grown(self.handles, 0)
        self._refresh_views()

    def _grow_ptrs(self, need: int) -> None:
        old = len(self.ptrs)
        new = old * 2
        while new < need:
            new *= 2
        b = np.full(new, -1, PTR_WORD)
        b[:old] = self.ptrs
        self.ptrs = b
        self._ptrs_v = self.ptrs.data

    # ------------------------------------------------------------------ allocation

    def alloc(self, size: int, nptrs: int = 0, black: bool = False) -> int:
        """Allocate an object; return its id.  Models ``mallocgc`` (+ ``gcmarknewobject_m``).

        ``size`` is rounded with ``round_size`` (Go's size classes).  The object's first
        ``nptrs`` words are its pointer slots, all nil, so ``8 * nptrs <= size`` is required.
        ``black=True`` (Go 1.5 in mark 2 and mark termination) sets the mark bit and adds the
        rounded size to ``bytes_marked``.  Counters: ``heap_live``, ``heap_alloc``,
        ``total_alloc`` grow by the rounded size; ``nobjects`` and ``nmalloc`` by one.
        """
        if size < 0:
            raise ValueError(f"alloc: negative size {size}")
        if size > MAX_ALLOC:
            raise ValueError(f"alloc: size {size} exceeds _MaxMem ({MAX_ALLOC} bytes): out of memory")
        if nptrs < 0:
            raise ValueError(f"alloc: negative nptrs {nptrs}")
        if nptrs * PTR_SIZE > size:
            raise ValueError(
                f"alloc: nptrs={nptrs} pointer words need {nptrs * PTR_SIZE} bytes but size={size}: "
                "pointer slots are the object's first nptrs words, so 8*nptrs <= size is required"
            )
        return self.alloc_rounded(round_size(size), nptrs, black)

    def alloc_rounded(self, rsize: int, nptrs: int, black: bool) -> int:
        """``alloc`` for a caller that already validated the arguments and rounded the size.

        The allocator's fast path (``Collector.mallocgc``): same effects as ``alloc``.
        Invariant (not checked here): ``rsize`` is a size-class size or whole pages, and
        ``0 <= 8 * nptrs <= rsize``.
        """
        free = self._free_ids
        if free:
            oid = free.pop()
        else:
            oid = self.nslots
            if oid >= len(self.size):
                self._grow_slots()
            self.nslots = oid + 1
        self._size_v[oid] = rsize
        self._nptrs_v[oid] = nptrs
        self._alloc_v[oid] = 1
        if nptrs:
            b = (nptrs - 1).bit_length()
            blocks = self._ptr_free[b]
            if blocks:
                off = blocks.pop()
            else:
                off = self.ptr_top
                top = off + (1 << b)
                if top > len(self.ptrs):
                    self._grow_ptrs(top)
                self.ptr_top = top
            self._off_v[oid] = off
        if black:
            self._mark_v[oid] = 1
            self.bytes_marked += rsize
        self.heap_live += rsize
        self.heap_alloc += rsize
        self.total_alloc += rsize
        self.nobjects += 1
        self.nmalloc += 1
        return oid

    def ref_of(self, obj_id: int) -> Ref:
        """A ``Ref`` to the allocated object ``obj_id`` (at its current generation).

        Raises ``UseAfterFree`` if the slot holds no object.
        """
        oid = int(obj_id)
        if not 0 <= oid < self.nslots or not self._alloc_v[oid]:
            raise UseAfterFree(f"ref_of: slot {oid} holds no allocated object")
        return Ref(self, oid, self._gen_v[oid])

    def is_allocated(self, obj_id: int) -> bool:
        """True if slot ``obj_id`` currently holds an object."""
        return 0 <= obj_id < self.nslots and bool(self._alloc_v[obj_id])

    def pointers(self, obj_id: int) -> np.ndarray:
        """A read-only copy of the pointer words of object ``obj_id`` (-1 = nil)."""
        n = self._nptrs_v[obj_id]
        if n == 0:
            return np.empty(0, PTR_WORD)
        off = self._off_v[obj_id]
        return self.ptrs[off : off + n].copy()

    def live_ids(self) -> np.ndarray:
        """Ids of all allocated objects, ascending."""
        return np.flatnonzero(self.allocated[: self.nslots])

    def set_heap_live(self, nbytes: int) -> None:
        """Set ``heap_live`` (gcMark step 5: ``heap_live = bytesMarked`` at mark termination)."""
        if nbytes < 0:
            raise ValueError(f"set_heap_live: negative byte count {nbytes}")
        self.peak_live = max(self.peak_live, self.heap_live)
        self.heap_live = int(nbytes)

    def nspan(self) -> int:
        """Models ``mheap_.nspan``, ``len(h_allspans)``: the span structs the heap ever held at once.

        Go records a span struct in ``h_allspans`` when fixalloc makes a new one
        (``recordspan``) and never removes it, so the list only grows, with the heap's peak
        size; the GC walks all of it several times a cycle.  The model has no spans: it
        counts one 8 KiB span per page of the largest ``heap_live`` so far (the seed
        workload's 1 KiB class has one-page spans).  ``heap_live`` only falls at
        ``set_heap_live``, which keeps the peak; ``mallocgc`` raises it as the heap grows.
        """
        return -(-max(self.peak_live, self.heap_live) // PAGE_SIZE)

    # ------------------------------------------------------------------ sweep

    def sweep(self, free_held: bool = False) -> tuple[int, int]:
        """Free every allocated object whose mark bit is clear, then clear all mark bits.

        Models ``gcSweep`` in forced-block mode (sweep everything now; model doc §2.12).
        A freed slot's generation is bumped, its pointer words are set to nil and its block
        and slot go back to the free lists.  ``heap_alloc``/``nobjects`` drop, ``nfree`` grows;
        ``heap_live`` is not touched (the caller already set it to ``bytes_marked``).
        Returns ``(freed_objects, freed_bytes)``.  Vectorised: O(nslots) numpy work plus
        O(freed) list appends.

        Throws if an unmarked object still has live ``Ref`` handles (the runtime greys them all
        at mark termination).  ``free_held=True`` frees such objects anyway and forgets their
        handles, which then raise ``UseAfterFree``: for unit tests of the heap alone, whose
        own Refs are not roots.
        """
        n = self.nslots
        dead = np.flatnonzero((self.allocated[:n] != 0) & (self.mark[:n] == 0))
        nd = int(dead.size)
        freed_bytes = 0
        if nd:
            held = self.handles[dead]
            if free_held:
                self.handles[dead] = 0
            elif held.any():
                oid = int(dead[int(np.flatnonzero(held)[0])])
                raise Throw(f"sweep: freeing object {oid}, which {int(self.handles[oid])} live Ref handle(s) "
                            "still name (the live-handle table was not a root)")
            freed_bytes = int(self.size[dead].sum())
            cnt = self.nptrs[dead].astype(np.int64)
            has = cnt > 0
            if has.any():
                offs = self.ptr_off[dead[has]]
                c = cnt[has]
                for idx in word_index_chunks(offs, c):
                    self.ptrs[idx] = -1
                buckets = np.frexp((c - 1).astype(np.float64))[1]  # == (c-1).bit_length()
                order = np.argsort(buckets, kind="stable")
                bs = buckets[order]
                os_ = offs[order]
                edges = np.flatnonzero(np.diff(bs)) + 1
                for lo, hi in zip(
                    np.concatenate(([0], edges)).tolist(),
                    np.concatenate((edges, [bs.size])).tolist(),
                    strict=True,
                ):
                    # reversed so that the lowest offset is popped first
                    self._ptr_free[int(bs[lo])].extend(os_[lo:hi][::-1].tolist())
            self.gen[dead] += 1
            self.size[dead] = 0
            self.nptrs[dead] = 0
            self.ptr_off[dead] = -1
            self.allocated[dead] = 0
            # lowest id is reused first: keep the free list sorted descending.
            free = self._free_ids
            free.extend(dead.tolist())
            free.sort(reverse=True)
            self.heap_alloc -= freed_bytes
            self.nobjects -= nd
            self.nfree += nd
        self.mark[:n] = 0
        return nd, freed_bytes

    def held_unmarked(self) -> np.ndarray:
        """Ids of unmarked objects that live ``Ref`` handles name: what the safety net greys."""
        n = self.nslots
        return np.flatnonzero((self.handles[:n] != 0) & (self.mark[:n] == 0))

    def close(self) -> None:
        """The runtime ended: from now on any access through a ``Ref`` raises ``RuntimeEnded``."""
        self.closed = True
        self.wb_enabled = False
        self._gen_v = _EndedGenerations()  # type: ignore[assignment]

    # ------------------------------------------------------------------ checks

    def check_invariants(self) -> None:
        """Raise ``Throw`` naming the first broken heap invariant (O(heap), for tests/debug)."""
        n = self.nslots
        al = self.allocated[:n] != 0
        size = self.size[:n]
        nptrs = self.nptrs[:n].astype(np.int64)
        if np.any(nptrs[al] * PTR_SIZE > size[al]):
            raise Throw("heap: an object has 8*nptrs > size")
        free = ~al
        if np.any(size[free] != 0) or np.any(nptrs[free] != 0) or np.any(self.ptr_off[:n][free] != -1):
            raise Throw("heap: a free slot has size, nptrs or ptr_off set")
        if np.any(self.mark[:n][free] != 0):
            raise Throw("heap: a free slot is marked")
        if np.any(self.handles[:n][free] != 0) or np.any(self.handles[:n] < 0):
            raise Throw("heap: a free slot has live Ref handles, or a handle count is negative")
        if int(size[al].sum()) != self.heap_alloc:
            raise Throw("heap: heap_alloc != bytes of allocated objects")
        if int(al.sum()) != self.nobjects:
            raise Throw("heap: nobjects != number of allocated slots")
        ids = np.flatnonzero(al & (nptrs > 0))
        words = np.zeros(len(self.ptrs), bool)
        if ids.size:
            for idx in word_index_chunks(self.ptr_off[ids], nptrs[ids]):
                words[idx] = True
                vals = self.ptrs[idx]
                vals = vals[vals >= 0]
                if np.any(vals >= n) or not np.all(self.allocated[vals]):
                    raise Throw("heap: a pointer word refers to a free slot")
        if np.any(self.ptrs[~words] != -1):
            raise Throw("heap: a pool word outside every live object is not nil")

    def stats(self) -> dict[str, Any]:
        """The heap counters as a dict (for snapshots and tests)."""
        return {
            "heap_live": self.heap_live,
            "heap_alloc": self.heap_alloc,
            "nobjects": self.nobjects,
            "total_alloc": self.total_alloc,
            "nmalloc": self.nmalloc,
            "nfree": self.nfree,
            "bytes_marked": self.bytes_marked,
        }
