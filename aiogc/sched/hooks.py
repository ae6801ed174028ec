"""The scheduler's interface to the collector: what ``sched/`` may ask of ``collector/``, and nothing more.

The scheduler knows the collector only through this protocol (Go's runtime is one package; the
calls below are where proc1.go calls into mgc.go):
  * ``find_runnable_gc_worker(p)``  ``schedule()``'s first step while ``gcBlackenEnabled``
                                    (``gcController.findRunnableGCWorker``);
  * ``find_idle_gc_worker(p)``      ``findrunnable``'s idle-GC-work step before idling the P;
  * ``init_p(p)`` / ``destroy_p(p)``  ``procresize``: a new P's per-P GC state (grey cache, mcache),
                                    and a removed P's (its background mark worker exits);
  * ``procresize(n)``               ``procresize`` changed GOMAXPROCS (the pacer's worker goals);
  * ``rescale(dil_num)``            the host model changed how fast the running Ps go: the
                                    collector's costs become base * dil_num / 1024 (sched/host.py).
``Sched.gc_blacken_enabled`` is the one flag the collector sets in the scheduler.  The collector,
in the layer above, imports the scheduler freely; the scheduler never imports ``aiogc.collector``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from aiogc.sched.g import G
    from aiogc.sched.p import P


class GCHooks(Protocol):
    def find_runnable_gc_worker(self, p: P) -> G | None: ...

    def find_idle_gc_worker(self, p: P) -> G | None: ...

    def init_p(self, p: P) -> None: ...

    def destroy_p(self, p: P) -> None: ...

    def procresize(self, n: int) -> None: ...

    def rescale(self, dil_num: int) -> None: ...
