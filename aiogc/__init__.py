"""aiogc: an executable model of Go's goroutine scheduler and concurrent GC, on asyncio."""

from aiogc.collector.heap import Ref, Weak
from aiogc.config import Config
from aiogc.errors import (
    ChanClosed,
    CheckmarkError,
    ConfigError,
    Deadlock,
    GoroutinePanic,
    NotInGoroutine,
    RuntimeEnded,
    UseAfterFree,
)
from aiogc.loop import EventLoopPolicy, Loop, install, new_event_loop
from aiogc.runtime import (
    Runtime,
    alloc,
    compute,
    current_g,
    current_p,
    current_runtime,
    gc,
    globals,
    go,
    gomaxprocs,
    gosched,
    read_mem_stats,
    run,
    set_gc_percent,
    weak,
)
from aiogc.sched.g import G
from aiogc.sched.p import P
from aiogc.sched.sync import Chan, Mutex, Recv, Send, WaitGroup, select
from aiogc.sched.timers import sleep
from aiogc.timers import Ticker, Timer, after, after_func, now, tick
from aiogc.trace.metrics import MemStats

__all__ = [
    "Config", "ConfigError", "Deadlock", "GoroutinePanic", "NotInGoroutine", "CheckmarkError", "UseAfterFree", "RuntimeEnded", "ChanClosed",
    "Ref", "Weak", "weak", "Runtime", "run", "go", "gosched", "compute", "current_g", "current_p", "current_runtime", "gomaxprocs",
    "alloc", "gc", "globals", "read_mem_stats", "set_gc_percent",
    "Chan", "Mutex", "WaitGroup", "Recv", "Send", "select", "sleep",
    "Loop", "EventLoopPolicy", "new_event_loop", "install",
    "Timer", "Ticker", "after", "after_func", "tick", "now", "G", "P", "MemStats",
]
