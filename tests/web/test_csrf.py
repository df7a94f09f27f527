"""Every form refuses a post without the CSRF token that belongs to the browser's cookie.

A refused post is a 403 page and changes nothing: no ticket change, no email.
"""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import Served
from tests.web.support import ACME, JANE, csrf_token, open_by_email, page_link

pytestmark = pytest.mark.anyio


async def jane_page(served: Served) -> tuple[int, str]:
    number = await open_by_email(served, JANE, "refund", "Refund Q7K2M9XA", "Not for me.")
    page = await page_link(served, JANE, number)
    await page_link(served, ACME, number)  # both notifications delivered before clearing
    await served.clear_mail()
    return number, page


async def assert_forbidden_and_nothing_changed(
    served: Served, response: httpx.Response, number: int, before: dict[str, object]
) -> None:
    assert response.status_code == 403
    assert "nothing was changed" in response.text
    assert await served.ticket(number) == before
    assert await served.recipients() == []


async def test_a_post_without_a_token_is_refused_and_changes_nothing(served: Served) -> None:
    number, page = await jane_page(served)
    before = await served.ticket(number)
    await served.http.get(page)  # the browser holds a cookie, but the form has no token

    reply = await served.http.post(f"{page}/reply", data={"text": "forged"})
    await assert_forbidden_and_nothing_changed(served, reply, number, before)
    close = await served.http.post(f"{page}/action", data={"action": "close"})
    await assert_forbidden_and_nothing_changed(served, close, number, before)


async def test_a_wrong_token_is_refused_and_changes_nothing(served: Served) -> None:
    number, page = await jane_page(served)
    before = await served.ticket(number)
    token = await csrf_token(served.http, page)
    wrong = ("0" if token[0] != "0" else "1") + token[1:]

    response = await served.http.post(
        f"{page}/action", data={"action": "close", "csrf_token": wrong}
    )
    await assert_forbidden_and_nothing_changed(served, response, number, before)


async def test_a_token_without_its_cookie_is_refused(served: Served) -> None:
    """What a forging site can do: replay a token it saw, from a browser with another cookie."""
    number, page = await jane_page(served)
    before = await served.ticket(number)
    token = await csrf_token(served.http, page)
    async with httpx.AsyncClient(base_url=served.http.base_url) as other_browser:
        no_cookie = await other_browser.post(
            f"{page}/action", data={"action": "close", "csrf_token": token}
        )
        await assert_forbidden_and_nothing_changed(served, no_cookie, number, before)
        await other_browser.get(page)  # its own cookie: the stolen token still does not fit
        other_cookie = await other_browser.post(
            f"{page}/action", data={"action": "close", "csrf_token": token}
        )
        await assert_forbidden_and_nothing_changed(served, other_cookie, number, before)


@pytest.mark.parametrize("form", ["/lookup", "/refund"])
async def test_the_self_service_forms_refuse_a_post_without_a_token(
    served: Served, form: str
) -> None:
    await served.http.get(form)
    response = await served.http.post(
        form, data={"email": JANE, "reference": "Q7K2M9XA", "reason": "Duplicate order"}
    )
    assert response.status_code == 403
    assert await served.recipients() == []
    assert await served.tickets() == []


async def test_the_cookie_is_http_only_and_same_site(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.http.base_url) as browser:
        response = await browser.get("/lookup")
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("maildesk_csrf=")
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
