"""Roots: the globals and every goroutine's stack, as Go's markroot/scanstack see them.

A goroutine's *stack* here is the chain of its suspended coroutine frames:
``coro.cr_frame``, then what it awaits (``cr_await`` → a coroutine's ``cr_frame``
or a generator's ``gi_frame``, following ``gi_yieldfrom``), down to the trap it
yielded.  For the running goroutine (the one that triggered the scan, e.g. an
assist or ``aiogc.gc()``), the frames are live on the Python stack instead; we
walk ``f_back`` from the caller up to the scheduler's trampoline.

A frame's locals (including closure cells) are scanned for ``Ref``s directly or
inside lists, tuples, dicts (keys and values), sets, deques, ``Chan``s (their
buffered values and the values parked senders hold), futures' and goroutines'
results, closures, partials and bound methods, and the ``__dict__``/``__slots__``
of plain objects, to any depth (an explicit work list).  Each root
``Ref`` found is greyed.  The value in flight to a readied goroutine
(``g.wake_val``, e.g. a ``Ref`` just received from a channel) is part of its stack.

Scan cost: every value visited counts one pointer-sized word of scan work (the
issue asks that scanning a stack cost scan work; Go 1.5 did not count roots in
``scanWork`` — a documented departure), charged to the scanning P's clock.

Mark termination re-scans *every* goroutine's stack, not only those that ran since
their scan (Go's ``gcscanvalid``, which aiogc therefore does not keep): Go can skip the others because
every pointer store outside a frame's own locals has a write barrier, but the Python
containers aiogc goroutines share (a list, a buffered ``Chan``, a dict...) are
written without one, so a parked goroutine's list may have gained a white object
since its scan.  Same correctness as Go, a longer pause (go-runtime-model.md §2.7
allows it).
"""

from __future__ import annotations

import asyncio
import functools
import sys
import types
from collections import deque
from types import FrameType
from typing import Any

from aiogc.gc.heap import Ref
from aiogc.sched.g import G as _G
from aiogc.sched.sync import Chan as _CHAN

_SCALARS = frozenset({int, float, str, bytes, bool, type(None), complex, range, type})
# The runtime's own machinery: scanned through the specific cases above, never generically.
_OPAQUE_MODULES = ("aiogc.sched", "aiogc.gc", "aiogc.trace", "aiogc.runtime", "aiogc.config", "aiogc.view",
                   "aiogc.bench", "asyncio", "_asyncio", "uvloop", "socket", "ssl", "selectors", "numpy", "rich",
                   "concurrent", "threading")


def _expand(v: Any, t: type, todo: list[Any]) -> None:
    """Push what a non-container object holds (see ``RootScanner``)."""
    if t is _CHAN:
        todo.extend(v.buf)
        todo.extend(sd.elem for sd in v.sendq)
        return
    if t is _G:
        todo.append(v._result)
        todo.append(v.wake_val)
        return
    if isinstance(v, asyncio.Future):
        if v.done() and not v.cancelled():
            todo.append(v._result)  # type: ignore[attr-defined]
        return
    if t is types.FunctionType:
        cells = v.__closure__
        if cells:
            for c in cells:
                try:
                    todo.append(c.cell_contents)
                except ValueError:  # an empty cell
                    pass
        return
    if t is types.MethodType:
        todo.append(v.__self__)
        return
    if t is functools.partial:
        todo.append(v.func)
        todo.extend(v.args)
        todo.extend(v.keywords.values())
        return
    if t is types.CellType:
        try:
            todo.append(v.cell_contents)
        except ValueError:
            pass
        return
    if t.__module__ in ("builtins", "types") or t.__module__.startswith(_OPAQUE_MODULES):
        return
    d = getattr(v, "__dict__", None)
    if type(d) is dict and d:
        todo.extend(d.values())
    for klass in t.__mro__:
        slots = klass.__dict__.get("__slots__")
        if not slots:
            continue
        for name in (slots,) if isinstance(slots, str) else slots:
            if name in ("__dict__", "__weakref__"):
                continue
            try:
                todo.append(getattr(v, name))
            except AttributeError:
                pass


def coroutine_frames(coro: Any) -> list[FrameType]:
    """The suspended frames of a coroutine chain, outermost first."""
    frames: list[FrameType] = []
    c = coro
    seen = 0
    while c is not None and seen < 10_000:
        seen += 1
        f = getattr(c, "cr_frame", None)
        if f is None:
            f = getattr(c, "gi_frame", None)
        if f is None:
            f = getattr(c, "ag_frame", None)
        if f is not None:
            frames.append(f)
        nxt = getattr(c, "cr_await", None)
        if nxt is None:
            nxt = getattr(c, "gi_yieldfrom", None)
        c = nxt
    return frames


def running_frames(stop_code: Any) -> list[FrameType]:
    """Frames of the running goroutine: from our caller up to (not including) the trampoline."""
    frames: list[FrameType] = []
    f: FrameType | None = sys._getframe(1)
    while f is not None and f.f_code is not stop_code:
        frames.append(f)
        f = f.f_back
    return frames


class RootScanner:
    """Collects root object ids; counts words visited (scan work).

    The walk uses an explicit work list (no depth limit, no recursion) and visits each
    container or object once (a seen-set by ``id``).  What it looks inside: ``Ref``
    (a root), list/tuple/set/frozenset/deque, dict keys and values, ``Chan`` buffers and
    parked senders' values, asyncio futures' results and goroutines' results and values
    in flight, closures' cells, ``functools.partial`` and bound methods, and the
    ``__dict__``/``__slots__`` of plain objects.  Opaque to it (documented): values held
    only inside C objects other than those (e.g. a ``memoryview``'s buffer).
    """

    __slots__ = ("heap", "out", "words", "_seen", "_todo")

    def __init__(self, heap: Any) -> None:
        self.heap = heap
        self.out: list[int] = []
        self.words = 0
        self._seen: set[int] = set()
        self._todo: list[Any] = []

    def scan_value(self, v: Any) -> None:
        """Scan ``v`` and everything reachable from it (see the class docstring)."""
        todo = self._todo
        todo.append(v)
        seen = self._seen
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
            else:
                _expand(v, t, todo)
        self.words += words
    def scan_frames(self, frames: list[FrameType]) -> None:
        for f in frames:
            self.words += 2  # the frame header: return address and frame pointer
            for name, x in f.f_locals.items():
                # "@py_assert1"...: pytest's assertion rewriting (which pytest applies to aiogc itself,
                # a pytest plugin's distribution) adds these; they are not program variables, and
                # scanning them would make a run under pytest differ from the same run outside it.
                if name[0] != "@":
                    self.scan_value(x)

    def scan_goroutine(self, g: Any, stop_code: Any, running: bool = False) -> None:
        """Scan G's stack (Go's ``scanstack``); ``running`` = it is the calling goroutine."""
        frames = running_frames(stop_code) if running else coroutine_frames(g.coro)
        self.scan_frames(frames)
        if g.wake_val is not None:
            self.scan_value(g.wake_val)

    def scan_globals(self, globs: dict[str, Any]) -> None:
        for x in globs.values():
            self.scan_value(x)
