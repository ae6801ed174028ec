"""The July 2015 series switches (Config.go_commit) and the mechanisms each one changes."""

from __future__ import annotations

from typing import Any

import pytest

import aiogc
from aiogc.config import GO_SERIES, SERIES_SWITCHES, Config
from aiogc.errors import ConfigError
from aiogc.experiments.workloads import SeedWorkload, seed_main
from aiogc.trace.events import Ev, Recorder


def test_default_is_the_seed_exactly() -> None:
    c = Config(gomaxprocs=2, gogc=100, godebug="")
    assert c.go_commit == "500c88d4"
    assert c.yield_after_assist is True
    assert c.assist_policy == "seed"
    assert (c.no_worker_after_complete, c.sched_complete, c.assist_in_scan) == (False, False, False)


@pytest.mark.parametrize("name, want", [
    ("parent", "4f188c2d"), ("4f188c2d", "4f188c2d"), ("4F188C2D1C88D68D", "4f188c2d"),
    ("seed", "500c88d4"), ("retry", "8f34b253"), ("8f34b25", "8f34b253"),
    ("nostart", "64a32ffe"), ("asap", "510fd135"), ("510fd1350d039d9c70b2411f3873db9bb86ae0eb", "510fd135"),
])
def test_go_commit_names(name: str, want: str) -> None:
    assert Config(go_commit=name, godebug="").go_commit == want


@pytest.mark.parametrize("bad", ["go1.5", "500c88", "", "deadbeef", 5])
def test_go_commit_bad(bad: Any) -> None:
    with pytest.raises(ConfigError, match="go_commit"):
        Config(go_commit=bad, godebug="")


def test_each_point_turns_on_its_switches_and_keeps_its_predecessors() -> None:
    for i, (label, _, _) in enumerate(GO_SERIES):
        c = Config(go_commit=label, godebug="")
        for name, (since, on, off) in SERIES_SWITCHES.items():
            assert getattr(c, name) == (on if i >= since else off), (label, name)


def test_explicit_switch_overrides_and_replace_rederives_the_rest() -> None:
    c = Config(go_commit="seed", yield_after_assist=False, godebug="")
    assert c.yield_after_assist is False  # the parent's behaviour, asked for explicitly
    later = c.replace(go_commit="asap")
    assert later.yield_after_assist is False  # explicit: kept
    assert later.assist_policy == "retry" and later.assist_in_scan  # derived: from the new commit
    back = later.replace(go_commit="parent", yield_after_assist=True)
    assert back.yield_after_assist is True and back.assist_policy == "seed" and not back.sched_complete


def _events(commit: str, gomaxprocs: int = 2, cycles: int = 6, seed: int = 1, **cfg: Any) -> list[Any]:
    rt = aiogc.Runtime(gomaxprocs=gomaxprocs, gogc=100, seed=seed, go_commit=commit, clock="virtual", godebug="",
                       **cfg)
    rec = Recorder()
    rt.bus.subscribe(rec)
    rt.run(seed_main(SeedWorkload(), cycles=cycles))
    return rec.events


def _between_mark1_and_coordinator(events: list[Any]) -> list[list[Any]]:
    """Per cycle: the events from mark 1's complete() to the coordinator resuming."""
    out: list[list[Any]] = []
    cur: list[Any] | None = None
    for ev in events:
        if isinstance(ev, Ev.GCComplete) and ev.phase == 1:
            cur = []
            out.append(cur)
        elif isinstance(ev, Ev.GCCoordWake) and ev.phase == 1:
            cur = None
        elif cur is not None:
            cur.append(ev)
    return out


def test_seed_starts_workers_between_mark1_and_mark2_and_64a32ffe_does_not() -> None:
    # Without the yield (the parent) the coordinator waits long enough after mark 1 for the
    # scheduler to look for workers; the worker behaviour is the seed's (the parent differs only
    # by the yield).
    seed = [e for w in _between_mark1_and_coordinator(_events("parent", cycles=20)) for e in w
            if isinstance(e, Ev.WorkerStart)]
    nostart = [e for w in _between_mark1_and_coordinator(_events("nostart", cycles=20, yield_after_assist=False))
               for e in w if isinstance(e, Ev.WorkerStart)]
    assert nostart == []
    assert seed, "at the seed the scheduler keeps starting workers until both signals are done"


def test_scheduler_completion_only_from_64a32ffe() -> None:
    def whos(commit: str) -> set[str]:  # over three seeds: "often" is not "in every run"
        return {e.who for seed in (1, 2, 3) for e in _events(commit, cycles=10, seed=seed)
                if isinstance(e, Ev.GCComplete)}

    assert "sched" not in whos("seed")
    assert "sched" in whos("nostart")  # mark 2 is always waited for: often nobody is left to complete it


def test_assists_during_the_scan_phase_only_from_510fd135() -> None:
    def blacken_at_scan(commit: str) -> set[bool]:
        rt = aiogc.Runtime(gomaxprocs=2, gogc=100, seed=1, go_commit=commit, clock="virtual", godebug="")
        seen: set[bool] = set()
        phase = [""]

        def sub(ev: Any) -> None:
            if isinstance(ev, Ev.GCPhase):
                phase[0] = ev.phase
            elif isinstance(ev, Ev.STWEnd) and phase[0] == "scan":
                seen.add(rt.sched.gc_blacken_enabled)  # what the mutators see during the scan

        rt.bus.subscribe(sub)
        rt.run(seed_main(SeedWorkload(), cycles=3))
        return seen

    assert blacken_at_scan("nostart") == {False}
    assert blacken_at_scan("asap") == {True}


def test_seed_nothing_to_mark_is_never_completed_while_the_p_is_busy() -> None:
    """At the seed only a marker that stops marking checks completion: a mark phase with no grey
    object, on one P kept busy by pointer-free allocation (no assist debt: heap_scan is 0), is
    completed by nobody until the P idles; 64a32ffe's scheduler completes it."""

    async def main() -> int:
        aiogc.set_gc_percent(100)
        for _ in range(4000):
            await aiogc.alloc(4096, 0)
        return int(aiogc.read_mem_stats().num_gc)

    assert aiogc.Runtime(gomaxprocs=1, seed=0, go_commit="seed").run(main()) == 0
    assert aiogc.Runtime(gomaxprocs=1, seed=0, go_commit="nostart").run(main()) >= 1
