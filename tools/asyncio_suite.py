"""Run CPython's own asyncio tests on aiogc's event loop policy: the peer suite.

    python tools/asyncio_suite.py                    # the full form: every module below, both clocks
    python tools/asyncio_suite.py --quick            # the quick form CI runs (a few modules)
    python tools/asyncio_suite.py --clock wall --modules test_locks,test_queues -v

The modules are CPython 3.11's ``test.test_asyncio`` modules built on
``unittest.IsolatedAsyncioTestCase`` or ``asyncio.run`` -- both get their loop from the
policy, so with ``asyncio.set_event_loop_policy(aiogc.EventLoopPolicy(clock=...))`` every
such test runs its coroutines as goroutines on Go's scheduler.  Some tests build their own
loop instead (test_tasks' ``TestLoop``-based classes): a test that never asked the aiogc
policy for a loop did not run on aiogc and is counted as ``own loop``, not as passed.

Each module runs in its own process (one aiogc runtime runs at a time per process, and
the modules reset the policy in ``tearDownModule``); the policy is set again before every
test.  A test still running after ``--test-timeout`` seconds of wall time is stopped and
counted as failed.  Output: one line per module and clock with passed/failed/skipped (and
``own loop``), then the totals; ``-v`` lists every failure with its first line.

Needs CPython's ``test`` package (``python -c "import test.test_asyncio"``); Debian's
python3.11 ships it separately as ``libpython3.11-testsuite``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

MODULES = ["test_locks", "test_queues", "test_timeouts", "test_taskgroups", "test_waitfor", "test_futures2",
           "test_tasks"]
QUICK = ["test_locks", "test_queues", "test_timeouts", "test_waitfor"]


def _parse_fields(pairs: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` Config fields: ints, true/false, else strings."""
    out: dict[str, Any] = {}
    for pair in pairs:
        name, _, raw = pair.partition("=")
        val: Any = raw
        if raw.lower() in ("true", "false"):
            val = raw.lower() == "true"
        elif raw.lstrip("-").isdigit():
            val = int(raw)
        out[name] = val
    return out


def _child(module: str, clock: str, gomaxprocs: int, timeout: float, fields: dict[str, Any]) -> dict[str, Any]:
    """Run one module in this process; return its counts and failures."""
    import asyncio
    import signal
    import unittest
    import warnings

    import aiogc

    warnings.simplefilter("ignore")
    made = [0]

    class CountingPolicy(aiogc.EventLoopPolicy):
        def _loop_factory(self) -> aiogc.Loop:
            made[0] += 1
            return super()._loop_factory()

    policy = CountingPolicy(**{"seed": 0, **fields, "clock": clock, "gomaxprocs": gomaxprocs})

    class Hung(Exception):
        pass

    def on_alarm(signum: int, frame: Any) -> None:
        raise Hung(f"still running after {timeout} s of wall time")

    signal.signal(signal.SIGALRM, on_alarm)
    out: dict[str, Any] = {"passed": 0, "failed": 0, "skipped": 0, "own_loop": 0, "failures": []}

    class Result(unittest.TestResult):
        def startTest(self, test: unittest.TestCase) -> None:
            asyncio.set_event_loop_policy(policy)
            self._made = made[0]
            self._outcome = "passed"
            self._detail = ""
            signal.setitimer(signal.ITIMER_REAL, timeout)
            super().startTest(test)

        def stopTest(self, test: unittest.TestCase) -> None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            super().stopTest(test)
            used = made[0] > self._made
            if os.environ.get("AIOGC_SUITE_TRACE"):
                print(f"{test.id()} {self._outcome} used={used} {self._detail}", file=sys.stderr, flush=True)
            if self._outcome == "skipped":
                out["skipped"] += 1
            elif not used:
                out["own_loop"] += 1
            elif self._outcome == "passed":
                out["passed"] += 1
            else:
                out["failed"] += 1
                out["failures"].append((test.id(), self._detail))

        def _fail(self, err: Any) -> None:
            self._outcome = "failed"
            if not self._detail:
                exc = err[1]
                self._detail = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"

        def addError(self, test: Any, err: Any) -> None:
            super().addError(test, err)
            self._fail(err)

        def addFailure(self, test: Any, err: Any) -> None:
            super().addFailure(test, err)
            self._fail(err)

        def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
            super().addSubTest(test, subtest, err)
            if err is not None:
                self._fail(err)

        def addSkip(self, test: Any, reason: str) -> None:
            super().addSkip(test, reason)
            self._outcome = "skipped"

        def addExpectedFailure(self, test: Any, err: Any) -> None:
            super().addExpectedFailure(test, err)

        def addUnexpectedSuccess(self, test: Any) -> None:
            super().addUnexpectedSuccess(test)
            self._outcome = "failed"
            self._detail = "unexpected success"

    def flat(suite: unittest.TestSuite) -> list[unittest.TestCase]:
        return [t for x in suite for t in (flat(x) if isinstance(x, unittest.TestSuite) else [x])]

    suite = unittest.defaultTestLoader.loadTestsFromName(f"test.test_asyncio.{module}")
    result = Result()
    for test in flat(suite):
        try:
            unittest.TestSuite([test]).run(result)  # with its class and module fixtures
        except BaseException as e:  # noqa: BLE001 - escaped the TestCase (its runner's close): a failure
            signal.setitimer(signal.ITIMER_REAL, 0)
            tid = test.id()
            if not any(f[0] == tid for f in out["failures"]):
                out["passed"] -= 1
                out["failed"] += 1
                out["failures"].append((tid, f"after the test: {type(e).__name__}: {e}"))
    return out


def _run_module(module: str, clock: str, gomaxprocs: int, timeout: float, fields: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", module, "--clock", clock,
           "--gomaxprocs", str(gomaxprocs), "--test-timeout", str(timeout)]
    for f in fields:
        cmd += ["--config", f]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=max(600.0, 40 * timeout))
    except subprocess.TimeoutExpired:
        return {"passed": 0, "failed": 0, "skipped": 0, "own_loop": 0,
                "failures": [(module, "the module timed out")], "error": "timeout"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"passed": 0, "failed": 0, "skipped": 0, "own_loop": 0,
                "failures": [(module, f"the module crashed: {tail}")], "error": tail}
    res: dict[str, Any] = json.loads(lines[-1])
    res["seconds"] = time.monotonic() - t0
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="CPython's asyncio tests on aiogc.EventLoopPolicy()")
    ap.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)} (what CI runs)")
    ap.add_argument("--modules", help="comma-separated test.test_asyncio modules")
    ap.add_argument("--clock", choices=["virtual", "wall", "both"], default="both")
    ap.add_argument("--gomaxprocs", type=int, default=1)
    ap.add_argument("--test-timeout", type=float, default=30.0, help="wall seconds before a test is stopped")
    ap.add_argument("--config", action="append", default=[], metavar="NAME=VALUE",
                    help="a Config field for the policy (repeatable), e.g. runnext=false")
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every failure")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(_child(a.child, a.clock, a.gomaxprocs, a.test_timeout, _parse_fields(a.config))),
              flush=True)
        # A test may leave a thread blocked for ever (test_tasks' run_coroutine_threadsafe tests wait on a
        # loop that raised Deadlock): do not wait for it at exit.
        os._exit(0)
    try:
        import test.test_asyncio  # noqa: F401
    except ImportError:
        print("asyncio_suite: CPython's test package is not importable (Debian: libpython3.11-testsuite)",
              file=sys.stderr)
        return 2
    modules = a.modules.split(",") if a.modules else (QUICK if a.quick else MODULES)
    unknown = [m for m in modules if m not in MODULES]
    if unknown:
        print(f"asyncio_suite: unknown module {unknown[0]!r} (choose from {', '.join(MODULES)})", file=sys.stderr)
        return 2
    clocks = ["virtual", "wall"] if a.clock == "both" else [a.clock]
    results: dict[str, dict[str, Any]] = {}
    tot = {c: {"passed": 0, "failed": 0, "skipped": 0, "own_loop": 0} for c in clocks}
    print(f"{'module':<18} {'clock':<8} {'passed':>6} {'failed':>6} {'skipped':>7} {'own loop':>8} {'pass %':>7}")
    for m in modules:
        for c in clocks:
            r = _run_module(m, c, a.gomaxprocs, a.test_timeout, a.config)
            results[f"{m}/{c}"] = r
            for k in tot[c]:
                tot[c][k] += r[k]
            ran = r["passed"] + r["failed"]
            pct = f"{100 * r['passed'] / ran:.1f}" if ran else "-"
            print(f"{m:<18} {c:<8} {r['passed']:>6} {r['failed']:>6} {r['skipped']:>7} {r['own_loop']:>8} {pct:>7}",
                  flush=True)
            if a.verbose:
                for tid, why in r["failures"]:
                    print(f"    FAIL {tid}: {why}")
    for c in clocks:
        t = tot[c]
        ran = t["passed"] + t["failed"]
        pct = f"{100 * t['passed'] / ran:.1f}" if ran else "-"
        print(f"{'total':<18} {c:<8} {t['passed']:>6} {t['failed']:>6} {t['skipped']:>7} {t['own_loop']:>8} {pct:>7}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"results": results, "totals": tot, "gomaxprocs": a.gomaxprocs}, f, indent=1)
    return 0 if all(not r.get("error") for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
