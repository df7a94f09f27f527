"""The relay transport: what a real SMTP server receives is the message, byte for byte.

`SmtpRelayTransport` sends the envelope as one pipelined group to a relay
that offers PIPELINING and one command at a time to one that does not, and
the content itself (`RelayClient.start_data_as_is` and `content_as_is`,
`service.adapters.aiosmtplib`), made CRLF as aiosmtplib's `data()` would
when it is not. Both are checked here against aiosmtpd's own `SMTP`
protocol, with and without PIPELINING offered, and against maildesk's
catcher (which reads DATA its own way), so no reader can hide a mistake of
another.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from service.adapters.aiosmtplib import _PipelinedReplies
from service.outbound.message import WireMessage
from service.outbound.transport import PermanentFailure, SmtpRelayTransport, TransientFailure
from tests.inbound.test_smtp_data import Keeper, maildesk_session, stock_aiosmtpd
from tests.loops import anyio_backend_on_both_loops  # noqa: F401 (a fixture: both event loops)

pytestmark = pytest.mark.anyio

SENDER = "support@desk.example.test"
RECIPIENT = "jane@example.test"


class OffersPipelining:
    """A handler whose EHLO reply offers PIPELINING while `pipelining`, as Postfix's does.

    aiosmtpd reads a command at a time from what arrived, so it takes a
    pipelined group as it is; it only never offers the extension itself.
    """

    pipelining = True

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        offer = ["250-PIPELINING"] if self.pipelining else []
        return [*responses[:-1], *offer, responses[-1]]


class OfferingPipelining(OffersPipelining):
    """`keeper`'s relay, offering PIPELINING."""

    def __init__(self, keeper: Keeper) -> None:
        self.keeper = keeper

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return await self.keeper.handle_DATA(server, session, envelope)


def pipelining_aiosmtpd(keeper: Keeper) -> AbstractAsyncContextManager[int]:
    return stock_aiosmtpd(OfferingPipelining(keeper))


RELAYS: dict[str, Callable[[Keeper], AbstractAsyncContextManager[int]]] = {
    "aiosmtpd": stock_aiosmtpd,
    "aiosmtpd offering PIPELINING": pipelining_aiosmtpd,
    "maildesk session": maildesk_session,
}

AS_IS = {
    "plain lines": b"Subject: a\r\n\r\nHello\r\n",
    "a first line that starts with a dot": b".hidden: x\r\n\r\nbody\r\n",
    "a line that is a single dot": b"Subject: a\r\n\r\nbefore\r\n.\r\nafter\r\n",
    "lines of dots": b"Subject: a\r\n\r\n..\r\n...x\r\n.\r\n",
    "a dot line last": b"Subject: a\r\n\r\nbody\r\n.\r\n",
}


@pytest.mark.parametrize("serve", RELAYS.values(), ids=RELAYS.keys())
@pytest.mark.parametrize("message", AS_IS.values(), ids=AS_IS.keys())
async def test_crlf_messages_arrive_byte_for_byte(
    serve: Callable[[Keeper], AbstractAsyncContextManager[int]], message: bytes
) -> None:
    relay = Keeper()
    async with serve(relay) as port:
        transport = SmtpRelayTransport("127.0.0.1", port, timeout=5)
        await transport.send(SENDER, [RECIPIENT], message)
        await transport.send(SENDER, [RECIPIENT], message)  # again, on the kept connection
        # As `build_message` makes it: its line ends are not counted, its dots still stuffed.
        await transport.send(SENDER, [RECIPIENT], WireMessage(message))
        await transport.aclose()
    assert relay.contents == [message, message, message]


async def test_a_relay_that_offers_pipelining_is_sent_the_envelope_as_one_group() -> None:
    relay = Keeper()
    async with pipelining_aiosmtpd(relay) as port:
        transport = SmtpRelayTransport("127.0.0.1", port, timeout=5)
        await transport.send(SENDER, [RECIPIENT], WireMessage(AS_IS["plain lines"]))
        (client,) = transport._idle
        assert client.supports_extension("pipelining")
        assert isinstance(client.protocol, _PipelinedReplies)  # it sent a group
        await transport.aclose()
    assert relay.contents == [AS_IS["plain lines"]]


NORMALISED = {
    "bare LF": (b"Subject: a\n\nline\n.\nend\n", b"Subject: a\r\n\r\nline\r\n.\r\nend\r\n"),
    "bare CR": (b"Subject: a\r\n\r\none\rtwo\r\n", b"Subject: a\r\n\r\none\r\ntwo\r\n"),
    "no final line end": (b"Subject: a\r\n\r\nlast", b"Subject: a\r\n\r\nlast\r\n"),
}


@pytest.mark.parametrize("serve", RELAYS.values(), ids=RELAYS.keys())
@pytest.mark.parametrize(("message", "arrives"), NORMALISED.values(), ids=NORMALISED.keys())
async def test_other_line_ends_are_made_crlf_as_aiosmtplib_does(
    serve: Callable[[Keeper], AbstractAsyncContextManager[int]], message: bytes, arrives: bytes
) -> None:
    relay = Keeper()
    async with serve(relay) as port:
        transport = SmtpRelayTransport("127.0.0.1", port, timeout=5)
        await transport.send(SENDER, [RECIPIENT], message)
        await transport.aclose()
    assert relay.contents == [arrives]


@pytest.mark.parametrize(
    ("reply", "error"),
    [("554 5.6.0 content refused", PermanentFailure), ("451 4.3.0 try later", TransientFailure)],
)
async def test_a_refusal_of_the_content_is_classified(reply: str, error: type[Exception]) -> None:
    relay = Keeper(reply)
    async with maildesk_session(relay) as port:
        transport = SmtpRelayTransport("127.0.0.1", port, timeout=5)
        with pytest.raises(error, match=reply[:3]):
            await transport.send(SENDER, [RECIPIENT], b"Subject: a\r\n\r\nbody\r\n")
        await transport.aclose()
    assert len(relay.contents) == 1


@asynccontextmanager
async def refusing_data_command(reply: bytes) -> AsyncIterator[int]:
    """A relay that accepts the envelope and answers `reply` to the DATA command itself."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 relay.test ESMTP\r\n")
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-relay.test\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                writer.write(reply + b"\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:
                writer.write(b"250 OK\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    ("reply", "error"),
    [(b"554 5.3.4 no DATA for you", PermanentFailure), (b"452 4.3.1 full", TransientFailure)],
)
async def test_a_refusal_of_the_data_command_is_classified(
    reply: bytes, error: type[Exception]
) -> None:
    async with refusing_data_command(reply) as port:
        transport = SmtpRelayTransport("127.0.0.1", port, timeout=5)
        with pytest.raises(error, match=reply[:3].decode()):
            await transport.send(SENDER, [RECIPIENT], b"Subject: a\r\n\r\nbody\r\n")
        await transport.aclose()
