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


def run_recorded(coro: Any, **fields: Any) -> tuple[Any, Recorder, aiogc.Runtime]:
    """Run ``coro`` as main on a new runtime with every event kept: ``(result, recorder, runtime)``."""
    rt, rec = recorded_runtime(**fields)
    return rt.run(coro), rec, rt


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
