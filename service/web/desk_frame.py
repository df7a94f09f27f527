"""What every page of the desk and the console shares: who may see it, and the frame around it.

`vendor_viewer` and `operator_viewer` answer a page with the signed-in
person, or with where to go instead: the sign-in page for a browser that is
not signed in, and a plain 404 for a signed-in person of the other kind
(the console does not exist for a vendor). The frame (`desk_nav`,
`console_nav`) is the header's navigation and the sign-out button.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from service.domain.records import Vendor
from service.usecases.signin import ADMIN_TOKEN_SIGNIN, sign_out
from service.web.rendering import PageRenderer, is_secure, runtime_of
from service.web.sessions import clear_cookie
from service.web.signed_in import Viewer, signed_in

DESK_LINKS = (
    ("/desk", "Dashboard"),
    ("/desk/tickets", "Tickets"),
    ("/desk/orders", "Orders"),
    ("/desk/settings", "Settings"),
)
CONSOLE_LINKS = (
    ("/console", "Vendors"),
    ("/console/tickets", "Tickets"),
    ("/console/subscriptions", "Subscriptions"),
    ("/console/escalations", "Escalations"),
    ("/console/outbox", "Outbox"),
    ("/console/inbound", "Kept mail"),
    ("/console/bouncing", "Bouncing"),
)


async def vendor_viewer(request: Request, pages: PageRenderer) -> tuple[Viewer, Vendor] | Response:
    """The signed-in vendor's person and vendor, or the answer to give instead."""
    viewer = await signed_in(request)
    if viewer is None:
        return RedirectResponse(signin_path(request, "/desk"), status_code=303)
    if viewer.vendor_id is None:
        return pages.not_found(request)
    runtime = runtime_of(request)
    async with runtime.store.reading() as q:
        vendor = await q.vendors.get(viewer.vendor_id)
    if vendor is None or not may_sign_in(vendor, viewer.email):
        # The vendor dropped this address (an agent who left) since it signed in.
        await sign_out(runtime.desk, viewer.session_id)
        response = RedirectResponse("/desk", status_code=303)
        clear_cookie(response, secure=is_secure(runtime))
        return response
    return viewer, vendor


_NEXT = re.compile(r"/(desk|console)(/[A-Za-z0-9_-]+)*/?(\?[A-Za-z0-9_.=&%+-]*)?")


def safe_next(value: str, place: str | None = None) -> str:
    """`value` when it is a page of the desk or console (of `place`, if given), else ""."""
    if len(value) > 500 or not _NEXT.fullmatch(value):
        return ""
    if place is not None and not value.startswith(f"/{place}"):
        return ""
    return value


def signin_path(request: Request, place: str) -> str:
    """The sign-in page, asked to come back here afterwards (pages that are read only)."""
    if request.method != "GET":
        return place
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    then = safe_next(here)
    return f"{place}?next={quote(then, safe='/')}" if then and then != place else place


def may_sign_in(vendor: Vendor, email: str) -> bool:
    """Whether `email` is still one of the addresses that sign in for `vendor`."""
    address = email.lower()
    return address == vendor.account_email.lower() or address in (
        a.lower() for a in vendor.agent_emails
    )


async def operator_viewer(request: Request, pages: PageRenderer) -> Viewer | Response:
    viewer = await signed_in(request)
    if viewer is None:
        return RedirectResponse(signin_path(request, "/console"), status_code=303)
    if not viewer.is_operator:
        return pages.not_found(request)
    runtime = runtime_of(request)
    if viewer.email != ADMIN_TOKEN_SIGNIN and viewer.email not in runtime.settings.operator_emails:
        # No longer an operator address (MAILDESK_OPERATOR_EMAILS changed): signed out.
        await sign_out(runtime.desk, viewer.session_id)
        response = RedirectResponse("/console", status_code=303)
        clear_cookie(response, secure=is_secure(runtime))
        return response
    return viewer


def desk_nav(viewer: Viewer, vendor: Vendor, current: str) -> Mapping[str, Any]:
    return {
        "label": "Desk",
        "title": f"{vendor.name} · desk",
        "home": "/desk",
        "links": [(href, label, href == current) for href, label in DESK_LINKS],
        "who": viewer.email,
    }


def console_nav(viewer: Viewer, current: str) -> Mapping[str, Any]:
    return {
        "label": "Console",
        "title": "maildesk console",
        "home": "/console",
        "links": [(href, label, href == current) for href, label in CONSOLE_LINKS],
        "who": viewer.email,
    }
