"""Roots: the globals and every goroutine's stack, as Go's markroot/scanstack see them, and
the contract that no scanner has to carry alone.

The root contract: **an object is never freed while a ``Ref`` to it is reachable from any live
Python object**: goroutine frames including their evaluation stacks, host-loop callbacks and
timers, any module, any container of any type, C types included.  ``aiogc.globals()`` is the
Go-style package-variable root (Go's data and bss segments).  Two mechanisms keep it:

1. *The modelled scan* (this module): what Go's ``markroot`` does, with its cost.  At mark start
   the coordinator scans the globals and every goroutine's stack; mark termination re-scans them
   all.  Each value visited costs one pointer-sized word of scan work (Go 1.5 did not count
   roots in ``scanWork``: a documented departure the original issue asked for), charged to the
   scanning P.
2. *The live-handle table* (``heap.py``): every ``Ref`` object counts itself; mark termination
   greys, with the world stopped, whatever the table holds that the scan did not reach (after
   freeing Python's unreachable cycles, so that only the program decides: heap.py).  It is
   the safety net for what no Python introspection can see (a running frame's evaluation stack)
   and for whatever the walk below is opaque to.  ``GODEBUG=gccheckmark=1`` checks both against
   a census of every ``Ref`` CPython tracks (``python_held_ids``).

A goroutine's *stack* is the chain of its suspended coroutines: ``g.coro``, then what it awaits
(``cr_await``, ``gi_yieldfrom``, ``ag_await``).  A suspended frame is read through
``gc.get_referents`` of its coroutine or generator, which gives its locals, cells *and its
evaluation stack* (the list a comprehension is building, the tuple being built, call arguments
being collected).  The running goroutine (the one that triggered the scan: an assist, or
``aiogc.gc()``) has live frames on the Python stack: its locals are read from each frame's
``f_locals`` from the caller up to its outermost coroutine frame; their evaluation stacks are
invisible to Python and left to the table.

The walk (``RootScanner.scan_value``) uses an explicit work list (no depth limit) and visits each
container once: ``Ref`` (a root); list/tuple/set/frozenset/deque/dict fast paths; ``Chan`` buffers
and parked senders' values; goroutines' results and values in flight; closures' cells, partials
and bound methods; frames (their locals), suspended coroutines/generators/async generators (as
frames); and everything else through ``gc.get_referents`` (subclasses of the builtin containers,
``OrderedDict``/``defaultdict``/``Counter``, namedtuples, ``SimpleNamespace``, ``__slots__``
objects, exceptions with their args, context and traceback, futures with their result and done
callbacks, asyncio queues and handles...).  It stops at modules, classes, code, the runtime's own
machinery (schedulers, Ps, the heap), event loops, host I/O objects, numpy arrays and
``contextvars.Context`` (a goroutine's context is a copy of the host thread's: walking it would
charge the host's environment to the program; ``ContextVar`` values are kept by the table).

What costs scan work is the *program's* stack only: frames of aiogc's own code (the scheduler,
the collector, channel operations...) are scanned for Refs but charge nothing, with their own
seen-set, so refactoring the runtime (a helper frame more, a local more) cannot change a result.

Mark termination re-scans *every* goroutine's stack, not only those that ran since their scan
(Go's ``gcscanvalid``, which aiogc therefore does not keep): Go can skip the others because every
pointer store outside a frame's own locals has a write barrier, but the Python containers aiogc
goroutines share (a list, a buffered ``Chan``, a dict...) are written without one, so a parked
goroutine's list may have gained a white object since its scan.  Same correctness as Go, a
longer pause (go-runtime-model.md §2.7 allows it).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import os
import sys
import types
from collections import deque
from types import FrameType
from typing import Any

from aiogc.collector.heap import Ref
from aiogc.errors import CheckmarkError
from aiogc.sched.g import G as _G
from aiogc.sched.sync import Chan as _CHAN

_SCALARS = frozenset({int, float, str, bytes, bool, type(None), complex, range, type, types.CodeType,
                      types.BuiltinFunctionType, types.ModuleType, types.GetSetDescriptorType,
                      types.MemberDescriptorType, types.WrapperDescriptorType, types.MethodDescriptorType})
_FRAMES = (types.CoroutineType, types.GeneratorType, types.AsyncGeneratorType)
# The runtime's own machinery and host I/O: never walked generically (they reach everything).
# contextvars.Context: a goroutine's context is copied from the host thread's, so walking it
# would charge the host environment (a Dask worker's whole state) to the program's stack;
# ContextVar values are kept by the live-handle table instead.
_OPAQUE_MODULES = ("aiogc.sched", "aiogc.collector", "aiogc.trace", "aiogc.runtime", "aiogc.config", "aiogc.view",
                   "uvloop", "socket", "ssl", "selectors", "numpy", "rich", "concurrent", "threading",
                   "multiprocessing", "_thread", "logging", "io", "_io", "_contextvars")

# Which code is aiogc's own (charges no scan work): files of the aiogc package outside the
# program-like subpackages (the experiments' workloads and the benchmarks are programs).
_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # aiogc/
_PROGRAM_DIRS = tuple(_PKG_DIR + d + os.sep for d in ("experiments", "bench"))
_runtime_file: dict[str, bool] = {}


def is_runtime_code(code: types.CodeType) -> bool:
    """True for code of aiogc's own runtime (cached per file name: code objects compare equal
    across files, so they cannot be the key)."""
    f = code.co_filename
    r = _runtime_file.get(f)
    if r is None:
        r = _runtime_file[f] = f.startswith(_PKG_DIR) and not f.startswith(_PROGRAM_DIRS)
    return r


def _code_of(c: Any) -> types.CodeType | None:
    return getattr(c, "cr_code", None) or getattr(c, "gi_code", None) or getattr(c, "ag_code", None)


def _frame_values(c: Any, todo: list[Any]) -> None:
    """Push a suspended coroutine's/generator's locals, cells and evaluation stack.

    What ``gc.get_referents`` gives depends on CPython's bookkeeping, not only on the
    program: a frame object (made by any ``cr_frame`` access) and a ``f_locals`` snapshot dict
    (made by any ``f_locals`` access, e.g. a scan while the goroutine ran) appear among the
    referents once they exist.  Both are skipped, so the scan work is the same either way; a
    snapshot is refreshed first, so a stale one can neither keep a dropped Ref alive nor be
    mistaken for a local.
    """
    refs = gc.get_referents(c)
    snapshot = None
    for x in refs:
        if type(x) is dict:  # maybe the f_locals snapshot: refresh it and learn which dict it is
            fr = getattr(c, "cr_frame", None) or getattr(c, "gi_frame", None) or getattr(c, "ag_frame", None)
            if fr is not None:
                snapshot = fr.f_locals
            break
    for x in refs:
        t = type(x)
        if t is types.CodeType or t is str or t is types.FunctionType or t is FrameType or x is snapshot:
            continue  # the frame's code, names, function, frame object and snapshot: not its stack
        todo.append(x)


def _expand(v: Any, t: type, todo: list[Any]) -> None:
    """Push what a non-fast-path object holds (see the module docstring)."""
    if t is _CHAN:
        todo.extend(v.buf)
        todo.extend(sd.elem for sd in v.sendq)
        return
    if t is _G:
        todo.append(v._result)
        todo.append(v.wake_val)
        return
    if t is types.FunctionType:
        cells = v.__closure__
        if cells:
            todo.extend(cells)
        if v.__defaults__:
            todo.extend(v.__defaults__)
        return
    if t is types.CellType:
        try:
            todo.append(v.cell_contents)
        except ValueError:  # an empty cell
            pass
        return
    if t is types.MethodType:
        todo.append(v.__self__)
        todo.append(v.__func__)
        return
    if t is functools.partial:
        todo.append(v.func)
        todo.extend(v.args)
        todo.extend(v.keywords.values())
        return
    if t is FrameType:
        todo.extend(v.f_locals.values())  # not f_back or f_globals: a frame's own slots only
        return
    if isinstance(v, type) or t.__module__.startswith(_OPAQUE_MODULES) or isinstance(v, asyncio.AbstractEventLoop):
        return  # the runtime's machinery, host loops and I/O: they reach everything
    # An instance's attributes are referents either one by one (3.11's inline values) or as
    # one dict, depending on whether anything ever asked for ``__dict__``: ask first, so it is
    # always the dict, and count its values only (what the program stored), never the dict.
    d = getattr(v, "__dict__", None)
    if type(d) is not dict:
        d = None
    for x in gc.get_referents(v):
        if d is not None and x is d:
            todo.extend(d.values())
        elif not isinstance(x, type):
            todo.append(x)


def goroutine_chain(coro: Any) -> list[Any]:
    """The suspended coroutines/generators of a goroutine, outermost first."""
    chain: list[Any] = []
    c = coro
    while c is not None and len(chain) < 100_000:
        chain.append(c)
        nxt = getattr(c, "cr_await", None)
        if nxt is None:
            nxt = getattr(c, "gi_yieldfrom", None)
        if nxt is None:
            nxt = getattr(c, "ag_await", None)
        c = nxt
    return chain


def running_frames(outermost: FrameType | None, stop_code: Any = None) -> list[FrameType]:
    """Frames of the running goroutine: from our caller's caller up to its outermost coroutine
    frame ``outermost`` (or, failing that, up to a frame running ``stop_code``)."""
    frames: list[FrameType] = []
    f: FrameType | None = sys._getframe(2)
    while f is not None and f.f_code is not stop_code:
        frames.append(f)
        if f is outermost:
            break
        f = f.f_back
    return frames


class RootScanner:
    """Collects root object ids; counts words visited (scan work) on the program's stacks.

    ``out``: ids of the ``Ref``s found (duplicates allowed); ``words``: the scan work in words.
    Two walks share ``out`` but not their seen-sets: the charged one (program frames, globals,
    values in flight) and the free one (aiogc's own frames), so that what the runtime's code
    holds can neither add scan work nor hide a container from the charged walk.
    """

    __slots__ = ("heap", "out", "words", "_seen", "_seen_free", "_todo")

    def __init__(self, heap: Any) -> None:
        self.heap = heap
        self.out: list[int] = []
        self.words = 0
        self._seen: set[int] = set()
        self._seen_free: set[int] = set()
        self._todo: list[Any] = []

    def scan_value(self, v: Any, charge: bool = True) -> None:
        """Scan ``v`` and everything reachable from it (see the module docstring)."""
        todo = self._todo
        todo.append(v)
        seen = self._seen if charge else self._seen_free
        out = self.out
        heap = self.heap
        words = 0
        while todo:
            v = todo.pop()
            words += 1
            t = type(v)
            if t is Ref:
                if v.heap is heap and v.alive:
                    out.append(v.id)
                continue
            if t in _SCALARS:
                continue
            i = id(v)
            if i in seen:
                continue
            seen.add(i)
            if t is list or t is tuple or t is set or t is frozenset or t is deque:
                todo.extend(v)
            elif t is dict:
                todo.extend(v.keys())
                todo.extend(v.values())
            elif t in _FRAMES:
                code = _code_of(v)
                if charge and code is not None and is_runtime_code(code):
                    # aiogc's own generator met on a program's stack: scanned for free
                    # with its own work list: the values still pending in this walk are
                    # the program's and stay charged whatever order the referents come in
                    self.words += words
                    words = 0
                    self._todo = []
                    try:
                        self.scan_value(v, charge=False)
                    finally:
                        self._todo = todo
                    continue
                words += 2  # the frame header: return address and frame pointer
                _frame_values(v, todo)
            else:
                _expand(v, t, todo)
        if charge:
            self.words += words

    def scan_goroutine(self, g: Any, stop_code: Any = None, running: bool = False) -> None:
        """Scan G's stack (Go's ``scanstack``); ``running`` = it is the calling goroutine."""
        if running:
            outer = getattr(g.coro, "cr_frame", None) or getattr(g.coro, "gi_frame", None)
            for f in running_frames(outer, stop_code):
                charge = not is_runtime_code(f.f_code)
                if charge:
                    self.words += 2
                for x in f.f_locals.values():
                    self.scan_value(x, charge)
        else:
            for c in goroutine_chain(g.coro):
                code = _code_of(c)
                self.scan_value(c, charge=code is None or not is_runtime_code(code))
        if g.wake_val is not None:
            self.scan_value(g.wake_val)

    def scan_globals(self, globs: dict[str, Any]) -> None:
        for x in globs.values():
            self.scan_value(x)


def python_held_ids(heap: Any) -> list[int]:
    """Checkmark's census of live handles, independent of the live-handle table.

    Walks every object CPython's cyclic collector tracks (``Ref`` instances are tracked), so
    it sees a ``Ref`` wherever it lives, reachable or in uncollected cyclic garbage.  Raises
    ``CheckmarkError`` if a ``Ref`` names an object that was already freed (the one bug a
    collector must never have) or if the table undercounts one.  O(every Python object):
    for ``GODEBUG=gccheckmark=1`` only.
    """
    ids: list[int] = []
    gen_v = heap._gen_v
    handles_v = heap._handles_v
    for o in gc.get_objects():
        if type(o) is Ref and o.heap is heap:
            oid = o.id
            if gen_v[oid] != o.gen:
                raise CheckmarkError(
                    f"checkmark: a live Ref names object {oid} generation {o.gen}, which was freed "
                    f"(slot now at generation {gen_v[oid]})")
            if handles_v[oid] <= 0:
                raise CheckmarkError(f"checkmark: a live Ref names object {oid} but the live-handle "
                                     f"table counts {handles_v[oid]}")
            ids.append(oid)
    return ids
