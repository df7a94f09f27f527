"""The PostgreSQL store (asyncpg): for many `maildesk serve` processes sharing one database.

The queries are the same as SQLite's (`service.store.queries`); this module
only adapts them: `?` placeholders become `$1…$n`, a connection pool replaces
the single writer, and the schema is migrated under an advisory lock so that
several processes starting at once migrate it exactly once. Row locks
(`FOR UPDATE`, `SKIP LOCKED`) in the queries keep concurrent processes from
acting on the same ticket, timer or email twice.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from typing import Any, cast

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from service import tracing
from service.store.base import Row, StorageError
from service.store.migrations import scripts
from service.store.pg_batch import WriteBatch, deferrable
from service.store.queries import Queries

MIGRATION_LOCK = 7_215_311  # pg_advisory_xact_lock key: "maildesk migrations"
_PLACEHOLDER = re.compile(r"\?")
_FAILURES = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


@lru_cache(maxsize=512)
def numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2, …` (our SQL has no literal question marks)."""
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


_AS_THEY_ARE = frozenset({str, int, float, bool, bytes, Decimal, datetime, type(None)})
"""Types asyncpg takes as they are: nearly all a statement carries (enums are not)."""


def encode(value: object) -> object:
    return value.value if isinstance(value, Enum) else value


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection going back to the pool needs beyond asyncpg's own rollback: nothing.

    asyncpg's pool rolls back a transaction left open either way; its default
    reset then sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL`, one more round trip and four statements at every release,
    about one in five of a new ticket's round trips. maildesk leaves no session
    state behind to reset: its advisory locks are transaction-scoped
    (`pg_advisory_xact_lock`), its settings are the pool's `server_settings`,
    and it opens no cursors, LISTENs or `SET`s outside a transaction
    (`tests/store/test_postgres_round_trips.py` holds it).
    """


class PostgresConnection:
    """`SqlConnection` over one asyncpg connection.

    With `batch_writes` (a transaction's), writes nobody reads back wait and
    go to the server with the next statement (`service.store.pg_batch`);
    `flush` sends what still waits, before the commit.
    """

    dialect = "postgresql"

    def __init__(
        self, conn: asyncpg.Connection | PoolConnectionProxy, *, batch_writes: bool = False
    ) -> None:
        self._conn = conn
        self._batch = WriteBatch() if batch_writes else None

    async def execute(self, sql: str, *args: object) -> None:
        if await self._wait(sql, [args]):
            return
        await self._conn.execute(numbered(sql), *[encode(a) for a in args])

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        plain = _AS_THEY_ARE  # tested here: no call for most values of a big batch
        batch = [[a if type(a) in plain else encode(a) for a in row] for row in rows]
        if not batch or await self._wait(sql, batch):
            return
        await self._conn.executemany(numbered(sql), batch)

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        sql, args = await self._along(sql, args)
        return cast(list[Row], await self._conn.fetch(numbered(sql), *[encode(a) for a in args]))

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        sql, args = await self._along(sql, args)
        row = await self._conn.fetchrow(numbered(sql), *[encode(a) for a in args])
        return cast(Row | None, row)

    async def fetchval(self, sql: str, *args: object) -> Any:
        sql, args = await self._along(sql, args)
        return await self._conn.fetchval(numbered(sql), *[encode(a) for a in args])

    async def flush(self) -> None:
        """Send the writes that wait, if any, in one statement."""
        if self._batch:
            sql, args = self._batch.take()
            await self._conn.execute(numbered(sql), *[encode(a) for a in args])

    async def _wait(self, sql: str, rows: Sequence[Sequence[object]]) -> bool:
        """Keep a write for later when it may wait; False when it must be sent now (and
        whatever waits has been sent before it)."""
        if self._batch is None:
            return False
        write = deferrable(sql, rows)
        if write is None or self._batch.holds(write.table):
            await self.flush()
        if write is None:
            return False
        self._batch.add(write)
        return True

    async def _along(self, sql: str, args: tuple[object, ...]) -> tuple[str, tuple[object, ...]]:
        """The statement to send for `sql`: with the waiting writes as its `WITH` when it may
        take them along, or as it is once they have been sent."""
        if not self._batch:
            return sql, args
        write = deferrable(sql, [args])
        if write is None or self._batch.holds(write.table):
            await self.flush()
            return sql, args
        return self._batch.take(write)


class PostgresStore:
    def __init__(self, url: str, pool: asyncpg.Pool, schema: str | None = None) -> None:
        self.url = url
        self.schema = schema
        self._pool = pool

    @classmethod
    async def open(
        cls, url: str, *, schema: str | None = None, max_size: int = 10
    ) -> PostgresStore:
        """Connect and migrate. `schema` isolates a deployment (or a test) in its own schema."""
        settings = {"search_path": schema} if schema else None
        try:
            if schema:
                conn = await asyncpg.connect(url)
                try:
                    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                finally:
                    await conn.close()
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=max_size,
                server_settings=settings,
                reset=_keep_session,
            )
        except _FAILURES as error:
            raise StorageError(
                f"cannot connect to PostgreSQL at {url}: {error}; check the --db URL and that "
                "the server is running"
            ) from error
        store = cls(url, pool, schema)
        await store._migrate()
        return store

    async def _migrate(self) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
            )
            current = await conn.fetchval("SELECT MAX(version) FROM schema_version") or 0
            for version, script in scripts("postgresql"):
                if version > current:
                    await conn.execute(script)
                    await conn.execute("INSERT INTO schema_version VALUES ($1)", version)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Queries]:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                connection = PostgresConnection(conn, batch_writes=True)
                yield Queries(tracing.sql(connection))
                await connection.flush()
        except _FAILURES as error:
            raise StorageError(f"PostgreSQL transaction failed: {error}") from error

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Queries]:
        try:
            async with self._pool.acquire() as conn:
                yield Queries(tracing.sql(PostgresConnection(conn)))
        except _FAILURES as error:
            raise StorageError(f"PostgreSQL read failed: {error}") from error

    @asynccontextmanager
    async def raw_connection(self) -> AsyncIterator[PoolConnectionProxy]:
        """A pooled asyncpg connection, for bulk work the query layer does not cover."""
        async with self._pool.acquire() as conn:
            yield conn

    async def close(self) -> None:
        await self._pool.close()
