"""The catcher's HTTP side, as one table of routes: pages for people, JSON for scripts.

`catcher_routes(mailbox)` returns Starlette routes that any app can include;
`maildesk serve` mounts them beside its own, `maildesk catcher` serves them
alone (see `service.catcher.app`). The pages are `service.catcher.pages`,
the JSON API (SPEC §8, "Catcher API") `service.catcher.api`, the list's
live updates `service.catcher.live`.

Order: the API lists oldest first (as SPEC §8 says), the list page newest
first (and says so); both hold the same messages for the same query.

Every route carries, outermost first: `CatcherHeaders` (no caching, a strict
Content-Security-Policy: `service.catcher.responses`), its body limit, then
`access`, the middleware that decides who may use it.

What this module must never do: let caught mail run in the browser, or
change or forget mail on a GET.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from service.catcher.api import CatcherApi
from service.catcher.live import LiveUpdates
from service.catcher.mailbox import Mailbox
from service.catcher.pages import CatcherPages
from service.catcher.rendering import CatcherRenderer
from service.catcher.responses import CatcherHeaders
from service.web.http_body import NO_BODY

Endpoint = Callable[[Request], Awaitable[Response]]


def catcher_routes(
    mailbox: Mailbox,
    templates: Path | None = None,
    access: Sequence[Middleware] = (),
    *,
    live: LiveUpdates | None = None,
) -> list[BaseRoute]:
    """The catcher's pages and API over `mailbox`.

    `templates` is a directory whose `web/catcher/*` override the built-in
    pages (like `--templates`); pages it lacks come from the built-in set.
    `access` is middleware that decides who may use each route (`maildesk
    serve` lets only this machine or the admin token in). `live` answers the
    list page's long polls; pass one to be able to `stop()` them when the
    server stops.
    """
    live = live if live is not None else LiveUpdates(mailbox)
    pages = CatcherPages(mailbox, CatcherRenderer(templates), live)
    api = CatcherApi(mailbox)
    # The fixed /mail/... paths come before /mail/{id}, which would take them as ids.
    routes: list[tuple[str, Endpoint, str, str]] = [
        ("/mail", pages.list, "GET", "catcher_list"),
        ("/mail/live", pages.live_list, "GET", "catcher_live"),
        ("/mail/live.js", pages.script, "GET", "catcher_script"),
        ("/mail/delete", pages.clear, "POST", "catcher_clear"),
        ("/mail/{id}", pages.show, "GET", "catcher_show"),
        ("/mail/{id}/text", pages.text, "GET", "catcher_text"),
        ("/mail/{id}/source", pages.source, "GET", "catcher_source"),
        ("/mail/{id}/headers", pages.headers, "GET", "catcher_headers"),
        ("/mail/{id}/html", pages.html, "GET", "catcher_html"),
        ("/mail/{id}/delete", pages.delete, "POST", "catcher_delete"),
        ("/api/messages", api.list, "GET", "catcher_api_list"),
        ("/api/messages", api.clear, "DELETE", "catcher_api_clear"),
        ("/api/messages/{id}", api.show, "GET", "catcher_api_show"),
        ("/api/messages/{id}", api.delete, "DELETE", "catcher_api_delete"),
        ("/api/messages/{id}/raw", api.raw, "GET", "catcher_api_raw"),
    ]
    return [
        Route(
            path,
            handler,
            methods=[method],
            name=name,
            middleware=[Middleware(CatcherHeaders), *NO_BODY, *access],
        )
        for path, handler, method, name in routes
    ]
