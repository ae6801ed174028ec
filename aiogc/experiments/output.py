"""What ``compare`` and ``sweep`` print: their result tables (progress is issue 14's
``experiments/progress.py``).

``table_console()`` is the console for a result table: the terminal's width on a terminal,
else ``PIPED_WIDTH`` (100) columns.  ``fitted_table`` lays a table out to fit that width: each
column as wide as its widest cell (headers wrap) when that fits, so no number is cut or wrapped;
otherwise rich wraps the cells (combined cells such as "p50 / p99 / max" wrap at " / ").
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

PIPED_WIDTH = 100


def table_console() -> Console:
    """The console a command prints its result table on (100 columns when not a terminal)."""
    out = Console()
    return out if out.is_terminal else Console(width=PIPED_WIDTH)


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
