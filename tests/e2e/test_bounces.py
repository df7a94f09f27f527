"""Bounces as a receiving Postfix sends them: VERP names the notification, a hard-bouncing
address is not mailed again until it writes in, and the operator sees why."""

from __future__ import annotations

import pytest

from service.outbound.addresses import parse_bounce_address, ticket_url
from tests.e2e.conftest import Served
from tests.e2e.test_smtp_contract import ACME, JANE, SUPPORT, a_refund, message, report

pytestmark = [pytest.mark.anyio, pytest.mark.reliability]


def without_message_id(dsn: bytes, message_id: str) -> bytes:
    """A report that quotes no Message-ID (many servers quote the headers only in part)."""
    return dsn.replace(f"Message-ID: {message_id}".encode(), b"X-Dropped: yes")


async def verp_of(served: Served, address: str) -> str:
    """The envelope sender the newest notification to `address` went out with."""
    caught = [m for m in served.runtime.mailbox.messages() if address in m.rcpt_tos]
    assert caught, f"nothing was sent to {address}"
    return caught[-1].mail_from


async def test_each_notification_has_its_own_signed_envelope_sender(served: Served) -> None:
    await a_refund(served)
    to_jane, to_acme = await verp_of(served, JANE), await verp_of(served, ACME)
    assert to_jane != to_acme
    secret = served.runtime.settings.secret
    assert parse_bounce_address(secret, to_jane) is not None
    forged = to_jane.replace("bounces+", "bounces+9")
    code, _ = await served.deliver(b"Subject: x\r\n\r\nx\r\n", forged, "")
    assert code == 550  # a made-up bounce address is not ours


async def test_a_hard_bounce_to_the_verp_address_stops_mail_until_the_address_writes_in(
    served: Served,
) -> None:
    number = await a_refund(served)
    notification = await served.latest_to(JANE)
    vendor_reply = await served.reply_address(ACME)
    bounce_to = await verp_of(served, JANE)
    await served.forget_mail()
    dsn = without_message_id(
        report("bounce-dsn.eml", notification.message_id, JANE), notification.message_id
    )

    code, text = await served.deliver(dsn, bounce_to, "")
    assert code == 250, text
    assert await served.is_bouncing(JANE)

    # The vendor replies: Jane's copy is held, and the operator's outbox says why.
    code, _ = await served.send(ACME, vendor_reply, "Re: your refund", "Try version 2?")
    assert code == 250
    await served.flush()
    assert await served.mail_to(JANE) == []
    async with served.runtime.store.reading() as q:
        failed = await q.outbox.find("failed")
    held = [row for row in failed if row.item.to_address == JANE]
    assert held and "bounces hard" in (held[0].last_error or "")
    assert "5.1.1" in (held[0].last_error or "")
    assert (await served.ticket(number))["status"] == "open"
    # The vendor sees it on the ticket page, and so does Jane on hers.
    settings = served.runtime.settings
    for party, says in (("vendor", "Email to Jane Doe bounces"), ("customer", "Email to you")):
        url = ticket_url(settings.public_base_url, settings.secret, number, party)
        page = await served.http.get(url.removeprefix(settings.public_base_url))
        assert page.status_code == 200
        assert says in page.text and "5.1.1" in page.text

    # Jane writes in again: the mark is gone and she is mailed once more.
    code, _ = await served.send(JANE, SUPPORT, "Q7K2M9XA", "My address works again")
    assert code == 250
    assert not await served.is_bouncing(JANE)
    await served.flush()
    assert await served.mail_to(JANE)


async def test_a_temporary_failure_report_does_not_mark_the_address(served: Served) -> None:
    await a_refund(served)
    notification = await served.latest_to(JANE)
    bounce_to = await verp_of(served, JANE)
    dsn = report("bounce-dsn.eml", notification.message_id, JANE)
    soft = dsn.replace(b"Status: 5.", b"Status: 4.")
    assert b"Status: 4." in soft
    code, _ = await served.deliver(soft, bounce_to, "")
    assert code == 250
    assert not await served.is_bouncing(JANE)


async def test_mail_from_the_customer_is_still_taken_while_marked(served: Served) -> None:
    await a_refund(served)
    notification = await served.latest_to(JANE)
    dsn = report("bounce-dsn.eml", notification.message_id, JANE)
    assert (await served.deliver(dsn, SUPPORT, ""))[0] == 250
    assert await served.is_bouncing(JANE)
    raw = message(JANE, SUPPORT, "Q7K2M9XA", "still here")
    assert (await served.deliver(raw, SUPPORT, JANE))[0] == 250
    assert not await served.is_bouncing(JANE)
