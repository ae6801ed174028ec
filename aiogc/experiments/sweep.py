"""The sweep experiment: a parameter grid of seed-workload runs on any ``concurrent.futures.Executor``.

A *point* is one combination of the ``--grid name=v1,v2,...`` values (the product of the grid, in the
order given); a *job* is one (point, seed): the seed workload (``aiogc.experiments.workloads``) in
virtual time with that point's ``Config`` fields and ``SeedWorkload`` knobs, for ``cycles + 1`` GC
cycles, the first (warm-up) cycle dropped as ``compare`` does.  A job returns one row per measured
cycle: the point's parameters, ``seed`` and every ``CycleStats`` field (``aiogc.trace.metrics.FIELDS``;
a swept ``gomaxprocs`` shares its column with the cycle's own, which is the same number).

What can be swept (``sweep_params()``): every ``Config`` field but ``seed`` (use ``--seeds``), ``clock``
(wall time is not reproducible) and ``godebug`` — the what-if switches ``runnext``, ``steal``,
``preempt_ns``, ``yield_after_assist``, ``assist_policy``, ``gomaxprocs``, ``gogc``, ``lookahead_ns``,
the cost model... — and every ``SeedWorkload`` knob (``live_bytes``, ``alloc_work_ns`` (allocation
rate), ``node_ptrs`` (pointer density), ``send_every`` (readying frequency), ...).  Values are typed
from the field: booleans take true/false/on/off/yes/no/1/0, integers allow ``_`` separators, ``gogc``
takes ``off`` (parsed, then refused: a sweep measures GC cycles and GOGC=off runs none), strings are
taken as given.  Every value and every point is validated up front by building its ``Config`` and
``SeedWorkload`` (``ConfigError`` naming the field).

The base of every point is fixed, not read from the environment: ``gomaxprocs=4``, ``gogc=100``,
``clock="virtual"``, ``godebug=""`` and ``SeedWorkload()``; so a job's rows depend only on its point
and seed — not on the executor, the machine or the order jobs finish in.  Rows are streamed to the
output file as jobs finish (``.csv`` or ``.jsonl``; one ``write`` per job, so a file holds whole jobs),
in completion order; the summary and every comparison sort them (grid order, seed, cycle).
``--resume`` reads the file, keeps the jobs whose every row is in it (each row carries ``job_rows``, the
number of rows its job wrote), rewrites the file with exactly those (dropping a partial last line and
the rows of a job cut short), and runs only the (point, seed) jobs not kept.

Executors: a local ``ProcessPoolExecutor`` (every core by default), or a Dask cluster through
``distributed.Client(address, timeout=...).get_executor()`` (``pip install -e '.[dask]'``); the address
is checked, with a short timeout, before any job starts.  Workers need ``aiogc`` importable.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import itertools
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from aiogc.argtypes import positive_float as _pos_float
from aiogc.argtypes import positive_int as _pos_int
from aiogc.config import Config, parse_bool, parse_gogc
from aiogc.errors import AiogcError, ConfigError
from aiogc.experiments.compare import seed_list
from aiogc.experiments.output import PIPED_WIDTH, fits, fitted_table, table_console
from aiogc.experiments.progress import Progress, add_progress_argument, progress_reporter, usable_cpus
from aiogc.experiments.workloads import SeedWorkload
from aiogc.io import CLIError, check_writable, nan_to_none
from aiogc.trace.metrics import FIELDS, CycleStats, summarize

WARMUP = 1  # as compare: the first cycle starts from the heap minimum with the pacer's first-cycle fake
METRICS = ("overshoot", "coordinator_latency_ns", "mark_duration_ns", "alloc_after_complete")
BASE_CONFIG: dict[str, Any] = {"gomaxprocs": 4, "gogc": 100, "clock": "virtual", "godebug": ""}
NOT_SWEPT = {
    "seed": "use --seeds",
    "clock": "a sweep runs in virtual time (wall time is not reproducible)",
    "godebug": "tracing output is not a sweep parameter",
    "sched_slowpath": "a model check that gives the same results by construction",
}
# A job stops after this much virtual time per cycle asked for, even if its cycles have not all finished
# (a point where the collector hardly runs must not hang the sweep).  Defaults finish a cycle in ~1 ms.
MAX_VIRTUAL_NS_PER_CYCLE = 10_000_000_000
OUT_FORMATS = (".csv", ".jsonl")
DEFAULT_DASK_TIMEOUT = 5.0

Value = bool | int | str | None
Point = tuple[tuple[str, Value], ...]
JobKey = tuple[tuple[str, ...], int]  # (canonical parameter values in grid order, seed)
Row = dict[str, Any]


class SweepError(AiogcError):
    """A job failed (the model raised): reported with its point and seed."""


# ---- parameters ----------------------------------------------------------------------------------
_KINDS = {"bool": "bool", "int": "int", "int | None": "gogc", "str": "str", "float": "float"}


def sweep_params() -> dict[str, tuple[str, str]]:
    """name -> (where: "config" or "workload", type: "bool", "int", "gogc" or "str")."""
    out: dict[str, tuple[str, str]] = {}
    for f in dataclasses.fields(Config):
        if f.init and f.name not in NOT_SWEPT:
            out[f.name] = ("config", _KINDS.get(str(f.type), "str"))
    for f in dataclasses.fields(SeedWorkload):
        out[f.name] = ("workload", _KINDS.get(str(f.type), "int"))
    return out


#: every row says how many rows its job wrote, so a resumed sweep can tell a whole job from a cut one
JOB_ROWS = "job_rows"
_CYCLE_TYPES = {f.name: _KINDS.get(str(f.type), "str") for f in dataclasses.fields(CycleStats)}


def parse_value(name: str, raw: str) -> Value:
    """One grid value, typed from the parameter's field; ``ConfigError`` naming the field if it is bad."""
    params = sweep_params()
    if name not in params:
        if name in NOT_SWEPT:
            raise ConfigError(name, raw, f"not a sweep parameter: {NOT_SWEPT[name]}")
        raise ConfigError(name, raw, "not a Config field or SeedWorkload knob; sweepable: "
                                     + ", ".join(sorted(params)))
    kind = params[name][1]
    s = raw.strip()
    if kind == "bool":
        return parse_bool(name, s)
    if kind == "int":
        try:
            return int(s)
        except ValueError:
            raise ConfigError(name, raw, "an integer") from None
    if kind == "gogc":
        v = parse_gogc(s, name)
        if v is None:
            raise ConfigError(name, raw, "a percentage: a sweep measures GC cycles and GOGC=off runs none")
        return v
    return s


def canon(v: Any) -> str:
    """A value's canonical text: what the CSV holds and what job keys compare."""
    if v is None:
        return "off"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _split(point: Point) -> tuple[dict[str, Any], dict[str, Any]]:
    params = sweep_params()
    cfg = {k: v for k, v in point if params[k][0] == "config"}
    wl = {k: v for k, v in point if params[k][0] == "workload"}
    return cfg, wl


def build(point: Point, seed: int = 0) -> tuple[Config, SeedWorkload]:
    """The point's validated ``Config`` (on the fixed base) and ``SeedWorkload``."""
    cfg, wl = _split(point)
    return Config(**{**BASE_CONFIG, **cfg, "seed": seed}), SeedWorkload(**wl)


@dataclass(frozen=True)
class Grid:
    """The swept parameters, in the order given, with their values in the order given."""

    axes: tuple[tuple[str, tuple[Value, ...]], ...]

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.axes]

    def points(self) -> list[Point]:
        vals = [vs for _, vs in self.axes]
        return [tuple(zip(self.names, combo, strict=True)) for combo in itertools.product(*vals)]

    def index(self, point_key: Sequence[str]) -> tuple[int, ...]:
        """Sort key of a point (by canonical values): each value's position in its axis."""
        return tuple([canon(v) for v in vs].index(c) for (_, vs), c in zip(self.axes, point_key, strict=True))

    def columns(self) -> list[str]:
        names = self.names
        return names + ["seed", JOB_ROWS] + [f for f in FIELDS if f not in names]


def parse_grid(specs: Sequence[str]) -> Grid:
    """``["yield_after_assist=true,false", "gomaxprocs=2,4"]`` -> a validated ``Grid``.

    Every value is checked alone, then every point by building its Config and SeedWorkload.
    """
    axes: list[tuple[str, tuple[Value, ...]]] = []
    seen: set[str] = set()
    for spec in specs:
        if "=" not in spec:
            raise ConfigError("grid", spec, "name=v1,v2,... (a Config field or SeedWorkload knob)")
        name, raw = spec.split("=", 1)
        name = name.strip()
        if name in seen:
            raise ConfigError(name, raw, "given twice in --grid; list every value once: name=v1,v2")
        seen.add(name)
        parts = [p for p in raw.split(",")]
        if not raw.strip() or any(not p.strip() for p in parts):
            raise ConfigError(name, raw, "a comma-separated list of non-empty values")
        vals: list[Value] = []
        for p in parts:
            v = parse_value(name, p)
            if any(canon(v) == canon(w) for w in vals):
                raise ConfigError(name, p, "a value given twice")
            try:
                build(((name, v),))  # the value alone, on the base
            except ConfigError as e:
                raise ConfigError(e.field, p, e.allowed) from None
            except TypeError as e:
                raise ConfigError(name, p, str(e)) from None
            vals.append(v)
        axes.append((name, tuple(vals)))
    if not axes:
        raise ConfigError("grid", "", "at least one --grid name=v1,v2,...")
    grid = Grid(tuple(axes))
    for point in grid.points():  # combinations (node_ptrs vs node_size, sysmon_min vs max, ...)
        try:
            build(point)
        except ConfigError as e:
            where = " ".join(f"{k}={canon(v)}" for k, v in point)
            raise ConfigError(e.field, e.value, f"{e.allowed} (at point {where})") from None
    return grid




def job_key(point: Point, seed: int) -> JobKey:
    return tuple(canon(v) for _, v in point), seed


def describe(point: Point, seed: int) -> str:
    return " ".join(f"{k}={canon(v)}" for k, v in point) + f" seed={seed}"


# ---- one job -------------------------------------------------------------------------------------
def run_job(point: Point, seed: int, cycles: int) -> list[Row]:
    """Run one (point, seed) and return its rows (one per measured cycle).  Deterministic; picklable."""
    import aiogc
    from aiogc.experiments.workloads import seed_main

    cfg, wl = build(point, seed)
    rt = aiogc.Runtime(cfg)
    rt.run(seed_main(wl, cycles=cycles + WARMUP, duration_ns=(cycles + WARMUP) * MAX_VIRTUAL_NS_PER_CYCLE))
    rows: list[Row] = []
    for c in rt.stats.cycles[WARMUP:WARMUP + cycles]:
        row: Row = dict(point)
        row["seed"] = seed
        for k, v in c.as_dict().items():
            if k in row:
                if canon(row[k]) != canon(v):  # a swept gomaxprocs is the cycle's own
                    raise SweepError(f"{describe(point, seed)}: cycle {c.n} has {k}={v}")
                continue
            row[k] = v
        rows.append(row)
    for row in rows:
        row[JOB_ROWS] = len(rows)
    return rows


def complete_jobs(grid: Grid, rows: Iterable[Row]) -> list[Row]:
    """The rows of the jobs whose every row is present (``job_rows`` distinct cycles), in file order.

    A job cut short on disk (a full disk, a killed writer, a file cut at a line boundary) is
    dropped whole, so that ``--resume`` runs it again instead of keeping part of it.
    """
    by_job: dict[JobKey, list[Row]] = {}
    for r in rows:
        by_job.setdefault(_row_key(grid, r), []).append(r)
    keep: set[JobKey] = set()
    for k, rs in by_job.items():
        want = rs[0][JOB_ROWS]
        if all(r[JOB_ROWS] == want for r in rs) and len({r["n"] for r in rs}) == want:
            keep.add(k)
    return [r for r in rows if _row_key(grid, r) in keep]


def _ignore_sigint() -> None:  # pool workers: Ctrl-C is the parent's to handle
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# ---- the output file -----------------------------------------------------------------------------
def out_format(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext not in OUT_FORMATS:
        raise ConfigError("out", path, "a file ending in .csv or .jsonl")
    return ext


def _typed(grid: Grid, col: str, s: str) -> Any:
    if col in grid.names:
        return parse_value(col, s) if not (col == "gogc" and s == "off") else None
    if col == "seed" or col == JOB_ROWS:
        return int(s)
    kind = _CYCLE_TYPES.get(col, "str")
    if kind == "int":
        return int(s)
    if kind == "float":
        return float(s)
    if kind == "bool":
        return parse_bool(col, s)
    return s


def _complete_text(path: str) -> tuple[str, int]:
    """The file's text up to its last newline, and the byte length of that (a partial last line dropped)."""
    with open(path, "rb") as f:
        data = f.read()
    cut = data.rfind(b"\n") + 1
    return data[:cut].decode("utf-8"), cut


def read_rows(path: str, grid: Grid) -> list[Row]:
    """The typed rows of a sweep file written for ``grid`` (a trailing partial line ignored).

    ``CLIError`` (one line) if the file was written for other parameters or is not a sweep file.
    """
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return []
    text, _ = _complete_text(path)
    cols = grid.columns()
    rows: list[Row] = []
    if out_format(path) == ".csv":
        rd = csv.reader(io.StringIO(text))
        header = next(rd, None)
        if header is None:
            return []
        if header != cols:
            raise CLIError(f"{path} holds another sweep (columns {','.join(header[:len(grid.names) + 1])}...); "
                           "use another --out, or the same --grid names to --resume it")
        for rec in rd:
            if len(rec) != len(cols):
                continue
            try:
                rows.append({c: _typed(grid, c, s) for c, s in zip(cols, rec, strict=True)})
            except (ValueError, ConfigError):
                continue
    else:
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(row, dict):
                continue
            if set(row) != set(cols):
                raise CLIError(f"{path} holds another sweep (keys {','.join(list(row)[:len(grid.names) + 1])}"
                               "...); use another --out, or the same --grid names to --resume it")
            rows.append({c: row[c] for c in cols})
    return rows


class Sink:
    """Appends each finished job's rows to the output file, in one ``write`` per job, then flushes.

    ``keep``: rows already done (``--resume``); the file is first rewritten with exactly those, in a
    temporary file renamed over it, which drops partial lines and partial jobs in one step.
    """

    def __init__(self, path: str, grid: Grid, *, keep: Sequence[Row] = ()) -> None:
        self.path = path
        self.fmt = out_format(path)
        self.cols = grid.columns()
        tmp = f"{path}.resume-tmp"
        self.fd = os.open(tmp if keep else path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        if self.fmt == ".csv":
            self._write(self._csv_line(self.cols))
        if keep:
            self.write(keep)
            os.fsync(self.fd)
            os.replace(tmp, path)

    @staticmethod
    def _csv_line(values: Sequence[Any]) -> str:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(values)
        return buf.getvalue()

    def _write(self, text: str) -> None:
        data = text.encode("utf-8")
        while data:
            n = os.write(self.fd, data)
            data = data[n:]

    def write(self, rows: Iterable[Row]) -> None:
        if self.fmt == ".csv":
            text = "".join(self._csv_line([canon(r[c]) for c in self.cols]) for r in rows)
        else:
            text = "".join(json.dumps({c: r[c] for c in self.cols}) + "\n" for r in rows)
        self._write(text)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


# ---- the sweep -----------------------------------------------------------------------------------
@dataclass
class SweepResult:
    grid: Grid
    seeds: list[int]
    cycles: int
    rows: list[Row]  # every row of this grid's jobs (from the file and from this run), sorted
    ran: int  # jobs run now
    skipped: int  # jobs found on disk (--resume)


def sort_rows(grid: Grid, rows: Iterable[Row]) -> list[Row]:
    """Rows in a completion-order-free order: grid order of the point, then seed, then cycle number."""
    return sorted(rows, key=lambda r: (grid.index([canon(r[n]) for n in grid.names]), r["seed"], r["n"]))


def _row_key(grid: Grid, r: Row) -> JobKey:
    return tuple(canon(r[n]) for n in grid.names), r["seed"]


def run_sweep(grid: Grid, seeds: int | Sequence[int], cycles: int, executor: Executor, *,
              out: str | None = None, resume: bool = False, progress: Progress | None = None,
              cancel_on_error: bool = True) -> SweepResult:
    """Run every (point, seed) job not already in ``out`` (with ``resume``) on ``executor``.

    Rows are appended to ``out`` as each job finishes.  ``progress(done, total, what)`` is called after a
    job's rows are on disk.  On an exception or Ctrl-C what finished stays in ``out`` and the pending jobs
    are cancelled (unless ``cancel_on_error`` is false: the caller then stops the executor itself, as
    the command does by terminating its pool's workers).  The executor is not shut down here.
    """
    seed_l = seed_list(seeds)
    if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 1:
        raise ConfigError("cycles", cycles, "a positive integer")
    points = grid.points()
    wanted = {job_key(p, s) for p in points for s in seed_l}
    old: list[Row] = []
    if out is not None:
        out_format(out)
        if resume:
            old = complete_jobs(grid, read_rows(out, grid))
    done_keys = {_row_key(grid, r) for r in old}
    todo = [(p, s) for p in points for s in seed_l if job_key(p, s) not in done_keys]
    sink = Sink(out, grid, keep=old) if out is not None else None
    old = [r for r in old if _row_key(grid, r) in wanted]
    new: list[Row] = []
    total = len(todo)
    futs: dict[Future[list[Row]], tuple[Point, int]] = {}
    try:
        # The costliest jobs first (more Ps), so the pool does not end on one long job while the
        # other workers idle; rows are sorted before any summary, so submission order never shows.
        for p, s in sorted(todo, key=lambda job: -int(dict(job[0]).get("gomaxprocs") or 1)):
            futs[executor.submit(run_job, p, s, cycles)] = (p, s)
        for n_done, fut in enumerate(as_completed(futs), 1):
            p, s = futs[fut]
            try:
                rows = fut.result()
            except SweepError:
                raise
            except Exception as e:  # noqa: BLE001 - name the job that failed
                raise SweepError(f"job {describe(p, s)} failed: {type(e).__name__}: {e}") from e
            if sink is not None:
                sink.write(rows)
            new.extend(rows)
            if progress is not None:
                progress(n_done, total, describe(p, s))
    except BaseException:
        if cancel_on_error:
            for f in futs:
                f.cancel()
        raise
    finally:
        if sink is not None:
            sink.close()
    # dedupe (a file written twice for a job keeps its first copy), then sort
    seen: set[tuple[JobKey, int]] = set()
    rows_all: list[Row] = []
    for r in old + new:
        k = (_row_key(grid, r), r["n"])
        if k not in seen:
            seen.add(k)
            rows_all.append(r)
    return SweepResult(grid, seed_l, cycles, sort_rows(grid, rows_all), ran=total, skipped=len(wanted) - total)


# ---- executors -----------------------------------------------------------------------------------
def local_executor(jobs: int | None = None) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=jobs or usable_cpus(), initializer=_ignore_sigint)


def dask_executor(address: str, timeout: float = DEFAULT_DASK_TIMEOUT) -> tuple[Executor, Callable[[], None]]:
    """Connect to the Dask scheduler at ``address`` (failing within ``timeout`` s) -> (executor, close)."""
    try:
        from distributed import Client
    except ImportError:
        raise CLIError("--dask needs the distributed package: pip install -e '.[dask]'") from None
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except Exception as e:  # noqa: BLE001 - OSError, TimeoutError, ValueError (a malformed address)...
        raise CLIError(f"cannot reach the Dask scheduler at {address} (within {timeout:g} s): "
                       f"{type(e).__name__}: {e}") from None

    def close() -> None:
        try:
            client.close()
        except Exception:  # noqa: BLE001 - closing a client whose scheduler went away
            pass

    return client.get_executor(), close


# ---- summary ---------------------------------------------------------------------------------------
def summary(result: SweepResult) -> list[dict[str, Any]]:
    """Per point (grid order): its parameters, jobs, cycles, assist-completed share, and per metric
    mean/p50/p99/max over every cycle of every seed (None for an empty sample)."""
    grid = result.grid
    by_point: dict[tuple[str, ...], list[Row]] = {}
    for r in result.rows:
        by_point.setdefault(_row_key(grid, r)[0], []).append(r)
    out: list[dict[str, Any]] = []
    for p in grid.points():
        key = job_key(p, 0)[0]
        rows = by_point.get(key, [])
        rec: dict[str, Any] = dict(p)
        rec["jobs"] = len({r["seed"] for r in rows})
        rec["cycles"] = len(rows)
        rec["assist_completed_share"] = (sum(r["completed_by"] == "assist" for r in rows) / len(rows)
                                         if rows else None)
        for m in METRICS:
            rec[m] = {k: nan_to_none(v) for k, v in summarize(r[m] for r in rows).items()}
        out.append(rec)
    return out


def render_summary(result: SweepResult, width: int = PIPED_WIDTH) -> Any:
    """The summary as tables of one row per point, each measure's mean / p50 / p99 in one cell:
    two measures per table (overshoot and coordinator latency; mark phase and bytes allocated after
    completion) when that fits ``width`` (100 when piped), else one (``output.fitted_table``)."""
    from rich.console import Group

    from aiogc.view.live import fmt_bytes, fmt_ns, fmt_pct

    fmts: dict[str, Callable[[float], str]] = {
        "overshoot": fmt_pct, "coordinator_latency_ns": fmt_ns, "mark_duration_ns": fmt_ns,
        "alloc_after_complete": fmt_bytes,
    }
    heads = {"overshoot": "overshoot", "coordinator_latency_ns": "coordinator latency",
             "mark_duration_ns": "mark phase", "alloc_after_complete": "allocated after completion"}
    recs = summary(result)

    def table(metrics: Sequence[str]) -> tuple[list[tuple[str, str]], list[list[str]]]:
        cols = [(n, "left") for n in result.grid.names] + [("cycles", "right"), ("by assist", "right")]
        cols += [(f"{heads[m]} mean / p50 / p99", "right") for m in metrics]
        rows = []
        for rec in recs:
            share = rec["assist_completed_share"]
            cells = [canon(rec[n]) for n in result.grid.names]
            cells += [str(rec["cycles"]), "-" if share is None else f"{share * 100:.0f}%"]
            for m in metrics:
                cells.append(" / ".join("-" if rec[m][st] is None else fmts[m](rec[m][st])
                                        for st in ("mean", "p50", "p99")))
            rows.append(cells)
        return cols, rows

    # Two measures per table when that fits the width on one line, else one per table.
    groups: list[Sequence[str]] = [METRICS[:2], METRICS[2:]]
    if not all(fits(*table(g), width) for g in groups):
        groups = [(m,) for m in METRICS]
    tables = []
    for i, g in enumerate(groups):
        title = (f"sweep: {len(result.seeds)} seed(s) x {result.cycles} cycle(s) per job (first cycle of each run "
                 f"skipped); mean / p50 / p99 over every cycle ({i + 1}/{len(groups)})")
        tables.append(fitted_table(title, *table(g), width=width))
    return Group(*tables)


# ---- plot ------------------------------------------------------------------------------------------
def plot_sweep(result: SweepResult, path: str) -> None:
    """Overshoot and coordinator latency (mean, and p99 dashed) against each swept parameter, averaged
    over the other parameters, fix on vs off (one line per ``yield_after_assist`` value)."""
    from aiogc.experiments.plots import require_matplotlib

    plt = require_matplotlib()
    grid = result.grid
    hue = "yield_after_assist"
    xs_names = [n for n, vs in grid.axes if n != hue and len(vs) > 1] or [n for n in grid.names if n != hue]
    hues: list[Any] = list(dict(grid.axes).get(hue, (None,)))
    colors = {True: "tab:green", False: "tab:red", None: "tab:blue"}
    labels = {True: "fix on", False: "fix off", None: "yield_after_assist=true (base)"}
    metrics = (("overshoot", 100.0, "overshoot of the heap goal (%, symlog)"),
               ("coordinator_latency_ns", 1e-3, "coordinator latency (µs, log)"))
    ncol = max(1, len(xs_names))
    fig, axes = plt.subplots(2, ncol, figsize=(4.6 * ncol + 0.8, 7.5), squeeze=False)
    for j in range(ncol):
        xname = xs_names[j] if xs_names else None
        xvals: list[Any] = list(dict(grid.axes)[xname]) if xname else [None]
        for i, (m, scale, ylabel) in enumerate(metrics):
            ax = axes[i][j]
            for h in hues:
                means, p99s = [], []
                for xv in xvals:
                    vals = [r[m] * scale for r in result.rows
                            if (xname is None or canon(r[xname]) == canon(xv))
                            and (h is None or r[hue] == h)]
                    st = summarize(vals)
                    means.append(st["mean"])
                    p99s.append(st["p99"])
                pos = list(range(len(xvals)))
                ax.plot(pos, means, marker="o", color=colors[h], label=f"{labels[h]} mean")
                ax.plot(pos, p99s, marker="x", ls="--", color=colors[h], alpha=0.7, label=f"{labels[h]} p99")
            ax.set_xticks(range(len(xvals)), [canon(v) if xname else "all" for v in xvals])
            ax.set_xlabel(xname or "(no other swept parameter)")
            ax.set_ylabel(ylabel)
            if m == "overshoot":
                ax.axhline(0, color="grey", lw=0.8)
                ax.set_yscale("symlog", linthresh=10)  # small over/undershoots linear, runaway heaps log
            else:
                ax.set_yscale("log")
            ax.grid(alpha=0.3)
            if i == 0 and j == 0:
                ax.legend(fontsize=8)
    fig.suptitle(f"sweep: {len(result.seeds)} seed(s) x {result.cycles} cycle(s) per point; each panel "
                 "averages over the other swept parameters", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---- the command ---------------------------------------------------------------------------------




def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2,...",
                        help="a swept parameter and its values (repeatable): a Config field (yield_after_assist, "
                             "assist_policy, gomaxprocs, gogc, runnext, steal, preempt_ns, lookahead_ns, ...) "
                             "or a SeedWorkload knob (live_bytes, alloc_work_ns, node_ptrs, send_every, ...)")
    parser.add_argument("--seeds", type=_pos_int, default=10, metavar="N", help="seeds per point: 0..N-1 (default 10)")
    parser.add_argument("--cycles", type=_pos_int, default=4, metavar="N",
                        help="measured GC cycles per job, after one warm-up cycle (default 4)")
    parser.add_argument("--out", metavar="FILE", help="stream rows to FILE.csv or FILE.jsonl as jobs finish")
    parser.add_argument("--resume", action="store_true", help="skip the (point, seed) jobs already in --out")
    parser.add_argument("--summary", action="store_true",
                        help="print a table per point (always printed when there is no --out)")
    parser.add_argument("--plot", metavar="FILE.png", help="plot overshoot and coordinator latency (matplotlib)")
    parser.add_argument("--jobs", type=_pos_int, default=None, metavar="N",
                        help="local worker processes (default: every core)")
    parser.add_argument("--dask", metavar="ADDRESS",
                        help="run on the Dask cluster whose scheduler is ADDRESS (e.g. tcp://host:8786)")
    add_progress_argument(parser)
    parser.add_argument("--dask-timeout", type=_pos_float, default=DEFAULT_DASK_TIMEOUT, metavar="S",
                        help=f"seconds to wait for the Dask scheduler (default {DEFAULT_DASK_TIMEOUT:g})")


def cmd_sweep(args: argparse.Namespace) -> int:
    """``aiogc sweep``: validate everything, connect, run, stream, then summary and plot."""

    grid = parse_grid(args.grid)
    out: str | None = args.out
    if args.resume and not out:
        raise CLIError("--resume needs --out FILE (the file to resume)")
    if args.dask and args.jobs is not None:
        raise CLIError("--jobs sets local worker processes; with --dask the cluster decides")
    if out:
        out_format(out)
        check_writable(out)
        if args.resume:
            read_rows(out, grid)  # another sweep's file: fail now
    if args.plot:
        check_writable(args.plot)
        from aiogc.experiments.plots import PlotUnavailable, require_matplotlib

        try:
            require_matplotlib()
        except PlotUnavailable as e:
            raise CLIError(str(e)) from None
    seeds = seed_list(args.seeds)
    close: Callable[[], None]
    cancel = bool(args.dask)  # a local pool is stopped by terminating its workers (close(), below)
    if args.dask:
        executor, close = dask_executor(args.dask, args.dask_timeout)
        where = f"Dask cluster {args.dask}"
    else:
        njobs = args.jobs or usable_cpus()
        executor = local_executor(njobs)
        where = f"{njobs} local process(es)"

        def close() -> None:
            if not ok:
                # Ctrl-C or a failed job: stop the running jobs now (workers ignore SIGINT).  The pool then
                # fails the pending futures itself; cancelling them too trips a CPython 3.11 bug
                # (InvalidStateError in the pool's manager thread), so they are left uncancelled.
                procs: dict[int, Any] = getattr(executor, "_processes", None) or {}
                for proc in list(procs.values()):
                    proc.terminate()
            executor.shutdown(wait=ok)

    ok = False
    total_jobs = len(grid.points()) * len(seeds)
    t0 = time.perf_counter()
    try:
        # total: every job; with --resume the first progress call corrects it to the jobs left
        with progress_reporter("sweep", total_jobs, getattr(args, "progress", None)) as prog:
            result = run_sweep(grid, seeds, args.cycles, executor, out=out, resume=args.resume, progress=prog,
                               cancel_on_error=cancel)
        ok = True
    except KeyboardInterrupt:
        if out:
            sys.stderr.write(f"\nsweep interrupted: the finished jobs are in {out}; "
                             "run again with --resume to finish\n")
        raise
    finally:
        close()
    wall = time.perf_counter() - t0
    print(f"sweep: {total_jobs} job(s) ({result.skipped} already in {out}, {result.ran} run) on {where} in "
          f"{wall:.1f} s; {len(result.rows)} row(s)" if out else
          f"sweep: {total_jobs} job(s) on {where} in {wall:.1f} s; {len(result.rows)} row(s)",
          file=sys.stderr, flush=True)
    if args.summary or not out:
        con = table_console()
        con.print(render_summary(result, width=con.width))
    if args.plot:
        plot_sweep(result, args.plot)
    return 0
