"""The compare experiment: the seed fix on vs off, over seeds and GOMAXPROCS values.

Each run is the seed workload (``aiogc.experiments.workloads``) in virtual time,
for ``cycles + 1`` GC cycles; the first cycle (started from the heap minimum,
with the pacer's first-cycle fake) is a warm-up and is dropped.  Runs are
independent and deterministic, so they go to a ``ProcessPoolExecutor`` and the
results are put back in task order: the same seeds give byte-identical output
whatever the completion order or the number of workers.

Per (gomaxprocs, yield_after_assist) pair the per-cycle ``coordinator_latency_ns``,
``overshoot``, ``mark_duration_ns`` and ``alloc_after_complete`` are aggregated
with ``aiogc.trace.metrics.summarize`` (mean, p50, p99, max) into design.md's
``--json`` shape; ``assist_completed_share`` is the share of cycles whose last
mark phase an assist completed (the cycles where the fix can matter).
NaN (an empty sample) is written as ``null``.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from typing import Any

from aiogc.argtypes import positive_int as _pos_int
from aiogc.errors import ConfigError
from aiogc.experiments.output import fitted_table, table_console
from aiogc.experiments.progress import Progress, add_progress_argument, progress_reporter, usable_cpus
from aiogc.experiments.workloads import SeedWorkload
from aiogc.io import nan_to_none, write_json
from aiogc.trace.metrics import summarize

METRICS = ("coordinator_latency_ns", "overshoot", "mark_duration_ns", "alloc_after_complete")
WARMUP = 1
MAX_TIMELINE_POINTS = 4000

Timeline = list[tuple[int, int, int]]  # (virtual ns, heap live, heap goal)


# ---- one run --------------------------------------------------------------------------------------------
def _decimate(tl: Timeline, n: int = MAX_TIMELINE_POINTS) -> Timeline:
    """At most ~n points, keeping each bucket's peak heap (so overshoots stay visible)."""
    if len(tl) <= n:
        return tl
    step = math.ceil(len(tl) / n)
    return [max(tl[i:i + step], key=lambda x: x[1]) for i in range(0, len(tl), step)]


def run_one(gomaxprocs: int, yield_after_assist: bool, seed: int, cycles: int,
            workload: SeedWorkload | None = None, gogc: int | None = 100,
            timeline: Timeline | None = None) -> list[dict[str, Any]]:
    """One seed-workload run; returns its measured cycles as ``CycleStats`` dicts (the first, warm-up,
    cycle dropped; exactly ``cycles`` of them unless the run stopped early).

    If ``timeline`` is a list, it is filled with ``(ns, heap_live, heap_goal)`` samples of the run
    (from the event bus: ``HeapAlloc`` and ``GCDone``), for plotting.
    """
    import aiogc
    from aiogc.experiments.workloads import seed_main
    from aiogc.trace.events import Event, GCDone, HeapAlloc

    rt = aiogc.Runtime(gomaxprocs=gomaxprocs, gogc=gogc, seed=seed, yield_after_assist=yield_after_assist,
                       clock="virtual", godebug="")
    if timeline is not None:
        samples: Timeline = []
        goal = [0]

        def sub(ev: Event) -> None:
            if isinstance(ev, HeapAlloc):
                goal[0] = ev.goal
                samples.append((ev.ts, ev.heap_live, ev.goal))
            elif isinstance(ev, GCDone):
                samples.append((ev.ts, ev.stats.heap_live_after, goal[0]))

        rt.bus.subscribe(sub)
    rt.run(seed_main(workload or SeedWorkload(), cycles=cycles + WARMUP))
    if timeline is not None:
        samples.sort(key=lambda x: x[0])
        timeline.extend(_decimate(samples))
    return [c.as_dict() for c in rt.stats.cycles[WARMUP:WARMUP + cycles]]


def _task(spec: tuple[int, bool, int, int, SeedWorkload | None, int | None, bool]
          ) -> tuple[list[dict[str, Any]], Timeline | None]:
    gmp, y, seed, cycles, workload, gogc, want_tl = spec
    tl: Timeline | None = [] if want_tl else None
    cyc = run_one(gmp, y, seed, cycles, workload, gogc, timeline=tl)
    return cyc, tl


# ---- aggregation ----------------------------------------------------------------------------------------
def _summary(values: Iterable[float]) -> dict[str, float | None]:
    return {k: nan_to_none(v) for k, v in summarize(values).items()}


def seed_list(seeds: int | Sequence[int]) -> list[int]:
    """``N`` means seeds 0..N-1; a list gives them explicitly (distinct integers).  Shared with sweep."""
    if isinstance(seeds, bool):
        raise ConfigError("seeds", seeds, "a positive integer or a list of integers")
    if isinstance(seeds, int):
        if seeds < 1:
            raise ConfigError("seeds", seeds, "a positive integer")
        return list(range(seeds))
    out = list(seeds)
    if not out or any(isinstance(s, bool) or not isinstance(s, int) for s in out) or len(set(out)) != len(out):
        raise ConfigError("seeds", seeds, "a non-empty list of distinct integers")
    return out


def compare(seeds: int | Sequence[int], gomaxprocs_list: Sequence[int], cycles: int, jobs: int | None = None,
            progress: Progress | None = None, *, workload: SeedWorkload | None = None,
            gogc: int | None = 100, collect: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run every (gomaxprocs, fix on/off, seed) and aggregate (see the module docstring).

    ``seeds``: a count N (seeds 0..N-1) or explicit seeds.  ``jobs``: worker processes (default: every
    core; 1 runs in this process).  ``progress(done, total, what)`` is called as runs finish.
    ``collect``, if a dict, receives what plots need: ``"samples"`` — ``{(gomaxprocs, yield): [cycle
    dicts]}`` — and ``"timelines"`` — ``{yield: [(ns, live, goal)]}`` for the first seed at
    ``"timeline_gomaxprocs"`` (4 if compared, else the largest), plus ``"timeline_seed"``.
    """
    seed_l = seed_list(seeds)
    gmps = list(gomaxprocs_list)
    if not gmps:
        raise ConfigError("gomaxprocs", gmps, "a non-empty list of integers between 1 and 256")
    for g in gmps:
        if isinstance(g, bool) or not isinstance(g, int) or not 1 <= g <= 256:
            raise ConfigError("gomaxprocs", g, "integers between 1 and 256")
    if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 1:
        raise ConfigError("cycles", cycles, "a positive integer")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ConfigError("jobs", jobs, "a positive integer")
    w = workload or SeedWorkload()
    tl_gmp = 4 if 4 in gmps else max(gmps)
    tl_seed = seed_l[0]
    want_tl = collect is not None
    specs: list[tuple[int, bool, int, int, SeedWorkload | None, int | None, bool]] = []
    for g in gmps:
        for y in (True, False):
            for s in seed_l:
                specs.append((g, y, s, cycles, w, gogc, want_tl and g == tl_gmp and s == tl_seed))
    total = len(specs)
    out: list[tuple[list[dict[str, Any]], Timeline | None] | None] = [None] * total

    def desc(i: int) -> str:
        g, y, s = specs[i][:3]
        return f"gomaxprocs={g} fix={'on' if y else 'off'} seed={s}"

    njobs = jobs if jobs is not None else usable_cpus()
    njobs = min(njobs, total)
    if njobs <= 1:
        for i, spec in enumerate(specs):
            out[i] = _task(spec)
            if progress is not None:
                progress(i + 1, total, desc(i))
    else:
        # The costliest runs first (more Ps; the fix off, whose runs last longer): the pool then
        # ends with short runs, so no core idles while one long run finishes.  Results are put
        # back in spec order, so the order of submission does not show in the output.
        order = sorted(range(total), key=lambda i: (-specs[i][0], specs[i][1], i))
        ex = ProcessPoolExecutor(max_workers=njobs)
        try:
            futs = {ex.submit(_task, specs[i]): i for i in order}
            done = 0
            for fut in as_completed(futs):
                i = futs[fut]
                out[i] = fut.result()
                done += 1
                if progress is not None:
                    progress(done, total, desc(i))
        except BaseException:
            ex.shutdown(wait=False, cancel_futures=True)  # Ctrl-C or a failed run: do not wait for the rest
            raise
        ex.shutdown(wait=True)
    results: list[dict[str, Any]] = []
    samples: dict[tuple[int, bool], list[dict[str, Any]]] = {}
    timelines: dict[bool, Timeline] = {}
    k = 0
    for g in gmps:
        for y in (True, False):
            cyc: list[dict[str, Any]] = []
            for _s in seed_l:
                r = out[k]
                assert r is not None
                cyc.extend(r[0])
                if r[1] is not None:
                    timelines[y] = r[1]
                k += 1
            samples[(g, y)] = cyc
            n = len(cyc)
            res: dict[str, Any] = {"gomaxprocs": g, "yield_after_assist": y, "seeds": len(seed_l), "cycles": n}
            for m in METRICS:
                res[m] = _summary(c[m] for c in cyc)
            res["assist_completed_share"] = (sum(1 for c in cyc if c["completed_by"] == "assist") / n) if n else None
            results.append(res)
    if collect is not None:
        collect["samples"] = samples
        collect["timelines"] = timelines
        collect["timeline_gomaxprocs"] = tl_gmp
        collect["timeline_seed"] = tl_seed
    config = {
        "seeds": seed_l, "gomaxprocs": gmps, "cycles_per_run": cycles, "warmup_cycles_skipped": WARMUP,
        "gogc": gogc, "clock": "virtual", "workload": asdict(w),
    }
    return {"config": config, "results": results}


# ---- output -----------------------------------------------------------------------------------------------
def csv_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for r in result["results"]:
        row: dict[str, Any] = {k: r[k] for k in ("gomaxprocs", "yield_after_assist", "seeds", "cycles",
                                                 "assist_completed_share")}
        for m in METRICS:
            for stat in ("mean", "p50", "p99", "max"):
                row[f"{m}_{stat}"] = r[m][stat]
        rows.append(row)
    return rows


def write_csv(result: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """One row per (gomaxprocs, yield_after_assist), the four statistics of each metric as columns."""
    rows = csv_rows(result)
    fields = list(rows[0]) if rows else ["gomaxprocs", "yield_after_assist"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        wr = csv.DictWriter(f, fieldnames=fields)
        wr.writeheader()
        for row in rows:
            wr.writerow({k: ("" if v is None else v) for k, v in row.items()})


def render_table(result: dict[str, Any]) -> Any:
    """A rich Table: one row per (gomaxprocs, fix on/off), the README's columns.  Each measure's
    statistics share one cell ("p50 / p99 / max"); each column is as wide as its widest cell and
    the headers wrap, so the table fits 100 columns (piped output) without cutting a number."""
    from aiogc.view.live import fmt_bytes, fmt_ns, fmt_pct

    cfg = result.get("config", {})
    nseeds = len(cfg.get("seeds", [])) or "?"
    rows: list[list[str]] = []
    sections: list[bool] = []

    def f(fn: Callable[[float], str], v: Any) -> str:
        return "-" if v is None else fn(v)

    prev = None
    for r in result["results"]:
        sections.append(prev is not None and r["gomaxprocs"] != prev)
        prev = r["gomaxprocs"]
        lat, ov, md, al = (r[m] for m in METRICS)
        share = r.get("assist_completed_share")
        rows.append([str(r["gomaxprocs"]), "on" if r["yield_after_assist"] else "off", str(r["cycles"]),
                     "-" if share is None else f"{share * 100:.0f}%",
                     f"{f(fmt_ns, lat['p50'])} / {f(fmt_ns, lat['p99'])} / {f(fmt_ns, lat['max'])}",
                     f"{f(fmt_pct, ov['mean'])} / {f(fmt_pct, ov['max'])}",
                     f(fmt_ns, md["mean"]), f"{f(fmt_bytes, al['mean'])} / {f(fmt_bytes, al['max'])}"])
    heads = (("Ps", "right"), ("fix", "left"), ("cycles", "right"), ("by assist", "right"),
             ("coordinator latency p50 / p99 / max", "right"), ("overshoot mean / max", "right"),
             ("mark phase mean", "right"), ("allocated after completion mean / max", "right"))
    return fitted_table(f"seed fix on vs off: {nseeds} seed(s) x {cfg.get('cycles_per_run', '?')} cycle(s) per "
                        f"run (first cycle of each run skipped), GOGC={cfg.get('gogc')}; Ps = GOMAXPROCS",
                        heads, rows, sections)


# ---- the command ------------------------------------------------------------------------------------------


def parse_gomaxprocs_list(s: str) -> list[int]:
    """``"1,2,4,8"`` -> [1, 2, 4, 8]; each between 1 and 256, no duplicates."""
    out: list[int] = []
    for part in s.split(","):
        part = part.strip()
        try:
            v = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated integers between 1 and 256, got {s!r}") from None
        if not 1 <= v <= 256:
            raise argparse.ArgumentTypeError(f"GOMAXPROCS values must be between 1 and 256, got {v}")
        if v in out:
            raise argparse.ArgumentTypeError(f"GOMAXPROCS value {v} given twice in {s!r}")
        out.append(v)
    return out


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", type=_pos_int, default=10, metavar="N",
                        help="seeds per configuration: 0..N-1 (default 10)")
    parser.add_argument("--gomaxprocs", type=parse_gomaxprocs_list, default=[1, 2, 4, 8], metavar="LIST",
                        help="comma-separated GOMAXPROCS values (default 1,2,4,8)")
    parser.add_argument("--cycles", type=_pos_int, default=8, metavar="N",
                        help="measured GC cycles per run, after one warm-up cycle (default 8)")
    parser.add_argument("--json", metavar="FILE", help="write the aggregated results as JSON")
    parser.add_argument("--csv", metavar="FILE", help="write the aggregated results as CSV")
    parser.add_argument("--plot", metavar="FILE.png", help="plot heap vs goal and the distributions (matplotlib)")
    parser.add_argument("--jobs", type=_pos_int, default=None, metavar="N",
                        help="worker processes (default: every core)")
    add_progress_argument(parser)


def cmd_compare(args: argparse.Namespace) -> int:
    """``aiogc compare``: run, print the table, write --json/--csv/--plot."""

    seeds = getattr(args, "seeds", 10)
    gmps = getattr(args, "gomaxprocs", None) or [1, 2, 4, 8]
    if isinstance(gmps, str):
        try:
            gmps = parse_gomaxprocs_list(gmps)
        except argparse.ArgumentTypeError as e:
            raise ConfigError("gomaxprocs", gmps, str(e)) from None
    elif isinstance(gmps, int):
        gmps = [gmps]
    cycles = getattr(args, "cycles", 8)
    jobs = getattr(args, "jobs", None)
    gogc_raw = getattr(args, "gogc", None)
    if gogc_raw is None:
        gogc: int | None = 100
    else:
        from aiogc.config import parse_gogc

        gogc = parse_gogc(gogc_raw, "gogc")
        if gogc is None:
            raise ConfigError("gogc", gogc_raw, "a percentage: compare needs the collector on")
    if args.plot:
        from aiogc.experiments.plots import PlotUnavailable, require_matplotlib

        try:
            require_matplotlib()  # fail before the runs, not after
        except PlotUnavailable as e:
            raise ConfigError("plot", args.plot, str(e)) from None
    out = table_console()
    nruns = (seeds if isinstance(seeds, int) else len(seeds)) * len(gmps) * 2
    collect: dict[str, Any] | None = {} if args.plot else None
    with progress_reporter("compare", nruns, getattr(args, "progress", None)) as prog:
        result = compare(seeds, gmps, cycles, jobs=jobs, progress=prog, gogc=gogc, collect=collect)
    out.print(render_table(result))
    if args.json:
        write_json(args.json, result, allow_nan=False)
    if args.csv:
        write_csv(result, args.csv)
    if args.plot:
        from aiogc.experiments.plots import plot_compare

        assert collect is not None
        plot_compare(result, collect, args.plot)
    return 0
