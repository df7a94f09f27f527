"""The funnel commits a ticket's state, history, timer, order changes and outbox rows together."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from service.clock import FakeClock
from service.desk import Desk, OpenRequest, OrderNotFound, TicketAction, TicketNotFound
from service.domain.events import Close, Open, Reply
from service.domain.records import (
    Attachment,
    Party,
    Sender,
    SubscriptionStatus,
    TicketStatus,
    TicketType,
    TimerEvent,
)
from service.scheduler import Scheduler
from service.store import Store

pytestmark = pytest.mark.anyio


async def outbox_kinds(store: Store) -> list[tuple[str, str, str]]:
    async with store.reading() as q:
        return sorted((m.item.kind, m.item.party, m.item.to_address) for m in await q.outbox.find())


async def test_opening_a_refund_commits_ticket_history_timer_and_both_notifications(
    desk: Desk, store: Store, catalog: dict[str, Any]
) -> None:
    outcome = await desk.apply(
        OpenRequest("BOOK0001", Open(TicketType.REFUND, Party.CUSTOMER, "Wrong book"))
    )
    assert outcome.accepted and outcome.ticket is not None
    async with store.reading() as q:
        ticket = await q.tickets.get(outcome.ticket.number)
    assert ticket is not None
    assert ticket.type is TicketType.REFUND and ticket.status is TicketStatus.OPEN
    assert [c.text for c in ticket.comments] == ["Wrong book"]
    assert [h.kind for h in ticket.history] == ["opened"]
    assert ticket.due is not None and ticket.due.event is TimerEvent.PROCESS
    assert await outbox_kinds(store) == [
        ("ticket_opened", "customer", "jane@example.test"),
        ("ticket_opened", "vendor", "help@acme.test"),
    ]


async def test_a_refused_open_creates_no_ticket_and_mails_the_reason_to_the_requester(
    desk: Desk, store: Store, catalog: dict[str, Any], clock: FakeClock
) -> None:
    clock.advance(timedelta(days=40))  # past acme's 30-day policy for customers
    outcome = await desk.apply(OpenRequest("BOOK0001", Open(TicketType.REFUND, Party.CUSTOMER)))
    assert not outcome.accepted and outcome.ticket is None
    assert "30 days" in outcome.refusals[0].reason
    async with store.reading() as q:
        assert await q.tickets.find() == []
        (mail,) = await q.outbox.find()
    assert mail.item.kind == "request_refused"
    assert mail.item.to_address == "jane@example.test"
    assert "30 days" in mail.item.payload["facts"]["reason"]


async def test_api_refusals_queue_no_email(
    desk: Desk, store: Store, catalog: dict[str, Any], clock: FakeClock
) -> None:
    clock.advance(timedelta(days=40))
    outcome = await desk.apply(
        OpenRequest("BOOK0001", Open(TicketType.REFUND, Party.CUSTOMER)), answered_directly=True
    )
    assert not outcome.accepted
    assert await outbox_kinds(store) == []


async def test_unknown_order_and_ticket_are_clear_errors(
    desk: Desk, catalog: dict[str, Any]
) -> None:
    with pytest.raises(OrderNotFound, match="NOPE0000"):
        await desk.apply(OpenRequest("NOPE0000", Open(TicketType.SUPPORT, Party.CUSTOMER)))
    with pytest.raises(TicketNotFound, match="#999"):
        await desk.apply(TicketAction(999, (Reply(Party.CUSTOMER, "hi"),)))


async def test_processing_a_subscription_refund_refunds_only_the_latest_bill_and_cancels(
    desk: Desk, scheduler: Scheduler, store: Store, catalog: dict[str, Any], clock: FakeClock
) -> None:
    opened = await desk.apply(OpenRequest("SUB00001", Open(TicketType.REFUND, Party.CUSTOMER)))
    assert opened.ticket is not None and opened.ticket.due is not None
    clock.set(opened.ticket.due.at)
    assert await scheduler.run_due() == 1
    async with store.reading() as q:
        order = await q.orders.get("SUB00001")
        ticket = await q.tickets.get(opened.ticket.number)
    assert order is not None and ticket is not None
    assert [b.refunded for b in order.bills] == [False, False, True]
    assert order.refunded_amount == Decimal("24.95")
    assert order.subscription_status is SubscriptionStatus.CANCELED
    assert ticket.status is TicketStatus.CLOSED and ticket.due is None
    kinds = [k for k, _, _ in await outbox_kinds(store)]
    assert kinds.count("refund_processed") == 2


async def test_a_second_refund_request_on_the_same_order_is_refused(
    desk: Desk, catalog: dict[str, Any]
) -> None:
    first = await desk.apply(OpenRequest("BOOK0001", Open(TicketType.REFUND, Party.CUSTOMER)))
    second = await desk.apply(OpenRequest("BOOK0001", Open(TicketType.REFUND, Party.CUSTOMER)))
    assert first.accepted and first.ticket is not None
    assert not second.accepted
    assert f"#{first.ticket.number}" in second.refusals[0].reason


async def test_a_reply_with_a_close_command_applies_both_in_one_transaction(
    desk: Desk, store: Store, catalog: dict[str, Any]
) -> None:
    opened = await desk.apply(OpenRequest("BOOK0001", Open(TicketType.SUPPORT, Party.CUSTOMER)))
    assert opened.ticket is not None
    outcome = await desk.apply(
        TicketAction(
            opened.ticket.number, (Reply(Party.CUSTOMER, "Solved, thanks"), Close(Party.CUSTOMER))
        )
    )
    assert outcome.accepted
    async with store.reading() as q:
        ticket = await q.tickets.get(opened.ticket.number)
    assert ticket is not None
    assert [h.kind for h in ticket.history] == ["opened", "replied", "closed"]
    assert ticket.status is TicketStatus.CLOSED and ticket.due is None


async def test_attachments_are_stored_with_their_comment(
    desk: Desk, store: Store, catalog: dict[str, Any]
) -> None:
    attachment = Attachment("receipt.pdf", "application/pdf", 4, "blob-1")
    opened = await desk.apply(
        OpenRequest(
            "BOOK0001",
            Open(TicketType.SUPPORT, Party.CUSTOMER, "See attached", (attachment,)),
            blobs={"blob-1": b"%PDF"},
        )
    )
    assert opened.ticket is not None
    async with store.reading() as q:
        ticket = await q.tickets.get(opened.ticket.number)
        stored = await q.tickets.attachment("blob-1")
    assert ticket is not None and ticket.comments[0].attachments == (attachment,)
    assert stored == (attachment, b"%PDF", opened.ticket.number)


async def test_a_failing_transaction_leaves_no_trace(
    desk: Desk, store: Store, catalog: dict[str, Any]
) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with store.transaction() as q:
            await q.settings.set("half", "written")
            raise Boom
    async with store.reading() as q:
        assert await q.settings.get("half") is None


async def test_notifications_thread_on_a_root_message_id_per_party(
    desk: Desk, store: Store, catalog: dict[str, Any]
) -> None:
    opened = await desk.apply(OpenRequest("BOOK0001", Open(TicketType.SUPPORT, Party.CUSTOMER)))
    assert opened.ticket is not None
    await desk.apply(TicketAction(opened.ticket.number, (Reply(Party.VENDOR, "Hello"),)))
    async with store.reading() as q:
        mails = await q.outbox.find()
    by_party: dict[str, list[Any]] = {}
    for mail in sorted(mails, key=lambda m: m.id):
        by_party.setdefault(mail.item.party, []).append(mail.item)
    for items in by_party.values():
        opened_mail, reply_mail = items
        assert opened_mail.message_id == opened_mail.thread_root
        assert reply_mail.thread_root == opened_mail.message_id
        assert reply_mail.message_id != opened_mail.message_id
    assert by_party["customer"][0].thread_root != by_party["vendor"][0].thread_root


async def test_ticket_parties_name_the_customer_and_vendor_that_may_act_on_a_ticket(
    desk: Desk, store: Store, catalog: dict[str, Any]
) -> None:
    outcome = await desk.apply(OpenRequest("BOOK0001", Open(TicketType.SUPPORT, Party.CUSTOMER)))
    assert outcome.ticket is not None
    async with store.reading() as q:
        parties = await q.tickets.parties(outcome.ticket.number)
        vendor = await q.vendors.get(outcome.ticket.vendor_id)
        missing = await q.tickets.parties(outcome.ticket.number + 1)
    assert parties is not None and missing is None
    assert parties.customer_email == "jane@example.test"
    assert parties.vendor == vendor


async def test_who_wrote_each_comment_and_the_customers_zone_are_kept_with_the_ticket(
    desk: Desk, store: Store, catalog: dict[str, Any]
) -> None:
    jane = Sender("jane@example.test", "Jane Doe", 60)
    outcome = await desk.apply(
        OpenRequest("BOOK0001", Open(TicketType.SUPPORT, Party.CUSTOMER, "Blank", (), jane))
    )
    assert outcome.ticket is not None
    number = outcome.ticket.number
    agent = Sender("agent@acme.test", "Anna Agent", -300)
    await desk.apply(TicketAction(number, (Reply(Party.VENDOR, "Try again", (), agent),)))
    async with store.reading() as q:
        ticket = await q.tickets.get(number)
        queued = await q.outbox.find()
    assert ticket is not None
    assert [(c.author_email, c.author_name) for c in ticket.comments] == [
        ("jane@example.test", "Jane Doe"),
        ("agent@acme.test", "Anna Agent"),
    ]
    assert ticket.customer_utc_offset == 60
    # Each copy is queued with the zone its reader reads times in.
    zones = {(m.item.kind, m.item.party): m.item.payload.get("zone") for m in queued}
    assert zones[("reply", "customer")] == "UTC+01:00"
    assert zones[("reply", "vendor")] == catalog["vendors"][0]["timezone"]
