"""The relay's SMTP client: what goes on the wire after DATA, and how replies are read."""

from __future__ import annotations

import re

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from hypothesis import given
from hypothesis import strategies as st

from service.outbound.smtp_client import (
    Reply,
    SmtpBadAddress,
    SmtpConnection,
    SmtpReplyError,
    _path,
    _ReplyReader,
    _stuffed,
)
from service.smtp_server import serve_smtp

pytestmark = pytest.mark.anyio


def stuffed_as_aiosmtplib_did(message: bytes) -> bytes:
    """aiosmtplib 5's DATA body, which `_stuffed` replaced: normalise, dot-stuff, terminate."""
    message = re.sub(rb"(?:\r\n|\n|\r(?!\n))", b"\r\n", message)
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    return re.sub(rb"(?m)^\.", b"..", message) + b".\r\n"


@given(st.lists(st.sampled_from([b"a", b".", b"..", b"\r\n", b"\n", b"\r", b" ", b"=2E"])))
def test_the_data_body_is_what_aiosmtplib_sent(parts: list[bytes]) -> None:
    message = b"".join(parts)
    assert _stuffed(message) == stuffed_as_aiosmtplib_did(message)


def test_a_crlf_message_is_only_dot_stuffed() -> None:
    assert _stuffed(b".a\r\n..b\r\nc") == b"..a\r\n...b\r\nc\r\n.\r\n"


def test_an_address_cannot_smuggle_a_command() -> None:
    assert _path("jane@example.test") == b"<jane@example.test>"
    for bad in ("a@b.test>\r\nRCPT TO:<c@d.test", "a b@c.test", "zoë@x.test"):
        with pytest.raises(SmtpBadAddress):
            _path(bad)


def replies(*chunks: bytes) -> list[Reply]:
    reader = _ReplyReader()
    for chunk in chunks:
        reader.data_received(chunk)
    return list(reader._replies)


def test_replies_are_read_whole_across_packets_and_lines() -> None:
    assert replies(b"250-relay.test\r\n250-SIZE 1000\r", b"\n250 HELP\r\n354 go ahead\r\n") == [
        Reply(250, "relay.test\nSIZE 1000\nHELP"),
        Reply(354, "go ahead"),
    ]


def test_a_reply_that_is_not_smtp_fails_the_connection() -> None:
    reader = _ReplyReader()
    reader.data_received(b"HTTP/1.1 400 Bad Request\r\n")
    assert isinstance(reader._error, SmtpReplyError) and reader._error.code == -1


class Recording:
    def __init__(self) -> None:
        self.envelopes: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.original_content, bytes)
        self.envelopes.append(
            (str(envelope.mail_from), list(envelope.rcpt_tos), envelope.original_content)
        )
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("nobody@"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


async def test_a_session_sends_messages_and_reports_refusals_with_their_code() -> None:
    relay = Recording()
    async with serve_smtp(relay, hostname="relay.test", ident="relay") as (host, port):
        client = await SmtpConnection.open(
            host, port, reply_timeout=5, local_hostname="desk.example.test"
        )
        await client.envelope("support@desk.test", ["jane@example.test"])
        await client.data(b"Subject: hi\r\n\r\n.leading dot\r\nend\r\n")
        with pytest.raises(SmtpReplyError) as refused:
            await client.envelope("support@desk.test", ["nobody@example.test"])
        assert refused.value.code == 550
        assert client.is_connected
        await client.quit()
        assert not client.is_connected
    assert relay.envelopes == [
        ("support@desk.test", ["jane@example.test"], b"Subject: hi\r\n\r\n.leading dot\r\nend\r\n")
    ]
