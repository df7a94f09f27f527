"""The desk list's yardstick runs end to end on a few hundred tickets (not a timed test)."""

from __future__ import annotations

import pytest

from service.bench.desk_list import QUERIES, run

pytestmark = pytest.mark.anyio


async def test_the_desk_list_benchmark_fills_and_measures_every_query() -> None:
    figures = await run(300, 1, None)
    assert set(figures) == set(QUERIES)
    assert all(ms > 0 for ms in figures.values())
