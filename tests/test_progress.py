"""Progress of compare/sweep: quiet when piped unless asked, an estimate of the time left."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from aiogc.experiments.progress import eta_s, fmt_duration, progress_reporter, usable_cpus

ROOT = Path(__file__).resolve().parent.parent


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_eta_and_format() -> None:
    assert eta_s(10.0, 0, 5) is None
    assert eta_s(10.0, 2, 6) == 20.0
    assert eta_s(10.0, 6, 6) == 0.0
    assert fmt_duration(0.4) == "0s"
    assert fmt_duration(59.6) == "1m00s"
    assert fmt_duration(75.2) == "1m15s"
    assert fmt_duration(2 * 3600 + 5 * 60) == "2h05m"


def test_quiet_when_not_a_terminal_unless_asked() -> None:
    out = io.StringIO()
    with progress_reporter("compare", 4, None, stream=out) as prog:
        assert prog is None
    with progress_reporter("compare", 4, False, stream=_Tty()) as prog:
        assert prog is None
    assert out.getvalue() == ""


def test_plain_lines_when_asked() -> None:
    out = io.StringIO()
    clock = _Clock()
    with progress_reporter("sweep", 4, True, stream=out, clock=clock) as prog:
        assert prog is not None
        clock.t += 10
        prog(1, 4, "gomaxprocs=4 seed=0")
        clock.t += 10
        prog(2, 4, "gomaxprocs=4 seed=1")
    lines = out.getvalue().splitlines()
    assert lines == ["sweep: [1/4] gomaxprocs=4 seed=0  elapsed 10s, left ~30s",
                     "sweep: [2/4] gomaxprocs=4 seed=1  elapsed 20s, left ~20s"]


def test_bar_on_a_terminal_shows_time_left() -> None:
    out = _Tty()
    clock = _Clock()
    with progress_reporter("compare", 3, None, stream=out, clock=clock) as prog:
        assert prog is not None
        clock.t += 30
        prog(1, 3, "gomaxprocs=1 fix=on seed=0")
    assert "left" in out.getvalue()


def test_usable_cpus() -> None:
    n = usable_cpus()
    assert 1 <= n <= (os.cpu_count() or n)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GODEBUG", "GOMAXPROCS", "GOGC")}
    return subprocess.run([sys.executable, "-m", "aiogc", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, stdin=subprocess.DEVNULL, timeout=300)


def test_compare_cli_quiet_piped_and_progress_on_request() -> None:
    args = ("compare", "--seeds", "1", "--gomaxprocs", "1", "--cycles", "1", "--jobs", "1")
    quiet = _cli(*args)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    loud = _cli(*args, "--progress")
    assert loud.returncode == 0, loud.stderr
    lines = loud.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("compare: [1/2]") and "left ~" in lines[0]
    assert quiet.stdout == loud.stdout


def test_sweep_cli_progress_on_request() -> None:
    r = _cli("sweep", "--grid", "gomaxprocs=1,2", "--seeds", "1", "--cycles", "1", "--jobs", "1", "--progress")
    assert r.returncode == 0, r.stderr
    prog = [ln for ln in r.stderr.splitlines() if ln.startswith("sweep: [")]
    assert [ln.split("]")[0] for ln in prog] == ["sweep: [1/2", "sweep: [2/2"]
    quiet = _cli("sweep", "--grid", "gomaxprocs=1,2", "--seeds", "1", "--cycles", "1", "--jobs", "1")
    assert quiet.returncode == 0 and not any(ln.startswith("sweep: [") for ln in quiet.stderr.splitlines())
