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
  slow link, or a slow commit, was cut off.) The deadline is kept by the
  session, `service.adapters.aiosmtpd.GuardedSession`, since it replaces
  aiosmtpd's private timer.
- Connections. At most `max_connections` sessions are open at once (about
  11 KB each). At the cap a new connection takes the place of the least
  recently active session that has no transaction open, which is told `421`;
  only when every session is inside a transaction is the newcomer told `421`
  instead. So thousands of idle connections cost bounded memory and still do
  not lock out a sender that has mail to deliver.

This module holds the sessions and the cap on them, and touches nothing of
aiosmtpd but what it documents (the session's `transport` and `envelope`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any, cast

import anyio
import anyio.lowlevel

from service.adapters.aiosmtpd import GuardedSession
from service.inbound import codes
from service.ports import unavailable_port

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_CONNECTIONS = 1000
# Connections the kernel may queue before they are accepted. asyncio's default of 100
# overflows in a burst, and a client whose handshake was dropped from a full queue believes
# it is connected and waits for a greeting that never comes.
LISTEN_BACKLOG = 1024


class _Sessions:
    """The open sessions, least recently active first, and the cap on their number."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._open: OrderedDict[GuardedSession, None] = OrderedDict()
        self._full = False

    def __len__(self) -> int:
        return len(self._open)

    def __iter__(self) -> Iterator[GuardedSession]:
        return iter(list(self._open))

    def add(self, session: GuardedSession) -> None:
        self._open[session] = None

    def touch(self, session: GuardedSession) -> None:
        if session in self._open:
            self._open.move_to_end(session)

    def discard(self, session: GuardedSession) -> None:
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
        # A stream socket's transport writes, whatever its class (uvloop's are not asyncio's).
        cast(asyncio.WriteTransport, transport).write(
            str(codes.TOO_MANY_CONNECTIONS).encode() + b"\r\n"
        )
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
    setting: str = "",
    in_flight: Callable[[], int] = lambda: 0,
    on_stop: Callable[[], None] = lambda: None,
    tls_context: ssl.SSLContext | None = None,
    require_tls: bool = False,
) -> AsyncIterator[tuple[str, int]]:
    """Serve SMTP with `handler` while the context is open; yields the bound (host, port).

    `in_flight` counts the transactions still open (MAIL given, DATA not yet
    answered); a stop calls `on_stop` (so the handler refuses new ones), then
    waits for it, and for the sessions still connected inside a transaction, to
    reach zero (at most `grace` seconds) before closing connections.
    `idle_timeout` and `max_connections` are the limits the module describes.
    With `sock`, serve on that listening socket (bound by the caller, with
    SO_REUSEPORT when other processes listen on the port too) instead of
    binding `host`:`port`; the limits then hold per process. A port that
    cannot be had is a one-line `ConfigError` naming `setting` (the flag that
    chooses another). With `tls_context`, STARTTLS is offered in EHLO (aiosmtpd's
    own); `require_tls` refuses MAIL until the session is encrypted (`530`).
    """
    loop = asyncio.get_running_loop()
    sessions = _Sessions(max_connections)

    def new_session() -> asyncio.Protocol:
        if not sessions.make_room():
            return _Refusal()
        protocol = GuardedSession(
            handler,
            registry=sessions,
            hostname=hostname,
            ident=ident,
            data_size_limit=data_size_limit,
            enable_SMTPUTF8=True,
            timeout=idle_timeout,
            tls_context=tls_context,
            require_starttls=require_tls and tls_context is not None,
            loop=loop,
        )
        sessions.add(protocol)
        return protocol

    if sock is not None:
        server = await loop.create_server(new_session, sock=sock, backlog=LISTEN_BACKLOG)
    else:
        try:
            server = await loop.create_server(
                new_session,
                host=host,
                port=port,
                reuse_port=reuse_port or None,
                backlog=LISTEN_BACKLOG,
            )
        except OSError as error:
            raise unavailable_port(error, host, port, setting) from None
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
