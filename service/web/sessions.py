"""The desk's and the console's session cookie, and the CSRF token bound to a session.

The cookie holds a random session id and an HMAC of it under a key derived
from `MAILDESK_SECRET` for this purpose only: a cookie we did not make is
dropped before any database read. It is `HttpOnly`, `SameSite=Lax`, `Secure`
when the base URL is https, and has no `Max-Age` (the server ends sessions).
A new id is made at every sign-in, whatever cookie the browser had, so a
session planted before sign-in is never the one signed in (no fixation).

Forms of a signed-in page carry a token derived from the session id (not
from the double-submit cookie of the public forms), so a token is good for
one session only and dies with it.

This module must never accept a cookie or token without `hmac.compare_digest`,
and never decide who may see what: that is the pages' and the use cases'.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from starlette.requests import Request
from starlette.responses import Response

COOKIE_NAME = "maildesk_session"
_COOKIE_PURPOSE = b"maildesk/web-session-cookie"
_CSRF_PURPOSE = b"maildesk/web-session-csrf"
_SHAPE = re.compile(r"([A-Za-z0-9_-]{43})\.([0-9a-f]{64})")


def _mac(secret: bytes, purpose: bytes, value: str) -> str:
    if not secret:
        raise ValueError("the signing secret is empty; set MAILDESK_SECRET")
    key = hmac.new(secret, purpose, hashlib.sha256).digest()
    return hmac.new(key, value.encode("ascii"), hashlib.sha256).hexdigest()


def session_id_of(request: Request, secret: bytes) -> str | None:
    """The session id in the browser's cookie, if the cookie is one we signed."""
    match = _SHAPE.fullmatch(request.cookies.get(COOKIE_NAME, ""))
    if match is None:
        return None
    session_id, signature = match.groups()
    if not hmac.compare_digest(_mac(secret, _COOKIE_PURPOSE, session_id), signature):
        return None
    return session_id


def set_cookie(response: Response, secret: bytes, session_id: str, *, secure: bool) -> None:
    value = f"{session_id}.{_mac(secret, _COOKIE_PURPOSE, session_id)}"
    response.set_cookie(COOKIE_NAME, value, path="/", httponly=True, samesite="lax", secure=secure)


def clear_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=secure)


def form_token(secret: bytes, session_id: str) -> str:
    """The CSRF token of every form shown to this session."""
    return _mac(secret, _CSRF_PURPOSE, session_id)


def token_is_valid(secret: bytes, session_id: str, submitted: object) -> bool:
    if not isinstance(submitted, str) or not submitted.isascii():
        return False
    return hmac.compare_digest(form_token(secret, session_id), submitted)
