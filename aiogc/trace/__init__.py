"""Consumers of the model's events: the event bus, gctrace, Perfetto JSON, cycle metrics."""
