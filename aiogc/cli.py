"""The command line: ``python -m aiogc <command>`` (also installed as ``aiogc``).

Commands (one function ``cmd_<name>(args) -> int`` each, registered in ``COMMANDS``):
  demo     the seed experiment under the live view (``aiogc.experiments.demo``); ``--scheduler``:
           the scheduler alone, in plain text (``demo_scheduler``)
  run      ``go run`` for Python: run FILE.py's ``async def main()`` as the main goroutine
  compare  fix on vs off over seeds and GOMAXPROCS (``aiogc.experiments.compare``)
  sweep    parameter grids on a process pool or a Dask cluster (``aiogc.experiments.sweep``)
  bench    the benchmark suite (``aiogc.bench.suite``)

Error contract (design.md, "Command line"): every bad input — an argparse error, a ``ConfigError``
from a flag or from ``GOMAXPROCS``/``GOGC``/``GODEBUG``, a missing or broken program file — is ONE
line ``aiogc: error: ...`` on stderr and exit status 2, never a traceback.  A user program that
panics prints Go's ``panic: ...`` and the goroutine's stack and exits 2; a deadlock prints
``fatal error: all goroutines are asleep - deadlock!`` and exits 2 (as Go does); Ctrl-C exits 130.

Adding a command: write ``add_<name>_parser(sub)`` and ``cmd_<name>(args) -> int`` and list them in
``COMMANDS``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import inspect
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from aiogc.argtypes import integer
from aiogc.errors import AiogcError, ConfigError, Deadlock, GoroutinePanic

PROG = "aiogc"
EXIT_USAGE = 2  # bad input; also Go's exit status on panic and fatal errors
EXIT_INTERRUPTED = 130


class CLIError(Exception):
    """A bad input found after parsing: printed as one ``aiogc: error:`` line, exit 2."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr (``aiogc: error: ...``) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise SystemExit(_fail(message))


def _fail(message: str) -> int:
    """Print ``aiogc: error: <message>`` as one line on stderr; returns the exit status (2)."""
    msg = " ".join(str(message).split())  # one line, whatever the message holds
    sys.stderr.write(f"{PROG}: error: {msg}\n")
    sys.stderr.flush()
    return EXIT_USAGE


# ---- argument types ----------------------------------------------------------------------------
_int = integer


def _gomaxprocs(s: str) -> int:
    try:
        return int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer between 1 and 256, got {s!r}") from None


def _gogc(s: str) -> str:
    return s  # validated by Config (parse_gogc): a non-negative integer or "off"


def _add_runtime_flags(p: argparse.ArgumentParser, *, clock: bool) -> None:
    g = p.add_argument_group("runtime")
    g.add_argument("--gomaxprocs", type=_gomaxprocs, metavar="N",
                   help="number of Ps, 1..256 (default: $GOMAXPROCS, else the CPU count)")
    g.add_argument("--gogc", type=_gogc, metavar="PCT",
                   help="GC target percentage, or 'off' (default: $GOGC, else 100)")
    g.add_argument("--seed", type=_int, default=0, metavar="N", help="seed of the run's PRNG (default 0)")
    if clock:
        g.add_argument("--clock", choices=("virtual", "wall"), default="virtual",
                       help="virtual (deterministic simulated time) or wall (real time); default virtual")


def _make_config(args: argparse.Namespace, **extra: Any) -> Any:
    """A validated Config from the flags given (others: environment, then defaults)."""
    from aiogc.config import Config

    fields: dict[str, Any] = dict(extra)
    if getattr(args, "gomaxprocs", None) is not None:
        fields["gomaxprocs"] = args.gomaxprocs
    if getattr(args, "gogc", None) is not None:
        fields["gogc"] = args.gogc
    if getattr(args, "seed", None) is not None:
        fields["seed"] = args.seed
    if getattr(args, "clock", None) is not None:
        fields["clock"] = args.clock
    return Config.make(None, **fields)


# ---- observers: trace file, live view ------------------------------------------------------------
def _attach_trace(runtime: Any, path: str) -> Callable[[], None]:
    """Attach the Perfetto trace writer; returns a function that detaches it and writes ``path``.

    Uses ``aiogc.trace.perfetto.attach(runtime, path)`` (returns the closing function); a missing
    module is reported as "trace output is not available yet", an unwritable file as one line.
    """
    try:
        perfetto = importlib.import_module("aiogc.trace.perfetto")
    except ImportError:
        raise CLIError("trace output is not available yet") from None
    attach = getattr(perfetto, "attach", None)
    if attach is None:
        raise CLIError("trace output is not available yet (aiogc.trace.perfetto has no attach())")
    _check_writable(path)
    close = _closer(attach(runtime, path))

    def finish() -> None:
        try:
            close()
        except OSError as e:
            raise CLIError(f"cannot write {path}: {e.strerror or e}") from None

    return finish


def _attach_live(runtime: Any, **kw: Any) -> Callable[[], None]:
    """Attach the rich live view (``aiogc.view.live.attach(runtime)``); returns the function that stops it.

    Not a terminal: the view prints notable events as plain lines instead of animating.
    """
    try:
        live = importlib.import_module("aiogc.view.live")
    except ImportError:
        raise CLIError("the live view is not available yet") from None
    attach = getattr(live, "attach", None)
    if attach is None:
        raise CLIError("the live view is not available yet (aiogc.view.live has no attach())")
    return _closer(attach(runtime, **kw))


def _check_writable(path: str) -> None:
    """Fail early (one line) if ``path`` cannot be created, before a long run."""
    d = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        raise CLIError(f"cannot write {path}: is a directory")
    if not os.path.isdir(d):
        raise CLIError(f"cannot write {path}: no such directory {d}")
    if not os.access(d, os.W_OK):
        raise CLIError(f"cannot write {path}: permission denied")


def _closer(handle: Any) -> Callable[[], None]:
    if handle is None:
        return lambda: None
    if callable(handle):
        return handle  # type: ignore[no-any-return]
    close = getattr(handle, "close", None)
    return close if callable(close) else (lambda: None)


# ---- demo ----------------------------------------------------------------------------------------
def add_demo_parser(sub: Any) -> None:
    from aiogc.experiments.demo import add_demo_arguments

    p = sub.add_parser("demo", help="the seed experiment under a live view (bounded)",
                       description="The seed workload (mutators allocating on every P, producer/consumer "
                                   "pairs over channels) under a live view of Ps, run queues, heap vs goal, "
                                   "assists and the coordinator hand-off; at the end, fix on vs fix off. "
                                   "Bounded by --cycles and --duration.")
    add_demo_arguments(p)
    p.add_argument("--scheduler", action="store_true",
                   help="instead, the scheduler alone: fan-out/fan-in rounds with per-P statistics")


def cmd_demo(args: argparse.Namespace) -> int:
    if args.scheduler:
        return demo_scheduler(args)
    from aiogc.experiments.demo import cmd_demo as seed_demo

    for path in (args.json, args.trace):
        if path:
            _check_writable(path)
    return seed_demo(args)


def demo_scheduler(args: argparse.Namespace) -> int:
    """The scheduler at work: rounds of fan-out/fan-in over channels, plus one CPU hog per round.

    Each round, main starts 4 x GOMAXPROCS workers that read jobs (modelled CPU work of varied
    length) from one channel and send results to another; main feeds the jobs, sums the results and
    waits on a WaitGroup.  A hog goroutine computes for 25 ms in 1 ms steps, so sysmon preempts it.
    Prints, per P, how many goroutines it ran (switches), steals and preemptions, then the virtual
    time taken.  On a terminal (unless ``--no-live``) the live view runs meanwhile, at ``--speed``.  Counts come from the event bus (read-only, as every observer).
    """
    import aiogc
    from aiogc.trace.events import Ev

    cfg = _make_config(args, yield_after_assist=not args.no_yield, clock="virtual")
    rt = aiogc.Runtime(cfg)
    n = cfg.gomaxprocs
    runs = [0] * n
    steals = [0] * n
    stolen = [0] * n
    preempts = [0] * n

    def count(ev: tuple[int, str, int, int, Any]) -> None:
        kind, p = ev[1], ev[2]
        if p < 0:
            return
        if kind == Ev.GoStart:
            runs[p] += 1
        elif kind == Ev.Steal:
            steals[p] += 1
            stolen[p] += ev[4][1]
        elif kind == Ev.GoPreempt:
            preempts[p] += 1

    rt.bus.subscribe(count)
    if args.json:
        _check_writable(args.json)
    closers: list[Callable[[], None]] = []
    if args.trace:
        closers.append(_attach_trace(rt, args.trace))
    if not args.no_live and sys.stdout.isatty():
        closers.append(_attach_live(rt, speed=args.speed))
    limit_ns = int(args.duration * 1e9)
    nworkers = 4 * n
    njobs = 64 * n

    async def worker(jobs: aiogc.Chan, results: aiogc.Chan, wg: aiogc.WaitGroup) -> None:
        async for cost in jobs:
            await aiogc.compute(cost)
            await results.send(cost)
        wg.done()

    async def hog(ms: int) -> None:
        for _ in range(ms):
            await aiogc.compute(1_000_000)

    async def main() -> list[dict[str, int]]:
        rounds: list[dict[str, int]] = []
        rng = aiogc.current_runtime().rng
        for r in range(args.cycles):
            t0 = aiogc.current_runtime().now_ns()
            if t0 >= limit_ns:
                break
            jobs: aiogc.Chan[Any] = aiogc.Chan(16)
            results: aiogc.Chan[Any] = aiogc.Chan(16)
            wg = aiogc.WaitGroup()
            wg.add(nworkers)
            for _ in range(nworkers):
                aiogc.go(worker(jobs, results, wg))
            aiogc.go(hog(25))
            costs = [rng.randrange(5_000, 200_000) for _ in range(njobs)]

            async def feed(costs: list[int] = costs, jobs: aiogc.Chan = jobs) -> None:
                for c in costs:
                    await jobs.send(c)
                jobs.close()

            aiogc.go(feed())
            total = 0
            for _ in range(njobs):
                total += await results.recv()
            await wg.wait()
            t1 = aiogc.current_runtime().now_ns()
            rounds.append({"round": r + 1, "jobs": njobs, "work_ns": total, "elapsed_ns": t1 - t0})
        return rounds

    try:
        rounds = rt.run(main())
    finally:
        for close in reversed(closers):
            close()
    total_ns = rt.now_ns()
    out = sys.stdout
    out.write(f"aiogc demo: scheduler, GOMAXPROCS={n}, seed={cfg.seed}, virtual time\n")
    out.write(f"{len(rounds)} round(s) of fan-out/fan-in: {nworkers} workers, {njobs} jobs each, "
              "plus a 25 ms CPU hog\n")
    for rd in rounds:
        par = rd["work_ns"] / rd["elapsed_ns"] if rd["elapsed_ns"] else 0.0
        out.write(f"  round {rd['round']}: {rd['elapsed_ns'] / 1e6:8.3f} ms for {rd['work_ns'] / 1e6:8.3f} ms "
                  f"of job work (parallelism {par:4.2f})\n")
    out.write(f"{'P':>4} {'ran':>8} {'steals':>7} {'stolen':>7} {'preempt':>8} {'schedtick':>10}\n")
    for p in rt.sched.allp:
        out.write(f"{p.id:>4} {runs[p.id]:>8} {steals[p.id]:>7} {stolen[p.id]:>7} {preempts[p.id]:>8} "
                  f"{p.schedtick:>10}\n")
    out.write(f"total: {sum(runs)} goroutine runs, {sum(steals)} steals, {sum(preempts)} preemptions, "
              f"{total_ns / 1e6:.3f} ms virtual time\n")
    if args.json:
        doc = {
            "config": {"gomaxprocs": n, "seed": cfg.seed, "gogc": cfg.gogc, "cycles": args.cycles},
            "rounds": rounds,
            "procs": [{"p": i, "ran": runs[i], "steals": steals[i], "stolen": stolen[i],
                       "preemptions": preempts[i], "schedtick": rt.sched.allp[i].schedtick} for i in range(n)],
            "virtual_ns": total_ns,
        }
        write_json(args.json, doc)
    return 0


def write_json(path: str, doc: Any, indent: int = 2) -> None:
    """Write ``doc`` as JSON to ``path``; a failure is a one-line CLIError."""
    _check_writable(path)
    try:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=indent)
            f.write("\n")
    except OSError as e:
        raise CLIError(f"cannot write {path}: {e.strerror or e}") from None


# ---- run ----------------------------------------------------------------------------------------
def add_run_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="run FILE.py's async main() as the main goroutine (like go run)",
                       description="Import FILE.py and run its `async def main()` as the main goroutine "
                                   "of an aiogc runtime. GOMAXPROCS, GOGC and GODEBUG are honoured; "
                                   "flags override them.")
    p.add_argument("file", metavar="FILE.py", help="the program: a Python file defining async def main()")
    _add_runtime_flags(p, clock=True)
    p.add_argument("--trace", metavar="FILE", help="write a Perfetto (Chrome trace-event JSON) trace to FILE")
    p.add_argument("--live", action="store_true", help="show the live view while the program runs")


def _load_main(path: str) -> Callable[[], Any]:
    """Import ``path`` as a module (``__name__`` is ``__aiogc_main__``) and return its ``main``."""
    if not os.path.exists(path):
        raise CLIError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise CLIError(f"{path}: not a file")
    name = "__aiogc_main__"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CLIError(f"{path}: cannot be imported as a Python module")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))  # as `python FILE.py` does
    try:
        spec.loader.exec_module(mod)
    except SyntaxError as e:
        where = f"{e.filename or path}:{e.lineno}" if e.lineno else path
        raise CLIError(f"{where}: {e.msg}") from None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # noqa: BLE001 - a program that fails at import is bad input: one line
        raise CLIError(f"{path}: import failed: {type(e).__name__}: {e}") from None
    main = getattr(mod, "main", None)
    if main is None:
        raise CLIError(f"{path}: no main() defined (want `async def main():`)")
    if not inspect.iscoroutinefunction(main):
        what = "a function" if callable(main) else type(main).__name__
        raise CLIError(f"{path}: main must be a coroutine function (`async def main():`), not {what}")
    try:
        inspect.signature(main).bind()
    except TypeError:
        raise CLIError(f"{path}: main() must take no arguments") from None
    except ValueError:
        pass
    return main  # type: ignore[no-any-return]


def cmd_run(args: argparse.Namespace) -> int:
    import aiogc

    cfg = _make_config(args)  # validate flags and environment before touching the program
    main = _load_main(args.file)
    rt = aiogc.Runtime(cfg)
    closers: list[Callable[[], None]] = []
    if args.trace:
        closers.append(_attach_trace(rt, args.trace))
    if args.live:
        closers.append(_attach_live(rt))
    try:
        rt.run(main())
    finally:
        for close in reversed(closers):
            close()
    return 0


def add_compare_parser(sub: Any) -> None:
    from aiogc.experiments.compare import add_compare_arguments

    p = sub.add_parser("compare", help="fix on vs off over seeds and GOMAXPROCS values",
                       description="Run the seed workload with the fix on and off over seeds and GOMAXPROCS "
                                   "values (a process pool on every core) and tabulate coordinator latency, "
                                   "overshoot, mark duration and bytes allocated after completion.")
    add_compare_arguments(p)
    p.add_argument("--gogc", type=_gogc, default=None, metavar="PCT", help="GOGC for every run (default 100)")


def check_plot_path(path: str) -> None:
    """A ``--plot`` file must be writable and of a format matplotlib writes (checked before a run)."""
    _check_writable(path)
    ext = os.path.splitext(path)[1].lstrip(".").lower()
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        return  # the command itself says to install the plot extra
    formats = FigureCanvasBase.get_supported_filetypes()
    if ext not in formats:
        raise CLIError(f"--plot {path}: unknown image format {ext!r}; use one of {', '.join(sorted(formats))}")


def cmd_compare(args: argparse.Namespace) -> int:
    from aiogc.experiments.compare import cmd_compare as run_compare

    for path in (args.json, args.csv):
        if path:
            _check_writable(path)
    if args.plot:
        check_plot_path(args.plot)
    return run_compare(args)


def add_sweep_parser(sub: Any) -> None:
    from aiogc.experiments.sweep import add_sweep_arguments

    p = sub.add_parser("sweep", help="a parameter grid on local processes or a Dask cluster",
                       description="Run the seed workload over a grid of Config fields and workload knobs "
                                   "(--grid name=v1,v2,...) x seeds, one job per (point, seed) on a local "
                                   "process pool or a Dask cluster (--dask ADDRESS); rows stream to --out "
                                   "as jobs finish, --resume skips the jobs already there.")
    add_sweep_arguments(p)


def cmd_sweep(args: argparse.Namespace) -> int:
    from aiogc.experiments.sweep import cmd_sweep as run_sweep

    if getattr(args, "plot", None):
        check_plot_path(args.plot)
    return run_sweep(args)


def add_bench_parser(sub: Any) -> None:
    from aiogc.bench.suite import add_bench_arguments

    p = sub.add_parser("bench", help="benchmarks against asyncio, uvloop, trio and a coro.send trampoline",
                       description="The benchmark suite: switch, spawn, chan, mark and simulation, each "
                                   "measured against asyncio, uvloop, trio and the bare coro.send trampoline "
                                   "in the same run, printed with ratios and the targets.")
    add_bench_arguments(p)


def cmd_bench(args: argparse.Namespace) -> int:
    from aiogc.bench.suite import cmd_bench as run_bench

    return run_bench(args)


# name -> (add its subparser, run it).  Order is the order of `aiogc --help`.
COMMANDS: dict[str, tuple[Callable[[Any], None], Callable[[argparse.Namespace], int]]] = {
    "demo": (add_demo_parser, cmd_demo),
    "run": (add_run_parser, cmd_run),
    "compare": (add_compare_parser, cmd_compare),
    "sweep": (add_sweep_parser, cmd_sweep),
    "bench": (add_bench_parser, cmd_bench),
}


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description="An executable model of Go's goroutine scheduler and concurrent GC, on asyncio.",
        epilog="Environment: GOMAXPROCS, GOGC (a percentage or off) and GODEBUG (gctrace=1, "
               "schedtrace=MS, scheddetail=1, gccheckmark=1) are honoured as in Go; flags override them.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add, _ in COMMANDS.values():
        add(sub)
    return parser


# ---- the Go-style reports of a failed program ----------------------------------------------------
def _is_internal(filename: str) -> bool:
    pkg = os.path.dirname(os.path.abspath(__file__))
    f = os.path.abspath(filename)
    return f.startswith(pkg + os.sep) or f.startswith(os.path.dirname(asyncio.__file__) + os.sep)


def format_panic(p: GoroutinePanic) -> str:
    """Go's panic report: ``panic: <exc>``, a blank line, ``goroutine N [running]:``, frames innermost first.

    Frames are shown as Go prints them (``function(...)`` then a tab and ``file:line``); aiogc's and
    asyncio's own frames are left out.
    """
    exc = p.exc
    msg = str(exc)
    head = f"panic: {type(exc).__name__}: {msg}" if msg else f"panic: {type(exc).__name__}"
    lines = [head, "", f"goroutine {p.goid} [running]:"]
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _is_internal(f.filename)]
    if not frames:
        frames = list(traceback.extract_tb(exc.__traceback__))
    for fr in reversed(frames):
        lines.append(f"{fr.name}(...)")
        lines.append(f"\t{fr.filename}:{fr.lineno}")
    return "\n".join(lines) + "\n"


def _run_command(args: argparse.Namespace) -> int:
    _, cmd = COMMANDS[args.command]
    try:
        return cmd(args)
    except GoroutinePanic as p:
        exc = p.exc
        if isinstance(exc, SystemExit):  # sys.exit() in a goroutine: os.Exit
            code = exc.code
            return code if isinstance(code, int) else (0 if code is None else 1)
        if isinstance(exc, KeyboardInterrupt):
            raise exc from None
        sys.stderr.write(format_panic(p))
        return EXIT_USAGE
    except Deadlock as e:
        sys.stderr.write(f"fatal error: {e}\n")
        for goid, label, reason in e.goroutines:  # as Go lists the blocked goroutines
            name = f" ({label})" if label else ""
            sys.stderr.write(f"\ngoroutine {goid}{name} [{reason}]\n")
        return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m aiogc`` and the ``aiogc`` script; returns the exit status."""
    try:
        parser = build_parser()
        args = parser.parse_args(list(argv) if argv is not None else None)
        return _run_command(args)
    except (CLIError, ConfigError) as e:
        return _fail(str(e))
    except AiogcError as e:  # a runtime throw or check failure: Go's "fatal error:"
        sys.stderr.write(f"fatal error: {type(e).__name__}: {' '.join(str(e).split())}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return EXIT_INTERRUPTED
    except SystemExit as e:  # argparse's --help / error, or sys.exit() at a program's top level
        code = e.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except BrokenPipeError:
        # Output piped to a closed reader (e.g. `| head`): not an error of ours.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the interpreter's flush at exit
        except OSError:
            pass
        return 0
    except OSError as e:  # writing an output file failed after the run (disk full, a bad path...)
        where = f"{e.filename}: " if e.filename else ""
        return _fail(f"cannot write output: {where}{e.strerror or e}")
