"""The desk's ticket list and ticket page (issue #17), over real HTTP on both stores.

The list filters, searches, sorts by what is due first and pages; the ticket
page inside the desk acts through the same use case as email, so the
customer hears of a desk reply by email; another vendor's ticket is the same
404 as a missing one.
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.e2e.conftest import Served, text_of
from tests.web.desk_support import browser, sign_in
from tests.web.support import (
    ACME,
    BOB,
    JANE,
    buttons_on,
    open_by_email,
    page_link,
    post_form,
)

pytestmark = pytest.mark.anyio

_ROW = re.compile(r'<a href="/desk/tickets/(\d+)">#')


def listed(html: str) -> list[int]:
    return [int(n) for n in _ROW.findall(html)]


async def open_support(
    served: Served, reference: str, text: str, key: str = "acme-demo-key"
) -> int:
    response = await served.api(
        "POST", "/api/v1/tickets", {"order": reference, "type": "support", "text": text}, key
    )
    assert response.status_code == 201, response.text
    return int(response.json()["number"])


async def test_the_list_filters_searches_and_shows_due_times_in_the_vendors_zone(
    served: Served,
) -> None:
    refund = await open_by_email(served, JANE, "refund", "Refund Q7K2M9XA", "Not for me.")
    question = await open_by_email(served, BOB, "support", "MUG2B0BX", "Is it dishwasher safe?")
    globex = await open_support(served, "GLX75DAY", "Globex's own", "globex-demo-key")
    async with browser(served) as client:
        await sign_in(served, client, "owner@acme.test")
        page = await client.get("/desk/tickets")
        assert page.status_code == 200
        assert listed(page.text) == [refund, question]  # the refund is due first
        assert globex not in listed(page.text)
        assert "Processed in 1 day" in page.text or "Processed in 24 hours" in page.text
        assert "(America/New_York)" in page.text  # absolute, in the vendor's zone

        refunds = await client.get("/desk/tickets", params={"type": "refund"})
        assert listed(refunds.text) == [refund]
        mine = await client.get("/desk/tickets", params={"mine": "1"})
        assert set(listed(mine.text)) == {refund, question}
        due = await client.get("/desk/tickets", params={"due": "1"})
        assert listed(due.text) == [refund]  # processed in 24 hours; the question waits 48

        for search in ("MUG2B0BX", "bob@example.test", "dishwasher"):
            found = await client.get("/desk/tickets", params={"q": search})
            assert listed(found.text) == [question], search
        assert listed((await client.get("/desk/tickets", params={"q": "100%_"})).text) == []
        closed = await client.get("/desk/tickets", params={"status": "closed"})
        assert listed(closed.text) == []


async def test_the_list_pages_fifty_at_a_time(served: Served) -> None:
    numbers = [await open_support(served, "MUG2B0BX", f"Question {i}") for i in range(53)]
    async with browser(served) as client:
        await sign_in(served, client, "owner@acme.test")
        first = await client.get("/desk/tickets", params={"sort": "newest"})
        assert "53 tickets, page 1 of 2" in first.text
        assert listed(first.text) == sorted(numbers, reverse=True)[:50]
        second = await client.get("/desk/tickets", params={"sort": "newest", "page": "2"})
        assert listed(second.text) == sorted(numbers, reverse=True)[50:]
        assert 'rel="prev"' in second.text and 'rel="next"' not in second.text


async def test_the_vendor_replies_and_acts_from_the_desk_as_by_email(served: Served) -> None:
    number = await open_by_email(served, JANE, "refund", "Refund Q7K2M9XA", "Not for me.")
    async with browser(served) as client:
        await sign_in(served, client, "agent@acme.test")
        path = f"/desk/tickets/{number}"
        page = await client.get(path)
        assert page.status_code == 200
        assert "Not for me." in page.text and 'aria-label="Desk"' in page.text
        assert buttons_on(page.text) == ["close", "change-to-support"]
        await served.clear_mail()
        reply = await post_form(client, path, f"{path}/reply", {"text": "Can we help instead?"})
        assert reply.status_code == 303 and reply.headers["location"] == path
        assert "Your reply was added" in (await client.get(path)).text
        mail = await served.latest_to(JANE, f"[#{number}]")
        assert "Can we help instead?" in text_of(mail)

        close = await post_form(client, path, f"{path}/action", {"action": "close"})
        assert close.status_code == 303
        assert (await served.ticket(number))["status"] == "closed"
        refused = await post_form(client, path, f"{path}/action", {"action": "close"})
        assert refused.status_code == 303
        closed_page = (await client.get(path)).text
        assert "Not done:" in closed_page
        assert "order page of Q7K2M9XA" in closed_page


async def test_another_vendors_ticket_is_the_same_404_as_a_missing_one(served: Served) -> None:
    theirs = await open_support(served, "GLX75DAY", "Globex's own", "globex-demo-key")
    async with browser(served) as client:
        await sign_in(served, client, "owner@acme.test")
        answers = []
        for path in (f"/desk/tickets/{theirs}", "/desk/tickets/99999", "/desk/tickets/abc"):
            response = await client.get(path)
            assert response.status_code == 404, path
            answers.append(response.text)
        assert len(set(answers)) == 1
        token_page = "/desk/tickets"
        post = await post_form(
            client, token_page, f"/desk/tickets/{theirs}/reply", {"text": "Hello"}
        )
        assert post.status_code == 404
        assert (
            await client.get(f"/desk/tickets/{theirs}/attachments/{'0' * 32}")
        ).status_code == 404
    ticket = await served.ticket(theirs)
    assert [c["text"] for c in ticket["comments"]] == ["Globex's own"]


async def test_the_emailed_link_opened_while_signed_in_lands_in_the_desk(served: Served) -> None:
    number = await open_by_email(served, JANE, "refund", "Refund Q7K2M9XA", "Not for me.")
    link = await page_link(served, ACME, number)
    async with browser(served) as client:
        plain = await client.get(link)
        assert plain.status_code == 200 and 'aria-label="Desk"' not in plain.text
        await sign_in(served, client, "owner@acme.test")
        inside = await client.get(link)
        assert inside.status_code == 303 and inside.headers["location"] == f"/desk/tickets/{number}"
        customer_link = await page_link(served, JANE, number)
        assert (await client.get(customer_link)).status_code == 200  # the customer's stays


async def test_a_form_posted_from_another_site_is_refused(served: Served) -> None:
    number = await open_by_email(served, JANE, "support", "Q7K2M9XA", "Hello?")
    async with browser(served) as client:
        await sign_in(served, client, "owner@acme.test")
        path = f"/desk/tickets/{number}"
        for token in (None, "", "0" * 64):
            data = {"text": "forged"} if token is None else {"text": "forged", "csrf_token": token}
            forged = await client.post(f"{path}/reply", data=data)
            assert forged.status_code == 403
        # A token of the public forms (the double-submit cookie) is not this session's.
        async with httpx.AsyncClient(base_url=str(served.http.base_url)) as other:
            await sign_in(served, other, "agent@acme.test")
            from tests.web.support import csrf_token

            their_token = await csrf_token(other, path)
        stolen = await client.post(f"{path}/reply", data={"text": "x", "csrf_token": their_token})
        assert stolen.status_code == 403
    assert [c["text"] for c in (await served.ticket(number))["comments"]] == ["Hello?"]


async def test_a_refund_waiting_for_approval_is_approved_from_the_desk(served: Served) -> None:
    """Globex approves every refund; Erin paid by wire transfer."""
    number = await open_by_email(
        served, "erin@example.test", "refund", "Refund GLXW1RE1", "Please refund."
    )
    async with browser(served) as client:
        await sign_in(served, client, "owner@globex.test")
        waiting = await client.get("/desk/tickets", params={"mine": "1"})
        assert listed(waiting.text) == [number]
        assert "Waiting for your approval" in waiting.text
        path = f"/desk/tickets/{number}"
        assert "approve" in buttons_on((await client.get(path)).text)
        approved = await post_form(client, path, f"{path}/action", {"action": "approve"})
        assert approved.status_code == 303
        assert "The refund is approved." in (await client.get(path)).text
    ticket = await served.ticket(number)
    assert ticket["status"] == "closed" and ticket["close_reason"] == "refunded"
    mail = await served.latest_to("erin@example.test", f"[#{number}]")
    assert mail is not None
