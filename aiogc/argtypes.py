"""argparse value types shared by every subcommand.

Each raises ``argparse.ArgumentTypeError``, which the CLI's parser turns into its one-line
``aiogc: error: ...`` and exit status 2.
"""

from __future__ import annotations

import argparse


def positive_int(s: str) -> int:
    """An integer >= 1."""
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}")
    return v


def integer(s: str) -> int:
    """Any integer."""
    try:
        return int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {s!r}") from None


def positive_float(s: str) -> float:
    """A finite number > 0."""
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {s!r}") from None
    if not 0 < v < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {s!r}")
    return v
