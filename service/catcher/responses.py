"""What every catcher response carries, and the message a request names.

Caught mail holds both parties' signed ticket links, so no catcher response
may be cached, and none may let caught HTML run or fetch anything.
`CatcherHeaders` is a pure ASGI middleware on each catcher route, outermost,
so every response of those routes carries the headers below, its 401s,
413s and error pages included; a handler may set a stricter policy of its
own (the caught HTML on its own URL does).

What this module must never do: let a response go out without
`Cache-Control: no-store` or without a Content-Security-Policy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from starlette.requests import Request
from starlette.types import ASGIApp

from service.catcher.mailbox import CaughtMessage, Mailbox
from service.web.security_headers import SecurityHeaders

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "
    "img-src data:; frame-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'self'"
)
"""For the catcher's pages: its own script (live updates) and nothing remote."""

CAUGHT_HTML_POLICY = (
    "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)
"""For a message's HTML body: no script, no origin, nothing remote (a tracking pixel stays dark)."""

CAUGHT_HTML_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CAUGHT_HTML_POLICY,
    "Referrer-Policy": "no-referrer",
}

HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": PAGE_POLICY,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: with it a browser sends `Origin: null` on the delete buttons' posts,
    # and `is_same_origin` could not tell them from another site's. Nothing goes elsewhere.
    "Referrer-Policy": "same-origin",
    "X-Robots-Tag": "noindex",
}

_MESSAGE_ID = re.compile(r"[1-9][0-9]{0,17}")
"""Ids as the mailbox hands them out; `int()` alone would read `١`, `１` and fail on `¹`."""


def CatcherHeaders(app: ASGIApp) -> SecurityHeaders:
    """Every catcher response gets `HEADERS`, its `Cache-Control: no-store` whatever else."""
    return SecurityHeaders(app, HEADERS, enforced=("Cache-Control",))


class BadId(Exception):
    """A requested id that cannot be a message id."""


def find(mailbox: Mailbox, request: Request) -> CaughtMessage | None:
    """The message the path names; None when there is none, `BadId` when it names nothing."""
    requested = str(request.path_params["id"])
    if not _MESSAGE_ID.fullmatch(requested):
        raise BadId(requested)
    return mailbox.get(int(requested))


def requested_id(request: Request) -> str:
    """The id as the path gave it, for messages that repeat it."""
    return str(request.path_params["id"])


def is_same_origin(request: Request) -> bool:
    """Whether a browser form post comes from a catcher page, not from another site.

    A page on another site can post a form to 127.0.0.1 (its `Host` is then
    ours), so the catcher's delete buttons need the browser's word for where
    the form was: `Origin`, or, failing that, `Sec-Fetch-Site`. Scripts
    delete with `DELETE /api/messages`, which browsers never send across
    sites without the catcher's consent (it gives none).
    """
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    if origin is not None:
        _, separator, netloc = origin.partition("://")
        return bool(separator) and netloc.lower() == host.lower()
    return request.headers.get("sec-fetch-site") in ("same-origin", "none")
