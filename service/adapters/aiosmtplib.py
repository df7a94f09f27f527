"""Everything maildesk takes from aiosmtplib beyond its public API, in this one module.

aiosmtplib's public surface is what its package exports (`SMTP`, `send`,
`SMTPResponse`, `SMTPStatus`, the exceptions) and the methods of `SMTP`
its reference documents (`connect`, `ehlo`, `mail`, `rcpt`, `data`,
`quit`, `close`, `execute_command`, `is_connected`). `RelayClient` needs
more, to send the content of `DATA` without aiosmtplib's `data()`
preparing it: a release that changes what it relies on breaks this one
file, loudly. pyproject.toml pins the series this was written against
(`aiosmtplib~=5.1.3`), and `tests/adapters/test_aiosmtplib.py` checks every
name below, its signature or type, and the behaviour relied on.

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
- `SMTP.timeout`: the default command timeout given to the constructor,
  an undocumented attribute, used for the reply to the content;
- `SMTP.is_ehlo_or_helo_needed`: a public property its reference does not
  list, True until the client has greeted the server; `mail_as_is` and
  `rcpt_as_is` leave a client in that state to `mail()` and `rcpt()`, which
  greet first.

Not taken: aiosmtplib's command lock (`SMTPProtocol._command_lock`). The
content is written outside it, which is safe only because the transport's
pool gives a client to one sender at a time (one transaction at a time).

Public, and so used where they are needed: `SMTP` as a base class, its
documented methods, `aiosmtplib.send`, `SMTPResponse`, `SMTPStatus` and the
exceptions (`service.outbound.transport`, `service.serving.run`,
`service.bench.load`).

What this module must never do: send content aiosmtplib's `data()` would
send differently (a bare CR or LF goes through `data()` itself), send an
envelope its `mail()` and `rcpt()` would send differently, or leave a
half-read reply on a connection that is used again.
"""

from __future__ import annotations

import re

import aiosmtplib
from aiosmtplib import SMTPResponse, SMTPStatus

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

    async def data_as_is(self, message: bytes, *, crlf_only: bool = False) -> SMTPResponse:
        """DATA with `message` as it is; `crlf_only`: the caller made every line end in CRLF.

        A message whose maker guarantees its line ends (`build_message`'s
        `WireMessage`) is not counted again: three passes over it, about as
        much CPU as the rest of sending it. Anything else is checked.
        """
        if not (crlf_only or _crlf_only(message)):
            return await self.data(message)
        start = await self.execute_command(b"DATA")
        if start.code != SMTPStatus.start_input:
            raise aiosmtplib.SMTPDataError(start.code, start.message)
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
