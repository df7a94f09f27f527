"""Moving a live SQLite database to PostgreSQL keeps every ticket, timer, email and attachment."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from service.catalog import import_catalog
from service.clock import FakeClock
from service.desk import Desk, MailIdentity, OpenRequest, TicketAction
from service.domain.events import Open, Reply
from service.domain.records import Attachment, Party, TicketType
from service.representations import order_json, subscription_json, ticket_json
from service.store import StorageError
from service.store.migrate import copy_sqlite_to_postgres
from service.store.postgres import PostgresStore
from service.store.sqlite import SqliteStore
from tests.conftest import DOMAIN, POSTGRES_URL, START, require_postgres, small_catalog

pytestmark = pytest.mark.anyio


async def test_a_sqlite_database_moves_to_postgresql_whole_and_keeps_working(
    tmp_path: Path,
) -> None:
    require_postgres()
    sqlite = await SqliteStore.open(tmp_path / "old.db")
    clock = FakeClock(START)
    await import_catalog(sqlite, small_catalog())
    desk = Desk(sqlite, clock, MailIdentity(DOMAIN))
    note = Attachment("note.txt", "text/plain", 2, "blob-x")
    opened = await desk.apply(
        OpenRequest(
            "BOOK0001",
            Open(TicketType.REFUND, Party.CUSTOMER, "Refund", (note,)),
            blobs={"blob-x": b"hi"},
        )
    )
    assert opened.ticket is not None
    await desk.apply(TicketAction(opened.ticket.number, (Reply(Party.VENDOR, "Sure"),)))
    schema = f"migrate_{uuid.uuid4().hex[:10]}"
    postgres = await PostgresStore.open(POSTGRES_URL, schema=schema, max_size=2)
    try:
        counts = await copy_sqlite_to_postgres(sqlite, postgres)
        assert counts["tickets"] == 1 and counts["outbox"] == 4 and counts["attachments"] == 1
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for store, into in ((sqlite, before), (postgres, after)):
            async with store.reading() as q:
                ticket = await q.tickets.get(opened.ticket.number)
                order = await q.orders.get("BOOK0001")
                assert ticket is not None and order is not None
                into["ticket"], into["order"] = ticket_json(ticket), order_json(order)
                into["outbox"] = sorted(m.item.message_id for m in await q.outbox.find())
                into["blob"] = await q.tickets.attachment("blob-x")
                subscription = await q.subscriptions.get("S1001")
                assert subscription is not None
                into["subscription"] = subscription_json(subscription)
                into["secret"] = await q.subscriptions.secret("S1001")
        assert before == after
        assert counts["subscriptions"] == 1 and counts["subscription_items"] == 1
        with pytest.raises(StorageError, match="already has rows"):
            await copy_sqlite_to_postgres(sqlite, postgres)
        moved = Desk(postgres, clock, MailIdentity(DOMAIN))
        second = await moved.apply(
            OpenRequest("MUG00001", Open(TicketType.SUPPORT, Party.CUSTOMER, "Hi"))
        )
        assert second.ticket is not None
        assert second.ticket.number == opened.ticket.number + 1
    finally:
        await postgres.close()
        await sqlite.close()
        conn = await asyncpg.connect(POSTGRES_URL)
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()
