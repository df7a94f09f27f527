"""How fast the desk's ticket list answers with many tickets (issue #17).

    python -m service.bench.desk_list [--tickets 100000] [--db postgresql://…]

Fills a fresh database (a temporary SQLite file, or the PostgreSQL URL given,
which must be empty) with `--tickets` tickets of one vendor, each with a
comment, the open ones with a timer, and as many of another vendor's; then
times each query the desk's list makes (the page and its count) for the
filters a vendor uses most. Prints the median of `--runs` runs of each, in
milliseconds. A measuring tool, never a test: a shared machine's figures
move with its load.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio

from service.catalog import import_catalog
from service.store import Store, open_store
from service.store.desk import TicketQuery

START = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
CATALOG = {
    "vendors": [
        {"id": v, "name": v.title(), "account_email": f"owner@{v}.test", "api_key": f"{v}-k"}
        for v in ("acme", "globex")
    ],
    "products": [
        {
            "sku": f"{v}-app",
            "vendor": v,
            "name": "App",
            "kind": "digital",
            "price": "9.00",
            "currency": "USD",
        }
        for v in ("acme", "globex")
    ],
    "orders": [
        {
            "reference": f"{v[:3].upper()}{n:05d}",
            "vendor": v,
            "customer": {"email": f"c{n}@example.test"},
            "items": [{"sku": f"{v}-app", "quantity": 1}],
            "payment_method": "credit_card",
            "purchased_at": "2026-10-01T10:00:00Z",
            "bills": [{"billed_at": "2026-10-01T10:00:00Z", "amount": "9.00"}],
        }
        for v in ("acme", "globex")
        for n in range(200)
    ],
}
QUERIES = {
    "open, due first (page 1)": TicketQuery(status="open"),
    "open, due first (page 20)": TicketQuery(status="open", page=20),
    "waiting on me": TicketQuery(status="open", waiting_on_me=True),
    "due within 24 hours": TicketQuery(status="open", due_before=START + timedelta(days=1)),
    "all, newest": TicketQuery(sort="newest"),
    "search: order reference": TicketQuery(status=None, search="ACM00042"),
    "search: customer email": TicketQuery(status=None, search="c42@example.test"),
    "search: words": TicketQuery(status=None, search="printer"),
}


async def fill(store: Store, tickets: int) -> None:
    await import_catalog(store, CATALOG)
    number = 0
    batch = 5000
    for vendor in ("acme", "globex"):
        prefix = vendor[:3].upper()
        for first in range(0, tickets, batch):
            rows, timers, comments = [], [], []
            for i in range(first, min(first + batch, tickets)):
                number += 1
                n = i % 200
                is_open = i % 3 != 0
                opened = START - timedelta(minutes=i)
                rows.append(
                    (
                        number,
                        vendor,
                        f"{prefix}{n:05d}",
                        f"c{n}@example.test",
                        ("support", "refund", "cancelation")[i % 3 if i % 3 else 0],
                        "open" if is_open else "closed",
                        "customer",
                        opened,
                        opened,
                        "vendor" if i % 2 else "customer",
                        "",
                        f"<r{number}@b>",
                        f"<v{number}@b>",
                    )
                )
                if is_open:
                    timers.append(
                        (
                            "ticket",
                            str(number),
                            "inactivity_warning",
                            opened + timedelta(hours=48 + i % 97),
                        )
                    )
                word = "printer" if i % 500 == 0 else "license"
                comments.append((number, 1, "customer", f"My {word} does not work ({i}).", opened))
            async with store.transaction() as q:
                await q.sql.executemany(
                    """INSERT INTO tickets (number, vendor_id, order_reference, customer_email,
                           type, status, opened_by, opened_at, last_activity_at, waiting_on,
                           thread_token, customer_thread_root, vendor_thread_root)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    rows,
                )
                await q.sql.executemany(
                    "INSERT INTO timers (record_kind, record_id, event, due_at) "
                    "VALUES (?, ?, ?, ?)",
                    timers,
                )
                await q.sql.executemany(
                    "INSERT INTO comments (ticket_number, seq, author, text, at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    comments,
                )


async def measure(store: Store, runs: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    for name, query in QUERIES.items():
        times = []
        for _ in range(runs):
            began = time.perf_counter()
            async with store.reading() as q:
                await q.desk.tickets("acme", query)
            times.append((time.perf_counter() - began) * 1000)
        figures[name] = statistics.median(times)
    return figures


async def run(tickets: int, runs: int, db: str | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        store = await open_store(db or str(Path(folder) / "bench.db"))
        try:
            began = time.perf_counter()
            await fill(store, tickets)
            print(f"filled {2 * tickets} tickets in {time.perf_counter() - began:.1f} s")
            async with store.transaction() as q:  # as autovacuum would, after a bulk load
                await q.sql.execute("ANALYZE")
            figures = await measure(store, runs)
        finally:
            await store.close()
    for name, ms in figures.items():
        print(f"{name:32} {ms:8.1f} ms")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.bench.desk_list", description=__doc__)
    parser.add_argument("--tickets", type=int, default=100_000, help="tickets per vendor")
    parser.add_argument("--runs", type=int, default=5, help="runs of each query (median)")
    parser.add_argument("--db", default=None, help="an empty PostgreSQL URL (else SQLite)")
    args = parser.parse_args(argv)
    anyio.run(run, args.tickets, args.runs, args.db)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
