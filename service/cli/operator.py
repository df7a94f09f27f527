"""The operator's commands on a database: import, escalations, outbox, migrate-db.

Each opens the store named by `--db` (or `MAILDESK_DB`), does one thing, and
prints what a person at a terminal wants to read: a table, a summary line,
or one JSON object where a script reads the answer (`import`, `migrate-db`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import anyio

from service.catalog.stream import import_file
from service.clock import SystemClock
from service.config import DEFAULT_DOMAIN, ConfigError, env
from service.desk import Desk, MailIdentity
from service.outbound.webhook_target import AllowList
from service.runtime import stored_clock
from service.store import EmailItem, Store, open_store
from service.store.migrate import copy_sqlite_to_postgres
from service.store.postgres import PostgresStore
from service.store.sqlite import SqliteStore

NOT_SENT = ("pending", "retrying", "failed")
"""What `maildesk outbox` shows unless asked for sent mail: what may still need attention."""


async def with_store(args: argparse.Namespace, work: Callable[[Store], Awaitable[int]]) -> int:
    store = await open_store(args.db)
    try:
        return await work(store)
    finally:
        await store.close()


async def cmd_import(args: argparse.Namespace) -> int:
    """Read as a stream (`service.catalog.stream`): a file of any size in bounded memory."""
    allow = AllowList.parse(args.webhook_allow_hosts)
    path = Path(args.file)
    if not await anyio.Path(path).is_file():
        raise ConfigError(f"{args.file}: no such file")

    async def work(store: Store) -> int:
        counts = await import_file(
            store, path, clock=await stored_clock(store), webhook_allow=allow
        )
        print(json.dumps(counts))
        return 0

    return await with_store(args, work)


async def cmd_escalations(args: argparse.Namespace) -> int:
    async def work(store: Store) -> int:
        desk = Desk(store, SystemClock(), MailIdentity(env("domain", DEFAULT_DOMAIN) or ""))
        for vendor_id, abusing in ((args.abusing, True), (args.clear, False)):
            if vendor_id is None:
                continue
            if await desk.set_vendor_abusing(vendor_id, abusing, by="command line") is None:
                raise ConfigError(f"there is no vendor {vendor_id!r}; see `maildesk escalations`")
            state = "now marked as abusing" if abusing else "no longer marked as abusing"
            print(f"vendor {vendor_id} is {state} the save-the-sale window")
        async with store.reading() as q:
            escalations = await q.tickets.escalations(args.vendor)
        if not escalations:
            print("no escalations" + (f" for vendor {args.vendor}" if args.vendor else ""))
            return 0
        rows = [
            (
                f"{e.at:%Y-%m-%d %H:%M} UTC",
                f"#{e.ticket_number}",
                e.vendor_id,
                "yes" if e.vendor_abusing else "no",
                e.reason or "-",
            )
            for e in escalations
        ]
        print(table(("escalated", "ticket", "vendor", "marked abusing", "customer's words"), rows))
        return 0

    return await with_store(args, work)


async def cmd_outbox(args: argparse.Namespace) -> int:
    statuses: Sequence[str] | None = ("sent",) if args.sent else NOT_SENT
    if args.all:
        statuses = None

    async def work(store: Store) -> int:
        async with store.reading() as q:
            counts = await q.outbox.counts()
            found = await q.outbox.find(statuses, args.limit)
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        print(f"outbox: {summary or 'empty'}")
        rows = []
        for row in found:
            item = row.item
            what, where = (
                (item.kind, item.to_address)
                if isinstance(item, EmailItem)
                else (f"webhook {item.event}", item.url)
            )
            rows.append(
                (
                    f"#{row.id}",
                    row.status,
                    what,
                    where,
                    str(item.record or "-"),
                    str(row.attempts),
                    f"{row.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC",
                    row.last_error or "",
                )
            )
        if rows:
            columns = ("row", "status", "what", "to", "about", "tries", "next try", "last error")
            print(table(columns, rows))
        return 0

    return await with_store(args, work)


async def cmd_migrate_db(args: argparse.Namespace) -> int:
    if not args.to.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"--to {args.to!r}: expected a postgresql://… URL")
    source, target = await open_store(args.db), await open_store(args.to)
    try:
        if not isinstance(source, SqliteStore) or not isinstance(target, PostgresStore):
            raise ConfigError("migrate-db copies a SQLite --db into a PostgreSQL --to")
        counts = await copy_sqlite_to_postgres(source, target)
    finally:
        await source.close()
        await target.close()
    print(json.dumps(counts))
    return 0


def table(headings: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, as wide as their widest cell, for reading at a terminal."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headings)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(headings), line(["-" * w for w in widths]), *map(line, rows)])
