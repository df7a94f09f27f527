"""The scheduler under a big database: many open tickets, many timers due at once, idle ticks.

Two steps, each its own process (`python -m service.bench.scheduler build|run`):

`build` makes the database. The schema comes from `SqliteStore.open` (the
real migrations); the catalog is imported by maildesk's own
`import_catalog`; every ticket is opened by the real state machine
(`machine.open_ticket`, so it has its real comment, history and timer) and
written by the store's own `Queries.insert_ticket`. To write 100,000
tickets in seconds rather than minutes, those queries run over a plain
`sqlite3` connection (`DirectStore`: no thread hop per statement) in
transactions of 5,000 tickets with `synchronous=OFF`; nothing is sent and
no outbox rows are made for the openings (the inbound benchmark measures
that path). Half the tickets are refund requests (one per order), half
support tickets on the same orders. The first `due` tickets are opened on
Monday 10:00 UTC, so at Wednesday 10:01 UTC their timers are due (refunds:
processed after 24 weekday hours; support: the first inactivity warning
after 48 hours); the others are opened on Wednesday 09:00 UTC, so none of
theirs is.

Then `subscriptions` manual subscriptions (SPEC §7) are imported by the
same importer, in batches of 10,000 orders: the first `reminders` bill next
on Mon 30 Nov 16:00 UTC, so their payment reminders (7 days before) fall
due on Mon 23 Nov 16:00 UTC, before any ticket timer; the others bill on
20 Dec, so nothing of theirs is due.

`run` is a maildesk-like process: it builds the real `Runtime` (store,
renderer, funnel, scheduler, outbox, intake) over that database on a fake
clock, as `maildesk serve` does, and measures:

- an idle tick: one `Scheduler.run_due()` with nothing due (Monday 12:00),
  the median of many;
- reminders: the clock set to Monday 16:01, one `run_due()` fires every due
  reminder through the funnel and queues its email; counted afterwards;
- firing: the clock set to Wednesday 10:01, one `run_due()` fires every due
  timer through the funnel, each in its own committed transaction
  (`synchronous=FULL`) with its notifications queued; the queued rows are
  counted afterwards;
- memory: VmRSS after opening the runtime and after firing, and VmHWM.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from service.bench.corpus import make_catalog
from service.bench.servers import ADMIN_TOKEN, SECRET, _child_env, mb, proc_status
from service.store import Queries
from service.store.sqlite import SqliteConnection

OPEN_DUE = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # Monday
IDLE_AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
OPEN_LATER = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # Wednesday
FIRE_AT = datetime(2026, 11, 25, 10, 1, tzinfo=UTC)
REMIND_AT = datetime(2026, 11, 23, 16, 1, tzinfo=UTC)  # Monday, before any ticket timer
BATCH = 5_000
SUBSCRIPTION_BATCH = 10_000


class DirectStore:
    """A `Store` over one plain sqlite3 connection, for bulk loading only (never served)."""

    def __init__(self, path: Path) -> None:
        self.url = f"sqlite:///{path}"
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA synchronous = OFF")
        self._conn.execute("PRAGMA foreign_keys = ON")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Queries]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield Queries(SqliteConnection(self._conn))
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Queries]:
        yield Queries(SqliteConnection(self._conn))

    async def close(self) -> None:
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()


async def create_schema(path: Path) -> None:
    """An empty maildesk database, made by the store's own migrations."""
    from service.store.sqlite import SqliteStore

    store = await SqliteStore.open(path)
    await store.close()


async def import_direct(path: Path, document: dict[str, Any]) -> dict[str, int]:
    """`import_catalog` (maildesk's importer) over a `DirectStore`: same SQL, much faster.

    On the benchmark's clock (Monday 10:00), so subscription timers count from it.
    """
    from service.catalog import import_catalog
    from service.clock import FakeClock

    store = DirectStore(path)
    try:
        return await import_catalog(store, document, clock=FakeClock(OPEN_DUE))
    finally:
        await store.close()


def subscription_orders(first: int, count: int, reminders: int) -> dict[str, Any]:
    """Orders `first` .. `first + count - 1` of manual subscriptions; the first `reminders`
    (counted from 0) are reminded on Monday 16:00 UTC."""
    orders = [
        {
            "reference": f"SUBS{n:07d}",
            "vendor": "acme",
            "customer": {"email": f"subscriber{n:07d}@mail{n % 37}.example.test"},
            "items": [{"sku": "ACME-PRO", "quantity": 1}],
            "payment_method": "credit_card",
            "purchased_at": "2026-10-30T16:00:00Z",
            "bills": [{"billed_at": "2026-10-30T16:00:00Z", "amount": "19.95"}],
            "subscription": {
                "id": f"S{100_000 + n}",
                "renewal": "manual",
                "next_billing_at": (
                    "2026-11-30T16:00:00Z" if n < reminders else "2026-12-20T16:00:00Z"
                ),
            },
        }
        for n in range(first, first + count)
    ]
    return {"vendors": [], "products": [], "orders": orders}


async def build(
    path: Path, tickets: int, due: int, subscriptions: int = 0, reminders: int = 0
) -> dict[str, Any]:
    from service.catalog import parse_catalog
    from service.desk.outgoing import new_thread_roots
    from service.domain import machine
    from service.domain.events import Open
    from service.domain.records import Party, RecordRef, TicketType

    started = time.perf_counter()
    await create_schema(path)
    catalog = make_catalog((tickets + 1) // 2, approval_vendor=False)
    await import_direct(path, catalog.document)
    orders = parse_catalog(catalog.document).orders
    store = DirectStore(path)
    try:
        async with store.reading() as q:
            vendors = {v.id: v for v in await q.vendors.all()}
        for first in range(1, tickets + 1, BATCH):
            async with store.transaction() as q:
                for number in range(first, min(first + BATCH, tickets + 1)):
                    k = number - 1
                    order = orders[k // 2]
                    kind = TicketType.REFUND if k % 2 == 0 else TicketType.SUPPORT
                    text = (
                        f"Hello, I would like help with order {order.reference}: the license "
                        "key is rejected by the installer and the download link has expired."
                    )
                    transition = machine.open_ticket(
                        number,
                        Open(kind, Party.CUSTOMER, text),
                        OPEN_DUE if k < due else OPEN_LATER,
                        machine.Facts(vendors[order.vendor_id], order, None),
                    )
                    ticket = transition.ticket
                    assert ticket is not None and ticket.due is not None, transition.refusal
                    await q.tickets.insert(ticket, new_thread_roots("bench.test"), {})
                    await q.timers.set(
                        RecordRef.ticket(number), ticket.due.event.value, ticket.due.at
                    )
    finally:
        await store.close()
    for first in range(0, subscriptions, SUBSCRIPTION_BATCH):
        count = min(SUBSCRIPTION_BATCH, subscriptions - first)
        await import_direct(path, subscription_orders(first, count, reminders))
    return {
        "tickets": tickets,
        "due": due,
        "subscriptions": subscriptions,
        "reminders": reminders,
        "orders": len(orders),
        "build_s": round(time.perf_counter() - started, 2),
        "db_mb": round(_size(path) / 2**20, 1),
    }


def _size(path: Path) -> int:
    return path.stat().st_size


async def run(path: Path, due: int, idle_ticks: int) -> dict[str, Any]:
    from service.config import Settings
    from service.runtime import build_runtime

    settings = Settings(
        db=str(path),
        fake_clock=True,
        fake_clock_start=IDLE_AT,
        secret=SECRET.encode(),
        admin_token=ADMIN_TOKEN,
        mode="test",
    )
    runtime = await build_runtime(settings)
    try:
        clock = runtime.fake_clock
        assert clock is not None
        rss_open = proc_status(os.getpid()).get("VmRSS", 0)
        async with runtime.store.reading() as q:
            open_tickets = await q.tickets.open_count()
            queued_before = sum((await q.outbox.counts()).values())
            active_subscriptions = await q.subscriptions.active_count()
        idle_before = [await _timed(runtime.scheduler.run_due) for _ in range(idle_ticks)]
        clock.set(REMIND_AT)
        started = time.perf_counter()
        reminded = await runtime.scheduler.run_due()
        remind_s = time.perf_counter() - started
        async with runtime.store.reading() as q:
            queued_reminders = sum((await q.outbox.counts()).values()) - queued_before
            queued_before += queued_reminders
        clock.set(FIRE_AT)
        started = time.perf_counter()
        fired = await runtime.scheduler.run_due()
        fire_s = time.perf_counter() - started
        async with runtime.store.reading() as q:
            queued = sum((await q.outbox.counts()).values()) - queued_before
        idle_after = [await _timed(runtime.scheduler.run_due) for _ in range(idle_ticks)]
        status = proc_status(os.getpid())
        return {
            "open_tickets": open_tickets,
            "active_subscriptions": active_subscriptions,
            "reminders_fired": reminded,
            "reminders_queued": queued_reminders,
            "remind_s": round(remind_s, 3),
            "due": due,
            "fired": fired,
            "queued": queued,
            "fire_s": round(fire_s, 3),
            "fired_per_s": round(fired / fire_s, 1) if fire_s else 0.0,
            "idle_tick_ms": round(statistics.median(idle_before) * 1000, 3),
            "idle_tick_after_ms": round(statistics.median(idle_after) * 1000, 3),
            "idle_tick_p99_ms": round(_p99(idle_before + idle_after) * 1000, 3),
            "rss_open_mb": mb(rss_open),
            "rss_after_mb": mb(status.get("VmRSS")),
            "hwm_mb": mb(status.get("VmHWM")),
        }
    finally:
        await runtime.close()


async def _timed(step: Any) -> float:
    started = time.perf_counter()
    await step()
    return time.perf_counter() - started


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


async def measure(
    workdir: Path,
    tickets: int,
    due: int,
    idle_ticks: int,
    subscriptions: int = 0,
    reminders: int = 0,
) -> dict[str, Any]:
    """Build the database in one child process, then measure in a fresh one."""
    path = workdir / "scheduler.db"
    common = ["--db", str(path), "--due", str(due)]
    built = await _child(
        [
            "build",
            *common,
            "--tickets",
            str(tickets),
            "--subscriptions",
            str(subscriptions),
            "--reminders",
            str(reminders),
        ]
    )
    measured = await _child(["run", *common, "--idle-ticks", str(idle_ticks)])
    return {**built, **measured}


async def _child(args: list[str]) -> dict[str, Any]:
    command = [sys.executable, "-m", "service.bench.scheduler", *args]
    done = await anyio.run_process(command, env=_child_env(), check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr.decode()[-4000:]}"
        )
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.bench.scheduler")
    parser.add_argument("step", choices=["build", "run"])
    parser.add_argument("--db", required=True, type=Path)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--idle-ticks", type=int, default=200)
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--reminders", type=int, default=10_000)
    args = parser.parse_args(argv)
    if args.step == "build":
        if args.db.exists():
            args.db.unlink()
        result = anyio.run(
            build, args.db, args.tickets, args.due, args.subscriptions, args.reminders
        )
    else:
        result = anyio.run(run, args.db, args.due, args.idle_ticks)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
