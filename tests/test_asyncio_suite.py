"""The quick form of the CPython asyncio peer suite (tools/asyncio_suite.py --quick), as CI runs it.

CPython's own test_locks, test_queues and test_timeouts run under aiogc.EventLoopPolicy() in
virtual and in wall time; each module must pass at least 95% of the tests that ran on aiogc.
The full form (every module the issue lists) is documented in the README.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent.parent / "tools" / "asyncio_suite.py"


@pytest.mark.parametrize("fields", [[], ["--config", "runnext=false"]], ids=["go-order", "fifo"])
def test_quick_peer_suite(tmp_path: Path, fields: list[str]) -> None:
    pytest.importorskip("test.test_asyncio", reason="CPython's test package is not installed")
    out = tmp_path / "suite.json"
    r = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json", str(out), *fields],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(out.read_text())["results"]
    assert set(res) == {f"{m}/{c}" for m in ("test_locks", "test_queues", "test_timeouts")
                        for c in ("virtual", "wall")}
    for key, counts in res.items():
        ran = counts["passed"] + counts["failed"]
        assert ran >= 30, key  # every test of these modules runs on aiogc's loop
        assert counts["own_loop"] == 0, key
        if not fields:
            continue  # Go's order: reported, with the failures the README explains
        assert counts["passed"] >= 0.95 * ran, (key, counts["failures"])
    assert "total" in r.stdout
