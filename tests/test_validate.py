"""validate: the reference data, the bands (issue 11's targets) and the command."""

from __future__ import annotations

import gc
import math
import os
import subprocess
import sys
from typing import Any

import pytest

import aiogc
from aiogc.experiments import validate as v
from aiogc.trace.events import Ev, Recorder


def test_bands_are_the_issue_targets() -> None:
    got = {(b.commit, b.gomaxprocs, b.metric, b.kind, b.k) for b in v.BANDS}
    assert got == {
        # fix off (parent), GOMAXPROCS=2: latency p50, p90, p99 and overshoot p50, p90 within x3
        ("4f188c2d", 2, "lat_p50", "factor", 3), ("4f188c2d", 2, "lat_p90", "factor", 3),
        ("4f188c2d", 2, "lat_p99", "factor", 3), ("4f188c2d", 2, "ov_p50", "factor", 3),
        ("4f188c2d", 2, "ov_p90", "factor", 3),
        # fix on (seed): above goal within 15 points, overshoot mean within x2, p50 within 5 points
        ("500c88d4", 2, "above", "points", 15), ("500c88d4", 2, "ov_mean", "factor", 2),
        ("500c88d4", 2, "ov_p50", "points", 5),
        # GOMAXPROCS=1: no difference between fix on and off
        ("500c88d4", 1, "ov_mean", "same", 2),
    }


@pytest.mark.parametrize("kind, k, model, real, ok", [
    ("factor", 3, 30e-3, 12.8e-3, True), ("factor", 3, 3e-3, 12.8e-3, False), ("factor", 3, 40e-3, 12.8e-3, False),
    ("factor", 2, -0.1, 0.4, False), ("factor", 2, math.nan, 0.4, False),
    ("points", 5, 0.159 + 0.049, 0.159, True), ("points", 5, 0.159 + 0.051, 0.159, False),
    ("points", 15, 0.20, 0.36, False),
])
def test_band_check(kind: str, k: float, model: float, real: float, ok: bool) -> None:
    assert v.Band("x", kind, k, v.SEED, 2).check(model, real) is ok


def test_shipped_data_gives_the_issue_table() -> None:
    ref = v.load_reference(v.reference_files(None))
    seed = v.summarize_cycles(ref[(v.SEED, 2)]["cycles"])
    parent = v.summarize_cycles(ref[(v.PARENT, 2)]["cycles"])
    assert ref[(v.SEED, 2)]["runs"] == 10 and len(ref[(v.SEED, 2)]["cycles"]) == 600
    assert round(seed["ov_mean"], 3) == 0.447 and round(seed["ov_p50"], 3) == 0.159
    assert round(seed["above"], 2) == 0.36
    assert round(seed["lat_p50"] / 1e3, 2) == 0.95 and round(seed["lat_max"] / 1e6, 1) == 1.1
    assert round(parent["lat_p50"] / 1e6, 1) == 12.8 and round(parent["lat_p99"] / 1e9, 1) == 8.2
    assert round(parent["ov_p50"], 2) == 10.26
    assert {k for k in ref} >= {(c, g) for c in ("4f188c2d", "500c88d4", "8f34b253", "64a32ffe", "510fd135")
                                for g in (1, 2)}


def test_original_formats_are_read(tmp_path: Any) -> None:
    # shared/data/realgo's layout: toolchain column, GOMAXPROCS in the file name; plain (MB) files skipped
    (tmp_path / "seed-vs-parent-P2.csv").write_text(
        "toolchain,run,gc,heap0_b,heap1_b,heap2_b,goal_b,m1_by_assist,m1_coord_lat_ns,m2_by_assist,"
        "m2_coord_lat_ns,last_by_assist\n"
        "seed,1,2,1,9,5,8,1,100,0,-1,1\n"  # gc 2: start-up, dropped
        "seed,1,3,9,10,5,8,1,100,1,300,1\n"
        "parent,1,3,1,16,5,8,1,2000,0,-1,1\n")
    (tmp_path / "series_plain.csv").write_text("commit,gomaxprocs,run,gc,heap0_mb,heap1_mb,goal_mb\n"
                                               "500c88d4,2,1,3,1,2,8\n")
    ref = v.load_reference(v.reference_files(str(tmp_path)))
    assert set(ref) == {(v.SEED, 2), (v.PARENT, 2)}
    s = v.summarize_cycles(ref[(v.SEED, 2)]["cycles"])
    assert s["cycles"] == 1 and s["lat_p50"] == 300 and s["above"] == 1 and s["ov_mean"] == 0.25
    assert s["mark2"] == 1  # m2_coord_lat_ns >= 0: the coordinator waited for mark 2
    assert v.summarize_cycles(ref[(v.PARENT, 2)]["cycles"])["mark2"] == 0  # -1: skipped


def test_mark2_share_on_the_model_side_is_the_cycles_that_waited_for_mark_2() -> None:
    r = v.run_model(v.SEED, 2, 1, 12, 200_000_000, host="none")
    cyc = [v.Cycle(*c) for c in r["cycles"]]
    assert cyc and 0 < v.summarize_cycles(cyc)["mark2"] <= 1
    # the same record from the runtime
    rt = aiogc.Runtime(gomaxprocs=2, gogc=100, seed=1, go_commit=v.SEED, clock="virtual", godebug="")
    rt.run(v.seed_main(v.SeedWorkload(), cycles=12, duration_ns=200_000_000, max_heap_bytes=v.MAX_HEAP_BYTES))
    kept = [c for c in rt.stats.cycles if v.KEEP_FIRST <= c.n <= v.KEEP_LAST and not c.forced]
    assert [c.mark2 for c in cyc] == [c.mark2 for c in kept]


def test_validate_runs_the_model_and_marks_bands() -> None:
    res = v.validate(None, runs=1, cycles=8, max_ns=200_000_000, jobs=1, only=[(v.SEED, 1), (v.PARENT, 1)])
    assert [(r.commit, r.gomaxprocs) for r in res] == [(v.PARENT, 1), (v.SEED, 1)]
    assert all(r.model["cycles"] > 0 for r in res)
    md = v.render_markdown(res)
    assert md.count("| real Go |") == 2 and md.count("| aiogc |") == 2
    assert "=fix off: ok" in md  # GOMAXPROCS=1: no difference, as in real Go
    assert "bands: 1 of 1 within" in v.render_notes(res)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aiogc", "validate", *args], capture_output=True, text=True,
                          timeout=120, cwd=os.path.dirname(os.path.dirname(__file__)))


@pytest.mark.parametrize("bad", [["--against", "/no/such/dir"], ["--commit", "go1.5"], ["--runs", "0"],
                                 ["--max-virtual-s", "0"], ["--max-heap-gib", "0"], ["--max-heap-gib", "x"],
                                 ["--max-heap-gib", "100000"],
                                 ["--host", "laptop"]])
def test_validate_bad_input_is_one_line(bad: list[str]) -> None:
    r = _cli(*bad)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1


def test_sleep_is_readied_by_timerproc_into_runnext() -> None:
    """Go 1.5's time.Sleep: the sleeper is readied by the timerproc goroutine, which itself comes
    from the global queue; the sleeper lands in that P's runnext (GoUnpark by timerproc)."""

    async def main() -> None:
        await aiogc.sleep(0.0005)

    rt = aiogc.Runtime(gomaxprocs=1, seed=0, godebug="")
    rec = Recorder()
    rt.bus.subscribe(rec)
    rt.run(main())
    labels = {e.g: e.label for e in rec.events if isinstance(e, Ev.GoStart)}
    unparks = [e for e in rec.events if isinstance(e, Ev.GoUnpark)]
    tp = [g for g, lab in labels.items() if lab == "timerproc"]
    assert tp, "timerproc ran"
    woke = [e for e in unparks if e.g == tp[0]]
    assert woke and woke[0].target == rt.sched.main_g.id and woke[0].ts >= 500_000


def test_a_wait_cut_by_the_heap_bound_is_reported_even_if_its_cycle_never_ended() -> None:
    """Parent, GOMAXPROCS=2, seed 5, the default machine, 48 MiB bound: an assist completes mark 1
    at 34.3 ms and the coordinator has not resumed when the heap passes the bound at 44.0 ms.  No
    cycle record exists for that cycle (it never ended), so only the mark signals can tell; the
    wait is stop - complete."""
    r = v.run_model("4f188c2d", 2, 5, 64, 60 * 10**9, max_heap_bytes=48 << 20, host="none")
    assert r["stopped_by"] == "heap"
    assert 8_000_000 < r["waiting_ns"] < r["virtual_ns"] and r["waiting_by_assist"]


@pytest.mark.parametrize("vals,cens,q,value,lower", [
    ([1, 2, 3, 4], [], 50, 2.5, False),
    ([1, 2, 3, 4], [100], 50, 3.0, False),  # the censored value ranks above both ends: exact
    ([1, 2, 3, 4], [100], 90, 4 + (100 - 4) * 0.6, True),  # pos 3.6: interpolates into it
    ([1, 2, 3, 4], [100], 100, 100, True),
    ([1, 2, 3, 4], [0.5], 50, 2.0, True),  # a low censored value: every figure is a lower bound
    ([5, 5], [5], 50, 5.0, True),  # ties: the censored value ranks after the exact ones (pos 1, hi 2)
    ([5, 5, 5], [5], 0, 5.0, False),
])
def test_percentile_with_censored_values(vals: list[float], cens: list[float], q: float, value: float,
                                         lower: bool) -> None:
    got, lb = v.percentile_censored(vals, cens, q)
    assert got == pytest.approx(value) and lb is lower
    assert got == pytest.approx(v.percentile(vals + cens, q))  # the figure is the plain one...


def test_a_cut_run_makes_its_figures_lower_bounds_that_never_meet_a_band() -> None:
    """A model run stopped mid-wait adds its wait and overshoot so far as lower bounds: the
    figures they reach are marked ≥ and are not "within", however close to real Go."""
    cyc = [v.Cycle(heap0=1, heap1=110, goal=100, last_by_assist=True, latency_ns=1_000_000 * (i + 1))
           for i in range(20)]
    plain = v.summarize_cycles(cyc)
    cut = v.summarize_cycles(cyc, [(5e9, 100.0)])
    assert not any(v.is_lower_bound(plain, m) for m, _ in v.COLUMNS)
    assert cut["lat_p50"] == pytest.approx(11e6) and not v.is_lower_bound(cut, "lat_p50")
    assert v.is_lower_bound(cut, "lat_p99") and v.is_lower_bound(cut, "lat_max") and cut["lat_max"] == 5e9
    assert v.is_lower_bound(cut, "ov_mean") and v.is_lower_bound(cut, "ov_p99")
    assert not v.is_lower_bound(cut, "ov_p50")
    real = dict(cut)
    real[v.LOWER_KEY] = 0.0
    res = [v.SetResult(v.PARENT, 2, real, cut, 1, [5_000_000_000])]
    checks = v.band_checks(res)
    assert checks[(v.PARENT, 2, "lat_p50")][1]  # exact and equal: within
    assert not checks[(v.PARENT, 2, "lat_p99")][1]  # equal to real Go's, but only a lower bound
    row = v.table_rows(res)[1]
    assert any(c.startswith("≥") and c.endswith("OUT") for c in row)


@pytest.mark.parametrize("heap_gib,jobs,avail,fit", [
    (1, 2, None, 2),  # memory unknown: as asked
    (1, 2, 22.5, 2),  # 0.7 GiB a run
    (27, 2, 22.5, 2),  # 11.1 GiB a run: two fit
    (40, 2, 22.5, 1),  # 16.3 GiB: one
    (60, 2, 22.5, 0),  # 24.3 GiB: none
    (1, 8, 3.0, 4),
])
def test_runs_at_once_fit_in_memory(heap_gib: float, jobs: int, avail: float | None, fit: int) -> None:
    assert v.jobs_that_fit(heap_gib, jobs, avail) == fit


def test_a_run_whose_process_dies_is_a_typed_error_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model run's worker killed by the OS (out of memory) surfaces as WorkerLost, one line at
    the CLI, instead of concurrent.futures' BrokenProcessPool traceback."""
    from concurrent.futures.process import BrokenProcessPool

    from aiogc.errors import WorkerLost

    class Dying:
        def __init__(self, max_workers: int) -> None:
            pass

        def __enter__(self) -> Dying:
            return self

        def __exit__(self, *a: object) -> None:
            return None

        def map(self, fn: object, specs: object) -> object:
            raise BrokenProcessPool("A process in the process pool was terminated abruptly")

    monkeypatch.setattr(v, "ProcessPoolExecutor", Dying)
    with pytest.raises(WorkerLost, match="out of memory"):
        v.validate(runs=2, cycles=4, jobs=2, only=[(v.SEED, 2)])


def test_a_worker_frees_a_finished_run_before_its_next(monkeypatch: pytest.MonkeyPatch) -> None:
    """A finished runtime is a reference cycle holding the model heap: _task collects it, so a
    worker never holds two runs' heaps at once."""
    import weakref

    class Big:
        pass

    freed: list[bool] = []

    def run_model(*spec: object) -> dict[str, Any]:
        a, b = Big(), Big()
        a.other, b.other = b, a  # type: ignore[attr-defined]  # a cycle, as Runtime <-> Sched <-> Collector
        weakref.finalize(a, freed.append, True)
        return {"cycles": []}

    monkeypatch.setattr(v, "run_model", run_model)
    gc_was = gc.isenabled()
    gc.disable()  # no automatic collection may do it instead
    try:
        v._task(("4f188c2d", 2, 1, 1, 1, 1, "none"))
        assert freed == [True]
    finally:
        if gc_was:
            gc.enable()
