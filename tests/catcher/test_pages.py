"""The catcher's pages without a browser: the list, a message's four views, the delete buttons."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from service.catcher import Mailbox, build_catcher_app
from service.catcher.pages import PAGE_SIZE
from service.catcher.responses import CAUGHT_HTML_POLICY
from tests.catcher import mail

pytestmark = pytest.mark.anyio

ARRIVED = datetime(2026, 11, 2, 10, 0, 5, tzinfo=UTC)
VENDOR_NOTICE = (
    b'From: "Acme Software via maildesk" <support@desk.test>\r\n'
    b"To: Jane Doe <jane@example.test>\r\nCc: boss@example.test\r\n"
    b"Reply-To: reply+7-c-abc@desk.test\r\nSubject: [#7] Your refund\r\n"
    b"Date: Mon, 02 Nov 2026 11:00:00 +0100\r\n\r\nHello Jane\r\n"
)


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox(clock=lambda: ARRIVED)


@pytest.fixture
async def client(mailbox: Mailbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_catcher_app(mailbox))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        yield http


def same_origin() -> dict[str, str]:
    return {"Origin": "http://localhost"}


class TestList:
    async def test_rows_name_the_sender_its_address_the_reply_to_and_the_time_in_utc(
        self, mailbox: Mailbox, client: httpx.AsyncClient
    ) -> None:
        mailbox.add(VENDOR_NOTICE, "bounces@desk.test", ["jane@example.test"])

        page = (await client.get("/mail")).text

        assert "<strong>Acme Software via maildesk</strong>" in page
        assert "&lt;support@desk.test&gt;" in page
        assert "Reply-To reply+7-c-abc@desk.test" in page
        assert '<time datetime="2026-11-02T10:00:05+00:00">2026-11-02 10:00:05 UTC</time>' in page
        assert "Newest first" in page

    async def test_the_list_is_newest_first_and_pages_to_older_mail(
        self, mailbox: Mailbox, client: httpx.AsyncClient
    ) -> None:
        for n in range(1, PAGE_SIZE + 6):
            mailbox.add(f"Subject: message {n}\r\n\r\n".encode(), "", ["a@example.test"])

        first = (await client.get("/mail")).text
        shown = [int(n) for n in re.findall(r'href="/mail/(\d+)"', first)]
        older = re.search(r'href="/mail\?before=(\d+)"', first)

        assert shown == list(range(PAGE_SIZE + 5, 5, -1))
        assert older is not None and int(older.group(1)) == 6
        second = (await client.get(f"/mail?before={older.group(1)}")).text
        assert [int(n) for n in re.findall(r'href="/mail/(\d+)"', second)] == [5, 4, 3, 2, 1]
        assert "Newest messages" in second
        assert "/mail/live.js" not in second  # an older page stays as it is

    async def test_search_keeps_the_query_in_the_form_and_in_the_live_url(
        self, mailbox: Mailbox, client: httpx.AsyncClient
    ) -> None:
        mailbox.add(VENDOR_NOTICE, "", ["jane@example.test"])
        mailbox.add(b"Subject: other\r\n\r\n", "", ["x@example.test"])

        page = (await client.get("/mail", params={"q": 'from:acme "refund"'})).text

        assert 'value="from:acme &#34;refund&#34;"' in page
        assert 'data-live="/mail/live?q=from%3Aacme+%22refund%22"' in page
        assert "1 of 2 kept messages match" in page
        assert 'href="/mail/1"' in page and 'href="/mail/2"' not in page

    async def test_a_search_that_finds_nothing_says_so(
        self, mailbox: Mailbox, client: httpx.AsyncClient
    ) -> None:
        mailbox.add(VENDOR_NOTICE, "", ["jane@example.test"])

        page = (await client.get("/mail", params={"q": "globex"})).text

        assert "No kept message matches <q>globex</q>." in page

    @pytest.mark.parametrize("before", ["x", "-1", "0", "١", "9" * 40])
    async def test_an_odd_before_shows_the_newest_page(
        self, client: httpx.AsyncClient, before: str
    ) -> None:
        assert (await client.get("/mail", params={"before": before})).status_code == 200


class TestMessage:
    async def test_the_summary_names_from_reply_to_to_cc_and_one_date_format(
        self, mailbox: Mailbox, client: httpx.AsyncClient
    ) -> None:
        mailbox.add(VENDOR_NOTICE, "bounces@desk.test", ["jane@example.test", "bcc@x.test"])

        page = (await client.get("/mail/1")).text

        assert "<strong>Acme Software via maildesk</strong> &lt;support@desk.test&gt;" in page
        assert "<dt>Reply-To</dt><dd>reply+7-c-abc@desk.test</dd>" in page
        assert "<dt>To</dt><dd>Jane Doe &lt;jane@example.test&gt;</dd>" in page
        assert "<dt>Cc</dt><dd>boss@example.test</dd>" in page
        assert "<dt>Delivered to</dt><dd>jane@example.test, bcc@x.test</dd>" in page
        assert ">2026-11-02 10:00:00 UTC</time>" in page  # the Date header, 11:00 +0100
        assert ">2026-11-02 10:00:05 UTC</time>" in page  # when it arrived

    async def test_a_message_without_html_opens_on_its_text(
        self, mailbox: Mailbox, client: httpx.AsyncClient
    ) -> None:
        mailbox.add(VENDOR_NOTICE, "", ["jane@example.test"])

        page = (await client.get("/mail/1")).text

        assert "<span>HTML: none</span>" in page
        assert '<a href="/mail/1/text" aria-current="page">Text</a>' in page
        assert "<pre>Hello Jane\n</pre>" in page
        assert (await client.get("/mail/1/html")).status_code == 404

    async def test_each_view_is_its_own_url_and_marks_itself_current(
        self, mailbox: Mailbox, client: httpx.AsyncClient
    ) -> None:
        mailbox.add(mail.refund_notice(), "", [mail.RECIPIENT])

        views = {
            "/mail/1": ('<a href="/mail/1" aria-current="page">HTML</a>', 'src="/mail/1/html"'),
            "/mail/1/text": ('href="/mail/1/text" aria-current="page"', "unterwegs. ✓\n</pre>"),
            "/mail/1/source": (
                'href="/mail/1/source" aria-current="page"',
                "Message-ID: &lt;refund-1@acme.test&gt;",
            ),
            "/mail/1/headers": (
                'href="/mail/1/headers" aria-current="page"',
                '<th scope="row">Message-ID</th>',
            ),
        }
        for path, expected in views.items():
            page = (await client.get(path)).text
            for fragment in expected:
                assert fragment in page, (path, fragment)
            assert page.count('aria-current="page"') == 1, path

    async def test_the_html_on_its_own_runs_no_script_and_loads_nothing(
        self, mailbox: Mailbox, client: httpx.AsyncClient
    ) -> None:
        mailbox.add(mail.hostile_message(), "", [mail.RECIPIENT])

        response = await client.get("/mail/1/html")

        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["content-security-policy"] == CAUGHT_HTML_POLICY
        assert CAUGHT_HTML_POLICY.startswith("sandbox; default-src 'none';")
        assert response.headers["cache-control"] == "no-store"

    @pytest.mark.parametrize("view", ["", "/text", "/source", "/headers", "/html"])
    async def test_every_view_answers_a_bad_id_400_and_an_unknown_one_404(
        self, client: httpx.AsyncClient, view: str
    ) -> None:
        assert (await client.get(f"/mail/abc{view}")).status_code == 400
        missing = await client.get(f"/mail/42{view}")
        assert missing.status_code == 404 and "No caught message 42" in missing.text


class TestDeleteButtons:
    async def test_delete_one_from_its_page_goes_back_to_the_list(
        self, mailbox: Mailbox, client: httpx.AsyncClient
    ) -> None:
        mailbox.add(VENDOR_NOTICE, "", ["jane@example.test"])
        mailbox.add(VENDOR_NOTICE, "", ["jane@example.test"])

        response = await client.post("/mail/1/delete", headers=same_origin())

        assert response.status_code == 303 and response.headers["location"] == "/mail"
        assert [message.id for message in mailbox.messages()] == [2]

    async def test_delete_all_from_the_list(
        self, mailbox: Mailbox, client: httpx.AsyncClient
    ) -> None:
        mailbox.add(VENDOR_NOTICE, "", ["jane@example.test"])

        response = await client.post("/mail/delete", headers={"Sec-Fetch-Site": "same-origin"})

        assert response.status_code == 303
        assert len(mailbox) == 0

    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Origin": "http://evil.test"},
            {"Origin": "null"},
            {"Origin": "http://localhost:1"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
        ],
    )
    async def test_a_form_posted_from_another_site_deletes_nothing(
        self, mailbox: Mailbox, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        mailbox.add(VENDOR_NOTICE, "", ["jane@example.test"])

        for path in ("/mail/1/delete", "/mail/delete"):
            response = await client.post(path, headers=headers)
            assert response.status_code == 403, (path, headers)
            assert "Nothing was deleted" in response.text
        assert len(mailbox) == 1

    async def test_a_get_deletes_nothing(self, mailbox: Mailbox, client: httpx.AsyncClient) -> None:
        mailbox.add(VENDOR_NOTICE, "", ["jane@example.test"])

        for path in ("/mail/1/delete", "/mail/delete"):
            assert (await client.get(path, headers=same_origin())).status_code in (400, 405)
        assert len(mailbox) == 1
