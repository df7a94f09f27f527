"""The `maildesk` command: thin subcommands, each calling one function.

Parsing uses the standard library's argparse: subcommands, help and
environment defaults are all it needs to do, and it adds no dependency.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable, Sequence

import anyio

from service.catalog import ImportError_, import_catalog
from service.clock import SystemClock
from service.config import DEFAULT_DB, DEFAULT_DOMAIN, ConfigError, env
from service.desk import Desk, MailIdentity
from service.outbound.webhook_target import AllowList
from service.runner import WEBHOOK_ALLOW_HOSTS_HELP, add_run_commands
from service.store import EmailItem, StorageError, Store, open_store
from service.store.migrate import copy_sqlite_to_postgres
from service.store.postgres import PostgresStore
from service.store.sqlite import SqliteStore

Command = Callable[[argparse.Namespace], Awaitable[int]]


def _db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default=env("db", DEFAULT_DB),
        help="SQLite file or postgresql://… URL (MAILDESK_DB; default maildesk.db)",
    )


async def _with_store(args: argparse.Namespace, work: Callable[[Store], Awaitable[int]]) -> int:
    store = await open_store(args.db)
    try:
        return await work(store)
    finally:
        await store.close()


async def cmd_import(args: argparse.Namespace) -> int:
    allow = AllowList.parse(args.webhook_allow_hosts)
    try:
        data = json.loads(await anyio.Path(args.file).read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{args.file}: no such file") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"{args.file}: not valid JSON ({error})") from None

    async def work(store: Store) -> int:
        counts = await import_catalog(store, data, webhook_allow=allow)
        print(json.dumps(counts))
        return 0

    return await _with_store(args, work)


async def cmd_escalations(args: argparse.Namespace) -> int:
    async def work(store: Store) -> int:
        for vendor_id, abusing in ((args.abusing, True), (args.clear, False)):
            if vendor_id is None:
                continue
            desk = Desk(store, SystemClock(), MailIdentity(env("domain", DEFAULT_DOMAIN) or ""))
            if await desk.set_vendor_abusing(vendor_id, abusing) is None:
                raise ConfigError(f"there is no vendor {vendor_id!r}")
            state = "now marked as abusing" if abusing else "no longer marked as abusing"
            print(f"vendor {vendor_id} is {state} the save-the-sale window")
        async with store.reading() as q:
            escalations = await q.tickets.escalations(args.vendor)
        if not escalations:
            print("no escalations")
        for e in escalations:
            flag = "  [vendor marked abusing]" if e.vendor_abusing else ""
            reason = f"  {e.reason}" if e.reason else ""
            print(f"{e.at:%Y-%m-%d %H:%M}Z  ticket #{e.ticket_number}  {e.vendor_id}{flag}{reason}")
        return 0

    return await _with_store(args, work)


async def cmd_outbox(args: argparse.Namespace) -> int:
    async def work(store: Store) -> int:
        async with store.reading() as q:
            counts = await q.outbox.counts()
            rows = await q.outbox.find(args.status, args.limit)
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        print(f"outbox: {summary or 'empty'}")
        for row in rows:
            error = f"  last error: {row.last_error}" if row.last_error else ""
            item = row.item
            what, where = (
                (item.kind, item.to_address)
                if isinstance(item, EmailItem)
                else (f"webhook {item.event}", item.url)
            )
            print(
                f"#{row.id:<6} {row.status:<9} {what:<22} to {where}"
                f"  {item.record or '-'}  attempts {row.attempts}"
                f"  next {row.next_attempt_at:%Y-%m-%d %H:%M:%S}Z{error}"
            )
        return 0

    return await _with_store(args, work)


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="maildesk", description="An email helpdesk for refunds, cancelations and support."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("import", help="import vendors, products and orders from JSON")
    p.add_argument("file", help="a JSON file in the import format (see fixtures/demo.json)")
    _db_option(p)
    p.add_argument(
        "--webhook-allow-hosts",
        default=env("webhook_allow_hosts"),
        metavar="HOSTS",
        help=f"{WEBHOOK_ALLOW_HOSTS_HELP} (MAILDESK_WEBHOOK_ALLOW_HOSTS)",
    )
    p.set_defaults(run=cmd_import)

    p = commands.add_parser(
        "escalations", help="list escalations; mark a vendor as abusing the window, or clear it"
    )
    _db_option(p)
    p.add_argument("--vendor", help="only this vendor's escalations")
    p.add_argument("--abusing", metavar="VENDOR", help="mark VENDOR as abusing the window")
    p.add_argument("--clear", metavar="VENDOR", help="clear VENDOR's abuse mark")
    p.set_defaults(run=cmd_escalations)

    p = commands.add_parser("outbox", help="show queued, retrying and failed notifications")
    _db_option(p)
    p.add_argument("--status", choices=["pending", "retrying", "sent", "failed"])
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(run=cmd_outbox)

    p = commands.add_parser(
        "migrate-db", help="copy a SQLite database into an empty PostgreSQL database"
    )
    _db_option(p)
    p.add_argument("--to", required=True, metavar="postgresql://…", help="the target database")
    p.set_defaults(run=cmd_migrate_db)

    add_run_commands(commands)

    p = commands.add_parser("bench", help="measure throughput, latency and memory (see README)")
    from service.bench import cli as bench

    bench.add_options(p)
    p.set_defaults(run=bench.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Command = args.run
    try:
        return anyio.run(run, args)
    except (ConfigError, ImportError_, StorageError) as error:
        print(f"maildesk: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
