"""The catcher's JSON API for scripts and tests (SPEC §8, "Catcher API", and its extensions).

    GET    /api/messages[?q=QUERY]    every kept message (or those matching QUERY), oldest first
    GET    /api/messages/{id}         one message
    GET    /api/messages/{id}/raw     its bytes as received (text/plain)
    DELETE /api/messages/{id}         forget it -> {"deleted": 1}
    DELETE /api/messages              forget every message -> {"deleted": n}

`q` is a search query as `service.catcher.search` reads it: words that must
all appear (any case) in the sender, recipients, subject or text, or in one
of them with `from:`, `to:`, `subject:`, `text:`. A bad id is a 400, an
unknown one a 404, both as `{"error": "..."}`.
"""

from __future__ import annotations

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.catcher.mailbox import CaughtMessage, Mailbox
from service.catcher.responses import BadId, find, requested_id


class CatcherApi:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def list(self, request: Request) -> Response:
        messages = await search(self.mailbox, request.query_params.get("q", ""))
        return JSONResponse([message.to_json() for message in messages])

    async def show(self, request: Request) -> Response:
        found = self._find(request)
        if isinstance(found, Response):
            return found
        return JSONResponse(found.to_json())

    async def raw(self, request: Request) -> Response:
        found = self._find(request)
        if isinstance(found, Response):
            return found
        disposition = f'inline; filename="message-{found.id}.eml"'
        return Response(
            found.raw,
            media_type="text/plain; charset=utf-8",
            headers={"Content-Disposition": disposition},
        )

    async def delete(self, request: Request) -> Response:
        found = self._find(request)
        if isinstance(found, Response):
            return found
        deleted = self.mailbox.delete(found.id)
        return JSONResponse({"deleted": int(deleted)})

    async def clear(self, request: Request) -> Response:
        return JSONResponse({"deleted": self.mailbox.clear()})

    def _find(self, request: Request) -> CaughtMessage | Response:
        try:
            message = find(self.mailbox, request)
        except BadId:
            return JSONResponse(
                {"error": "a message id is a number as GET /api/messages lists them, like 1"},
                status_code=400,
            )
        if message is None:
            return JSONResponse(
                {
                    "error": f"no caught message with id {requested_id(request)!r}; "
                    "GET /api/messages lists them"
                },
                status_code=404,
            )
        return message


async def search(mailbox: Mailbox, query: str) -> list[CaughtMessage]:
    """`mailbox.search(query)`, off the event loop when there is something to search.

    The first search reads every message not yet read; SMTP and other pages
    keep being served meanwhile.
    """
    if not query.strip():
        return mailbox.messages()
    return await anyio.to_thread.run_sync(mailbox.search, query)
