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
from aiosmtplib.protocol import SMTPProtocol

from service.adapters.aiosmtplib import RelayClient
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


def test_the_name_the_adapter_adds_is_not_aiosmtplibs() -> None:
    added = {n for n in vars(RelayClient) if not n.startswith("__")}
    assert added == {"data_as_is"}
    assert not added & set(dir(aiosmtplib.SMTP)), "aiosmtplib now has data_as_is of its own"


async def test_a_connected_client_writes_and_reads_through_its_protocol() -> None:
    """The reply to content written with `protocol.write` is the one `read_response` returns."""
    relay = Keeper()
    async with stock_aiosmtpd(relay) as port:
        client = RelayClient(hostname="127.0.0.1", port=port, timeout=2, start_tls=False)
        await client.connect()
        assert isinstance(client.protocol, SMTPProtocol)
        await client.ehlo()
        await client.mail("a@b.test")
        await client.rcpt("c@d.test")
        with anyio.fail_after(5):
            response = await client.data_as_is(MESSAGE)
        assert response.code == 250
        assert (await client.noop()).code == 250  # nothing of the DATA reply was left behind
        protocol = client.protocol
        assert protocol is not None
        await client.quit()
    assert relay.contents == [MESSAGE]
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        protocol.write(b"NOOP\r\n")  # a closed connection is said so, as the adapter expects


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
