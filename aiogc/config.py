"""Runtime configuration: ``Config`` fields, the Go environment variables, validation.

Precedence, as in Go: an explicit ``Config`` field beats the environment variable
(``GOMAXPROCS``, ``GOGC``, ``GODEBUG``), which beats the default.  Every field is
validated at construction; a bad value raises ``ConfigError`` naming the field,
the value and what is allowed.

The ``cost_*`` fields are the virtual driver's model of what each operation costs,
in integer nanoseconds.  They only matter in virtual time; the wall driver measures
real time.  Four are calibrated from real Go's own phase timings and allocation rate on
the seed workload at GOMAXPROCS=1 (``aiogc/data/realgo.csv``, the seed, 180 cycles: one P, so
no stop-the-world waits on another thread and no OS contention between Ps; see
docs/realgo.md, "Calibration"):

  cost_scan_word_ns   5 ns: real Go's mark CPU (assist + background + idle, p50 0.47 ms,
                      mean 0.51 ms) per 8 bytes of scan work (~103k words a cycle: the
                      1 KiB pointer-word nodes of a ~4 MB marked heap; the pointer-free
                      leaves are greyed, not scanned).  So it is every per-object and
                      per-pointer cost of marking, per word scanned, not a word's load.
  cost_stw_ns         2 µs each way: sweep termination (stop the world, finish sweep,
                      start the cycle, start the world) took 4 µs (p50 and mean).
  cost_root_scan_ns   40 µs per markroot pass: the scan phase took 42 µs (p50; mean 51)
                      and mark termination 42 µs (p50; mean 50), of which the goroutine
                      stacks are ~2 µs in the model; the rest is markroot's fixed jobs
                      (data and bss, finalizers, the walk over every span's specials, the
                      mcache flush), charged once in the scan and once in mark termination.
  cost_alloc_kib_ns   58 ns per KiB of each new object: mallocgc's work that scales with size
                      (zeroing a needzero span's slot, setting the heap bitmap).  Over a run
                      real Go allocated 1.95 MB per ms (3 runs: the bytes from each cycle's
                      marked heap to the next one's heap at mark termination, over the time
                      between the cycles' starts); the model 2.19 without this cost, 1.95 with.

Two more come from real Go's phase timings at GOMAXPROCS=2 without the fix, where the heap
reached GBs (``aiogc/data``, the parent, 575 cycles; docs/realgo.md, "Calibration"):

  cost_span_walk_ns   8 ns per span struct per walk over ``h_allspans`` (``finishsweep_m`` in
                      sweep termination, markroot's ``_RootSpans`` in the scan and again in
                      mark termination, ``gcSweep``'s pages-to-sweep count): sweep termination
                      took 8.2 ns and the scan 8.6 ns per span of the peak heap (p50 over the
                      cycles with more than 50k spans), mark termination 16.0 (two walks).
                      One cache miss per span struct: the walk is memory-bound.
  span_walk_cached    12,000 spans walked for free per walk: a walk over fewer span structs
                      stays in the cache, and costs nothing the fixed constants above do not
                      already hold (at GOMAXPROCS=1 real Go walked ~2,700 spans in a 4 µs
                      sweep termination).  Fitted: the best of 0-64k on the same cycles; the
                      seed's phases (up to 16k spans, held out) show no span dependence.
  cost_page_fault_ns  2.6 µs per 4 KiB page the heap takes beyond its largest size so far (Go
                      1.5 keeps what it maps; fresh memory faults on first touch).  The parent's
                      36 mark phases longer than 1 s, while the heap grew to GBs, allocated at
                      1.85 GB/s (median; 0.5-3.5) where the model without the charge allocates
                      4.6 GB/s: 2 producers x (1/1.85 - 1/4.6) ns/byte x 4096 bytes.  That is
                      the cost on a model machine with a whole CPU per P (the default); on the
                      measured machine modelled (``HOSTS["realgo-vm"]``: two Ps share one CPU's
                      time) the same fit leaves 216 ns per page, which that host sets.

One is measured on a machine of the kind real Go ran on (a 2-vCPU AMD EPYC Firecracker VM):

  cost_typedmemmove_ns  6 ns per element of a pointer slice that ``copy`` copies while the write
                      barrier is on.  Go 1.5 compiles ``copy`` of a slice of pointers into
                      ``typedslicecopy``, which with ``writeBarrierEnabled`` calls ``typedmemmove``
                      once per element (an 8-byte ``memmove`` and a ``heapBitsBulkBarrier`` that
                      finds the destination outside the arena and off the stack), instead of one
                      ``memmove``.  ``recordspan``'s copy of ``h_allspans`` is such a copy, so
                      growing the list in a mark phase costs this per span struct (collector/cycle.py
                      ``_grow_allspans``).  ``bench/native/typedslicecopy.c`` mirrors that call chain
                      (a call per Go function, each with Go's stack-check prologue) on a prefaulted
                      destination: 6.0 ns per element compiled without optimisation, the nearest to
                      Go 1.5's code (its arguments and the closure's captured variables live in
                      memory), 3.3 ns with -O2; one ``memmove`` of the same bytes takes 0.2 ns per
                      element.
  cost_sysalloc_page_ns  1.7 µs per 4 KiB page of ``h_allspans`` that ``recordspan`` copies: the
                      first touch of the page of the new array (``sysAlloc``: 1.4 µs measured by
                      the same program, at every array size from 3.8 to 19 MB) and the ``sysFree``
                      of the old array's page (0.3 µs; Go skips it for the array cached at the last
                      mark termination, which the model does not).  Heap memory faults the same way, but the
                      heap's constant above is a fit's residual (216 ns on ``realgo-vm``) that
                      also absorbs whatever else the model gets wrong about a lock-in's growth,
                      so it is not used for the array.  On memory the VM had not touched before, the
                      first touch measures 8-9.5 µs a page.

The others are round numbers of the right order (a goroutine switch ~200 ns, a small
malloc ~30 ns), not measured on any one machine.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from aiogc.errors import ConfigError

MAX_GOMAXPROCS = 256  # Go's _MaxGomaxprocs (1 << 8)

_GODEBUG_KEYS = {
    "gctrace": "0, 1 or 2: print one line per GC cycle on stderr",
    "gcpacertrace": "0 or 1: print the pacer's lines",
    "gccheckmark": "0 or 1: verify concurrent mark with a stop-the-world re-mark",
    "schedtrace": "N ms: print SCHED lines every N ms",
    "scheddetail": "0 or 1: detailed schedtrace",
}


def _env_gomaxprocs() -> int:
    raw = os.environ.get("GOMAXPROCS")
    if raw is None or raw == "":
        return min(os.cpu_count() or 1, MAX_GOMAXPROCS)
    try:
        n = int(raw)
    except ValueError:
        raise ConfigError("GOMAXPROCS", raw, "a positive integer up to 256") from None
    if n <= 0:
        # Go ignores GOMAXPROCS <= 0 and uses ncpu; we reject it so a typo is seen.
        raise ConfigError("GOMAXPROCS", raw, "a positive integer up to 256")
    return min(n, MAX_GOMAXPROCS)


def parse_gogc(raw: object, field_name: str = "gogc") -> int | None:
    """Parse a GOGC value: a non-negative percentage, or ``off``/``None``/-1 for no GC."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise ConfigError(field_name, raw, "a non-negative integer percentage, or 'off'")
    if isinstance(raw, str):
        s = raw.strip().lower()
        if s == "off":
            return None
        try:
            raw = int(s)
        except ValueError:
            raise ConfigError(field_name, raw, "a non-negative integer percentage, or 'off'") from None
    if not isinstance(raw, int):
        raise ConfigError(field_name, raw, "a non-negative integer percentage, or 'off'")
    if raw < 0:
        if raw == -1:
            return None  # Go's SetGCPercent(-1) is GOGC=off
        raise ConfigError(field_name, raw, "a non-negative integer percentage, or 'off'")
    return raw


def _env_gogc() -> int | None:
    raw = os.environ.get("GOGC")
    if raw is None or raw == "":
        return 100
    return parse_gogc(raw, "GOGC")


_warned_godebug: set[str] = set()


def _warn_unknown_godebug(key: str) -> None:
    """Go ignores GODEBUG keys it does not know; aiogc too, with one line on stderr per key."""
    if key in _warned_godebug:
        return
    _warned_godebug.add(key)
    allowed = ", ".join(sorted(_GODEBUG_KEYS))
    sys.stderr.write(f"aiogc: warning: GODEBUG key {key!r} is not modelled and is ignored (known: {allowed})\n")


def parse_godebug(raw: str, field_name: str = "godebug") -> dict[str, int]:
    """Parse ``GODEBUG`` (``k=v,k=v``) into ints.  Unknown keys are ignored, as Go ignores them, with
    a one-line warning on stderr (once per key); a known key with a non-integer value raises."""
    out: dict[str, int] = {}
    if not raw:
        return out
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise ConfigError(field_name, raw, f"comma-separated key=value pairs; got {part!r}")
        k, v = part.split("=", 1)
        k = k.strip()
        if k not in _GODEBUG_KEYS:
            _warn_unknown_godebug(k)
            continue
        try:
            iv = int(v)
        except ValueError:
            raise ConfigError(field_name, raw, f"{k} takes an integer ({_GODEBUG_KEYS[k]})") from None
        if iv < 0:
            raise ConfigError(field_name, raw, f"{k} must be >= 0")
        out[k] = iv
    return out


_UNSET: Any = object()

_TRUE = frozenset({"true", "on", "yes", "1"})
_FALSE = frozenset({"false", "off", "no", "0"})


def parse_bool(name: str, raw: str) -> bool:
    """``true/false``, ``on/off``, ``yes/no`` or ``1/0`` (any case); ``ConfigError`` naming ``name``."""
    s = raw.strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise ConfigError(name, raw, "true/false, on/off, yes/no or 1/0")


# The July 2015 series of golang/go runtime commits the model can be set to (``Config.go_commit``).
# Each point is its parent plus one change; the per-commit switches below are what each change did.
# Names: the short hash, the full hash (or any prefix of at least 7 hex digits), or the label.
GO_SERIES: tuple[tuple[str, str, str], ...] = (
    ("parent", "4f188c2d1c88d68d3f74a82c148cde804573d691", "before the seed: no yield after an assist completes"),
    ("seed", "500c88d40db6798dddf181f39b6148415544ef94", "yield to the GC coordinator after assist completion"),
    ("retry", "8f34b25318e712a18c3847bb1cc3e8d87076c211", "retry a GC assist until its debt is paid off"),
    ("nostart", "64a32ffeee0003a6ead15a890016fea3187fabb1",
     "no workers between mark 1 & 2; the scheduler signals completion; mark 2 always waited for"),
    ("asap", "510fd1350d039d9c70b2411f3873db9bb86ae0eb", "enable GC assists ASAP (during the scan phase)"),
)
DEFAULT_GO_COMMIT = "500c88d4"

# The machines the host model (sched/host.py) knows, by name: the Config fields each sets.  "none"
# is the default machine: a CPU per P, an OS that never makes an M wait, and page faults at the
# effective cost calibrated without a host model (above).  "realgo-vm" is the 2-vCPU VM real Go
# was measured on (aiogc/data/README.md), calibrated from that data (docs/realgo.md,
# "Calibration"): its two vCPUs give the Ps one CPU's worth of time (the allocation rates at
# GOMAXPROCS 1 and 2 and of a P alone); one M's wake-up of another leaves the coordinator without a
# CPU in 7% of them, for 4 ms on average (the tails of the scan and ragged-barrier phases at
# GOMAXPROCS=2); and with the Ps' speed explicit, the parent's heap growth in its >1 s waits
# leaves 216 ns per fresh page for the faults themselves.
HOSTS: dict[str, dict[str, Any]] = {
    "none": {},
    "realgo-vm": {"host_cpus": 1.0, "host_stack_prob": 0.07, "host_stack_ns": 4_000_000, "cost_page_fault_ns": 216},
}

# The switches each series point turns on (a later point keeps its predecessors' changes).
# Field name -> (the index in GO_SERIES from which it is on, value when on, value before).
SERIES_SWITCHES: dict[str, tuple[int, Any, Any]] = {
    "yield_after_assist": (1, True, False),
    "assist_policy": (2, "retry", "seed"),
    "no_worker_after_complete": (3, True, False),
    "sched_complete": (3, True, False),
    "assist_in_scan": (4, True, False),
}


def resolve_go_commit(name: object, field_name: str = "go_commit") -> int:
    """The index in ``GO_SERIES`` of a series point given by label, short or full hash (prefix >= 7)."""
    allowed = ", ".join(f"{full[:8]} ({label})" for label, full, _ in GO_SERIES)
    if not isinstance(name, str):
        raise ConfigError(field_name, name, f"one of {allowed}")
    s = name.strip().lower()
    for i, (label, full, _) in enumerate(GO_SERIES):
        if s == label or (len(s) >= 7 and full.startswith(s)):
            return i
    raise ConfigError(field_name, name, f"one of {allowed}")


def go_commit_hash(cfg_value: str) -> str:
    """The 8-digit hash of the series point ``cfg_value`` names."""
    return GO_SERIES[resolve_go_commit(cfg_value)][1][:8]


@dataclass(frozen=True)
class Config:
    """Everything that shapes a run.  Same config and seed: same virtual-time trace.

    Scheduler:
      gomaxprocs  number of Ps (1..256); default $GOMAXPROCS, else the CPU count.
      clock       "virtual" (deterministic discrete-event time) or "wall" (real time, host loop).
      seed        seeds the run's single ``random.Random`` (steal victims, workloads).
      preempt_ns  sysmon's forcePreemptNS: a G running this long without rescheduling is preempted.
      runnext     what-if: False puts readied/new goroutines at the ring tail instead of ``runnext``.
      steal       what-if: False disables work stealing in findrunnable.
      chaos       probability (0 <= chaos < 1) that a goroutine about to resume is first sent to the
                  global queue tail: a random yield at every await that reached the scheduler, drawn
                  from the run's RNG (the pytest plugin's --aiogc-chaos); 0 = off, Go's behaviour.
    GC:
      gogc        GOGC percentage; None is GOGC=off (no automatic cycles).
      go_commit   the point of golang/go's July 2015 series the collector behaves as (default the
                  seed, 500c88d4): "4f188c2d"/"parent", "500c88d4"/"seed", "8f34b253"/"retry",
                  "64a32ffe"/"nostart", "510fd135"/"asap" (see GO_SERIES).  It sets the defaults
                  of the five switches below; a switch given explicitly overrides its commit.
      yield_after_assist  500c88d4, the seed fix: Gosched after an assist that completed a mark phase.
      assist_policy  "seed" | "retry" | "queue": what an assist that cannot pay its debt does
                  ("retry" is 8f34b253; "queue" is Go 1.6's assist queue, outside the series).
      no_worker_after_complete  64a32ffe: both mark signals start "done" and are cleared just
                  before each wait, so no background worker starts between mark 1 and mark 2
                  (the seed restarts workers until both phases are done); mark 2 is always waited for.
      sched_complete  64a32ffe: the scheduler itself signals completion when it finds no work
                  and no marker (at the seed only a marker that stops marking can).
      assist_in_scan  510fd135: assists are enabled from the start of the concurrent scan phase
                  (at the seed only from the mark phase, with the background workers).
      revise_on_alloc  1fb01a88 (Aug 2015, after the series): revise the assist ratio at every
                  allocation that can assist.  Off (every point of the series): at cycle start and
                  then every 10 ms from a runtime timer that timerproc runs (reviseTimer).
      dispose_to_full  e95bc5fe (29 July 2015, after the series): ``gcWork.dispose`` pushes a P's
                  cached grey buffer on the full list, where a write barrier cannot take it back;
                  False: on the partial list (``putpartial``), as every point of the series does.
                  A departure: True at every point, because with the seed's own putpartial the
                  model's fix-on coordinator waits 0.3 ms (p50) after an assist completes, real
                  Go's 1 µs (docs/realgo.md, "Where the model still differs").
      sweep_distance_floor  e30c6d64 (Aug 2015, after the series): next_gc at least the bytes
                  marked + 1 MiB x GOGC/100, room for concurrent sweep.  Off (every point of the
                  series): next_gc's only floor is heap_minimum, so a cycle that marked more than
                  next_gc (floating garbage) is followed at once by the next.
      workbuf_size   pointers per grey work buffer (Go 1.5: 24).
      heap_minimum   4 MiB in Go; scaled by GOGC/100.
    Host (virtual time; sched/host.py):
      host_cpus   the CPU time the machine gives the Ps, in CPUs: with n Ps running each runs at
                  min(1, host_cpus / n) of full speed (every cost and compute() stretched by the
                  inverse).  0 (default) = a full CPU for every P.
      host_stack_prob, host_stack_ns  the machine's OS: when the coordinator wakes another P's
                  M or is woken by one (the start of the world, the end of a forEachP wait), with
                  this probability the two Ms share one CPU and the coordinator's P loses an
                  exponential time of mean host_stack_ns.  0 (default) = an OS that gives every M
                  its own CPU at once.  ``HOSTS["realgo-vm"]`` sets these (and the page-fault cost)
                  for the 2-vCPU machine of the real-Go data.
    Observability:
      godebug     GODEBUG string (gctrace, gcpacertrace, gccheckmark, schedtrace, scheddetail).
    Model checking:
      sched_slowpath  run every goroutine switch through ``Sched.schedule``/``execute``/
                  ``gosched_impl`` instead of ``run_slice``'s inlined copies (same trace, slower);
                  default $AIOGC_SCHED_SLOWPATH=1, else False.  The tests run the scheduler
                  scenarios both ways and require identical event digests.
    """

    gomaxprocs: int = _UNSET
    gogc: int | None = _UNSET
    clock: str = "virtual"
    seed: int = 0
    preempt_ns: int = 10_000_000
    runnext: bool = True
    steal: bool = True
    chaos: float = 0.0
    go_commit: str = DEFAULT_GO_COMMIT
    yield_after_assist: bool = _UNSET
    assist_policy: str = _UNSET
    no_worker_after_complete: bool = _UNSET
    sched_complete: bool = _UNSET
    assist_in_scan: bool = _UNSET
    revise_on_alloc: bool = False
    sweep_distance_floor: bool = False
    dispose_to_full: bool = True
    workbuf_size: int = 24
    heap_minimum: int = 4 << 20
    godebug: str = _UNSET
    sched_slowpath: bool = _UNSET
    # Virtual-time cost model (integer ns).
    cost_switch_ns: int = 200  # schedule() + execute(): one goroutine switch
    cost_go_ns: int = 300  # newproc: creating a goroutine
    cost_ready_ns: int = 50  # ready()/runqput of another goroutine
    cost_chan_ns: int = 60  # a channel operation that does not block
    cost_alloc_ns: int = 30  # mallocgc fast path
    cost_alloc_slow_ns: int = 400  # mallocgc slow path (span refill, large object)
    cost_alloc_kib_ns: int = 58  # mallocgc, per KiB of the object: zeroing and heap bits (calibrated, see above)
    cost_wb_ns: int = 5  # a pointer write with the write barrier on
    cost_scan_word_ns: int = 5  # mark CPU per word of scan work (calibrated, see above)
    cost_stw_ns: int = 2_000  # stopping or starting the world, each (calibrated, see above)
    cost_root_scan_ns: int = 40_000  # markroot's non-stack roots, per pass (calibrated, see above)
    cost_span_walk_ns: int = 8  # per span struct, per walk over h_allspans (calibrated, see above)
    span_walk_cached: int = 12_000  # spans a walk covers from the cache (calibrated, see above)
    cost_page_fault_ns: int = 2_600  # first touch of a 4 KiB page the heap never held (calibrated, see above)
    cost_typedmemmove_ns: int = 6  # typedslicecopy with the write barrier on, per element (measured, see above)
    cost_sysalloc_page_ns: int = 1_700  # a page of a new h_allspans array: fault + sysFree of the old (measured)
    cost_steal_ns: int = 500  # one steal attempt across Ps
    sysmon_min_ns: int = 20_000  # sysmon's shortest sleep (20 µs)
    sysmon_max_ns: int = 10_000_000  # sysmon's longest sleep after backing off (10 ms)
    lookahead_ns: int = 2_000  # how far a P may run ahead of the next P in virtual time (0 = strict)
    # The machine under the Ps (sched/host.py); 0 = a CPU per P, and every M gets it at once.
    host_cpus: float = 0.0
    host_stack_prob: float = 0.0
    host_stack_ns: int = 0
    # Parsed GODEBUG (derived; not a constructor argument).
    debug: dict[str, int] = field(default_factory=dict, compare=False, repr=False, init=False)
    # The series switches given explicitly (not derived from go_commit); ``replace`` keeps only these,
    # so ``cfg.replace(go_commit=...)`` re-derives the others.
    explicit_switches: frozenset[str] = field(default=frozenset(), compare=False, repr=False, init=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        point = resolve_go_commit(self.go_commit)
        set_(self, "go_commit", GO_SERIES[point][1][:8])
        explicit = set()
        for name, (since, on, off) in SERIES_SWITCHES.items():
            if getattr(self, name) is _UNSET:
                set_(self, name, on if point >= since else off)
            else:
                explicit.add(name)
        set_(self, "explicit_switches", frozenset(explicit))
        if self.gomaxprocs is _UNSET:
            set_(self, "gomaxprocs", _env_gomaxprocs())
        if self.gogc is _UNSET:
            set_(self, "gogc", _env_gogc())
        else:
            set_(self, "gogc", parse_gogc(self.gogc))
        if self.sched_slowpath is _UNSET:
            set_(self, "sched_slowpath", os.environ.get("AIOGC_SCHED_SLOWPATH", "") == "1")
        if self.godebug is _UNSET:
            set_(self, "godebug", os.environ.get("GODEBUG", ""))
            set_(self, "debug", parse_godebug(self.godebug, "GODEBUG"))
        else:
            if not isinstance(self.godebug, str):
                raise ConfigError("godebug", self.godebug, "a string of key=value pairs")
            set_(self, "debug", parse_godebug(self.godebug))
        self._validate()

    def _validate(self) -> None:
        def int_field(name: str, lo: int, hi: int | None = None) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
                rng = f">= {lo}" if hi is None else f"between {lo} and {hi}"
                raise ConfigError(name, v, f"an integer {rng}")

        int_field("gomaxprocs", 1, MAX_GOMAXPROCS)
        if self.clock not in ("virtual", "wall"):
            raise ConfigError("clock", self.clock, "'virtual' or 'wall'")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError("seed", self.seed, "an integer")
        int_field("preempt_ns", 1)
        for name in ("runnext", "steal", "yield_after_assist", "no_worker_after_complete", "sched_complete",
                     "assist_in_scan", "sched_slowpath", "revise_on_alloc", "sweep_distance_floor",
                     "dispose_to_full"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(name, getattr(self, name), "True or False")
        if isinstance(self.chaos, bool) or not isinstance(self.chaos, int | float) or not 0 <= self.chaos < 1:
            raise ConfigError("chaos", self.chaos, "a probability, 0 <= chaos < 1")
        if self.assist_policy not in ("seed", "retry", "queue"):
            raise ConfigError("assist_policy", self.assist_policy, "'seed', 'retry' or 'queue'")
        int_field("workbuf_size", 2, 1 << 16)
        int_field("heap_minimum", 1)
        for f in dataclasses.fields(self):
            if f.name.startswith("cost_"):
                int_field(f.name, 0)
        int_field("span_walk_cached", 0)
        int_field("sysmon_min_ns", 1)
        int_field("lookahead_ns", 0)
        int_field("sysmon_max_ns", self.sysmon_min_ns)
        c = self.host_cpus
        if isinstance(c, bool) or not isinstance(c, int | float) or not (c == 0 or 0.1 <= c <= MAX_GOMAXPROCS):
            raise ConfigError("host_cpus", c, f"0 (a CPU per P), or a number of CPUs from 0.1 to {MAX_GOMAXPROCS}")
        p = self.host_stack_prob
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1:
            raise ConfigError("host_stack_prob", p, "a probability, 0 <= host_stack_prob <= 1")
        int_field("host_stack_ns", 0)

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes`` applied (and validated)."""
        kw = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        for name in SERIES_SWITCHES:
            if name not in self.explicit_switches:
                kw[name] = _UNSET  # derived from go_commit: re-derive from the (new) commit
        unknown = set(changes) - set(kw)
        if unknown:
            name = sorted(unknown)[0]
            raise ConfigError(name, changes[name], "not a Config field")
        kw.update(changes)
        return Config(**kw)

    @classmethod
    def make(cls, config: Config | None = None, **fields: Any) -> Config:
        """``config`` with ``fields`` overriding it; unknown field names raise ConfigError."""
        if config is None:
            names = {f.name for f in dataclasses.fields(cls) if f.init}
            for k, v in fields.items():
                if k not in names:
                    raise ConfigError(k, v, "not a Config field")
            return cls(**fields)
        return config.replace(**fields) if fields else config


def field_kind(name: str) -> str:
    """A settable Config field's kind: "bool", "int", "gogc" (a percentage or off) or "str";
    ``ConfigError`` if ``name`` is not one."""
    kinds = {"bool": "bool", "int": "int", "int | None": "gogc", "str": "str"}
    for f in dataclasses.fields(Config):
        if f.init and f.name == name:
            return kinds.get(str(f.type), "str")
    names = ", ".join(f.name for f in dataclasses.fields(Config) if f.init)
    raise ConfigError(name, "", f"not a Config field; the fields are: {names}")


def parse_assignment(spec: str) -> tuple[str, Any]:
    """``FIELD=VALUE`` (``run --set``) -> (field, typed value), typed from the Config field:
    booleans as ``parse_bool``, integers may contain ``_``, ``gogc`` takes ``off``.  The value is
    validated when the Config is built."""
    if "=" not in spec:
        raise ConfigError("set", spec, "FIELD=VALUE, e.g. yield_after_assist=false")
    name, raw = (x.strip() for x in spec.split("=", 1))
    kind = field_kind(name)
    if kind == "bool":
        return name, parse_bool(name, raw)
    if kind == "int":
        try:
            return name, int(raw)
        except ValueError:
            raise ConfigError(name, raw, "an integer") from None
    if kind == "gogc":
        return name, parse_gogc(raw, name)
    return name, raw
