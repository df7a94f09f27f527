"""The headers every response of `maildesk serve` carries, whatever produced it.

Pages set their own strict set (`service.web.rendering`), the catcher its own
(its caught HTML sits in a sandboxed frame); but redirects, 401s, 405s,
`/healthz`, JSON answers and the 400 of the `Host` check are made elsewhere,
and each of those must also forbid sniffing, framing and referrers. A pure
ASGI middleware adds what a response did not set itself; it never replaces
a header a route chose.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BASELINE: dict[str, str] = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class SecurityHeaders:
    """Pure ASGI middleware: adds `headers` to every response, keeping any a handler set,
    except the names in `enforced`, which always get `headers`' value."""

    def __init__(
        self,
        app: ASGIApp,
        headers: Mapping[str, str] = BASELINE,
        enforced: Collection[str] = (),
    ) -> None:
        self.app = app
        self.headers = headers
        self.enforced = frozenset(enforced)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    if name in self.enforced or name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)
