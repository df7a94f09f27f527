"""The catcher's pages for people: the list, a message in four views, and two delete buttons.

    GET  /mail[?q=QUERY][&before=ID]   newest first, PAGE_SIZE at a time; search as in the API
    GET  /mail/live?version=V[&q=]     the list once the mailbox changes (`service.catcher.live`)
    GET  /mail/live.js                 the list page's script
    POST /mail/delete                  forget every message, back to the list
    GET  /mail/{id}                    a message: its HTML view, or its text when it has no HTML
    GET  /mail/{id}/text|source|headers   its other views
    GET  /mail/{id}/html               its HTML body on its own, sandboxed
    POST /mail/{id}/delete             forget it, back to the list

The views are plain links (the page works without JavaScript); the script
only keeps the list current. The delete buttons are forms, refused unless
the browser says they were posted from a catcher page (`is_same_origin`).

What this module must never do: put caught HTML into a page (it is shown
only at `/mail/{id}/html`, framed with `sandbox`, under
`CAUGHT_HTML_HEADERS`), or change mail on a GET.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from service.catcher.api import search
from service.catcher.live import LiveUpdates
from service.catcher.mailbox import CaughtMessage, Mailbox
from service.catcher.reading import JSONValue
from service.catcher.rendering import CatcherRenderer
from service.catcher.responses import CAUGHT_HTML_HEADERS, BadId, find, is_same_origin

PAGE_SIZE = 50
"""Messages on one list page; older ones are a link away."""

SOURCE_SHOWN = 512 * 1024
"""Characters of a message's source shown on its page; all of it is at /api/messages/{id}/raw."""

VIEWS = ("html", "text", "source", "headers")


@dataclass(frozen=True)
class ListPage:
    """One page of the list: which messages, and where the next older page starts."""

    query: str
    messages: list[dict[str, JSONValue]]
    matching: int
    older: int | None
    before: int | None


class CatcherPages:
    def __init__(self, mailbox: Mailbox, renderer: CatcherRenderer, live: LiveUpdates) -> None:
        self.mailbox = mailbox
        self.renderer = renderer
        self.live = live

    async def list(self, request: Request) -> Response:
        page = await self._list_page(request)
        return self.renderer.render(request, "web/catcher/list.html", **self._list_context(page))

    async def live_list(self, request: Request) -> Response:
        return await self.live.poll(request, self._list_section)

    async def script(self, request: Request) -> Response:
        return Response(
            self.renderer.source("web/catcher/live.js"),
            media_type="text/javascript; charset=utf-8",
        )

    async def show(self, request: Request) -> Response:
        return await self._view(request, None)

    async def text(self, request: Request) -> Response:
        return await self._view(request, "text")

    async def source(self, request: Request) -> Response:
        return await self._view(request, "source")

    async def headers(self, request: Request) -> Response:
        return await self._view(request, "headers")

    async def html(self, request: Request) -> Response:
        found = self._find(request)
        if isinstance(found, Response):
            return found
        if found.html is None:
            return self.renderer.render(
                request, "web/catcher/no_html.html", status_code=404, message=_view_of(found)
            )
        return HTMLResponse(found.html, headers=dict(CAUGHT_HTML_HEADERS))

    async def delete(self, request: Request) -> Response:
        if not is_same_origin(request):
            return self._refused(request)
        found = self._find(request)
        if isinstance(found, Response):
            return found
        self.mailbox.delete(found.id)
        return RedirectResponse(request.url_for("catcher_list").path, status_code=303)

    async def clear(self, request: Request) -> Response:
        if not is_same_origin(request):
            return self._refused(request)
        self.mailbox.clear()
        return RedirectResponse(request.url_for("catcher_list").path, status_code=303)

    async def _view(self, request: Request, view: str | None) -> Response:
        found = self._find(request)
        if isinstance(found, Response):
            return found
        if view is None:
            view = "html" if found.html is not None else "text"
        source = found.raw.decode("utf-8", "replace") if view == "source" else ""
        return self.renderer.render(
            request,
            "web/catcher/show.html",
            message=_view_of(found),
            view=view,
            views=VIEWS,
            source=source[:SOURCE_SHOWN],
            source_cut=len(source) > SOURCE_SHOWN,
        )

    async def _list_page(self, request: Request) -> ListPage:
        query = request.query_params.get("q", "").strip()
        before = _positive_int(request.query_params.get("before"))
        matching = await search(self.mailbox, query)
        if before is not None:
            shown_from = [message for message in matching if message.id < before]
        else:
            shown_from = matching
        newest_first = list(reversed(shown_from[-PAGE_SIZE:]))
        older = newest_first[-1].id if len(shown_from) > PAGE_SIZE else None
        return ListPage(
            query=query,
            messages=[_view_of(message) for message in newest_first],
            matching=len(matching),
            older=older,
            before=before,
        )

    async def _list_section(self, request: Request) -> Response:
        page = await self._list_page(request)
        return self.renderer.render(
            request, "web/catcher/list_section.html", **self._list_context(page)
        )

    def _list_context(self, page: ListPage) -> dict[str, Any]:
        return {
            "page": page,
            "kept": len(self.mailbox),
            "received": self.mailbox.received,
            "max_messages": self.mailbox.max_messages,
            "version": self.mailbox.version,
            "page_size": PAGE_SIZE,
        }

    def _find(self, request: Request) -> CaughtMessage | Response:
        try:
            message = find(self.mailbox, request)
        except BadId:
            return self.renderer.render(request, "web/catcher/bad_id.html", status_code=400)
        if message is None:
            return self.renderer.render(
                request,
                "web/catcher/not_found.html",
                status_code=404,
                requested=request.path_params["id"],
            )
        return message

    def _refused(self, request: Request) -> Response:
        return self.renderer.render(request, "web/catcher/refused.html", status_code=403)


def _view_of(message: CaughtMessage) -> dict[str, JSONValue]:
    """What a page shows of a message: its JSON, its `To` and `Cc` as sent, its arrival time."""
    shown = message.to_json()

    def header(name: str) -> str:
        return ", ".join(value for key, value in shown["headers"] if key.lower() == name)

    return {
        **shown,
        "to_header": header("to"),
        "cc_header": header("cc"),
        "received": message.received_at,
    }


def _positive_int(value: str | None) -> int | None:
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 18:
        return None
    number = int(value)
    return number if number > 0 else None
