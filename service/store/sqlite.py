"""The SQLite store: the default, for `maildesk serve` and its helper SMTP processes.

One write connection serialised by a lock (SQLite has one writer anyway),
committing concurrent units of work together (group commit), and one read
connection, so a read never sees a half-written transaction. WAL
journal, `synchronous=FULL` (a committed ticket survives a power cut), foreign
keys on, and the schema migrated on open.

Several processes on one file (`serve --smtp-processes`) take turns at the
write transaction through `WriterTurn`, an `flock` on a file beside the
database: a waiting process takes a freed turn within a millisecond, where
SQLite's own busy handler sleeps 1, 2, 5, 10… ms between tries and lets
batches wait behind those sleeps. SQLite's lock still guards the data;
programs that do not take the turn (`maildesk import`, the sqlite3 shell)
just wait on it as before.

The database file, its `-wal` and `-shm` and the lock file are readable by
maildesk's own user only (0600, whatever the umask; see `_keep_private`):
they hold the signing secret, the admin token and every customer's mail.

Every database error is re-raised as `StorageError`, which the SMTP listener
answers with 451 so the sender tries again later.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, cast

import anyio

from service import tracing
from service.private_files import OWNER_ONLY_FILE, create_owner_only, tighten_if_present
from service.store.base import Row, StorageError
from service.store.migrations import scripts
from service.store.queries import Queries

log = logging.getLogger(__name__)

SQLITE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"

BUSY_TIMEOUT = 5.0
"""Seconds a write waits for another process's lock before it fails (and the sender retries)."""
INLINE_COMMIT = 0.002
"""Commits faster than this lately (seconds) run on the event loop; slower ones in a thread."""
TURN_FIRST_PAUSE = 0.0001
TURN_LONGEST_PAUSE = 0.001
"""Between tries for the write turn: short, so a turn given back is taken within a millisecond."""


_AS_THEY_ARE = frozenset({str, int, float, bytes, type(None)})
"""Types SQLite takes as they are: most of what a statement carries, so looked up first
(an import encodes tens of values for each of a million orders)."""


def encode(value: object) -> object:
    """Python values as SQLite stores them; times as fixed-width UTC text so text order is time
    order."""
    if type(value) in _AS_THEY_ARE:
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} reached the store; use aware UTC times")
        utc = value if value.tzinfo is UTC else value.astimezone(UTC)
        # isoformat is SQLITE_TIME_FORMAT at twice strftime's speed, for four-digit years
        return (
            utc.isoformat(timespec="microseconds")
            if utc.year >= 1000
            else utc.strftime(SQLITE_TIME_FORMAT)
        )
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Enum):
        return value.value
    return value


class SqliteConnection:
    """`SqlConnection` over one sqlite3 connection, run inline on the event loop.

    A statement on a local SQLite file takes microseconds, less than handing it
    to a thread and back (70–250 µs measured with aiosqlite, most of it waiting
    for a busy event loop to pick the result up, all of it while the write lock
    is held). What can block, taking the file lock and the fsync of a commit,
    goes to a worker thread instead (`SqliteStore`).
    """

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: object) -> None:
        self._conn.execute(sql, [encode(a) for a in args])

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        plain = _AS_THEY_ARE  # tested here too: no call for most values of a big batch
        self._conn.executemany(
            sql, [[a if type(a) in plain else encode(a) for a in row] for row in rows]
        )

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        return cast(list[Row], self._conn.execute(sql, [encode(a) for a in args]).fetchall())

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        return cast(Row | None, self._conn.execute(sql, [encode(a) for a in args]).fetchone())

    async def fetchval(self, sql: str, *args: object) -> Any:
        row = self._conn.execute(sql, [encode(a) for a in args]).fetchone()
        return None if row is None else row[0]


LOCK_SUFFIX = "-writer.lock"
COMPANIONS = ("-wal", "-shm", LOCK_SUFFIX)
"""The files kept beside the database: SQLite's WAL and shared memory, and `WriterTurn`'s lock."""


def _is_file(database: str) -> bool:
    return database != ":memory:" and not database.startswith("file:")


def _keep_private(path: str) -> None:
    """Create the database file 0600 before SQLite opens it; close up files open to others.

    SQLite creates `-wal` and `-shm` with the mode of the database file
    (checked by `tests/reliability/test_private_files.py`), not the umask's,
    so a 0600 database keeps them 0600. A database made before this rule,
    and the files beside it, are tightened to 0600 rather than refused: the
    secret in them is exposed until they are, and maildesk is their only
    reader. One warning says what changed, for an operator whose backup or
    monitoring job read them through their group and must now run as
    maildesk's user.
    """
    opened: list[str] = []
    try:
        before = create_owner_only(path)
        if before is not None:
            opened.append(f"{path} ({before:04o})")
        for suffix in COMPANIONS:
            before = tighten_if_present(path + suffix)
            if before is not None:
                opened.append(f"{path}{suffix} ({before:04o})")
    except PermissionError as error:
        if not os.path.exists(path):
            raise  # not even created: SQLite could not have opened it either
        log.warning(
            "%s and the files beside it may be readable by other users and cannot be made "
            "owner-only (%s); run `chmod 600 %s*` as their owner: they hold the signing "
            "secret, the admin token and customers' mail",
            path,
            error,
            path,
        )
        return
    if opened:
        log.warning(
            "%s %s open to other users; made 0600 (owner only), since the database holds "
            "the signing secret, the admin token and customers' mail. A backup or monitoring "
            "job that read the database must now run as maildesk's user",
            ", ".join(opened),
            "was" if len(opened) == 1 else "were",
        )


def _connect(path: str) -> sqlite3.Connection:
    """Open a connection (in a worker thread: opening may wait on the file)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
    return conn


MAX_BATCH = 64
"""Units committed together at most: bounds the wait of the first unit of a batch."""


@dataclass
class _Batch:
    """Units of work sharing one SQLite transaction and one commit."""

    done: anyio.Event = field(default_factory=anyio.Event)
    units: int = 0
    failure: BaseException | None = None


class WriterTurn:
    """The right to hold the write transaction, between the processes serving one file.

    Taken with non-blocking tries a fraction of a millisecond apart rather
    than a blocking `flock`, so that a process that stopped while holding the
    turn (SIGSTOP, a debugger) makes the others fail after `BUSY_TIMEOUT` like
    SQLite itself would (the sender gets `451` and retries), never hang.
    Without the lock file (a read-only folder, say) every process still
    works: it waits on SQLite's busy handler instead, only slower under
    contention.
    """

    def __init__(self, database: str) -> None:
        self._fd: int | None = None
        if not _is_file(database):
            return
        try:
            self._fd = os.open(database + LOCK_SUFFIX, os.O_RDWR | os.O_CREAT, OWNER_ONLY_FILE)
        except OSError as error:
            log.warning("no writer lock file beside %s (%s); using SQLite's wait", database, error)

    def take(self) -> None:
        """Wait until it is this process's turn (call it off the event loop)."""
        if self._fd is None:
            return
        deadline = time.monotonic() + BUSY_TIMEOUT
        pause = TURN_FIRST_PAUSE
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise sqlite3.OperationalError(
                        f"another maildesk process has held the write turn for {BUSY_TIMEOUT:.0f}"
                        " s; is one stopped or stuck? (`ps`; it frees the turn when it ends)"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, TURN_LONGEST_PAUSE)

    def give_back(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class SqliteStore:
    """The default store: a single SQLite file."""

    def __init__(self, path: str, writer: sqlite3.Connection, reader: sqlite3.Connection) -> None:
        self.url = f"sqlite:///{path}"
        self.path = path
        self._writer = writer
        self._reader = reader
        # `fast_acquire`: a free lock is taken without a pass through the event loop (one a
        # unit of work); every unit waits for its commit on the way out, so none starves others.
        self._write_lock = anyio.Lock(fast_acquire=True)
        self._turn = WriterTurn(path)
        self._batch: _Batch | None = None
        self._commit_seconds = 0.0  # how long commits take lately (see `_commit_if_last`)

    @classmethod
    async def open(cls, path: str | Path) -> SqliteStore:
        path = str(path)
        try:
            if _is_file(path):
                await anyio.to_thread.run_sync(_keep_private, path)
            writer = await anyio.to_thread.run_sync(_connect, path)
            await anyio.to_thread.run_sync(_migrate, writer)
            reader = await anyio.to_thread.run_sync(_connect, path)
        except (sqlite3.Error, OSError) as error:
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
                self._writer.execute("SAVEPOINT unit")
            except sqlite3.Error as error:
                await self._end_batch(batch, failure=error)
                raise StorageError(f"cannot start a transaction: {error}") from error
            try:
                yield Queries(tracing.sql(SqliteConnection(self._writer)))
                self._writer.execute("RELEASE unit")
            except BaseException as error:
                with anyio.CancelScope(shield=True):
                    try:
                        self._writer.execute("ROLLBACK TO unit")
                        self._writer.execute("RELEASE unit")
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
            try:  # may wait for another process's write lock: not on the event loop
                await anyio.to_thread.run_sync(self._begin)
            except sqlite3.Error as error:
                raise StorageError(f"cannot start a transaction: {error}") from error
            self._batch = _Batch()
        return self._batch

    @tracing.traced("SQLite write turn + BEGIN IMMEDIATE (waits for other processes)")
    def _begin(self) -> None:
        self._turn.take()
        try:
            self._writer.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._turn.give_back()
            raise

    async def _commit_if_last(self, batch: _Batch) -> None:
        """Commit now unless more units wait to join (and the batch is not full yet).

        The commit is the fsync. While recent ones took under `INLINE_COMMIT`
        (a local SSD: a fraction of a millisecond) it runs on the event loop,
        cheaper than the thread hand-off it saves; once they are slower (a
        busy or network disk) it runs in a worker thread, so the loop never
        stalls behind a slow disk. The write lock keeps the connection ours.
        """
        waiting = self._write_lock.statistics().tasks_waiting
        if waiting and batch.units < MAX_BATCH:
            return
        try:
            if self._commit_seconds < INLINE_COMMIT:
                self._commit()
            else:
                await anyio.to_thread.run_sync(self._commit)
        except sqlite3.Error as error:
            await self._end_batch(batch, failure=error)
            return
        await self._end_batch(batch)

    @tracing.traced("SQLite COMMIT (the fsync)")
    def _commit(self) -> None:
        started = time.perf_counter()
        self._writer.execute("COMMIT")
        took = time.perf_counter() - started  # a moving average: one slow fsync moves it
        self._commit_seconds += (took - self._commit_seconds) / 4

    async def _end_batch(self, batch: _Batch, failure: BaseException | None = None) -> None:
        if failure is not None:
            batch.failure = failure
            try:
                self._writer.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        self._turn.give_back()
        self._batch = None
        batch.done.set()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Queries]:
        try:
            yield Queries(tracing.sql(SqliteConnection(self._reader)))
        except sqlite3.Error as error:
            raise StorageError(f"SQLite read failed: {error}") from error

    async def raw_rows(self, table: str) -> list[sqlite3.Row]:
        """Every row of a table as stored, for copying the database elsewhere."""
        return list(self._reader.execute(f"SELECT * FROM {table}").fetchall())

    async def close(self) -> None:
        self._reader.close()
        self._writer.close()
        self._turn.close()


def _migrate(conn: sqlite3.Connection) -> None:
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    for version, script in scripts("sqlite"):
        if version <= current:
            continue
        # executescript commits on its own; the version bump is part of the script's batch.
        conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;")
