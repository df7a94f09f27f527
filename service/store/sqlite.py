"""The SQLite store (aiosqlite): the default, for one `maildesk serve` process.

One write connection serialised by a lock (SQLite has one writer anyway),
committing concurrent units of work together (group commit), and one read
connection, so a read never sees a half-written transaction. WAL
journal, `synchronous=FULL` (a committed ticket survives a power cut), foreign
keys on, and the schema migrated on open.

Every database error is re-raised as `StorageError`, which the SMTP listener
answers with 451 so the sender tries again later.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, cast

import aiosqlite
import anyio

from service.store.base import Row, StorageError
from service.store.migrations import scripts
from service.store.queries import Queries

SQLITE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"


def encode(value: object) -> object:
    """Python values as SQLite stores them; times as fixed-width UTC text so text order is time
    order."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} reached the store; use aware UTC times")
        return value.astimezone(UTC).strftime(SQLITE_TIME_FORMAT)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Enum):
        return value.value
    return value


class SqliteConnection:
    """`SqlConnection` over one aiosqlite connection."""

    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: object) -> None:
        await self._conn.execute(sql, [encode(a) for a in args])

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        await self._conn.executemany(sql, [[encode(a) for a in row] for row in rows])

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        async with self._conn.execute(sql, [encode(a) for a in args]) as cursor:
            return cast(list[Row], list(await cursor.fetchall()))

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        async with self._conn.execute(sql, [encode(a) for a in args]) as cursor:
            return cast(Row | None, await cursor.fetchone())

    async def fetchval(self, sql: str, *args: object) -> Any:
        async with self._conn.execute(sql, [encode(a) for a in args]) as cursor:
            row = await cursor.fetchone()
        return None if row is None else row[0]


async def _connect(path: str) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    await conn.execute("PRAGMA journal_mode = WAL")
    await conn.execute("PRAGMA synchronous = FULL")
    await conn.execute("PRAGMA foreign_keys = ON")
    await conn.execute("PRAGMA busy_timeout = 5000")
    return conn


MAX_BATCH = 64
"""Units committed together at most: bounds the wait of the first unit of a batch."""


@dataclass
class _Batch:
    """Units of work sharing one SQLite transaction and one commit."""

    done: anyio.Event = field(default_factory=anyio.Event)
    units: int = 0
    failure: BaseException | None = None


class SqliteStore:
    """The default store: a single SQLite file."""

    def __init__(
        self, path: str, writer: aiosqlite.Connection, reader: aiosqlite.Connection
    ) -> None:
        self.url = f"sqlite:///{path}"
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_lock = anyio.Lock()
        self._batch: _Batch | None = None

    @classmethod
    async def open(cls, path: str | Path) -> SqliteStore:
        path = str(path)
        try:
            writer = await _connect(path)
            await _migrate(writer)
            reader = await _connect(path)
        except sqlite3.Error as error:
            raise StorageError(f"cannot open SQLite database {path}: {error}") from error
        return cls(path, writer, reader)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Queries]:
        """One unit of work, committed (fsynced) before this context is left.

        Group commit: while one unit runs, others queue on the write lock; each
        runs in its own savepoint inside one SQLite transaction, and the last
        of a run commits them all with one fsync. A unit that fails is rolled
        back to its savepoint alone. Nobody leaves before the commit that holds
        their work, so "committed" still means on disk.
        """
        async with self._write_lock:
            batch = await self._join_batch()
            try:
                await self._writer.execute("SAVEPOINT unit")
            except sqlite3.Error as error:
                await self._end_batch(batch, failure=error)
                raise StorageError(f"cannot start a transaction: {error}") from error
            try:
                yield Queries(SqliteConnection(self._writer))
                await self._writer.execute("RELEASE unit")
            except BaseException as error:
                with anyio.CancelScope(shield=True):
                    try:
                        await self._writer.execute("ROLLBACK TO unit")
                        await self._writer.execute("RELEASE unit")
                    except sqlite3.Error as broken:  # the whole batch is unsafe now
                        await self._end_batch(batch, failure=broken)
                    else:
                        await self._commit_if_last(batch)
                if isinstance(error, sqlite3.Error):
                    raise StorageError(f"SQLite transaction failed: {error}") from error
                raise
            batch.units += 1
            with anyio.CancelScope(shield=True):
                await self._commit_if_last(batch)
        await batch.done.wait()
        if batch.failure is not None:
            raise StorageError(f"SQLite commit failed: {batch.failure}") from batch.failure

    async def _join_batch(self) -> _Batch:
        if self._batch is None:
            try:
                await self._writer.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise StorageError(f"cannot start a transaction: {error}") from error
            self._batch = _Batch()
        return self._batch

    async def _commit_if_last(self, batch: _Batch) -> None:
        """Commit now unless more units wait to join (and the batch is not full yet)."""
        waiting = self._write_lock.statistics().tasks_waiting
        if waiting and batch.units < MAX_BATCH:
            return
        try:
            await self._writer.execute("COMMIT")
        except sqlite3.Error as error:
            await self._end_batch(batch, failure=error)
            return
        await self._end_batch(batch)

    async def _end_batch(self, batch: _Batch, failure: BaseException | None = None) -> None:
        if failure is not None:
            batch.failure = failure
            try:
                await self._writer.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        self._batch = None
        batch.done.set()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Queries]:
        try:
            yield Queries(SqliteConnection(self._reader))
        except sqlite3.Error as error:
            raise StorageError(f"SQLite read failed: {error}") from error

    async def raw_rows(self, table: str) -> list[sqlite3.Row]:
        """Every row of a table as stored, for copying the database elsewhere."""
        async with self._reader.execute(f"SELECT * FROM {table}") as cursor:
            return list(await cursor.fetchall())

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()


async def _migrate(conn: aiosqlite.Connection) -> None:
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    current = int(row[0]) if row else 0
    for version, script in scripts("sqlite"):
        if version <= current:
            continue
        # executescript commits on its own; the version bump is part of the script's batch.
        await conn.executescript(
            f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;"
        )
