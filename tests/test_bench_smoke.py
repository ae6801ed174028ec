"""Smoke test of ``aiogc bench``: the tiny suite runs and its JSON has the documented shape.

Never asserts on timings (the machine is shared); only on structure.
"""

from __future__ import annotations

import json

import pytest

from aiogc.bench import suite

BENCHES = {"switch", "spawn", "chan", "mark", "simulation", "scale"}
IMPLS = {"aiogc-virtual", "aiogc-wall", "asyncio", "uvloop", "trio", "trampoline", "python-bfs"}


@pytest.fixture(scope="module")
def tiny_json(tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = tmp_path_factory.mktemp("bench") / "out.json"
    assert suite.main(["--tiny", "--reps", "1", "--json", str(path)]) == 0
    return json.loads(path.read_text())


def test_json_shape(tiny_json: dict) -> None:
    results = tiny_json["results"]
    assert isinstance(results, list) and results
    assert {r["bench"] for r in results} == BENCHES
    for r in results:
        assert r["bench"] in BENCHES
        assert r["impl"] in IMPLS
        assert isinstance(r["case"], str)
        assert r["metric"] in ("ns_per_op", "bytes_per_parked")
        if r["metric"] == "ns_per_op":
            assert isinstance(r["ns_per_op"], float) and r["ns_per_op"] > 0
        else:
            assert r["ns_per_op"] is None and r["bytes"] > 0
        assert len(r["samples"]) == r["reps"] >= 1
        assert isinstance(r["targets"], list)
        assert r["pass"] in (True, False, None)
        if r["impl"] == "python-bfs":
            assert r["bench"] == "mark"
    for t in tiny_json["targets"]:
        assert set(t) >= {"target", "case", "value", "limit", "pass"}
    assert {"nproc", "cpu", "python"} <= set(tiny_json["machine"])


def test_every_bench_has_its_impls(tiny_json: dict) -> None:
    by: dict[str, set[str]] = {}
    for r in tiny_json["results"]:
        by.setdefault(r["bench"], set()).add(r["impl"])
    assert {"aiogc-virtual", "aiogc-wall", "asyncio", "trampoline"} <= by["switch"]
    assert {"aiogc-virtual", "aiogc-wall", "asyncio", "trampoline"} <= by["spawn"]
    assert {"aiogc-virtual", "asyncio"} <= by["chan"]
    assert by["mark"] == {"aiogc-virtual", "python-bfs"}
    assert by["simulation"] == {"aiogc-virtual"}
    assert by["scale"] == {"aiogc-virtual"}
    scale = {r["gomaxprocs"]: r for r in tiny_json["results"] if r["bench"] == "scale"}
    assert set(scale) == set(suite.TINY.scale_procs)
    for r in scale.values():
        assert r["error"] is None and r["cycles_done"] >= 1 and r["allocations"] > 0
        assert r["peak_rss_bytes"] > 1 << 20  # measured in the child: at least an interpreter's worth
    assert any(t["target"].startswith("ns/alloc at P=") for t in tiny_json["targets"])
    sim = next(r for r in tiny_json["results"] if r["bench"] == "simulation")
    assert {"allocs_per_s", "steps_per_s", "virtual_ns_per_wall_ns"} <= set(sim)
    switch = [r for r in tiny_json["results"] if r["bench"] == "switch" and r["impl"] == "aiogc-virtual"]
    assert {r["gomaxprocs"] for r in switch} == {1, 4}
    assert all(r["ratio_trampoline"] is not None for r in switch)


def test_only_and_bad_arguments(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.json"
    assert suite.main(["--tiny", "--only", "mark", "--json", str(path)]) == 0
    data = json.loads(path.read_text())
    assert {r["bench"] for r in data["results"]} == {"mark"}
    capsys.readouterr()
    assert suite.main(["--only", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aiogc: error:") and err.count("\n") == 1
    assert suite.main(["--reps", "0"]) == 2


def test_cli_wiring_when_present(tmp_path) -> None:
    from aiogc import cli

    try:
        cli.build_parser().parse_args(["bench", "--tiny"])
    except SystemExit:
        pytest.skip("aiogc.cli does not wire aiogc.bench.suite.add_bench_arguments yet")
    path = tmp_path / "c.json"
    assert cli.main(["bench", "--tiny", "--only", "switch", "--json", str(path)]) == 0
    assert {r["bench"] for r in json.loads(path.read_text())["results"]} == {"switch"}


def test_scale_point_reports_a_failed_child() -> None:
    # A child that cannot finish in time is an error row, not a hang or an exception.
    r = suite.scale_point(1, 1, timeout=0.01)
    assert r["error"] is not None and "timed out" in r["error"] and r["peak_rss_bytes"] is None
    rows = [suite.Row("scale", "aiogc-virtual", "seed cycles=1", [], 0, {"gomaxprocs": 1, "cycles": 1},
                      extra={"peak_rss_bytes": None, "cycles_done": 0, "allocations": 0, "wall_s": None,
                             "error": r["error"]})]
    checks = suite.target_checks(rows)
    assert checks and not any(c.passed for c in checks)
    assert rows[0].to_json()["ns_per_op"] is None
    assert all(c.to_json()["value"] is None or c.to_json()["value"] == 0 for c in checks)


def test_scale_point_rss_is_the_childs_own() -> None:
    # ru_maxrss survives exec on Linux, so a child forked from a big bench process would report the
    # parent's footprint; the point must report its own.
    import numpy as np

    ballast = np.ones(200 << 20, np.uint8)  # 200 MiB resident here
    r = suite.scale_point(1, 1)
    assert r["error"] is None
    assert r["peak_rss_bytes"] < ballast.nbytes
    del ballast
