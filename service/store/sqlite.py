"""The SQLite store (aiosqlite): the default, for one `maildesk serve` process.

One write connection serialised by a lock (SQLite has one writer anyway) and
one read connection, so a read never sees a half-written transaction. WAL
journal, `synchronous=FULL` (a committed ticket survives a power cut), foreign
keys on, and the schema migrated on open.

Every database error is re-raised as `StorageError`, which the SMTP listener
answers with 451 so the sender tries again later.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
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
        async with self._write_lock:
            try:
                await self._writer.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise StorageError(f"cannot start a transaction: {error}") from error
            try:
                yield Queries(SqliteConnection(self._writer))
                await self._writer.execute("COMMIT")
            except BaseException as error:
                try:
                    await self._writer.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                if isinstance(error, sqlite3.Error):
                    raise StorageError(f"SQLite transaction failed: {error}") from error
                raise

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
