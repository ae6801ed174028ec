"""Experiments built on the model: the seed workload, fix-on vs fix-off comparisons, sweeps."""
