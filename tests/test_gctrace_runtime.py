"""GODEBUG=gctrace=1 and gcpacertrace=1 on the real runtime: the lines a run prints on stderr."""

from __future__ import annotations

from typing import Any

import pytest

import aiogc
from aiogc.trace.gctrace import GCTRACE_RE


async def _churn(forced_every: int, n: int) -> None:
    keep = [await aiogc.alloc(512, 8) for _ in range(32)]
    for i in range(n):
        await aiogc.alloc(4096, 16)
        await aiogc.compute(500)
        if forced_every and i % forced_every == forced_every - 1:
            await aiogc.gc()
    assert all(k.alive for k in keep)


def _run(capsys: pytest.CaptureFixture[str], godebug: str, *, gomaxprocs: int, forced_every: int = 0,
         n: int = 1500) -> tuple[aiogc.Runtime, list[str], str]:
    rt = aiogc.Runtime(gomaxprocs=gomaxprocs, gogc=50, heap_minimum=64 << 10, seed=3, godebug=godebug)
    rt.run(_churn(forced_every, n))
    cap = capsys.readouterr()
    return rt, cap.err.splitlines(), cap.out


@pytest.mark.parametrize("gomaxprocs", [1, 4])
def test_one_gctrace_line_per_cycle(capsys: pytest.CaptureFixture[str], gomaxprocs: int) -> None:
    rt, lines, out = _run(capsys, "gctrace=1", gomaxprocs=gomaxprocs, forced_every=500)
    assert out == ""
    gc_lines = [ln for ln in lines if ln.startswith("gc ")]
    assert gc_lines == lines, "gctrace=1 alone prints only gc lines"
    cycles = rt.stats.cycles
    assert len(cycles) >= 4
    assert len(gc_lines) == len(cycles)
    ms = [GCTRACE_RE.match(ln) for ln in gc_lines]
    assert all(ms), [ln for ln, m in zip(gc_lines, ms, strict=True) if not m]
    assert [int(m["n"]) for m in ms] == list(range(1, len(cycles) + 1))  # type: ignore[index]
    for m, c in zip(ms, cycles, strict=True):
        assert m is not None
        assert int(m["procs"]) == gomaxprocs
        assert (m["forced"] is not None) == c.forced
        assert int(m["goal"]) == c.heap_goal >> 20 or c.forced
        assert int(m["heap0"]) == c.heap_start >> 20
        assert int(m["heap1"]) == c.heap_at_mark_term >> 20
        assert int(m["heap2"]) == c.heap_live_after >> 20
        # @T: the cycle's start, truncated ms since the runtime started, as seconds
        assert m["t"] == f"{c.start_ns // 1_000_000 // 1000}.{c.start_ns // 1_000_000 % 1000:03d}"
    assert sum(c.forced for c in cycles) == 3
    assert any(not c.forced for c in cycles)
    starts = [float(m["t"]) for m in ms if m is not None]
    assert starts == sorted(starts)


def test_forced_line_ends_with_forced(capsys: pytest.CaptureFixture[str]) -> None:
    async def main() -> None:
        await aiogc.alloc(64, 0)
        await aiogc.gc()
        await aiogc.gc()

    aiogc.Runtime(gomaxprocs=2, seed=0, godebug="gctrace=1").run(main())
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    for i, ln in enumerate(lines, 1):
        m = GCTRACE_RE.match(ln)
        assert m is not None, ln
        assert m["n"] == str(i) and ln.endswith(" 2 P (forced)")


def test_no_output_without_gctrace(capsys: pytest.CaptureFixture[str]) -> None:
    rt, lines, _ = _run(capsys, "", gomaxprocs=2, n=600)
    assert len(rt.stats.cycles) >= 1
    assert lines == []


def test_gcpacertrace_prints_pacer_lines(capsys: pytest.CaptureFixture[str]) -> None:
    rt, lines, _ = _run(capsys, "gctrace=1,gcpacertrace=1", gomaxprocs=2, forced_every=700, n=1400)
    pacer = [ln for ln in lines if ln.startswith("pacer:")]
    gc_lines = [ln for ln in lines if ln.startswith("gc ")]
    assert len(gc_lines) == len(rt.stats.cycles)
    background = [c for c in rt.stats.cycles if not c.forced]
    assert background
    # two pacer lines per background cycle (start: assist ratio; end: the trigger controller),
    # none for forced cycles, and only pacer and gc lines are printed
    assert len(pacer) == 2 * len(background)
    assert len(pacer) + len(gc_lines) == len(lines)
    assert sum("assist ratio" in ln for ln in pacer) == len(background)
    assert sum("h_t=" in ln for ln in pacer) == len(background)
    # each background cycle's gc line comes after its pacer lines
    idx = 0
    for c in rt.stats.cycles:
        while not lines[idx].startswith("gc "):
            idx += 1
        if not c.forced:
            assert lines[idx - 1].startswith("pacer:") and "h_t=" in lines[idx - 1]
        idx += 1


def test_gcpacertrace_alone_prints_no_gc_lines(capsys: pytest.CaptureFixture[str]) -> None:
    rt, lines, _ = _run(capsys, "gcpacertrace=1", gomaxprocs=1, n=600)
    assert lines and all(ln.startswith("pacer:") for ln in lines)
    # One line at each startCycle and one at each endCycle; the run may end inside a cycle that
    # started (at the seed a cycle that marked more than heap_minimum is followed at once).
    starts = [ln for ln in lines if ln.startswith("pacer: assist ratio=")]
    ends = [ln for ln in lines if "h_t=" in ln]
    assert len(starts) + len(ends) == len(lines)
    assert len(ends) == sum(not c.forced for c in rt.stats.cycles)
    assert len(starts) - len(ends) in (0, 1)


def test_gctrace_excerpt_is_stable(capsys: pytest.CaptureFixture[str]) -> None:
    """Same seed and config: byte-identical gctrace output (virtual time)."""
    _, a, _ = _run(capsys, "gctrace=1", gomaxprocs=2, n=800)
    _, b, _ = _run(capsys, "gctrace=1", gomaxprocs=2, n=800)
    assert a == b and a
    _: Any = None
