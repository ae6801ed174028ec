"""Command-line I/O below the CLI: one-line errors, output files, Config from flags, observers.

``aiogc.cli`` parses commands; the commands themselves live in ``experiments/`` and ``bench/``,
which need the same conventions — a bad input is one ``aiogc: error: ...`` line on stderr and
exit status 2, an output file is checked for writability before a long run, JSON is written one
way — without importing the CLI (docs/architecture.md: a lower layer never imports a higher one).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

PROG = "aiogc"
EXIT_USAGE = 2  # bad input; also Go's exit status on panic and fatal errors
EXIT_INTERRUPTED = 130


class CLIError(Exception):
    """A bad input found after parsing: printed as one ``aiogc: error:`` line, exit 2."""


def fail(message: str) -> int:
    """Print ``aiogc: error: <message>`` as one line on stderr; returns the exit status (2)."""
    msg = " ".join(str(message).split())  # one line, whatever the message holds
    sys.stderr.write(f"{PROG}: error: {msg}\n")
    sys.stderr.flush()
    return EXIT_USAGE


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr (``aiogc: error: ...``) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise SystemExit(fail(message))


def check_writable(path: str) -> None:
    """Fail early (one line) if ``path`` cannot be created, before a long run."""
    d = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        raise CLIError(f"cannot write {path}: is a directory")
    if not os.path.isdir(d):
        raise CLIError(f"cannot write {path}: no such directory {d}")
    if not os.access(d, os.W_OK):
        raise CLIError(f"cannot write {path}: permission denied")


def write_json(path: str | os.PathLike[str], doc: Any, *, indent: int = 2, allow_nan: bool = True) -> None:
    """Write ``doc`` as JSON (and a final newline) to ``path``; a failure is a one-line CLIError."""
    p = os.fspath(path)
    check_writable(p)
    try:
        with open(p, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=indent, allow_nan=allow_nan)
            f.write("\n")
    except OSError as e:
        raise CLIError(f"cannot write {p}: {e.strerror or e}") from None


def nan_to_none(v: float) -> float | None:
    """NaN (an empty sample's statistic) as None, for JSON and tables; other values unchanged."""
    return None if isinstance(v, float) and math.isnan(v) else v


def config_from_args(args: argparse.Namespace, **extra: Any) -> Any:
    """A validated Config from ``extra`` (``run --set``) and the runtime flags given, which win
    (others: environment, then defaults)."""
    from aiogc.config import Config

    fields: dict[str, Any] = dict(extra)
    for name in ("gomaxprocs", "gogc", "seed", "clock"):
        v = getattr(args, name, None)
        if v is not None:
            fields[name] = v
    return Config.make(None, **fields)


def attach_trace(runtime: Any, path: str, goroutines: bool = False) -> Callable[[], None]:
    """Attach the Perfetto trace writer; returns a function that detaches it and writes ``path``.
    ``goroutines``: one track per goroutine (``--trace-goroutines``)."""
    from aiogc.trace import perfetto

    check_writable(path)
    close = perfetto.attach(runtime, path, goroutines=goroutines)

    def finish() -> None:
        try:
            close()
        except OSError as e:
            raise CLIError(f"cannot write {path}: {e.strerror or e}") from None

    return finish


def attach_live(runtime: Any, **kw: Any) -> Callable[[], None]:
    """Attach the rich live view; returns the function that stops it.

    Not a terminal: the view prints notable events as plain lines instead of animating.
    """
    from aiogc.view import live

    return live.attach(runtime, **kw)
