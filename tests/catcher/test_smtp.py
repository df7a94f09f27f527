"""The catcher over a real SMTP conversation on loopback."""

from __future__ import annotations

import aiosmtplib
import pytest

from service.catcher import Mailbox, RunningCatcher
from service.catcher.smtp import ACCEPTED, serve_catcher_smtp
from tests.catcher import mail

pytestmark = pytest.mark.anyio


async def send(catcher: RunningCatcher, raw: bytes, recipients: list[str]) -> str:
    _replies, last = await aiosmtplib.send(
        raw,
        sender=mail.SENDER,
        recipients=recipients,
        hostname=catcher.host,
        port=catcher.port,
        timeout=5,
    )
    return last


async def test_a_delivered_message_is_kept_byte_for_byte_with_its_envelope(
    catcher: RunningCatcher,
) -> None:
    raw = mail.refund_notice()

    reply = await send(catcher, raw, [mail.RECIPIENT, "bcc@example.test"])

    assert reply == ACCEPTED.removeprefix("250 ")
    [caught] = await catcher.mailbox.wait_for_count(1, timeout=2)
    assert caught.raw == raw
    assert caught.mail_from == mail.SENDER
    assert caught.rcpt_tos == (mail.RECIPIENT, "bcc@example.test")
    assert caught.subject == mail.SUBJECT


async def test_every_message_of_a_session_is_kept_in_order(catcher: RunningCatcher) -> None:
    async with aiosmtplib.SMTP(hostname=catcher.host, port=catcher.port, timeout=5) as client:
        for n in range(3):
            await client.sendmail(mail.SENDER, [mail.RECIPIENT], f"Subject: {n}\r\n\r\n{n}\r\n")

    messages = await catcher.mailbox.wait_for_count(3, timeout=2)
    assert [m.subject for m in messages] == ["0", "1", "2"]


@pytest.mark.parametrize("name", sorted(mail.MALFORMED))
async def test_malformed_mail_is_accepted_and_kept(catcher: RunningCatcher, name: str) -> None:
    reply = await send(catcher, mail.MALFORMED[name], [mail.RECIPIENT])

    assert reply == ACCEPTED.removeprefix("250 ")
    [caught] = await catcher.mailbox.wait_for_count(1, timeout=2)
    assert caught.to_json()["id"] == 1


async def test_a_bounce_with_an_empty_envelope_sender_is_kept(catcher: RunningCatcher) -> None:
    async with aiosmtplib.SMTP(hostname=catcher.host, port=catcher.port, timeout=5) as client:
        await client.sendmail("", [mail.SENDER], b"Subject: Undelivered Mail\r\n\r\nsorry\r\n")

    [caught] = await catcher.mailbox.wait_for_count(1, timeout=2)
    assert caught.mail_from == ""
    assert caught.to_json()["envelope_from"] == ""


async def test_the_listener_takes_an_ephemeral_port_and_closes_when_the_block_ends() -> None:
    async with serve_catcher_smtp(Mailbox(), "127.0.0.1", 0) as (host, port):
        assert host == "127.0.0.1"
        assert port > 0
        async with aiosmtplib.SMTP(hostname=host, port=port, timeout=5) as client:
            await client.noop()

    with pytest.raises(aiosmtplib.SMTPConnectError):
        await aiosmtplib.send(
            b"Subject: late\r\n\r\n",
            sender="a@example.test",
            recipients=["b@example.test"],
            hostname=host,
            port=port,
            timeout=2,
        )


async def test_closing_the_listener_hangs_up_on_connected_clients() -> None:
    async with serve_catcher_smtp(Mailbox(), "127.0.0.1", 0) as (host, port):
        client = aiosmtplib.SMTP(hostname=host, port=port, timeout=5)
        await client.connect()

    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await client.noop()
