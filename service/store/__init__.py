"""Storage: one small interface (`Store`), a SQLite and a PostgreSQL implementation.

Each record family has its repository (`Queries.tickets`, `.orders`, `.outbox`,
…); the values they exchange that are not domain records are in `rows`.
"""

from __future__ import annotations

from service.store.base import StorageError, Store
from service.store.queries import Queries
from service.store.rows import (
    DueTimer,
    EmailItem,
    Escalation,
    InboundReceipt,
    OutboxItem,
    Queued,
    QueuedDelivery,
    QueuedEmail,
    QueuedWebhook,
    ThreadRoots,
    TicketParties,
    WebhookItem,
)

__all__ = [
    "DueTimer",
    "EmailItem",
    "Escalation",
    "InboundReceipt",
    "OutboxItem",
    "Queries",
    "Queued",
    "QueuedDelivery",
    "QueuedEmail",
    "QueuedWebhook",
    "StorageError",
    "Store",
    "ThreadRoots",
    "TicketParties",
    "WebhookItem",
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
