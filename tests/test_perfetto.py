"""The Perfetto / Chrome trace-event writer: structure, and the fix's hand-off as seen on a P lane."""

from __future__ import annotations

import json
from typing import Any

import pytest

import aiogc
from aiogc.experiments.workloads import SeedWorkload, seed_main
from aiogc.trace.perfetto import PerfettoTrace


def _seed_trace(yield_after_assist: bool, cycles: int, seed: int = 0) -> tuple[dict[str, Any], Any]:
    # 64a32ffe with the seed's assist policy: at the seed itself a dedicated worker can livelock its P
    # ahead of the coordinator at GOMAXPROCS=4 (docs/realgo.md, mechanism C); this is about the trace.
    rt = aiogc.Runtime(gomaxprocs=4, seed=seed, gogc=100, yield_after_assist=yield_after_assist, clock="virtual",
                       godebug="", go_commit="64a32ffe", assist_policy="seed")
    tr = PerfettoTrace.attach(rt)
    rt.run(seed_main(SeedWorkload(), cycles=cycles))
    tr.detach()
    return tr.to_json(), rt


@pytest.fixture(scope="module")
def seed_trace() -> tuple[dict[str, Any], Any]:
    return _seed_trace(True, 4)


def test_metadata_names_process_and_every_p(seed_trace: tuple[dict[str, Any], Any]) -> None:
    doc, rt = seed_trace
    evs = doc["traceEvents"]
    meta = [e for e in evs if e["ph"] == "M"]
    assert any(e["name"] == "process_name" and e["args"]["name"] == "aiogc" for e in meta)
    names = {e["args"]["name"]: e["tid"] for e in meta if e["name"] == "thread_name"}
    for i in range(rt.config.gomaxprocs):
        assert names[f"P{i}"] == i
    assert "GC" in names
    assert doc["otherData"]["config"]["seed"] == 0
    assert doc["otherData"]["config"]["gomaxprocs"] == 4


def test_slices_instants_counters(seed_trace: tuple[dict[str, Any], Any]) -> None:
    doc, _ = seed_trace
    evs = doc["traceEvents"]
    xs = [e for e in evs if e["ph"] == "X"]
    assert xs
    for e in xs:
        for k in ("ts", "dur", "pid", "tid", "name"):
            assert k in e, (k, e)
        assert e["dur"] >= 0
        assert isinstance(e["ts"], float)
        assert round(e["ts"], 3) == e["ts"]
    cats = {e["cat"] for e in xs}
    assert {"goroutine", "gc.assist", "gc.worker", "gc.phase"} <= cats
    phases = {e["name"] for e in xs if e["cat"] == "gc.phase"}
    assert {"sweepterm", "scan", "mark", "marktermination"} <= phases
    counters = {e["name"] for e in evs if e["ph"] == "C"}
    assert {"heap live", "heap trigger", "heap goal"} <= counters
    inst = [e for e in evs if e["ph"] == "i"]
    assert any(e["cat"] == "gc.complete" for e in inst)
    assert any(e["cat"] == "gc.coord" and "latency_ns" in e["args"] for e in inst)
    json.dumps(doc)  # serialisable


def test_assist_complete_followed_by_coordinator_on_same_p(seed_trace: tuple[dict[str, Any], Any]) -> None:
    doc, _ = seed_trace
    evs = doc["traceEvents"]
    completes = [e for e in evs if e["ph"] == "i" and e["cat"] == "gc.complete" and e["args"]["who"] == "assist"]
    assert completes, "no assist completed a mark phase in this run"
    for c in completes:
        lane = sorted((e for e in evs if e["ph"] == "X" and e["cat"] == "goroutine" and e["tid"] == c["tid"]
                       and e["ts"] >= c["ts"]), key=lambda e: e["ts"])
        assert lane, c
        assert lane[0]["name"] == "GC coordinator", (c, lane[0])


def test_write(tmp_path: Any) -> None:
    rt = aiogc.Runtime(gomaxprocs=2, seed=3, clock="virtual", godebug="")
    tr = PerfettoTrace.attach(rt)

    async def main() -> None:
        for _ in range(3):
            aiogc.go(aiogc.compute(1000))
        await aiogc.gosched()

    rt.run(main())
    path = tmp_path / "t.json"
    tr.write(path)
    doc = json.loads(path.read_text())
    assert any(e["ph"] == "X" and e["name"] == "main" for e in doc["traceEvents"])


@pytest.fixture(scope="module")
def fix_off_trace() -> tuple[dict[str, Any], Any]:
    return _seed_trace(False, 2, seed=2)  # both cycles' coordinators wait > 10 ms


def test_flow_from_complete_to_the_coordinator_starting(fix_off_trace: tuple[dict[str, Any], Any]) -> None:
    """Each complete() instant starts a flow; it ends where the coordinator runs, at its wake-up."""
    doc, rt = fix_off_trace
    evs = doc["traceEvents"]
    completes = [e for e in evs if e["ph"] == "i" and e["cat"] == "gc.complete"]
    wakes = [e for e in evs if e["ph"] == "i" and e["cat"] == "gc.coord"]
    starts = {e["id"]: e for e in evs if e["ph"] == "s"}
    ends = {e["id"]: e for e in evs if e["ph"] == "f"}
    assert completes and len(starts) == len(ends) == len(completes) == len(wakes)
    for c, w in zip(completes, wakes, strict=True):
        s, f = starts[c["args"]["flow"]], ends[c["args"]["flow"]]
        assert (s["tid"], s["ts"]) == (c["tid"], c["ts"])
        assert (f["tid"], f["ts"], f["bp"]) == (w["tid"], w["ts"], "e")
        # The end binds to the coordinator's slice on that P lane: it encloses the wake-up.
        enclosing = [e for e in evs if e["ph"] == "X" and e["cat"] == "goroutine" and e["tid"] == f["tid"]
                     and e["ts"] <= f["ts"] <= e["ts"] + e["dur"]]
        assert any(e["name"] == "GC coordinator" for e in enclosing)
    waits = [e for e in evs if e.get("cat") == "gc.await"]
    assert len(waits) == len(wakes)
    assert max(e["args"]["latency_ns"] for e in waits) > 1_000_000  # fix off: a wait of milliseconds


def test_runnable_slices_for_the_coordinator_and_tracks_for_workers(
        fix_off_trace: tuple[dict[str, Any], Any]) -> None:
    doc, rt = fix_off_trace
    evs = doc["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in evs if e["ph"] == "M" and e["name"] == "thread_name"}
    coord = rt.gc.coord_g.id
    ctid = next(t for t, n in names.items() if n == f"G{coord} GC coordinator")
    assert any(n.startswith("G") and "GC worker" in n for n in names.values())
    runnable = [e for e in evs if e["ph"] == "X" and e["cat"] == "goroutine.runnable" and e["tid"] == ctid]
    running = [e for e in evs if e["ph"] == "X" and e["cat"] == "goroutine.running" and e["tid"] == ctid]
    assert runnable and running
    # Every runnable slice ends where a running slice of the coordinator starts.
    run_starts = {e["ts"] for e in running}
    assert all(round(e["ts"] + e["dur"], 3) in run_starts for e in runnable)
    assert max(e["args"]["waited_ns"] for e in runnable) > 1_000_000  # the fix-off wait, as runnable
    # No user goroutine gets a track without --trace-goroutines.
    assert not any("producer" in n for n in names.values())


def test_counters_from_t0(fix_off_trace: tuple[dict[str, Any], Any]) -> None:
    doc, rt = fix_off_trace
    cs = [e for e in doc["traceEvents"] if e["ph"] == "C"]
    first = {}
    for e in cs:
        first.setdefault(e["name"], e)
    for name in ("heap live", "heap goal", "heap trigger", "global runq", *(f"runq P{i}" for i in range(4))):
        assert first[name]["ts"] == 0.0, name
    assert first["heap goal"]["args"]["bytes"] > 0  # never 0 before the first cycle
    assert any(e["name"] == "runq P1" and e["args"]["goroutines"] > 0 for e in cs)


def test_trace_goroutines_gives_every_goroutine_a_track() -> None:
    rt = aiogc.Runtime(gomaxprocs=2, seed=1, clock="virtual", godebug="")
    tr = PerfettoTrace.attach(rt, goroutines=True)
    rt.run(seed_main(SeedWorkload(), cycles=1))
    tr.detach()
    evs = tr.to_json()["traceEvents"]
    names = {e["args"]["name"] for e in evs if e["ph"] == "M" and e["name"] == "thread_name"}
    assert {"G2 consumer0", "G3 producer0"} <= names
    assert any(e["ph"] == "X" and e["cat"] == "goroutine.runnable" and e["args"]["why"] == "readied"
               for e in evs)
