"""Non-ASCII addresses (RFC 6531/6532): answered with SMTPUTF8, or refused while they still can be.

Found behind a real Postfix: the listener took mail from `jöhn@…`, and the
answer could never leave. Now the answer goes with SMTPUTF8 when the relay
offers it, and when it does not, the sender is told at once (`553 5.6.7`)
while its own server still holds the message.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from service.config import Relay
from service.store import Store
from tests.conftest import DOMAIN
from tests.e2e.conftest import Served, serving

pytestmark = pytest.mark.anyio

JOHN = "jöhn@example.test"
REFUND = f"refund@{DOMAIN}"


class Relayed:
    def __init__(self) -> None:
        self.envelopes: list[tuple[str, list[str], bool, bytes]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(
            (
                str(envelope.mail_from),
                list(envelope.rcpt_tos),
                bool(envelope.smtp_utf8),
                bytes(envelope.original_content or b""),
            )
        )
        return "250 2.0.0 queued"


@asynccontextmanager
async def relay(handler: Relayed, *, smtputf8: bool) -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="relay.test", enable_SMTPUTF8=smtputf8, loop=loop),
        "127.0.0.1",
        0,
    )
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


async def write_from_john(served: Served) -> tuple[int, str]:
    """As Postfix sends it: MAIL FROM with SMTPUTF8, the address as UTF-8 in the header."""
    raw = (
        f"From: {JOHN}\r\nTo: {REFUND}\r\nSubject: Q7K2M9XA\r\n"
        "Message-ID: <utf8-1@example.test>\r\n\r\nBitte erstatten\r\n"
    ).encode()
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=served.smtp_port, start_tls=False)
    async with client:
        await client.ehlo()
        await client.mail(JOHN, options=["SMTPUTF8"], encoding="utf-8")
        await client.rcpt(REFUND)
        try:
            response = await client.data(raw)
        except aiosmtplib.SMTPResponseException as error:
            return error.code, error.message
    return response.code, response.message


async def test_the_answer_to_a_non_ascii_address_goes_out_with_smtputf8(store: Store) -> None:
    relayed = Relayed()
    async with relay(relayed, smtputf8=True) as port:
        relay_settings = Relay("127.0.0.1", port, starttls="off")
        async with serving(store, relay=relay_settings) as served:
            code, text = await write_from_john(served)
            assert code == 250, text
            await served.flush()
    (envelope,) = [e for e in relayed.envelopes if JOHN in e[1]]
    sender, recipients, smtputf8, content = envelope
    assert smtputf8 and recipients == [JOHN]
    assert f"To: {JOHN}".encode() in content  # RFC 6532: the address as UTF-8 in the header
    assert sender.startswith("bounces+")


async def test_mail_that_could_never_be_answered_is_refused_while_it_can_be(
    store: Store,
) -> None:
    relayed = Relayed()
    async with relay(relayed, smtputf8=False) as port:
        relay_settings = Relay("127.0.0.1", port, starttls="off")
        async with serving(store, relay=relay_settings) as served:
            code, text = await write_from_john(served)
            assert (code, text.split()[0]) == (553, "5.6.7"), text
            assert await served.tickets() == []
            assert (await served.inbound())[0]["status"] == "refused"
    assert relayed.envelopes == []


async def test_the_built_in_catcher_takes_any_address(served: Served) -> None:
    code, text = await write_from_john(served)
    assert code == 250, text
    await served.flush()
    assert [m for m in served.runtime.mailbox.messages() if JOHN in m.rcpt_tos]
