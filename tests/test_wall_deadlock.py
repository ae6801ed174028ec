"""Wall-clock deadlock detection without host I/O: the same verdict as virtual time."""

from __future__ import annotations

import asyncio

import pytest

import aiogc


async def _stuck_on_future() -> None:
    fut = asyncio.get_running_loop().create_future()
    await fut  # nothing will ever complete it


async def _stuck_awaiting_stuck_goroutine() -> None:
    ch: aiogc.Chan = aiogc.Chan()

    async def blocked() -> None:
        await ch.recv()

    g = aiogc.go(blocked())
    await g


@pytest.mark.parametrize("program", [_stuck_on_future, _stuck_awaiting_stuck_goroutine])
@pytest.mark.parametrize("clock", ["virtual", "wall"])
def test_deadlock_without_host_io(program, clock: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(aiogc.Deadlock) as e:
        aiogc.run(program(), clock=clock, gomaxprocs=2)
    assert str(e.value) == "all goroutines are asleep - deadlock!"
    assert any(label == "main" for _, label, _ in e.value.goroutines)
