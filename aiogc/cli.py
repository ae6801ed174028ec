"""The command line: ``python -m aiogc <command>`` (also installed as ``aiogc``).

Commands (one function ``cmd_<name>(args) -> int`` each, registered in ``COMMANDS``):
  demo     the seed experiment under the live view (``aiogc.experiments.demo``); ``--scheduler``:
           the scheduler alone, in plain text (``aiogc.experiments.scheduler_demo``)
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
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from aiogc.argtypes import integer, positive_float
from aiogc.errors import AiogcError, ConfigError, Deadlock, GoroutinePanic

# One-line errors, output files, Config from flags and observers live below the CLI (aiogc.io),
# so that experiments/ and bench/ share them without importing this module.
from aiogc.io import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    PROG,
    ArgumentParser,
    CLIError,
    attach_live,
    attach_trace,
    check_writable,
    config_from_args,
    fail,
)

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
        from aiogc.experiments.scheduler_demo import cmd_demo_scheduler

        return cmd_demo_scheduler(args)
    from aiogc.experiments.demo import cmd_demo as seed_demo

    for path in (args.json, args.trace):
        if path:
            check_writable(path)
    return seed_demo(args)


# ---- run ----------------------------------------------------------------------------------------
def add_run_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="run FILE.py's async main() as the main goroutine (like go run)",
                       description="Import FILE.py and run its `async def main()` as the main goroutine "
                                   "of an aiogc runtime. GOMAXPROCS, GOGC and GODEBUG are honoured; "
                                   "flags override them.")
    p.add_argument("file", metavar="FILE.py", help="the program: a Python file defining async def main()")
    _add_runtime_flags(p, clock=True)
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", dest="set_fields",
                   help="set any Config field (repeatable), e.g. --set yield_after_assist=false to turn "
                        "the seed fix off, --set assist_policy=retry, --set preempt_ns=20_000_000")
    p.add_argument("--trace", metavar="FILE", help="write a Perfetto (Chrome trace-event JSON) trace to FILE")
    p.add_argument("--trace-goroutines", action="store_true",
                   help="with --trace: one track per goroutine (running and runnable slices)")
    p.add_argument("--live", action="store_true",
                   help="show the live view while the program runs (the program's output is kept above it)")
    p.add_argument("--speed", type=positive_float, default=None, metavar="X",
                   help="with --live: pace the run at X virtual seconds per wall second (default unpaced)")


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
    from aiogc.config import parse_assignment

    sets = dict(parse_assignment(spec) for spec in getattr(args, "set_fields", None) or [])
    cfg = config_from_args(args, **sets)  # validate flags and environment before touching the program
    main = _load_main(args.file)
    rt = aiogc.Runtime(cfg)
    closers: list[Callable[[], None]] = []
    if args.trace:
        closers.append(attach_trace(rt, args.trace, goroutines=bool(getattr(args, "trace_goroutines", False))))
    if args.live:
        closers.append(attach_live(rt, speed=getattr(args, "speed", None),
                                   title=f"aiogc run {os.path.basename(args.file)}"))
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
    check_writable(path)
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
            check_writable(path)
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


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("aiogc")
    except Exception:  # noqa: BLE001 - not installed as a distribution (a source checkout)
        return "unknown"


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description="An executable model of Go's goroutine scheduler and concurrent GC, on asyncio.",
        epilog="Environment: GOMAXPROCS, GOGC (a percentage or off) and GODEBUG (gctrace=1, gcpacertrace=1, "
               "schedtrace=MS, scheddetail=1, gccheckmark=1; other keys are ignored, as Go does, with a "
               "warning) are honoured as in Go; flags override them.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
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
        argv = list(argv) if argv is not None else sys.argv[1:]
        if not argv:  # `python -m aiogc` alone: the help, not an error
            parser.print_help()
            return 0
        args = parser.parse_args(argv)
        return _run_command(args)
    except (CLIError, ConfigError) as e:
        return fail(str(e))
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
        return fail(f"cannot write output: {where}{e.strerror or e}")
