"""The validate experiment: the model against the real Go runtime, side by side, with bands.

Reference data: per-cycle CSVs of real Go (built at a commit of the July 2015 series, patched
only to record exact heap bytes and the time from ``complete()`` to the coordinator resuming)
running ``seedload.go``, the Go port of the seed workload (``aiogc/data/README.md``).  The
package ships two of them (``aiogc/data/realgo.csv``: the seed and its parent at GOMAXPROCS=2
and 1; ``aiogc/data/realgo-series.csv``: 8f34b253, 64a32ffe and 510fd135 at GOMAXPROCS=2 and
1); ``--against DIR`` reads every ``*.csv`` of DIR instead, in that format or in the original
``shared/data/realgo`` formats (a ``toolchain`` column of ``seed``/``parent``, GOMAXPROCS from
the file name's ``-P<n>``; files without exact heap bytes are skipped).

Per reference set (commit, GOMAXPROCS) the model runs the same program and configuration:
the seed workload with its defaults (4 MiB live, ``alloc_work_ns`` 1000, GOGC=100), the same
GOMAXPROCS, ``Config.go_commit`` = the commit, one run per seed, each stopped after the same
number of GC cycles as ``seedload -cycles`` or a virtual-time bound (``seedload -max_s``), or
when its heap passes ``--max-heap-gib`` (default 1 GiB, for a run of a minute; real Go's OOM killer
ended two parent runs at 18-22 GB, and 22 follows the model's lock-ins to where they end, at an
``h_allspans`` growth: ~0.35 GB of memory and ~6 s per GiB of heap), and the same kept cycles
(gc 3..62: cycles 1-2 are start-up).

Columns, computed the same way from both sides:
  overshoot       (heap at mark termination - goal) / goal, mean / p50 / p90 / p99
  above goal      share of cycles whose heap at the coordinator's start was over the goal
  by assist       share of cycles whose last mark phase an assist completed
  mark 2 waited   share of cycles whose coordinator waited for mark 2 (real Go: a mark-2
                  completion time was recorded; at the seed mark 2 is skipped when mark 1's
                  flush leaves no grey work on the global lists)
  latency         over the cycles whose last mark phase an assist completed: the longest time
                  from ``complete()`` to the coordinator resuming (max over mark 1 and mark 2),
                  p50 / p90 / p99 / max
Percentiles interpolate linearly, as the reference summaries do.

Bands (the targets of issue 11; ``BANDS``): each is checked on the model's figure against real
Go's and marked ``ok`` or ``OUT``; figures without a band are shown unmarked.  A run a bound
(virtual time or heap) stopped while the coordinator was still waiting is reported (its wait is
censored: it is at least the time shown) and not counted as a cycle, as real Go's stopped runs
are not.
"""

from __future__ import annotations

import argparse
import csv
import gc
import glob
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import aiogc
from aiogc.config import GO_SERIES, HOSTS, resolve_go_commit
from aiogc.errors import ConfigError, WorkerLost
from aiogc.experiments.workloads import MAX_HEAP_BYTES, SeedWorkload, seed_main

DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
KEEP_FIRST, KEEP_LAST = 3, 62  # the kept cycles, as in the reference summaries (gc 1-2 are start-up)
SEEDLOAD_CYCLES = 64  # seedload -cycles 64
SEEDLOAD_MAX_NS = 60_000_000_000  # seedload -max_s 60
DEFAULT_HOST = "realgo-vm"  # the machine the reference data were measured on (config.HOSTS, sched/host.py)
# Memory of one model run, per GiB of model heap, and its base: measured on the parent's seed workload
# (a run that reached a 22 GiB heap peaked at 7.5 GB resident, just after its pointer pool doubled:
# most of it the 128 int32 pointer words of every 1 KiB node, in the old pool and the new).  Used to
# refuse, or to run fewer at once, runs whose heap bound would not fit.
RUN_MEM_PER_HEAP_GIB = 0.4
RUN_MEM_BASE_GIB = 0.3


def available_memory_gib() -> float | None:
    """MemAvailable from /proc/meminfo, in GiB; None where there is no such file."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / (1 << 20)
    except (OSError, ValueError, IndexError):
        return None
    return None


def run_memory_gib(max_heap_gib: float) -> float:
    """The memory one run may take, in GiB, when its heap may grow to ``max_heap_gib``."""
    return RUN_MEM_BASE_GIB + RUN_MEM_PER_HEAP_GIB * max_heap_gib


def jobs_that_fit(max_heap_gib: float, jobs: int, avail_gib: float | None) -> int:
    """How many runs with a ``max_heap_gib`` heap bound fit in ``avail_gib`` at once (at most
    ``jobs``); 0 if not even one does.  Unknown memory: ``jobs``."""
    if avail_gib is None:
        return jobs
    return min(jobs, int(avail_gib // run_memory_gib(max_heap_gib)))


@dataclass(frozen=True)
class Band:
    """A target: the model's ``metric`` against real Go's, for the sets it applies to.

    kind "factor": model/real within [1/k, k] (same sign); "points": |model - real| <= k in
    percentage points (the metric is a fraction); "same": the model's fix-on and fix-off
    figures (seed and parent at this GOMAXPROCS) differ by at most k points, as in real Go.
    """

    metric: str
    kind: str
    k: float
    commit: str  # 8-hex commit the band applies to
    gomaxprocs: int

    def check(self, model: float, real: float) -> bool:
        if math.isnan(model) or math.isnan(real):
            return False
        if self.kind == "factor":
            if real == 0 or model == 0 or (model > 0) != (real > 0):
                return model == real
            r = model / real
            return 1 / self.k <= r <= self.k
        return abs(model - real) * 100 <= self.k

    def describe(self) -> str:
        if self.kind == "factor":
            return f"within x{self.k:g}"
        if self.kind == "same":
            return f"fix on - fix off within {self.k:g} points"
        return f"within {self.k:g} points"


SEED, PARENT = "500c88d4", "4f188c2d"
#: issue 11's targets, on the given data (GOMAXPROCS=2, the default workload), and GOMAXPROCS=1.
BANDS: tuple[Band, ...] = (
    Band("lat_p50", "factor", 3, PARENT, 2),
    Band("lat_p90", "factor", 3, PARENT, 2),
    Band("lat_p99", "factor", 3, PARENT, 2),
    Band("ov_p50", "factor", 3, PARENT, 2),
    Band("ov_p90", "factor", 3, PARENT, 2),
    Band("above", "points", 15, SEED, 2),
    Band("ov_mean", "factor", 2, SEED, 2),
    Band("ov_p50", "points", 5, SEED, 2),
    Band("ov_mean", "same", 2, SEED, 1),
)

LOWER_KEY = "lower_bounds"  # summarize_cycles: which COLUMNS figures are only lower bounds (a bit set)

COLUMNS: tuple[tuple[str, str], ...] = (
    ("ov_mean", "overshoot mean"), ("ov_p50", "p50"), ("ov_p90", "p90"), ("ov_p99", "p99"),
    ("above", "above goal"), ("by_assist", "by assist"), ("mark2", "mark 2 waited"),
    ("lat_p50", "latency p50"), ("lat_p90", "p90"), ("lat_p99", "p99"), ("lat_max", "max"),
)


# ---- per-cycle records, from either side ------------------------------------------------------------
@dataclass(frozen=True)
class Cycle:
    """One kept GC cycle, in the fields both sides have."""

    heap0: int
    heap1: int
    goal: int
    last_by_assist: bool
    latency_ns: int  # max over the waited mark phases of complete() -> coordinator resumed
    clk_ms: tuple[float, float, float, float, float] = (math.nan,) * 5  # gctrace's five clock phases
    mark2: bool = False  # the coordinator waited for mark 2 (at the seed it is skipped when mark 1's
    # flush leaves no grey work on the global lists)


def percentile(vals: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), NaN for no values."""
    if not vals:
        return math.nan
    s = sorted(vals)
    pos = (len(s) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def percentile_censored(vals: Sequence[float], censored: Sequence[float], q: float) -> tuple[float, bool]:
    """``percentile`` over ``vals`` and ``censored`` together, where a censored value is only a lower
    bound (a wait still going on, a heap still growing when a bound stopped the run).  Returns the
    value and whether it is only a lower bound: raising a value never lowers a percentile, so the
    figure is always a lower bound, and exact when every censored value ranks above both ends of
    the interpolation (ties: a censored value ranks after an equal exact one)."""
    if not censored:
        return percentile(vals, q), False
    s = sorted([(v, 0) for v in vals] + [(v, 1) for v in censored])
    pos = (len(s) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    v = s[lo][0] + (s[hi][0] - s[lo][0]) * (pos - lo)
    first_censored = min(i for i, (_, c) in enumerate(s) if c)
    return v, first_censored <= hi


def summarize_cycles(cycles: Sequence[Cycle], censored: Sequence[tuple[float, float]] = ()) -> dict[str, float]:
    """The table's figures for one side of one reference set.

    ``censored``: per run a bound stopped mid-cycle, (its assist-completed coordinator wait so far,
    NaN if none; its overshoot so far, NaN if unknown), both lower bounds.  They join the latency
    and overshoot figures; a figure they make a lower bound is listed in ``LOWER_KEY`` (as a
    bit set over ``COLUMNS``, to keep the summary a flat dict of floats)."""
    ov = [(c.heap1 - c.goal) / c.goal for c in cycles if c.goal > 0]
    lat = [float(c.latency_ns) for c in cycles if c.last_by_assist]
    ov_c = [o for _, o in censored if not math.isnan(o)]
    lat_c = [w for w, _ in censored if not math.isnan(w)]
    n = len(cycles)
    lower: set[str] = set()

    def pc(name: str, v: Sequence[float], c: Sequence[float], q: float) -> float:
        x, lb = percentile_censored(v, c, q)
        if lb:
            lower.add(name)
        return x

    allov = ov + ov_c
    out = {
        "cycles": float(n),
        "ov_mean": sum(allov) / len(allov) if allov else math.nan,
        "ov_p50": pc("ov_p50", ov, ov_c, 50), "ov_p90": pc("ov_p90", ov, ov_c, 90),
        "ov_p99": pc("ov_p99", ov, ov_c, 99),
        "above": sum(c.heap0 > c.goal for c in cycles) / n if n else math.nan,
        "by_assist": sum(c.last_by_assist for c in cycles) / n if n else math.nan,
        "mark2": sum(c.mark2 for c in cycles) / n if n else math.nan,
        "lat_n": float(len(lat) + len(lat_c)),
        "lat_p50": pc("lat_p50", lat, lat_c, 50), "lat_p90": pc("lat_p90", lat, lat_c, 90),
        "lat_p99": pc("lat_p99", lat, lat_c, 99),
        "lat_max": max(lat + lat_c) if lat or lat_c else math.nan,
    }
    if ov_c:
        lower.add("ov_mean")
    if lat_c:
        lower.add("lat_max")
    out[LOWER_KEY] = float(sum(1 << i for i, (m, _) in enumerate(COLUMNS) if m in lower))
    for i, name in enumerate(("sweepterm", "scan", "installwb", "mark", "markterm")):
        v = [c.clk_ms[i] for c in cycles if not math.isnan(c.clk_ms[i])]
        out[f"clk_{name}_mean"] = sum(v) / len(v) if v else math.nan
        out[f"clk_{name}_p50"] = percentile(v, 50)
    return out


# ---- reading the reference data ------------------------------------------------------------------------
_TOOLCHAIN = {"seed": SEED, "parent": PARENT}


def _commit_of(raw: str) -> str | None:
    raw = raw.strip()
    if raw in _TOOLCHAIN:
        return _TOOLCHAIN[raw]
    try:
        return GO_SERIES[resolve_go_commit(raw)][1][:8]
    except ConfigError:
        return None  # a commit the model has no setting for (e.g. go1.5rc1): skipped


def load_reference(paths: Iterable[str]) -> dict[tuple[str, int], dict[str, Any]]:
    """(commit, gomaxprocs) -> {"cycles": [Cycle], "runs": n, "files": [...]}; kept cycles only."""
    sets: dict[tuple[str, int], dict[str, Any]] = {}
    for path in paths:
        with open(path, newline="") as f:
            rd = csv.DictReader(f)
            cols = set(rd.fieldnames or ())
            if not {"heap1_b", "goal_b", "heap0_b"} <= cols or "gc" not in cols:
                continue  # gctrace-MB-only (plain) data: no exact bytes
            m = re.search(r"-P(\d+)", os.path.basename(path))
            runs: dict[tuple[str, int], set[str]] = {}
            for r in rd:
                c = _commit_of(r.get("commit") or r.get("toolchain") or "")
                if c is None:
                    continue
                gmp = int(r["gomaxprocs"]) if r.get("gomaxprocs") else int(m.group(1)) if m else 0
                if not gmp or not KEEP_FIRST <= int(r["gc"]) <= KEEP_LAST or r.get("forced") == "1":
                    continue
                lat = max(int(float(r["m1_coord_lat_ns"])), int(float(r["m2_coord_lat_ns"])))
                clk = tuple(float(r[k]) if r.get(k) not in (None, "") else math.nan for k in
                            ("clk_sweepterm_ms", "clk_scan_ms", "clk_installwb_ms", "clk_mark_ms",
                             "clk_markterm_ms"))
                cyc = Cycle(int(r["heap0_b"]), int(r["heap1_b"]), int(r["goal_b"]),
                            r["last_by_assist"] == "1", lat, clk,  # type: ignore[arg-type]
                            int(float(r["m2_coord_lat_ns"])) >= 0)
                s = sets.setdefault((c, gmp), {"cycles": [], "runs": 0, "files": []})
                s["cycles"].append(cyc)
                if path not in s["files"]:
                    s["files"].append(path)
                runs.setdefault((c, gmp), set()).add(r.get("run", "1"))
            for key, rs in runs.items():
                sets[key]["runs"] += len(rs)
    return sets


def reference_files(against: str | None) -> list[str]:
    if against is None:
        return sorted(glob.glob(os.path.join(DATA_DIR, "realgo*.csv")))
    if not os.path.isdir(against):
        raise ConfigError("--against", against, "a directory of per-cycle CSV files")
    files = sorted(glob.glob(os.path.join(against, "*.csv")))
    if not files:
        raise ConfigError("--against", against, "a directory holding per-cycle *.csv files (none found)")
    return files


# ---- the model's side ---------------------------------------------------------------------------------
def run_model(commit: str, gomaxprocs: int, seed: int, cycles: int, max_ns: int,
              max_heap_bytes: int = MAX_HEAP_BYTES, host: str = DEFAULT_HOST) -> dict[str, Any]:
    """One model run of the seed workload as seedload runs: kept cycles as ``Cycle`` fields, and the
    censored wait of a coordinator still waiting when a bound (virtual time, heap) stopped the run."""
    rt = aiogc.Runtime(gomaxprocs=gomaxprocs, gogc=100, seed=seed, go_commit=commit, clock="virtual", godebug="",
                       **HOSTS[host])
    summary = rt.run(seed_main(SeedWorkload(), cycles=cycles, duration_ns=max_ns, max_heap_bytes=max_heap_bytes))
    stopped = summary["stopped_by"] != "cycles"
    out = []
    for c in rt.stats.cycles:
        if stopped and c.end_ns > summary["stop_ns"]:
            continue  # it finished only because the mutators were stopped
        if KEEP_FIRST <= c.n <= KEEP_LAST and not c.forced:
            clk = tuple(ns / 1e6 for ns in (c.clk_sweepterm_ns, c.clk_scan_ns, c.clk_installwb_ns,
                                             c.mark_duration_ns, c.clk_markterm_ns))
            out.append((c.heap_start, c.heap_at_mark_term, c.heap_goal, c.completed_by == "assist",
                        c.coordinator_latency_ns, clk, c.mark2))
    # A coordinator still waiting for its P when the run was stopped: its wait, up to the stop (a
    # lower bound; after the stop it ran because the mutators left).
    waiting = -1
    by_assist = False
    cut_ov = math.nan
    stop_ns = summary["stop_ns"]
    if stopped:
        for c in rt.stats.cycles:
            if c.end_ns > stop_ns and c.coordinator_latency_ns > 0:
                waiting = max(waiting, c.coordinator_latency_ns - max(0, c.end_ns - stop_ns))
                by_assist = by_assist or c.completed_by == "assist"
        # A cycle that never ended (the run returned with the coordinator still parked or still
        # queued): its mark phase completed before the stop, and the coordinator had not resumed.
        for sig in (rt.gc.bg_mark1, rt.gc.bg_mark2):
            if 0 <= sig.complete_ns <= stop_ns and (sig.latency_ns < 0 or sig.complete_ns + sig.latency_ns > stop_ns):
                waiting = max(waiting, stop_ns - sig.complete_ns)
                by_assist = by_assist or sig.who == "assist"
        # The cycle the bound cut: its overshoot so far (a lower bound), when it had started.
        late = [c for c in rt.stats.cycles if c.end_ns > stop_ns and not c.forced]
        if late:
            cut_ov = (late[0].heap_at_mark_term - late[0].heap_goal) / late[0].heap_goal
        elif rt.gc.work is not None and rt.gc.work.goal > 0:
            cut_ov = (rt.gc.heap.heap_live - rt.gc.work.goal) / rt.gc.work.goal
    return {"cycles": out, "waiting_ns": waiting, "waiting_by_assist": by_assist, "cut_overshoot": cut_ov,
            "virtual_ns": rt.now_ns(), "stopped_by": summary["stopped_by"]}


def _task(spec: tuple[str, int, int, int, int, int, str]) -> dict[str, Any]:
    """One model run in a worker process.  The finished runtime is a reference cycle holding the
    model heap (GBs for a run that locked in up to a high ``--max-heap-gib``): collect it now, not
    at some later cyclic collection, or the worker's next run starts with the last one's heap
    still in memory (two of them at once, which ``run_memory_gib`` does not allow for)."""
    out = run_model(*spec)
    gc.collect()
    return out


@dataclass
class SetResult:
    commit: str
    gomaxprocs: int
    real: dict[str, float]
    model: dict[str, float]
    runs: int
    censored: list[int] = field(default_factory=list)  # ns a still-waiting coordinator had waited


def validate(against: str | None = None, runs: int | None = None, cycles: int = SEEDLOAD_CYCLES,
             max_ns: int = SEEDLOAD_MAX_NS, jobs: int | None = None, only: Sequence[tuple[str, int]] = (),
             progress: Callable[[int, int], None] | None = None,
             max_heap_bytes: int = MAX_HEAP_BYTES, host: str = DEFAULT_HOST) -> list[SetResult]:
    """Run the model for every reference set and summarize both sides (see the module docstring)."""
    if host not in HOSTS:
        raise ConfigError("--host", host, f"one of {', '.join(HOSTS)}")
    ref = load_reference(reference_files(against))
    if only:
        ref = {k: v for k, v in ref.items() if k in set(only)}
    if not ref:
        raise ConfigError("--against", against, "per-cycle CSVs with exact heap bytes (heap0_b, heap1_b, goal_b)")
    keys = sorted(ref, key=lambda k: (-k[1], [s[1][:8] for s in GO_SERIES].index(k[0])))
    specs = []
    for k in keys:
        n = runs if runs is not None else ref[k]["runs"]
        specs += [(k[0], k[1], seed, cycles, max_ns, max_heap_bytes, host) for seed in range(1, n + 1)]
    results: list[dict[str, Any]] = []
    if jobs == 1 or len(specs) == 1:
        for i, s in enumerate(specs):
            results.append(_task(s))
            if progress:
                progress(i + 1, len(specs))
    else:
        try:
            with ProcessPoolExecutor(max_workers=jobs) as ex:
                for i, r in enumerate(ex.map(_task, specs)):
                    results.append(r)
                    if progress:
                        progress(i + 1, len(specs))
        except BrokenProcessPool as e:
            raise WorkerLost(f"a model run's process died after {len(results)} of {len(specs)} runs (killed by the OS, "
                             f"most likely out of memory): run fewer at once (--jobs) or lower --max-heap-gib") from e
    out = []
    for k in keys:
        mine = [r for s, r in zip(specs, results, strict=True) if (s[0], s[1]) == k]
        cyc = [Cycle(*c) for r in mine for c in r["cycles"]]
        cens = [(float(r["waiting_ns"]) if r["waiting_ns"] >= 0 and r["waiting_by_assist"] else math.nan,
                 r["cut_overshoot"]) for r in mine if r["stopped_by"] != "cycles"]
        cens = [c for c in cens if not (math.isnan(c[0]) and math.isnan(c[1]))]
        out.append(SetResult(k[0], k[1], summarize_cycles(ref[k]["cycles"]), summarize_cycles(cyc, cens), len(mine),
                             [r["waiting_ns"] for r in mine if r["waiting_ns"] >= 0]))
    return out


def band_checks(results: Sequence[SetResult]) -> dict[tuple[str, int, str], tuple[Band, bool]]:
    """(commit, gomaxprocs, metric) -> (band, within) for every band whose set was run."""
    by = {(r.commit, r.gomaxprocs): r for r in results}
    out: dict[tuple[str, int, str], tuple[Band, bool]] = {}
    for b in BANDS:
        r = by.get((b.commit, b.gomaxprocs))
        if r is None:
            continue
        if b.kind == "same":
            other = by.get((PARENT if b.commit == SEED else SEED, b.gomaxprocs))
            if other is None:
                continue
            ok = b.check(r.model[b.metric], other.model[b.metric])
            out[(b.commit, b.gomaxprocs, b.metric + "_same")] = (b, ok)
            continue
        ok = b.check(r.model[b.metric], r.real[b.metric]) and not is_lower_bound(r.model, b.metric)
        out[(b.commit, b.gomaxprocs, b.metric)] = (b, ok)
    return out


def is_lower_bound(summary: dict[str, float], metric: str) -> bool:
    """Whether ``summary[metric]`` is only a lower bound (a run stopped mid-cycle counts in it).
    A two-sided band cannot be met by a lower bound, so such a figure is never "within"."""
    bits = int(summary.get(LOWER_KEY, 0.0))
    names = [m for m, _ in COLUMNS]
    return metric in names and bool(bits >> names.index(metric) & 1)


# ---- output ---------------------------------------------------------------------------------------------
def fmt_pct(v: float) -> str:
    if math.isnan(v):
        return "–"
    p = v * 100
    return f"{p:+,.0f}%" if abs(p) >= 100 else f"{p:+.1f}%"


def fmt_share(v: float) -> str:
    return "–" if math.isnan(v) else f"{v * 100:.0f}%"


def fmt_ns(v: float) -> str:
    if math.isnan(v):
        return "–"
    if v >= 1e9:
        return f"{v / 1e9:.1f} s"
    if v >= 1e6:
        return f"{v / 1e6:.1f} ms"
    if v >= 1e3:
        return f"{v / 1e3:.2f} µs"
    return f"{v:.0f} ns"


def _fmt(metric: str, v: float) -> str:
    if metric.startswith("ov_"):
        return fmt_pct(v)
    if metric in ("above", "by_assist", "mark2"):
        return fmt_share(v)
    return fmt_ns(v)


def _label(commit: str) -> str:
    i = resolve_go_commit(commit)
    return f"{commit} ({GO_SERIES[i][0]})"


def table_rows(results: Sequence[SetResult]) -> list[list[str]]:
    """Markdown-ready rows: per set, real Go then the model, each figure marked against its band."""
    checks = band_checks(results)
    rows = []
    for r in results:
        for side, vals in (("real Go", r.real), ("aiogc", r.model)):
            cells = [f"{r.gomaxprocs}", _label(r.commit), side, f"{int(vals['cycles'])}"]
            for m, _ in COLUMNS:
                s = ("≥" if is_lower_bound(vals, m) else "") + _fmt(m, vals[m])
                chk = checks.get((r.commit, r.gomaxprocs, m))
                if side == "aiogc" and chk is not None:
                    s += " ok" if chk[1] else " OUT"
                cells.append(s)
            if side == "aiogc":
                same = checks.get((r.commit, r.gomaxprocs, "ov_mean_same"))
                if same is not None:
                    cells[4] += " (=fix off: ok)" if same[1] else " (=fix off: OUT)"
            rows.append(cells)
    return rows


HEADER = ["GOMAXPROCS", "commit", "", "cycles"] + [h for _, h in COLUMNS]


def render_markdown(results: Sequence[SetResult]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(results)]
    return "\n".join(lines)


def render_notes(results: Sequence[SetResult]) -> str:
    out = []
    for r in results:
        if r.censored:
            out.append(f"GOMAXPROCS={r.gomaxprocs} {_label(r.commit)}: {len(r.censored)} of {r.runs} model runs "
                       f"stopped by a bound (virtual time or heap) with the coordinator still waiting "
                       f"(for at least {fmt_ns(min(r.censored))} .. {fmt_ns(max(r.censored))}); each run's "
                       "cut wait (if an assist completed its phase) and cut cycle's overshoot so far count as "
                       "lower bounds, and a figure they touch is marked ≥ and never within its band")
    checks = band_checks(results)
    n_ok = sum(ok for _, ok in checks.values())
    out.append(f"bands: {n_ok} of {len(checks)} within (" + "; ".join(
        f"{k[1]}/{k[0]} {k[2]} {b.describe()}: {'ok' if ok else 'OUT'}" for k, (b, ok) in checks.items()) + ")")
    return "\n".join(out)


def add_validate_arguments(p: argparse.ArgumentParser) -> None:
    from aiogc.argtypes import positive_int

    p.add_argument("--against", metavar="DIR", default=None,
                   help="a directory of real-Go per-cycle CSVs (default: the data shipped in the package)")
    p.add_argument("--runs", type=positive_int, default=None, metavar="N",
                   help="model runs (seeds 1..N) per reference set (default: as many as the reference)")
    p.add_argument("--cycles", type=positive_int, default=SEEDLOAD_CYCLES, metavar="N",
                   help=f"stop each run after N GC cycles (seedload -cycles; default {SEEDLOAD_CYCLES})")
    p.add_argument("--max-virtual-s", type=float, default=SEEDLOAD_MAX_NS / 1e9, metavar="S",
                   help="stop each run after S seconds of virtual time (seedload -max_s; default 60)")
    p.add_argument("--max-heap-gib", type=float, default=MAX_HEAP_BYTES / (1 << 30), metavar="G",
                   help="stop a run whose heap passes G GiB (default 1, quick; real Go's OOM killer stopped its runs at "
                        "18-22 GB: 22 follows the model's lock-ins to their end, ~20 min)")
    p.add_argument("--gomaxprocs", default=None, metavar="N,N",
                   help="only the reference sets at these GOMAXPROCS values")
    p.add_argument("--commit", default=None, metavar="C,C",
                   help="only the reference sets of these series points (hash or label)")
    p.add_argument("--host", default=DEFAULT_HOST, metavar="NAME",
                   help=f"the machine the model runs on (sched/host.py): {', '.join(HOSTS)} (default {DEFAULT_HOST}: "
                        "the 2-vCPU VM real Go was measured on)")
    p.add_argument("--jobs", type=positive_int, default=None, metavar="N", help="worker processes (default: cores)")


def cmd_validate(args: argparse.Namespace) -> int:
    if not args.max_virtual_s > 0:
        raise ConfigError("--max-virtual-s", args.max_virtual_s, "a positive number of seconds")
    if not 0 < args.max_heap_gib < 1 << 20:
        raise ConfigError("--max-heap-gib", args.max_heap_gib, "a positive number of GiB")
    only: list[tuple[str, int]] = []
    if args.gomaxprocs or args.commit:
        ref = load_reference(reference_files(args.against))
        gmps = {int(x) for x in args.gomaxprocs.split(",")} if args.gomaxprocs else None
        commits = ({GO_SERIES[resolve_go_commit(c, "--commit")][1][:8] for c in args.commit.split(",")}
                   if args.commit else None)
        only = [k for k in ref if (gmps is None or k[1] in gmps) and (commits is None or k[0] in commits)]
        if not only:
            raise ConfigError("--commit/--gomaxprocs", f"{args.commit} {args.gomaxprocs}",
                              "a selection that matches some reference set")

    # A run may grow its heap up to the bound: make sure that many fit in memory at once.
    jobs = args.jobs or os.cpu_count() or 1
    avail = available_memory_gib()
    fit = jobs_that_fit(args.max_heap_gib, jobs, avail)
    if fit == 0:
        assert avail is not None
        most = max(0.0, (avail - RUN_MEM_BASE_GIB) / RUN_MEM_PER_HEAP_GIB)
        raise ConfigError("--max-heap-gib", args.max_heap_gib,
                          f"at most {most:.1f} GiB here: a run takes about {RUN_MEM_PER_HEAP_GIB} GiB of memory per "
                          f"GiB of model heap and {avail:.1f} GiB is available")
    if fit < jobs:
        sys.stderr.write(f"validate: {fit} run(s) at a time, not {jobs}: each may take up to "
                         f"{run_memory_gib(args.max_heap_gib):.1f} GiB of memory "
                         f"and {avail:.1f} GiB is available\n")
        jobs = fit

    def prog(done: int, total: int) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\rvalidate: {done}/{total} runs")
            sys.stderr.flush()

    res = validate(args.against, args.runs, args.cycles, int(args.max_virtual_s * 1e9), jobs, only, prog,
                   max_heap_bytes=int(args.max_heap_gib * (1 << 30)), host=args.host)
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    print(render_markdown(res))
    print()
    print(render_notes(res))
    return 0
