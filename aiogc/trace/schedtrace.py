"""GODEBUG=schedtrace=MS (and scheddetail=1): Go 1.5's ``SCHED`` lines on stderr (model doc §6.5).

Every ``MS`` milliseconds of runtime time (virtual ns in virtual time, monotonic ns in wall time)
one line, the first at ``0ms``, in Go 1.5's format::

    SCHED 0ms: gomaxprocs=4 idleprocs=2 threads=6 spinningthreads=0 idlethreads=2 runqueue=0 [0 0 0 0]

``runqueue`` is the global run queue length; the bracketed numbers are each P's local ring length
(``runnext`` is not counted, as in Go).  With ``scheddetail=1`` the header gains
`` gcwaiting= nmidlelocked= stopwait= sysmonwait=``, the bracket list is replaced by one line per P
(``  P<i>: status= schedtick= syscalltick= m= runqsize= gfreecnt=``) and one line per live goroutine
(``  G<id>: status=<n>(<waitreason>) m= lockedm=``), as Go's ``schedtrace(detailed=true)`` prints.

Departures (the model folds Ms into Ps, go-runtime-model.md §1.12):
  * ``threads`` = gomaxprocs + 1 (one M per P, plus sysmon's M);
  * ``idlethreads`` = the number of idle Ps (an idle P stands for a parked M);
  * ``spinningthreads`` = Ps in ``findrunnable`` looking for work (``sched.nmspinning``);
  * detail mode: a P's ``m`` is its own id while it runs and -1 when idle or stopped; a running G's
    ``m`` is its P's id; ``syscalltick``, ``nmidlelocked``, ``sysmonwait`` and ``gfreecnt`` are always 0
    (no syscalls, LockOSThread, sysmon sleeps or G reuse are modelled); the per-M lines are omitted;
    a G's wait reason is shown only while it is waiting (Go leaves a stale one), and dead Gs are not
    listed (they are not kept).
  * Go prints from sysmon; here the line is printed from the driver's after-step hook, so a line is
    due at the first step at or after each multiple of the period since the first line (a period in
    which no P stepped, e.g. all asleep on a timer, prints nothing for that period).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any

from aiogc.sched.g import RUNNING, WAITING
from aiogc.sched.p import P_RUNNING

if TYPE_CHECKING:
    from aiogc.runtime import Runtime

__all__ = ["SCHED_RE", "SchedTrace", "format_sched_line", "format_p_line", "format_g_line"]

SCHED_RE = re.compile(
    r"^SCHED (?P<ms>\d+)ms: gomaxprocs=(?P<gomaxprocs>\d+) idleprocs=(?P<idleprocs>\d+) "
    r"threads=(?P<threads>\d+) spinningthreads=(?P<spinning>\d+) idlethreads=(?P<idlethreads>\d+) "
    r"runqueue=(?P<runqueue>\d+)"
    r"(?: \[(?P<runqs>\d+(?: \d+)*)\]"
    r"| gcwaiting=(?P<gcwaiting>[01]) nmidlelocked=\d+ stopwait=\d+ sysmonwait=[01])$"
)
"""One SCHED header line (plain, with the ``[...]`` list, or detailed); ``$`` tolerates a trailing newline."""


def format_sched_line(
    ms: int,
    gomaxprocs: int,
    idleprocs: int,
    threads: int,
    spinningthreads: int,
    idlethreads: int,
    runqueue: int,
    runq_lens: Sequence[int] = (),
    *,
    detail: bool = False,
    gcwaiting: bool = False,
    nmidlelocked: int = 0,
    stopwait: int = 0,
    sysmonwait: bool = False,
) -> str:
    """The ``SCHED`` header line, without a newline.

    Plain mode ends with `` [l0 l1 ...]`` (one local run-queue length per P); detail mode ends with
    Go 1.5's extra fields instead (integers 0/1 for the booleans, as Go 1.5 printed them).
    """
    head = (f"SCHED {ms}ms: gomaxprocs={gomaxprocs} idleprocs={idleprocs} threads={threads} "
            f"spinningthreads={spinningthreads} idlethreads={idlethreads} runqueue={runqueue}")
    if detail:
        return (f"{head} gcwaiting={int(gcwaiting)} nmidlelocked={nmidlelocked} stopwait={stopwait} "
                f"sysmonwait={int(sysmonwait)}")
    return f"{head} [{' '.join(str(n) for n in runq_lens)}]"


def format_p_line(pid: int, status: int, schedtick: int, m: int, runqsize: int,
                  syscalltick: int = 0, gfreecnt: int = 0) -> str:
    """One ``scheddetail`` P line (two leading spaces, no newline)."""
    return (f"  P{pid}: status={status} schedtick={schedtick} syscalltick={syscalltick} m={m} "
            f"runqsize={runqsize} gfreecnt={gfreecnt}")


def format_g_line(goid: int, status: int, waitreason: str, m: int, lockedm: int = -1) -> str:
    """One ``scheddetail`` G line (two leading spaces, no newline)."""
    return f"  G{goid}: status={status}({waitreason}) m={m} lockedm={lockedm}"


class SchedTrace:
    """Prints SCHED lines every ``period_ms`` of runtime time (see module docstring).

    ``out`` defaults to the *current* ``sys.stderr`` at each print (so redirections and pytest's
    capture see it).  Read-only: it looks at scheduler state and never changes it.
    """

    def __init__(self, runtime: Runtime, period_ms: int, detail: int = 0, out: IO[str] | None = None) -> None:
        if period_ms <= 0:
            raise ValueError(f"schedtrace period must be > 0 ms, got {period_ms}")
        self.runtime = runtime
        self.period_ns = int(period_ms) * 1_000_000
        self.detail = bool(detail)
        self.out = out
        self.start_ns: int | None = None
        self.next_ns = 0
        self.last_ns = 0
        self.nlines = 0

    def install(self) -> SchedTrace:
        """Hook into the driver (called after each driver step with the current time in ns)."""
        self.runtime.driver.hooks_after_step.append(self.on_step)
        return self

    def on_step(self, now_ns: int) -> None:
        now = max(int(now_ns), self.last_ns)  # Ps' clocks may interleave slightly: keep time monotonic
        self.last_ns = now
        if self.start_ns is None:
            self.start_ns = now
            self.next_ns = now
        if now < self.next_ns:
            return
        elapsed = now - self.start_ns
        self.next_ns = self.start_ns + (elapsed // self.period_ns + 1) * self.period_ns
        self.emit(elapsed // 1_000_000)

    def lines(self, ms: int) -> list[str]:
        """The lines one trace at ``ms`` prints (header, then P and G lines in detail mode)."""
        sched = self.runtime.sched
        allp = sched.allp
        n = sched.gomaxprocs
        idle = len(sched.pidle)
        header = format_sched_line(
            ms, n, idle, n + 1, sched.nmspinning, idle, len(sched.gq), [len(p.runq) for p in allp],
            detail=self.detail, gcwaiting=bool(sched.gcwaiting), stopwait=self._stopwait(),
        )
        if not self.detail:
            return [header]
        out = [header]
        for p in allp:
            m = p.id if p.status == P_RUNNING else -1  # its (folded) M is itself
            out.append(format_p_line(p.id, p.status, p.schedtick, m, len(p.runq)))
        out.extend(self._g_lines(sched.allgs.values()))
        return out

    def _stopwait(self) -> int:
        sched = self.runtime.sched
        if not sched.gcwaiting:
            return 0
        return sum(1 for p in sched.allp if p is not sched.stw_p and p.status == P_RUNNING)

    @staticmethod
    def _g_lines(gs: Iterable[Any]) -> list[str]:
        out = []
        for g in sorted(gs, key=lambda g: g.id):
            reason = g.waitreason if g.status == WAITING else ""
            m = g.p.id if g.status == RUNNING and g.p is not None else -1
            out.append(format_g_line(g.id, g.status, reason, m))
        return out

    def emit(self, ms: int) -> None:
        out = self.out if self.out is not None else sys.stderr
        out.write("\n".join(self.lines(ms)) + "\n")
        out.flush()
        self.nlines += 1
