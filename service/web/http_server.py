"""Serving a Starlette app with uvicorn inside an anyio task group.

uvicorn normally owns the process: its signals, its loop. Here it is one task
among the SMTP listener, the scheduler and the outbox worker, so it must not
install signal handlers, and cancelling its task must become uvicorn's
orderly shutdown rather than an abort. Slow clients and floods of
connections are held to `HttpLimits` (a head deadline, the keep-alive
timeout, a connection cap) by the protocol in `service.adapters.uvicorn`.
Used by `maildesk serve` and by the stand-alone catcher.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Generator

import anyio
import uvicorn
from starlette.applications import Starlette

from service.adapters.uvicorn import ServerWithoutSignals, guarded_protocol
from service.config import ConfigError, HttpLimits
from service.ports import choose, unavailable_port

GRACEFUL_SHUTDOWN_SECONDS = 5.0
LISTEN_BACKLOG = 1024
"""Connections the kernel queues before they are accepted (as for SMTP: a burst must not
overflow it, or clients wait for an answer that never comes)."""


async def serve_http(
    app: Starlette, listening: socket.socket, limits: HttpLimits | None = None
) -> None:
    """Serve `app` on an already-bound socket; on cancellation, shut uvicorn down gracefully."""
    config = uvicorn.Config(
        app,
        log_config=None,  # never reconfigure the host process's logging
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=int(GRACEFUL_SHUTDOWN_SECONDS),
        http=guarded_protocol(limits or HttpLimits()),
        backlog=LISTEN_BACKLOG,
    )
    server = ServerWithoutSignals(config)

    async def stop_when_cancelled() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            server.begin_shutdown()

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(stop_when_cancelled)
        # Shielded so that a cancellation becomes uvicorn's orderly shutdown, not an abort;
        # `stop_when_cancelled` turns the cancellation into `begin_shutdown`.
        with anyio.CancelScope(shield=True):
            await server.serve(sockets=[listening])
        task_group.cancel_scope.cancel()


@contextlib.contextmanager
def listening_socket(
    host: str, port: int, *, reuse_port: bool = False, setting: str = ""
) -> Generator[socket.socket, None, None]:
    """A TCP socket bound and listening on `host`:`port` (the first address `host` resolves to).

    With `reuse_port`, other sockets of this user may listen on the same port
    too (SO_REUSEPORT), and the kernel spreads new connections across them.
    A port that cannot be had is a `ConfigError` of one line naming `setting`
    (the flag and variable that choose another), not a traceback.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise ConfigError(f"cannot listen on {host!r}: {error.strerror}{choose(setting)}") from None
    listening = socket.socket(family, kind, proto)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            listening.bind(address)
        except OSError as error:
            raise unavailable_port(error, host, port, setting) from None
        listening.listen(LISTEN_BACKLOG)
        listening.setblocking(False)
        yield listening
    finally:
        listening.close()
