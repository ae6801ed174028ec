"""``aiogc demo``: the seed workload under the live view, fix on and fix off side by side.

First the same seed runs headless in the other mode (fix on if the demo shows fix off, and
vice versa) and is recorded (``RunRecord``).  Then the chosen mode runs in virtual time under a
``LiveView`` on a rich ``Live`` (refreshed from the driver's step hook every ``--refresh-ms`` of
virtual time), with the recorded run next to it: at the same virtual time, on the same time
scale (``--speed X``: X virtual seconds per wall second, the same default for both modes, shown
on screen) and, on wide terminals, in one heap chart on one scale.  Keys (on a terminal): space
pauses, ``-``/``+`` slow down/speed up, ``n`` steps to the next GC event, ``q`` quits.

``--json`` writes every cycle of both runs: the ``CycleStats`` fields plus the phase boundaries
gctrace prints (``t_sweepterm``, ``t_scan``, ``t_installwb``, ``t_mark``, ``t_markterm``,
``t_end``, ``heap0``/``heap1``/``heap2``).

Bounded by ``--cycles`` (exactly that many cycles run, are shown and are reported) and
``--duration`` (virtual seconds).  ``--no-live``, or a stdout that is not a terminal, prints the
notable events as plain lines instead.  At the end a fix-on vs fix-off summary (80 columns) is
printed.  Ctrl-C (or q) stops the run, leaves the terminal clean and prints the summary of what
ran (exit status 130).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from typing import TYPE_CHECKING, Any

from aiogc.argtypes import integer as _int
from aiogc.argtypes import positive_float as _pos_float
from aiogc.argtypes import positive_int as _pos_int
from aiogc.errors import ConfigError, GoroutinePanic

if TYPE_CHECKING:
    import aiogc
    from aiogc.experiments.workloads import SeedWorkload
    from aiogc.view.live import RunRecord

EXIT_INTERRUPTED = 130


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cycles", type=_pos_int, default=6, metavar="N",
                        help="GC cycles to run, show and report (default 6)")
    parser.add_argument("--duration", type=_pos_float, default=10.0, metavar="SECONDS",
                        help="stop after this much virtual time (default 10)")
    parser.add_argument("--no-yield", action="store_true",
                        help="turn the seed fix off (no Gosched after an assist that completed a mark phase)")
    parser.add_argument("--no-live", action="store_true",
                        help="plain text lines, no live view (always so when stdout is not a terminal)")
    parser.add_argument("--json", metavar="FILE", help="write the cycles (both modes) as JSON to FILE")
    parser.add_argument("--trace", metavar="FILE", help="write a Perfetto (Chrome trace-event JSON) trace to FILE")
    parser.add_argument("--trace-goroutines", action="store_true",
                        help="with --trace: one track per goroutine (running and runnable slices)")
    parser.add_argument("--seed", type=_int, default=0, metavar="N", help="seed of the run's PRNG (default 0)")
    parser.add_argument("--gomaxprocs", type=_pos_int, default=2, metavar="N",
                        help="number of Ps (default 2, as real Go was measured; at 4 or more the seed itself can "
                             "livelock a P: docs/realgo.md, mechanism C)")
    parser.add_argument("--gogc", default="100", metavar="PCT", help="GOGC percentage (default 100)")
    parser.add_argument("--speed", type=_pos_float, default=None, metavar="X",
                        help=f"pace the live view at X virtual seconds per wall second, the same for both modes "
                             f"(default on a terminal: {DEFAULT_SPEED:g}, i.e. 1 wall s = 2 ms virtual; "
                             f"otherwise unpaced)")
    parser.add_argument("--refresh-ms", type=_pos_float, default=0.05, metavar="MS",
                        help="refresh the live view every MS virtual milliseconds (default 0.05)")


# Virtual seconds per wall second on a terminal, for both modes (one time scale, so that the fix-off
# run's ~10 ms waits look as long next to the fix-on run's ~0.4 ms cycles as they are): a fix-off
# wait shows for ~5 s, a fix-on cycle for ~0.2 s.  '+' and '-' change it while the demo runs.
DEFAULT_SPEED = 0.002


def _config(args: argparse.Namespace, yield_after_assist: bool) -> Any:
    from aiogc.config import Config, parse_gogc

    gogc = parse_gogc(getattr(args, "gogc", 100) if getattr(args, "gogc", None) is not None else 100, "gogc")
    if gogc is None:
        raise ConfigError("gogc", args.gogc, "a percentage: the demo needs the collector on")
    gmp = getattr(args, "gomaxprocs", None) or 2
    seed = getattr(args, "seed", None) or 0
    return Config(gomaxprocs=gmp, gogc=gogc, seed=seed, yield_after_assist=yield_after_assist, clock="virtual")



def _run_headless(args: argparse.Namespace, yield_after_assist: bool, workload: SeedWorkload, cycles: int,
                  duration_ns: int | None) -> tuple[RunRecord, aiogc.Runtime]:
    """One run of the seed workload with no view, recorded: the run shown beside (or after) the live one."""
    import aiogc
    from aiogc.experiments.workloads import seed_main
    from aiogc.view.live import RunRecord

    rt = aiogc.Runtime(_config(args, yield_after_assist))
    rec = RunRecord.attach(rt, _mode(yield_after_assist))
    rt.run(seed_main(workload, cycles=cycles, duration_ns=duration_ns))
    return rec, rt

def _mode(y: bool) -> str:
    return "fix on" if y else "fix off"


def _cycles_line(cycles: list[dict[str, Any]], rt: Any) -> str:
    """'N cycle(s) in T virtual': T is the end of the last cycle counted (or the run's end)."""
    from aiogc.view.live import fmt_ns

    end = cycles[-1]["end_ns"] if cycles else rt.now_ns()
    return f"{len(cycles)} cycle(s) in {fmt_ns(end)} virtual"


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo (see the module docstring); returns the exit status."""
    from rich.console import Console

    import aiogc
    from aiogc.experiments.workloads import SeedWorkload, seed_main
    from aiogc.view.live import LiveSession, fmt_speed, summary_table

    y = not getattr(args, "no_yield", False)
    cfg = _config(args, y)
    cycles = getattr(args, "cycles", 6) or 6
    duration_ns = int((getattr(args, "duration", None) or 10.0) * 1e9)
    refresh_ns = int((getattr(args, "refresh_ms", None) or 0.05) * 1e6)
    speed = getattr(args, "speed", None)
    console = Console()
    plain = bool(getattr(args, "no_live", False)) or not console.is_terminal
    if speed is None and not plain:
        speed = DEFAULT_SPEED  # watchable by default; the same scale for both modes
    workload = SeedWorkload()
    other = not y

    def say(s: str) -> None:
        console.print(s, markup=False, highlight=False, soft_wrap=True)

    say(f"aiogc demo: seed workload, GOMAXPROCS={cfg.gomaxprocs}, GOGC={cfg.gogc}, seed={cfg.seed}, "
        f"{_mode(y)} (yield_after_assist={y}), {cycles} GC cycles (at most {duration_ns / 1e9:g} s virtual)")
    results: dict[str, list[dict[str, Any]]] = {}
    interrupted = False
    reference = None
    if not plain:
        # The other mode first, headless and recorded, to be shown next to the live run.
        say(f"recording the {_mode(other)} run of the same seed, to show it side by side...")
        try:
            reference, _ = _run_headless(args, other, workload, cycles, duration_ns)
            results[_mode(other)] = reference.cycles
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
        say(f"time scale: {fmt_speed(speed)} (--speed; + and - change it)")
    rt = aiogc.Runtime(cfg)
    trace = None
    if getattr(args, "trace", None):
        from aiogc.trace.perfetto import PerfettoTrace

        trace = PerfettoTrace.attach(rt, metadata={"demo": "seed workload", "workload": dataclasses.asdict(workload)},
                                     goroutines=bool(getattr(args, "trace_goroutines", False)))
    session = LiveSession(rt, console=console, plain=plain, refresh_ns=refresh_ns, speed=speed,
                          reference=reference, label=_mode(y) if y else "fix OFF", title="aiogc demo")
    try:
        session.start()
        rt.run(seed_main(workload, cycles=cycles, duration_ns=duration_ns))
    except KeyboardInterrupt:  # Ctrl-C, or q in the live view
        interrupted = True
    except GoroutinePanic as e:  # Ctrl-C while a goroutine's code ran
        if not isinstance(e.exc, KeyboardInterrupt):
            raise
        interrupted = True
    finally:
        session.stop()
        if trace is not None:
            trace.detach()
            trace.write(args.trace)
    results[_mode(y)] = session.view.record.cycles  # CycleStats fields + phase boundaries (cycle_dict)
    say(f"{_mode(y)}: {_cycles_line(results[_mode(y)], rt)}" + (" (interrupted)" if interrupted else ""))
    if not interrupted and _mode(other) not in results:
        say(f"running the same seed with the {_mode(other)} (headless) for comparison...")
        try:
            rec, rt2 = _run_headless(args, other, workload, cycles, duration_ns)
            results[_mode(other)] = rec.cycles
            say(f"{_mode(other)}: {_cycles_line(results[_mode(other)], rt2)}")
        except KeyboardInterrupt:
            interrupted = True
        except GoroutinePanic as e:
            if not isinstance(e.exc, KeyboardInterrupt):
                raise
            interrupted = True
    ordered: dict[str, list[dict[str, Any]]] = {k: results[k] for k in ("fix on", "fix off") if k in results}
    console.print(summary_table(ordered, title=f"fix on vs fix off: seed {cfg.seed}, GOMAXPROCS={cfg.gomaxprocs}, "
                                               "all cycles incl. the first"))
    if y and not interrupted:
        say("To watch the bug live: python -m aiogc demo --no-yield")
    if getattr(args, "json", None):
        doc = {
            "config": {"gomaxprocs": cfg.gomaxprocs, "gogc": cfg.gogc, "seed": cfg.seed, "cycles": cycles,
                       "duration_ns": duration_ns, "yield_after_assist": y, "workload": dataclasses.asdict(workload)},
            "interrupted": interrupted,
            "runs": [{"mode": k, "yield_after_assist": k == "fix on", "cycles": v} for k, v in ordered.items()],
        }
        with open(os.fspath(args.json), "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
    return EXIT_INTERRUPTED if interrupted else 0
