"""The web server of `maildesk serve`: health, the JSON API, and the built-in catcher's pages.

One Starlette app; each room adds its routes. The app holds the `Runtime` in
`app.state.runtime`, so handlers reach the funnel and the store without
globals.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from service.catcher.web import catcher_routes
from service.http_body import NO_BODY
from service.runtime import Runtime
from service.web.api import api_routes
from service.web.pages import page_routes


async def healthz(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    async with runtime.store.reading() as q:
        open_tickets = await q.open_ticket_count()
    return JSONResponse(
        {"status": "ok", "open_tickets": open_tickets, "now": runtime.clock.now().isoformat()}
    )


async def not_found(request: Request, exc: Exception) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse(
            {"error": f"no such endpoint: {request.method} {request.url.path}"}, status_code=404
        )
    return Response("Not found", status_code=404, media_type="text/plain")


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    return JSONResponse(
        {"error": f"{request.method} is not allowed on {request.url.path}"}, status_code=405
    )


def build_app(runtime: Runtime) -> Starlette:
    templates = Path(runtime.settings.templates) if runtime.settings.templates else None
    routes: list[BaseRoute] = [
        Route("/healthz", healthz, middleware=NO_BODY),
        *api_routes(),
        *catcher_routes(runtime.mailbox, templates),
        *page_routes(),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: method_not_allowed})
    app.state.runtime = runtime
    return app
