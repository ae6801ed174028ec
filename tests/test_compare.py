"""The compare experiment: JSON shape, determinism across runs and worker counts, CSV."""

from __future__ import annotations

import argparse
import csv
import json
from typing import Any

import pytest

from aiogc.errors import ConfigError
from aiogc.experiments.compare import (
    METRICS,
    add_compare_arguments,
    compare,
    render_table,
    run_one,
    write_csv,
)

SEEDS = 2
GMPS = [1, 2]
CYCLES = 3


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    return compare(SEEDS, GMPS, CYCLES, jobs=2)


def test_json_shape(result: dict[str, Any]) -> None:
    assert set(result) == {"config", "results"}
    assert result["config"]["seeds"] == [0, 1]
    assert result["config"]["gomaxprocs"] == GMPS
    rs = result["results"]
    assert [(r["gomaxprocs"], r["yield_after_assist"]) for r in rs] == [(1, True), (1, False), (2, True), (2, False)]
    for r in rs:
        assert r["seeds"] == SEEDS
        assert r["cycles"] == SEEDS * CYCLES
        for m in METRICS:
            assert set(r[m]) == {"mean", "p50", "p99", "max"}
            assert r[m]["p50"] <= r[m]["p99"] <= r[m]["max"]
        assert 0.0 <= r["assist_completed_share"] <= 1.0
    json.dumps(result, allow_nan=False)


def test_identical_seeds_identical_output(result: dict[str, Any]) -> None:
    again = compare(SEEDS, GMPS, CYCLES, jobs=1)  # other worker count, other completion order
    assert json.dumps(again, sort_keys=True) == json.dumps(result, sort_keys=True)


def test_run_one_is_deterministic_and_skips_warmup() -> None:
    tl: list[tuple[int, int, int]] = []
    a = run_one(2, True, 5, 2, timeline=tl)
    b = run_one(2, True, 5, 2)
    assert a == b
    assert len(a) == 2 and a[0]["n"] == 2
    assert tl and all(x[0] <= y[0] for x, y in zip(tl, tl[1:], strict=False))


def test_csv_and_table(result: dict[str, Any], tmp_path: Any) -> None:
    path = tmp_path / "c.csv"
    write_csv(result, path)
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 4
    assert float(rows[0]["coordinator_latency_ns_p99"]) == result["results"][0]["coordinator_latency_ns"]["p99"]
    from rich.console import Console

    con = Console(record=True, width=100)  # as piped output
    con.print(render_table(result))
    text = con.export_text()
    assert "GOMAXPROCS" in text and "coordinator latency" in text
    assert all(len(line) <= 100 for line in text.splitlines())
    r0 = result["results"][0]
    from aiogc.view.live import fmt_ns

    lat = r0["coordinator_latency_ns"]
    # Numbers are whole, never cut or wrapped: the p50 / p99 / max cell is on one line.
    assert f"{fmt_ns(lat['p50'])} / {fmt_ns(lat['p99'])} / {fmt_ns(lat['max'])}" in text


def test_bad_values() -> None:
    with pytest.raises(ConfigError):
        compare(0, [1], 1)
    with pytest.raises(ConfigError):
        compare(1, [0], 1)
    with pytest.raises(ConfigError):
        compare(1, [1], 0)
    p = argparse.ArgumentParser(exit_on_error=False)
    add_compare_arguments(p)
    a = p.parse_args([])
    assert (a.seeds, a.gomaxprocs, a.cycles, a.jobs) == (10, [1, 2, 4, 8], 8, None)
    for bad in (["--gomaxprocs", "1,x"], ["--gomaxprocs", "0"], ["--seeds", "0"], ["--cycles", "-1"]):
        with pytest.raises((argparse.ArgumentError, SystemExit)):
            p.parse_args(bad)
