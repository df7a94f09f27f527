"""The web server of `maildesk serve`: health, the JSON API, and the built-in catcher's pages.

One Starlette app; each room adds its routes. The app holds the `Runtime` in
`app.state.runtime`, so handlers reach the funnel and the store without
globals. Every request first passes the `Host` check (`service.web.http_hosts`);
the catcher's routes then admit only this machine or the admin token
(`service.web.catcher_access`). `app.state.catcher_live` answers the catcher
list's long polls; `serve` stops it with the web server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from service.catcher.live import LiveUpdates
from service.catcher.web import catcher_routes
from service.runtime import Runtime
from service.web.api import api_routes
from service.web.catcher_access import CatcherAccess
from service.web.http_body import NO_BODY
from service.web.http_hosts import HostCheck, allowed_hosts
from service.web.metrics import RequestTiming, metrics
from service.web.pages import page_routes
from service.web.rendering import PageRenderer
from service.web.security_headers import SecurityHeaders


async def healthz(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    async with runtime.store.reading() as q:
        open_tickets = await q.tickets.open_count()
    return JSONResponse(
        {"status": "ok", "open_tickets": open_tickets, "now": runtime.clock.now().isoformat()}
    )


def not_found_handler(pages: PageRenderer) -> Callable[[Request, Exception], Awaitable[Response]]:
    """An unknown path: JSON under /api/, else the same styled page a bad ticket link gets."""

    async def not_found(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse(
                {"error": f"no such endpoint: {request.method} {request.url.path}"},
                status_code=404,
            )
        return pages.not_found(request)

    return not_found


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    return JSONResponse(
        {"error": f"{request.method} is not allowed on {request.url.path}"}, status_code=405
    )


def build_app(runtime: Runtime) -> Starlette:
    """Every route, behind the `Host` check; the catcher's only for this machine or the admin."""
    settings = runtime.settings
    templates = Path(settings.templates) if settings.templates else None
    catcher_access = [Middleware(CatcherAccess, admin_token=settings.admin_token)]
    catcher_live = LiveUpdates(runtime.mailbox)
    routes: list[BaseRoute] = [
        Route("/healthz", healthz, middleware=NO_BODY),
        Route("/metrics", metrics, middleware=NO_BODY),
        *api_routes(),
        *catcher_routes(runtime.mailbox, templates, catcher_access, live=catcher_live),
        *page_routes(),
    ]
    host_check = Middleware(
        HostCheck,
        allowed=allowed_hosts(settings.public_base_url, settings.http_host),
        fix="if this server is reached under another name, give that name with --base-url "
        "(MAILDESK_BASE_URL)",
    )
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestTiming, metrics=runtime.metrics),
            Middleware(SecurityHeaders),
            host_check,
        ],
        exception_handlers={404: not_found_handler(PageRenderer()), 405: method_not_allowed},
    )
    app.state.runtime = runtime
    app.state.catcher_live = catcher_live
    return app
