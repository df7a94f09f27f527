"""Loops and floods: robots answering robots stop; one sender cannot open tickets without end."""

from __future__ import annotations

import uuid

import aiosmtplib
import pytest

from tests.conftest import DOMAIN
from tests.e2e.conftest import Served, reply_address_of

pytestmark = [pytest.mark.reliability, pytest.mark.anyio]


def auto_reply(to: str, subject: str, message_id: str, *, marked: bool) -> bytes:
    headers = [
        "From: Jane Doe <jane@example.test>",
        f"To: {to}",
        f"Subject: Re: {subject}",
        f"Message-ID: <{uuid.uuid4().hex}@example.test>",
        f"In-Reply-To: {message_id}",
    ]
    if marked:
        headers.append("Auto-Submitted: auto-replied")
    body = (
        "I am away until Monday and will read your message then.\r\n\r\n"
        f"On Mon, 23 Nov 2026 at 14:00, support wrote:\r\n> {subject}\r\n"
    )
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode()


@pytest.mark.parametrize("marked", [True, False], ids=["auto-submitted", "unmarked"])
async def test_an_auto_responder_answering_every_notification_stops_within_a_bound(
    served: Served, marked: bool
) -> None:
    code, _ = await served.send(
        "jane@example.test", f"support@{DOMAIN}", "B00K4JNE will not open", "Help!"
    )
    assert code == 250
    answered: set[str] = set()
    rounds = 0
    while rounds < 200:
        fresh = [
            m for m in await served.mail_to("jane@example.test") if m.message_id not in answered
        ]
        if not fresh:
            break
        for mail in fresh:
            answered.add(mail.message_id)
            raw = auto_reply(reply_address_of(mail), mail.subject, mail.message_id, marked=marked)
            code, _ = await served.send(
                "jane@example.test", reply_address_of(mail), "", "", raw=raw
            )
            assert code == 250
        rounds += 1
    limit = served.runtime.intake.settings.replies_per_ticket_hour
    assert rounds < 200, "the loop did not stop"
    to_jane = len(answered)
    assert to_jane == (1 if marked else 1 + limit)  # the opening, plus at most `limit` replies
    (ticket,) = await served.tickets()
    comments = [c for c in ticket["comments"] if c["author"] == "customer"]
    assert len(comments) == 1 + (0 if marked else limit)


async def test_one_sender_opening_a_thousand_tickets_an_hour_is_limited(served: Served) -> None:
    limit = served.runtime.settings.new_tickets_per_hour
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=served.smtp_port, start_tls=False)
    await client.connect()
    codes = []
    for i in range(1000):
        message = (
            f"From: jane@example.test\r\nTo: support@{DOMAIN}\r\n"
            f"Subject: B00K4JNE question {i}\r\nMessage-ID: <flood-{i}@x.test>\r\n\r\n"
            "Another question.\r\n"
        ).encode()
        try:
            await client.sendmail("jane@example.test", [f"support@{DOMAIN}"], message)
            codes.append(250)
        except aiosmtplib.SMTPResponseException as error:
            codes.append(error.code)
            await client.rset()
    await client.quit()
    assert codes.count(250) == limit
    assert codes.count(451) == 1000 - limit
    assert len(await served.tickets()) == limit
    await served.advance("PT1H1M")  # the window moves on: the sender may write again
    code, _ = await served.send(
        "jane@example.test", f"support@{DOMAIN}", "B00K4JNE again", "Still here"
    )
    assert code == 250
