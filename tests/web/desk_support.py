"""Helpers for the desk and console tests: sign in by the emailed link as a browser would.

Each signed-in person gets an httpx client of their own (a browser of their
own: its own cookies), on the running `serve`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from tests.e2e.conftest import ADMIN, Served, text_of
from tests.web.support import post_form

SIGNIN_LINK = re.compile(r"https?://[^/\s]+(/desk/signin/[A-Za-z0-9_-]{43})")


@asynccontextmanager
async def browser(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of its own on the served web port."""
    async with httpx.AsyncClient(base_url=str(served.http.base_url)) as client:
        yield client


async def ask_for_link(served: Served, client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await post_form(client, "/desk", "/desk/signin", {"email": email, "place": "desk"})


async def emailed_link(served: Served, email: str, subject: str = "Sign in") -> str:
    """The path of the newest sign-in link mailed to `email`."""
    message = await served.latest_to(email, subject)
    match = SIGNIN_LINK.search(text_of(message))
    assert match, f"no sign-in link in the mail to {email}"
    return match.group(1)


async def redeem(client: httpx.AsyncClient, link: str) -> httpx.Response:
    """Open the link and press its button, as a person does."""
    return await post_form(client, link, link, {})


async def sign_in(served: Served, client: httpx.AsyncClient, email: str) -> None:
    """Ask for a link for `email`, read it from the catcher, spend it: `client` is signed in."""
    response = await ask_for_link(served, client, email)
    assert response.status_code == 200, response.text
    link = await emailed_link(served, email)
    signed = await redeem(client, link)
    assert signed.status_code == 303, signed.text


async def sign_in_as_operator(client: httpx.AsyncClient) -> None:
    response = await post_form(client, "/console", "/console/signin", {"token": ADMIN})
    assert response.status_code == 303 and response.headers["location"] == "/console"
