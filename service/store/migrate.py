"""Moving a SQLite database to PostgreSQL: `maildesk migrate-db --to postgresql://…`.

Both schemas come from the same migrations, so the copy is table by table,
parents before children, each value converted to the PostgreSQL column's
type (SQLite keeps times and money as text, flags as integers). The target
must be empty; the copy is one transaction, so a failure leaves it empty
again. Sequences are moved past the copied ids so new rows never collide.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from service.store.base import StorageError
from service.store.postgres import PostgresStore
from service.store.sqlite import SqliteStore

TABLES = (
    "vendors",
    "customers",
    "products",
    "orders",
    "order_items",
    "bills",
    "subscriptions",
    "subscription_items",
    "subscription_events",
    "tickets",
    "timers",
    "comments",
    "attachments",
    "ticket_events",
    "escalations",
    "outbox",
    "inbound_messages",
    "bouncing_addresses",
    "settings",
    "signin_links",
    "web_sessions",
    "abuse_marks",
)

_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "timestamp with time zone": datetime.fromisoformat,
    "numeric": lambda v: Decimal(str(v)),
    "boolean": bool,
    "bytea": bytes,
}


async def copy_sqlite_to_postgres(source: SqliteStore, target: PostgresStore) -> dict[str, int]:
    """Copy every row; return how many were copied per table."""
    counts: dict[str, int] = {}
    async with target.raw_connection() as pg, pg.transaction():
        for table in TABLES:
            if await pg.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
                raise StorageError(
                    f"the target database already has rows in {table}; migrate into an empty "
                    "database (maildesk creates the schema on first connection)"
                )
        for table in TABLES:
            types = {
                r["column_name"]: r["data_type"]
                for r in await pg.fetch(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = $1 AND table_schema = current_schema()",
                    table,
                )
            }
            rows = await source.raw_rows(table)
            if not rows:
                counts[table] = 0
                continue
            columns = list(rows[0].keys())
            convert = [_CONVERTERS.get(types[c], lambda v: v) for c in columns]
            records = [
                tuple(
                    None if value is None else conv(value)
                    for conv, value in zip(convert, row, strict=True)
                )
                for row in rows
            ]
            await pg.copy_records_to_table(table, records=records, columns=columns)
            counts[table] = len(records)
        for table, column in await pg.fetch(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND column_default LIKE 'nextval(%'"
        ):
            await pg.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                f"COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
            )
        await pg.execute(
            "SELECT setval('ticket_numbers', COALESCE((SELECT MAX(number) FROM tickets), 0) + 1,"
            " false)"
        )
    return counts
