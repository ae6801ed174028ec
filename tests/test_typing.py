"""The public API is typed: ``mypy --strict`` accepts a typed program and rejects a typo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "typing"


def _mypy(path: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-error-summary",
                           "--cache-dir", str(cache), str(path)], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mypy")
    return tmp_path_factory.mktemp("mypy-cache")


def test_strict_mypy_accepts_the_typed_example(mypy_cache: Path) -> None:
    r = _mypy(HERE / "typed_ok.py", mypy_cache)
    assert r.returncode == 0, r.stdout + r.stderr


def test_strict_mypy_rejects_a_memstats_typo(mypy_cache: Path) -> None:
    r = _mypy(HERE / "typed_bad.py", mypy_cache)
    assert r.returncode == 1
    assert '"MemStats" has no attribute "num_gcc"' in r.stdout


def test_the_typed_example_runs() -> None:
    # The example is a program too: three runs (aiogc.run, a Runtime context manager, a Runner).
    r = subprocess.run([sys.executable, str(HERE / "typed_ok.py")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.split()) == 3
