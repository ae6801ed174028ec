"""What ``compare`` and ``sweep`` print: progress of a batch of runs, and their result tables.

``progress(label)`` is a context manager yielding a ``(done, total, what)`` callback.  On a
terminal (stderr) it is a rich bar with the count, the time elapsed and an estimate of the time
left; otherwise one plain line per finished run on stderr, with the same estimate.  The estimate
is the mean wall time per finished run so far times the runs left (runs are similar in cost
within one batch; rich's own column uses a moving average of the same quantity).

``table_console()`` is the console for a result table: the terminal's width on a terminal,
else ``PIPED_WIDTH`` (100) columns.  ``fitted_table`` lays a table out to fit that width: each
column as wide as its widest cell (headers wrap) when that fits, so no number is cut or wrapped;
otherwise rich wraps the cells (combined cells such as "p50 / p99 / max" wrap at " / ").
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console
from rich.table import Table

PIPED_WIDTH = 100
ProgressFn = Callable[[int, int, str], None]


def table_console() -> Console:
    """The console a command prints its result table on (100 columns when not a terminal)."""
    out = Console()
    return out if out.is_terminal else Console(width=PIPED_WIDTH)


def fmt_eta(seconds: float) -> str:
    """``45 s``, ``3 min 05 s``, ``1 h 02 min``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def eta_seconds(done: int, total: int, elapsed: float) -> float | None:
    """Time left, from the mean time per finished run; None before the first one finishes."""
    if done <= 0 or total <= 0:
        return None
    return elapsed / done * max(0, total - done)


@contextmanager
def progress(label: str, *, console: Console | None = None) -> Iterator[ProgressFn]:
    """A progress reporter for ``label`` (see the module docstring)."""
    err = console or Console(stderr=True)
    t0 = time.monotonic()
    if err.is_terminal:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TextColumn("left"), TimeRemainingColumn(), TextColumn("{task.description}"),
                      console=err, transient=True) as bar:
            task = bar.add_task("", total=None)

            def update(done: int, total: int, what: str) -> None:
                bar.update(task, total=total, completed=done, description=what)

            yield update
        return

    def line(done: int, total: int, what: str) -> None:
        elapsed = time.monotonic() - t0
        eta = eta_seconds(done, total, elapsed)
        left = f", about {fmt_eta(eta)} left" if eta is not None and done < total else ""
        print(f"[{done}/{total}] {what} ({fmt_eta(elapsed)} elapsed{left})", file=sys.stderr, flush=True)

    yield line


def fitted_table(title: str, heads: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]],
                 sections: Sequence[bool] | None = None, width: int = PIPED_WIDTH) -> Table:
    """A table of ``heads`` ((name, justify) pairs) and ``rows`` laid out for ``width`` columns
    (see the module docstring); ``sections[i]``: a separator before row i."""
    from rich import box

    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 0), pad_edge=False,
              show_edge=False)
    widths = _widths(heads, rows)
    one_line = fits(heads, rows, width)
    for (name, just), w in zip(heads, widths, strict=True):
        t.add_column(name, justify=just, width=w if one_line else None, overflow="fold")  # type: ignore[arg-type]
    for i, row in enumerate(rows):
        if sections is not None and sections[i]:
            t.add_section()
        t.add_row(*row)
    return t


def _widths(heads: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]]) -> list[int]:
    return [max([len(row[i]) for row in rows] + [max(len(w) for w in name.split())])
            for i, (name, _) in enumerate(heads)]


def fits(heads: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]], width: int = PIPED_WIDTH) -> bool:
    """Does the table fit ``width`` columns with every cell on one line?"""
    w = _widths(heads, rows)
    return sum(w) + len(w) - 1 <= width
