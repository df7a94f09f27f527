"""One-time messages carried across a redirect: "Your reply was sent", or why an action was refused.

After a form post the ticket page redirects (303) back to itself, so a reload
never posts twice; the outcome travels in a short-lived cookie scoped to that
ticket page, signed with a key derived from `MAILDESK_SECRET` for this purpose
and bound to the ticket link, so nobody can plant a message on someone else's
page. The page shows the message once and clears the cookie.

This module must never trust a cookie it did not sign (compared with
`hmac.compare_digest`) and never carry anything but a short message for
people to read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

COOKIE_NAME = "maildesk_flash"
MAX_TEXT = 600
_PURPOSE = b"maildesk/web-flash"

Kind = Literal["done", "refused"]


@dataclass(frozen=True)
class Flash:
    kind: Kind
    text: str


def attach(response: Response, secret: bytes, path: str, flash: Flash, *, secure: bool) -> None:
    """Send `flash` to be shown once on the page at `path`."""
    body = json.dumps({"k": flash.kind, "t": flash.text[:MAX_TEXT]}).encode()
    payload = base64.urlsafe_b64encode(body).decode("ascii").rstrip("=")
    value = f"{payload}.{_sign(secret, path, payload)}"
    response.set_cookie(
        COOKIE_NAME, value, max_age=120, path=path, httponly=True, samesite="lax", secure=secure
    )


def take(request: Request, secret: bytes, path: str) -> Flash | None:
    """The message waiting for the page at `path`, if any and genuine; `clear` it after showing."""
    value = request.cookies.get(COOKIE_NAME)
    if not value:
        return None
    payload, _, signature = value.partition(".")
    if not payload.isascii() or not signature.isascii():
        return None
    if not hmac.compare_digest(_sign(secret, path, payload), signature):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    kind, text = data.get("k"), data.get("t")
    if kind == "done" and isinstance(text, str):
        return Flash("done", text[:MAX_TEXT])
    if kind == "refused" and isinstance(text, str):
        return Flash("refused", text[:MAX_TEXT])
    return None


def clear(request: Request, response: Response, path: str) -> None:
    """Forget the message once the page has shown it."""
    if COOKIE_NAME in request.cookies:
        response.delete_cookie(COOKIE_NAME, path=path)


def _sign(secret: bytes, path: str, payload: str) -> str:
    key = hmac.new(secret, _PURPOSE, hashlib.sha256).digest()
    return hmac.new(key, f"{path}\n{payload}".encode(), hashlib.sha256).hexdigest()
