"""Helpers shared by the test modules: runners that record every event, and event filters.

Imported as ``from helpers import ...`` (pytest puts ``tests/`` on ``sys.path`` for its conftest).
"""

from __future__ import annotations

from typing import Any, TypeVar

import aiogc
from aiogc.trace.events import Event, GoStart, Recorder

E = TypeVar("E", bound=Event)


def make_rt(**fields: Any) -> tuple[aiogc.Runtime, Recorder]:
    """A runtime with every event recorded; GOGC off unless given (no collector goroutine interleaves)."""
    fields.setdefault("gogc", None)
    return recorded_runtime(**fields)


def recorded_runtime(**fields: Any) -> tuple[aiogc.Runtime, Recorder]:
    """A runtime built from ``fields`` as given, with a ``Recorder`` subscribed."""
    rt = aiogc.Runtime(**fields)
    rec = Recorder()
    rt.bus.subscribe(rec)
    return rt, rec


def events(rec: Recorder | list[Event], kind: type[E]) -> list[E]:
    """The recorded events of one kind, in order."""
    evs = rec.events if isinstance(rec, Recorder) else rec
    return [e for e in evs if type(e) is kind]


def start_labels(rec: Recorder) -> list[str]:
    """Labels of goroutines in the order they started running (GoStart events)."""
    return [e.label for e in events(rec, GoStart)]


def now_ns() -> int:
    """The calling goroutine's P's clock (inside a goroutine)."""
    return aiogc.current_p().now_ns()


class TraceDigests:
    """Record the event digest of every virtual-time Runtime built while installed (a test's runs)."""

    def __init__(self, monkeypatch: Any) -> None:
        self.recorders: list[Recorder] = []
        orig = aiogc.Runtime.__init__
        recorders = self.recorders

        def init(rt: aiogc.Runtime, *a: Any, **k: Any) -> None:
            orig(rt, *a, **k)
            if rt.config.clock == "virtual":
                rec = Recorder()
                recorders.append(rec)
                rt.bus.subscribe(rec)

        monkeypatch.setattr(aiogc.Runtime, "__init__", init)

    def digests(self) -> list[str]:
        return [r.digest() for r in self.recorders]


def both_scheduler_paths(request: Any, monkeypatch: Any, seen: dict[str, list[str]]) -> Any:
    """Body of an autouse fixture parametrized over ("inline", "slowpath"): run the test with
    ``AIOGC_SCHED_SLOWPATH`` off, then on (``Config.sched_slowpath``), and require that every
    runtime of the second run emitted the very same events as the first (``seen`` keeps the
    first run's digests by test)."""
    monkeypatch.setenv("AIOGC_SCHED_SLOWPATH", "1" if request.param == "slowpath" else "0")
    td = TraceDigests(monkeypatch)
    yield
    key = request.node.nodeid.rsplit("[", 1)[0] + "|" + "|".join(
        f"{k}={v}" for k, v in sorted(getattr(request.node, "callspec", None).params.items())
        if k != request.fixturename)
    got = td.digests()
    if request.param == "inline":
        seen[key] = got
    elif key in seen:
        assert got == seen.pop(key), "schedule()/execute() and run_slice's inlined copies diverged"
