"""The end-to-end run's relay, `service.bench.sink`, as maildesk's own relay client sees it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from service.bench.sink import SinkProtocol
from service.outbound.transport import SmtpRelayTransport
from tests.loops import anyio_backend_on_both_loops  # noqa: F401 (a fixture: both event loops)

pytestmark = pytest.mark.anyio

MESSAGES = (
    b"Subject: a\r\n\r\nHello\r\n",
    b"Subject: a\r\n\r\nbefore\r\n..\r\nafter\r\n",  # a stuffed dot line is not the end
    b"Subject: a\r\n\r\n" + b"x" * 70 + b"\r\n" * 3000,  # arrives in several reads
    b"Subject: a\r\n\r\nbody\r\n..\r\n",
)


@asynccontextmanager
async def sink() -> AsyncIterator[tuple[int, list[int]]]:
    arrivals: list[int] = []
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SinkProtocol(lambda: arrivals.append(1)), "127.0.0.1", 0
    )
    try:
        yield int(server.sockets[0].getsockname()[1]), arrivals
    finally:
        server.close()
        await server.wait_closed()


async def test_the_relay_client_sends_message_after_message_and_each_is_counted() -> None:
    async with sink() as (port, arrivals):
        transport = SmtpRelayTransport("127.0.0.1", port, timeout=5)
        for message in MESSAGES:
            await transport.send("desk@bench.test", ["jane@example.test"], message)
        await transport.send("desk@bench.test", ["jäne@exämple.test"], MESSAGES[0])  # SMTPUTF8
        await transport.aclose()
    assert len(arrivals) == len(MESSAGES) + 1


async def test_the_end_of_data_is_found_across_reads_byte_by_byte() -> None:
    async with sink() as (port, arrivals), await anyio.connect_tcp("127.0.0.1", port) as client:
        conversation = b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n"
        for byte in conversation:
            await client.send(bytes([byte]))
        replies = b""
        with anyio.fail_after(5):
            while not replies.endswith(b"221 2.0.0 Bye\r\n"):
                replies += await client.receive()
    assert arrivals == [1]
    assert [line[:3] for line in replies.split(b"\r\n") if line] == [
        b"220",
        *[b"250"] * 5,  # EHLO: the name, 8BITMIME, SMTPUTF8, PIPELINING, SIZE
        b"250",
        b"250",
        b"354",
        b"250",
        b"221",
    ]
