"""Running an aiosmtpd handler on the current event loop, with a graceful stop and limits.

aiosmtpd's `Controller` runs its own loop in a thread; maildesk instead runs
the `SMTP` protocol on the loop that also runs the web server, the scheduler
and the outbox, so that one anyio task group owns them all. Stopping first
closes the listening socket, then lets messages already in DATA finish (up to
a grace period) so that a sender that got `250` really is committed, and
only then drops the remaining idle connections.

Two limits keep one client, or a flood of them, from holding the listener:

- Time. A command must arrive complete within `idle_timeout` seconds. Message
  content may take longer as long as it keeps coming: its allowance grows by a
  second for every `MIN_DATA_RATE` bytes received (Postfix's
  `smtpd_per_request_deadline` with `smtpd_min_data_rate`), and it may never
  pause for `idle_timeout`. So a client trickling a byte a second is told `421`
  and closed after about `idle_timeout`, one sending at a sane rate is never
  cut, and the time the handler takes to act on a message is not the client's.
  (aiosmtpd's own timer counted the whole DATA phase and the handler's work
  against one `idle_timeout` and closed without a word: a large message on a
  slow link, or a slow commit, was cut off.)
- Connections. At most `max_connections` sessions are open at once (about
  11 KB each). At the cap a new connection takes the place of the least
  recently active session that has no transaction open, which is told `421`;
  only when every session is inside a transaction is the newcomer told `421`
  instead. So thousands of idle connections cost bounded memory and still do
  not lock out a sender that has mail to deliver.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.lowlevel
from aiosmtpd.smtp import MISSING, SMTP, syntax

from service.inbound import codes
from service.smtp_data import DataSection

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_CONNECTIONS = 1000
# Bytes a second a client must average once its `idle_timeout` is spent (Postfix's default).
MIN_DATA_RATE = 500
# Connections the kernel may queue before they are accepted. asyncio's default of 100
# overflows in a burst, and a client whose handshake was dropped from a full queue believes
# it is connected and waits for a greeting that never comes.
LISTEN_BACKLOG = 1024
# What a DATA section asks of the stream at once: all it holds, so that the bytes after the
# end of data can be handed back in front (its buffer holds ~2 KB plus one socket read).
ALL_RECEIVED = sys.maxsize


class _Session(SMTP):
    """aiosmtpd's SMTP session with maildesk's deadline and its place in `_Sessions`."""

    def __init__(self, handler: Any, *, registry: _Sessions, **options: Any) -> None:
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
        transport = self.transport
        if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
            transport.write(reply.encode() + b"\r\n")
            transport.close()

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
        """aiosmtpd's `smtp_DATA`, reading the content in chunks (`service.smtp_data`).

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


class _Sessions:
    """The open sessions, least recently active first, and the cap on their number."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._open: OrderedDict[_Session, None] = OrderedDict()
        self._full = False

    def __len__(self) -> int:
        return len(self._open)

    def __iter__(self) -> Iterator[_Session]:
        return iter(list(self._open))

    def add(self, session: _Session) -> None:
        self._open[session] = None

    def touch(self, session: _Session) -> None:
        if session in self._open:
            self._open.move_to_end(session)

    def discard(self, session: _Session) -> None:
        self._open.pop(session, None)

    def busy(self) -> int:
        """Connected sessions with a transaction open: what a graceful stop waits for."""
        return sum(1 for session in self._open if not session.idle)

    def make_room(self) -> bool:
        """Whether one more connection may be served, dropping an idle session if need be."""
        if len(self._open) < self.limit:
            self._full = False
            return True
        if not self._full:
            log.warning("SMTP connection limit (%d) reached; dropping idle sessions", self.limit)
            self._full = True
        idle = next((session for session in self._open if session.idle), None)
        if idle is None:
            return False
        idle.close_with(str(codes.TOO_MANY_CONNECTIONS))
        return True


class _Refusal(asyncio.Protocol):
    """A connection over the cap while every session is busy: `421`, then closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.WriteTransport):
            transport.write(str(codes.TOO_MANY_CONNECTIONS).encode() + b"\r\n")
        transport.close()


@asynccontextmanager
async def serve_smtp(
    handler: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    hostname: str,
    ident: str,
    data_size_limit: int = 10 * 1024 * 1024,
    idle_timeout: float = DEFAULT_TIMEOUT,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    grace: float = 30.0,
    reuse_port: bool = False,
    sock: socket.socket | None = None,
    in_flight: Callable[[], int] = lambda: 0,
    on_stop: Callable[[], None] = lambda: None,
) -> AsyncIterator[tuple[str, int]]:
    """Serve SMTP with `handler` while the context is open; yields the bound (host, port).

    `in_flight` counts the transactions still open (MAIL given, DATA not yet
    answered); a stop calls `on_stop` (so the handler refuses new ones), then
    waits for it, and for the sessions still connected inside a transaction, to
    reach zero (at most `grace` seconds) before closing connections.
    `idle_timeout` and `max_connections` are the limits the module describes.
    With `sock`, serve on that listening socket (bound by the caller, with
    SO_REUSEPORT when other processes listen on the port too) instead of
    binding `host`:`port`; the limits then hold per process.
    """
    loop = asyncio.get_running_loop()
    sessions = _Sessions(max_connections)

    def new_session() -> asyncio.Protocol:
        if not sessions.make_room():
            return _Refusal()
        protocol = _Session(
            handler,
            registry=sessions,
            hostname=hostname,
            ident=ident,
            data_size_limit=data_size_limit,
            enable_SMTPUTF8=True,
            timeout=idle_timeout,
            loop=loop,
        )
        sessions.add(protocol)
        return protocol

    if sock is not None:
        server = await loop.create_server(new_session, sock=sock, backlog=LISTEN_BACKLOG)
    else:
        server = await loop.create_server(
            new_session, host=host, port=port, reuse_port=reuse_port or None, backlog=LISTEN_BACKLOG
        )
    try:
        bound_host, bound_port = server.sockets[0].getsockname()[:2]
        yield str(bound_host), int(bound_port)
    finally:
        server.close()
        on_stop()
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(grace):
                # The handler counts envelopes, which a dropped connection only releases
                # when the garbage collector runs; a session knows it is gone at once.
                while in_flight() and sessions.busy():  # noqa: ASYNC110 (no event to wait on)
                    await anyio.sleep(0.02)
            for protocol in sessions:
                if protocol.transport is not None:
                    protocol.transport.close()
            await server.wait_closed()
            await anyio.lowlevel.checkpoint()  # let closed sessions run connection_lost
