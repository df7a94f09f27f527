"""Storage: one small interface (`Store`), a SQLite and a PostgreSQL implementation."""

from __future__ import annotations

from service.store.base import StorageError, Store
from service.store.queries import (
    DueTimer,
    Escalation,
    InboundReceipt,
    OutboxItem,
    Queries,
    QueuedMail,
    ThreadRoots,
    TicketParties,
)

__all__ = [
    "DueTimer",
    "Escalation",
    "InboundReceipt",
    "OutboxItem",
    "Queries",
    "QueuedMail",
    "StorageError",
    "Store",
    "ThreadRoots",
    "TicketParties",
    "open_store",
]


async def open_store(url: str) -> Store:
    """Open the database named by `url`: a file path, `sqlite:///path`, or `postgresql://…`."""
    if url.startswith(("postgresql://", "postgres://")):
        from service.store.postgres import PostgresStore

        return await PostgresStore.open(url)
    from service.store.sqlite import SqliteStore

    path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
    return await SqliteStore.open(path)
