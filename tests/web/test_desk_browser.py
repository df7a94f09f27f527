"""The desk and the console in a real browser (issue #17): Debian's chromium with axe-core.

A vendor signs in by the emailed link, filters the ticket list, finds an
order and opens a refund on it, changes a setting; the operator signs in
with the admin token and marks a vendor from an escalation. axe-core finds
no serious or critical violation on any of those pages; screenshots at
desktop and phone width go to `test-artifacts/`.

Skipped, with the reason, without chromium or the playwright package (a
failure under CI), like `test_browser.py`.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN, Served, text_of
from tests.web.desk_support import SIGNIN_LINK
from tests.web.support import JANE, open_by_email, page_link, post_form
from tests.web.test_browser import ARTIFACTS, CHROMIUM_ARGS, _serious, chromium  # noqa: F401

pytestmark = pytest.mark.anyio


def _need_axe() -> None:
    if importlib.util.find_spec("axe_playwright_python") is None:
        reason = "the axe test needs the axe-playwright-python package (pip install -e '.[test]')"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


async def _escalation(served: Served) -> int:
    number = await open_by_email(served, JANE, "refund", "Refund Q7K2M9XA", "Not for me.")
    vendor_page = await page_link(served, "help@acme.test", number)
    await post_form(served.http, vendor_page, f"{vendor_page}/action", {"action": "close"})
    customer_page = await page_link(served, JANE, number)
    await post_form(
        served.http, customer_page, f"{customer_page}/action", {"action": "escalate", "text": "No."}
    )
    return number


async def test_a_vendors_day_and_the_operators_review_in_a_real_browser(
    served: Served,
    chromium: Path,  # noqa: F811
) -> None:
    _need_axe()
    from axe_playwright_python.async_playwright import Axe
    from playwright.async_api import async_playwright

    escalated = await _escalation(served)
    await open_by_email(served, "bob@example.test", "support", "MUG2B0BX", "Dishwasher?")
    base = str(served.http.base_url).rstrip("/")
    ARTIFACTS.mkdir(exist_ok=True)
    found: list[tuple[str, str, str]] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        try:
            axe = Axe()
            page = await browser.new_page(viewport={"width": 1280, "height": 900})

            async def check(where: str) -> None:
                found.extend(await _serious(axe, page, where))

            # Sign in by link.
            await page.goto(f"{base}/desk")
            await check("/desk (sign in)")
            await page.fill("#email", "owner@acme.test")
            async with page.expect_navigation():
                await page.click("button:has-text('Email me a sign-in link')")
            assert "Check your email" in await page.content()
            message = await served.latest_to("owner@acme.test", "Sign in")
            link = SIGNIN_LINK.search(text_of(message))
            assert link
            await page.goto(base + link.group(1))
            await check("/desk/signin/<token>")
            async with page.expect_navigation():
                await page.click("button:has-text('Sign in')")
            assert await page.locator("h1").inner_text() == "Acme Software: today"
            await check("/desk (dashboard)")
            await page.keyboard.press("Tab")  # the first stop skips the navigation
            assert await page.evaluate("document.activeElement.textContent") == (
                "Skip to the content"
            )

            # The ticket list and a filter.
            await page.click("nav.desk >> text=Tickets")
            await page.wait_for_url(f"{base}/desk/tickets")
            await check("/desk/tickets")
            await page.select_option("#type", "support")
            async with page.expect_navigation():
                await page.click("button:has-text('Show')")
            rows = page.locator("table.list tbody tr")
            assert await rows.count() == 1
            assert "MUG2B0BX" in await rows.first.inner_text()
            await page.screenshot(path=ARTIFACTS / "desk-tickets-desktop.png", full_page=True)
            async with page.expect_navigation():
                await page.click("table.list tbody tr a:has-text('support')")
            await check("/desk/tickets/<n>")

            # An order, and a refund opened on it.
            await page.click("nav.desk >> text=Orders")
            await page.fill("#q", "B00K4JNE")
            async with page.expect_navigation():
                await page.click("button:has-text('Find')")
            await check("/desk/orders?q=")
            async with page.expect_navigation():
                await page.click("table.list a:has-text('B00K4JNE')")
            await check("/desk/orders/<reference>")
            await page.fill("#text", "Refunded from the desk.")
            async with page.expect_navigation():
                await page.click("button:has-text('Open a refund request')")
            assert "is open" in await page.locator(".flash.done").inner_text()
            assert "Refunded from the desk." in await page.content()

            # Settings.
            await page.click("nav.desk >> text=Settings")
            await page.wait_for_url(f"{base}/desk/settings")
            await check("/desk/settings")
            await page.select_option("#timezone", "Europe/Paris")
            async with page.expect_navigation():
                await page.click("button:has-text('Save settings')")
            assert await page.locator(".flash.done").inner_text() == "Your settings are saved."
            await page.screenshot(path=ARTIFACTS / "desk-settings-desktop.png", full_page=True)

            phone = await browser.new_page(
                viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
            )
            await phone.context.add_cookies(await page.context.cookies())
            await phone.goto(f"{base}/desk/tickets?status=all")
            await phone.screenshot(path=ARTIFACTS / "desk-tickets-phone.png", full_page=True)
            width = await phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, "the page scrolls sideways at phone width"

            async with page.expect_navigation():
                await page.click("button:has-text('Sign out')")
            assert "You are signed out" in await page.content()

            # The operator reviews the escalation.
            operator = await (await browser.new_context()).new_page()
            page = operator
            await page.goto(f"{base}/console")
            await check("/console (sign in)")
            await page.fill("#token", ADMIN)
            async with page.expect_navigation():
                await page.click("button:has-text('Sign in with the token')")
            await check("/console (vendors)")
            await page.click("nav.desk >> text=Escalations")
            await page.wait_for_url(f"{base}/console/escalations")
            assert f"#{escalated}" in await page.content()
            await check("/console/escalations")
            async with page.expect_navigation():
                await page.click("button:has-text('Mark Acme Software as abusing')")
            assert "is marked as abusing" in await page.locator(".flash.done").inner_text()
            for path in (
                "/console/tickets",
                "/console/outbox",
                "/console/inbound",
                "/console/bouncing",
            ):
                await page.goto(base + path)
                await check(path)
            await page.goto(f"{base}/console/tickets/{escalated}")
            await check("/console/tickets/<n>")
            await page.goto(f"{base}/console/vendors/acme")
            await check("/console/vendors/acme")
            await page.screenshot(path=ARTIFACTS / "console-vendor-desktop.png", full_page=True)
        finally:
            await browser.close()
    assert found == [], "\n".join(map(str, found))
    assert (await served.api("GET", "/api/v1/vendors/acme")).json()["abusing"] is True
