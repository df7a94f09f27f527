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

        assert "Ihre Rückerstattung ist unterwegs. ✓" in page
        assert 'srcdoc="&lt;p&gt;Hallo &lt;b&gt;Jane&lt;/b&gt;' in page
        assert "Quittung-ä.pdf" in page
        assert "Message-ID" in page
        assert 'href="/api/messages/1/raw"' in page

    async def test_hostile_content_never_reaches_the_page_unescaped(
        self, catcher: RunningCatcher, client: httpx.AsyncClient
    ) -> None:
        await deliver(catcher, mail.hostile_message())

        pages = [(await client.get(path)) for path in ("/mail", "/mail/1")]

        for page in pages:
            assert page.status_code == 200
            assert "<script" not in page.text
            assert "<p onclick" not in page.text
            assert "&lt;script&gt;" in page.text
            assert "default-src 'none'" in page.headers["content-security-policy"]
        assert '<iframe sandbox=""' in pages[1].text

    async def test_an_unknown_message_page_is_a_404_page(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/mail/42")

        assert response.status_code == 404
        assert "No caught message 42" in response.text

    async def test_an_empty_mailbox_says_so(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/mail")

        assert response.status_code == 200
        assert "No mail caught yet" in response.text
