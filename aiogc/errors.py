"""Typed exceptions of aiogc.

Every failure the library can report has a class here, so callers can catch
exactly what they mean.  The CLI turns each into one line on stderr and exit
status 2; the library never swallows them.
"""

from __future__ import annotations

__all__ = [
    "AiogcError",
    "ConfigError",
    "Deadlock",
    "GoroutinePanic",
    "NotInGoroutine",
    "CheckmarkError",
    "UseAfterFree",
    "RuntimeEnded",
    "Throw",
    "ChanClosed",
    "RuntimeMisuse",
    "WorkerLost",
]


class AiogcError(Exception):
    """Base class of every aiogc error."""


class ConfigError(AiogcError, ValueError):
    """A configuration value (Config field or environment variable) is invalid.

    The message names the field, the rejected value and what is allowed.
    """

    def __init__(self, field: str, value: object, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"invalid {field}={value!r}: {allowed}")


class Deadlock(AiogcError):
    """Every goroutine is parked and nothing (timer, I/O, callback) can wake one.

    Models Go's ``checkdead`` ``throw("all goroutines are asleep - deadlock!")``.
    """

    def __init__(self, msg: str = "all goroutines are asleep - deadlock!",
                 goroutines: list[tuple[int, str, str]] | None = None) -> None:
        super().__init__(msg)
        #: the parked user goroutines: (id, label, wait reason), as Go lists them after the fatal line
        self.goroutines = goroutines or []


class GoroutinePanic(AiogcError):
    """A goroutine raised: like a Go panic, the whole run stops.

    ``goid`` is the goroutine id, ``traceback_text`` the formatted traceback of
    the original exception (also chained as ``__cause__``).
    """

    def __init__(self, goid: int, exc: BaseException, traceback_text: str) -> None:
        self.goid = goid
        self.exc = exc
        self.traceback_text = traceback_text
        super().__init__(f"panic in goroutine {goid}: {type(exc).__name__}: {exc}\n\n{traceback_text}")


class NotInGoroutine(AiogcError, RuntimeError):
    """An aiogc operation that needs a running goroutine was called outside one."""


class CheckmarkError(AiogcError):
    """GODEBUG=gccheckmark=1 found a reachable object that concurrent mark missed."""


class UseAfterFree(AiogcError):
    """A ``Ref`` was used after the GC freed its object (its slot's generation moved on)."""


class Throw(AiogcError):
    """A broken runtime invariant, named in the message (Go's ``throw("...")``)."""


class ChanClosed(AiogcError):
    """Send on a closed channel, or close of a closed/nil channel (a Go panic)."""


class RuntimeMisuse(AiogcError, RuntimeError):
    """A Runtime used the wrong way: run twice, ``run_async`` in virtual time, or a runtime
    started from inside a goroutine of another (one runtime runs at a time per process)."""


class RuntimeEnded(UseAfterFree):
    """A ``Ref`` (or weak pointer) was used after the runtime that owns its heap ended.

    A subclass of ``UseAfterFree``: when ``run()`` returns, every object of its heap is gone.
    """


class WorkerLost(AiogcError):
    """A worker process of an experiment (``validate``'s model runs) died before it returned its
    result: the OS killed it, most likely for memory.  The message says which bound to lower."""
