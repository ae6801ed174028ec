"""The Perfetto / Chrome trace-event writer: structure, and the fix's hand-off as seen on a P lane."""

from __future__ import annotations

import json
from typing import Any

import pytest

import aiogc
from aiogc.experiments.workloads import SeedWorkload, seed_main
from aiogc.trace.perfetto import PerfettoTrace


@pytest.fixture(scope="module")
def seed_trace() -> tuple[dict[str, Any], Any]:
    rt = aiogc.Runtime(gomaxprocs=4, seed=0, gogc=100, yield_after_assist=True, clock="virtual", godebug="")
    tr = PerfettoTrace.attach(rt)
    rt.run(seed_main(SeedWorkload(), cycles=4))
    tr.detach()
    return tr.to_json(), rt


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
