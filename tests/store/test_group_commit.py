"""SQLite group commit: concurrent units share one fsync, and each still succeeds or fails alone."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from service.store import StorageError
from service.store import sqlite as sqlite_store
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
                await q.settings.set(f"k{i}", str(i))
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
        stored = {i: await q.settings.get(f"k{i}") for i in range(40)}
    await reopened.close()
    assert stored[7] is None
    assert all(stored[i] == str(i) for i in range(40) if i != 7)


async def test_a_failed_commit_fails_every_unit_of_its_batch(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "g.db")
    async with store.transaction() as q:
        await q.settings.set("unique", "x")
    failures: list[str] = []

    async def unit(i: int) -> None:
        try:
            async with store.transaction() as q:
                await q.settings.set(f"k{i}", "v")
                if i == 3:  # breaks the whole SQLite transaction, not just this unit
                    await q.sql.execute("ROLLBACK")
            failures.append("ok")
        except StorageError:
            failures.append("failed")

    async with anyio.create_task_group() as group:
        for i in range(6):
            group.start_soon(unit, i)
    async with store.reading() as q:
        written = [await q.settings.get(f"k{i}") for i in range(6)]
    await store.close()
    # Whoever shared the broken transaction heard of it; nobody heard "ok" for lost work.
    if None in written:
        assert "failed" in failures
    assert failures.count("ok") == sum(v is not None for v in written)


async def test_two_stores_on_one_file_take_turns_and_the_second_begins_when_the_first_commits(
    tmp_path: Path,
) -> None:
    """Two `SqliteStore`s on one file stand for two `serve --smtp-processes` processes."""
    first = await SqliteStore.open(tmp_path / "t.db")
    second = await SqliteStore.open(tmp_path / "t.db")
    order: list[str] = []
    holding = anyio.Event()
    release = anyio.Event()

    async def hold_the_turn() -> None:
        async with first.transaction() as q:
            await q.settings.set("who", "first")
            order.append("first in")
            holding.set()
            await release.wait()
        order.append("first committed")

    async def wait_for_the_turn() -> None:
        await holding.wait()
        async with second.transaction() as q:
            order.append("second in")
            assert await q.settings.get("who") == "first"  # it sees what the first committed
            await q.settings.set("who", "second")

    async with anyio.create_task_group() as group:
        group.start_soon(hold_the_turn)
        group.start_soon(wait_for_the_turn)
        await holding.wait()
        for _ in range(20):  # the second stays out for as long as the first holds the turn
            await anyio.sleep(0.01)
        assert order == ["first in"]
        assert not can_take_turn(tmp_path / "t.db-writer.lock")  # held in the kernel, not polled
        release.set()
    assert order == ["first in", "first committed", "second in"]
    async with first.reading() as q:
        assert await q.settings.get("who") == "second"
    assert can_take_turn(tmp_path / "t.db-writer.lock")  # given back after each commit
    await first.close()
    await second.close()


def can_take_turn(lock_file: Path) -> bool:
    fd = os.open(lock_file, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


async def test_a_turn_held_by_a_stopped_process_fails_the_write_after_the_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await SqliteStore.open(tmp_path / "s.db")
    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT", 0.2)
    stuck = os.open(tmp_path / "s.db-writer.lock", os.O_RDWR)  # a process that never gives back
    fcntl.flock(stuck, fcntl.LOCK_EX)
    try:
        with pytest.raises(StorageError, match="held the write turn"):
            async with store.transaction() as q:
                await q.settings.set("k", "never")
    finally:
        os.close(stuck)
    async with store.transaction() as q:  # the turn is free again: writes go on
        await q.settings.set("k", "later")
    async with store.reading() as q:
        assert await q.settings.get("k") == "later"
    await store.close()
