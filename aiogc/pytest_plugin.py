"""pytest plugin: run async tests on aiogc, and explore scheduler seeds to find interleaving bugs.

Registered by the ``pytest11`` entry point, and inert unless used:

  * ``@pytest.mark.aiogc(gomaxprocs=4, clock="virtual", gogc=100, **config)`` runs an
    ``async def`` test as goroutine 1 of an ``aiogc.Loop`` (virtual time unless
    ``clock="wall"``); any ``Config`` field may be given.  The loop is closed afterwards
    (goroutines still alive are abandoned, as when Go's ``main`` returns).
  * The ``aiogc_runtime`` fixture is the ``Runtime`` a marked test runs on (read its
    ``stats``, ``now_ns()``...); in a plain test it is a fresh runtime to ``run`` yourself.
  * ``pytest --aiogc-seeds N`` runs each marked test under seeds 0..N-1 (the seed picks
    work-stealing victims and, with ``--aiogc-chaos[=P]``, random yields before a goroutine
    resumes at an await, with probability P, default 0.2: see ``Config.chaos``).  The first
    failing seed stops that test; the failure carries a one-line reproduction,
    ``AIOGC_SEED=17 pytest path::test`` (plus ``--aiogc-chaos=P`` if it was on), which the
    terminal summary repeats.  ``AIOGC_SEED`` alone runs a marked test under that seed.
  * pytest-asyncio keeps its own tests: a test marked ``asyncio`` is left to it (whose
    ``event_loop_policy`` fixture may return ``aiogc.EventLoopPolicy()``).

A virtual-time run is a pure function of (config, seed, program), so a seed that fails
fails again: that is what makes the reproduction line worth printing.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from typing import Any

import pytest

from aiogc.config import Config
from aiogc.errors import ConfigError
from aiogc.loop import Loop
from aiogc.runtime import Runtime

_LOOP = pytest.StashKey[Loop]()
_REPROS = pytest.StashKey[list[str]]()
DEFAULT_CHAOS = 0.2


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aiogc", "aiogc: async tests on Go's scheduler")
    group.addoption("--aiogc-seeds", type=int, default=None, metavar="N",
                    help="run each @pytest.mark.aiogc test under scheduler seeds 0..N-1; stop a test at its "
                         "first failing seed and print how to reproduce it")
    group.addoption("--aiogc-chaos", type=float, nargs="?", const=DEFAULT_CHAOS, default=None, metavar="P",
                    help=f"random yields: before resuming at an await, a goroutine yields with probability P "
                         f"(default {DEFAULT_CHAOS})")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "aiogc(**config): run this async test on aiogc's Go scheduler (gomaxprocs=, clock=, gogc=, "
                   "any aiogc.Config field); see aiogc.pytest_plugin")
    n = config.getoption("aiogc_seeds", None)
    if n is not None and n < 1:
        raise pytest.UsageError(f"--aiogc-seeds needs N >= 1, got {n}")
    chaos = config.getoption("aiogc_chaos", None)
    if chaos is not None and not 0 <= chaos < 1:
        raise pytest.UsageError(f"--aiogc-chaos needs 0 <= P < 1, got {chaos}")
    config.stash[_REPROS] = []


def _env_seed() -> int | None:
    raw = os.environ.get("AIOGC_SEED")
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise pytest.UsageError(f"AIOGC_SEED must be an integer, got {raw!r}") from None


def _config(item: pytest.Item, seed: int | None) -> Config:
    """The marker's Config fields, then the seed and chaos from the command line/environment."""
    mark = item.get_closest_marker("aiogc")
    fields: dict[str, Any] = dict(mark.kwargs) if mark is not None else {}
    if mark is not None and mark.args:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.aiogc takes keyword arguments only (Config fields)")
    chaos = item.config.getoption("aiogc_chaos", None)
    if chaos is not None:
        fields["chaos"] = chaos
    if seed is not None:
        fields["seed"] = seed
    try:
        return Config.make(None, **fields)
    except ConfigError as e:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.aiogc: {e}") from None


@pytest.fixture
def aiogc_runtime(request: pytest.FixtureRequest) -> Iterator[Runtime]:
    """The Runtime a ``@pytest.mark.aiogc`` test runs on (in a plain test: a fresh one to run)."""
    seed = _env_seed()
    loop = Loop(_config(request.node, seed))
    request.node.stash[_LOOP] = loop
    yield loop.runtime
    if not loop.is_running():
        loop.close()


def _seeds(item: pytest.Item) -> list[int | None]:
    env = _env_seed()
    if env is not None:
        return [env]
    n = item.config.getoption("aiogc_seeds", None)
    return list(range(n)) if n else [None]


def _repro(item: pytest.Item, seed: int) -> str:
    chaos = item.config.getoption("aiogc_chaos", None)
    extra = f" --aiogc-chaos={chaos}" if chaos is not None else ""
    return f"AIOGC_SEED={seed} pytest {item.nodeid}{extra}"


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if pyfuncitem.get_closest_marker("aiogc") is None or pyfuncitem.get_closest_marker("asyncio") is not None:
        return None
    fn = pyfuncitem.obj
    if not inspect.iscoroutinefunction(fn):
        raise pytest.UsageError(f"{pyfuncitem.nodeid}: @pytest.mark.aiogc needs an async def test")
    argnames = pyfuncitem._fixtureinfo.argnames
    seeds = _seeds(pyfuncitem)
    for i, seed in enumerate(seeds):
        kwargs = {name: pyfuncitem.funcargs[name] for name in argnames}
        loop = pyfuncitem.stash.get(_LOOP, None) if i == 0 else None
        if loop is None or seed is not None and loop.runtime.config.seed != seed:
            loop = Loop(_config(pyfuncitem, seed))
            if "aiogc_runtime" in kwargs:
                kwargs["aiogc_runtime"] = loop.runtime
        try:
            loop.run_until_complete(fn(**kwargs))
        except BaseException as e:
            if len(seeds) > 1 or seed is not None:
                s = loop.runtime.config.seed
                line = _repro(pyfuncitem, s)
                e.add_note(f"aiogc: seed {s} fails ({i + 1} of {len(seeds)} tried); reproduce with:\n    {line}")
                pyfuncitem.config.stash[_REPROS].append(line)
            raise
        finally:
            loop.close()
    return True


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    lines = config.stash.get(_REPROS, [])
    if lines:
        terminalreporter.section("aiogc: failing seeds")
        for line in lines:
            terminalreporter.write_line(line)
