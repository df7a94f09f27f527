"""The storage interface: what the rest of maildesk may ask of a database.

Two real implementations sit behind it: SQLite through the standard sqlite3
module (the default, one process) and PostgreSQL through asyncpg (many processes on many
machines). Both speak the same SQL through a `SqlConnection`, so the
repositories in `service.store` are written once and every test runs on both.

A `Store` hands out `Queries` (one repository per record family) bound either
to a read connection or to a write transaction. Nothing outside
`service.store` writes SQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from service.domain.records import HistoryEntry, Party

if TYPE_CHECKING:
    from service.store.queries import Queries

Row = Mapping[str, Any]


class StorageError(Exception):
    """The database could not do what was asked (full disk, read-only file, lost connection).

    Callers treat it as transient: SMTP answers 451 so the sender retries.
    """


class SqlConnection(Protocol):
    """The handful of calls the queries need; `?` placeholders in every dialect."""

    dialect: str

    async def execute(self, sql: str, *args: object) -> None: ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None: ...

    async def fetch(self, sql: str, *args: object) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: object) -> Row | None: ...

    async def fetchval(self, sql: str, *args: object) -> Any: ...


class Store(Protocol):
    """A database maildesk can run on."""

    url: str

    def transaction(self) -> AbstractAsyncContextManager[Queries]:
        """One atomic unit of work: all of it is committed, or none of it."""
        ...

    def reading(self) -> AbstractAsyncContextManager[Queries]:
        """Reads outside any write transaction (they see committed data only)."""
        ...

    async def close(self) -> None: ...


class Repository:
    """One record family's queries, bound to one connection (and maybe one transaction).

    Placeholders are `?`; the PostgreSQL connection rewrites them. Values go in
    as Python objects (datetime, Decimal, bool) and each connection encodes
    them for its database; values read back are decoded with `as_time` and
    friends, whichever form they take.
    """

    def __init__(self, sql: SqlConnection) -> None:
        self.sql = sql

    @property
    def postgresql(self) -> bool:
        return self.sql.dialect == "postgresql"

    def one_of(self, column: str, values: Sequence[object]) -> tuple[str, tuple[object, ...]]:
        """`column` is one of `values`: the condition and its arguments.

        PostgreSQL takes the list as one array parameter, so the statement's
        text is the same whatever the count: prepared once per connection and
        kept in asyncpg's statement cache, where a text per count would cost a
        round trip to prepare it nearly every time and push the statements
        every event uses out of the cache. SQLite has no arrays: a placeholder
        each.
        """
        if self.postgresql:
            return f"{column} = ANY(?)", (list(values),)
        return f"{column} IN ({', '.join('?' for _ in values)})", tuple(values)

    def one_of_each_slice(
        self, column: str, values: Sequence[object]
    ) -> Iterator[tuple[str, tuple[object, ...]]]:
        """`one_of` for a whole import batch's values, `IN_LIST` at a time: a statement per
        slice, not one per value, and never more bound values than SQLite takes."""
        for start in range(0, len(values), IN_LIST):
            yield self.one_of(column, values[start : start + IN_LIST])


IN_LIST = 500
"""The most values one lookup carries: far below SQLite's limit of bound values."""


def as_time(value: object) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value))


def as_optional_time(value: object) -> datetime | None:
    return None if value is None else as_time(value)


def history_rows(
    owner: object, history: Sequence[HistoryEntry], seq: int
) -> list[tuple[object, ...]]:
    """A record's new history entries as rows of its events table: (owner, seq, kind,
    by_party, at, detail), numbered on from `seq`. Tickets and subscriptions alike."""
    return [
        (owner, seq + offset, e.kind, e.by.value, e.at, json.dumps(dict(e.detail)))
        for offset, e in enumerate(history, start=1)
    ]


HISTORY_COLUMNS = "kind, by_party, at, detail"
"""What `history_entry` reads, in this order, from an events table."""


def history_entry(row: Sequence[Any] | Row) -> HistoryEntry:
    """One row of `HISTORY_COLUMNS` of an events table (`ticket_events`,
    `subscription_events`) as an entry; a row or a record of them, read by position."""
    kind, by_party, at, detail = row
    return HistoryEntry(kind, Party(by_party), as_time(at), json.loads(detail or "{}"))
