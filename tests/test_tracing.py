"""`service.tracing`: the seams report only while a tracer is installed, and change nothing.

Off, a traced function is the function (same result, same errors, still a
coroutine function) and `tracing.sql` hands back the very connection it was
given. On, each call and each statement reaches the tracer, failures too,
from a real store on both backends. (What it costs when off is measured with
a micro-benchmark, not asserted here: timings belong to no test.)
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest

from service import tracing
from service.store import Store
from service.tracing import traced

pytestmark = pytest.mark.anyio


class Recorder:
    """A tracer that keeps every report."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float, float | None]] = []
        self.statements: list[tuple[str, float, float | None]] = []

    def record(self, label: str, wall_s: float, cpu_s: float | None) -> None:
        self.calls.append((label, wall_s, cpu_s))

    def record_sql(self, sql: str, wall_s: float, cpu_s: float | None) -> None:
        self.statements.append((sql, wall_s, cpu_s))

    def labels(self) -> list[str]:
        return [label for label, _, _ in self.calls]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    recorder = Recorder()
    tracing.install(recorder)
    try:
        yield recorder
    finally:
        tracing.install(None)


@traced("double")
def double(x: int) -> int:
    """Doubles."""
    if x < 0:
        raise ValueError("negative")
    return 2 * x


@traced("double later")
async def double_later(x: int) -> int:
    if x < 0:
        raise ValueError("negative")
    return 2 * x


async def test_off_a_traced_function_is_the_function_and_reports_nothing() -> None:
    assert tracing.installed() is None
    assert double(2) == 4 and await double_later(3) == 6
    with pytest.raises(ValueError):
        double(-1)
    assert inspect.iscoroutinefunction(double_later)
    assert not inspect.iscoroutinefunction(double)
    assert double.__name__ == "double" and double.__doc__ == "Doubles."


async def test_off_sql_hands_back_the_same_connection(store: Store) -> None:
    async with store.reading() as q:
        assert tracing.sql(q.sql) is q.sql


async def test_on_every_call_is_reported_failures_too(recorder: Recorder) -> None:
    assert double(2) == 4 and await double_later(3) == 6
    with pytest.raises(ValueError):
        await double_later(-1)
    assert recorder.labels() == ["double", "double later", "double later"]
    (_, wall, cpu), *rest = recorder.calls
    assert wall >= 0 and cpu is not None  # a plain function never suspends: its CPU is its own
    assert all(cpu is None for _, _, cpu in rest)  # a coroutine's thread runs others meanwhile


async def test_on_a_store_reports_each_statement_and_passes_results_through(
    store: Store, recorder: Recorder
) -> None:
    async with store.transaction() as q:
        await q.settings.set("traced", "yes")
    async with store.reading() as q:
        assert await q.settings.get("traced") == "yes"
        assert await q.sql.fetchval("SELECT 1 + 1") == 2
    statements = [sql for sql, _, _ in recorder.statements]
    assert any("settings" in sql for sql in statements), statements
    assert statements[-1] == "SELECT 1 + 1"
    inline = store.url.startswith("sqlite")
    assert all((cpu is not None) is inline for _, _, cpu in recorder.statements)
    if inline:  # SQLite's own seams: the write turn with BEGIN, and the commit
        labels = recorder.labels()
        assert any(label.startswith("SQLite write turn") for label in labels), labels
        assert any(label.startswith("SQLite COMMIT") for label in labels), labels
