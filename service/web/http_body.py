"""How much request body a route takes, enforced as the body arrives (pure ASGI).

Every route of `maildesk serve` and of the stand-alone catcher is declared
with a `BodyLimit` (`Route(..., middleware=body_limit(...))`), so the limit
sits beside the route it guards, once. A `Content-Length` over the limit is
answered 413 before a byte of the body is read; a body without one
(chunked) is counted as it arrives and cut off with 413 the moment it
passes the limit. Routes that take no body have a limit of 0.

After the 413 the connection stays open, and what the client still sends of
that body is read and dropped, never kept: most clients (httpx, requests)
send the whole body before they read a response, and a connection closed
under them turns the 413 into "connection reset". The dropping is bounded by
the header timeout (`service.adapters.uvicorn`): the next request's head must
arrive within it of the 413, so a client that keeps sending is cut off then.

A limit is a number of bytes, or a function of the request's scope for
limits that are settings (`Settings.max_api_body`, the form limits that
follow `max_message_size`). How the 413 reads is the route's choice: JSON
for the API, a page for the forms.

What this module must never do: buffer the body itself, or let a handler
see more than the limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Limit = int | Callable[[Scope], int]
Refusal = Callable[[Request, int], Response | Awaitable[Response]]


class _TooLarge(Exception):
    """Raised from `receive` inside the app once the body passes the limit."""


def too_large_message(limit: int, fix: str = "send a smaller one") -> str:
    """The sentence of every 413: what the limit is, and `fix`, what to do."""
    if limit == 0:
        return "this endpoint takes no request body; send the request without one"
    return (
        f"the request body is larger than this endpoint takes ({readable_size(limit)}, "
        f"{limit:,} bytes); {fix}"
    )


def refuse_plainly(request: Request, limit: int) -> Response:
    """JSON `{"error": …}` under /api/, plain text elsewhere."""
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": too_large_message(limit)}, status_code=413)
    return PlainTextResponse(too_large_message(limit).capitalize() + ".", status_code=413)


class BodyLimit:
    """Pure ASGI middleware for one route: its body stops at `limit` bytes, with a 413."""

    def __init__(self, app: ASGIApp, *, limit: Limit, refuse: Refusal = refuse_plainly) -> None:
        self.app = app
        self.limit = limit
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope) if callable(self.limit) else self.limit
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(scope, receive, send, limit)
            return
        received = 0
        responding = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal responding
            responding = responding or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if responding:  # too late for a 413: the server drops the connection
                raise
            await self._refuse(scope, receive, send, limit)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        answer = self.refuse(Request(scope), limit)
        response = answer if isinstance(answer, Response) else await answer
        await response(scope, receive, send)


def body_limit(limit: Limit, refuse: Refusal = refuse_plainly) -> Sequence[Middleware]:
    """The `middleware=` of a route that takes at most `limit` bytes of body."""
    return [Middleware(BodyLimit, limit=limit, refuse=refuse)]


NO_BODY = body_limit(0)
"""The `middleware=` of a route that takes no body at all."""


def readable_size(size: int) -> str:
    """1048576 -> "1 MB", 65536 -> "64 KB": for sentences, rounded down."""
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= factor:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


def _content_length(scope: Scope) -> int | None:
    """The declared length; h11 has already refused a malformed or repeated one."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
