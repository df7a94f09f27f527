"""Everything maildesk takes from aiosmtplib beyond its public API, in this one module.

aiosmtplib's public surface is what its package exports (`SMTP`, `send`,
`SMTPResponse`, `SMTPStatus`, the exceptions) and the methods of `SMTP`
its reference documents (`connect`, `ehlo`, `mail`, `rcpt`, `data`,
`quit`, `close`, `execute_command`, `is_connected`, `supports_extension`).
`RelayClient` needs more: to send the content of `DATA` without
aiosmtplib's `data()` preparing it, and to send the envelope as one
pipelined group (RFC 2920), which aiosmtplib does not do. A release that
changes what it relies on breaks this one file, loudly. pyproject.toml pins
the series this was written against (`aiosmtplib~=5.1.3`), and
`tests/adapters/test_aiosmtplib.py` checks every name below, its signature
or type, and the behaviour relied on.

Private names used (undocumented, or on a class the package does not export):

- `SMTP.protocol`: the connection's `aiosmtplib.protocol.SMTPProtocol`
  (None when not connected), an undocumented attribute of a class that
  `aiosmtplib` does not export;
- `SMTPProtocol.write(data)`: writes bytes to the connection, raising
  `SMTPServerDisconnected` once it is closed;
- `SMTPProtocol.read_response(timeout=None)`: awaits the next reply,
  raising `SMTPServerDisconnected` or an `SMTPTimeoutError`. It marks a
  reply as expected before it awaits, which is what lets a reply written
  for our `write` be kept rather than dropped as unsolicited (aiosmtplib's
  own `execute_data_command` sets that mark, `_response_pending`, before
  writing; nothing here awaits between `write` and `read_response`, so the
  reply cannot arrive in between);
- for pipelining, `_PipelinedReplies` subclasses `SMTPProtocol` and a
  connection's protocol object is given that class when it first sends a
  group (`__class__` assignment: the same object, its state kept). It
  overrides `data_received(data)` and `connection_lost(exc)` (asyncio's
  protocol callbacks, which it passes on to aiosmtplib's outside a group)
  and uses `SMTPProtocol._buffer` (the bytearray of unparsed reply bytes),
  `SMTPProtocol._read_response_from_buffer()` (the next complete reply
  taken off that buffer, or None) and `SMTPProtocol._loop`;
- `aiosmtplib.protocol.normalize_message_line_endings(message)` (not in
  that module's `__all__`): bare CR and LF made CRLF, and a final CRLF
  added, as `data()` does before it sends; `content_as_is` sends other
  content through it;
- `SMTP.timeout`: the default command timeout given to the constructor,
  an undocumented attribute, used for the reply to the content and to a
  pipelined group;
- `SMTP.is_ehlo_or_helo_needed`: a public property its reference does not
  list, True until the client has greeted the server; `mail_as_is` and
  `rcpt_as_is` leave a client in that state to `mail()` and `rcpt()`, which
  greet first.

Not taken: aiosmtplib's command lock (`SMTPProtocol._command_lock`). The
content and a pipelined group are written outside it, which is safe only
because the transport's pool gives a client to one sender at a time (one
transaction at a time).

Public, and so used where they are needed: `SMTP` as a base class, its
documented methods, `aiosmtplib.send`, `SMTPResponse`, `SMTPStatus` and the
exceptions (`service.outbound.transport`, `service.serving.run`,
`service.bench.load`).

What this module must never do: send content aiosmtplib's `data()` would
send differently (a bare CR or LF is made CRLF by aiosmtplib's own
function), send an envelope its `mail()` and `rcpt()` would send
differently, pipelined or not, or leave a half-read reply on a connection
that is used again (a group that fails before all its replies came closes
the connection).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence

import aiosmtplib
from aiosmtplib import SMTPResponse, SMTPStatus
from aiosmtplib.protocol import SMTPProtocol, normalize_message_line_endings

_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
)
"""An ASCII dot-atom address (RFC 5321's Mailbox without quoting or literals): what
aiosmtplib's `mail()` and `rcpt()` send as `<address>` unchanged (a property test holds
them equal), and nothing that could end a command line or add a parameter to it."""


class RelayClient(aiosmtplib.SMTP):
    """aiosmtplib's client, with a `DATA` for messages already written as SMTP wants them.

    aiosmtplib's `data()` makes every message transmittable with two regular
    expression passes, bare CR or LF to CRLF and then dot-stuffing: 0.4 ms
    of CPU for a 25 KB notification, half of what sending it costs, for
    messages that `build_message` already writes with CRLF line ends only.
    `data_as_is` checks that with three `bytes.count`s (unless the caller
    says its message was made so), dot-stuffs with one `bytes.replace`, and
    sends; a message with a bare CR or LF goes through aiosmtplib's own
    `data()`. Everything else (connecting, EHLO, MAIL, RCPT,
    timeouts, the errors raised) is aiosmtplib's: the `DATA` command goes
    through `execute_command`, the content through the private names listed
    in this module's docstring.

    `mail_as_is` and `rcpt_as_is` are `mail()` and `rcpt()` for a plain
    address (`_PLAIN_ADDRESS`, as every bounce address and nearly every
    recipient is): written as `<address>` without aiosmtplib's address
    parser (`email.utils.parseaddr` and two regular expressions, 13 µs an
    address); any other address, and any option, goes through `mail()` and
    `rcpt()` themselves. The refusals are aiosmtplib's own exceptions.

    `start_data_as_is` sends MAIL, every RCPT and DATA as one pipelined
    group when the relay offers PIPELINING (RFC 2920; Postfix, Exim and the
    hosted relays do): one write and one wait instead of a round trip each,
    a third of what sending a notification cost in system calls and event
    loop turns. `content_as_is` then sends the content.

    One transaction at a time per client: the transport's pool hands a
    connection to one sender until it is done with it.
    """

    async def mail_as_is(
        self, sender: str, *, options: list[str] | None = None, encoding: str = "ascii"
    ) -> SMTPResponse:
        if options or self.is_ehlo_or_helo_needed or not _PLAIN_ADDRESS.fullmatch(sender):
            return await self.mail(sender, options=options, encoding=encoding)
        response = await self.execute_command(b"MAIL", b"FROM:<" + sender.encode("ascii") + b">")
        if response.code != SMTPStatus.completed:
            raise aiosmtplib.SMTPSenderRefused(response.code, response.message, sender)
        return response

    async def rcpt_as_is(self, recipient: str, *, encoding: str = "ascii") -> SMTPResponse:
        if self.is_ehlo_or_helo_needed or not _PLAIN_ADDRESS.fullmatch(recipient):
            return await self.rcpt(recipient, encoding=encoding)
        response = await self.execute_command(b"RCPT", b"TO:<" + recipient.encode("ascii") + b">")
        if response.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
            raise aiosmtplib.SMTPRecipientRefused(response.code, response.message, recipient)
        return response

    async def start_data_as_is(
        self,
        sender: str,
        recipients: Sequence[str],
        *,
        options: list[str] | None = None,
        encoding: str = "ascii",
    ) -> None:
        """MAIL, RCPT for each recipient and DATA, up to the relay's `354`.

        Pipelined when the relay offers it and every address is plain (no
        options); otherwise `mail_as_is`, `rcpt_as_is` and `DATA` one after
        the other. A refusal raises what aiosmtplib's `mail()`, `rcpt()` and
        `data()` raise, for the first refused command of the group. A relay
        that answers `354` to a group whose sender or recipient it refused
        is waiting for content that will not come: the connection is closed.
        """
        protocol = self.protocol
        if (
            options
            or protocol is None
            or self.is_ehlo_or_helo_needed
            or not self.supports_extension("pipelining")
            or not _PLAIN_ADDRESS.fullmatch(sender)
            or not all(_PLAIN_ADDRESS.fullmatch(recipient) for recipient in recipients)
        ):
            await self.mail_as_is(sender, options=options, encoding=encoding)
            for recipient in recipients:
                await self.rcpt_as_is(recipient, encoding=encoding)
            _started(await self.execute_command(b"DATA"))
            return
        group = b"".join(
            [
                b"MAIL FROM:<" + sender.encode("ascii") + b">\r\n",
                *(b"RCPT TO:<" + recipient.encode("ascii") + b">\r\n" for recipient in recipients),
                b"DATA\r\n",
            ]
        )
        try:
            mail, *accepted, start = await _PipelinedReplies.of(protocol).send_group(
                group, 2 + len(recipients), within=self.timeout
            )
        except (
            aiosmtplib.SMTPServerDisconnected,
            aiosmtplib.SMTPTimeoutError,
            aiosmtplib.SMTPResponseException,  # a reply that does not parse
        ):
            self.close()  # replies may still be on their way: they must not meet the next command
            raise
        if mail.code != SMTPStatus.completed:
            _close_if_started(self, start)
            raise aiosmtplib.SMTPSenderRefused(mail.code, mail.message, sender)
        for recipient, reply in zip(recipients, accepted, strict=True):
            if reply.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
                _close_if_started(self, start)
                raise aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, recipient)
        _started(start)

    async def content_as_is(self, message: bytes, *, crlf_only: bool = False) -> SMTPResponse:
        """The content after the relay's `354`, and its reply; `crlf_only` as in `data_as_is`.

        Content with a bare CR or LF is first made what aiosmtplib's `data()`
        would send (its own `normalize_message_line_endings`).
        """
        if not (crlf_only or _crlf_only(message)):
            message = normalize_message_line_endings(message)
        if self.protocol is None:
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
        try:
            self.protocol.write(_dot_stuffed(message) + b".\r\n")
            response = await self.protocol.read_response(timeout=self.timeout)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
            self.close()  # as aiosmtplib does: a half-read reply must not meet the next command
            raise
        if response.code != SMTPStatus.completed:
            raise aiosmtplib.SMTPDataError(response.code, response.message)
        return response

    async def data_as_is(self, message: bytes, *, crlf_only: bool = False) -> SMTPResponse:
        """DATA with `message` as it is; `crlf_only`: the caller made every line end in CRLF.

        A message whose maker guarantees its line ends (`build_message`'s
        `WireMessage`) is not counted again: three passes over it, about as
        much CPU as the rest of sending it. Anything else is checked.
        """
        if not (crlf_only or _crlf_only(message)):
            return await self.data(message)
        _started(await self.execute_command(b"DATA"))
        return await self.content_as_is(message, crlf_only=True)


def _close_if_started(client: RelayClient, start: SMTPResponse) -> None:
    """A relay that answered `354` although it refused the sender or a recipient waits for
    content that will not come: only closing the connection ends that transaction."""
    if start.code == SMTPStatus.start_input:
        client.close()


def _started(reply: SMTPResponse) -> None:
    """The reply to DATA: anything but `354` is aiosmtplib's `SMTPDataError`, as in `data()`."""
    if reply.code != SMTPStatus.start_input:
        raise aiosmtplib.SMTPDataError(reply.code, reply.message)


def _crlf_only(message: bytes) -> bool:
    """Every CR and every LF of `message` is part of a CRLF, and it ends with one."""
    crlf = message.count(b"\r\n")
    return (
        message.count(b"\n") == crlf and message.count(b"\r") == crlf and message.endswith(b"\r\n")
    )


def _dot_stuffed(message: bytes) -> bytes:
    """RFC 5321 §4.5.2: a line that starts with a dot gets one more.

    Looked for as `\\n.` first: in CRLF lines the same lines, and a two-byte
    search takes two thirds of the time of the three-byte one that `replace`
    makes, which only a message with such a line then pays.
    """
    stuffed = message.replace(b"\r\n.", b"\r\n..") if b"\n." in message else message
    return b"." + stuffed if stuffed.startswith(b".") else stuffed


class _PipelinedReplies(SMTPProtocol):
    """aiosmtplib's protocol, able to await the replies to a group of commands written at once.

    aiosmtplib awaits one reply per command and drops bytes that arrive
    while none is awaited, its guard against a reply being paired with the
    wrong command. The replies to a pipelined group arrive together or one
    by one before anyone could await the second, so while a group is out,
    every complete reply is kept, in order, until all it is owed have come;
    before and after, aiosmtplib's own `data_received` reads as always. A
    connection's protocol becomes this class (`of`) when it first sends a
    group: a class with no state of its own until then, so the change keeps
    every attribute aiosmtplib gave the object.
    """

    _group: asyncio.Future[list[SMTPResponse]] | None = None
    _owed = 0
    _replies: list[SMTPResponse]

    @classmethod
    def of(cls, protocol: SMTPProtocol) -> _PipelinedReplies:
        if not isinstance(protocol, cls):
            protocol.__class__ = cls
            if protocol.transport is not None:  # a loop that keeps the protocol's bound
                protocol.transport.set_protocol(protocol)  # methods (uvloop) takes the new ones
        assert isinstance(protocol, cls)
        return protocol

    async def send_group(
        self, commands: bytes, replies: int, *, within: float | None
    ) -> list[SMTPResponse]:
        """Write `commands` (CRLF-terminated lines) at once; their `replies` replies, in order,
        all of them `within` seconds (None: no limit, as aiosmtplib's `read_response`)."""
        group = self._group = self._loop.create_future()
        self._owed, self._replies = replies, []
        try:
            self.write(commands)
            try:
                return await asyncio.wait_for(group, within)
            except TimeoutError:
                raise aiosmtplib.SMTPReadTimeoutError(
                    "Timed out waiting for the replies to a pipelined group"
                ) from None
        finally:
            self._group, self._owed = None, 0

    def data_received(self, data: bytes) -> None:
        group = self._group
        if group is None or group.done():
            super().data_received(data)
            return
        self._buffer.extend(data)
        try:
            while self._owed and (reply := self._read_response_from_buffer()) is not None:
                self._replies.append(reply)
                self._owed -= 1
            if self._owed and len(self._buffer) > _LONGEST_REPLY:
                raise aiosmtplib.SMTPResponseException(
                    SMTPStatus.invalid_response, "Response too long"
                )
        except aiosmtplib.SMTPResponseException as error:
            group.set_exception(error)
            return
        if not self._owed:
            group.set_result(self._replies)

    def connection_lost(self, exc: Exception | None) -> None:
        group = self._group
        if group is not None and not group.done():
            group.set_exception(aiosmtplib.SMTPServerDisconnected("Connection lost"))
        super().connection_lost(exc)


_LONGEST_REPLY = 32 * 1024
"""Bytes of one unfinished reply a group waits for before it gives up on the relay (aiosmtplib's
own limit for a reply)."""
