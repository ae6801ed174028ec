"""Roots: the globals and every goroutine's stack, as Go's markroot/scanstack see them.

A goroutine's *stack* here is the chain of its suspended coroutine frames:
``coro.cr_frame``, then what it awaits (``cr_await`` → a coroutine's ``cr_frame``
or a generator's ``gi_frame``, following ``gi_yieldfrom``), down to the trap it
yielded.  For the running goroutine (the one that triggered the scan, e.g. an
assist or ``aiogc.gc()``), the frames are live on the Python stack instead; we
walk ``f_back`` from the caller up to the scheduler's trampoline.

A frame's locals (including closure cells) are scanned for ``Ref``s directly or
inside lists, tuples, dicts (keys and values), sets, deques, and ``Chan``s
(their buffered values and the values parked senders hold), and inside the
``__dict__``/``__slots__`` of plain objects, to a bounded depth.  Each root
``Ref`` found is greyed.  The value in flight to a readied goroutine
(``g.wake_val``, e.g. a ``Ref`` just received from a channel) is part of its stack.

Scan cost: every value visited counts one pointer-sized word of scan work (the
issue asks that scanning a stack cost scan work; Go 1.5 did not count roots in
``scanWork`` — a documented departure), charged to the scanning P's clock.

Invariant used by the mark-termination re-scan: ``g.gcscanvalid`` is set when a
stack is scanned and cleared by ``execute`` whenever the G runs again, so a G
whose stack may have changed since its scan is always re-scanned.
"""

from __future__ import annotations

import sys
from collections import deque
from types import FrameType
from typing import Any

from aiogc.gc.heap import Ref

_MAX_DEPTH = 8
_SCALARS = (int, float, str, bytes, bool, type(None), complex, range)


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
    """Collects root object ids; counts words visited (scan work)."""

    __slots__ = ("heap", "out", "words", "_seen", "_chan_type")

    def __init__(self, heap: Any) -> None:
        from aiogc.sched.sync import Chan

        self.heap = heap
        self.out: list[int] = []
        self.words = 0
        self._seen: set[int] = set()
        self._chan_type = Chan

    def scan_value(self, v: Any, depth: int = 0) -> None:
        self.words += 1
        t = type(v)
        if t is Ref:
            if v.heap is self.heap and v.alive:
                self.out.append(v.id)
            return
        if t in _SCALARS or depth > _MAX_DEPTH:
            return
        if t is list or t is tuple or t is set or t is frozenset or t is deque:
            if len(v) == 0:
                return
            i = id(v)
            if i in self._seen:
                return
            self._seen.add(i)
            for x in v:
                self.scan_value(x, depth + 1)
            return
        if t is dict:
            if not v:
                return
            i = id(v)
            if i in self._seen:
                return
            self._seen.add(i)
            for k, x in v.items():
                self.scan_value(k, depth + 1)
                self.scan_value(x, depth + 1)
            return
        if t is self._chan_type:
            i = id(v)
            if i in self._seen:
                return
            self._seen.add(i)
            for x in v.buf:
                self.scan_value(x, depth + 1)
            for sd in v.sendq:
                self.scan_value(sd.elem, depth + 1)
            return
        # Plain user objects: their attributes are part of what the frame holds.
        if t.__module__ in ("builtins", "asyncio", "types") or callable(v) and not hasattr(v, "__dict__"):
            return
        d = getattr(v, "__dict__", None)
        if type(d) is dict and d:
            i = id(v)
            if i in self._seen:
                return
            self._seen.add(i)
            for x in d.values():
                self.scan_value(x, depth + 1)
            return
        slots = getattr(t, "__slots__", None)
        if slots and not t.__module__.startswith("aiogc"):
            i = id(v)
            if i in self._seen:
                return
            self._seen.add(i)
            for name in (slots if not isinstance(slots, str) else (slots,)):
                x = getattr(v, name, None)
                if x is not None:
                    self.scan_value(x, depth + 1)

    def scan_frames(self, frames: list[FrameType]) -> None:
        for f in frames:
            self.words += 2  # the frame header: return address and frame pointer
            for x in f.f_locals.values():
                self.scan_value(x)

    def scan_goroutine(self, g: Any, stop_code: Any, running: bool = False) -> None:
        """Scan G's stack (Go's ``scanstack``); ``running`` = it is the calling goroutine."""
        frames = running_frames(stop_code) if running else coroutine_frames(g.coro)
        self.scan_frames(frames)
        if g.wake_val is not None:
            self.scan_value(g.wake_val)
        g.gcscanvalid = True

    def scan_globals(self, globs: dict[str, Any]) -> None:
        for x in globs.values():
            self.scan_value(x)
