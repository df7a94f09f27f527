"""The catcher in a real browser: Debian's chromium, headless, driven by Playwright.

A developer searches the list, reads a message in its four views, watches
mail arrive without reloading, deletes mail, reads the pages on a phone and
without JavaScript; axe-core (bundled by the `axe-playwright-python`
package, no download at test time) finds no serious or critical
accessibility violation on any catcher page, light or dark. Screenshots at
desktop and phone sizes go to `test-artifacts/catcher-*.png` for people to
look at.

Skipped, with the reason, when /usr/bin/chromium, playwright or
axe-playwright-python is missing; with `CI` set in the environment, missing
any of them is a failure.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiosmtplib
import anyio
import httpx
import pytest

from service.catcher import CatcherAddresses, Mailbox, run_catcher
from tests.catcher import mail

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
PHONE: dict[str, Any] = {
    "viewport": {"width": 375, "height": 812},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
SERIOUS = ("serious", "critical")
WAIT_MS = 5000


def vendor_notice(vendor: str, subject: str, text: str, *, to: str = mail.RECIPIENT) -> bytes:
    """A notification as maildesk sends them: every vendor's from the one support address."""
    return (
        f'From: "{vendor} via maildesk" <support@desk.test>\r\nTo: {to}\r\n'
        f"Reply-To: reply+{vendor.lower()}-7-c@desk.test\r\nSubject: {subject}\r\n"
        f"Date: Mon, 02 Nov 2026 10:00:00 +0000\r\n\r\n{text}\r\n"
    ).encode()


@dataclass
class LiveCatcher:
    """A stand-alone catcher on real sockets, as `maildesk catcher` runs it."""

    addresses: CatcherAddresses
    mailbox: Mailbox

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.addresses.http_port}"

    async def send(self, raw: bytes, recipient: str = mail.RECIPIENT) -> None:
        await aiosmtplib.send(
            raw,
            sender="support@desk.test",
            recipients=[recipient],
            hostname=self.addresses.smtp_host,
            port=self.addresses.smtp_port,
            timeout=5,
        )

    async def api(self, method: str, path: str, **params: str) -> Any:
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as http:
            return (await http.request(method, path, params=params)).json()


@pytest.fixture
def chromium() -> Path:
    """Debian's chromium, or a skip that says what is missing (a failure under CI)."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    for module, package in (("playwright", "playwright>=1.45"), ("axe_playwright_python", "")):
        if importlib.util.find_spec(module) is None:
            missing.append(f"the {package or module.replace('_', '-')} package")
    if missing:
        reason = "the catcher's browser tests need " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so they may not be skipped")
        pytest.skip(reason + " (pip install -e '.[test]')")
    return CHROMIUM


@pytest.fixture
async def catcher(capsys: pytest.CaptureFixture[str]) -> AsyncIterator[LiveCatcher]:
    mailbox = Mailbox()
    async with anyio.create_task_group() as group:
        serve = partial(run_catcher, "127.0.0.1", 0, "127.0.0.1", 0, mailbox=mailbox)
        addresses: CatcherAddresses = await group.start(serve)
        capsys.readouterr()
        yield LiveCatcher(addresses, mailbox)
        group.cancel_scope.cancel()


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


async def subjects(page: Any) -> list[str]:
    texts: list[str] = await page.locator("ol.messages a.subject").all_inner_texts()
    return texts


async def no_sideways_scroll(page: Any) -> bool:
    fits: bool = await page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    return fits


async def test_search_narrows_the_list_as_the_api_does_and_senders_read_apart(
    catcher: LiveCatcher, browser: Any
) -> None:
    await catcher.send(vendor_notice("Acme", "Ticket #7 opened", "Your order Q7K2M9XA"))
    await catcher.send(vendor_notice("Globex", "Ticket #8 closed", "Goodbye"))
    await catcher.send(mail.refund_notice())

    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.goto(f"{catcher.url}/mail")
    senders = await page.locator("ol.messages .sender").all_inner_texts()
    assert senders[1:] == [
        "Globex via maildesk <support@desk.test>",
        "Acme via maildesk <support@desk.test>",
    ]
    assert "Reply-To reply+globex-7-c@desk.test" in await page.locator("ol.messages").inner_text()
    await page.screenshot(path=ARTIFACTS / "catcher-list-desktop.png", full_page=True)

    await page.fill("#q", "ticket from:globex")
    async with page.expect_navigation():
        await page.press("#q", "Enter")
    assert await subjects(page) == ["Ticket #8 closed"]
    assert await page.input_value("#q") == "ticket from:globex"

    await page.fill("#q", "q7k2m9xa")
    async with page.expect_navigation():
        await page.click("form.search button")
    api = await catcher.api("GET", "/api/messages", q="q7k2m9xa")
    assert [m["subject"] for m in api] == ["Ticket #7 opened", mail.SUBJECT]  # oldest first
    assert await subjects(page) == [mail.SUBJECT, "Ticket #7 opened"]  # newest first
    assert "2 of 3 kept messages match" in await page.locator("#list-summary").inner_text()


async def test_a_message_reads_in_four_views_and_its_html_stays_inert(
    catcher: LiveCatcher, browser: Any
) -> None:
    await catcher.send(mail.refund_notice())
    await catcher.send(mail.hostile_message())
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    reached: list[str] = []
    refused: list[tuple[str, str]] = []
    dialogs: list[str] = []

    async def reach(route: Any) -> None:
        reached.append(route.request.url)
        await route.abort()

    await page.context.route("https://tracker.test/**", reach)  # what passes the page's CSP
    page.on("requestfailed", lambda request: refused.append((request.url, request.failure)))
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))

    await page.goto(f"{catcher.url}/mail")
    async with page.expect_navigation():
        await page.click(f"a.subject:has-text('{mail.SUBJECT}')")
    assert page.url == f"{catcher.url}/mail/1"
    frame = page.frame_locator("iframe.html")
    assert await frame.locator("b").inner_text(timeout=WAIT_MS) == "Jane"
    framed = await page.locator("iframe.html").bounding_box()
    view = await page.locator("section.view").bounding_box()
    assert framed["width"] >= view["width"] - 40  # full width of the view
    assert framed["height"] >= 24 * 15
    await page.screenshot(path=ARTIFACTS / "catcher-message-desktop.png", full_page=True)

    for tab, path, expected in [
        ("Text", "/mail/1/text", "Ihre Rückerstattung ist unterwegs. ✓"),
        ("Source", "/mail/1/source", "Message-ID: <refund-1@acme.test>"),
        ("Headers", "/mail/1/headers", "Message-ID"),
    ]:
        async with page.expect_navigation():
            await page.click(f"nav.views a:has-text('{tab}')")
        assert page.url == catcher.url + path
        assert await page.locator("nav.views [aria-current=page]").inner_text() == tab
        assert expected in await page.locator("section.view").inner_text()

    await page.click("nav.views a:has-text('HTML')")
    await page.wait_for_url(f"{catcher.url}/mail/1")
    # Opened as a person opens a link in a new tab: Playwright loses track of a page that a
    # click turns into a sandboxed document, though the browser shows it.
    alone = page.get_by_role("link", name="Open the HTML on its own")
    assert await alone.get_attribute("href") == "/mail/1/html"
    await page.goto(f"{catcher.url}/mail/1/html")
    assert "Hallo Jane" in await page.locator("body").inner_text()

    await page.goto(f"{catcher.url}/mail/2")
    assert await page.frame_locator("iframe.html").locator("p").first.inner_text() == "html"
    await page.goto(f"{catcher.url}/mail/2/html")
    await page.wait_for_timeout(300)
    assert dialogs == [], "a caught message's script ran"
    assert reached == [], "a caught message's remote image was fetched"
    assert ("https://tracker.test/p.gif", "csp") in refused


async def test_focus_is_always_visible(catcher: LiveCatcher, browser: Any) -> None:
    await catcher.send(mail.refund_notice())
    page = await browser.new_page()
    await page.goto(f"{catcher.url}/mail/1")

    for _ in range(6):
        await page.keyboard.press("Tab")
        outline = await page.evaluate(
            "(() => { const s = getComputedStyle(document.activeElement);"
            " return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()"
        )
        assert outline[0] != "none" and outline[1] >= 2, outline


async def test_new_mail_appears_in_the_open_list_without_a_reload(
    catcher: LiveCatcher, browser: Any
) -> None:
    page = await browser.new_page()
    await page.goto(f"{catcher.url}/mail")
    assert "No mail caught yet" in await page.locator("#mail-list").inner_text()
    await page.locator("#live-note", has_text="shows new mail as it arrives").wait_for()
    await page.evaluate("window.stillTheSamePage = true")

    await catcher.send(vendor_notice("Acme", "Arrived while you looked", "hello"))
    await page.locator("a.subject", has_text="Arrived while you looked").wait_for(timeout=WAIT_MS)
    await catcher.send(vendor_notice("Globex", "And another one", "hello"))
    await page.locator("a.subject", has_text="And another one").wait_for(timeout=WAIT_MS)

    assert await subjects(page) == ["And another one", "Arrived while you looked"]
    assert await page.evaluate("window.stillTheSamePage") is True
    assert await page.title() == "Caught mail (2) · maildesk catcher"
    assert await page.locator("#live-status").inner_text() == "New mail arrived."

    await catcher.api("DELETE", "/api/messages/1")
    await page.locator("a.subject", has_text="Arrived while you looked").wait_for(
        state="detached", timeout=WAIT_MS
    )
    await catcher.api("DELETE", "/api/messages")
    await page.locator("#mail-list", has_text="No mail caught yet").wait_for(timeout=WAIT_MS)
    assert await page.evaluate("window.stillTheSamePage") is True


async def test_a_searched_list_shows_only_matching_new_mail(
    catcher: LiveCatcher, browser: Any
) -> None:
    page = await browser.new_page()
    await page.goto(f"{catcher.url}/mail?q=from%3Aglobex")
    await page.locator("#live-note", has_text="shows new mail as it arrives").wait_for()

    await catcher.send(vendor_notice("Acme", "Not for this search", "x"))
    await catcher.send(vendor_notice("Globex", "For this search", "x"))
    await page.locator("a.subject", has_text="For this search").wait_for(timeout=WAIT_MS)

    assert await subjects(page) == ["For this search"]


async def test_the_pages_work_without_javascript(catcher: LiveCatcher, browser: Any) -> None:
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await catcher.send(vendor_notice("Acme", "First", "x"))
    await page.goto(f"{catcher.url}/mail")
    assert await page.locator("#live-note").inner_text() == "Reload the page to see new mail."

    await catcher.send(vendor_notice("Globex", "Second", "x"))
    await page.reload()
    assert await subjects(page) == ["Second", "First"]

    await page.fill("#q", "globex")
    async with page.expect_navigation():
        await page.press("#q", "Enter")
    assert await subjects(page) == ["Second"]

    async with page.expect_navigation():
        await page.click("a.subject")
    async with page.expect_navigation():
        await page.click("nav.views a:has-text('Headers')")
    assert "Reply-To" in await page.locator("table.headers").inner_text()
    async with page.expect_navigation():
        await page.click("button:has-text('Delete this message')")
    assert page.url == f"{catcher.url}/mail"
    assert await subjects(page) == ["First"]

    await page.click("summary:has-text('Delete every message')")
    async with page.expect_navigation():
        await page.click("button:has-text('Delete all 1 kept message')")
    assert "No mail caught yet" in await page.locator("#mail-list").inner_text()
    assert len(catcher.mailbox) == 0
    await context.close()


async def test_at_phone_width_no_page_scrolls_sideways(catcher: LiveCatcher, browser: Any) -> None:
    long_address = "a-very-long-local-part-that-never-breaks-" * 2 + "@example.test"
    await catcher.send(
        vendor_notice(
            "Acme Software International Holdings", "Word" * 40, "x" * 400, to=long_address
        ),
        long_address,
    )
    await catcher.send(mail.refund_notice())
    page = await browser.new_page(**PHONE)

    for name, path in [
        ("list", "/mail"),
        ("search", "/mail?q=" + "nothing" * 20),
        ("message", "/mail/2"),
        ("message-text", "/mail/1/text"),
        ("message-source", "/mail/1/source"),
        ("message-headers", "/mail/1/headers"),
        ("not-found", "/mail/99"),
    ]:
        await page.goto(catcher.url + path)
        await page.screenshot(path=ARTIFACTS / f"catcher-{name}-phone.png", full_page=True)
        assert await no_sideways_scroll(page), f"{path} scrolls sideways at 375 px"
    await page.goto(f"{catcher.url}/mail/2")
    framed = await page.locator("iframe.html").bounding_box()
    assert 300 <= framed["width"] <= 375


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_axe_finds_no_serious_or_critical_violation_on_any_page(
    catcher: LiveCatcher, browser: Any, scheme: str
) -> None:
    from axe_playwright_python.async_playwright import Axe

    await catcher.send(vendor_notice("Acme", "Ticket #7 opened", "Your order"))
    await catcher.send(mail.refund_notice())
    axe = Axe()
    page = await browser.new_page(color_scheme=scheme)
    paths = [
        "/mail",
        "/mail?q=nothing-matches",
        "/mail/2",
        "/mail/1/text",
        "/mail/2/source",
        "/mail/2/headers",
        "/mail/1/html",  # no HTML part: a 404 page
        "/mail/99",
        "/mail/not-an-id",
    ]
    found = []
    for path in paths:
        await page.goto(catcher.url + path)
        # The framed HTML is the caught mail, not a catcher page: axe checks the page around it.
        results = await axe.run(page, options={"resultTypes": ["violations"], "iframes": False})
        serious = [v for v in results.response["violations"] if v["impact"] in SERIOUS]
        found += [(path, v["id"], v["impact"], [n["target"] for n in v["nodes"]]) for v in serious]

    assert found == [], "\n".join(map(str, found))
    # And axe does look: a picture without words on the last page is reported.
    await page.evaluate("document.querySelector('main').append(document.createElement('img'))")
    results = await axe.run(page, options={"resultTypes": ["violations"], "iframes": False})
    assert "image-alt" in [v["id"] for v in results.response["violations"]]
