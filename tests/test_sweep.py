"""The sweep experiment: grid parsing, the same rows on every executor, streaming, --resume, bad input."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import pytest

from aiogc.errors import ConfigError
from aiogc.experiments.sweep import (
    Grid,
    local_executor,
    parse_grid,
    read_rows,
    run_sweep,
    sort_rows,
    summary,
)
from aiogc.trace.metrics import FIELDS

ROOT = Path(__file__).resolve().parent.parent
GRID = ["yield_after_assist=true,false", "assist_policy=seed,retry", "gomaxprocs=2", "live_bytes=2097152"]
SEEDS = 2
CYCLES = 2
NJOBS = 2 * 2 * SEEDS


def canonical(rows: list[dict[str, Any]], grid: Grid) -> list[str]:
    """Sorted rows as JSON text (NaN-safe equality)."""
    return [json.dumps(r, sort_keys=True) for r in sort_rows(grid, rows)]


@pytest.fixture(scope="module")
def grid() -> Grid:
    return parse_grid(GRID)


@pytest.fixture(scope="module")
def pool() -> Iterator[Executor]:
    ex = local_executor(2)
    yield ex
    ex.shutdown(wait=True)


@pytest.fixture(scope="module")
def reference(grid: Grid, pool: Executor, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The small grid's rows, run once on the local process pool and read back from the CSV it streamed."""
    out = tmp_path_factory.mktemp("ref") / "ref.csv"
    res = run_sweep(grid, SEEDS, CYCLES, pool, out=str(out))
    assert res.ran == NJOBS and res.skipped == 0
    assert len(res.rows) == NJOBS * CYCLES
    on_disk = read_rows(str(out), grid)
    assert canonical(on_disk, grid) == canonical(res.rows, grid)  # the file holds exactly the typed rows
    return canonical(res.rows, grid)


class CountingExecutor(Executor):
    """Wraps an executor and counts what is submitted to it."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self.submitted: list[tuple[Any, ...]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted.append(args)
        return self.inner.submit(fn, *args, **kwargs)


# ---- grid parsing -----------------------------------------------------------------------------------
def test_parse_grid_typed_values() -> None:
    g = parse_grid(["runnext=on,off", "steal=yes,0", "gogc=50,100",
                    "assist_policy=seed,retry,queue", "live_bytes=1_048_576,4194304", "preempt_ns=1000000"])
    axes = dict(g.axes)
    assert axes["runnext"] == (True, False)
    assert axes["steal"] == (True, False)
    assert axes["gogc"] == (50, 100)
    assert axes["assist_policy"] == ("seed", "retry", "queue")
    assert axes["live_bytes"] == (1 << 20, 4 << 20)
    assert axes["preempt_ns"] == (1_000_000,)
    assert len(g.points()) == 2 * 2 * 2 * 3 * 2
    cols = g.columns()
    assert cols[:7] == ["runnext", "steal", "gogc", "assist_policy", "live_bytes", "preempt_ns", "seed"]
    assert set(FIELDS) <= set(cols)


@pytest.mark.parametrize("spec,field", [
    (["nosuch=1,2"], "nosuch"),
    (["yield_after_assist=maybe"], "yield_after_assist"),
    (["gomaxprocs=2,0"], "gomaxprocs"),
    (["gomaxprocs=two"], "gomaxprocs"),
    (["gogc=off"], "gogc"),
    (["assist_policy=seed,later"], "assist_policy"),
    (["live_bytes=0"], "live_bytes"),
    (["seed=1,2"], "seed"),
    (["clock=wall"], "clock"),
    (["gomaxprocs=2,2"], "gomaxprocs"),
    (["gomaxprocs=2", "gomaxprocs=4"], "gomaxprocs"),
    (["gomaxprocs="], "gomaxprocs"),
    (["node_size=512,1024", "node_ptrs=128"], "node_ptrs"),  # only a combination is invalid
])
def test_parse_grid_rejects(spec: list[str], field: str) -> None:
    with pytest.raises(ConfigError) as ei:
        parse_grid(spec)
    assert ei.value.field == field


# ---- the same rows everywhere ---------------------------------------------------------------------
def test_rows_do_not_depend_on_the_executor(grid: Grid, reference: list[str], tmp_path: Path) -> None:
    """A LocalCluster (2 worker processes) gives the rows the local pool gave, whatever the order."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as cluster:
        from aiogc.experiments.sweep import dask_executor

        ex, close = dask_executor(cluster.scheduler_address, timeout=10)
        try:
            res = run_sweep(grid, SEEDS, CYCLES, ex, out=str(tmp_path / "dask.jsonl"))
        finally:
            close()
    assert canonical(res.rows, grid) == reference
    assert canonical(read_rows(str(tmp_path / "dask.jsonl"), grid), grid) == reference


def test_rows_in_completion_order_sort_the_same(grid: Grid, reference: list[str]) -> None:
    from aiogc.experiments.sweep import run_job

    rows = []
    for p in reversed(grid.points()):  # a different order, in this process
        for s in reversed(range(SEEDS)):
            rows.extend(run_job(p, s, CYCLES))
    assert canonical(rows, grid) == reference
    means = [rec["overshoot"]["mean"] for rec in summary_of(grid, rows)]
    assert means == [rec["overshoot"]["mean"] for rec in summary_of(grid, list(reversed(rows)))]


def summary_of(grid: Grid, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from aiogc.experiments.sweep import SweepResult

    return summary(SweepResult(grid, list(range(SEEDS)), CYCLES, sort_rows(grid, rows), ran=0, skipped=0))


# ---- streaming, interruption and --resume ---------------------------------------------------------
@pytest.mark.parametrize("ext", [".csv", ".jsonl"])
def test_interrupted_sweep_keeps_finished_jobs_and_resume_finishes(grid: Grid, pool: Executor,
                                                                   reference: list[str], tmp_path: Path,
                                                                   ext: str) -> None:
    out = str(tmp_path / f"sweep{ext}")

    def stop_after_3(done: int, total: int, what: str) -> None:
        # called once a job's rows are on disk: the file holds exactly the jobs finished so far
        assert len(read_rows(out, grid)) == done * CYCLES
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(grid, SEEDS, CYCLES, pool, out=out, progress=stop_after_3)
    kept = read_rows(out, grid)
    assert len(kept) == 3 * CYCLES
    assert set(canonical(kept, grid)) <= set(reference)
    # a kill in the middle of a write leaves a partial line: --resume drops it
    with open(out, "a", encoding="utf-8") as f:
        f.write('true,seed,2,1,2,129' if ext == ".csv" else '{"yield_after_assist": tr')
    counting = CountingExecutor(pool)
    res = run_sweep(grid, SEEDS, CYCLES, counting, out=out, resume=True)
    assert len(counting.submitted) == NJOBS - 3 and res.skipped == 3
    assert canonical(res.rows, grid) == reference
    assert canonical(read_rows(out, grid), grid) == reference
    with open(out, encoding="utf-8") as f:
        assert f.read().endswith("\n")


@pytest.mark.parametrize("ext", [".csv", ".jsonl"])
def test_resume_reruns_a_job_whose_rows_were_only_partly_written(grid: Grid, pool: Executor,
                                                                 reference: list[str], tmp_path: Path,
                                                                 ext: str) -> None:
    """A file cut at a line boundary inside a job's rows (a full disk, a killed writer): that job
    is not done; --resume drops its rows and runs it again, and no row is lost or doubled."""
    out = str(tmp_path / f"cut{ext}")

    def stop_after_3(done: int, total: int, what: str) -> None:
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(grid, SEEDS, CYCLES, pool, out=out, progress=stop_after_3)
    lines = Path(out).read_text(encoding="utf-8").splitlines(keepends=True)
    Path(out).write_text("".join(lines[:-1]), encoding="utf-8")  # the last job keeps 1 of its 2 rows
    assert len(read_rows(out, grid)) == 3 * CYCLES - 1
    counting = CountingExecutor(pool)
    res = run_sweep(grid, SEEDS, CYCLES, counting, out=out, resume=True)
    assert len(counting.submitted) == NJOBS - 2 and res.skipped == 2
    assert canonical(res.rows, grid) == reference
    assert canonical(read_rows(out, grid), grid) == reference
    assert all(r["job_rows"] == CYCLES for r in read_rows(out, grid))


def test_resume_runs_nothing_twice(grid: Grid, pool: Executor, reference: list[str], tmp_path: Path) -> None:
    out = str(tmp_path / "r.csv")
    run_sweep(grid, SEEDS, CYCLES, pool, out=out)
    before = Path(out).read_bytes()
    counting = CountingExecutor(pool)
    res = run_sweep(grid, SEEDS, CYCLES, counting, out=out, resume=True)
    assert counting.submitted == [] and res.ran == 0 and res.skipped == NJOBS
    assert Path(out).read_bytes() == before  # nothing appended
    assert canonical(res.rows, grid) == reference
    # one more seed: only its jobs run, and no job is on disk twice
    res = run_sweep(grid, SEEDS + 1, CYCLES, counting, out=out, resume=True)
    assert len(counting.submitted) == 4 and {a[1] for a in counting.submitted} == {SEEDS}
    rows = read_rows(out, grid)
    keys = [(tuple(r[n] for n in grid.names), r["seed"], r["n"]) for r in rows]
    assert len(keys) == len(set(keys)) == (NJOBS + 4) * CYCLES
    assert len(res.rows) == len(rows)


def test_resume_refuses_another_sweeps_file(grid: Grid, tmp_path: Path) -> None:
    from aiogc.io import CLIError

    out = tmp_path / "other.csv"
    out.write_text("gomaxprocs,seed,n\n2,0,1\n")
    with pytest.raises(CLIError, match="another sweep"):
        read_rows(str(out), grid)


# ---- the command ------------------------------------------------------------------------------------
def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GOMAXPROCS", "GOGC", "GODEBUG")}
    return subprocess.run([sys.executable, "-m", "aiogc", "sweep", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=timeout, stdin=subprocess.DEVNULL)


def assert_one_line_error(r: subprocess.CompletedProcess[str], needle: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("aiogc: error: "), r.stderr
    assert needle in lines[0], r.stderr


def test_cli_summary_plot_and_jsonl(tmp_path: Path) -> None:
    out, png = tmp_path / "s.jsonl", tmp_path / "s.png"
    args = ["--grid", "yield_after_assist=on,off", "--grid", "gomaxprocs=2,3", "--seeds", "1", "--cycles", "1",
            "--jobs", "2", "--out", str(out), "--summary", "--progress"]
    try:
        import matplotlib  # noqa: F401

        args += ["--plot", str(png)]
    except ImportError:
        png = None  # type: ignore[assignment]
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    assert "overshoot" in r.stdout and "coordinator latency" in r.stdout
    assert all(len(line) <= 100 for line in r.stdout.splitlines())  # piped: fits 100 columns
    assert "sweep: [4/4]" in r.stderr  # not a TTY, --progress: plain progress lines
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 4
    assert {(r["yield_after_assist"], r["gomaxprocs"]) for r in rows} == {(True, 2), (True, 3), (False, 2),
                                                                          (False, 3)}
    if png is not None:
        assert png.stat().st_size > 1000


@pytest.mark.parametrize("args,needle", [
    (["--grid", "nosuch=1"], "nosuch"),
    (["--grid", "yield_after_assist=maybe"], "yield_after_assist"),
    (["--grid", "gomaxprocs=0"], "gomaxprocs"),
    (["--grid", "gogc=off"], "gogc"),
    (["--grid", "gomaxprocs"], "grid"),
    (["--grid", "gomaxprocs=2", "--out", "/no/such/dir/x.csv"], "cannot write"),
    (["--grid", "gomaxprocs=2", "--out", "OUT.txt"], "out"),
    (["--grid", "gomaxprocs=2", "--resume"], "--resume"),
    (["--grid", "gomaxprocs=2", "--seeds", "0"], "seeds"),
])
def test_cli_bad_input(args: list[str], needle: str, tmp_path: Path) -> None:
    args = [a.replace("OUT", str(tmp_path / "x")) for a in args]
    assert_one_line_error(run_cli(*args), needle)
    assert list(tmp_path.iterdir()) == []  # nothing started, nothing written


def test_cli_unreachable_dask_fails_fast_before_any_job(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    out = tmp_path / "x.csv"
    t0 = time.monotonic()
    r = run_cli("--grid", "gomaxprocs=2", "--dask", "tcp://127.0.0.1:1", "--dask-timeout", "1",
                "--out", str(out))
    assert time.monotonic() - t0 < 20
    assert_one_line_error(r, "tcp://127.0.0.1:1")
    assert not out.exists()


def test_cli_ctrl_c_keeps_whole_jobs_on_disk(tmp_path: Path) -> None:
    """SIGINT mid-sweep: exit 130, the file holds the finished jobs (whole), --resume completes it."""
    import signal

    out = tmp_path / "int.csv"
    env = {k: v for k, v in os.environ.items() if k not in ("GOMAXPROCS", "GOGC", "GODEBUG")}
    # fix off with the seed assist policy: slow jobs (a runaway heap), so the sweep is still running
    args = ["--grid", "yield_after_assist=false", "--grid", "gomaxprocs=2", "--seeds", "12", "--cycles", "3",
            "--jobs", "2", "--out", str(out)]
    p = subprocess.Popen([sys.executable, "-m", "aiogc", "sweep", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and p.poll() is None:
        if out.exists() and len(out.read_text().splitlines()) > 1:
            break
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    if p.returncode == 0:
        pytest.skip("the sweep finished before it could be interrupted")
    assert p.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    text = out.read_text()
    assert text.endswith("\n")
    nrows = len(text.splitlines()) - 1
    assert nrows > 0 and nrows % 3 == 0  # whole jobs only
    r = run_cli(*args, "--resume")
    assert r.returncode == 0, r.stderr
    assert f"{nrows // 3} already in" in r.stderr
    assert len(out.read_text().splitlines()) - 1 == 12 * 3
