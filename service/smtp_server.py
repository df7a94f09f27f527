"""Running an aiosmtpd handler on the current event loop, with a graceful stop.

aiosmtpd's `Controller` runs its own loop in a thread; maildesk instead runs
the `SMTP` protocol on the loop that also runs the web server, the scheduler
and the outbox, so that one anyio task group owns them all. Stopping first
closes the listening socket, then lets messages already in DATA finish (up to
a grace period) so that a sender that got `250` really is committed, and
only then drops the remaining idle connections.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.lowlevel
from aiosmtpd.smtp import SMTP

DEFAULT_TIMEOUT = 60.0


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
    grace: float = 30.0,
    reuse_port: bool = False,
    in_flight: Callable[[], int] = lambda: 0,
    on_stop: Callable[[], None] = lambda: None,
) -> AsyncIterator[tuple[str, int]]:
    """Serve SMTP with `handler` while the context is open; yields the bound (host, port).

    `in_flight` counts the transactions still open (MAIL given, DATA not yet
    answered); a stop calls `on_stop` (so the handler refuses new ones), then
    waits for it to reach zero (at most `grace` seconds) before closing
    connections.
    """
    loop = asyncio.get_running_loop()
    sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    def new_session() -> SMTP:
        protocol = SMTP(
            handler,
            hostname=hostname,
            ident=ident,
            data_size_limit=data_size_limit,
            enable_SMTPUTF8=True,
            timeout=idle_timeout,
            loop=loop,
        )
        sessions.add(protocol)
        return protocol

    server = await loop.create_server(
        new_session, host=host, port=port, reuse_port=reuse_port or None
    )
    try:
        bound_host, bound_port = server.sockets[0].getsockname()[:2]
        yield str(bound_host), int(bound_port)
    finally:
        server.close()
        on_stop()
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(grace):
                while in_flight():  # noqa: ASYNC110 (aiosmtpd offers no event to wait on)
                    await anyio.sleep(0.02)
            for protocol in list(sessions):
                if protocol.transport is not None:
                    protocol.transport.close()
            await server.wait_closed()
            await anyio.lowlevel.checkpoint()  # let closed sessions run connection_lost
