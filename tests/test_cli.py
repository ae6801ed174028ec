"""The command line, run as users run it: ``python -m aiogc ...`` in a subprocess.

Contract (design.md, "Command line"): bad input is exactly one line on stderr and exit status 2,
never a traceback; a panicking program prints Go's ``panic:`` report and exits 2; a deadlocked one
prints Go's fatal error line and exits 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMOS = ROOT / "demos"


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if k not in ("GOMAXPROCS", "GOGC", "GODEBUG")}
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-m", "aiogc", *args], capture_output=True, text=True,
                          env=e, cwd=cwd or ROOT, timeout=timeout, stdin=subprocess.DEVNULL)


def assert_one_line_error(r: subprocess.CompletedProcess[str]) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("aiogc: error: "), r.stderr


@pytest.fixture(scope="module")
def progs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("progs")
    (d / "nomain.py").write_text("x = 1\n")
    (d / "syncmain.py").write_text("def main():\n    return 0\n")
    (d / "notfunc.py").write_text("main = 42\n")
    (d / "syntax.py").write_text("async def main(:\n    pass\n")
    (d / "args.py").write_text("async def main(n):\n    pass\n")
    (d / "panic.py").write_text(
        "import aiogc\n\n"
        "async def explode_worker(n):\n"
        "    await aiogc.compute(1000)\n"
        "    raise ValueError(f'boom {n}')\n\n"
        "async def main():\n"
        "    aiogc.go(explode_worker(7))\n"
        "    await aiogc.Chan().recv()\n")
    (d / "deadlock.py").write_text(
        "import aiogc\n\n"
        "async def main():\n"
        "    ch = aiogc.Chan()\n"
        "    await ch.send(1)  # nobody receives\n")
    (d / "hello.py").write_text(
        "import aiogc\n\n"
        "async def main():\n"
        "    print('hello from G', aiogc.current_g().id, 'gomaxprocs', aiogc.gomaxprocs())\n")
    return d


# ---- help ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("cmd", [[], ["demo"], ["run"], ["compare"], ["sweep"], ["bench"]])
def test_help_exits_0(cmd: list[str]) -> None:
    r = run_cli(*cmd, "--help")
    assert r.returncode == 0, r.stderr
    assert "usage: aiogc" in r.stdout
    assert r.stderr == ""


def test_main_help_lists_commands() -> None:
    r = run_cli("--help")
    for name in ("demo", "run", "compare", "sweep", "bench"):
        assert name in r.stdout


# ---- demo ---------------------------------------------------------------------------------------
def test_seed_demo_bounded_non_tty(tmp_path: Path) -> None:
    out = tmp_path / "seed.json"
    r = run_cli("demo", "--cycles", "2", "--gomaxprocs", "4", "--seed", "1", "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "\x1b[" not in r.stdout  # not a TTY: plain text, no animation
    assert "fix on" in r.stdout and "fix off" in r.stdout
    assert "coordinator ran after" in r.stdout
    doc = json.loads(out.read_text())
    assert doc  # the cycles of both modes


def test_scheduler_demo_bounded_non_tty(tmp_path: Path) -> None:
    out = tmp_path / "demo.json"
    r = run_cli("demo", "--scheduler", "--cycles", "2", "--gomaxprocs", "4", "--seed", "1", "--no-live",
                "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "GOMAXPROCS=4" in r.stdout
    assert "virtual time" in r.stdout
    doc = json.loads(out.read_text())
    assert [p["p"] for p in doc["procs"]] == [0, 1, 2, 3]
    assert len(doc["rounds"]) == 2
    assert sum(p["ran"] for p in doc["procs"]) > 0
    assert sum(p["preemptions"] for p in doc["procs"]) >= 1  # the 25 ms hog outlives a 10 ms slice


def test_demo_is_deterministic() -> None:
    a = run_cli("demo", "--cycles", "1", "--gomaxprocs", "3", "--seed", "5")
    b = run_cli("demo", "--cycles", "1", "--gomaxprocs", "3", "--seed", "5")
    c = run_cli("demo", "--scheduler", "--cycles", "1", "--gomaxprocs", "3", "--seed", "5")
    d = run_cli("demo", "--scheduler", "--cycles", "1", "--gomaxprocs", "3", "--seed", "5")
    assert c.stdout == d.stdout
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout


@pytest.mark.parametrize("bad", [["--cycles", "0"], ["--duration", "-1"], ["--speed", "x"], ["--seed", "1.5"]])
def test_demo_bad_flags(bad: list[str]) -> None:
    assert_one_line_error(run_cli("demo", *bad))


# ---- run ----------------------------------------------------------------------------------------
def test_run_pingpong() -> None:
    r = run_cli("run", "demos/pingpong.py", "--gomaxprocs", "2")
    assert r.returncode == 0, r.stderr
    assert "ping-pong: 10000 hits" in r.stdout
    assert "virtual" in r.stdout


@pytest.mark.parametrize("demo", ["fanout.py", "pipeline.py"])
def test_run_other_demos(demo: str) -> None:
    r = run_cli("run", str(DEMOS / demo), "--gomaxprocs", "4", "--seed", "2")
    assert r.returncode == 0, r.stderr
    assert "time:" in r.stdout


def test_run_honours_gomaxprocs_env_and_flag(progs: Path) -> None:
    r = run_cli("run", str(progs / "hello.py"), env={"GOMAXPROCS": "3"})
    assert r.returncode == 0, r.stderr
    assert "gomaxprocs 3" in r.stdout
    r = run_cli("run", str(progs / "hello.py"), "--gomaxprocs", "5", env={"GOMAXPROCS": "3"})
    assert "gomaxprocs 5" in r.stdout


def test_run_wall_clock(progs: Path) -> None:
    r = run_cli("run", str(progs / "hello.py"), "--clock", "wall", "--gomaxprocs", "2")
    assert r.returncode == 0, r.stderr
    assert "hello from G 1" in r.stdout


def test_run_trace_file(tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    r = run_cli("run", "demos/pingpong.py", "--gomaxprocs", "2", "--trace", str(out))
    if "not available yet" in r.stderr:
        assert_one_line_error(r)
        pytest.skip("aiogc.trace.perfetto not available")
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert doc["traceEvents"]


def test_unwritable_output_files(tmp_path: Path) -> None:
    bad = str(tmp_path / "no" / "such" / "dir" / "x.json")
    assert_one_line_error(run_cli("demo", "--cycles", "1", "--json", bad))
    assert_one_line_error(run_cli("run", "demos/pingpong.py", "--trace", bad))


# ---- bad input: one line, exit 2, no traceback ------------------------------------------------
def test_unknown_subcommand() -> None:
    assert_one_line_error(run_cli("frobnicate"))


def test_unknown_flag() -> None:
    assert_one_line_error(run_cli("demo", "--bogus"))


@pytest.mark.parametrize("cmd", ["demo", "run"])
def test_gomaxprocs_zero(cmd: str) -> None:
    args = ["run", "demos/pingpong.py"] if cmd == "run" else ["demo"]
    r = run_cli(*args, "--gomaxprocs", "0")
    assert_one_line_error(r)
    assert "gomaxprocs" in r.stderr


def test_gomaxprocs_too_big() -> None:
    assert_one_line_error(run_cli("run", "demos/pingpong.py", "--gomaxprocs", "257"))


@pytest.mark.parametrize("cmd", ["demo", "run"])
def test_gogc_abc(cmd: str) -> None:
    args = ["run", "demos/pingpong.py"] if cmd == "run" else ["demo"]
    r = run_cli(*args, "--gogc", "abc")
    assert_one_line_error(r)
    assert "gogc" in r.stderr


@pytest.mark.parametrize("var,value", [("GOMAXPROCS", "abc"), ("GOGC", "lots"), ("GODEBUG", "gctrace=x")])
def test_bad_environment(var: str, value: str) -> None:
    r = run_cli("run", "demos/pingpong.py", env={var: value})
    assert_one_line_error(r)
    assert var in r.stderr


def test_bad_clock() -> None:
    assert_one_line_error(run_cli("run", "demos/pingpong.py", "--clock", "sundial"))


def test_missing_file(tmp_path: Path) -> None:
    r = run_cli("run", str(tmp_path / "nope.py"))
    assert_one_line_error(r)
    assert "nope.py" in r.stderr


def test_directory_is_not_a_program(tmp_path: Path) -> None:
    assert_one_line_error(run_cli("run", str(tmp_path)))


@pytest.mark.parametrize("name,needle", [
    ("nomain.py", "main"),
    ("syncmain.py", "coroutine function"),
    ("notfunc.py", "coroutine function"),
    ("syntax.py", "syntax.py:1"),
    ("args.py", "no arguments"),
])
def test_bad_program(progs: Path, name: str, needle: str) -> None:
    r = run_cli("run", str(progs / name))
    assert_one_line_error(r)
    assert needle in r.stderr


def test_sweep_smoke(tmp_path: Path) -> None:
    out = tmp_path / "sweep.csv"
    r = run_cli("sweep", "--grid", "yield_after_assist=true,false", "--grid", "gomaxprocs=2", "--seeds", "1",
                "--cycles", "1", "--jobs", "2", "--out", str(out), "--summary")
    assert r.returncode == 0, r.stderr
    assert "overshoot" in r.stdout
    lines = out.read_text().splitlines()
    assert lines[0].startswith("yield_after_assist,gomaxprocs,seed,job_rows,n,")
    assert sorted(line.split(",")[0] for line in lines[1:]) == ["false", "true"]
    assert_one_line_error(run_cli("sweep", "--grid", "nosuch=1"))


# ---- program failures, reported as Go does ------------------------------------------------------
def test_panic(progs: Path) -> None:
    r = run_cli("run", str(progs / "panic.py"), "--gomaxprocs", "2")
    assert r.returncode == 2
    assert r.stderr.startswith("panic: ValueError: boom 7"), r.stderr
    assert "goroutine 2 [running]:" in r.stderr
    assert "explode_worker" in r.stderr
    assert "Traceback" not in r.stderr


def test_deadlock(progs: Path) -> None:
    r = run_cli("run", str(progs / "deadlock.py"))
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert lines[0] == "fatal error: all goroutines are asleep - deadlock!"
    # then, as Go does, the blocked goroutines with their wait reasons
    assert any(line.startswith("goroutine 1 (main) [") for line in lines[1:])
    assert "Traceback" not in r.stderr


def test_main_in_process_returns_status(capsys: pytest.CaptureFixture[str]) -> None:
    from aiogc.cli import main

    assert main(["--help"]) == 0
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("aiogc: error: ")


# ---- the small things, run --set/--speed/--live, --trace-goroutines -----------------------------------
def test_alone_prints_help_and_version() -> None:
    r = run_cli()
    assert r.returncode == 0 and "usage: aiogc" in r.stdout and "demo" in r.stdout and not r.stderr
    v = run_cli("--version")
    assert v.returncode == 0 and v.stdout.startswith("aiogc ") and v.stdout.split()[1][0].isdigit()


def test_unknown_godebug_key_is_ignored_with_one_warning() -> None:
    r = run_cli("run", str(DEMOS / "pingpong.py"), env={"GODEBUG": "madvdontneed=1"})
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("\n") == 1 and "madvdontneed" in r.stderr and "ignored" in r.stderr


def test_run_set_any_config_field(progs: Path, tmp_path: Path) -> None:
    prog = tmp_path / "cfg.py"
    prog.write_text("import aiogc\n\nasync def main():\n    c = aiogc.current_runtime().config\n"
                    "    print(c.yield_after_assist, c.assist_policy, c.preempt_ns, c.gogc, c.runnext)\n")
    r = run_cli("run", str(prog), "--set", "yield_after_assist=false", "--set", "assist_policy=retry",
                "--set", "preempt_ns=20_000_000", "--set", "gogc=off", "--set", "runnext=no")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "retry", "20000000", "None", "False"]
    for bad in ("nosuchfield=1", "yield_after_assist=maybe", "preempt_ns=soon", "novalue"):
        assert_one_line_error(run_cli("run", str(prog), "--set", bad))
    assert_one_line_error(run_cli("run", str(prog), "--speed", "0"))


def _run_in_pty(args: list[str], cols: int = 80, rows: int = 24, timeout: float = 120) -> tuple[int, str]:
    """Run ``python -m aiogc ARGS`` with stdout and stderr on a pseudo-terminal of the given size."""
    import fcntl
    import pty
    import select
    import struct
    import termios
    import time

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("GOMAXPROCS", "GOGC", "GODEBUG", "COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen([sys.executable, "-m", "aiogc", *args], stdout=slave, stderr=slave,
                            stdin=subprocess.DEVNULL, cwd=ROOT, env=env)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.1)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    proc.wait(timeout=10)
    os.close(master)
    return proc.returncode, out.decode(errors="replace")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_run_live_keeps_the_programs_output(tmp_path: Path) -> None:
    prog = tmp_path / "chatty.py"
    prog.write_text(
        "import sys\nimport aiogc\n\n"
        "async def main():\n"
        "    keep = []\n"
        "    for i in range(400):\n"
        "        keep.append(await aiogc.alloc(64 << 10))\n"
        "        if i % 100 == 0:\n"
        "            print(f'stdout line {i}', flush=True)\n"
        "            print(f'stderr line {i}', file=sys.stderr, flush=True)\n"
        "        if len(keep) > 64:\n"
        "            keep.pop(0)\n")
    code, out = _run_in_pty(["run", str(prog), "--live", "--gomaxprocs", "2", "--speed", "1"])
    assert code == 0, out
    assert "\x1b[" in out  # it was animated (a terminal)...
    for i in (0, 100, 200, 300):  # ...and the program's own output was kept, every line of it
        assert f"stdout line {i}" in out and f"stderr line {i}" in out
    assert "GC 1 start" in out and "time scale: 1 wall s = 1.00 s virtual" in out


def test_run_trace_goroutines(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    r = run_cli("run", str(DEMOS / "pingpong.py"), "--trace", str(out), "--trace-goroutines",
                "--gomaxprocs", "2")
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    names = [e["args"]["name"] for e in doc["traceEvents"] if e["ph"] == "M" and e["name"] == "thread_name"]
    assert sum(1 for n in names if n.startswith("G")) >= 2
