"""The GC pacer: Go 1.5's ``gcControllerState`` (mgc.go), as pure functions plus one mutable record.

The pacer decides *when* a cycle starts (the trigger, ``next_gc``) and *how fast* the mutator must
help marking (the assist ratio), so that marking finishes when the heap reaches the GOGC goal while
the GC uses about 25 % of GOMAXPROCS.  The design is "Go 1.5 concurrent garbage collector pacing"
(golang.org/s/go15gcpacing); the notation below is that document's, as printed by gcpacertrace.

One cycle, end to end (model doc §2.3, §2.11, §3):

  sweep termination   ``start_cycle``   (gcResetMarkState + gcControllerState.startCycle)
      initial_heap_live = heap_live; zero the per-cycle counters;
      first cycle / tiny heap: if next_gc <= heap_minimum, fake
          heap_marked = heap_reachable = next_gc / (1 + trigger_ratio);
      heap_goal = heap_reachable + heap_reachable * GOGC / 100          (integer arithmetic);
      workers: dedicated = floor(0.25 * GOMAXPROCS), fractional goal = the remainder (< 1 P);
      revise().
  concurrent mark     ``revise``        (gcControllerState.revise)
      assist_ratio = heap_scan / max(heap_goal - initial_heap_live, 1 MiB)
      (scan work owed per byte allocated; go1.5 recomputes it whenever heap_scan/heap_live change).
  mark termination    ``end_cycle``     (gcControllerState.endCycle)  -- the trigger controller:
      h_g = GOGC/100,  h_a = heap_live / heap_marked - 1,  h_T = trigger_ratio,
      u_a = 0.25 + assist_time / (duration * GOMAXPROCS),
      e   = h_g - h_T - (u_a / u_g) * (h_a - h_T),
      trigger_ratio = clamp(h_T + 0.5 * e, 0, 0.95 * h_g).
  then                ``set_heap_stats_after_mark``     (gcMark steps 3-5)
      heap_reachable = bytes_marked - (heap_live - initial_heap_live), at least 0;
      next_gc = max(heap_minimum, heap_reachable * (1 + trigger_ratio))
                (and, with ``sweep_distance_floor`` -- e30c6d64, after the series -- at least
                bytes_marked + 1 MiB * GOGC / 100);
      heap_live = heap_marked = bytes_marked; heap_scan = scan_work.

  At every point of the July 2015 series next_gc has no floor but heap_minimum, so when the
  trigger ratio is 0 and the reachable estimate is under heap_minimum (the live heap is about
  heap_minimum and some of the cycle's allocation was never marked) next_gc is heap_minimum, the
  next cycle fakes heap_marked = heap_minimum (goal exactly 2 x heap_minimum at GOGC=100), and
  heap_live (the bytes marked, floating garbage included) is already past the trigger: the next
  cycle starts at the next span refill.  Real Go at the seed is in that state in 59% of its
  cycles (docs/realgo.md).

Invariants (checked by tests/test_pacer.py):
  * 0 <= trigger_ratio <= 0.95 * GOGC/100 after every ``end_cycle`` (GOGC on);
  * next_gc >= heap_minimum after ``set_heap_stats_after_mark``, and with ``sweep_distance_floor``
    also next_gc >= heap_live + 1 MiB * GOGC/100;
  * assist_ratio >= 0, and the heap distance it divides by is at least 1 MiB;
  * dedicated + fractional_goal == 0.25 * GOMAXPROCS, 0 <= fractional_goal < 1;
  * every formula is deterministic: no clock is read here, callers pass ``now_ns``.

The unit of scan work is the byte scanned (Go 1.5).  Sizes are integer bytes, times integer ns.

Departures from Go 1.5, all deliberate:
  * GOGC=off is ``gogc=None``.  Go keeps ``gcpercent = -1`` and lets ``uint64(gcpercent)`` wrap, so
    heapminimum, the goal and next_gc become huge (~1.8e17 bytes); the model uses
    ``HEAP_INFINITE = 2**64 - 1`` (Go 1.6+ wrote ``^uint64(0)`` explicitly).  A forced cycle under
    GOGC=off still goes through ``start_cycle`` (Go 1.5's forced modes skip startCycle/endCycle
    entirely): the goal is infinite, so the assist ratio is 0, and ``end_cycle`` leaves the trigger
    ratio alone (Go would clamp it to 0.95 * -0.01).
  * Division by zero (heap_marked == 0 with GOGC=0, or a zero duration) gives IEEE inf/NaN as Go's
    float division does; a NaN controller output keeps the previous trigger ratio instead of
    poisoning it (Go would store NaN).
  * The seed's 10 ms revise timer and go1.5's revise-on-every-heap-lock are both left to the caller:
    ``revise`` is a method and the caller decides when to call it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = [
    "GC_GOAL_UTILIZATION",
    "TRIGGER_GAIN",
    "INITIAL_TRIGGER_RATIO",
    "MAX_TRIGGER_FRACTION",
    "GC_BG_CREDIT_SLACK",
    "GC_ASSIST_TIME_SLACK_NS",
    "MIN_HEAP_DISTANCE",
    "DEFAULT_HEAP_MINIMUM",
    "SWEEP_MIN_HEAP_DISTANCE",
    "HEAP_INFINITE",
    "heap_minimum",
    "heap_goal",
    "worker_goals",
    "assist_ratio",
    "utilization",
    "trigger_error",
    "update_trigger_ratio",
    "next_trigger",
    "heap_reachable",
    "fake_first_cycle_marked",
    "PacerState",
]

# ---------------------------------------------------------------------------------------------------
# Constants (mgc.go, go1.5)

GC_GOAL_UTILIZATION = 0.25
"""``gcGoalUtilization``: background mark CPU goal, as a fraction of GOMAXPROCS (u_g)."""

TRIGGER_GAIN = 0.5
"""``triggerGain`` (K_T): proportional gain of the trigger controller in ``endCycle``."""

INITIAL_TRIGGER_RATIO = 7 / 8
"""Initial ``gcController.triggerRatio``: the first cycle's guess of h_T."""

MAX_TRIGGER_FRACTION = 0.95
"""The trigger ratio is clamped to at most this fraction of the goal growth ratio GOGC/100."""

GC_BG_CREDIT_SLACK = 2000
"""``gcBgCreditSlack``: scan work a background worker accumulates before flushing to bgScanCredit."""

GC_ASSIST_TIME_SLACK_NS = 5000
"""``gcAssistTimeSlack``: per-P assist nanoseconds accumulated before flushing to assistTime."""

MIN_HEAP_DISTANCE = 1 << 20
"""Floor of the heap distance ``heapGoal - initialHeapLive`` in ``revise`` (1 MiB)."""

DEFAULT_HEAP_MINIMUM = 4 << 20
"""``defaultHeapMinimum``: the heap minimum at GOGC=100 (4 MiB)."""

SWEEP_MIN_HEAP_DISTANCE = 1 << 20
"""``sweepMinHeapDistance``: room left for concurrent sweep, scaled by GOGC/100 (commit e30c6d64,
3 Aug 2015: after the series, so off unless ``PacerState.sweep_distance_floor``)."""

HEAP_INFINITE = (1 << 64) - 1
"""``^uint64(0)``: the goal/trigger when GOGC=off ("never")."""


# ---------------------------------------------------------------------------------------------------
# Pure formulas


def _go_fdiv(a: float, b: float) -> float:
    """IEEE float division as Go does it: x/0 is +Inf or -Inf by sign, 0/0 is NaN (no exception)."""
    if b == 0.0:
        if a == 0.0 or math.isnan(a):
            return math.nan
        sign = math.copysign(1.0, a) * math.copysign(1.0, b)
        return math.inf if sign > 0 else -math.inf
    return a / b


def heap_minimum(gogc: int | None, base: int = DEFAULT_HEAP_MINIMUM) -> int:
    """The heap size below which no cycle is triggered: ``base * GOGC / 100`` (integer division).

    Models ``heapminimum = defaultHeapMinimum * uint64(gcpercent) / 100`` in ``setGCPercent``
    (mgc.go).  Departure: GOGC=off (``None``) returns ``HEAP_INFINITE``; Go's uint64 arithmetic on
    ``gcpercent = -1`` wraps to about 1.8e17 bytes instead.
    """
    if gogc is None:
        return HEAP_INFINITE
    if gogc < 0:
        raise ValueError(f"gogc must be >= 0 or None (off), got {gogc}")
    return base * gogc // 100


def heap_goal(heap_reachable: int, gogc: int | None) -> int:
    """The heap size at which marking should finish: ``r + r * GOGC / 100`` (integer arithmetic).

    Models ``c.heapGoal = heap_reachable + heap_reachable*uint64(gcpercent)/100`` in
    ``gcControllerState.startCycle`` (go1.5).  Note the base is heap_reachable, not heap_marked
    (issue #12204); Go 1.6 also raises the goal to at least heap_live + 1 MiB, go1.5 does not.
    GOGC=off returns ``HEAP_INFINITE``.
    """
    if gogc is None:
        return HEAP_INFINITE
    return heap_reachable + heap_reachable * gogc // 100


def worker_goals(gomaxprocs: int) -> tuple[int, float, int]:
    """Split the 25 % mark utilisation goal into ``(dedicated, fractional_goal, fractional_needed)``.

    Models the worker computation of ``gcControllerState.startCycle`` (go1.5, same in go1.6):
    ``total = GOMAXPROCS * 0.25``; ``dedicated = floor(total)``; ``fractional_goal = total -
    dedicated`` (a fraction of one P's time); one fractional worker token iff that is positive.
    E.g. 1 -> (0, 0.25, 1), 2 -> (0, 0.5, 1), 4 -> (1, 0.0, 0), 6 -> (1, 0.5, 1), 8 -> (2, 0.0, 0).
    This is *not* the later ``floor(total + 0.5)`` rounding.
    """
    if gomaxprocs < 1:
        raise ValueError(f"gomaxprocs must be >= 1, got {gomaxprocs}")
    total = float(gomaxprocs) * GC_GOAL_UTILIZATION
    dedicated = int(total)
    fractional_goal = total - float(dedicated)
    fractional_needed = 1 if fractional_goal > 0 else 0
    return dedicated, fractional_goal, fractional_needed


def assist_ratio(scan_work_expected: int, heap_goal: int, initial_heap_live: int) -> float:
    """Scan work a mutator owes per byte it allocates during this cycle.

    Models ``gcControllerState.revise`` (seed and go1.5): ``heapDistance = heapGoal -
    initialHeapLive``, raised to 1 MiB if it is smaller (it can be negative when the cycle started
    late or the trigger is close to the goal); ``assistRatio = scanWorkExpected / heapDistance``,
    where the caller passes ``heap_scan`` as the expected work (a deliberate upper bound).
    Go 1.6 instead divides the *remaining* work by the *remaining* distance.
    """
    distance = heap_goal - initial_heap_live
    if distance <= MIN_HEAP_DISTANCE:
        distance = MIN_HEAP_DISTANCE
    return float(scan_work_expected) / float(distance)


def utilization(assist_time_ns: int, duration_ns: int, gomaxprocs: int) -> float:
    """The cycle's measured GC CPU utilisation u_a.

    Models ``endCycle``: background marking is *assumed* to have met its 25 % goal, and only the
    assists are measured: ``u_a = 0.25 + assistTime / (duration * GOMAXPROCS)``; nothing is added
    when ``duration <= 0`` (Go's divide-by-zero guard).  The seed measures the duration from the
    start of background mark; go1.5 from when assists were enabled (commit e3870aa6).
    """
    u = GC_GOAL_UTILIZATION
    if duration_ns > 0:
        u += float(assist_time_ns) / float(duration_ns * gomaxprocs)
    return u


def trigger_error(h_g: float, h_t: float, h_a: float, u_a: float, u_g: float = GC_GOAL_UTILIZATION) -> float:
    """The trigger controller's error: ``e = h_g - h_T - (u_a / u_g) * (h_a - h_T)``.

    Models ``triggerError`` in ``gcControllerState.endCycle``: the actual heap growth during mark,
    scaled by how far the CPU utilisation was from its goal, compared with the goal growth.
    Worked examples (GOGC=100, h_T=0.875): h_a=0.9, u_a=0.25 -> +0.1; h_a=1.10, u_a=0.40 -> -0.235.
    """
    return h_g - h_t - u_a / u_g * (h_a - h_t)


def update_trigger_ratio(trigger_ratio: float, error: float, gogc: int | None) -> float:
    """Next trigger ratio: ``h_T + 0.5 * e`` clamped to ``[0, 0.95 * GOGC/100]``.

    Models the end of ``gcControllerState.endCycle`` (the bound is computed as Go does,
    ``float64(gcpercent)/100 * 0.95``).  Departures: GOGC=off (``None``) returns the ratio
    unchanged (Go would clamp it to 0.95 * -0.01); a NaN result (0/0 growth with GOGC=0 and an
    empty heap) also keeps the old ratio, where Go would store NaN.
    """
    if gogc is None:
        return trigger_ratio
    r = trigger_ratio + TRIGGER_GAIN * error
    if math.isnan(r):
        return trigger_ratio
    goal_growth_ratio = float(gogc) / 100
    if r < 0:
        r = 0.0
    elif r > goal_growth_ratio * MAX_TRIGGER_FRACTION:
        r = goal_growth_ratio * MAX_TRIGGER_FRACTION
    return r


def next_trigger(
    heap_reachable: int,
    trigger_ratio: float,
    heap_minimum: int,
    heap_live: int | None = None,
    gogc: int | None = None,
) -> int:
    """The heap_live at which the next cycle starts (Go 1.5's ``memstats.next_gc``).

    Models ``gcMark`` step 4 (mgc.go): ``next_gc = uint64(float64(heap_reachable) * (1 +
    triggerRatio))`` (truncated), at least ``heapminimum``; and, when ``heap_live`` and ``gogc`` are
    given, at least ``heap_live + sweepMinHeapDistance * GOGC / 100`` (go1.5's sweep-distance floor,
    commit e30c6d64).  Go applies that floor *after* setting ``heap_live = bytesMarked``, so
    ``PacerState.set_heap_stats_after_mark`` passes the new heap_live (the bytes marked), not the heap at mark
    termination.
    """
    t = int(float(heap_reachable) * (1.0 + trigger_ratio))
    if t < heap_minimum:
        t = heap_minimum
    if heap_live is not None and gogc is not None:
        sweep_min = heap_live + SWEEP_MIN_HEAP_DISTANCE * gogc // 100
        if t < sweep_min:
            t = sweep_min
    return t


def heap_reachable(bytes_marked: int, heap_live: int, initial_heap_live: int) -> int:
    """Estimate of the heap reachable at the end of this cycle.

    Models ``gcMark`` step 3: ``allocatedDuringCycle = heap_live - initialHeapLive``;
    ``heap_reachable = bytesMarked - allocatedDuringCycle`` if that is not negative, else 0.  The
    estimate assumes everything allocated during the cycle was marked (allocate-black).  If
    heap_live were below initial_heap_live, Go's unsigned subtraction would wrap and yield 0; so
    does this function.
    """
    allocated = heap_live - initial_heap_live
    if allocated < 0 or bytes_marked < allocated:
        return 0
    return bytes_marked - allocated


def fake_first_cycle_marked(next_gc: int, trigger_ratio: float) -> int:
    """The heap_marked / heap_reachable faked on the first cycle (or any cycle on a tiny heap).

    Models ``startCycle``'s ``heap_marked = uint64(float64(next_gc) / (1 + triggerRatio))``, used
    when ``next_gc <= heapminimum`` so that the trigger looks like the right growth from the
    marked heap.  E.g. 4 MiB / 1.875 = 2236962 bytes, giving a 4473924-byte (4 MB) goal.
    """
    return int(float(next_gc) / (1.0 + trigger_ratio))


# ---------------------------------------------------------------------------------------------------
# The controller record


@dataclass
class PacerState:
    """Mutable pacer state: Go 1.5's ``gcController`` plus the memstats fields it reads and writes.

    Field names are Go's in snake_case (``next_gc`` is the trigger, Go 1.5's ``memstats.next_gc``;
    ``heap_goal`` is ``gcController.heapGoal``).  Construction models ``gcinit``/``setGCPercent``:
    ``heap_minimum`` is derived from ``gogc`` and, unless given, ``next_gc`` starts at it.
    ``gomaxprocs`` may be changed by the caller between cycles (procresize).
    """

    gogc: int | None = 100
    gomaxprocs: int = 1
    trigger_ratio: float = INITIAL_TRIGGER_RATIO
    heap_marked: int = 0
    heap_reachable: int = 0
    heap_scan: int = 0
    next_gc: int = -1  # -1: not given, gcinit sets it to heap_minimum
    heap_goal: int = 0
    initial_heap_live: int = 0
    scan_work: int = 0
    bg_scan_credit: int = 0
    assist_time_ns: int = 0
    dedicated_mark_time_ns: int = 0
    fractional_mark_time_ns: int = 0
    idle_mark_time_ns: int = 0
    dedicated_needed: int = 0
    fractional_needed: int = 0
    fractional_goal: float = 0.0
    assist_ratio: float = 0.0
    bg_mark_start_ns: int = 0
    heap_minimum: int = -1  # -1: derive from gogc
    heap_minimum_base: int = DEFAULT_HEAP_MINIMUM  # the unscaled minimum (Config.heap_minimum)
    sweep_distance_floor: bool = False  # e30c6d64's next_gc floor (Config.sweep_distance_floor)

    def __post_init__(self) -> None:
        """Models ``gcinit``: heapminimum from GOGC, and ``next_gc = heapminimum`` initially."""
        if self.gogc is not None and self.gogc < 0:
            self.gogc = None
        if self.gomaxprocs < 1:
            raise ValueError(f"gomaxprocs must be >= 1, got {self.gomaxprocs}")
        if self.heap_minimum < 0:
            self.heap_minimum = heap_minimum(self.gogc, self.heap_minimum_base)
        if self.next_gc < 0:
            self.next_gc = self.heap_minimum

    # -- cycle start ---------------------------------------------------------------------------

    def start_cycle(self, heap_live: int, now_ns: int) -> dict[str, Any]:
        """Reset the controller for a new cycle and compute its goal, workers and assist ratio.

        Models, at sweep termination with the world stopped: ``gcResetMarkState``'s
        ``initialHeapLive = heap_live``, then ``gcControllerState.startCycle`` (zero the counters;
        the first-cycle fake when ``next_gc <= heapminimum``; ``heapGoal``; the dedicated /
        fractional worker split; ``revise``).  Also records ``now_ns`` as ``bg_mark_start_ns``;
        Go sets ``bgMarkStartTime`` later, in ``gcBgMarkPrepare`` -- call ``bg_mark_prepare`` then
        to be exact.  Returns the values go1.5's gcpacertrace prints at cycle start (the fields of the
        ``GCPacerStart`` event; ``aiogc.trace.pacertrace`` prints them).

        GOGC=off (a forced cycle): the fake is skipped, the goal is ``HEAP_INFINITE`` and the
        assist ratio 0, i.e. mutators never owe assists.  Go 1.5 does not call startCycle for
        forced cycles at all.
        """
        self.initial_heap_live = heap_live
        self.scan_work = 0
        self.bg_scan_credit = 0
        self.assist_time_ns = 0
        self.dedicated_mark_time_ns = 0
        self.fractional_mark_time_ns = 0
        self.idle_mark_time_ns = 0

        if self.gogc is not None and self.next_gc <= self.heap_minimum:
            self.heap_marked = fake_first_cycle_marked(self.next_gc, self.trigger_ratio)
            self.heap_reachable = self.heap_marked

        self.heap_goal = heap_goal(self.heap_reachable, self.gogc)
        if self.gogc is not None and self.heap_goal < self.heap_minimum:
            # Departure: Go 1.5 had no floor here, and after a cycle that allocated more than it
            # marked its heap_reachable estimate (bytes marked minus bytes allocated during the
            # cycle, the #12204 mismatch) reaches 0, and so does the goal: every later heap
            # "overshoots" an empty goal.  We floor the goal at the GOGC-scaled heap minimum,
            # as the trigger is floored (Go 1.6 floors it at heap_live + 1 MiB).
            self.heap_goal = self.heap_minimum
        self.dedicated_needed, self.fractional_goal, self.fractional_needed = worker_goals(self.gomaxprocs)
        self.bg_mark_start_ns = now_ns
        self.revise(heap_live)
        return {
            "assist_ratio": self.assist_ratio,
            "heap_scan": self.heap_scan,
            "initial_heap_live": self.initial_heap_live,
            "heap_goal": self.heap_goal,
            "dedicated": self.dedicated_needed,
            "fractional": self.fractional_needed,
        }

    def bg_mark_prepare(self, now_ns: int) -> None:
        """Record the start of background marking: ``gcBgMarkPrepare``'s ``bgMarkStartTime = now``."""
        self.bg_mark_start_ns = now_ns

    def revise(self, heap_live: int | None = None) -> float:
        """Recompute and return the assist ratio from the current ``heap_scan``.

        Models ``gcControllerState.revise`` (seed, go1.5): ``heap_scan / max(heapGoal -
        initialHeapLive, 1 MiB)``.  The seed calls it at cycle start and from a 10 ms timer; go1.5
        whenever heap_scan or heap_live change (commit 1fb01a88); the caller chooses.
        ``heap_live`` is accepted for Go 1.6's remaining-distance form and unused by the go1.5
        formula.  GOGC=off gives 0 (departure: Go divides by a huge wrapped goal, giving ~0).
        """
        del heap_live  # go1.5's distance is from initial_heap_live, not the current heap
        if self.gogc is None:
            self.assist_ratio = 0.0
        else:
            self.assist_ratio = assist_ratio(self.heap_scan, self.heap_goal, self.initial_heap_live)
        return self.assist_ratio

    # -- cycle end -----------------------------------------------------------------------------

    def end_cycle(self, heap_live: int, now_ns: int) -> dict[str, Any]:
        """Run the trigger controller at the start of mark termination; return gcpacertrace values.

        Models ``gcControllerState.endCycle`` at the seed: ``h_a = heap_live / heap_marked - 1``
        with the *previous* cycle's heap_marked; ``duration = now - bgMarkStartTime`` (to model
        go1.5's "since assists were enabled", set ``bg_mark_start_ns`` to that instant);
        ``u_a``, the error and the clamped update of ``trigger_ratio``.  The returned dict holds
        what the ``pacer:`` line prints (``H_m_prev``, ``h_t`` (the ratio *used*), ``H_T`` (this
        cycle's trigger), ``h_a``, ``H_a``, ``h_g``, ``H_g = int(H_m_prev * (1 + h_g))``, ``u_a``,
        ``u_g``, ``W_a``, ``goal_delta``, ``actual_delta``, ``u_a_over_u_g``) plus
        ``trigger_error``, ``trigger_ratio`` (the new one) and ``duration_ns``.

        GOGC=off: h_g is printed as Go would (gcpercent -1 -> -0.01) but the ratio is unchanged.
        """
        h_t = self.trigger_ratio
        gcpercent = -1 if self.gogc is None else self.gogc
        h_g = float(gcpercent) / 100
        h_a = _go_fdiv(float(heap_live), float(self.heap_marked)) - 1
        duration = now_ns - self.bg_mark_start_ns
        u_a = utilization(self.assist_time_ns, duration, self.gomaxprocs)
        e = trigger_error(h_g, h_t, h_a, u_a)
        self.trigger_ratio = update_trigger_ratio(h_t, e, self.gogc)
        return {
            "H_m_prev": self.heap_marked,
            "h_t": h_t,
            "H_T": self.next_gc,
            "h_a": h_a,
            "H_a": heap_live,
            "h_g": h_g,
            "H_g": int(float(self.heap_marked) * (1 + h_g)),
            "u_a": u_a,
            "u_g": GC_GOAL_UTILIZATION,
            "W_a": self.scan_work,
            "goal_delta": h_g - h_t,
            "actual_delta": h_a - h_t,
            "u_a_over_u_g": u_a / GC_GOAL_UTILIZATION,
            "trigger_error": e,
            "trigger_ratio": self.trigger_ratio,
            "duration_ns": duration,
        }

    def set_heap_stats_after_mark(self, bytes_marked: int, heap_live: int, scan_work: int) -> int:
        """Update the heap statistics after the mark-termination mark; return the new heap_live.

        Not Go's ``gcMarkDone`` (the completion of a mark phase: ``Collector.gc_mark_done``): this is
        the heap-statistics step at the end of ``gcMark``.

        Models ``gcMark`` steps 3-5 (mgc.go, go1.5): ``heap_reachable`` from the bytes marked minus
        the bytes allocated during the cycle (``heap_live - initial_heap_live``); ``next_gc`` =
        ``heap_reachable * (1 + trigger_ratio)`` with the heap-minimum floor -- and, only with
        ``sweep_distance_floor`` (e30c6d64, Aug 2015, after the series), the sweep floor
        ``bytes_marked + 1 MiB * GOGC/100`` (Go computes it after ``heap_live = bytesMarked``);
        ``heap_marked = bytes_marked``; ``heap_scan = scan_work`` (also stored as ``scan_work``).
        GOGC=off leaves ``next_gc = HEAP_INFINITE``.  Must follow ``end_cycle`` (which reads the
        previous heap_marked) as in Go.
        """
        self.heap_reachable = heap_reachable(bytes_marked, heap_live, self.initial_heap_live)
        if self.gogc is None:
            self.next_gc = HEAP_INFINITE
        else:
            self.next_gc = next_trigger(
                self.heap_reachable,
                self.trigger_ratio,
                self.heap_minimum,
                heap_live=bytes_marked if self.sweep_distance_floor else None,
                gogc=self.gogc,
            )
        self.heap_marked = bytes_marked
        self.heap_scan = scan_work
        self.scan_work = scan_work
        return bytes_marked

    def set_gc_percent(self, n: int | None) -> int | None:
        """Set GOGC (negative or ``None`` = off); return the old value.

        Models the runtime half of ``debug.SetGCPercent``, go1.5's ``setGCPercent``: only
        ``gcpercent`` and ``heapminimum`` change; ``next_gc`` is *not* recomputed (Go 1.9+ does).
        Go 1.5's ``runtime/debug.SetGCPercent`` then forced a collection, which recomputes it
        **[unverified for go1.5]**; a caller switching GOGC from off to on should do the same, or
        ``next_gc`` stays infinite.
        """
        old = self.gogc
        self.gogc = None if n is None or n < 0 else n
        self.heap_minimum = heap_minimum(self.gogc, self.heap_minimum_base)
        return old
