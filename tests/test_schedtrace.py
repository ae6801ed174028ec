"""GODEBUG=schedtrace=MS: Go 1.5's SCHED lines (go-runtime-model.md §6.5)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import aiogc
from aiogc.trace.schedtrace import SCHED_RE, SchedTrace, format_g_line, format_p_line, format_sched_line

ROOT = Path(__file__).resolve().parent.parent

# Go 1.5's plain format, written out independently of the module's own regex.
GO_SCHED = re.compile(
    r"^SCHED (\d+)ms: gomaxprocs=(\d+) idleprocs=(\d+) threads=(\d+) spinningthreads=(\d+) "
    r"idlethreads=(\d+) runqueue=(\d+) \[(\d+(?: \d+)*)\]$"
)


def test_format_matches_go_example() -> None:
    line = format_sched_line(0, 4, 2, 5, 0, 2, 0, [0, 0, 0, 0])
    assert line == ("SCHED 0ms: gomaxprocs=4 idleprocs=2 threads=5 spinningthreads=0 "
                    "idlethreads=2 runqueue=0 [0 0 0 0]")
    assert GO_SCHED.match(line) and SCHED_RE.match(line)


def test_format_detail_header_and_lines() -> None:
    line = format_sched_line(12, 2, 0, 3, 1, 0, 7, detail=True, gcwaiting=True, stopwait=1)
    assert line == ("SCHED 12ms: gomaxprocs=2 idleprocs=0 threads=3 spinningthreads=1 idlethreads=0 "
                    "runqueue=7 gcwaiting=1 nmidlelocked=0 stopwait=1 sysmonwait=0")
    assert SCHED_RE.match(line)
    assert format_p_line(1, 1, 42, 1, 3) == "  P1: status=1 schedtick=42 syscalltick=0 m=1 runqsize=3 gfreecnt=0"
    assert format_g_line(5, 4, "chan receive", -1) == "  G5: status=4(chan receive) m=-1 lockedm=-1"


async def _work(nworkers: int, ms: int) -> int:
    ch = aiogc.Chan(4)

    async def worker(i: int) -> None:
        for _ in range(ms):
            await aiogc.compute(1_000_000)
        await ch.send(i)

    for i in range(nworkers):
        aiogc.go(worker(i))
    return sum([await ch.recv() for _ in range(nworkers)])


def test_schedtrace_in_process() -> None:
    rt = aiogc.Runtime(gomaxprocs=3, seed=1, godebug="")
    buf = io.StringIO()
    st = SchedTrace(rt, 1, 0, out=buf).install()
    assert rt.run(_work(6, 5)) == 15
    lines = buf.getvalue().splitlines()
    assert st.nlines == len(lines) >= 5
    ms = []
    for line in lines:
        m = GO_SCHED.match(line)
        assert m, line
        assert int(m[2]) == 3 and int(m[4]) == 4  # threads = gomaxprocs + sysmon
        assert len(m[8].split()) == 3
        ms.append(int(m[1]))
    assert ms[0] == 0
    assert ms == sorted(set(ms))  # one line per period at most, in order
    # While all workers run, no P is idle.
    assert any(GO_SCHED.match(x)[3] == "0" for x in lines)  # type: ignore[index]


def test_schedtrace_godebug_subprocess(tmp_path: Path) -> None:
    prog = tmp_path / "prog.py"
    prog.write_text(
        "import aiogc\n\n"
        "async def spin(n):\n"
        "    for _ in range(n):\n"
        "        await aiogc.compute(500_000)\n\n"
        "async def main():\n"
        "    wg = aiogc.WaitGroup()\n"
        "    async def w():\n"
        "        await spin(10)\n"
        "        wg.done()\n"
        "    wg.add(8)\n"
        "    for _ in range(8):\n"
        "        aiogc.go(w())\n"
        "    await wg.wait()\n"
        "    print('done')\n")
    env = {k: v for k, v in os.environ.items() if k not in ("GOMAXPROCS", "GOGC")}
    env["GODEBUG"] = "schedtrace=1"
    r = subprocess.run([sys.executable, "-m", "aiogc", "run", str(prog), "--gomaxprocs", "4"],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "done\n"
    lines = r.stderr.splitlines()
    assert len(lines) >= 3
    for line in lines:
        m = GO_SCHED.match(line)
        assert m, line
        assert m[2] == "4"
        assert len(m[8].split()) == 4  # one bracketed number per P
    assert lines[0].startswith("SCHED 0ms: ")


def test_scheddetail_lines() -> None:
    rt = aiogc.Runtime(gomaxprocs=2, seed=0, godebug="")
    buf = io.StringIO()
    SchedTrace(rt, 2, 1, out=buf).install()
    rt.run(_work(3, 4))
    lines = buf.getvalue().splitlines()
    headers = [i for i, x in enumerate(lines) if x.startswith("SCHED ")]
    assert headers and headers[0] == 0
    for i in headers:
        assert SCHED_RE.match(lines[i]) and "gcwaiting=" in lines[i] and "[" not in lines[i]
        assert re.match(r"^  P0: status=\d schedtick=\d+ syscalltick=0 m=-?\d+ runqsize=\d+ gfreecnt=0$", lines[i + 1])
        assert lines[i + 2].startswith("  P1: ")
    glines = [x for x in lines if x.startswith("  G")]
    assert glines
    for x in glines:
        assert re.match(r"^  G\d+: status=\d+\([^)]*\) m=-?\d+ lockedm=-1$", x), x
    assert any("(chan receive)" in x for x in glines)  # main waits on the channel


def test_runtime_installs_from_godebug(capsys: pytest.CaptureFixture[str]) -> None:
    rt = aiogc.Runtime(gomaxprocs=2, seed=0, godebug="schedtrace=1")
    rt.run(_work(2, 3))
    err = capsys.readouterr().err.splitlines()
    assert err and err[0].startswith("SCHED 0ms: gomaxprocs=2 ")
    assert all(GO_SCHED.match(x) for x in err)


def test_bad_period() -> None:
    rt = aiogc.Runtime(gomaxprocs=1, godebug="")
    with pytest.raises(ValueError):
        SchedTrace(rt, 0, 0)
