"""The end-to-end run's relay: an SMTP sink that accepts every message and counts it.

The relay in production is another machine (Postfix at the provider); in the
benchmark it shares the 2 cores maildesk is measured on. aiosmtpd as a no-op
server costs ~0.45 ms of CPU a message, a third of what maildesk spends
sending one: every millisecond the harness takes is one maildesk cannot
have, and the end-to-end rate would measure the relay as much as maildesk.
This sink is one `asyncio.Protocol` that speaks what a relay must to an SMTP
client (a greeting, `EHLO` with `8BITMIME`, `SMTPUTF8`, `PIPELINING` and
`SIZE`, `250` to `MAIL`, `RCPT`, `RSET`, `NOOP`, `354` to `DATA` and `250`
once the `<CRLF>.<CRLF>` that ends the data has arrived, `221` to `QUIT`)
and nothing more: no parsing, no dot-unstuffing, no checks. It offers
PIPELINING as the relays in production do (Postfix, Exim, the hosted ones),
and answers what one read brought in one write, as Postfix does: a
pipelined envelope costs both sides one exchange instead of three.
maildesk's relay client (aiosmtplib through `service.outbound.transport`) is
the same one that talks to real relays; `tests/benchmarks/test_sink.py`
holds the sink to what that client needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

GREETING = b"220 sink.bench.test ESMTP\r\n"
EHLO_REPLY = (
    b"250-sink.bench.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-PIPELINING\r\n"
    b"250 SIZE 10485760\r\n"
)
END_OF_DATA = b"\r\n.\r\n"


class SinkProtocol(asyncio.Protocol):
    """One client's connection: commands answered line by line, data skipped to its end."""

    def __init__(self, arrived: Callable[[], None]) -> None:
        self._arrived = arrived
        self._buffer = b""
        self._in_data = False
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._transport.write(GREETING)

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        assert transport is not None
        buffer = self._buffer + data
        replies: list[bytes] = []
        while buffer:
            if self._in_data:
                end = buffer.find(END_OF_DATA)
                if end < 0:  # keep what could be the start of the end marker
                    buffer = buffer[-(len(END_OF_DATA) - 1) :]
                    break
                buffer = buffer[end + len(END_OF_DATA) :]
                self._in_data = False
                self._arrived()
                replies.append(b"250 2.0.0 OK: queued\r\n")
                continue
            line_end = buffer.find(b"\r\n")
            if line_end < 0:
                break
            verb = buffer[:4].upper()
            buffer = buffer[line_end + 2 :]
            if verb == b"EHLO":
                replies.append(EHLO_REPLY)
            elif verb == b"DATA":
                self._in_data = True
                buffer = b"\r\n" + buffer  # data that is only "." ends at once
                replies.append(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            elif verb == b"QUIT":
                transport.write(b"".join(replies) + b"221 2.0.0 Bye\r\n")
                transport.close()
                self._buffer = b""
                return
            else:  # HELO, MAIL, RCPT, RSET, NOOP: all accepted
                replies.append(b"250 2.0.0 OK\r\n")
        if replies:
            transport.write(b"".join(replies))
        self._buffer = buffer
