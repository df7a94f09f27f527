"""`service.adapters.aiosmtplib` against the aiosmtplib installed: every private name it relies on.

`RelayClient.data_as_is` writes the content of `DATA` through aiosmtplib's
protocol object, which the package does not export. If a release renames,
re-types or changes what those names do, a test here fails naming it,
instead of notifications timing out or vanishing. Update the adapter and
the pin in pyproject.toml together, then this file.

What arrives at a real SMTP server, byte for byte, is tested in
`tests/outbound/test_transport.py` (against stock aiosmtpd and maildesk's
own session, with the relay's refusals classified).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiosmtplib
import anyio
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from aiosmtplib.email import quote_address
from aiosmtplib.protocol import SMTPProtocol
from hypothesis import given, settings
from hypothesis import strategies as st

from service.adapters.aiosmtplib import _PLAIN_ADDRESS, RelayClient
from tests.adapters.pins import assert_installed_in_pinned_series
from tests.inbound.test_smtp_data import Keeper, stock_aiosmtpd

pytestmark = pytest.mark.anyio

PROTOCOL_METHODS = {
    "write": (["self", "data"], False),
    "read_response": (["self", "timeout"], True),
}
"""`SMTPProtocol` methods the adapter calls: (parameters, is a coroutine function)."""

CLIENT_METHODS = {
    "execute_command": (["self", "args", "timeout"], True),  # public, but the DATA command's path
    "data": (["self", "message", "timeout"], True),  # public: the fallback for other line ends
}

MESSAGE = b"Subject: a\r\n\r\n.first\r\nsecond\r\n"


def test_aiosmtplib_is_the_series_the_adapter_was_written_for() -> None:
    assert_installed_in_pinned_series("aiosmtplib", "service/adapters/aiosmtplib.py")


@pytest.mark.parametrize(
    ("owner", "name"),
    [(SMTPProtocol, name) for name in PROTOCOL_METHODS]
    + [(aiosmtplib.SMTP, name) for name in CLIENT_METHODS],
)
def test_each_method_the_adapter_calls_still_has_the_same_parameters(
    owner: type, name: str
) -> None:
    parameters, is_coroutine = {**PROTOCOL_METHODS, **CLIENT_METHODS}[name]
    method = getattr(owner, name, None)
    assert method is not None, f"aiosmtplib's {owner.__name__}.{name} is gone"
    found = list(inspect.signature(method).parameters)
    assert found == parameters, f"{owner.__name__}.{name} now takes {found}"
    assert inspect.iscoroutinefunction(method) is is_coroutine


def test_read_response_still_waits_forever_unless_given_a_timeout() -> None:
    assert inspect.signature(SMTPProtocol.read_response).parameters["timeout"].default is None


def test_the_client_keeps_its_timeout_and_no_protocol_until_it_connects() -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=25, timeout=7.5)
    assert vars(client).get("timeout") == 7.5, "aiosmtplib's SMTP no longer keeps `timeout`"
    assert "protocol" in vars(client) and client.protocol is None


async def test_the_client_says_it_needs_ehlo_until_it_has_greeted() -> None:
    assert isinstance(vars(aiosmtplib.SMTP).get("is_ehlo_or_helo_needed"), property)
    async with stock_aiosmtpd(Keeper()) as port:
        client = RelayClient(hostname="127.0.0.1", port=port, timeout=2, start_tls=False)
        await client.connect()
        assert client.is_ehlo_or_helo_needed
        await client.ehlo()
        assert not client.is_ehlo_or_helo_needed
        await client.quit()


def test_the_names_the_adapter_adds_are_not_aiosmtplibs() -> None:
    added = {n for n in vars(RelayClient) if not n.startswith("__")}
    assert added == {"data_as_is", "mail_as_is", "rcpt_as_is"}
    assert not added & set(dir(aiosmtplib.SMTP)), "aiosmtplib now has one of them of its own"


@settings(max_examples=500)
@given(st.from_regex(_PLAIN_ADDRESS, fullmatch=True))
def test_a_plain_address_is_what_aiosmtplib_would_have_sent(address: str) -> None:
    """`mail_as_is` and `rcpt_as_is` write `<address>`: aiosmtplib's parser says the same."""
    assert quote_address(address) == f"<{address}>"


@pytest.mark.parametrize(
    "address",
    [
        "a b@c.test",
        "<a@c.test>",
        "a@c.test> SIZE=1",
        "a@c.test\r\nRSET",
        '"a b"@c.test',
        "a@[1.2.3.4]",
    ],
)
def test_anything_else_is_not_plain(address: str) -> None:
    assert not _PLAIN_ADDRESS.fullmatch(address)


class EnvelopeKeeper(Keeper):
    """Keeps each envelope too, and refuses the recipient `nobody@d.test`."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address == "nobody@d.test":
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return await super().handle_DATA(server, session, envelope)


async def test_the_envelope_as_is_is_aiosmtplibs_envelope_and_refused_the_same_way() -> None:
    relay = EnvelopeKeeper()
    async with stock_aiosmtpd(relay) as port:
        client = RelayClient(hostname="127.0.0.1", port=port, timeout=2, start_tls=False)
        await client.connect()
        await client.ehlo()
        assert (await client.mail_as_is("bounces+1.x@b.test")).code == 250
        assert (await client.rcpt_as_is("c.d+e@d.test")).code == 250
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
            await client.rcpt_as_is("nobody@d.test")
        assert (refused.value.code, refused.value.recipient) == (550, "nobody@d.test")
        await client.data_as_is(MESSAGE)
        await client.mail_as_is("Some One <a@b.test>")  # not plain: aiosmtplib's mail() reads it
        await client.rcpt_as_is("c@d.test")
        await client.data_as_is(MESSAGE)
        await client.quit()
    assert relay.envelopes == [
        ("bounces+1.x@b.test", ["c.d+e@d.test"]),
        ("a@b.test", ["c@d.test"]),
    ]


@asynccontextmanager
async def silent_after_354() -> AsyncIterator[int]:
    """A relay that takes the envelope, answers `354` to DATA, then never replies again."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 relay.test ESMTP\r\n")
        while line := await reader.readline():
            if line[:4].upper() == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                await reader.read()  # take the content, answer nothing
                break
            writer.write(b"250 OK\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


async def test_no_reply_to_the_content_is_a_timeout_and_the_connection_is_closed() -> None:
    async with silent_after_354() as port:
        client = RelayClient(hostname="127.0.0.1", port=port, timeout=0.3, start_tls=False)
        await client.connect()
        await client.ehlo()
        await client.mail("a@b.test")
        await client.rcpt("c@d.test")
        with anyio.fail_after(5), pytest.raises(aiosmtplib.SMTPTimeoutError):
            await client.data_as_is(MESSAGE)
        assert not client.is_connected and client.protocol is None
