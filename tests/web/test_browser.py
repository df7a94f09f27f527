"""The pages in a real browser: Debian's chromium, headless, driven by Playwright.

The customer opens the ticket page from the link in a caught email, types a
reply, attaches a file and sends it with the page's own form (its CSRF cookie
and token, its redirect and one-time message, all as a browser handles them);
the vendor receives the reply by email. Screenshots of the ticket page and of
both self-service forms, at desktop and phone sizes, go to `test-artifacts/`
for people to look at.

Skipped, with the reason, when /usr/bin/chromium or the playwright package is
missing; with `CI` set in the environment, missing either is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import Served, text_of
from tests.web.support import ACME, JANE, open_by_email

pytestmark = pytest.mark.anyio

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_LINK = re.compile(r"https?://\S+/t/[1-9][0-9]*-c-[a-z2-7]{20}")


@pytest.fixture
def chromium() -> Path:
    """Debian's chromium, or a skip that says what is missing (a failure under CI)."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install 'playwright>=1.45')")
    if missing:
        reason = "the browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so it may not be skipped")
        pytest.skip(reason)
    return CHROMIUM


async def test_a_customer_replies_from_the_emailed_link_in_a_real_browser(
    served: Served, chromium: Path
) -> None:
    from playwright.async_api import FilePayload, async_playwright

    log: FilePayload = {"name": "log.txt", "mimeType": "text/plain", "buffer": b"error 42\n"}

    number = await open_by_email(
        served, JANE, "refund", "Refund Q7K2M9XA please", "It does not do what I hoped."
    )
    emailed = _LINK.search(text_of(await served.latest_to(JANE, f"[#{number}]")))
    assert emailed, "the notification has no ticket link"
    # The email links to the public base URL (desk.test); the same path on the served port.
    base = str(served.http.base_url).rstrip("/")
    ticket_url = base + urlsplit(emailed.group(0)).path
    await served.clear_mail()
    ARTIFACTS.mkdir(exist_ok=True)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await page.goto(ticket_url)
            assert await page.title() == f"Ticket #{number} · maildesk support"
            await page.fill("#text", "Typed in a real browser, with the log attached.")
            await page.set_input_files("#attachments", files=[log])
            async with page.expect_navigation():
                await page.click("button:has-text('Send reply')")
            assert urlsplit(page.url).path == urlsplit(ticket_url).path
            assert await page.locator(".flash.done").inner_text() == (
                "Your reply was added to the ticket and sent by email."
            )
            await page.locator("a:has-text('log.txt')").wait_for()
            await page.screenshot(path=ARTIFACTS / "ticket-desktop.png", full_page=True)

            phone = await browser.new_page(
                viewport={"width": 390, "height": 844},  # a common phone
                device_scale_factor=2,
                is_mobile=True,
                has_touch=True,
            )
            await _screenshot(phone, ticket_url, "ticket-phone.png")
            for form in ("lookup", "refund"):
                await _screenshot(page, f"{base}/{form}", f"{form}-desktop.png")
                await _screenshot(phone, f"{base}/{form}", f"{form}-phone.png")

            await phone.goto(f"{base}/lookup")
            await phone.fill("#email", JANE)
            await phone.fill("#reference", "Q7K2M9XA")
            async with phone.expect_navigation():
                await phone.click("button[type=submit]")
            assert "we have emailed the address on the order" in await phone.content()
            await phone.screenshot(path=ARTIFACTS / "lookup-done-phone.png", full_page=True)
        finally:
            await browser.close()

    reply = await served.latest_to(ACME, f"[#{number}]")
    assert "Typed in a real browser, with the log attached." in text_of(reply)
    assert "log.txt" in text_of(reply)
    assert [m.to[0][1] for m in await served.mail_to(JANE, "purchase")] == [JANE]
    for name in ("ticket-desktop", "ticket-phone", "lookup-phone", "refund-phone"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 0


async def _screenshot(page: Any, url: str, name: str) -> None:
    await page.goto(url)
    await page.screenshot(path=ARTIFACTS / name, full_page=True)


SERIOUS = ("serious", "critical")


async def test_axe_finds_no_serious_or_critical_violation_on_the_support_pages(
    served: Served, chromium: Path
) -> None:
    """Every page a customer or vendor reads: the forms (also refused), a ticket, errors."""
    if importlib.util.find_spec("axe_playwright_python") is None:
        reason = "the axe test needs the axe-playwright-python package (pip install -e '.[test]')"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from axe_playwright_python.async_playwright import Axe
    from playwright.async_api import async_playwright

    number = await open_by_email(served, JANE, "refund", "Refund Q7K2M9XA please", "Broken.")
    emailed = _LINK.search(text_of(await served.latest_to(JANE, f"[#{number}]")))
    assert emailed
    base = str(served.http.base_url).rstrip("/")
    pages = [
        "/",
        "/lookup",
        "/refund",
        urlsplit(emailed.group(0)).path,
        "/no/such/page",
        "/api/v1/docs",
        "/s/S1003-DemoS1003SelfService",  # a subscription's page, two items
        "/s/S1002-DemoS1002SelfService",  # a manual one, with "Renew now"
        (await served.order("Q7K2M9XA"))["links"]["purchase"].removeprefix("http://desk.test"),
    ]
    found = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = await browser.new_page()
            axe = Axe()
            for path in pages:
                await page.goto(base + path)
                found += await _serious(axe, page, path)
            await page.goto(base + "/refund")  # a refused form, with its error summary
            async with page.expect_navigation():
                await page.click("button[type=submit]")
            found += await _serious(axe, page, "/refund (refused)")
        finally:
            await browser.close()
    assert found == [], "\n".join(map(str, found))


async def _serious(axe: Any, page: Any, where: str) -> list[tuple[str, str, str]]:
    results = await axe.run(page, options={"resultTypes": ["violations"]})
    return [
        (where, v["id"], v["impact"])
        for v in results.response["violations"]
        if v["impact"] in SERIOUS
    ]


async def test_a_customer_turns_renewal_off_on_a_phone(served: Served, chromium: Path) -> None:
    """The subscription page on a narrow screen: nothing wider than the screen, buttons work."""
    from playwright.async_api import async_playwright

    base = str(served.http.base_url).rstrip("/")
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        try:
            phone = await browser.new_page(
                viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
            )
            await phone.goto(f"{base}/s/S1003-DemoS1003SelfService-2")
            assert urlsplit(phone.url).fragment == "item-2"
            wider = await phone.evaluate(
                "document.documentElement.scrollWidth > document.documentElement.clientWidth"
            )
            assert wider is False, "the subscription page scrolls sideways on a phone"
            async with phone.expect_navigation():
                await phone.click("#item-2 button[value=renew_off]")
            assert "Automatic renewal is off for item 2" in (
                await phone.locator(".flash.done").inner_text()
            )
            await phone.screenshot(path=ARTIFACTS / "subscription-phone.png", full_page=True)
        finally:
            await browser.close()
    assert await served.mail_to("heidi@example.test", "Automatic renewal turned off")
