"""The event bus: typed records, built only when someone listens; a raising subscriber is detached."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import pytest
from helpers import events, recorded_runtime

import aiogc
from aiogc.experiments.workloads import SeedWorkload, seed_main
from aiogc.trace.events import ALL_KINDS, Ev, Event, EventBus, GCDone, GoStart, Recorder


def _seed_run(*subs: Any, **cfg: Any) -> tuple[aiogc.Runtime, Recorder]:
    rt, rec = recorded_runtime(gomaxprocs=2, seed=3, **cfg)
    for s in subs:
        rt.bus.subscribe(s)
    rt.run(seed_main(SeedWorkload(), cycles=2))
    return rt, rec


def test_every_kind_is_a_slotted_record_with_the_common_header() -> None:
    names = {k.kind for k in ALL_KINDS}
    assert len(names) == len(ALL_KINDS)
    for k in ALL_KINDS:
        assert getattr(Ev, k.kind) is k
        assert issubclass(k, Event) and "__slots__" in k.__dict__
        fields = [f.name for f in dataclasses.fields(k)]
        assert fields[:3] == ["ts", "p", "g"]


def test_a_run_emits_typed_events_with_named_fields() -> None:
    rt, rec = _seed_run()
    kinds = {type(e) for e in rec.events}
    assert {Ev.GoStart, Ev.GCStart, Ev.GCDone, Ev.GCComplete, Ev.GCCoordWake, Ev.AssistEnd} <= kinds
    for e in rec.events:
        assert type(e.ts) is int and type(e.p) is int and type(e.g) is int
    assert [e.stats for e in events(rec, GCDone)] == rt.stats.cycles
    assert all(isinstance(e.label, str) for e in events(rec, GoStart))


def test_no_event_is_built_when_nobody_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every emit site is guarded by ``bus.on``: with no subscriber, constructing a record would raise."""

    def boom(*a: Any, **k: Any) -> Any:
        raise AssertionError("an event was built with nobody listening")

    for modname in ("aiogc.sched.sched", "aiogc.sched.host", "aiogc.collector.cycle", "aiogc.collector.assist",
                    "aiogc.collector.workers"):
        mod = sys.modules[modname]
        for k in ALL_KINDS:
            if hasattr(mod, k.kind):
                monkeypatch.setattr(mod, k.kind, boom)
    rt = aiogc.Runtime(gomaxprocs=2, seed=3, host_stack_prob=1.0, host_stack_ns=100_000)  # MStall's site too
    rt.run(seed_main(SeedWorkload(), cycles=2))
    assert len(rt.stats.cycles) >= 2 and rt.sched.host.nstall > 0


def test_a_raising_subscriber_is_detached_with_one_line_and_the_run_goes_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls = []

    def bad(ev: Event) -> None:
        calls.append(ev)
        if isinstance(ev, GoStart) and len(calls) > 5:
            raise ValueError("observer bug")

    _, clean = _seed_run()
    rt, rec = _seed_run(bad)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "observer bug" in ln]
    assert len(lines) == 1 and "detached" in lines[0] and "GoStart" in lines[0]
    assert isinstance(calls[-1], GoStart)  # not called again after it raised
    assert rt.bus.on  # the recorder is still attached
    assert rec.digest() == clean.digest()  # the model did not notice


def test_bus_on_tracks_subscribers_and_unsubscribe_during_emit() -> None:
    bus = EventBus()
    assert not bus.on
    got: list[str] = []
    unsub: list[Any] = []

    def once(ev: Event) -> None:
        got.append("once")
        unsub[0]()

    def other(ev: Event) -> None:
        got.append("other")

    unsub.append(bus.subscribe(once))
    un2 = bus.subscribe(other)
    assert bus.on
    bus.emit(Ev.GoEnd(0, 0, 1))
    bus.emit(Ev.GoEnd(1, 0, 1))
    assert got == ["once", "other", "other"]
    un2()
    assert not bus.on
