"""Shared fixtures and settings for the aiogc test suite.

Hypothesis profiles, chosen with the environment variable ``AIOGC_HYPOTHESIS_PROFILE``:
  ci    (default) few examples and no deadline, so the suite stays fast and never flakes on a slow host;
  deep  many examples, for a thorough run (``AIOGC_HYPOTHESIS_PROFILE=deep pytest``).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# "ci" (the default) is derandomized: the same examples every run, so CI is reproducible; "deep"
# explores with fresh random seeds (Hypothesis prints the seed of any failure to reproduce it).
settings.register_profile(
    "ci", max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "deep", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("AIOGC_HYPOTHESIS_PROFILE", "ci"))

# pytester: tests/test_pytest_plugin.py runs pytest on small projects to check aiogc's pytest plugin.
pytest_plugins = ["pytester"]


@pytest.fixture
def clean_go_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Remove GOMAXPROCS/GOGC/GODEBUG from the environment for one test; returns the monkeypatch."""
    for var in ("GOMAXPROCS", "GOGC", "GODEBUG"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch

