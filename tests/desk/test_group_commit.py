"""SQLite group commit: concurrent units share one fsync, and each still succeeds or fails alone."""

from __future__ import annotations

from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from service.store import StorageError
from service.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio


class Refused(Exception):
    pass


async def test_concurrent_units_commit_together_and_a_failing_one_alone_is_undone(
    tmp_path: Path,
) -> None:
    store = await SqliteStore.open(tmp_path / "g.db")
    statements: list[str] = []
    store._writer.set_trace_callback(statements.append)
    outcomes: dict[int, str] = {}

    async def unit(i: int) -> None:
        try:
            async with store.transaction() as q:
                await q.set_setting(f"k{i}", str(i))
                await anyio.lowlevel.checkpoint()  # let the others queue up behind this one
                if i == 7:
                    raise Refused
            outcomes[i] = "committed"
        except Refused:
            outcomes[i] = "refused"

    async with anyio.create_task_group() as group:
        for i in range(40):
            group.start_soon(unit, i)
    commits = sum(1 for s in statements if s.strip().upper() == "COMMIT")
    assert outcomes[7] == "refused" and list(outcomes.values()).count("committed") == 39
    assert 1 <= commits < 40  # fewer fsyncs than units
    await store.close()
    reopened = await SqliteStore.open(tmp_path / "g.db")  # what is on disk
    async with reopened.reading() as q:
        stored = {i: await q.setting(f"k{i}") for i in range(40)}
    await reopened.close()
    assert stored[7] is None
    assert all(stored[i] == str(i) for i in range(40) if i != 7)


async def test_a_failed_commit_fails_every_unit_of_its_batch(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "g.db")
    async with store.transaction() as q:
        await q.set_setting("unique", "x")
    failures: list[str] = []

    async def unit(i: int) -> None:
        try:
            async with store.transaction() as q:
                await q.set_setting(f"k{i}", "v")
                if i == 3:  # breaks the whole SQLite transaction, not just this unit
                    await q.sql.execute("ROLLBACK")
            failures.append("ok")
        except StorageError:
            failures.append("failed")

    async with anyio.create_task_group() as group:
        for i in range(6):
            group.start_soon(unit, i)
    async with store.reading() as q:
        written = [await q.setting(f"k{i}") for i in range(6)]
    await store.close()
    # Whoever shared the broken transaction heard of it; nobody heard "ok" for lost work.
    if None in written:
        assert "failed" in failures
    assert failures.count("ok") == sum(v is not None for v in written)
