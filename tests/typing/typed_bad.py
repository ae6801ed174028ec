"""A typo ``mypy --strict`` must reject (tests/test_typing.py checks): MemStats has no num_gcc."""

from __future__ import annotations

import aiogc


async def main() -> int:
    ms = aiogc.read_mem_stats()
    return ms.num_gcc
