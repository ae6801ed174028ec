"""host: the machine under the runtime — how much CPU the Ps get, and when an M loses its CPU.

Go runs its Ps on Ms, OS threads, and the OS decides when and where a thread runs.  The model has
no Ms: a P runs whenever it has work, at full speed, as on a machine with a whole CPU for every P
and an OS that never makes an M wait.  That is the default (``Config.host_cpus = 0``,
``host_stack_prob = 0``), and then nothing here runs or draws a random number.

The measured machine (aiogc/data/README.md: a 2-vCPU x86-64 VM) was not that machine, and real
Go's own numbers show it in two ways.

1. The two vCPUs give the Ps about one CPU's worth of time.  At GOMAXPROCS=1 the seed workload
   allocated 1.95 MB per ms over a run (3 runs, gc 3 on); at GOMAXPROCS=2, with twice the
   goroutines, 1.58 MB per ms (10 runs).  Yet a P whose partner had lost its CPU (below)
   allocated 2.4-2.9 MB per ms alone.  So a P runs at full speed alone and at about half speed
   beside another: a shared core, whether by SMT or by the hypervisor.  Model: with n Ps
   running (on a P's run heap, not stopped, idle or in a stall below), each runs at
   min(1, ``host_cpus`` / n) of full speed: every modelled cost and every ``compute(ns)`` is
   stretched by the inverse (``Sched.rescale``), decided afresh at the start of each of a P's
   slices (at most ``lookahead_ns`` plus one step long).  Waits (timers, sysmon, the stalls
   below) are time, not work, and are not stretched.

2. When one M wakes another, the two sometimes share a CPU for milliseconds.  At GOMAXPROCS=2 the
   seed's scan phase and its ragged barrier (the write-barrier ``forEachP``) take over 0.3 ms in
   7% of cycles each (p50 80 µs and 3 µs; at GOMAXPROCS=1 on the same machine the scan's p99 is
   0.11 ms).  In those cycles the heap grows by 2.4 MB (scan) and 2.9 MB (barrier) per
   millisecond of the phase — one P's whole allocation rate, alone — while in cycles whose mark
   termination (world stopped) is long it does not grow.  So in a long scan or barrier the
   coordinator made no progress while the other P's mutator ran, unpaced (the seed has no assists
   before the mark phase).  Go's code has no wait of that size there: ``scang`` spins on a running
   G's self-scan, ``forEachP`` re-sends its preemption every 100 µs, and ``newstack`` honours a
   request at the goroutine's next function prologue outside malloc (``releasem`` re-arms one it
   declined), which seedload's goroutines reach every microsecond.  The coordinator's M had no CPU.
   Both phases begin with one M waking another: ``startTheWorldWithSema`` wakes the stopped Ps'
   Ms (the scan starts right after), and the last P to run ``forEachP``'s function wakes the
   coordinator from its ``notetsleep``.  A kernel may place a woken thread on the waker's CPU
   (Linux's ``wake_affine``) and the two share it until a load balance moves one.  Model: at each
   such wake-up of or by the coordinator — the start of the world after sweep termination and
   after mark termination, the end of each ``forEachP`` wait — with probability
   ``host_stack_prob`` the coordinator's P loses an exponentially distributed time of mean
   ``host_stack_ns`` (its clock jumps; the coordinator and everything queued on its P wait) while
   the other Ps run on, alone on the CPU time.  GOMAXPROCS=1 has no such wake-ups.

Invariants: a stall only moves a P's clock forwards; the stretch is >= 1 (``dil_num >= DIL_ONE``)
and is an integer ratio, so clocks stay integer nanoseconds; with both mechanisms off no code
path here draws from the runtime's ``random.Random`` or changes a cost, so such runs are
byte-identical to runs before this module existed.

Departures.  The parameters are the measured machine's, not Go's and not a kernel's rules:
calibrated from real Go's phase timings and allocation rates (docs/realgo.md, "Calibration") and
checked by ``validate`` against what they were not fitted on.  The kernel itself is not modelled:
no ticks, no migration, no wake-ups other than those named (``wakep`` starting a spinning M, timer
wake-ups, the stop-the-world's own wake-up, after which the stopping M sleeps and frees its CPU),
no other processes.  The wall driver ignores the host model: real time has a real OS under it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from aiogc.errors import Throw
from aiogc.sched.p import P_RUNNING
from aiogc.trace.events import MStall

if TYPE_CHECKING:
    from aiogc.sched.p import P
    from aiogc.sched.sched import Sched

DIL_SHIFT = 10
DIL_ONE = 1 << DIL_SHIFT  # a stretch of 1: full speed


def stretch_costs(obj: object, cfg: object, costs: Iterable[tuple[str, str]], dil_num: int) -> None:
    """Set each ``obj.<attr>`` to its configured cost ``cfg.<field>`` stretched by dil_num / DIL_ONE
    (``Sched.rescale`` and ``Collector.rescale`` each pass their own table)."""
    for attr, field_name in costs:
        setattr(obj, attr, getattr(cfg, field_name) * dil_num >> DIL_SHIFT)


class Host:
    """The host model (see the module docstring).  ``capacity_on``/``stack_on`` say which half runs."""

    __slots__ = ("sched", "cpus", "capacity_on", "prob", "mean_ns", "stack_on", "nstall", "stolen_ns",
                 "_dil_by_n")

    def __init__(self, sched: Sched) -> None:
        cfg = sched.config
        self.sched = sched
        self.cpus = float(cfg.host_cpus)
        self.capacity_on = sched.virtual and self.cpus > 0
        self.prob = cfg.host_stack_prob
        self.mean_ns = cfg.host_stack_ns
        self.stack_on = sched.virtual and self.prob > 0 and self.mean_ns > 0
        self.nstall = 0  # wake-ups that stacked two Ms on one CPU
        self.stolen_ns = 0  # the time Ps lost to them
        self._dil_by_n: dict[int, int] = {}

    # ---- 1. CPU capacity -------------------------------------------------------------------
    def dil_for(self, n: int) -> int:
        """The stretch, in 1/DIL_ONE units, of a P's work when ``n`` Ps run: max(1, n / host_cpus)."""
        d = self._dil_by_n.get(n)
        if d is None:
            d = max(DIL_ONE, -(-(n << DIL_SHIFT) * 1000 // int(round(self.cpus * 1000))))
            self._dil_by_n[n] = d
        return d

    def running_at(self, t: int, ps: Iterable[P]) -> int:
        """How many of ``ps`` (the Ps on the driver's run heap, and the one about to step) hold
        a CPU at ``t``: running, and not inside a stall."""
        n = 0
        for q in ps:
            if q.status == P_RUNNING and not (q.stall_from <= t < q.stall_until):
                n += 1
        return n

    # ---- 2. M wake-up stalls ---------------------------------------------------------------
    def wakeup_stall(self, p: P, where: str) -> int:
        """The G on ``p`` (the coordinator, in the seed workload) has woken another P's M or been
        woken by one (``where`` names the point).  Returns the ns ``p`` lost, already added to its
        clock."""
        if not self.stack_on:
            return 0
        rng = self.sched.rng
        if rng.random() >= self.prob:
            return 0
        ns = 1 + int(rng.expovariate(1.0 / self.mean_ns))
        t = p.clock
        if t + ns <= t:
            raise Throw("host: a stall must move the P's clock forwards")
        p.clock = t + ns
        p.stall_from = t
        p.stall_until = t + ns
        p.t_stolen += ns
        self.nstall += 1
        self.stolen_ns += ns
        bus = self.sched.bus
        if bus.on:
            g = p.curg
            bus.emit(MStall(t, p.id, g.id if g is not None else -1, ns, where))
        return ns
