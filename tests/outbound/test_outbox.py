"""The durable outbox: every notification delivered once, through outages, rejections and restarts.

Delivery goes over real SMTP on loopback to the real catcher (or to small
aiosmtpd relays that misbehave on purpose); what arrives is parsed back with
mail-parser.
"""

from __future__ import annotations

import socket
from collections import Counter
from datetime import timedelta
from typing import Any

import anyio
import mailparser
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from service.catcher.mailbox import Mailbox
from service.catcher.smtp import serve_catcher_smtp
from service.catcher.testing import running_catcher
from service.clock import FakeClock
from service.desk import Desk, OpenRequest, TicketAction
from service.domain.events import Open, Reply
from service.domain.records import Party, TicketType
from service.inbound.smtp_server import serve_smtp
from service.outbound.addresses import parse_reply_address, parse_ticket_link_token
from service.outbound.compose import Composer, MailSettings
from service.outbound.outbox import OutboxWorker
from service.outbound.render import Renderer
from service.outbound.transport import SmtpRelayTransport
from service.store import Store
from tests.conftest import DOMAIN

pytestmark = pytest.mark.anyio

SECRET = b"outbox-test-secret-0123456789"


def worker(store: Store, clock: FakeClock, port: int, *, timeout: float = 5.0) -> OutboxWorker:
    composer = Composer(store, Renderer(), MailSettings(SECRET, DOMAIN, "http://desk.test"))
    return OutboxWorker(
        store, clock, SmtpRelayTransport("127.0.0.1", port, timeout=timeout), composer
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def open_support_ticket_with_reply(desk: Desk) -> int:
    opened = await desk.apply(
        OpenRequest("BOOK0001", Open(TicketType.SUPPORT, Party.CUSTOMER, "It will not open"))
    )
    assert opened.ticket is not None
    await desk.apply(TicketAction(opened.ticket.number, (Reply(Party.VENDOR, "Try v2.1"),)))
    return opened.ticket.number


async def test_notifications_reach_both_parties_threaded_and_with_their_own_links(
    desk: Desk, store: Store, catalog: dict[str, Any], clock: FakeClock
) -> None:
    number = await open_support_ticket_with_reply(desk)
    async with running_catcher() as catcher:
        assert await worker(store, clock, catcher.port).run_once() == 4
        caught = await catcher.mailbox.wait_for_count(4)
    parsed = [mailparser.parse_from_bytes(m.raw) for m in caught]
    by_recipient: dict[str, list[Any]] = {}
    for mail in parsed:
        by_recipient.setdefault(mail.to[0][1], []).append(mail)
    assert set(by_recipient) == {"jane@example.test", "help@acme.test"}
    for address, pair in by_recipient.items():
        # Delivered concurrently: the thread's root is the one that answers nothing.
        opened, reply = sorted(pair, key=lambda m: "In-Reply-To" in m.headers)
        party = "customer" if address == "jane@example.test" else "vendor"
        assert opened.subject.startswith(f"[#{number}]")
        assert reply.subject.startswith(f"[#{number}]")
        headers = reply.headers
        assert headers["Auto-Submitted"] == "auto-generated"
        assert headers["In-Reply-To"] == opened.message_id
        assert opened.message_id in headers["References"]
        ((_, reply_to),) = reply.reply_to
        assert parse_reply_address(SECRET, reply_to) == (number, party)
        token = next(w for w in reply.body.split() if "/t/" in w).rsplit("/t/", 1)[1]
        assert parse_ticket_link_token(SECRET, token.strip(".,)>")) == (number, party)
        assert "Try v2.1" in reply.text_plain[0]
    assert (
        by_recipient["jane@example.test"][0].message_id
        != by_recipient["help@acme.test"][0].message_id
    )


@pytest.mark.reliability
async def test_a_relay_down_for_two_fake_days_delivers_everything_once_afterwards(
    desk: Desk, store: Store, catalog: dict[str, Any], clock: FakeClock
) -> None:
    await open_support_ticket_with_reply(desk)
    port = free_port()  # nothing listens here: connections are refused
    outbox = worker(store, clock, port)
    attempts = 0
    for _ in range(48):
        clock.advance(timedelta(hours=1))
        await outbox.run_once()
        attempts += 1
    async with store.reading() as q:
        waiting = await q.outbox.find()
    assert {m.status for m in waiting} == {"retrying", "pending"}
    # Paused, not hammering: at most one row was tried per pause, never all four each hour.
    assert sum(m.attempts for m in waiting) <= attempts
    mailbox = Mailbox()
    async with serve_catcher_smtp(mailbox, "127.0.0.1", port):
        clock.advance(timedelta(hours=1))
        assert await outbox.run_once() == 4
        assert await outbox.run_once() == 0
    counts = Counter(mailparser.parse_from_bytes(m.raw).message_id for m in mailbox.messages())
    assert len(counts) == 4 and set(counts.values()) == {1}
    async with store.reading() as q:
        assert {m.status for m in await q.outbox.find()} == {"sent"}


class RejectingRelay:
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "550 5.1.1 mailbox unavailable"


async def test_a_relay_answering_550_leaves_the_email_failed_and_visible(
    desk: Desk, store: Store, catalog: dict[str, Any], clock: FakeClock
) -> None:
    await desk.apply(OpenRequest("BOOK0001", Open(TicketType.SUPPORT, Party.CUSTOMER, "Hi")))
    async with serve_smtp(RejectingRelay(), hostname="relay.test", ident="relay") as (_, port):
        outbox = worker(store, clock, port)
        assert await outbox.run_once() == 0
        clock.advance(timedelta(days=1))
        assert await outbox.run_once() == 0  # failed rows are not retried
    async with store.reading() as q:
        rows = await q.outbox.find()
        counts = await q.outbox.counts()
    assert counts == {"failed": 2}
    assert all("550" in (m.last_error or "") and m.attempts == 1 for m in rows)


class SlowOnceRelay:
    """Swallows the first message past DATA without answering in time, then behaves."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.seen.append(bytes(envelope.original_content or b""))
        if len(self.seen) == 1:
            await anyio.sleep(2)
        return "250 OK"


async def test_a_timeout_after_data_is_retried_with_the_same_message_id(
    desk: Desk, store: Store, catalog: dict[str, Any], clock: FakeClock
) -> None:
    await desk.apply(OpenRequest("BOOK0001", Open(TicketType.SUPPORT, Party.CUSTOMER, "Hi")))
    relay = SlowOnceRelay()
    async with serve_smtp(relay, hostname="relay.test", ident="relay") as (_, port):
        outbox = worker(store, clock, port, timeout=0.5)
        outbox.concurrency = 1
        first = await outbox.run_once()
        clock.advance(timedelta(minutes=5))
        second = await outbox.run_once()
    assert first + second == 2
    ids = [mailparser.parse_from_bytes(raw).message_id for raw in relay.seen]
    assert len(ids) == 3 and len(set(ids)) == 2  # one message arrived twice, same Message-ID
    async with store.reading() as q:
        assert {m.status for m in await q.outbox.find()} == {"sent"}


async def test_queued_mail_survives_a_restart_and_is_sent_once_by_the_next_process(
    desk: Desk, store: Store, catalog: dict[str, Any], clock: FakeClock, backend: str
) -> None:
    await open_support_ticket_with_reply(desk)
    from tests.desk.test_scheduler import reopen

    again = await reopen(store, backend)
    try:
        async with running_catcher() as catcher:
            a, b = worker(store, clock, catcher.port), worker(again, clock, catcher.port)
            results: list[int] = []

            async def run(w: OutboxWorker) -> None:
                results.append(await w.run_once())

            async with anyio.create_task_group() as group:
                group.start_soon(run, a)
                group.start_soon(run, b)
            caught = catcher.mailbox.messages()
    finally:
        await again.close()
    assert sum(results) == 4
    ids = Counter(mailparser.parse_from_bytes(m.raw).message_id for m in caught)
    assert len(ids) == 4 and set(ids.values()) == {1}


class SlowRelay:
    """Takes `delay` seconds over every message, then accepts it."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await anyio.sleep(self.delay)
        return "250 OK"


async def test_a_worker_stopped_mid_batch_records_what_it_sent_and_releases_the_rest(
    desk: Desk, store: Store, catalog: dict[str, Any], clock: FakeClock
) -> None:
    await open_support_ticket_with_reply(desk)  # four notifications
    async with serve_smtp(SlowRelay(1.0), hostname="relay.test", ident="relay", grace=0) as (
        _,
        port,
    ):
        outbox = worker(store, clock, port)
        outbox.concurrency = 1
        with anyio.move_on_after(1.5):  # a stop while the second message is at the relay
            await outbox.run_once()
        async with store.reading() as q:
            assert await q.outbox.counts() == {"sent": 1, "pending": 3}
        # Released, not leased for five minutes: another worker sends them at the same moment.
        assert await worker(store, clock, port).run_once() == 3
    async with store.reading() as q:
        assert await q.outbox.counts() == {"sent": 4}


class CountingRelay:
    def __init__(self) -> None:
        self.messages = 0
        self.sessions: set[int] = set()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages += 1
        self.sessions.add(id(session))
        return "250 OK"


async def test_relay_connections_are_reused_and_one_the_relay_closed_is_replaced_quietly(
    desk: Desk, store: Store, catalog: dict[str, Any], clock: FakeClock
) -> None:
    await open_support_ticket_with_reply(desk)  # four notifications
    relay = CountingRelay()
    async with serve_smtp(relay, hostname="relay.test", ident="relay", idle_timeout=0.3) as (
        _,
        port,
    ):
        outbox = worker(store, clock, port)
        outbox.concurrency = 1
        assert await outbox.run_once() == 4
        assert len(relay.sessions) == 1  # one connection carried all four
        await anyio.sleep(0.6)  # the relay drops the idle connection we kept
        await desk.apply(
            OpenRequest("MUG00001", Open(TicketType.SUPPORT, Party.CUSTOMER, "Chipped"))
        )
        assert await outbox.run_once() == 2
    assert relay.messages == 6
    assert outbox.relay_down_until is None  # a stale connection is not a relay failure


class GreylistingRelay:
    """Answers `451` to RCPT for one mailbox (busy, greylisting) and takes everything else."""

    def __init__(self, busy: str) -> None:
        self.busy = busy
        self.delivered: list[str] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address == self.busy:
            return "451 4.2.1 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.delivered.extend(envelope.rcpt_tos)
        return "250 OK"


async def test_a_4xx_for_one_recipient_defers_that_message_alone_while_the_rest_flow(
    desk: Desk, store: Store, catalog: dict[str, Any], clock: FakeClock
) -> None:
    for reference in ("BOOK0001", "MUG00001", "GLX00001"):
        await desk.apply(OpenRequest(reference, Open(TicketType.SUPPORT, Party.CUSTOMER, "Hi")))
    relay = GreylistingRelay(busy="help@acme.test")
    async with serve_smtp(relay, hostname="relay.test", ident="relay") as (_, port):
        outbox = worker(store, clock, port)
        assert await outbox.run_once() == 4  # everyone but Acme's busy mailbox
        assert outbox.relay_down_until is None  # the relay is fine: nothing pauses
        assert sorted(relay.delivered) == sorted(
            ["jane@example.test", "bob@example.test", "jane@example.test", "owner@globex.test"]
        )
        async with store.reading() as q:
            waiting = [m for m in await q.outbox.find() if m.status != "sent"]
        assert [(m.status, m.item.to_address, m.attempts) for m in waiting] == [
            ("retrying", "help@acme.test", 1),
            ("retrying", "help@acme.test", 1),
        ]
        assert all("451 4.2.1" in (m.last_error or "") for m in waiting)
        # Its own backoff: nothing is retried before it is due.
        assert await outbox.run_once() == 0
        relay.busy = ""
        clock.advance(timedelta(seconds=31))
        assert await outbox.run_once() == 2
    assert sorted(relay.delivered).count("help@acme.test") == 2
