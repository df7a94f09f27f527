"""Helpers for the web tests: open tickets by email, find links in mail, post forms like a browser.

Forms are posted with the CSRF token the page handed out, as a browser does:
the httpx client keeps the cookie between requests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

from tests.conftest import DOMAIN
from tests.e2e.conftest import Served, text_of

JANE = "jane@example.test"
BOB = "bob@example.test"
CAROL = "carol@example.test"
ERIN = "erin@example.test"
ACME = "help@acme.test"  # acme's support_email: where its notifications go
GLOBEX = "owner@globex.test"

_LINK = re.compile(r"https?://[^/\s]+(/t/[1-9][0-9]*-[cv]-[a-z2-7]{20})")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_BUTTON = re.compile(r'name="action"\s+value="([a-z-]+)"')


async def open_by_email(served: Served, sender: str, kind: str, subject: str, body: str) -> int:
    """Open a ticket by email to `<kind>@`; return its number."""
    before = {t["number"] for t in await served.tickets()}
    code, reply = await served.send(sender, f"{kind}@{DOMAIN}", subject, body)
    assert code == 250, reply
    (number,) = {t["number"] for t in await served.tickets()} - before
    return int(number)


async def page_link(served: Served, address: str, number: int) -> str:
    """The ticket page path in the newest notification about ticket `number` to `address`."""
    message = await served.latest_to(address, f"[#{number}]")
    match = _LINK.search(text_of(message))
    assert match, f"no ticket link in the mail to {address}"
    return match.group(1)


async def csrf_token(http: httpx.AsyncClient, page: str) -> str:
    response = await http.get(page)
    assert response.status_code == 200, response.text
    match = _CSRF.search(response.text)
    assert match, f"no CSRF token on {page}"
    return match.group(1)


async def post_form(
    http: httpx.AsyncClient,
    page: str,
    target: str,
    data: Mapping[str, str],
    files: Any = None,
) -> httpx.Response:
    """Post a form from `page` to `target` as a browser would: with the page's CSRF token."""
    token = await csrf_token(http, page)
    return await http.post(target, data={**data, "csrf_token": token}, files=files)


def buttons_on(html: str) -> list[str]:
    """The action buttons a ticket page shows, in order."""
    return _BUTTON.findall(html)
