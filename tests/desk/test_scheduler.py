"""Durable timers: fired in time order, each exactly once, also across restarts and races."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from service.catalog import import_catalog
from service.clock import FakeClock, SystemClock
from service.desk import Desk, MailIdentity, OpenRequest
from service.domain.events import Open
from service.domain.records import CloseReason, Party, TicketStatus, TicketType
from service.scheduler import Scheduler
from service.store import Store
from service.store.postgres import PostgresStore
from service.store.sqlite import SqliteStore
from tests.conftest import DOMAIN, POSTGRES_URL

pytestmark = pytest.mark.anyio


async def test_a_week_of_fake_time_fires_the_whole_ladder_at_the_minutes_it_was_due(
    desk: Desk, scheduler: Scheduler, store: Store, catalog: dict[str, Any], clock: FakeClock
) -> None:
    opened = await desk.apply(OpenRequest("BOOK0001", Open(TicketType.SUPPORT, Party.CUSTOMER)))
    assert opened.ticket is not None
    start = clock.now()  # Monday 10:00 UTC; day six is Sunday 10:00 -> Monday 00:00 New York
    clock.advance(timedelta(days=10))
    assert await scheduler.run_due() == 3
    async with store.reading() as q:
        ticket = await q.tickets.get(opened.ticket.number)
    assert ticket is not None
    assert [(h.kind, h.at) for h in ticket.history] == [
        ("opened", start),
        ("inactivity_warning", start + timedelta(hours=48)),
        ("inactivity_warning", start + timedelta(hours=96)),
        ("closed", datetime(2026, 11, 9, 5, 0, tzinfo=UTC)),  # Monday 00:00 EST
    ]
    assert ticket.close_reason is CloseReason.INACTIVITY


async def test_timers_fire_in_time_order_across_tickets(
    desk: Desk, scheduler: Scheduler, store: Store, catalog: dict[str, Any], clock: FakeClock
) -> None:
    first = await desk.apply(OpenRequest("BOOK0001", Open(TicketType.SUPPORT, Party.CUSTOMER)))
    clock.advance(timedelta(hours=1))
    second = await desk.apply(OpenRequest("MUG00001", Open(TicketType.SUPPORT, Party.CUSTOMER)))
    assert first.ticket and second.ticket
    clock.advance(timedelta(days=3))
    await scheduler.run_due()
    async with store.reading() as q:
        rows = await q.outbox.find()
    warnings = sorted(
        (m.id, m.item.ticket_number) for m in rows if m.item.kind == "inactivity_warning"
    )
    assert [n for _, n in warnings] == [first.ticket.number] * 2 + [second.ticket.number] * 2


async def test_nothing_fires_twice_across_a_restart_and_what_fell_due_meanwhile_fires(
    tmp_path: Path, catalog: dict[str, Any], backend: str, store: Store
) -> None:
    clock = FakeClock(datetime(2026, 11, 2, 10, 0, tzinfo=UTC))
    desk = Desk(store, clock, MailIdentity(DOMAIN))
    opened = await desk.apply(OpenRequest("BOOK0001", Open(TicketType.SUPPORT, Party.CUSTOMER)))
    assert opened.ticket is not None
    clock.advance(timedelta(hours=50))
    assert await Scheduler(store, desk, clock).run_due() == 1

    # "Restart": a second store on the same database, with fresh desk and scheduler.
    again = await reopen(store, backend)
    try:
        desk2 = Desk(again, clock, MailIdentity(DOMAIN))
        assert await Scheduler(again, desk2, clock).run_due() == 0
        clock.advance(timedelta(hours=50))  # the second warning fell due "while down"
        assert await Scheduler(again, desk2, clock).run_due() == 1
        async with again.reading() as q:
            ticket = await q.tickets.get(opened.ticket.number)
            sent = [m.item.kind for m in await q.outbox.find()]
    finally:
        await again.close()
    assert ticket is not None
    assert [h.kind for h in ticket.history].count("inactivity_warning") == 2
    assert sent.count("inactivity_warning") == 4  # two warnings, two parties each


async def race(first: Store, second: Store, clock: FakeClock) -> list[int]:
    """Two schedulers, one on each store of one database, firing what is due at once."""
    counts: list[int] = []

    async def run(s: Store) -> None:
        counts.append(await Scheduler(s, Desk(s, clock, MailIdentity(DOMAIN)), clock).run_due())

    async with anyio.create_task_group() as group:
        group.start_soon(run, first)
        group.start_soon(run, second)
    return counts


async def test_two_schedulers_racing_fire_each_timer_once(
    catalog: dict[str, Any], backend: str, store: Store, clock: FakeClock
) -> None:
    desk = Desk(store, clock, MailIdentity(DOMAIN))
    numbers = []
    for reference in ("BOOK0001", "MUG00001", "SUB00001", "GLX00001"):
        outcome = await desk.apply(OpenRequest(reference, Open(TicketType.SUPPORT, Party.CUSTOMER)))
        assert outcome.ticket is not None
        numbers.append(outcome.ticket.number)
    other = await reopen(store, backend)
    try:
        clock.advance(timedelta(days=10))
        counts = await race(store, other, clock)
    finally:
        await other.close()
    assert sum(counts) == 3 * len(numbers)
    async with store.reading() as q:
        for number in numbers:
            ticket = await q.tickets.get(number)
            assert ticket is not None and ticket.status is TicketStatus.CLOSED
            assert [h.kind for h in ticket.history].count("inactivity_warning") == 2
        kinds = [m.item.kind for m in await q.outbox.find()]
    assert kinds.count("ticket_closed") == 2 * len(numbers)


async def test_an_idle_tick_with_nothing_due_fires_nothing(
    desk: Desk, scheduler: Scheduler, catalog: dict[str, Any], clock: FakeClock
) -> None:
    await desk.apply(OpenRequest("BOOK0001", Open(TicketType.SUPPORT, Party.CUSTOMER)))
    clock.advance(timedelta(hours=47, minutes=59))
    assert await scheduler.run_due() == 0


async def reopen(store: Store, backend: str) -> Store:
    if backend == "sqlite":
        assert isinstance(store, SqliteStore)
        return await SqliteStore.open(store.path)
    assert isinstance(store, PostgresStore)
    return await PostgresStore.open(POSTGRES_URL, schema=store.schema, max_size=4)


def _manual_subscriptions(count: int, billing_at: datetime) -> dict[str, Any]:
    """`count` manual subscriptions of acme's ACME-PRO (see `small_catalog`) billing at one time."""
    return {
        "vendors": [],
        "products": [],
        "orders": [
            {
                "reference": f"MAN{i:05d}",
                "vendor": "acme",
                "customer": {"email": f"sub{i}@example.test"},
                "items": [{"sku": "ACME-PRO", "quantity": 1}],
                "payment_method": "credit_card",
                "purchased_at": "2026-10-01T10:00:00Z",
                "bills": [{"billed_at": "2026-10-01T10:00:00Z", "amount": "19.95"}],
                "subscription": {
                    "renewal": "manual",
                    "next_billing_at": billing_at.isoformat().replace("+00:00", "Z"),
                },
            }
            for i in range(count)
        ],
    }


async def _reminders(store: Store) -> list[str]:
    async with store.reading() as q:
        return [
            m.item.to_address for m in await q.outbox.find() if m.item.kind == "renewal_reminder"
        ]


async def test_two_schedulers_racing_send_each_subscription_reminder_once(
    catalog: dict[str, Any], backend: str, store: Store, clock: FakeClock
) -> None:
    billing_at = clock.now() + timedelta(days=10)
    await import_catalog(store, _manual_subscriptions(6, billing_at), clock=clock)
    other = await reopen(store, backend)
    try:
        clock.advance(timedelta(days=3, minutes=1))  # past billing_at - 7 days
        counts = await race(store, other, clock)
    finally:
        await other.close()
    assert sum(counts) == 6
    assert sorted(await _reminders(store)) == sorted(f"sub{i}@example.test" for i in range(6))


async def test_on_the_real_clock_a_reminder_goes_out_when_due_and_once(
    store: Store, catalog: dict[str, Any]
) -> None:
    """The system clock and the running worker, not a fake one: due in a second, sent once."""
    clock = SystemClock()
    billing_at = clock.now() + timedelta(days=7, seconds=1)
    await import_catalog(store, _manual_subscriptions(1, billing_at), clock=clock)
    scheduler = Scheduler(store, Desk(store, clock, MailIdentity(DOMAIN)), clock, poll_interval=0.2)
    assert await scheduler.run_due() == 0  # not yet
    async with anyio.create_task_group() as group:
        group.start_soon(scheduler.run_forever)
        await anyio.sleep(2.5)  # due after 1 s; polled every 0.2 s: due, then a dozen ticks
        group.cancel_scope.cancel()
    assert await _reminders(store) == ["sub0@example.test"]
