"""Everything maildesk takes from aiosmtpd beyond its public API, in this one module.

aiosmtpd's public surface is its `SMTP` protocol (constructor arguments,
`push`, `smtp_<COMMAND>` methods to override, the attributes its
reference lists: `session`, `envelope`, `transport`, `loop`,
`data_size_limit`, `line_length_limit`, `enable_SMTPUTF8`), `syntax`,
`MISSING`, `Session`, `Envelope` and the handler hooks. `GuardedSession`
needs more: it replaces aiosmtpd's idle timer with a deadline that grows
with the bytes received, reads `DATA` in whole chunks, and keeps the time
the handler takes out of the client's allowance. A release that changes
what it relies on breaks this one file, loudly: pyproject.toml pins the
series this was written against (`aiosmtpd~=1.4.6`), and
`tests/adapters/test_aiosmtpd.py` checks every name below, its signature
or type, the names the subclass adds, and a fingerprint of the code copied.

Private names used (underscored, or not in aiosmtpd's documentation):

- `SMTP._reset_timeout(duration=None)`, overridden: aiosmtpd calls it on
  connection and after every command to re-arm its timer; the override
  notes when and with what allowance, then calls aiosmtpd's own.
- `SMTP._timeout_cb()`, overridden: the timer's callback, which aiosmtpd's
  `_reset_timeout` schedules. Ours closes only once the client has been
  silent or too slow, with a `421`.
- `SMTP._timeout_duration` (the `timeout` given to the constructor), read
  as the default allowance; `SMTP._timeout_handle` (the timer's
  `asyncio.TimerHandle`, or None), read, cancelled and re-set. aiosmtpd's
  `connection_lost` cancels whatever it holds.
- `SMTP._reader` and `SMTP._writer`, the connection's `asyncio`
  `StreamReader` and `StreamWriter` (set by `_cb_client_connected`):
  `smtp_DATA` reads the content from the reader in chunks, hands the bytes
  after the end of data back with `feed_data`, and closes the writer as
  aiosmtpd's `smtp_DATA` does when the connection goes.
- `SMTP._set_post_data_state()`: resets the envelope after DATA.
- `SMTP._decode_data` (the constructor's `decode_data`), read.
- `SMTP._handle_hooks`, the handler's `handle_*` methods by command: read
  to know whether the handler has `handle_DATA`.
- `SMTP._call_handler_hook(command, *args)`, called to run `handle_DATA`,
  and overridden so that the client's timer stops while that hook runs.
- `SMTP._getaddr(arg)`, overridden: aiosmtpd parses the address of `MAIL`
  and `RCPT` with it, and its 1.4 version defines a `typing.Protocol`
  class on every call (~15 us) before parsing with the stdlib's RFC 5322
  parser (~15 us more). The override is the same rules (the same stdlib
  functions, `local_part_limit` checked the same way) without the class,
  and remembers its answers: a desk's `RCPT` addresses repeat on every
  message. A fingerprint in the adapter test fails when aiosmtpd's changes.
- `SMTP.check_helo_needed()` and `SMTP.check_auth_needed(caller_method)`:
  no underscore but undocumented; called first in `smtp_DATA`, as
  aiosmtpd's own does.

Code copied: `GuardedSession.smtp_DATA` is aiosmtpd 1.4's `smtp_DATA`
(its checks before `354`, the decoding and the hook after the content)
with the reading replaced by `service.inbound.smtp_data.DataSection`, which
reproduces aiosmtpd's line rules byte for byte. `tests/inbound/test_smtp_data.py`
holds the two together over real sockets; the fingerprint in the adapter
test fails when aiosmtpd's `smtp_DATA` changes at all.

Public, and so used where they are needed: `SMTP` as a base class with its
documented constructor arguments (`service.inbound.smtp_server`), `Envelope` and
`Session` in handler hooks (`service.inbound.smtp`, `service.catcher.smtp`),
`smtp_<COMMAND>` wrapped by `service.bench.trace`, `syntax` and `MISSING`
here. `data_received` and `connection_lost` are asyncio's protocol
methods, overridden here and always passed on.

What this module must never do: change what a reply means, or leave a
session without a deadline while it waits for its client.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import sys
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError
from typing import Any, Protocol, cast

from aiosmtpd.smtp import MISSING, SMTP, syntax

from service.inbound import codes
from service.inbound.smtp_data import DataSection

log = logging.getLogger(__name__)

MIN_DATA_RATE = 500
"""Bytes a second a client must average once its `idle_timeout` is spent (Postfix's default)."""

ALL_RECEIVED = sys.maxsize
"""What a DATA section asks of the stream at once: all it holds, so that the bytes after the
end of data can be handed back in front (its buffer holds ~2 KB plus one socket read)."""


_MAIL_DSN = re.compile(r"\s+(?:RET|ENVID)=\S*", re.IGNORECASE)
_RCPT_DSN = re.compile(r"\s+(?:NOTIFY|ORCPT)=\S*", re.IGNORECASE)
_REPLY = re.compile(r"(\d{3})( )(?!\d\.\d{1,3}\.\d{1,3}\b)(.*)", re.DOTALL)
_ENHANCED = {
    421: "4.3.0",
    451: "4.3.0",
    452: "4.3.1",
    454: "4.7.0",
    500: "5.5.2",
    501: "5.5.4",
    502: "5.5.1",
    503: "5.5.1",
    504: "5.5.4",
    530: "5.7.0",
    534: "5.7.9",
    535: "5.7.8",
    538: "5.7.11",
    550: "5.0.0",
    551: "5.1.6",
    552: "5.3.4",
    553: "5.1.3",
    554: "5.0.0",
    555: "5.5.4",
}


def with_enhanced_code(status: str) -> str:
    """`552 Error: …` → `552 5.3.4 Error: …`; replies that have one, EHLO lines, the greeting,
    `354` and `334` are left alone (RFC 2034 §3)."""
    match = _REPLY.fullmatch(status)
    if match is None:
        return status
    code = int(match.group(1))
    if code >= 400:
        enhanced = _ENHANCED.get(code, f"{code // 100}.0.0")
    elif (code, match.group(3)) in ((250, "OK"), (221, "Bye")):
        enhanced = "2.0.0"
    else:
        return status
    return f"{code} {enhanced} {match.group(3)}"


def _without_params(arg: str | None, params: re.Pattern[str]) -> str | None:
    return None if arg is None else params.sub("", arg)


@functools.lru_cache(maxsize=4096)
def _parsed_address(arg: str, local_part_limit: int) -> tuple[str | None, str | None]:
    """aiosmtpd 1.4.6's `SMTP._getaddr`, kept as a pure function of its two inputs.

    The stdlib parser answers the same for the same text, so the answers are
    kept (the strings are from the command line, at most aiosmtpd's line limit).
    """
    if not arg:
        return "", ""
    try:
        if arg.lstrip().startswith("<"):
            angle, rest = get_angle_addr(arg)
            addr = angle.addr_spec
        else:
            spec, rest = get_addr_spec(arg)
            addr = spec.addr_spec
    except HeaderParseError:
        return None, None
    localpart, _, _ = addr.rpartition("@")
    if local_part_limit and len(localpart) > local_part_limit:
        return None, None
    return addr, rest


class SessionRegistry(Protocol):
    """Where a session reports that it was active, and that it is gone (`serve_smtp`'s cap)."""

    def touch(self, session: GuardedSession) -> None: ...

    def discard(self, session: GuardedSession) -> None: ...


class GuardedSession(SMTP):
    """aiosmtpd's SMTP session with maildesk's deadline and its place in a `SessionRegistry`."""

    def __init__(self, handler: Any, *, registry: SessionRegistry, **options: Any) -> None:
        self._registry = registry
        self._received = 0  # bytes read from the client, ever
        self._last_data_at = 0.0  # loop time of the last bytes read
        self._armed_at = 0.0  # loop time the current deadline started
        self._armed_received = 0  # `_received` when it started
        self._allowance = 0.0
        super().__init__(handler, **options)

    @property
    def idle(self) -> bool:
        """No transaction open: the session may be dropped without losing anything."""
        return self.envelope is None or self.envelope.mail_from is None

    def close_with(self, reply: str) -> None:
        """Tell the client `reply`, then close (the reply is flushed before the FIN)."""
        self._registry.discard(self)
        # Not `isinstance(…, asyncio.WriteTransport)`: uvloop's transports are not subclasses.
        transport = cast(asyncio.WriteTransport | None, self.transport)
        if transport is not None and not transport.is_closing():
            transport.write(reply.encode() + b"\r\n")
            transport.close()

    async def push(self, status: Any) -> None:
        """Every reply with its RFC 3463 enhanced status code (we advertise ENHANCEDSTATUSCODES).

        maildesk's own replies carry theirs (`service.inbound.codes`); aiosmtpd's
        (`552` over the size, `555`, `500`, `501`, `503`, `530`…) get one here.
        """
        await super().push(with_enhanced_code(status) if isinstance(status, str) else status)

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str | None) -> None:
        """aiosmtpd's MAIL, with the DSN parameters (RFC 3461: RET, ENVID) accepted.

        A receiving MX that advertises DSN must accept them; aiosmtpd knows none
        and answers `555`. They are taken off before aiosmtpd reads the rest.
        """
        await super().smtp_MAIL(_without_params(arg, _MAIL_DSN))

    @syntax("RCPT TO: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_RCPT(self, arg: str | None) -> None:
        """aiosmtpd's RCPT, with the DSN parameters (RFC 3461: NOTIFY, ORCPT) accepted."""
        await super().smtp_RCPT(_without_params(arg, _RCPT_DSN))

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        return _parsed_address(arg, self.local_part_limit)

    def data_received(self, data: bytes) -> None:
        self._received += len(data)
        self._last_data_at = self.loop.time()
        self._registry.touch(self)
        super().data_received(data)

    def connection_lost(self, error: Exception | None) -> None:
        self._registry.discard(self)
        super().connection_lost(error)

    def _reset_timeout(self, duration: float | None = None) -> None:
        self._armed_at = self.loop.time()
        self._armed_received = self._received
        self._allowance = duration or self._timeout_duration
        super()._reset_timeout(duration)

    def _timeout_cb(self) -> None:
        if self.transport is None:
            return
        earned = (self._received - self._armed_received) / MIN_DATA_RATE
        deadline = min(
            self._armed_at + self._allowance + earned,  # on average, fast enough
            max(self._armed_at, self._last_data_at) + self._allowance,  # never silent too long
        )
        left = deadline - self.loop.time()
        if left > 0:  # still sending at a sane rate: check again when the time runs out
            self._timeout_handle = self.loop.call_later(left, self._timeout_cb)
            return
        log.info("%r timed out after %.1f s", self.session and self.session.peer, self._allowance)
        self.close_with(str(codes.TIMED_OUT))

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's `smtp_DATA`, reading the content in chunks (`service.inbound.smtp_data`).

        The checks before `354` and the handling after the content are
        aiosmtpd 1.4's; only the reading differs, and not in its result.
        """
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        section = DataSection(
            size_limit=self.data_size_limit, line_length_limit=self.line_length_limit
        )
        while True:
            try:
                # Takes everything received so far; eof_received cancels us, as it does aiosmtpd.
                chunk = await self._reader.read(ALL_RECEIVED)
            except asyncio.CancelledError:
                log.info("connection lost during DATA")
                self._writer.close()
                raise
            if not chunk:  # end of stream without the cancel that normally comes with it
                log.info("connection closed during DATA")
                self._writer.close()
                return
            after = section.feed(chunk)
            if after is not None:
                if after and not self._reader.at_eof():
                    # The client's next commands (PIPELINING), back where the reader left them:
                    # the read above emptied its buffer, so they go back in front.
                    self._reader.feed_data(after)
                break
        if section.error is not None:
            await self.push(section.error.value)
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        original_content = section.content()
        content: str | bytes = original_content
        if self._decode_data:
            if self.enable_SMTPUTF8:
                content = original_content.decode("utf-8", errors="surrogateescape")
            else:
                try:
                    content = original_content.decode("ascii", errors="strict")
                except UnicodeDecodeError:
                    await self.push("500 Error: strict ASCII mode")
                    return
        self.envelope.content = content
        self.envelope.original_content = original_content
        status = await self._call_handler_hook("DATA") if "DATA" in self._handle_hooks else MISSING
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push("250 OK" if status is MISSING else status)

    async def _call_handler_hook(self, command: str, *args: Any) -> Any:
        if command != "DATA":
            return await super()._call_handler_hook(command, *args)
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()  # the time we take to act on a message is ours
        try:
            return await super()._call_handler_hook(command, *args)
        finally:
            if self.transport is not None:
                self._reset_timeout()  # the client's time for its next command starts now
