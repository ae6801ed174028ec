"""gctrace formatting: fmtNSAsMS digit for digit, the five-phase line, and GCTRACE_RE (model doc §6.1)."""

from __future__ import annotations

import random

import pytest

from aiogc.trace.gctrace import GCTRACE_RE, GCTraceRecord, fmt_ns_as_ms, format_gctrace_line

MiB = 1 << 20

# -- fmt_ns_as_ms -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (16_000, "0.016"),  # doc: 16 µs
        (350_000, "0.35"),  # doc: 350 µs
        (7_400_000, "7.4"),  # doc: 7.4 ms
        (1_234, "0.001"),  # doc: 1 234 ns
        (999, "0"),  # doc: 999 ns
        (12_000_000, "12"),  # doc: 12 ms
        (0, "0"),
        (1_000, "0.001"),
        (1_999, "0.001"),  # truncated to whole µs
        (9_000, "0.009"),
        (10_000, "0.010"),  # x=10 < 100: still 3 decimals
        (99_999, "0.099"),
        (100_000, "0.10"),  # x=100 -> 10, 2 decimals
        (630_000, "0.63"),
        (999_999, "0.99"),
        (1_000_000, "1.0"),  # x=1000 -> 100 -> 10, 1 decimal
        (1_050_000, "1.0"),  # truncation, not rounding
        (9_999_999, "9.9"),
        (10_000_000, "10"),  # >= 10 ms: whole milliseconds
        (10_999_999, "10"),
        (123_456_789_000, "123456"),
    ],
)
def test_fmt_ns_as_ms(ns: int, text: str) -> None:
    assert fmt_ns_as_ms(ns) == text


def test_fmt_ns_as_ms_rejects_negative() -> None:
    with pytest.raises(ValueError):
        fmt_ns_as_ms(-1)


def _go_fmt_ns_as_ms(ns: int) -> str:
    """A second, literal transcription of Go's byte-buffer itoaDiv loop, for cross-checking."""

    def itoa_div(val: int, dec: int) -> str:
        buf = [""] * 32
        i = len(buf) - 1
        idec = i - dec
        while val >= 10 or i >= idec:
            buf[i] = chr(val % 10 + 48)
            i -= 1
            if i == idec:
                buf[i] = "."
                i -= 1
            val //= 10
        buf[i] = chr(val + 48)
        return "".join(buf[i:])

    if ns >= 10_000_000:
        return itoa_div(ns // 1_000_000, 0)
    x = ns // 1000
    if x == 0:
        return "0"
    dec = 3
    while x >= 100:
        x //= 10
        dec -= 1
    return itoa_div(x, dec)


def test_fmt_ns_as_ms_matches_go_loop_exhaustively_on_sample() -> None:
    rng = random.Random(7)
    samples = [rng.randrange(0, 10**11) for _ in range(5000)]
    samples += [10**k + d for k in range(0, 11) for d in (-1, 0, 1) if 10**k + d >= 0]
    for ns in samples:
        assert fmt_ns_as_ms(ns) == _go_fmt_ns_as_ms(ns), ns


# -- the line -----------------------------------------------------------------------------------

SAMPLE = (
    "gc 1 @0.161s 0%: 0.016+0.63+0.007+0.85+0.22 ms clock, "
    "0.016+0.63+0+0/0.74/0+0.22 ms cpu, 4->4->0 MB, 4 MB goal, 1 P"
)


def _sample_record(**over: object) -> GCTraceRecord:
    fields: dict[str, object] = dict(
        n=1,
        t_sweep_term_ns=161_734_000,
        util_percent=0,
        clock_sweep_term_ns=16_400,
        clock_scan_ns=631_000,
        clock_install_wb_ns=7_900,
        clock_mark_ns=859_999,
        clock_mark_term_ns=220_000,
        cpu_sweep_term_ns=16_400,  # stwprocs (1) x clock a
        cpu_scan_ns=631_000,
        cpu_install_wb_ns=0,
        cpu_assist_ns=0,
        cpu_background_ns=745_000,
        cpu_idle_ns=0,
        cpu_mark_term_ns=220_000,
        heap0=4 * MiB + 12_345,
        heap1=4 * MiB + 500_000,
        heap2=300_000,
        goal=4_473_924,  # the first-cycle goal at GOGC=100: 2 x (4 MiB / 1.875)
        gomaxprocs=1,
        forced=False,
    )
    fields.update(over)
    return GCTraceRecord(**fields)  # type: ignore[arg-type]


def test_doc_sample_line_reproduced() -> None:
    assert format_gctrace_line(_sample_record()) == SAMPLE


def test_dict_input_equals_record_input() -> None:
    rec = _sample_record()
    as_dict = {k: getattr(rec, k) for k in rec.__dataclass_fields__}
    assert format_gctrace_line(as_dict) == SAMPLE


def test_forced_suffix() -> None:
    line = format_gctrace_line(_sample_record(forced=True))
    assert line == SAMPLE + " (forced)"
    m = GCTRACE_RE.match(line)
    assert m is not None and m.group("forced") == " (forced)"


def test_at_time_is_truncated_ms_with_three_decimals() -> None:
    assert format_gctrace_line(_sample_record(t_sweep_term_ns=0)).startswith("gc 1 @0.000s ")
    assert format_gctrace_line(_sample_record(t_sweep_term_ns=999_999)).startswith("gc 1 @0.000s ")
    assert format_gctrace_line(_sample_record(t_sweep_term_ns=1_000_000)).startswith("gc 1 @0.001s ")
    assert format_gctrace_line(_sample_record(t_sweep_term_ns=60_193_999_999)).startswith("gc 1 @60.193s ")
    assert format_gctrace_line(_sample_record(t_sweep_term_ns=1_234_567_000_000)).startswith(
        "gc 1 @1234.567s "
    )


def test_heap_sizes_are_truncated_mib() -> None:
    line = format_gctrace_line(
        _sample_record(heap0=MiB - 1, heap1=125 * MiB + MiB - 1, heap2=2 * MiB, goal=4 * MiB)
    )
    assert ", 0->125->2 MB, 4 MB goal, 1 P" in line


def test_doc_issue_11677_line_matches_regex_and_roundtrips() -> None:
    # The #11677 line from the doc, with "gc #" normalised to the seed's "gc " format.
    line = (
        "gc 1095 @60.193s 9%: 0.35+0.59+0.66+7.4+0.61 ms clock, "
        "1.4+0.59+0+0/1.3/0.16+2.4 ms cpu, 4->125->2 MB, 4 MB goal, 10 P"
    )
    m = GCTRACE_RE.match(line)
    assert m is not None
    assert m.group("n") == "1095" and m.group("t") == "60.193" and m.group("util") == "9"
    assert m.group("clock_mark") == "7.4" and m.group("cpu_idle") == "0.16"
    assert (m.group("heap0"), m.group("heap1"), m.group("heap2")) == ("4", "125", "2")
    assert m.group("goal") == "4" and m.group("procs") == "10" and m.group("forced") is None
    rec = _sample_record(
        n=1095,
        t_sweep_term_ns=60_193_400_000,
        util_percent=9,
        clock_sweep_term_ns=350_000,
        clock_scan_ns=590_000,
        clock_install_wb_ns=660_000,
        clock_mark_ns=7_400_000,
        clock_mark_term_ns=610_000,
        cpu_sweep_term_ns=1_400_000,
        cpu_scan_ns=590_000,
        cpu_install_wb_ns=0,
        cpu_assist_ns=0,
        cpu_background_ns=1_300_000,
        cpu_idle_ns=160_000,
        cpu_mark_term_ns=2_400_000,
        heap0=4 * MiB,
        heap1=125 * MiB,
        heap2=2 * MiB,
        goal=4 * MiB,
        gomaxprocs=10,
    )
    assert format_gctrace_line(rec) == line


def test_regex_rejects_other_formats() -> None:
    assert GCTRACE_RE.match(SAMPLE) is not None
    assert GCTRACE_RE.match(SAMPLE.replace("gc 1 ", "gc #1 ")) is None  # pre-cc6ed285 format
    assert GCTRACE_RE.match(SAMPLE + "\n") is not None  # as read from stderr: "$" allows it
    assert GCTRACE_RE.match(SAMPLE + " extra") is None
    modern = "gc 1 @0.012s 2%: 0.026+0.39+0.10 ms clock, 0.21+0.17/0.35/0.84+0.82 ms cpu, 4->4->0 MB, 5 MB goal, 8 P"
    assert GCTRACE_RE.match(modern) is None  # Go 1.6+ three-phase format
    assert GCTRACE_RE.match(SAMPLE.replace("@0.161s", "@0.16s")) is None  # exactly 3 decimals


def test_random_records_always_match_regex() -> None:
    rng = random.Random(11)
    for _ in range(500):
        rec = _sample_record(
            n=rng.randrange(1, 10**6),
            t_sweep_term_ns=rng.randrange(0, 10**13),
            util_percent=rng.randrange(0, 101),
            clock_sweep_term_ns=rng.randrange(0, 10**9),
            clock_scan_ns=rng.randrange(0, 10**8),
            clock_install_wb_ns=rng.randrange(0, 10**6),
            clock_mark_ns=rng.randrange(0, 10**10),
            clock_mark_term_ns=rng.randrange(0, 10**8),
            cpu_sweep_term_ns=rng.randrange(0, 10**9),
            cpu_scan_ns=rng.randrange(0, 10**8),
            cpu_assist_ns=rng.randrange(0, 10**9),
            cpu_background_ns=rng.randrange(0, 10**10),
            cpu_idle_ns=rng.randrange(0, 10**9),
            cpu_mark_term_ns=rng.randrange(0, 10**8),
            heap0=rng.randrange(0, 1 << 40),
            heap1=rng.randrange(0, 1 << 40),
            heap2=rng.randrange(0, 1 << 40),
            goal=rng.randrange(0, 1 << 40),
            gomaxprocs=rng.randrange(1, 257),
            forced=rng.random() < 0.3,
        )
        line = format_gctrace_line(rec)
        m = GCTRACE_RE.match(line)
        assert m is not None, line
        assert int(m.group("n")) == rec.n
        assert int(m.group("heap1")) == rec.heap1 >> 20
        assert (m.group("forced") is not None) == rec.forced
