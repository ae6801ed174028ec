"""Exhaustive unit tests of aiogc.sched.runq, in the spirit of Go's testSchedLocalQueue / ...Steal.

The run-queue functions are pure policy over plain data, so they are tested here on fake Ps (an
object with ``runnext`` and a ``runq`` deque) and fake Gs (an id and ``status == RUNNABLE``), against
an independent list-based reference model of go-runtime-model.md §1.2-1.3.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiogc.errors import Throw
from aiogc.sched.g import RUNNABLE
from aiogc.sched.runq import (
    GLOBRUNQ_BATCH_MAX,
    RUNQ_SIZE,
    check_runq,
    globrunqget,
    runqempty,
    runqget,
    runqgrab,
    runqput,
    runqputslow,
    runqsteal,
)


class FakeG:
    __slots__ = ("id", "status")

    def __init__(self, i: int) -> None:
        self.id = i
        self.status = RUNNABLE

    def __repr__(self) -> str:
        return f"g{self.id}"


class FakeP:
    def __init__(self) -> None:
        self.runnext: Any = None
        self.runq: deque[Any] = deque()


def gs(n: int, start: int = 0) -> list[FakeG]:
    return [FakeG(i) for i in range(start, start + n)]


def ids(xs: Any) -> list[int]:
    return [g.id for g in xs]


def test_constants_match_go() -> None:
    assert RUNQ_SIZE == 256
    assert GLOBRUNQ_BATCH_MAX == 128


# ---------------------------------------------------------------------------- runqput / runqget


@pytest.mark.parametrize("i", range(RUNQ_SIZE + 1))
def test_local_queue_fifo(i: int) -> None:
    """testSchedLocalQueue: i Gs in, the same i Gs out in FIFO order, nothing to the global queue."""
    p, gq = FakeP(), deque[Any]()
    assert runqempty(p)
    g_list = gs(i)
    for g in g_list:
        runqput(p, gq, g, False)
        check_runq(p)
    assert not gq
    assert runqempty(p) == (i == 0)
    assert len(p.runq) == i
    out = []
    while True:
        g, inherit = runqget(p)
        if g is None:
            break
        assert inherit is False
        out.append(g)
    assert out == g_list
    assert runqempty(p)
    assert runqget(p) == (None, False)


def test_runnext_put_and_get() -> None:
    p, gq = FakeP(), deque[Any]()
    a, b, c, d = gs(4)
    runqput(p, gq, a, False)
    runqput(p, gq, b, True)
    assert p.runnext is b and ids(p.runq) == [0]
    assert not runqempty(p)
    # next=True kicks the old runnext to the ring TAIL.
    runqput(p, gq, c, True)
    assert p.runnext is c and ids(p.runq) == [0, 1]
    runqput(p, gq, d, False)
    assert p.runnext is c and ids(p.runq) == [0, 1, 3]
    check_runq(p)
    assert runqget(p) == (c, True)  # runnext first, inheriting the time slice
    assert runqget(p) == (a, False)
    assert runqget(p) == (b, False)
    assert runqget(p) == (d, False)
    assert runqget(p) == (None, False)
    assert not gq


def test_runnext_only_is_not_empty() -> None:
    p, gq = FakeP(), deque[Any]()
    runqput(p, gq, FakeG(1), True)
    assert not runqempty(p)
    assert not p.runq
    g, inherit = runqget(p)
    assert g.id == 1 and inherit
    assert runqempty(p)


def test_runnext_chain_order() -> None:
    """Putting n Gs with next=True: the last is in runnext, the others are in the ring in put order."""
    p, gq = FakeP(), deque[Any]()
    g_list = gs(10)
    for g in g_list:
        runqput(p, gq, g, True)
    assert p.runnext is g_list[-1]
    assert list(p.runq) == g_list[:-1]
    out = [runqget(p) for _ in range(10)]
    assert out == [(g_list[-1], True)] + [(g, False) for g in g_list[:-1]]


# ---------------------------------------------------------------------------- overflow (runqputslow)


def test_overflow_at_257_moves_first_half_plus_new_g() -> None:
    p, gq = FakeP(), deque[Any]()
    g_list = gs(RUNQ_SIZE + 1)
    for g in g_list[:RUNQ_SIZE]:
        runqput(p, gq, g, False)
    assert len(p.runq) == RUNQ_SIZE and not gq
    runqput(p, gq, g_list[RUNQ_SIZE], False)
    # Exactly the first 128 (oldest first) and then the new G, in order, at the global tail.
    assert ids(gq) == list(range(128)) + [256]
    assert ids(p.runq) == list(range(128, 256))
    check_runq(p)


def test_overflow_appends_to_existing_global_tail() -> None:
    p = FakeP()
    gq: deque[Any] = deque(gs(3, start=1000))
    for g in gs(RUNQ_SIZE + 1):
        runqput(p, gq, g, False)
    assert ids(gq) == [1000, 1001, 1002] + list(range(128)) + [256]


def test_overflow_via_runnext_kick() -> None:
    """A full ring plus a runnext kick: the kicked (old runnext) G is the one appended after the half."""
    p, gq = FakeP(), deque[Any]()
    for g in gs(RUNQ_SIZE):
        runqput(p, gq, g, False)
    old, new = FakeG(500), FakeG(501)
    runqput(p, gq, old, True)
    assert not gq and p.runnext is old
    runqput(p, gq, new, True)
    assert p.runnext is new
    assert ids(gq) == list(range(128)) + [500]
    assert ids(p.runq) == list(range(128, 256))


def test_runqputslow_requires_full_ring() -> None:
    p, gq = FakeP(), deque[Any]()
    for g in gs(10):
        runqput(p, gq, g, False)
    with pytest.raises(Throw):
        runqputslow(p, gq, FakeG(99))


class RefQ:
    """Independent reference model of §1.2 (lists, spelled out step by step)."""

    def __init__(self) -> None:
        self.runnext: Any = None
        self.ring: list[Any] = []
        self.gq: list[Any] = []

    def put(self, g: Any, next_: bool) -> None:
        if next_:
            g, self.runnext = self.runnext, g
            if g is None:
                return
        if len(self.ring) < 256:
            self.ring.append(g)
            return
        half, self.ring = self.ring[:128], self.ring[128:]
        self.gq.extend(half + [g])

    def get(self) -> tuple[Any, bool]:
        if self.runnext is not None:
            g, self.runnext = self.runnext, None
            return g, True
        if self.ring:
            return self.ring.pop(0), False
        return None, False


@pytest.mark.parametrize("i", list(range(RUNQ_SIZE, 3 * RUNQ_SIZE + 2)) + [2000])
def test_overflow_every_count(i: int) -> None:
    """For every count past the ring size: exact state vs the reference, and every G exactly once."""
    p, gq = FakeP(), deque[Any]()
    ref = RefQ()
    g_list = gs(i)
    for g in g_list:
        runqput(p, gq, g, False)
        ref.put(g, False)
    check_runq(p)
    assert list(p.runq) == ref.ring
    assert list(gq) == ref.gq
    assert len(p.runq) <= RUNQ_SIZE
    # The global queue only ever receives batches of 129.
    assert len(gq) % (RUNQ_SIZE // 2 + 1) == 0
    assert sorted(ids(list(gq) + list(p.runq))) == list(range(i))
    # The ring itself is still FIFO.
    assert ids(p.runq) == sorted(ids(p.runq))


# ---------------------------------------------------------------------------- stealing


@pytest.mark.parametrize("i", range(RUNQ_SIZE + 1))
def test_steal_half(i: int) -> None:
    """testSchedLocalQueueSteal: thief gets ceil(i/2) oldest; returns the last; every G exactly once."""
    victim, thief = FakeP(), FakeP()
    gq: deque[Any] = deque()
    g_list = gs(i)
    for g in g_list:
        runqput(victim, gq, g, False)
    g, n = runqsteal(thief, victim, False)
    want = i - i // 2
    assert n == want
    assert n in (i // 2, i // 2 + 1)
    if i == 0:
        assert g is None
        assert not thief.runq and not victim.runq
        return
    # The older half, oldest first; the last grabbed one is returned to run now.
    assert g is g_list[want - 1]
    assert list(thief.runq) == g_list[: want - 1]
    assert list(victim.runq) == g_list[want:]
    everyone = [g] + list(thief.runq) + list(victim.runq)
    assert sorted(ids(everyone)) == list(range(i))
    assert len(everyone) == len(set(map(id, everyone))) == i
    assert thief.runnext is None and victim.runnext is None
    check_runq(thief)
    check_runq(victim)


@pytest.mark.parametrize("steal_runnext", [False, True])
def test_steal_does_not_take_runnext_when_ring_nonempty(steal_runnext: bool) -> None:
    victim, thief = FakeP(), FakeP()
    gq: deque[Any] = deque()
    a, b, nx = gs(3)
    runqput(victim, gq, a, False)
    runqput(victim, gq, b, False)
    runqput(victim, gq, nx, True)
    g, n = runqsteal(thief, victim, steal_runnext)
    assert (g, n) == (a, 1)
    assert victim.runnext is nx
    assert list(victim.runq) == [b]


def test_steal_runnext_only_when_ring_empty_and_allowed() -> None:
    victim, thief = FakeP(), FakeP()
    gq: deque[Any] = deque()
    nx = FakeG(7)
    runqput(victim, gq, nx, True)
    assert runqsteal(thief, victim, False) == (None, 0)
    assert victim.runnext is nx
    assert runqgrab(victim, False) == []
    g, n = runqsteal(thief, victim, True)
    assert (g, n) == (nx, 1)
    assert victim.runnext is None and not thief.runq and thief.runnext is None
    assert runqempty(victim)
    # Nothing left to steal.
    assert runqsteal(thief, victim, True) == (None, 0)


def test_runqgrab_returns_oldest_half() -> None:
    victim = FakeP()
    gq: deque[Any] = deque()
    g_list = gs(7)
    for g in g_list:
        runqput(victim, gq, g, False)
    assert runqgrab(victim, True) == g_list[:4]
    assert list(victim.runq) == g_list[4:]


def test_runqsteal_overflow_is_a_throw() -> None:
    """The thief must have an empty enough ring; overfilling it is an invariant violation."""
    victim, thief = FakeP(), FakeP()
    gq: deque[Any] = deque()
    for g in gs(RUNQ_SIZE):
        runqput(victim, gq, g, False)
    for g in gs(RUNQ_SIZE, start=1000):
        runqput(thief, gq, g, False)
    with pytest.raises(Throw):
        runqsteal(thief, victim, False)


def test_repeated_steals_conserve_gs() -> None:
    """Ping-pong steals between two Ps never lose or duplicate a G."""
    a, b = FakeP(), FakeP()
    gq: deque[Any] = deque()
    for g in gs(200):
        runqput(a, gq, g, False)
    running = []
    for k in range(40):
        thief, victim = (b, a) if k % 2 == 0 else (a, b)
        # A thief only steals with an empty ring (it looked locally first): drain it to "running".
        while thief.runq:
            running.append(thief.runq.popleft())
        g, n = runqsteal(thief, victim, True)
        if g is not None:
            running.append(g)
    rest = list(a.runq) + list(b.runq) + [x for x in (a.runnext, b.runnext) if x is not None]
    assert sorted(ids(running + rest)) == list(range(200))


# ---------------------------------------------------------------------------- globrunqget


def expected_n(size: int, gomaxprocs: int, max_: int) -> int:
    if size == 0:
        return 0
    n = min(size, size // gomaxprocs + 1)
    if max_ > 0:
        n = min(n, max_)
    return min(n, 128)


@pytest.mark.parametrize("gomaxprocs", [1, 2, 3, 4, 7, 8, 64, 256])
@pytest.mark.parametrize("max_", [0, 1, 2, 5, 100, 200])
def test_globrunqget_grid(gomaxprocs: int, max_: int) -> None:
    for size in list(range(0, 40)) + [63, 64, 65, 127, 128, 129, 130, 255, 256, 257, 300, 1000]:
        p = FakeP()
        g_list = gs(size)
        gq: deque[Any] = deque(g_list)
        g = globrunqget(p, gq, gomaxprocs, max_)
        n = expected_n(size, gomaxprocs, max_)
        if n == 0:
            assert g is None
            continue
        assert n == min(size, size // gomaxprocs + 1, max_ if max_ > 0 else size, 128)
        assert g is g_list[0], (size, gomaxprocs, max_)
        assert list(p.runq) == g_list[1:n], (size, gomaxprocs, max_)
        assert p.runnext is None
        assert list(gq) == g_list[n:]


def test_globrunqget_appends_after_existing_local_work() -> None:
    p = FakeP()
    local = gs(3, start=100)
    for g in local:
        runqput(p, deque(), g, False)
    g_list = gs(10)
    gq: deque[Any] = deque(g_list)
    g = globrunqget(p, gq, 2, 0)  # n = 10/2+1 = 6
    assert g is g_list[0]
    assert list(p.runq) == local + g_list[1:6]
    assert list(gq) == g_list[6:]


def test_globrunqget_into_nearly_full_ring_conserves() -> None:
    """Refilling a nearly full ring overflows through runqputslow; no G is lost or duplicated."""
    p = FakeP()
    local = gs(250, start=10_000)
    for g in local:
        runqput(p, deque(), g, False)
    g_list = gs(300)
    gq: deque[Any] = deque(g_list)
    g = globrunqget(p, gq, 1, 0)
    assert g is g_list[0]
    check_runq(p)
    everyone = [g] + list(p.runq) + list(gq)
    assert sorted(ids(everyone)) == list(range(300)) + list(range(10_000, 10_250))


# ---------------------------------------------------------------------------- invariants


def test_check_runq_detects_violations() -> None:
    p = FakeP()
    g = FakeG(1)
    p.runq.append(g)
    p.runnext = g
    with pytest.raises(Throw):
        check_runq(p)
    p2 = FakeP()
    p2.runq.extend(gs(RUNQ_SIZE + 1))
    with pytest.raises(Throw):
        check_runq(p2)
    check_runq(FakeP())


# ---------------------------------------------------------------------------- random sequences vs the reference

_ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.booleans(), st.integers(1, 300)),
        st.tuples(st.just("get"), st.integers(1, 300)),
    ),
    max_size=30,
)


@given(_ops)
def test_random_put_get_matches_reference(ops: list[tuple[Any, ...]]) -> None:
    p, gq = FakeP(), deque[Any]()
    ref = RefQ()
    nxt = 0
    got: list[Any] = []
    for op in ops:
        if op[0] == "put":
            _, next_, k = op
            for _ in range(k):
                g = FakeG(nxt)
                nxt += 1
                runqput(p, gq, g, next_)
                ref.put(g, next_)
        else:
            for _ in range(op[1]):
                a = runqget(p)
                assert a == ref.get()
                if a[0] is not None:
                    got.append(a[0])
        check_runq(p)
        assert p.runnext is ref.runnext
        assert list(p.runq) == ref.ring
        assert list(gq) == ref.gq
    rest = list(p.runq) + list(gq) + ([p.runnext] if p.runnext is not None else [])
    assert sorted(ids(got + rest)) == list(range(nxt))


@given(st.integers(0, 600), st.integers(0, 5), st.booleans(), st.booleans())
def test_random_steal_conserves(n_ring: int, n_next: int, steal_next: bool, thief_busy: bool) -> None:
    victim, thief = FakeP(), FakeP()
    gq: deque[Any] = deque()
    for g in gs(n_ring):
        runqput(victim, gq, g, False)
    for g in gs(n_next, start=10_000):
        runqput(victim, gq, g, True)
    if thief_busy:
        runqput(thief, gq, FakeG(-1), False)
    before_len = len(victim.runq)
    g, n = runqsteal(thief, victim, steal_next)
    if before_len:
        assert n == before_len - before_len // 2
    elif steal_next and n_next:
        assert n == 1 and victim.runnext is None
    else:
        assert (g, n) == (None, 0)
    all_gs = list(victim.runq) + list(thief.runq) + list(gq)
    all_gs += [x for x in (victim.runnext, thief.runnext, g) if x is not None]
    expect = list(range(n_ring)) + list(range(10_000, 10_000 + n_next)) + ([-1] if thief_busy else [])
    assert sorted(ids(all_gs)) == sorted(expect)
