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
import logging
import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import logs
from service.metrics import CONTENT_TYPE, Metrics
from service.runtime import Runtime

log = logging.getLogger(__name__)


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
        offered = Headers(scope=scope).get("x-request-id")
        status = 0

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                route = getattr(scope.get("route"), "path", "unmatched")
                seconds = time.perf_counter() - started
                self.metrics.http_seconds.labels(method=scope["method"], route=route).observe(
                    seconds
                )
                # The route, never the path: paths carry signed links and secrets.
                log.info("HTTP %s %s %s in %.0f ms", scope["method"], route, status, seconds * 1000)

        with logs.context(request_id=logs.new_request_id(offered)) as fields:
            request_id = fields["request_id"]
            await self.app(scope, receive, timed_send)
