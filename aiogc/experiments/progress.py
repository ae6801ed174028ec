"""Progress of a batch of independent runs (``compare``, ``sweep``): done/total, elapsed, time left.

Where it goes (``mode``):
  ``None`` (auto)  a live bar on stderr when stderr is a terminal; nothing when it is piped or
                   redirected (a log stays clean);
  ``True``         asked for (``--progress``): the bar on a terminal, else one plain line per
                   finished run on stderr (``[done/total] what  elapsed 12 s, left ~30 s``);
  ``False``        nothing (``--no-progress``).

The estimate of the time left is (elapsed / runs done) x runs left: runs go to a pool in
submission order, so while every worker is busy the finished runs are a fair sample of the rest;
nothing is shown until the first run is done.  Experiment modules submit their costliest runs
first (more Ps, the fix off), so the estimate errs high early on rather than low at the end.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.progress import ProgressColumn
from rich.text import Text

Progress = Callable[[int, int, str], None]  # (done, total, description of the run just finished)


def fmt_duration(s: float) -> str:
    """``75.2`` -> ``"1m15s"``; under a minute, whole seconds."""
    s = max(0, int(round(s)))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def eta_s(elapsed: float, done: int, total: int) -> float | None:
    """Seconds left at the mean rate so far; ``None`` before the first run is done."""
    if done <= 0:
        return None
    return elapsed / done * max(0, total - done)


@contextmanager
def progress_reporter(name: str, total: int, mode: bool | None = None, *,
                      stream: Any = None, clock: Callable[[], float] = time.monotonic) -> Iterator[Progress | None]:
    """Yield a ``progress(done, total, what)`` callback for ``name``'s runs, or ``None`` when quiet
    (see the module docstring for ``mode``)."""
    err = stream if stream is not None else sys.stderr
    tty = bool(getattr(err, "isatty", lambda: False)())
    if mode is False or (mode is None and not tty) or total <= 0:
        yield None
        return
    t0 = clock()
    if tty:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn(name), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), _LeftColumn(clock),
                      TextColumn("{task.description}"), console=Console(file=err), transient=True) as bar:
            task = bar.add_task("", total=total, eta=None)

            def prog(done: int, tot: int, what: str) -> None:
                now = clock()
                e = eta_s(now - t0, done, tot)
                bar.update(task, total=tot, completed=done, description=what,
                           eta=None if e is None else (now, e))

            yield prog
        return

    def plain(done: int, tot: int, what: str) -> None:
        el = clock() - t0
        e = eta_s(el, done, tot)
        tail = f"  elapsed {fmt_duration(el)}" + ("" if e is None else f", left ~{fmt_duration(e)}")
        print(f"{name}: [{done}/{tot}] {what}{tail}", file=err, flush=True)

    yield plain


class _LeftColumn(ProgressColumn):
    """The time left, counting down between finished runs (the estimate is made at each one)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__()
        self.clock = clock

    def render(self, task: Any) -> Text:
        eta = task.fields.get("eta")
        if eta is None:
            return Text("")
        at, e = eta
        return Text(f"~{fmt_duration(max(0.0, e - (self.clock() - at)))} left", style="progress.remaining")


def add_progress_argument(parser: Any) -> None:
    """``--progress`` / ``--no-progress`` (default: a bar on a terminal only)."""
    import argparse

    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show progress and the estimated time left on stderr (default: only when "
                             "stderr is a terminal; --progress also prints one line per run when piped)")


def usable_cpus() -> int:
    """Cores this process may run on (its CPU affinity where the OS has one), at least 1."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
