"""A check-then-act race that plain asyncio never shows, and aiogc's seed exploration finds.

``SeatMap.book`` checks that a seat is free, awaits a write, then takes the seat.  Under
asyncio (and under aiogc's default schedule) Alice's write finishes before Bob, who clicks
a moment later, checks the seat, so every run passes.  But nothing in the code guarantees
that order: a scheduler that resumes Alice a little later lets Bob book the same seat.

    pytest demos/test_race_demo.py                               # passes
    pytest demos/test_race_demo.py --aiogc-seeds 50 --aiogc-chaos   # finds the double booking
    AIOGC_SEED=<seed> pytest demos/test_race_demo.py::test_booking --aiogc-chaos=0.2   # replays it

(tests/test_pytest_plugin.py runs all three.)  The fix is to hold an ``asyncio.Lock`` from
the check to the act, or to re-check after the await.
"""

from __future__ import annotations

import asyncio

import pytest


class SeatMap:
    def __init__(self) -> None:
        self.owner: dict[str, str] = {}

    async def book(self, seat: str, who: str) -> bool:
        if seat in self.owner:  # check ...
            return False
        await self._persist(seat, who)  # ... an await in between ...
        self.owner[seat] = who  # ... act
        return True

    async def _persist(self, seat: str, who: str) -> None:
        await asyncio.sleep(0)  # stands for a database write


async def scenario() -> None:
    seats = SeatMap()

    async def alice() -> bool:
        return await seats.book("12A", "alice")

    async def bob() -> bool:
        await asyncio.sleep(0)  # Bob clicks a moment later
        await asyncio.sleep(0)
        return await seats.book("12A", "bob")

    results = await asyncio.gather(alice(), bob())
    assert sorted(results) == [False, True], f"seat 12A booked twice: {seats.owner}, results {results}"


@pytest.mark.aiogc(gomaxprocs=1)
async def test_booking() -> None:
    await scenario()


def test_booking_under_plain_asyncio() -> None:
    asyncio.run(scenario())  # asyncio's own loop: passes every time
