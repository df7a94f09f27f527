"""Everything maildesk takes from uvicorn beyond its public API, in this one module.

uvicorn's public surface is `Config` and `Server.serve`. What maildesk needs
beyond it lives here, so that a uvicorn release that changes it breaks one
file, loudly: pyproject.toml pins the series this was written against
(`uvicorn~=0.55.0`), and `tests/adapters/test_uvicorn.py` checks every name
and signature listed below, and the behaviour built on them over real sockets.

Private names used (undocumented, or in a module uvicorn does not export):

- `uvicorn.Server.capture_signals()`, overridden to leave signals alone;
- `uvicorn.Server.should_exit`, set to begin uvicorn's graceful shutdown
  (what its own signal handler does; `ServerWithoutSignals.begin_shutdown`);
- `uvicorn.protocols.http.h11_impl.H11Protocol`, subclassed: its
  `__init__(config, server_state, app_state, _loop)`, `connection_made`,
  `data_received`, `connection_lost` and `on_response_complete` are
  overridden and always call uvicorn's own; its attributes `conn` (the
  `h11.Connection`), `transport`, `loop`, `scope` (a new dict for each request
  head parsed), `client` (the peer, for a log line) and `timeout_keep_alive`
  are read or set. (`transport` is asyncio's, and paused by uvicorn while the
  app falls behind the body: `is_reading()` says so.)

Public, and so used where they are needed: `uvicorn.Config` (its `http`
parameter is typed to take a protocol class, which is how the subclass is
given to it) and `Server.serve(sockets=...)`.

What the subclass adds, for slow clients and floods of connections (uvicorn
0.55 has a keep-alive timeout, but no deadline for a request's head, and its
`limit_concurrency` still accepts every connection and answers 503):

- A head deadline. A request's head (request line and headers) must arrive
  whole within `header_timeout` of the connection, or of the previous
  response. A client that trickles a header line every few seconds is told
  `408` and closed; one that sends nothing is closed. The deadline also
  bounds how long the rest of a body refused with 413 is read and dropped
  (`service.web.http_body`).
- A body deadline. A request body must keep coming while the server is
  ready for it: never a pause of `header_timeout`, and after the first
  `header_timeout` at least `MIN_BODY_RATE` bytes a second on average (the
  rule of the SMTP side). A client that stalls or trickles is told `408` and
  closed; time the app itself takes to read (uvicorn stops reading when it
  falls behind) is never counted against the client.
- The keep-alive timeout from the settings (uvicorn's own timer).
- A connection cap. At most `max_connections` are open (each holds ~10 KB).
  A newcomer at the cap takes the place of the least recently active
  connection that has no request in progress (waiting for a head, or idle
  between requests), which is closed; only when every connection is in the
  middle of a request is the newcomer told `503` and closed. So an idle flood
  costs bounded memory and still does not lock out a real client.

What this module must never do: change what a request means, or leave a
connection without a deadline while it waits for its client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Generator
from typing import Any, ClassVar

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from service.config import HttpLimits

log = logging.getLogger(__name__)

MIN_BODY_RATE = 500
"""Bytes a second a request body must average once its first `header_timeout` is spent."""


def _plain(status: str, text: str, *headers: str) -> bytes:
    """A whole `Connection: close` response, written to a client outside any request cycle."""
    body = text.encode()
    lines = [
        f"HTTP/1.1 {status}",
        "Content-Type: text/plain; charset=utf-8",
        "Connection: close",
        *headers,
        f"Content-Length: {len(body)}",
    ]
    return "\r\n".join(lines).encode() + b"\r\n\r\n" + body


REQUEST_TIMEOUT = _plain(
    "408 Request Timeout", "The request's headers took too long to arrive; send it again."
)
BODY_TOO_SLOW = _plain(
    "408 Request Timeout", "The request's body stopped arriving or came too slowly; send it again."
)
SERVICE_UNAVAILABLE = _plain(
    "503 Service Unavailable",
    "Every connection to this server is busy; try again in a few seconds.",
    "Retry-After: 5",
)


class ServerWithoutSignals(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the caller; stopped via `should_exit`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    def begin_shutdown(self) -> None:
        """Stop as a signal would: no new connections, requests in progress finish."""
        self.should_exit = True


def guarded_protocol(limits: HttpLimits) -> type[GuardedH11Protocol]:
    """The protocol class for one server (`uvicorn.Config(http=...)`): its limits, its cap."""

    class Guarded(GuardedH11Protocol):
        pass

    Guarded.limits = limits
    Guarded.open_connections = Connections(limits.max_connections)
    return Guarded


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a head deadline and a place under the connection cap."""

    limits: ClassVar[HttpLimits] = HttpLimits()
    open_connections: ClassVar[Connections]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_keep_alive = self.limits.keep_alive_timeout  # type: ignore[assignment]
        self._head_deadline: asyncio.TimerHandle | None = None
        self._head_bytes = 0  # bytes of the awaited head received so far
        self._in_request = False  # a head was parsed, its response is not complete yet
        self._body_deadline: asyncio.TimerHandle | None = None
        self._body_started = 0.0  # loop time the current request's head was parsed
        self._body_bytes = 0  # bytes received since then
        self._body_last = 0.0  # loop time bytes last came

    @property
    def idle(self) -> bool:
        """No request in progress: closing it loses nothing a client is waiting for."""
        return not self._in_request

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        if not self.open_connections.admit(self):
            log.warning(
                "HTTP connection cap of %d busy connections reached", self.open_connections.cap
            )
            self.transport.write(SERVICE_UNAVAILABLE)
            self.transport.close()
            return
        self._await_head()

    def data_received(self, data: bytes) -> None:
        self.open_connections.touch(self)
        if self._in_request:
            self._body_bytes += len(data)
            self._body_last = self.loop.time()
        else:
            self._head_bytes += len(data)
        before = self.scope
        super().data_received(data)
        self._note_new_request(before)

    def on_response_complete(self) -> None:
        self._in_request = False
        self.open_connections.touch(self)
        before = self.scope
        super().on_response_complete()  # may start a pipelined request already received
        if not self.transport.is_closing() and not self._note_new_request(before):
            self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self.open_connections.discard(self)
        self._cancel_deadlines()
        super().connection_lost(exc)

    def drop(self) -> None:
        """Close to make room for a newcomer (only while idle)."""
        self.open_connections.discard(self)
        self._cancel_deadlines()
        if not self.transport.is_closing():
            self.transport.close()

    def _note_new_request(self, scope_before: object) -> bool:
        """Whether uvicorn parsed a new request head (it makes a new scope for each)."""
        if self.scope is scope_before:
            return False
        self._in_request = True
        self._cancel_deadlines()
        self._body_started = self._body_last = self.loop.time()
        self._body_bytes = 0
        if self.conn.their_state is h11.SEND_BODY:
            self._body_deadline = self.loop.call_later(
                self.limits.header_timeout, self._body_too_slow
            )
        return True

    def _body_too_slow(self) -> None:
        """Cut the client off if its body stalled or trickles; else look again when it could."""
        self._body_deadline = None
        if not self._in_request or self.conn.their_state is not h11.SEND_BODY:
            return  # the body is all here (or the response is done)
        allowance = self.limits.header_timeout
        now = self.loop.time()
        if not self.transport.is_reading():  # the app is behind the body, not the client
            self._body_last = now
            wait = allowance
        else:
            deadline = min(
                self._body_last + allowance,  # never silent too long
                self._body_started + allowance + self._body_bytes / MIN_BODY_RATE,  # fast enough
            )
            wait = deadline - now
            if wait <= 0:
                log.info("HTTP request body too slow from %s; closed", self.client)
                self.transport.write(BODY_TOO_SLOW)
                self.transport.close()
                return
        self._body_deadline = self.loop.call_later(wait, self._body_too_slow)

    def _await_head(self) -> None:
        self._cancel_deadlines()
        self._head_bytes = 0
        self._head_deadline = self.loop.call_later(self.limits.header_timeout, self._head_too_slow)

    def _cancel_deadlines(self) -> None:
        for deadline in (self._head_deadline, self._body_deadline):
            if deadline is not None:
                deadline.cancel()
        self._head_deadline = self._body_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing() or self._in_request:
            return
        if self._head_bytes and self.conn.their_state is h11.IDLE:  # part of a head came
            self.transport.write(REQUEST_TIMEOUT)
        self.transport.close()


class Connections:
    """The open connections of one server, least recently active first."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._open: OrderedDict[GuardedH11Protocol, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._open)

    def admit(self, newcomer: GuardedH11Protocol) -> bool:
        """Make room for `newcomer` if need be; False when every connection is busy."""
        if len(self._open) >= self.cap:
            idle = next((c for c in self._open if c.idle), None)
            if idle is None:
                return False
            idle.drop()
        self._open[newcomer] = None
        return True

    def touch(self, connection: GuardedH11Protocol) -> None:
        if connection in self._open:
            self._open.move_to_end(connection)

    def discard(self, connection: GuardedH11Protocol) -> None:
        self._open.pop(connection, None)
