"""The tri-colour mark engine: gcWork buffers, greyobject, scanobject, drain, checkmark.

Models Go 1.5's mgcmark.go / mgcwork.go (model doc §2.8, §2.9, §6.4) over ``heap.Heap``.

Colours (Go's):
  white  mark bit clear;
  grey   mark bit set and the object id is in some work buffer (a ``GCWork``'s cached
         buffer, a buffer on ``Marker.full``/``Marker.partial``) or in a running
         ``drain``'s private frontier;
  black  mark bit set and scanned, or marked and noscan (``nptrs == 0``), or allocated black.

The tri-colour invariant that makes concurrent mark sound is kept by the write barrier
(``Heap.wb_enabled`` + ``Heap.shade`` -> ``Marker.shade``; Dijkstra insertion, coarsened as
in Go 1.5: the new pointee is shaded regardless of the slot's colour) together with the
mark-termination stack re-scan (the lead's ``roots``/``cycle``).

Work buffers (``GCWork``, one per P plus temporary ones; Go's ``gcWork``):
  * a GCWork caches at most one buffer ``wbuf`` (a ``list[int]`` of grey ids); invariant:
    ``wbuf`` is ``None`` or holds 1 .. ``workbuf_size - 1`` ids when no call is running
    (Go: never full, never empty);
  * ``put`` appends; the buffer that becomes full goes to the global ``full`` stack;
  * ``try_get`` pops LIFO from ``wbuf``, else takes ``full``'s top buffer, else ``partial``'s;
  * ``dispose`` pushes ``wbuf`` on ``full`` (e95bc5fe, go1.5; the default, a departure: see
    ``Config.dispose_to_full``) or on ``partial`` (every point of the July 2015 series) and flushes
    the local ``bytes_marked`` and ``scan_work`` into the Marker's globals.

Accounting (Go's, bytes): ``greyobject`` of a noscan object adds its size to ``bytes_marked``;
``scanobject`` adds the object's size to ``bytes_marked`` and ``8 * nptrs`` to ``scan_work``
(scan work = bytes scanned: the pointer words are the object's first ``nptrs`` words); roots
add nothing but the noscan-object bytes greyobject adds.  So every marked object is counted
in ``bytes_marked`` exactly once: at allocation if allocated black (``Heap.alloc``), when
greyed if noscan, when scanned otherwise.  Once every GCWork is disposed and no grey is left,
``bytes_marked == size[mark == 1].sum()``.  The global ``bytes_marked`` lives on the Heap
(``Heap.bytes_marked``; ``Marker.bytes_marked`` is a property over it) because black
allocation adds to it too.

Draining (``drain``, Go's ``gcDrainN`` and ``gcDrainUntilPreempt`` without preemption):
numpy costs ~20 µs per step but is ~10x faster per object than Python, so ``drain`` works in
batches: it pulls up to ``max_batch`` greys from the gcw and the global lists into one numpy
array (at most ``ceil(remaining_budget / 8)`` of them: every grey costs >= 8), keeps the
prefix whose cumulative scan work first reaches the budget (overshoot < one object, as Go's),
gathers their pointer words at once (the cumsum trick over ``ptr_off``/``nptrs``), drops nil
and marked pointees, deduplicates, marks, counts the noscan ones black and keeps the
scannable ones as its private frontier for the next step.  Greys it did not scan go back into
buffers (``gcw`` first, overflow to ``full``) before it returns.  When fewer than
``batch_min`` greys are available, or the budget covers fewer than ``batch_min`` objects
(estimated with a running mean of pointer words per scanned grey), it runs the plain-Python
path (``try_get`` + ``scanobject``) instead: measured crossover ~500-1000 bytes of budget.  Mark order differs from
Go's LIFO within a batch; the set marked does not depend on order.

Departures from Go 1.5: one thread, so no ``nwait``/``getfull`` termination barrier (the
lead's cycle decides completion with ``has_grey``); no empty-buffer pool; no ``_Gscan``
or heap-bitmap details; ``checkmark`` uses a separate STW vectorised BFS and a separate
bitmap rather than re-marking with checkmark bits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import chain

import numpy as np

from aiogc.collector.heap import PTR_SIZE, Heap, word_index, word_index_chunks
from aiogc.errors import CheckmarkError, Throw

__all__ = ["GCWork", "Marker", "WORKBUF_SIZE"]

WORKBUF_SIZE = 24  # _WorkbufSize 256 bytes - 64-byte header = 24 pointers (model doc §2.8)
BATCH_MIN = 32  # below this many greys per step the Python path is faster (design.md: ~25)
MAX_BATCH = 1 << 18  # greys per numpy step at most (bounds temporary memory)
_EMPTY = np.empty(0, np.int64)


class GCWork:
    """A per-P grey-object cache: Go's ``gcWork`` (mgcwork.go)."""

    __slots__ = ("marker", "wbuf", "bytes_marked", "scan_work")

    def __init__(self, marker: Marker) -> None:
        self.marker = marker
        self.wbuf: list[int] | None = None
        #: local counters, flushed into the Marker's globals by ``dispose``
        self.bytes_marked = 0
        self.scan_work = 0

    def put(self, obj: int) -> None:
        """Models ``gcWork.put``: append ``obj``; a buffer that becomes full goes to ``full``."""
        wbuf = self.wbuf
        m = self.marker
        if wbuf is None:
            wbuf = m.partial.pop() if m.partial else []  # getpartialorempty
            self.wbuf = wbuf
        wbuf.append(obj)
        if len(wbuf) >= m.workbuf_size:
            if len(wbuf) > m.workbuf_size:
                raise Throw("gcWork.put: work buffer overfull")
            m.full.append(wbuf)
            self.wbuf = None

    def put_many(self, objs: Sequence[int]) -> None:
        """``put`` each of ``objs`` in order (same resulting buffers), without a call per id."""
        m = self.marker
        size = m.workbuf_size
        i = 0
        n = len(objs)
        while i < n:
            wbuf = self.wbuf
            if wbuf is None:
                wbuf = m.partial.pop() if m.partial else []
                self.wbuf = wbuf
            take = min(size - len(wbuf), n - i)
            wbuf.extend(objs[i : i + take])
            i += take
            if len(wbuf) >= size:
                m.full.append(wbuf)
                self.wbuf = None

    def try_get(self) -> int | None:
        """Models ``gcWork.tryGet``: a grey id, LIFO from the cached buffer, else from ``full``,
        else from ``partial``; ``None`` when no work is available without blocking."""
        wbuf = self.wbuf
        if wbuf is None:
            m = self.marker
            if m.full:
                wbuf = m.full.pop()
            elif m.partial:
                wbuf = m.partial.pop()
            else:
                return None
            self.wbuf = wbuf
        obj = wbuf.pop()
        if not wbuf:
            self.wbuf = None  # putempty
        return obj

    def balance(self) -> None:
        """Models ``gcWork.balance``/``handoff``: if the cached buffer holds more than 4 ids,
        keep its newest half and push the older half on ``full`` for other workers."""
        wbuf = self.wbuf
        if wbuf is not None and len(wbuf) > 4:
            n = len(wbuf) // 2
            keep = wbuf[len(wbuf) - n :]
            del wbuf[len(wbuf) - n :]
            self.marker.full.append(wbuf)
            self.wbuf = keep

    def dispose(self) -> None:
        """Models ``gcWork.dispose``: push the cached buffer on ``full`` with
        ``Marker.dispose_to_full`` (e95bc5fe, 29 July 2015, after the series; the default, see
        ``Config.dispose_to_full``), else on ``partial`` as every point of the series does
        (``putpartial``: a mutator's write barrier can take it back, ``getpartialorempty``), and
        flush the local counters into the Marker's globals."""
        m = self.marker
        if self.wbuf:
            (m.full if m.dispose_to_full else m.partial).append(self.wbuf)
        self.wbuf = None
        if self.bytes_marked:
            m.heap.bytes_marked += self.bytes_marked
            self.bytes_marked = 0
        if self.scan_work:
            m.scan_work += self.scan_work
            self.scan_work = 0

    def empty(self) -> bool:
        """Models ``gcWork.empty``: no cached grey."""
        return not self.wbuf

    def __len__(self) -> int:
        return len(self.wbuf) if self.wbuf else 0


class Marker:
    """The global mark state (Go's ``work`` + ``gcController.scanWork``) and the mark engine."""

    def __init__(
        self,
        heap: Heap,
        workbuf_size: int = WORKBUF_SIZE,
        batch_min: int = BATCH_MIN,
        max_batch: int = MAX_BATCH,
        dispose_to_full: bool = True,
    ) -> None:
        if workbuf_size < 2:
            raise ValueError(f"workbuf_size must be >= 2, not {workbuf_size}")
        if batch_min < 1 or max_batch < 1:
            raise ValueError(f"batch_min and max_batch must be >= 1, got {batch_min}, {max_batch}")
        self.heap = heap
        self.workbuf_size = workbuf_size
        self.batch_min = batch_min
        self.max_batch = max_batch
        #: global stacks of grey buffers (Go's ``work.full`` and ``work.partial`` lfstacks)
        self.full: list[list[int]] = []
        self.partial: list[list[int]] = []
        #: ``dispose`` pushes on ``full`` (e95bc5fe) instead of ``partial`` (the series)
        self.dispose_to_full = dispose_to_full
        #: flushed scan work this cycle (Go's ``gcController.scanWork``), bytes
        self.scan_work = 0
        self._scratch = _EMPTY
        self._words_per_grey = 2.0  # running estimate, see drain

    # ------------------------------------------------------------------ state

    @property
    def bytes_marked(self) -> int:
        """Go's ``work.bytesMarked`` (flushed part); stored on the Heap, see the module doc."""
        return self.heap.bytes_marked

    @bytes_marked.setter
    def bytes_marked(self, v: int) -> None:
        self.heap.bytes_marked = v

    def reset(self) -> None:
        """Start a new cycle: empty work lists, zero ``bytes_marked`` and ``scan_work``.

        (Go's ``gcResetMarkState`` part; the caller resets or replaces the GCWorks.)
        """
        self.full.clear()
        self.partial.clear()
        self.scan_work = 0
        self.heap.bytes_marked = 0

    def new_gcw(self) -> GCWork:
        """A new, empty GCWork bound to this Marker."""
        return GCWork(self)

    def global_empty(self) -> bool:
        """No buffer on the global lists."""
        return not self.full and not self.partial

    def work_available(self, gcw: GCWork) -> bool:
        """``gcw.try_get`` would find a grey now."""
        return bool(gcw.wbuf) or bool(self.full) or bool(self.partial)

    def has_grey(self, gcws: Iterable[GCWork]) -> bool:
        """Any grey anywhere: on the global lists or cached in any of ``gcws`` (all of them)."""
        return bool(self.full) or bool(self.partial) or any(g.wbuf for g in gcws)

    def check_no_work(self, gcws: Iterable[GCWork]) -> None:
        """gcMark's assertion: raise ``Throw`` if any grey is left after mark termination."""
        if self.full or self.partial:
            raise Throw("gcMark: work.full or work.partial not empty at mark termination")
        for g in gcws:
            if g.wbuf:
                raise Throw("gcMark: a P's gcWork still caches work at mark termination")

    # ------------------------------------------------------------------ scalar path

    def greyobject(self, obj: int, gcw: GCWork) -> None:
        """Models ``greyobject``: if unmarked, mark; noscan -> black (``bytes_marked`` += size),
        else put on ``gcw`` (grey)."""
        h = self.heap
        mark_v = h._mark_v
        if mark_v[obj]:
            return
        mark_v[obj] = 1
        if h._nptrs_v[obj] == 0:
            gcw.bytes_marked += h._size_v[obj]
        else:
            gcw.put(obj)

    def shade(self, obj: int, gcw: GCWork) -> None:
        """Models ``shade``: grey ``obj`` into ``gcw`` (the caller disposes promptly in mark
        termination / mark 2, as Go does when ``gcBlackenPromptly``)."""
        self.greyobject(obj, gcw)

    def scanobject(self, obj: int, gcw: GCWork) -> None:
        """Models ``scanobject``: grey every non-nil pointee of ``obj``; ``bytes_marked`` +=
        size; ``scan_work`` += 8 * nptrs (bytes scanned)."""
        h = self.heap
        mark_v = h._mark_v
        nptrs_v = h._nptrs_v
        ptrs_v = h._ptrs_v
        n = nptrs_v[obj]
        off = h._off_v[obj]
        if n > 32:
            # A pointer-dense object: find its non-nil slots with one numpy step instead of a
            # Python loop over every word (same result, same scan_work accounting).
            seg = h.ptrs[off : off + n]
            slots = seg[seg >= 0].tolist()
        else:
            slots = [ptrs_v[k] for k in range(off, off + n)]
        for p in slots:
            if p >= 0 and not mark_v[p]:
                mark_v[p] = 1
                if nptrs_v[p] == 0:
                    gcw.bytes_marked += h._size_v[p]
                else:
                    gcw.put(p)
        gcw.bytes_marked += h._size_v[obj]
        gcw.scan_work += PTR_SIZE * n

    def mark_roots(self, obj_ids: Iterable[int], gcw: GCWork) -> None:
        """Grey the root objects ``obj_ids`` into ``gcw`` (Go's ``markroot``/``scanblock``: roots
        are greyed, not blackened, and add no scan work).  Duplicates are fine.
        Raises ``Throw`` if a root is not an allocated object."""
        roots = np.fromiter(obj_ids, dtype=np.int64)
        if roots.size == 0:
            return
        h = self.heap
        if roots.min() < 0 or roots.max() >= h.nslots or not np.all(h.allocated[roots]):
            bad = [int(r) for r in roots if not h.is_allocated(int(r))][0]
            raise Throw(f"markroot: root {bad} is not an allocated object")
        roots = _dedup(roots)
        roots = roots[h.mark[roots] == 0]
        if roots.size == 0:
            return
        h.mark[roots] = 1
        scan = h.nptrs[roots] != 0
        gcw.bytes_marked += int(h.size[roots[~scan]].sum())
        gcw.put_many(roots[scan].tolist())

    # ------------------------------------------------------------------ drain

    def drain(self, gcw: GCWork, budget: int | None = None) -> int:
        """Scan greys until ``budget`` bytes of scan work are done; return the scan work done.

        ``budget=None``: until no grey can be had without blocking (Go's
        ``gcDrainUntilPreempt`` without a preempt request; with one thread this is also
        ``gcDrain`` to exhaustion).  With a budget: Go's ``gcDrainN`` — stops once the work
        done is ``>= budget`` (overshooting by less than one object's scan work) or no work is
        available; ``budget <= 0`` does nothing.  Work is counted in ``gcw.scan_work`` and
        ``gcw.bytes_marked`` (flushed by ``gcw.dispose``).  Background-credit flushing is the
        caller's (it knows the returned amount).
        """
        if budget is not None and budget <= 0:
            return 0
        start = gcw.scan_work
        carry = _EMPTY  # private frontier: grey ids not in any buffer
        rem: int | None = None
        batch_min = self.batch_min
        try:
            while True:
                if budget is None:
                    need = self.max_batch
                else:
                    rem = budget - (gcw.scan_work - start)
                    if rem <= 0:
                        break
                    need = min(self.max_batch, -(-rem // PTR_SIZE))
                if need < batch_min or rem is not None and rem < self._words_per_grey * PTR_SIZE * batch_min:
                    # the budget covers too few objects for a numpy step to pay off
                    if carry.size:
                        gcw.put_many(carry.tolist())
                        carry = _EMPTY
                    self._drain_py(gcw, start + budget if budget is not None else None, None)
                    break
                if carry.size < need:
                    more = self._take(gcw, need - carry.size)
                    if more.size:
                        carry = np.concatenate((carry, more)) if carry.size else more
                if carry.size == 0:
                    break
                if carry.size < batch_min:
                    gcw.put_many(carry.tolist())
                    carry = _EMPTY
                    target = start + budget if budget is not None else None
                    if self._drain_py(gcw, target, batch_min) == 0:
                        break
                    continue
                cand = carry[:need]
                rest = carry[need:]
                carry = self._scan_batch(cand, rest, gcw, rem)
        finally:
            if carry.size:
                gcw.put_many(carry.tolist())
        return gcw.scan_work - start

    def _take(self, gcw: GCWork, limit: int) -> np.ndarray:
        """Pull at least min(limit, available) greys out of ``gcw`` and the global lists
        (whole buffers: cached, then ``full`` top-down, then ``partial``)."""
        chunks: list[list[int]] = []
        n = 0
        if gcw.wbuf:
            chunks.append(gcw.wbuf)
            n = len(gcw.wbuf)
            gcw.wbuf = None
        full = self.full
        while n < limit and full:
            b = full.pop()
            chunks.append(b)
            n += len(b)
        partial = self.partial
        while n < limit and partial:
            b = partial.pop()
            chunks.append(b)
            n += len(b)
        if n == 0:
            return _EMPTY
        if len(chunks) == 1:
            return np.array(chunks[0], dtype=np.int64)
        return np.fromiter(chain.from_iterable(chunks), dtype=np.int64, count=n)

    def _drain_py(self, gcw: GCWork, target: int | None, max_objects: int | None) -> int:
        """The plain-Python path: ``try_get`` + ``scanobject`` until ``gcw.scan_work >= target``,
        ``max_objects`` objects were scanned, or no work.  Returns objects scanned."""
        try_get = gcw.try_get
        scanobject = self.scanobject
        n = 0
        while target is None or gcw.scan_work < target:
            if max_objects is not None and n >= max_objects:
                break
            obj = try_get()
            if obj is None:
                break
            scanobject(obj, gcw)
            n += 1
        return n

    def _scan_batch(self, cand: np.ndarray, rest: np.ndarray, gcw: GCWork, rem: int | None) -> np.ndarray:
        """Scan a prefix of grey ids ``cand`` (all of it if ``rem`` is None, else the shortest
        prefix whose scan work reaches ``rem``); return the new frontier: newly greyed
        scannable ids, then the unscanned rest of ``cand``, then ``rest``."""
        h = self.heap
        cnt = h.nptrs[cand].astype(np.int64)
        ends = np.cumsum(cnt)
        k = cand.size
        if rem is not None:
            # shortest prefix with 8 * ends[k-1] >= rem
            k = min(int(np.searchsorted(ends, -(-rem // PTR_SIZE), side="left")) + 1, cand.size)
        objs = cand[:k]
        cnt = cnt[:k]
        total = int(ends[k - 1])
        # running mean of pointer words per grey, to predict how many objects a budget covers
        self._words_per_grey = 0.75 * self._words_per_grey + 0.25 * (total / k)
        gcw.scan_work += PTR_SIZE * total
        gcw.bytes_marked += int(h.size[objs].sum())
        mark = h.mark
        # The children still white, in scan order (by pieces: the index temporaries of a batch of
        # GBs would not fit in memory; the mark bits do not change between pieces, so the result
        # is the same).
        kids = _gather(h.ptrs, h.ptr_off[objs], cnt, lambda w: mark[w] == 0)
        if kids.size:
            kids = self._dedup_scratch(kids)
            mark[kids] = 1
            scan = h.nptrs[kids] != 0
            noscan = ~scan
            if noscan.any():
                gcw.bytes_marked += int(h.size[kids[noscan]].sum())
                kids = kids[scan]
        parts = [p for p in (kids, cand[k:], rest) if p.size]
        if not parts:
            return _EMPTY
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts)

    def _dedup_scratch(self, ids: np.ndarray) -> np.ndarray:
        """Unique ids, O(n) with a heap-sized scratch array (order: first-kept, deterministic)."""
        n = self.heap.nslots
        if self._scratch.size < n:
            self._scratch = np.zeros(max(n, 2 * self._scratch.size), np.int64)
        s = self._scratch
        pos = np.arange(ids.size, dtype=np.int64)
        s[ids] = pos
        return ids[s[ids] == pos]

    # ------------------------------------------------------------------ checkmark

    def reachable_from(self, root_ids: Iterable[int]) -> np.ndarray:
        """Bool mask over slots ``[0, heap.nslots)``: objects reachable from ``root_ids``.

        A stop-the-world vectorised BFS that does not touch the mark bits (for
        GODEBUG=gccheckmark=1, model doc §6.4).  Raises ``Throw`` if a root is not allocated.
        """
        h = self.heap
        n = h.nslots
        seen = np.zeros(n, bool)
        front = np.fromiter(root_ids, dtype=np.int64)
        if front.size == 0:
            return seen
        if front.min() < 0 or front.max() >= n or not np.all(h.allocated[front]):
            bad = [int(r) for r in front if not h.is_allocated(int(r))][0]
            raise Throw(f"checkmark: root {bad} is not an allocated object")
        front = np.unique(front)
        seen[front] = True
        while front.size:
            cnt = h.nptrs[front].astype(np.int64)
            has = cnt > 0
            if not has.all():
                front = front[has]
                cnt = cnt[has]
            if front.size == 0:
                break
            kids = _gather(h.ptrs, h.ptr_off[front], cnt, lambda w: ~seen[w])
            front = np.unique(kids)
            seen[front] = True
        return seen

    def checkmark(self, root_ids: Iterable[int]) -> None:
        """GODEBUG=gccheckmark=1: raise ``CheckmarkError`` naming the lowest-id object that is
        reachable from ``root_ids`` but not marked, and an object that refers to it (a marked
        one if any: that is the black->white pointer concurrent mark missed).  Call with the
        world stopped after mark termination, before sweep."""
        roots = np.fromiter(root_ids, dtype=np.int64)
        h = self.heap
        reach = self.reachable_from(roots)
        missed = np.flatnonzero(reach & (h.mark[: h.nslots] == 0))
        if missed.size == 0:
            return
        obj = int(missed[0])
        # find referrers of obj among reachable objects
        refs = np.flatnonzero(reach & (h.nptrs[: h.nslots] > 0))
        cnt = h.nptrs[refs].astype(np.int64)
        idx = word_index(h.ptr_off[refs], cnt, int(cnt.sum()))
        hit = np.flatnonzero(h.ptrs[idx] == obj)
        where = ""
        if hit.size:
            owner_pos = np.searchsorted(np.cumsum(cnt), hit, side="right")
            owners = refs[owner_pos]
            slots = hit - (np.cumsum(cnt) - cnt)[owner_pos]
            marked = h.mark[owners] != 0
            j = int(np.flatnonzero(marked)[0]) if marked.any() else 0
            colour = "marked" if marked[j] else "unmarked"
            where = f"; referenced by object {int(owners[j])} slot {int(slots[j])} ({colour})"
        if obj in set(roots.tolist()):
            where += "; it is a root"
        raise CheckmarkError(
            f"checkmark found unmarked object: object {obj} (size {h._size_v[obj]}, "
            f"{h._nptrs_v[obj]} pointer slots) is reachable but not marked{where} "
            f"({missed.size} reachable objects unmarked in all)"
        )


def _gather(ptrs: np.ndarray, offs: np.ndarray, cnt: np.ndarray,
            keep: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The non-nil pointer words of the objects at ``offs`` (``cnt`` words each), in order, that
    ``keep`` (a mask over a piece's ids) keeps; indexed piece by piece (``word_index_chunks``)."""
    pieces = []
    for idx in word_index_chunks(offs, cnt):
        w = ptrs[idx]
        w = w[w >= 0]
        pieces.append(w[keep(w)])
    if not pieces:
        return _EMPTY
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


def _dedup(ids: np.ndarray) -> np.ndarray:
    """Unique ids keeping first occurrences in order."""
    _, first = np.unique(ids, return_index=True)
    return ids[np.sort(first)]
