"""The desk's orders (issue #17): search, the order page, and opening a ticket from it.

The buttons are the domain's answer for the vendor (its 90-day window, one
open request per order, cancelations only for active subscriptions); a
ticket opened here is opened by the same use case as the command address.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import Served, text_of
from tests.web.desk_support import browser, sign_in
from tests.web.support import JANE, post_form

pytestmark = pytest.mark.anyio

_OPEN = re.compile(r'name="type" value="([a-z]+)"')


async def test_orders_are_found_by_reference_or_customer_email_and_only_the_vendors_own(
    served: Served,
) -> None:
    async with browser(served) as client:
        await sign_in(served, client, "owner@acme.test")
        by_reference = await client.get("/desk/orders", params={"q": "q7k2m9xa"})
        assert 'href="/desk/orders/Q7K2M9XA"' in by_reference.text
        by_email = await client.get("/desk/orders", params={"q": "jane@example.test"})
        assert "Q7K2M9XA" in by_email.text and "B00K4JNE" in by_email.text
        theirs = await client.get("/desk/orders", params={"q": "GLX75DAY"})
        assert "GLX75DAY" in theirs.text and 'href="/desk/orders/GLX75DAY"' not in theirs.text
        assert "None of your orders" in theirs.text
        assert (await client.get("/desk/orders/GLX75DAY")).status_code == 404
        assert (await client.get("/desk/orders/NOSUCH01")).status_code == 404


async def test_the_order_page_offers_what_the_rules_allow_the_vendor(served: Served) -> None:
    async with browser(served) as client:
        await sign_in(served, client, "owner@acme.test")
        subscription = await client.get("/desk/orders/Q7K2M9XA")
        assert subscription.status_code == 200
        assert _OPEN.findall(subscription.text) == ["refund", "cancelation", "support"]
        assert "Acme Pro" in subscription.text and "19.95" in subscription.text
        old = await client.get("/desk/orders/CNCLD001")  # billed in August: past 90 days
        assert "refund" not in _OPEN.findall(old.text)
        assert "support" in _OPEN.findall(old.text)
        assert "No refund request:" in old.text


async def test_an_order_to_ticket_flow_opens_a_refund_and_tells_the_customer(
    served: Served,
) -> None:
    async with browser(served) as client:
        await sign_in(served, client, "owner@acme.test")
        page = "/desk/orders/B00K4JNE"
        opened = await post_form(
            client, page, f"{page}/open", {"type": "refund", "text": "Refunded as promised."}
        )
        assert opened.status_code == 303
        number = int(opened.headers["location"].rsplit("/", 1)[1])
        ticket_page = await client.get(opened.headers["location"])
        assert f"Ticket #{number}" in ticket_page.text and "is open" in ticket_page.text
        ticket = await served.ticket(number)
        assert ticket["type"] == "refund" and ticket["opened_by"] == "vendor"
        mail = await served.latest_to(JANE, f"[#{number}]")
        assert "Refunded as promised." in text_of(mail)

        again = await client.get(page)  # one request at a time
        assert "refund" not in _OPEN.findall(again.text)
        twice = await post_form(client, page, f"{page}/open", {"type": "refund", "text": ""})
        assert twice.status_code == 303 and twice.headers["location"] == page
        assert "Not opened:" in (await client.get(page)).text
        assert f"#{number}" in (await client.get(page)).text


async def test_opening_on_another_vendors_order_is_a_404(served: Served) -> None:
    async with browser(served) as client:
        await sign_in(served, client, "owner@acme.test")
        response = await post_form(
            client, "/desk/orders/Q7K2M9XA", "/desk/orders/GLX75DAY/open", {"type": "support"}
        )
        assert response.status_code == 404
    assert await served.tickets() == []
