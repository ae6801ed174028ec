"""The live view: a frame after a short virtual run shows every P, the GC panel and the event log."""

from __future__ import annotations

import io

from rich.console import Console

import aiogc
from aiogc.experiments.workloads import SeedWorkload, seed_main
from aiogc.view.live import LiveSession, LiveView, fmt_bytes, fmt_ns, summary_table


def _run(yield_after_assist: bool, cycles: int = 2) -> tuple[LiveView, list[str], aiogc.Runtime]:
    # 64a32ffe: at the seed a dedicated worker (GOMAXPROCS=4) that completes mark 1 can livelock its
    # P ahead of the coordinator (docs/realgo.md, mechanism C); this test is about the view.
    rt = aiogc.Runtime(gomaxprocs=4, seed=0, gogc=100, yield_after_assist=yield_after_assist,
                       clock="virtual", godebug="", go_commit="64a32ffe")
    lines: list[str] = []
    view = LiveView.attach(rt, on_log=lines.append)
    frames: list[str] = []

    def hook(now: int) -> None:  # a frame mid-run, while marking
        if not frames and view.phase == "mark":
            c = Console(record=True, force_terminal=True, width=120, file=io.StringIO())
            c.print(view.render())
            frames.append(c.export_text())

    rt.driver.hooks_after_step.append(hook)
    rt.run(seed_main(SeedWorkload(), cycles=cycles))
    assert frames and "phase mark" in frames[0]
    return view, lines, rt


def test_frame_shows_ps_gc_panel_and_log() -> None:
    view, lines, rt = _run(True)
    con = Console(record=True, force_terminal=True, width=120, file=io.StringIO())
    con.print(view.render())
    text = con.export_text()
    for i in range(4):
        assert f"P{i} " in text
    for word in ("runnext", "runq", "phase", "trigger", "goal", "scan", "assist ratio", "cycles", "events",
                 "heap live", "start: heap"):
        assert word in text, word
    assert any(ch in text for ch in "▁▂▃▄▅▆▇█")
    assert "coordinator ran after" in text
    # The fix: an assist that completed a phase yields, and the log says so.
    assert any("assist completed mark" in ln and "gosched" in ln for ln in lines), lines
    assert len(view.cycles) >= 2


def test_without_fix_log_reports_latency_and_allocation() -> None:
    view, lines, _ = _run(False, cycles=2)
    assist = [w for w in view.wakes if w["who"] == "assist"]
    assert assist
    assert all(not w["gosched"] for w in assist)
    assert any("allocated meanwhile" in ln and "gosched" not in ln for ln in lines)


def test_plain_text_when_not_a_terminal() -> None:
    buf = io.StringIO()
    con = Console(file=buf, width=120)  # not a terminal
    rt = aiogc.Runtime(gomaxprocs=2, seed=1, clock="virtual", godebug="")
    s = LiveSession(rt, console=con, refresh_ns=10_000)
    assert s.plain
    s.start()
    try:
        rt.run(seed_main(SeedWorkload(), cycles=1))
    finally:
        s.stop()
    out = buf.getvalue()
    assert "\x1b[" not in out
    assert "GC 1 start" in out
    con.print(s.view.render())
    assert "\x1b[" not in buf.getvalue()


def test_summary_table_and_formatting() -> None:
    cyc = [{"coordinator_latency_ns": 250, "overshoot": 0.05, "alloc_after_complete": 0,
            "mark_duration_ns": 100_000, "completed_by": "assist"}]
    off = [{"coordinator_latency_ns": 7_900_000, "overshoot": 3.0, "alloc_after_complete": 3 << 20,
            "mark_duration_ns": 8_000_000, "completed_by": "assist"}]
    con = Console(record=True, width=160, file=io.StringIO())
    con.print(summary_table({"fix on": cyc, "fix off": off}))
    text = con.export_text()
    assert "fix on" in text and "fix off" in text and "7.9 ms" in text and "+300.0%" in text
    assert fmt_ns(400) == "0.4 µs" and fmt_ns(7_900_000) == "7.9 ms" and fmt_bytes(3.1 * (1 << 20)) == "3.1 MB"
