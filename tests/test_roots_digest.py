"""Results depend on the program, not on how aiogc's own Python is factored, nor on CPython's
bookkeeping, nor on the host thread's environment (roots.py: "What costs scan work").

Each test runs the same program twice and compares the event-trace digests; a negative control
shows the digest does move when the *program's* stack really changes, so the tests can fail.
"""

from __future__ import annotations

import contextvars
import os
import types
from collections.abc import Callable
from typing import Any

import pytest

import aiogc
from aiogc.sched.sync import Chan
from aiogc.trace.events import Recorder

PKG_DIR = os.path.dirname(os.path.abspath(aiogc.__file__))


class Box:
    """A plain object on the program's stack (its attributes live inline until asked for)."""

    def __init__(self, a: Any, b: Any) -> None:
        self.a = a
        self.b = b


async def _parked_consumer(ch: Chan, done: Chan) -> None:
    box = Box([1, 2, 3], {"k": "v"})
    n = 0
    async for r in ch:
        n += r.size + len(box.a)
    await done.send(n)


async def program(touch_dict: bool) -> int:
    ch: Chan = Chan(4)
    done: Chan = Chan(1)
    holder = Box("x", (1, 2))
    if touch_dict:
        vars(holder)  # materialise the instance dict: CPython's representation changes
    for _ in range(2):
        aiogc.go(_parked_consumer(ch, done))
    for i in range(300):
        r = await aiogc.alloc(512, 4)
        r[0] = await aiogc.alloc(256)
        await ch.send(r)
        if i % 50 == 0:
            await aiogc.compute(20_000)
    ch.close()
    total = (await done.recv()) + (await done.recv())
    assert holder.a == "x"
    return total


def digest(touch_dict: bool = False, patch: Callable[[], Callable[[], None]] | None = None) -> tuple[str, int]:
    undo = patch() if patch is not None else None
    try:
        rt = aiogc.Runtime(gomaxprocs=2, seed=3, gogc=20, heap_minimum=64 << 10)
        rec = Recorder()
        rt.bus.subscribe(rec)
        out = rt.run(program(touch_dict))
        assert rt.stats.cycles, "the program must run GC cycles"
        return rec.digest(), out
    finally:
        if undo is not None:
            undo()


def _wrap_recv(filename: str) -> Callable[[], Callable[[], None]]:
    """Wrap ``Chan.__anext__`` in one more generator frame, compiled as if it lived in
    ``filename``, holding locals of its own (what a refactoring of the runtime would add)."""
    src = (
        "def make(orig):\n"
        "    @types.coroutine\n"
        "    def __anext__(self):\n"
        "        scratch = [self, 1, 2, 3, 'helper']\n"
        "        more = {'a': scratch}\n"
        "        v = yield from orig(self)\n"
        "        return v\n"
        "    return __anext__\n"
    )

    def patch() -> Callable[[], None]:
        ns: dict[str, Any] = {"types": types}
        exec(compile(src, filename, "exec"), ns)
        orig = Chan.__anext__
        Chan.__anext__ = ns["make"](orig)  # type: ignore[method-assign]

        def undo() -> None:
            Chan.__anext__ = orig  # type: ignore[method-assign]

        return undo

    return patch


@pytest.fixture(scope="module")
def baseline() -> tuple[str, int]:
    return digest()


def test_same_run_same_digest(baseline: tuple[str, int]) -> None:
    assert digest() == baseline


def test_an_extra_runtime_helper_frame_changes_nothing(baseline: tuple[str, int]) -> None:
    inside = os.path.join(PKG_DIR, "sched", "_refactored_helper.py")
    assert digest(patch=_wrap_recv(inside)) == baseline


def test_the_same_extra_frame_in_program_code_does_change_the_digest(baseline: tuple[str, int]) -> None:
    """Negative control: the same frame charged as the program's (outside the package) costs
    scan work, so the trace moves; the test above would notice a scanner that charged it."""
    outside = os.path.join(os.path.dirname(__file__), "_program_helper.py")
    d, out = digest(patch=_wrap_recv(outside))
    assert out == baseline[1] and d != baseline[0]


def test_cpython_attribute_representation_changes_nothing(baseline: tuple[str, int]) -> None:
    assert digest(touch_dict=True) == baseline


def test_the_host_threads_context_variables_change_nothing(baseline: tuple[str, int]) -> None:
    var: contextvars.ContextVar[Any] = contextvars.ContextVar("host_state")
    big = {i: list(range(50)) for i in range(200)}  # a host's whole state (a Dask worker's, say)

    def run_in_host_context() -> tuple[str, int]:
        var.set(big)
        return digest()

    assert contextvars.copy_context().run(run_in_host_context) == baseline


def test_a_runtime_generator_does_not_hide_pending_program_values() -> None:
    """The charged walk meeting aiogc's own generator scans it for free with its own work list,
    so the program values still pending stay charged, whichever order the referents come in."""
    from aiogc.collector.roots import RootScanner

    def charged(make: Callable[[Any, Any], list[Any]]) -> int:
        gen = Chan[int]().recv()  # a runtime generator (aiogc/sched/sync.py)
        next_values = list(range(1000))
        sc = RootScanner(heap=None)
        sc.scan_value(make(next_values, gen))
        gen.close()
        return sc.words

    before = charged(lambda vals, gen: [vals, gen])
    after = charged(lambda vals, gen: [gen, vals])
    assert before == after, f"scan work depends on referent order: {before} vs {after}"
    assert before >= 1000, f"the 1000-element list was not charged: {before} words"
