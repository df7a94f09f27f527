"""A small SMTP client for the relay transport: one connection, one transaction at a time.

It speaks only what the outbox needs (RFC 5321 without extensions): the
greeting, `EHLO`, `MAIL FROM`, `RCPT TO`, `DATA` and `QUIT`, each reply
awaited with a timeout. It replaced aiosmtplib on the delivery path because
that library spent about 0.7 ms of CPU per message, more than rendering one:
two regular-expression passes over every message (re-normalising line
endings that `build_message` already made CRLF, then dot-stuffing), address
parsing with `email.utils` on each command, and `asyncio.wait_for` around
every reply. Here a CRLF-only message (checked by counting) is dot-stuffed
with `bytes.replace`; anything else is normalised first, as before.

Errors are this module's own (`SmtpReplyError` with the code, `SmtpDisconnected`,
`SmtpTimeout`); `service.outbound.transport` decides what each means for the
outbox. This module never retries, pools or chooses a relay.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from dataclasses import dataclass

MAX_REPLY_LINE = 8192
"""Longest reply line accepted (RFC 5321 allows 512; some relays say more)."""

_LINE_ENDINGS = re.compile(rb"\r\n|\n|\r(?!\n)")
_ADDRESS_FORBIDDEN = re.compile(r"[\s<>]")


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    text: str


class SmtpError(Exception):
    """The relay could not be talked to as SMTP."""


class SmtpReplyError(SmtpError):
    """The relay answered with an unexpected code (or with something that is not a reply)."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text


class SmtpDisconnected(SmtpError):
    """The connection closed, or was found closed."""


class SmtpTimeout(SmtpError):
    """No reply within the timeout; the connection is closed."""


class SmtpBadAddress(SmtpError):
    """An envelope address that cannot be put on an SMTP command line."""


class _ReplyReader(asyncio.Protocol):
    """Collects the relay's replies as they arrive; `next_reply` hands them out in order."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._replies: deque[Reply] = deque()
        self._error: SmtpError | None = None
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            while (reply := self._parse()) is not None:
                self._replies.append(reply)
        except SmtpReplyError as error:
            self._fail(error)
            if self.transport is not None:
                self.transport.close()
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        detail = f": {exc}" if exc else ""
        self._fail(SmtpDisconnected(f"the relay closed the connection{detail}"))
        self._wake()

    async def next_reply(self) -> Reply:
        while not self._replies:
            if self._error is not None:
                raise self._error
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._replies.popleft()

    def _fail(self, error: SmtpError) -> None:
        if self._error is None:
            self._error = error

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _parse(self) -> Reply | None:
        """One whole (possibly multi-line) reply from the front of the buffer, or None yet."""
        offset = 0
        lines: list[bytes] = []
        while True:
            end = self._buffer.find(b"\n", offset)
            if end < 0:
                if len(self._buffer) - offset > MAX_REPLY_LINE:
                    raise SmtpReplyError(-1, "Response too long")
                return None
            line = bytes(self._buffer[offset : end + 1])
            if len(line) > MAX_REPLY_LINE:
                raise SmtpReplyError(-1, "Response too long")
            try:
                code = int(line[:3])
            except ValueError:
                text = line.decode("utf-8", errors="ignore")
                raise SmtpReplyError(-1, f"Malformed SMTP response line: {text}") from None
            offset = end + 1
            lines.append(line[4:].strip(b" \t\r\n"))
            if line[3:4] != b"-":
                del self._buffer[:offset]
                return Reply(code, b"\n".join(lines).decode("utf-8", "surrogateescape"))


class SmtpConnection:
    """One open SMTP session with a relay. `open` it, then `envelope` + `data` per message."""

    def __init__(self, reader: _ReplyReader, timeout: float) -> None:
        self._reader = reader
        self.timeout = timeout

    @classmethod
    async def open(
        cls, host: str, port: int, *, reply_timeout: float, local_hostname: str
    ) -> SmtpConnection:
        """Connect, read the greeting and say `EHLO`; raises `SmtpError` or `OSError`.

        `reply_timeout` bounds the connect and every reply after it.
        """
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(reply_timeout):
                _, reader = await loop.create_connection(_ReplyReader, host, port)
        except TimeoutError:
            raise SmtpTimeout(f"timed out connecting to {host}:{port}") from None
        connection = cls(reader, reply_timeout)
        try:
            await connection._expect(None, (220,))
            await connection._expect(b"EHLO " + local_hostname.encode("ascii"), (250,))
        except BaseException:
            connection.close()
            raise
        return connection

    @property
    def is_connected(self) -> bool:
        transport = self._reader.transport
        return transport is not None and not transport.is_closing()

    async def envelope(self, sender: str, recipients: list[str]) -> None:
        """`MAIL FROM` and one `RCPT TO` per recipient, each answered 250 (or 251)."""
        await self._expect(b"MAIL FROM:" + _path(sender), (250,))
        for recipient in recipients:
            await self._expect(b"RCPT TO:" + _path(recipient), (250, 251))

    async def data(self, message: bytes) -> None:
        """`DATA`, then the message dot-stuffed and terminated, answered 250."""
        await self._expect(b"DATA", (354,))
        await self._expect_after(_stuffed(message), (250,))

    async def quit(self) -> None:
        try:
            await self._expect(b"QUIT", (221,))
        finally:
            self.close()

    def close(self) -> None:
        transport = self._reader.transport
        if transport is not None:
            transport.close()

    async def _expect(self, command: bytes | None, codes: tuple[int, ...]) -> Reply:
        return await self._expect_after(None if command is None else command + b"\r\n", codes)

    async def _expect_after(self, data: bytes | None, codes: tuple[int, ...]) -> Reply:
        """Write `data` (if any), then await one reply and check its code."""
        if data is not None:
            transport = self._reader.transport
            if transport is None or transport.is_closing():
                raise SmtpDisconnected("the connection is closed")
            transport.write(data)
        try:
            async with asyncio.timeout(self.timeout):
                reply = await self._reader.next_reply()
        except TimeoutError:
            self.close()
            raise SmtpTimeout(f"no reply within {self.timeout:g} s") from None
        if reply.code not in codes:
            raise SmtpReplyError(reply.code, reply.text)
        return reply


def _path(address: str) -> bytes:
    """`<address>` for a command line; nothing that could end or split the line gets in."""
    if _ADDRESS_FORBIDDEN.search(address) or not address.isascii():
        raise SmtpBadAddress(f"not an address for an SMTP command: {address!r}")
    return f"<{address}>".encode("ascii")


def _stuffed(message: bytes) -> bytes:
    """The message as sent after `DATA`: CRLF lines, leading dots doubled, then `.` alone.

    `build_message` already makes CRLF-only messages, which equal counts of
    CR, LF and CRLF prove without a copy; anything else is normalised first.
    """
    crlf = message.count(b"\r\n")
    if crlf != message.count(b"\n") or crlf != message.count(b"\r"):
        message = _LINE_ENDINGS.sub(b"\r\n", message)
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    if message.startswith(b"."):
        message = b"." + message
    return message.replace(b"\n.", b"\n..") + b".\r\n"
