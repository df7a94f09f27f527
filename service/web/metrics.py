"""`/metrics` for Prometheus, behind the admin token, and the timing of every request.

The figures tell how busy the desk is and who its customers' vendors are
(ticket counts), so they are not public: a scrape sends the admin token as a
bearer token, like every admin API call. Prometheus's `authorization`
setting does exactly that. The latency histogram labels a request by the
route it matched (`/api/v1/tickets/{number}`), never by its path, so a
crawler cannot grow it without bound.
"""

from __future__ import annotations

import hmac
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.metrics import CONTENT_TYPE, Metrics
from service.runtime import Runtime


async def metrics(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    admin = runtime.settings.admin_token
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if not admin:
        return JSONResponse(
            {"error": "/metrics needs MAILDESK_ADMIN_TOKEN; scrape with it as a bearer token"},
            status_code=403,
        )
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), admin.encode()
    ):
        return JSONResponse(
            {"error": "send `Authorization: Bearer <admin token>` (Prometheus: authorization)"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    body = await runtime.metrics.exposition(runtime.store, runtime.clock.now())
    return Response(body, media_type=CONTENT_TYPE)


class RequestTiming:
    """Pure ASGI: the time from a request's start to its response's last byte, by route."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                route = scope.get("route")
                self.metrics.http_seconds.labels(
                    method=scope["method"], route=getattr(route, "path", "unmatched")
                ).observe(time.perf_counter() - started)

        await self.app(scope, receive, timed_send)
