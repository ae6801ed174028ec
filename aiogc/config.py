"""Runtime configuration: ``Config`` fields, the Go environment variables, validation.

Precedence, as in Go: an explicit ``Config`` field beats the environment variable
(``GOMAXPROCS``, ``GOGC``, ``GODEBUG``), which beats the default.  Every field is
validated at construction; a bad value raises ``ConfigError`` naming the field,
the value and what is allowed.

The ``cost_*`` fields are the virtual driver's model of what each operation costs
on a 2015-era machine, in integer nanoseconds.  They only matter in virtual time;
the wall driver measures real time.  The defaults are round numbers of the right
order (a Go goroutine switch is ~150-250 ns, a small malloc ~20-50 ns, scanning a
pointer word ~1-2 ns as in the pacer's design simulator), chosen so the seed
experiment runs at realistic ratios, not measured on any one machine.
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
    GC:
      gogc        GOGC percentage; None is GOGC=off (no automatic cycles).
      yield_after_assist  the seed fix: Gosched after an assist that completed a mark phase.
      assist_policy  "seed" | "retry" | "queue": what an assist that cannot pay its debt does.
      workbuf_size   pointers per grey work buffer (Go 1.5: 24).
      heap_minimum   4 MiB in Go; scaled by GOGC/100.
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
    yield_after_assist: bool = True
    assist_policy: str = "seed"
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
    cost_wb_ns: int = 5  # a pointer write with the write barrier on
    cost_scan_word_ns: int = 2  # scanning one pointer-sized word (pacer simulator: 2 ns)
    cost_stw_ns: int = 20_000  # stopping or starting the world, each
    cost_steal_ns: int = 500  # one steal attempt across Ps
    sysmon_min_ns: int = 20_000  # sysmon's shortest sleep (20 µs)
    sysmon_max_ns: int = 10_000_000  # sysmon's longest sleep after backing off (10 ms)
    lookahead_ns: int = 2_000  # how far a P may run ahead of the next P in virtual time (0 = strict)
    # Parsed GODEBUG (derived; not a constructor argument).
    debug: dict[str, int] = field(default_factory=dict, compare=False, repr=False, init=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
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
        for name in ("runnext", "steal", "yield_after_assist", "sched_slowpath"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(name, getattr(self, name), "True or False")
        if self.assist_policy not in ("seed", "retry", "queue"):
            raise ConfigError("assist_policy", self.assist_policy, "'seed', 'retry' or 'queue'")
        int_field("workbuf_size", 2, 1 << 16)
        int_field("heap_minimum", 1)
        for f in dataclasses.fields(self):
            if f.name.startswith("cost_"):
                int_field(f.name, 0)
        int_field("sysmon_min_ns", 1)
        int_field("lookahead_ns", 0)
        int_field("sysmon_max_ns", self.sysmon_min_ns)

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes`` applied (and validated)."""
        kw = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
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
