"""aiogc: an executable model of Go's goroutine scheduler and concurrent GC, on asyncio."""

from aiogc.config import Config
from aiogc.errors import (
    CheckmarkError,
    ConfigError,
    Deadlock,
    GoroutinePanic,
    NotInGoroutine,
    UseAfterFree,
)
from aiogc.runtime import (
    Runtime,
    compute,
    current_g,
    current_p,
    current_runtime,
    go,
    gomaxprocs,
    gosched,
    run,
)
from aiogc.sched.sync import Chan, Mutex, Recv, Send, WaitGroup, select

__all__ = [
    "Config", "ConfigError", "Deadlock", "GoroutinePanic", "NotInGoroutine", "CheckmarkError", "UseAfterFree",
    "Runtime", "run", "go", "gosched", "compute", "current_g", "current_p", "current_runtime", "gomaxprocs",
    "Chan", "Mutex", "WaitGroup", "Recv", "Send", "select",
]
