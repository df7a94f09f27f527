"""The catcher's HTTP side: pages for people, JSON for scripts (SPEC §8, "Catcher API").

`catcher_routes(mailbox)` returns Starlette routes that any app can include;
`maildesk serve` mounts them beside its own, `maildesk catcher` serves them
alone (see `service.catcher.app`).

    GET    /mail                      list page, newest first
    GET    /mail/{id}                 one message: text, HTML, headers, attachments
    GET    /api/messages              JSON list, oldest first
    GET    /api/messages/{id}         JSON, one message
    GET    /api/messages/{id}/raw     the raw bytes as received (text/plain)
    DELETE /api/messages              forget every message -> {"deleted": n}

An id is a message number written plainly (`[1-9][0-9]{0,17}`): anything else
is a 400, an unknown id a 404; the API answers both as `{"error": "..."}`.

What this module must never do:

- let caught mail run in the browser: pages are autoescaped, a message's HTML
  is shown only inside a sandboxed iframe (`srcdoc`, no scripts, no same
  origin), and every response forbids loading anything remote, so a tracking
  pixel or a `<script>` in a caught message stays inert;
- change or forget mail except on `DELETE /api/messages`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import jinja2
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

import service
from service.catcher.mailbox import CaughtMessage, Mailbox
from service.http_body import NO_BODY

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)
"""For every catcher response. An iframe's `srcdoc` inherits it, so caught HTML loads nothing."""

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

Endpoint = Callable[[Request], Awaitable[Response]]

_MESSAGE_ID = re.compile(r"[1-9][0-9]{0,17}")
"""Ids as the mailbox hands them out; `int()` alone would read `١`, `１` and fail on `¹`."""


class _BadId(Exception):
    """A requested id that cannot be a message id."""


def catcher_routes(
    mailbox: Mailbox, templates: Path | None = None, access: Sequence[Middleware] = ()
) -> list[BaseRoute]:
    """The catcher's pages and API over `mailbox`.

    `templates` is a directory whose `web/catcher/*.html` override the built-in
    pages (like `--templates`); pages it lacks come from the built-in set.
    `access` is middleware that decides who may use each route (`maildesk
    serve` lets only this machine or the admin token in).
    """
    pages = _CatcherPages(mailbox, _environment(templates))
    api = _CatcherApi(mailbox)
    routes: list[tuple[str, Endpoint, str, str]] = [
        ("/mail", pages.list, "GET", "catcher_list"),
        ("/mail/{id}", pages.show, "GET", "catcher_show"),
        ("/api/messages", api.list, "GET", "catcher_api_list"),
        ("/api/messages", api.clear, "DELETE", "catcher_api_clear"),
        ("/api/messages/{id}", api.show, "GET", "catcher_api_show"),
        ("/api/messages/{id}/raw", api.raw, "GET", "catcher_api_raw"),
    ]
    return [
        Route(path, handler, methods=[method], name=name, middleware=[*NO_BODY, *access])
        for path, handler, method, name in routes
    ]


class _CatcherApi:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def list(self, request: Request) -> Response:
        messages = [message.to_json() for message in self.mailbox.messages()]
        return JSONResponse(messages, headers=SECURITY_HEADERS)

    async def show(self, request: Request) -> Response:
        try:
            message = _find(self.mailbox, request)
        except _BadId:
            return _bad_id_json(request)
        if message is None:
            return _not_found_json(request)
        return JSONResponse(message.to_json(), headers=SECURITY_HEADERS)

    async def raw(self, request: Request) -> Response:
        try:
            message = _find(self.mailbox, request)
        except _BadId:
            return _bad_id_json(request)
        if message is None:
            return _not_found_json(request)
        headers = {
            **SECURITY_HEADERS,
            "Content-Disposition": f'inline; filename="message-{message.id}.eml"',
        }
        return Response(message.raw, media_type="text/plain; charset=utf-8", headers=headers)

    async def clear(self, request: Request) -> Response:
        return JSONResponse({"deleted": self.mailbox.clear()}, headers=SECURITY_HEADERS)


class _CatcherPages:
    def __init__(self, mailbox: Mailbox, environment: jinja2.Environment) -> None:
        self.mailbox = mailbox
        self.environment = environment

    async def list(self, request: Request) -> Response:
        messages = list(reversed(self.mailbox.messages()))
        return self._render(
            request,
            "web/catcher/list.html",
            messages=[_page_view(message) for message in messages],
            kept=len(messages),
            received=self.mailbox.received,
            max_messages=self.mailbox.max_messages,
        )

    async def show(self, request: Request) -> Response:
        try:
            message = _find(self.mailbox, request)
        except _BadId:
            return self._render(request, "web/catcher/bad_id.html", status_code=400)
        if message is None:
            return self._render(
                request,
                "web/catcher/not_found.html",
                status_code=404,
                requested=request.path_params["id"],
            )
        return self._render(request, "web/catcher/show.html", message=_page_view(message))

    def _render(
        self, request: Request, name: str, *, status_code: int = 200, **context: Any
    ) -> Response:
        def path_to(route: str, **params: Any) -> str:
            return request.url_for(route, **params).path

        page = self.environment.get_template(name).render(path_to=path_to, **context)
        return HTMLResponse(page, status_code=status_code, headers=SECURITY_HEADERS)


def _page_view(message: CaughtMessage) -> dict[str, Any]:
    """What a page shows of a message: its JSON plus the time it arrived as a `datetime`."""
    return {**message.to_json(), "received": message.received_at}


def _find(mailbox: Mailbox, request: Request) -> CaughtMessage | None:
    """The message the path names; None when there is none, `_BadId` when it names nothing."""
    requested = str(request.path_params["id"])
    if not _MESSAGE_ID.fullmatch(requested):
        raise _BadId(requested)
    return mailbox.get(int(requested))


def _bad_id_json(request: Request) -> Response:
    return JSONResponse(
        {"error": "a message id is a number as GET /api/messages lists them, like 1"},
        status_code=400,
        headers=SECURITY_HEADERS,
    )


def _not_found_json(request: Request) -> Response:
    requested = request.path_params["id"]
    return JSONResponse(
        {"error": f"no caught message with id {requested!r}; GET /api/messages lists them"},
        status_code=404,
        headers=SECURITY_HEADERS,
    )


def _environment(override: Path | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if override is not None:
        loaders.append(jinja2.FileSystemLoader(override))
    loaders.append(jinja2.FileSystemLoader(_templates_dir()))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _templates_dir() -> Path:
    """maildesk's `templates/`: inside the package when installed, beside it in a checkout."""
    package = Path(service.__file__).parent
    candidates = (package / "templates", package.parent / "templates")
    for candidate in candidates:
        if (candidate / "web" / "catcher").is_dir():
            return candidate
    looked = ", ".join(str(candidate) for candidate in candidates)
    raise FileNotFoundError(
        f"the catcher's page templates (web/catcher/) were not found; looked in {looked}. "
        "Reinstall maildesk, or run it from a source checkout."
    )
