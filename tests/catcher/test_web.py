"""The catcher's pages and JSON API, fed by real SMTP deliveries."""

from __future__ import annotations

import aiosmtplib
import httpx
import pytest

from service.catcher import RunningCatcher
from tests.catcher import mail

pytestmark = pytest.mark.anyio


async def deliver(catcher: RunningCatcher, raw: bytes, recipient: str = mail.RECIPIENT) -> None:
    before = catcher.mailbox.received
    await aiosmtplib.send(
        raw,
        sender=mail.SENDER,
        recipients=[recipient],
        hostname=catcher.host,
        port=catcher.port,
        timeout=5,
    )
    await catcher.mailbox.wait_for(lambda m: m.id > before, timeout=2)


class TestApi:
    async def test_list_is_oldest_first_in_the_spec_shape(
        self, catcher: RunningCatcher, client: httpx.AsyncClient
    ) -> None:
        await deliver(catcher, mail.refund_notice())
        await deliver(catcher, b"Subject: second\r\n\r\nhi\r\n", "vendor@acme.test")

        response = await client.get("/api/messages")

        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        first, second = response.json()
        assert (first["id"], second["id"]) == (1, 2)
        assert first["from"] == mail.SENDER
        assert first["to"] == [mail.RECIPIENT]
        assert first["subject"] == mail.SUBJECT
        assert first["message_id"] == "<refund-1@acme.test>"
        assert first["date"] == "2026-11-02T10:00:00+00:00"
        assert first["text"] == mail.TEXT
        assert "<b>Jane</b>" in first["html"]
        assert ["Subject", mail.SUBJECT] in first["headers"]
        assert first["attachments"] == [
            {
                "filename": "Quittung-ä.pdf",
                "content_type": "application/pdf",
                "size": len(mail.ATTACHMENT),
            }
        ]
        assert second["subject"] == "second"
        assert second["to"] == ["vendor@acme.test"]

    async def test_one_message_by_id(
        self, catcher: RunningCatcher, client: httpx.AsyncClient
    ) -> None:
        await deliver(catcher, mail.refund_notice())

        response = await client.get("/api/messages/1")

        assert response.status_code == 200
        assert response.json()["subject"] == mail.SUBJECT

    async def test_raw_returns_the_bytes_as_received(
        self, catcher: RunningCatcher, client: httpx.AsyncClient
    ) -> None:
        raw = mail.refund_notice()
        await deliver(catcher, raw)

        response = await client.get("/api/messages/1/raw")

        assert response.status_code == 200
        assert response.content == raw
        assert response.headers["content-type"].startswith("text/plain")
        assert response.headers["x-content-type-options"] == "nosniff"

    async def test_the_list_can_be_searched_with_q_and_stays_oldest_first(
        self, catcher: RunningCatcher, client: httpx.AsyncClient
    ) -> None:
        await deliver(catcher, mail.refund_notice())
        await deliver(catcher, b"Subject: unrelated\r\n\r\nnothing\r\n")
        await deliver(catcher, b"Subject: second refund\r\n\r\nRefund Q7K2M9XA\r\n")

        found = await client.get("/api/messages", params={"q": "Q7K2M9XA"})
        by_subject = await client.get("/api/messages", params={"q": 'subject:"second refund"'})
        nothing = await client.get("/api/messages", params={"q": "from:nobody"})

        assert [m["id"] for m in found.json()] == [1, 3]
        assert [m["id"] for m in by_subject.json()] == [3]
        assert nothing.json() == []
        assert len((await client.get("/api/messages", params={"q": ""})).json()) == 3

    async def test_the_list_names_the_sender_and_the_reply_to(
        self, catcher: RunningCatcher, client: httpx.AsyncClient
    ) -> None:
        await deliver(
            catcher,
            b'From: "Acme via maildesk" <support@desk.test>\r\n'
            b"Reply-To: reply+1-v-x@desk.test\r\n\r\nhi\r\n",
        )

        [listed] = (await client.get("/api/messages")).json()

        assert listed["from"] == "support@desk.test"
        assert listed["from_name"] == "Acme via maildesk"
        assert listed["reply_to"] == ["reply+1-v-x@desk.test"]

    async def test_delete_one_forgets_only_that_message(
        self, catcher: RunningCatcher, client: httpx.AsyncClient
    ) -> None:
        for _ in range(3):
            await deliver(catcher, mail.refund_notice())

        deleted = await client.delete("/api/messages/2")
        again = await client.delete("/api/messages/2")
        bad = await client.delete("/api/messages/two")

        assert deleted.status_code == 200 and deleted.json() == {"deleted": 1}
        assert again.status_code == 404 and "no caught message" in again.json()["error"]
        assert bad.status_code == 400
        assert [m["id"] for m in (await client.get("/api/messages")).json()] == [1, 3]

    async def test_delete_forgets_every_message(
        self, catcher: RunningCatcher, client: httpx.AsyncClient
    ) -> None:
        await deliver(catcher, mail.refund_notice())
        await deliver(catcher, mail.refund_notice())

        response = await client.delete("/api/messages")

        assert response.status_code == 200
        assert response.json() == {"deleted": 2}
        assert (await client.get("/api/messages")).json() == []
        assert (await client.get("/api/messages/1")).status_code == 404

    @pytest.mark.parametrize("path", ["/api/messages/99", "/api/messages/99/raw"])
    async def test_an_unknown_id_is_a_json_404(
        self, catcher: RunningCatcher, client: httpx.AsyncClient, path: str
    ) -> None:
        await deliver(catcher, mail.refund_notice())

        response = await client.get(path)

        assert response.status_code == 404
        assert "no caught message" in response.json()["error"]

    @pytest.mark.parametrize(
        "path", ["/api/messages/abc", "/api/messages/-1", "/api/messages/01/raw"]
    )
    async def test_an_id_that_is_not_a_plain_number_is_a_json_400(
        self, catcher: RunningCatcher, client: httpx.AsyncClient, path: str
    ) -> None:
        await deliver(catcher, mail.refund_notice())

        response = await client.get(path)

        assert response.status_code == 400
        assert "like 1" in response.json()["error"]

    async def test_malformed_mail_is_listed_without_error(
        self, catcher: RunningCatcher, client: httpx.AsyncClient
    ) -> None:
        for raw in mail.MALFORMED.values():
            await deliver(catcher, raw)

        listed = await client.get("/api/messages")
        pages = [await client.get(f"/mail/{m['id']}") for m in listed.json()]

        assert listed.status_code == 200
        assert len(listed.json()) == len(mail.MALFORMED)
        assert [page.status_code for page in pages] == [200] * len(mail.MALFORMED)
        assert (await client.get("/mail")).status_code == 200


class TestPages:
    async def test_list_page_links_every_message(
        self, catcher: RunningCatcher, client: httpx.AsyncClient
    ) -> None:
        await deliver(catcher, mail.refund_notice())

        response = await client.get("/mail")

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert 'href="/mail/1"' in response.text
        assert mail.SUBJECT in response.text

    async def test_message_page_shows_text_html_attachments_headers_and_raw_link(
        self, catcher: RunningCatcher, client: httpx.AsyncClient
    ) -> None:
        await deliver(catcher, mail.refund_notice())

        page = (await client.get("/mail/1")).text

        assert '<iframe class="html" src="/mail/1/html" sandbox=""' in page
        assert "Hallo" not in page  # the HTML is framed from its own URL, never inlined
        assert "Quittung-ä.pdf" in page
        assert "&lt;refund-1@acme.test&gt;" in page
        assert 'href="/api/messages/1/raw"' in page
        text = (await client.get("/mail/1/text")).text
        assert "Ihre Rückerstattung ist unterwegs. ✓" in text

    async def test_hostile_content_never_reaches_the_page_unescaped(
        self, catcher: RunningCatcher, client: httpx.AsyncClient
    ) -> None:
        await deliver(catcher, mail.hostile_message())

        pages = [(await client.get(path)) for path in ("/mail", "/mail/1")]

        for page in pages:
            assert page.status_code == 200
            assert mail.HOSTILE not in page.text
            assert "<p onclick" not in page.text
            assert "&lt;script&gt;" in page.text
            assert "default-src 'none'" in page.headers["content-security-policy"]
            assert "script-src 'self';" in page.headers["content-security-policy"]
        assert '<iframe class="html" src="/mail/1/html" sandbox=""' in pages[1].text

    async def test_an_unknown_message_page_is_a_404_page(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/mail/42")

        assert response.status_code == 404
        assert "No caught message 42" in response.text

    async def test_an_empty_mailbox_says_so(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/mail")

        assert response.status_code == 200
        assert "No mail caught yet" in response.text


class TestHeaders:
    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/mail"),
            ("GET", "/mail?q=x"),
            ("GET", "/mail/1"),
            ("GET", "/mail/1/text"),
            ("GET", "/mail/1/source"),
            ("GET", "/mail/1/headers"),
            ("GET", "/mail/1/html"),
            ("GET", "/mail/99"),
            ("GET", "/mail/x"),
            ("GET", "/mail/live.js"),
            ("GET", "/mail/live?version=0"),
            ("GET", "/api/messages"),
            ("GET", "/api/messages/1"),
            ("GET", "/api/messages/1/raw"),
            ("GET", "/api/messages/99"),
            ("POST", "/mail/1/delete"),  # refused: no Origin
            ("DELETE", "/api/messages/1"),
            ("DELETE", "/api/messages"),
        ],
    )
    async def test_no_catcher_response_may_be_cached_and_each_has_a_policy(
        self, catcher: RunningCatcher, client: httpx.AsyncClient, method: str, path: str
    ) -> None:
        """Caught mail holds both parties' signed ticket links: nothing of it stays in a cache."""
        await deliver(catcher, mail.refund_notice())

        response = await client.request(method, path)

        assert response.headers["cache-control"] == "no-store", response.status_code
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"

    async def test_a_refused_body_is_not_cached_either(self, client: httpx.AsyncClient) -> None:
        response = await client.request("GET", "/api/messages", content=b"x" * 100)

        assert response.status_code == 413
        assert response.headers["cache-control"] == "no-store"
