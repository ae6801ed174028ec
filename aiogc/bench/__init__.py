"""The benchmark suite behind ``python -m aiogc bench`` (see ``aiogc.bench.suite``).

Five benchmarks — ``switch``, ``spawn``, ``chan``, ``mark``, ``simulation`` — each measured for
aiogc (virtual and wall clock) and, in the same run, for stdlib asyncio, uvloop, trio and a bare
``coro.send`` trampoline (the floor), as medians of several repetitions; the results are printed
as a table of ns/op with ratios against the baselines and PASS/MISS against the performance
targets, and written as JSON with ``--json FILE``.
"""
