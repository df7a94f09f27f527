"""Who may read the built-in catcher inside `maildesk serve`: this machine, or the operator.

The catcher's pages and API (`/mail`, `/api/messages`) show every
notification sent, with both parties' signed ticket links and reply
addresses, and `DELETE /api/messages` forgets them: whoever reads them can
act on any ticket. So `CatcherAccess`, a pure ASGI middleware on each catcher
route, lets through a client on this machine (loopback) and, from anywhere
else, only a request that carries the admin token: `Authorization: Bearer
<token>` for scripts, or HTTP Basic with any user name and the token as
password, so a browser can open /mail (it asks for them after the 401's
`WWW-Authenticate: Basic realm="maildesk mail catcher"`).

What this module must never do: compare a token other than with
`hmac.compare_digest`, or let anything through when no admin token is set.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.web.http_hosts import is_loopback_client

REALM = "maildesk mail catcher"
NEEDS_TOKEN = (
    "the mail catcher answers other machines only with the admin token: sign in with any "
    "user name and the admin token as password, or send `Authorization: Bearer <admin token>`"
)


class CatcherAccess:
    """Pure ASGI middleware: loopback clients pass; others need `admin_token`, else 401."""

    def __init__(self, app: ASGIApp, *, admin_token: str) -> None:
        self.app = app
        self.admin_token = admin_token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_loopback_client(scope) or self._has_token(scope):
            await self.app(scope, receive, send)
            return
        await self._unauthorized(scope)(scope, receive, send)

    def _has_token(self, scope: Scope) -> bool:
        if not self.admin_token:
            return False
        scheme, _, credentials = Headers(scope=scope).get("authorization", "").partition(" ")
        presented = _presented_token(scheme.lower(), credentials.strip())
        return presented is not None and hmac.compare_digest(presented, self.admin_token)

    @staticmethod
    def _unauthorized(scope: Scope) -> Response:
        headers = {"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'}
        if str(scope["path"]).startswith("/api/"):
            return JSONResponse({"error": NEEDS_TOKEN}, status_code=401, headers=headers)
        return PlainTextResponse(NEEDS_TOKEN[0].upper() + NEEDS_TOKEN[1:] + ".", 401, headers)


def _presented_token(scheme: str, credentials: str) -> bytes | None:
    """The token a request presents: a bearer token, or a Basic password; None otherwise."""
    if scheme == "bearer" and credentials:
        return credentials.encode()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True)
        except (binascii.Error, ValueError):
            return None
        _, colon, password = decoded.partition(b":")
        return password if colon else None
    return None
