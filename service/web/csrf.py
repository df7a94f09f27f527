"""Cross-site request forgery protection for every form of the web pages (SPEC §5).

A signed double submit, with no server-side sessions: the browser holds a
random value in the `maildesk_csrf` cookie (HttpOnly, SameSite=Lax), and each
form carries `csrf_token`, an HMAC-SHA256 of that value under a key derived
from `MAILDESK_SECRET` for this purpose only. Another site can make a browser
post a form here, but it can neither read the cookie nor compute the token
that belongs to it, so its post is refused.

    GET  page   -> reuse the cookie (or set a new one), put its token in the form
    POST form   -> the cookie and the field must both be there and must match

This module must never accept a token without `hmac.compare_digest`, never
sign with the bare secret (purposes stay apart: a ticket link signature is
never a form token), and never decide anything else about a request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from starlette.requests import Request
from starlette.responses import Response

COOKIE_NAME = "maildesk_csrf"
FIELD_NAME = "csrf_token"

_PURPOSE = b"maildesk/web-form-csrf"
_COOKIE_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


def form_token(secret: bytes, cookie_value: str) -> str:
    """The token a form must carry when the browser holds `cookie_value`."""
    if not secret:
        raise ValueError("the signing secret is empty; set MAILDESK_SECRET")
    key = hmac.new(secret, _PURPOSE, hashlib.sha256).digest()
    return hmac.new(key, cookie_value.encode("ascii"), hashlib.sha256).hexdigest()


def cookie_of(request: Request) -> str | None:
    """The browser's CSRF cookie when it has one of the right shape, else None."""
    value = request.cookies.get(COOKIE_NAME, "")
    return value if _COOKIE_SHAPE.fullmatch(value) else None


def token_for(request: Request, secret: bytes) -> tuple[str, str | None]:
    """(the form token, a new cookie value to set or None when the browser has one)."""
    existing = cookie_of(request)
    if existing is not None:
        return form_token(secret, existing), None
    fresh = secrets.token_urlsafe(32)
    return form_token(secret, fresh), fresh


def is_valid(request: Request, secret: bytes, submitted: object) -> bool:
    """Whether a posted form's token belongs to the cookie this browser sent with it."""
    cookie = cookie_of(request)
    if cookie is None or not isinstance(submitted, str) or not submitted.isascii():
        return False
    return hmac.compare_digest(form_token(secret, cookie), submitted)


def set_cookie(response: Response, value: str, *, secure: bool) -> None:
    """Give the browser its CSRF cookie: the whole site, never readable from scripts."""
    response.set_cookie(COOKIE_NAME, value, path="/", httponly=True, samesite="lax", secure=secure)
