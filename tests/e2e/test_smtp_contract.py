"""SPEC §3 "Email in" as an SMTP server's contract: reply codes, and what each kind of mail may do.

Each test speaks SMTP to a real `maildesk serve` on loopback and checks both the
reply code and that nothing changed that should not have: tickets through the
API, sent mail through the catcher, kept messages through the store.
"""

from __future__ import annotations

import email.utils
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.store import Store
from tests.conftest import DOMAIN
from tests.e2e.conftest import DEMO_START, Served, reply_address_of, serving, ticket_number_of

pytestmark = [pytest.mark.anyio, pytest.mark.reliability]  # forged mail, duplicates, floods

MAIL = Path(__file__).resolve().parents[2] / "fixtures" / "mail"
REFUND = f"refund@{DOMAIN}"
SUPPORT = f"support@{DOMAIN}"
JANE = "jane@example.test"
BOB = "bob@example.test"
ACME = "help@acme.test"
STRANGER = "mallory@evil.test"
SMALL_LIMIT = 64 * 1024


def message(
    sender: str,
    to: str,
    subject: str,
    body: str,
    *,
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    lines = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Message-ID: {message_id or f'<{uuid.uuid4().hex}@client.test>'}",
        f"Date: {email.utils.format_datetime(DEMO_START)}",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
        "Content-Type: text/plain; charset=utf-8",
        "",
        body,
    ]
    return "\r\n".join(lines).encode()


async def a_refund(served: Served) -> int:
    """Jane's refund of Q7K2M9XA, opened by email, its notifications delivered."""
    code, reply = await served.send(JANE, REFUND, "Refund Q7K2M9XA", "Does not run.")
    assert code == 250, reply
    (ticket,) = await served.tickets()
    await served.flush()
    return int(ticket["number"])


@pytest.fixture
async def served_small(store: Store) -> AsyncIterator[Served]:
    """A server whose message size limit is 64 KB instead of 10 MB."""
    async with serving(store, max_message_size=SMALL_LIMIT) as running:
        yield running


# --- addresses and size ----------------------------------------------------------------


NOT_OURS = [
    "someone@elsewhere.test",
    f"support@sub.{DOMAIN}",
    f"postmaster-nobody@{DOMAIN}",
    f"t1.c.{'a' * 20}@{DOMAIN}",  # the shape of a reply address, without its signature
    f"v.acme.{'a' * 20}@{DOMAIN}",  # the shape of a command address, likewise
]


async def test_mail_for_an_address_that_is_not_ours_is_refused_at_rcpt(served: Served) -> None:
    number = await a_refund(served)
    await served.forget_mail()

    for recipient in NOT_OURS:
        code, text = await served.send(JANE, recipient, "Refund Q7K2M9XA", "#close")

        assert code == 550, (recipient, text)
    assert await served.mail() == []
    assert (await served.ticket(number))["status"] == "open"
    assert len(await served.inbound()) == 1  # only the refund itself was taken in


async def test_a_message_over_the_size_limit_is_refused_with_552(served_small: Served) -> None:
    padding = ("x" * 76 + "\r\n") * (SMALL_LIMIT // 78 + 10)

    code, text = await served_small.send(JANE, REFUND, "Refund Q7K2M9XA", padding)

    assert code == 552, text
    assert await served_small.tickets() == []
    assert await served_small.mail() == []
    code, text = await served_small.send(JANE, REFUND, "Refund Q7K2M9XA", "Small this time.")
    assert code == 250, text


# --- duplicates ------------------------------------------------------------------------


async def test_the_same_message_delivered_twice_acts_once(served: Served) -> None:
    opening = message(JANE, SUPPORT, "B00K4JNE will not open", "The PDF is blank.")

    first = await served.send(JANE, SUPPORT, "", "", raw=opening)
    second = await served.send(JANE, SUPPORT, "", "", raw=opening)

    assert first[0] == 250 and second[0] == 250
    (ticket,) = await served.tickets()
    assert sorted(await served.recipients()) == [ACME, JANE]
    address = await served.reply_address(JANE)
    reply = message(JANE, address, "Re: blank", "Any news?")
    assert (await served.send(JANE, address, "", "", raw=reply))[0] == 250
    assert (await served.send(JANE, address, "", "", raw=reply))[0] == 250
    comments = (await served.ticket(ticket["number"]))["comments"]
    assert [c["text"] for c in comments] == ["The PDF is blank.", "Any news?"]
    assert len(await served.inbound()) == 2


async def test_a_different_message_reusing_a_message_id_is_still_processed(
    served: Served,
) -> None:
    reused = "<reused-1@client.test>"
    first = message(JANE, SUPPORT, "B00K4JNE will not open", "Blank.", message_id=reused)
    second = message(JANE, SUPPORT, "Q7K2M9XA licence", "Key refused.", message_id=reused)

    assert (await served.send(JANE, SUPPORT, "", "", raw=first))[0] == 250
    assert (await served.send(JANE, SUPPORT, "", "", raw=second))[0] == 250

    assert sorted(t["order"] for t in await served.tickets()) == ["B00K4JNE", "Q7K2M9XA"]


# --- automatic mail --------------------------------------------------------------------


AUTOMATIC = [
    ({"Auto-Submitted": "auto-replied"}, JANE),
    ({"Auto-Submitted": "auto-generated"}, JANE),
    ({"Precedence": "bulk"}, JANE),
    ({"X-Autoreply": "yes"}, JANE),
    ({}, ""),  # the null envelope sender of bounces and other reports
]


async def test_automatic_mail_never_opens_a_ticket_acts_or_sends_anything(served: Served) -> None:
    number = await a_refund(served)
    address = await served.reply_address(JANE)
    before = await served.ticket(number)
    await served.forget_mail()

    for headers, envelope_from in AUTOMATIC:
        for to in (REFUND, SUPPORT, address):
            raw = message(JANE, to, "Refund B00K4JNE", "Out of office.\n#close", headers=headers)

            code, text = await served.deliver(raw, to, envelope_from)

            assert code == 250, (headers, envelope_from, to, text)
    assert await served.tickets() == [before]
    assert await served.mail() == []
    assert len(await served.inbound()) == 1 + 3 * len(AUTOMATIC)  # kept for the operator


def report(fixture: str, notification_id: str, recipient: str) -> bytes:
    """A fixture delivery report rewritten to be about one of our real notifications."""
    raw = (MAIL / fixture).read_bytes()
    for old in (
        b"<notification-12-1@support.maildesk.test>",
        b"<notification-12-2@support.maildesk.test>",
    ):
        raw = raw.replace(old, notification_id.encode())
    for old in (b"Nobody@Example.test", b"nobody@example.test", b"jane@example.test"):
        raw = raw.replace(old, recipient.encode())
    return raw.replace(b"notifications@support.maildesk.test", SUPPORT.encode())


async def test_a_bounce_of_a_notification_marks_the_address_bouncing_and_sends_nothing(
    served: Served,
) -> None:
    number = await a_refund(served)
    notification = await served.latest_to(JANE)
    before = await served.ticket(number)
    await served.forget_mail()
    forged = report("bounce-dsn.eml", "<made-up@support.maildesk.test>", JANE)
    dsn = report("bounce-dsn.eml", notification.message_id, JANE).replace(
        b"<20261102100005.ABC123@", b"<20261102100006.ABC124@"
    )

    assert (await served.deliver(forged, SUPPORT, ""))[0] == 250
    assert not await served.is_bouncing(JANE)  # only a bounce of our own mail counts
    code, text = await served.deliver(dsn, SUPPORT, "")

    assert code == 250, text
    assert await served.is_bouncing(JANE)
    assert not await served.is_bouncing(ACME)
    assert await served.mail() == []
    assert await served.ticket(number) == before


async def test_a_delay_report_is_not_a_bounce(served: Served) -> None:
    number = await a_refund(served)
    notification = await served.latest_to(JANE)
    before = await served.ticket(number)
    await served.forget_mail()
    dsn = report("delay-dsn.eml", notification.message_id, JANE)

    code, text = await served.deliver(dsn, SUPPORT, "")

    assert code == 250, text
    assert not await served.is_bouncing(JANE)
    assert await served.mail() == []
    assert await served.ticket(number) == before


# --- who may act -----------------------------------------------------------------------

DMARC_FAIL = (
    f"{DOMAIN}; spf=fail smtp.mailfrom=example.test; dkim=none; "
    "dmarc=fail (p=reject dis=none) header.from=example.test"
)


async def test_mail_failing_dmarc_is_refused_and_changes_nothing(served: Served) -> None:
    number = await a_refund(served)
    address = await served.reply_address(JANE)
    before = await served.ticket(number)
    await served.forget_mail()
    failing = {"Authentication-Results": DMARC_FAIL}

    on_ticket = await served.send(
        JANE, address, "Re: refund", "Never mind.\n#close", headers=failing
    )
    new_ticket = await served.send(JANE, REFUND, "Refund B00K4JNE", "Wrong book.", headers=failing)

    assert 500 <= on_ticket[0] < 600, on_ticket
    assert 500 <= new_ticket[0] < 600, new_ticket
    assert await served.ticket(number) == before
    assert [t["number"] for t in await served.tickets()] == [number]
    assert set(await served.recipients()) <= {JANE}


async def test_more_new_tickets_per_hour_than_the_limit_is_451_and_creates_nothing(
    served: Served,
) -> None:
    for n in range(5):
        code, text = await served.send(JANE, SUPPORT, f"Q7K2M9XA question {n}", "Hello?")
        assert code == 250, text
    last = await served.latest_to(JANE)
    await served.forget_mail()

    code, text = await served.send(JANE, SUPPORT, "Q7K2M9XA question 6", "Hello?")

    assert code == 451 and text.startswith("4.7.1"), text
    assert len(await served.tickets()) == 5
    assert await served.mail() == []
    assert len(await served.inbound()) == 5  # nothing was taken in: the sender retries
    # Replies are not new tickets: the limit never silences a conversation.
    code, text = await served.send(JANE, reply_address_of(last), "Re: question", "One more.")
    assert code == 250, text
    comments = (await served.ticket(ticket_number_of(last)))["comments"]
    assert comments[-1]["text"] == "One more."
    # An hour later the sender may open tickets again.
    await served.advance("PT61M")
    code, text = await served.send(JANE, SUPPORT, "Q7K2M9XA question 7", "Hello again?")
    assert code == 250, text
    assert len(await served.tickets()) == 6


SPOOFS = [
    (STRANGER, JANE, "Close it.\n#close"),  # a stranger on the customer's address
    (BOB, JANE, "Close it.\n#close"),  # another customer of the same vendor
    (JANE, ACME, "I am the vendor.\n#close"),  # the customer on the vendor's address
    (ACME, JANE, "I am Jane.\n#close"),  # the vendor on the customer's address
    ("owner@globex.test", ACME, "Saved.\n#support"),  # another vendor
    ("help@acme.test.evil.test", ACME, "Saved.\n#support"),  # a look-alike domain
]


async def test_a_spoofed_from_on_a_reply_address_is_refused_and_changes_nothing(
    served: Served,
) -> None:
    number = await a_refund(served)
    addresses = {JANE: await served.reply_address(JANE), ACME: await served.reply_address(ACME)}
    before = await served.ticket(number)
    await served.forget_mail()

    for sender, party, text in SPOOFS:
        code, reply = await served.send(sender, addresses[party], "Re: refund", text)

        assert 500 <= code < 600, (sender, party, reply)
    assert await served.ticket(number) == before
    assert not [m.subject for m in await served.mail() if f"[#{number}]" in m.subject]


async def test_a_subject_tag_alone_authorises_nothing(served: Served) -> None:
    number = await a_refund(served)
    before = await served.ticket(number)
    await served.forget_mail()

    await served.send(BOB, SUPPORT, f"Re: [#{number}] Refund request opened", "#close\n#support")
    await served.send(JANE, SUPPORT, f"Re: [#{number}] Q7K2M9XA", "#close\n#support")

    assert await served.ticket(number) == before
    others = [t for t in await served.tickets() if t["number"] != number]
    assert len(others) <= 1
    assert all((t["type"], t["customer"]) == ("support", JANE) for t in others)
    assert BOB not in [t["customer"] for t in await served.tickets()]
    assert not [m.subject for m in await served.mail() if f"[#{number}]" in m.subject]
