"""One truth: the live view, gctrace, the Perfetto trace and ``demo --json`` agree on every phase
boundary and every number of the same run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aiogc.cli import main
from aiogc.trace.gctrace import GCTRACE_RE, fmt_ns_as_ms
from aiogc.view.live import fmt_bytes, fmt_ns, fmt_pct

PHASES = (("sweepterm", "t_sweepterm", "t_scan", "clock_sweep_term"),
          ("scan", "t_scan", "t_installwb", "clock_scan"),
          ("install wb", "t_installwb", "t_mark", "clock_install_wb"),
          ("mark", "t_mark", "t_markterm", "clock_mark"),
          ("marktermination", "t_markterm", "t_end", "clock_mark_term"))


@pytest.mark.parametrize("fix", [False, True])
def test_live_view_gctrace_perfetto_and_json_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: Any, fix: bool) -> None:
    for var in ("GOMAXPROCS", "GOGC"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GODEBUG", "gctrace=1")
    jpath, tpath = tmp_path / "demo.json", tmp_path / "trace.json"
    args = ["demo", "--no-live", "--cycles", "3", "--gomaxprocs", "2", "--json", str(jpath), "--trace", str(tpath)]
    assert main(args + ([] if fix else ["--no-yield"])) == 0
    out = capsys.readouterr()
    mode = "fix on" if fix else "fix off"
    doc = json.loads(jpath.read_text())
    cycles = next(r["cycles"] for r in doc["runs"] if r["mode"] == mode)
    assert [c["n"] for c in cycles] == [1, 2, 3]
    # gctrace: the traced (live) run runs first, so its lines come first.
    gc_lines = [ln for ln in out.err.splitlines() if ln.startswith("gc ")]
    assert len(gc_lines) == 6  # 3 cycles of the live run, then 3 of the other mode's
    trace = json.loads(tpath.read_text())["traceEvents"]
    phase_slices = [e for e in trace if e["ph"] == "X" and e["cat"] == "gc.phase"]
    cycle_slices = [e for e in trace if e["ph"] == "X" and e["cat"] == "gc.cycle"]
    awaits = [e for e in trace if e["ph"] == "X" and e["cat"] == "gc.await"]
    assert len(cycle_slices) == 3
    for c, line, cs in zip(cycles, gc_lines, cycle_slices, strict=False):
        m = GCTRACE_RE.match(line)
        assert m is not None, line
        n = c["n"]
        assert int(m["n"]) == n and cs["args"]["n"] == n
        assert int(round(float(m["t"]) * 1000)) == c["t_sweepterm"] // 1_000_000  # @T, runtime start = 0
        for name, a, b, field in PHASES:
            dur = c[b] - c[a]
            assert m[field] == fmt_ns_as_ms(dur), (n, name)  # gctrace == --json
            sl = [e for e in phase_slices if e["name"] == name and e["args"]["n"] == n]
            assert len(sl) == 1, (n, name)
            # Perfetto == --json, to the nanosecond (µs with 3 decimals).
            assert (sl[0]["ts"], sl[0]["args"]["dur_ns"]) == (round(c[a] / 1000, 3), dur), (n, name)
        assert c["mark_duration_ns"] == c["t_markterm"] - c["t_mark"]
        for field, key in (("heap0", "heap0"), ("heap1", "heap_at_mark_term"), ("heap2", "heap2"),
                           ("goal", "heap_goal")):
            assert int(m[field]) == c[key] >> 20, field
        for key in ("heap_goal", "heap_at_mark_term", "overshoot", "coordinator_latency_ns", "completed_by",
                    "alloc_after_complete"):
            assert cs["args"][key] == c[key], key
        # The waits the trace shows: the cycle's coordinator latency is its longest.
        waits = [e["args"]["latency_ns"] for e in awaits if c["t_sweepterm"] / 1000 <= e["ts"] <= c["t_end"] / 1000]
        assert max(waits) == c["coordinator_latency_ns"]
        # The live view (plain lines) says the same numbers.
        assert (f"GC {n} done: heap {fmt_bytes(c['heap_at_mark_term'])} at mark termination vs goal "
                f"{fmt_bytes(c['heap_goal'])} ({fmt_pct(c['overshoot'])}), mark {fmt_ns(c['mark_duration_ns'])}, "
                f"completed by {c['completed_by']}") in out.out
        assert f"coordinator ran after {fmt_ns(c['coordinator_latency_ns'])}" in out.out
