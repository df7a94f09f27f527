"""Live updates for the list page: long polls on the mailbox's waiters, never a timer.

The list page's script (`templates/web/catcher/live.js`) asks

    GET /mail/live?version=V[&q=QUERY]

with the mailbox version its list shows. The answer comes as soon as the
mailbox is at another version: the list as the page shows it (the
`list_section.html` fragment, which carries the new version), or `204` after
`WAIT_SECONDS` without a change, and the script asks again. Nothing runs in
between: the request sleeps on the mailbox's waiters, which every arrival,
deletion and clearing wakes.

A waiting request also ends when its client goes away, and at once when the
server stops (`LiveUpdates.stop()`, or `stop_when_cancelled()` run beside the
web server), so an open tab never holds up a shutdown. After `stop()` every
poll is answered `503` straight away.

What this module must never do: busy-poll, or keep a request open longer than
`WAIT_SECONDS`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from service.catcher.mailbox import Mailbox

WAIT_SECONDS = 25.0
"""How long one poll waits for a change; under the usual 30 s idle limits of proxies."""

Render = Callable[[Request], Awaitable[Response]]


class LiveUpdates:
    """Answers the list page's long polls for one mailbox; `stop()` ends every one of them."""

    def __init__(self, mailbox: Mailbox, wait_seconds: float = WAIT_SECONDS) -> None:
        self.mailbox = mailbox
        self.wait_seconds = wait_seconds
        self.stopped = False
        self._stopping: anyio.Event | None = None

    def stop(self) -> None:
        """End every waiting poll now and answer later ones at once; call on the server's loop."""
        self.stopped = True
        if self._stopping is not None:
            self._stopping.set()

    async def stop_when_cancelled(self) -> None:
        """A task beside the web server's: when the server is told to stop, so are the polls.

        uvicorn waits up to its graceful-shutdown time for requests in
        progress; this answers the polls before it starts waiting.
        """
        try:
            await anyio.sleep_forever()
        finally:
            self.stop()

    async def poll(self, request: Request, render: Render) -> Response:
        """`render(request)` once the mailbox differs from the version the page has; else 204."""
        if self.stopped:
            return _stopping()
        try:
            seen = int(request.query_params.get("version", ""))
        except ValueError:
            return PlainTextResponse(
                "Say which version of the list the page shows: /mail/live?version=N.", 400
            )
        if self._stopping is None:
            self._stopping = anyio.Event()
        stopping = self._stopping
        changed = False
        async with anyio.create_task_group() as group:

            async def wait_for_mail() -> None:
                nonlocal changed
                changed = await self.mailbox.wait_for_change(seen, self.wait_seconds) != seen
                group.cancel_scope.cancel()

            async def wait_for_stop() -> None:
                await stopping.wait()
                group.cancel_scope.cancel()

            async def wait_for_client_to_leave() -> None:
                while (await request.receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(wait_for_mail)
            group.start_soon(wait_for_stop)
            group.start_soon(wait_for_client_to_leave)
        if self.stopped:
            return _stopping()
        if not changed:
            return Response(status_code=204)
        return await render(request)


def _stopping() -> Response:
    return PlainTextResponse(
        "The catcher is stopping; reload the page once it runs again.",
        status_code=503,
        headers={"Connection": "close"},
    )
